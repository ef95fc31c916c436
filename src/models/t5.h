/* t5.h - the T5 / umT5 text encoder (Wan reads prompts through umT5-XXL's encoder),
 * as transformers' T5EncoderModel / UMT5EncoderModel and Wan's T5Encoder compute it.
 *
 * Pre-norm blocks of self-attention (no 1/sqrt(d) scaling, a bidirectional relative
 * position bias from a bucket table) and a gated GELU(tanh) feed-forward, RMS norms
 * without mean (eps 1e-6), a final norm. umT5 has a bucket table in every layer, T5
 * one shared table.
 *
 * Files: Hugging Face names (shared.weight or encoder.embed_tokens.weight; also a whole
 * T5 checkpoint, whose decoder is ignored; ComfyUI's umt5_xxl files) and Wan's official
 * names (models_t5_umt5-xxl-enc-bf16.pth). The configuration comes from the tensor
 * shapes; max_distance is not stored and is 128 for every released T5. Weights stay
 * in their stored dtype. */
#ifndef ZT_T5_H
#define ZT_T5_H

#include <stdint.h>

#include "../backends/backend.h"
#include "../core/arena.h"

typedef struct zt_t5 zt_t5;

typedef struct zt_t5_info {
    int layers;         /* 24 for umT5-XXL */
    int d_model;        /* 4096 */
    int heads;          /* 64 */
    int d_kv;           /* 64: per head */
    int d_ff;           /* 10240 */
    int vocab;          /* 256384 */
    int buckets;        /* 32 */
    int max_distance;   /* 128 */
    int per_layer_bias; /* 1: umT5 (a table per layer), 0: T5 (one shared table) */
    const char *naming; /* "huggingface" or "wan" */
} zt_t5_info;

/* Open an encoder (any zt_weights source: .safetensors, index, directory, .pth). The
 * shapes of every tensor are checked here. *t5 is NULL on failure. */
zt_status zt_t5_open(zt_t5 **t5, const char *path);
/* NULL is a no-op. */
void zt_t5_free(zt_t5 *t5);
/* Copy the weights (all but the token table, whose rows are read on the host) into be's
 * memory, to run the encoder on be (a device backend; nothing to do on a host backend).
 * Once placed, the encoder runs only on be, and its outputs must live there. */
zt_status zt_t5_place(zt_t5 *t5, zt_backend *be);
/* The device memory the placed weights take: for plans. */
zt_status zt_t5_device_bytes(const zt_t5 *t5, int64_t *bytes);
const zt_t5_info *zt_t5_get_info(const zt_t5 *t5);

/* The last hidden states of ids[0..n) (each in [0, vocab); n >= 1, no padding) into
 * out [n, d_model] f32, contiguous, allocated by the caller in the backend's memory.
 * Temporaries come from arena and are released before returning. */
zt_status zt_t5_encode(const zt_t5 *t5, zt_backend *be, zt_arena *arena, const int32_t *ids,
                       int64_t n, zt_tensor *out);
/* Wan's use: encode the n ids (the prompt's tokens and EOS) into rows [0, n) of
 * out [rows, d_model] (rows >= n; Wan: 512) and zero the rest. Padded keys being
 * masked, those rows equal what the encoder gives for the padded sequence with an
 * attention mask; Wan's DiT fills the tail with zeros. */
zt_status zt_t5_encode_padded(const zt_t5 *t5, zt_backend *be, zt_arena *arena, const int32_t *ids,
                              int64_t n, zt_tensor *out);

/* transformers' _relative_position_bucket, bidirectional: the bucket of a key at
 * rel = key - query positions from its query. */
int zt_t5_bucket(int64_t rel, int buckets, int max_distance);

#endif

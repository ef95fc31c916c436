/* wan_dit.h - the Wan diffusion transformer (Wan2.1 / Wan2.2 WanModel, diffusers'
 * WanTransformer3DModel): latents, a timestep and an embedded prompt in, the flow
 * matching velocity out.
 *
 * Patchify by a strided Conv3d into (frame, row, column) tokens; blocks of modulated
 * self-attention (q/k RMS norms across all heads, 3-D RoPE), cross-attention to the
 * text (affine LayerNorm, no modulation) and a modulated GELU(tanh) feed-forward; a
 * modulated head and unpatchify. Timesteps may be one per call or one per latent token
 * (Wan2.2 TI2V).
 *
 * Files: Wan's original names (canonical), diffusers' names and ComfyUI's
 * (model.diffusion_model. + original). The configuration comes from the tensor shapes
 * except the head count, which no shape holds: a "num_heads" entry in a safetensors
 * file's metadata when present, else heads of 128 (every released Wan DiT: 1536/12,
 * 3072/24, 5120/40). Weights stay in their stored dtype; the modulation tables are
 * kept as f32. Image-conditioned (I2V) models are refused. */
#ifndef ZT_WAN_DIT_H
#define ZT_WAN_DIT_H

#include "../backends/backend.h"
#include "../core/arena.h"

typedef struct zt_wan_dit zt_wan_dit;

typedef struct zt_wan_dit_info {
    int dim;            /* 1536 (1.3B), 3072 (5B), 5120 (14B) */
    int ffn;            /* 8960, 14336, 13824 */
    int heads;          /* dim / head_dim */
    int head_dim;       /* 128 */
    int layers;         /* 30, 30, 40 */
    int in_channels;    /* latent channels: 16 (Wan2.1), 48 (Wan2.2 5B) */
    int out_channels;   /* the same */
    int text_dim;       /* 4096: umT5-XXL */
    int freq_dim;       /* 256: the sinusoidal timestep embedding */
    int patch[3];       /* 1, 2, 2: frames, rows, columns */
    const char *naming; /* "wan", "diffusers" or "comfyui" */
    int first_frame;    /* trained for Wan2.2-style image conditioning (a clean first latent
                           frame at timestep 0) although its VAE is Wan2.1's: metadata
                           "zoetrope_i2v" = "first_frame" (zoetrope-tiny) */
} zt_wan_dit_info;

/* Open a model (any zt_weights source: .safetensors, index, directory). The shapes of
 * every tensor are checked here. *m is NULL on failure. */
zt_status zt_wan_dit_open(zt_wan_dit **m, const char *path);
/* NULL is a no-op. */
void zt_wan_dit_free(zt_wan_dit *m);
/* Copy the weights into be's memory, to run the model on be (a device backend; a host
 * backend needs nothing and this does nothing). Once placed, the model runs only on be;
 * latents, text and outputs handed to it must live there too. */
zt_status zt_wan_dit_place(zt_wan_dit *m, zt_backend *be);
/* The same for small cards: only the embeddings and the head go over; the blocks take
 * turns in two block-sized device buffers, each block's weights copied in while the one
 * before it runs (every forward pass copies all of them once: about the model's size
 * over the host link per pass; a model of two blocks or fewer gets one buffer). */
zt_status zt_wan_dit_place_offload(zt_wan_dit *m, zt_backend *be);
/* The device memory the weights take there: zt_wan_dit_place's, or (offload 1)
 * zt_wan_dit_place_offload's (the tensors outside the blocks and the blocks' buffers). */
int64_t zt_wan_dit_device_bytes(const zt_wan_dit *m, int offload);
/* The host memory --offload stages its copies through on a device with upload_ahead
 * (pinned, a block per device buffer). */
int64_t zt_wan_dit_offload_staging_bytes(const zt_wan_dit *m);
const zt_wan_dit_info *zt_wan_dit_get_info(const zt_wan_dit *m);

/* The text context through text_embedding, once per prompt: ctx [L, text_dim] f32
 * (Wan: 512 rows, zero-padded after the prompt) -> out [L, dim] f32, contiguous,
 * allocated by the caller. Temporaries come from arena and are released. */
zt_status zt_wan_dit_embed_text(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                                const zt_tensor *ctx, zt_tensor *out);

/* The velocity v [C_out, F, H, W] f32 for latents x [C_in, F, H, W] f32 (F, H, W
 * multiples of the patch) at timestep t, or, when t_tokens is not NULL, at one
 * timestep per latent token (F/pt * H/ph * W/pw values in (frame, row, column) order;
 * t is ignored). text: the embedded context [L, dim] f32 from zt_wan_dit_embed_text.
 * x, text and v are contiguous and caller-owned; v may not alias x. Temporaries come
 * from arena and are released before returning. */
zt_status zt_wan_dit_forward(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                             const zt_tensor *x, float t, const float *t_tokens,
                             const zt_tensor *text, zt_tensor *v);

/* The feed-forward runs over at most `rows` latent rows at a time (its hidden layer is
 * the largest activation); rows <= 0 restores the default, 8192. The velocity does not
 * depend on it (tests check that with small chunks). */
void zt_wan_dit_set_ffn_rows(zt_wan_dit *m, int64_t rows);

/* What text states made after this call hold (zt_wan_dit_text_init): AUTO, every block's
 * keys and values on the host and the text on a device; KEEP or PROJECT, the keys or
 * the text everywhere. The velocity does not depend on it, to f32 rounding. */
typedef enum zt_dit_text_keys {
    ZT_DIT_TEXT_AUTO,
    ZT_DIT_TEXT_KEEP,
    ZT_DIT_TEXT_PROJECT
} zt_dit_text_keys;
void zt_wan_dit_set_text_keys(zt_wan_dit *m, zt_dit_text_keys how);

/* Per-prompt state for the forward pass. The cross-attention's keys and values ([L, dim]
 * each, RMS-normed keys) depend on the text alone, and a sampler calls the model twice
 * per step (with and without the prompt) for many steps. On the host the state holds
 * every block's keys and values, computed once (2 * layers * L * dim floats: 189 MB for
 * Wan2.1-1.3B at L = 512, a few MB where the padding folds, below); on a GPU it holds
 * the text, projected again in every pass (L * dim floats), where the products are
 * 0.05% of the arithmetic (zt_wan_dit_set_text_keys chooses otherwise, for tests).
 *
 * zt_wan_dit_text_init takes the embedded context [L, dim] f32 from
 * zt_wan_dit_embed_text; text is not referenced after it returns. The state lives in
 * be's memory (be->alloc) and must be freed with zt_wan_dit_text_free before be and
 * m; it is read-only afterwards, so calls may share it. *ts is NULL on failure. */
typedef struct zt_wan_dit_text zt_wan_dit_text;
zt_status zt_wan_dit_text_init(zt_wan_dit_text **ts, const zt_wan_dit *m, zt_backend *be,
                               const zt_tensor *text);
/* NULL is a no-op. */
void zt_wan_dit_text_free(zt_wan_dit_text *ts);
/* Keys the cross-attention reads for ts: L, or fewer where the prompt's padding (rows
 * equal to the last) was folded into one key (the CPU backend does). */
int64_t zt_wan_dit_text_keys(const zt_wan_dit_text *ts);

/* zt_wan_dit_forward with the text as a state from zt_wan_dit_text_init (made for the
 * same m): the same velocity, to f32 rounding. */
zt_status zt_wan_dit_forward_text(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *x, float t, const float *t_tokens,
                                  const zt_wan_dit_text *ts, zt_tensor *v);

/* Both passes of classifier-free guidance: zt_wan_dit_forward_text of x under ts[0]
 * into v[0] and under ts[1] into v[1]. Where zt_wan_dit_pairs says so (small passes,
 * the CPU) they run as one batch of two, with twice one pass's activations; otherwise
 * one after the other. The same velocities either way, to f32 rounding. */
zt_status zt_wan_dit_forward_pair(const zt_wan_dit *m, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *x, float t, const float *t_tokens,
                                  const zt_wan_dit_text *const ts[2], zt_tensor v[2]);
/* Whether zt_wan_dit_forward_pair batches its passes at this many latent tokens on a
 * backend with this device flag (zt_backend.device: 0 for the CPU). */
int zt_wan_dit_pairs(const zt_wan_dit *m, int device, int64_t tokens);

#endif

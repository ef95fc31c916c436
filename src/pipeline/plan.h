/* plan.h - the memory plan of a generation, made before any heavy work.
 *
 * Each stage's working memory is not estimated by formula: the stage's own code runs
 * once on the null backend with the arenas measuring (see core/arena.h), which gives
 * the exact arena, cache and backend peaks a real run will have, in milliseconds and
 * without committing memory. To that the plan adds the model bytes the stage reads
 * (mapped weights become resident as they are used), what the pipeline holds across
 * the stage (latents, text states, sampler history, frame buffers) and the process as
 * it stands (code, libraries, the models' small tables). A stage's total is what the
 * process's resident size peaks at while it runs; stages run one after another, so the
 * plan's peak is the largest total. */
#ifndef ZT_PLAN_H
#define ZT_PLAN_H

#include <stdint.h>

#include "../models/t5.h"
#include "../models/wan_dit.h"
#include "../models/wan_vae.h"

typedef enum zt_stage {
    ZT_STAGE_IMAGE,   /* i2v: VAE-encode the picture */
    ZT_STAGE_TEXT,    /* umT5: prompt and negative prompt */
    ZT_STAGE_DENOISE, /* the DiT steps */
    ZT_STAGE_DECODE,  /* VAE decode into the writer */
    ZT_STAGE_COUNT
} zt_stage;

typedef struct zt_stage_plan {
    int used;
    int64_t weights;  /* model bytes the stage reads */
    int64_t work;     /* arena + caches + backend allocations, measured on the null backend */
    int64_t held;     /* pipeline buffers alive during the stage */
    int64_t total;    /* base + weights + work + held */
    int64_t measured; /* after a run: the process's peak resident bytes during the stage */
    int64_t device;   /* after a run with a GPU: most bytes allocated on it at once during
                       * the stage (weights, arena, scratch), whichever device the stage's
                       * own model ran on; else 0 */
    /* planned, for a stage whose model runs on a GPU (else 0): the bytes it allocates
     * there in all, of which its weights and the CUDA backend's scratch; the rest is
     * the stage's arena and caches */
    int64_t gpu, gpu_weights, gpu_scratch;
} zt_stage_plan;

typedef struct zt_mem_plan {
    int64_t base; /* resident bytes of the process when the plan is made */
    zt_stage_plan stage[ZT_STAGE_COUNT];
    int64_t peak;
    zt_stage peak_stage;
    int64_t budget;            /* bytes the run may use */
    int64_t gpu_budget;        /* bytes the run may allocate on its GPU; 0: unchecked */
    int vae_tile, vae_overlap; /* the decode's tiling in pixels; tile 0: untiled */
    int enc_tile, enc_overlap; /* the same for i2v's image encode */
    int64_t scratch_bytes;     /* disk a tiled decode writes */
} zt_mem_plan;

const char *zt_stage_name(zt_stage s); /* "text encoder", "denoiser", ... */

/* Working memory of one stage, measured on the null backend; *scratch (where asked, may
 * be NULL) the scratch the CUDA backend would add on a GPU (zt_backend_null_model_cuda),
 * which is not in the rest: */
/* umT5 over `tokens` ids */
zt_status zt_plan_text(const zt_t5 *t5, int64_t tokens, int64_t *work, int64_t *scratch);
/* A denoising run, as far as its memory depends on more than the model. */
typedef struct zt_plan_dit {
    int64_t T, h, w; /* latents [C, T, h, w] */
    int per_token;   /* per-token timesteps (image to video) */
    int prompts;     /* 1, or 2 with guidance */
    int paired;      /* two prompts through zt_wan_dit_forward_pair as the CPU batches them */
    int device;      /* on a GPU: its text states hold the text, not every block's keys */
    /* text rows each prompt's state keeps: 0 for all 512, or fewer where the host folds
     * the padding (a prompt of n tokens: n + 1) */
    int64_t keys[2];
} zt_plan_dit;

/* one DiT forward of run r, plus its prompts' text states */
zt_status zt_plan_denoise(const zt_wan_dit *m, const zt_plan_dit *r, int64_t *work,
                          int64_t *scratch);
/* VAE decode (decoder 1) of latents h x w, or encode (0) of one frame of that latent
 * size (a picture: the stream's first chunk alone); for a tiled decode, h and w are the
 * tile's latent size. Caches included. */
zt_status zt_plan_vae(const zt_wan_vae *v, int decoder, int64_t h, int64_t w, int64_t *work);
/* A VAE on a device (zt_wan_vae_place): *arena, what zt_arena_init_on needs for a whole
 * zt_wan_vae_decode_tiled (decoder 1) of latents [z, T, h, w] or zt_wan_vae_encode_tiled
 * (0) of a video of that latent size, with this tiling (NULL: untiled), any T; an
 * encode of `frames` 1 is of a picture (i2v's: the stream's first chunk alone, a
 * quarter of a full chunk's columns), any other of any length (the decoder ignores
 * it);
 * *caches, the bytes of the stream caches, which are allocations of their own on the
 * device (one tile's stream at a time); and *scratch (may be NULL), the CUDA
 * backend's. Inputs, outputs and the tiled blend's buffers stay in host memory and are
 * not counted. zt_plan_vae's work, at the tile's size,
 * covers the arena of an untiled call or a tiled decode but not a tiled encode (which
 * holds a tile's latents for all frames). */
zt_status zt_plan_vae_device(const zt_wan_vae *v, int decoder, int64_t h, int64_t w,
                             int64_t frames, const zt_vae_tiling *tiling, int64_t *arena,
                             int64_t *caches, int64_t *scratch);

/* Bytes of the tensors of a model file (any zt_weights source) a stage reads: all of
 * them, a VAE's decoder or encoder half, or a T5 file without any decoder and with
 * only the token-table rows two 512-token prompts can touch. */
enum { ZT_PLAN_ALL, ZT_PLAN_VAE_DECODER, ZT_PLAN_VAE_ENCODER, ZT_PLAN_T5 };
zt_status zt_plan_weight_bytes(const char *path, int part, int64_t *bytes);

/* The process's resident bytes now (VmRSS), and the memory this machine can give
 * (MemAvailable), both from /proc; -1 when unreadable. */
int64_t zt_plan_rss_now(void);
/* Restart the peak (VmHWM) count (Linux clear_refs 5) and read it: how a run measures
 * each stage's own peak to set against the plan. -1 when unavailable. */
void zt_plan_peak_reset(void);
int64_t zt_plan_peak_now(void);
int64_t zt_plan_mem_available(void);

/* "3.2 GiB" into buf */
const char *zt_plan_fmt(int64_t bytes, char *buf, size_t size);

#endif

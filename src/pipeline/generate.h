/* generate.h - the text/image-to-video pipeline entry point.
 *
 * Stages, each model loaded only while it works: check every file and the output,
 * (i2v) encode the image with the VAE, clean, tokenize and encode the prompt and the
 * negative prompt with umT5, denoise with the Wan DiT and a flow-matching sampler
 * under classifier-free guidance, then decode with the VAE, streaming each frame into
 * the video writer as its chunk is done. */
#ifndef ZT_GENERATE_H
#define ZT_GENERATE_H

#include "../core/tensor.h"
#include "plan.h"
#include "zoetrope.h"

typedef enum zt_gen_mode { ZT_GEN_T2V, ZT_GEN_I2V } zt_gen_mode;

typedef struct zt_gen_callbacks {
    /* stage begins ("text encoding", "denoising", "decoding"), total steps or 0 */
    void (*stage_begin)(void *user, const char *stage, int64_t total);
    void (*stage_step)(void *user, int64_t done);
    void (*stage_end)(void *user);
    /* optional, for tests and tools: the final latents [C, T, h, w] (normalized, as
     * the DiT sees them) before decoding, and each decoded frame [3, H, W] in [-1, 1]
     * before it is quantized for the writer. A non-OK return stops the run. */
    zt_status (*latents)(void *user, const zt_tensor *x);
    zt_status (*frame)(void *user, const zt_tensor *frame, int64_t index);
    void *user;
} zt_gen_callbacks;

typedef struct zt_gen_result {
    int64_t frames;
    int width, height;
    double seconds;
    zt_mem_plan plan;    /* the memory plan the run was made under */
    int64_t device_peak; /* with a GPU: most bytes allocated on it at once in the run */
} zt_gen_result;

/* The negative prompt used when the settings give none: Wan's own
 * (shared_config.sample_neg_prompt). */
extern const char zt_wan_default_negative_prompt[];

zt_status zt_generate(const zt_settings *s, zt_gen_mode mode, const zt_gen_callbacks *cb,
                      zt_gen_result *result);
/* Tests: make the backend of "cuda[:N]" components with make instead of the CUDA backend
 * (a stand-in device on the CPU's ops); NULL restores it. Process-wide. */
void zt_generate_set_device_backend(zt_status (*make)(zt_backend **be, int device));
/* The same with models taken from and kept in cache (zoetrope.h), when every component
 * runs on the CPU; cache NULL loads each model for its stage only. */
zt_status zt_generate_cached(const zt_settings *s, zt_gen_mode mode, zt_model_cache *cache,
                             const zt_gen_callbacks *cb, zt_gen_result *result);
/* How many model files the cache has opened (tests check that shots share them). */
int zt_model_cache_loads(const zt_model_cache *c);

/* Only the checks and the memory plan (--dry-run): every file is opened and checked and
 * each stage measured, nothing is computed or written. A budget the plan cannot meet
 * fails as zt_generate would, with *plan filled as far as it got. */
zt_status zt_generate_plan(const zt_settings *s, zt_gen_mode mode, zt_mem_plan *plan);

#endif

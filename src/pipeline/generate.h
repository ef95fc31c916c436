/* generate.h - the text/image-to-video pipeline entry point.
 *
 * Stages: resolve and open the model files named by the settings, tokenize and encode
 * the prompts, denoise, decode and stream frames into the writer. The model stages
 * arrive with the Wan issues; until then zt_generate checks everything it can (files
 * present and valid) and reports ZT_ERR_UNSUPPORTED for the denoiser. */
#ifndef ZT_GENERATE_H
#define ZT_GENERATE_H

#include "zoetrope.h"

typedef enum zt_gen_mode { ZT_GEN_T2V, ZT_GEN_I2V } zt_gen_mode;

typedef struct zt_gen_callbacks {
    /* stage begins ("text encoding", "denoising", "decoding"), total steps or 0 */
    void (*stage_begin)(void *user, const char *stage, int64_t total);
    void (*stage_step)(void *user, int64_t done);
    void (*stage_end)(void *user);
    void *user;
} zt_gen_callbacks;

typedef struct zt_gen_result {
    int64_t frames;
    int width, height;
    double seconds;
} zt_gen_result;

zt_status zt_generate(const zt_settings *s, zt_gen_mode mode, const zt_gen_callbacks *cb,
                      zt_gen_result *result);

#endif

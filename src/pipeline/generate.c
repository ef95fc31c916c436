/* The text/image-to-video pipeline: Wan's t2v and TI2V i2v as diffusers' WanPipeline
 * and WanImageToVideoPipeline (expand_timesteps) compute them, checked against them
 * end to end in tests/unit/test_generate.c. */
#include "generate.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../backends/backend.h"
#include "../core/arena.h"
#include "../core/log.h"
#include "../core/rng.h"
#include "../core/status.h"
#include "../io/av_util.h"
#include "../io/safetensors.h"
#include "../models/t5.h"
#include "../models/wan_dit.h"
#include "../models/wan_vae.h"
#include "../text/clean.h"
#include "../text/tokenizer.h"
#include "plan.h"
#include "sampler.h"
#include "settings.h"

#define WAN_TEXT_LEN 512 /* umT5 context rows the DiT attends to, padded with zeros */

/* Wan's shared_config.sample_neg_prompt (Wan2.1 and Wan2.2 alike). */
const char zt_wan_default_negative_prompt[] =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

typedef struct gen {
    const zt_settings *s;
    zt_gen_mode mode;
    const zt_gen_callbacks *cb;
    char model[ZT_PATH_MAX], vae[ZT_PATH_MAX], text_encoder[ZT_PATH_MAX], tokenizer[ZT_PATH_MAX];
    zt_backend *be;  /* the CPU's */
    zt_backend *gpu; /* made when a component runs on a GPU (settings device, ...) */
    int gpu_index;
    zt_arena *arena;
    zt_video_writer *writer;
    uint8_t *rgb;
    int cfg;                /* classifier-free guidance: two passes per step */
    int64_t C, T, h, w;     /* latent shape */
    int stride_t, stride_s; /* the VAE's */
    int64_t tokens;         /* latent tokens after the DiT's patching */
    char *text[2];          /* the prompt and the negative prompt, cleaned */
    float *ctx[2];          /* umT5 states [512, text_dim]: prompt, negative */
    float *cond;            /* i2v: the image's latent frame [C, 1, h, w] */
    float *x;               /* latents [C, T, h, w] */
    zt_image image;         /* i2v: the picture at the output size */
    zt_mem_plan plan;
    int plan_only; /* stop after the checks and the plan (--dry-run) */
    int64_t frames_done;
    int64_t device_peak;   /* the GPU's, over the stages so far */
    zt_model_cache *cache; /* NULL: each model is loaded for its stage and freed after */
} gen;

/* ---- models kept loaded between runs -------------------------------------------------- */

enum { M_DIT, M_VAE, M_T5, M_TOK };
#define CACHE_MAX 32

struct zt_model_cache {
    struct {
        int kind;
        char *path;
        void *obj;
    } e[CACHE_MAX];
    int n;
    int loads; /* files opened through the cache, for tests */
};

zt_status zt_model_cache_init(zt_model_cache **c) {
    *c = calloc(1, sizeof **c);
    return *c ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory");
}

static void model_free(int kind, void *obj) {
    switch (kind) {
    case M_DIT: zt_wan_dit_free(obj); break;
    case M_VAE: zt_wan_vae_free(obj); break;
    case M_T5: zt_t5_free(obj); break;
    case M_TOK: zt_tokenizer_free(obj); break;
    }
}

void zt_model_cache_free(zt_model_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        model_free(c->e[i].kind, c->e[i].obj);
        free(c->e[i].path);
    }
    free(c);
}

int zt_model_cache_loads(const zt_model_cache *c) {
    return c ? c->loads : 0;
}

/* The model of that kind from that file: the cache's, or opened now (and kept by the
 * cache when there is one); NULL with *rc set on failure. Release it with
 * model_release. */
static void *model_get(gen *g, int kind, const char *path, zt_status *rc) {
    zt_model_cache *c = g->cache;
    for (int i = 0; c && i < c->n; i++)
        if (c->e[i].kind == kind && !strcmp(c->e[i].path, path)) return c->e[i].obj;
    void *obj = NULL;
    zt_wan_dit *dit = NULL;
    zt_wan_vae *vae = NULL;
    zt_t5 *t5 = NULL;
    zt_tokenizer *tok = NULL;
    switch (kind) {
    case M_DIT: *rc = zt_wan_dit_open(&dit, path), obj = dit; break;
    case M_VAE: *rc = zt_wan_vae_open(&vae, path), obj = vae; break;
    case M_T5: *rc = zt_t5_open(&t5, path), obj = t5; break;
    case M_TOK: *rc = zt_tokenizer_open(&tok, path), obj = tok; break;
    }
    if (*rc != ZT_OK || !c) return *rc == ZT_OK ? obj : NULL;
    c->loads++;
    char *dup = c->n < CACHE_MAX ? strdup(path) : NULL;
    if (dup) { /* a full cache (or no memory for the name) just does not keep it */
        c->e[c->n].kind = kind;
        c->e[c->n].path = dup;
        c->e[c->n++].obj = obj;
    }
    return obj;
}

static void model_release(gen *g, int kind, void *obj) {
    zt_model_cache *c = g->cache;
    for (int i = 0; obj && c && i < c->n; i++)
        if (c->e[i].obj == obj) return;
    model_free(kind, obj);
}

static void stage_begin(const gen *g, const char *stage, int64_t total) {
    if (g->cb && g->cb->stage_begin) g->cb->stage_begin(g->cb->user, stage, total);
}
static void stage_step(const gen *g, int64_t done) {
    if (g->cb && g->cb->stage_step) g->cb->stage_step(g->cb->user, done);
}
static void stage_end(const gen *g) {
    if (g->cb && g->cb->stage_end) g->cb->stage_end(g->cb->user);
}

static zt_status check_interrupt(void) {
    return zt_interrupted() ? zt_fail(ZT_ERR_INTERRUPTED, "interrupted") : ZT_OK;
}

/* A missing file under a preset names where to get it (the preset's `download`). */
static zt_status resolve(const gen *g, const char *path, const char *what, char *out) {
    zt_status rc = zt_model_path_resolve(path, what, out, ZT_PATH_MAX);
    if (rc == ZT_ERR_INPUT && g->s->download && g->s->preset)
        return zt_fail_wrap(rc, "preset %s: download the files from %s; ", g->s->preset,
                            g->s->download);
    return rc;
}

/* All four names are checked before any is looked for, so a missing flag is reported
 * as such rather than as the file another flag names not being there. */
static zt_status resolve_files(gen *g) {
    const zt_settings *s = g->s;
    const struct {
        const char *path, *what, *flag;
        char *out;
    } f[] = {
        {s->model, "model", "model", g->model},
        {s->vae, "vae", "vae", g->vae},
        {s->text_encoder, "text encoder", "text-encoder", g->text_encoder},
        {s->tokenizer, "tokenizer", "tokenizer", g->tokenizer},
    };
    for (int i = 0; i < 4; i++)
        if (!f[i].path || !*f[i].path)
            return zt_fail(ZT_ERR_USAGE, "no %s file given (use --preset or --%s)", f[i].what,
                           f[i].flag);
    for (int i = 0; i < 4; i++) ZT_TRY(resolve(g, f[i].path, f[i].what, f[i].out));
    return ZT_OK;
}

/* Tests' stand-in for a GPU (zt_generate_set_device_backend); NULL: the CUDA backend. */
static zt_status (*device_factory)(zt_backend **be, int device);

void zt_generate_set_device_backend(zt_status (*make)(zt_backend **be, int device)) {
    device_factory = make;
}

/* The backend a component runs on: device (NULL: the settings' device) "cpu" gives the
 * CPU's, "cuda[:N]" the GPU's, made on first use. */
static zt_status component_backend(gen *g, const char *device, zt_backend **be) {
    int d = zt_parse_device(device ? device : g->s->device);
    if (d < 0) {
        *be = g->be;
        return ZT_OK;
    }
    if (!g->gpu) {
        ZT_TRY(device_factory ? device_factory(&g->gpu, d) : zt_backend_cuda_init(&g->gpu, d));
        g->gpu_index = d;
    } else if (g->gpu_index != d) {
        return zt_fail(ZT_ERR_USAGE,
                       "components on two GPUs (cuda:%d and cuda:%d) are not "
                       "supported",
                       g->gpu_index, d);
    }
    *be = g->gpu;
    return ZT_OK;
}

/* The GPU's peak since the last restart, into the run's; restart it when asked. */
static int64_t device_peak_take(gen *g, int restart) {
    size_t live, peak, total, free_b;
    if (!g->gpu || !g->gpu->memory ||
        g->gpu->memory(g->gpu, &live, &peak, &total, &free_b) != ZT_OK)
        return 0;
    if ((int64_t)peak > g->device_peak) g->device_peak = (int64_t)peak;
    if (restart && g->gpu->reset_peak) g->gpu->reset_peak(g->gpu);
    return (int64_t)peak;
}

/* Each stage starts with a fresh arena, so pages the last one touched are given back,
 * and with the process's peak count restarted, so its own peak can be set against the
 * plan (--verbose, --json). On a GPU the arena is one block: the stage's planned working
 * memory plus extra (the stage's own inputs and outputs). */
#define GPU_ARENA_EXTRA ((int64_t)64 << 20)
#define GPU_RESERVE     ((int64_t)256 << 20) /* of the card's free memory, not budgeted */
static zt_status stage_arena(gen *g, zt_backend *be, int64_t device_bytes) {
    zt_arena_free(g->arena);
    g->arena = NULL;
    /* the last stage's scratch goes too: each stage's GPU memory is then its own plan's */
    if (g->gpu && g->gpu->release_scratch) g->gpu->release_scratch(g->gpu);
    if (be->device)
        ZT_TRY(zt_arena_init_on(&g->arena, be, (size_t)(device_bytes + GPU_ARENA_EXTRA)));
    else
        ZT_TRY(zt_arena_init(&g->arena, 0, 0));
    zt_plan_peak_reset();
    device_peak_take(g, 1);
    return ZT_OK;
}

static zt_status stage_enter_on(gen *g, zt_backend *be, zt_stage st, int64_t extra) {
    return stage_arena(g, be, g->plan.stage[st].work + extra);
}

/* The stage's arena (on a GPU sized by the plan for this very call, tiled or not), then
 * the VAE's half on its device: placed after the last stage's arena and scratch are
 * gone, which the plan does not count beside it. */
static zt_status vae_enter(gen *g, zt_wan_vae *vae, int decoder, const zt_vae_tiling *t,
                           zt_backend **be) {
    ZT_TRY(component_backend(g, g->s->vae_device, be));
    int64_t arena = 0, caches = 0; /* the encoder encodes i2v's picture: one frame */
    if ((*be)->device)
        ZT_TRY(zt_plan_vae_device(vae, decoder, g->h, g->w, 1, t, &arena, &caches, NULL));
    ZT_TRY(stage_arena(g, *be, arena));
    return zt_wan_vae_place(vae, *be, decoder ? ZT_VAE_PART_DECODER : ZT_VAE_PART_ENCODER);
}

static void stage_leave(gen *g, zt_stage st) {
    zt_stage_plan *p = &g->plan.stage[st];
    p->measured = zt_plan_peak_now();
    p->device = device_peak_take(g, 0);
    char a[32], b[32];
    ZT_LOGD("plan: %s measured peak %s, planned %s", zt_stage_name(st),
            zt_plan_fmt(p->measured, a, sizeof a), zt_plan_fmt(p->total, b, sizeof b));
    if (g->gpu) ZT_LOGD("gpu: %s peak %s", zt_stage_name(st), zt_plan_fmt(p->device, a, sizeof a));
}

/* Sizes the model pair takes: width and height in steps of the VAE stride times the
 * DiT's patch; refused with the nearest larger size rather than silently changed. */
static zt_status check_sizes(gen *g, const zt_wan_dit_info *di, const zt_wan_vae_info *vi) {
    const zt_settings *s = g->s;
    if (di->in_channels != vi->z_dim || di->out_channels != vi->z_dim)
        return zt_fail(ZT_ERR_INPUT,
                       "%s takes %d latent channels but the VAE %s has %d: "
                       "they are not from the same model family",
                       g->model, di->in_channels, g->vae, vi->z_dim);
    int mw = vi->stride_s * di->patch[2], mh = vi->stride_s * di->patch[1];
    if (s->width % mw)
        return zt_fail(ZT_ERR_USAGE, "--width %d: this model needs a multiple of %d (try %d)",
                       s->width, mw, (s->width + mw - 1) / mw * mw);
    if (s->height % mh)
        return zt_fail(ZT_ERR_USAGE, "--height %d: this model needs a multiple of %d (try %d)",
                       s->height, mh, (s->height + mh - 1) / mh * mh);
    if ((s->frames - 1) % vi->stride_t)
        return zt_fail(ZT_ERR_USAGE, "--frames %d: this model needs %dk+1 frames", s->frames,
                       vi->stride_t);
    g->stride_t = vi->stride_t;
    g->stride_s = vi->stride_s;
    g->C = vi->z_dim;
    g->T = 1 + (s->frames - 1) / vi->stride_t;
    g->h = s->height / vi->stride_s;
    g->w = s->width / vi->stride_s;
    if (g->T % di->patch[0])
        return zt_fail(ZT_ERR_UNSUPPORTED,
                       "%s: a time patch of %d is not "
                       "supported",
                       g->model, di->patch[0]);
    g->tokens = g->T / di->patch[0] * (g->h / di->patch[1]) * (g->w / di->patch[2]);
    if (g->mode == ZT_GEN_I2V && vi->version != 22 && !di->first_frame)
        return zt_fail(ZT_ERR_UNSUPPORTED,
                       "i2v: %s is a Wan2.1 VAE; image-to-video needs the "
                       "Wan2.2 TI2V-5B model and its VAE (or a model trained for "
                       "first-frame conditioning, such as zoetrope-tiny)",
                       g->vae);
    return ZT_OK;
}

static zt_status open_writer(gen *g) {
    const zt_settings *s = g->s;
    /* what it takes to render the same video again */
    char seed[32], steps[16], guidance[32], shift[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    snprintf(steps, sizeof steps, "%d", s->steps);
    snprintf(guidance, sizeof guidance, "%g", s->guidance);
    snprintf(shift, sizeof shift, "%g", s->shift);
    const char *base = strrchr(g->model, '/');
    const char *meta[] = {"zoetrope_version",
                          zt_version(),
                          "prompt",
                          s->prompt,
                          "negative_prompt",
                          s->negative_prompt ? s->negative_prompt : "(Wan default)",
                          "model",
                          base ? base + 1 : g->model,
                          "seed",
                          s->noise ? "(--noise file)" : seed,
                          "sampler",
                          s->sampler,
                          "steps",
                          steps,
                          "guidance",
                          guidance,
                          "shift",
                          shift,
                          NULL};
    zt_video_options o;
    zt_video_options_default(&o);
    o.width = s->width;
    o.height = s->height;
    o.fps_num = s->fps;
    o.fps_den = 1;
    o.codec = s->codec;
    if (s->crf >= 0) o.crf = s->crf;
    o.bitrate = s->bitrate;
    o.metadata = meta;
    g->rgb = malloc((size_t)s->width * (size_t)s->height * 3);
    if (!g->rgb) return zt_fail(ZT_ERR_NOMEM, "out of memory for a frame");
    if (!s->frames_dir) return zt_video_writer_open(&g->writer, s->output, &o);
    char dir[ZT_PATH_MAX]; /* a directory of PNG frames: the writer knows it by the '/' */
    size_t n = strlen(s->frames_dir);
    if (snprintf(dir, sizeof dir, "%s%s", s->frames_dir,
                 n && s->frames_dir[n - 1] == '/' ? "" : "/") >= (int)sizeof dir)
        return zt_fail(ZT_ERR_USAGE, "--frames-dir: path too long");
    o.codec = "png";
    return zt_video_writer_open(&g->writer, dir, &o);
}

/* i2v: the picture scaled to cover the output size and centre-cropped, encoded as one
 * frame; its normalized latent becomes the first latent frame. */
static zt_status encode_image(gen *g, zt_wan_vae *vae) {
    const zt_settings *s = g->s;
    const zt_image img = g->image;
    int64_t hw = (int64_t)s->width * s->height;
    float *px = malloc((size_t)(3 * hw) * sizeof *px);
    g->cond = malloc((size_t)(g->C * g->h * g->w) * sizeof *g->cond);
    zt_status rc = px && g->cond ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory for the image");
    if (rc == ZT_OK) {
        for (int64_t p = 0; p < hw; p++) /* as diffusers' VideoProcessor: v / 255 * 2 - 1 */
            for (int c = 0; c < 3; c++)
                px[c * hw + p] = (float)img.rgb[3 * p + c] / 255.0f * 2.0f - 1.0f;
        zt_tensor video = zt_tensor_new(ZT_F32, px, 3, 1, s->height, s->width);
        zt_tensor lat = zt_tensor_new(ZT_F32, g->cond, g->C, 1, g->h, g->w);
        zt_vae_tiling t = {.tile = g->plan.enc_tile, .overlap = g->plan.enc_overlap};
        zt_backend *be = NULL;
        rc = vae_enter(g, vae, 0, t.tile > 0 ? &t : NULL, &be);
        if (rc == ZT_OK) rc = zt_wan_vae_encode_tiled(vae, be, g->arena, &video, 0, &t, &lat);
    }
    free(px);
    return rc;
}

/* Bytes malloc has out now (the models' tables and the tokenizer are measured as the
 * difference around their open). */
static int64_t heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}

/* The video writer's resident memory per codec at its defaults, measured as RSS
 * (17 frames, 128x128 to 512x512; 2026-11-26): `open` once it is open (the encoder's
 * state and the pages of its libraries), which every stage after the image encoding
 * holds, since the writer opens before the text encoder so that an unwritable output
 * fails early; `peak` while frames go in (queues, lookahead, reference frames), in the
 * decode stage. MiB plus bytes per output pixel. */
typedef struct writer_mem {
    const char *codec;
    double open_mib, open_bpp, peak_mib, peak_bpp;
} writer_mem;
static const writer_mem writer_mems[] = {
    {"h264", 5.5, 2, 11.0, 85}, {"vp9", 13.0, 55, 25.0, 165}, {"ffv1", 3.5, 0, 9.5, 180},
    {"gif", 2.6, 0, 8.0, 21},   {"png", 1.7, 0, 7.0, 16},     {"y4m", 3.0, 0, 8.0, 12},
};

static int64_t writer_bytes(const zt_settings *s, int peak) {
    const char *c = s->frames_dir ? "png"
                    : s->codec    ? s->codec
                    : s->output   ? zt_video_codec_for_path(s->output)
                                  : NULL;
    const writer_mem *m = &writer_mems[1]; /* unknown: the largest */
    for (size_t i = 0; c && i < sizeof writer_mems / sizeof *writer_mems; i++)
        if (!strcmp(c, writer_mems[i].codec)) m = &writer_mems[i];
    double px = (double)s->width * s->height;
    return peak ? (int64_t)(m->peak_mib * 1048576 + m->peak_bpp * px)
                : (int64_t)(m->open_mib * 1048576 + m->open_bpp * px);
}

static int gpu_over(const gen *g, zt_stage st) {
    return g->plan.gpu_budget > 0 && g->plan.stage[st].gpu > g->plan.gpu_budget;
}

static int stage_over(const gen *g, zt_stage st) {
    return (g->plan.budget > 0 && g->plan.stage[st].total > g->plan.budget) || gpu_over(g, st);
}

/* The stage's plan against the budget it exceeds (the GPU's first), and what to try. */
static zt_status over_budget(const gen *g, zt_stage st, const char *advice) {
    const zt_stage_plan *p = &g->plan.stage[st];
    char a[32], b[32], c[32], d[32], e[32], f[32];
    if (gpu_over(g, st)) {
        const char *gpu_advice =
            st == ZT_STAGE_TEXT      ? "--text-encoder-device cpu keeps it in host memory"
            : st != ZT_STAGE_DENOISE ? "try a smaller --vae-tile, or --vae-device cpu"
            : g->s->offload          ? "lower the size or frame count"
                                     : "try --offload, which keeps the blocks in host memory";
        return zt_fail(ZT_ERR_NOMEM,
                       "memory plan: the %s needs %s on the GPU (weights %s, working memory "
                       "%s, scratch %s), more than the GPU budget of %s (%s); %s",
                       zt_stage_name(st), zt_plan_fmt(p->gpu, a, sizeof a),
                       zt_plan_fmt(p->gpu_weights, b, sizeof b),
                       zt_plan_fmt(p->gpu - p->gpu_weights - p->gpu_scratch, c, sizeof c),
                       zt_plan_fmt(p->gpu_scratch, d, sizeof d),
                       zt_plan_fmt(g->plan.gpu_budget, e, sizeof e),
                       g->s->max_gpu_memory ? "--max-gpu-memory" : "the card's free memory",
                       gpu_advice);
    }
    return zt_fail(ZT_ERR_NOMEM,
                   "memory plan: the %s needs %s (weights %s, working memory "
                   "%s, buffers %s, process %s), more than the budget of %s (%s); %s",
                   zt_stage_name(st), zt_plan_fmt(p->total, a, sizeof a),
                   zt_plan_fmt(p->weights, b, sizeof b), zt_plan_fmt(p->work, c, sizeof c),
                   zt_plan_fmt(p->held, d, sizeof d), zt_plan_fmt(g->plan.base, e, sizeof e),
                   zt_plan_fmt(g->plan.budget, f, sizeof f),
                   g->s->max_memory ? "--max-memory" : "the memory available now", advice);
}

static void set_stage(gen *g, zt_stage st, int64_t weights, int64_t work, int64_t held) {
    zt_stage_plan *p = &g->plan.stage[st];
    p->used = 1;
    p->weights = weights;
    p->work = work;
    p->held = held;
    p->total = g->plan.base + weights + work + held;
}

/* A stage on the GPU: its weights placed there, its arena and caches, the scratch. */
static void set_gpu(gen *g, zt_stage st, int64_t weights, int64_t work, int64_t scratch) {
    zt_stage_plan *p = &g->plan.stage[st];
    p->gpu_weights = weights;
    p->gpu_scratch = scratch;
    p->gpu = weights + work + scratch;
}

/* The denoiser's tensors in its GPU arena beside the working memory: the latents, two
 * velocities, and a prompt's context and embedded text while its state is made. */
static int64_t denoise_io(const gen *g, const zt_wan_dit_info *di) {
    int64_t n = g->C * g->T * g->h * g->w;
    return (3 * n + WAN_TEXT_LEN * (int64_t)(di->text_dim + di->dim)) * (int64_t)sizeof(float);
}

/* The text stage's output in its GPU arena beside the working memory: one prompt's
 * states, [L, text_dim]. */
static int64_t text_io(const zt_wan_dit_info *di) {
    return (int64_t)di->text_dim * WAN_TEXT_LEN * (int64_t)sizeof(float);
}

static int on_gpu(const char *device, const char *fallback) {
    return zt_parse_device(device ? device : fallback) >= 0;
}

/* A VAE half on the GPU with this tiling (tile 0: none), as vae_enter allocates: the
 * half's weights, the arena the plan sizes, the stream caches and the scratch; the
 * encoder's for i2v's picture, one frame. */
static zt_status plan_vae_gpu(gen *g, const zt_wan_vae *vae, int decoder, int tile,
                              int overlap) {
    if (!on_gpu(g->s->vae_device, g->s->device)) return ZT_OK;
    zt_vae_tiling t = {.tile = tile, .overlap = overlap};
    int64_t arena, caches, scratch, weights;
    ZT_TRY(zt_wan_vae_device_bytes(vae, decoder, &weights));
    ZT_TRY(zt_plan_vae_device(vae, decoder, g->h, g->w, 1, tile > 0 ? &t : NULL, &arena,
                              &caches, &scratch));
    set_gpu(g, decoder ? ZT_STAGE_DECODE : ZT_STAGE_IMAGE, weights,
            arena + GPU_ARENA_EXTRA + caches, scratch);
    return ZT_OK;
}

/* The decode stage untiled or with tiles of `tile` pixels. */
static zt_status plan_decode(gen *g, const zt_wan_vae *vae, int tile, int overlap, int64_t weights,
                             int64_t held) {
    int64_t lh = g->h, lw = g->w, work;
    if (tile > 0) {
        int64_t lt = tile / g->stride_s;
        if (lt < lh) lh = lt;
        if (lt < lw) lw = lt;
        /* plus the blend strips a tile keeps: a tile's side by the overlap, 4 frames */
        held += (int64_t)2 * 3 * 4 * tile * overlap * (int64_t)sizeof(float);
    }
    ZT_TRY(zt_plan_vae(vae, 1, lh, lw, &work));
    set_stage(g, ZT_STAGE_DECODE, weights, work, held);
    ZT_TRY(plan_vae_gpu(g, vae, 1, tile, overlap));
    g->plan.vae_tile = tile;
    g->plan.vae_overlap = overlap;
    return ZT_OK;
}

/* Pick the decode's tiling: as asked, or untiled when that fits the budget, else the
 * largest tile that does (with zt_vae_default_overlap). */
static zt_status choose_tiling(gen *g, const zt_wan_vae *vae, int64_t weights, int64_t held) {
    const zt_settings *s = g->s;
    int step = g->stride_s;
    if (s->vae_tile > 0) {
        /* as asked; make_plan has checked the multiples */
        int ov = s->vae_tile_overlap >= 0 ? s->vae_tile_overlap
                                          : zt_vae_default_overlap(s->vae_tile, step);
        return plan_decode(g, vae, s->vae_tile, ov, weights, held);
    }
    ZT_TRY(plan_decode(g, vae, 0, 0, weights, held));
    if (s->vae_tile == 0 || !stage_over(g, ZT_STAGE_DECODE)) return ZT_OK;
    static const int tiles[] = {1024, 768, 512, 384, 256, 192, 128};
    int side = s->width > s->height ? s->width : s->height;
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        if (tiles[i] >= side || tiles[i] % step) continue;
        int ov = zt_vae_default_overlap(tiles[i], step);
        ZT_TRY(plan_decode(g, vae, tiles[i], ov, weights, held));
        if (!stage_over(g, ZT_STAGE_DECODE)) return ZT_OK;
    }
    return over_budget(g, ZT_STAGE_DECODE,
                       "no VAE tiling fits either (tried tiles down to "
                       "128 px)");
}

/* The image encode untiled, or (when that is over budget) in the largest tiles that
 * fit. Wan2.2's encoder counts tiles in its 2x2-patchified pixels (diffusers' rule), so
 * a tile there spans twice as many picture pixels. */
static zt_status choose_encode_tiling(gen *g, const zt_wan_vae *vae, int64_t weights,
                                      int64_t held) {
    int64_t work;
    const zt_settings *s = g->s;
    int span = zt_wan_vae_get_info(vae)->version == 22 ? 2 : 1, step = g->stride_s;
    if (s->vae_tile > 0) { /* as asked (choose_tiling has checked the multiples) */
        int64_t lt = (int64_t)s->vae_tile * span / step;
        g->plan.enc_tile = s->vae_tile;
        g->plan.enc_overlap =
            s->vae_tile_overlap >= 0 ? s->vae_tile_overlap
                                     : zt_vae_default_overlap(s->vae_tile, step);
        ZT_TRY(zt_plan_vae(vae, 0, lt < g->h ? lt : g->h, lt < g->w ? lt : g->w, &work));
        set_stage(g, ZT_STAGE_IMAGE, weights, work, held);
        return plan_vae_gpu(g, vae, 0, g->plan.enc_tile, g->plan.enc_overlap);
    }
    ZT_TRY(zt_plan_vae(vae, 0, g->h, g->w, &work));
    set_stage(g, ZT_STAGE_IMAGE, weights, work, held);
    ZT_TRY(plan_vae_gpu(g, vae, 0, 0, 0));
    if (s->vae_tile == 0 || !stage_over(g, ZT_STAGE_IMAGE)) return ZT_OK;
    static const int tiles[] = {1024, 768, 512, 384, 256, 192, 128};
    int side = g->s->width > g->s->height ? g->s->width : g->s->height;
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        int tile = tiles[i], overlap = zt_vae_default_overlap(tile, step);
        int64_t lt = (int64_t)tile * span / step;
        if (tile * span >= side || tile % step) continue;
        ZT_TRY(zt_plan_vae(vae, 0, lt < g->h ? lt : g->h, lt < g->w ? lt : g->w, &work));
        set_stage(g, ZT_STAGE_IMAGE, weights, work, held);
        ZT_TRY(plan_vae_gpu(g, vae, 0, tile, overlap));
        if (!stage_over(g, ZT_STAGE_IMAGE)) {
            g->plan.enc_tile = tile;
            g->plan.enc_overlap = overlap;
            return ZT_OK;
        }
    }
    return over_budget(g, ZT_STAGE_IMAGE,
                       "no VAE tiling fits either (tried tiles down to "
                       "128 px)");
}

/* Every stage measured before any of them runs; a budget that one cannot meet fails
 * here, naming it. */
static zt_status make_plan(gen *g, zt_wan_dit *dit, const zt_wan_dit_info *di,
                           const zt_wan_vae *vae) {
    const zt_settings *s = g->s;
    zt_mem_plan *p = &g->plan;
    int64_t avail = zt_plan_mem_available();
    p->budget = s->max_memory ? zt_parse_mem_size(s->max_memory) : avail > 0 ? avail : 0;
    /* the GPU's: as set, or what the card has free now (its context already made) less
     * what cuBLAS and the driver allocate on their own (workspaces, page rounding); a
     * dry run makes no context, so checks only a set one */
    size_t live, peak, total, gpu_free;
    p->gpu_budget = 0;
    if (s->max_gpu_memory)
        p->gpu_budget = zt_parse_mem_size(s->max_gpu_memory);
    else if (g->gpu && g->gpu->memory &&
             g->gpu->memory(g->gpu, &live, &peak, &total, &gpu_free) == ZT_OK)
        p->gpu_budget = (int64_t)gpu_free > GPU_RESERVE ? (int64_t)gpu_free - GPU_RESERVE : 1;
    int prompts = g->cfg ? 2 : 1, i2v = g->mode == ZT_GEN_I2V;
    int64_t lat = g->C * g->T * g->h * g->w * (int64_t)sizeof(float);
    int64_t cond = i2v ? g->C * g->h * g->w * (int64_t)sizeof(float) : 0;
    int64_t pixels = (int64_t)s->width * s->height;
    int64_t text_rows = (int64_t)prompts * WAN_TEXT_LEN * (int64_t)sizeof(float);
    int64_t w, work;

    /* the text encoder and tokenizer are opened here only to be measured */
    zt_tokenizer *tok = NULL;
    zt_t5 *t5 = NULL;
    int64_t heap0 = heap_in_use();
    zt_status rc = ZT_OK;
    tok = model_get(g, M_TOK, g->tokenizer, &rc);
    int64_t tok_bytes = heap_in_use() - heap0;
    if (rc == ZT_OK) t5 = model_get(g, M_T5, g->text_encoder, &rc);
    /* the pair is checked against the transformer here, before the plan's other loads */
    if (rc == ZT_OK && zt_t5_get_info(t5)->d_model != di->text_dim)
        rc = zt_fail(ZT_ERR_INPUT, "%s gives %d-wide text states but %s takes %d", g->text_encoder,
                     zt_t5_get_info(t5)->d_model, g->model, di->text_dim);
    if (rc == ZT_OK && zt_tokenizer_vocab_size(tok) > zt_t5_get_info(t5)->vocab)
        rc = zt_fail(ZT_ERR_INPUT, "%s has %d tokens, more than the %d of %s", g->tokenizer,
                     zt_tokenizer_vocab_size(tok), zt_t5_get_info(t5)->vocab, g->text_encoder);
    int64_t scratch = 0, t5_gpu = 0; /* on a GPU: the scratch, the placed weights */
    if (rc == ZT_OK) rc = zt_plan_text(t5, WAN_TEXT_LEN, &work, &scratch);
    if (rc == ZT_OK) rc = zt_t5_device_bytes(t5, &t5_gpu);
    if (rc == ZT_OK) rc = zt_plan_weight_bytes(g->text_encoder, ZT_PLAN_T5, &w);
    /* the denoiser's run; on the host each prompt's state keeps the keys of its tokens
     * and of one row standing for the zero padding (zt_wan_dit_text_init folds the rest) */
    int dit_dev = on_gpu(NULL, s->device);
    zt_plan_dit pr = {.T = g->T, .h = g->h, .w = g->w, .per_token = i2v, .prompts = prompts};
    pr.device = dit_dev;
    pr.paired = prompts == 2 && zt_wan_dit_pairs(dit, dit_dev, g->tokens);
    for (int i = 0; rc == ZT_OK && !dit_dev && i < prompts; i++) {
        int32_t ids[WAN_TEXT_LEN];
        size_t n = 0;
        rc = zt_tokenizer_encode(tok, g->text[i], strlen(g->text[i]), ids, WAN_TEXT_LEN, &n);
        pr.keys[i] = (int64_t)n + 1;
    }
    int64_t t5_tables = heap_in_use() - heap0 - tok_bytes;
    int text_dim = t5 ? zt_t5_get_info(t5)->d_model : 0;
    model_release(g, M_T5, t5);
    model_release(g, M_TOK, tok);
    ZT_TRY(rc);
    p->base = zt_plan_rss_now();
    if (p->base < 0) p->base = 0;
    int64_t writer = writer_bytes(s, 0); /* open from the text encoder on */
    set_stage(g, ZT_STAGE_TEXT, w, work,
              text_rows * text_dim + tok_bytes + (t5_tables > 0 ? t5_tables : 0) + cond +
                  pixels * 3 + writer);
    /* on a GPU (text_stage): the arena holds the working memory and the output */
    if (on_gpu(s->text_encoder_device, s->device))
        set_gpu(g, ZT_STAGE_TEXT, t5_gpu, work + text_io(di) + GPU_ARENA_EXTRA, scratch);
    if (s->vae_tile > 0) {
        int ov =
            s->vae_tile_overlap >= 0 ? s->vae_tile_overlap
                                     : zt_vae_default_overlap(s->vae_tile, g->stride_s);
        if (s->vae_tile % g->stride_s || ov % g->stride_s)
            return zt_fail(ZT_ERR_USAGE,
                           "--vae-tile %d / --vae-tile-overlap %d: this VAE needs "
                           "multiples of %d",
                           s->vae_tile, ov, g->stride_s);
    }
    if (i2v) {
        ZT_TRY(zt_plan_weight_bytes(g->vae, ZT_PLAN_VAE_ENCODER, &w));
        ZT_TRY(choose_encode_tiling(g, vae, w, pixels * 3 * (1 + (int64_t)sizeof(float)) + cond));
    }
    ZT_TRY(zt_plan_denoise(dit, &pr, &work, &scratch));
    ZT_TRY(zt_plan_weight_bytes(g->model, ZT_PLAN_ALL, &w));
    /* x, one velocity per pass, the i2v model input, the sampler's history (three
     * latents at most), the embedded prompts while their states are made, and with
     * --offload on a GPU the blocks' pinned staging */
    int64_t held = lat * (1 + prompts + i2v + 3) + cond +
                   text_rows * (di->dim > text_dim ? di->dim : text_dim) + pixels * 3 + writer +
                   (dit_dev && s->offload ? zt_wan_dit_offload_staging_bytes(dit) : 0);
    set_stage(g, ZT_STAGE_DENOISE, w, work, held);
    /* on a GPU (denoise_stage): the arena (the working memory and the stage's tensors)
     * and beside it the prompts' text states, which the working memory counts too */
    if (dit_dev)
        set_gpu(g, ZT_STAGE_DENOISE, zt_wan_dit_device_bytes(dit, s->offload),
                work + denoise_io(g, di) + GPU_ARENA_EXTRA + text_rows * di->dim, scratch);
    ZT_TRY(zt_plan_weight_bytes(g->vae, ZT_PLAN_VAE_DECODER, &w));
    ZT_TRY(choose_tiling(g, vae, w, lat + writer_bytes(s, 1) + pixels * 3));
    if (p->vae_tile > 0)
        p->scratch_bytes = zt_wan_vae_tiled_scratch_bytes(
            vae, g->T, g->h, g->w,
            &(zt_vae_tiling){.tile = p->vae_tile, .overlap = p->vae_overlap});

    p->peak = 0;
    for (int i = 0; i < ZT_STAGE_COUNT; i++)
        if (p->stage[i].used && p->stage[i].total > p->peak) {
            p->peak = p->stage[i].total;
            p->peak_stage = (zt_stage)i;
        }
    char a[32], b[32], c[32], d[32], e[32];
    for (int i = 0; i < ZT_STAGE_COUNT; i++) {
        const zt_stage_plan *sp = &p->stage[i];
        if (!sp->used) continue;
        ZT_LOGD("plan: %-14s %10s = weights %s + working %s + buffers %s + process %s",
                zt_stage_name((zt_stage)i), zt_plan_fmt(sp->total, a, sizeof a),
                zt_plan_fmt(sp->weights, b, sizeof b), zt_plan_fmt(sp->work, c, sizeof c),
                zt_plan_fmt(sp->held, d, sizeof d), zt_plan_fmt(p->base, e, sizeof e));
    }
    if (p->enc_tile > 0)
        ZT_LOGD("plan: image encode in %d px tiles (overlap %d)", p->enc_tile, p->enc_overlap);
    if (p->vae_tile > 0)
        ZT_LOGD("plan: vae decode in %d px tiles (overlap %d), %s of scratch file", p->vae_tile,
                p->vae_overlap, zt_plan_fmt(p->scratch_bytes, a, sizeof a));
    ZT_LOGD("plan: peak %s in the %s; budget %s", zt_plan_fmt(p->peak, a, sizeof a),
            zt_stage_name(p->peak_stage), p->budget ? zt_plan_fmt(p->budget, b, sizeof b) : "none");
    for (int i = 0; i < ZT_STAGE_COUNT; i++)
        if (p->stage[i].used && stage_over(g, (zt_stage)i))
            return over_budget(g, (zt_stage)i,
                               i == ZT_STAGE_DECODE ? "try a smaller --vae-tile"
                                                    : "lower the size or frame count");
    return ZT_OK;
}

/* Both VAE checks in one load: the structure, the sizes it allows, and (i2v) the
 * image's latent. It is loaded again to decode, so it does not sit in memory while the
 * transformer runs. */
static zt_status vae_stage(gen *g, zt_wan_dit *dit, const zt_wan_dit_info *di) {
    zt_status rc = ZT_OK;
    zt_wan_vae *vae = model_get(g, M_VAE, g->vae, &rc);
    ZT_TRY(rc);
    rc = check_sizes(g, di, zt_wan_vae_get_info(vae));
    if (rc == ZT_OK) rc = make_plan(g, dit, di, vae);
    if (rc == ZT_OK && g->plan_only) {
        model_release(g, M_VAE, vae);
        return ZT_OK;
    }
    if (rc == ZT_OK && g->mode == ZT_GEN_I2V) {
        stage_begin(g, "encoding the image", 0);
        rc = encode_image(g, vae);
        if (rc == ZT_OK) stage_leave(g, ZT_STAGE_IMAGE);
        stage_end(g);
    }
    model_release(g, M_VAE, vae);
    return rc;
}

/* Prompt and negative prompt cleaned as Wan cleans them, tokenized (EOS last, at most
 * 512 ids) and encoded into [512, text_dim], zero rows after the tokens. */
static zt_status text_stage(gen *g, const zt_wan_dit_info *di) {
    zt_tokenizer *tok = NULL;
    zt_t5 *t5 = NULL;
    zt_backend *be = NULL;
    ZT_TRY(component_backend(g, g->s->text_encoder_device, &be));
    int64_t ctx_bytes = text_io(di);
    ZT_TRY(stage_enter_on(g, be, ZT_STAGE_TEXT, ctx_bytes));
    int32_t *ids = malloc(WAN_TEXT_LEN * sizeof *ids);
    zt_status rc = ids ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory");
    if (rc == ZT_OK) tok = model_get(g, M_TOK, g->tokenizer, &rc);
    if (rc == ZT_OK) t5 = model_get(g, M_T5, g->text_encoder, &rc);
    if (rc == ZT_OK) rc = zt_t5_place(t5, be);
    int n_prompts = g->cfg ? 2 : 1;
    if (rc == ZT_OK) stage_begin(g, "text encoding", n_prompts);
    for (int i = 0; rc == ZT_OK && i < n_prompts; i++) {
        size_t n = 0;
        rc = zt_tokenizer_encode(tok, g->text[i], strlen(g->text[i]), ids, WAN_TEXT_LEN, &n);
        g->ctx[i] = malloc((size_t)di->text_dim * WAN_TEXT_LEN * sizeof(float));
        if (rc == ZT_OK && !g->ctx[i]) rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
        if (rc == ZT_OK && !be->device) {
            zt_tensor out = zt_tensor_new(ZT_F32, g->ctx[i], WAN_TEXT_LEN, di->text_dim);
            rc = zt_t5_encode_padded(t5, be, g->arena, ids, (int64_t)n, &out);
        } else if (rc == ZT_OK) { /* into device memory, then to the host for the DiT */
            zt_arena_mark mark = zt_arena_save(g->arena);
            zt_tensor out;
            rc = zt_arena_tensor(g->arena, &out, ZT_F32, 2, ZT_SHAPE(WAN_TEXT_LEN, di->text_dim));
            if (rc == ZT_OK) rc = zt_t5_encode_padded(t5, be, g->arena, ids, (int64_t)n, &out);
            if (rc == ZT_OK) rc = be->download(be, g->ctx[i], out.data, (size_t)ctx_bytes);
            zt_arena_restore(g->arena, mark);
        }
        if (rc == ZT_OK) rc = check_interrupt();
        if (rc == ZT_OK) stage_step(g, i + 1);
    }
    if (rc == ZT_OK) stage_end(g);
    model_release(g, M_T5, t5);
    model_release(g, M_TOK, tok);
    free(ids);
    return rc;
}

/* --noise: [C, T, h, w] or [1, C, T, h, w], any float dtype, all finite. */
static zt_status read_noise(gen *g, const char *path) {
    zt_safetensors *st;
    ZT_TRY(zt_safetensors_open(&st, path));
    const zt_st_entry *e = zt_safetensors_count(st) == 1 ? zt_safetensors_entry(st, 0) : NULL;
    if (!e) e = zt_safetensors_find(st, "noise");
    if (!e) e = zt_safetensors_find(st, "latents");
    zt_status rc = ZT_OK;
    if (!e) rc = zt_fail(ZT_ERR_INPUT, "--noise %s: no tensor 'noise' or 'latents'", path);
    int lead = e && e->ndim == 5;
    if (rc == ZT_OK &&
        ((e->ndim != 4 && e->ndim != 5) || (lead && e->shape[0] != 1) || e->shape[lead] != g->C ||
         e->shape[lead + 1] != g->T || e->shape[lead + 2] != g->h || e->shape[lead + 3] != g->w)) {
        char sh[128];
        rc = zt_fail(ZT_ERR_INPUT,
                     "--noise %s: tensor '%s' is %s; these settings need "
                     "[%lld, %lld, %lld, %lld]",
                     path, e->name, zt_st_entry_shape_str(e, sh, sizeof sh), (long long)g->C,
                     (long long)g->T, (long long)g->h, (long long)g->w);
    }
    if (rc == ZT_OK && !zt_dtype_is_float(e->dtype))
        rc = zt_fail(ZT_ERR_INPUT, "--noise %s: tensor '%s' is %s, not floating point", path,
                     e->name, zt_dtype_name(e->dtype));
    if (rc == ZT_OK) rc = zt_safetensors_read_f32(st, e, g->x, e->numel);
    for (int64_t i = 0; rc == ZT_OK && i < e->numel; i++)
        if (!isfinite(g->x[i]))
            rc = zt_fail(ZT_ERR_INPUT, "--noise %s: value %lld is not finite", path, (long long)i);
    zt_safetensors_close(st);
    return rc;
}

/* i2v: the first latent frame replaced by the image's. */
static void put_condition(const gen *g, float *x) {
    int64_t plane = g->h * g->w;
    for (int64_t c = 0; c < g->C; c++)
        memcpy(x + c * g->T * plane, g->cond + c * plane, (size_t)plane * sizeof *x);
}

/* The sampler loop. Each step: the velocity at the current latents, twice under
 * guidance (v = v_neg + g (v_pos - v_neg), diffusers' order), then the sampler's
 * update. i2v feeds the model latents whose first frame is the image's and gives its
 * tokens timestep 0 (Wan2.2 TI2V); the sampler keeps its own trajectory there, which
 * the final latents then replace, as diffusers does. */
/* A tensor of the stage's arena (device memory on a GPU) with the shape given. */
static zt_status stage_tensor(gen *g, zt_tensor *t, int ndim, const int64_t *shape) {
    return zt_arena_tensor(g->arena, t, ZT_F32, ndim, shape);
}

/* host -> t (stage memory, which may be on a device) */
static zt_status put(zt_backend *be, zt_tensor *t, const float *host) {
    if (!be->device) {
        memcpy(t->data, host, zt_tensor_nbytes(t));
        return ZT_OK;
    }
    return be->upload(be, t->data, host, zt_tensor_nbytes(t));
}

static zt_status denoise_stage(gen *g, zt_wan_dit *dit, const zt_wan_dit_info *di) {
    const zt_settings *s = g->s;
    int64_t n = g->C * g->T * g->h * g->w;
    int64_t L = WAN_TEXT_LEN;
    zt_sampler_kind kind;
    zt_sampler *smp = NULL;
    float *xin = NULL, *v[2] = {NULL, NULL}, *tt = NULL;
    zt_wan_dit_text *ts[2] = {NULL, NULL};
    zt_backend *be = NULL;
    ZT_TRY(zt_sampler_parse(s->sampler, &kind));
    ZT_TRY(component_backend(g, NULL, &be));
    /* on a GPU: the latents and velocities live in the stage's arena next to the
     * working memory, and the weights go over (or, with --offload, two blocks at a
     * time) once the text stage's arena and scratch are gone, which the plan does not
     * count beside them */
    ZT_TRY(stage_enter_on(g, be, ZT_STAGE_DENOISE, denoise_io(g, di)));
    if (s->offload && be->device)
        ZT_TRY(zt_wan_dit_place_offload(dit, be));
    else
        ZT_TRY(zt_wan_dit_place(dit, be));
    zt_status rc = zt_sampler_init(&smp, kind, s->steps, s->shift, n);
    int np = g->cfg ? 2 : 1;
    zt_tensor dx, dv[2]; /* on a GPU; the host's latents and velocities otherwise */
    if (rc == ZT_OK && be->device) rc = stage_tensor(g, &dx, 4, ZT_SHAPE(g->C, g->T, g->h, g->w));
    for (int i = 0; rc == ZT_OK && be->device && i < np; i++)
        rc = stage_tensor(g, &dv[i], 4, ZT_SHAPE(g->C, g->T, g->h, g->w));
    /* each prompt once through the text embedding and every block's cross-attention
     * keys and values: they do not change over the steps */
    zt_arena_mark mark = zt_arena_save(g->arena);
    for (int i = 0; rc == ZT_OK && i < np; i++) {
        v[i] = malloc((size_t)n * sizeof(float));
        if (!v[i]) rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
        zt_tensor ctx, out;
        if (rc == ZT_OK) rc = stage_tensor(g, &ctx, 2, ZT_SHAPE(L, di->text_dim));
        if (rc == ZT_OK) rc = stage_tensor(g, &out, 2, ZT_SHAPE(L, di->dim));
        if (rc == ZT_OK) rc = put(be, &ctx, g->ctx[i]);
        if (rc == ZT_OK) rc = zt_wan_dit_embed_text(dit, be, g->arena, &ctx, &out);
        if (rc == ZT_OK) rc = zt_wan_dit_text_init(&ts[i], dit, be, &out);
        zt_arena_restore(g->arena, mark);
        free(g->ctx[i]);
        g->ctx[i] = NULL;
    }
    if (rc == ZT_OK && g->mode == ZT_GEN_I2V) {
        xin = malloc((size_t)n * sizeof *xin);
        tt = malloc((size_t)g->tokens * sizeof *tt);
        if (!xin || !tt) rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    if (rc == ZT_OK) stage_begin(g, "denoising", s->steps);
    int64_t first = g->tokens / (g->T / di->patch[0]); /* tokens of the first latent frame */
    for (int i = 0; rc == ZT_OK && i < s->steps; i++) {
        float t = (float)zt_sampler_timestep(smp, i);
        const float *x = g->x, *tok_t = NULL;
        if (xin) {
            memcpy(xin, g->x, (size_t)n * sizeof *xin);
            put_condition(g, xin);
            x = xin;
            for (int64_t k = 0; k < g->tokens; k++) tt[k] = k < first ? 0.0f : t;
            tok_t = tt;
        }
        if (be->device)
            rc = put(be, &dx, x);
        else
            dx = zt_tensor_new(ZT_F32, (float *)x, g->C, g->T, g->h, g->w);
        for (int p = 0; !be->device && p < np; p++)
            dv[p] = zt_tensor_new(ZT_F32, v[p], g->C, g->T, g->h, g->w);
        if (rc == ZT_OK && np == 2) /* both passes, batched where that pays */
            rc = zt_wan_dit_forward_pair(dit, be, g->arena, &dx, t, tok_t,
                                         (const zt_wan_dit_text *const *)ts, dv);
        else if (rc == ZT_OK)
            rc = zt_wan_dit_forward_text(dit, be, g->arena, &dx, t, tok_t, ts[0], &dv[0]);
        for (int p = 0; rc == ZT_OK && be->device && p < np; p++)
            rc = be->download(be, v[p], dv[p].data, (size_t)n * sizeof(float));
        if (rc == ZT_OK) rc = check_interrupt();
        /* guidance and the sampler on the host: a few passes over the latents, small
         * next to a forward pass */
        if (rc == ZT_OK && g->cfg) {
            float gs = (float)s->guidance;
            for (int64_t k = 0; k < n; k++) v[0][k] = v[1][k] + gs * (v[0][k] - v[1][k]);
        }
        if (rc == ZT_OK) rc = zt_sampler_step(smp, i, g->x, v[0]);
        if (rc == ZT_OK) stage_step(g, i + 1);
    }
    if (rc == ZT_OK) stage_end(g);
    if (rc == ZT_OK && g->cond) put_condition(g, g->x);
    for (int i = 0; i < 2; i++) {
        zt_wan_dit_text_free(ts[i]);
        free(v[i]);
    }
    free(xin);
    free(tt);
    zt_sampler_free(smp);
    return rc;
}

/* Each decoded frame quantized and into the writer. */
static zt_status on_frame(void *user, const zt_tensor *frame, int64_t index) {
    gen *g = user;
    ZT_TRY(check_interrupt());
    if (g->cb && g->cb->frame) ZT_TRY(g->cb->frame(g->cb->user, frame, index));
    zt_frame_to_rgb8(frame->data, frame->shape[1], frame->shape[2], g->rgb);
    ZT_TRY(zt_video_writer_write(g->writer, g->rgb, 3 * (int)frame->shape[2]));
    g->frames_done = index + 1;
    stage_step(g, index + 1);
    return ZT_OK;
}

static zt_status decode_stage(gen *g) {
    zt_status rc = ZT_OK;
    zt_wan_vae *vae = model_get(g, M_VAE, g->vae, &rc);
    ZT_TRY(rc);
    zt_tensor z = zt_tensor_new(ZT_F32, g->x, g->C, g->T, g->h, g->w);
    zt_vae_tiling t = {.tile = g->plan.vae_tile, .overlap = g->plan.vae_overlap};
    zt_backend *be = NULL;
    rc = vae_enter(g, vae, 1, t.tile > 0 ? &t : NULL, &be);
    if (rc == ZT_OK) stage_begin(g, "decoding", g->s->frames);
    if (rc == ZT_OK && t.tile > 0)
        rc = zt_wan_vae_decode_tiled(vae, be, g->arena, &z, 0, &t, on_frame, g);
    else if (rc == ZT_OK)
        rc = zt_wan_vae_decode(vae, be, g->arena, &z, 0, on_frame, g);
    if (rc == ZT_OK) stage_end(g);
    model_release(g, M_VAE, vae);
    return rc;
}

static zt_status run(gen *g) {
    const zt_settings *s = g->s;
    ZT_TRY(zt_settings_validate(s));
    zt_sampler_kind kind;
    ZT_TRY(zt_sampler_parse(s->sampler, &kind));
    if (g->mode == ZT_GEN_I2V) { /* the cheap checks first: a bad picture costs no load */
        if (!s->image || !*s->image)
            return zt_fail(ZT_ERR_USAGE, "i2v needs an input image (--image)");
        ZT_TRY(zt_image_load(s->image, s->width, s->height, &g->image));
    }
    g->cfg = s->guidance > 1.0; /* as diffusers: at 1 or below the negative pass is moot */
    for (int i = 0; i < 1 + g->cfg; i++) { /* cleaned now: bad UTF-8 fails before any load */
        const char *text = i == 0               ? s->prompt
                           : s->negative_prompt ? s->negative_prompt
                                                : zt_wan_default_negative_prompt;
        zt_status rc = zt_text_clean(text ? text : "", &g->text[i]);
        if (rc != ZT_OK) /* the message says "prompt: ..." */
            return i == 1 ? zt_fail_wrap(rc, "--negative-prompt: ") : rc;
    }
    ZT_TRY(resolve_files(g));

    /* the transformer's weights are mapped, not read, so opening it first costs little
     * and checks it against the VAE before any heavy work */
    zt_status rc = ZT_OK;
    zt_wan_dit *dit = model_get(g, M_DIT, g->model, &rc);
    ZT_TRY(rc);
    const zt_wan_dit_info *di = zt_wan_dit_get_info(dit);
    rc = zt_backend_cpu_init(&g->be, s->threads);
    /* a GPU that is asked for and missing fails now, before any heavy work */
    const char *devs[3] = {s->device, s->text_encoder_device, s->vae_device};
    zt_backend *any;
    for (int i = 0; rc == ZT_OK && i < 3; i++)
        if (zt_parse_device(devs[i]) >= 0 && !g->plan_only)
            rc = component_backend(g, devs[i], &any);
    if (rc == ZT_OK) rc = zt_arena_init(&g->arena, 0, 0);
    if (rc == ZT_OK) rc = vae_stage(g, dit, di);
    if (rc == ZT_OK && g->plan_only) {
        model_release(g, M_DIT, dit);
        return ZT_OK;
    }
    int64_t n = g->C * g->T * g->h * g->w;
    if (rc == ZT_OK) {
        g->x = malloc((size_t)n * sizeof *g->x);
        if (!g->x) rc = zt_fail(ZT_ERR_NOMEM, "out of memory for the latents");
    }
    if (rc == ZT_OK) {
        if (s->noise)
            rc = read_noise(g, s->noise);
        else
            zt_rng_normal(s->seed, 0, g->x, n);
    }
    if (rc == ZT_OK) rc = open_writer(g);
    if (rc == ZT_OK) rc = text_stage(g, di);
    if (rc == ZT_OK) stage_leave(g, ZT_STAGE_TEXT);
    if (rc == ZT_OK) rc = denoise_stage(g, dit, di);
    if (rc == ZT_OK) stage_leave(g, ZT_STAGE_DENOISE);
    model_release(g, M_DIT, dit);
    if (rc == ZT_OK && g->cb && g->cb->latents) {
        zt_tensor z = zt_tensor_new(ZT_F32, g->x, g->C, g->T, g->h, g->w);
        rc = g->cb->latents(g->cb->user, &z);
    }
    if (rc == ZT_OK) rc = decode_stage(g);
    if (rc == ZT_OK) stage_leave(g, ZT_STAGE_DECODE);
    if (rc == ZT_OK) {
        zt_video_writer *w = g->writer;
        g->writer = NULL;
        rc = zt_video_writer_close(w);
    }
    return rc;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void gen_free(gen *g) {
    zt_video_writer_abort(g->writer); /* nothing half-written stays behind */
    free(g->ctx[0]);
    free(g->ctx[1]);
    free(g->text[0]);
    free(g->text[1]);
    free(g->cond);
    free(g->x);
    free(g->rgb);
    zt_image_free(&g->image);
    zt_arena_free(g->arena);
    zt_backend_free(g->gpu);
    zt_backend_free(g->be);
    free(g);
}

zt_status zt_generate_plan(const zt_settings *s, zt_gen_mode mode, zt_mem_plan *plan) {
    memset(plan, 0, sizeof *plan);
    gen *g = calloc(1, sizeof *g);
    if (!g) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    g->s = s;
    g->mode = mode;
    g->plan_only = 1;
    zt_status rc = run(g);
    *plan = g->plan;
    gen_free(g);
    return rc;
}

/* Models stay in the cache only where they run on the CPU: a placed model belongs to
 * the run's GPU backend, which ends with the run. */
static int all_on_cpu(const zt_settings *s) {
    return !on_gpu(NULL, s->device) && !on_gpu(s->text_encoder_device, s->device) &&
           !on_gpu(s->vae_device, s->device);
}

zt_status zt_generate_cached(const zt_settings *s, zt_gen_mode mode, zt_model_cache *cache,
                             const zt_gen_callbacks *cb, zt_gen_result *result) {
    memset(result, 0, sizeof *result);
    double t0 = now_s();
    gen *g = calloc(1, sizeof *g);
    if (!g) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    g->s = s;
    g->mode = mode;
    g->cb = cb;
    g->cache = cache && all_on_cpu(s) ? cache : NULL;
    zt_status rc = run(g);
    if (rc == ZT_OK) {
        result->frames = g->frames_done;
        result->width = s->width;
        result->height = s->height;
        result->seconds = now_s() - t0;
        result->plan = g->plan;
        device_peak_take(g, 0);
        result->device_peak = g->device_peak;
    }
    gen_free(g);
    return rc;
}

zt_status zt_generate(const zt_settings *s, zt_gen_mode mode, const zt_gen_callbacks *cb,
                      zt_gen_result *result) {
    return zt_generate_cached(s, mode, NULL, cb, result);
}

/* ---- the public entry point ------------------------------------------------------------ */

typedef struct progress_ctx {
    zt_progress_fn fn;
    void *user;
    const char *stage;
    int64_t total;
} progress_ctx;

static void pub_begin(void *user, const char *stage, int64_t total) {
    progress_ctx *p = user;
    p->stage = stage;
    p->total = total;
    p->fn(p->user, stage, 0, total);
}
static void pub_step(void *user, int64_t done) {
    progress_ctx *p = user;
    p->fn(p->user, p->stage, done, p->total);
}

zt_status zt_generate_video(const zt_settings *s, zt_model_cache *cache, zt_progress_fn progress,
                            void *user, zt_gen_stats *stats) {
    progress_ctx pc = {progress, user, "", 0};
    zt_gen_callbacks cb = {pub_begin, pub_step, NULL, NULL, NULL, &pc};
    zt_gen_result res;
    zt_gen_mode mode = s->image && *s->image ? ZT_GEN_I2V : ZT_GEN_T2V;
    zt_status rc = zt_generate_cached(s, mode, cache, progress ? &cb : NULL, &res);
    if (stats) {
        memset(stats, 0, sizeof *stats);
        if (rc == ZT_OK) {
            stats->frames = res.frames;
            stats->width = res.width;
            stats->height = res.height;
            stats->seconds = res.seconds;
            stats->planned_peak = res.plan.peak;
            stats->vae_tile = res.plan.vae_tile;
        }
    }
    return rc;
}

/* The memory plan's measurements: each stage's code on the null backend with measuring
 * arenas (plan.h says why), and the model and process sizes around it. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/arena.h"
#include "../core/status.h"
#include "../io/weights.h"

const char *zt_stage_name(zt_stage s) {
    static const char *const names[] = {"image encoding", "text encoder", "denoiser", "vae decode"};
    return s < ZT_STAGE_COUNT ? names[s] : "?";
}

/* A null backend and a measuring arena for one measurement. */
typedef struct probe {
    zt_backend *be;
    zt_arena *arena;
} probe;

static zt_status probe_begin(probe *p) {
    memset(p, 0, sizeof *p);
    ZT_TRY(zt_backend_null_init(&p->be));
    zt_status rc = zt_arena_init(&p->arena, 0, 0);
    if (rc != ZT_OK) {
        zt_backend_free(p->be);
        return rc;
    }
    zt_arena_set_measuring(1);
    return ZT_OK;
}

/* The peak of both, and everything freed. */
static int64_t probe_end(probe *p) {
    zt_arena_set_measuring(0);
    int64_t peak = (int64_t)zt_arena_peak(p->arena) + (int64_t)zt_backend_null_peak(p->be);
    zt_arena_free(p->arena);
    zt_backend_free(p->be);
    return peak;
}

/* A tensor in the probe's arena: its memory is reserved, never touched. */
static zt_status probe_tensor(probe *p, zt_tensor *t, int ndim, const int64_t *shape) {
    return zt_arena_tensor(p->arena, t, ZT_F32, ndim, shape);
}

/* the CUDA backend's scratch the probe's ops would have taken (zt_backend_null_model_cuda) */
static void probe_scratch(const probe *p, int64_t *scratch) {
    if (scratch) *scratch = (int64_t)p->be->scratch_bytes(p->be);
}

zt_status zt_plan_text(const zt_t5 *t5, int64_t tokens, int64_t *work, int64_t *scratch) {
    probe p;
    ZT_TRY(probe_begin(&p));
    zt_backend_null_model_cuda(p.be);
    int32_t *ids = calloc((size_t)tokens, sizeof *ids); /* id 0 is valid in every vocabulary */
    zt_status rc = ids ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "plan: out of memory");
    zt_tensor out = {0};
    if (rc == ZT_OK) rc = probe_tensor(&p, &out, 2, ZT_SHAPE(tokens, zt_t5_get_info(t5)->d_model));
    if (rc == ZT_OK) {
        zt_arena_reset_peak(p.arena); /* the output is the caller's, counted as held */
        rc = zt_t5_encode(t5, p.be, p.arena, ids, tokens, &out);
    }
    free(ids);
    probe_scratch(&p, scratch);
    int64_t peak = probe_end(&p) - (int64_t)zt_tensor_nbytes(&out);
    *work = peak > 0 ? peak : 0;
    return rc;
}

zt_status zt_plan_denoise(const zt_wan_dit *m, const zt_plan_dit *r, int64_t *work,
                          int64_t *scratch) {
    const zt_wan_dit_info *di = zt_wan_dit_get_info(m);
    int64_t L = 512, T = r->T, h = r->h, w = r->w;
    int64_t tokens = T / di->patch[0] * (h / di->patch[1]) * (w / di->patch[2]);
    probe p;
    ZT_TRY(probe_begin(&p));
    p.be->device = r->device ? 1 : 0; /* the model's device paths; nothing runs either way */
    zt_backend_null_model_cuda(p.be);
    zt_tensor x, v, text[2];
    float *tt = NULL;
    zt_wan_dit_text *ts[2] = {NULL, NULL};
    zt_status rc = probe_tensor(&p, &x, 4, ZT_SHAPE(di->in_channels, T, h, w));
    if (rc == ZT_OK) rc = probe_tensor(&p, &v, 4, ZT_SHAPE(di->out_channels, T, h, w));
    /* the null backend folds nothing: a state of k rows comes from a text of k rows */
    for (int i = 0; rc == ZT_OK && i < r->prompts; i++) {
        int64_t k = r->keys[i] > 0 && r->keys[i] < L && !r->device ? r->keys[i] : L;
        rc = probe_tensor(&p, &text[i], 2, ZT_SHAPE(k, di->dim));
    }
    int64_t inputs = (int64_t)zt_arena_used(p.arena); /* the pipeline's, counted as held */
    if (rc == ZT_OK && r->per_token) {
        /* as i2v gives them: 0 on the first latent frame, t elsewhere (the forward pass
         * groups tokens by timestep, so the values shape its memory) */
        tt = malloc((size_t)tokens * sizeof *tt);
        if (!tt) rc = zt_fail(ZT_ERR_NOMEM, "plan: out of memory");
        for (int64_t k = 0; tt && k < tokens; k++)
            tt[k] = k < tokens / (T / di->patch[0]) ? 0.0f : 999.0f;
    }
    for (int i = 0; rc == ZT_OK && i < r->prompts; i++)
        rc = zt_wan_dit_text_init(&ts[i], m, p.be, &text[i]);
    zt_tensor v2[2] = {v, v}; /* the pair's velocities are the pipeline's, held */
    if (rc == ZT_OK && r->prompts == 2 && r->paired)
        rc = zt_wan_dit_forward_pair(m, p.be, p.arena, &x, 999.0f, tt,
                                     (const zt_wan_dit_text *const *)ts, v2);
    else if (rc == ZT_OK)
        rc = zt_wan_dit_forward_text(m, p.be, p.arena, &x, 999.0f, tt, ts[0], &v);
    zt_wan_dit_text_free(ts[0]);
    zt_wan_dit_text_free(ts[1]);
    free(tt);
    probe_scratch(&p, scratch);
    int64_t peak = probe_end(&p) - inputs;
    *work = peak > 0 ? peak : 0;
    return rc;
}

/* The first `chunks` chunks (1 or 2) of a stream at latent size h x w: the arena and
 * backend peak, and the stream's caches. */
static zt_status plan_vae_chunks(const zt_wan_vae *v, int decoder, int64_t h, int64_t w,
                                 int chunks, int64_t *peak, int64_t *caches) {
    const zt_wan_vae_info *in = zt_wan_vae_get_info(v);
    probe p;
    ZT_TRY(probe_begin(&p));
    zt_wan_vae_stream *s = NULL;
    zt_status rc = zt_wan_vae_stream_init(&s, v, decoder);
    int64_t inputs = 0;
    /* two chunks: the first (one frame) and a full one; the caches are made by the first
     * and the arena peak does not grow after the second. A picture's encode is the
     * first alone. */
    for (int k = 0; rc == ZT_OK && k < chunks; k++) {
        zt_arena_mark m = zt_arena_save(p.arena);
        zt_tensor x, out;
        if (decoder) {
            rc = probe_tensor(&p, &x, 3, ZT_SHAPE(in->z_dim, h, w));
            if (rc == ZT_OK) rc = zt_wan_vae_decode_chunk(s, p.be, p.arena, &x, &out);
        } else {
            int64_t n = k == 0 ? 1 : in->stride_t;
            rc = probe_tensor(&p, &x, 4, ZT_SHAPE(3, n, h * in->stride_s, w * in->stride_s));
            if (rc == ZT_OK) rc = zt_wan_vae_encode_chunk(s, p.be, p.arena, &x, &out);
        }
        if (rc == ZT_OK && (int64_t)zt_tensor_nbytes(&x) > inputs)
            inputs = (int64_t)zt_tensor_nbytes(&x);
        zt_arena_restore(p.arena, m);
    }
    int64_t c = s ? (int64_t)zt_wan_vae_stream_bytes(s) : 0;
    zt_wan_vae_stream_free(s);
    *peak = probe_end(&p);
    *caches = c;
    return rc;
}

zt_status zt_plan_vae(const zt_wan_vae *v, int decoder, int64_t h, int64_t w, int64_t *work) {
    int64_t peak, caches;
    /* the encoder only ever encodes i2v's picture: one frame, one chunk (planning a full
     * 4-frame chunk put its stage 14-38% over the measured peak) */
    zt_status rc = plan_vae_chunks(v, decoder, h, w, decoder ? 2 : 1, &peak, &caches);
    *work = peak + caches;
    return rc;
}

/* Frames of a measured decode go nowhere. */
static zt_status drop_frame(void *user, const zt_tensor *frame, int64_t index) {
    (void)user, (void)frame, (void)index;
    return ZT_OK;
}

zt_status zt_plan_vae_device(const zt_wan_vae *v, int decoder, int64_t h, int64_t w,
                             int64_t frames, const zt_vae_tiling *tiling, int64_t *arena,
                             int64_t *caches, int64_t *scratch) {
    const zt_wan_vae_info *in = zt_wan_vae_get_info(v);
    int64_t z = in->z_dim, s = in->stride_s, st = in->stride_t;
    *arena = *caches = 0;
    /* one tile's stream is alive at a time: its caches at the tile's latent size (cut
     * to the clip's, which is also the untiled case) */
    int64_t th = h, tw = w;
    if (tiling && tiling->tile > 0) {
        int64_t lt = tiling->tile / (decoder ? s : s / in->patch);
        th = lt < h ? lt : h;
        tw = lt < w ? lt : w;
    }
    /* a picture is one chunk of one frame: planned as a video, its column buffers
     * (and so the CUDA scratch) were a full chunk's, 4 frames' */
    int picture = !decoder && frames == 1, chunks = picture ? 1 : 2;
    int64_t peak;
    ZT_TRY(plan_vae_chunks(v, decoder, th, tw, chunks, &peak, caches));
    /* the whole call, on two latent frames (the arena peak does not grow after the
     * second chunk) or a picture's one; its inputs and outputs are the caller's */
    probe p;
    ZT_TRY(probe_begin(&p));
    zt_backend_null_model_cuda(p.be);
    zt_tensor x, y = {0};
    int64_t frames_in = picture ? 1 : 1 + st;
    zt_status rc = decoder ? probe_tensor(&p, &x, 4, ZT_SHAPE(z, 2, h, w))
                           : probe_tensor(&p, &x, 4, ZT_SHAPE(3, frames_in, h * s, w * s));
    if (rc == ZT_OK && !decoder) rc = probe_tensor(&p, &y, 4, ZT_SHAPE(z, chunks, h, w));
    int64_t io = (int64_t)zt_arena_used(p.arena);
    if (rc == ZT_OK)
        rc = decoder ? zt_wan_vae_decode_tiled(v, p.be, p.arena, &x, 0, tiling, drop_frame, NULL)
                     : zt_wan_vae_encode_tiled(v, p.be, p.arena, &x, 0, tiling, &y);
    probe_scratch(&p, scratch);
    int64_t used = probe_end(&p) - io;
    *arena = used > 0 ? used : 0;
    return rc;
}

/* Which half of a VAE file a tensor belongs to: 1 decoder, 0 encoder. Names may sit
 * under a checkpoint's prefix (first_stage_model., vae.). */
static int vae_decoder_tensor(const char *name) {
    const char *p;
    if ((p = strstr(name, "first_stage_model."))) name = p + strlen("first_stage_model.");
    if (!strncmp(name, "vae.", 4)) name += 4;
    return !strncmp(name, "decoder.", 8) || !strncmp(name, "conv2.", 6) ||
           !strncmp(name, "post_quant_conv.", 16);
}

zt_status zt_plan_weight_bytes(const char *path, int part, int64_t *bytes) {
    zt_weights *w;
    ZT_TRY(zt_weights_open(&w, path));
    int64_t sum = 0;
    for (size_t i = 0; i < zt_weights_count(w); i++) {
        const zt_st_entry *e = zt_weights_entry(w, i, NULL);
        int take = 1;
        if (part == ZT_PLAN_VAE_DECODER)
            take = vae_decoder_tensor(e->name);
        else if (part == ZT_PLAN_VAE_ENCODER)
            take = !vae_decoder_tensor(e->name);
        else if (part == ZT_PLAN_T5)
            take = !strstr(e->name, "decoder");
        if (!take) continue;
        /* a token table is read a row per distinct token: two prompts of 512 at most */
        if (part == ZT_PLAN_T5 && e->ndim == 2 && e->shape[0] > 1024 &&
            (strstr(e->name, "shared") || strstr(e->name, "embed_tokens") ||
             strstr(e->name, "token_embedding")))
            sum += (int64_t)(e->nbytes / (uint64_t)e->shape[0]) * 1024;
        else
            sum += (int64_t)e->nbytes;
    }
    zt_weights_close(w);
    *bytes = sum;
    return ZT_OK;
}

static int64_t proc_kib(const char *file, const char *key) {
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    char line[256];
    size_t n = strlen(key);
    int64_t v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n)) {
            v = strtoll(line + n, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

int64_t zt_plan_rss_now(void) {
    int64_t kib = proc_kib("/proc/self/status", "VmRSS:");
    return kib < 0 ? -1 : kib * 1024;
}

void zt_plan_peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

int64_t zt_plan_peak_now(void) {
    int64_t kib = proc_kib("/proc/self/status", "VmHWM:");
    return kib < 0 ? -1 : kib * 1024;
}

int64_t zt_plan_mem_available(void) {
    int64_t kib = proc_kib("/proc/meminfo", "MemAvailable:");
    return kib < 0 ? -1 : kib * 1024;
}

const char *zt_plan_fmt(int64_t bytes, char *buf, size_t size) {
    double b = (double)bytes;
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, size, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else
        snprintf(buf, size, "%.0f MiB", b / (1024.0 * 1024));
    return buf;
}

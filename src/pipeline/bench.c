#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../backends/backend.h"
#include "../core/arena.h"
#include "../core/status.h"
#include "../io/safetensors.h"
#include "../models/wan_dit.h"
#include "plan.h"
#include "sampler.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Uniform values in [-1, 1) (xorshift), scaled. */
static void fill_uniform(float *x, int64_t n, uint64_t seed, float scale) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = ((float)(s >> 40) * (1.0f / 8388608.0f) - 1.0f) * scale;
    }
}

/* Standard normal values (Box-Muller over the xorshift stream). */
static void fill_normal(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
    for (int64_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            u[k] = ((double)(s >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        }
        double r = sqrt(-2.0 * log(u[0])), a = 6.283185307179586 * u[1];
        x[i] = (float)(r * cos(a));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(a));
    }
}

/* Tensor `name` of an inputs file into dst, which must hold exactly the given shape. */
static zt_status read_input(const zt_safetensors *st, const char *name, float *dst, int ndim,
                            const int64_t *shape) {
    const zt_st_entry *e = zt_safetensors_find(st, name);
    const char *path = zt_safetensors_path(st);
    if (!e) return zt_fail(ZT_ERR_INPUT, "%s: no tensor \"%s\"", path, name);
    int ok = e->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = e->shape[i] == shape[i];
    if (!ok) {
        char got[96];
        return zt_fail(ZT_ERR_INPUT, "%s: \"%s\" is %s, not the shape the run needs", path, name,
                       zt_st_entry_shape_str(e, got, sizeof got));
    }
    return zt_safetensors_read_f32(st, e, dst, e->numel);
}

void zt_bench_dit_stats_free(zt_bench_dit_stats *st) {
    free(st->step_s);
    free(st->latents);
    st->step_s = NULL;
    st->latents = NULL;
}

/* A device copy of host data, or the host data itself on a host backend. */
static zt_status to_dev(zt_backend *be, zt_tensor *t, float *host) {
    t->data = host;
    t->device = 0;
    if (!be->device) return ZT_OK;
    void *d;
    ZT_TRY(be->alloc(be, zt_tensor_nbytes(t), &d));
    zt_status s = be->upload(be, d, host, zt_tensor_nbytes(t));
    t->data = d;
    t->device = be->device;
    return s;
}

static void dev_free(zt_backend *be, zt_tensor *t) {
    if (be && be->device && t->data) be->dealloc(be, t->data);
    t->data = NULL;
}

typedef struct run {
    zt_wan_dit *m;
    zt_backend *be;
    zt_arena *arena;
    zt_sampler *smp;
    zt_safetensors *in;
    zt_wan_dit_text *ts[2];
    float *host; /* x, vc, vu, ctx */
    zt_tensor x, vc, vu, ctx, emb[2];
} run;

static void note_device(run *r, zt_bench_dit_stats *st) {
    size_t live = 0, peak = 0, total = 0;
    if (r->be && r->be->device && zt_backend_cuda_memory(r->be, &live, &peak, &total) == ZT_OK) {
        st->device_peak = peak;
        st->device_total = total;
    }
}

static zt_status bench(run *r, const zt_bench_dit_opts *o, zt_bench_dit_stats *st) {
    double t0 = now_s();
    ZT_TRY(zt_wan_dit_open(&r->m, o->model));
    st->load_s = now_s() - t0;
    const zt_wan_dit_info *info = zt_wan_dit_get_info(r->m);
    if (info->out_channels != info->in_channels)
        return zt_fail(ZT_ERR_UNSUPPORTED, "bench dit: %d channels in, %d out", info->in_channels,
                       info->out_channels);
    st->naming = info->naming;
    st->layers = info->layers;
    st->dim = info->dim;
    if (zt_plan_weight_bytes(o->model, ZT_PLAN_ALL, &st->weight_bytes) != ZT_OK)
        st->weight_bytes = 0;
    if (o->device >= 0)
        ZT_TRY(zt_backend_cuda_init(&r->be, o->device));
    else
        ZT_TRY(zt_backend_cpu_init(&r->be, o->threads));
    st->threads = r->be->threads(r->be);
    zt_backend *be = r->be;

    /* latents [C, T, h, w] as Wan2.1's VAE makes them */
    int64_t c = info->in_channels, tf = 1 + (o->frames - 1) / 4;
    int64_t lh = o->height / 8, lw = o->width / 8, numel = c * tf * lh * lw;
    int64_t l = ZT_BENCH_TEXT_ROWS, td = info->text_dim, d = info->dim;
    if (tf % info->patch[0] || lh % info->patch[1] || lw % info->patch[2])
        return zt_fail(ZT_ERR_USAGE, "bench dit: %lldx%lldx%lld latents do not fit the patch",
                       (long long)tf, (long long)lh, (long long)lw);
    st->tokens = tf / info->patch[0] * (lh / info->patch[1]) * (lw / info->patch[2]);
    st->numel = numel;

    t0 = now_s();
    ZT_TRY(o->offload ? zt_wan_dit_place_offload(r->m, be) : zt_wan_dit_place(r->m, be));
    zt_wan_dit_set_ffn_rows(r->m, o->ffn_rows);
    st->place_s = now_s() - t0;
    size_t cap = 0;
    if (be->device) { /* a device arena is one block: size it from the plan */
        int64_t work = 0, scratch = 0;
        zt_plan_dit pr = {.T = tf, .h = lh, .w = lw, .prompts = 1, .device = 1};
        ZT_TRY(zt_plan_denoise(r->m, &pr, &work, &scratch));
        cap = (size_t)work + ((size_t)l * (size_t)(td + d) * sizeof(float)) + ((size_t)64 << 20);
        /* and what the run allocates beside the arena, as the plan counts it: the
         * weights, x and two velocities, both prompts' embedded text and text states,
         * the CUDA backend's scratch */
        int64_t text = l * d * (int64_t)sizeof(float);
        st->device_plan = (size_t)(zt_wan_dit_device_bytes(r->m, o->offload) + (int64_t)cap +
                                   3 * numel * (int64_t)sizeof(float) +
                                   2 * text * (o->uncached ? 1 : 2) + scratch);
    }
    ZT_TRY(zt_arena_init_on(&r->arena, be, cap));

    r->host = malloc((size_t)(3 * numel + l * td) * sizeof(float));
    st->latents = malloc((size_t)numel * sizeof(float));
    st->step_s = calloc((size_t)o->steps, sizeof *st->step_s);
    if (!r->host || !st->latents || !st->step_s)
        return zt_fail(ZT_ERR_NOMEM, "bench dit: out of memory for the inputs");
    float *x = r->host, *vc = x + numel, *vu = vc + numel, *ctx = vu + numel;
    if (o->inputs) {
        ZT_TRY(zt_safetensors_open(&r->in, o->inputs));
        ZT_TRY(read_input(r->in, "noise", x, 4, (const int64_t[]){c, tf, lh, lw}));
    } else {
        fill_normal(x, numel, o->seed);
    }
    r->x = zt_tensor_new(ZT_F32, NULL, c, tf, lh, lw);
    r->vc = r->x;
    r->vu = r->x;
    ZT_TRY(to_dev(be, &r->x, x));
    ZT_TRY(to_dev(be, &r->vc, vc));
    ZT_TRY(to_dev(be, &r->vu, vu));

    /* cond then uncond, each embedded once and its keys and values made once */
    const char *ctx_names[2] = {"context", "context_neg"};
    t0 = now_s();
    for (int p = 0; p < 2; p++) {
        if (r->in)
            ZT_TRY(read_input(r->in, ctx_names[p], ctx, 2, (const int64_t[]){l, td}));
        else
            fill_uniform(ctx, l * td, o->seed * 2 + 11 + (uint64_t)p, 0.2f); /* umT5 scale */
        zt_tensor ct = zt_tensor_new(ZT_F32, NULL, l, td);
        ZT_TRY(to_dev(be, &ct, ctx));
        r->emb[p] = zt_tensor_new(ZT_F32, NULL, l, d);
        zt_status s = be->alloc(be, (size_t)(l * d) * sizeof(float), &r->emb[p].data);
        r->emb[p].device = be->device;
        if (s == ZT_OK) s = zt_wan_dit_embed_text(r->m, be, r->arena, &ct, &r->emb[p]);
        if (s == ZT_OK && !o->uncached) s = zt_wan_dit_text_init(&r->ts[p], r->m, be, &r->emb[p]);
        if (s == ZT_OK) s = be->sync(be);
        dev_free(be, &ct);
        ZT_TRY(s);
    }
    st->prompt_s = now_s() - t0;
    ZT_TRY(zt_sampler_init(&r->smp, ZT_SAMPLER_UNIPC, o->steps, o->shift, numel));

    float g = (float)o->guidance;
    for (int i = 0; i < o->steps; i++) {
        t0 = now_s();
        float t = (float)zt_sampler_timestep(r->smp, i);
        if (o->uncached) {
            for (int p = 0; p < 2; p++)
                ZT_TRY(zt_wan_dit_forward(r->m, be, r->arena, &r->x, t, NULL, &r->emb[p],
                                          p ? &r->vu : &r->vc));
        } else { /* as zoetrope t2v runs them */
            zt_tensor v[2] = {r->vc, r->vu};
            const zt_wan_dit_text *ts[2] = {r->ts[0], r->ts[1]};
            ZT_TRY(zt_wan_dit_forward_pair(r->m, be, r->arena, &r->x, t, NULL, ts, v));
        }
        if (be->device) { /* guidance and the sampler run on the host: small next to a step */
            ZT_TRY(be->download(be, vc, r->vc.data, (size_t)numel * sizeof(float)));
            ZT_TRY(be->download(be, vu, r->vu.data, (size_t)numel * sizeof(float)));
        }
        for (int64_t k = 0; k < numel; k++) vc[k] = vu[k] + g * (vc[k] - vu[k]);
        ZT_TRY(zt_sampler_step(r->smp, i, x, vc));
        if (be->device) ZT_TRY(be->upload(be, r->x.data, x, (size_t)numel * sizeof(float)));
        ZT_TRY(be->sync(be));
        st->step_s[i] = now_s() - t0;
        note_device(r, st);
    }
    int first = be->device && o->steps > 1; /* a GPU's first step includes its warm-up */
    for (int i = first; i < o->steps; i++) st->mean_step_s += st->step_s[i] / (o->steps - first);
    st->arena_peak = zt_arena_peak(r->arena);
    memcpy(st->latents, x, (size_t)numel * sizeof(float));
    return ZT_OK;
}

zt_status zt_bench_dit_run(const zt_bench_dit_opts *o, zt_bench_dit_stats *st) {
    *st = (zt_bench_dit_stats){0};
    run r = {0};
    zt_status s = bench(&r, o, st);
    zt_safetensors_close(r.in);
    zt_wan_dit_text_free(r.ts[0]);
    zt_wan_dit_text_free(r.ts[1]);
    zt_sampler_free(r.smp);
    dev_free(r.be, &r.x);
    dev_free(r.be, &r.vc);
    dev_free(r.be, &r.vu);
    if (r.be)
        for (int p = 0; p < 2; p++)
            if (r.emb[p].data) r.be->dealloc(r.be, r.emb[p].data);
    free(r.host);
    zt_arena_free(r.arena);
    zt_wan_dit_free(r.m); /* placed weights go back to the backend first */
    zt_backend_free(r.be);
    if (s != ZT_OK) zt_bench_dit_stats_free(st);
    return s;
}

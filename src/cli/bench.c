/* zoetrope bench - speed of the CPU kernels a Wan forward pass spends its time in:
 * linear layers at the model's shapes (f32 and bf16 weights), the VAE's convolutions,
 * and attention at long sequences, with the memory attention holds next to what a
 * score matrix would take.
 *
 * zoetrope bench dit - denoising steps of a Wan DiT file with classifier-free guidance
 * (two forward passes per step) under the UniPC sampler: seconds per step and peak
 * RSS, on generated inputs or on ones from a file (tools/dit/bench.py compares the
 * result with diffusers'). */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "cli.h"
#include "core/arena.h"
#include "core/half.h"
#include "core/ops.h"
#include "core/status.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "pipeline/bench.h"
#include "pipeline/plan.h"
#include "pipeline/sampler.h"
#include "progress.h"

static const char *const CMD = "bench";

/* Wan 2.1 1.3B: dim 1536, ffn 8960, umT5 width 4096, 12 heads of 128. */
typedef struct linear_shape {
    const char *what;
    int64_t m, k, n;
} linear_shape;

#define TOKENS_FULL  4096 /* 81 frames at 480x832 are ~32k tokens; 4096 is a short clip */
#define TOKENS_QUICK 1024

/* m < 0: the token count of the run */
static const linear_shape linear_shapes[] = {
    {"time projection", 1, 1536, 9216},    /* one row: bound by reading the weight */
    {"attention q/k/v/o", -1, 1536, 1536}, /* and cross-attention q, o */
    {"ffn up", -1, 1536, 8960},
    {"ffn down", -1, 8960, 1536},
    {"text embedding", 512, 4096, 1536}, /* umT5 output, 512 text tokens */
};

#define ATT_HEADS 2 /* enough for 32k tokens to take seconds, not minutes */
#define ATT_DIM   128
static const int64_t att_tokens_full[] = {4096, 16384, 32768};
static const int64_t att_tokens_quick[] = {1024, 4096};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* uniform in [-1, 1): the values do not matter, only that they are ordinary numbers */
static void fill(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)(s >> 40) * (1.0f / 8388608.0f) - 1.0f;
    }
}

typedef zt_status (*bench_fn)(void *ctx);

/* Seconds per call: a first call warms caches and scratch; it is the measurement
 * itself when it alone lasts min_s (32k-token attention), otherwise calls repeat until
 * min_s has passed. */
static zt_status time_calls(bench_fn fn, void *ctx, double min_s, double *secs) {
    double t0 = now_s();
    ZT_TRY(fn(ctx));
    double first = now_s() - t0;
    if (first >= min_s) {
        *secs = first;
        return ZT_OK;
    }
    int n = 0;
    t0 = now_s();
    do {
        ZT_TRY(fn(ctx));
        n++;
    } while (now_s() - t0 < min_s);
    *secs = (now_s() - t0) / n;
    return ZT_OK;
}

static void human_bytes(char *buf, size_t size, double b) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

/* The ceiling the kernels are held against: one large sgemm with OpenBLAS's own
 * threads (the backend otherwise runs it single-threaded inside its tasks). */
typedef struct sgemm_run {
    float *a, *b, *c;
    int n;
} sgemm_run;

static zt_status sgemm_call(void *ctx) {
    sgemm_run *r = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r->n, r->n, r->n, 1.0f, r->a, r->n, r->b,
                r->n, 0.0f, r->c, r->n);
    return ZT_OK;
}

static zt_status bench_sgemm(int threads, int quick, double min_s, json_t *root) {
    zt_arena *arena;
    ZT_TRY(zt_arena_init(&arena, 0, 0));
    sgemm_run r = {.n = quick ? 1024 : 2048};
    size_t bytes = (size_t)r.n * (size_t)r.n * sizeof(float);
    r.a = zt_arena_alloc(arena, bytes);
    r.b = zt_arena_alloc(arena, bytes);
    r.c = zt_arena_alloc(arena, bytes);
    zt_status s = r.a && r.b && r.c ? ZT_OK : ZT_ERR_NOMEM;
    double secs = 0;
    if (s == ZT_OK) {
        fill(r.a, (int64_t)r.n * r.n, 8);
        fill(r.b, (int64_t)r.n * r.n, 9);
        openblas_set_num_threads(threads);
        s = time_calls(sgemm_call, &r, min_s, &secs);
        openblas_set_num_threads(1);
    }
    if (s == ZT_OK) {
        double gflops = 2.0 * (double)r.n * r.n * r.n / secs * 1e-9;
        if (root)
            json_object_set_new(root, "sgemm_reference_gflops", json_real(gflops));
        else
            printf("reference: OpenBLAS sgemm %dx%dx%d on %d threads: %.1f GFLOP/s\n\n", r.n, r.n,
                   r.n, threads, gflops);
    }
    zt_arena_free(arena);
    return s;
}

typedef struct linear_run {
    zt_backend *be;
    zt_tensor y, x, w, b;
} linear_run;

static zt_status linear_call(void *ctx) {
    linear_run *r = ctx;
    return zt_op_linear(r->be, &r->y, &r->x, &r->w, &r->b);
}

static zt_status bench_linear(zt_backend *be, int quick, double min_s, json_t *out) {
    zt_arena *arena;
    ZT_TRY(zt_arena_init(&arena, 0, 0));
    zt_status s = ZT_OK;
    if (!out) {
        printf("linear: y[M,N] = x[M,K] w[N,K]^T + b, f32 activations\n");
        printf("  %-18s %6s %6s %6s  %-6s %10s %9s\n", "layer", "M", "K", "N", "weight", "seconds",
               "GFLOP/s");
    }
    const zt_dtype dtypes[] = {ZT_F32, ZT_BF16};
    for (size_t i = 0; i < sizeof linear_shapes / sizeof linear_shapes[0] && s == ZT_OK; i++) {
        linear_shape sh = linear_shapes[i];
        if (sh.m < 0) sh.m = quick ? TOKENS_QUICK : TOKENS_FULL;
        for (int d = 0; d < 2 && s == ZT_OK; d++) {
            zt_arena_reset(arena);
            linear_run r = {.be = be};
            if ((s = zt_arena_tensor(arena, &r.x, ZT_F32, 2, ZT_SHAPE(sh.m, sh.k))) ||
                (s = zt_arena_tensor(arena, &r.y, ZT_F32, 2, ZT_SHAPE(sh.m, sh.n))) ||
                (s = zt_arena_tensor(arena, &r.w, dtypes[d], 2, ZT_SHAPE(sh.n, sh.k))) ||
                (s = zt_arena_tensor(arena, &r.b, ZT_F32, 1, ZT_SHAPE(sh.n))))
                break;
            fill(r.x.data, sh.m * sh.k, 1);
            fill(r.b.data, sh.n, 2);
            if (dtypes[d] == ZT_F32) {
                fill(r.w.data, sh.n * sh.k, 3);
            } else { /* a row at a time: no f32 copy of the whole weight */
                float *row = zt_arena_alloc(arena, (size_t)sh.k * sizeof(float));
                if (!row) {
                    s = ZT_ERR_NOMEM;
                    break;
                }
                for (int64_t n = 0; n < sh.n; n++) {
                    fill(row, sh.k, 3 + (uint64_t)n);
                    zt_convert_from_f32((uint16_t *)r.w.data + n * sh.k, ZT_BF16, row, sh.k);
                }
            }
            double secs;
            if ((s = time_calls(linear_call, &r, min_s, &secs))) break;
            double gflops = 2.0 * (double)sh.m * (double)sh.k * (double)sh.n / secs * 1e-9;
            if (out) {
                json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:I, s:s, s:f, s:f}", "layer",
                                                     sh.what, "m", (json_int_t)sh.m, "k",
                                                     (json_int_t)sh.k, "n", (json_int_t)sh.n,
                                                     "weight", zt_dtype_name(dtypes[d]), "seconds",
                                                     secs, "gflops", gflops));
            } else {
                printf("  %-18s %6lld %6lld %6lld  %-6s %10.5f %9.1f\n", sh.what, (long long)sh.m,
                       (long long)sh.k, (long long)sh.n, zt_dtype_name(dtypes[d]), secs, gflops);
                fflush(stdout);
            }
        }
    }
    zt_arena_free(arena);
    return s;
}

/* Wan 2.1 VAE decoder convolutions: causal 3x3x3 on a cache of 2 frames + 1, and the
 * per-frame 3x3 after upsampling, at a 240x416 output's stage sizes. */
typedef struct conv_shape {
    const char *what;
    int64_t c, t, h, w; /* channels in = out, input frames, height, width */
    int kt;             /* 3: conv3d, 0: conv2d */
} conv_shape;

static const conv_shape conv_shapes[] = {
    {"vae 3d 384ch 30x52", 384, 3, 30, 52, 3},
    {"vae 3d 192ch 60x104", 192, 3, 60, 104, 3},
    {"vae 3d 96ch 240x416", 96, 3, 240, 416, 3},
    {"vae 2d 384ch 60x104", 384, 1, 60, 104, 0},
};

typedef struct conv_run {
    zt_backend *be;
    zt_tensor y, x, w, b;
    zt_conv_params p;
    int is3d;
} conv_run;

static zt_status conv_call(void *ctx) {
    conv_run *r = ctx;
    return r->is3d ? zt_op_conv3d(r->be, &r->y, &r->x, &r->w, &r->b, &r->p)
                   : zt_op_conv2d(r->be, &r->y, &r->x, &r->w, &r->b, &r->p);
}

static zt_status bench_conv(zt_backend *be, int quick, double min_s, json_t *out) {
    zt_arena *arena;
    ZT_TRY(zt_arena_init(&arena, 0, 0));
    zt_status s = ZT_OK;
    if (!out) {
        printf("\nconvolution: 3x3(x3) with padding 1 (time: causal, 3 frames in, 1 out)\n");
        printf("  %-22s %-6s %10s %9s\n", "layer", "weight", "seconds", "GFLOP/s");
    }
    const zt_dtype dtypes[] = {ZT_F32, ZT_BF16};
    int n_shapes = (int)(sizeof conv_shapes / sizeof conv_shapes[0]);
    for (int i = 0; i < n_shapes && s == ZT_OK; i++) {
        conv_shape sh = conv_shapes[i];
        if (quick && sh.h * sh.w > 60 * 104) continue;
        int is3d = sh.kt > 0;
        for (int d = 0; d < 2 && s == ZT_OK; d++) {
            zt_arena_reset(arena);
            conv_run r = {.be = be, .is3d = is3d};
            r.p.stride[0] = r.p.stride[1] = r.p.stride[2] = 1;
            r.p.pad[1][0] = r.p.pad[1][1] = r.p.pad[2][0] = r.p.pad[2][1] = 1;
            int64_t c = sh.c, wn = c * c * 9 * (is3d ? 3 : 1);
            if (is3d) {
                s = zt_arena_tensor(arena, &r.x, ZT_F32, 5, ZT_SHAPE(1, c, sh.t, sh.h, sh.w));
                if (!s) s = zt_arena_tensor(arena, &r.y, ZT_F32, 5, ZT_SHAPE(1, c, 1, sh.h, sh.w));
                if (!s) s = zt_arena_tensor(arena, &r.w, dtypes[d], 5, ZT_SHAPE(c, c, 3, 3, 3));
            } else {
                s = zt_arena_tensor(arena, &r.x, ZT_F32, 4, ZT_SHAPE(1, c, sh.h, sh.w));
                if (!s) s = zt_arena_tensor(arena, &r.y, ZT_F32, 4, ZT_SHAPE(1, c, sh.h, sh.w));
                if (!s) s = zt_arena_tensor(arena, &r.w, dtypes[d], 4, ZT_SHAPE(c, c, 3, 3));
            }
            if (!s) s = zt_arena_tensor(arena, &r.b, ZT_F32, 1, ZT_SHAPE(c));
            float *wf = s ? NULL : zt_arena_alloc(arena, (size_t)wn * sizeof(float));
            if (s || !wf) {
                s = s ? s : ZT_ERR_NOMEM;
                break;
            }
            fill(r.x.data, zt_tensor_numel(&r.x), 5);
            fill(r.b.data, c, 6);
            fill(wf, wn, 7);
            zt_convert_from_f32(r.w.data, dtypes[d], wf, wn);
            double secs;
            if ((s = time_calls(conv_call, &r, min_s, &secs))) break;
            double gflops = 2.0 * (double)wn * (double)(sh.h * sh.w) / secs * 1e-9;
            if (out) {
                json_array_append_new(out, json_pack("{s:s, s:s, s:f, s:f}", "layer", sh.what,
                                                     "weight", zt_dtype_name(dtypes[d]), "seconds",
                                                     secs, "gflops", gflops));
            } else {
                printf("  %-22s %-6s %10.5f %9.1f\n", sh.what, zt_dtype_name(dtypes[d]), secs,
                       gflops);
                fflush(stdout);
            }
        }
    }
    zt_arena_free(arena);
    return s;
}

typedef struct attn_run {
    zt_backend *be;
    zt_tensor o, q, k, v;
    zt_attn_params p;
} attn_run;

static zt_status attn_call(void *ctx) {
    attn_run *r = ctx;
    return zt_op_attention(r->be, &r->o, &r->q, &r->k, &r->v, &r->p);
}

static zt_status bench_attention(int threads, int quick, double min_s, json_t *out) {
    const int64_t *tokens = quick ? att_tokens_quick : att_tokens_full;
    int n_sizes = quick ? (int)(sizeof att_tokens_quick / sizeof att_tokens_quick[0])
                        : (int)(sizeof att_tokens_full / sizeof att_tokens_full[0]);
    const int64_t nh = ATT_HEADS, d = ATT_DIM;
    if (!out) {
        printf("\nattention: self-attention, batch 1, %lld heads of %lld, q/k/v read from one\n"
               "packed [L, 3, H, D] buffer; peak = q/k/v/o + kernel scratch\n",
               (long long)nh, (long long)d);
        printf("  %6s %10s %9s %10s %12s %14s\n", "tokens", "seconds", "GFLOP/s", "tokens/s",
               "peak", "score matrix");
    }
    zt_status s = ZT_OK;
    for (int i = 0; i < n_sizes && s == ZT_OK; i++) {
        int64_t l = tokens[i];
        /* a fresh backend, so its scratch is attention's alone */
        zt_backend *be;
        zt_arena *arena;
        ZT_TRY(zt_backend_cpu_init(&be, threads));
        if ((s = zt_arena_init(&arena, 0, 0))) {
            zt_backend_free(be);
            return s;
        }
        attn_run r = {.be = be, .p = {.scale = 1.0f / sqrtf((float)d)}};
        zt_tensor qkv;
        if (!(s = zt_arena_tensor(arena, &qkv, ZT_F32, 4, ZT_SHAPE(l, 3, nh, d))) &&
            !(s = zt_arena_tensor(arena, &r.o, ZT_F32, 4, ZT_SHAPE(1, l, nh, d)))) {
            fill(qkv.data, 3 * l * nh * d, 4);
            zt_tensor *views[3] = {&r.q, &r.k, &r.v};
            for (int p = 0; p < 3; p++) {
                *views[p] = zt_tensor_new(ZT_F32, (float *)qkv.data + p * nh * d, 1, l, nh, d);
                views[p]->stride[0] = 3 * l * nh * d;
                views[p]->stride[1] = 3 * nh * d;
            }
            double secs;
            s = time_calls(attn_call, &r, min_s, &secs);
            if (s == ZT_OK) {
                double gflops = 4.0 * (double)(l * l) * (double)(nh * d) / secs * 1e-9;
                double peak = (double)zt_arena_peak(arena) + (double)be->scratch_bytes(be);
                double scores = (double)(l * l * nh) * sizeof(float);
                if (out) {
                    json_array_append_new(
                        out, json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f}", "tokens",
                                       (json_int_t)l, "heads", (json_int_t)nh, "head_dim",
                                       (json_int_t)d, "seconds", secs, "gflops", gflops,
                                       "tokens_per_s", (double)l / secs, "peak_bytes", peak,
                                       "score_matrix_bytes", scores));
                } else {
                    char pk[32], sc[32];
                    human_bytes(pk, sizeof pk, peak);
                    human_bytes(sc, sizeof sc, scores);
                    printf("  %6lld %10.3f %9.1f %10.0f %12s %14s\n", (long long)l, secs, gflops,
                           (double)l / secs, pk, sc);
                    fflush(stdout);
                }
            }
        }
        zt_arena_free(arena);
        zt_backend_free(be);
    }
    return s;
}

static void print_help(void) {
    printf("usage: zoetrope bench [--threads N] [--quick] [--json]\n"
           "       zoetrope bench dit --model PATH [...]   (see zoetrope bench dit --help)\n\n"
           "Measure the CPU kernels: linear layers at Wan 2.1 1.3B shapes with f32 and\n"
           "bf16 weights (%d tokens), the Wan VAE decoder's convolutions, and attention\n"
           "at %lld, %lld and %lld tokens.\n\n"
           "  -t, --threads N   CPU threads, 0 for all cores (default 0)\n"
           "      --quick       smaller sizes (%d tokens; attention at %lld and %lld),\n"
           "                    a smoke test of a few seconds\n"
           "      --json        print the results as JSON on stdout\n"
           "  -h, --help        this text\n",
           TOKENS_FULL, (long long)att_tokens_full[0], (long long)att_tokens_full[1],
           (long long)att_tokens_full[2], TOKENS_QUICK, (long long)att_tokens_quick[0],
           (long long)att_tokens_quick[1]);
}

/* ---- bench dit ------------------------------------------------------------------------ */

#define DIT_TEXT_ROWS 512 /* Wan pads every prompt to 512 umT5 rows */

typedef struct dit_args {
    const char *model, *inputs, *dump;
    long frames, width, height, steps, threads, seed;
    double guidance, shift;
    int json, uncached, device, offload;
} dit_args;

static void print_dit_help(void) {
    printf("usage: zoetrope bench dit --model PATH [options]\n\n"
           "Time denoising steps of a Wan diffusion transformer: UniPC with classifier-free\n"
           "guidance, two forward passes per step, on random inputs (or those of --inputs).\n"
           "Prints seconds per step (on a GPU, the mean leaves out the first, warm-up step),\n"
           "load seconds, peak RSS and, on a GPU, the most GPU memory allocated.\n\n"
           "  --model PATH        DiT weights: .safetensors, index or diffusers directory\n"
           "  --frames N          video frames, 1 + 4k (default 17)\n"
           "  --width N           pixels, a multiple of 16 (default 128)\n"
           "  --height N          pixels, a multiple of 16 (default 128)\n"
           "  --steps N           denoising steps (default 2)\n"
           "  --guidance G        classifier-free guidance scale (default 5)\n"
           "  --shift S           flow shift (default 3)\n"
           "  --seed S            seed of the generated inputs (default 0)\n"
           "  --inputs FILE       safetensors with \"noise\" [C, T, h, w], \"context\" and\n"
           "                      \"context_neg\" [L, text_dim] f32 instead of generated ones\n"
           "  --dump-f32 FILE     write the final latents as raw f32\n"
           "  --uncached          zt_wan_dit_forward: the text's cross-attention keys and\n"
           "                      values again in every call, not once per prompt (a GPU's\n"
           "                      text state does that too, to save memory)\n"
           "  --device D          cpu (default), cuda or cuda:N\n"
           "  --offload           on a GPU, copy each block's weights in as it runs\n"
           "  -t, --threads N     CPU threads, 0 for all cores (default 0)\n"
           "      --json          one JSON line on stdout\n"
           "  -h, --help          this text\n");
}

/* -1: --help shown; 0: parsed; ZT_EXIT_USAGE: error printed */
static int parse_dit_args(int argc, char **argv, dit_args *a) {
    static const char *const DCMD = "bench dit";
    long dev = 0;
    *a = (dit_args){
        .frames = 17, .width = 128, .height = 128, .steps = 2, .guidance = 5.0, .shift = 3.0,
        .device = -1};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            print_dit_help();
            return -1;
        }
        if (!strcmp(f, "--json")) {
            a->json = 1;
            continue;
        }
        if (!strcmp(f, "--uncached")) {
            a->uncached = 1;
            continue;
        }
        if (!strcmp(f, "--offload")) {
            a->offload = 1;
            continue;
        }
        if (i + 1 >= argc)
            return zt_cli_usage_error(DCMD, "unknown option, or no value after it: '%s'", f);
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(f, "--model"))
            a->model = v;
        else if (!strcmp(f, "--device")) {
            if (!strcmp(v, "cpu"))
                a->device = -1;
            else if (!strcmp(v, "cuda"))
                a->device = 0;
            else if (!strncmp(v, "cuda:", 5))
                bad = zt_cli_parse_int(DCMD, f, v + 5, 0, 64, &dev);
            else
                return zt_cli_usage_error(DCMD, "--device is cpu, cuda or cuda:N, not '%s'", v);
            if (!strncmp(v, "cuda:", 5) && !bad) a->device = (int)dev;
        } else if (!strcmp(f, "--inputs"))
            a->inputs = v;
        else if (!strcmp(f, "--dump-f32"))
            a->dump = v;
        else if (!strcmp(f, "--frames"))
            bad = zt_cli_parse_int(DCMD, f, v, 1, 1 << 16, &a->frames);
        else if (!strcmp(f, "--width"))
            bad = zt_cli_parse_int(DCMD, f, v, 16, 1 << 16, &a->width);
        else if (!strcmp(f, "--height"))
            bad = zt_cli_parse_int(DCMD, f, v, 16, 1 << 16, &a->height);
        else if (!strcmp(f, "--steps"))
            bad = zt_cli_parse_int(DCMD, f, v, 1, ZT_SAMPLER_MAX_STEPS, &a->steps);
        else if (!strcmp(f, "--threads") || !strcmp(f, "-t"))
            bad = zt_cli_parse_int(DCMD, f, v, 0, 256, &a->threads);
        else if (!strcmp(f, "--seed"))
            bad = zt_cli_parse_int(DCMD, f, v, 0, 1L << 31, &a->seed);
        else if (!strcmp(f, "--guidance"))
            bad = zt_cli_parse_double(DCMD, f, v, 0, 100, &a->guidance);
        else if (!strcmp(f, "--shift"))
            bad = zt_cli_parse_double(DCMD, f, v, 0.01, 100, &a->shift);
        else
            return zt_cli_usage_error(DCMD, "unknown option '%s'", f);
        if (bad) return ZT_EXIT_USAGE;
    }
    if (!a->model) return zt_cli_usage_error(DCMD, "--model is required");
    if ((a->frames - 1) % 4)
        return zt_cli_usage_error(DCMD, "--frames should be 1 + a multiple of 4, not %ld",
                                  a->frames);
    if (a->width % 16 || a->height % 16)
        return zt_cli_usage_error(DCMD, "--width and --height should be multiples of 16");
    return 0;
}

static int bench_dit(int argc, char **argv) {
    dit_args a;
    int prc = parse_dit_args(argc, argv, &a);
    if (prc) return prc < 0 ? ZT_EXIT_OK : prc;
    zt_bench_dit_opts o = {.model = a.model,
                           .inputs = a.inputs,
                           .frames = a.frames,
                           .width = a.width,
                           .height = a.height,
                           .steps = (int)a.steps,
                           .guidance = a.guidance,
                           .shift = a.shift,
                           .seed = (uint64_t)a.seed,
                           .threads = (int)a.threads,
                           .uncached = a.uncached,
                           .device = a.device,
                           .offload = a.offload};
    zt_bench_dit_stats st;
    zt_status s = zt_bench_dit_run(&o, &st);
    if (s == ZT_OK && a.dump) s = zt_cli_write_f32(a.dump, st.latents, (size_t)st.numel, "latents");
    if (s != ZT_OK) return zt_cli_fail(s);
    double rss = zt_cli_peak_rss_mib(), arena_mib = (double)st.arena_peak / 1048576.0;
    const char *dev = a.device >= 0 ? "cuda" : "cpu";
    if (a.json) {
        json_t *steps = json_array();
        for (int i = 0; i < a.steps; i++) json_array_append_new(steps, json_real(st.step_s[i]));
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:o, "
            "s:f, s:f, s:f, s:I, s:b, s:f, s:f}",
            "model", a.model, "naming", st.naming, "device", dev, "frames", (int)a.frames,
            "width", (int)a.width, "height", (int)a.height, "latent_tokens",
            (json_int_t)st.tokens, "text_rows", (json_int_t)ZT_BENCH_TEXT_ROWS, "steps",
            (int)a.steps, "guidance", a.guidance, "shift", a.shift, "threads", st.threads,
            "load_seconds", st.load_s, "place_seconds", st.place_s, "prompt_seconds",
            st.prompt_s, "step_seconds", steps, "mean_step_seconds", st.mean_step_s,
            "peak_rss_mib", rss, "arena_peak_mib", arena_mib, "weight_bytes",
            (json_int_t)st.weight_bytes, "text_cached", !a.uncached, "device_peak_mib",
            (double)st.device_peak / 1048576.0, "device_plan_mib",
            (double)st.device_plan / 1048576.0);
        if (j) {
            json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("\n");
            json_decref(j);
        }
    } else {
        printf("Wan DiT (%s names, %d layers, dim %d): %ld frames at %ldx%ld = %lld tokens, "
               "%ld steps, guidance %g, on %s (%d threads)\n",
               st.naming, st.layers, st.dim, a.frames, a.width, a.height, (long long)st.tokens,
               a.steps, a.guidance, dev, st.threads);
        printf("load %.2f s, per prompt (embedding%s) %.2f s\n", st.load_s,
               a.uncached || a.device >= 0 ? "" : ", cross-attention keys and values",
               st.prompt_s);
        printf("seconds per step: %.3f (", st.mean_step_s);
        for (int i = 0; i < a.steps; i++) printf("%s%.3f", i ? ", " : "", st.step_s[i]);
        printf(")\npeak RSS %.0f MiB (weights %.0f MiB, activations %.0f MiB)\n", rss,
               (double)st.weight_bytes / 1048576.0, arena_mib);
        if (a.device >= 0)
            printf("GPU memory: at most %.0f MiB allocated (planned %.0f MiB; card: %.0f MiB)\n",
                   (double)st.device_peak / 1048576.0, (double)st.device_plan / 1048576.0,
                   (double)st.device_total / 1048576.0);
    }
    zt_bench_dit_stats_free(&st);
    return ZT_EXIT_OK;
}

int zt_cli_bench(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "dit")) return bench_dit(argc - 1, argv + 1);
    long threads = 0;
    int quick = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help();
            return ZT_EXIT_OK;
        } else if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if (i + 1 >= argc) return zt_cli_usage_error(CMD, "%s needs a value", a);
            if (zt_cli_parse_int(CMD, a, argv[++i], 0, 256, &threads)) return ZT_EXIT_USAGE;
        } else if (!strncmp(a, "--threads=", 10)) {
            if (zt_cli_parse_int(CMD, "--threads", a + 10, 0, 256, &threads)) return ZT_EXIT_USAGE;
        } else {
            return zt_cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }

    zt_backend *be;
    zt_status s = zt_backend_cpu_init(&be, (int)threads);
    if (s != ZT_OK) return zt_cli_fail(s);
    int n_threads = be->threads(be);
    double min_s = quick ? 0.2 : 1.0;
    json_t *root = NULL, *lin = NULL, *conv = NULL, *att = NULL;
    if (json) {
        lin = json_array();
        conv = json_array();
        att = json_array();
        root = json_pack("{s:s, s:i, s:b, s:o, s:o, s:o}", "backend", be->name, "threads",
                         n_threads, "quick", quick, "linear", lin, "conv", conv, "attention", att);
        if (!root) {
            zt_backend_free(be);
            return zt_cli_fail(zt_fail(ZT_ERR_NOMEM, "bench: out of memory"));
        }
    } else {
        printf("zoetrope bench: %s backend, %d thread%s%s\n\n", be->name, n_threads,
               n_threads == 1 ? "" : "s", quick ? ", quick sizes" : "");
    }
    s = bench_sgemm(n_threads, quick, min_s, root);
    if (s == ZT_OK) s = bench_linear(be, quick, min_s, lin);
    if (s == ZT_OK) s = bench_conv(be, quick, min_s, conv);
    zt_backend_free(be);
    if (s == ZT_OK) s = bench_attention((int)threads, quick, min_s, att);
    if (root) {
        if (s == ZT_OK) {
            json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("\n");
        }
        json_decref(root);
    }
    return s == ZT_OK ? ZT_EXIT_OK : zt_cli_fail(s);
}

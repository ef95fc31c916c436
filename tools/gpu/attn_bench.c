/* attn_bench - times the CUDA attention op alone at the Wan DiT's shapes, so that its
 * kernels can be compared with torch's SDPA (tools/gpu/bench_attention.py) on one card.
 * Prints one JSON line.
 *
 *   attn_bench LQ LK HEADS REPEAT
 * q [1, LQ, HEADS, 128], k and v [1, LK, HEADS, 128], f32, random normal; the time is
 * the whole op (the bf16 packing of q, k, v included), median of REPEAT runs after two
 * warm-ups, each waited for. ZT_CUDA_ATTN=mma in the environment keeps the sm_80
 * kernel on Hopper. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "core/ops.h"
#include "core/status.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static zt_status run(int64_t lq, int64_t lk, int64_t heads, int repeat, double *ms) {
    const int64_t d = 128, nq = lq * heads * d, nk = lk * heads * d;
    zt_backend *gpu = NULL;
    void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL;
    float *host = malloc((size_t)(nq > nk ? nq : nk) * sizeof(float));
    double *times = malloc((size_t)repeat * sizeof(double));
    zt_status s = host && times ? zt_backend_cuda_init(&gpu, 0)
                                : zt_fail(ZT_ERR_NOMEM, "attn_bench: out of memory");
    if (s == ZT_OK) s = gpu->alloc(gpu, (size_t)nq * sizeof(float), &dq);
    if (s == ZT_OK) s = gpu->alloc(gpu, (size_t)nk * sizeof(float), &dk);
    if (s == ZT_OK) s = gpu->alloc(gpu, (size_t)nk * sizeof(float), &dv);
    if (s == ZT_OK) s = gpu->alloc(gpu, (size_t)nq * sizeof(float), &dout);
    /* random normal inputs (Box-Muller over a fixed LCG): real data, never zeros */
    uint64_t state = 12345;
    void *dst[3] = {dq, dk, dv};
    int64_t counts[3] = {nq, nk, nk};
    for (int t = 0; t < 3 && s == ZT_OK; t++) {
        for (int64_t i = 0; i < counts[t]; i += 2) {
            double u[2];
            for (int j = 0; j < 2; j++) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                u[j] = ((double)(state >> 11) + 0.5) / 9007199254740992.0;
            }
            double r = sqrt(-2.0 * log(u[0])), a = 6.283185307179586 * u[1];
            host[i] = (float)(r * cos(a));
            if (i + 1 < counts[t]) host[i + 1] = (float)(r * sin(a));
        }
        s = gpu->upload(gpu, dst[t], host, (size_t)counts[t] * sizeof(float));
    }
    zt_tensor q = zt_tensor_new(ZT_F32, dq, 1, lq, heads, d);
    zt_tensor k = zt_tensor_new(ZT_F32, dk, 1, lk, heads, d);
    zt_tensor v = zt_tensor_new(ZT_F32, dv, 1, lk, heads, d);
    zt_tensor o = zt_tensor_new(ZT_F32, dout, 1, lq, heads, d);
    q.device = k.device = v.device = o.device = 1;
    zt_attn_params p = {.scale = 1.0f / sqrtf((float)d)};
    for (int i = -2; i < repeat && s == ZT_OK; i++) {
        double t0 = now();
        s = zt_op_attention(gpu, &o, &q, &k, &v, &p);
        if (s == ZT_OK) s = gpu->sync(gpu);
        if (i >= 0) times[i] = now() - t0;
    }
    if (s == ZT_OK) { /* the output must be finite: a broken kernel is not a fast one */
        s = gpu->download(gpu, host, dout, (size_t)nq * sizeof(float));
        for (int64_t i = 0; s == ZT_OK && i < nq; i++)
            if (!isfinite(host[i])) s = zt_fail(ZT_ERR_RUNTIME, "attn_bench: output %lld is %g",
                                                (long long)i, (double)host[i]);
    }
    if (s == ZT_OK) {
        qsort(times, (size_t)repeat, sizeof(double), cmp_double);
        *ms = 1e3 * times[repeat / 2];
    }
    if (gpu) {
        gpu->dealloc(gpu, dq);
        gpu->dealloc(gpu, dk);
        gpu->dealloc(gpu, dv);
        gpu->dealloc(gpu, dout);
        zt_backend_free(gpu);
    }
    free(host);
    free(times);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s LQ LK HEADS REPEAT\n", argv[0]);
        return 2;
    }
    int64_t lq = atoll(argv[1]), lk = atoll(argv[2]), heads = atoll(argv[3]);
    int repeat = atoi(argv[4]);
    if (lq < 1 || lk < 1 || heads < 1 || repeat < 1) {
        fprintf(stderr, "attn_bench: LQ, LK, HEADS and REPEAT must be positive\n");
        return 2;
    }
    double ms = 0.0;
    if (run(lq, lk, heads, repeat, &ms) != ZT_OK) {
        fprintf(stderr, "attn_bench: %s\n", zt_last_error());
        return 1;
    }
    const char *kernel = getenv("ZT_CUDA_ATTN");
    double flop = 4.0 * (double)lq * (double)lk * (double)heads * 128.0;
    printf("{\"kernel\": \"%s\", \"lq\": %lld, \"lk\": %lld, \"heads\": %lld, \"ms\": %.3f, "
           "\"tflops\": %.1f}\n",
           kernel && *kernel ? kernel : "default", (long long)lq, (long long)lk, (long long)heads,
           ms, flop / (ms * 1e-3) / 1e12);
    return 0;
}

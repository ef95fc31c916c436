/* cuda_sizes.h - the CUDA backend's scratch sizes as functions of an op's shapes. The
 * kernels allocate by them, and the memory plan counts by them (the null backend
 * standing in for a GPU, zt_backend_null_model_cuda), so the plan follows what a GPU
 * run allocates. Plain C for both compilers; needs no CUDA. */
#ifndef ZT_CUDA_SIZES_H
#define ZT_CUDA_SIZES_H

#include <stdint.h>
#include <stdlib.h>

#define ZT_CUDA_SCRATCH_ROUND 256             /* zt_cuda_scratch rounds a slot up to this */
#define ZT_CUDA_LT_WORKSPACE ((size_t)32 << 20) /* what cuBLAS asks of Hopper's kernels */
#define ZT_CUDA_CONV_BUDGET_DEFAULT ((int64_t)256 << 20) /* convolutions' column buffer */
#define ZT_CUDA_PACK_TILE_MAX 128 /* the largest tile attention pads lengths to (any GPU) */

/* attention's packed bf16 q, k, v [B*H, L, D], the lengths padded to tq and tk rows */
static inline int64_t zt_cuda_pack_bytes(int64_t bh, int64_t lq, int64_t lk, int64_t d,
                                         int64_t tq, int64_t tk) {
    int64_t lqp = (lq + tq - 1) / tq * tq, lkp = (lk + tk - 1) / tk * tk;
    return bh * (lqp + 2 * lkp) * d * 2;
}

/* The column buffer's budget in bytes: ZT_CUDA_CONV_BUDGET (a count with an optional
 * k, M or G) or the default. */
static inline int64_t zt_cuda_conv_budget_env(void) {
    const char *s = getenv("ZT_CUDA_CONV_BUDGET");
    if (!s || !*s) return ZT_CUDA_CONV_BUDGET_DEFAULT;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    int shift = 0;
    if (end && (*end == 'k' || *end == 'K')) shift = 10;
    if (end && (*end == 'm' || *end == 'M')) shift = 20;
    if (end && (*end == 'g' || *end == 'G')) shift = 30;
    if (v <= 0 || v > (INT64_MAX >> 30)) return ZT_CUDA_CONV_BUDGET_DEFAULT;
    return (int64_t)v << shift;
}

/* Output positions per column chunk of a convolution over s positions whose columns
 * hold k values of es bytes, within budget bytes: as few chunks as the budget allows,
 * the positions spread evenly over them, past 8 a multiple of 8 (16-byte lda and
 * offsets, as tensor cores like). The buffer is this times k * es bytes. */
static inline int64_t zt_cuda_conv_chunk(int64_t s, int64_t k, int64_t es, int64_t budget) {
    int64_t cap = budget / (k * es);
    if (cap >= 8) cap -= cap % 8;
    if (cap < 1) cap = 1;
    if (cap > s) cap = s;
    int64_t chunks = (s + cap - 1) / cap;
    int64_t len = (s + chunks - 1) / chunks;
    if (chunks > 1 && cap >= 8) len = (len + 7) / 8 * 8; /* still <= cap */
    return len;
}

#endif

/* conv_tiles.h - the tiling of the implicit-GEMM convolution (kernels/conv.cu,
 * ZT_CUDA_CONV=implicit): which input values and weights a thread block stages in shared
 * memory, where each lane of a warp finds its tensor-core operands there, and where each
 * accumulator lands in y. Plain C for both compilers, so that tests/unit/test_conv_tiles.c
 * runs the same index functions on the CPU (an emulated block, against the CPU's conv)
 * where no GPU is present.
 *
 * The product: y[co, p] = sum over (dt, ci, dh, dw) of w[co, ci, dt, dh, dw] times the
 * input at p shifted by the tap, stride 1. A block computes a tile of TH x TW output
 * positions of one output frame (rows oh0.., columns ow0..) and BN output channels. Its
 * K loop runs over the time taps whose input frame exists (the causal cache prev first,
 * then x, as the CPU counts them) and, in each, over the input channels BK at a time;
 * one stage holds
 *   A: the input's halo for BK channels, (TH + kh - 1) x (TW + kw - 1) values each, row
 *      stride hc = TW + kw - 1, channel stride ldh (padded so that a warp's fragment
 *      loads hit 32 different banks);
 *   B: the weights of those BK channels for all kh * kw spatial taps, [tap][k][n] with
 *      row stride LDB, from a copy of w laid out as [dt][ci][tap][co] (co contiguous,
 *      16-byte loads), rounded to TF32 once when it is made.
 * Every spatial tap then reads its A operand out of the same halo, shifted by (dh, dw):
 * the nine 3x3 taps share one load.
 *
 * Warps: WARPS_M x WARPS_N = 4 x 2. Warp (wm, wn) owns output rows wm * 4 .. wm * 4 + 3
 * of the tile (one m16 tile each: its 16 positions are one row's 16 columns) and output
 * channels wn * 48 .. wn * 48 + 47 (six n8 tiles). The operands are mma.sync m16n8k8
 * TF32 fragments, lane = 4 * g + t:
 *   A (16 x 8, row): a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4)
 *   B (8 x 8, col):  b0 (t, g), b1 (t + 4, g)
 *   C (16 x 8):      c0 (g, 2t), c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1) */
#ifndef ZT_CONV_TILES_H
#define ZT_CONV_TILES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __CUDACC__
#define ZT_CT_FN static inline __host__ __device__
#else
#define ZT_CT_FN static inline
#endif

#define ZT_CT_TH      16  /* output rows per tile */
#define ZT_CT_TW      16  /* output columns per tile: one m16 tile of positions per row */
#define ZT_CT_BN      96  /* output channels per tile */
#define ZT_CT_BK      8   /* input channels per stage (one k8 step a tap) */
#define ZT_CT_LDB     104 /* B's row stride: 96 + 8, = 8 mod 32 for conflict-free b loads */
#define ZT_CT_WARPS_M 4
#define ZT_CT_WARPS_N 2
#define ZT_CT_THREADS (32 * ZT_CT_WARPS_M * ZT_CT_WARPS_N)
#define ZT_CT_MT      4 /* m16 tiles (output rows) a warp */
#define ZT_CT_NT      6 /* n8 tiles a warp */
#define ZT_CT_STAGES  2

/* What the tiling needs to know of a convolution (stride 1 in every dim). */
typedef struct zt_ct_geom {
    int cin, cout;
    int t, pf;      /* x's frames; prev's frames, which come first */
    int h, w;       /* input frame */
    int to, ho, wo; /* output */
    int kt, kh, kw;
    int pt, ph, pw; /* padding before */
} zt_ct_geom;

/* Warp `warp` of the block: its row of warps (wm) and column (wn); its m16 tile i is the
 * tile's output row zt_ct_row(wm, i), its n8 tile j starts at the tile's channel
 * zt_ct_n0(wn, j). */
ZT_CT_FN void zt_ct_warp(int warp, int *wm, int *wn) {
    *wm = warp % ZT_CT_WARPS_M;
    *wn = warp / ZT_CT_WARPS_M;
}
ZT_CT_FN int zt_ct_row(int wm, int i) {
    return wm * ZT_CT_MT + i;
}
ZT_CT_FN int zt_ct_n0(int wn, int j) {
    return (wn * ZT_CT_NT + j) * 8;
}

/* ZT_CUDA_CONV=implicit in the environment: the CUDA backend takes this path where
 * zt_ct_takes allows (read when a backend is made; the memory plan reads it too). */
static inline int zt_ct_env(void) {
    const char *s = getenv("ZT_CUDA_CONV");
    return s && strcmp(s, "implicit") == 0;
}

/* Whether a convolution takes the implicit GEMM: f32, f16 or bf16 weights (float_weights;
 * the copy widens them, the products run in TF32 either way), stride 1, 1x1 or 3x3
 * spatial taps, batch items times output frames within a grid's y (65535), an input
 * frame's plane (h * w) within int, as the tiling indexes it. A few output channels (the
 * VAE's last conv has 3) still beat the column matrix's traffic with most of a tile
 * idle. */
static inline int zt_ct_takes(int float_weights, const int64_t ker[3], const int stride[3],
                              int64_t items_frames, int64_t plane) {
    return float_weights && plane <= INT32_MAX && stride[0] == 1 && stride[1] == 1 && stride[2] == 1 && ker[1] == ker[2] &&
           (ker[1] == 1 || ker[1] == 3) && items_frames <= 65535;
}

/* Output channels in the weight copy: whole 16-byte chunks, the padding zero. */
ZT_CT_FN int zt_ct_coutp(int cout) {
    return (cout + 3) / 4 * 4;
}

/* Scratch of the path: the weight copy (k = cin * kt * kh * kw weights an output
 * channel) and the bias as f32. */
static inline int64_t zt_ct_scratch_bytes(int64_t k, int64_t cout) {
    return (k * zt_ct_coutp((int)cout) + cout) * (int64_t)sizeof(float);
}

/* A stage's halo: rows, row stride (columns) and channel stride (floats). */
ZT_CT_FN int zt_ct_hr(int kh) {
    return ZT_CT_TH + kh - 1;
}
ZT_CT_FN int zt_ct_hc(int kw) {
    return ZT_CT_TW + kw - 1;
}
ZT_CT_FN int zt_ct_ldh(int kh, int kw) {
    int n = zt_ct_hr(kh) * zt_ct_hc(kw); /* rounded up to 8 mod 32 */
    return (n - 8 + 31) / 32 * 32 + 8;
}

/* Floats of one stage: A then B. B starts 16-byte aligned (ldh * BK is a multiple of 4). */
ZT_CT_FN int zt_ct_stage_floats(int kh, int kw) {
    return ZT_CT_BK * zt_ct_ldh(kh, kw) + kh * kw * ZT_CT_BK * ZT_CT_LDB;
}

/* The weight copy's index of w[co, ci, dt, s] (s = dh * kw + dw; co < coutp), and w's
 * own. */
ZT_CT_FN int64_t zt_ct_wr_index(const zt_ct_geom *g, int co, int ci, int dt, int s) {
    return (((int64_t)dt * g->cin + ci) * (g->kh * g->kw) + s) * zt_ct_coutp(g->cout) + co;
}
ZT_CT_FN int64_t zt_ct_w_index(const zt_ct_geom *g, int co, int ci, int dt, int s) {
    return (((int64_t)co * g->cin + ci) * g->kt + dt) * (g->kh * g->kw) + s;
}

/* The time taps of output frame to whose input frame exists: dt in [*lo, *hi). */
ZT_CT_FN void zt_ct_taps(const zt_ct_geom *g, int to, int *lo, int *hi) {
    int first = to - g->pt, frames = g->pf + g->t; /* input frame of dt = 0 */
    *lo = first < 0 ? -first : 0;
    *hi = frames - first < g->kt ? frames - first : g->kt;
}

/* Input frame to - pt + dt of batch item n: from prev (returns 1) or x (0), with the
 * offset of its channel 0 plane in that tensor and the channel stride. */
ZT_CT_FN int zt_ct_frame(const zt_ct_geom *g, int n, int to, int dt, int64_t *off,
                         int64_t *cstride) {
    int ti = to - g->pt + dt;
    int64_t hw = (int64_t)g->h * g->w;
    if (ti < g->pf) {
        *cstride = (int64_t)g->pf * hw;
        *off = ((int64_t)n * g->cin * g->pf + ti) * hw;
        return 1;
    }
    *cstride = (int64_t)g->t * hw;
    *off = ((int64_t)n * g->cin * g->t + (ti - g->pf)) * hw;
    return 0;
}

/* Halo position p (0 <= p < hr * hc) of the tile at (oh0, ow0): its place in each
 * channel of the stage's A (*soff; channel k adds k * ldh) and, when it lies inside the
 * frame, its offset in a channel plane (returned; -1 in the padding: zero). A thread
 * block decodes its positions once and reuses them for every stage: channel ci0 + k of
 * the frame is at ci * cstride + that offset, zero past cin. */
ZT_CT_FN int zt_ct_halo_pos(const zt_ct_geom *g, int p, int oh0, int ow0, int *soff) {
    int hc = zt_ct_hc(g->kw);
    int y = p / hc, x = p % hc;
    *soff = y * hc + x;
    int ih = oh0 - g->ph + y, iw = ow0 - g->pw + x;
    if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) return -1;
    return ih * g->w + iw;
}

/* B chunk c (0 <= c < kh * kw * BK * BN / 4) of the stage for time tap dt and channels
 * ci0..: four weights for output channels co0 + 4q..; its place in the stage (*soff,
 * after A) and its index in the weight copy (-1: past cin or the copy's channels,
 * zero). */
ZT_CT_FN int64_t zt_ct_bchunk(const zt_ct_geom *g, int c, int dt, int ci0, int co0, int *soff) {
    int row = c / (ZT_CT_BN / 4), q = c % (ZT_CT_BN / 4);
    int s = row / ZT_CT_BK, k = row % ZT_CT_BK;
    *soff = (s * ZT_CT_BK + k) * ZT_CT_LDB + 4 * q;
    int ci = ci0 + k, co = co0 + 4 * q;
    if (ci >= g->cin || co >= zt_ct_coutp(g->cout)) return -1;
    return zt_ct_wr_index(g, co, ci, dt, s);
}

/* Register reg (0..3) of lane's A fragment for the warp's output row `row` of the tile
 * and spatial tap (dh, dw): its offset in the stage's A. */
ZT_CT_FN int zt_ct_a_off(const zt_ct_geom *g, int lane, int reg, int row, int dh, int dw) {
    int gi = lane >> 2, t = lane & 3;
    int k = t + (reg >> 1) * 4, col = gi + (reg & 1) * 8;
    return k * zt_ct_ldh(g->kh, g->kw) + (row + dh) * zt_ct_hc(g->kw) + col + dw;
}

/* Register reg (0..1) of lane's B fragment for spatial tap s and the n8 tile starting at
 * the tile's channel n0: its offset in the stage's B. */
ZT_CT_FN int zt_ct_b_off(int lane, int reg, int s, int n0) {
    int gi = lane >> 2, t = lane & 3;
    return (s * ZT_CT_BK + t + reg * 4) * ZT_CT_LDB + n0 + gi;
}

/* Accumulator q (0..3) of lane: its column in the m16 tile's output row and its channel
 * in the n8 tile. */
ZT_CT_FN void zt_ct_c_pos(int lane, int q, int *col, int *n) {
    *col = (lane >> 2) + (q >> 1) * 8;
    *n = 2 * (lane & 3) + (q & 1);
}

#endif

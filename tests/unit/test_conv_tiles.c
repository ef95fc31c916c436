/* The implicit-GEMM convolution's tiling (src/backends/cuda/conv_tiles.h, used by
 * kernels/conv.cu under ZT_CUDA_CONV=implicit) checked on the CPU, where CI has no GPU:
 * thread blocks emulated one after another with the header's own index functions (the
 * weight copy, the time taps, the halo and weight loads into a stage, every lane's
 * fragment registers, the accumulators' places in y), and the tensor-core product
 * emulated from the PTX ISA's m16n8k8 TF32 fragment layout, written out here on its own.
 * The result is compared with the CPU backend's conv3d on the same data.
 *
 * A stage starts filled with NaN, so a fragment that reads a place no load wrote poisons
 * its outputs; every output must be written exactly once. Operands are rounded to TF32
 * as the kernel rounds them (weights in the copy, activations as fragments load), so the
 * tolerance is test_cuda_conv's TF32 one. What this cannot check is the kernel's PTX,
 * its pipeline and its synchronization: test_cuda_conv does, on a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cuda/conv_tiles.h"
#include "core/ops.h"
#include "ptx_ref.h"
#include "testlib.h"

#define TOL_TF32 5e-3

/* mma.sync m16n8k8 TF32 over a warp's registers (ptx_ref.h) */
static void mma_m16n8k8(float c[32][4], const float a[32][4], const float b[32][2]) {
    float A[16][8], B[8][8];
    ptx_mma_operands(a, b, A, B);
    for (int l = 0; l < 32; l++) ptx_mma_lane(c[l], l, A, B);
}

#define WARPS (ZT_CT_WARPS_M * ZT_CT_WARPS_N)

/* One block's accumulators: [warp][m16 tile][n8 tile][lane][register] */
typedef float block_acc[WARPS][ZT_CT_MT][ZT_CT_NT][32][4];

/* The stage st (NaN where no load writes) for time tap dt and channels ci0.. of the tile
 * at (oh0, ow0, co0), as the kernel's loads fill it from src (the frame's tensor, its
 * channel 0 plane at foff) and the weight copy wr. */
static void load_stage(const zt_ct_geom *g, float *st, const float *src, int64_t foff,
                       int64_t cstride, const float *wr, int dt, int ci0, int oh0, int ow0,
                       int co0) {
    int khw = g->kh * g->kw, ldh = zt_ct_ldh(g->kh, g->kw), sa = ZT_CT_BK * ldh;
    for (int i = 0; i < zt_ct_stage_floats(g->kh, g->kw); i++) st[i] = NAN;
    for (int hp = 0; hp < zt_ct_hr(g->kh) * zt_ct_hc(g->kw); hp++) {
        int so, off = zt_ct_halo_pos(g, hp, oh0, ow0, &so);
        for (int k = 0; k < ZT_CT_BK; k++) {
            int ok = off >= 0 && ci0 + k < g->cin;
            st[k * ldh + so] = ok ? src[foff + (ci0 + k) * cstride + off] : 0.0f;
        }
    }
    for (int c = 0; c < khw * ZT_CT_BK * ZT_CT_BN / 4; c++) {
        int so;
        int64_t wi = zt_ct_bchunk(g, c, dt, ci0, co0, &so);
        for (int j = 0; j < 4; j++) st[sa + so + j] = wi < 0 ? 0.0f : wr[wi + j];
    }
}

/* Every warp's products out of stage st, as the kernel's k loop runs them. */
static void stage_products(const zt_ct_geom *g, const float *st, block_acc acc) {
    int sa = ZT_CT_BK * zt_ct_ldh(g->kh, g->kw);
    float a[32][4], b[32][2];
    for (int s = 0; s < g->kh * g->kw; s++)
        for (int warp = 0; warp < WARPS; warp++) {
            int wm, wn;
            zt_ct_warp(warp, &wm, &wn);
            for (int i = 0; i < ZT_CT_MT; i++)
                for (int j = 0; j < ZT_CT_NT; j++) {
                    for (int l = 0; l < 32; l++) {
                        int row = zt_ct_row(wm, i), n0 = zt_ct_n0(wn, j);
                        for (int r = 0; r < 4; r++)
                            a[l][r] = ptx_tf32(st[zt_ct_a_off(g, l, r, row, s / g->kw, s % g->kw)]);
                        for (int r = 0; r < 2; r++) b[l][r] = st[sa + zt_ct_b_off(l, r, s, n0)];
                    }
                    mma_m16n8k8(acc[warp][i][j], a, b);
                }
        }
}

/* The block's accumulators (plus the bias) into y, counting each store in writes. */
static void store_tile(const zt_ct_geom *g, block_acc acc, const float *bias, int n, int to,
                       int oh0, int ow0, int co0, float *y, int *writes) {
    int64_t plane = (int64_t)g->ho * g->wo;
    for (int warp = 0; warp < WARPS; warp++) {
        int wm, wn;
        zt_ct_warp(warp, &wm, &wn);
        for (int i = 0; i < ZT_CT_MT; i++)
            for (int j = 0; j < ZT_CT_NT; j++)
                for (int l = 0; l < 32; l++)
                    for (int q = 0; q < 4; q++) {
                        int col, nn;
                        zt_ct_c_pos(l, q, &col, &nn);
                        int oh = oh0 + zt_ct_row(wm, i), ow = ow0 + col;
                        int co = co0 + zt_ct_n0(wn, j) + nn;
                        if (oh >= g->ho || ow >= g->wo || co >= g->cout) continue;
                        int64_t yi = ((int64_t)(n * g->cout + co) * g->to + to) * plane +
                                     (int64_t)oh * g->wo + ow;
                        y[yi] = acc[warp][i][j][l][q] + (bias ? bias[co] : 0.0f);
                        writes[yi]++;
                    }
    }
}

/* y (n * cout * to * ho * wo) as the kernel computes it, block by block; writes counts
 * the stores to each output. */
static void emulate(const zt_ct_geom *g, int nb, const float *x, const float *prev, const float *w,
                    const float *bias, float *y, int *writes) {
    int khw = g->kh * g->kw;
    int64_t kc = (int64_t)g->cin * g->kt * khw; /* weights an output channel */
    float *wr = zt_test_alloc((size_t)(kc * zt_ct_coutp(g->cout)) * sizeof(float));
    for (int co = 0; co < zt_ct_coutp(g->cout); co++) /* the padding channels zero */
        for (int ci = 0; ci < g->cin; ci++)
            for (int dt = 0; dt < g->kt; dt++)
                for (int s = 0; s < khw; s++)
                    wr[zt_ct_wr_index(g, co, ci, dt, s)] =
                        co < g->cout ? ptx_tf32(w[zt_ct_w_index(g, co, ci, dt, s)]) : 0.0f;

    float *st = zt_test_alloc((size_t)zt_ct_stage_floats(g->kh, g->kw) * sizeof(float));
    static block_acc acc;
    int tiles_h = (g->ho + ZT_CT_TH - 1) / ZT_CT_TH, tiles_w = (g->wo + ZT_CT_TW - 1) / ZT_CT_TW;
    for (int n = 0; n < nb; n++)
        for (int to = 0; to < g->to; to++)
            for (int tile = 0; tile < tiles_h * tiles_w; tile++)
                for (int co0 = 0; co0 < g->cout; co0 += ZT_CT_BN) {
                    int oh0 = tile / tiles_w * ZT_CT_TH, ow0 = tile % tiles_w * ZT_CT_TW;
                    memset(acc, 0, sizeof acc);
                    int lo, hi;
                    zt_ct_taps(g, to, &lo, &hi);
                    for (int dt = lo; dt < hi; dt++) {
                        int64_t foff, cstride;
                        const float *src = zt_ct_frame(g, n, to, dt, &foff, &cstride) ? prev : x;
                        for (int ci0 = 0; ci0 < g->cin; ci0 += ZT_CT_BK) {
                            load_stage(g, st, src, foff, cstride, wr, dt, ci0, oh0, ow0, co0);
                            stage_products(g, st, acc);
                        }
                    }
                    store_tile(g, acc, bias, n, to, oh0, ow0, co0, y, writes);
                }
}

typedef struct tcase {
    const char *name;
    int n, cin, cout, t, h, w, np;
    int kt, k; /* time taps; kh = kw = k */
    int pt, p; /* time padding before (none after, causal); spatial padding each side */
    int bias;
} tcase;

static void run_case(zt_backend *cpu, zt_test_rng *rng, const tcase *c) {
    int to = c->np + c->t + c->pt - c->kt + 1, ho = c->h + 2 * c->p - c->k + 1;
    int wo = c->w + 2 * c->p - c->k + 1;
    const int64_t xs[5] = {c->n, c->cin, c->t, c->h, c->w};
    const int64_t ws[5] = {c->cout, c->cin, c->kt, c->k, c->k};
    const int64_t ys[5] = {c->n, c->cout, to, ho, wo};
    const int64_t ps[5] = {c->n, c->cin, c->np, c->h, c->w};
    zt_tensor hx = zt_tensor_make(ZT_F32, 5, xs, NULL), hw = zt_tensor_make(ZT_F32, 5, ws, NULL);
    zt_tensor hy = zt_tensor_make(ZT_F32, 5, ys, NULL), hp = zt_tensor_make(ZT_F32, 5, ps, NULL);
    zt_tensor hb = zt_tensor_new(ZT_F32, NULL, c->cout);
    int64_t nx = zt_tensor_numel(&hx), nw = zt_tensor_numel(&hw), ny = zt_tensor_numel(&hy);
    int64_t np = c->np ? zt_tensor_numel(&hp) : 0;
    float *x = zt_test_alloc((size_t)nx * 4), *w = zt_test_alloc((size_t)nw * 4);
    float *b = zt_test_alloc((size_t)c->cout * 4), *pv = zt_test_alloc((size_t)(np + 1) * 4);
    float *y_cpu = zt_test_alloc((size_t)ny * 4), *y_emu = zt_test_alloc((size_t)ny * 4);
    int *writes = calloc((size_t)ny, sizeof(int));
    zt_test_fill_normal(rng, x, nx, 1.0);
    zt_test_fill_normal(rng, w, nw, 1.0 / sqrt((double)nw / c->cout));
    zt_test_fill_normal(rng, b, c->cout, 0.5);
    zt_test_fill_normal(rng, pv, np, 1.0);
    hx.data = x, hw.data = w, hy.data = y_cpu, hp.data = pv, hb.data = b;
    zt_conv_params p = {.stride = {1, 1, 1},
                        .pad = {{c->pt, 0}, {c->p, c->p}, {c->p, c->p}},
                        .prev = c->np ? &hp : NULL};
    CHECK_OK(zt_op_conv3d(cpu, &hy, &hx, &hw, c->bias ? &hb : NULL, &p));

    zt_ct_geom g = {.cin = c->cin,
                    .cout = c->cout,
                    .t = c->t,
                    .pf = c->np,
                    .h = c->h,
                    .w = c->w,
                    .to = to,
                    .ho = ho,
                    .wo = wo,
                    .kt = c->kt,
                    .kh = c->k,
                    .kw = c->k,
                    .pt = c->pt,
                    .ph = c->p,
                    .pw = c->p};
    for (int64_t i = 0; i < ny; i++) y_emu[i] = NAN;
    emulate(&g, c->n, x, pv, w, c->bias ? b : NULL, y_emu, writes);
    int64_t bad = 0;
    for (int64_t i = 0; i < ny; i++) bad += writes[i] != 1;
    CHECK(bad == 0, "%s: %lld of %lld outputs not written exactly once", c->name, (long long)bad,
          (long long)ny);
    char name[160];
    snprintf(name, sizeof name, "tiles vs cpu %s (y [%d, %d, %d, %d, %d])", c->name, c->n, c->cout,
             to, ho, wo);
    zt_test_compare_f32(name, y_emu, y_cpu, ny, TOL_TF32);
    free(writes);
}

int main(void) {
    zt_backend *cpu;
    CHECK_OK(zt_backend_cpu_init(&cpu, 2));
    if (zt_test_failures) return zt_test_finish();

    /* The layout's own constraints: the warps cover the tile, B's rows are 16-byte
     * aligned and both strides are 8 mod 32 (conflict-free fragment loads). */
    CHECK(ZT_CT_WARPS_M * ZT_CT_MT == ZT_CT_TH && ZT_CT_WARPS_N * ZT_CT_NT * 8 == ZT_CT_BN,
          "warps do not cover the tile");
    CHECK(ZT_CT_LDB % 32 == 8 && ZT_CT_LDB % 4 == 0 && ZT_CT_LDB >= ZT_CT_BN, "LDB %d", ZT_CT_LDB);
    for (int k = 1; k <= 3; k += 2) {
        int ldh = zt_ct_ldh(k, k);
        CHECK(ldh % 32 == 8 && ldh >= zt_ct_hr(k) * zt_ct_hc(k), "ldh %d for k %d", ldh, k);
        CHECK(ZT_CT_BK * ldh % 4 == 0, "B not 16-byte aligned for k %d", k);
    }

    /* name, n, cin, cout, t, h, w, np, kt, k, pt, p, bias: odd sizes, partial tiles in
     * rows, columns and channels, channel counts past one stage */
    const tcase cases[] = {
        {"3x3x3 causal", 1, 11, 100, 3, 19, 21, 0, 3, 3, 2, 1, 1},
        {"3x3x3 prev P=2 N=2", 2, 9, 64, 2, 17, 18, 2, 3, 3, 0, 1, 1},
        {"3x3x3 prev P=1 pad 1", 1, 8, 96, 2, 6, 35, 1, 3, 3, 1, 1, 0},
        {"1x3x3 (conv2d)", 1, 13, 192, 1, 33, 17, 0, 1, 3, 0, 1, 1},
        {"3x1x1 causal", 1, 10, 68, 4, 9, 20, 0, 3, 1, 2, 0, 1},
        {"3x1x1 prev P=2 N=2", 2, 17, 96, 2, 16, 16, 2, 3, 1, 0, 0, 1},
        /* few output channels: the VAE's last conv (96 -> 3) and 16, whole tiles idle */
        {"3x3x3 causal cout 3", 1, 12, 3, 3, 18, 20, 0, 3, 3, 2, 1, 1},
        {"3x3x3 prev P=2 cout 18", 1, 7, 18, 1, 16, 33, 2, 3, 3, 0, 1, 0},
    };
    zt_test_rng rng = {4242};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(cpu, &rng, &cases[i]);
    zt_backend_free(cpu);
    return zt_test_finish();
}

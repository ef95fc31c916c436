// The implicit-GEMM convolution's CUDA kernels (kernels/conv_implicit.cuh), compiled for
// the host and run on threads, against a direct convolution written out here: CI has no
// GPU, and test_conv_tiles checks the tiling's index functions but not the kernels that
// use them (their pipeline of stages, barriers, loop bounds and epilogue).
//
// Each block of the grid runs as ZT_CT_THREADS real threads, one block after another
// (emu.h):
//   - __syncthreads is a barrier over the block's threads;
//   - mma_tf32 is warp-collective: the 32 lanes post their fragment registers, meet at
//     the warp's barrier, and each computes its accumulators from the PTX ISA's m16n8k8
//     TF32 layout, which is written out here on its own;
//   - cp.async copies are queued per thread and land at a cp.async.wait_group that
//     covers their group, or (every other one) at once, so a stage read before its
//     wait finds NaN or the previous stage's values instead of its own;
//   - shared memory starts each block as NaN, so reading a place no load wrote shows.
// The weight-copy kernel runs the same way (no barriers) over a small grid.
//
// What this cannot check: the PTX itself (the inline asm is replaced), the real memory
// model, and speed; tools/gpu-check.sh runs the kernels on a GPU. Exit 0 when every case
// matches, 1 otherwise.
#include <math.h>

#include "emu.h"
#define __shared__ // the kernels' one shared array is extern: smem below

#include "backends/cuda/conv_tiles.h"
extern "C" {
#include "core/tensor.h" // zt_dtype
}
#include "ptx_ref.h"

// cvt.rna.tf32.f32 as the kernels take it: the rounded value's bits
static uint32_t to_tf32(float v) {
    return __float_as_uint(ptx_tf32(v));
}

// element i of a weight tensor of dtype t (f32 or bf16 here) as f32
static float load_f32(const void *p, int t, int64_t i) {
    if (t == ZT_BF16) return zt_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

// The block's shared memory (the kernels declare it extern); large enough for any stage.
static constexpr int SMEM_FLOATS = ZT_CT_STAGES * (ZT_CT_BK * 360 + 9 * ZT_CT_BK * ZT_CT_LDB);
alignas(16) float smem[SMEM_FLOATS];

static void cp_async4(void *dst, const void *src, int bytes) {
    emu_cp_async(dst, src, bytes, 4);
}
static void cp_async16(void *dst, const void *src, int bytes) {
    emu_cp_async(dst, src, bytes, 16);
}
static void cp_async_commit() {
    emu_cp_async_commit();
}
template <int N> static void cp_async_wait() {
    emu_cp_async_wait(N);
}

// mma.sync m16n8k8 TF32, warp-collective: the lanes post their registers, meet, and
// each takes its accumulators from the product (ptx_ref.h); they meet again before the
// posts change.
static void mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    emu_warp &w = emu_my_warp();
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b0, b1};
    memcpy(w.post[emu_lane()], mine, sizeof mine);
    w.bar.wait();
    float fa[32][4], fb[32][2], A[16][8], B[8][8];
    for (int l = 0; l < 32; l++) {
        uint32_t r[6];
        memcpy(r, w.post[l], sizeof r);
        for (int k = 0; k < 4; k++) fa[l][k] = __uint_as_float(r[k]);
        fb[l][0] = __uint_as_float(r[4]);
        fb[l][1] = __uint_as_float(r[5]);
    }
    ptx_mma_operands(fa, fb, A, B);
    ptx_mma_lane(c, emu_lane(), A, B);
    w.bar.wait();
}

#include "conv_implicit.cuh"

// ---- running a grid ----------------------------------------------------------------------
static void fresh_smem(void) {
    for (float &v : smem) v = NAN;
}
static int run_grid(dim3 grid, unsigned threads, void (*body)(void *), void *args) {
    dim3 block;
    block.x = threads;
    return emu_run_grid(grid, block, body, args, emu_copies_left, fresh_smem);
}

struct conv_args {
    float *y;
    const float *x, *prev, *wr, *bias;
    zt_ct_geom g;
    int tiles_w;
};
template <int KH, int KW> static void conv_body(void *p) {
    conv_args *a = (conv_args *)p;
    conv_tf32_kernel<KH, KW>(a->y, a->x, a->prev, a->wr, a->bias, a->g, a->tiles_w);
}

struct wcopy_args {
    float *wr;
    const void *w;
    int wt;
    zt_ct_geom g;
    int64_t n;
};
static void wcopy_body(void *p) {
    wcopy_args *a = (wcopy_args *)p;
    wcopy_kernel(a->wr, a->w, a->wt, a->g, a->n);
}

// ---- the cases ---------------------------------------------------------------------------

struct tcase {
    const char *name;
    int n, cin, cout, t, h, w, np;
    int kt, k; // time taps; kh = kw = k
    int pt, p; // time padding before (causal); spatial padding each side
    int bias;
    int bf16; // weights stored as bf16
};

// y = conv(x) the direct way, in double: input frame ti counts prev's frames first.
static void reference(const tcase &c, int to, int ho, int wo, const std::vector<float> &x,
                      const std::vector<float> &prev, const std::vector<float> &w,
                      const std::vector<float> &b, std::vector<double> &y) {
    auto input = [&](int n, int ci, int ti, int ih, int iw) -> double {
        if (ti < 0 || ti >= c.np + c.t || ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) return 0;
        size_t px = (size_t)ih * c.w + iw, hw = (size_t)c.h * c.w;
        if (ti < c.np) return prev[(((size_t)n * c.cin + ci) * c.np + ti) * hw + px];
        return x[(((size_t)n * c.cin + ci) * c.t + (ti - c.np)) * hw + px];
    };
    auto weight = [&](int co, int ci, int dt, int dh, int dw) -> double {
        return w[((((size_t)co * c.cin + ci) * c.kt + dt) * c.k + dh) * c.k + dw];
    };
    size_t i = 0; // y's elements in order: n, co, ot, oh, ow
    for (int n = 0; n < c.n; n++)
        for (int co = 0; co < c.cout; co++)
            for (int ot = 0; ot < to; ot++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++, i++) {
                        double s = c.bias ? b[co] : 0.0;
                        for (int ci = 0; ci < c.cin; ci++)
                            for (int dt = 0; dt < c.kt; dt++)
                                for (int dh = 0; dh < c.k; dh++)
                                    for (int dw = 0; dw < c.k; dw++)
                                        s += input(n, ci, ot - c.pt + dt, oh - c.p + dh,
                                                   ow - c.p + dw) *
                                             weight(co, ci, dt, dh, dw);
                        y[i] = s;
                    }
}

static int run_case(const tcase &c) {
    int to = c.np + c.t + c.pt - c.kt + 1, ho = c.h + 2 * c.p - c.k + 1;
    int wo = c.w + 2 * c.p - c.k + 1;
    size_t nx = (size_t)c.n * c.cin * c.t * c.h * c.w, np = (size_t)c.n * c.cin * c.np * c.h * c.w;
    size_t nw = (size_t)c.cout * c.cin * c.kt * c.k * c.k, ny = (size_t)c.n * c.cout * to * ho * wo;
    std::vector<float> x(nx), prev(np + 1), w(nw), b(c.cout), y(ny, NAN);
    std::vector<uint16_t> w16(nw);
    for (float &v : x) v = emu_randn();
    for (float &v : prev) v = emu_randn();
    for (size_t i = 0; i < nw; i++) {
        w[i] = emu_randn() / sqrtf((float)(nw / c.cout));
        if (c.bf16) { // to bf16, nearest even; the reference takes the rounded value
            w16[i] = zt_f32_to_bf16(w[i]);
            w[i] = zt_bf16_to_f32(w16[i]);
        }
    }
    for (float &v : b) v = 0.5f * emu_randn();
    std::vector<double> ref(ny);
    reference(c, to, ho, wo, x, prev, w, b, ref);

    zt_ct_geom g = {c.cin, c.cout, c.t, c.np, c.h, c.w, to, ho, wo, c.kt, c.k, c.k, c.pt, c.p, c.p};
    int64_t nwr = (int64_t)c.cin * c.kt * c.k * c.k * zt_ct_coutp(c.cout);
    std::vector<float> wr((size_t)nwr, NAN);
    wcopy_args wa = {wr.data(), c.bf16 ? (const void *)w16.data() : (const void *)w.data(),
                     c.bf16 ? ZT_BF16 : ZT_F32, g, nwr};
    dim3 wgrid;
    wgrid.x = 3; // a grid-stride loop over a few blocks
    int bad = run_grid(wgrid, 64, wcopy_body, &wa);

    int tiles_h = (ho + ZT_CT_TH - 1) / ZT_CT_TH, tiles_w = (wo + ZT_CT_TW - 1) / ZT_CT_TW;
    conv_args ca = {
        y.data(), x.data(), c.np ? prev.data() : NULL, wr.data(), c.bias ? b.data() : NULL,
        g,        tiles_w};
    dim3 grid;
    grid.x = (unsigned)(tiles_h * tiles_w), grid.y = (unsigned)(c.n * to);
    grid.z = (unsigned)((c.cout + ZT_CT_BN - 1) / ZT_CT_BN);
    bad |= run_grid(grid, ZT_CT_THREADS, c.k == 3 ? conv_body<3, 3> : conv_body<1, 1>, &ca);

    double err = 0, mx = 1e-30;
    size_t at = 0;
    for (size_t i = 0; i < ny; i++) {
        double e = fabs((double)y[i] - ref[i]);
        if (!(e <= err)) err = e, at = i; // NaN counts as the largest error
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    double rel = err / mx;
    int ok = !bad && rel <= 5e-3; // TF32, as test_cuda_conv
    printf("%s %s (y [%d, %d, %d, %d, %d]): max rel err %.3e%s\n", ok ? "  " : "FAIL", c.name, c.n,
           c.cout, to, ho, wo, rel, bad ? ", copies left pending" : "");
    if (!ok) printf("     at %zu: got %g, want %g\n", at, y[at], ref[at]);
    return ok;
}

int main() {
    // name, n, cin, cout, t, h, w, np, kt, k, pt, p, bias: partial tiles in rows, columns
    // and channels; in the first, 11 input channels make two stages a time tap (six in
    // all, so the two stage buffers take turns three times)
    const tcase cases[] = {
        {"3x3x3 prev P=2", 1, 11, 100, 1, 19, 21, 2, 3, 3, 0, 1, 1},
        {"3x3x3 causal", 1, 6, 8, 2, 5, 20, 0, 3, 3, 2, 1, 1},
        {"3x3x3 prev P=2 N=2", 2, 5, 12, 1, 9, 17, 2, 3, 3, 0, 1, 0},
        {"3x3x3 prev P=1 pad 1, cout 3", 1, 4, 3, 2, 16, 16, 1, 3, 3, 1, 1, 1},
        {"1x3x3 (conv2d)", 1, 7, 40, 1, 18, 33, 0, 1, 3, 0, 1, 1},
        {"3x1x1 causal", 1, 9, 20, 3, 7, 19, 0, 3, 1, 2, 0, 1},
        {"3x3x3 causal, bf16 weights", 1, 5, 16, 2, 8, 16, 0, 3, 3, 2, 1, 1, 1},
    };
    int failed = 0;
    for (const tcase &c : cases) failed += !run_case(c);
    return emu_summary(failed, sizeof cases / sizeof cases[0]);
}

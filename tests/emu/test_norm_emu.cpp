// The norms' CUDA kernels (kernels/norm_kernels.cuh: layer norm, the fused layer norm
// and modulation the DiT runs on the GPU, RMS norm, and the L2 norm with and without
// the SiLU the Wan VAE fuses after it), compiled for the host and run on threads
// (emu.h), against float64 references written out here. The launch shapes of
// kernels/norm.cu: a warp a row, eight rows a block; a whole block a row; a thread a
// column for the L2 norm over an inner axis. Grids smaller than the work, so the
// kernels' loops take several turns; shift and scale one row or one per row; in place. Warp
// shuffles are emulated on the warp's post board,
// __syncthreads by a barrier, and the kernels' shared arrays are shared by the block's
// threads (`static`: blocks run one after another). Exit 0 when every case matches.
#include <math.h>

#include "emu.h"
#define __shared__ static

extern "C" {
#include "core/tensor.h" // zt_dtype
}

// element i of a parameter of dtype t (f32 here) as f32
static float load_f32(const void *p, int t, int64_t i) {
    (void)t;
    return ((const float *)p)[i];
}

#include "norm_kernels.cuh"

enum kind { LN, LN_MOD, RMS, L2, L2_SILU };

struct tcase {
    const char *name;
    kind k;
    int64_t rows, d;            // L2 over an inner axis: rows = outer * inner columns of d
    int affine;                 // LN, RMS: weight (and LN's bias)
    int shift_rows, scale_rows; // LN_MOD
    int in_place;
    unsigned blocks; // the grid: fewer than the rows need
    int64_t inner;   // L2: the axis's inner size (1: the last axis, rows of d)
};

struct args {
    const tcase *c;
    float *y;
    const float *x;
    param w, b;
    modp m;
};

template <int T> static void body(void *p) {
    args *a = (args *)p;
    const tcase &c = *a->c;
    if (c.k == LN) layer_norm_kernel<T, false>(a->y, a->x, c.rows, c.d, a->w, a->b, 1e-6f, a->m);
    if (c.k == LN_MOD) layer_norm_kernel<T, true>(a->y, a->x, c.rows, c.d, a->w, a->b, 1e-6f, a->m);
    if (c.k == RMS) rms_norm_kernel<T>(a->y, a->x, c.rows, c.d, a->w, 1e-6f);
    float sc = sqrtf((float)c.d); // the Wan VAE's scale
    if ((c.k == L2 || c.k == L2_SILU) && c.inner == 1) {
        if (c.k == L2) l2_rows_kernel<T, false>(a->y, a->x, c.rows, c.d, a->w, a->b, sc, 1e-12f);
        if (c.k == L2_SILU)
            l2_rows_kernel<T, true>(a->y, a->x, c.rows, c.d, a->w, a->b, sc, 1e-12f);
    }
}

// the L2 norm over an inner axis: x is [rows / inner, d, inner]
static void cols_body(void *p) {
    args *a = (args *)p;
    const tcase &c = *a->c;
    float sc = sqrtf((float)c.d);
    int64_t outer = c.rows / c.inner;
    if (c.k == L2) l2_cols_kernel<false>(a->y, a->x, outer, c.d, c.inner, a->w, a->b, sc, 1e-12f);
    if (c.k == L2_SILU)
        l2_cols_kernel<true>(a->y, a->x, outer, c.d, c.inner, a->w, a->b, sc, 1e-12f);
}

static int run_case(const tcase &c) {
    int64_t n = c.rows * c.d;
    std::vector<float> x(n), y(n, NAN), w(c.d), b(c.d), sh(c.shift_rows ? n : c.d),
        sc(c.scale_rows ? n : c.d);
    for (float &v : x) v = 2.0f * emu_randn() + 3.0f; // a mean to remove
    for (float &v : w) v = 1.0f + 0.3f * emu_randn();
    for (float &v : b) v = emu_randn();
    for (float &v : sh) v = emu_randn();
    for (float &v : sc) v = 0.3f * emu_randn();

    std::vector<double> ref(n);
    if (c.k == L2 || c.k == L2_SILU) { // x is [outer, d, inner]; the norm runs down d
        for (int64_t col = 0; col < c.rows; col++) {
            int64_t o = col / c.inner, j = col % c.inner;
            auto at = [&](int64_t ci) { return (o * c.d + ci) * c.inner + j; };
            double q = 0;
            for (int64_t ci = 0; ci < c.d; ci++) q += (double)x[at(ci)] * x[at(ci)];
            double inv = 1.0 / fmax(sqrt(q), 1e-12);
            for (int64_t ci = 0; ci < c.d; ci++) {
                double v = x[at(ci)] * inv * sqrt((double)c.d) * (c.affine ? w[ci] : 1.0) +
                           (c.affine ? b[ci] : 0.0);
                ref[at(ci)] = c.k == L2_SILU ? v / (1.0 + exp(-v)) : v;
            }
        }
    }
    for (int64_t r = 0; r < c.rows && c.k != L2 && c.k != L2_SILU; r++) {
        const float *xr = &x[r * c.d];
        double mean = 0, var = 0, ms = 0;
        for (int64_t i = 0; i < c.d; i++) mean += xr[i], ms += (double)xr[i] * xr[i];
        mean /= (double)c.d, ms /= (double)c.d;
        for (int64_t i = 0; i < c.d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)c.d;
        for (int64_t i = 0; i < c.d; i++) {
            int64_t j = r * c.d + i;
            double v = c.k == RMS ? xr[i] / sqrt(ms + 1e-6) : (xr[i] - mean) / sqrt(var + 1e-6);
            if (c.affine) v = v * w[i] + (c.k == LN ? b[i] : 0.0);
            if (c.k == LN_MOD) v = v * (1.0 + sc[c.scale_rows ? j : i]) + sh[c.shift_rows ? j : i];
            ref[j] = v;
        }
    }

    args a = {&c,
              c.in_place ? x.data() : y.data(),
              x.data(),
              {NULL, ZT_F32},
              {NULL, ZT_F32},
              {sh.data(), sc.data(), (bool)c.shift_rows, (bool)c.scale_rows}};
    if (c.affine) a.w = {w.data(), ZT_F32};
    if (c.affine && c.k != RMS && c.k != LN_MOD) a.b = {b.data(), ZT_F32};
    dim3 grid, block;
    grid.x = c.blocks;
    bool long_rows = c.d >= 1024; // norm.cu's choice
    bool cols = (c.k == L2 || c.k == L2_SILU) && c.inner > 1;
    if (long_rows || cols)
        block.x = 256;
    else
        block.x = 32, block.y = 8;
    int bad = emu_run_grid(grid, block,
                           cols        ? cols_body
                           : long_rows ? body<256>
                                       : body<32>,
                           &a, NULL, NULL);
    const float *out = c.in_place ? x.data() : y.data();
    double err = 0, mx = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(out[i] - ref[i]);
        if (!(e <= err)) err = e; // NaN counts as the largest error
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    int ok = !bad && err / mx <= 1e-5; // test_cuda_elementwise's bound
    printf("%s %s (%lldx%lld, %u blocks): max rel err %.3e\n", ok ? "  " : "FAIL", c.name,
           (long long)c.rows, (long long)c.d, c.blocks, err / mx);
    return ok;
}

int main() {
    // name, kind, rows, d, affine, shift rows, scale rows, in place, blocks
    const tcase cases[] = {
        {"norm_modulate, warp rows", LN_MOD, 19, 129, 0, 0, 1, 0, 2},
        {"norm_modulate, block rows", LN_MOD, 3, 1536, 0, 1, 0, 0, 2},
        {"norm_modulate in place", LN_MOD, 11, 200, 0, 0, 0, 1, 1},
        {"layer_norm, weight and bias", LN, 5, 37, 1, 0, 0, 0, 1},
        {"layer_norm, block rows", LN, 2, 1029, 0, 0, 0, 0, 1},
        {"rms_norm, block rows", RMS, 3, 1029, 1, 0, 0, 0, 2},
        {"rms_norm, warp rows", RMS, 9, 64, 0, 0, 0, 1, 1},
        // L2 over channels of [2, 96, 300] (rows = 2 * 300 columns), and over rows
        {"l2_norm_silu, columns", L2_SILU, 600, 96, 1, 0, 0, 0, 2, 300},
        {"l2_norm_silu, columns, in place", L2_SILU, 310, 13, 0, 0, 0, 1, 1, 310},
        {"l2_norm, columns", L2, 600, 96, 1, 0, 0, 0, 1, 300},
        {"l2_norm_silu, warp rows", L2_SILU, 19, 40, 1, 0, 0, 0, 2, 1},
        {"l2_norm_silu, block rows", L2_SILU, 3, 1024, 0, 0, 0, 0, 1, 1},
    };
    int failed = 0;
    for (const tcase &c : cases) failed += !run_case(c);
    return emu_summary(failed, sizeof cases / sizeof cases[0]);
}

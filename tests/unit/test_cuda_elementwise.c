/* The CUDA backend's norms, elementwise, softmax, rope and layout ops against the CPU
 * backend, through the zt_op_* wrappers, on random inputs of awkward sizes (rows of 1
 * and 7 elements, D = 129, a million and three elements, broadcasts, strided inputs,
 * 16-bit parameters). Skipped (exit 77) when the build has no CUDA backend or the
 * machine has no GPU.
 *
 * Tolerances (max abs error / max abs reference): pure data movement (copy, concat,
 * pad, upsample) must be bit-exact; single IEEE operations (binary) are exact but get
 * 1e-6 in case of a fast-math build; arithmetic ops 1e-5, which covers FMA contraction
 * and a different summation order; the exceptions say why where they are. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/half.h"
#include "core/ops.h"
#include "testlib.h"

static zt_backend *cpu, *gpu;
static zt_test_rng rng = {2024};

/* ---- host and device buffers ------------------------------------------------------ */

#define MAX_DEV 64
static void *dev_ptrs[MAX_DEV];
static int n_dev;

static void dev_free_all(void) {
    for (int i = 0; i < n_dev; i++) gpu->dealloc(gpu, dev_ptrs[i]);
    n_dev = 0;
}

/* A new device buffer holding bytes of host memory (freed by dev_free_all). */
static void *dev_put(const void *host, size_t bytes) {
    void *d = NULL;
    if (n_dev == MAX_DEV) dev_free_all(); /* callers free between tests; never hit */
    CHECK_OK(gpu->alloc(gpu, bytes ? bytes : 1, &d));
    if (d && bytes) CHECK_OK(gpu->upload(gpu, d, host, bytes));
    dev_ptrs[n_dev++] = d;
    return d;
}

/* The device twin of host view h, whose storage starts at hbase and spans bytes: the
 * storage is uploaded whole and the view keeps h's shape, strides and offset. */
static zt_tensor dev_view(const zt_tensor *h, const void *hbase, size_t bytes) {
    char *d = dev_put(hbase, bytes);
    zt_tensor t = *h;
    t.data = d + ((const char *)h->data - (const char *)hbase);
    t.device = 1;
    return t;
}

/* The device twin of a contiguous host tensor. */
static zt_tensor dev_of(const zt_tensor *h) { return dev_view(h, h->data, zt_tensor_nbytes(h)); }

static void dev_get(void *host, const void *dev, size_t bytes) {
    CHECK_OK(gpu->download(gpu, host, dev, bytes));
}

static void *halloc(size_t bytes) { return zt_test_alloc(bytes ? bytes : 1); }

static float *randn(int64_t n, double sd) {
    float *x = halloc((size_t)n * sizeof *x);
    zt_test_fill_normal(&rng, x, n, sd);
    return x;
}

static zt_tensor tensor(zt_dtype t, int nd, const int64_t *shape, void *data) {
    return zt_tensor_make(t, nd, shape, data);
}

/* Random [n] parameters in dtype t (NULL tensor when t < 0), held in *keep. */
static zt_tensor *param(zt_tensor *keep, int t, int64_t n, double mean) {
    if (t < 0) return NULL;
    float *v = randn(n, 0.5);
    for (int64_t i = 0; i < n; i++) v[i] += (float)mean;
    void *buf = halloc((size_t)n * zt_dtype_size((zt_dtype)t));
    zt_convert_from_f32(buf, (zt_dtype)t, v, n);
    *keep = zt_tensor_new((zt_dtype)t, buf, n);
    return keep;
}

/* its device twin, or NULL */
static zt_tensor *param_dev(zt_tensor *keep, const zt_tensor *h) {
    if (!h) return NULL;
    *keep = dev_of(h);
    return keep;
}

/* Compare a device f32 result of n elements with the CPU's. */
static void compare_dev(const char *name, const void *dev, const float *ref, int64_t n,
                        double tol) {
    float *got = halloc((size_t)n * sizeof *got);
    dev_get(got, dev, (size_t)n * sizeof *got);
    zt_test_compare_f32(name, got, ref, n, tol);
}

/* Bit-exact comparison of raw bytes. */
static void compare_bytes(const char *name, const void *dev, const void *ref, size_t bytes) {
    void *got = halloc(bytes);
    dev_get(got, dev, bytes);
    int same = memcmp(got, ref, bytes) == 0;
    printf("  %-40s %s\n", name, same ? "bit-exact" : "DIFFERS");
    CHECK(same, "%s: GPU and CPU bytes differ", name);
}

static const char *dt_name(int t) { return t < 0 ? "-" : zt_dtype_name((zt_dtype)t); }

/* ---- norms ----------------------------------------------------------------------------- */

static void test_norms(void) {
    static const int64_t shapes[][2] = {{5, 1}, {3, 7}, {1, 1000003}, {37, 129}, {6, 4096}};
    /* (weight, bias) dtypes, -1 for none */
    static const int var[][2] = {{-1, -1}, {ZT_F32, ZT_F32}, {ZT_F16, ZT_BF16},
                                 {ZT_BF16, -1}, {-1, ZT_F32}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], d = shapes[s][1], n = rows * d;
        float *x = randn(n, 3.0), *y = halloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) x[i] += 5.0f; /* a mean to remove */
        zt_tensor tx = tensor(ZT_F32, 2, shapes[s], x), ty = tensor(ZT_F32, 2, shapes[s], y);
        zt_tensor gx = dev_of(&tx), gy = dev_of(&ty);
        for (size_t v = 0; v < sizeof var / sizeof var[0]; v++) {
            zt_tensor kw, kb, dw, db;
            zt_tensor *w = param(&kw, var[v][0], d, 1.0), *b = param(&kb, var[v][1], d, 0.0);
            char name[96];
            CHECK_OK(zt_op_layer_norm(cpu, &ty, &tx, w, b, 1e-6f));
            CHECK_OK(zt_op_layer_norm(gpu, &gy, &gx, param_dev(&dw, w), param_dev(&db, b), 1e-6f));
            snprintf(name, sizeof name, "layer_norm %lldx%lld w %s b %s", (long long)rows,
                     (long long)d, dt_name(var[v][0]), dt_name(var[v][1]));
            compare_dev(name, gy.data, y, n, 1e-5);
            if (var[v][1] >= 0) continue; /* rms_norm has no bias */
            CHECK_OK(zt_op_rms_norm(cpu, &ty, &tx, w, 1e-6f));
            CHECK_OK(zt_op_rms_norm(gpu, &gy, &gx, param_dev(&dw, w), 1e-6f));
            snprintf(name, sizeof name, "rms_norm %lldx%lld w %s", (long long)rows, (long long)d,
                     dt_name(var[v][0]));
            compare_dev(name, gy.data, y, n, 1e-5);
        }
        dev_free_all();
    }
}

static void test_l2_norm(void) {
    static const struct {
        int nd, axis;
        int64_t shape[5];
    } cases[] = {
        {2, 1, {4, 129}},        /* rows, short */
        {2, 1, {1, 1000003}},    /* one long row */
        {5, 1, {2, 16, 3, 5, 7}}, /* channels of a video: strided columns */
        {3, 0, {7, 3, 11}},      /* outermost axis */
        {3, 2, {3, 5, 2}},
        {2, 0, {1, 9}},          /* a single element per column */
    };
    static const int var[][2] = {{-1, -1}, {ZT_F32, ZT_F16}, {ZT_BF16, -1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        zt_tensor tx = tensor(ZT_F32, cases[c].nd, cases[c].shape, NULL);
        int64_t n = zt_tensor_numel(&tx), ch = cases[c].shape[cases[c].axis];
        float *x = randn(n, 2.0), *y = halloc((size_t)n * 4);
        x[0] = 0.0f; /* with the neighbours of its row or column, maybe below eps */
        tx.data = x;
        zt_tensor ty = tx;
        ty.data = y;
        for (size_t v = 0; v < sizeof var / sizeof var[0]; v++) {
            zt_tensor kg, kb, dg, db;
            zt_tensor *g = param(&kg, var[v][0], ch, 1.0), *b = param(&kb, var[v][1], ch, 0.0);
            float scale = v ? 2.5f : 1.0f;
            CHECK_OK(zt_op_l2_norm(cpu, &ty, &tx, cases[c].axis, g, b, scale, 1e-12f));
            /* the device runs in place (y may be x) */
            zt_tensor gx = dev_of(&tx);
            CHECK_OK(zt_op_l2_norm(gpu, &gx, &gx, cases[c].axis, param_dev(&dg, g),
                                   param_dev(&db, b), scale, 1e-12f));
            char name[96], sh[64];
            snprintf(name, sizeof name, "l2_norm %s axis %d g %s b %s",
                     zt_tensor_shape_str(&tx, sh, sizeof sh), cases[c].axis, dt_name(var[v][0]),
                     dt_name(var[v][1]));
            compare_dev(name, gx.data, y, n, 1e-5);
            /* the fused form: the CPU's l2_norm then SiLU */
            CHECK_OK(zt_op_l2_norm_silu(cpu, &ty, &tx, cases[c].axis, g, b, scale, 1e-12f));
            gx = dev_of(&tx);
            CHECK_OK(zt_op_l2_norm_silu(gpu, &gx, &gx, cases[c].axis, param_dev(&dg, g),
                                        param_dev(&db, b), scale, 1e-12f));
            snprintf(name, sizeof name, "l2_norm_silu %s axis %d g %s b %s",
                     zt_tensor_shape_str(&tx, sh, sizeof sh), cases[c].axis, dt_name(var[v][0]),
                     dt_name(var[v][1]));
            compare_dev(name, gx.data, y, n, 1e-5);
        }
        dev_free_all();
    }
}

/* ---- binary, modulate, gated add ------------------------------------------------------ */

static void test_binary(void) {
    static const struct {
        int na, nb, nc;
        int64_t a[5], b[5], c[5];
    } cases[] = {
        {1, 1, 1, {1000003}, {1000003}, {1000003}},
        {2, 2, 2, {1000, 1536}, {1000, 1536}, {1000, 1536}}, /* the 16-byte path */
        {3, 2, 3, {4, 1, 7}, {3, 1}, {4, 3, 7}},
        {5, 1, 5, {2, 3, 4, 5, 6}, {6}, {2, 3, 4, 5, 6}},
        {1, 2, 2, {1}, {5, 129}, {5, 129}},
        {2, 0, 2, {5, 129}, {0}, {5, 129}}, /* b a 0-dim scalar */
        {5, 5, 5, {2, 1, 3, 1, 5}, {1, 4, 1, 6, 1}, {2, 4, 3, 6, 5}},
    };
    static const char *ops[] = {"add", "sub", "mul", "div"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        zt_tensor ta = tensor(ZT_F32, cases[c].na, cases[c].a, NULL);
        zt_tensor tb = tensor(ZT_F32, cases[c].nb, cases[c].b, NULL);
        zt_tensor tc = tensor(ZT_F32, cases[c].nc, cases[c].c, NULL);
        int64_t nc = zt_tensor_numel(&tc);
        ta.data = randn(zt_tensor_numel(&ta), 2.0);
        float *b = randn(zt_tensor_numel(&tb), 1.0);
        for (int64_t i = 0; i < zt_tensor_numel(&tb); i++) b[i] += b[i] >= 0 ? 0.5f : -0.5f;
        tb.data = b;
        tc.data = halloc((size_t)nc * 4);
        zt_tensor ga = dev_of(&ta), gb = dev_of(&tb), gc = dev_of(&tc);
        for (int op = 0; op < ZT_BINARY_COUNT; op++) {
            CHECK_OK(zt_op_binary(cpu, &tc, &ta, &tb, (zt_binary_op)op));
            CHECK_OK(zt_op_binary(gpu, &gc, &ga, &gb, (zt_binary_op)op));
            char name[96], s1[48], s2[48];
            snprintf(name, sizeof name, "binary %s %s %s", ops[op],
                     zt_tensor_shape_str(&ta, s1, sizeof s1), zt_tensor_shape_str(&tb, s2, sizeof s2));
            compare_dev(name, gc.data, tc.data, nc, 1e-6);
        }
        dev_free_all();
    }

    /* a strided (transposed) a, and c written over a */
    float *base = randn(7 * 9, 1.0), *b = randn(9, 1.0), *c = halloc(9 * 7 * 4);
    zt_tensor t79 = zt_tensor_new(ZT_F32, base, 7, 9), ta, tb = zt_tensor_new(ZT_F32, b, 9, 1);
    CHECK_OK(zt_tensor_permute(&ta, &t79, (const int[]){1, 0}));
    zt_tensor tc = zt_tensor_new(ZT_F32, c, 9, 7);
    CHECK_OK(zt_op_mul(cpu, &tc, &ta, &tb));
    zt_tensor ga = dev_view(&ta, base, 7 * 9 * 4), gb = dev_of(&tb), gc = dev_of(&tc);
    CHECK_OK(zt_op_mul(gpu, &gc, &ga, &gb));
    compare_dev("binary mul strided a", gc.data, c, 63, 1e-6);

    /* c written over a (same shape) */
    zt_tensor tx = zt_tensor_new(ZT_F32, randn(1000, 1.0), 10, 100);
    zt_tensor tr = zt_tensor_new(ZT_F32, randn(100, 1.0), 100);
    zt_tensor ty = zt_tensor_new(ZT_F32, halloc(1000 * 4), 10, 100);
    CHECK_OK(zt_op_binary(cpu, &ty, &tx, &tr, ZT_BINARY_SUB));
    zt_tensor gx = dev_of(&tx), gr = dev_of(&tr);
    CHECK_OK(zt_op_binary(gpu, &gx, &gx, &gr, ZT_BINARY_SUB));
    compare_dev("binary sub in place", gx.data, ty.data, 1000, 1e-6);
    /* and over b, same shapes (the 16-byte path) */
    zt_tensor ts = zt_tensor_new(ZT_F32, randn(1000, 1.0), 10, 100);
    CHECK_OK(zt_op_binary(cpu, &ty, &tx, &ts, ZT_BINARY_ADD));
    zt_tensor gx2 = dev_of(&tx), gs = dev_of(&ts);
    CHECK_OK(zt_op_binary(gpu, &gs, &gx2, &gs, ZT_BINARY_ADD));
    compare_dev("binary add in place over b", gs.data, ty.data, 1000, 1e-6);
    dev_free_all();
}

static void test_modulate(void) {
    /* x's shape, then the element counts of shift and scale (a row or all of x) */
    static const struct {
        int nd;
        int64_t x[3], n_shift, n_scale;
    } cases[] = {
        {3, {3, 5, 129}, 129, 3 * 5 * 129},
        {3, {3, 5, 129}, 3 * 5 * 129, 129},
        {2, {7, 129}, 129, 129},
        {1, {1000003}, 1000003, 1000003},
        {2, {7, 1}, 1, 7}, /* D = 1 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        zt_tensor tx = tensor(ZT_F32, cases[c].nd, cases[c].x, NULL);
        int64_t n = zt_tensor_numel(&tx);
        tx.data = randn(n, 2.0);
        zt_tensor ty = tx, tacc = tx;
        ty.data = halloc((size_t)n * 4);
        zt_tensor tsh = zt_tensor_new(ZT_F32, randn(cases[c].n_shift, 1.0), cases[c].n_shift);
        zt_tensor tsc = zt_tensor_new(ZT_F32, randn(cases[c].n_scale, 0.3), cases[c].n_scale);
        float *acc = randn(n, 1.0);
        tacc.data = acc;
        zt_tensor gx = dev_of(&tx), gy = dev_of(&ty), gsh = dev_of(&tsh), gsc = dev_of(&tsc);
        zt_tensor gacc = dev_of(&tacc);
        char name[96], sh[48];
        zt_tensor_shape_str(&tx, sh, sizeof sh);

        CHECK_OK(zt_op_modulate(cpu, &ty, &tx, &tsh, &tsc));
        CHECK_OK(zt_op_modulate(gpu, &gy, &gx, &gsh, &gsc));
        snprintf(name, sizeof name, "modulate %s shift %lld scale %lld", sh,
                 (long long)cases[c].n_shift, (long long)cases[c].n_scale);
        compare_dev(name, gy.data, ty.data, n, 1e-5);

        /* the fused layer norm and modulation against the CPU's two ops (x's mean moved
         * off zero first, as test_norms does), then in place on the GPU */
        for (int64_t i = 0; i < n; i++) ((float *)tx.data)[i] += 5.0f;
        gx = dev_of(&tx);
        CHECK_OK(zt_op_norm_modulate(cpu, &ty, &tx, &tsh, &tsc, 1e-6f));
        CHECK_OK(zt_op_norm_modulate(gpu, &gy, &gx, &gsh, &gsc, 1e-6f));
        snprintf(name, sizeof name, "norm_modulate %s shift %lld scale %lld", sh,
                 (long long)cases[c].n_shift, (long long)cases[c].n_scale);
        compare_dev(name, gy.data, ty.data, n, 1e-5);
        CHECK_OK(zt_op_norm_modulate(gpu, &gx, &gx, &gsh, &gsc, 1e-6f));
        snprintf(name, sizeof name, "norm_modulate in place %s", sh);
        compare_dev(name, gx.data, ty.data, n, 1e-5);
        gx = dev_of(&tx);

        /* gated add with the scale as the gate, then the shift */
        CHECK_OK(zt_op_gated_add(cpu, &tacc, &tx, &tsc));
        CHECK_OK(zt_op_gated_add(gpu, &gacc, &gx, &gsc));
        CHECK_OK(zt_op_gated_add(cpu, &tacc, &tx, &tsh));
        CHECK_OK(zt_op_gated_add(gpu, &gacc, &gx, &gsh));
        snprintf(name, sizeof name, "gated_add %s gates %lld, %lld", sh,
                 (long long)cases[c].n_scale, (long long)cases[c].n_shift);
        compare_dev(name, gacc.data, acc, n, 1e-5);
        dev_free_all();
    }
}

/* ---- softmax ----------------------------------------------------------------------------- */

static void test_softmax(void) {
    static const int64_t shapes[][2] = {{5, 1},    {7, 129},  {2, 100003}, {2, 4096},
                                        {4, 1000}, {3, 1500}, {1, 1000003}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        float *x = randn(n, 3.0), *y = halloc((size_t)n * 4);
        if (rows >= 3) { /* masked keys, and a row with every key masked (zeros) */
            for (int64_t i = 0; i < cols; i += 3) x[i] = -INFINITY;
            for (int64_t i = 0; i < cols; i++) x[2 * cols + i] = -INFINITY;
        }
        zt_tensor tx = tensor(ZT_F32, 2, shapes[s], x), ty = tensor(ZT_F32, 2, shapes[s], y);
        zt_tensor gx = dev_of(&tx), gy = dev_of(&ty);
        CHECK_OK(zt_op_softmax(cpu, &ty, &tx));
        CHECK_OK(zt_op_softmax(gpu, &gy, &gx));
        /* Long rows: the CPU sums a row's exps in 16 f32 lanes of n / 16 terms each,
         * whose rounding grows with the length (7e-5 measured at 1e6 on an H200), the
         * GPU in 256 chains of n / 256 and a tree; the bound is the CPU's error. */
        double tol = cols >= 100000 ? 1e-4 : 1e-5;
        char name[96];
        snprintf(name, sizeof name, "softmax %lldx%lld", (long long)rows, (long long)cols);
        compare_dev(name, gy.data, y, n, tol);
        /* in place */
        CHECK_OK(zt_op_softmax(gpu, &gx, &gx));
        snprintf(name, sizeof name, "softmax %lldx%lld in place", (long long)rows,
                 (long long)cols);
        compare_dev(name, gx.data, y, n, tol);
        dev_free_all();
    }
}

/* ---- rope ---------------------------------------------------------------------------------- */

static void test_rope(void) {
    static const struct {
        int nd;
        int64_t shape[4];
        zt_rope_params p;
    } cases[] = {
        {4, {2, 60, 3, 34}, {{3, 4, 5}, {1, 0, 2}, {5, 6, 6}, 10000.0}},
        {3, {63, 2, 128}, {{1, 7, 9}, {0, 0, 0}, {22, 21, 21}, 10000.0}},
        {4, {3, 6, 1, 16}, {{2, 3, 1}, {4, 0, 0}, {0, 4, 4}, 500.0}}, /* an empty section */
        /* the GPU keeps its last table: the same params twice, then back to the first */
        {4, {3, 6, 1, 16}, {{2, 3, 1}, {4, 0, 0}, {0, 4, 4}, 500.0}},
        {4, {3, 6, 1, 16}, {{2, 3, 1}, {4, 0, 1}, {0, 4, 4}, 500.0}}, /* one offset moved */
        {4, {2, 60, 3, 34}, {{3, 4, 5}, {1, 0, 2}, {5, 6, 6}, 10000.0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        zt_tensor tx = tensor(ZT_F32, cases[c].nd, cases[c].shape, NULL);
        int64_t n = zt_tensor_numel(&tx);
        tx.data = randn(n, 2.0);
        zt_tensor gx = dev_of(&tx);
        CHECK_OK(zt_op_rope3d(cpu, &tx, &cases[c].p));
        CHECK_OK(zt_op_rope3d(gpu, &gx, &cases[c].p));
        char name[96], sh[48];
        snprintf(name, sizeof name, "rope3d %s", zt_tensor_shape_str(&tx, sh, sizeof sh));
        /* the same double tables and product, one rounding: 1e-6 allows double FMA
         * contraction flipping a last f32 bit */
        compare_dev(name, gx.data, tx.data, n, 1e-6);
        dev_free_all();
    }
}

/* ---- layout -------------------------------------------------------------------------------- */

static void test_upsample(void) {
    static const struct {
        int nd;
        int64_t x[4], y[4];
    } cases[] = {
        {4, {2, 3, 4, 5}, {2, 3, 8, 10}},
        {3, {1, 3, 5}, {2, 6, 7}},
        {2, {4, 9}, {3, 4}}, /* downsampling */
        {1, {7}, {13}},
        {1, {1000003}, {1000003}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        zt_tensor tx = tensor(ZT_F32, cases[c].nd, cases[c].x, NULL);
        zt_tensor ty = tensor(ZT_F32, cases[c].nd, cases[c].y, NULL);
        int64_t ny = zt_tensor_numel(&ty);
        tx.data = randn(zt_tensor_numel(&tx), 1.0);
        ty.data = halloc((size_t)ny * 4);
        zt_tensor gx = dev_of(&tx), gy = dev_of(&ty);
        CHECK_OK(zt_op_upsample_nearest(cpu, &ty, &tx));
        CHECK_OK(zt_op_upsample_nearest(gpu, &gy, &gx));
        char name[96], s1[48], s2[48];
        snprintf(name, sizeof name, "upsample %s -> %s", zt_tensor_shape_str(&tx, s1, sizeof s1),
                 zt_tensor_shape_str(&ty, s2, sizeof s2));
        compare_bytes(name, gy.data, ty.data, (size_t)ny * 4);
        dev_free_all();
    }
}

/* pad x (a view into base of base_bytes) by pads, value v */
static void pad_case(const char *name, const zt_tensor *tx, const void *base, size_t base_bytes,
                     const int64_t (*pads)[2], float v) {
    int64_t ys[ZT_MAX_DIMS];
    for (int d = 0; d < tx->ndim; d++) ys[d] = tx->shape[d] + pads[d][0] + pads[d][1];
    zt_tensor ty = tensor(ZT_F32, tx->ndim, ys, NULL);
    int64_t ny = zt_tensor_numel(&ty);
    ty.data = halloc((size_t)ny * 4);
    zt_tensor gx = dev_view(tx, base, base_bytes), gy = dev_of(&ty);
    CHECK_OK(zt_op_pad(cpu, &ty, tx, pads, v));
    CHECK_OK(zt_op_pad(gpu, &gy, &gx, pads, v));
    compare_bytes(name, gy.data, ty.data, (size_t)ny * 4);
    dev_free_all();
}

static void test_pad(void) {
    float *x = randn(1000003, 1.0);
    zt_tensor t = zt_tensor_new(ZT_F32, x, 3, 4, 5), v;
    pad_case("pad (3, 4, 5)", &t, x, 60 * 4, (const int64_t[][2]){{1, 0}, {0, 2}, {3, 1}}, -1.5f);
    t = zt_tensor_new(ZT_F32, x, 4, 5);
    CHECK_OK(zt_tensor_permute(&v, &t, (const int[]){1, 0}));
    pad_case("pad transposed (5, 4)", &v, x, 20 * 4, (const int64_t[][2]){{2, 1}, {0, 3}}, 0.0f);
    t = zt_tensor_new(ZT_F32, x, 2, 4, 3);
    CHECK_OK(zt_tensor_narrow(&v, &t, 1, 1, 2));
    pad_case("pad narrowed (2, 2, 3)", &v, x, 24 * 4,
             (const int64_t[][2]){{0, 0}, {1, 1}, {2, 0}}, 7.0f);
    t = zt_tensor_new(ZT_F32, x, 1000003);
    pad_case("pad (1000003)", &t, x, 1000003 * 4, (const int64_t[][2]){{1, 1}}, 2.0f);
    t = zt_tensor_new(ZT_F32, x, 2, 3);
    pad_case("pad nothing (2, 3)", &t, x, 6 * 4, (const int64_t[][2]){{0, 0}, {0, 0}}, 1.0f);
}

/* Concatenate three inputs of dtype t along axis: x0 [2, a, 5]-like shapes built from
 * sizes along the axis, the second input a transposed (strided) view. */
static void concat_case(zt_dtype t, int axis) {
    size_t es = zt_dtype_size(t);
    int64_t along[3] = {3, 1, 4}, total = 8;
    int64_t base_shape[3] = {2, 6, 5};
    zt_tensor xs[3], gxs[3];
    for (int i = 0; i < 3; i++) {
        int64_t s[3] = {base_shape[0], base_shape[1], base_shape[2]};
        s[axis] = along[i];
        int64_t n = s[0] * s[1] * s[2];
        uint8_t *buf = halloc((size_t)n * es);
        for (size_t k = 0; k < (size_t)n * es; k++) buf[k] = (uint8_t)zt_test_rand_u64(&rng);
        if (i == 1) { /* stored as (s2, s1, s0) and viewed permuted back: strided */
            zt_tensor st = zt_tensor_new(t, buf, s[2], s[1], s[0]);
            CHECK_OK(zt_tensor_permute(&xs[i], &st, (const int[]){2, 1, 0}));
        } else {
            xs[i] = zt_tensor_new(t, buf, s[0], s[1], s[2]);
        }
        gxs[i] = dev_view(&xs[i], buf, (size_t)n * es);
    }
    int64_t ys[3] = {base_shape[0], base_shape[1], base_shape[2]};
    ys[axis] = total;
    zt_tensor ty = tensor(t, 3, ys, NULL);
    size_t bytes = zt_tensor_nbytes(&ty);
    ty.data = halloc(bytes);
    zt_tensor gy = dev_of(&ty);
    CHECK_OK(zt_op_concat(cpu, &ty, xs, 3, axis));
    CHECK_OK(zt_op_concat(gpu, &gy, gxs, 3, axis));
    char name[96];
    snprintf(name, sizeof name, "concat %s axis %d", zt_dtype_name(t), axis);
    compare_bytes(name, gy.data, ty.data, bytes);
    dev_free_all();
}

static void test_concat(void) {
    for (int axis = 0; axis < 3; axis++) concat_case(ZT_F32, axis);
    concat_case(ZT_BF16, 2);
    concat_case(ZT_U8, 0);
    concat_case(ZT_I64, 1);
    /* a long one along the only axis */
    float *a = randn(1000003, 1.0), *b = randn(5, 1.0), *y = halloc(1000008 * 4);
    zt_tensor xs[2] = {zt_tensor_new(ZT_F32, a, 1000003), zt_tensor_new(ZT_F32, b, 5)};
    zt_tensor gxs[2] = {dev_of(&xs[0]), dev_of(&xs[1])};
    zt_tensor ty = zt_tensor_new(ZT_F32, y, 1000008), gy = dev_of(&ty);
    CHECK_OK(zt_op_concat(cpu, &ty, xs, 2, 0));
    CHECK_OK(zt_op_concat(gpu, &gy, gxs, 2, 0));
    compare_bytes("concat f32 (1000003) + (5)", gy.data, y, 1000008 * 4);
    dev_free_all();
}

/* f32 values that exercise the 16-bit roundings: specials, ties, overflow, subnormals,
 * then random magnitudes over a wide range. */
static float *conv_values(int64_t n) {
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f,
                                    65519.99f, 65520.0f, -70000.0f, 6e-8f, 3e-8f, 2.98e-8f,
                                    1e-45f, -1e-40f, 3.4e38f, 1.00048828125f, 1.00146484375f,
                                    1.00390625f, 1.01171875f, 6.1035156e-05f, 6.0e-05f};
    float *x = halloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        if (i < (int64_t)(sizeof special / sizeof special[0])) {
            x[i] = special[i];
            continue;
        }
        double e = -30.0 + 50.0 * zt_test_rand_uniform(&rng);
        x[i] = (float)(zt_test_rand_normal(&rng) * pow(2.0, e));
    }
    return x;
}

/* Copy src (host view over sbase, sbytes) into y (host view over ybase, ybytes, which
 * is zeroed first on both sides), compare y's whole storage bit for bit. */
static void copy_case(const char *name, const zt_tensor *x, const void *sbase, size_t sbytes,
                      const zt_tensor *y, void *ybase, size_t ybytes) {
    memset(ybase, 0, ybytes);
    zt_tensor gx = dev_view(x, sbase, sbytes), gy = dev_view(y, ybase, ybytes);
    CHECK_OK(zt_op_copy(cpu, (zt_tensor *)y, x));
    CHECK_OK(zt_op_copy(gpu, &gy, &gx));
    compare_bytes(name, (char *)gy.data - ((char *)y->data - (char *)ybase), ybase, ybytes);
    dev_free_all();
}

static void test_copy(void) {
    const int64_t n = 1000003;
    float *f = conv_values(n);
    uint16_t *h = halloc((size_t)n * 2), *bf = halloc((size_t)n * 2);
    zt_convert_from_f32(h, ZT_F16, f, n);
    zt_convert_from_f32(bf, ZT_BF16, f, n);
    uint8_t *f8 = halloc(256 * 3);
    for (int i = 0; i < 256 * 3; i++) f8[i] = (uint8_t)i;
    void *out = halloc((size_t)n * 4);
    zt_tensor x, y, v;

    /* contiguous conversions between every pair (the packed convert path) */
    static const zt_dtype fl[3] = {ZT_F32, ZT_F16, ZT_BF16};
    void *src[3] = {f, h, bf};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            char name[96];
            snprintf(name, sizeof name, "copy %s -> %s (1000003)", zt_dtype_name(fl[a]),
                     zt_dtype_name(fl[b]));
            x = tensor(fl[a], 1, (const int64_t[]){n}, src[a]);
            y = tensor(fl[b], 1, (const int64_t[]){n}, out);
            copy_case(name, &x, src[a], (size_t)n * zt_dtype_size(fl[a]), &y, out,
                      (size_t)n * zt_dtype_size(fl[b]));
        }

    /* f8 sources, every byte value */
    x = zt_tensor_new(ZT_F8_E4M3, f8, 3, 256);
    y = zt_tensor_new(ZT_F32, out, 3, 256);
    copy_case("copy f8e4m3 -> f32", &x, f8, 768, &y, out, 768 * 4);
    x = zt_tensor_new(ZT_F8_E5M2, f8, 3, 256);
    y = zt_tensor_new(ZT_BF16, out, 3, 256);
    copy_case("copy f8e5m2 -> bf16", &x, f8, 768, &y, out, 768 * 2);

    /* strided source: a transpose, converting and not */
    zt_tensor t = zt_tensor_new(ZT_F32, f, 37, 129);
    CHECK_OK(zt_tensor_permute(&x, &t, (const int[]){1, 0}));
    y = zt_tensor_new(ZT_F32, out, 129, 37);
    copy_case("copy f32 transposed", &x, f, 37 * 129 * 4, &y, out, 37 * 129 * 4);
    y = zt_tensor_new(ZT_F16, out, 129, 37);
    copy_case("copy f32 transposed -> f16", &x, f, 37 * 129 * 4, &y, out, 37 * 129 * 2);

    /* strided destination: bf16 into a narrowed, permuted view of a 4-D buffer */
    t = zt_tensor_new(ZT_BF16, bf, 3, 5, 7, 11);
    y = zt_tensor_new(ZT_F32, out, 3, 7, 9, 11); /* storage 3*7*9*11 f32 */
    CHECK_OK(zt_tensor_narrow(&v, &y, 2, 2, 5));  /* (3, 7, 5, 11) */
    zt_tensor yv;
    CHECK_OK(zt_tensor_permute(&yv, &v, (const int[]){0, 2, 1, 3})); /* (3, 5, 7, 11) */
    copy_case("copy bf16 -> f32 strided dst", &t, bf, 3 * 5 * 7 * 11 * 2, &yv, out,
              3 * 7 * 9 * 11 * 4);

    /* 5-D, both sides strided, f16 to bf16 */
    t = zt_tensor_new(ZT_F16, h, 2, 3, 4, 5, 6);
    CHECK_OK(zt_tensor_permute(&x, &t, (const int[]){4, 2, 0, 3, 1})); /* (6, 4, 2, 5, 3) */
    y = zt_tensor_new(ZT_BF16, out, 6, 4, 3, 5, 2);
    CHECK_OK(zt_tensor_permute(&yv, &y, (const int[]){0, 1, 4, 3, 2})); /* (6, 4, 2, 5, 3) */
    copy_case("copy f16 -> bf16 5-D strided", &x, h, 720 * 2, &yv, out, 720 * 2);

    /* one element, 0-dim */
    x = tensor(ZT_F32, 0, NULL, f + 4);
    y = tensor(ZT_F16, 0, NULL, out);
    copy_case("copy 0-dim f32 NaN -> f16", &x, f + 4, 4, &y, out, 2);
}

int main(void) {
    if (!zt_backend_cuda_available()) {
        printf("SKIP: no CUDA GPU (or no CUDA backend in this build)\n");
        return 77;
    }
    CHECK_OK(zt_backend_cpu_init(&cpu, 2));
    CHECK_OK(zt_backend_cuda_init(&gpu, 0));
    if (zt_test_failures) return zt_test_finish();

    test_norms();
    test_l2_norm();
    test_binary();
    test_modulate();
    test_softmax();
    test_rope();
    test_upsample();
    test_pad();
    test_concat();
    test_copy();

    dev_free_all();
    zt_backend_free(gpu);
    zt_backend_free(cpu);
    return zt_test_finish();
}

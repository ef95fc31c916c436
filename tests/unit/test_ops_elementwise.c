/* unary, binary (broadcasting, strided inputs), modulate, gated_add and copy on the
 * CPU backend against float64 references and half.h's roundings; in place and
 * bit-identical results for 1 and 3 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/half.h"
#include "core/ops.h"
#include "testlib.h"

#define TOL 1e-5

static zt_backend *be1, *be3;
static zt_test_rng rng = {7};

static void *alloc(size_t bytes) { return zt_test_alloc(bytes); }
static float *randn(int64_t n, double sd) {
    float *x = alloc((size_t)n * sizeof *x);
    zt_test_fill_normal(&rng, x, n, sd);
    return x;
}
static double *dalloc(int64_t n) { return alloc((size_t)n * sizeof(double)); }

/* offset in elements of the multi-index of flat position i (row-major over shape) */
static int64_t offset_of(const zt_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->stride[d];
        i /= t->shape[d];
    }
    return off;
}

/* ---- unary -------------------------------------------------------------------------- */

static double ref_unary(zt_unary_op op, double x, double a, double b) {
    switch (op) {
    case ZT_UNARY_SILU: return x / (1 + exp(-x));
    /* 1 + tanh(u) and 1 + erf(z) lose everything to cancellation for x below about
     * -6 even in double; the same quantities without it: */
    case ZT_UNARY_GELU_TANH: {
        double u = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
        return u >= 0 ? 0.5 * x * (1 + tanh(u)) : x * exp(2 * u) / (1 + exp(2 * u));
    }
    case ZT_UNARY_GELU_ERF: return 0.5 * x * erfc(-x / sqrt(2.0));
    case ZT_UNARY_SCALE: return a * x + b;
    case ZT_UNARY_CLAMP: return x < a ? a : x > b ? b : x;
    case ZT_UNARY_TANH: return tanh(x);
    case ZT_UNARY_SIGMOID: return 1 / (1 + exp(-x));
    case ZT_UNARY_EXP: return exp(x);
    default: return NAN;
    }
}

static const char *unary_names[] = {"silu", "gelu_tanh", "gelu_erf", "scale",
                                    "clamp", "tanh", "sigmoid", "exp"};

static void test_unary(void) {
    /* odd size over three tasks; the head holds a sweep of [-12, 12] and extremes */
    int64_t n = 7 * 10001, sweep = 4801;
    float *x = randn(n, 3.0), *y = alloc((size_t)n * 4), *y3 = alloc((size_t)n * 4);
    float *xe = alloc((size_t)n * 4);
    double *ref = dalloc(n);
    for (int64_t i = 0; i < sweep; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(sweep - 1);
    const float extremes[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 86.9f, -86.9f,
                              88.5f, -88.5f, 100.0f, -100.0f, 1e-6f, -1e-6f};
    memcpy(x + sweep, extremes, sizeof extremes);
    int64_t n_ext = sweep + (int64_t)(sizeof extremes / sizeof *extremes);
    zt_tensor tx = zt_tensor_new(ZT_F32, x, 7, 10001), ty = zt_tensor_new(ZT_F32, y, 7, 10001);
    zt_tensor ty3 = zt_tensor_new(ZT_F32, y3, 7, 10001);
    zt_tensor txe = zt_tensor_new(ZT_F32, xe, 7, 10001);
    for (int op = 0; op < ZT_UNARY_COUNT; op++) {
        float a = op == ZT_UNARY_CLAMP ? -1.5f : 1.7f, b = op == ZT_UNARY_CLAMP ? 2.0f : -0.3f;
        /* exp over the full normal range would let the largest values hide the rest */
        const float *in = x;
        if (op == ZT_UNARY_EXP) {
            for (int64_t i = 0; i < n; i++) xe[i] = x[i] > 20 ? 20 : x[i] < -80 ? -80 : x[i];
            in = xe;
        }
        zt_tensor *tin = op == ZT_UNARY_EXP ? &txe : &tx;
        CHECK_OK(zt_op_unary(be1, &ty, tin, (zt_unary_op)op, a, b));
        CHECK_OK(zt_op_unary(be3, &ty3, tin, (zt_unary_op)op, a, b));
        for (int64_t i = 0; i < n; i++) ref[i] = ref_unary((zt_unary_op)op, in[i], a, b);
        char name[64];
        snprintf(name, sizeof name, "unary %s", unary_names[op]);
        zt_test_compare(name, y, ref, n, TOL);
        /* elementwise relative error over the sweep, where max-normalized error would
         * hide mistakes on small outputs (the SiLU/GELU tails). Only |x| <= 5: beyond,
         * exp(arg) amplifies the f32 rounding of its argument by |arg| (GELU's reaches
         * 70 at x = -9). scale is left out: a x + b cancels near its root. */
        double worst = 0;
        int64_t at = 0;
        for (int64_t i = 0; i < n_ext && op != ZT_UNARY_SCALE; i++) {
            if (fabs(in[i]) > 5 || fabs(ref[i]) < 1e-30) continue;
            double e = fabs(y[i] - ref[i]) / fabs(ref[i]);
            if (!(e <= worst)) {
                worst = e;
                at = i;
            }
        }
        /* GELU's f32 cubic argument costs a few ulp more; the rest are near 1 ulp */
        double etol = op == ZT_UNARY_GELU_TANH || op == ZT_UNARY_GELU_ERF ? 1e-5 : 1e-6;
        if (op != ZT_UNARY_SCALE)
            printf("  %-40s max elementwise rel err %.3e (tol %.0e)\n", name, worst, etol);
        CHECK(worst <= etol, "%s: rel err %g at x = %.9g (got %.9g, want %.9g)", name, worst,
              in[at], y[at], ref[at]);
        CHECK(memcmp(y, y3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    }
    /* in place */
    memcpy(xe, x, (size_t)n * 4);
    CHECK_OK(zt_op_silu(be3, &txe, &txe));
    CHECK_OK(zt_op_silu(be3, &ty, &tx));
    CHECK(memcmp(xe, y, (size_t)n * 4) == 0, "silu in place differs");
    /* NaN survives the fast exp's clamp in SiLU and GELU */
    float nan_in[2] = {NAN, -NAN}, nan_out[2];
    zt_tensor tn = zt_tensor_new(ZT_F32, nan_in, 2), tno = zt_tensor_new(ZT_F32, nan_out, 2);
    CHECK_OK(zt_op_silu(be1, &tno, &tn));
    CHECK(isnan(nan_out[0]) && isnan(nan_out[1]), "silu(NaN) = %g, %g", nan_out[0], nan_out[1]);
    CHECK_OK(zt_op_gelu_tanh(be1, &tno, &tn));
    CHECK(isnan(nan_out[0]) && isnan(nan_out[1]), "gelu(NaN) = %g, %g", nan_out[0], nan_out[1]);
    CHECK_OK(zt_op_unary(be1, &tno, &tn, ZT_UNARY_GELU_ERF, 0, 0));
    CHECK(isnan(nan_out[0]) && isnan(nan_out[1]), "gelu_erf(NaN) = %g, %g", nan_out[0],
          nan_out[1]);
}

/* ---- binary --------------------------------------------------------------------------- */

static double ref_binary(zt_binary_op op, double u, double v) {
    switch (op) {
    case ZT_BINARY_ADD: return u + v;
    case ZT_BINARY_SUB: return u - v;
    case ZT_BINARY_MUL: return u * v;
    case ZT_BINARY_DIV: return u / v;
    default: return NAN;
    }
}

/* element of t (right-aligned, broadcast) for output multi-index idx of ndim dims */
static double bcast_at(const zt_tensor *t, int ndim, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        int64_t i = idx[d + ndim - t->ndim];
        off += (t->shape[d] == 1 ? 0 : i) * t->stride[d];
    }
    return ((const float *)t->data)[off];
}

static const char *binary_names[] = {"add", "sub", "mul", "div"};

static void check_binary(const char *what, const zt_tensor *a, const zt_tensor *b, int ndim,
                         const int64_t *shape) {
    zt_tensor tc = zt_tensor_make(ZT_F32, ndim, shape, NULL);
    int64_t n = zt_tensor_numel(&tc);
    float *c = alloc((size_t)n * 4), *c3 = alloc((size_t)n * 4);
    double *ref = dalloc(n);
    zt_tensor tc3 = tc;
    tc.data = c;
    tc3.data = c3;
    for (int op = 0; op < ZT_BINARY_COUNT; op++) {
        CHECK_OK(zt_op_binary(be1, &tc, a, b, (zt_binary_op)op));
        CHECK_OK(zt_op_binary(be3, &tc3, a, b, (zt_binary_op)op));
        for (int64_t i = 0; i < n; i++) {
            int64_t idx[ZT_MAX_DIMS], r = i;
            for (int d = ndim - 1; d >= 0; d--) {
                idx[d] = r % shape[d];
                r /= shape[d];
            }
            ref[i] = ref_binary((zt_binary_op)op, bcast_at(a, ndim, idx), bcast_at(b, ndim, idx));
        }
        char name[96];
        snprintf(name, sizeof name, "binary %s %s", binary_names[op], what);
        /* one rounding of an exact double result: not above half an ulp anywhere */
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs(c[i] - ref[i]) / fmax(fabs(ref[i]), 1e-30);
            if (!(e <= worst)) worst = e;
        }
        zt_test_compare(name, c, ref, n, TOL);
        CHECK(worst <= 6e-8, "%s: elementwise rel err %g", name, worst);
        CHECK(memcmp(c, c3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    }
}

/* values away from 0 so division stays well conditioned */
static float *rand_away(int64_t n) {
    float *x = randn(n, 1.0);
    for (int64_t i = 0; i < n; i++) x[i] += x[i] < 0 ? -0.5f : 0.5f;
    return x;
}

static void test_binary(void) {
    float *a = rand_away(300 * 257), *b = rand_away(300 * 257);
    zt_tensor ta = zt_tensor_new(ZT_F32, a, 37, 129), tb = zt_tensor_new(ZT_F32, b, 37, 129);
    check_binary("same shape", &ta, &tb, 2, ZT_SHAPE(37, 129));

    zt_tensor row = zt_tensor_new(ZT_F32, b, 129);
    check_binary("row vector [129]", &ta, &row, 2, ZT_SHAPE(37, 129));
    check_binary("row vector first", &row, &ta, 2, ZT_SHAPE(37, 129));
    zt_tensor col = zt_tensor_new(ZT_F32, b, 37, 1);
    check_binary("column [37, 1]", &ta, &col, 2, ZT_SHAPE(37, 129));
    zt_tensor sc = zt_tensor_new(ZT_F32, b, 1);
    check_binary("scalar [1]", &ta, &sc, 2, ZT_SHAPE(37, 129));
    check_binary("scalar first", &sc, &ta, 2, ZT_SHAPE(37, 129));
    zt_tensor outer_a = zt_tensor_new(ZT_F32, a, 37, 1), outer_b = zt_tensor_new(ZT_F32, b, 129);
    check_binary("outer [37,1] x [129]", &outer_a, &outer_b, 2, ZT_SHAPE(37, 129));

    /* several tasks with task boundaries inside rows */
    zt_tensor big = zt_tensor_new(ZT_F32, a, 300, 257), brow = zt_tensor_new(ZT_F32, b, 257);
    check_binary("row vector [300, 257]", &big, &brow, 2, ZT_SHAPE(300, 257));

    /* 5-D: a permuted view, b a strided slice with broadcast dims */
    zt_tensor base = zt_tensor_new(ZT_F32, a, 3, 4, 5, 6, 7), pa, nb, pb;
    CHECK_OK(zt_tensor_permute(&pa, &base, (const int[]){0, 2, 1, 4, 3})); /* (3,5,4,7,6) */
    zt_tensor bbase = zt_tensor_new(ZT_F32, b, 1, 9, 1, 8, 6);
    CHECK_OK(zt_tensor_narrow(&nb, &bbase, 1, 2, 5));
    CHECK_OK(zt_tensor_narrow(&pb, &nb, 3, 1, 7)); /* (1,5,1,7,6), strided */
    check_binary("5-D permuted + strided broadcast", &pa, &pb, 5, ZT_SHAPE(3, 5, 4, 7, 6));
    zt_tensor tail = zt_tensor_new(ZT_F32, b, 7, 1);
    check_binary("5-D permuted, [7, 1]", &pa, &tail, 5, ZT_SHAPE(3, 5, 4, 7, 6));
    /* step-2 view along the last dim */
    zt_tensor wide = zt_tensor_new(ZT_F32, b, 37, 258), step2 = wide;
    step2.shape[1] = 129;
    step2.stride[1] = 2;
    check_binary("stride-2 last dim", &ta, &step2, 2, ZT_SHAPE(37, 129));

    /* in place: c is a */
    int64_t n = 37 * 129;
    float *acc = alloc((size_t)n * 4), *want = alloc((size_t)n * 4);
    memcpy(acc, a, (size_t)n * 4);
    zt_tensor tacc = zt_tensor_new(ZT_F32, acc, 37, 129), tw = zt_tensor_new(ZT_F32, want, 37, 129);
    CHECK_OK(zt_op_add(be3, &tw, &ta, &row));
    CHECK_OK(zt_op_add(be3, &tacc, &tacc, &row));
    CHECK(memcmp(acc, want, (size_t)n * 4) == 0, "binary in place differs");
}

/* ---- modulate and gated_add ---------------------------------------------------------- */

static void test_modulate(int64_t l, int64_t d, int shift_full, int scale_full) {
    int64_t n = l * d;
    float *x = randn(n, 1.0), *y = alloc((size_t)n * 4), *y3 = alloc((size_t)n * 4);
    float *sh = randn(shift_full ? n : d, 0.5), *sc = randn(scale_full ? n : d, 0.5);
    double *ref = dalloc(n);
    zt_tensor tx = zt_tensor_new(ZT_F32, x, l, d), ty = zt_tensor_new(ZT_F32, y, l, d);
    zt_tensor ty3 = zt_tensor_new(ZT_F32, y3, l, d);
    zt_tensor tsh = shift_full ? zt_tensor_new(ZT_F32, sh, l, d) : zt_tensor_new(ZT_F32, sh, d);
    zt_tensor tsc = scale_full ? zt_tensor_new(ZT_F32, sc, l, d) : zt_tensor_new(ZT_F32, sc, d);
    CHECK_OK(zt_op_modulate(be1, &ty, &tx, &tsh, &tsc));
    CHECK_OK(zt_op_modulate(be3, &ty3, &tx, &tsh, &tsc));
    for (int64_t r = 0; r < l; r++)
        for (int64_t i = 0; i < d; i++) {
            int64_t k = r * d + i;
            ref[k] = (double)x[k] * (1.0 + sc[scale_full ? k : i]) + sh[shift_full ? k : i];
        }
    char name[96];
    snprintf(name, sizeof name, "modulate %lldx%lld shift %s scale %s", (long long)l,
             (long long)d, shift_full ? "[L,D]" : "[D]", scale_full ? "[L,D]" : "[D]");
    zt_test_compare(name, y, ref, n, TOL);
    CHECK(memcmp(y, y3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    CHECK_OK(zt_op_modulate(be3, &tx, &tx, &tsh, &tsc));
    CHECK(memcmp(x, y, (size_t)n * 4) == 0, "%s: in place differs", name);
}

static void test_gated_add(int64_t l, int64_t d, int gate_full) {
    int64_t n = l * d;
    float *acc = randn(n, 1.0), *acc3 = alloc((size_t)n * 4), *y = randn(n, 1.0);
    float *g = randn(gate_full ? n : d, 0.5);
    double *ref = dalloc(n);
    memcpy(acc3, acc, (size_t)n * 4);
    for (int64_t k = 0; k < n; k++) ref[k] = (double)acc[k] + (double)y[k] * g[gate_full ? k : k % d];
    zt_tensor ta = zt_tensor_new(ZT_F32, acc, l, d), ta3 = zt_tensor_new(ZT_F32, acc3, l, d);
    zt_tensor ty = zt_tensor_new(ZT_F32, y, l, d);
    zt_tensor tg = gate_full ? zt_tensor_new(ZT_F32, g, l, d) : zt_tensor_new(ZT_F32, g, d);
    CHECK_OK(zt_op_gated_add(be1, &ta, &ty, &tg));
    CHECK_OK(zt_op_gated_add(be3, &ta3, &ty, &tg));
    char name[96];
    snprintf(name, sizeof name, "gated_add %lldx%lld gate %s", (long long)l, (long long)d,
             gate_full ? "[L,D]" : "[D]");
    zt_test_compare(name, acc, ref, n, TOL);
    CHECK(memcmp(acc, acc3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
}

/* ---- copy --------------------------------------------------------------------------- */

/* float inputs that probe rounding: ties to even in bf16 and f16, subnormals,
 * overflow, signed zero, infinities, NaN, then random values of many magnitudes */
static float *tricky_floats(int64_t n) {
    static const uint32_t bits[] = {
        0x3f808000u, /* bf16 tie, even below: 1.0 */
        0x3f818000u, /* bf16 tie, even above */
        0x3f808001u, /* just past a bf16 tie */
        0x3f801000u, /* f16 tie: 1 + 2^-11 -> 1.0 */
        0x3f803000u, /* f16 tie: 1 + 3*2^-11 -> 1 + 2^-9 */
        0x477ff000u, /* 65520: f16 rounds to inf */
        0x477fefffu, /* just below: 65504 */
        0x33000000u, /* 2^-25: f16 subnormal tie -> 0 */
        0x33c00000u, /* 3*2^-25: tie -> 2^-23 */
        0x387fc000u, /* f16 subnormal edge */
        0x00000001u, /* f32 subnormal */
        0x80000000u, /* -0 */
        0x7f800000u, 0xff800000u, 0x7fc00000u, 0xff7fffffu, 0x7f7fffffu};
    float *x = alloc((size_t)n * 4);
    int64_t k = (int64_t)(sizeof bits / sizeof *bits);
    for (int64_t i = 0; i < n; i++) {
        if (i < k) {
            x[i] = zt_bits_to_f32(bits[i]);
        } else {
            double e = -30 + 50 * zt_test_rand_uniform(&rng);
            x[i] = (float)(zt_test_rand_normal(&rng) * pow(2.0, e));
        }
    }
    return x;
}

static int same_value(float a, float b) {
    return (isnan(a) && isnan(b)) || zt_f32_to_bits(a) == zt_f32_to_bits(b);
}

static void test_copy_rounding(void) {
    int64_t n = 40011; /* two tasks */
    float *x = tricky_floats(n);
    uint16_t *h = alloc((size_t)n * 2), *bf = alloc((size_t)n * 2), *h2 = alloc((size_t)n * 2);
    uint16_t *bf2 = alloc((size_t)n * 2);
    float *back = alloc((size_t)n * 4);
    zt_tensor tx = zt_tensor_new(ZT_F32, x, 3, n / 3), th = zt_tensor_new(ZT_F16, h, 3, n / 3);
    zt_tensor tbf = zt_tensor_new(ZT_BF16, bf, 3, n / 3);
    zt_tensor th2 = zt_tensor_new(ZT_F16, h2, 3, n / 3), tbf2 = zt_tensor_new(ZT_BF16, bf2, 3, n / 3);
    zt_tensor tback = zt_tensor_new(ZT_F32, back, 3, n / 3);
    int bad;

    CHECK_OK(zt_op_copy(be3, &tbf, &tx));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += bf[i] != zt_f32_to_bf16(x[i]);
    CHECK(bad == 0, "f32 -> bf16: %d values differ from half.h", bad);
    CHECK(bf[0] == 0x3f80 && bf[1] == 0x3f82 && bf[2] == 0x3f81, "bf16 ties: %04x %04x %04x",
          bf[0], bf[1], bf[2]);

    CHECK_OK(zt_op_copy(be3, &th, &tx));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += h[i] != zt_f32_to_f16(x[i]);
    CHECK(bad == 0, "f32 -> f16: %d values differ from half.h", bad);
    CHECK(h[3] == 0x3c00 && h[4] == 0x3c02 && h[5] == 0x7c00 && h[6] == 0x7bff && h[7] == 0 &&
              h[8] == 2,
          "f16 rounding: %04x %04x %04x %04x %04x %04x", h[3], h[4], h[5], h[6], h[7], h[8]);

    CHECK_OK(zt_op_copy(be3, &tback, &tbf));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !same_value(back[i], zt_bf16_to_f32(bf[i]));
    CHECK(bad == 0, "bf16 -> f32: %d values differ", bad);

    CHECK_OK(zt_op_copy(be3, &tback, &th));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !same_value(back[i], zt_f16_to_f32(h[i]));
    CHECK(bad == 0, "f16 -> f32: %d values differ", bad);

    CHECK_OK(zt_op_copy(be3, &th2, &tbf));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += h2[i] != zt_f32_to_f16(zt_bf16_to_f32(bf[i]));
    CHECK(bad == 0, "bf16 -> f16: %d values differ", bad);

    CHECK_OK(zt_op_copy(be3, &tbf2, &th));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += bf2[i] != zt_f32_to_bf16(zt_f16_to_f32(h[i]));
    CHECK(bad == 0, "f16 -> bf16: %d values differ", bad);

    CHECK_OK(zt_op_copy(be3, &th2, &th));
    CHECK(memcmp(h, h2, (size_t)n * 2) == 0, "f16 -> f16 is not bit exact");

    /* every f8 code, to f32 and to bf16 */
    uint8_t codes[256];
    float f8out[256];
    uint16_t f8bf[256];
    for (int i = 0; i < 256; i++) codes[i] = (uint8_t)i;
    for (int fmt = 0; fmt < 2; fmt++) {
        zt_dtype dt = fmt ? ZT_F8_E5M2 : ZT_F8_E4M3;
        zt_tensor tc = zt_tensor_new(dt, codes, 16, 16);
        zt_tensor to = zt_tensor_new(ZT_F32, f8out, 16, 16);
        zt_tensor tob = zt_tensor_new(ZT_BF16, f8bf, 16, 16);
        CHECK_OK(zt_op_copy(be1, &to, &tc));
        CHECK_OK(zt_op_copy(be1, &tob, &tc));
        bad = 0;
        for (int i = 0; i < 256; i++) {
            float want = fmt ? zt_f8e5m2_to_f32(codes[i]) : zt_f8e4m3_to_f32(codes[i]);
            bad += !same_value(f8out[i], want);
            bad += f8bf[i] != zt_f32_to_bf16(want);
        }
        CHECK(bad == 0, "%s: %d codes differ", zt_dtype_name(dt), bad);
        if (dt == ZT_F8_E4M3)
            CHECK(f8out[0x38] == 1.0f && f8out[0x7e] == 448.0f && isnan(f8out[0x7f]),
                  "e4m3 decode: %g %g %g", f8out[0x38], f8out[0x7e], f8out[0x7f]);
        else
            CHECK(f8out[0x3c] == 1.0f && f8out[0x7b] == 57344.0f && isinf(f8out[0x7c]),
                  "e5m2 decode: %g %g %g", f8out[0x3c], f8out[0x7b], f8out[0x7c]);
    }
}

/* permuted and strided views on either side */
static void test_copy_strided(void) {
    /* x: permuted view of a (4, 5, 6, 7) buffer; y contiguous */
    int64_t n = 4 * 5 * 6 * 7;
    float *src = randn(n, 1.0), *y = alloc((size_t)n * 4);
    zt_tensor base = zt_tensor_new(ZT_F32, src, 4, 5, 6, 7), px;
    CHECK_OK(zt_tensor_permute(&px, &base, (const int[]){3, 1, 0, 2})); /* (7, 5, 4, 6) */
    zt_tensor ty = zt_tensor_new(ZT_F32, y, 7, 5, 4, 6);
    CHECK_OK(zt_op_copy(be3, &ty, &px));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += y[i] != src[offset_of(&px, i)];
    CHECK(bad == 0, "permuted f32 copy: %d wrong", bad);

    /* y: a strided window of a bigger bf16 buffer; x a permuted f32 view; the rest of
     * the buffer must stay untouched */
    uint16_t *big = alloc(9 * 8 * 7 * 2);
    for (int i = 0; i < 9 * 8 * 7; i++) big[i] = 0xdead;
    zt_tensor tbig = zt_tensor_new(ZT_BF16, big, 9, 8, 7), w1, w2, x2;
    CHECK_OK(zt_tensor_narrow(&w1, &tbig, 0, 1, 7));
    CHECK_OK(zt_tensor_narrow(&w2, &w1, 2, 2, 5)); /* (7, 8, 5) inside (9, 8, 7) */
    zt_tensor base2 = zt_tensor_new(ZT_F32, src, 5, 8, 7);
    CHECK_OK(zt_tensor_permute(&x2, &base2, (const int[]){2, 1, 0})); /* (7, 8, 5) */
    CHECK_OK(zt_op_copy(be3, &w2, &x2));
    bad = 0;
    int touched = 0;
    for (int64_t i = 0; i < 7 * 8 * 5; i++) {
        uint16_t got = ((uint16_t *)w2.data)[offset_of(&w2, i)];
        bad += got != zt_f32_to_bf16(src[offset_of(&x2, i)]);
    }
    for (int i = 0; i < 9 * 8 * 7; i++) touched += big[i] != 0xdead;
    CHECK(bad == 0, "strided f32 -> bf16 window: %d wrong", bad);
    CHECK(touched == 7 * 8 * 5, "copy wrote %d elements, not %d", touched, 7 * 8 * 5);

    /* larger than one task, transposing the last two dims */
    int64_t m = 2 * 3 * 129 * 131;
    float *s2 = randn(m, 1.0), *d1 = alloc((size_t)m * 4), *d3 = alloc((size_t)m * 4);
    zt_tensor b3 = zt_tensor_new(ZT_F32, s2, 2, 3, 129, 131), pt;
    CHECK_OK(zt_tensor_permute(&pt, &b3, (const int[]){0, 1, 3, 2}));
    zt_tensor o1 = zt_tensor_new(ZT_F32, d1, 2, 3, 131, 129), o3 = o1;
    o3.data = d3;
    CHECK_OK(zt_op_copy(be1, &o1, &pt));
    CHECK_OK(zt_op_copy(be3, &o3, &pt));
    bad = 0;
    for (int64_t i = 0; i < m; i++) bad += d1[i] != s2[offset_of(&pt, i)];
    CHECK(bad == 0, "transposing copy: %d wrong", bad);
    CHECK(memcmp(d1, d3, (size_t)m * 4) == 0, "transposing copy: 1 and 3 threads differ");

    /* the same transpose converting to bf16 */
    uint16_t *hb = alloc((size_t)m * 2);
    zt_tensor ob = zt_tensor_new(ZT_BF16, hb, 2, 3, 131, 129);
    CHECK_OK(zt_op_copy(be3, &ob, &pt));
    bad = 0;
    for (int64_t i = 0; i < m; i++) bad += hb[i] != zt_f32_to_bf16(s2[offset_of(&pt, i)]);
    CHECK(bad == 0, "transposing f32 -> bf16 copy: %d wrong", bad);

    /* x contiguous along the first dim, which is not next to the last: (70, 4, 6, 5)
     * from a (4, 5, 6, 70) buffer; f16 out */
    int64_t q = 4 * 5 * 6 * 70;
    float *s3 = randn(q, 1.0);
    uint16_t *h3 = alloc((size_t)q * 2);
    zt_tensor b4 = zt_tensor_new(ZT_F32, s3, 4, 5, 6, 70), p4;
    CHECK_OK(zt_tensor_permute(&p4, &b4, (const int[]){3, 0, 2, 1}));
    zt_tensor o4 = zt_tensor_new(ZT_F16, h3, 70, 4, 6, 5);
    CHECK_OK(zt_op_copy(be3, &o4, &p4));
    bad = 0;
    for (int64_t i = 0; i < q; i++) bad += h3[i] != zt_f32_to_f16(s3[offset_of(&p4, i)]);
    CHECK(bad == 0, "permuted (3,0,2,1) f32 -> f16 copy: %d wrong", bad);
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be1, 1));
    CHECK_OK(zt_backend_cpu_init(&be3, 3));
    if (!be1 || !be3) return zt_test_finish();

    test_unary();
    test_binary();
    test_modulate(33, 67, 0, 0);
    test_modulate(33, 67, 1, 1);
    test_modulate(33, 67, 0, 1);
    test_modulate(300, 1536, 0, 0); /* several tasks */
    test_modulate(7, 1, 1, 0);
    test_gated_add(33, 67, 0);
    test_gated_add(33, 67, 1);
    test_gated_add(300, 1536, 0);
    test_copy_rounding();
    test_copy_strided();

    zt_backend_free(be1);
    zt_backend_free(be3);
    return zt_test_finish();
}

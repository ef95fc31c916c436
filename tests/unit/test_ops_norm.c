/* layer_norm, rms_norm and l2_norm on the CPU backend against float64 references
 * written out naively here; f32/bf16/f16 parameters, in place, odd sizes, and
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
static zt_test_rng rng = {42};

static void *alloc(size_t bytes) { return zt_test_alloc(bytes); }
static float *randn(int64_t n, double sd, double mean) {
    float *x = alloc((size_t)n * sizeof *x);
    zt_test_fill_normal(&rng, x, n, sd);
    for (int64_t i = 0; i < n; i++) x[i] += (float)mean;
    return x;
}
static double *dalloc(int64_t n) { return alloc((size_t)n * sizeof(double)); }

/* a parameter vector in dtype t, and its exact values as double */
typedef struct param {
    zt_tensor t;
    double *v;
} param;

static param make_param(zt_dtype dt, int64_t n, double mean, double sd) {
    param p;
    float *f = randn(n, sd, mean);
    p.v = dalloc(n);
    void *data = f;
    if (dt == ZT_BF16 || dt == ZT_F16) {
        uint16_t *h = alloc((size_t)n * 2);
        for (int64_t i = 0; i < n; i++) {
            h[i] = dt == ZT_BF16 ? zt_f32_to_bf16(f[i]) : zt_f32_to_f16(f[i]);
            f[i] = dt == ZT_BF16 ? zt_bf16_to_f32(h[i]) : zt_f16_to_f32(h[i]);
        }
        data = h;
    }
    for (int64_t i = 0; i < n; i++) p.v[i] = f[i];
    p.t = zt_tensor_new(dt, data, n);
    return p;
}

/* ---- references --------------------------------------------------------------- */

static void ref_layer_norm(double *y, const float *x, int64_t rows, int64_t d, const double *w,
                           const double *b, double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double m = 0, v = 0;
        for (int64_t i = 0; i < d; i++) m += xr[i];
        m /= (double)d;
        for (int64_t i = 0; i < d; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= (double)d;
        for (int64_t i = 0; i < d; i++)
            y[r * d + i] = (xr[i] - m) / sqrt(v + eps) * (w ? w[i] : 1.0) + (b ? b[i] : 0.0);
    }
}

static void ref_rms_norm(double *y, const float *x, int64_t rows, int64_t d, const double *w,
                         double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double ss = 0;
        for (int64_t i = 0; i < d; i++) ss += (double)xr[i] * xr[i];
        for (int64_t i = 0; i < d; i++)
            y[r * d + i] = xr[i] / sqrt(ss / (double)d + eps) * (w ? w[i] : 1.0);
    }
}

/* x viewed as [outer, c, inner], norm over c */
static void ref_l2_norm(double *y, const float *x, int64_t outer, int64_t c, int64_t inner,
                        const double *g, const double *b, double scale, double eps) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double ss = 0;
            for (int64_t k = 0; k < c; k++) {
                double v = x[(o * c + k) * inner + j];
                ss += v * v;
            }
            double n = sqrt(ss);
            if (n < eps) n = eps;
            for (int64_t k = 0; k < c; k++) {
                int64_t i = (o * c + k) * inner + j;
                y[i] = x[i] / n * scale * (g ? g[k] : 1.0) + (b ? b[k] : 0.0);
            }
        }
}

/* ---- tests ----------------------------------------------------------------------- */

/* norm_modulate (on the CPU, layer_norm then modulate): LN(x) * (1 + scale) + shift with
 * shift and scale one row or one per row, against the references; in place too; a
 * parameter that fits neither is refused. */
static void test_norm_modulate(int64_t rows, int64_t d, int shift_rows, int scale_rows) {
    char name[96];
    snprintf(name, sizeof name, "norm_modulate %lldx%lld shift %s scale %s", (long long)rows,
             (long long)d, shift_rows ? "rows" : "row", scale_rows ? "rows" : "row");
    int64_t n = rows * d, nsh = shift_rows ? n : d, nsc = scale_rows ? n : d;
    float *x = randn(n, 2.0, 3.0), *y = alloc((size_t)n * sizeof *y);
    float *sh = randn(nsh, 1.0, 0.0), *sc = randn(nsc, 0.3, 0.0);
    double *ref = dalloc(n);
    ref_layer_norm(ref, x, rows, d, NULL, NULL, 1e-6);
    for (int64_t i = 0; i < n; i++)
        ref[i] = ref[i] * (1.0 + sc[scale_rows ? i : i % d]) + sh[shift_rows ? i : i % d];
    zt_tensor tx = zt_tensor_new(ZT_F32, x, rows, d), ty = zt_tensor_new(ZT_F32, y, rows, d);
    zt_tensor tsh = zt_tensor_new(ZT_F32, sh, nsh), tsc = zt_tensor_new(ZT_F32, sc, nsc);
    CHECK_OK(zt_op_norm_modulate(be3, &ty, &tx, &tsh, &tsc, 1e-6f));
    zt_test_compare(name, y, ref, n, TOL);
    CHECK_OK(zt_op_norm_modulate(be3, &tx, &tx, &tsh, &tsc, 1e-6f));
    CHECK(memcmp(x, y, (size_t)n * sizeof *x) == 0, "%s: in place differs", name);
    zt_tensor bad = zt_tensor_new(ZT_F32, sh, d - 1);
    CHECK_FAILS(zt_op_norm_modulate(be3, &ty, &tx, &bad, &tsc, 1e-6f), ZT_ERR_RUNTIME,
                "norm_modulate: shift");
}

static void test_layer_norm(int64_t rows, int64_t d, zt_dtype wdt, int affine, double mean) {
    char name[96];
    snprintf(name, sizeof name, "layer_norm %lldx%lld %s%s mean %g", (long long)rows,
             (long long)d, affine ? "affine " : "plain", affine ? zt_dtype_name(wdt) : "", mean);
    int64_t n = rows * d;
    float *x = randn(n, 1.5, mean), *y = alloc((size_t)n * 4), *y3 = alloc((size_t)n * 4);
    double *ref = dalloc(n);
    param w = make_param(wdt, d, 1.0, 0.3), b = make_param(wdt, d, 0.0, 0.5);
    zt_tensor tx = zt_tensor_new(ZT_F32, x, rows, d), ty = zt_tensor_new(ZT_F32, y, rows, d);
    zt_tensor ty3 = zt_tensor_new(ZT_F32, y3, rows, d);
    const zt_tensor *pw = affine ? &w.t : NULL, *pb = affine ? &b.t : NULL;
    CHECK_OK(zt_op_layer_norm(be1, &ty, &tx, pw, pb, 1e-6f));
    CHECK_OK(zt_op_layer_norm(be3, &ty3, &tx, pw, pb, 1e-6f));
    ref_layer_norm(ref, x, rows, d, affine ? w.v : NULL, affine ? b.v : NULL, 1e-6);
    zt_test_compare(name, y, ref, n, TOL);
    CHECK(memcmp(y, y3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    /* in place gives the same bits */
    CHECK_OK(zt_op_layer_norm(be3, &tx, &tx, pw, pb, 1e-6f));
    CHECK(memcmp(x, y, (size_t)n * 4) == 0, "%s: in place differs", name);
}

static void test_layer_norm_weight_only(void) {
    int64_t rows = 3, d = 29, n = rows * d;
    float *x = randn(n, 1.0, 0.0), *y = alloc((size_t)n * 4);
    double *ref = dalloc(n);
    param w = make_param(ZT_F32, d, 1.0, 0.3), b = make_param(ZT_F32, d, 0.0, 0.5);
    zt_tensor tx = zt_tensor_new(ZT_F32, x, rows, d), ty = zt_tensor_new(ZT_F32, y, rows, d);
    CHECK_OK(zt_op_layer_norm(be3, &ty, &tx, &w.t, NULL, 1e-5f));
    ref_layer_norm(ref, x, rows, d, w.v, NULL, 1e-5);
    zt_test_compare("layer_norm weight only", y, ref, n, TOL);
    CHECK_OK(zt_op_layer_norm(be3, &ty, &tx, NULL, &b.t, 1e-5f));
    ref_layer_norm(ref, x, rows, d, NULL, b.v, 1e-5);
    zt_test_compare("layer_norm bias only", y, ref, n, TOL);
}

/* bf16 weights against the unrounded f32 weights: the size of the rounding itself */
static void test_rms_bf16_vs_f32(void) {
    int64_t rows = 4, d = 1536, n = rows * d;
    float *x = randn(n, 1.0, 0.0), *y = alloc((size_t)n * 4), *wf = randn(d, 0.2, 1.0);
    uint16_t *wb = alloc((size_t)d * 2);
    double *ref = dalloc(n), *wd = dalloc(d);
    for (int64_t i = 0; i < d; i++) {
        wb[i] = zt_f32_to_bf16(wf[i]);
        wd[i] = wf[i];
    }
    zt_tensor tx = zt_tensor_new(ZT_F32, x, rows, d), ty = zt_tensor_new(ZT_F32, y, rows, d);
    zt_tensor tw = zt_tensor_new(ZT_BF16, wb, d);
    CHECK_OK(zt_op_rms_norm(be3, &ty, &tx, &tw, 1e-6f));
    ref_rms_norm(ref, x, rows, d, wd, 1e-6);
    double e = zt_test_compare("rms_norm bf16 weight vs f32 weight", y, ref, n, 1e-2);
    CHECK(e > 1e-5, "bf16 rounding should show (%g): was the weight converted?", e);
}

static void test_rms_norm(int64_t rows, int64_t d, zt_dtype wdt, int weighted) {
    char name[96];
    snprintf(name, sizeof name, "rms_norm %lldx%lld %s", (long long)rows, (long long)d,
             weighted ? zt_dtype_name(wdt) : "no weight");
    int64_t n = rows * d;
    float *x = randn(n, 2.0, 0.3), *y = alloc((size_t)n * 4), *y3 = alloc((size_t)n * 4);
    double *ref = dalloc(n);
    param w = make_param(wdt, d, 1.0, 0.3);
    zt_tensor tx = zt_tensor_new(ZT_F32, x, rows, d), ty = zt_tensor_new(ZT_F32, y, rows, d);
    zt_tensor ty3 = zt_tensor_new(ZT_F32, y3, rows, d);
    const zt_tensor *pw = weighted ? &w.t : NULL;
    CHECK_OK(zt_op_rms_norm(be1, &ty, &tx, pw, 1e-6f));
    CHECK_OK(zt_op_rms_norm(be3, &ty3, &tx, pw, 1e-6f));
    ref_rms_norm(ref, x, rows, d, weighted ? w.v : NULL, 1e-6);
    zt_test_compare(name, y, ref, n, TOL);
    CHECK(memcmp(y, y3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    CHECK_OK(zt_op_rms_norm(be3, &tx, &tx, pw, 1e-6f));
    CHECK(memcmp(x, y, (size_t)n * 4) == 0, "%s: in place differs", name);
}

/* shape (ndim dims), norm over axis; the vector at outer 0, inner 0 is all zero so
 * the eps clamp is exercised (y = beta there) */
static void test_l2_norm(int ndim, const int64_t *shape, int axis, zt_dtype gdt, int affine) {
    char name[128], sh[64];
    zt_tensor tx = zt_tensor_make(ZT_F32, ndim, shape, NULL);
    snprintf(name, sizeof name, "l2_norm %s axis %d %s", zt_tensor_shape_str(&tx, sh, sizeof sh),
             axis, affine ? zt_dtype_name(gdt) : "no gamma");
    int64_t n = zt_tensor_numel(&tx), c = shape[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= shape[i];
    for (int i = axis + 1; i < ndim; i++) inner *= shape[i];
    float *x = randn(n, 1.0, 0.2), *y = alloc((size_t)n * 4), *y3 = alloc((size_t)n * 4);
    for (int64_t k = 0; k < c; k++) x[k * inner] = 0; /* (outer 0, inner 0) is all zero */
    double *ref = dalloc(n);
    param g = make_param(gdt, c, 1.0, 0.3), b = make_param(gdt, c, 0.0, 0.3);
    tx.data = x;
    zt_tensor ty = zt_tensor_make(ZT_F32, ndim, shape, y);
    zt_tensor ty3 = zt_tensor_make(ZT_F32, ndim, shape, y3);
    float scale = sqrtf((float)c);
    const zt_tensor *pg = affine ? &g.t : NULL, *pb = affine ? &b.t : NULL;
    CHECK_OK(zt_op_l2_norm(be1, &ty, &tx, axis, pg, pb, scale, 1e-12f));
    CHECK_OK(zt_op_l2_norm(be3, &ty3, &tx, axis, pg, pb, scale, 1e-12f));
    ref_l2_norm(ref, x, outer, c, inner, affine ? g.v : NULL, affine ? b.v : NULL, scale, 1e-12);
    zt_test_compare(name, y, ref, n, TOL);
    CHECK(memcmp(y, y3, (size_t)n * 4) == 0, "%s: 1 and 3 threads differ", name);
    for (int64_t k = 0; k < c; k++)
        CHECK(y[k * inner] == (affine ? (float)b.v[k] : 0.0f), "%s: zero vector gives %g", name,
              y[k * inner]);
    /* the fused form: the same norm, then SiLU */
    for (int64_t i = 0; i < n; i++) ref[i] = ref[i] / (1.0 + exp(-ref[i]));
    char sname[160];
    snprintf(sname, sizeof sname, "%s, silu", name);
    CHECK_OK(zt_op_l2_norm_silu(be3, &ty3, &tx, axis, pg, pb, scale, 1e-12f));
    zt_test_compare(sname, y3, ref, n, TOL);
    CHECK_OK(zt_op_l2_norm(be3, &tx, &tx, axis, pg, pb, scale, 1e-12f));
    CHECK(memcmp(x, y, (size_t)n * 4) == 0, "%s: in place differs", name);
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be1, 1));
    CHECK_OK(zt_backend_cpu_init(&be3, 3));
    if (!be1 || !be3) return zt_test_finish();

    test_layer_norm(7, 37, ZT_F32, 0, 0.0);
    test_layer_norm(7, 37, ZT_F32, 1, 0.0);
    test_layer_norm(9, 1536, ZT_F32, 0, 0.0);
    test_layer_norm(9, 1536, ZT_F32, 1, 0.0);
    test_layer_norm(5, 1536, ZT_BF16, 1, 0.0);
    test_layer_norm(5, 1029, ZT_F16, 1, 0.0);
    /* a large mean over a small spread: a one-pass variance in float would fail */
    test_layer_norm(6, 771, ZT_F32, 1, 300.0);
    test_layer_norm(40, 1, ZT_F32, 1, 0.0); /* d = 1: y = b */
    test_layer_norm_weight_only();
    test_norm_modulate(9, 1536, 0, 0);
    test_norm_modulate(7, 37, 1, 0);
    test_norm_modulate(5, 129, 0, 1);

    test_rms_norm(11, 1536, ZT_F32, 0);
    test_rms_norm(11, 1536, ZT_F32, 1);
    test_rms_norm(11, 1536, ZT_BF16, 1);
    test_rms_norm(13, 45, ZT_F16, 1);
    test_rms_norm(3, 5, ZT_BF16, 1);
    test_rms_bf16_vs_f32();

    test_l2_norm(4, ZT_SHAPE(2, 13, 5, 7), 1, ZT_F32, 1);
    test_l2_norm(4, ZT_SHAPE(2, 13, 5, 7), 1, ZT_F32, 0);
    /* inner 297 spans two column tasks of 256 */
    test_l2_norm(5, ZT_SHAPE(2, 12, 3, 9, 11), 1, ZT_BF16, 1);
    test_l2_norm(5, ZT_SHAPE(1, 96, 2, 16, 17), 1, ZT_F32, 1);
    test_l2_norm(3, ZT_SHAPE(19, 5, 33), 2, ZT_F16, 1); /* last axis: row path */
    test_l2_norm(2, ZT_SHAPE(7, 3), 0, ZT_F32, 1);      /* first axis */

    zt_backend_free(be1);
    zt_backend_free(be3);
    return zt_test_finish();
}

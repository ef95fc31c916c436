/* linear and matmul on the CPU backend against float64 references computed here with
 * naive loops; thread-count determinism; block-wise weight conversion. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "core/half.h"
#include "core/ops.h"
#include "testlib.h"

static zt_test_rng rng = {42};

static void *alloc(int64_t n, size_t size) {
    return malloc((size_t)(n > 0 ? n : 1) * size);
}

static float *rand_f32(int64_t n, double stddev) {
    float *p = alloc(n, sizeof(float));
    zt_test_fill_normal(&rng, p, n, stddev);
    return p;
}

/* w in dtype dt converted from f32 values; *deq receives what the kernel should see */
static void *quantize(const float *w, int64_t n, zt_dtype dt, double **deq) {
    void *q = alloc(n, zt_dtype_size(dt));
    if (dt == ZT_F8_E4M3) { /* no f32 -> f8 conversion in the library: pick bytes */
        uint8_t *b = q;
        for (int64_t i = 0; i < n; i++) {
            b[i] = (uint8_t)(zt_test_rand_u64(&rng) & 0xff);
            if ((b[i] & 0x7f) == 0x7f) b[i] = 0x38; /* NaN patterns -> 1.0 */
        }
    } else {
        zt_convert_from_f32(q, dt, w, n);
    }
    float *tmp = alloc(n, sizeof(float));
    zt_convert_to_f32(tmp, q, dt, n);
    *deq = alloc(n, sizeof(double));
    for (int64_t i = 0; i < n; i++) (*deq)[i] = tmp[i];
    free(tmp);
    return q;
}

/* y = x w^T + b in float64; with w2 (and b2) also y2 from a second set of weights */
static void linear_ref(double *y, double *y2, const float *x, const double *w, const double *b,
                       const double *w2, const double *b2, int64_t m, int64_t k, int64_t n) {
    for (int64_t i = 0; i < m; i++) {
        const float *xi = x + i * k;
        for (int64_t j = 0; j < n; j++) {
            const double *wj = w + j * k, *w2j = w2 ? w2 + j * k : NULL;
            double s = b ? b[j] : 0.0, s2 = b2 ? b2[j] : 0.0;
            if (w2j)
                for (int64_t t = 0; t < k; t++) {
                    s += xi[t] * wj[t];
                    s2 += xi[t] * w2j[t];
                }
            else
                for (int64_t t = 0; t < k; t++) s += xi[t] * wj[t];
            y[i * n + j] = s;
            if (y2) y2[i * n + j] = s2;
        }
    }
}

static void test_linear_case(zt_backend *be, int64_t m, int64_t k, int64_t n, zt_dtype dt,
                             int with_bias) {
    float *x = rand_f32(m * k, 1.0);
    float *w32 = rand_f32(n * k, 1.0 / sqrt((double)k));
    float *b32 = rand_f32(n, 0.5);
    double *wd, *bd = NULL;
    void *wq = quantize(w32, n * k, dt, &wd);
    zt_dtype bdt = dt == ZT_F8_E4M3 ? ZT_BF16 : dt; /* biases are not stored in f8 */
    void *bq = with_bias ? quantize(b32, n, bdt, &bd) : NULL;
    float *y = malloc((size_t)(m * n) * sizeof(float));
    for (int64_t i = 0; i < m * n; i++) y[i] = NAN; /* outputs start as garbage */

    /* more than 2-D for the large case: leading dims fold into M */
    zt_tensor tx =
        m % 2 == 0 ? zt_tensor_new(ZT_F32, x, 2, m / 2, k) : zt_tensor_new(ZT_F32, x, m, k);
    zt_tensor ty =
        m % 2 == 0 ? zt_tensor_new(ZT_F32, y, 2, m / 2, n) : zt_tensor_new(ZT_F32, y, m, n);
    zt_tensor tw = zt_tensor_new(dt, wq, n, k);
    zt_tensor tb = zt_tensor_new(bdt, bq, n);
    CHECK_OK(zt_op_linear(be, &ty, &tx, &tw, with_bias ? &tb : NULL));

    char name[128];
    snprintf(name, sizeof name, "linear %s M=%lld K=%lld N=%lld%s", zt_dtype_name(dt), (long long)m,
             (long long)k, (long long)n, with_bias ? " +b" : "");
    /* for bf16 also the quantization error against the original f32 weights */
    int vs32 = dt == ZT_BF16;
    double *ref = alloc(m * n, sizeof(double)), *ref32 = vs32 ? alloc(m * n, sizeof(double)) : NULL;
    double *w64 = vs32 ? alloc(n * k, sizeof(double)) : NULL, *b64 = alloc(n, sizeof(double));
    for (int64_t i = 0; vs32 && i < n * k; i++) w64[i] = w32[i];
    for (int64_t i = 0; i < n; i++) b64[i] = b32[i];
    linear_ref(ref, ref32, x, wd, bd, w64, with_bias ? b64 : NULL, m, k, n);
    zt_test_compare(name, y, ref, m * n, 1e-5);
    if (vs32) {
        snprintf(name, sizeof name, "  vs f32 weights M=%lld K=%lld N=%lld", (long long)m,
                 (long long)k, (long long)n);
        zt_test_compare(name, y, ref32, m * n, 1e-2);
    }
    free(ref32);
    free(w64);
    free(b64);
    free(ref);
    free(x);
    free(w32);
    free(b32);
    free(wd);
    free(bd);
    free(wq);
    free(bq);
    free(y);
}

static void test_linear(zt_backend *be) {
    const int64_t ms[] = {1, 3, 7, 300}, ks[] = {3, 64, 1000}, ns[] = {1, 5, 513};
    const zt_dtype dts[] = {ZT_F32, ZT_F16, ZT_BF16};
    int c = 0;
    for (int a = 0; a < 4; a++)
        for (int bi = 0; bi < 3; bi++)
            for (int ci = 0; ci < 3; ci++)
                for (int d = 0; d < 3; d++, c++) {
                    /* the largest shape in bf16 only (two references in one pass): the
                     * float64 loops dominate the run time under ASan */
                    if (ms[a] * ks[bi] * ns[ci] > 10000000 && dts[d] != ZT_BF16) continue;
                    test_linear_case(be, ms[a], ks[bi], ns[ci], dts[d], c % 2);
                }
    test_linear_case(be, 9, 77, 130, ZT_F8_E4M3, 1);
    /* K past the kernel's conversion chunk (2048), on the gemm and the gemv paths */
    test_linear_case(be, 20, 4500, 300, ZT_BF16, 1);
    test_linear_case(be, 1, 4500, 70, ZT_F16, 0);

    /* K = 0: only the bias remains */
    float x[1], y[6] = {9, 9, 9, 9, 9, 9}, w[1], b[3] = {1, 2, 3};
    zt_tensor tx = zt_tensor_new(ZT_F32, x, 2, 0), ty = zt_tensor_new(ZT_F32, y, 2, 3);
    zt_tensor tw = zt_tensor_new(ZT_F32, w, 3, 0), tb = zt_tensor_new(ZT_F32, b, 3);
    CHECK_OK(zt_op_linear(be, &ty, &tx, &tw, &tb));
    CHECK(y[0] == 1 && y[2] == 3 && y[3] == 1 && y[5] == 3, "K=0 gives %g %g %g %g", y[0], y[2],
          y[3], y[5]);
}

static void test_weight_rows(void) {
    float w32[4 * 6];
    for (int i = 0; i < 24; i++) w32[i] = (float)i * 0.5f - 3.0f;
    uint16_t wb[24];
    zt_convert_from_f32(wb, ZT_BF16, w32, 24);
    zt_tensor t32 = zt_tensor_new(ZT_F32, w32, 4, 6), tb = zt_tensor_new(ZT_BF16, wb, 4, 6);
    float scratch[24];
    memset(scratch, 0, sizeof scratch);
    const float *r = zt_cpu_weight_rows(&t32, 1, 2, scratch);
    CHECK(r == w32 + 6, "f32 rows are used in place");
    r = zt_cpu_weight_rows(&tb, 1, 2, scratch);
    CHECK(r == scratch, "bf16 rows are converted into scratch");
    int same = 1;
    for (int i = 0; i < 12; i++) same &= r[i] == w32[6 + i]; /* these values are exact in bf16 */
    CHECK(same, "bf16 rows 1..2 convert to the original values");
    CHECK(scratch[12] == 0, "conversion stays inside the requested rows");
}

/* c[bi] = op(a[bi]) op(b[bi]) in float64 */
static void test_matmul_case(zt_backend *be, int64_t ba, int64_t bb, int64_t m, int64_t k,
                             int64_t n, int ta, int tb) {
    int64_t batch = ba > bb ? ba : bb;
    float *a = rand_f32(ba * m * k, 1.0), *b = rand_f32(bb * k * n, 1.0);
    float *c = malloc((size_t)(batch * m * n) * sizeof(float));
    for (int64_t i = 0; i < batch * m * n; i++) c[i] = NAN;
    double *ref = malloc((size_t)(batch * m * n) * sizeof(double));
    for (int64_t z = 0; z < batch; z++) {
        const float *az = a + (ba > 1 ? z : 0) * m * k, *bz = b + (bb > 1 ? z : 0) * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t t = 0; t < k; t++)
                    s += (double)(ta ? az[t * m + i] : az[i * k + t]) *
                         (tb ? bz[j * k + t] : bz[t * n + j]);
                ref[(z * m + i) * n + j] = s;
            }
    }
    /* a batch of 1 is given as a 2-D tensor, except when broadcasting explicitly */
    zt_tensor tA = ta ? zt_tensor_new(ZT_F32, a, ba, k, m) : zt_tensor_new(ZT_F32, a, ba, m, k);
    zt_tensor tB = tb ? zt_tensor_new(ZT_F32, b, bb, n, k) : zt_tensor_new(ZT_F32, b, bb, k, n);
    zt_tensor tC = zt_tensor_new(ZT_F32, c, batch, m, n);
    if (batch == 1) {
        zt_tensor t;
        CHECK_OK(zt_tensor_select(&t, &tA, 0, 0));
        tA = t;
        CHECK_OK(zt_tensor_select(&t, &tC, 0, 0));
        tC = t;
    }
    CHECK_OK(zt_op_matmul(be, &tC, &tA, &tB, ta, tb));
    char name[128];
    snprintf(name, sizeof name, "matmul %lldx%lldx%lld batch %lld/%lld%s%s", (long long)m,
             (long long)k, (long long)n, (long long)ba, (long long)bb, ta ? " a^T" : "",
             tb ? " b^T" : "");
    zt_test_compare(name, c, ref, batch * m * n, 1e-5);
    free(a);
    free(b);
    free(c);
    free(ref);
}

static void test_matmul(zt_backend *be) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_matmul_case(be, 1, 1, 7, 33, 300, ta, tb);
            test_matmul_case(be, 1, 1, 300, 50, 270, ta, tb);
            test_matmul_case(be, 3, 1, 5, 17, 9, ta, tb);
            test_matmul_case(be, 1, 3, 260, 8, 1, ta, tb);
            test_matmul_case(be, 2, 2, 1, 129, 20, ta, tb);
        }
}

/* Same inputs on 1, 2 and 3 threads must give the same bytes. */
static void test_determinism(void) {
    const int64_t m = 300, k = 1000, n = 513;
    float *x = rand_f32(m * k, 1.0), *w32 = rand_f32(n * k, 0.03), *b = rand_f32(n, 1.0);
    uint16_t *w = malloc((size_t)(n * k) * sizeof(uint16_t));
    zt_convert_from_f32(w, ZT_BF16, w32, n * k);
    float *out[3], *out1[3], *outm[3];
    for (int t = 0; t < 3; t++) {
        zt_backend *be;
        CHECK_OK(zt_backend_cpu_init(&be, t + 1));
        out[t] = malloc((size_t)(m * n) * sizeof(float));
        out1[t] = malloc((size_t)n * sizeof(float));
        outm[t] = malloc((size_t)(m * n) * sizeof(float));
        zt_tensor tx = zt_tensor_new(ZT_F32, x, m, k), ty = zt_tensor_new(ZT_F32, out[t], m, n);
        zt_tensor tw = zt_tensor_new(ZT_BF16, w, n, k), tb = zt_tensor_new(ZT_F32, b, n);
        CHECK_OK(zt_op_linear(be, &ty, &tx, &tw, &tb));
        zt_tensor tx1 = zt_tensor_new(ZT_F32, x, 1, k), ty1 = zt_tensor_new(ZT_F32, out1[t], 1, n);
        CHECK_OK(zt_op_linear(be, &ty1, &tx1, &tw, &tb));
        /* x [m, k] . w32^T as a matmul: [m, k] x [n, k]^T */
        zt_tensor tw32 = zt_tensor_new(ZT_F32, w32, n, k),
                  tc = zt_tensor_new(ZT_F32, outm[t], m, n);
        CHECK_OK(zt_op_matmul(be, &tc, &tx, &tw32, 0, 1));
        zt_backend_free(be);
    }
    for (int t = 1; t < 3; t++) {
        CHECK(!memcmp(out[0], out[t], (size_t)(m * n) * sizeof(float)),
              "linear on %d threads differs from 1 thread", t + 1);
        CHECK(!memcmp(out1[0], out1[t], (size_t)n * sizeof(float)),
              "linear M=1 on %d threads differs from 1 thread", t + 1);
        CHECK(!memcmp(outm[0], outm[t], (size_t)(m * n) * sizeof(float)),
              "matmul on %d threads differs from 1 thread", t + 1);
    }
    printf("  linear/matmul bytes identical on 1, 2, 3 threads\n");
    for (int t = 0; t < 3; t++) {
        free(out[t]);
        free(out1[t]);
        free(outm[t]);
    }
    free(x);
    free(w32);
    free(w);
    free(b);
}

int main(void) {
    zt_backend *be;
    CHECK_OK(zt_backend_cpu_init(&be, 2));
    test_weight_rows();
    test_linear(be);
    test_matmul(be);
    test_determinism();
    zt_backend_free(be);
    return zt_test_finish();
}

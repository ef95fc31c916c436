/* upsample_nearest (PyTorch's nearest-exact), pad and concat on the CPU backend
 * against naive references; these only move values, so results must be exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/half.h"
#include "core/ops.h"
#include "testlib.h"

static zt_backend *be1, *be3;
static zt_test_rng rng = {99};

static void *alloc(size_t bytes) { return zt_test_alloc(bytes); }
static float *randn(int64_t n) {
    float *x = alloc((size_t)n * sizeof *x);
    zt_test_fill_normal(&rng, x, n, 1.0);
    return x;
}

static void unravel(const int64_t *shape, int nd, int64_t i, int64_t *idx) {
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
}

static int64_t offset(const zt_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return off;
}

/* ---- upsample --------------------------------------------------------------------- */

static void test_upsample(const char *name, int nd, const int64_t *xs, const int64_t *ys) {
    zt_tensor tx = zt_tensor_make(ZT_F32, nd, xs, NULL), ty = zt_tensor_make(ZT_F32, nd, ys, NULL);
    int64_t nx = zt_tensor_numel(&tx), ny = zt_tensor_numel(&ty);
    float *x = randn(nx), *y = alloc((size_t)ny * 4), *y3 = alloc((size_t)ny * 4);
    double *ref = alloc((size_t)ny * sizeof *ref);
    tx.data = x;
    ty.data = y;
    zt_tensor ty3 = ty;
    ty3.data = y3;
    CHECK_OK(zt_op_upsample_nearest(be1, &ty, &tx));
    CHECK_OK(zt_op_upsample_nearest(be3, &ty3, &tx));
    for (int64_t i = 0; i < ny; i++) {
        int64_t idx[ZT_MAX_DIMS];
        unravel(ys, nd, i, idx);
        for (int d = 0; d < nd; d++) {
            /* the formula of nearest-exact, evaluated in double */
            int64_t s = (int64_t)floor((idx[d] + 0.5) * (double)xs[d] / (double)ys[d]);
            idx[d] = s < xs[d] - 1 ? s : xs[d] - 1;
        }
        ref[i] = x[offset(&tx, idx)];
    }
    zt_test_compare(name, y, ref, ny, 0);
    CHECK(memcmp(y, y3, (size_t)ny * 4) == 0, "%s: 1 and 3 threads differ", name);
}

/* F.interpolate(arange(n), size=m, mode='nearest-exact'), worked out by hand from
 * PyTorch's nearest_neighbor_exact_compute_source_index (UpSample.h) */
static void test_upsample_known(void) {
    float x[7] = {0, 1, 2, 3, 4, 5, 6}, y[16];
    struct {
        int64_t in, out;
        float want[16];
    } cases[] = {
        {3, 5, {0, 0, 1, 2, 2}},
        {2, 4, {0, 0, 1, 1}},
        {4, 6, {0, 1, 1, 2, 3, 3}},
        {5, 3, {0, 2, 4}},
        {7, 3, {1, 3, 5}},
        {3, 7, {0, 0, 1, 1, 1, 2, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        zt_tensor tx = zt_tensor_new(ZT_F32, x, 1, cases[c].in);
        zt_tensor ty = zt_tensor_new(ZT_F32, y, 1, cases[c].out);
        CHECK_OK(zt_op_upsample_nearest(be1, &ty, &tx));
        CHECK(memcmp(y, cases[c].want, (size_t)cases[c].out * 4) == 0,
              "nearest-exact %lld -> %lld: got %g %g %g ...", (long long)cases[c].in,
              (long long)cases[c].out, y[0], y[1], y[2]);
    }
}

/* ---- pad ------------------------------------------------------------------------------ */

static void test_pad(const char *name, const zt_tensor *tx, const int64_t (*pad)[2], float value) {
    int nd = tx->ndim;
    int64_t ys[ZT_MAX_DIMS];
    for (int d = 0; d < nd; d++) ys[d] = tx->shape[d] + pad[d][0] + pad[d][1];
    zt_tensor ty = zt_tensor_make(ZT_F32, nd, ys, NULL);
    int64_t ny = zt_tensor_numel(&ty);
    float *y = alloc((size_t)ny * 4), *y3 = alloc((size_t)ny * 4);
    double *ref = alloc((size_t)ny * sizeof *ref);
    ty.data = y;
    zt_tensor ty3 = ty;
    ty3.data = y3;
    CHECK_OK(zt_op_pad(be1, &ty, tx, pad, value));
    CHECK_OK(zt_op_pad(be3, &ty3, tx, pad, value));
    for (int64_t i = 0; i < ny; i++) {
        int64_t idx[ZT_MAX_DIMS];
        unravel(ys, nd, i, idx);
        int inside = 1;
        for (int d = 0; d < nd; d++) {
            idx[d] -= pad[d][0];
            inside &= idx[d] >= 0 && idx[d] < tx->shape[d];
        }
        ref[i] = inside ? ((const float *)tx->data)[offset(tx, idx)] : value;
    }
    zt_test_compare(name, y, ref, ny, 0);
    CHECK(memcmp(y, y3, (size_t)ny * 4) == 0, "%s: 1 and 3 threads differ", name);
}

static void test_pads(void) {
    float *x = randn(2 * 3 * 4 * 5);
    zt_tensor base = zt_tensor_new(ZT_F32, x, 2, 3, 4, 5), perm;
    test_pad("pad 4-D asymmetric", &base, (const int64_t[][2]){{1, 0}, {0, 2}, {3, 1}, {2, 2}},
             -7.5f);
    /* strided input: a permuted view */
    CHECK_OK(zt_tensor_permute(&perm, &base, (const int[]){3, 1, 0, 2})); /* (5, 3, 2, 4) */
    test_pad("pad 4-D permuted input", &perm, (const int64_t[][2]){{0, 1}, {2, 0}, {1, 1}, {0, 3}},
             0.0f);
    /* causal time padding of a 5-D video tensor: (2p, 0) in time, 1 around in space */
    float *v = randn(1 * 4 * 3 * 6 * 7);
    zt_tensor tv = zt_tensor_new(ZT_F32, v, 1, 4, 3, 6, 7);
    test_pad("pad 5-D causal", &tv, (const int64_t[][2]){{0, 0}, {0, 0}, {2, 0}, {1, 1}, {1, 1}},
             0.0f);
    /* big enough for several tasks */
    float *w = randn(64 * 130 * 70);
    zt_tensor tw = zt_tensor_new(ZT_F32, w, 64, 130, 70);
    test_pad("pad 3-D large", &tw, (const int64_t[][2]){{1, 2}, {0, 5}, {3, 0}}, 1.25f);
    /* no padding at all is a copy */
    test_pad("pad none", &tw, (const int64_t[][2]){{0, 0}, {0, 0}, {0, 0}}, 9.0f);
}

/* ---- concat --------------------------------------------------------------------------- */

/* three f32 inputs of sizes 2, 1, 3 along axis of a (4, 5, 6)-ish shape; the second
 * one is a permuted (strided) view */
static void test_concat_axis(int axis) {
    int64_t base[3] = {4, 5, 6}, lens[3] = {2, 1, 3}, ys[3] = {4, 5, 6};
    ys[axis] = 6;
    zt_tensor xs[3];
    for (int i = 0; i < 3; i++) {
        int64_t s[3] = {base[0], base[1], base[2]};
        s[axis] = lens[i];
        int64_t n = s[0] * s[1] * s[2];
        float *d = randn(n);
        if (i == 1) {
            /* the same shape, as a transposed view of a buffer laid out (s2, s1, s0) */
            zt_tensor t = zt_tensor_new(ZT_F32, d, s[2], s[1], s[0]);
            CHECK_OK(zt_tensor_permute(&xs[i], &t, (const int[]){2, 1, 0}));
        } else {
            xs[i] = zt_tensor_make(ZT_F32, 3, s, d);
        }
    }
    int64_t ny = ys[0] * ys[1] * ys[2];
    float *y = alloc((size_t)ny * 4);
    double *ref = alloc((size_t)ny * sizeof *ref);
    zt_tensor ty = zt_tensor_make(ZT_F32, 3, ys, y);
    CHECK_OK(zt_op_concat(be3, &ty, xs, 3, axis));
    for (int64_t i = 0; i < ny; i++) {
        int64_t idx[3];
        unravel(ys, 3, i, idx);
        int k = 0;
        while (idx[axis] >= xs[k].shape[axis]) idx[axis] -= xs[k++].shape[axis];
        ref[i] = ((const float *)xs[k].data)[offset(&xs[k], idx)];
    }
    char name[64];
    snprintf(name, sizeof name, "concat f32 axis %d", axis);
    zt_test_compare(name, y, ref, ny, 0);
}

/* non-float dtypes move bit for bit: bf16 and i64 along the channel axis of a 5-D
 * tensor, as the I2V conditioning concat does */
static void test_concat_raw(void) {
    uint16_t a[2 * 3 * 2 * 2 * 2], b[2 * 1 * 2 * 2 * 2], y[2 * 4 * 2 * 2 * 2];
    for (size_t i = 0; i < sizeof a / 2; i++) a[i] = (uint16_t)(0x1000 + i);
    for (size_t i = 0; i < sizeof b / 2; i++) b[i] = (uint16_t)(0x7fc1 + i); /* NaN codes */
    zt_tensor xs[2] = {zt_tensor_new(ZT_BF16, a, 2, 3, 2, 2, 2),
                       zt_tensor_new(ZT_BF16, b, 2, 1, 2, 2, 2)};
    zt_tensor ty = zt_tensor_new(ZT_BF16, y, 2, 4, 2, 2, 2);
    CHECK_OK(zt_op_concat(be1, &ty, xs, 2, 1));
    int bad = 0;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 8; k++) {
                uint16_t want = c < 3 ? a[(n * 3 + c) * 8 + k] : b[n * 8 + k];
                bad += y[(n * 4 + c) * 8 + k] != want;
            }
    CHECK(bad == 0, "concat bf16: %d wrong", bad);

    int64_t i1[6] = {1, 2, 3, 4, 5, 6}, i2[3] = {-7, 8, 1LL << 40}, iy[9];
    zt_tensor ts[2] = {zt_tensor_new(ZT_I64, i1, 3, 2), zt_tensor_new(ZT_I64, i2, 3, 1)};
    zt_tensor tiy = zt_tensor_new(ZT_I64, iy, 3, 3);
    CHECK_OK(zt_op_concat(be1, &tiy, ts, 2, 1));
    int64_t want[9] = {1, 2, -7, 3, 4, 8, 5, 6, 1LL << 40};
    CHECK(memcmp(iy, want, sizeof want) == 0, "concat i64: %lld %lld %lld ...", (long long)iy[0],
          (long long)iy[1], (long long)iy[2]);

    /* time concat of a cache frame and new frames (5-D f32, axis 2), larger */
    int64_t c = 16, h = 30, w = 52;
    float *cache = randn(c * 2 * h * w), *cur = randn(c * 4 * h * w);
    float *out = alloc((size_t)(c * 6 * h * w) * 4);
    zt_tensor tc[2] = {zt_tensor_new(ZT_F32, cache, 1, c, 2, h, w),
                       zt_tensor_new(ZT_F32, cur, 1, c, 4, h, w)};
    zt_tensor to = zt_tensor_new(ZT_F32, out, 1, c, 6, h, w);
    CHECK_OK(zt_op_concat(be3, &to, tc, 2, 2));
    bad = 0;
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t t = 0; t < 6; t++)
            for (int64_t i = 0; i < h * w; i++) {
                float got = out[(ci * 6 + t) * h * w + i];
                float wnt = t < 2 ? cache[(ci * 2 + t) * h * w + i]
                                  : cur[(ci * 4 + t - 2) * h * w + i];
                bad += zt_f32_to_bits(got) != zt_f32_to_bits(wnt);
            }
    CHECK(bad == 0, "concat video time: %d wrong", bad);
}

int main(void) {
    CHECK_OK(zt_backend_cpu_init(&be1, 1));
    CHECK_OK(zt_backend_cpu_init(&be3, 3));
    if (!be1 || !be3) return zt_test_finish();

    test_upsample_known();
    test_upsample("upsample 2x spatial", 4, ZT_SHAPE(2, 3, 5, 7), ZT_SHAPE(2, 3, 10, 14));
    test_upsample("upsample 5-D 3->5, 5->8, 7->3", 5, ZT_SHAPE(1, 2, 3, 5, 7),
                  ZT_SHAPE(1, 2, 5, 8, 3));
    test_upsample("upsample 4->6, 1->3, 2x over tasks", 4, ZT_SHAPE(4, 1, 45, 80),
                  ZT_SHAPE(6, 3, 90, 160));
    test_upsample("upsample identity", 3, ZT_SHAPE(3, 4, 5), ZT_SHAPE(3, 4, 5));
    test_pads();
    for (int axis = 0; axis < 3; axis++) test_concat_axis(axis);
    test_concat_raw();

    zt_backend_free(be1);
    zt_backend_free(be3);
    return zt_test_finish();
}

/* softmax and attention on the CPU backend against float64 references computed here
 * with naive loops: strided views, masks, relative position bias, many key blocks,
 * thread-count determinism and bounded scratch at 4096 tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "testlib.h"

static zt_test_rng rng = {7};

static float *rand_f32(int64_t n, double stddev) {
    float *p = malloc((size_t)n * sizeof(float));
    zt_test_fill_normal(&rng, p, n, stddev);
    return p;
}

static const float *row_of(const zt_tensor *t, int64_t b, int64_t l, int64_t h) {
    return (const float *)t->data + b * t->stride[0] + l * t->stride[1] + h * t->stride[2];
}

/* Reference rows [i0, i1) of every (batch, head), written at their place in a
 * [B, Lq, H, D] array. */
static void attn_ref(double *out, const zt_tensor *q, const zt_tensor *k, const zt_tensor *v,
                     const zt_attn_params *p, int64_t i0, int64_t i1) {
    int64_t nb = q->shape[0], lq = q->shape[1], nh = q->shape[2], d = q->shape[3];
    int64_t lk = k->shape[1];
    double *w = malloc((size_t)lk * sizeof(double));
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < nh; h++)
            for (int64_t i = i0; i < i1; i++) {
                const float *qi = row_of(q, b, i, h);
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < lk; j++) {
                    const float *kj = row_of(k, b, j, h);
                    double s = 0;
                    for (int64_t c = 0; c < d; c++) s += (double)qi[c] * kj[c];
                    s *= p->scale;
                    if (p->rel_bias) s += p->rel_bias[h * (lq + lk - 1) + j - i + lq - 1];
                    if (p->key_bias) s += p->key_bias[b * lk + j];
                    if (p->key_valid && !p->key_valid[b * lk + j]) s = -INFINITY;
                    w[j] = s;
                    if (s > mx) mx = s;
                }
                for (int64_t j = 0; j < lk; j++) {
                    w[j] = mx == -INFINITY ? 0 : exp(w[j] - mx);
                    sum += w[j];
                }
                double *o = out + ((b * lq + i) * nh + h) * d;
                for (int64_t c = 0; c < d; c++) o[c] = 0;
                for (int64_t j = 0; j < lk; j++) {
                    const float *vj = row_of(v, b, j, h);
                    for (int64_t c = 0; c < d; c++) o[c] += w[j] * vj[c];
                }
                for (int64_t c = 0; c < d; c++) o[c] = sum > 0 ? o[c] / sum : 0;
            }
    free(w);
}

/* q, k, v [B, L, H, D] taken from a buffer laid out as [B, L, parts, H, D]: the output
 * of one fused projection */
static zt_tensor packed_view(float *buf, int64_t nb, int64_t l, int64_t parts, int64_t part,
                             int64_t nh, int64_t d) {
    zt_tensor t = zt_tensor_new(ZT_F32, buf + part * nh * d, nb, l, nh, d);
    t.stride[0] = l * parts * nh * d;
    t.stride[1] = parts * nh * d;
    t.stride[2] = d;
    return t;
}

/* [B, L, H, D] over storage laid out as [B, H, L, D] */
static zt_tensor heads_first_view(float *buf, int64_t nb, int64_t l, int64_t nh, int64_t d) {
    zt_tensor t = zt_tensor_new(ZT_F32, buf, nb, l, nh, d);
    t.stride[0] = nh * l * d;
    t.stride[1] = d;
    t.stride[2] = l * d;
    return t;
}

static void run_case(zt_backend *be, const char *name, const zt_tensor *q, const zt_tensor *k,
                     const zt_tensor *v, const zt_attn_params *p) {
    int64_t n = zt_tensor_numel(q);
    float *o = malloc((size_t)n * sizeof(float));
    double *ref = malloc((size_t)n * sizeof(double));
    zt_tensor to = zt_tensor_make(ZT_F32, 4, q->shape, o);
    CHECK_OK(zt_op_attention(be, &to, q, k, v, p));
    attn_ref(ref, q, k, v, p, 0, q->shape[1]);
    zt_test_compare(name, o, ref, n, 1e-5);
    free(o);
    free(ref);
}

static void test_attention(zt_backend *be) {
    { /* self attention, k and v stored heads first */
        int64_t nb = 1, l = 100, nh = 3, d = 64;
        float *q = rand_f32(nb * l * nh * d, 1), *k = rand_f32(nb * l * nh * d, 1);
        float *v = rand_f32(nb * l * nh * d, 1);
        zt_tensor tq = zt_tensor_new(ZT_F32, q, nb, l, nh, d);
        zt_tensor tk = heads_first_view(k, nb, l, nh, d), tv = heads_first_view(v, nb, l, nh, d);
        zt_attn_params p = {.scale = 0.125f};
        run_case(be, "attn L=100 H=3 D=64 heads-first k,v", &tq, &tk, &tv, &p);
        free(q);
        free(k);
        free(v);
    }
    { /* cross attention: q alone, k and v from one packed [B, Lk, 2, H, D] buffer */
        int64_t nb = 2, lq = 37, lk = 1100, nh = 3, d = 40;
        float *q = rand_f32(nb * lq * nh * d, 1), *kv = rand_f32(nb * lk * 2 * nh * d, 1);
        zt_tensor tq = zt_tensor_new(ZT_F32, q, nb, lq, nh, d);
        zt_tensor tk = packed_view(kv, nb, lk, 2, 0, nh, d),
                  tv = packed_view(kv, nb, lk, 2, 1, nh, d);
        zt_attn_params p = {.scale = 1.0f / sqrtf(40.0f)};
        run_case(be, "attn B=2 Lq=37 Lk=1100 H=3 D=40 kv pack", &tq, &tk, &tv, &p);
        free(q);
        free(kv);
    }
    { /* T5 style: packed qkv, relative position bias, key mask, scale 1 */
        int64_t nb = 2, l = 300, nh = 2, d = 128;
        float *qkv = rand_f32(nb * l * 3 * nh * d, 0.3), *bias = rand_f32(nh * (2 * l - 1), 2);
        uint8_t *valid = malloc((size_t)(nb * l));
        for (int64_t i = 0; i < nb * l; i++) valid[i] = zt_test_rand_uniform(&rng) < 0.7;
        zt_tensor tq = packed_view(qkv, nb, l, 3, 0, nh, d);
        zt_tensor tk = packed_view(qkv, nb, l, 3, 1, nh, d),
                  tv = packed_view(qkv, nb, l, 3, 2, nh, d);
        zt_attn_params p = {.scale = 1.0f, .key_valid = valid, .rel_bias = bias};
        run_case(be, "attn B=2 L=300 H=2 D=128 qkv+mask+bias", &tq, &tk, &tv, &p);
        free(qkv);
        free(bias);
        free(valid);
    }
    { /* a bias per key; then n equal keys weigh as one carrying log n (how the Wan
       * transformer folds a prompt's padding) */
        int64_t nb = 2, lq = 37, lk = 300, nh = 2, d = 32, keep = 101;
        float *q = rand_f32(nb * lq * nh * d, 1), *k = rand_f32(nb * lk * nh * d, 1);
        float *v = rand_f32(nb * lk * nh * d, 1), *kb = rand_f32(nb * lk, 2);
        float *o1 = malloc((size_t)(nb * lq * nh * d) * 4), *o2 = malloc((size_t)(nb * lq * nh * d) * 4);
        float *kb2 = calloc((size_t)(nb * keep), sizeof(float));
        zt_tensor tq = zt_tensor_new(ZT_F32, q, nb, lq, nh, d), t1 = tq, t2 = tq;
        t1.data = o1;
        t2.data = o2;
        zt_tensor tk = zt_tensor_new(ZT_F32, k, nb, lk, nh, d);
        zt_tensor tv = zt_tensor_new(ZT_F32, v, nb, lk, nh, d);
        zt_attn_params p = {.scale = 0.17f, .key_bias = kb};
        run_case(be, "attn Lq=37 Lk=300 key bias", &tq, &tk, &tv, &p);
        for (int64_t b = 0; b < nb; b++)
            for (int64_t j = keep; j < lk; j++) {
                size_t row = (size_t)(nh * d), at = (size_t)((b * lk + j) * nh * d);
                memcpy(k + at, k + (size_t)((b * lk + keep - 1) * nh * d), row * 4);
                memcpy(v + at, v + (size_t)((b * lk + keep - 1) * nh * d), row * 4);
            }
        for (int64_t b = 0; b < nb; b++) kb2[b * keep + keep - 1] = logf((float)(lk - keep + 1));
        zt_attn_params all = {.scale = 0.17f}, fold = {.scale = 0.17f, .key_bias = kb2};
        zt_tensor fk = tk, fv = tv; /* the first `keep` keys of each batch */
        fk.shape[1] = fv.shape[1] = keep;
        CHECK_OK(zt_op_attention(be, &t1, &tq, &tk, &tv, &all));
        CHECK_OK(zt_op_attention(be, &t2, &tq, &fk, &fv, &fold));
        zt_test_compare_f32("attn 200 equal keys folded into one (log 200) vs all", o2, o1,
                            nb * lq * nh * d, 1e-5);
        free(q);
        free(k);
        free(v);
        free(kb);
        free(kb2);
        free(o1);
        free(o2);
    }
    { /* masked blocks: batch 0 keeps only its last 100 keys, batch 1 keeps none */
        int64_t nb = 2, lq = 65, lk = 700, nh = 1, d = 64;
        float *q = rand_f32(nb * lq * nh * d, 1), *k = rand_f32(nb * lk * nh * d, 1);
        float *v = rand_f32(nb * lk * nh * d, 1), *o = malloc((size_t)(nb * lq * nh * d) * 4);
        uint8_t *valid = calloc((size_t)(nb * lk), 1);
        memset(valid + 600, 1, 100);
        zt_tensor tq = zt_tensor_new(ZT_F32, q, nb, lq, nh, d), to = tq;
        to.data = o;
        zt_tensor tk = zt_tensor_new(ZT_F32, k, nb, lk, nh, d);
        zt_tensor tv = zt_tensor_new(ZT_F32, v, nb, lk, nh, d);
        zt_attn_params p = {.scale = 0.125f, .key_valid = valid};
        run_case(be, "attn Lq=65 Lk=700 masked blocks", &tq, &tk, &tv, &p);
        CHECK_OK(zt_op_attention(be, &to, &tq, &tk, &tv, &p));
        int zeros = 1;
        for (int64_t i = lq * nh * d; i < nb * lq * nh * d; i++) zeros &= o[i] == 0.0f;
        CHECK(zeros, "a query with every key masked gives zeros");
        free(q);
        free(k);
        free(v);
        free(o);
        free(valid);
    }
    { /* one query; keys given with token stride 0 (one key repeated): packed by the kernel */
        int64_t nb = 1, lq = 1, lk = 513, nh = 3, d = 40;
        float *q = rand_f32(nb * lq * nh * d, 1), *k = rand_f32(nh * d, 1);
        float *v = rand_f32(nb * lk * nh * d, 1);
        zt_tensor tq = zt_tensor_new(ZT_F32, q, nb, lq, nh, d);
        zt_tensor tk = zt_tensor_new(ZT_F32, k, nb, lk, nh, d);
        tk.stride[1] = 0;
        tk.stride[0] = 0;
        zt_tensor tv = zt_tensor_new(ZT_F32, v, nb, lk, nh, d);
        zt_attn_params p = {.scale = 0.3f};
        run_case(be, "attn Lq=1 Lk=513 k token stride 0", &tq, &tk, &tv, &p);
        /* and queries with stride 0, many of them */
        float *q2 = rand_f32(nh * d, 1), *k2 = rand_f32(lk * nh * d, 1);
        zt_tensor tq2 = zt_tensor_new(ZT_F32, q2, nb, 130, nh, d);
        tq2.stride[1] = 0;
        tq2.stride[0] = 0;
        zt_tensor tk2 = zt_tensor_new(ZT_F32, k2, nb, lk, nh, d);
        run_case(be, "attn Lq=130 Lk=513 q token stride 0", &tq2, &tk2, &tv, &p);
        free(q);
        free(k);
        free(v);
        free(q2);
        free(k2);
    }
}

static void test_softmax(zt_backend *be) {
    const int64_t shapes[][3] = {{1, 4, 7}, {1, 3, 1000}, {2, 3, 513}};
    for (int s = 0; s < 3; s++) {
        int64_t rows = shapes[s][0] * shapes[s][1], cols = shapes[s][2], n = rows * cols;
        float *x = rand_f32(n, 5), *y = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) x[i] += 1000.0f; /* exp would overflow unshifted */
        x[3] = -INFINITY;
        double *ref = malloc((size_t)n * sizeof(double));
        for (int64_t r = 0; r < rows; r++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t c = 0; c < cols; c++) mx = fmax(mx, x[r * cols + c]);
            for (int64_t c = 0; c < cols; c++) sum += exp(x[r * cols + c] - mx);
            for (int64_t c = 0; c < cols; c++) ref[r * cols + c] = exp(x[r * cols + c] - mx) / sum;
        }
        zt_tensor tx = zt_tensor_new(ZT_F32, x, shapes[s][0], shapes[s][1], cols);
        zt_tensor ty = tx;
        ty.data = y;
        char name[64];
        snprintf(name, sizeof name, "softmax %lldx%lld", (long long)rows, (long long)cols);
        CHECK_OK(zt_op_softmax(be, &ty, &tx));
        zt_test_compare(name, y, ref, n, 1e-5);
        CHECK_OK(zt_op_softmax(be, &tx, &tx)); /* in place */
        CHECK(!memcmp(x, y, (size_t)n * sizeof(float)), "softmax in place matches");
        free(x);
        free(y);
        free(ref);
    }
    float x[6] = {-INFINITY, -INFINITY, -INFINITY, 1, 2, 3}, y[6];
    zt_tensor tx = zt_tensor_new(ZT_F32, x, 2, 3), ty = zt_tensor_new(ZT_F32, y, 2, 3);
    CHECK_OK(zt_op_softmax(be, &ty, &tx));
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0, "a row of -inf gives zeros");
    CHECK(fabsf(y[3] + y[4] + y[5] - 1) < 1e-6f, "the next row sums to 1");
}

static void test_determinism(void) {
    int64_t nb = 1, lq = 300, lk = 700, nh = 2, d = 64;
    float *q = rand_f32(nb * lq * nh * d, 1), *kv = rand_f32(nb * lk * 2 * nh * d, 1);
    float *bias = rand_f32(nh * (lq + lk - 1), 1);
    uint8_t *valid = malloc((size_t)lk);
    for (int64_t i = 0; i < lk; i++) valid[i] = i % 7 != 3;
    zt_tensor tq = zt_tensor_new(ZT_F32, q, nb, lq, nh, d);
    zt_tensor tk = packed_view(kv, nb, lk, 2, 0, nh, d), tv = packed_view(kv, nb, lk, 2, 1, nh, d);
    zt_attn_params p = {.scale = 0.125f, .key_valid = valid, .rel_bias = bias};
    size_t n = (size_t)(nb * lq * nh * d);
    float *out[3];
    for (int t = 0; t < 3; t++) {
        zt_backend *be;
        CHECK_OK(zt_backend_cpu_init(&be, t + 1));
        out[t] = malloc(n * sizeof(float));
        zt_tensor to = zt_tensor_new(ZT_F32, out[t], nb, lq, nh, d);
        CHECK_OK(zt_op_attention(be, &to, &tq, &tk, &tv, &p));
        zt_backend_free(be);
    }
    for (int t = 1; t < 3; t++)
        CHECK(!memcmp(out[0], out[t], n * sizeof(float)),
              "attention on %d threads differs from 1 thread", t + 1);
    printf("  attention bytes identical on 1, 2, 3 threads\n");
    for (int t = 0; t < 3; t++) free(out[t]);
    free(q);
    free(kv);
    free(bias);
    free(valid);
}

/* 4096 tokens: a score matrix would be 64 MB per head; the kernel's scratch is tiles. */
static void test_long_sequence(void) {
    int64_t nb = 1, l = 4096, nh = 1, d = 64;
    float *qkv = rand_f32(nb * l * 3 * nh * d, 1), *o = malloc((size_t)(nb * l * nh * d) * 4);
    zt_tensor tq = packed_view(qkv, nb, l, 3, 0, nh, d);
    zt_tensor tk = packed_view(qkv, nb, l, 3, 1, nh, d), tv = packed_view(qkv, nb, l, 3, 2, nh, d);
    zt_tensor to = zt_tensor_new(ZT_F32, o, nb, l, nh, d);
    zt_attn_params p = {.scale = 0.125f};
    zt_backend *be;
    CHECK_OK(zt_backend_cpu_init(&be, 2));
    CHECK_OK(zt_op_attention(be, &to, &tq, &tk, &tv, &p));
    size_t scratch = be->scratch_bytes(be), scores = (size_t)(l * l) * sizeof(float);
    printf("  attention L=4096: scratch %zu bytes, a score matrix %zu\n", scratch, scores);
    CHECK(scratch > 0 && scratch <= scores / 32, "scratch %zu bytes is not far below %zu", scratch,
          scores);
    /* check a few query rows across the sequence */
    double *ref = malloc((size_t)(nb * l * nh * d) * sizeof(double));
    const int64_t rows[] = {0, 1, 2047, 4095};
    for (int r = 0; r < 4; r++) {
        attn_ref(ref, &tq, &tk, &tv, &p, rows[r], rows[r] + 1);
        char name[64];
        snprintf(name, sizeof name, "attn L=4096 query %lld", (long long)rows[r]);
        zt_test_compare(name, o + rows[r] * d, ref + rows[r] * d, d, 1e-5);
    }
    zt_backend_free(be);
    free(ref);
    free(qkv);
    free(o);
}

int main(void) {
    zt_backend *be;
    CHECK_OK(zt_backend_cpu_init(&be, 2));
    test_softmax(be);
    test_attention(be);
    zt_backend_free(be);
    test_determinism();
    test_long_sequence();
    return zt_test_finish();
}

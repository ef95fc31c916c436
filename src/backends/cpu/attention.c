/* attention.c - softmax and flash-style attention on the CPU.
 *
 * Attention walks the keys in blocks with an online softmax (running max and sum per
 * query, output rescaled when the max grows), so only a query block's tiles are ever
 * held: memory does not grow with the sequence. A task is one (batch, head, query
 * block); tiles have fixed sizes, so results do not depend on the thread count. */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../../core/half.h"
#include "../../core/status.h"
#include "cpu.h"
#include "vmath.h"

/* Query and key block sizes, measured at D = 128 on a Zen 3 core: OpenBLAS packs both
 * operands on every call, so small tiles lose a third of the time to packing; 256 x
 * 256 runs at ~60 GFLOP/s (64 x 256: ~43) with the score tile (256 KB) still in L2. */
#define ATT_BQ 256
#define ATT_BK 256

#define SOFTMAX_TASK_ELEMS 65536 /* elements per softmax task, rounded to whole rows */

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
static int64_t cdiv(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/* Reductions in 16 lanes: the compiler keeps float sums in order otherwise and will
 * not vectorize them. */
#define LANES 16

static float row_max(const float *x, int64_t n) {
    float part[LANES];
    for (int u = 0; u < LANES; u++) part[u] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int u = 0; u < LANES; u++) part[u] = x[i + u] > part[u] ? x[i + u] : part[u];
    float m = -INFINITY;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int u = 0; u < LANES; u++) m = part[u] > m ? part[u] : m;
    return m;
}

/* x = exp(x - m) in place; returns the sum */
static float exp_sum(float *x, int64_t n, float m) {
    float part[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int u = 0; u < LANES; u++) {
            x[i + u] = zt_exp_neg(x[i + u] - m);
            part[u] += x[i + u];
        }
    float s = 0;
    for (; i < n; i++) {
        x[i] = zt_exp_neg(x[i] - m);
        s += x[i];
    }
    for (int u = 0; u < LANES; u++) s += part[u];
    return s;
}

/* ---- softmax ---------------------------------------------------------------------- */

typedef struct softmax_job {
    const float *x;
    float *y;
    int64_t rows, cols, rows_per_task;
} softmax_job;

static void softmax_task(void *ctx, int64_t task, int thread) {
    softmax_job *j = ctx;
    int64_t r0 = task * j->rows_per_task, r1 = min64(r0 + j->rows_per_task, j->rows);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->cols;
        float *y = j->y + r * j->cols;
        float m = row_max(x, j->cols);
        if (m == -INFINITY) { /* nothing to weigh: zeros, as attention gives */
            memset(y, 0, (size_t)j->cols * sizeof(float));
            continue;
        }
        if (y != x) memcpy(y, x, (size_t)j->cols * sizeof(float));
        float inv = 1.0f / exp_sum(y, j->cols, m);
        for (int64_t c = 0; c < j->cols; c++) y[c] *= inv;
    }
}

zt_status zt_cpu_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    softmax_job j = {.x = x->data, .y = y->data};
    j.cols = x->ndim ? x->shape[x->ndim - 1] : 1;
    if (j.cols == 0) return ZT_OK;
    j.rows = zt_tensor_numel(x) / j.cols;
    j.rows_per_task = SOFTMAX_TASK_ELEMS / j.cols > 1 ? SOFTMAX_TASK_ELEMS / j.cols : 1;
    zt_pool_run(zt_cpu_pool(be), softmax_task, &j, cdiv(j.rows, j.rows_per_task));
    return ZT_OK;
}

/* ---- attention -------------------------------------------------------------------- */

typedef struct attn_job {
    const float *q, *k, *v;
    float *o;
    int64_t batch, lq, lk, heads, d;
    int64_t sq[3], sk[3], sv[3]; /* batch, token and head strides */
    float scale;
    const uint8_t *key_valid;
    const float *rel_bias, *key_bias;
    int64_t n_qb;
    int64_t qpack, kvpack; /* floats of room to pack a q tile, a k or v tile */
    zt_pool *pool;
    size_t scratch_bytes;
    atomic_int failed;
} attn_job;

/* Rows of a [L, D] slice with token stride ld, in a form BLAS takes: as they are, or
 * copied into pack when the stride is below D (broadcast or overlapping views). */
static const float *tile_rows(const float *p, int64_t rows, int64_t ld, int64_t d, float *pack,
                              int64_t *ld_out) {
    if (rows == 1 || ld >= d) {
        *ld_out = rows == 1 ? d : ld;
        return p;
    }
    for (int64_t r = 0; r < rows; r++) memcpy(pack + r * d, p + r * ld, (size_t)d * sizeof(float));
    *ld_out = d;
    return pack;
}

static void attn_task(void *ctx, int64_t task, int thread) {
    attn_job *j = ctx;
    int64_t d = j->d, lq = j->lq, lk = j->lk;
    int64_t qb = task % j->n_qb, bh = task / j->n_qb;
    int64_t h = bh % j->heads, b = bh / j->heads;
    int64_t i0 = qb * ATT_BQ, bq = min64(ATT_BQ, lq - i0);

    float *s = zt_pool_scratch(j->pool, thread, j->scratch_bytes);
    if (!s) {
        atomic_store(&j->failed, 1);
        return;
    }
    /* scores/probabilities [BQ, BK], output accumulator [BQ, D], running max and sum,
     * then room to pack q, k and v tiles */
    float *acc = s + ATT_BQ * ATT_BK, *mx = acc + ATT_BQ * d, *sum = mx + ATT_BQ;
    float *qpack = sum + ATT_BQ, *kpack = qpack + j->qpack, *vpack = kpack + j->kvpack;

    int64_t ldq, ldk, ldv;
    const float *q =
        tile_rows(j->q + b * j->sq[0] + i0 * j->sq[1] + h * j->sq[2], bq, j->sq[1], d, qpack, &ldq);
    const uint8_t *valid = j->key_valid ? j->key_valid + b * lk : NULL;
    const float *bias = j->rel_bias ? j->rel_bias + h * (lq + lk - 1) : NULL;
    const float *kbias = j->key_bias ? j->key_bias + b * lk : NULL;
    for (int64_t r = 0; r < bq; r++) {
        mx[r] = -INFINITY;
        sum[r] = 0;
    }
    memset(acc, 0, (size_t)(bq * d) * sizeof(float));

    for (int64_t j0 = 0; j0 < lk; j0 += ATT_BK) {
        int64_t bk = min64(ATT_BK, lk - j0);
        if (valid) { /* padded text: whole blocks of masked keys are common */
            int64_t c = 0;
            while (c < bk && !valid[j0 + c]) c++;
            if (c == bk) continue;
        }
        const float *k = tile_rows(j->k + b * j->sk[0] + j0 * j->sk[1] + h * j->sk[2], bk, j->sk[1],
                                   d, kpack, &ldk);
        const float *v = tile_rows(j->v + b * j->sv[0] + j0 * j->sv[1] + h * j->sv[2], bk, j->sv[1],
                                   d, vpack, &ldv);
        /* the product accumulates onto the bias (or zeros): OpenBLAS clears C for
         * beta = 0 several times slower than memset */
        for (int64_t r = 0; r < bq; r++) {
            float *row = s + r * ATT_BK;
            if (bias) /* key j0 + c of query i0 + r sits at (j0 + c) - (i0 + r) + lq - 1 */
                memcpy(row, bias + j0 - (i0 + r) + lq - 1, (size_t)bk * sizeof(float));
            else if (kbias)
                memcpy(row, kbias + j0, (size_t)bk * sizeof(float));
            else
                memset(row, 0, (size_t)bk * sizeof(float));
            if (bias && kbias)
                for (int64_t c = 0; c < bk; c++) row[c] += kbias[j0 + c];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bq, (int)bk, (int)d, j->scale, q,
                    (int)ldq, k, (int)ldk, 1.0f, s, ATT_BK);
        for (int64_t r = 0; r < bq; r++) {
            float *row = s + r * ATT_BK;
            if (valid)
                for (int64_t c = 0; c < bk; c++) row[c] = valid[j0 + c] ? row[c] : -INFINITY;
            float m_new = row_max(row, bk);
            if (m_new < mx[r]) m_new = mx[r];
            if (m_new == -INFINITY) { /* every key so far masked: weigh nothing */
                memset(row, 0, (size_t)bk * sizeof(float));
                continue;
            }
            float alpha = zt_exp_neg(mx[r] - m_new); /* 0 when mx was -inf */
            sum[r] = sum[r] * alpha + exp_sum(row, bk, m_new);
            if (alpha != 1.0f) {
                float *a = acc + r * d;
                for (int64_t c = 0; c < d; c++) a[c] *= alpha;
            }
            mx[r] = m_new;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)bq, (int)d, (int)bk, 1.0f, s,
                    ATT_BK, v, (int)ldv, 1.0f, acc, (int)d);
    }

    for (int64_t r = 0; r < bq; r++) {
        float *o = j->o + ((b * lq + i0 + r) * j->heads + h) * d;
        float inv = sum[r] > 0 ? 1.0f / sum[r] : 0.0f; /* all keys masked: zeros */
        for (int64_t c = 0; c < d; c++) o[c] = acc[r * d + c] * inv;
    }
}

zt_status zt_cpu_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                           const zt_tensor *v, const zt_attn_params *p) {
    attn_job j = {.q = q->data,
                  .k = k->data,
                  .v = v->data,
                  .o = o->data,
                  .scale = p->scale,
                  .key_valid = p->key_valid,
                  .rel_bias = p->rel_bias,
                  .key_bias = p->key_bias,
                  .pool = zt_cpu_pool(be)};
    j.batch = q->shape[0];
    j.lq = q->shape[1];
    j.heads = q->shape[2];
    j.d = q->shape[3];
    j.lk = k->shape[1];
    for (int i = 0; i < 3; i++) {
        j.sq[i] = q->stride[i];
        j.sk[i] = k->stride[i];
        j.sv[i] = v->stride[i];
    }
    if (j.batch == 0 || j.lq == 0 || j.heads == 0 || j.d == 0) return ZT_OK;
    if (j.d > INT32_MAX)
        return zt_fail(ZT_ERR_UNSUPPORTED, "attention: head dim %lld too large", (long long)j.d);
    for (int i = 0; i < 3; i++) {
        const int64_t *st = i == 0 ? j.sq : i == 1 ? j.sk : j.sv;
        if (st[1] > INT32_MAX)
            return zt_fail(ZT_ERR_UNSUPPORTED, "attention: token stride %lld too large for BLAS",
                           (long long)st[1]);
    }
    j.n_qb = cdiv(j.lq, ATT_BQ);
    /* packing is only for views whose token stride is below D */
    j.qpack = j.lq > 1 && j.sq[1] < j.d ? ATT_BQ * j.d : 0;
    j.kvpack = j.lk > 1 && (j.sk[1] < j.d || j.sv[1] < j.d) ? ATT_BK * j.d : 0;
    j.scratch_bytes =
        (size_t)(ATT_BQ * ATT_BK + ATT_BQ * j.d + 2 * ATT_BQ + j.qpack + 2 * j.kvpack) *
        sizeof(float);
    for (int t = 0; t < zt_pool_size(j.pool); t++)
        if (!zt_pool_scratch(j.pool, t, j.scratch_bytes))
            return zt_fail(ZT_ERR_NOMEM, "attention: cannot allocate %zu bytes of scratch",
                           j.scratch_bytes);
    zt_pool_run(j.pool, attn_task, &j, j.batch * j.heads * j.n_qb);
    if (atomic_load(&j.failed)) return zt_fail(ZT_ERR_NOMEM, "attention: out of scratch memory");
    return ZT_OK;
}

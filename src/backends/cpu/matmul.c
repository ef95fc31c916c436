/* matmul.c - linear (x w^T + b) and batched matmul on the CPU.
 *
 * The output is cut into tiles whose size depends only on the shape; each tile is
 * one single-threaded OpenBLAS call made by whichever thread takes the task, so the
 * thread count changes who computes a tile but never how: results are bit-identical
 * for any number of threads. Weights stored as f16/bf16/f8 are converted a block of
 * rows (and of K) at a time into per-thread scratch, so a model's weights never exist
 * in f32 all at once. */
#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#include "../../core/status.h"
#include "cpu.h"

/* Tile sizes, measured on this project's 2-core Zen 3 with OpenBLAS 0.3.21: 256 x 256
 * tiles run sgemm at ~70 GFLOP/s per core (128-wide ones ~10% slower), and converting
 * a bf16 weight block is then lost in the noise. Converted weights come in K chunks
 * of LIN_BK, so a thread's scratch stays at 2 MB whatever K is (no slower than whole
 * rows at K = 8960). */
#define LIN_BM 256
#define LIN_BN 256
#define LIN_BK 2048
/* With few rows of x the product is bound by reading the weight: smaller weight
 * blocks give the threads more tasks and stay in L2 across rows. */
#define LIN_SMALL_M    16
#define LIN_BN_SMALL_M 64
/* Up to this many rows x stays one row block when the weight gives enough column
 * blocks to share out: each weight block is then converted and packed once per call
 * instead of once per 256 rows. At M = 320 (17 frames at 128x128 in the DiT) the
 * second conversion and packing of a 256 + 64 split took ~7% of the time. */
#define LIN_ONE_BLOCK_M      512
#define LIN_ONE_BLOCK_MIN_NB 4
/* Up to this many rows one gemv per row beats OpenBLAS's gemm, which packs the whole
 * weight block even for one row (5x faster at M = 1). */
#define LIN_GEMV_MAX_M 4

#define MM_BM 256
#define MM_BN 256

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
static int64_t cdiv(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/* n elements of a float tensor starting at element off, as f32 */
static const float *f32_span(const zt_tensor *t, int64_t off, int64_t n, float *scratch) {
    if (t->dtype == ZT_F32) return (const float *)t->data + off;
    zt_convert_to_f32(scratch, (const char *)t->data + (size_t)off * zt_dtype_size(t->dtype),
                      t->dtype, n);
    return scratch;
}

const float *zt_cpu_weight_rows(const zt_tensor *w, int64_t n0, int64_t n, float *scratch) {
    /* a row is everything after the first dim, so conv weights work too */
    int64_t k = 1;
    for (int i = 1; i < w->ndim; i++) k *= w->shape[i];
    return f32_span(w, n0 * k, n * k, scratch);
}

/* Rows [n0, n0 + n), columns [k0, k0 + kc) of w [N, K] as f32: in place when w is f32,
 * else converted into scratch. *ld receives the row stride. */
static const float *weight_block(const zt_tensor *w, int64_t n0, int64_t n, int64_t k0, int64_t kc,
                                 float *scratch, int64_t *ld) {
    int64_t k = w->shape[1];
    if (w->dtype == ZT_F32 || kc == k) {
        *ld = k;
        return zt_cpu_weight_rows(w, n0, n, scratch) + k0;
    }
    size_t es = zt_dtype_size(w->dtype);
    for (int64_t r = 0; r < n; r++)
        zt_convert_to_f32(scratch + r * kc,
                          (const char *)w->data + (size_t)((n0 + r) * k + k0) * es, w->dtype, kc);
    *ld = kc;
    return scratch;
}

/* ---- linear ----------------------------------------------------------------------- */

typedef struct linear_job {
    const float *x;
    float *y;
    const zt_tensor *w, *b;
    int64_t m, n, k;
    int64_t bm, bn, bk, n_mb; /* tile sizes, count of row blocks */
    zt_pool *pool;
    size_t scratch_bytes;
    atomic_int failed;
} linear_job;

static void linear_task(void *ctx, int64_t task, int thread) {
    linear_job *j = ctx;
    /* consecutive tasks share a weight block, which stays warm in cache */
    int64_t n0 = task / j->n_mb * j->bn, m0 = task % j->n_mb * j->bm;
    int64_t bn = min64(j->bn, j->n - n0), bm = min64(j->bm, j->m - m0);
    int64_t k = j->k, n = j->n;
    float *scratch = zt_pool_scratch(j->pool, thread, j->scratch_bytes);
    if (!scratch) {
        atomic_store(&j->failed, 1);
        return;
    }
    const float *x = j->x + m0 * k;
    float *y = j->y + m0 * n + n0;
    int gemv = bm <= LIN_GEMV_MAX_M;
    /* the products add to zeros (beta = 1): OpenBLAS has not always ignored y's old
     * contents at beta = 0 (NaN * 0), y is usually uninitialized memory, and its own
     * clearing for beta = 0 (sgemm_beta) is several times slower than memset; 0 + p is
     * p, so the result is the same */
    for (int64_t r = 0; r < bm; r++) memset(y + r * n, 0, (size_t)bn * sizeof(float));
    for (int64_t k0 = 0; k0 < k; k0 += j->bk) {
        int64_t kc = min64(j->bk, k - k0), ld;
        const float *w = weight_block(j->w, n0, bn, k0, kc, scratch, &ld);
        if (gemv) {
            for (int64_t r = 0; r < bm; r++)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)bn, (int)kc, 1.0f, w, (int)ld,
                            x + r * k + k0, 1, 1.0f, y + r * n, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bm, (int)bn, (int)kc, 1.0f,
                        x + k0, (int)k, w, (int)ld, 1.0f, y, (int)n);
        }
    }
    if (j->b) {
        const float *bias = f32_span(j->b, n0, bn, scratch + j->bn * j->bk);
        for (int64_t r = 0; r < bm; r++)
            for (int64_t c = 0; c < bn; c++) y[r * n + c] += bias[c];
    }
}

/* Grow every thread's scratch up front: a task cannot report failure itself. */
static zt_status reserve_scratch(zt_pool *pool, size_t bytes, const char *op) {
    for (int t = 0; t < zt_pool_size(pool); t++)
        if (!zt_pool_scratch(pool, t, bytes))
            return zt_fail(ZT_ERR_NOMEM, "%s: cannot allocate %zu bytes of scratch", op, bytes);
    return ZT_OK;
}

zt_status zt_cpu_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b) {
    linear_job j = {.x = x->data, .y = y->data, .w = w, .b = b, .pool = zt_cpu_pool(be)};
    j.n = w->shape[0];
    j.k = w->shape[1];
    j.m = 1;
    for (int i = 0; i < x->ndim - 1; i++) j.m *= x->shape[i];
    if (j.m == 0 || j.n == 0) return ZT_OK;
    if (j.k > INT32_MAX || j.n > INT32_MAX || j.m > INT32_MAX)
        return zt_fail(ZT_ERR_UNSUPPORTED, "linear: dimensions past 2^31 do not fit BLAS");
    j.bn = j.m < LIN_SMALL_M ? LIN_BN_SMALL_M : LIN_BN;
    /* by the shape alone, so the tiling never depends on the thread count */
    j.bm = j.m <= LIN_ONE_BLOCK_M && cdiv(j.n, j.bn) >= LIN_ONE_BLOCK_MIN_NB ? j.m : LIN_BM;
    /* converted weights come a K chunk at a time, bounding the scratch; f32 ones are
     * used in place */
    j.bk = w->dtype == ZT_F32 || j.k <= LIN_BK ? (j.k ? j.k : 1) : LIN_BK;
    j.n_mb = cdiv(j.m, j.bm);
    /* converted weight block, then converted bias slice */
    j.scratch_bytes = (size_t)(j.bn * j.bk + j.bn) * sizeof(float);
    ZT_TRY(reserve_scratch(j.pool, j.scratch_bytes, "linear"));
    zt_pool_run(j.pool, linear_task, &j, j.n_mb * cdiv(j.n, j.bn));
    if (atomic_load(&j.failed)) return zt_fail(ZT_ERR_NOMEM, "linear: out of scratch memory");
    return ZT_OK;
}

/* ---- matmul ----------------------------------------------------------------------- */

typedef struct matmul_job {
    const float *a, *b;
    float *c;
    int trans_a, trans_b;
    int64_t m, n, k;
    int64_t a_batch_stride, b_batch_stride; /* 0 broadcasts */
    int64_t n_mb, n_nb;
} matmul_job;

static void matmul_task(void *ctx, int64_t task, int thread) {
    matmul_job *j = ctx;
    int64_t per_batch = j->n_mb * j->n_nb;
    int64_t bi = task / per_batch, t = task % per_batch;
    int64_t m0 = t / j->n_nb * MM_BM, n0 = t % j->n_nb * MM_BN;
    int64_t bm = min64(MM_BM, j->m - m0), bn = min64(MM_BN, j->n - n0);
    int64_t m = j->m, n = j->n, k = j->k;
    float *c = j->c + bi * m * n + m0 * n + n0;
    if (k == 0) {
        for (int64_t r = 0; r < bm; r++) memset(c + r * n, 0, (size_t)bn * sizeof(float));
        return;
    }
    /* op(a) rows m0.. are a's rows, or its columns when transposed; same for b */
    const float *a = j->a + bi * j->a_batch_stride + (j->trans_a ? m0 : m0 * k);
    const float *b = j->b + bi * j->b_batch_stride + (j->trans_b ? n0 * k : n0);
    cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans,
                j->trans_b ? CblasTrans : CblasNoTrans, (int)bm, (int)bn, (int)k, 1.0f, a,
                (int)(j->trans_a ? m : k), b, (int)(j->trans_b ? k : n), 0.0f, c, (int)n);
}

zt_status zt_cpu_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                        int trans_a, int trans_b) {
    matmul_job j = {
        .a = a->data, .b = b->data, .c = c->data, .trans_a = trans_a, .trans_b = trans_b};
    int64_t batch = c->ndim == 3 ? c->shape[0] : 1;
    j.m = c->shape[c->ndim - 2];
    j.n = c->shape[c->ndim - 1];
    j.k = a->shape[a->ndim - (trans_a ? 2 : 1)];
    if (batch == 0 || j.m == 0 || j.n == 0) return ZT_OK;
    if (j.m > INT32_MAX || j.n > INT32_MAX || j.k > INT32_MAX)
        return zt_fail(ZT_ERR_UNSUPPORTED, "matmul: dimensions past 2^31 do not fit BLAS");
    j.a_batch_stride = a->ndim == 3 && a->shape[0] > 1 ? j.m * j.k : 0;
    j.b_batch_stride = b->ndim == 3 && b->shape[0] > 1 ? j.k * j.n : 0;
    j.n_mb = cdiv(j.m, MM_BM);
    j.n_nb = cdiv(j.n, MM_BN);
    zt_pool_run(zt_cpu_pool(be), matmul_task, &j, batch * j.n_mb * j.n_nb);
    return ZT_OK;
}

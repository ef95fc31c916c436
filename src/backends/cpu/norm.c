/* Normalizations: layer norm and RMS norm over the last dim, and the Wan VAE's
 * L2 norm over any axis.
 *
 * Every row (or every column, for the L2 norm over an inner axis) is reduced by one
 * task in a fixed order, in double, so results do not depend on the thread count.
 * Parameters of any float dtype are converted to f32 once per call. */
#include <math.h>
#include <stdlib.h>

#include "../../core/status.h"
#include "cpu.h"

/* about this many elements per task: enough to amortize the pool, small enough
 * to spread a few rows over the threads */
#define NORM_TASK_ELEMS 16384
/* columns per task of the L2 norm over an inner axis (accumulators live on the stack) */
#define L2_COLS 256

/* Parameters as f32: points at the tensor's data when already f32, otherwise at a
 * converted copy in *owned (freed by the caller). NULL tensor gives NULL. */
static zt_status param_f32(const zt_tensor *t, const float **out, float **owned) {
    *out = NULL;
    *owned = NULL;
    if (!t) return ZT_OK;
    if (t->dtype == ZT_F32) {
        *out = t->data;
        return ZT_OK;
    }
    int64_t n = zt_tensor_numel(t);
    float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    if (!buf) return zt_fail(ZT_ERR_NOMEM, "norm: cannot convert %lld parameters", (long long)n);
    zt_convert_to_f32(buf, t->data, t->dtype, n);
    *out = buf;
    *owned = buf;
    return ZT_OK;
}

/* Eight independent double accumulators: the compiler vectorizes them without
 * reassociating, and the summation order is fixed for a given n. */
static double sum_f64(const float *x, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j];
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) s += (double)x[i];
    return s;
}

/* sum of (x - c)^2 */
static double sumsq_f64(const float *x, int64_t n, double c) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            double d = (double)x[i + j] - c;
            acc[j] += d * d;
        }
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) {
        double d = (double)x[i] - c;
        s += d * d;
    }
    return s;
}

typedef struct row_job {
    float *y;
    const float *x;
    const float *w, *b; /* optional, [d] */
    int64_t rows, d, rows_per_task;
    float eps, scale;
} row_job;

static void row_range(const row_job *j, int64_t task, int64_t *r0, int64_t *r1) {
    *r0 = task * j->rows_per_task;
    *r1 = *r0 + j->rows_per_task < j->rows ? *r0 + j->rows_per_task : j->rows;
}

static int64_t row_tasks(row_job *j) {
    j->rows_per_task = j->d >= NORM_TASK_ELEMS ? 1 : NORM_TASK_ELEMS / j->d;
    return (j->rows + j->rows_per_task - 1) / j->rows_per_task;
}

static void layer_norm_task(void *ctx, int64_t task, int thread) {
    const row_job *j = ctx;
    int64_t r0, r1, d = j->d;
    row_range(j, task, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d;
        float *y = j->y + r * d;
        double mean = sum_f64(x, d) / (double)d;
        double var = sumsq_f64(x, d, mean) / (double)d;
        /* the mean in two floats: x - mh is nearly exact where x is close to the
         * mean, so a large mean over a small spread keeps its precision */
        float mh = (float)mean, ml = (float)(mean - (double)mh);
        float rs = (float)(1.0 / sqrt(var + (double)j->eps));
        const float *w = j->w, *b = j->b;
        if (w && b)
            for (int64_t i = 0; i < d; i++) y[i] = ((x[i] - mh) - ml) * rs * w[i] + b[i];
        else if (w)
            for (int64_t i = 0; i < d; i++) y[i] = ((x[i] - mh) - ml) * rs * w[i];
        else if (b)
            for (int64_t i = 0; i < d; i++) y[i] = ((x[i] - mh) - ml) * rs + b[i];
        else
            for (int64_t i = 0; i < d; i++) y[i] = ((x[i] - mh) - ml) * rs;
    }
}

static void rms_norm_task(void *ctx, int64_t task, int thread) {
    const row_job *j = ctx;
    int64_t r0, r1, d = j->d;
    row_range(j, task, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d;
        float *y = j->y + r * d;
        double ms = sumsq_f64(x, d, 0.0) / (double)d;
        float rs = (float)(1.0 / sqrt(ms + (double)j->eps));
        const float *w = j->w;
        if (w)
            for (int64_t i = 0; i < d; i++) y[i] = x[i] * rs * w[i];
        else
            for (int64_t i = 0; i < d; i++) y[i] = x[i] * rs;
    }
}

/* L2 norm over the last dim; w holds scale * gamma (never NULL here) */
static void l2_rows_task(void *ctx, int64_t task, int thread) {
    const row_job *j = ctx;
    int64_t r0, r1, d = j->d;
    row_range(j, task, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d;
        float *y = j->y + r * d;
        double nrm = sqrt(sumsq_f64(x, d, 0.0));
        float inv = (float)(1.0 / (nrm > (double)j->eps ? nrm : (double)j->eps));
        const float *g = j->w, *b = j->b;
        if (b)
            for (int64_t i = 0; i < d; i++) y[i] = x[i] * inv * g[i] + b[i];
        else
            for (int64_t i = 0; i < d; i++) y[i] = x[i] * inv * g[i];
    }
}

/* L2 norm over an axis with inner > 1 elements after it: x is [outer, c, inner].
 * A task takes L2_COLS columns of one outer slice and walks down the c rows, so
 * each column accumulates in a fixed order while memory is read contiguously. */
typedef struct l2_job {
    float *y;
    const float *x;
    const float *g, *b; /* g = scale * gamma, [c]; b optional */
    int64_t outer, c, inner, col_tasks;
    float eps;
} l2_job;

static void l2_cols_task(void *ctx, int64_t task, int thread) {
    const l2_job *j = ctx;
    int64_t o = task / j->col_tasks, j0 = (task % j->col_tasks) * L2_COLS;
    int64_t n = j->inner - j0 < L2_COLS ? j->inner - j0 : L2_COLS;
    const float *x = j->x + o * j->c * j->inner + j0;
    float *y = j->y + o * j->c * j->inner + j0;
    double acc[L2_COLS];
    float inv[L2_COLS];
    for (int64_t i = 0; i < n; i++) acc[i] = 0;
    for (int64_t ci = 0; ci < j->c; ci++) {
        const float *xr = x + ci * j->inner;
        for (int64_t i = 0; i < n; i++) acc[i] += (double)xr[i] * (double)xr[i];
    }
    for (int64_t i = 0; i < n; i++) {
        double nrm = sqrt(acc[i]);
        inv[i] = (float)(1.0 / (nrm > (double)j->eps ? nrm : (double)j->eps));
    }
    for (int64_t ci = 0; ci < j->c; ci++) {
        const float *xr = x + ci * j->inner;
        float *yr = y + ci * j->inner;
        float g = j->g[ci], b = j->b ? j->b[ci] : 0.0f;
        for (int64_t i = 0; i < n; i++) yr[i] = xr[i] * inv[i] * g + b;
    }
}

static int64_t rows_of(const zt_tensor *x, int64_t d) {
    return d > 0 ? zt_tensor_numel(x) / d : 0;
}

zt_status zt_cpu_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                            const zt_tensor *b, float eps) {
    int64_t d = x->ndim ? x->shape[x->ndim - 1] : 1;
    row_job j = {.y = y->data, .x = x->data, .d = d, .rows = rows_of(x, d), .eps = eps};
    if (j.rows == 0) return ZT_OK;
    float *wown, *bown;
    ZT_TRY(param_f32(w, &j.w, &wown));
    zt_status s = param_f32(b, &j.b, &bown);
    if (s == ZT_OK) zt_pool_run(zt_cpu_pool(be), layer_norm_task, &j, row_tasks(&j));
    free(wown);
    free(bown);
    return s;
}

zt_status zt_cpu_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                          float eps) {
    int64_t d = x->ndim ? x->shape[x->ndim - 1] : 1;
    row_job j = {.y = y->data, .x = x->data, .d = d, .rows = rows_of(x, d), .eps = eps};
    if (j.rows == 0) return ZT_OK;
    float *wown;
    ZT_TRY(param_f32(w, &j.w, &wown));
    zt_pool_run(zt_cpu_pool(be), rms_norm_task, &j, row_tasks(&j));
    free(wown);
    return ZT_OK;
}

zt_status zt_cpu_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                         const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps) {
    int64_t c = x->shape[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    if (outer * c * inner == 0) return ZT_OK;

    /* fold scale into gamma once: g[c] = scale * gamma[c] */
    float *g = malloc((size_t)c * sizeof *g);
    if (!g) return zt_fail(ZT_ERR_NOMEM, "l2_norm: out of memory");
    if (gamma) zt_convert_to_f32(g, gamma->data, gamma->dtype, c);
    for (int64_t i = 0; i < c; i++) g[i] = gamma ? g[i] * scale : scale;
    const float *b;
    float *bown;
    zt_status s = param_f32(beta, &b, &bown);
    if (s == ZT_OK) {
        zt_pool *pool = zt_cpu_pool(be);
        if (inner == 1) {
            row_job j = {.y = y->data, .x = x->data, .w = g, .b = b, .d = c, .rows = outer,
                         .eps = eps};
            zt_pool_run(pool, l2_rows_task, &j, row_tasks(&j));
        } else {
            l2_job j = {.y = y->data, .x = x->data, .g = g, .b = b, .outer = outer, .c = c,
                        .inner = inner, .col_tasks = (inner + L2_COLS - 1) / L2_COLS,
                        .eps = eps};
            zt_pool_run(pool, l2_cols_task, &j, outer * j.col_tasks);
        }
    }
    free(g);
    free(bown);
    return s;
}

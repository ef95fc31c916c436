/* Layout kernels: nearest-exact resampling, constant padding and concatenation.
 *
 * upsample and pad write y a row (its last dim) at a time; tasks take fixed runs of
 * rows. concat copies each input into its slice of y through zt_cpu_copy, which
 * moves elements of any dtype bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "../../core/status.h"
#include "cpu.h"

#define LAYOUT_TASK_ELEMS 32768

static int64_t rows_per_task(int64_t row_len) {
    return row_len >= LAYOUT_TASK_ELEMS ? 1 : LAYOUT_TASK_ELEMS / row_len;
}

/* Unravels row r of a shape's leading nd - 1 dims into idx. */
static void row_index(const int64_t *shape, int nd, int64_t r, int64_t *idx) {
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = r % shape[d];
        r /= shape[d];
    }
}

/* ---- upsample_nearest ------------------------------------------------------------ */

typedef struct up_job {
    float *y;
    const float *x;
    int nd;
    int64_t yshape[ZT_MAX_DIMS], xstride[ZT_MAX_DIMS];
    const int64_t *map[ZT_MAX_DIMS]; /* per dim: source index of each output index */
    int64_t rows, w_out, w_in, rows_per_task;
} up_job;

static void upsample_task(void *ctx, int64_t task, int thread) {
    const up_job *j = ctx;
    int64_t r0 = task * j->rows_per_task;
    int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    const int64_t *mw = j->map[j->nd - 1];
    int64_t idx[ZT_MAX_DIMS], prev = -1;
    for (int64_t r = r0; r < r1; r++) {
        row_index(j->yshape, j->nd, r, idx);
        int64_t off = 0;
        for (int d = 0; d < j->nd - 1; d++) off += j->map[d][idx[d]] * j->xstride[d];
        float *y = j->y + r * j->w_out;
        const float *x = j->x + off;
        if (off == prev) /* upsampled rows repeat their neighbour */
            memcpy(y, y - j->w_out, (size_t)j->w_out * sizeof *y);
        else if (j->w_out == j->w_in)
            memcpy(y, x, (size_t)j->w_out * sizeof *y);
        else
            for (int64_t i = 0; i < j->w_out; i++) y[i] = x[mw[i]];
        prev = off;
    }
}

zt_status zt_cpu_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    int nd = x->ndim;
    if (nd == 0) {
        *(float *)y->data = *(const float *)x->data;
        return ZT_OK;
    }
    int64_t total = 0;
    for (int d = 0; d < nd; d++) total += y->shape[d];
    int64_t *maps = malloc((size_t)total * sizeof *maps);
    if (!maps) return zt_fail(ZT_ERR_NOMEM, "upsample: out of memory");
    up_job j = {.y = y->data, .x = x->data, .nd = nd, .w_out = y->shape[nd - 1],
                .w_in = x->shape[nd - 1]};
    int64_t *m = maps;
    for (int d = 0; d < nd; d++) {
        int64_t in = x->shape[d], out = y->shape[d];
        j.yshape[d] = out;
        j.xstride[d] = x->stride[d];
        j.map[d] = m;
        /* floor((dst + 0.5) * in / out) in exact integer arithmetic */
        for (int64_t o = 0; o < out; o++) {
            int64_t s = (2 * o + 1) * in / (2 * out);
            m[o] = s < in - 1 ? s : in - 1;
        }
        m += out;
    }
    j.rows = zt_tensor_numel(y) / j.w_out;
    j.rows_per_task = rows_per_task(j.w_out);
    zt_pool_run(zt_cpu_pool(be), upsample_task, &j,
                (j.rows + j.rows_per_task - 1) / j.rows_per_task);
    free(maps);
    return ZT_OK;
}

/* ---- pad --------------------------------------------------------------------------- */

typedef struct pad_job {
    float *y;
    const float *x;
    int nd;
    int64_t yshape[ZT_MAX_DIMS], xshape[ZT_MAX_DIMS], xstride[ZT_MAX_DIMS];
    int64_t before[ZT_MAX_DIMS];
    int64_t rows, w, rows_per_task;
    float value;
} pad_job;

static void fill(float *y, float v, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = v;
}

static void pad_task(void *ctx, int64_t task, int thread) {
    const pad_job *j = ctx;
    int64_t r0 = task * j->rows_per_task;
    int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    int last = j->nd - 1;
    int64_t idx[ZT_MAX_DIMS];
    int64_t lo = j->before[last], wx = j->xshape[last], sx = j->xstride[last];
    for (int64_t r = r0; r < r1; r++) {
        float *y = j->y + r * j->w;
        row_index(j->yshape, j->nd, r, idx);
        int64_t off = 0;
        int inside = 1;
        for (int d = 0; d < last && inside; d++) {
            int64_t i = idx[d] - j->before[d];
            inside = i >= 0 && i < j->xshape[d];
            off += i * j->xstride[d];
        }
        if (!inside) {
            fill(y, j->value, j->w);
            continue;
        }
        const float *x = j->x + off;
        fill(y, j->value, lo);
        if (sx == 1)
            memcpy(y + lo, x, (size_t)wx * sizeof *y);
        else
            for (int64_t i = 0; i < wx; i++) y[lo + i] = x[i * sx];
        fill(y + lo + wx, j->value, j->w - lo - wx);
    }
}

zt_status zt_cpu_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                     float value) {
    int nd = x->ndim;
    if (nd == 0) {
        *(float *)y->data = *(const float *)x->data;
        return ZT_OK;
    }
    pad_job j = {.y = y->data, .x = x->data, .nd = nd, .w = y->shape[nd - 1], .value = value};
    if (zt_tensor_numel(y) == 0) return ZT_OK;
    for (int d = 0; d < nd; d++) {
        j.yshape[d] = y->shape[d];
        j.xshape[d] = x->shape[d];
        j.xstride[d] = x->stride[d];
        j.before[d] = pad[d][0];
    }
    j.rows = zt_tensor_numel(y) / j.w;
    j.rows_per_task = rows_per_task(j.w);
    zt_pool_run(zt_cpu_pool(be), pad_task, &j, (j.rows + j.rows_per_task - 1) / j.rows_per_task);
    return ZT_OK;
}

/* ---- concat ------------------------------------------------------------------------ */

zt_status zt_cpu_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis) {
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        zt_tensor slice;
        ZT_TRY(zt_tensor_narrow(&slice, y, axis, start, xs[i].shape[axis]));
        ZT_TRY(zt_cpu_copy(be, &slice, &xs[i]));
        start += xs[i].shape[axis];
    }
    return ZT_OK;
}

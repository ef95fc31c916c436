/* Elementwise kernels: unary activations, broadcasting binary ops, the DiT's
 * modulate and gated residual add, and the strided converting copy.
 *
 * Work is cut into fixed ranges of output elements (never by thread count), and no
 * op reduces across elements, so results are identical for any number of threads. */
#include <math.h>
#include <string.h>

#include "../../core/half.h"
#include "../../core/status.h"
#include "cpu.h"
#include "vmath.h"

/* elements per task: large enough to amortize the pool's dispatch */
#define EW_TASK_ELEMS 32768

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* erfc(a) for a >= 0: Numerical Recipes' erfcc, fractional error below 1.2e-7 (glibc's
 * erfcf does not vectorize and costs ~40 ns) */
static inline float erfc_pos(float a) {
    float t = 1.0f / (1.0f + 0.5f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * zt_exp_clamped(p - a * a);
}

/* ---- unary ------------------------------------------------------------------------- */

typedef struct unary_job {
    float *y;
    const float *x;
    int64_t n;
    zt_unary_op op;
    float alpha, beta;
} unary_job;

static void unary_task(void *ctx, int64_t task, int thread) {
    const unary_job *j = ctx;
    int64_t i0 = task * EW_TASK_ELEMS;
    int64_t n = j->n - i0 < EW_TASK_ELEMS ? j->n - i0 : EW_TASK_ELEMS;
    const float *x = j->x + i0;
    float *y = j->y + i0;
    const float a = j->alpha, b = j->beta;
    switch (j->op) {
    case ZT_UNARY_SILU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + zt_exp_clamped(-x[i]));
        break;
    case ZT_UNARY_GELU_TANH:
        /* 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation for negative x */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
            y[i] = v / (1.0f + zt_exp_clamped(-2.0f * u));
        }
        break;
    case ZT_UNARY_SCALE:
        for (int64_t i = 0; i < n; i++) y[i] = a * x[i] + b;
        break;
    case ZT_UNARY_CLAMP:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            v = v < a ? a : v;
            y[i] = v > b ? b : v;
        }
        break;
    case ZT_UNARY_GELU_ERF:
        /* with e = erfc(|x| / sqrt 2): 0.5 x e for x < 0, x - 0.5 x e for x >= 0; both
         * without cancellation, and without a float select (see zt_clamp_bits) */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], e = erfc_pos(fabsf(v) * 0.70710678118654752f);
            y[i] = 0.5f * v * e + 0.5f * (v + fabsf(v)) * (1.0f - e);
        }
        break;
    /* the rare ones use libm: full range, accuracy and NaN behaviour */
    case ZT_UNARY_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ZT_UNARY_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ZT_UNARY_EXP:
        for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
        break;
    default: break;
    }
}

zt_status zt_cpu_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                       float alpha, float beta) {
    unary_job j = {y->data, x->data, zt_tensor_numel(x), op, alpha, beta};
    zt_pool_run(zt_cpu_pool(be), unary_task, &j, ceil_div(j.n, EW_TASK_ELEMS));
    return ZT_OK;
}

/* ---- strided iteration -----------------------------------------------------------
 * Up to three operands over one shape, each with its own strides (0 where it
 * broadcasts). Dims of size 1 are dropped and neighbours that are contiguous in
 * every operand are merged, so a contiguous op runs as one long inner loop and a
 * row-vector broadcast as [rows, D] with unit inner strides. */
typedef struct ew_iter {
    int ndim, nops;
    int64_t shape[ZT_MAX_DIMS];
    int64_t st[3][ZT_MAX_DIMS];
} ew_iter;

static void iter_init(ew_iter *it, int ndim, const int64_t *shape, int nops,
                      int64_t st[][ZT_MAX_DIMS]) {
    int64_t sh[ZT_MAX_DIMS], s[3][ZT_MAX_DIMS];
    int n = 0;
    for (int d = ndim - 1; d >= 0; d--) { /* innermost first */
        if (shape[d] == 1) continue;
        int merge = n > 0;
        for (int k = 0; k < nops && merge; k++)
            merge = st[k][d] == s[k][n - 1] * sh[n - 1];
        if (merge) {
            sh[n - 1] *= shape[d];
            continue;
        }
        sh[n] = shape[d];
        for (int k = 0; k < nops; k++) s[k][n] = st[k][d];
        n++;
    }
    if (n == 0) { /* a single element */
        sh[0] = 1;
        for (int k = 0; k < nops; k++) s[k][0] = 1;
        n = 1;
    }
    it->ndim = n;
    it->nops = nops;
    for (int d = 0; d < n; d++) {
        it->shape[d] = sh[n - 1 - d];
        for (int k = 0; k < nops; k++) it->st[k][d] = s[k][n - 1 - d];
    }
}

/* Position of flat (row-major) index pos: fills idx. */
static void iter_seek(const ew_iter *it, int64_t pos, int64_t *idx) {
    for (int d = it->ndim - 1; d >= 0; d--) {
        idx[d] = pos % it->shape[d];
        pos /= it->shape[d];
    }
}

static int64_t iter_offset(const ew_iter *it, int k, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < it->ndim; d++) off += idx[d] * it->st[k][d];
    return off;
}

/* Moves idx on by n elements that stay within the innermost dim. */
static void iter_advance(const ew_iter *it, int64_t *idx, int64_t n) {
    int d = it->ndim - 1;
    idx[d] += n;
    while (d > 0 && idx[d] >= it->shape[d]) {
        idx[d] = 0;
        idx[--d]++;
    }
}

/* Length of the inner run starting at idx, capped by the elements left. */
static int64_t iter_run(const ew_iter *it, const int64_t *idx, int64_t left) {
    int64_t n = it->shape[it->ndim - 1] - idx[it->ndim - 1];
    return n < left ? n : left;
}

/* ---- binary ------------------------------------------------------------------------ */

typedef struct binary_job {
    float *c;
    const float *a, *b;
    ew_iter it; /* operands: a, b (c is contiguous) */
    int64_t n;
    zt_binary_op op;
} binary_job;

/* inner loops specialized for the unit-stride and broadcast-scalar cases so they
 * vectorize; u is a's element, v is b's */
#define BINARY_RUN(EXPR)                                                                   \
    do {                                                                                   \
        if (sa == 1 && sb == 1) {                                                          \
            for (int64_t i = 0; i < n; i++) {                                              \
                float u = a[i], v = b[i];                                                  \
                c[i] = EXPR;                                                               \
            }                                                                              \
        } else if (sa == 1 && sb == 0) {                                                   \
            const float v = b[0];                                                          \
            for (int64_t i = 0; i < n; i++) {                                              \
                float u = a[i];                                                            \
                c[i] = EXPR;                                                               \
            }                                                                              \
        } else if (sa == 0 && sb == 1) {                                                   \
            const float u = a[0];                                                          \
            for (int64_t i = 0; i < n; i++) {                                              \
                float v = b[i];                                                            \
                c[i] = EXPR;                                                               \
            }                                                                              \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++) {                                              \
                float u = a[i * sa], v = b[i * sb];                                        \
                c[i] = EXPR;                                                               \
            }                                                                              \
        }                                                                                  \
    } while (0)

static void binary_run(zt_binary_op op, float *c, const float *a, int64_t sa, const float *b,
                       int64_t sb, int64_t n) {
    switch (op) {
    case ZT_BINARY_ADD: BINARY_RUN(u + v); break;
    case ZT_BINARY_SUB: BINARY_RUN(u - v); break;
    case ZT_BINARY_MUL: BINARY_RUN(u * v); break;
    case ZT_BINARY_DIV: BINARY_RUN(u / v); break;
    default: break;
    }
}

static void binary_task(void *ctx, int64_t task, int thread) {
    const binary_job *j = ctx;
    const ew_iter *it = &j->it;
    int64_t pos = task * EW_TASK_ELEMS;
    int64_t end = j->n - pos < EW_TASK_ELEMS ? j->n : pos + EW_TASK_ELEMS;
    int64_t idx[ZT_MAX_DIMS];
    iter_seek(it, pos, idx);
    int last = it->ndim - 1;
    while (pos < end) {
        int64_t n = iter_run(it, idx, end - pos);
        binary_run(j->op, j->c + pos, j->a + iter_offset(it, 0, idx), it->st[0][last],
                   j->b + iter_offset(it, 1, idx), it->st[1][last], n);
        pos += n;
        iter_advance(it, idx, n);
    }
}

/* strides of t right-aligned to ndim dims, 0 where t broadcasts */
static void broadcast_strides(const zt_tensor *t, int ndim, int64_t *st) {
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int s = d - lead;
        st[d] = s < 0 || t->shape[s] == 1 ? 0 : t->stride[s];
    }
}

zt_status zt_cpu_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                        zt_binary_op op) {
    binary_job j = {.c = c->data, .a = a->data, .b = b->data, .n = zt_tensor_numel(c),
                    .op = op};
    if (j.n == 0) return ZT_OK;
    int64_t st[2][ZT_MAX_DIMS];
    broadcast_strides(a, c->ndim, st[0]);
    broadcast_strides(b, c->ndim, st[1]);
    iter_init(&j.it, c->ndim, c->shape, 2, st);
    zt_pool_run(zt_cpu_pool(be), binary_task, &j, ceil_div(j.n, EW_TASK_ELEMS));
    return ZT_OK;
}

/* ---- modulate and gated add ---------------------------------------------------------
 * Both take [D] parameters (one row for every token) or [L, D] (Wan2.2's per-token
 * timesteps); a row stride of 0 or D covers both. */

typedef struct mod_job {
    float *y;
    const float *x;
    const float *p, *q; /* modulate: shift, scale; gated add: gate, unused */
    int64_t rows, d, p_stride, q_stride, rows_per_task;
} mod_job;

static int64_t mod_setup(mod_job *j, const zt_tensor *x, const zt_tensor *p,
                         const zt_tensor *q) {
    j->d = x->ndim ? x->shape[x->ndim - 1] : 1;
    j->rows = j->d ? zt_tensor_numel(x) / j->d : 0;
    j->p_stride = zt_tensor_numel(p) == j->d ? 0 : j->d;
    j->q_stride = q && zt_tensor_numel(q) != j->d ? j->d : 0;
    j->rows_per_task = j->d >= EW_TASK_ELEMS ? 1 : EW_TASK_ELEMS / j->d;
    return j->rows ? ceil_div(j->rows, j->rows_per_task) : 0;
}

static void modulate_task(void *ctx, int64_t task, int thread) {
    const mod_job *j = ctx;
    int64_t r0 = task * j->rows_per_task, d = j->d;
    int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d, *sh = j->p + r * j->p_stride, *sc = j->q + r * j->q_stride;
        float *y = j->y + r * d;
        for (int64_t i = 0; i < d; i++) y[i] = x[i] * (1.0f + sc[i]) + sh[i];
    }
}

static void gated_add_task(void *ctx, int64_t task, int thread) {
    const mod_job *j = ctx;
    int64_t r0 = task * j->rows_per_task, d = j->d;
    int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d, *g = j->p + r * j->p_stride;
        float *acc = j->y + r * d;
        for (int64_t i = 0; i < d; i++) acc[i] += x[i] * g[i];
    }
}

zt_status zt_cpu_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                          const zt_tensor *shift, const zt_tensor *scale) {
    mod_job j = {.y = y->data, .x = x->data, .p = shift->data, .q = scale->data};
    int64_t tasks = mod_setup(&j, x, shift, scale);
    zt_pool_run(zt_cpu_pool(be), modulate_task, &j, tasks);
    return ZT_OK;
}

zt_status zt_cpu_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                           const zt_tensor *gate) {
    mod_job j = {.y = acc->data, .x = y->data, .p = gate->data};
    int64_t tasks = mod_setup(&j, y, gate, NULL);
    zt_pool_run(zt_cpu_pool(be), gated_add_task, &j, tasks);
    return ZT_OK;
}

/* ---- copy -------------------------------------------------------------------------
 * Any strides on both sides. Between different dtypes values go through f32 (x any
 * float dtype, y f32, f16 or bf16, rounding as half.h does); between equal dtypes
 * elements are moved bit for bit, which also serves concat for any dtype. */

typedef struct copy_job {
    char *y;
    const char *x;
    zt_dtype ty, tx;
    size_t ey, ex; /* element sizes */
    ew_iter it;    /* operands: y, x */
    int64_t n;
} copy_job;

#define COPY_BLOCK 256

#define MOVE_STRIDED(T)                                                                    \
    do {                                                                                   \
        T *d_ = (T *)y;                                                                    \
        const T *s_ = (const T *)x;                                                        \
        for (int64_t i = 0; i < n; i++) d_[i * sy] = s_[i * sx];                           \
    } while (0)

/* n elements of size es, strides in elements */
static void move_raw(char *y, int64_t sy, const char *x, int64_t sx, size_t es, int64_t n) {
    if (sy == 1 && sx == 1) {
        memmove(y, x, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1: MOVE_STRIDED(uint8_t); break;
    case 2: MOVE_STRIDED(uint16_t); break;
    case 4: MOVE_STRIDED(uint32_t); break;
    case 8: MOVE_STRIDED(uint64_t); break;
    default:
        for (int64_t i = 0; i < n; i++) memcpy(y + i * sy * es, x + i * sx * es, es);
        break;
    }
}

/* one run of n elements, strides in elements */
static void copy_run(const copy_job *j, char *y, int64_t sy, const char *x, int64_t sx,
                     int64_t n) {
    if (j->ty == j->tx) {
        move_raw(y, sy, x, sx, j->ey, n);
        return;
    }
    float buf[COPY_BLOCK];
    for (int64_t i = 0; i < n; i += COPY_BLOCK) {
        int64_t m = n - i < COPY_BLOCK ? n - i : COPY_BLOCK;
        zt_convert_to_f32_strided(buf, x + i * sx * (int64_t)j->ex, j->tx, sx, m);
        zt_convert_from_f32_strided(y + i * sy * (int64_t)j->ey, j->ty, sy, buf, m);
    }
}

static void copy_task(void *ctx, int64_t task, int thread) {
    const copy_job *j = ctx;
    const ew_iter *it = &j->it;
    int64_t pos = task * EW_TASK_ELEMS;
    int64_t end = j->n - pos < EW_TASK_ELEMS ? j->n : pos + EW_TASK_ELEMS;
    int64_t idx[ZT_MAX_DIMS];
    iter_seek(it, pos, idx);
    int last = it->ndim - 1;
    while (pos < end) {
        int64_t n = iter_run(it, idx, end - pos);
        copy_run(j, j->y + iter_offset(it, 0, idx) * (int64_t)j->ey, it->st[0][last],
                 j->x + iter_offset(it, 1, idx) * (int64_t)j->ex, it->st[1][last], n);
        pos += n;
        iter_advance(it, idx, n);
    }
}

/* Transposing copies (x contiguous along another dim than y): walking y's rows
 * would read x one cache line per element. Instead the dim along which x is
 * contiguous is moved second to last (order does not matter to a copy) and the last
 * two dims are copied in COPY_TILE x COPY_TILE tiles, whose lines stay in cache
 * on both sides. One tile per task. */
#define COPY_TILE 64

static int copy_make_tiled(ew_iter *it) {
    int last = it->ndim - 1, k = -1;
    if (last < 1 || it->st[0][last] != 1 || it->st[1][last] <= COPY_TILE) return 0;
    for (int d = 0; d < last; d++)
        if (it->st[1][d] == 1) k = d;
    if (k < 0) return 0;
    for (int d = k; d < last - 1; d++) { /* rotate dim k to last - 1 */
        int64_t sh = it->shape[d], s0 = it->st[0][d], s1 = it->st[1][d];
        it->shape[d] = it->shape[d + 1];
        it->st[0][d] = it->st[0][d + 1];
        it->st[1][d] = it->st[1][d + 1];
        it->shape[d + 1] = sh;
        it->st[0][d + 1] = s0;
        it->st[1][d + 1] = s1;
    }
    return 1;
}

static void copy_tile_task(void *ctx, int64_t task, int thread) {
    const copy_job *j = ctx;
    const ew_iter *it = &j->it;
    int r = it->ndim - 2, c = it->ndim - 1;
    int64_t rb = ceil_div(it->shape[r], COPY_TILE), cb = ceil_div(it->shape[c], COPY_TILE);
    int64_t o = task / (rb * cb), r0 = (task / cb % rb) * COPY_TILE, c0 = task % cb * COPY_TILE;
    int64_t offy = 0, offx = 0;
    for (int d = r - 1; d >= 0; d--) {
        int64_t i = o % it->shape[d];
        o /= it->shape[d];
        offy += i * it->st[0][d];
        offx += i * it->st[1][d];
    }
    int64_t r1 = it->shape[r] - r0 < COPY_TILE ? it->shape[r] : r0 + COPY_TILE;
    int64_t m = it->shape[c] - c0 < COPY_TILE ? it->shape[c] - c0 : COPY_TILE;
    for (int64_t i = r0; i < r1; i++) {
        int64_t oy = offy + i * it->st[0][r] + c0 * it->st[0][c];
        int64_t ox = offx + i * it->st[1][r] + c0 * it->st[1][c];
        copy_run(j, j->y + oy * (int64_t)j->ey, it->st[0][c], j->x + ox * (int64_t)j->ex,
                 it->st[1][c], m);
    }
}

zt_status zt_cpu_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    copy_job j = {.y = y->data, .x = x->data, .ty = y->dtype, .tx = x->dtype,
                  .ey = zt_dtype_size(y->dtype), .ex = zt_dtype_size(x->dtype),
                  .n = zt_tensor_numel(y)};
    if (j.n == 0) return ZT_OK;
    if (j.ty != j.tx && (!zt_dtype_is_float(j.tx) ||
                         (j.ty != ZT_F32 && j.ty != ZT_F16 && j.ty != ZT_BF16)))
        return zt_fail(ZT_ERR_UNSUPPORTED, "copy: %s to %s", zt_dtype_name(j.tx),
                       zt_dtype_name(j.ty));
    int64_t st[2][ZT_MAX_DIMS];
    for (int d = 0; d < y->ndim; d++) {
        st[0][d] = y->stride[d];
        st[1][d] = x->stride[d];
    }
    iter_init(&j.it, y->ndim, y->shape, 2, st);
    if (copy_make_tiled(&j.it)) {
        int64_t rows = j.it.shape[j.it.ndim - 2], cols = j.it.shape[j.it.ndim - 1];
        int64_t tiles = j.n / (rows * cols) * ceil_div(rows, COPY_TILE) * ceil_div(cols, COPY_TILE);
        zt_pool_run(zt_cpu_pool(be), copy_tile_task, &j, tiles);
    } else {
        zt_pool_run(zt_cpu_pool(be), copy_task, &j, ceil_div(j.n, EW_TASK_ELEMS));
    }
    return ZT_OK;
}

/* Argument checks shared by every backend, then dispatch through the table. */
#include "ops.h"

#include <string.h>
#include <time.h>

#include "status.h"

#define SHAPE(t) zt_tensor_shape_str((t), (char[96]){0}, 96)

/* ---- profiling: with zt_op_profile(1), each op waits for the backend before and after
 * and its wall time is added to its label's total (for finding where a model's time goes;
 * the waiting makes the whole slower). Products and convolutions count their
 * multiply-adds too, so the report shows the rate each achieves; convolutions are
 * labelled by kernel and channels, as their shapes differ most in cost. */
#define PROF_MAX 48
static struct {
    int on;
    struct {
        char name[40];
        double seconds, flops;
        long calls;
    } ops[PROF_MAX];
} prof;

static double prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void zt_op_profile(int on) {
    if (on) memset(&prof, 0, sizeof prof); /* off keeps the totals for the report */
    prof.on = on;
}

static double prof_begin(zt_backend *be) {
    if (!prof.on) return 0;
    if (be->sync) be->sync(be);
    return prof_now();
}

static zt_status prof_end(zt_backend *be, const char *name, double flops, double t0,
                          zt_status s) {
    if (!prof.on) return s;
    if (be->sync) be->sync(be);
    double dt = prof_now() - t0;
    for (int i = 0; i < PROF_MAX; i++) { /* a full table drops new labels */
        if (prof.ops[i].name[0] && strcmp(prof.ops[i].name, name)) continue;
        if (!prof.ops[i].name[0]) snprintf(prof.ops[i].name, sizeof prof.ops[i].name, "%s", name);
        prof.ops[i].seconds += dt;
        prof.ops[i].flops += flops;
        prof.ops[i].calls++;
        break;
    }
    return s;
}

int zt_op_profile_entry(int i, const char **name, long *calls, double *seconds, double *flops) {
    if (i < 0 || i >= PROF_MAX || !prof.ops[i].name[0]) return 0;
    *name = prof.ops[i].name;
    *calls = prof.ops[i].calls;
    *seconds = prof.ops[i].seconds;
    *flops = prof.ops[i].flops;
    return 1;
}

void zt_op_profile_report(FILE *f) {
    double total = 0;
    for (int i = 0; i < PROF_MAX && prof.ops[i].name[0]; i++) total += prof.ops[i].seconds;
    fprintf(f, "%-32s %8s %8s %9s %6s %8s\n", "op", "calls", "seconds", "ms/call", "share",
            "TFLOP/s");
    for (int i = 0; i < PROF_MAX && prof.ops[i].name[0]; i++) {
        const double sec = prof.ops[i].seconds;
        fprintf(f, "%-32s %8ld %8.3f %9.3f %5.1f%%", prof.ops[i].name, prof.ops[i].calls, sec,
                1e3 * sec / (double)prof.ops[i].calls, 100.0 * sec / (total > 0 ? total : 1));
        if (prof.ops[i].flops > 0 && sec > 0)
            fprintf(f, " %8.2f", prof.ops[i].flops / sec * 1e-12);
        fputc('\n', f);
    }
    fprintf(f, "%-32s %8s %8.3f\n", "all ops", "", total);
}

/* FLOPS: the op's floating-point operations (2 per multiply-add), 0 where not counted */
#define DISPATCH_FLOPS(label, flops, fn, ...)                                                      \
    do {                                                                                           \
        if (!be->fn) return zt_fail(ZT_ERR_UNSUPPORTED, #fn ": not on the %s backend", be->name);  \
        if (!prof.on) return be->fn(be, __VA_ARGS__);                                              \
        double t0_ = prof_begin(be);                                                               \
        return prof_end(be, (label), (flops), t0_, be->fn(be, __VA_ARGS__));                      \
    } while (0)
#define DISPATCH_AS(label, fn, ...) DISPATCH_FLOPS(label, 0, fn, __VA_ARGS__)
#define DISPATCH(fn, ...) DISPATCH_AS(#fn, fn, __VA_ARGS__)

static zt_status need_f32(const char *op, const char *arg, const zt_tensor *t) {
    if (t->dtype != ZT_F32)
        return zt_fail(ZT_ERR_RUNTIME, "%s: %s must be F32, not %s", op, arg,
                       zt_dtype_name(t->dtype));
    return ZT_OK;
}

static zt_status need_contig(const char *op, const char *arg, const zt_tensor *t) {
    if (!zt_tensor_is_contiguous(t))
        return zt_fail(ZT_ERR_RUNTIME, "%s: %s %s must be contiguous", op, arg, SHAPE(t));
    return ZT_OK;
}

static zt_status need_f32_contig(const char *op, const char *arg, const zt_tensor *t) {
    ZT_TRY(need_f32(op, arg, t));
    return need_contig(op, arg, t);
}

/* optional 1-D parameter vector of any float dtype, n elements */
static zt_status need_vec(const char *op, const char *arg, const zt_tensor *t, int64_t n) {
    if (!t) return ZT_OK;
    if (!zt_dtype_is_float(t->dtype))
        return zt_fail(ZT_ERR_RUNTIME, "%s: %s has dtype %s", op, arg, zt_dtype_name(t->dtype));
    if (zt_tensor_numel(t) != n || !zt_tensor_is_contiguous(t))
        return zt_fail(ZT_ERR_RUNTIME, "%s: %s %s should hold %lld contiguous values", op, arg,
                       SHAPE(t), (long long)n);
    return ZT_OK;
}

static zt_status need_same_shape(const char *op, const zt_tensor *y, const zt_tensor *x) {
    if (!zt_tensor_same_shape(y, x))
        return zt_fail(ZT_ERR_RUNTIME, "%s: output %s does not match input %s", op, SHAPE(y),
                       SHAPE(x));
    return ZT_OK;
}

static int64_t last_dim(const zt_tensor *t) {
    return t->ndim ? t->shape[t->ndim - 1] : 1;
}

static zt_status check_linear(const zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                              const zt_tensor *b) {
    ZT_TRY(need_f32_contig("linear", "x", x));
    ZT_TRY(need_f32_contig("linear", "y", y));
    if (w->ndim != 2 || !zt_dtype_is_float(w->dtype) || !zt_tensor_is_contiguous(w))
        return zt_fail(ZT_ERR_RUNTIME, "linear: weight %s %s is not a contiguous matrix", SHAPE(w),
                       zt_dtype_name(w->dtype));
    int64_t n = w->shape[0], k = w->shape[1];
    if (x->ndim < 1 || last_dim(x) != k || y->ndim != x->ndim || last_dim(y) != n)
        return zt_fail(ZT_ERR_RUNTIME, "linear: x %s, weight %s and y %s disagree", SHAPE(x),
                       SHAPE(w), SHAPE(y));
    for (int i = 0; i < x->ndim - 1; i++)
        if (x->shape[i] != y->shape[i])
            return zt_fail(ZT_ERR_RUNTIME, "linear: x %s and y %s disagree", SHAPE(x), SHAPE(y));
    ZT_TRY(need_vec("linear", "bias", b, n));
    if (y->data == x->data) return zt_fail(ZT_ERR_RUNTIME, "linear: y may not alias x");
    return ZT_OK;
}

/* x [.., K] times w [N, K]^T */
static double linear_flops(const zt_tensor *x, const zt_tensor *w) {
    return 2.0 * (double)zt_tensor_numel(x) * (double)w->shape[0];
}

zt_status zt_op_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                       const zt_tensor *b) {
    ZT_TRY(check_linear(y, x, w, b));
    DISPATCH_FLOPS("linear", linear_flops(x, w), linear, y, x, w, b);
}

zt_status zt_op_linears(zt_backend *be, int n, zt_tensor *const *y, const zt_tensor *x,
                        const zt_tensor *const *w, const zt_tensor *const *b) {
    if (!be->linears) {
        for (int i = 0; i < n; i++) ZT_TRY(zt_op_linear(be, y[i], x, w[i], b[i]));
        return ZT_OK;
    }
    double flops = 0;
    for (int i = 0; i < n; i++) {
        ZT_TRY(check_linear(y[i], x, w[i], b[i]));
        flops += linear_flops(x, w[i]);
    }
    DISPATCH_FLOPS("linears", flops, linears, n, y, x, w, b);
}

zt_status zt_op_ffn_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_tensor *h,
                         const zt_tensor *w0, const zt_tensor *b0, const zt_tensor *w2,
                         const zt_tensor *b2) {
    if (!be->ffn_gelu) {
        ZT_TRY(zt_op_linear_gelu(be, h, x, w0, b0));
        return zt_op_linear(be, y, h, w2, b2);
    }
    ZT_TRY(check_linear(h, x, w0, b0));
    ZT_TRY(check_linear(y, h, w2, b2));
    if (y->data == x->data) return zt_fail(ZT_ERR_RUNTIME, "ffn: y may not alias x");
    DISPATCH_FLOPS("ffn_gelu", linear_flops(x, w0) + linear_flops(h, w2), ffn_gelu, y, x, h, w0,
                   b0, w2, b2);
}

zt_status zt_op_linear_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                            const zt_tensor *w, const zt_tensor *b) {
    if (!be->linear_gelu) {
        ZT_TRY(zt_op_linear(be, y, x, w, b));
        return zt_op_gelu_tanh(be, y, y);
    }
    ZT_TRY(check_linear(y, x, w, b));
    DISPATCH_FLOPS("linear_gelu", linear_flops(x, w), linear_gelu, y, x, w, b);
}

zt_status zt_op_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                       int trans_a, int trans_b) {
    ZT_TRY(need_f32_contig("matmul", "a", a));
    ZT_TRY(need_f32_contig("matmul", "b", b));
    ZT_TRY(need_f32_contig("matmul", "c", c));
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3 || c->ndim < 2 || c->ndim > 3)
        return zt_fail(ZT_ERR_RUNTIME, "matmul: needs 2-D or 3-D operands");
    int64_t ba = a->ndim == 3 ? a->shape[0] : 1, bb = b->ndim == 3 ? b->shape[0] : 1;
    int64_t bc = c->ndim == 3 ? c->shape[0] : 1;
    int64_t m = a->shape[a->ndim - (trans_a ? 1 : 2)], ka = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int64_t kb = b->shape[b->ndim - (trans_b ? 1 : 2)], n = b->shape[b->ndim - (trans_b ? 2 : 1)];
    int64_t batch = ba > bb ? ba : bb;
    if (ka != kb || c->shape[c->ndim - 2] != m || c->shape[c->ndim - 1] != n ||
        (ba != 1 && ba != batch) || (bb != 1 && bb != batch) || bc != batch)
        return zt_fail(ZT_ERR_RUNTIME, "matmul: a %s%s, b %s%s and c %s disagree", SHAPE(a),
                       trans_a ? "^T" : "", SHAPE(b), trans_b ? "^T" : "", SHAPE(c));
    if (c->data == a->data || c->data == b->data)
        return zt_fail(ZT_ERR_RUNTIME, "matmul: c may not alias an input");
    DISPATCH(matmul, c, a, b, trans_a, trans_b);
}

zt_status zt_op_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                           const zt_tensor *b, float eps) {
    ZT_TRY(need_f32_contig("layer_norm", "x", x));
    ZT_TRY(need_f32_contig("layer_norm", "y", y));
    ZT_TRY(need_same_shape("layer_norm", y, x));
    ZT_TRY(need_vec("layer_norm", "weight", w, last_dim(x)));
    ZT_TRY(need_vec("layer_norm", "bias", b, last_dim(x)));
    DISPATCH(layer_norm, y, x, w, b, eps);
}

zt_status zt_op_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         float eps) {
    ZT_TRY(need_f32_contig("rms_norm", "x", x));
    ZT_TRY(need_f32_contig("rms_norm", "y", y));
    ZT_TRY(need_same_shape("rms_norm", y, x));
    ZT_TRY(need_vec("rms_norm", "weight", w, last_dim(x)));
    DISPATCH(rms_norm, y, x, w, eps);
}

static zt_status check_l2(const char *op, const zt_tensor *y, const zt_tensor *x, int axis,
                          const zt_tensor *gamma, const zt_tensor *beta) {
    ZT_TRY(need_f32_contig(op, "x", x));
    ZT_TRY(need_f32_contig(op, "y", y));
    ZT_TRY(need_same_shape(op, y, x));
    if (axis < 0 || axis >= x->ndim)
        return zt_fail(ZT_ERR_RUNTIME, "%s: axis %d outside %s", op, axis, SHAPE(x));
    ZT_TRY(need_vec(op, "gamma", gamma, x->shape[axis]));
    return need_vec(op, "beta", beta, x->shape[axis]);
}

zt_status zt_op_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                        const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps) {
    ZT_TRY(check_l2("l2_norm", y, x, axis, gamma, beta));
    DISPATCH(l2_norm, y, x, axis, gamma, beta, scale, eps);
}

zt_status zt_op_l2_norm_silu(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                             const zt_tensor *gamma, const zt_tensor *beta, float scale,
                             float eps) {
    ZT_TRY(check_l2("l2_norm_silu", y, x, axis, gamma, beta));
    if (!be->l2_norm_silu) {
        ZT_TRY(zt_op_l2_norm(be, y, x, axis, gamma, beta, scale, eps));
        return zt_op_silu(be, y, y);
    }
    DISPATCH(l2_norm_silu, y, x, axis, gamma, beta, scale, eps);
}

zt_status zt_op_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op, float alpha,
                      float beta) {
    ZT_TRY(need_f32_contig("unary", "x", x));
    ZT_TRY(need_f32_contig("unary", "y", y));
    ZT_TRY(need_same_shape("unary", y, x));
    if ((unsigned)op >= ZT_UNARY_COUNT) return zt_fail(ZT_ERR_RUNTIME, "unary: bad op %d", op);
    DISPATCH(unary, y, x, op, alpha, beta);
}

zt_status zt_op_silu(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    return zt_op_unary(be, y, x, ZT_UNARY_SILU, 0, 0);
}
zt_status zt_op_gelu_tanh(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    return zt_op_unary(be, y, x, ZT_UNARY_GELU_TANH, 0, 0);
}
zt_status zt_op_scale(zt_backend *be, zt_tensor *y, const zt_tensor *x, float alpha) {
    return zt_op_unary(be, y, x, ZT_UNARY_SCALE, alpha, 0);
}
zt_status zt_op_clamp(zt_backend *be, zt_tensor *y, const zt_tensor *x, float lo, float hi) {
    return zt_op_unary(be, y, x, ZT_UNARY_CLAMP, lo, hi);
}

zt_status zt_op_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                       zt_binary_op op) {
    ZT_TRY(need_f32("binary", "a", a));
    ZT_TRY(need_f32("binary", "b", b));
    ZT_TRY(need_f32_contig("binary", "c", c));
    if ((unsigned)op >= ZT_BINARY_COUNT) return zt_fail(ZT_ERR_RUNTIME, "binary: bad op %d", op);
    /* broadcast right-aligned: every input dim is 1 or equals the output's */
    if (a->ndim > c->ndim || b->ndim > c->ndim)
        return zt_fail(ZT_ERR_RUNTIME, "binary: inputs %s, %s have more dims than output %s",
                       SHAPE(a), SHAPE(b), SHAPE(c));
    for (int i = 0; i < c->ndim; i++) {
        int ia = i - (c->ndim - a->ndim), ib = i - (c->ndim - b->ndim);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        int64_t want = sa > sb ? sa : sb;
        if ((sa != 1 && sa != want) || (sb != 1 && sb != want) || c->shape[i] != want)
            return zt_fail(ZT_ERR_RUNTIME, "binary: %s and %s do not broadcast to %s", SHAPE(a),
                           SHAPE(b), SHAPE(c));
    }
    DISPATCH(binary, c, a, b, op);
}

zt_status zt_op_add(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b) {
    return zt_op_binary(be, c, a, b, ZT_BINARY_ADD);
}
zt_status zt_op_mul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b) {
    return zt_op_binary(be, c, a, b, ZT_BINARY_MUL);
}

/* a modulation vector covers one row ([D]) or every row (x's element count) */
static zt_status need_mod(const char *op, const char *arg, const zt_tensor *m, const zt_tensor *x) {
    ZT_TRY(need_f32_contig(op, arg, m));
    int64_t n = zt_tensor_numel(m);
    if (n != last_dim(x) && n != zt_tensor_numel(x))
        return zt_fail(ZT_ERR_RUNTIME, "%s: %s %s fits neither a row nor all of %s", op, arg,
                       SHAPE(m), SHAPE(x));
    return ZT_OK;
}

zt_status zt_op_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *shift,
                         const zt_tensor *scale) {
    ZT_TRY(need_f32_contig("modulate", "x", x));
    ZT_TRY(need_f32_contig("modulate", "y", y));
    ZT_TRY(need_same_shape("modulate", y, x));
    ZT_TRY(need_mod("modulate", "shift", shift, x));
    ZT_TRY(need_mod("modulate", "scale", scale, x));
    DISPATCH(modulate, y, x, shift, scale);
}

zt_status zt_op_norm_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                              const zt_tensor *shift, const zt_tensor *scale, float eps) {
    ZT_TRY(need_f32_contig("norm_modulate", "x", x));
    ZT_TRY(need_f32_contig("norm_modulate", "y", y));
    ZT_TRY(need_same_shape("norm_modulate", y, x));
    ZT_TRY(need_mod("norm_modulate", "shift", shift, x));
    ZT_TRY(need_mod("norm_modulate", "scale", scale, x));
    if (!be->norm_modulate) {
        ZT_TRY(zt_op_layer_norm(be, y, x, NULL, NULL, eps));
        return zt_op_modulate(be, y, y, shift, scale);
    }
    DISPATCH(norm_modulate, y, x, shift, scale, eps);
}

zt_status zt_op_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                          const zt_tensor *gate) {
    ZT_TRY(need_f32_contig("gated_add", "acc", acc));
    ZT_TRY(need_f32_contig("gated_add", "y", y));
    ZT_TRY(need_same_shape("gated_add", acc, y));
    ZT_TRY(need_mod("gated_add", "gate", gate, y));
    DISPATCH(gated_add, acc, y, gate);
}

zt_status zt_op_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    ZT_TRY(need_f32_contig("softmax", "x", x));
    ZT_TRY(need_f32_contig("softmax", "y", y));
    ZT_TRY(need_same_shape("softmax", y, x));
    DISPATCH(softmax, y, x);
}

zt_status zt_op_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                          const zt_tensor *v, const zt_attn_params *p) {
    const zt_tensor *in[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        ZT_TRY(need_f32("attention", "q/k/v", in[i]));
        if (in[i]->ndim != 4 || in[i]->stride[3] != 1)
            return zt_fail(ZT_ERR_RUNTIME,
                           "attention: q/k/v %s must be [B, L, H, D] with D "
                           "contiguous",
                           SHAPE(in[i]));
    }
    ZT_TRY(need_f32_contig("attention", "o", o));
    if (!zt_tensor_same_shape(k, v) || k->shape[0] != q->shape[0] || k->shape[2] != q->shape[2] ||
        k->shape[3] != q->shape[3] || !zt_tensor_same_shape(o, q))
        return zt_fail(ZT_ERR_RUNTIME, "attention: q %s, k %s, v %s, o %s disagree", SHAPE(q),
                       SHAPE(k), SHAPE(v), SHAPE(o));
    if (k->shape[1] < 1) return zt_fail(ZT_ERR_RUNTIME, "attention: no keys");
    /* q k^T and p v: 2 * 2 * B * H * Lq * Lk * D */
    const double flops = 4.0 * (double)zt_tensor_numel(q) * (double)k->shape[1];
    DISPATCH_FLOPS(k->shape[1] == q->shape[1] ? "attention" : "attention (Lk != Lq)", flops,
                   attention, o, q, k, v, p);
}

zt_status zt_op_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p) {
    ZT_TRY(need_f32_contig("rope3d", "x", x));
    if (x->ndim != 3 && x->ndim != 4)
        return zt_fail(ZT_ERR_RUNTIME, "rope3d: x %s must be [(B,) L, H, D]", SHAPE(x));
    int64_t d = last_dim(x), l = x->shape[x->ndim - 3];
    if (d % 2 || p->pairs[0] < 0 || p->pairs[1] < 0 || p->pairs[2] < 0 ||
        p->pairs[0] + p->pairs[1] + p->pairs[2] != d / 2)
        return zt_fail(ZT_ERR_RUNTIME, "rope3d: pairs %d+%d+%d do not fill head dim %lld",
                       p->pairs[0], p->pairs[1], p->pairs[2], (long long)d);
    if (p->grid[0] * p->grid[1] * p->grid[2] != l)
        return zt_fail(ZT_ERR_RUNTIME, "rope3d: grid %lldx%lldx%lld is not %lld tokens",
                       (long long)p->grid[0], (long long)p->grid[1], (long long)p->grid[2],
                       (long long)l);
    DISPATCH(rope3d, x, p);
}

int64_t zt_conv_out_size(int64_t in, int k, int stride, int pad_before, int pad_after) {
    int64_t span = in + pad_before + pad_after - k;
    if (stride < 1 || span < 0) return 0;
    return span / stride + 1;
}

static zt_status check_conv(const char *op, int nsp, const zt_tensor *y, const zt_tensor *x,
                            const zt_tensor *w, const zt_tensor *b, const zt_conv_params *p) {
    int nd = nsp + 2, first = 3 - nsp; /* conv2d uses params' h, w entries */
    ZT_TRY(need_f32_contig(op, "x", x));
    ZT_TRY(need_f32_contig(op, "y", y));
    if (x->ndim != nd || y->ndim != nd || w->ndim != nd || !zt_dtype_is_float(w->dtype) ||
        !zt_tensor_is_contiguous(w))
        return zt_fail(ZT_ERR_RUNTIME, "%s: x %s, weight %s, y %s need %d dims", op, SHAPE(x),
                       SHAPE(w), SHAPE(y), nd);
    if (w->shape[1] != x->shape[1] || y->shape[1] != w->shape[0] || y->shape[0] != x->shape[0])
        return zt_fail(ZT_ERR_RUNTIME, "%s: x %s, weight %s and y %s disagree on channels", op,
                       SHAPE(x), SHAPE(w), SHAPE(y));
    const zt_tensor *pv = nsp == 3 ? p->prev : NULL;
    if (nsp == 2 && p->prev) return zt_fail(ZT_ERR_RUNTIME, "%s: prev frames need conv3d", op);
    if (pv) {
        ZT_TRY(need_f32_contig(op, "prev", pv));
        if (pv->ndim != 5 || pv->shape[0] != x->shape[0] || pv->shape[1] != x->shape[1] ||
            pv->shape[3] != x->shape[3] || pv->shape[4] != x->shape[4])
            return zt_fail(ZT_ERR_RUNTIME, "%s: prev %s does not fit x %s", op, SHAPE(pv),
                           SHAPE(x));
        if (pv->data == y->data) return zt_fail(ZT_ERR_RUNTIME, "%s: y may not alias prev", op);
    }
    for (int i = 0; i < nsp; i++) {
        int j = first + i;
        if (p->stride[j] < 1 || p->pad[j][0] < 0 || p->pad[j][1] < 0)
            return zt_fail(ZT_ERR_RUNTIME, "%s: bad stride or padding", op);
        int64_t in = x->shape[2 + i] + (i == 0 && pv ? pv->shape[2] : 0);
        int64_t o =
            zt_conv_out_size(in, (int)w->shape[2 + i], p->stride[j], p->pad[j][0], p->pad[j][1]);
        if (o < 1 || y->shape[2 + i] != o)
            return zt_fail(ZT_ERR_RUNTIME,
                           "%s: x %s with weight %s gives size %lld in dim %d, "
                           "y is %s",
                           op, SHAPE(x), SHAPE(w), (long long)o, 2 + i, SHAPE(y));
    }
    if (y->data == x->data) return zt_fail(ZT_ERR_RUNTIME, "%s: y may not alias x", op);
    return need_vec(op, "bias", b, w->shape[0]);
}

/* "conv3d 3x3x3 384->384": the kernel and the channels, w [Cout, Cin, k...] */
static void conv_label(char *buf, size_t n, const char *op, const zt_tensor *w) {
    int at = snprintf(buf, n, "%s ", op);
    for (int i = 2; i < w->ndim && at > 0 && (size_t)at < n; i++)
        at += snprintf(buf + at, n - (size_t)at, "%s%lld", i > 2 ? "x" : "",
                       (long long)w->shape[i]);
    if (at > 0 && (size_t)at < n)
        snprintf(buf + at, n - (size_t)at, " %lld->%lld", (long long)w->shape[1],
                 (long long)w->shape[0]);
}

/* every output value: Cin * (kernel volume) multiply-adds */
static double conv_flops(const zt_tensor *y, const zt_tensor *w) {
    return 2.0 * (double)zt_tensor_numel(y) * (double)(zt_tensor_numel(w) / w->shape[0]);
}

zt_status zt_op_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                       const zt_tensor *b, const zt_conv_params *p) {
    ZT_TRY(check_conv("conv2d", 2, y, x, w, b, p));
    char label[40] = "conv2d";
    if (prof.on) conv_label(label, sizeof label, "conv2d", w);
    DISPATCH_FLOPS(label, conv_flops(y, w), conv2d, y, x, w, b, p);
}

zt_status zt_op_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                       const zt_tensor *b, const zt_conv_params *p) {
    ZT_TRY(check_conv("conv3d", 3, y, x, w, b, p));
    char label[40] = "conv3d";
    if (prof.on) conv_label(label, sizeof label, "conv3d", w);
    DISPATCH_FLOPS(label, conv_flops(y, w), conv3d, y, x, w, b, p);
}

zt_status zt_op_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    ZT_TRY(need_f32_contig("upsample", "x", x));
    ZT_TRY(need_f32_contig("upsample", "y", y));
    if (x->ndim != y->ndim) return zt_fail(ZT_ERR_RUNTIME, "upsample: dims differ");
    for (int i = 0; i < x->ndim; i++)
        if (y->shape[i] < 1 || x->shape[i] < 1)
            return zt_fail(ZT_ERR_RUNTIME, "upsample: empty %s -> %s", SHAPE(x), SHAPE(y));
    DISPATCH(upsample_nearest, y, x);
}

zt_status zt_op_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                    float value) {
    ZT_TRY(need_f32("pad", "x", x));
    ZT_TRY(need_f32_contig("pad", "y", y));
    if (x->ndim != y->ndim) return zt_fail(ZT_ERR_RUNTIME, "pad: dims differ");
    for (int i = 0; i < x->ndim; i++)
        if (pad[i][0] < 0 || pad[i][1] < 0 || y->shape[i] != x->shape[i] + pad[i][0] + pad[i][1])
            return zt_fail(ZT_ERR_RUNTIME, "pad: %s padded does not give %s", SHAPE(x), SHAPE(y));
    DISPATCH(pad, y, x, pad, value);
}

zt_status zt_op_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis) {
    if (n < 1 || axis < 0 || axis >= y->ndim)
        return zt_fail(ZT_ERR_RUNTIME, "concat: bad count %d or axis %d", n, axis);
    ZT_TRY(need_contig("concat", "y", y));
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const zt_tensor *x = &xs[i];
        if (x->dtype != y->dtype || x->ndim != y->ndim)
            return zt_fail(ZT_ERR_RUNTIME, "concat: input %d %s does not fit output %s", i,
                           SHAPE(x), SHAPE(y));
        for (int d = 0; d < y->ndim; d++)
            if (d != axis && x->shape[d] != y->shape[d])
                return zt_fail(ZT_ERR_RUNTIME, "concat: input %d %s does not fit output %s", i,
                               SHAPE(x), SHAPE(y));
        total += x->shape[axis];
    }
    if (total != y->shape[axis])
        return zt_fail(ZT_ERR_RUNTIME, "concat: inputs give %lld along axis %d, output has %lld",
                       (long long)total, axis, (long long)y->shape[axis]);
    DISPATCH(concat, y, xs, n, axis);
}

zt_status zt_op_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    ZT_TRY(need_same_shape("copy", y, x));
    if (!zt_dtype_is_float(x->dtype) ||
        (y->dtype != ZT_F32 && y->dtype != ZT_F16 && y->dtype != ZT_BF16))
        return zt_fail(ZT_ERR_RUNTIME, "copy: %s to %s is not supported", zt_dtype_name(x->dtype),
                       zt_dtype_name(y->dtype));
    DISPATCH(copy, y, x);
}

/* null_backend.c - a backend that computes nothing.
 *
 * Every op checks nothing beyond what core/ops.c already checked and returns at once;
 * allocations are counted (the peak is kept) and never touched. Run a model on it with
 * the arenas measuring (zt_arena_set_measuring) and every arena, cache and backend
 * allocation happens exactly as in a real run, in microseconds and without committing
 * memory: that is how the memory plan learns each stage's peak.
 *
 * Standing in for a GPU (zt_backend_null_model_cuda), it also keeps the scratch the CUDA
 * backend's ops would take, slot by slot as that backend grows them (the sizes from
 * cuda/cuda_sizes.h, which its kernels allocate by): 16-bit copies of products' inputs,
 * attention's packed q, k and v, convolutions' column buffers, cuBLASLt's workspace.
 * It assumes what a GPU of compute capability 8.0 or newer runs: cuBLASLt present, the
 * flash kernels for head dims 64 and 128, padded to the larger of their tiles. */
#include <stdlib.h>

#include "../../core/status.h"
#include "../backend.h"
#include "../cuda/conv_tiles.h"
#include "../cuda/cuda_sizes.h"

enum { SLOT_HALF, SLOT_EXACT, SLOT_MASK, SLOT_PARAMS, SLOT_LT, SLOT_BIAS, SLOTS };

typedef struct null_ctx {
    size_t in_use, peak;
    int cuda;           /* keep the CUDA backend's scratch too */
    size_t slot[SLOTS]; /* its slots' sizes: the slots of src/backends/cuda/cuda.h */
} null_ctx;

/* a CUDA scratch request: the slot grows to it, rounded as zt_cuda_scratch rounds */
static void need(zt_backend *be, int slot, int64_t bytes) {
    null_ctx *c = be->ctx;
    const size_t r = ZT_CUDA_SCRATCH_ROUND;
    size_t want = ((size_t)bytes + r - 1) & ~(r - 1);
    if (c->cuda && bytes > 0 && want > c->slot[slot]) c->slot[slot] = want;
}

static int is_16bit(const zt_tensor *t) {
    return t->dtype == ZT_BF16 || t->dtype == ZT_F16;
}

/* rows of x for weights w [N, K] */
static int64_t rows_for(const zt_tensor *x, const zt_tensor *w) {
    return w->shape[1] ? zt_tensor_numel(x) / w->shape[1] : 0;
}

/* One product of a 16-bit input already made, as gemm.cu's product(): cuBLASLt (with
 * its workspace) when there is a bias, a GELU or a 16-bit output, the bias converted to
 * the output's dtype when it is not in it already. */
static void model_product(zt_backend *be, const zt_tensor *w, const zt_tensor *b, int gelu,
                          zt_dtype yt) {
    if (!is_16bit(w) || !(b || gelu || yt != ZT_F32)) return;
    need(be, SLOT_LT, (int64_t)ZT_CUDA_LT_WORKSPACE);
    if (b && b->dtype != yt) need(be, SLOT_BIAS, w->shape[0] * (int64_t)sizeof(float));
}

/* gemm.cu's linear(): fp8 weights widened to bf16 (zt_cuda_gemm_weight), a 16-bit copy
 * of x for 16-bit weights, then the product */
static void model_linear(zt_backend *be, const zt_tensor *x, const zt_tensor *w_in,
                         const zt_tensor *b, int gelu) {
    zt_tensor wb = *w_in;
    const zt_tensor *w = w_in;
    if (w->dtype == ZT_F8_E4M3 || w->dtype == ZT_F8_E5M2) {
        need(be, SLOT_EXACT, zt_tensor_numel(w) * 2);
        wb.dtype = ZT_BF16;
        w = &wb;
    }
    if (is_16bit(w)) need(be, SLOT_HALF, rows_for(x, w) * w->shape[1] * 2);
    model_product(be, w, b, gelu, ZT_F32);
}

typedef struct null_header { /* in front of each allocation, for dealloc's count */
    size_t bytes;
    size_t pad[7]; /* keeps the payload 64-byte aligned */
} null_header;

static void nb_free(zt_backend *be) {
    free(be->ctx);
    free(be);
}
static int nb_threads(const zt_backend *be) {
    return 1;
}
static size_t nb_scratch(const zt_backend *be) {
    const null_ctx *c = be->ctx;
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++) n += c->slot[i];
    return n;
}
static zt_status nb_alloc(zt_backend *be, size_t bytes, void **ptr) {
    null_ctx *c = be->ctx;
    null_header *h = aligned_alloc(64, sizeof *h + ((bytes + 63) & ~(size_t)63));
    if (!h) return zt_fail(ZT_ERR_NOMEM, "null backend: cannot reserve %zu bytes", bytes);
    h->bytes = bytes; /* large blocks are fresh mappings: untouched, they cost nothing */
    c->in_use += bytes;
    if (c->in_use > c->peak) c->peak = c->in_use;
    *ptr = h + 1;
    return ZT_OK;
}
static void nb_dealloc(zt_backend *be, void *ptr) {
    if (!ptr) return;
    null_header *h = (null_header *)ptr - 1;
    ((null_ctx *)be->ctx)->in_use -= h->bytes;
    free(h);
}
static zt_status nb_move(zt_backend *be, void *dst, const void *src, size_t bytes) {
    return ZT_OK;
}
static zt_status nb_sync(zt_backend *be) {
    return ZT_OK;
}
static zt_status nb_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                           const zt_tensor *b) {
    model_linear(be, x, w, b, 0);
    return ZT_OK;
}
static zt_status nb_linear_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                const zt_tensor *w, const zt_tensor *b) {
    model_linear(be, x, w, b, 1);
    return ZT_OK;
}
/* gemm.cu's shared_input(): one 16-bit copy of x for all when the weights share a
 * 16-bit dtype */
static int shared_input(int n, const zt_tensor *const *w) {
    for (int i = 0; i < n; i++)
        if (!is_16bit(w[i]) || w[i]->dtype != w[0]->dtype) return 0;
    return n > 0;
}
static zt_status nb_linears(zt_backend *be, int n, zt_tensor *const *y, const zt_tensor *x,
                            const zt_tensor *const *w, const zt_tensor *const *b) {
    if (!shared_input(n, w)) {
        for (int i = 0; i < n; i++) model_linear(be, x, w[i], b[i], 0);
        return ZT_OK;
    }
    need(be, SLOT_HALF, rows_for(x, w[0]) * w[0]->shape[1] * 2);
    for (int i = 0; i < n; i++) model_product(be, w[i], b[i], 0, ZT_F32);
    return ZT_OK;
}
static zt_status nb_ffn_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_tensor *h,
                             const zt_tensor *w0, const zt_tensor *b0, const zt_tensor *w2,
                             const zt_tensor *b2) {
    const zt_tensor *ws[2] = {w0, w2};
    if (!shared_input(2, ws)) {
        model_linear(be, x, w0, b0, 1);
        model_linear(be, h, w2, b2, 0);
        return ZT_OK;
    }
    need(be, SLOT_HALF, rows_for(x, w0) * w0->shape[1] * 2);
    model_product(be, w0, b0, 1, w0->dtype); /* the hidden layer in 16 bits */
    model_product(be, w2, b2, 0, ZT_F32);
    return ZT_OK;
}
static zt_status nb_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                           int ta, int tb) {
    return ZT_OK;
}
static zt_status nb_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                               const zt_tensor *b, float eps) {
    return ZT_OK;
}
static zt_status nb_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                             float eps) {
    return ZT_OK;
}
static zt_status nb_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                            const zt_tensor *g, const zt_tensor *b, float scale, float eps) {
    return ZT_OK;
}
static zt_status nb_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                          float alpha, float beta) {
    return ZT_OK;
}
static zt_status nb_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                           zt_binary_op op) {
    return ZT_OK;
}
static zt_status nb_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                             const zt_tensor *shift, const zt_tensor *scale) {
    return ZT_OK;
}
static zt_status nb_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                              const zt_tensor *gate) {
    return ZT_OK;
}
static zt_status nb_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    return ZT_OK;
}
static zt_status nb_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                              const zt_tensor *v, const zt_attn_params *p) {
    /* attention.cu: the flash kernels read packed bf16 q, k, v; the f32 kernel takes the
     * key mask and the relative bias as they are */
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], D = q->shape[3];
    const int64_t Lk = k->shape[1];
    if ((D == 64 || D == 128) && !p->rel_bias) {
        const int64_t t = ZT_CUDA_PACK_TILE_MAX;
        need(be, SLOT_HALF, zt_cuda_pack_bytes(B * H, Lq, Lk, D, t, t));
        if (p->key_valid) need(be, SLOT_PARAMS, B * Lk);
        return ZT_OK;
    }
    if (p->key_valid) need(be, SLOT_MASK, B * Lk);
    if (p->rel_bias) need(be, SLOT_PARAMS, H * (Lq + Lk - 1) * (int64_t)sizeof(float));
    return ZT_OK;
}
static zt_status nb_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p) {
    return ZT_OK;
}
static zt_status nb_conv(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         const zt_tensor *b, const zt_conv_params *p) {
    /* conv.cu: columns of k values for chunks of the output positions, unless a 1x1x1
     * convolution of f32 weights reads its input in place or (ZT_CUDA_CONV=implicit) the
     * implicit GEMM takes it, which holds a copy of the weights */
    int64_t s = 1, in = 1, k = w->shape[1], unit = 1, ker[3] = {1, 1, 1};
    int stride[3] = {1, p->stride[1], p->stride[2]};
    int sp = x->ndim - 2, first = 3 - sp; /* conv2d's params use entries 1 and 2 */
    for (int i = 0; i < sp; i++) {
        s *= y->shape[2 + i];
        in *= x->shape[2 + i];
        k *= w->shape[2 + i];
        ker[first + i] = w->shape[2 + i];
        unit = unit && w->shape[2 + i] == 1 && p->stride[first + i] == 1;
    }
    if (sp == 3) stride[0] = p->stride[0];
    int prev = sp == 3 && p->prev && p->prev->shape[2] > 0;
    if (w->dtype == ZT_F32 && unit && !prev && s == in) return ZT_OK;
    int64_t frames = sp == 3 ? y->shape[2] : 1;
    int float_w = w->dtype == ZT_F32 || w->dtype == ZT_F16 || w->dtype == ZT_BF16;
    int64_t plane = x->shape[x->ndim - 2] * x->shape[x->ndim - 1];
    if (zt_ct_env() && zt_ct_takes(float_w, ker, stride, x->shape[0] * frames, plane)) {
        need(be, SLOT_HALF, zt_ct_scratch_bytes(k, w->shape[0]));
        return ZT_OK;
    }
    int64_t es = (int64_t)zt_dtype_size(w->dtype);
    need(be, SLOT_HALF, zt_cuda_conv_chunk(s, k, es, zt_cuda_conv_budget_env()) * k * es);
    return ZT_OK;
}
static zt_status nb_upsample(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    return ZT_OK;
}
static zt_status nb_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                        float value) {
    return ZT_OK;
}
static zt_status nb_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis) {
    return ZT_OK;
}
static zt_status nb_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    return ZT_OK;
}

zt_status zt_backend_null_init(zt_backend **out) {
    *out = NULL;
    zt_backend *be = calloc(1, sizeof *be);
    null_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return zt_fail(ZT_ERR_NOMEM, "null backend: out of memory");
    }
    *be = (zt_backend){
        .name = "null",
        .ctx = c,
        .free = nb_free,
        .threads = nb_threads,
        .scratch_bytes = nb_scratch,
        .alloc = nb_alloc,
        .dealloc = nb_dealloc,
        .upload = nb_move,
        .download = nb_move,
        .sync = nb_sync,
        .linear = nb_linear,
        .linears = nb_linears,
        .linear_gelu = nb_linear_gelu,
        .ffn_gelu = nb_ffn_gelu,
        .matmul = nb_matmul,
        .layer_norm = nb_layer_norm,
        .rms_norm = nb_rms_norm,
        .l2_norm = nb_l2_norm,
        .unary = nb_unary,
        .binary = nb_binary,
        .modulate = nb_modulate,
        .gated_add = nb_gated_add,
        .softmax = nb_softmax,
        .attention = nb_attention,
        .rope3d = nb_rope3d,
        .conv2d = nb_conv,
        .conv3d = nb_conv,
        .upsample_nearest = nb_upsample,
        .pad = nb_pad,
        .concat = nb_concat,
        .copy = nb_copy,
    };
    *out = be;
    return ZT_OK;
}

size_t zt_backend_null_peak(const zt_backend *be) {
    return ((const null_ctx *)be->ctx)->peak;
}

void zt_backend_null_model_cuda(zt_backend *be) {
    ((null_ctx *)be->ctx)->cuda = 1;
}

/* null_backend.c - a backend that computes nothing.
 *
 * Every op checks nothing beyond what core/ops.c already checked and returns at once;
 * allocations are counted (the peak is kept) and never touched. Run a model on it with
 * the arenas measuring (zt_arena_set_measuring) and every arena, cache and backend
 * allocation happens exactly as in a real run, in microseconds and without committing
 * memory: that is how the memory plan learns each stage's peak. */
#include <stdlib.h>

#include "../../core/status.h"
#include "../backend.h"

typedef struct null_ctx {
    size_t in_use, peak;
} null_ctx;

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
    return 0;
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
    return ZT_OK;
}
static zt_status nb_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p) {
    return ZT_OK;
}
static zt_status nb_conv(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         const zt_tensor *b, const zt_conv_params *p) {
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

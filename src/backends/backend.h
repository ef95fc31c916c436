/* backend.h - a compute backend is a table of functions.
 *
 * Model code calls the zt_op_* wrappers of core/ops.h, which check shapes and dtypes
 * once and then call through this table; it never knows which backend runs it.
 * Entries a backend does not provide are NULL and the wrapper reports
 * ZT_ERR_UNSUPPORTED. Tensors handed to a backend live in its memory (device 0 is
 * host memory, used by the CPU backend). All functions return a zt_status. */
#ifndef ZT_BACKEND_H
#define ZT_BACKEND_H

#include "../core/tensor.h"

typedef struct zt_backend zt_backend;

typedef enum zt_unary_op {
    ZT_UNARY_SILU,      /* x * sigmoid(x) */
    ZT_UNARY_GELU_TANH, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    ZT_UNARY_GELU_ERF,  /* 0.5 x (1 + erf(x / sqrt(2))) */
    ZT_UNARY_SCALE,     /* alpha * x + beta */
    ZT_UNARY_CLAMP,     /* min(max(x, alpha), beta) */
    ZT_UNARY_TANH,
    ZT_UNARY_SIGMOID,
    ZT_UNARY_EXP,
    ZT_UNARY_COUNT
} zt_unary_op;

typedef enum zt_binary_op {
    ZT_BINARY_ADD,
    ZT_BINARY_SUB,
    ZT_BINARY_MUL,
    ZT_BINARY_DIV,
    ZT_BINARY_COUNT
} zt_binary_op;

typedef struct zt_attn_params {
    float scale; /* multiplies q.k; 1/sqrt(head_dim) for most models, 1 for T5 */
    /* Optional, per batch and key: nonzero keeps the key. [batch * Lk] */
    const uint8_t *key_valid;
    /* Optional relative-position bias (T5): [heads, Lq + Lk - 1] f32, the bias of
     * query i and key j is rel_bias[h * (Lq + Lk - 1) + (j - i + Lq - 1)]. */
    const float *rel_bias;
    /* Optional additive bias per batch and key: [batch * Lk] f32, added to every
     * query's logit of that key (a key standing for n equal ones carries log n). Only
     * where the backend's attn_key_bias is set; others refuse it. */
    const float *key_bias;
} zt_attn_params;

typedef struct zt_rope_params {
    /* Tokens are ordered (frame, row, column) over a grid[0] x grid[1] x grid[2]
     * lattice; the head dim's pairs are split into sections of pairs[0] (frame),
     * pairs[1] (row) and pairs[2] (column) pairs, which must sum to head_dim / 2.
     * Pair i of a section of n pairs turns by pos * theta^(-i / n). Pairs are
     * interleaved: (x[2p], x[2p+1]). */
    int64_t grid[3];
    int64_t offset[3]; /* added to the positions */
    int pairs[3];
    double theta;
} zt_rope_params;

/* One piece of a host-to-device copy made ahead of its use (upload_ahead). */
typedef struct zt_upload_part {
    void *dst;       /* device memory */
    const void *src; /* host memory */
    size_t bytes;
} zt_upload_part;

typedef struct zt_conv_params {
    int stride[3];       /* (t,) h, w; conv2d uses the last two */
    int pad[3][2];       /* (t,) h, w: zero padding before and after; causal: t = {2p, 0} */
    /* conv3d only, optional: frames [N, Cin, P, H, W] that come before x in time, as if
     * concatenated in front of it (after the front padding); the causal cache. */
    const zt_tensor *prev;
} zt_conv_params;

struct zt_backend {
    const char *name;
    int device; /* where its tensors live, as zt_tensor.device: 0 host, else GPU index + 1 */
    /* its attention takes zt_attn_params.key_bias, and its tensors' data can be read on
     * the host (models may then fold equal keys into one) */
    int attn_key_bias;
    void *ctx;
    void (*free)(zt_backend *be);
    int (*threads)(const zt_backend *be);
    /* bytes of scratch the backend holds (per-thread buffers, workspaces) */
    size_t (*scratch_bytes)(const zt_backend *be);
    /* memory the backend's tensors live in, and copies to and from host memory */
    zt_status (*alloc)(zt_backend *be, size_t bytes, void **ptr);
    void (*dealloc)(zt_backend *be, void *ptr);
    zt_status (*upload)(zt_backend *be, void *dst, const void *host_src, size_t bytes);
    zt_status (*download)(zt_backend *be, void *host_dst, const void *src, size_t bytes);
    /* device memory only (NULL on host backends): zero bytes at ptr; copy bytes from src
     * to dst, which may overlap (memmove) */
    zt_status (*fill_zero)(zt_backend *be, void *ptr, size_t bytes);
    zt_status (*move)(zt_backend *be, void *dst, const void *src, size_t bytes);
    /* wait until queued work is done (no-op on the CPU) */
    zt_status (*sync)(zt_backend *be);
    /* Device backends (NULL elsewhere), their memory: the bytes allocated now and at
     * most at once since reset_peak (scratch buffers included), the card's total and
     * free memory; release_scratch frees the scratch the ops grew (they grow again on
     * demand), between stages, so that one stage's largest buffers do not stay through
     * the next. */
    zt_status (*memory)(const zt_backend *be, size_t *live, size_t *peak, size_t *total,
                        size_t *free_bytes);
    void (*reset_peak)(zt_backend *be);
    void (*release_scratch)(zt_backend *be);
    /* Optional (device backends; NULL: upload each part, then nothing to wait for):
     * copies from host memory that overlap the work queued before them, for weights
     * brought in ahead of their use. The copy starts once all the work queued so far
     * has run (it may overwrite memory that work reads) and has read the parts' host
     * memory when this returns. lane (0 or 1) names it: upload_wait(lane) makes the
     * work queued after it wait for the lane's last copy, and a lane's next copy
     * follows its last. */
    zt_status (*upload_ahead)(zt_backend *be, int lane, const zt_upload_part *parts, int n);
    zt_status (*upload_wait)(zt_backend *be, int lane);

    /* y[M, N] = x[M, K] . w[N, K]^T + b[N]; x, y f32; w and b any float dtype, b NULL ok.
     * x and y may carry leading dims (M is their product). */
    zt_status (*linear)(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b);
    /* Optional (NULL: linear, then the tanh GELU): y = gelu_tanh(x . w^T + b) in one
     * pass, for backends that fuse the activation into the product's epilogue. */
    zt_status (*linear_gelu)(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                             const zt_tensor *w, const zt_tensor *b);
    /* Optional (NULL: one linear each): y[i] = x . w[i]^T + b[i] for i < n, for backends
     * that prepare x once for all (the GPU rounds it to the weights' dtype) */
    zt_status (*linears)(zt_backend *be, int n, zt_tensor *const *y, const zt_tensor *x,
                         const zt_tensor *const *w, const zt_tensor *const *b);
    /* Optional (NULL: linear_gelu into h, then linear): the feed-forward block
     * y = gelu_tanh(x . w0^T + b0) . w2^T + b2 with its hidden layer in h, whose
     * contents afterwards are the backend's (the GPU keeps it in 16 bits there) */
    zt_status (*ffn_gelu)(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_tensor *h,
                          const zt_tensor *w0, const zt_tensor *b0, const zt_tensor *w2,
                          const zt_tensor *b2);
    /* c[(B,) M, N] = op(a) . op(b), f32; op transposes the last two dims when asked.
     * A batch dim of 1 in a or b broadcasts. */
    zt_status (*matmul)(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                        int trans_a, int trans_b);
    /* over the last dim; w, b optional */
    zt_status (*layer_norm)(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                            const zt_tensor *b, float eps);
    /* y = x / sqrt(mean(x^2) + eps) * w over the last dim; w optional */
    zt_status (*rms_norm)(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                          float eps);
    /* y = x / max(||x||_2, eps) * scale * gamma + beta, norm taken over dim axis; gamma
     * and beta are [shape[axis]] (optional). The Wan VAE's RMS_norm. y may be x. */
    zt_status (*l2_norm)(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                         const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps);
    /* Optional (NULL: l2_norm, then the SiLU): silu(l2_norm(x)) in one pass over memory,
     * the Wan VAE's norm and activation; y may be x */
    zt_status (*l2_norm_silu)(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                              const zt_tensor *gamma, const zt_tensor *beta, float scale,
                              float eps);
    /* y may be x */
    zt_status (*unary)(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                       float alpha, float beta);
    /* c = a op b with numpy broadcasting (right-aligned; size-1 dims stretch) */
    zt_status (*binary)(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                        zt_binary_op op);
    /* y[L, D] = x * (1 + scale) + shift; shift and scale are [D] or [L, D] */
    zt_status (*modulate)(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                          const zt_tensor *shift, const zt_tensor *scale);
    /* Optional (NULL: layer_norm without weights, then modulate): y[L, D] =
     * layer_norm(x) * (1 + scale) + shift in one pass over memory, shift and scale as
     * modulate's; y may be x */
    zt_status (*norm_modulate)(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                               const zt_tensor *shift, const zt_tensor *scale, float eps);
    /* acc[L, D] += y * gate; gate [D] or [L, D] */
    zt_status (*gated_add)(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                           const zt_tensor *gate);
    /* over the last dim */
    zt_status (*softmax)(zt_backend *be, zt_tensor *y, const zt_tensor *x);
    /* o[B, Lq, H, D] = softmax(scale q k^T + bias, masked) v for q [B, Lq, H, D],
     * k, v [B, Lk, H, D]. The last dim of q, k, v is contiguous; token and head
     * strides are free. Never holds the full score matrix. */
    zt_status (*attention)(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                           const zt_tensor *v, const zt_attn_params *p);
    /* in place on x [(B,) L, H, D] */
    zt_status (*rope3d)(zt_backend *be, zt_tensor *x, const zt_rope_params *p);
    /* x [N, Cin, H, W], w [Cout, Cin, kh, kw], b [Cout] or NULL -> y [N, Cout, Ho, Wo] */
    zt_status (*conv2d)(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b, const zt_conv_params *p);
    /* x [N, Cin, T, H, W], w [Cout, Cin, kt, kh, kw] -> y [N, Cout, To, Ho, Wo] */
    zt_status (*conv3d)(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b, const zt_conv_params *p);
    /* nearest-exact resampling of every dim to y's size: src = floor((dst + 0.5) * in / out) */
    zt_status (*upsample_nearest)(zt_backend *be, zt_tensor *y, const zt_tensor *x);
    /* constant padding: y.shape[d] = x.shape[d] + pad[d][0] + pad[d][1] */
    zt_status (*pad)(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                     float value);
    /* y = concatenation of xs[0..n) along axis */
    zt_status (*concat)(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis);
    /* y = x elementwise with any strides, converting between f32, f16 and bf16 */
    zt_status (*copy)(zt_backend *be, zt_tensor *y, const zt_tensor *x);
};

/* The CPU backend: n_threads <= 0 uses every core. */
zt_status zt_backend_cpu_init(zt_backend **be, int n_threads);
/* The CUDA backend, when built with it; ZT_ERR_UNSUPPORTED otherwise or when no GPU
 * is present. */
zt_status zt_backend_cuda_init(zt_backend **be, int device);
int zt_backend_cuda_available(void);
/* Bytes a CUDA backend has allocated now and at most at once, and the card's memory. */
zt_status zt_backend_cuda_memory(const zt_backend *be, size_t *live, size_t *peak,
                                 size_t *total);
/* Restarts the peak count from what is allocated now (per-stage peaks); no-op on other
 * backends. */
void zt_backend_cuda_reset_peak(zt_backend *be);
/* The null backend: ops do nothing, allocations are counted and never touched (see
 * null/null_backend.c); for memory planning. zt_backend_null_peak: most bytes its
 * alloc had out at once. zt_backend_null_model_cuda: its ops keep the scratch the CUDA
 * backend's would take as well, which its scratch_bytes then gives. */
zt_status zt_backend_null_init(zt_backend **be);
size_t zt_backend_null_peak(const zt_backend *be);
void zt_backend_null_model_cuda(zt_backend *be);
void zt_backend_free(zt_backend *be);

#endif

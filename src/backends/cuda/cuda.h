/* cuda.h - what the CUDA backend's files share: its context (device, stream, cuBLAS
 * handle, scratch), the check macros every CUDA and cuBLAS call goes through, a GEMM
 * helper over cuBLAS, and the ops of the backend table. Included from C (the backend
 * table) and from the kernels/ files (one per op family: kernels and the zt_status
 * wrapper that checks, launches on the backend's stream and reports errors).
 *
 * Conventions: every tensor handed to an op lives in device memory; the optional
 * host-side parameters of zt_attn_params (key_valid, rel_bias) stay host pointers and
 * are uploaded by the op. Ops queue work on the backend's one stream and return without
 * waiting; be->sync or a download waits. */
#ifndef ZT_CUDA_H
#define ZT_CUDA_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../../core/status.h"
#include "../backend.h"
#include "conv_tiles.h"
#include "cuda_sizes.h"

/* 0: 16-bit activations of a product, or attention's packed q, k, v (ops never share
 * it); 1: f32 weights (ZT_CUDA_EXACT); 2: the f32 attention's key mask; 3: uploaded
 * parameters; 4: cuBLASLt's workspace; 5: biases converted to a product's output dtype
 * for its epilogue */
#define ZT_CUDA_SCRATCH_SLOTS 6
#define ZT_CUDA_LT_CACHE 64 /* product shapes whose cuBLASLt algorithm is remembered */
#define ZT_CUDA_MAX_BLOCKS 1024 /* allocations tracked for the peak */
#define ZT_CUDA_LANES 2 /* upload_ahead's lanes */

typedef struct zt_cuda_ctx {
    int device;
    int sm_count;
    int cc_major, cc_minor;
    /* shared memory a block may opt in to: the kernels with variants pick by it (sm_86
     * and sm_89 offer 99 KB, A100 163, Hopper 227). ZT_CUDA_SMEM_OPTIN=BYTES lowers it,
     * so that a large card runs a small card's variants. */
    int smem_optin;
    /* ZT_CUDA_EXACT=1 in the environment: GEMMs in plain f32 (16-bit weights widened, no
     * TF32), to tell rounding from bugs when comparing with the CPU */
    int exact;
    /* the Hopper attention kernel (kernels/attention_sm90.cu) on compute capability 9.0:
     * 1 its serial schedule, 2 with ZT_CUDA_ATTN=overlap (P V and the next S issued
     * together), 0 elsewhere or with ZT_CUDA_ATTN=mma (the sm_80 kernel), to compare */
    int attn_sm90;
    /* ZT_CUDA_CONV=implicit (zt_ct_env): the convolutions zt_ct_takes allows as an
     * implicit GEMM on TF32 tensor cores (kernels/conv.cu) instead of the column matrix
     * through cuBLAS; an experiment until a GPU run has measured it */
    int conv_implicit;
    void *tmap_encode; /* the driver's cuTensorMapEncodeTiled, looked up on first use */
    /* cuBLASLt (NULL where it did not load): products with the bias and GELU in their
     * epilogue. Its heuristic's choice is remembered per shape (found = 0: none fits). */
    cublasLtHandle_t lt;
    struct zt_cuda_lt_algo {
        int64_t m, n, k;
        int dtype, out_dtype, epilogue, found;
        cublasLtMatmulAlgo_t algo;
    } lt_algos[ZT_CUDA_LT_CACHE];
    int lt_count;
    /* the last rope3d cos/sin table on the device, for the params it was made for: the
     * DiT's 60 rotations a step share one */
    double *rope_tab;
    size_t rope_tab_bytes;
    zt_rope_params rope_key;
    cudaStream_t stream;
    /* upload_ahead: a second stream for copies from host memory, made on first use, and
     * per lane a pinned staging buffer and two events: the work queued before the copy
     * (queued, which the copy stream waits for) and the copy itself (landed, which work
     * after upload_wait waits for) */
    cudaStream_t copy_stream;
    struct zt_cuda_lane {
        void *stage; /* NULL where pinned memory was refused: the copies go from pageable memory */
        size_t stage_size;
        int refused; /* cudaHostAlloc refused once: not asked again */
        cudaEvent_t queued, landed;
        int in_flight; /* landed recorded and not yet waited for on the host */
    } lanes[ZT_CUDA_LANES];
    cublasHandle_t blas;
    /* device scratch that grows on demand; slots are independent so that one op can
     * hold several buffers at once. Contents do not survive between ops. */
    void *scratch[ZT_CUDA_SCRATCH_SLOTS];
    size_t scratch_size[ZT_CUDA_SCRATCH_SLOTS];
    /* what be->alloc handed out, for the peak */
    struct zt_cuda_block {
        void *ptr;
        size_t bytes;
    } blocks[ZT_CUDA_MAX_BLOCKS];
    size_t live, peak;
} zt_cuda_ctx;

static inline zt_cuda_ctx *zt_cuda(const zt_backend *be) {
    return (zt_cuda_ctx *)be->ctx;
}

#define ZT_CUDA_CHECK(expr)                                                                        \
    do {                                                                                           \
        cudaError_t zt_ce_ = (expr);                                                               \
        if (zt_ce_ != cudaSuccess)                                                                 \
            return zt_fail(ZT_ERR_RUNTIME, "cuda: %s (%s:%d): %s", #expr, __FILE__, __LINE__,      \
                           cudaGetErrorString(zt_ce_));                                            \
    } while (0)

/* After a kernel launch: reports a bad launch configuration at once. */
#define ZT_CUDA_LAUNCHED(what)                                                                     \
    do {                                                                                           \
        cudaError_t zt_ce_ = cudaGetLastError();                                                   \
        if (zt_ce_ != cudaSuccess)                                                                 \
            return zt_fail(ZT_ERR_RUNTIME, "cuda: launching %s (%s:%d): %s", (what), __FILE__,     \
                           __LINE__, cudaGetErrorString(zt_ce_));                                  \
    } while (0)

/* Device scratch of at least bytes in slot (0..ZT_CUDA_SCRATCH_SLOTS-1). Growing waits
 * for queued work first, since that work may still read the old buffer. */
zt_status zt_cuda_scratch(zt_backend *be, int slot, size_t bytes, void **ptr);

/* Upload a small host array into scratch slot (for per-call parameters). */
zt_status zt_cuda_upload_scratch(zt_backend *be, int slot, const void *host, size_t bytes,
                                 void **dev);

/* Column-major cuBLAS GEMM, as cublasGemmStridedBatchedEx: C[m, n] (f32, ldc) =
 * op(A) op(B) (+ beta C), A and B of dtype a_type/b_type (ZT_F32, ZT_F16 or ZT_BF16,
 * both the same). f32 inputs compute in f32 (or TF32 when allow_tf32), 16-bit inputs
 * on tensor cores with f32 accumulation. batch 1 ignores the strides. */
zt_status zt_cuda_gemm(zt_backend *be, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                       const void *a, zt_dtype a_type, int64_t lda, int64_t stride_a, const void *b,
                       zt_dtype b_type, int64_t ldb, int64_t stride_b, float beta, float *c,
                       int64_t ldc, int64_t stride_c, int64_t batch, int allow_tf32);

/* w itself, or its copy in scratch slot 1 (for the GEMM paths): with ctx->exact and
 * 16-bit or fp8 w, in f32; otherwise fp8 w in bf16. *wf receives the tensor to use. */
zt_status zt_cuda_gemm_weight(zt_backend *be, const zt_tensor *w, zt_tensor *wf);

/* y[m, n] (row-major, of dtype yt: F32 or wt) = act(x[m, k] w[n, k]^T + bias) through
 * cuBLASLt with the bias ([n] on the device, of dtype yt, or NULL) and GELU (tanh form)
 * in the epilogue; x and w of the 16-bit dtype wt. *done = 0 where cuBLASLt is missing,
 * ZT_CUDA_EXACT is set, a pointer is not 16-byte aligned or no algorithm fits: the
 * caller then runs the product and the epilogue itself. */
zt_status zt_cuda_gemm_lt(zt_backend *be, int64_t m, int64_t n, int64_t k, const void *w,
                          const void *x, zt_dtype wt, const void *bias, int gelu, void *y,
                          zt_dtype yt, int *done);

/* Convert n packed values between f32, f16 and bf16 on the stream (dst may not alias
 * src). Used by the GEMM paths to bring activations to the weights' dtype. */
zt_status zt_cuda_convert(zt_backend *be, void *dst, zt_dtype dst_type, const void *src,
                          zt_dtype src_type, int64_t n);

/* ---- the ops of the backend table (signatures as in backend.h) ------------------------ */

/* kernels/gemm.cu */
zt_status zt_cuda_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         const zt_tensor *b);
zt_status zt_cuda_linear_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                              const zt_tensor *w, const zt_tensor *b);
zt_status zt_cuda_linears(zt_backend *be, int n, zt_tensor *const *y, const zt_tensor *x,
                          const zt_tensor *const *w, const zt_tensor *const *b);
zt_status zt_cuda_ffn_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_tensor *h,
                           const zt_tensor *w0, const zt_tensor *b0, const zt_tensor *w2,
                           const zt_tensor *b2);
zt_status zt_cuda_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                         int trans_a, int trans_b);
/* kernels/norm.cu */
zt_status zt_cuda_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                             const zt_tensor *b, float eps);
zt_status zt_cuda_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                           float eps);
zt_status zt_cuda_l2_norm_silu(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                               const zt_tensor *gamma, const zt_tensor *beta, float scale,
                               float eps);
zt_status zt_cuda_norm_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                const zt_tensor *shift, const zt_tensor *scale, float eps);
zt_status zt_cuda_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                          const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps);
/* kernels/activations.cu */
zt_status zt_cuda_unary_op(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                           float alpha, float beta);
/* kernels/elementwise.cu */
zt_status zt_cuda_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                         zt_binary_op op);
zt_status zt_cuda_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *shift,
                           const zt_tensor *scale);
zt_status zt_cuda_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                            const zt_tensor *gate);
/* kernels/softmax.cu */
zt_status zt_cuda_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x);
/* kernels/attention.cu */
zt_status zt_cuda_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                            const zt_tensor *v, const zt_attn_params *p);
/* kernels/attention_sm90.cu: D = 128 attention on wgmma (compute capability 9.0 only).
 * qb, kb, vb: packed bf16 [B*H, Lqp or Lkp, 128], the lengths padded with zero rows to
 * multiples of zt_cuda_flash_sm90_tile(); valid: [B, Lk] on the device or NULL; o: f32
 * [B, Lq, H, 128]; scale > 0. */
size_t zt_cuda_flash_sm90_tile(void);
/* *built = 1 where the code this device runs holds that kernel (the sm_90a target was
 * built), 0 where its body is empty (sm_90 or PTX only) */
zt_status zt_cuda_flash_sm90_built(zt_backend *be, int *built);
zt_status zt_cuda_flash_sm90(zt_backend *be, float *o, const void *qb, const void *kb,
                             const void *vb, const uint8_t *valid, int64_t B, int64_t H, int64_t Lq,
                             int64_t Lk, int64_t Lqp, int64_t Lkp, float scale);
/* kernels/rope.cu */
zt_status zt_cuda_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p);
/* kernels/conv.cu */
zt_status zt_cuda_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         const zt_tensor *b, const zt_conv_params *p);
zt_status zt_cuda_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         const zt_tensor *b, const zt_conv_params *p);
/* kernels/layout.cu (zt_cuda_convert too) */
zt_status zt_cuda_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_cuda_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                      float value);
zt_status zt_cuda_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis);
zt_status zt_cuda_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x);

#ifdef __cplusplus
}
#endif

#endif

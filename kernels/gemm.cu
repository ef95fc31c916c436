// Linear layers and matrix products through cuBLAS (zt_cuda_gemm), row-major tensors
// mapped onto cuBLAS's column-major convention: a row-major [r, c] matrix read
// column-major is its transpose, so y = x w^T becomes y^T = w x^T with no copies.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "../src/backends/cuda/cuda.h"
#include "common.cuh"

namespace {

template <typename T> __device__ float to_f32(T v);
template <> __device__ float to_f32<float>(float v) {
    return v;
}
template <> __device__ float to_f32<__half>(__half v) {
    return __half2float(v);
}
template <> __device__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

// y[r, c] += b[c]: a block of columns per blockIdx.x, rows strided over blockIdx.y, so
// each thread loads its bias value once and no index needs a division
template <typename T>
__global__ void add_bias_kernel(float *y, const T *b, int64_t rows, int64_t cols) {
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float bc = to_f32(b[c]);
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) y[r * cols + c] += bc;
}

zt_status add_bias(zt_backend *be, float *y, const zt_tensor *b, int64_t rows, int64_t cols) {
    if (rows == 0 || cols == 0) return ZT_OK;
    int threads = 256;
    int64_t bx = (cols + threads - 1) / threads, by = rows < 4096 ? rows : 4096;
    dim3 grid((unsigned)bx, (unsigned)by);
    cudaStream_t st = zt_cuda(be)->stream;
    switch (b->dtype) {
    case ZT_F32:
        add_bias_kernel<<<grid, threads, 0, st>>>(y, (const float *)b->data, rows, cols);
        break;
    case ZT_F16:
        add_bias_kernel<<<grid, threads, 0, st>>>(y, (const __half *)b->data, rows, cols);
        break;
    case ZT_BF16:
        add_bias_kernel<<<grid, threads, 0, st>>>(y, (const __nv_bfloat16 *)b->data, rows, cols);
        break;
    default: { // fp8: widened into scratch slot 5 (the epilogue's bias, unused by now)
        void *d;
        ZT_TRY(zt_cuda_scratch(be, 5, (size_t)cols * sizeof(float), &d));
        ZT_TRY(zt_cuda_convert(be, d, ZT_F32, b->data, b->dtype, cols));
        add_bias_kernel<<<grid, threads, 0, st>>>(y, (const float *)d, rows, cols);
    }
    }
    ZT_CUDA_LAUNCHED("add_bias");
    return ZT_OK;
}

// Activations to the weights' 16-bit type, 8 values per thread (two 16-byte loads, one
// 16-byte store), round to nearest even. n8 groups of 8; the tail goes one by one.
template <typename T> __device__ T from_f32(float v);
template <> __device__ __half from_f32<__half>(float v) {
    return zt_k::f16_saturated(v);
}
template <> __device__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

template <typename T> __global__ void to_half_kernel(T *dst, const float *src, int64_t n) {
    int64_t n8 = n / 8;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n8;
         i += (int64_t)gridDim.x * blockDim.x) {
        float4 a = reinterpret_cast<const float4 *>(src)[2 * i];
        float4 b = reinterpret_cast<const float4 *>(src)[2 * i + 1];
        union {
            T h[8];
            uint4 u;
        } o;
        o.h[0] = from_f32<T>(a.x), o.h[1] = from_f32<T>(a.y), o.h[2] = from_f32<T>(a.z);
        o.h[3] = from_f32<T>(a.w), o.h[4] = from_f32<T>(b.x), o.h[5] = from_f32<T>(b.y);
        o.h[6] = from_f32<T>(b.z), o.h[7] = from_f32<T>(b.w);
        reinterpret_cast<uint4 *>(dst)[i] = o.u;
    }
    if (blockIdx.x == 0)
        for (int64_t i = n8 * 8 + threadIdx.x; i < n; i += blockDim.x) dst[i] = from_f32<T>(src[i]);
}

// the same one value a thread, for x not 16-byte aligned (a view at a row offset)
template <typename T> __global__ void to_half_one_kernel(T *dst, const float *src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = from_f32<T>(src[i]);
}

// x (f32) into scratch slot 0 as wt
zt_status to_half(zt_backend *be, void **out, const float *x, zt_dtype wt, int64_t n) {
    ZT_TRY(zt_cuda_scratch(be, 0, (size_t)n * 2, out));
    int threads = 256;
    cudaStream_t st = zt_cuda(be)->stream;
    if (((uintptr_t)x & 15) != 0) {
        int64_t blocks = (n + threads - 1) / threads;
        blocks = blocks < 1 ? 1 : blocks > 65536 ? 65536 : blocks;
        if (wt == ZT_BF16)
            to_half_one_kernel<<<(unsigned)blocks, threads, 0, st>>>((__nv_bfloat16 *)*out, x, n);
        else
            to_half_one_kernel<<<(unsigned)blocks, threads, 0, st>>>((__half *)*out, x, n);
        ZT_CUDA_LAUNCHED("to_half (unaligned)");
        return ZT_OK;
    }
    int64_t blocks = (n / 8 + threads - 1) / threads;
    blocks = blocks < 1 ? 1 : blocks > 8192 ? 8192 : blocks;
    if (wt == ZT_BF16)
        to_half_kernel<<<(unsigned)blocks, threads, 0, st>>>((__nv_bfloat16 *)*out, x, n);
    else
        to_half_kernel<<<(unsigned)blocks, threads, 0, st>>>((__half *)*out, x, n);
    ZT_CUDA_LAUNCHED("to_half");
    return ZT_OK;
}

// The bias for cuBLASLt's epilogue, which reads it in the output's dtype t: b itself
// when it is already, else converted into scratch slot 5.
zt_status epilogue_bias(zt_backend *be, const zt_tensor *b, zt_dtype t, const void **out) {
    *out = NULL;
    if (!b) return ZT_OK;
    if (b->dtype == t) {
        *out = b->data;
        return ZT_OK;
    }
    int64_t n = zt_tensor_numel(b);
    void *d;
    ZT_TRY(zt_cuda_scratch(be, 5, (size_t)n * sizeof(float), &d));
    ZT_TRY(zt_cuda_convert(be, d, t, b->data, b->dtype, n));
    *out = d;
    return ZT_OK;
}

// y[m, n] = act(xa[m, k] w^T + b) with xa already in w's dtype. y is f32, or w's 16-bit
// dtype (yt), which only cuBLASLt writes: *done = 0 when it declined such a product,
// else 1. 16-bit weights run on tensor cores with f32 accumulation, as PyTorch does in
// bf16, with the bias and the GELU in cuBLASLt's epilogue where it has one (saving a
// read and a write of y for each); f32 weights: plain f32, then our kernels.
zt_status product(zt_backend *be, void *y, zt_dtype yt, const void *xa, const zt_tensor *w,
                  const zt_tensor *b, int gelu, int64_t m, int *done) {
    const int64_t n = w->shape[0], k = w->shape[1];
    const zt_dtype wt = w->dtype;
    *done = 0;
    if (wt != ZT_F32 && (b || gelu || yt != ZT_F32)) {
        const void *bias;
        ZT_TRY(epilogue_bias(be, b, yt, &bias));
        ZT_TRY(zt_cuda_gemm_lt(be, m, n, k, w->data, xa, wt, bias, gelu, y, yt, done));
        if (*done || yt != ZT_F32) return ZT_OK;
    }
    ZT_TRY(zt_cuda_gemm(be, 1, 0, n, m, k, w->data, wt, k, 0, xa, wt, k, 0, 0.0f, (float *)y, n,
                        0, 1, 0));
    if (b) ZT_TRY(add_bias(be, (float *)y, b, m, n));
    if (gelu) {
        const int64_t shape[2] = {m, n};
        zt_tensor t = zt_tensor_make(ZT_F32, 2, shape, y);
        t.device = 1;
        ZT_TRY(zt_cuda_unary_op(be, &t, &t, ZT_UNARY_GELU_TANH, 0.0f, 0.0f));
    }
    *done = 1;
    return ZT_OK;
}

zt_status check_weight_type(const zt_tensor *w) {
    if (w->dtype != ZT_F32 && w->dtype != ZT_F16 && w->dtype != ZT_BF16)
        return zt_fail(ZT_ERR_UNSUPPORTED, "linear: %s weights are not supported on cuda",
                       zt_dtype_name(w->dtype));
    return ZT_OK;
}

// y = act(x w^T + b), y and x f32
zt_status linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w_in,
                 const zt_tensor *b, int gelu) {
    zt_tensor w;
    ZT_TRY(zt_cuda_gemm_weight(be, w_in, &w)); // f32 under ZT_CUDA_EXACT
    ZT_TRY(check_weight_type(&w));
    const int64_t k = w.shape[1], m = zt_tensor_numel(x) / (k ? k : 1);
    const void *xa = x->data;
    if (w.dtype != ZT_F32) {
        void *xh;
        ZT_TRY(to_half(be, &xh, (const float *)x->data, w.dtype, m * k));
        xa = xh;
    }
    int done;
    return product(be, y->data, ZT_F32, xa, &w, b, gelu, m, &done);
}

// whether the products can share one 16-bit copy of their input: same 16-bit dtype,
// and no f32 widening of the weights (ZT_CUDA_EXACT), whose scratch they would share
bool shared_input(zt_backend *be, int n, const zt_tensor *const *w) {
    if (zt_cuda(be)->exact || (w[0]->dtype != ZT_BF16 && w[0]->dtype != ZT_F16)) return false;
    for (int i = 1; i < n; i++)
        if (w[i]->dtype != w[0]->dtype) return false;
    return true;
}

} // namespace

extern "C" zt_status zt_cuda_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                    const zt_tensor *w, const zt_tensor *b) {
    return linear(be, y, x, w, b, 0);
}

extern "C" zt_status zt_cuda_linear_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                         const zt_tensor *w, const zt_tensor *b) {
    return linear(be, y, x, w, b, 1);
}

// Several products of one input: x is rounded to 16 bits once for all (the DiT's q, k
// and v read one normed input).
extern "C" zt_status zt_cuda_linears(zt_backend *be, int n, zt_tensor *const *y,
                                     const zt_tensor *x, const zt_tensor *const *w,
                                     const zt_tensor *const *b) {
    if (n <= 0) return ZT_OK;
    if (!shared_input(be, n, w)) {
        for (int i = 0; i < n; i++) ZT_TRY(linear(be, y[i], x, w[i], b[i], 0));
        return ZT_OK;
    }
    const int64_t k = w[0]->shape[1], m = zt_tensor_numel(x) / (k ? k : 1);
    void *xh;
    ZT_TRY(to_half(be, &xh, (const float *)x->data, w[0]->dtype, m * k));
    for (int i = 0; i < n; i++) {
        int done;
        ZT_TRY(product(be, y[i]->data, ZT_F32, xh, w[i], b[i], 0, m, &done));
    }
    return ZT_OK;
}

// The feed-forward block. With 16-bit weights the hidden layer goes from the first
// product's epilogue (bias, GELU) straight to 16 bits in h's memory, which the second
// product reads as it is: against linear_gelu then linear, an f32 write of h, its read
// and the 16-bit copy's write are saved (on Wan2.1-1.3B at 480x832x81, 2.3 GB a block).
// The hidden layer is rounded where the second product's input would have been anyway.
extern "C" zt_status zt_cuda_ffn_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                      zt_tensor *h, const zt_tensor *w0, const zt_tensor *b0,
                                      const zt_tensor *w2, const zt_tensor *b2) {
    const zt_tensor *ws[2] = {w0, w2};
    if (!shared_input(be, 2, ws)) {
        ZT_TRY(linear(be, h, x, w0, b0, 1));
        return linear(be, y, h, w2, b2, 0);
    }
    const int64_t k = w0->shape[1], m = zt_tensor_numel(x) / (k ? k : 1);
    void *xh;
    ZT_TRY(to_half(be, &xh, (const float *)x->data, w0->dtype, m * k));
    int done;
    ZT_TRY(product(be, h->data, w0->dtype, xh, w0, b0, 1, m, &done));
    if (!done) { // cuBLASLt declined the 16-bit output: h in f32, as linear_gelu
        ZT_TRY(product(be, h->data, ZT_F32, xh, w0, b0, 1, m, &done));
        return linear(be, y, h, w2, b2, 0);
    }
    return product(be, y->data, ZT_F32, h->data, w2, b2, 0, m, &done);
}

// c[(B,) M, N] = op(a) op(b) in f32: c^T = op(b)^T op(a)^T, where each row-major
// operand read column-major is already its transpose.
extern "C" zt_status zt_cuda_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a,
                                    const zt_tensor *b, int trans_a, int trans_b) {
    int64_t m = a->shape[a->ndim - (trans_a ? 1 : 2)], k = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int64_t n = b->shape[b->ndim - (trans_b ? 2 : 1)];
    int64_t ba = a->ndim == 3 ? a->shape[0] : 1, bb = b->ndim == 3 ? b->shape[0] : 1;
    int64_t batch = ba > bb ? ba : bb;
    int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
    int64_t sa = ba == 1 ? 0 : m * k, sb = bb == 1 ? 0 : k * n;
    return zt_cuda_gemm(be, trans_b, trans_a, n, m, k, b->data, ZT_F32, ldb, sb, a->data, ZT_F32,
                        lda, sa, 0.0f, (float *)c->data, n, m * n, batch, 0);
}

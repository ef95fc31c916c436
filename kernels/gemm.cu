// Linear layers and matrix products through cuBLAS (zt_cuda_gemm), row-major tensors
// mapped onto cuBLAS's column-major convention: a row-major [r, c] matrix read
// column-major is its transpose, so y = x w^T becomes y^T = w x^T with no copies.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "../src/backends/cuda/cuda.h"

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

// y[r, c] += b[c]
template <typename T>
__global__ void add_bias_kernel(float *y, const T *b, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] += to_f32(b[i % cols]);
}

zt_status add_bias(zt_backend *be, float *y, const zt_tensor *b, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    if (n == 0) return ZT_OK;
    int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535;
    cudaStream_t st = zt_cuda(be)->stream;
    switch (b->dtype) {
    case ZT_F32:
        add_bias_kernel<<<(unsigned)blocks, threads, 0, st>>>(y, (const float *)b->data, rows,
                                                              cols);
        break;
    case ZT_F16:
        add_bias_kernel<<<(unsigned)blocks, threads, 0, st>>>(y, (const __half *)b->data, rows,
                                                              cols);
        break;
    case ZT_BF16:
        add_bias_kernel<<<(unsigned)blocks, threads, 0, st>>>(y, (const __nv_bfloat16 *)b->data,
                                                              rows, cols);
        break;
    default:
        return zt_fail(ZT_ERR_UNSUPPORTED, "linear: %s bias is not supported on cuda",
                       zt_dtype_name(b->dtype));
    }
    ZT_CUDA_LAUNCHED("add_bias");
    return ZT_OK;
}

} // namespace

// y[M, N] = x[M, K] w[N, K]^T + b. 16-bit weights: x is rounded to the weights' dtype
// and the product runs on tensor cores with f32 accumulation, as PyTorch does in bf16;
// f32 weights: plain f32.
extern "C" zt_status zt_cuda_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                    const zt_tensor *w, const zt_tensor *b) {
    int64_t n = w->shape[0], k = w->shape[1], m = zt_tensor_numel(x) / (k ? k : 1);
    const void *xa = x->data;
    zt_dtype wt = w->dtype;
    if (wt != ZT_F32 && wt != ZT_F16 && wt != ZT_BF16)
        return zt_fail(ZT_ERR_UNSUPPORTED, "linear: %s weights are not supported on cuda",
                       zt_dtype_name(wt));
    if (wt != ZT_F32) {
        void *xh;
        ZT_TRY(zt_cuda_scratch(be, 0, (size_t)(m * k) * 2, &xh));
        ZT_TRY(zt_cuda_convert(be, xh, wt, x->data, ZT_F32, m * k));
        xa = xh;
    }
    ZT_TRY(zt_cuda_gemm(be, 1, 0, n, m, k, w->data, wt, k, 0, xa, wt, k, 0, 0.0f, (float *)y->data,
                        n, 0, 1, 0));
    if (b) ZT_TRY(add_bias(be, (float *)y->data, b, m, n));
    return ZT_OK;
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

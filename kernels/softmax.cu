// Softmax over the last dim, as backends/cpu/attention.c computes it: the row max, exp
// of each value minus it (exactly 0 below -87, like zt_exp_neg), the sum in f32 and a
// multiply by its inverse. A row whose max is -inf (every key masked) gives zeros.
#include <math.h>

#include "../src/backends/cuda/cuda.h"

namespace {

constexpr int kThreads = 256;

template <bool MAX> __device__ __forceinline__ float warp_reduce(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = MAX ? (u > v ? u : v) : v + u; // the CPU's max: a NaN never wins a compare
    }
    return v;
}

// Over the T threads of a row: a warp (T = 32, blockDim (32, 8), eight rows per block)
// or the whole block (T = kThreads). Every thread of the row gets the same value.
template <int T, bool MAX> __device__ float row_reduce(float v) {
    v = warp_reduce<MAX>(v);
    if (T == 32) return v;
    __shared__ float part[T / 32];
    __syncthreads(); // the previous call may still be reading part
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = part[0];
    for (int i = 1; i < T / 32; i++) r = MAX ? (part[i] > r ? part[i] : r) : r + part[i];
    return r;
}

__device__ __forceinline__ float exp_neg(float d) { return d < -87.0f ? 0.0f : expf(d); }

// y may be x: each element is read and written by one thread, reads first.
template <int T> __global__ void softmax_kernel(float *y, const float *x, int64_t rows,
                                                int64_t cols) {
    // the loop bounds are uniform over a row's threads, so row_reduce's barriers are met
    for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < rows;
         r += (int64_t)gridDim.x * blockDim.y) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = -INFINITY;
        for (int64_t i = threadIdx.x; i < cols; i += T) m = xr[i] > m ? xr[i] : m;
        m = row_reduce<T, true>(m);
        if (m == -INFINITY) { // nothing to weigh
            for (int64_t i = threadIdx.x; i < cols; i += T) yr[i] = 0.0f;
            continue;
        }
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < cols; i += T) s += exp_neg(xr[i] - m);
        float inv = 1.0f / row_reduce<T, false>(s);
        for (int64_t i = threadIdx.x; i < cols; i += T) yr[i] = exp_neg(xr[i] - m) * inv;
    }
}

unsigned grid_for(int64_t rows, int64_t per_block) {
    int64_t blocks = (rows + per_block - 1) / per_block;
    if (blocks > (1 << 20)) blocks = 1 << 20;
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

} // namespace

extern "C" zt_status zt_cuda_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    int64_t cols = x->ndim ? x->shape[x->ndim - 1] : 1;
    if (cols == 0) return ZT_OK;
    int64_t rows = zt_tensor_numel(x) / cols;
    if (rows == 0) return ZT_OK;
    cudaStream_t s = zt_cuda(be)->stream;
    float *py = (float *)y->data;
    const float *px = (const float *)x->data;
    if (cols >= 1024) // long rows: a block each
        softmax_kernel<kThreads><<<grid_for(rows, 1), dim3(kThreads, 1), 0, s>>>(py, px, rows,
                                                                               cols);
    else // short rows: a warp each
        softmax_kernel<32><<<grid_for(rows, kThreads / 32), dim3(32, kThreads / 32), 0, s>>>(
            py, px, rows, cols);
    ZT_CUDA_LAUNCHED("softmax");
    return ZT_OK;
}

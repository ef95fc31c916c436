// Elementwise activations and scaling; op codes follow zt_unary_op in backend.h.
#include <math.h>

#include "../src/backends/cuda/cuda_common.h"

namespace {

enum { SILU, GELU_TANH, GELU_ERF, SCALE, CLAMP, TANH, SIGMOID, EXP };

__global__ void unary_kernel(float *y, const float *x, int64_t n, int op, float a, float b) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i], r;
        switch (op) {
        case SILU: r = v / (1.0f + expf(-v)); break;
        case GELU_TANH:
            r = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            break;
        case GELU_ERF: r = 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)); break;
        case SCALE: r = a * v + b; break;
        case CLAMP: r = fminf(fmaxf(v, a), b); break;
        case TANH: r = tanhf(v); break;
        case SIGMOID: r = 1.0f / (1.0f + expf(-v)); break;
        default: r = expf(v); break;
        }
        y[i] = r;
    }
}

} // namespace

extern "C" cudaError_t zt_cuda_unary(float *y, const float *x, int64_t n, int op, float alpha,
                                     float beta, cudaStream_t stream) {
    if (n <= 0) return cudaSuccess;
    int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535;
    unary_kernel<<<(unsigned)blocks, threads, 0, stream>>>(y, x, n, op, alpha, beta);
    return cudaGetLastError();
}

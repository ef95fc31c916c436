// Elementwise activations and scaling; op codes follow zt_unary_op in backend.h.
#include <math.h>

#include "../src/backends/cuda/cuda.h"

namespace {

__global__ void unary_kernel(float *y, const float *x, int64_t n, int op, float a, float b) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i], r;
        switch (op) {
        case ZT_UNARY_SILU:
            r = v / (1.0f + expf(-v));
            break;
        case ZT_UNARY_GELU_TANH:
            r = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            break;
        case ZT_UNARY_GELU_ERF:
            r = 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
            break;
        case ZT_UNARY_SCALE:
            r = a * v + b;
            break;
        case ZT_UNARY_CLAMP:
            r = v < a ? a : v > b ? b : v; // NaN stays NaN, as on the CPU
            break;
        case ZT_UNARY_TANH:
            r = tanhf(v);
            break;
        case ZT_UNARY_SIGMOID:
            r = 1.0f / (1.0f + expf(-v));
            break;
        default:
            r = expf(v);
            break;
        }
        y[i] = r;
    }
}

} // namespace

extern "C" zt_status zt_cuda_unary_op(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                      zt_unary_op op, float alpha, float beta) {
    int64_t n = zt_tensor_numel(x);
    if (n <= 0) return ZT_OK;
    if ((int)op < 0 || op >= ZT_UNARY_COUNT)
        return zt_fail(ZT_ERR_RUNTIME, "unary: unknown op %d", (int)op);
    int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535;
    unary_kernel<<<(unsigned)blocks, threads, 0, zt_cuda(be)->stream>>>(
        (float *)y->data, (const float *)x->data, n, (int)op, alpha, beta);
    ZT_CUDA_LAUNCHED("unary");
    return ZT_OK;
}

// common.cuh - what the kernels/ files share: launch sizes for grid-stride loops, and
// loads of any float dtype as f32, bit for bit as core/half.h converts.
#ifndef ZT_KERNELS_COMMON_CUH
#define ZT_KERNELS_COMMON_CUH

#include <cuda_fp16.h>

#include "../src/backends/cuda/cuda.h"

namespace zt_k {

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t n) {
    int64_t blocks = (n + kThreads - 1) / kThreads;
    if (blocks > (1 << 20)) blocks = 1 << 20; // grid-stride loops take the rest
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

#define ZT_FOR_ELEMS(i, n)                                                                         \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

// Max and sum over the four lanes of a quad: in the tensor-core accumulator layout
// they hold one row's values between them.
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// An activation in f16 for a product with f16 weights, saturated at f16's largest finite
// value: rounding would make a larger one inf and its products inf or NaN, where the CPU
// (f32 activations) stays finite. NaN stays NaN.
__device__ __forceinline__ __half f16_saturated(float v) {
    return __float2half_rn(v > 65504.0f ? 65504.0f : v < -65504.0f ? -65504.0f : v);
}

// Shared-memory address of p for PTX operands, and cp.async's group fences.
__device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}
// Under ZT_CUDA_EMU (tests/cudaemu) the PTX of this and the other kernels/ files is
// replaced by the host emulation of tests/cudaemu/cudaemu.h.
__device__ __forceinline__ void cp_async_commit() {
#ifdef ZT_CUDA_EMU
    zt_emu_cp_async_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N> __device__ __forceinline__ void cp_async_wait() {
#ifdef ZT_CUDA_EMU
    zt_emu_cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ float f16_to_f32(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return __uint_as_float(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        float v = (float)man * 5.9604644775390625e-8f; // man * 2^-24, exact
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
}

__device__ __forceinline__ float f8e4m3_to_f32(uint32_t b) {
    uint32_t sign = (b & 0x80u) << 24, exp = (b >> 3) & 0xfu, man = b & 0x7u;
    if (exp == 0xf && man == 0x7) return __uint_as_float(sign | 0x7fc00000u); // NaN
    if (exp == 0) {
        float v = (float)man * 0.001953125f; // 2^-9
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((exp + 120u) << 23) | (man << 20));
}

// element i of p, of dtype t (a zt_dtype), as f32
__device__ __forceinline__ float load_f32(const void *p, int t, int64_t i) {
    switch (t) {
    case ZT_F32:
        return static_cast<const float *>(p)[i];
    case ZT_F16:
        return f16_to_f32(static_cast<const uint16_t *>(p)[i]);
    case ZT_BF16:
        return __uint_as_float((uint32_t) static_cast<const uint16_t *>(p)[i] << 16);
    case ZT_F8_E4M3:
        return f8e4m3_to_f32(static_cast<const uint8_t *>(p)[i]);
    case ZT_F8_E5M2:
        return f16_to_f32((uint32_t) static_cast<const uint8_t *>(p)[i] << 8);
    default:
        return 0.0f; // callers check the dtypes first
    }
}

// A shape walked in row-major order with two operands' strides (elements): size-1 dims
// dropped and neighbours contiguous in both merged (as the CPU's iterators do), so a
// plain elementwise op becomes one dim and a row broadcast two.
struct walk2 {
    int ndim;
    int64_t shape[ZT_MAX_DIMS];
    int64_t s[2][ZT_MAX_DIMS];
};

inline walk2 make_walk2(int ndim, const int64_t *shape, const int64_t *st0,
                        const int64_t *st1) {
    const int64_t *st[2] = {st0, st1};
    int64_t sh[ZT_MAX_DIMS], s[2][ZT_MAX_DIMS];
    int n = 0;
    for (int d = ndim - 1; d >= 0; d--) { // innermost first
        if (shape[d] == 1) continue;
        bool merge = n > 0;
        for (int k = 0; k < 2 && merge; k++) merge = st[k][d] == s[k][n - 1] * sh[n - 1];
        if (merge) {
            sh[n - 1] *= shape[d];
            continue;
        }
        sh[n] = shape[d];
        s[0][n] = st[0][d];
        s[1][n] = st[1][d];
        n++;
    }
    walk2 g = {};
    if (n == 0) { // a single element
        g.ndim = 1;
        g.shape[0] = 1;
        return g;
    }
    g.ndim = n;
    for (int d = 0; d < n; d++) {
        g.shape[d] = sh[n - 1 - d];
        g.s[0][d] = s[0][n - 1 - d];
        g.s[1][d] = s[1][n - 1 - d];
    }
    return g;
}

// the two operands' offsets of element i
__device__ __forceinline__ void walk2_offsets(const walk2 &g, int64_t i, int64_t &o0,
                                              int64_t &o1) {
    if (g.ndim == 1) {
        o0 = i * g.s[0][0];
        o1 = i * g.s[1][0];
        return;
    }
    o0 = o1 = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
        int64_t k = i % g.shape[d];
        i /= g.shape[d];
        o0 += k * g.s[0][d];
        o1 += k * g.s[1][d];
    }
}

} // namespace zt_k

#endif

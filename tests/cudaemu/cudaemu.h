// cudaemu.h - the CUDA device vocabulary on the host, force-included (-include) into each
// kernels/ file compiled as C++ for the emulated CUDA backend (tests/cudaemu/README.md).
//
// The toolkit's own headers give the host types and conversions (__half, __nv_bfloat16,
// dim3, the runtime API's declarations, which cudaemu.cpp defines). Here: the builtins
// (threadIdx and the rest, barriers, shuffles), the PTX the kernels write as inline asm
// (each kernels/ file calls these under ZT_CUDA_EMU), and the launch that a kernel's
// `k<<<grid, block, smem, stream>>>(args)` is rewritten into (cudaemu.cmake).
#ifndef ZT_CUDAEMU_H
#define ZT_CUDAEMU_H

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/half.h"

#include <functional>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>

// A block's threads take turns on one host thread, so a function's static is the block's
// shared memory (and dynamic shared memory is the launch's buffer: zt_emu_dyn_smem).
#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)

extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

extern "C++" {
void __syncthreads();
void __syncwarp(unsigned mask = 0xffffffffu);
void __trap();
void *zt_emu_dyn_smem();
// a static shared array's first pass in a block: filled with NaN (convert.pl puts the call)
void zt_emu_shared_fresh(void *p, size_t bytes);
// __launch_bounds__, checked (convert.pl puts the call at the top of the kernel's body)
void zt_emu_bounds(int max_threads, int min_blocks = 0);

// A warp's lanes each post a word, meet, and read the one they ask for.
uint64_t zt_emu_exchange(unsigned mask, uint64_t mine, int src_lane);
int zt_emu_lane();

template <class T> static inline T __shfl_sync(unsigned mask, T v, int src) {
    static_assert(sizeof(T) <= 8, "one word a lane");
    uint64_t w = 0;
    memcpy(&w, &v, sizeof v);
    w = zt_emu_exchange(mask, w, src & 31);
    T r;
    memcpy(&r, &w, sizeof r);
    return r;
}
template <class T> static inline T __shfl_xor_sync(unsigned m, T v, int lane_mask) {
    return __shfl_sync(m, v, zt_emu_lane() ^ lane_mask);
}
int __any_sync(unsigned mask, int pred);

static inline float __uint_as_float(uint32_t u) {
    return zt_bits_to_f32(u);
}
static inline uint32_t __float_as_uint(float v) {
    return zt_f32_to_bits(v);
}
// the device's integer min and max overloads
static inline int min(int a, int b) {
    return a < b ? a : b;
}
static inline unsigned min(unsigned a, unsigned b) {
    return a < b ? a : b;
}
static inline long long min(long long a, long long b) {
    return a < b ? a : b;
}
static inline long min(long a, long b) {
    return a < b ? a : b;
}
static inline int max(int a, int b) {
    return a > b ? a : b;
}
static inline unsigned max(unsigned a, unsigned b) {
    return a > b ? a : b;
}
static inline long long max(long long a, long long b) {
    return a > b ? a : b;
}
static inline long max(long a, long b) {
    return a > b ? a : b;
}

// the runtime's overload for a kernel (a function of the program here)
template <class T>
static inline cudaError_t cudaFuncSetAttribute(T *entry, enum cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute((const void *)entry, attr, value);
}

template <class T> static inline T __ldg(const T *p) {
    return *p;
}
static inline size_t __cvta_generic_to_shared(const void *p) {
    return (size_t)(uintptr_t)p;
}

// ---- PTX -----------------------------------------------------------------------------
// cp.async of bytes from src, the rest of size zero-filled: lands at a wait covering its
// group, or at once (every other copy), so a tile read before its wait shows.
void zt_emu_cp_async(void *dst, const void *src, int bytes, int size);
void zt_emu_cp_async_commit();
void zt_emu_cp_async_wait(int groups);
void zt_emu_ldmatrix_x4(uint32_t (&r)[4], const void *p, int trans);
void zt_emu_mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
void zt_emu_mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
uint32_t zt_emu_tf32(float v);

// ---- launches --------------------------------------------------------------------------
struct zt_emu_grid {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
};
// A launch's kernel and arguments, kept until its stream runs it: thread() runs the
// kernel as one thread (each call copies the by-value parameters, as each thread has its own).
struct zt_emu_kernel {
    virtual ~zt_emu_kernel() {}
    virtual void thread() = 0;
};
template <class F, class T> struct zt_emu_bound : zt_emu_kernel {
    F call;
    T args;
    zt_emu_bound(F f, T a) : call(f), args(std::move(a)) {}
    void thread() override { std::apply(call, args); }
};
// Queues k (taking it) on g's stream after the checks the hardware makes at a launch; a
// refused launch sets cudaGetLastError's error. Run as every thread of every block of g.
void zt_emu_run(const zt_emu_grid &g, const void *kernel, zt_emu_kernel *k);
// Queues work on a stream: op runs when the stream gets to it (tests/cudaemu/README.md,
// ZT_EMU_DEFER). kernel_like: deferred under ZT_EMU_DEFER=kernels too.
void zt_emu_enqueue(cudaStream_t stream, std::function<void()> op, bool kernel_like);
// Held by each call into the card (cuBLAS's too): one call at a time, as one device queue.
std::recursive_mutex &zt_emu_lock();
// The pointer arguments of a launch: each must be NULL or inside device memory, and
// aligned for what it points to (index -1 - i: argument i is not).
void zt_emu_check_arg(const void *kernel, int index, const void *p);

template <class T> static inline void zt_emu_arg(const void *k, int i, const T &v) {
    if constexpr (std::is_pointer<T>::value) {
        zt_emu_check_arg(k, i, (const void *)v);
        using pointee = typename std::remove_cv<typename std::remove_pointer<T>::type>::type;
        if constexpr (!std::is_void<pointee>::value)
            if ((uintptr_t)v % alignof(pointee)) zt_emu_check_arg(k, -1 - i, (const void *)v);
    }
    (void)k, (void)i, (void)v;
}

// The launch of convert.pl's rewrite: call(args...) runs the kernel as one thread.
struct zt_emu_launcher {
    zt_emu_grid g;
    const void *key; // the kernel, where the launch names an instantiation; else NULL
    template <class F, class... A> void operator()(F call, A &&...a) const {
        std::tuple<typename std::decay<A>::type...> args(std::forward<A>(a)...);
        int i = 0;
        std::apply([&](const auto &...v) { (zt_emu_arg(key, i++, v), ...); }, args);
        zt_emu_run(g, key, new zt_emu_bound<F, decltype(args)>(call, std::move(args)));
    }
};
static inline zt_emu_launcher zt_emu_launch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                            const void *key) {
    return zt_emu_launcher{{grid, block, smem, stream}, key};
}
static inline zt_emu_launcher zt_emu_launch(dim3 grid, dim3 block, const void *key) {
    return zt_emu_launch(grid, block, 0, 0, key);
}
}

#endif

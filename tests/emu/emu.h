// emu.h - what the emulated-kernel tests share: the CUDA vocabulary on the host, and a
// grid run one block after another, each block as real threads (one per CUDA thread)
// that meet at barriers. A test defines __shared__ itself (empty where its kernels
// declare an extern dynamic array, `static` where they declare fixed arrays in a
// function), supplies the device primitives its kernels call, and includes them.
//
// Warps: threads 32k .. 32k + 31 of a block (by linear index, as CUDA forms them) share
// a barrier and a post board, on which warp-collective primitives (shuffles, mma) are
// built: each lane posts, the warp meets, each lane reads, the warp meets again.
//
// The barriers synchronize through atomics that ThreadSanitizer understands, so in a
// TSan build (tests/CMakeLists.txt makes one where it links) a kernel's accesses to
// shared memory that no barrier orders are reported as races, whatever this run's
// timing did to the values.
#ifndef ZT_EMU_H
#define ZT_EMU_H

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static thread_local dim3 threadIdx;
static dim3 blockIdx, blockDim, gridDim;

static inline uint32_t __float_as_uint(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}
static inline float __uint_as_float(uint32_t u) {
    float v;
    memcpy(&v, &u, 4);
    return v;
}

// A barrier of n threads that yields while it waits: far cheaper than a futex's sleep
// and wake with a few hundred threads on two cores meeting thousands of times.
struct emu_barrier {
    std::atomic<unsigned> count{0}, phase{0};
    unsigned n = 0;
    void wait() {
        unsigned ph = phase.load(std::memory_order_acquire);
        if (count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
            count.store(0, std::memory_order_relaxed);
            phase.store(ph + 1, std::memory_order_release);
            return;
        }
        while (phase.load(std::memory_order_acquire) == ph) sched_yield();
    }
};

static emu_barrier emu_block_bar;
static inline void __syncthreads() {
    emu_block_bar.wait();
}

constexpr int EMU_MAX_WARPS = 32;
struct emu_warp {
    emu_barrier bar;
    uint64_t post[32][8]; // what each lane shows the others: up to 64 bytes
};
static emu_warp emu_warps[EMU_MAX_WARPS];
static thread_local unsigned emu_tid; // the thread's linear index in its block

static inline int emu_lane() {
    return (int)(emu_tid & 31);
}
static inline emu_warp &emu_my_warp() {
    return emu_warps[emu_tid >> 5];
}

// Lane src's value of v across a full warp (the only mask the kernels use): each lane
// posts, the warp meets, each reads, and the warp meets again before the posts change.
template <class T> static T emu_shfl(T v, int src) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "one word a lane");
    emu_warp &w = emu_my_warp();
    memcpy(w.post[emu_lane()], &v, sizeof v);
    w.bar.wait();
    T r;
    memcpy(&r, w.post[src & 31], sizeof r);
    w.bar.wait();
    return r;
}
template <class T> static T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    (void)mask;
    return emu_shfl(v, emu_lane() ^ lane_mask);
}
template <class T> static T __shfl_sync(unsigned mask, T v, int src_lane) {
    (void)mask;
    return emu_shfl(v, src_lane);
}

// ---- cp.async ----------------------------------------------------------------------------
// Copies are queued per thread and land at a cp.async.wait_group that covers their group,
// or (every other one) at once, so a tile read before its wait finds stale or NaN data
// instead of its own. bytes < size: the rest is zero-filled, as cp.async's src-size.
struct emu_copy {
    void *dst;
    const void *src;
    int bytes, size;
};
static thread_local std::vector<emu_copy> emu_open_group;
static thread_local std::vector<std::vector<emu_copy>> emu_groups;
static thread_local unsigned emu_copies_issued;

static inline void emu_land(const emu_copy &c) {
    memcpy(c.dst, c.src, (size_t)c.bytes);
    memset((char *)c.dst + c.bytes, 0, (size_t)(c.size - c.bytes));
}
static inline void emu_cp_async(void *dst, const void *src, int bytes, int size) {
    emu_copy c = {dst, src, bytes, size};
    if (emu_copies_issued++ % 2)
        emu_land(c);
    else
        emu_open_group.push_back(c);
}
static inline void emu_cp_async_commit() {
    emu_groups.push_back(emu_open_group);
    emu_open_group.clear();
}
static inline void emu_cp_async_wait(size_t n) {
    while (emu_groups.size() > n) {
        for (const emu_copy &c : emu_groups.front()) emu_land(c);
        emu_groups.erase(emu_groups.begin());
    }
}
// A thread's after(): every copy committed and waited for (nonzero: some were left).
static inline int emu_copies_left(void) {
    int left = !emu_open_group.empty();
    for (const auto &gr : emu_groups) left |= !gr.empty();
    emu_groups.clear();
    emu_open_group.clear();
    return left;
}

// ---- test data and verdict ------------------------------------------------------------
static uint64_t emu_rng = 0x9e3779b97f4a7c15ull;
static inline float emu_randn() { // xorshift, Box-Muller
    auto u = []() {
        emu_rng ^= emu_rng << 13, emu_rng ^= emu_rng >> 7, emu_rng ^= emu_rng << 17;
        return ((emu_rng >> 11) + 0.5) / 9007199254740992.0;
    };
    return (float)(sqrt(-2.0 * log(u())) * cos(6.283185307179586 * u()));
}

// The last line of a run, and its exit status.
static inline int emu_summary(int failed, size_t cases) {
    if (failed)
        printf("%d of %zu cases failed\n", failed, cases);
    else
        printf("all %zu cases passed\n", cases);
    return failed ? 1 : 0;
}

// ---- running a grid ------------------------------------------------------------------
struct emu_launch {
    void (*body)(void *);
    void *args;
    int (*after)(void); // per thread once the body returns: 0 when all is well
    unsigned tid;
};

static void *emu_thread_main(void *p) {
    emu_launch *l = (emu_launch *)p;
    emu_tid = l->tid;
    threadIdx.x = l->tid % blockDim.x;
    threadIdx.y = l->tid / blockDim.x % blockDim.y;
    threadIdx.z = l->tid / (blockDim.x * blockDim.y);
    l->body(l->args);
    return l->after && l->after() ? (void *)1 : NULL;
}

// Runs body(args) over grid x block; before each block, fresh(start) resets what the
// block shares (NULL: nothing). Returns the number of threads whose after() failed.
static int emu_run_grid(dim3 grid, dim3 block, void (*body)(void *), void *args, int (*after)(void),
                        void (*fresh)(void)) {
    gridDim = grid;
    blockDim = block;
    unsigned threads = block.x * block.y * block.z;
    if (threads > 32 * EMU_MAX_WARPS || threads % 32) {
        fprintf(stderr, "emu: blocks of whole warps, at most %d threads\n", 32 * EMU_MAX_WARPS);
        exit(1);
    }
    int bad = 0;
    std::vector<pthread_t> th(threads);
    std::vector<emu_launch> ls(threads);
    emu_block_bar.n = threads;
    for (auto &w : emu_warps) w.bar.n = 32;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
                if (fresh) fresh();
                for (unsigned t = 0; t < threads; t++) {
                    ls[t] = {body, args, after, t};
                    if (pthread_create(&th[t], NULL, emu_thread_main, &ls[t]) != 0) {
                        fprintf(stderr, "emu: cannot start a thread\n");
                        exit(1);
                    }
                }
                for (unsigned t = 0; t < threads; t++) {
                    void *r = NULL;
                    pthread_join(th[t], &r);
                    bad += r != NULL;
                }
            }
    return bad;
}

#endif

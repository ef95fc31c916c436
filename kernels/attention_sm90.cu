// attention_sm90.cu - flash attention for Hopper (sm_90a): the D = 128, bf16 path of
// kernels/attention.cu on H100/H200, where mma.sync (the sm_80 kernel) leaves half of the
// tensor cores' rate unused.
//
// A block takes 128 queries of one (batch, head): two warpgroups of 64 queries each.
// - Copies: thread 0 issues them on the bulk tensor copy engine (TMA): Q once, then K and
//   V 128 keys at a time into a two-stage ring, each tile as two 128-byte-swizzled slabs
//   of 64 dims, the layout wgmma reads without bank conflicts. Tile j + 1 is requested
//   during step j, into the stage that tile j - 1 held once both warpgroups released it.
// - Math: S = Q K^T and O += P V on wgmma (m64n128k16, bf16 in, f32 accumulate; Q, K, V
//   from shared memory, P from registers, where the S accumulators already sit in the
//   A-fragment layout), and the online softmax in registers between the two, as the
//   sm_80 kernel does.
// Full/empty mbarriers per stage replace block-wide barriers, so the two warpgroups drift
// apart and one's softmax can overlap the other's matrix products.
//
// Inputs are what attention.cu prepares: q, k, v as packed bf16 [B*H, Lqp or Lkp, 128]
// with the lengths padded to 128 with zero rows. o is [B, Lq, H, 128] f32.
#include <cuda.h> // CUtensorMap (header only: the driver's encoder is looked up at run time)
#include <cuda_bf16.h>
#include <stdint.h>

#include "../src/backends/cuda/cuda.h"
#include "common.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ZT_SM90A 1 // wgmma exists only in the sm_90a target
#endif

namespace {

constexpr int BQ = 128, D = 128;
static_assert(BQ <= ZT_CUDA_PACK_TILE_MAX, "the memory plan pads to ZT_CUDA_PACK_TILE_MAX");
[[maybe_unused]] constexpr int BK = 128; // keys per step (unused where sm_90a code is not built)
constexpr int CONSUMERS = 2;                        // warpgroups of 64 queries
// No producer warp: a consumer thread issues the copies. A consumer needs ~210 registers
// (64 O and 64 S accumulators); a ninth warp would put 3 warps on one of the SM's four
// 16K-register quarters, capping every thread at 168 (ptxas spilled 600 bytes, and the
// launch of 224-register warps failed for want of registers).
constexpr int THREADS = CONSUMERS * 128;
constexpr uint32_t SLAB = 128 * 128;                // bytes: 128 rows of 64 bf16
constexpr uint32_t TILE = 2 * SLAB;                 // one Q, K or V tile: 128 x 128 bf16
constexpr uint32_t NBAR = 9;                        // q, k/v full and empty for 2 stages
constexpr size_t SMEM = 5 * TILE + NBAR * 8 + 1024; // + slack to align to 1024 bytes

#ifdef ZT_SM90A
__device__ __forceinline__ uint32_t saddr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
                 "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    asm volatile("{\n .reg .pred p;\n"
                 " mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 " selp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
    return done != 0;
}
// A wait that never ends is a bug (a copy that never lands, an arrival lost): trap, which
// the host sees as a launch error, rather than hang the GPU.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    for (uint32_t n = 0; !mbar_try_wait(bar, parity); n++)
        if (n == (1u << 24)) __trap();
}
// the same for a whole warp, which leaves the loop converged, as wgmma's .aligned needs
__device__ __forceinline__ void mbar_wait_warp(uint32_t bar, uint32_t parity) {
    mbar_wait(bar, parity);
    __syncwarp();
}

// rows [row, row + 128) of a [rows, 128] bf16 tensor map -> a tile's two swizzled slabs
__device__ __forceinline__ void tma_tile(uint32_t dst, const CUtensorMap *map, int row,
                                         uint32_t bar) {
#pragma unroll
    for (int half = 0; half < 2; half++)
        asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx"
                     "::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst + half * SLAB),
                     "l"(reinterpret_cast<uint64_t>(map)), "r"(half * 64), "r"(row), "r"(bar)
                     : "memory");
}

// wgmma shared-memory descriptor, 128-byte swizzle. lbo: bytes between 64-element blocks
// along M/N (MN-major only; K-major ignores it), sbo: bytes between groups of 8 rows.
__device__ __forceinline__ uint64_t desc_sw128(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) |
           ((uint64_t)(sbo >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wg_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wg_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wg_wait0() {
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// Reads of accumulators must stay after the wait: tie each register to an asm statement
// that the compiler keeps in order behind it.
__device__ __forceinline__ void reg_fence(float (&r)[64]) {
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+f"(r[i])::"memory");
}

// the 64 f32 accumulators of an m64n128 wgmma: operands %0..%63 of its asm
#define ZT_WG_D \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define ZT_WG_ACC(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), \
    "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), \
    "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), \
    "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), \
    "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), \
    "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), \
    "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), \
    "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), \
    "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])

// d[64x128] (= or +=) a[64x16] b[16x128]: a, b K-major in shared memory
__device__ __forceinline__ void wgmma_ss(float (&d)[64], uint64_t a, uint64_t b,
                                         int accumulate) {
    asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, %66, 0;\n"
                 " wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " ZT_WG_D
                 ", %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : ZT_WG_ACC(d)
                 : "l"(a), "l"(b), "r"(accumulate));
}

// d[64x128] += a[64x16] b[16x128]: a in registers, b MN-major (transposed) in shared memory
__device__ __forceinline__ void wgmma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
    asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, %69, 0;\n"
                 " wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " ZT_WG_D
                 ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : ZT_WG_ACC(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
}

// 2^x for x <= 0 (-inf gives 0): one MUFU op; exp2f adds a range fix-up of 3 more
__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi); // .x (lo) in the low half
    return *reinterpret_cast<uint32_t *>(&h);
}

// S = Q K^T for 64 queries and 128 keys: 8 steps of 16 dims; dims 64.. live in the
// second slab, and a step inside a 128-byte row moves the start by 32 bytes (the swizzle
// is applied to the address bits, so this stays valid). Issued only: fence, commit and
// wait are the caller's.
__device__ __forceinline__ void issue_s(float (&s)[64], uint32_t q_rows, uint32_t k_tile) {
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        const uint32_t koff = (kk >> 2) * SLAB + (kk & 3) * 32;
        wgmma_ss(s, desc_sw128(q_rows + koff, 16, 1024), desc_sw128(k_tile + koff, 16, 1024),
                 kk > 0);
    }
}

// O += P V: V [keys][dims] is MN-major for this product: 16 keys a step (2048 bytes),
// the two slabs of dims one slab apart
__device__ __forceinline__ void issue_pv(float (&acc)[64], const uint32_t (&p)[BK / 16][4],
                                         uint32_t v_tile) {
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++)
        wgmma_rs(acc, p[kk], desc_sw128(v_tile + kk * 16 * 128, SLAB, 1024));
}

// The online softmax of one tile: scale and mask the scores s (keys j0..), update the
// running maxima m and sums l of rows g and g + 8, rescale O, and leave P in bf16 as
// the A fragments of the P V product. This thread holds keys j0 + 8 nt + 2 t4 + {0, 1}
// of rows g (s[4nt + 0..1]) and g + 8 (s[4nt + 2..3]).
__device__ __forceinline__ void softmax_tile(float (&s)[64], float (&acc)[64],
                                             uint32_t (&p)[BK / 16][4], float &m0, float &m1,
                                             float &l0, float &l1, int j0, int Lk,
                                             const uint8_t *valid, float sl2, int t4) {
    float mx0 = -INFINITY, mx1 = -INFINITY;
    if (j0 + BK > Lk || valid) { // tail keys and key_valid
#pragma unroll
        for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int key = j0 + nt * 8 + 2 * t4 + e;
                const bool ok = key < Lk && (!valid || valid[key]);
                s[4 * nt + e] = ok ? s[4 * nt + e] : -INFINITY;
                s[4 * nt + e + 2] = ok ? s[4 * nt + e + 2] : -INFINITY;
            }
        }
    }
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
        mx0 = fmaxf(mx0, fmaxf(s[4 * nt], s[4 * nt + 1]));
        mx1 = fmaxf(mx1, fmaxf(s[4 * nt + 2], s[4 * nt + 3]));
    }
    // the four threads of a quad share a row
    mx0 = zt_k::quad_max(mx0);
    mx1 = zt_k::quad_max(mx1);
    // scaled maxima; sl2 > 0, so the max of the raw scores gives the max of the scaled
    const float mn0 = fmaxf(m0, mx0 * sl2), mn1 = fmaxf(m1, mx1 * sl2);
    // every key so far masked: subtract 0 instead, so that exp2(-inf - x) is 0, not NaN
    const float ms0 = mn0 == -INFINITY ? 0.0f : mn0, ms1 = mn1 == -INFINITY ? 0.0f : mn1;
    const float al0 = ex2(m0 - ms0), al1 = ex2(m1 - ms1); // 0 while m was -inf
    m0 = mn0;
    m1 = mn1;
    float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
    for (int nt = 0; nt < BK / 8; nt++) {
        s[4 * nt + 0] = ex2(fmaf(s[4 * nt + 0], sl2, -ms0));
        s[4 * nt + 1] = ex2(fmaf(s[4 * nt + 1], sl2, -ms0));
        s[4 * nt + 2] = ex2(fmaf(s[4 * nt + 2], sl2, -ms1));
        s[4 * nt + 3] = ex2(fmaf(s[4 * nt + 3], sl2, -ms1));
        ps0 += s[4 * nt + 0] + s[4 * nt + 1];
        ps1 += s[4 * nt + 2] + s[4 * nt + 3];
    }
    l0 = l0 * al0 + ps0;
    l1 = l1 * al1 + ps1;
    // once the maxima settle most tiles leave them be: skip 64 multiplications by 1
    if (__any_sync(0xffffffffu, al0 != 1.0f || al1 != 1.0f)) {
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            acc[4 * dt + 0] *= al0;
            acc[4 * dt + 1] *= al0;
            acc[4 * dt + 2] *= al1;
            acc[4 * dt + 3] *= al1;
        }
    }
    // the accumulators of n-tiles 2kk and 2kk + 1 are the A fragment of keys 16 kk ..
#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
        p[kk][0] = pack_bf16(s[8 * kk + 0], s[8 * kk + 1]);
        p[kk][1] = pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
        p[kk][2] = pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
        p[kk][3] = pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
    }
}
#endif // ZT_SM90A

// Grid: x = query tile, y = batch * H + head. sl2 = scale * log2(e): the softmax runs in
// base 2. Lqp and Lkp: the padded lengths (multiples of 128) of the packed inputs.
template <bool OVERLAP>
__global__ void __launch_bounds__(THREADS, 1)
    flash_sm90_kernel(float *__restrict__ o, const __grid_constant__ CUtensorMap tq,
                      const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
                      const uint8_t *__restrict__ key_valid, int H, int Lq, int Lk, int Lqp,
                      int Lkp, float sl2) {
#ifdef ZT_SM90A
    extern __shared__ unsigned char raw[];
    // the 128-byte swizzle repeats every 1024 bytes: tiles start on such a boundary
    const uint32_t base = (saddr(raw) + 1023u) & ~1023u;
    const uint32_t sq = base, sk = base + TILE, sv = base + 3 * TILE, bars = base + 5 * TILE;
    const uint32_t q_full = bars;
    auto k_full = [&](int s) { return bars + 8 + 8 * s; };
    auto v_full = [&](int s) { return bars + 24 + 8 * s; };
    auto k_empty = [&](int s) { return bars + 40 + 8 * s; };
    auto v_empty = [&](int s) { return bars + 56 + 8 * s; };

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int bh = blockIdx.y, b = bh / H, h = bh % H;
    const int q0 = blockIdx.x * BQ;
    const int n_tiles = (Lk + BK - 1) / BK;

    if (tid == 0) {
        mbar_init(q_full, 1);
        for (int s = 0; s < 2; s++) {
            mbar_init(k_full(s), 1);
            mbar_init(v_full(s), 1);
            mbar_init(k_empty(s), CONSUMERS * 128);
            mbar_init(v_empty(s), CONSUMERS * 128);
        }
        // make the initialized barriers visible to the copy engine
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();

    // thread 0 copies: Q and the first two tiles now, then tile j + 1 in step j, into the
    // stage that tile j - 1 held, once both warpgroups have released it
    const int krow = bh * Lkp;
    auto load_k = [&](int j) {
        mbar_expect_tx(k_full(j & 1), TILE);
        tma_tile(sk + (j & 1) * TILE, &tk, krow + j * BK, k_full(j & 1));
    };
    auto load_v = [&](int j) {
        mbar_expect_tx(v_full(j & 1), TILE);
        tma_tile(sv + (j & 1) * TILE, &tv, krow + j * BK, v_full(j & 1));
    };
    if (tid == 0) {
        mbar_expect_tx(q_full, TILE);
        tma_tile(sq, &tq, bh * Lqp + q0, q_full);
        for (int j = 0; j < 2 && j < n_tiles; j++) {
            load_k(j);
            load_v(j);
        }
    }

    // consumers: warpgroup wg takes queries q0 + 64 wg .. + 63; warp wl of it 16 rows
    const int wg = warp >> 2, wl = warp & 3;
    const int g = lane >> 2, t4 = lane & 3; // accumulator row group and column pair
    const uint8_t *valid = key_valid ? key_valid + (int64_t)b * Lk : nullptr;

    float acc[64], s[64];
#pragma unroll
    for (int i = 0; i < 64; i++) acc[i] = s[i] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY; // running max (scaled, base 2) of rows g, g + 8
    float l0 = 0.0f, l1 = 0.0f;           // this thread's part of the running sums

    const uint32_t sq_wg = sq + wg * 64 * 128; // this warpgroup's 64 rows of Q
    mbar_wait_warp(q_full, 0);
    if constexpr (!OVERLAP) {
        for (int j = 0; j < n_tiles; j++) {
            const int st = j & 1;
            const uint32_t par = ((uint32_t)j >> 1) & 1;
            const bool refill = tid == 0 && j >= 1 && j + 1 < n_tiles;
            const uint32_t prev = ((uint32_t)(j - 1) >> 1) & 1; // parity of tile j - 1's release
            if (refill) { // K first: its stage is free early (released after the S product)
                mbar_wait(k_empty((j + 1) & 1), prev);
                load_k(j + 1);
            }
            mbar_wait_warp(k_full(st), par);
            wg_fence();
            issue_s(s, sq_wg, sk + st * TILE);
            wg_commit();
            wg_wait0();
            reg_fence(s);
            mbar_arrive(k_empty(st));
            if (refill) {
                mbar_wait(v_empty((j + 1) & 1), prev);
                load_v(j + 1);
            }
            uint32_t p[BK / 16][4];
            softmax_tile(s, acc, p, m0, m1, l0, l1, j * BK, Lk, valid, sl2, t4);
            mbar_wait_warp(v_full(st), par);
            reg_fence(acc);
            wg_fence();
            issue_pv(acc, p, sv + st * TILE);
            wg_commit();
            wg_wait0();
            reg_fence(acc);
            mbar_arrive(v_empty(st));
        }
    } else {
        // S of tile j + 1 is issued right behind P V of tile j, one wait for both: the
        // tensor cores get one longer run per tile instead of two. K is requested two
        // tiles ahead (its stage frees once S is done), V one.
        mbar_wait_warp(k_full(0), 0);
        wg_fence();
        issue_s(s, sq_wg, sk);
        wg_commit();
        wg_wait0();
        reg_fence(s);
        mbar_arrive(k_empty(0));
        for (int j = 0; j < n_tiles; j++) {
            const int st = j & 1, nt = (j + 1) & 1;
            const uint32_t par = ((uint32_t)j >> 1) & 1, npar = ((uint32_t)(j + 1) >> 1) & 1;
            const bool next = j + 1 < n_tiles;
            uint32_t p[BK / 16][4];
            softmax_tile(s, acc, p, m0, m1, l0, l1, j * BK, Lk, valid, sl2, t4);
            if (tid == 0) {
                if (j + 2 < n_tiles) { // into K(j)'s stage, released after S(j)
                    mbar_wait(k_empty(st), par);
                    load_k(j + 2);
                }
                if (j >= 1 && next) { // into V(j - 1)'s stage
                    mbar_wait(v_empty(nt), ((uint32_t)(j - 1) >> 1) & 1);
                    load_v(j + 1);
                }
            }
            mbar_wait_warp(v_full(st), par);
            if (next) mbar_wait_warp(k_full(nt), npar);
            reg_fence(acc);
            wg_fence();
            issue_pv(acc, p, sv + st * TILE);
            if (next) issue_s(s, sq_wg, sk + nt * TILE);
            wg_commit();
            wg_wait0();
            reg_fence(acc);
            reg_fence(s);
            mbar_arrive(v_empty(st));
            if (next) mbar_arrive(k_empty(nt));
        }
    }

    l0 = zt_k::quad_sum(l0);
    l1 = zt_k::quad_sum(l1);
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f; // all keys masked: zeros
    const float inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const int r0 = q0 + wg * 64 + wl * 16 + g, r1 = r0 + 8;
    float *o0 = o + (((int64_t)b * Lq + r0) * H + h) * D + 2 * t4;
    float *o1 = o + (((int64_t)b * Lq + r1) * H + h) * D + 2 * t4;
#pragma unroll
    for (int dt = 0; dt < D / 8; dt++) {
        if (r0 < Lq)
            *reinterpret_cast<float2 *>(o0 + dt * 8) =
                make_float2(acc[4 * dt] * inv0, acc[4 * dt + 1] * inv0);
        if (r1 < Lq)
            *reinterpret_cast<float2 *>(o1 + dt * 8) =
                make_float2(acc[4 * dt + 2] * inv1, acc[4 * dt + 3] * inv1);
    }
#else
    __trap(); // a build without the sm_90a target: zt_cuda_flash_sm90_built said so
#endif // ZT_SM90A
}

// Whether the code the device runs has the kernel above (the sm_90a target), not the
// empty body of sm_90 or of the PTX a newer card compiles: CMAKE_CUDA_ARCHITECTURES
// without 90a, or CUDA_FORCE_PTX_JIT=1, leaves only those.
__global__ void sm90_probe_kernel(int *built) {
#ifdef ZT_SM90A
    *built = 1;
#else
    *built = 0;
#endif
}

typedef CUresult (*encode_tiled_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
                                    const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
                                    const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                                    CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// [rows, 128] bf16 at ptr, read in boxes of 128 rows x 64 dims, 128-byte swizzled
zt_status tensor_map(encode_tiled_fn encode, CUtensorMap *map, const void *ptr, int64_t rows) {
    const cuuint64_t dims[2] = {(cuuint64_t)D, (cuuint64_t)rows};
    const cuuint64_t strides[1] = {D * sizeof(__nv_bfloat16)};
    const cuuint32_t box[2] = {64, 128}, elem_strides[2] = {1, 1};
    CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(ptr), dims,
                        strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return zt_fail(ZT_ERR_RUNTIME, "cuda: cuTensorMapEncodeTiled for attention: error %d",
                       (int)r);
    return ZT_OK;
}

} // namespace

extern "C" zt_status zt_cuda_flash_sm90_built(zt_backend *be, int *built) {
    zt_cuda_ctx *c = zt_cuda(be);
    int *d = NULL;
    *built = 0;
    ZT_CUDA_CHECK(cudaMalloc(&d, sizeof *d));
    sm90_probe_kernel<<<1, 1, 0, c->stream>>>(d);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(built, d, sizeof *built, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    cudaFree(d);
    if (e != cudaSuccess)
        return zt_fail(ZT_ERR_RUNTIME, "cuda: probing the sm_90a attention kernel: %s",
                       cudaGetErrorString(e));
    return ZT_OK;
}

extern "C" size_t zt_cuda_flash_sm90_tile(void) {
    return BQ; // BQ == BK: both lengths are padded to it
}

extern "C" zt_status zt_cuda_flash_sm90(zt_backend *be, float *o, const void *qb, const void *kb,
                                        const void *vb, const uint8_t *valid, int64_t B, int64_t H,
                                        int64_t Lq, int64_t Lk, int64_t Lqp, int64_t Lkp,
                                        float scale) {
    zt_cuda_ctx *c = zt_cuda(be);
    if (B * H > 65535 || B * H * (Lqp > Lkp ? Lqp : Lkp) > 0x7fffffff)
        return zt_fail(ZT_ERR_UNSUPPORTED, "attention: %lld x %lld rows too many for sm90 path",
                       (long long)(B * H), (long long)Lqp);
    if (!c->tmap_encode) {
        cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
        ZT_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &c->tmap_encode,
                                                       12000, cudaEnableDefault, &q));
        if (q != cudaDriverEntryPointSuccess || !c->tmap_encode)
            return zt_fail(ZT_ERR_UNSUPPORTED, "cuda: the driver has no cuTensorMapEncodeTiled");
    }
    encode_tiled_fn encode = (encode_tiled_fn)c->tmap_encode;
    CUtensorMap tq, tk, tv;
    ZT_TRY(tensor_map(encode, &tq, qb, B * H * Lqp));
    ZT_TRY(tensor_map(encode, &tk, kb, B * H * Lkp));
    ZT_TRY(tensor_map(encode, &tv, vb, B * H * Lkp));
    // 1: S and P V each waited for; 2: P V and the next S issued together
    auto kernel = c->attn_sm90 == 2 ? flash_sm90_kernel<true> : flash_sm90_kernel<false>;
    ZT_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SMEM));
    dim3 grid((unsigned)(Lqp / BQ), (unsigned)(B * H));
    kernel<<<grid, THREADS, SMEM, c->stream>>>(o, tq, tk, tv, valid, (int)H, (int)Lq, (int)Lk,
                                               (int)Lqp, (int)Lkp, scale * 1.4426950408889634f);
    ZT_CUDA_LAUNCHED("flash attention (sm90)");
    return ZT_OK;
}

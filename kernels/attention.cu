// attention.cu - o[B, Lq, H, D] = softmax(scale q k^T + bias, masked) v on the GPU.
//
// Two paths (three on Hopper), all with an online softmax (running max and sum per query, output
// rescaled when the max grows), so the score matrix is never held:
//
// - fast (D = 64 or 128, no rel_bias, sm_80+): flash-attention-2 style. q, k and v are
//   first converted to bf16 into scratch slot 0 as packed [B, H, L, D] with L padded
//   to the tile size with zero rows, so that the main kernel streams tiles with
//   cp.async (no f32->bf16 work or strides in its loop, no bounds checks on loads).
//   A block takes 128 queries of one (batch, head), 8 warps of 16 queries each, and
//   walks the keys 64 at a time through a double-buffered K/V tile in shared memory.
//   S = Q K^T and O += P V run on tensor cores (mma.sync m16n8k16, bf16 in, f32
//   accumulate); S, P, the running max/sum and O stay in registers in the mma
//   accumulator layout; P is rounded to bf16 for the P V product, as flash-attention
//   does. On compute capability 9.0 the D = 128 case goes to kernels/attention_sm90.cu
//   instead (wgmma and the bulk tensor copy engine), from the same packed inputs.
// - general (any D <= 1024, rel_bias, anything else): plain f32, one warp per query,
//   keys staged 32 at a time in shared memory. Matches the CPU backend to ~1e-6.
//
// A query whose keys are all masked gets zeros, as on the CPU backend.
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>

#include "../src/backends/cuda/cuda.h"
#include "common.cuh"

namespace {

// ---- fast path ------------------------------------------------------------------------

constexpr int FA_BQ = 128;           // queries per block
constexpr int FA_BK = 64;            // keys per step
constexpr int FA_WARPS = FA_BQ / 16; // one warp per 16 query rows
static_assert(FA_BQ <= ZT_CUDA_PACK_TILE_MAX && FA_BK <= ZT_CUDA_PACK_TILE_MAX,
              "the memory plan pads attention's packing to at most ZT_CUDA_PACK_TILE_MAX");
constexpr int FA_THREADS = FA_WARPS * 32;
// Blocks per SM asked of the register allocator. Two cap registers at 128 (D = 128
// spills ~72 bytes, outside the loop): 16 warps per SM hide the barriers and the
// softmax; measured on an H200 at L = 32760, H = 12, D = 128: 26.2 ms (252 TFLOP/s)
// against 32.2 ms with one block (182 registers). Before sm_90 a D = 128 block's 102 KB
// of shared memory fits once per SM anyway, so it keeps its registers there.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define FA_MIN_BLOCKS(D) ((D) == 128 ? 1 : 2)
#else
#define FA_MIN_BLOCKS(D) 2
#endif

// Row stride of the shared tiles in bf16: D + 8 shifts each row by 16 bytes, so the
// 8 row addresses of one ldmatrix fall in 8 different 16-byte bank groups.
template <int D> struct fa_smem {
    static constexpr int SD = D + 8;
    static constexpr int Q = FA_BQ * SD;  // elements
    static constexpr int KV = FA_BK * SD; // one K or V tile
    static constexpr size_t bytes = (size_t)(Q + 4 * KV) * sizeof(__nv_bfloat16);
};

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(zt_k::smem_addr(dst)),
                 "l"(src));
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(zt_k::smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(zt_k::smem_addr(p)));
}

// c[16x8] += a[16x16] b[16x8], bf16 in, f32 accumulate
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi); // .x (lo) in the low half
    return *reinterpret_cast<uint32_t *>(&h);
}

// x[B, L, H, D] f32 with strides (sb, st, sh) -> y[B, H, Lp, D] bf16 packed, rows t >= L
// zero. One thread per 8 elements (one 16-byte store). D is a multiple of 8. I: the type
// of the index math, 32 bits where n8 fits (a 64-bit division costs tens of instructions,
// and each thread does four).
template <bool VEC, typename I>
__global__ void to_bf16_kernel(__nv_bfloat16 *__restrict__ y, const float *__restrict__ x,
                               I L, I Lp, I H, int D, int64_t sb, int64_t st, int64_t sh, I n8) {
    const I d8n = D / 8;
    for (I idx = blockIdx.x * (I)blockDim.x + threadIdx.x; idx < n8;
         idx += (I)gridDim.x * blockDim.x) {
        I r = idx / d8n;
        int d0 = (int)(idx - r * d8n) * 8;
        I t = r % Lp, bh = r / Lp;
        I h = bh % H, b = bh / H;
        float f[8];
        if (t < L) {
            const float *p = x + b * sb + t * st + h * sh + d0;
            if (VEC) {
                float4 u = __ldg(reinterpret_cast<const float4 *>(p));
                float4 w = __ldg(reinterpret_cast<const float4 *>(p) + 1);
                f[0] = u.x, f[1] = u.y, f[2] = u.z, f[3] = u.w;
                f[4] = w.x, f[5] = w.y, f[6] = w.z, f[7] = w.w;
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) f[i] = __ldg(p + i);
            }
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++) f[i] = 0.0f;
        }
        uint4 out;
        out.x = pack_bf16(f[0], f[1]);
        out.y = pack_bf16(f[2], f[3]);
        out.z = pack_bf16(f[4], f[5]);
        out.w = pack_bf16(f[6], f[7]);
        reinterpret_cast<uint4 *>(y)[idx] = out;
    }
}

// Copy rows [row0, row0 + ROWS) of a packed [*, D] bf16 array into a shared tile of
// row stride SD with 16-byte cp.async chunks; consecutive threads take consecutive
// chunks of a row (coalesced).
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(__nv_bfloat16 *s, const __nv_bfloat16 *g, int tid) {
    constexpr int CH = D / 8; // chunks per row
    constexpr int SD = D + 8;
#pragma unroll
    for (int c = tid; c < ROWS * CH; c += FA_THREADS) {
        int r = c / CH, k = (c % CH) * 8;
        cp_async16(s + r * SD + k, g + (int64_t)r * D + k);
    }
}

// Grid: x = query tile, y = batch * H + head. qb/kb/vb are [B*H, Lqp or Lkp, D] bf16.
// o is [B, Lq, H, D] f32. sl2 = scale * log2(e): the softmax runs in base 2.
template <int D>
__global__ void __launch_bounds__(FA_THREADS, FA_MIN_BLOCKS(D))
    flash_fwd_kernel(float *__restrict__ o, const __nv_bfloat16 *__restrict__ qb,
                     const __nv_bfloat16 *__restrict__ kb, const __nv_bfloat16 *__restrict__ vb,
                     const uint8_t *__restrict__ key_valid, int H, int64_t Lq, int64_t Lk,
                     int64_t Lqp, int64_t Lkp, float sl2) {
    using SM = fa_smem<D>;
    constexpr int SD = SM::SD;
    constexpr int NT = FA_BK / 8; // n-tiles of S per warp (8 keys each)
    constexpr int DT = D / 8;     // n-tiles of O per warp (8 dims each)
    extern __shared__ __align__(16) unsigned char fa_raw[];
    __nv_bfloat16 *sq = reinterpret_cast<__nv_bfloat16 *>(fa_raw);
    __nv_bfloat16 *sk = sq + SM::Q; // [2][BK][SD]
    __nv_bfloat16 *sv = sk + 2 * SM::KV;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t4 = lane & 3; // mma fragment row group and column pair
    const int64_t bh = blockIdx.y, b = bh / H, h = bh % H;
    const int64_t i0 = (int64_t)blockIdx.x * FA_BQ;
    const __nv_bfloat16 *kg = kb + bh * Lkp * D, *vg = vb + bh * Lkp * D;
    const uint8_t *valid = key_valid ? key_valid + b * Lk : nullptr;
    const int n_tiles = (int)((Lk + FA_BK - 1) / FA_BK);

    // group 0: Q and the first K/V tile
    load_tile<D, FA_BQ>(sq, qb + (bh * Lqp + i0) * D, tid);
    load_tile<D, FA_BK>(sk, kg, tid);
    load_tile<D, FA_BK>(sv, vg, tid);
    zt_k::cp_async_commit();

    float acc[DT][4];
#pragma unroll
    for (int i = 0; i < DT; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY; // running max (scaled, base 2) of rows g, g + 8
    float l0 = 0.0f, l1 = 0.0f;           // this thread's part of the running sums

    // ldmatrix row addresses (see the fragment layouts of mma.m16n8k16): A from Q rows,
    // B of S from K rows (non-transposed), B of P V from V rows (transposed).
    const __nv_bfloat16 *qrow = sq + (warp * 16 + (lane & 15)) * SD + (lane >> 4) * 8;
    const int k_off = ((lane >> 4) * 8 + (lane & 7)) * SD + ((lane >> 3) & 1) * 8;
    const int v_off = ((lane & 7) + ((lane >> 3) & 1) * 8) * SD + (lane >> 4) * 8;

    for (int j = 0; j < n_tiles; j++) {
        const int stage = j & 1;
        // prefetch the next tile into the other stage; it was last read in step j - 1,
        // which ended with a barrier
        if (j + 1 < n_tiles) {
            load_tile<D, FA_BK>(sk + (stage ^ 1) * SM::KV, kg + (int64_t)(j + 1) * FA_BK * D, tid);
            load_tile<D, FA_BK>(sv + (stage ^ 1) * SM::KV, vg + (int64_t)(j + 1) * FA_BK * D, tid);
            zt_k::cp_async_commit();
            zt_k::cp_async_wait<1>(); // all but the newest group: tile j (and Q) landed
        } else {
            zt_k::cp_async_wait<0>();
        }
        __syncthreads();

        const __nv_bfloat16 *ks = sk + stage * SM::KV, *vs = sv + stage * SM::KV;
        float s[NT][4];
#pragma unroll
        for (int i = 0; i < NT; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t a[4];
            ldsm_x4(a, qrow + kk * 16);
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t bf[4]; // keys np*16 + 0..7 (bf[0..1]) and + 8..15 (bf[2..3])
                ldsm_x4(bf, ks + k_off + np * 16 * SD + kk * 16);
                mma_bf16(s[2 * np], a, bf[0], bf[1]);
                mma_bf16(s[2 * np + 1], a, bf[2], bf[3]);
            }
        }

        // scale, mask (tail keys and key_valid) and the tile's row maxima. This thread
        // holds keys j0 + nt*8 + 2*t4 + {0, 1} of rows g (s[.][0..1]) and g + 8 (s[.][2..3]).
        const int64_t j0 = (int64_t)j * FA_BK;
        const bool tail = j0 + FA_BK > Lk;
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int64_t key = j0 + nt * 8 + 2 * t4 + e;
                bool ok = (!tail || key < Lk) && (!valid || valid[key]);
                s[nt][e] = ok ? s[nt][e] * sl2 : -INFINITY;
                s[nt][e + 2] = ok ? s[nt][e + 2] * sl2 : -INFINITY;
                mx0 = fmaxf(mx0, s[nt][e]);
                mx1 = fmaxf(mx1, s[nt][e + 2]);
            }
        }
        // the four threads of a quad share a row
        mx0 = zt_k::quad_max(mx0);
        mx1 = zt_k::quad_max(mx1);
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        // every key so far masked: subtract 0 instead, so that exp2(-inf - x) is 0, not NaN
        const float ms0 = mn0 == -INFINITY ? 0.0f : mn0, ms1 = mn1 == -INFINITY ? 0.0f : mn1;
        const float al0 = exp2f(m0 - ms0), al1 = exp2f(m1 - ms1); // 0 while m was -inf
        m0 = mn0;
        m1 = mn1;
        float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = exp2f(s[nt][0] - ms0);
            s[nt][1] = exp2f(s[nt][1] - ms0);
            s[nt][2] = exp2f(s[nt][2] - ms1);
            s[nt][3] = exp2f(s[nt][3] - ms1);
            ps0 += s[nt][0] + s[nt][1];
            ps1 += s[nt][2] + s[nt][3];
        }
        l0 = l0 * al0 + ps0;
        l1 = l1 * al1 + ps1;
#pragma unroll
        for (int dt = 0; dt < DT; dt++) {
            acc[dt][0] *= al0;
            acc[dt][1] *= al0;
            acc[dt][2] *= al1;
            acc[dt][3] *= al1;
        }

        // O += P V: the S accumulators of n-tiles 2kk and 2kk+1 are exactly the A
        // fragment of keys 16kk..16kk+15
#pragma unroll
        for (int kk = 0; kk < FA_BK / 16; kk++) {
            uint32_t a[4];
            a[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            a[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            a[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            a[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dp = 0; dp < D / 16; dp++) {
                uint32_t bf[4]; // dims dp*16 + 0..7 (bf[0..1]) and + 8..15 (bf[2..3])
                ldsm_x4_trans(bf, vs + v_off + kk * 16 * SD + dp * 16);
                mma_bf16(acc[2 * dp], a, bf[0], bf[1]);
                mma_bf16(acc[2 * dp + 1], a, bf[2], bf[3]);
            }
        }
        __syncthreads(); // this stage is refilled in step j + 1
    }

    l0 = zt_k::quad_sum(l0);
    l1 = zt_k::quad_sum(l1);
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f; // all keys masked: zeros
    const float inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const int64_t r0 = i0 + warp * 16 + g, r1 = r0 + 8;
    float *o0 = o + ((b * Lq + r0) * H + h) * D + 2 * t4;
    float *o1 = o + ((b * Lq + r1) * H + h) * D + 2 * t4;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
        if (r0 < Lq)
            *reinterpret_cast<float2 *>(o0 + dt * 8) =
                make_float2(acc[dt][0] * inv0, acc[dt][1] * inv0);
        if (r1 < Lq)
            *reinterpret_cast<float2 *>(o1 + dt * 8) =
                make_float2(acc[dt][2] * inv1, acc[dt][3] * inv1);
    }
}

// ---- general path ---------------------------------------------------------------------

constexpr int GA_WARPS = 8;     // queries per block, one warp each
constexpr int GA_MAX_D = 1024;  // the Wan VAEs' single-head attention has D up to 1024

// MAXD: head dims up to it (MAXD / 32 output dims per lane); KEYS: keys per shared chunk,
// one lane each for the scores (fewer for wide heads, to fit shared memory)
template <int MAXD, int KEYS> inline size_t ga_smem_bytes(int D) {
    // K chunk with rows padded to D + 1 (lane j reads row j: no bank conflicts), V chunk,
    // one q row per warp
    return (size_t)(KEYS * (D + 1) + KEYS * D + GA_WARPS * D) * sizeof(float);
}

template <int MAXD, int KEYS>
__global__ void __launch_bounds__(GA_WARPS * 32)
    attn_f32_kernel(float *__restrict__ o, const float *__restrict__ q, const float *__restrict__ k,
                    const float *__restrict__ v, int64_t H, int64_t Lq, int64_t Lk, int D,
                    int64_t sqb, int64_t sqt, int64_t sqh, int64_t skb, int64_t skt, int64_t skh,
                    int64_t svb, int64_t svt, int64_t svh, float scale,
                    const uint8_t *__restrict__ key_valid, const float *__restrict__ rel_bias,
                    int64_t n_qc) {
    extern __shared__ float ga_raw[];
    float *ks = ga_raw;               // [KEYS][D + 1]
    float *vs = ks + KEYS * (D + 1);  // [KEYS][D]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t qc = blockIdx.x % n_qc, bh = blockIdx.x / n_qc;
    const int64_t b = bh / H, h = bh % H;
    const int64_t i = qc * GA_WARPS + warp;
    const bool active = i < Lq; // warp-uniform; inactive warps still help load and sync
    float *qs = vs + KEYS * D + warp * D;
    const float *kbase = k + b * skb + h * skh, *vbase = v + b * svb + h * svh;
    const uint8_t *valid = key_valid ? key_valid + b * Lk : nullptr;
    const float *bias = rel_bias ? rel_bias + h * (Lq + Lk - 1) + (Lq - 1 - i) : nullptr;

    if (active) {
        const float *qp = q + b * sqb + i * sqt + h * sqh;
        for (int d = lane; d < D; d += 32) qs[d] = qp[d];
    }
    float acc[MAXD / 32];
#pragma unroll
    for (int c = 0; c < MAXD / 32; c++) acc[c] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int64_t j0 = 0; j0 < Lk; j0 += KEYS) {
        const int n = (int)(Lk - j0 < KEYS ? Lk - j0 : KEYS);
        __syncthreads(); // the previous chunk is no longer read
        for (int e = tid; e < KEYS * D; e += GA_WARPS * 32) {
            int r = e / D, c = e - r * D;
            float kx = 0.0f, vx = 0.0f;
            if (r < n) {
                kx = kbase[(j0 + r) * skt + c];
                vx = vbase[(j0 + r) * svt + c];
            }
            ks[r * (D + 1) + c] = kx;
            vs[r * D + c] = vx;
        }
        __syncthreads();
        if (!active) continue;

        // lane j scores key j0 + j in f32 (as the CPU's sgemm: scale * q.k + bias)
        const int64_t key = j0 + lane;
        float sc = -INFINITY;
        if (lane < n && (!valid || valid[key])) {
            const float *kr = ks + lane * (D + 1);
            float dot = 0.0f;
            for (int d = 0; d < D; d++) dot = fmaf(qs[d], kr[d], dot);
            sc = scale * dot + (bias ? bias[key] : 0.0f);
        }
        float cm = sc;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, off));
        const float mn = fmaxf(m, cm);
        if (mn == -INFINITY) continue; // every key so far masked: nothing to weigh yet
        const float alpha = expf(m - mn); // 0 when m was -inf
        const float pj = expf(sc - mn);
        float ps = pj;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
        l = l * alpha + ps;
        m = mn;
#pragma unroll
        for (int c = 0; c < MAXD / 32; c++) acc[c] *= alpha;
        for (int jj = 0; jj < n; jj++) {
            const float p = __shfl_sync(0xffffffffu, pj, jj);
            const float *vr = vs + jj * D;
#pragma unroll
            for (int c = 0; c < MAXD / 32; c++) {
                int d = lane + 32 * c;
                if (d < D) acc[c] = fmaf(p, vr[d], acc[c]);
            }
        }
    }
    if (!active) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f; // all keys masked: zeros
    float *op = o + ((b * Lq + i) * H + h) * D;
#pragma unroll
    for (int c = 0; c < MAXD / 32; c++) {
        int d = lane + 32 * c;
        if (d < D) op[d] = acc[c] * inv;
    }
}

template <int MAXD, int KEYS>
zt_status launch_f32(zt_cuda_ctx *c, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                     const zt_tensor *v, const zt_attn_params *p, const uint8_t *valid,
                     const float *bias, int64_t blocks, int64_t n_qc) {
    const int64_t H = q->shape[2], Lq = q->shape[1], Lk = k->shape[1];
    const int D = (int)q->shape[3];
    const size_t smem = ga_smem_bytes<MAXD, KEYS>(D);
    if (smem > 48 * 1024)
        ZT_CUDA_CHECK(cudaFuncSetAttribute(attn_f32_kernel<MAXD, KEYS>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    attn_f32_kernel<MAXD, KEYS><<<(unsigned)blocks, GA_WARPS * 32, smem, c->stream>>>(
        (float *)o->data, (const float *)q->data, (const float *)k->data, (const float *)v->data,
        H, Lq, Lk, D, q->stride[0], q->stride[1], q->stride[2], k->stride[0], k->stride[1],
        k->stride[2], v->stride[0], v->stride[1], v->stride[2], p->scale, valid, bias, n_qc);
    return ZT_OK;
}

int64_t cdiv(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

bool aligned16(const void *p) {
    return ((uintptr_t)p & 15) == 0;
}

// f32 view (strides in elements) -> packed bf16 [B, H, Lp, D] in dst
zt_status to_bf16(cudaStream_t st, __nv_bfloat16 *dst, const zt_tensor *x, int64_t Lp) {
    const int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
    const int D = (int)x->shape[3];
    const int64_t n8 = B * H * Lp * (D / 8);
    const bool vec = aligned16(x->data) && x->stride[0] % 4 == 0 && x->stride[1] % 4 == 0 &&
                     x->stride[2] % 4 == 0;
    const int threads = 256;
    const int64_t blocks = cdiv(n8, threads) < 65536 * 8 ? cdiv(n8, threads) : 65536 * 8;
    const float *src = (const float *)x->data;
    const int64_t sb = x->stride[0], sx = x->stride[1], sh = x->stride[2];
    // idx + grid stride stays below 2^31 too: n8 + blocks * threads <= 2^31 - 1
    const bool small = n8 + blocks * threads < INT32_MAX;
    if (vec && small)
        to_bf16_kernel<true, int><<<(unsigned)blocks, threads, 0, st>>>(
            dst, src, (int)L, (int)Lp, (int)H, D, sb, sx, sh, (int)n8);
    else if (small)
        to_bf16_kernel<false, int><<<(unsigned)blocks, threads, 0, st>>>(
            dst, src, (int)L, (int)Lp, (int)H, D, sb, sx, sh, (int)n8);
    else if (vec)
        to_bf16_kernel<true, int64_t><<<(unsigned)blocks, threads, 0, st>>>(
            dst, src, L, Lp, H, D, sb, sx, sh, n8);
    else
        to_bf16_kernel<false, int64_t><<<(unsigned)blocks, threads, 0, st>>>(
            dst, src, L, Lp, H, D, sb, sx, sh, n8);
    ZT_CUDA_LAUNCHED("attention bf16 conversion");
    return ZT_OK;
}

// q, k, v as packed bf16 [B*H, Lp, D] in scratch slot 0, the lengths padded to tile_q
// and tile_k rows: what both tensor-core kernels read. Slot 0 is the products' 16-bit
// input too, never held across ops: one buffer serves both (on Wan2.1-1.3B at
// 480x832x81, 302 MB here and 101 MB there, so 101 MB less than two).
struct packed_qkv {
    __nv_bfloat16 *q, *k, *v;
    int64_t Lqp, Lkp;
};

zt_status pack_qkv(zt_backend *be, const zt_tensor *q, const zt_tensor *k, const zt_tensor *v,
                   int64_t tile_q, int64_t tile_k, packed_qkv *pk) {
    cudaStream_t st = zt_cuda(be)->stream;
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], Lk = k->shape[1];
    const int64_t D = q->shape[3];
    pk->Lqp = cdiv(Lq, tile_q) * tile_q;
    pk->Lkp = cdiv(Lk, tile_k) * tile_k;
    const size_t bytes = (size_t)zt_cuda_pack_bytes(B * H, Lq, Lk, D, tile_q, tile_k);
    void *buf = NULL;
    ZT_TRY(zt_cuda_scratch(be, 0, bytes, &buf));
    pk->q = (__nv_bfloat16 *)buf;
    pk->k = pk->q + B * H * pk->Lqp * D;
    pk->v = pk->k + B * H * pk->Lkp * D;
    ZT_TRY(to_bf16(st, pk->q, q, pk->Lqp));
    ZT_TRY(to_bf16(st, pk->k, k, pk->Lkp));
    return to_bf16(st, pk->v, v, pk->Lkp);
}

template <int D>
zt_status flash_launch(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                       const zt_tensor *v, const uint8_t *valid_dev, float scale) {
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], Lk = k->shape[1];
    packed_qkv pk;
    ZT_TRY(pack_qkv(be, q, k, v, FA_BQ, FA_BK, &pk));
    const size_t smem = fa_smem<D>::bytes; // > 48 KB: needs the opt-in
    ZT_CUDA_CHECK(cudaFuncSetAttribute(flash_fwd_kernel<D>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)(pk.Lqp / FA_BQ), (unsigned)(B * H));
    flash_fwd_kernel<D><<<grid, FA_THREADS, smem, zt_cuda(be)->stream>>>(
        (float *)o->data, pk.q, pk.k, pk.v, valid_dev, (int)H, Lq, Lk, pk.Lqp, pk.Lkp,
        scale * 1.4426950408889634f);
    ZT_CUDA_LAUNCHED("flash attention");
    return ZT_OK;
}

// Hopper: the same packing, lengths padded to the wgmma kernel's tile
zt_status flash_sm90_launch(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                            const zt_tensor *v, const uint8_t *valid_dev, float scale) {
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], Lk = k->shape[1];
    const int64_t t = (int64_t)zt_cuda_flash_sm90_tile();
    packed_qkv pk;
    ZT_TRY(pack_qkv(be, q, k, v, t, t, &pk));
    return zt_cuda_flash_sm90(be, (float *)o->data, pk.q, pk.k, pk.v, valid_dev, B, H, Lq, Lk,
                              pk.Lqp, pk.Lkp, scale);
}

} // namespace

extern "C" zt_status zt_cuda_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q,
                                       const zt_tensor *k, const zt_tensor *v,
                                       const zt_attn_params *p) {
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], D = q->shape[3];
    const int64_t Lk = k->shape[1];
    if (B == 0 || Lq == 0 || H == 0 || D == 0) return ZT_OK;
    if (!p) return zt_fail(ZT_ERR_RUNTIME, "attention: no parameters");
    if (p->key_bias) return zt_fail(ZT_ERR_UNSUPPORTED, "attention: no per-key bias on the GPU");
    zt_cuda_ctx *c = zt_cuda(be);

    bool fast = (D == 64 || D == 128) && !p->rel_bias && c->cc_major >= 8 && B * H <= 65535 &&
                cdiv(Lq, FA_BQ) <= 0x7fffffff;
    if (fast) { // sm_86/sm_89 offer 99 KB per block: too little for D = 128's tiles
        int optin = 0;
        ZT_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                             c->device));
        fast = (size_t)optin >= (D == 64 ? fa_smem<64>::bytes : fa_smem<128>::bytes);
    }
    if (fast) {
        const uint8_t *valid = NULL;
        if (p->key_valid) {
            void *dv = NULL;
            ZT_TRY(zt_cuda_upload_scratch(be, 3, p->key_valid, (size_t)(B * Lk), &dv));
            valid = (const uint8_t *)dv;
        }
        if (D == 128 && c->attn_sm90 && p->scale > 0.0f)
            return flash_sm90_launch(be, o, q, k, v, valid, p->scale);
        return D == 64 ? flash_launch<64>(be, o, q, k, v, valid, p->scale)
                       : flash_launch<128>(be, o, q, k, v, valid, p->scale);
    }

    if (D > GA_MAX_D)
        return zt_fail(ZT_ERR_UNSUPPORTED, "attention: head dim %lld above %d on CUDA",
                       (long long)D, GA_MAX_D);
    const uint8_t *valid = NULL;
    const float *bias = NULL;
    if (p->key_valid) {
        void *dv = NULL;
        ZT_TRY(zt_cuda_upload_scratch(be, 2, p->key_valid, (size_t)(B * Lk), &dv));
        valid = (const uint8_t *)dv;
    }
    if (p->rel_bias) {
        void *db = NULL;
        ZT_TRY(zt_cuda_upload_scratch(be, 3, p->rel_bias,
                                      (size_t)(H * (Lq + Lk - 1)) * sizeof(float), &db));
        bias = (const float *)db;
    }
    const int64_t n_qc = cdiv(Lq, GA_WARPS);
    const int64_t blocks = B * H * n_qc;
    if (blocks > 0x7fffffff)
        return zt_fail(ZT_ERR_UNSUPPORTED, "attention: %lld query blocks", (long long)blocks);
    zt_status st = D <= 256   ? launch_f32<256, 32>(c, o, q, k, v, p, valid, bias, blocks, n_qc)
                   : D <= 512 ? launch_f32<512, 32>(c, o, q, k, v, p, valid, bias, blocks, n_qc)
                              : launch_f32<1024, 16>(c, o, q, k, v, p, valid, bias, blocks, n_qc);
    ZT_TRY(st);
    ZT_CUDA_LAUNCHED("attention (f32)");
    return ZT_OK;
}

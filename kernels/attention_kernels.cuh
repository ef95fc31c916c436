// attention_kernels.cuh - the kernels of kernels/attention.cu (see there for the paths):
// the flash kernel of the fast path (bf16 tensor cores) and the f32 kernel of the
// general path.
//
// Included by attention.cu, which supplies the device primitives first: cp_async16 (a
// 16-byte cp.async), ldsm_x4 and ldsm_x4_trans (ldmatrix .x4, plain and transposed),
// mma_bf16 (mma.sync m16n8k16, bf16 in, f32 accumulate), pack_bf16, and zt_k's quad_max,
// quad_sum, cp_async_commit and cp_async_wait<N>; and by tests/emu/test_attn_emu.cpp,
// which emulates them to run these kernels on host threads.
#ifndef ZT_ATTENTION_KERNELS_CUH
#define ZT_ATTENTION_KERNELS_CUH

// ---- fast path ------------------------------------------------------------------------

constexpr int FA_BQ = 128;           // queries per block
constexpr int FA_BK = 64;            // keys per step
constexpr int FA_BK_SMALL = 32;      // where shared memory is short (fa_smem)
constexpr int FA_WARPS = FA_BQ / 16; // one warp per 16 query rows
constexpr int FA_THREADS = FA_WARPS * 32;
// Blocks per SM asked of the register allocator. Two cap registers at 128 (D = 128
// spills ~72 bytes, outside the loop): 16 warps per SM hide the barriers and the
// softmax; measured on an H200 at L = 32760, H = 12, D = 128: 26.2 ms (252 TFLOP/s)
// against 32.2 ms with one block (182 registers). Before sm_90 a D = 128 block's 102 KB
// (70 KB with FA_BK_SMALL) of shared memory fits once per SM anyway, so it keeps its
// registers there.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define FA_MIN_BLOCKS(D) ((D) == 128 ? 1 : 2)
#else
#define FA_MIN_BLOCKS(D) 2
#endif

// Row stride of the shared tiles in bf16: D + 8 shifts each row by 16 bytes, so the
// 8 row addresses of one ldmatrix fall in 8 different 16-byte bank groups. BK keys a
// step: FA_BK, or FA_BK_SMALL on cards whose blocks get less shared memory than D = 128
// needs with FA_BK (sm_86 and sm_89 offer 99 KB).
template <int D, int BK> struct fa_smem {
    static constexpr int SD = D + 8;
    static constexpr int Q = FA_BQ * SD; // elements
    static constexpr int KV = BK * SD;   // one K or V tile
    static constexpr size_t bytes = (size_t)(Q + 4 * KV) * sizeof(__nv_bfloat16);
};

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
template <int D, int BK>
__global__ void __launch_bounds__(FA_THREADS, FA_MIN_BLOCKS(D))
    flash_fwd_kernel(float *__restrict__ o, const __nv_bfloat16 *__restrict__ qb,
                     const __nv_bfloat16 *__restrict__ kb, const __nv_bfloat16 *__restrict__ vb,
                     const uint8_t *__restrict__ key_valid, int H, int64_t Lq, int64_t Lk,
                     int64_t Lqp, int64_t Lkp, float sl2) {
    using SM = fa_smem<D, BK>;
    constexpr int SD = SM::SD;
    constexpr int NT = BK / 8; // n-tiles of S per warp (8 keys each)
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
    const int n_tiles = (int)((Lk + BK - 1) / BK);

    // group 0: Q and the first K/V tile
    load_tile<D, FA_BQ>(sq, qb + (bh * Lqp + i0) * D, tid);
    load_tile<D, BK>(sk, kg, tid);
    load_tile<D, BK>(sv, vg, tid);
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
            load_tile<D, BK>(sk + (stage ^ 1) * SM::KV, kg + (int64_t)(j + 1) * BK * D, tid);
            load_tile<D, BK>(sv + (stage ^ 1) * SM::KV, vg + (int64_t)(j + 1) * BK * D, tid);
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
        const int64_t j0 = (int64_t)j * BK;
        const bool tail = j0 + BK > Lk;
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
        for (int kk = 0; kk < BK / 16; kk++) {
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

// ---- which variant a card runs, by the shared memory a block may opt in to (host) -------

// The flash kernel's keys a step for head dim D (64 or 128): FA_BK, FA_BK_SMALL, or 0
// where neither fits.
inline int fa_keys_for(int D, size_t optin) {
    if (optin >= (D == 64 ? fa_smem<64, FA_BK>::bytes : fa_smem<128, FA_BK>::bytes))
        return FA_BK;
    if (optin >= (D == 64 ? fa_smem<64, FA_BK_SMALL>::bytes : fa_smem<128, FA_BK_SMALL>::bytes))
        return FA_BK_SMALL;
    return 0;
}

// The f32 kernel's keys a chunk for head dim D (at most GA_MAX_D), and in *maxd the
// instance's MAXD: the most keys that fit, of 32, 16 and 8; 0 where none does.
inline int ga_keys_for(int D, size_t optin, int *maxd) {
    *maxd = D <= 256 ? 256 : D <= 512 ? 512 : 1024;
    if (*maxd == 256 && optin >= ga_smem_bytes<256, 32>(D)) return 32;
    if (*maxd == 256) *maxd = 512; // no <256, 16>: the wider instance's smaller chunks
    if (*maxd == 512 && optin >= ga_smem_bytes<512, 32>(D)) return 32;
    if (*maxd == 512 && optin >= ga_smem_bytes<512, 16>(D)) return 16;
    *maxd = 1024;
    if (optin >= ga_smem_bytes<1024, 16>(D)) return 16;
    if (optin >= ga_smem_bytes<1024, 8>(D)) return 8;
    return 0;
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

#endif

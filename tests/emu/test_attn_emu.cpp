// The attention kernels of kernels/attention_kernels.cuh compiled for the host and run on
// threads (emu.h), against softmax attention in double written out here: the flash
// kernel (bf16 tensor cores) with 64 and with 32 keys a step, the latter what cards of
// 99 KB of shared memory a block run (sm_86, sm_89), and the f32 kernel with each chunk
// of keys attention.cu picks by the card's shared memory, the Wan VAEs' head dims (384,
// 1024) among them. CI has no GPU; test_cuda_attention runs the same kernels on one.
//
// Emulated, each block as FA_THREADS or GA_WARPS * 32 real threads (emu.h):
//   - ldmatrix .x4 (plain and .trans) and mma.sync m16n8k16 bf16 are warp-collective:
//     the lanes post their addresses or fragment registers, meet, and each takes its
//     registers from the PTX ISA's layouts (tests/unit/ptx_ref.h);
//   - cp.async copies land late or at once (emu.h), and shared memory starts each
//     block as NaN, so a tile read before its wait, or a place no load wrote, shows;
//   - shuffles go through the warp's post board, __syncthreads is a barrier.
// What this cannot check: the PTX itself (the inline asm is replaced), the real memory
// model, speed, and the Hopper kernel (attention_sm90.cu). Exit 0 when every case
// matches, 1 otherwise.
#include <math.h>

#include "emu.h"
#define __shared__ // the kernels' shared arrays are extern: fa_raw and ga_raw below

extern "C" {
#include "backends/cuda/cuda_sizes.h"
}
#include "ptx_ref.h"

typedef uint16_t __nv_bfloat16;
struct float2 {
    float x, y;
};
static inline float2 make_float2(float x, float y) {
    return {x, y};
}

// ---- the device primitives attention.cu supplies -------------------------------------------
static void cp_async16(void *dst, const void *src) {
    emu_cp_async(dst, src, 16, 16);
}

static void ldsm(uint32_t (&r)[4], const void *p, int trans) {
    emu_warp &w = emu_my_warp();
    memcpy(w.post[emu_lane()], &p, sizeof p);
    w.bar.wait();
    for (int i = 0; i < 4; i++) {
        const uint16_t *rows[8];
        for (int k = 0; k < 8; k++) memcpy(&rows[k], w.post[8 * i + k], sizeof rows[k]);
        r[i] = ptx_ldmatrix(rows, emu_lane(), trans);
    }
    w.bar.wait();
}
static void ldsm_x4(uint32_t (&r)[4], const void *p) {
    ldsm(r, p, 0);
}
static void ldsm_x4_trans(uint32_t (&r)[4], const void *p) {
    ldsm(r, p, 1);
}

static void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    emu_warp &w = emu_my_warp();
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b0, b1};
    memcpy(w.post[emu_lane()], mine, sizeof mine);
    w.bar.wait();
    uint32_t ra[32][4], rb[32][2];
    for (int l = 0; l < 32; l++) {
        uint32_t r[6];
        memcpy(r, w.post[l], sizeof r);
        for (int k = 0; k < 4; k++) ra[l][k] = r[k];
        rb[l][0] = r[4];
        rb[l][1] = r[5];
    }
    float A[16][16], B[16][8];
    ptx_mma16_operands(ra, rb, A, B);
    ptx_mma16_lane(c, emu_lane(), A, B);
    w.bar.wait();
}

static uint32_t pack_bf16(float lo, float hi) { // __floats2bfloat162_rn: .x low
    return (uint32_t)zt_f32_to_bf16(lo) | (uint32_t)zt_f32_to_bf16(hi) << 16;
}

namespace zt_k {
static float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
static float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
static void cp_async_commit() {
    emu_cp_async_commit();
}
template <int N> static void cp_async_wait() {
    emu_cp_async_wait(N);
}
} // namespace zt_k

#include "attention_kernels.cuh"

// The blocks' shared memory (the kernels declare it extern), as large as any case takes.
static constexpr size_t FA_SMEM = fa_smem<128, FA_BK>::bytes;
static constexpr size_t GA_SMEM_FLOATS = 16 * 1025 + 16 * 1024 + GA_WARPS * 1024;
alignas(16) unsigned char fa_raw[FA_SMEM];
alignas(16) float ga_raw[GA_SMEM_FLOATS];

static void fresh_smem(void) {
    memset(fa_raw, 0xff, sizeof fa_raw); // bf16 NaN
    for (float &v : ga_raw) v = NAN;
}

// ---- the cases ---------------------------------------------------------------------------

enum kernel { FLASH, F32 };
enum mask { NONE, SOME, BATCH1_ALL };

struct tcase {
    const char *name;
    kernel k;
    size_t card; // the shared memory a block may opt in to, as attention.cu reads it
    int keys;    // what attention.cu picks for it: FLASH keys a step, F32 keys a chunk
    int b, h, lq, lk, d;
    mask m;
    int rel_bias; // F32 only
};

struct args {
    const tcase *c;
    float *o;
    const void *q, *k, *v; // FLASH: packed bf16 [B*H, Lp, D]; F32: f32 [B, L, H, D]
    const uint8_t *valid;
    const float *bias;
    int64_t lqp, lkp, n_qc;
    float scale;
};

template <int D, int BK> static void flash_body(void *p) {
    args *a = (args *)p;
    const tcase &c = *a->c;
    flash_fwd_kernel<D, BK>(a->o, (const __nv_bfloat16 *)a->q, (const __nv_bfloat16 *)a->k,
                            (const __nv_bfloat16 *)a->v, a->valid, c.h, c.lq, c.lk, a->lqp, a->lkp,
                            a->scale * 1.4426950408889634f);
}

template <int MAXD, int KEYS> static void f32_body(void *p) {
    args *a = (args *)p;
    const tcase &c = *a->c;
    int64_t H = c.h, L = c.lq, Lk = c.lk, D = c.d; // contiguous [B, L, H, D]
    attn_f32_kernel<MAXD, KEYS>(a->o, (const float *)a->q, (const float *)a->k, (const float *)a->v,
                                H, L, Lk, c.d, L * H * D, H * D, D, Lk * H * D, H * D, D,
                                Lk * H * D, H * D, D, a->scale, a->valid, a->bias, a->n_qc);
}

// The variant attention.cu runs on the case's card (fa_keys_for, ga_keys_for), and its
// body; NULL where that is not the variant the case expects.
static void (*pick(const tcase &c))(void *) {
    if (c.k == FLASH) {
        int bk = fa_keys_for(c.d, c.card);
        if (bk != c.keys) return NULL;
        if (c.d == 64) return bk == 64 ? flash_body<64, 64> : flash_body<64, 32>;
        return bk == 64 ? flash_body<128, 64> : flash_body<128, 32>;
    }
    int maxd = 0, keys = ga_keys_for(c.d, c.card, &maxd);
    if (keys != c.keys) return NULL;
    if (maxd == 256) return f32_body<256, 32>;
    if (maxd == 512) return keys == 32 ? f32_body<512, 32> : f32_body<512, 16>;
    return keys == 16 ? f32_body<1024, 16> : f32_body<1024, 8>;
}

// the dynamic shared memory attention.cu launches the case's variant with
static size_t smem_bytes(const tcase &c) {
    if (c.k == FLASH && c.d == 64)
        return c.keys == 64 ? fa_smem<64, 64>::bytes : fa_smem<64, 32>::bytes;
    if (c.k == FLASH) return c.keys == 64 ? fa_smem<128, 64>::bytes : fa_smem<128, 32>::bytes;
    return c.keys == 32   ? ga_smem_bytes<1024, 32>(c.d)
           : c.keys == 16 ? ga_smem_bytes<1024, 16>(c.d)
                          : ga_smem_bytes<1024, 8>(c.d);
}

static int run_case(const tcase &c) {
    const int64_t B = c.b, H = c.h, Lq = c.lq, Lk = c.lk, D = c.d;
    const bool flash = c.k == FLASH;
    std::vector<float> q(B * Lq * H * D), k(B * Lk * H * D), v(B * Lk * H * D);
    for (float &x : q) x = emu_randn();
    for (float &x : k) x = emu_randn();
    for (float &x : v) x = emu_randn();
    if (flash) // the kernel sees them in bf16: so does the reference
        for (auto *t : {&q, &k, &v})
            for (float &x : *t) x = zt_bf16_to_f32(zt_f32_to_bf16(x));
    std::vector<uint8_t> valid(B * Lk, 1);
    if (c.m == SOME)
        for (int64_t i = 0; i < B * Lk; i++) valid[i] = (i * 7 + 3) % 5 != 0;
    if (c.m == BATCH1_ALL && B > 1)
        for (int64_t j = 0; j < Lk; j++) valid[Lk + j] = 0;
    std::vector<float> bias(H * (Lq + Lk - 1));
    for (float &x : bias) x = 0.5f * emu_randn();
    const float scale = 1.0f / sqrtf((float)D);

    // reference: o[b, i, h] = sum_j softmax_j(scale q.k_j + bias[h, j - i]) v_j, masked keys
    // left out, zeros where none is left
    std::vector<double> ref(B * Lq * H * D, 0.0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++) {
                std::vector<double> s(Lk);
                double mx = -INFINITY;
                for (int64_t j = 0; j < Lk; j++) {
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++)
                        dot += (double)q[((b * Lq + i) * H + h) * D + d] *
                               k[((b * Lk + j) * H + h) * D + d];
                    s[j] =
                        scale * dot + (c.rel_bias ? bias[h * (Lq + Lk - 1) + Lq - 1 - i + j] : 0);
                    if (valid[b * Lk + j] && s[j] > mx) mx = s[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < Lk; j++)
                    sum += s[j] = valid[b * Lk + j] ? exp(s[j] - mx) : 0.0;
                double *o = &ref[((b * Lq + i) * H + h) * D];
                for (int64_t j = 0; sum > 0 && j < Lk; j++)
                    for (int64_t d = 0; d < D; d++)
                        o[d] += s[j] / sum * v[((b * Lk + j) * H + h) * D + d];
            }

    args a = {&c,
              NULL,
              NULL,
              NULL,
              NULL,
              c.m == NONE ? NULL : valid.data(),
              c.rel_bias ? bias.data() : NULL,
              0,
              0,
              0,
              scale};
    std::vector<float> o(B * Lq * H * D, NAN);
    a.o = o.data();
    std::vector<uint16_t> pq, pk, pv;
    dim3 grid, block;
    if (flash) { // packed [B*H, Lp, D], padded with zero rows, as attention.cu's to_bf16
        a.lqp = (Lq + FA_BQ - 1) / FA_BQ * FA_BQ;
        a.lkp = (Lk + FA_BK - 1) / FA_BK * FA_BK;
        auto pack = [&](const std::vector<float> &x, int64_t L, int64_t Lp,
                        std::vector<uint16_t> &y) {
            y.assign(B * H * Lp * D, 0);
            for (int64_t b = 0; b < B; b++)
                for (int64_t t = 0; t < L; t++)
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t d = 0; d < D; d++)
                            y[((b * H + h) * Lp + t) * D + d] =
                                zt_f32_to_bf16(x[((b * L + t) * H + h) * D + d]);
        };
        pack(q, Lq, a.lqp, pq);
        pack(k, Lk, a.lkp, pk);
        pack(v, Lk, a.lkp, pv);
        a.q = pq.data(), a.k = pk.data(), a.v = pv.data();
        grid.x = (unsigned)(a.lqp / FA_BQ), grid.y = (unsigned)(B * H);
        block.x = FA_THREADS;
    } else {
        a.q = q.data(), a.k = k.data(), a.v = v.data();
        a.n_qc = (Lq + GA_WARPS - 1) / GA_WARPS;
        grid.x = (unsigned)(B * H * a.n_qc);
        block.x = GA_WARPS * 32;
    }
    void (*body)(void *) = pick(c);
    if (!body) {
        int maxd;
        printf("FAIL %s: on a card of %zu bytes a block attention.cu picks %d keys, not %d\n",
               c.name, c.card, flash ? fa_keys_for(c.d, c.card) : ga_keys_for(c.d, c.card, &maxd),
               c.keys);
        return 0;
    }
    int bad = emu_run_grid(grid, block, body, &a, emu_copies_left, fresh_smem);
    // the last block kept within the shared memory its launch asks for (the arrays here
    // are the largest variant's): past it, the fill is untouched
    size_t used = smem_bytes(c);
    int overrun = 0;
    for (size_t i = used; flash && i < sizeof fa_raw; i++) overrun |= fa_raw[i] != 0xff;
    for (size_t i = used / 4; !flash && i < GA_SMEM_FLOATS; i++) overrun |= !isnan(ga_raw[i]);

    double err = 0, mx = 1e-30;
    size_t at = 0;
    for (size_t i = 0; i < o.size(); i++) {
        double e = fabs((double)o[i] - ref[i]);
        if (!(e <= err)) err = e, at = i; // NaN counts as the largest error
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    double rel = err / mx, tol = flash ? 4e-3 : 1e-5; // flash: P rounded to bf16
    int ok = !bad && !overrun && rel <= tol;
    printf("%s %s (B%lld H%lld Lq%lld Lk%lld D%lld): max rel err %.3e (tol %.0e)%s%s\n",
           ok ? "  " : "FAIL", c.name, (long long)B, (long long)H, (long long)Lq, (long long)Lk,
           (long long)D, rel, tol, bad ? ", copies left pending" : "",
           overrun ? ", shared memory written past its size" : "");
    if (!ok) printf("     at %zu: got %g, want %g\n", at, o[at], ref[at]);
    return ok;
}

// Every head dim on each card: the variant picked fits the card, and it is the one with
// the most keys that does (no variant with more keys would fit as well). Returns the
// number of (card, D) pairs that break this.
static int check_choice(void) {
    const size_t cards[] = {49152, 101376, 166912, 232448}; // 48 KB, sm_86/89, sm_80, sm_90
    int bad = 0;
    for (size_t card : cards)
        for (int d = 1; d <= GA_MAX_D; d++) {
            int maxd = 0, keys = ga_keys_for(d, card, &maxd);
            size_t need = keys == 32   ? ga_smem_bytes<1024, 32>(d)
                          : keys == 16 ? ga_smem_bytes<1024, 16>(d)
                                       : ga_smem_bytes<1024, 8>(d);
            int more = keys == 8 ? 16 : keys == 16 && maxd == 512 ? 32 : 0;
            size_t more_need = more == 32 ? ga_smem_bytes<512, 32>(d)
                               : more     ? ga_smem_bytes<1024, 16>(d)
                                          : 0;
            bad += (keys && (need > card || d > maxd)) ||
                   (!keys && ga_smem_bytes<1024, 8>(d) <= card) || (more && more_need <= card);
            if (d == 64 || d == 128) {
                int bk = fa_keys_for(d, card);
                size_t fit = d == 64
                                 ? (bk == 64 ? fa_smem<64, 64>::bytes : fa_smem<64, 32>::bytes)
                                 : (bk == 64 ? fa_smem<128, 64>::bytes : fa_smem<128, 32>::bytes);
                size_t big = d == 64 ? fa_smem<64, 64>::bytes : fa_smem<128, 64>::bytes;
                bad += (bk && fit > card) || (bk == 32 && big <= card);
            }
        }
    printf("%s the variants picked for every head dim on cards of 48, 99, 163 and 227 KB a "
           "block\n",
           bad ? "FAIL" : "  ");
    return bad;
}

int main() {
    static_assert(FA_BQ <= ZT_CUDA_PACK_TILE_MAX, "as attention.cu");
    // name, kernel, card, keys, B, H, Lq, Lk, D, mask, rel_bias: query tiles and key
    // steps with tails, the packing's zero rows past Lk, a batch with every key masked
    const size_t kb48 = 49152, rtx = 101376, a100 = 166912, h100 = 232448;
    const tcase cases[] = {
        {"flash d128, 64 keys a step (H100)", FLASH, h100, 64, 1, 2, 130, 150, 128, NONE, 0},
        {"flash d128, 32 keys a step (RTX)", FLASH, rtx, 32, 1, 2, 130, 150, 128, NONE, 0},
        {"flash d128, 32 keys, masked", FLASH, rtx, 32, 2, 1, 70, 100, 128, SOME, 0},
        {"flash d128, 32 keys, batch 1 all masked", FLASH, rtx, 32, 2, 1, 40, 33, 128, BATCH1_ALL,
         0},
        {"flash d64, 64 keys, masked (RTX)", FLASH, rtx, 64, 2, 2, 77, 131, 64, SOME, 0},
        {"flash d64, 32 keys (48 KB)", FLASH, kb48, 32, 1, 3, 129, 65, 64, NONE, 0},
        {"f32 d40, rel bias, masked", F32, rtx, 32, 2, 3, 13, 45, 40, SOME, 1},
        {"f32 d384, 32 keys a chunk (A100)", F32, a100, 32, 1, 1, 19, 70, 384, NONE, 0},
        {"f32 d384, 16 keys (RTX)", F32, rtx, 16, 1, 1, 19, 70, 384, NONE, 0},
        {"f32 d1024, 16 keys (A100)", F32, a100, 16, 1, 1, 11, 37, 1024, SOME, 0},
        {"f32 d1024, 8 keys (RTX)", F32, rtx, 8, 2, 1, 11, 37, 1024, BATCH1_ALL, 0},
        {"f32 d700, 8 keys (RTX)", F32, rtx, 8, 2, 1, 9, 29, 700, SOME, 0},
    };
    int failed = check_choice() != 0;
    for (const tcase &c : cases) failed += !run_case(c);
    return emu_summary(failed, 1 + sizeof cases / sizeof cases[0]);
}

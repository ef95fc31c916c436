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

#ifdef ZT_CUDA_EMU
__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    zt_emu_cp_async(dst, src, 16, 16);
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void *p) {
    zt_emu_ldmatrix_x4(r, p, 0);
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void *p) {
    zt_emu_ldmatrix_x4(r, p, 1);
}
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    zt_emu_mma_bf16(c, a, b0, b1);
}
#else
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
#endif

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

#include "attention_kernels.cuh"

static_assert(FA_BQ <= ZT_CUDA_PACK_TILE_MAX && FA_BK <= ZT_CUDA_PACK_TILE_MAX,
              "the memory plan pads attention's packing to at most ZT_CUDA_PACK_TILE_MAX");

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

// The packing pads keys to FA_BK rows whichever tile the kernel steps by (FA_BK_SMALL
// divides it), so the memory plan's count holds on every card.
template <int D, int BK>
zt_status flash_launch(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                       const zt_tensor *v, const uint8_t *valid_dev, float scale) {
    static_assert(FA_BK % BK == 0, "the packing pads keys to FA_BK");
    const int64_t B = q->shape[0], Lq = q->shape[1], H = q->shape[2], Lk = k->shape[1];
    packed_qkv pk;
    ZT_TRY(pack_qkv(be, q, k, v, FA_BQ, FA_BK, &pk));
    const size_t smem = fa_smem<D, BK>::bytes; // > 48 KB: needs the opt-in
    ZT_CUDA_CHECK(cudaFuncSetAttribute(flash_fwd_kernel<D, BK>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)(pk.Lqp / FA_BQ), (unsigned)(B * H));
    flash_fwd_kernel<D, BK><<<grid, FA_THREADS, smem, zt_cuda(be)->stream>>>(
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

    // sm_86/sm_89 offer 99 KB per block: D = 128 steps by FA_BK_SMALL keys there
    const size_t optin = (size_t)c->smem_optin;
    const int bk = D == 64 || D == 128 ? fa_keys_for((int)D, optin) : 0;
    const bool fast = bk && !p->rel_bias && c->cc_major >= 8 && B * H <= 65535 &&
                      cdiv(Lq, FA_BQ) <= 0x7fffffff;
    if (fast) {
        const uint8_t *valid = NULL;
        if (p->key_valid) {
            void *dv = NULL;
            ZT_TRY(zt_cuda_upload_scratch(be, 3, p->key_valid, (size_t)(B * Lk), &dv));
            valid = (const uint8_t *)dv;
        }
        if (D == 128 && c->attn_sm90 && p->scale > 0.0f)
            return flash_sm90_launch(be, o, q, k, v, valid, p->scale);
        if (D == 64)
            return bk == FA_BK ? flash_launch<64, FA_BK>(be, o, q, k, v, valid, p->scale)
                               : flash_launch<64, FA_BK_SMALL>(be, o, q, k, v, valid, p->scale);
        return bk == FA_BK ? flash_launch<128, FA_BK>(be, o, q, k, v, valid, p->scale)
                           : flash_launch<128, FA_BK_SMALL>(be, o, q, k, v, valid, p->scale);
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
    // keys a chunk: as many as the card's shared memory per block holds (sm_86 and sm_89
    // offer 99 KB: D = 384, the Wan2.1 VAE's, needs 108 KB with 32 keys)
    int maxd = 0;
    const int keys = ga_keys_for((int)D, optin, &maxd);
    zt_status st;
    if (maxd == 256 && keys == 32)
        st = launch_f32<256, 32>(c, o, q, k, v, p, valid, bias, blocks, n_qc);
    else if (maxd == 512 && keys == 32)
        st = launch_f32<512, 32>(c, o, q, k, v, p, valid, bias, blocks, n_qc);
    else if (maxd == 512 && keys == 16)
        st = launch_f32<512, 16>(c, o, q, k, v, p, valid, bias, blocks, n_qc);
    else if (maxd == 1024 && keys == 16)
        st = launch_f32<1024, 16>(c, o, q, k, v, p, valid, bias, blocks, n_qc);
    else if (maxd == 1024 && keys == 8)
        st = launch_f32<1024, 8>(c, o, q, k, v, p, valid, bias, blocks, n_qc);
    else
        return zt_fail(ZT_ERR_UNSUPPORTED,
                       "attention: a head dim of %lld needs %zu bytes of shared memory a block; "
                       "the device offers %zu",
                       (long long)D, ga_smem_bytes<1024, 8>((int)D), optin);
    ZT_TRY(st);
    ZT_CUDA_LAUNCHED("attention (f32)");
    return ZT_OK;
}

// conv_implicit.cuh - the implicit-GEMM convolution's kernels (ZT_CUDA_CONV=implicit;
// kernels/conv.cu launches them, its comment says why). The tiling is conv_tiles.h's.
//
// Included by conv.cu, which supplies the device primitives first: cp_async4 and
// cp_async16 (bytes = 0 writes zeros), cp_async_commit, cp_async_wait<N>, to_tf32
// (cvt.rna), mma_tf32 (mma.sync m16n8k8) and load_f32 (element i of a float dtype). tests/emu/test_conv_emu.cpp includes this
// file on the host instead, with those primitives, the thread indices and the barriers
// emulated by threads, so that these very kernels run on a CPU.
#ifndef ZT_CONV_IMPLICIT_CUH
#define ZT_CONV_IMPLICIT_CUH

// The weight copy [dt][ci][tap][coutp] of w (dtype wt), widened and rounded to TF32 (the
// channels past cout zero); i runs over the copy.
__global__ void wcopy_kernel(float *__restrict__ wr, const void *__restrict__ w, int wt,
                             zt_ct_geom g, int64_t nwr) {
    int khw = g.kh * g.kw, coutp = zt_ct_coutp(g.cout);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nwr;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / coutp;
        int co = (int)(i % coutp), s = (int)(r % khw);
        r /= khw;
        int ci = (int)(r % g.cin), dt = (int)(r / g.cin);
        float v = co < g.cout ? load_f32(w, wt, zt_ct_w_index(&g, co, ci, dt, s)) : 0.0f;
        wr[i] = __uint_as_float(to_tf32(v));
    }
}

// One block: TH x TW output positions of frame blockIdx.y % to of batch item
// blockIdx.y / to, BN channels from blockIdx.z * BN; KH, KW fixed so that the tiling's
// divisions fold. Two stages of cp.async: the next stage's loads fly while this one's
// products run.
template <int KH, int KW>
__global__ void __launch_bounds__(ZT_CT_THREADS, 1)
    conv_tf32_kernel(float *__restrict__ y, const float *__restrict__ x,
                     const float *__restrict__ prev, const float *__restrict__ wr,
                     const float *__restrict__ bias, zt_ct_geom g, int tiles_w) {
    extern __shared__ __align__(16) float smem[];
    g.kh = KH;
    g.kw = KW;
    const int tid = threadIdx.x, lane = tid & 31;
    int wm, wn;
    zt_ct_warp(tid >> 5, &wm, &wn);
    const int oh0 = (int)(blockIdx.x / tiles_w) * ZT_CT_TH;
    const int ow0 = (int)(blockIdx.x % tiles_w) * ZT_CT_TW;
    const int to = (int)blockIdx.y % g.to, n = (int)blockIdx.y / g.to;
    const int co0 = (int)blockIdx.z * ZT_CT_BN;
    const int sa = ZT_CT_BK * zt_ct_ldh(KH, KW), sf = zt_ct_stage_floats(KH, KW);
    constexpr int NP = (ZT_CT_TH + KH - 1) * (ZT_CT_TW + KW - 1); // halo positions
    constexpr int PPT = (NP + ZT_CT_THREADS - 1) / ZT_CT_THREADS; // a thread's, at most
    constexpr int NB = KH * KW * ZT_CT_BK * ZT_CT_BN / 4;

    int lo, hi;
    zt_ct_taps(&g, to, &lo, &hi);
    const int nci = (g.cin + ZT_CT_BK - 1) / ZT_CT_BK;
    const int iters = hi > lo ? (hi - lo) * nci : 0;

    // this thread's halo positions tid, tid + THREADS, ..: place and plane offset
    int psoff[PPT], poff[PPT];
#pragma unroll
    for (int j = 0; j < PPT; j++) {
        int p = tid + j * ZT_CT_THREADS;
        poff[j] = p < NP ? zt_ct_halo_pos(&g, p, oh0, ow0, &psoff[j]) : -1;
        if (p >= NP) psoff[j] = -1;
    }
    const int ldh = zt_ct_ldh(KH, KW);

    // stage `stage` := time tap lo + it / nci, channels (it % nci) * BK..
    auto load = [&](int it, int stage) {
        int dt = lo + it / nci, ci0 = it % nci * ZT_CT_BK;
        int64_t foff, cstride;
        const float *src = zt_ct_frame(&g, n, to, dt, &foff, &cstride) ? prev : x;
        src += foff;
        float *st = smem + stage * sf;
#pragma unroll
        for (int j = 0; j < PPT; j++) {
            if (psoff[j] < 0) continue;
#pragma unroll
            for (int k = 0; k < ZT_CT_BK; k++) {
                bool ok = poff[j] >= 0 && ci0 + k < g.cin;
                const float *p = ok ? src + (ci0 + k) * cstride + poff[j] : x;
                cp_async4(st + k * ldh + psoff[j], p, ok ? 4 : 0);
            }
        }
        for (int c = tid; c < NB; c += ZT_CT_THREADS) {
            int so;
            int64_t wi = zt_ct_bchunk(&g, c, dt, ci0, co0, &so);
            cp_async16(st + sa + so, wi < 0 ? wr : wr + wi, wi < 0 ? 0 : 16);
        }
    };

    float acc[ZT_CT_MT][ZT_CT_NT][4];
#pragma unroll
    for (int i = 0; i < ZT_CT_MT; i++)
#pragma unroll
        for (int j = 0; j < ZT_CT_NT; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[i][j][q] = 0.0f;

    if (iters > 0) load(0, 0);
    cp_async_commit();
    for (int it = 0; it < iters; it++) {
        if (it + 1 < iters) {
            load(it + 1, (it + 1) & 1);
            cp_async_commit();
            cp_async_wait<1>(); // all but the newest group: stage it has landed
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const float *st = smem + (it & 1) * sf;
#pragma unroll
        for (int s = 0; s < KH * KW; s++) {
            uint32_t a[ZT_CT_MT][4];
#pragma unroll
            for (int i = 0; i < ZT_CT_MT; i++)
#pragma unroll
                for (int r = 0; r < 4; r++)
                    a[i][r] =
                        to_tf32(st[zt_ct_a_off(&g, lane, r, zt_ct_row(wm, i), s / KW, s % KW)]);
#pragma unroll
            for (int j = 0; j < ZT_CT_NT; j++) {
                // the weight copy is TF32 already
                uint32_t b0 = __float_as_uint(st[sa + zt_ct_b_off(lane, 0, s, zt_ct_n0(wn, j))]);
                uint32_t b1 = __float_as_uint(st[sa + zt_ct_b_off(lane, 1, s, zt_ct_n0(wn, j))]);
#pragma unroll
                for (int i = 0; i < ZT_CT_MT; i++) mma_tf32(acc[i][j], a[i], b0, b1);
            }
        }
        __syncthreads(); // before the next iteration's loads overwrite this stage
    }

    const int64_t plane = (int64_t)g.ho * g.wo;
#pragma unroll
    for (int i = 0; i < ZT_CT_MT; i++) {
        int oh = oh0 + zt_ct_row(wm, i);
        if (oh >= g.ho) continue;
#pragma unroll
        for (int j = 0; j < ZT_CT_NT; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                int col, nn;
                zt_ct_c_pos(lane, q, &col, &nn);
                int ow = ow0 + col, co = co0 + zt_ct_n0(wn, j) + nn;
                if (ow >= g.wo || co >= g.cout) continue;
                y[((int64_t)(n * g.cout + co) * g.to + to) * plane + (int64_t)oh * g.wo + ow] =
                    acc[i][j][q] + (bias ? bias[co] : 0.0f);
            }
    }
}

#endif

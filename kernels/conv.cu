// conv2d and conv3d on the GPU: implicit GEMM through a tiled im2col.
//
// conv2d runs as conv3d with one frame and kt = 1. For each batch item the output
// positions (to, oh, ow), flattened to s in [0, S), S = To * Ho * Wo, are cut into
// chunks of at most `cap` positions. For a chunk, a gather kernel writes the column
// matrix col[K][len] (K = Cin * kt * kh * kw in the weight's own index order, so the
// weight [Cout, Cin, kt, kh, kw] is the matrix [Cout, K] as it lies) into scratch slot
// 0, in the weight's dtype (rounded to nearest even while gathering), and one cuBLAS
// GEMM writes the chunk's [Cout, len] block of y. The bias is added by one epilogue
// kernel over y at the end.
//
// Workspace: the column buffer is len * K * elem_size bytes and len is chosen so that
// this stays under a budget (256 MiB, or ZT_CUDA_CONV_BUDGET bytes from the
// environment, read once per process; it accepts a k/m/g suffix). The only way past
// it is a single position whose K values alone exceed the budget (K > 64M at f32).
//
// Padding, strides and the causal cache p->prev are resolved in the gather: input
// frame ti counts prev's P frames first, then x's T frames, exactly as the CPU's
// in_frame does; any index outside the input reads as zero. Time taps that fall
// wholly in the padding (which the CPU skips) contribute exact zeros here.
//
// A 1x1x1 conv with f32 weights, unit strides, no padding and no prev needs no
// gather: x[n] itself, [Cin, S] row-major, is the column matrix.
//
// Everything is queued on the backend's stream; nothing waits (chunks reuse the one
// column buffer, which is safe because the stream orders gather i+1 after GEMM i).
//
// ZT_CUDA_CONV=implicit (an experiment until a GPU has measured it): the convolutions
// zt_ct_takes allows (float weights, stride 1, 1x1 or 3x3 spatial taps: the Wan VAE
// decoder's) run as an implicit GEMM instead, in TF32 whatever the weights' dtype. The column matrix, 27 times the input for
// a 3x3x3 kernel, written and read back through memory, is what makes the path above
// memory-bound; here a thread block stages the input's halo and the weights in shared
// memory and runs every tap's product out of them on TF32 tensor cores (mma.sync
// m16n8k8), with the bias in its epilogue. The tiling is conv_tiles.h's, whose index
// functions tests/unit/test_conv_tiles.c checks on the CPU; the kernels are in
// conv_implicit.cuh, which tests/emu/test_conv_emu.cpp runs on host threads. Its scratch
// is a copy of the weights in the order the tiles load them, and the bias as f32.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <limits.h>
#include <stdlib.h>

#include "../src/backends/cuda/conv_tiles.h"
#include "../src/backends/cuda/cuda.h"
#include "common.cuh"

namespace {

// Gather: threads per block along positions, and weight rows (K) per block, over
// which one thread's position decode (three divisions) is amortized.
constexpr int COL_THREADS = 256;
constexpr int COL_ROWS = 16;
constexpr int EPI_THREADS = 256;
constexpr int64_t GRID_MAX = 65535; // y (and our x) grid dims; larger loops grid-stride

struct geom {
    int cin, t, pf, h, w;   // pf: frames of prev, in front of x's t frames
    int to, ho, wo;
    int kt, kh, kw, st, sh, sw, pt, ph, pw; // pt, ph, pw: padding before
    int k;                  // cin * kt * kh * kw
};

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) {
    return zt_k::f16_saturated(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// col[k * len + j] = input value that weight row k meets at output position p0 + j of
// batch item n (zero in the padding). Row k decodes as ((ci * kt + dt) * kh + dh) * kw
// + dw, the weight's own order. Threads run along positions, so both the writes and
// (for stride 1) the reads of one row are coalesced.
template <typename T>
__global__ void __launch_bounds__(COL_THREADS)
    im2col_kernel(T *__restrict__ col, const float *__restrict__ x,
                  const float *__restrict__ prev, geom g, int64_t n, int p0, int len) {
    int j = blockIdx.x * COL_THREADS + threadIdx.x;
    if (j >= len) return;
    int p = p0 + j;
    int ow = p % g.wo, q = p / g.wo;
    int oh = q % g.ho, to = q / g.ho;
    int tb = to * g.st - g.pt, hb = oh * g.sh - g.ph, wb = ow * g.sw - g.pw;
    int frames = g.pf + g.t;
    int64_t hw = (int64_t)g.h * g.w;
    int nkb = (g.k + COL_ROWS - 1) / COL_ROWS;
    for (int kb = blockIdx.y; kb < nkb; kb += gridDim.y) {
        int k0 = kb * COL_ROWS, k1 = min(k0 + COL_ROWS, g.k);
        int r = k0;
        int dw = r % g.kw;
        r /= g.kw;
        int dh = r % g.kh;
        r /= g.kh;
        int dt = r % g.kt, ci = r / g.kt;
        for (int k = k0; k < k1; k++) {
            int ti = tb + dt, ih = hb + dh, iw = wb + dw;
            float v = 0.0f;
            if (ti >= 0 && ti < frames && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) {
                const float *src =
                    ti < g.pf ? prev + ((n * g.cin + ci) * g.pf + ti) * hw
                              : x + ((n * g.cin + ci) * g.t + (ti - g.pf)) * hw;
                v = __ldg(src + (int64_t)ih * g.w + iw);
            }
            col[(int64_t)k * len + j] = from_f32<T>(v);
            if (++dw == g.kw) { // next row: dw fastest, then dh, dt, ci
                dw = 0;
                if (++dh == g.kh) {
                    dh = 0;
                    if (++dt == g.kt) {
                        dt = 0;
                        ci++;
                    }
                }
            }
        }
    }
}

// y[r, :] += bias[r % cout] for the rows r = n * cout + co of y, each s long.
template <typename B>
__global__ void __launch_bounds__(EPI_THREADS)
    bias_kernel(float *__restrict__ y, const B *__restrict__ bias, int64_t rows, int64_t cout,
                int64_t s) {
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        float b = to_f32(bias[r % cout]);
        float *yr = y + r * s;
        for (int64_t i = blockIdx.x * (int64_t)EPI_THREADS + threadIdx.x; i < s;
             i += (int64_t)gridDim.x * EPI_THREADS)
            yr[i] += b;
    }
}

// ---- implicit GEMM (ZT_CUDA_CONV=implicit): the tiling is conv_tiles.h's ----------------

// cp.async of 4 or 16 bytes; bytes = 0 writes zeros and reads nothing
#ifdef ZT_CUDA_EMU
__device__ __forceinline__ void cp_async4(void *dst, const void *src, int bytes) {
    zt_emu_cp_async(dst, src, bytes, 4);
}
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes) {
    zt_emu_cp_async(dst, src, bytes, 16);
}
__device__ __forceinline__ uint32_t to_tf32(float v) {
    return zt_emu_tf32(v);
}
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    zt_emu_mma_tf32(c, a, b0, b1);
}
#else
__device__ __forceinline__ void cp_async4(void *dst, const void *src, int bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(zt_k::smem_addr(dst)),
                 "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(zt_k::smem_addr(dst)),
                 "l"(src), "r"(bytes));
}
__device__ __forceinline__ uint32_t to_tf32(float v) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(v));
    return r;
}
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif
using zt_k::cp_async_commit;
using zt_k::load_f32;
using zt_k::cp_async_wait;

#include "conv_implicit.cuh"

template <int KH, int KW>
zt_status launch_tf32(float *y, const float *x, const float *prev, const float *wr,
                      const float *bias, const zt_ct_geom &g, int nb, cudaStream_t stream) {
    int tiles_h = (g.ho + ZT_CT_TH - 1) / ZT_CT_TH, tiles_w = (g.wo + ZT_CT_TW - 1) / ZT_CT_TW;
    size_t smem = (size_t)ZT_CT_STAGES * zt_ct_stage_floats(KH, KW) * sizeof(float);
    ZT_CUDA_CHECK(cudaFuncSetAttribute(conv_tf32_kernel<KH, KW>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)tiles_h * (unsigned)tiles_w, (unsigned)(nb * g.to),
              (unsigned)((g.cout + ZT_CT_BN - 1) / ZT_CT_BN));
    conv_tf32_kernel<KH, KW>
        <<<grid, ZT_CT_THREADS, smem, stream>>>(y, x, prev, wr, bias, g, tiles_w);
    ZT_CUDA_LAUNCHED("conv tf32");
    return ZT_OK;
}

zt_status conv_implicit(zt_backend *be, float *y, const float *x, const float *prev,
                        const zt_tensor *w, const zt_tensor *b, const zt_ct_geom &g, int nb) {
    cudaStream_t stream = zt_cuda(be)->stream;
    int64_t k = (int64_t)g.cin * g.kt * g.kh * g.kw, nwr = k * zt_ct_coutp(g.cout);
    void *scratch = NULL;
    ZT_TRY(zt_cuda_scratch(be, 0, (size_t)zt_ct_scratch_bytes(k, g.cout), &scratch));
    float *wr = (float *)scratch, *bf = wr + nwr;
    wcopy_kernel<<<zt_k::grid_for(nwr), zt_k::kThreads, 0, stream>>>(wr, w->data, (int)w->dtype,
                                                                      g, nwr);
    ZT_CUDA_LAUNCHED("conv weight copy");
    if (b) ZT_TRY(zt_cuda_convert(be, bf, ZT_F32, b->data, b->dtype, g.cout));
    const float *bias = b ? bf : NULL;
    if (g.kh == 3) return launch_tf32<3, 3>(y, x, prev, wr, bias, g, nb, stream);
    return launch_tf32<1, 1>(y, x, prev, wr, bias, g, nb, stream);
}

int64_t conv_budget(void) {
    static const int64_t budget = zt_cuda_conv_budget_env(); // C++11: once, thread-safe
    return budget;
}

// Launchers; the caller checks the launch with ZT_CUDA_LAUNCHED.
template <typename T>
void launch_im2col(void *col, const float *x, const float *prev, const geom &g, int64_t n,
                   int p0, int len, cudaStream_t stream) {
    int64_t kb = (g.k + COL_ROWS - 1) / COL_ROWS;
    dim3 grid((unsigned)((len + COL_THREADS - 1) / COL_THREADS),
              (unsigned)(kb < GRID_MAX ? kb : GRID_MAX));
    im2col_kernel<T><<<grid, COL_THREADS, 0, stream>>>((T *)col, x, prev, g, n, p0, len);
}

template <typename B>
void launch_bias(float *y, const void *bias, int64_t rows, int64_t cout, int64_t s,
                 cudaStream_t stream) {
    int64_t bx = (s + EPI_THREADS - 1) / EPI_THREADS;
    dim3 grid((unsigned)(bx < GRID_MAX ? bx : GRID_MAX),
              (unsigned)(rows < GRID_MAX ? rows : GRID_MAX));
    bias_kernel<B><<<grid, EPI_THREADS, 0, stream>>>(y, (const B *)bias, rows, cout, s);
}

int is_gemm_dtype(zt_dtype t) { return t == ZT_F32 || t == ZT_F16 || t == ZT_BF16; }

// Sizes as the int the kernels use, or -1.
int as_int(int64_t v) { return v >= 0 && v <= INT_MAX ? (int)v : -1; }

zt_status conv_run(zt_backend *be, const char *op, zt_tensor *y, const zt_tensor *x,
                   const zt_tensor *w, const zt_tensor *b, const zt_tensor *prev,
                   const int64_t in[3], const int64_t out[3], const int64_t ker[3],
                   const int stride[3], const int pad[3]) {
    cudaStream_t stream = zt_cuda(be)->stream;
    int64_t nb = x->shape[0], cin = x->shape[1], cout = w->shape[0];
    int64_t pf = prev ? prev->shape[2] : 0;
    int64_t s = out[0] * out[1] * out[2]; // output positions per channel
    int64_t k = cin * ker[0] * ker[1] * ker[2];
    if (!is_gemm_dtype(w->dtype))
        return zt_fail(ZT_ERR_UNSUPPORTED, "%s: %s weights are not supported on cuda", op,
                       zt_dtype_name(w->dtype));
    if (b && !is_gemm_dtype(b->dtype))
        return zt_fail(ZT_ERR_UNSUPPORTED, "%s: %s bias is not supported on cuda", op,
                       zt_dtype_name(b->dtype));
    if (nb == 0 || cout == 0 || s == 0) return ZT_OK;

    geom g;
    int64_t dims[] = {cin, cout, in[0], pf, in[1], in[2], out[0], out[1], out[2],
                      ker[0], ker[1], ker[2], s, k};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (as_int(dims[i]) < 0)
            return zt_fail(ZT_ERR_UNSUPPORTED, "%s: size %lld is past the kernels' int range",
                           op, (long long)dims[i]);
    g.cin = (int)cin;
    g.t = (int)in[0];
    g.pf = (int)pf;
    g.h = (int)in[1];
    g.w = (int)in[2];
    g.to = (int)out[0];
    g.ho = (int)out[1];
    g.wo = (int)out[2];
    g.kt = (int)ker[0];
    g.kh = (int)ker[1];
    g.kw = (int)ker[2];
    g.st = stride[0];
    g.sh = stride[1];
    g.sw = stride[2];
    g.pt = pad[0];
    g.ph = pad[1];
    g.pw = pad[2];
    g.k = (int)k;

    float *yd = (float *)y->data;
    const float *xd = (const float *)x->data;
    const float *pd = prev ? (const float *)prev->data : NULL;
    zt_tensor wx; // with ZT_CUDA_EXACT, 16-bit weights widened to f32
    ZT_TRY(zt_cuda_gemm_weight(be, w, &wx));
    w = &wx;
    int tf32 = w->dtype == ZT_F32; // TF32 tensor cores for f32 weights (not when exact)

    /* GEMM layout (cuBLAS is column-major). Per batch item n, y[n] is [Cout, S] row-major
     * with row stride S; a chunk of positions [p0, p0 + len) is its sub-block
     * [Cout, len] row-major, ld S, which cuBLAS reads as the column-major [len, Cout]
     * matrix Yc = Y^T with ldc = S. Y = W . Col, so Yc = Col^T . W^T:
     *  - A = Col^T: col is [K, len] row-major (positions fastest), i.e. column-major
     *    [len, K] with lda = len = Col^T as it lies: op N, m = len, k = K.
     *  - B = W^T: w is [Cout, K] row-major, i.e. column-major [K, Cout] with ldb = K =
     *    W^T as it lies: op N, n = Cout.
     * So both operands go in untransposed. On the direct path Col is x[n], [Cin, S]
     * row-major: A = x[n] with lda = S, m = S, k = Cin. */
    if (k == 0) {
        ZT_CUDA_CHECK(cudaMemsetAsync(yd, 0, (size_t)(nb * cout * s) * sizeof(float), stream));
    } else if (w->dtype == ZT_F32 && ker[0] == 1 && ker[1] == 1 && ker[2] == 1 && pf == 0 &&
               stride[0] == 1 && stride[1] == 1 && stride[2] == 1 && s == in[0] * in[1] * in[2]) {
        // 1x1x1, unit strides; equal input and output sizes mean no padding
        for (int64_t n = 0; n < nb; n++)
            ZT_TRY(zt_cuda_gemm(be, 0, 0, s, cout, cin, xd + n * cin * s, ZT_F32, s, 0, w->data,
                                ZT_F32, cin, 0, 0.0f, yd + n * cout * s, s, 0, 1, 1));
    } else if (zt_cuda(be)->conv_implicit && !zt_cuda(be)->exact &&
               zt_ct_takes(1, ker, stride, nb * out[0], in[1] * in[2])) { // float w: above
        zt_ct_geom cg = {g.cin, (int)cout, g.t, g.pf, g.h, g.w, g.to, g.ho, g.wo,
                         g.kt, g.kh, g.kw, g.pt, g.ph, g.pw};
        return conv_implicit(be, yd, xd, pd, w, b, cg, (int)nb); // the bias included
    } else {
        int64_t es = (int64_t)zt_dtype_size(w->dtype);
        int64_t len_max = zt_cuda_conv_chunk(s, k, es, conv_budget());
        void *col = NULL;
        ZT_TRY(zt_cuda_scratch(be, 0, (size_t)(len_max * k * es), &col));
        for (int64_t n = 0; n < nb; n++) {
            for (int64_t p0 = 0; p0 < s; p0 += len_max) {
                int len = (int)(s - p0 < len_max ? s - p0 : len_max);
                switch (w->dtype) {
                case ZT_F16: launch_im2col<__half>(col, xd, pd, g, n, (int)p0, len, stream); break;
                case ZT_BF16:
                    launch_im2col<__nv_bfloat16>(col, xd, pd, g, n, (int)p0, len, stream);
                    break;
                default: launch_im2col<float>(col, xd, pd, g, n, (int)p0, len, stream); break;
                }
                ZT_CUDA_LAUNCHED("conv im2col");
                ZT_TRY(zt_cuda_gemm(be, 0, 0, len, cout, k, col, w->dtype, len, 0, w->data,
                                    w->dtype, k, 0, 0.0f, yd + n * cout * s + p0, s, 0, 1,
                                    tf32));
            }
        }
    }

    if (b) {
        switch (b->dtype) {
        case ZT_F16: launch_bias<__half>(yd, b->data, nb * cout, cout, s, stream); break;
        case ZT_BF16: launch_bias<__nv_bfloat16>(yd, b->data, nb * cout, cout, s, stream); break;
        default: launch_bias<float>(yd, b->data, nb * cout, cout, s, stream); break;
        }
        ZT_CUDA_LAUNCHED("conv bias");
    }
    return ZT_OK;
}

} // namespace

extern "C" zt_status zt_cuda_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                    const zt_tensor *w, const zt_tensor *b,
                                    const zt_conv_params *p) {
    const int64_t in[3] = {1, x->shape[2], x->shape[3]};
    const int64_t out[3] = {1, y->shape[2], y->shape[3]};
    const int64_t ker[3] = {1, w->shape[2], w->shape[3]};
    const int stride[3] = {1, p->stride[1], p->stride[2]};
    const int pad[3] = {0, p->pad[1][0], p->pad[2][0]};
    return conv_run(be, "conv2d", y, x, w, b, NULL, in, out, ker, stride, pad);
}

extern "C" zt_status zt_cuda_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                    const zt_tensor *w, const zt_tensor *b,
                                    const zt_conv_params *p) {
    const int64_t in[3] = {x->shape[2], x->shape[3], x->shape[4]};
    const int64_t out[3] = {y->shape[2], y->shape[3], y->shape[4]};
    const int64_t ker[3] = {w->shape[2], w->shape[3], w->shape[4]};
    const int stride[3] = {p->stride[0], p->stride[1], p->stride[2]};
    const int pad[3] = {p->pad[0][0], p->pad[1][0], p->pad[2][0]};
    return conv_run(be, "conv3d", y, x, w, b, p->prev, in, out, ker, stride, pad);
}

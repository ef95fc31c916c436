// norm_kernels.cuh - the norms' kernels: layer norm (with the DiT's modulation fused
// when MOD) and RMS norm over the last dim, a warp or a block to a row, and the L2 norm
// over any axis (with the SiLU after it fused when SILU); sums in double. kernels/norm.cu
// launches them and supplies load_f32 and expf first; tests/emu/test_norm_emu.cpp
// includes this file on the host with warps, shuffles and barriers emulated by threads.
#ifndef ZT_NORM_KERNELS_CUH
#define ZT_NORM_KERNELS_CUH

// An optional 1-D parameter as the kernels see it: NULL data means absent.
struct param {
    const void *data;
    int dtype;
};

// ---- reductions ---------------------------------------------------------------------------

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the T threads that share a row: T = 32 is a warp (blockDim (32, 8), eight rows
// per block), T = kThreads the whole block (blockDim (kThreads, 1)). Every thread of the
// row gets the same value.
template <int T> __device__ double row_sum(double v) {
    v = warp_sum(v);
    if (T == 32) return v;
    __shared__ double part[T / 32];
    __syncthreads(); // the previous call may still be reading part
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0;
    for (int i = 0; i < T / 32; i++) s += part[i];
    return s;
}

// Rows loop with a stride so any row count fits the grid; the loop bounds are uniform
// over the threads of a row, so row_sum's barriers are reached by all of them.
#define FOR_ROWS(r, rows)                                                                          \
    for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < (rows);                   \
         r += (int64_t)gridDim.x * blockDim.y)

// The DiT's modulation of a norm's output, v * (1 + scale) + shift, as modulate's
// kernel computes it; shift and scale are [d] or one row per row ([rows, d]).
struct modp {
    const float *shift, *scale;
    bool shift_rows, scale_rows;
};

// MOD: the norm's output modulated by m before it is written (norm_modulate), so the
// pair costs one pass over memory.
template <int T, bool MOD>
__global__ void layer_norm_kernel(float *y, const float *x, int64_t rows, int64_t d, param w,
                                  param b, float eps, modp m) {
    FOR_ROWS(r, rows) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double s = 0;
        for (int64_t i = threadIdx.x; i < d; i += T) s += (double)xr[i];
        double mean = row_sum<T>(s) / (double)d;
        double q = 0;
        for (int64_t i = threadIdx.x; i < d; i += T) {
            double c = (double)xr[i] - mean;
            q += c * c;
        }
        double var = row_sum<T>(q) / (double)d;
        // the mean in two floats, as the CPU does: x - mh is nearly exact near the mean
        float mh = (float)mean, ml = (float)(mean - (double)mh);
        float rs = (float)(1.0 / sqrt(var + (double)eps));
        for (int64_t i = threadIdx.x; i < d; i += T) {
            float v = ((xr[i] - mh) - ml) * rs;
            if (w.data) v *= load_f32(w.data, w.dtype, i);
            if (b.data) v += load_f32(b.data, b.dtype, i);
            if (MOD) {
                float sh = m.shift[m.shift_rows ? r * d + i : i];
                float sc = m.scale[m.scale_rows ? r * d + i : i];
                v = v * (1.0f + sc) + sh;
            }
            yr[i] = v;
        }
    }
}

template <int T>
__global__ void rms_norm_kernel(float *y, const float *x, int64_t rows, int64_t d, param w,
                                float eps) {
    FOR_ROWS(r, rows) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double q = 0;
        for (int64_t i = threadIdx.x; i < d; i += T) q += (double)xr[i] * (double)xr[i];
        double ms = row_sum<T>(q) / (double)d;
        float rs = (float)(1.0 / sqrt(ms + (double)eps));
        for (int64_t i = threadIdx.x; i < d; i += T) {
            float v = xr[i] * rs;
            if (w.data) v *= load_f32(w.data, w.dtype, i);
            yr[i] = v;
        }
    }
}

// The CPU folds scale into gamma first, in float: g = gamma * scale (or scale alone).
__device__ __forceinline__ float l2_gain(const param &g, int64_t i, float scale) {
    return g.data ? load_f32(g.data, g.dtype, i) * scale : scale;
}

// The SiLU as the unary kernel computes it, for the L2 norms' SILU forms.
__device__ __forceinline__ float silu(float v) {
    return v / (1.0f + expf(-v));
}

// L2 norm over the last dim (x is [rows, d]); SILU: the SiLU of it (l2_norm_silu).
template <int T, bool SILU>
__global__ void l2_rows_kernel(float *y, const float *x, int64_t rows, int64_t d, param g, param b,
                               float scale, float eps) {
    FOR_ROWS(r, rows) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double q = 0;
        for (int64_t i = threadIdx.x; i < d; i += T) q += (double)xr[i] * (double)xr[i];
        double nrm = sqrt(row_sum<T>(q));
        float inv = (float)(1.0 / (nrm > (double)eps ? nrm : (double)eps));
        for (int64_t i = threadIdx.x; i < d; i += T) {
            float v = xr[i] * inv * l2_gain(g, i, scale);
            if (b.data) v += load_f32(b.data, b.dtype, i);
            yr[i] = SILU ? silu(v) : v;
        }
    }
}

// L2 norm over an inner axis: x is [outer, c, inner]; one thread per (outer, column)
// walks down the c rows, so neighbouring threads read neighbouring columns (coalesced).
template <bool SILU>
__global__ void l2_cols_kernel(float *y, const float *x, int64_t outer, int64_t c, int64_t inner,
                               param g, param b, float scale, float eps) {
    int64_t n = outer * inner;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < n;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = t / inner, j = t % inner;
        const float *xc = x + o * c * inner + j;
        float *yc = y + o * c * inner + j;
        double q = 0;
        for (int64_t ci = 0; ci < c; ci++) {
            double v = (double)xc[ci * inner];
            q += v * v;
        }
        double nrm = sqrt(q);
        float inv = (float)(1.0 / (nrm > (double)eps ? nrm : (double)eps));
        for (int64_t ci = 0; ci < c; ci++) {
            float bv = b.data ? load_f32(b.data, b.dtype, ci) : 0.0f;
            float v = xc[ci * inner] * inv * l2_gain(g, ci, scale) + bv;
            yc[ci * inner] = SILU ? silu(v) : v;
        }
    }
}

#endif

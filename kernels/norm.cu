// Normalizations: layer norm (alone or with the DiT's modulation fused) and RMS norm over
// the last dim, and the Wan VAE's L2 norm over any axis (alone or with the SiLU after
// it fused); the kernels are in norm_kernels.cuh.
// As on the CPU (backends/cpu/norm.c), sums are taken in double, so a row's statistics
// match the reference to rounding whatever its length; the passes are memory-bound, so
// the double arithmetic costs little. Each element is read and written by one thread
// only, which makes y == x safe.
#include "common.cuh"

namespace {

using namespace zt_k;

#include "norm_kernels.cuh"

param param_of(const zt_tensor *t) {
    param p = {t ? t->data : nullptr, t ? (int)t->dtype : (int)ZT_F32};
    return p;
}

unsigned grid_for(int64_t units, int64_t per_block) {
    int64_t blocks = (units + per_block - 1) / per_block;
    if (blocks > (1 << 20)) blocks = 1 << 20; // the kernels loop over the rest
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

// Long rows take a whole block; short ones a warp each, eight to a block.
bool long_rows(int64_t d) { return d >= 1024; }

int64_t last_dim(const zt_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

template <bool MOD>
zt_status layer_norm_run(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         const zt_tensor *b, float eps, modp m) {
    int64_t d = last_dim(x), rows = d > 0 ? zt_tensor_numel(x) / d : 0;
    if (rows == 0) return ZT_OK;
    cudaStream_t s = zt_cuda(be)->stream;
    float *py = (float *)y->data;
    const float *px = (const float *)x->data;
    if (long_rows(d))
        layer_norm_kernel<kThreads, MOD><<<grid_for(rows, 1), dim3(kThreads, 1), 0, s>>>(
            py, px, rows, d, param_of(w), param_of(b), eps, m);
    else
        layer_norm_kernel<32, MOD>
            <<<grid_for(rows, kThreads / 32), dim3(32, kThreads / 32), 0, s>>>(
                py, px, rows, d, param_of(w), param_of(b), eps, m);
    ZT_CUDA_LAUNCHED(MOD ? "norm_modulate" : "layer_norm");
    return ZT_OK;
}

} // namespace

extern "C" zt_status zt_cuda_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                        const zt_tensor *w, const zt_tensor *b, float eps) {
    return layer_norm_run<false>(be, y, x, w, b, eps, modp{});
}

// shift and scale hold one row or one per row of x (ops.c checks)
extern "C" zt_status zt_cuda_norm_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                           const zt_tensor *shift, const zt_tensor *scale,
                                           float eps) {
    int64_t d = last_dim(x);
    modp m = {(const float *)shift->data, (const float *)scale->data,
              zt_tensor_numel(shift) != d, zt_tensor_numel(scale) != d};
    return layer_norm_run<true>(be, y, x, NULL, NULL, eps, m);
}

extern "C" zt_status zt_cuda_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                      const zt_tensor *w, float eps) {
    int64_t d = last_dim(x), rows = d > 0 ? zt_tensor_numel(x) / d : 0;
    if (rows == 0) return ZT_OK;
    cudaStream_t s = zt_cuda(be)->stream;
    float *py = (float *)y->data;
    const float *px = (const float *)x->data;
    if (long_rows(d))
        rms_norm_kernel<kThreads><<<grid_for(rows, 1), dim3(kThreads, 1), 0, s>>>(
            py, px, rows, d, param_of(w), eps);
    else
        rms_norm_kernel<32><<<grid_for(rows, kThreads / 32), dim3(32, kThreads / 32), 0, s>>>(
            py, px, rows, d, param_of(w), eps);
    ZT_CUDA_LAUNCHED("rms_norm");
    return ZT_OK;
}

namespace {

template <bool SILU>
zt_status l2_norm_run(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                      const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps) {
    int64_t c = x->shape[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    if (outer * c * inner == 0) return ZT_OK;
    cudaStream_t s = zt_cuda(be)->stream;
    float *py = (float *)y->data;
    const float *px = (const float *)x->data;
    param g = param_of(gamma), b = param_of(beta);
    if (inner > 1)
        l2_cols_kernel<SILU><<<grid_for(outer * inner, kThreads), kThreads, 0, s>>>(
            py, px, outer, c, inner, g, b, scale, eps);
    else if (long_rows(c))
        l2_rows_kernel<kThreads, SILU><<<grid_for(outer, 1), dim3(kThreads, 1), 0, s>>>(
            py, px, outer, c, g, b, scale, eps);
    else
        l2_rows_kernel<32, SILU>
            <<<grid_for(outer, kThreads / 32), dim3(32, kThreads / 32), 0, s>>>(
                py, px, outer, c, g, b, scale, eps);
    ZT_CUDA_LAUNCHED(SILU ? "l2_norm_silu" : "l2_norm");
    return ZT_OK;
}

} // namespace

extern "C" zt_status zt_cuda_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                                     const zt_tensor *gamma, const zt_tensor *beta, float scale,
                                     float eps) {
    return l2_norm_run<false>(be, y, x, axis, gamma, beta, scale, eps);
}

extern "C" zt_status zt_cuda_l2_norm_silu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                          int axis, const zt_tensor *gamma,
                                          const zt_tensor *beta, float scale, float eps) {
    return l2_norm_run<true>(be, y, x, axis, gamma, beta, scale, eps);
}

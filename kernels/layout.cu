// Layout ops: nearest-exact resampling, constant padding, concatenation, the strided
// converting copy, and the packed dtype conversion the GEMM paths use. As on the CPU
// (backends/cpu/layout.c, elementwise.c): equal dtypes move bits, other pairs go through
// f32 with core/half.h's conversions (round to nearest even, NaN kept quiet), ported
// here bit for bit.
#include "common.cuh"

namespace {

using namespace zt_k;
#define FOR_ELEMS ZT_FOR_ELEMS

// ---- conversions (core/half.h) ---------------------------------------------------------

__device__ __forceinline__ uint16_t f32_to_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

__device__ __forceinline__ uint16_t f32_to_f16(float f) {
    uint32_t u = __float_as_uint(f);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); // rounds to inf
    if (a < 0x38800000u) {
        // subnormal or zero: round a * 2^24 to an integer, nearest even (both exact in f32)
        float v = __uint_as_float(a) * 16777216.0f;
        uint32_t m = (uint32_t)v;
        float r = v - (float)m;
        if (r > 0.5f || (r == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t h = (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu), rest = a & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

__device__ __forceinline__ void store_f32(void *p, int t, int64_t i, float v) {
    switch (t) {
    case ZT_F32: static_cast<float *>(p)[i] = v; break;
    case ZT_F16: static_cast<uint16_t *>(p)[i] = f32_to_f16(v); break;
    case ZT_BF16: static_cast<uint16_t *>(p)[i] = f32_to_bf16(v); break;
    default: break;
    }
}

bool can_load(zt_dtype t) {
    return t == ZT_F32 || t == ZT_F16 || t == ZT_BF16 || t == ZT_F8_E4M3 || t == ZT_F8_E5M2;
}
bool can_store(zt_dtype t) { return t == ZT_F32 || t == ZT_F16 || t == ZT_BF16; }

// ---- strided copy -------------------------------------------------------------------------

// y's shape with y's (s[0]) and x's (s[1]) strides, dims merged
walk2 copy_walk(const zt_tensor *y, const zt_tensor *x) {
    return make_walk2(y->ndim, y->shape, y->stride, x->stride);
}

// equal dtypes: elements moved bit for bit (E: an unsigned type of the element's size)
template <typename E> __global__ void move_kernel(E *y, const E *x, int64_t n, walk2 g) {
    FOR_ELEMS(i, n) {
        int64_t oy, ox;
        walk2_offsets(g, i, oy, ox);
        y[oy] = x[ox];
    }
}

__global__ void convert_kernel(void *y, int ty, const void *x, int tx, int64_t n,
                               walk2 g) {
    FOR_ELEMS(i, n) {
        int64_t oy, ox;
        walk2_offsets(g, i, oy, ox);
        store_f32(y, ty, oy, load_f32(x, tx, ox));
    }
}

// y <- x, same shape, any strides; y must not overlap x.
zt_status strided_copy(zt_backend *be, const zt_tensor *y, const zt_tensor *x) {
    int64_t n = zt_tensor_numel(y);
    if (n == 0) return ZT_OK;
    cudaStream_t s = zt_cuda(be)->stream;
    walk2 g = copy_walk(y, x);
    if (y->dtype != x->dtype) {
        if (!can_load(x->dtype) || !can_store(y->dtype))
            return zt_fail(ZT_ERR_UNSUPPORTED, "copy: %s to %s", zt_dtype_name(x->dtype),
                           zt_dtype_name(y->dtype));
        convert_kernel<<<grid_for(n), kThreads, 0, s>>>(y->data, (int)y->dtype, x->data,
                                                        (int)x->dtype, n, g);
        ZT_CUDA_LAUNCHED("copy (convert)");
        return ZT_OK;
    }
    size_t es = zt_dtype_size(y->dtype);
    if (g.ndim == 1 && g.s[0][0] == 1 && g.s[1][0] == 1) { // one contiguous run
        ZT_CUDA_CHECK(cudaMemcpyAsync(y->data, x->data, (size_t)n * es,
                                      cudaMemcpyDeviceToDevice, s));
        return ZT_OK;
    }
    switch (es) {
    case 1: move_kernel<<<grid_for(n), kThreads, 0, s>>>((uint8_t *)y->data, (const uint8_t *)x->data, n, g); break;
    case 2: move_kernel<<<grid_for(n), kThreads, 0, s>>>((uint16_t *)y->data, (const uint16_t *)x->data, n, g); break;
    case 4: move_kernel<<<grid_for(n), kThreads, 0, s>>>((uint32_t *)y->data, (const uint32_t *)x->data, n, g); break;
    case 8: move_kernel<<<grid_for(n), kThreads, 0, s>>>((uint64_t *)y->data, (const uint64_t *)x->data, n, g); break;
    default:
        return zt_fail(ZT_ERR_UNSUPPORTED, "copy: elements of %zu bytes", es);
    }
    ZT_CUDA_LAUNCHED("copy");
    return ZT_OK;
}

// ---- upsample_nearest and pad ---------------------------------------------------------------

struct nd_desc {
    int ndim;
    int64_t yshape[ZT_MAX_DIMS], xshape[ZT_MAX_DIMS], xstride[ZT_MAX_DIMS];
    int64_t before[ZT_MAX_DIMS]; // pad only
};

// y contiguous; each dim's source index is floor((dst + 0.5) * in / out) in exact
// integer arithmetic, clamped to in - 1, as on the CPU.
__global__ void upsample_kernel(float *y, const float *x, int64_t n, nd_desc g) {
    FOR_ELEMS(i, n) {
        int64_t rem = i, off = 0;
        for (int d = g.ndim - 1; d >= 0; d--) {
            int64_t o = rem % g.yshape[d], in = g.xshape[d], out = g.yshape[d];
            rem /= out;
            int64_t src = (2 * o + 1) * in / (2 * out);
            off += (src < in - 1 ? src : in - 1) * g.xstride[d];
        }
        y[i] = x[off];
    }
}

// y contiguous, x any strides; outside x's box y is value.
__global__ void pad_kernel(float *y, const float *x, int64_t n, nd_desc g, float value) {
    FOR_ELEMS(i, n) {
        int64_t rem = i, off = 0;
        bool inside = true;
        for (int d = g.ndim - 1; d >= 0; d--) {
            int64_t k = rem % g.yshape[d] - g.before[d];
            rem /= g.yshape[d];
            inside = inside && k >= 0 && k < g.xshape[d];
            off += k * g.xstride[d];
        }
        y[i] = inside ? x[off] : value;
    }
}

nd_desc make_nd_desc(const zt_tensor *y, const zt_tensor *x) {
    nd_desc g = {};
    g.ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++) {
        g.yshape[d] = y->shape[d];
        g.xshape[d] = x->shape[d];
        g.xstride[d] = x->stride[d];
    }
    return g;
}

} // namespace

extern "C" zt_status zt_cuda_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    int64_t n = zt_tensor_numel(y); // a 0-dim y is one element: the loop copies it
    if (n == 0) return ZT_OK;
    upsample_kernel<<<grid_for(n), kThreads, 0, zt_cuda(be)->stream>>>(
        (float *)y->data, (const float *)x->data, n, make_nd_desc(y, x));
    ZT_CUDA_LAUNCHED("upsample_nearest");
    return ZT_OK;
}

extern "C" zt_status zt_cuda_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                 const int64_t (*pad)[2], float value) {
    int64_t n = zt_tensor_numel(y);
    if (n == 0) return ZT_OK;
    nd_desc g = make_nd_desc(y, x);
    for (int d = 0; d < x->ndim; d++) g.before[d] = pad[d][0];
    pad_kernel<<<grid_for(n), kThreads, 0, zt_cuda(be)->stream>>>(
        (float *)y->data, (const float *)x->data, n, g, value);
    ZT_CUDA_LAUNCHED("pad");
    return ZT_OK;
}

// Each input into its slice of y, bit for bit (any dtype, inputs of any strides).
extern "C" zt_status zt_cuda_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n,
                                    int axis) {
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        zt_tensor slice;
        ZT_TRY(zt_tensor_narrow(&slice, y, axis, start, xs[i].shape[axis]));
        ZT_TRY(strided_copy(be, &slice, &xs[i]));
        start += xs[i].shape[axis];
    }
    return ZT_OK;
}

extern "C" zt_status zt_cuda_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x) {
    return strided_copy(be, y, x);
}

extern "C" zt_status zt_cuda_convert(zt_backend *be, void *dst, zt_dtype dst_type,
                                     const void *src, zt_dtype src_type, int64_t n) {
    if (n <= 0) return ZT_OK;
    cudaStream_t s = zt_cuda(be)->stream;
    if (dst_type == src_type) {
        ZT_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)n * zt_dtype_size(src_type),
                                      cudaMemcpyDeviceToDevice, s));
        return ZT_OK;
    }
    if (!can_load(src_type) || !can_store(dst_type))
        return zt_fail(ZT_ERR_UNSUPPORTED, "convert: %s to %s", zt_dtype_name(src_type),
                       zt_dtype_name(dst_type));
    walk2 g = {};
    g.ndim = 1;
    g.shape[0] = n;
    g.s[0][0] = g.s[1][0] = 1;
    convert_kernel<<<grid_for(n), kThreads, 0, s>>>(dst, (int)dst_type, src, (int)src_type, n,
                                                    g);
    ZT_CUDA_LAUNCHED("convert");
    return ZT_OK;
}

#include "tensor.h"

#include <stdio.h>
#include <string.h>

#include "half.h"
#include "status.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[ZT_DTYPE_COUNT] = {
    [ZT_F32] = {"F32", 4},     [ZT_F16] = {"F16", 2}, [ZT_BF16] = {"BF16", 2},
    [ZT_F8_E4M3] = {"F8_E4M3", 1}, [ZT_F8_E5M2] = {"F8_E5M2", 1}, [ZT_F64] = {"F64", 8},
    [ZT_I64] = {"I64", 8},     [ZT_I32] = {"I32", 4}, [ZT_I16] = {"I16", 2},
    [ZT_I8] = {"I8", 1},       [ZT_U8] = {"U8", 1},   [ZT_BOOL] = {"BOOL", 1},
};

size_t zt_dtype_size(zt_dtype t) {
    return (unsigned)t < ZT_DTYPE_COUNT ? dtype_info[t].size : 0;
}

const char *zt_dtype_name(zt_dtype t) {
    return (unsigned)t < ZT_DTYPE_COUNT ? dtype_info[t].name : "?";
}

int zt_dtype_parse(const char *name, zt_dtype *t) {
    for (int i = 0; i < ZT_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *t = (zt_dtype)i;
            return 0;
        }
    }
    return -1;
}

int zt_dtype_is_float(zt_dtype t) {
    return t == ZT_F32 || t == ZT_F16 || t == ZT_BF16 || t == ZT_F8_E4M3 || t == ZT_F8_E5M2;
}

zt_tensor zt_tensor_make(zt_dtype dtype, int ndim, const int64_t *shape, void *data) {
    zt_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.ndim = ndim;
    t.data = data;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = s;
        s *= shape[i];
    }
    return t;
}

int64_t zt_tensor_numel(const zt_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t zt_tensor_nbytes(const zt_tensor *t) {
    return (size_t)zt_tensor_numel(t) * zt_dtype_size(t->dtype);
}

int zt_tensor_is_contiguous(const zt_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

int zt_tensor_same_shape(const zt_tensor *a, const zt_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

void *zt_tensor_ptr(const zt_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
    return (char *)t->data + off * (int64_t)zt_dtype_size(t->dtype);
}

zt_status zt_tensor_narrow(zt_tensor *out, const zt_tensor *t, int dim, int64_t start,
                           int64_t len) {
    if (dim < 0 || dim >= t->ndim || start < 0 || len < 0 || start + len > t->shape[dim])
        return zt_fail(ZT_ERR_RUNTIME, "narrow: dim %d [%lld, +%lld) outside size %lld", dim,
                       (long long)start, (long long)len,
                       (long long)(dim >= 0 && dim < t->ndim ? t->shape[dim] : -1));
    zt_tensor r = *t;
    if (r.data) r.data = (char *)r.data + start * r.stride[dim] * (int64_t)zt_dtype_size(r.dtype);
    r.shape[dim] = len;
    *out = r;
    return ZT_OK;
}

zt_status zt_tensor_select(zt_tensor *out, const zt_tensor *t, int dim, int64_t index) {
    zt_tensor r;
    ZT_TRY(zt_tensor_narrow(&r, t, dim, index, 1));
    for (int i = dim; i < r.ndim - 1; i++) {
        r.shape[i] = r.shape[i + 1];
        r.stride[i] = r.stride[i + 1];
    }
    r.ndim--;
    *out = r;
    return ZT_OK;
}

zt_status zt_tensor_permute(zt_tensor *out, const zt_tensor *t, const int *perm) {
    zt_tensor r = *t;
    int seen = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= t->ndim || (seen & (1 << perm[i])))
            return zt_fail(ZT_ERR_RUNTIME, "permute: invalid permutation");
        seen |= 1 << perm[i];
        r.shape[i] = t->shape[perm[i]];
        r.stride[i] = t->stride[perm[i]];
    }
    *out = r;
    return ZT_OK;
}

zt_status zt_tensor_reshape(zt_tensor *out, const zt_tensor *t, int ndim, const int64_t *shape) {
    char buf[64];
    if (!zt_tensor_is_contiguous(t))
        return zt_fail(ZT_ERR_RUNTIME, "reshape: tensor %s is not contiguous",
                       zt_tensor_shape_str(t, buf, sizeof buf));
    if (ndim < 0 || ndim > ZT_MAX_DIMS)
        return zt_fail(ZT_ERR_RUNTIME, "reshape: %d dims", ndim);
    int64_t known = 1, n = zt_tensor_numel(t);
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1 && infer < 0) infer = i;
        else if (shape[i] < 0) return zt_fail(ZT_ERR_RUNTIME, "reshape: bad shape");
        else known *= shape[i];
    }
    int64_t s[ZT_MAX_DIMS];
    memcpy(s, shape, (size_t)ndim * sizeof *s);
    if (infer >= 0) {
        if (known == 0 || n % known) return zt_fail(ZT_ERR_RUNTIME, "reshape: cannot infer");
        s[infer] = n / known;
        known *= s[infer];
    }
    if (known != n)
        return zt_fail(ZT_ERR_RUNTIME, "reshape: %s has %lld elements, not %lld",
                       zt_tensor_shape_str(t, buf, sizeof buf), (long long)n, (long long)known);
    zt_tensor r = zt_tensor_make(t->dtype, ndim, s, t->data);
    r.device = t->device;
    *out = r;
    return ZT_OK;
}

zt_status zt_tensor_unsqueeze(zt_tensor *out, const zt_tensor *t, int dim) {
    if (dim < 0 || dim > t->ndim || t->ndim >= ZT_MAX_DIMS)
        return zt_fail(ZT_ERR_RUNTIME, "unsqueeze: bad dim %d", dim);
    zt_tensor r = *t;
    for (int i = t->ndim; i > dim; i--) {
        r.shape[i] = t->shape[i - 1];
        r.stride[i] = t->stride[i - 1];
    }
    r.shape[dim] = 1;
    r.stride[dim] = dim < t->ndim ? t->shape[dim] * t->stride[dim] : 1;
    r.ndim++;
    *out = r;
    return ZT_OK;
}

char *zt_tensor_shape_str(const zt_tensor *t, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
    return buf;
}

/* One body for packed and strided conversions: inlined into each wrapper, so the
 * packed one is compiled with stride 1 known and vectorizes. */
static inline __attribute__((always_inline)) void to_f32(float *dst, const void *src,
                                                         zt_dtype t, int64_t s, int64_t n) {
    switch (t) {
    case ZT_F32: {
        const float *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = p[i * s];
        break;
    }
    case ZT_BF16: {
        const uint16_t *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = zt_bf16_to_f32(p[i * s]);
        break;
    }
    case ZT_F16: {
        const uint16_t *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = zt_f16_to_f32(p[i * s]);
        break;
    }
    case ZT_F8_E4M3: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = zt_f8e4m3_to_f32(p[i * s]);
        break;
    }
    case ZT_F8_E5M2: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) dst[i] = zt_f8e5m2_to_f32(p[i * s]);
        break;
    }
    default:
        /* not a float type: callers check zt_dtype_is_float first */
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    }
}

static inline __attribute__((always_inline)) void from_f32(void *dst, zt_dtype t, int64_t s,
                                                           const float *src, int64_t n) {
    switch (t) {
    case ZT_F32: {
        float *p = dst;
        for (int64_t i = 0; i < n; i++) p[i * s] = src[i];
        break;
    }
    case ZT_BF16: {
        uint16_t *p = dst;
        for (int64_t i = 0; i < n; i++) p[i * s] = zt_f32_to_bf16(src[i]);
        break;
    }
    case ZT_F16: {
        uint16_t *p = dst;
        for (int64_t i = 0; i < n; i++) p[i * s] = zt_f32_to_f16(src[i]);
        break;
    }
    default: break;
    }
}

void zt_convert_to_f32(float *dst, const void *src, zt_dtype src_dtype, int64_t n) {
    if (src_dtype == ZT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else to_f32(dst, src, src_dtype, 1, n);
}

void zt_convert_from_f32(void *dst, zt_dtype dst_dtype, const float *src, int64_t n) {
    if (dst_dtype == ZT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else from_f32(dst, dst_dtype, 1, src, n);
}

void zt_convert_to_f32_strided(float *dst, const void *src, zt_dtype src_dtype, int64_t stride,
                               int64_t n) {
    to_f32(dst, src, src_dtype, stride, n);
}

void zt_convert_from_f32_strided(void *dst, zt_dtype dst_dtype, int64_t stride, const float *src,
                                 int64_t n) {
    from_f32(dst, dst_dtype, stride, src, n);
}

/* tensor.h - n-dimensional views over memory that something else owns.
 *
 * A zt_tensor is a small value: dtype, up to five dimensions (outermost first, as
 * PyTorch writes them: batch, channels, frames, height, width) with strides in
 * elements, and a data pointer into an arena, a mapped model file or a caller's
 * buffer. Copying the struct copies the view, never the data. */
#ifndef ZT_TENSOR_H
#define ZT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "zoetrope.h"

#define ZT_MAX_DIMS 5

typedef enum zt_dtype {
    ZT_F32 = 0,
    ZT_F16,
    ZT_BF16,
    ZT_F8_E4M3,
    ZT_F8_E5M2,
    ZT_F64,
    ZT_I64,
    ZT_I32,
    ZT_I16,
    ZT_I8,
    ZT_U8,
    ZT_BOOL,
    ZT_DTYPE_COUNT
} zt_dtype;

typedef struct zt_tensor {
    zt_dtype dtype;
    int ndim;
    int64_t shape[ZT_MAX_DIMS];
    int64_t stride[ZT_MAX_DIMS]; /* elements, not bytes */
    void *data;
    int device; /* 0: host memory; otherwise the backend's device index + 1 */
} zt_tensor;

size_t zt_dtype_size(zt_dtype t);
/* safetensors spelling: "F32", "BF16", ... */
const char *zt_dtype_name(zt_dtype t);
/* parses the safetensors spelling; returns 0 and sets *t, or -1 */
int zt_dtype_parse(const char *name, zt_dtype *t);
/* f32, f16, bf16 and the f8 formats: what weights may be stored in */
int zt_dtype_is_float(zt_dtype t);

/* A contiguous view of ndim dims over data (which may be NULL for a shape only). */
zt_tensor zt_tensor_make(zt_dtype dtype, int ndim, const int64_t *shape, void *data);
#define ZT_SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ZT_NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
/* zt_tensor_new(ZT_F32, ptr, 2, 3, 4) -> shape (2, 3, 4) */
#define zt_tensor_new(dtype, data, ...)                                                    \
    zt_tensor_make((dtype), ZT_NDIM(__VA_ARGS__), ZT_SHAPE(__VA_ARGS__), (data))

int64_t zt_tensor_numel(const zt_tensor *t);
/* Bytes of the elements when packed: numel * dtype size. */
size_t zt_tensor_nbytes(const zt_tensor *t);
int zt_tensor_is_contiguous(const zt_tensor *t);
int zt_tensor_same_shape(const zt_tensor *a, const zt_tensor *b);
/* Pointer to element (i0, i1, ...) for ndim indices. */
void *zt_tensor_ptr(const zt_tensor *t, const int64_t *idx);

/* Views. These fail with ZT_ERR_RUNTIME on an out-of-range request (a bug in the
 * caller, reported instead of crashing). */
zt_status zt_tensor_narrow(zt_tensor *out, const zt_tensor *t, int dim, int64_t start,
                           int64_t len);
zt_status zt_tensor_select(zt_tensor *out, const zt_tensor *t, int dim, int64_t index);
zt_status zt_tensor_permute(zt_tensor *out, const zt_tensor *t, const int *perm);
/* Needs a contiguous t; one entry of shape may be -1 (inferred). */
zt_status zt_tensor_reshape(zt_tensor *out, const zt_tensor *t, int ndim, const int64_t *shape);
/* Insert a dimension of size 1 before dim. */
zt_status zt_tensor_unsqueeze(zt_tensor *out, const zt_tensor *t, int dim);

/* "(2, 3, 4)" into buf; returns buf. */
char *zt_tensor_shape_str(const zt_tensor *t, char *buf, size_t size);

/* Convert n packed elements of a float dtype to f32 (dst may not alias src). */
void zt_convert_to_f32(float *dst, const void *src, zt_dtype src_dtype, int64_t n);
/* Convert n f32 values to a float dtype (f32, f16, bf16). */
void zt_convert_from_f32(void *dst, zt_dtype dst_dtype, const float *src, int64_t n);
/* The same with the non-f32 side strided (in elements): src[i * stride], dst[i * stride]. */
void zt_convert_to_f32_strided(float *dst, const void *src, zt_dtype src_dtype, int64_t stride,
                               int64_t n);
void zt_convert_from_f32_strided(void *dst, zt_dtype dst_dtype, int64_t stride, const float *src,
                                 int64_t n);

#endif

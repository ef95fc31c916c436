// Elementwise ops: broadcasting binary ops and the DiT's modulate and gated residual
// add, as backends/cpu/elementwise.c computes them. No op reduces across elements, so
// each output element is exactly the CPU's expression (up to FMA contraction).
#include "common.cuh"

namespace {

using namespace zt_k;
#define FOR_ELEMS ZT_FOR_ELEMS

// ---- binary ---------------------------------------------------------------------------

__device__ __forceinline__ float apply(int op, float u, float v) {
    switch (op) {
    case ZT_BINARY_ADD: return u + v;
    case ZT_BINARY_SUB: return u - v;
    case ZT_BINARY_MUL: return u * v;
    default: return u / v;
    }
}

// c may alias a or b: element i reads its inputs before it writes c[i], and no other
// element reads c[i] when the aliased input has c's shape.
__global__ void binary_kernel(float *c, const float *a, const float *b, int64_t n, walk2 g,
                              int op) {
    FOR_ELEMS(i, n) {
        int64_t oa, ob;
        walk2_offsets(g, i, oa, ob);
        c[i] = apply(op, a[oa], b[ob]);
    }
}

// The common case, three contiguous arrays of one shape, 16-byte aligned: four elements
// a thread with 16-byte accesses, 32-bit index math (n4 plus the grid's stride < 2^31).
__global__ void binary_vec4_kernel(float4 *c, const float4 *a, const float4 *b, int n4, int op) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
        float4 u = a[i], v = b[i];
        c[i] = make_float4(apply(op, u.x, v.x), apply(op, u.y, v.y), apply(op, u.z, v.z),
                           apply(op, u.w, v.w));
    }
}

// strides of t right-aligned to ndim dims, 0 where t broadcasts (as the CPU)
void broadcast_strides(const zt_tensor *t, int ndim, int64_t *st) {
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int s = d - lead;
        st[d] = s < 0 || t->shape[s] == 1 ? 0 : t->stride[s];
    }
}

// c's shape with a's and b's strides (0 where they broadcast), dims merged
walk2 make_desc(const zt_tensor *c, const zt_tensor *a, const zt_tensor *b) {
    int64_t st[2][ZT_MAX_DIMS];
    broadcast_strides(a, c->ndim, st[0]);
    broadcast_strides(b, c->ndim, st[1]);
    return make_walk2(c->ndim, c->shape, st[0], st[1]);
}

// ---- modulate and gated add ---------------------------------------------------------------
// Parameters hold one row ([D], numel == D) or one row per row of x (numel == x's); ops.c
// admits nothing else. Flat index i of x is row i / D, column i % D.

__global__ void modulate_kernel(float *y, const float *x, const float *shift, bool shift_rows,
                                const float *scale, bool scale_rows, int64_t n, int64_t d) {
    FOR_ELEMS(i, n) {
        int64_t col = (shift_rows && scale_rows) ? i : i % d;
        float sh = shift[shift_rows ? i : col], sc = scale[scale_rows ? i : col];
        y[i] = x[i] * (1.0f + sc) + sh;
    }
}

__global__ void gated_add_kernel(float *acc, const float *y, const float *gate, bool gate_rows,
                                 int64_t n, int64_t d) {
    FOR_ELEMS(i, n) acc[i] += y[i] * gate[gate_rows ? i : i % d];
}

int64_t last_dim(const zt_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

// as the CPU's mod_setup: per-row unless the parameter is exactly one row
bool per_row(const zt_tensor *p, int64_t d) { return zt_tensor_numel(p) != d; }

} // namespace

extern "C" zt_status zt_cuda_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a,
                                    const zt_tensor *b, zt_binary_op op) {
    int64_t n = zt_tensor_numel(c);
    if (n == 0) return ZT_OK;
    walk2 g = make_desc(c, a, b);
    bool aligned = (((uintptr_t)c->data | (uintptr_t)a->data | (uintptr_t)b->data) & 15) == 0;
    if (g.ndim == 1 && g.s[0][0] == 1 && g.s[1][0] == 1 && zt_tensor_is_contiguous(c) &&
        aligned && n % 4 == 0 && n / 4 + (int64_t)grid_for(n / 4) * kThreads <= INT32_MAX)
        binary_vec4_kernel<<<grid_for(n / 4), kThreads, 0, zt_cuda(be)->stream>>>(
            (float4 *)c->data, (const float4 *)a->data, (const float4 *)b->data, (int)(n / 4),
            (int)op);
    else
        binary_kernel<<<grid_for(n), kThreads, 0, zt_cuda(be)->stream>>>(
            (float *)c->data, (const float *)a->data, (const float *)b->data, n, g, (int)op);
    ZT_CUDA_LAUNCHED("binary");
    return ZT_OK;
}

extern "C" zt_status zt_cuda_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                                      const zt_tensor *shift, const zt_tensor *scale) {
    int64_t d = last_dim(x), n = zt_tensor_numel(x);
    if (d == 0 || n == 0) return ZT_OK;
    modulate_kernel<<<grid_for(n), kThreads, 0, zt_cuda(be)->stream>>>(
        (float *)y->data, (const float *)x->data, (const float *)shift->data, per_row(shift, d),
        (const float *)scale->data, per_row(scale, d), n, d);
    ZT_CUDA_LAUNCHED("modulate");
    return ZT_OK;
}

extern "C" zt_status zt_cuda_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                                       const zt_tensor *gate) {
    int64_t d = last_dim(y), n = zt_tensor_numel(y);
    if (d == 0 || n == 0) return ZT_OK;
    gated_add_kernel<<<grid_for(n), kThreads, 0, zt_cuda(be)->stream>>>(
        (float *)acc->data, (const float *)y->data, (const float *)gate->data,
        per_row(gate, d), n, d);
    ZT_CUDA_LAUNCHED("gated_add");
    return ZT_OK;
}

/* cpu.h - the CPU backend's kernels. Each takes inputs already checked by
 * core/ops.c (shapes, dtypes, contiguity as documented in backend.h) and spreads its
 * work over the backend's thread pool so that results do not depend on the thread
 * count. f32 GEMMs go through OpenBLAS, run single-threaded inside our tasks. */
#ifndef ZT_CPU_H
#define ZT_CPU_H

#include "../../core/threadpool.h"
#include "../backend.h"

zt_pool *zt_cpu_pool(const zt_backend *be);

/* Rows of weights in f32, converting f16/bf16/f8 rows as needed: returns a pointer
 * to rows [n0, n0 + n) of w [N, K], converted into scratch when not f32. */
const float *zt_cpu_weight_rows(const zt_tensor *w, int64_t n0, int64_t n, float *scratch);

zt_status zt_cpu_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b);
zt_status zt_cpu_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                        int trans_a, int trans_b);
zt_status zt_cpu_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                            const zt_tensor *b, float eps);
zt_status zt_cpu_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                          float eps);
zt_status zt_cpu_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                         const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps);
zt_status zt_cpu_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                       float alpha, float beta);
zt_status zt_cpu_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                        zt_binary_op op);
zt_status zt_cpu_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                          const zt_tensor *shift, const zt_tensor *scale);
zt_status zt_cpu_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                           const zt_tensor *gate);
zt_status zt_cpu_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_cpu_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                           const zt_tensor *v, const zt_attn_params *p);
zt_status zt_cpu_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p);
zt_status zt_cpu_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b, const zt_conv_params *p);
zt_status zt_cpu_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                        const zt_tensor *b, const zt_conv_params *p);
zt_status zt_cpu_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_cpu_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                     float value);
zt_status zt_cpu_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis);
zt_status zt_cpu_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x);

#endif

/* ops.h - the operations model code is written in.
 *
 * Each zt_op_* checks its arguments' shapes and dtypes (a mismatch is a bug in the
 * caller or a model file that lied: it is reported, never crashed on) and calls the
 * backend's function. Outputs are preallocated by the caller, usually from an arena;
 * unless said otherwise activations are f32 and contiguous, and weights may be f32,
 * f16, bf16 or f8 as stored. See backends/backend.h for each op's exact meaning. */
#ifndef ZT_OPS_H
#define ZT_OPS_H

#include <stdio.h>

#include "../backends/backend.h"

/* Per-op wall time (process-wide, not thread-safe: for benchmarks). zt_op_profile(1)
 * clears the totals and starts, (0) stops; each op then waits for its backend before and
 * after. Totals are kept per label: the op's name, convolutions' with their kernel and
 * channels ("conv3d 3x3x3 96->96"); products, attention and convolutions count their
 * FLOPs (2 per multiply-add, of the direct form whatever the backend computes).
 * zt_op_profile_entry gives the i-th label's totals (0 past the last);
 * zt_op_profile_report prints them all with each one's achieved TFLOP/s. */
void zt_op_profile(int on);
int zt_op_profile_entry(int i, const char **name, long *calls, double *seconds, double *flops);
void zt_op_profile_report(FILE *f);

zt_status zt_op_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                       const zt_tensor *b);
/* y = gelu_tanh(x . w^T + b): fused where the backend offers it, else the two ops */
zt_status zt_op_linear_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                            const zt_tensor *w, const zt_tensor *b);
/* y[i] = x . w[i]^T + b[i] for i < n: several products of one input */
zt_status zt_op_linears(zt_backend *be, int n, zt_tensor *const *y, const zt_tensor *x,
                        const zt_tensor *const *w, const zt_tensor *const *b);
/* y = gelu_tanh(x . w0^T + b0) . w2^T + b2, the hidden layer in h (scratch: what it holds
 * afterwards is the backend's) */
zt_status zt_op_ffn_gelu(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_tensor *h,
                         const zt_tensor *w0, const zt_tensor *b0, const zt_tensor *w2,
                         const zt_tensor *b2);
zt_status zt_op_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                       int trans_a, int trans_b);
zt_status zt_op_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                           const zt_tensor *b, float eps);
zt_status zt_op_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                         float eps);
/* silu(l2_norm(x)), the Wan VAE's norm and activation, fused where the backend can */
zt_status zt_op_l2_norm_silu(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                             const zt_tensor *gamma, const zt_tensor *beta, float scale,
                             float eps);
zt_status zt_op_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis,
                        const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps);
zt_status zt_op_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op,
                      float alpha, float beta);
zt_status zt_op_silu(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_op_gelu_tanh(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_op_scale(zt_backend *be, zt_tensor *y, const zt_tensor *x, float alpha);
zt_status zt_op_clamp(zt_backend *be, zt_tensor *y, const zt_tensor *x, float lo, float hi);
zt_status zt_op_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b,
                       zt_binary_op op);
zt_status zt_op_add(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b);
zt_status zt_op_mul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b);
zt_status zt_op_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *shift,
                         const zt_tensor *scale);
/* y = layer_norm(x) * (1 + scale) + shift (no norm weights): the DiT's modulated norm,
 * fused where the backend can */
zt_status zt_op_norm_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x,
                              const zt_tensor *shift, const zt_tensor *scale, float eps);
zt_status zt_op_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y,
                          const zt_tensor *gate);
zt_status zt_op_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_op_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k,
                          const zt_tensor *v, const zt_attn_params *p);
zt_status zt_op_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p);
zt_status zt_op_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                       const zt_tensor *b, const zt_conv_params *p);
zt_status zt_op_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w,
                       const zt_tensor *b, const zt_conv_params *p);
zt_status zt_op_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x);
zt_status zt_op_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2],
                    float value);
zt_status zt_op_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis);
zt_status zt_op_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x);

/* Output size of a convolution along one dim (0 or less when impossible). */
int64_t zt_conv_out_size(int64_t in, int k, int stride, int pad_before, int pad_after);

#endif

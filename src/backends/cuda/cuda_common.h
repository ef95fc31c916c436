/* cuda_common.h - what the CUDA backend's C side and kernels/ share: launchers that
 * take an explicit stream and report the launch error, and the check macro every
 * CUDA and cuBLAS call goes through. */
#ifndef ZT_CUDA_COMMON_H
#define ZT_CUDA_COMMON_H

#include <cuda_runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Elementwise unary ops over n floats, op as zt_unary_op. Returns the launch error. */
cudaError_t zt_cuda_unary(float *y, const float *x, int64_t n, int op, float alpha, float beta,
                          cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif

/* Built when the CUDA toolkit is absent or ZT_CUDA=OFF. */
#include "../../core/status.h"
#include "../backend.h"

zt_status zt_backend_cuda_init(zt_backend **be, int device) {
    *be = NULL;
    return zt_fail(ZT_ERR_UNSUPPORTED, "this build has no CUDA backend (built with ZT_CUDA=OFF "
                   "or without nvcc); use --device cpu");
}

int zt_backend_cuda_available(void) { return 0; }

zt_status zt_backend_cuda_memory(const zt_backend *be, size_t *live, size_t *peak,
                                 size_t *total) {
    *live = *peak = *total = 0;
    return zt_fail(ZT_ERR_UNSUPPORTED, "this build has no CUDA backend");
}

void zt_backend_cuda_reset_peak(zt_backend *be) {}

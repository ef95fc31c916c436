/* placeholder until the matmul kernels land */
#include "../../core/status.h"
#include "cpu.h"
const float *zt_cpu_weight_rows(const zt_tensor *w, int64_t n0, int64_t n, float *scratch) { return NULL; }
zt_status zt_cpu_linear(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w, const zt_tensor *b) { return zt_fail(ZT_ERR_UNSUPPORTED, "linear: not yet"); }
zt_status zt_cpu_matmul(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b, int ta, int tb) { return zt_fail(ZT_ERR_UNSUPPORTED, "matmul: not yet"); }

/* placeholder until the norm kernels land */
#include "../../core/status.h"
#include "cpu.h"
zt_status zt_cpu_layer_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w, const zt_tensor *b, float eps) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_rms_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w, float eps) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_l2_norm(zt_backend *be, zt_tensor *y, const zt_tensor *x, int axis, const zt_tensor *gamma, const zt_tensor *beta, float scale, float eps) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }

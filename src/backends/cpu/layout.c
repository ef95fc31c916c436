/* placeholder until the layout kernels land */
#include "../../core/status.h"
#include "cpu.h"
zt_status zt_cpu_upsample_nearest(zt_backend *be, zt_tensor *y, const zt_tensor *x) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_pad(zt_backend *be, zt_tensor *y, const zt_tensor *x, const int64_t (*pad)[2], float value) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_concat(zt_backend *be, zt_tensor *y, const zt_tensor *xs, int n, int axis) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }

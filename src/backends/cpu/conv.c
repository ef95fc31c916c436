/* placeholder until the conv kernels land */
#include "../../core/status.h"
#include "cpu.h"
zt_status zt_cpu_conv2d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w, const zt_tensor *b, const zt_conv_params *p) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_conv3d(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *w, const zt_tensor *b, const zt_conv_params *p) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }

/* placeholder until the elementwise kernels land */
#include "../../core/status.h"
#include "cpu.h"
zt_status zt_cpu_unary(zt_backend *be, zt_tensor *y, const zt_tensor *x, zt_unary_op op, float alpha, float beta) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_binary(zt_backend *be, zt_tensor *c, const zt_tensor *a, const zt_tensor *b, zt_binary_op op) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_modulate(zt_backend *be, zt_tensor *y, const zt_tensor *x, const zt_tensor *shift, const zt_tensor *scale) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_gated_add(zt_backend *be, zt_tensor *acc, const zt_tensor *y, const zt_tensor *gate) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }
zt_status zt_cpu_copy(zt_backend *be, zt_tensor *y, const zt_tensor *x) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }

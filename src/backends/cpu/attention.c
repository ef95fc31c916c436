/* placeholder until the attention kernels land */
#include "../../core/status.h"
#include "cpu.h"
zt_status zt_cpu_softmax(zt_backend *be, zt_tensor *y, const zt_tensor *x) { return zt_fail(ZT_ERR_UNSUPPORTED, "softmax: not yet"); }
zt_status zt_cpu_attention(zt_backend *be, zt_tensor *o, const zt_tensor *q, const zt_tensor *k, const zt_tensor *v, const zt_attn_params *p) { return zt_fail(ZT_ERR_UNSUPPORTED, "attention: not yet"); }

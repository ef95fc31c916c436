/* placeholder until the rope kernel lands */
#include "../../core/status.h"
#include "cpu.h"
zt_status zt_cpu_rope3d(zt_backend *be, zt_tensor *x, const zt_rope_params *p) { return zt_fail(ZT_ERR_UNSUPPORTED, "not yet"); }

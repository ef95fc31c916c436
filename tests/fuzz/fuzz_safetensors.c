/* fuzz_safetensors - the input as a .safetensors file: open it from a path (mapped) and
 * from memory, which must agree, then read every tensor through the accessors. */
#include "fuzz_util.h"

ZT_FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = zt_fuzz_file(data, size);
    zt_safetensors *st = NULL, *mem = NULL;
    zt_status rc = zt_safetensors_open(&st, path);
    zt_fuzz_check_message(rc, path);
    zt_status rc_mem = zt_safetensors_open_memory(&mem, "fuzz-input", data, size);
    zt_fuzz_check_message(rc_mem, "fuzz-input");
    zt_fuzz_model_pair(rc, st, rc_mem, mem);
    return 0;
}

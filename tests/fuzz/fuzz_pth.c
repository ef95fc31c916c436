/* fuzz_pth - the input as a PyTorch .pth (zip + pickle): open it from a path (mapped)
 * and from memory, which must agree, then read every tensor it names. */
#include "fuzz_util.h"
#include "io/pth.h"

ZT_FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = zt_fuzz_file(data, size);
    zt_safetensors *st = NULL, *mem = NULL;
    (void)zt_pth_sniff(path);
    zt_status rc = zt_pth_open(&st, path);
    zt_fuzz_check_message(rc, path);
    zt_status rc_mem = zt_pth_open_memory(&mem, "fuzz-input", data, size);
    zt_fuzz_check_message(rc_mem, "fuzz-input");
    zt_fuzz_model_pair(rc, st, rc_mem, mem);
    return 0;
}

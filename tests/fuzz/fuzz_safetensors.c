/* fuzz_safetensors - the input as a .safetensors file: open it from a path (mapped) and
 * from memory, which must agree, then read every tensor through the accessors. */
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    zt_fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = zt_fuzz_file(data, size);
    zt_safetensors *st = NULL, *mem = NULL;
    zt_status rc = zt_safetensors_open(&st, path);
    zt_fuzz_check_message(rc, path);
    zt_status rc_mem = zt_safetensors_open_memory(&mem, "fuzz-input", data, size);
    zt_fuzz_check_message(rc_mem, "fuzz-input");
    ZT_FUZZ_ASSERT(rc == rc_mem, "path and memory disagree: %d vs %d", rc, rc_mem);
    ZT_FUZZ_ASSERT((rc == ZT_OK) == (st != NULL), "status %d with st %p", rc, (void *)st);
    if (st) {
        ZT_FUZZ_ASSERT(zt_safetensors_count(st) == zt_safetensors_count(mem), "counts differ");
        zt_fuzz_walk(st);
    }
    zt_safetensors_close(st);
    zt_safetensors_close(mem);
    return 0;
}

/* fuzz_preset - the input as a libconfig preset: load it over the defaults, validate
 * what resulted (also after a failed load, which may have stored some keys), free. */
#include "fuzz_util.h"

ZT_FUZZ_QUIET_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = zt_fuzz_file(data, size);
    zt_settings s;
    zt_settings_init(&s);
    zt_fuzz_check_message(zt_settings_load_file(&s, path), path);
    (void)zt_settings_validate(&s);
    zt_settings_free(&s);
    return 0;
}

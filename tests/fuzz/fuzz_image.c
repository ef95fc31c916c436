/* fuzz_image - the input as a picture file: decode it at its own size and scaled to
 * cover 64x48 then centre-cropped, as i2v prepares its first frame. */
#include "fuzz_util.h"

ZT_FUZZ_QUIET_INIT

static void load(const char *path, int w, int h) {
    zt_image img;
    zt_status rc = zt_image_load(path, w, h, &img);
    zt_fuzz_check_message(rc, path);
    if (rc == ZT_OK) {
        ZT_FUZZ_ASSERT(img.rgb && img.width > 0 && img.height > 0, "empty image on success");
        ZT_FUZZ_ASSERT(!w || (img.width == w && img.height == h), "%dx%d, wanted %dx%d", img.width,
                       img.height, w, h);
        volatile uint8_t sink = img.rgb[(size_t)img.width * (size_t)img.height * 3 - 1];
        (void)sink;
    } else {
        ZT_FUZZ_ASSERT(!img.rgb, "an image left behind on failure");
    }
    zt_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = zt_fuzz_file(data, size);
    load(path, 0, 0);
    load(path, 64, 48);
    return 0;
}

#include "generate.h"

#include <string.h>

#include "../core/status.h"
#include "../io/weights.h"
#include "../models/wan_vae.h"
#include "settings.h"

/* Every file the settings name must exist and parse before any heavy work, so a
 * typo costs a second, not a text-encoder load. */
static zt_status open_model_files(const zt_settings *s) {
    static const struct {
        const char *what;
        size_t off;
    } files[] = {
        {"model", offsetof(zt_settings, model)},
        {"vae", offsetof(zt_settings, vae)},
        {"text encoder", offsetof(zt_settings, text_encoder)},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *p = *(char *const *)((const char *)s + files[i].off);
        char path[ZT_PATH_MAX];
        if (!p)
            return zt_fail(ZT_ERR_USAGE, "no %s file given (use --preset or --%s)", files[i].what,
                           i == 2 ? "text-encoder" : files[i].what);
        ZT_TRY(zt_model_path_resolve(p, files[i].what, path, sizeof path));
        if (i == 1) { /* the VAE is loaded whole: its structure is checked too */
            zt_wan_vae *vae;
            ZT_TRY(zt_wan_vae_open(&vae, path));
            zt_wan_vae_free(vae);
            continue;
        }
        zt_weights *w; /* a file, a sharded checkpoint's index, or a directory */
        ZT_TRY(zt_weights_open(&w, path));
        zt_weights_close(w);
    }
    return ZT_OK;
}

zt_status zt_generate(const zt_settings *s, zt_gen_mode mode, const zt_gen_callbacks *cb,
                      zt_gen_result *result) {
    memset(result, 0, sizeof *result);
    ZT_TRY(zt_settings_validate(s));
    if (mode == ZT_GEN_I2V) {
        if (!s->image) return zt_fail(ZT_ERR_USAGE, "i2v needs an input image (--image)");
        zt_image img;
        ZT_TRY(zt_image_load(s->image, s->width, s->height, &img));
        zt_image_free(&img);
    }
    ZT_TRY(open_model_files(s));
    return zt_fail(ZT_ERR_UNSUPPORTED, "%s: the Wan diffusion transformer is not part of this "
                   "build yet", mode == ZT_GEN_T2V ? "t2v" : "i2v");
}

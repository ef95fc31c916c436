/* Generate two clips with the built-in model through the public API alone: the settings
 * of the "tiny" preset, a prompt, seed and output set over them, then two generations
 * that share one model cache, so the second does not load the models again.
 *
 *   cc generate.c -lzoetrope -o generate && ./generate [DIR [THREADS]]
 *
 * writes DIR/generate-red.mp4 and DIR/generate-blue.mp4 (DIR must exist; default .).
 * THREADS 0, the default, uses every core; the output is the same on any count. */
#include <stdio.h>
#include <stdlib.h>
#include <zoetrope.h>

static void progress(void *user, const char *stage, int64_t done, int64_t total) {
    (void)user;
    /* one line per stage, and its last step: enough to see where the time goes */
    if (done == 0)
        printf("  %s\n", stage);
    else if (done == total)
        printf("  %s: %lld/%lld\n", stage, (long long)done, (long long)total);
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, zt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    const char *threads = argc > 2 ? argv[2] : "0";
    static const struct {
        const char *name, *prompt, *seed;
    } clips[] = {
        {"red", "a red circle moving right", "1"},
        {"blue", "a blue square growing on a white background", "2"},
    };

    /* The preset's path: found in ./presets, the source tree or the install's data
     * directory; the model paths in it are looked up the same way when they load. */
    char preset[4096];
    if (zt_preset_find("tiny", preset, sizeof preset) != ZT_OK) return fail("preset tiny");

    /* Layered as the CLI does: built-in defaults, the preset, then explicit values. */
    zt_settings s;
    zt_settings_init(&s);
    if (zt_settings_load_file(&s, preset) != ZT_OK ||
        zt_settings_set(&s, "threads", threads) != ZT_OK) {
        zt_settings_free(&s);
        return fail("settings");
    }
    zt_model_cache *cache = NULL;
    if (zt_model_cache_init(&cache) != ZT_OK) {
        zt_settings_free(&s);
        return fail("model cache");
    }

    int rc = 0;
    for (size_t i = 0; i < sizeof clips / sizeof clips[0]; i++) {
        char output[4096];
        snprintf(output, sizeof output, "%s/generate-%s.mp4", dir, clips[i].name);
        /* a later set replaces the value, so one zt_settings serves both clips */
        if (zt_settings_set(&s, "prompt", clips[i].prompt) != ZT_OK ||
            zt_settings_set(&s, "seed", clips[i].seed) != ZT_OK ||
            zt_settings_set(&s, "output", output) != ZT_OK) {
            rc = fail("settings");
            break;
        }
        /* before any model loads: a bad size or an unwritable output fails at once */
        if (zt_settings_validate(&s) != ZT_OK) {
            rc = fail("settings");
            break;
        }
        printf("%s: \"%s\", seed %s\n", output, s.prompt, clips[i].seed);
        zt_gen_stats st;
        zt_status r = zt_generate_video(&s, cache, progress, NULL, &st);
        if (r != ZT_OK) {
            fprintf(stderr, "generate: %s (%s)\n", zt_last_error(), zt_status_string(r));
            rc = 1;
            break;
        }
        /* the second clip's models come from the cache, already loaded; its planned peak
         * counts them as resident */
        printf("  %lld frames of %dx%d in %.2f s, planned peak %.1f MiB, VAE %s\n",
               (long long)st.frames, st.width, st.height, st.seconds,
               (double)st.planned_peak / 1048576.0, st.vae_tile ? "tiled" : "untiled");
    }
    zt_model_cache_free(cache);
    zt_settings_free(&s);
    return rc;
}

/* zoetrope presets / version. */
#include <dirent.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libconfig.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "cli.h"
#include "core/threadpool.h"
#include "pipeline/settings.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int zt_cli_presets(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: zoetrope presets [--json]\n\n"
                   "List the presets found in $ZT_PRESET_PATH, ./presets and the installed\n"
                   "presets directory, with their description and whether their model files\n"
                   "are present. Use one with: zoetrope t2v --preset NAME ...\n");
            return ZT_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else return zt_cli_usage_error("presets", "unknown option '%s'", argv[i]);
    }
    char dirs[8][ZT_PATH_MAX];
    int nd = zt_preset_dirs(dirs, 8);
    json_t *arr = json ? json_array() : NULL;
    int shown = 0, rc = ZT_EXIT_OK;
    for (int d = 0; d < nd; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir) continue;
        char *names[512];
        int nn = 0;
        struct dirent *e;
        while ((e = readdir(dir)) && nn < 512) {
            size_t len = strlen(e->d_name);
            if (len > 4 && !strcmp(e->d_name + len - 4, ".cfg") && e->d_name[0] != '.')
                names[nn++] = strdup(e->d_name);
        }
        closedir(dir);
        qsort(names, (size_t)nn, sizeof names[0], cmp_str);
        for (int i = 0; i < nn; i++) {
            char path[ZT_PATH_MAX + 300], name[300];
            int too_long = snprintf(path, sizeof path, "%s/%s", dirs[d], names[i]) >= (int)sizeof path;
            snprintf(name, sizeof name, "%.*s", (int)strlen(names[i]) - 4, names[i]);
            free(names[i]);
            if (too_long) continue;
            zt_settings s;
            zt_settings_init(&s);
            zt_status st = zt_settings_load_file(&s, path);
            if (st != ZT_OK) {
                /* one broken preset should not hide the others */
                fprintf(stderr, "zoetrope: %s\n", zt_last_error());
                rc = ZT_EXIT_INPUT;
                zt_settings_free(&s);
                continue;
            }
            char resolved[ZT_PATH_MAX];
            int have = s.model && zt_model_path_resolve(s.model, "model", resolved,
                                                        sizeof resolved) == ZT_OK;
            if (arr) {
                json_array_append_new(
                    arr, json_pack("{s:s, s:s, s:s?, s:i, s:i, s:i, s:i, s:i, s:s?, s:b}", "name",
                                   name, "path", path, "description", s.description, "width",
                                   s.width, "height", s.height, "frames", s.frames, "fps", s.fps,
                                   "steps", s.steps, "model", s.model, "model_present", have));
            } else {
                printf("%-26s %4dx%-4d %3d frames %2d fps %3d steps  %s%s\n", name, s.width,
                       s.height, s.frames, s.fps, s.steps, s.description ? s.description : "",
                       have ? "" : "  [model files missing]");
            }
            shown++;
            zt_settings_free(&s);
        }
    }
    if (arr) {
        json_dumpf(arr, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(arr);
    } else if (!shown) {
        printf("no presets found\n");
    }
    return rc;
}

int zt_cli_version(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: zoetrope version\n\nPrint the versions of zoetrope and the libraries "
                   "it was built with.\n");
            return ZT_EXIT_OK;
        }
        return zt_cli_usage_error("version", "unknown option '%s'", argv[i]);
    }
    unsigned v;
    printf("zoetrope %s\n", zt_version());
    v = avcodec_version();
    printf("libavcodec %u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255);
    v = avformat_version();
    printf("libavformat %u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255);
    v = avutil_version();
    printf("libavutil %u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255);
    v = swscale_version();
    printf("libswscale %u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255);
    printf("libconfig %d.%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
           LIBCONFIG_VER_REVISION);
    printf("jansson %s\n", jansson_version_str());
    printf("cpu threads %d\n", zt_cpu_count());
    printf("cuda backend %s\n", zt_backend_cuda_available() ? "available"
#ifdef ZT_HAVE_CUDA
                                                            : "built, no GPU found"
#else
                                                            : "not built"
#endif
    );
    return ZT_EXIT_OK;
}

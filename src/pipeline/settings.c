/* Generation settings: built-in defaults, libconfig presets and config files, and
 * single values from flags, checked against one table of keys. */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/status.h"
#include "../io/tempfile.h"

typedef enum key_kind { K_STR, K_INT, K_I64, K_U64, K_DOUBLE } key_kind;

typedef struct key_info {
    const char *key;
    key_kind kind;
    size_t off;
    double lo, hi;               /* numeric range */
    const char *const *choices;  /* strings: allowed values, NULL for any */
} key_info;

static const char *const samplers[] = {"unipc", "dpm++", "euler", NULL};
static const char *const codecs[] = {"h264", "vp9", "ffv1", "gif", "png", "y4m", NULL};

#define OFF(f) offsetof(zt_settings, f)
static const key_info keys[] = {
    {"description", K_STR, OFF(description), 0, 0, NULL},
    {"download", K_STR, OFF(download), 0, 0, NULL},
    {"prompt", K_STR, OFF(prompt), 0, 0, NULL},
    {"negative_prompt", K_STR, OFF(negative_prompt), 0, 0, NULL},
    {"image", K_STR, OFF(image), 0, 0, NULL},
    {"model", K_STR, OFF(model), 0, 0, NULL},
    {"vae", K_STR, OFF(vae), 0, 0, NULL},
    {"text_encoder", K_STR, OFF(text_encoder), 0, 0, NULL},
    {"tokenizer", K_STR, OFF(tokenizer), 0, 0, NULL},
    {"width", K_INT, OFF(width), 1, ZT_SIZE_MAX, NULL},
    {"height", K_INT, OFF(height), 1, ZT_SIZE_MAX, NULL},
    {"frames", K_INT, OFF(frames), 1, ZT_FRAMES_MAX, NULL},
    {"fps", K_INT, OFF(fps), 1, 240, NULL},
    {"steps", K_INT, OFF(steps), 1, 1000, NULL},
    {"guidance", K_DOUBLE, OFF(guidance), 0, 100, NULL},
    {"shift", K_DOUBLE, OFF(shift), 0.01, 100, NULL},
    {"sampler", K_STR, OFF(sampler), 0, 0, samplers},
    {"seed", K_U64, OFF(seed), 0, 0, NULL},
    {"noise", K_STR, OFF(noise), 0, 0, NULL},
    {"threads", K_INT, OFF(threads), 0, 256, NULL},
    {"max_memory", K_STR, OFF(max_memory), 0, 0, NULL},
    {"vae_tile", K_INT, OFF(vae_tile), -1, ZT_SIZE_MAX, NULL},
    {"vae_tile_overlap", K_INT, OFF(vae_tile_overlap), -1, ZT_SIZE_MAX, NULL},
    {"device", K_STR, OFF(device), 0, 0, NULL},
    {"text_encoder_device", K_STR, OFF(text_encoder_device), 0, 0, NULL},
    {"vae_device", K_STR, OFF(vae_device), 0, 0, NULL},
    {"offload", K_INT, OFF(offload), 0, 1, NULL},
    {"max_gpu_memory", K_STR, OFF(max_gpu_memory), 0, 0, NULL},
    {"output", K_STR, OFF(output), 0, 0, NULL},
    {"codec", K_STR, OFF(codec), 0, 0, codecs},
    {"crf", K_INT, OFF(crf), -1, 63, NULL},
    {"bitrate", K_I64, OFF(bitrate), 0, 1e12, NULL},
    {"frames_dir", K_STR, OFF(frames_dir), 0, 0, NULL},
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

struct zt_settings_sources {
    char src[NKEYS][160];
    char current[160];
};

static const key_info *find_key(const char *name, int *index) {
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof norm) return NULL;
    for (size_t i = 0; i <= n; i++) norm[i] = name[i] == '-' ? '_' : name[i];
    for (int i = 0; i < NKEYS; i++) {
        if (!strcmp(keys[i].key, norm)) {
            if (index) *index = i;
            return &keys[i];
        }
    }
    return NULL;
}

static void set_source(zt_settings *s, int index, const char *src) {
    if (s->sources) snprintf(s->sources->src[index], sizeof s->sources->src[index], "%s", src);
}

void zt_settings_init(zt_settings *s) {
    memset(s, 0, sizeof *s);
    /* Wan2.1 T2V-1.3B at 480p, the reference's defaults; presets override them */
    s->width = 832;
    s->height = 480;
    s->frames = 81;
    s->fps = 16;
    s->steps = 50;
    s->guidance = 5.0;
    s->shift = 3.0;
    s->sampler = strdup("unipc");
    s->seed = 42;
    s->crf = -1;
    s->vae_tile = -1;
    s->vae_tile_overlap = -1;
    s->output = strdup("output.mp4");
    s->sources = calloc(1, sizeof *s->sources);
    for (int i = 0; i < NKEYS; i++) set_source(s, i, "default");
}

void zt_settings_free(zt_settings *s) {
    if (!s) return;
    for (int i = 0; i < NKEYS; i++) {
        if (keys[i].kind == K_STR) {
            char **p = (char **)((char *)s + keys[i].off);
            free(*p);
            *p = NULL;
        }
    }
    free(s->preset);
    s->preset = NULL;
    free(s->sources);
    s->sources = NULL;
}

void zt_settings_set_source(zt_settings *s, const char *source) {
    if (!s->sources) return;
    snprintf(s->sources->current, sizeof s->sources->current, "%s", source ? source : "");
}

const char *zt_settings_source(const zt_settings *s, const char *key) {
    int i;
    if (!s->sources || !find_key(key, &i)) return "default";
    return s->sources->src[i];
}

/* Store one value, already parsed to double (numbers) or string. msg gets the reason
 * on failure. */
static int store(zt_settings *s, const key_info *k, const char *str, double num, int64_t inum,
                 char *msg, size_t msg_size) {
    void *field = (char *)s + k->off;
    switch (k->kind) {
    case K_STR:
        if (k->choices) {
            int ok = 0;
            for (int i = 0; k->choices[i]; i++) ok |= !strcmp(k->choices[i], str);
            if (!ok) {
                size_t n = (size_t)snprintf(msg, msg_size, "unknown %s '%s' (choose from", k->key,
                                            str);
                for (int i = 0; k->choices[i] && n < msg_size; i++)
                    n += (size_t)snprintf(msg + n, msg_size - n, "%s %s", i ? "," : "",
                                          k->choices[i]);
                if (n < msg_size) snprintf(msg + n, msg_size - n, ")");
                return -1;
            }
        }
        {
            char *dup = strdup(str);
            if (!dup) {
                snprintf(msg, msg_size, "out of memory");
                return -1;
            }
            free(*(char **)field);
            *(char **)field = dup;
        }
        return 0;
    case K_INT:
    case K_I64:
        if ((double)inum < k->lo || (double)inum > k->hi) {
            snprintf(msg, msg_size, "%s %lld is outside %.0f..%.0f", k->key, (long long)inum,
                     k->lo, k->hi);
            return -1;
        }
        if (k->kind == K_INT) *(int *)field = (int)inum;
        else *(int64_t *)field = inum;
        return 0;
    case K_U64:
        if (inum < 0) {
            snprintf(msg, msg_size, "%s must not be negative", k->key);
            return -1;
        }
        *(uint64_t *)field = (uint64_t)inum;
        return 0;
    case K_DOUBLE:
        if (!isfinite(num) || num < k->lo || num > k->hi) {
            snprintf(msg, msg_size, "%s %g is outside %g..%g", k->key, num, k->lo, k->hi);
            return -1;
        }
        *(double *)field = num;
        return 0;
    }
    return -1;
}

static int parse_int64(const char *v, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno) return -1;
    *out = x;
    return 0;
}

int64_t zt_parse_si_size(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1e3; end++; break;
    case 'm': case 'M': mul = 1e6; end++; break;
    case 'g': case 'G': mul = 1e9; end++; break;
    default: break;
    }
    if (*end || v * mul > 9e18) return -1;
    return (int64_t)(v * mul + 0.5);
}

zt_status zt_settings_set(zt_settings *s, const char *key, const char *value) {
    int index;
    const key_info *k = find_key(key, &index);
    char msg[512], flag[sizeof s->sources->current];
    if (!k) return zt_fail(ZT_ERR_USAGE, "unknown setting '%s'", key);
    if (s->sources && s->sources->current[0]) memcpy(flag, s->sources->current, sizeof flag);
    else {
        snprintf(flag, sizeof flag, "--%s", k->key);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
    }
    int64_t inum = 0;
    double num = 0;
    if (k->kind == K_INT || k->kind == K_U64) {
        if (parse_int64(value, &inum) != 0)
            return zt_fail(ZT_ERR_USAGE, "%s: expected an integer, got '%s'", flag, value);
    } else if (k->kind == K_I64) {
        inum = zt_parse_si_size(value);
        if (inum < 0)
            return zt_fail(ZT_ERR_USAGE, "%s: expected a number like 2M or 800k, got '%s'", flag,
                           value);
    } else if (k->kind == K_DOUBLE) {
        char *end;
        errno = 0;
        num = strtod(value, &end);
        if (!*value || *end || errno)
            return zt_fail(ZT_ERR_USAGE, "%s: expected a number, got '%s'", flag, value);
    }
    if (store(s, k, value, num, inum, msg, sizeof msg) != 0)
        return zt_fail(ZT_ERR_USAGE, "%s: %s", flag, msg);
    set_source(s, index, flag);
    return ZT_OK;
}

zt_status zt_settings_apply_group(zt_settings *s, const config_setting_t *group, const char *path,
                                  const char *const *extra) {
    zt_status r = ZT_OK;
    for (int i = 0; r == ZT_OK && i < config_setting_length(group); i++) {
        config_setting_t *e = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(e);
        int line = (int)config_setting_source_line(e);
        int skip = 0;
        for (int j = 0; name && extra && extra[j]; j++) skip |= !strcmp(name, extra[j]);
        if (skip) continue;
        int index;
        const key_info *k = name ? find_key(name, &index) : NULL;
        char msg[512], where[sizeof s->sources->src[0]];
        if (!k || strchr(name, '-')) {
            r = zt_fail(ZT_ERR_INPUT, "%s:%d: unknown key '%s'", path, line, name ? name : "?");
            break;
        }
        int type = config_setting_type(e);
        int bad = 0;
        double num = 0;
        int64_t inum = 0;
        const char *str = NULL;
        switch (k->kind) {
        case K_STR:
            if (type != CONFIG_TYPE_STRING) bad = 1;
            else str = config_setting_get_string(e);
            break;
        case K_INT:
        case K_I64:
        case K_U64:
            if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) bad = 1;
            else inum = config_setting_get_int64(e);
            break;
        case K_DOUBLE:
            if (type == CONFIG_TYPE_FLOAT) num = config_setting_get_float(e);
            else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
                num = (double)config_setting_get_int64(e);
            else bad = 1;
            break;
        }
        if (bad) {
            static const char *const kind_names[] = {"a string", "an integer", "an integer",
                                                     "an integer", "a number"};
            r = zt_fail(ZT_ERR_INPUT, "%s:%d: '%s' must be %s", path, line, name,
                        kind_names[k->kind]);
            break;
        }
        if (store(s, k, str, num, inum, msg, sizeof msg) != 0) {
            r = zt_fail(ZT_ERR_INPUT, "%s:%d: %s", path, line, msg);
            break;
        }
        snprintf(where, sizeof where, "%s:%d", path, line);
        set_source(s, index, where);
    }
    return r;
}

zt_status zt_settings_load_file(zt_settings *s, const char *path) {
    config_t cfg;
    struct stat st;
    if (stat(path, &st) != 0)
        return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return zt_fail(ZT_ERR_INPUT, "%s: not a regular file", path);
    config_init(&cfg);
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        zt_status r;
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            r = zt_fail(ZT_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
        else
            r = zt_fail(ZT_ERR_INPUT, "%s:%d: %s", path, config_error_line(&cfg),
                        config_error_text(&cfg));
        config_destroy(&cfg);
        return r;
    }
    zt_status r = zt_settings_apply_group(s, config_root_setting(&cfg), path, NULL);
    config_destroy(&cfg);
    return r;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int add_dir(char dirs[][ZT_PATH_MAX], int n, int max, const char *d) {
    char real[PATH_MAX];
    if (n >= max || !is_dir(d) || !realpath(d, real)) return n;
    for (int i = 0; i < n; i++)
        if (!strcmp(dirs[i], real)) return n;
    snprintf(dirs[n], ZT_PATH_MAX, "%s", real);
    return n + 1;
}

/* Splits a colon-separated list from the environment into the list of dirs. */
static int add_env_dirs(char dirs[][ZT_PATH_MAX], int n, int max, const char *env,
                        const char *suffix) {
    const char *v = getenv(env);
    char d[ZT_PATH_MAX];
    while (v && *v) {
        const char *colon = strchr(v, ':');
        size_t len = colon ? (size_t)(colon - v) : strlen(v);
        if (len > 0 && len < sizeof d - 32) {
            snprintf(d, sizeof d, "%.*s%s", (int)len, v, suffix);
            n = add_dir(dirs, n, max, d);
        }
        v = colon ? colon + 1 : NULL;
    }
    return n;
}

int zt_preset_dirs(char dirs[][ZT_PATH_MAX], int max) {
    int n = add_env_dirs(dirs, 0, max, "ZT_PRESET_PATH", "");
    n = add_dir(dirs, n, max, "presets");
    n = add_dir(dirs, n, max, ZT_SOURCE_DIR "/presets");
    n = add_dir(dirs, n, max, ZT_DATA_DIR "/presets");
    return n;
}

zt_status zt_preset_find(const char *name, char *path, size_t path_size) {
    struct stat st;
    if (!name || !*name) return zt_fail(ZT_ERR_USAGE, "--preset: empty name");
    /* a path (has a slash or the .cfg suffix) is taken as is */
    size_t len = strlen(name);
    if (strchr(name, '/') || (len > 4 && !strcmp(name + len - 4, ".cfg"))) {
        if (stat(name, &st) != 0 || !S_ISREG(st.st_mode))
            return zt_fail(ZT_ERR_INPUT, "--preset %s: no such file", name);
        snprintf(path, path_size, "%s", name);
        return ZT_OK;
    }
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return zt_fail(ZT_ERR_USAGE, "--preset %s: not a preset name", name);
    char dirs[8][ZT_PATH_MAX];
    int n = zt_preset_dirs(dirs, 8);
    for (int i = 0; i < n; i++) {
        char cand[ZT_PATH_MAX + 128];
        if (snprintf(cand, sizeof cand, "%s/%s.cfg", dirs[i], name) >= (int)sizeof cand) continue;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            snprintf(path, path_size, "%s", cand);
            return ZT_OK;
        }
    }
    return zt_fail(ZT_ERR_USAGE, "--preset %s: no such preset (see zoetrope presets)", name);
}

zt_status zt_model_path_resolve(const char *path, const char *what, char *out, size_t out_size) {
    struct stat st;
    if (!path || !*path) return zt_fail(ZT_ERR_USAGE, "no %s file given", what);
    if (path[0] == '/' || stat(path, &st) == 0) {
        if (stat(path, &st) != 0)
            return zt_fail(ZT_ERR_INPUT, "%s file '%s' not found", what, path);
        snprintf(out, out_size, "%s", path);
        return ZT_OK;
    }
    char dirs[8][ZT_PATH_MAX];
    int n = add_env_dirs(dirs, 0, 8, "ZT_MODEL_PATH", "");
    n = add_dir(dirs, n, 8, ZT_SOURCE_DIR);
    n = add_dir(dirs, n, 8, ZT_DATA_DIR);
    for (int i = 0; i < n; i++) {
        char cand[ZT_PATH_MAX * 2];
        if (snprintf(cand, sizeof cand, "%s/%s", dirs[i], path) >= (int)sizeof cand) continue;
        if (stat(cand, &st) == 0) {
            snprintf(out, out_size, "%s", cand);
            return ZT_OK;
        }
    }
    return zt_fail(ZT_ERR_INPUT, "%s file '%s' not found (looked in the current directory, "
                   "$ZT_MODEL_PATH, %s and %s)", what, path, ZT_SOURCE_DIR, ZT_DATA_DIR);
}

int zt_frames_valid(int frames) { return frames >= 1 && (frames - 1) % 4 == 0; }

int64_t zt_parse_mem_size(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v <= 0) return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if ((*end == 'i' || *end == 'I') && mul > 1) end++; /* "4GiB" */
    if (*end == 'b' || *end == 'B') end++;
    if (*end || v * mul > 9e18 || v * mul < 1) return -1;
    return (int64_t)(v * mul);
}

/* A value's problem is the user's flag (usage) or a file's content (bad input). */
static zt_status bad_value(const zt_settings *s, const char *key, const char *fmt, ...)
    ZT_PRINTF(3, 4);
static zt_status bad_value(const zt_settings *s, const char *key, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *src = zt_settings_source(s, key);
    zt_status code = !strncmp(src, "--", 2) || !strcmp(src, "default") ? ZT_ERR_USAGE : ZT_ERR_INPUT;
    return zt_fail(code, "%s: %s", src, msg);
}

int zt_parse_device(const char *s) {
    if (!s || !strcmp(s, "cpu")) return -1;
    if (!strcmp(s, "cuda")) return 0;
    if (strncmp(s, "cuda:", 5) || !isdigit((unsigned char)s[5])) return -2;
    char *end;
    long n = strtol(s + 5, &end, 10);
    return *end || n > 64 ? -2 : (int)n;
}

zt_status zt_settings_validate(const zt_settings *s) {
    if (s->width % ZT_SIZE_MULTIPLE)
        return bad_value(s, "width", "width %d is not a multiple of %d (try %d)", s->width,
                         ZT_SIZE_MULTIPLE, (s->width + ZT_SIZE_MULTIPLE - 1) / ZT_SIZE_MULTIPLE * ZT_SIZE_MULTIPLE);
    if (s->height % ZT_SIZE_MULTIPLE)
        return bad_value(s, "height", "height %d is not a multiple of %d (try %d)", s->height,
                         ZT_SIZE_MULTIPLE, (s->height + ZT_SIZE_MULTIPLE - 1) / ZT_SIZE_MULTIPLE * ZT_SIZE_MULTIPLE);
    if (!zt_frames_valid(s->frames))
        return bad_value(s, "frames", "frames %d is not 4k+1 (try %d)", s->frames,
                         (s->frames + 2) / 4 * 4 + 1);
    if ((int64_t)s->width * s->height * s->frames > (int64_t)1 << 31)
        return bad_value(s, "frames", "%dx%d x %d frames is too large", s->width, s->height,
                         s->frames);
    if (s->max_memory && zt_parse_mem_size(s->max_memory) < 0)
        return bad_value(s, "max_memory", "max-memory '%s' is not a size like 4G or 6000M",
                         s->max_memory);
    if (s->max_gpu_memory && zt_parse_mem_size(s->max_gpu_memory) < 0)
        return bad_value(s, "max_gpu_memory",
                         "max-gpu-memory '%s' is not a size like 6G or 6000M", s->max_gpu_memory);
    const char *devs[3][2] = {{"device", s->device},
                              {"text_encoder_device", s->text_encoder_device},
                              {"vae_device", s->vae_device}};
    for (int i = 0; i < 3; i++)
        if (devs[i][1] && zt_parse_device(devs[i][1]) < -1)
            return bad_value(s, devs[i][0], "%s '%s' is not cpu, cuda or cuda:N", devs[i][0],
                             devs[i][1]);
    if (s->vae_tile > 0 && s->vae_tile_overlap >= s->vae_tile)
        return bad_value(s, "vae_tile_overlap", "vae-tile-overlap %d is not smaller than the "
                         "tile (%d)", s->vae_tile_overlap, s->vae_tile);
    if (!s->output || !*s->output) return bad_value(s, "output", "no output given");
    const char *codec = s->codec;
    if (!codec) {
        codec = zt_video_codec_for_path(s->output);
        if (!codec)
            return bad_value(s, "output", "cannot tell the output type of '%s' from its name "
                             "(use .mp4, .webm, .mkv, .gif, .y4m, a %%04d.png pattern, or --codec)",
                             s->output);
    }
    if (!strcmp(s->output, "-")) {
        if (strcmp(codec, "y4m") != 0)
            return bad_value(s, "output", "only y4m can be written to stdout (-o -)");
        return ZT_OK;
    }
    if (!strcmp(codec, "png")) return ZT_OK; /* a pattern or directory; the writer checks */
    zt_status r = zt_output_check(s->output, "output");
    if (r != ZT_OK) return zt_fail_wrap(r, "%s: ", zt_settings_source(s, "output"));
    return ZT_OK;
}

void zt_settings_foreach(const zt_settings *s, zt_settings_visit_fn fn, void *user) {
    char buf[64];
    for (int i = 0; i < NKEYS; i++) {
        const key_info *k = &keys[i];
        const void *field = (const char *)s + k->off;
        const char *v = buf;
        switch (k->kind) {
        case K_STR: v = *(char *const *)field; break;
        case K_INT: snprintf(buf, sizeof buf, "%d", *(const int *)field); break;
        case K_I64: snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)field); break;
        case K_U64:
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)field);
            break;
        case K_DOUBLE: snprintf(buf, sizeof buf, "%g", *(const double *)field); break;
        }
        fn(k->key, v, s->sources ? s->sources->src[i] : "default", user);
    }
}

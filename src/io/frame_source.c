#include "frame_source.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../core/status.h"

struct zt_frame_source {
    char **paths; /* owned, count entries */
    int64_t count;
    int64_t cap;
    int width, height;
    zt_image first; /* frame 0, kept from open until it is read */
};

void zt_frame_source_close(zt_frame_source *fs) {
    if (!fs) return;
    for (int64_t i = 0; i < fs->count; i++) free(fs->paths[i]);
    free(fs->paths);
    zt_image_free(&fs->first);
    free(fs);
}

static zt_status add_path(zt_frame_source *fs, const char *p) {
    if (fs->count == fs->cap) {
        int64_t cap = fs->cap ? fs->cap * 2 : 64;
        char **n = realloc(fs->paths, (size_t)cap * sizeof *n);
        if (!n) return zt_fail(ZT_ERR_NOMEM, "out of memory");
        fs->paths = n;
        fs->cap = cap;
    }
    if (!(fs->paths[fs->count] = strdup(p))) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    fs->count++;
    return ZT_OK;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

int zt_frame_pattern_check(const char *s) {
    int numbers = 0, any = 0;
    for (const char *p = s; *p; p++) {
        if (*p != '%') continue;
        any = 1;
        if (p[1] == '%') {
            p++;
            continue;
        }
        const char *q = p + 1;
        if (*q == '0') q++;
        for (int digits = 0; *q >= '0' && *q <= '9'; q++)
            if (++digits > 2) return -1;
        if (*q != 'd') return -1;
        numbers++;
        p = q;
    }
    return numbers == 1 ? 1 : any ? -1 : 0;
}

static zt_status scan_pattern(zt_frame_source *fs, const char *pattern) {
    char p[4096];
    if (zt_frame_pattern_check(pattern) != 1)
        return zt_fail(ZT_ERR_USAGE, "frames '%s': a pattern needs exactly one number like %%04d",
                       pattern);
    int64_t start = -1;
    for (int i = 0; i <= 4 && start < 0; i++) {
        snprintf(p, sizeof p, pattern, i);
        if (exists(p)) start = i;
    }
    if (start < 0) {
        char a[4096], b[4096];
        snprintf(a, sizeof a, pattern, 0);
        snprintf(b, sizeof b, pattern, 4);
        return zt_fail(ZT_ERR_INPUT, "frames '%s': no file matches (looked for %s to %s)", pattern,
                       a, b);
    }
    for (int64_t i = start; i <= INT32_MAX; i++) {
        snprintf(p, sizeof p, pattern, (int)i);
        if (!exists(p)) break;
        ZT_TRY(add_path(fs, p));
    }
    return ZT_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static zt_status scan_dir(zt_frame_source *fs, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return zt_fail(ZT_ERR_INPUT, "frames '%s': cannot open: %s", dir, strerror(errno));
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] == '/';
    zt_status st = ZT_OK;
    struct dirent *e;
    char p[4096 + 300];
    while (st == ZT_OK && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        /* hidden files include the writer's own temporaries */
        if (e->d_name[0] == '.' || len < 5 || strcasecmp(e->d_name + len - 4, ".png") != 0)
            continue;
        snprintf(p, sizeof p, "%s%s%s", dir, slash ? "" : "/", e->d_name);
        if (exists(p)) st = add_path(fs, p);
    }
    closedir(d);
    if (st != ZT_OK) return st;
    if (fs->count == 0) return zt_fail(ZT_ERR_INPUT, "frames '%s': holds no .png files", dir);
    qsort(fs->paths, (size_t)fs->count, sizeof *fs->paths, cmp_str);
    return ZT_OK;
}

zt_status zt_frame_source_open(zt_frame_source **out, const char *path) {
    if (!out) return zt_fail(ZT_ERR_USAGE, "zt_frame_source_open: no source pointer");
    *out = NULL;
    if (!path || !*path) return zt_fail(ZT_ERR_USAGE, "frames: empty path");
    if (strlen(path) >= 4000) return zt_fail(ZT_ERR_USAGE, "frames '%s': path too long", path);
    zt_frame_source *fs = calloc(1, sizeof *fs);
    if (!fs) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    struct stat sb;
    zt_status st;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        st = scan_dir(fs, path);
    } else if (strchr(path, '%')) {
        st = scan_pattern(fs, path);
    } else if (stat(path, &sb) != 0) {
        st = zt_fail(ZT_ERR_INPUT, "frames '%s': %s", path, strerror(errno));
    } else {
        st = zt_fail(ZT_ERR_INPUT,
                     "frames '%s': not a directory or a pattern like "
                     "frames/%%04d.png",
                     path);
    }
    if (st == ZT_OK) st = zt_image_load(fs->paths[0], 0, 0, &fs->first);
    if (st != ZT_OK) {
        zt_frame_source_close(fs);
        return st;
    }
    fs->width = fs->first.width;
    fs->height = fs->first.height;
    *out = fs;
    return ZT_OK;
}

int64_t zt_frame_source_count(const zt_frame_source *fs) {
    return fs ? fs->count : 0;
}
int zt_frame_source_width(const zt_frame_source *fs) {
    return fs ? fs->width : 0;
}
int zt_frame_source_height(const zt_frame_source *fs) {
    return fs ? fs->height : 0;
}

const char *zt_frame_source_path(const zt_frame_source *fs, int64_t i) {
    return fs && i >= 0 && i < fs->count ? fs->paths[i] : NULL;
}

zt_status zt_frame_source_read(zt_frame_source *fs, int64_t i, zt_image *out) {
    if (!fs || !out) return zt_fail(ZT_ERR_USAGE, "zt_frame_source_read: no source or image");
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= fs->count)
        return zt_fail(ZT_ERR_USAGE, "frames: index %lld is outside 0..%lld", (long long)i,
                       (long long)fs->count - 1);
    if (i == 0 && fs->first.rgb) {
        *out = fs->first; /* hand over the picture decoded at open */
        memset(&fs->first, 0, sizeof fs->first);
        return ZT_OK;
    }
    ZT_TRY(zt_image_load(fs->paths[i], 0, 0, out));
    if (out->width != fs->width || out->height != fs->height) {
        zt_status st =
            zt_fail(ZT_ERR_INPUT, "frames: '%s' is %dx%d, but '%s' is %dx%d", fs->paths[i],
                    out->width, out->height, fs->paths[0], fs->width, fs->height);
        zt_image_free(out);
        return st;
    }
    return ZT_OK;
}

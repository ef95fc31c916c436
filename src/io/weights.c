#include "weights.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/log.h"
#include "../core/status.h"
#include "pth.h"

/* A rule with its canonical pattern reduced to a skeleton: every "{}" and every run of
 * digits becomes "{}" (a slot). A name matches when its own skeleton (digit runs
 * taken out the same way) is equal and the literal slots hold the same digits. */
typedef struct rule {
    const char *stored;
    char *skeleton;
    int nslots;
    const char *lit[ZT_NAMING_MAX_SLOTS]; /* literal digits, or NULL for a capture */
    int litlen[ZT_NAMING_MAX_SLOTS];
} rule;

/* A name reduced the same way, in a stack buffer. */
typedef struct skel {
    char s[2 * ZT_WEIGHTS_NAME_MAX];
    int nslots;
    int pos[ZT_NAMING_MAX_SLOTS]; /* digit runs in the name */
    int len[ZT_NAMING_MAX_SLOTS];
} skel;

struct zt_weights {
    char *label;
    char *index_path;
    zt_safetensors **files;
    size_t n_files;
    size_t *first; /* global index of each file's first entry; [n_files] = total */
    char **imeta;  /* index metadata: key, value, ... */
    size_t n_imeta;

    const zt_naming *naming;
    rule *rules;
    size_t n_rules;
    uint32_t *slots; /* hash of skeletons: rule index + 1, 0 empty */
    size_t nslots;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* ---- naming ---------------------------------------------------------------------------- */

/* Reduce a name to its skeleton; -1 when too long or too many numbers to match a rule. */
static int skeletonize(const char *name, skel *k) {
    size_t o = 0;
    k->nslots = 0;
    for (int i = 0; name[i];) {
        if (o + 3 > sizeof k->s || i >= ZT_WEIGHTS_NAME_MAX) return -1;
        if (is_digit(name[i])) {
            if (k->nslots == ZT_NAMING_MAX_SLOTS) return -1;
            int j = i;
            while (is_digit(name[j])) j++;
            k->pos[k->nslots] = i;
            k->len[k->nslots++] = j - i;
            k->s[o++] = '{';
            k->s[o++] = '}';
            i = j;
        } else {
            k->s[o++] = name[i++];
        }
    }
    k->s[o] = '\0';
    return 0;
}

static int count_captures(const char *p) {
    int n = 0;
    for (; (p = strstr(p, "{}")) != NULL; p += 2) n++;
    return n;
}

static zt_status compile_rule(const zt_naming *nm, const zt_naming_rule *r, rule *out) {
    const char *p = r->canonical;
    size_t n = strlen(p);
    if (n >= ZT_WEIGHTS_NAME_MAX)
        return zt_fail(ZT_ERR_RUNTIME, "naming %s: pattern '%s' too long", nm->name, p);
    out->skeleton = malloc(2 * n + 1);
    if (!out->skeleton) return zt_fail(ZT_ERR_NOMEM, "naming %s: out of memory", nm->name);
    out->stored = r->stored;
    out->nslots = 0;
    size_t o = 0;
    int captures = 0;
    for (size_t i = 0; i < n;) {
        int cap = p[i] == '{' && p[i + 1] == '}';
        if (!cap && !is_digit(p[i])) {
            out->skeleton[o++] = p[i++];
            continue;
        }
        if (out->nslots == ZT_NAMING_MAX_SLOTS)
            return zt_fail(ZT_ERR_RUNTIME, "naming %s: '%s' has more than %d numbers", nm->name, p,
                           ZT_NAMING_MAX_SLOTS);
        size_t j = i;
        if (cap)
            j += 2;
        else
            while (is_digit(p[j])) j++;
        /* "{}" next to digits or another "{}" could not tell where its number ends */
        if ((i > 0 && (is_digit(p[i - 1]) || p[i - 1] == '}')) || is_digit(p[j]) ||
            (p[j] == '{' && p[j + 1] == '}'))
            return zt_fail(ZT_ERR_RUNTIME, "naming %s: '%s': ambiguous number at byte %zu",
                           nm->name, p, i);
        out->lit[out->nslots] = cap ? NULL : p + i;
        out->litlen[out->nslots++] = cap ? 0 : (int)(j - i);
        captures += cap;
        out->skeleton[o++] = '{';
        out->skeleton[o++] = '}';
        i = j;
    }
    out->skeleton[o] = '\0';
    if (!r->stored || count_captures(r->stored) != captures)
        return zt_fail(ZT_ERR_RUNTIME, "naming %s: '%s' -> '%s': numbers of {} differ", nm->name, p,
                       r->stored ? r->stored : "(null)");
    return ZT_OK;
}

static void free_rules(zt_weights *w) {
    for (size_t i = 0; i < w->n_rules; i++) free(w->rules[i].skeleton);
    free(w->rules);
    free(w->slots);
    w->rules = NULL;
    w->slots = NULL;
    w->n_rules = w->nslots = 0;
    w->naming = NULL;
}

zt_status zt_weights_set_naming(zt_weights *w, const zt_naming *nm) {
    free_rules(w);
    if (!nm) return ZT_OK;
    size_t n = 0;
    while (nm->rules && nm->rules[n].canonical) n++;
    w->naming = nm;
    w->rules = calloc(n ? n : 1, sizeof *w->rules);
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    w->slots = calloc(cap, sizeof *w->slots);
    if (!w->rules || !w->slots) {
        free_rules(w);
        return zt_fail(ZT_ERR_NOMEM, "naming %s: out of memory", nm->name);
    }
    w->nslots = cap;
    for (size_t i = 0; i < n; i++) {
        w->n_rules = i + 1;
        zt_status rc = compile_rule(nm, &nm->rules[i], &w->rules[i]);
        if (rc != ZT_OK) {
            free_rules(w);
            return rc;
        }
        size_t j = (size_t)hash_str(w->rules[i].skeleton) & (cap - 1);
        while (w->slots[j]) j = (j + 1) & (cap - 1);
        w->slots[j] = (uint32_t)(i + 1);
    }
    return ZT_OK;
}

const zt_naming *zt_weights_naming(const zt_weights *w) {
    return w->naming;
}

/* The earliest rule matching name, or NULL. */
static const rule *match_rule(const zt_weights *w, const char *name, const skel *k) {
    if (!w->nslots) return NULL;
    const rule *best = NULL;
    size_t mask = w->nslots - 1;
    for (size_t j = (size_t)hash_str(k->s) & mask; w->slots[j]; j = (j + 1) & mask) {
        const rule *r = &w->rules[w->slots[j] - 1];
        if (r->nslots != k->nslots || strcmp(r->skeleton, k->s) != 0) continue;
        if (best && r > best) continue;
        int ok = 1;
        for (int s = 0; s < r->nslots && ok; s++)
            ok = !r->lit[s] ||
                 (r->litlen[s] == k->len[s] && !memcmp(r->lit[s], name + k->pos[s], k->len[s]));
        if (ok) best = r;
    }
    return best;
}

zt_status zt_weights_stored_name(const zt_weights *w, const char *canonical, char *buf,
                                 size_t size) {
    const char *prefix = w->naming && w->naming->prefix ? w->naming->prefix : "";
    skel k;
    const rule *r = skeletonize(canonical, &k) == 0 ? match_rule(w, canonical, &k) : NULL;
    int n;
    if (!r) {
        n = snprintf(buf, size, "%s%s", prefix, canonical);
    } else {
        /* copy the stored pattern, filling each "{}" with the next captured number */
        n = snprintf(buf, size, "%s", prefix);
        int s = 0;
        for (const char *p = r->stored; *p && n >= 0 && (size_t)n < size;) {
            if (p[0] == '{' && p[1] == '}') {
                while (r->lit[s]) s++;
                n += snprintf(buf + n, size - (size_t)n, "%.*s", k.len[s], canonical + k.pos[s]);
                s++;
                p += 2;
            } else {
                buf[n++] = *p++;
                if ((size_t)n < size) buf[n] = '\0';
            }
        }
    }
    if (n < 0 || (size_t)n >= size)
        return zt_fail(ZT_ERR_RUNTIME, "tensor name '%s' too long", canonical);
    return ZT_OK;
}

/* ---- lookup ------------------------------------------------------------------------------ */

const zt_st_entry *zt_weights_find(const zt_weights *w, const char *stored,
                                   const zt_safetensors **file) {
    for (size_t i = 0; i < w->n_files; i++) {
        const zt_st_entry *e = zt_safetensors_find(w->files[i], stored);
        if (e) {
            if (file) *file = w->files[i];
            return e;
        }
    }
    return NULL;
}

typedef struct found {
    char canonical[ZT_WEIGHTS_NAME_MAX];
    char stored[ZT_WEIGHTS_NAME_MAX];
    const zt_safetensors *file;
    const zt_st_entry *e;
} found;

static zt_status lookup_v(const zt_weights *w, found *f, const char *fmt, va_list ap) {
    int n = vsnprintf(f->canonical, sizeof f->canonical, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof f->canonical)
        return zt_fail(ZT_ERR_RUNTIME, "tensor name '%s...' too long", f->canonical);
    ZT_TRY(zt_weights_stored_name(w, f->canonical, f->stored, sizeof f->stored));
    f->e = zt_weights_find(w, f->stored, &f->file);
    if (!f->e) {
        if (strcmp(f->stored, f->canonical) == 0)
            return zt_fail(ZT_ERR_INPUT, "%s: missing tensor '%s'", w->label, f->stored);
        return zt_fail(ZT_ERR_INPUT, "%s: missing tensor '%s' (canonical '%s')", w->label,
                       f->stored, f->canonical);
    }
    return ZT_OK;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && n < size; i++) {
        if (shape[i] < 0)
            n += (size_t)snprintf(buf + n, size - n, "%s*", i ? ", " : "");
        else
            n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (n < size) snprintf(buf + n, size - n, ")");
}

static zt_status check_shape(const found *f, int ndim, const int64_t *shape) {
    const zt_st_entry *e = f->e;
    int ok = e->ndim == ndim;
    for (int i = 0; i < ndim && ok; i++) ok = shape[i] < 0 || shape[i] == e->shape[i];
    if (!ok) {
        char got[160], want[160];
        zt_st_entry_shape_str(e, got, sizeof got);
        shape_text(ndim, shape, want, sizeof want);
        return zt_fail(ZT_ERR_INPUT, "%s: tensor '%s' has shape %s, expected %s",
                       zt_safetensors_path(f->file), e->name, got, want);
    }
    return ZT_OK;
}

int zt_weights_has(const zt_weights *w, const char *fmt, ...) {
    char canonical[ZT_WEIGHTS_NAME_MAX], stored[ZT_WEIGHTS_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(canonical, sizeof canonical, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof canonical) return 0;
    if (zt_weights_stored_name(w, canonical, stored, sizeof stored) != ZT_OK) return 0;
    return zt_weights_find(w, stored, NULL) != NULL;
}

zt_status zt_weights_get(const zt_weights *w, zt_tensor *out, const char *fmt, ...) {
    found f;
    va_list ap;
    va_start(ap, fmt);
    zt_status rc = lookup_v(w, &f, fmt, ap);
    va_end(ap);
    ZT_TRY(rc);
    return zt_safetensors_tensor(f.file, f.e, out);
}

zt_status zt_weights_get_shape(const zt_weights *w, zt_tensor *out, int ndim, const int64_t *shape,
                               const char *fmt, ...) {
    found f;
    va_list ap;
    va_start(ap, fmt);
    zt_status rc = lookup_v(w, &f, fmt, ap);
    va_end(ap);
    ZT_TRY(rc);
    if (!zt_dtype_is_float(f.e->dtype))
        return zt_fail(ZT_ERR_INPUT, "%s: tensor '%s' has dtype %s, expected a float type",
                       zt_safetensors_path(f.file), f.e->name, zt_dtype_name(f.e->dtype));
    ZT_TRY(check_shape(&f, ndim, shape));
    return zt_safetensors_tensor(f.file, f.e, out);
}

zt_status zt_weights_get_f32(const zt_weights *w, float *dst, int ndim, const int64_t *shape,
                             const char *fmt, ...) {
    found f;
    va_list ap;
    va_start(ap, fmt);
    zt_status rc = lookup_v(w, &f, fmt, ap);
    va_end(ap);
    ZT_TRY(rc);
    if (!zt_dtype_is_float(f.e->dtype) && f.e->dtype != ZT_F64)
        return zt_fail(ZT_ERR_INPUT, "%s: tensor '%s' has dtype %s, expected a float type",
                       zt_safetensors_path(f.file), f.e->name, zt_dtype_name(f.e->dtype));
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return zt_fail(ZT_ERR_RUNTIME, "zt_weights_get_f32: shape has -1");
    ZT_TRY(check_shape(&f, ndim, shape));
    return zt_safetensors_read_f32(f.file, f.e, dst, f.e->numel);
}

zt_status zt_weights_detect_naming(zt_weights *w, const zt_naming *namings, size_t n,
                                   const char *const *probes, size_t n_probes, size_t *chosen) {
    char tried[768] = "", stored[ZT_WEIGHTS_NAME_MAX];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        ZT_TRY(zt_weights_set_naming(w, &namings[i]));
        size_t p = 0;
        for (; p < n_probes; p++) {
            ZT_TRY(zt_weights_stored_name(w, probes[p], stored, sizeof stored));
            if (!zt_weights_find(w, stored, NULL)) break;
        }
        if (p == n_probes) {
            if (chosen) *chosen = i;
            ZT_LOGD("%s: tensor names follow the %s naming", w->label, namings[i].name);
            return ZT_OK;
        }
        if (used < sizeof tried)
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s lacks '%s'",
                                     i ? "; " : "", namings[i].name, stored);
    }
    zt_weights_set_naming(w, NULL);
    return zt_fail(ZT_ERR_INPUT, "%s: tensor names match no known naming (%s)", w->label,
                   n ? tried : "none given");
}

/* ---- opening -------------------------------------------------------------------------------- */

static zt_status weights_alloc(zt_weights **out) {
    *out = calloc(1, sizeof **out);
    return *out ? ZT_OK : zt_fail(ZT_ERR_NOMEM, "out of memory");
}

/* Open files[0..n) into w (w->files already sized) and check that no name repeats. */
static zt_status open_all(zt_weights *w, const char *const *paths, size_t n) {
    w->first = calloc(n + 1, sizeof *w->first);
    if (!w->first) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        /* torch.save zips read through pth.c into the same zt_safetensors */
        ZT_TRY(zt_pth_sniff(paths[i]) ? zt_pth_open(&w->files[i], paths[i])
                                      : zt_safetensors_open(&w->files[i], paths[i]));
        w->n_files = i + 1;
        const zt_safetensors *st = w->files[i];
        for (size_t t = 0; t < zt_safetensors_count(st); t++) {
            const char *name = zt_safetensors_entry(st, t)->name;
            for (size_t j = 0; j < i; j++)
                if (zt_safetensors_find(w->files[j], name))
                    return zt_fail(ZT_ERR_INPUT, "tensor '%s' is in both %s and %s", name,
                                   zt_safetensors_path(w->files[j]), paths[i]);
        }
        w->first[i + 1] = w->first[i] + zt_safetensors_count(st);
    }
    return ZT_OK;
}

zt_status zt_weights_open_files(zt_weights **out, const char *const *paths, size_t n) {
    *out = NULL;
    if (n == 0) return zt_fail(ZT_ERR_INPUT, "no model files given");
    zt_weights *w;
    ZT_TRY(weights_alloc(&w));
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(paths[i]) + 2;
    w->label = malloc(len);
    w->files = calloc(n, sizeof *w->files);
    zt_status rc = ZT_OK;
    if (!w->label || !w->files) rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
    if (rc == ZT_OK) {
        w->label[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (i) strcat(w->label, ", ");
            strcat(w->label, paths[i]);
        }
        rc = open_all(w, paths, n);
    }
    if (rc != ZT_OK) {
        zt_weights_close(w);
        return rc;
    }
    *out = w;
    return ZT_OK;
}

/* Small string -> index hash set for the index's shard names. */
typedef struct strmap {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} strmap;

static size_t *strmap_slot(strmap *m, const char *key, int *fresh) {
    size_t j = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key) != 0) j = (j + 1) & (m->cap - 1);
    *fresh = !m->keys[j];
    if (*fresh) {
        m->keys[j] = key;
        m->n++;
    }
    return &m->vals[j];
}

static zt_status read_small_file(const char *path, size_t limit, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    zt_status rc = ZT_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        rc = zt_fail(ZT_ERR_INPUT, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > limit)
        rc = zt_fail(ZT_ERR_INPUT, "%s: %lld bytes, too large for an index", path,
                     (long long)sb.st_size);
    if (rc == ZT_OK) {
        *text = malloc((size_t)sb.st_size + 1);
        if (!*text)
            rc = zt_fail(ZT_ERR_NOMEM, "%s: out of memory", path);
        else if (fread(*text, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
            rc = zt_fail(ZT_ERR_INPUT, "%s: read error", path);
            free(*text);
            *text = NULL;
        } else {
            *len = (size_t)sb.st_size;
        }
    }
    fclose(f);
    return rc;
}

/* A shard name from an index: relative, inside the index's directory tree. */
static int shard_name_ok(const char *s) {
    if (!*s || s[0] == '/') return 0;
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
        p += n + (q != NULL);
    }
    return 1;
}

static zt_status index_metadata(zt_weights *w, json_t *meta) {
    const char *ip = w->index_path;
    if (!meta) return ZT_OK;
    if (!json_is_object(meta))
        return zt_fail(ZT_ERR_INPUT, "%s: \"metadata\" is not an object", ip);
    w->imeta = calloc(2 * json_object_size(meta) + 1, sizeof *w->imeta);
    if (!w->imeta) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                                       : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *key = strdup(k);
        w->imeta[2 * w->n_imeta] = key;
        w->imeta[2 * w->n_imeta + 1] = text;
        w->n_imeta++;
        if (!key || !text) return zt_fail(ZT_ERR_NOMEM, "out of memory");
    }
    return ZT_OK;
}

static zt_status open_index_into(zt_weights *w, const char *ipath) {
    char *text = NULL;
    size_t len = 0;
    ZT_TRY(read_small_file(ipath, ZT_ST_MAX_HEADER, &text, &len));
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root)
        return zt_fail(ZT_ERR_INPUT, "%s: not a valid index: %s (line %d)", ipath, err.text,
                       err.line);

    zt_status rc = ZT_OK;
    strmap m = {0};
    const char **paths = NULL;
    char *pathbuf = NULL;
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(root) || !json_is_object(map) || json_object_size(map) == 0) {
        rc = zt_fail(ZT_ERR_INPUT, "%s: not an index: no \"weight_map\" object of tensors", ipath);
        goto done;
    }
    rc = index_metadata(w, json_object_get(root, "metadata"));
    if (rc != ZT_OK) goto done;

    /* distinct shards in order of first mention */
    size_t nmap = json_object_size(map);
    m.cap = 16;
    while (m.cap < 2 * nmap) m.cap *= 2;
    m.keys = calloc(m.cap, sizeof *m.keys);
    m.vals = calloc(m.cap, sizeof *m.vals);
    const char **order = calloc(nmap, sizeof *order);
    paths = (const char **)order;
    if (!m.keys || !m.vals || !order) {
        rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *name;
    json_t *v;
    size_t dirlen = strrchr(ipath, '/') ? (size_t)(strrchr(ipath, '/') - ipath) + 1 : 0;
    size_t pathbytes = 0;
    json_object_foreach(map, name, v) {
        const char *shard = json_string_value(v);
        if (!json_is_string(v)) {
            rc = zt_fail(ZT_ERR_INPUT, "%s: weight_map entry of tensor '%s' is not a file name",
                         ipath, name);
            goto done;
        }
        if (!shard_name_ok(shard)) {
            rc = zt_fail(ZT_ERR_INPUT,
                         "%s: tensor '%s' is mapped to '%s'; expected a relative file name", ipath,
                         name, shard);
            goto done;
        }
        int fresh;
        size_t *slot = strmap_slot(&m, shard, &fresh);
        if (fresh) {
            *slot = m.n - 1;
            order[m.n - 1] = shard;
            pathbytes += dirlen + strlen(shard) + 1;
        }
    }

    /* shard paths resolved against the index's directory */
    pathbuf = malloc(pathbytes);
    w->files = calloc(m.n, sizeof *w->files);
    if (!pathbuf || !w->files) {
        rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
        goto done;
    }
    char *c = pathbuf;
    for (size_t i = 0; i < m.n; i++) {
        int n = sprintf(c, "%.*s%s", (int)dirlen, ipath, order[i]);
        paths[i] = c;
        c += n + 1;
    }
    rc = open_all(w, paths, m.n);
    if (rc != ZT_OK) {
        zt_fail_wrap(rc, "%s: ", ipath);
        goto done;
    }
    json_object_foreach(map, name, v) {
        int fresh;
        const zt_safetensors *st = w->files[*strmap_slot(&m, json_string_value(v), &fresh)];
        if (!zt_safetensors_find(st, name)) {
            rc = zt_fail(ZT_ERR_INPUT, "%s: tensor '%s' is mapped to %s but is not in it", ipath,
                         name, zt_safetensors_path(st));
            goto done;
        }
    }
done:
    free(m.keys);
    free(m.vals);
    free(paths);
    free(pathbuf);
    json_decref(root);
    return rc;
}

static zt_status open_index(zt_weights **out, const char *ipath) {
    zt_weights *w;
    ZT_TRY(weights_alloc(&w));
    w->label = strdup(ipath);
    w->index_path = strdup(ipath);
    zt_status rc = w->label && w->index_path ? open_index_into(w, ipath)
                                             : zt_fail(ZT_ERR_NOMEM, "out of memory");
    if (rc != ZT_OK) {
        zt_weights_close(w);
        return rc;
    }
    *out = w;
    return ZT_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "dir/X-00001-of-00003.safetensors" -> "dir/X.safetensors.index.json", or 0. */
static int shard_index_path(const char *path, char *buf, size_t size) {
    const char *ext = ".safetensors";
    if (!ends_with(path, ext)) return 0;
    size_t stem = strlen(path) - strlen(ext);
    /* walk back over "-DIGITS-of-DIGITS" */
    size_t i = stem;
    while (i > 0 && is_digit(path[i - 1])) i--;
    if (i == stem || i < 4 || memcmp(path + i - 4, "-of-", 4) != 0) return 0;
    size_t j = i - 4;
    while (j > 0 && is_digit(path[j - 1])) j--;
    if (j == i - 4 || j == 0 || path[j - 1] != '-') return 0;
    int n = snprintf(buf, size, "%.*s.safetensors.index.json", (int)(j - 1), path);
    return n > 0 && (size_t)n < size;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: its one index, else its one .safetensors file, else its one .pth file. */
static zt_status open_dir(zt_weights **out, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", dir, strerror(errno));
    char *idx[2] = {0}, *st[2] = {0}, *pth = NULL;
    size_t n_idx = 0, n_st = 0, n_pth = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (ends_with(de->d_name, ".safetensors.index.json")) {
            if (n_idx < 2) idx[n_idx] = strdup(de->d_name);
            n_idx++;
        } else if (ends_with(de->d_name, ".safetensors")) {
            if (n_st < 2) st[n_st] = strdup(de->d_name);
            n_st++;
        } else if (ends_with(de->d_name, ".pth")) {
            if (!n_pth++) pth = strdup(de->d_name);
        }
    }
    closedir(d);
    if (n_idx >= 2) qsort(idx, 2, sizeof *idx, name_cmp);
    if (n_st >= 2) qsort(st, 2, sizeof *st, name_cmp);
    zt_status rc;
    const char *pick = n_idx == 1                              ? idx[0]
                       : n_idx == 0 && n_st == 1               ? st[0]
                       : n_idx == 0 && n_st == 0 && n_pth == 1 ? pth
                                                               : NULL;
    if (n_idx > 1)
        rc = zt_fail(ZT_ERR_INPUT, "%s: %zu index files (%s, %s, ...); name one", dir, n_idx,
                     idx[0] ? idx[0] : "?", idx[1] ? idx[1] : "?");
    else if (n_idx == 0 && n_st == 0 && n_pth == 0)
        rc = zt_fail(ZT_ERR_INPUT, "%s: no .safetensors file or index in the directory", dir);
    else if (n_idx == 0 && n_st == 0 && n_pth > 1)
        rc = zt_fail(ZT_ERR_INPUT, "%s: %zu .pth files and no .safetensors; name one", dir, n_pth);
    else if (!pick)
        rc =
            zt_fail(ZT_ERR_INPUT, "%s: %zu .safetensors files (%s, %s, ...) and no index; name one",
                    dir, n_st, st[0] ? st[0] : "?", st[1] ? st[1] : "?");
    else {
        char *path = malloc(strlen(dir) + strlen(pick) + 2);
        if (!path)
            rc = zt_fail(ZT_ERR_NOMEM, "out of memory");
        else {
            sprintf(path, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", pick);
            rc =
                n_idx ? open_index(out, path) : zt_weights_open_files(out, (const char **)&path, 1);
            free(path);
        }
    }
    free(idx[0]);
    free(idx[1]);
    free(st[0]);
    free(st[1]);
    free(pth);
    return rc;
}

zt_status zt_weights_open(zt_weights **out, const char *path) {
    *out = NULL;
    if (!path || !*path) return zt_fail(ZT_ERR_INPUT, "no model file given");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return open_dir(out, path);
    if (ends_with(path, ".json")) return open_index(out, path);
    char ipath[4096];
    if (shard_index_path(path, ipath, sizeof ipath) && stat(ipath, &sb) == 0) {
        ZT_TRY(open_index(out, ipath));
        /* the index must own the shard we were given, or it is some other model's */
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        for (size_t i = 0; i < (*out)->n_files; i++) {
            const char *fp = zt_safetensors_path((*out)->files[i]);
            const char *fb = strrchr(fp, '/') ? strrchr(fp, '/') + 1 : fp;
            if (strcmp(fb, base) == 0) return ZT_OK;
        }
        zt_weights_close(*out);
        *out = NULL;
        return zt_fail(ZT_ERR_INPUT, "%s: the index beside it (%s) does not list it", path, ipath);
    }
    return zt_weights_open_files(out, &path, 1);
}

void zt_weights_close(zt_weights *w) {
    if (!w) return;
    free_rules(w);
    for (size_t i = 0; i < w->n_files; i++) zt_safetensors_close(w->files[i]);
    free(w->files);
    free(w->first);
    for (size_t i = 0; i < 2 * w->n_imeta; i++) free(w->imeta[i]);
    free(w->imeta);
    free(w->label);
    free(w->index_path);
    free(w);
}

/* ---- accessors ---------------------------------------------------------------------------- */

const char *zt_weights_path(const zt_weights *w) {
    return w->label;
}
const char *zt_weights_index_path(const zt_weights *w) {
    return w->index_path;
}
size_t zt_weights_file_count(const zt_weights *w) {
    return w->n_files;
}
size_t zt_weights_index_metadata_count(const zt_weights *w) {
    return w->n_imeta;
}
size_t zt_weights_count(const zt_weights *w) {
    return w->first ? w->first[w->n_files] : 0;
}

const zt_safetensors *zt_weights_file(const zt_weights *w, size_t i) {
    return i < w->n_files ? w->files[i] : NULL;
}

const char *zt_weights_index_metadata_key(const zt_weights *w, size_t i) {
    return i < w->n_imeta ? w->imeta[2 * i] : NULL;
}

const char *zt_weights_index_metadata_value(const zt_weights *w, size_t i) {
    return i < w->n_imeta ? w->imeta[2 * i + 1] : NULL;
}

const zt_st_entry *zt_weights_entry(const zt_weights *w, size_t i, const zt_safetensors **file) {
    for (size_t f = 0; f < w->n_files; f++) {
        if (i < w->first[f + 1]) {
            if (file) *file = w->files[f];
            return zt_safetensors_entry(w->files[f], i - w->first[f]);
        }
    }
    return NULL;
}

#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/status.h"

struct zt_safetensors {
    char *path;
    const uint8_t *base; /* whole file */
    size_t size;
    int mapped;          /* base came from mmap (else the caller's memory) */
    const uint8_t *data; /* base + 8 + header length */
    uint64_t data_size;
    zt_st_entry *entries;
    size_t count;
    uint32_t *slots;   /* open addressing: entry index + 1, 0 empty */
    size_t nslots;     /* power of two */
    const char **meta; /* key, value, key, value ... (into pool) */
    size_t n_meta;
    char *pool; /* names and metadata strings */
};

/* ---- messages ----------------------------------------------------------------------- */

/* "path: tensor 'name': what" (tensor part omitted when name is NULL). */
static zt_status bad(const zt_safetensors *st, const char *tensor, const char *fmt, ...)
    ZT_PRINTF(3, 4);
static zt_status bad(const zt_safetensors *st, const char *tensor, const char *fmt, ...) {
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (tensor) return zt_fail(ZT_ERR_INPUT, "%s: tensor '%s': %s", st->path, tensor, what);
    return zt_fail(ZT_ERR_INPUT, "%s: %s", st->path, what);
}

/* ---- hash table of names -------------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static zt_status build_index(zt_safetensors *st) {
    size_t n = 16;
    while (n < 2 * st->count) n *= 2;
    st->slots = calloc(n, sizeof *st->slots);
    if (!st->slots) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", st->path);
    st->nslots = n;
    for (size_t i = 0; i < st->count; i++) {
        size_t j = (size_t)hash_str(st->entries[i].name) & (n - 1);
        while (st->slots[j]) j = (j + 1) & (n - 1);
        st->slots[j] = (uint32_t)(i + 1);
    }
    return ZT_OK;
}

const zt_st_entry *zt_safetensors_find(const zt_safetensors *st, const char *name) {
    if (!st || !st->nslots || !name) return NULL;
    size_t mask = st->nslots - 1;
    for (size_t j = (size_t)hash_str(name) & mask; st->slots[j]; j = (j + 1) & mask) {
        const zt_st_entry *e = &st->entries[st->slots[j] - 1];
        if (strcmp(e->name, name) == 0) return e;
    }
    return NULL;
}

/* ---- header validation ----------------------------------------------------------------- */

static char *pool_add(char **cursor, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = *cursor;
    memcpy(p, s, n);
    *cursor += n;
    return p;
}

char *zt_st_entry_shape_str(const zt_st_entry *e, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < e->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)e->shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
    return buf;
}

static zt_status parse_entry(zt_safetensors *st, const char *name, json_t *v, zt_st_entry *e) {
    if (!json_is_object(v)) return bad(st, name, "entry is not a JSON object");

    json_t *jd = json_object_get(v, "dtype");
    if (!json_is_string(jd)) return bad(st, name, "missing or non-string \"dtype\"");
    if (zt_dtype_parse(json_string_value(jd), &e->dtype) != 0)
        return bad(st, name, "unknown dtype '%s'", json_string_value(jd));

    json_t *js = json_object_get(v, "shape");
    if (!json_is_array(js)) return bad(st, name, "missing or non-array \"shape\"");
    if (json_array_size(js) > ZT_ST_MAX_DIMS)
        return bad(st, name, "%zu dimensions, at most %d supported", json_array_size(js),
                   ZT_ST_MAX_DIMS);
    e->ndim = (int)json_array_size(js);
    uint64_t numel = 1;
    for (int i = 0; i < e->ndim; i++) {
        json_t *d = json_array_get(js, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return bad(st, name, "shape must be an array of non-negative integers");
        e->shape[i] = (int64_t)json_integer_value(d);
        if (__builtin_mul_overflow(numel, (uint64_t)e->shape[i], &numel) ||
            numel > (uint64_t)INT64_MAX)
            return bad(st, name, "shape has too many elements");
    }
    e->numel = (int64_t)numel;
    if (__builtin_mul_overflow(numel, (uint64_t)zt_dtype_size(e->dtype), &e->nbytes))
        return bad(st, name, "shape has too many bytes");

    json_t *jo = json_object_get(v, "data_offsets");
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(jb) ||
        !json_is_integer(je) || json_integer_value(jb) < 0 || json_integer_value(je) < 0)
        return bad(st, name, "\"data_offsets\" must be [begin, end], two non-negative integers");
    uint64_t b = (uint64_t)json_integer_value(jb), end = (uint64_t)json_integer_value(je);
    if (b > end)
        return bad(st, name, "data_offsets [%llu, %llu] begin after end", (unsigned long long)b,
                   (unsigned long long)end);
    if (end > st->data_size)
        return bad(st, name, "data_offsets [%llu, %llu] past the end of the data (%llu bytes)",
                   (unsigned long long)b, (unsigned long long)end,
                   (unsigned long long)st->data_size);
    if (end - b != e->nbytes) {
        char sh[160];
        zt_st_entry_shape_str(e, sh, sizeof sh);
        return bad(st, name,
                   "shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu", sh,
                   zt_dtype_name(e->dtype), (unsigned long long)e->nbytes, (unsigned long long)b,
                   (unsigned long long)end, (unsigned long long)(end - b));
    }
    e->offset = b;
    return ZT_OK;
}

static zt_status parse_metadata(zt_safetensors *st, json_t *m, char **cursor) {
    if (!json_is_object(m)) return bad(st, NULL, "\"__metadata__\" is not an object of strings");
    st->meta = calloc(2 * json_object_size(m) + 1, sizeof *st->meta);
    if (!st->meta) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", st->path);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return bad(st, NULL, "\"__metadata__\" value of '%s' is not a string", k);
        st->meta[2 * st->n_meta] = pool_add(cursor, k);
        st->meta[2 * st->n_meta + 1] = pool_add(cursor, json_string_value(v));
        st->n_meta++;
    }
    return ZT_OK;
}

typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static zt_status check_overlaps(zt_safetensors *st) {
    if (st->count < 2) return ZT_OK;
    span *s = malloc(st->count * sizeof *s);
    if (!s) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", st->path);
    size_t n = 0;
    for (size_t i = 0; i < st->count; i++) {
        const zt_st_entry *e = &st->entries[i];
        /* an empty tensor owns no bytes, wherever it points */
        if (e->nbytes) s[n++] = (span){e->offset, e->offset + e->nbytes, i};
    }
    qsort(s, n, sizeof *s, span_cmp);
    zt_status rc = ZT_OK;
    for (size_t i = 1; i < n; i++) {
        if (s[i].begin < s[i - 1].end) {
            const zt_st_entry *a = &st->entries[s[i - 1].index], *b = &st->entries[s[i].index];
            rc = bad(st, NULL, "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", a->name,
                     (unsigned long long)s[i - 1].begin, (unsigned long long)s[i - 1].end, b->name,
                     (unsigned long long)s[i].begin, (unsigned long long)s[i].end);
            break;
        }
    }
    free(s);
    return rc;
}

/* Why a header length is out of bounds: recognise what else the file might be. */
static const char *not_safetensors_hint(const uint8_t *p, size_t size) {
    if (size >= 4 && !memcmp(p, "PK\x03\x04", 4))
        return "a zip archive (a PyTorch .pt/.pth checkpoint?), not safetensors";
    if (size >= 4 && !memcmp(p, "GGUF", 4)) return "a GGUF file, not safetensors";
    if (p[0] == '{' || p[0] == '[') return "JSON text, not safetensors";
    return "not a safetensors file?";
}

static zt_status parse_header(zt_safetensors *st, const char *text, size_t len) {
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (json_error_code(&err) == json_error_duplicate_key) {
            /* jansson says: duplicate object key near '"name"' */
            const char *q = strstr(err.text, "near '\"");
            char name[JSON_ERROR_TEXT_LENGTH] = "?";
            if (q) {
                snprintf(name, sizeof name, "%s", q + 7);
                size_t n = strlen(name);
                if (n >= 2 && name[n - 1] == '\'' && name[n - 2] == '"') name[n - 2] = '\0';
            }
            return bad(st, NULL, "header has the name '%s' twice (duplicate key)", name);
        }
        return bad(st, NULL, "header is not valid JSON: %s (at byte %d of %zu)", err.text,
                   err.position, len);
    }
    zt_status rc = ZT_OK;
    if (!json_is_object(root)) {
        rc = bad(st, NULL, "header is not a JSON object");
        goto done;
    }

    /* one pool for every name and metadata string */
    size_t pool_size = 1;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (json_is_object(v)) json_object_foreach(v, mk, mv) {
                    pool_size += strlen(mk) + 1 +
                                 (json_is_string(mv) ? strlen(json_string_value(mv)) : 0) + 1;
                }
        } else {
            st->count++;
            pool_size += strlen(k) + 1;
        }
    }
    st->pool = malloc(pool_size);
    st->entries = calloc(st->count ? st->count : 1, sizeof *st->entries);
    if (!st->pool || !st->entries) {
        rc = zt_fail(ZT_ERR_NOMEM, "%s: out of memory", st->path);
        goto done;
    }
    if (st->count > UINT32_MAX - 1) {
        rc = bad(st, NULL, "too many tensors (%zu)", st->count);
        goto done;
    }
    char *cursor = st->pool;
    size_t i = 0;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__") == 0) {
            rc = parse_metadata(st, v, &cursor);
        } else {
            rc = parse_entry(st, k, v, &st->entries[i]);
            st->entries[i++].name = pool_add(&cursor, k);
        }
        if (rc != ZT_OK) goto done;
    }
    rc = check_overlaps(st);
    if (rc == ZT_OK) rc = build_index(st);
done:
    json_decref(root);
    return rc;
}

static zt_status validate(zt_safetensors *st) {
    if (st->size == 0) return bad(st, NULL, "empty file, not a safetensors file");
    if (st->size < 8)
        return bad(st, NULL, "file too short (%zu bytes) for a safetensors header", st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | st->base[i];
    uint64_t rest = st->size - 8;
    if (hlen > ZT_ST_MAX_HEADER)
        return bad(st, NULL, "header length %llu is implausible (limit %llu); %s",
                   (unsigned long long)hlen, (unsigned long long)ZT_ST_MAX_HEADER,
                   not_safetensors_hint(st->base, st->size));
    if (hlen > rest)
        return bad(st, NULL,
                   "header length %llu runs past the end of the file (%llu bytes after the "
                   "length); truncated file?",
                   (unsigned long long)hlen, (unsigned long long)rest);
    st->data = st->base + 8 + hlen;
    st->data_size = rest - hlen;
    return parse_header(st, (const char *)st->base + 8, (size_t)hlen);
}

/* ---- open / close ------------------------------------------------------------------------ */

static zt_status st_alloc(zt_safetensors **out, const char *path) {
    zt_safetensors *st = calloc(1, sizeof *st);
    if (st) st->path = strdup(path ? path : "(null)");
    if (!st || !st->path) {
        free(st);
        return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = st;
    return ZT_OK;
}

zt_status zt_safetensors_open(zt_safetensors **out, const char *path) {
    *out = NULL;
    if (!path || !*path) return zt_fail(ZT_ERR_INPUT, "no model file given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return zt_fail(ZT_ERR_INPUT, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return zt_fail(ZT_ERR_INPUT, "%s: is a directory, not a safetensors file", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return zt_fail(ZT_ERR_INPUT, "%s: not a regular file", path);
    }
    zt_safetensors *st = NULL;
    zt_status rc = st_alloc(&st, path);
    if (rc != ZT_OK) {
        close(fd);
        return rc;
    }
    st->size = (size_t)sb.st_size;
    if (st->size > 0) {
        void *p = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            zt_safetensors_close(st);
            return zt_fail(ZT_ERR_INPUT, "%s: cannot map: %s", path, strerror(e));
        }
        st->base = p;
        st->mapped = 1;
    }
    close(fd); /* the mapping keeps the file */
    rc = validate(st);
    if (rc != ZT_OK) {
        zt_safetensors_close(st);
        return rc;
    }
    *out = st;
    return ZT_OK;
}

zt_status zt_safetensors_open_memory(zt_safetensors **out, const char *label, const void *data,
                                     size_t size) {
    *out = NULL;
    zt_safetensors *st = NULL;
    ZT_TRY(st_alloc(&st, label));
    st->base = data;
    st->size = data ? size : 0;
    zt_status rc = validate(st);
    if (rc != ZT_OK) {
        zt_safetensors_close(st);
        return rc;
    }
    *out = st;
    return ZT_OK;
}

/* Entries from pth.c: the same checks parse_entry makes on a header, except overlaps. */
static zt_status check_given_entry(zt_safetensors *st, const zt_st_entry *e) {
    if (!e->name) return bad(st, NULL, "tensor without a name");
    if ((unsigned)e->dtype >= ZT_DTYPE_COUNT) return bad(st, e->name, "unknown dtype");
    if (e->ndim < 0 || e->ndim > ZT_ST_MAX_DIMS)
        return bad(st, e->name, "%d dimensions, at most %d supported", e->ndim, ZT_ST_MAX_DIMS);
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)e->shape[i], &numel))
            return bad(st, e->name, "bad shape");
    if (numel != (uint64_t)e->numel ||
        __builtin_mul_overflow(numel, (uint64_t)zt_dtype_size(e->dtype), &nbytes) ||
        nbytes != e->nbytes)
        return bad(st, e->name, "element or byte count does not match the shape");
    if (e->offset > st->data_size || e->nbytes > st->data_size - e->offset)
        return bad(st, e->name, "bytes [%llu, +%llu) lie outside the file (%llu bytes)",
                   (unsigned long long)e->offset, (unsigned long long)e->nbytes,
                   (unsigned long long)st->data_size);
    return ZT_OK;
}

zt_status zt_safetensors_from_entries(zt_safetensors **out, const char *path, const void *base,
                                      size_t size, int mapped, const zt_st_entry *entries,
                                      size_t count) {
    *out = NULL;
    zt_safetensors *st = NULL;
    ZT_TRY(st_alloc(&st, path));
    st->base = base;
    st->size = base ? size : 0;
    st->data = st->base;
    st->data_size = st->size;
    zt_status rc = ZT_OK;
    size_t pool_size = 1;
    for (size_t i = 0; i < count && rc == ZT_OK; i++) {
        rc = check_given_entry(st, &entries[i]);
        if (rc == ZT_OK) pool_size += strlen(entries[i].name) + 1;
    }
    if (rc == ZT_OK && count > UINT32_MAX - 1) rc = bad(st, NULL, "too many tensors (%zu)", count);
    if (rc == ZT_OK) {
        st->pool = malloc(pool_size);
        st->entries = calloc(count ? count : 1, sizeof *st->entries);
        if (!st->pool || !st->entries) rc = zt_fail(ZT_ERR_NOMEM, "%s: out of memory", path);
    }
    if (rc == ZT_OK) {
        char *cursor = st->pool;
        for (size_t i = 0; i < count; i++) {
            st->entries[i] = entries[i];
            st->entries[i].name = pool_add(&cursor, entries[i].name);
        }
        st->count = count;
        rc = build_index(st);
    }
    /* the index probes in insertion order, so a repeated name finds its first copy */
    for (size_t i = 0; i < st->count && rc == ZT_OK; i++)
        if (zt_safetensors_find(st, st->entries[i].name) != &st->entries[i])
            rc = bad(st, NULL, "the name '%s' appears twice", st->entries[i].name);
    if (rc != ZT_OK) {
        zt_safetensors_close(st); /* the caller still owns base */
        return rc;
    }
    st->mapped = mapped;
    *out = st;
    return ZT_OK;
}

void zt_safetensors_close(zt_safetensors *st) {
    if (!st) return;
    if (st->mapped) munmap((void *)st->base, st->size);
    free(st->entries);
    free(st->slots);
    free(st->meta);
    free(st->pool);
    free(st->path);
    free(st);
}

/* ---- accessors ---------------------------------------------------------------------------- */

const char *zt_safetensors_path(const zt_safetensors *st) {
    return st->path;
}
size_t zt_safetensors_count(const zt_safetensors *st) {
    return st->count;
}
uint64_t zt_safetensors_data_size(const zt_safetensors *st) {
    return st->data_size;
}

const zt_st_entry *zt_safetensors_entry(const zt_safetensors *st, size_t i) {
    return i < st->count ? &st->entries[i] : NULL;
}

const void *zt_safetensors_data(const zt_safetensors *st, const zt_st_entry *e) {
    return st->data + e->offset;
}

size_t zt_safetensors_metadata_count(const zt_safetensors *st) {
    return st->n_meta;
}

const char *zt_safetensors_metadata_key(const zt_safetensors *st, size_t i) {
    return i < st->n_meta ? st->meta[2 * i] : NULL;
}

const char *zt_safetensors_metadata_value(const zt_safetensors *st, size_t i) {
    return i < st->n_meta ? st->meta[2 * i + 1] : NULL;
}

const char *zt_safetensors_metadata_get(const zt_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

zt_status zt_safetensors_tensor(const zt_safetensors *st, const zt_st_entry *e, zt_tensor *out) {
    if (e->ndim > ZT_MAX_DIMS)
        return bad(st, e->name, "%d dimensions, at most %d supported here", e->ndim, ZT_MAX_DIMS);
    const void *p = zt_safetensors_data(st, e);
    size_t es = zt_dtype_size(e->dtype);
    /* typed loads through a misaligned pointer are undefined behaviour */
    if ((uintptr_t)p % es != 0)
        return bad(st, e->name, "data at file offset %llu is not aligned to %zu bytes",
                   (unsigned long long)((uint64_t)(st->data - st->base) + e->offset), es);
    *out = zt_tensor_make(e->dtype, e->ndim, e->shape, (void *)p);
    return ZT_OK;
}

/* n elements of any dtype from aligned memory to f32 */
static void convert_aligned(float *dst, const void *src, zt_dtype dt, size_t n) {
    switch (dt) {
    case ZT_F64:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i];
        break;
    case ZT_I64:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i];
        break;
    case ZT_I32:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i];
        break;
    case ZT_I16:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int16_t *)src)[i];
        break;
    case ZT_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i];
        break;
    case ZT_U8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i];
        break;
    case ZT_BOOL:
        for (size_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)src)[i] ? 1.0f : 0.0f;
        break;
    default:
        zt_convert_to_f32(dst, src, dt, (int64_t)n);
        break;
    }
}

zt_status zt_safetensors_read_f32(const zt_safetensors *st, const zt_st_entry *e, float *dst,
                                  int64_t n) {
    if (n != e->numel)
        return zt_fail(ZT_ERR_RUNTIME, "%s: tensor '%s': reading %lld of %lld elements", st->path,
                       e->name, (long long)n, (long long)e->numel);
    /* staged through an aligned buffer: the mapped data may be unaligned */
    union {
        double align;
        uint8_t b[4096];
    } buf;
    size_t es = zt_dtype_size(e->dtype), per = sizeof buf.b / es;
    const uint8_t *src = zt_safetensors_data(st, e);
    for (size_t i = 0; i < (size_t)n; i += per) {
        size_t k = (size_t)n - i < per ? (size_t)n - i : per;
        memcpy(buf.b, src + i * es, k * es);
        convert_aligned(dst + i, buf.b, e->dtype, k);
    }
    return ZT_OK;
}

#include "pth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/status.h"

/* ---- the reader's state ------------------------------------------------------------------ */

/* One record of the zip's central directory; name points into the file. */
typedef struct zip_entry {
    const uint8_t *name;
    size_t name_len;
    unsigned method, flags;
    uint64_t csize, size, local; /* compressed and real size, local header offset */
} zip_entry;

typedef enum pk_type {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR,
    PK_TUPLE,
    PK_LIST,
    PK_DICT, /* items hold key, value, key, value ... */
    PK_GLOBAL,
    PK_STORAGE,
    PK_TENSOR,
} pk_type;

static const char *const pk_type_name[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                           "list", "dict", "global", "storage", "tensor"};

/* A pickle value. Values refer to each other by index, so the memo may alias them. */
typedef struct pk_obj {
    pk_type type;
    uint32_t n, cap; /* items of a container; bytes of a string */
    union {
        int64_t i;
        double f;
        const char *s; /* into the mapped data.pkl, not terminated */
        uint32_t *items;
        uint32_t ref; /* PK_GLOBAL: pk_globals index; PK_STORAGE, PK_TENSOR: side array */
    } u;
} pk_obj;

typedef struct pk_storage {
    zt_dtype dtype;
    const char *key; /* the record is <prefix>/data/<key> */
    size_t key_len;
} pk_storage;

typedef struct pk_tensor {
    uint32_t storage;
    zt_dtype dtype;
    int ndim;
    int64_t offset; /* in elements */
    int64_t shape[ZT_ST_MAX_DIMS], stride[ZT_ST_MAX_DIMS];
} pk_tensor;

typedef struct pth {
    const char *path;
    const uint8_t *base;
    size_t size;

    zip_entry *zent;
    size_t nzent;
    uint32_t *zslots; /* hash of names: entry index + 1, 0 empty */
    size_t nzslots;
    const uint8_t *prefix; /* directory of data.pkl, without the slash */
    size_t prefix_len;
    char *lookup; /* buffer for "<prefix>/data/<key>" */

    /* pickle machine */
    const uint8_t *pk;
    size_t pk_size, at; /* at: offset of the opcode being run, for messages */
    pk_obj *objs;
    size_t nobj, cap_obj, total_items;
    uint32_t *stack;
    size_t sp;
    size_t *marks;
    size_t nmarks;
    uint32_t *memo; /* object index + 1, 0 unset */
    size_t memo_len, memo_set;
    pk_storage *storages;
    size_t nstorage, cap_storage;
    pk_tensor *tensors;
    size_t ntensor, cap_tensor;

    /* result */
    zt_st_entry *out;
    size_t nout, cap_out, name_bytes, visits;
} pth;

/* ---- messages ----------------------------------------------------------------------------- */

/* n bytes of untrusted text for a message: printable ASCII only, cut when long. */
static const char *shown(const void *s, size_t n, char *buf, size_t size) {
    const uint8_t *p = s;
    size_t o = 0, max = n < size - 4 ? n : size - 4;
    for (size_t i = 0; i < max; i++) buf[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (max < n) o += (size_t)snprintf(buf + o, size - o, "...");
    buf[o] = '\0';
    return buf;
}

/* "path: what", or for a malformed pickle "path: pickle: what at byte N". */
static zt_status fail_in(const pth *P, int in_pickle, const char *fmt, ...) ZT_PRINTF(3, 4);
static zt_status fail_in(const pth *P, int in_pickle, const char *fmt, ...) {
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (in_pickle) return zt_fail(ZT_ERR_INPUT, "%s: pickle: %s at byte %zu", P->path, what, P->at);
    return zt_fail(ZT_ERR_INPUT, "%s: %s", P->path, what);
}
#define bad(P, ...)    fail_in((P), 0, __VA_ARGS__)
#define pk_bad(P, ...) fail_in((P), 1, __VA_ARGS__)

static zt_status nomem(const pth *P) {
    return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", P->path);
}

/* p (*cap elements of elem bytes) resized to hold need, doubling; NULL when out of
 * memory (p is then still valid). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(p, c * elem);
    if (q) *cap = c;
    return q;
}

/* x = grow(x, ...) or return ZT_ERR_NOMEM */
#define GROW(x, cap, need)                                                                         \
    do {                                                                                           \
        void *g_ = grow((x), (cap), (need), sizeof *(x));                                          \
        if (!g_) return nomem(P);                                                                  \
        (x) = g_;                                                                                  \
    } while (0)

/* ---- zip -------------------------------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint64_t hash_bytes(const void *s, size_t n) {
    const uint8_t *p = s;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static const zip_entry *zip_find(const pth *P, const void *name, size_t n) {
    size_t mask = P->nzslots - 1;
    for (size_t j = (size_t)hash_bytes(name, n) & mask; P->zslots[j]; j = (j + 1) & mask) {
        const zip_entry *z = &P->zent[P->zslots[j] - 1];
        if (z->name_len == n && !memcmp(z->name, name, n)) return z;
    }
    return NULL;
}

static zt_status zip_index(pth *P) {
    size_t n = 16;
    while (n < 2 * P->nzent) n *= 2;
    P->zslots = calloc(n, sizeof *P->zslots);
    if (!P->zslots) return nomem(P);
    P->nzslots = n;
    for (size_t i = 0; i < P->nzent; i++) {
        const zip_entry *z = &P->zent[i];
        char nb[160];
        if (zip_find(P, z->name, z->name_len))
            return bad(P, "the zip holds '%s' twice", shown(z->name, z->name_len, nb, sizeof nb));
        size_t j = (size_t)hash_bytes(z->name, z->name_len) & (n - 1);
        while (P->zslots[j]) j = (j + 1) & (n - 1);
        P->zslots[j] = (uint32_t)(i + 1);
    }
    return ZT_OK;
}

/* The end-of-central-directory record, and its ZIP64 twin when there is one. */
static zt_status zip_find_directory(pth *P, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count) {
    const uint8_t *b = P->base;
    if (P->size < 22)
        return bad(P, "%zu bytes, too short for a zip archive; truncated file?", P->size);
    /* the record is the last 22 bytes plus a comment of at most 65535 */
    size_t lo = P->size - 22 > 65535 ? P->size - 22 - 65535 : 0, e = SIZE_MAX;
    for (size_t i = P->size - 22 + 1; i-- > lo;) {
        if (rd32(b + i) == 0x06054b50 && rd16(b + i + 20) <= P->size - 22 - i) {
            e = i;
            break;
        }
    }
    if (e == SIZE_MAX)
        return bad(P, "no zip end-of-central-directory record; truncated or not a zip archive");
    *count = rd16(b + e + 10);
    *cd_size = rd32(b + e + 12);
    *cd_off = rd32(b + e + 16);
    unsigned disk = rd16(b + e + 4), cd_disk = rd16(b + e + 6);
    if (e >= 20 && rd32(b + e - 20) == 0x07064b50) {
        uint64_t z = rd64(b + e - 20 + 8);
        if (z > e - 20 || e - 20 - z < 56 || rd32(b + z) != 0x06064b50)
            return bad(P,
                       "ZIP64 end-of-central-directory locator points at offset %llu, "
                       "which holds no ZIP64 record",
                       (unsigned long long)z);
        disk = rd32(b + z + 16);
        cd_disk = rd32(b + z + 20);
        *count = rd64(b + z + 32);
        *cd_size = rd64(b + z + 40);
        *cd_off = rd64(b + z + 48);
        e = (size_t)z; /* the directory ends before this record */
    }
    if (disk != 0 || cd_disk != 0) return bad(P, "multi-disk zip archives are not supported");
    if (*cd_off > e || *cd_size > e - *cd_off)
        return bad(P,
                   "central directory [%llu, +%llu) runs past the end of the archive (%zu); "
                   "truncated file?",
                   (unsigned long long)*cd_off, (unsigned long long)*cd_size, e);
    if (*count > *cd_size / 46)
        return bad(P, "central directory of %llu bytes cannot hold %llu entries",
                   (unsigned long long)*cd_size, (unsigned long long)*count);
    return ZT_OK;
}

/* Sizes and offset that did not fit 32 bits come from the ZIP64 extra field, in this
 * order and only those that overflowed. */
static zt_status zip64_fields(pth *P, zip_entry *z, const uint8_t *extra, size_t n) {
    uint64_t *want[3] = {&z->size, &z->csize, &z->local};
    for (size_t k = 0; k + 4 <= n;) {
        unsigned id = rd16(extra + k), len = rd16(extra + k + 2);
        if (len > n - k - 4) break;
        if (id == 0x0001) {
            const uint8_t *f = extra + k + 4;
            size_t used = 0;
            for (int i = 0; i < 3; i++) {
                if (*want[i] != 0xFFFFFFFFu) continue;
                if (used + 8 > len) break;
                *want[i] = rd64(f + used);
                used += 8;
            }
            break;
        }
        k += 4 + len;
    }
    char nb[160];
    for (int i = 0; i < 3; i++)
        if (*want[i] == 0xFFFFFFFFu)
            return bad(P, "zip entry '%s' lacks its ZIP64 sizes",
                       shown(z->name, z->name_len, nb, sizeof nb));
    return ZT_OK;
}

static zt_status zip_read_directory(pth *P) {
    uint64_t off = 0, size = 0, count = 0;
    ZT_TRY(zip_find_directory(P, &off, &size, &count));
    P->zent = calloc(count ? (size_t)count : 1, sizeof *P->zent);
    if (!P->zent) return nomem(P);
    const uint8_t *p = P->base + off, *end = p + size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || rd32(p) != 0x02014b50)
            return bad(P, "central directory entry %llu of %llu is damaged", (unsigned long long)i,
                       (unsigned long long)count);
        size_t nl = rd16(p + 28), el = rd16(p + 30), cl = rd16(p + 32);
        if ((size_t)(end - p) - 46 < nl + el + cl)
            return bad(P, "central directory entry %llu runs past the directory",
                       (unsigned long long)i);
        zip_entry *z = &P->zent[P->nzent++];
        z->name = p + 46;
        z->name_len = nl;
        z->flags = rd16(p + 8);
        z->method = rd16(p + 10);
        z->csize = rd32(p + 20);
        z->size = rd32(p + 24);
        z->local = rd32(p + 42);
        if (z->csize == 0xFFFFFFFFu || z->size == 0xFFFFFFFFu || z->local == 0xFFFFFFFFu)
            ZT_TRY(zip64_fields(P, z, p + 46 + nl, el));
        p += 46 + nl + el + cl;
    }
    return zip_index(P);
}

/* Where an entry's bytes are: checks method, local header and bounds. */
static zt_status zip_data(pth *P, const zip_entry *z, const uint8_t **data, uint64_t *len) {
    char nb[160];
    const char *name = shown(z->name, z->name_len, nb, sizeof nb);
    if (z->flags & 1) return bad(P, "zip entry '%s' is encrypted", name);
    if (z->method != 0)
        return bad(P,
                   "compressed entry '%s' is not supported (zip method %u); torch.save "
                   "writes stored entries",
                   name, z->method);
    if (z->csize != z->size)
        return bad(P, "stored zip entry '%s' has compressed size %llu but size %llu", name,
                   (unsigned long long)z->csize, (unsigned long long)z->size);
    const uint8_t *b = P->base;
    if (z->local > P->size || P->size - z->local < 30 || rd32(b + z->local) != 0x04034b50)
        return bad(P, "zip entry '%s': no local header at offset %llu; truncated file?", name,
                   (unsigned long long)z->local);
    uint64_t nl = rd16(b + z->local + 26), el = rd16(b + z->local + 28);
    uint64_t start = z->local + 30 + nl + el;
    if (start > P->size || nl != z->name_len || memcmp(b + z->local + 30, z->name, nl) != 0)
        return bad(P, "zip entry '%s': local header does not match the central directory", name);
    if (z->size > P->size - start)
        return bad(P,
                   "zip entry '%s' ([%llu, +%llu)) runs past the end of the file (%zu "
                   "bytes); truncated file?",
                   name, (unsigned long long)start, (unsigned long long)z->size, P->size);
    *data = b + start;
    *len = z->size;
    return ZT_OK;
}

/* "<prefix>/rest" from the archive, or NULL. */
static const zip_entry *zip_member(pth *P, const char *rest, size_t rest_len) {
    size_t n = P->prefix_len;
    memcpy(P->lookup, P->prefix, n);
    if (n) P->lookup[n++] = '/';
    memcpy(P->lookup + n, rest, rest_len);
    return zip_find(P, P->lookup, n + rest_len);
}

static int has_suffix(const uint8_t *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* data.pkl at the archive's top level ("<prefix>/data.pkl") gives the prefix. */
static zt_status zip_find_pickle(pth *P, const zip_entry **pkl) {
    *pkl = NULL;
    char a[160], b[160];
    for (size_t i = 0; i < P->nzent; i++) {
        const zip_entry *z = &P->zent[i];
        if (!has_suffix(z->name, z->name_len, "data.pkl")) continue;
        size_t dir = z->name_len - 8;
        if (dir && (z->name[dir - 1] != '/' || memchr(z->name, '/', dir - 1))) continue;
        if (*pkl)
            return bad(P, "the zip holds two pickles, '%s' and '%s'",
                       shown((*pkl)->name, (*pkl)->name_len, a, sizeof a),
                       shown(z->name, z->name_len, b, sizeof b));
        *pkl = z;
    }
    if (!*pkl) return bad(P, "a zip archive without data.pkl; not a torch.save checkpoint");
    P->prefix = (*pkl)->name;
    P->prefix_len = (*pkl)->name_len > 8 ? (*pkl)->name_len - 9 : 0;
    /* room for "<prefix>/" and any member name the reader asks for */
    P->lookup = malloc(P->prefix_len + 1 + 16 + 256);
    if (!P->lookup) return nomem(P);
    if (zip_member(P, "constants.pkl", 13))
        return bad(P, "a TorchScript archive (torch.jit.save), not a torch.save checkpoint");
    return ZT_OK;
}

static zt_status zip_check_byteorder(pth *P) {
    const zip_entry *z = zip_member(P, "byteorder", 9);
    if (!z) return ZT_OK; /* older writers left it out: they were little-endian only */
    const uint8_t *d;
    uint64_t n;
    ZT_TRY(zip_data(P, z, &d, &n));
    char sb[64];
    if (n != 6 || memcmp(d, "little", 6) != 0)
        return bad(P, "byteorder is '%s'; only little-endian checkpoints are supported",
                   shown(d, (size_t)n, sb, sizeof sb));
    return ZT_OK;
}

/* ---- pickle values ------------------------------------------------------------------------ */

enum {
    G_ORDERED_DICT,
    G_REBUILD_V2,
    G_REBUILD_V3,
    G_PARAMETER,
    G_PARAMETER_STATE,
    G_STORAGE,
    G_DTYPE
};

typedef struct pk_global {
    const char *module, *name;
    int kind;
    zt_dtype dtype;
} pk_global;

/* Everything a pickle may name. The untyped storage of _rebuild_tensor_v3 counts bytes. */
static const pk_global pk_globals[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, ZT_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, ZT_F32},
    {"torch._utils", "_rebuild_tensor_v3", G_REBUILD_V3, ZT_F32},
    {"torch._utils", "_rebuild_parameter", G_PARAMETER, ZT_F32},
    {"torch._utils", "_rebuild_parameter_with_state", G_PARAMETER_STATE, ZT_F32},
    {"torch", "FloatStorage", G_STORAGE, ZT_F32},
    {"torch", "HalfStorage", G_STORAGE, ZT_F16},
    {"torch", "BFloat16Storage", G_STORAGE, ZT_BF16},
    {"torch", "DoubleStorage", G_STORAGE, ZT_F64},
    {"torch", "LongStorage", G_STORAGE, ZT_I64},
    {"torch", "IntStorage", G_STORAGE, ZT_I32},
    {"torch", "ShortStorage", G_STORAGE, ZT_I16},
    {"torch", "CharStorage", G_STORAGE, ZT_I8},
    {"torch", "ByteStorage", G_STORAGE, ZT_U8},
    {"torch", "BoolStorage", G_STORAGE, ZT_BOOL},
    {"torch.storage", "UntypedStorage", G_STORAGE, ZT_U8},
    {"torch", "float32", G_DTYPE, ZT_F32},
    {"torch", "float16", G_DTYPE, ZT_F16},
    {"torch", "bfloat16", G_DTYPE, ZT_BF16},
    {"torch", "float64", G_DTYPE, ZT_F64},
    {"torch", "int64", G_DTYPE, ZT_I64},
    {"torch", "int32", G_DTYPE, ZT_I32},
    {"torch", "int16", G_DTYPE, ZT_I16},
    {"torch", "int8", G_DTYPE, ZT_I8},
    {"torch", "uint8", G_DTYPE, ZT_U8},
    {"torch", "bool", G_DTYPE, ZT_BOOL},
    {"torch", "float8_e4m3fn", G_DTYPE, ZT_F8_E4M3},
    {"torch", "float8_e5m2", G_DTYPE, ZT_F8_E5M2},
};

/* torch types a checkpoint may legitimately hold that zt_dtype has no place for */
static const char *const pk_unsupported_types[] = {
    "uint16",     "uint32",          "uint64",          "complex32",      "complex64",
    "complex128", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
    "qint8",      "quint8",          "qint32",          "quint4x2",       "quint2x4",
};

static pk_obj *obj(pth *P, uint32_t i) {
    return &P->objs[i];
}

static zt_status new_obj(pth *P, pk_type t, uint32_t *out) {
    if (P->nobj >= ZT_PTH_MAX_OBJECTS)
        return pk_bad(P, "more than %u values", (unsigned)ZT_PTH_MAX_OBJECTS);
    GROW(P->objs, &P->cap_obj, P->nobj + 1);
    memset(&P->objs[P->nobj], 0, sizeof *P->objs);
    P->objs[P->nobj].type = t;
    *out = (uint32_t)P->nobj++;
    return ZT_OK;
}

static zt_status add_items(pth *P, uint32_t c, const uint32_t *items, size_t k) {
    if (!k) return ZT_OK; /* "(t" is an empty tuple; growing by nothing would look like NOMEM */
    if (k > ZT_PTH_MAX_ITEMS - P->total_items)
        return pk_bad(P, "more than %u container items", (unsigned)ZT_PTH_MAX_ITEMS);
    pk_obj *o = obj(P, c);
    size_t cap = o->cap;
    GROW(o->u.items, &cap, (size_t)o->n + k);
    o->cap = (uint32_t)cap;
    memcpy(o->u.items + o->n, items, k * sizeof *items);
    o->n += (uint32_t)k;
    P->total_items += k;
    return ZT_OK;
}

static size_t fence(const pth *P) {
    return P->nmarks ? P->marks[P->nmarks - 1] : 0;
}

static zt_status push(pth *P, uint32_t v) {
    if (P->sp >= ZT_PTH_MAX_STACK) return pk_bad(P, "stack deeper than %u", ZT_PTH_MAX_STACK);
    P->stack[P->sp++] = v;
    return ZT_OK;
}

static zt_status pop(pth *P, uint32_t *v) {
    if (P->sp <= fence(P)) return pk_bad(P, "stack underflow");
    *v = P->stack[--P->sp];
    return ZT_OK;
}

/* The top value without popping it. */
static zt_status top(pth *P, uint32_t *v) {
    if (P->sp <= fence(P)) return pk_bad(P, "stack underflow");
    *v = P->stack[P->sp - 1];
    return ZT_OK;
}

/* Pop a mark: stack[*start, sp) are the values above it. */
static zt_status pop_mark(pth *P, size_t *start) {
    if (!P->nmarks) return pk_bad(P, "no MARK to pop");
    *start = P->marks[--P->nmarks];
    return ZT_OK;
}

static zt_status push_new(pth *P, pk_type t, uint32_t *out) {
    ZT_TRY(new_obj(P, t, out));
    return push(P, *out);
}

static zt_status push_int(pth *P, int64_t v) {
    uint32_t o = 0;
    ZT_TRY(push_new(P, PK_INT, &o));
    obj(P, o)->u.i = v;
    return ZT_OK;
}

/* A tuple of the k values on top of the stack, replacing them. */
static zt_status make_tuple(pth *P, size_t start) {
    uint32_t t = 0;
    ZT_TRY(new_obj(P, PK_TUPLE, &t));
    ZT_TRY(add_items(P, t, P->stack + start, P->sp - start));
    P->sp = start;
    return push(P, t);
}

static zt_status memo_put(pth *P, uint64_t i) {
    if (i >= ZT_PTH_MAX_MEMO) return pk_bad(P, "memo index %llu too large", (unsigned long long)i);
    uint32_t v = 0;
    ZT_TRY(top(P, &v));
    if (i >= P->memo_len) {
        size_t cap = P->memo_len;
        GROW(P->memo, &cap, (size_t)i + 1);
        memset(P->memo + P->memo_len, 0, (cap - P->memo_len) * sizeof *P->memo);
        P->memo_len = cap;
    }
    P->memo_set += !P->memo[i];
    P->memo[i] = v + 1;
    return ZT_OK;
}

static zt_status memo_get(pth *P, uint64_t i) {
    if (i >= P->memo_len || !P->memo[i])
        return pk_bad(P, "memo index %llu was never stored", (unsigned long long)i);
    return push(P, P->memo[i] - 1);
}

static zt_status find_global(pth *P, const char *mod, size_t ml, const char *name, size_t nl) {
    for (size_t i = 0; i < sizeof pk_globals / sizeof *pk_globals; i++) {
        const pk_global *g = &pk_globals[i];
        if (strlen(g->module) == ml && !memcmp(g->module, mod, ml) && strlen(g->name) == nl &&
            !memcmp(g->name, name, nl)) {
            uint32_t o = 0;
            ZT_TRY(push_new(P, PK_GLOBAL, &o));
            obj(P, o)->u.ref = (uint32_t)i;
            return ZT_OK;
        }
    }
    char mb[96], nb[96];
    shown(mod, ml, mb, sizeof mb);
    shown(name, nl, nb, sizeof nb);
    int torch_type =
        ml == 5 && !memcmp(mod, "torch", 5) && has_suffix((const uint8_t *)name, nl, "Storage");
    for (size_t i = 0; i < sizeof pk_unsupported_types / sizeof *pk_unsupported_types; i++)
        torch_type |= ml == 5 && !memcmp(mod, "torch", 5) &&
                      strlen(pk_unsupported_types[i]) == nl &&
                      !memcmp(pk_unsupported_types[i], name, nl);
    if (torch_type) return bad(P, "tensor type '%s.%s' is not supported", mb, nb);
    return bad(P, "forbidden pickle global '%s.%s'", mb, nb);
}

static zt_status new_str(pth *P, const uint8_t *s, uint64_t n) {
    if (n > ZT_PTH_MAX_STRING)
        return pk_bad(P, "string of %llu bytes (limit %u)", (unsigned long long)n,
                      ZT_PTH_MAX_STRING);
    uint32_t o = 0;
    ZT_TRY(push_new(P, PK_STR, &o));
    obj(P, o)->u.s = (const char *)s;
    obj(P, o)->n = (uint32_t)n;
    return ZT_OK;
}

static int is_str(const pk_obj *o, const char *s) {
    return o->type == PK_STR && o->n == strlen(s) && !memcmp(o->u.s, s, o->n);
}

/* ---- the calls a pickle may make -------------------------------------------------------- */

/* ('storage', StorageType, key, location, numel) -> a storage value */
static zt_status persistent_load(pth *P, uint32_t pid) {
    const pk_obj *t = obj(P, pid);
    if (t->type != PK_TUPLE || t->n != 5 || !is_str(obj(P, t->u.items[0]), "storage"))
        return pk_bad(P, "persistent id is not ('storage', type, key, location, size)");
    const pk_obj *type = obj(P, t->u.items[1]), *key = obj(P, t->u.items[2]);
    if (type->type != PK_GLOBAL || pk_globals[type->u.ref].kind != G_STORAGE)
        return pk_bad(P, "persistent id names no storage type");
    if (key->type != PK_STR || key->n == 0 || key->n > 255)
        return pk_bad(P, "storage key is not a short string");
    if (obj(P, t->u.items[3])->type != PK_STR || obj(P, t->u.items[4])->type != PK_INT)
        return pk_bad(P, "storage location or size has the wrong type");
    GROW(P->storages, &P->cap_storage, P->nstorage + 1);
    P->storages[P->nstorage] = (pk_storage){pk_globals[type->u.ref].dtype, key->u.s, key->n};
    uint32_t o = 0;
    ZT_TRY(push_new(P, PK_STORAGE, &o));
    obj(P, o)->u.ref = (uint32_t)P->nstorage++;
    return ZT_OK;
}

/* A tuple of non-negative ints into dims; -1 when it is not one. */
static int int_tuple(pth *P, uint32_t i, int64_t *dims) {
    const pk_obj *t = obj(P, i);
    if (t->type != PK_TUPLE || t->n > ZT_ST_MAX_DIMS) return -1;
    for (uint32_t k = 0; k < t->n; k++) {
        const pk_obj *v = obj(P, t->u.items[k]);
        if (v->type != PK_INT || v->u.i < 0) return -1;
        dims[k] = v->u.i;
    }
    return (int)t->n;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]);
 * v3 adds the dtype after hooks and uses an untyped storage. */
static zt_status rebuild_tensor(pth *P, const pk_obj *args, int v3) {
    size_t lo = v3 ? 7 : 6;
    if (args->n != lo && args->n != lo + 1)
        return pk_bad(P, "_rebuild_tensor_v%d with %u arguments", v3 ? 3 : 2, args->n);
    const uint32_t *a = args->u.items;
    const pk_obj *st = obj(P, a[0]), *off = obj(P, a[1]);
    if (st->type != PK_STORAGE) return pk_bad(P, "tensor without a storage");
    if (off->type != PK_INT || off->u.i < 0) return pk_bad(P, "tensor with a bad storage offset");
    pk_tensor t = {.storage = st->u.ref, .dtype = P->storages[st->u.ref].dtype, .offset = off->u.i};
    t.ndim = int_tuple(P, a[2], t.shape);
    if (t.ndim < 0 || int_tuple(P, a[3], t.stride) != t.ndim)
        return pk_bad(P,
                      "tensor size and stride are not tuples of at most %d non-negative "
                      "integers of the same length",
                      ZT_ST_MAX_DIMS);
    if (v3) {
        const pk_obj *dt = obj(P, a[6]);
        if (dt->type != PK_GLOBAL || pk_globals[dt->u.ref].kind != G_DTYPE)
            return pk_bad(P, "_rebuild_tensor_v3 without a dtype");
        t.dtype = pk_globals[dt->u.ref].dtype;
    }
    GROW(P->tensors, &P->cap_tensor, P->ntensor + 1);
    P->tensors[P->ntensor] = t;
    uint32_t o = 0;
    ZT_TRY(push_new(P, PK_TENSOR, &o));
    obj(P, o)->u.ref = (uint32_t)P->ntensor++;
    return ZT_OK;
}

static zt_status reduce(pth *P) {
    uint32_t ai = 0, fi = 0;
    ZT_TRY(pop(P, &ai));
    ZT_TRY(pop(P, &fi));
    const pk_obj *f = obj(P, fi), *args = obj(P, ai);
    if (f->type != PK_GLOBAL) return pk_bad(P, "REDUCE calls a %s", pk_type_name[f->type]);
    if (args->type != PK_TUPLE) return pk_bad(P, "REDUCE arguments are not a tuple");
    const pk_global *g = &pk_globals[f->u.ref];
    uint32_t o = 0;
    switch (g->kind) {
    case G_ORDERED_DICT:
        if (args->n != 0) return pk_bad(P, "OrderedDict with arguments");
        return push_new(P, PK_DICT, &o);
    case G_REBUILD_V2:
    case G_REBUILD_V3:
        return rebuild_tensor(P, args, g->kind == G_REBUILD_V3);
    case G_PARAMETER:
    case G_PARAMETER_STATE: /* (tensor, requires_grad, hooks[, state]): the tensor */
        if (args->n != (g->kind == G_PARAMETER ? 3u : 4u) ||
            obj(P, args->u.items[0])->type != PK_TENSOR)
            return pk_bad(P, "%s with unexpected arguments", g->name);
        return push(P, args->u.items[0]);
    default:
        return pk_bad(P, "%s.%s cannot be called", g->module, g->name);
    }
}

/* ---- the pickle machine ---------------------------------------------------------------- */

/* pop k values above the fence into dst */
static zt_status pop_n(pth *P, uint32_t *dst, size_t k) {
    if (P->sp - fence(P) < k) return pk_bad(P, "stack underflow");
    P->sp -= k;
    memcpy(dst, P->stack + P->sp, k * sizeof *dst);
    return ZT_OK;
}

/* Append stack[start, sp) to the container below them (a dict takes pairs). */
static zt_status extend_from(pth *P, size_t start, pk_type want) {
    if (start <= fence(P)) return pk_bad(P, "stack underflow");
    uint32_t c = P->stack[start - 1];
    if (obj(P, c)->type != want)
        return pk_bad(P, "adding items to a %s", pk_type_name[obj(P, c)->type]);
    if (want == PK_DICT && (P->sp - start) % 2) return pk_bad(P, "odd number of dict items");
    ZT_TRY(add_items(P, c, P->stack + start, P->sp - start));
    P->sp = start;
    return ZT_OK;
}

/* Bytes of the little-endian argument (an index, an integer, a length) that an opcode
 * carries; 0 when it has none or reads its argument otherwise. */
static int arg_width(uint8_t op) {
    switch (op) {
    case 0x80: /* PROTO */
    case 'q':  /* BINPUT */
    case 'h':  /* BINGET */
    case 'K':  /* BININT1 */
    case 0x8a: /* LONG1: its byte count */
    case 0x8c: /* SHORT_BINUNICODE */
    case 'U':  /* SHORT_BINSTRING */
        return 1;
    case 'M': /* BININT2 */
        return 2;
    case 'r': /* LONG_BINPUT */
    case 'j': /* LONG_BINGET */
    case 'J': /* BININT */
    case 'X': /* BINUNICODE */
    case 'T': /* BINSTRING */
        return 4;
    case 0x95: /* FRAME */
    case 0x8d: /* BINUNICODE8 */
        return 8;
    default:
        return 0;
    }
}

static zt_status run_op(pth *P, uint8_t op, size_t *pos, uint32_t *result, int *done) {
    const uint8_t *p = P->pk;
    size_t n = P->pk_size, i = *pos, start = 0;
    uint32_t o = 0, v[2] = {0, 0};
    /* the argument bytes must be there */
#define NEED(k)                                                                                    \
    do {                                                                                           \
        if ((uint64_t)(k) > n - i) return pk_bad(P, "truncated opcode 0x%02x", op);                \
    } while (0)
    int w = arg_width(op);
    NEED(w);
    uint64_t a = 0;
    for (int b = 0; b < w; b++) a |= (uint64_t)p[i + b] << (8 * b);
    *pos = i += (size_t)w;
    switch (op) {
    case 0x80: /* PROTO */
        if (a < 2 || a > 5) return pk_bad(P, "protocol %d is not supported", (int)a);
        return ZT_OK;
    case 0x95: /* FRAME: a read-ahead hint */
        if (a > n - i) return pk_bad(P, "frame runs past the end");
        return ZT_OK;
    case '.': /* STOP */
        *done = 1;
        return pop(P, result);
    case '(': /* MARK */
        if (P->nmarks >= ZT_PTH_MAX_STACK) return pk_bad(P, "too many marks");
        P->marks[P->nmarks++] = P->sp;
        return ZT_OK;
    case '}': /* EMPTY_DICT */
        return push_new(P, PK_DICT, &o);
    case ']': /* EMPTY_LIST */
        return push_new(P, PK_LIST, &o);
    case ')': /* EMPTY_TUPLE */
        return push_new(P, PK_TUPLE, &o);
    case 't': /* TUPLE */
        ZT_TRY(pop_mark(P, &start));
        return make_tuple(P, start);
    case 0x85: /* TUPLE1 */
    case 0x86: /* TUPLE2 */
    case 0x87: /* TUPLE3 */
        if (P->sp - fence(P) < (size_t)(op - 0x84)) return pk_bad(P, "stack underflow");
        return make_tuple(P, P->sp - (size_t)(op - 0x84));
    case 'q':  /* BINPUT */
    case 'r':  /* LONG_BINPUT */
    case 0x94: /* MEMOIZE: the next free index */
        return memo_put(P, op == 0x94 ? P->memo_set : a);
    case 'h': /* BINGET */
    case 'j': /* LONG_BINGET */
        return memo_get(P, a);
    case 'J': /* BININT: signed */
        return push_int(P, (int32_t)(uint32_t)a);
    case 'K': /* BININT1 */
    case 'M': /* BININT2 */
        return push_int(P, (int64_t)a);
    case 0x8a: { /* LONG1: a bytes of little-endian two's complement */
        NEED(a);
        if (a > 8) return pk_bad(P, "integer of %u bytes is too large", (unsigned)a);
        uint64_t u = 0;
        for (unsigned b = 0; b < a; b++) u |= (uint64_t)p[i + b] << (8 * b);
        if (a && a < 8 && (p[i + a - 1] & 0x80)) u |= ~0ull << (8 * a);
        *pos = i + (size_t)a;
        return push_int(P, (int64_t)u);
    }
    case 'N': /* NONE */
        return push_new(P, PK_NONE, &o);
    case 0x88: /* NEWTRUE */
    case 0x89: /* NEWFALSE */
        ZT_TRY(push_new(P, PK_BOOL, &o));
        obj(P, o)->u.i = op == 0x88;
        return ZT_OK;
    case 'G': { /* BINFLOAT: big-endian */
        NEED(8);
        uint64_t u = 0;
        for (int b = 0; b < 8; b++) u = u << 8 | p[i + b];
        *pos = i + 8;
        ZT_TRY(push_new(P, PK_FLOAT, &o));
        memcpy(&obj(P, o)->u.f, &u, sizeof u);
        return ZT_OK;
    }
    case 0x8c: /* SHORT_BINUNICODE */
    case 'U':  /* SHORT_BINSTRING */
    case 'X':  /* BINUNICODE */
    case 'T':  /* BINSTRING */
    case 0x8d: /* BINUNICODE8 */
        NEED(a);
        *pos = i + (size_t)a;
        return new_str(P, p + i, a);
    case 'c': { /* GLOBAL "module\nname\n" */
        const uint8_t *m = memchr(p + i, '\n', n - i);
        const uint8_t *q = m ? memchr(m + 1, '\n', (size_t)(p + n - m - 1)) : NULL;
        if (!q) return pk_bad(P, "GLOBAL without two newline-terminated names");
        *pos = (size_t)(q + 1 - p);
        return find_global(P, (const char *)p + i, (size_t)(m - p - i), (const char *)m + 1,
                           (size_t)(q - m - 1));
    }
    case 0x93: { /* STACK_GLOBAL */
        ZT_TRY(pop_n(P, v, 2));
        const pk_obj *mod = obj(P, v[0]), *name = obj(P, v[1]);
        if (mod->type != PK_STR || name->type != PK_STR)
            return pk_bad(P, "STACK_GLOBAL of a non-string");
        return find_global(P, mod->u.s, mod->n, name->u.s, name->n);
    }
    case 'R': /* REDUCE */
        return reduce(P);
    case 'b': /* BUILD: torch sets an OrderedDict's _metadata, which we do not need */
        ZT_TRY(pop(P, &v[0]));
        ZT_TRY(top(P, &v[1]));
        if (obj(P, v[1])->type != PK_DICT ||
            (obj(P, v[0])->type != PK_DICT && obj(P, v[0])->type != PK_NONE))
            return pk_bad(P, "BUILD on a %s with a %s is not supported",
                          pk_type_name[obj(P, v[1])->type], pk_type_name[obj(P, v[0])->type]);
        return ZT_OK;
    case 's': /* SETITEM */
    case 'a': /* APPEND */
        if (P->sp - fence(P) < (op == 's' ? 3u : 2u)) return pk_bad(P, "stack underflow");
        return extend_from(P, P->sp - (op == 's' ? 2 : 1), op == 's' ? PK_DICT : PK_LIST);
    case 'u': /* SETITEMS */
    case 'e': /* APPENDS */
        ZT_TRY(pop_mark(P, &start));
        return extend_from(P, start, op == 'u' ? PK_DICT : PK_LIST);
    case 'Q': /* BINPERSID */
        ZT_TRY(pop(P, &v[0]));
        return persistent_load(P, v[0]);
    default:
        return zt_fail(ZT_ERR_INPUT, "%s: unsupported pickle opcode 0x%02x at byte %zu", P->path,
                       op, P->at);
    }
#undef NEED
}

static zt_status run_pickle(pth *P, uint32_t *result) {
    P->stack = malloc(ZT_PTH_MAX_STACK * sizeof *P->stack);
    P->marks = malloc(ZT_PTH_MAX_STACK * sizeof *P->marks);
    if (!P->stack || !P->marks) return nomem(P);
    for (size_t pos = 0;;) {
        if (pos >= P->pk_size)
            return bad(P, "pickle: ends at byte %zu without STOP; truncated?", pos);
        P->at = pos;
        uint8_t op = P->pk[pos++];
        int done = 0;
        ZT_TRY(run_op(P, op, &pos, result, &done));
        if (done) return ZT_OK;
    }
}

/* ---- from the pickled dict to entries ------------------------------------------------------ */

static int contiguous(const pk_tensor *t, int64_t numel) {
    if (numel == 0) return 1;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 1) continue; /* torch ignores the stride of a size-1 dim */
        if (t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

static void dims_str(const int64_t *d, int n, char *buf, size_t size) {
    zt_st_entry e = {.ndim = n};
    memcpy(e.shape, d, (size_t)n * sizeof *d);
    zt_st_entry_shape_str(&e, buf, size);
}

static zt_status add_tensor(pth *P, const char *name, const pk_tensor *t) {
    char a[160], b[160];
    zt_st_entry e = {.name = NULL, .dtype = t->dtype, .ndim = t->ndim};
    uint64_t numel = 1, es = zt_dtype_size(t->dtype), need;
    for (int d = 0; d < t->ndim; d++) {
        e.shape[d] = t->shape[d];
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel) ||
            numel > (uint64_t)INT64_MAX)
            return bad(P, "tensor '%s': shape has too many elements", name);
    }
    if (!contiguous(t, (int64_t)numel)) {
        dims_str(t->shape, t->ndim, a, sizeof a);
        dims_str(t->stride, t->ndim, b, sizeof b);
        return bad(P,
                   "tensor '%s' is not contiguous (shape %s, stride %s); save it after "
                   ".contiguous()",
                   name, a, b);
    }
    const pk_storage *s = &P->storages[t->storage];
    char rec[280];
    snprintf(rec, sizeof rec, "data/%.*s", (int)s->key_len, s->key);
    const zip_entry *z = zip_member(P, rec, strlen(rec));
    if (!z)
        return bad(P, "tensor '%s': storage record '%s' is missing from the archive", name,
                   shown(P->lookup, P->prefix_len + (P->prefix_len > 0) + strlen(rec), a,
                         sizeof a)); /* no slash after an empty prefix */
    const uint8_t *data;
    uint64_t len;
    ZT_TRY(zip_data(P, z, &data, &len));
    if (__builtin_add_overflow((uint64_t)t->offset, numel, &need) ||
        __builtin_mul_overflow(need, es, &need) || need > len)
        return bad(P,
                   "tensor '%s': storage '%s' holds %llu bytes, the tensor needs %llu "
                   "elements of %llu bytes from element %lld",
                   name, shown(s->key, s->key_len, a, sizeof a), (unsigned long long)len,
                   (unsigned long long)numel, (unsigned long long)es, (long long)t->offset);
    e.numel = (int64_t)numel;
    e.nbytes = numel * es;
    /* an empty tensor points at its storage, wherever its offset says */
    e.offset = (uint64_t)(data - P->base) + (numel ? (uint64_t)t->offset * es : 0);
    GROW(P->out, &P->cap_out, P->nout + 1);
    size_t nl = strlen(name) + 1;
    if (nl > ZT_PTH_MAX_NAMES - P->name_bytes)
        return bad(P, "more than %u bytes of tensor names (dicts shared many times?)",
                   ZT_PTH_MAX_NAMES);
    P->name_bytes += nl;
    e.name = strdup(name);
    if (!e.name) return nomem(P);
    P->out[P->nout++] = e;
    return ZT_OK;
}

/* Tensors of dict d under "name." (name holds len bytes); nested dicts recurse. */
static zt_status flatten(pth *P, uint32_t d, char *name, size_t len, int depth) {
    if (depth > ZT_PTH_MAX_DEPTH)
        return bad(P, "dicts nested more than %d deep at '%s'", ZT_PTH_MAX_DEPTH, name);
    const pk_obj *o = obj(P, d);
    /* one dict reachable along many paths could otherwise take exponential time; a few
     * paths to each (a model saved twice, as "model" and "ema") are fine */
    size_t limit = 4 * P->total_items + 4096;
    if (o->n / 2 > limit - P->visits)
        return bad(P, "dicts visited more than %zu times (one dict shared many times?)", limit);
    P->visits += o->n / 2;
    for (uint32_t k = 0; k + 1 < o->n; k += 2) {
        const pk_obj *key = obj(P, o->u.items[k]), *val = obj(P, o->u.items[k + 1]);
        if (val->type != PK_TENSOR && val->type != PK_DICT) continue;
        size_t n = len + (len > 0);
        int w;
        char kb[160];
        if (key->type == PK_STR) {
            /* messages quote names on one line */
            for (uint32_t c = 0; c < key->n; c++)
                if ((uint8_t)key->u.s[c] < 0x20 || key->u.s[c] == 0x7f)
                    return bad(P, "name '%s' holds a control character",
                               shown(key->u.s, key->n, kb, sizeof kb));
            w = snprintf(name + n, ZT_PTH_MAX_NAME - n, "%.*s", (int)key->n, key->u.s);
        } else if (key->type == PK_INT) {
            w = snprintf(name + n, ZT_PTH_MAX_NAME - n, "%lld", (long long)key->u.i);
        } else {
            return bad(P, "a dict under '%s' has a %s key", len ? name : "(top)",
                       pk_type_name[key->type]);
        }
        if (w < 0 || (size_t)w >= ZT_PTH_MAX_NAME - n)
            return bad(P, "tensor name '%.100s...' longer than %d bytes", name,
                       ZT_PTH_MAX_NAME - 1);
        if (len) name[len] = '.';
        zt_status rc = val->type == PK_TENSOR
                           ? add_tensor(P, name, &P->tensors[val->u.ref])
                           : flatten(P, o->u.items[k + 1], name, n + (size_t)w, depth + 1);
        ZT_TRY(rc);
        name[len] = '\0';
    }
    return ZT_OK;
}

/* ---- open / close ---------------------------------------------------------------------------- */

static void pth_free(pth *P) {
    free(P->zent);
    free(P->zslots);
    free(P->lookup);
    for (size_t i = 0; i < P->nobj; i++)
        if (P->objs[i].type == PK_TUPLE || P->objs[i].type == PK_LIST || P->objs[i].type == PK_DICT)
            free(P->objs[i].u.items);
    free(P->objs);
    free(P->stack);
    free(P->marks);
    free(P->memo);
    free(P->storages);
    free(P->tensors);
    for (size_t i = 0; i < P->nout; i++) free((char *)P->out[i].name);
    free(P->out);
}

/* What a file that is no zip probably is. */
static zt_status not_zip(const pth *P) {
    const uint8_t *b = P->base;
    if (P->size == 0) return bad(P, "empty file, not a torch checkpoint");
    if (b[0] == 0x80 || (P->size > 262 && !memcmp(b + 257, "ustar", 5)))
        return bad(P, "legacy (pre-1.6) torch format is not supported; load it in Python and "
                      "re-save it with torch.save (or as safetensors)");
    if (P->size >= 8 && b[0] != '{') {
        uint64_t h = rd64(b);
        if (h > 1 && h <= P->size - 8 && b[8] == '{')
            return bad(P, "a safetensors file, not a torch zip checkpoint");
    }
    return bad(P, "not a zip archive; torch.save checkpoints are zip files");
}

static zt_status parse(pth *P, zt_safetensors **out, int mapped) {
    if (P->size < 2 || memcmp(P->base, "PK", 2) != 0) return not_zip(P);
    ZT_TRY(zip_read_directory(P));
    const zip_entry *pkl;
    ZT_TRY(zip_find_pickle(P, &pkl));
    ZT_TRY(zip_check_byteorder(P));
    uint64_t n;
    ZT_TRY(zip_data(P, pkl, &P->pk, &n));
    P->pk_size = (size_t)n;
    uint32_t root = 0;
    ZT_TRY(run_pickle(P, &root));
    if (obj(P, root)->type != PK_DICT)
        return bad(P, "the saved object is a %s, not a dict of tensors",
                   pk_type_name[obj(P, root)->type]);
    char name[ZT_PTH_MAX_NAME] = "";
    ZT_TRY(flatten(P, root, name, 0, 0));
    return zt_safetensors_from_entries(out, P->path, P->base, P->size, mapped, P->out, P->nout);
}

zt_status zt_pth_open_memory(zt_safetensors **out, const char *label, const void *data,
                             size_t size) {
    *out = NULL;
    pth P = {.path = label ? label : "(memory)", .base = data, .size = data ? size : 0};
    zt_status rc = parse(&P, out, 0);
    pth_free(&P);
    return rc;
}

zt_status zt_pth_open(zt_safetensors **out, const char *path) {
    *out = NULL;
    if (!path || !*path) return zt_fail(ZT_ERR_INPUT, "no model file given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    zt_status rc = ZT_OK;
    if (fstat(fd, &sb) != 0)
        rc = zt_fail(ZT_ERR_INPUT, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        rc = zt_fail(ZT_ERR_INPUT, "%s: is a directory, not a torch checkpoint", path);
    else if (!S_ISREG(sb.st_mode))
        rc = zt_fail(ZT_ERR_INPUT, "%s: not a regular file", path);
    pth P = {.path = path, .size = rc == ZT_OK ? (size_t)sb.st_size : 0};
    void *map = NULL;
    if (rc == ZT_OK && P.size > 0) {
        map = mmap(NULL, P.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            rc = zt_fail(ZT_ERR_INPUT, "%s: cannot map: %s", path, strerror(errno));
        }
    }
    close(fd); /* the mapping keeps the file */
    if (rc == ZT_OK) {
        P.base = map;
        rc = parse(&P, out, 1);
        if (rc != ZT_OK && map) munmap(map, P.size);
    }
    pth_free(&P);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int zt_pth_sniff(const char *path) {
    uint8_t b[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n == 4 && !memcmp(b, "PK\x03\x04", 4)) return 1;
    int named = ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".ckpt") ||
                ends_with(path, ".bin");
    return named && n >= 1 && b[0] == 0x80;
}

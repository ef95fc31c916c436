#include "testlib.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "io/safetensors.h"

int zt_test_failures;
int zt_test_checks;

static void **test_bufs;
static size_t test_nbufs, test_capbufs;

void *zt_test_alloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (test_nbufs == test_capbufs) {
        test_capbufs = test_capbufs ? 2 * test_capbufs : 64;
        test_bufs = realloc(test_bufs, test_capbufs * sizeof *test_bufs);
    }
    if (!p || !test_bufs) {
        fprintf(stderr, "test: out of memory\n");
        abort();
    }
    test_bufs[test_nbufs++] = p;
    return p;
}

int zt_test_finish(void) {
    for (size_t i = 0; i < test_nbufs; i++) free(test_bufs[i]);
    free(test_bufs);
    test_bufs = NULL;
    test_nbufs = test_capbufs = 0;
    if (zt_test_failures) {
        fprintf(stderr, "%d of %d checks failed\n", zt_test_failures, zt_test_checks);
        return 1;
    }
    printf("all %d checks passed\n", zt_test_checks);
    return 0;
}

int zt_test_contains(const char *hay, const char *needle) {
    return hay && needle && strstr(hay, needle) != NULL;
}

uint64_t zt_test_rand_u64(zt_test_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double zt_test_rand_uniform(zt_test_rng *r) {
    return (double)(zt_test_rand_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double zt_test_rand_normal(zt_test_rng *r) {
    double u1 = zt_test_rand_uniform(r), u2 = zt_test_rand_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void zt_test_fill_normal(zt_test_rng *r, float *x, int64_t n, double stddev) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(zt_test_rand_normal(r) * stddev);
}

double zt_test_compare(const char *name, const float *got, const double *ref, int64_t n,
                       double tol) {
    double max_ref = 0, max_err = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs(ref[i]);
        if (a > max_ref) max_ref = a;
    }
    if (max_ref < 1e-30) max_ref = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= max_err)) { /* NaN counts as worst */
            max_err = e;
            worst = i;
            if (isnan(e)) break;
        }
    }
    double rel = isnan(max_err) ? INFINITY : max_err / max_ref;
    printf("  %-40s max rel err %.3e (tol %.0e)\n", name, rel, tol);
    zt_test_checks++;
    if (!(rel <= tol)) {
        zt_test_failures++;
        fprintf(stderr, "FAIL %s: max rel err %.3e > %.0e at %lld (got %.9g, ref %.9g)\n", name,
                rel, tol, (long long)worst, (double)got[worst], ref[worst]);
    }
    return rel;
}

const char *zt_test_data(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ZT_TEST_DATA, rel);
    return buf[k];
}

int zt_test_emulated(void) {
    const char *e = getenv("ZT_TEST_EMU");
    return e && *e && strcmp(e, "0") != 0;
}

const char *zt_test_tmpdir(void) {
    static char path[4096];
    if (path[0]) return path;
    const char *env = getenv("ZT_TEST_TMP");
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
        char cmd[2 * sizeof path + 32];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
        if (system(cmd) != 0) fprintf(stderr, "cannot make %s\n", path);
    } else {
        snprintf(path, sizeof path, "/tmp/zt_test_XXXXXX");
        if (!mkdtemp(path)) fprintf(stderr, "cannot make a temporary directory\n");
    }
    return path;
}

void zt_test_write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    CHECK(ok, "cannot write %s", path);
}

uint8_t *zt_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(size > 0 ? (size_t)size : 1);
    if (p && size > 0 && fread(p, 1, (size_t)size, f) == (size_t)size) *n = (size_t)size;
    fclose(f);
    return p;
}

void zt_test_copy_safetensors(const char *src, const char *dst, const char *prefix,
                              int drop_meta, zt_test_st_edit edit, void *ctx) {
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, src));
    if (!st) return;
    size_t n = zt_safetensors_count(st);
    unsigned char *keep = zt_test_alloc(n ? n : 1);
    json_t *h = json_object();
    if (!drop_meta && zt_safetensors_metadata_count(st)) {
        json_t *m = json_object();
        for (size_t i = 0; i < zt_safetensors_metadata_count(st); i++)
            json_object_set_new(m, zt_safetensors_metadata_key(st, i),
                                json_string(zt_safetensors_metadata_value(st, i)));
        json_object_set_new(h, "__metadata__", m);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const zt_st_entry *e = zt_safetensors_entry(st, i);
        zt_test_st_tensor t = {.ndim = e->ndim};
        snprintf(t.name, sizeof t.name, "%s", e->name);
        memcpy(t.shape, e->shape, (size_t)e->ndim * sizeof *t.shape);
        keep[i] = (unsigned char)(edit ? edit(ctx, &t) : 1);
        if (!keep[i]) continue;
        json_t *shape = json_array();
        for (int k = 0; k < t.ndim; k++) json_array_append_new(shape, json_integer(t.shape[k]));
        char name[600];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", t.name);
        json_object_set_new(h, name, json_pack("{s:s, s:o, s:[I, I]}", "dtype",
                                               zt_dtype_name(e->dtype), "shape", shape,
                                               "data_offsets", (json_int_t)off,
                                               (json_int_t)(off + e->nbytes)));
        off += e->nbytes;
    }
    char *text = json_dumps(h, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0, padded = (len + 7) & ~(size_t)7;
    FILE *f = fopen(dst, "wb");
    CHECK(text && f, "cannot write %s", dst);
    if (text && f) {
        unsigned char hl[8];
        for (int i = 0; i < 8; i++) hl[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        fwrite(hl, 1, 8, f);
        fwrite(text, 1, len, f);
        for (size_t i = len; i < padded; i++) fputc(' ', f); /* keeps the data aligned */
        for (size_t i = 0; i < n; i++)
            if (keep[i]) {
                const zt_st_entry *e = zt_safetensors_entry(st, i);
                fwrite(zt_safetensors_data(st, e), 1, (size_t)e->nbytes, f);
            }
    }
    if (f) fclose(f);
    free(text);
    json_decref(h);
    zt_safetensors_close(st);
}

double zt_test_compare_f32(const char *name, const float *got, const float *ref, int64_t n,
                           double tol) {
    double *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    if (!r) abort();
    for (int64_t i = 0; i < n; i++) r[i] = ref[i];
    double e = zt_test_compare(name, got, r, n, tol);
    free(r);
    return e;
}

float *zt_test_read_tensor(const zt_safetensors *st, const char *name, int64_t *shape,
                           int *ndim) {
    const zt_st_entry *e = zt_safetensors_find(st, name);
    CHECK(e != NULL, "fixture lacks %s", name);
    if (!e) return NULL;
    float *x = zt_test_alloc((size_t)e->numel * sizeof *x);
    CHECK_OK(zt_safetensors_read_f32(st, e, x, e->numel));
    for (int i = 0; i < e->ndim; i++) shape[i] = e->shape[i];
    if (ndim) *ndim = e->ndim;
    return x;
}

/* ---- the stand-in device ------------------------------------------------------------ */

/* upload_ahead's copies are held back until their lane is waited for (or its next
 * copy comes), the latest a GPU may land them, and their destination is all ones (NaN
 * as floats) until then, as undefined as a GPU leaves it while the copy runs: work that
 * reads it too early, or that still needed what was there, sees NaN */
typedef struct standin_copy {
    zt_upload_part *parts; /* src: the stand-in's own copy, taken at upload_ahead */
    int n;
} standin_copy;

typedef struct standin {
    zt_backend be; /* first: the table the pipeline holds */
    zt_backend *cpu;
    size_t live, peak;
    standin_copy lane[2];
} standin;

typedef struct standin_header { /* in front of each allocation: its size, 64-byte aligned */
    size_t bytes, pad[7];
} standin_header;

static zt_status sd_alloc(zt_backend *be, size_t bytes, void **ptr) {
    standin *st = (standin *)be;
    standin_header *h = aligned_alloc(64, sizeof *h + ((bytes + 63) & ~(size_t)63));
    if (!h) return zt_fail(ZT_ERR_NOMEM, "stand-in device: out of memory");
    h->bytes = bytes;
    st->live += bytes;
    if (st->live > st->peak) st->peak = st->live;
    *ptr = h + 1;
    return ZT_OK;
}
static void sd_dealloc(zt_backend *be, void *ptr) {
    if (!ptr) return;
    standin_header *h = (standin_header *)ptr - 1;
    ((standin *)be)->live -= h->bytes;
    free(h);
}
static zt_status sd_copy(zt_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    memmove(dst, src, bytes);
    return ZT_OK;
}
static zt_status sd_zero(zt_backend *be, void *ptr, size_t bytes) {
    (void)be;
    memset(ptr, 0, bytes);
    return ZT_OK;
}
static zt_status sd_memory(const zt_backend *be, size_t *live, size_t *peak, size_t *total,
                           size_t *free_bytes) {
    const standin *st = (const standin *)be;
    *live = st->live;
    *peak = st->peak;
    *total = *free_bytes = (size_t)1 << 40; /* a card of 1 TiB, all free */
    return ZT_OK;
}
static void sd_reset_peak(zt_backend *be) {
    standin *st = (standin *)be;
    st->peak = st->live;
}
/* A held copy landed in its destination, or (land 0) dropped. */
static void sd_settle(standin_copy *c, int land) {
    for (int i = 0; i < c->n; i++) {
        if (land) memcpy(c->parts[i].dst, c->parts[i].src, c->parts[i].bytes);
        free((void *)c->parts[i].src);
    }
    free(c->parts);
    *c = (standin_copy){0};
}
static void sd_land(standin_copy *c) {
    sd_settle(c, 1);
}
static zt_status sd_upload_ahead(zt_backend *be, int lane, const zt_upload_part *parts, int n) {
    standin *st = (standin *)be;
    if (lane < 0 || lane > 1) return zt_fail(ZT_ERR_USAGE, "stand-in device: no lane %d", lane);
    sd_land(&st->lane[lane]);
    standin_copy *c = &st->lane[lane];
    c->parts = calloc((size_t)n, sizeof *c->parts);
    if (!c->parts) return zt_fail(ZT_ERR_NOMEM, "stand-in device: out of memory");
    for (int i = 0; i < n; i++) {
        void *copy = malloc(parts[i].bytes ? parts[i].bytes : 1);
        if (!copy) {
            sd_land(c);
            return zt_fail(ZT_ERR_NOMEM, "stand-in device: out of memory");
        }
        memcpy(copy, parts[i].src, parts[i].bytes);
        memset(parts[i].dst, 0xff, parts[i].bytes);
        c->parts[c->n++] = (zt_upload_part){parts[i].dst, copy, parts[i].bytes};
    }
    return ZT_OK;
}
static zt_status sd_upload_wait(zt_backend *be, int lane) {
    if (lane < 0 || lane > 1) return zt_fail(ZT_ERR_USAGE, "stand-in device: no lane %d", lane);
    sd_land(&((standin *)be)->lane[lane]);
    return ZT_OK;
}
static zt_status sd_sync(zt_backend *be) {
    for (int i = 0; i < 2; i++) sd_land(&((standin *)be)->lane[i]);
    return ZT_OK;
}
static void sd_free(zt_backend *be) {
    standin *st = (standin *)be;
    for (int i = 0; i < 2; i++) sd_settle(&st->lane[i], 0); /* their memory may be gone */
    zt_backend_free(st->cpu);
    free(st);
}

zt_status zt_test_standin_device(zt_backend **out, int device) {
    *out = NULL;
    standin *st = calloc(1, sizeof *st);
    if (!st) return zt_fail(ZT_ERR_NOMEM, "stand-in device: out of memory");
    zt_status s = zt_backend_cpu_init(&st->cpu, 0); /* all cores, as the CPU runs */
    if (s != ZT_OK) {
        free(st);
        return s;
    }
    st->be = *st->cpu; /* the CPU's ops and their context */
    st->be.name = "stand-in device";
    st->be.device = device + 1;
    st->be.attn_key_bias = 0;
    st->be.free = sd_free;
    st->be.alloc = sd_alloc;
    st->be.dealloc = sd_dealloc;
    st->be.upload = sd_copy;
    st->be.download = sd_copy;
    st->be.move = sd_copy;
    st->be.fill_zero = sd_zero;
    st->be.memory = sd_memory;
    st->be.reset_peak = sd_reset_peak;
    st->be.release_scratch = NULL;
    st->be.upload_ahead = sd_upload_ahead;
    st->be.upload_wait = sd_upload_wait;
    st->be.sync = sd_sync;
    *out = &st->be;
    return ZT_OK;
}

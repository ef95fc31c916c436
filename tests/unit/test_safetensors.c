/* The safetensors reader: fixtures written by the reference library (values checked
 * against expected.json), then malformed files built here, each of which must fail
 * with ZT_ERR_INPUT and a message naming the file (and tensor), then a few thousand
 * random mutations of a valid file that must never crash (run under ASan). */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "testlib.h"

#define FIXTURES ZT_TEST_DATA "/safetensors"

static char tmp_path[4096];

static const char *tmp(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", zt_test_tmpdir(), name);
    return tmp_path;
}

/* A safetensors image: length prefix, header, data bytes 0, 1, 2, ... */
static uint8_t *build(const char *header, uint64_t hlen, size_t data_len, size_t *n) {
    size_t h = strlen(header);
    *n = 8 + h + data_len;
    uint8_t *p = malloc(*n);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(p + 8, header, h);
    for (size_t i = 0; i < data_len; i++) p[8 + h + i] = (uint8_t)i;
    return p;
}

static const char *write_st(const char *name, const char *header, size_t data_len) {
    size_t n;
    uint8_t *p = build(header, strlen(header), data_len, &n);
    zt_test_write_file(tmp(name), p, n);
    free(p);
    return tmp_path;
}

/* ---- fixtures from the reference writer ---------------------------------------------- */

static void check_fixture(const char *file, json_t *exp) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, file);
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open(&st, path));
    if (!st) return;
    CHECK(!strcmp(zt_safetensors_path(st), path), "path %s", zt_safetensors_path(st));

    json_t *tensors = json_object_get(exp, "tensors");
    CHECK(zt_safetensors_count(st) == json_object_size(tensors), "%s: %zu tensors", file,
          zt_safetensors_count(st));
    /* every entry by index is one of the expected names and found by name */
    for (size_t i = 0; i < zt_safetensors_count(st); i++) {
        const zt_st_entry *e = zt_safetensors_entry(st, i);
        CHECK(json_object_get(tensors, e->name) != NULL, "unexpected tensor %s", e->name);
        CHECK(zt_safetensors_find(st, e->name) == e, "find %s", e->name);
    }
    CHECK(zt_safetensors_entry(st, zt_safetensors_count(st)) == NULL, "entry past the end");
    CHECK(zt_safetensors_find(st, "no.such.tensor") == NULL, "find of a missing name");

    const char *name;
    json_t *t;
    json_object_foreach(tensors, name, t) {
        const zt_st_entry *e = zt_safetensors_find(st, name);
        CHECK(e != NULL, "%s: %s missing", file, name);
        if (!e) continue;
        CHECK(!strcmp(zt_dtype_name(e->dtype), json_string_value(json_object_get(t, "dtype"))),
              "%s dtype %s", name, zt_dtype_name(e->dtype));
        json_t *shape = json_object_get(t, "shape");
        CHECK(e->ndim == (int)json_array_size(shape), "%s ndim %d", name, e->ndim);
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            int64_t want = json_integer_value(json_array_get(shape, (size_t)d));
            CHECK(e->shape[d] == want, "%s dim %d: %lld", name, d, (long long)e->shape[d]);
            numel *= want;
        }
        CHECK(e->numel == numel && e->nbytes == (uint64_t)numel * zt_dtype_size(e->dtype),
              "%s numel %lld nbytes %llu", name, (long long)e->numel,
              (unsigned long long)e->nbytes);

        json_t *values = json_object_get(t, "values");
        float *got = malloc((size_t)(numel ? numel : 1) * sizeof *got);
        CHECK_OK(zt_safetensors_read_f32(st, e, got, numel));
        int bad = 0;
        for (int64_t i = 0; i < numel; i++) {
            float want = (float)json_number_value(json_array_get(values, (size_t)i));
            if (got[i] != want && !bad++)
                CHECK(0, "%s[%lld] = %g, want %g", name, (long long)i, got[i], want);
        }
        zt_test_checks++;

        /* a view points into the mapping and holds the same values */
        zt_tensor v;
        CHECK_OK(zt_safetensors_tensor(st, e, &v));
        CHECK(v.data == zt_safetensors_data(st, e) && v.ndim == e->ndim &&
                  zt_tensor_numel(&v) == numel && zt_tensor_is_contiguous(&v),
              "%s view", name);
        if (zt_dtype_is_float(e->dtype) && numel) {
            float *conv = malloc((size_t)numel * sizeof *conv);
            zt_convert_to_f32(conv, v.data, v.dtype, numel);
            CHECK(!memcmp(conv, got, (size_t)numel * sizeof *conv), "%s view values", name);
            free(conv);
        }
        free(got);
    }
    CHECK_FAILS(zt_safetensors_read_f32(st, zt_safetensors_entry(st, 0), NULL, -1), ZT_ERR_RUNTIME,
                "elements");

    json_t *meta = json_object_get(exp, "metadata");
    CHECK(zt_safetensors_metadata_count(st) == json_object_size(meta), "%s: %zu metadata", file,
          zt_safetensors_metadata_count(st));
    for (size_t i = 0; i < zt_safetensors_metadata_count(st); i++) {
        const char *k = zt_safetensors_metadata_key(st, i);
        const char *want = json_string_value(json_object_get(meta, k));
        CHECK(want && !strcmp(zt_safetensors_metadata_value(st, i), want), "metadata %s", k);
        CHECK(zt_safetensors_metadata_get(st, k) == zt_safetensors_metadata_value(st, i),
              "metadata_get %s", k);
    }
    CHECK(zt_safetensors_metadata_key(st, 99) == NULL && !zt_safetensors_metadata_get(st, "zz"),
          "metadata out of range");
    printf("  %-40s %zu tensors match\n", file, zt_safetensors_count(st));
    zt_safetensors_close(st);
}

static void test_fixtures(void) {
    json_error_t err;
    json_t *exp = json_load_file(FIXTURES "/expected.json", 0, &err);
    CHECK(exp != NULL, "expected.json: %s", err.text);
    if (!exp) return;
    check_fixture("small.safetensors", json_object_get(exp, "small.safetensors"));
    check_fixture("bf16.safetensors", json_object_get(exp, "bf16.safetensors"));
    json_decref(exp);

    /* the same file through open_memory gives the same entries */
    size_t n;
    uint8_t *bytes = zt_test_read_file(FIXTURES "/small.safetensors", &n);
    zt_safetensors *st = NULL;
    CHECK_OK(zt_safetensors_open_memory(&st, "mem", bytes, n));
    if (st) {
        const zt_st_entry *e = zt_safetensors_find(st, "video.latent");
        CHECK(e && e->ndim == 5 && e->shape[2] == 2, "memory: video.latent");
        CHECK(!strcmp(zt_safetensors_path(st), "mem"), "memory label");
    }
    zt_safetensors_close(st);
    free(bytes);
    zt_safetensors_close(NULL);
}

/* ---- valid corner cases ------------------------------------------------------------------- */

static void test_valid_corners(void) {
    zt_safetensors *st = NULL;

    /* no tensors at all; header padded with spaces as the reference writer does */
    CHECK_OK(zt_safetensors_open(&st, write_st("empty_header.safetensors", "{}      ", 0)));
    CHECK(st && zt_safetensors_count(st) == 0 && !zt_safetensors_find(st, "x"), "no tensors");
    zt_safetensors_close(st);

    /* a gap between tensors, a tensor at an odd offset (open works, a typed view refuses,
     * read_f32 copes), and 6 dims (listed, but no view) */
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"odd\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
                    "\"six\":{\"dtype\":\"U8\",\"shape\":[1,1,2,1,1,1],\"data_offsets\":[12,14]}}";
    size_t hl = strlen(h), pad = (8 - hl % 8) % 8;
    char *hp = malloc(hl + pad + 1);
    memcpy(hp, h, hl);
    memset(hp + hl, ' ', pad);
    hp[hl + pad] = '\0';
    const char *path = write_st("corners.safetensors", hp, 16);
    free(hp);
    CHECK_OK(zt_safetensors_open(&st, path));
    if (st) {
        const zt_st_entry *odd = zt_safetensors_find(st, "odd");
        const zt_st_entry *six = zt_safetensors_find(st, "six");
        zt_tensor v;
        CHECK_FAILS(zt_safetensors_tensor(st, odd, &v), ZT_ERR_INPUT, "not aligned");
        CHECK(zt_test_contains(zt_last_error(), "corners.safetensors: tensor 'odd'"), "%s",
              zt_last_error());
        float f[2];
        CHECK_OK(zt_safetensors_read_f32(st, odd, f, 2));
        float want[2];
        uint8_t raw[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* data bytes are 0, 1, 2, ... */
        memcpy(want, raw, sizeof want);
        CHECK(!memcmp(f, want, sizeof f), "unaligned f32 values");
        CHECK(six && six->ndim == 6 && six->numel == 2, "6-D entry");
        CHECK_FAILS(zt_safetensors_tensor(st, six, &v), ZT_ERR_INPUT, "6 dimensions");
        uint8_t dummy;
        CHECK_OK(zt_safetensors_tensor(st, zt_safetensors_find(st, "a"), &v));
        memcpy(&dummy, v.data, 1);
        CHECK(dummy == 0, "U8 value");
    }
    zt_safetensors_close(st);

    /* many tensors: every one found through the hash table */
    enum { N = 3000 };
    char *big = malloc(N * 96 + 16), *p = big;
    p += sprintf(p, "{");
    for (int i = 0; i < N; i++)
        p += sprintf(p,
                     "%s\"blocks.%d.w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                     i ? "," : "", i, i, i + 1);
    sprintf(p, "}");
    CHECK_OK(zt_safetensors_open(&st, write_st("many.safetensors", big, N)));
    free(big);
    if (st) {
        int misses = 0;
        char name[64];
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof name, "blocks.%d.w", i);
            const zt_st_entry *e = zt_safetensors_find(st, name);
            misses += !e || e->offset != (uint64_t)i || strcmp(e->name, name);
        }
        CHECK(misses == 0 && zt_safetensors_count(st) == N, "%d of %d lookups wrong", misses, N);
    }
    zt_safetensors_close(st);
}

/* ---- malformed files ----------------------------------------------------------------------- */

/* Opening path must fail with ZT_ERR_INPUT, leave *st NULL, name the file and contain
 * each needle. */
static void expect_bad(const char *what, const char *path, const char *n1, const char *n2) {
    zt_safetensors *st = (zt_safetensors *)1;
    zt_status s = zt_safetensors_open(&st, path);
    const char *msg = zt_last_error();
    CHECK(s == ZT_ERR_INPUT, "%s: status %s (%s)", what, zt_status_string(s), msg);
    CHECK(st == NULL, "%s: handle not cleared", what);
    CHECK(zt_test_contains(msg, path), "%s: '%s' does not name the file", what, msg);
    CHECK(!n1 || zt_test_contains(msg, n1), "%s: '%s' lacks '%s'", what, msg, n1);
    CHECK(!n2 || zt_test_contains(msg, n2), "%s: '%s' lacks '%s'", what, msg, n2);
    CHECK(!strchr(msg, '\n'), "%s: message has a newline", what);
    printf("  %-28s %s\n", what, msg);
}

typedef struct bad_case {
    const char *what;
    const char *header;
    size_t data_len;
    const char *n1, *n2;
} bad_case;

#define T(name, dtype, shape, offs)                                                                \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static const bad_case bad_headers[] = {
    {"header not JSON", "{\"w\": [1, 2", 0, "not valid JSON", NULL},
    {"header not an object", "[1, 2, 3]", 0, "not a JSON object", NULL},
    {"header empty", "", 0, "not valid JSON", NULL},
    {"entry not an object", "{\"w\": 3}", 0, "tensor 'w'", "not a JSON object"},
    {"dtype unknown", "{" T("w", "F4", "[2]", "[0,1]") "}", 4, "tensor 'w'", "unknown dtype 'F4'"},
    {"dtype missing", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,2]}}", 4, "tensor 'w'", "dtype"},
    {"dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,2]}}", 4,
     "tensor 'w'", "dtype"},
    {"shape negative", "{" T("w", "U8", "[-1,2]", "[0,2]") "}", 4, "tensor 'w'", "non-negative"},
    {"shape not integers", "{" T("w", "U8", "[2.0,1]", "[0,2]") "}", 4, "tensor 'w'", "integers"},
    {"shape strings", "{" T("w", "U8", "[\"2\"]", "[0,2]") "}", 4, "tensor 'w'", "integers"},
    {"shape not an array", "{" T("w", "U8", "2", "[0,2]") "}", 4, "tensor 'w'", "shape"},
    {"shape 9 dims", "{" T("w", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 4, "tensor 'w'",
     "9 dimensions"},
    {"shape overflows", "{" T("w", "F32", "[4294967296,4294967296,4]", "[0,4]") "}", 4,
     "tensor 'w'", "too many"},
    {"bytes overflow", "{" T("w", "F64", "[4611686018427387904]", "[0,4]") "}", 4, "tensor 'w'",
     "too many bytes"},
    {"offsets past the end", "{" T("blocks.0.w", "U8", "[99]", "[0,99]") "}", 64,
     "tensor 'blocks.0.w': data_offsets [0, 99] past the end of the data (64 bytes)", NULL},
    {"offsets begin > end", "{" T("w", "U8", "[4]", "[8,4]") "}", 16, "tensor 'w'",
     "[8, 4] begin after end"},
    {"offsets one number", "{" T("w", "U8", "[4]", "[4]") "}", 16, "tensor 'w'", "data_offsets"},
    {"offsets negative", "{" T("w", "U8", "[4]", "[-4,0]") "}", 16, "tensor 'w'", "data_offsets"},
    {"offsets strings", "{" T("w", "U8", "[4]", "[0,\"4\"]") "}", 16, "tensor 'w'", "data_offsets"},
    {"offsets missing", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4]}}", 16, "tensor 'w'",
     "data_offsets"},
    {"offsets huge", "{" T("w", "U8", "[4]", "[18446744073709551612,18446744073709551616]") "}", 16,
     "not valid JSON", NULL},
    {"shape x dtype != bytes", "{" T("w", "F32", "[2,3]", "[0,20]") "}", 32, "tensor 'w'",
     "shape (2, 3) of F32 needs 24 bytes but data_offsets [0, 20] hold 20"},
    {"overlapping tensors",
     "{" T("a", "U8", "[16]", "[0,16]") "," T("b", "U8", "[16]", "[8,24]") "}", 32,
     "tensors 'a' [0, 16] and 'b' [8, 24] overlap", NULL},
    {"same bytes twice", "{" T("a", "U8", "[8]", "[0,8]") "," T("b", "U8", "[8]", "[0,8]") "}", 32,
     "overlap", NULL},
    {"duplicate names",
     "{" T("blocks.0.w", "U8", "[8]", "[0,8]") "," T("blocks.0.w", "U8", "[8]", "[8,16]") "}", 32,
     "'blocks.0.w' twice", NULL},
    {"metadata not strings",
     "{\"__metadata__\":{\"format\":\"pt\",\"step\":1000}," T("w", "U8", "[1]", "[0,1]") "}", 4,
     "__metadata__", "'step' is not a string"},
    {"metadata not an object", "{\"__metadata__\":[\"pt\"]}", 0, "__metadata__", NULL},
    {"truncated data", "{" T("w", "F32", "[4]", "[0,16]") "}", 8,
     "data_offsets [0, 16] past the end of the data (8 bytes)", NULL},
    {"NUL in header", "{\"w\\u0000x\":1}", 0, "not valid JSON", NULL},
    {"invalid UTF-8", "{\"w\xff\":1}", 0, "not valid JSON", NULL},
    {"trailing garbage", "{} x", 0, "not valid JSON", NULL},
};

static void test_bad_files(void) {
    char path[4096];
    /* missing, a directory, empty, too short */
    snprintf(path, sizeof path, "%s/missing.safetensors", zt_test_tmpdir());
    expect_bad("missing file", path, "No such file", NULL);
    expect_bad("directory", zt_test_tmpdir(), "is a directory", NULL);
    zt_test_write_file(tmp("empty.safetensors"), "", 0);
    expect_bad("empty file", tmp_path, "empty file", NULL);
    zt_test_write_file(tmp("seven.safetensors"), "\x10\0\0\0\0\0\0", 7);
    expect_bad("7-byte file", tmp_path, "too short (7 bytes)", NULL);

    size_t n;
    uint8_t *p;
    /* header length past the end of the file */
    p = build("{}", 100, 10, &n);
    zt_test_write_file(tmp("hlen_past.safetensors"), p, n);
    free(p);
    expect_bad("header length past end", tmp_path, "header length 100 runs past the end", "12");
    /* absurd header length, and what the file probably is */
    p = build("{}", 1ull << 60, 10, &n);
    zt_test_write_file(tmp("hlen_absurd.safetensors"), p, n);
    free(p);
    expect_bad("header length 2^60", tmp_path, "implausible", NULL);
    zt_test_write_file(tmp("zip.safetensors"), "PK\x03\x04\x14\0\0\0\0\0", 10);
    expect_bad("zip file", tmp_path, "zip archive", NULL);
    zt_test_write_file(tmp("gguf.safetensors"), "GGUF\x03\0\0\0\0\0\0\0", 12);
    expect_bad("gguf file", tmp_path, "GGUF", NULL);
    zt_test_write_file(tmp("config.safetensors"), "{\"dim\": 1536, \"ffn_dim\": 8960}", 30);
    expect_bad("JSON file", tmp_path, "JSON text", NULL);

    char name[64];
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        const bad_case *c = &bad_headers[i];
        snprintf(name, sizeof name, "bad%02zu.safetensors", i);
        expect_bad(c->what, write_st(name, c->header, c->data_len), c->n1, c->n2);
        /* the same through memory */
        p = build(c->header, strlen(c->header), c->data_len, &n);
        zt_safetensors *st = NULL;
        zt_status s = zt_safetensors_open_memory(&st, "mem.safetensors", p, n);
        CHECK(s == ZT_ERR_INPUT && !st && zt_test_contains(zt_last_error(), "mem.safetensors"),
              "%s (memory): %s", c->what, zt_last_error());
        free(p);
    }
    zt_safetensors *st = NULL;
    CHECK_FAILS(zt_safetensors_open(&st, ""), ZT_ERR_INPUT, "no model file");
}

/* ---- random mutations ----------------------------------------------------------------------- */

/* Touch everything an accepted file claims to have, so an offset check that let a bad
 * file through shows up as an ASan report or a crash. */
static void touch_all(zt_safetensors *st, volatile double *sink) {
    for (size_t i = 0; i < zt_safetensors_count(st); i++) {
        const zt_st_entry *e = zt_safetensors_entry(st, i);
        const uint8_t *d = zt_safetensors_data(st, e);
        for (uint64_t b = 0; b < e->nbytes; b++) *sink += d[b];
        float *f = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *f);
        if (zt_safetensors_read_f32(st, e, f, e->numel) == ZT_OK && e->numel) *sink += f[0];
        free(f);
        zt_tensor v;
        if (zt_safetensors_tensor(st, e, &v) == ZT_OK) *sink += (double)zt_tensor_nbytes(&v);
        *sink += zt_safetensors_find(st, e->name) == e;
    }
    for (size_t i = 0; i < zt_safetensors_metadata_count(st); i++)
        *sink += (double)strlen(zt_safetensors_metadata_value(st, i));
}

static const char interesting[] = "\"{}[],:0123456789-. e\\";
static const char *numbers[] = {"0",
                                "1",
                                "-1",
                                "7",
                                "99",
                                "4294967296",
                                "9223372036854775807",
                                "9223372036854775808",
                                "18446744073709551615",
                                "1e3",
                                "2.5",
                                "999999999999999999999",
                                "-9223372036854775808"};

static void test_mutations(void) {
    size_t base_n;
    uint8_t *base = zt_test_read_file(FIXTURES "/small.safetensors", &base_n);
    CHECK(base && base_n > 8, "read small.safetensors");
    if (!base || base_n <= 8) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];

    zt_test_rng rng = {20240611};
    int accepted = 0, rejected = 0, wrong = 0;
    volatile double sink = 0; /* keeps the reads from being optimised away */
    enum { ITER = 4000 };
    for (int it = 0; it < ITER; it++) {
        size_t cap = base_n + 64;
        uint8_t *m = malloc(cap);
        memcpy(m, base, base_n);
        size_t n = base_n;
        int muts = 1 + (int)(zt_test_rand_u64(&rng) % 3);
        for (int k = 0; k < muts; k++) {
            uint64_t r = zt_test_rand_u64(&rng);
            size_t hpos = 8 + (size_t)(r >> 8) % (size_t)hlen;
            switch (r % 6) {
            case 0: /* any byte anywhere */
                if (n) m[(size_t)(r >> 8) % n] = (uint8_t)(r >> 40);
                break;
            case 1: /* a JSON-significant character in the header */
                if (hpos < n) m[hpos] = (uint8_t)interesting[(r >> 40) % (sizeof interesting - 1)];
                break;
            case 2: { /* the length prefix */
                uint64_t choices[] = {0, 1, hlen - 1, hlen + 1, n - 8, n - 7, r >> 3, 1ull << 63};
                uint64_t v = choices[(r >> 8) % 8];
                for (int i = 0; i < 8; i++) m[i] = (uint8_t)(v >> (8 * i));
                break;
            }
            case 3: /* truncate */
                n = (size_t)(r >> 8) % (n + 1);
                break;
            case 4: { /* replace a number in the header, keeping the JSON well formed */
                size_t i = hpos;
                while (i < 8 + hlen && i < n && !(m[i] >= '0' && m[i] <= '9')) i++;
                if (i >= 8 + hlen || i >= n) break;
                size_t j = i;
                while (j < n && m[j] >= '0' && m[j] <= '9') j++;
                const char *num = numbers[(r >> 40) % (sizeof numbers / sizeof numbers[0])];
                size_t ln = strlen(num);
                if (n - (j - i) + ln > cap) break;
                memmove(m + i + ln, m + j, n - j);
                memcpy(m + i, num, ln);
                n = n - (j - i) + ln;
                uint64_t nh = hlen - (j - i) + ln;
                for (int b = 0; b < 8; b++) m[b] = (uint8_t)(nh >> (8 * b));
                break;
            }
            case 5: /* drop a header byte and fix the length */
                if (hpos < n) {
                    memmove(m + hpos, m + hpos + 1, n - hpos - 1);
                    n--;
                    uint64_t nh = hlen - 1;
                    for (int b = 0; b < 8; b++) m[b] = (uint8_t)(nh >> (8 * b));
                }
                break;
            }
        }
        /* an exact-size heap copy, so ASan sees any read past the end */
        uint8_t *buf = malloc(n ? n : 1);
        memcpy(buf, m, n);
        zt_safetensors *st = NULL;
        zt_status s = zt_safetensors_open_memory(&st, "fuzz.safetensors", buf, n);
        if (s == ZT_OK) {
            accepted++;
            touch_all(st, &sink);
        } else {
            rejected++;
            if (s != ZT_ERR_INPUT || st || !zt_test_contains(zt_last_error(), "fuzz.safetensors"))
                if (!wrong++)
                    fprintf(stderr, "mutation %d: %s: %s\n", it, zt_status_string(s),
                            zt_last_error());
        }
        zt_safetensors_close(st);
        /* every 16th also through a mapped file */
        if (it % 16 == 0) {
            zt_test_write_file(tmp("fuzz.safetensors"), buf, n);
            s = zt_safetensors_open(&st, tmp_path);
            if (s == ZT_OK)
                touch_all(st, &sink);
            else
                wrong += s != ZT_ERR_INPUT || st != NULL;
            zt_safetensors_close(st);
        }
        free(buf);
        free(m);
    }
    CHECK(wrong == 0, "%d mutated files failed without ZT_ERR_INPUT and the file name", wrong);
    printf("  %d mutations: %d accepted, %d rejected\n", ITER, accepted, rejected);
    free(base);
}

int main(void) {
    printf("fixtures\n");
    test_fixtures();
    printf("valid corner cases\n");
    test_valid_corners();
    printf("malformed files\n");
    test_bad_files();
    printf("random mutations\n");
    test_mutations();
    return zt_test_finish();
}

/* The torch.save reader: checkpoints written by torch (compared byte for byte with
 * the safetensors copies tools/make_pth_fixtures.py wrote), through zt_weights, bad and
 * hostile files (each must fail with ZT_ERR_INPUT and one line naming the file), zips
 * and pickles built here for the cases torch never writes, and random byte flips of a
 * valid file that must never crash (run under ASan). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/pth.h"
#include "io/weights.h"
#include "testlib.h"

#define FIXTURES ZT_TEST_DATA "/pth"

static char tmp_path[4096];

static const char *tmp(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", zt_test_tmpdir(), name);
    return tmp_path;
}

static const char *fixture(const char *name) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", FIXTURES, name);
    return buf[k];
}

/* ---- checkpoints written by torch --------------------------------------------------------- */

static const void *data_of(const zt_safetensors *st, const char *name) {
    const zt_st_entry *e = zt_safetensors_find(st, name);
    return e ? zt_safetensors_data(st, e) : NULL;
}

/* st holds exactly the tensors of the safetensors copy ref: names, dtypes, shapes and
 * bytes. */
static void check_against(const zt_safetensors *st, const char *file, const zt_safetensors *ref) {
    CHECK(zt_safetensors_count(st) == zt_safetensors_count(ref), "%s: %zu tensors, want %zu", file,
          zt_safetensors_count(st), zt_safetensors_count(ref));
    for (size_t i = 0; i < zt_safetensors_count(st); i++) {
        const zt_st_entry *e = zt_safetensors_entry(st, i);
        CHECK(zt_safetensors_find(st, e->name) == e, "%s: find %s", file, e->name);
        CHECK(zt_safetensors_find(ref, e->name), "%s: unexpected tensor %s", file, e->name);
    }
    for (size_t i = 0; i < zt_safetensors_count(ref); i++) {
        const zt_st_entry *r = zt_safetensors_entry(ref, i);
        const zt_st_entry *e = zt_safetensors_find(st, r->name);
        CHECK(e != NULL, "%s: %s missing", file, r->name);
        if (!e) continue;
        char got[160], want[160];
        CHECK(e->dtype == r->dtype && e->ndim == r->ndim && e->numel == r->numel &&
                  e->nbytes == r->nbytes && e->ndim >= 0 && e->ndim <= ZT_ST_MAX_DIMS &&
                  !memcmp(e->shape, r->shape, (size_t)e->ndim * sizeof *e->shape),
              "%s: %s is %s %s, want %s %s", file, r->name, zt_dtype_name(e->dtype),
              zt_st_entry_shape_str(e, got, sizeof got), zt_dtype_name(r->dtype),
              zt_st_entry_shape_str(r, want, sizeof want));
        CHECK(e->nbytes != r->nbytes ||
                  !memcmp(zt_safetensors_data(st, e), zt_safetensors_data(ref, r), r->nbytes),
              "%s: %s bytes differ", file, r->name);
        /* torch aligns storages to 64 bytes, so every entry makes a typed view in place */
        zt_tensor v;
        CHECK_OK(zt_safetensors_tensor(st, e, &v));
        CHECK(v.data == zt_safetensors_data(st, e), "%s: %s view", file, r->name);
    }
}

static void check_views(const zt_safetensors *st, const char *file) {
    /* views and tied weights point into one storage: nothing was copied */
    const uint8_t *big = data_of(st, "big");
    CHECK(big && data_of(st, "view") == big + 2 * 4, "%s: 'view' is big[2:4]", file);
    CHECK(big && data_of(st, "row") == big + 3 * 4, "%s: 'row' is big.view(4, 3)[1:2]", file);
    CHECK(data_of(st, "tied") && data_of(st, "tied") == data_of(st, "f32"), "%s: tied", file);
    const zt_st_entry *s = zt_safetensors_find(st, "scalar");
    CHECK(s && s->ndim == 0 && s->numel == 1, "%s: 0-D scalar", file);
    const zt_st_entry *f = zt_safetensors_find(st, "five");
    CHECK(f && f->ndim == 5, "%s: 5-D", file);
    CHECK(!zt_safetensors_find(st, "step") && !zt_safetensors_find(st, "nested.count"),
          "%s: non-tensors skipped", file);
}

static void test_fixtures(void) {
    static const struct {
        const char *file, *ref;
    } files[] = {{"tensors.pth", "tensors.safetensors"},
                 {"module.pth", "module.safetensors"},
                 {"checkpoint_p4.pth", "checkpoint_p4.safetensors"},
                 {"zip64.pth", "tensors.safetensors"}};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const char *path = fixture(files[i].file);
        zt_safetensors *st = NULL, *ref = NULL;
        CHECK_OK(zt_pth_open(&st, path));
        CHECK_OK(zt_safetensors_open(&ref, fixture(files[i].ref)));
        if (st && ref) {
            CHECK(!strcmp(zt_safetensors_path(st), path), "path %s", zt_safetensors_path(st));
            check_against(st, files[i].file, ref);
            if (!strcmp(files[i].ref, "tensors.safetensors")) check_views(st, files[i].file);
            printf("  %-22s %zu tensors match\n", files[i].file, zt_safetensors_count(st));
        }
        zt_safetensors_close(st);
        zt_safetensors_close(ref);
    }

    /* names: OrderedDict keys as they are, nested dicts and integer keys dotted; values
     * read as f32 like any other file's */
    zt_safetensors *st = NULL;
    CHECK_OK(zt_pth_open(&st, fixture("checkpoint_p4.pth")));
    const zt_st_entry *e = st ? zt_safetensors_find(st, "optimizer.state.0.step") : NULL;
    float step = 0;
    if (e) CHECK_OK(zt_safetensors_read_f32(st, e, &step, 1));
    CHECK(e && e->ndim == 0 && step == 5 && zt_safetensors_find(st, "state_dict.1.running_var"),
          "nested names");
    CHECK(st && zt_safetensors_metadata_count(st) == 0, "no metadata");
    zt_safetensors_close(st);

    /* from memory: the same entries, pointing into the caller's buffer */
    size_t n;
    uint8_t *bytes = zt_test_read_file(fixture("tensors.pth"), &n);
    zt_safetensors *ref = NULL;
    CHECK_OK(zt_pth_open_memory(&st, "mem.pth", bytes, n));
    CHECK_OK(zt_safetensors_open(&ref, fixture("tensors.safetensors")));
    if (st && ref) {
        check_against(st, "mem.pth", ref);
        CHECK(!strcmp(zt_safetensors_path(st), "mem.pth"), "memory label");
        const uint8_t *big = data_of(st, "big");
        CHECK(big > bytes && big < bytes + n, "entries point into the caller's buffer");
    }
    zt_safetensors_close(st);
    zt_safetensors_close(ref);
    free(bytes);
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    uint8_t *p = zt_test_read_file(from, &n);
    zt_test_write_file(to, p, n);
    free(p);
}

static void test_weights(void) {
    zt_weights *w = NULL;
    CHECK_OK(zt_weights_open(&w, fixture("module.pth")));
    if (w) {
        float x[3];
        CHECK_OK(zt_weights_get_f32(w, x, 1, ZT_SHAPE(3), "1.running_var"));
        CHECK(x[0] == 1 && x[2] == 1, "running_var = ones");
        zt_tensor t;
        CHECK_OK(zt_weights_get_shape(w, &t, 4, ZT_SHAPE(3, 2, 3, 3), "0.weight"));
        CHECK(zt_weights_count(w) == 9, "module.pth: %zu tensors", zt_weights_count(w));
    }
    zt_weights_close(w);

    /* a .pth beside a safetensors file */
    const char *two[] = {fixture("module.pth"), ZT_TEST_DATA "/safetensors/small.safetensors"};
    CHECK_OK(zt_weights_open_files(&w, two, 2));
    CHECK(w && zt_weights_has(w, "video.latent") && zt_weights_has(w, "2.bias"), "mixed files");
    zt_weights_close(w);

    /* a directory holding one .pth, then two */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmp("one"));
    mkdir(dir, 0755);
    copy_file(fixture("checkpoint_p4.pth"), tmp("one/Wan2.1_VAE.pth"));
    CHECK_OK(zt_weights_open(&w, dir));
    CHECK(w && zt_weights_has(w, "state_dict.0.bias"), "directory with one .pth");
    zt_weights_close(w);
    copy_file(fixture("module.pth"), tmp("one/other.pth"));
    CHECK_FAILS(zt_weights_open(&w, dir), ZT_ERR_INPUT, "2 .pth files");

    /* hostile and legacy files are recognised by their bytes, whatever the name */
    copy_file(fixture("evil_os_system.pth"), tmp("evil.safetensors"));
    CHECK_FAILS(zt_weights_open(&w, tmp_path), ZT_ERR_INPUT, "forbidden pickle global");
    CHECK_FAILS(zt_weights_open(&w, fixture("legacy.pth")), ZT_ERR_INPUT, "legacy (pre-1.6)");
    CHECK(w == NULL, "handle cleared");
    CHECK(zt_pth_sniff(fixture("tensors.pth")) &&
              !zt_pth_sniff(ZT_TEST_DATA "/safetensors/small.safetensors") &&
              !zt_pth_sniff(tmp("missing.pth")),
          "sniff");
}

/* ---- bad files ------------------------------------------------------------------------------ */

/* Opening must fail with ZT_ERR_INPUT, clear *st, name the file in one line, contain
 * needle. */
static void expect_bad(const char *what, const char *path, const char *needle) {
    zt_safetensors *st = (zt_safetensors *)1;
    zt_status s = zt_pth_open(&st, path);
    const char *msg = zt_last_error();
    CHECK(s == ZT_ERR_INPUT, "%s: status %s (%s)", what, zt_status_string(s), msg);
    CHECK(st == NULL, "%s: handle not cleared", what);
    CHECK(zt_test_contains(msg, path), "%s: '%s' does not name the file", what, msg);
    CHECK(zt_test_contains(msg, needle), "%s: '%s' lacks '%s'", what, msg, needle);
    CHECK(!strchr(msg, '\n'), "%s: message has a newline", what);
    printf("  %-22s %s\n", what, msg + strlen(path));
}

static void test_bad_fixtures(void) {
    static const struct {
        const char *file, *needle;
    } cases[] = {
        {"evil_os_system.pth", "forbidden pickle global 'os.system'"},
        {"evil_eval.pth", "forbidden pickle global 'builtins.eval'"},
        {"bad_opcode.pth", "unsupported pickle opcode 0x49 at byte 9"},
        {"deflate.pth", "compressed entry 'x/data/0' is not supported"},
        {"noncontig.pth", "tensor 't' is not contiguous (shape (3, 2), stride (1, 3))"},
        {"missing_storage.pth", "tensor 'b': storage record 'x/data/1' is missing"},
        {"short_storage.pth", "tensor 'a': storage '0' holds 5 bytes"},
        {"big_endian.pth", "byteorder is 'big'"},
        {"legacy.pth", "legacy (pre-1.6) torch format is not supported"},
        {"top_tensor.pth", "the saved object is a tensor, not a dict"},
        {"uint16.pth", "tensor type 'torch.uint16' is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_bad(cases[i].file, fixture(cases[i].file), cases[i].needle);

    expect_bad("missing file", tmp("missing.pth"), "No such file");
    expect_bad("directory", zt_test_tmpdir(), "is a directory");
    zt_test_write_file(tmp("empty.pth"), "", 0);
    expect_bad("empty file", tmp_path, "empty file");
    expect_bad("safetensors", ZT_TEST_DATA "/safetensors/small.safetensors",
               "a safetensors file, not a torch zip");
    zt_test_write_file(tmp("text.pth"), "hello, world", 12);
    expect_bad("text", tmp_path, "not a zip archive");
}

static void test_truncated(void) {
    size_t n;
    uint8_t *full = zt_test_read_file(fixture("tensors.pth"), &n);
    CHECK(full && n > 1000, "read tensors.pth");
    if (!full) return;
    /* every prefix: an exact-size heap copy, so ASan sees any read past the end */
    int wrong = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, full, len);
        zt_safetensors *st = NULL;
        zt_status s = zt_pth_open_memory(&st, "cut.pth", p, len);
        if ((s != ZT_ERR_INPUT || st) && !wrong++)
            fprintf(stderr, "cut at %zu: %s: %s\n", len, zt_status_string(s), zt_last_error());
        zt_safetensors_close(st);
        free(p);
    }
    CHECK(wrong == 0, "%d truncated copies opened or failed wrongly", wrong);
    /* and a few through mapped files */
    const size_t cuts[] = {1, 21, 22, 1000, n / 2, n - 23, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        zt_test_write_file(tmp("cut.pth"), full, cuts[i]);
        expect_bad(i < 2 ? "cut in the header" : "cut", tmp_path,
                   i == 0   ? "not a zip archive"
                   : i == 1 ? "too short for a zip archive"
                            : "truncated");
    }
    free(full);
}

/* ---- zips and pickles built here ---------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (!n) return;
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
#define PUT(b, lit) put((b), (lit), sizeof(lit) - 1)

static void put_le(buf *b, uint64_t v, int bytes) {
    uint8_t x[8];
    for (int i = 0; i < bytes; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)bytes);
}

typedef struct zrec {
    const char *name;
    const void *data;
    size_t len;
    unsigned method, flags;
} zrec;

/* A zip of stored records (method and flags only written, never applied). */
static buf make_zip(const zrec *r, size_t n) {
    buf z = {0};
    size_t *offs = calloc(n, sizeof *offs);
    for (size_t i = 0; i < n; i++) {
        offs[i] = z.n;
        put_le(&z, 0x04034b50, 4);
        put_le(&z, 20, 2);
        put_le(&z, r[i].flags, 2);
        put_le(&z, r[i].method, 2);
        put_le(&z, 0, 4 + 4); /* time, date, crc */
        put_le(&z, r[i].len, 4);
        put_le(&z, r[i].len, 4);
        put_le(&z, strlen(r[i].name), 2);
        put_le(&z, 0, 2);
        put(&z, r[i].name, strlen(r[i].name));
        put(&z, r[i].data, r[i].len);
    }
    size_t cd = z.n;
    for (size_t i = 0; i < n; i++) {
        put_le(&z, 0x02014b50, 4);
        put_le(&z, 20, 2);
        put_le(&z, 20, 2);
        put_le(&z, r[i].flags, 2);
        put_le(&z, r[i].method, 2);
        put_le(&z, 0, 4 + 4);
        put_le(&z, r[i].len, 4);
        put_le(&z, r[i].len, 4);
        put_le(&z, strlen(r[i].name), 2);
        put_le(&z, 0, 8); /* extra, comment, disk, attributes */
        put_le(&z, 0, 4);
        put_le(&z, offs[i], 4);
        put(&z, r[i].name, strlen(r[i].name));
    }
    size_t cd_size = z.n - cd;
    put_le(&z, 0x06054b50, 4);
    put_le(&z, 0, 4);
    put_le(&z, n, 2);
    put_le(&z, n, 2);
    put_le(&z, cd_size, 4);
    put_le(&z, cd, 4);
    put_le(&z, 0, 2);
    free(offs);
    return z;
}

static const float storage0[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* A zip "t/data.pkl" = pkl, "t/data/0" = storage0. */
static buf zip_with_pickle(const buf *pkl) {
    zrec r[] = {{"t/data.pkl", pkl->p, pkl->n, 0, 0},
                {"t/data/0", storage0, sizeof storage0, 0, 0},
                {"t/byteorder", "little", 6, 0, 0}};
    return make_zip(r, 3);
}

/* Opening a zip whose data.pkl is pkl (n bytes) gives status and a message holding needle. */
static void expect_pickle(const char *what, const void *pkl, size_t n, zt_status want,
                          const char *needle) {
    buf p = {0};
    put(&p, pkl, n);
    buf z = zip_with_pickle(&p);
    zt_safetensors *st = NULL;
    zt_status s = zt_pth_open_memory(&st, "made.pth", z.p, z.n);
    const char *msg = s == ZT_OK ? "ok" : zt_last_error();
    CHECK(s == want, "%s: %s (%s)", what, zt_status_string(s), msg);
    CHECK(s == ZT_OK || zt_test_contains(msg, needle), "%s: '%s' lacks '%s'", what, msg, needle);
    CHECK(s == ZT_OK || (zt_test_contains(msg, "made.pth: ") && !strchr(msg, '\n')), "%s: '%s'",
          what, msg);
    if (s != ZT_OK) printf("  %-26s %s\n", what, msg + strlen("made.pth: "));
    zt_safetensors_close(st);
    free(p.p);
    free(z.p);
}

/* ('storage', FloatStorage, '0', 'cpu', 8) rebuilt as a tensor: offset, then a shape and
 * stride pushed by the caller's bytes */
#define TENSOR_HEAD                                                                                \
    "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\0\0\0storagectorch\nFloatStorage\n"                \
    "X\x01\0\0\0"                                                                                  \
    "0X\x03\0\0\0cpuK\x08tQ"
#define TENSOR_TAIL                                                                                \
    "\x89"                                                                                         \
    "ccollections\nOrderedDict\n)Rt"                                                               \
    "R"

/* Pickles outside the subset, each in a zip of its own: (what, bytes, message part). */
#define BAD(what, lit, needle)                                                                     \
    { (what), (lit), sizeof(lit) - 1, (needle) }
static const struct {
    const char *what, *pkl;
    size_t len;
    const char *needle;
} bad_pickles[] = {
    /* globals */
    BAD("os.system", "\x80\x02}X\x01\0\0\0wcos\nsystem\nX\x02\0\0\0id\x85Rs.",
        "forbidden pickle global 'os.system'"),
    BAD("getattr",
        "\x80\x02"
        "c__builtin__\ngetattr\n.",
        "forbidden pickle global '__builtin__.getattr'"),
    BAD("newline in a name", "\x80\x04\x8c\x04os\nx\x8c\x01y\x93.",
        "forbidden pickle global 'os?x.y'"),
    /* opcodes */
    BAD("INST", "\x80\x02(ios\nsystem\n.", "unsupported pickle opcode 0x69 at byte 3"),
    BAD("LONG4", "\x80\x02\x8b\x01\0\0\0\x01.", "unsupported pickle opcode 0x8b"),
    BAD("protocol 6", "\x80\x06}.", "protocol 6 is not supported"),
    BAD("no STOP", "\x80\x02}", "without STOP"),
    BAD("empty pickle", "", "without STOP"),
    /* the stack, marks and memo */
    BAD("STOP on nothing", "\x80\x02.", "stack underflow at byte 2"),
    BAD("TUPLE without MARK", "\x80\x02Nt.", "no MARK"),
    BAD("pop below a MARK", "\x80\x02}(s.", "stack underflow"),
    BAD("TUPLE2 of one", "\x80\x02N\x86.", "stack underflow"),
    BAD("BINGET unset", "\x80\x02h\x05.", "memo index 5 was never stored"),
    BAD("memo index huge", "\x80\x02Nr\xff\xff\xff\x7f.", "too large"),
    BAD("BINPUT on nothing", "\x80\x02q\x00.", "stack underflow"),
    /* arguments */
    BAD("LONG1 of 9 bytes", "\x80\x02\x8a\x09\1\2\3\4\5\6\7\x08\x09.", "integer of 9 bytes"),
    BAD("string past the end", "\x80\x02X\xff\xff\0\0ab.", "truncated opcode 0x58"),
    BAD("BINUNICODE8 huge", "\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.",
        "truncated opcode 0x8d"),
    BAD("FRAME past the end", "\x80\x04\x95\xff\0\0\0\0\0\0\0}.", "frame runs past"),
    BAD("GLOBAL unterminated",
        "\x80\x02"
        "ctorch\nFloatStorage",
        "GLOBAL without"),
    /* containers and calls */
    BAD("SETITEM on a list", "\x80\x02]NNs.", "adding items to a list"),
    BAD("APPENDS on a dict", "\x80\x02}(Ne.", "adding items to a dict"),
    BAD("SETITEMS odd", "\x80\x02}(Nu.", "odd number of dict items"),
    BAD("BUILD on a list", "\x80\x02]Nb.", "BUILD on a list"),
    BAD("REDUCE of a string", "\x80\x02X\0\0\0\0)R.", "REDUCE calls a str"),
    BAD("call a storage type",
        "\x80\x02"
        "ctorch\nFloatStorage\n)R.",
        "cannot be called"),
    BAD("OrderedDict with args",
        "\x80\x02"
        "ccollections\nOrderedDict\nN\x85R.",
        "OrderedDict with arguments"),
    BAD("persid not a tuple", "\x80\x02NQ.", "persistent id is not"),
    BAD("persid without type",
        "\x80\x02(X\x07\0\0\0storageNX\x01\0\0\0"
        "0NK\x01tQ.",
        "no storage type"),
    BAD("rebuild, 3 arguments",
        "\x80\x02"
        "ctorch._utils\n_rebuild_tensor_v2\nNNN\x87R.",
        "with 3 arguments"),
    BAD("stride longer than size",
        "\x80\x02}X\x01\0\0\0w" TENSOR_HEAD "K\0K\x02\x85K\x01K\x01\x86" TENSOR_TAIL "s.",
        "tuples of at most 8"),
    /* the result */
    BAD("not a dict", "\x80\x02]q\0.", "the saved object is a list"),
    BAD("MARK, TUPLE: ()", "\x80\x02(t.", "the saved object is a tuple"),
    BAD("self-containing dict", "\x80\x02}q\0X\x01\0\0\0ah\0s.", "nested more than 32 deep"),
    BAD("None key", "\x80\x02}N}s.", "has a None key"),
    BAD("control character", "\x80\x02}X\x03\0\0\0a\nb}s.", "name 'a?b' holds a control"),
    /* tensors that do not fit their storage */
    BAD("storage too small",
        "\x80\x02}X\x01\0\0\0w" TENSOR_HEAD "K\x05K\x04\x85K\x01\x85" TENSOR_TAIL "s.",
        "holds 32 bytes, the tensor needs 4 elements of 4 bytes from element 5"),
    BAD("offset overflows",
        "\x80\x02}X\x01\0\0\0w" TENSOR_HEAD
        "\x8a\x08\0\0\0\0\0\0\0\x40K\x04\x85K\x01\x85" TENSOR_TAIL "s.",
        "holds 32 bytes"),
    BAD("shape overflows",
        "\x80\x02}X\x01\0\0\0w" TENSOR_HEAD
        "K\0\x8a\x06\0\0\0\0\0\x01\x8a\x06\0\0\0\0\0\x01\x86K\x01K\x01\x86" TENSOR_TAIL "s.",
        "too many elements"),
    BAD("negative offset",
        "\x80\x02}X\x01\0\0\0w" TENSOR_HEAD "J\xff\xff\xff\xffK\x04\x85K\x01\x85" TENSOR_TAIL "s.",
        "bad storage offset"),
    BAD("storage key missing",
        "\x80\x02}X\x01\0\0\0wctorch._utils\n_rebuild_tensor_v2\n((X\x07\0\0\0storage"
        "ctorch\nFloatStorage\nX\x01\0\0\0"
        "9X\x03\0\0\0cpuK\x08tQK\0K\x01\x85K\x01\x85" TENSOR_TAIL "s.",
        "storage record 't/data/9' is missing"),
};
#undef BAD

static void test_made_pickles(void) {
    /* every opcode of the subset in one valid pickle:
     * {'w': v2 tensor (2, 2) at offset 2 (a Parameter), 'n': -5, 'l': [...], 'f': 1.5,
     *  'sub': {'v': the same tensor, 7: 'x'}} */
    static const char good[] =
        "\x80\x02}r\0\0\0\0" /* LONG_BINPUT 0 */
        "(X\x01\0\0\0w"
        "ctorch._utils\n_rebuild_parameter\n" TENSOR_HEAD
        "K\x02K\x02K\x02\x86K\x02K\x01\x86" TENSOR_TAIL "\x94" /* MEMOIZE as 1 */
        "\x88}\x87R"                                           /* (tensor, True, {}) -> Parameter */
        "U\x01nJ\xfb\xff\xff\xff"                              /* SHORT_BINSTRING, BININT -5 */
        "T\x01\0\0\0l]q\x02Na\x88\x85"
        "a(M\x10\x27\x8a\x02\x00\x80"
        "e" /* BINSTRING, list */
        "\x8c\x01"
        "fG\x3f\xf8\0\0\0\0\0\0"            /* BINFLOAT 1.5 */
        "\x8d\x03\0\0\0\0\0\0\0sub}q\x03Nb" /* BINUNICODE8, BUILD with None */
        "(X\x01\0\0\0vj\x01\0\0\0K\x07X\x01\0\0\0xu"
        "u.";
    buf p = {0};
    PUT(&p, good);
    buf z = zip_with_pickle(&p);
    zt_safetensors *st = NULL;
    CHECK_OK(zt_pth_open_memory(&st, "made.pth", z.p, z.n));
    if (st) {
        const zt_st_entry *w = zt_safetensors_find(st, "w"), *v = zt_safetensors_find(st, "sub.v");
        CHECK(zt_safetensors_count(st) == 2 && w && v, "made: %zu tensors",
              zt_safetensors_count(st));
        float x[4] = {0};
        if (w) CHECK_OK(zt_safetensors_read_f32(st, w, x, 4));
        CHECK(w && w->ndim == 2 && x[0] == 3 && x[3] == 6, "made: w = storage[2:6]");
        CHECK(w && v && zt_safetensors_data(st, w) == zt_safetensors_data(st, v), "made: shared");
    }
    zt_safetensors_close(st);
    free(p.p);
    free(z.p);

    for (size_t i = 0; i < sizeof bad_pickles / sizeof *bad_pickles; i++)
        expect_pickle(bad_pickles[i].what, bad_pickles[i].pkl, bad_pickles[i].len, ZT_ERR_INPUT,
                      bad_pickles[i].needle);

    /* limits: a deep stack, a dict shared 2^30 ways */
    buf deep = {0};
    PUT(&deep, "\x80\x02");
    for (unsigned i = 0; i < ZT_PTH_MAX_STACK + 1; i++) PUT(&deep, "N");
    PUT(&deep, ".");
    expect_pickle("stack too deep", deep.p, deep.n, ZT_ERR_INPUT, "stack deeper than");
    deep.n = 0;
    PUT(&deep, "\x80\x02}q\0");
    for (int i = 1; i < 31; i++) {
        uint8_t d[] = {'}', 'q', (uint8_t)i, '(',
                       'X', 1,   0,          0,
                       0,   'a', 'h',        (uint8_t)(i - 1),
                       'X', 1,   0,          0,
                       0,   'b', 'h',        (uint8_t)(i - 1),
                       'u'};
        put(&deep, d, sizeof d);
    }
    PUT(&deep, ".");
    expect_pickle("shared 2^30 ways", deep.p, deep.n, ZT_ERR_INPUT, "visited more than");
    free(deep.p);
}

static void expect_zip(const char *what, const zrec *r, size_t n, const char *needle) {
    buf z = make_zip(r, n);
    zt_safetensors *st = NULL;
    zt_status s = zt_pth_open_memory(&st, "made.pth", z.p, z.n);
    CHECK(s == ZT_ERR_INPUT && !st, "%s: %s", what, zt_status_string(s));
    CHECK(zt_test_contains(zt_last_error(), needle), "%s: '%s' lacks '%s'", what, zt_last_error(),
          needle);
    printf("  %-26s %s\n", what, zt_last_error() + strlen("made.pth: "));
    zt_safetensors_close(st);
    free(z.p);
}

static void test_made_zips(void) {
    static const char empty_dict[] = "\x80\x02}.";
    zrec pkl = {"a/data.pkl", empty_dict, 4, 0, 0};
    zrec two[] = {pkl, {"b/data.pkl", empty_dict, 4, 0, 0}};
    expect_zip("two pickles", two, 2, "two pickles, 'a/data.pkl' and 'b/data.pkl'");
    zrec none[] = {{"a/data/0", "x", 1, 0, 0}};
    expect_zip("no data.pkl", none, 1, "without data.pkl");
    zrec script[] = {pkl, {"a/constants.pkl", empty_dict, 4, 0, 0}};
    expect_zip("TorchScript", script, 2, "TorchScript");
    zrec dup[] = {pkl, pkl};
    expect_zip("same name twice", dup, 2, "holds 'a/data.pkl' twice");
    zrec enc[] = {{"a/data.pkl", empty_dict, 4, 0, 1}};
    expect_zip("encrypted", enc, 1, "is encrypted");
    zrec defl[] = {{"a/data.pkl", empty_dict, 4, 8, 0}};
    expect_zip("deflated pickle", defl, 1, "compressed entry 'a/data.pkl' is not supported");
    zrec odd[] = {{"a/data.pkl", "\x80\x02}.", 4, 0, 0}, {"a/byteorder", "middle", 6, 0, 0}};
    expect_zip("byteorder", odd, 2, "byteorder is 'middle'");

    /* an empty dict at the top, no prefix: a valid checkpoint of nothing */
    zrec bare[] = {{"data.pkl", empty_dict, 4, 0, 0}};
    buf z = make_zip(bare, 1);
    zt_safetensors *st = NULL;
    CHECK_OK(zt_pth_open_memory(&st, "bare.pth", z.p, z.n));
    CHECK(st && zt_safetensors_count(st) == 0, "empty checkpoint");
    zt_safetensors_close(st);
    /* the same with a tensor whose storage is missing: the message names the record as
     * it is looked up, no prefix and no byte more (it once showed 'data/9d') */
    static const char missing[] = "\x80\x02}X\x01\0\0\0wctorch._utils\n_rebuild_tensor_v2\n("
                                  "(X\x07\0\0\0storagectorch\nFloatStorage\nX\x01\0\0\0"
                                  "9X\x03\0\0\0cpuK\x08tQK\0K\x01\x85K\x01\x85" TENSOR_TAIL "s.";
    zrec bare_missing[] = {{"data.pkl", missing, sizeof missing - 1, 0, 0}};
    expect_zip("no prefix, storage missing", bare_missing, 1, "record 'data/9' is missing");

    /* a comment after the end record is allowed; a broken directory offset is not */
    buf c = {0};
    put(&c, z.p, z.n);
    c.p[c.n - 2] = 5;
    PUT(&c, "hello");
    CHECK_OK(zt_pth_open_memory(&st, "comment.pth", c.p, c.n));
    zt_safetensors_close(st);
    c.p[c.n - 5 - 22 + 16] ^= 0x40; /* central directory offset */
    CHECK_FAILS(zt_pth_open_memory(&st, "cd.pth", c.p, c.n), ZT_ERR_INPUT, "central directory");
    free(c.p);
    free(z.p);

    /* ZIP64: a locator pointing nowhere */
    size_t n;
    uint8_t *p = zt_test_read_file(fixture("zip64.pth"), &n);
    if (p && n > 42) {
        CHECK(p[n - 42] == 'P' && p[n - 41] == 'K' && p[n - 40] == 6 && p[n - 39] == 7,
              "zip64.pth ends with a ZIP64 locator");
        p[n - 42 + 8] ^= 0x10;
        CHECK_FAILS(zt_pth_open_memory(&st, "z64.pth", p, n), ZT_ERR_INPUT, "ZIP64");
    }
    free(p);
}

/* ---- random byte flips ------------------------------------------------------------------- */

static void touch_all(const zt_safetensors *st, volatile double *sink) {
    for (size_t i = 0; i < zt_safetensors_count(st); i++) {
        const zt_st_entry *e = zt_safetensors_entry(st, i);
        float *x = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *x);
        if (zt_safetensors_read_f32(st, e, x, e->numel) == ZT_OK)
            for (int64_t k = 0; k < e->numel; k++) *sink += x[k];
        free(x);
        *sink += zt_safetensors_find(st, e->name) == e;
    }
}

static void test_flips(void) {
    size_t n;
    uint8_t *base = zt_test_read_file(fixture("tensors.pth"), &n);
    CHECK(base && n > 100, "read tensors.pth");
    if (!base) return;
    /* where data.pkl's bytes and the central directory are: the interesting parts */
    size_t pkl = 30 + (size_t)(base[26] | base[27] << 8) + (size_t)(base[28] | base[29] << 8);
    size_t cd = (size_t)base[n - 6] | (size_t)base[n - 5] << 8 | (size_t)base[n - 4] << 16;
    zt_test_rng rng = {20240611};
    int ok = 0, rejected = 0, wrong = 0;
    volatile double sink = 0;
    enum { ITER = 600 };
    for (int it = 0; it < ITER; it++) {
        uint8_t *m = malloc(n);
        memcpy(m, base, n);
        /* a third anywhere, a third in the pickle, a third in the zip directory */
        size_t lo = it % 3 == 0 ? 0 : it % 3 == 1 ? pkl : cd;
        size_t hi = it % 3 == 1 ? pkl + 900 : n;
        int flips = 1 + (int)(zt_test_rand_u64(&rng) % 4);
        for (int k = 0; k < flips; k++) {
            uint64_t r = zt_test_rand_u64(&rng);
            m[lo + (size_t)(r >> 8) % (hi - lo)] ^= (uint8_t)(1u << (r % 8));
        }
        zt_safetensors *st = NULL;
        zt_status s = zt_pth_open_memory(&st, "flip.pth", m, n);
        if (s == ZT_OK) {
            ok++;
            touch_all(st, &sink);
        } else {
            rejected++;
            if ((s != ZT_ERR_INPUT || st || !zt_test_contains(zt_last_error(), "flip.pth: ") ||
                 strchr(zt_last_error(), '\n')) &&
                !wrong++)
                fprintf(stderr, "flip %d: %s: %s\n", it, zt_status_string(s), zt_last_error());
        }
        zt_safetensors_close(st);
        if (it % 50 == 0) { /* some through a mapped file */
            zt_test_write_file(tmp("flip.pth"), m, n);
            s = zt_pth_open(&st, tmp_path);
            if (s == ZT_OK) touch_all(st, &sink);
            wrong += s != ZT_OK && (s != ZT_ERR_INPUT || st);
            zt_safetensors_close(st);
        }
        free(m);
    }
    CHECK(wrong == 0, "%d flipped files failed without a clean ZT_ERR_INPUT", wrong);
    printf("  %d flipped copies: %d opened, %d rejected\n", ITER, ok, rejected);
    free(base);
}

int main(void) {
    printf("checkpoints written by torch\n");
    test_fixtures();
    printf("through zt_weights\n");
    test_weights();
    printf("bad files\n");
    test_bad_fixtures();
    test_truncated();
    printf("pickles made here\n");
    test_made_pickles();
    printf("zips made here\n");
    test_made_zips();
    printf("random byte flips\n");
    test_flips();
    return zt_test_finish();
}

/* Tensor lookup by canonical name: a toy Wan-like model stored under three namings
 * (original, diffusers, ComfyUI's prefix) and as a sharded checkpoint, all holding the
 * same values (tests/data/safetensors, written by tools/make_safetensors_fixture.py).
 * Checks the rule mechanism, naming detection, index validation and the messages for a
 * missing tensor or a wrong shape or dtype. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/weights.h"
#include "testlib.h"

#define FIXTURES ZT_TEST_DATA "/safetensors"

/* The example tables: canonical names are Wan's original ones. */
static const zt_naming_rule diffusers_rules[] = {
    {"text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight"},
    {"text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight"},
    {"blocks.{}.self_attn.q.weight", "blocks.{}.attn1.to_q.weight"},
    {"blocks.{}.norm3.weight", "blocks.{}.norm2.weight"},
    {"blocks.{}.ffn.0.weight", "blocks.{}.ffn.net.0.proj.weight"},
    {"blocks.{}.ffn.2.weight", "blocks.{}.ffn.net.2.weight"},
    {"blocks.{}.modulation", "blocks.{}.scale_shift_table"},
    {"head.head.weight", "proj_out.weight"},
    {"head.modulation", "scale_shift_table"},
    {NULL, NULL},
};
static const zt_naming namings[] = {
    {"diffusers", NULL, diffusers_rules},
    {"comfyui", "model.diffusion_model.", NULL},
    {"original", NULL, NULL},
};
static const char *const probes[] = {"blocks.0.self_attn.q.weight", "head.head.weight",
                                     "text_embedding.0.weight"};
#define N_NAMINGS (sizeof namings / sizeof namings[0])
#define N_PROBES  (sizeof probes / sizeof probes[0])

static json_t *expected; /* expected.json's "wan": canonical name -> shape, values */

static char tmp_path[4096];
static const char *tmp(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", zt_test_tmpdir(), name);
    return tmp_path;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[4096];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static const char *fixture(const char *name) {
    static char path[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", FIXTURES, name);
    return path[k];
}

/* Every canonical tensor of the toy model has its values under the naming w uses. */
static void check_all_values(zt_weights *w, const char *what, zt_dtype dtype) {
    const char *name;
    json_t *t;
    int ok = 0;
    json_object_foreach(json_object_get(expected, "tensors"), name, t) {
        json_t *js = json_object_get(t, "shape"), *jv = json_object_get(t, "values");
        int ndim = (int)json_array_size(js);
        int64_t shape[8], numel = 1;
        for (int d = 0; d < ndim; d++) {
            shape[d] = json_integer_value(json_array_get(js, (size_t)d));
            numel *= shape[d];
        }
        zt_tensor v;
        CHECK_OK(zt_weights_get_shape(w, &v, ndim, shape, "%s", name));
        CHECK(v.dtype == dtype, "%s %s: dtype %s", what, name, zt_dtype_name(v.dtype));
        float *got = malloc((size_t)numel * sizeof *got);
        CHECK_OK(zt_weights_get_f32(w, got, ndim, shape, "%s", name));
        int same = 1;
        for (int64_t i = 0; i < numel; i++)
            same &= got[i] == (float)json_number_value(json_array_get(jv, (size_t)i));
        CHECK(same, "%s: %s values differ", what, name);
        ok += same;
        free(got);
    }
    printf("  %-12s %d tensors match by canonical name\n", what, ok);
}

/* Open, detect, check the naming picked and every value. */
static void check_model(const char *what, const char *path, size_t want_naming, zt_dtype dtype,
                        size_t want_files) {
    zt_weights *w = NULL;
    CHECK_OK(zt_weights_open(&w, path));
    if (!w) return;
    CHECK(zt_weights_file_count(w) == want_files, "%s: %zu files", what, zt_weights_file_count(w));
    size_t chosen = 99;
    CHECK_OK(zt_weights_detect_naming(w, namings, N_NAMINGS, probes, N_PROBES, &chosen));
    CHECK(chosen == want_naming && zt_weights_naming(w) == &namings[want_naming],
          "%s: naming %zu, want %s", what, chosen, namings[want_naming].name);
    check_all_values(w, what, dtype);

    /* printf-style names, has() */
    for (int i = 0; i < 2; i++) {
        zt_tensor q;
        CHECK_OK(zt_weights_get(w, &q, "blocks.%d.self_attn.q.weight", i));
        CHECK(q.ndim == 2 && q.shape[0] == 4 && q.shape[1] == 4, "%s: block %d q", what, i);
        CHECK(zt_weights_has(w, "blocks.%d.modulation", i), "%s: has block %d", what, i);
    }
    CHECK(!zt_weights_has(w, "blocks.%d.modulation", 2), "%s: has block 2", what);
    zt_weights_close(w);
}

static void test_namings(void) {
    check_model("original", fixture("wan_original.safetensors"), 2, ZT_F32, 1);
    check_model("diffusers", fixture("wan_diffusers.safetensors"), 0, ZT_F16, 1);
    check_model("comfyui", fixture("wan_comfy.safetensors"), 1, ZT_F32, 1);
    check_model("sharded", fixture("wan_sharded.safetensors.index.json"), 0, ZT_F16, 2);
    /* a shard given alone brings in its index */
    check_model("one shard", fixture("wan_sharded-00002-of-00002.safetensors"), 0, ZT_F16, 2);
}

static void expect_stored(zt_weights *w, const char *canonical, const char *want) {
    char buf[ZT_WEIGHTS_NAME_MAX];
    CHECK_OK(zt_weights_stored_name(w, canonical, buf, sizeof buf));
    CHECK(!strcmp(buf, want), "'%s' -> '%s', want '%s'", canonical, buf, want);
}

static void test_rules(void) {
    zt_weights *w = NULL;
    CHECK_OK(zt_weights_open(&w, fixture("wan_original.safetensors")));
    if (!w) return;

    CHECK_OK(zt_weights_set_naming(w, &namings[0]));
    expect_stored(w, "blocks.12.self_attn.q.weight", "blocks.12.attn1.to_q.weight");
    expect_stored(w, "blocks.007.self_attn.q.weight", "blocks.007.attn1.to_q.weight");
    expect_stored(w, "text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight");
    expect_stored(w, "text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight");
    /* literal digits match only themselves; unmatched names pass through */
    expect_stored(w, "text_embedding.1.weight", "text_embedding.1.weight");
    expect_stored(w, "blocks.3.norm3.weight", "blocks.3.norm2.weight");
    /* one step only: a rule's output is not fed to another rule */
    expect_stored(w, "blocks.3.norm2.weight", "blocks.3.norm2.weight");
    expect_stored(w, "blocks.3.ffn.0.weight", "blocks.3.ffn.net.0.proj.weight");
    expect_stored(w, "blocks.3.ffn.0.bias", "blocks.3.ffn.0.bias");
    expect_stored(w, "blocks.x.self_attn.q.weight", "blocks.x.self_attn.q.weight");
    expect_stored(w, "head.modulation", "scale_shift_table");
    expect_stored(w, "patch_embedding.weight", "patch_embedding.weight");

    CHECK_OK(zt_weights_set_naming(w, &namings[1]));
    expect_stored(w, "blocks.0.self_attn.q.weight",
                  "model.diffusion_model.blocks.0.self_attn.q.weight");

    /* several numbers, captured and literal, carried in order; first rule wins */
    static const zt_naming_rule vae_rules[] = {
        {"decoder.upsamples.{}.residual.{}.weight", "decoder.up_blocks.{}.resnets.{}.conv.weight"},
        {"decoder.head.2.{}.bias", "decoder.conv_out{}.bias"},
        {"blocks.0.w", "first"},
        {"blocks.{}.w", "general.{}"},
        {"blocks.0.w", "never"},
        {"conv2.weight", "post_quant_conv.weight"},
        {NULL, NULL},
    };
    static const zt_naming vae = {"vae", "vae.", vae_rules};
    CHECK_OK(zt_weights_set_naming(w, &vae));
    expect_stored(w, "decoder.upsamples.3.residual.2.weight",
                  "vae.decoder.up_blocks.3.resnets.2.conv.weight");
    expect_stored(w, "decoder.head.2.5.bias", "vae.decoder.conv_out5.bias");
    expect_stored(w, "decoder.head.1.5.bias", "vae.decoder.head.1.5.bias");
    expect_stored(w, "blocks.0.w", "vae.first");
    expect_stored(w, "blocks.10.w", "vae.general.10");
    expect_stored(w, "conv2.weight", "vae.post_quant_conv.weight");
    expect_stored(w, "conv1.weight", "vae.conv1.weight");

    /* malformed tables are bugs: ZT_ERR_RUNTIME, and the naming is cleared */
    static const zt_naming_rule adjacent[] = {{"blocks.{}0.w", "b.{}.w"}, {NULL, NULL}};
    static const zt_naming_rule twice[] = {{"blocks.{}{}.w", "b.{}.{}.w"}, {NULL, NULL}};
    static const zt_naming_rule count[] = {{"blocks.{}.w", "b.w"}, {NULL, NULL}};
    static const zt_naming bad1 = {"adjacent", NULL, adjacent}, bad2 = {"twice", NULL, twice},
                           bad3 = {"count", NULL, count};
    CHECK_FAILS(zt_weights_set_naming(w, &bad1), ZT_ERR_RUNTIME, "ambiguous");
    CHECK_FAILS(zt_weights_set_naming(w, &bad2), ZT_ERR_RUNTIME, "ambiguous");
    CHECK_FAILS(zt_weights_set_naming(w, &bad3), ZT_ERR_RUNTIME, "numbers of {}");
    CHECK(zt_weights_naming(w) == NULL, "naming cleared after a failure");
    expect_stored(w, "blocks.0.w", "blocks.0.w");

    /* a name too long for the buffers is refused, not truncated */
    char longname[ZT_WEIGHTS_NAME_MAX + 10];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    zt_tensor t;
    CHECK_FAILS(zt_weights_get(w, &t, "%s", longname), ZT_ERR_RUNTIME, "too long");
    char small[8];
    CHECK_FAILS(zt_weights_stored_name(w, "blocks.0.weight", small, sizeof small), ZT_ERR_RUNTIME,
                "too long");
    zt_weights_close(w);
}

static void test_errors(void) {
    zt_weights *w = NULL;
    const char *path = fixture("wan_diffusers.safetensors");
    CHECK_OK(zt_weights_open(&w, path));
    if (!w) return;
    CHECK_OK(zt_weights_set_naming(w, &namings[0]));
    zt_tensor t;
    char want[1024];
    snprintf(want, sizeof want,
             "%s: missing tensor 'blocks.7.attn1.to_q.weight' (canonical "
             "'blocks.7.self_attn.q.weight')",
             path);
    CHECK_FAILS(zt_weights_get(w, &t, "blocks.%d.self_attn.q.weight", 7), ZT_ERR_INPUT, want);
    snprintf(want, sizeof want, "%s: missing tensor 'no.such'", path);
    CHECK_FAILS(zt_weights_get(w, &t, "no.such"), ZT_ERR_INPUT, want);

    snprintf(want, sizeof want,
             "%s: tensor 'blocks.0.attn1.to_q.weight' has shape (4, 4), expected (4, 5)", path);
    CHECK_FAILS(zt_weights_get_shape(w, &t, 2, ZT_SHAPE(4, 5), "blocks.0.self_attn.q.weight"),
                ZT_ERR_INPUT, want);
    CHECK_FAILS(zt_weights_get_shape(w, &t, 1, ZT_SHAPE(16), "blocks.0.self_attn.q.weight"),
                ZT_ERR_INPUT, "has shape (4, 4), expected (16)");
    CHECK_FAILS(zt_weights_get_shape(w, &t, 3, ZT_SHAPE(1, 6, 5), "blocks.%d.modulation", 1),
                ZT_ERR_INPUT,
                "'blocks.1.scale_shift_table' has shape (1, 6, 4), expected (1, 6, 5)");
    CHECK_OK(zt_weights_get_shape(w, &t, 3, ZT_SHAPE(1, -1, 4), "blocks.%d.modulation", 1));
    CHECK(t.shape[1] == 6, "wildcard dim");
    CHECK_FAILS(zt_weights_get_shape(w, &t, 2, ZT_SHAPE(-1, 5), "blocks.0.self_attn.q.weight"),
                ZT_ERR_INPUT, "expected (*, 5)");
    snprintf(want, sizeof want, "%s: tensor 'freq_index' has dtype I64, expected a float type",
             path);
    CHECK_FAILS(zt_weights_get_shape(w, &t, 1, ZT_SHAPE(3), "freq_index"), ZT_ERR_INPUT, want);
    float f[16];
    CHECK_FAILS(zt_weights_get_f32(w, f, 1, ZT_SHAPE(3), "freq_index"), ZT_ERR_INPUT, "I64");
    CHECK_FAILS(zt_weights_get_f32(w, f, 1, ZT_SHAPE(5), "blocks.0.norm3.weight"), ZT_ERR_INPUT,
                "'blocks.0.norm2.weight' has shape (4), expected (5)");
    CHECK_OK(zt_weights_get(w, &t, "freq_index")); /* plain get takes any dtype */

    /* detection that fits nothing lists what each naming lacked */
    const char *const wrong[] = {"blocks.0.cross_attn.k.weight"};
    size_t chosen = 99;
    CHECK_FAILS(zt_weights_detect_naming(w, namings, N_NAMINGS, wrong, 1, &chosen), ZT_ERR_INPUT,
                "match no known naming (diffusers lacks 'blocks.0.cross_attn.k.weight'; comfyui "
                "lacks 'model.diffusion_model.blocks.0.cross_attn.k.weight'; original lacks");
    CHECK(chosen == 99 && zt_weights_naming(w) == NULL, "failed detection leaves no naming");
    printf("  %s\n", zt_last_error());
    zt_weights_close(w);
    zt_weights_close(NULL);
}

static void test_sources(void) {
    zt_weights *w = NULL;
    const zt_safetensors *file = NULL;

    /* the index: shards, entries by global index, index metadata */
    CHECK_OK(zt_weights_open(&w, fixture("wan_sharded.safetensors.index.json")));
    if (w) {
        CHECK(zt_weights_count(w) == 17, "sharded: %zu tensors", zt_weights_count(w));
        CHECK(zt_weights_index_path(w) != NULL, "sharded: index path");
        size_t in_second = 0;
        for (size_t i = 0; i < zt_weights_count(w); i++) {
            const zt_st_entry *e = zt_weights_entry(w, i, &file);
            CHECK(e && zt_weights_find(w, e->name, NULL) == e, "entry %zu", i);
            in_second += file == zt_weights_file(w, 1);
        }
        CHECK(in_second == 7, "sharded: %zu tensors in the second shard", in_second);
        CHECK(zt_weights_entry(w, 17, NULL) == NULL, "entry past the end");
        CHECK(zt_weights_index_metadata_count(w) == 1 &&
                  !strcmp(zt_weights_index_metadata_key(w, 0), "total_size") &&
                  !strcmp(zt_weights_index_metadata_value(w, 0), "664"),
              "index metadata");
        const zt_st_entry *e = zt_weights_find(w, "proj_out.weight", &file);
        CHECK(e && zt_test_contains(zt_safetensors_path(file), "00002-of-00002"), "find shard");
    }
    zt_weights_close(w);

    /* several files at once; the same file twice is a clash */
    const char *two[] = {fixture("wan_original.safetensors"), fixture("small.safetensors")};
    CHECK_OK(zt_weights_open_files(&w, two, 2));
    if (w) {
        CHECK(zt_weights_count(w) == 17 + 9, "two files: %zu", zt_weights_count(w));
        CHECK(zt_weights_has(w, "video.latent") && zt_weights_has(w, "head.head.weight"),
              "two files: lookups in both");
        CHECK(zt_test_contains(zt_weights_path(w), ", "), "label %s", zt_weights_path(w));
    }
    zt_weights_close(w);
    const char *same[] = {fixture("small.safetensors"), fixture("small.safetensors")};
    CHECK_FAILS(zt_weights_open_files(&w, same, 2), ZT_ERR_INPUT, "is in both");
    CHECK(w == NULL, "handle cleared");

    /* directories: one file, one index, ambiguous, empty */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmp("one"));
    mkdir(dir, 0755);
    copy_file(fixture("wan_comfy.safetensors"), tmp("one/model.safetensors"));
    CHECK_OK(zt_weights_open(&w, dir));
    CHECK(w && zt_weights_count(w) == 17, "directory with one file");
    zt_weights_close(w);
    copy_file(fixture("small.safetensors"), tmp("one/other.safetensors"));
    CHECK_FAILS(zt_weights_open(&w, dir), ZT_ERR_INPUT, "2 .safetensors files");
    snprintf(dir, sizeof dir, "%s", tmp("empty"));
    mkdir(dir, 0755);
    CHECK_FAILS(zt_weights_open(&w, dir), ZT_ERR_INPUT, "no .safetensors file or index");
    CHECK_FAILS(zt_weights_open(&w, tmp("nothing.safetensors")), ZT_ERR_INPUT,
                "No such file or directory");

    snprintf(dir, sizeof dir, "%s", tmp("sharded"));
    mkdir(dir, 0755);
    copy_file(fixture("wan_sharded-00001-of-00002.safetensors"), tmp("sharded/a.safetensors"));
    copy_file(fixture("wan_sharded-00002-of-00002.safetensors"), tmp("sharded/b.safetensors"));
    write_text(tmp("sharded/m.safetensors.index.json"),
               "{\"weight_map\": {\"patch_embedding.bias\": \"a.safetensors\","
               " \"proj_out.weight\": \"b.safetensors\"}}");
    CHECK_OK(zt_weights_open(&w, dir));
    CHECK(w && zt_weights_file_count(w) == 2 && zt_weights_count(w) == 17,
          "directory with an index");
    zt_weights_close(w);
}

/* An index in tmp/bad/ beside copies of the two shards must fail with needle. */
static void expect_bad_index(const char *what, const char *json, const char *needle) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bad/m.safetensors.index.json", zt_test_tmpdir());
    write_text(path, json);
    zt_weights *w = (zt_weights *)1;
    zt_status s = zt_weights_open(&w, path);
    CHECK(s == ZT_ERR_INPUT && w == NULL, "%s: %s", what, zt_status_string(s));
    CHECK(zt_test_contains(zt_last_error(), path), "%s: '%s' does not name the index", what,
          zt_last_error());
    CHECK(zt_test_contains(zt_last_error(), needle), "%s: '%s' lacks '%s'", what, zt_last_error(),
          needle);
    printf("  %-22s %s\n", what, zt_last_error());
}

static void test_bad_indexes(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmp("bad"));
    mkdir(dir, 0755);
    copy_file(fixture("wan_sharded-00001-of-00002.safetensors"), tmp("bad/a.safetensors"));
    copy_file(fixture("wan_sharded-00002-of-00002.safetensors"), tmp("bad/b.safetensors"));
    write_text(tmp("bad/garbage.safetensors"), "this is not a model");

    expect_bad_index("missing shard", "{\"weight_map\": {\"x\": \"gone.safetensors\"}}",
                     "gone.safetensors: cannot open: No such file");
    expect_bad_index("name not in its shard",
                     "{\"weight_map\": {\"proj_out.weight\": \"a.safetensors\"}}",
                     "tensor 'proj_out.weight' is mapped to");
    expect_bad_index("bad shard", "{\"weight_map\": {\"x\": \"garbage.safetensors\"}}",
                     "garbage.safetensors: header length");
    expect_bad_index("no weight_map", "{\"metadata\": {}}", "no \"weight_map\"");
    expect_bad_index("empty weight_map", "{\"weight_map\": {}}", "no \"weight_map\"");
    expect_bad_index("not JSON", "{\"weight_map\": ", "not a valid index");
    expect_bad_index("not an object", "[1]", "no \"weight_map\"");
    expect_bad_index("shard not a string", "{\"weight_map\": {\"x\": 3}}", "is not a file name");
    expect_bad_index("absolute shard", "{\"weight_map\": {\"x\": \"/etc/passwd\"}}",
                     "relative file name");
    expect_bad_index("escaping shard", "{\"weight_map\": {\"x\": \"../a.safetensors\"}}",
                     "relative file name");
    expect_bad_index("duplicate name",
                     "{\"weight_map\": {\"x\": \"a.safetensors\", \"x\": \"b.safetensors\"}}",
                     "not a valid index");
    expect_bad_index("metadata not object",
                     "{\"metadata\": 3, \"weight_map\": {\"proj_out.weight\": \"b.safetensors\"}}",
                     "\"metadata\" is not an object");

    /* a shard whose neighbouring index does not list it */
    copy_file(fixture("wan_sharded-00001-of-00002.safetensors"),
              tmp("bad/w-00001-of-00002.safetensors"));
    write_text(tmp("bad/w.safetensors.index.json"),
               "{\"weight_map\": {\"proj_out.weight\": \"b.safetensors\"}}");
    zt_weights *w = NULL;
    CHECK_FAILS(zt_weights_open(&w, tmp("bad/w-00001-of-00002.safetensors")), ZT_ERR_INPUT,
                "does not list it");
}

int main(void) {
    json_error_t err;
    json_t *all = json_load_file(FIXTURES "/expected.json", 0, &err);
    CHECK(all != NULL, "expected.json: %s", err.text);
    if (!all) return zt_test_finish();
    expected = json_object_get(all, "wan");
    printf("namings\n");
    test_namings();
    printf("rules\n");
    test_rules();
    printf("errors\n");
    test_errors();
    printf("sources\n");
    test_sources();
    printf("bad indexes\n");
    test_bad_indexes();
    json_decref(all);
    return zt_test_finish();
}

/* The SentencePiece unigram tokenizer: ids equal to the `sentencepiece` library's for
 * every text of tests/data/tokenizer/cases.json (tools/tokenizer/make_fixtures.py),
 * from both spiece.model and tokenizer.json of three models (nmt_nfkc with byte
 * fallback; nmt_nfkc with <unk> and a user-defined piece; identity normalization with
 * no dummy prefix and whitespace kept); truncation; invalid UTF-8;
 * then broken model files (truncated, mutated, wrong JSON types, bad charsmaps), which
 * must fail cleanly or load and encode without a crash (run under ASan). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "text/tokenizer.h"
#include "text/tokenizer_impl.h"

#define FIXTURES ZT_TEST_DATA "/tokenizer"
#define MAX_IDS  65536

static char tmp_path[4096];

static const char *tmp(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", zt_test_tmpdir(), name);
    return tmp_path;
}

/* ---- exact ids against sentencepiece ---------------------------------------------- */

static void check_cases(const char *file, json_t *texts, json_t *expect) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, file);
    zt_tokenizer *tok = NULL;
    CHECK_OK(zt_tokenizer_open(&tok, path));
    if (!tok) return;
    CHECK(zt_tokenizer_eos_id(tok) == 1 && zt_tokenizer_pad_id(tok) == 0 &&
              zt_tokenizer_unk_id(tok) == 3,
          "%s: eos %d pad %d unk %d", file, zt_tokenizer_eos_id(tok), zt_tokenizer_pad_id(tok),
          zt_tokenizer_unk_id(tok));
    CHECK(!strcmp(zt_tokenizer_piece(tok, 1), "</s>"), "%s: piece 1", file);
    CHECK(zt_tokenizer_piece(tok, -1) == NULL &&
              !zt_tokenizer_piece(tok, zt_tokenizer_vocab_size(tok)),
          "%s: out-of-range pieces", file);
    static int32_t ids[MAX_IDS];
    size_t n_texts = json_array_size(texts), bad = 0, total_ids = 0;
    for (size_t i = 0; i < n_texts; i++) {
        json_t *text = json_array_get(texts, i), *want = json_array_get(expect, i);
        size_t n = 0;
        zt_status st = zt_tokenizer_encode(tok, json_string_value(text), json_string_length(text),
                                           ids, MAX_IDS, &n);
        int same = st == ZT_OK && n == json_array_size(want);
        for (size_t k = 0; same && k < n; k++)
            same = ids[k] == json_integer_value(json_array_get(want, k));
        total_ids += n;
        if (same) continue;
        if (bad++ < 5) {
            fprintf(stderr, "%s: text %zu '%s' (%s):\n  got ", file, i, json_string_value(text),
                    zt_last_error());
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, "%d:%s ", ids[k], zt_tokenizer_piece(tok, ids[k]));
            fprintf(stderr, "\n  want ");
            for (size_t k = 0; k < json_array_size(want); k++) {
                int32_t id = (int32_t)json_integer_value(json_array_get(want, k));
                fprintf(stderr, "%d:%s ", id, zt_tokenizer_piece(tok, id));
            }
            fprintf(stderr, "\n");
        }
    }
    printf("%s: %d pieces, %zu/%zu texts identical to sentencepiece (%zu ids)\n", file,
           zt_tokenizer_vocab_size(tok), n_texts - bad, n_texts, total_ids);
    CHECK(bad == 0, "%s: %zu of %zu texts differ", file, bad, n_texts);
    zt_tokenizer_free(tok);
}

/* The two files of one model hold the same pieces. */
static void check_same_pieces(const char *a, const char *b) {
    char pa[4096], pb[4096];
    snprintf(pa, sizeof pa, "%s/%s", FIXTURES, a);
    snprintf(pb, sizeof pb, "%s/%s", FIXTURES, b);
    zt_tokenizer *ta = NULL, *tb = NULL;
    CHECK_OK(zt_tokenizer_open(&ta, pa));
    CHECK_OK(zt_tokenizer_open(&tb, pb));
    if (ta && tb) {
        CHECK(zt_tokenizer_vocab_size(ta) == zt_tokenizer_vocab_size(tb), "%s/%s sizes", a, b);
        int diff = 0;
        for (int32_t i = 0; i < zt_tokenizer_vocab_size(ta); i++)
            diff += strcmp(zt_tokenizer_piece(ta, i), zt_tokenizer_piece(tb, i)) != 0;
        CHECK(diff == 0, "%s/%s: %d pieces differ", a, b, diff);
    }
    zt_tokenizer_free(ta);
    zt_tokenizer_free(tb);
}

/* ---- API behaviour ------------------------------------------------------------------- */

static void check_truncation_and_utf8(void) {
    zt_tokenizer *tok = NULL;
    CHECK_OK(zt_tokenizer_open(&tok, FIXTURES "/bf.model"));
    if (!tok) return;
    const char *text = "a cat walks slowly across the sunny street, 一只猫在阳光明媚的街道上";
    int32_t full[256], part[256];
    size_t n_full = 0, n = 0;
    CHECK_OK(zt_tokenizer_encode(tok, text, strlen(text), full, 256, &n_full));
    CHECK(n_full > 8 && full[n_full - 1] == 1, "%zu ids, last %d", n_full, full[n_full - 1]);
    for (size_t max = 1; max <= n_full + 2; max++) {
        CHECK_OK(zt_tokenizer_encode(tok, text, strlen(text), part, max, &n));
        size_t want = max < n_full ? max : n_full;
        int same = n == want && part[n - 1] == 1;
        for (size_t k = 0; same && k + 1 < n; k++) same = part[k] == full[k];
        CHECK(same, "max_ids %zu: %zu ids", max, n);
    }
    CHECK_FAILS(zt_tokenizer_encode(tok, text, strlen(text), part, 0, &n), ZT_ERR_USAGE, "prompt");
    CHECK_OK(zt_tokenizer_encode(tok, "", 0, part, 4, &n));
    CHECK(n == 1 && part[0] == 1, "empty text: %zu ids", n);
    CHECK_OK(zt_tokenizer_encode(tok, NULL, 0, part, 4, &n));

    static const struct {
        const char *s;
        const char *at;
    } bad[] = {{"\xff", "byte 0"},
               {"ab\xc3", "byte 2"},
               {"a\xc0\x80", "byte 1"},
               {"\xed\xa0\x80", "byte 0"},
               {"xy\xf4\x90\x80\x80", "byte 2"},
               {"\x80", "byte 0"},
               {"ok \xe4\xb8", "byte 3"},
               {"\xf8\x88\x80\x80\x80", "byte 0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_FAILS(zt_tokenizer_encode(tok, bad[i].s, strlen(bad[i].s), part, 256, &n),
                    ZT_ERR_INPUT, "prompt: invalid UTF-8");
        CHECK(zt_test_contains(zt_last_error(), bad[i].at), "'%s' lacks %s", zt_last_error(),
              bad[i].at);
        CHECK(n == 0, "n %zu after a failure", n);
    }
    zt_tokenizer_free(tok);
}

/* ---- broken files -------------------------------------------------------------------- */

/* Open must succeed or fail with a message; a loaded model must encode anything. */
static int try_open(const void *data, size_t n, const char *label) {
    zt_tokenizer *tok = NULL;
    zt_status st = zt_tokenizer_open_memory(&tok, data, n, label);
    if (st != ZT_OK) {
        CHECK(!tok && (st == ZT_ERR_INPUT || st == ZT_ERR_UNSUPPORTED), "%s: status %s", label,
              zt_status_string(st));
        CHECK(zt_test_contains(zt_last_error(), label), "'%s' lacks the label", zt_last_error());
        return 0;
    }
    static const char *texts[] = {"hello  world ", "一只猫 ｶﾀｶﾅ ①", "\t😀\xc3\xa9x", ""};
    int32_t ids[256];
    size_t k;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        st = zt_tokenizer_encode(tok, texts[i], strlen(texts[i]), ids, 256, &k);
        CHECK(st == ZT_OK || st == ZT_ERR_INPUT, "%s: encode -> %s", label, zt_status_string(st));
        for (size_t j = 0; st == ZT_OK && j < k; j++)
            CHECK(ids[j] >= 0 && ids[j] < zt_tokenizer_vocab_size(tok), "%s: id %d", label, ids[j]);
    }
    zt_tokenizer_free(tok);
    return 1;
}

static void check_truncated_and_mutated(const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, file);
    size_t n = 0;
    uint8_t *data = zt_test_read_file(path, &n);
    CHECK(data && n > 1000, "cannot read %s", path);
    if (!data) return;
    int opened = 0, tries = 0;
    for (size_t len = 0; len < n; len += len < 600 ? 1 : 997 + len / 8, tries++)
        opened += try_open(data, len, "cut");
    printf("%s: %d of %d truncations still load\n", file, opened, tries);
    zt_test_rng rng = {7};
    uint8_t *copy = malloc(n);
    opened = 0;
    for (int t = 0; t < 300; t++) {
        memcpy(copy, data, n);
        int edits = 1 + (int)(zt_test_rand_u64(&rng) % 8);
        for (int e = 0; e < edits; e++) {
            /* half the edits hit the start, where lengths and keys live */
            size_t at = zt_test_rand_u64(&rng) % (t % 2 ? n : (n < 4096 ? n : 4096));
            copy[at] = (uint8_t)zt_test_rand_u64(&rng);
        }
        opened += try_open(copy, n, "mutated");
    }
    printf("%s: %d of 300 mutations still load\n", file, opened);
    free(copy);
    free(data);
}

/* ---- hand-made models ------------------------------------------------------------------ */

typedef struct pbuf {
    uint8_t p[8192];
    size_t n;
} pbuf;

static void put_varint(pbuf *b, uint64_t v) {
    do {
        b->p[b->n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void put_bytes(pbuf *b, uint32_t field, const void *p, size_t n) {
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_piece(pbuf *b, const char *s, float score, int type) {
    pbuf m = {.n = 0};
    put_bytes(&m, 1, s, strlen(s));
    uint32_t bits;
    memcpy(&bits, &score, 4);
    put_varint(&m, 2 << 3 | 5);
    for (int i = 0; i < 4; i++) m.p[m.n++] = (uint8_t)(bits >> (8 * i));
    put_varint(&m, 3 << 3 | 0);
    put_varint(&m, (uint64_t)type);
    put_bytes(b, 1, m.p, m.n);
}

/* A model of a few pieces; charsmap (n bytes) when given. */
static void build_model(pbuf *b, const uint8_t *charsmap, size_t n) {
    b->n = 0;
    put_piece(b, "<unk>", 0, ZT_PIECE_UNKNOWN);
    put_piece(b, "</s>", 0, ZT_PIECE_CONTROL);
    put_piece(b, "\xe2\x96\x81", -1, ZT_PIECE_NORMAL);
    put_piece(b, "a", -2, ZT_PIECE_NORMAL);
    put_piece(b,
              "\xe2\x96\x81"
              "a",
              -1.5f, ZT_PIECE_NORMAL);
    pbuf trainer = {.n = 0};
    put_varint(&trainer, 42 << 3);
    put_varint(&trainer, 1);
    put_bytes(b, 2, trainer.p, trainer.n);
    if (charsmap) {
        pbuf norm = {.n = 0};
        put_bytes(&norm, 2, charsmap, n);
        put_bytes(b, 3, norm.p, norm.n);
    }
}

static void check_handmade(void) {
    pbuf b;
    build_model(&b, NULL, 0);
    zt_tokenizer *tok = NULL;
    CHECK_OK(zt_tokenizer_open_memory(&tok, b.p, b.n, "handmade"));
    if (tok) {
        int32_t ids[16];
        size_t n = 0;
        CHECK_OK(zt_tokenizer_encode(tok, "a  a xyz a", 10, ids, 16, &n));
        /* no charsmap: identity; xyz is one merged <unk> */
        int32_t want[] = {4, 4, 2, 0, 4, 1};
        CHECK(n == 6 && !memcmp(ids, want, sizeof want), "handmade: %zu ids", n);
        zt_tokenizer_free(tok);
    }
    /* random charsmaps: a trie size field and random units and strings */
    zt_test_rng rng = {11};
    int opened = 0;
    for (int t = 0; t < 400; t++) {
        uint8_t blob[600];
        size_t n = 5 + zt_test_rand_u64(&rng) % (sizeof blob - 5);
        for (size_t i = 0; i < n; i++) blob[i] = (uint8_t)zt_test_rand_u64(&rng);
        size_t trie = 4 * (zt_test_rand_u64(&rng) % (n / 4 + 1));
        if (t % 4) trie = 4 * (1 + zt_test_rand_u64(&rng) % ((n - 5) / 4 + 1));
        for (int i = 0; i < 4; i++) blob[i] = (uint8_t)(trie >> (8 * i));
        /* small offsets and labels that match ASCII, so lookups go deep */
        for (size_t u = 4; t % 2 && u + 4 <= 4 + trie && u + 4 <= n; u += 4) {
            blob[u] = (uint8_t)("a \xe2\x96\x81x"[zt_test_rand_u64(&rng) % 5]);
            blob[u + 1] &= 0x3;
            blob[u + 2] &= 0x0f;
            blob[u + 3] = 0;
        }
        build_model(&b, blob, n);
        opened += try_open(b.p, b.n, "charsmap");
    }
    printf("random charsmaps: %d of 400 load\n", opened);

    static const struct {
        uint8_t blob[12];
        size_t n;
        const char *needle;
    } bad[] = {{{8, 0, 0, 0, 1, 2, 3, 4}, 8, "trie of 8 bytes"},
               {{3, 0, 0, 0, 1, 2, 3, 4, 5}, 9, "trie of 3 bytes"},
               {{1, 2}, 2, "precompiled_charsmap: 2 bytes"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        build_model(&b, bad[i].blob, bad[i].n);
        CHECK_FAILS(zt_tokenizer_open_memory(&tok, b.p, b.n, "charsmap"), ZT_ERR_INPUT,
                    bad[i].needle);
    }
    /* a trie mapping "a" to pool entry 0 ("b"), then to entry 100 of a 2-byte pool: the
     * second is refused at open (a fuzzer found one that loaded and then failed to
     * encode valid text). Units: the root (offset 0x60, so "a" lands on unit 1), "a"
     * (label 0x61, a leaf, offset 3: its value in unit 2), the value. */
    for (uint32_t value = 0; value <= 100; value += 100) {
        const uint32_t units[3] = {0x60u << 10, 3u << 10 | 1u << 8 | 0x61, 1u << 31 | value};
        uint8_t blob[18] = {12, 0, 0, 0};
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++) blob[4 + 4 * i + k] = (uint8_t)(units[i] >> (8 * k));
        blob[16] = 'b', blob[17] = 0;
        build_model(&b, blob, sizeof blob);
        if (value == 0) {
            CHECK(try_open(b.p, b.n, "trie"), "a trie inside its pool does not load");
        } else {
            CHECK_FAILS(zt_tokenizer_open_memory(&tok, b.p, b.n, "trie"), ZT_ERR_INPUT,
                        "trie: precompiled_charsmap: entry 100 past its 2-byte pool");
        }
    }
    /* no <unk>; wrong wire type; truncated length */
    b.n = 0;
    put_piece(&b, "a", 0, ZT_PIECE_NORMAL);
    CHECK_FAILS(zt_tokenizer_open_memory(&tok, b.p, b.n, "nounk"), ZT_ERR_INPUT, "nounk: no <unk>");
    uint8_t wire[] = {0x08, 0x01};
    CHECK_FAILS(zt_tokenizer_open_memory(&tok, wire, sizeof wire, "wire"), ZT_ERR_INPUT,
                "wire type 0");
    uint8_t cut[] = {0x0a, 0x40, 0x0a};
    CHECK_FAILS(zt_tokenizer_open_memory(&tok, cut, sizeof cut, "cutlen"), ZT_ERR_INPUT,
                "truncated");
    put_piece(&b, "a", 0, ZT_PIECE_NORMAL);
    put_piece(&b, "<unk>", 0, ZT_PIECE_UNKNOWN);
    CHECK_FAILS(zt_tokenizer_open_memory(&tok, b.p, b.n, "dup"), ZT_ERR_INPUT, "duplicate");
    CHECK_FAILS(zt_tokenizer_open(&tok, FIXTURES "/no-such-file.model"), ZT_ERR_INPUT,
                "cannot open");
    CHECK(tok == NULL, "tok set after a failure");
}

static void check_bad_json(void) {
    static const struct {
        const char *json;
        zt_status st;
        const char *needle;
    } cases[] = {
        {"{", ZT_ERR_INPUT, "invalid JSON"},
        {"{\"model\": 5}", ZT_ERR_INPUT, "model is not an object"},
        {"{\"model\": {\"type\": \"BPE\"}}", ZT_ERR_UNSUPPORTED, "not Unigram"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}", ZT_ERR_INPUT, "model.vocab is not"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", \"x\"]]}}",
         ZT_ERR_INPUT, "model.vocab[0]"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 3, \"vocab\": [[\"<unk>\", 0]]}}",
         ZT_ERR_INPUT, "unk_id 3 out of range"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": null, \"vocab\": [[\"<unk>\", 0]]}}",
         ZT_ERR_INPUT, "unk_id is not an integer"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": 1, \"vocab\": "
         "[[\"<unk>\", 0]]}}",
         ZT_ERR_INPUT, "byte_fallback is not a boolean"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
         "\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"@@@@\"}}",
         ZT_ERR_INPUT, "not valid base64"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
         "\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"CAAAAAEAAAA=\"}}",
         ZT_ERR_INPUT, "trie of 8 bytes"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
         "\"normalizer\": {\"type\": \"Lowercase\"}}",
         ZT_ERR_UNSUPPORTED, "normalizer Lowercase"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
         "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": 3}}",
         ZT_ERR_INPUT, "normalizer.normalizers is not an array"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
         "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": 7}}",
         ZT_ERR_INPUT, "replacement is not a string"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
         "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
         "{\"id\": \"</s>\"}}], \"special_tokens\": {}}}",
         ZT_ERR_INPUT, "no single id"},
        {"{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"\", "
         "0]]}}",
         ZT_ERR_INPUT, "piece 1 is empty"},
        {"[1, 2]", ZT_ERR_INPUT, "the top level is not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zt_tokenizer *tok = NULL;
        CHECK_FAILS(zt_tokenizer_open_memory(&tok, cases[i].json, strlen(cases[i].json), "t.json"),
                    cases[i].st, cases[i].needle);
        CHECK(zt_test_contains(zt_last_error(), "t.json: "), "'%s' lacks the label",
              zt_last_error());
    }
    /* a minimal valid one: no normalizer, no pre-tokenizer (so no dummy prefix), no EOS */
    const char *ok = "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", "
                     "0], [\"ab\", -1], [\"a\", -2], [\"b\", -2]]}}";
    zt_tokenizer *tok = NULL;
    CHECK_OK(zt_tokenizer_open_memory(&tok, ok, strlen(ok), "ok.json"));
    if (tok) {
        int32_t ids[8];
        size_t n = 0;
        CHECK_OK(zt_tokenizer_encode(tok, "abba", 4, ids, 8, &n));
        CHECK(n == 3 && ids[0] == 1 && ids[1] == 3 && ids[2] == 2, "abba: %zu ids", n);
        CHECK(zt_tokenizer_eos_id(tok) == -1, "eos %d", zt_tokenizer_eos_id(tok));
        zt_tokenizer_free(tok);
    }
}

int main(void) {
    size_t n = 0;
    uint8_t *text = zt_test_read_file(FIXTURES "/cases.json", &n);
    json_error_t err;
    json_t *cases = text ? json_loadb((const char *)text, n, JSON_ALLOW_NUL, &err) : NULL;
    free(text);
    CHECK(cases != NULL, "cannot load %s/cases.json", FIXTURES);
    if (cases) {
        json_t *texts = json_object_get(cases, "texts");
        printf("%zu texts\n", json_array_size(texts));
        check_cases("bf.model", texts, json_object_get(cases, "bf"));
        check_cases("bf.json", texts, json_object_get(cases, "bf"));
        check_cases("unk.model", texts, json_object_get(cases, "unk"));
        check_cases("unk.json", texts, json_object_get(cases, "unk"));
        check_cases("ws.model", texts, json_object_get(cases, "ws"));
        check_cases("ws.json", texts, json_object_get(cases, "ws"));
        json_decref(cases);
    }
    check_same_pieces("bf.model", "bf.json");
    check_same_pieces("unk.model", "unk.json");
    check_same_pieces("ws.model", "ws.json");
    check_truncation_and_utf8();
    check_handmade();
    check_bad_json();
    check_truncated_and_mutated("unk.model");
    check_truncated_and_mutated("unk.json");
    check_truncated_and_mutated("bf.model");
    (void)tmp;
    return zt_test_finish();
}

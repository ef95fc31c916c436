/* fuzz_tokenizer - the first byte picks what the rest is.
 *
 *   bit 0 clear: a tokenizer file (spiece.model or tokenizer.json; the opener tells them
 *       apart by content, not name), opened from a path and, when it loads, used to
 *       encode a few fixed prompts.
 *   bit 0 set: a prompt. Bits 1-2 pick one of the real tokenizers loaded at start, bits
 *       3-7 the room for ids (0: 512). The prompt goes through zt_text_clean and the
 *       result is encoded; the raw bytes (NULs and all) are encoded too. Whether each
 *       call accepts its text must match a strict UTF-8 check made here: invalid UTF-8
 *       is refused with a status, valid UTF-8 is never refused. */
#include "fuzz_util.h"
#include "text/clean.h"
#include "text/tokenizer.h"

#define MAX_IDS 512

static zt_tokenizer *real[3]; /* loaded once; the process end frees them */

/* Strict UTF-8 as Python decodes it: no overlong forms, surrogates or values past
 * U+10FFFF. Written apart from the library's two checkers to compare against them. */
static int utf8_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

/* Encode and check what came back; returns the status. */
static zt_status encode(const zt_tokenizer *tok, const char *text, size_t len, size_t max_ids) {
    int32_t ids[MAX_IDS];
    size_t n = 0;
    zt_status rc = zt_tokenizer_encode(tok, text, len, ids, max_ids, &n);
    int valid = utf8_valid((const uint8_t *)text, len);
    ZT_FUZZ_ASSERT(rc == (valid ? ZT_OK : ZT_ERR_INPUT), "encode of %s UTF-8 -> %d: %s",
                   valid ? "valid" : "invalid", rc, zt_last_error());
    if (rc != ZT_OK) return rc;
    ZT_FUZZ_ASSERT(n <= max_ids, "%zu ids for room of %zu", n, max_ids);
    int32_t vocab = zt_tokenizer_vocab_size(tok), eos = zt_tokenizer_eos_id(tok);
    for (size_t i = 0; i < n; i++)
        ZT_FUZZ_ASSERT(ids[i] >= 0 && ids[i] < vocab && zt_tokenizer_piece(tok, ids[i]),
                       "id %d of a vocabulary of %d", ids[i], vocab);
    if (eos >= 0) ZT_FUZZ_ASSERT(n >= 1 && ids[n - 1] == eos, "EOS not last");
    return rc;
}

static void load_real(int i, const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ZT_SOURCE_DIR, rel);
    zt_status rc = zt_tokenizer_open(&real[i], path);
    ZT_FUZZ_ASSERT(rc == ZT_OK, "cannot load %s: %s", path, zt_last_error());
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    zt_fuzz_quiet();
    load_real(0, "models/zoetrope-tiny/spiece.model"); /* the built-in model's */
    load_real(1, "tests/data/tokenizer/bf.model");     /* byte fallback */
    load_real(2, "tests/data/tokenizer/unk.json");     /* the tokenizer.json reader */
    return 0;
}

static void fuzz_file(const uint8_t *data, size_t size) {
    static const struct {
        const char *s;
        size_t n;
    } prompts[] = {
#define P(lit) {lit, sizeof lit - 1}
        P("a red circle moving left on a white background"),
        P("  Hello,\t  w\xC3\xB6rld!  \xE8\x89\xB2\xE8\xB0\x83 \xE2\x91\xA0\xEF\xBD\xB6  "),
        P("<0x41> </s> <unk> <pad> \xE2\x96\x81x"),
        P("x\0y"),
        P(""),
        P("bad \xC0\xAF"), /* overlong: must be refused */
#undef P
    };
    const char *path = zt_fuzz_file(data, size);
    zt_tokenizer *tok = NULL;
    zt_status rc = zt_tokenizer_open(&tok, path);
    zt_fuzz_check_message(rc, path);
    ZT_FUZZ_ASSERT((rc == ZT_OK) == (tok != NULL), "status %d with tok %p", rc, (void *)tok);
    if (!tok) return;
    int32_t vocab = zt_tokenizer_vocab_size(tok);
    ZT_FUZZ_ASSERT(vocab > 0, "empty vocabulary");
    ZT_FUZZ_ASSERT(!zt_tokenizer_piece(tok, -1) && !zt_tokenizer_piece(tok, vocab),
                   "piece out of range");
    int32_t special[3] = {zt_tokenizer_eos_id(tok), zt_tokenizer_pad_id(tok),
                          zt_tokenizer_unk_id(tok)};
    for (int i = 0; i < 3; i++)
        ZT_FUZZ_ASSERT(special[i] >= -1 && special[i] < vocab, "special id %d", special[i]);
    for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
        encode(tok, prompts[i].s, prompts[i].n, MAX_IDS);
        encode(tok, prompts[i].s, prompts[i].n, 2);
    }
    zt_tokenizer_free(tok);
}

static void fuzz_prompt(uint8_t mode, const uint8_t *data, size_t size) {
    const zt_tokenizer *tok = real[(mode >> 1 & 3) % 3];
    size_t max_ids = mode >> 3 ? mode >> 3 : MAX_IDS;
    /* zt_text_clean takes a C string: it sees the bytes up to the first NUL */
    char *z = malloc(size + 1);
    ZT_FUZZ_ASSERT(z, "out of memory");
    memcpy(z, data, size);
    z[size] = '\0';
    char *clean = NULL;
    zt_status rc = zt_text_clean(z, &clean);
    if (!utf8_valid((const uint8_t *)z, strlen(z))) {
        ZT_FUZZ_ASSERT(rc == ZT_ERR_USAGE && !clean, "clean of invalid UTF-8 -> %d", rc);
    } else {
        ZT_FUZZ_ASSERT(rc == ZT_OK && clean, "clean of valid UTF-8 -> %d: %s", rc, zt_last_error());
        ZT_FUZZ_ASSERT(utf8_valid((const uint8_t *)clean, strlen(clean)),
                       "clean gave invalid UTF-8");
        encode(tok, clean, strlen(clean), max_ids);
    }
    free(clean);
    free(z);
    encode(tok, (const char *)data, size, max_ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] & 1)
        fuzz_prompt(data[0], data + 1, size - 1);
    else
        fuzz_file(data + 1, size - 1);
    return 0;
}

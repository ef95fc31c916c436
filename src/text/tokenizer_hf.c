/* tokenizer_hf.c - a Hugging Face tokenizer.json with a Unigram model, mapped onto
 * SentencePiece's options so that encoding gives sentencepiece's ids:
 *
 *   model.vocab [[piece, score]...], unk_id, byte_fallback -> pieces; added_tokens
 *       with special=true are control pieces (never matched in text), the others
 *       user-defined; with byte_fallback, "<0xXX>" pieces are byte pieces
 *   normalizer Precompiled (base64 charsmap); Strip, Replace of space runs
 *       -> remove_extra_whitespaces; Prepend/Replace to the space symbol -> dummy
 *       prefix / escaped spaces (possibly inside a Sequence)
 *   pre_tokenizer Metaspace (replacement, prepend_scheme or add_prefix_space)
 *       -> escape_whitespaces and add_dummy_prefix; WhitespaceSplit
 *       -> remove_extra_whitespaces
 *   post_processor TemplateProcessing: the special token after $A is the EOS
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "tokenizer_impl.h"

/* ---- small typed getters ------------------------------------------------------------ */

/* The string member key of obj, NULL when absent or not a string. */
static const char *get_str(json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

static zt_status want_type(zt_tokenizer *t, json_t *v, json_type type, const char *what) {
    static const char *names[] = {"an object", "an array", "a string", "an integer",
                                  "a real",    "true",     "false",    "null"};
    if (v && json_typeof(v) == type) return ZT_OK;
    if (type == JSON_TRUE && json_is_boolean(v)) return ZT_OK;
    return zt_tok_bad(t, "%s is not %s", what, type == JSON_TRUE ? "a boolean" : names[type]);
}

/* ---- base64 ------------------------------------------------------------------------- */

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional padding into a malloc'd buffer; NULL when malformed. */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_n) {
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return NULL;
    uint8_t *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) out[o++] = (uint8_t)(acc >> 4);
    if (n % 4 == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    *out_n = o;
    return out;
}

/* ---- sections ------------------------------------------------------------------------ */

static int is_space_run(json_t *pattern) {
    const char *re = get_str(pattern, "Regex"), *str = get_str(pattern, "String");
    return (re && (!strcmp(re, " {2,}") || !strcmp(re, " +") || !strcmp(re, "\\s+"))) ||
           (str && !strcmp(str, "  "));
}

static zt_status read_normalizer(zt_tokenizer *t, json_t *n) {
    if (!n || json_is_null(n)) return ZT_OK;
    ZT_TRY(want_type(t, n, JSON_OBJECT, "normalizer"));
    const char *type = get_str(n, "type");
    if (!type) return zt_tok_bad(t, "normalizer has no type");
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers"), *item;
        size_t i;
        ZT_TRY(want_type(t, list, JSON_ARRAY, "normalizer.normalizers"));
        json_array_foreach(list, i, item) ZT_TRY(read_normalizer(t, item));
        return ZT_OK;
    }
    if (!strcmp(type, "Precompiled")) {
        json_t *map = json_object_get(n, "precompiled_charsmap");
        if (!map || json_is_null(map)) return ZT_OK;
        ZT_TRY(want_type(t, map, JSON_STRING, "precompiled_charsmap"));
        size_t len = 0;
        uint8_t *blob = b64_decode(json_string_value(map), json_string_length(map), &len);
        if (!blob) return zt_tok_bad(t, "precompiled_charsmap is not valid base64");
        zt_status st = zt_tok_set_charsmap(t, blob, len);
        free(blob);
        return st;
    }
    if (!strcmp(type, "Strip")) {
        t->remove_extra_ws = 1;
        return ZT_OK;
    }
    const char *content = get_str(n, "content"), *prepend = get_str(n, "prepend");
    if (!strcmp(type, "Replace") && content) {
        json_t *pattern = json_object_get(n, "pattern");
        const char *str = get_str(pattern, "String");
        if (is_space_run(pattern)) {
            t->remove_extra_ws = 1;
            return ZT_OK;
        }
        if (str && !strcmp(str, " ") && strlen(content) < sizeof t->space) {
            t->escape_ws = 1;
            t->space_len = strlen(content);
            memcpy(t->space, content, t->space_len);
            return ZT_OK;
        }
    }
    if (!strcmp(type, "Prepend") && prepend) {
        t->add_dummy_prefix = 1;
        return ZT_OK;
    }
    return zt_fail(ZT_ERR_UNSUPPORTED, "%s: normalizer %s is not supported", t->label, type);
}

static zt_status read_pre_tokenizer(zt_tokenizer *t, json_t *p) {
    if (!p || json_is_null(p)) return ZT_OK;
    ZT_TRY(want_type(t, p, JSON_OBJECT, "pre_tokenizer"));
    const char *type = get_str(p, "type");
    if (!type) return zt_tok_bad(t, "pre_tokenizer has no type");
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers"), *item;
        size_t i;
        ZT_TRY(want_type(t, list, JSON_ARRAY, "pre_tokenizer.pretokenizers"));
        json_array_foreach(list, i, item) ZT_TRY(read_pre_tokenizer(t, item));
        return ZT_OK;
    }
    if (!strcmp(type, "WhitespaceSplit")) {
        t->remove_extra_ws = 1;
        return ZT_OK;
    }
    if (strcmp(type, "Metaspace"))
        return zt_fail(ZT_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported", t->label, type);
    json_t *rep = json_object_get(p, "replacement");
    ZT_TRY(want_type(t, rep, JSON_STRING, "Metaspace.replacement"));
    size_t len = json_string_length(rep);
    if (len == 0 || len >= sizeof t->space)
        return zt_tok_bad(t, "Metaspace.replacement has %zu bytes", len);
    memcpy(t->space, json_string_value(rep), len);
    t->space_len = len;
    t->escape_ws = 1;
    const char *scheme = get_str(p, "prepend_scheme");
    json_t *add = json_object_get(p, "add_prefix_space");
    if (scheme) /* "first" equals "always" for one text */
        t->add_dummy_prefix = strcmp(scheme, "never") != 0;
    else if (add)
        t->add_dummy_prefix = json_is_true(add);
    else
        t->add_dummy_prefix = 1;
    return ZT_OK;
}

/* The id of the special token that follows $A in the single template. */
static zt_status read_post_processor(zt_tokenizer *t, json_t *p) {
    t->eos_id = -1;
    if (!p || json_is_null(p)) return ZT_OK;
    ZT_TRY(want_type(t, p, JSON_OBJECT, "post_processor"));
    const char *type = get_str(p, "type");
    if (!type || strcmp(type, "TemplateProcessing")) return ZT_OK;
    json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens");
    json_t *item;
    size_t i;
    ZT_TRY(want_type(t, single, JSON_ARRAY, "post_processor.single"));
    json_array_foreach(single, i, item) {
        const char *name = get_str(json_object_get(item, "SpecialToken"), "id");
        if (!name) continue;
        json_t *ids = json_object_get(json_object_get(specials, name), "ids");
        json_t *id = json_array_get(ids, 0);
        if (!json_is_integer(id) || json_array_size(ids) != 1)
            return zt_tok_bad(t, "post_processor: special token '%s' has no single id", name);
        t->eos_id = (int32_t)(json_integer_value(id) < -1 || json_integer_value(id) > INT32_MAX
                                  ? INT32_MAX
                                  : json_integer_value(id));
    }
    return ZT_OK;
}

static zt_status read_model(zt_tokenizer *t, json_t *model, json_t *added) {
    ZT_TRY(want_type(t, model, JSON_OBJECT, "model"));
    const char *type = get_str(model, "type");
    if (!type || strcmp(type, "Unigram"))
        return zt_fail(ZT_ERR_UNSUPPORTED, "%s: model type %s is not Unigram", t->label,
                       type ? type : "(none)");
    json_t *vocab = json_object_get(model, "vocab"), *unk = json_object_get(model, "unk_id");
    json_t *bf = json_object_get(model, "byte_fallback"), *item;
    ZT_TRY(want_type(t, vocab, JSON_ARRAY, "model.vocab"));
    ZT_TRY(want_type(t, unk, JSON_INTEGER, "model.unk_id"));
    if (bf && !json_is_null(bf)) ZT_TRY(want_type(t, bf, JSON_TRUE, "model.byte_fallback"));
    t->byte_fallback = json_is_true(bf);
    json_int_t unk_id = json_integer_value(unk);
    if (unk_id < 0 || (size_t)unk_id >= json_array_size(vocab))
        return zt_tok_bad(t, "model.unk_id %lld out of range", (long long)unk_id);
    size_t i;
    json_array_foreach(vocab, i, item) {
        json_t *piece = json_array_get(item, 0), *score = json_array_get(item, 1);
        if (!json_is_array(item) || json_array_size(item) != 2 || !json_is_string(piece) ||
            !json_is_number(score))
            return zt_tok_bad(t, "model.vocab[%zu] is not [piece, score]", i);
        const char *s = json_string_value(piece);
        size_t len = json_string_length(piece);
        int ptype = ZT_PIECE_NORMAL;
        if ((json_int_t)i == unk_id)
            ptype = ZT_PIECE_UNKNOWN;
        else if (t->byte_fallback && len == 6 && !memcmp(s, "<0x", 3))
            ptype = ZT_PIECE_BYTE;
        ZT_TRY(zt_tok_add_piece(t, s, len, (float)json_number_value(score), ptype));
    }
    if (!added || json_is_null(added)) return ZT_OK;
    ZT_TRY(want_type(t, added, JSON_ARRAY, "added_tokens"));
    json_array_foreach(added, i, item) {
        json_t *id = json_object_get(item, "id"), *content = json_object_get(item, "content");
        if (!json_is_integer(id) || !json_is_string(content))
            return zt_tok_bad(t, "added_tokens[%zu] lacks an integer id or a content", i);
        json_int_t k = json_integer_value(id);
        /* tokens outside the vocab (or spelled differently) cannot come out of Viterbi */
        if (k < 0 || k >= t->n || (json_int_t)t->unk_id == k) continue;
        if (strcmp(json_string_value(content), t->pool + t->off[k])) continue;
        if (k == unk_id) continue;
        t->type[k] =
            json_is_true(json_object_get(item, "special")) ? ZT_PIECE_CONTROL : ZT_PIECE_USER;
    }
    return ZT_OK;
}

zt_status zt_tok_load_hf(zt_tokenizer *t, const char *p, size_t n) {
    json_error_t err;
    json_t *root = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!root) return zt_tok_bad(t, "invalid JSON at line %d: %s", err.line, err.text);
    zt_status st = want_type(t, root, JSON_OBJECT, "the top level");
    t->unk_id = -1;
    if (!st)
        st = read_model(t, json_object_get(root, "model"), json_object_get(root, "added_tokens"));
    if (!st) st = read_normalizer(t, json_object_get(root, "normalizer"));
    if (!st) st = read_pre_tokenizer(t, json_object_get(root, "pre_tokenizer"));
    if (!st) st = read_post_processor(t, json_object_get(root, "post_processor"));
    int32_t pad = zt_tok_find_any(t, "<pad>");
    t->pad_id = pad;
    json_decref(root);
    return st;
}

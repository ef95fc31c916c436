/* tokenizer_spm.c - the fields of sentencepiece's ModelProto (spiece.model) the
 * encoder needs, read straight from the protobuf wire format; all else is skipped.
 *
 *   ModelProto       1 pieces (repeated), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece    1 piece, 2 score (float), 3 type (NORMAL by default)
 *   TrainerSpec      3 model_type (1 unigram), 24 treat_whitespace_as_suffix,
 *                    35 byte_fallback, 42 eos_id (2 by default), 43 pad_id (-1)
 *   NormalizerSpec   2 precompiled_charsmap, 3 add_dummy_prefix, 4
 *                    remove_extra_whitespaces, 5 escape_whitespaces (all true by default)
 */
#include <string.h>

#include "../core/status.h"
#include "tokenizer_impl.h"

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

/* One record: field number, wire type and its value (varint/fixed) or bytes. */
typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
} pb_field;

static int read_varint(pb_reader *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) return -1;
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

/* 1 when a field was read, 0 at the end, -1 when malformed (*what says how). */
static int next_field(pb_reader *r, pb_field *f, const char **what) {
    if (r->p == r->end) return 0;
    uint64_t key;
    *what = "truncated field key";
    if (read_varint(r, &key)) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    *what = "bad field number";
    if (f->num == 0 || key >> 32) return -1;
    *what = "truncated field";
    size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case WIRE_VARINT:
        return read_varint(r, &f->v) ? -1 : 1;
    case WIRE_I64:
    case WIRE_I32: {
        size_t n = f->wire == WIRE_I64 ? 8 : 4;
        if (left < n) return -1;
        f->v = 0;
        for (size_t i = 0; i < n; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case WIRE_LEN:
        if (read_varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p)) return -1;
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return 1;
    default:
        *what = "unsupported wire type (group)";
        return -1;
    }
}

/* A known field with the wrong wire type is an error, not something to skip. */
static zt_status want(zt_tokenizer *t, const pb_field *f, int wire, const char *msg) {
    if (f->wire == wire) return ZT_OK;
    return zt_tok_bad(t, "%s field %u has wire type %d, expected %d", msg, f->num, f->wire, wire);
}

static zt_status read_piece(zt_tokenizer *t, const uint8_t *p, size_t n) {
    pb_reader r = {p, p + n};
    pb_field f;
    const char *what = NULL, *piece = NULL;
    size_t piece_len = 0;
    float score = 0.0f;
    int type = ZT_PIECE_NORMAL, got;
    while ((got = next_field(&r, &f, &what)) > 0) {
        if (f.num == 1) {
            ZT_TRY(want(t, &f, WIRE_LEN, "SentencePiece"));
            piece = (const char *)f.data;
            piece_len = f.len;
        } else if (f.num == 2) {
            ZT_TRY(want(t, &f, WIRE_I32, "SentencePiece"));
            uint32_t bits = (uint32_t)f.v;
            memcpy(&score, &bits, sizeof score);
        } else if (f.num == 3) {
            ZT_TRY(want(t, &f, WIRE_VARINT, "SentencePiece"));
            type = f.v > 100 ? -1 : (int)f.v;
        }
    }
    if (got < 0) return zt_tok_bad(t, "piece %d: %s", (int)t->n, what);
    if (!piece) return zt_tok_bad(t, "piece %d has no text", (int)t->n);
    return zt_tok_add_piece(t, piece, piece_len, score, type);
}

static zt_status read_trainer(zt_tokenizer *t, const uint8_t *p, size_t n) {
    pb_reader r = {p, p + n};
    pb_field f;
    const char *what = NULL;
    int got;
    while ((got = next_field(&r, &f, &what)) > 0) {
        if (f.num != 3 && f.num != 24 && f.num != 35 && f.num != 42 && f.num != 43) continue;
        ZT_TRY(want(t, &f, WIRE_VARINT, "TrainerSpec"));
        if (f.num == 3 && f.v != 1)
            return zt_fail(ZT_ERR_UNSUPPORTED, "%s: model type %llu is not unigram", t->label,
                           (unsigned long long)f.v);
        if (f.num == 24 && f.v)
            return zt_fail(ZT_ERR_UNSUPPORTED, "%s: treat_whitespace_as_suffix is not supported",
                           t->label);
        if (f.num == 35) t->byte_fallback = f.v != 0;
        if (f.num == 42) t->eos_id = (int32_t)(uint32_t)f.v; /* int32: sign-extended */
        if (f.num == 43) t->pad_id = (int32_t)(uint32_t)f.v;
    }
    return got < 0 ? zt_tok_bad(t, "trainer_spec: %s", what) : ZT_OK;
}

static zt_status read_normalizer(zt_tokenizer *t, const uint8_t *p, size_t n) {
    pb_reader r = {p, p + n};
    pb_field f;
    const char *what = NULL;
    int got;
    while ((got = next_field(&r, &f, &what)) > 0) {
        if (f.num == 2) {
            ZT_TRY(want(t, &f, WIRE_LEN, "NormalizerSpec"));
            ZT_TRY(zt_tok_set_charsmap(t, f.data, f.len));
        } else if (f.num >= 3 && f.num <= 5) {
            ZT_TRY(want(t, &f, WIRE_VARINT, "NormalizerSpec"));
            int *opt = f.num == 3   ? &t->add_dummy_prefix
                       : f.num == 4 ? &t->remove_extra_ws
                                    : &t->escape_ws;
            *opt = f.v != 0;
        }
    }
    return got < 0 ? zt_tok_bad(t, "normalizer_spec: %s", what) : ZT_OK;
}

zt_status zt_tok_load_spm(zt_tokenizer *t, const uint8_t *p, size_t n) {
    t->eos_id = 2; /* TrainerSpec defaults */
    t->pad_id = -1;
    t->add_dummy_prefix = t->remove_extra_ws = t->escape_ws = 1;
    pb_reader r = {p, p + n};
    pb_field f;
    const char *what = NULL;
    int got;
    while ((got = next_field(&r, &f, &what)) > 0) {
        if (f.num < 1 || f.num > 3) continue;
        ZT_TRY(want(t, &f, WIRE_LEN, "ModelProto"));
        if (f.num == 1) ZT_TRY(read_piece(t, f.data, f.len));
        if (f.num == 2) ZT_TRY(read_trainer(t, f.data, f.len));
        if (f.num == 3) ZT_TRY(read_normalizer(t, f.data, f.len));
    }
    if (got < 0) return zt_tok_bad(t, "not a sentencepiece model (%s)", what);
    if (t->n == 0) return zt_tok_bad(t, "not a sentencepiece model (no pieces)");
    return ZT_OK;
}

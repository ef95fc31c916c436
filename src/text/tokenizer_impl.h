/* tokenizer_impl.h - the tokenizer's insides, shared by the two file readers
 * (tokenizer_spm.c for spiece.model, tokenizer_hf.c for tokenizer.json) and the
 * encoder (tokenizer.c). A reader fills the options and adds pieces, then
 * zt_tok_finish checks the whole model and builds the lookup tables. */
#ifndef ZT_TOKENIZER_IMPL_H
#define ZT_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* SentencePiece's ModelProto.SentencePiece.Type values. */
enum {
    ZT_PIECE_NORMAL = 1,
    ZT_PIECE_UNKNOWN = 2,
    ZT_PIECE_CONTROL = 3,
    ZT_PIECE_USER = 4,
    ZT_PIECE_UNUSED = 5,
    ZT_PIECE_BYTE = 6,
};

struct zt_tokenizer {
    char *label; /* path or caller's label, for messages */

    /* pieces: id -> pool + off[id] (NUL-terminated; len[id] bytes, NULs allowed) */
    int32_t n;
    size_t cap;
    uint32_t *off, *len;
    float *score;
    uint8_t *type;
    char *pool;
    size_t pool_size, pool_cap;

    /* the pieces Viterbi may use (normal, user-defined, unused): open addressing, id + 1 */
    uint32_t *slots;
    size_t nslots;
    size_t max_len;      /* longest such piece in bytes */
    size_t max_user_len; /* longest user-defined piece; 0 when none */
    float min_score, max_score;
    int32_t byte_id[256]; /* <0xXX> pieces; unk when missing */

    int32_t unk_id, eos_id, pad_id;
    int byte_fallback;

    /* normalizer: Darts-clone double array and the replacement strings it points to */
    uint32_t *units;
    size_t n_units;
    char *norm_pool; /* with a NUL added after the last byte */
    size_t norm_pool_size;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    char space[8]; /* what spaces become: U+2581 unless tokenizer.json says otherwise */
    size_t space_len;
};

/* "label: message", ZT_ERR_INPUT. */
zt_status zt_tok_bad(const zt_tokenizer *t, const char *fmt, ...) ZT_PRINTF(2, 3);
zt_status zt_tok_add_piece(zt_tokenizer *t, const char *s, size_t len, float score, int type);
/* SentencePiece's precompiled_charsmap blob: uint32 trie bytes, trie units, strings. */
zt_status zt_tok_set_charsmap(zt_tokenizer *t, const uint8_t *blob, size_t n);
zt_status zt_tok_finish(zt_tokenizer *t);
/* Id of a piece of any type, -1 when absent (linear; for loading only). */
int32_t zt_tok_find_any(const zt_tokenizer *t, const char *s);

zt_status zt_tok_load_spm(zt_tokenizer *t, const uint8_t *p, size_t n);
zt_status zt_tok_load_hf(zt_tokenizer *t, const char *p, size_t n);

#endif

/* tokenizer.h - SentencePiece unigram tokenizer (the one umT5 and so Wan use).
 *
 * Gives the ids the `sentencepiece` library gives: the model's precompiled character
 * map (NFKC and friends), SentencePiece's whitespace rules, Viterbi segmentation over
 * the pieces' scores, unknown characters as <unk> (runs merged) or as <0xXX> byte
 * pieces with byte_fallback, then </s>. No BOS.
 *
 * Reads spiece.model (protobuf) or a Hugging Face tokenizer.json with a Unigram model;
 * the format is detected from the content. The json's normalizer and pre-tokenizer are
 * mapped onto SentencePiece's options (Strip/Replace of spaces/WhitespaceSplit mean
 * remove_extra_whitespaces, Metaspace gives the dummy prefix and the space symbol), so
 * both files of one model give the same ids, which are sentencepiece's (the HF fast
 * tokenizer differs from sentencepiece on runs of spaces and on "</s>"-like text).
 *
 * Model files are untrusted: every length, index and type is checked while loading. */
#ifndef ZT_TOKENIZER_H
#define ZT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "zoetrope.h"

typedef struct zt_tokenizer zt_tokenizer;

/* Load a spiece.model or tokenizer.json. On success *tok is owned by the caller (free
 * with zt_tokenizer_free); on failure it is NULL and the message reads "path: reason". */
zt_status zt_tokenizer_open(zt_tokenizer **tok, const char *path);
/* The same from n bytes in memory (copied; data may go away after the call). label
 * names the source in messages. */
zt_status zt_tokenizer_open_memory(zt_tokenizer **tok, const void *data, size_t n,
                                   const char *label);
void zt_tokenizer_free(zt_tokenizer *tok); /* NULL does nothing */

/* The ids of text (UTF-8, len bytes, NULs allowed) followed by EOS (when the model has
 * one), at most max_ids of them: a longer result is cut and EOS kept last, as HF's
 * truncation does. *n gets the number written. ZT_ERR_INPUT on invalid UTF-8
 * ("prompt: invalid UTF-8 at byte N"), ZT_ERR_USAGE when max_ids is 0. Thread-safe:
 * tok is only read. */
zt_status zt_tokenizer_encode(const zt_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                              size_t max_ids, size_t *n);

int32_t zt_tokenizer_vocab_size(const zt_tokenizer *tok);
int32_t zt_tokenizer_eos_id(const zt_tokenizer *tok); /* -1 when none */
int32_t zt_tokenizer_pad_id(const zt_tokenizer *tok); /* -1 when none */
int32_t zt_tokenizer_unk_id(const zt_tokenizer *tok);
/* The piece of an id ("▁cat", "<0x41>", "</s>"), NULL when out of range; valid until
 * the tokenizer is freed. */
const char *zt_tokenizer_piece(const zt_tokenizer *tok, int32_t id);

#endif

/* tokenizer.c - SentencePiece unigram encoding: normalizer, Viterbi, byte fallback.
 *
 * Follows sentencepiece's normalizer.cc (Normalizer::Normalize, NormalizePrefix) and
 * unigram_model.cc (Model::EncodeUnigram, sentencepiece 0.2.x) step for step, float types
 * included, since ties between paths are decided by those roundings. */
#include "tokenizer_impl.h"

#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"

/* sentencepiece's kUnkPenalty and kMaxTrieResultsSize */
#define UNK_PENALTY      10.0f
#define MAX_TRIE_RESULTS 32
/* sentencepiece re-centres path scores past this magnitude */
#define SCORE_RESET 100000.0f
/* Normalized text longer than this is refused (Viterbi positions are int32). */
#define MAX_NORMALIZED ((size_t)1 << 30)

zt_status zt_tok_bad(const zt_tokenizer *t, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return zt_fail(ZT_ERR_INPUT, "%s: %s", t->label, what);
}

/* ---- UTF-8 ------------------------------------------------------------------------- */

/* Length of the well-formed character at p (n bytes left), 0 when malformed: no
 * overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (!len || len > n || c > 0xF4) return 0;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* sentencepiece's OneCharLen: from the lead byte alone, capped by what is left. */
static size_t one_char_len(const char *p, size_t n) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t l = len[(uint8_t)*p >> 4];
    return l < n ? l : n;
}

/* ---- pieces ------------------------------------------------------------------------ */

static uint64_t fnv_step(uint64_t h, uint8_t c) {
    return (h ^ c) * 1099511628211ull;
}
#define FNV_INIT 1469598103934665603ull

static int in_lattice(int type) {
    return type == ZT_PIECE_NORMAL || type == ZT_PIECE_USER || type == ZT_PIECE_UNUSED;
}

zt_status zt_tok_add_piece(zt_tokenizer *t, const char *s, size_t len, float score, int type) {
    if (len == 0) return zt_tok_bad(t, "piece %d is empty", (int)t->n);
    if (type < ZT_PIECE_NORMAL || type > ZT_PIECE_BYTE)
        return zt_tok_bad(t, "piece %d has unknown type %d", (int)t->n, type);
    if (t->n == INT32_MAX || len > UINT32_MAX - 1 || t->pool_size + len + 1 > UINT32_MAX)
        return zt_tok_bad(t, "too many pieces");
    if ((size_t)t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        uint32_t *off = realloc(t->off, cap * sizeof *off);
        if (off) t->off = off;
        uint32_t *ln = realloc(t->len, cap * sizeof *ln);
        if (ln) t->len = ln;
        float *sc = realloc(t->score, cap * sizeof *sc);
        if (sc) t->score = sc;
        uint8_t *ty = realloc(t->type, cap);
        if (ty) t->type = ty;
        if (!off || !ln || !sc || !ty) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", t->label);
        t->cap = cap;
    }
    if (t->pool_size + len + 1 > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 1 << 16;
        while (cap < t->pool_size + len + 1) cap *= 2;
        char *pool = realloc(t->pool, cap);
        if (!pool) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", t->label);
        t->pool = pool;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_size, s, len);
    t->pool[t->pool_size + len] = 0;
    t->off[t->n] = (uint32_t)t->pool_size;
    t->len[t->n] = (uint32_t)len;
    t->score[t->n] = score;
    t->type[t->n] = (uint8_t)type;
    t->pool_size += len + 1;
    t->n++;
    return ZT_OK;
}

int32_t zt_tok_find_any(const zt_tokenizer *t, const char *s) {
    size_t len = strlen(s);
    for (int32_t i = 0; i < t->n; i++)
        if (t->len[i] == len && !memcmp(t->pool + t->off[i], s, len)) return i;
    return -1;
}

/* Id of the lattice piece s[0..len), -1 when none; h is its FNV hash. */
static int32_t find_piece(const zt_tokenizer *t, const char *s, size_t len, uint64_t h) {
    size_t mask = t->nslots - 1;
    for (size_t j = (size_t)h & mask; t->slots[j]; j = (j + 1) & mask) {
        int32_t id = (int32_t)t->slots[j] - 1;
        if (t->len[id] == len && !memcmp(t->pool + t->off[id], s, len)) return id;
    }
    return -1;
}

/* "<0x41>" -> 0x41; -1 when not a byte piece's spelling. */
static int byte_piece_value(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = 16 * v + d;
    }
    return v;
}

zt_status zt_tok_finish(zt_tokenizer *t) {
    if (t->n == 0) return zt_tok_bad(t, "no pieces");
    t->unk_id = -1;
    t->min_score = FLT_MAX; /* sentencepiece's starting values, FLT_MIN included */
    t->max_score = FLT_MIN;
    size_t n_lattice = 0;
    for (int32_t i = 0; i < t->n; i++) {
        int type = t->type[i];
        if (type == ZT_PIECE_UNKNOWN) {
            if (t->unk_id >= 0) return zt_tok_bad(t, "more than one <unk> piece");
            t->unk_id = i;
        }
        if (type == ZT_PIECE_NORMAL) {
            if (t->score[i] != t->score[i]) return zt_tok_bad(t, "piece %d: score is NaN", i);
            if (t->score[i] < t->min_score) t->min_score = t->score[i];
            if (t->score[i] > t->max_score) t->max_score = t->score[i];
        }
        n_lattice += in_lattice(type);
    }
    if (t->unk_id < 0) return zt_tok_bad(t, "no <unk> piece");
    for (int b = 0; b < 256; b++) t->byte_id[b] = t->unk_id;
    size_t nslots = 16;
    while (nslots < 2 * n_lattice) nslots *= 2;
    t->slots = calloc(nslots, sizeof *t->slots);
    if (!t->slots) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", t->label);
    t->nslots = nslots;
    for (int32_t i = 0; i < t->n; i++) {
        const char *s = t->pool + t->off[i];
        size_t len = t->len[i];
        if (t->type[i] == ZT_PIECE_BYTE) {
            int b = byte_piece_value(s, len);
            if (b < 0) return zt_tok_bad(t, "byte piece %d is not <0xXX>", i);
            if (t->byte_id[b] == t->unk_id) t->byte_id[b] = i;
        }
        if (!in_lattice(t->type[i])) continue;
        uint64_t h = FNV_INIT;
        for (size_t k = 0; k < len; k++) h = fnv_step(h, (uint8_t)s[k]);
        if (find_piece(t, s, len, h) >= 0) return zt_tok_bad(t, "piece %d is a duplicate", i);
        size_t j = (size_t)h & (nslots - 1);
        while (t->slots[j]) j = (j + 1) & (nslots - 1);
        t->slots[j] = (uint32_t)i + 1;
        if (len > t->max_len) t->max_len = len;
        if (t->type[i] == ZT_PIECE_USER && len > t->max_user_len) t->max_user_len = len;
    }
    if (t->eos_id >= t->n) return zt_tok_bad(t, "eos id %d out of range", (int)t->eos_id);
    if (t->pad_id >= t->n) t->pad_id = -1;
    if (t->eos_id < -1) t->eos_id = -1;
    if (t->pad_id < -1) t->pad_id = -1;
    return ZT_OK;
}

static zt_status check_trie(zt_tokenizer *t);

zt_status zt_tok_set_charsmap(zt_tokenizer *t, const uint8_t *blob, size_t n) {
    free(t->units);
    free(t->norm_pool);
    t->units = NULL;
    t->norm_pool = NULL;
    t->n_units = t->norm_pool_size = 0;
    if (n == 0) return ZT_OK; /* identity */
    if (n <= 4) return zt_tok_bad(t, "precompiled_charsmap: %zu bytes", n);
    size_t trie =
        (size_t)blob[0] | (size_t)blob[1] << 8 | (size_t)blob[2] << 16 | (size_t)blob[3] << 24;
    if (trie >= n - 4 || trie % 4 || trie == 0)
        return zt_tok_bad(t, "precompiled_charsmap: trie of %zu bytes in a %zu-byte blob", trie, n);
    t->n_units = trie / 4;
    t->norm_pool_size = n - 4 - trie;
    t->units = malloc(trie);
    t->norm_pool = malloc(t->norm_pool_size + 1);
    if (!t->units || !t->norm_pool) return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", t->label);
    for (size_t i = 0; i < t->n_units; i++) {
        const uint8_t *u = blob + 4 + 4 * i;
        t->units[i] =
            (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    memcpy(t->norm_pool, blob + 4 + trie, t->norm_pool_size);
    t->norm_pool[t->norm_pool_size] = 0; /* so every entry ends inside the pool */
    return check_trie(t);
}

/* ---- normalizer -------------------------------------------------------------------- */

/* Darts-clone unit fields. */
static uint32_t unit_offset(uint32_t u) {
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}
static uint32_t unit_label(uint32_t u) {
    return u & ((1u << 31) | 0xFF);
}
static int unit_has_leaf(uint32_t u) {
    return (u >> 8) & 1;
}
static uint32_t unit_value(uint32_t u) {
    return u & ((1u << 31) - 1);
}

/* Every replacement the normalizer can reach must start inside the pool. Checked here,
 * so that a broken file is refused when it is opened, not when some text happens to
 * walk into the bad entry (valid UTF-8 is never refused at encode). The walk takes the
 * normalizer's steps (normalize_prefix) from the root over every byte, each reachable
 * node once: a crafted trie may loop. About 256 steps a node: ~10 ms for T5's table. */
static zt_status check_trie(zt_tokenizer *t) {
    const size_t n = t->n_units;
    const uint32_t *u = t->units;
    uint8_t *seen = calloc(n / 8 + 1, 1);
    size_t *stack = malloc((n + 1) * sizeof *stack), top = 0;
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", t->label);
    }
    stack[top++] = unit_offset(u[0]); /* the root: not a unit index itself */
    zt_status st = ZT_OK;
    while (top && st == ZT_OK) {
        const size_t pos = stack[--top];
        for (uint32_t c = 0; c < 256 && st == ZT_OK; c++) {
            const size_t q = pos ^ c;
            if (q >= n || unit_label(u[q]) != c) continue;
            const size_t next = q ^ unit_offset(u[q]);
            if (next >= n) continue;
            if (unit_has_leaf(u[q]) && unit_value(u[next]) >= t->norm_pool_size)
                st = zt_tok_bad(t, "precompiled_charsmap: entry %u past its %zu-byte pool",
                                (unsigned)unit_value(u[next]), t->norm_pool_size);
            if (!(seen[next / 8] >> (next % 8) & 1)) {
                seen[next / 8] |= (uint8_t)(1u << (next % 8));
                stack[top++] = next;
            }
        }
    }
    free(seen);
    free(stack);
    return st;
}

typedef struct growbuf {
    char *p;
    size_t n, cap;
} growbuf;

static int gb_append(growbuf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

/* NormalizePrefix: the replacement for the start of in (n > 0 bytes) and how many bytes
 * it consumes. A user-defined piece stays as is; else the longest rule among the
 * first 32 prefixes the trie finds; else the next character (U+FFFD for one stray
 * byte, which only a rule ending inside a character can leave). -1: broken trie. */
static int normalize_prefix(const zt_tokenizer *t, const char *in, size_t n, const char **out,
                            size_t *out_len, size_t *consumed) {
    if (t->max_user_len) {
        size_t best = 0;
        uint64_t h = FNV_INIT;
        for (size_t l = 1; l <= n && l <= t->max_user_len; l++) {
            h = fnv_step(h, (uint8_t)in[l - 1]);
            int32_t id = find_piece(t, in, l, h);
            if (id >= 0 && t->type[id] == ZT_PIECE_USER) best = l;
        }
        if (best) {
            *out = in;
            *out_len = *consumed = best;
            return 0;
        }
    }
    size_t best_len = 0, found = 0;
    uint32_t best_value = 0;
    if (t->n_units) {
        const uint32_t *u = t->units;
        size_t pos = unit_offset(u[0]);
        for (size_t i = 0; i < n; i++) {
            uint8_t c = (uint8_t)in[i];
            pos ^= c;
            if (pos >= t->n_units || unit_label(u[pos]) != c) break;
            uint32_t unit = u[pos];
            pos ^= unit_offset(unit);
            if (pos >= t->n_units) break;
            if (unit_has_leaf(unit)) {
                if (found < MAX_TRIE_RESULTS) {
                    best_len = i + 1;
                    best_value = unit_value(u[pos]);
                }
                found++;
            }
        }
    }
    if (best_len) {
        if (best_value >= t->norm_pool_size) return -1;
        *out = t->norm_pool + best_value;
        *out_len = strlen(*out);
        *consumed = best_len;
        return 0;
    }
    size_t len = utf8_len((const uint8_t *)in, n);
    if (!len) {
        *out = "\xEF\xBF\xBD";
        *out_len = 3;
        *consumed = 1;
        return 0;
    }
    *out = in;
    *out_len = *consumed = len;
    return 0;
}

/* Normalizer::Normalize without offsets; whitespace_as_suffix is refused at load. */
static zt_status normalize(const zt_tokenizer *t, const char *in, size_t n, growbuf *out) {
    const char *rep;
    size_t rep_len, used;
    out->n = 0;
    if (t->remove_extra_ws) {
        while (n) {
            if (normalize_prefix(t, in, n, &rep, &rep_len, &used))
                return zt_tok_bad(t, "precompiled_charsmap: entry out of range");
            if (rep_len != 1 || rep[0] != ' ') break;
            in += used;
            n -= used;
        }
    }
    if (!n) return ZT_OK;
    const char *space = t->escape_ws ? t->space : " ";
    size_t space_len = t->escape_ws ? t->space_len : 1;
    if (t->add_dummy_prefix && gb_append(out, space, space_len)) goto nomem;
    int prev_space = t->remove_extra_ws;
    while (n) {
        if (normalize_prefix(t, in, n, &rep, &rep_len, &used))
            return zt_tok_bad(t, "precompiled_charsmap: entry out of range");
        while (prev_space && rep_len && rep[0] == ' ') rep++, rep_len--;
        if (rep_len) {
            for (size_t i = 0; i < rep_len; i++) {
                int err = t->escape_ws && rep[i] == ' ' ? gb_append(out, space, space_len)
                                                        : gb_append(out, rep + i, 1);
                if (err) goto nomem;
            }
            prev_space = rep[rep_len - 1] == ' ';
        }
        in += used;
        n -= used;
        if (!t->remove_extra_ws) prev_space = 0;
        if (out->n > MAX_NORMALIZED) return zt_fail(ZT_ERR_USAGE, "prompt: too long");
    }
    if (t->remove_extra_ws)
        while (out->n >= space_len && !memcmp(out->p + out->n - space_len, space, space_len))
            out->n -= space_len;
    return ZT_OK;
nomem:
    return zt_fail(ZT_ERR_NOMEM, "prompt: out of memory");
}

/* ---- segmentation ------------------------------------------------------------------- */

typedef struct best_path {
    float score; /* best total score of a path ending here */
    int32_t start;
    int32_t id;
} best_path;

/* A path through piece id from start to end scores cand: keep it if it is the first or
 * strictly better (so on ties the earlier start wins, as in sentencepiece). */
static void relax(best_path *path, size_t start, size_t end, float cand, int32_t id,
                  size_t *frontier) {
    best_path *target = &path[end];
    if (end > *frontier) *frontier = end;
    if (target->start == -1 || cand > target->score) {
        target->score = cand;
        target->start = (int32_t)start;
        target->id = id;
    }
}

/* Model::EncodeUnigram of sentencepiece 0.2.x, all in float as there (ties between
 * paths are decided by those roundings; older releases summed in double and scored
 * user-defined pieces len * max_score - 0.1). Fills path[0..size] for back-tracking. */
static void viterbi(const zt_tokenizer *t, const char *s, size_t size, best_path *path) {
    const float unk_score = t->min_score - UNK_PENALTY;
    for (size_t i = 0; i <= size; i++) path[i] = (best_path){0.0f, -1, -1};
    size_t frontier = 0;
    for (size_t start = 0; start < size;) {
        float here = path[start].score;
        if (here < -SCORE_RESET || here > SCORE_RESET) { /* keeps float precision on long texts */
            for (size_t i = start; i <= frontier; i++)
                if (i == start || path[i].start != -1) path[i].score -= here;
            here = 0.0f;
        }
        const size_t mblen = one_char_len(s + start, size - start);
        int has_single = 0;
        uint64_t h = FNV_INIT;
        for (size_t len = 1; len <= t->max_len && start + len <= size; len++) {
            h = fnv_step(h, (uint8_t)s[start + len - 1]);
            int32_t id = find_piece(t, s + start, len, h);
            if (id < 0 || t->type[id] == ZT_PIECE_UNUSED) continue;
            float score = t->type[id] == ZT_PIECE_USER ? 0.1f * (float)(len - 1) : t->score[id];
            relax(path, start, start + len, score + here, id, &frontier);
            if (len == mblen) has_single = 1;
        }
        if (!has_single) relax(path, start, start + mblen, unk_score + here, t->unk_id, &frontier);
        start += mblen;
    }
}

/* Writes ids while there is room (cap of them), counts all in *count. */
static void emit(int32_t *ids, size_t cap, size_t *count, int32_t id) {
    if (*count < cap) ids[*count] = id;
    (*count)++;
}

zt_status zt_tokenizer_encode(const zt_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                              size_t max_ids, size_t *n) {
    *n = 0;
    if (max_ids == 0 || !ids) return zt_fail(ZT_ERR_USAGE, "prompt: no room for ids");
    if (!text && len) return zt_fail(ZT_ERR_USAGE, "prompt: NULL text");
    for (size_t i = 0; i < len;) {
        size_t l = utf8_len((const uint8_t *)text + i, len - i);
        if (!l) return zt_fail(ZT_ERR_INPUT, "prompt: invalid UTF-8 at byte %zu", i);
        i += l;
    }
    growbuf norm = {0};
    best_path *path = NULL;
    int32_t *starts = NULL;
    zt_status st = len ? normalize(tok, text, len, &norm) : ZT_OK;
    if (st) goto done;
    path = malloc((norm.n + 1) * sizeof *path);
    starts = malloc((norm.n + 1) * sizeof *starts);
    if (!path || !starts) {
        st = zt_fail(ZT_ERR_NOMEM, "prompt: out of memory");
        goto done;
    }
    viterbi(tok, norm.p, norm.n, path);
    size_t n_nodes = 0;
    for (size_t end = norm.n; end > 0; end = (size_t)path[end].start)
        starts[n_nodes++] = (int32_t)end; /* ends, last first */
    const size_t cap = tok->eos_id >= 0 ? max_ids - 1 : max_ids;
    size_t count = 0;
    int prev_unk = 0;
    for (size_t k = n_nodes; k-- > 0;) {
        const best_path *node = &path[starts[k]];
        if (node->id != tok->unk_id) {
            emit(ids, cap, &count, node->id);
            prev_unk = 0;
        } else if (tok->byte_fallback) {
            for (int32_t i = node->start; i < starts[k]; i++)
                emit(ids, cap, &count, tok->byte_id[(uint8_t)norm.p[i]]);
        } else if (!prev_unk) { /* a run of unknown characters is one <unk> */
            emit(ids, cap, &count, tok->unk_id);
            prev_unk = 1;
        }
    }
    *n = count < cap ? count : cap;
    if (tok->eos_id >= 0) ids[(*n)++] = tok->eos_id;
done:
    free(norm.p);
    free(path);
    free(starts);
    return st;
}

/* ---- open, free, accessors ------------------------------------------------------------ */

void zt_tokenizer_free(zt_tokenizer *tok) {
    if (!tok) return;
    free(tok->label);
    free(tok->off);
    free(tok->len);
    free(tok->score);
    free(tok->type);
    free(tok->pool);
    free(tok->slots);
    free(tok->units);
    free(tok->norm_pool);
    free(tok);
}

zt_status zt_tokenizer_open_memory(zt_tokenizer **tok, const void *data, size_t n,
                                   const char *label) {
    *tok = NULL;
    zt_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->label = strdup(label ? label : "tokenizer"))) {
        free(t);
        return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", label ? label : "tokenizer");
    }
    memcpy(t->space, "\xE2\x96\x81", 3);
    t->space_len = 3;
    t->eos_id = t->pad_id = -1;
    const uint8_t *p = data;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
    /* JSON starts with a bracket; a ModelProto with a field key, never 0x7B or 0x5B */
    zt_status st;
    if (n == 0)
        st = zt_tok_bad(t, "empty file");
    else if (i < n && (p[i] == '{' || p[i] == '['))
        st = zt_tok_load_hf(t, data, n);
    else
        st = zt_tok_load_spm(t, data, n);
    if (st == ZT_OK) st = zt_tok_finish(t);
    if (st != ZT_OK) {
        zt_tokenizer_free(t);
        return st;
    }
    *tok = t;
    return ZT_OK;
}

zt_status zt_tokenizer_open(zt_tokenizer **tok, const char *path) {
    *tok = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return zt_fail(ZT_ERR_INPUT, "%s: cannot open", path);
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            uint8_t *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return zt_fail(ZT_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    zt_status st = err ? zt_fail(ZT_ERR_IO, "%s: read error", path)
                       : zt_tokenizer_open_memory(tok, buf, n, path);
    free(buf);
    return st;
}

int32_t zt_tokenizer_vocab_size(const zt_tokenizer *tok) {
    return tok->n;
}
int32_t zt_tokenizer_eos_id(const zt_tokenizer *tok) {
    return tok->eos_id;
}
int32_t zt_tokenizer_pad_id(const zt_tokenizer *tok) {
    return tok->pad_id;
}
int32_t zt_tokenizer_unk_id(const zt_tokenizer *tok) {
    return tok->unk_id;
}

const char *zt_tokenizer_piece(const zt_tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n) return NULL;
    return tok->pool + tok->off[id];
}

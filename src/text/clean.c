/* clean.c - Wan's prompt clean-up: Python's html.unescape twice, strip, \s+ -> " ",
 * strip. The rules of CPython's Lib/html/__init__.py are followed where noted. */
#include "text/clean.h"

#include <libxml/HTMLparser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static int buf_put(buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 1;
}

static int buf_put_cp(buf *b, uint32_t c) {
    unsigned char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (unsigned char)(0xC0 | c >> 6);
        u[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (unsigned char)(0xE0 | c >> 12);
        u[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | c >> 18);
        u[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
        u[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
        u[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    return buf_put(b, u, n);
}

/* Decode one code point of valid UTF-8 at s (checked beforehand); *len gets its size. */
static uint32_t utf8_get(const unsigned char *s, size_t *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] < 0xE0) {
        *len = 2;
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (s[0] < 0xF0) {
        *len = 3;
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    }
    *len = 4;
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
           (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* Strict UTF-8 (no overlong forms, surrogates or values past U+10FFFF, as Python's
 * decoder): the offset of the first bad byte, or -1. */
static long utf8_invalid_at(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        uint32_t lo;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, lo = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, lo = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, lo = 0x10000;
        } else {
            return (long)i;
        }
        if (n - i <= k) return (long)i;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return (long)i;
        size_t len;
        uint32_t cp = utf8_get(s + i, &len);
        if (cp < lo || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long)i;
        i += k + 1;
    }
    return -1;
}

/* ---- html.unescape ------------------------------------------------------------------ */

/* Python's _invalid_charrefs for 0x80-0x9F: windows-1252, the five holes kept as C1. */
static const uint16_t cp1252[32] = {0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
                                    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* What Python's _replace_charref gives for &#num; -1 for nothing (the reference is
 * dropped). */
static int64_t numeric_ref(uint32_t num) {
    if (num == 0) return 0xFFFD;
    if (num >= 0x80 && num <= 0x9F) return cp1252[num - 0x80];
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return 0xFFFD;
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
        num == 0x7F || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return -1;
    return num; /* 0x0D included: Python maps it to itself */
}

/* An HTML 4 entity's value, with HTML5's (and so Python's) angle brackets. */
static int64_t named_ref(const char *name) {
    const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
    if (!e) return -1;
    if (e->value == 0x2329) return 0x27E8; /* lang */
    if (e->value == 0x232A) return 0x27E9; /* rang */
    return e->value;
}

/* HTML5's names valid without ';' are exactly the HTML 4 ones for Latin-1 characters
 * plus amp, lt, gt and quot (and the upper-case AMP, COPY, GT, LT, QUOT, REG, which
 * are not HTML 4). */
static int64_t legacy_ref(const char *name) {
    int64_t v = named_ref(name);
    return v == 34 || v == 38 || v == 60 || v == 62 || (v >= 0xA0 && v <= 0xFF) ? v : -1;
}

static int is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One pass of html.unescape over valid UTF-8 s; the result is valid UTF-8 too. */
static int unescape(const char *s, size_t n, buf *b) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t lit = amp ? (size_t)(amp - (s + i)) : n - i;
        if (!buf_put(b, s + i, lit)) return 0;
        i += lit;
        if (i >= n) break;
        size_t j = i + 1; /* after '&' */
        if (j < n && u[j] == '#') {
            /* &#[0-9]+;? or &#[xX][0-9a-fA-F]+;? */
            int hex = j + 1 < n && (u[j + 1] == 'x' || u[j + 1] == 'X');
            size_t d = j + 1 + (size_t)hex, k = d;
            uint32_t num = 0;
            while (k < n && (hex ? hex_value(u[k]) >= 0 : is_digit(u[k]))) {
                uint32_t v = (uint32_t)(hex ? hex_value(u[k]) : u[k] - '0');
                /* saturate: Python's ints are unbounded and anything past U+10FFFF
                 * gives U+FFFD */
                num = num > 0x110000 ? 0x110001 : num * (hex ? 16u : 10u) + v;
                k++;
            }
            if (k == d) { /* no digits: not a reference ('#' never starts a name) */
                if (!buf_put(b, "&", 1)) return 0;
                i = j;
                continue;
            }
            if (k < n && u[k] == ';') k++;
            int64_t c = numeric_ref(num);
            if (c >= 0 && !buf_put_cp(b, (uint32_t)c)) return 0;
            i = k;
            continue;
        }
        /* a name: [^\t\n\f <&#;]{1,32} (code points), then an optional ';' */
        size_t k = j, cps = 0;
        while (k < n && cps < 32 && u[k] && !strchr("\t\n\f <&#;", u[k])) {
            size_t len;
            utf8_get(u + k, &len);
            k += len;
            cps++;
        }
        size_t name_len = k - j;
        int semi = k < n && u[k] == ';';
        char name[40];
        int64_t c = -1;
        size_t used = 0; /* bytes after '&' that the reference takes */
        if (name_len > 0 && name_len < sizeof name) {
            memcpy(name, s + j, name_len);
            name[name_len] = '\0';
            c = semi ? named_ref(name) : legacy_ref(name);
            used = name_len + (size_t)semi;
        }
        /* else the longest prefix that is a name valid without ';' (at least 2 long;
         * all such names are ASCII, so bytes count as code points) */
        if (c < 0 && name_len >= 2) {
            size_t x = semi ? name_len : name_len - 1;
            if (x > 8) x = 8; /* legacy names have at most 6 letters */
            for (; x >= 2 && c < 0; x--) {
                memcpy(name, s + j, x);
                name[x] = '\0';
                c = legacy_ref(name);
                used = x;
            }
        }
        if (c < 0) {
            if (!buf_put(b, "&", 1)) return 0;
            i = j;
        } else {
            if (!buf_put_cp(b, (uint32_t)c)) return 0;
            i = j + used;
        }
    }
    return 1;
}

/* ---- whitespace ------------------------------------------------------------------- */

/* The `regex` module's \s (diffusers imports it as re): Unicode White_Space. */
static int is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* str.strip()'s set (str.isspace): also the separators U+001C-U+001F. */
static int is_py_space(uint32_t c) {
    return is_white_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* strip(sub(r"\s+", " ", strip(s))): the ends go by str.isspace, the runs in between by
 * White_Space, so a U+001C-U+001F inside the text stays as it is. */
static int collapse_spaces(const char *s, size_t n, buf *b) {
    const unsigned char *u = (const unsigned char *)s;
    size_t start = n, end = 0; /* [start, end): from the first to past the last non-space */
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t c = utf8_get(u + i, &len);
        if (!is_py_space(c)) {
            if (start == n) start = i;
            end = i + len;
        }
        i += len;
    }
    if (!buf_put(b, "", 0)) return 0;
    int in_run = 0;
    for (size_t i = start; i < end;) {
        size_t len;
        uint32_t c = utf8_get(u + i, &len);
        if (is_white_space(c)) {
            if (!in_run && !buf_put(b, " ", 1)) return 0;
            in_run = 1;
        } else {
            in_run = 0;
            if (!buf_put(b, s + i, len)) return 0;
        }
        i += len;
    }
    return 1;
}

zt_status zt_text_clean(const char *in, char **out) {
    if (!out) return zt_fail(ZT_ERR_USAGE, "zt_text_clean: no output pointer");
    *out = NULL;
    if (!in) return zt_fail(ZT_ERR_USAGE, "zt_text_clean: no prompt");
    size_t n = strlen(in);
    long bad = utf8_invalid_at((const unsigned char *)in, n);
    if (bad >= 0) return zt_fail(ZT_ERR_USAGE, "prompt: invalid UTF-8 at byte %ld", bad);
    buf a = {0}, b = {0}, c = {0};
    int ok = unescape(in, n, &a) && buf_put(&a, "", 0) && unescape(a.p, a.n, &b) &&
             buf_put(&b, "", 0) && collapse_spaces(b.p, b.n, &c);
    free(a.p);
    free(b.p);
    if (!ok) {
        free(c.p);
        return zt_fail(ZT_ERR_NOMEM, "prompt: out of memory cleaning %zu bytes", n);
    }
    *out = c.p;
    return ZT_OK;
}

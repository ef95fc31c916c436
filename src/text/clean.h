/* clean.h - the prompt clean-up Wan's pipelines apply before tokenizing.
 *
 * diffusers' Wan pipelines (pipelines/wan/pipeline_wan.py) call
 *     prompt_clean(t) = whitespace_clean(basic_clean(t))
 *     basic_clean(t)  = html.unescape(html.unescape(ftfy.fix_text(t))).strip()
 *     whitespace_clean(t) = re.sub(r"\s+", " ", t).strip()     (re is `regex`)
 * zt_text_clean gives the same bytes as that without ftfy:
 *
 *  - ftfy.fix_text (mojibake and other repairs) is not reproduced. diffusers skips it too
 *    when ftfy is not installed; Wan's reference code does call it, so a prompt with
 *    mojibake ("cafÃ©") can differ from theirs.
 *  - HTML character references are decoded twice with Python's html.unescape rules:
 *    numeric ones (&#NN; &#xHH;, the ';' optional) with its replacements (0, surrogates
 *    and > U+10FFFF give U+FFFD; 0x80-0x9F are read as windows-1252; the other
 *    noncharacters and C0/C1 controls it lists are dropped; &#13; stays CR). Named
 *    ones are the HTML 4 entities (libxml2's table: 252 names and &apos;), with HTML5's
 *    values for &lang; and &rang; (U+27E8/9, as Python has them). The ones HTML5 allows
 *    without ';' (the Latin-1 names and amp, lt, gt, quot) also decode without it and
 *    as the longest prefix of a longer word ("&notit;" -> "¬it;"), as in Python.
 *    HTML5-only names (&NewLine;, &AMP;, &bigstar;, ...) pass through unchanged, where
 *    Python would decode them.
 *  - Every run of Unicode White_Space (\t \n \v \f \r space, U+0085, U+00A0, U+1680,
 *    U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) becomes one space: diffusers
 *    imports the `regex` module as re, whose \s is that set. Both ends are stripped
 *    with str.strip()'s set, which adds U+001C-U+001F; inside the text those stay. */
#ifndef ZT_TEXT_CLEAN_H
#define ZT_TEXT_CLEAN_H

#include "zoetrope.h"

/* Clean the NUL-terminated UTF-8 string in. On success *out is a malloc'd
 * NUL-terminated string the caller frees (possibly empty); on failure *out is NULL.
 * ZT_ERR_USAGE on invalid UTF-8 ("prompt: invalid UTF-8 at byte N") or NULL
 * arguments; ZT_ERR_NOMEM. Thread-safe. */
zt_status zt_text_clean(const char *in, char **out);

#endif

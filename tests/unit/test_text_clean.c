/* Wan's prompt clean-up: zt_text_clean byte for byte against diffusers' prompt_clean
 * without ftfy (tests/data/text/clean.json from tools/text/make_clean_fixtures.py:
 * entities, double escapes, numeric and invalid references, Unicode whitespace, CJK,
 * the Wan negative prompt, every HTML 4 name); the HTML5-only names it leaves alone;
 * invalid UTF-8 and bad arguments. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "text/clean.h"

static void print_escaped(const char *label, const char *s) {
    fprintf(stderr, "  %s '", label);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fprintf(stderr, *p < 0x20 || *p == 0x7f ? "\\x%02x" : "%c", *p);
    fprintf(stderr, "'\n");
}

/* 1 when zt_text_clean(in) is want; prints the difference otherwise. */
static int cleans_to(const char *in, const char *want) {
    char *got = NULL;
    zt_status st = zt_text_clean(in, &got);
    int same = st == ZT_OK && got && !strcmp(got, want);
    if (!same) {
        fprintf(stderr, "zt_text_clean: %s %s\n", zt_status_string(st), zt_last_error());
        print_escaped("in  ", in);
        print_escaped("got ", got ? got : "(null)");
        print_escaped("want", want);
    }
    free(got);
    return same;
}

static void test_fixture(void) {
    json_error_t err;
    json_t *doc = json_load_file(ZT_TEST_DATA "/text/clean.json", 0, &err);
    CHECK(doc != NULL, "clean.json: %s (line %d); run tools/text/make_clean_fixtures.py", err.text,
          err.line);
    if (!doc) return;
    json_t *cases = json_object_get(doc, "cases"), *only = json_object_get(doc, "html5_only");
    size_t n = json_array_size(cases), bad = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cases, i);
        bad += !cleans_to(json_string_value(json_array_get(c, 0)),
                          json_string_value(json_array_get(c, 1)));
    }
    printf("clean.json: %zu/%zu prompts identical to diffusers' prompt_clean\n", n - bad, n);
    CHECK(n >= 30 && bad == 0, "%zu of %zu prompts differ", bad, n);
    /* HTML5-only names: left as they are, where Python decodes them */
    bad = 0;
    for (size_t i = 0; i < json_array_size(only); i++) {
        json_t *c = json_array_get(only, i);
        const char *py = json_string_value(json_array_get(c, 1));
        const char *ours = json_string_value(json_array_get(c, 2));
        bad += !cleans_to(json_string_value(json_array_get(c, 0)), ours) || !strcmp(py, ours);
    }
    CHECK(json_array_size(only) > 0 && bad == 0, "%zu HTML5-only cases wrong", bad);
    json_decref(doc);
}

static void test_invalid(void) {
    static const struct {
        const char *text;
        const char *where;
    } bad[] = {
        {"ok \xff", "byte 3"},          /* not a lead byte */
        {"\xc3", "byte 0"},             /* truncated */
        {"ab\xc3(", "byte 2"},          /* bad continuation */
        {"\xc0\xaf", "byte 0"},         /* overlong '/' */
        {"\xe0\x80\xaf", "byte 0"},     /* overlong, 3 bytes */
        {"x\xed\xa0\x80", "byte 1"},    /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", "byte 0"}, /* U+110000 */
        {"caf\xc3\xa9 \x80", "byte 6"}, /* stray continuation after valid text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = (char *)"untouched";
        CHECK_FAILS(zt_text_clean(bad[i].text, &out), ZT_ERR_USAGE, bad[i].where);
        CHECK(out == NULL, "case %zu: *out not NULL on failure", i);
    }
    char *out = NULL;
    CHECK_FAILS(zt_text_clean(NULL, &out), ZT_ERR_USAGE, "prompt");
    CHECK_FAILS(zt_text_clean("x", NULL), ZT_ERR_USAGE, "output");
    /* the largest valid sequences pass */
    CHECK(cleans_to("\xf4\x8f\xbf\xbf \xef\xbf\xbd \xed\x9f\xbf",
                    "\xf4\x8f\xbf\xbf \xef\xbf\xbd \xed\x9f\xbf"),
          "edge code points");
}

/* A long prompt with many references, to run the buffer growth under ASan. */
static void test_long(void) {
    size_t reps = 20000;
    char *in = zt_test_alloc(reps * 16 + 1), *want = zt_test_alloc(reps * 8 + 1);
    char *p = in, *q = want;
    for (size_t i = 0; i < reps; i++) {
        memcpy(p, "&amp;lt;&#x1F431", 16);
        p += 16;
        memcpy(q, "<\xf0\x9f\x90\xb1", 5);
        q += 5;
    }
    CHECK(cleans_to(in, want), "long prompt");
}

int main(void) {
    test_fixture();
    test_invalid();
    test_long();
    return zt_test_finish();
}

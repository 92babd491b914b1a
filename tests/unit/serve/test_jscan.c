/* The JSON pull scanner of the serving request parsers: numbers exactly as strtod, strings
 * with escapes and UTF-8 checks, skipping, nesting limits and error positions. */
#include "kiln_test.h"

#include <math.h>

#include "core/arena.h"
#include "serve/jscan_int.h"

static struct kiln_arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = kiln_arena_new(0);
    return arena == NULL;
}

static int teardown(void **state)
{
    (void)state;
    kiln_arena_free(arena);
    return 0;
}

static double num(const char *text, int *rc)
{
    struct js s;
    struct kiln_err err = { 0 };
    double v = -12345;
    js_init(&s, text, strlen(text), arena, &err);
    *rc = js_number(&s, &v);
    if (*rc == KILN_OK && s.p != s.end)
        *rc = -100; /* did not consume the whole text */
    return v;
}

static void assert_same_as_strtod(const char *text)
{
    int rc;
    double got = num(text, &rc), want = strtod(text, NULL);
    if (rc != KILN_OK)
        fail_msg("'%s' was refused", text);
    if (memcmp(&got, &want, sizeof(got)) != 0 && !(isnan(got) && isnan(want)))
        fail_msg("'%s': got %.17g, strtod says %.17g", text, got, want);
}

static void test_numbers_match_strtod(void **state)
{
    static const char *const fixed[] = { "0",
                                         "-0",
                                         "1",
                                         "-1",
                                         "0.1",
                                         "0.3",
                                         "2.5e-3",
                                         "1e22",
                                         "1e23",
                                         "1E-22",
                                         "9007199254740992",
                                         "9007199254740993",
                                         "9007199254740994",
                                         "18446744073709551615",
                                         "0.000000000000000000001",
                                         "123456789012345678901234567890",
                                         "3.141592653589793238462643383279",
                                         "1e-400",
                                         "1e400",
                                         "-1e400",
                                         "4.9406564584124654e-324",
                                         "2.2250738585072014e-308",
                                         "1.7976931348623157e308",
                                         "0.1e1",
                                         "100e-2",
                                         "5e0",
                                         "0.0000",
                                         "12345678901234567",
                                         "1234567890123456789",
                                         "12345678901234567890",
                                         "7.0e+22",
                                         "1e-5",
                                         "123.456e7" };
    char buf[64];
    uint64_t seed = 42;
    (void)state;
    for (size_t i = 0; i < KILN_ARRAY_LEN(fixed); i++)
        assert_same_as_strtod(fixed[i]);
    /* Random decimals: 1..20 digits, a point anywhere, exponents around the fast path. */
    for (int i = 0; i < 200000; i++) {
        size_t n = 0;
        int digits, point, e;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        digits = 1 + (int)((seed >> 33) % 20);
        point = (int)((seed >> 20) % (uint64_t)(digits + 1));
        e = (int)((seed >> 40) % 61) - 30;
        if ((seed >> 7) & 1)
            buf[n++] = '-';
        for (int d = 0; d < digits; d++) {
            uint64_t r;
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            r = seed >> 33;
            if (d == point && d > 0)
                buf[n++] = '.';
            buf[n++] = (char)('0' + (d == 0 ? 1 + r % 9 : r % 10));
        }
        if ((seed >> 11) & 1)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "e%d", e);
        buf[n] = '\0';
        assert_same_as_strtod(buf);
    }
}

static void test_number_literals_and_grammar(void **state)
{
    static const char *const bad[] = { "",    "-",   "+1",  ".5",  "1.",   "1e",      "1e+",
                                       "01x", "--1", "nan", "inf", "-NaN", "Infinit", "0x10" };
    int rc;
    (void)state;
    assert_true(isnan(num("NaN", &rc)));
    assert_int_equal(rc, KILN_OK);
    assert_true(isinf(num("Infinity", &rc)) && num("Infinity", &rc) > 0);
    assert_true(isinf(num("-Infinity", &rc)) && num("-Infinity", &rc) < 0);
    assert_int_equal(rc, KILN_OK);
    assert_true(signbit(num("-0.0", &rc)));
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        num(bad[i], &rc);
        if (rc == KILN_OK)
            fail_msg("'%s' was accepted", bad[i]);
    }
}

static int str(const char *text, struct kiln_str *out, struct kiln_err *err)
{
    struct js s;
    js_init(&s, text, strlen(text), arena, err);
    return js_string(&s, out);
}

static void test_strings(void **state)
{
    struct kiln_str s;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(str("\"plain\"", &s, &err), KILN_OK);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.p, "plain", 5);
    assert_int_equal(str("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\"", &s, &err), KILN_OK);
    assert_int_equal(s.len, 15);
    assert_memory_equal(s.p, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80", 15);
    assert_int_equal(str("\"caf\xc3\xa9\"", &s, &err), KILN_OK);
    assert_int_equal(s.len, 5);
    static const char *const bad[] = { "\"unterminated",
                                       "\"bad \\x escape\"",
                                       "\"\\u12\"",
                                       "\"lone \\ud800 surrogate\"",
                                       "\"\\udc00\"",
                                       "\"raw \x01 control\"",
                                       "\"bad \xff utf8\"",
                                       "\"overlong \xc0\xaf\"",
                                       "\"surrogate \xed\xa0\x80\"",
                                       "'single'" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        int rc = str(bad[i], &s, &err);
        if (rc != KILN_EPARSE)
            fail_msg("'%s' gave %d", bad[i], rc);
    }
}

static void test_skip_and_structure(void **state)
{
    const char *text =
        " {\"a\": [1, 2.5, {\"b\": null}], \"c\": \"x\\\"y\", \"d\": [true, false]} ";
    struct kiln_err err = { 0 };
    struct kiln_str key;
    struct js s;
    int first = 1, n = 0, rc;
    (void)state;
    js_init(&s, text, strlen(text), arena, &err);
    assert_int_equal(js_expect(&s, '{'), KILN_OK);
    while ((rc = js_obj_next(&s, &first, &key)) == 1) {
        assert_int_equal(js_skip(&s), KILN_OK);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 3);
    assert_int_equal(js_finish(&s), KILN_OK);

    static const char *const bad[] = { "[1,]", "[1 2]",    "{\"a\" 1}", "{\"a\":1,}", "{1:2}",
                                       "[",    "{\"a\":}", "tru",       "nul",        "[1]]" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        js_init(&s, bad[i], strlen(bad[i]), arena, &err);
        rc = js_skip(&s);
        if (rc == KILN_OK)
            rc = js_finish(&s);
        if (rc != KILN_EPARSE)
            fail_msg("'%s' gave %d", bad[i], rc);
    }
}

static void test_depth_and_positions(void **state)
{
    char deep[200];
    struct kiln_err err = { 0 };
    struct js s;
    const char *text = "{\n  \"a\": [1,\n   2 x]}";
    (void)state;
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    js_init(&s, deep, strlen(deep), arena, &err);
    assert_int_equal(js_skip(&s), KILN_EPARSE);
    assert_non_null(strstr(err.msg, "deeper than 64"));
    js_init(&s, deep + 1, strlen(deep) - 2, arena, &err);
    assert_int_equal(js_skip(&s), KILN_OK);
    js_init(&s, text, strlen(text), arena, &err);
    assert_int_equal(js_skip(&s), KILN_EPARSE);
    assert_non_null(strstr(err.msg, "line 3, column 6"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_match_strtod),
        cmocka_unit_test(test_number_literals_and_grammar),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_skip_and_structure),
        cmocka_unit_test(test_depth_and_positions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

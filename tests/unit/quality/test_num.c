/*
 * test_num.c - the number parser gives exactly strtod's double (round half to even) on a
 * million random decimal strings of every shape (17-digit round trips, up to 25 digits,
 * exponents from -350 to 350, subnormals), accepts pandas' number syntax and nothing else,
 * and classifies integers; plus booleans and shortest formatting.
 */
#include "kiln_test.h"

#include <math.h>

#include "quality/num.h"

static uint64_t s = 88172645463325252ULL;
static uint64_t rnd(void)
{
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

static void test_random_against_strtod(void **state)
{
    char buf[128];
    long bad = 0;
    (void)state;
    for (long i = 0; i < 1000000; i++) {
        int len = 0, kind = (int)(rnd() % 4);
        double a = 0, b;
        if (kind == 0) {
            uint64_t bits = rnd();
            memcpy(&b, &bits, 8);
            if (!isfinite(b))
                continue;
            len = snprintf(buf, sizeof(buf), "%.17g", b);
        } else if (kind == 1) {
            int nd = 1 + (int)(rnd() % 25);
            for (int k = 0; k < nd; k++)
                buf[len++] = (char)('0' + rnd() % 10);
            len += snprintf(buf + len, sizeof(buf) - (size_t)len, "e%d", (int)(rnd() % 700) - 350);
        } else if (kind == 2) {
            len = snprintf(buf, sizeof(buf), "%.*f", (int)(rnd() % 12),
                           (double)(rnd() % 1000000000) / 1e6);
        } else {
            int nd = 1 + (int)(rnd() % 25);
            buf[len++] = '-';
            buf[len++] = '0';
            buf[len++] = '.';
            for (int k = 0; k < nd; k++)
                buf[len++] = (char)('0' + rnd() % 10);
            buf[len] = '\0';
        }
        b = strtod(buf, NULL);
        if (kiln_num_parse(buf, (size_t)len, &a) == KILN_NUM_NONE || memcmp(&a, &b, 8) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "'%s': kiln %.17g strtod %.17g\n", buf, a, b);
        }
    }
    assert_int_equal(bad, 0);
}

static void test_edges(void **state)
{
    static const char *const ok[] = {
        "2.2250738585072013e-308",
        "2.2250738585072011e-308",
        "4.9406564584124654e-324",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "9007199254740993",
        "9007199254740992.5",
        "0.1",
        "1e23",
        "8.98846567431158e307",
        "123456789012345678901234567890",
        "1e-400",
        "1e400",
        "7.2057594037927933e16",
        "-0",
        "+.5",
        "5.",
        "1e+05",
        " 42 ",
        "000000000000000000000000001.5",
        "0.00000000000000000000001",
        "12345678.12345678",
        "99999999999999999999",
        "1.00000000000000011102230246251565",
    };
    static const char *const nope[] = { "",    ".",    "e5",  "1e", "1e+", "abc",  "1.2.3", "--1",
                                        "nan", "0x10", "1 2", "+",  "1_0", "infx", "1,5",   "- 1" };
    double a, b;
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        b = strtod(ok[i], NULL);
        assert_int_not_equal(kiln_num_parse(ok[i], strlen(ok[i]), &a), KILN_NUM_NONE);
        if (memcmp(&a, &b, 8) != 0)
            fail_msg("'%s': %.17g vs %.17g", ok[i], a, b);
    }
    for (size_t i = 0; i < sizeof(nope) / sizeof(nope[0]); i++)
        if (kiln_num_parse(nope[i], strlen(nope[i]), &a) != KILN_NUM_NONE)
            fail_msg("'%s' accepted", nope[i]);
    assert_int_equal(kiln_num_parse("-12", 3, &a), KILN_NUM_INT);
    assert_int_equal(kiln_num_parse("9223372036854775807", 19, &a), KILN_NUM_INT);
    assert_int_equal(kiln_num_parse("-9223372036854775808", 20, &a), KILN_NUM_INT);
    assert_int_equal(kiln_num_parse("9223372036854775808", 19, &a), KILN_NUM_FLOAT);
    assert_int_equal(kiln_num_parse("1.0", 3, &a), KILN_NUM_FLOAT);
    assert_int_equal(kiln_num_parse("1e3", 3, &a), KILN_NUM_FLOAT);
    assert_int_equal(kiln_num_parse("-Infinity", 9, &a), KILN_NUM_FLOAT);
    assert_true(isinf(a) && a < 0);
}

static void test_bool_and_format(void **state)
{
    int b;
    char out[40];
    (void)state;
    assert_true(kiln_num_parse_bool("True", 4, &b) && b == 1);
    assert_true(kiln_num_parse_bool("FALSE", 5, &b) && b == 0);
    assert_false(kiln_num_parse_bool("yes", 3, &b));
    assert_false(kiln_num_parse_bool("tRUE", 4, &b));
    kiln_num_format(0.1, out, sizeof(out));
    assert_string_equal(out, "0.1");
    kiln_num_format(-0.0, out, sizeof(out));
    assert_string_equal(out, "0");
    kiln_num_format(3.0, out, sizeof(out));
    assert_string_equal(out, "3");
    kiln_num_format(-INFINITY, out, sizeof(out));
    assert_string_equal(out, "-inf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_strtod),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_bool_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

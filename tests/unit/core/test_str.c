#include "kiln_test.h"

#include <math.h>

#include "core/str.h"

static void test_parse_int64(void **state)
{
    int64_t v;
    (void)state;
    assert_int_equal(kiln_parse_int64("123", 3, &v), KILN_OK);
    assert_int_equal(v, 123);
    assert_int_equal(kiln_parse_int64("-9223372036854775808", 20, &v), KILN_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(kiln_parse_int64("9223372036854775807", 19, &v), KILN_OK);
    assert_true(v == INT64_MAX);
    v = 7;
    assert_int_equal(kiln_parse_int64("9223372036854775808", 19, &v), KILN_EINVAL);
    assert_int_equal(kiln_parse_int64("12a", 3, &v), KILN_EINVAL);
    assert_int_equal(kiln_parse_int64("", 0, &v), KILN_EINVAL);
    assert_int_equal(kiln_parse_int64("-", 1, &v), KILN_EINVAL);
    assert_int_equal(kiln_parse_int64(" 1", 2, &v), KILN_EINVAL);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_parse_double(void **state)
{
    double d;
    (void)state;
    assert_int_equal(kiln_parse_double("0.5", 3, &d), KILN_OK);
    assert_true(d == 0.5);
    assert_int_equal(kiln_parse_double("-1e-3", 5, &d), KILN_OK);
    assert_true(d == -1e-3);
    assert_int_equal(kiln_parse_double("NaN", 3, &d), KILN_OK);
    assert_true(isnan(d));
    assert_int_equal(kiln_parse_double("-Infinity", 9, &d), KILN_OK);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(kiln_parse_double("0x10", 4, &d), KILN_EINVAL);
    assert_int_equal(kiln_parse_double("1e999", 5, &d), KILN_EINVAL);
    assert_int_equal(kiln_parse_double("abc", 3, &d), KILN_EINVAL);
    assert_int_equal(kiln_parse_double("1.0 ", 4, &d), KILN_EINVAL);
}

static void test_base64_roundtrip(void **state)
{
    struct kiln_buf enc, dec;
    const char *inputs[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char *expect[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        kiln_buf_init(&enc, 100);
        kiln_buf_init(&dec, 100);
        assert_int_equal(kiln_base64_encode(inputs[i], strlen(inputs[i]), &enc), KILN_OK);
        assert_string_equal(enc.buf, expect[i]);
        assert_int_equal(kiln_base64_decode(enc.buf, enc.len, &dec), KILN_OK);
        assert_string_equal(dec.buf, inputs[i]);
        kiln_buf_release(&enc);
        kiln_buf_release(&dec);
    }
    kiln_buf_init(&dec, 100);
    assert_int_equal(kiln_base64_decode("a*b=", 4, &dec), KILN_EINVAL);
    kiln_buf_release(&dec);
}

static void test_url_decode(void **state)
{
    struct kiln_buf b;
    (void)state;
    kiln_buf_init(&b, 100);
    assert_int_equal(kiln_url_decode("a%20b+c", 7, 1, &b), KILN_OK);
    assert_string_equal(b.buf, "a b c");
    kiln_buf_reset(&b);
    assert_int_equal(kiln_url_decode("a+b", 3, 0, &b), KILN_OK);
    assert_string_equal(b.buf, "a+b");
    kiln_buf_reset(&b);
    assert_int_equal(kiln_url_decode("%2", 2, 0, &b), KILN_EINVAL);
    kiln_buf_reset(&b);
    assert_int_equal(kiln_url_decode("x%00", 4, 0, &b), KILN_EINVAL);
    kiln_buf_reset(&b);
    assert_int_equal(kiln_url_decode("%zz", 3, 0, &b), KILN_EINVAL);
    kiln_buf_reset(&b);
    assert_int_equal(kiln_url_encode("a b/c~", 6, 1, &b), KILN_OK);
    assert_string_equal(b.buf, "a%20b/c~");
    kiln_buf_release(&b);
}

static void test_like(void **state)
{
    (void)state;
    assert_true(kiln_like_match("abc", "abc", 0));
    assert_false(kiln_like_match("abc", "ABC", 0));
    assert_true(kiln_like_match("abc", "ABC", 1));
    assert_true(kiln_like_match("a%", "a", 0));
    assert_true(kiln_like_match("%b%", "abc", 0));
    assert_true(kiln_like_match("a_c", "abc", 0));
    assert_false(kiln_like_match("a_c", "ac", 0));
    assert_true(kiln_like_match("%", "", 0));
    assert_true(kiln_like_match("%a%b%c", "xxaxxbxxc", 0));
    assert_false(kiln_like_match("%a%b%c", "xxaxxbxx", 0));
}

static void test_trim_and_compare(void **state)
{
    struct kiln_str s = kiln_str_trim(kiln_str_from("  x y \t"));
    (void)state;
    assert_int_equal(s.len, 3);
    assert_true(kiln_str_eq_cstr(s, "x y"));
    assert_true(kiln_cstr_ieq("Production", "production"));
    assert_false(kiln_cstr_ieq("Production", "productio"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_base64_roundtrip),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_trim_and_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "kiln_test.h"

#include "core/err.h"
#include "core/time.h"

static void test_format_and_parse_roundtrip(void **state)
{
    char buf[32];
    int64_t ms;
    (void)state;
    kiln_time_format_iso(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    kiln_time_format_iso(1700000000123LL, buf, sizeof(buf));
    assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
    assert_int_equal(kiln_time_parse_iso(buf, strlen(buf), &ms), KILN_OK);
    assert_true(ms == 1700000000123LL);
    assert_int_equal(kiln_time_parse_iso("2024-02-29", 10, &ms), KILN_OK);
    assert_true(ms == 1709164800000LL);
    assert_int_equal(kiln_time_parse_iso("2024-02-29T01:00:00+01:00", 25, &ms), KILN_OK);
    assert_true(ms == 1709164800000LL);
    kiln_time_format_short(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31 23:59:59");
}

static void test_parse_rejects(void **state)
{
    int64_t ms = 5;
    (void)state;
    assert_int_equal(kiln_time_parse_iso("2024-13-01", 10, &ms), KILN_EINVAL);
    assert_int_equal(kiln_time_parse_iso("2024-01-01T25:00", 16, &ms), KILN_EINVAL);
    assert_int_equal(kiln_time_parse_iso("2024-01-01x", 11, &ms), KILN_EINVAL);
    assert_int_equal(kiln_time_parse_iso("24-01-01", 8, &ms), KILN_EINVAL);
    assert_int_equal(ms, 5);
}

static void test_clocks_move(void **state)
{
    int64_t a = kiln_mono_ns();
    (void)state;
    kiln_sleep_ms(2);
    assert_true(kiln_mono_ns() - a >= 2000000);
    assert_true(kiln_now_ms() > 1700000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_parse_roundtrip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_clocks_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_schedule.c - time zones (TZif + POSIX footer rules) and cron next-fire times, compared
 * with Python's zoneinfo and a brute-force reference (fixtures.h, gen_fixtures.py), plus
 * hand-checked DST transitions in Europe/Berlin and America/New_York.
 */
#include "kiln_test.h"

#include "core/fs.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"

#include "fixtures.h"

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(kiln_time_parse_iso(iso, strlen(iso), &ms), KILN_OK);
    return ms / 1000;
}

static void test_offsets_match_zoneinfo(void **state)
{
    struct kiln_tz *tz = NULL;
    const char *loaded = "";
    (void)state;
    for (size_t i = 0; i < sizeof(tz_offsets) / sizeof(tz_offsets[0]); i++) {
        if (strcmp(loaded, tz_offsets[i].zone) != 0) {
            kiln_tz_free(tz);
            assert_int_equal(kiln_tz_load(tz_offsets[i].zone, &tz, NULL), KILN_OK);
            loaded = tz_offsets[i].zone;
        }
        if (kiln_tz_offset(tz, tz_offsets[i].t) != tz_offsets[i].off)
            fail_msg("%s at %lld: got %d, zoneinfo says %d", tz_offsets[i].zone,
                     (long long)tz_offsets[i].t, kiln_tz_offset(tz, tz_offsets[i].t),
                     tz_offsets[i].off);
    }
    kiln_tz_free(tz);
}

static void test_cron_matches_reference(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cron_cases) / sizeof(cron_cases[0]); i++) {
        struct kiln_cron c;
        struct kiln_tz *tz = NULL;
        int64_t t = cron_cases[i].start;
        assert_int_equal(kiln_cron_parse(cron_cases[i].expr, &c, NULL), KILN_OK);
        assert_int_equal(kiln_tz_load(cron_cases[i].zone, &tz, NULL), KILN_OK);
        for (int k = 0; k < cron_cases[i].n; k++) {
            int64_t next = 0;
            assert_int_equal(kiln_cron_next(&c, tz, t, &next), KILN_OK);
            if (next != cron_cases[i].fires[k])
                fail_msg("'%s' in %s after %lld: fire %d is %lld, expected %lld",
                         cron_cases[i].expr, cron_cases[i].zone, (long long)t, k, (long long)next,
                         (long long)cron_cases[i].fires[k]);
            t = next;
        }
        kiln_tz_free(tz);
    }
}

/* The DST days of 2024 spelled out (facts from the tz database). */
static void test_dst_transitions_by_hand(void **state)
{
    struct kiln_tz *berlin = NULL, *ny = NULL;
    struct kiln_cron c;
    int64_t next;
    (void)state;
    assert_int_equal(kiln_tz_load("Europe/Berlin", &berlin, NULL), KILN_OK);
    assert_int_equal(kiln_tz_load("America/New_York", &ny, NULL), KILN_OK);
    assert_string_equal(kiln_tz_name(berlin), "Europe/Berlin");

    /* Berlin springs forward at 01:00Z on 2024-03-31 (02:00 CET becomes 03:00 CEST). */
    assert_int_equal(kiln_tz_offset(berlin, at("2024-03-31T00:59:59Z")), 3600);
    assert_int_equal(kiln_tz_offset(berlin, at("2024-03-31T01:00:00Z")), 7200);
    /* 02:30 does not exist that day: a fixed-time job runs at 03:00 CEST = 01:00Z. */
    assert_int_equal(kiln_cron_parse("30 2 * * *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, berlin, at("2024-03-30T12:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-03-31T01:00:00Z"));
    assert_int_equal(kiln_cron_next(&c, berlin, next, &next), KILN_OK);
    assert_true(next == at("2024-04-01T00:30:00Z"));
    /* Hourly jobs skip the missing hour: 01:00 CET then 03:00 CEST. */
    assert_int_equal(kiln_cron_parse("0 * * * *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, berlin, at("2024-03-30T23:30:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-03-31T00:00:00Z"));
    assert_int_equal(kiln_cron_next(&c, berlin, next, &next), KILN_OK);
    assert_true(next == at("2024-03-31T01:00:00Z"));

    /* Berlin falls back at 01:00Z on 2024-10-27 (03:00 CEST becomes 02:00 CET). */
    assert_int_equal(kiln_cron_parse("30 2 * * *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, berlin, at("2024-10-26T12:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-10-27T00:30:00Z")); /* first 02:30, CEST */
    assert_int_equal(kiln_cron_next(&c, berlin, next, &next), KILN_OK);
    assert_true(next == at("2024-10-28T01:30:00Z")); /* not again at 02:30 CET */
    /* Wildcard-hour jobs run in both 02:xx hours. */
    assert_int_equal(kiln_cron_parse("0 * * * *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, berlin, at("2024-10-26T23:30:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-10-27T00:00:00Z")); /* 02:00 CEST */
    assert_int_equal(kiln_cron_next(&c, berlin, next, &next), KILN_OK);
    assert_true(next == at("2024-10-27T01:00:00Z")); /* 02:00 CET */

    /* New York: 2024-03-10 07:00Z (02:00 EST -> 03:00 EDT), 2024-11-03 06:00Z (back). */
    assert_int_equal(kiln_tz_offset(ny, at("2024-03-10T06:59:59Z")), -5 * 3600);
    assert_int_equal(kiln_tz_offset(ny, at("2024-03-10T07:00:00Z")), -4 * 3600);
    assert_int_equal(kiln_cron_parse("15 2 * * *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, ny, at("2024-03-09T12:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-03-10T07:00:00Z"));
    assert_int_equal(kiln_cron_parse("30 1 * * *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, ny, at("2024-11-02T12:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-11-03T05:30:00Z")); /* 01:30 EDT, not 01:30 EST */
    assert_int_equal(kiln_cron_next(&c, ny, next, &next), KILN_OK);
    assert_true(next == at("2024-11-04T06:30:00Z"));
    kiln_tz_free(berlin);
    kiln_tz_free(ny);
}

static void test_cron_syntax(void **state)
{
    struct kiln_cron c;
    struct kiln_err err = { 0 };
    int64_t next;
    (void)state;
    assert_int_equal(kiln_cron_parse("*/15 9-17 * jan-mar MON-FRI", &c, NULL), KILN_OK);
    assert_true(c.minutes == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
    assert_int_equal(c.months, (1 << 1) | (1 << 2) | (1 << 3));
    assert_int_equal(c.dows, 0x3e);
    assert_int_equal(kiln_cron_parse("0 0 * * 7", &c, NULL), KILN_OK);
    assert_int_equal(c.dows, 1);
    assert_int_equal(kiln_cron_parse("@weekly", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_parse("5/20 * * * *", &c, NULL), KILN_OK);
    assert_true(c.minutes == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
    /* Both day fields restricted: either matches (the 1st or any Monday). */
    assert_int_equal(kiln_cron_parse("0 0 1 * mon", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, NULL, at("2024-01-01T00:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-01-08T00:00:00Z"));
    assert_int_equal(kiln_cron_next(&c, NULL, at("2024-01-29T00:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2024-02-01T00:00:00Z"));
    /* Leap days: Feb 29 exists every four years. */
    assert_int_equal(kiln_cron_parse("0 12 29 2 *", &c, NULL), KILN_OK);
    assert_int_equal(kiln_cron_next(&c, NULL, at("2024-03-01T00:00:00Z"), &next), KILN_OK);
    assert_true(next == at("2028-02-29T12:00:00Z"));

    static const char *const bad[] = { "",
                                       "* * * *",
                                       "* * * * * *",
                                       "60 * * * *",
                                       "* 24 * * *",
                                       "* * 0 * *",
                                       "* * * 13 *",
                                       "* * * * 8",
                                       "*/0 * * * *",
                                       "1-0 * * * *",
                                       "a * * * *",
                                       "@reboot",
                                       "0 0 30 2 *",
                                       "0 0 31 4,6,9,11 *",
                                       "1,,2 * * * *",
                                       "* * * foo *",
                                       "5-/2 * * * *" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kiln_err_clear(&err);
        if (kiln_cron_parse(bad[i], &c, &err) != KILN_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(strstr(err.msg, "cron") != NULL);
    }
}

static void test_tz_refuses_bad_input(void **state)
{
    struct kiln_tz *tz = NULL;
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    char path[256];
    (void)state;
    assert_int_equal(kiln_tz_load("../etc/passwd", &tz, &err), KILN_EINVAL);
    assert_int_equal(kiln_tz_load("/etc/passwd", &tz, &err), KILN_EINVAL);
    assert_int_equal(kiln_tz_load("Mars/Olympus_Mons", &tz, &err), KILN_EINVAL);
    assert_true(strstr(err.msg, "unknown time zone") != NULL);
    assert_int_equal(kiln_tz_parse("x", "TZif", 4, &tz, &err), KILN_EINVAL);
    /* Every truncation of a real file is refused cleanly, never read past its end. */
    kiln_buf_init(&b, 1 << 20);
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/America/New_York");
    assert_int_equal(kiln_read_file(path, &b, NULL), KILN_OK);
    for (size_t n = 0; n < b.len; n += 7) {
        int rc = kiln_tz_parse("NY", b.buf, n, &tz, NULL);
        assert_int_equal(rc, KILN_EINVAL);
        assert_null(tz);
    }
    assert_int_equal(kiln_tz_parse("NY", b.buf, b.len, &tz, NULL), KILN_OK);
    kiln_tz_free(tz);
    KILN_OOM_LOOP(kiln_tz_parse("NY", b.buf, b.len, &tz, NULL), (void)0);
    kiln_tz_free(tz);
    kiln_buf_release(&b);
}

static void test_schedule_dates(void **state)
{
    struct kiln_tz *berlin = NULL;
    int64_t ms;
    (void)state;
    assert_int_equal(kiln_tz_load("Europe/Berlin", &berlin, NULL), KILN_OK);
    assert_int_equal(kiln_pl_parse_date("2024-01-15", berlin, &ms), KILN_OK);
    assert_true(ms == at("2024-01-14T23:00:00Z") * 1000);
    assert_int_equal(kiln_pl_parse_date("2024-07-15T08:30", berlin, &ms), KILN_OK);
    assert_true(ms == at("2024-07-15T06:30:00Z") * 1000);
    assert_int_equal(kiln_pl_parse_date("2024-07-15T08:30Z", berlin, &ms), KILN_OK);
    assert_true(ms == at("2024-07-15T08:30:00Z") * 1000);
    /* A wall time in the spring gap maps to the gap's end. */
    assert_int_equal(kiln_pl_parse_date("2024-03-31T02:30", berlin, &ms), KILN_OK);
    assert_true(ms == at("2024-03-31T01:00:00Z") * 1000);
    assert_int_equal(kiln_pl_parse_date("yesterday", berlin, &ms), KILN_EINVAL);
    kiln_tz_free(berlin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_match_zoneinfo),
        cmocka_unit_test(test_cron_matches_reference),
        cmocka_unit_test(test_dst_transitions_by_hand),
        cmocka_unit_test(test_cron_syntax),
        cmocka_unit_test(test_tz_refuses_bad_input),
        cmocka_unit_test(test_schedule_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

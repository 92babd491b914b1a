/*
 * test_rules.c - trigger rules against Airflow's TriggerRuleDep decisions, run outcomes,
 * retry delays against Airflow's formula computed in Python (fixtures.h), and the hashes.
 */
#include "kiln_test.h"

#include "core/str.h"
#include "pipeline/pipeline_int.h"

#include "fixtures.h"

static struct kiln_pl_upcount counts(int total, int ok, int failed, int upfailed, int skipped)
{
    struct kiln_pl_upcount c = { total,    ok,      failed,
                                 upfailed, skipped, ok + failed + upfailed + skipped };
    return c;
}

struct rule_case {
    enum kiln_pl_rule rule;
    int total, ok, failed, upfailed, skipped;
    enum kiln_pl_verdict expect;
};

static void test_trigger_rules(void **state)
{
    /* Each row: rule, upstream count, final states so far, what Airflow decides. */
    static const struct rule_case cases[] = {
        { KILN_TR_ALL_SUCCESS, 3, 2, 0, 0, 0, KILN_PL_WAIT },
        { KILN_TR_ALL_SUCCESS, 3, 3, 0, 0, 0, KILN_PL_RUN },
        { KILN_TR_ALL_SUCCESS, 3, 1, 1, 0, 0, KILN_PL_UPSTREAM_FAILED }, /* no need to wait */
        { KILN_TR_ALL_SUCCESS, 3, 1, 0, 1, 0, KILN_PL_UPSTREAM_FAILED },
        { KILN_TR_ALL_SUCCESS, 3, 1, 0, 0, 1, KILN_PL_SKIP },
        { KILN_TR_ALL_SUCCESS, 3, 0, 1, 0, 1, KILN_PL_UPSTREAM_FAILED }, /* failure wins */
        { KILN_TR_ALL_DONE, 3, 1, 1, 0, 0, KILN_PL_WAIT },
        { KILN_TR_ALL_DONE, 3, 1, 1, 0, 1, KILN_PL_RUN },
        { KILN_TR_ALL_DONE, 2, 0, 0, 2, 0, KILN_PL_RUN },
        { KILN_TR_ONE_FAILED, 3, 1, 0, 0, 0, KILN_PL_WAIT },
        { KILN_TR_ONE_FAILED, 3, 0, 1, 0, 0, KILN_PL_RUN }, /* does not wait for the rest */
        { KILN_TR_ONE_FAILED, 3, 0, 0, 1, 0, KILN_PL_RUN },
        { KILN_TR_ONE_FAILED, 3, 2, 0, 0, 1, KILN_PL_SKIP },
        { KILN_TR_ONE_SUCCESS, 3, 0, 1, 0, 0, KILN_PL_WAIT },
        { KILN_TR_ONE_SUCCESS, 3, 1, 0, 0, 0, KILN_PL_RUN },
        { KILN_TR_ONE_SUCCESS, 3, 0, 2, 0, 1, KILN_PL_UPSTREAM_FAILED },
        { KILN_TR_ONE_SUCCESS, 2, 0, 0, 0, 2, KILN_PL_SKIP },
        { KILN_TR_NONE_FAILED, 3, 1, 0, 0, 1, KILN_PL_WAIT },
        { KILN_TR_NONE_FAILED, 3, 1, 0, 0, 2, KILN_PL_RUN },
        { KILN_TR_NONE_FAILED, 3, 0, 0, 0, 3, KILN_PL_RUN },
        { KILN_TR_NONE_FAILED, 3, 1, 1, 0, 0, KILN_PL_UPSTREAM_FAILED },
        { KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS, 2, 0, 0, 0, 2, KILN_PL_SKIP },
        { KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS, 2, 1, 0, 0, 1, KILN_PL_RUN },
        { KILN_TR_ALL_FAILED, 2, 0, 1, 1, 0, KILN_PL_RUN },
        { KILN_TR_ALL_FAILED, 2, 1, 0, 0, 0, KILN_PL_SKIP },
        { KILN_TR_ONE_DONE, 2, 0, 0, 0, 2, KILN_PL_SKIP },
        { KILN_TR_ONE_DONE, 2, 0, 1, 0, 0, KILN_PL_RUN },
        { KILN_TR_NONE_SKIPPED, 2, 1, 1, 0, 0, KILN_PL_RUN },
        { KILN_TR_NONE_SKIPPED, 2, 1, 0, 0, 1, KILN_PL_SKIP },
        { KILN_TR_ALL_SKIPPED, 2, 0, 0, 0, 2, KILN_PL_RUN },
        { KILN_TR_ALWAYS, 2, 0, 0, 0, 0, KILN_PL_RUN },
        { KILN_TR_ONE_FAILED, 0, 0, 0, 0, 0, KILN_PL_RUN }, /* roots always run */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kiln_pl_upcount c = counts(cases[i].total, cases[i].ok, cases[i].failed,
                                          cases[i].upfailed, cases[i].skipped);
        enum kiln_pl_verdict v = kiln_pl_rule_eval(cases[i].rule, &c);
        if (v != cases[i].expect)
            fail_msg("case %zu (%s): got %d, expected %d", i, kiln_pl_rule_name(cases[i].rule), v,
                     cases[i].expect);
    }
}

static void test_names_and_counts(void **state)
{
    enum kiln_pl_rule r;
    enum kiln_pl_ti s;
    struct kiln_pl_upcount c = { 4, 0, 0, 0, 0, 0 };
    (void)state;
    assert_int_equal(kiln_pl_rule_parse("none_failed", &r), KILN_OK);
    assert_int_equal(r, KILN_TR_NONE_FAILED);
    assert_int_equal(kiln_pl_rule_parse("None_Failed", &r), KILN_EINVAL);
    assert_string_equal(kiln_pl_ti_name(KILN_TI_UPSTREAM_FAILED), "upstream_failed");
    assert_int_equal(kiln_pl_ti_parse("up_for_retry", &s), KILN_OK);
    assert_int_equal(s, KILN_TI_UP_FOR_RETRY);
    assert_true(kiln_pl_ti_final(KILN_TI_SKIPPED));
    assert_false(kiln_pl_ti_final(KILN_TI_UP_FOR_RETRY));
    kiln_pl_upcount_add(&c, KILN_TI_SUCCESS);
    kiln_pl_upcount_add(&c, KILN_TI_SKIPPED);
    kiln_pl_upcount_add(&c, KILN_TI_RUNNING); /* not final: ignored */
    assert_int_equal(c.done, 2);
    assert_int_equal(c.success, 1);
    assert_int_equal(c.skipped, 1);
}

static void test_run_outcome_uses_leaves(void **state)
{
    /* a(failed) -> cleanup(all_done, success): Airflow calls the run a success. */
    enum kiln_pl_ti st[] = { KILN_TI_FAILED, KILN_TI_SUCCESS };
    int leaf[] = { 0, 1 };
    enum kiln_pl_ti st2[] = { KILN_TI_SUCCESS, KILN_TI_UPSTREAM_FAILED, KILN_TI_SKIPPED };
    int leaf2[] = { 0, 1, 1 };
    (void)state;
    assert_int_equal(kiln_pl_run_outcome(st, leaf, 2), KILN_RUN_SUCCESS);
    assert_int_equal(kiln_pl_run_outcome(st2, leaf2, 3), KILN_RUN_FAILED);
    st2[1] = KILN_TI_SKIPPED;
    assert_int_equal(kiln_pl_run_outcome(st2, leaf2, 3), KILN_RUN_SUCCESS);
}

static void test_retry_delays_match_airflow(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(retry_cases) / sizeof(retry_cases[0]); i++) {
        int64_t got = kiln_pl_retry_delay_ms(retry_cases[i].pipeline, retry_cases[i].task,
                                             retry_cases[i].logical_ms, retry_cases[i].try_number,
                                             retry_cases[i].delay_ms, 1, retry_cases[i].max_ms);
        if (got != retry_cases[i].expect_ms)
            fail_msg("%s/%s try %d delay %lld: got %lld, Airflow gives %lld",
                     retry_cases[i].pipeline, retry_cases[i].task, retry_cases[i].try_number,
                     (long long)retry_cases[i].delay_ms, (long long)got,
                     (long long)retry_cases[i].expect_ms);
    }
}

static void test_retry_delay_bounds(void **state)
{
    (void)state;
    /* Without backoff: the delay itself, capped. */
    assert_true(kiln_pl_retry_delay_ms("p", "t", 0, 3, 5000, 0, 0) == 5000);
    assert_true(kiln_pl_retry_delay_ms("p", "t", 0, 3, 5000, 0, 2000) == 2000);
    /* With backoff the jitter stays within [base, 2 base) and never passes 24 hours. */
    for (int tr = 1; tr <= 60; tr++) {
        int64_t d = kiln_pl_retry_delay_ms("pipe", "task", 1700000000000LL, tr, 2000, 1, 0);
        int64_t base = tr - 1 >= 20 ? 86400000 : (int64_t)2000 << (tr - 1);
        if (base > 86400000)
            base = 86400000;
        assert_true(d >= base || d == 86400000);
        assert_true(d < 2 * base || d == 86400000);
        assert_true(d <= 86400000);
        /* Deterministic: the same task instance gets the same delay. */
        assert_true(d == kiln_pl_retry_delay_ms("pipe", "task", 1700000000000LL, tr, 2000, 1, 0));
    }
}

static void test_hashes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hash_cases) / sizeof(hash_cases[0]); i++) {
        unsigned char d1[20], d256[32];
        char hex[65];
        kiln_pl_sha1(hash_cases[i].msg, hash_cases[i].len, d1);
        kiln_hex_encode(d1, 20, hex);
        assert_string_equal(hex, hash_cases[i].sha1);
        kiln_pl_sha256(hash_cases[i].msg, hash_cases[i].len, d256);
        kiln_hex_encode(d256, 32, hex);
        assert_string_equal(hex, hash_cases[i].sha256);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trigger_rules),
        cmocka_unit_test(test_names_and_counts),
        cmocka_unit_test(test_run_outcome_uses_leaves),
        cmocka_unit_test(test_retry_delays_match_airflow),
        cmocka_unit_test(test_retry_delay_bounds),
        cmocka_unit_test(test_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

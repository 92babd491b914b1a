/*
 * test_report.c - replica reports (src/deploy/report.c): a full report parsed and written back
 * identically, every field's validation naming the field, size limits, and the OOM loop.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "deploy/deploy.h"

static const char full[] =
    "{\"replica\": \"r1\", \"boot\": \"b7\", \"seq\": 12, \"generation\": 4, \"interval_ms\": 2000,"
    " \"gap_ms\": 1500, \"gap_generation\": 3, \"future_field\": [1, 2],"
    " \"versions\": [{\"version\": 1, \"requests\": 90, \"errors\": 1, \"rows\": 89,"
    "   \"latency_us\": {\"n\": 2, \"sum\": 3000, \"b\": [[1500, 1], [1510, 1]]},"
    "   \"scores\": {\"b\": [[1000, 89]]}, \"confidence\": {\"n\": 0, \"b\": []},"
    "   \"feedback\": [[\"1\", \"1\", 5], [\"0\", \"1\", 2]]},"
    "  {\"version\": 2, \"requests\": 10, \"compared\": 10, \"agreed\": 9}],"
    " \"predictions\": [{\"id\": \"q1\", \"version\": 2, \"label\": \"1\"}],"
    " \"drift\": {\"version\": 1, \"rows\": 1000, \"dataset_drift\": true, \"drift_share\": 0.5,"
    "   \"columns\": [{\"name\": \"age\", \"method\": \"psi\", \"statistic\": 0.3,"
    "     \"threshold\": 0.1, \"drifted\": true}]}}";

static void test_full_roundtrip(void **state)
{
    struct kiln_deploy_report *r = NULL, *back = NULL;
    struct kiln_err err = { 0 };
    struct kiln_buf b, b2;
    struct kiln_jsonw w;
    (void)state;
    if (kiln_deploy_report_parse(full, strlen(full), &r, &err) != KILN_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(r->replica, "r1");
    assert_string_equal(r->boot, "b7");
    assert_true(r->seq == 12 && r->generation == 4 && r->interval_ms == 2000 && r->gap_ms == 1500 &&
                r->gap_generation == 3);
    assert_int_equal(r->nversions, 2);
    assert_true(r->versions[0].requests == 90 && r->versions[0].latency_us.total == 2 &&
                r->versions[0].scores.total == 89 && r->versions[0].feedback.n == 2);
    assert_true(fabs(r->versions[0].latency_us.sum - 3000) < 1e-9);
    assert_true(r->versions[1].compared == 10 && r->versions[1].agreed == 9);
    assert_int_equal(r->npredictions, 1);
    assert_string_equal(r->predictions[0].id, "q1");
    assert_true(r->drift.present && r->drift.dataset_drift && r->drift.rows == 1000 &&
                r->drift.ncols == 1 && r->drift.cols[0].drifted);
    /* Written back and parsed again: the same report. */
    kiln_buf_init(&b, KILN_BUF_MB);
    kiln_buf_init(&b2, KILN_BUF_MB);
    kiln_jsonw_init(&w, &b);
    kiln_deploy_report_write(&w, r);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    assert_int_equal(kiln_deploy_report_parse(b.buf, b.len, &back, &err), KILN_OK);
    kiln_jsonw_init(&w, &b2);
    kiln_deploy_report_write(&w, back);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    assert_string_equal(b.buf, b2.buf);
    kiln_buf_release(&b);
    kiln_buf_release(&b2);
    kiln_deploy_report_free(back);
    kiln_deploy_report_free(r);
}

static void test_errors(void **state)
{
    static const struct {
        const char *body, *want;
        int rc;
    } cases[] = {
        { "", "", KILN_EPARSE },
        { "{\"replica\": ", "line 1", KILN_EPARSE },
        { "[1]", "", KILN_EINVAL },
        { "{\"seq\": 1}", "replica: required", KILN_EINVAL },
        { "{\"replica\": 5, \"seq\": 1}", "replica: expected a string", KILN_EINVAL },
        { "{\"replica\": \"r\"}", "seq: required", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1.5}", "seq: expected a non-negative integer",
          KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"versions\": {}}", "versions: expected an array",
          KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"versions\": [{}]}", "versions[0].version",
          KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"versions\": [{\"version\": 1, \"rows\": -3}]}",
          "versions[0].rows", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"versions\": [{\"version\": 1, \"compared\": 1, "
          "\"agreed\": 2}]}",
          "more agreements than comparisons", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"versions\": [{\"version\": 1, \"latency_us\": "
          "{\"b\": [[1, 2, 3]]}}]}",
          "versions[0].latency_us.b[0]: expected [key, count]", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"versions\": [{\"version\": 1, \"feedback\": "
          "[[\"a\", 3, 1]]}]}",
          "versions[0].feedback[0]", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"predictions\": [{\"id\": \"x\", \"version\": 0, "
          "\"label\": \"1\"}]}",
          "predictions[0].version", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"predictions\": [3]}", "predictions[0]: expected",
          KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"drift\": {\"version\": 1, \"rows\": 2, "
          "\"dataset_drift\": true, \"drift_share\": 3}}",
          "drift.drift_share", KILN_EINVAL },
        { "{\"replica\": \"r\", \"seq\": 1, \"drift\": {\"version\": 1, \"rows\": 2, "
          "\"dataset_drift\": false, \"columns\": [{\"name\": \"a\", \"drifted\": 1}]}}",
          "drift.columns[0].drifted", KILN_EINVAL },
        { "{\"replica\": \"r\\u0000x\", \"seq\": 1}", "is not allowed", KILN_EPARSE },
    };
    (void)state;
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        struct kiln_deploy_report *r = NULL;
        struct kiln_err err = { 0 };
        int rc = kiln_deploy_report_parse(cases[i].body, strlen(cases[i].body), &r, &err);
        if (rc != cases[i].rc || strstr(err.msg, cases[i].want) == NULL)
            fail_msg("case %zu: rc %d '%s', wanted %d '%s'", i, rc, err.msg, cases[i].rc,
                     cases[i].want);
        assert_null(r);
    }
}

static void test_limits(void **state)
{
    struct kiln_buf b;
    struct kiln_deploy_report *r = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    kiln_buf_init(&b, (size_t)64 << 20);
    kiln_buf_puts(&b, "{\"replica\": \"r\", \"seq\": 1, \"versions\": [");
    for (int i = 1; i <= KILN_DEPLOY_REPORT_MAX_VERSIONS + 1; i++)
        kiln_buf_printf(&b, "%s{\"version\": %d}", i > 1 ? "," : "", i);
    kiln_buf_puts(&b, "]}");
    assert_int_equal(kiln_deploy_report_parse(b.buf, b.len, &r, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "at most 8"));
    kiln_buf_reset(&b);
    kiln_buf_puts(&b, "{\"replica\": \"r\", \"seq\": 1, \"versions\": [{\"version\": 1, "
                      "\"scores\": {\"b\": [");
    for (int i = 0; i < KILN_HIST_MAX_BUCKETS + 1; i++)
        kiln_buf_printf(&b, "%s[%d, 1]", i > 0 ? "," : "", i % 2000);
    kiln_buf_puts(&b, "]}}]}");
    assert_int_equal(kiln_deploy_report_parse(b.buf, b.len, &r, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "buckets"));
    kiln_buf_release(&b);
}

static void test_oom(void **state)
{
    struct kiln_deploy_report *r = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    KILN_OOM_LOOP(kiln_deploy_report_parse(full, strlen(full), &r, &err), (void)0);
    assert_non_null(r);
    kiln_deploy_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_roundtrip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

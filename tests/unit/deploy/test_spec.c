/*
 * test_spec.c - the deployment spec parser (src/deploy/spec.c): every field and its default,
 * the shadow strategy, alert rules, errors with line and column for each kind of mistake,
 * hostile YAML, the JSON form, and the OOM loop.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "deploy/deploy.h"

static const char full[] = "name: fraud-live\n"
                           "description: the fraud model in production\n"
                           "model: fraud\n"
                           "stable: prod\n"
                           "candidate: cand\n"
                           "sticky_key: X-User\n"
                           "steps:\n"
                           "  - {weight: 5, min_duration: 30s, min_requests: 200}\n"
                           "  - weight: 50\n"
                           "    min_duration: 2m\n"
                           "analysis:\n"
                           "  interval: 2s\n"
                           "  failure_limit: 2\n"
                           "  min_samples: 300\n"
                           "  inconclusive: fail\n"
                           "  inconclusive_timeout: 10m\n"
                           "  score_bins: 20\n"
                           "  positive_label: '1'\n"
                           "  metrics:\n"
                           "    error_rate: {max: 0.01, max_increase: 0.005}\n"
                           "    latency_p99: {max_ms: 50, max_ratio: 1.5}\n"
                           "    score_psi: {max: 0.2}\n"
                           "    agreement: {min: 0.9, min_samples: 50}\n"
                           "    recall: {max_drop: 0.02}\n"
                           "monitoring:\n"
                           "  report_interval: 1s\n"
                           "  confidence_threshold: 0.7\n"
                           "  drift_window_rows: 5000\n"
                           "  drift_window: 5m\n"
                           "  feedback_capacity: 1000\n"
                           "alerts:\n"
                           "  - {name: input-drift, kind: drift, drift_share: 0.3, min_rows: 500,\n"
                           "     trigger_pipeline: true, severity: critical}\n"
                           "  - {kind: low_confidence, max_share: 0.4, window: 2m, for: 30s}\n"
                           "  - {kind: latency, p99_ms: 80}\n"
                           "  - {kind: error_rate, max: 0.05}\n"
                           "  - {kind: quality, min_accuracy: 0.8, min_labels: 50}\n"
                           "  - {kind: no_traffic, window: 5m}\n";

static struct kiln_deploy_spec *parse(struct kiln_arena *a, const char *text, struct kiln_err *err)
{
    struct kiln_deploy_spec *s = NULL;
    int rc = kiln_deploy_spec_parse(text, strlen(text), "d.yaml", a, &s, err);
    return rc == KILN_OK ? s : NULL;
}

static void test_full(void **state)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_err err = { 0 };
    struct kiln_deploy_spec *s = parse(a, full, &err);
    (void)state;
    if (s == NULL)
        fail_msg("%s", err.msg);
    assert_string_equal(s->name, "fraud-live");
    assert_string_equal(s->model, "fraud");
    assert_string_equal(s->stable_env, "prod");
    assert_string_equal(s->candidate_env, "cand");
    assert_string_equal(s->strategy, "canary");
    assert_string_equal(s->sticky_key, "X-User");
    assert_int_equal(s->nsteps, 2);
    assert_true(s->steps[0].weight == 5 && s->steps[0].min_duration_ms == 30000 &&
                s->steps[0].min_requests == 200 && s->steps[0].line == 8);
    assert_true(s->steps[1].weight == 50 && s->steps[1].min_duration_ms == 120000 &&
                s->steps[1].min_requests == 100 && !s->steps[1].shadow);
    assert_int_equal(s->interval_ms, 2000);
    assert_int_equal(s->failure_limit, 2);
    assert_int_equal(s->min_samples, 300);
    assert_int_equal(s->inconclusive, KILN_DEPLOY_FAIL);
    assert_int_equal(s->inconclusive_timeout_ms, 600000);
    assert_int_equal(s->score_bins, 20);
    assert_string_equal(s->positive_label, "1");
    assert_true(s->checks[KILN_DM_ERROR_RATE].enabled &&
                s->checks[KILN_DM_ERROR_RATE].max == 0.01 &&
                s->checks[KILN_DM_ERROR_RATE].max_increase == 0.005);
    assert_true(s->checks[KILN_DM_LATENCY_P99].max_ms == 50 &&
                s->checks[KILN_DM_LATENCY_P99].max_ratio == 1.5);
    assert_true(s->checks[KILN_DM_SCORE_PSI].max == 0.2);
    assert_false(s->checks[KILN_DM_SCORE_JS].enabled);
    assert_true(s->checks[KILN_DM_AGREEMENT].min == 0.9 &&
                s->checks[KILN_DM_AGREEMENT].min_samples == 50);
    assert_true(s->checks[KILN_DM_RECALL].max_drop == 0.02 && isnan(s->checks[KILN_DM_RECALL].min));
    assert_false(s->checks[KILN_DM_ACCURACY].enabled);
    assert_int_equal(s->report_interval_ms, 1000);
    assert_true(s->confidence_threshold == 0.7);
    assert_int_equal(s->drift_window_rows, 5000);
    assert_int_equal(s->drift_window_ms, 300000);
    assert_int_equal(s->feedback_capacity, 1000);
    assert_int_equal(s->nalerts, 6);
    assert_string_equal(s->alerts[0].name, "input-drift");
    assert_true(s->alerts[0].kind == KILN_ALERT_DRIFT && s->alerts[0].drift_share == 0.3 &&
                s->alerts[0].min_samples == 500 && s->alerts[0].trigger_pipeline);
    assert_string_equal(s->alerts[0].severity, "critical");
    assert_string_equal(s->alerts[1].name, "low_confidence");
    assert_true(s->alerts[1].threshold == 0.7 && s->alerts[1].max_share == 0.4 &&
                s->alerts[1].window_ms == 120000 && s->alerts[1].for_ms == 30000);
    assert_true(s->alerts[2].p99_ms == 80 && s->alerts[2].window_ms == 60000);
    assert_true(s->alerts[3].max_rate == 0.05);
    assert_true(s->alerts[4].min_accuracy == 0.8 && s->alerts[4].min_samples == 50);
    assert_int_equal(s->alerts[5].kind, KILN_ALERT_NO_TRAFFIC);
    assert_int_equal(s->text_len, strlen(full));
    kiln_arena_free(a);
}

static void test_defaults_and_shadow(void **state)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_err err = { 0 };
    struct kiln_deploy_spec *s = parse(a, "{name: d, model: m}", &err);
    (void)state;
    assert_non_null(s);
    assert_string_equal(s->stable_env, "production");
    assert_string_equal(s->candidate_env, "canary");
    assert_int_equal(s->nsteps, 2);
    assert_true(s->steps[0].weight == 10 && s->steps[1].weight == 50);
    assert_int_equal(s->interval_ms, 5000);
    assert_int_equal(s->failure_limit, 0);
    assert_int_equal(s->inconclusive, KILN_DEPLOY_WAIT);
    /* Flagger's built-in checks. */
    assert_true(s->checks[KILN_DM_ERROR_RATE].enabled && s->checks[KILN_DM_ERROR_RATE].max == 0.01);
    assert_true(s->checks[KILN_DM_LATENCY_P99].enabled &&
                s->checks[KILN_DM_LATENCY_P99].max_ms == 500);
    assert_int_equal(s->report_interval_ms, 2000);
    assert_int_equal(s->nalerts, 0);
    assert_null(s->sticky_key);

    s = parse(a, "name: d\nmodel: m\nstrategy: shadow\n", &err);
    assert_non_null(s);
    assert_int_equal(s->nsteps, 1);
    assert_true(s->steps[0].shadow && s->steps[0].min_duration_ms == 60000 &&
                s->steps[0].min_requests == 500);
    s = parse(a,
              "name: d\nmodel: m\nstrategy: shadow\nshadow: {min_requests: 9}\n"
              "steps: [{weight: 100}]\n",
              &err);
    assert_non_null(s);
    assert_int_equal(s->nsteps, 2);
    assert_true(s->steps[0].shadow && s->steps[0].min_requests == 9);
    assert_true(!s->steps[1].shadow && s->steps[1].weight == 100);
    kiln_arena_free(a);
}

static void test_errors(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "", "d.yaml:1:1: empty document" },
        { "- a\n", "d.yaml:1:1: deployment: expected a mapping" },
        { "name: d\nmodel: m\nbogus: 1\n", "d.yaml:3:1: deployment: unknown key 'bogus'" },
        { "model: m\n", "'name' is required" },
        { "name: d\n", "'model' (a registered model name) is required" },
        { "name: d d\nmodel: m\n", "d.yaml:1:7: name: deployment name 'd d'" },
        { "name: d\nmodel: [m]\n", "d.yaml:2:8: deployment: expected a single value" },
        { "name: d\nmodel: m\nstable: 'a b'\n", "d.yaml:3:9: stable:" },
        { "name: d\nmodel: m\nstrategy: blue\n", "must be canary or shadow" },
        { "name: d\nmodel: m\nshadow: {}\n", "only with 'strategy: shadow'" },
        { "name: d\nmodel: m\nsteps: []\n", "give 1 to 64 steps" },
        { "name: d\nmodel: m\nsteps: [{min_requests: 3}]\n", "'weight' (percent" },
        { "name: d\nmodel: m\nsteps: [{weight: 0}]\n", "between 0.01 and 100" },
        { "name: d\nmodel: m\nsteps: [{weight: 5, min_duration: 5 min}]\n",
          "'min_duration' must be a duration" },
        { "name: d\nmodel: m\nsteps: [{weight: 5, min_requests: -1}]\n", "'min_requests' must be" },
        { "name: d\nmodel: m\nsteps: [{weight: 5, wieght: 5}]\n",
          "d.yaml:3:21: steps[0]: unknown key 'wieght'" },
        { "name: d\nmodel: m\nanalysis: {interval: 10ms}\n", "'interval' must be between" },
        { "name: d\nmodel: m\nanalysis: {inconclusive: maybe}\n", "wait or fail" },
        { "name: d\nmodel: m\nanalysis: {score_bins: 1}\n", "'score_bins' must be between 2" },
        { "name: d\nmodel: m\nanalysis: {metrics: {}}\n", "expected a mapping of metric names" },
        { "name: d\nmodel: m\nanalysis: {metrics: {error_rate: {}}}\n",
          "give at least one threshold" },
        { "name: d\nmodel: m\nanalysis: {metrics: {error_rate: }}\n",
          "give at least one threshold" },
        { "name: d\nmodel: m\nanalysis: {metrics: {error_rate: {max: 2}}}\n",
          "'max' must be between 0 and 1" },
        { "name: d\nmodel: m\nanalysis: {metrics: {agreement: {max: 2}}}\n",
          "analysis.metrics.agreement: unknown key 'max'" },
        { "name: d\nmodel: m\nanalysis: {metrics: {latency_p99: {max_ratio: 0.5}}}\n",
          "'max_ratio' must be between 1" },
        { "name: d\nmodel: m\nanalysis: {metrics: {psi: {max: 1}}}\n", "unknown metric 'psi'" },
        { "name: d\nmodel: m\nmonitoring: {report_interval: 2h}\n", "'report_interval'" },
        { "name: d\nmodel: m\nmonitoring: {confidence_threshold: x}\n", "must be a number" },
        { "name: d\nmodel: m\nalerts: {kind: drift}\n", "expected a list of rules" },
        { "name: d\nmodel: m\nalerts: [{}]\n", "alerts[0]: 'kind' is required" },
        { "name: d\nmodel: m\nalerts: [{kind: fire}]\n", "'kind' must be drift" },
        { "name: d\nmodel: m\nalerts: [{kind: error_rate}]\n", "'max' (error rate) is required" },
        { "name: d\nmodel: m\nalerts: [{kind: low_confidence}]\n", "give 'max_share'" },
        { "name: d\nmodel: m\nalerts: [{kind: quality}]\n", "give 'min_accuracy'" },
        { "name: d\nmodel: m\nalerts: [{kind: latency, p99_ms: 5, trigger_pipeline: true}]\n",
          "unknown key 'trigger_pipeline'" },
        { "name: d\nmodel: m\nalerts: [{kind: drift, trigger_pipeline: yes}]\n",
          "must be true or false" },
        { "name: d\nmodel: m\nname: e\n", "duplicate key 'name' (first at line 1)" },
        { "name: &x d\nmodel: m\n", "anchors (&name) are not supported" },
        { "name: d\nmodel: *x\n", "aliases" },
        { "name: d\nmodel: m\n---\nname: e\n", "only one YAML document" },
        { "name: d\n  model: m\n", "YAML syntax error" },
        { "name: \"a\\0b\"\nmodel: m\n", "NUL character" },
        { "{name: d, model: m, steps: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
          "nesting too deep" },
    };
    struct kiln_arena *a = kiln_arena_new(0);
    (void)state;
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        struct kiln_err err = { 0 };
        struct kiln_deploy_spec *s = NULL;
        int rc =
            kiln_deploy_spec_parse(cases[i].text, strlen(cases[i].text), "d.yaml", a, &s, &err);
        if (rc != KILN_EINVAL || strstr(err.msg, cases[i].want) == NULL)
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err.msg, cases[i].want);
        assert_null(s);
    }
    kiln_arena_free(a);
}

static void test_json(void **state)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_err err = { 0 };
    struct kiln_deploy_spec *s = parse(a, full, &err);
    struct kiln_buf b;
    struct kiln_jsonw w;
    json_t *doc;
    (void)state;
    assert_non_null(s);
    kiln_buf_init(&b, KILN_BUF_MB);
    kiln_jsonw_init(&w, &b);
    kiln_deploy_spec_write(&w, s);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    doc = json_loads(b.buf, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "fraud-live");
    assert_int_equal(json_array_size(json_object_get(doc, "steps")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "analysis"), "metrics"),
                            "score_psi"),
            "min_samples")),
        300);
    assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 6);
    json_decref(doc);
    kiln_buf_release(&b);
    kiln_arena_free(a);
}

static void test_oom(void **state)
{
    struct kiln_arena *a = NULL;
    struct kiln_deploy_spec *s = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    KILN_OOM_LOOP(((a = kiln_arena_new(0)) == NULL
                       ? KILN_ENOMEM
                       : kiln_deploy_spec_parse(full, strlen(full), "d.yaml", a, &s, &err)),
                  (kiln_arena_free(a), a = NULL));
    assert_non_null(s);
    kiln_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),   cmocka_unit_test(test_defaults_and_shadow),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_json),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

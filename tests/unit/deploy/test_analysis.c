/*
 * test_analysis.c - the canary analysis (src/deploy/analysis.c) and the statistics behind it
 * (src/deploy/stats.c): each metric's pass / fail / inconclusive, relative thresholds and the
 * rollout-wide baseline, the sequential early failure, feedback metrics against scikit-learn
 * (fixtures/confusion.json), vstats merging and wire form, and the sticky split.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "deploy/deploy.h"

static struct kiln_deploy_spec *spec_of(struct kiln_arena *a, const char *metrics)
{
    char text[2048];
    struct kiln_deploy_spec *s = NULL;
    struct kiln_err err = { 0 };
    snprintf(text, sizeof(text),
             "name: d\nmodel: m\nanalysis:\n  min_samples: 100\n  positive_label: '1'\n"
             "  metrics:\n%s",
             metrics);
    if (kiln_deploy_spec_parse(text, strlen(text), "d.yaml", a, &s, &err) != KILN_OK)
        fail_msg("%s", err.msg);
    return s;
}

/* n requests with e errors, latencies around lat_ms, scores from fn. */
static void traffic(struct kiln_deploy_vstats *v, uint64_t n, uint64_t e, double lat_ms,
                    double (*score)(uint64_t i))
{
    for (uint64_t i = 0; i < n; i++) {
        v->requests++;
        kiln_hist_add(&v->latency_us, lat_ms * 1000.0 * (0.9 + 0.2 * (double)(i % 100) / 100), 1);
        if (i < e) {
            v->errors++;
            continue;
        }
        v->rows++;
        kiln_hist_add(&v->scores, score(i), 1);
    }
}

static double spread(uint64_t i)
{
    return (double)(i % 1000) / 1000.0;
}

static double high(uint64_t i)
{
    return 0.5 + (double)(i % 500) / 1000.0;
}

static const struct kiln_deploy_metric_result *find(const struct kiln_deploy_analysis *a,
                                                    enum kiln_deploy_metric m)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->m[i].metric == m)
            return &a->m[i];
    fail_msg("metric %s not analysed", kiln_deploy_metric_name(m));
    return NULL;
}

static void test_error_rate(void **state)
{
    struct kiln_arena *ar = kiln_arena_new(0);
    struct kiln_deploy_spec *s = spec_of(ar, "    error_rate: {max: 0.05, max_increase: 0.02}\n");
    struct kiln_deploy_vstats st, ca, total;
    struct kiln_deploy_analysis a;
    const struct kiln_deploy_metric_result *r;
    (void)state;
    kiln_deploy_vstats_init(&st, 1);
    kiln_deploy_vstats_init(&ca, 2);
    kiln_deploy_vstats_init(&total, 1);
    /* Too few samples and no certain failure: inconclusive. */
    traffic(&ca, 50, 2, 1, spread);
    traffic(&st, 500, 5, 1, spread);
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    r = find(&a, KILN_DM_ERROR_RATE);
    assert_int_equal(r->verdict, KILN_VERDICT_INCONCLUSIVE);
    assert_int_equal(a.verdict, KILN_VERDICT_INCONCLUSIVE);
    assert_non_null(strstr(r->detail, "50 of the 100 samples"));
    /* 6 errors in the first 50: over 100 requests the rate will exceed 0.05 whatever follows. */
    ca.errors += 4;
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    r = find(&a, KILN_DM_ERROR_RATE);
    assert_int_equal(r->verdict, KILN_VERDICT_FAIL);
    assert_non_null(strstr(r->detail, "cannot meet <= 0.05"));
    kiln_deploy_vstats_reset(&ca);
    /* 3 % errors: under the absolute limit, but stable has 1 %: 0.03 - 0.01 <= 0.02 passes. */
    traffic(&ca, 1000, 30, 1, spread);
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    r = find(&a, KILN_DM_ERROR_RATE);
    assert_int_equal(r->verdict, KILN_VERDICT_PASS);
    assert_true(fabs(r->observed - 0.03) < 1e-12 && fabs(r->baseline - 0.01) < 1e-12);
    assert_string_equal(r->rule, "<= 0.05; <= stable + 0.02");
    /* 4 %: more than stable + 0.02. */
    ca.errors += 10;
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    assert_int_equal(find(&a, KILN_DM_ERROR_RATE)->verdict, KILN_VERDICT_FAIL);
    assert_int_equal(a.verdict, KILN_VERDICT_FAIL);
    /* Stable without enough samples in the window: the relative check is inconclusive, unless
     * the rollout-wide baseline has them. */
    kiln_deploy_vstats_reset(&st);
    traffic(&st, 10, 0, 1, spread);
    ca.errors -= 10;
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    assert_int_equal(find(&a, KILN_DM_ERROR_RATE)->verdict, KILN_VERDICT_INCONCLUSIVE);
    traffic(&total, 1000, 25, 1, spread);
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, &total, &a), KILN_OK);
    r = find(&a, KILN_DM_ERROR_RATE);
    assert_int_equal(r->verdict, KILN_VERDICT_PASS);
    assert_int_equal(r->baseline_samples, 1000);
    kiln_deploy_vstats_release(&st);
    kiln_deploy_vstats_release(&ca);
    kiln_deploy_vstats_release(&total);
    kiln_arena_free(ar);
}

static void test_latency_and_scores(void **state)
{
    struct kiln_arena *ar = kiln_arena_new(0);
    struct kiln_deploy_spec *s = spec_of(ar, "    latency_p99: {max_ms: 20, max_ratio: 2}\n"
                                             "    score_psi: {max: 0.25}\n"
                                             "    score_js: {max: 0.1}\n");
    struct kiln_deploy_vstats st, ca;
    struct kiln_deploy_analysis a;
    const struct kiln_deploy_metric_result *r;
    char summary[512];
    (void)state;
    kiln_deploy_vstats_init(&st, 1);
    kiln_deploy_vstats_init(&ca, 2);
    traffic(&st, 1000, 0, 5, spread);
    traffic(&ca, 1000, 0, 5, spread);
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    assert_int_equal(a.verdict, KILN_VERDICT_PASS);
    r = find(&a, KILN_DM_LATENCY_P99);
    assert_true(r->observed > 5 && r->observed < 5.6);
    assert_true(find(&a, KILN_DM_SCORE_PSI)->observed < 0.01);
    /* 12 ms: under 20 ms but more than twice stable's 5.5. */
    kiln_deploy_vstats_reset(&ca);
    traffic(&ca, 1000, 0, 12, high);
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    r = find(&a, KILN_DM_LATENCY_P99);
    assert_int_equal(r->verdict, KILN_VERDICT_FAIL);
    assert_non_null(strstr(r->detail, "x stable"));
    /* Scores all in [0.5, 1) against [0, 1): a big shift. */
    r = find(&a, KILN_DM_SCORE_PSI);
    assert_int_equal(r->verdict, KILN_VERDICT_FAIL);
    assert_true(r->observed > 1);
    assert_int_equal(find(&a, KILN_DM_SCORE_JS)->verdict, KILN_VERDICT_FAIL);
    kiln_deploy_analysis_summary(&a, summary, sizeof(summary));
    assert_non_null(strstr(summary, "latency_p99:"));
    assert_non_null(strstr(summary, "score_psi:"));
    kiln_deploy_vstats_release(&st);
    kiln_deploy_vstats_release(&ca);
    kiln_arena_free(ar);
}

static void test_agreement_and_feedback(void **state)
{
    struct kiln_arena *ar = kiln_arena_new(0);
    struct kiln_deploy_spec *s = spec_of(ar, "    agreement: {min: 0.9}\n"
                                             "    accuracy: {min: 0.8, min_samples: 10}\n"
                                             "    precision: {max_drop: 0.1, min_samples: 10}\n");
    struct kiln_deploy_vstats st, ca;
    struct kiln_deploy_analysis a;
    (void)state;
    kiln_deploy_vstats_init(&st, 1);
    kiln_deploy_vstats_init(&ca, 2);
    ca.compared = 40;
    ca.agreed = 25; /* 15 disagreements: over 100 samples agreement can't reach 0.9 */
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    assert_int_equal(find(&a, KILN_DM_AGREEMENT)->verdict, KILN_VERDICT_FAIL);
    assert_int_equal(find(&a, KILN_DM_ACCURACY)->verdict, KILN_VERDICT_INCONCLUSIVE);
    ca.compared = 1000;
    ca.agreed = 950;
    kiln_deploy_confusion_add(&ca.feedback, "1", "1", 8);
    kiln_deploy_confusion_add(&ca.feedback, "1", "0", 2);
    kiln_deploy_confusion_add(&ca.feedback, "0", "0", 10);
    kiln_deploy_confusion_add(&st.feedback, "1", "1", 9);
    kiln_deploy_confusion_add(&st.feedback, "0", "0", 11);
    assert_int_equal(kiln_deploy_analyze(s, &st, &ca, NULL, &a), KILN_OK);
    assert_int_equal(find(&a, KILN_DM_AGREEMENT)->verdict, KILN_VERDICT_PASS);
    assert_int_equal(find(&a, KILN_DM_ACCURACY)->verdict, KILN_VERDICT_PASS);
    assert_true(fabs(find(&a, KILN_DM_ACCURACY)->observed - 0.9) < 1e-12);
    /* Precision 0.8 against stable's 1.0: a drop of 0.2 > 0.1. */
    assert_int_equal(find(&a, KILN_DM_PRECISION)->verdict, KILN_VERDICT_FAIL);
    kiln_deploy_vstats_release(&st);
    kiln_deploy_vstats_release(&ca);
    kiln_arena_free(ar);
}

static void test_confusion_vs_sklearn(void **state)
{
    char path[1024];
    const char *dir = getenv("KILN_DEPLOY_FIXTURES");
    json_t *cases;
    const json_t *c;
    size_t i;
    (void)state;
    snprintf(path, sizeof(path), "%s/confusion.json", dir != NULL ? dir : "fixtures");
    cases = json_load_file(path, 0, NULL);
    assert_non_null(cases);
    json_array_foreach(cases, i, c)
    {
        struct kiln_deploy_confusion cf = { 0 };
        const json_t *pred = json_object_get(c, "pred"), *act = json_object_get(c, "actual");
        const char *pos = json_string_value(json_object_get(c, "positive"));
        double acc, prec, rec;
        for (size_t k = 0; k < json_array_size(pred); k++)
            assert_int_equal(
                kiln_deploy_confusion_add(&cf, json_string_value(json_array_get(pred, k)),
                                          json_string_value(json_array_get(act, k)), 1),
                KILN_OK);
        kiln_deploy_confusion_metrics(&cf, pos, &acc, &prec, &rec);
        assert_true(fabs(acc - json_number_value(json_object_get(c, "accuracy"))) < 1e-12);
        assert_true(fabs(rec - json_number_value(json_object_get(c, "recall"))) < 1e-12);
        if (json_is_true(json_object_get(c, "precision_undefined")))
            assert_true(isnan(prec)); /* scikit-learn's 0 is a convention; kiln says unknown */
        else
            assert_true(fabs(prec - json_number_value(json_object_get(c, "precision"))) < 1e-12);
        kiln_deploy_confusion_release(&cf);
    }
    json_decref(cases);
}

static void test_vstats_merge_wire(void **state)
{
    struct kiln_deploy_vstats a, b, back;
    struct kiln_buf buf;
    struct kiln_jsonw w;
    struct kiln_err err = { 0 };
    json_t *doc;
    char label[300];
    (void)state;
    kiln_deploy_vstats_init(&a, 3);
    kiln_deploy_vstats_init(&b, 3);
    traffic(&a, 100, 3, 2, spread);
    traffic(&b, 50, 1, 4, high);
    b.compared = 40;
    b.agreed = 38;
    kiln_deploy_confusion_add(&b.feedback, "x", "y", 4);
    assert_int_equal(kiln_deploy_vstats_merge(&a, &b), KILN_OK);
    assert_true(a.requests == 150 && a.errors == 4 && a.rows == 146 && a.compared == 40 &&
                a.agreed == 38 && a.latency_us.total == 150 && a.scores.total == 146);
    kiln_buf_init(&buf, KILN_BUF_MB);
    kiln_jsonw_init(&w, &buf);
    kiln_deploy_vstats_write(&w, &a);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    doc = json_loads(buf.buf, 0, NULL);
    assert_int_equal(kiln_deploy_vstats_read(doc, "v", &back, &err), KILN_OK);
    assert_true(back.version == 3 && back.requests == 150 && back.scores.total == 146 &&
                kiln_deploy_confusion_total(&back.feedback) == 4);
    kiln_deploy_vstats_release(&back);
    json_decref(doc);
    kiln_buf_release(&buf);
    /* Label length and table size limits. */
    memset(label, 'a', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    assert_int_equal(kiln_deploy_confusion_add(&a.feedback, label, "y", 1), KILN_EINVAL);
    for (int i = 0; i < KILN_DEPLOY_MAX_PAIRS + 10; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%d", i);
        assert_int_equal(kiln_deploy_confusion_add(&a.feedback, p, "y", 1), KILN_OK);
    }
    assert_int_equal(a.feedback.n, KILN_DEPLOY_MAX_PAIRS);
    assert_true(a.feedback.dropped > 0);
    kiln_deploy_vstats_release(&a);
    kiln_deploy_vstats_release(&b);
}

static void test_split(void **state)
{
    uint64_t n = 0;
    (void)state;
    /* FNV-1a 64 test vectors. */
    assert_true(kiln_deploy_key_hash("", 0) == 0xcbf29ce484222325ULL);
    assert_true(kiln_deploy_key_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(kiln_deploy_key_hash("foobar", 6) == 0x85944171f73967e8ULL);
    for (int i = 0; i < 100000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "user-%d", i);
        n += (uint64_t)kiln_deploy_split(kiln_deploy_key_hash(key, strlen(key)), 25);
    }
    assert_true(n > 24000 && n < 26000);
    assert_false(kiln_deploy_split(12345, 0));
    assert_true(kiln_deploy_split(9999, 100));
    assert_true(kiln_deploy_split(4, 0.05) && !kiln_deploy_split(5, 0.05));
}

static void test_oom(void **state)
{
    struct kiln_arena *ar = kiln_arena_new(0);
    struct kiln_deploy_spec *s = spec_of(ar, "    score_psi: {max: 0.25}\n");
    struct kiln_deploy_vstats st, ca, dst;
    struct kiln_deploy_analysis a;
    (void)state;
    kiln_deploy_vstats_init(&st, 1);
    kiln_deploy_vstats_init(&ca, 2);
    kiln_deploy_vstats_init(&dst, 2);
    traffic(&st, 500, 0, 1, spread);
    traffic(&ca, 500, 0, 1, high);
    kiln_deploy_confusion_add(&ca.feedback, "a", "b", 3);
    KILN_OOM_LOOP(kiln_deploy_analyze(s, &st, &ca, NULL, &a), (void)0);
    KILN_OOM_LOOP(kiln_deploy_vstats_merge(&dst, &ca), kiln_deploy_vstats_reset(&dst));
    assert_int_equal(dst.scores.total, 500);
    kiln_deploy_vstats_release(&st);
    kiln_deploy_vstats_release(&ca);
    kiln_deploy_vstats_release(&dst);
    kiln_arena_free(ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_rate),
        cmocka_unit_test(test_latency_and_scores),
        cmocka_unit_test(test_agreement_and_feedback),
        cmocka_unit_test(test_confusion_vs_sklearn),
        cmocka_unit_test(test_vstats_merge_wire),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

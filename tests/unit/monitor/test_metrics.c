/*
 * test_metrics.c - the metrics registry: values under concurrency, histogram buckets, label
 * escaping, family redeclaration rules, and exposition accepted by promtool.
 */
#include "kiln_test.h"

#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "monitor/metrics.h"

static double answer(void *ctx)
{
    return *(double *)ctx;
}

static struct kiln_metrics *build(void)
{
    static double inflight = 3;
    struct kiln_metrics *m = kiln_metrics_new();
    struct kiln_metric_family *req, *lat, *up;
    const char *labels[] = { "model", "version", "status" };
    const char *v1[] = { "fraud", "3", "200" };
    const char *v2[] = { "fraud \"quoted\"\\back\nline", "4", "400" };
    struct kiln_err err = { 0 };

    assert_int_equal(kiln_metrics_family(m, KILN_METRIC_COUNTER, "kiln_requests_total",
                                         "Requests by model, version and status.", labels, 3, NULL,
                                         0, &req, &err),
                     KILN_OK);
    assert_int_equal(kiln_metrics_family(m, KILN_METRIC_HISTOGRAM, "kiln_request_seconds",
                                         "Request latency.", labels, 2, kiln_metric_latency_buckets,
                                         kiln_metric_latency_nbuckets, &lat, &err),
                     KILN_OK);
    assert_int_equal(kiln_metrics_family(m, KILN_METRIC_GAUGE, "kiln_up", "1 when up.", NULL, 0,
                                         NULL, 0, &up, &err),
                     KILN_OK);
    assert_int_equal(kiln_metrics_gauge_fn(m, "kiln_inflight_requests", "Requests in flight.",
                                           answer, &inflight, &err),
                     KILN_OK);
    kiln_metric_add(kiln_metric_child(req, v1), 5);
    kiln_metric_inc(kiln_metric_child(req, v2));
    kiln_metric_observe(kiln_metric_child(lat, v1), 0.0002);
    kiln_metric_observe(kiln_metric_child(lat, v1), 0.003);
    kiln_metric_observe(kiln_metric_child(lat, v1), 99);
    kiln_metric_set(kiln_metric_child(up, NULL), 1);
    return m;
}

static void test_render_contents(void **state)
{
    struct kiln_metrics *m = build();
    struct kiln_buf b;
    (void)state;
    kiln_buf_init(&b, 1 << 20);
    assert_int_equal(kiln_metrics_render(m, &b), KILN_OK);
    assert_non_null(strstr(b.buf, "# TYPE kiln_requests_total counter\n"));
    assert_non_null(
        strstr(b.buf, "kiln_requests_total{model=\"fraud\",version=\"3\",status=\"200\"} 5\n"));
    assert_non_null(strstr(b.buf, "model=\"fraud \\\"quoted\\\"\\\\back\\nline\""));
    assert_non_null(strstr(
        b.buf, "kiln_request_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.0001\"} 0"));
    assert_non_null(strstr(
        b.buf, "kiln_request_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.00025\"} 1"));
    assert_non_null(
        strstr(b.buf, "kiln_request_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.005\"} 2"));
    assert_non_null(
        strstr(b.buf, "kiln_request_seconds_bucket{model=\"fraud\",version=\"3\",le=\"10\"} 2"));
    assert_non_null(
        strstr(b.buf, "kiln_request_seconds_bucket{model=\"fraud\",version=\"3\",le=\"+Inf\"} 3"));
    assert_non_null(strstr(b.buf, "kiln_request_seconds_count{model=\"fraud\",version=\"3\"} 3"));
    assert_non_null(strstr(b.buf, "kiln_inflight_requests 3\n"));
    assert_non_null(strstr(b.buf, "kiln_up 1\n"));
    kiln_buf_release(&b);
    kiln_metrics_free(m);
}

static void test_promtool_accepts_the_exposition(void **state)
{
    struct kiln_metrics *m = build();
    struct kiln_buf b;
    FILE *p;
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0) {
        kiln_metrics_free(m);
        skip();
    }
    kiln_buf_init(&b, 1 << 20);
    assert_int_equal(kiln_metrics_render(m, &b), KILN_OK);
    p = popen("/usr/bin/promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(p);
    fwrite(b.buf, 1, b.len, p);
    assert_int_equal(pclose(p), 0);
    kiln_buf_release(&b);
    kiln_metrics_free(m);
}

static void test_redeclaration_and_validation(void **state)
{
    struct kiln_metrics *m = kiln_metrics_new();
    struct kiln_metric_family *a, *b;
    const char *l1[] = { "x" }, *l2[] = { "y" }, *le[] = { "le" };
    const double bad[] = { 1, 1 };
    (void)state;
    assert_int_equal(
        kiln_metrics_family(m, KILN_METRIC_COUNTER, "c_total", "h", l1, 1, NULL, 0, &a, NULL),
        KILN_OK);
    assert_int_equal(
        kiln_metrics_family(m, KILN_METRIC_COUNTER, "c_total", "h", l1, 1, NULL, 0, &b, NULL),
        KILN_OK);
    assert_ptr_equal(a, b);
    assert_int_equal(
        kiln_metrics_family(m, KILN_METRIC_COUNTER, "c_total", "h", l2, 1, NULL, 0, &b, NULL),
        KILN_EEXIST);
    assert_int_equal(
        kiln_metrics_family(m, KILN_METRIC_GAUGE, "bad-name", "h", NULL, 0, NULL, 0, &b, NULL),
        KILN_EINVAL);
    assert_int_equal(
        kiln_metrics_family(m, KILN_METRIC_HISTOGRAM, "h_seconds", "h", le, 1, bad, 1, &b, NULL),
        KILN_EINVAL);
    assert_int_equal(
        kiln_metrics_family(m, KILN_METRIC_HISTOGRAM, "h_seconds", "h", NULL, 0, bad, 2, &b, NULL),
        KILN_EINVAL);
    kiln_metrics_free(m);
}

struct hammer {
    struct kiln_metric *c, *h;
};

static void *hammer(void *p)
{
    struct hammer *x = p;
    for (int i = 0; i < 100000; i++) {
        kiln_metric_inc(x->c);
        kiln_metric_observe(x->h, 0.001);
    }
    return NULL;
}

static void test_concurrent_updates_are_exact(void **state)
{
    struct kiln_metrics *m = kiln_metrics_new();
    struct kiln_metric_family *c, *h;
    struct hammer x;
    pthread_t th[4];
    const double b[] = { 0.01 };
    (void)state;
    kiln_metrics_family(m, KILN_METRIC_COUNTER, "n_total", "h", NULL, 0, NULL, 0, &c, NULL);
    kiln_metrics_family(m, KILN_METRIC_HISTOGRAM, "t_seconds", "h", NULL, 0, b, 1, &h, NULL);
    x.c = kiln_metric_child(c, NULL);
    x.h = kiln_metric_child(h, NULL);
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, &x);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(kiln_metric_value(x.c) == 400000.0);
    assert_int_equal(kiln_metric_count(x.h), 400000);
    assert_true(fabs(kiln_metric_sum(x.h) - 400.0) < 1e-6);
    kiln_metrics_free(m);
}

static void test_remove_drops_the_series(void **state)
{
    struct kiln_metrics *m = kiln_metrics_new();
    struct kiln_metric_family *g;
    const char *l[] = { "version" }, *v1[] = { "1" }, *v2[] = { "2" };
    struct kiln_buf b;
    (void)state;
    kiln_metrics_family(m, KILN_METRIC_GAUGE, "info", "h", l, 1, NULL, 0, &g, NULL);
    kiln_metric_set(kiln_metric_child(g, v1), 1);
    kiln_metric_set(kiln_metric_child(g, v2), 1);
    kiln_metric_remove(g, v1);
    kiln_buf_init(&b, 4096);
    kiln_metrics_render(m, &b);
    assert_null(strstr(b.buf, "version=\"1\""));
    assert_non_null(strstr(b.buf, "version=\"2\""));
    kiln_buf_release(&b);
    kiln_metrics_free(m);
}

static void test_remove_prefix_drops_a_versions_series(void **state)
{
    struct kiln_metrics *m = kiln_metrics_new();
    struct kiln_metric_family *g;
    const char *l[] = { "model", "version", "feature" };
    const char *a[] = { "m", "1", "f0" }, *b1[] = { "m", "1", "f1" }, *c[] = { "m", "12", "f0" };
    const char *d[] = { "n", "1", "f0" }, *pre[] = { "m", "1" };
    struct kiln_buf b;
    (void)state;
    kiln_metrics_family(m, KILN_METRIC_GAUGE, "score", "h", l, 3, NULL, 0, &g, NULL);
    kiln_metric_set(kiln_metric_child(g, a), 1);
    kiln_metric_set(kiln_metric_child(g, b1), 2);
    kiln_metric_set(kiln_metric_child(g, c), 3);
    kiln_metric_set(kiln_metric_child(g, d), 4);
    assert_int_equal(kiln_metric_remove_prefix(g, pre, 2), 2);
    assert_int_equal(kiln_metric_remove_prefix(g, pre, 2), 0);
    assert_int_equal(kiln_metric_remove_prefix(g, pre, 4), 0); /* more labels than the family */
    kiln_buf_init(&b, 4096);
    kiln_metrics_render(m, &b);
    assert_null(strstr(b.buf, "score{model=\"m\",version=\"1\","));
    assert_non_null(strstr(b.buf, "score{model=\"m\",version=\"12\",feature=\"f0\"} 3"));
    assert_non_null(strstr(b.buf, "score{model=\"n\",version=\"1\",feature=\"f0\"} 4"));
    kiln_buf_release(&b);
    /* A removed series comes back (from zero) when set again. */
    kiln_metric_set(kiln_metric_child(g, a), 5);
    kiln_buf_init(&b, 4096);
    kiln_metrics_render(m, &b);
    assert_non_null(strstr(b.buf, "score{model=\"m\",version=\"1\",feature=\"f0\"} 5"));
    assert_int_equal(kiln_metric_remove_prefix(g, NULL, 0), 3);
    kiln_buf_release(&b);
    kiln_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_contents),
        cmocka_unit_test(test_promtool_accepts_the_exposition),
        cmocka_unit_test(test_redeclaration_and_validation),
        cmocka_unit_test(test_concurrent_updates_are_exact),
        cmocka_unit_test(test_remove_drops_the_series),
        cmocka_unit_test(test_remove_prefix_drops_a_versions_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

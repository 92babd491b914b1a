/*
 * test_hist.c - the log-linear histogram (src/deploy/hist.c): bucket keys and bounds, order,
 * merging, quantiles, the wire form and its validation, and PSI / Jensen-Shannon against NumPy
 * and SciPy (fixtures/divergence.json, written by gen_fixtures.py).
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "deploy/hist.h"

static json_t *load(const char *name)
{
    char path[1024];
    json_error_t jerr;
    const char *dir = getenv("KILN_DEPLOY_FIXTURES");
    json_t *j;
    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "fixtures", name);
    j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        fail_msg("cannot load %s: %s", path, jerr.text);
    return j;
}

static void test_keys_and_bounds(void **state)
{
    double v = 1e-9;
    int prev = -KILN_HIST_KEY_MAX - 1;
    (void)state;
    assert_int_equal(kiln_hist_key(0), 0);
    assert_int_equal(kiln_hist_key(-0.0), 0);
    assert_int_equal(kiln_hist_key(ldexp(1, -33)), 0);
    assert_int_equal(kiln_hist_key(1.0), 1 + 32 * 32);
    assert_int_equal(kiln_hist_key(1e300), KILN_HIST_KEY_MAX);
    assert_int_equal(kiln_hist_key(-1e300), -KILN_HIST_KEY_MAX);
    /* Every value lies in its bucket, a bucket is at most 1/32 of its lower bound wide, and
     * keys grow with values. */
    for (int i = 0; i < 200000; i++, v *= 1.0002) {
        int k = kiln_hist_key(v);
        double lo = kiln_hist_lower(k), hi = kiln_hist_upper(k);
        assert_true(lo <= v && v < hi);
        assert_true((hi - lo) / lo <= 1.0 / 32 + 1e-12);
        assert_true(k >= prev);
        assert_int_equal(kiln_hist_key(-v), -k);
        assert_true(kiln_hist_lower(-k) == -hi && kiln_hist_upper(-k) == -lo);
        assert_true(kiln_hist_mid(k) > lo && kiln_hist_mid(k) < hi);
        prev = k;
    }
}

static void test_add_merge_quantile(void **state)
{
    struct kiln_hist a, b, all;
    (void)state;
    kiln_hist_init(&a);
    kiln_hist_init(&b);
    kiln_hist_init(&all);
    for (int i = 1; i <= 10000; i++) {
        assert_int_equal(kiln_hist_add(i % 2 ? &a : &b, (double)i, 1), KILN_OK);
        assert_int_equal(kiln_hist_add(&all, (double)i, 1), KILN_OK);
    }
    assert_int_equal(kiln_hist_add(&a, NAN, 1), KILN_OK); /* ignored */
    assert_int_equal(kiln_hist_add(&a, INFINITY, 1), KILN_OK);
    assert_int_equal(kiln_hist_merge(&a, &b), KILN_OK);
    assert_int_equal(a.total, 10000);
    assert_int_equal(a.n, all.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.b[i].key, all.b[i].key);
        assert_int_equal(a.b[i].count, all.b[i].count);
    }
    assert_true(fabs(kiln_hist_mean(&a) - 5000.5) < 1e-9);
    /* Quantiles are within a bucket's width of the exact value. */
    assert_true(fabs(kiln_hist_quantile(&a, 0.99) - 9900) / 9900 < 1.0 / 32);
    assert_true(fabs(kiln_hist_quantile(&a, 0.5) - 5000) / 5000 < 1.0 / 32);
    assert_true(fabs(kiln_hist_quantile(&a, 0.0) - 1) < 0.05);
    assert_true(kiln_hist_count_below(&a, 100.0) >= 96 && kiln_hist_count_below(&a, 100.0) <= 103);
    assert_true(isnan(kiln_hist_quantile(&b, 2)));
    kiln_hist_release(&b);
    assert_true(isnan(kiln_hist_quantile(&b, 0.5)));
    kiln_hist_release(&a);
    kiln_hist_release(&all);
}

static void test_wire(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"b\": 3}",
        "{\"b\": [[1]]}",
        "{\"b\": [[\"1\", 2]]}",
        "{\"b\": [[2049, 1]]}",
        "{\"b\": [[1, -1]]}",
        "{\"b\": [[1, 1.5]]}",
        "{\"b\": [[1, 2]], \"n\": 3}",
        "{\"b\": [[1, 9007199254740992], [2, 9007199254740992]]}",
        "{\"sum\": \"x\"}",
    };
    struct kiln_hist h, back;
    struct kiln_buf buf;
    struct kiln_jsonw w;
    struct kiln_err err = { 0 };
    json_t *doc;
    (void)state;
    kiln_hist_init(&h);
    for (int i = -500; i <= 500; i++)
        assert_int_equal(kiln_hist_add(&h, i * 0.37, (uint64_t)(i * i % 7 + 1)), KILN_OK);
    kiln_buf_init(&buf, KILN_BUF_MB);
    kiln_jsonw_init(&w, &buf);
    kiln_hist_write(&w, &h);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    doc = json_loads(buf.buf, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(kiln_hist_read(doc, "h", &back, &err), KILN_OK);
    assert_int_equal(back.total, h.total);
    assert_int_equal(back.n, h.n);
    assert_true(fabs(back.sum - h.sum) < 1e-6);
    for (size_t i = 0; i < h.n; i++)
        assert_true(back.b[i].key == h.b[i].key && back.b[i].count == h.b[i].count);
    json_decref(doc);
    kiln_hist_release(&back);
    kiln_buf_release(&buf);
    kiln_hist_release(&h);
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        doc = json_loads(bad[i], 0, NULL);
        assert_non_null(doc);
        assert_int_equal(kiln_hist_read(doc, "versions[0].scores", &back, &err), KILN_EINVAL);
        assert_non_null(strstr(err.msg, "versions[0].scores"));
        kiln_hist_release(&back);
        json_decref(doc);
    }
    /* Repeated keys add up; a missing sum is estimated from the midpoints. */
    doc = json_loads("{\"b\": [[1025, 2], [1025, 3]]}", 0, NULL);
    assert_int_equal(kiln_hist_read(doc, "h", &back, &err), KILN_OK);
    assert_int_equal(back.n, 1);
    assert_int_equal(back.total, 5);
    assert_true(fabs(back.sum - 5 * kiln_hist_mid(1025)) < 1e-12);
    kiln_hist_release(&back);
    json_decref(doc);
}

static void fill(struct kiln_hist *h, const json_t *pairs)
{
    const json_t *p;
    size_t i;
    kiln_hist_init(h);
    json_array_foreach(pairs, i, p)
    {
        assert_int_equal(kiln_hist_add_key(h, (int)json_integer_value(json_array_get(p, 0)),
                                           (uint64_t)json_integer_value(json_array_get(p, 1)), 0),
                         KILN_OK);
    }
}

static void test_divergence_vs_scipy(void **state)
{
    json_t *cases = load("divergence.json");
    const json_t *c;
    size_t i;
    (void)state;
    json_array_foreach(cases, i, c)
    {
        struct kiln_hist ref, cur;
        double psi, js, want_psi = json_number_value(json_object_get(c, "psi"));
        double want_js = json_number_value(json_object_get(c, "js"));
        double p99 = json_number_value(json_object_get(c, "p99_ref"));
        fill(&ref, json_object_get(c, "ref"));
        fill(&cur, json_object_get(c, "cur"));
        assert_int_equal(
            kiln_hist_divergence(
                &ref, &cur, (uint32_t)json_integer_value(json_object_get(c, "nbins")), &psi, &js),
            KILN_OK);
        if (fabs(psi - want_psi) > 1e-9 * fabs(want_psi) + 1e-12 ||
            fabs(js - want_js) > 1e-9 * fabs(want_js) + 1e-12)
            fail_msg("%s: psi %.17g (scipy %.17g), js %.17g (scipy %.17g)",
                     json_string_value(json_object_get(c, "name")), psi, want_psi, js, want_js);
        /* The p99 read from the buckets is within a bucket of NumPy's exact one. */
        assert_true(fabs(kiln_hist_quantile(&ref, 0.99) - p99) <= fabs(p99) / 16 + 1e-9);
        kiln_hist_release(&ref);
        kiln_hist_release(&cur);
    }
    json_decref(cases);
}

static void test_divergence_edges(void **state)
{
    struct kiln_hist a, b;
    double psi, js;
    (void)state;
    kiln_hist_init(&a);
    kiln_hist_init(&b);
    assert_int_equal(kiln_hist_divergence(&a, &b, 10, &psi, &js), KILN_OK);
    assert_true(isnan(psi) && isnan(js));
    for (int i = 0; i < 1000; i++) {
        kiln_hist_add(&a, i / 1000.0, 1);
        kiln_hist_add(&b, i / 1000.0, 1);
    }
    assert_int_equal(kiln_hist_divergence(&a, &b, 10, &psi, &js), KILN_OK);
    assert_true(fabs(psi) < 1e-12 && fabs(js) < 1e-7);
    kiln_hist_release(&a);
    kiln_hist_release(&b);
}

static void test_oom(void **state)
{
    struct kiln_hist a, b;
    json_t *doc = json_loads("{\"b\": [[1, 2], [5, 3], [-7, 1], [900, 4]], \"sum\": 3}", 0, NULL);
    struct kiln_err err = { 0 };
    double psi, js;
    (void)state;
    kiln_hist_init(&a);
    kiln_hist_init(&b);
    for (int i = 0; i < 300; i++)
        kiln_hist_add(&b, i * 1.7, 1);
    KILN_OOM_LOOP(kiln_hist_read(doc, "h", &a, &err), kiln_hist_release(&a));
    KILN_OOM_LOOP(kiln_hist_merge(&a, &b), (void)0);
    assert_int_equal(a.total, 310);
    KILN_OOM_LOOP(kiln_hist_divergence(&a, &b, 10, &psi, &js), (void)0);
    kiln_hist_release(&a);
    kiln_hist_release(&b);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_bounds),
        cmocka_unit_test(test_add_merge_quantile),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_divergence_vs_scipy),
        cmocka_unit_test(test_divergence_edges),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

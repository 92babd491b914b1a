/*
 * test_expect.c - expectation suites: YAML parsing (every refusal names its line), each
 * expectation's semantics on crafted data (unexpected counts, samples with line numbers,
 * mostly, strict bounds, timestamps, numeric set membership, uniqueness, regex shorthands,
 * exact aggregates checked against independent computations), drift expectations, the
 * GX-style JSON, suggestions that accept their own training data, and an OOM loop.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "core/buf.h"
#include "quality/expect.h"
#include "quality/profile.h"
#include "quality/table.h"

static struct kiln_suite *parse_ok(const char *yaml)
{
    struct kiln_suite *s = NULL;
    struct kiln_err err = { 0 };
    if (kiln_suite_parse(yaml, strlen(yaml), "t.yaml", &s, &err) != KILN_OK)
        fail_msg("parse failed: %s", err.msg);
    return s;
}

static void parse_bad(const char *yaml, int want_rc, const char *want)
{
    struct kiln_suite *s = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_suite_parse(yaml, strlen(yaml), "t.yaml", &s, &err);
    if (rc != want_rc || strstr(err.msg, want) == NULL)
        fail_msg("want rc %d and '%s', got rc %d and '%s'", want_rc, want, rc, err.msg);
    assert_null(s);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_bad("expectations:\n  - type: [unclosed\n", KILN_EPARSE, "t.yaml: line 3");
    parse_bad("", KILN_EINVAL, "empty file");
    parse_bad("foo: 1\n", KILN_EINVAL, "line 1: unknown top-level key 'foo'");
    parse_bad("name: x\n", KILN_EINVAL, "no 'expectations' list");
    parse_bad("expectations:\n  - column: a\n", KILN_EINVAL, "line 2: expectation without 'type'");
    parse_bad("expectations:\n  - type: expect_nothing\n", KILN_EINVAL,
              "line 2: unknown expectation type 'expect_nothing'");
    parse_bad("expectations:\n  - type: expect_column_values_to_not_be_null\n", KILN_EINVAL,
              "needs 'column'");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_be_between\n"
              "    column: a\n"
              "    min_value: lots\n",
              KILN_EINVAL, "line 4: 'min_value' must be a number");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_be_between\n"
              "    column: a\n"
              "    min_value: 5\n"
              "    max_value: 1\n",
              KILN_EINVAL, "line 2: expect_column_values_to_be_between: min_value is above");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_be_between\n"
              "    column: a\n",
              KILN_EINVAL, "needs 'min_value' or 'max_value'");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_not_be_null\n"
              "    column: a\n"
              "    mostly: 1.5\n",
              KILN_EINVAL, "line 4: 'mostly' must be a number between 0 and 1");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_not_be_null\n"
              "    column: a\n"
              "    colour: red\n",
              KILN_EINVAL, "line 4: unknown parameter 'colour'");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_match_regex\n"
              "    column: a\n"
              "    regex: \"([a-z\"\n",
              KILN_EINVAL, "line 4: invalid regex");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_be_in_set\n"
              "    column: a\n"
              "    value_set: abc\n",
              KILN_EINVAL, "line 4: 'value_set' must be a list");
    parse_bad("expectations:\n"
              "  - type: expect_column_quantile_values_to_be_between\n"
              "    column: a\n"
              "    quantile_ranges:\n"
              "      quantiles: [0.5, 0.9]\n"
              "      value_ranges: [[1, 2]]\n",
              KILN_EINVAL, "same (nonzero) length");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_not_be_null\n"
              "    column: a\n"
              "    kwargs: {column: b}\n",
              KILN_EINVAL, "parameter 'column' given twice");
    parse_bad("x: &a [1]\ny: *a\n", KILN_EINVAL, "line 2: YAML aliases are not supported");
    parse_bad(
        "expectations: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        KILN_EINVAL, "nested more than");
    parse_bad("expectations:\n"
              "  - type: expect_column_values_to_be_of_type\n"
              "    column: a\n"
              "    type_: complex\n",
              KILN_EINVAL, "line 4: 'type_' must be");
    parse_bad("expectations:\n"
              "  - type: expect_column_to_not_drift\n"
              "    column: a\n"
              "    method: magic\n",
              KILN_EINVAL, "line 4: unknown drift method 'magic'");
}

static const char DATA[] = "id,age,city,code,when,score\n"
                           "1,34,Paris,AB12,2024-01-02,1.0\n"
                           "2,-5,Berlin,ab12,2024-01-03,2\n"
                           "3,,Paris,ZZ99,2025-06-01,3\n"
                           "3,41,,AB1,2024-02-01T10:00:00Z,4.5\n"
                           "5,120,Lyon,CD34,2024-02-02,x\n"
                           "6,29,Nice,EF56,2024-03-01,6\n"
                           "5,33,Paris,GH78,2024-03-02,7\n"
                           "8,45,Lyon,IJ90,2024-03-03,8\n";

static struct kiln_validation *run_suite(const char *yaml, const char *data,
                                         const struct kiln_profile *p)
{
    struct kiln_suite *s = parse_ok(yaml);
    struct kiln_table_reader *r = NULL;
    struct kiln_validation *v = NULL;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_table_reader_open_mem(data, strlen(data), "d.csv", NULL, &r, &err),
                     KILN_OK);
    if (kiln_validate(r, s, p, p != NULL ? "p.json" : NULL, &v, &err) != KILN_OK)
        fail_msg("validate: %s", err.msg);
    kiln_table_reader_free(r);
    kiln_suite_free(s);
    return v;
}

static const struct kiln_expect_result *res(const struct kiln_validation *v, size_t i)
{
    assert_true(i < v->nresults);
    return &v->results[i];
}

static void test_row_level(void **state)
{
    struct kiln_validation *v;
    const struct kiln_expect_result *r;
    (void)state;
    v = run_suite("name: rows\n"
                  "expectations:\n"
                  "  - type: expect_column_values_to_not_be_null\n" /* 0 */
                  "    column: age\n"
                  "  - type: expect_column_values_to_not_be_null\n" /* 1 */
                  "    column: age\n"
                  "    mostly: 0.875\n"
                  "  - type: expect_column_values_to_be_between\n" /* 2 */
                  "    column: age\n"
                  "    min_value: 0\n"
                  "    max_value: 100\n"
                  "  - type: expect_column_values_to_be_between\n" /* 3 */
                  "    column: age\n"
                  "    min_value: 29\n"
                  "    strict_min: true\n"
                  "    mostly: 0.5\n"
                  "  - type: expect_column_values_to_be_in_set\n" /* 4 */
                  "    column: city\n"
                  "    value_set: [Paris, Lyon, Nice]\n"
                  "  - type: expect_column_values_to_be_unique\n" /* 5 */
                  "    column: id\n"
                  "  - type: column_values_to_match_regex\n" /* 6: short name */
                  "    column: code\n"
                  "    regex: '^[A-Z]{2}\\d{2}$'\n"
                  "  - type: expect_column_values_to_be_of_type\n" /* 7 */
                  "    column: score\n"
                  "    type_: float\n"
                  "  - type: expect_column_values_to_be_between\n" /* 8: timestamps */
                  "    column: when\n"
                  "    min_value: \"2024-01-01\"\n"
                  "    max_value: \"2024-12-31T23:59:59Z\"\n"
                  "  - expectation_type: expect_column_values_to_be_in_set\n" /* 9 */
                  "    kwargs:\n"
                  "      column: score\n"
                  "      value_set: [1, 2, 3, 4.5, 6, 7, 8]\n"
                  "  - type: expect_column_values_to_not_match_regex\n" /* 10 */
                  "    column: city\n"
                  "    regex: 'e'\n"
                  "  - type: expect_column_values_to_not_be_in_set\n" /* 11 */
                  "    column: city\n"
                  "    value_set: [Berlin]\n",
                  DATA, NULL);
    assert_int_equal(v->rows, 8);
    r = res(v, 0);
    assert_false(r->success);
    assert_int_equal(r->unexpected_count, 1);
    assert_int_equal(r->npartial, 1);
    assert_null(r->partial_value[0]);
    assert_int_equal(r->partial_line[0], 4);
    assert_true(res(v, 1)->success); /* 7 of 8 >= 0.875 */
    r = res(v, 2);
    assert_false(r->success);
    assert_int_equal(r->unexpected_count, 2);
    assert_int_equal(r->missing_count, 1);
    assert_string_equal(r->partial_value[0], "-5");
    assert_int_equal(r->partial_line[0], 3);
    assert_string_equal(r->partial_value[1], "120");
    assert_int_equal(r->partial_line[1], 6);
    r = res(v, 3); /* -5 and 29 fail the strict bound: 5 of 7 pass >= 0.5 */
    assert_int_equal(r->unexpected_count, 2);
    assert_true(r->success);
    r = res(v, 4);
    assert_int_equal(r->unexpected_count, 1);
    assert_string_equal(r->partial_value[0], "Berlin");
    r = res(v, 5); /* 3 and 5 are duplicated: four rows, first occurrences included */
    assert_false(r->success);
    assert_int_equal(r->unexpected_count, 4);
    assert_int_equal(r->partial_line[0], 4);
    assert_int_equal(r->partial_line[1], 5);
    assert_int_equal(r->partial_line[2], 6);
    assert_int_equal(r->partial_line[3], 8);
    r = res(v, 6); /* \d translated; ab12 and AB1 fail */
    assert_int_equal(r->unexpected_count, 2);
    assert_string_equal(r->partial_value[0], "ab12");
    assert_string_equal(r->partial_value[1], "AB1");
    r = res(v, 7);
    assert_int_equal(r->unexpected_count, 1);
    assert_string_equal(r->partial_value[0], "x");
    assert_int_equal(r->partial_line[0], 6);
    r = res(v, 8); /* 2025-06-01 is out of range */
    assert_int_equal(r->unexpected_count, 1);
    assert_int_equal(r->partial_line[0], 4);
    r = res(v, 9); /* "1.0" matches 1 numerically; "x" does not */
    assert_int_equal(r->unexpected_count, 1);
    assert_string_equal(r->partial_value[0], "x");
    assert_int_equal(res(v, 10)->unexpected_count, 2); /* Berlin, Nice */
    assert_int_equal(res(v, 11)->unexpected_count, 1);
    assert_int_equal(v->evaluated, 12);
    assert_false(v->success);
    kiln_validation_free(v);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_aggregates(void **state)
{
    struct kiln_buf data;
    struct kiln_validation *v;
    double x[501], sum = 0, ss = 0, mean, sd, med;
    char yaml[2048];
    int n = 501;
    (void)state;
    kiln_buf_init(&data, 1 << 20);
    kiln_buf_puts(&data, "v,s\n");
    for (int i = 0; i < n; i++) {
        x[i] = (double)((i * 7919) % 1009) / 8.0 - 20;
        kiln_buf_printf(&data, "%.17g,t%d\n", x[i], i % 3);
        sum += x[i];
    }
    mean = sum / n;
    for (int i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    sd = sqrt(ss / (n - 1));
    qsort(x, (size_t)n, sizeof(double), cmp);
    med = x[n / 2];
    /* Bounds just around the independently computed values, and a failing one. */
    snprintf(yaml, sizeof(yaml),
             "expectations:\n"
             "  - {type: expect_column_mean_to_be_between, column: v, min_value: %.17g, "
             "max_value: %.17g}\n"
             "  - {type: expect_column_stdev_to_be_between, column: v, min_value: %.17g, "
             "max_value: %.17g}\n"
             "  - {type: expect_column_min_to_be_between, column: v, min_value: %.17g, "
             "max_value: %.17g}\n"
             "  - {type: expect_column_max_to_be_between, column: v, max_value: %.17g, "
             "strict_max: true}\n"
             "  - {type: expect_column_median_to_be_between, column: v, min_value: %.17g, "
             "max_value: %.17g}\n"
             "  - type: expect_column_quantile_values_to_be_between\n"
             "    column: v\n"
             "    quantile_ranges: {quantiles: [0.25, 0.75], value_ranges: [[%.17g, %.17g], "
             "[%.17g, %.17g]]}\n"
             "  - {type: expect_column_mean_to_be_between, column: s, min_value: 0}\n"
             "  - {type: expect_table_row_count_to_be_between, min_value: 501, max_value: 501}\n"
             "  - {type: expect_table_columns_to_match_set, column_set: [v, w]}\n"
             "  - {type: expect_column_missing_share_to_be_at_most, column: v, max_value: 0}\n"
             "  - {type: expect_column_to_exist, column: nope}\n",
             mean - 1e-9, mean + 1e-9, sd - 1e-9, sd + 1e-9, x[0], x[0], x[n - 1], med, med, x[125],
             x[125], x[375], x[375]);
    v = run_suite(yaml, data.buf, NULL);
    for (size_t i = 0; i < 6; i++)
        if (i != 3 && !res(v, i)->success)
            fail_msg("aggregate %zu failed: observed %.17g", i, res(v, i)->observed);
    assert_false(res(v, 3)->success); /* max == bound with strict_max */
    assert_non_null(res(v, 6)->exception);
    assert_non_null(strstr(res(v, 6)->exception, "not numeric"));
    assert_true(res(v, 7)->success);
    assert_false(res(v, 8)->success);
    assert_string_equal(res(v, 8)->observed_text, "missing columns: w; extra columns: s");
    assert_true(res(v, 9)->success);
    assert_false(res(v, 10)->success);
    kiln_validation_free(v);
    kiln_buf_release(&data);
}

static struct kiln_profile *profile_of(const char *data)
{
    struct kiln_table_reader *r = NULL;
    struct kiln_profile *p = NULL;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_table_reader_open_mem(data, strlen(data), "train.csv", NULL, &r, &err),
                     KILN_OK);
    assert_int_equal(kiln_profile_build(r, NULL, &p, &err), KILN_OK);
    kiln_table_reader_free(r);
    return p;
}

static void test_suggest_accepts_training_data(void **state)
{
    struct kiln_buf train, yaml, shifted;
    struct kiln_profile *p;
    struct kiln_validation *v;
    struct kiln_err err = { 0 };
    (void)state;
    kiln_buf_init(&train, 1 << 20);
    kiln_buf_init(&yaml, 1 << 20);
    kiln_buf_init(&shifted, 1 << 20);
    kiln_buf_puts(&train, "id,x,city,day,flag\n");
    kiln_buf_puts(&shifted, "id,x,city,day,flag\n");
    for (int i = 0; i < 400; i++) {
        double x = (double)((i * 37) % 101) / 10.0;
        const char *city = i % 3 == 0 ? "Paris" : i % 3 == 1 ? "Lyon" : "Nice";
        char xs[32] = "";
        if (i % 17 != 0)
            snprintf(xs, sizeof(xs), "%.1f", x);
        kiln_buf_printf(&train, "%d,%s,%s,2024-01-%02d,%s\n", i + 1, xs, city, 1 + i % 28,
                        i % 2 ? "true" : "false");
        kiln_buf_printf(&shifted, "%d,%.1f,%s,2024-01-%02d,%s\n", i + 1, x * 3 + 20,
                        i % 4 == 0 ? "Berlin" : city, 1 + i % 28, i % 2 ? "true" : "false");
    }
    p = profile_of(train.buf);
    assert_int_equal(kiln_suite_suggest(p, "p.json", &yaml, &err), KILN_OK);
    v = run_suite(yaml.buf, train.buf, p);
    for (size_t i = 0; i < v->nresults; i++)
        if (!v->results[i].success || v->results[i].exception != NULL)
            fail_msg("suggested expectation %zu (%s on %s) rejects its own data: %s", i,
                     kiln_expect_name(v->results[i].kind),
                     v->results[i].column ? v->results[i].column : "-",
                     v->results[i].exception       ? v->results[i].exception
                     : v->results[i].observed_text ? v->results[i].observed_text
                                                   : "");
    assert_true(v->success);
    assert_non_null(v->drift);
    kiln_validation_free(v);
    /* The shifted batch fails range, set and drift expectations. */
    v = run_suite(yaml.buf, shifted.buf, p);
    assert_false(v->success);
    {
        int drift_fail = 0, set_fail = 0, range_fail = 0;
        for (size_t i = 0; i < v->nresults; i++) {
            const struct kiln_expect_result *r = &v->results[i];
            if (r->success)
                continue;
            drift_fail += r->kind == KILN_EXPECT_NO_DRIFT;
            set_fail += r->kind == KILN_EXPECT_IN_SET;
            range_fail += r->kind == KILN_EXPECT_BETWEEN;
        }
        assert_true(drift_fail >= 2 && set_fail == 1 && range_fail == 1);
    }
    kiln_validation_free(v);
    kiln_profile_free(p);
    kiln_buf_release(&train);
    kiln_buf_release(&yaml);
    kiln_buf_release(&shifted);
}

static void test_json(void **state)
{
    struct kiln_validation *v;
    struct kiln_buf b;
    json_t *root, *r0, *res0;
    (void)state;
    v = run_suite("name: j\n"
                  "expectations:\n"
                  "  - type: expect_column_values_to_be_between\n"
                  "    column: age\n"
                  "    max_value: 100\n"
                  "  - type: expect_table_row_count_to_be_between\n"
                  "    min_value: 1\n",
                  DATA, NULL);
    kiln_buf_init(&b, 1 << 20);
    assert_int_equal(kiln_validation_json(v, &b), KILN_OK);
    root = json_loads(b.buf, 0, NULL);
    assert_non_null(root);
    assert_false(json_is_true(json_object_get(root, "success")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "statistics"),
                                                        "successful_expectations")),
                     1);
    r0 = json_array_get(json_object_get(root, "results"), 0);
    res0 = json_object_get(r0, "result");
    assert_int_equal(json_integer_value(json_object_get(res0, "element_count")), 8);
    assert_int_equal(json_integer_value(json_object_get(res0, "missing_count")), 1);
    assert_int_equal(json_integer_value(json_object_get(res0, "unexpected_count")), 1);
    assert_true(fabs(json_number_value(json_object_get(res0, "unexpected_percent")) - 100.0 / 7) <
                1e-9);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(res0, "partial_unexpected_list"), 0)),
        "120");
    assert_int_equal(json_integer_value(
                         json_array_get(json_object_get(res0, "partial_unexpected_index_list"), 0)),
                     6);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r0, "expectation_config"), "type")),
        "expect_column_values_to_be_between");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(r0, "expectation_config"), "kwargs"), "max_value")),
        100);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "meta"), "expectation_suite_name")),
        "j");
    json_decref(root);
    kiln_buf_reset(&b);
    assert_int_equal(kiln_validation_html(v, &b), KILN_OK);
    assert_non_null(strstr(b.buf, "<svg"));
    assert_null(strstr(b.buf, "<script"));
    assert_null(strstr(b.buf, "http://"));
    kiln_buf_release(&b);
    kiln_validation_free(v);
}

static void test_missing_column_and_profile(void **state)
{
    struct kiln_suite *s;
    struct kiln_table_reader *r = NULL;
    struct kiln_validation *v = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    v = run_suite("expectations:\n  - {type: expect_column_values_to_not_be_null, column: zip}\n",
                  DATA, NULL);
    assert_false(v->success);
    assert_string_equal(res(v, 0)->exception, "column 'zip' is not in the data");
    kiln_validation_free(v);
    s = parse_ok("expectations:\n  - {type: expect_column_to_not_drift, column: age}\n");
    assert_int_equal(kiln_table_reader_open_mem(DATA, strlen(DATA), "d.csv", NULL, &r, &err),
                     KILN_OK);
    assert_int_equal(kiln_validate(r, s, NULL, NULL, &v, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "line 2: expect_column_to_not_drift needs a profile"));
    kiln_table_reader_free(r);
    kiln_suite_free(s);
}

static int oom_body(void)
{
    static const char yaml[] = "expectations:\n"
                               "  - {type: expect_column_values_to_be_unique, column: id}\n"
                               "  - {type: expect_column_values_to_match_regex, column: code, "
                               "regex: '\\d'}\n"
                               "  - {type: expect_column_median_to_be_between, column: age, "
                               "min_value: 0}\n";
    struct kiln_suite *s = NULL;
    struct kiln_table_reader *r = NULL;
    struct kiln_validation *v = NULL;
    struct kiln_buf b;
    int rc = kiln_suite_parse(yaml, strlen(yaml), "o.yaml", &s, NULL);
    kiln_buf_init(&b, 1 << 20);
    if (rc == KILN_OK)
        rc = kiln_table_reader_open_mem(DATA, strlen(DATA), "d.csv", NULL, &r, NULL);
    if (rc == KILN_OK)
        rc = kiln_validate(r, s, NULL, NULL, &v, NULL);
    if (rc == KILN_OK)
        rc = kiln_validation_json(v, &b);
    kiln_validation_free(v);
    kiln_table_reader_free(r);
    kiln_suite_free(s);
    kiln_buf_release(&b);
    return rc;
}

static void test_oom(void **state)
{
    (void)state;
    KILN_OOM_LOOP(oom_body(), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_row_level),
        cmocka_unit_test(test_aggregates),   cmocka_unit_test(test_suggest_accepts_training_data),
        cmocka_unit_test(test_json),         cmocka_unit_test(test_missing_column_and_profile),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

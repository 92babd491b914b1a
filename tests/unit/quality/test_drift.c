/*
 * test_drift.c - whole-column drift results against the SciPy/NumPy reference
 * (fixtures/drift.json from gen_fixtures.py + drift_reference.py): method choice around the
 * 1000-row and 2/5/20-value boundaries, Sturges with power-of-two sizes, ties, unseen
 * categories, constant and empty-after-cleaning columns, NaN/inf cleaning, quantile bins,
 * method and threshold overrides. Each case's data is regenerated (kilngen.h), written as
 * CSV and read through the real reader. The same data is also profiled, and the drift of a
 * profile whose sketch is exact must equal the raw result; then windows, merges and an OOM
 * loop.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "core/buf.h"
#include "kilngen.h"
#include "quality/drift.h"
#include "quality/profile.h"
#include "quality/table.h"

#define P_REL 1e-6
#define P_ABS 1e-12
#define S_REL 1e-9

static json_t *fixtures;

static int setup(void **state)
{
    char path[1024];
    json_error_t jerr;
    const char *dir = getenv("KILN_QUALITY_FIXTURES");
    (void)state;
    snprintf(path, sizeof(path), "%s/drift.json", dir != NULL ? dir : "fixtures");
    fixtures = json_load_file(path, 0, &jerr);
    if (fixtures == NULL)
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    return fixtures == NULL;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fixtures);
    return 0;
}

/* One-column CSV text of a generated spec. */
static void csv_of(const json_t *spec, int categorical, struct kiln_buf *out)
{
    size_t n;
    struct kilngen_val *v = kilngen_sample(spec, &n);
    kiln_buf_puts(out, "x\n");
    for (size_t i = 0; i < n; i++) {
        if (v[i].missing)
            kiln_buf_puts(out, "\"\"\n"); /* a quoted empty cell: blank lines are skipped */
        else if (isnan(v[i].v))
            kiln_buf_puts(out, "NaN\n");
        else if (categorical)
            kiln_buf_printf(out, "c%lld\n", (long long)v[i].raw);
        else if (isinf(v[i].v))
            kiln_buf_puts(out, v[i].v > 0 ? "inf\n" : "-inf\n");
        else
            kiln_buf_printf(out, "%.17g\n", v[i].v);
    }
    free(v);
}

static struct kiln_drift_data *load(const struct kiln_buf *csv, const char *name)
{
    struct kiln_table_reader *r;
    struct kiln_drift_data *d = NULL;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_table_reader_open_mem(csv->buf, csv->len, name, NULL, &r, &err), KILN_OK);
    if (kiln_drift_data_load(r, NULL, 0, &d, &err) != KILN_OK)
        fail_msg("load: %s", err.msg);
    kiln_table_reader_free(r);
    return d;
}

static struct kiln_profile *profile(const struct kiln_buf *csv, const char *name)
{
    struct kiln_table_reader *r;
    struct kiln_profile *p = NULL;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_table_reader_open_mem(csv->buf, csv->len, name, NULL, &r, &err), KILN_OK);
    if (kiln_profile_build(r, NULL, &p, &err) != KILN_OK)
        fail_msg("profile: %s", err.msg);
    kiln_table_reader_free(r);
    return p;
}

static void apply_options(const json_t *opts, struct kiln_drift_opts *o)
{
    const json_t *m = json_object_get(opts, "method"), *t = json_object_get(opts, "threshold");
    const json_t *b = json_object_get(opts, "bins");
    kiln_drift_opts_init(o);
    o->binning = KILN_BINS_STURGES;
    if (m != NULL)
        assert_int_equal(kiln_drift_method_parse(json_string_value(m), &o->method), KILN_OK);
    if (t != NULL)
        o->threshold = json_number_value(t);
    if (b != NULL) {
        o->binning = KILN_BINS_QUANTILE;
        o->nbins = (uint32_t)atoi(strchr(json_string_value(b), ':') + 1);
    }
}

static const struct {
    const char *key;
    size_t off;
    int pvalue;
} STATS[] = {
    { "ks_statistic", offsetof(struct kiln_drift_column, ks_statistic), 0 },
    { "ks_p_value", offsetof(struct kiln_drift_column, ks_p_value), 1 },
    { "wasserstein", offsetof(struct kiln_drift_column, wasserstein), 0 },
    { "wasserstein_normed", offsetof(struct kiln_drift_column, wasserstein_normed), 0 },
    { "psi", offsetof(struct kiln_drift_column, psi), 0 },
    { "kl_divergence", offsetof(struct kiln_drift_column, kl_divergence), 0 },
    { "jensenshannon", offsetof(struct kiln_drift_column, jensenshannon), 0 },
    { "chisquare_statistic", offsetof(struct kiln_drift_column, chisquare_statistic), 0 },
    { "chisquare_p_value", offsetof(struct kiln_drift_column, chisquare_p_value), 1 },
    { "z_statistic", offsetof(struct kiln_drift_column, z_statistic), 0 },
    { "z_p_value", offsetof(struct kiln_drift_column, z_p_value), 1 },
    { "unseen_share", offsetof(struct kiln_drift_column, unseen_share), 0 },
    { "missing_share_change", offsetof(struct kiln_drift_column, missing_share_change), 0 },
};

static int num_close(double got, const json_t *want, int pvalue)
{
    double w = kilngen_num(want);
    if (json_is_null(want))
        return isnan(got);
    return pvalue ? kilngen_close(got, w, P_REL, P_ABS) : kilngen_close(got, w, S_REL, 1e-15);
}

/* Compares one result column with the fixture's expectation; returns mismatches. */
static int compare(const char *name, const struct kiln_drift_column *c, const json_t *exp)
{
    int bad = 0;
    const json_t *stats = json_object_get(exp, "stats");
    if (json_object_get(exp, "error") != NULL) {
        if (c->error == NULL) {
            fprintf(stderr, "%s: expected an error, got a score\n", name);
            return 1;
        }
        return 0;
    }
    if (c->error != NULL) {
        fprintf(stderr, "%s: unexpected error %s\n", name, c->error);
        return 1;
    }
    if (strcmp(kiln_drift_method_name(c->method),
               json_string_value(json_object_get(exp, "method"))) != 0) {
        fprintf(stderr, "%s: method %s, want %s\n", name, kiln_drift_method_name(c->method),
                json_string_value(json_object_get(exp, "method")));
        bad++;
    }
    if (c->drifted != json_is_true(json_object_get(exp, "drifted"))) {
        fprintf(stderr, "%s: drifted %d\n", name, c->drifted);
        bad++;
    }
    if ((json_int_t)c->nbins != json_integer_value(json_object_get(exp, "n_bins")) ||
        (json_int_t)c->n_reference != json_integer_value(json_object_get(exp, "n_reference")) ||
        (json_int_t)c->n_current != json_integer_value(json_object_get(exp, "n_current"))) {
        fprintf(stderr, "%s: bins %zu n_ref %llu n_cur %llu differ\n", name, c->nbins,
                (unsigned long long)c->n_reference, (unsigned long long)c->n_current);
        bad++;
    }
    if (!num_close(c->statistic, json_object_get(exp, "statistic"), 0) ||
        !num_close(c->p_value, json_object_get(exp, "p_value"), 1) ||
        !num_close(c->threshold, json_object_get(exp, "threshold"), 0)) {
        fprintf(stderr, "%s: statistic %.17g p %.17g threshold %g differ\n", name, c->statistic,
                c->p_value, c->threshold);
        bad++;
    }
    for (size_t i = 0; i < sizeof(STATS) / sizeof(STATS[0]); i++) {
        const json_t *w = json_object_get(stats, STATS[i].key);
        double got = *(const double *)(const void *)((const char *)c + STATS[i].off);
        if (w == NULL)
            continue;
        if (!num_close(got, w, STATS[i].pvalue)) {
            fprintf(stderr, "%s: %s kiln %.17g reference %.17g\n", name, STATS[i].key, got,
                    kilngen_num(w));
            bad++;
        }
    }
    return bad;
}

static void test_fixture_cases(void **state)
{
    size_t i;
    json_t *cs;
    int bad = 0, profiled = 0;
    (void)state;
    json_array_foreach(json_object_get(fixtures, "cases"), i, cs)
    {
        const char *name = json_string_value(json_object_get(cs, "name"));
        int cat = strcmp(json_string_value(json_object_get(cs, "kind")), "categorical") == 0;
        const json_t *exp = json_object_get(cs, "expected");
        struct kiln_buf a, b;
        struct kiln_drift_data *ref, *cur, *pref;
        struct kiln_drift_opts o;
        struct kiln_drift_result *res = NULL, *pres = NULL;
        struct kiln_profile *p;
        struct kiln_err err = { 0 };
        kiln_buf_init(&a, (size_t)64 << 20);
        kiln_buf_init(&b, (size_t)64 << 20);
        csv_of(json_object_get(cs, "ref"), cat, &a);
        csv_of(json_object_get(cs, "cur"), cat, &b);
        ref = load(&a, "ref.csv");
        cur = load(&b, "cur.csv");
        apply_options(json_object_get(cs, "options"), &o);
        if (kiln_drift_compute(ref, cur, &o, &res, &err) != KILN_OK)
            fail_msg("%s: %s", name, err.msg);
        assert_int_equal(res->ncols, 1);
        bad += compare(name, &res->cols[0], exp);

        /* The same reference as a profile: identical while its sketch is exact. */
        p = profile(&a, "ref.csv");
        assert_int_equal(kiln_drift_data_from_profile(p, &pref, &err), KILN_OK);
        assert_int_equal(kiln_drift_compute(pref, cur, &o, &pres, &err), KILN_OK);
        if (p->cols[0].kll.nlevels == 1 && !p->cols[0].nums.overflow &&
            !p->cols[0].texts.overflow) {
            char label[96];
            snprintf(label, sizeof(label), "%s (profile)", name);
            bad += compare(label, &pres->cols[0], exp);
            profiled++;
        }
        kiln_drift_result_free(pres);
        kiln_drift_data_free(pref);
        kiln_profile_free(p);
        kiln_drift_result_free(res);
        kiln_drift_data_free(ref);
        kiln_drift_data_free(cur);
        kiln_buf_release(&a);
        kiln_buf_release(&b);
    }
    assert_int_equal(bad, 0);
    assert_true(profiled >= 20);
}

static const char REF[] =
    "x,c,t\n"
    "1.5,a,2024-01-01\n2.5,b,2024-01-02\n3.5,a,2024-01-03\n4.5,c,2024-01-04\n"
    "5.5,a,2024-01-05\n6.5,b,2024-01-06\n7.5,a,2024-01-07\n8.5,c,2024-01-08\n";

static struct kiln_profile *profile_mem(const char *text)
{
    struct kiln_buf b;
    struct kiln_profile *p;
    kiln_buf_init(&b, 1 << 20);
    kiln_buf_puts(&b, text);
    p = profile(&b, "ref.csv");
    kiln_buf_release(&b);
    return p;
}

/* Rows of a current batch: numbers shifted by `shift`, every 3rd category unseen. */
static void current_rows(struct kiln_buf *b, int n, double shift)
{
    kiln_buf_puts(b, "x,c,t\n");
    for (int i = 0; i < n; i++)
        kiln_buf_printf(b, "%.17g,%s,2024-02-%02d\n", 1.5 + (i % 8) + shift,
                        i % 3 == 0 ? "z" : (i % 2 ? "a" : "b"), 1 + i % 28);
}

static void same_column(const struct kiln_drift_column *a, const struct kiln_drift_column *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->drifted, b->drifted);
    assert_int_equal(a->nbins, b->nbins);
    assert_true(kilngen_close(a->statistic, b->statistic, 1e-12, 0));
    assert_true(kilngen_close(a->p_value, b->p_value, 1e-12, 0));
    assert_true(kilngen_close(a->psi, b->psi, 1e-12, 0));
    assert_true(kilngen_close(a->jensenshannon, b->jensenshannon, 1e-12, 0));
    assert_true(kilngen_close(a->missing_share_change, b->missing_share_change, 1e-12, 0));
}

static void test_window(void **state)
{
    struct kiln_profile *p = profile_mem(REF);
    struct kiln_drift_window *w, *w2;
    struct kiln_drift_data *ref, *cur;
    struct kiln_drift_result *raw, *win, *merged;
    struct kiln_table_reader *r;
    const struct kiln_cell *cells;
    struct kiln_buf text;
    struct kiln_err err = { 0 };
    (void)state;
    kiln_buf_init(&text, 1 << 20);
    current_rows(&text, 300, 0.25);
    assert_int_equal(kiln_drift_window_new(p, NULL, &w, &err), KILN_OK);
    assert_int_equal(kiln_drift_window_new(p, NULL, &w2, &err), KILN_OK);
    assert_int_equal(kiln_table_reader_open_mem(text.buf, text.len, "cur", NULL, &r, &err),
                     KILN_OK);
    for (int i = 0; kiln_table_reader_next(r, &cells, &err) == 1; i++) {
        assert_int_equal(kiln_drift_window_add_row(w, cells), KILN_OK);
        if (i % 2) {
            assert_int_equal(kiln_drift_window_add_row(w2, cells), KILN_OK);
        } else { /* cell by cell, numbers as numbers */
            double x;
            assert_int_equal(sscanf(cells[0].p, "%lf", &x), 1);
            assert_int_equal(kiln_drift_window_add_number(w2, 0, x), KILN_OK);
            assert_int_equal(kiln_drift_window_add_text(w2, 1, cells[1].p, cells[1].len), KILN_OK);
            assert_int_equal(kiln_drift_window_add_text(w2, 2, cells[2].p, cells[2].len), KILN_OK);
            kiln_drift_window_end_row(w2);
        }
    }
    kiln_table_reader_free(r);
    assert_int_equal(kiln_drift_window_rows(w), 300);
    /* The raw batch against the profile. */
    assert_int_equal(kiln_drift_data_from_profile(p, &ref, &err), KILN_OK);
    cur = load(&text, "cur");
    assert_int_equal(kiln_drift_compute(ref, cur, NULL, &raw, &err), KILN_OK);
    assert_int_equal(kiln_drift_window_compute(w, &win, &err), KILN_OK);
    assert_int_equal(raw->ncols, 2); /* the timestamp column is skipped */
    assert_int_equal(win->ncols, 2);
    assert_int_equal(win->nskipped, 1);
    same_column(&raw->cols[0], &win->cols[0]);
    same_column(&raw->cols[1], &win->cols[1]);
    assert_true(win->cols[1].drifted); /* unseen category "z" */
    assert_true(win->cols[1].unseen_share > 0.33 && win->cols[1].unseen_share < 0.34);
    /* A window fed cell by cell (numbers as doubles), merged into an empty one, equals
     * the window fed whole rows. */
    {
        struct kiln_drift_window *w3;
        struct kiln_drift_result *r3;
        assert_int_equal(kiln_drift_window_new(p, NULL, &w3, &err), KILN_OK);
        assert_int_equal(kiln_drift_window_merge(w3, w2), KILN_OK);
        assert_int_equal(kiln_drift_window_rows(w3), 300);
        assert_int_equal(kiln_drift_window_compute(w3, &r3, &err), KILN_OK);
        same_column(&r3->cols[0], &win->cols[0]);
        same_column(&r3->cols[1], &win->cols[1]);
        kiln_drift_result_free(r3);
        kiln_drift_window_reset(w2);
        assert_int_equal(kiln_drift_window_rows(w2), 0);
        kiln_drift_window_free(w3);
    }
    kiln_drift_window_reset(w);
    assert_int_equal(kiln_drift_window_compute(w, &merged, &err), KILN_OK);
    assert_non_null(merged->cols[0].error); /* an empty window has no score */
    assert_int_equal(merged->n_checked, 0);
    assert_false(merged->dataset_drift);
    kiln_drift_result_free(merged);
    assert_int_equal(kiln_drift_window_add_text(w, 9, "x", 1), KILN_EINVAL);
    kiln_drift_result_free(raw);
    kiln_drift_result_free(win);
    kiln_drift_data_free(ref);
    kiln_drift_data_free(cur);
    kiln_drift_window_free(w);
    kiln_drift_window_free(w2);
    kiln_profile_free(p);
    kiln_buf_release(&text);
}

static void test_json_and_options(void **state)
{
    struct kiln_buf a, b, out;
    struct kiln_drift_data *ref, *cur;
    struct kiln_drift_result *res;
    struct kiln_drift_opts o;
    struct kiln_drift_colopt per[1] = { { "x", KILN_DRIFT_PSI, 5.0 } };
    const char *only[] = { "c", "x" }, *bad[] = { "nope" };
    struct kiln_err err = { 0 };
    json_t *root, *cols, *c0;
    (void)state;
    kiln_buf_init(&a, 1 << 20);
    kiln_buf_init(&b, 1 << 20);
    kiln_buf_init(&out, 1 << 20);
    kiln_buf_puts(&a, REF);
    current_rows(&b, 50, 3.0);
    ref = load(&a, "ref.csv");
    cur = load(&b, "cur.csv");
    kiln_drift_opts_init(&o);
    o.columns = only;
    o.ncolumns = 2;
    o.per_column = per;
    o.nper_column = 1;
    o.drift_share = 0.6;
    assert_int_equal(kiln_drift_compute(ref, cur, &o, &res, &err), KILN_OK);
    assert_int_equal(res->ncols, 2);
    assert_string_equal(res->cols[0].name, "c");
    assert_int_equal(res->cols[1].method, KILN_DRIFT_PSI);
    assert_true(res->cols[1].threshold == 5.0);
    assert_int_equal(kiln_drift_result_json(res, &out), KILN_OK);
    root = json_loads(out.buf, 0, NULL);
    assert_non_null(root);
    assert_true(json_number_value(json_object_get(root, "drift_share_threshold")) == 0.6);
    cols = json_object_get(root, "columns");
    c0 = json_array_get(cols, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "method")), "chisquare");
    /* An unseen category makes chi-square infinite: written as the string "Infinity". */
    assert_string_equal(json_string_value(json_object_get(c0, "statistic")), "Infinity");
    assert_true(json_number_value(json_object_get(c0, "p_value")) == 0);
    assert_non_null(json_object_get(json_object_get(c0, "stats"), "unseen_share"));
    assert_true(json_is_array(json_object_get(json_object_get(c0, "bins"), "labels")));
    assert_int_equal(json_integer_value(json_object_get(root, "number_of_columns")), 2);
    json_decref(root);
    kiln_buf_reset(&out);
    assert_int_equal(kiln_drift_result_html(res, &out), KILN_OK);
    assert_non_null(strstr(out.buf, "<svg"));
    assert_null(strstr(out.buf, "http"));
    kiln_drift_result_free(res);
    o.columns = bad;
    o.ncolumns = 1;
    assert_int_equal(kiln_drift_compute(ref, cur, &o, &res, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "column 'nope' is not in the reference"));
    kiln_drift_data_free(ref);
    kiln_drift_data_free(cur);
    kiln_buf_release(&a);
    kiln_buf_release(&b);
    kiln_buf_release(&out);
}

static int oom_body(void)
{
    struct kiln_table_reader *r1 = NULL, *r2 = NULL;
    struct kiln_drift_data *a = NULL, *b = NULL;
    struct kiln_drift_result *res = NULL;
    struct kiln_drift_opts o;
    struct kiln_buf out;
    static const char cur[] = "x,c,t\n2,a,x\n9,q,2024-01-01\n4.5,a,\n";
    int rc;
    kiln_buf_init(&out, 1 << 20);
    kiln_drift_opts_init(&o);
    o.threads = 1;
    rc = kiln_table_reader_open_mem(REF, strlen(REF), "r", NULL, &r1, NULL);
    if (rc == KILN_OK)
        rc = kiln_table_reader_open_mem(cur, strlen(cur), "c", NULL, &r2, NULL);
    if (rc == KILN_OK)
        rc = kiln_drift_data_load(r1, NULL, 0, &a, NULL);
    if (rc == KILN_OK)
        rc = kiln_drift_data_load(r2, NULL, 0, &b, NULL);
    if (rc == KILN_OK)
        rc = kiln_drift_compute(a, b, &o, &res, NULL);
    if (rc == KILN_OK)
        rc = kiln_drift_result_json(res, &out);
    kiln_drift_result_free(res);
    kiln_drift_data_free(a);
    kiln_drift_data_free(b);
    kiln_table_reader_free(r1);
    kiln_table_reader_free(r2);
    kiln_buf_release(&out);
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
        cmocka_unit_test(test_fixture_cases),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_json_and_options),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_profile.c - column summaries, sketches and profiles: type inference, exact moments
 * and value counts against direct computation, KLL exactness below its buffer and rank
 * error above it, determinism, merges equal to one pass, the parallel build equal to the
 * serial one, numpy-compatible quantiles (fixtures), JSON round trips that are bit-exact,
 * profile files refused with the field at fault, and OOM loops.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "core/buf.h"
#include "kilngen.h"
#include "quality/profile.h"
#include "quality/sketch.h"
#include "quality/table.h"

static struct kiln_profile *profile_text(const char *text, const char *name)
{
    struct kiln_table_reader *r = NULL;
    struct kiln_profile *p = NULL;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_table_reader_open_mem(text, strlen(text), name, NULL, &r, &err), KILN_OK);
    if (kiln_profile_build(r, NULL, &p, &err) != KILN_OK)
        fail_msg("profile: %s", err.msg);
    kiln_table_reader_free(r);
    return p;
}

static void test_types(void **state)
{
    struct kiln_profile *p;
    static const char *const want[] = { "integer", "float", "boolean", "timestamp",
                                        "string",  "empty", "string",  "float" };
    (void)state;
    p = profile_text("i,f,b,t,s,e,m,x\n"
                     "1,1.5,true,2024-01-02,abc,,1,inf\n"
                     "2,2,False,2024-01-03T10:00:00Z,de,NA,x,2\n"
                     "-3,-inf,TRUE,2024-02-01,,null,2.5,\n",
                     "t.csv");
    assert_int_equal(p->ncols, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(kiln_coltype_name(kiln_colsum_type(&p->cols[i])), want[i]);
    assert_int_equal(p->rows, 3);
    assert_int_equal(p->cols[1].n_inf, 1);
    assert_int_equal(p->cols[1].n_num, 2);
    assert_int_equal(p->cols[4].missing, 1);
    assert_int_equal(p->cols[5].missing, 3);
    assert_true(p->cols[0].min == -3 && p->cols[0].max == 2);
    assert_true(p->cols[3].min == 1704153600.0); /* 2024-01-02 in seconds */
    kiln_profile_free(p);
}

/* A generated column of n values written as CSV. */
static void gen_csv(struct kiln_buf *b, int64_t n, uint64_t seed, int64_t range)
{
    uint64_t s = seed;
    kiln_buf_puts(b, "a,b,c,d\n");
    for (int64_t i = 0; i < n; i++) {
        int64_t x = (int64_t)(kilngen_next(&s) % (uint64_t)range);
        kiln_buf_printf(b, "%.17g,%lld,k%lld,%s\n", (double)x / 7.0 - 3, (long long)(x % 13),
                        (long long)(x % 5), i % 9 == 0 ? "" : "z");
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_moments_counts_and_sketch(void **state)
{
    struct kiln_buf b;
    struct kiln_profile *p;
    const struct kiln_colsum *a, *bb, *c;
    int64_t n = 30000;
    double *x = malloc((size_t)n * sizeof(double)), sum = 0, ss = 0, mean;
    uint64_t s = 11, counts[13] = { 0 };
    (void)state;
    kiln_buf_init(&b, (size_t)64 << 20);
    gen_csv(&b, n, 11, 100003);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)(kilngen_next(&s) % 100003);
        x[i] = (double)v / 7.0 - 3;
        counts[v % 13]++;
        sum += x[i];
    }
    mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    qsort(x, (size_t)n, sizeof(double), cmp);
    p = profile_text(b.buf, "g.csv");
    a = &p->cols[0];
    bb = &p->cols[1];
    c = &p->cols[2];
    assert_true(fabs(a->mean - mean) <= 1e-12 * fabs(mean) + 1e-12);
    assert_true(fabs(kiln_colsum_std(a, 1) - sqrt(ss / (double)(n - 1))) < 1e-9);
    assert_true(a->min == x[0] && a->max == x[n - 1]);
    /* The sketch was compacted (n > its buffer): every quantile within 1% of n in rank. */
    assert_false(kiln_kll_exact(&a->kll));
    for (int k = 1; k < 100; k++) {
        double q = kiln_colsum_quantile(a, k / 100.0);
        size_t lo = 0, hi = 0;
        double want = (double)k / 100.0 * (double)(n - 1);
        while (lo < (size_t)n && x[lo] < q)
            lo++;
        hi = lo;
        while (hi < (size_t)n && x[hi] <= q)
            hi++;
        if (!((double)lo - 0.01 * (double)n <= want && want <= (double)hi + 0.01 * (double)n))
            fail_msg("quantile %d: rank [%zu, %zu] vs %.0f", k, lo, hi, want);
    }
    assert_true(kiln_kll_items(&a->kll) < 3 * 2048 + 4096 + 200);
    /* Small-cardinality columns are counted exactly. */
    for (int v = 0; v < 13; v++) {
        double key = (double)v;
        const struct kiln_counts_entry *e = kiln_counts_find(&bb->nums, &key, sizeof(key));
        assert_non_null(e);
        assert_int_equal(e->count, counts[v]);
    }
    assert_int_equal(c->texts.n, 5);
    assert_int_equal(p->cols[3].missing, (uint64_t)((n + 8) / 9));
    {
        int exact;
        uint64_t d = kiln_colsum_distinct(a, &exact);
        assert_false(exact);
        /* HyperLogLog: within 5% of the true distinct count. */
        size_t true_d = 1;
        for (int64_t i = 1; i < n; i++)
            true_d += x[i] != x[i - 1];
        assert_true(fabs((double)d - (double)true_d) < 0.05 * (double)true_d);
    }
    kiln_profile_free(p);
    kiln_buf_release(&b);
    free(x);
}

static void test_kll(void **state)
{
    struct kiln_kll s, t, m;
    double *v;
    uint64_t *w, total = 0;
    size_t n;
    uint64_t seed = 5;
    (void)state;
    kiln_kll_init(&s, 64);
    kiln_kll_init(&t, 64);
    kiln_kll_init(&m, 64);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(kiln_kll_add(&s, (double)(i % 97)), KILN_OK);
    assert_true(kiln_kll_exact(&s)); /* the input buffer holds 4096 values */
    assert_int_equal(kiln_kll_sorted(&s, &v, &w, &n), KILN_OK);
    assert_int_equal(n, 97);
    for (size_t i = 0; i < n; i++)
        total += w[i];
    assert_int_equal(total, 4096);
    kiln_free(v);
    kiln_free(w);
    /* Deterministic: the same stream gives the same sketch; a merge keeps the weight. */
    kiln_kll_reset(&s);
    for (int i = 0; i < 50000; i++) {
        double x = (double)(kilngen_next(&seed) % 1000);
        assert_int_equal(kiln_kll_add(&s, x), KILN_OK);
        assert_int_equal(kiln_kll_add(i % 2 ? &t : &m, x), KILN_OK);
    }
    assert_false(kiln_kll_exact(&s));
    assert_int_equal(kiln_kll_merge(&m, &t), KILN_OK);
    assert_int_equal(m.n, 50000);
    assert_int_equal(kiln_kll_sorted(&m, &v, &w, &n), KILN_OK);
    total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    assert_int_equal(total, 50000);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i - 1] < v[i]);
    kiln_free(v);
    kiln_free(w);
    kiln_kll_release(&s);
    kiln_kll_release(&t);
    kiln_kll_release(&m);
}

/* numpy.quantile (linear and nearest) on the shared fixture samples. */
static void test_quantiles_match_numpy(void **state)
{
    char path[1024];
    json_t *fx, *row;
    size_t i;
    const char *dir = getenv("KILN_QUALITY_FIXTURES");
    (void)state;
    snprintf(path, sizeof(path), "%s/stats.json", dir != NULL ? dir : "fixtures");
    fx = json_load_file(path, 0, NULL);
    assert_non_null(fx);
    json_array_foreach(json_object_get(fx, "quantiles"), i, row)
    {
        size_t n, k = 0;
        struct kilngen_val *vals =
            kilngen_sample(json_object_get(json_object_get(fx, "specs"),
                                           json_string_value(json_object_get(row, "spec"))),
                           &n);
        double *v = malloc((n + 1) * sizeof(double)),
               q = json_number_value(json_object_get(row, "q"));
        for (size_t j = 0; j < n; j++)
            v[k++] = vals[j].v;
        qsort(v, k, sizeof(double), cmp);
        assert_true(kiln_quantile_linear(v, NULL, k, k, q) ==
                    json_number_value(json_object_get(row, "linear")));
        assert_true(kiln_quantile_nearest(v, NULL, k, k, q) ==
                    json_number_value(json_object_get(row, "nearest")));
        free(v);
        free(vals);
    }
    json_decref(fx);
}

static void json_of(const struct kiln_profile *p, struct kiln_buf *b)
{
    struct kiln_err err = { 0 };
    kiln_buf_reset(b);
    assert_int_equal(kiln_profile_to_json(p, b, &err), KILN_OK);
}

static void test_json_round_trip_and_parallel(void **state)
{
    struct kiln_buf text, a, b;
    struct kiln_profile *p, *q, *serial;
    struct kiln_table_reader *r = NULL;
    const struct kiln_cell *cells;
    const char *names[4] = { "a", "b", "c", "d" };
    struct kiln_err err = { 0 };
    (void)state;
    kiln_buf_init(&text, (size_t)64 << 20);
    kiln_buf_init(&a, (size_t)64 << 20);
    kiln_buf_init(&b, (size_t)64 << 20);
    gen_csv(&text, 20000, 3, 5000);
    p = profile_text(text.buf, "g.csv");
    json_of(p, &a);
    assert_int_equal(kiln_profile_parse(a.buf, a.len, "g.json", &q, &err), KILN_OK);
    json_of(q, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    kiln_profile_free(q);
    /* The threaded build equals a row-by-row serial build. */
    assert_int_equal(kiln_profile_new(names, 4, NULL, &serial, &err), KILN_OK);
    assert_int_equal(kiln_table_reader_open_mem(text.buf, text.len, "g.csv", NULL, &r, &err),
                     KILN_OK);
    while (kiln_table_reader_next(r, &cells, &err) == 1)
        assert_int_equal(kiln_profile_add_row(serial, cells), KILN_OK);
    kiln_table_reader_free(r);
    serial->created_ms = p->created_ms;
    kiln_free(serial->source);
    serial->source = kiln_strdup("g.csv");
    serial->bytes = p->bytes;
    json_of(serial, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    /* Two halves merged hold the same counts, moments and bounds as the whole. */
    {
        struct kiln_colsum h[2];
        kiln_colsum_init(&h[0], "a", NULL);
        kiln_colsum_init(&h[1], "a", NULL);
        assert_int_equal(kiln_table_reader_open_mem(text.buf, text.len, "g.csv", NULL, &r, &err),
                         KILN_OK);
        for (int i = 0; kiln_table_reader_next(r, &cells, &err) == 1; i++)
            kiln_colsum_add(&h[i < 7000], cells[0].p, cells[0].len, cells[0].flags);
        kiln_table_reader_free(r);
        assert_int_equal(kiln_colsum_merge(&h[0], &h[1]), KILN_OK);
        assert_int_equal(h[0].rows, p->cols[0].rows);
        assert_true(h[0].min == p->cols[0].min && h[0].max == p->cols[0].max);
        assert_true(fabs(h[0].mean - p->cols[0].mean) < 1e-12 * fabs(p->cols[0].mean));
        assert_true(fabs(h[0].m2 - p->cols[0].m2) < 1e-9 * p->cols[0].m2);
        assert_int_equal(h[0].kll.n, p->cols[0].kll.n);
        assert_int_equal(h[0].nums.n, p->cols[0].nums.n);
        kiln_colsum_release(&h[0]);
        kiln_colsum_release(&h[1]);
    }
    kiln_profile_free(serial);
    kiln_profile_free(p);
    kiln_buf_release(&text);
    kiln_buf_release(&a);
    kiln_buf_release(&b);
}

/* A copy of s with the first `from` replaced by `to` (malloc'ed). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    assert_non_null(at);
    memcpy(out, s, (size_t)(at - s));
    memcpy(out + (at - s), to, strlen(to));
    strcpy(out + (at - s) + strlen(to), at + strlen(from));
    return out;
}

static void parse_bad(const char *json, int want_rc, const char *want)
{
    struct kiln_profile *p = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_profile_parse(json, strlen(json), "p.json", &p, &err);
    if (rc != want_rc || strstr(err.msg, want) == NULL)
        fail_msg("want %d '%s', got %d '%s'", want_rc, want, rc, err.msg);
    assert_null(p);
}

static void test_parse_errors(void **state)
{
    struct kiln_profile *p = profile_text("x,y\n1,a\n2,b\n", "t.csv");
    struct kiln_buf b;
    char *edited;
    (void)state;
    kiln_buf_init(&b, 1 << 20);
    json_of(p, &b);
    parse_bad("{\"kiln_profile\": 1,", KILN_EPARSE, "p.json");
    parse_bad("{\"columns\": []}", KILN_EINVAL, "p.json: kiln_profile: missing");
    edited = replace(b.buf, "\"rows\":2,\"missing\"", "\"rows\":3,\"missing\"");
    parse_bad(edited, KILN_EINVAL, "columns[0]: kinds and missing do not add up to rows");
    free(edited);
    edited = replace(b.buf, "\"mean\":1.5", "\"mean\":\"x\"");
    parse_bad(edited, KILN_EINVAL, "columns[0].numeric.mean: expected a finite number");
    free(edited);
    edited = replace(b.buf, "\"levels\":[[1,2]]", "\"levels\":[[1,2,3]]");
    parse_bad(edited, KILN_EINVAL, "columns[0].numeric.sketch: sketch weights do not add up");
    free(edited);
    edited = replace(b.buf, "\"levels\":[[1,2]]", "\"levels\":[[1,\"2\"]]");
    parse_bad(edited, KILN_EINVAL, "columns[0].numeric.sketch.levels[0][1]: not a finite");
    free(edited);
    edited = replace(b.buf, "\"name\":\"y\"", "\"name\":\"x\"");
    parse_bad(edited, KILN_EINVAL, "columns[1].name: duplicate column name");
    free(edited);
    edited = replace(b.buf, "\"kiln_profile\":1", "\"kiln_profile\":7");
    parse_bad(edited, KILN_EINVAL, "unsupported profile version");
    free(edited);
    assert_int_equal(kiln_profile_sniff("/nonexistent"), 0);
    kiln_buf_release(&b);
    kiln_profile_free(p);
}

static int oom_body(void)
{
    static const char text[] = "n,s,t\n1,a,2024-01-01\n2.5,b,2024-01-02\n,c,\n";
    struct kiln_table_reader *r = NULL;
    struct kiln_profile *p = NULL, *q = NULL;
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, 1 << 20);
    rc = kiln_table_reader_open_mem(text, strlen(text), "o.csv", NULL, &r, NULL);
    if (rc == KILN_OK)
        rc = kiln_profile_build(r, NULL, &p, NULL);
    if (rc == KILN_OK)
        rc = kiln_profile_to_json(p, &b, NULL);
    if (rc == KILN_OK)
        rc = kiln_profile_parse(b.buf, b.len, "o.json", &q, NULL);
    kiln_profile_free(p);
    kiln_profile_free(q);
    kiln_table_reader_free(r);
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
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_moments_counts_and_sketch),
        cmocka_unit_test(test_kll),
        cmocka_unit_test(test_quantiles_match_numpy),
        cmocka_unit_test(test_json_round_trip_and_parallel),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

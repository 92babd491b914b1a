/*
 * test_stats.c - kiln's statistics against SciPy 1.10.1 reference values
 * (fixtures/stats.json, written by gen_fixtures.py): the Kolmogorov and Smirnov
 * distributions over every branch, exact two-sample KS p-values, chi-square and normal
 * tails, log-gamma, ks_2samp and wasserstein_distance on generated samples (sizes around the
 * 1000 / 10000 boundaries, ties, powers of two), entropy, jensenshannon, chisquare; plus the
 * radix sort and weighted samples.
 *
 * Tolerances are the drift report's promise: p-values within 1e-6 relative or 1e-12
 * absolute, statistics within 1e-9 relative.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "kilngen.h"
#include "quality/stats.h"

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
    snprintf(path, sizeof(path), "%s/stats.json", dir != NULL ? dir : "fixtures");
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

static void check(const char *what, double got, double want, double rel, double abs_tol,
                  int *failures)
{
    if (!kilngen_close(got, want, rel, abs_tol)) {
        fprintf(stderr, "MISMATCH %s: kiln %.17g scipy %.17g\n", what, got, want);
        (*failures)++;
    }
}

static void test_kolmogn(void **state)
{
    size_t i;
    json_t *row;
    int failures = 0;
    char what[128];
    (void)state;
    json_array_foreach(json_object_get(fixtures, "kolmogn_sf"), i, row)
    {
        int64_t n = json_integer_value(json_array_get(row, 0));
        double x = json_number_value(json_array_get(row, 1));
        snprintf(what, sizeof(what), "kstwo.sf(%.17g, %lld)", x, (long long)n);
        check(what, kiln_stats_kolmogn_sf(n, x), kilngen_num(json_array_get(row, 2)), P_REL, P_ABS,
              &failures);
    }
    json_array_foreach(json_object_get(fixtures, "smirnov"), i, row)
    {
        int64_t n = json_integer_value(json_array_get(row, 0));
        double x = json_number_value(json_array_get(row, 1));
        snprintf(what, sizeof(what), "smirnov(%lld, %.17g)", (long long)n, x);
        check(what, kiln_stats_smirnov(n, x), kilngen_num(json_array_get(row, 2)), P_REL, P_ABS,
              &failures);
    }
    assert_int_equal(failures, 0);
    assert_true(isnan(kiln_stats_kolmogn_sf(10, NAN)));
    assert_true(kiln_stats_kolmogn_sf(10, 0.01) == 1.0);
    assert_true(kiln_stats_kolmogn_sf(10, 1.0) == 0.0);
}

static void test_ks_exact(void **state)
{
    size_t i;
    json_t *row;
    int failures = 0;
    char what[128];
    (void)state;
    json_array_foreach(json_object_get(fixtures, "ks_exact"), i, row)
    {
        uint64_t n1 = (uint64_t)json_integer_value(json_array_get(row, 0));
        uint64_t n2 = (uint64_t)json_integer_value(json_array_get(row, 1));
        uint64_t h = (uint64_t)json_integer_value(json_array_get(row, 2));
        snprintf(what, sizeof(what), "ks exact p(%llu, %llu, h=%llu)", (unsigned long long)n1,
                 (unsigned long long)n2, (unsigned long long)h);
        check(what, kiln_stats_ks_exact_p(n1, n2, h), kilngen_num(json_array_get(row, 3)), P_REL,
              P_ABS, &failures);
    }
    assert_int_equal(failures, 0);
}

static void test_special(void **state)
{
    size_t i;
    json_t *row;
    int failures = 0;
    char what[128];
    (void)state;
    json_array_foreach(json_object_get(fixtures, "chi2_sf"), i, row)
    {
        double x = json_number_value(json_array_get(row, 0));
        double df = json_number_value(json_array_get(row, 1));
        snprintf(what, sizeof(what), "chi2.sf(%.17g, %g)", x, df);
        check(what, kiln_stats_chi2_sf(x, df), kilngen_num(json_array_get(row, 2)), P_REL, P_ABS,
              &failures);
    }
    json_array_foreach(json_object_get(fixtures, "norm_cdf"), i, row)
    {
        double z = json_number_value(json_array_get(row, 0));
        snprintf(what, sizeof(what), "norm.cdf(%g)", z);
        check(what, kiln_stats_norm_cdf(z), kilngen_num(json_array_get(row, 1)), P_REL, P_ABS,
              &failures);
    }
    json_array_foreach(json_object_get(fixtures, "lgamma"), i, row)
    {
        double x = json_number_value(json_array_get(row, 0));
        snprintf(what, sizeof(what), "lgamma(%g)", x);
        check(what, kiln_stats_lgamma(x), kilngen_num(json_array_get(row, 1)), 1e-13, 1e-14,
              &failures);
    }
    assert_int_equal(failures, 0);
    assert_true(isnan(kiln_stats_chi2_sf(3.0, 0)));
    assert_true(kiln_stats_chi2_sf(INFINITY, 3) == 0.0);
}

/* Sorted copy of a generated sample's finite values. */
static double *sorted_sample(const char *name, size_t *n)
{
    size_t m, k = 0;
    struct kilngen_val *vals =
        kilngen_sample(json_object_get(json_object_get(fixtures, "specs"), name), &m);
    double *v = malloc((m + 1) * sizeof(*v)), *tmp = malloc((m + 1) * sizeof(*tmp));
    for (size_t i = 0; i < m; i++)
        if (!vals[i].missing && isfinite(vals[i].v))
            v[k++] = vals[i].v;
    kiln_stats_sort(v, k, tmp);
    free(tmp);
    free(vals);
    *n = k;
    return v;
}

static void test_samples(void **state)
{
    size_t i;
    json_t *c;
    int failures = 0;
    char what[160];
    (void)state;
    json_array_foreach(json_object_get(fixtures, "samples"), i, c)
    {
        const char *an = json_string_value(json_object_get(c, "a"));
        const char *bn = json_string_value(json_object_get(c, "b"));
        size_t na, nb;
        double *a = sorted_sample(an, &na), *b = sorted_sample(bn, &nb);
        struct kiln_stats_sample sa = { a, NULL, na, na }, sb = { b, NULL, nb, nb };
        struct kiln_stats_ks ks;
        kiln_stats_ks_2samp(&sa, &sb, &ks);
        snprintf(what, sizeof(what), "ks_2samp(%s, %s).statistic", an, bn);
        check(what, ks.statistic, kilngen_num(json_object_get(c, "ks_statistic")), S_REL, 0,
              &failures);
        snprintf(what, sizeof(what), "ks_2samp(%s, %s).pvalue", an, bn);
        check(what, ks.p_value, kilngen_num(json_object_get(c, "ks_p_value")), P_REL, P_ABS,
              &failures);
        snprintf(what, sizeof(what), "wasserstein(%s, %s)", an, bn);
        check(what, kiln_stats_wasserstein(&sa, &sb),
              kilngen_num(json_object_get(c, "wasserstein")), S_REL, 0, &failures);
        {
            /* The fused single pass gives the same numbers as the two functions. */
            struct kiln_stats_ks ks2;
            double w1;
            kiln_stats_ks_wasserstein(&sa, &sb, &ks2, &w1);
            assert_true(ks2.statistic == ks.statistic && ks2.p_value == ks.p_value);
            assert_true(fabs(w1 - kiln_stats_wasserstein(&sa, &sb)) <=
                        1e-14 * kiln_stats_wasserstein(&sa, &sb));
        }
        free(a);
        free(b);
    }
    assert_int_equal(failures, 0);
}

static void test_vectors(void **state)
{
    size_t i, j;
    json_t *c, *x;
    int failures = 0;
    (void)state;
    json_array_foreach(json_object_get(fixtures, "vectors"), i, c)
    {
        double p[16], q[16];
        size_t n = json_array_size(json_object_get(c, "p"));
        json_array_foreach(json_object_get(c, "p"), j, x) p[j] = json_number_value(x);
        json_array_foreach(json_object_get(c, "q"), j, x) q[j] = json_number_value(x);
        check("entropy", kiln_stats_entropy(p, q, n), kilngen_num(json_object_get(c, "entropy")),
              S_REL, 1e-15, &failures);
        check("jensenshannon", kiln_stats_jensenshannon(p, q, n),
              kilngen_num(json_object_get(c, "jensenshannon")), S_REL, 1e-15, &failures);
    }
    json_array_foreach(json_object_get(fixtures, "chisquare"), i, c)
    {
        double o[16], e[16], stat, pv;
        size_t n = json_array_size(json_object_get(c, "obs"));
        json_array_foreach(json_object_get(c, "obs"), j, x) o[j] = json_number_value(x);
        json_array_foreach(json_object_get(c, "exp"), j, x) e[j] = json_number_value(x);
        kiln_stats_chisquare(o, e, n, &stat, &pv);
        check("chisquare.statistic", stat, kilngen_num(json_object_get(c, "statistic")), S_REL,
              1e-15, &failures);
        check("chisquare.pvalue", pv, kilngen_num(json_object_get(c, "p_value")), P_REL, P_ABS,
              &failures);
    }
    assert_int_equal(failures, 0);
}

/* Weighted samples equal the same samples with the values repeated. */
static void test_weighted(void **state)
{
    double a[] = { -1.5, 0.0, 2.0, 3.25 }, b[] = { -1.0, 2.0, 4.0 };
    uint64_t wa[] = { 3, 1, 2, 5 }, wb[] = { 2, 2, 7 };
    double ra[11], rb[11];
    size_t k = 0;
    struct kiln_stats_ks k1, k2;
    (void)state;
    for (size_t i = 0; i < 4; i++)
        for (uint64_t j = 0; j < wa[i]; j++)
            ra[k++] = a[i];
    k = 0;
    for (size_t i = 0; i < 3; i++)
        for (uint64_t j = 0; j < wb[i]; j++)
            rb[k++] = b[i];
    {
        struct kiln_stats_sample wsa = { a, wa, 4, 11 }, wsb = { b, wb, 3, 11 };
        struct kiln_stats_sample rsa = { ra, NULL, 11, 11 }, rsb = { rb, NULL, 11, 11 };
        kiln_stats_ks_2samp(&wsa, &wsb, &k1);
        kiln_stats_ks_2samp(&rsa, &rsb, &k2);
        assert_true(k1.statistic == k2.statistic && k1.p_value == k2.p_value);
        assert_true(kiln_stats_wasserstein(&wsa, &wsb) == kiln_stats_wasserstein(&rsa, &rsb));
    }
}

static uint64_t xs = 88172645463325252ULL;
static uint64_t rnd(void)
{
    xs ^= xs << 13;
    xs ^= xs >> 7;
    xs ^= xs << 17;
    return xs;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_sort(void **state)
{
    size_t n = 100000;
    double *v = malloc(n * sizeof(*v)), *w = malloc(n * sizeof(*w)), *t = malloc(n * sizeof(*t));
    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        switch (r % 4) {
        case 0:
            v[i] = (double)(int64_t)(r >> 20) * 1e-3 * ((r & 16) ? -1 : 1);
            break;
        case 1:
            v[i] = (r & 32) ? -0.0 : 0.0;
            break;
        case 2:
            v[i] = (r & 64) ? -INFINITY : INFINITY;
            break;
        default:
            v[i] = ldexp((double)(r >> 11), (int)(r % 200) - 150);
            break;
        }
        w[i] = v[i];
    }
    kiln_stats_sort(v, n, t);
    qsort(w, n, sizeof(*w), cmp);
    for (size_t i = 0; i < n; i++)
        assert_true(v[i] == w[i]);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i - 1] <= v[i]);
    free(v);
    free(w);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kolmogn), cmocka_unit_test(test_ks_exact),
        cmocka_unit_test(test_special), cmocka_unit_test(test_samples),
        cmocka_unit_test(test_vectors), cmocka_unit_test(test_weighted),
        cmocka_unit_test(test_sort),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

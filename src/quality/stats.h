/*
 * stats.h - the statistics behind drift detection, ported from SciPy 1.10.1 (the version in
 * Debian 12) so that kiln's numbers match SciPy's: two-sample Kolmogorov-Smirnov with its
 * exact and asymptotic p-values, the Kolmogorov distribution (scipy.stats.kstwo), the
 * one-sided Smirnov distribution (scipy.special.smirnov), chi-square and normal tails,
 * Wasserstein-1 distance, relative entropy, Jensen-Shannon distance, PSI, and sorting.
 *
 * Samples are sorted arrays of finite doubles with optional integer weights (a weight w
 * stands for w equal observations), so the same code serves raw data (no weights) and
 * quantile sketches (weighted items).
 *
 * All functions are pure and thread-safe (no lgamma/signgam, no static state).
 * Accuracy against SciPy (tests/unit/quality/fixtures): statistics to 1e-9 relative,
 * p-values to 1e-6 relative or 1e-12 absolute.
 */
#ifndef KILN_QUALITY_STATS_H
#define KILN_QUALITY_STATS_H

#include <stddef.h>
#include <stdint.h>

/* A sorted sample: v ascending and finite; w NULL (each value once) or weights >= 1. */
struct kiln_stats_sample {
    const double *v;
    const uint64_t *w;
    size_t n;       /* entries in v (and w) */
    uint64_t total; /* sum of weights (n when w is NULL); must be > 0 */
};

/* Two-sided two-sample KS result. */
struct kiln_stats_ks {
    double statistic; /* D; rounded to h/lcm(n1, n2) when the p-value is exact (as SciPy) */
    double p_value;
    int exact; /* 1 when the exact distribution was used */
};

/*
 * scipy.stats.ks_2samp(a, b) with method='auto', alternative='two-sided': exact p-value
 * when max(n1, n2) <= 10000 (falling back to asymptotic when the exact computation fails,
 * as SciPy does), else kstwo.sf(D, round(n1*n2/(n1+n2))). n1 and n2 are the totals.
 */
void kiln_stats_ks_2samp(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b,
                         struct kiln_stats_ks *out /* OUT */);

/*
 * kiln_stats_ks_2samp and kiln_stats_wasserstein of the same samples in one pass over their
 * merge (the drift report needs both). OUT: *ks, *w1.
 */
void kiln_stats_ks_wasserstein(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b,
                               struct kiln_stats_ks *ks /* OUT */, double *w1 /* OUT */);

/*
 * Exact two-sided p-value P(D >= h/lcm(n1, n2)) for sample sizes n1, n2 (SciPy's
 * _compute_prob_outside_square when n1 == n2, else _compute_outer_prob_inside_method),
 * unclipped: rounding can put it slightly outside [0, 1], in which case ks_2samp falls back
 * to the asymptotic distribution as SciPy does. NaN when scratch memory is not available.
 */
double kiln_stats_ks_exact_p(uint64_t n1, uint64_t n2, uint64_t h);

/* scipy.stats.kstwo.sf(x, n): survival function of the two-sided one-sample KS statistic. */
double kiln_stats_kolmogn_sf(int64_t n, double x);
/* scipy.special.smirnov(n, x): survival function of the one-sided one-sample statistic. */
double kiln_stats_smirnov(int64_t n, double x);

/* scipy.stats.chi2.sf(x, df); NaN when df <= 0 (SciPy's bad-argument value). */
double kiln_stats_chi2_sf(double x, double df);
/* scipy.stats.norm.cdf(x) (cephes ndtr). */
double kiln_stats_norm_cdf(double x);
/* log(Gamma(x)) for x > 0, thread-safe (libm's lgamma writes signgam). */
double kiln_stats_lgamma(double x);

/* scipy.stats.wasserstein_distance(a, b): W1 between the (weighted) empirical laws. */
double kiln_stats_wasserstein(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b);

/*
 * scipy.stats.entropy(p, q): both vectors are renormalised to sum 1, then
 * sum p*ln(p/q) (0 where p is 0, +inf where p > 0 and q is 0).
 */
double kiln_stats_entropy(const double *p, const double *q, size_t n);
/* scipy.spatial.distance.jensenshannon(p, q): sqrt of the JS divergence, natural log. */
double kiln_stats_jensenshannon(const double *p, const double *q, size_t n);
/*
 * Evidently's zero floor before PSI and KL: empty bins get 0.0001, or a millionth of the
 * smallest non-zero share when that is 0.0001 or less (all-zero vectors stay as they are).
 */
void kiln_stats_floor_zeros(double *p, size_t n);
/* Population stability index sum (r - c) * ln(r / c) over already floored shares. */
double kiln_stats_psi(const double *r, const double *c, size_t n);
/*
 * scipy.stats.chisquare(obs, exp): statistic sum (o - e)^2 / e (+inf when some e is 0 and
 * its o is not) and p = chi2.sf(statistic, n - 1). OUT: *stat, *p.
 */
void kiln_stats_chisquare(const double *obs, const double *exp, size_t n, double *stat /* OUT */,
                          double *p /* OUT */);

/*
 * Sorts n doubles ascending (LSD radix sort on the IEEE bits; -0.0 sorts before 0.0 and
 * compares equal to it). `tmp` must hold n doubles, or be NULL to sort in place with an
 * introsort (used for n <= 2048 anyway). NaN must not be present.
 */
void kiln_stats_sort(double *v, size_t n, double *tmp);

#endif

/*
 * ks.c - two-sample Kolmogorov-Smirnov test as scipy.stats.ks_2samp (SciPy 1.10.1) computes
 * it with method='auto' and alternative='two-sided' (see stats.h).
 *
 * The statistic is evaluated like SciPy: at every distinct value of the pooled sample the
 * two empirical CDFs are count/n as doubles, their difference is taken in double, and D is
 * the larger of the maximum difference and the clipped negated minimum. For the exact
 * p-value D is rounded to h/lcm(n1, n2) (h = round-half-even of D*lcm) and the lattice-path
 * recursions of Hodges (1958), in Viehmann's numerically stable 1-p form, are run exactly
 * as SciPy's _compute_prob_outside_square and _compute_outer_prob_inside_method do.
 *
 * Pure functions; thread-safe. The outer-probability recursion needs one scratch column of
 * at most n+1 doubles, allocated with kiln_malloc (on failure the asymptotic path is used,
 * like SciPy's own fallback when the exact computation does not succeed).
 */
#include <math.h>

#include "core/mem.h"
#include "quality/stats.h"

#define MAX_AUTO_N 10000

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Pr(D_{n,n} >= h/n): SciPy's Horner-like alternating sum. */
static double prob_outside_square(uint64_t n, uint64_t h)
{
    double P = 0.0;
    int64_t k = (int64_t)floor((double)n / (double)h);
    while (k >= 0) {
        double p1 = 1.0;
        for (uint64_t j = 0; j < h; j++)
            p1 = ((double)n - (double)k * (double)h - (double)j) * p1 /
                 ((double)n + (double)k * (double)h + (double)j + 1.0);
        P = p1 * (1.0 - P);
        k--;
    }
    return 2 * P;
}

/*
 * 1 - (proportion of lattice paths from (0,0) to (m,n) staying strictly inside
 * |x/m - y/n| < h/lcm), by the column recursion with a sliding window. m >= n.
 */
static double outer_prob_inside(int64_t m, int64_t n, int64_t g, int64_t h)
{
    int64_t mg, ng, minj, maxj, curlen, lenA;
    double *A, result;

    if (m < n) {
        int64_t t = m;
        m = n;
        n = t;
    }
    mg = m / g;
    ng = n / g;
    minj = 0;
    maxj = (int64_t)ceil((double)h / (double)mg);
    if (maxj > n + 1)
        maxj = n + 1;
    curlen = maxj - minj;
    lenA = 2 * maxj + 2;
    if (lenA > n + 1)
        lenA = n + 1;
    A = kiln_malloc((size_t)lenA * sizeof(*A));
    if (A == NULL)
        return NAN;
    for (int64_t i = 0; i < lenA; i++)
        A[i] = 1.0;
    for (int64_t i = minj; i < maxj; i++)
        A[i] = 0.0;
    for (int64_t i = 1; i <= m; i++) {
        int64_t lastminj = minj, lastlen = curlen;
        double val;
        minj = (int64_t)floor((double)(ng * i - h) / (double)mg) + 1;
        if (minj < 0)
            minj = 0;
        if (minj > n)
            minj = n;
        maxj = (int64_t)ceil((double)(ng * i + h) / (double)mg);
        if (maxj > n + 1)
            maxj = n + 1;
        if (maxj <= minj) {
            kiln_free(A);
            return 1.0;
        }
        val = minj == 0 ? 0.0 : 1.0;
        for (int64_t jj = 0; jj < maxj - minj; jj++) {
            int64_t j = jj + minj;
            val = (A[jj + minj - lastminj] * (double)i + val * (double)j) / (double)(i + j);
            A[jj] = val;
        }
        curlen = maxj - minj;
        if (lastlen > curlen)
            for (int64_t t = maxj - minj; t < maxj - minj + (lastlen - curlen) && t < lenA; t++)
                A[t] = 1.0;
    }
    result = A[maxj - minj - 1];
    kiln_free(A);
    return result;
}

double kiln_stats_ks_exact_p(uint64_t n1, uint64_t n2, uint64_t h)
{
    uint64_t g = gcd_u64(n1, n2);
    double p;
    if (h == 0)
        return 1.0;
    if (n1 == n2)
        p = prob_outside_square(n1, h);
    else
        p = outer_prob_inside((int64_t)n1, (int64_t)n2, (int64_t)g, (int64_t)h);
    return p;
}

/* Weight of entry i (1 when unweighted). */
static uint64_t wt(const struct kiln_stats_sample *s, size_t i)
{
    return s->w != NULL ? s->w[i] : 1;
}

/* numpy.round: half to even. */
static double round_half_even(double x)
{
    double r = nearbyint(x); /* default rounding mode is to-nearest-even */
    return r;
}

struct ksum {
    double s, c;
};

static void ksum_add(struct ksum *k, double x)
{
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

/*
 * One pass over the merge of a and b: D as SciPy computes it (the larger of the maximum
 * CDF difference and the clipped negated minimum, each CDF count/n in double) and, when w1
 * is not NULL, the Wasserstein-1 distance sum |F_a - F_b| * (next - x).
 */
static double merge_pass(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b,
                         double *w1)
{
    size_t i = 0, j = 0;
    uint64_t c1 = 0, c2 = 0;
    double maxd = -INFINITY, mind = INFINITY, d, minS, maxS;
    double dn1 = (double)a->total, dn2 = (double)b->total;
    struct ksum sum = { 0, 0 };

    while (i < a->n || j < b->n) {
        double x, fa, fb;
        if (j >= b->n || (i < a->n && a->v[i] <= b->v[j]))
            x = a->v[i];
        else
            x = b->v[j];
        while (i < a->n && a->v[i] == x)
            c1 += wt(a, i++);
        while (j < b->n && b->v[j] == x)
            c2 += wt(b, j++);
        fa = (double)c1 / dn1;
        fb = (double)c2 / dn2;
        d = fa - fb;
        if (d > maxd)
            maxd = d;
        if (d < mind)
            mind = d;
        if (w1 != NULL && (i < a->n || j < b->n)) {
            double next = (j >= b->n || (i < a->n && a->v[i] <= b->v[j])) ? a->v[i] : b->v[j];
            ksum_add(&sum, fabs(d) * (next - x));
        }
    }
    if (w1 != NULL)
        *w1 = sum.s + sum.c;
    minS = -mind;
    if (minS < 0)
        minS = 0;
    if (minS > 1)
        minS = 1;
    maxS = maxd;
    return minS > maxS ? minS : maxS;
}

/* The p-value for D (exact or asymptotic as ks_2samp chooses); fills out. */
static void pvalue(uint64_t n1, uint64_t n2, double d, struct kiln_stats_ks *out)
{
    out->exact = 0;
    if ((n1 > n2 ? n1 : n2) <= MAX_AUTO_N) {
        uint64_t g = gcd_u64(n1, n2);
        double lcm = (double)(n1 / g) * (double)n2;
        double h = round_half_even(d * lcm);
        double dd = h / lcm;
        double p = kiln_stats_ks_exact_p(n1, n2, (uint64_t)h);
        if (p >= 0.0 && p <= 1.0) {
            out->statistic = dd;
            out->p_value = p;
            out->exact = 1;
            return;
        }
        d = dd;
    }
    {
        double dn1 = (double)n1, dn2 = (double)n2;
        double m = dn1 > dn2 ? dn1 : dn2, n = dn1 > dn2 ? dn2 : dn1;
        double en = m * n / (m + n);
        double p = kiln_stats_kolmogn_sf((int64_t)round_half_even(en), d);
        if (p < 0)
            p = 0;
        if (p > 1)
            p = 1;
        out->statistic = d;
        out->p_value = p;
    }
}

void kiln_stats_ks_2samp(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b,
                         struct kiln_stats_ks *out)
{
    pvalue(a->total, b->total, merge_pass(a, b, NULL), out);
}

void kiln_stats_ks_wasserstein(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b,
                               struct kiln_stats_ks *ks, double *w1)
{
    pvalue(a->total, b->total, merge_pass(a, b, w1), ks);
}

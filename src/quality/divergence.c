/*
 * divergence.c - distances between two distributions, as SciPy 1.10.1 defines them:
 * wasserstein_distance (W1 between empirical laws, on raw values), entropy (relative entropy
 * after renormalising), jensenshannon (the distance: square root of the divergence, natural
 * log), chisquare, and the population stability index. Sums use Neumaier's compensated
 * summation so that long inputs stay within 1e-12 relative of NumPy's pairwise sums.
 * Pure functions; thread-safe.
 */
#include <math.h>

#include "quality/stats.h"

struct ksum {
    double s, c, special; /* special: the sum of non-finite terms (inf, nan) */
};

static void ksum_add(struct ksum *k, double x)
{
    double t;
    if (!isfinite(x)) {
        k->special += x;
        return;
    }
    t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

static double ksum_get(const struct ksum *k)
{
    return k->special != 0 || isnan(k->special) ? k->special : k->s + k->c;
}

static uint64_t wt(const struct kiln_stats_sample *s, size_t i)
{
    return s->w != NULL ? s->w[i] : 1;
}

double kiln_stats_wasserstein(const struct kiln_stats_sample *a, const struct kiln_stats_sample *b)
{
    size_t i = 0, j = 0;
    uint64_t ca = 0, cb = 0;
    struct ksum sum = { 0, 0, 0 };
    double ta = (double)a->total, tb = (double)b->total;
    while (i < a->n || j < b->n) {
        double x, next, fa, fb;
        if (j >= b->n || (i < a->n && a->v[i] <= b->v[j]))
            x = a->v[i];
        else
            x = b->v[j];
        while (i < a->n && a->v[i] == x)
            ca += wt(a, i++);
        while (j < b->n && b->v[j] == x)
            cb += wt(b, j++);
        if (i >= a->n && j >= b->n)
            break;
        if (j >= b->n || (i < a->n && a->v[i] <= b->v[j]))
            next = a->v[i];
        else
            next = b->v[j];
        fa = (double)ca / ta;
        fb = (double)cb / tb;
        ksum_add(&sum, fabs(fa - fb) * (next - x));
    }
    return ksum_get(&sum);
}

static double rel_entr(double x, double y)
{
    if (isnan(x) || isnan(y))
        return NAN;
    if (x > 0 && y > 0)
        return x * log(x / y);
    if (x == 0 && y >= 0)
        return 0;
    return INFINITY;
}

static double total(const double *v, size_t n)
{
    struct ksum s = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++)
        ksum_add(&s, v[i]);
    return ksum_get(&s);
}

double kiln_stats_entropy(const double *p, const double *q, size_t n)
{
    double sp = total(p, n), sq = total(q, n);
    struct ksum s = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++)
        ksum_add(&s, rel_entr(1.0 * p[i] / sp, 1.0 * q[i] / sq));
    return ksum_get(&s);
}

double kiln_stats_jensenshannon(const double *p, const double *q, size_t n)
{
    double sp = total(p, n), sq = total(q, n);
    struct ksum l = { 0, 0, 0 }, r = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        double pi = p[i] / sp, qi = q[i] / sq, m = (pi + qi) / 2.0;
        ksum_add(&l, rel_entr(pi, m));
        ksum_add(&r, rel_entr(qi, m));
    }
    return sqrt((ksum_get(&l) + ksum_get(&r)) / 2.0);
}

void kiln_stats_floor_zeros(double *p, size_t n)
{
    double m = INFINITY, fill;
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0 && p[i] < m)
            m = p[i];
    if (isinf(m))
        return;
    fill = m <= 0.0001 ? m / 1000000.0 : 0.0001;
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0)
            p[i] = fill;
}

double kiln_stats_psi(const double *r, const double *c, size_t n)
{
    struct ksum s = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++)
        ksum_add(&s, (r[i] - c[i]) * log(r[i] / c[i]));
    return ksum_get(&s);
}

void kiln_stats_chisquare(const double *obs, const double *exp, size_t n, double *stat, double *p)
{
    struct ksum s = { 0, 0, 0 };
    int inf = 0;
    for (size_t i = 0; i < n; i++) {
        double d = obs[i] - exp[i];
        if (exp[i] == 0) {
            if (d != 0)
                inf = 1;
            continue;
        }
        ksum_add(&s, d * d / exp[i]);
    }
    *stat = inf ? INFINITY : ksum_get(&s);
    *p = kiln_stats_chi2_sf(*stat, (double)n - 1);
}

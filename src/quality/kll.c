/*
 * kll.c - KLL quantile sketch and quantiles of weighted sorted samples (see sketch.h).
 *
 * Invariants: items at level h weigh 2^h; the weights sum to n; level 0 is an unsorted
 * input buffer of max(k, 4096) items, and level h >= 1 holds at most k*(2/3)^(nlevels-1-h)
 * items (at least 2), kept sorted. Compaction sorts level 0 with the radix sort (so adding a
 * value costs a few nanoseconds amortised, not a comparison sort's log factor), keeps one
 * item when the count is odd, and merges every other item (offset alternating per level,
 * so results are deterministic) into the sorted level above. A large input buffer only
 * lowers the rank error: one compaction adds at most one item's weight of error whatever its
 * size. Levels are plain kiln_malloc'ed arrays grown geometrically.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "quality/sketch.h"
#include "quality/stats.h"

void kiln_kll_init(struct kiln_kll *s, uint32_t k)
{
    memset(s, 0, sizeof(*s));
    s->k = k == 0 ? 2048 : k < 8 ? 8 : k;
    s->nlevels = 1;
    memset(s->sorted, 1, sizeof(s->sorted));
}

void kiln_kll_release(struct kiln_kll *s)
{
    uint32_t k = s->k;
    for (uint32_t h = 0; h < KILN_KLL_MAX_LEVELS; h++)
        kiln_free(s->items[h]);
    kiln_kll_init(s, k);
}

void kiln_kll_reset(struct kiln_kll *s)
{
    kiln_kll_release(s);
}

/* Level 0 is an unsorted input buffer of at least this many items. */
#define KLL_BUFFER 4096

/* Capacities depend on the number of levels; they are recomputed when it changes. */
static uint32_t level_cap(struct kiln_kll *s, uint32_t h)
{
    if (s->caps_for != s->nlevels) {
        for (uint32_t i = 0; i < s->nlevels; i++) {
            double c = ceil((double)s->k * pow(2.0 / 3.0, (double)(s->nlevels - 1 - i)));
            s->level_cap[i] = i == 0  ? (s->k > KLL_BUFFER ? s->k : KLL_BUFFER)
                              : c < 2 ? 2
                                      : (uint32_t)c;
        }
        s->caps_for = s->nlevels;
    }
    return s->level_cap[h];
}

static int reserve(struct kiln_kll *s, uint32_t h, uint32_t need)
{
    double *p;
    uint32_t cap;
    if (need <= s->cap_alloc[h])
        return KILN_OK;
    cap = s->cap_alloc[h] ? s->cap_alloc[h] * 2 : 16;
    while (cap < need)
        cap *= 2;
    p = kiln_reallocarray(s->items[h], cap, sizeof(*p));
    if (p == NULL)
        return KILN_ENOMEM;
    s->items[h] = p;
    s->cap_alloc[h] = cap;
    return KILN_OK;
}

/* Sorts level h in place (radix sort with a temporary buffer when one can be had). */
static void sort_level(struct kiln_kll *s, uint32_t h)
{
    double *tmp;
    if (s->sorted[h])
        return;
    tmp = s->size[h] > 2048 ? kiln_malloc(s->size[h] * sizeof(double)) : NULL;
    kiln_stats_sort(s->items[h], s->size[h], tmp);
    kiln_free(tmp);
    s->sorted[h] = 1;
}

/* Merges the sorted run run[0..m) into sorted level h (capacity already reserved). */
static void merge_into(struct kiln_kll *s, uint32_t h, const double *run, uint32_t m)
{
    double *a = s->items[h];
    uint32_t i = s->size[h], j = m, k = s->size[h] + m;
    while (j > 0) {
        if (i > 0 && a[i - 1] > run[j - 1])
            a[--k] = a[--i];
        else
            a[--k] = run[--j];
    }
    s->size[h] += m;
}

/*
 * Compacts the lowest level at or over its capacity: sorts it (levels above 0 are kept
 * sorted), keeps the smallest item when the count is odd, and merges every other item
 * (offset alternating per level) into the level above, which stays sorted.
 */
static int compact(struct kiln_kll *s)
{
    uint32_t h, n, keep, m = 0, off;
    double kept = 0, *src;
    int rc;
    for (h = 0; h < s->nlevels; h++)
        if (s->size[h] >= level_cap(s, h))
            break;
    if (h == s->nlevels)
        return KILN_OK;
    if (h + 1 == s->nlevels) {
        if (s->nlevels == KILN_KLL_MAX_LEVELS)
            return KILN_ETOOBIG;
        s->nlevels++;
        s->sorted[h + 1] = 1;
    }
    n = s->size[h];
    rc = reserve(s, h + 1, s->size[h + 1] + n / 2);
    if (rc != KILN_OK)
        return rc;
    sort_level(s, h);
    sort_level(s, h + 1);
    src = s->items[h];
    keep = n % 2;
    if (keep)
        kept = src[0];
    off = s->coin[h];
    s->coin[h] ^= 1;
    /* Promote in place: reading index keep + off + 2j never falls behind writing index j. */
    for (uint32_t i = keep + off; i < n; i += 2)
        src[m++] = src[i];
    merge_into(s, h + 1, src, m);
    if (keep)
        src[0] = kept;
    s->size[h] = keep;
    s->sorted[h] = 1;
    return KILN_OK;
}

static size_t total_size(const struct kiln_kll *s)
{
    size_t t = 0;
    for (uint32_t h = 0; h < s->nlevels; h++)
        t += s->size[h];
    return t;
}

static size_t total_cap(struct kiln_kll *s)
{
    size_t t = 0;
    for (uint32_t h = 0; h < s->nlevels; h++)
        t += level_cap(s, h);
    return t;
}

static int settle(struct kiln_kll *s)
{
    while (total_size(s) > total_cap(s) || s->size[0] > level_cap(s, 0)) {
        int rc = compact(s);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

int kiln_kll_add(struct kiln_kll *s, double v)
{
    if (s->size[0] == s->cap_alloc[0]) {
        int rc = reserve(s, 0, s->size[0] + 1);
        if (rc != KILN_OK)
            return rc;
    }
    s->items[0][s->size[0]++] = v;
    s->sorted[0] = 0;
    s->n++;
    if (s->size[0] > level_cap(s, 0))
        return settle(s);
    return KILN_OK;
}

int kiln_kll_add_at(struct kiln_kll *s, double v, uint32_t level)
{
    int rc;
    if (level >= KILN_KLL_MAX_LEVELS - 1)
        return KILN_EINVAL;
    if (level >= s->nlevels)
        s->nlevels = level + 1;
    rc = reserve(s, level, s->size[level] + 1);
    if (rc != KILN_OK)
        return rc;
    if (s->size[level] > 0 && s->items[level][s->size[level] - 1] > v)
        s->sorted[level] = 0;
    s->items[level][s->size[level]++] = v;
    s->n += (uint64_t)1 << level;
    return KILN_OK;
}

int kiln_kll_merge(struct kiln_kll *dst, const struct kiln_kll *src)
{
    for (uint32_t h = 0; h < src->nlevels; h++) {
        int rc;
        if (src->size[h] == 0)
            continue;
        if (h >= dst->nlevels)
            dst->nlevels = h + 1;
        rc = reserve(dst, h, dst->size[h] + src->size[h]);
        if (rc != KILN_OK)
            return rc;
        memcpy(dst->items[h] + dst->size[h], src->items[h], src->size[h] * sizeof(double));
        dst->size[h] += src->size[h];
        dst->sorted[h] = 0;
    }
    dst->n += src->n;
    return settle(dst);
}

int kiln_kll_exact(const struct kiln_kll *s)
{
    return s->nlevels == 1;
}

size_t kiln_kll_items(const struct kiln_kll *s)
{
    return total_size(s);
}

struct vw {
    double v;
    uint64_t w;
};

static int cmp_vw(const void *a, const void *b)
{
    double x = ((const struct vw *)a)->v, y = ((const struct vw *)b)->v;
    return (x > y) - (x < y);
}

int kiln_kll_sorted(const struct kiln_kll *s, double **v, uint64_t **w, size_t *n)
{
    size_t total = total_size(s), k = 0, m = 0;
    struct vw *all = kiln_calloc(total + 1, sizeof(*all));
    double *ov = kiln_calloc(total + 1, sizeof(*ov));
    uint64_t *ow = kiln_calloc(total + 1, sizeof(*ow));
    if (all == NULL || ov == NULL || ow == NULL) {
        kiln_free(all);
        kiln_free(ov);
        kiln_free(ow);
        return KILN_ENOMEM;
    }
    for (uint32_t h = 0; h < s->nlevels; h++)
        for (uint32_t i = 0; i < s->size[h]; i++) {
            all[k].v = s->items[h][i];
            all[k++].w = (uint64_t)1 << h;
        }
    qsort(all, total, sizeof(*all), cmp_vw);
    for (size_t i = 0; i < total; i++) {
        if (m > 0 && ov[m - 1] == all[i].v) {
            ow[m - 1] += all[i].w;
        } else {
            ov[m] = all[i].v;
            ow[m++] = all[i].w;
        }
    }
    kiln_free(all);
    *v = ov;
    *w = ow;
    *n = m;
    return KILN_OK;
}

/* The value at 0-based rank r of the expanded weighted sample. */
static double at_rank(const double *v, const uint64_t *w, size_t n, uint64_t r)
{
    uint64_t cum = 0;
    if (w == NULL)
        return v[r < n ? r : n - 1];
    for (size_t i = 0; i < n; i++) {
        cum += w[i];
        if (r < cum)
            return v[i];
    }
    return v[n - 1];
}

static double virtual_index(uint64_t total, double q)
{
    /* numpy 1.24's 'linear' and 'nearest' methods: (n - 1) * q. */
    return (double)(total - 1) * q;
}

double kiln_quantile_linear(const double *v, const uint64_t *w, size_t n, uint64_t total, double q)
{
    double vi, prev, gamma, a, b, diff, r;
    if (n == 0 || total == 0)
        return NAN;
    vi = virtual_index(total, q);
    prev = floor(vi);
    gamma = vi - prev;
    if (vi >= (double)(total - 1)) {
        return at_rank(v, w, n, total - 1);
    }
    if (vi < 0)
        return at_rank(v, w, n, 0);
    a = at_rank(v, w, n, (uint64_t)prev);
    b = at_rank(v, w, n, (uint64_t)prev + 1);
    diff = b - a;
    r = a + diff * gamma;
    if (gamma >= 0.5)
        r = b - diff * (1 - gamma);
    return r;
}

double kiln_quantile_nearest(const double *v, const uint64_t *w, size_t n, uint64_t total, double q)
{
    double vi;
    if (n == 0 || total == 0)
        return NAN;
    vi = nearbyint(virtual_index(total, q));
    if (vi < 0)
        vi = 0;
    if (vi > (double)(total - 1))
        vi = (double)(total - 1);
    return at_rank(v, w, n, (uint64_t)vi);
}

size_t kiln_quantile_edges(const double *v, const uint64_t *w, size_t n, uint64_t total,
                           uint32_t nbins, double *edges)
{
    size_t ne = 0;
    for (uint32_t i = 1; i < nbins; i++) {
        double e = kiln_quantile_linear(v, w, n, total, (double)i / (double)nbins);
        if (ne == 0 || e != edges[ne - 1])
            edges[ne++] = e;
    }
    return ne;
}

void kiln_bin_count_right(const double *v, const uint64_t *w, size_t n, const double *edges,
                          size_t ne, uint64_t *counts)
{
    size_t b = 0;
    /* v is sorted: walk the edges along with it. */
    for (size_t i = 0; i < n; i++) {
        while (b < ne && edges[b] <= v[i])
            b++;
        counts[b] += w != NULL ? w[i] : 1;
    }
}

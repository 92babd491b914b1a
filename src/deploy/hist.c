/*
 * hist.c - log-linear histograms (hist.h): bucket keys, sorted sparse storage, merging,
 * quantiles, the JSON wire form and the PSI / Jensen-Shannon divergence of two histograms.
 *
 * Invariant: b[0..n) is sorted by key with no duplicate keys and no zero counts; total is the
 * sum of the counts. Every function leaves the histogram unchanged when it fails.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "deploy/hist.h"
#include "quality/sketch.h"
#include "quality/stats.h"

#define MAX_COUNT ((uint64_t)1 << 53)

int kiln_hist_key(double v)
{
    double a = fabs(v), frac;
    int e, m, key;
    if (!(a >= ldexp(1.0, KILN_HIST_EMIN)))
        return 0;
    frac = frexp(a, &e); /* a = frac * 2^e with frac in [0.5, 1) */
    e -= 1;              /* a = (2 frac) * 2^e, 2 frac in [1, 2) */
    if (e > KILN_HIST_EMAX) {
        e = KILN_HIST_EMAX;
        m = KILN_HIST_SUB - 1;
    } else {
        m = (int)((2.0 * frac - 1.0) * KILN_HIST_SUB);
        if (m >= KILN_HIST_SUB)
            m = KILN_HIST_SUB - 1;
    }
    key = 1 + (e - KILN_HIST_EMIN) * KILN_HIST_SUB + m;
    return v < 0 ? -key : key;
}

static void bounds(int key, double *lo, double *hi)
{
    int k = key < 0 ? -key : key, e, m;
    double a, b;
    if (k == 0) {
        *lo = *hi = 0;
        return;
    }
    e = (k - 1) / KILN_HIST_SUB + KILN_HIST_EMIN;
    m = (k - 1) % KILN_HIST_SUB;
    a = ldexp(1.0 + (double)m / KILN_HIST_SUB, e);
    b = ldexp(1.0 + (double)(m + 1) / KILN_HIST_SUB, e);
    if (key < 0) {
        *lo = -b;
        *hi = -a;
    } else {
        *lo = a;
        *hi = b;
    }
}

double kiln_hist_lower(int key)
{
    double lo, hi;
    bounds(key, &lo, &hi);
    return lo;
}

double kiln_hist_upper(int key)
{
    double lo, hi;
    bounds(key, &lo, &hi);
    return hi;
}

double kiln_hist_mid(int key)
{
    double lo, hi;
    bounds(key, &lo, &hi);
    return (lo + hi) / 2;
}

void kiln_hist_init(struct kiln_hist *h)
{
    memset(h, 0, sizeof(*h));
}

void kiln_hist_release(struct kiln_hist *h)
{
    kiln_free(h->b);
    kiln_hist_init(h);
}

void kiln_hist_reset(struct kiln_hist *h)
{
    h->n = 0;
    h->total = 0;
    h->sum = 0;
}

/* Index of the first bucket with key >= key. */
static size_t lower_bound(const struct kiln_hist *h, int key)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->b[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int kiln_hist_add_key(struct kiln_hist *h, int key, uint64_t count, double sum)
{
    size_t i;
    if (key < -KILN_HIST_KEY_MAX || key > KILN_HIST_KEY_MAX)
        return KILN_EINVAL;
    if (count == 0)
        return KILN_OK;
    i = lower_bound(h, key);
    if (i == h->n || h->b[i].key != key) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            struct kiln_hist_bucket *nb = kiln_reallocarray(h->b, cap, sizeof(*nb));
            if (nb == NULL)
                return KILN_ENOMEM;
            h->b = nb;
            h->cap = cap;
        }
        memmove(&h->b[i + 1], &h->b[i], (h->n - i) * sizeof(h->b[0]));
        h->b[i].key = key;
        h->b[i].count = 0;
        h->n++;
    }
    h->b[i].count += count;
    h->total += count;
    h->sum += sum;
    return KILN_OK;
}

int kiln_hist_add(struct kiln_hist *h, double v, uint64_t count)
{
    if (!isfinite(v))
        return KILN_OK;
    return kiln_hist_add_key(h, kiln_hist_key(v), count, v * (double)count);
}

int kiln_hist_merge(struct kiln_hist *dst, const struct kiln_hist *src)
{
    struct kiln_hist_bucket *out;
    size_t i = 0, j = 0, k = 0, alloc = dst->n + src->n;
    if (src->n == 0) {
        dst->sum += src->sum;
        return KILN_OK;
    }
    out = kiln_reallocarray(NULL, alloc, sizeof(*out));
    if (out == NULL)
        return KILN_ENOMEM;
    while (i < dst->n || j < src->n) {
        if (j == src->n || (i < dst->n && dst->b[i].key < src->b[j].key))
            out[k++] = dst->b[i++];
        else if (i == dst->n || src->b[j].key < dst->b[i].key)
            out[k++] = src->b[j++];
        else {
            out[k] = dst->b[i++];
            out[k++].count += src->b[j++].count;
        }
    }
    kiln_free(dst->b);
    dst->b = out;
    dst->n = k;
    dst->cap = alloc;
    dst->total += src->total;
    dst->sum += src->sum;
    return KILN_OK;
}

int kiln_hist_copy(struct kiln_hist *dst, const struct kiln_hist *src)
{
    struct kiln_hist tmp;
    kiln_hist_init(&tmp);
    if (kiln_hist_merge(&tmp, src) != KILN_OK)
        return KILN_ENOMEM;
    kiln_hist_release(dst);
    *dst = tmp;
    return KILN_OK;
}

double kiln_hist_quantile(const struct kiln_hist *h, double q)
{
    uint64_t rank, seen = 0;
    if (h->total == 0 || !(q >= 0 && q <= 1))
        return NAN;
    rank = (uint64_t)ceil(q * (double)h->total);
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < h->n; i++) {
        seen += h->b[i].count;
        if (seen >= rank)
            return kiln_hist_mid(h->b[i].key);
    }
    return kiln_hist_mid(h->b[h->n - 1].key);
}

double kiln_hist_mean(const struct kiln_hist *h)
{
    return h->total == 0 ? NAN : h->sum / (double)h->total;
}

uint64_t kiln_hist_count_below(const struct kiln_hist *h, double x)
{
    uint64_t c = 0;
    for (size_t i = 0; i < h->n && kiln_hist_mid(h->b[i].key) < x; i++)
        c += h->b[i].count;
    return c;
}

void kiln_hist_write(struct kiln_jsonw *w, const struct kiln_hist *h)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "n", (int64_t)h->total);
    kiln_jsonw_key(w, "sum");
    kiln_jsonw_double_or_null(w, h->sum);
    kiln_jsonw_key(w, "b");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < h->n; i++) {
        kiln_jsonw_arr_begin(w);
        kiln_jsonw_int(w, h->b[i].key);
        kiln_jsonw_int(w, (int64_t)h->b[i].count);
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

/* A non-negative integer JSON number (an integral real is accepted). */
static int read_count(const json_t *v, uint64_t *out)
{
    double d;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return KILN_EINVAL;
        *out = (uint64_t)json_integer_value(v);
        return *out <= MAX_COUNT ? KILN_OK : KILN_EINVAL;
    }
    if (!json_is_real(v))
        return KILN_EINVAL;
    d = json_real_value(v);
    if (!(d >= 0 && d <= (double)MAX_COUNT) || d != floor(d))
        return KILN_EINVAL;
    *out = (uint64_t)d;
    return KILN_OK;
}

static int read_pairs(const json_t *b, const char *what, struct kiln_hist *h, struct kiln_err *err)
{
    const json_t *pair;
    size_t i;
    if (!json_is_array(b))
        return kiln_err_set(err, KILN_EINVAL, "%s.b: expected an array of [key, count] pairs",
                            what);
    if (json_array_size(b) > KILN_HIST_MAX_BUCKETS)
        return kiln_err_set(err, KILN_EINVAL, "%s.b: more than %d buckets", what,
                            KILN_HIST_MAX_BUCKETS);
    json_array_foreach(b, i, pair)
    {
        const json_t *k = json_array_get(pair, 0);
        uint64_t count;
        int rc;
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(k))
            return kiln_err_set(err, KILN_EINVAL, "%s.b[%zu]: expected [key, count]", what, i);
        if (json_integer_value(k) < -KILN_HIST_KEY_MAX || json_integer_value(k) > KILN_HIST_KEY_MAX)
            return kiln_err_set(err, KILN_EINVAL, "%s.b[%zu]: key %lld out of range [-%d, %d]",
                                what, i, (long long)json_integer_value(k), KILN_HIST_KEY_MAX,
                                KILN_HIST_KEY_MAX);
        if (read_count(json_array_get(pair, 1), &count) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "%s.b[%zu]: count must be an integer between 0 and 2^53", what, i);
        if (h->total + count > MAX_COUNT)
            return kiln_err_set(err, KILN_EINVAL, "%s: total count above 2^53", what);
        rc = kiln_hist_add_key(h, (int)json_integer_value(k), count, 0);
        if (rc != KILN_OK)
            return kiln_err_set(err, rc, "out of memory");
    }
    return KILN_OK;
}

int kiln_hist_read(const json_t *obj, const char *what, struct kiln_hist *h, struct kiln_err *err)
{
    const json_t *b, *n, *sum;
    uint64_t declared;
    int rc;
    kiln_hist_init(h);
    if (!json_is_object(obj))
        return kiln_err_set(err, KILN_EINVAL, "%s: expected an object {n, sum, b}", what);
    b = json_object_get(obj, "b");
    n = json_object_get(obj, "n");
    sum = json_object_get(obj, "sum");
    if (b != NULL && !json_is_null(b)) {
        rc = read_pairs(b, what, h, err);
        if (rc != KILN_OK)
            return rc;
    }
    if (n != NULL && !json_is_null(n)) {
        if (read_count(n, &declared) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL, "%s.n: expected a non-negative integer", what);
        if (declared != h->total)
            return kiln_err_set(err, KILN_EINVAL,
                                "%s.n: %llu does not match the bucket counts (%llu)", what,
                                (unsigned long long)declared, (unsigned long long)h->total);
    }
    if (sum != NULL && !json_is_null(sum)) {
        if (!json_is_number(sum) || !isfinite(json_number_value(sum)))
            return kiln_err_set(err, KILN_EINVAL, "%s.sum: expected a finite number", what);
        h->sum = json_number_value(sum);
    } else {
        /* No exact sum: estimate it from the bucket midpoints. */
        for (size_t i = 0; i < h->n; i++)
            h->sum += kiln_hist_mid(h->b[i].key) * (double)h->b[i].count;
    }
    return KILN_OK;
}

/* Bucket midpoints and counts of h as a sorted weighted sample. */
static void sample(const struct kiln_hist *h, double *v, uint64_t *w)
{
    for (size_t i = 0; i < h->n; i++) {
        v[i] = kiln_hist_mid(h->b[i].key);
        w[i] = h->b[i].count;
    }
}

int kiln_hist_divergence(const struct kiln_hist *ref, const struct kiln_hist *cur, uint32_t nbins,
                         double *psi, double *js)
{
    size_t nv = ref->n > cur->n ? ref->n : cur->n, ne;
    double *v = NULL, *edges = NULL, *rs = NULL, *cs = NULL, *rf = NULL, *cf = NULL;
    uint64_t *w = NULL, *rc = NULL, *cc = NULL;
    int rc_ = KILN_OK;

    *psi = *js = NAN;
    if (ref->total == 0 || cur->total == 0)
        return KILN_OK;
    if (nbins < 2)
        nbins = 2;
    v = kiln_calloc(nv, sizeof(*v));
    w = kiln_calloc(nv, sizeof(*w));
    edges = kiln_calloc(nbins, sizeof(*edges));
    rc = kiln_calloc(nbins, sizeof(*rc));
    cc = kiln_calloc(nbins, sizeof(*cc));
    rs = kiln_calloc(nbins, sizeof(*rs));
    cs = kiln_calloc(nbins, sizeof(*cs));
    rf = kiln_calloc(nbins, sizeof(*rf));
    cf = kiln_calloc(nbins, sizeof(*cf));
    if (v == NULL || w == NULL || edges == NULL || rc == NULL || cc == NULL || rs == NULL ||
        cs == NULL || rf == NULL || cf == NULL) {
        rc_ = KILN_ENOMEM;
        goto out;
    }
    sample(ref, v, w);
    ne = kiln_quantile_edges(v, w, ref->n, ref->total, nbins, edges);
    kiln_bin_count_right(v, w, ref->n, edges, ne, rc);
    sample(cur, v, w);
    kiln_bin_count_right(v, w, cur->n, edges, ne, cc);
    for (size_t i = 0; i <= ne; i++) {
        rs[i] = rf[i] = (double)rc[i] / (double)ref->total;
        cs[i] = cf[i] = (double)cc[i] / (double)cur->total;
    }
    kiln_stats_floor_zeros(rf, ne + 1);
    kiln_stats_floor_zeros(cf, ne + 1);
    *psi = kiln_stats_psi(rf, cf, ne + 1);
    *js = kiln_stats_jensenshannon(rs, cs, ne + 1);
out:
    kiln_free(v);
    kiln_free(w);
    kiln_free(edges);
    kiln_free(rc);
    kiln_free(cc);
    kiln_free(rs);
    kiln_free(cs);
    kiln_free(rf);
    kiln_free(cf);
    return rc_;
}

/*
 * drift_bins.c - binning for PSI, KL and JS, exactly as Evidently's get_binned_data does it
 * (drift-semantics.md section 4), plus reference-quantile bins:
 *   - numeric column with more than 20 distinct reference values, Sturges: the combined
 *     range [lo, hi] of both sides, nb = int(ceil((hi-lo) / ((hi-lo) / (log2(N) + 1.0))))
 *     (the two divisions matter), edges i*((hi-lo)/nb) + lo with the last edge = hi, bins
 *     [e_i, e_i+1) and a closed last bin, as numpy.histogram with explicit edges;
 *   - quantile:N: inner edges at the reference's 'linear' quantiles i/N (duplicates
 *     dropped), open-ended first and last bins;
 *   - otherwise one bin per distinct value of ref and cur together.
 * Shares are counts divided by the side's number of values. The zero floor (PSI and KL
 * only) is applied in kiln_drift_divergences, per side: zeros become min_nonzero/1e6 when
 * min_nonzero <= 1e-4, else 1e-4, without renormalising.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "quality/drift_int.h"
#include "quality/num.h"

static int alloc_bins(struct kiln_drift_column *o, size_t n)
{
    o->nbins = n;
    o->bin_labels = kiln_calloc(n + 1, sizeof(*o->bin_labels));
    o->ref_share = kiln_calloc(n + 1, sizeof(double));
    o->cur_share = kiln_calloc(n + 1, sizeof(double));
    if (o->bin_labels == NULL || o->ref_share == NULL || o->cur_share == NULL)
        return KILN_ENOMEM;
    return KILN_OK;
}

static int set_label(struct kiln_drift_column *o, size_t i, const char *fmt_lo, double lo,
                     double hi, int closed)
{
    char a[32], b[32], buf[80];
    kiln_num_format(lo, a, sizeof(a));
    kiln_num_format(hi, b, sizeof(b));
    snprintf(buf, sizeof(buf), "%s%s, %s%c", fmt_lo, a, b, closed ? ']' : ')');
    o->bin_labels[i] = kiln_strdup(buf);
    return o->bin_labels[i] != NULL ? KILN_OK : KILN_ENOMEM;
}

/* Counts of a sorted weighted sample in [e_i, e_i+1), the last bin closed. */
static void count_edges(const struct kiln_dcol *s, const double *e, size_t nb, uint64_t *cnt)
{
    size_t b = 0;
    for (size_t i = 0; i < s->nv; i++) {
        while (b + 1 < nb && s->v[i] >= e[b + 1])
            b++;
        cnt[b] += s->w != NULL ? s->w[i] : 1;
    }
}

static int bin_sturges(const struct kiln_dcol *r, const struct kiln_dcol *c,
                       struct kiln_drift_column *o)
{
    double lo = r->min < c->min ? r->min : c->min, hi = r->max > c->max ? r->max : c->max;
    double n = (double)(r->n + c->n), width, step, *e;
    uint64_t *cr, *cc;
    size_t nb = 1;
    int rc;

    width = (hi - lo) / (log2(n) + 1.0);
    if (width != 0)
        nb = (size_t)ceil((hi - lo) / width);
    if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
    }
    e = kiln_calloc(nb + 1, sizeof(*e));
    cr = kiln_calloc(nb + 1, sizeof(*cr));
    cc = kiln_calloc(nb + 1, sizeof(*cc));
    rc = e != NULL && cr != NULL && cc != NULL ? alloc_bins(o, nb) : KILN_ENOMEM;
    if (rc == KILN_OK) {
        step = (hi - lo) / (double)nb;
        for (size_t i = 0; i < nb; i++)
            e[i] = (double)i * step + lo;
        e[nb] = hi;
        count_edges(r, e, nb, cr);
        count_edges(c, e, nb, cc);
        for (size_t i = 0; i < nb && rc == KILN_OK; i++) {
            o->ref_share[i] = (double)cr[i] / (double)r->n;
            o->cur_share[i] = (double)cc[i] / (double)c->n;
            rc = set_label(o, i, "[", e[i], e[i + 1], i + 1 == nb);
        }
        o->binning = "sturges";
    }
    kiln_free(e);
    kiln_free(cr);
    kiln_free(cc);
    return rc;
}

static int bin_quantile(const struct kiln_dcol *r, const struct kiln_dcol *c, uint32_t nbins,
                        struct kiln_drift_column *o)
{
    double *e = kiln_calloc(nbins + 1, sizeof(*e));
    uint64_t *cr = kiln_calloc(nbins + 1, sizeof(*cr)), *cc = kiln_calloc(nbins + 1, sizeof(*cc));
    size_t ne;
    int rc = KILN_OK;
    if (e == NULL || cr == NULL || cc == NULL) {
        rc = KILN_ENOMEM;
        goto out;
    }
    ne = kiln_quantile_edges(r->v, r->w, r->nv, r->n, nbins, e);
    kiln_bin_count_right(r->v, r->w, r->nv, e, ne, cr);
    kiln_bin_count_right(c->v, c->w, c->nv, e, ne, cc);
    if ((rc = alloc_bins(o, ne + 1)) != KILN_OK)
        goto out;
    for (size_t i = 0; i <= ne && rc == KILN_OK; i++) {
        o->ref_share[i] = (double)cr[i] / (double)r->n;
        o->cur_share[i] = (double)cc[i] / (double)c->n;
        rc = set_label(o, i, i == 0 ? "(" : "[", i == 0 ? -INFINITY : e[i - 1],
                       i == ne ? INFINITY : e[i], 0);
    }
    o->binning = "quantile";
out:
    kiln_free(e);
    kiln_free(cr);
    kiln_free(cc);
    return rc;
}

/* Count of value x in a sketch sample (approximate per-value counts). */
static uint64_t sample_count(const struct kiln_dcol *s, double x)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nv; i++)
        if (s->v[i] == x)
            n += s->w != NULL ? s->w[i] : 1;
    return n;
}

static int bin_values(const struct kiln_dcol *r, const struct kiln_dcol *c,
                      struct kiln_drift_column *o)
{
    struct kiln_vlist a, b;
    size_t i = 0, j = 0, k = 0, n = 0;
    int rc, lump;
    char label[40];

    if ((rc = kiln_dcol_vlist(r, &a)) != KILN_OK)
        return rc;
    if ((rc = kiln_dcol_vlist(c, &b)) != KILN_OK) {
        kiln_vlist_release(&a);
        return rc;
    }
    /* A current summary with too many values to list: its values outside the reference's
     * go to one extra bin (approximate). */
    lump = !b.known;
    if (lump)
        o->approximate = 1;
    while (i < a.n || (!lump && j < b.n)) {
        if (!lump && j < b.n && (i >= a.n || b.v[j] < a.v[i]))
            j++;
        else if (!lump && j < b.n && b.v[j] == a.v[i])
            i++, j++;
        else
            i++;
        n++;
    }
    rc = alloc_bins(o, n + (size_t)lump);
    i = j = 0;
    while (rc == KILN_OK && (i < a.n || (!lump && j < b.n))) {
        double x;
        uint64_t rcnt = 0, ccnt = 0;
        if (!lump && j < b.n && (i >= a.n || b.v[j] < a.v[i])) {
            x = b.v[j];
            ccnt = b.c[j++];
        } else if (!lump && j < b.n && b.v[j] == a.v[i]) {
            x = a.v[i];
            rcnt = a.c[i++];
            ccnt = b.c[j++];
        } else {
            x = a.v[i];
            rcnt = a.c[i++];
            if (lump)
                ccnt = sample_count(c, x);
        }
        o->ref_share[k] = (double)rcnt / (double)r->n;
        o->cur_share[k] = (double)ccnt / (double)c->n;
        kiln_num_format(x, label, sizeof(label));
        o->bin_labels[k] = kiln_strdup(label);
        if (o->bin_labels[k++] == NULL)
            rc = KILN_ENOMEM;
    }
    if (rc == KILN_OK && lump) {
        double listed = 0;
        for (size_t t = 0; t < k; t++)
            listed += o->cur_share[t];
        o->ref_share[k] = 0;
        o->cur_share[k] = listed < 1 ? 1 - listed : 0;
        o->bin_labels[k] = kiln_strdup("(other)");
        if (o->bin_labels[k] == NULL)
            rc = KILN_ENOMEM;
    }
    o->binning = "values";
    kiln_vlist_release(&a);
    kiln_vlist_release(&b);
    return rc;
}

int kiln_drift_bin_numeric(const struct kiln_dcol *r, const struct kiln_dcol *c,
                           enum kiln_drift_binning binning, uint32_t nbins,
                           struct kiln_drift_column *out)
{
    if (kiln_dcol_distinct(r, 20) > 20) {
        if (!r->exact || !c->exact)
            out->approximate = 1;
        if (binning == KILN_BINS_QUANTILE)
            return bin_quantile(r, c, nbins ? nbins : 10, out);
        return bin_sturges(r, c, out);
    }
    return bin_values(r, c, out);
}

int kiln_drift_bin_categorical(const struct kiln_catview *r, const struct kiln_catview *c,
                               struct kiln_drift_column *out)
{
    size_t i = 0, j = 0, k = 0, n = 0;
    int other = r->other > 0 || c->other > 0, rc;
    while (i < r->n || j < c->n) {
        int cmp;
        if (i >= r->n)
            cmp = 1;
        else if (j >= c->n)
            cmp = -1;
        else {
            size_t m = r->len[i] < c->len[j] ? r->len[i] : c->len[j];
            cmp = memcmp(r->key[i], c->key[j], m);
            if (cmp == 0)
                cmp = (r->len[i] > c->len[j]) - (r->len[i] < c->len[j]);
        }
        if (cmp <= 0)
            i++;
        if (cmp >= 0)
            j++;
        n++;
    }
    rc = alloc_bins(out, n + (size_t)other);
    i = j = 0;
    while (rc == KILN_OK && (i < r->n || j < c->n)) {
        int cmp;
        uint64_t rcnt = 0, ccnt = 0;
        const char *key;
        size_t len;
        if (i >= r->n)
            cmp = 1;
        else if (j >= c->n)
            cmp = -1;
        else {
            size_t m = r->len[i] < c->len[j] ? r->len[i] : c->len[j];
            cmp = memcmp(r->key[i], c->key[j], m);
            if (cmp == 0)
                cmp = (r->len[i] > c->len[j]) - (r->len[i] < c->len[j]);
        }
        if (cmp <= 0) {
            key = r->key[i];
            len = r->len[i];
            rcnt = r->c[i++];
        } else {
            key = c->key[j];
            len = c->len[j];
        }
        if (cmp >= 0)
            ccnt = c->c[j++];
        out->ref_share[k] = (double)rcnt / (double)r->total;
        out->cur_share[k] = (double)ccnt / (double)c->total;
        out->bin_labels[k] = kiln_strndup(key, len);
        if (out->bin_labels[k++] == NULL)
            rc = KILN_ENOMEM;
    }
    if (rc == KILN_OK && other) {
        out->ref_share[k] = (double)r->other / (double)r->total;
        out->cur_share[k] = (double)c->other / (double)c->total;
        out->bin_labels[k] = kiln_strdup("(other)");
        if (out->bin_labels[k] == NULL)
            rc = KILN_ENOMEM;
    }
    out->binning = "values";
    return rc;
}

int kiln_drift_divergences(struct kiln_drift_column *o)
{
    double *r = kiln_calloc(o->nbins + 1, sizeof(double));
    double *c = kiln_calloc(o->nbins + 1, sizeof(double));
    if (r == NULL || c == NULL) {
        kiln_free(r);
        kiln_free(c);
        return KILN_ENOMEM;
    }
    memcpy(r, o->ref_share, o->nbins * sizeof(double));
    memcpy(c, o->cur_share, o->nbins * sizeof(double));
    kiln_stats_floor_zeros(r, o->nbins);
    kiln_stats_floor_zeros(c, o->nbins);
    o->psi = kiln_stats_psi(r, c, o->nbins);
    o->kl_divergence = kiln_stats_entropy(r, c, o->nbins);
    o->jensenshannon = kiln_stats_jensenshannon(o->ref_share, o->cur_share, o->nbins);
    kiln_free(r);
    kiln_free(c);
    return KILN_OK;
}

/*
 * hist.h - the log-linear histogram that carries latencies, scores and confidences from serve
 * replicas to the control plane (and the divergence of two of them).
 *
 * Buckets are fixed for every value, so histograms from any replica merge by adding counts and
 * nothing has to be agreed in advance. A finite value v maps to an integer key:
 *   |v| < 2^-32 (0 included)          -> key 0
 *   otherwise e = floor(log2 |v|) clamped to [-32, 31], m = floor((|v| / 2^e - 1) * 32) in
 *   [0, 31] (values of 2^32 and more all fall in the last bucket, e = 31, m = 31),
 *   key = 1 + (e + 32) * 32 + m, negated for negative v (so keys sort like their values).
 * A bucket spans [2^e (1 + m/32), 2^e (1 + (m+1)/32)): about 3% of its value, which bounds the
 * error of a quantile read from it. NaN and infinities are not recorded (callers count them).
 *
 * The wire form is {"n": total, "sum": sum of the exact values, "b": [[key, count], ...]};
 * docs/deployments.md documents it for replicas written in other languages.
 *
 * A histogram owns its bucket array (sorted by key, no zero counts). Not thread-safe: one owner.
 */
#ifndef KILN_DEPLOY_HIST_H
#define KILN_DEPLOY_HIST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/json.h"

#define KILN_HIST_SUB 32
#define KILN_HIST_EMIN (-32)
#define KILN_HIST_EMAX 31
#define KILN_HIST_KEY_MAX \
    (1 + (KILN_HIST_EMAX - KILN_HIST_EMIN) * KILN_HIST_SUB + KILN_HIST_SUB - 1)
/* Most buckets a wire histogram may carry (every key of both signs plus zero). */
#define KILN_HIST_MAX_BUCKETS (2 * KILN_HIST_KEY_MAX + 1)

struct kiln_hist_bucket {
    int32_t key;
    uint64_t count;
};

struct kiln_hist {
    struct kiln_hist_bucket *b; /* sorted by key */
    size_t n, cap;
    uint64_t total; /* sum of the counts */
    double sum;     /* sum of the values recorded (exact, not bucket midpoints) */
};

/* The key of a finite value. */
int kiln_hist_key(double v);
/* Lower and upper bound, and midpoint, of a bucket (0 for key 0). */
double kiln_hist_lower(int key);
double kiln_hist_upper(int key);
double kiln_hist_mid(int key);

void kiln_hist_init(struct kiln_hist *h);
void kiln_hist_release(struct kiln_hist *h);
void kiln_hist_reset(struct kiln_hist *h);
/* Records `count` copies of v; non-finite values are ignored. KILN_ENOMEM (h unchanged). */
int kiln_hist_add(struct kiln_hist *h, double v, uint64_t count);
/* Adds count to a bucket by key (|key| <= KILN_HIST_KEY_MAX); `sum` is added as given. */
int kiln_hist_add_key(struct kiln_hist *h, int key, uint64_t count, double sum);
/* Adds src into dst. KILN_ENOMEM (dst unchanged). */
int kiln_hist_merge(struct kiln_hist *dst, const struct kiln_hist *src);
/* Copies src into dst (dst released first). KILN_ENOMEM. */
int kiln_hist_copy(struct kiln_hist *dst, const struct kiln_hist *src);
/*
 * Quantile q in [0, 1]: the midpoint of the bucket holding the value of rank ceil(q * total)
 * (nearest rank, 1-based; q = 0 reads rank 1). NaN when empty.
 */
double kiln_hist_quantile(const struct kiln_hist *h, double q);
/* sum / total, NaN when empty. */
double kiln_hist_mean(const struct kiln_hist *h);
/* Values in buckets whose midpoint is below x. */
uint64_t kiln_hist_count_below(const struct kiln_hist *h, double x);

/* Writes the wire form. */
void kiln_hist_write(struct kiln_jsonw *w, const struct kiln_hist *h);
/*
 * Reads the wire form from a JSON object (`what` names it in messages: "versions[0].scores").
 * Keys out of range, negative or non-integral counts, a total that disagrees with "n", more
 * than KILN_HIST_MAX_BUCKETS pairs: KILN_EINVAL. Repeated keys add up. OUT: *h (initialised
 * here; release it even on error).
 */
int kiln_hist_read(const json_t *obj, const char *what, struct kiln_hist *h /* OUT */,
                   struct kiln_err *err);

/*
 * Population stability index and Jensen-Shannon distance of `cur` against `ref` on `nbins`
 * bins whose inner edges are the 'linear' quantiles i/nbins of ref (kiln_quantile_edges over
 * the bucket midpoints, duplicates dropped; bins open-ended at both ends). Shares are counts
 * divided by the side's total. PSI floors empty bins per side as Evidently does (min_nonzero /
 * 1e6 when min_nonzero <= 1e-4, else 1e-4); JS uses the raw shares and is the distance (square
 * root of the divergence), natural log (scipy.spatial.distance.jensenshannon). Both are NaN when
 * a side is empty. KILN_ENOMEM.
 */
int kiln_hist_divergence(const struct kiln_hist *ref, const struct kiln_hist *cur, uint32_t nbins,
                         double *psi /* OUT */, double *js /* OUT */);

#endif

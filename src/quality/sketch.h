/*
 * sketch.h - fixed-memory summaries of a stream of values, the building blocks of profiles
 * and drift windows: a value-count table with a cap on distinct values, a HyperLogLog
 * distinct counter, and a KLL quantile sketch. All three are mergeable, so windows filled by
 * different threads can be combined.
 *
 * kiln_counts: exact counts for up to `cap` distinct keys (byte strings; numbers are keyed by
 *   their 8 IEEE bytes with -0 folded to 0). Once full, a new key's weight goes to `other`
 *   and `overflow` is set; keys already present keep counting exactly.
 * kiln_hll: 4096 one-byte registers (standard error about 1.6%); exact below ~100 distinct
 *   through linear counting's small-range correction.
 * kiln_kll: Karnin-Lang-Liberty sketch with parameter k (level capacities k*(2/3)^depth,
 *   at least 2, above an input buffer of max(k, 4096) values) and a deterministic
 *   alternating compaction offset, so the same input gives the same sketch. While at most
 *   max(k, 4096) values were added it holds all of them (exact). Rank error is about 1.7/k
 *   of n; memory at most about 3k + 4096 doubles plus 2 per level.
 *
 * Memory: all allocation via core/mem.h; every add may allocate and returns KILN_ENOMEM on
 * failure with the summary unchanged. Not thread-safe; one owner per summary.
 */
#ifndef KILN_QUALITY_SKETCH_H
#define KILN_QUALITY_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ---- value counts ----------------------------------------------------------------------- */

struct kiln_counts_entry {
    const char *key; /* len bytes, NUL-terminated copy */
    uint32_t len;
    uint64_t count;
    uint64_t first; /* the caller's tag of the first occurrence (e.g. a line number) */
};

struct kiln_counts {
    struct kiln_counts_entry *e; /* entries in insertion order */
    size_t n, cap_e;
    uint32_t *slots; /* open addressing: entry index + 1, 0 empty */
    size_t nslots;
    size_t cap; /* most distinct keys kept (SIZE_MAX: no limit) */
    uint64_t other;
    int overflow;
    char **blocks; /* key storage */
    size_t nblocks, block_used, block_size;
};

void kiln_counts_init(struct kiln_counts *c, size_t cap);
void kiln_counts_release(struct kiln_counts *c);
/* Empties the table (keeps cap). */
void kiln_counts_reset(struct kiln_counts *c);
/*
 * Adds `weight` to key (len bytes). `tag` is remembered for a new key. OUT (optional):
 * *entry the key's entry (NULL when it went to `other`); pointers stay valid until the next
 * add. KILN_ENOMEM.
 */
int kiln_counts_add(struct kiln_counts *c, const void *key, size_t len, uint64_t weight,
                    uint64_t tag, const struct kiln_counts_entry **entry /* OUT */);
/* Number key (folds -0 into 0). */
int kiln_counts_add_num(struct kiln_counts *c, double v, uint64_t weight);
/* The entry for key, or NULL. */
const struct kiln_counts_entry *kiln_counts_find(const struct kiln_counts *c, const void *key,
                                                 size_t len);
/* Adds every entry of src (and its other) into dst. KILN_ENOMEM. */
int kiln_counts_merge(struct kiln_counts *dst, const struct kiln_counts *src);
/* Decodes a number key. */
double kiln_counts_num(const struct kiln_counts_entry *e);
/* Sum of all counts including other. */
uint64_t kiln_counts_total(const struct kiln_counts *c);
/*
 * Entry indices sorted by key: bytes (memcmp, shorter first on a tie) or, with `numeric`,
 * by number. OUT: *order, kiln_free'd by the caller. KILN_ENOMEM.
 */
int kiln_counts_sorted(const struct kiln_counts *c, int numeric, size_t **order /* OUT */);

/* ---- HyperLogLog ------------------------------------------------------------------------ */

#define KILN_HLL_BITS 12
struct kiln_hll {
    unsigned char reg[1 << KILN_HLL_BITS];
};

void kiln_hll_init(struct kiln_hll *h);
void kiln_hll_add(struct kiln_hll *h, const void *key, size_t len);
void kiln_hll_merge(struct kiln_hll *dst, const struct kiln_hll *src);
double kiln_hll_estimate(const struct kiln_hll *h);
/* 64-bit hash used by the HLL and the counts table. */
uint64_t kiln_hash64(const void *key, size_t len);

/* ---- KLL quantile sketch ---------------------------------------------------------------- */

#define KILN_KLL_MAX_LEVELS 64

struct kiln_kll {
    uint32_t k;
    uint32_t nlevels;
    uint64_t n; /* values added */
    double *items[KILN_KLL_MAX_LEVELS];
    uint32_t size[KILN_KLL_MAX_LEVELS], cap_alloc[KILN_KLL_MAX_LEVELS];
    unsigned char sorted[KILN_KLL_MAX_LEVELS];
    unsigned char coin[KILN_KLL_MAX_LEVELS];
    uint32_t level_cap[KILN_KLL_MAX_LEVELS]; /* capacities for the current nlevels */
    uint32_t caps_for;                       /* nlevels the capacities were computed for */
};

/* k >= 8 (0 picks 2048). */
void kiln_kll_init(struct kiln_kll *s, uint32_t k);
void kiln_kll_release(struct kiln_kll *s);
void kiln_kll_reset(struct kiln_kll *s);
/* Adds a finite value. KILN_ENOMEM. */
int kiln_kll_add(struct kiln_kll *s, double v);
/* Adds `v` at level `level` (weight 2^level): used to rebuild a stored sketch. */
int kiln_kll_add_at(struct kiln_kll *s, double v, uint32_t level);
/* Merges src into dst (dst keeps its k). KILN_ENOMEM. */
int kiln_kll_merge(struct kiln_kll *dst, const struct kiln_kll *src);
/* 1 when the sketch holds every value added (no compaction happened). */
int kiln_kll_exact(const struct kiln_kll *s);
/* Items stored. */
size_t kiln_kll_items(const struct kiln_kll *s);
/*
 * All items sorted with their weights (2^level), equal values combined. OUT: *v and *w
 * (kiln_free both), *n entries; the weights sum to s->n. KILN_ENOMEM.
 */
int kiln_kll_sorted(const struct kiln_kll *s, double **v /* OUT */, uint64_t **w /* OUT */,
                    size_t *n /* OUT */);

/*
 * Quantile q in [0, 1] of a weighted sorted sample with numpy's default 'linear' method
 * (exact for unweighted samples; for a sketch, interpolation between item ranks).
 */
double kiln_quantile_linear(const double *v, const uint64_t *w, size_t n, uint64_t total, double q);
/* numpy 'nearest' method (round half to even of q*(n-1)), as Great Expectations uses. */
double kiln_quantile_nearest(const double *v, const uint64_t *w, size_t n, uint64_t total,
                             double q);

/*
 * Inner edges of `nbins` bins on quantiles of a weighted sorted sample: the 'linear'
 * quantiles at i/nbins for i = 1..nbins-1, duplicates removed. The bins are then
 * (-inf, e[0]), [e[0], e[1]), ..., [e[ne-1], +inf). `edges` must hold nbins - 1 values.
 * Returns the number of edges.
 */
size_t kiln_quantile_edges(const double *v, const uint64_t *w, size_t n, uint64_t total,
                           uint32_t nbins, double *edges);
/*
 * Adds the sample's weights into counts[0..ne] by the bins of kiln_quantile_edges (a value
 * x goes to bin "number of edges <= x").
 */
void kiln_bin_count_right(const double *v, const uint64_t *w, size_t n, const double *edges,
                          size_t ne, uint64_t *counts);

#endif

/*
 * drift_int.h - internals of the drift engine shared by drift_data.c (building sides),
 * drift.c (per-column statistics), drift_bins.c (binning) and drift_out.c / window.c. Not
 * for use outside src/quality/.
 *
 * A side's column (struct kiln_dcol) is immutable once built, so compute threads read it
 * without locks.
 */
#ifndef KILN_QUALITY_DRIFT_INT_H
#define KILN_QUALITY_DRIFT_INT_H

#include "quality/drift.h"
#include "quality/sketch.h"
#include "quality/stats.h"

struct kiln_dcol {
    char *name;
    uint64_t rows, missing; /* cells, missing cells */
    uint64_t inf;           /* infinite numbers (dropped) */
    int numeric;            /* no non-missing cell that is not a number */
    int timestamp;          /* every non-missing cell is a timestamp, and there is one */
    /* Finite numbers, ascending; w NULL when every value is kept (raw data). */
    double *v;
    uint64_t *w;
    size_t nv;
    uint64_t n; /* finite numbers */
    int exact;  /* v holds every finite number */
    double mean, std_pop, min, max;
    /* Non-numeric cells by text. Raw sides: complete; summaries: capped. */
    const struct kiln_counts *texts;
    struct kiln_counts own_texts;
    /* Summaries: exact numeric value counts (NULL for raw sides, which derive them from v). */
    const struct kiln_counts *nums;
};

struct kiln_drift_data {
    char *name;
    uint64_t rows;
    int summary;   /* built from column summaries */
    uint32_t bins; /* quantile bins for KILN_BINS_AUTO on a summary side */
    size_t ncols;
    struct kiln_dcol *cols;
};

/* Sorted distinct values of a numeric column with counts. */
struct kiln_vlist {
    double *v;
    uint64_t *c;
    size_t n;
    int known; /* 0: more distinct values than a summary tracks (v, c empty) */
};

/* Categorical view: keys sorted by bytes, counts, and a bucket for untracked values. */
struct kiln_catview {
    const char **key;
    size_t *len;
    uint64_t *c;
    size_t n;
    uint64_t other; /* values not listed (capped summaries) */
    uint64_t total; /* all non-missing values (listed + other) */
    char *text;     /* storage for keys formatted from numbers */
};

/* Builds the distinct-value list of a numeric column (exact from v, else from nums). */
int kiln_dcol_vlist(const struct kiln_dcol *c, struct kiln_vlist *out);
void kiln_vlist_release(struct kiln_vlist *l);
/* Distinct finite values, counted up to `limit` (returns limit + 1 when there are more). */
uint64_t kiln_dcol_distinct(const struct kiln_dcol *c, uint64_t limit);
/* Categorical view of a column (numbers formatted in shortest form). *approx set when a
 * value table had overflowed. */
int kiln_dcol_catview(const struct kiln_dcol *c, struct kiln_catview *out, int *approx);
void kiln_catview_release(struct kiln_catview *v);

/*
 * Binning for psi/kl/js: fills col->binning, nbins, bin_labels, ref_share, cur_share and
 * returns the shares. For numeric columns with more than 20 distinct reference values it
 * bins by `binning` (Sturges over the combined range, or nbins quantiles of the
 * reference), otherwise one bin per distinct value of ref and cur together.
 */
int kiln_drift_bin_numeric(const struct kiln_dcol *r, const struct kiln_dcol *c,
                           enum kiln_drift_binning binning, uint32_t nbins,
                           struct kiln_drift_column *out);
int kiln_drift_bin_categorical(const struct kiln_catview *r, const struct kiln_catview *c,
                               struct kiln_drift_column *out);
/* psi, kl_divergence and jensenshannon from out->ref_share / cur_share. */
int kiln_drift_divergences(struct kiln_drift_column *out);

/* Frees one column result's memory. */
void kiln_drift_column_release(struct kiln_drift_column *c);

#endif

/*
 * drift.h - distribution drift between a reference and a current data set, per column and
 * for the data set, with Evidently's default method choice and thresholds (exact semantics
 * in docs/drift.md and shared/reference/drift-semantics.md).
 *
 * Each side is a struct kiln_drift_data, built either from raw rows (exact: numeric columns
 * are kept as sorted doubles, categorical ones as value counts) or from column summaries (a
 * stored profile or a live window: fixed memory, statistics from the KLL sketch and the
 * capped value tables, flagged "approximate" where they are not exact). kiln_drift_compute
 * compares two sides column by column.
 *
 * Per column, after dropping missing cells, NaN and +-inf on each side:
 *   numeric (every non-missing cell of both sides is a number): ks statistic and p-value,
 *     wasserstein (raw and normed by max(population std of the reference, 0.001)), psi,
 *     kl_divergence, jensenshannon (distance, natural log), missing_share_change;
 *   categorical: chisquare statistic and p-value, z_p_value when there are two values,
 *     psi, kl_divergence, jensenshannon, unseen_share, missing_share_change.
 * The method deciding the verdict is Evidently's default unless the options name one; the
 * data set drifts when drifted / checked columns >= drift_share (0.5). A column left empty
 * by cleaning gets an error instead of a score and is not counted as checked. Timestamp
 * columns are skipped (as Evidently does).
 *
 * Threads: kiln_drift_compute spreads columns over `threads` worker threads; data sides are
 * read-only during it, so one side may be compared with several others concurrently.
 */
#ifndef KILN_QUALITY_DRIFT_H
#define KILN_QUALITY_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "quality/profile.h"
#include "quality/table.h"

enum kiln_drift_method {
    KILN_DRIFT_AUTO = 0,
    KILN_DRIFT_KS,
    KILN_DRIFT_CHISQUARE,
    KILN_DRIFT_Z,
    KILN_DRIFT_WASSERSTEIN,
    KILN_DRIFT_JENSENSHANNON,
    KILN_DRIFT_PSI,
    KILN_DRIFT_KL_DIV,
};

/* "auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div". */
const char *kiln_drift_method_name(enum kiln_drift_method m);
/* Parses a method name (Evidently's spellings). KILN_EINVAL. */
int kiln_drift_method_parse(const char *s, enum kiln_drift_method *out /* OUT */);
/* The method's default threshold: 0.05 for p-value methods, 0.1 for distances. */
double kiln_drift_default_threshold(enum kiln_drift_method m);

enum kiln_drift_binning {
    KILN_BINS_AUTO = 0, /* raw reference: Sturges; summary reference: quantile:<its bins> */
    KILN_BINS_STURGES,  /* Evidently's: equal width over the combined range, Sturges count */
    KILN_BINS_QUANTILE, /* nbins bins on reference quantiles, open-ended at both ends */
};

/* A per-column override (method and/or threshold). */
struct kiln_drift_colopt {
    const char *column;
    enum kiln_drift_method method; /* AUTO: the global choice */
    double threshold;              /* NaN: the method's default */
};

struct kiln_drift_opts {
    enum kiln_drift_method method; /* AUTO: Evidently's choice per column */
    double threshold;              /* NaN: the method's default */
    double drift_share;            /* dataset drifts when share >= this; NaN picks 0.5 */
    enum kiln_drift_binning binning;
    uint32_t nbins;             /* for KILN_BINS_QUANTILE */
    const char *const *columns; /* NULL: every column present on both sides */
    size_t ncolumns;
    const struct kiln_drift_colopt *per_column;
    size_t nper_column;
    int threads; /* 0: one per online CPU (at most 8) */
};

/* Fills opts with the defaults (auto method, default thresholds, 0.5, auto binning). */
void kiln_drift_opts_init(struct kiln_drift_opts *o);

struct kiln_drift_data;

/*
 * Reads every row of `r` (from its position) and keeps what drift needs: numeric columns
 * as doubles, other columns as value counts. `columns` (NULL: all) limits what is kept.
 * OUT: *out (kiln_drift_data_free). Reader errors, KILN_ENOMEM.
 */
int kiln_drift_data_load(struct kiln_table_reader *r, const char *const *columns, size_t ncolumns,
                         struct kiln_drift_data **out /* OUT */, struct kiln_err *err);
/*
 * Loads two readers at once on two threads (the usual reference + current case). Both
 * OUT pointers are set on success; on failure neither is. The error names the file.
 */
int kiln_drift_data_load2(struct kiln_table_reader *r1, struct kiln_table_reader *r2,
                          const char *const *columns, size_t ncolumns,
                          struct kiln_drift_data **out1 /* OUT */,
                          struct kiln_drift_data **out2 /* OUT */, struct kiln_err *err);
/*
 * A side made of column summaries (a profile's or a window's). The summaries are
 * borrowed: they must stay unchanged while the side is used. `name` labels the side in
 * reports; `bins` is the quantile bin count used by KILN_BINS_AUTO.
 */
int kiln_drift_data_from_summaries(const struct kiln_colsum *cols, size_t ncols, const char *name,
                                   uint64_t rows, uint32_t bins,
                                   struct kiln_drift_data **out /* OUT */, struct kiln_err *err);
/* Same for a profile (borrowed). */
int kiln_drift_data_from_profile(const struct kiln_profile *p,
                                 struct kiln_drift_data **out /* OUT */, struct kiln_err *err);
void kiln_drift_data_free(struct kiln_drift_data *d);
/* Rows the side was built from. */
uint64_t kiln_drift_data_rows(const struct kiln_drift_data *d);

/* One column's result. Statistics that do not apply are NaN. */
struct kiln_drift_column {
    char *name;
    const char *type; /* "numeric" or "categorical" */
    enum kiln_drift_method method;
    double statistic, p_value, threshold;
    int drifted;
    char *error;                     /* non-NULL: no score (e.g. empty after cleaning) */
    int approximate;                 /* some statistic came from a sketch or a capped table */
    uint64_t n_reference, n_current; /* values left after cleaning */
    double ks_statistic, ks_p_value;
    int ks_exact;
    double wasserstein, wasserstein_normed, psi, kl_divergence, jensenshannon;
    double chisquare_statistic, chisquare_p_value, z_statistic, z_p_value;
    double unseen_share, missing_share_change;
    const char *binning; /* "sturges", "quantile", "values" */
    size_t nbins;
    char **bin_labels;             /* nbins labels */
    double *ref_share, *cur_share; /* nbins shares before the zero floor */
};

struct kiln_drift_result {
    char *reference, *current; /* side names */
    uint64_t reference_rows, current_rows;
    size_t ncols;
    struct kiln_drift_column *cols;
    size_t nskipped;
    char **skipped;        /* column names not compared */
    char **skipped_reason; /* why */
    size_t n_checked, n_drifted;
    double drift_share, drift_share_threshold;
    int dataset_drift;
};

/*
 * Compares cur against ref. Unknown column names in opts->columns or per_column are
 * KILN_EINVAL (named). OUT: *out (kiln_drift_result_free). KILN_ENOMEM.
 */
int kiln_drift_compute(const struct kiln_drift_data *ref, const struct kiln_drift_data *cur,
                       const struct kiln_drift_opts *opts, struct kiln_drift_result **out /* OUT */,
                       struct kiln_err *err);
void kiln_drift_result_free(struct kiln_drift_result *r);

/*
 * The stable JSON form (docs/drift.md): {"dataset_drift", "drift_share",
 * "drift_share_threshold", "number_of_columns", "number_of_drifted_columns", "reference",
 * "current", "columns": [{"name", "type", "method", "statistic", "p_value", "threshold",
 * "drifted", "stats": {...}, ...}], "skipped_columns"}. Infinite statistics are written as
 * the string "Infinity" and undefined ones as null.
 */
int kiln_drift_result_json(const struct kiln_drift_result *r, struct kiln_buf *out);
/* A self-contained HTML report (inline CSS and SVG histograms, no external assets). */
int kiln_drift_result_html(const struct kiln_drift_result *r, struct kiln_buf *out);

/* ---- windowed drift on streams -------------------------------------------------------- */

/*
 * A window accumulates live rows in fixed memory (one column summary per reference column)
 * and compares them with a reference profile on demand. Typical monitor use:
 *   kiln_drift_window_new(profile, &opts, &w);
 *   for each request: kiln_drift_window_add_row(w, cells) or _add_value(...)
 *   every N rows or T seconds: kiln_drift_window_compute(w, &res); ...; _reset(w);
 * Windows built on different threads can be combined with kiln_drift_window_merge.
 * Not thread-safe; the profile is borrowed and must outlive the window.
 */
struct kiln_drift_window;

int kiln_drift_window_new(const struct kiln_profile *ref, const struct kiln_drift_opts *opts,
                          struct kiln_drift_window **out /* OUT */, struct kiln_err *err);
void kiln_drift_window_free(struct kiln_drift_window *w);
/* Adds one row whose cells follow the profile's column order. KILN_ENOMEM. */
int kiln_drift_window_add_row(struct kiln_drift_window *w, const struct kiln_cell *cells);
/* Adds one cell by column index (text) or a number (NaN = missing). KILN_EINVAL, ENOMEM. */
int kiln_drift_window_add_text(struct kiln_drift_window *w, size_t col, const char *p, size_t len);
int kiln_drift_window_add_number(struct kiln_drift_window *w, size_t col, double v);
/* Marks the end of a row added cell by cell (rows are counted here). */
void kiln_drift_window_end_row(struct kiln_drift_window *w);
/* Rows added since the last reset. */
uint64_t kiln_drift_window_rows(const struct kiln_drift_window *w);
/* Adds src's rows to dst (same reference profile). KILN_EINVAL, KILN_ENOMEM. */
int kiln_drift_window_merge(struct kiln_drift_window *dst, const struct kiln_drift_window *src);
/* Compares the window with the reference. OUT: *out (kiln_drift_result_free). */
int kiln_drift_window_compute(const struct kiln_drift_window *w,
                              struct kiln_drift_result **out /* OUT */, struct kiln_err *err);
/* Empties the window. */
void kiln_drift_window_reset(struct kiln_drift_window *w);
/* The window's column summaries (ncols = the profile's), e.g. to store as a profile. */
const struct kiln_colsum *kiln_drift_window_columns(const struct kiln_drift_window *w,
                                                    size_t *ncols /* OUT */);

#endif

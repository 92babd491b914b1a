/*
 * profile.h - column summaries and data profiles.
 *
 * A column summary (struct kiln_colsum) digests a stream of cells in fixed memory: counts
 * by what each cell parses as (integer, float, boolean, timestamp, text), missing cells,
 * exact moments, min and max of the numbers (timestamps as seconds since the epoch), a KLL
 * quantile sketch, capped exact value counts, a HyperLogLog distinct counter and text
 * lengths. Summaries merge, so they serve both a one-pass profile of a file and the rolling
 * windows a serving monitor keeps.
 *
 * A profile (struct kiln_profile) is one summary per column plus where the data came from.
 * It is the inferred schema that `kiln validate` checks and the reference `kiln drift` and
 * drift windows compare with; docs/drift.md documents its JSON form.
 *
 * Type inference over the non-missing cells of a column: boolean if all are true/false;
 * integer if all are integers; float if all are numbers; timestamp if all are ISO 8601
 * dates or date-times; string otherwise; empty when every cell is missing.
 *
 * Ownership: profiles and summaries own their memory (_free / _release). Not thread-safe;
 * merge summaries built by different threads instead of sharing one.
 */
#ifndef KILN_QUALITY_PROFILE_H
#define KILN_QUALITY_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "quality/sketch.h"
#include "quality/table.h"

enum kiln_coltype {
    KILN_COL_EMPTY = 0,
    KILN_COL_BOOLEAN,
    KILN_COL_INTEGER,
    KILN_COL_FLOAT,
    KILN_COL_TIMESTAMP,
    KILN_COL_STRING,
};

/* "empty", "boolean", "integer", "float", "timestamp", "string". */
const char *kiln_coltype_name(enum kiln_coltype t);
/* Parses a type name; also int/int64/long, double/float64/number, bool, datetime, str/text. */
int kiln_coltype_parse(const char *s, enum kiln_coltype *out /* OUT */);
/* 1 for integer and float (the types drift treats as numeric). */
int kiln_coltype_is_numeric(enum kiln_coltype t);

struct kiln_colsum_opts {
    uint32_t sketch_k; /* KLL parameter; 0 picks 2048 */
    size_t max_values; /* most distinct values counted exactly; 0 picks 1000 */
};

struct kiln_colsum {
    char *name;
    uint64_t rows;                                 /* cells seen, missing included */
    uint64_t missing;                              /* missing cells */
    uint64_t n_int, n_float, n_bool, n_ts, n_text; /* non-missing cells by kind */
    uint64_t n_num;            /* finite numbers (timestamps included, as seconds) */
    uint64_t n_inf;            /* infinite numbers */
    double min, max, mean, m2; /* over the n_num finite values (Welford) */
    uint64_t len_min, len_max; /* text length in bytes of non-missing cells */
    struct kiln_kll kll;       /* the n_num finite values */
    struct kiln_counts nums;   /* numeric values, keyed by number */
    struct kiln_counts texts;  /* non-numeric cells, keyed by text */
    struct kiln_hll hll;       /* distinct non-missing values */
    int hll_active;            /* the HLL has been fed (nums overflowed or texts seen) */
};

/* Sets up an empty summary named `name` (copied). KILN_ENOMEM. */
int kiln_colsum_init(struct kiln_colsum *c, const char *name, const struct kiln_colsum_opts *o);
void kiln_colsum_release(struct kiln_colsum *c);
/* Forgets every value (keeps name and options). */
void kiln_colsum_reset(struct kiln_colsum *c);
/* Adds one cell (flags from the table reader). KILN_ENOMEM. */
int kiln_colsum_add(struct kiln_colsum *c, const char *p, size_t len, unsigned flags);
/* Adds one numeric value (NaN counts as missing). KILN_ENOMEM. */
int kiln_colsum_add_double(struct kiln_colsum *c, double v);
/* Adds src's values to dst. KILN_ENOMEM. */
int kiln_colsum_merge(struct kiln_colsum *dst, const struct kiln_colsum *src);
enum kiln_coltype kiln_colsum_type(const struct kiln_colsum *c);
/* Standard deviation of the finite numbers: ddof 1 (sample, as pandas) or 0 (population). */
double kiln_colsum_std(const struct kiln_colsum *c, int ddof);
/* Distinct non-missing values; *exact (optional) says whether it is a count or an estimate. */
uint64_t kiln_colsum_distinct(const struct kiln_colsum *c, int *exact /* OUT */);
/*
 * Quantile q of the finite numbers (numpy 'linear'), from the sketch: exact while the sketch
 * is exact, else within its rank error. q = 0 and 1 give the exact min and max.
 */
double kiln_colsum_quantile(const struct kiln_colsum *c, double q);

struct kiln_profile_opts {
    struct kiln_colsum_opts col;
    uint32_t bins; /* quantile histogram bins stored per numeric column; 0 picks 10 */
};

struct kiln_profile {
    char *source;   /* file the profile was built from */
    char *format;   /* "csv" or "jsonl" */
    char delimiter; /* CSV delimiter */
    uint64_t rows;
    uint64_t bytes;
    int64_t created_ms;
    uint32_t sketch_k;
    size_t max_values;
    uint32_t bins;
    size_t ncols;
    struct kiln_colsum *cols;
};

/*
 * Profiles every row of `r` (from its current position to the end). OUT: *out
 * (kiln_profile_free). Errors from the reader (with file, line, column), KILN_ENOMEM.
 */
int kiln_profile_build(struct kiln_table_reader *r, const struct kiln_profile_opts *o,
                       struct kiln_profile **out /* OUT */, struct kiln_err *err);
/* An empty profile with the given columns, to be fed with kiln_profile_add_row. */
int kiln_profile_new(const char *const *names, size_t ncols, const struct kiln_profile_opts *o,
                     struct kiln_profile **out /* OUT */, struct kiln_err *err);
/* Adds one row of ncols cells. KILN_ENOMEM. */
int kiln_profile_add_row(struct kiln_profile *p, const struct kiln_cell *cells);
void kiln_profile_free(struct kiln_profile *p);
/* Index of a column by name, or -1. */
long kiln_profile_find(const struct kiln_profile *p, const char *name);

/* Appends the profile's JSON (docs/drift.md, "Profile format") to out. */
int kiln_profile_to_json(const struct kiln_profile *p, struct kiln_buf *out, struct kiln_err *err);
/*
 * Parses a profile JSON document; `name` is used in error messages. KILN_EPARSE (syntax,
 * with line and column) or KILN_EINVAL (a field missing or of the wrong type, named).
 */
int kiln_profile_parse(const char *json, size_t len, const char *name,
                       struct kiln_profile **out /* OUT */, struct kiln_err *err);
/* Reads and parses a profile file (at most 1 GiB). */
int kiln_profile_load(const char *path, struct kiln_profile **out /* OUT */, struct kiln_err *err);
/* 1 when the file looks like a kiln profile (a JSON object with "kiln_profile"). */
int kiln_profile_sniff(const char *path);

#endif

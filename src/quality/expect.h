/*
 * expect.h - expectation suites and data validation (docs/validation.md).
 *
 * A suite is a list of expectations in Great Expectations' vocabulary, written in YAML:
 *
 *     name: orders
 *     expectations:
 *       - type: expect_column_values_to_not_be_null
 *         column: customer_id
 *         mostly: 0.99
 *
 * Parameters may also sit under `kwargs:` (GX's JSON suites). kiln_suite_parse refuses a
 * malformed file with the YAML line at fault. kiln_suite_suggest writes a suite from a
 * profile (schema, nulls, ranges, allowed values, uniqueness, drift) for people to edit.
 *
 * kiln_validate streams a data file once against a suite (and the profile, for schema and
 * drift expectations) and returns per-expectation results with GX's result keys:
 * element_count, missing_count, unexpected_count, unexpected_percent (of non-missing
 * values), partial_unexpected_list (at most 20 values, with their line numbers) and so on.
 * "mostly" is the share of non-missing values (of all rows for not_null) that must pass.
 *
 * Ownership: suites and validations own their memory (_free); a validation keeps copies of
 * what it reports, so the suite may be freed first. Thread-safety: a suite is read-only
 * once parsed and can be shared; a validation run uses its own state.
 */
#ifndef KILN_QUALITY_EXPECT_H
#define KILN_QUALITY_EXPECT_H

#include <stddef.h>
#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "quality/drift.h"
#include "quality/profile.h"
#include "quality/table.h"

enum kiln_expect_kind {
    KILN_EXPECT_COLUMNS_MATCH_SET = 0, /* expect_table_columns_to_match_set */
    KILN_EXPECT_ROW_COUNT,             /* expect_table_row_count_to_be_between */
    KILN_EXPECT_TABLE_NO_DRIFT,        /* expect_table_to_not_drift */
    KILN_EXPECT_COLUMN_EXISTS,         /* expect_column_to_exist */
    KILN_EXPECT_TYPE,                  /* expect_column_values_to_be_of_type */
    KILN_EXPECT_NOT_NULL,              /* expect_column_values_to_not_be_null */
    KILN_EXPECT_MISSING_SHARE,         /* expect_column_missing_share_to_be_at_most */
    KILN_EXPECT_BETWEEN,               /* expect_column_values_to_be_between */
    KILN_EXPECT_IN_SET,                /* expect_column_values_to_be_in_set */
    KILN_EXPECT_NOT_IN_SET,            /* expect_column_values_to_not_be_in_set */
    KILN_EXPECT_UNIQUE,                /* expect_column_values_to_be_unique */
    KILN_EXPECT_REGEX,                 /* expect_column_values_to_match_regex */
    KILN_EXPECT_NOT_REGEX,             /* expect_column_values_to_not_match_regex */
    KILN_EXPECT_MEAN,                  /* expect_column_mean_to_be_between */
    KILN_EXPECT_STDEV,                 /* expect_column_stdev_to_be_between */
    KILN_EXPECT_MIN,                   /* expect_column_min_to_be_between */
    KILN_EXPECT_MAX,                   /* expect_column_max_to_be_between */
    KILN_EXPECT_MEDIAN,                /* expect_column_median_to_be_between */
    KILN_EXPECT_QUANTILES,             /* expect_column_quantile_values_to_be_between */
    KILN_EXPECT_NO_DRIFT,              /* expect_column_to_not_drift */
    KILN_EXPECT__COUNT
};

/* The GX name of a kind ("expect_column_values_to_be_between"). */
const char *kiln_expect_name(enum kiln_expect_kind k);

struct kiln_expect;
struct kiln_suite;

/*
 * Parses a YAML suite; `name` names the file in errors ("checks.yaml: line 12: ..."). Unknown
 * expectation types and parameters, wrong value types, bad regular expressions and
 * inconsistent ranges are all refused. OUT: *out (kiln_suite_free). KILN_EPARSE (YAML
 * syntax), KILN_EINVAL (content), KILN_ENOMEM.
 */
int kiln_suite_parse(const char *yaml, size_t len, const char *name,
                     struct kiln_suite **out /* OUT */, struct kiln_err *err);
/* Reads and parses a suite file (at most 64 MiB). */
int kiln_suite_load(const char *path, struct kiln_suite **out /* OUT */, struct kiln_err *err);
void kiln_suite_free(struct kiln_suite *s);
size_t kiln_suite_size(const struct kiln_suite *s);
const char *kiln_suite_name(const struct kiln_suite *s);
/* 1 when some expectation needs the profile (drift). */
int kiln_suite_needs_profile(const struct kiln_suite *s);

/* Appends a suggested suite (YAML, with comments) for data like the profiled data. */
int kiln_suite_suggest(const struct kiln_profile *p, const char *profile_name, struct kiln_buf *out,
                       struct kiln_err *err);

#define KILN_PARTIAL_MAX 20

/* One expectation's outcome (GX "result" keys; NaN / 0 where they do not apply). */
struct kiln_expect_result {
    enum kiln_expect_kind kind;
    char *column;   /* NULL for table expectations */
    int line;       /* the expectation's line in the suite */
    json_t *kwargs; /* the parameters as given (owned reference) */
    int success;
    char *exception; /* set when the expectation could not be evaluated (e.g. no column) */
    int row_level;   /* counts of unexpected values apply */
    uint64_t element_count, missing_count, unexpected_count;
    double observed;     /* aggregate expectations: the observed value */
    char *observed_text; /* or a textual observation (missing/extra columns, ...) */
    size_t npartial;
    char *partial_value[KILN_PARTIAL_MAX]; /* NULL for a missing value */
    uint64_t partial_line[KILN_PARTIAL_MAX];
    size_t ncounts; /* most frequent unexpected values */
    char *count_value[KILN_PARTIAL_MAX];
    uint64_t count_n[KILN_PARTIAL_MAX];
};

struct kiln_validation {
    char *data_name;
    char *suite_name;
    char *profile_name; /* NULL without a profile */
    uint64_t rows;
    int64_t time_ms;
    size_t nresults;
    struct kiln_expect_result *results;
    size_t evaluated, successful;
    int success;
    /* Per data column summaries, for reports (histograms). */
    size_t ncols;
    struct kiln_colsum *cols;
    struct kiln_drift_result *drift; /* when the suite has drift expectations */
};

/*
 * Validates every row of `r` against the suite. `profile` (may be NULL) is needed by drift
 * expectations (KILN_EINVAL otherwise, before reading). OUT: *out (kiln_validation_free).
 * Reader errors (file, line, column) and KILN_ENOMEM abort; failed expectations do not.
 */
int kiln_validate(struct kiln_table_reader *r, const struct kiln_suite *suite,
                  const struct kiln_profile *profile, const char *profile_name,
                  struct kiln_validation **out /* OUT */, struct kiln_err *err);
void kiln_validation_free(struct kiln_validation *v);

/* GX-style JSON: {"success", "statistics", "results": [...], "meta"} (docs/validation.md). */
int kiln_validation_json(const struct kiln_validation *v, struct kiln_buf *out);
/* A self-contained HTML report with a histogram per column. */
int kiln_validation_html(const struct kiln_validation *v, struct kiln_buf *out);

#endif

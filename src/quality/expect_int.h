/*
 * expect_int.h - parsed expectations, shared by expect_yaml.c (parser), validate.c (engine)
 * and validate_out.c (reports). Not for use outside src/quality/.
 */
#ifndef KILN_QUALITY_EXPECT_INT_H
#define KILN_QUALITY_EXPECT_INT_H

#include <jansson.h>
#include <regex.h>

#include "quality/expect.h"
#include "quality/sketch.h"

struct kiln_expect {
    enum kiln_expect_kind kind;
    int line; /* 1-based YAML line of the expectation */
    char *column;
    double mostly; /* 1.0 when not given */
    /* Ranges (between, mean, stdev, min, max, median, row count): NaN = unbounded. */
    double min, max;
    int strict_min, strict_max;
    int timestamp_bounds; /* bounds given as ISO 8601 (seconds since the epoch) */
    /* Sets: text items, and numeric items (sorted) that also match numerically. */
    struct kiln_counts set_text;
    double *set_num;
    size_t nset_num;
    /* Regular expression (POSIX extended after translating \d \w \s). */
    char *regex;
    regex_t re;
    int re_ok;
    /* Type expectation. */
    enum kiln_coltype ctype;
    /* Column set expectation. */
    char **colset;
    size_t ncolset;
    int exact_match;
    /* Quantile expectation: quantiles with [lo, hi] ranges (NaN = open). */
    double *q, *qlo, *qhi;
    size_t nq;
    /* Drift expectations. */
    enum kiln_drift_method method;
    double threshold, drift_share;
    /* The parameters as given, for reports ("expectation_config.kwargs"). */
    json_t *kwargs;
};

struct kiln_suite {
    char *name;
    struct kiln_expect *e;
    size_t n;
};

/* 1 when the kind checks values row by row (mostly and unexpected lists apply). */
int kiln_expect_row_level(enum kiln_expect_kind k);
/* 1 when the kind names a column. */
int kiln_expect_has_column(enum kiln_expect_kind k);

#endif

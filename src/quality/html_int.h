/*
 * html_int.h - helpers for kiln's self-contained HTML reports (drift and validation): page
 * frame with inline CSS, escaping, number formatting and inline SVG bar charts. Nothing is
 * loaded from outside the page. Not for use outside src/quality/.
 */
#ifndef KILN_QUALITY_HTML_INT_H
#define KILN_QUALITY_HTML_INT_H

#include <stddef.h>

#include "core/buf.h"

/* A report being written: appends go to `out`; the first failure sticks in `rc`. */
struct kiln_hw {
    struct kiln_buf *out;
    int rc;
};

void kiln_hw_puts(struct kiln_hw *w, const char *s);
void kiln_hw_printf(struct kiln_hw *w, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Appends <!doctype html>... up to the opening of <main>, with `title` (escaped). */
void kiln_html_begin(struct kiln_hw *out, const char *title);
/* Closes the page. */
void kiln_html_end(struct kiln_hw *out);
/* Appends s (len bytes, or strlen when len is (size_t)-1) with & < > " ' escaped. */
void kiln_html_text(struct kiln_hw *out, const char *s, size_t len);
/* Appends a number for display: "-" for NaN, "∞" for infinities, else %.4g-like. */
void kiln_html_num(struct kiln_hw *out, double v);

/*
 * An inline SVG bar chart of one or two series over n labelled bins (series b may be NULL).
 * Values are shares or counts; bars are scaled to the largest value. At most `max_bins`
 * bins are drawn (the rest are summarised in a note).
 */
void kiln_html_bars(struct kiln_hw *out, const char *const *labels, const double *a,
                    const double *b, size_t n, const char *name_a, const char *name_b,
                    size_t max_bins);

#endif

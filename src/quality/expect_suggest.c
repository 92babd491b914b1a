/*
 * expect_suggest.c - a starting expectation suite written from a profile (kiln validate
 * --suggest), as YAML with comments, for people to review and edit. The rules, also in
 * docs/validation.md:
 *   - the table has exactly the profiled columns and at least one row;
 *   - each column keeps its type; missing values at most twice the profiled share
 *     (not_null with mostly = 1 - 2 * share, none allowed when none were seen);
 *   - numbers stay within the profiled range widened by 10% of its width on each side;
 *     the mean within 0.2 standard deviations; the standard deviation within half to
 *     twice the profiled one; timestamps within the profiled period;
 *   - text and boolean columns with at most 50 distinct values take only those values
 *     (mostly 0.99 past 100 rows);
 * *   - identifier-like columns (integers or text, 50 or more values, at least 95% of them
 *     distinct) get no range, mean, set or drift expectations, and stay unique when every
 *     profiled value was distinct (known exactly while under max_values distinct values);
 *   - every other numeric or text column does not drift from the profile.
 * Strings are written as JSON-style double-quoted scalars, which YAML reads unchanged.
 */
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "core/time.h"
#include "quality/expect_int.h"

struct yw {
    struct kiln_buf *out;
    int rc;
};

static void put(struct yw *w, const char *s)
{
    if (w->rc == KILN_OK)
        w->rc = kiln_buf_puts(w->out, s);
}

static void quoted(struct yw *w, const char *s, size_t len)
{
    if (w->rc == KILN_OK)
        w->rc = kiln_json_quote(w->out, s, len);
}

static void num(struct yw *w, double v)
{
    char b[40];
    kiln_format_double(v == 0 ? 0.0 : v, b, sizeof(b));
    put(w, b);
}

static void begin(struct yw *w, enum kiln_expect_kind k, const char *column)
{
    put(w, "  - type: ");
    put(w, kiln_expect_name(k));
    put(w, "\n");
    if (column != NULL) {
        put(w, "    column: ");
        quoted(w, column, strlen(column));
        put(w, "\n");
    }
}

static void kv_num(struct yw *w, const char *key, double v)
{
    put(w, "    ");
    put(w, key);
    put(w, ": ");
    num(w, v);
    put(w, "\n");
}

static void numeric(struct yw *w, const struct kiln_colsum *c, enum kiln_coltype t)
{
    double range = c->max - c->min, lo = c->min - 0.1 * range, hi = c->max + 0.1 * range;
    double sd = kiln_colsum_std(c, 1), tol;
    if (t == KILN_COL_INTEGER) {
        lo = floor(lo);
        hi = ceil(hi);
    }
    begin(w, KILN_EXPECT_BETWEEN, c->name);
    kv_num(w, "min_value", lo);
    kv_num(w, "max_value", hi);
    begin(w, KILN_EXPECT_MEAN, c->name);
    tol = !isnan(sd) && sd > 0 ? 0.2 * sd : 1e-9 * fmax(1.0, fabs(c->mean));
    kv_num(w, "min_value", c->mean - tol);
    kv_num(w, "max_value", c->mean + tol);
    if (!isnan(sd) && sd > 0) {
        begin(w, KILN_EXPECT_STDEV, c->name);
        kv_num(w, "min_value", 0.5 * sd);
        kv_num(w, "max_value", 2 * sd);
    }
}

static void allowed_values(struct yw *w, const struct kiln_colsum *c)
{
    size_t *order = NULL;
    if (kiln_counts_sorted(&c->texts, 0, &order) != KILN_OK) {
        w->rc = KILN_ENOMEM;
        return;
    }
    begin(w, KILN_EXPECT_IN_SET, c->name);
    put(w, "    value_set: [");
    for (size_t i = 0; i < c->texts.n; i++) {
        const struct kiln_counts_entry *e = &c->texts.e[order[i]];
        if (i)
            put(w, ", ");
        quoted(w, e->key, e->len);
    }
    put(w, "]\n");
    if (c->rows > 100)
        put(w, "    mostly: 0.99\n");
    kiln_free(order);
}

static void column(struct yw *w, const struct kiln_colsum *c)
{
    enum kiln_coltype t = kiln_colsum_type(c);
    uint64_t nonmissing = c->rows - c->missing;
    double share = c->rows ? (double)c->missing / (double)c->rows : 0;
    int exact, unique, ident;
    uint64_t distinct = kiln_colsum_distinct(c, &exact);
    char b[64];

    put(w, "\n  # column ");
    quoted(w, c->name, strlen(c->name));
    put(w, "\n");
    if (t == KILN_COL_EMPTY) {
        begin(w, KILN_EXPECT_COLUMN_EXISTS, c->name);
        return;
    }
    begin(w, KILN_EXPECT_TYPE, c->name);
    put(w, "    type_: ");
    put(w, kiln_coltype_name(t));
    put(w, "\n");
    begin(w, KILN_EXPECT_NOT_NULL, c->name);
    if (share > 0) {
        snprintf(b, sizeof(b), "    mostly: %.3f\n",
                 fmax(0.0, floor((1 - 2 * share) * 1000) / 1000));
        put(w, b);
    }
    ident = nonmissing >= 50 && (double)distinct >= 0.95 * (double)nonmissing &&
            (t == KILN_COL_INTEGER || t == KILN_COL_STRING);
    unique = ident && exact && distinct == nonmissing;
    if (ident) {
        if (unique) {
            begin(w, KILN_EXPECT_UNIQUE, c->name);
        } else if ((double)distinct >= 0.98 * (double)nonmissing) {
            /* Too many values to be sure they were all distinct: offer it commented out. */
            put(w, "  # probably an identifier; uncomment to require unique values:\n");
            put(w, "  # - type: expect_column_values_to_be_unique\n  #   column: ");
            quoted(w, c->name, strlen(c->name));
            put(w, "\n");
        }
        return;
    }
    if (kiln_coltype_is_numeric(t) && c->n_num > 0)
        numeric(w, c, t);
    if (t == KILN_COL_TIMESTAMP && c->n_num > 0) {
        char a[32], z[32];
        kiln_time_format_iso((int64_t)floor(c->min * 1000), a, sizeof(a));
        kiln_time_format_iso((int64_t)ceil(c->max * 1000), z, sizeof(z));
        begin(w, KILN_EXPECT_BETWEEN, c->name);
        put(w, "    min_value: \"");
        put(w, a);
        put(w, "\"\n    max_value: \"");
        put(w, z);
        put(w, "\"\n");
    }
    if ((t == KILN_COL_STRING || t == KILN_COL_BOOLEAN) && !c->texts.overflow && c->texts.n <= 50 &&
        !unique)
        allowed_values(w, c);
    if (unique)
        begin(w, KILN_EXPECT_UNIQUE, c->name);
    else if (t != KILN_COL_TIMESTAMP)
        begin(w, KILN_EXPECT_NO_DRIFT, c->name);
}

int kiln_suite_suggest(const struct kiln_profile *p, const char *profile_name, struct kiln_buf *out,
                       struct kiln_err *err)
{
    struct yw w = { out, KILN_OK };
    const char *base = strrchr(p->source, '/');
    char line[512];
    base = base != NULL ? base + 1 : p->source;
    snprintf(line, sizeof(line),
             "# Expectations suggested by `kiln validate --suggest` from %.100s\n"
             "# (%llu rows of %.100s). Review and edit; docs/validation.md lists them all.\n",
             profile_name != NULL ? profile_name : "a profile", (unsigned long long)p->rows, base);
    put(&w, line);
    put(&w, "name: ");
    quoted(&w, base, strcspn(base, "."));
    put(&w, "\nexpectations:\n");
    begin(&w, KILN_EXPECT_COLUMNS_MATCH_SET, NULL);
    put(&w, "    column_set: [");
    for (size_t i = 0; i < p->ncols; i++) {
        if (i)
            put(&w, ", ");
        quoted(&w, p->cols[i].name, strlen(p->cols[i].name));
    }
    put(&w, "]\n    exact_match: true\n");
    begin(&w, KILN_EXPECT_ROW_COUNT, NULL);
    put(&w, "    min_value: 1\n");
    for (size_t i = 0; i < p->ncols; i++)
        column(&w, &p->cols[i]);
    if (w.rc != KILN_OK)
        return kiln_err_set(err, w.rc, "cannot write the suggested suite: %s", kiln_strerror(w.rc));
    return KILN_OK;
}

/*
 * validate.c - running an expectation suite over a data file in one pass (see expect.h).
 *
 * Before reading, each expectation is bound to its column (a missing column makes the
 * expectation fail with an exception, as in Great Expectations). During the pass every cell
 * of a bound column updates the column's summary and is checked by that column's row-level
 * expectations; a failure is counted, its value counted in a capped table (for the most
 * frequent unexpected values) and, for the first 20, kept with its line number. Columns
 * with a median or quantile expectation also keep their numbers for exact order statistics.
 * Aggregate, table and drift expectations are decided after the pass from the summaries
 * (drift: the summaries against the profile, through the drift engine).
 *
 * Memory: fixed per column (summaries) except uniqueness (one entry per distinct value) and
 * exact quantiles (8 bytes per value), which these expectations need by nature.
 * Single-threaded.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "core/time.h"
#include "quality/expect_int.h"
#include "quality/num.h"
#include "quality/stats.h"

/* Per-expectation state during the pass. */
struct estate {
    long col;                /* data column, -1 if absent */
    struct kiln_counts uniq; /* unique: every value with its first line */
    struct kiln_counts bad;  /* unexpected values (capped) */
    uint64_t nbad_missing;   /* unexpected missing values (not_null) */
};

struct run {
    const struct kiln_suite *suite;
    struct kiln_validation *v;
    struct estate *st;
    size_t *col_first, *col_next; /* row-level expectations chained per column */
    unsigned char *want;          /* columns whose numbers are kept (median, quantiles) */
    double **vals;
    size_t *nvals, *capvals;
    char *scratch;
    size_t scratch_cap;
};

void kiln_validation_free(struct kiln_validation *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nresults; i++) {
        struct kiln_expect_result *r = &v->results[i];
        kiln_free(r->exception);
        kiln_free(r->observed_text);
        kiln_free(r->column);
        json_decref(r->kwargs);
        for (size_t k = 0; k < r->npartial; k++)
            kiln_free(r->partial_value[k]);
        for (size_t k = 0; k < r->ncounts; k++)
            kiln_free(r->count_value[k]);
    }
    for (size_t i = 0; i < v->ncols; i++)
        kiln_colsum_release(&v->cols[i]);
    kiln_free(v->cols);
    kiln_free(v->results);
    kiln_drift_result_free(v->drift);
    kiln_free(v->data_name);
    kiln_free(v->suite_name);
    kiln_free(v->profile_name);
    kiln_free(v);
}

static int in_range(double x, double lo, double hi, int strict_lo, int strict_hi)
{
    if (isnan(x))
        return 0;
    if (!isnan(lo) && (strict_lo ? !(x > lo) : !(x >= lo)))
        return 0;
    if (!isnan(hi) && (strict_hi ? !(x < hi) : !(x <= hi)))
        return 0;
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Cell value as a number (timestamps in seconds when ts); 0 if it is not one. */
static int cell_number(const struct kiln_cell *c, int ts, double *out)
{
    int64_t ms;
    if (ts) {
        if (kiln_time_parse_iso(c->p, c->len, &ms) != KILN_OK)
            return 0;
        *out = (double)ms / 1000.0;
        return 1;
    }
    return kiln_num_parse(c->p, c->len, out) != KILN_NUM_NONE;
}

static int type_ok(const struct kiln_cell *c, enum kiln_coltype t)
{
    double d;
    int b;
    int64_t ms;
    switch (t) {
    case KILN_COL_INTEGER:
        return kiln_num_parse(c->p, c->len, &d) == KILN_NUM_INT;
    case KILN_COL_FLOAT:
        return kiln_num_parse(c->p, c->len, &d) != KILN_NUM_NONE;
    case KILN_COL_BOOLEAN:
        return kiln_num_parse_bool(c->p, c->len, &b);
    case KILN_COL_TIMESTAMP:
        return kiln_time_parse_iso(c->p, c->len, &ms) == KILN_OK;
    default:
        return 1;
    }
}

static int regex_hit(struct run *run, const struct kiln_expect *e, const struct kiln_cell *c,
                     int *hit)
{
    if (c->len + 1 > run->scratch_cap) {
        size_t cap = (c->len + 1) * 2;
        char *s = kiln_realloc(run->scratch, cap);
        if (s == NULL)
            return KILN_ENOMEM;
        run->scratch = s;
        run->scratch_cap = cap;
    }
    memcpy(run->scratch, c->p, c->len);
    run->scratch[c->len] = '\0';
    *hit = regexec(&e->re, run->scratch, 0, NULL, 0) == 0;
    return KILN_OK;
}

static int in_set(const struct kiln_expect *e, const struct kiln_cell *c)
{
    double d;
    if (kiln_counts_find(&e->set_text, c->p, c->len) != NULL)
        return 1;
    if (e->nset_num > 0 && kiln_num_parse(c->p, c->len, &d) != KILN_NUM_NONE) {
        if (d == 0)
            d = 0.0;
        return bsearch(&d, e->set_num, e->nset_num, sizeof(double), cmp_double) != NULL;
    }
    return 0;
}

/* Records one unexpected value (p NULL for a missing one). */
static int unexpected(struct kiln_expect_result *r, struct estate *st, const char *p, size_t len,
                      uint64_t line)
{
    r->unexpected_count++;
    if (r->npartial < KILN_PARTIAL_MAX) {
        char *copy = NULL;
        if (p != NULL && (copy = kiln_strndup(p, len)) == NULL)
            return KILN_ENOMEM;
        r->partial_value[r->npartial] = copy;
        r->partial_line[r->npartial++] = line;
    }
    if (p == NULL) {
        st->nbad_missing++;
        return KILN_OK;
    }
    return kiln_counts_add(&st->bad, p, len, 1, line, NULL);
}

/* Checks one cell against one row-level expectation. */
static int check_cell(struct run *run, size_t ei, const struct kiln_cell *c, uint64_t line)
{
    const struct kiln_expect *e = &run->suite->e[ei];
    struct kiln_expect_result *r = &run->v->results[ei];
    struct estate *st = &run->st[ei];
    const struct kiln_counts_entry *ent;
    double d;
    int ok = 1, rc, hit;

    if (c->flags & KILN_CELL_MISSING)
        return e->kind == KILN_EXPECT_NOT_NULL ? unexpected(r, st, NULL, 0, line) : KILN_OK;
    switch (e->kind) {
    case KILN_EXPECT_TYPE:
        ok = type_ok(c, e->ctype);
        break;
    case KILN_EXPECT_BETWEEN:
        ok = cell_number(c, e->timestamp_bounds != 0, &d) &&
             in_range(d, e->min, e->max, e->strict_min, e->strict_max);
        break;
    case KILN_EXPECT_IN_SET:
        ok = in_set(e, c);
        break;
    case KILN_EXPECT_NOT_IN_SET:
        ok = !in_set(e, c);
        break;
    case KILN_EXPECT_REGEX:
    case KILN_EXPECT_NOT_REGEX:
        if ((rc = regex_hit(run, e, c, &hit)) != KILN_OK)
            return rc;
        ok = e->kind == KILN_EXPECT_REGEX ? hit : !hit;
        break;
    case KILN_EXPECT_UNIQUE:
        if ((rc = kiln_counts_add(&st->uniq, c->p, c->len, 1, line, &ent)) != KILN_OK)
            return rc;
        if (ent->count == 2 && (rc = unexpected(r, st, c->p, c->len, ent->first)) != KILN_OK)
            return rc;
        ok = ent->count < 2;
        break;
    default:
        break;
    }
    return ok ? KILN_OK : unexpected(r, st, c->p, c->len, line);
}

static int keep_value(struct run *run, size_t col, const struct kiln_cell *c)
{
    double d;
    if ((c->flags & KILN_CELL_MISSING) || kiln_num_parse(c->p, c->len, &d) == KILN_NUM_NONE ||
        !isfinite(d))
        return KILN_OK;
    if (run->nvals[col] == run->capvals[col]) {
        size_t cap = run->capvals[col] ? run->capvals[col] * 2 : 1024;
        double *p = kiln_reallocarray(run->vals[col], cap, sizeof(*p));
        if (p == NULL)
            return KILN_ENOMEM;
        run->vals[col] = p;
        run->capvals[col] = cap;
    }
    run->vals[col][run->nvals[col]++] = d;
    return KILN_OK;
}

static int row(struct run *run, const struct kiln_cell *cells, uint64_t line)
{
    struct kiln_validation *v = run->v;
    for (size_t col = 0; col < v->ncols; col++) {
        const struct kiln_cell *c = &cells[col];
        int rc = kiln_colsum_add(&v->cols[col], c->p, c->len, c->flags);
        if (rc != KILN_OK)
            return rc;
        if (run->want[col] && (rc = keep_value(run, col, c)) != KILN_OK)
            return rc;
        for (size_t ei = run->col_first[col]; ei != (size_t)-1; ei = run->col_next[ei])
            if ((rc = check_cell(run, ei, c, line)) != KILN_OK)
                return rc;
    }
    return KILN_OK;
}

static int set_text(char **dst, const char *s)
{
    *dst = kiln_strdup(s);
    return *dst != NULL ? KILN_OK : KILN_ENOMEM;
}

/* Binds expectations to columns and chains the row-level ones per column. */
static int bind(struct run *run, struct kiln_table_reader *r)
{
    const struct kiln_suite *s = run->suite;
    struct kiln_validation *v = run->v;
    for (size_t col = 0; col < v->ncols; col++)
        run->col_first[col] = (size_t)-1;
    for (size_t i = s->n; i-- > 0;) {
        const struct kiln_expect *e = &s->e[i];
        struct kiln_expect_result *res = &v->results[i];
        char msg[300];
        res->kind = e->kind;
        res->line = e->line;
        res->kwargs = json_incref(e->kwargs);
        if (e->column != NULL && set_text(&res->column, e->column) != KILN_OK)
            return KILN_ENOMEM;
        res->row_level = kiln_expect_row_level(e->kind);
        res->observed = NAN;
        run->st[i].col = -1;
        kiln_counts_init(&run->st[i].uniq, SIZE_MAX);
        kiln_counts_init(&run->st[i].bad, 1000);
        run->col_next[i] = (size_t)-1;
        if (e->column == NULL)
            continue;
        run->st[i].col = kiln_table_reader_find(r, e->column);
        if (run->st[i].col < 0) {
            if (e->kind == KILN_EXPECT_COLUMN_EXISTS)
                continue;
            snprintf(msg, sizeof(msg), "column '%.200s' is not in the data", e->column);
            if (set_text(&res->exception, msg) != KILN_OK)
                return KILN_ENOMEM;
            continue;
        }
        if (e->kind == KILN_EXPECT_MEDIAN || e->kind == KILN_EXPECT_QUANTILES)
            run->want[run->st[i].col] = 1;
        if (res->row_level) {
            run->col_next[i] = run->col_first[run->st[i].col];
            run->col_first[run->st[i].col] = i;
        }
    }
    return KILN_OK;
}

/* Most frequent unexpected values (at most 20, ties by first line). */
static int top_counts(struct kiln_expect_result *r, const struct estate *st)
{
    size_t n = 0;
    unsigned char *used = kiln_calloc(st->bad.n + 1, 1);
    if (used == NULL)
        return KILN_ENOMEM;
    if (st->nbad_missing > 0) {
        r->count_value[n] = NULL;
        r->count_n[n++] = st->nbad_missing;
        r->ncounts = n;
    }
    while (n < KILN_PARTIAL_MAX) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < st->bad.n; i++)
            if (!used[i] && (best == (size_t)-1 || st->bad.e[i].count > st->bad.e[best].count))
                best = i;
        if (best == (size_t)-1)
            break;
        used[best] = 1;
        r->count_value[n] = kiln_strndup(st->bad.e[best].key, st->bad.e[best].len);
        if (r->count_value[n] == NULL) {
            kiln_free(used);
            return KILN_ENOMEM;
        }
        r->count_n[n++] = st->bad.e[best].count;
        r->ncounts = n;
    }
    r->ncounts = n;
    kiln_free(used);
    return KILN_OK;
}

/* An aggregate over a column's numbers; exception when the column is not numeric. */
static int numeric_column(struct kiln_expect_result *res, const struct kiln_colsum *c, int ts)
{
    uint64_t nonmissing = c->rows - c->missing;
    if (c->n_num == 0 || (!ts && c->n_int + c->n_float != nonmissing) ||
        (ts && c->n_ts != nonmissing)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "column '%.200s' is not %s", c->name,
                 ts ? "all timestamps" : "numeric");
        return set_text(&res->exception, msg) == KILN_OK ? 0 : -1;
    }
    return 1;
}

static double exact_quantile(double *v, size_t n, double q, int nearest)
{
    return nearest ? kiln_quantile_nearest(v, NULL, n, n, q)
                   : kiln_quantile_linear(v, NULL, n, n, q);
}

static int columns_match(struct kiln_expect_result *res, const struct kiln_expect *e,
                         const struct kiln_validation *v)
{
    struct kiln_buf missing, extra, all;
    int rc = KILN_OK;
    kiln_buf_init(&missing, 1 << 16);
    kiln_buf_init(&extra, 1 << 16);
    kiln_buf_init(&all, 1 << 17);
    for (size_t i = 0; i < e->ncolset; i++) {
        int found = 0;
        for (size_t k = 0; k < v->ncols && !found; k++)
            found = strcmp(v->cols[k].name, e->colset[i]) == 0;
        if (!found)
            kiln_buf_printf(&missing, "%s%s", missing.len ? ", " : "", e->colset[i]);
    }
    for (size_t k = 0; k < v->ncols; k++) {
        int found = 0;
        for (size_t i = 0; i < e->ncolset && !found; i++)
            found = strcmp(v->cols[k].name, e->colset[i]) == 0;
        if (!found)
            kiln_buf_printf(&extra, "%s%s", extra.len ? ", " : "", v->cols[k].name);
    }
    res->success = missing.len == 0 && (!e->exact_match || extra.len == 0);
    if (missing.len || extra.len) {
        kiln_buf_printf(&all, "missing columns: %s; extra columns: %s",
                        missing.len ? missing.buf : "none", extra.len ? extra.buf : "none");
        rc = set_text(&res->observed_text, all.buf);
    }
    kiln_buf_release(&missing);
    kiln_buf_release(&extra);
    kiln_buf_release(&all);
    return rc;
}

static int quantiles(struct run *run, struct kiln_expect_result *res, const struct kiln_expect *e,
                     size_t col)
{
    struct kiln_buf t;
    double *v = run->vals[col];
    size_t n = run->nvals[col];
    int rc;
    if (run->want[col] == 1) {
        double *tmp = kiln_malloc((n + 1) * sizeof(*tmp));
        kiln_stats_sort(v, n, tmp);
        kiln_free(tmp);
        run->want[col] = 2;
    }
    if (e->kind == KILN_EXPECT_MEDIAN) {
        res->observed = exact_quantile(v, n, 0.5, 0);
        res->success = in_range(res->observed, e->min, e->max, e->strict_min, e->strict_max);
        return KILN_OK;
    }
    kiln_buf_init(&t, 1 << 16);
    res->success = 1;
    for (size_t i = 0; i < e->nq; i++) {
        double q = exact_quantile(v, n, e->q[i], 1);
        if (i == 0)
            res->observed = q;
        if (!in_range(q, e->qlo[i], e->qhi[i], 0, 0))
            res->success = 0;
        kiln_buf_printf(&t, "%sq%g=%.6g", i ? ", " : "", e->q[i], q);
    }
    rc = set_text(&res->observed_text, t.buf);
    kiln_buf_release(&t);
    return rc;
}

static int finish_one(struct run *run, size_t i)
{
    const struct kiln_expect *e = &run->suite->e[i];
    struct kiln_expect_result *res = &run->v->results[i];
    const struct estate *st = &run->st[i];
    const struct kiln_colsum *c = st->col >= 0 ? &run->v->cols[st->col] : NULL;
    uint64_t rows = run->v->rows, denom;
    int numeric;

    res->element_count = rows;
    if (res->exception != NULL || e->kind == KILN_EXPECT_NO_DRIFT ||
        e->kind == KILN_EXPECT_TABLE_NO_DRIFT)
        return KILN_OK;
    if (c != NULL)
        res->missing_count = c->missing;
    if (res->row_level) {
        denom = e->kind == KILN_EXPECT_NOT_NULL ? rows : rows - c->missing;
        res->success = denom == 0 ||
                       (double)(denom - res->unexpected_count) >= e->mostly * (double)denom - 1e-9;
        return top_counts(res, st);
    }
    switch (e->kind) {
    case KILN_EXPECT_COLUMNS_MATCH_SET:
        return columns_match(res, e, run->v);
    case KILN_EXPECT_ROW_COUNT:
        res->observed = (double)rows;
        res->success = in_range(res->observed, e->min, e->max, e->strict_min, e->strict_max);
        return KILN_OK;
    case KILN_EXPECT_COLUMN_EXISTS:
        res->success = c != NULL;
        return KILN_OK;
    case KILN_EXPECT_MISSING_SHARE:
        res->observed = rows ? (double)c->missing / (double)rows : 0;
        res->success = res->observed <= e->max;
        return KILN_OK;
    default:
        break;
    }
    numeric = numeric_column(res, c, e->timestamp_bounds != 0);
    if (numeric <= 0)
        return numeric == 0 ? KILN_OK : KILN_ENOMEM;
    switch (e->kind) {
    case KILN_EXPECT_MEAN:
        res->observed = c->mean;
        break;
    case KILN_EXPECT_STDEV:
        res->observed = kiln_colsum_std(c, 1);
        break;
    case KILN_EXPECT_MIN:
        res->observed = c->min;
        break;
    case KILN_EXPECT_MAX:
        res->observed = c->max;
        break;
    default:
        return quantiles(run, res, e, (size_t)st->col);
    }
    res->success = in_range(res->observed, e->min, e->max, e->strict_min, e->strict_max);
    return KILN_OK;
}

/* Drift expectations: one drift run of the summaries against the profile. */
static int drift(struct run *run, const struct kiln_profile *p, struct kiln_err *err)
{
    const struct kiln_suite *s = run->suite;
    struct kiln_validation *v = run->v;
    struct kiln_drift_opts o;
    struct kiln_drift_colopt *per = kiln_calloc(s->n + 1, sizeof(*per));
    const char **cols = kiln_calloc(s->n + 1, sizeof(*cols));
    struct kiln_drift_data *ref = NULL, *cur = NULL;
    int table = 0, rc = KILN_OK;
    size_t ncols = 0;

    kiln_drift_opts_init(&o);
    if (per == NULL || cols == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct kiln_expect *e = &s->e[i];
        struct kiln_expect_result *res = &v->results[i];
        if (e->kind == KILN_EXPECT_TABLE_NO_DRIFT) {
            table = 1;
            o.method = e->method;
            o.threshold = e->threshold;
            if (!isnan(e->drift_share))
                o.drift_share = e->drift_share;
        } else if (e->kind == KILN_EXPECT_NO_DRIFT && res->exception == NULL) {
            if (kiln_profile_find(p, e->column) < 0) {
                char msg[300];
                snprintf(msg, sizeof(msg), "column '%.200s' is not in the profile", e->column);
                if (set_text(&res->exception, msg) != KILN_OK) {
                    rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
                    goto out;
                }
                continue;
            }
            per[o.nper_column].column = e->column;
            per[o.nper_column].method = e->method;
            per[o.nper_column++].threshold = e->threshold;
            cols[ncols++] = e->column;
        }
    }
    if (!table && ncols == 0)
        goto out;
    o.per_column = per;
    if (!table) {
        o.columns = cols;
        o.ncolumns = ncols;
    }
    if ((rc = kiln_drift_data_from_profile(p, &ref, err)) != KILN_OK ||
        (rc = kiln_drift_data_from_summaries(v->cols, v->ncols, v->data_name, v->rows, p->bins,
                                             &cur, err)) != KILN_OK ||
        (rc = kiln_drift_compute(ref, cur, &o, &v->drift, err)) != KILN_OK)
        goto out;
    for (size_t i = 0; i < s->n; i++) {
        const struct kiln_expect *e = &s->e[i];
        struct kiln_expect_result *res = &v->results[i];
        char text[200];
        if (e->kind == KILN_EXPECT_TABLE_NO_DRIFT) {
            res->observed = v->drift->drift_share;
            res->success = !v->drift->dataset_drift;
            snprintf(text, sizeof(text), "%zu of %zu columns drifted (share %.3g, threshold %.3g)",
                     v->drift->n_drifted, v->drift->n_checked, v->drift->drift_share,
                     v->drift->drift_share_threshold);
            if (set_text(&res->observed_text, text) != KILN_OK)
                rc = KILN_ENOMEM;
            continue;
        }
        if (e->kind != KILN_EXPECT_NO_DRIFT || res->exception != NULL)
            continue;
        for (size_t k = 0; k < v->drift->ncols; k++) {
            const struct kiln_drift_column *dc = &v->drift->cols[k];
            if (strcmp(dc->name, e->column) != 0)
                continue;
            if (dc->error != NULL) {
                rc = set_text(&res->exception, dc->error);
                break;
            }
            res->observed = dc->statistic;
            res->success = !dc->drifted;
            snprintf(text, sizeof(text), "%s statistic %.6g%s%.6g (threshold %.3g)",
                     kiln_drift_method_name(dc->method), dc->statistic,
                     isnan(dc->p_value) ? "" : ", p-value ", isnan(dc->p_value) ? 0 : dc->p_value,
                     dc->threshold);
            if (isnan(dc->p_value))
                snprintf(text, sizeof(text), "%s statistic %.6g (threshold %.3g)",
                         kiln_drift_method_name(dc->method), dc->statistic, dc->threshold);
            rc = set_text(&res->observed_text, text);
            break;
        }
    }
    if (rc != KILN_OK)
        kiln_err_set(err, rc, "out of memory");
out:
    kiln_drift_data_free(ref);
    kiln_drift_data_free(cur);
    kiln_free(per);
    kiln_free(cols);
    return rc;
}

static void run_release(struct run *run, size_t nexp, size_t ncols)
{
    for (size_t i = 0; i < nexp && run->st != NULL; i++) {
        kiln_counts_release(&run->st[i].uniq);
        kiln_counts_release(&run->st[i].bad);
    }
    for (size_t c = 0; c < ncols && run->vals != NULL; c++)
        kiln_free(run->vals[c]);
    kiln_free(run->st);
    kiln_free(run->col_first);
    kiln_free(run->col_next);
    kiln_free(run->want);
    kiln_free(run->vals);
    kiln_free(run->nvals);
    kiln_free(run->capvals);
    kiln_free(run->scratch);
}

static int setup(struct run *run, struct kiln_table_reader *r, const struct kiln_suite *suite,
                 const struct kiln_profile *p, const char *profile_name)
{
    struct kiln_validation *v = run->v;
    struct kiln_colsum_opts co = { 0, 0 };
    size_t n = suite->n, ncols = kiln_table_reader_ncols(r);
    if (p != NULL) {
        co.sketch_k = p->sketch_k;
        co.max_values = p->max_values;
    }
    v->data_name = kiln_strdup(kiln_table_reader_name(r));
    v->suite_name = kiln_strdup(suite->name);
    v->profile_name = profile_name != NULL ? kiln_strdup(profile_name) : NULL;
    v->results = kiln_calloc(n + 1, sizeof(*v->results));
    v->cols = kiln_calloc(ncols + 1, sizeof(*v->cols));
    run->st = kiln_calloc(n + 1, sizeof(*run->st));
    run->col_next = kiln_calloc(n + 1, sizeof(size_t));
    run->col_first = kiln_calloc(ncols + 1, sizeof(size_t));
    run->want = kiln_calloc(ncols + 1, 1);
    run->vals = kiln_calloc(ncols + 1, sizeof(double *));
    run->nvals = kiln_calloc(ncols + 1, sizeof(size_t));
    run->capvals = kiln_calloc(ncols + 1, sizeof(size_t));
    if (v->data_name == NULL || v->suite_name == NULL || (profile_name && !v->profile_name) ||
        v->results == NULL || v->cols == NULL || run->st == NULL || run->col_next == NULL ||
        run->col_first == NULL || run->want == NULL || run->vals == NULL || run->nvals == NULL ||
        run->capvals == NULL)
        return KILN_ENOMEM;
    v->nresults = n;
    for (size_t i = 0; i < ncols; i++) {
        if (kiln_colsum_init(&v->cols[i], kiln_table_reader_colname(r, i), &co) != KILN_OK)
            return KILN_ENOMEM;
        v->ncols++;
    }
    return bind(run, r);
}

int kiln_validate(struct kiln_table_reader *r, const struct kiln_suite *suite,
                  const struct kiln_profile *profile, const char *profile_name,
                  struct kiln_validation **out, struct kiln_err *err)
{
    struct run run;
    struct kiln_validation *v;
    const struct kiln_cell *cells;
    int rc, got;

    for (size_t i = 0; i < suite->n && profile == NULL; i++)
        if (suite->e[i].kind == KILN_EXPECT_NO_DRIFT ||
            suite->e[i].kind == KILN_EXPECT_TABLE_NO_DRIFT)
            return kiln_err_set(err, KILN_EINVAL, "%s: line %d: %s needs a profile (--profile)",
                                suite->name, suite->e[i].line, kiln_expect_name(suite->e[i].kind));
    memset(&run, 0, sizeof(run));
    v = kiln_calloc(1, sizeof(*v));
    if (v == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    run.suite = suite;
    run.v = v;
    v->time_ms = kiln_now_ms();
    rc = setup(&run, r, suite, profile, profile_name);
    if (rc != KILN_OK) {
        kiln_err_set(err, rc, "out of memory");
        goto out;
    }
    while ((got = kiln_table_reader_next(r, &cells, err)) == 1)
        if ((rc = row(&run, cells, kiln_table_reader_line(r))) != KILN_OK) {
            kiln_err_set(err, rc, "out of memory");
            goto out;
        }
    if (got < 0) {
        rc = got;
        goto out;
    }
    v->rows = kiln_table_reader_rows(r);
    for (size_t i = 0; i < suite->n; i++)
        if ((rc = finish_one(&run, i)) != KILN_OK) {
            kiln_err_set(err, rc, "out of memory");
            goto out;
        }
    if (profile != NULL && (rc = drift(&run, profile, err)) != KILN_OK)
        goto out;
    v->evaluated = suite->n;
    for (size_t i = 0; i < suite->n; i++)
        v->successful += v->results[i].success && v->results[i].exception == NULL;
    v->success = v->successful == v->evaluated;
out:
    run_release(&run, suite->n, v->ncols);
    if (rc != KILN_OK) {
        kiln_validation_free(v);
        return rc;
    }
    *out = v;
    return KILN_OK;
}

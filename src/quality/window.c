/*
 * window.c - drift windows over streams (see drift.h): one column summary per reference
 * column, filled row by row in fixed memory, compared with the reference profile on demand.
 *
 * Lifecycle: new -> (add_row | add_text/add_number ... end_row)* -> compute -> reset -> ...
 * -> free. The reference side is built once from the profile at creation; compute builds a
 * temporary side over the window's summaries. The options struct is copied, but arrays it
 * points to (columns, per_column) are borrowed like the profile. Not thread-safe: give
 * each thread its own window and merge them.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "quality/drift_int.h"

struct kiln_drift_window {
    const struct kiln_profile *ref;
    struct kiln_drift_data *refdata;
    struct kiln_drift_opts opts;
    struct kiln_colsum *cols;
    size_t ncols;
    uint64_t rows;
};

void kiln_drift_window_free(struct kiln_drift_window *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->ncols; i++)
        kiln_colsum_release(&w->cols[i]);
    kiln_free(w->cols);
    kiln_drift_data_free(w->refdata);
    kiln_free(w);
}

int kiln_drift_window_new(const struct kiln_profile *ref, const struct kiln_drift_opts *opts,
                          struct kiln_drift_window **out, struct kiln_err *err)
{
    struct kiln_drift_window *w = kiln_calloc(1, sizeof(*w));
    struct kiln_colsum_opts co;
    int rc;
    if (w == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    w->ref = ref;
    if (opts != NULL)
        w->opts = *opts;
    else
        kiln_drift_opts_init(&w->opts);
    co.sketch_k = ref->sketch_k;
    co.max_values = ref->max_values;
    w->cols = kiln_calloc(ref->ncols + 1, sizeof(*w->cols));
    if (w->cols == NULL) {
        kiln_drift_window_free(w);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ref->ncols; i++) {
        if (kiln_colsum_init(&w->cols[i], ref->cols[i].name, &co) != KILN_OK) {
            kiln_drift_window_free(w);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        w->ncols++;
    }
    rc = kiln_drift_data_from_profile(ref, &w->refdata, err);
    if (rc != KILN_OK) {
        kiln_drift_window_free(w);
        return rc;
    }
    *out = w;
    return KILN_OK;
}

int kiln_drift_window_add_row(struct kiln_drift_window *w, const struct kiln_cell *cells)
{
    for (size_t i = 0; i < w->ncols; i++) {
        int rc = kiln_colsum_add(&w->cols[i], cells[i].p, cells[i].len, cells[i].flags);
        if (rc != KILN_OK)
            return rc;
    }
    w->rows++;
    return KILN_OK;
}

int kiln_drift_window_add_text(struct kiln_drift_window *w, size_t col, const char *p, size_t len)
{
    if (col >= w->ncols)
        return KILN_EINVAL;
    return kiln_colsum_add(&w->cols[col], p, len, kiln_table_is_na(p, len) ? KILN_CELL_MISSING : 0);
}

int kiln_drift_window_add_number(struct kiln_drift_window *w, size_t col, double v)
{
    if (col >= w->ncols)
        return KILN_EINVAL;
    return kiln_colsum_add_double(&w->cols[col], v);
}

void kiln_drift_window_end_row(struct kiln_drift_window *w)
{
    w->rows++;
}

uint64_t kiln_drift_window_rows(const struct kiln_drift_window *w)
{
    return w->rows;
}

int kiln_drift_window_merge(struct kiln_drift_window *dst, const struct kiln_drift_window *src)
{
    if (dst->ref != src->ref || dst->ncols != src->ncols)
        return KILN_EINVAL;
    for (size_t i = 0; i < dst->ncols; i++) {
        int rc = kiln_colsum_merge(&dst->cols[i], &src->cols[i]);
        if (rc != KILN_OK)
            return rc;
    }
    dst->rows += src->rows;
    return KILN_OK;
}

int kiln_drift_window_compute(const struct kiln_drift_window *w, struct kiln_drift_result **out,
                              struct kiln_err *err)
{
    struct kiln_drift_data *cur = NULL;
    int rc = kiln_drift_data_from_summaries(w->cols, w->ncols, "window", w->rows, w->ref->bins,
                                            &cur, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_drift_compute(w->refdata, cur, &w->opts, out, err);
    kiln_drift_data_free(cur);
    return rc;
}

void kiln_drift_window_reset(struct kiln_drift_window *w)
{
    for (size_t i = 0; i < w->ncols; i++)
        kiln_colsum_reset(&w->cols[i]);
    w->rows = 0;
}

const struct kiln_colsum *kiln_drift_window_columns(const struct kiln_drift_window *w,
                                                    size_t *ncols)
{
    *ncols = w->ncols;
    return w->cols;
}

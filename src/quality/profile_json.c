/*
 * profile_json.c - a profile to JSON and back (format documented in docs/drift.md).
 *
 * Writing streams through kiln_jsonw; every number is written in its shortest round-trip
 * form, so a profile that is written and read back holds bit-identical summaries (moments,
 * sketch items, value counts). Reading uses jansson and validates every field it uses,
 * naming it in the error ("columns[2].numeric.sketch.levels[1][7]: not a finite number");
 * the sketch is rebuilt level by level and must add up to the stored counts.
 */
#include <math.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "quality/profile.h"

#define PROFILE_VERSION 1

static void write_counts(struct kiln_jsonw *w, const struct kiln_counts *c, int numeric)
{
    size_t *order = NULL;
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "counts");
    kiln_jsonw_arr_begin(w);
    if (kiln_counts_sorted(c, numeric, &order) != KILN_OK) {
        w->rc = KILN_ENOMEM;
    } else {
        for (size_t i = 0; i < c->n; i++) {
            const struct kiln_counts_entry *e = &c->e[order[i]];
            kiln_jsonw_arr_begin(w);
            if (numeric)
                kiln_jsonw_double(w, kiln_counts_num(e));
            else
                kiln_jsonw_strn(w, e->key, e->len);
            kiln_jsonw_int(w, (int64_t)e->count);
            kiln_jsonw_arr_end(w);
        }
    }
    kiln_free(order);
    kiln_jsonw_arr_end(w);
    kiln_jsonw_kv_int(w, "other", (int64_t)c->other);
    kiln_jsonw_kv_bool(w, "overflow", c->overflow);
    kiln_jsonw_obj_end(w);
}

static void write_numeric(struct kiln_jsonw *w, const struct kiln_colsum *c, uint32_t bins)
{
    static const double qs[] = { 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99 };
    double *v = NULL, *edges = NULL;
    uint64_t *wt = NULL, *counts = NULL;
    size_t n = 0, ne;
    char key[16];

    if (kiln_kll_sorted(&c->kll, &v, &wt, &n) != KILN_OK) {
        w->rc = KILN_ENOMEM;
        return;
    }
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "count", (int64_t)c->n_num);
    kiln_jsonw_kv_int(w, "non_finite", (int64_t)c->n_inf);
    kiln_jsonw_kv_double(w, "min", c->min);
    kiln_jsonw_kv_double(w, "max", c->max);
    kiln_jsonw_kv_double(w, "mean", c->mean);
    kiln_jsonw_key(w, "std");
    kiln_jsonw_double_or_null(w, kiln_colsum_std(c, 1));
    kiln_jsonw_kv_double(w, "std_population", kiln_colsum_std(c, 0));
    kiln_jsonw_kv_double(w, "m2", c->m2);
    kiln_jsonw_key(w, "quantiles");
    kiln_jsonw_obj_begin(w);
    for (size_t i = 0; i < KILN_ARRAY_LEN(qs); i++) {
        snprintf(key, sizeof(key), "%g", qs[i]);
        kiln_jsonw_kv_double(w, key, kiln_quantile_linear(v, wt, n, c->kll.n, qs[i]));
    }
    kiln_jsonw_obj_end(w);
    edges = kiln_calloc(bins + 1, sizeof(*edges));
    counts = kiln_calloc(bins + 1, sizeof(*counts));
    if (edges == NULL || counts == NULL) {
        w->rc = KILN_ENOMEM;
    } else {
        ne = kiln_quantile_edges(v, wt, n, c->kll.n, bins, edges);
        kiln_bin_count_right(v, wt, n, edges, ne, counts);
        kiln_jsonw_key(w, "histogram");
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "kind", "quantile");
        kiln_jsonw_key(w, "edges");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < ne; i++)
            kiln_jsonw_double(w, edges[i]);
        kiln_jsonw_arr_end(w);
        kiln_jsonw_key(w, "counts");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i <= ne; i++)
            kiln_jsonw_int(w, (int64_t)counts[i]);
        kiln_jsonw_arr_end(w);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_key(w, "sketch");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "k", c->kll.k);
    kiln_jsonw_kv_int(w, "n", (int64_t)c->kll.n);
    kiln_jsonw_key(w, "levels");
    kiln_jsonw_arr_begin(w);
    for (uint32_t h = 0; h < c->kll.nlevels; h++) {
        kiln_jsonw_arr_begin(w);
        for (uint32_t i = 0; i < c->kll.size[h]; i++) {
            /* 17 significant digits always round-trip; one snprintf instead of the
             * shortest-form search, which matters for thousands of items. */
            char b[32];
            int bl = snprintf(b, sizeof(b), "%.17g", c->kll.items[h][i]);
            kiln_jsonw_raw(w, b, (size_t)bl);
        }
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
    kiln_free(edges);
    kiln_free(counts);
    kiln_free(v);
    kiln_free(wt);
}

static void write_column(struct kiln_jsonw *w, const struct kiln_colsum *c, uint32_t bins)
{
    enum kiln_coltype t = kiln_colsum_type(c);
    int exact;
    uint64_t distinct = kiln_colsum_distinct(c, &exact);
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", c->name);
    kiln_jsonw_kv_str(w, "type", kiln_coltype_name(t));
    kiln_jsonw_kv_int(w, "rows", (int64_t)c->rows);
    kiln_jsonw_kv_int(w, "missing", (int64_t)c->missing);
    kiln_jsonw_kv_double(w, "missing_share", c->rows ? (double)c->missing / (double)c->rows : 0);
    kiln_jsonw_kv_int(w, "distinct", (int64_t)distinct);
    kiln_jsonw_kv_bool(w, "distinct_exact", exact);
    kiln_jsonw_key(w, "kinds");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "integer", (int64_t)c->n_int);
    kiln_jsonw_kv_int(w, "float", (int64_t)c->n_float);
    kiln_jsonw_kv_int(w, "boolean", (int64_t)c->n_bool);
    kiln_jsonw_kv_int(w, "timestamp", (int64_t)c->n_ts);
    kiln_jsonw_kv_int(w, "text", (int64_t)c->n_text);
    kiln_jsonw_obj_end(w);
    if (c->rows > c->missing) {
        kiln_jsonw_key(w, "length");
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_int(w, "min", (int64_t)c->len_min);
        kiln_jsonw_kv_int(w, "max", (int64_t)c->len_max);
        kiln_jsonw_obj_end(w);
    }
    if (c->n_num > 0) {
        kiln_jsonw_key(w, "numeric");
        write_numeric(w, c, bins);
        if (t == KILN_COL_TIMESTAMP) {
            char a[32], b[32];
            kiln_time_format_iso((int64_t)llround(c->min * 1000), a, sizeof(a));
            kiln_time_format_iso((int64_t)llround(c->max * 1000), b, sizeof(b));
            kiln_jsonw_kv_str(w, "min_time", a);
            kiln_jsonw_kv_str(w, "max_time", b);
        }
    } else if (c->n_inf > 0) {
        kiln_jsonw_key(w, "numeric");
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_int(w, "count", 0);
        kiln_jsonw_kv_int(w, "non_finite", (int64_t)c->n_inf);
        kiln_jsonw_obj_end(w);
    }
    if (c->hll_active) {
        struct kiln_buf b64;
        kiln_buf_init(&b64, 16384);
        if (kiln_base64_encode(c->hll.reg, sizeof(c->hll.reg), &b64) != KILN_OK)
            w->rc = KILN_ENOMEM;
        kiln_jsonw_kv_str(w, "hll", b64.buf);
        kiln_buf_release(&b64);
    }
    kiln_jsonw_key(w, "values");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "numbers");
    write_counts(w, &c->nums, 1);
    kiln_jsonw_key(w, "texts");
    write_counts(w, &c->texts, 0);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
}

int kiln_profile_to_json(const struct kiln_profile *p, struct kiln_buf *out, struct kiln_err *err)
{
    struct kiln_jsonw w;
    char created[32], delim[2] = { p->delimiter, 0 };
    int rc;
    kiln_jsonw_init(&w, out);
    kiln_time_format_iso(p->created_ms, created, sizeof(created));
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "kiln_profile", PROFILE_VERSION);
    kiln_jsonw_kv_str(&w, "created", created);
    kiln_jsonw_key(&w, "source");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "path", p->source);
    kiln_jsonw_kv_str(&w, "format", p->format);
    kiln_jsonw_kv_str(&w, "delimiter", delim);
    kiln_jsonw_kv_int(&w, "rows", (int64_t)p->rows);
    kiln_jsonw_kv_int(&w, "bytes", (int64_t)p->bytes);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_key(&w, "options");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "sketch_k", p->sketch_k);
    kiln_jsonw_kv_int(&w, "max_values", (int64_t)p->max_values);
    kiln_jsonw_kv_int(&w, "bins", p->bins);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_key(&w, "columns");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < p->ncols; i++)
        write_column(&w, &p->cols[i], p->bins);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    rc = kiln_jsonw_finish(&w);
    if (rc == KILN_OK)
        rc = kiln_buf_putc(out, '\n');
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "cannot write the profile: %s", kiln_strerror(rc));
    return KILN_OK;
}

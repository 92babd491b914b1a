/*
 * runs_search.c - /runs/search with the full filter grammar (search_filter.h), order_by on
 * metrics, params, tags and attributes, view types and offset page tokens.
 *
 * Two phases. Phase 1 selects only run ids, in order, one row past the page:
 *
 *   SELECT runs.run_uuid FROM runs
 *     LEFT JOIN latest_metrics o0 ON o0.run_uuid = runs.run_uuid AND o0.key = ?   -- per order
 *   WHERE runs.experiment_id IN (?, ...) AND runs.lifecycle_stage = 'active' AND (<filter>)
 *   ORDER BY <keys>, runs.start_time DESC, runs.run_uuid ASC LIMIT ? OFFSET ?
 *
 * so the sorter carries narrow rows and SQLite's bounded top-N sort applies. When the first
 * order key is a metric that the filter also bounds (metrics.acc > 0.5 ... ORDER BY
 * metrics.acc DESC), the query is instead driven from latest_metrics_by_value in order with
 * the other conditions as primary-key probes, so it stops after LIMIT matches instead of
 * visiting every run of the experiment (see driving_cmp). A metric order the filter does not
 * bound is first tried the same way (optimistic_ids): runs with a real value sort first, so
 * when they fill the page the index answers it; otherwise the general query runs. Phase 2 reads
 * each run of the page with its data through the cached point-lookup statements, all inside
 * the same read transaction (one consistent snapshot).
 *
 * Order semantics (MLflow): a run lacking the sort key sorts last in either direction; for
 * metrics NaN sorts after every number and before missing values. Ties and the default order
 * are start_time DESC then run_id ASC.
 */
#include <stdio.h>
#include <string.h>

#include "tracking/search_filter.h"
#include "tracking/tracking_int.h"

#define MAX_ORDER_BY 10

static int add_order_join(struct kiln_sql *q, const struct kiln_sf_order *o, const char *alias)
{
    const char *table = o->kind == KILN_SF_METRIC  ? "latest_metrics"
                        : o->kind == KILN_SF_PARAM ? "params"
                                                   : "tags";
    kiln_sql_add(q, " LEFT JOIN ");
    kiln_sql_add(q, table);
    kiln_sql_add(q, " ");
    kiln_sql_add(q, alias);
    kiln_sql_add(q, " ON ");
    kiln_sql_add(q, alias);
    kiln_sql_add(q, ".run_uuid = runs.run_uuid AND ");
    kiln_sql_add(q, alias);
    kiln_sql_add(q, ".key = ");
    return kiln_sql_text(q, o->key);
}

static void add_order_key(struct kiln_sql *q, const struct kiln_sf_order *o, const char *alias)
{
    const char *dir = o->desc ? " DESC" : " ASC";
    if (o->kind == KILN_SF_ATTR) {
        kiln_sql_add(q, "(");
        kiln_sql_add(q, o->field->column);
        kiln_sql_add(q, " IS NULL), ");
        kiln_sql_add(q, o->field->column);
        kiln_sql_add(q, dir);
        return;
    }
    if (o->kind == KILN_SF_METRIC) {
        kiln_sql_add(q, "CASE WHEN ");
        kiln_sql_add(q, alias);
        kiln_sql_add(q, ".run_uuid IS NULL THEN 2 WHEN ");
        kiln_sql_add(q, alias);
        kiln_sql_add(q, ".is_nan = 1 THEN 1 ELSE 0 END, ");
    } else {
        kiln_sql_add(q, "(");
        kiln_sql_add(q, alias);
        kiln_sql_add(q, ".run_uuid IS NULL), ");
    }
    kiln_sql_add(q, alias);
    kiln_sql_add(q, ".value");
    kiln_sql_add(q, dir);
}

/*
 * Index of a filter comparison that lets the first order key drive the query: a comparison of
 * the same metric that excludes missing and NaN values (any numeric operator but !=). Then
 * every matching run has a real value for the sort key and the rows can be read in order from
 * latest_metrics_by_value, stopping at the LIMIT. -1 when there is none.
 */
static long driving_cmp(const struct kiln_sf_filter *f, const struct kiln_sf_order *first)
{
    if (first->kind != KILN_SF_METRIC)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        const struct kiln_sf_cmp *c = &f->cmps[i];
        if (c->kind == KILN_SF_METRIC && c->op != KILN_SF_NE && strcmp(c->key, first->key) == 0)
            return (long)i;
    }
    return -1;
}

/* Appends the filter's SQL: the driving comparisons on o0.value, the others as probes. */
static int add_driven_filter(struct kiln_sql *q, struct kiln_arena *arena,
                             const struct kiln_sf_filter *f, const char *key, struct kiln_err *err)
{
    struct kiln_sf_filter rest = { NULL, 0 };
    if (f->n > 0) {
        rest.cmps = kiln_arena_alloc(arena, f->n * sizeof(*rest.cmps));
        if (rest.cmps == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < f->n; i++) {
        const struct kiln_sf_cmp *c = &f->cmps[i];
        if (c->kind == KILN_SF_METRIC && c->op != KILN_SF_NE && strcmp(c->key, key) == 0) {
            kiln_sql_add(q, " AND ");
            kiln_sf_sql_compare(q, "o0.value", NULL, c);
        } else {
            rest.cmps[rest.n++] = *c;
        }
    }
    return kiln_sf_to_sql(&rest, &trk_sf_schema_runs_probe, q, err);
}

/*
 * Builds phase 1's SQL into q. force_drive reads runs in the first order metric's index order
 * even when the filter does not exclude runs lacking it: the result then holds only runs with
 * a real value for it (the caller knows what that means for the page). OUT: *driven.
 */
static int build_query(struct kiln_sql *q, struct kiln_arena *arena,
                       const struct kiln_run_query *rq, const struct kiln_sf_filter *f,
                       int64_t limit, int64_t offset, int force_drive, int *driven_out,
                       struct kiln_err *err)
{
    struct kiln_sf_order orders[MAX_ORDER_BY];
    char alias[24];
    int has_start = 0, has_id = 0, driven, rc;

    if (rq->norder_by > MAX_ORDER_BY)
        return kiln_err_set(err, KILN_EINVAL, "Too many order_by clauses (at most %d)",
                            MAX_ORDER_BY);
    for (size_t i = 0; i < rq->norder_by; i++) {
        rc = kiln_sf_parse_order_by(rq->order_by[i], &kiln_sf_schema_runs, arena, &orders[i], err);
        if (rc != KILN_OK)
            return rc;
    }
    driven = rq->norder_by > 0 &&
             (driving_cmp(f, &orders[0]) >= 0 || (force_drive && orders[0].kind == KILN_SF_METRIC));
    *driven_out = driven;
    if (driven) {
        /* CROSS JOIN keeps o0 as the outer loop, read in index order. */
        kiln_sql_add(q, "SELECT runs.run_uuid FROM latest_metrics o0 CROSS JOIN runs "
                        "ON runs.run_uuid = o0.run_uuid");
    } else {
        kiln_sql_add(q, "SELECT runs.run_uuid FROM runs");
    }
    for (size_t i = driven ? 1 : 0; i < rq->norder_by; i++) {
        snprintf(alias, sizeof(alias), "o%zu", i);
        if (orders[i].kind != KILN_SF_ATTR)
            add_order_join(q, &orders[i], alias);
    }
    kiln_sql_add(q, " WHERE ");
    if (driven) {
        kiln_sql_add(q, "o0.key = ");
        kiln_sql_text(q, orders[0].key);
        kiln_sql_add(q, " AND o0.is_nan = 0 AND ");
    }
    kiln_sql_add(q, "runs.experiment_id IN (");
    for (size_t i = 0; i < rq->nexperiments; i++) {
        if (i > 0)
            kiln_sql_add(q, ", ");
        kiln_sql_int64(q, rq->experiment_ids[i]);
    }
    kiln_sql_add(q, ")");
    trk_add_view(q, "runs.lifecycle_stage",
                 rq->view_type != 0 ? rq->view_type : KILN_VIEW_ACTIVE_ONLY);
    rc = driven ? add_driven_filter(q, arena, f, orders[0].key, err)
                : kiln_sf_to_sql(f, &kiln_sf_schema_runs, q, err);
    if (rc != KILN_OK)
        return rc;
    kiln_sql_add(q, " ORDER BY ");
    for (size_t i = 0; i < rq->norder_by; i++) {
        snprintf(alias, sizeof(alias), "o%zu", i);
        if (i == 0 && driven) {
            kiln_sql_add(q, orders[0].desc ? "o0.value DESC" : "o0.value ASC");
        } else {
            add_order_key(q, &orders[i], alias);
        }
        kiln_sql_add(q, ", ");
        if (orders[i].kind == KILN_SF_ATTR && strcmp(orders[i].key, "start_time") == 0)
            has_start = 1;
        if (orders[i].kind == KILN_SF_ATTR && strcmp(orders[i].key, "run_id") == 0)
            has_id = 1;
    }
    if (!has_start)
        kiln_sql_add(q, "runs.start_time DESC, ");
    kiln_sql_add(q, has_id ? "1" : "runs.run_uuid ASC");
    kiln_sql_add(q, " LIMIT ");
    kiln_sql_int64(q, limit);
    kiln_sql_add(q, " OFFSET ");
    kiln_sql_int64(q, offset);
    if (kiln_sql_status(q) != KILN_OK)
        return kiln_err_set(err, kiln_sql_status(q) == KILN_ENOMEM ? KILN_ENOMEM : KILN_EINVAL,
                            "cannot build the search query: %s", kiln_strerror(kiln_sql_status(q)));
    return KILN_OK;
}

/* Phase 1: the ordered ids of the page (plus one to detect a next page). */
static int select_ids(struct kiln_tx *tx, struct kiln_arena *arena, const struct kiln_sql *q,
                      const char ***ids, size_t *n, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int rc = kiln_tx_prepare(tx, q->text.buf, &st, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_sql_bind(q, st, 1);
    if (rc != KILN_OK) {
        kiln_stmt_finish(st);
        return kiln_err_set(err, rc, "cannot bind the search query: %s", kiln_strerror(rc));
    }
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        const char **v = trk_grow(arena, *ids, *n, &cap, sizeof(*v));
        const char *id = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
        if (v == NULL || id == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            break;
        }
        *ids = v;
        v[(*n)++] = id;
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* Largest offset + page for which an order by an unfiltered metric is tried index-first. */
#define OPTIMISTIC_MAX 10000

/*
 * Orders by a metric the filter does not bound: runs with a real value come first, so when
 * there are enough of them the page is found by reading the metric index in order (fast);
 * otherwise (the page reaches NaN or missing values) *done stays 0 and the caller runs the
 * general query. OUT: *ids, *nids (offset already applied), *done.
 */
static int optimistic_ids(struct kiln_tx *tx, struct kiln_arena *arena,
                          const struct kiln_run_query *rq, const struct kiln_sf_filter *f,
                          int64_t max_results, int64_t offset, const char ***ids, size_t *nids,
                          int *done, struct kiln_err *err)
{
    struct kiln_sql q;
    int driven = 0, rc;

    *done = 0;
    if (rq->norder_by == 0 || offset + max_results > OPTIMISTIC_MAX)
        return KILN_OK;
    kiln_sql_init(&q);
    rc = build_query(&q, arena, rq, f, offset + max_results + 1, 0, 1, &driven, err);
    if (rc == KILN_OK && driven)
        rc = select_ids(tx, arena, &q, ids, nids, err);
    kiln_sql_release(&q);
    if (rc != KILN_OK || !driven)
        return rc;
    if ((int64_t)*nids == offset + max_results + 1) {
        *ids += offset;
        *nids -= (size_t)offset;
        *done = 1;
    } else {
        *ids = NULL;
        *nids = 0;
    }
    return KILN_OK;
}

int kiln_run_search(struct kiln_store *store, struct kiln_arena *arena,
                    const struct kiln_run_query *rq, struct kiln_run_page *out,
                    struct kiln_err *err)
{
    struct kiln_sf_filter *f;
    struct kiln_sql q;
    struct kiln_tx *tx = NULL;
    const char **ids = NULL;
    size_t nids = 0;
    int64_t max_results = rq->max_results, offset;
    int driven = 0, done = 0, rc;

    memset(out, 0, sizeof(*out));
    rc = trk_check_max_results(&max_results, err);
    if (rc == KILN_OK)
        rc = kiln_page_token_decode(rq->page_token, &offset, err);
    if (rc == KILN_OK)
        rc = kiln_sf_parse(rq->filter, &kiln_sf_schema_runs, arena, &f, err);
    if (rc != KILN_OK || rq->nexperiments == 0)
        return rc;
    kiln_sql_init(&q);
    rc = build_query(&q, arena, rq, f, max_results + 1, offset, 0, &driven, err);
    if (rc == KILN_OK)
        rc = kiln_metrics_begin_read(store, &tx, err);
    if (rc != KILN_OK)
        goto out;
    if (!driven)
        rc = optimistic_ids(tx, arena, rq, f, max_results, offset, &ids, &nids, &done, err);
    if (rc == KILN_OK && !done)
        rc = select_ids(tx, arena, &q, &ids, &nids, err);
    if (rc == KILN_OK && (int64_t)nids > max_results) {
        nids = (size_t)max_results;
        out->next_page_token = kiln_page_token_encode(arena, offset + max_results);
        if (out->next_page_token == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (rc == KILN_OK && nids > 0) {
        out->items = kiln_arena_calloc(arena, nids, sizeof(*out->items));
        if (out->items == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == KILN_OK && i < nids; i++) {
        struct kiln_run *run;
        rc = trk_read_run(tx, arena, ids[i], 1, &run, err);
        if (rc == KILN_OK)
            out->items[out->n++] = *run;
    }
    kiln_store_rollback(tx);
out:
    kiln_sql_release(&q);
    if (rc != KILN_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

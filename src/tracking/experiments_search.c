/*
 * experiments_search.c - /experiments/search: filter on name, tags, creation_time and
 * last_update_time; order_by name, experiment_id, creation_time, last_update_time (default
 * creation_time DESC, experiment_id ASC; experiment_id ASC always breaks ties); view types;
 * offset page tokens.
 *
 * The query is built with kiln_sql (search_filter.h): every value is a bound parameter. One
 * extra row is fetched to learn whether a next page exists, so a token never points at an
 * empty page.
 */
#include <string.h>

#include "tracking/search_filter.h"
#include "tracking/tracking_int.h"

#define MAX_ORDER_BY 10

int trk_check_max_results(int64_t *max_results, struct kiln_err *err)
{
    if (*max_results == 0)
        *max_results = KILN_SEARCH_MAX_RESULTS_DEFAULT;
    if (*max_results < 1)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value %lld for parameter 'max_results' supplied. It must be "
                            "a positive integer",
                            (long long)*max_results);
    if (*max_results > KILN_SEARCH_MAX_RESULTS_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value %lld for parameter 'max_results' supplied. It must be "
                            "at most %d",
                            (long long)*max_results, KILN_SEARCH_MAX_RESULTS_MAX);
    return KILN_OK;
}

int trk_add_view(struct kiln_sql *q, const char *col, enum kiln_view_type view)
{
    if (view == KILN_VIEW_ALL)
        return kiln_sql_status(q);
    kiln_sql_add(q, " AND ");
    kiln_sql_add(q, col);
    return kiln_sql_add(q, view == KILN_VIEW_DELETED_ONLY ? " = 'deleted'" : " = 'active'");
}

static int build_order(struct kiln_sql *q, struct kiln_arena *arena,
                       const struct kiln_experiment_query *eq, struct kiln_err *err)
{
    int has_id = 0;
    if (eq->norder_by > MAX_ORDER_BY)
        return kiln_err_set(err, KILN_EINVAL, "Too many order_by clauses (at most %d)",
                            MAX_ORDER_BY);
    kiln_sql_add(q, " ORDER BY ");
    if (eq->norder_by == 0) {
        kiln_sql_add(q, "experiments.creation_time DESC, experiments.experiment_id ASC");
        return KILN_OK;
    }
    for (size_t i = 0; i < eq->norder_by; i++) {
        struct kiln_sf_order o;
        int rc =
            kiln_sf_parse_order_by(eq->order_by[i], &kiln_sf_schema_experiments, arena, &o, err);
        if (rc != KILN_OK)
            return rc;
        if (strcmp(o.key, "experiment_id") == 0)
            has_id = 1;
        if (i > 0)
            kiln_sql_add(q, ", ");
        kiln_sql_add(q, o.field->column);
        kiln_sql_add(q, o.desc ? " DESC" : " ASC");
    }
    if (!has_id)
        kiln_sql_add(q, ", experiments.experiment_id ASC");
    return KILN_OK;
}

static int read_row(struct kiln_stmt *st, struct kiln_arena *arena, struct kiln_experiment *e)
{
    memset(e, 0, sizeof(*e));
    e->id = kiln_stmt_int64(st, 0);
    e->name = kiln_arena_strdup(arena, kiln_stmt_text(st, 1));
    e->artifact_location = kiln_arena_strdup(arena, kiln_stmt_text(st, 2));
    e->lifecycle_stage = kiln_arena_strdup(arena, kiln_stmt_text(st, 3));
    e->creation_time = kiln_stmt_int64(st, 4);
    e->last_update_time = kiln_stmt_int64(st, 5);
    return e->name != NULL && e->artifact_location != NULL && e->lifecycle_stage != NULL
               ? KILN_OK
               : KILN_ENOMEM;
}

int kiln_experiment_search(struct kiln_store *store, struct kiln_arena *arena,
                           const struct kiln_experiment_query *eq, struct kiln_experiment_page *out,
                           struct kiln_err *err)
{
    struct kiln_sf_filter *f;
    struct kiln_sql q;
    struct kiln_tx *tx = NULL;
    struct kiln_stmt *st;
    int64_t max_results = eq->max_results, offset;
    size_t cap = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = trk_check_max_results(&max_results, err);
    if (rc == KILN_OK)
        rc = kiln_page_token_decode(eq->page_token, &offset, err);
    if (rc == KILN_OK)
        rc = kiln_sf_parse(eq->filter, &kiln_sf_schema_experiments, arena, &f, err);
    if (rc != KILN_OK)
        return rc;
    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT experiment_id, name, artifact_location, lifecycle_stage, "
                     "creation_time, last_update_time FROM experiments WHERE 1 = 1");
    trk_add_view(&q, "experiments.lifecycle_stage",
                 eq->view_type != 0 ? eq->view_type : KILN_VIEW_ACTIVE_ONLY);
    rc = kiln_sf_to_sql(f, &kiln_sf_schema_experiments, &q, err);
    if (rc == KILN_OK)
        rc = build_order(&q, arena, eq, err);
    if (rc == KILN_OK) {
        kiln_sql_add(&q, " LIMIT ");
        kiln_sql_int64(&q, max_results + 1);
        kiln_sql_add(&q, " OFFSET ");
        kiln_sql_int64(&q, offset);
        if (kiln_sql_status(&q) != KILN_OK)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory building the search query");
    }
    if (rc == KILN_OK)
        rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        goto out;
    rc = kiln_tx_prepare(tx, q.text.buf, &st, err);
    if (rc == KILN_OK) {
        kiln_sql_bind(&q, st, 1);
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            struct kiln_experiment *items;
            if ((int64_t)out->n == max_results) {
                out->next_page_token = kiln_page_token_encode(arena, offset + max_results);
                rc = out->next_page_token != NULL ? KILN_STMT_DONE : KILN_ENOMEM;
                break;
            }
            items = trk_grow(arena, out->items, out->n, &cap, sizeof(*items));
            if (items == NULL || read_row(st, arena, &items[out->n]) != KILN_OK) {
                rc = KILN_ENOMEM;
                break;
            }
            out->items = items;
            out->n++;
        }
        kiln_stmt_finish(st);
        if (rc == KILN_ENOMEM)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        else if (rc >= 0)
            rc = KILN_OK;
    }
    for (size_t i = 0; rc == KILN_OK && i < out->n; i++)
        rc = trk_load_experiment_tags(tx, arena, &out->items[i], err);
    kiln_store_rollback(tx);
out:
    kiln_sql_release(&q);
    if (rc != KILN_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

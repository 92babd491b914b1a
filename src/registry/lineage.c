/*
 * lineage.c - what produced a model version, in one read transaction (kiln_lineage_get): the
 * version, its logged model, the source run with its parameters, latest metrics, tags and
 * input datasets, the parent run, and every evaluation of the version.
 *
 * The run side is read straight from the tracking tables (runs, params, tags, latest_metrics,
 * inputs, datasets, input_tags); a run that no longer exists leaves run.found = 0 rather than
 * failing the whole answer.
 */
#include <math.h>
#include <string.h>

#include "registry/registry_int.h"

static int load_kv(struct kiln_tx *tx, struct kiln_arena *arena, const char *sql,
                   const char *run_id, struct kiln_kv **out, size_t *n, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int oom = 0, rc = reg_prepare(tx, &st, err, sql, "t", run_id);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK)
        return rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (*n == cap) {
            struct kiln_kv *nl;
            cap = cap ? cap * 2 : 16;
            nl = kiln_arena_calloc(arena, cap, sizeof(*nl));
            if (nl == NULL) {
                oom = 1;
                break;
            }
            if (*n > 0)
                memcpy(nl, *out, *n * sizeof(*nl));
            *out = nl;
        }
        (*out)[*n].key = reg_col_text(st, 0, arena, &oom);
        (*out)[*n].value = reg_col_text(st, 1, arena, &oom);
        (*n)++;
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

static int load_metrics(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_lineage_run *r,
                        struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int oom = 0, rc = reg_prepare(tx, &st, err,
                                  "SELECT key, value, step, timestamp, is_nan FROM latest_metrics "
                                  "WHERE run_uuid = ? ORDER BY key",
                                  "t", r->run_id);
    if (rc != KILN_OK)
        return rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_lineage_metric *m;
        if (r->nmetrics == cap) {
            struct kiln_lineage_metric *nl;
            cap = cap ? cap * 2 : 16;
            nl = kiln_arena_calloc(arena, cap, sizeof(*nl));
            if (nl == NULL) {
                oom = 1;
                break;
            }
            if (r->nmetrics > 0)
                memcpy(nl, r->metrics, r->nmetrics * sizeof(*nl));
            r->metrics = nl;
        }
        m = &r->metrics[r->nmetrics++];
        m->key = reg_col_text(st, 0, arena, &oom);
        m->value = kiln_stmt_int64(st, 4) ? (double)NAN : kiln_stmt_double(st, 1);
        m->step = kiln_stmt_int64(st, 2);
        m->timestamp = kiln_stmt_int64(st, 3);
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

static int load_datasets(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_lineage_run *r,
                         struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int oom = 0;
    int rc = reg_prepare(tx, &st, err,
                         "SELECT d.name, d.digest, d.source_type, d.source, it.value FROM inputs i "
                         "JOIN datasets d ON d.dataset_uuid = i.source_id "
                         "LEFT JOIN input_tags it ON it.input_uuid = i.input_uuid AND "
                         "it.name = 'mlflow.data.context' "
                         "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND "
                         "i.destination_id = ? ORDER BY d.name, d.digest",
                         "t", r->run_id);
    if (rc != KILN_OK)
        return rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_lineage_dataset *d;
        if (r->ndatasets == cap) {
            struct kiln_lineage_dataset *nl;
            cap = cap ? cap * 2 : 4;
            nl = kiln_arena_calloc(arena, cap, sizeof(*nl));
            if (nl == NULL) {
                oom = 1;
                break;
            }
            if (r->ndatasets > 0)
                memcpy(nl, r->datasets, r->ndatasets * sizeof(*nl));
            r->datasets = nl;
        }
        d = &r->datasets[r->ndatasets++];
        d->name = reg_col_text(st, 0, arena, &oom);
        d->digest = reg_col_text(st, 1, arena, &oom);
        d->source_type = reg_col_text(st, 2, arena, &oom);
        d->source = reg_col_text(st, 3, arena, &oom);
        d->context = reg_col_text(st, 4, arena, &oom);
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

static int load_run(struct kiln_tx *tx, struct kiln_arena *arena, const char *run_id,
                    struct kiln_lineage_run *r, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int oom = 0, rc;

    memset(r, 0, sizeof(*r));
    if (run_id == NULL || *run_id == '\0')
        return KILN_OK;
    rc = reg_prepare(tx, &st, err,
                     "SELECT run_uuid, name, experiment_id, user_id, status, start_time, end_time, "
                     "artifact_uri, lifecycle_stage FROM runs WHERE run_uuid = ?",
                     "t", run_id);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        r->found = 1;
        r->run_id = reg_col_text(st, 0, arena, &oom);
        r->run_name = reg_col_text(st, 1, arena, &oom);
        r->experiment_id = kiln_stmt_int64(st, 2);
        r->user_id = reg_col_text(st, 3, arena, &oom);
        r->status = reg_col_text(st, 4, arena, &oom);
        r->start_time = kiln_stmt_is_null(st, 5) ? -1 : kiln_stmt_int64(st, 5);
        r->end_time = kiln_stmt_is_null(st, 6) ? -1 : kiln_stmt_int64(st, 6);
        r->artifact_uri = reg_col_text(st, 7, arena, &oom);
        r->lifecycle_stage = reg_col_text(st, 8, arena, &oom);
    } else if (rc == KILN_STMT_DONE) {
        r->run_id = reg_dup(arena, run_id, &oom);
    }
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    if (oom)
        return reg_oom(err);
    if (!r->found)
        return KILN_OK;
    rc = load_kv(tx, arena, "SELECT key, value FROM params WHERE run_uuid = ? ORDER BY key", run_id,
                 &r->params, &r->nparams, err);
    if (rc == KILN_OK)
        rc = load_kv(tx, arena, "SELECT key, value FROM tags WHERE run_uuid = ? ORDER BY key",
                     run_id, &r->tags, &r->ntags, err);
    if (rc == KILN_OK)
        rc = load_metrics(tx, arena, r, err);
    if (rc == KILN_OK)
        rc = load_datasets(tx, arena, r, err);
    return rc;
}

static const char *run_tag(const struct kiln_lineage_run *r, const char *key)
{
    for (size_t i = 0; i < r->ntags; i++)
        if (strcmp(r->tags[i].key, key) == 0)
            return r->tags[i].value;
    return NULL;
}

int kiln_lineage_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *uri,
                     struct kiln_lineage *out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    const char *parent, *loc, *src_run;
    int rc;

    memset(out, 0, sizeof(*out));
    if (uri == NULL || *uri == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'uri'.");
    rc = kiln_metrics_begin_read(reg->store, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_resolve_tx(tx, arena, uri, &out->resolved, err);
    if (rc == KILN_OK && out->resolved.name == NULL && out->resolved.run_id == NULL)
        rc =
            kiln_err_set(err, KILN_EINVAL, "lineage needs a models:/ or runs:/ URI, not '%s'", uri);
    if (rc == KILN_OK && out->resolved.name != NULL) {
        rc = reg_model_id(tx, out->resolved.name, &rm_id, err);
        if (rc == KILN_OK)
            rc = reg_load_version(tx, arena, rm_id, out->resolved.name, out->resolved.version,
                                  &out->version, err);
        if (rc == KILN_OK)
            rc = reg_eval_load(tx, arena, rm_id, out->resolved.name, out->resolved.version, NULL,
                               NULL, &out->evaluations, &out->nevaluations, err);
    }
    if (rc == KILN_OK && out->resolved.model_id != NULL) {
        struct kiln_err ignored;
        if (reg_logged_model(tx, arena, out->resolved.model_id, &loc, &src_run,
                             &out->logged_model_name, &ignored) == KILN_OK)
            out->logged_model_uri = loc;
    }
    if (rc == KILN_OK)
        rc = load_run(tx, arena, out->resolved.run_id, &out->run, err);
    if (rc == KILN_OK && out->run.found && (parent = run_tag(&out->run, "mlflow.parentRunId")))
        rc = load_run(tx, arena, parent, &out->parent, err);
    kiln_store_rollback(tx);
    return rc;
}

/*
 * pquery.c - read views of pipelines and runs as JSON, shared by the REST API and the CLI
 * (docs/pipelines.md lists the fields). Each function reads in one read transaction and
 * returns a new jansson value the caller owns. Thread-safe.
 */
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"
#include "store/store.h"

/* Adds column `col` under `key`: text, integer, JSON text, or null for SQL NULL. */
static int put(json_t *o, const char *key, struct kiln_stmt *st, int col, char kind)
{
    json_t *v;
    if (kiln_stmt_is_null(st, col))
        v = json_null();
    else if (kind == 'i')
        v = json_integer(kiln_stmt_int64(st, col));
    else if (kind == 'j')
        v = json_loads(kiln_stmt_text(st, col), JSON_DECODE_ANY, NULL);
    else
        v = json_string(kiln_stmt_text(st, col));
    if (v == NULL)
        v = json_null();
    return json_object_set_new(o, key, v) == 0 ? KILN_OK : KILN_ENOMEM;
}

/* Builds an array of objects from a statement whose columns are named by `cols` ("kname"). */
static int rows(struct kiln_stmt *st, const char *const *cols, json_t *arr, struct kiln_err *err)
{
    int rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        json_t *o = json_object();
        if (o == NULL || json_array_append_new(arr, o) != 0)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        for (int i = 0; cols[i] != NULL; i++)
            if (put(o, cols[i] + 1, st, i, cols[i][0]) != KILN_OK)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    return rc < 0 ? rc : KILN_OK;
}

static int query(struct kiln_tx *tx, const char *sql, const char *const *cols, json_t *arr,
                 struct kiln_err *err, const char *a, const char *b, int64_t n)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx, sql, &st, err), idx = 1;
    if (rc != KILN_OK)
        return rc;
    if (a != NULL)
        kiln_stmt_bind_text(st, idx++, a);
    if (b != NULL)
        kiln_stmt_bind_text(st, idx++, b);
    if (n > 0)
        kiln_stmt_bind_int64(st, idx, n);
    rc = rows(st, cols, arr, err);
    kiln_stmt_finish(st);
    return rc;
}

static const char *const run_cols[] = {
    "srun_id",  "spipeline",        "iversion",          "sstate",
    "strigger", "jtrigger_info",    "ilogical_date",     "jparams",
    "sowner",   "icreated_time",    "istart_time",       "iend_time",
    "smessage", "stracking_run_id", "icancel_requested", NULL
};
#define RUN_SELECT                                                                              \
    "SELECT run_id, name, version, state, trigger, trigger_info, logical_date, params, owner, " \
    "created_time, start_time, end_time, message, tracking_run_id, cancel_requested FROM "      \
    "pipeline_runs "

int kiln_pl_query_run(struct kiln_store *store, const char *run_id, json_t **out,
                      struct kiln_err *err)
{
    static const char *const task_cols[] = { "stask",      "sstate",    "itries",
                                             "imax_tries", "iattempts", "inext_try_time",
                                             "joutputs",   "smessage",  "istart_time",
                                             "iend_time",  NULL };
    static const char *const att_cols[] = { "stask",      "iattempt", "itry_number", "sstate",
                                            "iexit_code", "isignal",  "istart_time", "iend_time",
                                            "shost",      "ipid",     "slog_path",   "smessage",
                                            NULL };
    static const char *const link_cols[] = { "skind", "sref", "stask", NULL };
    json_t *runs = json_array(), *tasks = json_array(), *atts = json_array(), *links = json_array(),
           *run = NULL, *t;
    struct kiln_tx *tx;
    size_t i, j = 0;
    int rc;

    *out = NULL;
    if (runs == NULL || tasks == NULL || atts == NULL || links == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        goto out;
    rc = query(tx, RUN_SELECT "WHERE run_id = ?", run_cols, runs, err, run_id, NULL, 0);
    if (rc == KILN_OK)
        rc = query(tx,
                   "SELECT task, state, tries, max_tries, attempts, next_try_time, outputs, "
                   "message, start_time, end_time FROM pipeline_tasks WHERE run_id = ? ORDER BY "
                   "rowid",
                   task_cols, tasks, err, run_id, NULL, 0);
    if (rc == KILN_OK)
        rc = query(tx,
                   "SELECT a.task, a.attempt, a.try_number, a.state, a.exit_code, a.signal, "
                   "a.start_time, a.end_time, a.host, a.pid, a.log_path, a.message FROM "
                   "pipeline_attempts a JOIN pipeline_tasks t ON t.run_id = a.run_id AND t.task "
                   "= a.task WHERE a.run_id = ? ORDER BY t.rowid, a.attempt",
                   att_cols, atts, err, run_id, NULL, 0);
    if (rc == KILN_OK)
        rc = query(tx,
                   "SELECT kind, ref, task FROM pipeline_run_links WHERE run_id = ? ORDER BY "
                   "rowid",
                   link_cols, links, err, run_id, NULL, 0);
    kiln_store_rollback(tx);
    if (rc != KILN_OK)
        goto out;
    if (json_array_size(runs) == 0) {
        rc = kiln_err_set(err, KILN_ENOENT, "no pipeline run '%s'", run_id);
        goto out;
    }
    run = json_incref(json_array_get(runs, 0));
    /* Attempts are ordered like tasks: hand each task its own. */
    json_array_foreach(tasks, i, t)
    {
        json_t *mine = json_array();
        const char *name = json_string_value(json_object_get(t, "task"));
        while (mine != NULL && j < json_array_size(atts)) {
            json_t *a = json_array_get(atts, j);
            if (strcmp(json_string_value(json_object_get(a, "task")), name) != 0)
                break;
            json_object_del(a, "task");
            json_array_append(mine, a);
            j++;
        }
        if (mine == NULL || json_object_set_new(t, "attempt_list", mine) != 0) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (json_object_set(run, "tasks", tasks) != 0 || json_object_set(run, "links", links) != 0) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    *out = run;
    run = NULL;
out:
    json_decref(run);
    json_decref(runs);
    json_decref(tasks);
    json_decref(atts);
    json_decref(links);
    return rc;
}

int kiln_pl_query_runs(struct kiln_store *store, const char *name, int max, json_t **out,
                       struct kiln_err *err)
{
    json_t *runs = json_array();
    struct kiln_tx *tx;
    int rc;
    *out = NULL;
    if (runs == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK) {
        if (name != NULL)
            rc = query(
                tx,
                RUN_SELECT
                "WHERE name = ? ORDER BY created_time DESC, logical_date DESC, run_id LIMIT ?",
                run_cols, runs, err, name, NULL, max > 0 ? max : 100);
        else
            rc = query(tx,
                       RUN_SELECT "ORDER BY created_time DESC, logical_date DESC, run_id LIMIT ?",
                       run_cols, runs, err, NULL, NULL, max > 0 ? max : 100);
        kiln_store_rollback(tx);
    }
    if (rc != KILN_OK) {
        json_decref(runs);
        return rc;
    }
    *out = runs;
    return KILN_OK;
}

static void add_schedule(json_t *p, const struct kiln_pl_spec *spec)
{
    json_t *sch;
    int64_t next;
    json_object_set_new(p, "description",
                        spec->description != NULL ? json_string(spec->description) : json_null());
    if (spec->cron_expr == NULL) {
        json_object_set_new(p, "schedule", json_null());
        return;
    }
    sch = json_pack("{s:s, s:s, s:b}", "cron", spec->cron_expr, "timezone", spec->tz_name,
                    "catchup", spec->catchup);
    if (sch != NULL && json_is_integer(json_object_get(p, "last_fire")) &&
        kiln_pl_spec_next_fire(spec, json_integer_value(json_object_get(p, "last_fire")), &next) ==
            KILN_OK)
        json_object_set_new(sch, "next_fire", json_integer(next));
    json_object_set_new(p, "schedule", sch != NULL ? sch : json_null());
}

int kiln_pl_query_pipelines(struct kiln_store *store, const char *name, json_t **out,
                            struct kiln_err *err)
{
    static const char *const cols[] = {
        "sname",           "icurrent_version", "ipaused",   "ilast_fire",
        "icreated_time",   "iupdated_time",    "iversions", "slast_run_id",
        "slast_run_state", "ilast_run_time",   NULL
    };
    json_t *list = json_array(), *p;
    struct kiln_tx *tx;
    size_t i;
    int rc;
    *out = NULL;
    if (list == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK) {
        rc = query(tx,
                   "SELECT p.name, p.current_version, p.paused, p.last_fire, p.created_time, "
                   "p.updated_time, (SELECT COUNT(*) FROM pipeline_versions v WHERE v.name = "
                   "p.name), r.run_id, r.state, r.created_time FROM pipelines p LEFT JOIN "
                   "pipeline_runs r ON r.run_id = (SELECT run_id FROM pipeline_runs x WHERE "
                   "x.name = p.name ORDER BY created_time DESC, run_id LIMIT 1) WHERE (? = '' OR "
                   "p.name = ?) ORDER BY p.name",
                   cols, list, err, name != NULL ? name : "", name != NULL ? name : "", 0);
        kiln_store_rollback(tx);
    }
    json_array_foreach(list, i, p)
    {
        struct kiln_pl_spec *spec = NULL;
        json_int_t v = json_integer_value(json_object_get(p, "current_version"));
        if (rc != KILN_OK)
            break;
        if (json_is_integer(json_object_get(p, "current_version")) &&
            kiln_pl_store_load_version(store, json_string_value(json_object_get(p, "name")), (int)v,
                                       &spec, NULL) == KILN_OK) {
            add_schedule(p, spec);
            json_object_set_new(p, "ntasks", json_integer((json_int_t)spec->ntasks));
            if (name != NULL)
                json_object_set_new(p, "spec", json_stringn(spec->text, spec->text_len));
        }
        kiln_pl_spec_free(spec);
    }
    if (rc != KILN_OK) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return KILN_OK;
}

int kiln_pl_query_log(struct kiln_store *store, const char *run_id, const char *task, int attempt,
                      char **path, int *attempt_out, int *final, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    *path = NULL;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx,
                         "SELECT log_path, attempt, state FROM pipeline_attempts WHERE run_id = ? "
                         "AND task = ? AND (? = 0 OR attempt = ?) ORDER BY attempt DESC LIMIT 1",
                         &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, run_id);
        kiln_stmt_bind_text(st, 2, task);
        kiln_stmt_bind_int64(st, 3, attempt);
        kiln_stmt_bind_int64(st, 4, attempt);
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW) {
            const char *state = kiln_stmt_text(st, 2);
            *attempt_out = (int)kiln_stmt_int64(st, 1);
            *final = strcmp(state, "queued") != 0 && strcmp(state, "running") != 0;
            *path = kiln_stmt_text(st, 0) != NULL ? kiln_strdup(kiln_stmt_text(st, 0)) : NULL;
            rc = *path != NULL ? KILN_OK : kiln_err_set(err, KILN_ENOENT, "no log recorded");
        } else if (rc == KILN_STMT_DONE && attempt > 0) {
            rc = kiln_err_set(err, KILN_ENOENT, "task '%s' of run %s has no attempt %d", task,
                              run_id, attempt);
        } else if (rc == KILN_STMT_DONE) {
            rc =
                kiln_err_set(err, KILN_ENOENT, "task '%s' of run %s has not run yet", task, run_id);
        }
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    return rc;
}

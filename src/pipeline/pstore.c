/*
 * pstore.c - the pipeline store layer used by the REST API, the CLI and the scheduler: spec
 * versions (one per digest), run creation with all task instances, spec loading, run id
 * prefixes, cancel requests and event dispatch.
 *
 * Every function runs its own transaction, so each change is all or nothing: a run is created
 * with every task instance or not at all; a version and its pools land together. Thread-safe
 * (the store serialises writers).
 */
#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"
#include "store/store.h"

/* Runs one statement with text/int binds given as a tiny format ("ti": text, int64). */
int kiln_pl_exec(struct kiln_tx *tx, const char *sql, struct kiln_err *err, const char *fmt, ...)
{
    struct kiln_stmt *st;
    va_list ap;
    int rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        return rc;
    va_start(ap, fmt);
    for (int i = 0; fmt[i] != '\0'; i++) {
        if (fmt[i] == 't') {
            kiln_stmt_bind_text(st, i + 1, va_arg(ap, const char *));
        } else if (fmt[i] == 'i') {
            kiln_stmt_bind_int64(st, i + 1, va_arg(ap, int64_t));
        } else { /* 'n': an int64 bound as NULL when negative */
            int64_t v = va_arg(ap, int64_t);
            if (v < 0)
                kiln_stmt_bind_null(st, i + 1);
            else
                kiln_stmt_bind_int64(st, i + 1, v);
        }
    }
    va_end(ap);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* The pipeline's cursor before its first scheduled run (see docs: catchup). */
static int64_t first_cursor(const struct kiln_pl_spec *spec, int64_t now)
{
    if (spec->catchup && spec->start_date_ms > 0)
        return spec->start_date_ms - 1;
    return now;
}

static int find_or_add_version(struct kiln_tx *tx, const struct kiln_pl_spec *spec, int64_t now,
                               int *version, int *created, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "SELECT version FROM pipeline_versions WHERE name = ? AND "
                             "digest = ?",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, spec->name);
    kiln_stmt_bind_text(st, 2, spec->digest);
    rc = kiln_stmt_step(st, err);
    *created = 0;
    if (rc == KILN_STMT_ROW)
        *version = (int)kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    if (rc == KILN_STMT_ROW)
        return KILN_OK;
    if (rc < 0)
        return rc;
    rc = kiln_tx_prepare(tx,
                         "SELECT COALESCE(MAX(version), 0) + 1 FROM pipeline_versions WHERE "
                         "name = ?",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, spec->name);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        *version = (int)kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    if (rc != KILN_STMT_ROW)
        return rc < 0 ? rc : kiln_err_set(err, KILN_EIO, "cannot number the version");
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO pipeline_versions (name, version, digest, spec, file, "
                         "base_dir, created_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, spec->name);
    kiln_stmt_bind_int64(st, 2, *version);
    kiln_stmt_bind_text(st, 3, spec->digest);
    kiln_stmt_bind_textn(st, 4, spec->text, spec->text_len);
    kiln_stmt_bind_text(st, 5, spec->file);
    kiln_stmt_bind_text(st, 6, spec->base_dir);
    kiln_stmt_bind_int64(st, 7, now);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    *created = 1;
    return rc < 0 ? rc : KILN_OK;
}

int kiln_pl_store_put_version(struct kiln_store *store, const struct kiln_pl_spec *spec,
                              int make_current, int *version, int *created, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t now = kiln_now_ms();
    int rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_pl_exec(tx,
                      "INSERT INTO pipelines (name, created_time, updated_time) VALUES (?, ?, "
                      "?) ON CONFLICT (name) DO NOTHING",
                      err, "tii", spec->name, now, now);
    if (rc == KILN_OK)
        rc = find_or_add_version(tx, spec, now, version, created, err);
    if (rc == KILN_OK && make_current)
        rc = kiln_pl_exec(tx,
                          "UPDATE pipelines SET current_version = ?, updated_time = ?, "
                          "last_fire = COALESCE(last_fire, ?) WHERE name = ?",
                          err, "iint", (int64_t)*version, now,
                          spec->cron_expr != NULL ? first_cursor(spec, now) : (int64_t)-1,
                          spec->name);
    for (size_t i = 0; i < spec->npools && make_current && rc == KILN_OK; i++)
        rc = kiln_pl_exec(tx,
                          "INSERT INTO pipeline_pools (name, slots, updated_time) VALUES (?, "
                          "?, ?) ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, "
                          "updated_time = excluded.updated_time",
                          err, "tii", spec->pools[i].name, (int64_t)spec->pools[i].slots, now);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

static char *dump(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
}

static int insert_run(struct kiln_tx *tx, const struct kiln_pl_spec *spec, int version,
                      const struct kiln_pl_new_run *nr, const char *id, struct kiln_err *err)
{
    char *params = dump(nr->params), *info = dump(nr->trigger_info);
    struct kiln_stmt *st = NULL;
    int rc;
    if (params == NULL || (nr->trigger_info != NULL && info == NULL)) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO pipeline_runs (run_id, name, version, state, trigger, "
                         "trigger_info, dedup_key, logical_date, params, owner, created_time) "
                         "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                         &st, err);
    if (rc != KILN_OK)
        goto out;
    kiln_stmt_bind_text(st, 1, id);
    kiln_stmt_bind_text(st, 2, spec->name);
    kiln_stmt_bind_int64(st, 3, version);
    kiln_stmt_bind_text(st, 4, nr->trigger);
    kiln_stmt_bind_text(st, 5, info);
    kiln_stmt_bind_text(st, 6, nr->dedup_key);
    kiln_stmt_bind_int64(st, 7, nr->logical_ms);
    kiln_stmt_bind_text(st, 8, params);
    kiln_stmt_bind_text(st, 9, nr->owner);
    kiln_stmt_bind_int64(st, 10, kiln_now_ms());
    rc = kiln_stmt_step(st, err);
    rc = rc < 0 ? rc : KILN_OK;
    kiln_stmt_finish(st);
    if (rc == KILN_EEXIST)
        rc = kiln_err_set(err, KILN_EEXIST, "pipeline '%s' already has a run for %s", spec->name,
                          nr->dedup_key != NULL ? nr->dedup_key : id);
    if (rc != KILN_OK)
        goto out;
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO pipeline_tasks (run_id, task, state, max_tries) VALUES "
                         "(?, ?, 'none', ?)",
                         &st, err);
    for (size_t i = 0; i < spec->ntasks && rc == KILN_OK; i++) {
        kiln_stmt_bind_text(st, 1, id);
        kiln_stmt_bind_text(st, 2, spec->tasks[i].name);
        kiln_stmt_bind_int64(st, 3, spec->tasks[i].retries + 1);
        rc = kiln_stmt_step(st, err);
        rc = rc < 0 ? rc : KILN_OK;
        kiln_stmt_reset(st);
    }
    if (st != NULL)
        kiln_stmt_finish(st);
out:
    kiln_free(params);
    kiln_free(info);
    return rc;
}

int kiln_pl_store_create_run(struct kiln_store *store, const struct kiln_pl_spec *spec, int version,
                             const struct kiln_pl_new_run *nr, char run_id[33],
                             struct kiln_err *err)
{
    struct kiln_tx *tx;
    char id[KILN_UUID_HEX_LEN + 1];
    int rc = kiln_uuid_hex(id);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "cannot make a run id");
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = insert_run(tx, spec, version, nr, id, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = kiln_store_commit(tx, err);
    if (rc == KILN_OK)
        memcpy(run_id, id, sizeof(id));
    return rc;
}

static int load_sql(struct kiln_store *store, const char *sql, const char *name, int version,
                    struct kiln_pl_spec **spec, int *version_out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    *spec = NULL;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, name);
        if (version > 0)
            kiln_stmt_bind_int64(st, 2, version);
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW) {
            const char *text = kiln_stmt_text(st, 0);
            size_t len = kiln_stmt_bytes(st, 0);
            if (version_out != NULL)
                *version_out = (int)kiln_stmt_int64(st, 3);
            rc = kiln_pl_spec_parse(text != NULL ? text : "", len, kiln_stmt_text(st, 1),
                                    kiln_stmt_text(st, 2), spec, err);
        } else if (rc == KILN_STMT_DONE) {
            rc = version > 0 ? kiln_err_set(err, KILN_ENOENT, "pipeline '%s' has no version %d",
                                            name, version)
                             : kiln_err_set(err, KILN_ENOENT,
                                            "no pipeline named '%s' (apply it first)", name);
        }
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    return rc;
}

int kiln_pl_store_load_current(struct kiln_store *store, const char *name,
                               struct kiln_pl_spec **spec, int *version, struct kiln_err *err)
{
    return load_sql(store,
                    "SELECT v.spec, v.file, v.base_dir, v.version FROM pipelines p JOIN "
                    "pipeline_versions v ON v.name = p.name AND v.version = p.current_version "
                    "WHERE p.name = ?",
                    name, 0, spec, version, err);
}

int kiln_pl_store_load_version(struct kiln_store *store, const char *name, int version,
                               struct kiln_pl_spec **spec, struct kiln_err *err)
{
    return load_sql(store,
                    "SELECT spec, file, base_dir, version FROM pipeline_versions WHERE name = ? "
                    "AND version = ?",
                    name, version, spec, NULL, err);
}

int kiln_pl_store_resolve_run(struct kiln_store *store, const char *id, char out[33],
                              struct kiln_err *err)
{
    size_t len = strlen(id);
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    char pattern[40];
    int rc, found = 0;

    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return kiln_err_set(err, KILN_ENOENT, "no pipeline run '%.64s'", id);
    if (len < 6 || len > 32)
        return kiln_err_set(err, len < 6 ? KILN_EINVAL : KILN_ENOENT,
                            "run id '%.64s': give at least 6 characters", id);
    snprintf(pattern, sizeof(pattern), "%s%%", id);
    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "SELECT run_id FROM pipeline_runs WHERE run_id LIKE ? LIMIT 2", &st,
                         err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, pattern);
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            if (found++ == 0)
                kiln_strlcpy(out, kiln_stmt_text(st, 0), 33);
        }
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    if (rc < 0)
        return rc;
    if (found == 0)
        return kiln_err_set(err, KILN_ENOENT, "no pipeline run '%s'", id);
    if (found > 1)
        return kiln_err_set(err, KILN_EINVAL, "run id prefix '%s' is ambiguous", id);
    return KILN_OK;
}

int kiln_pl_store_request_cancel(struct kiln_store *store, const char *run_id, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_pl_exec(tx,
                      "UPDATE pipeline_runs SET cancel_requested = 1 WHERE run_id = ? AND "
                      "state IN ('queued', 'running')",
                      err, "t", run_id);
    if (rc == KILN_OK && kiln_tx_changes(tx) == 0) {
        rc = kiln_tx_prepare(tx, "SELECT state FROM pipeline_runs WHERE run_id = ?", &st, err);
        if (rc == KILN_OK) {
            kiln_stmt_bind_text(st, 1, run_id);
            rc = kiln_stmt_step(st, err);
            if (rc == KILN_STMT_ROW)
                rc = kiln_err_set(err, KILN_ESTATE, "run %s already ended (%s)", run_id,
                                  kiln_stmt_text(st, 0));
            else if (rc == KILN_STMT_DONE)
                rc = kiln_err_set(err, KILN_ENOENT, "no pipeline run '%s'", run_id);
            kiln_stmt_finish(st);
        }
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

/* ---- events ----------------------------------------------------------------------------- */

static const char *const trig_types[] = { "manual", "model_version", "alias", "drift" };

static int trigger_matches(const struct kiln_pl_trigger *t, const char *type, const json_t *ev)
{
    const char *model = json_string_value(json_object_get(ev, "model"));
    const char *alias = json_string_value(json_object_get(ev, "alias"));
    if (strcmp(trig_types[t->kind], type) != 0 || t->kind == KILN_TRIG_MANUAL)
        return 0;
    if (t->model != NULL && (model == NULL || strcmp(model, t->model) != 0))
        return 0;
    if (t->alias != NULL && (alias == NULL || strcmp(alias, t->alias) != 0))
        return 0;
    return 1;
}

static int dispatch_one(struct kiln_store *store, const char *name, const char *type,
                        const json_t *event, json_t *run_ids, json_t *errors)
{
    struct kiln_pl_spec *spec = NULL;
    struct kiln_err e = { 0 };
    json_t *params = NULL;
    char id[33];
    int version, rc, matched = 0;

    rc = kiln_pl_store_load_current(store, name, &spec, &version, &e);
    for (size_t i = 0; rc == KILN_OK && i < spec->ntriggers && !matched; i++)
        matched = trigger_matches(&spec->triggers[i], type, event);
    if (rc == KILN_OK && matched) {
        struct kiln_pl_new_run nr = { type, event, NULL, kiln_now_ms(), "scheduler", NULL };
        rc = kiln_pl_params_from_event(spec, event, &params, &e);
        nr.params = params;
        if (rc == KILN_OK)
            rc = kiln_pl_store_create_run(store, spec, version, &nr, id, &e);
        if (rc == KILN_OK && json_array_append_new(run_ids, json_string(id)) != 0)
            rc = kiln_err_set(&e, KILN_ENOMEM, "out of memory");
        if (rc == KILN_OK)
            kiln_log_info("pipeline %s: run %s started by a %s event", name, id, type);
    }
    if (rc != KILN_OK) {
        kiln_log_warn("pipeline %s: cannot start a run for a %s event: %s", name, type,
                      kiln_err_msg(&e, rc));
        if (errors != NULL)
            json_array_append_new(
                errors, json_pack("{s:s, s:s}", "pipeline", name, "message", kiln_err_msg(&e, rc)));
    }
    json_decref(params);
    kiln_pl_spec_free(spec);
    return rc == KILN_ENOMEM ? rc : KILN_OK;
}

int kiln_pl_dispatch_event(struct kiln_store *store, const char *type, const json_t *event,
                           json_t *run_ids, json_t *errors, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st = NULL;
    json_t *names = json_array();
    size_t i;
    json_t *v;
    int rc;

    if (names == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK) {
        rc = kiln_tx_prepare(tx,
                             "SELECT name FROM pipelines WHERE current_version IS NOT NULL "
                             "AND paused = 0 ORDER BY name",
                             &st, err);
        while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            if (json_array_append_new(names, json_string(kiln_stmt_text(st, 0))) != 0)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            else
                rc = KILN_OK;
        }
        if (rc == KILN_STMT_DONE)
            rc = KILN_OK;
        kiln_stmt_finish(st);
        kiln_store_rollback(tx);
    }
    json_array_foreach(names, i, v)
    {
        if (rc != KILN_OK)
            break;
        rc = dispatch_one(store, json_string_value(v), type, event, run_ids, errors);
        if (rc != KILN_OK)
            rc = kiln_err_set(err, rc, "out of memory");
    }
    json_decref(names);
    return rc;
}

/*
 * runs.c - run lifecycle: create, get, update, delete, restore (tracking.h), and the loaders
 * shared with search (tracking_int.h).
 *
 * Lifecycle: create -> RUNNING/active; update may set any status; delete flips
 * lifecycle_stage to "deleted" (the run stays readable), restore flips it back. Writes to a
 * deleted run are refused by trk_check_run(need_active).
 *
 * run_name and the mlflow.runName tag always agree: create derives one from the other (or
 * draws a random "adjective-animal-N" name), update and set-tag change both.
 *
 * Every public function runs one transaction; on any error it rolls back, so a failure
 * changes nothing. Results are copied to the caller's arena before the transaction ends.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/time.h"
#include "tracking/tracking_int.h"

static int nomem(struct kiln_err *err)
{
    return kiln_err_set(err, KILN_ENOMEM, "out of memory");
}

/* Arena copy of a nullable column ("" for NULL when `empty`). */
static const char *col_dup(struct kiln_arena *arena, struct kiln_stmt *st, int col, int empty,
                           int *oom)
{
    const char *s = kiln_stmt_text(st, col);
    char *c;
    if (s == NULL)
        return empty ? "" : NULL;
    c = kiln_arena_strndup(arena, s, kiln_stmt_bytes(st, col));
    if (c == NULL)
        *oom = 1;
    return c;
}

int trk_read_run_info(struct kiln_stmt *st, int col0, struct kiln_arena *arena,
                      struct kiln_run_info *info, struct kiln_err *err)
{
    int oom = 0;
    memset(info, 0, sizeof(*info));
    info->run_id = col_dup(arena, st, col0, 1, &oom);
    info->run_name = col_dup(arena, st, col0 + 1, 1, &oom);
    info->experiment_id = kiln_stmt_int64(st, col0 + 2);
    info->user_id = col_dup(arena, st, col0 + 3, 1, &oom);
    info->status = col_dup(arena, st, col0 + 4, 1, &oom);
    info->has_start_time = !kiln_stmt_is_null(st, col0 + 5);
    info->start_time = kiln_stmt_int64(st, col0 + 5);
    info->has_end_time = !kiln_stmt_is_null(st, col0 + 6);
    info->end_time = kiln_stmt_int64(st, col0 + 6);
    info->artifact_uri = col_dup(arena, st, col0 + 7, 1, &oom);
    info->lifecycle_stage = col_dup(arena, st, col0 + 8, 1, &oom);
    return oom ? nomem(err) : KILN_OK;
}

/* Runs `sql` with the run id bound to ?1 and appends (key, value) rows to *kv. */
static int load_kv(struct kiln_tx *tx, struct kiln_arena *arena, const char *sql, const char *id,
                   struct kiln_kv **kv, size_t *n, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int rc = kiln_tx_prepare(tx, sql, &st, err), oom = 0;
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_kv *arr = trk_grow(arena, *kv, *n, &cap, sizeof(**kv));
        if (arr == NULL) {
            oom = 1;
            break;
        }
        *kv = arr;
        arr[*n].key = col_dup(arena, st, 0, 1, &oom);
        arr[*n].value = col_dup(arena, st, 1, 1, &oom);
        (*n)++;
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return nomem(err);
    return rc < 0 ? rc : KILN_OK;
}

static int load_metrics(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_run *run,
                        struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int rc, oom = 0;

    rc = kiln_tx_prepare(tx,
                         "SELECT key, value, timestamp, step, is_nan FROM latest_metrics "
                         "WHERE run_uuid = ? ORDER BY key",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run->info.run_id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_metric *m = trk_grow(arena, run->metrics, run->nmetrics, &cap, sizeof(*m));
        if (m == NULL) {
            oom = 1;
            break;
        }
        run->metrics = m;
        m = &m[run->nmetrics++];
        memset(m, 0, sizeof(*m));
        m->key = col_dup(arena, st, 0, 1, &oom);
        m->value = kiln_stmt_int64(st, 4) ? NAN : kiln_stmt_double(st, 1);
        m->timestamp = kiln_stmt_int64(st, 2);
        m->step = kiln_stmt_int64(st, 3);
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return nomem(err);
    return rc < 0 ? rc : KILN_OK;
}

static int load_datasets(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_run *run,
                         struct kiln_err *err)
{
    struct kiln_stmt *st;
    const char **input_ids = NULL;
    size_t cap = 0, idcap = 0;
    int rc, oom = 0;

    rc = kiln_tx_prepare(tx,
                         "SELECT i.input_uuid, d.name, d.digest, d.source_type, d.source, "
                         "d.schema, d.profile FROM inputs i "
                         "JOIN datasets d ON d.dataset_uuid = i.source_id "
                         "WHERE i.destination_type = 'RUN' AND i.destination_id = ? "
                         "AND i.source_type = 'DATASET' ORDER BY d.name, d.digest",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run->info.run_id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_dataset_input *d =
            trk_grow(arena, run->datasets, run->ndatasets, &cap, sizeof(*d));
        const char **ids = trk_grow(arena, input_ids, run->ndatasets, &idcap, sizeof(*ids));
        if (d == NULL || ids == NULL) {
            oom = 1;
            break;
        }
        run->datasets = d;
        input_ids = ids;
        d = &d[run->ndatasets];
        memset(d, 0, sizeof(*d));
        ids[run->ndatasets] = col_dup(arena, st, 0, 1, &oom);
        d->dataset.name = col_dup(arena, st, 1, 1, &oom);
        d->dataset.digest = col_dup(arena, st, 2, 1, &oom);
        d->dataset.source_type = col_dup(arena, st, 3, 1, &oom);
        d->dataset.source = col_dup(arena, st, 4, 1, &oom);
        d->dataset.schema = col_dup(arena, st, 5, 0, &oom);
        d->dataset.profile = col_dup(arena, st, 6, 0, &oom);
        run->ndatasets++;
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return nomem(err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < run->ndatasets; i++) {
        rc = load_kv(tx, arena,
                     "SELECT name, value FROM input_tags WHERE input_uuid = ? ORDER BY name",
                     input_ids[i], &run->datasets[i].tags, &run->datasets[i].ntags, err);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int load_models(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_run *run,
                       struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int rc, oom = 0;

    rc = kiln_tx_prepare(tx,
                         "SELECT source_id FROM inputs WHERE destination_type = 'RUN' AND "
                         "destination_id = ? AND source_type = 'MODEL' ORDER BY source_id",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run->info.run_id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        const char **m = trk_grow(arena, run->model_inputs, run->nmodel_inputs, &cap, sizeof(*m));
        if (m == NULL) {
            oom = 1;
            break;
        }
        run->model_inputs = m;
        m[run->nmodel_inputs++] = col_dup(arena, st, 0, 1, &oom);
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return nomem(err);
    if (rc < 0)
        return rc;
    rc = kiln_tx_prepare(tx,
                         "SELECT model_id, step FROM run_outputs WHERE run_uuid = ? "
                         "ORDER BY step, model_id",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    cap = 0;
    kiln_stmt_bind_text(st, 1, run->info.run_id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_model_output *o =
            trk_grow(arena, run->model_outputs, run->nmodel_outputs, &cap, sizeof(*o));
        if (o == NULL) {
            oom = 1;
            break;
        }
        run->model_outputs = o;
        o[run->nmodel_outputs].model_id = col_dup(arena, st, 0, 1, &oom);
        o[run->nmodel_outputs++].step = kiln_stmt_int64(st, 1);
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return nomem(err);
    return rc < 0 ? rc : KILN_OK;
}

int trk_load_run_data(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_run *run,
                      struct kiln_err *err)
{
    int rc = load_metrics(tx, arena, run, err);
    if (rc == KILN_OK)
        rc = load_kv(tx, arena, "SELECT key, value FROM params WHERE run_uuid = ? ORDER BY key",
                     run->info.run_id, &run->params, &run->nparams, err);
    if (rc == KILN_OK)
        rc = load_kv(tx, arena, "SELECT key, value FROM tags WHERE run_uuid = ? ORDER BY key",
                     run->info.run_id, &run->tags, &run->ntags, err);
    if (rc == KILN_OK)
        rc = load_datasets(tx, arena, run, err);
    if (rc == KILN_OK)
        rc = load_models(tx, arena, run, err);
    return rc;
}

int trk_check_run(struct kiln_tx *tx, const char *run_id, int need_active, int64_t *experiment_id,
                  struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc, deleted = 0;

    if (run_id == NULL || *run_id == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_id'");
    rc = kiln_tx_prepare(tx, "SELECT lifecycle_stage, experiment_id FROM runs WHERE run_uuid = ?",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        const char *stage = kiln_stmt_text(st, 0);
        deleted = stage != NULL && strcmp(stage, "deleted") == 0;
        if (experiment_id != NULL)
            *experiment_id = kiln_stmt_int64(st, 1);
        rc = KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "Run with id=%.64s not found", run_id);
    }
    kiln_stmt_finish(st);
    if (rc == KILN_OK && need_active && deleted)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "The run %.64s must be in the 'active' state. Current state is deleted.",
                          run_id);
    return rc;
}

int trk_set_run_tag(struct kiln_tx *tx, const char *run_id, const char *key, const char *value,
                    size_t value_len, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?) "
                             "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    kiln_stmt_bind_text(st, 2, key);
    kiln_stmt_bind_textn(st, 3, value, value_len);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    if (strcmp(key, KILN_TAG_RUN_NAME) != 0)
        return KILN_OK;
    rc = kiln_tx_prepare(tx, "UPDATE runs SET name = ? WHERE run_uuid = ?", &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_textn(st, 1, value, value_len);
    kiln_stmt_bind_text(st, 2, run_id);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* Validated tags of a create request: byte lengths after truncation, run name from the tag. */
static int check_create_tags(const struct kiln_run_create_req *req, size_t *lens,
                             const char **name_tag, size_t *name_tag_len, struct kiln_err *err)
{
    char path[48];
    int rc;
    *name_tag = NULL;
    for (size_t i = 0; i < req->ntags; i++) {
        snprintf(path, sizeof(path), "tags[%zu].key", i);
        rc = kiln_validate_key("Tag", path, req->tags[i].key, err);
        if (rc == KILN_OK) {
            snprintf(path, sizeof(path), "tags[%zu].value", i);
            rc = trk_check_value("Tag value", path, req->tags[i].value, KILN_RUN_TAG_VALUE_MAX, 1,
                                 &lens[i], err);
        }
        if (rc != KILN_OK)
            return rc;
        if (strcmp(req->tags[i].key, KILN_TAG_RUN_NAME) == 0) {
            *name_tag = req->tags[i].value != NULL ? req->tags[i].value : "";
            *name_tag_len = lens[i];
        }
    }
    return KILN_OK;
}

/* Reads the experiment's artifact location, requiring it to exist and be active. */
static int experiment_location(struct kiln_tx *tx, struct kiln_arena *arena, int64_t id,
                               const char **location, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(
        tx, "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?",
        &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_int64(st, 1, id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "No Experiment with id=%lld exists", (long long)id);
    } else if (rc == KILN_STMT_ROW) {
        const char *stage = kiln_stmt_text(st, 1);
        if (stage != NULL && strcmp(stage, "active") != 0) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "The experiment %lld must be in the 'active' state. Current state "
                              "is %s.",
                              (long long)id, stage);
        } else {
            *location = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
            rc = *location != NULL ? KILN_OK : nomem(err);
        }
    }
    kiln_stmt_finish(st);
    return rc;
}

static int insert_run(struct kiln_tx *tx, const struct kiln_run_create_req *req, const char *run_id,
                      const char *name, size_t name_len, const char *uri, int64_t start,
                      struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, "
                             "start_time, end_time, artifact_uri, lifecycle_stage) "
                             "VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, ?, 'active')",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    kiln_stmt_bind_textn(st, 2, name, name_len);
    kiln_stmt_bind_int64(st, 3, req->experiment_id);
    kiln_stmt_bind_text(st, 4, req->user_id != NULL ? req->user_id : "");
    kiln_stmt_bind_int64(st, 5, start);
    kiln_stmt_bind_text(st, 6, uri);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int kiln_run_create(struct kiln_store *store, struct kiln_arena *arena,
                    const struct kiln_run_create_req *req, struct kiln_run **out,
                    struct kiln_err *err)
{
    struct kiln_tx *tx = NULL;
    struct kiln_run *run;
    size_t *lens, name_len = 0, tag_len = 0;
    const char *name_tag, *name, *location = NULL;
    char run_id[KILN_RUN_ID_LEN + 1], random_name[64], *uri;
    int rc;

    *out = NULL;
    lens = kiln_arena_calloc(arena, req->ntags + 1, sizeof(*lens));
    run = kiln_arena_calloc(arena, 1, sizeof(*run));
    if (lens == NULL || run == NULL)
        return nomem(err);
    rc = check_create_tags(req, lens, &name_tag, &tag_len, err);
    if (rc != KILN_OK)
        return rc;
    if (req->run_name != NULL && *req->run_name != '\0') {
        name = req->run_name;
        trk_check_value("Run name", "run_name", name, KILN_RUN_TAG_VALUE_MAX, 1, &name_len, err);
        if (name_tag != NULL && (tag_len != name_len || memcmp(name_tag, name, name_len) != 0))
            return kiln_err_set(err, KILN_EINVAL,
                                "Both 'run_name' argument and 'mlflow.runName' tag are specified, "
                                "but with different values (run_name='%.60s', "
                                "mlflow.runName='%.60s').",
                                name, name_tag);
    } else if (name_tag != NULL && *name_tag != '\0') {
        name = name_tag;
        name_len = tag_len;
    } else {
        kiln_random_name(random_name, sizeof(random_name));
        name = random_name;
        name_len = strlen(name);
    }
    if (kiln_uuid_hex(run_id) != KILN_OK)
        return kiln_err_set(err, KILN_EIO, "cannot draw a random run id");

    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = experiment_location(tx, arena, req->experiment_id, &location, err);
    if (rc != KILN_OK)
        goto out;
    uri = kiln_arena_printf(arena, "%s%s%s/artifacts", location,
                            *location != '\0' && location[strlen(location) - 1] == '/' ? "" : "/",
                            run_id);
    if (uri == NULL) {
        rc = nomem(err);
        goto out;
    }
    rc = insert_run(tx, req, run_id, name, name_len, uri,
                    req->has_start_time ? req->start_time : kiln_now_ms(), err);
    for (size_t i = 0; rc == KILN_OK && i < req->ntags; i++)
        rc = trk_set_run_tag(tx, run_id, req->tags[i].key,
                             req->tags[i].value != NULL ? req->tags[i].value : "", lens[i], err);
    if (rc == KILN_OK && name_tag == NULL)
        rc = trk_set_run_tag(tx, run_id, KILN_TAG_RUN_NAME, name, name_len, err);
    if (rc == KILN_OK) {
        struct kiln_stmt *st;
        rc = kiln_tx_prepare(tx, "SELECT " TRK_RUN_COLUMNS " FROM runs WHERE run_uuid = ?", &st,
                             err);
        if (rc == KILN_OK) {
            kiln_stmt_bind_text(st, 1, run_id);
            rc = kiln_stmt_step(st, err);
            rc = rc == KILN_STMT_ROW
                     ? trk_read_run_info(st, 0, arena, &run->info, err)
                     : (rc < 0 ? rc : kiln_err_set(err, KILN_EINTERNAL, "created run vanished"));
            kiln_stmt_finish(st);
        }
    }
    if (rc == KILN_OK)
        rc = trk_load_run_data(tx, arena, run, err);
out:
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = kiln_store_commit(tx, err);
    if (rc == KILN_OK)
        *out = run;
    return rc;
}

int trk_read_run(struct kiln_tx *tx, struct kiln_arena *arena, const char *run_id, int with_data,
                 struct kiln_run **out, struct kiln_err *err)
{
    struct kiln_stmt *st;
    struct kiln_run *run = kiln_arena_calloc(arena, 1, sizeof(*run));
    int rc;

    if (run == NULL)
        return nomem(err);
    rc = kiln_tx_prepare(tx, "SELECT " TRK_RUN_COLUMNS " FROM runs WHERE run_uuid = ?", &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        rc = trk_read_run_info(st, 0, arena, &run->info, err);
    else if (rc == KILN_STMT_DONE)
        rc = kiln_err_set(err, KILN_ENOENT, "Run with id=%.64s not found", run_id);
    kiln_stmt_finish(st);
    if (rc == KILN_OK && with_data)
        rc = trk_load_run_data(tx, arena, run, err);
    if (rc == KILN_OK)
        *out = run;
    return rc;
}

int kiln_run_get(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                 struct kiln_run **out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc;

    *out = NULL;
    if (run_id == NULL || *run_id == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_id'");
    rc = kiln_metrics_begin_read(store, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = trk_read_run(tx, arena, run_id, 1, out, err);
    kiln_store_rollback(tx);
    return rc;
}

int kiln_run_update(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                    const struct kiln_run_update_req *req, struct kiln_run_info **out,
                    struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    struct kiln_run *run = NULL;
    size_t name_len = 0;
    int has_name = req->run_name != NULL && *req->run_name != '\0';
    int rc;

    *out = NULL;
    if (req->status != NULL && kiln_run_status_canonical(req->status) == NULL)
        return kiln_err_set(err, KILN_EINVAL, "Invalid value '%.32s' for parameter 'status'",
                            req->status);
    if (has_name)
        trk_check_value("Run name", "run_name", req->run_name, KILN_RUN_TAG_VALUE_MAX, 1, &name_len,
                        err);
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = trk_check_run(tx, run_id, 1, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_tx_prepare(tx,
                             "UPDATE runs SET status = COALESCE(?, status), "
                             "end_time = CASE WHEN ? THEN ? ELSE end_time END WHERE run_uuid = ?",
                             &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1,
                            req->status != NULL ? kiln_run_status_canonical(req->status) : NULL);
        kiln_stmt_bind_int64(st, 2, req->has_end_time);
        kiln_stmt_bind_int64(st, 3, req->end_time);
        kiln_stmt_bind_text(st, 4, run_id);
        rc = kiln_stmt_step(st, err);
        kiln_stmt_finish(st);
        rc = rc < 0 ? rc : KILN_OK;
    }
    if (rc == KILN_OK && has_name)
        rc = trk_set_run_tag(tx, run_id, KILN_TAG_RUN_NAME, req->run_name, name_len, err);
    if (rc == KILN_OK)
        rc = trk_read_run(tx, arena, run_id, 0, &run, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = kiln_store_commit(tx, err);
    if (rc == KILN_OK)
        *out = &run->info;
    return rc;
}

static int set_stage(struct kiln_store *store, const char *run_id, int deleted,
                     struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc;

    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = trk_check_run(tx, run_id, 0, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_tx_prepare(tx,
                             "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? "
                             "WHERE run_uuid = ?",
                             &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, deleted ? "deleted" : "active");
        if (deleted)
            kiln_stmt_bind_int64(st, 2, kiln_now_ms());
        else
            kiln_stmt_bind_null(st, 2);
        kiln_stmt_bind_text(st, 3, run_id);
        rc = kiln_stmt_step(st, err);
        kiln_stmt_finish(st);
        rc = rc < 0 ? rc : KILN_OK;
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_run_delete(struct kiln_store *store, const char *run_id, struct kiln_err *err)
{
    return set_stage(store, run_id, 1, err);
}

int kiln_run_restore(struct kiln_store *store, const char *run_id, struct kiln_err *err)
{
    return set_stage(store, run_id, 0, err);
}

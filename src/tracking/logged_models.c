/*
 * logged_models.c - MLflow 3 logged models over the store (logged_models.h).
 *
 * Rows live in the tracking schema's logged_models, logged_model_params, logged_model_tags and
 * logged_model_metrics tables (store/migrations/tracking.c); metrics are written by the runs
 * code (log-metric with a model_id) and only read here. Deletion is soft (lifecycle_stage =
 * 'deleted'), as in MLflow's SQL store: deleted models are invisible to every call here.
 *
 * Each public function is one transaction: validation happens before any write, and a
 * failure rolls everything back, so a rejected request changes nothing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/str.h"
#include "core/time.h"
#include "store/store.h"
#include "tracking/logged_models.h"
#include "tracking/logged_models_int.h"

#define KEY_MAX 250
#define PARAM_VALUE_MAX 6000
#define TAG_VALUE_MAX 8000
#define NAME_MAX_LEN 500
#define BAD_NAME_CHARS "/:.%\"'"

static const char *const status_names[] = {
    "LOGGED_MODEL_STATUS_UNSPECIFIED",
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
};

const char *kiln_logged_model_status_name(int status)
{
    if (status < 0 || (size_t)status >= KILN_ARRAY_LEN(status_names))
        return status_names[0];
    return status_names[status];
}

int kiln_logged_model_status_parse(const char *s, int *status)
{
    int64_t v;
    if (s == NULL)
        return KILN_EINVAL;
    for (size_t i = 0; i < KILN_ARRAY_LEN(status_names); i++) {
        const char *shortname = status_names[i] + strlen("LOGGED_MODEL_");
        if (kiln_cstr_ieq(s, status_names[i]) || (i > 0 && kiln_cstr_ieq(s, shortname))) {
            *status = (int)i;
            return KILN_OK;
        }
    }
    if (kiln_parse_int64(s, strlen(s), &v) == KILN_OK && v >= 0 &&
        v < (int64_t)KILN_ARRAY_LEN(status_names)) {
        *status = (int)v;
        return KILN_OK;
    }
    return KILN_EINVAL;
}

int kiln_logged_model_validate_name(const char *name, struct kiln_err *err)
{
    if (name == NULL)
        return KILN_OK;
    if (*name == '\0' || strpbrk(name, BAD_NAME_CHARS) != NULL || strlen(name) > NAME_MAX_LEN)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid model name ('%.200s') provided. Model name must be a "
                            "non-empty string of at most %d characters and cannot contain the "
                            "following characters: / : . %% \" '",
                            name, NAME_MAX_LEN);
    return KILN_OK;
}

/* Checks {key, value} pairs: key present and at most 250 chars, value within `max`. */
static int validate_kv(const struct kiln_kv *kv, size_t n, const char *what, size_t max,
                       struct kiln_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (kv[i].key == NULL || *kv[i].key == '\0')
            return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s.key'",
                                what);
        if (strlen(kv[i].key) > KEY_MAX)
            return kiln_err_set(err, KILN_EINVAL,
                                "%s key '%.50s...' exceeds the maximum length of %d", what,
                                kv[i].key, KEY_MAX);
        if (kv[i].value != NULL && strlen(kv[i].value) > max)
            return kiln_err_set(err, KILN_EINVAL,
                                "%s '%.100s': value exceeds the maximum length of %zu", what,
                                kv[i].key, max);
    }
    return KILN_OK;
}

/* Loads `SELECT key, value ... WHERE model_id = ?` rows into arena memory. */
static int load_kv(struct kiln_tx *tx, struct kiln_arena *arena, const char *sql,
                   const char *model_id, struct kiln_kv **out, size_t *n, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int rc = kiln_tx_prepare(tx, sql, &st, err);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, model_id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (*n == cap) {
            struct kiln_kv *nv;
            cap = cap ? cap * 2 : 8;
            nv = kiln_arena_alloc(arena, cap * sizeof(*nv));
            if (nv == NULL) {
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
                break;
            }
            if (*n > 0)
                memcpy(nv, *out, *n * sizeof(*nv));
            *out = nv;
        }
        (*out)[*n].key = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
        (*out)[*n].value = kiln_arena_strdup(arena, kiln_stmt_text(st, 1));
        if ((*out)[*n].key == NULL || (*out)[*n].value == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* NULL for SQL NULL and for "", else an arena copy; sets *oom on allocation failure. */
static const char *opt_text(struct kiln_arena *arena, const char *s, int *oom)
{
    const char *c;
    if (s == NULL || *s == '\0')
        return NULL;
    c = kiln_arena_strdup(arena, s);
    if (c == NULL)
        *oom = 1;
    return c;
}

static int load_metrics(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_logged_model *m,
                        struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int oom = 0;
    int rc = kiln_tx_prepare(tx,
                             "SELECT key, value, is_nan, timestamp, step, run_uuid, dataset_name, "
                             "dataset_digest FROM logged_model_metrics WHERE model_id = ? "
                             "ORDER BY key, timestamp, step, run_uuid",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, m->model_id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_logged_model_metric *x;
        if (m->nmetrics == cap) {
            struct kiln_logged_model_metric *nv;
            cap = cap ? cap * 2 : 8;
            nv = kiln_arena_alloc(arena, cap * sizeof(*nv));
            if (nv == NULL) {
                oom = 1;
                break;
            }
            if (m->nmetrics > 0)
                memcpy(nv, m->metrics, m->nmetrics * sizeof(*nv));
            m->metrics = nv;
        }
        x = &m->metrics[m->nmetrics++];
        x->key = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
        x->value = kiln_stmt_int64(st, 2) != 0 ? NAN : kiln_stmt_double(st, 1);
        x->timestamp = kiln_stmt_int64(st, 3);
        x->step = kiln_stmt_int64(st, 4);
        x->run_id = opt_text(arena, kiln_stmt_text(st, 5), &oom);
        x->dataset_name = opt_text(arena, kiln_stmt_text(st, 6), &oom);
        x->dataset_digest = opt_text(arena, kiln_stmt_text(st, 7), &oom);
        if (x->key == NULL || oom) {
            oom = 1;
            break;
        }
    }
    kiln_stmt_finish(st);
    if (oom)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    return rc < 0 ? rc : KILN_OK;
}

int kiln_logged_model_not_found(struct kiln_err *err, const char *model_id)
{
    return kiln_err_set(err, KILN_ENOENT, "Logged model with ID '%.100s' not found.", model_id);
}

int kiln_logged_model_load(struct kiln_tx *tx, struct kiln_arena *arena, const char *model_id,
                           struct kiln_logged_model **out, struct kiln_err *err)
{
    struct kiln_logged_model *m = NULL;
    struct kiln_stmt *st;
    int oom = 0;
    int rc = kiln_tx_prepare(tx,
                             "SELECT model_id, experiment_id, name, artifact_location, "
                             "creation_timestamp_ms, last_updated_timestamp_ms, status, "
                             "model_type, source_run_id, status_message FROM logged_models "
                             "WHERE model_id = ? AND lifecycle_stage = 'active'",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, model_id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        m = kiln_arena_calloc(arena, 1, sizeof(*m));
        if (m != NULL) {
            m->model_id = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
            m->experiment_id = kiln_stmt_int64(st, 1);
            m->name = kiln_arena_strdup(arena, kiln_stmt_text(st, 2));
            m->artifact_uri = kiln_arena_strdup(arena, kiln_stmt_text(st, 3));
            m->creation_timestamp_ms = kiln_stmt_int64(st, 4);
            m->last_updated_timestamp_ms = kiln_stmt_int64(st, 5);
            m->status = (int)kiln_stmt_int64(st, 6);
            m->model_type = opt_text(arena, kiln_stmt_text(st, 7), &oom);
            m->source_run_id = opt_text(arena, kiln_stmt_text(st, 8), &oom);
            m->status_message = opt_text(arena, kiln_stmt_text(st, 9), &oom);
        }
        if (m == NULL || m->model_id == NULL || m->name == NULL || m->artifact_uri == NULL || oom)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        else
            rc = KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_logged_model_not_found(err, model_id);
    }
    kiln_stmt_finish(st);
    if (rc == KILN_OK)
        rc = load_kv(tx, arena,
                     "SELECT key, value FROM logged_model_tags WHERE model_id = ? ORDER BY key",
                     model_id, &m->tags, &m->ntags, err);
    if (rc == KILN_OK)
        rc = load_kv(tx, arena,
                     "SELECT key, value FROM logged_model_params WHERE model_id = ? ORDER BY key",
                     model_id, &m->params, &m->nparams, err);
    if (rc == KILN_OK)
        rc = load_metrics(tx, arena, m, err);
    if (rc == KILN_OK)
        *out = m;
    return rc;
}

/* KILN_OK when the model exists and is active, else KILN_ENOENT. */
static int check_exists(struct kiln_tx *tx, const char *model_id, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "SELECT 1 FROM logged_models WHERE model_id = ? AND "
                             "lifecycle_stage = 'active'",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, model_id);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc == KILN_STMT_DONE)
        return kiln_logged_model_not_found(err, model_id);
    return rc < 0 ? rc : KILN_OK;
}

static int insert_params(struct kiln_tx *tx, const char *model_id, const struct kiln_kv *p,
                         size_t n, struct kiln_err *err)
{
    struct kiln_stmt *ins, *sel;
    int rc;
    if (n == 0)
        return KILN_OK;
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?) "
                         "ON CONFLICT (model_id, key) DO NOTHING",
                         &ins, err);
    if (rc != KILN_OK)
        return rc;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        const char *value = p[i].value != NULL ? p[i].value : "";
        kiln_stmt_reset(ins);
        kiln_stmt_bind_text(ins, 1, model_id);
        kiln_stmt_bind_text(ins, 2, p[i].key);
        kiln_stmt_bind_text(ins, 3, value);
        rc = kiln_stmt_step(ins, err);
        if (rc < 0 || kiln_tx_changes(tx) > 0)
            continue;
        /* Already there: the same value is fine, another one is not. */
        rc = kiln_tx_prepare(
            tx, "SELECT value FROM logged_model_params WHERE model_id = ? AND key = ?", &sel, err);
        if (rc != KILN_OK)
            break;
        kiln_stmt_bind_text(sel, 1, model_id);
        kiln_stmt_bind_text(sel, 2, p[i].key);
        rc = kiln_stmt_step(sel, err);
        if (rc == KILN_STMT_ROW && strcmp(kiln_stmt_text(sel, 0), value) != 0)
            rc = kiln_err_set(err, KILN_EINVAL,
                              "Changing param values is not allowed. Param with key='%.100s' was "
                              "already logged with value='%.40s' for logged model '%.40s'. "
                              "Attempted logging new value '%.40s'.",
                              p[i].key, kiln_stmt_text(sel, 0), model_id, value);
        kiln_stmt_finish(sel);
    }
    kiln_stmt_finish(ins);
    return rc < 0 ? rc : KILN_OK;
}

static int upsert_tags(struct kiln_tx *tx, const char *model_id, const struct kiln_kv *t, size_t n,
                       struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;
    if (n == 0)
        return KILN_OK;
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) "
                         "ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        kiln_stmt_reset(st);
        kiln_stmt_bind_text(st, 1, model_id);
        kiln_stmt_bind_text(st, 2, t[i].key);
        kiln_stmt_bind_text(st, 3, t[i].value != NULL ? t[i].value : "");
        rc = kiln_stmt_step(st, err);
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* Reads the experiment's artifact location; KILN_EINVAL unless it is active. */
static int experiment_location(struct kiln_tx *tx, struct kiln_arena *arena, int64_t id,
                               const char **location, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "SELECT artifact_location, lifecycle_stage FROM experiments "
                             "WHERE experiment_id = ?",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_int64(st, 1, id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "No Experiment with id=%lld exists", (long long)id);
    } else if (rc == KILN_STMT_ROW) {
        const char *stage = kiln_stmt_text(st, 1);
        if (stage == NULL || strcmp(stage, "active") != 0) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "The experiment %lld must be in the 'active' state. Current state "
                              "is %s.",
                              (long long)id, stage != NULL ? stage : "unknown");
        } else {
            *location = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
            rc = *location != NULL ? KILN_OK : kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    kiln_stmt_finish(st);
    return rc;
}

static int insert_model(struct kiln_tx *tx, const struct kiln_logged_model_create *spec,
                        const char *model_id, const char *name, const char *uri, int64_t now,
                        struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "INSERT INTO logged_models (model_id, experiment_id, name, "
                             "artifact_location, creation_timestamp_ms, "
                             "last_updated_timestamp_ms, status, lifecycle_stage, model_type, "
                             "source_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, model_id);
    kiln_stmt_bind_int64(st, 2, spec->experiment_id);
    kiln_stmt_bind_text(st, 3, name);
    kiln_stmt_bind_text(st, 4, uri);
    kiln_stmt_bind_int64(st, 5, now);
    kiln_stmt_bind_int64(st, 6, now);
    kiln_stmt_bind_int64(st, 7, KILN_LOGGED_MODEL_PENDING);
    if (spec->model_type != NULL && *spec->model_type != '\0')
        kiln_stmt_bind_text(st, 8, spec->model_type);
    else
        kiln_stmt_bind_null(st, 8);
    if (spec->source_run_id != NULL && *spec->source_run_id != '\0')
        kiln_stmt_bind_text(st, 9, spec->source_run_id);
    else
        kiln_stmt_bind_null(st, 9);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int kiln_logged_model_create(struct kiln_store *store, struct kiln_arena *arena,
                             const struct kiln_logged_model_create *spec,
                             struct kiln_logged_model **out, struct kiln_err *err)
{
    struct kiln_tx *tx = NULL;
    const char *location = NULL, *name = spec->name;
    char model_id[3 + KILN_UUID_HEX_LEN], random_name[64], *uri;
    int rc;

    if (name != NULL && *name == '\0')
        name = NULL;
    rc = kiln_logged_model_validate_name(name, err);
    if (rc == KILN_OK)
        rc = validate_kv(spec->params, spec->nparams, "param", PARAM_VALUE_MAX, err);
    if (rc == KILN_OK)
        rc = validate_kv(spec->tags, spec->ntags, "tag", TAG_VALUE_MAX, err);
    if (rc != KILN_OK)
        return rc;
    memcpy(model_id, "m-", 2);
    rc = kiln_uuid_hex(model_id + 2);
    if (rc == KILN_OK && name == NULL && (rc = kiln_random_name(random_name, 64)) == KILN_OK)
        name = random_name;
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "cannot make a model id: %s", kiln_strerror(rc));

    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = experiment_location(tx, arena, spec->experiment_id, &location, err);
    if (rc != KILN_OK)
        goto fail;
    /* MLflow's append_to_uri_path: one '/' between the location and the suffix. */
    uri = kiln_arena_printf(arena, "%s%smodels/%s/artifacts", location,
                            location[0] != '\0' && location[strlen(location) - 1] == '/' ? "" : "/",
                            model_id);
    if (uri == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto fail;
    }
    rc = insert_model(tx, spec, model_id, name, uri, kiln_now_ms(), err);
    if (rc == KILN_OK)
        rc = insert_params(tx, model_id, spec->params, spec->nparams, err);
    if (rc == KILN_OK)
        rc = upsert_tags(tx, model_id, spec->tags, spec->ntags, err);
    if (rc == KILN_OK)
        rc = kiln_logged_model_load(tx, arena, model_id, out, err);
    if (rc != KILN_OK)
        goto fail;
    return kiln_store_commit(tx, err);
fail:
    kiln_store_rollback(tx);
    return rc;
}

int kiln_logged_model_get(struct kiln_store *store, struct kiln_arena *arena, const char *model_id,
                          struct kiln_logged_model **out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_logged_model_load(tx, arena, model_id, out, err);
    kiln_store_rollback(tx);
    return rc;
}

/* Runs one UPDATE binding `vals` then the model id; KILN_ENOENT when no row changed. */
static int update_model(struct kiln_tx *tx, const char *sql, const char *model_id,
                        const int64_t *vals, int nvals, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        return rc;
    for (int i = 0; i < nvals; i++)
        kiln_stmt_bind_int64(st, i + 1, vals[i]);
    kiln_stmt_bind_text(st, nvals + 1, model_id);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    return kiln_tx_changes(tx) > 0 ? KILN_OK : kiln_logged_model_not_found(err, model_id);
}

int kiln_logged_model_finalize(struct kiln_store *store, struct kiln_arena *arena,
                               const char *model_id, int status, struct kiln_logged_model **out,
                               struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_logged_model *m = NULL;
    int64_t vals[2];
    int rc;

    if (status != KILN_LOGGED_MODEL_READY && status != KILN_LOGGED_MODEL_UPLOAD_FAILED)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value '%s' for parameter 'status': a logged model is "
                            "finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED",
                            kiln_logged_model_status_name(status));
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    vals[0] = status;
    vals[1] = kiln_now_ms();
    rc = update_model(tx,
                      "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? "
                      "WHERE model_id = ? AND lifecycle_stage = 'active'",
                      model_id, vals, 2, err);
    if (rc == KILN_OK && out != NULL)
        rc = kiln_logged_model_load(tx, arena, model_id, &m, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = kiln_store_commit(tx, err);
    if (rc == KILN_OK && out != NULL)
        *out = m;
    return rc;
}

int kiln_logged_model_delete(struct kiln_store *store, const char *model_id, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t now = kiln_now_ms();
    int rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = update_model(tx,
                      "UPDATE logged_models SET lifecycle_stage = 'deleted', "
                      "last_updated_timestamp_ms = ? "
                      "WHERE model_id = ? AND lifecycle_stage = 'active'",
                      model_id, &now, 1, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

/* Runs `fn` on an active model inside one write transaction. */
static int with_model(struct kiln_store *store, const char *model_id,
                      int (*fn)(struct kiln_tx *, const char *, const struct kiln_kv *, size_t,
                                struct kiln_err *),
                      const struct kiln_kv *kv, size_t n, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = check_exists(tx, model_id, err);
    if (rc == KILN_OK)
        rc = fn(tx, model_id, kv, n, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_logged_model_set_tags(struct kiln_store *store, const char *model_id,
                               const struct kiln_kv *tags, size_t n, struct kiln_err *err)
{
    int rc = validate_kv(tags, n, "tag", TAG_VALUE_MAX, err);
    if (rc != KILN_OK)
        return rc;
    return with_model(store, model_id, upsert_tags, tags, n, err);
}

int kiln_logged_model_log_params(struct kiln_store *store, const char *model_id,
                                 const struct kiln_kv *params, size_t n, struct kiln_err *err)
{
    int rc = validate_kv(params, n, "param", PARAM_VALUE_MAX, err);
    if (rc != KILN_OK)
        return rc;
    return with_model(store, model_id, insert_params, params, n, err);
}

static int delete_tag(struct kiln_tx *tx, const char *model_id, const struct kiln_kv *kv, size_t n,
                      struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx, "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?",
                             &st, err);
    (void)n;
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, model_id);
    kiln_stmt_bind_text(st, 2, kv->key);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    if (kiln_tx_changes(tx) == 0)
        return kiln_err_set(err, KILN_ENOENT,
                            "No tag with key '%.100s' found for model with ID "
                            "'%.100s'.",
                            kv->key, model_id);
    return KILN_OK;
}

int kiln_logged_model_delete_tag(struct kiln_store *store, const char *model_id, const char *key,
                                 struct kiln_err *err)
{
    struct kiln_kv kv = { key, NULL };
    if (key == NULL || *key == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'tag_key'");
    return with_model(store, model_id, delete_tag, &kv, 1, err);
}

/*
 * experiments.c - experiments: create, read, rename, delete/restore (with the cascade to their
 * runs) and tags (tracking.h). Search is in experiments_search.c.
 *
 * Lifecycle: active -> deleted (delete; its active runs are deleted at the same instant, which
 * is recorded as the experiment's last_update_time) -> active (restore; exactly the runs whose
 * deleted_time is at or after that instant come back). Every function is one transaction.
 *
 * Ids are assigned as max(id) + 1 inside the write transaction (the Default experiment is 0),
 * so they are dense and never reused while the experiment row exists, matching MLflow's
 * auto-increment on a fresh store. Names are unique across active and deleted experiments.
 */
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "core/time.h"
#include "store/store.h"
#include "tracking/tracking_int.h"

#define EXPERIMENT_NAME_MAX 500
#define ARTIFACT_LOCATION_MAX 2048

int kiln_validate_experiment_name(const char *name, struct kiln_err *err)
{
    if (name == NULL || *name == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Invalid experiment name: '%s'",
                            name != NULL ? name : "");
    if (strlen(name) > EXPERIMENT_NAME_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "Experiment name exceeds the maximum length of %d characters",
                            EXPERIMENT_NAME_MAX);
    return KILN_OK;
}

int kiln_experiment_parse_id(const char *s, const char *field, int64_t *id, struct kiln_err *err)
{
    if (s == NULL || kiln_parse_int64(s, strlen(s), id) != KILN_OK || *id < 0)
        return kiln_err_set(err, KILN_EINVAL, "Invalid value '%s' for parameter '%s'",
                            s != NULL ? s : "", field);
    return KILN_OK;
}

int kiln_tracking_init(struct kiln_store *store, const char *default_artifact_root,
                       struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    char location[ARTIFACT_LOCATION_MAX + 32];
    int64_t now = kiln_now_ms();
    int rc;

    snprintf(location, sizeof(location), "%s%s0", default_artifact_root,
             default_artifact_root[strlen(default_artifact_root) - 1] == '/' ? "" : "/");
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO experiments (experiment_id, name, artifact_location, "
                         "lifecycle_stage, creation_time, last_update_time) "
                         "VALUES (0, ?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING",
                         &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, KILN_DEFAULT_EXPERIMENT_NAME);
        kiln_stmt_bind_text(st, 2, location);
        kiln_stmt_bind_int64(st, 3, now);
        kiln_stmt_bind_int64(st, 4, now);
        rc = kiln_stmt_step(st, err);
        kiln_stmt_finish(st);
    }
    if (rc < 0) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

static int insert_tags(struct kiln_tx *tx, int64_t id, const struct kiln_kv *tags, size_t n,
                       struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;
    if (n == 0)
        return KILN_OK;
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
                         "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        kiln_stmt_reset(st);
        kiln_stmt_bind_int64(st, 1, id);
        kiln_stmt_bind_text(st, 2, tags[i].key);
        kiln_stmt_bind_text(st, 3, tags[i].value != NULL ? tags[i].value : "");
        rc = kiln_stmt_step(st, err);
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* Experiment tag rules: MLflow's key rule, values of at most 5000 characters (an error). */
static int check_tags(const struct kiln_kv *tags, size_t n, struct kiln_err *err)
{
    char path[40];
    for (size_t i = 0; i < n; i++) {
        const char *v = tags[i].value != NULL ? tags[i].value : "";
        size_t chars = kiln_utf8_chars(v, strlen(v));
        int rc;
        snprintf(path, sizeof(path), "tags[%zu].key", i);
        rc = kiln_validate_key("Tag", path, tags[i].key, err);
        if (rc != KILN_OK)
            return rc;
        if (chars > KILN_EXPERIMENT_TAG_VALUE_MAX)
            return kiln_err_set(err, KILN_EINVAL,
                                "Tag value '%.40s...' had length %zu, which exceeded length "
                                "limit of %d (parameter 'tags[%zu].value')",
                                v, chars, KILN_EXPERIMENT_TAG_VALUE_MAX, i);
    }
    return KILN_OK;
}

int kiln_experiment_create(struct kiln_store *store, const char *name,
                           const char *artifact_location, const struct kiln_kv *tags, size_t ntags,
                           const char *default_artifact_root, int64_t *id, struct kiln_err *err)
{
    struct kiln_tx *tx = NULL;
    struct kiln_stmt *st = NULL;
    char location[ARTIFACT_LOCATION_MAX + 32];
    int64_t now = kiln_now_ms(), new_id = 0;
    int rc;

    rc = kiln_validate_experiment_name(name, err);
    if (rc != KILN_OK)
        return rc;
    rc = check_tags(tags, ntags, err);
    if (rc != KILN_OK)
        return rc;
    if (artifact_location != NULL && *artifact_location != '\0') {
        if (strlen(artifact_location) > ARTIFACT_LOCATION_MAX)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid artifact location: longer than %d characters",
                                ARTIFACT_LOCATION_MAX);
        if (strpbrk(artifact_location, "?#") != NULL)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid artifact location '%s': URL query parameters and "
                                "fragments are not allowed",
                                artifact_location);
    }
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "SELECT COALESCE(MAX(experiment_id), -1) + 1 FROM experiments", &st,
                         err);
    if (rc != KILN_OK)
        goto fail;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        new_id = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    if (rc < 0)
        goto fail;
    if (artifact_location != NULL && *artifact_location != '\0')
        snprintf(location, sizeof(location), "%s", artifact_location);
    else
        snprintf(location, sizeof(location), "%s%s%lld", default_artifact_root,
                 default_artifact_root[strlen(default_artifact_root) - 1] == '/' ? "" : "/",
                 (long long)new_id);
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO experiments (experiment_id, name, artifact_location, "
                         "lifecycle_stage, creation_time, last_update_time) "
                         "VALUES (?, ?, ?, 'active', ?, ?)",
                         &st, err);
    if (rc != KILN_OK)
        goto fail;
    kiln_stmt_bind_int64(st, 1, new_id);
    kiln_stmt_bind_text(st, 2, name);
    kiln_stmt_bind_text(st, 3, location);
    kiln_stmt_bind_int64(st, 4, now);
    kiln_stmt_bind_int64(st, 5, now);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc == KILN_EEXIST) {
        kiln_err_set(err, rc, "Experiment(name=%s) already exists.", name);
        goto fail;
    }
    if (rc < 0)
        goto fail;
    rc = insert_tags(tx, new_id, tags, ntags, err);
    if (rc != KILN_OK)
        goto fail;
    rc = kiln_store_commit(tx, err);
    if (rc == KILN_OK)
        *id = new_id;
    return rc;
fail:
    kiln_store_rollback(tx);
    return rc;
}

int trk_load_experiment_tags(struct kiln_tx *tx, struct kiln_arena *arena,
                             struct kiln_experiment *e, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int rc = kiln_tx_prepare(tx,
                             "SELECT key, value FROM experiment_tags WHERE experiment_id = ? "
                             "ORDER BY key",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_int64(st, 1, e->id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (e->ntags == cap) {
            struct kiln_kv *nt;
            cap = cap ? cap * 2 : 8;
            nt = kiln_arena_alloc(arena, cap * sizeof(*nt));
            if (nt == NULL) {
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
                break;
            }
            if (e->ntags > 0)
                memcpy(nt, e->tags, e->ntags * sizeof(*nt));
            e->tags = nt;
        }
        e->tags[e->ntags].key = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
        e->tags[e->ntags].value = kiln_arena_strdup(arena, kiln_stmt_text(st, 1));
        if (e->tags[e->ntags].key == NULL || e->tags[e->ntags].value == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            break;
        }
        e->ntags++;
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int get_where(struct kiln_store *store, struct kiln_arena *arena, const char *sql,
                     int64_t id, const char *name, struct kiln_experiment **out,
                     struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    struct kiln_experiment *e = NULL;
    int rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        goto out;
    if (name != NULL)
        kiln_stmt_bind_text(st, 1, name);
    else
        kiln_stmt_bind_int64(st, 1, id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        e = kiln_arena_calloc(arena, 1, sizeof(*e));
        if (e != NULL) {
            e->id = kiln_stmt_int64(st, 0);
            e->name = kiln_arena_strdup(arena, kiln_stmt_text(st, 1));
            e->artifact_location = kiln_arena_strdup(arena, kiln_stmt_text(st, 2));
            e->lifecycle_stage = kiln_arena_strdup(arena, kiln_stmt_text(st, 3));
            e->creation_time = kiln_stmt_int64(st, 4);
            e->last_update_time = kiln_stmt_int64(st, 5);
        }
        if (e == NULL || e->name == NULL || e->artifact_location == NULL ||
            e->lifecycle_stage == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        else
            rc = KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        if (name != NULL)
            rc = kiln_err_set(err, KILN_ENOENT, "Could not find experiment with name '%s'", name);
        else
            rc = kiln_err_set(err, KILN_ENOENT, "No Experiment with id=%lld exists", (long long)id);
    }
    kiln_stmt_finish(st);
    if (rc == KILN_OK)
        rc = trk_load_experiment_tags(tx, arena, e, err);
out:
    kiln_store_rollback(tx);
    if (rc == KILN_OK)
        *out = e;
    return rc;
}

#define EXPERIMENT_COLUMNS                                                            \
    "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, " \
    "last_update_time FROM experiments "

int kiln_experiment_get(struct kiln_store *store, struct kiln_arena *arena, int64_t id,
                        struct kiln_experiment **out, struct kiln_err *err)
{
    return get_where(store, arena, EXPERIMENT_COLUMNS "WHERE experiment_id = ?", id, NULL, out,
                     err);
}

int kiln_experiment_get_by_name(struct kiln_store *store, struct kiln_arena *arena,
                                const char *name, struct kiln_experiment **out,
                                struct kiln_err *err)
{
    return get_where(store, arena, EXPERIMENT_COLUMNS "WHERE name = ?", 0, name, out, err);
}

/* ---- changes ---------------------------------------------------------------------------- */

/* Reads the lifecycle stage and last update time of an experiment inside tx. */
static int experiment_state(struct kiln_tx *tx, int64_t id, int *deleted, int64_t *updated,
                            struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(
        tx, "SELECT lifecycle_stage, last_update_time FROM experiments WHERE experiment_id = ?",
        &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_int64(st, 1, id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        const char *stage = kiln_stmt_text(st, 0);
        *deleted = stage != NULL && strcmp(stage, "deleted") == 0;
        if (updated != NULL)
            *updated = kiln_stmt_int64(st, 1);
        rc = KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "No Experiment with id=%lld exists", (long long)id);
    }
    kiln_stmt_finish(st);
    return rc;
}

/* Runs one statement binding (text a, int64 id) or (int64 id) when a is NULL. */
static int exec_id(struct kiln_tx *tx, const char *sql, const char *a, int64_t x, int64_t id,
                   struct kiln_err *err)
{
    struct kiln_stmt *st;
    int i = 1, rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        return rc;
    if (a != NULL)
        kiln_stmt_bind_text(st, i++, a);
    if (x >= 0)
        kiln_stmt_bind_int64(st, i++, x);
    kiln_stmt_bind_int64(st, i, id);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int end_tx(struct kiln_tx *tx, int rc, struct kiln_err *err)
{
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_experiment_rename(struct kiln_store *store, int64_t id, const char *new_name,
                           struct kiln_err *err)
{
    struct kiln_tx *tx;
    int deleted = 0;
    int rc = kiln_validate_experiment_name(new_name, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = experiment_state(tx, id, &deleted, NULL, err);
    if (rc == KILN_OK && deleted)
        rc = kiln_err_set(err, KILN_ESTATE, "Cannot rename a non-active experiment.");
    if (rc == KILN_OK) {
        rc = exec_id(tx,
                     "UPDATE experiments SET name = ?, last_update_time = ? "
                     "WHERE experiment_id = ?",
                     new_name, kiln_now_ms(), id, err);
        if (rc == KILN_EEXIST)
            kiln_err_set(err, rc, "Experiment(name=%s) already exists.", new_name);
    }
    return end_tx(tx, rc, err);
}

int kiln_experiment_delete(struct kiln_store *store, int64_t id, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t now = kiln_now_ms();
    int deleted = 0, rc;

    if (id == KILN_DEFAULT_EXPERIMENT_ID)
        return kiln_err_set(err, KILN_EINVAL,
                            "Cannot delete the default experiment '0'. This is an internally "
                            "reserved experiment.");
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = experiment_state(tx, id, &deleted, NULL, err);
    if (rc == KILN_OK && deleted)
        rc = kiln_err_set(err, KILN_ENOENT, "No active Experiment with id=%lld exists",
                          (long long)id);
    if (rc == KILN_OK)
        rc = exec_id(tx,
                     "UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? "
                     "WHERE experiment_id = ?",
                     NULL, now, id, err);
    if (rc == KILN_OK)
        rc = exec_id(tx,
                     "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? "
                     "WHERE experiment_id = ? AND lifecycle_stage = 'active'",
                     NULL, now, id, err);
    return end_tx(tx, rc, err);
}

int kiln_experiment_restore(struct kiln_store *store, int64_t id, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t deleted_at = 0;
    int deleted = 0, rc;

    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = experiment_state(tx, id, &deleted, &deleted_at, err);
    if (rc == KILN_OK && !deleted)
        rc = kiln_err_set(err, KILN_ENOENT,
                          "No deleted Experiment with id=%lld exists: it is already active",
                          (long long)id);
    /* Only the runs the experiment's deletion marked deleted come back. */
    if (rc == KILN_OK)
        rc = exec_id(tx,
                     "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL "
                     "WHERE deleted_time >= ? AND experiment_id = ? AND "
                     "lifecycle_stage = 'deleted'",
                     NULL, deleted_at, id, err);
    if (rc == KILN_OK)
        rc = exec_id(tx,
                     "UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? "
                     "WHERE experiment_id = ?",
                     NULL, kiln_now_ms(), id, err);
    return end_tx(tx, rc, err);
}

/* Begins a write transaction on an existing, active experiment. */
static int begin_active(struct kiln_store *store, int64_t id, struct kiln_tx **tx,
                        struct kiln_err *err)
{
    int deleted = 0;
    int rc = kiln_store_begin(store, KILN_TX_WRITE, tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = experiment_state(*tx, id, &deleted, NULL, err);
    if (rc == KILN_OK && deleted)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "The experiment %lld must be in the 'active' state. Current state is "
                          "deleted.",
                          (long long)id);
    if (rc != KILN_OK) {
        kiln_store_rollback(*tx);
        *tx = NULL;
    }
    return rc;
}

int kiln_experiment_set_tag(struct kiln_store *store, int64_t id, const char *key,
                            const char *value, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_kv tag;
    int rc = kiln_validate_key("Tag", "key", key, err);

    if (value == NULL)
        value = "";
    if (rc == KILN_OK && kiln_utf8_chars(value, strlen(value)) > KILN_EXPERIMENT_TAG_VALUE_MAX)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Tag value '%.40s...' had length %zu, which exceeded length limit of "
                          "%d (parameter 'value')",
                          value, kiln_utf8_chars(value, strlen(value)),
                          KILN_EXPERIMENT_TAG_VALUE_MAX);
    if (rc != KILN_OK)
        return rc;
    rc = begin_active(store, id, &tx, err);
    if (rc != KILN_OK)
        return rc;
    tag.key = key;
    tag.value = value;
    rc = insert_tags(tx, id, &tag, 1, err);
    return end_tx(tx, rc, err);
}

int kiln_experiment_delete_tag(struct kiln_store *store, int64_t id, const char *key,
                               struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc;

    if (key == NULL || *key == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'key'");
    rc = begin_active(store, id, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = exec_id(tx, "DELETE FROM experiment_tags WHERE key = ? AND experiment_id = ?", key, -1, id,
                 err);
    if (rc == KILN_OK && kiln_tx_changes(tx) == 0)
        rc = kiln_err_set(err, KILN_ENOENT, "No tag with name: %.64s in experiment with id %lld",
                          key, (long long)id);
    return end_tx(tx, rc, err);
}

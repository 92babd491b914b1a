/*
 * models.c - registered models: create, get, rename, update, delete, tags, latest versions per
 * stage (registry.h). MLflow's SQL store is the reference for rules and messages.
 *
 * Every call is one transaction. Writes that other parts of kiln follow (create, rename,
 * delete) append an event in the same transaction and publish it after the commit.
 */
#include <string.h>

#include "core/time.h"
#include "core/uri.h"
#include "registry/registry_int.h"

static int insert_tags(struct kiln_tx *tx, int64_t rm_id, const struct kiln_kv *tags, size_t n,
                       struct kiln_err *err)
{
    int rc = KILN_OK;
    for (size_t i = 0; i < n && rc == KILN_OK; i++)
        rc = reg_exec(tx, err,
                      "INSERT INTO registered_model_tags (rm_id, key, value) VALUES (?, ?, ?) "
                      "ON CONFLICT (rm_id, key) DO UPDATE SET value = excluded.value",
                      "itt", rm_id, tags[i].key, tags[i].value != NULL ? tags[i].value : "");
    return rc;
}

int kiln_rm_create(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const struct kiln_kv *tags, size_t ntags, const char *description,
                   const char *user, struct kiln_registered_model **out, struct kiln_err *err)
{
    struct kiln_tx *tx = NULL;
    struct kiln_stmt *st;
    struct reg_payload p;
    int64_t now = kiln_now_ms(), rm_id = 0, ev = 0;
    int rc;

    rc = reg_validate_name(name, "name", err);
    for (size_t i = 0; i < ntags && rc == KILN_OK; i++)
        rc = reg_validate_tag(tags[i].key, tags[i].value, err);
    if (rc == KILN_OK)
        rc = reg_validate_text(description, "description", REG_DESCRIPTION_MAX, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_prepare(tx, &st, err,
                     "INSERT INTO registered_models (name, creation_time, last_updated_time, "
                     "description) VALUES (?, ?, ?, ?) RETURNING rm_id",
                     "tiit", name, now, now, description);
    if (rc != KILN_OK)
        goto fail;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        rm_id = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    if (rc == KILN_EEXIST)
        rc = kiln_err_set(err, rc, "Registered Model (name=%s) already exists.", name);
    if (rc < 0)
        goto fail;
    rc = insert_tags(tx, rm_id, tags, ntags, err);
    if (rc != KILN_OK)
        goto fail;
    reg_payload_begin(&p, name, 0);
    rc = reg_event_append(tx, KILN_EV_MODEL_CREATED, name, 0, NULL, user, reg_payload_end(&p), &ev,
                          err);
    reg_payload_release(&p);
    if (rc == KILN_OK && out != NULL)
        rc = reg_load_model(tx, arena, rm_id, out, err);
    if (rc != KILN_OK)
        goto fail;
    return reg_commit(reg, tx, ev, err);
fail:
    kiln_store_rollback(tx);
    return rc;
}

int kiln_rm_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                struct kiln_registered_model **out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = reg_validate_name(name, "name", err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_load_model(tx, arena, rm_id, out, err);
    kiln_store_rollback(tx);
    return rc;
}

int kiln_rm_rename(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const char *new_name, struct kiln_registered_model **out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct reg_payload p;
    int64_t rm_id, now = kiln_now_ms(), ev = 0;
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = reg_validate_name(new_name, "new_name", err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK) {
        rc = reg_exec(
            tx, err, "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE rm_id = ?",
            "tii", new_name, now, rm_id);
        if (rc == KILN_EEXIST)
            rc = kiln_err_set(err, rc, "Registered Model (name=%s) already exists.", new_name);
    }
    if (rc == KILN_OK)
        rc = reg_exec(tx, err, "UPDATE model_versions SET last_updated_time = ? WHERE rm_id = ?",
                      "ii", now, rm_id);
    if (rc == KILN_OK && strcmp(name, new_name) != 0) {
        reg_payload_begin(&p, new_name, 0);
        kiln_jsonw_kv_str(&p.w, "previous_name", name);
        rc = reg_event_append(tx, KILN_EV_MODEL_RENAMED, new_name, 0, NULL, NULL,
                              reg_payload_end(&p), &ev, err);
        reg_payload_release(&p);
    }
    if (rc == KILN_OK && out != NULL)
        rc = reg_load_model(tx, arena, rm_id, out, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

int kiln_rm_update(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const char *description, struct kiln_registered_model **out,
                   struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = reg_validate_text(description, "description", REG_DESCRIPTION_MAX, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err,
                      "UPDATE registered_models SET description = ?, last_updated_time = ? "
                      "WHERE rm_id = ?",
                      "tii", description, kiln_now_ms(), rm_id);
    if (rc == KILN_OK && out != NULL)
        rc = reg_load_model(tx, arena, rm_id, out, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_rm_delete(struct kiln_registry *reg, const char *name, const char *user,
                   struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct reg_payload p;
    int64_t rm_id, ev = 0;
    int rc = reg_validate_name(name, "name", err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK) {
        reg_payload_begin(&p, name, 0);
        rc = reg_event_append(tx, KILN_EV_MODEL_DELETED, name, 0, NULL, user, reg_payload_end(&p),
                              &ev, err);
        reg_payload_release(&p);
    }
    if (rc == KILN_OK)
        rc = reg_exec(tx, err, "DELETE FROM registered_models WHERE rm_id = ?", "i", rm_id);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

int kiln_rm_set_tag(struct kiln_registry *reg, const char *name, const char *key, const char *value,
                    struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    struct kiln_kv kv = { key, value != NULL ? value : "" };
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = reg_validate_tag(key, value, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = insert_tags(tx, rm_id, &kv, 1, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_rm_delete_tag(struct kiln_registry *reg, const char *name, const char *key,
                       struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = reg_validate_tag_key(key, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err, "DELETE FROM registered_model_tags WHERE rm_id = ? AND key = ?",
                      "it", rm_id, key);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_rm_latest_versions(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                            const char *const *stages, size_t nstages,
                            struct kiln_model_version **out, size_t *n, struct kiln_err *err)
{
    const char *wanted[4] = { KILN_STAGE_NONE, KILN_STAGE_STAGING, KILN_STAGE_PRODUCTION,
                              KILN_STAGE_ARCHIVED };
    int want[4] = { 1, 1, 1, 1 };
    struct kiln_registered_model *m;
    struct kiln_model_version *res;
    struct kiln_tx *tx;
    int64_t rm_id;
    size_t k = 0;
    int rc = reg_validate_name(name, "name", err);

    if (rc != KILN_OK)
        return rc;
    if (nstages > 0) {
        memset(want, 0, sizeof(want));
        for (size_t i = 0; i < nstages; i++) {
            const char *c = kiln_stage_canonical(stages[i] != NULL ? stages[i] : "");
            if (c == NULL)
                return kiln_err_set(err, KILN_EINVAL,
                                    "Invalid Model Version stage: %s. Value must be one of None, "
                                    "Staging, Production, Archived.",
                                    stages[i] != NULL ? stages[i] : "");
            for (size_t s = 0; s < 4; s++)
                if (strcmp(c, wanted[s]) == 0)
                    want[s] = 1;
        }
    }
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_load_model(tx, arena, rm_id, &m, err);
    res =
        rc == KILN_OK && m->nlatest > 0 ? kiln_arena_calloc(arena, m->nlatest, sizeof(*res)) : NULL;
    if (rc == KILN_OK && m->nlatest > 0 && res == NULL)
        rc = reg_oom(err);
    for (size_t i = 0; rc == KILN_OK && i < m->nlatest; i++) {
        int keep = 0;
        for (size_t s = 0; s < 4; s++)
            if (want[s] && strcmp(m->latest[i].current_stage, wanted[s]) == 0)
                keep = 1;
        if (!keep)
            continue;
        res[k] = m->latest[i];
        rc = reg_load_version_aliases(tx, arena, rm_id, &res[k], err);
        k++;
    }
    kiln_store_rollback(tx);
    if (rc == KILN_OK) {
        *out = res;
        *n = k;
    }
    return rc;
}

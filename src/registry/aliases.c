/*
 * aliases.c - aliases through MLflow's API: set, delete, get-by-alias (registry.h), plus the
 * governed-environment check shared with promotion.
 *
 * Every alias move is recorded in alias_history and announced as an event, in the transaction
 * that moves it. An environment alias of a model that has a promotion policy is governed: only
 * kiln_promote (gated) and kiln_rollback may move it, so MLflow's set/delete refuse it.
 */
#include <string.h>

#include "core/str.h"
#include "registry/registry_int.h"

int reg_alias_is_governed(struct kiln_tx *tx, int64_t rm_id, const char *alias, int *governed,
                          struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = reg_prepare(tx, &st, err, "SELECT environments FROM model_policies WHERE rm_id = ?",
                         "i", rm_id);
    *governed = 0;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        const char *envs = kiln_stmt_text(st, 0);
        size_t n = strlen(alias);
        for (const char *p = envs; p != NULL && *p != '\0';) {
            const char *comma = strchr(p, ',');
            size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
            if (len == n && strncmp(p, alias, n) == 0)
                *governed = 1;
            p = comma != NULL ? comma + 1 : NULL;
        }
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int refuse_governed(const char *name, const char *alias, struct kiln_err *err)
{
    return kiln_err_set(err, KILN_EINVAL,
                        "alias '%s' of registered model '%s' is an environment governed by the "
                        "model's promotion policy: move it with 'kiln models promote' (gated) or "
                        "'kiln models rollback'",
                        alias, name);
}

static int move_event(struct kiln_tx *tx, const char *type, const char *name, const char *alias,
                      const char *action, int64_t from, int64_t to, const char *user, int64_t *ev,
                      struct kiln_err *err)
{
    struct reg_payload p;
    int rc;
    reg_payload_begin(&p, name, 0);
    kiln_jsonw_kv_str(&p.w, "alias", alias);
    kiln_jsonw_kv_str(&p.w, "action", action);
    reg_payload_version(&p, "from_version", from);
    reg_payload_version(&p, "to_version", to);
    rc = reg_event_append(tx, type, name, to != 0 ? to : from, alias, user, reg_payload_end(&p), ev,
                          err);
    reg_payload_release(&p);
    return rc;
}

int kiln_alias_set(struct kiln_registry *reg, const char *name, const char *alias, int64_t version,
                   const char *user, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id, cur = 0, ev = 0;
    int governed = 0;
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = kiln_registry_validate_alias(alias, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "Model Version (name=%s, version=%lld) not found", name,
                          (long long)version);
    if (rc == KILN_OK)
        rc = reg_version_exists(tx, rm_id, name, version, err);
    if (rc == KILN_OK)
        rc = reg_alias_is_governed(tx, rm_id, alias, &governed, err);
    if (rc == KILN_OK && governed)
        rc = refuse_governed(name, alias, err);
    if (rc == KILN_OK)
        rc = reg_alias_version(tx, rm_id, alias, &cur, err);
    if (rc == KILN_OK && cur != version) {
        rc = reg_exec(tx, err,
                      "INSERT INTO model_aliases (rm_id, alias, version) VALUES (?, ?, ?) "
                      "ON CONFLICT (rm_id, alias) DO UPDATE SET version = excluded.version",
                      "iti", rm_id, alias, version);
        if (rc == KILN_OK)
            rc = reg_history_append(tx, rm_id, user, alias, "set", cur, version, NULL, NULL, NULL,
                                    err);
        if (rc == KILN_OK)
            rc = move_event(tx, KILN_EV_ALIAS_MOVED, name, alias, "set", cur, version, user, &ev,
                            err);
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

int kiln_alias_delete(struct kiln_registry *reg, const char *name, const char *alias,
                      const char *user, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id, cur = 0, ev = 0;
    int governed = 0;
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = kiln_registry_validate_alias(alias, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_alias_version(tx, rm_id, alias, &cur, err);
    if (rc == KILN_OK && cur != 0)
        rc = reg_alias_is_governed(tx, rm_id, alias, &governed, err);
    if (rc == KILN_OK && governed)
        rc = refuse_governed(name, alias, err);
    if (rc == KILN_OK && cur != 0) {
        rc = reg_exec(tx, err, "DELETE FROM model_aliases WHERE rm_id = ? AND alias = ?", "it",
                      rm_id, alias);
        if (rc == KILN_OK)
            rc =
                reg_history_append(tx, rm_id, user, alias, "delete", cur, 0, NULL, NULL, NULL, err);
        if (rc == KILN_OK)
            rc = move_event(tx, KILN_EV_ALIAS_DELETED, name, alias, "delete", cur, 0, user, &ev,
                            err);
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

int kiln_alias_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const char *alias, struct kiln_model_version **out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id = 0, version = 0;
    int found = 0, latest = alias != NULL && kiln_cstr_ieq(alias, "latest");
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK && !latest)
        rc = kiln_registry_validate_alias(alias, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    if (latest) {
        rc = reg_model_id(tx, name, &rm_id, err);
        if (rc == KILN_OK)
            rc = reg_query_int64(tx, err, &version, &found,
                                 "SELECT MAX(version) FROM model_versions WHERE rm_id = ? AND "
                                 "deleted = 0",
                                 "i", rm_id);
        if (rc == KILN_OK && version == 0)
            rc = kiln_err_set(err, KILN_ENOENT, "No versions of model with name '%s' found", name);
    } else {
        /* MLflow answers an unknown alias, also of an unknown model, with INVALID_PARAMETER. */
        rc = reg_query_int64(tx, err, &version, &found,
                             "SELECT a.version, a.rm_id FROM model_aliases a JOIN "
                             "registered_models m ON m.rm_id = a.rm_id WHERE m.name = ? AND "
                             "a.alias = ?",
                             "tt", name, alias);
        if (rc == KILN_OK && !found)
            rc = kiln_err_set(err, KILN_EINVAL, "Registered model alias %s not found.", alias);
        if (rc == KILN_OK)
            rc = reg_model_id(tx, name, &rm_id, err);
    }
    if (rc == KILN_OK)
        rc = reg_load_version(tx, arena, rm_id, name, version, out, err);
    kiln_store_rollback(tx);
    return rc;
}

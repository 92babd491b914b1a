/*
 * promote.c - gated promotion, rollback and the alias history (registry.h).
 *
 * Promotion is two transactions: a read transaction evaluates the gates against a snapshot
 * (the candidate, its evaluations, the version now in the environment), then a write
 * transaction compares-and-swaps the environment alias: it moves only if the alias still
 * holds the version the gates were judged against (or the caller's `expected`). Writers are
 * serialised by the store, so of two concurrent promotions into one environment exactly one
 * moves the alias and the other gets KILN_ECONFLICT and changes nothing. Rollback has no gates
 * and is one write transaction. Both record the move (alias_history) and an event in the same
 * transaction as the move itself.
 *
 *   environment state:  empty --promote--> vN --promote--> vM --rollback--> vN
 *                        (a refused promotion records "refused" and leaves the state as is)
 */
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "registry/registry_int.h"

static const struct kiln_env_policy *find_env(const struct kiln_policy *pol, const char *env)
{
    for (size_t i = 0; i < pol->nenvs; i++)
        if (strcmp(pol->envs[i].name, env) == 0)
            return &pol->envs[i];
    return NULL;
}

static int unknown_env(const struct kiln_policy *pol, const char *name, const char *env,
                       struct kiln_err *err)
{
    char list[512];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < pol->nenvs && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? ", " : "",
                              pol->envs[i].name);
    return kiln_err_set(err, KILN_EINVAL,
                        "'%s' is not an environment of registered model '%s' (environments: %s)",
                        env, name, list);
}

static const char *report_json(struct kiln_arena *arena, const struct kiln_gate_report *r)
{
    struct kiln_buf b;
    struct kiln_jsonw w;
    const char *out = NULL;
    kiln_buf_init(&b, (size_t)4 << 20);
    kiln_jsonw_init(&w, &b);
    kiln_gate_report_write(&w, r);
    if (kiln_jsonw_finish(&w) == KILN_OK)
        out = kiln_arena_strndup(arena, b.buf, b.len);
    kiln_buf_release(&b);
    return out;
}

static int validate_common(const char *name, const char *env, const char *reason,
                           struct kiln_err *err)
{
    int rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK && (env == NULL || *env == '\0'))
        rc = kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'environment'.");
    if (rc == KILN_OK)
        rc = kiln_registry_validate_alias(env, err);
    if (rc == KILN_OK)
        rc = reg_validate_text(reason, "reason", REG_REASON_MAX, err);
    return rc;
}

/* Phase 1: policy, environment, current version and the gate report, from one snapshot. */
static int judge(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                 int64_t version, const char *env, struct kiln_promotion *out, struct kiln_err *err)
{
    struct kiln_policy *pol;
    const struct kiln_env_policy *e;
    const char *yaml;
    struct kiln_tx *tx;
    int64_t rm_id, current = 0;
    int rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_model_policy(tx, arena, rm_id, &pol, &yaml, err);
    if (rc == KILN_OK && (e = find_env(pol, env)) == NULL)
        rc = unknown_env(pol, name, env, err);
    if (rc == KILN_OK)
        rc = reg_version_exists(tx, rm_id, name, version, err);
    if (rc == KILN_OK)
        rc = reg_alias_version(tx, rm_id, env, &current, err);
    if (rc == KILN_OK)
        rc =
            reg_gates_evaluate(tx, arena, rm_id, name, version, pol, e, current, &out->report, err);
    kiln_store_rollback(tx);
    if (rc == KILN_OK) {
        out->from_version = current;
        out->to_version = version;
        out->report_json = report_json(arena, &out->report);
        if (out->report_json == NULL)
            rc = reg_oom(err);
    }
    return rc;
}

static int conflict(const char *name, const char *env, int64_t expected, int64_t now,
                    struct kiln_err *err)
{
    char a[24], b[24];
    snprintf(a, sizeof(a), expected > 0 ? "version %lld" : "no version", (long long)expected);
    snprintf(b, sizeof(b), now > 0 ? "version %lld" : "no version", (long long)now);
    return kiln_err_set(err, KILN_ECONFLICT,
                        "environment '%s' of registered model '%s' holds %s, not %s as expected: "
                        "another change moved it meanwhile; nothing was changed (re-run to judge "
                        "against the current state)",
                        env, name, b, a);
}

static int record_event(struct kiln_tx *tx, const char *type, const char *name, const char *env,
                        const char *action, int64_t from, int64_t to, const char *reason,
                        const char *report, const char *user, int64_t *ev, struct kiln_err *err)
{
    struct reg_payload p;
    int rc;
    reg_payload_begin(&p, name, 0);
    kiln_jsonw_kv_str(&p.w, "alias", env);
    kiln_jsonw_kv_str(&p.w, "environment", env);
    kiln_jsonw_kv_str(&p.w, "action", action);
    reg_payload_version(&p, "from_version", from);
    reg_payload_version(&p, "to_version", to);
    kiln_jsonw_kv_str(&p.w, "reason", reason != NULL ? reason : "");
    if (report != NULL) {
        kiln_jsonw_key(&p.w, "report");
        kiln_jsonw_raw(&p.w, report, strlen(report));
    }
    rc = reg_event_append(tx, type, name, to, env, user, reg_payload_end(&p), ev, err);
    reg_payload_release(&p);
    return rc;
}

static int refusal_message(const struct kiln_promotion *out, const char *name, const char *env,
                           struct kiln_err *err)
{
    char first[160] = "";
    size_t failed = 0;
    for (size_t i = 0; i < out->report.ngates; i++) {
        const struct kiln_gate_outcome *o = &out->report.gates[i];
        if (o->passed)
            continue;
        if (failed++ == 0)
            snprintf(first, sizeof(first), "%s %s: %s", o->gate, o->subject,
                     o->detail != NULL ? o->detail : "failed");
    }
    return kiln_err_set(err, KILN_ECHECK,
                        "promotion of '%s' version %lld to '%s' refused: %zu of %zu gates failed "
                        "(%s)",
                        name, (long long)out->to_version, env, failed, out->report.ngates, first);
}

int kiln_promote(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                 int64_t version, const char *env, const char *reason, const char *user,
                 int64_t expected, struct kiln_promotion *out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id, now = 0, want;
    int rc = validate_common(name, env, reason, err);

    memset(out, 0, sizeof(*out));
    if (rc != KILN_OK)
        return rc;
    rc = judge(reg, arena, name, version, env, out, err);
    if (rc != KILN_OK)
        return rc;
    want = expected >= 0 ? expected : out->from_version;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_alias_version(tx, rm_id, env, &now, err);
    if (rc == KILN_OK && now != want)
        rc = conflict(name, env, want, now, err);
    if (rc == KILN_OK)
        rc = reg_version_exists(tx, rm_id, name, version, err);
    if (rc == KILN_OK && now == version) {
        /* Already there: nothing moves and nothing is recorded. */
        kiln_store_rollback(tx);
        out->from_version = now;
        return KILN_OK;
    }
    if (rc == KILN_OK && out->report.passed) {
        rc = reg_exec(tx, err,
                      "INSERT INTO model_aliases (rm_id, alias, version) VALUES (?, ?, ?) "
                      "ON CONFLICT (rm_id, alias) DO UPDATE SET version = excluded.version",
                      "iti", rm_id, env, version);
        if (rc == KILN_OK)
            rc = reg_history_append(tx, rm_id, user, env, "promote", now, version, reason,
                                    out->report_json, &out->move_id, err);
        if (rc == KILN_OK)
            rc = record_event(tx, KILN_EV_ALIAS_MOVED, name, env, "promote", now, version, reason,
                              out->report_json, user, &out->event_id, err);
        if (rc == KILN_OK)
            rc = reg_touch(tx, rm_id, kiln_now_ms(), err);
    } else if (rc == KILN_OK) {
        rc = reg_history_append(tx, rm_id, user, env, "refused", now, version, reason,
                                out->report_json, &out->move_id, err);
        if (rc == KILN_OK)
            rc = record_event(tx, KILN_EV_PROMOTION_REFUSED, name, env, "refused", now, version,
                              reason, out->report_json, user, &out->event_id, err);
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = reg_commit(reg, tx, out->event_id, err);
    if (rc != KILN_OK)
        return rc;
    if (!out->report.passed)
        return refusal_message(out, name, env, err);
    out->moved = 1;
    return KILN_OK;
}

/* The version `env` held before the promotion (or set) that installed `cur`. */
static int previous_version(struct kiln_tx *tx, int64_t rm_id, const char *name, const char *env,
                            int64_t cur, int64_t *target, struct kiln_err *err)
{
    int found, rc;
    *target = 0;
    if (cur == 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "no version is in '%s' of registered model '%s': nothing to roll "
                            "back (give a version to roll back to)",
                            env, name);
    rc = reg_query_int64(tx, err, target, &found,
                         "SELECT from_version FROM alias_history WHERE rm_id = ? AND alias = ? AND "
                         "to_version = ? AND action IN ('promote', 'set') "
                         "ORDER BY move_id DESC LIMIT 1",
                         "iti", rm_id, env, cur);
    if (rc == KILN_OK && *target == 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "'%s' of registered model '%s' held no version before version %lld: "
                          "nothing to roll back to (give a version to roll back to)",
                          env, name, (long long)cur);
    if (rc == KILN_OK && (rc = reg_version_exists(tx, rm_id, name, *target, err)) == KILN_ENOENT)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "version %lld, which '%s' held before version %lld, has been deleted "
                          "(give a version to roll back to)",
                          (long long)*target, env, (long long)cur);
    return rc;
}

int kiln_rollback(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                  const char *env, int64_t to_version, const char *reason, const char *user,
                  int64_t expected, struct kiln_promotion *out, struct kiln_err *err)
{
    struct kiln_policy *pol;
    const char *yaml;
    struct kiln_tx *tx;
    int64_t rm_id, cur = 0, target = to_version;
    int rc = validate_common(name, env, reason, err);

    memset(out, 0, sizeof(*out));
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_model_policy(tx, arena, rm_id, &pol, &yaml, err);
    if (rc == KILN_OK && find_env(pol, env) == NULL)
        rc = unknown_env(pol, name, env, err);
    if (rc == KILN_OK)
        rc = reg_alias_version(tx, rm_id, env, &cur, err);
    if (rc == KILN_OK && expected >= 0 && cur != expected)
        rc = conflict(name, env, expected, cur, err);
    if (rc == KILN_OK && to_version > 0)
        rc = reg_version_exists(tx, rm_id, name, to_version, err);
    else if (rc == KILN_OK)
        rc = previous_version(tx, rm_id, name, env, cur, &target, err);
    if (rc == KILN_OK && target == cur)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "'%s' of registered model '%s' already holds version "
                          "%lld",
                          env, name, (long long)cur);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err,
                      "INSERT INTO model_aliases (rm_id, alias, version) VALUES (?, ?, ?) "
                      "ON CONFLICT (rm_id, alias) DO UPDATE SET version = excluded.version",
                      "iti", rm_id, env, target);
    if (rc == KILN_OK)
        rc = reg_history_append(tx, rm_id, user, env, "rollback", cur, target, reason, NULL,
                                &out->move_id, err);
    if (rc == KILN_OK)
        rc = record_event(tx, KILN_EV_ROLLBACK, name, env, "rollback", cur, target, reason, NULL,
                          user, &out->event_id, err);
    if (rc == KILN_OK)
        rc = reg_touch(tx, rm_id, kiln_now_ms(), err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = reg_commit(reg, tx, out->event_id, err);
    if (rc == KILN_OK) {
        out->moved = 1;
        out->from_version = cur;
        out->to_version = target;
        out->report.model = name;
        out->report.env = env;
        out->report.version = target;
        out->report.current_version = cur;
        out->report.passed = 1;
    }
    return rc;
}

int kiln_history(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                 const char *alias, int64_t limit, struct kiln_alias_move **out, size_t *n,
                 struct kiln_err *err)
{
    struct kiln_alias_move *list = NULL;
    struct kiln_stmt *st;
    struct kiln_tx *tx;
    int64_t rm_id;
    size_t count = 0;
    int oom = 0, rc = reg_validate_name(name, "name", err);

    if (rc != KILN_OK)
        return rc;
    if (limit <= 0 || limit > 100000)
        limit = 1000;
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK && (list = kiln_arena_calloc(arena, (size_t)limit, sizeof(*list))) == NULL)
        rc = reg_oom(err);
    if (rc == KILN_OK)
        rc = reg_prepare(tx, &st, err,
                         "SELECT move_id, time, user_id, alias, action, from_version, to_version, "
                         "reason, report FROM alias_history WHERE rm_id = ? AND (? IS NULL OR "
                         "alias = ?) ORDER BY move_id DESC LIMIT ?",
                         "itti", rm_id, alias, alias, limit);
    if (rc == KILN_OK) {
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW && (int64_t)count < limit) {
            struct kiln_alias_move *m = &list[count++];
            m->id = kiln_stmt_int64(st, 0);
            m->time = kiln_stmt_int64(st, 1);
            m->user_id = reg_col_text(st, 2, arena, &oom);
            m->alias = reg_col_text(st, 3, arena, &oom);
            m->action = reg_col_text(st, 4, arena, &oom);
            m->from_version = kiln_stmt_is_null(st, 5) ? 0 : kiln_stmt_int64(st, 5);
            m->to_version = kiln_stmt_is_null(st, 6) ? 0 : kiln_stmt_int64(st, 6);
            m->reason = reg_col_text(st, 7, arena, &oom);
            m->report_json = reg_col_text(st, 8, arena, &oom);
            if (oom)
                break;
        }
        kiln_stmt_finish(st);
        if (oom)
            rc = reg_oom(err);
    }
    kiln_store_rollback(tx);
    if (rc < 0)
        return rc;
    *out = list;
    *n = count;
    return KILN_OK;
}

/*
 * dstore.c - persistence of deployments, rollouts and analyses (schema in
 * src/store/migrations/deploy.c).
 *
 * Loading at start rebuilds every deployment from its stored spec, its last plan (same
 * generation, so replicas see no change) and its unfinished rollout with the checkpointed
 * statistics. Writes are small statements through kiln_store_write (group commit). The caller
 * holds `mu` whenever a deployment is passed.
 */
#include <stdarg.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "deploy/deploy_int.h"

/* 'I': an optional time, 0 binds NULL. */
static void bind_time(struct kiln_stmt *st, int idx, int64_t v)
{
    if (v == 0)
        kiln_stmt_bind_null(st, idx);
    else
        kiln_stmt_bind_int64(st, idx, v);
}

int dp_prepare(struct kiln_tx *tx, struct kiln_stmt **st, struct kiln_err *err, const char *sql,
               const char *types, ...)
{
    va_list ap;
    int rc = kiln_tx_prepare(tx, sql, st, err);
    if (rc != KILN_OK)
        return rc;
    va_start(ap, types);
    for (int i = 0; types[i] != '\0'; i++) {
        if (types[i] == 'i')
            kiln_stmt_bind_int64(*st, i + 1, va_arg(ap, int64_t));
        else if (types[i] == 'I')
            bind_time(*st, i + 1, va_arg(ap, int64_t));
        else if (types[i] == 'd')
            kiln_stmt_bind_double(*st, i + 1, va_arg(ap, double));
        else
            kiln_stmt_bind_text(*st, i + 1, va_arg(ap, const char *));
    }
    va_end(ap);
    return KILN_OK;
}

int dp_exec(struct kiln_tx *tx, struct kiln_err *err, const char *sql, const char *types, ...)
{
    struct kiln_stmt *st;
    va_list ap;
    int rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        return rc;
    va_start(ap, types);
    for (int i = 0; types[i] != '\0'; i++) {
        if (types[i] == 'i')
            kiln_stmt_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else if (types[i] == 'I')
            bind_time(st, i + 1, va_arg(ap, int64_t));
        else if (types[i] == 'd')
            kiln_stmt_bind_double(st, i + 1, va_arg(ap, double));
        else
            kiln_stmt_bind_text(st, i + 1, va_arg(ap, const char *));
    }
    va_end(ap);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* ---- statistics checkpoint ------------------------------------------------------------------ */

int dp_stats_json(const struct dp_rollout *ro, struct kiln_buf *out)
{
    struct kiln_jsonw w;
    kiln_jsonw_init(&w, out);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "step_stable");
    kiln_deploy_vstats_write(&w, &ro->step_stable);
    kiln_jsonw_key(&w, "step_candidate");
    kiln_deploy_vstats_write(&w, &ro->step_cand);
    kiln_jsonw_key(&w, "total_stable");
    kiln_deploy_vstats_write(&w, &ro->total_stable);
    kiln_jsonw_key(&w, "total_candidate");
    kiln_deploy_vstats_write(&w, &ro->total_cand);
    kiln_jsonw_obj_end(&w);
    return kiln_jsonw_finish(&w);
}

static int read_stats(struct dp_rollout *ro, const char *text, struct kiln_err *err)
{
    static const char *const keys[4] = { "step_stable", "step_candidate", "total_stable",
                                         "total_candidate" };
    struct kiln_deploy_vstats *dst[4] = { &ro->step_stable, &ro->step_cand, &ro->total_stable,
                                          &ro->total_cand };
    json_t *doc = NULL;
    int rc;
    if (text == NULL)
        return KILN_OK;
    rc = kiln_json_parse_object(text, strlen(text), 0, &doc, err);
    for (int i = 0; rc == KILN_OK && i < 4; i++) {
        const json_t *v = json_object_get(doc, keys[i]);
        struct kiln_deploy_vstats tmp;
        if (v == NULL)
            continue;
        rc = kiln_deploy_vstats_read(v, keys[i], &tmp, err);
        if (rc == KILN_OK) {
            int64_t version = dst[i]->version;
            kiln_deploy_vstats_release(dst[i]);
            *dst[i] = tmp;
            dst[i]->version = version;
        } else {
            kiln_deploy_vstats_release(&tmp);
        }
    }
    json_decref(doc);
    return rc;
}

/* ---- loading -------------------------------------------------------------------------------- */

static void plan_fields(struct dp_dep *dep)
{
    json_t *doc = NULL;
    const json_t *c;
    if (dep->plan_json == NULL ||
        kiln_json_parse_object(dep->plan_json, strlen(dep->plan_json), 0, &doc, NULL) != KILN_OK)
        return;
    dep->plan_stable =
        json_integer_value(json_object_get(json_object_get(doc, "stable"), "version"));
    c = json_object_get(doc, "candidate");
    dep->plan_candidate = json_integer_value(json_object_get(c, "version"));
    dep->plan_weight = json_number_value(json_object_get(c, "weight"));
    dep->plan_shadow = json_is_true(json_object_get(c, "shadow"));
    dep->env_stable = dep->plan_stable;
    json_decref(doc);
}

static int load_rollout(struct kiln_deploy *d, struct dp_dep *dep, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    struct dp_rollout *ro = NULL;
    int rc = kiln_store_begin(d->cfg.store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = dp_prepare(tx, &st, err,
                    "SELECT rollout_id, stable_version, candidate_version, step, step_start_time, "
                    "failed_checks, start_time, stats, last_analysis FROM deploy_rollouts WHERE "
                    "deployment = ? AND state = 'progressing' ORDER BY rollout_id DESC LIMIT 1",
                    "t", dep->name);
    if (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        const char *stats = kiln_stmt_text(st, 7), *last = kiln_stmt_text(st, 8);
        ro = kiln_calloc(1, sizeof(*ro));
        if (ro == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        } else {
            ro->id = kiln_stmt_int64(st, 0);
            ro->stable = kiln_stmt_int64(st, 1);
            ro->candidate = kiln_stmt_int64(st, 2);
            ro->step = (size_t)kiln_stmt_int64(st, 3);
            ro->step_start_ms = kiln_stmt_int64(st, 4);
            ro->failed_checks = (int)kiln_stmt_int64(st, 5);
            ro->start_ms = kiln_stmt_int64(st, 6);
            kiln_deploy_vstats_init(&ro->step_stable, ro->stable);
            kiln_deploy_vstats_init(&ro->step_cand, ro->candidate);
            kiln_deploy_vstats_init(&ro->total_stable, ro->stable);
            kiln_deploy_vstats_init(&ro->total_cand, ro->candidate);
            if (ro->step >= dep->spec->nsteps)
                ro->step = dep->spec->nsteps - 1;
            if (last != NULL && (ro->last_analysis = kiln_strdup(last)) == NULL)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            if (rc >= 0 && read_stats(ro, stats, err) != KILN_OK) {
                /* A damaged checkpoint loses the statistics, not the rollout. */
                kiln_log_warn("deployment %s: rollout %lld: statistics not restored: %s", dep->name,
                              (long long)ro->id, err != NULL ? err->msg : "");
                kiln_err_clear(err);
            }
            ro->last_check_ms = kiln_now_ms();
        }
    }
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    if (rc < 0) {
        dp_rollout_free(ro);
        return rc;
    }
    dep->ro = ro;
    if (ro != NULL)
        kiln_log_info("deployment %s: resuming rollout %lld of v%lld (step %zu of %zu)", dep->name,
                      (long long)ro->id, (long long)ro->candidate, ro->step + 1, dep->spec->nsteps);
    return KILN_OK;
}

static int load_one(struct kiln_deploy *d, struct kiln_stmt *st, struct kiln_err *err)
{
    const char *name = kiln_stmt_text(st, 0), *spec = kiln_stmt_text(st, 2);
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_deploy_spec *s;
    struct kiln_err perr = { 0 };
    struct dp_dep *dep;
    int rc;
    if (arena == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_deploy_spec_parse(spec, strlen(spec), name, arena, &s, &perr);
    if (rc != KILN_OK) {
        kiln_arena_free(arena);
        if (rc == KILN_ENOMEM)
            return kiln_err_set(err, rc, "out of memory");
        kiln_log_error("deployment %s: stored spec no longer valid, skipped: %s", name, perr.msg);
        return KILN_OK;
    }
    if (dp_dep_new(arena, s, &dep) != KILN_OK) {
        kiln_arena_free(arena);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    dep->generation = kiln_stmt_int64(st, 3);
    dep->plan_json = kiln_strdup(kiln_stmt_text(st, 4));
    dep->ended_candidate = kiln_stmt_int64(st, 5);
    dep->ended_move_id = kiln_stmt_int64(st, 6);
    dep->created_ms = kiln_stmt_int64(st, 7);
    dep->updated_ms = kiln_stmt_int64(st, 8);
    if (dep->plan_json == NULL) {
        dp_dep_free(dep);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    plan_fields(dep);
    dep->next = d->deps;
    d->deps = dep;
    return KILN_OK;
}

int dp_store_load(struct kiln_deploy *d, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(d->cfg.store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = dp_prepare(tx, &st, err,
                    "SELECT name, model, spec, generation, plan, ended_candidate, ended_move_id, "
                    "created_time, updated_time FROM deployments ORDER BY name DESC",
                    "");
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW)
        rc = load_one(d, st, err);
    if (rc == KILN_STMT_DONE)
        rc = KILN_OK;
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    for (struct dp_dep *dep = d->deps; rc == KILN_OK && dep != NULL; dep = dep->next) {
        rc = load_rollout(d, dep, err);
        if (rc == KILN_OK)
            rc = dp_alerts_load(d, dep, err);
    }
    return rc;
}

/* ---- writes -----------------------------------------------------------------------------------
 */

struct put_ctx {
    const struct dp_dep *dep;
    int created;
};

static int put_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    struct put_ctx *p = arg;
    const struct dp_dep *dep = p->dep;
    int64_t now = kiln_now_ms();
    if (p->created)
        return dp_exec(tx, err,
                       "INSERT INTO deployments (name, model, spec, generation, plan, "
                       "ended_candidate, ended_move_id, created_time, updated_time) VALUES (?, ?, "
                       "?, ?, ?, ?, ?, ?, ?)",
                       "tttitiiii", dep->name, dep->spec->model, dep->spec->text, dep->generation,
                       dep->plan_json != NULL ? dep->plan_json : "{}", dep->ended_candidate,
                       dep->ended_move_id, now, now);
    return dp_exec(tx, err,
                   "UPDATE deployments SET model = ?, spec = ?, updated_time = ? WHERE name = ?",
                   "ttit", dep->spec->model, dep->spec->text, now, dep->name);
}

int dp_store_put_deployment(struct kiln_deploy *d, const struct dp_dep *dep, int created,
                            struct kiln_err *err)
{
    struct put_ctx p = { dep, created };
    return kiln_store_write(d->cfg.store, put_work, &p, err);
}

static int delete_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    const char *name = arg;
    int rc = dp_exec(tx, err,
                     "DELETE FROM deploy_analyses WHERE rollout_id IN (SELECT rollout_id FROM "
                     "deploy_rollouts WHERE deployment = ?)",
                     "t", name);
    if (rc == KILN_OK)
        rc = dp_exec(tx, err, "DELETE FROM deploy_rollouts WHERE deployment = ?", "t", name);
    if (rc == KILN_OK)
        rc = dp_exec(tx, err, "DELETE FROM deploy_alerts WHERE deployment = ?", "t", name);
    if (rc == KILN_OK)
        rc = dp_exec(tx, err, "DELETE FROM deployments WHERE name = ?", "t", name);
    return rc;
}

int dp_store_delete_deployment(struct kiln_deploy *d, const char *name, struct kiln_err *err)
{
    return kiln_store_write(d->cfg.store, delete_work, (void *)(uintptr_t)name, err);
}

static int insert_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    struct dp_ro_ctx *p = arg;
    struct kiln_stmt *st;
    int rc = dp_prepare(tx, &st, err,
                        "INSERT INTO deploy_rollouts (deployment, model, stable_version, "
                        "candidate_version, state, step, step_start_time, failed_checks, "
                        "start_time) VALUES (?, ?, ?, ?, 'progressing', 0, ?, 0, ?) RETURNING "
                        "rollout_id",
                        "ttiiii", p->dep->name, p->dep->spec->model, p->ro->stable,
                        p->ro->candidate, p->ro->step_start_ms, p->ro->start_ms);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        p->ro->id = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int dp_store_insert_rollout(struct kiln_deploy *d, struct dp_dep *dep, struct dp_rollout *ro,
                            struct kiln_err *err)
{
    struct dp_ro_ctx p = { dep, ro };
    return kiln_store_write(d->cfg.store, insert_work, &p, err);
}

static int checkpoint_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    struct dp_ro_ctx *p = arg;
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, (size_t)64 << 20);
    rc = dp_stats_json(p->ro, &b);
    if (rc != KILN_OK) {
        kiln_buf_release(&b);
        return kiln_err_set(err, rc, "cannot write the statistics checkpoint");
    }
    rc = dp_exec(tx, err,
                 "UPDATE deploy_rollouts SET step = ?, step_start_time = ?, failed_checks = ?, "
                 "stats = ?, last_analysis = ? WHERE rollout_id = ?",
                 "iiitti", (int64_t)p->ro->step, p->ro->step_start_ms,
                 (int64_t)p->ro->failed_checks, b.buf, p->ro->last_analysis, p->ro->id);
    kiln_buf_release(&b);
    return rc;
}

int dp_store_checkpoint(struct kiln_deploy *d, const struct dp_dep *dep, struct kiln_err *err)
{
    struct dp_ro_ctx p = { dep, dep->ro };
    if (dep->ro == NULL)
        return KILN_OK;
    return kiln_store_write(d->cfg.store, checkpoint_work, &p, err);
}

/* Exposed for the controller: the checkpoint as extra work of a publish. */
int dp_checkpoint_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    return checkpoint_work(tx, arg, err);
}

struct analysis_ctx {
    const struct dp_rollout *ro;
    const char *verdict, *decision, *report;
};

static int analysis_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    struct analysis_ctx *p = arg;
    return dp_exec(
        tx, err,
        "INSERT INTO deploy_analyses (rollout_id, time, step, verdict, decision, report) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        "iiittt", p->ro->id, kiln_now_ms(), (int64_t)p->ro->step, p->verdict, p->decision,
        p->report);
}

int dp_store_analysis(struct kiln_deploy *d, const struct dp_rollout *ro, const char *verdict,
                      const char *decision, const char *report, struct kiln_err *err)
{
    struct analysis_ctx p = { ro, verdict, decision, report };
    return kiln_store_write(d->cfg.store, analysis_work, &p, err);
}

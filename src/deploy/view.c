/*
 * view.c - the JSON the REST API answers with: a deployment's status (plan, rollout, analysis,
 * replicas, alerts), the list, rollout history with analyses, and alerts
 * (docs/deployments.md, "REST API"). Status writers run with `mu` held; history and alert
 * readers only use the store.
 */
#include <math.h>
#include <string.h>

#include "core/time.h"
#include "deploy/deploy_int.h"

static void raw_or_null(struct kiln_jsonw *w, const char *key, const char *json)
{
    kiln_jsonw_key(w, key);
    if (json != NULL && json[0] != '\0')
        kiln_jsonw_raw(w, json, strlen(json));
    else
        kiln_jsonw_null(w);
}

static void int_or_null(struct kiln_jsonw *w, const char *key, struct kiln_stmt *st, int col)
{
    kiln_jsonw_key(w, key);
    if (kiln_stmt_is_null(st, col))
        kiln_jsonw_null(w);
    else
        kiln_jsonw_int(w, kiln_stmt_int64(st, col));
}

static void str_or_null(struct kiln_jsonw *w, const char *key, const char *s)
{
    kiln_jsonw_key(w, key);
    if (s != NULL)
        kiln_jsonw_str(w, s);
    else
        kiln_jsonw_null(w);
}

const char *dp_state(const struct dp_dep *dep)
{
    if (dep->ro != NULL)
        return "progressing";
    if (dep->env_error[0] != '\0' || dep->env_stable == 0)
        return "waiting";
    return "idle";
}

static void write_rollout(struct kiln_jsonw *w, const struct dp_dep *dep, int64_t now)
{
    const struct dp_rollout *ro = dep->ro;
    const struct kiln_deploy_step *st = &dep->spec->steps[ro->step];
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "id", ro->id);
    kiln_jsonw_kv_int(w, "stable_version", ro->stable);
    kiln_jsonw_kv_int(w, "candidate_version", ro->candidate);
    kiln_jsonw_kv_str(w, "state", "progressing");
    kiln_jsonw_kv_int(w, "step", (int64_t)ro->step + 1);
    kiln_jsonw_kv_int(w, "steps", (int64_t)dep->spec->nsteps);
    kiln_jsonw_kv_bool(w, "shadow", st->shadow);
    kiln_jsonw_kv_double(w, "weight", st->shadow ? 0 : st->weight);
    kiln_jsonw_kv_int(w, "start_time", ro->start_ms);
    kiln_jsonw_kv_int(w, "step_start_time", ro->step_start_ms);
    kiln_jsonw_kv_int(w, "step_elapsed_ms", now - ro->step_start_ms);
    kiln_jsonw_kv_int(w, "step_min_duration_ms", st->min_duration_ms);
    kiln_jsonw_kv_int(w, "step_requests", (int64_t)ro->step_cand.requests);
    kiln_jsonw_kv_int(w, "step_min_requests", st->min_requests);
    kiln_jsonw_kv_int(w, "stable_step_requests", (int64_t)ro->step_stable.requests);
    kiln_jsonw_kv_int(w, "failed_checks", ro->failed_checks);
    kiln_jsonw_kv_int(w, "failure_limit", dep->spec->failure_limit);
    kiln_jsonw_kv_str(w, "message", ro->message);
    raw_or_null(w, "last_analysis", ro->last_analysis);
    kiln_jsonw_obj_end(w);
}

/* The rollouts columns every reader selects. */
#define RO_COLS                                                                          \
    "rollout_id, stable_version, candidate_version, state, step, start_time, end_time, " \
    "reason, failed_check_time, traffic_off_time, alias_time, alias_error, user_id, "    \
    "failed_checks"

static void write_rollout_row(struct kiln_jsonw *w, struct kiln_stmt *st)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "id", kiln_stmt_int64(st, 0));
    kiln_jsonw_kv_int(w, "stable_version", kiln_stmt_int64(st, 1));
    kiln_jsonw_kv_int(w, "candidate_version", kiln_stmt_int64(st, 2));
    kiln_jsonw_kv_str(w, "state", kiln_stmt_text(st, 3));
    kiln_jsonw_kv_int(w, "step", kiln_stmt_int64(st, 4) + 1);
    kiln_jsonw_kv_int(w, "start_time", kiln_stmt_int64(st, 5));
    int_or_null(w, "end_time", st, 6);
    str_or_null(w, "reason", kiln_stmt_text(st, 7));
    int_or_null(w, "failed_check_time", st, 8);
    int_or_null(w, "traffic_off_time", st, 9);
    int_or_null(w, "alias_time", st, 10);
    str_or_null(w, "alias_error", kiln_stmt_text(st, 11));
    str_or_null(w, "user", kiln_stmt_text(st, 12));
    kiln_jsonw_kv_int(w, "failed_checks", kiln_stmt_int64(st, 13));
    kiln_jsonw_obj_end(w);
}

static void write_last_rollout(struct kiln_deploy *d, struct kiln_jsonw *w, const char *name)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int found = 0;
    kiln_jsonw_key(w, "last_rollout");
    if (kiln_store_begin(d->cfg.store, KILN_TX_READ, &tx, NULL) == KILN_OK) {
        if (dp_prepare(tx, &st, NULL,
                       "SELECT " RO_COLS " FROM deploy_rollouts WHERE deployment = ? AND state <> "
                       "'progressing' ORDER BY rollout_id DESC LIMIT 1",
                       "t", name) == KILN_OK) {
            if (kiln_stmt_step(st, NULL) == KILN_STMT_ROW) {
                write_rollout_row(w, st);
                found = 1;
            }
            kiln_stmt_finish(st);
        }
        kiln_store_rollback(tx);
    }
    if (!found)
        kiln_jsonw_null(w);
}

static void write_replicas(struct kiln_jsonw *w, const struct dp_dep *dep, int64_t now)
{
    int64_t stale = 3 * dep->spec->report_interval_ms + 1000;
    kiln_jsonw_key(w, "replicas");
    kiln_jsonw_arr_begin(w);
    for (const struct dp_replica *r = dep->replicas; r != NULL; r = r->next) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "name", r->name);
        kiln_jsonw_kv_int(w, "generation", r->generation);
        kiln_jsonw_kv_bool(w, "up_to_date", r->generation == dep->generation);
        kiln_jsonw_kv_bool(w, "reporting", now - r->last_ms <= stale);
        kiln_jsonw_kv_int(w, "last_report_time", r->last_ms);
        kiln_jsonw_kv_int(w, "reports", r->reports);
        kiln_jsonw_kv_int(w, "gaps", r->gaps);
        kiln_jsonw_kv_int(w, "last_gap_ms", r->last_gap_ms);
        kiln_jsonw_kv_int(w, "max_gap_ms", r->max_gap_ms);
        kiln_jsonw_kv_int(w, "gap_generation", r->gap_generation);
        kiln_jsonw_kv_int(w, "gap_reported_time", r->gap_reported_ms);
        kiln_jsonw_key(w, "drift");
        if (r->has_drift) {
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_int(w, "time", r->drift_ms);
            kiln_jsonw_kv_int(w, "version", r->drift_version);
            kiln_jsonw_kv_int(w, "rows", (int64_t)r->drift_rows);
            kiln_jsonw_kv_bool(w, "dataset_drift", r->drift_dataset);
            kiln_jsonw_key(w, "drift_share");
            kiln_jsonw_double_or_null(w, r->drift_share);
            kiln_jsonw_kv_str(w, "drifted_columns",
                              r->drift_columns != NULL ? r->drift_columns : "");
            kiln_jsonw_obj_end(w);
        } else {
            kiln_jsonw_null(w);
        }
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

static void write_alert_states(struct kiln_jsonw *w, const struct dp_dep *dep)
{
    kiln_jsonw_key(w, "alerts");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < dep->spec->nalerts; i++) {
        const struct kiln_alert_rule *a = &dep->spec->alerts[i];
        const struct dp_alert_state *s = &dep->alerts[i];
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "rule", a->name);
        kiln_jsonw_kv_str(w, "kind", kiln_alert_kind_name(a->kind));
        kiln_jsonw_kv_str(w, "severity", a->severity);
        kiln_jsonw_kv_str(w, "state", s->firing ? "firing" : s->pending ? "pending" : "ok");
        if (s->firing || s->pending) {
            kiln_jsonw_kv_int(w, "since", s->since_ms);
            kiln_jsonw_key(w, "value");
            kiln_jsonw_double_or_null(w, s->value);
        }
        if (s->firing) {
            kiln_jsonw_kv_int(w, "alert_id", s->alert_id);
            kiln_jsonw_kv_str(w, "summary", s->summary);
        }
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

static void env_obj(struct kiln_jsonw *w, const char *key, const char *env, int64_t v)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", env);
    kiln_jsonw_key(w, "version");
    if (v > 0)
        kiln_jsonw_int(w, v);
    else
        kiln_jsonw_null(w);
    kiln_jsonw_obj_end(w);
}

void dp_view_status(struct kiln_deploy *d, const struct dp_dep *dep, struct kiln_jsonw *w)
{
    int64_t now = kiln_now_ms();
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", dep->name);
    kiln_jsonw_kv_str(w, "model", dep->spec->model);
    kiln_jsonw_kv_str(w, "state", dp_state(dep));
    kiln_jsonw_key(w, "message");
    if (dep->env_error[0] != '\0')
        kiln_jsonw_str(w, dep->env_error);
    else if (dep->ro != NULL)
        kiln_jsonw_str(w, dep->ro->message);
    else if (dep->env_stable == 0)
        kiln_jsonw_str(w, "no version in the stable environment yet: promote one to start");
    else
        kiln_jsonw_null(w);
    kiln_jsonw_kv_int(w, "created_time", dep->created_ms);
    kiln_jsonw_kv_int(w, "updated_time", dep->updated_ms);
    kiln_jsonw_key(w, "environments");
    kiln_jsonw_obj_begin(w);
    env_obj(w, "stable", dep->spec->stable_env, dep->env_stable);
    env_obj(w, "candidate", dep->spec->candidate_env, dep->env_candidate);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_kv_int(w, "generation", dep->generation);
    raw_or_null(w, "plan", dep->plan_json);
    kiln_jsonw_key(w, "rollout");
    if (dep->ro != NULL)
        write_rollout(w, dep, now);
    else
        kiln_jsonw_null(w);
    write_last_rollout(d, w, dep->name);
    write_replicas(w, dep, now);
    write_alert_states(w, dep);
    kiln_jsonw_key(w, "feedback");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "matched", (int64_t)dep->fb_matched);
    kiln_jsonw_kv_int(w, "pending", (int64_t)dep->fb_pending);
    kiln_jsonw_kv_int(w, "expired", (int64_t)dep->fb_expired);
    kiln_jsonw_kv_int(w, "remembered_predictions", (int64_t)dep->preds.n);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_key(w, "spec");
    kiln_deploy_spec_write(w, dep->spec);
    kiln_jsonw_obj_end(w);
}

void dp_view_summary(const struct dp_dep *dep, struct kiln_jsonw *w)
{
    size_t firing = 0, nrep = 0;
    for (size_t i = 0; i < dep->spec->nalerts; i++)
        firing += dep->alerts[i].firing != 0;
    for (const struct dp_replica *r = dep->replicas; r != NULL; r = r->next)
        nrep++;
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", dep->name);
    kiln_jsonw_kv_str(w, "model", dep->spec->model);
    kiln_jsonw_kv_str(w, "state", dp_state(dep));
    kiln_jsonw_kv_str(w, "strategy", dep->spec->strategy);
    kiln_jsonw_kv_int(w, "generation", dep->generation);
    kiln_jsonw_kv_int(w, "stable_version", dep->plan_stable);
    kiln_jsonw_kv_int(w, "candidate_version", dep->plan_candidate);
    kiln_jsonw_kv_double(w, "weight", dep->plan_weight);
    kiln_jsonw_kv_bool(w, "shadow", dep->plan_shadow);
    kiln_jsonw_kv_int(w, "step", dep->ro != NULL ? (int64_t)dep->ro->step + 1 : 0);
    kiln_jsonw_kv_int(w, "steps", (int64_t)dep->spec->nsteps);
    kiln_jsonw_kv_int(w, "replicas", (int64_t)nrep);
    kiln_jsonw_kv_int(w, "firing_alerts", (int64_t)firing);
    kiln_jsonw_obj_end(w);
}

int dp_view_history(struct kiln_deploy *d, const char *name, int64_t rollout, int64_t limit,
                    struct kiln_jsonw *w, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(d->cfg.store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "rollouts");
    kiln_jsonw_arr_begin(w);
    if (rollout > 0)
        rc = dp_prepare(tx, &st, err,
                        "SELECT " RO_COLS " FROM deploy_rollouts WHERE deployment = ? AND "
                        "rollout_id = ?",
                        "ti", name, rollout);
    else
        rc = dp_prepare(tx, &st, err,
                        "SELECT " RO_COLS " FROM deploy_rollouts WHERE deployment = ? ORDER BY "
                        "rollout_id DESC LIMIT ?",
                        "ti", name, limit);
    if (rc == KILN_OK) {
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW)
            write_rollout_row(w, st);
        kiln_stmt_finish(st);
        if (rc == KILN_STMT_DONE)
            rc = KILN_OK;
    }
    kiln_jsonw_arr_end(w);
    if (rc == KILN_OK && rollout > 0) {
        kiln_jsonw_key(w, "analyses");
        kiln_jsonw_arr_begin(w);
        rc = dp_prepare(tx, &st, err,
                        "SELECT analysis_id, time, step, verdict, decision, report FROM "
                        "deploy_analyses WHERE rollout_id = ? ORDER BY analysis_id",
                        "i", rollout);
        if (rc == KILN_OK) {
            while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
                kiln_jsonw_obj_begin(w);
                kiln_jsonw_kv_int(w, "id", kiln_stmt_int64(st, 0));
                kiln_jsonw_kv_int(w, "time", kiln_stmt_int64(st, 1));
                kiln_jsonw_kv_int(w, "step", kiln_stmt_int64(st, 2) + 1);
                kiln_jsonw_kv_str(w, "verdict", kiln_stmt_text(st, 3));
                kiln_jsonw_kv_str(w, "decision", kiln_stmt_text(st, 4));
                raw_or_null(w, "report", kiln_stmt_text(st, 5));
                kiln_jsonw_obj_end(w);
            }
            kiln_stmt_finish(st);
            if (rc == KILN_STMT_DONE)
                rc = KILN_OK;
        }
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_obj_end(w);
    kiln_store_rollback(tx);
    return rc;
}

int dp_view_alerts(struct kiln_deploy *d, const char *name, int firing_only, int64_t limit,
                   struct kiln_jsonw *w, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st = NULL;
    int prepared, rc = kiln_store_begin(d->cfg.store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = dp_prepare(tx, &st, err,
                    "SELECT alert_id, deployment, rule, kind, severity, state, fired_time, "
                    "resolved_time, value, summary, evidence, pipeline_runs FROM deploy_alerts "
                    "WHERE (? IS NULL OR deployment = ?) AND (? = 0 OR state = 'firing') ORDER BY "
                    "alert_id DESC LIMIT ?",
                    "ttii", name, name, (int64_t)firing_only, limit);
    prepared = rc;
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "alerts");
    kiln_jsonw_arr_begin(w);
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_int(w, "id", kiln_stmt_int64(st, 0));
        kiln_jsonw_kv_str(w, "deployment", kiln_stmt_text(st, 1));
        kiln_jsonw_kv_str(w, "rule", kiln_stmt_text(st, 2));
        kiln_jsonw_kv_str(w, "kind", kiln_stmt_text(st, 3));
        kiln_jsonw_kv_str(w, "severity", kiln_stmt_text(st, 4));
        kiln_jsonw_kv_str(w, "state", kiln_stmt_text(st, 5));
        kiln_jsonw_kv_int(w, "fired_time", kiln_stmt_int64(st, 6));
        int_or_null(w, "resolved_time", st, 7);
        kiln_jsonw_kv_double(w, "value", kiln_stmt_double(st, 8));
        kiln_jsonw_kv_str(w, "summary", kiln_stmt_text(st, 9));
        raw_or_null(w, "evidence", kiln_stmt_text(st, 10));
        raw_or_null(w, "pipeline_runs", kiln_stmt_text(st, 11));
        kiln_jsonw_obj_end(w);
        rc = KILN_OK;
    }
    if (prepared == KILN_OK)
        kiln_stmt_finish(st);
    if (rc == KILN_STMT_DONE)
        rc = KILN_OK;
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
    kiln_store_rollback(tx);
    return rc;
}

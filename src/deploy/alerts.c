/*
 * alerts.c - alert rules of deployments (docs/monitoring.md, "Alert rules"): evaluated every
 * second by the controller over the alert window (what replicas reported in the rule's
 * `window`, all versions together) and the replicas' latest drift windows.
 *
 * Each rule is a small state machine: ok -> pending (condition true, `for` not yet elapsed) ->
 * firing -> ok. Firing and resolving are each recorded once: a row of deploy_alerts, an event
 * (alert.fired, alert.resolved) in the registry's log and so a webhook delivery. While firing
 * nothing more is sent (de-duplication); a condition that cannot be judged (too few samples)
 * leaves the state as it is. A drift rule with trigger_pipeline starts every pipeline with a
 * matching drift trigger, with the evidence as parameters. Firing alerts survive a restart.
 *
 * Runs on the controller thread with `mu` held.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "deploy/deploy_int.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"

enum { COND_FALSE = 0, COND_TRUE = 1, COND_UNKNOWN = -1 };

/* The evidence of one evaluation, written as JSON. */
struct eval {
    double value;
    char summary[200];
    struct kiln_buf ev;
    struct kiln_jsonw w;
    const struct dp_replica *drift; /* the replica whose drift fired */
};

static int cond_drift(const struct dp_dep *dep, const struct kiln_alert_rule *a, int64_t now,
                      struct eval *e)
{
    int any = 0, judged = 0;
    for (const struct dp_replica *r = dep->replicas; r != NULL; r = r->next) {
        int drifted;
        /* Only the stable version's windows: a candidate's are the rollout's business, and a
         * replica's last window of a version it no longer serves says nothing of production. */
        if (!r->has_drift || now - r->drift_ms > a->window_ms ||
            r->drift_rows < (uint64_t)a->min_samples || r->drift_version != dep->plan_stable)
            continue;
        judged = 1;
        drifted = isnan(a->drift_share)
                      ? r->drift_dataset
                      : !isnan(r->drift_share) && r->drift_share >= a->drift_share;
        if (drifted && (!any || r->drift_share > e->value)) {
            any = 1;
            e->value = r->drift_share;
            e->drift = r;
        }
    }
    if (!any)
        return judged ? COND_FALSE : COND_UNKNOWN;
    snprintf(e->summary, sizeof(e->summary), "data drift on replica %s: share %.3g of columns (%s)",
             e->drift->name, e->drift->drift_share,
             e->drift->drift_columns != NULL ? e->drift->drift_columns : "");
    kiln_jsonw_kv_str(&e->w, "replica", e->drift->name);
    kiln_jsonw_kv_int(&e->w, "version", e->drift->drift_version);
    kiln_jsonw_kv_int(&e->w, "rows", (int64_t)e->drift->drift_rows);
    kiln_jsonw_kv_bool(&e->w, "dataset_drift", e->drift->drift_dataset);
    kiln_jsonw_key(&e->w, "drift_share");
    kiln_jsonw_double_or_null(&e->w, e->drift->drift_share);
    kiln_jsonw_kv_str(&e->w, "drifted_columns",
                      e->drift->drift_columns != NULL ? e->drift->drift_columns : "");
    return COND_TRUE;
}

static int cond_window(const struct dp_dep *dep, const struct kiln_alert_rule *a,
                       const struct kiln_deploy_vstats *v, int64_t now, struct eval *e)
{
    struct kiln_jsonw *w = &e->w;
    uint64_t min = (uint64_t)a->min_samples;
    double acc, prec, rec, share, mean;
    int bad;
    (void)now;
    switch (a->kind) {
    case KILN_ALERT_ERRORS:
        if (v->requests < min)
            return COND_UNKNOWN;
        e->value = (double)v->errors / (double)v->requests;
        kiln_jsonw_kv_int(w, "requests", (int64_t)v->requests);
        kiln_jsonw_kv_int(w, "errors", (int64_t)v->errors);
        kiln_jsonw_kv_double(w, "error_rate", e->value);
        kiln_jsonw_kv_double(w, "max", a->max_rate);
        snprintf(e->summary, sizeof(e->summary), "error rate %.3g > %.3g (%llu of %llu requests)",
                 e->value, a->max_rate, (unsigned long long)v->errors,
                 (unsigned long long)v->requests);
        return e->value > a->max_rate;
    case KILN_ALERT_LATENCY:
        if (v->latency_us.total < min)
            return COND_UNKNOWN;
        e->value = kiln_hist_quantile(&v->latency_us, 0.99) / 1000.0;
        kiln_jsonw_kv_int(w, "requests", (int64_t)v->latency_us.total);
        kiln_jsonw_kv_double(w, "p99_ms", e->value);
        kiln_jsonw_kv_double(w, "limit_ms", a->p99_ms);
        snprintf(e->summary, sizeof(e->summary), "p99 latency %.3g ms > %.3g ms", e->value,
                 a->p99_ms);
        return e->value > a->p99_ms;
    case KILN_ALERT_CONFIDENCE:
        if (v->confidence.total < min)
            return COND_UNKNOWN;
        share = (double)kiln_hist_count_below(&v->confidence, a->threshold) /
                (double)v->confidence.total;
        mean = kiln_hist_mean(&v->confidence);
        bad = (!isnan(a->max_share) && share > a->max_share) ||
              (!isnan(a->min_mean) && mean < a->min_mean);
        e->value = !isnan(a->max_share) ? share : mean;
        kiln_jsonw_kv_int(w, "rows", (int64_t)v->confidence.total);
        kiln_jsonw_kv_double(w, "mean_confidence", mean);
        kiln_jsonw_kv_double(w, "low_confidence_share", share);
        kiln_jsonw_kv_double(w, "threshold", a->threshold);
        snprintf(e->summary, sizeof(e->summary),
                 "low confidence: %.3g of predictions below %.3g, mean %.3g", share, a->threshold,
                 mean);
        return bad;
    case KILN_ALERT_QUALITY:
        if (kiln_deploy_confusion_total(&v->feedback) < min)
            return COND_UNKNOWN;
        kiln_deploy_confusion_metrics(&v->feedback, dep->spec->positive_label, &acc, &prec, &rec);
        bad = (!isnan(a->min_accuracy) && acc < a->min_accuracy) ||
              (!isnan(a->min_precision) && prec < a->min_precision) ||
              (!isnan(a->min_recall) && rec < a->min_recall);
        e->value = acc;
        kiln_jsonw_kv_int(w, "labels", (int64_t)kiln_deploy_confusion_total(&v->feedback));
        kiln_jsonw_key(w, "accuracy");
        kiln_jsonw_double_or_null(w, acc);
        kiln_jsonw_key(w, "precision");
        kiln_jsonw_double_or_null(w, prec);
        kiln_jsonw_key(w, "recall");
        kiln_jsonw_double_or_null(w, rec);
        snprintf(e->summary, sizeof(e->summary),
                 "quality drop: accuracy %.3g, precision %.3g, "
                 "recall %.3g",
                 acc, prec, rec);
        return bad;
    case KILN_ALERT_NO_TRAFFIC:
        if (dep->replicas == NULL || now - dep->created_ms < a->window_ms)
            return COND_UNKNOWN;
        e->value = (double)v->requests;
        kiln_jsonw_kv_int(w, "requests", (int64_t)v->requests);
        kiln_jsonw_kv_int(w, "window_ms", a->window_ms);
        snprintf(e->summary, sizeof(e->summary), "no requests in the last %lld s",
                 (long long)(a->window_ms / 1000));
        return v->requests == 0;
    case KILN_ALERT_DRIFT:
    case KILN_ALERT_KIND_COUNT:
        break;
    }
    return COND_UNKNOWN;
}

/* Starts the pipelines with a drift trigger for this model. Appends their run ids to `ids`. */
static void trigger(struct kiln_deploy *d, struct dp_dep *dep, const struct eval *e, json_t *ids)
{
    json_t *event = NULL, *evidence = NULL, *errors = json_array();
    struct kiln_err err = { 0 };
    const char *key;
    json_t *v;
    if (errors == NULL ||
        kiln_json_parse_object(e->ev.buf, e->ev.len, 0, &evidence, NULL) != KILN_OK) {
        json_decref(errors);
        return;
    }
    event = json_pack("{s:s, s:s, s:s, s:O}", "type", "drift", "model", dep->spec->model,
                      "deployment", dep->name, "evidence", evidence);
    json_object_foreach(evidence, key, v)
    {
        /* Evidence scalars fill declared parameters (drift_share, drifted_columns, ...). */
        if (event != NULL && json_object_get(event, key) == NULL &&
            (json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
            json_object_set(event, key, v);
    }
    if (event != NULL &&
        kiln_pl_dispatch_event(d->cfg.store, "drift", event, ids, errors, &err) != KILN_OK)
        kiln_log_error("deployment %s: drift trigger: %s", dep->name, err.msg);
    if (json_array_size(ids) > 0 && d->cfg.pipelines != NULL)
        kiln_pl_sched_notify(d->cfg.pipelines);
    if (json_array_size(errors) > 0)
        kiln_log_warn("deployment %s: some drift-triggered pipelines did not start", dep->name);
    json_decref(event);
    json_decref(evidence);
    json_decref(errors);
}

static void emit_alert(struct kiln_deploy *d, struct dp_dep *dep, const struct kiln_alert_rule *a,
                       const char *type, const struct dp_alert_state *st, const char *evidence,
                       const char *runs)
{
    struct kiln_buf b;
    struct kiln_jsonw w;
    struct kiln_err err = { 0 };
    kiln_buf_init(&b, (size_t)1 << 20);
    kiln_jsonw_init(&w, &b);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "deployment", dep->name);
    kiln_jsonw_kv_int(&w, "alert_id", st->alert_id);
    kiln_jsonw_kv_str(&w, "rule", a->name);
    kiln_jsonw_kv_str(&w, "kind", kiln_alert_kind_name(a->kind));
    kiln_jsonw_kv_str(&w, "severity", a->severity);
    kiln_jsonw_key(&w, "value");
    kiln_jsonw_double_or_null(&w, st->value);
    kiln_jsonw_kv_str(&w, "summary", st->summary);
    kiln_jsonw_kv_int(&w, "since", st->since_ms);
    if (evidence != NULL) {
        kiln_jsonw_key(&w, "evidence");
        kiln_jsonw_raw(&w, evidence, strlen(evidence));
    }
    if (runs != NULL) {
        kiln_jsonw_key(&w, "pipeline_runs");
        kiln_jsonw_raw(&w, runs, strlen(runs));
    }
    kiln_jsonw_obj_end(&w);
    if (kiln_jsonw_finish(&w) != KILN_OK ||
        kiln_registry_emit(d->cfg.registry, type, dep->spec->model, 0, NULL, d->user, b.buf, NULL,
                           &err) != KILN_OK)
        kiln_log_error("deployment %s: cannot record %s: %s", dep->name, type, err.msg);
    kiln_buf_release(&b);
}

static void fire(struct kiln_deploy *d, struct dp_dep *dep, const struct kiln_alert_rule *a,
                 struct dp_alert_state *st, struct eval *e, int64_t now)
{
    json_t *ids = json_array();
    char *runs = NULL;
    struct kiln_tx *tx;
    struct kiln_stmt *stmt;
    struct kiln_err err = { 0 };
    int rc;

    st->firing = 1;
    st->value = e->value;
    snprintf(st->summary, sizeof(st->summary), "%s", e->summary);
    if (a->kind == KILN_ALERT_DRIFT && a->trigger_pipeline && ids != NULL)
        trigger(d, dep, e, ids);
    if (ids != NULL && json_array_size(ids) > 0)
        runs = json_dumps(ids, JSON_COMPACT);
    rc = kiln_store_begin(d->cfg.store, KILN_TX_WRITE, &tx, &err);
    if (rc == KILN_OK) {
        rc = dp_prepare(tx, &stmt, &err,
                        "INSERT INTO deploy_alerts (deployment, rule, kind, severity, state, "
                        "fired_time, value, summary, evidence, pipeline_runs) VALUES (?, ?, ?, ?, "
                        "'firing', ?, ?, ?, ?, ?) RETURNING alert_id",
                        "ttttidttt", dep->name, a->name, kiln_alert_kind_name(a->kind), a->severity,
                        now, isnan(e->value) ? 0.0 : e->value, e->summary, e->ev.buf, runs);
        if (rc == KILN_OK) {
            rc = kiln_stmt_step(stmt, &err);
            if (rc == KILN_STMT_ROW)
                st->alert_id = kiln_stmt_int64(stmt, 0);
            kiln_stmt_finish(stmt);
        }
        if (rc < 0)
            kiln_store_rollback(tx);
        else
            rc = kiln_store_commit(tx, &err);
    }
    if (rc < 0)
        kiln_log_error("deployment %s: cannot record alert %s: %s", dep->name, a->name, err.msg);
    kiln_log_warn("deployment %s: alert %s firing: %s%s", dep->name, a->name, e->summary,
                  runs != NULL ? " (pipelines started)" : "");
    emit_alert(d, dep, a, KILN_EV_ALERT_FIRED, st, e->ev.buf, runs);
    kiln_free(runs);
    json_decref(ids);
}

static void resolve(struct kiln_deploy *d, struct dp_dep *dep, const struct kiln_alert_rule *a,
                    struct dp_alert_state *st, int64_t now)
{
    struct kiln_tx *tx;
    struct kiln_err err = { 0 };
    int rc = kiln_store_begin(d->cfg.store, KILN_TX_WRITE, &tx, &err);
    if (rc == KILN_OK) {
        rc = dp_exec(tx, &err,
                     "UPDATE deploy_alerts SET state = 'resolved', resolved_time = ? WHERE "
                     "alert_id = ?",
                     "ii", now, st->alert_id);
        if (rc == KILN_OK)
            rc = kiln_store_commit(tx, &err);
        else
            kiln_store_rollback(tx);
    }
    if (rc != KILN_OK)
        kiln_log_error("deployment %s: cannot resolve alert %s: %s", dep->name, a->name, err.msg);
    kiln_log_info("deployment %s: alert %s resolved", dep->name, a->name);
    emit_alert(d, dep, a, KILN_EV_ALERT_RESOLVED, st, NULL, NULL);
    st->firing = 0;
    st->pending = 0;
    st->alert_id = 0;
}

void dp_alerts_eval(struct kiln_deploy *d, struct dp_dep *dep, int64_t now)
{
    for (size_t i = 0; i < dep->spec->nalerts; i++) {
        const struct kiln_alert_rule *a = &dep->spec->alerts[i];
        struct dp_alert_state *st = &dep->alerts[i];
        struct kiln_deploy_vstats win;
        struct eval e;
        int c;
        memset(&e, 0, sizeof(e));
        e.value = NAN;
        kiln_buf_init(&e.ev, (size_t)1 << 20);
        kiln_jsonw_init(&e.w, &e.ev);
        kiln_jsonw_obj_begin(&e.w);
        kiln_deploy_vstats_init(&win, 0);
        if (a->kind == KILN_ALERT_DRIFT)
            c = cond_drift(dep, a, now, &e);
        else if (dp_window(dep, now, a->window_ms, &win) == KILN_OK)
            c = cond_window(dep, a, &win, now, &e);
        else
            c = COND_UNKNOWN;
        kiln_deploy_vstats_release(&win);
        kiln_jsonw_obj_end(&e.w);
        if (kiln_jsonw_finish(&e.w) != KILN_OK)
            c = COND_UNKNOWN;
        if (c == COND_TRUE && !st->firing) {
            if (!st->pending) {
                st->pending = 1;
                st->since_ms = now;
            }
            if (now - st->since_ms >= a->for_ms)
                fire(d, dep, a, st, &e, now);
        } else if (c == COND_FALSE) {
            if (st->firing)
                resolve(d, dep, a, st, now);
            st->pending = 0;
        } else if (c == COND_TRUE) {
            st->value = e.value;
        }
        kiln_buf_release(&e.ev);
    }
}

int dp_alerts_load(struct kiln_deploy *d, struct dp_dep *dep, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(d->cfg.store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = dp_prepare(tx, &st, err,
                    "SELECT alert_id, rule, fired_time, value, summary FROM deploy_alerts WHERE "
                    "deployment = ? AND state = 'firing' ORDER BY alert_id",
                    "t", dep->name);
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        const char *rule = kiln_stmt_text(st, 1);
        for (size_t i = 0; i < dep->spec->nalerts; i++)
            if (strcmp(dep->spec->alerts[i].name, rule) == 0) {
                struct dp_alert_state *s = &dep->alerts[i];
                s->firing = 1;
                s->pending = 1;
                s->alert_id = kiln_stmt_int64(st, 0);
                s->since_ms = kiln_stmt_int64(st, 2);
                s->value = kiln_stmt_double(st, 3);
                snprintf(s->summary, sizeof(s->summary), "%s", kiln_stmt_text(st, 4));
            }
        rc = KILN_OK;
    }
    if (rc == KILN_STMT_DONE)
        rc = KILN_OK;
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return rc;
}

/*
 * evaluate_record.c - recording an evaluation on the tracking server (see evaluate_cli.h):
 *
 *   1. POST runs/create in the experiment (named, else the model's source run's, else 0),
 *      named "evaluate NAME vV on DATASET", tagged kiln.evaluation.*;
 *   2. POST /api/kiln/v1/models/evaluations (registry versions only), linked to the run;
 *   3. POST runs/log-batch (params, metrics), runs/log-inputs (the dataset, context
 *      "evaluation"), PUT the report as the run's artifact evaluation.json;
 *   4. POST runs/update FINISHED (FAILED when a step after 1 failed).
 *
 * All requests go through one kiln_http_client (MLflow's REST API and kiln's native API).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/evaluate_cli.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "http/client.h"

#define MLFLOW "/api/2.0/mlflow"
#define MAX_REGISTRY_CURVE 1000

/* Calls an endpoint with a payload built by json_pack; out may be NULL. */
static int call(struct kiln_http_client *c, const char *method, const char *endpoint,
                json_t *payload, json_t **out, struct kiln_err *err)
{
    int rc;
    if (payload == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_http_client_json(c, method, endpoint, payload, out, err);
    json_decref(payload);
    return rc;
}

/* The experiment of the run: --experiment (created when missing), the model's run's, or 0. */
static int experiment_id(struct kiln_http_client *c, const struct evaluation *e,
                         const char *experiment, char *id, size_t size, struct kiln_err *err)
{
    json_t *out = NULL;
    int rc;
    snprintf(id, size, "0");
    if (experiment != NULL) {
        rc = call(c, "GET", MLFLOW "/experiments/get-by-name",
                  json_pack("{s:s}", "experiment_name", experiment), &out, err);
        if (rc == KILN_ENOENT) {
            rc = call(c, "POST", MLFLOW "/experiments/create",
                      json_pack("{s:s}", "name", experiment), &out, err);
            if (rc == KILN_OK)
                kiln_strlcpy(id, json_string_value(json_object_get(out, "experiment_id")), size);
        } else if (rc == KILN_OK) {
            kiln_strlcpy(id,
                         json_string_value(
                             json_object_get(json_object_get(out, "experiment"), "experiment_id")),
                         size);
        }
        json_decref(out);
        return rc;
    }
    if (e->model->run_id == NULL)
        return KILN_OK;
    rc = call(c, "GET", MLFLOW "/runs/get", json_pack("{s:s}", "run_id", e->model->run_id), &out,
              err);
    if (rc == KILN_OK) {
        const char *x = json_string_value(
            json_object_get(json_object_get(json_object_get(out, "run"), "info"), "experiment_id"));
        if (x != NULL)
            kiln_strlcpy(id, x, size);
    }
    json_decref(out);
    return rc == KILN_ENOENT ? KILN_OK : rc; /* a deleted source run: fall back to 0 */
}

/* The evaluation's defined metrics as {name: value}. */
static json_t *metrics_object(const struct evaluation *e)
{
    json_t *m = json_object();
    const struct {
        const char *k;
        double v;
    } cls[] = { { "accuracy", e->cls ? e->cls->accuracy : NAN },
                { "precision", e->cls ? e->cls->precision : NAN },
                { "recall", e->cls ? e->cls->recall : NAN },
                { "f1", e->cls ? e->cls->f1 : NAN },
                { "precision_macro", e->cls ? e->cls->precision_macro : NAN },
                { "recall_macro", e->cls ? e->cls->recall_macro : NAN },
                { "f1_macro", e->cls ? e->cls->f1_macro : NAN },
                { "roc_auc", e->cls ? e->cls->roc_auc : NAN },
                { "pr_auc", e->cls ? e->cls->pr_auc : NAN },
                { "log_loss", e->cls ? e->cls->log_loss : NAN },
                { "mse", e->cls ? NAN : e->reg.mse },
                { "rmse", e->cls ? NAN : e->reg.rmse },
                { "mae", e->cls ? NAN : e->reg.mae },
                { "r2", e->cls ? NAN : e->reg.r2 } };
    for (size_t i = 0; m != NULL && i < KILN_ARRAY_LEN(cls); i++)
        if (isfinite(cls[i].v) && json_object_set_new(m, cls[i].k, json_real(cls[i].v)) != 0) {
            json_decref(m);
            return NULL;
        }
    return m;
}

/* The registry's evaluation record (docs/registry.md). */
static json_t *registry_payload(const struct evaluation *e)
{
    char version[32];
    json_t *p, *per = json_array(), *curve = json_array();
    const struct kiln_eval_cls *r = e->cls;
    size_t step = 1;

    snprintf(version, sizeof(version), "%lld", (long long)e->model->version);
    p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "name", e->model->name, "version", version,
                  "dataset_name", e->dataset_name, "dataset_digest", e->digest, "run_id", e->run_id,
                  "metrics", metrics_object(e));
    if (p == NULL || per == NULL || curve == NULL) {
        json_decref(p);
        json_decref(per);
        json_decref(curve);
        return NULL;
    }
    if (r != NULL && r->n_classes <= 1000) {
        for (size_t k = 0; k < r->n_classes; k++)
            json_array_append_new(per, json_pack("{s:s%, s:f, s:f, s:I}", "label",
                                                 kiln_rt_class(e->m, k)->text,
                                                 strlen(kiln_rt_class(e->m, k)->text) > 250
                                                     ? (size_t)250
                                                     : strlen(kiln_rt_class(e->m, k)->text),
                                                 "precision", r->per_class[k].precision, "recall",
                                                 r->per_class[k].recall, "support",
                                                 (json_int_t)r->per_class[k].support));
        json_object_set_new(p, "per_class", per);
        per = NULL;
    }
    if (r != NULL && r->n_curve > 0) {
        if (r->n_curve > MAX_REGISTRY_CURVE)
            step = (r->n_curve + MAX_REGISTRY_CURVE - 2) / (MAX_REGISTRY_CURVE - 1);
        for (size_t k = 0; k < r->n_curve; k++) {
            if (k % step != 0 && k + 1 != r->n_curve)
                continue;
            json_array_append_new(
                curve, json_pack("{s:o, s:f, s:f}", "threshold",
                                 isfinite(r->curve[k].threshold) ? json_real(r->curve[k].threshold)
                                                                 : json_string("Infinity"),
                                 "precision", r->curve[k].precision, "recall", r->curve[k].recall));
        }
        json_object_set_new(p, "pr_curve", curve);
        curve = NULL;
    }
    if (e->binary)
        json_object_set_new(p, "threshold", json_real(e->threshold));
    json_decref(per);
    json_decref(curve);
    return p;
}

static int log_everything(struct kiln_http_client *c, const struct evaluation *e,
                          const char *artifact_uri, struct kiln_err *err)
{
    char version[32], rows[32], ts[32];
    json_t *metrics = metrics_object(e), *mlist = json_array(), *params;
    struct kiln_buf report, path, resp;
    const char *key;
    json_t *v;
    int rc, status = 0;

    snprintf(version, sizeof(version), "%lld", (long long)e->model->version);
    snprintf(rows, sizeof(rows), "%llu", (unsigned long long)e->rows);
    snprintf(ts, sizeof(ts), "%g", e->threshold);
    if (metrics == NULL || mlist == NULL) {
        json_decref(metrics);
        json_decref(mlist);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    json_object_foreach(metrics, key, v)
    {
        json_array_append_new(mlist, json_pack("{s:s, s:O, s:I, s:i}", "key", key, "value", v,
                                               "timestamp", (json_int_t)kiln_now_ms(), "step", 0));
    }
    json_decref(metrics);
    params = json_pack("[{s:s,s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s}]", "key", "model_uri", "value",
                       e->uri, "key", "dataset_name", "value", e->dataset_name, "key",
                       "dataset_digest", "value", e->digest, "key", "rows", "value", rows);
    if (params != NULL && e->binary)
        json_array_append_new(params, json_pack("{s:s,s:s}", "key", "threshold", "value", ts));
    rc = call(c, "POST", MLFLOW "/runs/log-batch",
              json_pack("{s:s, s:o, s:o}", "run_id", e->run_id, "metrics", mlist, "params", params),
              NULL, err);
    if (rc == KILN_OK) {
        json_t *src = json_pack("{s:s}", "uri", e->data_path);
        char *source = src != NULL ? json_dumps(src, JSON_COMPACT) : NULL;
        rc = source == NULL
                 ? kiln_err_set(err, KILN_ENOMEM, "out of memory")
                 : call(c, "POST", MLFLOW "/runs/log-inputs",
                        json_pack("{s:s, s:[{s:{s:s, s:s, s:s, s:s}, s:[{s:s, s:s}]}]}", "run_id",
                                  e->run_id, "datasets", "dataset", "name", e->dataset_name,
                                  "digest", e->digest, "source_type", "local", "source", source,
                                  "tags", "key", "mlflow.data.context", "value", "evaluation"),
                        NULL, err);
        json_decref(src);
        kiln_free(source);
    }
    if (rc != KILN_OK)
        return rc;
    /* The report as the run's artifact evaluation.json (through the artifact proxy). */
    kiln_buf_init(&report, (size_t)64 << 20);
    kiln_buf_init(&path, 8192);
    kiln_buf_init(&resp, 1 << 20);
    rc = kiln_eval_report_json(e, &report);
    if (rc == KILN_OK && kiln_cstr_has_prefix(artifact_uri, "mlflow-artifacts:/")) {
        const char *rel = artifact_uri + strlen("mlflow-artifacts:/");
        rc = kiln_buf_puts(&path, "/api/2.0/mlflow-artifacts/artifacts/");
        if (rc == KILN_OK)
            rc = kiln_url_encode(rel, strlen(rel), 1, &path);
        if (rc == KILN_OK)
            rc = kiln_buf_puts(&path, "/evaluation.json");
        if (rc == KILN_OK)
            rc = kiln_http_client_call(c, "PUT", path.buf, "application/json", report.buf,
                                       report.len, &status, &resp, err);
        if (rc == KILN_OK && status != 200)
            rc = kiln_err_set(err, KILN_EIO, "uploading evaluation.json: HTTP %d: %.200s", status,
                              resp.buf);
    }
    kiln_buf_release(&report);
    kiln_buf_release(&path);
    kiln_buf_release(&resp);
    return rc;
}

int kiln_eval_record(struct evaluation *e, const char *tracking_flag, const char *experiment,
                     struct kiln_err *err)
{
    struct kiln_http_client *c = NULL;
    const char *uri = kiln_cli_tracking_uri(tracking_flag);
    char exp[64], name[512], version[32];
    const char *artifact_uri, *run_id;
    json_t *out = NULL;
    int rc;

    rc = kiln_http_client_new(uri, 120000, &c, err);
    if (rc == KILN_OK)
        rc = experiment_id(c, e, experiment, exp, sizeof(exp), err);
    if (rc != KILN_OK)
        goto out;
    snprintf(version, sizeof(version), "%lld", (long long)e->model->version);
    if (e->model->name != NULL && e->model->version > 0)
        snprintf(name, sizeof(name), "evaluate %s v%s on %s", e->model->name, version,
                 e->dataset_name);
    else
        snprintf(name, sizeof(name), "evaluate %s on %s", e->uri, e->dataset_name);
    rc = call(c, "POST", MLFLOW "/runs/create",
              json_pack("{s:s, s:s, s:I, s:[{s:s,s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s}]}",
                        "experiment_id", exp, "run_name", name, "start_time",
                        (json_int_t)kiln_now_ms(), "tags", "key", "kiln.evaluation.model_uri",
                        "value", e->uri, "key", "kiln.evaluation.dataset", "value", e->dataset_name,
                        "key", "kiln.evaluation.dataset_digest", "value", e->digest, "key",
                        "mlflow.source.name", "value", "kiln evaluate"),
              &out, err);
    if (rc != KILN_OK)
        goto out;
    run_id = json_string_value(
        json_object_get(json_object_get(json_object_get(out, "run"), "info"), "run_id"));
    artifact_uri = json_string_value(
        json_object_get(json_object_get(json_object_get(out, "run"), "info"), "artifact_uri"));
    if (run_id == NULL || artifact_uri == NULL) {
        rc = kiln_err_set(err, KILN_EIO, "the tracking server's run has no run_id");
        goto out;
    }
    kiln_strlcpy(e->run_id, run_id, sizeof(e->run_id));
    if (e->model->name != NULL && e->model->version > 0) {
        rc = call(c, "POST", "/api/kiln/v1/models/evaluations", registry_payload(e), NULL, err);
        if (rc == KILN_OK) {
            e->recorded_registry = 1;
            rc = call(c, "POST", MLFLOW "/runs/set-tag",
                      json_pack("{s:s, s:s, s:s}", "run_id", e->run_id, "key",
                                "kiln.evaluation.version", "value", version),
                      NULL, err);
        }
    }
    if (rc == KILN_OK)
        rc = log_everything(c, e, artifact_uri, err);
    {
        struct kiln_err e2 = { 0 };
        int rc2 = call(c, "POST", MLFLOW "/runs/update",
                       json_pack("{s:s, s:s, s:I}", "run_id", e->run_id, "status",
                                 rc == KILN_OK ? "FINISHED" : "FAILED", "end_time",
                                 (json_int_t)kiln_now_ms()),
                       NULL, &e2);
        if (rc == KILN_OK && rc2 != KILN_OK) {
            *err = e2;
            rc = rc2;
        }
    }
out:
    json_decref(out);
    kiln_http_client_free(c);
    return rc;
}

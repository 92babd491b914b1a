/*
 * run_log.c - MLflow REST handlers that write to runs (mlflow-api.md §4.2): log-metric,
 * log-parameter, log-batch, set-tag, delete-tag, log-inputs, outputs and log-model.
 *
 * log-batch is the hot path: its handler reads the arrays into arena memory in one pass and
 * hands them to kiln_run_log_batch, which validates everything and writes in one transaction.
 */
#include <stdio.h>
#include <string.h>

#include "api/mlflow/mlflow.h"

static int h_log_metric(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_metric m;
    const char *run_id;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_metric(doc, &m, err);
    if (rc == KILN_OK)
        rc = kiln_run_log_metric(srv->store, run_id, &m, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

/* The body of log-parameter and set-tag: {"run_id", "key", "value"}. */
static int read_run_key_value(struct kiln_http_req *req, const char **run_id, const char **key,
                              const char **value, struct kiln_err *err)
{
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "value", KILN_JSON_OPTIONAL, value, err);
    return rc;
}

static int h_log_param(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id, *key, *value;
    int rc = read_run_key_value(req, &run_id, &key, &value, err);
    if (rc == KILN_OK)
        rc = kiln_run_log_param(srv->store, run_id, key, value, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_log_batch(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_metric *metrics;
    struct kiln_kv *params, *tags;
    size_t nm, np, nt;
    const char *run_id;
    json_t *doc;
    int rc;

    if (req->body.len > KILN_BATCH_MAX_BYTES)
        return kiln_err_set(err, KILN_EINVAL,
                            "Batched logging API requests must be at most %zu bytes, got a "
                            "request of size %zu",
                            KILN_BATCH_MAX_BYTES, req->body.len);
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_metrics(req, doc, "metrics", &metrics, &nm, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_kv(req, doc, "params", &params, &np, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_kv(req, doc, "tags", &tags, &nt, err);
    if (rc == KILN_OK)
        rc = kiln_run_log_batch(srv->store, run_id, metrics, nm, params, np, tags, nt, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_set_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id, *key, *value;
    int rc = read_run_key_value(req, &run_id, &key, &value, err);
    if (rc == KILN_OK)
        rc = kiln_run_set_tag(srv->store, run_id, key, value, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_delete_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id, *key;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_run_delete_tag(srv->store, run_id, key, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int read_dataset(struct kiln_http_req *req, const json_t *item,
                        struct kiln_dataset_input *in, struct kiln_err *err)
{
    struct kiln_dataset *d = &in->dataset;
    json_t *ds;
    int rc;

    memset(in, 0, sizeof(*in));
    if (!json_is_object(item))
        return kiln_err_set(err, KILN_EINVAL, "Invalid value: expected an object");
    rc = kiln_json_get_object(item, "dataset", KILN_JSON_REQUIRED, &ds, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(ds, "name", KILN_JSON_OPTIONAL, &d->name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(ds, "digest", KILN_JSON_OPTIONAL, &d->digest, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(ds, "source_type", KILN_JSON_OPTIONAL, &d->source_type, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(ds, "source", KILN_JSON_OPTIONAL, &d->source, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(ds, "schema", KILN_JSON_OPTIONAL, &d->schema, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(ds, "profile", KILN_JSON_OPTIONAL, &d->profile, err);
    if (rc == KILN_OK) {
        json_t *tags, *t;
        size_t i;
        rc = kiln_json_get_array(item, "tags", KILN_JSON_OPTIONAL, &tags, err);
        if (rc != KILN_OK || tags == NULL || json_array_size(tags) == 0)
            return rc;
        in->tags = kiln_arena_alloc(req->arena, json_array_size(tags) * sizeof(*in->tags));
        if (in->tags == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        json_array_foreach(tags, i, t)
        {
            if (!json_is_object(t))
                return kiln_err_set(err, KILN_EINVAL, "Invalid value for 'tags[%zu]'", i);
            rc = kiln_json_get_str(t, "key", KILN_JSON_OPTIONAL, &in->tags[i].key, err);
            if (rc == KILN_OK)
                rc = kiln_json_get_str(t, "value", KILN_JSON_OPTIONAL, &in->tags[i].value, err);
            if (rc != KILN_OK)
                return rc;
        }
        in->ntags = json_array_size(tags);
    }
    return rc;
}

static int h_log_inputs(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_dataset_input *datasets = NULL;
    const char **models = NULL;
    size_t nd = 0, nmodels = 0, i;
    json_t *doc, *arr, *item;
    const char *run_id;
    int rc = kiln_api_read(req, NULL, &doc, err);

    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_array(doc, "datasets", KILN_JSON_OPTIONAL, &arr, err);
    if (rc == KILN_OK && arr != NULL && json_array_size(arr) > 0) {
        datasets = kiln_arena_alloc(req->arena, json_array_size(arr) * sizeof(*datasets));
        if (datasets == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        json_array_foreach(arr, i, item)
        {
            rc = read_dataset(req, item, &datasets[i], err);
            if (rc != KILN_OK)
                return kiln_mlflow_annotate(err, rc, "datasets", i);
        }
        nd = json_array_size(arr);
    }
    if (rc == KILN_OK)
        rc = kiln_json_get_array(doc, "models", KILN_JSON_OPTIONAL, &arr, err);
    if (rc == KILN_OK && arr != NULL && json_array_size(arr) > 0) {
        models = kiln_arena_alloc(req->arena, json_array_size(arr) * sizeof(*models));
        if (models == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        json_array_foreach(arr, i, item)
        {
            rc = json_is_object(item)
                     ? kiln_json_get_str(item, "model_id", KILN_JSON_REQUIRED, &models[i], err)
                     : kiln_err_set(err, KILN_EINVAL, "Invalid value: expected an object");
            if (rc != KILN_OK)
                return kiln_mlflow_annotate(err, rc, "models", i);
        }
        nmodels = json_array_size(arr);
    }
    if (rc == KILN_OK)
        rc = kiln_run_log_inputs(srv->store, run_id, datasets, nd, models, nmodels, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_outputs(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_model_output *models = NULL;
    json_t *doc, *arr, *item;
    const char *run_id;
    size_t i;
    int rc = kiln_api_read(req, NULL, &doc, err);

    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_array(doc, "models", KILN_JSON_REQUIRED, &arr, err);
    if (rc != KILN_OK)
        return rc;
    if (json_array_size(arr) > 0) {
        models = kiln_arena_calloc(req->arena, json_array_size(arr), sizeof(*models));
        if (models == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    json_array_foreach(arr, i, item)
    {
        rc = json_is_object(item)
                 ? kiln_json_get_str(item, "model_id", KILN_JSON_REQUIRED, &models[i].model_id, err)
                 : kiln_err_set(err, KILN_EINVAL, "Invalid value: expected an object");
        if (rc == KILN_OK)
            rc = kiln_json_get_int64(item, "step", KILN_JSON_OPTIONAL, &models[i].step, NULL, err);
        if (rc != KILN_OK)
            return kiln_mlflow_annotate(err, rc, "models", i);
    }
    rc = kiln_run_log_outputs(srv->store, run_id, models, json_array_size(arr), err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_log_model(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id, *model_json;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "model_json", KILN_JSON_REQUIRED, &model_json, err);
    if (rc == KILN_OK)
        rc = kiln_run_log_model(srv->store, run_id, model_json, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static const struct kiln_api_route routes[] = {
    { "POST", "/runs/log-metric", h_log_metric }, { "POST", "/runs/log-parameter", h_log_param },
    { "POST", "/runs/log-batch", h_log_batch },   { "POST", "/runs/set-tag", h_set_tag },
    { "POST", "/runs/delete-tag", h_delete_tag }, { "POST", "/runs/log-inputs", h_log_inputs },
    { "POST", "/runs/outputs", h_outputs },       { "POST", "/runs/log-model", h_log_model },
};

int kiln_api_mlflow_run_log_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

/*
 * logged_models.c - MLflow 3 logged-model REST handlers (mlflow-api.md §4.4): create, get,
 * finalize, delete, tags, params, artifact directory listings and search.
 *
 * Request shapes follow what the MLflow client sends (§5): JSON bodies for POST/PATCH/DELETE,
 * the model id in the path. Responses are {"model": LoggedModel} or {} as MLflow answers.
 * Threads: handlers run on any MHD worker; all state is per request.
 */
#include <stdio.h>
#include <string.h>

#include "api/mlflow/artifact_api.h"
#include "api/mlflow/mlflow.h"
#include "core/str.h"
#include "tracking/logged_models.h"

/* Reads an optional array of {key, value} objects (`field`) into arena memory. */
static int read_kv_array(struct kiln_http_req *req, const json_t *doc, const char *field,
                         struct kiln_kv **out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, field, KILN_JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL)
        return rc;
    *out = kiln_arena_calloc(req->arena, json_array_size(arr) + 1, sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, item)
    {
        const char *k, *v;
        if (!json_is_object(item))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s': expected objects with 'key' "
                                "and 'value'",
                                field);
        rc = kiln_json_get_str(item, "key", KILN_JSON_REQUIRED, &k, err);
        if (rc == KILN_OK)
            rc = kiln_json_get_str(item, "value", KILN_JSON_OPTIONAL, &v, err);
        if (rc != KILN_OK)
            return rc;
        (*out)[*n].key = k;
        (*out)[*n].value = v != NULL ? v : "";
        (*n)++;
    }
    return KILN_OK;
}

static void write_metric(struct kiln_jsonw *w, const struct kiln_logged_model_metric *m,
                         const char *model_id)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "key", m->key);
    kiln_jsonw_kv_double(w, "value", m->value);
    kiln_jsonw_kv_int(w, "timestamp", m->timestamp);
    kiln_jsonw_kv_int(w, "step", m->step);
    if (m->dataset_name != NULL)
        kiln_jsonw_kv_str(w, "dataset_name", m->dataset_name);
    if (m->dataset_digest != NULL)
        kiln_jsonw_kv_str(w, "dataset_digest", m->dataset_digest);
    kiln_jsonw_kv_str(w, "model_id", model_id);
    if (m->run_id != NULL)
        kiln_jsonw_kv_str(w, "run_id", m->run_id);
    kiln_jsonw_obj_end(w);
}

void kiln_mlflow_write_logged_model(struct kiln_jsonw *w, const struct kiln_logged_model *m)
{
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)m->experiment_id);
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "info");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "model_id", m->model_id);
    kiln_jsonw_kv_str(w, "experiment_id", id);
    kiln_jsonw_kv_str(w, "name", m->name);
    kiln_jsonw_kv_int(w, "creation_timestamp_ms", m->creation_timestamp_ms);
    kiln_jsonw_kv_int(w, "last_updated_timestamp_ms", m->last_updated_timestamp_ms);
    kiln_jsonw_kv_str(w, "artifact_uri", m->artifact_uri);
    kiln_jsonw_kv_str(w, "status", kiln_logged_model_status_name(m->status));
    if (m->model_type != NULL)
        kiln_jsonw_kv_str(w, "model_type", m->model_type);
    if (m->source_run_id != NULL)
        kiln_jsonw_kv_str(w, "source_run_id", m->source_run_id);
    if (m->status_message != NULL)
        kiln_jsonw_kv_str(w, "status_message", m->status_message);
    kiln_mlflow_write_kv_list(w, "tags", m->tags, m->ntags);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_key(w, "data");
    kiln_jsonw_obj_begin(w);
    kiln_mlflow_write_kv_list(w, "params", m->params, m->nparams);
    if (m->nmetrics > 0) {
        kiln_jsonw_key(w, "metrics");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < m->nmetrics; i++)
            write_metric(w, &m->metrics[i], m->model_id);
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
}

static int respond_model(struct kiln_http_resp *resp, const struct kiln_logged_model *m,
                         struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "model");
    kiln_mlflow_write_logged_model(&w, m);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/* The {model_id} path parameter. */
static const char *path_model_id(const struct kiln_http_req *req)
{
    const char *id = kiln_http_param(req, "model_id");
    return id != NULL ? id : "";
}

static int h_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_logged_model_create spec;
    struct kiln_logged_model *m;
    struct kiln_kv *params, *tags;
    const char *exp_id;
    json_t *doc;
    int rc;

    memset(&spec, 0, sizeof(spec));
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "experiment_id", KILN_JSON_REQUIRED, &exp_id, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_parse_id(exp_id, "experiment_id", &spec.experiment_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_OPTIONAL, &spec.name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "model_type", KILN_JSON_OPTIONAL, &spec.model_type, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "source_run_id", KILN_JSON_OPTIONAL, &spec.source_run_id, err);
    if (rc == KILN_OK)
        rc = read_kv_array(req, doc, "params", &params, &spec.nparams, err);
    if (rc == KILN_OK)
        rc = read_kv_array(req, doc, "tags", &tags, &spec.ntags, err);
    if (rc != KILN_OK)
        return rc;
    spec.params = params;
    spec.tags = tags;
    rc = kiln_logged_model_create(srv->store, req->arena, &spec, &m, err);
    if (rc != KILN_OK)
        return rc;
    return respond_model(resp, m, err);
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_logged_model *m;
    int rc = kiln_logged_model_get(srv->store, req->arena, path_model_id(req), &m, err);
    if (rc != KILN_OK)
        return rc;
    return respond_model(resp, m, err);
}

/* Checks that a model_id given in the body, if any, is the one in the path. */
static int check_body_id(const json_t *doc, const char *model_id, struct kiln_err *err)
{
    const char *body_id;
    int rc = kiln_json_get_str(doc, "model_id", KILN_JSON_OPTIONAL, &body_id, err);
    if (rc == KILN_OK && body_id != NULL && *body_id != '\0' && strcmp(body_id, model_id) != 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid value '%.100s' for parameter 'model_id': the path names "
                          "model '%.100s'",
                          body_id, model_id);
    return rc;
}

static int read_status(const json_t *doc, int *status, struct kiln_err *err)
{
    json_t *v = json_object_get(doc, "status");
    if (v == NULL || json_is_null(v) || (json_is_string(v) && *json_string_value(v) == '\0'))
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'status'");
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 3) {
        *status = (int)json_integer_value(v);
        return KILN_OK;
    }
    if (json_is_string(v) &&
        kiln_logged_model_status_parse(json_string_value(v), status) == KILN_OK)
        return KILN_OK;
    return kiln_err_set(err, KILN_EINVAL,
                        "Invalid value for parameter 'status': expected LOGGED_MODEL_READY or "
                        "LOGGED_MODEL_UPLOAD_FAILED");
}

static int h_finalize(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                      struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_logged_model *m;
    const char *id = path_model_id(req);
    json_t *doc;
    int status = 0;
    int rc = kiln_api_read(req, NULL, &doc, err);

    if (rc == KILN_OK)
        rc = check_body_id(doc, id, err);
    if (rc == KILN_OK)
        rc = read_status(doc, &status, err);
    if (rc == KILN_OK)
        rc = kiln_logged_model_finalize(srv->store, req->arena, id, status, &m, err);
    if (rc != KILN_OK)
        return rc;
    return respond_model(resp, m, err);
}

static int h_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *id = path_model_id(req);
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = check_body_id(doc, id, err);
    if (rc == KILN_OK)
        rc = kiln_logged_model_delete(srv->store, id, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_empty(resp);
}

static int h_set_tags(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                      struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *id = path_model_id(req);
    struct kiln_kv *tags;
    size_t n = 0;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = check_body_id(doc, id, err);
    if (rc == KILN_OK)
        rc = read_kv_array(req, doc, "tags", &tags, &n, err);
    if (rc == KILN_OK)
        rc = kiln_logged_model_set_tags(srv->store, id, tags, n, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_empty(resp);
}

static int h_delete_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    int rc = kiln_logged_model_delete_tag(srv->store, path_model_id(req),
                                          kiln_http_param(req, "tag_key"), err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_empty(resp);
}

static int h_log_params(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *id = path_model_id(req);
    struct kiln_kv *params;
    size_t n = 0;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = check_body_id(doc, id, err);
    if (rc == KILN_OK)
        rc = read_kv_array(req, doc, "params", &params, &n, err);
    if (rc == KILN_OK)
        rc = kiln_logged_model_log_params(srv->store, id, params, n, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_empty(resp);
}

static int h_list_artifacts(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                            struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_logged_model *m;
    const char *path = NULL, *token = NULL;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "artifact_directory_path", KILN_JSON_OPTIONAL, &path, err);
    if (rc == KILN_OK) /* accepted for compatibility: listings are never paged */
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &token, err);
    if (rc == KILN_OK)
        rc = kiln_logged_model_get(srv->store, req->arena, path_model_id(req), &m, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_respond_listing(srv, req, resp, m->artifact_uri, path, err);
}

/* experiment_ids: strings (as the client sends them) or numbers. */
static int read_experiment_ids(struct kiln_http_req *req, const json_t *doc, int64_t **ids,
                               size_t *n, struct kiln_err *err)
{
    json_t *arr, *v;
    size_t i;
    int rc = kiln_json_get_array(doc, "experiment_ids", KILN_JSON_OPTIONAL, &arr, err);
    *ids = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL)
        return rc;
    *ids = kiln_arena_calloc(req->arena, json_array_size(arr) + 1, sizeof(**ids));
    if (*ids == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, v)
    {
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            (*ids)[i] = json_integer_value(v);
        } else {
            rc = kiln_experiment_parse_id(json_is_string(v) ? json_string_value(v) : "?",
                                          "experiment_ids", &(*ids)[i], err);
            if (rc != KILN_OK)
                return rc;
        }
        (*n)++;
    }
    return KILN_OK;
}

static int read_datasets(struct kiln_http_req *req, const json_t *doc,
                         struct kiln_logged_model_dataset **out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *v;
    size_t i;
    int rc = kiln_json_get_array(doc, "datasets", KILN_JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL)
        return rc;
    *out = kiln_arena_calloc(req->arena, json_array_size(arr) + 1, sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, v)
    {
        if (!json_is_object(v))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter 'datasets': expected objects with "
                                "'dataset_name' and 'dataset_digest'");
        rc = kiln_json_get_str(v, "dataset_name", KILN_JSON_OPTIONAL, &(*out)[i].name, err);
        if (rc == KILN_OK)
            rc = kiln_json_get_str(v, "dataset_digest", KILN_JSON_OPTIONAL, &(*out)[i].digest, err);
        if (rc != KILN_OK)
            return rc;
        (*n)++;
    }
    return KILN_OK;
}

static int read_order_by(struct kiln_http_req *req, const json_t *doc,
                         struct kiln_logged_model_order **out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *v;
    size_t i;
    int rc = kiln_json_get_array(doc, "order_by", KILN_JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL)
        return rc;
    *out = kiln_arena_calloc(req->arena, json_array_size(arr) + 1, sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, v)
    {
        struct kiln_logged_model_order *o = &(*out)[i];
        int present = 0;
        if (!json_is_object(v))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter 'order_by': expected objects with "
                                "'field_name' and 'ascending'");
        rc = kiln_json_get_str(v, "field_name", KILN_JSON_REQUIRED, &o->field, err);
        if (rc == KILN_OK)
            rc = kiln_json_get_bool(v, "ascending", KILN_JSON_OPTIONAL, &o->ascending, &present,
                                    err);
        if (rc == KILN_OK && !present)
            o->ascending = 1; /* the proto's default */
        if (rc == KILN_OK)
            rc = kiln_json_get_str(v, "dataset_name", KILN_JSON_OPTIONAL, &o->dataset_name, err);
        if (rc == KILN_OK)
            rc =
                kiln_json_get_str(v, "dataset_digest", KILN_JSON_OPTIONAL, &o->dataset_digest, err);
        if (rc != KILN_OK)
            return rc;
        (*n)++;
    }
    return KILN_OK;
}

static int h_search(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_logged_model_search s;
    struct kiln_logged_model_dataset *datasets;
    struct kiln_logged_model_order *order;
    struct kiln_logged_model **models;
    struct kiln_jsonw w;
    int64_t *ids;
    const char *next;
    size_t n = 0;
    json_t *doc;
    int rc;

    memset(&s, 0, sizeof(s));
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = read_experiment_ids(req, doc, &ids, &s.nexperiments, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "filter", KILN_JSON_OPTIONAL, &s.filter, err);
    if (rc == KILN_OK)
        rc = read_datasets(req, doc, &datasets, &s.ndatasets, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &s.max_results, NULL, err);
    if (rc == KILN_OK)
        rc = read_order_by(req, doc, &order, &s.norder, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &s.page_token, err);
    if (rc != KILN_OK)
        return rc;
    s.experiment_ids = ids;
    s.datasets = datasets;
    s.order = order;
    rc = kiln_logged_model_search(srv->store, req->arena, &s, &models, &n, &next, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (n > 0) {
        kiln_jsonw_key(&w, "models");
        kiln_jsonw_arr_begin(&w);
        for (size_t i = 0; i < n; i++)
            kiln_mlflow_write_logged_model(&w, models[i]);
        kiln_jsonw_arr_end(&w);
    }
    if (next != NULL)
        kiln_jsonw_kv_str(&w, "next_page_token", next);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static const struct kiln_api_route routes[] = {
    { "POST", "/logged-models", h_create },
    { "POST", "/logged-models/search", h_search },
    { "GET", "/logged-models/{model_id}", h_get },
    { "PATCH", "/logged-models/{model_id}", h_finalize },
    { "DELETE", "/logged-models/{model_id}", h_delete },
    { "PATCH", "/logged-models/{model_id}/tags", h_set_tags },
    { "DELETE", "/logged-models/{model_id}/tags/{tag_key*}", h_delete_tag },
    { "POST", "/logged-models/{model_id}/params", h_log_params },
    { "GET", "/logged-models/{model_id}/artifacts/directories", h_list_artifacts },
};

int kiln_api_mlflow_logged_models_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

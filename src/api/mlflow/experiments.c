/*
 * experiments.c - MLflow REST handlers for experiments (mlflow-api.md §4.1).
 */
#include <stdio.h>
#include <string.h>

#include "api/mlflow/mlflow.h"

/* Reads the optional `tags` array of {key, value} objects into arena memory. */
static int read_tags(struct kiln_http_req *req, const json_t *doc, struct kiln_kv **out, size_t *n,
                     struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, "tags", KILN_JSON_OPTIONAL, &arr, err);
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
                                "Invalid value for parameter 'tags': "
                                "expected objects with 'key' and 'value'");
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

static int h_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_jsonw w;
    json_t *doc;
    const char *name, *location;
    struct kiln_kv *tags;
    size_t ntags;
    int64_t id;
    char idbuf[24];
    int rc;

    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "artifact_location", KILN_JSON_OPTIONAL, &location, err);
    if (rc == KILN_OK)
        rc = read_tags(req, doc, &tags, &ntags, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_create(srv->store, name, location, tags, ntags,
                                    srv->default_artifact_root, &id, err);
    if (rc != KILN_OK)
        return rc;
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "experiment_id", idbuf);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int respond_experiment(struct kiln_http_resp *resp, const struct kiln_experiment *e,
                              struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "experiment");
    kiln_mlflow_write_experiment(&w, e);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_experiment *e;
    json_t *doc;
    const char *id_str;
    int64_t id;
    int rc;

    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "experiment_id", KILN_JSON_REQUIRED, &id_str, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_parse_id(id_str, "experiment_id", &id, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_get(srv->store, req->arena, id, &e, err);
    if (rc != KILN_OK)
        return rc;
    return respond_experiment(resp, e, err);
}

static int h_get_by_name(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                         struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_experiment *e;
    json_t *doc;
    const char *name;
    int rc;

    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "experiment_name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_get_by_name(srv->store, req->arena, name, &e, err);
    if (rc != KILN_OK)
        return rc;
    return respond_experiment(resp, e, err);
}

static const struct kiln_api_route routes[] = {
    { "POST", "/experiments/create", h_create },
    { "GET", "/experiments/get", h_get },
    { "GET", "/experiments/get-by-name", h_get_by_name },
};

int kiln_api_mlflow_experiments_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

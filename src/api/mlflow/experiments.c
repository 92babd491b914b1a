/*
 * experiments.c - MLflow REST handlers for experiments (mlflow-api.md §4.1): create, get,
 * get-by-name, search (POST and GET), update (rename), delete, restore, set-experiment-tag and
 * delete-experiment-tag.
 *
 * Handlers read the request message (kiln_api_read), check types and required fields, and
 * call the tracking layer, which owns validation and semantics. Errors travel back as kiln
 * codes with MLflow's messages; the router renders them.
 */
#include <stdio.h>
#include <string.h>

#include "api/mlflow/mlflow.h"

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
        rc = kiln_mlflow_read_kv(req, doc, "tags", &tags, &ntags, err);
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

/* Reads the request and its required experiment_id. */
static int read_with_id(struct kiln_http_req *req, json_t **doc, int64_t *id, struct kiln_err *err)
{
    int present;
    int rc = kiln_api_read(req, NULL, doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_experiment_id(*doc, "experiment_id", KILN_JSON_REQUIRED, id, &present,
                                           err);
    return rc;
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_experiment *e;
    json_t *doc;
    int64_t id;
    int rc = read_with_id(req, &doc, &id, err);
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

static int h_update(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *doc;
    const char *name;
    int64_t id;
    int rc = read_with_id(req, &doc, &id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "new_name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_rename(srv->store, id, name, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *doc;
    int64_t id;
    int rc = read_with_id(req, &doc, &id, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_delete(srv->store, id, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_restore(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *doc;
    int64_t id;
    int rc = read_with_id(req, &doc, &id, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_restore(srv->store, id, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_set_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *doc;
    const char *key, *value;
    int64_t id;
    int rc = read_with_id(req, &doc, &id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "value", KILN_JSON_OPTIONAL, &value, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_set_tag(srv->store, id, key, value, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_delete_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *doc;
    const char *key;
    int64_t id;
    int rc = read_with_id(req, &doc, &id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_delete_tag(srv->store, id, key, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_search(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    static const char *const arrays[] = { "order_by", NULL };
    struct kiln_server *srv = app;
    struct kiln_experiment_query q;
    struct kiln_experiment_page page;
    struct kiln_jsonw w;
    const char **order_by = NULL;
    json_t *doc;
    int rc;

    memset(&q, 0, sizeof(q));
    rc = kiln_api_read(req, arrays, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &q.max_results, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "filter", KILN_JSON_OPTIONAL, &q.filter, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &q.page_token, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_strings(req, doc, "order_by", &order_by, &q.norder_by, err);
    q.order_by = order_by;
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_view_type(doc, "view_type", &q.view_type, err);
    if (rc == KILN_OK)
        rc = kiln_experiment_search(srv->store, req->arena, &q, &page, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (page.n > 0) {
        kiln_jsonw_key(&w, "experiments");
        kiln_jsonw_arr_begin(&w);
        for (size_t i = 0; i < page.n; i++)
            kiln_mlflow_write_experiment(&w, &page.items[i]);
        kiln_jsonw_arr_end(&w);
    }
    if (page.next_page_token != NULL)
        kiln_jsonw_kv_str(&w, "next_page_token", page.next_page_token);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static const struct kiln_api_route routes[] = {
    { "POST", "/experiments/create", h_create },
    { "GET", "/experiments/get", h_get },
    { "GET", "/experiments/get-by-name", h_get_by_name },
    { "POST", "/experiments/search", h_search },
    { "GET", "/experiments/search", h_search },
    { "POST", "/experiments/update", h_update },
    { "POST", "/experiments/delete", h_delete },
    { "POST", "/experiments/restore", h_restore },
    { "POST", "/experiments/set-experiment-tag", h_set_tag },
    { "POST", "/experiments/delete-experiment-tag", h_delete_tag },
};

int kiln_api_mlflow_experiments_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

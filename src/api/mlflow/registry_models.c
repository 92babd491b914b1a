/*
 * registry_models.c - MLflow REST handlers for registered models and aliases
 * (mlflow-api.md §4.5): create, get, rename, update, delete, search, get-latest-versions,
 * set-tag, delete-tag, alias set/delete/get. DELETE and PATCH carry JSON bodies, GET reads the
 * query string (kiln_api_read).
 */
#include <string.h>

#include "api/registry_api.h"

static const char *const search_arrays[] = { "order_by", NULL };
static const char *const stage_arrays[] = { "stages", NULL };

static int respond_model(struct kiln_http_resp *resp, const struct kiln_registered_model *m,
                         struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "registered_model");
    kiln_regapi_write_model(&w, m);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/* Reads the request and its required `name`. */
static int read_named(struct kiln_http_req *req, const char *const *arrays, json_t **doc,
                      const char **name, struct kiln_err *err)
{
    int rc = kiln_api_read(req, arrays, doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(*doc, "name", KILN_JSON_REQUIRED, name, err);
    return rc;
}

static int h_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registered_model *m;
    struct kiln_kv *tags;
    size_t ntags;
    const char *name, *desc;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "description", KILN_JSON_OPTIONAL, &desc, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_tags(req, doc, &tags, &ntags, err);
    if (rc == KILN_OK)
        rc = kiln_rm_create(srv->registry, req->arena, name, tags, ntags, desc,
                            kiln_regapi_user(req, doc), &m, err);
    return rc == KILN_OK ? respond_model(resp, m, err) : rc;
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registered_model *m;
    const char *name;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_rm_get(srv->registry, req->arena, name, &m, err);
    return rc == KILN_OK ? respond_model(resp, m, err) : rc;
}

static int h_rename(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registered_model *m;
    const char *name, *new_name;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "new_name", KILN_JSON_REQUIRED, &new_name, err);
    if (rc == KILN_OK)
        rc = kiln_rm_rename(srv->registry, req->arena, name, new_name, &m, err);
    return rc == KILN_OK ? respond_model(resp, m, err) : rc;
}

static int h_update(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registered_model *m;
    const char *name, *desc;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "description", KILN_JSON_OPTIONAL, &desc, err);
    if (rc == KILN_OK)
        rc = kiln_rm_update(srv->registry, req->arena, name, desc != NULL ? desc : "", &m, err);
    return rc == KILN_OK ? respond_model(resp, m, err) : rc;
}

static int h_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_rm_delete(srv->registry, name, kiln_regapi_user(req, doc), err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

/* Reads filter, max_results, order_by[] and page_token. */
static int read_search(struct kiln_http_req *req, json_t **doc, struct kiln_registry_search *q,
                       struct kiln_err *err)
{
    const char **order = NULL;
    size_t norder = 0;
    int rc = kiln_api_read(req, search_arrays, doc, err);
    memset(q, 0, sizeof(*q));
    if (rc == KILN_OK)
        rc = kiln_json_get_str(*doc, "filter", KILN_JSON_OPTIONAL, &q->filter, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(*doc, "max_results", KILN_JSON_OPTIONAL, &q->max_results, NULL,
                                 err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(*doc, "page_token", KILN_JSON_OPTIONAL, &q->page_token, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_strings(req, *doc, "order_by", &order, &norder, err);
    q->order_by = order;
    q->norder_by = norder;
    if (rc == KILN_OK && q->max_results == 0 && json_object_get(*doc, "max_results") != NULL)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid value for max_results. It must be a positive integer, but got "
                          "0");
    return rc;
}

static int h_search(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registered_model *ms;
    struct kiln_registry_search q;
    struct kiln_jsonw w;
    const char *next;
    size_t n;
    json_t *doc;
    int rc = read_search(req, &doc, &q, err);
    if (rc == KILN_OK)
        rc = kiln_rm_search(srv->registry, req->arena, &q, &ms, &n, &next, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (n > 0) {
        kiln_jsonw_key(&w, "registered_models");
        kiln_jsonw_arr_begin(&w);
        for (size_t i = 0; i < n; i++)
            kiln_regapi_write_model(&w, &ms[i]);
        kiln_jsonw_arr_end(&w);
    }
    if (next != NULL)
        kiln_jsonw_kv_str(&w, "next_page_token", next);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_latest(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_model_version *vs;
    const char **stages;
    const char *name;
    size_t nstages, n;
    struct kiln_jsonw w;
    json_t *doc;
    int rc = read_named(req, stage_arrays, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_strings(req, doc, "stages", &stages, &nstages, err);
    if (rc == KILN_OK)
        rc =
            kiln_rm_latest_versions(srv->registry, req->arena, name, stages, nstages, &vs, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (n > 0) {
        kiln_jsonw_key(&w, "model_versions");
        kiln_jsonw_arr_begin(&w);
        for (size_t i = 0; i < n; i++)
            kiln_regapi_write_version(&w, &vs[i], 1);
        kiln_jsonw_arr_end(&w);
    }
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_set_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *key, *value;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "value", KILN_JSON_OPTIONAL, &value, err);
    if (rc == KILN_OK)
        rc = kiln_rm_set_tag(srv->registry, name, key, value != NULL ? value : "", err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_delete_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *key;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_rm_delete_tag(srv->registry, name, key, err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_alias_set(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *alias;
    int64_t version;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "alias", KILN_JSON_REQUIRED, &alias, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_version(doc, "version", 1, &version, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_alias_set(srv->registry, name, alias, version, kiln_regapi_user(req, doc), err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_alias_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                          struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *alias;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "alias", KILN_JSON_REQUIRED, &alias, err);
    if (rc == KILN_OK)
        rc = kiln_alias_delete(srv->registry, name, alias, kiln_regapi_user(req, doc), err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_alias_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_model_version *v;
    const char *name, *alias;
    struct kiln_jsonw w;
    json_t *doc;
    int rc = read_named(req, NULL, &doc, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "alias", KILN_JSON_REQUIRED, &alias, err);
    if (rc == KILN_OK)
        rc = kiln_alias_get(srv->registry, req->arena, name, alias, &v, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "model_version");
    kiln_regapi_write_version(&w, v, 1);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static const struct kiln_api_route routes[] = {
    { "POST", "/registered-models/create", h_create },
    { "GET", "/registered-models/get", h_get },
    { "POST", "/registered-models/rename", h_rename },
    { "PATCH", "/registered-models/update", h_update },
    { "DELETE", "/registered-models/delete", h_delete },
    { "GET", "/registered-models/search", h_search },
    { "POST", "/registered-models/get-latest-versions", h_latest },
    { "GET", "/registered-models/get-latest-versions", h_latest },
    { "POST", "/registered-models/set-tag", h_set_tag },
    { "DELETE", "/registered-models/delete-tag", h_delete_tag },
    { "POST", "/registered-models/alias", h_alias_set },
    { "DELETE", "/registered-models/alias", h_alias_delete },
    { "GET", "/registered-models/alias", h_alias_get },
};

int kiln_api_mlflow_registry_model_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

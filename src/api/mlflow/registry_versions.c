/*
 * registry_versions.c - MLflow REST handlers for model versions (mlflow-api.md §4.5): create,
 * get, update, delete, search, set-tag, delete-tag, transition-stage, get-download-uri.
 * Versions travel as strings ("3"); status is READY at creation.
 */
#include <string.h>

#include "api/registry_api.h"

static const char *const search_arrays[] = { "order_by", NULL };

static int respond_version(struct kiln_http_resp *resp, const struct kiln_model_version *v,
                           struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "model_version");
    kiln_regapi_write_version(&w, v, 1);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/* Reads the request, its `name` and its `version`. */
static int read_version(struct kiln_http_req *req, json_t **doc, const char **name,
                        int64_t *version, struct kiln_err *err)
{
    int rc = kiln_api_read(req, NULL, doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(*doc, "name", KILN_JSON_REQUIRED, name, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_version(*doc, "version", 1, version, NULL, err);
    return rc;
}

static int h_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_mv_create_args a;
    struct kiln_model_version *v;
    struct kiln_kv *tags = NULL;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);

    memset(&a, 0, sizeof(a));
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &a.name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "source", KILN_JSON_REQUIRED, &a.source, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_id", KILN_JSON_OPTIONAL, &a.run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_link", KILN_JSON_OPTIONAL, &a.run_link, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "description", KILN_JSON_OPTIONAL, &a.description, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "model_id", KILN_JSON_OPTIONAL, &a.model_id, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_tags(req, doc, &tags, &a.ntags, err);
    a.tags = tags;
    if (rc == KILN_OK) {
        a.user = kiln_regapi_user(req, doc);
        if (*a.user == '\0')
            a.user = NULL;
        if (a.run_link != NULL && *a.run_link == '\0')
            a.run_link = NULL;
        if (a.model_id != NULL && *a.model_id == '\0')
            a.model_id = NULL;
        rc = kiln_mv_create(srv->registry, req->arena, &a, &v, err);
    }
    return rc == KILN_OK ? respond_version(resp, v, err) : rc;
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_model_version *v;
    const char *name;
    int64_t version;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_mv_get(srv->registry, req->arena, name, version, &v, err);
    return rc == KILN_OK ? respond_version(resp, v, err) : rc;
}

static int h_update(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_model_version *v;
    const char *name, *desc;
    int64_t version;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "description", KILN_JSON_OPTIONAL, &desc, err);
    if (rc == KILN_OK)
        rc = kiln_mv_update(srv->registry, req->arena, name, version, desc != NULL ? desc : "", &v,
                            err);
    return rc == KILN_OK ? respond_version(resp, v, err) : rc;
}

static int h_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name;
    int64_t version;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_mv_delete(srv->registry, name, version, kiln_regapi_user(req, doc), err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_transition(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_model_version *v;
    const char *name, *stage;
    int64_t version;
    int archive = 0;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "stage", KILN_JSON_REQUIRED, &stage, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_bool(doc, "archive_existing_versions", KILN_JSON_REQUIRED, &archive,
                                NULL, err);
    if (rc == KILN_OK)
        rc = kiln_mv_transition_stage(srv->registry, req->arena, name, version, stage, archive, &v,
                                      err);
    return rc == KILN_OK ? respond_version(resp, v, err) : rc;
}

static int h_search(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registry_search q;
    struct kiln_model_version *vs;
    struct kiln_jsonw w;
    const char **order = NULL;
    const char *next;
    size_t n, norder = 0;
    json_t *doc;
    int present = 0;
    int rc = kiln_api_read(req, search_arrays, &doc, err);

    memset(&q, 0, sizeof(q));
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "filter", KILN_JSON_OPTIONAL, &q.filter, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &q.max_results, &present,
                                 err);
    if (rc == KILN_OK && present && q.max_results == 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid value for max_results. It must be a positive integer, but got "
                          "0");
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &q.page_token, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_strings(req, doc, "order_by", &order, &norder, err);
    q.order_by = order;
    q.norder_by = norder;
    if (rc == KILN_OK)
        rc = kiln_mv_search(srv->registry, req->arena, &q, &vs, &n, &next, err);
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
    if (next != NULL)
        kiln_jsonw_kv_str(&w, "next_page_token", next);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_download_uri(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                          struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *uri;
    struct kiln_jsonw w;
    int64_t version;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_mv_download_uri(srv->registry, req->arena, name, version, &uri, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "artifact_uri", uri);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_set_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *key, *value;
    int64_t version;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "value", KILN_JSON_OPTIONAL, &value, err);
    if (rc == KILN_OK)
        rc = kiln_mv_set_tag(srv->registry, name, version, key, value != NULL ? value : "", err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_delete_tag(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *key;
    int64_t version;
    json_t *doc;
    int rc = read_version(req, &doc, &name, &version, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_mv_delete_tag(srv->registry, name, version, key, err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static const struct kiln_api_route routes[] = {
    { "POST", "/model-versions/create", h_create },
    { "GET", "/model-versions/get", h_get },
    { "PATCH", "/model-versions/update", h_update },
    { "DELETE", "/model-versions/delete", h_delete },
    { "POST", "/model-versions/transition-stage", h_transition },
    { "GET", "/model-versions/search", h_search },
    { "GET", "/model-versions/get-download-uri", h_download_uri },
    { "POST", "/model-versions/set-tag", h_set_tag },
    { "DELETE", "/model-versions/delete-tag", h_delete_tag },
};

int kiln_api_mlflow_registry_version_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

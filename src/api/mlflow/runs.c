/*
 * runs.c - MLflow REST handlers for the run lifecycle and search (mlflow-api.md §4.2): create,
 * get, update, delete, restore, search (POST and GET).
 *
 * Requests carry the run as run_id or run_uuid (the client sends both); responses carry both.
 */
#include <stdio.h>
#include <string.h>

#include "api/mlflow/mlflow.h"

static int respond_run(struct kiln_http_resp *resp, const struct kiln_run *run,
                       struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "run");
    kiln_mlflow_write_run(&w, run);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_run_create_req c;
    struct kiln_kv *tags = NULL;
    struct kiln_run *run;
    json_t *doc;
    int present = 0, rc;

    memset(&c, 0, sizeof(c));
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_experiment_id(doc, "experiment_id", KILN_JSON_OPTIONAL,
                                           &c.experiment_id, &present, err);
    if (rc == KILN_OK && !present)
        c.experiment_id = KILN_DEFAULT_EXPERIMENT_ID;
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "user_id", KILN_JSON_OPTIONAL, &c.user_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_name", KILN_JSON_OPTIONAL, &c.run_name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "start_time", KILN_JSON_OPTIONAL, &c.start_time,
                                 &c.has_start_time, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_kv(req, doc, "tags", &tags, &c.ntags, err);
    c.tags = tags;
    if (rc == KILN_OK)
        rc = kiln_run_create(srv->store, req->arena, &c, &run, err);
    if (rc != KILN_OK)
        return rc;
    return respond_run(resp, run, err);
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_run *run;
    const char *run_id;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_run_get(srv->store, req->arena, run_id, &run, err);
    if (rc != KILN_OK)
        return rc;
    return respond_run(resp, run, err);
}

/* RunStatus given by name ("FINISHED") or number (3). */
static int read_status(const json_t *doc, const char **out, struct kiln_err *err)
{
    json_t *v = json_object_get(doc, "status");
    char num[24];
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        *out = kiln_run_status_canonical(num);
    } else if (json_is_string(v)) {
        *out = kiln_run_status_canonical(json_string_value(v));
    }
    if (*out == NULL)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for parameter 'status': expected one of RUNNING, "
                            "SCHEDULED, FINISHED, FAILED, KILLED");
    return KILN_OK;
}

static int h_update(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_run_update_req u;
    struct kiln_run_info *info;
    struct kiln_jsonw w;
    const char *run_id;
    json_t *doc;
    int rc;

    memset(&u, 0, sizeof(u));
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = read_status(doc, &u.status, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "end_time", KILN_JSON_OPTIONAL, &u.end_time, &u.has_end_time,
                                 err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_name", KILN_JSON_OPTIONAL, &u.run_name, err);
    if (rc == KILN_OK)
        rc = kiln_run_update(srv->store, req->arena, run_id, &u, &info, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "run_info");
    kiln_mlflow_write_run_info(&w, info);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_run_delete(srv->store, run_id, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

static int h_restore(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_run_restore(srv->store, run_id, err);
    return rc != KILN_OK ? rc : kiln_api_empty(resp);
}

/* experiment_ids as decimal strings -> int64 array in the arena. */
static int read_experiment_ids(struct kiln_http_req *req, const json_t *doc, int64_t **ids,
                               size_t *n, struct kiln_err *err)
{
    const char **s;
    int rc = kiln_mlflow_read_strings(req, doc, "experiment_ids", &s, n, err);
    *ids = NULL;
    if (rc != KILN_OK || *n == 0)
        return rc;
    *ids = kiln_arena_alloc(req->arena, *n * sizeof(**ids));
    if (*ids == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        rc = kiln_experiment_parse_id(s[i], "experiment_ids", &(*ids)[i], err);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int h_search(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    static const char *const arrays[] = { "order_by", "experiment_ids", NULL };
    struct kiln_server *srv = app;
    struct kiln_run_query q;
    struct kiln_run_page page;
    struct kiln_jsonw w;
    const char **order_by = NULL;
    int64_t *ids = NULL;
    json_t *doc;
    int rc;

    memset(&q, 0, sizeof(q));
    rc = kiln_api_read(req, arrays, &doc, err);
    if (rc == KILN_OK)
        rc = read_experiment_ids(req, doc, &ids, &q.nexperiments, err);
    q.experiment_ids = ids;
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "filter", KILN_JSON_OPTIONAL, &q.filter, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_get_view_type(doc, "run_view_type", &q.view_type, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &q.max_results, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_mlflow_read_strings(req, doc, "order_by", &order_by, &q.norder_by, err);
    q.order_by = order_by;
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &q.page_token, err);
    if (rc == KILN_OK)
        rc = kiln_run_search(srv->store, req->arena, &q, &page, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (page.n > 0) {
        kiln_jsonw_key(&w, "runs");
        kiln_jsonw_arr_begin(&w);
        for (size_t i = 0; i < page.n; i++)
            kiln_mlflow_write_run(&w, &page.items[i]);
        kiln_jsonw_arr_end(&w);
    }
    if (page.next_page_token != NULL)
        kiln_jsonw_kv_str(&w, "next_page_token", page.next_page_token);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static const struct kiln_api_route routes[] = {
    { "POST", "/runs/create", h_create },   { "GET", "/runs/get", h_get },
    { "POST", "/runs/update", h_update },   { "POST", "/runs/delete", h_delete },
    { "POST", "/runs/restore", h_restore }, { "POST", "/runs/search", h_search },
    { "GET", "/runs/search", h_search },
};

int kiln_api_mlflow_runs_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

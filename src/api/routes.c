/*
 * routes.c - assembles the control plane's router: /health, /version, every API family, and
 * the fallback that answers unknown API paths with ENDPOINT_NOT_FOUND (the MLflow client
 * relies on that JSON error to fall back to older endpoints).
 */
#include "api/api.h"
#include "kiln_config.h"
#include "deploy/deploy.h"
#include "pipeline/pipeline.h"

static int h_health(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    (void)app;
    (void)req;
    (void)err;
    return kiln_http_resp_text(resp, 200, "text/plain; charset=utf-8", "OK");
}

static int h_version(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    (void)app;
    (void)req;
    (void)err;
    /* MLflow clients gate features on this version; report the API level kiln implements. */
    return kiln_http_resp_text(resp, 200, "text/plain; charset=utf-8", KILN_MLFLOW_COMPAT_VERSION);
}

static int h_not_found(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    (void)app;
    (void)resp;
    return kiln_err_set(err, KILN_ENOENDPOINT, "No API endpoint at %s %s", req->method, req->path);
}

int kiln_api_router_new(struct kiln_server *srv, struct kiln_router **out, struct kiln_err *err)
{
    static const struct kiln_route basics[] = {
        { "GET", "/health", h_health, NULL, 0, NULL },
        { "GET", "/ping", h_health, NULL, 0, NULL },
        { "GET", "/version", h_version, NULL, 0, NULL },
    };
    struct kiln_router *r = kiln_router_new();
    int rc = KILN_OK;
    (void)srv;
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < KILN_ARRAY_LEN(basics) && rc == KILN_OK; i++)
        rc = kiln_router_add(r, &basics[i]);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_experiments_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_runs_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_run_log_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_metrics_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_artifacts_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_logged_models_routes(r);
    if (rc == KILN_OK)
        rc = kiln_pl_api_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_registry_routes(r);
    if (rc == KILN_OK)
        rc = kiln_deploy_api_routes(r);
    if (rc != KILN_OK) {
        kiln_router_free(r);
        return kiln_err_set(err, rc, "cannot build the router: %s", kiln_strerror(rc));
    }
    kiln_router_set_fallback(r, h_not_found);
    *out = r;
    return KILN_OK;
}

/*
 * api_ops.c - the deployment endpoints that act (start, abort, promote) or read history and
 * alerts, and the route table (api.c has the overview of every endpoint).
 */
#include <string.h>

#include "api/api.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "deploy/deploy_int.h"
#include "registry/registry.h"

static int answer(struct kiln_deploy *d, const struct dp_dep *dep, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "deployment");
    dp_view_status(d, dep, &w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/* abort and promote: act on the rollout in progress. */
static int act(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp, int promote,
               struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name"), *reason = NULL, *user;
    char text[2100];
    struct dp_dep *dep;
    json_t *doc;
    int rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "reason", KILN_JSON_OPTIONAL, &reason, err);
    if (rc == KILN_OK && reason != NULL && strlen(reason) > 1000)
        rc = kiln_err_set(err, KILN_EINVAL, "reason: at most 1000 characters");
    if (rc != KILN_OK)
        return rc;
    user = dp_api_who(req, doc);
    snprintf(text, sizeof(text), "%s by %s%s%s", promote ? "promoted by hand" : "aborted",
             *user != '\0' ? user : "an operator", reason != NULL ? ": " : "",
             reason != NULL ? reason : "");
    pthread_mutex_lock(&d->mu);
    dep = dp_find(d, name);
    if (dep == NULL)
        rc = kiln_err_set(err, KILN_ENOENT, "deployment '%s' does not exist", name);
    else if (promote)
        rc = dp_promote(d, dep, text, *user != '\0' ? user : NULL, err);
    else
        rc = dp_rollback(d, dep, "aborted", text, NULL, 0, *user != '\0' ? user : NULL, err);
    if (rc == KILN_OK)
        rc = answer(d, dep, resp, err);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int h_abort(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                   struct kiln_err *err)
{
    return act(app, req, resp, 0, err);
}

static int h_promote(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    return act(app, req, resp, 1, err);
}

/* Moves the candidate alias to a version through the registry (its gates apply). */
static int h_start(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                   struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name"), *reason = NULL;
    char model[1001], env[256], why[1100];
    struct kiln_promotion pr;
    struct dp_dep *dep;
    int64_t version = 0;
    json_t *doc;
    int rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "version", KILN_JSON_REQUIRED, &version, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "reason", KILN_JSON_OPTIONAL, &reason, err);
    if (rc != KILN_OK)
        return rc;
    pthread_mutex_lock(&d->mu);
    dep = dp_find(d, name);
    if (dep == NULL) {
        pthread_mutex_unlock(&d->mu);
        return kiln_err_set(err, KILN_ENOENT, "deployment '%s' does not exist", name);
    }
    if (dep->ro != NULL) {
        pthread_mutex_unlock(&d->mu);
        return kiln_err_set(err, KILN_ESTATE,
                            "deployment '%s' is rolling out v%lld: abort or promote it first", name,
                            (long long)dep->ro->candidate);
    }
    snprintf(model, sizeof(model), "%s", dep->spec->model);
    snprintf(env, sizeof(env), "%s", dep->spec->candidate_env);
    pthread_mutex_unlock(&d->mu);
    snprintf(why, sizeof(why), "deployment %s: candidate%s%s", name, reason != NULL ? ": " : "",
             reason != NULL ? reason : "");
    rc = kiln_promote(srv->registry, req->arena, model, version, env, why, dp_api_who(req, doc), -1,
                      &pr, err);
    if (rc == KILN_ECHECK) {
        /* Refused by the candidate environment's gates: the registry's answer (422). */
        struct kiln_jsonw w;
        kiln_api_json_begin(resp, &w);
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_str(&w, "error_code", "PROMOTION_REFUSED");
        kiln_jsonw_kv_str(&w, "message", kiln_err_msg(err, rc));
        kiln_jsonw_key(&w, "report");
        kiln_gate_report_write(&w, &pr.report);
        kiln_jsonw_obj_end(&w);
        rc = kiln_api_json_end(&w, err);
        resp->status = 422;
        return rc;
    }
    if (rc != KILN_OK)
        return rc;
    dp_kick(d);
    pthread_mutex_lock(&d->mu);
    dep = dp_find(d, name);
    if (dep != NULL) {
        dp_reconcile(d, dep, kiln_now_ms()); /* start the rollout now, not at the next tick */
        rc = answer(d, dep, resp, err);
    } else {
        rc = kiln_err_set(err, KILN_ENOENT, "deployment '%s' does not exist", name);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int h_history(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name"), *ro = kiln_http_query(req, "rollout");
    const char *max = kiln_http_query(req, "max_results");
    int64_t rollout = 0, limit = 100;
    struct kiln_jsonw w;
    int found, rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    if (ro != NULL && (kiln_parse_int64(ro, strlen(ro), &rollout) != KILN_OK || rollout < 1))
        return kiln_err_set(err, KILN_EINVAL, "rollout: expected a rollout id, not '%s'", ro);
    if (max != NULL &&
        (kiln_parse_int64(max, strlen(max), &limit) != KILN_OK || limit < 1 || limit > 10000))
        return kiln_err_set(err, KILN_EINVAL, "max_results must be between 1 and 10000");
    pthread_mutex_lock(&d->mu);
    found = dp_find(d, name) != NULL;
    pthread_mutex_unlock(&d->mu);
    if (!found)
        return kiln_err_set(err, KILN_ENOENT, "deployment '%s' does not exist", name);
    kiln_api_json_begin(resp, &w);
    rc = dp_view_history(d, name, rollout, limit, &w, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_json_end(&w, err);
}

static int alerts(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  const char *name, struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *state = kiln_http_query(req, "state"), *max = kiln_http_query(req, "max_results");
    int64_t limit = 100;
    struct kiln_jsonw w;
    int rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    if (state != NULL && strcmp(state, "firing") != 0 && strcmp(state, "all") != 0)
        return kiln_err_set(err, KILN_EINVAL, "state must be firing or all, not '%s'", state);
    if (max != NULL &&
        (kiln_parse_int64(max, strlen(max), &limit) != KILN_OK || limit < 1 || limit > 10000))
        return kiln_err_set(err, KILN_EINVAL, "max_results must be between 1 and 10000");
    if (name != NULL) {
        pthread_mutex_lock(&d->mu);
        rc = dp_find(d, name) != NULL;
        pthread_mutex_unlock(&d->mu);
        if (!rc)
            return kiln_err_set(err, KILN_ENOENT, "deployment '%s' does not exist", name);
    }
    kiln_api_json_begin(resp, &w);
    rc = dp_view_alerts(d, name, state != NULL && strcmp(state, "firing") == 0, limit, &w, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_json_end(&w, err);
}

static int h_alerts(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    return alerts(app, req, resp, kiln_http_param(req, "name"), err);
}

static int h_all_alerts(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    return alerts(app, req, resp, NULL, err);
}

int kiln_deploy_api_routes(struct kiln_router *r)
{
    static const struct kiln_api_route routes[] = {
        { "POST", "/deployments", dp_api_apply },
        { "GET", "/deployments", dp_api_list },
        { "GET", "/deployments/{name}", dp_api_get },
        { "DELETE", "/deployments/{name}", dp_api_delete },
        { "GET", "/deployments/{name}/plan", dp_api_plan },
        { "POST", "/deployments/{name}/reports", dp_api_report },
        { "POST", "/deployments/{name}/feedback", dp_api_feedback },
        { "POST", "/deployments/{name}/start", h_start },
        { "POST", "/deployments/{name}/abort", h_abort },
        { "POST", "/deployments/{name}/promote", h_promote },
        { "GET", "/deployments/{name}/history", h_history },
        { "GET", "/deployments/{name}/alerts", h_alerts },
        { "GET", "/alerts", h_all_alerts },
    };
    return kiln_api_add_kiln(r, routes, KILN_ARRAY_LEN(routes));
}

/*
 * registry_models.c - kiln's native registry API under /api/kiln/v1 (docs/registry.md):
 *
 *   GET  /models/resolve?uri=             model URI -> version and artifact location
 *   GET  /models/lineage?uri=             run, params, metrics, tags, datasets, evaluations
 *   POST /models/evaluations              record an evaluation of a version
 *   GET  /models/evaluations?name=[&version=&dataset=]
 *   POST /models/promote                  gated promotion into an environment
 *   POST /models/rollback                 one-step (or --to) rollback, no gates
 *   GET  /models/history?name=[&environment=&max_results=]
 *   GET  /models/policy?name=             policy YAML, parsed policy, environments now
 *   POST /models/policy                   {name, yaml}
 *
 * A refused promotion answers HTTP 422 with error_code PROMOTION_REFUSED and the gate report
 * in the body; a concurrent change answers 409 RESOURCE_CONFLICT; both change nothing.
 */
#include <stdio.h>
#include <string.h>

#include "api/registry_api.h"
#include "core/str.h"

static int h_resolve(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_resolved_model r;
    struct kiln_jsonw w;
    const char *uri;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "uri", KILN_JSON_REQUIRED, &uri, err);
    if (rc == KILN_OK)
        rc = kiln_registry_resolve(srv->registry, req->arena, uri, &r, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "uri", r.uri);
    if (r.name != NULL)
        kiln_jsonw_kv_str(&w, "name", r.name);
    if (r.version > 0) {
        kiln_jsonw_key(&w, "version");
        kiln_regapi_write_vnum(&w, r.version);
    }
    if (r.alias != NULL)
        kiln_jsonw_kv_str(&w, "alias", r.alias);
    if (r.model_id != NULL)
        kiln_jsonw_kv_str(&w, "model_id", r.model_id);
    if (r.run_id != NULL)
        kiln_jsonw_kv_str(&w, "run_id", r.run_id);
    kiln_jsonw_kv_str(&w, "artifact_uri", r.artifact_uri);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static void write_map(struct kiln_jsonw *w, const char *key, const struct kiln_kv *kv, size_t n)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++)
        kiln_jsonw_kv_str(w, kv[i].key, kv[i].value);
    kiln_jsonw_obj_end(w);
}

static void write_run(struct kiln_jsonw *w, const char *key, const struct kiln_lineage_run *r)
{
    char exp[24];
    kiln_jsonw_key(w, key);
    if (!r->found) {
        kiln_jsonw_null(w);
        return;
    }
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "run_id", r->run_id);
    kiln_jsonw_kv_str(w, "run_name", r->run_name != NULL ? r->run_name : "");
    snprintf(exp, sizeof(exp), "%lld", (long long)r->experiment_id);
    kiln_jsonw_kv_str(w, "experiment_id", exp);
    kiln_jsonw_kv_str(w, "user_id", r->user_id != NULL ? r->user_id : "");
    kiln_jsonw_kv_str(w, "status", r->status != NULL ? r->status : "");
    if (r->start_time >= 0)
        kiln_jsonw_kv_int(w, "start_time", r->start_time);
    if (r->end_time >= 0)
        kiln_jsonw_kv_int(w, "end_time", r->end_time);
    kiln_jsonw_kv_str(w, "artifact_uri", r->artifact_uri != NULL ? r->artifact_uri : "");
    kiln_jsonw_kv_str(w, "lifecycle_stage", r->lifecycle_stage != NULL ? r->lifecycle_stage : "");
    write_map(w, "params", r->params, r->nparams);
    kiln_jsonw_key(w, "metrics");
    kiln_jsonw_obj_begin(w);
    for (size_t i = 0; i < r->nmetrics; i++)
        kiln_jsonw_kv_double(w, r->metrics[i].key, r->metrics[i].value);
    kiln_jsonw_obj_end(w);
    write_map(w, "tags", r->tags, r->ntags);
    kiln_jsonw_key(w, "datasets");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->ndatasets; i++) {
        const struct kiln_lineage_dataset *d = &r->datasets[i];
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "name", d->name);
        kiln_jsonw_kv_str(w, "digest", d->digest);
        kiln_jsonw_kv_str(w, "source_type", d->source_type);
        kiln_jsonw_kv_str(w, "source", d->source);
        if (d->context != NULL)
            kiln_jsonw_kv_str(w, "context", d->context);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

static int h_lineage(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_lineage l;
    struct kiln_jsonw w;
    const char *uri;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "uri", KILN_JSON_REQUIRED, &uri, err);
    if (rc == KILN_OK)
        rc = kiln_lineage_get(srv->registry, req->arena, uri, &l, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "uri", l.resolved.uri);
    kiln_jsonw_kv_str(&w, "artifact_uri", l.resolved.artifact_uri);
    if (l.version != NULL) {
        kiln_jsonw_key(&w, "model_version");
        kiln_regapi_write_version(&w, l.version, 1);
    }
    if (l.resolved.model_id != NULL) {
        kiln_jsonw_key(&w, "logged_model");
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_str(&w, "model_id", l.resolved.model_id);
        if (l.logged_model_name != NULL)
            kiln_jsonw_kv_str(&w, "name", l.logged_model_name);
        if (l.logged_model_uri != NULL)
            kiln_jsonw_kv_str(&w, "artifact_uri", l.logged_model_uri);
        kiln_jsonw_obj_end(&w);
    }
    write_run(&w, "run", &l.run);
    write_run(&w, "parent_run", &l.parent);
    kiln_jsonw_key(&w, "evaluations");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < l.nevaluations; i++)
        kiln_eval_write(&w, &l.evaluations[i]);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_eval_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                         struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_evaluation e;
    struct kiln_jsonw w;
    const char *name;
    int64_t version, id = 0;
    int replaced = 0;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_version(doc, "version", 1, &version, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_eval_read(doc, req->arena, &e, err);
    if (rc == KILN_OK) {
        e.name = name;
        e.version = version;
        rc = kiln_eval_create(srv->registry, &e, kiln_regapi_user(req, doc), &id, &replaced, err);
    }
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "evaluation_id", id);
    kiln_jsonw_kv_bool(&w, "replaced", replaced);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_eval_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_evaluation *es;
    struct kiln_jsonw w;
    const char *name, *dataset;
    int64_t version = 0;
    size_t n;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_version(doc, "version", 0, &version, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "dataset", KILN_JSON_OPTIONAL, &dataset, err);
    if (rc == KILN_OK)
        rc = kiln_eval_list(srv->registry, req->arena, name, version, dataset, &es, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "evaluations");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        kiln_eval_write(&w, &es[i]);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/* expected_version: absent -1 (what the gates saw), "none"/0 empty, N a version. */
static int read_expected(const json_t *doc, int64_t *expected, struct kiln_err *err)
{
    const json_t *v = json_object_get(doc, "expected_version");
    int present = 0, rc;
    *expected = -1;
    if (v == NULL)
        return KILN_OK;
    if (json_is_null(v) || (json_is_string(v) && kiln_cstr_ieq(json_string_value(v), "none"))) {
        *expected = 0;
        return KILN_OK;
    }
    rc = kiln_regapi_version(doc, "expected_version", 0, expected, &present, err);
    if (rc == KILN_OK && present && *expected < 0)
        rc = kiln_err_set(err, KILN_EINVAL, "expected_version must be a version or \"none\"");
    return rc;
}

static void write_promotion(struct kiln_jsonw *w, const struct kiln_promotion *p, int report)
{
    kiln_jsonw_kv_bool(w, "moved", p->moved);
    kiln_jsonw_key(w, "from_version");
    kiln_regapi_write_vnum(w, p->from_version);
    kiln_jsonw_key(w, "to_version");
    kiln_regapi_write_vnum(w, p->to_version);
    if (p->move_id > 0)
        kiln_jsonw_kv_int(w, "move_id", p->move_id);
    if (p->event_id > 0)
        kiln_jsonw_kv_int(w, "event_id", p->event_id);
    if (report) {
        kiln_jsonw_key(w, "report");
        kiln_gate_report_write(w, &p->report);
    }
}

static int h_promote(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_promotion p;
    struct kiln_jsonw w;
    const char *name, *env, *reason;
    int64_t version, expected;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_version(doc, "version", 1, &version, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "environment", KILN_JSON_REQUIRED, &env, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "reason", KILN_JSON_OPTIONAL, &reason, err);
    if (rc == KILN_OK)
        rc = read_expected(doc, &expected, err);
    if (rc == KILN_OK)
        rc = kiln_promote(srv->registry, req->arena, name, version, env, reason,
                          kiln_regapi_user(req, doc), expected, &p, err);
    if (rc != KILN_OK && rc != KILN_ECHECK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (rc == KILN_ECHECK) {
        kiln_jsonw_kv_str(&w, "error_code", "PROMOTION_REFUSED");
        kiln_jsonw_kv_str(&w, "message", kiln_err_msg(err, rc));
    }
    write_promotion(&w, &p, 1);
    kiln_jsonw_obj_end(&w);
    rc = kiln_api_json_end(&w, err);
    if (rc == KILN_OK && !p.report.passed)
        resp->status = 422;
    return rc;
}

static int h_rollback(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                      struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_promotion p;
    struct kiln_jsonw w;
    const char *name, *env, *reason;
    int64_t to = 0, expected;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "environment", KILN_JSON_REQUIRED, &env, err);
    if (rc == KILN_OK)
        rc = kiln_regapi_version(doc, "to_version", 0, &to, NULL, err);
    if (rc == KILN_OK && to < 0)
        rc = kiln_err_set(err, KILN_EINVAL, "to_version must be a version number");
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "reason", KILN_JSON_OPTIONAL, &reason, err);
    if (rc == KILN_OK)
        rc = read_expected(doc, &expected, err);
    if (rc == KILN_OK)
        rc = kiln_rollback(srv->registry, req->arena, name, env, to, reason,
                           kiln_regapi_user(req, doc), expected, &p, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    write_promotion(&w, &p, 0);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_history(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_alias_move *moves;
    struct kiln_jsonw w;
    const char *name, *env;
    int64_t limit = 0;
    size_t n;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "environment", KILN_JSON_OPTIONAL, &env, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &limit, NULL, err);
    if (rc == KILN_OK && (limit < 0 || limit > 100000))
        rc = kiln_err_set(err, KILN_EINVAL, "max_results must be between 1 and 100000");
    if (rc == KILN_OK)
        rc = kiln_history(srv->registry, req->arena, name, env, limit, &moves, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "moves");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const struct kiln_alias_move *m = &moves[i];
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_int(&w, "id", m->id);
        kiln_jsonw_kv_int(&w, "time", m->time);
        kiln_jsonw_kv_str(&w, "user", m->user_id != NULL ? m->user_id : "");
        kiln_jsonw_kv_str(&w, "environment", m->alias);
        kiln_jsonw_kv_str(&w, "action", m->action);
        kiln_jsonw_key(&w, "from_version");
        kiln_regapi_write_vnum(&w, m->from_version);
        kiln_jsonw_key(&w, "to_version");
        kiln_regapi_write_vnum(&w, m->to_version);
        kiln_jsonw_kv_str(&w, "reason", m->reason != NULL ? m->reason : "");
        if (m->report_json != NULL) {
            kiln_jsonw_key(&w, "report");
            kiln_jsonw_raw(&w, m->report_json, strlen(m->report_json));
        }
        kiln_jsonw_obj_end(&w);
    }
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int respond_policy(struct kiln_server *srv, struct kiln_http_req *req,
                          struct kiln_http_resp *resp, const char *name, struct kiln_err *err)
{
    struct kiln_registered_model *m;
    struct kiln_policy *pol;
    const char *yaml;
    struct kiln_jsonw w;
    int rc = kiln_policy_get(srv->registry, req->arena, name, &pol, &yaml, err);
    if (rc == KILN_OK)
        rc = kiln_rm_get(srv->registry, req->arena, name, &m, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", name);
    kiln_jsonw_key(&w, "yaml");
    if (yaml != NULL)
        kiln_jsonw_str(&w, yaml);
    else
        kiln_jsonw_null(&w);
    kiln_jsonw_key(&w, "policy");
    kiln_policy_write(&w, pol);
    kiln_jsonw_key(&w, "environments");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < pol->nenvs; i++) {
        int64_t v = 0;
        for (size_t j = 0; j < m->naliases; j++)
            if (strcmp(m->aliases[j].alias, pol->envs[i].name) == 0)
                v = m->aliases[j].version;
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_str(&w, "name", pol->envs[i].name);
        kiln_jsonw_key(&w, "version");
        kiln_regapi_write_vnum(&w, v);
        kiln_jsonw_obj_end(&w);
    }
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_policy_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    const char *name;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    return rc == KILN_OK ? respond_policy(app, req, resp, name, err) : rc;
}

static int h_policy_set(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name, *yaml;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "name", KILN_JSON_REQUIRED, &name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "yaml", KILN_JSON_REQUIRED, &yaml, err);
    if (rc == KILN_OK)
        rc = kiln_policy_set(srv->registry, name, yaml, strlen(yaml), kiln_regapi_user(req, doc),
                             err);
    return rc == KILN_OK ? respond_policy(srv, req, resp, name, err) : rc;
}

static const struct kiln_api_route routes[] = {
    { "GET", "/models/resolve", h_resolve },          { "GET", "/models/lineage", h_lineage },
    { "POST", "/models/evaluations", h_eval_create }, { "GET", "/models/evaluations", h_eval_list },
    { "POST", "/models/promote", h_promote },         { "POST", "/models/rollback", h_rollback },
    { "GET", "/models/history", h_history },          { "GET", "/models/policy", h_policy_get },
    { "POST", "/models/policy", h_policy_set },
};

int kiln_api_kiln_registry_model_routes(struct kiln_router *r)
{
    return kiln_api_add_kiln(r, routes, KILN_ARRAY_LEN(routes));
}

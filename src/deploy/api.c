/*
 * api.c - the deployment REST API under /api/kiln/v1 (docs/deployments.md has the reference):
 *
 *   POST   /deployments                       apply a spec {spec, file?} (create or update)
 *   GET    /deployments                       list
 *   GET    /deployments/{name}                status: plan, rollout, analysis, replicas, alerts
 *   DELETE /deployments/{name}                delete (answers parked plan polls)
 *   GET    /deployments/{name}/plan           the plan (?after=GEN&wait=S long-polls for a newer
 * one) POST   /deployments/{name}/reports        a replica's report POST
 * /deployments/{name}/feedback       labels {labels: [{request_id, label}]} POST
 * /deployments/{name}/start          move the candidate alias {version, reason?} POST
 * /deployments/{name}/abort          roll back now {reason?} POST   /deployments/{name}/promote
 * promote now, skipping the remaining steps {reason?} GET    /deployments/{name}/history rollouts
 * (?rollout=ID adds its analyses) GET    /deployments/{name}/alerts         alerts (?state=firing)
 *   GET    /alerts                            alerts of every deployment (?state=firing)
 *
 * Handlers run on HTTP worker threads and take the controller's `mu` for the short time they
 * touch its state. Plan polls park (kiln_http_defer: no thread held) until the generation
 * passes `after`, the wait ends or the server stops.
 */
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "deploy/deploy_int.h"
#include "registry/registry.h"

#define MAX_WAIT_S 60
#define MAX_LABELS 100000

struct kiln_deploy *dp_api_controller(void *app, struct kiln_err *err)
{
    struct kiln_server *srv = app;
    if (srv->deploy == NULL)
        kiln_err_set(err, KILN_EUNAVAIL, "the deployment controller is not running");
    return srv->deploy;
}

const char *dp_api_who(struct kiln_http_req *req, const json_t *doc)
{
    const char *u = doc != NULL ? json_string_value(json_object_get(doc, "user")) : NULL;
    if (u == NULL)
        u = kiln_http_header(req, "X-Kiln-User");
    return u != NULL && strlen(u) <= 256 ? u : "";
}

static int not_found(const char *name, struct kiln_err *err)
{
    return kiln_err_set(err, KILN_ENOENT, "deployment '%s' does not exist", name);
}

static int status_answer(struct kiln_deploy *d, const struct dp_dep *dep,
                         struct kiln_http_resp *resp, const char *extra_key, int extra,
                         struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    if (extra_key != NULL)
        kiln_jsonw_kv_bool(&w, extra_key, extra);
    kiln_jsonw_key(&w, "deployment");
    dp_view_status(d, dep, &w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/* ---- apply ------------------------------------------------------------------------------------
 */

/* Moves the new spec into an existing deployment, keeping its state. */
static int replace_spec(struct dp_dep *dep, struct kiln_arena *arena, struct kiln_deploy_spec *s)
{
    struct dp_alert_state *alerts = kiln_calloc(s->nalerts + 1, sizeof(*alerts));
    if (alerts == NULL)
        return KILN_ENOMEM;
    for (size_t i = 0; i < s->nalerts; i++)
        for (size_t j = 0; j < dep->spec->nalerts; j++)
            if (strcmp(s->alerts[i].name, dep->spec->alerts[j].name) == 0 &&
                s->alerts[i].kind == dep->spec->alerts[j].kind)
                alerts[i] = dep->alerts[j];
    kiln_free(dep->alerts);
    dep->alerts = alerts;
    kiln_arena_free(dep->arena);
    dep->arena = arena;
    dep->spec = s;
    if (dep->ro != NULL && dep->ro->step >= s->nsteps)
        dep->ro->step = s->nsteps - 1;
    dep->updated_ms = kiln_now_ms();
    return KILN_OK;
}

int dp_api_apply(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    struct kiln_arena *arena = NULL;
    struct kiln_deploy_spec *s;
    struct dp_dep *dep, *fresh = NULL;
    const char *text, *file;
    json_t *doc;
    int rc, created = 0;

    if (d == NULL)
        return KILN_EUNAVAIL;
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "spec", KILN_JSON_REQUIRED, &text, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "file", KILN_JSON_OPTIONAL, &file, err);
    if (rc != KILN_OK)
        return rc;
    if ((arena = kiln_arena_new(0)) == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_deploy_spec_parse(text, strlen(text), file != NULL ? file : "deployment", arena, &s,
                                err);
    if (rc != KILN_OK) {
        kiln_arena_free(arena);
        return rc;
    }
    pthread_mutex_lock(&d->mu);
    dep = dp_find(d, s->name);
    if (dep != NULL && dep->ro != NULL && strcmp(dep->spec->model, s->model) != 0) {
        rc = kiln_err_set(err, KILN_ESTATE,
                          "deployment '%s' is rolling out a version of '%s': abort it before "
                          "changing its model",
                          s->name, dep->spec->model);
    } else if (dep != NULL) {
        /* Stored first: a failed write changes nothing. */
        struct kiln_arena *old_arena = dep->arena;
        struct kiln_deploy_spec *old = dep->spec;
        dep->spec = s;
        rc = dp_store_put_deployment(d, dep, 0, err);
        dep->spec = old;
        dep->arena = old_arena;
        if (rc == KILN_OK && (rc = replace_spec(dep, arena, s)) == KILN_OK) {
            arena = NULL;
            rc = dp_publish(d, dep, NULL, NULL, err);
        } else if (rc == KILN_ENOMEM) {
            kiln_err_set(err, rc, "out of memory");
        }
    } else if ((rc = dp_dep_new(arena, s, &fresh)) != KILN_OK) {
        kiln_err_set(err, rc, "out of memory");
    } else {
        arena = NULL;
        dp_read_envs(d, fresh);
        rc = dp_store_put_deployment(d, fresh, 1, err);
        if (rc == KILN_OK) {
            fresh->next = d->deps;
            d->deps = dep = fresh;
            fresh = NULL;
            created = 1;
            rc = dp_publish(d, dep, NULL, NULL, err);
        }
    }
    if (rc == KILN_OK) {
        const char *user = dp_api_who(req, doc);
        kiln_log_info("deployment %s %s%s%s", dep->name, created ? "created" : "updated",
                      *user != '\0' ? " by " : "", user);
        rc = status_answer(d, dep, resp, "created", created, err);
    }
    pthread_mutex_unlock(&d->mu);
    dp_dep_free(fresh);
    kiln_arena_free(arena);
    if (rc == KILN_OK)
        dp_kick(d);
    return rc;
}

/* ---- reads --------------------------------------------------------------------------------------
 */

int dp_api_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    struct kiln_jsonw w;
    int rc;
    (void)req;
    if (d == NULL)
        return KILN_EUNAVAIL;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "deployments");
    kiln_jsonw_arr_begin(&w);
    pthread_mutex_lock(&d->mu);
    for (const struct dp_dep *dep = d->deps; dep != NULL; dep = dep->next)
        dp_view_summary(dep, &w);
    pthread_mutex_unlock(&d->mu);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    rc = kiln_api_json_end(&w, err);
    return rc;
}

int dp_api_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
               struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name");
    struct dp_dep *dep;
    int rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    pthread_mutex_lock(&d->mu);
    dep = dp_find(d, name);
    rc = dep == NULL ? not_found(name, err) : status_answer(d, dep, resp, NULL, 0, err);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int dp_api_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name"), *user;
    struct dp_dep **pp, *dep = NULL;
    int rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    pthread_mutex_lock(&d->mu);
    for (pp = &d->deps; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0)
            break;
    if (*pp == NULL) {
        rc = not_found(name, err);
    } else if ((rc = dp_store_delete_deployment(d, name, err)) == KILN_OK) {
        dep = *pp;
        *pp = dep->next;
        dp_wake_watches(d, dep, 1, 0);
    }
    pthread_mutex_unlock(&d->mu);
    if (rc != KILN_OK)
        return rc;
    user = dp_api_who(req, NULL);
    kiln_log_info("deployment %s deleted%s%s", name, *user != '\0' ? " by " : "", user);
    dp_dep_free(dep);
    return kiln_api_empty(resp);
}

/* ---- plan polls ------------------------------------------------------------------------------ */

struct park {
    struct kiln_deploy *d;
    const char *name;
    struct dp_watch watch;
};

static void parked(void *arg, struct kiln_http_req *req)
{
    struct park *p = arg;
    struct dp_dep *dep;
    int resume = 1;
    pthread_mutex_lock(&p->d->mu);
    dep = dp_find(p->d, p->name);
    if (dep != NULL && !p->d->closed && dep->generation <= p->watch.after) {
        p->watch.next = dep->watches;
        dep->watches = &p->watch;
        resume = 0;
    }
    pthread_mutex_unlock(&p->d->mu);
    if (resume)
        kiln_http_resume(req);
}

int dp_api_plan(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name"), *a = kiln_http_query(req, "after");
    const char *ws = kiln_http_query(req, "wait");
    int64_t after = -1, wait = 0, deadline;
    struct dp_dep *dep;
    struct park *p;
    int rc = KILN_OK;

    if (d == NULL)
        return KILN_EUNAVAIL;
    if (a != NULL && kiln_parse_int64(a, strlen(a), &after) != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "after: expected a plan generation, not '%s'", a);
    if (ws != NULL &&
        (kiln_parse_int64(ws, strlen(ws), &wait) != KILN_OK || wait < 0 || wait > MAX_WAIT_S))
        return kiln_err_set(err, KILN_EINVAL, "wait must be between 0 and %d seconds", MAX_WAIT_S);
    deadline = kiln_mono_ns() / 1000000 + wait * 1000;
    p = kiln_arena_calloc(req->arena, 1, sizeof(*p));
    if (p == NULL || (p->name = kiln_arena_strdup(req->arena, name)) == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (int blocking = 0;;) {
        pthread_mutex_lock(&d->mu);
        dep = dp_find(d, name);
        if (dep == NULL) {
            pthread_mutex_unlock(&d->mu);
            return not_found(name, err);
        }
        if (dep->generation > after || wait == 0 || req->resumed > 0 || d->closed ||
            kiln_mono_ns() / 1000000 >= deadline)
            break;
        if (blocking) {
            /* This server cannot park requests (a thread per connection): wait on this
             * connection's own thread, woken with the parked polls (dp_wake_watches). */
            struct timespec ts = { (time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L };
            pthread_cond_timedwait(&d->plan_cond, &d->mu, &ts);
            pthread_mutex_unlock(&d->mu);
            continue;
        }
        pthread_mutex_unlock(&d->mu);
        p->d = d;
        p->watch.req = req;
        p->watch.after = after;
        p->watch.deadline_ms = deadline;
        if (kiln_http_defer(req, parked, p) == KILN_OK)
            return KILN_OK;
        blocking = 1;
    }
    rc = kiln_http_resp_text(resp, 200, "application/json",
                             dep->plan_json != NULL ? dep->plan_json : "{}");
    pthread_mutex_unlock(&d->mu);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "out of memory");
    return KILN_OK;
}

/* ---- reports and feedback ------------------------------------------------------------------- */

int dp_api_report(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name");
    struct kiln_deploy_report *r = NULL;
    struct kiln_jsonw w;
    struct dp_dep *dep;
    int64_t gen = 0;
    int rc, dup = 0;
    if (d == NULL)
        return KILN_EUNAVAIL;
    if (req->body.len > 0 && !kiln_http_content_type_is(req, "application/json"))
        return kiln_err_set(err, KILN_EMEDIA, "a report is sent as application/json");
    rc = kiln_deploy_report_parse(req->body.buf, req->body.len, &r, err);
    if (rc != KILN_OK)
        return rc;
    pthread_mutex_lock(&d->mu);
    dep = dp_find(d, name);
    if (dep == NULL)
        rc = not_found(name, err);
    else
        rc = dp_ingest_report(d, dep, r, &dup, err);
    if (rc == KILN_OK)
        gen = dep->generation;
    pthread_mutex_unlock(&d->mu);
    kiln_deploy_report_free(r);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_bool(&w, "accepted", !dup);
    kiln_jsonw_kv_bool(&w, "duplicate", dup);
    kiln_jsonw_kv_int(&w, "generation", gen);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int read_label(const json_t *e, size_t i, const char **id, const char **label,
                      struct kiln_err *err)
{
    const json_t *l = json_object_get(e, "label");
    *id = json_string_value(json_object_get(e, "request_id"));
    if (*id == NULL || **id == '\0' || strlen(*id) > KILN_DEPLOY_ID_MAX)
        return kiln_err_set(err, KILN_EINVAL, "labels[%zu].request_id: expected a request id", i);
    if (json_is_string(l))
        *label = json_string_value(l);
    else
        *label = NULL;
    if (*label == NULL || strlen(*label) > KILN_DEPLOY_LABEL_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "labels[%zu].label: expected the true label as a string", i);
    return KILN_OK;
}

int dp_api_feedback(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_deploy *d = dp_api_controller(app, err);
    const char *name = kiln_http_param(req, "name"), *id, *label;
    json_t *doc, *labels, *one = NULL;
    struct kiln_jsonw w;
    struct dp_dep *dep;
    int64_t now = kiln_now_ms(), matched = 0, pending = 0;
    const json_t *e;
    size_t i;
    int rc;
    if (d == NULL)
        return KILN_EUNAVAIL;
    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_array(doc, "labels", KILN_JSON_OPTIONAL, &labels, err);
    if (rc != KILN_OK)
        return rc;
    if (labels == NULL) {
        /* A single label: {request_id, label}. */
        if ((one = json_array()) == NULL || json_array_append(one, doc) != 0) {
            json_decref(one);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        labels = one;
    }
    if (json_array_size(labels) > MAX_LABELS)
        rc = kiln_err_set(err, KILN_EINVAL, "labels: at most %d per request", MAX_LABELS);
    json_array_foreach(labels, i, e)
    {
        if (rc == KILN_OK)
            rc = read_label(e, i, &id, &label, err);
    }
    if (rc == KILN_OK) {
        pthread_mutex_lock(&d->mu);
        dep = dp_find(d, name);
        if (dep == NULL)
            rc = not_found(name, err);
        json_array_foreach(labels, i, e)
        {
            int m = 0;
            if (rc != KILN_OK)
                break;
            read_label(e, i, &id, &label, NULL);
            rc = dp_feedback(dep, id, label, now, &m);
            matched += m;
            pending += !m;
        }
        pthread_mutex_unlock(&d->mu);
        if (rc != KILN_OK && rc != KILN_ENOENT)
            kiln_err_set(err, rc, "out of memory");
    }
    json_decref(one);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "matched", matched);
    kiln_jsonw_kv_int(&w, "pending", pending);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

/*
 * registry_events.c - the registry event feed and webhooks under /api/kiln/v1:
 *
 *   GET    /events?after=ID[&wait=S&max_results=N&types=a,b&model=M]
 *   POST   /webhooks              {url, events?, description?}
 *   GET    /webhooks
 *   DELETE /webhooks/{id}
 *   GET    /webhooks/{id}/deliveries
 *
 * Long-poll: with wait > 0 (seconds, at most 60) and nothing newer than `after`, the request is
 * parked (kiln_http_defer: the connection is suspended and holds no worker thread) with a
 * registry watch; the watch resumes it when an event is committed, when the wait is over, or
 * when the server stops, and the handler then answers with whatever is there (possibly no
 * events). Where the HTTP server cannot park requests (thread-per-connection mode) the handler
 * blocks in kiln_registry_wait instead, which there costs only the connection's own thread.
 */
#include <string.h>

#include "api/registry_api.h"
#include "core/str.h"
#include "core/time.h"

#define MAX_WAIT_S 60

struct poll {
    struct kiln_registry *reg;
    struct kiln_http_req *req;
    int64_t after;
    int64_t deadline_ms;
};

static void poll_wake(void *arg)
{
    struct poll *p = arg;
    kiln_http_resume(p->req);
}

/* Runs once the connection is suspended: a watch resumes it (or we resume at once). */
static void poll_parked(void *arg, struct kiln_http_req *req)
{
    struct poll *p = arg;
    if (kiln_registry_watch(p->reg, p->after, p->deadline_ms, poll_wake, p) != KILN_OK)
        kiln_http_resume(req);
}

static int h_events(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_registry_event *ev;
    const char *types, *model;
    struct kiln_jsonw w;
    int64_t after = 0, wait = 0, limit = 0, last = 0;
    size_t n = 0;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "after", KILN_JSON_OPTIONAL, &after, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "wait", KILN_JSON_OPTIONAL, &wait, NULL, err);
    if (rc == KILN_OK && (wait < 0 || wait > MAX_WAIT_S))
        rc = kiln_err_set(err, KILN_EINVAL, "wait must be between 0 and %d seconds", MAX_WAIT_S);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &limit, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "types", KILN_JSON_OPTIONAL, &types, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "model", KILN_JSON_OPTIONAL, &model, err);
    if (rc == KILN_OK)
        rc = kiln_registry_events(srv->registry, req->arena, after, limit, types, model, &ev, &n,
                                  &last, err);
    if (rc != KILN_OK)
        return rc;
    if (n == 0 && wait > 0 && req->resumed == 0 && !kiln_registry_stopping(srv->registry)) {
        struct poll *p = kiln_arena_calloc(req->arena, 1, sizeof(*p));
        if (p == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        p->reg = srv->registry;
        p->req = req;
        /* Watch the whole log: a filtered-out event also ends the wait (answered empty). */
        p->after = last > after ? last : after;
        p->deadline_ms = kiln_mono_ns() / 1000000 + wait * 1000;
        if (kiln_http_defer(req, poll_parked, p) == KILN_OK)
            return KILN_OK;
        kiln_registry_wait(srv->registry, p->after, wait * 1000);
        rc = kiln_registry_events(srv->registry, req->arena, after, limit, types, model, &ev, &n,
                                  &last, err);
        if (rc != KILN_OK)
            return rc;
    }
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "events");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        kiln_registry_event_write(&w, &ev[i]);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_kv_int(&w, "last_id", last);
    /* Where the next poll starts: past what was scanned, unless the page was cut short. */
    kiln_jsonw_kv_int(&w, "next_after",
                      n > 0 && (int64_t)n == (limit > 0 ? limit : 100) ? ev[n - 1].id
                      : last > after                                   ? last
                                                                       : after);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static void write_webhook(struct kiln_jsonw *w, const struct kiln_webhook *h)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "id", h->id);
    kiln_jsonw_kv_str(w, "url", h->url);
    kiln_jsonw_kv_str(w, "events", h->events);
    kiln_jsonw_kv_str(w, "description", h->description != NULL ? h->description : "");
    kiln_jsonw_kv_bool(w, "active", h->active);
    kiln_jsonw_kv_int(w, "creation_timestamp", h->creation_timestamp);
    kiln_jsonw_kv_int(w, "pending", h->pending);
    kiln_jsonw_kv_int(w, "delivered", h->delivered);
    kiln_jsonw_kv_int(w, "failed", h->failed);
    kiln_jsonw_obj_end(w);
}

static int h_webhook_create(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                            struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_webhook *hooks;
    const char *url, *events, *desc;
    struct kiln_jsonw w;
    int64_t id = 0;
    size_t n;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "url", KILN_JSON_REQUIRED, &url, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "events", KILN_JSON_OPTIONAL, &events, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "description", KILN_JSON_OPTIONAL, &desc, err);
    if (rc == KILN_OK)
        rc = kiln_webhook_create(srv->registry, url, events, desc, &id, err);
    if (rc == KILN_OK)
        rc = kiln_webhook_list(srv->registry, req->arena, &hooks, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    for (size_t i = 0; i < n; i++)
        if (hooks[i].id == id) {
            kiln_jsonw_key(&w, "webhook");
            write_webhook(&w, &hooks[i]);
        }
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_webhook_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                          struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_webhook *hooks;
    struct kiln_jsonw w;
    size_t n;
    int rc = kiln_webhook_list(srv->registry, req->arena, &hooks, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "webhooks");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        write_webhook(&w, &hooks[i]);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int path_id(struct kiln_http_req *req, int64_t *id, struct kiln_err *err)
{
    const char *s = kiln_http_param(req, "id");
    if (s == NULL || kiln_parse_int64(s, strlen(s), id) != KILN_OK || *id <= 0)
        return kiln_err_set(err, KILN_EINVAL, "'%s' is not a webhook id", s != NULL ? s : "");
    return KILN_OK;
}

static int h_webhook_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                            struct kiln_err *err)
{
    struct kiln_server *srv = app;
    int64_t id;
    int rc = path_id(req, &id, err);
    if (rc == KILN_OK)
        rc = kiln_webhook_delete(srv->registry, id, err);
    return rc == KILN_OK ? kiln_api_empty(resp) : rc;
}

static int h_deliveries(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_webhook_delivery *d;
    struct kiln_jsonw w;
    int64_t id, limit = 0;
    size_t n;
    json_t *doc;
    int rc = path_id(req, &id, err);
    if (rc == KILN_OK)
        rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &limit, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_webhook_deliveries(srv->registry, req->arena, id, limit, &d, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_key(&w, "deliveries");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_int(&w, "event_id", d[i].event_id);
        kiln_jsonw_kv_str(&w, "state", d[i].state);
        kiln_jsonw_kv_int(&w, "attempts", d[i].attempts);
        kiln_jsonw_kv_int(&w, "next_attempt_time", d[i].next_attempt_time);
        if (d[i].last_status > 0)
            kiln_jsonw_kv_int(&w, "last_status", d[i].last_status);
        if (d[i].last_error != NULL)
            kiln_jsonw_kv_str(&w, "last_error", d[i].last_error);
        kiln_jsonw_obj_end(&w);
    }
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static const struct kiln_api_route routes[] = {
    { "GET", "/events", h_events },
    { "POST", "/webhooks", h_webhook_create },
    { "GET", "/webhooks", h_webhook_list },
    { "DELETE", "/webhooks/{id}", h_webhook_delete },
    { "GET", "/webhooks/{id}/deliveries", h_deliveries },
};

int kiln_api_kiln_registry_event_routes(struct kiln_router *r)
{
    return kiln_api_add_kiln(r, routes, KILN_ARRAY_LEN(routes));
}

/*
 * routes.c - the HTTP routes of `kiln serve`:
 *
 *   GET  /ping, /health                      200 "\n" once ready, else 503 (MLflow)
 *   GET  /version                            kiln's version (text)
 *   POST /invocations[?model=NAME]           MLflow scoring: JSON or CSV -> {"predictions"}
 *   GET  /v2                                 OIP server metadata
 *   GET  /v2/health/live, /v2/health/ready   OIP health
 *   GET  /v2/models/{name}[/versions/{v}]    OIP model metadata
 *   GET  /v2/models/{name}[/versions/{v}]/ready
 *   POST /v2/models/{name}[/versions/{v}]/infer
 *   GET  /metrics                            Prometheus text exposition
 *   POST /feedback                           labels for earlier predictions (--deployment)
 *
 * Errors: MLflow routes answer {"error_code", "message"} (415s as MLflow: plain text), /v2
 * routes {"error": "..."}, with the status of the kiln code (400 bad request, 404 unknown
 * model, 413 body too large, 503 not ready). Every scoring request holds a reference to the
 * model version it started on until its answer is written (see model.c).
 *
 * Threads: handlers run on HTTP workers; they read the server's immutable configuration and
 * slots, and everything else through slot_acquire / atomics.
 */
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/str.h"
#include "kiln_config.h"
#include "serve/parse_int.h"
#include "serve/replica_int.h"
#include "serve/serve_int.h"

#define JSON_CT "application/json"

static int is_v2(const char *path)
{
    return path != NULL && strncmp(path, "/v2", 3) == 0 && (path[3] == '\0' || path[3] == '/');
}

/* Error formatter: {"error": ...} on OIP routes, MLflow's shape elsewhere. */
static void serve_error(const struct kiln_http_req *req, struct kiln_http_resp *resp, int rc,
                        const char *message)
{
    struct kiln_jsonw w;
    if (!is_v2(req->path)) {
        kiln_http_error_mlflow(req, resp, rc, message);
        return;
    }
    kiln_buf_reset(&resp->body);
    resp->status = kiln_rc_http(rc);
    resp->content_type = JSON_CT;
    kiln_jsonw_init(&w, &resp->body);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "error", message);
    kiln_jsonw_obj_end(&w);
    if (kiln_jsonw_finish(&w) != KILN_OK) {
        kiln_buf_reset(&resp->body);
        resp->status = 503;
        kiln_buf_puts(&resp->body, "{\"error\":\"out of memory\"}");
    }
}

static struct slot *find_slot(struct kiln_serve *s, const char *name)
{
    for (size_t i = 0; name != NULL && i < s->n_slots; i++)
        if (strcmp(s->slots[i]->name, name) == 0)
            return s->slots[i];
    return NULL;
}

static int unknown_model(struct kiln_serve *s, const char *name, struct kiln_err *err)
{
    char names[160] = "";
    size_t n = 0;
    for (size_t i = 0; i < s->n_slots && n < sizeof(names); i++) {
        int w = snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", s->slots[i]->name);
        n = w < 0 ? sizeof(names) : n + (size_t)w;
    }
    return kiln_err_set(err, KILN_ENOENT, "model '%.64s' is not served here (serving: %s)",
                        name != NULL ? name : "", names);
}

static int json_end(struct kiln_jsonw *w, struct kiln_err *err)
{
    int rc = kiln_jsonw_finish(w);
    return rc == KILN_OK ? KILN_OK : kiln_err_set(err, rc, "cannot write the response");
}

/* Runs the model on parsed rows; outputs in the request arena. */
static int predict(struct served *v, const struct kiln_serve_rows *rows, struct kiln_arena *a,
                   struct kiln_rt_out *o, struct kiln_err *err)
{
    const struct kiln_serve_schema *sc = v->schema;
    struct kiln_rt_ws *ws;
    size_t n = rows->n;
    int rc;

    memset(o, 0, sizeof(*o));
    if (n == 0)
        return KILN_OK;
    if (sc->classifier) {
        o->label = kiln_arena_alloc(a, n * sizeof(*o->label));
        o->proba = kiln_arena_alloc(a, n * sc->n_classes * sizeof(*o->proba));
        if (o->label == NULL || o->proba == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory for %zu predictions", n);
    } else {
        o->value = kiln_arena_alloc(a, n * sc->n_values * sizeof(*o->value));
        if (o->value == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory for %zu predictions", n);
    }
    ws = served_ws_get(v);
    if (ws == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory for a workspace");
    rc = kiln_rt_predict(v->model, ws, rows->x, n, o, err);
    served_ws_put(v, ws);
    return rc;
}

/*
 * MLflow's content-type rules: application/json or text/csv, charset UTF-8 if given, no other
 * parameter; otherwise a 415 with a plain-text body. *csv says which. Returns 1 when a 415
 * was written into resp.
 */
int serve_media_type(const struct kiln_http_req *req, struct kiln_http_resp *resp, int *csv)
{
    const char *ct = kiln_http_header(req, "Content-Type");
    struct kiln_str s = kiln_str_from(ct != NULL ? ct : ""), type;
    const char *semi = memchr(s.p, ';', s.len);
    char msg[320];

    type = kiln_str_trim((struct kiln_str){ s.p, semi != NULL ? (size_t)(semi - s.p) : s.len });
    while (semi != NULL) {
        const char *p = semi + 1, *end = s.p + s.len, *eq;
        struct kiln_str param, key, val;
        semi = memchr(p, ';', (size_t)(end - p));
        param = kiln_str_trim((struct kiln_str){ p, (size_t)((semi != NULL ? semi : end) - p) });
        if (param.len == 0)
            continue;
        eq = memchr(param.p, '=', param.len);
        key = kiln_str_trim((struct kiln_str){ param.p, eq ? (size_t)(eq - param.p) : param.len });
        val = kiln_str_trim(eq ? (struct kiln_str){ eq + 1, (size_t)(param.p + param.len - eq - 1) }
                               : (struct kiln_str){ "", 0 });
        if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"')
            val = (struct kiln_str){ val.p + 1, val.len - 2 };
        if (kiln_str_ieq_cstr(key, "charset")) {
            if (!kiln_str_ieq_cstr(val, "utf-8")) {
                kiln_http_resp_text(resp, 415, "text/plain; charset=utf-8",
                                    "The scoring server only supports UTF-8");
                return 1;
            }
            continue;
        }
        snprintf(msg, sizeof(msg), "Unrecognized content type parameters: %.*s.",
                 (int)(key.len > 64 ? 64 : key.len), key.p);
        kiln_http_resp_text(resp, 415, "text/plain; charset=utf-8", msg);
        return 1;
    }
    if (kiln_str_ieq_cstr(type, "application/json") || kiln_str_ieq_cstr(type, "text/csv")) {
        *csv = kiln_str_ieq_cstr(type, "text/csv");
        return 0;
    }
    snprintf(msg, sizeof(msg),
             "This predictor only supports the following content types: Types: ['text/csv', "
             "'application/json']. Got '%.*s'.",
             (int)(s.len > 100 ? 100 : s.len), s.p);
    kiln_http_resp_text(resp, 415, "text/plain; charset=utf-8", msg);
    return 1;
}

int serve_run(struct served *v, enum proto p, int csv, struct kiln_http_req *req, struct scored *sc,
              struct kiln_err *err)
{
    int rc;
    memset(sc, 0, sizeof(*sc));
    if (p == P_OIP) {
        /* Any content type is read as JSON (clients differ), but not the binary extension. */
        if (kiln_http_header(req, "Inference-Header-Content-Length") != NULL)
            return kiln_err_set(err, KILN_EMEDIA,
                                "the binary tensor data extension is not supported: "
                                "send the tensors as JSON");
        rc = kiln_serve_parse_oip(v->schema, req->body.buf, req->body.len, req->arena, &sc->oip,
                                  err);
        sc->rows = sc->oip.rows;
    } else if (csv) {
        rc = kiln_serve_parse_csv(v->schema, req->body.buf, req->body.len, req->arena, &sc->rows,
                                  err);
    } else {
        rc = kiln_serve_parse_mlflow_json(v->schema, req->body.buf, req->body.len, req->arena,
                                          &sc->rows, err);
    }
    if (rc == KILN_OK)
        rc = predict(v, &sc->rows, req->arena, &sc->o, err);
    return rc;
}

int serve_answer(struct served *v, enum proto p, const struct scored *sc,
                 struct kiln_http_resp *resp, struct kiln_err *err)
{
    size_t n = sc->rows.n;
    int rc;
    kiln_http_resp_set(resp, 200, JSON_CT);
    if (p == P_OIP)
        rc = kiln_serve_write_oip(v->schema, &sc->oip, &sc->o, n, v->slot->name, v->version,
                                  &resp->body);
    else
        rc = kiln_serve_write_mlflow(v->schema, &sc->o, n, &resp->body);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "cannot write %zu predictions", n);
    served_observe(v, &sc->o, n);
    return KILN_OK;
}

static int invocations(struct served *v, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct scored sc;
    int csv = 0, rc;

    if (serve_media_type(req, resp, &csv))
        return KILN_OK;
    rc = serve_run(v, P_MLFLOW, csv, req, &sc, err);
    if (rc == KILN_OK)
        rc = serve_answer(v, P_MLFLOW, &sc, resp, err);
    return rc;
}

static int h_invocations(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                         struct kiln_err *err)
{
    struct kiln_serve *s = app;
    const char *name = kiln_http_query(req, "model");
    struct slot *sl = name != NULL ? find_slot(s, name) : s->slots[0];
    struct served *v;
    int rc;

    if (sl == NULL)
        return unknown_model(s, name, err);
    if (s->rep != NULL)
        return replica_score(s, P_MLFLOW, NULL, req, resp, err);
    v = slot_acquire(sl);
    if (v == NULL)
        return kiln_err_set(err, KILN_EUNAVAIL, "model '%s' is not loaded yet", sl->name);
    kiln_metric_add(sl->inflight, 1);
    rc = invocations(v, req, resp, err);
    served_count(v, P_MLFLOW, rc == KILN_OK ? resp->status : kiln_rc_http(rc), req->start_ns);
    kiln_metric_add(sl->inflight, -1);
    served_release(v);
    return rc;
}

static int h_ping(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_serve *s = app;
    (void)req;
    if (!atomic_load(&s->ready))
        return kiln_err_set(err, KILN_EUNAVAIL, "the models are still loading");
    return kiln_http_resp_text(resp, 200, JSON_CT, "\n");
}

static int h_version(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    (void)app;
    (void)req;
    (void)err;
    return kiln_http_resp_text(resp, 200, "text/plain; charset=utf-8", KILN_VERSION);
}

static int h_metrics(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_serve *s = app;
    int rc;
    (void)req;
    kiln_buf_reset(&resp->body);
    rc = kiln_metrics_render(s->metrics, &resp->body);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "cannot render the metrics");
    kiln_http_resp_set(resp, 200, KILN_METRICS_CONTENT_TYPE);
    return KILN_OK;
}

/* ---- Open Inference Protocol v2 ---------------------------------------------------------- */

static int h_v2(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                struct kiln_err *err)
{
    struct kiln_jsonw w;
    (void)app;
    (void)req;
    kiln_jsonw_init(&w, &resp->body);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", "kiln");
    kiln_jsonw_kv_str(&w, "version", KILN_VERSION);
    kiln_jsonw_key(&w, "extensions");
    kiln_jsonw_arr_begin(&w);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return json_end(&w, err);
}

static int h_live(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    (void)app;
    (void)req;
    (void)err;
    return kiln_http_resp_text(resp, 200, JSON_CT, "{\"live\": true}");
}

static int h_ready(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                   struct kiln_err *err)
{
    struct kiln_serve *s = app;
    int ready = atomic_load(&s->ready);
    (void)req;
    (void)err;
    return kiln_http_resp_text(resp, ready ? 200 : 503, JSON_CT,
                               ready ? "{\"ready\": true}" : "{\"ready\": false}");
}

/* The model (and version) a /v2/models/... path names, with a reference taken. */
static int oip_target(struct kiln_serve *s, struct kiln_http_req *req, struct slot **sl,
                      struct served **v, struct kiln_err *err)
{
    const char *name = kiln_http_param(req, "name"), *ver = kiln_http_param(req, "version");
    *sl = find_slot(s, name);
    if (*sl == NULL)
        return unknown_model(s, name, err);
    *v = slot_acquire(*sl);
    if (*v == NULL)
        return kiln_err_set(err, KILN_EUNAVAIL, "model '%s' is not ready", (*sl)->name);
    if (ver != NULL && strcmp(ver, (*v)->version) != 0) {
        int rc = kiln_err_set(err, KILN_ENOENT,
                              "model '%s' version '%.32s' is not served "
                              "(version %s is)",
                              (*sl)->name, ver, (*v)->version);
        served_release(*v);
        *v = NULL;
        return rc;
    }
    return KILN_OK;
}

static void meta_tensor(struct kiln_jsonw *w, const char *name, const char *dtype, long width)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", name);
    kiln_jsonw_kv_str(w, "datatype", dtype);
    kiln_jsonw_key(w, "shape");
    kiln_jsonw_arr_begin(w);
    kiln_jsonw_int(w, -1);
    if (width > 0)
        kiln_jsonw_int(w, width);
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

static int h_model_meta(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                        struct kiln_err *err)
{
    const struct kiln_serve_schema *sc;
    struct slot *sl;
    struct served *v;
    struct kiln_jsonw w;
    char platform[96];
    int rc = oip_target(app, req, &sl, &v, err);
    if (rc != KILN_OK)
        return rc;
    sc = v->schema;
    snprintf(platform, sizeof(platform), "kiln_%s_%s", kiln_rt_flavor(v->model),
             kiln_rt_engine(v->model));
    kiln_jsonw_init(&w, &resp->body);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", sl->name);
    kiln_jsonw_key(&w, "versions");
    kiln_jsonw_arr_begin(&w);
    kiln_jsonw_str(&w, v->version);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_kv_str(&w, "platform", platform);
    kiln_jsonw_key(&w, "inputs");
    kiln_jsonw_arr_begin(&w);
    for (size_t j = 0; j < sc->F; j++)
        meta_tensor(&w, sc->in[j].name, kiln_serve_oip_datatype(sc->in[j].type), 0);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_key(&w, "outputs");
    kiln_jsonw_arr_begin(&w);
    if (sc->classifier) {
        meta_tensor(&w, "label", sc->label_dtype, 0);
        meta_tensor(&w, "probabilities", "FP64", (long)sc->n_classes);
    } else {
        meta_tensor(&w, "prediction", "FP64", sc->n_values > 1 ? (long)sc->n_values : 0);
    }
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_key(&w, "parameters");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "uri", sl->uri);
    kiln_jsonw_kv_str(&w, "source", v->source);
    kiln_jsonw_kv_str(&w, "task", sc->classifier ? "classifier" : "regressor");
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_obj_end(&w);
    served_release(v);
    return json_end(&w, err);
}

static int h_model_ready(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                         struct kiln_err *err)
{
    struct slot *sl;
    struct served *v;
    struct kiln_jsonw w;
    int rc = oip_target(app, req, &sl, &v, err);
    if (rc != KILN_OK)
        return rc;
    kiln_jsonw_init(&w, &resp->body);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", sl->name);
    kiln_jsonw_kv_bool(&w, "ready", 1);
    kiln_jsonw_obj_end(&w);
    served_release(v);
    return json_end(&w, err);
}

static int infer(struct served *v, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct scored sc;
    int rc = serve_run(v, P_OIP, 0, req, &sc, err);
    if (rc == KILN_OK)
        rc = serve_answer(v, P_OIP, &sc, resp, err);
    return rc;
}

static int h_infer(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                   struct kiln_err *err)
{
    struct kiln_serve *s = app;
    struct slot *sl;
    struct served *v;
    int rc;
    if (s->rep != NULL) {
        if (find_slot(s, kiln_http_param(req, "name")) == NULL)
            return unknown_model(s, kiln_http_param(req, "name"), err);
        return replica_score(s, P_OIP, kiln_http_param(req, "version"), req, resp, err);
    }
    rc = oip_target(app, req, &sl, &v, err);
    if (rc != KILN_OK)
        return rc;
    kiln_metric_add(sl->inflight, 1);
    rc = infer(v, req, resp, err);
    served_count(v, P_OIP, rc == KILN_OK ? resp->status : kiln_rc_http(rc), req->start_ns);
    kiln_metric_add(sl->inflight, -1);
    served_release(v);
    return rc;
}

void serve_observe(void *app, const struct kiln_http_req *req, int status)
{
    (void)req;
    serve_count_http(app, status);
}

int serve_router_new(struct kiln_serve *s, struct kiln_router **out, struct kiln_err *err)
{
    const struct kiln_route routes[] = {
        { "GET", "/ping", h_ping, NULL, 0, NULL },
        { "GET", "/health", h_ping, NULL, 0, NULL },
        { "GET", "/version", h_version, NULL, 0, NULL },
        { "POST", "/invocations", h_invocations, NULL, 0, NULL },
        { "GET", "/metrics", h_metrics, NULL, 0, NULL },
        { "GET", "/v2", h_v2, NULL, 0, NULL },
        { "GET", "/v2/health/live", h_live, NULL, 0, NULL },
        { "GET", "/v2/health/ready", h_ready, NULL, 0, NULL },
        { "GET", "/v2/models/{name}", h_model_meta, NULL, 0, NULL },
        { "GET", "/v2/models/{name}/versions/{version}", h_model_meta, NULL, 0, NULL },
        { "GET", "/v2/models/{name}/ready", h_model_ready, NULL, 0, NULL },
        { "GET", "/v2/models/{name}/versions/{version}/ready", h_model_ready, NULL, 0, NULL },
        { "POST", "/v2/models/{name}/infer", h_infer, NULL, 0, NULL },
        { "POST", "/v2/models/{name}/versions/{version}/infer", h_infer, NULL, 0, NULL },
        { "POST", "/feedback", replica_h_feedback, NULL, 0, NULL },
    };
    struct kiln_router *r = kiln_router_new();
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_router_set_error_fn(r, serve_error);
    kiln_router_set_max_body(r, s->max_body);
    for (size_t i = 0; i < KILN_ARRAY_LEN(routes); i++)
        if ((s->rep != NULL || routes[i].handler != replica_h_feedback) &&
            kiln_router_add(r, &routes[i]) != KILN_OK) {
            kiln_router_free(r);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    *out = r;
    return KILN_OK;
}

/*
 * api.c - the pipeline REST API under /api/kiln/v1 (docs/pipelines.md has the reference):
 *
 *   POST /pipelines                               apply a spec {spec, file?, base_dir?}
 *   GET  /pipelines                               list
 *   GET  /pipelines/{name}                        one, with its applied spec
 *   GET  /pipelines/{name}/runs                   its runs, newest first (?max_results)
 *   POST /pipelines/{name}/trigger                start a run {params?, logical_date?,
 *                                                 reason?, evidence?}
 *   POST /pipelines/{name}/backfill               runs for past dates {from, to}
 *   POST /pipeline-events                         an event {type: drift|model_version|alias,
 *                                                 model?, alias?, ...} for every pipeline
 *                                                 whose triggers match
 *   GET  /pipeline-runs                           runs of all pipelines (?pipeline, ?max_results)
 *   GET  /pipeline-runs/{run_id}                  a run with tasks, attempts and links
 *   POST /pipeline-runs/{run_id}/cancel           cancel a queued or running run
 *   GET  /pipeline-runs/{run_id}/tasks/{task}/logs   a task's log (?attempt, ?offset,
 *                                                 ?max_bytes); text with X-Kiln-Log-* headers
 *
 * Handlers run on HTTP worker threads; they only use the store (thread-safe) and notify the
 * scheduler, which picks up new runs and cancel requests from the store.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"

#define LOG_CHUNK_DEFAULT ((int64_t)1 << 20)
#define LOG_CHUNK_MAX ((int64_t)8 << 20)

static int send_json(struct kiln_http_resp *resp, json_t *v, struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_json(&w, v);
    json_decref(v);
    return kiln_api_json_end(&w, err);
}

static void notify(void *app)
{
    struct kiln_server *srv = app;
    kiln_pl_sched_notify(srv->pipelines);
}

static int h_apply(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                   struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *text, *file, *base;
    struct kiln_pl_spec *spec = NULL;
    int version = 0, created = 0;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "spec", KILN_JSON_REQUIRED, &text, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "file", KILN_JSON_OPTIONAL, &file, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "base_dir", KILN_JSON_OPTIONAL, &base, err);
    if (rc == KILN_OK && base != NULL && base[0] != '/')
        rc = kiln_err_set(err, KILN_EINVAL, "base_dir must be an absolute path");
    if (rc == KILN_OK)
        rc = kiln_pl_spec_parse(text, strlen(text), file != NULL ? file : "spec",
                                base != NULL ? base : "", &spec, err);
    if (rc == KILN_OK)
        rc = kiln_pl_store_put_version(srv->store, spec, 1, &version, &created, err);
    if (rc == KILN_OK) {
        kiln_log_info("pipeline %s: version %d applied%s", spec->name, version,
                      created ? " (new)" : "");
        notify(app);
        rc = send_json(resp,
                       json_pack("{s:s, s:i, s:b, s:s, s:I}", "pipeline", spec->name, "version",
                                 version, "created", created, "digest", spec->digest, "ntasks",
                                 (json_int_t)spec->ntasks),
                       err);
    }
    kiln_pl_spec_free(spec);
    return rc;
}

static int h_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *list = NULL;
    int rc;
    (void)req;
    rc = kiln_pl_query_pipelines(srv->store, NULL, &list, err);
    if (rc != KILN_OK)
        return rc;
    return send_json(resp, json_pack("{s:o}", "pipelines", list), err);
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name = kiln_http_param(req, "name");
    json_t *list = NULL;
    int rc = kiln_pl_query_pipelines(srv->store, name, &list, err);
    if (rc != KILN_OK)
        return rc;
    if (json_array_size(list) == 0) {
        json_decref(list);
        return kiln_err_set(err, KILN_ENOENT, "no pipeline named '%s'", name);
    }
    rc = send_json(resp, json_pack("{s:O}", "pipeline", json_array_get(list, 0)), err);
    json_decref(list);
    return rc;
}

static int read_max(json_t *doc, int64_t *max, struct kiln_err *err)
{
    int rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, max, NULL, err);
    if (rc == KILN_OK && (*max < 1 || *max > 1000))
        rc = kiln_err_set(err, KILN_EINVAL, "max_results must be between 1 and 1000");
    return rc;
}

static int h_runs(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name = kiln_http_param(req, "name");
    int64_t max = 100;
    json_t *doc, *runs = NULL;
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK && name == NULL)
        rc = kiln_json_get_str(doc, "pipeline", KILN_JSON_OPTIONAL, &name, err);
    if (rc == KILN_OK)
        rc = read_max(doc, &max, err);
    if (rc == KILN_OK)
        rc = kiln_pl_query_runs(srv->store, name, (int)max, &runs, err);
    if (rc != KILN_OK)
        return rc;
    return send_json(resp, json_pack("{s:o}", "runs", runs), err);
}

/* Declared parameters found among the evidence's scalars, then the explicit params on top. */
static json_t *merge_params(const struct kiln_pl_spec *spec, const json_t *params,
                            const json_t *evidence)
{
    json_t *m = json_object();
    const char *key;
    json_t *v;
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < spec->nparams && evidence != NULL; i++) {
        v = json_object_get(evidence, spec->params[i].name);
        if (v != NULL && (json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
            json_object_set(m, spec->params[i].name, v);
    }
    json_object_foreach((json_t *)(uintptr_t)params, key, v)
    {
        json_object_set(m, key, v);
    }
    return m;
}

static int h_trigger(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name = kiln_http_param(req, "name"), *reason, *date;
    struct kiln_pl_spec *spec = NULL;
    json_t *doc, *params = NULL, *evidence = NULL, *given = NULL, *resolved = NULL, *info = NULL;
    int64_t logical = kiln_now_ms();
    int version = 0, drift = 0;
    char id[33];
    int rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_object(doc, "params", KILN_JSON_OPTIONAL, &params, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_object(doc, "evidence", KILN_JSON_OPTIONAL, &evidence, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "reason", KILN_JSON_OPTIONAL, &reason, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "logical_date", KILN_JSON_OPTIONAL, &date, err);
    if (rc == KILN_OK)
        rc = kiln_pl_store_load_current(srv->store, name, &spec, &version, err);
    if (rc == KILN_OK && date != NULL && kiln_pl_parse_date(date, spec->tz, &logical) != KILN_OK)
        rc = kiln_err_set(err, KILN_EINVAL, "logical_date '%s' is not a date", date);
    drift = rc == KILN_OK && reason != NULL && strcmp(reason, "drift") == 0;
    if (rc == KILN_OK && !spec->manual_allowed) {
        int ok = 0;
        for (size_t i = 0; drift && i < spec->ntriggers; i++)
            ok |= spec->triggers[i].kind == KILN_TRIG_DRIFT;
        if (!ok)
            rc = kiln_err_set(err, KILN_EPERM,
                              "pipeline '%s' does not accept manual triggers (add 'manual' to its "
                              "triggers)",
                              name);
    }
    if (rc == KILN_OK && (given = merge_params(spec, params, evidence)) == NULL)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_pl_params_resolve(spec, given, &resolved, err);
    if (rc == KILN_OK && (reason != NULL || evidence != NULL))
        info = json_pack("{s:s?, s:O?}", "reason", reason, "evidence", evidence);
    if (rc == KILN_OK) {
        struct kiln_pl_new_run nr = {
            drift ? "drift" : "manual", info, resolved, logical, "scheduler", NULL
        };
        rc = kiln_pl_store_create_run(srv->store, spec, version, &nr, id, err);
    }
    if (rc == KILN_OK) {
        kiln_log_info("pipeline %s: run %s triggered (%s)", name, id, drift ? "drift" : "manual");
        notify(app);
        rc = send_json(resp,
                       json_pack("{s:s, s:s, s:i, s:O}", "run_id", id, "pipeline", name, "version",
                                 version, "params", resolved),
                       err);
    }
    json_decref(given);
    json_decref(resolved);
    json_decref(info);
    kiln_pl_spec_free(spec);
    return rc;
}

static int h_backfill(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                      struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *name = kiln_http_param(req, "name"), *from, *to;
    struct kiln_pl_spec *spec = NULL;
    json_t *doc, *created = json_array();
    int64_t from_ms = 0, to_ms = 0;
    int version = 0, skipped = 0;
    int rc = created != NULL ? kiln_api_read(req, NULL, &doc, err)
                             : kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "from", KILN_JSON_REQUIRED, &from, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "to", KILN_JSON_REQUIRED, &to, err);
    if (rc == KILN_OK)
        rc = kiln_pl_store_load_current(srv->store, name, &spec, &version, err);
    if (rc == KILN_OK && kiln_pl_parse_date(from, spec->tz, &from_ms) != KILN_OK)
        rc = kiln_err_set(err, KILN_EINVAL, "from '%s' is not a date (YYYY-MM-DD[THH:MM])", from);
    if (rc == KILN_OK && strlen(to) == 10) {
        /* A bare day includes all of that day. */
        char end[32];
        snprintf(end, sizeof(end), "%sT23:59:59.999", to);
        if (kiln_pl_parse_date(end, spec->tz, &to_ms) != KILN_OK)
            rc = kiln_err_set(err, KILN_EINVAL, "to '%s' is not a date (YYYY-MM-DD[THH:MM])", to);
    } else if (rc == KILN_OK && kiln_pl_parse_date(to, spec->tz, &to_ms) != KILN_OK) {
        rc = kiln_err_set(err, KILN_EINVAL, "to '%s' is not a date (YYYY-MM-DD[THH:MM])", to);
    }
    if (rc == KILN_OK)
        rc = kiln_pl_backfill(srv->store, spec, version, from_ms, to_ms, created, &skipped, err);
    if (rc == KILN_OK) {
        kiln_log_info("pipeline %s: backfill of %zu run(s), %d date(s) already had one", name,
                      json_array_size(created), skipped);
        notify(app);
        rc = send_json(
            resp,
            json_pack("{s:s, s:O, s:i}", "pipeline", name, "run_ids", created, "skipped", skipped),
            err);
    }
    json_decref(created);
    kiln_pl_spec_free(spec);
    return rc;
}

static int h_event(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                   struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *type, *key;
    json_t *doc, *evidence = NULL, *flat = NULL, *ids = json_array(), *errors = json_array(), *v;
    int rc = ids != NULL && errors != NULL ? kiln_api_read(req, NULL, &doc, err)
                                           : kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "type", KILN_JSON_REQUIRED, &type, err);
    if (rc == KILN_OK && strcmp(type, "drift") != 0 && strcmp(type, "model_version") != 0 &&
        strcmp(type, "alias") != 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "event type '%s' is not one of drift, model_version, alias", type);
    if (rc == KILN_OK)
        rc = kiln_json_get_object(doc, "evidence", KILN_JSON_OPTIONAL, &evidence, err);
    if (rc == KILN_OK && (flat = json_deep_copy(doc)) == NULL)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_object_foreach(evidence, key, v)
    {
        /* Evidence scalars fill declared parameters too (drift_share, column, ...). */
        if (rc == KILN_OK && json_object_get(flat, key) == NULL &&
            (json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
            json_object_set(flat, key, v);
    }
    if (rc == KILN_OK)
        rc = kiln_pl_dispatch_event(srv->store, type, flat, ids, errors, err);
    if (rc == KILN_OK) {
        if (json_array_size(ids) > 0)
            notify(app);
        rc = send_json(resp, json_pack("{s:O, s:O}", "run_ids", ids, "errors", errors), err);
    }
    json_decref(flat);
    json_decref(ids);
    json_decref(errors);
    return rc;
}

static int resolve(struct kiln_server *srv, struct kiln_http_req *req, char id[33],
                   struct kiln_err *err)
{
    return kiln_pl_store_resolve_run(srv->store, kiln_http_param(req, "run_id"), id, err);
}

static int h_run_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    json_t *run = NULL;
    char id[33];
    int rc = resolve(srv, req, id, err);
    if (rc == KILN_OK)
        rc = kiln_pl_query_run(srv->store, id, &run, err);
    if (rc != KILN_OK)
        return rc;
    return send_json(resp, json_pack("{s:o}", "run", run), err);
}

static int h_cancel(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_server *srv = app;
    char id[33];
    int rc = resolve(srv, req, id, err);
    if (rc == KILN_OK)
        rc = kiln_pl_store_request_cancel(srv->store, id, err);
    if (rc != KILN_OK)
        return rc;
    notify(app);
    return send_json(resp, json_pack("{s:s, s:b}", "run_id", id, "cancel_requested", 1), err);
}

/* Length of buf[0..n) without a trailing, incomplete UTF-8 sequence (kept for the next read). */
static size_t utf8_cut(const unsigned char *buf, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = buf[n - back];
        size_t need;
        if ((c & 0xc0) == 0x80)
            continue; /* a continuation byte: keep looking for the lead */
        need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back && n - back > 0 ? n - back : n;
    }
    return n;
}

static int h_logs(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *task = kiln_http_param(req, "task"), *format = NULL;
    int64_t attempt = 0, offset = 0, max = LOG_CHUNK_DEFAULT;
    char id[33], *path = NULL, *off_s, *att_s;
    struct kiln_buf chunk;
    int got = 0, final = 0, fd = -1, json;
    struct stat sb;
    json_t *doc;
    int rc = resolve(srv, req, id, err);
    if (rc == KILN_OK)
        rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "attempt", KILN_JSON_OPTIONAL, &attempt, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "offset", KILN_JSON_OPTIONAL, &offset, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_bytes", KILN_JSON_OPTIONAL, &max, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "format", KILN_JSON_OPTIONAL, &format, err);
    if (rc == KILN_OK &&
        (attempt < 0 || attempt > 1000000 || offset < 0 || max < 1 || max > LOG_CHUNK_MAX))
        rc = kiln_err_set(err, KILN_EINVAL, "attempt, offset or max_bytes out of range");
    if (rc == KILN_OK && format != NULL && strcmp(format, "json") != 0 &&
        strcmp(format, "text") != 0)
        rc = kiln_err_set(err, KILN_EINVAL, "format must be text or json");
    if (rc == KILN_OK)
        rc = kiln_pl_query_log(srv->store, id, task, (int)attempt, &path, &got, &final, err);
    if (rc != KILN_OK)
        return rc;
    json = format != NULL && strcmp(format, "json") == 0;
    memset(&sb, 0, sizeof(sb));
    kiln_buf_init(&chunk, (size_t)LOG_CHUNK_MAX + 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    kiln_free(path);
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && offset < sb.st_size) {
        int64_t n = sb.st_size - offset < max ? sb.st_size - offset : max;
        if (kiln_buf_grow(&chunk, (size_t)n) == KILN_OK) {
            ssize_t r = pread(fd, chunk.buf, (size_t)n, (off_t)offset);
            if (r > 0) {
                size_t keep =
                    json ? utf8_cut((const unsigned char *)chunk.buf, (size_t)r) : (size_t)r;
                chunk.len = keep;
                chunk.buf[keep] = '\0';
                offset += (int64_t)keep;
            }
        }
    }
    if (fd >= 0)
        close(fd);
    /* Complete: the attempt ended and everything it wrote has been sent. */
    final = final && offset >= (int64_t)sb.st_size;
    if (json) {
        struct kiln_jsonw w;
        kiln_api_json_begin(resp, &w);
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_key(&w, "log");
        kiln_jsonw_strn(&w, chunk.buf, chunk.len);
        kiln_jsonw_kv_int(&w, "offset", offset);
        kiln_jsonw_kv_int(&w, "attempt", got);
        kiln_jsonw_kv_bool(&w, "complete", final);
        kiln_jsonw_obj_end(&w);
        kiln_buf_release(&chunk);
        return kiln_api_json_end(&w, err);
    }
    kiln_http_resp_set(resp, 200, "text/plain; charset=utf-8");
    kiln_buf_reset(&resp->body);
    rc = kiln_buf_append(&resp->body, chunk.buf, chunk.len);
    kiln_buf_release(&chunk);
    off_s = kiln_arena_printf(req->arena, "%lld", (long long)offset);
    att_s = kiln_arena_printf(req->arena, "%d", got);
    if (rc != KILN_OK || off_s == NULL || att_s == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_http_resp_header(resp, "X-Kiln-Log-Offset", off_s);
    kiln_http_resp_header(resp, "X-Kiln-Log-Attempt", att_s);
    kiln_http_resp_header(resp, "X-Kiln-Log-Complete", final ? "1" : "0");
    return KILN_OK;
}

int kiln_pl_api_routes(struct kiln_router *r)
{
    static const struct kiln_api_route routes[] = {
        { "POST", "/pipelines", h_apply },
        { "GET", "/pipelines", h_list },
        { "GET", "/pipelines/{name}", h_get },
        { "GET", "/pipelines/{name}/runs", h_runs },
        { "POST", "/pipelines/{name}/trigger", h_trigger },
        { "POST", "/pipelines/{name}/backfill", h_backfill },
        { "POST", "/pipeline-events", h_event },
        { "GET", "/pipeline-runs", h_runs },
        { "GET", "/pipeline-runs/{run_id}", h_run_get },
        { "POST", "/pipeline-runs/{run_id}/cancel", h_cancel },
        { "GET", "/pipeline-runs/{run_id}/tasks/{task}/logs", h_logs },
    };
    return kiln_api_add_kiln(r, routes, KILN_ARRAY_LEN(routes));
}

/* ---- the server's scheduler ------------------------------------------------------------- */

int kiln_pl_server_sched_new(struct kiln_server *srv, struct kiln_err *err)
{
    struct kiln_pl_config cfg;
    const char *par = getenv("KILN_PIPELINE_PARALLELISM");
    int64_t n = 32;
    memset(&cfg, 0, sizeof(cfg));
    if (par != NULL && (kiln_parse_int64(par, strlen(par), &n) != KILN_OK || n < 1 || n > 10000))
        return kiln_err_set(err, KILN_EINVAL,
                            "KILN_PIPELINE_PARALLELISM must be a number between 1 and 10000");
    cfg.store = srv->store;
    cfg.artifacts_root = srv->artifacts_root;
    cfg.owner = "scheduler";
    cfg.parallelism = (int)n;
    return kiln_pl_sched_new(&cfg, &srv->pipelines, err);
}

int kiln_pl_server_sched_start(struct kiln_pl_sched *s, const char *host, int port,
                               struct kiln_err *err)
{
    char url[300];
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    else if (strcmp(host, "::") == 0)
        snprintf(url, sizeof(url), "http://[::1]:%d", port);
    else if (strchr(host, ':') != NULL)
        snprintf(url, sizeof(url), "http://[%s]:%d", host, port);
    else
        snprintf(url, sizeof(url), "http://%s:%d", host, port);
    if (kiln_pl_sched_set_server(s, url) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    return kiln_pl_sched_start(s, err);
}

/*
 * follow.c - the scheduler's two helper threads, which do the HTTP so the scheduler thread
 * never waits on the network:
 *
 *   tracking: creates the tracking run of each pipeline run (MLflow REST runs/create in the
 *             pipeline's experiment, created if missing, with the run's parameters and
 *             kiln.pipeline* tags) and ends it with the run's outcome (runs/update). Replies
 *             go to the scheduler's inbox. A tracking server that is down or lacks the runs
 *             API only costs the link: the pipeline runs on.
 *   events:   follows the registry's event feed (GET /api/kiln/v1/events?after=ID&wait=S, a
 *             long poll) and turns model_version.created into "model_version" events and
 *             alias.moved / alias.rolled_back into "alias" events for kiln_pl_dispatch_event.
 *             The feed position is kept in the store (pipeline_cursors), so a restart neither
 *             misses nor repeats events; the first start begins at the feed's end.
 *
 * Each thread owns its HTTP client. Stop: a flag under s->mu plus the condition variable; the
 * long poll waits at most POLL_WAIT_S, which bounds how long stopping takes.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "http/client.h"
#include "pipeline/sched_int.h"
#include "store/store.h"

#define POLL_WAIT_S 2

/* ---- tracking ---------------------------------------------------------------------------- */

static void track_job_free(struct track_job *j)
{
    kiln_free(j->experiment);
    kiln_free(j->run_name);
    kiln_free(j->status);
    json_decref(j->params);
    kiln_free(j->reply);
    kiln_free(j);
}

void kiln_sched_track_post(struct kiln_pl_sched *s, struct track_job *j)
{
    if (!s->track_started) {
        track_job_free(j);
        return;
    }
    pthread_mutex_lock(&s->mu);
    j->next = NULL;
    *s->track_tail = j;
    s->track_tail = &j->next;
    pthread_cond_signal(&s->track_cv);
    pthread_mutex_unlock(&s->mu);
}

static int experiment_id(struct kiln_http_client *c, const char *name, char *out, size_t size,
                         struct kiln_err *err)
{
    json_t *req = json_pack("{s:s}", "experiment_name", name), *resp = NULL;
    const char *id;
    int rc =
        kiln_http_client_json(c, "GET", "/api/2.0/mlflow/experiments/get-by-name", req, &resp, err);
    json_decref(req);
    if (rc == KILN_ENOENT) {
        req = json_pack("{s:s}", "name", name);
        rc =
            kiln_http_client_json(c, "POST", "/api/2.0/mlflow/experiments/create", req, &resp, err);
        json_decref(req);
        id = json_string_value(json_object_get(resp, "experiment_id"));
    } else {
        id = json_string_value(
            json_object_get(json_object_get(resp, "experiment"), "experiment_id"));
    }
    if (rc == KILN_OK && id == NULL)
        rc = kiln_err_set(err, KILN_EIO, "the tracking server sent no experiment id");
    if (rc == KILN_OK)
        kiln_strlcpy(out, id, size);
    json_decref(resp);
    return rc;
}

static int create_run(struct kiln_http_client *c, struct track_job *j, struct kiln_err *err)
{
    char exp[64];
    json_t *req, *resp = NULL, *params;
    const char *key, *id;
    json_t *v;
    int rc = experiment_id(c, j->experiment, exp, sizeof(exp), err);
    if (rc != KILN_OK)
        return rc;
    req = json_pack("{s:s, s:s, s:I, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "experiment_id", exp,
                    "run_name", j->run_name, "start_time", (json_int_t)j->time_ms, "tags", "key",
                    "kiln.pipeline_run_id", "value", j->run_id, "key", "mlflow.source.type",
                    "value", "JOB", "key", "mlflow.runName", "value", j->run_name);
    rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/runs/create", req, &resp, err);
    json_decref(req);
    id = json_string_value(
        json_object_get(json_object_get(json_object_get(resp, "run"), "info"), "run_id"));
    if (rc == KILN_OK && id == NULL)
        rc = kiln_err_set(err, KILN_EIO, "the tracking server sent no run id");
    if (rc == KILN_OK)
        kiln_strlcpy(j->reply->tracking_id, id, sizeof(j->reply->tracking_id));
    json_decref(resp);
    if (rc != KILN_OK || json_object_size(j->params) == 0)
        return rc;
    params = json_array();
    json_object_foreach(j->params, key, v)
    {
        json_array_append_new(params, json_pack("{s:s, s:O}", "key", key, "value", v));
    }
    req = json_pack("{s:s, s:o}", "run_id", j->reply->tracking_id, "params", params);
    if (kiln_http_client_json(c, "POST", "/api/2.0/mlflow/runs/log-batch", req, NULL, err) !=
        KILN_OK)
        kiln_log_warn("pipeline run %s: cannot log parameters to tracking run %s: %s", j->run_id,
                      j->reply->tracking_id, err->msg);
    json_decref(req);
    return KILN_OK;
}

static void run_track_job(struct kiln_pl_sched *s, struct kiln_http_client **c, struct track_job *j)
{
    struct kiln_err err = { 0 };
    int rc = *c == NULL ? kiln_http_client_new(s->tracking_uri, 10000, c, &err) : KILN_OK;
    if (j->finish) {
        json_t *req = json_pack("{s:s, s:s, s:I}", "run_id", j->tracking_id, "status", j->status,
                                "end_time", (json_int_t)j->time_ms);
        if (rc == KILN_OK)
            rc = kiln_http_client_json(*c, "POST", "/api/2.0/mlflow/runs/update", req, NULL, &err);
        json_decref(req);
        if (rc != KILN_OK)
            kiln_log_warn("pipelines: cannot end tracking run %s: %s", j->tracking_id,
                          kiln_err_msg(&err, rc));
        return;
    }
    if (rc == KILN_OK)
        rc = create_run(*c, j, &err);
    if (rc != KILN_OK)
        snprintf(j->reply->message, sizeof(j->reply->message), "%s", kiln_err_msg(&err, rc));
    kiln_sched_post(s, j->reply);
    j->reply = NULL;
}

static void *track_main(void *arg)
{
    struct kiln_pl_sched *s = arg;
    struct kiln_http_client *c = NULL;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct track_job *j;
        while (s->track_jobs == NULL && s->track_started == 1)
            pthread_cond_wait(&s->track_cv, &s->mu);
        j = s->track_jobs;
        if (j == NULL)
            break; /* stopping and drained */
        s->track_jobs = j->next;
        if (s->track_jobs == NULL)
            s->track_tail = &s->track_jobs;
        pthread_mutex_unlock(&s->mu);
        run_track_job(s, &c, j);
        track_job_free(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    kiln_http_client_free(c);
    return NULL;
}

int kiln_sched_track_start(struct kiln_pl_sched *s, struct kiln_err *err)
{
    s->track_started = 1;
    if (pthread_create(&s->track_thread, NULL, track_main, s) != 0) {
        s->track_started = 0;
        return kiln_err_set(err, KILN_EIO, "cannot start the tracking thread");
    }
    return KILN_OK;
}

void kiln_sched_track_stop(struct kiln_pl_sched *s)
{
    if (!s->track_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->track_started = 2; /* drain what is queued (run endings), then leave */
    pthread_cond_signal(&s->track_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->track_thread, NULL);
    s->track_started = 0;
}

/* ---- the registry event feed -------------------------------------------------------------- */

static int stopping(struct kiln_pl_sched *s)
{
    int st;
    pthread_mutex_lock(&s->mu);
    st = s->follow_started != 1;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Sleeps up to ms, returning early when asked to stop. */
static void nap(struct kiln_pl_sched *s, int64_t ms)
{
    int64_t end = kiln_now_ms() + ms;
    while (!stopping(s) && kiln_now_ms() < end)
        kiln_sleep_ms(100);
}

static int load_cursor(struct kiln_pl_sched *s, int64_t *pos, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err), found = 0;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "SELECT position FROM pipeline_cursors WHERE source = 'registry'", &st,
                         err);
    if (rc == KILN_OK) {
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW) {
            *pos = kiln_stmt_int64(st, 0);
            found = 1;
        }
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    return rc < 0 ? rc : found ? KILN_OK : KILN_ENOENT;
}

static int save_cursor(struct kiln_pl_sched *s, int64_t pos, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc = kiln_store_begin(s->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_pl_exec(tx,
                      "INSERT INTO pipeline_cursors (source, position) VALUES ('registry', ?) ON "
                      "CONFLICT (source) DO UPDATE SET position = excluded.position",
                      err, "i", pos);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

/* Flattens a feed event into the fields pipelines see (data's scalars, then the headline). */
static json_t *flatten(const json_t *ev)
{
    json_t *out = json_object(), *data = json_object_get(ev, "data"), *v;
    static const char *const keys[] = { "model", "version", "alias" };
    const char *key;
    if (out == NULL)
        return NULL;
    json_object_foreach(data, key, v)
    {
        if (json_is_string(v) || json_is_number(v) || json_is_boolean(v))
            json_object_set(out, key, v);
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(keys); i++) {
        v = json_object_get(ev, keys[i]);
        if (json_is_string(v))
            json_object_set(out, keys[i], v);
    }
    json_object_set(out, "event_id", json_object_get(ev, "id"));
    json_object_set(out, "event_type", json_object_get(ev, "type"));
    return out;
}

static int handle_events(struct kiln_pl_sched *s, const json_t *events)
{
    json_t *ids = json_array(), *ev;
    size_t i;
    int n = 0;
    json_array_foreach(events, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *kind = NULL;
        json_t *flat;
        struct kiln_err err = { 0 };
        if (type == NULL)
            continue;
        if (strcmp(type, "model_version.created") == 0)
            kind = "model_version";
        else if (strcmp(type, "alias.moved") == 0 || strcmp(type, "alias.rolled_back") == 0)
            kind = "alias";
        flat = kind != NULL ? flatten(ev) : NULL;
        if (flat != NULL &&
            kiln_pl_dispatch_event(s->store, kind, flat, ids, NULL, &err) != KILN_OK)
            kiln_log_warn("pipelines: cannot dispatch registry event: %s", err.msg);
        json_decref(flat);
    }
    n = (int)json_array_size(ids);
    json_decref(ids);
    return n;
}

static void *follow_main(void *arg)
{
    struct kiln_pl_sched *s = arg;
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int64_t cursor = -1;
    int warned = 0;

    if (kiln_http_client_new(s->events_uri, (POLL_WAIT_S + 10) * 1000, &c, &err) != KILN_OK) {
        kiln_log_error("pipelines: cannot follow registry events: %s", err.msg);
        return NULL;
    }
    while (!stopping(s)) {
        char path[256];
        json_t *resp = NULL;
        int rc;
        if (cursor < 0 && load_cursor(s, &cursor, &err) != KILN_OK)
            cursor = -1;
        if (cursor < 0) /* first start: begin at the end of the feed */
            snprintf(path, sizeof(path), "/api/kiln/v1/events?after=0&max_results=1");
        else
            snprintf(path, sizeof(path),
                     "/api/kiln/v1/events?after=%lld&wait=%d&types=model_version.created,"
                     "alias.moved,alias.rolled_back",
                     (long long)cursor, POLL_WAIT_S);
        kiln_err_clear(&err);
        rc = kiln_http_client_json(c, "GET", path, NULL, &resp, &err);
        if (rc == KILN_ENOENT || rc == KILN_ENOENDPOINT) {
            if (!warned++)
                kiln_log_info("pipelines: no registry event feed on this server; model and alias "
                              "triggers wait for it");
            nap(s, 30000);
        } else if (rc != KILN_OK) {
            kiln_log_debug("pipelines: registry event feed: %s", err.msg);
            nap(s, 2000);
        } else if (cursor < 0) {
            json_int_t last = json_integer_value(json_object_get(resp, "last_id"));
            if (save_cursor(s, last, &err) == KILN_OK)
                cursor = last;
        } else {
            json_int_t next = json_integer_value(json_object_get(resp, "next_after"));
            if (handle_events(s, json_object_get(resp, "events")) > 0)
                kiln_pl_sched_notify(s);
            if (next > cursor && save_cursor(s, next, &err) == KILN_OK)
                cursor = next;
        }
        json_decref(resp);
    }
    kiln_http_client_free(c);
    return NULL;
}

int kiln_sched_follow_start(struct kiln_pl_sched *s, struct kiln_err *err)
{
    s->follow_started = 1;
    if (pthread_create(&s->follow_thread, NULL, follow_main, s) != 0) {
        s->follow_started = 0;
        return kiln_err_set(err, KILN_EIO, "cannot start the event follower");
    }
    return KILN_OK;
}

void kiln_sched_follow_stop(struct kiln_pl_sched *s)
{
    int started;
    pthread_mutex_lock(&s->mu);
    started = s->follow_started;
    if (started)
        s->follow_started = 2;
    pthread_mutex_unlock(&s->mu);
    if (started == 1)
        pthread_join(s->follow_thread, NULL);
}

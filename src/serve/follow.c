/*
 * follow.c - keeping a served model in step with the registry.
 *
 * A follower thread runs per model named by an alias, a stage or `latest`:
 *
 *   start -> learn the newest event id (GET /api/kiln/v1/events?after=0&max_results=1)
 *         -> check once (catches a move between the first load and now)
 *         -> loop: long-poll GET /events?after=ID&wait=S&model=NAME&types=...; any event about
 *            the model -> check; ID = next_after
 *   check  = resolve the URI; a different version is downloaded, loaded, warmed up and swapped
 *            in (slot_load); a failure keeps the current version and is logged and counted.
 *
 * Servers without kiln's event feed (an MLflow tracking server answers ENDPOINT_NOT_FOUND)
 * are polled every poll_interval_ms instead. Transport errors back off from 1 s to 30 s.
 * On stop, srv->stopping cancels a long-poll in flight (the client's cancel flag) and wakes a
 * sleeping follower (srv->cv); stop joins every follower.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "http/client.h"
#include "serve/serve_int.h"

#define TYPES                                                                                  \
    "alias.moved,alias.rolled_back,alias.deleted,model_version.created,model_version.deleted," \
    "model_version.stage_changed"
#define BACKOFF_MAX_MS 30000

/* Sleeps up to ms milliseconds; returns 1 when the server is stopping. */
int serve_nap(struct kiln_serve *s, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stopping))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);
    return atomic_load(&s->stopping);
}

static void check(struct slot *sl)
{
    struct kiln_err err = { 0 };
    struct served *cur;
    int changed = 0;
    if (slot_load(sl, 0, &changed, &err) == KILN_OK || atomic_load(&sl->srv->stopping))
        return;
    cur = slot_acquire(sl);
    kiln_log_warn("model '%s': reload failed, still serving version %s: %s", sl->name,
                  cur != NULL ? cur->version : "(none)", err.msg);
    served_release(cur);
}

/*
 * One call to the event feed. *n gets the number of events, *next the next `after`, *last the
 * newest event id. KILN_ENOENDPOINT when the server has no feed.
 */
static int feed(struct slot *sl, struct kiln_http_client *c, int64_t after, int wait, size_t max,
                size_t *n, int64_t *next, int64_t *last, struct kiln_err *err)
{
    struct kiln_buf path, body;
    json_t *doc = NULL;
    int status = 0, rc;

    kiln_buf_init(&path, 4096);
    kiln_buf_init(&body, (size_t)16 << 20);
    rc = kiln_buf_printf(&path, "/api/kiln/v1/events?after=%lld&wait=%d&model=", (long long)after,
                         wait);
    if (rc == KILN_OK)
        rc = kiln_url_encode(sl->u.name, strlen(sl->u.name), 0, &path);
    if (rc == KILN_OK)
        rc = kiln_buf_printf(&path, "&types=" TYPES "%s", max == 1 ? "&max_results=1" : "");
    if (rc != KILN_OK) {
        rc = kiln_err_set(err, rc, "model name too long");
        goto out;
    }
    rc = kiln_http_client_call(c, "GET", path.buf, NULL, NULL, 0, &status, &body, err);
    if (rc != KILN_OK)
        goto out;
    if (kiln_json_parse_object(body.buf, body.len, 0, &doc, err) != KILN_OK) {
        rc =
            kiln_err_set(err, KILN_EIO, "the event feed answered %d with a malformed body", status);
        goto out;
    }
    if (status != 200) {
        const char *code = json_string_value(json_object_get(doc, "error_code"));
        const char *msg = json_string_value(json_object_get(doc, "message"));
        rc = kiln_err_set(err, kiln_rc_from_mlflow_code(code), "event feed: HTTP %d: %s", status,
                          msg != NULL ? msg : "(no message)");
        goto out;
    }
    *n = json_array_size(json_object_get(doc, "events"));
    *next = json_integer_value(json_object_get(doc, "next_after"));
    *last = json_integer_value(json_object_get(doc, "last_id"));
out:
    json_decref(doc);
    kiln_buf_release(&path);
    kiln_buf_release(&body);
    return rc;
}

static void *follow_main(void *arg)
{
    struct slot *sl = arg;
    struct kiln_serve *s = sl->srv;
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int64_t after = -1, backoff = 1000;
    int use_feed = 1, failing = 0;

    if (kiln_http_client_new(s->tracking_uri, (long)(s->event_wait_s + 30) * 1000, &c, &err) !=
        KILN_OK) {
        kiln_log_error("model '%s': cannot follow the registry: %s", sl->name, err.msg);
        return NULL;
    }
    kiln_http_client_set_cancel(c, &s->stopping);
    while (!atomic_load(&s->stopping)) {
        size_t n = 0;
        int64_t next = after, last = 0;
        int rc;
        if (!use_feed) {
            if (serve_nap(s, s->poll_interval_ms))
                break;
            check(sl);
            continue;
        }
        if (after < 0)
            rc = feed(sl, c, 0, 0, 1, &n, &next, &last, &err);
        else
            rc = feed(sl, c, after, s->event_wait_s, 100, &n, &next, &last, &err);
        if (rc == KILN_ECANCELED || atomic_load(&s->stopping))
            break;
        if (rc == KILN_ENOENDPOINT) {
            kiln_log_info("model '%s': the tracking server has no event feed; polling every %d ms",
                          sl->name, s->poll_interval_ms);
            use_feed = 0;
            continue;
        }
        if (rc != KILN_OK) {
            if (!failing)
                kiln_log_warn("model '%s': cannot read the registry's events (retrying): %s",
                              sl->name, err.msg);
            failing = 1;
            if (serve_nap(s, backoff))
                break;
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (failing)
            kiln_log_info("model '%s': following the registry's events again", sl->name);
        failing = 0;
        backoff = 1000;
        if (after < 0) {
            after = last;
            check(sl);
            continue;
        }
        after = next > after ? next : after;
        if (n > 0)
            check(sl);
    }
    kiln_http_client_free(c);
    return NULL;
}

int follow_start(struct slot *sl, struct kiln_err *err)
{
    int e = pthread_create(&sl->thread, NULL, follow_main, sl);
    if (e != 0)
        return kiln_err_set(err, KILN_EIO, "cannot start the follower of '%s': %s", sl->name,
                            strerror(e));
    sl->thread_started = 1;
    return KILN_OK;
}

void follow_stop_all(struct kiln_serve *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->slots[i]->thread_started) {
            pthread_join(s->slots[i]->thread, NULL);
            s->slots[i]->thread_started = 0;
        }
}

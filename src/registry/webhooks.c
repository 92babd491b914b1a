/*
 * webhooks.c - the webhook delivery thread (reg_delivery_main, started by
 * kiln_registry_start).
 *
 * Deliveries are rows of webhook_deliveries written in the same transaction as their event,
 * so nothing is lost across a crash or restart: the thread only ever reads due rows and
 * updates their state.
 *
 *   delivery: pending --2xx--> delivered
 *             pending --error--> pending (attempts + 1, next attempt after a backoff that
 *                                 doubles from cfg.webhook_backoff_ms up to the cap)
 *             pending --error at cfg.webhook_max_attempts--> failed
 *
 * Delivery is at-least-once (a crash after the POST and before the update repeats it) and not
 * ordered across retries: receivers should use the event id (body field "id") to deduplicate
 * and order. The body is {"id", "type", "time", "model", "version", "alias", "user", "data"},
 * with the event's payload as "data".
 *
 * Thread: the delivery thread alone runs this file; it sleeps on the registry's condition
 * variable until a publish kicks it, the next retry is due, or the registry stops.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/time.h"
#include "http/client.h"
#include "registry/registry_int.h"

#define BATCH 20
#define IDLE_WAIT_MS 30000

struct due {
    int64_t webhook_id, event_id, attempts;
    const char *url;
    struct kiln_registry_event ev;
};

static int load_due(struct kiln_registry *reg, struct kiln_arena *arena, struct due *out, size_t *n,
                    struct kiln_err *err)
{
    struct kiln_stmt *st = NULL;
    struct kiln_tx *tx;
    int oom = 0, rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    *n = 0;
    if (rc != KILN_OK)
        return rc;
    rc = reg_prepare(tx, &st, err,
                     "SELECT d.webhook_id, d.event_id, d.attempts, w.url, e.type, e.time, "
                     "e.model, e.version, e.alias, e.user_id, e.payload "
                     "FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id "
                     "JOIN registry_events e ON e.event_id = d.event_id "
                     "WHERE d.state = 'pending' AND d.next_attempt_time <= ? AND w.active = 1 "
                     "ORDER BY d.next_attempt_time, d.event_id LIMIT ?",
                     "ii", kiln_now_ms(), (int64_t)BATCH);
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct due *d = &out[(*n)++];
        d->webhook_id = kiln_stmt_int64(st, 0);
        d->event_id = kiln_stmt_int64(st, 1);
        d->attempts = kiln_stmt_int64(st, 2);
        d->url = reg_col_text(st, 3, arena, &oom);
        d->ev.id = d->event_id;
        d->ev.type = reg_col_text(st, 4, arena, &oom);
        d->ev.time = kiln_stmt_int64(st, 5);
        d->ev.model = reg_col_text(st, 6, arena, &oom);
        d->ev.version = kiln_stmt_is_null(st, 7) ? 0 : kiln_stmt_int64(st, 7);
        d->ev.alias = reg_col_text(st, 8, arena, &oom);
        d->ev.user_id = reg_col_text(st, 9, arena, &oom);
        d->ev.payload = reg_col_text(st, 10, arena, &oom);
        rc = oom ? reg_oom(err) : KILN_OK;
    }
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return rc < 0 ? rc : KILN_OK;
}

/* The JSON body of one delivery (also the shape of an event in the feed). */
static int body(const struct kiln_registry_event *e, struct kiln_buf *out)
{
    struct kiln_jsonw w;
    kiln_jsonw_init(&w, out);
    kiln_registry_event_write(&w, e);
    return kiln_jsonw_finish(&w);
}

/* POSTs one delivery; returns the HTTP status (0 on transport errors) and the error text. */
static long post(struct kiln_registry *reg, const struct due *d, char *errbuf, size_t size)
{
    struct kiln_http_client *c = NULL;
    struct kiln_buf b, resp;
    struct kiln_err err = { 0 };
    int status = 0, rc;

    kiln_buf_init(&b, (size_t)8 << 20);
    kiln_buf_init(&resp, (size_t)64 << 10);
    rc = body(&d->ev, &b);
    if (rc == KILN_OK)
        rc = kiln_http_client_new(d->url, reg->cfg.webhook_timeout_ms, &c, &err);
    if (rc == KILN_OK)
        rc = kiln_http_client_call(c, "POST", "", "application/json", b.buf, b.len, &status, &resp,
                                   &err);
    if (rc != KILN_OK) {
        snprintf(errbuf, size, "%s", kiln_err_msg(&err, rc));
        status = 0;
    } else if (status < 200 || status > 299) {
        snprintf(errbuf, size, "HTTP %d", status);
    }
    kiln_http_client_free(c);
    kiln_buf_release(&b);
    kiln_buf_release(&resp);
    return status;
}

static int64_t backoff(const struct kiln_registry *reg, int64_t attempts)
{
    int64_t delay = reg->cfg.webhook_backoff_ms;
    for (int64_t i = 1; i < attempts && delay < reg->cfg.webhook_backoff_max_ms; i++)
        delay *= 2;
    return delay < reg->cfg.webhook_backoff_max_ms ? delay : reg->cfg.webhook_backoff_max_ms;
}

static int record(struct kiln_registry *reg, const struct due *d, long status, const char *error,
                  struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t now = kiln_now_ms(), attempts = d->attempts + 1;
    int ok = status >= 200 && status <= 299;
    const char *state = ok                                          ? "delivered"
                        : attempts >= reg->cfg.webhook_max_attempts ? "failed"
                                                                    : "pending";
    int rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_exec(tx, err,
                  "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_time = ?, "
                  "last_status = ?, last_error = ?, updated_time = ? WHERE webhook_id = ? AND "
                  "event_id = ?",
                  "tiiitiii", state, attempts, ok ? now : now + backoff(reg, attempts),
                  (int64_t)status, ok ? NULL : error, now, d->webhook_id, d->event_id);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    if (!ok)
        kiln_log_warn("webhook %lld: delivery of event %lld failed (attempt %lld): %s%s",
                      (long long)d->webhook_id, (long long)d->event_id, (long long)attempts, error,
                      strcmp(state, "failed") == 0 ? "; giving up" : "");
    return kiln_store_commit(tx, err);
}

/* Delivers what is due; *next_due is the wall-clock time of the next pending attempt. */
static int deliver_due(struct kiln_registry *reg, int64_t *next_due)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct due due[BATCH];
    struct kiln_err err = { 0 };
    struct kiln_tx *tx;
    size_t n = 0;
    int found, rc;

    *next_due = 0;
    if (arena == NULL)
        return KILN_ENOMEM;
    rc = load_due(reg, arena, due, &n, &err);
    for (size_t i = 0; rc == KILN_OK && i < n && !kiln_registry_stopping(reg); i++) {
        char error[256] = "";
        long status = post(reg, &due[i], error, sizeof(error));
        rc = record(reg, &due[i], status, error, &err);
    }
    if (rc == KILN_OK)
        rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, &err);
    if (rc == KILN_OK) {
        rc = reg_query_int64(tx, &err, next_due, &found,
                             "SELECT MIN(next_attempt_time) FROM webhook_deliveries WHERE state = "
                             "'pending'",
                             "");
        kiln_store_rollback(tx);
    }
    if (rc != KILN_OK)
        kiln_log_error("webhook delivery: %s", kiln_err_msg(&err, rc));
    kiln_arena_free(arena);
    return rc;
}

void *reg_delivery_main(void *arg)
{
    struct kiln_registry *reg = arg;
    for (;;) {
        int64_t next_due = 0, wait_ms = IDLE_WAIT_MS, now;
        int rc;
        pthread_mutex_lock(&reg->lock);
        reg->kick = 0;
        if (reg->stopping) {
            pthread_mutex_unlock(&reg->lock);
            break;
        }
        pthread_mutex_unlock(&reg->lock);

        rc = deliver_due(reg, &next_due);
        now = kiln_now_ms();
        if (rc != KILN_OK)
            wait_ms = 1000; /* store trouble: retry soon, not in a tight loop */
        else if (next_due > 0)
            wait_ms = next_due > now ? next_due - now : 0;
        if (wait_ms > IDLE_WAIT_MS)
            wait_ms = IDLE_WAIT_MS;

        /* Other broadcasts (watch registrations) may wake us early: wait on. */
        pthread_mutex_lock(&reg->lock);
        if (wait_ms > 0) {
            int64_t deadline = kiln_mono_ns() / 1000000 + wait_ms;
            struct timespec ts = { (time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L };
            while (!reg->stopping && !reg->kick && kiln_mono_ns() / 1000000 < deadline)
                pthread_cond_timedwait(&reg->cond, &reg->lock, &ts);
        }
        pthread_mutex_unlock(&reg->lock);
    }
    return NULL;
}

/*
 * registry.c - the registry object: lifecycle, the in-process event notification that the
 * event feed's long-polls and the webhook thread wait on, and the watch-deadline timer.
 *
 * State machine of the registry: NEW (kiln_registry_new) -> STARTED (threads running) ->
 * STOPPING (kiln_registry_stop: every watch fired, threads joined) -> freed. Watches can be
 * registered in any state; in STOPPING they are answered KILN_WATCH_READY at once.
 *
 * A watch is a one-shot callback: it is removed from the list under `lock` by whichever
 * thread fires it (a publisher, the timer or stop) and its callback runs after the lock is
 * released, exactly once. Publishing is cheap: it takes the lock, raises last_event_id,
 * detaches the satisfied watches and broadcasts `cond`.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "registry/registry_int.h"

const char *const kiln_default_environments[4] = { "dev", "staging", "canary", "production" };

static int64_t mono_ms(void)
{
    return kiln_mono_ns() / 1000000;
}

static void abs_deadline(int64_t deadline_ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(deadline_ms / 1000);
    ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
}

int kiln_registry_new(struct kiln_store *store, const struct kiln_registry_config *cfg,
                      struct kiln_registry **out, struct kiln_err *err)
{
    struct kiln_registry *reg;
    pthread_condattr_t ca;
    struct kiln_tx *tx;
    int64_t last = 0;
    int found, rc;

    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_query_int64(tx, err, &last, &found, "SELECT MAX(event_id) FROM registry_events", "");
    kiln_store_rollback(tx);
    if (rc != KILN_OK)
        return rc;
    reg = kiln_calloc(1, sizeof(*reg));
    if (reg == NULL)
        return reg_oom(err);
    reg->store = store;
    if (cfg != NULL)
        reg->cfg = *cfg;
    if (reg->cfg.webhook_max_attempts <= 0)
        reg->cfg.webhook_max_attempts = 10;
    if (reg->cfg.webhook_backoff_ms <= 0)
        reg->cfg.webhook_backoff_ms = 1000;
    if (reg->cfg.webhook_backoff_max_ms <= 0)
        reg->cfg.webhook_backoff_max_ms = 3600 * 1000;
    if (reg->cfg.webhook_timeout_ms <= 0)
        reg->cfg.webhook_timeout_ms = 10000;
    reg->last_event_id = last;
    pthread_mutex_init(&reg->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&reg->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = reg;
    return KILN_OK;
}

/* Fires (outside the lock) the watches detached into `list`. */
static void fire(struct kiln_watch *list)
{
    while (list != NULL) {
        struct kiln_watch *next = list->next;
        list->wake(list->arg);
        kiln_free(list);
        list = next;
    }
}

/* Detaches the watches satisfied by `last` or by `now` (deadline) under the lock. */
static struct kiln_watch *detach_ready(struct kiln_registry *reg, int64_t now)
{
    struct kiln_watch *ready = NULL, **pp = &reg->watches;
    while (*pp != NULL) {
        struct kiln_watch *w = *pp;
        if (reg->stopping || reg->last_event_id > w->after || w->deadline_ms <= now) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    return ready;
}

static void *timer_main(void *arg)
{
    struct kiln_registry *reg = arg;
    pthread_mutex_lock(&reg->lock);
    while (!reg->stopping) {
        struct kiln_watch *ready = detach_ready(reg, mono_ms());
        int64_t next = INT64_MAX;
        if (ready != NULL) {
            pthread_mutex_unlock(&reg->lock);
            fire(ready);
            pthread_mutex_lock(&reg->lock);
            continue;
        }
        for (struct kiln_watch *w = reg->watches; w != NULL; w = w->next)
            if (w->deadline_ms < next)
                next = w->deadline_ms;
        if (next == INT64_MAX) {
            pthread_cond_wait(&reg->cond, &reg->lock);
        } else {
            struct timespec ts;
            abs_deadline(next, &ts);
            pthread_cond_timedwait(&reg->cond, &reg->lock, &ts);
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}

int kiln_registry_start(struct kiln_registry *reg, struct kiln_err *err)
{
    int e;
    if (reg->started)
        return KILN_OK;
    e = pthread_create(&reg->timer, NULL, timer_main, reg);
    if (e != 0)
        return kiln_err_set(err, KILN_EIO, "cannot start the registry timer thread: %s",
                            strerror(e));
    e = pthread_create(&reg->deliverer, NULL, reg_delivery_main, reg);
    if (e != 0) {
        pthread_mutex_lock(&reg->lock);
        reg->stopping = 1;
        pthread_cond_broadcast(&reg->cond);
        pthread_mutex_unlock(&reg->lock);
        pthread_join(reg->timer, NULL);
        return kiln_err_set(err, KILN_EIO, "cannot start the webhook delivery thread: %s",
                            strerror(e));
    }
    reg->started = 1;
    return KILN_OK;
}

void kiln_registry_stop(struct kiln_registry *reg)
{
    struct kiln_watch *all;
    if (reg == NULL)
        return;
    pthread_mutex_lock(&reg->lock);
    reg->stopping = 1;
    all = reg->watches;
    reg->watches = NULL;
    pthread_cond_broadcast(&reg->cond);
    pthread_mutex_unlock(&reg->lock);
    fire(all);
    if (reg->started) {
        pthread_join(reg->timer, NULL);
        pthread_join(reg->deliverer, NULL);
        reg->started = 0;
    }
}

void kiln_registry_free(struct kiln_registry *reg)
{
    if (reg == NULL)
        return;
    kiln_registry_stop(reg);
    pthread_cond_destroy(&reg->cond);
    pthread_mutex_destroy(&reg->lock);
    kiln_free(reg);
}

int kiln_registry_stopping(struct kiln_registry *reg)
{
    int s;
    pthread_mutex_lock(&reg->lock);
    s = reg->stopping;
    pthread_mutex_unlock(&reg->lock);
    return s;
}

void reg_published(struct kiln_registry *reg, int64_t event_id)
{
    struct kiln_watch *ready = NULL;
    pthread_mutex_lock(&reg->lock);
    if (event_id > reg->last_event_id)
        reg->last_event_id = event_id;
    reg->kick = 1;
    ready = detach_ready(reg, INT64_MIN);
    pthread_cond_broadcast(&reg->cond);
    pthread_mutex_unlock(&reg->lock);
    fire(ready);
}

int64_t kiln_registry_last_event_id(struct kiln_registry *reg)
{
    int64_t id;
    pthread_mutex_lock(&reg->lock);
    id = reg->last_event_id;
    pthread_mutex_unlock(&reg->lock);
    return id;
}

int kiln_registry_watch(struct kiln_registry *reg, int64_t after, int64_t deadline_ms,
                        void (*wake)(void *arg), void *arg)
{
    struct kiln_watch *w = kiln_calloc(1, sizeof(*w));
    if (w == NULL)
        return KILN_ENOMEM;
    w->after = after;
    w->deadline_ms = deadline_ms;
    w->wake = wake;
    w->arg = arg;
    pthread_mutex_lock(&reg->lock);
    if (reg->stopping || reg->last_event_id > after || deadline_ms <= mono_ms()) {
        pthread_mutex_unlock(&reg->lock);
        kiln_free(w);
        return KILN_WATCH_READY;
    }
    w->next = reg->watches;
    reg->watches = w;
    pthread_cond_broadcast(&reg->cond); /* the timer recomputes its next deadline */
    pthread_mutex_unlock(&reg->lock);
    return KILN_OK;
}

int64_t kiln_registry_wait(struct kiln_registry *reg, int64_t after, int64_t timeout_ms)
{
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0), last;
    struct timespec ts;
    abs_deadline(deadline, &ts);
    pthread_mutex_lock(&reg->lock);
    while (!reg->stopping && reg->last_event_id <= after && mono_ms() < deadline) {
        if (pthread_cond_timedwait(&reg->cond, &reg->lock, &ts) == ETIMEDOUT)
            break;
    }
    last = reg->last_event_id;
    pthread_mutex_unlock(&reg->lock);
    return last;
}

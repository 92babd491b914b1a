/*
 * sched.c - the scheduler's life cycle and main loop (see sched_int.h for the threading and
 * write-behind rules).
 *
 * One loop iteration:
 *   1. wait until a message arrives, someone calls notify, or the next deadline (a retry, a
 *      schedule, the one-second store poll) passes;
 *   2. apply messages: task processes started and ended, tracking runs created;
 *   3. sync with the store: new runs, cancel requests (and pools/schedules after a notify);
 *   4. fire due schedules, start queued runs within max_active_runs, requeue due retries;
 *   5. pick ready task instances within parallelism, pools and max_active_tasks, and write
 *      their attempts;
 *   6. flush every change in one transaction, then start the picked processes;
 *   7. drop runs that ended.
 * Stop: the executor cancels every process; their attempts come back as interrupted and are
 * written so the next start runs them again without using a retry.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/sched_int.h"
#include "store/store.h"

#define SYNC_EVERY_MS 1000
#define FLUSH_RETRY_MS 1000

void kiln_sched_post(struct kiln_pl_sched *s, struct sched_msg *m)
{
    pthread_mutex_lock(&s->mu);
    m->next = NULL;
    *s->inbox_tail = m;
    s->inbox_tail = &m->next;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void kiln_pl_sched_notify(struct kiln_pl_sched *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->notified = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void kiln_pl_sched_cancel_all(struct kiln_pl_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->cancel_all = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void kiln_sched_emit_task(struct kiln_pl_sched *s, struct sched_run *r, size_t t)
{
    const struct sched_ti *ti = &r->tis[t];
    if (s->has_observer && s->observer.task != NULL)
        s->observer.task(s->observer.ctx, r->id, r->spec->tasks[t].name, ti->state,
                         ti->cur != NULL ? ti->cur->number : ti->attempts, ti->message);
}

void kiln_sched_emit_run(struct kiln_pl_sched *s, struct sched_run *r)
{
    if (s->has_observer && s->observer.run != NULL)
        s->observer.run(s->observer.ctx, r->id, r->state, r->message);
}

static char *dup_or_null(const char *v, int *fail)
{
    char *c;
    if (v == NULL)
        return NULL;
    c = kiln_strdup(v);
    if (c == NULL)
        *fail = 1;
    return c;
}

static char *self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return kiln_strdup("kiln");
    buf[n] = '\0';
    return kiln_strdup(buf);
}

int kiln_pl_sched_new(const struct kiln_pl_config *cfg, struct kiln_pl_sched **out,
                      struct kiln_err *err)
{
    struct kiln_pl_sched *s = kiln_calloc(1, sizeof(*s));
    char host[256];
    int fail = 0, rc;

    *out = NULL;
    if (s == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (gethostname(host, sizeof(host)) != 0)
        kiln_strlcpy(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    s->store = cfg->store;
    s->local = cfg->local;
    s->parallelism = cfg->parallelism > 0 ? cfg->parallelism : 32;
    s->artifacts_root = dup_or_null(cfg->artifacts_root, &fail);
    s->owner = dup_or_null(cfg->owner != NULL ? cfg->owner : "scheduler", &fail);
    s->tracking_uri = dup_or_null(cfg->tracking_uri, &fail);
    s->events_uri = dup_or_null(cfg->events_uri, &fail);
    s->kiln_bin = cfg->kiln_bin != NULL ? dup_or_null(cfg->kiln_bin, &fail) : self_exe();
    s->host = dup_or_null(host, &fail);
    if (cfg->observer != NULL) {
        s->observer = *cfg->observer;
        s->has_observer = 1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    pthread_cond_init(&s->track_cv, NULL);
    s->inbox_tail = &s->inbox;
    s->track_tail = &s->track_jobs;
    if (fail || s->kiln_bin == NULL || s->artifacts_root == NULL) {
        kiln_pl_sched_free(s);
        return kiln_err_set(err, fail ? KILN_ENOMEM : KILN_EINVAL,
                            fail ? "out of memory" : "the scheduler needs an artifacts root");
    }
    rc = kiln_pl_local_executor_new(cfg->kill_grace_ms, &s->exec, err);
    if (rc != KILN_OK) {
        kiln_pl_sched_free(s);
        return rc;
    }
    *out = s;
    return KILN_OK;
}

int kiln_pl_sched_set_server(struct kiln_pl_sched *s, const char *url)
{
    char *a = kiln_strdup(url), *b = kiln_strdup(url);
    if (a == NULL || b == NULL) {
        kiln_free(a);
        kiln_free(b);
        return KILN_ENOMEM;
    }
    kiln_free(s->tracking_uri);
    kiln_free(s->events_uri);
    s->tracking_uri = a;
    s->events_uri = b;
    return KILN_OK;
}

static void process_inbox(struct kiln_pl_sched *s, struct sched_msg *m)
{
    while (m != NULL) {
        struct sched_msg *next = m->next;
        if (m->kind == MSG_STARTED)
            kiln_sched_on_started(s, m);
        else if (m->kind == MSG_DONE)
            kiln_sched_on_done(s, m);
        else
            kiln_sched_on_tracking(s, m);
        m = next;
    }
}

static void submit_launches(struct kiln_pl_sched *s)
{
    for (size_t i = 0; i < s->nlaunches; i++) {
        struct kiln_pl_launch *l = &s->launches[i];
        struct sched_msg *done = l->ctx;
        struct sched_ti *ti = &done->run->tis[done->task];
        struct kiln_err err = { 0 };
        int rc = s->exec->ops->submit(s->exec, l, &ti->handle, &err);
        if (rc == KILN_OK) {
            ti->submitted = 1;
            continue;
        }
        /* Never started: the same path as a process that could not start. */
        done->res.rc = rc;
        done->res.exit_code = -1;
        done->res.end_ms = kiln_now_ms();
        kiln_strlcpy(done->res.message, kiln_err_msg(&err, rc), sizeof(done->res.message));
        ti->submitted = 1;
        kiln_sched_post(s, done);
    }
    s->nlaunches = 0;
    kiln_arena_free(s->launch_arena);
    s->launch_arena = NULL;
}

static void drop_finished_runs(struct kiln_pl_sched *s)
{
    struct sched_run **link = &s->runs;
    while (*link != NULL) {
        struct sched_run *r = *link;
        if ((r->state == KILN_RUN_SUCCESS || r->state == KILN_RUN_FAILED ||
             r->state == KILN_RUN_CANCELED) &&
            r->nrunning == 0 && !r->dirty) {
            *link = r->next;
            kiln_sched_run_free(r);
        } else {
            link = &r->next;
        }
    }
}

/* One pass of steps 2-7; returns the next deadline (monotonic ms). */
static int64_t iterate(struct kiln_pl_sched *s, struct sched_msg *msgs, int notified,
                       int cancel_all)
{
    int64_t now = kiln_now_ms(), next = now + SYNC_EVERY_MS;
    struct kiln_err err = { 0 };
    int rc;

    process_inbox(s, msgs);
    if (notified || now - s->last_sync_ms >= SYNC_EVERY_MS) {
        if (notified && !s->local) {
            kiln_sched_load_pools(s, NULL);
            kiln_sched_load_schedules(s, NULL);
        }
        rc = kiln_sched_sync(s, 0, &err);
        if (rc != KILN_OK)
            kiln_log_warn("pipelines: cannot read runs from the store: %s", kiln_err_msg(&err, rc));
        s->last_sync_ms = now;
    }
    if (cancel_all)
        for (struct sched_run *r = s->runs; r != NULL; r = r->next)
            kiln_sched_cancel_run(s, r, "canceled by the user");
    if (!s->local)
        kiln_sched_fire_schedules(s, now, &next);
    kiln_sched_start_queued(s);
    kiln_sched_due_retries(s, now, &next);
    if (s->flush_retry_ms == 0 || now >= s->flush_retry_ms)
        kiln_sched_launch_ready(s);
    kiln_sched_finalize(s);
    if (s->flush_retry_ms != 0 && now < s->flush_retry_ms)
        return s->flush_retry_ms < next ? s->flush_retry_ms : next;
    kiln_err_clear(&err);
    rc = kiln_sched_flush(s, &err);
    if (rc != KILN_OK) {
        /* Nothing starts until its attempt is recorded; try again shortly. */
        kiln_log_error("pipelines: cannot record state in the store (retrying): %s",
                       kiln_err_msg(&err, rc));
        s->flush_retry_ms = now + FLUSH_RETRY_MS;
        return s->flush_retry_ms;
    }
    s->flush_retry_ms = 0;
    submit_launches(s);
    drop_finished_runs(s);
    return next;
}

static void *sched_main(void *arg)
{
    struct kiln_pl_sched *s = arg;
    int64_t deadline = kiln_now_ms();

    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct sched_msg *msgs;
        int notified, cancel_all;
        while (s->inbox == NULL && !s->notified && !s->stopping && !s->cancel_all) {
            int64_t now = kiln_now_ms();
            struct timespec ts;
            if (now >= deadline)
                break;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (deadline - now) / 1000;
            ts.tv_nsec += (long)((deadline - now) % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        if (s->stopping)
            break;
        msgs = s->inbox;
        s->inbox = NULL;
        s->inbox_tail = &s->inbox;
        notified = s->notified;
        cancel_all = s->cancel_all;
        s->notified = s->cancel_all = 0;
        pthread_mutex_unlock(&s->mu);

        deadline = iterate(s, msgs, notified, cancel_all);

        pthread_mutex_lock(&s->mu);
        s->synced_once = 1;
        s->idle = s->runs == NULL;
        if (s->idle)
            pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int kiln_pl_sched_start(struct kiln_pl_sched *s, struct kiln_err *err)
{
    int rc = KILN_OK;
    if (s->local)
        rc = kiln_sched_mark_dead_local_runs(s, err);
    else
        rc = kiln_sched_load_pools(s, err);
    if (rc == KILN_OK)
        rc = kiln_sched_sync(s, 1, err);
    if (rc == KILN_OK)
        rc = kiln_sched_flush(s, err);
    if (rc == KILN_OK && !s->local)
        rc = kiln_sched_load_schedules(s, err);
    if (rc == KILN_OK && s->tracking_uri != NULL)
        rc = kiln_sched_track_start(s, err);
    if (rc == KILN_OK && s->events_uri != NULL && !s->local)
        rc = kiln_sched_follow_start(s, err);
    if (rc != KILN_OK)
        return rc;
    s->last_sync_ms = kiln_now_ms();
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
        return kiln_err_set(err, KILN_EIO, "cannot start the scheduler thread");
    s->started = 1;
    return KILN_OK;
}

int kiln_pl_sched_wait_idle(struct kiln_pl_sched *s, int64_t timeout_ms)
{
    int64_t end = kiln_now_ms() + timeout_ms;
    int idle;
    pthread_mutex_lock(&s->mu);
    while (!(s->idle && s->synced_once) && kiln_now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts);
    }
    idle = s->idle && s->synced_once;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

void kiln_pl_sched_stop(struct kiln_pl_sched *s)
{
    struct sched_msg *msgs;
    struct kiln_err err = { 0 };
    int rc;
    if (s == NULL || !s->started)
        return;
    kiln_sched_follow_stop(s);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = 0;
    /* The executor ends every process and reports each as canceled: interrupted. */
    s->exec->ops->shutdown(s->exec);
    pthread_mutex_lock(&s->mu);
    msgs = s->inbox;
    s->inbox = NULL;
    s->inbox_tail = &s->inbox;
    pthread_mutex_unlock(&s->mu);
    s->draining = 1;
    process_inbox(s, msgs);
    for (size_t i = 0; i < s->nlaunches; i++) {
        /* Picked but never started (the flush failed): recovered at the next start. */
        struct sched_msg *done = s->launches[i].ctx;
        kiln_free(done->started);
        kiln_free(done);
    }
    s->nlaunches = 0;
    kiln_sched_finalize(s);
    rc = kiln_sched_flush(s, &err);
    if (rc != KILN_OK)
        kiln_log_error("pipelines: cannot record the final state: %s", kiln_err_msg(&err, rc));
    kiln_sched_track_stop(s);
}

void kiln_pl_sched_free(struct kiln_pl_sched *s)
{
    if (s == NULL)
        return;
    kiln_pl_sched_stop(s);
    if (s->exec != NULL)
        s->exec->ops->destroy(s->exec);
    while (s->runs != NULL) {
        struct sched_run *r = s->runs;
        s->runs = r->next;
        kiln_sched_run_free(r);
    }
    for (struct sched_msg *m = s->inbox; m != NULL;) {
        struct sched_msg *n = m->next;
        kiln_free(m->res.outputs);
        kiln_free(m);
        m = n;
    }
    for (size_t i = 0; i < s->npools; i++)
        kiln_free(s->pools[i].name);
    kiln_free(s->pools);
    for (size_t i = 0; i < s->nscheds; i++) {
        kiln_free(s->scheds[i].name);
        kiln_pl_spec_free(s->scheds[i].spec);
    }
    kiln_free(s->scheds);
    kiln_free(s->ready);
    kiln_free(s->launches);
    kiln_arena_free(s->launch_arena);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->track_cv);
    kiln_free(s->artifacts_root);
    kiln_free(s->owner);
    kiln_free(s->tracking_uri);
    kiln_free(s->events_uri);
    kiln_free(s->kiln_bin);
    kiln_free(s->host);
    kiln_free(s);
}

/*
 * sched_run.c - the state machine of runs and task instances (scheduler thread only).
 *
 * Task instance:
 *
 *   none --rule met--> scheduled --slot free--> queued --process started--> running
 *     |                    ^                                                   |
 *     |                    +------ up_for_retry <--- failed, tries left -------+
 *     +--rule says so--> skipped | upstream_failed      exit 0 -> success
 *                                                       exit 99 (skip code) -> skipped
 *                                                       failed, no tries left -> failed
 *
 * Run: queued --(tracking run made, within max_active_runs)--> running --every task
 * final--> success | failed (a failed or upstream_failed leaf) | canceled.
 *
 * Upstream outcomes are counted per task (struct kiln_pl_upcount), so settling a task touches
 * only its direct downstreams: O(edges) for a whole run.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/sched_int.h"

static void set_message(struct sched_ti *ti, const char *msg)
{
    kiln_free(ti->message);
    ti->message = msg != NULL ? kiln_strdup(msg) : NULL;
}

int kiln_sched_push_ready(struct kiln_pl_sched *s, struct sched_run *r, size_t t)
{
    if (s->nready == s->cap_ready) {
        size_t cap = s->cap_ready ? s->cap_ready * 2 : 64;
        struct ready *n = kiln_reallocarray(s->ready, cap, sizeof(*n));
        if (n == NULL)
            return KILN_ENOMEM; /* stays as it is; the next evaluation retries */
        s->ready = n;
        s->cap_ready = cap;
    }
    s->ready[s->nready].run = r;
    s->ready[s->nready++].task = t;
    r->tis[t].state = KILN_TI_SCHEDULED;
    r->tis[t].dirty = 1;
    kiln_sched_emit_task(s, r, t);
    return KILN_OK;
}

void kiln_sched_evaluate(struct kiln_pl_sched *s, struct sched_run *r, size_t t)
{
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    struct sched_ti *ti = &r->tis[t];
    enum kiln_pl_verdict v;
    if (ti->state != KILN_TI_NONE || r->cancel || r->state != KILN_RUN_RUNNING)
        return;
    ti->up.total = (int)task->ndeps;
    v = kiln_pl_rule_eval(task->rule, &ti->up);
    if (v == KILN_PL_RUN)
        kiln_sched_push_ready(s, r, t);
    else if (v == KILN_PL_SKIP)
        kiln_sched_settle(s, r, t, KILN_TI_SKIPPED, NULL);
    else if (v == KILN_PL_UPSTREAM_FAILED)
        kiln_sched_settle(s, r, t, KILN_TI_UPSTREAM_FAILED, NULL);
}

void kiln_sched_settle(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                       enum kiln_pl_ti state, const char *message)
{
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    struct sched_ti *ti = &r->tis[t];
    if (kiln_pl_ti_final(ti->state))
        return;
    if (ti->state == KILN_TI_UP_FOR_RETRY && r->nretry > 0)
        r->nretry--;
    ti->state = state;
    ti->end_ms = kiln_now_ms();
    set_message(ti, message);
    ti->dirty = 1;
    r->nfinal++;
    kiln_sched_emit_task(s, r, t);
    for (size_t i = 0; i < task->ndowns; i++) {
        size_t d = task->downs[i];
        kiln_pl_upcount_add(&r->tis[d].up, state);
        kiln_sched_evaluate(s, r, d);
    }
}

int kiln_sched_start_run(struct kiln_pl_sched *s, struct sched_run *r)
{
    if (r->state != KILN_RUN_QUEUED || r->tracking_pending)
        return KILN_OK;
    if (s->tracking_uri != NULL && r->tracking_id == NULL && !r->cancel) {
        struct track_job *j = kiln_calloc(1, sizeof(*j));
        struct sched_msg *m = kiln_calloc(1, sizeof(*m));
        char name[200];
        if (j != NULL && m != NULL) {
            snprintf(name, sizeof(name), "%s-%.8s", r->name, r->id);
            j->experiment = kiln_strdup(r->spec->experiment);
            j->run_name = kiln_strdup(name);
            j->params = json_incref(r->params);
            j->time_ms = kiln_now_ms();
            kiln_strlcpy(j->run_id, r->id, sizeof(j->run_id));
            m->kind = MSG_TRACKING;
            m->s = s;
            kiln_strlcpy(m->run_id, r->id, sizeof(m->run_id));
            j->reply = m;
            if (j->experiment != NULL && j->run_name != NULL) {
                r->tracking_pending = 1;
                kiln_sched_track_post(s, j);
                return KILN_OK;
            }
        }
        if (j != NULL) {
            kiln_free(j->experiment);
            kiln_free(j->run_name);
            json_decref(j->params);
        }
        kiln_free(j);
        kiln_free(m);
        return KILN_ENOMEM;
    }
    r->state = KILN_RUN_RUNNING;
    r->start_ms = kiln_now_ms();
    r->dirty = 1;
    kiln_sched_emit_run(s, r);
    for (size_t i = 0; i < r->spec->ntasks; i++)
        kiln_sched_evaluate(s, r, r->spec->topo[i]);
    return KILN_OK;
}

static int active_runs(struct kiln_pl_sched *s, const char *name)
{
    int n = 0;
    for (struct sched_run *r = s->runs; r != NULL; r = r->next)
        if (strcmp(r->name, name) == 0 && (r->state == KILN_RUN_RUNNING || r->tracking_pending))
            n++;
    return n;
}

void kiln_sched_start_queued(struct kiln_pl_sched *s)
{
    for (struct sched_run *r = s->runs; r != NULL; r = r->next) {
        if (r->state != KILN_RUN_QUEUED || r->tracking_pending)
            continue;
        if (!r->cancel && active_runs(s, r->name) >= r->spec->max_active_runs)
            continue;
        if (kiln_sched_start_run(s, r) != KILN_OK)
            kiln_log_warn("pipelines: out of memory starting run %s", r->id);
    }
}

void kiln_sched_on_tracking(struct kiln_pl_sched *s, struct sched_msg *m)
{
    struct sched_run *r = s->runs;
    while (r != NULL && strcmp(r->id, m->run_id) != 0)
        r = r->next;
    if (r != NULL) {
        r->tracking_pending = 0;
        if (m->tracking_id[0] != '\0') {
            r->tracking_id = kiln_strdup(m->tracking_id);
            if (r->links != NULL)
                json_array_append_new(r->links,
                                      json_pack("[s,s,n]", "tracking_run", m->tracking_id));
            r->dirty = 1;
        } else {
            kiln_log_warn("pipeline run %s: no tracking run (%s); continuing without", r->id,
                          m->message);
            r->tracking_id = kiln_strdup("");
        }
        kiln_sched_start_queued(s);
    }
    kiln_free(m);
}

void kiln_sched_due_retries(struct kiln_pl_sched *s, int64_t now, int64_t *next_wake)
{
    for (struct sched_run *r = s->runs; r != NULL; r = r->next) {
        if (r->nretry == 0 || r->cancel)
            continue;
        for (size_t t = 0; t < r->spec->ntasks; t++) {
            struct sched_ti *ti = &r->tis[t];
            if (ti->state != KILN_TI_UP_FOR_RETRY)
                continue;
            if (ti->next_try_ms <= now) {
                if (kiln_sched_push_ready(s, r, t) == KILN_OK)
                    r->nretry--;
            } else if (ti->next_try_ms < *next_wake) {
                *next_wake = ti->next_try_ms;
            }
        }
    }
}

void kiln_sched_fail_attempt(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                             const char *message, int retry)
{
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    struct sched_ti *ti = &r->tis[t];
    char msg[KILN_ERR_MSG_MAX + 64];
    if (ti->cur != NULL) {
        ti->cur->state = ATT_FAILED;
        kiln_strlcpy(ti->cur->message, message, sizeof(ti->cur->message));
        if (ti->cur->end_ms == 0)
            ti->cur->end_ms = kiln_now_ms();
        ti->att_dirty = 1;
    }
    if (retry && !r->cancel && ti->tries < ti->max_tries) {
        int64_t delay =
            kiln_pl_retry_delay_ms(r->name, task->name, r->logical_ms, ti->tries,
                                   task->retry_delay_ms, task->backoff, task->max_retry_delay_ms);
        ti->state = KILN_TI_UP_FOR_RETRY;
        ti->next_try_ms = kiln_now_ms() + delay;
        r->nretry++;
        snprintf(msg, sizeof(msg), "%s; retry %d of %d in %.1f s", message, ti->tries,
                 ti->max_tries - 1, (double)delay / 1000);
        set_message(ti, msg);
        ti->dirty = 1;
        kiln_sched_emit_task(s, r, t);
        return;
    }
    kiln_sched_settle(s, r, t, KILN_TI_FAILED, message);
}

/* Parses key=value lines; KILN_EINVAL with the line at fault in msg. */
static int parse_outputs(const char *text, size_t len, json_t **out, char *msg, size_t size)
{
    json_t *o = json_object();
    size_t pos = 0;
    int line = 0;
    if (o == NULL)
        return KILN_ENOMEM;
    while (pos < len) {
        const char *p = text + pos, *nl = memchr(p, '\n', len - pos), *eq;
        size_t n = nl != NULL ? (size_t)(nl - p) : len - pos, k;
        char key[129];
        pos += n + (nl != NULL);
        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0 || p[0] == '#')
            continue;
        eq = memchr(p, '=', n);
        k = eq != NULL ? (size_t)(eq - p) : 0;
        for (size_t i = 0; i < k && eq != NULL; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && ((c >= '0' && c <= '9') || c == '.' || c == '-'))))
                eq = NULL;
        }
        if (eq == NULL || k == 0 || k >= sizeof(key) || memchr(p, '\0', n) != NULL) {
            snprintf(msg, size,
                     "$KILN_OUTPUTS line %d: expected key=value with a key of letters, "
                     "digits, '_', '.' or '-'",
                     line);
            json_decref(o);
            return KILN_EINVAL;
        }
        memcpy(key, p, k);
        key[k] = '\0';
        if (json_object_set_new(o, key, json_stringn(eq + 1, n - k - 1)) != 0) {
            json_decref(o);
            return KILN_ENOMEM;
        }
    }
    *out = o;
    return KILN_OK;
}

static void record_links(struct sched_run *r, size_t t)
{
    const char *key;
    json_t *v;
    json_object_foreach(r->tis[t].outputs, key, v)
    {
        if (strncmp(key, "kiln.", 5) == 0 && key[5] != '\0' && r->links != NULL)
            json_array_append_new(r->links, json_pack("[s,s,s]", key + 5, json_string_value(v),
                                                      r->spec->tasks[t].name));
    }
    r->dirty = 1;
}

static void succeed(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                    const struct kiln_pl_exec_result *res)
{
    struct sched_ti *ti = &r->tis[t];
    char msg[KILN_ERR_MSG_MAX];
    json_t *outputs = NULL;
    int rc = KILN_OK;
    if (res->outputs_too_big) {
        kiln_sched_fail_attempt(s, r, t, "$KILN_OUTPUTS is larger than 64 KiB", 0);
        return;
    }
    if (res->outputs != NULL)
        rc = parse_outputs(res->outputs, res->outputs_len, &outputs, msg, sizeof(msg));
    if (rc != KILN_OK) {
        kiln_sched_fail_attempt(s, r, t, rc == KILN_ENOMEM ? "out of memory" : msg, 0);
        return;
    }
    json_decref(ti->outputs);
    ti->outputs = outputs;
    if (outputs != NULL)
        record_links(r, t);
    ti->cur->state = ATT_SUCCESS;
    ti->att_dirty = 1;
    kiln_sched_settle(s, r, t, KILN_TI_SUCCESS, NULL);
}

void kiln_sched_on_started(struct kiln_pl_sched *s, struct sched_msg *m)
{
    struct sched_ti *ti = &m->run->tis[m->task];
    ti->started_msg = NULL;
    if (ti->cur != NULL && ti->cur->number == m->attempt && ti->state == KILN_TI_QUEUED) {
        ti->cur->state = ATT_RUNNING;
        ti->cur->pid = m->pid;
        ti->cur->start_ms = m->start_ms;
        ti->state = KILN_TI_RUNNING;
        if (ti->start_ms == 0)
            ti->start_ms = m->start_ms;
        ti->att_dirty = ti->dirty = 1;
        kiln_sched_emit_task(s, m->run, m->task);
    }
    kiln_free(m);
}

static void release_slot(struct kiln_pl_sched *s, struct sched_run *r, size_t t)
{
    struct sched_ti *ti = &r->tis[t];
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    if (ti->pool_held) {
        for (size_t i = 0; i < s->npools; i++)
            if (strcmp(s->pools[i].name, task->pool) == 0)
                s->pools[i].used -= task->pool_slots;
        ti->pool_held = 0;
    }
    ti->submitted = 0;
    s->nrunning--;
    r->nrunning--;
}

void kiln_sched_on_done(struct kiln_pl_sched *s, struct sched_msg *m)
{
    struct sched_run *r = m->run;
    size_t t = m->task;
    struct sched_ti *ti = &r->tis[t];
    const struct kiln_pl_exec_result *res = &m->res;
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    char msg[KILN_ERR_MSG_MAX + 64];

    kiln_free(ti->started_msg);
    ti->started_msg = NULL;
    release_slot(s, r, t);
    if (ti->cur == NULL || ti->cur->number != m->attempt) {
        kiln_free(m->res.outputs);
        kiln_free(m);
        return;
    }
    ti->cur->end_ms = res->end_ms;
    ti->cur->exit_code = res->exit_code;
    ti->cur->signal = res->signal;
    if (ti->cur->pid == 0)
        ti->cur->pid = res->pid;
    ti->att_dirty = 1;
    if (s->draining && res->rc == KILN_ECANCELED) {
        /* The scheduler is stopping: run it again at the next start, without using a try. */
        ti->cur->state = ATT_INTERRUPTED;
        kiln_strlcpy(ti->cur->message, "interrupted: the scheduler stopped",
                     sizeof(ti->cur->message));
        ti->tries--;
        ti->state = KILN_TI_SCHEDULED;
        ti->dirty = 1;
    } else if (res->rc == KILN_ECANCELED) {
        kiln_sched_fail_attempt(s, r, t, "canceled", 0);
    } else if (res->rc == KILN_OK && res->exit_code == 0) {
        succeed(s, r, t, res);
    } else if (res->rc == KILN_OK && res->exit_code >= 0 &&
               res->exit_code == task->skip_exit_code) {
        ti->cur->state = ATT_SKIPPED;
        snprintf(msg, sizeof(msg), "skipped (exit code %d)", res->exit_code);
        kiln_sched_settle(s, r, t, KILN_TI_SKIPPED, msg);
    } else {
        json_t *outputs = NULL;
        /* What a failed task wrote is kept too (for status and debugging), never linked. */
        if (res->outputs != NULL &&
            parse_outputs(res->outputs, res->outputs_len, &outputs, msg, sizeof(msg)) == KILN_OK) {
            json_decref(ti->outputs);
            ti->outputs = outputs;
        }
        if (res->rc == KILN_ETIMEDOUT)
            snprintf(msg, sizeof(msg), "timed out after %.1f s", (double)task->timeout_ms / 1000);
        else if (res->rc == KILN_OK && res->signal != 0)
            snprintf(msg, sizeof(msg), "killed by signal %d", res->signal);
        else if (res->rc == KILN_OK)
            snprintf(msg, sizeof(msg), "exit code %d", res->exit_code);
        else
            snprintf(msg, sizeof(msg), "%s", res->message);
        kiln_sched_fail_attempt(s, r, t, msg, 1);
    }
    kiln_free(m->res.outputs);
    kiln_free(m);
}

void kiln_sched_cancel_run(struct kiln_pl_sched *s, struct sched_run *r, const char *why)
{
    if (r->state != KILN_RUN_QUEUED && r->state != KILN_RUN_RUNNING)
        return;
    if (!r->cancel) {
        r->cancel = 1;
        kiln_free(r->message);
        r->message = kiln_strdup(why);
        r->dirty = 1;
    }
    for (size_t t = 0; t < r->spec->ntasks; t++) {
        struct sched_ti *ti = &r->tis[t];
        if (ti->submitted)
            s->exec->ops->cancel(s->exec, ti->handle);
        else if (!kiln_pl_ti_final(ti->state) && ti->state != KILN_TI_QUEUED)
            kiln_sched_settle(s, r, t, KILN_TI_SKIPPED, "canceled");
    }
}

int kiln_sched_finalize(struct kiln_pl_sched *s)
{
    int n = 0;
    for (struct sched_run *r = s->runs; r != NULL; r = r->next) {
        enum kiln_pl_ti *states;
        int *leaf;
        if ((r->state != KILN_RUN_RUNNING && !(r->state == KILN_RUN_QUEUED && r->cancel)) ||
            r->nfinal < r->spec->ntasks || r->nrunning > 0 || r->tracking_pending)
            continue;
        states = kiln_calloc(r->spec->ntasks, sizeof(*states));
        leaf = kiln_calloc(r->spec->ntasks, sizeof(*leaf));
        if (states == NULL || leaf == NULL) {
            kiln_free(states);
            kiln_free(leaf);
            continue; /* retried next pass */
        }
        for (size_t t = 0; t < r->spec->ntasks; t++) {
            states[t] = r->tis[t].state;
            leaf[t] = r->spec->tasks[t].is_leaf;
        }
        r->state =
            r->cancel ? KILN_RUN_CANCELED : kiln_pl_run_outcome(states, leaf, r->spec->ntasks);
        kiln_free(states);
        kiln_free(leaf);
        r->end_ms = kiln_now_ms();
        if (r->start_ms == 0)
            r->start_ms = r->end_ms;
        r->dirty = 1;
        n++;
        kiln_sched_emit_run(s, r);
        if (r->tracking_id != NULL && r->tracking_id[0] != '\0') {
            struct track_job *j = kiln_calloc(1, sizeof(*j));
            if (j != NULL) {
                j->finish = 1;
                kiln_strlcpy(j->tracking_id, r->tracking_id, sizeof(j->tracking_id));
                j->status = kiln_strdup(r->state == KILN_RUN_SUCCESS  ? "FINISHED"
                                        : r->state == KILN_RUN_FAILED ? "FAILED"
                                                                      : "KILLED");
                j->time_ms = r->end_ms;
                kiln_sched_track_post(s, j);
            }
        }
    }
    return n;
}

void kiln_sched_run_free(struct sched_run *r)
{
    if (r == NULL)
        return;
    for (size_t t = 0; r->tis != NULL && t < r->spec->ntasks; t++) {
        struct sched_ti *ti = &r->tis[t];
        json_decref(ti->outputs);
        kiln_free(ti->message);
        if (ti->cur != NULL)
            kiln_free(ti->cur->log_path);
        kiln_free(ti->cur);
        kiln_free(ti->started_msg);
    }
    kiln_free(r->tis);
    kiln_pl_spec_free(r->spec);
    json_decref(r->params);
    json_decref(r->links);
    kiln_free(r->name);
    kiln_free(r->trigger);
    kiln_free(r->tracking_id);
    kiln_free(r->message);
    kiln_free(r);
}

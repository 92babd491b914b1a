/*
 * sched_store.c - the scheduler and the store (scheduler thread, or the starting thread
 * before the scheduler thread exists).
 *
 *   flush: every dirty run, task instance, attempt and link in one transaction;
 *   sync:  runs of this owner that are queued or running in the store but not in memory (new
 *          runs from the API, or every run at start) are loaded; cancel requests are applied;
 *   recovery (sync at start): a task instance found queued or running has lost its process
 *          (the scheduler died with it): leftovers are killed by the KILN_ATTEMPT_ID marker in
 *          their environment, the attempt is failed ("process vanished") and the retry policy
 *          applies; finished task instances are never touched again;
 *   pools and schedules: read from the store after start and after each notify.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "pipeline/sched_int.h"
#include "store/store.h"

static const char *const att_names[] = { "queued", "running", "success",
                                         "failed", "skipped", "interrupted" };

static char *dump(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

static int write_attempt(struct kiln_tx *tx, const char *run_id, const char *task,
                         const struct sched_attempt *a, const char *host, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(
        tx,
        "INSERT INTO pipeline_attempts (run_id, task, attempt, try_number, state, exit_code, "
        "signal, start_time, end_time, host, pid, log_path, message) VALUES (?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, task, attempt) DO UPDATE SET state = "
        "excluded.state, exit_code = excluded.exit_code, signal = excluded.signal, start_time = "
        "excluded.start_time, end_time = excluded.end_time, pid = excluded.pid, message = "
        "excluded.message",
        &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    kiln_stmt_bind_text(st, 2, task);
    kiln_stmt_bind_int64(st, 3, a->number);
    kiln_stmt_bind_int64(st, 4, a->try_number);
    kiln_stmt_bind_text(st, 5, att_names[a->state]);
    if (a->exit_code >= 0)
        kiln_stmt_bind_int64(st, 6, a->exit_code);
    if (a->signal > 0)
        kiln_stmt_bind_int64(st, 7, a->signal);
    if (a->start_ms > 0)
        kiln_stmt_bind_int64(st, 8, a->start_ms);
    if (a->end_ms > 0)
        kiln_stmt_bind_int64(st, 9, a->end_ms);
    kiln_stmt_bind_text(st, 10, host);
    if (a->pid > 0)
        kiln_stmt_bind_int64(st, 11, a->pid);
    kiln_stmt_bind_text(st, 12, a->log_path);
    kiln_stmt_bind_text(st, 13, a->message[0] != '\0' ? a->message : NULL);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int write_ti(struct kiln_tx *tx, const char *run_id, const char *task,
                    const struct sched_ti *ti, struct kiln_err *err)
{
    char *outputs = dump(ti->outputs);
    int rc;
    if (ti->outputs != NULL && outputs == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_pl_exec(tx,
                      "UPDATE pipeline_tasks SET state = ?, tries = ?, attempts = ?, "
                      "next_try_time = ?, outputs = ?, message = ?, start_time = ?, end_time = ? "
                      "WHERE run_id = ? AND task = ?",
                      err,
                      "tiintt"
                      "nntt",
                      kiln_pl_ti_name(ti->state), (int64_t)ti->tries, (int64_t)ti->attempts,
                      ti->state == KILN_TI_UP_FOR_RETRY ? ti->next_try_ms : (int64_t)-1, outputs,
                      ti->message, ti->start_ms > 0 ? ti->start_ms : (int64_t)-1,
                      kiln_pl_ti_final(ti->state) && ti->end_ms > 0 ? ti->end_ms : (int64_t)-1,
                      run_id, task);
    kiln_free(outputs);
    return rc;
}

static int write_run(struct kiln_tx *tx, struct sched_run *r, struct kiln_err *err)
{
    size_t i;
    json_t *l;
    int rc = kiln_pl_exec(
        tx,
        "UPDATE pipeline_runs SET state = ?, start_time = ?, end_time = ?, "
        "tracking_run_id = ?, message = ? WHERE run_id = ?",
        err, "tnnttt", kiln_pl_run_state_name(r->state),
        r->start_ms > 0 ? r->start_ms : (int64_t)-1, r->end_ms > 0 ? r->end_ms : (int64_t)-1,
        r->tracking_id != NULL && r->tracking_id[0] != '\0' ? r->tracking_id : NULL, r->message,
        r->id);
    json_array_foreach(r->links, i, l)
    {
        if (rc != KILN_OK)
            break;
        rc = kiln_pl_exec(tx,
                          "INSERT INTO pipeline_run_links (run_id, kind, ref, task) VALUES (?, ?, "
                          "?, ?) ON CONFLICT (run_id, kind, ref) DO NOTHING",
                          err, "tttt", r->id, json_string_value(json_array_get(l, 0)),
                          json_string_value(json_array_get(l, 1)),
                          json_string_value(json_array_get(l, 2)));
    }
    return rc;
}

static int any_dirty(struct kiln_pl_sched *s)
{
    if (s->old_atts != NULL)
        return 1;
    for (struct sched_run *r = s->runs; r != NULL; r = r->next) {
        if (r->dirty)
            return 1;
        for (size_t t = 0; t < r->spec->ntasks; t++)
            if (r->tis[t].dirty || r->tis[t].att_dirty)
                return 1;
    }
    return 0;
}

int kiln_sched_flush(struct kiln_pl_sched *s, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc;
    if (!any_dirty(s))
        return KILN_OK;
    rc = kiln_store_begin(s->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    for (struct sched_attempt *a = s->old_atts; a != NULL && rc == KILN_OK; a = a->next)
        rc = write_attempt(tx, a->run->id, a->run->spec->tasks[a->task].name, a, s->host, err);
    for (struct sched_run *r = s->runs; r != NULL && rc == KILN_OK; r = r->next) {
        for (size_t t = 0; t < r->spec->ntasks && rc == KILN_OK; t++) {
            struct sched_ti *ti = &r->tis[t];
            if (ti->att_dirty && ti->cur != NULL)
                rc = write_attempt(tx, r->id, r->spec->tasks[t].name, ti->cur, s->host, err);
            if (ti->dirty && rc == KILN_OK)
                rc = write_ti(tx, r->id, r->spec->tasks[t].name, ti, err);
        }
        if (r->dirty && rc == KILN_OK)
            rc = write_run(tx, r, err);
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = kiln_store_commit(tx, err);
    if (rc != KILN_OK)
        return rc;
    while (s->old_atts != NULL) {
        struct sched_attempt *a = s->old_atts;
        s->old_atts = a->next;
        kiln_free(a->log_path);
        kiln_free(a);
    }
    for (struct sched_run *r = s->runs; r != NULL; r = r->next) {
        for (size_t t = 0; t < r->spec->ntasks; t++)
            r->tis[t].dirty = r->tis[t].att_dirty = 0;
        r->dirty = 0;
        json_array_clear(r->links);
    }
    return KILN_OK;
}

/* ---- orphans ---------------------------------------------------------------------------- */

void kiln_sched_kill_orphans(const char *run_id, const char *task, int attempt)
{
    char marker[256], path[300];
    size_t mlen;
    struct kiln_buf env;
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (d == NULL)
        return;
    snprintf(marker, sizeof(marker), "KILN_ATTEMPT_ID=%s/%s/%d", run_id, task, attempt);
    mlen = strlen(marker) + 1; /* with the NUL that ends an environ entry */
    kiln_buf_init(&env, 1 << 20);
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
        kiln_buf_reset(&env);
        if (kiln_read_file(path, &env, NULL) != KILN_OK)
            continue;
        for (size_t off = 0; off + mlen <= env.len;) {
            const char *entry = env.buf + off;
            size_t n = strnlen(entry, env.len - off);
            if (n + 1 == mlen && memcmp(entry, marker, mlen - 1) == 0) {
                int64_t pid;
                if (kiln_parse_int64(e->d_name, strlen(e->d_name), &pid) == KILN_OK &&
                    pid != getpid()) {
                    kiln_log_warn("pipelines: killing leftover process %lld of %s/%s attempt %d",
                                  (long long)pid, run_id, task, attempt);
                    kill((pid_t)pid, SIGKILL);
                }
                break;
            }
            off += n + 1;
        }
    }
    kiln_buf_release(&env);
    closedir(d);
}

/* ---- loading runs ----------------------------------------------------------------------- */

static int load_attempt(struct kiln_tx *tx, struct sched_run *r, size_t t, struct kiln_err *err)
{
    struct kiln_stmt *st;
    struct sched_attempt *a;
    int rc = kiln_tx_prepare(tx,
                             "SELECT attempt, try_number, pid, start_time, log_path FROM "
                             "pipeline_attempts WHERE run_id = ? AND task = ? ORDER BY attempt "
                             "DESC LIMIT 1",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, r->id);
    kiln_stmt_bind_text(st, 2, r->spec->tasks[t].name);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        a = kiln_calloc(1, sizeof(*a));
        if (a == NULL) {
            kiln_stmt_finish(st);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        a->number = (int)kiln_stmt_int64(st, 0);
        a->try_number = (int)kiln_stmt_int64(st, 1);
        a->pid = (int)kiln_stmt_int64(st, 2);
        a->start_ms = kiln_stmt_int64(st, 3);
        a->exit_code = -1;
        a->state = ATT_RUNNING;
        if (kiln_stmt_text(st, 4) != NULL)
            a->log_path = kiln_strdup(kiln_stmt_text(st, 4));
        r->tis[t].cur = a;
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int read_tis(struct kiln_tx *tx, struct sched_run *r, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t row = 0;
    int rc = kiln_tx_prepare(tx,
                             "SELECT task, state, tries, attempts, max_tries, next_try_time, "
                             "outputs, message, start_time, end_time FROM pipeline_tasks WHERE "
                             "run_id = ? ORDER BY rowid",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, r->id);
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        const char *name = kiln_stmt_text(st, 0), *out = kiln_stmt_text(st, 6);
        long t = row < r->spec->ntasks && strcmp(r->spec->tasks[row].name, name) == 0
                     ? (long)row
                     : kiln_pl_spec_task(r->spec, name);
        struct sched_ti *ti;
        row++;
        if (t < 0)
            continue;
        ti = &r->tis[t];
        if (kiln_pl_ti_parse(kiln_stmt_text(st, 1), &ti->state) != KILN_OK)
            ti->state = KILN_TI_NONE;
        ti->tries = (int)kiln_stmt_int64(st, 2);
        ti->attempts = (int)kiln_stmt_int64(st, 3);
        ti->max_tries = (int)kiln_stmt_int64(st, 4);
        ti->next_try_ms = kiln_stmt_int64(st, 5);
        if (out != NULL)
            ti->outputs = json_loads(out, 0, NULL);
        if (kiln_stmt_text(st, 7) != NULL)
            ti->message = kiln_strdup(kiln_stmt_text(st, 7));
        ti->start_ms = kiln_stmt_int64(st, 8);
        ti->end_ms = kiln_stmt_int64(st, 9);
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int read_run_row(struct kiln_pl_sched *s, const char *id, struct sched_run *r, int *cancel,
                        struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx,
                         "SELECT name, version, state, trigger, logical_date, params, "
                         "tracking_run_id, cancel_requested, created_time, start_time, message "
                         "FROM pipeline_runs WHERE run_id = ?",
                         &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, id);
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW) {
            r->name = kiln_strdup(kiln_stmt_text(st, 0));
            r->version = (int)kiln_stmt_int64(st, 1);
            if (kiln_pl_run_state_parse(kiln_stmt_text(st, 2), &r->state) != KILN_OK)
                r->state = KILN_RUN_QUEUED;
            r->trigger = kiln_strdup(kiln_stmt_text(st, 3));
            r->logical_ms = kiln_stmt_int64(st, 4);
            r->params = json_loads(kiln_stmt_text(st, 5), 0, NULL);
            if (kiln_stmt_text(st, 6) != NULL)
                r->tracking_id = kiln_strdup(kiln_stmt_text(st, 6));
            *cancel = (int)kiln_stmt_int64(st, 7);
            r->created_ms = kiln_stmt_int64(st, 8);
            r->start_ms = kiln_stmt_int64(st, 9);
            rc = r->name == NULL || r->trigger == NULL || r->params == NULL
                     ? kiln_err_set(err, KILN_ENOMEM, "cannot read run %s", id)
                     : KILN_OK;
        } else if (rc == KILN_STMT_DONE) {
            rc = kiln_err_set(err, KILN_ENOENT, "run %s vanished", id);
        }
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    return rc;
}

/* Counts upstream outcomes and puts each task instance where it belongs after a load. */
static void rebuild(struct kiln_pl_sched *s, struct sched_run *r, int recovering)
{
    const struct kiln_pl_spec *spec = r->spec;
    for (size_t t = 0; t < spec->ntasks; t++) {
        struct sched_ti *ti = &r->tis[t];
        if (kiln_pl_ti_final(ti->state)) {
            r->nfinal++;
            for (size_t i = 0; i < spec->tasks[t].ndowns; i++)
                kiln_pl_upcount_add(&r->tis[spec->tasks[t].downs[i]].up, ti->state);
        }
    }
    for (size_t i = 0; i < spec->ntasks; i++) {
        size_t t = spec->topo[i];
        struct sched_ti *ti = &r->tis[t];
        if (ti->state == KILN_TI_QUEUED || ti->state == KILN_TI_RUNNING) {
            /* Its process belonged to a scheduler that is gone. */
            char msg[KILN_ERR_MSG_MAX];
            if (ti->cur != NULL)
                kiln_sched_kill_orphans(r->id, spec->tasks[t].name, ti->cur->number);
            snprintf(msg, sizeof(msg), "process vanished (%s)",
                     recovering ? "the scheduler restarted while it ran" : "lost");
            ti->state = KILN_TI_RUNNING;
            if (ti->cur != NULL)
                ti->cur->end_ms = kiln_now_ms();
            kiln_sched_fail_attempt(s, r, t, msg, 1);
        } else if (ti->state == KILN_TI_SCHEDULED) {
            kiln_sched_push_ready(s, r, t);
        } else if (ti->state == KILN_TI_UP_FOR_RETRY) {
            r->nretry++;
        }
    }
    if (r->state == KILN_RUN_RUNNING) {
        if (r->tracking_id == NULL)
            r->tracking_id = kiln_strdup("");
        for (size_t i = 0; i < spec->ntasks; i++)
            kiln_sched_evaluate(s, r, spec->topo[i]);
    }
}

static int load_run(struct kiln_pl_sched *s, const char *id, int recovering, struct kiln_err *err)
{
    struct sched_run *r = kiln_calloc(1, sizeof(*r)), **tail;
    struct kiln_tx *tx = NULL;
    int cancel = 0, rc;
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_strlcpy(r->id, id, sizeof(r->id));
    r->links = json_array();
    rc = r->links != NULL ? read_run_row(s, id, r, &cancel, err)
                          : kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_pl_store_load_version(s->store, r->name, r->version, &r->spec, err);
    if (rc == KILN_OK && (r->tis = kiln_calloc(r->spec->ntasks, sizeof(*r->tis))) == NULL)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK)
        rc = read_tis(tx, r, err);
    for (size_t t = 0; rc == KILN_OK && t < r->spec->ntasks; t++)
        if (r->tis[t].state == KILN_TI_QUEUED || r->tis[t].state == KILN_TI_RUNNING)
            rc = load_attempt(tx, r, t, err);
    kiln_store_rollback(tx);
    if (rc != KILN_OK) {
        kiln_sched_run_free(r);
        return rc;
    }
    for (tail = &s->runs; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = r;
    rebuild(s, r, recovering);
    if (cancel)
        kiln_sched_cancel_run(s, r, "canceled by request");
    return KILN_OK;
}

int kiln_sched_sync(struct kiln_pl_sched *s, int recovering, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    json_t *fresh = json_array();
    size_t i;
    json_t *v;
    int rc;

    if (fresh == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK) {
        json_decref(fresh);
        return rc;
    }
    rc = kiln_tx_prepare(tx,
                         "SELECT run_id, cancel_requested FROM pipeline_runs WHERE owner = ? AND "
                         "state IN ('queued', 'running') ORDER BY created_time, run_id",
                         &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, s->owner);
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            const char *id = kiln_stmt_text(st, 0);
            struct sched_run *r = s->runs;
            while (r != NULL && strcmp(r->id, id) != 0)
                r = r->next;
            if (r == NULL)
                json_array_append_new(fresh, json_string(id));
            else if (kiln_stmt_int64(st, 1) != 0 && !r->cancel)
                kiln_sched_cancel_run(s, r, "canceled by request");
        }
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    rc = rc < 0 ? rc : KILN_OK;
    json_array_foreach(fresh, i, v)
    {
        if (rc != KILN_OK)
            break;
        rc = load_run(s, json_string_value(v), recovering, err);
        if (rc == KILN_EINVAL || rc == KILN_ENOENT) {
            kiln_log_error("pipelines: cannot load run %s: %s", json_string_value(v),
                           kiln_err_msg(err, rc));
            rc = KILN_OK; /* a broken run must not stop the others */
        }
    }
    json_decref(fresh);
    return rc;
}

/* ---- pools, schedules, dead local owners ------------------------------------------------- */

int kiln_sched_load_pools(struct kiln_pl_sched *s, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st = NULL;
    int rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "SELECT name, slots FROM pipeline_pools", &st, err);
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        const char *name = kiln_stmt_text(st, 0);
        size_t i;
        rc = KILN_OK;
        for (i = 0; i < s->npools; i++)
            if (strcmp(s->pools[i].name, name) == 0)
                break;
        if (i == s->npools) {
            struct pool_use *p = kiln_reallocarray(s->pools, s->npools + 1, sizeof(*p));
            if (p == NULL || (p[s->npools].name = kiln_strdup(name)) == NULL) {
                if (p != NULL)
                    s->pools = p;
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
                break;
            }
            s->pools = p;
            p[s->npools].used = 0;
            s->npools++;
        }
        s->pools[i].slots = (int)kiln_stmt_int64(st, 1);
    }
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return rc < 0 ? rc : KILN_OK;
}

int kiln_sched_mark_dead_local_runs(struct kiln_pl_sched *s, struct kiln_err *err)
{
    char prefix[300];
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    json_t *dead = json_array();
    size_t i;
    json_t *v;
    int rc;

    snprintf(prefix, sizeof(prefix), "local:%s:", s->host);
    if (dead == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK) {
        rc = kiln_tx_prepare(tx,
                             "SELECT run_id, owner FROM pipeline_runs WHERE state IN ('queued', "
                             "'running') AND substr(owner, 1, ?) = ?",
                             &st, err);
        if (rc == KILN_OK) {
            kiln_stmt_bind_int64(st, 1, (int64_t)strlen(prefix));
            kiln_stmt_bind_text(st, 2, prefix);
            while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
                const char *owner = kiln_stmt_text(st, 1) + strlen(prefix);
                int64_t pid;
                if (kiln_parse_int64(owner, strlen(owner), &pid) == KILN_OK && pid != getpid() &&
                    kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                    json_array_append_new(dead, json_string(kiln_stmt_text(st, 0)));
            }
            kiln_stmt_finish(st);
        }
        kiln_store_rollback(tx);
    }
    rc = rc < 0 ? rc : KILN_OK;
    json_array_foreach(dead, i, v)
    {
        const char *id = json_string_value(v);
        if (rc != KILN_OK)
            break;
        rc = kiln_store_begin(s->store, KILN_TX_WRITE, &tx, err);
        if (rc != KILN_OK)
            break;
        rc = kiln_pl_exec(tx,
                          "UPDATE pipeline_runs SET state = 'failed', end_time = ?, message = "
                          "'the kiln pipeline run process that owned this run died' WHERE "
                          "run_id = ?",
                          err, "it", kiln_now_ms(), id);
        if (rc == KILN_OK)
            rc = kiln_pl_exec(tx,
                              "UPDATE pipeline_tasks SET state = CASE WHEN state IN ('queued', "
                              "'running') THEN 'failed' ELSE 'skipped' END, message = 'owner "
                              "died' WHERE run_id = ? AND state NOT IN ('success', 'failed', "
                              "'skipped', 'upstream_failed')",
                              err, "t", id);
        if (rc == KILN_OK)
            rc = kiln_store_commit(tx, err);
        else
            kiln_store_rollback(tx);
    }
    json_decref(dead);
    return rc;
}

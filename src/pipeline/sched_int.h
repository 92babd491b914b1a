/*
 * sched_int.h - the scheduler's state, shared by src/pipeline/sched*.c and follow.c.
 *
 * Threads. The scheduler thread owns everything in struct kiln_pl_sched except the fields
 * under `mu` (the inbox, the notify flag, stopping, idle) which any thread may touch while
 * holding it. The executor thread and the follower threads only ever append messages to the
 * inbox; their messages are allocated before the work starts (submit) so a callback never
 * allocates.
 *
 * The store is the truth; memory is a write-behind cache. A change is made in memory and
 * marked dirty; at the end of each loop iteration every dirty run, task instance and attempt
 * is written in one transaction, and only after that commit are new task processes started.
 * So the store never lags behind a started process: after a crash, every process that may be
 * running has an attempt row (queued or running) and recovery can find it.
 */
#ifndef KILN_PIPELINE_SCHED_INT_H
#define KILN_PIPELINE_SCHED_INT_H

#include <pthread.h>

#include "pipeline/pipeline_int.h"

struct kiln_http_client;

enum att_state { ATT_QUEUED, ATT_RUNNING, ATT_SUCCESS, ATT_FAILED, ATT_SKIPPED, ATT_INTERRUPTED };

struct sched_attempt {
    int number, try_number;
    enum att_state state;
    int64_t start_ms, end_ms;
    int pid, exit_code, signal; /* exit_code -1: none */
    char *log_path;
    char message[KILN_ERR_MSG_MAX];
    /* On s->old_atts: a replaced attempt still to be written. */
    struct sched_run *run;
    size_t task;
    struct sched_attempt *next;
};

enum msg_kind { MSG_STARTED, MSG_DONE, MSG_TRACKING };

struct sched_run;

struct sched_msg {
    enum msg_kind kind;
    struct sched_run *run;
    size_t task;
    int attempt;
    int pid;
    int64_t start_ms;
    struct kiln_pl_exec_result res;
    char run_id[33];
    char tracking_id[64];
    char message[KILN_ERR_MSG_MAX];
    struct kiln_pl_sched *s;
    struct sched_msg *started; /* a MSG_DONE's companion MSG_STARTED (executor ctx) */
    struct sched_msg *next;
};

struct sched_ti {
    enum kiln_pl_ti state;
    int tries, attempts, max_tries;
    int64_t next_try_ms, start_ms, end_ms;
    json_t *outputs; /* object of strings, or NULL */
    char *message;
    struct kiln_pl_upcount up;
    struct sched_attempt *cur; /* the attempt in flight (or last, until flushed) */
    int att_dirty;
    uint64_t handle;
    int submitted; /* the executor owes an on_done */
    int pool_held;
    int dirty;
    struct sched_msg *started_msg; /* allocated at launch, NULL once posted and handled */
};

struct sched_run {
    char id[33];
    char *name;
    int version;
    struct kiln_pl_spec *spec;
    enum kiln_pl_run_state state;
    char *trigger;
    json_t *params;
    int64_t logical_ms, created_ms, start_ms, end_ms;
    char *tracking_id;
    int tracking_pending;
    int cancel;
    char *message;
    struct sched_ti *tis;
    size_t nfinal, nrunning, nretry;
    int dirty;
    json_t *links; /* new [kind, ref, task] triples to write */
    struct sched_run *next;
};

struct ready {
    struct sched_run *run;
    size_t task;
};

struct pool_use {
    char *name;
    int slots, used;
};

struct sched_cron {
    char *name;
    int version;
    struct kiln_pl_spec *spec;
    int64_t next_fire_ms;
    int64_t last_fire_ms;
};

/* A job for the follower thread that talks to the tracking server. */
struct track_job {
    int finish; /* 0: create the pipeline run's tracking run, 1: end it */
    char run_id[33];
    char tracking_id[64];
    char *experiment, *run_name, *status;
    json_t *params;
    int64_t time_ms;
    struct sched_msg *reply; /* for creates */
    struct track_job *next;
};

struct kiln_pl_sched {
    /* configuration (immutable after new) */
    struct kiln_store *store;
    char *artifacts_root, *owner, *tracking_uri, *events_uri, *kiln_bin, *host;
    int local, parallelism;
    struct kiln_pl_observer observer;
    int has_observer;
    struct kiln_pl_executor *exec;

    /* shared with other threads, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* wakes the scheduler thread */
    pthread_cond_t idle_cv; /* wakes kiln_pl_sched_wait_idle */
    struct sched_msg *inbox, **inbox_tail;
    int notified, stopping, cancel_all, idle, synced_once;
    pthread_t thread, follow_thread, track_thread;
    int started, follow_started, track_started;
    struct track_job *track_jobs, **track_tail;
    pthread_cond_t track_cv;

    /* scheduler thread only */
    int draining; /* stopping: canceled processes are interrupted, not failed */
    struct sched_run *runs;
    struct sched_attempt *old_atts;
    struct ready *ready;
    size_t nready, cap_ready;
    struct pool_use *pools;
    size_t npools;
    struct sched_cron *scheds;
    size_t nscheds;
    int nrunning;
    int64_t last_sync_ms, flush_retry_ms;
    struct kiln_pl_launch *launches; /* waiting for the flush that records them */
    size_t nlaunches, cap_launches;
    struct kiln_arena *launch_arena;
};

/* sched.c */
void kiln_sched_post(struct kiln_pl_sched *s, struct sched_msg *m);
void kiln_sched_emit_task(struct kiln_pl_sched *s, struct sched_run *r, size_t t);
void kiln_sched_emit_run(struct kiln_pl_sched *s, struct sched_run *r);

/* sched_run.c: the state machine of runs and task instances */
int kiln_sched_start_run(struct kiln_pl_sched *s, struct sched_run *r);
void kiln_sched_on_done(struct kiln_pl_sched *s, struct sched_msg *m);
void kiln_sched_on_started(struct kiln_pl_sched *s, struct sched_msg *m);
void kiln_sched_on_tracking(struct kiln_pl_sched *s, struct sched_msg *m);
void kiln_sched_settle(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                       enum kiln_pl_ti state, const char *message);
void kiln_sched_evaluate(struct kiln_pl_sched *s, struct sched_run *r, size_t t);
void kiln_sched_cancel_run(struct kiln_pl_sched *s, struct sched_run *r, const char *why);
void kiln_sched_due_retries(struct kiln_pl_sched *s, int64_t now, int64_t *next_wake);
void kiln_sched_launch_ready(struct kiln_pl_sched *s);
void kiln_sched_start_queued(struct kiln_pl_sched *s);
int kiln_sched_finalize(struct kiln_pl_sched *s);
void kiln_sched_fail_attempt(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                             const char *message, int retry);
int kiln_sched_push_ready(struct kiln_pl_sched *s, struct sched_run *r, size_t t);
void kiln_sched_run_free(struct sched_run *r);

/* sched_launch.c: from a task instance to a process */
int kiln_sched_prepare_launch(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                              struct kiln_pl_launch *l, struct kiln_err *err);

/* sched_store.c: loading, flushing, recovery, schedules */
int kiln_sched_flush(struct kiln_pl_sched *s, struct kiln_err *err);
int kiln_sched_sync(struct kiln_pl_sched *s, int recovering, struct kiln_err *err);
int kiln_sched_load_pools(struct kiln_pl_sched *s, struct kiln_err *err);
int kiln_sched_load_schedules(struct kiln_pl_sched *s, struct kiln_err *err);
void kiln_sched_fire_schedules(struct kiln_pl_sched *s, int64_t now, int64_t *next_wake);
void kiln_sched_kill_orphans(const char *run_id, const char *task, int attempt);
int kiln_sched_mark_dead_local_runs(struct kiln_pl_sched *s, struct kiln_err *err);

/* follow.c: tracking runs and the registry event feed */
int kiln_sched_track_start(struct kiln_pl_sched *s, struct kiln_err *err);
void kiln_sched_track_stop(struct kiln_pl_sched *s);
/* Queues a job (takes ownership). */
void kiln_sched_track_post(struct kiln_pl_sched *s, struct track_job *j);
int kiln_sched_follow_start(struct kiln_pl_sched *s, struct kiln_err *err);
void kiln_sched_follow_stop(struct kiln_pl_sched *s);

#endif

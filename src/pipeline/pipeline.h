/*
 * pipeline.h - kiln's orchestrator: pipelines declared in YAML (docs/pipelines.md), run by the
 * server's scheduler on schedules and events, or by `kiln pipeline run` on a laptop.
 *
 * Vocabulary follows Airflow: a pipeline (DAG) has tasks with dependencies; each pipeline run
 * (DagRun) has a run id, a logical date and parameters; each task instance has a state
 * (none, scheduled, queued, running, up_for_retry, success, failed, upstream_failed, skipped)
 * and one row per attempt (exit code, start, end, host, log).
 *
 * Pieces:
 *   - the spec: kiln_pl_spec_parse turns YAML into a validated, immutable struct kiln_pl_spec
 *     (refused with "FILE:LINE:COL: reason" when anything is wrong);
 *   - the store layer: versions by spec digest, runs, task instances, attempts, links
 *     (kiln_pl_store_*), shared by the REST API, the CLI and the scheduler;
 *   - the scheduler (struct kiln_pl_sched): one thread that owns the active runs of one owner
 *     ("scheduler" in `kiln server`, "local:HOST:PID" for `kiln pipeline run`), launches tasks
 *     through an executor and records every transition in the store;
 *   - REST handlers under /api/kiln/v1 (kiln_pl_api_routes).
 */
#ifndef KILN_PIPELINE_PIPELINE_H
#define KILN_PIPELINE_PIPELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct kiln_store;
struct kiln_arena;
struct kiln_router;
struct kiln_tz;

/* Task-instance states (Airflow's names). */
enum kiln_pl_ti {
    KILN_TI_NONE,
    KILN_TI_SCHEDULED,
    KILN_TI_QUEUED,
    KILN_TI_RUNNING,
    KILN_TI_UP_FOR_RETRY,
    KILN_TI_SUCCESS,
    KILN_TI_FAILED,
    KILN_TI_UPSTREAM_FAILED,
    KILN_TI_SKIPPED,
};

enum kiln_pl_run_state {
    KILN_RUN_QUEUED,
    KILN_RUN_RUNNING,
    KILN_RUN_SUCCESS,
    KILN_RUN_FAILED,
    KILN_RUN_CANCELED,
};

enum kiln_pl_rule {
    KILN_TR_ALL_SUCCESS,
    KILN_TR_ALL_FAILED,
    KILN_TR_ALL_DONE,
    KILN_TR_ALL_SKIPPED,
    KILN_TR_ONE_SUCCESS,
    KILN_TR_ONE_FAILED,
    KILN_TR_ONE_DONE,
    KILN_TR_NONE_FAILED,
    KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS,
    KILN_TR_NONE_SKIPPED,
    KILN_TR_ALWAYS,
};

const char *kiln_pl_ti_name(enum kiln_pl_ti s);
int kiln_pl_ti_parse(const char *s, enum kiln_pl_ti *out /* OUT */);
/* 1 for success, failed, upstream_failed and skipped. */
int kiln_pl_ti_final(enum kiln_pl_ti s);
const char *kiln_pl_run_state_name(enum kiln_pl_run_state s);
int kiln_pl_run_state_parse(const char *s, enum kiln_pl_run_state *out /* OUT */);

/* ---- the spec --------------------------------------------------------------------------- */

/* Built-in step kinds (`kind:`); RUN is a plain command. */
enum kiln_pl_kind {
    KILN_STEP_RUN,
    KILN_STEP_VALIDATE,
    KILN_STEP_TRAIN,
    KILN_STEP_EVALUATE,
    KILN_STEP_REGISTER,
    KILN_STEP_PROMOTE,
    KILN_STEP_DRIFT,
};

enum kiln_pl_ptype { KILN_PT_STRING, KILN_PT_INTEGER, KILN_PT_NUMBER, KILN_PT_BOOLEAN };

enum kiln_pl_trig { KILN_TRIG_MANUAL, KILN_TRIG_MODEL_VERSION, KILN_TRIG_ALIAS, KILN_TRIG_DRIFT };

struct kiln_pl_kv {
    const char *key;
    const char *value;
    int line;
};

struct kiln_pl_param {
    const char *name;
    const char *def; /* NULL: required */
    const char *description;
    enum kiln_pl_ptype type;
    int line;
};

struct kiln_pl_trigger {
    enum kiln_pl_trig kind;
    const char *model; /* NULL: any model */
    const char *alias; /* alias triggers: NULL for any alias */
    int line;
};

struct kiln_pl_pool {
    const char *name;
    int slots;
    int line;
};

struct kiln_pl_task {
    const char *name;
    int line;
    enum kiln_pl_kind kind;
    const char *const *argv; /* command; with shell, argv[0] is a /bin/sh -c script */
    size_t argc;
    int shell;
    const struct kiln_pl_kv *env;
    size_t nenv;
    const struct kiln_pl_kv *with; /* built-in step arguments */
    size_t nwith;
    const char *workdir; /* NULL: the spec's folder */
    const size_t *deps;  /* indexes of direct upstream tasks */
    size_t ndeps;
    const size_t *downs; /* indexes of direct downstream tasks */
    size_t ndowns;
    int retries;
    int64_t retry_delay_ms;
    int backoff;
    int64_t max_retry_delay_ms; /* 0: none */
    int64_t timeout_ms;         /* 0: none */
    int skip_exit_code;         /* exit code meaning "skipped" (99); -1 for none */
    enum kiln_pl_rule rule;
    const char *pool;
    int pool_slots;
    int is_leaf;
};

#define KILN_PL_DEFAULT_POOL "default_pool"
#define KILN_PL_DEFAULT_POOL_SLOTS 128

struct kiln_pl_spec {
    struct kiln_arena *arena; /* owns everything below */
    const char *file;         /* for messages */
    const char *name, *description, *experiment;
    const struct kiln_pl_param *params;
    size_t nparams;
    const struct kiln_pl_task *tasks; /* in file order */
    size_t ntasks;
    const size_t *topo; /* task indexes in a topological order */
    const struct kiln_pl_trigger *triggers;
    size_t ntriggers;
    int manual_allowed;
    const struct kiln_pl_pool *pools;
    size_t npools;
    const char *cron_expr; /* NULL: no schedule */
    const char *tz_name;
    struct kiln_tz *tz; /* owned (freed with the spec) */
    int catchup;
    int64_t start_date_ms; /* 0: none */
    int max_active_runs, max_active_tasks;
    const char *text; /* the YAML source */
    size_t text_len;
    const char *base_dir; /* folder relative paths are resolved against */
    char digest[65];      /* sha256 of text, NUL, base_dir */
    int refs;             /* scheduler-thread reference count (starts at 1) */
};

/*
 * Parses and validates a spec. `file` names it in messages ("retrain.yaml"); `base_dir` is the
 * absolute folder relative workdirs resolve against ("" when unknown). Every problem is
 * KILN_EINVAL with "FILE:LINE:COL: where: reason"; nothing is returned half-built.
 * OUT: *out, freed with kiln_pl_spec_free.
 */
int kiln_pl_spec_parse(const char *text, size_t len, const char *file, const char *base_dir,
                       struct kiln_pl_spec **out /* OUT */, struct kiln_err *err);
void kiln_pl_spec_free(struct kiln_pl_spec *spec);
/* Task index by name, or -1. */
long kiln_pl_spec_task(const struct kiln_pl_spec *spec, const char *name);
/*
 * Resolves run parameters: defaults, overridden by `given` (a JSON object whose values are
 * strings, numbers or booleans). Unknown names, missing required values and values of the
 * wrong type are KILN_EINVAL. OUT: *out, a new object of strings (caller json_decref).
 */
int kiln_pl_params_resolve(const struct kiln_pl_spec *spec, const json_t *given,
                           json_t **out /* OUT */, struct kiln_err *err);
/*
 * Like kiln_pl_params_resolve for event-started runs: fields of `event` whose names are
 * declared parameters become their values; other fields are ignored.
 */
int kiln_pl_params_from_event(const struct kiln_pl_spec *spec, const json_t *event,
                              json_t **out /* OUT */, struct kiln_err *err);
/* Parses "30s", "5m", "1h30m", "2d", "250ms" or a number of seconds. KILN_EINVAL. */
int kiln_pl_parse_duration(const char *s, int64_t *ms /* OUT */);
/*
 * Parses a date for schedules and backfills: "YYYY-MM-DD[THH:MM[:SS]]" is a wall time in
 * zone tz (NULL: UTC); an explicit "Z" or "+HH:MM" offset wins. KILN_EINVAL.
 */
int kiln_pl_parse_date(const char *s, const struct kiln_tz *tz, int64_t *ms /* OUT */);
/* The next fire time (ms) strictly after `after_ms` of a scheduled spec. KILN_ENOENT. */
int kiln_pl_spec_next_fire(const struct kiln_pl_spec *spec, int64_t after_ms,
                           int64_t *next_ms /* OUT */);

/* ---- the store layer (pstore.c) ----------------------------------------------------------- */

/*
 * Records the spec as a version of its pipeline (a new version only when the digest is new).
 * With make_current the version becomes the applied one (scheduled, event-triggered) and the
 * spec's pools are created or resized. OUT: *version, *created (1 when the version is new).
 */
int kiln_pl_store_put_version(struct kiln_store *store, const struct kiln_pl_spec *spec,
                              int make_current, int *version /* OUT */, int *created /* OUT */,
                              struct kiln_err *err);

struct kiln_pl_new_run {
    const char *trigger;        /* manual, schedule, backfill, model_version, alias, drift, local */
    const json_t *trigger_info; /* optional event or reason, stored as JSON */
    const json_t *params;       /* resolved parameters (object of strings) */
    int64_t logical_ms;
    const char *owner;
    const char *dedup_key; /* optional: a second run with the same key is KILN_EEXIST */
};

/* Creates a queued run of (spec, version) with every task instance in state none. */
int kiln_pl_store_create_run(struct kiln_store *store, const struct kiln_pl_spec *spec, int version,
                             const struct kiln_pl_new_run *nr, char run_id[33] /* OUT */,
                             struct kiln_err *err);
/*
 * Loads the applied spec of a pipeline. KILN_ENOENT when unknown or never applied.
 * OUT: *spec (kiln_pl_spec_free), *version.
 */
int kiln_pl_store_load_current(struct kiln_store *store, const char *name,
                               struct kiln_pl_spec **spec /* OUT */, int *version /* OUT */,
                               struct kiln_err *err);
/* Loads a given version. */
int kiln_pl_store_load_version(struct kiln_store *store, const char *name, int version,
                               struct kiln_pl_spec **spec /* OUT */, struct kiln_err *err);
/*
 * Resolves a run id or a unique prefix of one (at least 6 characters) into out.
 * KILN_ENOENT, KILN_EINVAL (ambiguous prefix).
 */
int kiln_pl_store_resolve_run(struct kiln_store *store, const char *id, char out[33] /* OUT */,
                              struct kiln_err *err);
/* Asks the owner of a queued or running run to cancel it. KILN_ESTATE when already final. */
int kiln_pl_store_request_cancel(struct kiln_store *store, const char *run_id,
                                 struct kiln_err *err);

/*
 * Creates runs for an event (type "model_version", "alias" or "drift") in every applied
 * pipeline with a matching trigger; the event's fields fill declared parameters of the same
 * name. `event` holds "model" (and "alias" for alias moves) to match filters. Appends new run
 * ids to `run_ids` and, for pipelines that matched but could not start a run, objects
 * {"pipeline", "message"} to `errors` (optional). Only KILN_ENOMEM and store errors fail.
 */
int kiln_pl_dispatch_event(struct kiln_store *store, const char *type, const json_t *event,
                           json_t *run_ids, json_t *errors, struct kiln_err *err);

/*
 * Creates the run of a scheduled or backfilled logical date (parameters at their defaults,
 * dedup key "logical:<ms>"): KILN_EEXIST when that date already has one.
 */
int kiln_pl_create_logical_run(struct kiln_store *store, const struct kiln_pl_spec *spec,
                               int version, const char *trigger, int64_t logical_ms,
                               const char *owner, char run_id[33] /* OUT */, struct kiln_err *err);
/*
 * Creates backfill runs for every fire time of the spec's schedule in [from_ms, to_ms]
 * (at most 1000), skipping logical dates that have a run already. Appends the new run ids to
 * `created`; OUT: *skipped. KILN_EINVAL without a schedule or with too many dates.
 */
int kiln_pl_backfill(struct kiln_store *store, const struct kiln_pl_spec *spec, int version,
                     int64_t from_ms, int64_t to_ms, json_t *created, int *skipped /* OUT */,
                     struct kiln_err *err);

/* ---- read views (pquery.c): new JSON values owned by the caller ---------------------------- */

/* A run with its tasks, their attempts ("attempt_list") and links. KILN_ENOENT. */
int kiln_pl_query_run(struct kiln_store *store, const char *run_id, json_t **out /* OUT */,
                      struct kiln_err *err);
/* Runs newest first, of one pipeline (name) or all (NULL); max 0 means 100. */
int kiln_pl_query_runs(struct kiln_store *store, const char *name, int max, json_t **out /* OUT */,
                       struct kiln_err *err);
/* Pipelines (all, or the one named, then with its spec text) with schedule and last run. */
int kiln_pl_query_pipelines(struct kiln_store *store, const char *name, json_t **out /* OUT */,
                            struct kiln_err *err);
/*
 * The log file of a task's attempt (attempt 0: the latest). OUT: *path (kiln_free),
 * *attempt_out, *final (the attempt has ended). KILN_ENOENT.
 */
int kiln_pl_query_log(struct kiln_store *store, const char *run_id, const char *task, int attempt,
                      char **path /* OUT */, int *attempt_out /* OUT */, int *final /* OUT */,
                      struct kiln_err *err);

/* ---- the scheduler (sched*.c) ------------------------------------------------------------ */

struct kiln_pl_sched;

/* What a local run reports to the terminal (all callbacks optional). */
struct kiln_pl_observer {
    /* A task instance changed state (scheduler thread). message may be NULL. */
    void (*task)(void *ctx, const char *run_id, const char *task, enum kiln_pl_ti state,
                 int attempt, const char *message);
    /* A run changed state (scheduler thread). */
    void (*run)(void *ctx, const char *run_id, enum kiln_pl_run_state state, const char *message);
    /* Output of a task's process, as it arrives (executor thread). */
    void (*output)(void *ctx, const char *run_id, const char *task, const char *data, size_t len);
    void *ctx;
};

struct kiln_pl_config {
    struct kiln_store *store;
    const char *artifacts_root; /* logs and outputs go under <root>/pipelines/ */
    const char *owner;          /* "scheduler" or "local:HOST:PID" */
    int local;                  /* no schedules or event feeds; exits with its runs */
    int parallelism;            /* tasks running at once (0: 32, Airflow's default) */
    int64_t kill_grace_ms;      /* SIGTERM to SIGKILL on timeout or cancel (0: 5000) */
    const char *tracking_uri;   /* create tracking runs there (NULL: no tracking) */
    const char *events_uri;     /* follow the registry event feed of this server (NULL: no) */
    const char *kiln_bin;       /* binary for built-in steps (NULL: this executable) */
    const struct kiln_pl_observer *observer;
};

/* Creates a scheduler (no thread yet). Strings in cfg are copied. */
int kiln_pl_sched_new(const struct kiln_pl_config *cfg, struct kiln_pl_sched **out /* OUT */,
                      struct kiln_err *err);
/*
 * Recovers this owner's unfinished runs from the store (a task whose process vanished is
 * failed and retried per its policy; finished tasks never run again) and starts the thread.
 */
int kiln_pl_sched_start(struct kiln_pl_sched *s, struct kiln_err *err);
/* Tells the scheduler that the store changed (new run, cancel, apply). Any thread. */
void kiln_pl_sched_notify(struct kiln_pl_sched *s);
/*
 * Stops the thread: running tasks get SIGTERM, then SIGKILL after the grace period; their
 * attempts are recorded as interrupted and run again (without using a retry) at the next
 * start. Waits for the thread. Safe to call twice.
 */
void kiln_pl_sched_stop(struct kiln_pl_sched *s);
/* Frees a stopped scheduler. NULL is a no-op. */
void kiln_pl_sched_free(struct kiln_pl_sched *s);
/* Local mode: asks for every active run to be canceled (signal handlers use notify after). */
void kiln_pl_sched_cancel_all(struct kiln_pl_sched *s);
/* Local mode: waits until no run of this owner is active. Returns 1 when all ended. */
int kiln_pl_sched_wait_idle(struct kiln_pl_sched *s, int64_t timeout_ms);

/*
 * Before start: makes `url` (this server, "http://127.0.0.1:5000") the tracking server of the
 * runs and the registry whose event feed is followed. KILN_ENOMEM.
 */
int kiln_pl_sched_set_server(struct kiln_pl_sched *s, const char *url);

/* ---- REST (api*.c) ---------------------------------------------------------------------- */

/* Registers the pipeline endpoints under /api/kiln/v1 (see docs/pipelines.md). */
int kiln_pl_api_routes(struct kiln_router *r);

struct kiln_server;
/*
 * `kiln server`'s scheduler: created before the HTTP server starts (in srv->pipelines, with
 * parallelism from $KILN_PIPELINE_PARALLELISM, default 32), started once the port is known.
 */
int kiln_pl_server_sched_new(struct kiln_server *srv, struct kiln_err *err);
int kiln_pl_server_sched_start(struct kiln_pl_sched *s, const char *host, int port,
                               struct kiln_err *err);

#endif

/*
 * pipeline_int.h - what the files of src/pipeline/ share (and their unit tests use): the YAML
 * tree, time zones and cron, templates, trigger rules, retry delays, hashing, the parsed spec,
 * the executor interface and the store layer. Never included from outside src/pipeline/ (the
 * public API is pipeline.h).
 */
#ifndef KILN_PIPELINE_INT_H
#define KILN_PIPELINE_INT_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "core/yaml.h"
#include "pipeline/pipeline.h"

/* ---- hashing (hash.c) ------------------------------------------------------------------- */

void kiln_pl_sha1(const void *data, size_t len, unsigned char out[20]);
void kiln_pl_sha256(const void *data, size_t len, unsigned char out[32]);

/* ---- time zones (tz.c) and cron (cron.c) ------------------------------------------------ */

#define KILN_TZ_NAME_MAX 96

struct kiln_tz;

/* Loads zone `name` ("Europe/Berlin") from $TZDIR or /usr/share/zoneinfo. KILN_EINVAL. */
int kiln_tz_load(const char *name, struct kiln_tz **out /* OUT */, struct kiln_err *err);
/* Parses TZif bytes (exposed for tests and the fuzzer). */
int kiln_tz_parse(const char *name, const void *data, size_t len, struct kiln_tz **out /* OUT */,
                  struct kiln_err *err);
void kiln_tz_free(struct kiln_tz *tz);
const char *kiln_tz_name(const struct kiln_tz *tz);
/* UTC offset in seconds at instant t (epoch seconds); tz NULL is UTC. */
int32_t kiln_tz_offset(const struct kiln_tz *tz, int64_t t);
/* The first transition strictly after t, with the offsets before and after it. KILN_ENOENT. */
int kiln_tz_next_transition(const struct kiln_tz *tz, int64_t t, int64_t *when /* OUT */,
                            int32_t *before /* OUT */, int32_t *after /* OUT */);
/*
 * The instants (epoch seconds, ascending) whose wall-clock time in tz is w (wall seconds
 * counted like epoch seconds): 0 when w falls into a gap (then *gap_end is the transition
 * that skipped it), 1, or 2 when clocks fell back. Returns the count.
 */
int kiln_tz_wall_instants(const struct kiln_tz *tz, int64_t w, int64_t inst[2],
                          int64_t *gap_end /* OUT */);
/* The smallest and largest offsets the zone ever uses. */
void kiln_tz_offset_range(const struct kiln_tz *tz, int32_t *min_off /* OUT */,
                          int32_t *max_off /* OUT */);

struct kiln_cron {
    uint64_t minutes; /* bit i: minute i */
    uint32_t hours;
    uint32_t doms;   /* bits 1..31 */
    uint16_t months; /* bits 1..12 */
    uint8_t dows;    /* bits 0..6, Sunday = 0 */
    unsigned dom_star : 1, dow_star : 1, fixed_time : 1;
};

/* Parses a cron expression (see cron.c). KILN_EINVAL naming the field at fault. */
int kiln_cron_parse(const char *expr, struct kiln_cron *out /* OUT */, struct kiln_err *err);
/*
 * The first fire time strictly after `after` (epoch seconds) in zone tz (NULL: UTC), with
 * cronie's DST rules. KILN_ENOENT when it never fires.
 */
int kiln_cron_next(const struct kiln_cron *c, const struct kiln_tz *tz, int64_t after,
                   int64_t *next /* OUT */);

/* ---- templates (template.c) ------------------------------------------------------------- */

enum kiln_tpl_kind {
    KILN_TPL_TEXT,
    KILN_TPL_PARAM,
    KILN_TPL_OUTPUT,
    KILN_TPL_RUN_ID,
    KILN_TPL_LOGICAL_DATE,
    KILN_TPL_DS,
    KILN_TPL_DS_NODASH,
    KILN_TPL_TRIGGER,
    KILN_TPL_PIPELINE,
    KILN_TPL_TASK,
    KILN_TPL_TRY,
};

struct kiln_tpl_part {
    enum kiln_tpl_kind kind;
    const char *a; /* text, parameter name or task name */
    size_t alen;
    const char *b; /* output key */
    size_t blen;
};

typedef int (*kiln_tpl_visit_fn)(void *ctx, const struct kiln_tpl_part *part, struct kiln_err *err);

/* Walks template s; KILN_EINVAL for a malformed template, else the first visitor error. */
int kiln_tpl_scan(const char *s, kiln_tpl_visit_fn visit, void *ctx, struct kiln_err *err);
int kiln_tpl_has_expr(const char *s);

struct kiln_tpl_ctx {
    const char *pipeline, *run_id, *trigger, *task;
    int try_number;
    int64_t logical_ms;
    /* Lookups return NULL when the value does not exist (rendering fails with KILN_ENOENT). */
    const char *(*param)(void *user, const char *name, size_t len);
    const char *(*output)(void *user, const char *task, size_t tlen, const char *key, size_t klen);
    void *user;
};

/* Renders s, appending to out. KILN_EINVAL, KILN_ENOENT (missing value), KILN_ETOOBIG. */
int kiln_tpl_render(const char *s, const struct kiln_tpl_ctx *ctx, struct kiln_buf *out,
                    struct kiln_err *err);

enum kiln_pl_date_fmt { KILN_PL_DATE_ISO, KILN_PL_DATE_DS, KILN_PL_DATE_DS_NODASH };
void kiln_pl_format_date(int64_t ms, enum kiln_pl_date_fmt fmt, char *out, size_t size);

/* ---- parameters (spec_util.c) ---------------------------------------------------------- */

#define KILN_PL_PARAM_MAX ((size_t)65536)

/* Checks that JSON value v suits parameter pa's type. KILN_EINVAL naming the parameter. */
int kiln_pl_param_check(const struct kiln_pl_param *pa, const json_t *v, struct kiln_err *err);

/* ---- trigger rules and states (rules.c) ------------------------------------------------- */

struct kiln_pl_upcount {
    int total, success, failed, upstream_failed, skipped, done;
};

enum kiln_pl_verdict { KILN_PL_WAIT, KILN_PL_RUN, KILN_PL_SKIP, KILN_PL_UPSTREAM_FAILED };

const char *kiln_pl_rule_name(enum kiln_pl_rule r);
int kiln_pl_rule_parse(const char *s, enum kiln_pl_rule *out /* OUT */);
/* Adds one upstream that reached final state s to the counts. */
void kiln_pl_upcount_add(struct kiln_pl_upcount *c, enum kiln_pl_ti final_state);
/* What the rule says given the upstream counts (Airflow's TriggerRuleDep). */
enum kiln_pl_verdict kiln_pl_rule_eval(enum kiln_pl_rule rule, const struct kiln_pl_upcount *c);
/* The state of a run whose task instances are all final. */
enum kiln_pl_run_state kiln_pl_run_outcome(const enum kiln_pl_ti *states, const int *is_leaf,
                                           size_t n);

/* ---- retries (retry.c) ------------------------------------------------------------------ */

/*
 * Delay before the next try after try `try_number` failed (see retry.c for the formula).
 * max_retry_delay_ms <= 0 means no per-task cap.
 */
int64_t kiln_pl_retry_delay_ms(const char *pipeline, const char *task, int64_t logical_ms,
                               int try_number, int64_t retry_delay_ms, int exponential,
                               int64_t max_retry_delay_ms);

/* ---- executors (exec_local.c) ------------------------------------------------------------ */

/*
 * An executor runs task processes. The scheduler submits a launch; the executor starts it on
 * its own thread and reports back through callbacks that run on that thread:
 *   - on_start: at most once, when the process has started (pid, start time);
 *   - on_output: zero or more times with output as it arrives (optional);
 *   - on_done: exactly once for every submit that returned KILN_OK, also when the task was
 *     canceled or the executor shut down (rc KILN_ECANCELED) - STYLE.md rule 10. After a submit
 *     that failed, no callback ever runs.
 * The local executor below runs processes on this host; a distributed executor (workers
 * claiming tasks from PostgreSQL) implements the same ops.
 */
struct kiln_pl_exec_result {
    int rc;        /* KILN_OK: ran and ended; KILN_ETIMEDOUT; KILN_ECANCELED; else not started */
    int exit_code; /* >= 0 when the process exited, else -1 */
    int signal;    /* the signal that ended it, else 0 */
    int pid;
    int64_t start_ms, end_ms;
    char *outputs; /* contents of the outputs file, or NULL; on_done takes ownership */
    size_t outputs_len;
    int outputs_too_big;
    char message[KILN_ERR_MSG_MAX];
};

struct kiln_pl_launch {
    const char *const *argv;  /* argv[0]: a path, or a name searched in the PATH of envp */
    const char *const *envp;  /* the whole environment */
    const char *workdir;      /* NULL: the executor's own */
    const char *log_path;     /* stdout and stderr are appended here */
    const char *outputs_path; /* read back when the process ends (NULL: none) */
    int64_t timeout_ms;       /* 0: none */
    void (*on_start)(void *ctx, int pid, int64_t start_ms);
    void (*on_output)(void *ctx, const char *data, size_t len);
    void (*on_done)(void *ctx, struct kiln_pl_exec_result *res);
    void *ctx;
};

struct kiln_pl_executor;

struct kiln_pl_executor_ops {
    const char *name;
    /* Copies what it needs from l; OUT: *handle for cancel. */
    int (*submit)(struct kiln_pl_executor *ex, const struct kiln_pl_launch *l,
                  uint64_t *handle /* OUT */, struct kiln_err *err);
    /* Ends the task (SIGTERM to its process group, SIGKILL after the grace period). */
    void (*cancel)(struct kiln_pl_executor *ex, uint64_t handle);
    /* Cancels everything, waits until every on_done has run, stops the thread. */
    void (*shutdown)(struct kiln_pl_executor *ex);
    void (*destroy)(struct kiln_pl_executor *ex);
};

struct kiln_pl_executor {
    const struct kiln_pl_executor_ops *ops;
};

#define KILN_PL_OUTPUTS_MAX ((size_t)65536)

/* A local executor; kill_grace_ms is the SIGTERM-to-SIGKILL delay (0: 5000). */
int kiln_pl_local_executor_new(int64_t kill_grace_ms, struct kiln_pl_executor **out /* OUT */,
                               struct kiln_err *err);

/* ---- store helpers (pstore.c) -------------------------------------------------------------- */

struct kiln_tx;

/*
 * Runs one statement binding fmt's arguments: 't' text (const char *, NULL binds NULL),
 * 'i' int64_t, 'n' int64_t bound as NULL when negative.
 */
int kiln_pl_exec(struct kiln_tx *tx, const char *sql, struct kiln_err *err, const char *fmt, ...);

#endif

/*
 * deploy_int.h - internals shared by the files of src/deploy/ only.
 *
 * The controller's state (struct kiln_deploy) lives here with its locking rules; see the
 * comment on the struct.
 */
#ifndef KILN_DEPLOY_INT_H
#define KILN_DEPLOY_INT_H

#include <jansson.h>
#include <pthread.h>

#include "core/arena.h"
#include "core/buf.h"
#include "deploy/deploy.h"
#include "store/store.h"

/* ---- the controller's state -------------------------------------------------------------- */

struct kiln_http_req;

/* A parked plan poll (GET .../plan?after=G&wait=S); lives in its request's arena. */
struct dp_watch {
    struct dp_watch *next;
    struct kiln_http_req *req;
    int64_t after;       /* answer once the generation is past this */
    int64_t deadline_ms; /* kiln_mono_ns() / 1e6 */
};

/* What the control plane knows of one replica. */
struct dp_replica {
    struct dp_replica *next;
    char *name, *boot;
    int64_t seq;        /* last report accepted from this boot */
    int64_t generation; /* plan generation it served */
    int64_t first_ms, last_ms;
    int64_t reports;
    int64_t gaps;                    /* reports that carried a gap */
    int64_t last_gap_ms, max_gap_ms; /* lengths of the last and the longest gap */
    int64_t gap_reported_ms;         /* when the last gap was reported */
    int64_t gap_generation;          /* plan served during the last gap */
    int has_drift;                   /* the replica's latest drift window */
    int64_t drift_ms, drift_version;
    uint64_t drift_rows;
    int drift_dataset;
    double drift_share;
    char *drift_columns; /* comma-separated drifted columns */
};

/* An active rollout (only one per deployment). */
struct dp_rollout {
    int64_t id;
    int64_t stable, candidate;
    size_t step;
    int64_t step_start_ms;
    int64_t start_ms;
    int failed_checks;
    int64_t last_check_ms;
    struct kiln_deploy_vstats step_stable, step_cand, total_stable, total_cand;
    char *last_analysis; /* JSON of the last analysis */
    char last_verdict[16];
    char message[200];   /* what the rollout waits for, for status */
    int64_t recorded_ms; /* last analysis written to the store */
};

/* One bucket of the alert window: everything served in [start, start + DP_BUCKET_MS). */
#define DP_BUCKET_MS 5000
struct dp_bucket {
    int64_t start_ms;
    struct kiln_deploy_vstats all;
};

struct dp_alert_state {
    int firing;
    int pending;
    int64_t since_ms; /* pending or firing since */
    int64_t alert_id; /* store row while firing */
    double value;
    char summary[200];
};

/* Remembered predictions (for feedback sent to the control plane) and early labels. */
struct dp_fb_entry {
    struct dp_fb_entry *hnext;
    char *id;
    char *label;
    int64_t version;
    int64_t time_ms;
    int live;
};

struct dp_fb_table {
    struct dp_fb_entry **slots; /* hash chains */
    size_t nslots;
    struct dp_fb_entry **ring; /* insertion order, for eviction */
    size_t cap, head, n;
};

struct dp_dep {
    struct dp_dep *next;
    char *name;
    struct kiln_arena *arena; /* owns spec */
    struct kiln_deploy_spec *spec;
    int64_t created_ms, updated_ms;
    /* the plan replicas follow */
    int64_t generation;
    int64_t plan_stable, plan_candidate;
    double plan_weight;
    int plan_shadow;
    char *plan_json;
    /* the registry as the controller last read it */
    int64_t env_stable, env_candidate;
    char env_error[KILN_ERR_MSG_MAX];
    int64_t ended_candidate, ended_move_id;
    struct dp_rollout *ro;
    struct dp_replica *replicas;
    struct dp_watch *watches;
    struct dp_bucket *ring;
    size_t nring;
    struct dp_alert_state *alerts; /* spec->nalerts */
    int64_t last_alert_eval_ms;
    struct dp_fb_table preds;   /* request id -> (version, predicted label) */
    struct dp_fb_table pending; /* request id -> actual label awaiting its prediction */
    uint64_t fb_matched, fb_pending, fb_expired;
};

/*
 * The controller. `mu` guards `deps` and everything reachable from it; it is taken by HTTP
 * handlers (briefly: reports, plan polls, reads) and by the controller thread, which also
 * makes its store writes and registry calls while holding it (lock order: mu, then the store's
 * and the registry's own locks; nothing called under mu calls back into this struct).
 * `kick_mu` guards `kicked` and `stopping` and pairs with `kick_cond`; it is never held with
 * mu taken after it, so any thread may kick the controller.
 */
struct kiln_deploy {
    struct kiln_deploy_config cfg;
    char *user;
    pthread_mutex_t mu;
    struct dp_dep *deps;
    int closed; /* stopped: plan polls answer at once (under mu) */
    /* Plan polls that cannot park (a thread per connection) wait here, on their own thread;
     * broadcast with every dp_wake_watches (mu held). CLOCK_MONOTONIC. */
    pthread_cond_t plan_cond;
    pthread_mutex_t kick_mu;
    pthread_cond_t kick_cond;
    int kicked;
    int stopping;
    pthread_t thread;
    int started;
};

/* ---- state.c -------------------------------------------------------------------------------- */

/* The deployment named `name`, or NULL (mu held). */
struct dp_dep *dp_find(struct kiln_deploy *d, const char *name);
/* Wakes the controller thread. Any thread, mu held or not. */
void dp_kick(struct kiln_deploy *d);
/* Frees a deployment (watches must have been answered). */
void dp_dep_free(struct dp_dep *dep);
/* A new deployment object for a parsed spec (arena ownership passes to it). KILN_ENOMEM. */
int dp_dep_new(struct kiln_arena *arena, struct kiln_deploy_spec *spec, struct dp_dep **out);
/* Rolls the plan: recomputes it from the rollout state, bumps the generation, persists it
 * (with `extra`, a work run in the same transaction, may be NULL), and answers parked polls.
 * mu held. */
int dp_publish(struct kiln_deploy *d, struct dp_dep *dep, kiln_store_work_fn extra, void *ctx,
               struct kiln_err *err);
/* Writes the current plan JSON (mu held). */
int dp_render_plan(struct dp_dep *dep, struct kiln_buf *out);
/* Resumes every parked poll (all of them when `all`, else those answered or expired). */
void dp_wake_watches(struct kiln_deploy *d, struct dp_dep *dep, int all, int64_t now_mono_ms);
/* Frees the rollout object. */
void dp_rollout_free(struct dp_rollout *ro);

/* ---- dstore.c: persistence (caller holds mu where a dep is passed) -------------------------- */

int dp_store_load(struct kiln_deploy *d, struct kiln_err *err);
int dp_store_put_deployment(struct kiln_deploy *d, const struct dp_dep *dep, int created,
                            struct kiln_err *err);
int dp_store_delete_deployment(struct kiln_deploy *d, const char *name, struct kiln_err *err);
int dp_store_insert_rollout(struct kiln_deploy *d, struct dp_dep *dep, struct dp_rollout *ro,
                            struct kiln_err *err);
/* Rewrites the rollout's progress (step, checks, stats checkpoint, last analysis). */
int dp_store_checkpoint(struct kiln_deploy *d, const struct dp_dep *dep, struct kiln_err *err);
int dp_store_analysis(struct kiln_deploy *d, const struct dp_rollout *ro, const char *verdict,
                      const char *decision, const char *report, struct kiln_err *err);
/* The checkpoint as a store work (ctx: struct dp_ro_ctx), to run inside another write. */
struct dp_ro_ctx {
    const struct dp_dep *dep;
    struct dp_rollout *ro;
};
int dp_checkpoint_work(struct kiln_tx *tx, void *ctx, struct kiln_err *err);
/* The rollout's statistics as the checkpoint JSON. */
int dp_stats_json(const struct dp_rollout *ro, struct kiln_buf *out);
/* Statement helpers: one type letter per '?': 'i' int64_t, 'I' int64_t with 0 as NULL, 'd'
 * double, 't' text (NULL: NULL). */
int dp_prepare(struct kiln_tx *tx, struct kiln_stmt **st, struct kiln_err *err, const char *sql,
               const char *types, ...);
int dp_exec(struct kiln_tx *tx, struct kiln_err *err, const char *sql, const char *types, ...);

/* ---- ingest.c: reports and feedback (mu held) ---------------------------------------------- */

int dp_ingest_report(struct kiln_deploy *d, struct dp_dep *dep, const struct kiln_deploy_report *r,
                     int *duplicate, struct kiln_err *err);
/* The alert-window bucket for `now` (reset when it is reused). */
struct dp_bucket *dp_bucket_at(struct dp_dep *dep, int64_t now_ms);
/* Merges the buckets of the last `window_ms`. */
int dp_window(struct dp_dep *dep, int64_t now_ms, int64_t window_ms,
              struct kiln_deploy_vstats *out);
int dp_fb_init(struct dp_fb_table *t, size_t cap);
void dp_fb_release(struct dp_fb_table *t);
/* A feedback label for a request id: counted at once or kept until its prediction arrives.
 * OUT: *matched (1 when counted). */
int dp_feedback(struct dp_dep *dep, const char *id, const char *label, int64_t now_ms,
                int *matched);

/* ---- controller.c ---------------------------------------------------------------------------- */

/* Reads the stable and candidate versions from the registry into dep (mu held). */
int dp_read_envs(struct kiln_deploy *d, struct dp_dep *dep);
/* One pass over a deployment (mu held). */
void dp_reconcile(struct kiln_deploy *d, struct dp_dep *dep, int64_t now_ms);
/* Rolls back / aborts the active rollout at once (mu held). `state` "rolled_back" or
 * "aborted"; failed_check_ms 0 when not from an analysis. */
int dp_rollback(struct kiln_deploy *d, struct dp_dep *dep, const char *state, const char *reason,
                const char *analysis, int64_t failed_check_ms, const char *user,
                struct kiln_err *err);
/* Promotes the candidate of the active rollout into the stable environment now (mu held). */
int dp_promote(struct kiln_deploy *d, struct dp_dep *dep, const char *reason, const char *user,
               struct kiln_err *err);

/* ---- view.c: JSON answers ------------------------------------------------------------------ */

/* "progressing", "idle" or "waiting". */
const char *dp_state(const struct dp_dep *dep);
void dp_view_status(struct kiln_deploy *d, const struct dp_dep *dep, struct kiln_jsonw *w);
void dp_view_summary(const struct dp_dep *dep, struct kiln_jsonw *w);
int dp_view_history(struct kiln_deploy *d, const char *name, int64_t rollout, int64_t limit,
                    struct kiln_jsonw *w, struct kiln_err *err);
int dp_view_alerts(struct kiln_deploy *d, const char *name, int firing_only, int64_t limit,
                   struct kiln_jsonw *w, struct kiln_err *err);

/* ---- api.c: handlers (api_ops.c has the route table) --------------------------------------- */

struct kiln_http_resp;
int dp_api_apply(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err);
int dp_api_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                struct kiln_err *err);
int dp_api_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
               struct kiln_err *err);
int dp_api_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err);
int dp_api_plan(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                struct kiln_err *err);
int dp_api_report(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err);
int dp_api_feedback(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err);
/* The running controller of the server `app`; NULL (and KILN_EUNAVAIL in err) when off. */
struct kiln_deploy *dp_api_controller(void *app, struct kiln_err *err);
/* Who acts: the body's "user", else the X-Kiln-User header; "" when absent or over 256 bytes. */
const char *dp_api_who(struct kiln_http_req *req, const json_t *doc);

/* ---- alerts.c ----------------------------------------------------------------------------------
 */

void dp_alerts_eval(struct kiln_deploy *d, struct dp_dep *dep, int64_t now_ms);
/* Restores firing alerts after a restart (mu held). */
int dp_alerts_load(struct kiln_deploy *d, struct dp_dep *dep, struct kiln_err *err);

#endif

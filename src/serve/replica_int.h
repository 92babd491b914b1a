/*
 * replica_int.h - `kiln serve --deployment NAME`: a serve replica that follows a deployment's
 * plan (docs/deployments.md, "The plan, and what replicas send"). Shared by replica.c (life
 * cycle, plan and report threads), rplan.c (plan parsing, the traffic split, request ids),
 * rstats.c (per-version counters and histograms, report building), rroute.c (scoring
 * requests), feedback.c (POST /feedback) and monitor.c (online drift and gauges). Nothing
 * outside src/serve includes it.
 *
 * Ownership: the server owns its replica (s->rep); the replica owns the candidate slot, its
 * statistics blocks, the feedback table and the monitor. The stable version lives in the
 * server's first slot (s->slots[0]), named after the deployment's model.
 *
 * Threads and locks:
 *   - HTTP workers route requests: they copy the plan under plan_mu (a few instructions),
 *     take version references with slot_acquire, and count into a version's struct rstats
 *     with relaxed atomics only (no lock on the scoring path except the feedback ring's).
 *   - the plan thread long-polls the control plane and applies plans (plan_mu for the copy;
 *     slot loads are serialized per slot by slot->load_mu);
 *   - the report thread drains the atomics into its own accumulators, runs the drift windows
 *     and posts reports (nothing it owns is touched by another thread, except under st_mu /
 *     fb->mu / the monitor's stripe locks).
 *   - st_mu guards the list of statistics blocks (insert, retire), never held while scoring.
 */
#ifndef KILN_SERVE_REPLICA_INT_H
#define KILN_SERVE_REPLICA_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "deploy/deploy.h"
#include "deploy/hist.h"
#include "quality/profile.h"
#include "serve/serve_int.h"

/* ---- the plan (rplan.c) -------------------------------------------------------------------- */

enum rp_mode { RP_STABLE = 0, RP_CANARY = 1, RP_SHADOW = 2 };

#define RP_NAME_MAX 256
#define RP_STICKY_MAX 128

/* What a replica needs of a plan: a plain value, copied whole by readers. */
struct rplan {
    int64_t generation;
    enum rp_mode mode;
    char deployment[RP_NAME_MAX];
    char model[RP_NAME_MAX];
    int64_t stable;    /* 0: the deployment has no stable version yet */
    int64_t candidate; /* 0: none */
    double weight;     /* candidate's share of requests, percent (0..100) */
    int shadow;        /* the candidate gets a copy of every request */
    int compare;       /* canary: run the other version too on candidate rows (agreement) */
    char sticky_key[RP_STICKY_MAX]; /* request header pinning a caller ("" none) */
    int64_t report_interval_ms;
    double confidence_threshold;
    int64_t drift_window_rows, drift_window_ms;
    int64_t feedback_capacity;
};

/*
 * Parses a plan answer (GET .../plan). Every field the replica uses is checked; a wrong one is
 * KILN_EINVAL naming it ("candidate.weight: expected a number in [0, 100]"), bad JSON is
 * KILN_EPARSE with line and column. OUT: *out (untouched on error).
 */
int rplan_parse(const char *body, size_t len, struct rplan *out /* OUT */, struct kiln_err *err);

enum rp_role { ROLE_STABLE = 0, ROLE_CANDIDATE = 1, ROLE_SHADOW = 2, ROLE_N };

/*
 * The split: 1 when a request goes to the candidate. With a sticky key value (key != NULL),
 * fnv1a64(key) % 10000 < weight * 100; without one, `rnd` (uniform 64-bit) decides with
 * probability weight / 100. Shadow plans and plans without a candidate never split.
 */
int rplan_to_candidate(const struct rplan *p, const char *key, size_t key_len, uint64_t rnd);

/* splitmix64: the next uniform value from a counter (lock-free random draws). */
uint64_t rplan_mix(uint64_t x);

/* ---- per-version statistics (rstats.c) ------------------------------------------------------ */

#define RH_N (2 * KILN_HIST_KEY_MAX + 1)

/* A log-linear histogram of atomic counters, dense over every key (index = key + KEY_MAX). */
struct rhist {
    _Atomic uint64_t b[RH_N];
    _Atomic uint64_t sum_bits; /* a double's bits, added to with compare-and-swap */
};

/* The counters of one model version, written by HTTP workers with relaxed atomics. */
struct rstats {
    int64_t version;
    long users; /* served versions pointing here (guarded by st_mu) */
    _Atomic uint64_t requests, errors, rows, compared, agreed;
    struct rhist latency_us, scores, confidence;
    /* The monitor's confidence window (since the last drift comparison). */
    _Atomic uint64_t conf_n, conf_low, conf_sum_bits;
    int64_t conf_since_ms;            /* report thread */
    struct kiln_metric *role[ROLE_N]; /* kiln_deploy_requests_total children */
    struct rstats *next;
};

void rhist_add(struct rhist *h, double v);
/* Adds the bits-encoded double v to *bits (CAS loop). */
void ratomic_add_double(_Atomic uint64_t *bits, double v);
double ratomic_take_double(_Atomic uint64_t *bits);
/*
 * Moves the counts of h into dst (h ends empty, counts added while draining land either in
 * dst or in h, never both). KILN_ENOMEM (the counts not moved are lost).
 */
int rhist_drain(struct rhist *h, struct kiln_hist *dst);
/* Moves every counter of st into vs (see rhist_drain). */
int rstats_drain(struct rstats *st, struct kiln_deploy_vstats *vs);

/* ---- the feedback table (feedback.c) -------------------------------------------------------- */

struct fb_entry;

struct fb_table {
    pthread_mutex_t mu;
    struct fb_entry **ring; /* cap entries, oldest at head */
    size_t cap, n, head;
    uint32_t *slots; /* hash buckets: ring index + 1 of the chain's first entry, 0 = empty */
    size_t nslots;
    /* Predictions of requests whose id the caller gave (for the control plane). */
    struct kiln_deploy_prediction *sent;
    size_t nsent, capsent;
    uint64_t sent_dropped;
    /* (version, predicted, actual) counts of labels joined here: since the last report
     * (fresh) and in all (total, for the gauges). */
    struct fb_pair *pairs;
    size_t npairs, cappairs;
    uint64_t dropped; /* labels not counted: FB_MAX_PAIRS distinct pairs reached */
};

struct fb_pair {
    int64_t version;
    uint64_t fresh, total;
    char pred[KILN_DEPLOY_LABEL_MAX + 1], actual[KILN_DEPLOY_LABEL_MAX + 1];
};

#define FB_ID_MAX 200
#define FB_MAX_PAIRS 4096
#define FB_MAX_SENT 100000

int fb_init(struct fb_table *t, size_t cap);
void fb_release(struct fb_table *t);
/*
 * Remembers a prediction (id and label copied); the oldest one is forgotten when full.
 * `send` also queues it for the control plane. KILN_ENOMEM (nothing remembered).
 */
int fb_record(struct fb_table *t, const char *id, size_t id_len, int64_t version, const char *label,
              int send);
/*
 * Joins a POST /feedback body with the remembered predictions. The body is validated whole
 * first: a wrong field is KILN_EINVAL naming it ("labels[2].label: expected a string, a
 * number or a boolean") and nothing changes. A matched prediction is counted once (it is
 * forgotten). OUT: *matched, *unmatched.
 */
int fb_apply(struct fb_table *t, const char *body, size_t len, size_t *matched /* OUT */,
             size_t *unmatched /* OUT */, struct kiln_err *err);
/*
 * Moves the queued predictions and the fresh feedback counts into a report (r->predictions,
 * and the feedback of r->versions, adding versions as needed). KILN_ENOMEM.
 */
int fb_take(struct fb_table *t, struct kiln_deploy_report *r);
/*
 * Calls fn for every version with labels so far: their count, accuracy and macro precision
 * and recall (under the table's lock; fn must not call back into the table).
 */
void fb_each(struct fb_table *t,
             void (*fn)(void *ctx, int64_t version, uint64_t n, double acc, double prec,
                        double rec),
             void *ctx);

/* ---- the replica (replica.c) ---------------------------------------------------------------- */

struct monitor;
struct kiln_http_client;

struct replica {
    struct kiln_serve *srv;
    char *deployment, *id, *boot;
    struct slot *stable; /* = srv->slots[0] (borrowed) */
    struct slot *cand;   /* owned; not in srv->slots, so no route names it */

    pthread_mutex_t plan_mu;
    struct rplan plan; /* guarded by plan_mu */
    _Atomic int64_t generation;
    _Atomic uint64_t weight_bits; /* the plan's candidate weight, for the gauge */
    atomic_ullong rnd;            /* counter behind the random split */
    atomic_ullong req_seq;        /* generated request ids */

    /* Control plane health: 0 while it answers, else when it stopped (ms, wall clock). */
    _Atomic int64_t down_since_ms;
    pthread_mutex_t gap_mu;
    int64_t gap_ms, gap_generation; /* longest gap since the last report that went through */

    pthread_mutex_t st_mu;
    struct rstats *stats; /* list, guarded by st_mu */

    struct fb_table fb;
    struct monitor *mon;

    /* Report thread state (that thread only). */
    int64_t seq;
    struct kiln_deploy_vstats *acc; /* drained, not yet reported */
    size_t nacc;
    struct kiln_buf pending; /* a report that failed, resent unchanged (same seq) */
    int has_pending;
    int64_t last_report_ms;

    pthread_t plan_thread, report_thread;
    int plan_started, report_started;
    struct kiln_metric_family *f_roles;
};

/*
 * Before the server starts: reads the plan once (without waiting), creates the stable slot
 * (named after the model, loading models:/MODEL/STABLE) and the candidate slot. KILN_EUNAVAIL
 * when the control plane cannot be reached, KILN_ENOENT for an unknown deployment.
 */
int replica_prepare(struct kiln_serve *s, struct kiln_err *err);
/* After the metric registry exists: the replica's families and gauges. */
int replica_metrics_init(struct kiln_serve *s, struct kiln_err *err);
/* Once the stable version is loaded: starts the plan and report threads. */
int replica_start(struct kiln_serve *s, struct kiln_err *err);
/* After srv->stopping is set: joins the threads and sends a last report. */
void replica_stop(struct kiln_serve *s);
void replica_free(struct replica *r);

/* The plan being served (a copy). */
void replica_plan(struct replica *r, struct rplan *out /* OUT */);
/* The statistics block of a version (created on first use); NULL when out of memory. */
struct rstats *replica_stats_get(struct replica *r, int64_t version);
/* Drops a served version's claim on its block. */
void replica_stats_put(struct replica *r, struct rstats *st);
/* Notes an answer (ok) or a failure of the control plane. */
void replica_cp_note(struct replica *r, int ok);
/* Builds and posts one report (the report thread, or stop). */
void replica_report_tick(struct replica *r, struct kiln_http_client *c);

/* ---- scoring requests (rroute.c) ---------------------------------------------------------- */

/* Serves a scoring request of protocol p by the plan; `pin` names a version (OIP) or NULL. */
int replica_score(struct kiln_serve *s, enum proto p, const char *pin, struct kiln_http_req *req,
                  struct kiln_http_resp *resp, struct kiln_err *err);
/* POST /feedback. */
int replica_h_feedback(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err);

/* ---- online monitoring (monitor.c) ---------------------------------------------------------- */

int monitor_new(struct kiln_serve *s, struct monitor **out /* OUT */, struct kiln_err *err);
void monitor_free(struct monitor *m);
/*
 * A drift window for a version being loaded, taking `prof` (freed here on failure, or when
 * the version has a window already, which is then shared). NULL: no feature drift.
 */
struct mwin *monitor_attach(struct monitor *m, int64_t version, struct kiln_profile *prof,
                            const struct kiln_rt_model *model);
/* A version using the window is freed. */
void monitor_detach(struct monitor *m, struct mwin *w);
/* Adds n rows (model input order) of version v to its drift window (when v has a profile). */
void monitor_rows(struct monitor *m, const struct served *v, const double *x, size_t n);
/*
 * The report thread, before each report: compares the windows that are due (drift_window_rows
 * rows or drift_window_ms elapsed), updates the gauges, and fills r->drift with the latest
 * comparison not yet reported. KILN_ENOMEM.
 */
int monitor_tick(struct monitor *m, const struct rplan *plan, struct kiln_deploy_report *r);
/* Updates the feedback gauges of every version from the labels joined so far. */
void monitor_feedback(struct monitor *m, struct fb_table *t);

#endif

/*
 * deploy.h - deployments: canary and shadow rollouts of registered model versions, judged
 * in-process from the counters and sketches serve replicas report, promoted or rolled back
 * through the registry; online quality from feedback labels; alert rules.
 *
 * Model (docs/deployments.md has the user's view). A deployment names a registered model, its
 * stable environment (an alias, default `production`) and its candidate environment (default
 * `canary`). When the candidate alias points at a version other than the stable one, the
 * controller starts a rollout of that version: a sequence of steps (canary traffic weights, or
 * a shadow phase where the candidate sees a copy of the traffic and only its answers are
 * compared), each held for a minimum duration and a minimum number of candidate requests and
 * judged by an analysis every `interval`. A failed analysis sends the candidate's traffic to
 * zero and moves the candidate alias back to the stable version at once; when the last step
 * passes the candidate is promoted into the stable environment (kiln_promote: gates and audit
 * apply). Replicas follow the deployment's *plan* (which versions, which weight), a small JSON
 * document with a generation number that changes whenever the traffic must change.
 *
 * Rollout states: progressing -> promoted | rolled_back | aborted | superseded.
 *
 * Pieces:
 *   - the spec (kiln_deploy_spec_parse): YAML, validated, errors "FILE:LINE:COL: reason";
 *   - statistics per model version (struct kiln_deploy_vstats): request and error counters,
 *     latency, score and confidence histograms (hist.h), agreement with the stable version,
 *     and a confusion table from feedback labels;
 *   - the analysis (kiln_deploy_analyze): candidate against stable, metric by metric;
 *   - replica reports (kiln_deploy_report_parse);
 *   - the controller (struct kiln_deploy): state, the thread of `kiln server` that advances,
 *     promotes and rolls back, alert evaluation, and the REST API (kiln_deploy_api_routes).
 *
 * Ownership and threads are stated per section.
 */
#ifndef KILN_DEPLOY_DEPLOY_H
#define KILN_DEPLOY_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "deploy/hist.h"

/* ---- the spec (spec.c) ------------------------------------------------------------------ */

enum kiln_deploy_metric {
    KILN_DM_ERROR_RATE = 0,
    KILN_DM_LATENCY_P99,
    KILN_DM_SCORE_PSI,
    KILN_DM_SCORE_JS,
    KILN_DM_AGREEMENT,
    KILN_DM_ACCURACY,
    KILN_DM_PRECISION,
    KILN_DM_RECALL,
    KILN_DM_COUNT
};

/* "error_rate", "latency_p99", "score_psi", "score_js", "agreement", "accuracy", ... */
const char *kiln_deploy_metric_name(enum kiln_deploy_metric m);

/* One analysis metric's thresholds; NaN where unset. */
struct kiln_deploy_check {
    int enabled;
    double max;          /* error_rate, score_psi, score_js: candidate value <= max */
    double max_ms;       /* latency_p99: candidate p99 <= max_ms */
    double max_increase; /* error_rate: candidate - stable <= max_increase */
    double max_ratio;    /* latency_p99: candidate p99 <= max_ratio * stable p99 */
    double min;          /* agreement, accuracy, precision, recall: candidate >= min */
    double max_drop;     /* accuracy, precision, recall: stable - candidate <= max_drop */
    int64_t min_samples; /* 0: the analysis' min_samples */
    int line;
};

struct kiln_deploy_step {
    double weight; /* percent of requests to the candidate, (0, 100]; 0 for a shadow step */
    int shadow;    /* the candidate gets a copy of every request instead */
    int64_t min_duration_ms;
    int64_t min_requests; /* candidate requests (or mirrored ones) in the step */
    int line;
};

enum kiln_deploy_inconclusive {
    KILN_DEPLOY_WAIT = 0, /* keep the step running (until inconclusive_timeout, if any) */
    KILN_DEPLOY_FAIL = 1, /* roll back */
};

enum kiln_alert_kind {
    KILN_ALERT_DRIFT = 0,  /* a replica's drift window against the training profile */
    KILN_ALERT_CONFIDENCE, /* low prediction confidence */
    KILN_ALERT_LATENCY,    /* p99 latency */
    KILN_ALERT_ERRORS,     /* error rate */
    KILN_ALERT_QUALITY,    /* accuracy / precision / recall from feedback */
    KILN_ALERT_NO_TRAFFIC, /* no request in the window */
    KILN_ALERT_KIND_COUNT
};

/* "drift", "low_confidence", "latency", "error_rate", "quality", "no_traffic". */
const char *kiln_alert_kind_name(enum kiln_alert_kind k);

struct kiln_alert_rule {
    const char *name; /* unique within the deployment (default: the kind's name) */
    enum kiln_alert_kind kind;
    int64_t window_ms;   /* data the rule looks at (default 60 s) */
    int64_t for_ms;      /* the condition must hold this long before firing (default 0) */
    int64_t min_samples; /* requests, rows (drift) or labels (quality) needed (default 100) */
    double drift_share;  /* drift: share of drifted columns; NaN: the replica's verdict */
    double threshold;    /* low_confidence: a prediction below this is low-confidence */
    double max_share;    /* low_confidence: fire when the low-confidence share exceeds it */
    double min_mean;     /* low_confidence: or when the mean confidence is below it */
    double p99_ms;       /* latency */
    double max_rate;     /* error_rate */
    double min_accuracy, min_precision, min_recall; /* quality */
    int trigger_pipeline; /* drift: start every pipeline with a matching drift trigger */
    const char *severity; /* free text, default "warning" */
    int line;
};

struct kiln_deploy_spec {
    const char *name;
    const char *model;
    const char *stable_env;         /* default "production" */
    const char *candidate_env;      /* default "canary" */
    const char *strategy;           /* "canary" or "shadow" */
    struct kiln_deploy_step *steps; /* a shadow step first for the shadow strategy */
    size_t nsteps;
    const char *sticky_key; /* request header whose value pins a caller to a version */
    /* analysis */
    int64_t interval_ms;
    int failure_limit;
    int64_t min_samples;
    enum kiln_deploy_inconclusive inconclusive;
    int64_t inconclusive_timeout_ms; /* 0: wait forever */
    uint32_t score_bins;
    const char *positive_label; /* NULL: macro averages over the labels */
    struct kiln_deploy_check checks[KILN_DM_COUNT];
    /* monitoring (what replicas do) */
    int64_t report_interval_ms;
    double confidence_threshold;
    int64_t drift_window_rows;
    int64_t drift_window_ms;
    int64_t feedback_capacity; /* predictions remembered for feedback joins */
    struct kiln_alert_rule *alerts;
    size_t nalerts;
    const char *text; /* the source as given */
    size_t text_len;
};

#define KILN_DEPLOY_SPEC_MAX_BYTES ((size_t)1 << 20)
#define KILN_DEPLOY_MAX_STEPS 64
#define KILN_DEPLOY_MAX_ALERTS 64
#define KILN_DEPLOY_NAME_MAX 100

/*
 * Parses and validates a deployment spec (YAML, or JSON, which is YAML). `file` names it in
 * messages. Every problem is KILN_EINVAL "FILE:LINE:COL: where: reason"; unknown keys are
 * refused. Defaults are filled in. OUT: *out and every string it points to, from `arena`.
 */
int kiln_deploy_spec_parse(const char *text, size_t len, const char *file, struct kiln_arena *arena,
                           struct kiln_deploy_spec **out /* OUT */, struct kiln_err *err);
/* Writes the parsed spec (defaults included) as a JSON object. */
void kiln_deploy_spec_write(struct kiln_jsonw *w, const struct kiln_deploy_spec *s);
/* A deployment name: 1..100 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
int kiln_deploy_validate_name(const char *name, struct kiln_err *err);

/* ---- per-version statistics (stats.c) ----------------------------------------------------- */

struct kiln_deploy_pair {
    char *pred, *actual; /* labels (owned) */
    uint64_t n;
};

/* Counts of (predicted, actual) label pairs from feedback. At most KILN_DEPLOY_MAX_PAIRS. */
struct kiln_deploy_confusion {
    struct kiln_deploy_pair *p;
    size_t n, cap;
    uint64_t dropped; /* labels not counted because the table was full */
};

#define KILN_DEPLOY_MAX_PAIRS 1024
#define KILN_DEPLOY_LABEL_MAX 200

struct kiln_deploy_vstats {
    int64_t version;
    uint64_t requests;           /* requests this version answered (or, in shadow, was sent) */
    uint64_t errors;             /* of which failed on the server's side (not the client's) */
    uint64_t rows;               /* rows predicted */
    uint64_t compared;           /* rows also predicted by the other version (agreement) */
    uint64_t agreed;             /* of which both gave the same label (or values within 1e-6) */
    struct kiln_hist latency_us; /* per request, microseconds */
    struct kiln_hist scores;     /* per row: p(positive) for binary, top probability for
                                    multi-class, the value for regressors */
    struct kiln_hist confidence; /* per row: the top class probability (classifiers) */
    struct kiln_deploy_confusion feedback;
};

void kiln_deploy_vstats_init(struct kiln_deploy_vstats *v, int64_t version);
void kiln_deploy_vstats_release(struct kiln_deploy_vstats *v);
/* Empties (keeps the version). */
void kiln_deploy_vstats_reset(struct kiln_deploy_vstats *v);
/* Adds src's counts into dst (versions are not compared). KILN_ENOMEM (dst may be partly
 * merged: callers treat it as lost data, not corruption). */
int kiln_deploy_vstats_merge(struct kiln_deploy_vstats *dst, const struct kiln_deploy_vstats *src);
/* Adds n feedback labels (pred, actual). KILN_EINVAL for labels over the limit. */
int kiln_deploy_confusion_add(struct kiln_deploy_confusion *c, const char *pred, const char *actual,
                              uint64_t n);
void kiln_deploy_confusion_release(struct kiln_deploy_confusion *c);
/* Labels counted. */
uint64_t kiln_deploy_confusion_total(const struct kiln_deploy_confusion *c);
/*
 * Accuracy, and precision and recall of `positive`, or with positive NULL their macro averages
 * over every label seen, predicted or actual (scikit-learn's average='macro' with
 * zero_division=0). NaN when undefined (no labels; for `positive`, never predicted or never
 * actual).
 */
void kiln_deploy_confusion_metrics(const struct kiln_deploy_confusion *c, const char *positive,
                                   double *accuracy /* OUT */, double *precision /* OUT */,
                                   double *recall /* OUT */);
/* The wire form: {"version", "requests", "errors", "rows", "compared", "agreed",
 * "latency_us", "scores", "confidence", "feedback": [[pred, actual, n], ...]}. */
void kiln_deploy_vstats_write(struct kiln_jsonw *w, const struct kiln_deploy_vstats *v);
/* Reads the wire form (`what` names it in messages). OUT: *v (release it even on error). */
int kiln_deploy_vstats_read(const json_t *obj, const char *what,
                            struct kiln_deploy_vstats *v /* OUT */, struct kiln_err *err);

/* ---- the analysis (analysis.c) ------------------------------------------------------------ */

enum kiln_deploy_verdict {
    KILN_VERDICT_PASS = 0,
    KILN_VERDICT_FAIL = 1,
    KILN_VERDICT_INCONCLUSIVE = 2,
};

const char *kiln_deploy_verdict_name(enum kiln_deploy_verdict v);

struct kiln_deploy_metric_result {
    enum kiln_deploy_metric metric;
    enum kiln_deploy_verdict verdict;
    double observed; /* candidate's value (NaN when unknown) */
    double baseline; /* stable's value (NaN when unknown or not used) */
    uint64_t samples, baseline_samples;
    char rule[96];    /* "<= 0.01", "<= 1.5 x stable", ... */
    char detail[160]; /* why, one line */
};

struct kiln_deploy_analysis {
    enum kiln_deploy_verdict verdict; /* fail if any failed, else inconclusive if any was */
    size_t n;
    struct kiln_deploy_metric_result m[KILN_DM_COUNT];
    uint64_t candidate_requests, stable_requests;
};

/*
 * Judges the candidate against the stable version with the spec's enabled checks. `stable` is
 * the stable version's data in the same window; `stable_total` (may be NULL) its data over the
 * whole rollout, used as the baseline when `stable` has fewer than the minimum samples (a step
 * at 100%). A metric whose samples are below its minimum is inconclusive. KILN_ENOMEM.
 */
int kiln_deploy_analyze(const struct kiln_deploy_spec *spec,
                        const struct kiln_deploy_vstats *stable,
                        const struct kiln_deploy_vstats *candidate,
                        const struct kiln_deploy_vstats *stable_total,
                        struct kiln_deploy_analysis *out /* OUT */);
/* {"verdict", "candidate_requests", "stable_requests", "metrics": [{...}]} */
void kiln_deploy_analysis_write(struct kiln_jsonw *w, const struct kiln_deploy_analysis *a);
/* The failing (else inconclusive) metrics in one line: "error_rate 0.31 > 0.01; ...". */
void kiln_deploy_analysis_summary(const struct kiln_deploy_analysis *a, char *out, size_t size);

/* ---- replica reports (report.c) ------------------------------------------------------------ */

struct kiln_deploy_prediction {
    char *id;
    int64_t version;
    char *label;
};

struct kiln_deploy_drift_column {
    char *name;
    char *method;
    double statistic, threshold;
    int drifted;
};

struct kiln_deploy_drift_obs {
    int present;
    int64_t version;
    uint64_t rows;
    int dataset_drift;
    double drift_share;
    struct kiln_deploy_drift_column *cols;
    size_t ncols;
};

struct kiln_deploy_report {
    char *replica;          /* stable replica name */
    char *boot;             /* this process's instance id (seq restarts with a new boot) */
    int64_t seq;            /* increasing per boot; a report seen already is ignored */
    int64_t generation;     /* plan generation the replica was serving */
    int64_t interval_ms;    /* time the counters cover */
    int64_t gap_ms;         /* longest time without the control plane since the last report */
    int64_t gap_generation; /* plan generation served during that gap */
    struct kiln_deploy_vstats *versions;
    size_t nversions;
    struct kiln_deploy_prediction *predictions;
    size_t npredictions;
    struct kiln_deploy_drift_obs drift;
};

#define KILN_DEPLOY_REPORT_MAX_BYTES ((size_t)16 << 20)
#define KILN_DEPLOY_REPORT_MAX_VERSIONS 8
#define KILN_DEPLOY_REPORT_MAX_PREDICTIONS 100000
#define KILN_DEPLOY_ID_MAX 200

/*
 * Parses a report body (docs/deployments.md, "Replica reports"). Every field is checked: a
 * wrong type or value is KILN_EINVAL naming the field ("versions[1].scores.b[3]: ..."), bad
 * JSON is KILN_EPARSE with line and column. OUT: *out (kiln_deploy_report_free).
 */
int kiln_deploy_report_parse(const char *body, size_t len,
                             struct kiln_deploy_report **out /* OUT */, struct kiln_err *err);
void kiln_deploy_report_free(struct kiln_deploy_report *r);
/* Writes a report in the wire form (replicas and tests). */
void kiln_deploy_report_write(struct kiln_jsonw *w, const struct kiln_deploy_report *r);

/* ---- traffic split (shared with serve replicas) -------------------------------------------- */

/* FNV-1a 64 of the key: the sticky hash every replica uses. */
uint64_t kiln_deploy_key_hash(const char *key, size_t len);
/*
 * 1 when a request with this hash goes to the candidate at `weight` percent:
 * hash % 10000 < weight * 100.
 */
int kiln_deploy_split(uint64_t hash, double weight);

/* ---- the controller (controller.c, state.c, alerts.c, feedback.c, api.c) ------------------- */

struct kiln_store;
struct kiln_registry;
struct kiln_pl_sched;
struct kiln_router;
struct kiln_deploy;

struct kiln_deploy_config {
    struct kiln_store *store;        /* borrowed */
    struct kiln_registry *registry;  /* borrowed */
    struct kiln_pl_sched *pipelines; /* borrowed, may be NULL: drift triggers only record */
    int64_t tick_ms;                 /* controller tick (0: 100 ms) */
    const char *user;                /* recorded as the actor of automatic moves (0: kiln-deploy) */
};

/*
 * Creates the controller and loads every deployment and unfinished rollout from the store
 * (their checkpointed statistics included), so a restart resumes rollouts where they were.
 * OUT: *out (kiln_deploy_free).
 */
int kiln_deploy_new(const struct kiln_deploy_config *cfg, struct kiln_deploy **out /* OUT */,
                    struct kiln_err *err);
/* Starts the controller thread. KILN_EIO when it cannot be created. */
int kiln_deploy_start(struct kiln_deploy *d, struct kiln_err *err);
/* Stops and joins the thread, checkpoints rollouts and answers every parked plan poll.
 * Idempotent. */
void kiln_deploy_stop(struct kiln_deploy *d);
/* Stops if needed and frees. NULL is a no-op. */
void kiln_deploy_free(struct kiln_deploy *d);

/* Registers the REST API under /api/kiln/v1 (handlers find the controller in srv->deploy). */
int kiln_deploy_api_routes(struct kiln_router *r);

#endif

/*
 * registry.h - kiln's model registry: registered models, versions with lineage, aliases and
 * environments, evaluations, gated promotion, rollback, the audit log and the event feed.
 *
 * Model. A registered model has numbered versions (1, 2, 3, ... never reused, also after a
 * delete) and aliases naming one version each. Environments are aliases too: every model has
 * an ordered list of environments (default dev, staging, canary, production; a policy may
 * list others) and a version is "in production" when the alias `production` points at it.
 * Promotion moves an environment alias only when every gate of that environment's policy
 * passes; rollback moves it back without gates. Every alias move (and every refused promotion)
 * is recorded in the model's history with who, when, why and the gate report, and every
 * change worth following is an event in a durable, ordered event log (readable with
 * kiln_registry_events and delivered to webhooks).
 *
 * Semantics follow MLflow's registry where MLflow has them (shared/reference/mlflow-api.md
 * §4.5, §7, §8, §10): the same validation rules and error codes (KILN_EINVAL for bad input,
 * KILN_ENOENT for unknown models and versions, KILN_EEXIST for duplicates, and the observed
 * quirk that get-by-alias of an unknown alias is KILN_EINVAL). Every function runs in its own
 * store transaction; writes are atomic, and a failed call changes nothing.
 *
 * Ownership: results are allocated from the caller's arena and live as long as it. Input
 * strings are borrowed for the duration of the call. Thread-safety: every function may be
 * called from any thread on a shared registry; the registry serialises nothing itself beyond
 * the store's own write serialisation, so concurrent promotions are resolved by the store
 * (compare-and-swap on the alias inside a write transaction: KILN_ECONFLICT for the loser).
 *
 * Lifecycle: kiln_registry_new -> kiln_registry_start (background threads: webhook delivery
 * and event-watch deadlines) -> ... -> kiln_registry_stop (threads joined, every pending
 * event watch fires) -> kiln_registry_free.
 */
#ifndef KILN_REGISTRY_REGISTRY_H
#define KILN_REGISTRY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "tracking/tracking.h"

struct kiln_store;
struct kiln_registry;

/* ---- lifecycle -------------------------------------------------------------------------- */

struct kiln_registry_config {
    int webhook_max_attempts;       /* deliveries tried at most this often (0 picks 10) */
    int64_t webhook_backoff_ms;     /* delay before the first retry, doubled after each (0: 1000) */
    int64_t webhook_backoff_max_ms; /* cap of the delay (0: 3,600,000) */
    long webhook_timeout_ms;        /* per POST (0: 10,000) */
};

/*
 * Creates a registry over `store` (borrowed; must outlive the registry). cfg may be NULL for
 * the defaults. Reads the last event id. KILN_ENOMEM, store errors. OUT: *out, freed with
 * kiln_registry_free.
 */
int kiln_registry_new(struct kiln_store *store, const struct kiln_registry_config *cfg,
                      struct kiln_registry **out /* OUT */, struct kiln_err *err);
/* Starts the background threads (webhook delivery, watch deadlines). KILN_EIO when a thread
 * cannot be created. */
int kiln_registry_start(struct kiln_registry *reg, struct kiln_err *err);
/* Stops and joins the threads and fires every pending watch; later watches fire at once.
 * Idempotent. */
void kiln_registry_stop(struct kiln_registry *reg);
/* Stops if needed and frees. NULL is a no-op. */
void kiln_registry_free(struct kiln_registry *reg);

/* ---- entities --------------------------------------------------------------------------- */

#define KILN_STAGE_NONE "None"
#define KILN_STAGE_STAGING "Staging"
#define KILN_STAGE_PRODUCTION "Production"
#define KILN_STAGE_ARCHIVED "Archived"

struct kiln_model_version {
    const char *name;
    int64_t version;
    int64_t creation_timestamp;
    int64_t last_updated_timestamp;
    const char *user_id;          /* NULL when unset */
    const char *current_stage;    /* "None", "Staging", "Production", "Archived" */
    const char *description;      /* NULL when unset */
    const char *source;           /* as registered */
    const char *storage_location; /* what get-download-uri answers */
    const char *run_id;           /* NULL when unset */
    const char *run_link;         /* NULL when unset */
    const char *model_id;         /* logged model (MLflow 3), NULL when unset */
    const char *status;           /* "READY" */
    struct kiln_kv *tags;
    size_t ntags;
    const char **aliases; /* aliases pointing at this version, sorted */
    size_t naliases;
};

struct kiln_model_alias {
    const char *alias;
    int64_t version;
};

struct kiln_registered_model {
    const char *name;
    int64_t creation_timestamp;
    int64_t last_updated_timestamp;
    const char *description;           /* NULL when unset */
    struct kiln_model_version *latest; /* highest version per stage, in stage order */
    size_t nlatest;
    struct kiln_kv *tags;
    size_t ntags;
    struct kiln_model_alias *aliases; /* sorted by alias */
    size_t naliases;
};

/* A search request as MLflow's search endpoints take it. */
struct kiln_registry_search {
    const char *filter;  /* NULL or "" matches everything */
    int64_t max_results; /* 0: the endpoint's default */
    const char *const *order_by;
    size_t norder_by;
    const char *page_token; /* NULL for the first page */
};

/* Parses a version number ("3"). KILN_EINVAL "Parameter 'version' must be an integer". */
int kiln_registry_parse_version(const char *s, int64_t *version /* OUT */, struct kiln_err *err);
/* MLflow's alias rule: ^[\w-]*$, non-empty, <= 255; `latest` and v<digits> reserved. */
int kiln_registry_validate_alias(const char *alias, struct kiln_err *err);

/* ---- registered models (MLflow registered-models/...) ----------------------------------- */

int kiln_rm_create(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const struct kiln_kv *tags, size_t ntags, const char *description,
                   const char *user, struct kiln_registered_model **out /* OUT */,
                   struct kiln_err *err);
int kiln_rm_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                struct kiln_registered_model **out /* OUT */, struct kiln_err *err);
/* Renames; versions, aliases, history and policy follow. KILN_EEXIST when new_name is taken. */
int kiln_rm_rename(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const char *new_name, struct kiln_registered_model **out /* OUT */,
                   struct kiln_err *err);
/* Sets the description (NULL clears it). */
int kiln_rm_update(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const char *description, struct kiln_registered_model **out /* OUT */,
                   struct kiln_err *err);
/* Deletes the model with its versions, tags, aliases, policy, history and evaluations. The
 * event log keeps its records. */
int kiln_rm_delete(struct kiln_registry *reg, const char *name, const char *user,
                   struct kiln_err *err);
/*
 * MLflow's search-registered-models: filter on `name` and `tags.<key>`; order_by `name`,
 * `timestamp`/`last_updated_timestamp`; default max_results 100, at most 1000; prompts
 * excluded unless the filter asks for them. *next_token is NULL on the last page.
 */
int kiln_rm_search(struct kiln_registry *reg, struct kiln_arena *arena,
                   const struct kiln_registry_search *q,
                   struct kiln_registered_model **out /* OUT */, size_t *n /* OUT */,
                   const char **next_token /* OUT */, struct kiln_err *err);
int kiln_rm_set_tag(struct kiln_registry *reg, const char *name, const char *key, const char *value,
                    struct kiln_err *err);
/* A missing tag is not an error (MLflow). */
int kiln_rm_delete_tag(struct kiln_registry *reg, const char *name, const char *key,
                       struct kiln_err *err);
/* The highest version in each requested stage (all four when nstages == 0). */
int kiln_rm_latest_versions(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                            const char *const *stages, size_t nstages,
                            struct kiln_model_version **out /* OUT */, size_t *n /* OUT */,
                            struct kiln_err *err);

/* ---- model versions (MLflow model-versions/...) ----------------------------------------- */

struct kiln_mv_create_args {
    const char *name;
    const char *source;   /* required */
    const char *run_id;   /* optional */
    const char *run_link; /* optional */
    const char *description;
    const char *model_id; /* optional logged model id */
    const char *user;     /* recorded as user_id and in the event */
    const struct kiln_kv *tags;
    size_t ntags;
};

/*
 * Creates the next version, status READY, stage None. A `models:/m-<id>` source resolves to
 * that logged model's artifact location (and run_id defaults to its source run); a
 * `models:/NAME/VERSION` (or @ALIAS) source to that version's storage location. Local paths
 * are accepted only inside the artifact folder of the given run. Emits model_version.created.
 */
int kiln_mv_create(struct kiln_registry *reg, struct kiln_arena *arena,
                   const struct kiln_mv_create_args *a, struct kiln_model_version **out /* OUT */,
                   struct kiln_err *err);
int kiln_mv_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                int64_t version, struct kiln_model_version **out /* OUT */, struct kiln_err *err);
int kiln_mv_update(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   int64_t version, const char *description,
                   struct kiln_model_version **out /* OUT */, struct kiln_err *err);
/* Soft delete: the number is never reused; aliases on it are dropped (recorded as moves). */
int kiln_mv_delete(struct kiln_registry *reg, const char *name, int64_t version, const char *user,
                   struct kiln_err *err);
/*
 * MLflow's search-model-versions: filter on name, version_number, run_id (also IN),
 * source_path, tags.<key>; order_by name, version_number, creation_timestamp,
 * last_updated_timestamp (default last_updated_timestamp DESC, name ASC, version_number
 * DESC); max_results 1..200,000 (default 200,000).
 */
int kiln_mv_search(struct kiln_registry *reg, struct kiln_arena *arena,
                   const struct kiln_registry_search *q, struct kiln_model_version **out /* OUT */,
                   size_t *n /* OUT */, const char **next_token /* OUT */, struct kiln_err *err);
int kiln_mv_set_tag(struct kiln_registry *reg, const char *name, int64_t version, const char *key,
                    const char *value, struct kiln_err *err);
int kiln_mv_delete_tag(struct kiln_registry *reg, const char *name, int64_t version,
                       const char *key, struct kiln_err *err);
/*
 * Moves a version to a stage (case-insensitive, canonicalised). archive_existing moves the
 * other versions in that stage to Archived and is valid only for Staging and Production.
 */
int kiln_mv_transition_stage(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                             int64_t version, const char *stage, int archive_existing,
                             struct kiln_model_version **out /* OUT */, struct kiln_err *err);
/* The version's storage location (get-download-uri). */
int kiln_mv_download_uri(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                         int64_t version, const char **uri /* OUT */, struct kiln_err *err);

/* ---- aliases ---------------------------------------------------------------------------- */

/*
 * Sets (creates or moves) an alias, recording the move. On a model with a promotion policy an
 * environment alias can only be moved by kiln_promote / kiln_rollback: KILN_EINVAL here.
 */
int kiln_alias_set(struct kiln_registry *reg, const char *name, const char *alias, int64_t version,
                   const char *user, struct kiln_err *err);
/* Deletes an alias (absent: no-op); same environment rule as kiln_alias_set. */
int kiln_alias_delete(struct kiln_registry *reg, const char *name, const char *alias,
                      const char *user, struct kiln_err *err);
/*
 * The version an alias points at; `latest` is the highest version. Unknown alias: KILN_EINVAL
 * "Registered model alias X not found" (MLflow's observed behaviour).
 */
int kiln_alias_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   const char *alias, struct kiln_model_version **out /* OUT */,
                   struct kiln_err *err);

/* ---- URI resolution --------------------------------------------------------------------- */

struct kiln_resolved_model {
    const char *uri;          /* as given */
    const char *name;         /* registered model, NULL for logged-model, runs and plain URIs */
    int64_t version;          /* 0 when the URI does not name a registry version */
    const char *alias;        /* alias or stage the URI used, else NULL */
    const char *model_id;     /* logged model id, NULL when unknown */
    const char *run_id;       /* source run, NULL when unknown */
    const char *artifact_uri; /* where the files are: mlflow-artifacts:/..., a path, http(s)://.. */
};

/*
 * Resolves any model URI kiln speaks to the artifact location of the model's files:
 * models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/STAGE, models:/NAME/latest,
 * models:/m-<id>, runs:/RUN_ID/PATH (the run's artifact URI + PATH), mlflow-artifacts:/...,
 * http(s):// and local paths (returned as given). A registry version whose storage location
 * is itself a runs:/ or models:/ URI is followed (at most 8 hops). KILN_EINVAL for a malformed
 * URI or an unknown alias, KILN_ENOENT for unknown models, versions, runs and logged models.
 */
int kiln_registry_resolve(struct kiln_registry *reg, struct kiln_arena *arena, const char *uri,
                          struct kiln_resolved_model *out /* OUT */, struct kiln_err *err);

/*
 * The same resolution through a tracking server's REST API (kiln's /api/kiln/v1/models/resolve,
 * else MLflow's registry, runs and logged-model calls, so it also works against MLflow). For
 * processes that do not own the store. Errors are the server's, mapped to kiln codes.
 */
struct kiln_http_client;
int kiln_registry_resolve_remote(struct kiln_http_client *c, struct kiln_arena *arena,
                                 const char *uri, struct kiln_resolved_model *out /* OUT */,
                                 struct kiln_err *err);

struct kiln_download_stats {
    uint64_t files;
    uint64_t bytes;
    char artifact_uri[2048]; /* where the files came from */
};

/*
 * Downloads the model directory a URI names into `dest` (created if needed): resolves it with
 * kiln_registry_resolve_remote, then fetches every file through the server's artifact proxy
 * (mlflow-artifacts:/ locations and proxy URLs) or copies a local folder. Files are written
 * atomically; names the server lists are checked so nothing lands outside dest. `progress`
 * (may be NULL) runs after each file. KILN_ENOTSUP for other locations (s3://, ...).
 */
int kiln_registry_download(struct kiln_http_client *c, const char *uri, const char *dest,
                           struct kiln_download_stats *stats /* OUT */,
                           void (*progress)(void *arg, const struct kiln_download_stats *s,
                                            const char *path),
                           void *arg, struct kiln_err *err);

/* ---- evaluations ------------------------------------------------------------------------ */

struct kiln_eval_metric {
    const char *key;
    double value; /* NaN and infinities allowed (a gate treats NaN as failing) */
};

struct kiln_eval_class {
    const char *label;
    double precision;
    double recall;
    int64_t support; /* -1 when unknown */
};

struct kiln_pr_point {
    double threshold;
    double precision;
    double recall;
};

#define KILN_EVAL_MAX_METRICS 1000
#define KILN_EVAL_MAX_CLASSES 1000
#define KILN_EVAL_MAX_PR_POINTS 10000

struct kiln_evaluation {
    int64_t id;
    const char *name;
    int64_t version;
    const char *dataset_name;
    const char *dataset_digest;
    int64_t creation_timestamp;
    const char *user_id;
    const char *run_id; /* optional run that computed it */
    int has_threshold;
    double threshold; /* operating threshold of per-class precision/recall */
    struct kiln_eval_metric *metrics;
    size_t nmetrics;
    struct kiln_eval_class *classes;
    size_t nclasses;
    struct kiln_pr_point *pr_curve;
    size_t npr;
};

/*
 * Records the evaluation of (name, version) on (dataset_name, dataset_digest), replacing an
 * earlier record for the same four (kiln evaluate re-runs replace). Validates names and
 * limits; emits evaluation.created. OUT: *id, *replaced (may be NULL).
 */
int kiln_eval_create(struct kiln_registry *reg, const struct kiln_evaluation *e, const char *user,
                     int64_t *id /* OUT */, int *replaced /* OUT */, struct kiln_err *err);
/*
 * Evaluations of a model (version 0: every version; dataset NULL: every dataset), newest
 * first.
 */
int kiln_eval_list(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   int64_t version, const char *dataset_name,
                   struct kiln_evaluation **out /* OUT */, size_t *n /* OUT */,
                   struct kiln_err *err);
/* The value of `key` in e, or NULL. */
const struct kiln_eval_metric *kiln_eval_metric(const struct kiln_evaluation *e, const char *key);

/* ---- promotion policies ----------------------------------------------------------------- */

enum kiln_gate_op {
    KILN_GATE_GE,
    KILN_GATE_GT,
    KILN_GATE_LE,
    KILN_GATE_LT,
};

struct kiln_gate_threshold {
    const char *metric;
    enum kiln_gate_op op;
    double value;
    int line; /* YAML line it came from (0 when not from YAML) */
};

/* MLflow's MetricThreshold, checked against the version currently in the environment. */
struct kiln_gate_compare {
    const char *metric;
    int greater_is_better;
    int has_threshold, has_abs, has_rel;
    double threshold, min_absolute_change, min_relative_change;
    int line;
};

struct kiln_env_policy {
    const char *name;
    const char *dataset;  /* held-out dataset the metric gates read (NULL when none) */
    const char *digest;   /* pinned digest, NULL for the latest evaluation on `dataset` */
    const char *after;    /* order gate: the environment a version must have passed, or NULL */
    const char *champion; /* environment whose version compare/pr gates judge against (NULL:
                             this one) */
    int require_champion; /* comparison gates fail when there is no champion */
    struct kiln_gate_threshold *thresholds;
    size_t nthresholds;
    struct kiln_gate_compare *compares;
    size_t ncompares;
    int pr_enabled;
    int pr_per_class;
    double pr_tolerance;
    int pr_line;
    struct kiln_kv *tags; /* required version tags */
    size_t ntags;
    int line;
};

struct kiln_policy {
    struct kiln_env_policy *envs; /* in promotion order */
    size_t nenvs;
};

#define KILN_POLICY_MAX_BYTES ((size_t)1 << 20)
#define KILN_POLICY_MAX_ENVS 32

/* The default environments, in order: dev, staging, canary, production. */
extern const char *const kiln_default_environments[4];

/*
 * Parses a policy YAML document (docs/registry.md). Errors are KILN_EINVAL with the line and
 * column of the YAML at fault: "line 7, column 5: environment 'staging': unknown key 'tresholds'".
 * OUT: *out from `arena`.
 */
int kiln_policy_parse_yaml(const char *text, size_t len, struct kiln_arena *arena,
                           struct kiln_policy **out /* OUT */, struct kiln_err *err);
/* Writes a parsed policy as JSON (the native API's form). */
void kiln_policy_write(struct kiln_jsonw *w, const struct kiln_policy *pol);
/* ">=", ">", "<=", "<". */
const char *kiln_gate_op_text(enum kiln_gate_op op);
/* Stores a policy (validated by kiln_policy_parse_yaml) for a model; emits policy.updated. */
int kiln_policy_set(struct kiln_registry *reg, const char *name, const char *yaml, size_t len,
                    const char *user, struct kiln_err *err);
/*
 * The model's policy (*out NULL and *yaml NULL when none is set) and its environments (the
 * policy's, else the defaults).
 */
int kiln_policy_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                    struct kiln_policy **out /* OUT */, const char **yaml /* OUT */,
                    struct kiln_err *err);

/* ---- promotion, rollback, history ------------------------------------------------------- */

struct kiln_gate_outcome {
    const char *gate;    /* "metric", "compare", "pr_regression", "tag", "order" */
    const char *subject; /* "roc_auc", "recall[class=fraud]", "validation_status", "dev" */
    const char *rule;    /* human-readable rule: ">= 0.9", "min_relative_change 0.01 vs v3" */
    int has_observed;
    double observed;
    int has_baseline;
    double baseline;
    const char *detail; /* what was observed or what is missing, one line */
    int passed;
};

struct kiln_gate_report {
    const char *model;
    const char *env;
    int64_t version;
    int64_t current_version; /* version in env when gates ran, 0 when empty */
    const char *dataset;
    const char *digest;
    struct kiln_gate_outcome *gates;
    size_t ngates;
    int passed;
};

struct kiln_promotion {
    int moved;            /* 1 when the alias moved */
    int64_t from_version; /* 0 when the environment was empty */
    int64_t to_version;
    int64_t move_id; /* history record (also for a refusal) */
    int64_t event_id;
    struct kiln_gate_report report;
    const char *report_json; /* the report as stored */
};

/*
 * Promotes `version` into environment `env`: evaluates the environment's gates, then, in one
 * write transaction, moves the alias only if it still points at what the gates were judged
 * against (`expected`: -1 means "what the gates saw", 0 means "empty", N means version N)
 * and records the move. Returns KILN_OK when moved; KILN_ECHECK when a gate failed (nothing
 * moved; the refusal is recorded and *out->report says why); KILN_ECONFLICT when another
 * change moved the environment meanwhile; KILN_EINVAL for an unknown environment, a deleted
 * or absent version; KILN_ENOENT for an unknown model.
 */
int kiln_promote(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                 int64_t version, const char *env, const char *reason, const char *user,
                 int64_t expected, struct kiln_promotion *out /* OUT */, struct kiln_err *err);

/*
 * Moves environment `env` back one step (to the version it held before the promotion that
 * installed the current one) or to `to_version` when > 0, without gates, and records it.
 * `expected` as for kiln_promote. KILN_EINVAL when there is nothing to roll back to.
 */
int kiln_rollback(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                  const char *env, int64_t to_version, const char *reason, const char *user,
                  int64_t expected, struct kiln_promotion *out /* OUT */, struct kiln_err *err);

struct kiln_alias_move {
    int64_t id;
    int64_t time;
    const char *user_id;
    const char *alias;
    const char *action;   /* "promote", "rollback", "set", "delete", "version_deleted", "refused" */
    int64_t from_version; /* 0 when none */
    int64_t to_version;   /* 0 when none (a delete) */
    const char *reason;
    const char *report_json; /* NULL when the move had no gate report */
};

/* History of a model's alias moves, newest first; alias NULL for all. limit 0: 1000. */
int kiln_history(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                 const char *alias, int64_t limit, struct kiln_alias_move **out /* OUT */,
                 size_t *n /* OUT */, struct kiln_err *err);

/* ---- lineage ---------------------------------------------------------------------------- */

struct kiln_lineage_metric {
    const char *key;
    double value;
    int64_t step;
    int64_t timestamp;
};

struct kiln_lineage_dataset {
    const char *name;
    const char *digest;
    const char *source_type;
    const char *source;
    const char *context; /* mlflow.data.context input tag ("training", "eval"), NULL if unset */
};

struct kiln_lineage_run {
    int found;
    const char *run_id;
    const char *run_name;
    int64_t experiment_id;
    const char *user_id;
    const char *status;
    int64_t start_time;
    int64_t end_time; /* -1 while unset */
    const char *artifact_uri;
    const char *lifecycle_stage;
    struct kiln_kv *params;
    size_t nparams;
    struct kiln_kv *tags;
    size_t ntags;
    struct kiln_lineage_metric *metrics; /* latest value per key */
    size_t nmetrics;
    struct kiln_lineage_dataset *datasets;
    size_t ndatasets;
};

struct kiln_lineage {
    struct kiln_resolved_model resolved;
    struct kiln_model_version *version;
    const char *logged_model_name; /* when the version comes from a logged model */
    const char *logged_model_uri;
    struct kiln_lineage_run run;    /* the run that produced the version */
    struct kiln_lineage_run parent; /* its parent run (tag mlflow.parentRunId), if any */
    struct kiln_evaluation *evaluations;
    size_t nevaluations;
};

/* Everything that produced the version a models:/ URI names, in one read transaction. */
int kiln_lineage_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *uri,
                     struct kiln_lineage *out /* OUT */, struct kiln_err *err);

/* ---- events and webhooks ---------------------------------------------------------------- */

/* Event types. */
#define KILN_EV_MODEL_CREATED "registered_model.created"
#define KILN_EV_MODEL_RENAMED "registered_model.renamed"
#define KILN_EV_MODEL_DELETED "registered_model.deleted"
#define KILN_EV_VERSION_CREATED "model_version.created"
#define KILN_EV_VERSION_DELETED "model_version.deleted"
#define KILN_EV_STAGE_CHANGED "model_version.stage_changed"
#define KILN_EV_ALIAS_MOVED "alias.moved"
#define KILN_EV_ALIAS_DELETED "alias.deleted"
#define KILN_EV_ROLLBACK "alias.rolled_back"
#define KILN_EV_PROMOTION_REFUSED "promotion.refused"
#define KILN_EV_EVALUATION_CREATED "evaluation.created"
#define KILN_EV_POLICY_UPDATED "policy.updated"
/* Deployment controller decisions and alerts (src/deploy), emitted with kiln_registry_emit. */
#define KILN_EV_DEPLOY_STARTED "deployment.started"
#define KILN_EV_DEPLOY_STEP "deployment.step_advanced"
#define KILN_EV_DEPLOY_ROLLED_BACK "deployment.rolled_back"
#define KILN_EV_DEPLOY_PROMOTED "deployment.promoted"
#define KILN_EV_DEPLOY_ENDED "deployment.ended"
#define KILN_EV_ALERT_FIRED "alert.fired"
#define KILN_EV_ALERT_RESOLVED "alert.resolved"

struct kiln_registry_event {
    int64_t id;
    int64_t time;
    const char *type;
    const char *model; /* NULL when not about one model */
    int64_t version;   /* 0 when none */
    const char *alias; /* NULL when none */
    const char *user_id;
    const char *payload; /* JSON object text */
};

/*
 * Events with id > after, oldest first, at most `limit` (0: 100, at most 1000). `types` (NULL
 * for all) is a comma-separated list of types; `model` (NULL for all) restricts to one model.
 * OUT: *last_id is the id of the newest event in the log (for "nothing new" answers).
 */
int kiln_registry_events(struct kiln_registry *reg, struct kiln_arena *arena, int64_t after,
                         int64_t limit, const char *types, const char *model,
                         struct kiln_registry_event **out /* OUT */, size_t *n /* OUT */,
                         int64_t *last_id /* OUT */, struct kiln_err *err);
/*
 * Writes an event as {"id", "type", "time", "model", "version", "alias", "user", "data"} (the
 * event feed's and the webhooks' form; versions are strings, absent fields null).
 */
void kiln_registry_event_write(struct kiln_jsonw *w, const struct kiln_registry_event *e);
/* The newest event id known to this process. */
int64_t kiln_registry_last_event_id(struct kiln_registry *reg);

/*
 * Appends an event of a type listed above that no registry call emits itself (the
 * deployment.* and alert.* types) to the durable log, in its own transaction, and queues it for
 * every webhook that wants it. `payload` is a JSON object text (NULL: {}); model, alias and
 * user may be NULL, version 0 means none. KILN_EINVAL for a type the registry emits itself or
 * does not know, or a payload that is not a JSON object. OUT: *event_id (may be NULL).
 */
int kiln_registry_emit(struct kiln_registry *reg, const char *type, const char *model,
                       int64_t version, const char *alias, const char *user, const char *payload,
                       int64_t *event_id /* OUT */, struct kiln_err *err);

/*
 * Watches for an event newer than `after`: wake(arg) runs exactly once, on another thread,
 * when such an event is committed, when `deadline_ms` (a kiln_mono_ns clock in milliseconds)
 * passes, or when the registry stops. Returns KILN_OK when the watch was registered;
 * KILN_WATCH_READY (and never calls wake) when an event newer than `after` exists already, the
 * deadline has passed or the registry is stopping; KILN_ENOMEM (wake never runs).
 */
#define KILN_WATCH_READY 1
int kiln_registry_watch(struct kiln_registry *reg, int64_t after, int64_t deadline_ms,
                        void (*wake)(void *arg), void *arg);
/* 1 once kiln_registry_stop has begun. */
int kiln_registry_stopping(struct kiln_registry *reg);
/* Blocks until an event newer than `after` exists, timeout_ms passes or the registry stops.
 * Returns the newest event id. */
int64_t kiln_registry_wait(struct kiln_registry *reg, int64_t after, int64_t timeout_ms);

struct kiln_webhook {
    int64_t id;
    const char *url;
    const char *events; /* "*" or a comma-separated list of event types */
    const char *description;
    int active;
    int64_t creation_timestamp;
    int64_t pending, delivered, failed; /* delivery counts */
};

/* Registers a webhook (http:// or https:// URL). OUT: *id. */
int kiln_webhook_create(struct kiln_registry *reg, const char *url, const char *events,
                        const char *description, int64_t *id /* OUT */, struct kiln_err *err);
int kiln_webhook_list(struct kiln_registry *reg, struct kiln_arena *arena,
                      struct kiln_webhook **out /* OUT */, size_t *n /* OUT */,
                      struct kiln_err *err);
/* Deletes a webhook and its pending deliveries. KILN_ENOENT. */
int kiln_webhook_delete(struct kiln_registry *reg, int64_t id, struct kiln_err *err);

struct kiln_webhook_delivery {
    int64_t webhook_id;
    int64_t event_id;
    const char *state; /* "pending", "delivered", "failed" */
    int64_t attempts;
    int64_t next_attempt_time;
    int64_t last_status; /* HTTP status of the last attempt, 0 for none */
    const char *last_error;
};

/* Deliveries of one webhook, newest event first, at most `limit` (0: 100). */
int kiln_webhook_deliveries(struct kiln_registry *reg, struct kiln_arena *arena, int64_t id,
                            int64_t limit, struct kiln_webhook_delivery **out /* OUT */,
                            size_t *n /* OUT */, struct kiln_err *err);

/* ---- JSON ------------------------------------------------------------------------------- */

/* Writes a gate report as a JSON object (the stored and returned form). */
void kiln_gate_report_write(struct kiln_jsonw *w, const struct kiln_gate_report *r);
/* Writes an evaluation as a JSON object (native API and event payloads). */
void kiln_eval_write(struct kiln_jsonw *w, const struct kiln_evaluation *e);
/*
 * Reads an evaluation from its JSON form (the native API body): dataset_name, dataset_digest,
 * metrics {key: number}, per_class [{label, precision, recall, support?}], pr_curve
 * [{threshold, precision, recall}], threshold?, run_id?. Strings borrow from `obj`.
 */
int kiln_eval_read(const json_t *obj, struct kiln_arena *arena,
                   struct kiln_evaluation *out /* OUT */, struct kiln_err *err);

#endif

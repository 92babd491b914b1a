/*
 * tracking.h - experiment tracking over the store: experiments, runs, metrics, params, tags,
 * datasets and inputs, logged models; MLflow's semantics (shared/reference/mlflow-api.md §6).
 *
 * Every function runs its own store transaction (writes are atomic: all or nothing) and
 * validates its input with MLflow's rules and messages, returning KILN_EINVAL (bad value),
 * KILN_ENOENT (unknown id) or KILN_EEXIST (duplicate name) with details in err. Results are
 * allocated from the caller's arena and live as long as it. Thread-safe: callers on any
 * thread may share one store.
 */
#ifndef KILN_TRACKING_TRACKING_H
#define KILN_TRACKING_TRACKING_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct kiln_store;
struct kiln_tx;
struct kiln_sf_schema;

/*
 * Search schemas (search_filter.h) of the entities tracking owns: what their filters and
 * order_by may name and how it maps to SQL. Static, read-only.
 */
extern const struct kiln_sf_schema kiln_sf_schema_runs;
extern const struct kiln_sf_schema kiln_sf_schema_experiments;

#define KILN_DEFAULT_EXPERIMENT_ID 0
#define KILN_DEFAULT_EXPERIMENT_NAME "Default"

struct kiln_kv {
    const char *key;
    const char *value;
};

struct kiln_experiment {
    int64_t id;
    const char *name;
    const char *artifact_location;
    const char *lifecycle_stage; /* "active" or "deleted" */
    int64_t creation_time;
    int64_t last_update_time;
    struct kiln_kv *tags;
    size_t ntags;
};

/* Ensures experiment 0 "Default" exists, with artifact location <root>/0. */
int kiln_tracking_init(struct kiln_store *store, const char *default_artifact_root,
                       struct kiln_err *err);

/*
 * Creates an experiment. artifact_location NULL means <default_artifact_root>/<id>.
 * KILN_EEXIST when the name is taken (by an active or a deleted experiment).
 */
int kiln_experiment_create(struct kiln_store *store, const char *name,
                           const char *artifact_location, const struct kiln_kv *tags, size_t ntags,
                           const char *default_artifact_root, int64_t *id /* OUT */,
                           struct kiln_err *err);
int kiln_experiment_get(struct kiln_store *store, struct kiln_arena *arena, int64_t id,
                        struct kiln_experiment **out /* OUT */, struct kiln_err *err);
/* Finds active and deleted experiments alike (MLflow does). */
int kiln_experiment_get_by_name(struct kiln_store *store, struct kiln_arena *arena,
                                const char *name, struct kiln_experiment **out /* OUT */,
                                struct kiln_err *err);
/* Parses an experiment id string ("0", "12"); KILN_EINVAL naming `field` otherwise. */
int kiln_experiment_parse_id(const char *s, const char *field, int64_t *id /* OUT */,
                             struct kiln_err *err);

/* MLflow's name rule for experiments: non-empty, at most 500 characters. */
int kiln_validate_experiment_name(const char *name, struct kiln_err *err);

/* ---- views, pages, limits ------------------------------------------------------------- */

/* MLflow's ViewType (lifecycle filter of searches). */
enum kiln_view_type {
    KILN_VIEW_ACTIVE_ONLY = 1,
    KILN_VIEW_DELETED_ONLY = 2,
    KILN_VIEW_ALL = 3,
};

/* "ACTIVE_ONLY"/"DELETED_ONLY"/"ALL" (any case) or "1"/"2"/"3". KILN_EINVAL naming field. */
int kiln_view_type_parse(const char *s, const char *field, enum kiln_view_type *out /* OUT */,
                         struct kiln_err *err);

#define KILN_SEARCH_MAX_RESULTS_DEFAULT 1000
#define KILN_SEARCH_MAX_RESULTS_MAX 50000
#define KILN_METRIC_HISTORY_BULK_MAX_RUNS 100
#define KILN_METRIC_HISTORY_BULK_MAX_RESULTS 2500

/* Limits of mlflow-api.md §7. Lengths count characters (UTF-8 code points), as MLflow does. */
#define KILN_KEY_MAX 250
#define KILN_PARAM_VALUE_MAX 6000
#define KILN_RUN_TAG_VALUE_MAX 8000
#define KILN_EXPERIMENT_TAG_VALUE_MAX 5000
#define KILN_BATCH_MAX_METRICS 1000
#define KILN_BATCH_MAX_PARAMS 100
#define KILN_BATCH_MAX_TAGS 100
#define KILN_BATCH_MAX_TOTAL 1000
#define KILN_BATCH_MAX_BYTES ((size_t)1 << 20)
#define KILN_DATASET_NAME_MAX 500
#define KILN_DATASET_DIGEST_MAX 36
#define KILN_DATASET_SOURCE_MAX 65535
#define KILN_DATASET_SCHEMA_MAX ((size_t)1 << 20)
#define KILN_DATASET_PROFILE_MAX ((size_t)16 << 20)
#define KILN_INPUT_TAG_KEY_MAX 255
#define KILN_INPUT_TAG_VALUE_MAX 500

/* ---- experiments (continued) ----------------------------------------------------------- */

/*
 * Renames an experiment. KILN_ENOENT unknown id, KILN_ESTATE when it is deleted, KILN_EEXIST
 * when the name is taken, KILN_EINVAL for a bad name.
 */
int kiln_experiment_rename(struct kiln_store *store, int64_t id, const char *new_name,
                           struct kiln_err *err);
/*
 * Soft-deletes an experiment and marks its active runs deleted (MLflow's cascade). The Default
 * experiment cannot be deleted (KILN_EINVAL). KILN_ENOENT unknown or already deleted id.
 */
int kiln_experiment_delete(struct kiln_store *store, int64_t id, struct kiln_err *err);
/*
 * Restores a deleted experiment and the runs its deletion marked deleted (runs deleted on
 * their own earlier stay deleted). KILN_ENOENT unknown id or not deleted (as MLflow).
 */
int kiln_experiment_restore(struct kiln_store *store, int64_t id, struct kiln_err *err);
/* Upserts a tag (key rule of §7, value at most 5000 characters). Experiment must be active. */
int kiln_experiment_set_tag(struct kiln_store *store, int64_t id, const char *key,
                            const char *value, struct kiln_err *err);
/* Deletes a tag; KILN_ENOENT when the experiment or the tag does not exist. */
int kiln_experiment_delete_tag(struct kiln_store *store, int64_t id, const char *key,
                               struct kiln_err *err);

struct kiln_experiment_query {
    const char *filter;          /* NULL or "" for all */
    const char *const *order_by; /* entries like "name ASC" */
    size_t norder_by;
    enum kiln_view_type view_type; /* 0 means ACTIVE_ONLY */
    int64_t max_results;           /* 1..50000; 0 means the default 1000 */
    const char *page_token;        /* NULL or "" for the first page */
};

struct kiln_experiment_page {
    struct kiln_experiment *items;
    size_t n;
    const char *next_page_token; /* NULL on the last page */
};

/* Searches experiments (mlflow-api.md §8). Results from the arena. KILN_EINVAL bad input. */
int kiln_experiment_search(struct kiln_store *store, struct kiln_arena *arena,
                           const struct kiln_experiment_query *q,
                           struct kiln_experiment_page *out /* OUT */, struct kiln_err *err);

/* ---- runs -------------------------------------------------------------------------------- */

#define KILN_RUN_ID_LEN 32
#define KILN_TAG_RUN_NAME "mlflow.runName"
#define KILN_TAG_LOGGED_MODELS "mlflow.log-model.history"
#define KILN_TAG_DATA_CONTEXT "mlflow.data.context"

struct kiln_metric {
    const char *key;
    double value; /* NaN and infinities are kept */
    int64_t timestamp;
    int64_t step;
    const char *model_id; /* optional (NULL) */
    const char *dataset_name;
    const char *dataset_digest;
    const char *run_id; /* set in history results */
};

struct kiln_dataset {
    const char *name;
    const char *digest;
    const char *source_type;
    const char *source;
    const char *schema;  /* optional */
    const char *profile; /* optional */
};

struct kiln_dataset_input {
    struct kiln_kv *tags;
    size_t ntags;
    struct kiln_dataset dataset;
};

struct kiln_model_output {
    const char *model_id;
    int64_t step;
};

struct kiln_run_info {
    const char *run_id;
    const char *run_name;
    int64_t experiment_id;
    const char *user_id;
    const char *status; /* "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED" */
    int64_t start_time;
    int has_start_time;
    int64_t end_time;
    int has_end_time;
    const char *artifact_uri;
    const char *lifecycle_stage;
};

struct kiln_run {
    struct kiln_run_info info;
    struct kiln_metric *metrics; /* latest value per key, by key */
    size_t nmetrics;
    struct kiln_kv *params; /* by key */
    size_t nparams;
    struct kiln_kv *tags; /* by key */
    size_t ntags;
    struct kiln_dataset_input *datasets;
    size_t ndatasets;
    const char **model_inputs; /* logged-model ids */
    size_t nmodel_inputs;
    struct kiln_model_output *model_outputs;
    size_t nmodel_outputs;
};

/* Canonical status name for s ("finished" or "3" -> "FINISHED"), or NULL when not a status. */
const char *kiln_run_status_canonical(const char *s);

struct kiln_run_create_req {
    int64_t experiment_id;
    const char *user_id;  /* NULL: "" */
    const char *run_name; /* NULL: from the mlflow.runName tag, else a random name */
    int64_t start_time;
    int has_start_time; /* else now */
    const struct kiln_kv *tags;
    size_t ntags;
};

/*
 * Creates a RUNNING run in an active experiment with artifact_uri
 * <experiment artifact_location>/<run_id>/artifacts and the mlflow.runName tag. KILN_ENOENT
 * unknown experiment; KILN_EINVAL deleted experiment, bad tag, or run_name differing from the
 * mlflow.runName tag. OUT: *out from the arena.
 */
int kiln_run_create(struct kiln_store *store, struct kiln_arena *arena,
                    const struct kiln_run_create_req *req, struct kiln_run **out /* OUT */,
                    struct kiln_err *err);
/* The run with its data, inputs and outputs (deleted runs too). KILN_ENOENT. */
int kiln_run_get(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                 struct kiln_run **out /* OUT */, struct kiln_err *err);

struct kiln_run_update_req {
    const char *status; /* NULL: unchanged; else a canonical status name */
    int64_t end_time;
    int has_end_time;
    const char *run_name; /* NULL or "": unchanged; else also sets mlflow.runName */
};

/* Updates an active run; OUT: the new info. KILN_ENOENT, KILN_EINVAL (deleted run). */
int kiln_run_update(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                    const struct kiln_run_update_req *req, struct kiln_run_info **out /* OUT */,
                    struct kiln_err *err);
/* Soft delete / undelete. KILN_ENOENT. */
int kiln_run_delete(struct kiln_store *store, const char *run_id, struct kiln_err *err);
int kiln_run_restore(struct kiln_store *store, const char *run_id, struct kiln_err *err);

/*
 * Logging (all: the run must exist (KILN_ENOENT) and be active (KILN_EINVAL); keys follow
 * §7; long param and tag values are truncated to 6000 / 8000 characters as MLflow does).
 */
int kiln_run_log_metric(struct kiln_store *store, const char *run_id, const struct kiln_metric *m,
                        struct kiln_err *err);
/* KILN_EINVAL when the param exists with a different value. */
int kiln_run_log_param(struct kiln_store *store, const char *run_id, const char *key,
                       const char *value, struct kiln_err *err);
/* Upserts; mlflow.runName also renames the run. */
int kiln_run_set_tag(struct kiln_store *store, const char *run_id, const char *key,
                     const char *value, struct kiln_err *err);
/* KILN_ENOENT when the tag does not exist. */
int kiln_run_delete_tag(struct kiln_store *store, const char *run_id, const char *key,
                        struct kiln_err *err);
/*
 * Validates every entry first (limits: 1000 metrics, 100 params, 100 tags, 1000 in all;
 * unique param keys), then writes params, metrics and tags in one transaction: all or nothing.
 */
int kiln_run_log_batch(struct kiln_store *store, const char *run_id,
                       const struct kiln_metric *metrics, size_t nmetrics,
                       const struct kiln_kv *params, size_t nparams, const struct kiln_kv *tags,
                       size_t ntags, struct kiln_err *err);
/*
 * Logged metrics are staged and applied to the history and latest values in slices
 * (metric_stage.c). kiln_metrics_begin_read begins a read transaction that sees every metric
 * acknowledged before the call (it applies whatever is staged first): every reader of the
 * metrics or latest_metrics tables begins with it. kiln_metrics_settle only applies.
 */
int kiln_metrics_begin_read(struct kiln_store *store, struct kiln_tx **out /* OUT */,
                            struct kiln_err *err);
int kiln_metrics_settle(struct kiln_store *store, struct kiln_err *err);
/*
 * Records dataset inputs (datasets are deduplicated per experiment by name and digest; an
 * input already linked to the run is kept with its tags) and logged-model inputs.
 */
int kiln_run_log_inputs(struct kiln_store *store, const char *run_id,
                        const struct kiln_dataset_input *datasets, size_t ndatasets,
                        const char *const *model_ids, size_t nmodels, struct kiln_err *err);
/* Records logged models as outputs of the run (MLflow 3). */
int kiln_run_log_outputs(struct kiln_store *store, const char *run_id,
                         const struct kiln_model_output *models, size_t n, struct kiln_err *err);
/*
 * MLflow 2 log-model: model_json must be a JSON object with artifact_path, flavors,
 * utc_time_created and run_id; it is appended to the run's mlflow.log-model.history tag (oldest
 * entries are dropped when the tag would exceed 8000 characters).
 */
int kiln_run_log_model(struct kiln_store *store, const char *run_id, const char *model_json,
                       struct kiln_err *err);

struct kiln_metric_page {
    struct kiln_metric *items;
    size_t n;
    const char *next_page_token; /* NULL on the last page */
};

/*
 * History of one metric ordered by (timestamp, step, value); max_results <= 0 means all.
 * An unknown run gives an empty page (as MLflow's SQL store). KILN_EINVAL bad page token.
 */
int kiln_metric_history(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                        const char *key, int64_t max_results, const char *page_token,
                        struct kiln_metric_page *out /* OUT */, struct kiln_err *err);

/*
 * MLflow's get-history-bulk-interval: for up to 100 runs, the metric's values at up to
 * max_results (1..2500) steps sampled evenly from the steps logged in [start_step, end_step]
 * (both given or neither), always including each run's first and last step in range.
 */
int kiln_metric_history_bulk_interval(struct kiln_store *store, struct kiln_arena *arena,
                                      const char *const *run_ids, size_t nruns, const char *key,
                                      int has_range, int64_t start_step, int64_t end_step,
                                      int64_t max_results, struct kiln_metric_page *out /* OUT */,
                                      struct kiln_err *err);

struct kiln_run_query {
    const int64_t *experiment_ids;
    size_t nexperiments;
    const char *filter;
    enum kiln_view_type view_type; /* 0 means ACTIVE_ONLY */
    int64_t max_results;           /* 1..50000; 0 means the default 1000 */
    const char *const *order_by;
    size_t norder_by;
    const char *page_token;
};

struct kiln_run_page {
    struct kiln_run *items;
    size_t n;
    const char *next_page_token; /* NULL on the last page */
};

/* Searches runs with the full filter grammar and order_by (mlflow-api.md §8). */
int kiln_run_search(struct kiln_store *store, struct kiln_arena *arena,
                    const struct kiln_run_query *q, struct kiln_run_page *out /* OUT */,
                    struct kiln_err *err);

/* ---- validation (shared with other subsystems that store MLflow-style keys) -------------- */

/*
 * MLflow's key rule: characters [/\w.\- :], at most 250 characters, and already a normalised
 * relative path (no leading '/', no "..", no empty or "." segment, no trailing '/').
 * `what` names the entity ("metric", "param", "tag"); `path` the field ("key",
 * "metrics[3].key"). KILN_EINVAL with MLflow's message.
 */
int kiln_validate_key(const char *what, const char *path, const char *key, struct kiln_err *err);
/* Number of UTF-8 characters in s (invalid bytes count one each). */
size_t kiln_utf8_chars(const char *s, size_t len);
/* Byte length of the first max_chars characters of s (all of s when shorter). */
size_t kiln_utf8_prefix(const char *s, size_t len, size_t max_chars);

/* Opaque offset page tokens (base64 of {"offset": N}, as MLflow). */
int kiln_page_token_decode(const char *token, int64_t *offset /* OUT */, struct kiln_err *err);
/* The token for offset, from the arena; NULL on allocation failure. */
const char *kiln_page_token_encode(struct kiln_arena *arena, int64_t offset);

#endif

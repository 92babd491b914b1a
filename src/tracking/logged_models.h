/*
 * logged_models.h - MLflow 3 logged models (mlflow-api.md §4.4, §11): a model with its own id
 * ("m-" + 32 hex), artifact folder (<experiment artifact_location>/models/<id>/artifacts),
 * status, params, tags and metrics, created by `mlflow.<flavor>.log_model` before its files
 * are uploaded and finalized after.
 *
 * Lifecycle:  create -> LOGGED_MODEL_PENDING --finalize--> LOGGED_MODEL_READY
 *                                            \-finalize--> LOGGED_MODEL_UPLOAD_FAILED
 *             delete (any state): soft delete; the model disappears from get and search.
 *
 * Every function runs its own store transaction and validates input with MLflow's rules,
 * returning KILN_EINVAL (bad value), KILN_ENOENT (unknown or deleted model or experiment).
 * Results come from the caller's arena. Thread-safe: callers on any thread may share a store.
 * Kept apart from tracking.h so the runs code and this code can change independently.
 */
#ifndef KILN_TRACKING_LOGGED_MODELS_H
#define KILN_TRACKING_LOGGED_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "tracking/tracking.h"

struct kiln_store;
struct kiln_sf_schema;

enum kiln_logged_model_status {
    KILN_LOGGED_MODEL_STATUS_UNSPECIFIED = 0,
    KILN_LOGGED_MODEL_PENDING = 1,
    KILN_LOGGED_MODEL_READY = 2,
    KILN_LOGGED_MODEL_UPLOAD_FAILED = 3,
};

/* A metric recorded against a logged model (by log-metric with a model_id). */
struct kiln_logged_model_metric {
    const char *key;
    double value; /* NaN when is_nan */
    int64_t timestamp;
    int64_t step;
    const char *run_id;         /* NULL when none */
    const char *dataset_name;   /* NULL when none */
    const char *dataset_digest; /* NULL when none */
};

struct kiln_logged_model {
    const char *model_id;
    int64_t experiment_id;
    const char *name;
    const char *artifact_uri;
    int64_t creation_timestamp_ms;
    int64_t last_updated_timestamp_ms;
    int status;                 /* enum kiln_logged_model_status */
    const char *model_type;     /* NULL when unset */
    const char *source_run_id;  /* NULL when unset */
    const char *status_message; /* NULL when unset */
    struct kiln_kv *tags;
    size_t ntags;
    struct kiln_kv *params;
    size_t nparams;
    struct kiln_logged_model_metric *metrics;
    size_t nmetrics;
};

struct kiln_logged_model_create {
    int64_t experiment_id;
    const char *name;          /* NULL or "": a random "adjective-animal-123" name */
    const char *model_type;    /* optional */
    const char *source_run_id; /* optional */
    const struct kiln_kv *params;
    size_t nparams;
    const struct kiln_kv *tags;
    size_t ntags;
};

/*
 * Creates a PENDING logged model in an active experiment. KILN_ENOENT for an unknown
 * experiment, KILN_EINVAL for a deleted one, a bad name or bad params/tags. OUT: *out.
 */
int kiln_logged_model_create(struct kiln_store *store, struct kiln_arena *arena,
                             const struct kiln_logged_model_create *spec,
                             struct kiln_logged_model **out /* OUT */, struct kiln_err *err);
/* The model with its tags, params and metrics. KILN_ENOENT when unknown or deleted. */
int kiln_logged_model_get(struct kiln_store *store, struct kiln_arena *arena, const char *model_id,
                          struct kiln_logged_model **out /* OUT */, struct kiln_err *err);
/*
 * Sets the final status (KILN_LOGGED_MODEL_READY or KILN_LOGGED_MODEL_UPLOAD_FAILED; anything
 * else is KILN_EINVAL) and returns the updated model in *out (may be NULL).
 */
int kiln_logged_model_finalize(struct kiln_store *store, struct kiln_arena *arena,
                               const char *model_id, int status,
                               struct kiln_logged_model **out /* OUT */, struct kiln_err *err);
/* Soft-deletes a model. KILN_ENOENT when unknown or already deleted. */
int kiln_logged_model_delete(struct kiln_store *store, const char *model_id, struct kiln_err *err);
/* Sets tags (insert or replace). */
int kiln_logged_model_set_tags(struct kiln_store *store, const char *model_id,
                               const struct kiln_kv *tags, size_t n, struct kiln_err *err);
/* Deletes a tag. KILN_ENOENT when the model or the tag does not exist. */
int kiln_logged_model_delete_tag(struct kiln_store *store, const char *model_id, const char *key,
                                 struct kiln_err *err);
/*
 * Logs params. Params are write-once: the same value again is a no-op, another value is
 * KILN_EINVAL and nothing of the call is written.
 */
int kiln_logged_model_log_params(struct kiln_store *store, const char *model_id,
                                 const struct kiln_kv *params, size_t n, struct kiln_err *err);

/* ---- search (logged_model_search.c) ------------------------------------------------------ */

/* What logged-model filters may name (search_filter.h): static, read-only. */
extern const struct kiln_sf_schema kiln_sf_schema_logged_models;

struct kiln_logged_model_dataset {
    const char *name;   /* required */
    const char *digest; /* optional */
};

/* One structured order_by entry: field_name is "metrics.<key>" or an attribute name. */
struct kiln_logged_model_order {
    const char *field;
    int ascending;
    const char *dataset_name;   /* metrics only, optional */
    const char *dataset_digest; /* metrics only, optional */
};

struct kiln_logged_model_search {
    const int64_t *experiment_ids; /* at least one */
    size_t nexperiments;
    const char *filter;                               /* MLflow filter text; NULL or "" for none */
    const struct kiln_logged_model_dataset *datasets; /* restrict metric filters */
    size_t ndatasets;
    const struct kiln_logged_model_order *order;
    size_t norder;
    int64_t max_results;    /* 0: 50; at most 50000 */
    const char *page_token; /* from a previous page of the same search, or NULL */
};

/*
 * Searches active logged models (see logged_model_search.c for the semantics). OUT: *models
 * (n entries) and *next_token (NULL on the last page), all from `arena`. KILN_EINVAL for a bad
 * filter, order_by, dataset, max_results or page token, with MLflow's wording.
 */
int kiln_logged_model_search(struct kiln_store *store, struct kiln_arena *arena,
                             const struct kiln_logged_model_search *search,
                             struct kiln_logged_model ***models /* OUT */, size_t *n /* OUT */,
                             const char **next_token /* OUT */, struct kiln_err *err);

/* "LOGGED_MODEL_READY" etc. for a status (the proto enum names). */
const char *kiln_logged_model_status_name(int status);
/*
 * Parses a status given as a proto enum name ("LOGGED_MODEL_READY"), a short name ("READY",
 * any case) or its number ("2"). KILN_EINVAL otherwise.
 */
int kiln_logged_model_status_parse(const char *s, int *status /* OUT */);
/* MLflow's name rule: non-empty and none of / : . % " ' (NULL is allowed: a random name). */
int kiln_logged_model_validate_name(const char *name, struct kiln_err *err);

#endif

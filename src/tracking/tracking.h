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

#endif

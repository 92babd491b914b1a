/*
 * registry_int.h - internals shared by the files of src/registry/ only.
 *
 * struct kiln_registry: `store` and `cfg` are read-only after kiln_registry_new. `lock`
 * guards last_event_id, stopping, the watch list and `kick`; `cond` is broadcast on every
 * publish, on stop and when a watch with an earlier deadline arrives. The timer thread fires
 * watches whose deadline passed; the delivery thread posts webhook deliveries.
 *
 * Statement helpers: reg_prepare binds parameters from a type string, one letter per `?`:
 *   'i' int64_t, 't' const char * (NULL binds SQL NULL), 'd' double.
 */
#ifndef KILN_REGISTRY_INT_H
#define KILN_REGISTRY_INT_H

#include <pthread.h>

#include "core/buf.h"
#include "core/json.h"
#include "registry/registry.h"
#include "store/store.h"

struct kiln_watch {
    struct kiln_watch *next;
    int64_t after;
    int64_t deadline_ms;
    void (*wake)(void *arg);
    void *arg;
};

struct kiln_registry {
    struct kiln_store *store;
    struct kiln_registry_config cfg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t last_event_id;
    int stopping;
    int kick; /* a publish since the delivery thread last looked */
    struct kiln_watch *watches;
    pthread_t timer;
    pthread_t deliverer;
    int started;
};

/* Limits (mlflow-api.md §7). */
#define REG_TAG_KEY_MAX 250
#define REG_TAG_VALUE_MAX 100000
#define REG_ALIAS_MAX 255
#define REG_NAME_MAX 1000
#define REG_DESCRIPTION_MAX 100000
#define REG_SOURCE_MAX 65535
#define REG_REASON_MAX 2000
#define REG_DATASET_NAME_MAX 500
#define REG_DATASET_DIGEST_MAX 200

#define REG_PROMPT_TAG "mlflow.prompt.is_prompt"

/* ---- statements ------------------------------------------------------------------------- */

int reg_prepare(struct kiln_tx *tx, struct kiln_stmt **st, struct kiln_err *err, const char *sql,
                const char *types, ...);
/* Prepare, bind, step once, finish. KILN_OK (a row or not) or the error. */
int reg_exec(struct kiln_tx *tx, struct kiln_err *err, const char *sql, const char *types, ...);
/*
 * Runs a query for one int64 in column 0. KILN_OK with *found = 1 and *out set when there is a
 * row (SQL NULL reads as 0), *found = 0 otherwise.
 */
int reg_query_int64(struct kiln_tx *tx, struct kiln_err *err, int64_t *out, int *found,
                    const char *sql, const char *types, ...);
/* arena copy of column `col` of the current row; NULL for SQL NULL; *oom set on failure. */
const char *reg_col_text(struct kiln_stmt *st, int col, struct kiln_arena *arena, int *oom);
/* arena copy of s (NULL stays NULL); *oom set on failure. */
const char *reg_dup(struct kiln_arena *arena, const char *s, int *oom);
int reg_oom(struct kiln_err *err);

/* ---- lookups ---------------------------------------------------------------------------- */

/* The model's id. KILN_ENOENT "Registered Model with name=X not found". */
int reg_model_id(struct kiln_tx *tx, const char *name, int64_t *rm_id /* OUT */,
                 struct kiln_err *err);
/* Checks that a live version exists. KILN_ENOENT "Model Version (name=X, version=N) not found". */
int reg_version_exists(struct kiln_tx *tx, int64_t rm_id, const char *name, int64_t version,
                       struct kiln_err *err);
/* The version an alias points at, 0 when unset. */
int reg_alias_version(struct kiln_tx *tx, int64_t rm_id, const char *alias,
                      int64_t *version /* OUT */, struct kiln_err *err);
/* Updates the model's last_updated_time. */
int reg_touch(struct kiln_tx *tx, int64_t rm_id, int64_t now, struct kiln_err *err);

/* Loads one live version with tags and aliases. KILN_ENOENT as reg_version_exists. */
int reg_load_version(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id, const char *name,
                     int64_t version, struct kiln_model_version **out, struct kiln_err *err);
/* Loads a registered model with tags, aliases and latest versions per stage. */
int reg_load_model(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                   struct kiln_registered_model **out, struct kiln_err *err);
/*
 * Loads many live versions (rows, tags, and aliases when asked) or models (rows, tags,
 * aliases, latest versions) with a few set-based queries; out[i] matches the i-th key.
 */
int reg_load_versions_batch(struct kiln_tx *tx, struct kiln_arena *arena, const int64_t *rm_ids,
                            const int64_t *versions, size_t n, int with_aliases,
                            struct kiln_model_version *out, struct kiln_err *err);
int reg_load_models_batch(struct kiln_tx *tx, struct kiln_arena *arena, const int64_t *ids,
                          size_t n, struct kiln_registered_model *out, struct kiln_err *err);
/*
 * Fills v from a row of REG_VERSION_COLUMNS starting at column `col0` (tags and aliases are
 * loaded separately).
 */
#define REG_VERSION_COLUMNS                                                                 \
    "mv.version, mv.creation_time, mv.last_updated_time, mv.user_id, mv.current_stage, "    \
    "mv.description, mv.source, mv.storage_location, mv.run_id, mv.run_link, mv.model_id, " \
    "mv.status"
int reg_read_version_row(struct kiln_stmt *st, int col0, struct kiln_arena *arena, const char *name,
                         struct kiln_model_version *v, struct kiln_err *err);
int reg_load_version_tags(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                          struct kiln_model_version *v, struct kiln_err *err);
int reg_load_version_aliases(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                             struct kiln_model_version *v, struct kiln_err *err);

/* ---- validation (MLflow rules and messages) --------------------------------------------- */

int reg_validate_name(const char *name, const char *field, struct kiln_err *err);
int reg_validate_tag(const char *key, const char *value, struct kiln_err *err);
int reg_validate_tag_key(const char *key, struct kiln_err *err);
int reg_validate_text(const char *value, const char *field, size_t max, struct kiln_err *err);
/* Environment and alias names share the alias rule. */
int reg_is_alias_char(unsigned char c);

/* ---- history and events ----------------------------------------------------------------- */

int reg_history_append(struct kiln_tx *tx, int64_t rm_id, const char *user, const char *alias,
                       const char *action, int64_t from, int64_t to, const char *reason,
                       const char *report_json, int64_t *move_id /* OUT, may be NULL */,
                       struct kiln_err *err);
/*
 * Appends an event (and a pending delivery for each active webhook that wants it) inside tx.
 * payload is a JSON object text (NULL: "{}"). OUT: *event_id (may be NULL).
 */
int reg_event_append(struct kiln_tx *tx, const char *type, const char *model, int64_t version,
                     const char *alias, const char *user, const char *payload,
                     int64_t *event_id /* OUT */, struct kiln_err *err);
/* Tells watchers and the delivery thread that events up to `event_id` are committed. */
void reg_published(struct kiln_registry *reg, int64_t event_id);
/*
 * Commits tx and, when it holds an event (event_id > 0), publishes it. On failure the
 * transaction is already rolled back.
 */
int reg_commit(struct kiln_registry *reg, struct kiln_tx *tx, int64_t event_id,
               struct kiln_err *err);

/* Builds a small JSON object payload: {"model": name, "version": "N", ...}. */
struct reg_payload {
    struct kiln_buf buf;
    struct kiln_jsonw w;
};
void reg_payload_begin(struct reg_payload *p, const char *model, int64_t version);
/* Ends the object; returns the text (NULL on OOM) owned by p until reg_payload_release. */
const char *reg_payload_end(struct reg_payload *p);
/* Writes key: "N" (versions are strings in JSON, as in MLflow), or null when v == 0. */
void reg_payload_version(struct reg_payload *p, const char *key, int64_t v);
void reg_payload_release(struct reg_payload *p);

/* ---- environments, gates ---------------------------------------------------------------- */

/*
 * The environments of a model (policy's, else the defaults), and its policy (NULL when none).
 */
int reg_model_policy(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                     struct kiln_policy **policy /* OUT */, const char **yaml /* OUT */,
                     struct kiln_err *err);
/* 1 when `alias` is an environment of a model that has a policy (so it is gated). */
int reg_alias_is_governed(struct kiln_tx *tx, int64_t rm_id, const char *alias,
                          int *governed /* OUT */, struct kiln_err *err);
/*
 * Evaluates the gates of `env` for (rm_id, version) in tx; fills report (gates from arena).
 */
int reg_gates_evaluate(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                       const char *name, int64_t version, const struct kiln_policy *policy,
                       const struct kiln_env_policy *env, int64_t current,
                       struct kiln_gate_report *report, struct kiln_err *err);
/* Loads evaluations (WHERE clause pieces as for kiln_eval_list) inside a transaction. */
int reg_eval_load(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id, const char *name,
                  int64_t version, const char *dataset_name, const char *digest,
                  struct kiln_evaluation **out, size_t *n, struct kiln_err *err);

/* ---- runs and logged models (read straight from the tracking tables) -------------------- */

/* A run's artifact URI; KILN_ENOENT "Run 'X' not found". */
int reg_run_artifact_uri(struct kiln_tx *tx, struct kiln_arena *arena, const char *run_id,
                         const char **uri /* OUT */, struct kiln_err *err);
/* A logged model's artifact location and source run; KILN_ENOENT. */
int reg_logged_model(struct kiln_tx *tx, struct kiln_arena *arena, const char *model_id,
                     const char **artifact_uri /* OUT */, const char **source_run_id /* OUT */,
                     const char **name /* OUT, may be NULL */, struct kiln_err *err);
/* Resolution inside an existing transaction (kiln_registry_resolve's body). */
int reg_resolve_tx(struct kiln_tx *tx, struct kiln_arena *arena, const char *uri,
                   struct kiln_resolved_model *out, struct kiln_err *err);

/* Delivery thread body (webhooks.c). */
void *reg_delivery_main(void *arg);

#endif

/*
 * tracking_int.h - helpers shared by the files of src/tracking/ (never included elsewhere).
 *
 * Functions named trk_* run inside a transaction the caller holds; they never begin, commit
 * or roll back. Arena results live as long as the arena.
 */
#ifndef KILN_TRACKING_INT_H
#define KILN_TRACKING_INT_H

#include "core/arena.h"
#include "core/err.h"
#include "store/store.h"
#include "tracking/tracking.h"

/* Columns selected for a run row, in the order trk_read_run_info expects. */
#define TRK_RUN_COLUMNS                                                         \
    "runs.run_uuid, runs.name, runs.experiment_id, runs.user_id, runs.status, " \
    "runs.start_time, runs.end_time, runs.artifact_uri, runs.lifecycle_stage"
#define TRK_RUN_NCOLUMNS 9

/* Fills info from columns col0 .. col0 + 8 of the current row (strings copied to the arena). */
int trk_read_run_info(struct kiln_stmt *st, int col0, struct kiln_arena *arena,
                      struct kiln_run_info *info, struct kiln_err *err);

/* Loads latest metrics, params, tags, dataset and model inputs and outputs of run. */
int trk_load_run_data(struct kiln_tx *tx, struct kiln_arena *arena, struct kiln_run *run,
                      struct kiln_err *err);

/* Reads the run (KILN_ENOENT when absent) and, when with_data, its data. OUT: from arena. */
int trk_read_run(struct kiln_tx *tx, struct kiln_arena *arena, const char *run_id, int with_data,
                 struct kiln_run **out /* OUT */, struct kiln_err *err);

/* Loads the tags of experiment e (by key). */
int trk_load_experiment_tags(struct kiln_tx *tx, struct kiln_arena *arena,
                             struct kiln_experiment *e, struct kiln_err *err);

/*
 * Checks that the run exists (KILN_ENOENT "Run with id=... not found") and, when
 * `need_active`, that it is active (KILN_EINVAL). OUT: its experiment id (may be NULL).
 */
int trk_check_run(struct kiln_tx *tx, const char *run_id, int need_active,
                  int64_t *experiment_id /* OUT */, struct kiln_err *err);

/* Upserts one run tag (value given with its byte length); mlflow.runName renames the run. */
int trk_set_run_tag(struct kiln_tx *tx, const char *run_id, const char *key, const char *value,
                    size_t value_len, struct kiln_err *err);

/*
 * Value length rule of §7: counts characters; over `limit` either truncates (OUT: *bytes is
 * the byte length to keep) or fails with KILN_EINVAL naming `what` and `path`.
 */
int trk_check_value(const char *what, const char *path, const char *value, size_t limit,
                    int truncate, size_t *bytes /* OUT */, struct kiln_err *err);

/*
 * Appends n metrics (none with a model_id) of run_id to the metric stage (metric_stage.c);
 * they reach the history and latest values later, and readers see them through
 * kiln_metrics_begin_read.
 */
int trk_stage_metrics(struct kiln_tx *tx, const char *run_id, const struct kiln_metric *m, size_t n,
                      struct kiln_err *err);
/* Counts `staged` rows just staged; applies the next slice of the stage when they add up. */
int trk_stage_maintain(struct kiln_tx *tx, size_t staged, struct kiln_err *err);

/* Grows an arena array of elem-sized items to hold n + 1 (doubling). NULL on ENOMEM. */
void *trk_grow(struct kiln_arena *arena, void *arr, size_t n, size_t *cap, size_t elem);

struct kiln_sql;

/* The runs schema with correlated-probe templates (search_schemas.c, runs_search.c). */
extern const struct kiln_sf_schema trk_sf_schema_runs_probe;

/* Applies the search default (0 -> 1000) and checks 1..50000. KILN_EINVAL. */
int trk_check_max_results(int64_t *max_results, struct kiln_err *err);

/* Appends " AND <col> = 'active'|'deleted'" for the view type (nothing for ALL). */
int trk_add_view(struct kiln_sql *q, const char *col, enum kiln_view_type view);

#endif

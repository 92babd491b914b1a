/*
 * mlflow.h - internals of the MLflow-compatible REST API (src/api/mlflow/ only): entity
 * writers shared by the handler files, and each file's route table.
 *
 * Entity JSON follows MLflow's proto field names and order (mlflow-api.md §3): int64 as
 * numbers, enums as names, NaN/Infinity as strings, unset optional fields and empty repeated
 * fields omitted.
 */
#ifndef KILN_API_MLFLOW_H
#define KILN_API_MLFLOW_H

#include "api/api.h"
#include "tracking/tracking.h"

/* Writes an Experiment object (the value only; the caller writes the key). */
void kiln_mlflow_write_experiment(struct kiln_jsonw *w, const struct kiln_experiment *e);
/* Writes [{"key": k, "value": v}, ...] under `field` unless n == 0. */
void kiln_mlflow_write_kv_list(struct kiln_jsonw *w, const char *field, const struct kiln_kv *kv,
                               size_t n);

/* ---- run entities (run_json.c) ---------------------------------------------------------- */

void kiln_mlflow_write_run(struct kiln_jsonw *w, const struct kiln_run *run);
void kiln_mlflow_write_run_info(struct kiln_jsonw *w, const struct kiln_run_info *info);
/* A Metric object; with_run_id adds its run_id (history responses). */
void kiln_mlflow_write_metric(struct kiln_jsonw *w, const struct kiln_metric *m, int with_run_id);
/* [Metric, ...] under `field` unless n == 0. */
void kiln_mlflow_write_metric_list(struct kiln_jsonw *w, const char *field,
                                   const struct kiln_metric *m, size_t n, int with_run_id);

/* ---- request readers (read.c); results borrow from doc or the request arena ------------- */

/* Re-words err as "<message> (in array[index])" and returns rc. */
int kiln_mlflow_annotate(struct kiln_err *err, int rc, const char *array, size_t index);
/* run_id, else run_uuid (the client sends both); missing -> KILN_EINVAL. */
int kiln_mlflow_get_run_id(const json_t *doc, const char **run_id /* OUT */, struct kiln_err *err);
/* Optional array of {key, value} objects (value absent -> ""); key required. */
int kiln_mlflow_read_kv(struct kiln_http_req *req, const json_t *doc, const char *field,
                        struct kiln_kv **out /* OUT */, size_t *n /* OUT */, struct kiln_err *err);
/* Optional array of strings (integers are accepted as their decimal text). */
int kiln_mlflow_read_strings(struct kiln_http_req *req, const json_t *doc, const char *field,
                             const char ***out /* OUT */, size_t *n /* OUT */,
                             struct kiln_err *err);
/* One Metric object: key, value, timestamp required; step, model_id, dataset_* optional. */
int kiln_mlflow_read_metric(const json_t *item, struct kiln_metric *m /* OUT */,
                            struct kiln_err *err);
/* Optional array of Metric objects. */
int kiln_mlflow_read_metrics(struct kiln_http_req *req, const json_t *doc, const char *field,
                             struct kiln_metric **out /* OUT */, size_t *n /* OUT */,
                             struct kiln_err *err);
/* An experiment id given as a decimal string (or a JSON integer). */
int kiln_mlflow_get_experiment_id(const json_t *doc, const char *field, int required,
                                  int64_t *id /* OUT */, int *present /* OUT */,
                                  struct kiln_err *err);
/* ViewType by name or number; absent -> ACTIVE_ONLY. */
int kiln_mlflow_get_view_type(const json_t *doc, const char *field,
                              enum kiln_view_type *out /* OUT */, struct kiln_err *err);

#endif

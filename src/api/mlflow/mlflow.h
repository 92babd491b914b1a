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

#endif

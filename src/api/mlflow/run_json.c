/*
 * run_json.c - JSON writers for MLflow's run entities (mlflow.h): Run, RunInfo, Metric,
 * DatasetInput, RunInputs and RunOutputs, in proto field order with MLflow's conventions
 * (int64 numbers, experiment ids as strings, NaN and infinities as strings, empty repeated
 * fields omitted).
 */
#include <stdio.h>

#include "api/mlflow/mlflow.h"

void kiln_mlflow_write_run_info(struct kiln_jsonw *w, const struct kiln_run_info *info)
{
    char eid[24];
    snprintf(eid, sizeof(eid), "%lld", (long long)info->experiment_id);
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "run_id", info->run_id);
    kiln_jsonw_kv_str(w, "run_uuid", info->run_id);
    kiln_jsonw_kv_str(w, "run_name", info->run_name);
    kiln_jsonw_kv_str(w, "experiment_id", eid);
    kiln_jsonw_kv_str(w, "user_id", info->user_id);
    kiln_jsonw_kv_str(w, "status", info->status);
    if (info->has_start_time)
        kiln_jsonw_kv_int(w, "start_time", info->start_time);
    if (info->has_end_time)
        kiln_jsonw_kv_int(w, "end_time", info->end_time);
    kiln_jsonw_kv_str(w, "artifact_uri", info->artifact_uri);
    kiln_jsonw_kv_str(w, "lifecycle_stage", info->lifecycle_stage);
    kiln_jsonw_obj_end(w);
}

void kiln_mlflow_write_metric(struct kiln_jsonw *w, const struct kiln_metric *m, int with_run_id)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "key", m->key);
    kiln_jsonw_kv_double(w, "value", m->value);
    kiln_jsonw_kv_int(w, "timestamp", m->timestamp);
    kiln_jsonw_kv_int(w, "step", m->step);
    if (m->dataset_name != NULL)
        kiln_jsonw_kv_str(w, "dataset_name", m->dataset_name);
    if (m->dataset_digest != NULL)
        kiln_jsonw_kv_str(w, "dataset_digest", m->dataset_digest);
    if (m->model_id != NULL)
        kiln_jsonw_kv_str(w, "model_id", m->model_id);
    if (with_run_id && m->run_id != NULL)
        kiln_jsonw_kv_str(w, "run_id", m->run_id);
    kiln_jsonw_obj_end(w);
}

void kiln_mlflow_write_metric_list(struct kiln_jsonw *w, const char *field,
                                   const struct kiln_metric *m, size_t n, int with_run_id)
{
    if (n == 0)
        return;
    kiln_jsonw_key(w, field);
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++)
        kiln_mlflow_write_metric(w, &m[i], with_run_id);
    kiln_jsonw_arr_end(w);
}

static void write_inputs(struct kiln_jsonw *w, const struct kiln_run *run)
{
    kiln_jsonw_key(w, "inputs");
    kiln_jsonw_obj_begin(w);
    if (run->ndatasets > 0) {
        kiln_jsonw_key(w, "dataset_inputs");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < run->ndatasets; i++) {
            const struct kiln_dataset *d = &run->datasets[i].dataset;
            kiln_jsonw_obj_begin(w);
            kiln_mlflow_write_kv_list(w, "tags", run->datasets[i].tags, run->datasets[i].ntags);
            kiln_jsonw_key(w, "dataset");
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "name", d->name);
            kiln_jsonw_kv_str(w, "digest", d->digest);
            kiln_jsonw_kv_str(w, "source_type", d->source_type);
            kiln_jsonw_kv_str(w, "source", d->source);
            if (d->schema != NULL)
                kiln_jsonw_kv_str(w, "schema", d->schema);
            if (d->profile != NULL)
                kiln_jsonw_kv_str(w, "profile", d->profile);
            kiln_jsonw_obj_end(w);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
    }
    if (run->nmodel_inputs > 0) {
        kiln_jsonw_key(w, "model_inputs");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < run->nmodel_inputs; i++) {
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "model_id", run->model_inputs[i]);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_obj_end(w);
}

void kiln_mlflow_write_run(struct kiln_jsonw *w, const struct kiln_run *run)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "info");
    kiln_mlflow_write_run_info(w, &run->info);
    kiln_jsonw_key(w, "data");
    kiln_jsonw_obj_begin(w);
    kiln_mlflow_write_metric_list(w, "metrics", run->metrics, run->nmetrics, 0);
    kiln_mlflow_write_kv_list(w, "params", run->params, run->nparams);
    kiln_mlflow_write_kv_list(w, "tags", run->tags, run->ntags);
    kiln_jsonw_obj_end(w);
    write_inputs(w, run);
    kiln_jsonw_key(w, "outputs");
    kiln_jsonw_obj_begin(w);
    if (run->nmodel_outputs > 0) {
        kiln_jsonw_key(w, "model_outputs");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < run->nmodel_outputs; i++) {
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "model_id", run->model_outputs[i].model_id);
            kiln_jsonw_kv_int(w, "step", run->model_outputs[i].step);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
}

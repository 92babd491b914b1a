/*
 * entities.c - JSON writers for MLflow entities, shared by the handlers (mlflow.h).
 */
#include <stdio.h>

#include "api/mlflow/mlflow.h"

void kiln_mlflow_write_kv_list(struct kiln_jsonw *w, const char *field, const struct kiln_kv *kv,
                               size_t n)
{
    if (n == 0)
        return;
    kiln_jsonw_key(w, field);
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "key", kv[i].key);
        kiln_jsonw_kv_str(w, "value", kv[i].value);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

void kiln_mlflow_write_experiment(struct kiln_jsonw *w, const struct kiln_experiment *e)
{
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)e->id);
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "experiment_id", id);
    kiln_jsonw_kv_str(w, "name", e->name);
    kiln_jsonw_kv_str(w, "artifact_location", e->artifact_location);
    kiln_jsonw_kv_str(w, "lifecycle_stage", e->lifecycle_stage);
    kiln_jsonw_kv_int(w, "last_update_time", e->last_update_time);
    kiln_jsonw_kv_int(w, "creation_time", e->creation_time);
    kiln_mlflow_write_kv_list(w, "tags", e->tags, e->ntags);
    kiln_jsonw_obj_end(w);
}

/*
 * read.c - request readers shared by the MLflow tracking handlers (mlflow.h): run ids given as
 * run_id or run_uuid, lists of {key, value}, string lists, metrics, and error annotation with
 * the element's path ("metrics[3].value").
 *
 * Everything read borrows from the request's JSON tree or is allocated from the request arena;
 * nothing needs freeing. Type errors follow kiln_json_get_*: a value of the wrong type is
 * INVALID_PARAMETER_VALUE naming the field.
 */
#include <stdio.h>
#include <string.h>

#include "api/mlflow/mlflow.h"
#include "core/str.h"

int kiln_mlflow_annotate(struct kiln_err *err, int rc, const char *array, size_t index)
{
    char msg[KILN_ERR_MSG_MAX];
    if (err == NULL)
        return rc;
    kiln_strlcpy(msg, err->msg, sizeof(msg));
    return kiln_err_set(err, rc, "%s (in %s[%zu])", msg, array, index);
}

int kiln_mlflow_get_run_id(const json_t *doc, const char **run_id, struct kiln_err *err)
{
    const char *a = NULL, *b = NULL;
    int rc = kiln_json_get_str(doc, "run_id", KILN_JSON_OPTIONAL, &a, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_uuid", KILN_JSON_OPTIONAL, &b, err);
    if (rc != KILN_OK)
        return rc;
    *run_id = a != NULL && *a != '\0' ? a : b;
    if (*run_id == NULL || **run_id == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_id'");
    return KILN_OK;
}

/* Checks that item is an object; names the element otherwise. */
static int want_object(const json_t *item, const char *field, size_t i, struct kiln_err *err)
{
    if (json_is_object(item))
        return KILN_OK;
    return kiln_err_set(err, KILN_EINVAL,
                        "Invalid value for parameter '%s[%zu]': expected an object", field, i);
}

int kiln_mlflow_read_kv(struct kiln_http_req *req, const json_t *doc, const char *field,
                        struct kiln_kv **out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, field, KILN_JSON_OPTIONAL, &arr, err);

    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL || json_array_size(arr) == 0)
        return rc;
    *out = kiln_arena_alloc(req->arena, json_array_size(arr) * sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, item)
    {
        const char *k, *v;
        rc = want_object(item, field, i, err);
        if (rc == KILN_OK)
            rc = kiln_json_get_str(item, "key", KILN_JSON_REQUIRED, &k, err);
        if (rc == KILN_OK)
            rc = kiln_json_get_str(item, "value", KILN_JSON_OPTIONAL, &v, err);
        if (rc != KILN_OK)
            return kiln_mlflow_annotate(err, rc, field, i);
        (*out)[i].key = k;
        (*out)[i].value = v != NULL ? v : "";
    }
    *n = json_array_size(arr);
    return KILN_OK;
}

int kiln_mlflow_read_strings(struct kiln_http_req *req, const json_t *doc, const char *field,
                             const char ***out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, field, KILN_JSON_OPTIONAL, &arr, err);

    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL || json_array_size(arr) == 0)
        return rc;
    *out = kiln_arena_alloc(req->arena, json_array_size(arr) * sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, item)
    {
        if (json_is_string(item)) {
            (*out)[i] = json_string_value(item);
        } else if (json_is_integer(item)) {
            /* Numeric ids ("experiment_ids": [1]) read as their decimal text. */
            (*out)[i] = kiln_arena_printf(req->arena, "%lld", (long long)json_integer_value(item));
            if ((*out)[i] == NULL)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        } else {
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s[%zu]': expected a string", field,
                                i);
        }
    }
    *n = json_array_size(arr);
    return KILN_OK;
}

int kiln_mlflow_read_metric(const json_t *item, struct kiln_metric *m, struct kiln_err *err)
{
    int rc, present;

    memset(m, 0, sizeof(*m));
    rc = kiln_json_get_str(item, "key", KILN_JSON_REQUIRED, &m->key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_double(item, "value", KILN_JSON_REQUIRED, &m->value, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(item, "timestamp", KILN_JSON_REQUIRED, &m->timestamp, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(item, "step", KILN_JSON_OPTIONAL, &m->step, &present, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(item, "model_id", KILN_JSON_OPTIONAL, &m->model_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(item, "dataset_name", KILN_JSON_OPTIONAL, &m->dataset_name, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(item, "dataset_digest", KILN_JSON_OPTIONAL, &m->dataset_digest, err);
    /* Empty optional strings mean unset, as proto defaults do. */
    if (m->model_id != NULL && *m->model_id == '\0')
        m->model_id = NULL;
    if (m->dataset_name != NULL && *m->dataset_name == '\0')
        m->dataset_name = NULL;
    if (m->dataset_digest != NULL && *m->dataset_digest == '\0')
        m->dataset_digest = NULL;
    return rc;
}

int kiln_mlflow_read_metrics(struct kiln_http_req *req, const json_t *doc, const char *field,
                             struct kiln_metric **out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, field, KILN_JSON_OPTIONAL, &arr, err);

    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL || json_array_size(arr) == 0)
        return rc;
    *out = kiln_arena_alloc(req->arena, json_array_size(arr) * sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, item)
    {
        rc = want_object(item, field, i, err);
        if (rc == KILN_OK)
            rc = kiln_mlflow_read_metric(item, &(*out)[i], err);
        if (rc != KILN_OK)
            return kiln_mlflow_annotate(err, rc, field, i);
    }
    *n = json_array_size(arr);
    return KILN_OK;
}

int kiln_mlflow_get_view_type(const json_t *doc, const char *field, enum kiln_view_type *out,
                              struct kiln_err *err)
{
    json_t *v = json_object_get(doc, field);
    char num[24];
    *out = KILN_VIEW_ACTIVE_ONLY;
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return kiln_view_type_parse(num, field, out, err);
    }
    if (!json_is_string(v))
        return kiln_err_set(err, KILN_EINVAL, "Invalid value for parameter '%s': expected a string",
                            field);
    return kiln_view_type_parse(json_string_value(v), field, out, err);
}

int kiln_mlflow_get_experiment_id(const json_t *doc, const char *field, int required, int64_t *id,
                                  int *present, struct kiln_err *err)
{
    json_t *v = json_object_get(doc, field);
    *present = 0;
    if (json_is_integer(v)) {
        *id = (int64_t)json_integer_value(v);
        if (*id < 0)
            return kiln_err_set(err, KILN_EINVAL, "Invalid value '%lld' for parameter '%s'",
                                (long long)*id, field);
        *present = 1;
        return KILN_OK;
    }
    if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        if (required)
            return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'",
                                field);
        return KILN_OK;
    }
    if (!json_is_string(v))
        return kiln_err_set(err, KILN_EINVAL, "Invalid value for parameter '%s': expected a string",
                            field);
    *present = 1;
    return kiln_experiment_parse_id(json_string_value(v), field, id, err);
}

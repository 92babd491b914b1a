/*
 * report.c - replica reports: the JSON a serve replica POSTs to
 * /api/kiln/v1/deployments/{name}/reports every few seconds, parsed and validated into a
 * struct kiln_deploy_report, and written back (docs/deployments.md, "Replica reports").
 *
 * Every field is checked and an error names it; unknown fields are ignored so that newer
 * replicas can talk to an older control plane. Everything parsed is heap memory owned by the
 * report (kiln_deploy_report_free). Thread-safe (no shared state).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "deploy/deploy.h"

#define MAX_DRIFT_COLUMNS 10000

void kiln_deploy_report_free(struct kiln_deploy_report *r)
{
    if (r == NULL)
        return;
    kiln_free(r->replica);
    kiln_free(r->boot);
    for (size_t i = 0; i < r->nversions; i++)
        kiln_deploy_vstats_release(&r->versions[i]);
    kiln_free(r->versions);
    for (size_t i = 0; i < r->npredictions; i++) {
        kiln_free(r->predictions[i].id);
        kiln_free(r->predictions[i].label);
    }
    kiln_free(r->predictions);
    for (size_t i = 0; i < r->drift.ncols; i++) {
        kiln_free(r->drift.cols[i].name);
        kiln_free(r->drift.cols[i].method);
    }
    kiln_free(r->drift.cols);
    kiln_free(r);
}

static int oom(struct kiln_err *err)
{
    return kiln_err_set(err, KILN_ENOMEM, "out of memory");
}

/* A string field of at most max bytes; required ones must be non-empty. */
static int str_field(const json_t *obj, const char *key, const char *what, int required, size_t max,
                     char **out, struct kiln_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return kiln_err_set(err, KILN_EINVAL, "%s%s: required", what, key);
        return KILN_OK;
    }
    if (!json_is_string(v) || (required && json_string_length(v) == 0) ||
        json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
        return kiln_err_set(err, KILN_EINVAL, "%s%s: expected a string of at most %zu bytes", what,
                            key, max);
    *out = kiln_strdup(json_string_value(v));
    return *out != NULL ? KILN_OK : oom(err);
}

static int int_field(const json_t *obj, const char *key, const char *what, int required,
                     int64_t *out, struct kiln_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return kiln_err_set(err, KILN_EINVAL, "%s%s: required", what, key);
        return KILN_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return kiln_err_set(err, KILN_EINVAL, "%s%s: expected a non-negative integer", what, key);
    *out = json_integer_value(v);
    return KILN_OK;
}

static int num_field(const json_t *obj, const char *key, const char *what, double *out,
                     struct kiln_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return kiln_err_set(err, KILN_EINVAL, "%s%s: expected a finite number", what, key);
    *out = json_number_value(v);
    return KILN_OK;
}

static int read_versions(const json_t *arr, struct kiln_deploy_report *r, struct kiln_err *err)
{
    const json_t *e;
    size_t i;
    int rc = KILN_OK;
    if (arr == NULL || json_is_null(arr))
        return KILN_OK;
    if (!json_is_array(arr) || json_array_size(arr) > KILN_DEPLOY_REPORT_MAX_VERSIONS)
        return kiln_err_set(err, KILN_EINVAL, "versions: expected an array of at most %d objects",
                            KILN_DEPLOY_REPORT_MAX_VERSIONS);
    r->versions = kiln_calloc(json_array_size(arr) + 1, sizeof(*r->versions));
    if (r->versions == NULL)
        return oom(err);
    json_array_foreach(arr, i, e)
    {
        char what[32];
        snprintf(what, sizeof(what), "versions[%zu]", i);
        rc = kiln_deploy_vstats_read(e, what, &r->versions[i], err);
        r->nversions = i + 1;
        for (size_t j = 0; rc == KILN_OK && j < i; j++)
            if (r->versions[j].version == r->versions[i].version)
                rc = kiln_err_set(err, KILN_EINVAL, "%s.version: version %lld listed twice", what,
                                  (long long)r->versions[i].version);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int read_predictions(const json_t *arr, struct kiln_deploy_report *r, struct kiln_err *err)
{
    const json_t *e;
    size_t i;
    if (arr == NULL || json_is_null(arr))
        return KILN_OK;
    if (!json_is_array(arr) || json_array_size(arr) > KILN_DEPLOY_REPORT_MAX_PREDICTIONS)
        return kiln_err_set(err, KILN_EINVAL,
                            "predictions: expected an array of at most %d {id, version, label}",
                            KILN_DEPLOY_REPORT_MAX_PREDICTIONS);
    r->predictions = kiln_calloc(json_array_size(arr) + 1, sizeof(*r->predictions));
    if (r->predictions == NULL)
        return oom(err);
    json_array_foreach(arr, i, e)
    {
        struct kiln_deploy_prediction *p = &r->predictions[i];
        char what[40];
        int rc;
        snprintf(what, sizeof(what), "predictions[%zu].", i);
        r->npredictions = i + 1;
        if (!json_is_object(e))
            return kiln_err_set(err, KILN_EINVAL, "predictions[%zu]: expected an object", i);
        rc = str_field(e, "id", what, 1, KILN_DEPLOY_ID_MAX, &p->id, err);
        if (rc == KILN_OK)
            rc = int_field(e, "version", what, 1, &p->version, err);
        if (rc == KILN_OK && p->version < 1)
            rc = kiln_err_set(err, KILN_EINVAL, "%sversion: expected a version number", what);
        if (rc == KILN_OK)
            rc = str_field(e, "label", what, 1, KILN_DEPLOY_LABEL_MAX, &p->label, err);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int read_drift_columns(const json_t *arr, struct kiln_deploy_drift_obs *d,
                              struct kiln_err *err)
{
    const json_t *e;
    size_t i;
    if (arr == NULL || json_is_null(arr))
        return KILN_OK;
    if (!json_is_array(arr) || json_array_size(arr) > MAX_DRIFT_COLUMNS)
        return kiln_err_set(err, KILN_EINVAL, "drift.columns: expected an array of at most %d",
                            MAX_DRIFT_COLUMNS);
    d->cols = kiln_calloc(json_array_size(arr) + 1, sizeof(*d->cols));
    if (d->cols == NULL)
        return oom(err);
    json_array_foreach(arr, i, e)
    {
        struct kiln_deploy_drift_column *c = &d->cols[i];
        const json_t *dr = json_object_get(e, "drifted");
        char what[48];
        int rc;
        snprintf(what, sizeof(what), "drift.columns[%zu].", i);
        d->ncols = i + 1;
        c->statistic = c->threshold = NAN;
        if (!json_is_object(e))
            return kiln_err_set(err, KILN_EINVAL, "drift.columns[%zu]: expected an object", i);
        rc = str_field(e, "name", what, 1, 1000, &c->name, err);
        if (rc == KILN_OK)
            rc = str_field(e, "method", what, 0, 64, &c->method, err);
        if (rc == KILN_OK)
            rc = num_field(e, "statistic", what, &c->statistic, err);
        if (rc == KILN_OK)
            rc = num_field(e, "threshold", what, &c->threshold, err);
        if (rc == KILN_OK && dr != NULL && !json_is_boolean(dr))
            rc = kiln_err_set(err, KILN_EINVAL, "%sdrifted: expected true or false", what);
        if (rc != KILN_OK)
            return rc;
        c->drifted = json_is_true(dr);
    }
    return KILN_OK;
}

static int read_drift(const json_t *obj, struct kiln_deploy_drift_obs *d, struct kiln_err *err)
{
    const json_t *dd;
    int64_t rows = 0;
    int rc;
    if (obj == NULL || json_is_null(obj))
        return KILN_OK;
    if (!json_is_object(obj))
        return kiln_err_set(err, KILN_EINVAL, "drift: expected an object");
    d->present = 1;
    d->drift_share = NAN;
    rc = int_field(obj, "version", "drift.", 1, &d->version, err);
    if (rc == KILN_OK)
        rc = int_field(obj, "rows", "drift.", 1, &rows, err);
    if (rc == KILN_OK)
        rc = num_field(obj, "drift_share", "drift.", &d->drift_share, err);
    if (rc == KILN_OK && !isnan(d->drift_share) && (d->drift_share < 0 || d->drift_share > 1))
        rc = kiln_err_set(err, KILN_EINVAL, "drift.drift_share: expected a share in [0, 1]");
    if (rc != KILN_OK)
        return rc;
    d->rows = (uint64_t)rows;
    dd = json_object_get(obj, "dataset_drift");
    if (!json_is_boolean(dd))
        return kiln_err_set(err, KILN_EINVAL, "drift.dataset_drift: expected true or false");
    d->dataset_drift = json_is_true(dd);
    return read_drift_columns(json_object_get(obj, "columns"), d, err);
}

int kiln_deploy_report_parse(const char *body, size_t len, struct kiln_deploy_report **out,
                             struct kiln_err *err)
{
    struct kiln_deploy_report *r;
    json_t *doc = NULL;
    int rc;

    *out = NULL;
    if (len > KILN_DEPLOY_REPORT_MAX_BYTES)
        return kiln_err_set(err, KILN_EINVAL, "report larger than %zu bytes",
                            KILN_DEPLOY_REPORT_MAX_BYTES);
    rc = kiln_json_parse_object(body, len, 0, &doc, err);
    if (rc != KILN_OK)
        return rc;
    r = kiln_calloc(1, sizeof(*r));
    if (r == NULL) {
        json_decref(doc);
        return oom(err);
    }
    rc = str_field(doc, "replica", "", 1, KILN_DEPLOY_ID_MAX, &r->replica, err);
    if (rc == KILN_OK)
        rc = str_field(doc, "boot", "", 0, KILN_DEPLOY_ID_MAX, &r->boot, err);
    if (rc == KILN_OK && r->boot == NULL && (r->boot = kiln_strdup("")) == NULL)
        rc = oom(err);
    if (rc == KILN_OK)
        rc = int_field(doc, "seq", "", 1, &r->seq, err);
    if (rc == KILN_OK)
        rc = int_field(doc, "generation", "", 0, &r->generation, err);
    if (rc == KILN_OK)
        rc = int_field(doc, "interval_ms", "", 0, &r->interval_ms, err);
    if (rc == KILN_OK)
        rc = int_field(doc, "gap_ms", "", 0, &r->gap_ms, err);
    if (rc == KILN_OK)
        rc = int_field(doc, "gap_generation", "", 0, &r->gap_generation, err);
    if (rc == KILN_OK)
        rc = read_versions(json_object_get(doc, "versions"), r, err);
    if (rc == KILN_OK)
        rc = read_predictions(json_object_get(doc, "predictions"), r, err);
    if (rc == KILN_OK)
        rc = read_drift(json_object_get(doc, "drift"), &r->drift, err);
    json_decref(doc);
    if (rc != KILN_OK) {
        kiln_deploy_report_free(r);
        return rc;
    }
    *out = r;
    return KILN_OK;
}

void kiln_deploy_report_write(struct kiln_jsonw *w, const struct kiln_deploy_report *r)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "replica", r->replica);
    kiln_jsonw_kv_str(w, "boot", r->boot != NULL ? r->boot : "");
    kiln_jsonw_kv_int(w, "seq", r->seq);
    kiln_jsonw_kv_int(w, "generation", r->generation);
    kiln_jsonw_kv_int(w, "interval_ms", r->interval_ms);
    kiln_jsonw_kv_int(w, "gap_ms", r->gap_ms);
    kiln_jsonw_kv_int(w, "gap_generation", r->gap_generation);
    kiln_jsonw_key(w, "versions");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->nversions; i++)
        kiln_deploy_vstats_write(w, &r->versions[i]);
    kiln_jsonw_arr_end(w);
    kiln_jsonw_key(w, "predictions");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->npredictions; i++) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "id", r->predictions[i].id);
        kiln_jsonw_kv_int(w, "version", r->predictions[i].version);
        kiln_jsonw_kv_str(w, "label", r->predictions[i].label);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    if (r->drift.present) {
        kiln_jsonw_key(w, "drift");
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_int(w, "version", r->drift.version);
        kiln_jsonw_kv_int(w, "rows", (int64_t)r->drift.rows);
        kiln_jsonw_kv_bool(w, "dataset_drift", r->drift.dataset_drift);
        kiln_jsonw_key(w, "drift_share");
        kiln_jsonw_double_or_null(w, r->drift.drift_share);
        kiln_jsonw_key(w, "columns");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < r->drift.ncols; i++) {
            const struct kiln_deploy_drift_column *c = &r->drift.cols[i];
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "name", c->name);
            if (c->method != NULL)
                kiln_jsonw_kv_str(w, "method", c->method);
            kiln_jsonw_key(w, "statistic");
            kiln_jsonw_double_or_null(w, c->statistic);
            kiln_jsonw_key(w, "threshold");
            kiln_jsonw_double_or_null(w, c->threshold);
            kiln_jsonw_kv_bool(w, "drifted", c->drifted);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_obj_end(w);
}

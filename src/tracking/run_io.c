/*
 * run_io.c - a run's inputs and outputs: dataset and logged-model inputs (log-inputs),
 * logged-model outputs (MLflow 3 /runs/outputs) and the MLflow 2 log-model history tag.
 *
 * Datasets belong to an experiment and are shared by its runs: one row per (experiment, name,
 * digest), created on first use; a later log with the same name and digest reuses it (its
 * source and schema are not updated, as in MLflow). Inputs link a dataset or a logged model
 * to a run once; logging the same link again keeps the first one and its tags.
 *
 * Each public function validates everything, then writes in one transaction.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/id.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "tracking/tracking_int.h"

static int check_len(const char *what, const char *path, const char *v, size_t limit,
                     struct kiln_err *err)
{
    size_t ignored;
    if (v == NULL)
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'", path);
    return trk_check_value(what, path, v, limit, 0, &ignored, err);
}

static int check_dataset_input(const struct kiln_dataset_input *in, size_t i, struct kiln_err *err)
{
    const struct kiln_dataset *d = &in->dataset;
    char path[64];
    int rc;

#define CHECK(field, what, limit)                                            \
    do {                                                                     \
        snprintf(path, sizeof(path), "datasets[%zu].dataset.%s", i, #field); \
        rc = check_len(what, path, d->field, limit, err);                    \
        if (rc != KILN_OK)                                                   \
            return rc;                                                       \
    } while (0)
    CHECK(name, "Dataset name", KILN_DATASET_NAME_MAX);
    CHECK(digest, "Dataset digest", KILN_DATASET_DIGEST_MAX);
    CHECK(source_type, "Dataset source type", KILN_DATASET_SOURCE_MAX);
    CHECK(source, "Dataset source", KILN_DATASET_SOURCE_MAX);
#undef CHECK
    if (d->schema != NULL && strlen(d->schema) > KILN_DATASET_SCHEMA_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "Dataset schema exceeds the maximum size of %zu bytes "
                            "(parameter 'datasets[%zu].dataset.schema')",
                            KILN_DATASET_SCHEMA_MAX, i);
    if (d->profile != NULL && strlen(d->profile) > KILN_DATASET_PROFILE_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "Dataset profile exceeds the maximum size of %zu bytes "
                            "(parameter 'datasets[%zu].dataset.profile')",
                            KILN_DATASET_PROFILE_MAX, i);
    for (size_t t = 0; t < in->ntags; t++) {
        snprintf(path, sizeof(path), "datasets[%zu].tags[%zu].key", i, t);
        rc = check_len("Input tag key", path, in->tags[t].key, KILN_INPUT_TAG_KEY_MAX, err);
        if (rc == KILN_OK && *in->tags[t].key == '\0')
            rc = kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'", path);
        if (rc != KILN_OK)
            return rc;
        snprintf(path, sizeof(path), "datasets[%zu].tags[%zu].value", i, t);
        rc = check_len("Input tag value", path, in->tags[t].value, KILN_INPUT_TAG_VALUE_MAX, err);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

/* Finds or creates the dataset row; OUT: its uuid (33 bytes). */
static int dataset_uuid(struct kiln_tx *tx, int64_t experiment_id, const struct kiln_dataset *d,
                        char *uuid, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND "
                             "name = ? AND digest = ?",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_int64(st, 1, experiment_id);
    kiln_stmt_bind_text(st, 2, d->name);
    kiln_stmt_bind_text(st, 3, d->digest);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        kiln_strlcpy(uuid, kiln_stmt_text(st, 0), KILN_RUN_ID_LEN + 1);
    kiln_stmt_finish(st);
    if (rc == KILN_STMT_ROW)
        return KILN_OK;
    if (rc < 0)
        return rc;
    if (kiln_uuid_hex(uuid) != KILN_OK)
        return kiln_err_set(err, KILN_EIO, "cannot draw a random dataset id");
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, "
                         "source_type, source, schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, uuid);
    kiln_stmt_bind_int64(st, 2, experiment_id);
    kiln_stmt_bind_text(st, 3, d->name);
    kiln_stmt_bind_text(st, 4, d->digest);
    kiln_stmt_bind_text(st, 5, d->source_type);
    kiln_stmt_bind_text(st, 6, d->source);
    kiln_stmt_bind_text(st, 7, d->schema);
    kiln_stmt_bind_text(st, 8, d->profile);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* Links source -> run once. OUT: *created, and the new input's uuid when created. */
static int link_input(struct kiln_tx *tx, const char *source_type, const char *source_id,
                      const char *run_id, char *input_uuid, int *created, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;
    if (kiln_uuid_hex(input_uuid) != KILN_OK)
        return kiln_err_set(err, KILN_EIO, "cannot draw a random input id");
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO inputs (input_uuid, source_type, source_id, "
                         "destination_type, destination_id) VALUES (?, ?, ?, 'RUN', ?) "
                         "ON CONFLICT DO NOTHING",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, input_uuid);
    kiln_stmt_bind_text(st, 2, source_type);
    kiln_stmt_bind_text(st, 3, source_id);
    kiln_stmt_bind_text(st, 4, run_id);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    *created = kiln_tx_changes(tx) > 0;
    return KILN_OK;
}

static int write_input_tags(struct kiln_tx *tx, const char *input_uuid,
                            const struct kiln_dataset_input *in, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;
    if (in->ntags == 0)
        return KILN_OK;
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?) "
                         "ON CONFLICT (input_uuid, name) DO UPDATE SET value = excluded.value",
                         &st, err);
    if (rc != KILN_OK)
        return rc;
    for (size_t t = 0; rc >= 0 && t < in->ntags; t++) {
        kiln_stmt_reset(st);
        kiln_stmt_bind_text(st, 1, input_uuid);
        kiln_stmt_bind_text(st, 2, in->tags[t].key);
        kiln_stmt_bind_text(st, 3, in->tags[t].value);
        rc = kiln_stmt_step(st, err);
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

static int finish(struct kiln_tx *tx, int rc, struct kiln_err *err)
{
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_run_log_inputs(struct kiln_store *store, const char *run_id,
                        const struct kiln_dataset_input *datasets, size_t ndatasets,
                        const char *const *model_ids, size_t nmodels, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t experiment_id = 0;
    int rc = KILN_OK;

    for (size_t i = 0; rc == KILN_OK && i < ndatasets; i++)
        rc = check_dataset_input(&datasets[i], i, err);
    for (size_t i = 0; rc == KILN_OK && i < nmodels; i++)
        if (model_ids[i] == NULL || *model_ids[i] == '\0')
            rc = kiln_err_set(err, KILN_EINVAL,
                              "Missing value for required parameter 'models[%zu].model_id'", i);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = trk_check_run(tx, run_id, 1, &experiment_id, err);
    for (size_t i = 0; rc == KILN_OK && i < ndatasets; i++) {
        char duuid[KILN_RUN_ID_LEN + 1], iuuid[KILN_RUN_ID_LEN + 1];
        int created = 0;
        rc = dataset_uuid(tx, experiment_id, &datasets[i].dataset, duuid, err);
        if (rc == KILN_OK)
            rc = link_input(tx, "DATASET", duuid, run_id, iuuid, &created, err);
        if (rc == KILN_OK && created)
            rc = write_input_tags(tx, iuuid, &datasets[i], err);
    }
    for (size_t i = 0; rc == KILN_OK && i < nmodels; i++) {
        char iuuid[KILN_RUN_ID_LEN + 1];
        int created;
        rc = link_input(tx, "MODEL", model_ids[i], run_id, iuuid, &created, err);
    }
    return finish(tx, rc, err);
}

int kiln_run_log_outputs(struct kiln_store *store, const char *run_id,
                         const struct kiln_model_output *models, size_t n, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st = NULL;
    int rc = KILN_OK;

    for (size_t i = 0; i < n; i++)
        if (models[i].model_id == NULL || *models[i].model_id == '\0')
            return kiln_err_set(err, KILN_EINVAL,
                                "Missing value for required parameter 'models[%zu].model_id'", i);
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = trk_check_run(tx, run_id, 1, NULL, err);
    if (rc == KILN_OK && n > 0)
        rc = kiln_tx_prepare(tx,
                             "INSERT INTO run_outputs (run_uuid, model_id, step) VALUES (?, ?, ?) "
                             "ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step",
                             &st, err);
    for (size_t i = 0; rc == KILN_OK && i < n; i++) {
        kiln_stmt_reset(st);
        kiln_stmt_bind_text(st, 1, run_id);
        kiln_stmt_bind_text(st, 2, models[i].model_id);
        kiln_stmt_bind_int64(st, 3, models[i].step);
        rc = kiln_stmt_step(st, err);
        rc = rc < 0 ? rc : KILN_OK;
    }
    kiln_stmt_finish(st);
    return finish(tx, rc, err);
}

/*
 * The history entry MLflow keeps for a logged model (Model.get_tags_dict): run_id,
 * utc_time_created, artifact_path, model_uuid, and the flavors without their "config".
 */
static json_t *history_entry(const json_t *model)
{
    static const char *const keep[] = { "run_id", "utc_time_created", "artifact_path",
                                        "model_uuid" };
    json_t *e = json_object(), *flavors = json_object(), *src = json_object_get(model, "flavors");
    const char *name;
    json_t *cfg;

    if (e == NULL || flavors == NULL)
        goto fail;
    for (size_t i = 0; i < KILN_ARRAY_LEN(keep); i++) {
        json_t *v = json_object_get(model, keep[i]);
        if (v != NULL && json_object_set(e, keep[i], v) != 0)
            goto fail;
    }
    json_object_foreach((json_t *)src, name, cfg)
    {
        json_t *c = json_is_object(cfg) ? json_copy(cfg) : json_incref(cfg);
        if (c == NULL)
            goto fail;
        if (json_is_object(c))
            json_object_del(c, "config");
        if (json_object_set_new(flavors, name, c) != 0)
            goto fail;
    }
    if (json_object_set_new(e, "flavors", flavors) != 0) {
        flavors = NULL;
        goto fail;
    }
    return e;
fail:
    json_decref(flavors);
    json_decref(e);
    return NULL;
}

/* Reads the current history tag (a JSON array) or starts an empty one. */
static int read_history(struct kiln_tx *tx, const char *run_id, json_t **out, struct kiln_err *err)
{
    struct kiln_stmt *st;
    json_t *arr = NULL;
    int rc = kiln_tx_prepare(tx, "SELECT value FROM tags WHERE run_uuid = ? AND key = ?", &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    kiln_stmt_bind_text(st, 2, KILN_TAG_LOGGED_MODELS);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW && kiln_stmt_text(st, 0) != NULL)
        kiln_json_parse_any(kiln_stmt_text(st, 0), kiln_stmt_bytes(st, 0), &arr, NULL);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    if (!json_is_array(arr)) {
        json_decref(arr); /* an unreadable old value is replaced */
        arr = json_array();
    }
    if (arr == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    *out = arr;
    return KILN_OK;
}

/* Serialises arr, dropping its oldest entries until it fits the run tag limit. */
static char *dump_fitting(json_t *arr, size_t *len)
{
    for (;;) {
        char *s = json_dumps(arr, JSON_COMPACT);
        if (s == NULL)
            return NULL;
        *len = strlen(s);
        if (kiln_utf8_chars(s, *len) <= KILN_RUN_TAG_VALUE_MAX || json_array_size(arr) <= 1)
            return s;
        kiln_free(s);
        json_array_remove(arr, 0);
    }
}

int kiln_run_log_model(struct kiln_store *store, const char *run_id, const char *model_json,
                       struct kiln_err *err)
{
    static const char *const required[] = { "artifact_path", "flavors", "utc_time_created",
                                            "run_id" };
    json_t *model = NULL, *entry = NULL, *history = NULL;
    struct kiln_tx *tx = NULL;
    char *value = NULL;
    size_t len = 0;
    int rc;

    if (model_json == NULL || *model_json == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'model_json'");
    if (kiln_json_parse_any(model_json, strlen(model_json), &model, NULL) != KILN_OK ||
        !json_is_object(model)) {
        json_decref(model);
        return kiln_err_set(err, KILN_EINVAL,
                            "Malformed model info. \n %.80s \n is not a valid JSON.", model_json);
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(required); i++) {
        if (json_object_get(model, required[i]) == NULL) {
            json_decref(model);
            return kiln_err_set(err, KILN_EINVAL, "Model json is missing mandatory fields: {'%s'}",
                                required[i]);
        }
    }
    entry = history_entry(model);
    json_decref(model);
    if (entry == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        goto out;
    rc = trk_check_run(tx, run_id, 1, NULL, err);
    if (rc == KILN_OK)
        rc = read_history(tx, run_id, &history, err);
    if (rc == KILN_OK) {
        if (json_array_append(history, entry) != 0 || (value = dump_fitting(history, &len)) == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (rc == KILN_OK)
        rc = trk_set_run_tag(tx, run_id, KILN_TAG_LOGGED_MODELS, value, len, err);
    rc = finish(tx, rc, err);
out:
    kiln_free(value);
    json_decref(history);
    json_decref(entry);
    return rc;
}

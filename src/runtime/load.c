/*
 * load.c - model directories: read the MLmodel file, pick the flavor (`kiln` first, then
 * `xgboost`), read the file the flavor names (a path inside the directory, never outside
 * it), hand it to the flavor's loader, and check it against the MLmodel signature.
 *
 * Ownership: the returned model is the caller's (kiln_rt_free); everything read here is
 * freed before returning. Thread-safe: no shared state.
 */
#include <string.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/time.h"
#include "runtime/mlmodel.h"
#include "runtime/runtime_int.h"

#define DEFAULT_MAX_FILE ((size_t)1 << 30)

static int read_data(const char *dir, const char *rel, size_t max, struct kiln_buf *text,
                     struct kiln_err *err)
{
    struct kiln_buf path;
    int rc = kiln_path_check_rel(rel, strlen(rel), "MLmodel flavor 'data'", err);

    if (rc != KILN_OK)
        return rc;
    kiln_buf_init(&path, 8192);
    rc = kiln_path_join(&path, dir, rel);
    if (rc != KILN_OK) {
        kiln_buf_release(&path);
        return kiln_err_set(err, rc, "model file path too long");
    }
    kiln_buf_init(text, max);
    rc = kiln_read_file(path.buf, text, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "model file '%s' named by MLmodel does not exist", rel);
    else if (rc == KILN_ETOOBIG)
        rc = kiln_err_set(err, rc, "model file '%s' is larger than %zu bytes", rel, max);
    kiln_buf_release(&path);
    return rc;
}

/* The MLmodel signature, when there is one, must name the same inputs in the same order. */
static int check_signature(const struct kiln_rt_model *m, const struct kiln_mlmodel *mm,
                           struct kiln_err *err)
{
    if (!mm->has_signature || mm->tensor_input)
        return KILN_OK;
    if (mm->n_inputs != m->n_inputs)
        return kiln_err_set(err, KILN_EINVAL,
                            "MLmodel signature has %zu inputs but the model has %zu", mm->n_inputs,
                            m->n_inputs);
    for (size_t i = 0; i < m->n_inputs; i++)
        if (strcmp(mm->inputs[i].name, m->inputs[i].name) != 0)
            return kiln_err_set(err, KILN_EINVAL,
                                "MLmodel signature input %zu is '%.60s' but the model's is "
                                "'%.60s'",
                                i, mm->inputs[i].name, m->inputs[i].name);
    return KILN_OK;
}

static int load_dir(const char *dir, const struct kiln_rt_load_opts *opts, struct kiln_rt_model *m,
                    struct kiln_err *err)
{
    size_t max = opts != NULL && opts->max_file_bytes > 0 ? opts->max_file_bytes : DEFAULT_MAX_FILE;
    struct kiln_mlmodel *mm = NULL;
    struct kiln_buf text;
    const char *data;
    int rc = kiln_mlmodel_read(dir, &mm, err);

    kiln_buf_init(&text, max);
    if (rc != KILN_OK)
        return rc;
    if (kiln_mlmodel_flavor(mm, "kiln") != NULL) {
        const char *fv = kiln_mlmodel_flavor_str(mm, "kiln", "format_version");
        data = kiln_mlmodel_flavor_str(mm, "kiln", "data");
        if (fv != NULL && strcmp(fv, "1") != 0) {
            rc = kiln_err_set(err, KILN_ENOTSUP,
                              "MLmodel: kiln flavor format_version '%.20s' is not supported", fv);
            goto out;
        }
        rc = read_data(dir, data != NULL ? data : "model.json", max, &text, err);
        if (rc == KILN_OK)
            rc = rt_kiln_load_json(m, text.buf, text.len, data != NULL ? data : "model.json", err);
        if (rc == KILN_OK)
            rc = check_signature(m, mm, err);
    } else if (kiln_mlmodel_flavor(mm, "xgboost") != NULL) {
        data = kiln_mlmodel_flavor_str(mm, "xgboost", "data");
        if (data == NULL) {
            rc = kiln_err_set(err, KILN_EINVAL, "MLmodel: xgboost flavor has no 'data' file");
            goto out;
        }
        rc = read_data(dir, data, max, &text, err);
        if (rc == KILN_OK)
            rc = rt_xgb_load(m, mm, text.buf, text.len, data, opts, err);
    } else {
        const char *first = "?";
        void *it = json_object_iter(mm->flavors);
        if (it != NULL)
            first = json_object_iter_key(it);
        rc = kiln_err_set(err, KILN_ENOTSUP,
                          "MLmodel: no flavor kiln can run (found '%.40s'; kiln runs 'kiln' and "
                          "'xgboost')",
                          first);
    }
out:
    kiln_buf_release(&text);
    kiln_mlmodel_free(mm);
    return rc;
}

int kiln_rt_load(const char *dir, const struct kiln_rt_load_opts *opts, struct kiln_rt_model **out,
                 struct kiln_err *err)
{
    int64_t t0 = kiln_mono_ns();
    struct kiln_rt_model *m = rt_model_new();
    int rc;

    if (m == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading a model");
    rc = load_dir(dir, opts, m, err);
    if (rc != KILN_OK) {
        kiln_rt_free(m);
        return rc;
    }
    m->load_ns = kiln_mono_ns() - t0;
    *out = m;
    return KILN_OK;
}

int kiln_rt_load_kiln_json(const char *json, size_t len, const char *name,
                           struct kiln_rt_model **out, struct kiln_err *err)
{
    int64_t t0 = kiln_mono_ns();
    struct kiln_rt_model *m = rt_model_new();
    int rc;

    if (m == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading a model");
    rc = rt_kiln_load_json(m, json, len, name != NULL ? name : "model.json", err);
    if (rc != KILN_OK) {
        kiln_rt_free(m);
        return rc;
    }
    m->load_ns = kiln_mono_ns() - t0;
    *out = m;
    return KILN_OK;
}

int kiln_rt_load_xgboost(const void *data, size_t len, const char *name,
                         const struct kiln_rt_load_opts *opts, struct kiln_rt_model **out,
                         struct kiln_err *err)
{
    int64_t t0 = kiln_mono_ns();
    struct kiln_rt_model *m = rt_model_new();
    int rc;

    if (m == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading a model");
    rc = rt_xgb_load(m, NULL, data, len, name != NULL ? name : "xgboost model", opts, err);
    if (rc != KILN_OK) {
        kiln_rt_free(m);
        return rc;
    }
    m->load_ns = kiln_mono_ns() - t0;
    *out = m;
    return KILN_OK;
}

/*
 * kmodel.c - the `kiln` flavor: model.json (docs/model-format.md) -> a runtime model.
 *
 * The document is validated top-down: format and version, task, inputs (names unique, types
 * known, vocabularies of string inputs), classes, preprocessing (prep.c), then the estimator
 * (linear.c, trees_json.c, mlp.c), whose input width must equal what the preprocessing
 * produces and whose output count must fit the task and link. Nothing is trusted: each
 * count is bounded and each array's length checked before it is read.
 *
 * Engine: per block, preprocess each row into a feature block, then run the estimator on
 * the block. Scratch: features RT_BLOCK x width, prep scratch, estimator scratch.
 *
 * Ownership: struct rt_kiln (model->impl) owns the prep program and the estimator.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "runtime/runtime_int.h"

#define KILN_FORMAT_VERSION 1
#define MAX_NAME 1024

enum est_kind { EST_LINEAR, EST_TREES, EST_MLP };

struct rt_kiln {
    struct rt_prep *prep;
    size_t width;
    size_t prep_scratch;
    enum est_kind kind;
    struct rt_linear *lin;
    struct rt_trees *trees;
    struct rt_mlp *mlp;
};

int rt_json_size(const json_t *obj, const char *field, size_t max, size_t *out, const char *where,
                 struct kiln_err *err)
{
    const json_t *v = json_object_get(obj, field);
    json_int_t i;

    if (v == NULL)
        return kiln_err_set(err, KILN_EINVAL, "%s: missing field '%s'", where, field);
    if (!json_is_integer(v))
        return kiln_err_set(err, KILN_EINVAL, "%s: '%s' must be an integer", where, field);
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max)
        return kiln_err_set(err, KILN_EINVAL, "%s: '%s' = %lld is out of range (0..%zu)", where,
                            field, (long long)i, max);
    *out = (size_t)i;
    return KILN_OK;
}

int rt_json_doubles(const json_t *arr, size_t n, double *out, const char *where,
                    struct kiln_err *err)
{
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return kiln_err_set(err, KILN_EINVAL, "%s: expected a list of %zu numbers, got %s%zu",
                            where, n, json_is_array(arr) ? "" : "a non-list of size ",
                            json_is_array(arr) ? json_array_size(arr) : 0);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_string_value(v);
        if (s != NULL && strcmp(s, "Infinity") == 0)
            out[i] = INFINITY;
        else if (s != NULL && strcmp(s, "-Infinity") == 0)
            out[i] = -INFINITY;
        else if (json_is_number(v))
            out[i] = json_number_value(v);
        else
            return kiln_err_set(err, KILN_EINVAL, "%s: item %zu is not a number", where, i);
    }
    return KILN_OK;
}

int rt_json_ints(const json_t *arr, size_t n, int64_t *out, const char *where, struct kiln_err *err)
{
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return kiln_err_set(err, KILN_EINVAL, "%s: expected a list of %zu integers", where, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v))
            return kiln_err_set(err, KILN_EINVAL, "%s: item %zu is not an integer", where, i);
        out[i] = (int64_t)json_integer_value(v);
    }
    return KILN_OK;
}

int rt_json_double_array(const json_t *obj, const char *field, size_t n, double **out,
                         const char *where, struct kiln_err *err)
{
    char w[160];
    double *a = kiln_malloc((n ? n : 1) * sizeof(double));
    int rc;

    if (a == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    snprintf(w, sizeof(w), "%s: '%s'", where, field);
    rc = rt_json_doubles(json_object_get(obj, field), n, a, w, err);
    if (rc != KILN_OK) {
        kiln_free(a);
        return rc;
    }
    *out = a;
    return KILN_OK;
}

static void kiln_impl_free(void *impl)
{
    struct rt_kiln *k = impl;
    if (k == NULL)
        return;
    rt_prep_free(k->prep);
    rt_linear_free(k->lin);
    rt_trees_free(k->trees);
    rt_mlp_free(k->mlp);
    kiln_free(k);
}

static int kiln_run(const struct kiln_rt_model *m, unsigned char *scratch, const double *x,
                    size_t nb, double *raw, struct kiln_err *err)
{
    const struct rt_kiln *k = m->impl;
    size_t F = m->n_inputs, W = k->width;
    double *feat = rt_carve(&scratch, RT_BLOCK * W * sizeof(double));
    unsigned char *ps = scratch;
    int rc;

    if (k->prep == NULL) {
        memcpy(feat, x, nb * F * sizeof(double));
    } else {
        rt_carve(&scratch, k->prep_scratch);
        for (size_t r = 0; r < nb; r++) {
            rc = rt_prep_row(k->prep, x + r * F, feat + r * W, ps, err);
            if (rc != KILN_OK)
                return rc;
        }
    }
    switch (k->kind) {
    case EST_LINEAR:
        rt_linear_run(k->lin, feat, W, nb, raw);
        break;
    case EST_TREES:
        rt_trees_run(k->trees, feat, W, nb, raw, scratch);
        break;
    case EST_MLP:
        rt_mlp_run(k->mlp, feat, W, nb, raw, scratch);
        break;
    }
    return KILN_OK;
}

static int load_input(struct kiln_rt_model *m, size_t i, const json_t *spec, const char *where,
                      struct kiln_err *err)
{
    struct kiln_rt_input *in = &m->inputs[i];
    const char *name = json_string_value(json_object_get(spec, "name"));
    const char *type = json_string_value(json_object_get(spec, "type"));
    const json_t *cats = json_object_get(spec, "categories");
    const char **texts = NULL;
    char w[96];
    int rc;

    snprintf(w, sizeof(w), "%s: input %zu", where, i);
    if (!json_is_object(spec) || name == NULL || name[0] == '\0' || type == NULL)
        return kiln_err_set(err, KILN_EINVAL, "%s: needs a non-empty 'name' and a 'type'", w);
    if (strlen(name) > MAX_NAME)
        return kiln_err_set(err, KILN_EINVAL, "%s: name longer than %d bytes", w, MAX_NAME);
    for (size_t j = 0; j < i; j++)
        if (strcmp(m->inputs[j].name, name) == 0)
            return kiln_err_set(err, KILN_EINVAL, "%s: input name '%s' is used twice", where, name);
    in->name = kiln_strdup(name);
    if (in->name == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    rc = rt_type_parse(type, &in->type, w, err);
    if (rc != KILN_OK)
        return rc;
    in->required = !json_is_false(json_object_get(spec, "required"));
    in->allow_missing = json_is_true(json_object_get(spec, "allow_missing"));
    in->allow_unknown = json_is_true(json_object_get(spec, "allow_unknown"));
    if (in->type != KILN_RT_STRING) {
        if (cats != NULL || in->allow_unknown)
            return kiln_err_set(err, KILN_EINVAL, "%s ('%s'): only string inputs have categories",
                                w, name);
        return KILN_OK;
    }
    if (!json_is_array(cats) || json_array_size(cats) > RT_MAX_CATEGORIES)
        return kiln_err_set(err, KILN_EINVAL, "%s ('%s'): string input needs a 'categories' list",
                            w, name);
    texts = kiln_calloc(json_array_size(cats) + 1, sizeof(*texts));
    if (texts == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    for (size_t k = 0; k < json_array_size(cats); k++) {
        texts[k] = json_string_value(json_array_get(cats, k));
        if (texts[k] == NULL) {
            kiln_free(texts);
            return kiln_err_set(err, KILN_EINVAL, "%s ('%s'): category %zu is not a string", w,
                                name, k);
        }
    }
    rc = rt_vocab_build(m, i, texts, json_array_size(cats), err);
    kiln_free(texts);
    return rc;
}

static int load_inputs(struct kiln_rt_model *m, const json_t *doc, const char *where,
                       struct kiln_err *err)
{
    const json_t *inputs = json_object_get(doc, "inputs");
    size_t n = json_array_size(inputs);
    int rc;

    if (!json_is_array(inputs) || n == 0 || n > RT_MAX_FEATURES)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'inputs' must be a non-empty list", where);
    if (rt_model_alloc_inputs(m, n) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    for (size_t i = 0; i < n; i++) {
        rc = load_input(m, i, json_array_get(inputs, i), where, err);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int load_task(struct kiln_rt_model *m, const json_t *doc, const char *where,
                     struct kiln_err *err)
{
    const char *task = json_string_value(json_object_get(doc, "task"));
    const char *mo = json_string_value(json_object_get(doc, "mlflow_output"));
    const json_t *classes = json_object_get(doc, "classes");
    int rc;

    if (task != NULL && strcmp(task, "classification") == 0) {
        size_t n = json_array_size(classes);
        m->task = KILN_RT_CLASSIFIER;
        m->mlflow_out = KILN_RT_OUT_LABEL;
        if (!json_is_array(classes) || n < 2 || n > RT_MAX_OUTPUTS)
            return kiln_err_set(err, KILN_EINVAL, "%s: 'classes' must list at least 2 labels",
                                where);
        m->classes = kiln_calloc(n, sizeof(*m->classes));
        if (m->classes == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
        m->n_classes = n;
        for (size_t k = 0; k < n; k++) {
            rc = rt_class_set(m, k, json_array_get(classes, k), err);
            if (rc != KILN_OK)
                return kiln_err_set(err, rc, "%s: %s", where, "malformed class label");
            for (size_t j = 0; j < k; j++)
                if (strcmp(m->classes[j].text, m->classes[k].text) == 0)
                    return kiln_err_set(err, KILN_EINVAL, "%s: class '%s' is listed twice", where,
                                        m->classes[k].text);
        }
    } else if (task != NULL && strcmp(task, "regression") == 0) {
        m->task = KILN_RT_REGRESSOR;
        m->mlflow_out = KILN_RT_OUT_VALUE;
        m->n_outputs = 1;
        if (json_object_get(doc, "n_outputs") != NULL) {
            rc = rt_json_size(doc, "n_outputs", RT_MAX_OUTPUTS, &m->n_outputs, where, err);
            if (rc != KILN_OK)
                return rc;
            if (m->n_outputs == 0)
                return kiln_err_set(err, KILN_EINVAL, "%s: 'n_outputs' must be at least 1", where);
        }
    } else {
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: 'task' must be \"classification\" or \"regression\"", where);
    }
    if (mo != NULL) {
        if (strcmp(mo, "label") == 0 && m->task == KILN_RT_CLASSIFIER)
            m->mlflow_out = KILN_RT_OUT_LABEL;
        else if (strcmp(mo, "proba") == 0 && m->task == KILN_RT_CLASSIFIER)
            m->mlflow_out = KILN_RT_OUT_PROBA;
        else if (strcmp(mo, "value") == 0 && m->task == KILN_RT_REGRESSOR)
            m->mlflow_out = KILN_RT_OUT_VALUE;
        else
            return kiln_err_set(err, KILN_EINVAL,
                                "%s: 'mlflow_output' '%.20s' does not fit the task", where, mo);
    }
    return KILN_OK;
}

/* Raw score count and link must fit the task. */
static int check_link(struct kiln_rt_model *m, const json_t *est, const char *where,
                      struct kiln_err *err)
{
    int rc = rt_link_parse(json_string_value(json_object_get(est, "link")), &m->link, where, err);
    size_t K = m->n_raw;

    if (rc != KILN_OK)
        return rc;
    if (m->task == KILN_RT_REGRESSOR) {
        if (K != m->n_outputs)
            return kiln_err_set(err, KILN_EINVAL, "%s: model has %zu outputs, the task %zu", where,
                                K, m->n_outputs);
        if (m->link != RT_LINK_IDENTITY && m->link != RT_LINK_EXP && m->link != RT_LINK_SIGMOID)
            return kiln_err_set(err, KILN_EINVAL, "%s: link does not fit a regression", where);
        return KILN_OK;
    }
    if (K == 1 && m->n_classes == 2 && (m->link == RT_LINK_SIGMOID || m->link == RT_LINK_IDENTITY))
        return KILN_OK;
    if (K == m->n_classes && m->link != RT_LINK_EXP && m->link != RT_LINK_SIGMOID)
        return KILN_OK;
    return kiln_err_set(err, KILN_EINVAL,
                        "%s: %zu outputs with this link do not fit %zu classes (use 1 output "
                        "with 'sigmoid' for 2 classes, or one per class)",
                        where, K, m->n_classes);
}

static int load_estimator(struct kiln_rt_model *m, struct rt_kiln *k, const json_t *doc,
                          const char *name, struct kiln_err *err)
{
    const json_t *est = json_object_get(doc, "model");
    const char *type = json_string_value(json_object_get(est, "type"));
    char where[96];
    size_t nf;
    int rc;

    snprintf(where, sizeof(where), "%s: model", name);
    if (!json_is_object(est) || type == NULL)
        return kiln_err_set(err, KILN_EINVAL, "%s: missing 'model' object with a 'type'", name);
    rc = rt_json_size(est, "n_features", RT_MAX_FEATURES, &nf, where, err);
    if (rc != KILN_OK)
        return rc;
    if (nf != k->width)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: expects %zu features but the inputs and preprocessing give %zu",
                            where, nf, k->width);
    rc = rt_json_size(est, "n_outputs", RT_MAX_OUTPUTS, &m->n_raw, where, err);
    if (rc != KILN_OK)
        return rc;
    if (m->n_raw == 0)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'n_outputs' must be at least 1", where);
    rc = check_link(m, est, where, err);
    if (rc != KILN_OK)
        return rc;
    if (strcmp(type, "linear") == 0) {
        k->kind = EST_LINEAR;
        m->engine = "linear";
        return rt_linear_load(est, nf, m->n_raw, &k->lin, where, err);
    }
    if (strcmp(type, "tree_ensemble") == 0) {
        k->kind = EST_TREES;
        m->engine = "trees";
        rc = rt_trees_load_json(est, nf, m->n_raw, &k->trees, where, err);
        if (rc == KILN_OK)
            m->scratch_bytes += rt_trees_scratch(k->trees);
        return rc;
    }
    if (strcmp(type, "mlp") == 0) {
        k->kind = EST_MLP;
        rc = rt_mlp_load(est, nf, m->n_raw, &k->mlp, where, err);
        if (rc == KILN_OK) {
            m->engine = rt_mlp_engine(k->mlp);
            m->scratch_bytes += rt_mlp_scratch(k->mlp);
        }
        return rc;
    }
    return kiln_err_set(err, KILN_EINVAL, "%s: unknown model type '%.40s'", where, type);
}

static int load_doc(struct kiln_rt_model *m, const json_t *doc, const char *name,
                    struct kiln_err *err)
{
    struct rt_kiln *k;
    const json_t *fv = json_object_get(doc, "format_version");
    const json_t *steps = json_object_get(doc, "preprocessing");
    const char *format = json_string_value(json_object_get(doc, "format"));
    int rc;

    if (!json_is_object(doc))
        return kiln_err_set(err, KILN_EINVAL, "%s: not a JSON object", name);
    if (format == NULL || strcmp(format, "kiln-model") != 0)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'format' must be \"kiln-model\"", name);
    if (!json_is_integer(fv) || json_integer_value(fv) < 1)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'format_version' must be a positive integer",
                            name);
    if (json_integer_value(fv) > KILN_FORMAT_VERSION)
        return kiln_err_set(err, KILN_ENOTSUP,
                            "%s: format_version %lld is newer than this kiln reads (%d)", name,
                            (long long)json_integer_value(fv), KILN_FORMAT_VERSION);
    rc = load_task(m, doc, name, err);
    if (rc == KILN_OK)
        rc = load_inputs(m, doc, name, err);
    if (rc != KILN_OK)
        return rc;
    k = kiln_calloc(1, sizeof(*k));
    if (k == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    m->impl = k;
    m->impl_free = kiln_impl_free;
    m->run = kiln_run;
    k->width = m->n_inputs;
    if (steps != NULL && !json_is_null(steps) && json_array_size(steps) > 0) {
        rc = rt_prep_load(steps, m, &k->prep, &k->width, name, err);
        if (rc != KILN_OK)
            return rc;
        k->prep_scratch = rt_round64(rt_prep_scratch(k->prep));
    } else {
        for (size_t i = 0; i < m->n_inputs; i++)
            if (m->inputs[i].type == KILN_RT_STRING)
                return kiln_err_set(err, KILN_EINVAL,
                                    "%s: string input '%s' must be one-hot encoded by a "
                                    "preprocessing step",
                                    name, m->inputs[i].name);
    }
    rc = load_estimator(m, k, doc, name, err);
    if (rc != KILN_OK)
        return rc;
    m->scratch_bytes += rt_round64(RT_BLOCK * k->width * sizeof(double)) + k->prep_scratch;
    return KILN_OK;
}

int rt_kiln_load_json(struct kiln_rt_model *m, const char *text, size_t len, const char *name,
                      struct kiln_err *err)
{
    json_t *doc = NULL;
    struct kiln_err sub = { 0 };
    int rc = kiln_json_parse_any(text, len, &doc, &sub);

    m->flavor = "kiln";
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "%s: %s", name, sub.msg);
    rc = load_doc(m, doc, name, err);
    json_decref(doc);
    return rc;
}

/*
 * xgb.c - the `xgboost` flavor: models written by mlflow.xgboost (Booster or scikit-learn
 * wrapper; JSON, UBJ or legacy binary files).
 *
 * The model is read as xgboost's JSON document (directly for JSON files, through libxgboost
 * for UBJ and binary ones), which gives the objective, classes, features and trees. Then:
 *   - kiln engine (default when possible): plain gbtree models with numerical splits and a
 *     supported objective are converted to kiln's tree engine with xgboost's exact
 *     arithmetic: inputs rounded to float32, "x < split" turned into "x <= the float just
 *     below split", leaf values summed in float32 in tree order from the base margin;
 *   - libxgboost engine: everything else (dart, gblinear, categorical splits, other
 *     objectives), or when asked for, via XGBoosterPredictFromDense.
 *
 * Class labels come from the scikit-learn wrapper's saved `classes_` (else 0..n-1). The
 * scikit-learn wrapper predicts with the trees up to `best_iteration`, as XGBModel.predict
 * does; a plain Booster uses every tree.
 *
 * Ownership: struct rt_xgb (model->impl) owns the converted trees or the booster.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "runtime/mlmodel.h"
#include "runtime/runtime_int.h"

enum margin_fn { MARGIN_ID, MARGIN_LOGIT, MARGIN_LOG };

struct objspec {
    const char *name;
    enum kiln_rt_task task;
    enum margin_fn margin;
    enum rt_link link;     /* native engine: link applied to the summed margin */
    int lib_type;          /* libxgboost engine: 0 value, 1 margin */
    enum rt_link lib_link; /* libxgboost engine: link applied to its output */
    enum kiln_rt_mlflow_output booster_out;
    int native;
};

static const struct objspec objectives[] = {
    { "binary:logistic", KILN_RT_CLASSIFIER, MARGIN_LOGIT, RT_LINK_SIGMOID, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_PROBA, 1 },
    { "binary:logitraw", KILN_RT_CLASSIFIER, MARGIN_LOGIT, RT_LINK_SIGMOID, 0, RT_LINK_SIGMOID,
      KILN_RT_OUT_PROBA, 1 },
    { "binary:hinge", KILN_RT_CLASSIFIER, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_LABEL, 0 },
    { "multi:softprob", KILN_RT_CLASSIFIER, MARGIN_ID, RT_LINK_SOFTMAX, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_PROBA, 1 },
    { "multi:softmax", KILN_RT_CLASSIFIER, MARGIN_ID, RT_LINK_SOFTMAX, 1, RT_LINK_SOFTMAX,
      KILN_RT_OUT_LABEL, 1 },
    { "reg:squarederror", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:linear", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:squaredlogerror", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:pseudohubererror", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:absoluteerror", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:logistic", KILN_RT_REGRESSOR, MARGIN_LOGIT, RT_LINK_SIGMOID, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "count:poisson", KILN_RT_REGRESSOR, MARGIN_LOG, RT_LINK_EXP, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:gamma", KILN_RT_REGRESSOR, MARGIN_LOG, RT_LINK_EXP, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "reg:tweedie", KILN_RT_REGRESSOR, MARGIN_LOG, RT_LINK_EXP, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "rank:pairwise", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "rank:ndcg", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
    { "rank:map", KILN_RT_REGRESSOR, MARGIN_ID, RT_LINK_IDENTITY, 0, RT_LINK_IDENTITY,
      KILN_RT_OUT_VALUE, 1 },
};

/* What the xgboost document says. Pointers borrow from the jansson tree. */
struct xmeta {
    const struct objspec *obj;
    const char *booster;
    size_t num_class, num_feature, num_target, num_parallel_tree;
    float base_score;
    const json_t *trees, *tree_info, *feature_names;
    long best_iteration;
    json_t *sk;     /* parsed scikit_learn attribute (owned) or NULL */
    int sk_wrapper; /* the MLmodel names a scikit-learn wrapper class */
    const char *why_not_native;
};

struct rt_xgb {
    struct rt_trees *trees;
    struct rt_xgblib *lib;
};

static void xgb_free(void *impl)
{
    struct rt_xgb *x = impl;
    if (x == NULL)
        return;
    rt_trees_free(x->trees);
    rt_xgblib_free(x->lib);
    kiln_free(x);
}

static int xgb_run(const struct kiln_rt_model *m, unsigned char *scratch, const double *x,
                   size_t nb, double *raw, struct kiln_err *err)
{
    const struct rt_xgb *xm = m->impl;
    if (xm->trees != NULL) {
        rt_trees_run(xm->trees, x, m->n_inputs, nb, raw, scratch);
        return KILN_OK;
    }
    return rt_xgblib_run(xm->lib, x, nb, raw, err);
}

/* A number xgboost wrote as a string ("5E-1") or a number. */
static int num_field(const json_t *obj, const char *field, double *out)
{
    const json_t *v = json_object_get(obj, field);
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return KILN_OK;
    }
    if (json_is_string(v))
        return kiln_parse_double(json_string_value(v), json_string_length(v), out);
    return KILN_EINVAL;
}

static int size_field(const json_t *obj, const char *field, size_t max, size_t *out)
{
    double d;
    if (num_field(obj, field, &d) != KILN_OK || d != floor(d) || d < 0 || d > (double)max)
        return KILN_EINVAL;
    *out = (size_t)d;
    return KILN_OK;
}

static int read_meta(const json_t *doc, struct xmeta *xm, const char *name, struct kiln_err *err)
{
    const json_t *learner = json_object_get(doc, "learner");
    const json_t *lmp = json_object_get(learner, "learner_model_param");
    const json_t *gb = json_object_get(learner, "gradient_booster");
    const json_t *model = json_object_get(gb, "model");
    const json_t *attrs = json_object_get(learner, "attributes");
    const char *objname =
        json_string_value(json_object_get(json_object_get(learner, "objective"), "name"));
    const char *s;
    double bs;

    if (!json_is_object(learner) || !json_is_object(lmp) || !json_is_object(gb))
        return kiln_err_set(err, KILN_EINVAL, "%s: not an xgboost model (no learner)", name);
    for (size_t i = 0; objname != NULL && i < KILN_ARRAY_LEN(objectives); i++)
        if (strcmp(objectives[i].name, objname) == 0)
            xm->obj = &objectives[i];
    if (xm->obj == NULL)
        return kiln_err_set(err, KILN_ENOTSUP, "%s: xgboost objective '%.40s' is not supported",
                            name, objname ? objname : "(none)");
    if (size_field(lmp, "num_class", RT_MAX_OUTPUTS, &xm->num_class) != KILN_OK ||
        size_field(lmp, "num_feature", RT_MAX_FEATURES, &xm->num_feature) != KILN_OK ||
        num_field(lmp, "base_score", &bs) != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: malformed learner_model_param (num_class, num_feature, "
                            "base_score)",
                            name);
    xm->num_target = 1;
    if (json_object_get(lmp, "num_target") != NULL &&
        size_field(lmp, "num_target", RT_MAX_OUTPUTS, &xm->num_target) != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "%s: malformed num_target", name);
    if (xm->num_feature == 0 || !isfinite(bs))
        return kiln_err_set(err, KILN_EINVAL, "%s: model has no features or a bad base_score",
                            name);
    xm->base_score = (float)bs;
    if (xm->obj->task == KILN_RT_CLASSIFIER && strncmp(xm->obj->name, "multi:", 6) == 0 &&
        xm->num_class < 2)
        return kiln_err_set(err, KILN_EINVAL, "%s: multi-class objective with num_class < 2", name);
    xm->booster = json_string_value(json_object_get(gb, "name"));
    if (xm->booster != NULL && strcmp(xm->booster, "dart") == 0)
        model = json_object_get(json_object_get(gb, "gbtree"), "model");
    xm->trees = json_object_get(model, "trees");
    xm->tree_info = json_object_get(model, "tree_info");
    xm->num_parallel_tree = 1;
    size_field(json_object_get(model, "gbtree_model_param"), "num_parallel_tree", RT_MAX_TREES,
               &xm->num_parallel_tree);
    if (xm->num_parallel_tree == 0)
        xm->num_parallel_tree = 1;
    xm->feature_names = json_object_get(learner, "feature_names");
    xm->best_iteration = -1;
    s = json_string_value(json_object_get(attrs, "best_iteration"));
    if (s != NULL) {
        int64_t bi;
        if (kiln_parse_int64(s, strlen(s), &bi) == KILN_OK && bi >= 0 && bi < 1000000000)
            xm->best_iteration = (long)bi;
    }
    s = json_string_value(json_object_get(attrs, "scikit_learn"));
    if (s != NULL && kiln_json_parse_any(s, strlen(s), &xm->sk, NULL) != KILN_OK)
        xm->sk = NULL;
    return KILN_OK;
}

/* Why the kiln engine cannot run this model, or NULL when it can. */
static const char *native_blocker(const struct xmeta *xm)
{
    size_t n = json_array_size(xm->trees);
    if (xm->booster == NULL || strcmp(xm->booster, "gbtree") != 0)
        return "only gbtree boosters run on kiln's tree engine";
    if (!xm->obj->native)
        return "the objective needs libxgboost";
    if (xm->num_target != 1)
        return "multi-target models need libxgboost";
    if (!json_is_array(xm->trees) || n == 0 || json_array_size(xm->tree_info) != n)
        return "the model has no trees";
    for (size_t i = 0; i < n; i++) {
        const json_t *st = json_object_get(json_array_get(xm->trees, i), "split_type");
        for (size_t k = 0; k < json_array_size(st); k++)
            if (json_integer_value(json_array_get(st, k)) != 0)
                return "categorical splits need libxgboost";
    }
    return NULL;
}

static float base_margin(const struct xmeta *xm)
{
    float b = xm->base_score;
    if (xm->obj->margin == MARGIN_LOGIT)
        return -logf(1.0f / b - 1.0f);
    if (xm->obj->margin == MARGIN_LOG)
        return logf(b);
    return b;
}

/* One xgboost tree -> rt_tree_in, with thresholds turned into "x <= t" form. */
static int convert_tree(struct rt_trees *t, const json_t *tj, size_t output, size_t ti,
                        const char *name, struct kiln_err *err)
{
    const json_t *lc = json_object_get(tj, "left_children");
    const json_t *rc_ = json_object_get(tj, "right_children");
    const json_t *si = json_object_get(tj, "split_indices");
    const json_t *sc = json_object_get(tj, "split_conditions");
    const json_t *dl = json_object_get(tj, "default_left");
    size_t n = json_array_size(lc);
    int64_t *left = NULL, *right = NULL, *feat = NULL;
    double *thr = NULL, *val = NULL;
    unsigned char *ml = NULL;
    struct rt_tree_in in;
    char where[128];
    int rc = KILN_OK;

    snprintf(where, sizeof(where), "%s: tree %zu", name, ti);
    if (n == 0 || n > RT_MAX_NODES || json_array_size(rc_) != n || json_array_size(si) != n ||
        json_array_size(sc) != n || json_array_size(dl) != n)
        return kiln_err_set(err, KILN_EINVAL, "%s: node arrays missing or of different lengths",
                            where);
    left = kiln_malloc(n * sizeof(int64_t));
    right = kiln_malloc(n * sizeof(int64_t));
    feat = kiln_malloc(n * sizeof(int64_t));
    thr = kiln_malloc(n * sizeof(double));
    val = kiln_malloc(n * sizeof(double));
    ml = kiln_malloc(n);
    if (left == NULL || right == NULL || feat == NULL || thr == NULL || val == NULL || ml == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
        goto out;
    }
    rc = rt_json_ints(lc, n, left, where, err);
    if (rc == KILN_OK)
        rc = rt_json_ints(rc_, n, right, where, err);
    if (rc == KILN_OK)
        rc = rt_json_ints(si, n, feat, where, err);
    if (rc == KILN_OK)
        rc = rt_json_doubles(sc, n, val, where, err);
    for (size_t i = 0; rc == KILN_OK && i < n; i++) {
        const json_t *d = json_array_get(dl, i);
        float c = (float)val[i];
        ml[i] = json_is_true(d) || (json_is_integer(d) && json_integer_value(d) != 0);
        /* For float x: x < c  <=>  x <= nextafterf(c, -inf). */
        thr[i] = isinf(c) && c < 0 ? -INFINITY : (double)nextafterf(c, -INFINITY);
        val[i] = (double)c;
    }
    if (rc != KILN_OK)
        goto out;
    memset(&in, 0, sizeof(in));
    in.n_nodes = n;
    in.left = left;
    in.right = right;
    in.feature = feat;
    in.threshold = thr;
    in.missing_left = ml;
    in.value = val;
    in.output = output;
    rc = rt_trees_add(t, &in, where, err);
out:
    kiln_free(left);
    kiln_free(right);
    kiln_free(feat);
    kiln_free(thr);
    kiln_free(val);
    kiln_free(ml);
    return rc;
}

/* Trees used at predict time: all, or up to best_iteration for scikit-learn wrappers. */
static size_t trees_used(const struct xmeta *xm, size_t n_trees)
{
    size_t per_iter = xm->num_parallel_tree * (xm->num_class > 1 ? xm->num_class : 1);
    if (!xm->sk_wrapper || xm->best_iteration < 0)
        return n_trees;
    if ((size_t)xm->best_iteration + 1 > n_trees / per_iter)
        return n_trees;
    return ((size_t)xm->best_iteration + 1) * per_iter;
}

static int build_native(struct kiln_rt_model *m, struct rt_xgb *x, const struct xmeta *xm,
                        const char *name, struct kiln_err *err)
{
    size_t n = json_array_size(xm->trees), K = m->n_raw;
    double *basev = kiln_malloc(K * sizeof(double));
    struct rt_trees_cfg cfg;
    int rc = KILN_OK;

    if (basev == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    for (size_t k = 0; k < K; k++)
        basev[k] = (double)base_margin(xm);
    memset(&cfg, 0, sizeof(cfg));
    cfg.n_features = xm->num_feature;
    cfg.n_outputs = K;
    cfg.leaf_size = 1;
    cfg.n_trees = n;
    cfg.input_f32 = 1;
    cfg.acc_f32 = 1;
    cfg.base = basev;
    rc = rt_trees_new(&cfg, &x->trees, err);
    kiln_free(basev);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "%s: tree ensemble dimensions out of range", name);
    for (size_t i = 0; i < n && rc == KILN_OK; i++) {
        const json_t *g = json_array_get(xm->tree_info, i);
        if (!json_is_integer(g) || json_integer_value(g) < 0 || (size_t)json_integer_value(g) >= K)
            return kiln_err_set(err, KILN_EINVAL, "%s: tree_info[%zu] out of range", name, i);
        rc = convert_tree(x->trees, json_array_get(xm->trees, i), (size_t)json_integer_value(g), i,
                          name, err);
    }
    if (rc == KILN_OK)
        rc = rt_trees_finish(x->trees, err);
    if (rc != KILN_OK)
        return rc;
    rt_trees_truncate(x->trees, trees_used(xm, n));
    m->link = xm->obj->link;
    m->link_f32 = 1;
    m->engine = "trees";
    m->scratch_bytes += rt_trees_scratch(x->trees);
    return KILN_OK;
}

/* Inputs from the MLmodel signature, else the booster's feature names, else f0, f1, ... */
static int set_inputs(struct kiln_rt_model *m, const struct kiln_mlmodel *mm,
                      const struct xmeta *xm, const char *name, struct kiln_err *err)
{
    size_t F = xm->num_feature;
    int rc;

    if (mm != NULL && mm->has_signature && mm->n_inputs != F)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: the MLmodel signature has %zu inputs but the booster %zu "
                            "features",
                            name, mm->n_inputs, F);
    if (rt_model_alloc_inputs(m, F) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    for (size_t i = 0; i < F; i++) {
        struct kiln_rt_input *in = &m->inputs[i];
        const char *fname = json_string_value(json_array_get(xm->feature_names, i));
        char buf[32];
        in->type = KILN_RT_DOUBLE;
        in->required = 1;
        if (mm != NULL && mm->has_signature) {
            rc = rt_type_parse(mm->inputs[i].type, &in->type, name, err);
            if (rc == KILN_OK && in->type == KILN_RT_STRING)
                rc = kiln_err_set(err, KILN_ENOTSUP,
                                  "%s: string input '%s' is not supported for xgboost models", name,
                                  mm->inputs[i].name);
            if (rc != KILN_OK)
                return rc;
            fname = mm->inputs[i].name;
            in->required = mm->inputs[i].required;
        } else if (fname == NULL || json_array_size(xm->feature_names) != F) {
            snprintf(buf, sizeof(buf), "f%zu", i);
            fname = buf;
        }
        in->allow_missing = in->type == KILN_RT_DOUBLE || in->type == KILN_RT_FLOAT;
        in->name = kiln_strdup(fname);
        if (in->name == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    }
    return KILN_OK;
}

static int set_task(struct kiln_rt_model *m, const struct xmeta *xm, const char *name,
                    struct kiln_err *err)
{
    const json_t *classes = json_object_get(xm->sk, "classes_");
    size_t C;

    m->task = xm->obj->task;
    if (m->task == KILN_RT_REGRESSOR) {
        m->n_outputs = m->n_raw = xm->num_target;
        m->mlflow_out = KILN_RT_OUT_VALUE;
        return KILN_OK;
    }
    C = xm->num_class > 1 ? xm->num_class : 2;
    m->n_raw = xm->num_class > 1 ? xm->num_class : 1;
    m->mlflow_out = xm->sk_wrapper ? KILN_RT_OUT_LABEL : xm->obj->booster_out;
    if (json_is_array(classes) && json_array_size(classes) == C) {
        m->classes = kiln_calloc(C, sizeof(*m->classes));
        if (m->classes == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
        m->n_classes = C;
        for (size_t k = 0; k < C; k++) {
            int rc = rt_class_set(m, k, json_array_get(classes, k), err);
            if (rc != KILN_OK)
                return rc;
        }
        return KILN_OK;
    }
    if (rt_classes_range(m, C) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    return KILN_OK;
}

static int is_json_text(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
        i++;
    return i + 1 < len && data[i] == '{' &&
           (data[i + 1] == '"' || data[i + 1] == ' ' || data[i + 1] == '\n' || data[i + 1] == '}');
}

static int use_lib(struct kiln_rt_model *m, struct rt_xgb *x, const struct xmeta *xm,
                   const char *data, size_t len, const struct kiln_rt_load_opts *opts,
                   const char *name, struct kiln_err *err)
{
    int nthread = opts != NULL && opts->xgb_nthread > 0 ? opts->xgb_nthread : 1;
    size_t n = json_array_size(xm->trees);
    unsigned iter_end = 0;
    int rc;

    if (x->lib == NULL) {
        rc = rt_xgblib_open(data, len, nthread, &x->lib, name, err);
        if (rc != KILN_OK)
            return rc;
    }
    if (xm->sk_wrapper && xm->best_iteration >= 0 && n > 0 && trees_used(xm, n) < n)
        iter_end = (unsigned)xm->best_iteration + 1;
    m->link = xm->obj->lib_link;
    m->engine = "libxgboost";
    return rt_xgblib_configure(x->lib, xm->num_feature, m->n_raw, xm->obj->lib_type, iter_end, err);
}

int rt_xgb_load(struct kiln_rt_model *m, const struct kiln_mlmodel *mm, const char *data,
                size_t len, const char *name, const struct kiln_rt_load_opts *opts,
                struct kiln_err *err)
{
    enum kiln_rt_xgb_engine want = opts != NULL ? opts->xgb_engine : KILN_RT_XGB_AUTO;
    const char *cls = mm != NULL ? kiln_mlmodel_flavor_str(mm, "xgboost", "model_class") : NULL;
    struct xmeta xm;
    struct rt_xgb *x;
    json_t *doc = NULL;
    char *json = NULL;
    size_t jlen = 0;
    struct kiln_err sub = { 0 };
    int nthread = opts != NULL && opts->xgb_nthread > 0 ? opts->xgb_nthread : 1;
    int rc;

    memset(&xm, 0, sizeof(xm));
    m->flavor = "xgboost";
    x = kiln_calloc(1, sizeof(*x));
    if (x == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    m->impl = x;
    m->impl_free = xgb_free;
    m->run = xgb_run;
    xm.sk_wrapper = cls != NULL && strncmp(cls, "xgboost.sklearn.", 16) == 0;
    if (is_json_text(data, len)) {
        rc = kiln_json_parse_any(data, len, &doc, &sub);
        if (rc != KILN_OK) {
            rc = kiln_err_set(err, rc, "%s: %s", name, sub.msg);
            goto out;
        }
    } else {
        if (!rt_xgblib_available()) {
            rc = kiln_err_set(err, KILN_ENOTSUP,
                              "%s: UBJ and binary xgboost models need libxgboost: %s (save "
                              "the model as JSON)",
                              name, rt_xgblib_why_not());
            goto out;
        }
        rc = rt_xgblib_open(data, len, nthread, &x->lib, name, err);
        if (rc == KILN_OK)
            rc = rt_xgblib_json(x->lib, &json, &jlen, name, err);
        if (rc == KILN_OK) {
            rc = kiln_json_parse_any(json, jlen, &doc, &sub);
            if (rc != KILN_OK)
                rc = kiln_err_set(err, rc, "%s: %s", name, sub.msg);
        }
        if (rc != KILN_OK)
            goto out;
    }
    rc = read_meta(doc, &xm, name, err);
    if (rc == KILN_OK)
        rc = set_task(m, &xm, name, err);
    if (rc == KILN_OK)
        rc = set_inputs(m, mm, &xm, name, err);
    if (rc != KILN_OK)
        goto out;
    xm.why_not_native = native_blocker(&xm);
    if (want == KILN_RT_XGB_LIBXGBOOST || (want == KILN_RT_XGB_AUTO && xm.why_not_native != NULL)) {
        if (!rt_xgblib_available()) {
            rc = kiln_err_set(err, KILN_ENOTSUP, "%s: %s, and %s", name,
                              xm.why_not_native ? xm.why_not_native : "libxgboost asked",
                              rt_xgblib_why_not());
            goto out;
        }
        rc = use_lib(m, x, &xm, data, len, opts, name, err);
        goto out;
    }
    if (xm.why_not_native != NULL) {
        rc = kiln_err_set(err, KILN_ENOTSUP, "%s: %s", name, xm.why_not_native);
        goto out;
    }
    rc = build_native(m, x, &xm, name, err);
    if (rc == KILN_OK && x->lib != NULL) {
        rt_xgblib_free(x->lib);
        x->lib = NULL;
    }
out:
    json_decref(xm.sk);
    json_decref(doc);
    kiln_free(json);
    return rc;
}

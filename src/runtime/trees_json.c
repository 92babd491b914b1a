/*
 * trees_json.c - reads a kiln "tree_ensemble" model object into struct rt_trees.
 *
 * Each tree is given column-wise, as scikit-learn stores it: left, right, feature,
 * threshold, optional missing_left, and value (n_nodes x leaf_size, flat). Array lengths are
 * checked against the node count before anything is read; trees.c checks the structure.
 *
 * Ownership: the temporary arrays of one tree are freed before the next is read.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

struct tree_arrays {
    int64_t *left, *right, *feature;
    double *thr, *value;
    unsigned char *ml;
};

static void arrays_release(struct tree_arrays *a)
{
    kiln_free(a->left);
    kiln_free(a->right);
    kiln_free(a->feature);
    kiln_free(a->thr);
    kiln_free(a->value);
    kiln_free(a->ml);
    memset(a, 0, sizeof(*a));
}

static int load_tree(struct rt_trees *t, const json_t *tj, size_t ti, size_t L, size_t K,
                     const char *where, struct kiln_err *err)
{
    struct tree_arrays a = { 0 };
    struct rt_tree_in in;
    const json_t *left = json_object_get(tj, "left");
    const json_t *ml = json_object_get(tj, "missing_left");
    const json_t *outj = json_object_get(tj, "output");
    size_t n = json_array_size(left);
    char w[160];
    int rc = KILN_OK;

    snprintf(w, sizeof(w), "%s: tree %zu", where, ti);
    if (!json_is_object(tj) || !json_is_array(left) || n == 0 || n > RT_MAX_NODES)
        return kiln_err_set(err, KILN_EINVAL, "%s: needs a non-empty 'left' list", w);
    if (L > 1 && n > RT_MAX_NODES / L)
        return kiln_err_set(err, KILN_EINVAL, "%s: too many leaf values", w);
    memset(&in, 0, sizeof(in));
    if (outj != NULL) {
        if (!json_is_integer(outj) || json_integer_value(outj) < 0 ||
            (uint64_t)json_integer_value(outj) >= K)
            return kiln_err_set(err, KILN_EINVAL, "%s: 'output' out of range (%zu outputs)", w, K);
        in.output = (size_t)json_integer_value(outj);
    }
    a.left = kiln_malloc(n * sizeof(int64_t));
    a.right = kiln_malloc(n * sizeof(int64_t));
    a.feature = kiln_malloc(n * sizeof(int64_t));
    a.thr = kiln_malloc(n * sizeof(double));
    a.value = kiln_malloc(n * L * sizeof(double));
    if (a.left == NULL || a.right == NULL || a.feature == NULL || a.thr == NULL ||
        a.value == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
        goto out;
    }
    {
        char f[200];
        snprintf(f, sizeof(f), "%s: 'left'", w);
        rc = rt_json_ints(left, n, a.left, f, err);
        snprintf(f, sizeof(f), "%s: 'right'", w);
        if (rc == KILN_OK)
            rc = rt_json_ints(json_object_get(tj, "right"), n, a.right, f, err);
        snprintf(f, sizeof(f), "%s: 'feature'", w);
        if (rc == KILN_OK)
            rc = rt_json_ints(json_object_get(tj, "feature"), n, a.feature, f, err);
        snprintf(f, sizeof(f), "%s: 'threshold'", w);
        if (rc == KILN_OK)
            rc = rt_json_doubles(json_object_get(tj, "threshold"), n, a.thr, f, err);
        snprintf(f, sizeof(f), "%s: 'value'", w);
        if (rc == KILN_OK)
            rc = rt_json_doubles(json_object_get(tj, "value"), n * L, a.value, f, err);
    }
    if (rc != KILN_OK)
        goto out;
    if (ml != NULL && !json_is_null(ml)) {
        if (!json_is_array(ml) || json_array_size(ml) != n) {
            rc = kiln_err_set(err, KILN_EINVAL, "%s: 'missing_left' must list %zu flags", w, n);
            goto out;
        }
        a.ml = kiln_malloc(n);
        if (a.ml == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(ml, i);
            if (!json_is_boolean(v) && !json_is_integer(v)) {
                rc = kiln_err_set(err, KILN_EINVAL, "%s: 'missing_left' item %zu is not a flag", w,
                                  i);
                goto out;
            }
            a.ml[i] = json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
        }
    }
    in.n_nodes = n;
    in.left = a.left;
    in.right = a.right;
    in.feature = a.feature;
    in.threshold = a.thr;
    in.missing_left = a.ml;
    in.value = a.value;
    rc = rt_trees_add(t, &in, w, err);
out:
    arrays_release(&a);
    return rc;
}

int rt_trees_load_json(const json_t *j, size_t F, size_t K, struct rt_trees **out,
                       const char *where, struct kiln_err *err)
{
    const json_t *trees = json_object_get(j, "trees");
    const json_t *basej = json_object_get(j, "base");
    const char *agg = json_string_value(json_object_get(j, "aggregate"));
    struct rt_trees_cfg cfg;
    struct rt_trees *t = NULL;
    double *base = NULL;
    int rc = KILN_OK;

    memset(&cfg, 0, sizeof(cfg));
    cfg.n_features = F;
    cfg.n_outputs = K;
    cfg.leaf_size = 1;
    cfg.n_trees = json_array_size(trees);
    if (!json_is_array(trees) || cfg.n_trees == 0 || cfg.n_trees > RT_MAX_TREES)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'trees' must be a non-empty list", where);
    if (json_object_get(j, "leaf_size") != NULL) {
        rc = rt_json_size(j, "leaf_size", RT_MAX_OUTPUTS, &cfg.leaf_size, where, err);
        if (rc != KILN_OK)
            return rc;
        if (cfg.leaf_size != 1 && cfg.leaf_size != K)
            return kiln_err_set(err, KILN_EINVAL, "%s: 'leaf_size' must be 1 or %zu", where, K);
    }
    if (agg == NULL || (strcmp(agg, "sum") != 0 && strcmp(agg, "mean") != 0))
        return kiln_err_set(err, KILN_EINVAL, "%s: 'aggregate' must be \"sum\" or \"mean\"", where);
    cfg.mean = strcmp(agg, "mean") == 0;
    cfg.input_f32 = json_is_true(json_object_get(j, "input_float32"));
    cfg.acc_f32 = json_is_true(json_object_get(j, "accumulate_float32"));
    if (cfg.acc_f32 && cfg.mean)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: 'accumulate_float32' only applies to summed trees", where);
    if (basej != NULL && !json_is_null(basej)) {
        rc = rt_json_double_array(j, "base", K, &base, where, err);
        if (rc != KILN_OK)
            return rc;
        for (size_t k = 0; k < K; k++)
            if (!isfinite(base[k])) {
                kiln_free(base);
                return kiln_err_set(err, KILN_EINVAL, "%s: 'base' value %zu is not finite", where,
                                    k);
            }
    }
    cfg.base = base;
    rc = rt_trees_new(&cfg, &t, err);
    kiln_free(base);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "%s: %s", where,
                            rc == KILN_ENOMEM ? "out of memory" : "dimensions out of range");
    for (size_t i = 0; i < cfg.n_trees && rc == KILN_OK; i++)
        rc = load_tree(t, json_array_get(trees, i), i, cfg.leaf_size, K, where, err);
    if (rc == KILN_OK)
        rc = rt_trees_finish(t, err);
    if (rc != KILN_OK) {
        rt_trees_free(t);
        return rc;
    }
    *out = t;
    return KILN_OK;
}

/*
 * linear.c - linear models: raw[k] = intercept[k] + sum_j coef[k][j] * x[j].
 *
 * Covers linear regression, ridge, and logistic regression (binary: one output with the
 * sigmoid link; multinomial: one output per class with softmax; one-vs-rest: "ovr").
 * Coefficients are kept row-major, one row per output, in double precision.
 *
 * Ownership: struct rt_linear owns its arrays; immutable after load, thread-safe.
 */
#include <math.h>
#include <stdio.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

struct rt_linear {
    size_t F, K;
    double *coef;      /* K x F */
    double *intercept; /* K */
};

void rt_linear_free(struct rt_linear *l)
{
    if (l == NULL)
        return;
    kiln_free(l->coef);
    kiln_free(l->intercept);
    kiln_free(l);
}

int rt_linear_load(const json_t *j, size_t F, size_t K, struct rt_linear **out, const char *where,
                   struct kiln_err *err)
{
    const json_t *coef = json_object_get(j, "coef");
    struct rt_linear *l;
    int rc;

    if (!json_is_array(coef) || json_array_size(coef) != K)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'coef' must hold %zu rows (one per output)",
                            where, K);
    if (F > RT_MAX_FEATURES / K)
        return kiln_err_set(err, KILN_EINVAL, "%s: coefficient matrix too large", where);
    l = kiln_calloc(1, sizeof(*l));
    if (l == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    l->F = F;
    l->K = K;
    l->coef = kiln_malloc(K * F * sizeof(double));
    if (l->coef == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
        goto out;
    }
    for (size_t k = 0; k < K; k++) {
        char w[128];
        snprintf(w, sizeof(w), "%s: coef row %zu", where, k);
        rc = rt_json_doubles(json_array_get(coef, k), F, l->coef + k * F, w, err);
        if (rc != KILN_OK)
            goto out;
    }
    rc = rt_json_double_array(j, "intercept", K, &l->intercept, where, err);
    if (rc != KILN_OK)
        goto out;
    for (size_t i = 0; i < K * F && rc == KILN_OK; i++)
        if (!isfinite(l->coef[i]))
            rc = kiln_err_set(err, KILN_EINVAL, "%s: coefficient %zu is not finite", where, i);
    for (size_t k = 0; k < K && rc == KILN_OK; k++)
        if (!isfinite(l->intercept[k]))
            rc = kiln_err_set(err, KILN_EINVAL, "%s: intercept %zu is not finite", where, k);
out:
    if (rc != KILN_OK) {
        rt_linear_free(l);
        return rc;
    }
    *out = l;
    return KILN_OK;
}

void rt_linear_run(const struct rt_linear *l, const double *feat, size_t ld, size_t nb, double *raw)
{
    size_t F = l->F, K = l->K;
    for (size_t r = 0; r < nb; r++) {
        const double *x = feat + r * ld;
        for (size_t k = 0; k < K; k++) {
            const double *w = l->coef + k * F;
            double s = 0.0;
            for (size_t j = 0; j < F; j++)
                s += x[j] * w[j];
            raw[r * K + k] = s + l->intercept[k];
        }
    }
}

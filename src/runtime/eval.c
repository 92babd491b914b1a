/*
 * eval.c - evaluation metrics (eval.h has the definitions).
 *
 * Ranking metrics share one pass: rows sorted by score, descending, then grouped by equal
 * score, giving the cumulative true and false positives at each distinct threshold (what
 * scikit-learn's _binary_clf_curve computes). Ties therefore count once per threshold, never
 * per row order.
 *
 * Ownership: reports own their arrays (kiln_eval_cls_free). Thread-safe: no shared state.
 */
#include "runtime/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define EPS 2.220446049250313e-16 /* numpy float64 eps, scikit-learn's log_loss default */

struct pair {
    double s;
    unsigned char pos;
};

static int cmp_desc(const void *a, const void *b)
{
    double x = ((const struct pair *)a)->s, y = ((const struct pair *)b)->s;
    return (x < y) - (x > y);
}

/* Cumulative counts at each distinct score, in descending score order. */
struct counts {
    size_t m;
    double *thr, *tps, *fps;
};

static void counts_release(struct counts *c)
{
    kiln_free(c->thr);
    kiln_free(c->tps);
    kiln_free(c->fps);
    memset(c, 0, sizeof(*c));
}

static int curve_counts(const unsigned char *pos, const double *score, size_t n, struct counts *c,
                        struct kiln_err *err)
{
    struct pair *p;
    double tp = 0, fp = 0;

    memset(c, 0, sizeof(*c));
    if (n == 0)
        return kiln_err_set(err, KILN_EINVAL, "no rows to evaluate");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(score[i]))
            return kiln_err_set(err, KILN_EINVAL, "row %zu: score is not finite", i);
    p = kiln_malloc(n * sizeof(*p));
    c->thr = kiln_malloc(n * sizeof(double));
    c->tps = kiln_malloc(n * sizeof(double));
    c->fps = kiln_malloc(n * sizeof(double));
    if (p == NULL || c->thr == NULL || c->tps == NULL || c->fps == NULL) {
        kiln_free(p);
        counts_release(c);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory computing metrics");
    }
    for (size_t i = 0; i < n; i++) {
        p[i].s = score[i];
        p[i].pos = pos[i] != 0;
    }
    qsort(p, n, sizeof(*p), cmp_desc);
    for (size_t i = 0; i < n; i++) {
        if (p[i].pos)
            tp++;
        else
            fp++;
        if (i + 1 == n || p[i + 1].s != p[i].s) {
            c->thr[c->m] = p[i].s;
            c->tps[c->m] = tp;
            c->fps[c->m] = fp;
            c->m++;
        }
    }
    kiln_free(p);
    return KILN_OK;
}

static double auc_of(const struct counts *c)
{
    double P = c->tps[c->m - 1], N = c->fps[c->m - 1], area = 0, x0 = 0, y0 = 0;
    if (P == 0 || N == 0)
        return NAN;
    for (size_t k = 0; k < c->m; k++) {
        double x = c->fps[k] / N, y = c->tps[k] / P;
        area += (x - x0) * (y + y0) / 2.0;
        x0 = x;
        y0 = y;
    }
    return area;
}

static double ap_of(const struct counts *c)
{
    double P = c->tps[c->m - 1], ap = 0, r0 = 0;
    if (P == 0)
        return 0.0;
    for (size_t k = 0; k < c->m; k++) {
        double r = c->tps[k] / P, prec = c->tps[k] / (c->tps[k] + c->fps[k]);
        ap += (r - r0) * prec;
        r0 = r;
    }
    return ap;
}

int kiln_eval_roc_auc(const unsigned char *pos, const double *score, size_t n, double *out,
                      struct kiln_err *err)
{
    struct counts c;
    int rc = curve_counts(pos, score, n, &c, err);
    if (rc != KILN_OK)
        return rc;
    *out = auc_of(&c);
    counts_release(&c);
    return KILN_OK;
}

int kiln_eval_average_precision(const unsigned char *pos, const double *score, size_t n,
                                double *out, struct kiln_err *err)
{
    struct counts c;
    int rc = curve_counts(pos, score, n, &c, err);
    if (rc != KILN_OK)
        return rc;
    *out = ap_of(&c);
    counts_release(&c);
    return KILN_OK;
}

int kiln_eval_pr_curve(const unsigned char *pos, const double *score, size_t n,
                       struct kiln_eval_pr_point **points, size_t *n_points, struct kiln_err *err)
{
    struct counts c;
    struct kiln_eval_pr_point *pt;
    double P;
    int rc = curve_counts(pos, score, n, &c, err);

    if (rc != KILN_OK)
        return rc;
    pt = kiln_malloc((c.m + 1) * sizeof(*pt));
    if (pt == NULL) {
        counts_release(&c);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory computing metrics");
    }
    P = c.tps[c.m - 1];
    /* Ascending thresholds, as precision_recall_curve returns them. */
    for (size_t k = 0; k < c.m; k++) {
        size_t j = c.m - 1 - k;
        pt[k].threshold = c.thr[j];
        pt[k].precision = c.tps[j] / (c.tps[j] + c.fps[j]);
        pt[k].recall = P > 0 ? c.tps[j] / P : 1.0;
    }
    pt[c.m].threshold = INFINITY;
    pt[c.m].precision = 1.0;
    pt[c.m].recall = 0.0;
    *points = pt;
    *n_points = c.m + 1;
    counts_release(&c);
    return KILN_OK;
}

static void prf(double tp, double fp, double fn, double *p, double *r, double *f)
{
    *p = tp + fp > 0 ? tp / (tp + fp) : 0.0;
    *r = tp + fn > 0 ? tp / (tp + fn) : 0.0;
    *f = *p + *r > 0 ? 2.0 * *p * *r / (*p + *r) : 0.0;
}

void kiln_eval_at_threshold(const unsigned char *pos, const double *score, size_t n,
                            double threshold, double *precision, double *recall, double *f1)
{
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        int pred = score[i] >= threshold;
        tp += pred && pos[i];
        fp += pred && !pos[i];
        fn += !pred && pos[i];
    }
    prf(tp, fp, fn, precision, recall, f1);
}

void kiln_eval_cls_free(struct kiln_eval_cls *r)
{
    if (r == NULL)
        return;
    kiln_free(r->confusion);
    kiln_free(r->per_class);
    kiln_free(r->curve);
    kiln_free(r);
}

/* One-vs-rest AUC and AP, macro-averaged over classes present in y_true. */
static int ranking(struct kiln_eval_cls *r, const int32_t *y_true, const double *proba,
                   struct kiln_err *err)
{
    size_t n = r->n, C = r->n_classes, used = 0;
    unsigned char *pos = kiln_malloc(n);
    double *s = kiln_malloc(n * sizeof(double));
    double auc_sum = 0, ap_sum = 0;
    int rc = KILN_OK;

    if (pos == NULL || s == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory computing metrics");
        goto out;
    }
    for (size_t c = (C == 2 ? 1 : 0); c < C && rc == KILN_OK; c++) {
        struct counts cc;
        double auc;
        if (r->per_class[c].support == 0 && C > 2)
            continue;
        for (size_t i = 0; i < n; i++) {
            pos[i] = y_true[i] == (int32_t)c;
            s[i] = proba[i * C + c];
        }
        rc = curve_counts(pos, s, n, &cc, err);
        if (rc != KILN_OK)
            break;
        auc = auc_of(&cc);
        counts_release(&cc);
        if (C == 2) {
            r->roc_auc = auc;
            rc = kiln_eval_average_precision(pos, s, n, &r->pr_auc, err);
            if (rc == KILN_OK)
                rc = kiln_eval_pr_curve(pos, s, n, &r->curve, &r->n_curve, err);
            break;
        }
        if (!isnan(auc)) {
            double ap = 0;
            rc = kiln_eval_average_precision(pos, s, n, &ap, err);
            auc_sum += auc;
            ap_sum += ap;
            used++;
        }
    }
    if (C > 2) {
        r->roc_auc = used ? auc_sum / (double)used : NAN;
        r->pr_auc = used ? ap_sum / (double)used : NAN;
    }
out:
    kiln_free(pos);
    kiln_free(s);
    return rc;
}

static double log_loss(const int32_t *y_true, const double *proba, size_t n, size_t C)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double sum = 0, pt = 0;
        for (size_t c = 0; c < C; c++) {
            double p = proba[i * C + c];
            p = p < EPS ? EPS : p > 1.0 - EPS ? 1.0 - EPS : p;
            sum += p;
            if ((int32_t)c == y_true[i])
                pt = p;
        }
        total += -log(pt / sum);
    }
    return total / (double)n;
}

static void label_stats(struct kiln_eval_cls *r, const int32_t *y_true, const int32_t *y_pred)
{
    size_t C = r->n_classes, present = 0, correct = 0;
    double ps = 0, rs = 0, fs = 0;

    for (size_t i = 0; i < r->n; i++) {
        r->confusion[(size_t)y_true[i] * C + (size_t)y_pred[i]]++;
        correct += y_true[i] == y_pred[i];
    }
    r->accuracy = (double)correct / (double)r->n;
    for (size_t c = 0; c < C; c++) {
        struct kiln_eval_class_stats *st = &r->per_class[c];
        double tp = (double)r->confusion[c * C + c];
        for (size_t k = 0; k < C; k++) {
            st->support += r->confusion[c * C + k];
            st->predicted += r->confusion[k * C + c];
        }
        prf(tp, (double)st->predicted - tp, (double)st->support - tp, &st->precision, &st->recall,
            &st->f1);
        if (st->support > 0 || st->predicted > 0) {
            present++;
            ps += st->precision;
            rs += st->recall;
            fs += st->f1;
        }
    }
    r->precision_macro = ps / (double)present;
    r->recall_macro = rs / (double)present;
    r->f1_macro = fs / (double)present;
    r->precision = r->recall = r->f1 = NAN;
    if (C == 2) {
        r->precision = r->per_class[1].precision;
        r->recall = r->per_class[1].recall;
        r->f1 = r->per_class[1].f1;
    }
}

int kiln_eval_classification(const int32_t *y_true, const int32_t *y_pred, const double *proba,
                             size_t n, size_t n_classes, struct kiln_eval_cls **out,
                             struct kiln_err *err)
{
    struct kiln_eval_cls *r;
    int rc = KILN_OK;

    if (n == 0 || n_classes < 2 || n_classes > ((size_t)1 << 16))
        return kiln_err_set(err, KILN_EINVAL, "evaluation needs rows and at least 2 classes");
    for (size_t i = 0; i < n; i++) {
        if (y_true[i] < 0 || (size_t)y_true[i] >= n_classes || y_pred[i] < 0 ||
            (size_t)y_pred[i] >= n_classes)
            return kiln_err_set(err, KILN_EINVAL, "row %zu: class index out of range", i);
        for (size_t c = 0; proba != NULL && c < n_classes; c++)
            if (!isfinite(proba[i * n_classes + c]))
                return kiln_err_set(err, KILN_EINVAL, "row %zu: probability is not finite", i);
    }
    r = kiln_calloc(1, sizeof(*r));
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory computing metrics");
    r->n = n;
    r->n_classes = n_classes;
    r->confusion = kiln_calloc(n_classes * n_classes, sizeof(uint64_t));
    r->per_class = kiln_calloc(n_classes, sizeof(*r->per_class));
    if (r->confusion == NULL || r->per_class == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory computing metrics");
        goto out;
    }
    label_stats(r, y_true, y_pred);
    r->roc_auc = r->pr_auc = r->log_loss = NAN;
    if (proba != NULL) {
        r->log_loss = log_loss(y_true, proba, n, n_classes);
        rc = ranking(r, y_true, proba, err);
    }
out:
    if (rc != KILN_OK) {
        kiln_eval_cls_free(r);
        return rc;
    }
    *out = r;
    return KILN_OK;
}

int kiln_eval_regression(const double *y_true, const double *y_pred, size_t n,
                         struct kiln_eval_reg *out, struct kiln_err *err)
{
    double mean = 0, ss_res = 0, ss_tot = 0, abs_sum = 0;

    if (n == 0)
        return kiln_err_set(err, KILN_EINVAL, "no rows to evaluate");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y_true[i]) || !isfinite(y_pred[i]))
            return kiln_err_set(err, KILN_EINVAL, "row %zu: value is not finite", i);
        mean += y_true[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = y_true[i] - y_pred[i], t = y_true[i] - mean;
        ss_res += d * d;
        ss_tot += t * t;
        abs_sum += fabs(d);
    }
    out->n = n;
    out->mse = ss_res / (double)n;
    out->rmse = sqrt(out->mse);
    out->mae = abs_sum / (double)n;
    out->r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0);
    return KILN_OK;
}

static void kv_num(struct kiln_jsonw *w, const char *key, double v)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_double_or_null(w, v);
}

void kiln_eval_cls_json(const struct kiln_eval_cls *r, const char *const *class_names,
                        size_t max_curve, struct kiln_jsonw *w)
{
    size_t C = r->n_classes, step = 1;

    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "n", (int64_t)r->n);
    kv_num(w, "accuracy", r->accuracy);
    kv_num(w, "precision", r->precision);
    kv_num(w, "recall", r->recall);
    kv_num(w, "f1", r->f1);
    kv_num(w, "precision_macro", r->precision_macro);
    kv_num(w, "recall_macro", r->recall_macro);
    kv_num(w, "f1_macro", r->f1_macro);
    kv_num(w, "roc_auc", r->roc_auc);
    kv_num(w, "pr_auc", r->pr_auc);
    kv_num(w, "log_loss", r->log_loss);
    kiln_jsonw_key(w, "confusion_matrix");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < C; i++) {
        kiln_jsonw_arr_begin(w);
        for (size_t j = 0; j < C; j++)
            kiln_jsonw_int(w, (int64_t)r->confusion[i * C + j]);
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_key(w, "per_class");
    kiln_jsonw_arr_begin(w);
    for (size_t c = 0; c < C; c++) {
        const struct kiln_eval_class_stats *st = &r->per_class[c];
        kiln_jsonw_obj_begin(w);
        if (class_names != NULL)
            kiln_jsonw_kv_str(w, "class", class_names[c]);
        else
            kiln_jsonw_kv_int(w, "class", (int64_t)c);
        kv_num(w, "precision", st->precision);
        kv_num(w, "recall", st->recall);
        kv_num(w, "f1", st->f1);
        kiln_jsonw_kv_int(w, "support", (int64_t)st->support);
        kiln_jsonw_kv_int(w, "predicted", (int64_t)st->predicted);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_key(w, "pr_curve");
    kiln_jsonw_arr_begin(w);
    if (max_curve > 1 && r->n_curve > max_curve)
        step = (r->n_curve + max_curve - 2) / (max_curve - 1);
    for (size_t k = 0; k < r->n_curve; k++) {
        if (k % step != 0 && k + 1 != r->n_curve)
            continue;
        kiln_jsonw_arr_begin(w);
        kiln_jsonw_double_or_null(w, r->curve[k].threshold);
        kiln_jsonw_double(w, r->curve[k].precision);
        kiln_jsonw_double(w, r->curve[k].recall);
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

void kiln_eval_reg_json(const struct kiln_eval_reg *r, struct kiln_jsonw *w)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "n", (int64_t)r->n);
    kv_num(w, "mse", r->mse);
    kv_num(w, "rmse", r->rmse);
    kv_num(w, "mae", r->mae);
    kv_num(w, "r2", r->r2);
    kiln_jsonw_obj_end(w);
}

/*
 * eval.h - evaluation metrics for classifiers and regressors, defined as scikit-learn 1.2
 * defines them (docs/evaluation.md writes the formulas out):
 *
 *   accuracy                 share of rows with y_pred == y_true
 *   precision/recall/F1      binary: of class 1 (scikit-learn's pos_label=1); macro: the
 *                            unweighted mean over the classes present in y_true or y_pred;
 *                            0 when a denominator is 0 (zero_division=0)
 *   ROC AUC                  area under the ROC curve of p(class 1) by the trapezoidal rule,
 *                            ties in scores counted once (roc_auc_score); multi-class: the
 *                            macro mean of one-vs-rest AUCs over classes present in y_true
 *   PR AUC                   average precision (average_precision_score): sum over distinct
 *                            thresholds of (R_k - R_k-1) * P_k, no interpolation; multi-class:
 *                            macro mean of one-vs-rest APs over classes present in y_true
 *   log loss                 mean of -log(p_true) after clipping to [eps, 1 - eps]
 *                            (eps = 2^-52) and renormalising rows (log_loss)
 *   PR curve                 precision_recall_curve: one point per distinct score (ascending
 *                            thresholds), then (precision 1, recall 0) with threshold +inf
 *   regression               MSE, RMSE, MAE, R^2 (1 - SS_res / SS_tot; 1 or 0 when SS_tot = 0)
 *
 * Metrics that are undefined for the data (AUC with one class only) are NaN.
 * All functions are pure: thread-safe, no shared state. Reports own their arrays.
 */
#ifndef KILN_RUNTIME_EVAL_H
#define KILN_RUNTIME_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/json.h"

struct kiln_eval_class_stats {
    double precision, recall, f1;
    uint64_t support;   /* rows whose true class is this one */
    uint64_t predicted; /* rows predicted as this class */
};

struct kiln_eval_pr_point {
    double threshold, precision, recall;
};

struct kiln_eval_cls {
    size_t n, n_classes;
    double accuracy;
    double precision_macro, recall_macro, f1_macro;
    double precision, recall, f1;     /* of class 1 for 2 classes; NaN otherwise */
    double roc_auc, pr_auc, log_loss; /* NaN when no probabilities were given */
    uint64_t *confusion;              /* n_classes x n_classes; row = true, column = predicted */
    struct kiln_eval_class_stats *per_class; /* n_classes, at the predicted labels */
    size_t n_curve;                          /* 2 classes with probabilities: PR curve of class 1 */
    struct kiln_eval_pr_point *curve;
};

/*
 * Classification report for n rows: y_true and y_pred are class indices in [0, n_classes);
 * proba (optional, n x n_classes row-major) holds predicted probabilities. KILN_EINVAL for a
 * label out of range, a non-finite probability, n == 0 or n_classes < 2. KILN_ENOMEM.
 * OUT: *out, freed with kiln_eval_cls_free.
 */
int kiln_eval_classification(const int32_t *y_true, const int32_t *y_pred, const double *proba,
                             size_t n, size_t n_classes, struct kiln_eval_cls **out /* OUT */,
                             struct kiln_err *err);
void kiln_eval_cls_free(struct kiln_eval_cls *r);

struct kiln_eval_reg {
    size_t n;
    double mse, rmse, mae, r2;
};

/* Regression report. KILN_EINVAL for n == 0 or non-finite values. */
int kiln_eval_regression(const double *y_true, const double *y_pred, size_t n,
                         struct kiln_eval_reg *out /* OUT */, struct kiln_err *err);

/*
 * Binary building blocks: pos[i] != 0 marks a positive row, score[i] its score.
 * ROC AUC is NaN unless both classes occur; average precision is 0 without positives (as in
 * scikit-learn). KILN_EINVAL for non-finite scores, KILN_ENOMEM.
 */
int kiln_eval_roc_auc(const unsigned char *pos, const double *score, size_t n,
                      double *out /* OUT */, struct kiln_err *err);
int kiln_eval_average_precision(const unsigned char *pos, const double *score, size_t n,
                                double *out /* OUT */, struct kiln_err *err);
/* The PR curve; OUT: *points (kiln_free) and *n_points. */
int kiln_eval_pr_curve(const unsigned char *pos, const double *score, size_t n,
                       struct kiln_eval_pr_point **points /* OUT */, size_t *n_points /* OUT */,
                       struct kiln_err *err);
/* Precision, recall and F1 when rows with score >= threshold are predicted positive. */
void kiln_eval_at_threshold(const unsigned char *pos, const double *score, size_t n,
                            double threshold, double *precision /* OUT */, double *recall /* OUT */,
                            double *f1 /* OUT */);

/*
 * Writes a report as one JSON object (metrics, confusion matrix, per-class table, curve with
 * at most max_curve points, evenly thinned; 0 for all). Class names label the per-class
 * entries (NULL: indices). Errors are sticky in the writer.
 */
void kiln_eval_cls_json(const struct kiln_eval_cls *r, const char *const *class_names,
                        size_t max_curve, struct kiln_jsonw *w);
void kiln_eval_reg_json(const struct kiln_eval_reg *r, struct kiln_jsonw *w);

#endif

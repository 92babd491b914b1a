/* Evaluation metrics on cases small enough to check by hand (values as scikit-learn gives). */
#include "kiln_test.h"

#include <math.h>

#include "core/json.h"
#include "runtime/eval.h"

#define near(a, b) (fabs((a) - (b)) < 1e-12)

/* scikit-learn's precision_recall_curve docstring example. */
static const unsigned char POS[] = { 0, 0, 1, 1 };
static const double SCORE[] = { 0.1, 0.4, 0.35, 0.8 };

static void test_binary_building_blocks(void **state)
{
    struct kiln_eval_pr_point *pt = NULL;
    size_t n = 0;
    double v = 0, p, r, f;
    (void)state;
    assert_int_equal(kiln_eval_roc_auc(POS, SCORE, 4, &v, NULL), KILN_OK);
    assert_true(near(v, 0.75));
    assert_int_equal(kiln_eval_average_precision(POS, SCORE, 4, &v, NULL), KILN_OK);
    assert_true(near(v, 0.8333333333333333));
    assert_int_equal(kiln_eval_pr_curve(POS, SCORE, 4, &pt, &n, NULL), KILN_OK);
    assert_int_equal(n, 5);
    assert_true(near(pt[0].threshold, 0.1) && near(pt[0].precision, 0.5) && near(pt[0].recall, 1));
    assert_true(near(pt[1].threshold, 0.35) && near(pt[1].precision, 2.0 / 3.0));
    assert_true(near(pt[2].threshold, 0.4) && near(pt[2].precision, 0.5) &&
                near(pt[2].recall, 0.5));
    assert_true(near(pt[3].threshold, 0.8) && near(pt[3].precision, 1.0));
    assert_true(isinf(pt[4].threshold) && pt[4].precision == 1.0 && pt[4].recall == 0.0);
    kiln_free(pt);
    kiln_eval_at_threshold(POS, SCORE, 4, 0.35, &p, &r, &f);
    assert_true(near(p, 2.0 / 3.0) && near(r, 1.0) && near(f, 0.8));
}

static void test_ties_count_once(void **state)
{
    /* All scores equal: one threshold; AUC 0.5, AP = positive rate. */
    static const unsigned char pos[] = { 1, 0, 0, 1, 0 };
    static const double s[] = { 0.3, 0.3, 0.3, 0.3, 0.3 };
    struct kiln_eval_pr_point *pt = NULL;
    size_t n = 0;
    double v;
    (void)state;
    assert_int_equal(kiln_eval_roc_auc(pos, s, 5, &v, NULL), KILN_OK);
    assert_true(near(v, 0.5));
    assert_int_equal(kiln_eval_average_precision(pos, s, 5, &v, NULL), KILN_OK);
    assert_true(near(v, 0.4));
    assert_int_equal(kiln_eval_pr_curve(pos, s, 5, &pt, &n, NULL), KILN_OK);
    assert_int_equal(n, 2);
    kiln_free(pt);
    /* One class only: AUC undefined, AP 0 without positives. */
    static const unsigned char none[] = { 0, 0, 0 };
    assert_int_equal(kiln_eval_roc_auc(none, s, 3, &v, NULL), KILN_OK);
    assert_true(isnan(v));
    assert_int_equal(kiln_eval_average_precision(none, s, 3, &v, NULL), KILN_OK);
    assert_true(v == 0.0);
}

static void test_classification_report(void **state)
{
    static const int32_t yt[] = { 0, 1, 2, 2, 1, 0 }, yp[] = { 0, 2, 2, 2, 1, 1 };
    static const double proba[] = { 0.8, 0.1, 0.1, 0.2, 0.3, 0.5, 0.1, 0.1, 0.8,
                                    0.0, 0.2, 0.8, 0.3, 0.6, 0.1, 0.4, 0.5, 0.1 };
    struct kiln_eval_cls *r = NULL;
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    struct kiln_jsonw w;
    (void)state;
    assert_int_equal(kiln_eval_classification(yt, yp, proba, 6, 3, &r, &err), KILN_OK);
    assert_true(near(r->accuracy, 4.0 / 6.0));
    /* class 0: P 1, R 0.5; class 1: P 0.5, R 0.5; class 2: P 2/3, R 1 */
    assert_true(near(r->per_class[0].precision, 1.0) && near(r->per_class[0].recall, 0.5));
    assert_true(near(r->per_class[1].precision, 0.5) && near(r->per_class[1].recall, 0.5));
    assert_true(near(r->per_class[2].precision, 2.0 / 3.0) && near(r->per_class[2].recall, 1));
    assert_true(near(r->precision_macro, (1 + 0.5 + 2.0 / 3.0) / 3));
    assert_true(near(r->recall_macro, (0.5 + 0.5 + 1) / 3));
    assert_int_equal(r->confusion[0 * 3 + 0], 1);
    assert_int_equal(r->confusion[0 * 3 + 1], 1);
    assert_int_equal(r->confusion[1 * 3 + 2], 1);
    assert_int_equal(r->per_class[2].support, 2);
    assert_int_equal(r->per_class[2].predicted, 3);
    assert_true(isnan(r->precision));
    assert_true(
        near(r->log_loss, -(log(0.8) + log(0.3) + log(0.8) + log(0.8) + log(0.6) + log(0.4)) / 6));
    assert_true(r->roc_auc > 0.5 && r->roc_auc <= 1.0);
    kiln_buf_init(&b, 1 << 16);
    kiln_jsonw_init(&w, &b);
    kiln_eval_cls_json(r, NULL, 0, &w);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    assert_non_null(strstr(b.buf, "\"confusion_matrix\":[[1,1,0],[0,1,1],[0,0,2]]"));
    kiln_buf_release(&b);
    kiln_eval_cls_free(r);
    r = NULL;
    static const int32_t bad[] = { 0, 3 };
    assert_int_equal(kiln_eval_classification(bad, bad, NULL, 2, 3, &r, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "row 1"));
    assert_null(r);
}

static void test_regression(void **state)
{
    static const double y[] = { 3, -0.5, 2, 7 }, p[] = { 2.5, 0.0, 2, 8 };
    struct kiln_eval_reg r;
    (void)state;
    assert_int_equal(kiln_eval_regression(y, p, 4, &r, NULL), KILN_OK);
    assert_true(near(r.mse, 0.375));
    assert_true(near(r.mae, 0.5));
    assert_true(near(r.r2, 0.9486081370449679));
    assert_true(near(r.rmse, sqrt(0.375)));
}

static void test_oom(void **state)
{
    static const int32_t yt[] = { 0, 1, 1, 0, 1 }, yp[] = { 0, 1, 0, 0, 1 };
    static const double proba[] = { 0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.7, 0.3, 0.1, 0.9 };
    struct kiln_eval_cls *r = NULL;
    (void)state;
    KILN_OOM_LOOP(kiln_eval_classification(yt, yp, proba, 5, 2, &r, NULL),
                  (kiln_eval_cls_free(r), r = NULL));
    assert_true(near(r->roc_auc, 1.0));
    assert_int_equal(r->n_curve, 6);
    kiln_eval_cls_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_building_blocks),
        cmocka_unit_test(test_ties_count_once),
        cmocka_unit_test(test_classification_report),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

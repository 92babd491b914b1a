/*
 * xgboost models in kiln's own tree engine, from hand-written xgboost JSON documents:
 * thresholds ("x < split"), default directions, float32 sums, objectives and errors.
 */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "kiln_config.h"
#include "runtime/runtime.h"

/* Tree 0: f0 < 0.5 ? 0.25 : -0.5 (NaN left). Tree 1: f1 < 1.0 ? 0.125 : 0.75 (NaN right). */
#define TREE(f, split, dl, a, b)                                                               \
    "{\"left_children\":[1,-1,-1],\"right_children\":[2,-1,-1],\"split_indices\":[" f ",0,0]," \
    "\"split_conditions\":[" split "," a "," b "],\"default_left\":[" dl ",0,0],"              \
    "\"split_type\":[0,0,0],\"base_weights\":[0,0,0]}"

#define DOC(objective, num_class, base, trees, tree_info, extra)                               \
    "{\"learner\":{\"attributes\":{" extra "},\"feature_names\":[],\"gradient_booster\":{"     \
    "\"name\":\"gbtree\",\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\","      \
    "\"num_trees\":\"2\"},\"tree_info\":" tree_info ",\"trees\":" trees "}},"                  \
    "\"learner_model_param\":{\"base_score\":\"" base "\",\"num_class\":\"" num_class "\","    \
    "\"num_feature\":\"2\",\"num_target\":\"1\"},\"objective\":{\"name\":\"" objective "\"}}," \
    "\"version\":[1,7,4]}"

#define TWO_TREES \
    "[" TREE("0", "0.5", "1", "0.25", "-0.5") "," TREE("1", "1.0", "0", "0.125", "0.75") "]"

static struct kiln_rt_model *load(const char *doc, enum kiln_rt_xgb_engine eng, int expect)
{
    struct kiln_rt_load_opts o = { eng, 1, 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_rt_load_xgboost(doc, strlen(doc), "model.json", &o, &m, &err);
    if (rc != expect)
        fail_msg("load: expected %d, got %d: %s", expect, rc, err.msg);
    return m;
}

static float sigmoidf_(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static void test_binary_logistic(void **state)
{
    static const char *const doc = DOC("binary:logistic", "0", "5E-1", TWO_TREES, "[0,0]", "");
    struct kiln_rt_model *m = load(doc, KILN_RT_XGB_NATIVE, KILN_OK);
    /* rows: (0.4, 1.0) -> 0.25 + 0.75; (0.5, 0.99) -> -0.5 + 0.125; (NaN, NaN) -> 0.25 + 0.75 */
    double x[] = { 0.4, 1.0, 0.5, 0.99, NAN, NAN, 0.49999997, 2.0 };
    float expect[] = { 1.0f, -0.375f, 1.0f, -0.25f };
    double proba[8];
    int32_t label[4];
    struct kiln_rt_out out = { label, proba, NULL };
    (void)state;
    assert_string_equal(kiln_rt_flavor(m), "xgboost");
    assert_string_equal(kiln_rt_engine(m), "trees");
    assert_int_equal(kiln_rt_mlflow_output(m), KILN_RT_OUT_PROBA);
    assert_string_equal(kiln_rt_input(m, 1)->name, "f1");
    assert_true(kiln_rt_input(m, 1)->allow_missing);
    assert_int_equal(kiln_rt_predict(m, NULL, x, 4, &out, NULL), KILN_OK);
    for (int r = 0; r < 4; r++) {
        /* base_score 0.5 is margin 0; the sum and the sigmoid are float32, as in xgboost */
        float margin = (float)(-logf(1.0f / 0.5f - 1.0f)) + expect[r];
        if (r == 3) /* 0.49999997 rounds to float 0.49999997 < 0.5: left */
            margin = 0.25f + 0.75f;
        assert_true(proba[2 * r + 1] == (double)sigmoidf_(margin));
    }
    assert_int_equal(label[0], 1);
    assert_int_equal(label[1], 0);
    kiln_rt_free(m);
}

static void test_multiclass_and_regression(void **state)
{
    static const char *const multi =
        DOC("multi:softprob", "2", "5E-1", TWO_TREES, "[0,1]", "\"best_iteration\":\"0\"");
    static const char *const reg = DOC("reg:squarederror", "0", "1.5E0", TWO_TREES, "[0,0]", "");
    static const char *const pois = DOC("count:poisson", "0", "2E0", TWO_TREES, "[0,0]", "");
    double x[] = { 0.4, 1.0 }, proba[2], v;
    struct kiln_rt_out out = { NULL, proba, NULL }, vout = { NULL, NULL, &v };
    struct kiln_rt_model *m = load(multi, KILN_RT_XGB_NATIVE, KILN_OK);
    float e0, e1, mx;
    (void)state;
    /* margins: class 0: 0.5 + 0.25, class 1: 0.5 + 0.75 (a Booster ignores best_iteration) */
    assert_int_equal(kiln_rt_n_classes(m), 2);
    assert_int_equal(kiln_rt_predict(m, NULL, x, 1, &out, NULL), KILN_OK);
    mx = 1.25f;
    e0 = expf(0.75f - mx);
    e1 = expf(1.25f - mx);
    assert_true(fabs(proba[1] - (double)(e1 / (e0 + e1))) < 1e-7);
    kiln_rt_free(m);
    m = load(reg, KILN_RT_XGB_NATIVE, KILN_OK);
    assert_int_equal(kiln_rt_task(m), KILN_RT_REGRESSOR);
    assert_int_equal(kiln_rt_predict(m, NULL, x, 1, &vout, NULL), KILN_OK);
    assert_true(v == 2.5);
    kiln_rt_free(m);
    m = load(pois, KILN_RT_XGB_NATIVE, KILN_OK);
    assert_int_equal(kiln_rt_predict(m, NULL, x, 1, &vout, NULL), KILN_OK);
    assert_true(v == (double)expf(logf(2.0f) + 1.0f));
    kiln_rt_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    load("{\"learner\":1}", KILN_RT_XGB_AUTO, KILN_EINVAL);
    load("{\"learner\": {", KILN_RT_XGB_AUTO, KILN_EPARSE);
    load(DOC("reg:quantileerror", "0", "0", TWO_TREES, "[0,0]", ""), KILN_RT_XGB_AUTO,
         KILN_ENOTSUP);
    load(DOC("binary:logistic", "0", "5E-1", TWO_TREES, "[0,3]", ""), KILN_RT_XGB_NATIVE,
         KILN_EINVAL);
    load(DOC("binary:logistic", "0", "5E-1", "[" TREE("5", "0.5", "1", "1", "2") "]", "[0]", ""),
         KILN_RT_XGB_NATIVE, KILN_EINVAL);
    load(DOC("binary:logistic", "0", "5E-1",
             "[{\"left_children\":[1,-1],\"right_children\":[2,-1,-1],\"split_indices\":[0,0,0],"
             "\"split_conditions\":[0,0,0],\"default_left\":[0,0,0]}]",
             "[0]", ""),
         KILN_RT_XGB_NATIVE, KILN_EINVAL);
    load(DOC("binary:logistic", "0", "abc", TWO_TREES, "[0,0]", ""), KILN_RT_XGB_NATIVE,
         KILN_EINVAL);
    if (!KILN_HAVE_XGBOOST)
        load("{L\x00\x00", KILN_RT_XGB_AUTO, KILN_ENOTSUP);
}

static void test_oom(void **state)
{
    static const char *const doc = DOC("binary:logistic", "0", "5E-1", TWO_TREES, "[0,0]",
                                       "\"scikit_learn\":\"{\\\"classes_\\\": [3, 7]}\"");
    struct kiln_rt_load_opts o = { KILN_RT_XGB_NATIVE, 1, 0 };
    struct kiln_rt_model *m = NULL;
    (void)state;
    KILN_OOM_LOOP(kiln_rt_load_xgboost(doc, strlen(doc), "model.json", &o, &m, NULL),
                  (kiln_rt_free(m), m = NULL));
    kiln_rt_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_logistic),
        cmocka_unit_test(test_multiclass_and_regression),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

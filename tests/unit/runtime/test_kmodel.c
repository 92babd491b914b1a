/* The kiln flavor loader and engines on hand-written model.json documents. */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "runtime/runtime.h"

#define assert_double_equal(a, b, tol)                                                        \
    do {                                                                                      \
        double a_ = (a), b_ = (b);                                                            \
        if (!(fabs(a_ - b_) <= (tol)))                                                        \
            fail_msg("%s = %.17g, expected %.17g (tolerance %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

static struct kiln_rt_model *load_ok(const char *json)
{
    struct kiln_rt_model *m = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_rt_load_kiln_json(json, strlen(json), "model.json", &m, &err);
    if (rc != KILN_OK)
        fail_msg("load failed: %s", err.msg);
    return m;
}

static void expect_error(const char *json, int rc, const char *needle)
{
    struct kiln_rt_model *m = NULL;
    struct kiln_err err = { 0 };
    int got = kiln_rt_load_kiln_json(json, strlen(json), "model.json", &m, &err);
    if (got != rc || strstr(err.msg, needle) == NULL)
        fail_msg("expected rc %d with '%s', got %d: %s", rc, needle, got, err.msg);
    assert_null(m);
}

#define HEAD "{\"format\":\"kiln-model\",\"format_version\":1,"

static const char *const LOGIT =
    HEAD "\"task\":\"classification\",\"classes\":[\"no\",\"yes\"],"
         "\"inputs\":[{\"name\":\"a\",\"type\":\"double\"},{\"name\":\"b\",\"type\":\"long\"}],"
         "\"model\":{\"type\":\"linear\",\"n_features\":2,\"n_outputs\":1,\"link\":\"sigmoid\","
         "\"coef\":[[1,-2]],\"intercept\":[0.5]}}";

static void test_logistic_regression(void **state)
{
    struct kiln_rt_model *m = load_ok(LOGIT);
    double x[] = { 1.0, 0.0, -3.0, 1.0 }, proba[4];
    int32_t label[2];
    struct kiln_rt_out out = { label, proba, NULL };
    struct kiln_err err = { 0 };
    size_t idx;
    (void)state;
    assert_int_equal(kiln_rt_task(m), KILN_RT_CLASSIFIER);
    assert_int_equal(kiln_rt_mlflow_output(m), KILN_RT_OUT_LABEL);
    assert_string_equal(kiln_rt_engine(m), "linear");
    assert_int_equal(kiln_rt_n_classes(m), 2);
    assert_string_equal(kiln_rt_class(m, 1)->text, "yes");
    assert_false(kiln_rt_class(m, 1)->is_number);
    assert_int_equal(kiln_rt_find_input(m, "b", 1, &idx), KILN_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(kiln_rt_find_input(m, "c", 1, &idx), KILN_ENOENT);
    assert_int_equal(kiln_rt_predict(m, NULL, x, 2, &out, &err), KILN_OK);
    /* z = 1 - 0 + 0.5 = 1.5; z = -3 - 2 + 0.5 = -4.5 */
    assert_double_equal(proba[1], 1.0 / (1.0 + exp(-1.5)), 1e-15);
    assert_double_equal(proba[0], 1.0 - proba[1], 1e-15);
    assert_int_equal(label[0], 1);
    assert_int_equal(label[1], 0);
    /* Type checks name the row and the input. */
    x[3] = 0.5;
    assert_int_equal(kiln_rt_predict(m, NULL, x, 2, &out, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "row 1, input 'b'"));
    x[3] = NAN;
    assert_int_equal(kiln_rt_predict(m, NULL, x, 2, &out, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "NaN"));
    assert_int_equal(kiln_rt_check_value(m, 0, NAN, &err), KILN_EINVAL);
    assert_int_equal(kiln_rt_check_value(m, 0, INFINITY, &err), KILN_OK);
    assert_int_equal(kiln_rt_check_value(m, 1, 3.0, &err), KILN_OK);
    assert_int_equal(kiln_rt_predict(m, NULL, x, 0, &out, &err), KILN_OK);
    kiln_rt_free(m);
}

/*
 * node0: x0 <= 0.5 ? leaf 10 : node2; node2: x1 <= -1 (NaN left) ? leaf 20 : leaf 30.
 * NaN at node0 goes right (no missing_left given).
 */
#define TREE                                                                        \
    "{\"left\":[1,-1,3,-1,-1],\"right\":[2,-1,4,-1,-1],\"feature\":[0,-2,1,-2,-2]," \
    "\"threshold\":[0.5,0,-1,0,0],\"missing_left\":[0,0,1,0,0],\"value\":[0,10,0,20,30]}"

static const char *const TREES =
    HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x0\",\"type\":\"double\","
         "\"allow_missing\":true},{\"name\":\"x1\",\"type\":\"double\",\"allow_missing\":true}],"
         "\"model\":{\"type\":\"tree_ensemble\",\"n_features\":2,\"n_outputs\":1,"
         "\"aggregate\":\"sum\",\"base\":[1],\"link\":\"identity\",\"trees\":[" TREE "]}}";

static void test_tree_routes_and_missing_values(void **state)
{
    struct kiln_rt_model *m = load_ok(TREES);
    double x[] = { 0.5, 0.0, 0.6, -1.0, 0.6, NAN, NAN, 5.0, 0.6, 0.0 };
    double expect[] = { 11, 21, 21, 31, 31 }, v[5];
    struct kiln_rt_out out = { NULL, NULL, v };
    (void)state;
    assert_int_equal(kiln_rt_predict(m, NULL, x, 5, &out, NULL), KILN_OK);
    for (int i = 0; i < 5; i++)
        assert_double_equal(v[i], expect[i], 0);
    kiln_rt_free(m);
}

/* Nine copies of TREE with different leaf scales: batch (lockstep) and single rows agree. */
static void test_tree_paths_agree(void **state)
{
    char json[8192];
    size_t n = 0;
    struct kiln_rt_model *m;
    double x[40 * 2], batch[40], one;
    struct kiln_rt_out out = { NULL, NULL, batch };
    struct kiln_rt_ws *ws;
    (void)state;
    n += (size_t)snprintf(json + n, sizeof(json) - n,
                          HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x0\",\"type\":"
                               "\"double\",\"allow_missing\":true},{\"name\":\"x1\",\"type\":"
                               "\"double\",\"allow_missing\":true}],\"model\":{\"type\":"
                               "\"tree_ensemble\",\"n_features\":2,\"n_outputs\":1,\"aggregate\":"
                               "\"mean\",\"link\":\"identity\",\"trees\":[");
    for (int t = 0; t < 9; t++)
        n += (size_t)snprintf(json + n, sizeof(json) - n,
                              "%s{\"left\":[1,-1,3,-1,-1],\"right\":[2,-1,4,-1,-1],\"feature\":"
                              "[%d,-2,1,-2,-2],\"threshold\":[%g,0,-1,0,0],\"missing_left\":"
                              "[%d,0,1,0,0],\"value\":[0,%d,0,%d,%d]}",
                              t ? "," : "", t % 2, 0.1 * t - 0.4, t % 3 == 0, t, 10 * t, 100 * t);
    snprintf(json + n, sizeof(json) - n, "]}}");
    m = load_ok(json);
    for (int i = 0; i < 40; i++) {
        x[2 * i] = i % 7 == 0 ? NAN : (i - 20) * 0.07;
        x[2 * i + 1] = i % 5 == 0 ? NAN : (i % 9) * 0.5 - 2.0;
    }
    ws = kiln_rt_ws_new(m);
    assert_int_equal(kiln_rt_predict(m, ws, x, 40, &out, NULL), KILN_OK);
    for (int i = 0; i < 40; i++) {
        struct kiln_rt_out o1 = { NULL, NULL, &one };
        double ref = 0;
        assert_int_equal(kiln_rt_predict(m, ws, x + 2 * i, 1, &o1, NULL), KILN_OK);
        assert_true(one == batch[i]);
        /* Reference: walk each tree by the documented rule. */
        for (int t = 0; t < 9; t++) {
            double a = x[2 * i + (t % 2)], thr = 0.1 * t - 0.4, b = x[2 * i + 1];
            int left = isnan(a) ? t % 3 == 0 : a <= thr;
            if (left)
                ref += t;
            else if (isnan(b) || b <= -1)
                ref += 10 * t;
            else
                ref += 100 * t;
        }
        assert_double_equal(batch[i], ref / 9.0, 1e-12);
    }
    kiln_rt_ws_free(ws);
    kiln_rt_free(m);
}

#define MLP_LAYERS(dt, w1, sc1, w2, sc2)                                                    \
    "[{\"n_in\":2,\"n_out\":2,\"dtype\":\"" dt "\",\"activation\":\"relu\",\"weights\":" w1 \
    ",\"bias\":[0,0]" sc1 "},{\"n_in\":2,\"n_out\":1,\"dtype\":\"" dt "\",\"activation\":"  \
    "\"identity\",\"weights\":" w2 ",\"bias\":[0]" sc2 "}]"

#define MLP_DOC(layers)                                                                        \
    HEAD "\"task\":\"classification\",\"classes\":[0,1],\"inputs\":[{\"name\":\"a\",\"type\":" \
         "\"double\"},{\"name\":\"b\",\"type\":\"double\"}],\"model\":{\"type\":\"mlp\","      \
         "\"n_features\":2,\"n_outputs\":1,\"link\":\"sigmoid\",\"layers\":" layers "}}"

static void test_mlp_precisions(void **state)
{
    static const char *const docs[] = {
        MLP_DOC(MLP_LAYERS("float64", "[[1,1],[1,-1]]", "", "[[1,-1]]", "")),
        MLP_DOC(MLP_LAYERS("float32", "[[1,1],[1,-1]]", "", "[[1,-1]]", "")),
        MLP_DOC(MLP_LAYERS("int8", "[[127,127],[127,-127]]",
                           ",\"scales\":[0.007874015748031496,0.007874015748031496]",
                           "[[127,-127]]", ",\"scales\":[0.007874015748031496]")),
    };
    static const char *const engines[] = { "mlp-float64", "mlp-float32", "mlp-int8" };
    static const double tol[] = { 1e-15, 1e-6, 2e-3 };
    double x[] = { 1.0, 2.0, -1.0, 0.5 }, proba[4];
    int32_t label[2];
    struct kiln_rt_out out = { label, proba, NULL };
    (void)state;
    for (int i = 0; i < 3; i++) {
        struct kiln_rt_model *m = load_ok(docs[i]);
        assert_string_equal(kiln_rt_engine(m), engines[i]);
        assert_true(kiln_rt_class(m, 1)->is_number);
        assert_int_equal(kiln_rt_predict(m, NULL, x, 2, &out, NULL), KILN_OK);
        /* h = relu(3, -1) = (3, 0) -> 3; h = relu(-0.5, -1.5) = 0 -> 0 */
        assert_double_equal(proba[1], 1.0 / (1.0 + exp(-3.0)), tol[i]);
        assert_double_equal(proba[3], 0.5, tol[i]);
        assert_int_equal(label[0], 1);
        kiln_rt_free(m);
    }
}

static const char *const PREP =
    HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"num\",\"type\":\"double\","
         "\"allow_missing\":true},{\"name\":\"color\",\"type\":\"string\",\"categories\":"
         "[\"red\",\"green\",\"blue\"],\"allow_unknown\":true,\"allow_missing\":true}],"
         "\"preprocessing\":[{\"op\":\"columns\",\"parts\":["
         "{\"columns\":[0],\"steps\":[{\"op\":\"impute\",\"fill\":[2.0]},"
         "{\"op\":\"scale\",\"offset\":[1],\"scale\":[2]}]},"
         "{\"columns\":[1],\"steps\":[{\"op\":\"impute\",\"fill\":[\"blue\"]},{\"op\":\"onehot\","
         "\"columns\":[{\"categories\":[\"blue\",\"red\"],\"drop\":null,\"handle_unknown\":"
         "\"ignore\"}]}]}]}],"
         "\"model\":{\"type\":\"linear\",\"n_features\":3,\"n_outputs\":1,\"link\":\"identity\","
         "\"coef\":[[1,10,100]],\"intercept\":[0]}}";

static void test_preprocessing(void **state)
{
    struct kiln_rt_model *m = load_ok(PREP);
    struct kiln_err err = { 0 };
    double red, green, x[10], v[5];
    struct kiln_rt_out out = { NULL, NULL, v };
    (void)state;
    assert_int_equal(kiln_rt_encode(m, 1, "red", 3, &red, &err), KILN_OK);
    assert_int_equal(kiln_rt_encode(m, 1, "green", 5, &green, &err), KILN_OK);
    assert_double_equal(red, 0, 0);
    assert_double_equal(green, 1, 0);
    assert_int_equal(kiln_rt_encode(m, 0, "red", 3, &red, &err), KILN_EINVAL);
    x[0] = NAN, x[1] = red;   /* (2-1)/2 + 100 */
    x[2] = 3.0, x[3] = green; /* green is not one-hot encoded: 1 */
    x[4] = 5.0, x[5] = -1.0;  /* unknown: 2 */
    x[6] = 1.0, x[7] = NAN;   /* missing -> blue: 0 + 10 */
    x[8] = -1.0, x[9] = 2.0;  /* blue: -1 + 10 */
    assert_int_equal(kiln_rt_predict(m, NULL, x, 5, &out, &err), KILN_OK);
    assert_double_equal(v[0], 100.5, 0);
    assert_double_equal(v[1], 1.0, 0);
    assert_double_equal(v[2], 2.0, 0);
    assert_double_equal(v[3], 10.0, 0);
    assert_double_equal(v[4], 9.0, 0);
    x[1] = 3.0; /* not a valid code */
    assert_int_equal(kiln_rt_predict(m, NULL, x, 1, &out, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "'color'"));
    kiln_rt_free(m);
}

static void test_warmup_and_workspace(void **state)
{
    struct kiln_rt_model *m = load_ok(LOGIT);
    struct kiln_rt_model *other = load_ok(PREP);
    struct kiln_rt_ws *small = kiln_rt_ws_new(other);
    double x[2] = { 1, 0 }, v[2];
    struct kiln_rt_out out = { NULL, v, NULL };
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(kiln_rt_warmup(m, 3, &err), KILN_OK);
    assert_true(kiln_rt_warmup_ns(m) > 0);
    assert_true(kiln_rt_load_ns(m) > 0);
    assert_int_equal(kiln_rt_predict(m, small, x, 1, &out, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "workspace"));
    kiln_rt_ws_free(small);
    kiln_rt_free(m);
    kiln_rt_free(other);
}

#define ONE_INPUT HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x\",\"type\":\"double\"}],"
#define TREE_MODEL(tree)                                                                \
    ONE_INPUT "\"model\":{\"type\":\"tree_ensemble\",\"n_features\":1,\"n_outputs\":1," \
              "\"aggregate\":\"sum\",\"link\":\"identity\",\"trees\":[" tree "]}}"

static void test_hostile_documents(void **state)
{
    (void)state;
    expect_error("{\"format\":\"kiln-model\",\"format_", KILN_EPARSE, "line 1");
    expect_error("[]", KILN_EINVAL, "not a JSON object");
    expect_error("{\"format\":\"other\"}", KILN_EINVAL, "'format'");
    expect_error(HEAD "\"task\":\"x\"}", KILN_EINVAL, "'task'");
    expect_error("{\"format\":\"kiln-model\",\"format_version\":9}", KILN_ENOTSUP, "newer");
    expect_error(TREE_MODEL("{\"left\":[1,-1,-1],\"right\":[7,-1,-1],\"feature\":[0,0,0],"
                            "\"threshold\":[0,0,0],\"value\":[0,1,2]}"),
                 KILN_EINVAL, "children out of range");
    expect_error(TREE_MODEL("{\"left\":[1,3,3,-1,-1],\"right\":[2,4,4,-1,-1],\"feature\":"
                            "[0,0,0,0,0],\"threshold\":[0,0,0,0,0],\"value\":[0,0,0,1,2]}"),
                 KILN_EINVAL, "reached twice");
    expect_error(TREE_MODEL("{\"left\":[1,2,1],\"right\":[3,4,2],\"feature\":[0,0,0],"
                            "\"threshold\":[0,0,0],\"value\":[0,0,0]}"),
                 KILN_EINVAL, "node");
    expect_error(TREE_MODEL("{\"left\":[1,3,-1,-1,-1],\"right\":[2,1,-1,-1,-1],\"feature\":"
                            "[0,0,0,0,0],\"threshold\":[0,0,0,0,0],\"value\":[0,0,1,2,3]}"),
                 KILN_EINVAL, "reached twice");
    expect_error(TREE_MODEL("{\"left\":[1,-1,-1],\"right\":[2,-1,-1],\"feature\":[3,0,0],"
                            "\"threshold\":[0,0,0],\"value\":[0,1,2]}"),
                 KILN_EINVAL, "splits on feature 3");
    expect_error(TREE_MODEL("{\"left\":[1,-1,-1],\"right\":[-1,-1,-1],\"feature\":[0,0,0],"
                            "\"threshold\":[0,0,0],\"value\":[0,1,2]}"),
                 KILN_EINVAL, "only one child");
    expect_error(TREE_MODEL("{\"left\":[1,-1,-1],\"right\":[2,-1,-1],\"feature\":[0,0,0],"
                            "\"threshold\":[0,0],\"value\":[0,1,2]}"),
                 KILN_EINVAL, "'threshold'");
    expect_error(TREE_MODEL("{\"left\":[-1],\"right\":[-1],\"feature\":[0],\"threshold\":[0],"
                            "\"value\":[\"Infinity\"]}"),
                 KILN_EINVAL, "non-finite");
    expect_error(ONE_INPUT "\"model\":{\"type\":\"linear\",\"n_features\":1,\"n_outputs\":1,"
                           "\"link\":\"identity\",\"coef\":[[1,2]],\"intercept\":[0]}}",
                 KILN_EINVAL, "list of 1 numbers");
    expect_error(ONE_INPUT "\"model\":{\"type\":\"linear\",\"n_features\":3,\"n_outputs\":1,"
                           "\"link\":\"identity\",\"coef\":[[1,2,3]],\"intercept\":[0]}}",
                 KILN_EINVAL, "expects 3 features");
    expect_error(ONE_INPUT "\"model\":{\"type\":\"linear\",\"n_features\":1,\"n_outputs\":"
                           "99999999999,\"link\":\"identity\",\"coef\":[],\"intercept\":[]}}",
                 KILN_EINVAL, "out of range");
    expect_error(HEAD "\"task\":\"classification\",\"classes\":[1,2],\"inputs\":[{\"name\":"
                      "\"x\",\"type\":\"double\"}],\"model\":{\"type\":\"linear\",\"n_features\":"
                      "1,\"n_outputs\":3,\"link\":\"softmax\",\"coef\":[[1],[2],[3]],"
                      "\"intercept\":[0,0,0]}}",
                 KILN_EINVAL, "do not fit 2 classes");
    expect_error(HEAD "\"task\":\"classification\",\"classes\":[1,1],\"inputs\":[]}", KILN_EINVAL,
                 "listed twice");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x\",\"type\":\"double\"},"
                      "{\"name\":\"x\",\"type\":\"double\"}]}",
                 KILN_EINVAL, "used twice");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x\",\"type\":\"binary\"}]}",
                 KILN_ENOTSUP, "not supported");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"c\",\"type\":\"string\","
                      "\"categories\":[\"a\"]}],\"model\":{}}",
                 KILN_EINVAL, "must be one-hot encoded");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"c\",\"type\":\"string\","
                      "\"categories\":[\"a\",\"a\"]}]}",
                 KILN_EINVAL, "listed twice");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"c\",\"type\":\"string\","
                      "\"categories\":[\"a\"]}],\"preprocessing\":[{\"op\":\"scale\",\"offset\":"
                      "[0],\"scale\":[1]}]}",
                 KILN_EINVAL, "scale step applied to string input 'c'");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"c\",\"type\":\"string\","
                      "\"categories\":[\"a\"]}],\"preprocessing\":[{\"op\":\"onehot\",\"columns\":"
                      "[{\"categories\":[\"b\"]}]}]}",
                 KILN_EINVAL, "'b' is not a category of input 'c'");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x\",\"type\":\"double\"}],"
                      "\"preprocessing\":[{\"op\":\"scale\",\"offset\":[0],\"scale\":[0]}]}",
                 KILN_EINVAL, "non-zero scale");
    expect_error(HEAD "\"task\":\"regression\",\"inputs\":[{\"name\":\"x\",\"type\":\"double\"}],"
                      "\"preprocessing\":[{\"op\":\"columns\",\"parts\":[{\"columns\":[4]}]}]}",
                 KILN_EINVAL, "out of range");
    expect_error(MLP_DOC("[{\"n_in\":3,\"n_out\":1,\"activation\":\"relu\",\"weights\":[[1,2,3]],"
                         "\"bias\":[0]}]"),
                 KILN_EINVAL, "previous width is 2");
    expect_error(MLP_DOC("[{\"n_in\":2,\"n_out\":1,\"dtype\":\"int8\",\"activation\":\"identity\","
                         "\"weights\":[[200,1]],\"bias\":[0],\"scales\":[1]}]"),
                 KILN_EINVAL, "[-127, 127]");
    expect_error(MLP_DOC("[{\"n_in\":2,\"n_out\":1,\"dtype\":\"int8\",\"activation\":\"identity\","
                         "\"weights\":[[2,1]],\"bias\":[0],\"scales\":[0]}]"),
                 KILN_EINVAL, "positive and finite");
    expect_error(MLP_DOC("[{\"n_in\":2,\"n_out\":1,\"activation\":\"identity\",\"weights\":"
                         "[[2,1]],\"bias\":[0]},{\"n_in\":1,\"n_out\":1,\"dtype\":\"int8\","
                         "\"activation\":\"identity\",\"weights\":[[1]],\"bias\":[0],"
                         "\"scales\":[1]}]"),
                 KILN_EINVAL, "cannot be mixed");
    expect_error(MLP_DOC("[{\"n_in\":2,\"n_out\":70000,\"activation\":\"relu\",\"weights\":[],"
                         "\"bias\":[]}]"),
                 KILN_EINVAL, "out of range");
}

static void test_nesting_limit(void **state)
{
    char json[4096];
    size_t n = 0;
    (void)state;
    n += (size_t)snprintf(json, sizeof(json), ONE_INPUT "\"preprocessing\":");
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n,
                              "[{\"op\":\"columns\",\"parts\":[{\"columns\":[0],\"steps\":");
    n += (size_t)snprintf(json + n, sizeof(json) - n, "[]");
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "}]}]");
    snprintf(json + n, sizeof(json) - n, "}");
    expect_error(json, KILN_EINVAL, "nested deeper");
}

static void test_oom_loops(void **state)
{
    static const char *const docs[] = { PREP, TREES, LOGIT,
                                        MLP_DOC(MLP_LAYERS("int8", "[[127,127],[127,-127]]",
                                                           ",\"scales\":[1,1]", "[[127,-127]]",
                                                           ",\"scales\":[1]")) };
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct kiln_rt_model *m = NULL;
        KILN_OOM_LOOP(kiln_rt_load_kiln_json(docs[i], strlen(docs[i]), "model.json", &m, NULL),
                      (kiln_rt_free(m), m = NULL));
        kiln_rt_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logistic_regression),
        cmocka_unit_test(test_tree_routes_and_missing_values),
        cmocka_unit_test(test_tree_paths_agree),
        cmocka_unit_test(test_mlp_precisions),
        cmocka_unit_test(test_preprocessing),
        cmocka_unit_test(test_warmup_and_workspace),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_oom_loops),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

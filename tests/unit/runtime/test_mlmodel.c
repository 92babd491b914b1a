#include "kiln_test.h"

#include <jansson.h>

#include "core/fs.h"
#include "runtime/mlmodel.h"

static const char *const XGB_MLMODEL =
    "artifact_path: model\n"
    "flavors:\n"
    "  python_function:\n"
    "    data: model.xgb\n"
    "    env:\n"
    "      conda: conda.yaml\n"
    "    loader_module: mlflow.xgboost\n"
    "  xgboost:\n"
    "    code: null\n"
    "    data: model.xgb\n"
    "    model_class: xgboost.sklearn.XGBClassifier\n"
    "    model_format: xgb\n"
    "    xgb_version: 1.7.4\n"
    "mlflow_version: 2.9.2\n"
    "run_id: 0123abcd\n"
    "signature:\n"
    "  inputs: '[{\"type\": \"double\", \"name\": \"mean radius\", \"required\": true}, "
    "{\"type\": \"long\", \"name\": \"age\", \"required\": false}, {\"type\": \"string\", "
    "\"name\": \"city\"}]'\n"
    "  outputs: '[{\"type\": \"long\", \"required\": true}]'\n"
    "  params: null\n"
    "utc_time_created: '2024-05-01 10:00:00.000000'\n";

static int parse(const char *text, struct kiln_mlmodel **mm, struct kiln_err *err)
{
    return kiln_mlmodel_parse(text, strlen(text), "MLmodel", mm, err);
}

static void test_parses_mlflow_xgboost_mlmodel(void **state)
{
    struct kiln_mlmodel *mm = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(parse(XGB_MLMODEL, &mm, &err), KILN_OK);
    assert_non_null(kiln_mlmodel_flavor(mm, "xgboost"));
    assert_null(kiln_mlmodel_flavor(mm, "kiln"));
    assert_string_equal(kiln_mlmodel_flavor_str(mm, "xgboost", "data"), "model.xgb");
    assert_string_equal(kiln_mlmodel_flavor_str(mm, "xgboost", "model_class"),
                        "xgboost.sklearn.XGBClassifier");
    /* `code: null` is a JSON null, not the string "null". */
    assert_true(json_is_null(json_object_get(kiln_mlmodel_flavor(mm, "xgboost"), "code")));
    assert_null(kiln_mlmodel_flavor_str(mm, "xgboost", "code"));
    assert_string_equal(kiln_mlmodel_str(mm, "run_id"), "0123abcd");
    assert_string_equal(kiln_mlmodel_str(mm, "utc_time_created"), "2024-05-01 10:00:00.000000");
    assert_true(mm->has_signature);
    assert_int_equal(mm->n_inputs, 3);
    assert_string_equal(mm->inputs[0].name, "mean radius");
    assert_string_equal(mm->inputs[1].type, "long");
    assert_false(mm->inputs[1].required);
    assert_true(mm->inputs[2].required);
    kiln_mlmodel_free(mm);
}

static void test_tensor_signature(void **state)
{
    struct kiln_mlmodel *mm = NULL;
    struct kiln_err err = { 0 };
    const char *text = "flavors:\n  kiln: {data: model.json}\nsignature:\n  inputs: "
                       "'[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", "
                       "\"shape\": [-1, 3]}}]'\n";
    (void)state;
    assert_int_equal(parse(text, &mm, &err), KILN_OK);
    assert_true(mm->tensor_input);
    assert_int_equal(mm->n_inputs, 3);
    assert_string_equal(mm->inputs[2].name, "f2");
    assert_string_equal(mm->inputs[2].type, "float");
    assert_string_equal(kiln_mlmodel_flavor_str(mm, "kiln", "data"), "model.json");
    kiln_mlmodel_free(mm);
}

static void test_errors_name_the_place(void **state)
{
    struct kiln_mlmodel *mm = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(parse("flavors:\n  kiln: [a\n", &mm, &err), KILN_EPARSE);
    assert_non_null(strstr(err.msg, "line 3"));
    assert_int_equal(parse("flavors:\n  a: 1\n  a: 2\n", &mm, &err), KILN_EPARSE);
    assert_non_null(strstr(err.msg, "duplicate key 'a'"));
    assert_non_null(strstr(err.msg, "line 3"));
    assert_int_equal(parse("x: &a [1]\nflavors: *a\n", &mm, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "aliases"));
    assert_int_equal(parse("run_id: x\n", &mm, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "flavors"));
    assert_int_equal(parse("- a\n- b\n", &mm, &err), KILN_EINVAL);
    assert_int_equal(parse("", &mm, &err), KILN_EINVAL);
    assert_int_equal(parse("flavors: {k: {}}\n---\nflavors: {}\n", &mm, &err), KILN_EPARSE);
    assert_int_equal(parse("flavors: {k: {}}\n? [a]\n: b\n", &mm, &err), KILN_EPARSE);
    assert_int_equal(parse("flavors: {k: {}}\nsignature:\n  inputs: '[1, 2'\n", &mm, &err),
                     KILN_EPARSE);
    assert_non_null(strstr(err.msg, "signature inputs"));
    assert_int_equal(
        parse("flavors: {k: {}}\nsignature:\n  inputs: '[{\"name\": \"a\"}]'\n", &mm, &err),
        KILN_EINVAL);
    assert_non_null(strstr(err.msg, "no 'type'"));
    assert_int_equal(parse("flavors: {k: {}}\nsignature:\n  inputs: '[{\"type\": \"tensor\", "
                           "\"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1, 2, 2]}}]'\n",
                           &mm, &err),
                     KILN_ENOTSUP);
    assert_null(mm);
}

static void test_depth_and_size_limits(void **state)
{
    struct kiln_mlmodel *mm = NULL;
    struct kiln_err err = { 0 };
    char deep[400];
    size_t n = 0;
    (void)state;
    n += (size_t)snprintf(deep, sizeof(deep), "flavors: ");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    assert_int_equal(parse(deep, &mm, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "deeper"));
}

static void test_reads_directory(void **state)
{
    char dir[256], path[300];
    struct kiln_mlmodel *mm = NULL;
    struct kiln_err err = { 0 };
    FILE *f;
    (void)state;
    assert_non_null(kiln_test_tmpdir(dir, sizeof(dir)));
    assert_int_equal(kiln_mlmodel_read(dir, &mm, &err), KILN_ENOENT);
    assert_non_null(strstr(err.msg, "no MLmodel"));
    snprintf(path, sizeof(path), "%s/MLmodel", dir);
    f = fopen(path, "w");
    fputs(XGB_MLMODEL, f);
    fclose(f);
    assert_int_equal(kiln_mlmodel_read(dir, &mm, &err), KILN_OK);
    kiln_mlmodel_free(mm);
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(kiln_mlmodel_read(path, &mm, &err), KILN_ENOENT);
    kiln_remove_tree(dir, NULL);
}

static void test_oom(void **state)
{
    struct kiln_mlmodel *mm = NULL;
    (void)state;
    KILN_OOM_LOOP(parse(XGB_MLMODEL, &mm, NULL), (kiln_mlmodel_free(mm), mm = NULL));
    kiln_mlmodel_free(mm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_mlflow_xgboost_mlmodel),
        cmocka_unit_test(test_tensor_signature),
        cmocka_unit_test(test_errors_name_the_place),
        cmocka_unit_test(test_depth_and_size_limits),
        cmocka_unit_test(test_reads_directory),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

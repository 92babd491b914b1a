/* Request parsers and response writers of the data plane on a model with every input type:
 * each MLflow JSON shape, CSV, OIP layouts, signature checks with the field named, response
 * bodies (checked by parsing them with jansson), and OOM loops. */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "core/arena.h"
#include "runtime/runtime.h"
#include "serve/parse.h"

/* Inputs: a (double, may be missing), n (long), flag (boolean), color (string). */
static const char *const MODEL =
    "{\"format\":\"kiln-model\",\"format_version\":1,\"task\":\"classification\","
    "\"classes\":[\"cat\",\"dog\",\"eel\"],"
    "\"inputs\":[{\"name\":\"a\",\"type\":\"double\",\"allow_missing\":true},"
    "{\"name\":\"n\",\"type\":\"long\"},{\"name\":\"flag\",\"type\":\"boolean\"},"
    "{\"name\":\"color\",\"type\":\"string\",\"categories\":[\"red\",\"green\",\"blue\"]}],"
    "\"preprocessing\":[{\"op\":\"impute\",\"fill\":[0.5,null,null,null]},"
    "{\"op\":\"onehot\",\"columns\":[null,null,null,{\"categories\":[\"red\",\"green\",\"blue\"],"
    "\"drop\":null,\"handle_unknown\":\"error\"}]}],"
    "\"model\":{\"type\":\"linear\",\"n_features\":6,\"n_outputs\":3,\"link\":\"softmax\","
    "\"coef\":[[1,0,0,1,0,0],[0,1,0,0,1,0],[0,0,1,0,0,1]],\"intercept\":[0,0,0]}}";

static struct kiln_rt_model *model;
static struct kiln_serve_schema *schema;

static int setup(void **state)
{
    struct kiln_err err = { 0 };
    (void)state;
    if (kiln_rt_load_kiln_json(MODEL, strlen(MODEL), "model.json", &model, &err) != KILN_OK) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    return kiln_serve_schema_new(model, &schema, &err) != KILN_OK;
}

static int teardown(void **state)
{
    (void)state;
    kiln_serve_schema_free(schema);
    kiln_rt_free(model);
    return 0;
}

enum kind { MLFLOW, CSV, OIP };

static int parse(enum kind k, const char *body, struct kiln_arena *a, struct kiln_serve_rows *rows,
                 struct kiln_serve_oip_req *oip, struct kiln_err *err)
{
    int rc;
    if (k == MLFLOW)
        return kiln_serve_parse_mlflow_json(schema, body, strlen(body), a, rows, err);
    if (k == CSV)
        return kiln_serve_parse_csv(schema, body, strlen(body), a, rows, err);
    rc = kiln_serve_parse_oip(schema, body, strlen(body), a, oip, err);
    if (rc == KILN_OK)
        *rows = oip->rows;
    return rc;
}

/* Expected rows: (a, n, flag, color code) x 2. */
static const double WANT[8] = { 1.5, 3, 1, 1, NAN, -2, 0, 2 };

static void expect_rows(enum kind k, const char *body)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_serve_rows rows;
    struct kiln_serve_oip_req oip;
    struct kiln_err err = { 0 };
    int rc = parse(k, body, a, &rows, &oip, &err);
    if (rc != KILN_OK)
        fail_msg("%s\nwas refused: %s", body, err.msg);
    assert_int_equal(rows.n, 2);
    for (size_t i = 0; i < 8; i++)
        if (!(rows.x[i] == WANT[i] || (isnan(rows.x[i]) && isnan(WANT[i]))))
            fail_msg("%s\nvalue %zu is %g, expected %g", body, i, rows.x[i], WANT[i]);
    kiln_arena_free(a);
}

static void expect_error(enum kind k, const char *body, int rc, const char *needle)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_serve_rows rows;
    struct kiln_serve_oip_req oip;
    struct kiln_err err = { 0 };
    int got = parse(k, body, a, &rows, &oip, &err);
    if (got != rc || strstr(err.msg, needle) == NULL)
        fail_msg("%s\nexpected %d with \"%s\", got %d: %s", body, rc, needle, got, err.msg);
    kiln_arena_free(a);
}

static void test_mlflow_shapes(void **state)
{
    (void)state;
    expect_rows(MLFLOW, "{\"dataframe_split\": {\"columns\": [\"a\",\"n\",\"flag\",\"color\"],"
                        "\"data\": [[1.5, 3, true, \"green\"], [null, -2, false, \"blue\"]]}}");
    expect_rows(MLFLOW, "{\"dataframe_split\": {\"data\": [[\"green\", 1.5, true, 3, 9], "
                        "[\"blue\", NaN, false, -2, 9]], \"index\": [0, 1],"
                        "\"columns\": [\"color\",\"a\",\"flag\",\"n\",\"extra\"]}}");
    expect_rows(MLFLOW, "{\"dataframe_records\": [{\"n\": 3, \"a\": 1.5, \"flag\": true, "
                        "\"color\": \"green\", \"x\": [1]}, {\"flag\": false, \"color\": \"blue\","
                        " \"n\": -2}]}");
    expect_rows(MLFLOW, "{\"instances\": [[1.5, 3, true, \"green\"], [null, -2, false, \"blue\"]],"
                        " \"params\": {\"k\": 1}}");
    expect_rows(MLFLOW, "{\"inputs\": [{\"a\": 1.5, \"n\": 3, \"flag\": 1, \"color\": \"green\"},"
                        "[null, -2.0, 0, \"blue\"]]}");
    expect_rows(MLFLOW, "{\"inputs\": {\"color\": [\"green\", \"blue\"], \"a\": [1.5, null],"
                        " \"n\": [3, -2], \"flag\": [true, false]}}");
    expect_rows(MLFLOW, "{\"params\": {}, \"dataframe_split\": {\"columns\": [\"a\",\"n\","
                        "\"flag\",\"color\"], \"data\": [[15e-1, 3, true, \"gr\\u0065en\"], "
                        "[null, -2, false, \"blue\"]]}}");
}

static void test_mlflow_errors(void **state)
{
    (void)state;
    expect_error(MLFLOW, "{\"inputs\": [[1, 2.5, true, \"red\"]]}", KILN_EINVAL,
                 "inputs[0][1]: input 'n': expected an integer (long)");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true, \"pink\"]]}", KILN_EINVAL, "inputs[0][3]: ");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, 2, \"red\"]]}", KILN_EINVAL,
                 "input 'flag': expected a boolean");
    /* A category with a NUL byte inside is unknown (a fuzzer found the runtime reading past
     * the known category's end here). */
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true, \"red\\u0000xyz\"]]}", KILN_EINVAL,
                 "inputs[0][3]: ");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true, 7]]}", KILN_EINVAL,
                 "input 'color' (string) expects a string, got a number");
    expect_error(MLFLOW, "{\"inputs\": [[1, null, true, \"red\"]]}", KILN_EINVAL,
                 "input 'n': missing value (NaN) is not allowed");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true]]}", KILN_EINVAL,
                 "inputs[0]: 3 values, expected 4");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true, \"red\", 5]]}", KILN_EINVAL,
                 "inputs[0]: more than 4 values");
    expect_error(MLFLOW, "{\"inputs\": [[1, [2], true, \"red\"]]}", KILN_EINVAL, "got a list");
    expect_error(MLFLOW, "{\"inputs\": [5]}", KILN_EINVAL, "expected a row");
    expect_error(MLFLOW, "{\"dataframe_records\": [{\"a\": 1, \"n\": 2, \"color\": \"red\"}]}",
                 KILN_EINVAL, "dataframe_records[0]: missing input 'flag' (boolean)");
    expect_error(MLFLOW,
                 "{\"dataframe_records\": [{\"a\": 1, \"n\": 2, \"flag\": true, \"color\": 3}]}",
                 KILN_EINVAL, "dataframe_records[0].color: input 'color'");
    expect_error(MLFLOW, "{\"dataframe_split\": {\"columns\": [\"a\", \"n\"], \"data\": []}}",
                 KILN_EINVAL, "dataframe_split.columns: missing input 'flag'");
    expect_error(MLFLOW,
                 "{\"dataframe_split\": {\"columns\": [\"a\",\"n\",\"flag\",\"color\"],"
                 "\"data\": [[1, 2, true]]}}",
                 KILN_EINVAL, "dataframe_split.data[0]: 3 values, expected 4 (one per column)");
    expect_error(MLFLOW, "{\"dataframe_split\": {\"columns\": [\"a\",\"a\"], \"data\": []}}",
                 KILN_EINVAL, "column 'a' appears twice");
    expect_error(MLFLOW, "{\"dataframe_split\": {\"data\": [], \"orient\": 1}}", KILN_EINVAL,
                 "unexpected field 'orient'");
    expect_error(MLFLOW,
                 "{\"inputs\": {\"a\": [1, 2], \"n\": [1], \"flag\": [1, 0], \"color\": "
                 "[\"red\", \"red\"]}}",
                 KILN_EINVAL, "inputs.n: 1 values, but other columns have 2");
    expect_error(MLFLOW, "{\"instances\": [], \"inputs\": []}", KILN_EPARSE,
                 "Received dictionary with input fields: ['instances', 'inputs']");
    expect_error(MLFLOW, "[[1, 2, true, \"red\"]]", KILN_EPARSE, "Received a list");
    expect_error(MLFLOW, "", KILN_EPARSE, "empty body");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true, \"red\"]]} x", KILN_EPARSE,
                 "line 1, column 35: unexpected text");
    expect_error(MLFLOW, "{\"inputs\": [[1, 2, true, \"red\"]}", KILN_EPARSE, "expected ','");
}

static void test_csv(void **state)
{
    (void)state;
    expect_rows(CSV, "a,n,flag,color\n1.5,3,True,green\n,-2,false,blue\n");
    expect_rows(CSV, "color,extra,n,flag,a\r\n\"green\",x,3,TRUE,1.5\r\nblue,y,-2.0,0,NA\r\n");
    expect_error(CSV, "a,n,flag\n1,2,true\n", KILN_EINVAL, "CSV header: missing input 'color'");
    expect_error(CSV, "a,n,flag,color\n1,2,true,red\n1,x,true,red\n", KILN_EINVAL,
                 "CSV body: line 3, column 'n': input 'n' (long) expects an integer, got 'x'");
    expect_error(CSV, "a,n,flag,color\n1,2,true\n", KILN_EPARSE, "line 2");
    expect_error(CSV, "", KILN_EPARSE, "empty");
}

/* The other three inputs of a one-row columnar request. */
#define OTHERS_N                                                                                  \
    "{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [1]}, {\"name\": "       \
    "\"flag\", \"shape\": [1], \"datatype\": \"BOOL\", \"data\": [true]}, {\"name\": \"color\", " \
    "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"red\"]}"
#define OTHERS_FLAG                                                                          \
    "{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [1]}, {\"name\": "  \
    "\"n\", \"shape\": [1], \"datatype\": \"INT64\", \"data\": [2]}, {\"name\": \"color\", " \
    "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"red\"]}"

static void test_oip(void **state)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_serve_rows rows;
    struct kiln_serve_oip_req oip;
    struct kiln_err err = { 0 };
    const char *body;
    (void)state;
    expect_rows(OIP, "{\"inputs\": [{\"name\": \"color\", \"shape\": [2], \"datatype\": \"BYTES\","
                     " \"data\": [\"green\", \"blue\"]}, {\"datatype\": \"FP32\", \"data\": [[1.5],"
                     " [null]], \"name\": \"a\", \"shape\": [2, 1]}, {\"name\": \"n\", \"shape\":"
                     " [2], \"datatype\": \"INT64\", \"data\": [3, -2]}, {\"name\": \"flag\","
                     " \"shape\": [2], \"datatype\": \"BOOL\", \"data\": [true, false],"
                     " \"parameters\": {\"x\": 1}}]}");
    body = "{\"id\": \"r\\\"1\", \"outputs\": [{\"name\": \"probabilities\"}, {\"name\": "
           "\"label\"}], \"parameters\": {}, \"inputs\": [{\"name\": \"a\", \"shape\": [1], "
           "\"datatype\": \"FP64\", \"data\": [1]}, {\"name\": \"n\", \"shape\": [1], "
           "\"datatype\": \"UINT8\", \"data\": [1]}, {\"name\": \"flag\", \"shape\": [1], "
           "\"datatype\": \"BOOL\", \"data\": [false]}, {\"name\": \"color\", \"shape\": [1], "
           "\"datatype\": \"BYTES\", \"data\": [\"red\"]}]}";
    assert_int_equal(kiln_serve_parse_oip(schema, body, strlen(body), a, &oip, &err), KILN_OK);
    assert_int_equal(oip.id_len, 3);
    assert_memory_equal(oip.id, "r\"1", 3);
    assert_int_equal(oip.n_outputs, 2);
    assert_int_equal(oip.outputs[0], KILN_SERVE_OUT_PROBABILITIES);
    assert_int_equal(oip.outputs[1], KILN_SERVE_OUT_LABEL);
    assert_int_equal(oip.rows.n, 1);
    (void)rows;
    kiln_arena_free(a);

    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP64\","
                 " \"data\": [1, 2, 0, 1]}]}",
                 KILN_EINVAL, "inputs[0].data[3]: input 'color' (string) must be sent as BYTES");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"a\", \"shape\": [2], \"datatype\": \"FP64\","
                 " \"data\": [1, 2]}, {\"name\": \"n\", \"shape\": [3], \"datatype\": \"INT64\","
                 " \"data\": [1, 2, 3]}]}",
                 KILN_EINVAL, "tensor 'n' has 3 rows, tensor 'a' 2");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 2], \"datatype\": \"FP64\","
                 " \"data\": [1, 2, 3, 4]}]}",
                 KILN_EINVAL, "tensor 'a' has shape [2, 2]; one input takes [N] or [N, 1]");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\","
                 " \"data\": [1]}, {\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\","
                 " \"data\": [1]}]}",
                 KILN_EINVAL, "input 'a' given twice");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"n\", \"shape\": [1], \"datatype\": \"UINT8\","
                 " \"data\": [-1]}, " OTHERS_N "]}",
                 KILN_EINVAL, "inputs[0].data[0]: -1 is not a valid UINT8");
    expect_error(OIP,
                 "{\"inputs\": [" OTHERS_FLAG ", {\"name\": \"flag\", \"shape\": [1], "
                 "\"datatype\": \"BOOL\", \"data\": [1]}]}",
                 KILN_EINVAL, "inputs[3].data[0]: BOOL data must be true or false");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP64\","
                 " \"data\": [[[[[[[[[1]]]]]]]]]}]}",
                 KILN_EINVAL, "nested deeper");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"a\", \"shape\": [-1], \"datatype\": \"FP64\","
                 " \"data\": []}]}",
                 KILN_EINVAL, "shape: expected non-negative integers");
    expect_error(OIP, "{\"inputs\": [{\"name\": \"a\", \"datatype\": \"FP64\", \"data\": []}]}",
                 KILN_EINVAL, "inputs[0]: missing field 'shape'");
    expect_error(OIP,
                 "{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\","
                 " \"data\": [1]}], \"outputs\": [{\"name\": \"label\"}, {\"name\": \"label\"}]}",
                 KILN_EINVAL, "output 'label' requested twice");
    expect_error(OIP, "[]", KILN_EINVAL, "must be a JSON object");
}

/* Parses a body with jansson, failing on invalid JSON. */
static json_t *json_ok(const struct kiln_buf *b)
{
    json_error_t je;
    json_t *v = json_loadb(b->buf, b->len, 0, &je);
    if (v == NULL)
        fail_msg("invalid JSON (%s): %s", je.text, b->buf);
    return v;
}

static void test_writers(void **state)
{
    int32_t label[2] = { 1, 2 };
    double proba[6] = { 0.2, 0.5, 0.3, 0.1, 0.1, 0.8 };
    struct kiln_rt_out o = { label, proba, NULL };
    struct kiln_serve_oip_req req;
    struct kiln_buf b;
    json_t *doc, *outs;
    (void)state;
    kiln_buf_init(&b, 1 << 20);
    assert_int_equal(kiln_serve_write_mlflow(schema, &o, 2, &b), KILN_OK);
    doc = json_ok(&b);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "predictions"), 0)),
                        "dog");
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "predictions"), 1)),
                        "eel");
    json_decref(doc);

    memset(&req, 0, sizeof(req));
    req.id = "x\ny";
    req.id_len = 3;
    kiln_buf_reset(&b);
    assert_int_equal(kiln_serve_write_oip(schema, &req, &o, 2, "m \"q\"", "7", &b), KILN_OK);
    doc = json_ok(&b);
    assert_string_equal(json_string_value(json_object_get(doc, "model_name")), "m \"q\"");
    assert_string_equal(json_string_value(json_object_get(doc, "model_version")), "7");
    assert_string_equal(json_string_value(json_object_get(doc, "id")), "x\ny");
    outs = json_object_get(doc, "outputs");
    assert_int_equal(json_array_size(outs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(outs, 0), "datatype")),
                        "BYTES");
    assert_int_equal(json_array_size(json_object_get(json_array_get(outs, 1), "data")), 6);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(json_array_get(outs, 1), "shape"), 1)),
        3);
    json_decref(doc);

    /* Non-finite probabilities: strict JSON (null) over OIP. */
    proba[0] = NAN;
    req.id = NULL;
    req.n_outputs = 1;
    req.outputs[0] = KILN_SERVE_OUT_PROBABILITIES;
    kiln_buf_reset(&b);
    assert_int_equal(kiln_serve_write_oip(schema, &req, &o, 2, "m", "1", &b), KILN_OK);
    doc = json_ok(&b);
    assert_null(json_object_get(doc, "id"));
    assert_true(json_is_null(json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "outputs"), 0), "data"), 0)));
    json_decref(doc);
    assert_string_equal(kiln_serve_oip_datatype(KILN_RT_INTEGER), "INT32");
    kiln_buf_release(&b);
}

static int parse_in_fresh_arena(enum kind k, const char *body)
{
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_serve_rows rows;
    struct kiln_serve_oip_req oip;
    struct kiln_err err = { 0 };
    int rc;
    if (a == NULL)
        return KILN_ENOMEM;
    rc = parse(k, body, a, &rows, &oip, &err);
    kiln_arena_free(a);
    return rc;
}

static void test_oom(void **state)
{
    struct kiln_serve_schema *sc = NULL;
    struct kiln_err err;
    const char *bodies[3] = {
        "{\"dataframe_records\": [{\"a\": 1, \"n\": 2, \"flag\": true, \"color\": \"r\\u0065d\"},"
        "{\"a\": 1, \"n\": 2, \"flag\": true, \"color\": \"red\"}], \"params\": {}}",
        "a,n,flag,color\n1,2,true,red\n3,4,false,blue\n",
        "{\"id\": \"\\u00e9\", \"inputs\": [{\"name\": \"a\", \"shape\": [2], \"datatype\": "
        "\"FP64\", \"data\": [1, 2]}, {\"name\": \"n\", \"shape\": [2], \"datatype\": \"INT64\", "
        "\"data\": [1, 2]}, {\"name\": \"flag\", \"shape\": [2], \"datatype\": \"BOOL\", \"data\": "
        "[true, true]}, {\"name\": \"color\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": "
        "[\"red\", \"blue\"]}]}",
    };
    (void)state;
    for (int k = 0; k < 3; k++)
        KILN_OOM_LOOP(parse_in_fresh_arena((enum kind)k, bodies[k]), (void)0);
    KILN_OOM_LOOP(kiln_serve_schema_new(model, &sc, &err), (void)0);
    kiln_serve_schema_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlflow_shapes), cmocka_unit_test(test_mlflow_errors),
        cmocka_unit_test(test_csv),           cmocka_unit_test(test_oip),
        cmocka_unit_test(test_writers),       cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#include "kiln_test.h"

#include <math.h>

#include "core/json.h"

static void test_parse_errors_name_line_and_column(void **state)
{
    struct kiln_err err = { 0 };
    json_t *v = NULL;
    (void)state;
    assert_int_equal(kiln_json_parse_object("{\"a\":\n  1,}", 11, 0, &v, &err), KILN_EPARSE);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_null(v);
    assert_int_equal(kiln_json_parse_object("[1]", 3, 0, &v, &err), KILN_EINVAL);
    assert_int_equal(kiln_json_parse_object("", 0, 1, &v, &err), KILN_OK);
    assert_true(json_is_object(v));
    json_decref(v);
}

static void test_double_encoded_body(void **state)
{
    json_t *v = NULL;
    const char *body = "\"{\\\"run_id\\\": \\\"abc\\\"}\"";
    const char *s;
    (void)state;
    assert_int_equal(kiln_json_parse_object(body, strlen(body), 0, &v, NULL), KILN_OK);
    assert_int_equal(kiln_json_get_str(v, "run_id", KILN_JSON_REQUIRED, &s, NULL), KILN_OK);
    assert_string_equal(s, "abc");
    json_decref(v);
}

static void test_getters(void **state)
{
    const char *text = "{\"s\":\"x\",\"e\":\"\",\"i\":\"42\",\"r\":3.0,\"f\":1.5,"
                       "\"n\":\"NaN\",\"b\":true,\"bs\":\"False\",\"bad\":\"zz\",\"arr\":[1]}";
    struct kiln_err err = { 0 };
    json_t *v = NULL;
    const char *s;
    int64_t i = 0;
    double d = 0;
    int b = 0, present = 0;
    json_t *a;
    (void)state;
    assert_int_equal(kiln_json_parse_object(text, strlen(text), 0, &v, NULL), KILN_OK);
    assert_int_equal(kiln_json_get_str(v, "s", 1, &s, &err), KILN_OK);
    assert_string_equal(s, "x");
    assert_int_equal(kiln_json_get_str(v, "e", 1, &s, &err), KILN_EINVAL);
    assert_string_equal(err.msg, "Missing value for required parameter 'e'");
    assert_int_equal(kiln_json_get_str(v, "missing", 0, &s, &err), KILN_OK);
    assert_null(s);
    assert_int_equal(kiln_json_get_str(v, "i", 1, &s, &err), KILN_OK);
    assert_int_equal(kiln_json_get_str(v, "f", 1, &s, &err), KILN_EINVAL);
    assert_int_equal(kiln_json_get_int64(v, "i", 1, &i, &present, &err), KILN_OK);
    assert_int_equal(i, 42);
    assert_true(present);
    assert_int_equal(kiln_json_get_int64(v, "r", 1, &i, NULL, &err), KILN_OK);
    assert_int_equal(i, 3);
    assert_int_equal(kiln_json_get_int64(v, "f", 1, &i, NULL, &err), KILN_EINVAL);
    assert_int_equal(kiln_json_get_int64(v, "nope", 0, &i, &present, &err), KILN_OK);
    assert_false(present);
    assert_int_equal(kiln_json_get_double(v, "n", 1, &d, NULL, &err), KILN_OK);
    assert_true(isnan(d));
    assert_int_equal(kiln_json_get_double(v, "b", 1, &d, NULL, &err), KILN_EINVAL);
    assert_int_equal(kiln_json_get_double(v, "bad", 1, &d, NULL, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "'bad'"));
    assert_int_equal(kiln_json_get_bool(v, "bs", 1, &b, NULL, &err), KILN_OK);
    assert_false(b);
    assert_int_equal(kiln_json_get_array(v, "arr", 1, &a, &err), KILN_OK);
    assert_int_equal(json_array_size(a), 1);
    assert_int_equal(kiln_json_get_array(v, "s", 1, &a, &err), KILN_EINVAL);
    json_decref(v);
}

static void test_writer(void **state)
{
    struct kiln_buf b;
    struct kiln_jsonw w;
    (void)state;
    kiln_buf_init(&b, 1000);
    kiln_jsonw_init(&w, &b);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "s", "a\"b\\c\n\x01\xc3\xa9\xff");
    kiln_jsonw_kv_int(&w, "i", -5);
    kiln_jsonw_kv_double(&w, "d", 0.1);
    kiln_jsonw_kv_double(&w, "n", NAN);
    kiln_jsonw_kv_double(&w, "inf", -INFINITY);
    kiln_jsonw_key(&w, "arr");
    kiln_jsonw_arr_begin(&w);
    kiln_jsonw_bool(&w, 1);
    kiln_jsonw_null(&w);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    assert_string_equal(b.buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\ufffd\",\"i\":-5,\"d\":0.1,"
                               "\"n\":\"NaN\",\"inf\":\"-Infinity\",\"arr\":[true,null,{}]}");
    kiln_buf_release(&b);
}

static void test_writer_detects_misuse_and_limits(void **state)
{
    struct kiln_buf b;
    struct kiln_jsonw w;
    (void)state;
    kiln_buf_init(&b, 10);
    kiln_jsonw_init(&w, &b);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "key", "a long value that does not fit");
    kiln_jsonw_obj_end(&w);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_ETOOBIG);
    kiln_buf_release(&b);
    kiln_buf_init(&b, 100);
    kiln_jsonw_init(&w, &b);
    kiln_jsonw_obj_begin(&w);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_EINVAL);
    kiln_buf_release(&b);
}

static void test_double_format_roundtrips(void **state)
{
    const double vals[] = { 0.1, 1.0 / 3.0, 1e300, -2.5e-310, 123456789.0, 0.30000000000000004 };
    char out[40];
    (void)state;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        kiln_format_double(vals[i], out, sizeof(out));
        assert_true(strtod(out, NULL) == vals[i]);
    }
    kiln_format_double(0.1, out, sizeof(out));
    assert_string_equal(out, "0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors_name_line_and_column),
        cmocka_unit_test(test_double_encoded_body),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_writer_detects_misuse_and_limits),
        cmocka_unit_test(test_double_format_roundtrips),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

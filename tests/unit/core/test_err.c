#include "kiln_test.h"

#include <errno.h>

#include "core/err.h"

static void test_table(void **state)
{
    (void)state;
    assert_int_equal(kiln_rc_http(KILN_OK), 200);
    assert_int_equal(kiln_rc_http(KILN_EINVAL), 400);
    assert_int_equal(kiln_rc_http(KILN_EEXIST), 400); /* MLflow: RESOURCE_ALREADY_EXISTS is 400 */
    assert_int_equal(kiln_rc_http(KILN_ENOENT), 404);
    assert_int_equal(kiln_rc_http(-9999), 500);
    assert_string_equal(kiln_rc_mlflow_code(KILN_ENOENDPOINT), "ENDPOINT_NOT_FOUND");
    assert_string_equal(kiln_rc_mlflow_code(KILN_ENOENT), "RESOURCE_DOES_NOT_EXIST");
    assert_string_equal(kiln_err_name(KILN_ECONFLICT), "KILN_ECONFLICT");
    assert_string_equal(kiln_strerror(KILN_OK), "success");
    assert_string_equal(kiln_strerror(-9999), "unknown error");
    /* Codes are API: their values never change. */
    assert_int_equal(KILN_EINVAL, -1);
    assert_int_equal(KILN_EMEDIA, -20);
}

static void test_err_set_and_default(void **state)
{
    struct kiln_err err;
    (void)state;
    kiln_err_clear(&err);
    assert_int_equal(kiln_err_set(&err, KILN_ENOENT, "run '%s' not found", "abc"), KILN_ENOENT);
    assert_string_equal(err.msg, "run 'abc' not found");
    assert_int_equal(kiln_err_default(&err, KILN_ENOENT, "generic"), KILN_ENOENT);
    assert_string_equal(err.msg, "run 'abc' not found");
    assert_int_equal(kiln_err_default(&err, KILN_EINVAL, "generic"), KILN_EINVAL);
    assert_string_equal(err.msg, "generic");
    assert_int_equal(kiln_err_set(NULL, KILN_EIO, "ignored"), KILN_EIO);
    assert_string_equal(kiln_err_msg(NULL, KILN_EIO), "input/output error");
    assert_int_equal(kiln_rc_from_errno(ENOENT), KILN_ENOENT);
    assert_int_equal(kiln_rc_from_errno(ENOSPC), KILN_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_err_set_and_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "kiln_test.h"

static void test_fail_after(void **state)
{
    void *a, *b, *c;
    (void)state;
    kiln_mem_fail_after(2);
    a = kiln_malloc(10);
    b = kiln_strdup("x");
    c = kiln_calloc(1, 10);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_true(kiln_mem_fail_triggered());
    assert_null(kiln_realloc(a, 100)); /* a still owned */
    kiln_mem_fail_after(-1);
    assert_false(kiln_mem_fail_triggered());
    c = kiln_realloc(a, 100);
    assert_non_null(c);
    kiln_free(b);
    kiln_free(c);
    kiln_free(NULL);
}

static void test_overflow_checks(void **state)
{
    (void)state;
    assert_null(kiln_reallocarray(NULL, SIZE_MAX / 2, 4));
    char *s = kiln_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    kiln_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_after),
        cmocka_unit_test(test_overflow_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

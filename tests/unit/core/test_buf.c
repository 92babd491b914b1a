#include "kiln_test.h"

#include "core/buf.h"

static void test_init_is_empty_string(void **state)
{
    struct kiln_buf b;
    (void)state;
    kiln_buf_init(&b, 100);
    assert_non_null(b.buf);
    assert_string_equal(b.buf, "");
    assert_int_equal(b.len, 0);
    kiln_buf_release(&b);
}

static void test_append_and_printf(void **state)
{
    struct kiln_buf b;
    (void)state;
    kiln_buf_init(&b, 1000);
    assert_int_equal(kiln_buf_puts(&b, "hello"), KILN_OK);
    assert_int_equal(kiln_buf_putc(&b, ' '), KILN_OK);
    assert_int_equal(kiln_buf_printf(&b, "%d-%s", 42, "x"), KILN_OK);
    assert_string_equal(b.buf, "hello 42-x");
    assert_int_equal(b.len, 10);
    kiln_buf_truncate(&b, 5);
    assert_string_equal(b.buf, "hello");
    kiln_buf_reset(&b);
    assert_string_equal(b.buf, "");
    kiln_buf_release(&b);
}

static void test_limit_is_enforced_and_leaves_buffer_unchanged(void **state)
{
    struct kiln_buf b;
    (void)state;
    kiln_buf_init(&b, 8);
    assert_int_equal(kiln_buf_puts(&b, "12345678"), KILN_OK);
    assert_int_equal(kiln_buf_putc(&b, '9'), KILN_ETOOBIG);
    assert_string_equal(b.buf, "12345678");
    kiln_buf_reset(&b);
    assert_int_equal(kiln_buf_printf(&b, "%s", "0123456789"), KILN_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.buf, "");
    kiln_buf_release(&b);
}

static void test_printf_grows_large(void **state)
{
    struct kiln_buf b;
    char big[5000];
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kiln_buf_init(&b, 1 << 20);
    assert_int_equal(kiln_buf_printf(&b, "<%s>", big), KILN_OK);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.buf[0], '<');
    assert_int_equal(b.buf[b.len - 1], '>');
    kiln_buf_release(&b);
}

static void test_detach_hands_over(void **state)
{
    struct kiln_buf b;
    size_t len;
    char *s;
    (void)state;
    kiln_buf_init(&b, 100);
    s = kiln_buf_detach(&b, &len);
    assert_string_equal(s, "");
    kiln_free(s);
    kiln_buf_puts(&b, "abc");
    s = kiln_buf_detach(&b, &len);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.buf, "");
    kiln_free(s);
}

static int grow_many(struct kiln_buf *b)
{
    int rc = KILN_OK;
    for (int i = 0; i < 200 && rc == KILN_OK; i++)
        rc = kiln_buf_printf(b, "%d,", i);
    return rc;
}

static void test_oom_loop(void **state)
{
    struct kiln_buf b;
    (void)state;
    kiln_buf_init(&b, 1 << 20);
    KILN_OOM_LOOP(grow_many(&b), kiln_buf_release(&b));
    assert_true(b.len > 500);
    assert_memory_equal(b.buf, "0,1,2,", 6);
    kiln_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_empty_string),
        cmocka_unit_test(test_append_and_printf),
        cmocka_unit_test(test_limit_is_enforced_and_leaves_buffer_unchanged),
        cmocka_unit_test(test_printf_grows_large),
        cmocka_unit_test(test_detach_hands_over),
        cmocka_unit_test(test_oom_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "kiln_test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"

static void test_rel_path_rules(void **state)
{
    (void)state;
    assert_int_equal(kiln_path_check_rel("a/b.txt", 7, "path", NULL), KILN_OK);
    assert_int_equal(kiln_path_check_rel("a/.hidden", 9, "path", NULL), KILN_OK);
    assert_int_equal(kiln_path_check_rel("", 0, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("/etc/passwd", 11, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("../x", 4, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("a/../../x", 9, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("a/..", 4, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("./a", 3, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("a\\..\\b", 6, "path", NULL), KILN_EINVAL);
    assert_int_equal(kiln_path_check_rel("a\0b", 3, "path", NULL), KILN_EINVAL);
}

static void test_atomic_write_and_tree(void **state)
{
    char dir[256], path[512];
    struct kiln_buf b;
    struct kiln_err err = { 0 };
    (void)state;
    assert_non_null(kiln_test_tmpdir(dir, sizeof(dir)));
    snprintf(path, sizeof(path), "%s/x/y/z", dir);
    assert_int_equal(kiln_mkdirs(path, 0755, &err), KILN_OK);
    assert_true(kiln_is_dir(path));
    snprintf(path, sizeof(path), "%s/x/y/z/f.txt", dir);
    assert_int_equal(kiln_write_file_atomic(path, "hello", 5, &err), KILN_OK);
    assert_int_equal(kiln_write_file_atomic(path, "world!", 6, &err), KILN_OK);
    kiln_buf_init(&b, 100);
    assert_int_equal(kiln_read_file(path, &b, &err), KILN_OK);
    assert_string_equal(b.buf, "world!");
    kiln_buf_release(&b);
    kiln_buf_init(&b, 3);
    assert_int_equal(kiln_read_file(path, &b, &err), KILN_ETOOBIG);
    kiln_buf_release(&b);
    /* mkdirs over a file fails clearly */
    assert_int_equal(kiln_mkdirs(path, 0755, &err), KILN_EEXIST);
    snprintf(path, sizeof(path), "%s/x", dir);
    assert_int_equal(kiln_remove_tree(dir, &err), KILN_OK);
    assert_false(kiln_is_dir(dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_path_rules),
        cmocka_unit_test(test_atomic_write_and_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

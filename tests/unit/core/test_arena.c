#include "kiln_test.h"

#include <stdalign.h>

#include "core/arena.h"

static int cleanup_order[4];
static int cleanup_n;

static void record(void *p)
{
    cleanup_order[cleanup_n++] = *(int *)p;
}

static void test_alloc_alignment_and_big_blocks(void **state)
{
    struct kiln_arena *a = kiln_arena_new(256);
    (void)state;
    assert_non_null(a);
    for (int i = 0; i < 100; i++) {
        char *p = kiln_arena_alloc(a, (size_t)(i % 7) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, 'x', (size_t)(i % 7) + 1);
    }
    char *big = kiln_arena_alloc(a, 10000);
    assert_non_null(big);
    memset(big, 0, 10000);
    char *after = kiln_arena_strdup(a, "still bumping");
    assert_string_equal(after, "still bumping");
    assert_string_equal(kiln_arena_printf(a, "%d-%s", 7, "x"), "7-x");
    assert_true(kiln_arena_used(a) >= 10000);
    kiln_arena_free(a);
    kiln_arena_free(NULL);
}

static void test_cleanups_run_in_reverse(void **state)
{
    struct kiln_arena *a = kiln_arena_new(0);
    static int one = 1, two = 2, three = 3;
    (void)state;
    cleanup_n = 0;
    assert_int_equal(kiln_arena_cleanup_add(a, record, &one), KILN_OK);
    assert_int_equal(kiln_arena_cleanup_add(a, record, &two), KILN_OK);
    assert_int_equal(kiln_arena_cleanup_add(a, record, &three), KILN_OK);
    kiln_arena_free(a);
    assert_int_equal(cleanup_n, 3);
    assert_int_equal(cleanup_order[0], 3);
    assert_int_equal(cleanup_order[2], 1);
}

static int fill(struct kiln_arena **out)
{
    struct kiln_arena *a = kiln_arena_new(128);
    if (a == NULL)
        return KILN_ENOMEM;
    for (int i = 0; i < 50; i++) {
        if (kiln_arena_printf(a, "item %d", i) == NULL) {
            kiln_arena_free(a);
            return KILN_ENOMEM;
        }
    }
    *out = a;
    return KILN_OK;
}

static void test_oom_loop(void **state)
{
    struct kiln_arena *a = NULL;
    (void)state;
    KILN_OOM_LOOP(fill(&a), (void)0);
    kiln_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_alignment_and_big_blocks),
        cmocka_unit_test(test_cleanups_run_in_reverse),
        cmocka_unit_test(test_oom_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

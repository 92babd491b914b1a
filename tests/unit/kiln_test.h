/*
 * kiln_test.h - what every cmocka unit test includes: cmocka's prerequisites, a temporary
 * directory helper, and the OOM-loop helper of STYLE.md rule 21.
 */
#ifndef KILN_TEST_H
#define KILN_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"

/*
 * Runs `body` (an expression returning a kiln rc) with allocation failure injected after
 * n = 0, 1, 2, ... allocations until it succeeds. At every failing step the rc must be
 * KILN_ENOMEM (or another rc listed by `also_ok`, 0 for none) and `undo` runs to release
 * whatever the step produced. Valgrind/ASan report any leak.
 */
#define KILN_OOM_LOOP(body, undo)                       \
    do {                                                \
        for (long oom_n_ = 0;; oom_n_++) {              \
            int oom_rc_;                                \
            kiln_mem_fail_after(oom_n_);                \
            oom_rc_ = (body);                           \
            int oom_hit_ = kiln_mem_fail_triggered();   \
            kiln_mem_fail_after(-1);                    \
            if (!oom_hit_) {                            \
                assert_int_equal(oom_rc_, KILN_OK);     \
                break;                                  \
            }                                           \
            if (oom_rc_ != KILN_OK)                     \
                assert_int_equal(oom_rc_, KILN_ENOMEM); \
            undo;                                       \
            assert_true(oom_n_ < 100000);               \
        }                                               \
    } while (0)

/* mkdtemp under $TMPDIR (or /tmp); the caller removes it with kiln_remove_tree. */
static inline char *kiln_test_tmpdir(char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/kiln-test-XXXXXX", base != NULL ? base : "/tmp");
    return mkdtemp(buf);
}

#endif

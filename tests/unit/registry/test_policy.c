/*
 * test_policy.c - the promotion-policy YAML parser: a full policy round-trips into the
 * struct, defaults (order gate on the previous environment), and every kind of mistake is
 * refused with the line (and column) of the YAML at fault.
 */
#include "kiln_test.h"

#include "registry/registry.h"

static struct kiln_arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = kiln_arena_new(0);
    return arena == NULL;
}

static int teardown(void **state)
{
    (void)state;
    kiln_arena_free(arena);
    return 0;
}

static int parse(const char *text, struct kiln_policy **p, struct kiln_err *err)
{
    return kiln_policy_parse_yaml(text, strlen(text), arena, p, err);
}

static void test_full_policy(void **state)
{
    static const char text[] = "# promotion policy\n"
                               "version: 1\n"
                               "environments:\n"
                               "  dev: {}\n"
                               "  staging:\n"
                               "    dataset: holdout\n"
                               "    metrics:\n"
                               "      - roc_auc >= 0.90\n"
                               "      - log_loss<0.4\n"
                               "    tags:\n"
                               "      validation_status: passed\n"
                               "  canary:\n"
                               "    dataset: holdout\n"
                               "    digest: abc123\n"
                               "    compare:\n"
                               "      - metric: roc_auc\n"
                               "        greater_is_better: true\n"
                               "        min_absolute_change: 0.001\n"
                               "        min_relative_change: 0.01\n"
                               "        threshold: 0.8\n"
                               "    pr_regression: {tolerance: 0.02, per_class: false}\n"
                               "  production:\n"
                               "    after: canary\n"
                               "    champion: production\n"
                               "    require_champion: yes\n"
                               "    dataset: holdout\n"
                               "    pr_regression:\n";
    struct kiln_policy *p;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(parse(text, &p, &err), KILN_OK);
    assert_int_equal(p->nenvs, 4);
    assert_string_equal(p->envs[0].name, "dev");
    assert_null(p->envs[0].after);
    assert_string_equal(p->envs[1].after, "dev"); /* default: the previous environment */
    assert_int_equal(p->envs[1].nthresholds, 2);
    assert_string_equal(p->envs[1].thresholds[0].metric, "roc_auc");
    assert_int_equal(p->envs[1].thresholds[0].op, KILN_GATE_GE);
    assert_true(p->envs[1].thresholds[0].value == 0.90);
    assert_int_equal(p->envs[1].thresholds[0].line, 8);
    assert_string_equal(p->envs[1].thresholds[1].metric, "log_loss");
    assert_int_equal(p->envs[1].thresholds[1].op, KILN_GATE_LT);
    assert_int_equal(p->envs[1].ntags, 1);
    assert_string_equal(p->envs[1].tags[0].value, "passed");
    assert_string_equal(p->envs[2].digest, "abc123");
    assert_int_equal(p->envs[2].ncompares, 1);
    assert_true(p->envs[2].compares[0].greater_is_better);
    assert_true(p->envs[2].compares[0].has_abs && p->envs[2].compares[0].has_rel);
    assert_true(p->envs[2].compares[0].min_relative_change == 0.01);
    assert_true(p->envs[2].pr_enabled);
    assert_false(p->envs[2].pr_per_class);
    assert_true(p->envs[2].pr_tolerance == 0.02);
    assert_string_equal(p->envs[3].after, "canary");
    assert_string_equal(p->envs[3].champion, "production");
    assert_true(p->envs[3].require_champion);
    /* An empty pr_regression turns the gate on with tolerance 0, per class. */
    assert_true(p->envs[3].pr_enabled && p->envs[3].pr_per_class);
    assert_true(p->envs[3].pr_tolerance == 0);
}

static void test_after_none(void **state)
{
    struct kiln_policy *p;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(
        parse("environments:\n  a:\n  b:\n    after: null\n  c:\n    after: none\n", &p, &err),
        KILN_OK);
    assert_int_equal(p->nenvs, 3);
    assert_null(p->envs[1].after);
    assert_null(p->envs[2].after);
}

struct bad {
    const char *yaml;
    const char *expect; /* substring of the message */
};

static void test_errors_name_the_line(void **state)
{
    static const struct bad cases[] = {
        { "environments:\n  dev: {}\n  staging:\n    tresholds: []\n",
          "policy line 4, column 5: environment 'staging': unknown key 'tresholds'" },
        { "environments:\n  staging:\n    dataset: h\n    metrics:\n      - roc_auc => 0.9\n",
          "policy line 5, column 9: metric gate 'roc_auc => 0.9' names no valid metric" },
        { "environments:\n  staging:\n    dataset: h\n    metrics:\n      - roc_auc 0.9\n",
          "policy line 5, column 9: metric gate 'roc_auc 0.9' must read" },
        { "environments:\n  staging:\n    metrics: [\"auc >= 1\"]\n",
          "policy line 2, column 3: environment 'staging' has metric gates but no 'dataset'" },
        { "environments:\n  a: {}\n  a: {}\n", "policy line 3, column 3: environment 'a' is "
                                               "listed twice" },
        { "environments:\n  a:\n    after: zz\n", "environment 'a': after 'zz' is not an "
                                                  "environment" },
        { "environments:\n  a:\n    after: a\n", "after 'a' is the environment itself" },
        { "environments:\n  latest: {}\n", "policy line 2, column 3: environment 'latest' is not "
                                           "a valid alias name" },
        { "environments:\n  a:\n    require_champion: maybe\n",
          "policy line 3, column 23: require_champion must be true or false" },
        { "environments:\n  a:\n    dataset: h\n    compare:\n      - metric: auc\n",
          "policy line 5, column 9: compare gate on 'auc' needs 'greater_is_better" },
        { "environments:\n  a:\n    dataset: h\n    compare:\n      - metric: auc\n"
          "        greater_is_better: true\n",
          "needs at least one of threshold, min_absolute_change, min_relative_change" },
        { "environments:\n  a:\n    dataset: h\n    compare:\n      - {metric: auc, "
          "greater_is_better: true, min_relative_change: 2}\n",
          "min_relative_change must be between 0 and 1" },
        { "environments:\n  a:\n    dataset: h\n    pr_regression: {tolerance: -1}\n",
          "policy line 4, column 32: tolerance must be between 0 and 1" },
        { "environments:\n  a:\n    tags: [x]\n", "policy line 3, column 11: tags must be a "
                                                  "mapping" },
        { "environments: [dev, prod]\n", "policy line 1, column 15: environments must be a "
                                         "mapping" },
        { "envs:\n  a: {}\n", "policy line 1, column 1: unknown key 'envs'" },
        { "version: 2\nenvironments:\n  a: {}\n", "policy line 1, column 10: policy format "
                                                  "version must be 1" },
        { "environments:\n  a: {\n", "policy line 3, column 1:" },
        { "environments:\n\tdev: {}\n", "policy line 2, column 1:" },
        { "", "policy: the document is empty" },
        { "- a\n- b\n", "policy line 1, column 1: a policy must be a mapping" },
        { "environments:\n  a: {}\n---\nenvironments:\n  b: {}\n",
          "policy line 4: a policy file holds one YAML document" },
        { "environments: {}\n", "environments must list 1 to 32 environments" },
        { "environments:\n  a: 3\n", "policy line 2, column 6: environment 'a' must be a "
                                     "mapping of gates" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kiln_policy *p = NULL;
        struct kiln_err err = { 0 };
        int rc = parse(cases[i].yaml, &p, &err);
        if (rc != KILN_EINVAL || strstr(err.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, err.msg,
                     cases[i].expect);
    }
}

static void test_alias_bomb_is_bounded(void **state)
{
    /* Nested aliases would make a naive walker visit 10^9 nodes; the budget stops it. */
    static const char text[] =
        "a: &a [\"x >= 1\", \"x >= 1\", \"x >= 1\", \"x >= 1\", \"x >= 1\", \"x >= 1\"]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "environments:\n  e:\n    dataset: h\n    metrics: *c\n";
    struct kiln_policy *p;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(parse(text, &p, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "policy line 1"));
}

static void test_nul_and_size(void **state)
{
    struct kiln_policy *p;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(kiln_policy_parse_yaml("environments:\n  a: {}\0", 24, arena, &p, &err),
                     KILN_EINVAL);
    assert_string_equal(err.msg, "policy: contains a NUL byte");
    assert_int_equal(kiln_policy_parse_yaml("x", KILN_POLICY_MAX_BYTES + 1, arena, &p, &err),
                     KILN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_policy),          cmocka_unit_test(test_after_none),
        cmocka_unit_test(test_errors_name_the_line), cmocka_unit_test(test_alias_bomb_is_bounded),
        cmocka_unit_test(test_nul_and_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_experiments.c - experiments on a real SQLite store: rename, delete/restore with the
 * cascade to runs (only the runs the deletion took come back), tags, and search (filters,
 * order, view types, pages, bad input), plus an OOM loop over search.
 */
#include "trk_fixture.h"

static void test_rename(void **state)
{
    struct fixture *f = *state;
    struct kiln_experiment *e;
    struct kiln_err err = { 0 };
    int64_t other;

    assert_int_equal(kiln_experiment_create(f->store, "other", NULL, NULL, 0, "mlflow-artifacts:/",
                                            &other, &err),
                     KILN_OK);
    assert_int_equal(kiln_experiment_rename(f->store, f->exp, "renamed", &err), KILN_OK);
    assert_int_equal(kiln_experiment_get(f->store, f->arena, f->exp, &e, &err), KILN_OK);
    assert_string_equal(e->name, "renamed");
    assert_true(e->last_update_time >= e->creation_time);
    EXPECT_ERR(kiln_experiment_rename(f->store, f->exp, "other", &err), KILN_EEXIST,
               "Experiment(name=other) already exists.");
    EXPECT_ERR(kiln_experiment_rename(f->store, f->exp, "", &err), KILN_EINVAL,
               "Invalid experiment name");
    EXPECT_ERR(kiln_experiment_rename(f->store, 4242, "x", &err), KILN_ENOENT,
               "No Experiment with id=4242");
    assert_int_equal(kiln_experiment_delete(f->store, other, &err), KILN_OK);
    EXPECT_ERR(kiln_experiment_rename(f->store, other, "x", &err), KILN_ESTATE,
               "non-active experiment");
    /* A deleted experiment's name stays taken. */
    EXPECT_ERR(kiln_experiment_rename(f->store, f->exp, "other", &err), KILN_EEXIST,
               "already exists");
}

static void test_delete_restore_cascade(void **state)
{
    struct fixture *f = *state;
    const char *before = make_run(f, f->exp, "deleted-before")->info.run_id;
    const char *a = make_run(f, f->exp, "a")->info.run_id;
    const char *b = make_run(f, f->exp, "b")->info.run_id;
    const char *elsewhere = make_run(f, 0, "default")->info.run_id;
    struct kiln_experiment *e;
    struct kiln_err err = { 0 };

    assert_int_equal(kiln_run_delete(f->store, before, &err), KILN_OK);
    kiln_sleep_ms(3); /* the experiment's deletion must come strictly later */
    assert_int_equal(kiln_experiment_delete(f->store, f->exp, &err), KILN_OK);
    assert_int_equal(kiln_experiment_get(f->store, f->arena, f->exp, &e, &err), KILN_OK);
    assert_string_equal(e->lifecycle_stage, "deleted");
    assert_string_equal(get_run(f, a)->info.lifecycle_stage, "deleted");
    assert_string_equal(get_run(f, b)->info.lifecycle_stage, "deleted");
    assert_string_equal(get_run(f, elsewhere)->info.lifecycle_stage, "active");
    /* get-by-name still finds it. */
    assert_int_equal(kiln_experiment_get_by_name(f->store, f->arena, "e", &e, &err), KILN_OK);
    EXPECT_ERR(kiln_experiment_delete(f->store, f->exp, &err), KILN_ENOENT, "No active Experiment");
    EXPECT_ERR(kiln_experiment_set_tag(f->store, f->exp, "k", "v", &err), KILN_EINVAL,
               "must be in the 'active' state");

    assert_int_equal(kiln_experiment_restore(f->store, f->exp, &err), KILN_OK);
    assert_string_equal(get_run(f, a)->info.lifecycle_stage, "active");
    assert_string_equal(get_run(f, b)->info.lifecycle_stage, "active");
    assert_string_equal(get_run(f, before)->info.lifecycle_stage, "deleted");
    EXPECT_ERR(kiln_experiment_restore(f->store, f->exp, &err), KILN_ENOENT, "already active");
    EXPECT_ERR(kiln_experiment_delete(f->store, 0, &err), KILN_EINVAL,
               "Cannot delete the default experiment");
    EXPECT_ERR(kiln_experiment_delete(f->store, 777, &err), KILN_ENOENT, "id=777");
}

static void test_tags(void **state)
{
    struct fixture *f = *state;
    struct kiln_experiment *e;
    struct kiln_err err = { 0 };
    char big[5002];

    assert_int_equal(kiln_experiment_set_tag(f->store, f->exp, "team", "a", &err), KILN_OK);
    assert_int_equal(kiln_experiment_set_tag(f->store, f->exp, "team", "b", &err), KILN_OK);
    assert_int_equal(kiln_experiment_set_tag(f->store, f->exp, "mlflow.note.content", NULL, &err),
                     KILN_OK);
    assert_int_equal(kiln_experiment_get(f->store, f->arena, f->exp, &e, &err), KILN_OK);
    assert_int_equal(e->ntags, 2);
    assert_string_equal(find_kv(e->tags, e->ntags, "team"), "b");
    assert_string_equal(find_kv(e->tags, e->ntags, "mlflow.note.content"), "");
    memset(big, 'v', 5001);
    big[5001] = '\0';
    EXPECT_ERR(kiln_experiment_set_tag(f->store, f->exp, "big", big, &err), KILN_EINVAL,
               "exceeded length limit of 5000");
    big[5000] = '\0';
    assert_int_equal(kiln_experiment_set_tag(f->store, f->exp, "big", big, &err), KILN_OK);
    EXPECT_ERR(kiln_experiment_set_tag(f->store, f->exp, "a/../b", "v", &err), KILN_EINVAL,
               "Invalid value");
    EXPECT_ERR(kiln_experiment_set_tag(f->store, 999, "k", "v", &err), KILN_ENOENT, "id=999");
    assert_int_equal(kiln_experiment_delete_tag(f->store, f->exp, "team", &err), KILN_OK);
    EXPECT_ERR(kiln_experiment_delete_tag(f->store, f->exp, "team", &err), KILN_ENOENT,
               "No tag with name: team");
    /* Tags given at create are validated the same way. */
    {
        struct kiln_kv t = { "", "v" };
        int64_t id;
        EXPECT_ERR(kiln_experiment_create(f->store, "tagged", NULL, &t, 1, "mlflow-artifacts:/",
                                          &id, &err),
                   KILN_EINVAL, "tags[0].key");
    }
}

/* Names of a search page, joined by ','. */
static const char *names(struct fixture *f, const char *filter, const char *order,
                         enum kiln_view_type view, const char **token, int64_t max)
{
    struct kiln_experiment_query q;
    struct kiln_experiment_page p;
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    const char *out;
    memset(&q, 0, sizeof(q));
    q.filter = filter;
    q.order_by = order != NULL ? &order : NULL;
    q.norder_by = order != NULL;
    q.view_type = view;
    q.max_results = max;
    q.page_token = token != NULL ? *token : NULL;
    if (kiln_experiment_search(f->store, f->arena, &q, &p, &err) != KILN_OK)
        fail_msg("search '%s': %s", filter != NULL ? filter : "", err.msg);
    kiln_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < p.n; i++)
        kiln_buf_printf(&b, "%s%s", i ? "," : "", p.items[i].name);
    out = kiln_arena_strdup(f->arena, b.buf);
    kiln_buf_release(&b);
    if (token != NULL)
        *token = p.next_page_token;
    return out;
}

static void test_search(void **state)
{
    struct fixture *f = *state;
    const char *names_in[] = { "alpha", "Beta", "gamma", "delta" };
    struct kiln_experiment_query q;
    struct kiln_experiment_page p;
    struct kiln_err err = { 0 };
    const char *token = NULL;
    int64_t id[4];
    struct kiln_buf all;

    for (int i = 0; i < 4; i++) {
        kiln_sleep_ms(2); /* distinct creation times */
        assert_int_equal(kiln_experiment_create(f->store, names_in[i], NULL, NULL, 0,
                                                "mlflow-artifacts:/", &id[i], &err),
                         KILN_OK);
    }
    assert_int_equal(kiln_experiment_set_tag(f->store, id[1], "team", "vision", &err), KILN_OK);
    assert_int_equal(kiln_experiment_set_tag(f->store, id[2], "team", "nlp", &err), KILN_OK);
    assert_int_equal(kiln_experiment_delete(f->store, id[3], &err), KILN_OK);

    /* Default order: newest first (the fixture's two may share a millisecond: id breaks it). */
    assert_string_equal(names(f, "name != 'e' and name != 'Default'", NULL, 0, NULL, 0),
                        "gamma,Beta,alpha");
    assert_string_equal(names(f, NULL, "name ASC", 0, NULL, 0), "Beta,Default,alpha,e,gamma");
    assert_string_equal(names(f, NULL, "experiment_id DESC", 0, NULL, 0),
                        "gamma,Beta,alpha,e,Default");
    assert_string_equal(names(f, "name LIKE '%a'", "name", 0, NULL, 0), "Beta,alpha,gamma");
    assert_string_equal(names(f, "name ILIKE 'b%'", NULL, 0, NULL, 0), "Beta");
    assert_string_equal(names(f, "name != 'e' and name != 'Default'", "name DESC", 0, NULL, 0),
                        "gamma,alpha,Beta");
    assert_string_equal(names(f, "tags.team = 'vision'", NULL, 0, NULL, 0), "Beta");
    assert_string_equal(names(f, "tags.team LIKE '%'", "name", 0, NULL, 0), "Beta,gamma");
    assert_string_equal(names(f, "tags.team != 'nlp'", NULL, 0, NULL, 0), "Beta");
    assert_string_equal(names(f, "creation_time > 0 and last_update_time >= 0", "name", 0, NULL, 0),
                        "Beta,Default,alpha,e,gamma");
    assert_string_equal(names(f, NULL, NULL, KILN_VIEW_DELETED_ONLY, NULL, 0), "delta");
    assert_string_equal(names(f, "name = 'delta'", NULL, KILN_VIEW_ALL, NULL, 0), "delta");

    /* Pages of 2 walk everything exactly once. */
    kiln_buf_init(&all, 4096);
    do {
        kiln_buf_printf(&all, "%s%s", all.len ? "," : "", names(f, NULL, "name", 0, &token, 2));
    } while (token != NULL);
    assert_string_equal(all.buf, "Beta,Default,alpha,e,gamma");
    kiln_buf_release(&all);

    memset(&q, 0, sizeof(q));
    q.max_results = 50001;
    EXPECT_ERR(kiln_experiment_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "at most 50000");
    q.max_results = -1;
    EXPECT_ERR(kiln_experiment_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "positive integer");
    q.max_results = 0;
    q.page_token = "garbage";
    EXPECT_ERR(kiln_experiment_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "Invalid page token");
    q.page_token = NULL;
    q.filter = "metrics.x > 1";
    EXPECT_ERR(kiln_experiment_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "Invalid entity type");
    q.filter = NULL;
    {
        const char *bad = "tags.team";
        q.order_by = &bad;
        q.norder_by = 1;
        EXPECT_ERR(kiln_experiment_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
                   "order_by");
    }
}

static int search_oom(struct fixture *f)
{
    struct kiln_arena *a = kiln_arena_new(256);
    struct kiln_experiment_query q;
    struct kiln_experiment_page p;
    const char *order = "name DESC";
    int rc;
    if (a == NULL)
        return KILN_ENOMEM;
    memset(&q, 0, sizeof(q));
    q.filter = "name LIKE '%' and tags.team = 'x'";
    q.order_by = &order;
    q.norder_by = 1;
    q.max_results = 1;
    rc = kiln_experiment_search(f->store, a, &q, &p, NULL);
    if (rc == KILN_OK && (p.n != 1 || p.next_page_token == NULL || p.items[0].ntags != 1))
        rc = KILN_EINTERNAL;
    kiln_arena_free(a);
    return rc;
}

static void test_search_oom(void **state)
{
    struct fixture *f = *state;
    int64_t id;
    struct kiln_err err = { 0 };
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x%d", i);
        assert_int_equal(
            kiln_experiment_create(f->store, name, NULL, NULL, 0, "mlflow-artifacts:/", &id, &err),
            KILN_OK);
        assert_int_equal(kiln_experiment_set_tag(f->store, id, "team", "x", &err), KILN_OK);
    }
    KILN_OOM_LOOP(search_oom(f), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_restore_cascade, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tags, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_search, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_search_oom, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

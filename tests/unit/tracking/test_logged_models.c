/*
 * test_logged_models.c - MLflow 3 logged models on a real SQLite store: create (ids, names,
 * artifact URIs), finalize, params (write-once, all or nothing), tags, soft delete, search
 * with page tokens, and OOM loops over get and search.
 */
#include "kiln_test.h"

#include <math.h>

#include "core/arena.h"
#include "core/fs.h"
#include "store/migrations/migrations.h"
#include "store/store.h"
#include "tracking/logged_models.h"
#include "tracking/tracking.h"

struct fixture {
    char dir[256];
    struct kiln_store *store;
    struct kiln_arena *arena;
    int64_t exp;      /* artifact location without a trailing slash */
    int64_t exp_root; /* artifact location "mlflow-artifacts:/" style, with one */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char uri[400];
    assert_non_null(f);
    assert_non_null(kiln_test_tmpdir(f->dir, sizeof(f->dir)));
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", f->dir);
    assert_int_equal(kiln_store_open(uri, kiln_schema_all, 2, &f->store, NULL), KILN_OK);
    assert_int_equal(kiln_tracking_init(f->store, "mlflow-artifacts:/", NULL), KILN_OK);
    assert_int_equal(kiln_experiment_create(f->store, "e", NULL, NULL, 0, "mlflow-artifacts:/",
                                            &f->exp, NULL),
                     KILN_OK);
    assert_int_equal(kiln_experiment_create(f->store, "slash", "s3://bucket/x/", NULL, 0,
                                            "mlflow-artifacts:/", &f->exp_root, NULL),
                     KILN_OK);
    f->arena = kiln_arena_new(0);
    assert_non_null(f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kiln_arena_free(f->arena);
    kiln_store_close(f->store);
    kiln_remove_tree(f->dir, NULL);
    free(f);
    return 0;
}

static struct kiln_logged_model *create(struct fixture *f, int64_t exp, const char *name)
{
    struct kiln_logged_model_create spec = { 0 };
    struct kiln_logged_model *m = NULL;
    struct kiln_err err = { 0 };
    spec.experiment_id = exp;
    spec.name = name;
    if (kiln_logged_model_create(f->store, f->arena, &spec, &m, &err) != KILN_OK)
        fail_msg("create: %s", err.msg);
    return m;
}

static void test_create_and_get(void **state)
{
    struct fixture *f = *state;
    static const struct kiln_kv params[] = { { "alpha", "0.5" }, { "depth", "3" } };
    static const struct kiln_kv tags[] = { { "t", "v" } };
    struct kiln_logged_model_create spec = { 0 };
    struct kiln_logged_model *m, *g;
    char want[200];

    spec.experiment_id = f->exp;
    spec.name = "model";
    spec.model_type = "clf";
    spec.source_run_id = "0123456789abcdef0123456789abcdef";
    spec.params = params;
    spec.nparams = 2;
    spec.tags = tags;
    spec.ntags = 1;
    assert_int_equal(kiln_logged_model_create(f->store, f->arena, &spec, &m, NULL), KILN_OK);
    assert_int_equal(strlen(m->model_id), 34);
    assert_memory_equal(m->model_id, "m-", 2);
    for (const char *p = m->model_id + 2; *p != '\0'; p++)
        assert_non_null(strchr("0123456789abcdef", *p));
    assert_int_equal(m->status, KILN_LOGGED_MODEL_PENDING);
    snprintf(want, sizeof(want), "mlflow-artifacts:/%lld/models/%s/artifacts", (long long)f->exp,
             m->model_id);
    assert_string_equal(m->artifact_uri, want);
    assert_string_equal(m->model_type, "clf");
    assert_int_equal(m->nparams, 2);
    assert_string_equal(m->params[1].key, "depth");
    assert_int_equal(m->ntags, 1);
    assert_int_equal(kiln_logged_model_get(f->store, f->arena, m->model_id, &g, NULL), KILN_OK);
    assert_string_equal(g->name, "model");
    assert_int_equal(g->creation_timestamp_ms, m->creation_timestamp_ms);

    /* A location with a trailing slash gets no double slash; no name gets a random one. */
    m = create(f, f->exp_root, NULL);
    snprintf(want, sizeof(want), "s3://bucket/x/models/%s/artifacts", m->model_id);
    assert_string_equal(m->artifact_uri, want);
    assert_non_null(strchr(m->name, '-'));
    assert_null(m->model_type);
}

static void test_validation(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = { "a/b", "a:b", "a.b", "a%b", "a\"b", "a'b" };
    struct kiln_logged_model_create spec = { 0 };
    struct kiln_logged_model *m;
    struct kiln_kv p = { "", "x" };
    struct kiln_err err = { 0 };

    spec.experiment_id = f->exp;
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        spec.name = bad[i];
        assert_int_equal(kiln_logged_model_create(f->store, f->arena, &spec, &m, &err),
                         KILN_EINVAL);
        assert_non_null(strstr(err.msg, "Invalid model name"));
    }
    spec.name = "ok";
    spec.experiment_id = 999;
    assert_int_equal(kiln_logged_model_create(f->store, f->arena, &spec, &m, &err), KILN_ENOENT);
    spec.experiment_id = f->exp;
    spec.params = &p;
    spec.nparams = 1;
    assert_int_equal(kiln_logged_model_create(f->store, f->arena, &spec, &m, &err), KILN_EINVAL);
    assert_int_equal(kiln_logged_model_get(f->store, f->arena, "m-nope", &m, &err), KILN_ENOENT);
    assert_non_null(strstr(err.msg, "m-nope"));
}

static void test_finalize_params_tags_delete(void **state)
{
    struct fixture *f = *state;
    struct kiln_logged_model *m = create(f, f->exp, "x"), *g;
    struct kiln_kv p1[] = { { "a", "1" }, { "b", "2" } };
    struct kiln_kv p2[] = { { "c", "3" }, { "a", "changed" } };
    struct kiln_kv t1[] = { { "k", "v1" }, { "k2", "v" } };
    struct kiln_kv t2[] = { { "k", "v2" } };
    struct kiln_err err = { 0 };

    assert_int_equal(kiln_logged_model_finalize(f->store, f->arena, m->model_id,
                                                KILN_LOGGED_MODEL_PENDING, &g, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_logged_model_finalize(f->store, f->arena, m->model_id,
                                                KILN_LOGGED_MODEL_READY, &g, NULL),
                     KILN_OK);
    assert_int_equal(g->status, KILN_LOGGED_MODEL_READY);
    assert_true(g->last_updated_timestamp_ms >= m->creation_timestamp_ms);

    assert_int_equal(kiln_logged_model_log_params(f->store, m->model_id, p1, 2, NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_log_params(f->store, m->model_id, p1, 2, NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_log_params(f->store, m->model_id, p2, 2, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "Changing param values is not allowed"));
    assert_int_equal(kiln_logged_model_get(f->store, f->arena, m->model_id, &g, NULL), KILN_OK);
    assert_int_equal(g->nparams, 2); /* "c" was rolled back with the rest */

    assert_int_equal(kiln_logged_model_set_tags(f->store, m->model_id, t1, 2, NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_set_tags(f->store, m->model_id, t2, 1, NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_get(f->store, f->arena, m->model_id, &g, NULL), KILN_OK);
    assert_int_equal(g->ntags, 2);
    assert_string_equal(g->tags[0].value, "v2");
    assert_int_equal(kiln_logged_model_delete_tag(f->store, m->model_id, "k2", NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_delete_tag(f->store, m->model_id, "k2", &err), KILN_ENOENT);
    assert_int_equal(kiln_logged_model_delete_tag(f->store, m->model_id, "", &err), KILN_EINVAL);

    assert_int_equal(kiln_logged_model_delete(f->store, m->model_id, NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_delete(f->store, m->model_id, &err), KILN_ENOENT);
    assert_int_equal(kiln_logged_model_get(f->store, f->arena, m->model_id, &g, &err), KILN_ENOENT);
    assert_int_equal(kiln_logged_model_set_tags(f->store, m->model_id, t2, 1, &err), KILN_ENOENT);
    assert_int_equal(kiln_logged_model_log_params(f->store, m->model_id, p1, 1, &err), KILN_ENOENT);
    assert_int_equal(kiln_logged_model_finalize(f->store, f->arena, m->model_id,
                                                KILN_LOGGED_MODEL_READY, NULL, &err),
                     KILN_ENOENT);
}

static void test_status_names(void **state)
{
    int st = -1;
    (void)state;
    assert_int_equal(kiln_logged_model_status_parse("LOGGED_MODEL_READY", &st), KILN_OK);
    assert_int_equal(st, KILN_LOGGED_MODEL_READY);
    assert_int_equal(kiln_logged_model_status_parse("upload_failed", &st), KILN_OK);
    assert_int_equal(st, KILN_LOGGED_MODEL_UPLOAD_FAILED);
    assert_int_equal(kiln_logged_model_status_parse("1", &st), KILN_OK);
    assert_int_equal(st, KILN_LOGGED_MODEL_PENDING);
    assert_int_equal(kiln_logged_model_status_parse("4", &st), KILN_EINVAL);
    assert_int_equal(kiln_logged_model_status_parse("STATUS_UNSPECIFIED", &st), KILN_EINVAL);
    assert_string_equal(kiln_logged_model_status_name(3), "LOGGED_MODEL_UPLOAD_FAILED");
    assert_string_equal(kiln_logged_model_status_name(99), "LOGGED_MODEL_STATUS_UNSPECIFIED");
}

static void test_search_pages(void **state)
{
    struct fixture *f = *state;
    struct kiln_logged_model_search s = { 0 };
    struct kiln_logged_model_order by_name = { "name", 1, NULL, NULL };
    struct kiln_logged_model **models;
    const char *next = NULL;
    size_t n, total = 0;
    struct kiln_err err = { 0 };

    for (int i = 0; i < 7; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i);
        create(f, f->exp, name);
    }
    create(f, f->exp_root, "elsewhere");
    s.experiment_ids = &f->exp;
    s.nexperiments = 1;
    s.order = &by_name;
    s.norder = 1;
    s.max_results = 3;
    do {
        s.page_token = next;
        assert_int_equal(kiln_logged_model_search(f->store, f->arena, &s, &models, &n, &next, &err),
                         KILN_OK);
        for (size_t i = 0; i < n; i++) {
            int k = models[i]->name[1] - '0';
            assert_int_equal(k, (int)total); /* ordered by name, no repeats, no gaps */
            total++;
        }
    } while (next != NULL);
    assert_int_equal(total, 7);
    /* A token from another search is refused. */
    s.max_results = 3;
    s.page_token = NULL;
    assert_int_equal(kiln_logged_model_search(f->store, f->arena, &s, &models, &n, &next, NULL),
                     KILN_OK);
    assert_non_null(next);
    s.page_token = next;
    s.filter = "name != 'n0'";
    assert_int_equal(kiln_logged_model_search(f->store, f->arena, &s, &models, &n, &next, &err),
                     KILN_EINVAL);
    s.page_token = NULL;
    s.nexperiments = 0;
    assert_int_equal(kiln_logged_model_search(f->store, f->arena, &s, &models, &n, &next, &err),
                     KILN_EINVAL);
}

static void test_oom(void **state)
{
    struct fixture *f = *state;
    struct kiln_logged_model *m = create(f, f->exp, "oom"), *g = NULL;
    struct kiln_logged_model_search s = { 0 };
    struct kiln_logged_model **models = NULL;
    struct kiln_kv tags[] = { { "a", "1" }, { "b", "2" } };
    const char *next;
    size_t n;

    assert_int_equal(kiln_logged_model_set_tags(f->store, m->model_id, tags, 2, NULL), KILN_OK);
    assert_int_equal(kiln_logged_model_log_params(f->store, m->model_id, tags, 2, NULL), KILN_OK);
    KILN_OOM_LOOP(kiln_logged_model_get(f->store, f->arena, m->model_id, &g, NULL), (void)0);
    assert_int_equal(g->ntags, 2);
    s.experiment_ids = &f->exp;
    s.nexperiments = 1;
    s.filter = "tags.a = '1' AND params.b = '2'";
    KILN_OOM_LOOP(kiln_logged_model_search(f->store, f->arena, &s, &models, &n, &next, NULL),
                  (void)0);
    assert_int_equal(n, 1);
    assert_string_equal(models[0]->model_id, m->model_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finalize_params_tags_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

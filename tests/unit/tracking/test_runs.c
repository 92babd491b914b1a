/*
 * test_runs.c - runs on a real SQLite store: creation and naming, update/delete/restore,
 * metric semantics (latest by (step, timestamp, value), duplicates, NaN and infinities,
 * history pages), params (write-once, truncation), tags (mlflow.runName), key validation,
 * writes to deleted runs, and inputs/outputs/log-model.
 */
#include "trk_fixture.h"

#include <math.h>

static void test_create_and_names(void **state)
{
    struct fixture *f = *state;
    struct kiln_run_create_req c;
    struct kiln_run *r;
    struct kiln_err err = { 0 };
    struct kiln_kv tags[2] = { { "mlflow.runName", "from-tag" }, { "team", "vision" } };
    char want[128];

    r = make_run(f, f->exp, "explicit");
    assert_string_equal(r->info.run_name, "explicit");
    assert_string_equal(r->info.status, "RUNNING");
    assert_string_equal(r->info.lifecycle_stage, "active");
    assert_string_equal(r->info.user_id, "tester");
    assert_int_equal(strlen(r->info.run_id), 32);
    assert_true(r->info.has_start_time && r->info.start_time > 0);
    assert_false(r->info.has_end_time);
    snprintf(want, sizeof(want), "mlflow-artifacts:/%lld/%s/artifacts", (long long)f->exp,
             r->info.run_id);
    assert_string_equal(r->info.artifact_uri, want);
    assert_string_equal(find_kv(r->tags, r->ntags, "mlflow.runName"), "explicit");

    /* The name can come from the tag, and both may be given when equal. */
    memset(&c, 0, sizeof(c));
    c.experiment_id = f->exp;
    c.tags = tags;
    c.ntags = 2;
    c.start_time = 1234;
    c.has_start_time = 1;
    assert_int_equal(kiln_run_create(f->store, f->arena, &c, &r, &err), KILN_OK);
    assert_string_equal(r->info.run_name, "from-tag");
    assert_int_equal(r->info.start_time, 1234);
    assert_string_equal(find_kv(r->tags, r->ntags, "team"), "vision");
    c.run_name = "from-tag";
    assert_int_equal(kiln_run_create(f->store, f->arena, &c, &r, &err), KILN_OK);
    c.run_name = "other";
    EXPECT_ERR(kiln_run_create(f->store, f->arena, &c, &r, &err), KILN_EINVAL,
               "Both 'run_name' argument and 'mlflow.runName' tag");

    /* No name: adjective-animal-N, also recorded as the tag. */
    r = make_run(f, f->exp, NULL);
    {
        const char *n = r->info.run_name, *d1 = strchr(n, '-'), *d2 = d1 ? strchr(d1 + 1, '-') : 0;
        assert_non_null(d2);
        assert_true(d2[1] >= '0' && d2[1] <= '9');
        assert_string_equal(find_kv(r->tags, r->ntags, "mlflow.runName"), n);
    }

    /* Experiment 0 works; unknown and deleted experiments do not. */
    r = make_run(f, 0, "in-default");
    assert_string_equal(r->info.artifact_uri + strlen(r->info.artifact_uri) - 10, "/artifacts");
    memset(&c, 0, sizeof(c));
    c.experiment_id = 999;
    EXPECT_ERR(kiln_run_create(f->store, f->arena, &c, &r, &err), KILN_ENOENT,
               "No Experiment with id=999");
    assert_int_equal(kiln_experiment_delete(f->store, f->exp, &err), KILN_OK);
    c.experiment_id = f->exp;
    EXPECT_ERR(kiln_run_create(f->store, f->arena, &c, &r, &err), KILN_EINVAL,
               "must be in the 'active' state");

    /* Bad tag keys are refused before anything is written. */
    {
        struct kiln_kv bad = { "../x", "v" };
        int64_t before = sql_int(f, "SELECT count(*) FROM runs", NULL);
        c.experiment_id = 0;
        c.tags = &bad;
        c.ntags = 1;
        EXPECT_ERR(kiln_run_create(f->store, f->arena, &c, &r, &err), KILN_EINVAL, "tags[0].key");
        assert_int_equal(sql_int(f, "SELECT count(*) FROM runs", NULL), before);
    }
}

static void test_update_delete_restore(void **state)
{
    struct fixture *f = *state;
    struct kiln_run *r = make_run(f, f->exp, "a");
    struct kiln_run_update_req u;
    struct kiln_run_info *info;
    struct kiln_metric m = { "acc", 0.5, 10, 0, NULL, NULL, NULL, NULL };
    struct kiln_err err = { 0 };

    memset(&u, 0, sizeof(u));
    u.status = "finished";
    u.end_time = 777;
    u.has_end_time = 1;
    u.run_name = "renamed";
    assert_int_equal(kiln_run_update(f->store, f->arena, r->info.run_id, &u, &info, &err), KILN_OK);
    assert_string_equal(info->status, "FINISHED");
    assert_int_equal(info->end_time, 777);
    assert_string_equal(info->run_name, "renamed");
    r = get_run(f, r->info.run_id);
    assert_string_equal(find_kv(r->tags, r->ntags, "mlflow.runName"), "renamed");

    /* Only given fields change. */
    memset(&u, 0, sizeof(u));
    u.status = "KILLED";
    assert_int_equal(kiln_run_update(f->store, f->arena, r->info.run_id, &u, &info, &err), KILN_OK);
    assert_int_equal(info->end_time, 777);
    assert_string_equal(info->run_name, "renamed");
    u.status = "DONE";
    EXPECT_ERR(kiln_run_update(f->store, f->arena, r->info.run_id, &u, &info, &err), KILN_EINVAL,
               "status");
    {
        struct kiln_run *none;
        EXPECT_ERR(
            kiln_run_get(f->store, f->arena, "0123456789abcdef0123456789abcdef", &none, &err),
            KILN_ENOENT, "not found");
    }

    r = get_run(f, r->info.run_id);
    assert_int_equal(kiln_run_delete(f->store, r->info.run_id, &err), KILN_OK);
    r = get_run(f, r->info.run_id); /* deleted runs stay readable */
    assert_string_equal(r->info.lifecycle_stage, "deleted");
    EXPECT_ERR(kiln_run_log_metric(f->store, r->info.run_id, &m, &err), KILN_EINVAL,
               "must be in the 'active' state");
    EXPECT_ERR(kiln_run_log_param(f->store, r->info.run_id, "p", "v", &err), KILN_EINVAL,
               "'active' state");
    EXPECT_ERR(kiln_run_set_tag(f->store, r->info.run_id, "t", "v", &err), KILN_EINVAL,
               "'active' state");
    EXPECT_ERR(kiln_run_log_batch(f->store, r->info.run_id, &m, 1, NULL, 0, NULL, 0, &err),
               KILN_EINVAL, "'active' state");
    u.status = "FINISHED";
    EXPECT_ERR(kiln_run_update(f->store, f->arena, r->info.run_id, &u, &info, &err), KILN_EINVAL,
               "'active' state");
    assert_int_equal(kiln_run_restore(f->store, r->info.run_id, &err), KILN_OK);
    assert_int_equal(kiln_run_log_metric(f->store, r->info.run_id, &m, &err), KILN_OK);
    assert_string_equal(get_run(f, r->info.run_id)->info.lifecycle_stage, "active");
    EXPECT_ERR(kiln_run_delete(f->store, "nope", &err), KILN_ENOENT, "Run with id=nope");
}

static void log_metric(struct fixture *f, const char *run, const char *key, double v, int64_t ts,
                       int64_t step)
{
    struct kiln_metric m = { key, v, ts, step, NULL, NULL, NULL, NULL };
    struct kiln_err err = { 0 };
    if (kiln_run_log_metric(f->store, run, &m, &err) != KILN_OK)
        fail_msg("log metric: %s", err.msg);
}

static void test_latest_metric(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "m")->info.run_id;
    const struct kiln_metric *m;

    /* Step wins over timestamp: a NaN at step 1 beats 0.5 at step 0 logged later. */
    log_metric(f, id, "acc", 0.5, 200, 0);
    log_metric(f, id, "acc", NAN, 100, 1);
    m = find_metric(get_run(f, id), "acc");
    assert_true(isnan(m->value));
    assert_int_equal(m->step, 1);
    /* Same step: the later timestamp wins; same step and timestamp: the larger value. */
    log_metric(f, id, "loss", 3.0, 10, 5);
    log_metric(f, id, "loss", 2.0, 11, 5);
    log_metric(f, id, "loss", 9.0, 9, 5);
    m = find_metric(get_run(f, id), "loss");
    assert_true(m->value == 2.0 && m->timestamp == 11);
    log_metric(f, id, "loss", 1.0, 11, 5);
    log_metric(f, id, "loss", 4.0, 11, 5);
    m = find_metric(get_run(f, id), "loss");
    assert_true(m->value == 4.0);
    /* Infinities are kept as such. */
    log_metric(f, id, "inf", INFINITY, 1, 0);
    log_metric(f, id, "ninf", -INFINITY, 1, 0);
    assert_true(isinf(find_metric(get_run(f, id), "inf")->value) &&
                find_metric(get_run(f, id), "inf")->value > 0);
    assert_true(isinf(find_metric(get_run(f, id), "ninf")->value) &&
                find_metric(get_run(f, id), "ninf")->value < 0);
    /* Exact duplicates are dropped from the history; near duplicates are kept. */
    log_metric(f, id, "dup", 1.0, 5, 1);
    log_metric(f, id, "dup", 1.0, 5, 1);
    log_metric(f, id, "dup", 1.0, 5, 2);
    log_metric(f, id, "dup", NAN, 5, 2);
    log_metric(f, id, "dup", NAN, 5, 2);
    assert_int_equal(
        sql_int(f, "SELECT count(*) FROM metrics WHERE key = 'dup' AND run_uuid = ?", id), 3);
}

static void test_history(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "h")->info.run_id;
    struct kiln_metric_page p;
    struct kiln_err err = { 0 };
    const char *token = NULL;
    int64_t seen = 0, last_ts = -1;

    for (int i = 0; i < 25; i++)
        log_metric(f, id, "x", i == 7 ? NAN : (double)i, 1000 - i, i); /* reverse timestamps */
    /* All at once (absent max_results), ordered by timestamp. */
    assert_int_equal(kiln_metric_history(f->store, f->arena, id, "x", 0, NULL, &p, &err), KILN_OK);
    assert_int_equal(p.n, 25);
    assert_null(p.next_page_token);
    assert_int_equal(p.items[0].step, 24);
    assert_true(isnan(p.items[24 - 7].value));
    assert_string_equal(p.items[0].run_id, id);
    /* Pages of 10 cover everything once, in order; the last page has no token. */
    do {
        assert_int_equal(kiln_metric_history(f->store, f->arena, id, "x", 10, token, &p, &err),
                         KILN_OK);
        for (size_t i = 0; i < p.n; i++) {
            assert_true(p.items[i].timestamp > last_ts);
            last_ts = p.items[i].timestamp;
        }
        seen += (int64_t)p.n;
        token = p.next_page_token;
    } while (token != NULL);
    assert_int_equal(seen, 25);
    /* A page that exactly ends the data has no token. */
    assert_int_equal(kiln_metric_history(f->store, f->arena, id, "x", 25, NULL, &p, &err), KILN_OK);
    assert_null(p.next_page_token);
    /* Unknown runs and keys read as empty; malformed tokens are refused. */
    assert_int_equal(kiln_metric_history(f->store, f->arena, "nope", "x", 0, NULL, &p, &err),
                     KILN_OK);
    assert_int_equal(p.n, 0);
    EXPECT_ERR(kiln_metric_history(f->store, f->arena, id, "x", 0, "!!notbase64", &p, &err),
               KILN_EINVAL, "Invalid page token");
    EXPECT_ERR(
        kiln_metric_history(f->store, f->arena, id, "x", 0, "eyJvZmZzZXQiOiAtMX0=", &p, &err),
        KILN_EINVAL, "Invalid page token"); /* {"offset": -1} */
}

static void test_params(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "p")->info.run_id;
    struct kiln_err err = { 0 };
    char *big = malloc(7000 * 2 + 1);
    struct kiln_run *r;

    assert_int_equal(kiln_run_log_param(f->store, id, "lr", "0.1", &err), KILN_OK);
    assert_int_equal(kiln_run_log_param(f->store, id, "lr", "0.1", &err), KILN_OK);
    EXPECT_ERR(kiln_run_log_param(f->store, id, "lr", "0.2", &err), KILN_EINVAL,
               "Changing param values is not allowed");
    assert_int_equal(kiln_run_log_param(f->store, id, "empty", NULL, &err), KILN_OK);
    /* 7000 two-byte characters are cut to 6000 characters (12000 bytes). */
    for (int i = 0; i < 7000; i++)
        memcpy(big + 2 * i, "\xc3\xa9", 2);
    big[14000] = '\0';
    assert_int_equal(kiln_run_log_param(f->store, id, "long", big, &err), KILN_OK);
    r = get_run(f, id);
    assert_int_equal(strlen(find_kv(r->params, r->nparams, "long")), 12000);
    assert_string_equal(find_kv(r->params, r->nparams, "empty"), "");
    /* Logging the same long value again compares the truncated form: no conflict. */
    assert_int_equal(kiln_run_log_param(f->store, id, "long", big, &err), KILN_OK);
    free(big);
}

static void test_tags(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "t")->info.run_id;
    struct kiln_err err = { 0 };
    struct kiln_run *r;
    char big[9001];

    assert_int_equal(kiln_run_set_tag(f->store, id, "k", "1", &err), KILN_OK);
    assert_int_equal(kiln_run_set_tag(f->store, id, "k", "2", &err), KILN_OK);
    assert_int_equal(kiln_run_set_tag(f->store, id, "mlflow.runName", "new-name", &err), KILN_OK);
    memset(big, 'x', 9000);
    big[9000] = '\0';
    assert_int_equal(kiln_run_set_tag(f->store, id, "big", big, &err), KILN_OK);
    r = get_run(f, id);
    assert_string_equal(find_kv(r->tags, r->ntags, "k"), "2");
    assert_string_equal(r->info.run_name, "new-name");
    assert_int_equal(strlen(find_kv(r->tags, r->ntags, "big")), 8000);
    assert_int_equal(kiln_run_delete_tag(f->store, id, "k", &err), KILN_OK);
    EXPECT_ERR(kiln_run_delete_tag(f->store, id, "k", &err), KILN_ENOENT, "No tag with name: k");
    r = get_run(f, id);
    assert_null(find_kv(r->tags, r->ntags, "k"));
}

static void test_key_rules(void **state)
{
    static const char *const good[] = { "a", "a/b", "a.b", "a-b c:d_e", "x..y", "é" };
    static const char *const bad[] = { "",      "/a", "a/",  "a//b", "..",   "../a", "a/../b",
                                       "a/./b", ".",  "..a", "a$b",  "a\\b", "a\nb" };
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "k")->info.run_id;
    struct kiln_err err = { 0 };
    char long_key[252];

    for (size_t i = 0; i < KILN_ARRAY_LEN(good); i++)
        if (kiln_validate_key("Metric", "key", good[i], &err) != KILN_OK)
            fail_msg("'%s' refused: %s", good[i], err.msg);
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++)
        if (kiln_validate_key("Metric", "key", bad[i], &err) != KILN_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    memset(long_key, 'k', 251);
    long_key[251] = '\0';
    EXPECT_ERR(kiln_run_log_param(f->store, id, long_key, "v", &err), KILN_EINVAL,
               "exceeded length limit of 250");
    long_key[250] = '\0';
    assert_int_equal(kiln_run_log_param(f->store, id, long_key, "v", &err), KILN_OK);
    EXPECT_ERR(kiln_run_set_tag(f->store, id, "a//b", "v", &err), KILN_EINVAL,
               "must not resolve to other names");
    {
        struct kiln_metric m = { "m", 1, -1, 0, NULL, NULL, NULL, NULL };
        EXPECT_ERR(kiln_run_log_metric(f->store, id, &m, &err), KILN_EINVAL,
                   "Got invalid timestamp -1");
    }
}

static void test_inputs_outputs(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "io")->info.run_id;
    const char *id2 = make_run(f, f->exp, "io2")->info.run_id;
    struct kiln_kv dtags[1] = { { "mlflow.data.context", "training" } };
    struct kiln_dataset_input in[2];
    const char *models[2] = { "m-aaa", "m-bbb" };
    struct kiln_model_output outs[1] = { { "m-ccc", 3 } };
    struct kiln_err err = { 0 };
    struct kiln_run *r;

    memset(in, 0, sizeof(in));
    in[0].tags = dtags;
    in[0].ntags = 1;
    in[0].dataset = (struct kiln_dataset){
        "train", "abc", "local", "/data/train.csv", "{\"mlflow_colspec\":[]}", NULL
    };
    in[1].dataset = (struct kiln_dataset){ "eval", "def", "local", "/data/eval.csv", NULL, NULL };
    assert_int_equal(kiln_run_log_inputs(f->store, id, in, 2, models, 2, &err), KILN_OK);
    /* Again: nothing duplicated; a second run shares the dataset row. */
    assert_int_equal(kiln_run_log_inputs(f->store, id, in, 2, models, 2, &err), KILN_OK);
    assert_int_equal(kiln_run_log_inputs(f->store, id2, in, 1, NULL, 0, &err), KILN_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM datasets", NULL), 2);
    assert_int_equal(kiln_run_log_outputs(f->store, id, outs, 1, &err), KILN_OK);
    r = get_run(f, id);
    assert_int_equal(r->ndatasets, 2);
    assert_string_equal(r->datasets[1].dataset.name, "train");
    assert_string_equal(r->datasets[1].dataset.schema, "{\"mlflow_colspec\":[]}");
    assert_string_equal(find_kv(r->datasets[1].tags, r->datasets[1].ntags, "mlflow.data.context"),
                        "training");
    assert_null(r->datasets[0].dataset.schema);
    assert_int_equal(r->nmodel_inputs, 2);
    assert_string_equal(r->model_inputs[1], "m-bbb");
    assert_int_equal(r->nmodel_outputs, 1);
    assert_int_equal(r->model_outputs[0].step, 3);

    /* Validation names the failing field and writes nothing. */
    in[0].dataset.digest = "0123456789012345678901234567890123456"; /* 37 */
    EXPECT_ERR(kiln_run_log_inputs(f->store, id2, in, 1, NULL, 0, &err), KILN_EINVAL,
               "datasets[0].dataset.digest");
    in[0].dataset.digest = "abc";
    in[0].dataset.source = NULL;
    EXPECT_ERR(kiln_run_log_inputs(f->store, id2, in, 1, NULL, 0, &err), KILN_EINVAL,
               "Missing value for required parameter 'datasets[0].dataset.source'");
    assert_int_equal(get_run(f, id2)->ndatasets, 1);
}

static void test_log_model(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "lm")->info.run_id;
    struct kiln_err err = { 0 };
    char model[512];
    json_t *hist;
    struct kiln_run *r;

    for (int i = 0; i < 2; i++) {
        snprintf(model, sizeof(model),
                 "{\"artifact_path\": \"model%d\", \"run_id\": \"%s\", \"utc_time_created\": "
                 "\"2024-01-01 00:00:00\", \"flavors\": {\"sklearn\": {\"pickled_model\": "
                 "\"m.pkl\", \"config\": {\"x\": 1}}}, \"signature\": {\"inputs\": \"[]\"}}",
                 i, id);
        assert_int_equal(kiln_run_log_model(f->store, id, model, &err), KILN_OK);
    }
    r = get_run(f, id);
    hist = json_loads(find_kv(r->tags, r->ntags, "mlflow.log-model.history"), 0, NULL);
    assert_non_null(hist);
    assert_int_equal(json_array_size(hist), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(hist, 1), "artifact_path")), "model1");
    /* The signature and each flavor's "config" are not kept (MLflow's get_tags_dict). */
    assert_null(json_object_get(json_array_get(hist, 0), "signature"));
    assert_null(json_object_get(
        json_object_get(json_object_get(json_array_get(hist, 0), "flavors"), "sklearn"), "config"));
    json_decref(hist);
    EXPECT_ERR(kiln_run_log_model(f->store, id, "{not json", &err), KILN_EINVAL,
               "Malformed model info");
    EXPECT_ERR(kiln_run_log_model(f->store, id, "{\"artifact_path\": \"m\"}", &err), KILN_EINVAL,
               "missing mandatory fields");
}

static int get_oom(struct fixture *f, const char *id)
{
    struct kiln_arena *a = kiln_arena_new(256);
    struct kiln_run *r;
    int rc;
    if (a == NULL)
        return KILN_ENOMEM;
    rc = kiln_run_get(f->store, a, id, &r, NULL);
    if (rc == KILN_OK && (r->nmetrics != 2 || r->nparams != 1 || r->ndatasets != 1))
        rc = KILN_EINTERNAL;
    kiln_arena_free(a);
    return rc;
}

static void test_oom(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "oom")->info.run_id;
    struct kiln_kv t = { "mlflow.data.context", "train" };
    struct kiln_dataset_input in = { &t, 1, { "d", "x", "local", "s", NULL, NULL } };
    struct kiln_err err = { 0 };
    log_metric(f, id, "a", 1, 1, 0);
    log_metric(f, id, "b", 2, 1, 0);
    assert_int_equal(kiln_run_log_param(f->store, id, "p", "v", &err), KILN_OK);
    assert_int_equal(kiln_run_log_inputs(f->store, id, &in, 1, NULL, 0, &err), KILN_OK);
    KILN_OOM_LOOP(get_oom(f, id), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_names, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_update_delete_restore, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_latest_metric, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_history, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_params, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tags, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_rules, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inputs_outputs, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_log_model, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_oom, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

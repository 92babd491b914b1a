/*
 * test_lineage.c - lineage of a version from tracking rows (run, params, latest metrics, tags,
 * datasets, parent run, evaluations), a version whose run is gone, and allocation/store fault
 * loops over the read paths (lineage, resolve, history, events, evaluations, policy parsing).
 */
#include "fixture.h"

#include <math.h>

static void tracking_rows(struct fx *f)
{
    fx_run(f, "parent");
    fx_run(f, "child");
    fx_sql(f, "INSERT INTO params (run_uuid, key, value) VALUES ('child', 'lr', '0.1'), "
              "('child', 'depth', '6')");
    fx_sql(f, "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES "
              "('child', 'auc', 0.93, 5, 10, 0), ('child', 'loss', 0, 5, 10, 1)");
    fx_sql(f, "INSERT INTO tags (run_uuid, key, value) VALUES ('child', 'mlflow.parentRunId', "
              "'parent'), ('child', 'mlflow.source.git.commit', 'abc123')");
    fx_sql(f, "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, "
              "source) VALUES ('ds1', 0, 'credit', '9f8e', 'local', 'data/credit.csv')");
    fx_sql(f, "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
              "destination_id) VALUES ('in1', 'DATASET', 'ds1', 'RUN', 'child')");
    fx_sql(f, "INSERT INTO input_tags (input_uuid, name, value) VALUES ('in1', "
              "'mlflow.data.context', 'training')");
}

static void record_eval(struct fx *f, int64_t version)
{
    struct kiln_eval_metric m[] = { { "roc_auc", 0.91 } };
    struct kiln_evaluation e = { 0 };
    struct kiln_err err = { 0 };
    int64_t id;
    e.name = "m";
    e.version = version;
    e.dataset_name = "holdout";
    e.dataset_digest = "d1";
    e.metrics = m;
    e.nmetrics = 1;
    assert_int_equal(kiln_eval_create(f->reg, &e, "ci", &id, NULL, &err), KILN_OK);
}

static void test_lineage(void **state)
{
    struct fx *f = *state;
    struct kiln_lineage l;
    struct kiln_err err = { 0 };

    tracking_rows(f);
    fx_model(f, "m");
    fx_version(f, "m", "runs:/child/model", "child");
    fx_version(f, "m", "mlflow-artifacts:/elsewhere", "gone");
    record_eval(f, 1);
    assert_int_equal(kiln_alias_set(f->reg, "m", "production", 1, "u", &err), KILN_OK);

    assert_int_equal(kiln_lineage_get(f->reg, f->arena, "models:/m@production", &l, &err), KILN_OK);
    assert_int_equal(l.version->version, 1);
    assert_string_equal(l.resolved.artifact_uri, "mlflow-artifacts:/0/child/artifacts/model");
    assert_true(l.run.found);
    assert_string_equal(l.run.run_id, "child");
    assert_int_equal(l.run.nparams, 2);
    assert_string_equal(l.run.params[0].key, "depth"); /* ordered by key */
    assert_int_equal(l.run.nmetrics, 2);
    assert_true(l.run.metrics[0].value == 0.93 && l.run.metrics[0].step == 10);
    assert_true(isnan(l.run.metrics[1].value));
    assert_int_equal(l.run.ntags, 2);
    assert_int_equal(l.run.ndatasets, 1);
    assert_string_equal(l.run.datasets[0].digest, "9f8e");
    assert_string_equal(l.run.datasets[0].context, "training");
    assert_true(l.parent.found);
    assert_string_equal(l.parent.run_id, "parent");
    assert_int_equal(l.nevaluations, 1);
    assert_true(l.evaluations[0].metrics[0].value == 0.91);

    /* A version whose run no longer exists still answers, with run.found = 0. */
    assert_int_equal(kiln_lineage_get(f->reg, f->arena, "models:/m/2", &l, &err), KILN_OK);
    assert_false(l.run.found);
    assert_string_equal(l.run.run_id, "gone");
    assert_int_equal(l.nevaluations, 0);
    /* A runs:/ URI gives the run's lineage without a version. */
    assert_int_equal(kiln_lineage_get(f->reg, f->arena, "runs:/child/model", &l, &err), KILN_OK);
    assert_null(l.version);
    assert_true(l.run.found);
    assert_int_equal(kiln_lineage_get(f->reg, f->arena, "/some/path", &l, &err), KILN_EINVAL);
    assert_int_equal(kiln_lineage_get(f->reg, f->arena, "models:/m@nope", &l, &err), KILN_EINVAL);
}

static void test_read_paths_oom(void **state)
{
    static const char yaml[] = "environments:\n  dev: {}\n  staging:\n    dataset: h\n"
                               "    metrics: [\"auc >= 0.5\"]\n    tags: {a: b}\n"
                               "    compare:\n      - {metric: auc, greater_is_better: true, "
                               "threshold: 0.1}\n    pr_regression: {}\n";
    struct fx *f = *state;
    struct kiln_lineage l;
    struct kiln_resolved_model r;
    struct kiln_alias_move *moves;
    struct kiln_registry_event *ev;
    struct kiln_evaluation *es;
    struct kiln_policy *pol;
    struct kiln_model_version *v;
    struct kiln_err err = { 0 };
    int64_t last;
    size_t n;

    tracking_rows(f);
    fx_model(f, "m");
    fx_version(f, "m", "runs:/child/model", "child");
    record_eval(f, 1);
    assert_int_equal(kiln_alias_set(f->reg, "m", "production", 1, "u", &err), KILN_OK);
    KILN_OOM_LOOP(kiln_lineage_get(f->reg, f->arena, "models:/m@production", &l, &err), (void)0);
    KILN_OOM_LOOP(kiln_registry_resolve(f->reg, f->arena, "models:/m/1", &r, &err), (void)0);
    KILN_OOM_LOOP(kiln_alias_get(f->reg, f->arena, "m", "production", &v, &err), (void)0);
    KILN_OOM_LOOP(kiln_history(f->reg, f->arena, "m", NULL, 0, &moves, &n, &err), (void)0);
    KILN_OOM_LOOP(
        kiln_registry_events(f->reg, f->arena, 0, 0, "alias.moved", NULL, &ev, &n, &last, &err),
        (void)0);
    KILN_OOM_LOOP(kiln_eval_list(f->reg, f->arena, "m", 0, NULL, &es, &n, &err), (void)0);
    KILN_OOM_LOOP(kiln_policy_parse_yaml(yaml, strlen(yaml), f->arena, &pol, &err), (void)0);
    KILN_OOM_LOOP(kiln_policy_set(f->reg, "m", yaml, strlen(yaml), "u", &err), (void)0);
}

static void test_write_paths_store_faults(void **state)
{
    static const char yaml[] = "environments:\n  dev: {}\n";
    struct fx *f = *state;
    struct kiln_promotion p;
    struct kiln_err err = { 0 };
    int rc;

    fx_model(f, "m");
    fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    for (long n = 0;; n++) {
        kiln_store_fail_after(n);
        rc = kiln_policy_set(f->reg, "m", yaml, strlen(yaml), "u", &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_policies"), 0);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registry_events WHERE type = "
                                   "'policy.updated'"),
                         0);
    }
    for (long n = 0;; n++) {
        int64_t moves = fx_int(f, "SELECT COUNT(*) FROM alias_history");
        kiln_store_fail_after(n);
        rc = kiln_rollback(f->reg, f->arena, "m", "dev", 2, "r", "u", -1, &p, &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), moves);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 0);
    }
    for (long n = 0;; n++) {
        struct kiln_eval_metric m[] = { { "auc", 0.5 } };
        struct kiln_evaluation e = { 0 };
        int64_t id;
        e.name = "m";
        e.version = 1;
        e.dataset_name = "h";
        e.dataset_digest = "d";
        e.metrics = m;
        e.nmetrics = 1;
        kiln_store_fail_after(n);
        rc = kiln_eval_create(f->reg, &e, "u", &id, NULL, &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM evaluations"), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lineage, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_read_paths_oom, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_paths_store_faults, fx_setup, fx_teardown),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_promote.c - evaluations, gated promotion through environments, refusals with their
 * reports, MLflow MetricThreshold semantics, the precision-recall regression gate, rollback,
 * history, governed aliases, and concurrent promotions (exactly one wins).
 */
#include "fixture.h"

#include <math.h>
#include <pthread.h>

static const char policy_yaml[] =
    "environments:\n"
    "  dev: {}\n"
    "  staging:\n"
    "    dataset: holdout\n"
    "    metrics:\n"
    "      - roc_auc >= 0.90\n"
    "    tags:\n"
    "      validation_status: passed\n"
    "  canary:\n"
    "    dataset: holdout\n"
    "    compare:\n"
    "      - {metric: roc_auc, greater_is_better: true, min_absolute_change: 0.01}\n"
    "      - {metric: log_loss, greater_is_better: false, min_relative_change: 0.05}\n"
    "  production:\n"
    "    dataset: holdout\n"
    "    pr_regression: {tolerance: 0.02, per_class: true}\n";

/* Records an evaluation of (m, v) on holdout@d1. */
static void eval(struct fx *f, int64_t v, double auc, double logloss, double p, double r,
                 double p_fraud, double r_fraud)
{
    struct kiln_eval_metric metrics[] = {
        { "roc_auc", auc }, { "log_loss", logloss }, { "precision", p }, { "recall", r }
    };
    struct kiln_eval_class classes[] = { { "fraud", p_fraud, r_fraud, 40 },
                                         { "ok", 0.99, 0.99, 960 } };
    struct kiln_pr_point curve[] = { { 0.1, 0.5, 0.99 }, { 0.5, p, r }, { 0.9, 0.99, 0.3 } };
    struct kiln_evaluation e = { 0 };
    struct kiln_err err = { 0 };
    int64_t id;
    e.name = "m";
    e.version = v;
    e.dataset_name = "holdout";
    e.dataset_digest = "d1";
    e.has_threshold = 1;
    e.threshold = 0.5;
    e.metrics = metrics;
    e.nmetrics = 4;
    e.classes = classes;
    e.nclasses = 2;
    e.pr_curve = curve;
    e.npr = 3;
    if (kiln_eval_create(f->reg, &e, "ci", &id, NULL, &err) != KILN_OK)
        fail_msg("evaluation of v%lld: %s", (long long)v, err.msg);
}

static void setup_model(struct fx *f, int nversions)
{
    struct kiln_err err = { 0 };
    fx_model(f, "m");
    for (int i = 0; i < nversions; i++)
        fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    assert_int_equal(kiln_policy_set(f->reg, "m", policy_yaml, strlen(policy_yaml), "lead", &err),
                     KILN_OK);
}

static int promote(struct fx *f, int64_t v, const char *env, struct kiln_promotion *p,
                   struct kiln_err *err)
{
    return kiln_promote(f->reg, f->arena, "m", v, env, "test", "alice", -1, p, err);
}

static const struct kiln_gate_outcome *gate(const struct kiln_promotion *p, const char *subject)
{
    for (size_t i = 0; i < p->report.ngates; i++)
        if (strcmp(p->report.gates[i].subject, subject) == 0)
            return &p->report.gates[i];
    fail_msg("no gate on '%s' in the report", subject);
    return NULL;
}

static void test_evaluations(void **state)
{
    struct fx *f = *state;
    struct kiln_evaluation *es, bad = { 0 };
    struct kiln_err err = { 0 };
    size_t n;
    int64_t id;
    int replaced;

    setup_model(f, 2);
    eval(f, 1, 0.91, 0.3, 0.8, 0.7, 0.6, 0.5);
    eval(f, 1, 0.93, 0.3, 0.8, 0.7, 0.6, 0.5); /* same version+dataset+digest: replaced */
    assert_int_equal(kiln_eval_list(f->reg, f->arena, "m", 1, NULL, &es, &n, &err), KILN_OK);
    assert_int_equal(n, 1);
    assert_true(kiln_eval_metric(&es[0], "roc_auc")->value == 0.93);
    assert_int_equal(es[0].nclasses, 2);
    assert_string_equal(es[0].classes[0].label, "fraud");
    assert_int_equal(es[0].classes[0].support, 40);
    assert_int_equal(es[0].npr, 3);
    assert_true(es[0].has_threshold && es[0].threshold == 0.5);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registry_events WHERE type = "
                               "'evaluation.created'"),
                     2);
    bad.name = "m";
    bad.version = 9;
    bad.dataset_name = "h";
    bad.dataset_digest = "d";
    assert_int_equal(kiln_eval_create(f->reg, &bad, "ci", &id, &replaced, &err), KILN_ENOENT);
    bad.version = 2;
    bad.dataset_digest = "";
    assert_int_equal(kiln_eval_create(f->reg, &bad, "ci", &id, &replaced, &err), KILN_EINVAL);
}

static void test_eval_json(void **state)
{
    struct fx *f = *state;
    struct kiln_evaluation e;
    struct kiln_err err = { 0 };
    json_t *doc;
    (void)f;
    doc = json_loads("{\"dataset_name\":\"h\",\"dataset_digest\":\"d\",\"metrics\":{\"auc\":0.9,"
                     "\"ll\":\"NaN\"},\"per_class\":[{\"label\":1,\"precision\":0.5,\"recall\":1}],"
                     "\"pr_curve\":[{\"threshold\":0.5,\"precision\":0.5,\"recall\":1}]}",
                     0, NULL);
    assert_int_equal(kiln_eval_read(doc, f->arena, &e, &err), KILN_OK);
    assert_int_equal(e.nmetrics, 2);
    assert_true(isnan(kiln_eval_metric(&e, "ll")->value));
    assert_string_equal(e.classes[0].label, "1");
    assert_int_equal(e.classes[0].support, -1);
    json_decref(doc);
    doc = json_loads("{\"dataset_name\":\"h\",\"dataset_digest\":\"d\",\"per_class\":[{\"label\":"
                     "\"a\",\"precision\":1.5,\"recall\":1}]}",
                     0, NULL);
    assert_int_equal(kiln_eval_read(doc, f->arena, &e, &err), KILN_EINVAL);
    assert_string_equal(err.msg, "Invalid value for 'per_class[0].precision': expected a number "
                                 "between 0 and 1");
    json_decref(doc);
    doc = json_loads("{\"dataset_name\":\"h\",\"dataset_digest\":\"d\"}", 0, NULL);
    assert_int_equal(kiln_eval_read(doc, f->arena, &e, &err), KILN_EINVAL);
    json_decref(doc);
    doc = json_loads("{\"dataset_name\":\"h\",\"dataset_digest\":\"d\",\"metrics\":{\"a\":true}}",
                     0, NULL);
    assert_int_equal(kiln_eval_read(doc, f->arena, &e, &err), KILN_EINVAL);
    json_decref(doc);
}

/* The whole flow: dev -> staging -> canary -> production, a refusal, rollback, history. */
static void test_flow(void **state)
{
    struct fx *f = *state;
    struct kiln_promotion p;
    struct kiln_alias_move *moves;
    struct kiln_err err = { 0 };
    size_t n;

    setup_model(f, 3);
    /* Order gate: staging before dev is refused, recorded, and changes nothing. */
    assert_int_equal(promote(f, 1, "staging", &p, &err), KILN_ECHECK);
    assert_false(p.moved);
    assert_false(gate(&p, "dev")->passed);
    assert_string_equal(gate(&p, "dev")->detail, "version 1 has never been in 'dev'");
    /* Missing evaluation and missing tag fail with what is missing. */
    assert_false(gate(&p, "roc_auc")->passed);
    assert_string_equal(gate(&p, "roc_auc")->detail,
                        "version 1 has no evaluation on dataset 'holdout'");
    assert_string_equal(gate(&p, "validation_status")->detail,
                        "tag 'validation_status' is not set on version 1");
    assert_non_null(strstr(err.msg, "promotion of 'm' version 1 to 'staging' refused: 3 of 3"));
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 0);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history WHERE action = 'refused'"), 1);

    assert_int_equal(promote(f, 1, "dev", &p, &err), KILN_OK);
    assert_true(p.moved);
    assert_int_equal(p.report.ngates, 0);
    eval(f, 1, 0.92, 0.30, 0.80, 0.70, 0.60, 0.50);
    assert_int_equal(kiln_mv_set_tag(f->reg, "m", 1, "validation_status", "passed", &err), KILN_OK);
    assert_int_equal(promote(f, 1, "staging", &p, &err), KILN_OK);
    assert_true(gate(&p, "roc_auc")->passed);
    assert_true(gate(&p, "roc_auc")->observed == 0.92);
    /* canary and production are empty: comparisons pass and say there is no champion. */
    assert_int_equal(promote(f, 1, "canary", &p, &err), KILN_OK);
    assert_non_null(strstr(gate(&p, "roc_auc")->detail, "nothing to compare against"));
    assert_int_equal(promote(f, 1, "production", &p, &err), KILN_OK);

    /* Version 2 is worse on recall for class fraud: refused at production. */
    eval(f, 2, 0.95, 0.20, 0.81, 0.71, 0.70, 0.40);
    assert_int_equal(kiln_mv_set_tag(f->reg, "m", 2, "validation_status", "passed", &err), KILN_OK);
    assert_int_equal(promote(f, 2, "dev", &p, &err), KILN_OK);
    assert_int_equal(promote(f, 2, "staging", &p, &err), KILN_OK);
    assert_int_equal(promote(f, 2, "canary", &p, &err), KILN_OK);
    assert_true(gate(&p, "roc_auc")->has_baseline && gate(&p, "roc_auc")->baseline == 0.92);
    assert_int_equal(promote(f, 2, "production", &p, &err), KILN_ECHECK);
    assert_false(gate(&p, "recall[class=fraud]")->passed);
    assert_string_equal(gate(&p, "recall[class=fraud]")->detail,
                        "recall[class=fraud] dropped from 0.5 to 0.4 (by 0.09999999999999998, "
                        "tolerance 0.02)");
    assert_true(gate(&p, "precision[class=fraud]")->passed);
    assert_true(gate(&p, "precision")->passed);
    assert_int_equal(p.report.current_version, 1);
    assert_non_null(strstr(p.report_json, "\"passed\":false"));
    assert_int_equal(fx_int(f, "SELECT version FROM model_aliases WHERE alias = 'production'"), 1);

    /* Version 3 passes everything, then is rolled back (no gates). */
    eval(f, 3, 0.97, 0.15, 0.82, 0.72, 0.62, 0.51);
    assert_int_equal(kiln_mv_set_tag(f->reg, "m", 3, "validation_status", "passed", &err), KILN_OK);
    assert_int_equal(promote(f, 3, "dev", &p, &err), KILN_OK);
    assert_int_equal(promote(f, 3, "staging", &p, &err), KILN_OK);
    assert_int_equal(promote(f, 3, "canary", &p, &err), KILN_OK);
    assert_int_equal(promote(f, 3, "production", &p, &err), KILN_OK);
    assert_int_equal(p.from_version, 1);
    assert_int_equal(
        kiln_rollback(f->reg, f->arena, "m", "production", 0, "incident 42", "bob", -1, &p, &err),
        KILN_OK);
    assert_int_equal(p.from_version, 3);
    assert_int_equal(p.to_version, 1);
    assert_int_equal(fx_int(f, "SELECT version FROM model_aliases WHERE alias = 'production'"), 1);
    /* Nothing before version 1: a second rollback has nowhere to go. */
    assert_int_equal(
        kiln_rollback(f->reg, f->arena, "m", "production", 0, NULL, "bob", -1, &p, &err),
        KILN_EINVAL);
    assert_non_null(strstr(err.msg, "held no version before version 1"));
    /* --to works even where the gates would refuse (version 2 failed production's gates). */
    assert_int_equal(
        kiln_rollback(f->reg, f->arena, "m", "production", 2, "emergency", "bob", -1, &p, &err),
        KILN_OK);
    assert_int_equal(fx_int(f, "SELECT version FROM model_aliases WHERE alias = 'production'"), 2);

    assert_int_equal(kiln_history(f->reg, f->arena, "m", "production", 0, &moves, &n, &err),
                     KILN_OK);
    assert_int_equal(n, 5); /* promote 1, refused 2, promote 3, rollback to 1, rollback to 2 */
    assert_string_equal(moves[0].action, "rollback");
    assert_int_equal(moves[0].to_version, 2);
    assert_string_equal(moves[0].user_id, "bob");
    assert_string_equal(moves[0].reason, "emergency");
    assert_string_equal(moves[3].action, "refused");
    assert_non_null(moves[3].report_json);
    assert_string_equal(moves[4].action, "promote");
    assert_int_equal(moves[4].from_version, 0);
    assert_int_equal(kiln_history(f->reg, f->arena, "m", NULL, 0, &moves, &n, &err), KILN_OK);
    assert_int_equal(n, 15);
}

static void test_metric_threshold_semantics(void **state)
{
    struct fx *f = *state;
    struct kiln_promotion p;
    struct kiln_err err = { 0 };
    static const char yaml[] =
        "environments:\n"
        "  prod:\n"
        "    dataset: holdout\n"
        "    compare:\n"
        "      - {metric: roc_auc, greater_is_better: true, min_absolute_change: 0.25}\n"
        "      - {metric: log_loss, greater_is_better: false, min_relative_change: 0.1,"
        " threshold: 0.5}\n";

    fx_model(f, "m");
    for (int i = 0; i < 4; i++)
        fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    assert_int_equal(kiln_policy_set(f->reg, "m", yaml, strlen(yaml), "lead", &err), KILN_OK);
    eval(f, 1, 0.50, 0.40, 0.8, 0.8, 0.8, 0.8);
    assert_int_equal(promote(f, 1, "prod", &p, &err), KILN_OK);
    /* roc_auc 0.74 < 0.50 + 0.25: fails; log_loss (0.40 - 0.35) / 0.40 = 0.125 >= 0.1: passes. */
    eval(f, 2, 0.74, 0.35, 0.8, 0.8, 0.8, 0.8);
    assert_int_equal(promote(f, 2, "prod", &p, &err), KILN_ECHECK);
    assert_false(gate(&p, "roc_auc")->passed);
    assert_true(gate(&p, "log_loss")->passed);
    /* Exactly the required change passes (>=, as MLflow); relative change 0.075 < 0.1 fails. */
    eval(f, 3, 0.75, 0.37, 0.8, 0.8, 0.8, 0.8);
    assert_int_equal(promote(f, 3, "prod", &p, &err), KILN_ECHECK);
    assert_true(gate(&p, "roc_auc")->passed);
    assert_false(gate(&p, "log_loss")->passed);
    assert_non_null(strstr(gate(&p, "log_loss")->detail, "relative change 0.07500000000000007"));
    /* The MetricThreshold threshold part: log_loss 0.6 is above 0.5 (lower is better). */
    eval(f, 4, 0.90, 0.60, 0.8, 0.8, 0.8, 0.8);
    assert_int_equal(promote(f, 4, "prod", &p, &err), KILN_ECHECK);
    assert_string_equal(gate(&p, "log_loss")->detail, "log_loss = 0.6 is above the threshold 0.5");
}

static void test_missing_inputs_fail(void **state)
{
    struct fx *f = *state;
    struct kiln_promotion p;
    struct kiln_err err = { 0 };
    static const char yaml[] = "environments:\n"
                               "  prod:\n"
                               "    dataset: holdout\n"
                               "    require_champion: true\n"
                               "    metrics: [\"f1 >= 0.5\"]\n"
                               "    compare:\n"
                               "      - {metric: roc_auc, greater_is_better: true, "
                               "min_absolute_change: 0}\n"
                               "    pr_regression: {}\n";
    fx_model(f, "m");
    fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    assert_int_equal(kiln_policy_set(f->reg, "m", yaml, strlen(yaml), "lead", &err), KILN_OK);
    eval(f, 1, 0.8, 0.4, 0.8, 0.8, 0.8, 0.8);
    assert_int_equal(promote(f, 1, "prod", &p, &err), KILN_ECHECK);
    assert_string_equal(gate(&p, "f1")->detail,
                        "metric 'f1' is missing from the evaluation on holdout@d1");
    assert_non_null(strstr(gate(&p, "roc_auc")->detail, "require_champion"));
    assert_false(gate(&p, "precision/recall")->passed);
    /* A champion without an evaluation on the same digest fails the comparisons. */
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "prod", 2, "seed", "u", -1, &p, &err),
                     KILN_OK);
    assert_int_equal(promote(f, 1, "prod", &p, &err), KILN_ECHECK);
    assert_string_equal(gate(&p, "roc_auc")->detail,
                        "champion version 2 (in 'prod') has no evaluation on holdout@d1");
    assert_int_equal(promote(f, 1, "nope", &p, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "'nope' is not an environment of registered model 'm' "
                                    "(environments: prod)"));
    assert_int_equal(promote(f, 7, "prod", &p, &err), KILN_ENOENT);
}

static void test_governed_aliases(void **state)
{
    struct fx *f = *state;
    struct kiln_err err = { 0 };
    fx_model(f, "free");
    fx_version(f, "free", "mlflow-artifacts:/x", NULL);
    /* Without a policy, environments are plain aliases MLflow clients may set. */
    assert_int_equal(kiln_alias_set(f->reg, "free", "production", 1, "u", &err), KILN_OK);
    setup_model(f, 1);
    assert_int_equal(kiln_alias_set(f->reg, "m", "production", 1, "u", &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "governed by the model's promotion policy"));
    assert_int_equal(kiln_alias_set(f->reg, "m", "champion", 1, "u", &err), KILN_OK);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases a JOIN registered_models m ON "
                               "m.rm_id = a.rm_id WHERE m.name = 'm'"),
                     1);
}

static void test_rollback_chain(void **state)
{
    struct fx *f = *state;
    struct kiln_promotion p;
    struct kiln_err err = { 0 };
    fx_model(f, "m");
    for (int i = 0; i < 3; i++)
        fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    /* No policy: default environments, each after the previous. */
    for (int64_t v = 1; v <= 3; v++) {
        assert_int_equal(promote(f, v, "dev", &p, &err), KILN_OK);
        assert_int_equal(promote(f, v, "staging", &p, &err), KILN_OK);
    }
    assert_int_equal(promote(f, 3, "staging", &p, &err), KILN_OK);
    assert_false(p.moved); /* already there */
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "staging", 0, NULL, "u", -1, &p, &err),
                     KILN_OK);
    assert_int_equal(p.to_version, 2);
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "staging", 0, NULL, "u", -1, &p, &err),
                     KILN_OK);
    assert_int_equal(p.to_version, 1);
    /* A stale expectation is a conflict and changes nothing. */
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "staging", 3, NULL, "u", 2, &p, &err),
                     KILN_ECONFLICT);
    assert_int_equal(fx_int(f, "SELECT version FROM model_aliases WHERE alias = 'staging'"), 1);
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "canary", 0, NULL, "u", -1, &p, &err),
                     KILN_EINVAL);
    assert_non_null(strstr(err.msg, "no version is in 'canary'"));
    /* A deleted previous version cannot be rolled back to. */
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "staging", 3, NULL, "u", -1, &p, &err),
                     KILN_OK);
    assert_int_equal(kiln_mv_delete(f->reg, "m", 2, "u", &err), KILN_OK);
    assert_int_equal(kiln_rollback(f->reg, f->arena, "m", "staging", 0, NULL, "u", -1, &p, &err),
                     KILN_EINVAL);
    assert_non_null(strstr(err.msg, "has been deleted"));
}

struct racer {
    struct fx *f;
    int64_t version;
    int rc;
    pthread_barrier_t *go;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct kiln_arena *a = kiln_arena_new(0);
    struct kiln_promotion p;
    struct kiln_err err = { 0 };
    pthread_barrier_wait(r->go);
    /* Every racer expects the environment to be empty, as a CLI would after looking. */
    r->rc = kiln_promote(r->f->reg, a, "m", r->version, "dev", "race", "racer", 0, &p, &err);
    kiln_arena_free(a);
    return NULL;
}

static void test_concurrent_promotions(void **state)
{
    struct fx *f = *state;
    enum { N = 8 };
    struct racer r[N];
    pthread_t t[N];
    pthread_barrier_t go;
    int wins = 0, conflicts = 0;
    int64_t winner = 0;

    fx_model(f, "m");
    for (int i = 0; i < N; i++)
        fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){ f, i + 1, -100, &go };
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        if (r[i].rc == KILN_OK) {
            wins++;
            winner = r[i].version;
        } else {
            assert_int_equal(r[i].rc, KILN_ECONFLICT);
            conflicts++;
        }
    }
    assert_int_equal(wins, 1);
    assert_int_equal(conflicts, N - 1);
    assert_int_equal(fx_int(f, "SELECT version FROM model_aliases WHERE alias = 'dev'"), winner);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), 1);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registry_events WHERE type = 'alias.moved'"),
                     1);
}

static void test_promote_store_faults(void **state)
{
    struct fx *f = *state;
    struct kiln_promotion p;
    struct kiln_err err = { 0 };
    int rc;
    setup_model(f, 1);
    for (long n = 0;; n++) {
        kiln_store_fail_after(n);
        rc = promote(f, 1, "dev", &p, &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 0);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), 0);
        assert_true(n < 1000);
    }
    for (long n = 0;; n++) {
        kiln_store_fail_after(n);
        rc = promote(f, 1, "staging", &p, &err); /* refused: records the refusal atomically */
        kiln_store_fail_after(-1);
        if (rc == KILN_ECHECK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), 1);
    }
    KILN_OOM_LOOP(promote(f, 1, "canary", &p, &err) == KILN_ECHECK ? KILN_OK : KILN_ENOMEM,
                  (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evaluations, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_eval_json, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_flow, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_metric_threshold_semantics, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_inputs_fail, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_governed_aliases, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_chain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_promotions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_promote_store_faults, fx_setup, fx_teardown),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_spec.c - the pipeline spec parser: a full spec read back field by field, Airflow's
 * defaults, every class of invalid spec refused with its line and reason, templates (scan,
 * validation, rendering), parameters, durations, and an OOM loop over the whole parse.
 */
#include "kiln_test.h"

#include "core/json.h"
#include "pipeline/pipeline_int.h"

static const char full_spec[] =
    "name: retrain\n"                                               /* 1 */
    "description: nightly retraining\n"                             /* 2 */
    "params:\n"                                                     /* 3 */
    "  data: data/train.csv\n"                                      /* 4 */
    "  alpha: {default: 0.5, type: number}\n"                       /* 5 */
    "  epochs: {type: integer, default: 3}\n"                       /* 6 */
    "schedule:\n"                                                   /* 7 */
    "  cron: '0 3 * * *'\n"                                         /* 8 */
    "  timezone: Europe/Berlin\n"                                   /* 9 */
    "  catchup: true\n"                                             /* 10 */
    "  start_date: 2024-01-01\n"                                    /* 11 */
    "triggers:\n"                                                   /* 12 */
    "  - manual\n"                                                  /* 13 */
    "  - {type: model_version, model: fraud}\n"                     /* 14 */
    "  - {type: alias, model: fraud, alias: production}\n"          /* 15 */
    "  - drift\n"                                                   /* 16 */
    "max_active_runs: 2\n"                                          /* 17 */
    "pools:\n"                                                      /* 18 */
    "  gpu: 2\n"                                                    /* 19 */
    "defaults:\n"                                                   /* 20 */
    "  retries: 2\n"                                                /* 21 */
    "  retry_delay: 10s\n"                                          /* 22 */
    "  env: {STAGE: test}\n"                                        /* 23 */
    "tasks:\n"                                                      /* 24 */
    "  check:\n"                                                    /* 25 */
    "    kind: validate\n"                                          /* 26 */
    "    with: {data: '{{ params.data }}', profile: ref.json}\n"    /* 27 */
    "  train:\n"                                                    /* 28 */
    "    kind: train\n"                                             /* 29 */
    "    run: [python3, train.py, --alpha, '{{ params.alpha }}']\n" /* 30 */
    "    depends_on: check\n"                                       /* 31 */
    "    pool: gpu\n"                                               /* 32 */
    "    timeout: 1h30m\n"                                          /* 33 */
    "    retry_exponential_backoff: true\n"                         /* 34 */
    "    env: {RUN: '{{ run.id }}'}\n"                              /* 35 */
    "  report:\n"                                                   /* 36 */
    "    run: echo {{ tasks.train.outputs.run_id }} > report.txt\n" /* 37 */
    "    depends_on: [train]\n"                                     /* 38 */
    "    trigger_rule: all_done\n"                                  /* 39 */
    "    retries: 0\n"                                              /* 40 */
    "    skip_on_exit_code: null\n";                                /* 41 */

static struct kiln_pl_spec *parse_ok(const char *text)
{
    struct kiln_pl_spec *s = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_pl_spec_parse(text, strlen(text), "t.yaml", "/base", &s, &err);
    if (rc != KILN_OK)
        fail_msg("parse failed: %s", err.msg);
    return s;
}

static void test_full_spec(void **state)
{
    struct kiln_pl_spec *s = parse_ok(full_spec);
    const struct kiln_pl_task *t;
    (void)state;
    assert_string_equal(s->name, "retrain");
    assert_string_equal(s->experiment, "retrain");
    assert_int_equal(s->nparams, 3);
    assert_string_equal(s->params[1].def, "0.5");
    assert_int_equal(s->params[2].type, KILN_PT_INTEGER);
    assert_string_equal(s->cron_expr, "0 3 * * *");
    assert_string_equal(s->tz_name, "Europe/Berlin");
    assert_non_null(s->tz);
    assert_true(s->catchup);
    assert_true(s->start_date_ms == 1704063600000LL); /* 2024-01-01 00:00 CET */
    assert_int_equal(s->ntriggers, 4);
    assert_true(s->manual_allowed);
    assert_int_equal(s->triggers[2].kind, KILN_TRIG_ALIAS);
    assert_string_equal(s->triggers[2].alias, "production");
    assert_int_equal(s->triggers[3].kind, KILN_TRIG_DRIFT);
    assert_int_equal(s->max_active_runs, 2);
    assert_int_equal(s->max_active_tasks, 16);
    assert_int_equal(s->ntasks, 3);

    t = &s->tasks[0];
    assert_int_equal(t->kind, KILN_STEP_VALIDATE);
    assert_int_equal(t->nwith, 2);
    assert_int_equal(t->retries, 2);
    assert_true(t->retry_delay_ms == 10000);
    assert_string_equal(t->pool, "default_pool");
    assert_int_equal(t->ndowns, 1);
    assert_false(t->is_leaf);

    t = &s->tasks[1];
    assert_int_equal(t->kind, KILN_STEP_TRAIN);
    assert_int_equal(t->argc, 4);
    assert_false(t->shell);
    assert_string_equal(t->argv[3], "{{ params.alpha }}");
    assert_int_equal(t->ndeps, 1);
    assert_int_equal(t->deps[0], 0);
    assert_string_equal(t->pool, "gpu");
    assert_true(t->timeout_ms == 5400000);
    assert_true(t->backoff);
    assert_int_equal(t->nenv, 2); /* STAGE from defaults, RUN from the task */
    assert_int_equal(t->rule, KILN_TR_ALL_SUCCESS);
    assert_int_equal(t->skip_exit_code, 99);

    t = &s->tasks[2];
    assert_true(t->shell);
    assert_int_equal(t->rule, KILN_TR_ALL_DONE);
    assert_int_equal(t->retries, 0);
    assert_int_equal(t->skip_exit_code, -1);
    assert_true(t->is_leaf);
    assert_int_equal(s->topo[0], 0);
    assert_int_equal(s->topo[2], 2);
    assert_int_equal(strlen(s->digest), 64);
    assert_int_equal(kiln_pl_spec_task(s, "report"), 2);
    assert_int_equal(kiln_pl_spec_task(s, "nope"), -1);
    kiln_pl_spec_free(s);
}

static void test_airflow_defaults_and_digest(void **state)
{
    static const char text[] = "name: p\ntasks:\n  a:\n    run: 'true'\n";
    struct kiln_pl_spec *s = parse_ok(text), *s2 = NULL;
    (void)state;
    assert_int_equal(s->tasks[0].retries, 0);
    assert_true(s->tasks[0].retry_delay_ms == 300000);
    assert_false(s->tasks[0].backoff);
    assert_true(s->tasks[0].timeout_ms == 0);
    assert_int_equal(s->max_active_runs, 16);
    assert_false(s->catchup);
    assert_null(s->cron_expr);
    assert_true(s->manual_allowed);
    assert_int_equal(kiln_pl_spec_parse(text, strlen(text), "t.yaml", "/other", &s2, NULL),
                     KILN_OK);
    /* The same text in another folder is another version (its tasks run elsewhere). */
    assert_string_not_equal(s->digest, s2->digest);
    kiln_pl_spec_free(s);
    kiln_pl_spec_free(s2);
}

struct bad_case {
    const char *text;
    const char *expect; /* substring of the error, including "t.yaml:LINE:" */
};

static void test_invalid_specs_name_line_and_reason(void **state)
{
    static const struct bad_case cases[] = {
        { "name: p\ntasks:\n  a:\n    run: x\n    depends_on: b\n",
          "t.yaml:5:17: tasks.a.depends_on: unknown task 'b'" },
        { "name: p\ntasks:\n  a:\n    run: x\n    depends_on: [c]\n  b:\n    run: y\n    depends_on: a\n"
          "  c:\n    run: z\n    depends_on: b\n",
          "dependency cycle: a -> c -> b -> a" },
        { "name: p\ntasks:\n  a:\n    run: x\n    depends_on: a\n", "cannot depend on itself" },
        { "name: p\nschedule: '61 * * * *'\ntasks:\n  a:\n    run: x\n",
          "t.yaml:2:11: schedule: cron '61 * * * *': bad minute field" },
        { "name: p\nschedule: {cron: '@daily', timezone: Mars/Base}\ntasks:\n  a:\n    run: x\n",
          "unknown time zone 'Mars/Base'" },
        { "name: p\ntasks:\n  a:\n    run: x\n    retires: 3\n",
          "t.yaml:5:5: tasks.a: unknown key 'retires'" },
        { "name: p\nowner: me\ntasks:\n  a:\n    run: x\n",
          "t.yaml:2:1: spec: unknown key 'owner'" },
        { "name: p\ntasks:\n  a:\n    run: echo {{ params.nope }}\n",
          "t.yaml:4:10: tasks.a.run: template uses undeclared parameter 'nope'" },
        { "name: p\ntasks:\n  a:\n    run: echo {{ params.x\n", "unclosed '{{'" },
        { "name: p\ntasks:\n  a:\n    run: echo {{ run.idd }}\n", "unknown expression" },
        { "name: p\ntasks:\n  a:\n    run: x\n  b:\n    run: echo {{ tasks.a.outputs.k }}\n",
          "not upstream" },
        { "name: p\ntasks:\n  a:\n    run: echo {{ tasks.zz.outputs.k }}\n", "unknown task 'zz'" },
        { "name: p\ntasks:\n  a:\n    run: x\n    retries: many\n",
          "t.yaml:5:14: tasks.a.retries: expected an integer" },
        { "name: p\ntasks:\n  a:\n    run: x\n    retry_delay: 5 minutes\n",
          "expected a duration" },
        { "name: p\ntasks:\n  a:\n    run: x\n    trigger_rule: sometimes\n",
          "unknown trigger rule 'sometimes'" },
        { "name: p\ntasks:\n  a:\n    kind: deploy\n", "unknown kind 'deploy'" },
        { "name: p\ntasks:\n  a:\n    kind: validate\n    with: {data: x}\n",
          "'profile' is required for kind validate" },
        { "name: p\ntasks:\n  a:\n    kind: promote\n    run: x\n    with: {model: m, version: 1, to: prod}\n",
          "kind promote runs its own command" },
        { "name: p\ntasks:\n  a:\n    run: x\n    with: {a: b}\n",
          "only built-in step kinds take 'with'" },
        { "name: p\ntasks:\n  a:\n    run: x\n    pool: gpu\n", "unknown pool 'gpu'" },
        { "name: p\npools: {gpu: 1}\ntasks:\n  a:\n    run: x\n    pool: gpu\n    pool_slots: 2\n",
          "only 1" },
        { "name: p\nparams: {x: {type: integer, default: abc}}\ntasks:\n  a:\n    run: x\n",
          "is not a valid integer" },
        { "name: p\nparams: {x: {description: no default}}\nschedule: '@daily'\ntasks:\n  a:\n    run: x\n",
          "parameter 'x' has no default" },
        { "name: p\ntasks:\n  a:\n    run: x\n  a:\n    run: y\n",
          "t.yaml:5:3: duplicate key 'a' (first at line 3)" },
        { "name: p\ntasks:\n  a: &x\n    run: x\n  b: *x\n", "anchors (&name) are not supported" },
        { "name: p\ntasks: {}\n", "at least one task" },
        { "tasks:\n  a:\n    run: x\n", "'name' is required" },
        { "name: 'bad name'\ntasks:\n  a:\n    run: x\n", "name 'bad name' must be" },
        { "name: p\ntasks:\n  a b:\n    run: x\n", "task name 'a b' must be" },
        { "name: p\ntasks:\n  a:\n    run: []\n", "non-empty list" },
        { "name: p\ntasks:\n  a:\n    description: nothing to run\n", "'run' is required" },
        { "name: p\ntasks:\n  a:\n    run: x\n    env: {1BAD: y}\n",
          "not a valid environment variable name" },
        { "name: p\ntriggers: [cron]\ntasks:\n  a:\n    run: x\n", "unknown type 'cron'" },
        { "name: p\ntriggers: [{type: manual, model: m}]\ntasks:\n  a:\n    run: x\n",
          "manual triggers take no model" },
        { "name: p\ntasks:\n  a:\n    run: x\n  key: [unclosed\n", "YAML syntax error" },
        { "name: p\n---\nname: q\n", "only one YAML document" },
        { "", "empty document" },
        { "name: p\ntasks:\n  a:\n    kind: drift\n    with: {reference: r, current: c, fail_on_drift: maybe}\n",
          "expected true or false" },
        { "name: p\nmax_active_runs: 0\ntasks:\n  a:\n    run: x\n",
          "max_active_runs: expected an integer between 1" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kiln_pl_spec *s = NULL;
        struct kiln_err err = { 0 };
        int rc = kiln_pl_spec_parse(cases[i].text, strlen(cases[i].text), "t.yaml", "", &s, &err);
        if (rc != KILN_EINVAL)
            fail_msg("case %zu was accepted (rc %d)", i, rc);
        assert_null(s);
        if (strstr(err.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: error '%s' lacks '%s'", i, err.msg, cases[i].expect);
        if (strncmp(err.msg, "t.yaml:", 7) != 0)
            fail_msg("case %zu: error '%s' does not start with the file and line", i, err.msg);
    }
}

static const char *lookup_param(void *u, const char *name, size_t len)
{
    (void)u;
    return len == 4 && memcmp(name, "data", 4) == 0 ? "d.csv" : NULL;
}

static const char *lookup_output(void *u, const char *task, size_t tlen, const char *key,
                                 size_t klen)
{
    (void)u;
    if (tlen == 5 && memcmp(task, "train", 5) == 0 && klen == 9 && memcmp(key, "model.uri", 9) == 0)
        return "runs:/abc/model";
    return NULL;
}

static void test_template_render(void **state)
{
    struct kiln_tpl_ctx c = { "retrain",       "r123",       "manual",      "eval", 2,
                              1711846800000LL, lookup_param, lookup_output, NULL };
    struct kiln_buf b;
    struct kiln_err err = { 0 };
    (void)state;
    kiln_buf_init(&b, 4096);
    assert_int_equal(kiln_tpl_render("x={{params.data}} m={{ tasks.train.outputs.model.uri }} "
                                     "{{ run.id }}/{{ run.logical_date }}/{{run.ds}}/"
                                     "{{ run.ds_nodash }} {{ pipeline.name }}:{{ task.name }}#"
                                     "{{ task.try_number }} {{ run.trigger }} {{ '{{' }}",
                                     &c, &b, &err),
                     KILN_OK);
    assert_string_equal(b.buf, "x=d.csv m=runs:/abc/model r123/2024-03-31T01:00:00Z/2024-03-31/"
                               "20240331 retrain:eval#2 manual {{");
    kiln_buf_reset(&b);
    assert_int_equal(kiln_tpl_render("{{ tasks.train.outputs.other }}", &c, &b, &err), KILN_ENOENT);
    assert_true(strstr(err.msg, "task 'train' has no output 'other'") != NULL);
    assert_int_equal(kiln_tpl_render("{{ params.zzz }}", &c, &b, &err), KILN_ENOENT);
    assert_int_equal(kiln_tpl_render("{{ }}", &c, &b, &err), KILN_EINVAL);
    assert_int_equal(kiln_tpl_render("{{ tasks.a.b }}", &c, &b, &err), KILN_EINVAL);
    assert_int_equal(kiln_tpl_render("a }} b", &c, &b, &err), KILN_OK);
    kiln_buf_release(&b);
}

static void test_params(void **state)
{
    struct kiln_pl_spec *s = parse_ok(full_spec);
    struct kiln_err err = { 0 };
    json_t *given, *out = NULL;
    (void)state;
    assert_int_equal(kiln_pl_params_resolve(s, NULL, &out, &err), KILN_OK);
    assert_string_equal(json_string_value(json_object_get(out, "data")), "data/train.csv");
    assert_string_equal(json_string_value(json_object_get(out, "epochs")), "3");
    json_decref(out);
    given = json_pack("{s:f, s:s}", "alpha", 0.25, "epochs", "7");
    assert_int_equal(kiln_pl_params_resolve(s, given, &out, &err), KILN_OK);
    assert_string_equal(json_string_value(json_object_get(out, "alpha")), "0.25");
    assert_string_equal(json_string_value(json_object_get(out, "epochs")), "7");
    json_decref(out);
    json_decref(given);
    given = json_pack("{s:s}", "epochs", "seven");
    assert_int_equal(kiln_pl_params_resolve(s, given, &out, &err), KILN_EINVAL);
    assert_true(strstr(err.msg, "parameter 'epochs': expected a integer") != NULL);
    json_decref(given);
    given = json_pack("{s:s}", "bogus", "1");
    assert_int_equal(kiln_pl_params_resolve(s, given, &out, &err), KILN_EINVAL);
    assert_true(strstr(err.msg, "no parameter 'bogus'") != NULL);
    json_decref(given);
    /* Events: declared names are taken, the rest ignored. */
    given = json_pack("{s:s, s:s, s:i}", "model", "fraud", "data", "new.csv", "epochs", 9);
    assert_int_equal(kiln_pl_params_from_event(s, given, &out, &err), KILN_OK);
    assert_string_equal(json_string_value(json_object_get(out, "data")), "new.csv");
    assert_string_equal(json_string_value(json_object_get(out, "epochs")), "9");
    assert_null(json_object_get(out, "model"));
    json_decref(out);
    json_decref(given);
    kiln_pl_spec_free(s);
}

static void test_durations(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(kiln_pl_parse_duration("30", &ms), KILN_OK);
    assert_true(ms == 30000);
    assert_int_equal(kiln_pl_parse_duration("1h30m", &ms), KILN_OK);
    assert_true(ms == 5400000);
    assert_int_equal(kiln_pl_parse_duration("250ms", &ms), KILN_OK);
    assert_true(ms == 250);
    assert_int_equal(kiln_pl_parse_duration("2d", &ms), KILN_OK);
    assert_true(ms == 172800000);
    assert_int_equal(kiln_pl_parse_duration("", &ms), KILN_EINVAL);
    assert_int_equal(kiln_pl_parse_duration("5x", &ms), KILN_EINVAL);
    assert_int_equal(kiln_pl_parse_duration("-5s", &ms), KILN_EINVAL);
    assert_int_equal(kiln_pl_parse_duration("9999999999999d", &ms), KILN_EINVAL);
    assert_int_equal(kiln_pl_parse_duration("h", &ms), KILN_EINVAL);
}

static void test_next_fire(void **state)
{
    static const char text[] =
        "name: p\nschedule: {cron: '0 3 * * *', timezone: America/New_York}\n"
        "tasks:\n  a:\n    run: x\n";
    struct kiln_pl_spec *s = parse_ok(text);
    int64_t next;
    (void)state;
    /* 2024-07-01T12:00Z -> 2024-07-02 03:00 EDT = 07:00Z */
    assert_int_equal(kiln_pl_spec_next_fire(s, 1719835200000LL, &next), KILN_OK);
    assert_true(next == 1719903600000LL);
    kiln_pl_spec_free(s);
}

static void test_oom(void **state)
{
    struct kiln_pl_spec *s = NULL;
    (void)state;
    KILN_OOM_LOOP(kiln_pl_spec_parse(full_spec, strlen(full_spec), "t.yaml", "/b", &s, NULL),
                  (kiln_pl_spec_free(s), s = NULL));
    kiln_pl_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_spec),
        cmocka_unit_test(test_airflow_defaults_and_digest),
        cmocka_unit_test(test_invalid_specs_name_line_and_reason),
        cmocka_unit_test(test_template_render),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_next_fire),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

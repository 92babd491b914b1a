/*
 * test_sched.c - the scheduler in-process on a real SQLite store (local mode): a DAG run to
 * completion with states, attempts and outputs recorded; the store failing in the middle of a
 * run (injected faults: flushes fail, nothing starts until its attempt is recorded, and once
 * the store is back the run finishes with every task run exactly once); observer events in
 * order; cancel; a second scheduler finding the first one's run after a crash-like stop.
 */
#include "kiln_test.h"

#include <pthread.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"
#include "store/migrations/migrations.h"
#include "store/store.h"

static char tmp[256];

struct events {
    pthread_mutex_t mu;
    char log[8192];
    size_t len;
};

static void on_task(void *ctx, const char *run_id, const char *task, enum kiln_pl_ti state,
                    int attempt, const char *message)
{
    struct events *e = ctx;
    (void)run_id;
    (void)attempt;
    (void)message;
    if (state != KILN_TI_SUCCESS && state != KILN_TI_RUNNING && state != KILN_TI_FAILED &&
        state != KILN_TI_UP_FOR_RETRY)
        return;
    pthread_mutex_lock(&e->mu);
    e->len += (size_t)snprintf(e->log + e->len, sizeof(e->log) - e->len, "%s:%s ", task,
                               kiln_pl_ti_name(state));
    pthread_mutex_unlock(&e->mu);
}

static struct kiln_store *open_store(void)
{
    char uri[400];
    struct kiln_store *st = NULL;
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", tmp);
    assert_int_equal(kiln_store_open(uri, kiln_schema_all, 4, &st, NULL), KILN_OK);
    return st;
}

static void make_run(struct kiln_store *st, const char *text, const char *owner, char id[33])
{
    struct kiln_pl_spec *spec = NULL;
    struct kiln_err err = { 0 };
    json_t *params = NULL;
    int version = 0, created = 0;
    if (kiln_pl_spec_parse(text, strlen(text), "t.yaml", tmp, &spec, &err) != KILN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(kiln_pl_store_put_version(st, spec, 0, &version, &created, NULL), KILN_OK);
    assert_int_equal(kiln_pl_params_resolve(spec, NULL, &params, NULL), KILN_OK);
    struct kiln_pl_new_run nr = { "manual", NULL, params, kiln_now_ms(), owner, NULL };
    assert_int_equal(kiln_pl_store_create_run(st, spec, version, &nr, id, NULL), KILN_OK);
    json_decref(params);
    kiln_pl_spec_free(spec);
}

static struct kiln_pl_sched *start(struct kiln_store *st, const char *owner,
                                   const struct kiln_pl_observer *obs)
{
    struct kiln_pl_config cfg;
    struct kiln_pl_sched *s = NULL;
    char root[300];
    snprintf(root, sizeof(root), "%s/artifacts", tmp);
    memset(&cfg, 0, sizeof(cfg));
    cfg.store = st;
    cfg.artifacts_root = root;
    cfg.owner = owner;
    cfg.local = 1;
    cfg.parallelism = 4;
    cfg.kill_grace_ms = 300;
    cfg.observer = obs;
    assert_int_equal(kiln_pl_sched_new(&cfg, &s, NULL), KILN_OK);
    assert_int_equal(kiln_pl_sched_start(s, NULL), KILN_OK);
    return s;
}

static json_t *query(struct kiln_store *st, const char *id)
{
    json_t *run = NULL;
    assert_int_equal(kiln_pl_query_run(st, id, &run, NULL), KILN_OK);
    return run;
}

static const char *task_state(json_t *run, const char *task)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(run, "tasks"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "task")), task) == 0)
            return json_string_value(json_object_get(t, "state"));
    }
    return "?";
}

static int count_lines(const char *name)
{
    char path[400];
    struct kiln_buf b;
    int n = 0;
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    kiln_buf_init(&b, 1 << 16);
    if (kiln_read_file(path, &b, NULL) == KILN_OK)
        for (size_t i = 0; i < b.len; i++)
            n += b.buf[i] == '\n';
    kiln_buf_release(&b);
    return n;
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(kiln_test_tmpdir(tmp, sizeof(tmp)));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kiln_store_fail_after(-1);
    kiln_remove_tree(tmp, NULL);
    return 0;
}

static const char dag[] = "name: dag\n"
                          "tasks:\n"
                          "  a:\n"
                          "    run: echo a >> a.count; echo v=1 >> \"$KILN_OUTPUTS\"\n"
                          "  b:\n"
                          "    run: echo b >> b.count; sleep 0.2\n"
                          "    depends_on: a\n"
                          "  c:\n"
                          "    run: echo c >> c.count; test \"$KILN_TRY_NUMBER\" = 2\n"
                          "    depends_on: a\n"
                          "    retries: 1\n"
                          "    retry_delay: 0\n"
                          "  d:\n"
                          "    run: echo {{ tasks.a.outputs.v }} >> d.count\n"
                          "    depends_on: [b, c]\n";

static void test_runs_a_dag(void **state)
{
    struct kiln_store *st = open_store();
    struct events ev = { PTHREAD_MUTEX_INITIALIZER, "", 0 };
    struct kiln_pl_observer obs = { on_task, NULL, NULL, &ev };
    struct kiln_pl_sched *s;
    char id[33];
    json_t *run;
    (void)state;
    make_run(st, dag, "local:test:1", id);
    s = start(st, "local:test:1", &obs);
    assert_true(kiln_pl_sched_wait_idle(s, 20000));
    kiln_pl_sched_free(s);
    run = query(st, id);
    assert_string_equal(json_string_value(json_object_get(run, "state")), "success");
    assert_string_equal(task_state(run, "c"), "success");
    assert_int_equal(count_lines("a.count"), 1);
    assert_int_equal(count_lines("c.count"), 2); /* failed once, retried */
    assert_int_equal(count_lines("d.count"), 1);
    /* Events in causal order: a before b and c, d last. */
    assert_non_null(strstr(ev.log, "a:success"));
    assert_true(strstr(ev.log, "a:success") < strstr(ev.log, "b:running"));
    assert_true(strstr(ev.log, "c:up_for_retry") < strstr(ev.log, "d:running"));
    assert_true(strstr(ev.log, "b:success") < strstr(ev.log, "d:running"));
    json_decref(run);
    kiln_store_close(st);
}

static void test_store_faults_delay_but_never_duplicate(void **state)
{
    struct kiln_store *st = open_store();
    struct kiln_pl_sched *s;
    char id[33];
    json_t *run;
    (void)state;
    make_run(st, dag, "local:test:2", id);
    s = start(st, "local:test:2", NULL);
    /* Let the first task start, then break the store for a while. */
    for (int i = 0; i < 400 && count_lines("a.count") == 0; i++)
        kiln_sleep_ms(5);
    kiln_store_fail_after(0);
    kiln_sleep_ms(1500);
    kiln_store_fail_after(-1);
    assert_true(kiln_pl_sched_wait_idle(s, 30000));
    kiln_pl_sched_free(s);
    run = query(st, id);
    assert_string_equal(json_string_value(json_object_get(run, "state")), "success");
    assert_int_equal(count_lines("a.count"), 1);
    assert_int_equal(count_lines("b.count"), 1);
    assert_int_equal(count_lines("c.count"), 2);
    assert_int_equal(count_lines("d.count"), 1);
    json_decref(run);
    kiln_store_close(st);
}

static void test_cancel_and_recovery(void **state)
{
    static const char slow[] = "name: slow\n"
                               "tasks:\n"
                               "  s:\n"
                               "    run: echo s >> s.count; sleep 30\n"
                               "    retries: 1\n"
                               "    retry_delay: 0\n"
                               "  after:\n"
                               "    run: echo after >> after.count\n"
                               "    depends_on: s\n";
    struct kiln_store *st = open_store();
    struct kiln_pl_sched *s;
    char id[33], id2[33];
    json_t *run;
    (void)state;
    /* A stop interrupts the task; the next scheduler of the owner runs it again. */
    make_run(st, slow, "local:test:3", id);
    s = start(st, "local:test:3", NULL);
    for (int i = 0; i < 400 && count_lines("s.count") == 0; i++)
        kiln_sleep_ms(5);
    kiln_pl_sched_free(s);
    run = query(st, id);
    assert_string_equal(task_state(run, "s"), "scheduled");
    json_decref(run);
    s = start(st, "local:test:3", NULL);
    for (int i = 0; i < 400 && count_lines("s.count") < 2; i++)
        kiln_sleep_ms(5);
    assert_int_equal(count_lines("s.count"), 2);
    /* Cancel: the running task is killed, the rest skipped, the run canceled. */
    assert_int_equal(kiln_pl_store_request_cancel(st, id, NULL), KILN_OK);
    kiln_pl_sched_notify(s);
    assert_true(kiln_pl_sched_wait_idle(s, 20000));
    kiln_pl_sched_free(s);
    run = query(st, id);
    assert_string_equal(json_string_value(json_object_get(run, "state")), "canceled");
    assert_string_equal(task_state(run, "s"), "failed");
    assert_string_equal(task_state(run, "after"), "skipped");
    assert_int_equal(count_lines("after.count"), 0);
    json_decref(run);
    /* Another owner's run is left alone. */
    make_run(st, slow, "local:someone-else:9", id2);
    s = start(st, "local:test:3", NULL);
    assert_true(kiln_pl_sched_wait_idle(s, 5000));
    kiln_pl_sched_free(s);
    run = query(st, id2);
    assert_string_equal(json_string_value(json_object_get(run, "state")), "queued");
    json_decref(run);
    kiln_store_close(st);
}

static int store_ops(struct kiln_store *st, const struct kiln_pl_spec *spec, json_t **run)
{
    char id[33];
    int version = 0, created = 0, rc;
    struct kiln_pl_new_run nr = { "manual", NULL, NULL, 1, "local:oom:1", NULL };
    json_t *params = json_object();
    nr.params = params;
    *run = NULL;
    rc = kiln_pl_store_put_version(st, spec, 1, &version, &created, NULL);
    if (rc == KILN_OK)
        rc = kiln_pl_store_create_run(st, spec, version, &nr, id, NULL);
    if (rc == KILN_OK)
        rc = kiln_pl_query_run(st, id, run, NULL);
    json_decref(params);
    return rc;
}

/* Store-layer calls under allocation failure: KILN_ENOMEM, nothing leaked. */
static void test_store_layer_oom(void **state)
{
    struct kiln_store *st = open_store();
    struct kiln_pl_spec *spec = NULL;
    json_t *run = NULL;
    (void)state;
    assert_int_equal(kiln_pl_spec_parse(dag, strlen(dag), "t.yaml", tmp, &spec, NULL), KILN_OK);
    KILN_OOM_LOOP(store_ops(st, spec, &run), (json_decref(run), run = NULL));
    assert_non_null(run);
    assert_int_equal(json_array_size(json_object_get(run, "tasks")), 4);
    json_decref(run);
    kiln_pl_spec_free(spec);
    kiln_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_a_dag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_faults_delay_but_never_duplicate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_layer_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

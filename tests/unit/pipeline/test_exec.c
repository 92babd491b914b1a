/*
 * test_exec.c - the local executor with real processes: exit codes, logs and outputs, live
 * output, timeouts (SIGTERM then SIGKILL for a task that ignores SIGTERM), cancel killing the
 * whole process group, leftovers killed when the main process exits, start failures, and the
 * callback contract (exactly one on_done per accepted submit, none for a refused one).
 */
#define _GNU_SOURCE
#include "kiln_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/str.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, started, pid;
    struct kiln_pl_exec_result res;
    struct kiln_buf out;
};

static void on_start(void *ctx, int pid, int64_t start_ms)
{
    struct waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->started++;
    w->pid = pid;
    assert_true(start_ms > 0);
    pthread_mutex_unlock(&w->mu);
}

static void on_output(void *ctx, const char *data, size_t len)
{
    struct waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    kiln_buf_append(&w->out, data, len);
    pthread_mutex_unlock(&w->mu);
}

static void on_done(void *ctx, struct kiln_pl_exec_result *res)
{
    struct waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->done++;
    w->res = *res;
    res->outputs = NULL; /* taken */
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void waiter_init(struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    kiln_buf_init(&w->out, 1 << 20);
}

static void waiter_wait(struct waiter *w)
{
    int64_t deadline = kiln_now_ms() + 20000;
    pthread_mutex_lock(&w->mu);
    while (w->done == 0 && kiln_now_ms() < deadline) {
        pthread_mutex_unlock(&w->mu);
        kiln_sleep_ms(5);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(w->done, 1);
}

static void waiter_release(struct waiter *w)
{
    kiln_free(w->res.outputs);
    kiln_buf_release(&w->out);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static char tmp[256];
static char logp[300], outp[300], pidp[300];
static const char *const envp[] = { "PATH=/usr/bin:/bin", "LANG=C", NULL };

static int setup(void **state)
{
    (void)state;
    assert_non_null(kiln_test_tmpdir(tmp, sizeof(tmp)));
    snprintf(logp, sizeof(logp), "%s/logs/a.log", tmp);
    snprintf(outp, sizeof(outp), "%s/outputs", tmp);
    snprintf(pidp, sizeof(pidp), "%s/pid", tmp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kiln_remove_tree(tmp, NULL);
    return 0;
}

static uint64_t run(struct kiln_pl_executor *ex, struct waiter *w, const char *script,
                    int64_t timeout_ms, const char *workdir)
{
    const char *argv[] = { "sh", "-c", script, NULL };
    char envo[400];
    const char *env[4];
    struct kiln_pl_launch l;
    uint64_t h = 0;
    snprintf(envo, sizeof(envo), "KILN_OUTPUTS=%s", outp);
    env[0] = envp[0];
    env[1] = envp[1];
    env[2] = envo;
    env[3] = NULL;
    memset(&l, 0, sizeof(l));
    l.argv = argv;
    l.envp = env;
    l.workdir = workdir;
    l.log_path = logp;
    l.outputs_path = outp;
    l.timeout_ms = timeout_ms;
    l.on_start = on_start;
    l.on_output = on_output;
    l.on_done = on_done;
    l.ctx = w;
    assert_int_equal(ex->ops->submit(ex, &l, &h, NULL), KILN_OK);
    return h;
}

static int alive(const char *pidfile)
{
    struct kiln_buf b;
    int64_t pid = 0;
    kiln_buf_init(&b, 64);
    assert_int_equal(kiln_read_file(pidfile, &b, NULL), KILN_OK);
    while (b.len > 0 && b.buf[b.len - 1] == '\n')
        kiln_buf_truncate(&b, b.len - 1);
    assert_int_equal(kiln_parse_int64(b.buf, b.len, &pid), KILN_OK);
    kiln_buf_release(&b);
    for (int i = 0; i < 100; i++) { /* the kill is asynchronous */
        char path[64];
        struct kiln_buf sb;
        int gone;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            return 0;
        /* A killed orphan may linger as a zombie until init reaps it: that is dead too. */
        snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
        kiln_buf_init(&sb, 4096);
        gone = kiln_read_file(path, &sb, NULL) == KILN_OK && strstr(sb.buf, ") Z ") != NULL;
        kiln_buf_release(&sb);
        if (gone)
            return 0;
        kiln_sleep_ms(10);
    }
    return 1;
}

static void test_exit_code_log_outputs(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w;
    struct kiln_buf log;
    (void)state;
    waiter_init(&w);
    assert_int_equal(kiln_pl_local_executor_new(200, &ex, NULL), KILN_OK);
    run(ex, &w, "echo hello; echo to-stderr >&2; echo model=m1 >> \"$KILN_OUTPUTS\"; exit 3", 0,
        NULL);
    waiter_wait(&w);
    assert_int_equal(w.started, 1);
    assert_int_equal(w.res.rc, KILN_OK);
    assert_int_equal(w.res.exit_code, 3);
    assert_int_equal(w.res.signal, 0);
    assert_string_equal(w.res.outputs, "model=m1\n");
    assert_true(w.res.end_ms >= w.res.start_ms);
    kiln_buf_init(&log, 4096);
    assert_int_equal(kiln_read_file(logp, &log, NULL), KILN_OK);
    assert_non_null(strstr(log.buf, "hello\n"));
    assert_non_null(strstr(log.buf, "to-stderr\n"));
    assert_non_null(strstr(w.out.buf, "hello"));
    kiln_buf_release(&log);
    ex->ops->destroy(ex);
    waiter_release(&w);
}

static void test_timeout_escalates_to_sigkill(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w;
    int64_t t0 = kiln_now_ms();
    (void)state;
    waiter_init(&w);
    assert_int_equal(kiln_pl_local_executor_new(300, &ex, NULL), KILN_OK);
    /* The ignored SIGTERM is inherited by sleep too, so only SIGKILL ends the group. */
    run(ex, &w, "trap '' TERM; sleep 30", 200, NULL);
    waiter_wait(&w);
    assert_int_equal(w.res.rc, KILN_ETIMEDOUT);
    assert_int_equal(w.res.signal, SIGKILL);
    assert_true(kiln_now_ms() - t0 >= 450);
    assert_true(kiln_now_ms() - t0 < 5000);
    ex->ops->destroy(ex);
    waiter_release(&w);
}

static void test_cancel_kills_process_group(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w;
    char script[600];
    uint64_t h;
    (void)state;
    waiter_init(&w);
    assert_int_equal(kiln_pl_local_executor_new(2000, &ex, NULL), KILN_OK);
    snprintf(script, sizeof(script), "sleep 60 & echo $! > '%s'; wait", pidp);
    h = run(ex, &w, script, 0, NULL);
    for (int i = 0; i < 500 && !kiln_is_file(pidp); i++)
        kiln_sleep_ms(10);
    kiln_sleep_ms(50);
    ex->ops->cancel(ex, h);
    waiter_wait(&w);
    assert_int_equal(w.res.rc, KILN_ECANCELED);
    assert_int_equal(w.res.signal, SIGTERM);
    assert_false(alive(pidp)); /* the background child died with its group */
    ex->ops->destroy(ex);
    waiter_release(&w);
}

static void test_leftovers_killed_after_exit(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w;
    char script[600];
    (void)state;
    waiter_init(&w);
    assert_int_equal(kiln_pl_local_executor_new(200, &ex, NULL), KILN_OK);
    snprintf(script, sizeof(script), "sleep 60 & echo $! > '%s'; exit 0", pidp);
    run(ex, &w, script, 0, NULL);
    waiter_wait(&w);
    assert_int_equal(w.res.rc, KILN_OK);
    assert_int_equal(w.res.exit_code, 0);
    assert_false(alive(pidp));
    ex->ops->destroy(ex);
    waiter_release(&w);
}

static void test_start_failures(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w;
    const char *argv[] = { "no-such-program-kiln", NULL };
    struct kiln_pl_launch l;
    uint64_t h;
    (void)state;
    assert_int_equal(kiln_pl_local_executor_new(200, &ex, NULL), KILN_OK);
    waiter_init(&w);
    memset(&l, 0, sizeof(l));
    l.argv = argv;
    l.envp = envp;
    l.log_path = logp;
    l.on_done = on_done;
    l.on_start = on_start;
    l.ctx = &w;
    assert_int_equal(ex->ops->submit(ex, &l, &h, NULL), KILN_OK);
    waiter_wait(&w);
    assert_int_equal(w.res.rc, KILN_ENOENT);
    assert_non_null(strstr(w.res.message, "command not found"));
    assert_int_equal(w.started, 0);
    waiter_release(&w);

    waiter_init(&w);
    run(ex, &w, "true", 0, "/no/such/folder");
    waiter_wait(&w);
    assert_int_equal(w.res.rc, KILN_EIO);
    assert_non_null(strstr(w.res.message, "cannot enter folder '/no/such/folder'"));
    waiter_release(&w);
    ex->ops->destroy(ex);
}

static void test_shutdown_cancels_and_refuses(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w, w2;
    const char *argv[] = { "true", NULL };
    struct kiln_pl_launch l;
    struct kiln_err err = { 0 };
    uint64_t h;
    (void)state;
    waiter_init(&w);
    waiter_init(&w2);
    assert_int_equal(kiln_pl_local_executor_new(200, &ex, NULL), KILN_OK);
    run(ex, &w, "sleep 30", 0, NULL);
    for (int i = 0; i < 200 && w.started == 0; i++)
        kiln_sleep_ms(5);
    ex->ops->shutdown(ex);
    assert_int_equal(w.done, 1);
    assert_int_equal(w.res.rc, KILN_ECANCELED);
    memset(&l, 0, sizeof(l));
    l.argv = argv;
    l.envp = envp;
    l.log_path = logp;
    l.on_done = on_done;
    l.ctx = &w2;
    assert_int_equal(ex->ops->submit(ex, &l, &h, &err), KILN_ECANCELED);
    ex->ops->destroy(ex);
    assert_int_equal(w2.done, 0); /* a refused submit never calls back */
    waiter_release(&w);
    waiter_release(&w2);
}

static void test_many_parallel(void **state)
{
    struct kiln_pl_executor *ex;
    struct waiter w[40];
    (void)state;
    assert_int_equal(kiln_pl_local_executor_new(200, &ex, NULL), KILN_OK);
    for (int i = 0; i < 40; i++) {
        waiter_init(&w[i]);
        run(ex, &w[i], "exit 7", 0, NULL);
    }
    for (int i = 0; i < 40; i++) {
        waiter_wait(&w[i]);
        assert_int_equal(w[i].res.exit_code, 7);
        waiter_release(&w[i]);
    }
    ex->ops->destroy(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_code_log_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_escalates_to_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_kills_process_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers_killed_after_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_cancels_and_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_parallel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

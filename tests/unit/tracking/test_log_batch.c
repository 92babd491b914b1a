/*
 * test_log_batch.c - log-batch on a real SQLite store: MLflow's limits and validation, all or
 * nothing on a bad entry or a changed param, the store fault-injection loop (a failed write
 * changes nothing), and group commit under concurrent writers (every acknowledged batch is
 * there; one caller's failure does not undo the others).
 */
#include "trk_fixture.h"

#include <math.h>
#include <pthread.h>

#include "core/str.h"

/* A digest of everything stored for a run (staged metrics applied first, as readers do). */
static void snapshot(struct fixture *f, const char *id, char *out, size_t size)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    struct kiln_buf b;
    kiln_buf_init(&b, 1 << 20);
    assert_int_equal(kiln_metrics_begin_read(f->store, &tx, NULL), KILN_OK);
    assert_int_equal(
        kiln_tx_prepare(tx,
                        "SELECT 'm', key, value, timestamp, step FROM metrics WHERE run_uuid = ?1 "
                        "UNION ALL SELECT 'l', key, value, timestamp, step FROM latest_metrics "
                        "WHERE run_uuid = ?1 UNION ALL SELECT 'p', key, value, 0, 0 FROM params "
                        "WHERE run_uuid = ?1 UNION ALL SELECT 't', key, value, 0, 0 FROM tags "
                        "WHERE run_uuid = ?1 ORDER BY 1, 2, 3, 4, 5",
                        &st, NULL),
        KILN_OK);
    kiln_stmt_bind_text(st, 1, id);
    while (kiln_stmt_step(st, NULL) == KILN_STMT_ROW)
        kiln_buf_printf(&b, "%s|%s|%s|%lld|%lld\n", kiln_stmt_text(st, 0), kiln_stmt_text(st, 1),
                        kiln_stmt_text(st, 2), (long long)kiln_stmt_int64(st, 3),
                        (long long)kiln_stmt_int64(st, 4));
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    kiln_strlcpy(out, b.buf, size);
    kiln_buf_release(&b);
}

static void test_limits(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "b")->info.run_id;
    struct kiln_metric *m = calloc(1001, sizeof(*m));
    struct kiln_kv *kv = calloc(101, sizeof(*kv));
    char(*keys)[16] = calloc(1001, 16);
    struct kiln_err err = { 0 };

    for (int i = 0; i < 1001; i++) {
        snprintf(keys[i], 16, "k%d", i);
        m[i] = (struct kiln_metric){ keys[i], i, 1, 0, NULL, NULL, NULL, NULL };
    }
    for (int i = 0; i < 101; i++)
        kv[i] = (struct kiln_kv){ keys[i], "v" };
    EXPECT_ERR(kiln_run_log_batch(f->store, id, m, 1001, NULL, 0, NULL, 0, &err), KILN_EINVAL,
               "at most 1000 metrics");
    EXPECT_ERR(kiln_run_log_batch(f->store, id, NULL, 0, kv, 101, NULL, 0, &err), KILN_EINVAL,
               "at most 100 params");
    EXPECT_ERR(kiln_run_log_batch(f->store, id, NULL, 0, NULL, 0, kv, 101, &err), KILN_EINVAL,
               "at most 100 tags");
    EXPECT_ERR(kiln_run_log_batch(f->store, id, m, 1000, kv, 1, NULL, 0, &err), KILN_EINVAL,
               "at most 1000 total");
    /* The exact limits are fine. */
    assert_int_equal(kiln_run_log_batch(f->store, id, m, 900, kv, 100, NULL, 0, &err), KILN_OK);
    assert_int_equal(kiln_run_log_batch(f->store, id, NULL, 0, NULL, 0, kv, 100, &err), KILN_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM metrics WHERE run_uuid = ?", id), 900);
    /* An empty batch is a no-op, but the run must exist. */
    assert_int_equal(kiln_run_log_batch(f->store, id, NULL, 0, NULL, 0, NULL, 0, &err), KILN_OK);
    EXPECT_ERR(kiln_run_log_batch(f->store, "nope", NULL, 0, NULL, 0, NULL, 0, &err), KILN_ENOENT,
               "Run with id=nope not found");
    free(m);
    free(kv);
    free(keys);
}

static void test_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "b")->info.run_id;
    struct kiln_metric m[3] = {
        { "a", 1, 10, 0, NULL, NULL, NULL, NULL },
        { "b", 2, 10, 0, NULL, NULL, NULL, NULL },
        { "c/../d", 3, 10, 0, NULL, NULL, NULL, NULL },
    };
    struct kiln_kv p[2] = { { "lr", "0.1" }, { "lr", "0.2" } };
    struct kiln_kv t[2] = { { "x", "1" }, { "x", "2" } };
    struct kiln_err err = { 0 };
    char before[8192], after[8192];

    assert_int_equal(kiln_run_log_batch(f->store, id, m, 1, p, 1, NULL, 0, &err), KILN_OK);
    snapshot(f, id, before, sizeof(before));
    EXPECT_ERR(kiln_run_log_batch(f->store, id, m, 3, NULL, 0, NULL, 0, &err), KILN_EINVAL,
               "metrics[2].key");
    EXPECT_ERR(kiln_run_log_batch(f->store, id, m, 2, p, 2, NULL, 0, &err), KILN_EINVAL,
               "Duplicate parameter keys");
    {
        /* The failing element is named by its place (paths are formatted only on failure). */
        struct kiln_kv bad_key[2] = { { "ok", "1" }, { "../up", "2" } };
        struct kiln_kv bad_tag[2] = { { "ok", "1" }, { "", "2" } };
        EXPECT_ERR(kiln_run_log_batch(f->store, id, NULL, 0, bad_key, 2, NULL, 0, &err),
                   KILN_EINVAL, "params[1].key");
        EXPECT_ERR(kiln_run_log_batch(f->store, id, NULL, 0, NULL, 0, bad_tag, 2, &err),
                   KILN_EINVAL, "tags[1].key");
    }
    /* A param changing value fails after earlier rows were written: they are undone too. */
    EXPECT_ERR(kiln_run_log_batch(f->store, id, m + 1, 1, p + 1, 1, t, 1, &err), KILN_EINVAL,
               "Changing param values is not allowed");
    snapshot(f, id, after, sizeof(after));
    assert_string_equal(before, after);
    /* Tags: the last write of a key in one batch wins. */
    assert_int_equal(kiln_run_log_batch(f->store, id, NULL, 0, NULL, 0, t, 2, &err), KILN_OK);
    assert_string_equal(find_kv(get_run(f, id)->tags, get_run(f, id)->ntags, "x"), "2");
}

/* A commit far larger than one write of the WAL buffer (walbuf.c writes <= 124 KiB at once). */
static void test_big_commit(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "big")->info.run_id;
    struct kiln_metric *m = calloc(1000, sizeof(*m));
    char(*keys)[200] = calloc(1000, 200);
    struct kiln_err err = { 0 };

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(keys[i], 200, "%0180d", i); /* long keys: ~1000 wide rows */
            m[i] = (struct kiln_metric){ keys[i], i, round, round, NULL, NULL, NULL, NULL };
        }
        assert_int_equal(kiln_run_log_batch(f->store, id, m, 1000, NULL, 0, NULL, 0, &err),
                         KILN_OK);
    }
    assert_int_equal(sql_int(f, "SELECT count(*) FROM metrics WHERE run_uuid = ?", id), 3000);
    assert_int_equal(sql_int(f, "SELECT min(step) FROM latest_metrics WHERE run_uuid = ?", id), 2);
    assert_int_equal(kiln_store_integrity_check(f->store, &err), KILN_OK);
    free(m);
    free(keys);
}

/* Five params go through one statement when all are new; otherwise each is checked. */
static void test_param_chunks(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "params")->info.run_id;
    struct kiln_kv p[7] = { { "a", "1" }, { "b", "2" }, { "c", "3" }, { "d", "4" },
                            { "e", "5" }, { "f", "6" }, { "g", "7" } };
    struct kiln_kv again[5] = {
        { "x", "1" }, { "c", "3" }, { "y", "2" }, { "z", "3" }, { "w", "4" }
    };
    struct kiln_kv clash[5] = {
        { "q1", "1" }, { "q2", "2" }, { "q3", "3" }, { "g", "changed" }, { "q4", "4" }
    };
    struct kiln_err err = { 0 };
    char before[8192], after[8192];

    assert_int_equal(kiln_run_log_batch(f->store, id, NULL, 0, p, 7, NULL, 0, &err), KILN_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM params WHERE run_uuid = ?", id), 7);
    /* One param already there with the same value: fine, the four new ones are added. */
    assert_int_equal(kiln_run_log_batch(f->store, id, NULL, 0, again, 5, NULL, 0, &err), KILN_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM params WHERE run_uuid = ?", id), 11);
    /* One param changing value: the whole batch fails and leaves nothing. */
    snapshot(f, id, before, sizeof(before));
    EXPECT_ERR(kiln_run_log_batch(f->store, id, NULL, 0, clash, 5, NULL, 0, &err), KILN_EINVAL,
               "key='g'");
    snapshot(f, id, after, sizeof(after));
    assert_string_equal(before, after);
}

/* Ten metrics go through one multi-row statement: the same rules must hold inside it. */
static void test_chunk_semantics(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "chunk")->info.run_id;
    struct kiln_metric m[13] = {
        { "a", 1.0, 10, 1, NULL, NULL, NULL, NULL },
        { "a", 1.0, 10, 1, NULL, NULL, NULL, NULL }, /* exact duplicate */
        { "a", NAN, 5, 3, NULL, NULL, NULL, NULL },  /* highest step: the latest */
        { "a", 9.0, 99, 2, NULL, NULL, NULL, NULL },
        { "b", 2.0, 10, 0, NULL, NULL, NULL, NULL },
        { "b", 3.0, 10, 0, NULL, NULL, NULL, NULL }, /* same step and time: larger value */
        { "c", INFINITY, 1, 0, NULL, NULL, NULL, NULL },
        { "d", 1.0, 1, 0, NULL, "train", "abc", NULL },
        { "e", -1.0, 1, 0, NULL, NULL, NULL, NULL },
        { "f", 0.0, 1, 0, NULL, NULL, NULL, NULL },
        { "g", 7.0, 1, 0, "m-1", NULL, NULL, NULL }, /* with a model id: one by one */
        { "a", 2.0, 1, 3, NULL, NULL, NULL, NULL },  /* step 3 too but NaN is stored as 0 */
        { "h", 5.0, 1, 0, NULL, NULL, NULL, NULL },
    };
    struct kiln_err err = { 0 };
    struct kiln_run *r;
    struct kiln_metric_page p;

    assert_int_equal(kiln_run_log_batch(f->store, id, m, 13, NULL, 0, NULL, 0, &err), KILN_OK);
    r = get_run(f, id);
    assert_int_equal(r->nmetrics, 8);
    /* a: step 3 holds NaN (stored value 0, ts 5) and 2.0 (ts 1): ts 5 is later, NaN wins. */
    assert_true(isnan(find_metric(r, "a")->value));
    assert_true(find_metric(r, "b")->value == 3.0);
    assert_true(isinf(find_metric(r, "c")->value));
    assert_true(find_metric(r, "g")->value == 7.0);
    assert_int_equal(kiln_metric_history(f->store, f->arena, id, "a", 0, NULL, &p, &err), KILN_OK);
    assert_int_equal(p.n, 4); /* the duplicate was dropped */
    assert_int_equal(kiln_metric_history(f->store, f->arena, id, "d", 0, NULL, &p, &err), KILN_OK);
    assert_string_equal(p.items[0].dataset_name, "train");
    assert_string_equal(p.items[0].dataset_digest, "abc");
    assert_null(p.items[0].model_id);
    assert_int_equal(kiln_metric_history(f->store, f->arena, id, "g", 0, NULL, &p, &err), KILN_OK);
    assert_string_equal(p.items[0].model_id, "m-1");
}

/*
 * STYLE.md rule 21 for the store: run log-batch with a store fault injected after n = 0, 1,
 * 2, ... operations until it succeeds; every failing attempt must leave the run unchanged.
 */
static void test_fault_loop(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "faults")->info.run_id;
    struct kiln_metric m[3] = {
        { "acc", 0.9, 20, 2, NULL, NULL, NULL, NULL },
        { "acc", 0.8, 21, 3, NULL, NULL, NULL, NULL },
        { "loss", 0.1, 20, 2, "m-x", "ds", "dig", NULL },
    };
    struct kiln_kv p[2] = { { "opt", "adam" }, { "wd", "0.01" } };
    struct kiln_kv t[2] = { { "mlflow.runName", "renamed" }, { "note", "x" } };
    struct kiln_err err = { 0 };
    char before[8192], after[8192];
    long n;

    assert_int_equal(kiln_run_log_batch(f->store, id, m, 1, NULL, 0, NULL, 0, &err), KILN_OK);
    snapshot(f, id, before, sizeof(before));
    for (n = 0;; n++) {
        int rc;
        kiln_store_fail_after(n);
        rc = kiln_run_log_batch(f->store, id, m, 3, p, 2, t, 2, &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        snapshot(f, id, after, sizeof(after));
        assert_string_equal(before, after);
        assert_string_equal(get_run(f, id)->info.run_name, "faults");
        assert_true(n < 1000);
    }
    assert_true(n > 10); /* the loop really went through the statements */
    snapshot(f, id, after, sizeof(after));
    assert_string_not_equal(before, after);
    assert_string_equal(get_run(f, id)->info.run_name, "renamed");
}

/* ---- group commit ----------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 150

struct worker {
    struct fixture *f;
    char run_id[33];
    int index;
    int failures_expected, failures_seen, errors;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int s = 0; s < PER_THREAD; s++) {
        char k[10][8], pk[32];
        struct kiln_metric m[10];
        struct kiln_kv p = { pk, "v" };
        struct kiln_err err = { 0 };
        int conflict = (w->index % 2 == 1) && (s % 10 == 5);
        for (int i = 0; i < 10; i++) {
            snprintf(k[i], sizeof(k[i]), "m%d", i);
            m[i] = (struct kiln_metric){ k[i], (double)i / (s + 1), 1000 + s, s, NULL, NULL, NULL,
                                         NULL };
        }
        /* Odd workers now and then re-log param p0 with another value: that batch fails. */
        snprintf(pk, sizeof(pk), "p%d", conflict ? 0 : s);
        p.value = conflict ? "changed" : "v";
        if (kiln_run_log_batch(w->f->store, w->run_id, m, 10, &p, 1, NULL, 0, &err) != KILN_OK) {
            if (conflict && err.rc == KILN_EINVAL)
                w->failures_seen++;
            else
                w->errors++;
        }
        w->failures_expected += conflict;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    struct worker w[THREADS];
    pthread_t t[THREADS];

    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].f = f;
        w[i].index = i;
        kiln_strlcpy(w[i].run_id, make_run(f, f->exp, NULL)->info.run_id, sizeof(w[i].run_id));
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        int ok_batches = PER_THREAD - w[i].failures_expected;
        assert_int_equal(w[i].errors, 0);
        assert_int_equal(w[i].failures_seen, w[i].failures_expected);
        /* Every acknowledged batch is complete; failed ones left nothing. */
        assert_int_equal(sql_int(f, "SELECT count(*) FROM metrics WHERE run_uuid = ?", w[i].run_id),
                         ok_batches * 10);
        assert_int_equal(sql_int(f, "SELECT count(*) FROM params WHERE run_uuid = ?", w[i].run_id),
                         ok_batches);
        assert_int_equal(
            sql_int(f, "SELECT max(step) FROM latest_metrics WHERE run_uuid = ?", w[i].run_id),
            PER_THREAD - 1 - (w[i].index % 2 == 1 && (PER_THREAD - 1) % 10 == 5));
    }
}

/* A work that fails inside a group is rolled back alone; a lone failing work leaves nothing. */
static int insert_then(struct kiln_tx *tx, void *ctx, struct kiln_err *err)
{
    const char *sql = ctx;
    int rc = kiln_tx_exec(tx, sql, err);
    if (rc == KILN_OK && strstr(sql, "'fail'") != NULL)
        rc = kiln_err_set(err, KILN_EINVAL, "asked to fail");
    return rc;
}

static void test_store_write_direct(void **state)
{
    struct fixture *f = *state;
    struct kiln_err err = { 0 };
    char ok[] = "INSERT INTO experiment_tags VALUES (0, 'ok', 'x')";
    char bad[] = "INSERT INTO experiment_tags VALUES (0, 'fail', 'x')";
    char dup[] = "INSERT INTO experiment_tags VALUES (0, 'ok', 'dup')";
    char other[] = "INSERT INTO experiment_tags VALUES (0, 'b', 'x')";
    assert_int_equal(kiln_store_write(f->store, insert_then, ok, &err), KILN_OK);
    EXPECT_ERR(kiln_store_write(f->store, insert_then, bad, &err), KILN_EINVAL, "asked to fail");
    EXPECT_ERR(kiln_store_write(f->store, insert_then, dup, &err), KILN_EEXIST, "UNIQUE");
    assert_int_equal(
        sql_int(f, "SELECT count(*) FROM experiment_tags WHERE experiment_id = 0", NULL), 1);
    /* NULL err is allowed. */
    assert_int_equal(kiln_store_write(f->store, insert_then, other, NULL), KILN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limits, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_chunk_semantics, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_param_chunks, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_big_commit, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fault_loop, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_store_write_direct, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

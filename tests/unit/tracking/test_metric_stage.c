/*
 * test_metric_stage.c - logged metrics go through metric_stage (tracking/metric_stage.c):
 * a read right after logging sees them (get-run, history, search), slices move them into the
 * history while keeping a backlog (a short one when runs have few rows each), the latest-value rule
 * holds across slices against a reference computed here, nothing staged is lost across a reopen,
 * and a failed apply changes nothing.
 */
#include "trk_fixture.h"

#include <math.h>

#define STAGED "SELECT count(*) FROM metric_stage"
#define HISTORY "SELECT count(*) FROM metrics"

static void log_batch(struct fixture *f, const char *run, const struct kiln_metric *m, size_t n)
{
    struct kiln_err err = { 0 };
    if (kiln_run_log_batch(f->store, run, m, n, NULL, 0, NULL, 0, &err) != KILN_OK)
        fail_msg("log-batch: %s", err.msg);
}

/* Ten metrics "k0".."k9" at step, value step * 10 + k. */
static void log_step(struct fixture *f, const char *run, int64_t step)
{
    static const char *const keys[10] = {
        "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"
    };
    struct kiln_metric m[10];
    memset(m, 0, sizeof(m));
    for (int k = 0; k < 10; k++) {
        m[k].key = keys[k];
        m[k].value = (double)(step * 10 + k);
        m[k].timestamp = 1000 + step;
        m[k].step = step;
    }
    log_batch(f, run, m, 10);
}

static void test_read_sees_staged(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "staged")->info.run_id;
    struct kiln_err err = { 0 };
    struct kiln_metric_page h;
    struct kiln_run_page p;
    struct kiln_run_query q;

    assert_int_equal(kiln_metrics_settle(f->store, &err), KILN_OK);
    log_step(f, id, 1);
    log_step(f, id, 2);
    /* Acknowledged, staged, not yet in the history. */
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 20);
    assert_int_equal(sql_int_raw(f, HISTORY, NULL), 0);
    /* get-run applies the stage first. */
    assert_true(find_metric(get_run(f, id), "k3")->value == 23.0);
    assert_int_equal(find_metric(get_run(f, id), "k3")->step, 2);
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 0);
    assert_int_equal(sql_int_raw(f, HISTORY, NULL), 20);
    /* History and search see a fresh write too. */
    log_step(f, id, 3);
    assert_int_equal(kiln_metric_history(f->store, f->arena, id, "k9", 0, NULL, &h, &err), KILN_OK);
    assert_int_equal(h.n, 3);
    assert_true(h.items[2].value == 39.0);
    log_step(f, id, 4);
    memset(&q, 0, sizeof(q));
    q.experiment_ids = &f->exp;
    q.nexperiments = 1;
    q.filter = "metrics.k0 >= 40";
    assert_int_equal(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.items[0].info.run_id, id);
}

static void test_slices_keep_a_backlog(void **state)
{
    struct fixture *f = *state;
    const char *ids[3];
    struct kiln_err err = { 0 };
    int64_t staged, applied;

    assert_int_equal(kiln_metrics_settle(f->store, &err), KILN_OK);
    for (int r = 0; r < 3; r++)
        ids[r] = make_run(f, f->exp, NULL)->info.run_id;
    for (int64_t step = 0; step < 200; step++)
        for (int r = 0; r < 3; r++)
            log_step(f, ids[r], step);
    /* 6,000 rows logged: slices applied some, a backlog waits, none lost or doubled. */
    staged = sql_int_raw(f, STAGED, NULL);
    applied = sql_int_raw(f, HISTORY, NULL);
    assert_int_equal(staged + applied, 6000);
    assert_true(applied >= 3000);
    assert_true(staged >= 500 && staged <= 3000);
    /* Applied latest values never run ahead of the history. */
    assert_int_equal(sql_int_raw(f,
                                 "SELECT count(*) FROM latest_metrics l WHERE NOT EXISTS (SELECT "
                                 "1 FROM metrics m WHERE m.run_uuid = l.run_uuid AND m.key = "
                                 "l.key AND m.step = l.step AND m.value = l.value)",
                                 NULL),
                     0);
    for (int r = 0; r < 3; r++) {
        struct kiln_run *run = get_run(f, ids[r]);
        assert_int_equal(run->nmetrics, 10);
        assert_int_equal(find_metric(run, "k7")->step, 199);
        assert_true(find_metric(run, "k7")->value == 1997.0);
    }
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 0);
    assert_int_equal(sql_int_raw(f, HISTORY, NULL), 6000);
}

/* Many runs with a row or two each: waiting would batch nothing, so the backlog shrinks to
 * about one slice (the first read then applies little); dense logging brings it back. */
static void test_sparse_stage_stays_short(void **state)
{
    struct fixture *f = *state;
    struct kiln_err err = { 0 };
    struct kiln_metric m[2];
    const char *dense = NULL;
    int64_t staged;

    assert_int_equal(kiln_metrics_settle(f->store, &err), KILN_OK);
    memset(m, 0, sizeof(m));
    m[0].key = "acc";
    m[1].key = "loss";
    for (int r = 0; r < 1500; r++) {
        const char *id = make_run(f, f->exp, NULL)->info.run_id;
        m[0].value = r;
        m[1].value = -r;
        log_batch(f, id, m, 2);
        if (r == 0)
            dense = id;
    }
    staged = sql_int_raw(f, STAGED, NULL);
    assert_int_equal(staged + sql_int_raw(f, HISTORY, NULL), 3000);
    assert_true(staged <= 2 * 256 + 2); /* about one slice waits, not 2,048 rows */
    /* One run logging steadily: slices take hundreds of its rows, the deep backlog returns. */
    for (int64_t step = 1; step <= 300; step++)
        log_step(f, dense, step);
    staged = sql_int_raw(f, STAGED, NULL);
    assert_int_equal(staged + sql_int_raw(f, HISTORY, NULL), 6000);
    assert_true(staged >= 1024);
    assert_int_equal(find_metric(get_run(f, dense), "k4")->step, 300);
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 0);
}

/* The reference rule: greatest (step, timestamp, value), NaN counted as 0, first one kept. */
static int beats(const struct kiln_metric *a, const struct kiln_metric *b)
{
    double av = isnan(a->value) ? 0.0 : a->value, bv = isnan(b->value) ? 0.0 : b->value;
    if (a->step != b->step)
        return a->step > b->step;
    if (a->timestamp != b->timestamp)
        return a->timestamp > b->timestamp;
    return av > bv;
}

static int same_row(const struct kiln_metric *a, const struct kiln_metric *b)
{
    return a->step == b->step && a->timestamp == b->timestamp &&
           (isnan(a->value) ? isnan(b->value) : (!isnan(b->value) && a->value == b->value));
}

#define NKEYS 8
#define NROWS 4000

/* Sets row i to key k at (step, timestamp, value). */
static void put(struct kiln_metric *rows, size_t i, const char *k, int64_t step, int64_t ts,
                double v)
{
    rows[i].key = k;
    rows[i].step = step;
    rows[i].timestamp = ts;
    rows[i].value = v;
}

static void test_latest_rule_across_slices(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[NKEYS] = { "a", "b", "c", "d", "t1", "t2", "t3", "o" };
    struct kiln_metric *rows = calloc(NROWS, sizeof(*rows)), best[NKEYS];
    const char *id = make_run(f, f->exp, "rule")->info.run_id;
    size_t distinct = 0, have[NKEYS] = { 0 };
    uint64_t x = 88172645463325252ull;
    struct kiln_run *run;

    assert_non_null(rows);
    /* Keys a-d: steps, timestamps and values from small ranges, so ties, duplicates and NaN
     * are frequent, in batches of 8 across slices. */
    for (size_t i = 0; i < NROWS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rows[i].key = keys[x % 4];
        rows[i].step = (int64_t)((x >> 8) % 300);
        rows[i].timestamp = (int64_t)((x >> 16) % 3);
        rows[i].value = (x >> 24) % 5 == 0 ? NAN : (double)((x >> 32) % 3);
    }
    /* The tie rules, early and late (slices apart) and within one batch: NaN and 0 tie, the
     * first logged stays; the timestamp outranks the value. */
    put(rows, 0, "t1", 1000, 5, 0.0);
    put(rows, NROWS - 1, "t1", 1000, 5, NAN);
    put(rows, 1, "t2", 1000, 5, NAN);
    put(rows, NROWS - 2, "t2", 1000, 5, 0.0);
    put(rows, NROWS / 2, "t3", 1000, 5, NAN);
    put(rows, NROWS / 2 + 1, "t3", 1000, 5, 0.0);
    put(rows, 2, "o", 1000, 2, 1.0);
    put(rows, NROWS - 3, "o", 1000, 1, 9.0);
    for (size_t i = 0; i < NROWS; i += 8)
        log_batch(f, id, &rows[i], 8);
    for (size_t i = 0; i < NROWS; i++) {
        size_t k = 0;
        while (keys[k] != rows[i].key)
            k++;
        size_t j = 0;
        while (j < i && !(rows[j].key == rows[i].key && same_row(&rows[j], &rows[i])))
            j++;
        distinct += j == i;
        if (!have[k] || beats(&rows[i], &best[k]))
            best[k] = rows[i];
        have[k] = 1;
    }
    run = get_run(f, id);
    assert_int_equal(run->nmetrics, NKEYS);
    for (size_t k = 0; k < NKEYS; k++) {
        const struct kiln_metric *m = find_metric(run, keys[k]);
        if (!same_row(m, &best[k]))
            fail_msg("latest %s: got step %lld ts %lld value %g, want %lld %lld %g", keys[k],
                     (long long)m->step, (long long)m->timestamp, m->value, (long long)best[k].step,
                     (long long)best[k].timestamp, best[k].value);
    }
    assert_int_equal(sql_int(f, "SELECT count(*) FROM metrics WHERE run_uuid = ?", id),
                     (int64_t)distinct);
    free(rows);
}

static void test_staged_rows_survive_reopen(void **state)
{
    struct fixture *f = *state;
    const char *id = kiln_arena_strdup(f->arena, make_run(f, f->exp, "reopen")->info.run_id);
    struct kiln_err err = { 0 };
    char uri[400];

    assert_int_equal(kiln_metrics_settle(f->store, &err), KILN_OK);
    for (int64_t step = 0; step < 5; step++)
        log_step(f, id, step);
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 50);
    kiln_store_close(f->store);
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", f->dir);
    assert_int_equal(kiln_store_open(uri, kiln_schema_all, 4, &f->store, &err), KILN_OK);
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 50);
    assert_int_equal(find_metric(get_run(f, id), "k0")->step, 4);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM metrics WHERE run_uuid = ?", id), 50);
}

static void test_failed_apply_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *id = make_run(f, f->exp, "faults")->info.run_id;
    struct kiln_err err = { 0 };
    int64_t staged, applied;
    long n;

    assert_int_equal(kiln_metrics_settle(f->store, &err), KILN_OK);
    for (int64_t step = 0; step < 30; step++)
        log_step(f, id, step);
    staged = sql_int_raw(f, STAGED, NULL);
    applied = sql_int_raw(f, HISTORY, NULL);
    assert_int_equal(staged, 300);
    for (n = 0;; n++) {
        int rc;
        kiln_store_fail_after(n);
        rc = kiln_metrics_settle(f->store, &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(sql_int_raw(f, STAGED, NULL), staged);
        assert_int_equal(sql_int_raw(f, HISTORY, NULL), applied);
        assert_true(n < 1000);
    }
    assert_true(n > 0);
    assert_int_equal(sql_int_raw(f, STAGED, NULL), 0);
    assert_int_equal(sql_int_raw(f, HISTORY, NULL), applied + 300);
    assert_int_equal(find_metric(get_run(f, id), "k5")->step, 29);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_sees_staged, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slices_keep_a_backlog, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sparse_stage_stays_short, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_latest_rule_across_slices, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_staged_rows_survive_reopen, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failed_apply_changes_nothing, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_schema.c - upgrades of the tracking schema keep the data: a store written at
 * version 4 (per-run tables with a foreign key to runs) opens at the current version with
 * its metric history, latest metrics and params intact, the per-row foreign keys gone and
 * the search indexes back.
 */
#include "kiln_test.h"

#include "core/fs.h"
#include "store/migrations/migrations.h"
#include "store/store.h"

static char dir[256], uri[512];

static int setup(void **state)
{
    (void)state;
    assert_non_null(kiln_test_tmpdir(dir, sizeof(dir)));
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kiln_remove_tree(dir, NULL);
    return 0;
}

static void exec(struct kiln_store *s, const char *sql)
{
    struct kiln_tx *tx;
    assert_int_equal(kiln_store_begin(s, KILN_TX_WRITE, &tx, NULL), KILN_OK);
    assert_int_equal(kiln_tx_exec(tx, sql, NULL), KILN_OK);
    assert_int_equal(kiln_store_commit(tx, NULL), KILN_OK);
}

static int64_t count(struct kiln_store *s, const char *sql)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int64_t n = -1;
    assert_int_equal(kiln_store_begin(s, KILN_TX_READ, &tx, NULL), KILN_OK);
    assert_int_equal(kiln_tx_prepare(tx, sql, &st, NULL), KILN_OK);
    if (kiln_stmt_step(st, NULL) == KILN_STMT_ROW)
        n = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return n;
}

static void test_v4_store_upgrades_with_its_data(void **state)
{
    struct kiln_schema_component v4 = kiln_schema_tracking;
    const struct kiln_schema_component *const old[] = { &v4, NULL };
    const struct kiln_schema_component *const now[] = { &kiln_schema_tracking, NULL };
    struct kiln_store *s;
    (void)state;
    v4.n = 4;
    assert_int_equal(kiln_store_open(uri, old, 1, &s, NULL), KILN_OK);
    exec(s, "INSERT INTO experiments VALUES (1, 'e', 'a', 'active', 1, 1);"
            "INSERT INTO runs (run_uuid, experiment_id, status, artifact_uri) "
            "  VALUES ('r1', 1, 'RUNNING', 'a');"
            "INSERT INTO metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES "
            "  ('r1', 'loss', 0.5, 10, 0, 0), ('r1', 'loss', 0.25, 20, 1, 0);"
            "INSERT INTO latest_metrics VALUES ('r1', 'loss', 0.25, 20, 1, 0);"
            "INSERT INTO params VALUES ('r1', 'lr', '0.1');");
    assert_int_equal(count(s, "SELECT count(*) FROM pragma_foreign_key_list('metrics')"), 1);
    kiln_store_close(s);

    assert_int_equal(kiln_store_open(uri, now, 1, &s, NULL), KILN_OK);
    assert_int_equal(count(s, "SELECT count(*) FROM metrics WHERE run_uuid = 'r1'"), 2);
    assert_int_equal(count(s, "SELECT step FROM latest_metrics WHERE key = 'loss'"), 1);
    assert_int_equal(count(s, "SELECT count(*) FROM params WHERE key = 'lr' AND value = '0.1'"), 1);
    for (int i = 0; i < 3; i++) {
        static const char *const q[] = {
            "SELECT count(*) FROM pragma_foreign_key_list('metrics')",
            "SELECT count(*) FROM pragma_foreign_key_list('latest_metrics')",
            "SELECT count(*) FROM pragma_foreign_key_list('params')",
        };
        assert_int_equal(count(s, q[i]), 0);
    }
    assert_int_equal(count(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                              "name IN ('latest_metrics_by_value', 'params_by_key')"),
                     2);
    /* tags keep theirs (not on the log-batch hot path). */
    assert_int_equal(count(s, "SELECT count(*) FROM pragma_foreign_key_list('tags')"), 1);
    assert_int_equal(count(s, "SELECT count(*) FROM pragma_integrity_check WHERE "
                              "integrity_check = 'ok'"),
                     1);
    kiln_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v4_store_upgrades_with_its_data, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

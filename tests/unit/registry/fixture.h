/*
 * fixture.h - a registry over a real SQLite store in a temporary folder, plus helpers that
 * write tracking rows (experiments, runs, params, metrics, tags, datasets, logged models)
 * straight into the store, as the tracking server would have.
 */
#ifndef KILN_TEST_REGISTRY_FIXTURE_H
#define KILN_TEST_REGISTRY_FIXTURE_H

#include "kiln_test.h"

#include "core/fs.h"
#include "registry/registry.h"
#include "store/migrations/migrations.h"
#include "store/store.h"

struct fx {
    char dir[256];
    struct kiln_store *store;
    struct kiln_registry *reg;
    struct kiln_arena *arena;
};

static inline int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char uri[512];
    struct kiln_err err = { 0 };
    assert_non_null(f);
    assert_non_null(kiln_test_tmpdir(f->dir, sizeof(f->dir)));
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", f->dir);
    assert_int_equal(kiln_store_open(uri, kiln_schema_all, 4, &f->store, &err), KILN_OK);
    assert_int_equal(kiln_tracking_init(f->store, "mlflow-artifacts:/", &err), KILN_OK);
    assert_int_equal(kiln_registry_new(f->store, NULL, &f->reg, &err), KILN_OK);
    f->arena = kiln_arena_new(0);
    assert_non_null(f->arena);
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;
    kiln_store_fail_after(-1);
    kiln_mem_fail_after(-1);
    kiln_registry_free(f->reg);
    kiln_store_close(f->store);
    kiln_arena_free(f->arena);
    kiln_remove_tree(f->dir, NULL);
    free(f);
    return 0;
}

/* Runs one statement (no results) on the store; asserts success. */
static inline void fx_sql(struct fx *f, const char *sql)
{
    struct kiln_tx *tx;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_store_begin(f->store, KILN_TX_WRITE, &tx, &err), KILN_OK);
    if (kiln_tx_exec(tx, sql, &err) != KILN_OK)
        fail_msg("%s: %s", sql, err.msg);
    assert_int_equal(kiln_store_commit(tx, &err), KILN_OK);
}

/* One int64 from a query. */
static inline int64_t fx_int(struct fx *f, const char *sql)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int64_t v = -1;
    assert_int_equal(kiln_store_begin(f->store, KILN_TX_READ, &tx, NULL), KILN_OK);
    assert_int_equal(kiln_tx_prepare(tx, sql, &st, NULL), KILN_OK);
    if (kiln_stmt_step(st, NULL) == KILN_STMT_ROW)
        v = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return v;
}

/* A run in experiment 0 with artifact_uri mlflow-artifacts:/0/<id>/artifacts. */
static inline void fx_run(struct fx *f, const char *run_id)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, "
             "end_time, artifact_uri, lifecycle_stage) VALUES ('%s', 'run-%s', 0, 'alice', "
             "'FINISHED', 1000, 2000, 'mlflow-artifacts:/0/%s/artifacts', 'active')",
             run_id, run_id, run_id);
    fx_sql(f, sql);
}

static inline struct kiln_model_version *fx_version(struct fx *f, const char *name,
                                                    const char *source, const char *run_id)
{
    struct kiln_mv_create_args a = { 0 };
    struct kiln_model_version *v = NULL;
    struct kiln_err err = { 0 };
    a.name = name;
    a.source = source;
    a.run_id = run_id;
    a.user = "alice";
    if (kiln_mv_create(f->reg, f->arena, &a, &v, &err) != KILN_OK)
        fail_msg("create version of %s: %s", name, err.msg);
    return v;
}

static inline void fx_model(struct fx *f, const char *name)
{
    struct kiln_err err = { 0 };
    if (kiln_rm_create(f->reg, f->arena, name, NULL, 0, NULL, "alice", NULL, &err) != KILN_OK)
        fail_msg("create model %s: %s", name, err.msg);
}

#endif

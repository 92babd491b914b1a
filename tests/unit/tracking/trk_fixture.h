/*
 * trk_fixture.h - a real SQLite store in a temporary folder for the tracking tests: opened
 * with every schema component, the Default experiment created, one experiment "e" and an
 * arena for results. Also small helpers to count rows with SQL.
 */
#ifndef KILN_TRK_FIXTURE_H
#define KILN_TRK_FIXTURE_H

#include "kiln_test.h"

#include <jansson.h>

#include "core/arena.h"
#include "core/fs.h"
#include "core/time.h"
#include "store/migrations/migrations.h"
#include "store/store.h"
#include "tracking/tracking.h"

struct fixture {
    char dir[256];
    struct kiln_store *store;
    struct kiln_arena *arena;
    int64_t exp;
};

static inline int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char uri[400];
    struct kiln_err err = { 0 };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    assert_non_null(f);
    assert_non_null(kiln_test_tmpdir(f->dir, sizeof(f->dir)));
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", f->dir);
    assert_int_equal(kiln_store_open(uri, kiln_schema_all, 4, &f->store, &err), KILN_OK);
    assert_int_equal(kiln_tracking_init(f->store, "mlflow-artifacts:/", &err), KILN_OK);
    assert_int_equal(
        kiln_experiment_create(f->store, "e", NULL, NULL, 0, "mlflow-artifacts:/", &f->exp, &err),
        KILN_OK);
    f->arena = kiln_arena_new(0);
    assert_non_null(f->arena);
    *state = f;
    return 0;
}

static inline int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    kiln_arena_free(f->arena);
    kiln_store_close(f->store);
    kiln_remove_tree(f->dir, NULL);
    free(f);
    return 0;
}

/*
 * Runs a one-value SQL query with an optional text argument; returns the integer result.
 * Like every reader of the metric tables it begins with kiln_metrics_begin_read (staged
 * metrics applied first); sql_int_raw sees the store as it is, stage included.
 */
static inline int64_t sql_int_in(struct fixture *f, int settled, const char *sql, const char *arg)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int64_t v = -1;
    if (settled)
        assert_int_equal(kiln_metrics_begin_read(f->store, &tx, NULL), KILN_OK);
    else
        assert_int_equal(kiln_store_begin(f->store, KILN_TX_READ, &tx, NULL), KILN_OK);
    assert_int_equal(kiln_tx_prepare(tx, sql, &st, NULL), KILN_OK);
    if (arg != NULL)
        kiln_stmt_bind_text(st, 1, arg);
    if (kiln_stmt_step(st, NULL) == KILN_STMT_ROW)
        v = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return v;
}
static inline int64_t sql_int(struct fixture *f, const char *sql, const char *arg)
{
    return sql_int_in(f, 1, sql, arg);
}
static inline int64_t sql_int_raw(struct fixture *f, const char *sql, const char *arg)
{
    return sql_int_in(f, 0, sql, arg);
}

/* Creates a run in experiment exp with the given name (NULL: random). */
static inline struct kiln_run *make_run(struct fixture *f, int64_t exp, const char *name)
{
    struct kiln_run_create_req c;
    struct kiln_run *run = NULL;
    struct kiln_err err = { 0 };
    memset(&c, 0, sizeof(c));
    c.experiment_id = exp;
    c.run_name = name;
    c.user_id = "tester";
    if (kiln_run_create(f->store, f->arena, &c, &run, &err) != KILN_OK)
        fail_msg("create run: %s", err.msg);
    return run;
}

static inline const char *find_kv(const struct kiln_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

static inline const struct kiln_metric *find_metric(const struct kiln_run *r, const char *key)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metrics[i].key, key) == 0)
            return &r->metrics[i];
    return NULL;
}

static inline struct kiln_run *get_run(struct fixture *f, const char *id)
{
    struct kiln_run *r = NULL;
    struct kiln_err err = { 0 };
    if (kiln_run_get(f->store, f->arena, id, &r, &err) != KILN_OK)
        fail_msg("get run: %s", err.msg);
    return r;
}

/* Expects rc with a message containing needle; `call` must report into a local `err`. */
#define EXPECT_ERR(call, want, needle)                                         \
    do {                                                                       \
        int rc_;                                                               \
        kiln_err_clear(&err);                                                  \
        rc_ = (call);                                                          \
        if (rc_ != (want))                                                     \
            fail_msg("%s: got %d, want %d (%s)", #call, rc_, (want), err.msg); \
        if (strstr(err.msg, (needle)) == NULL)                                 \
            fail_msg("%s: message '%s' lacks '%s'", #call, err.msg, (needle)); \
    } while (0)

#endif

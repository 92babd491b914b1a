/*
 * store.c - the backend-independent half of the store: opening by URI, transactions, the
 * statement API (thin calls through the backend vtable) and fault injection.
 *
 * Transaction lifecycle: begin (acquire connection + BEGIN) -> statements -> commit or
 * rollback (COMMIT/ROLLBACK + release). A kiln_tx is heap-allocated per transaction; it is
 * small and keeps the ownership story simple (whoever began it ends it).
 */
#include <stdatomic.h>
#include <string.h>

#include "core/mem.h"
#include "core/uri.h"
#include "store/store_int.h"

static atomic_long store_fail_countdown = -1;

void kiln_store_fail_after(long n)
{
    atomic_store(&store_fail_countdown, n < 0 ? -1 : n);
}

int kiln_store_fault(void)
{
    long n = atomic_load_explicit(&store_fail_countdown, memory_order_relaxed);
    while (n >= 0) {
        if (n == 0)
            return 1;
        if (atomic_compare_exchange_weak(&store_fail_countdown, &n, n - 1))
            return 0;
    }
    return 0;
}

static int injected(struct kiln_err *err)
{
    return kiln_err_set(err, KILN_EIO, "injected store fault");
}

int kiln_store_open(const char *uri, const struct kiln_schema_component *const *components,
                    int readers, struct kiln_store **out, struct kiln_err *err)
{
    struct kiln_uri u;
    struct kiln_store *s = NULL;
    const char *target;
    int rc;

    rc = kiln_uri_parse(uri, &u, err);
    if (rc != KILN_OK)
        return rc;
    s = kiln_calloc(1, sizeof(*s));
    if (s == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&s->group_lock, NULL);
    if (u.scheme == KILN_URI_SQLITE) {
        s->ops = &kiln_store_sqlite_ops;
        target = u.path;
    } else if (u.scheme == KILN_URI_POSTGRES) {
        s->ops = &kiln_store_postgres_ops;
        target = u.raw;
    } else {
        rc = kiln_err_set(err, KILN_EINVAL,
                          "invalid backend store URI '%s': expected sqlite:///PATH or "
                          "postgresql://...",
                          uri);
        goto out;
    }
    rc = s->ops->open(target, readers > 0 ? readers : 8, &s->backend, err);
    if (rc != KILN_OK)
        goto out;
    rc = kiln_store_migrate(s, components, err);
out:
    kiln_uri_release(&u);
    if (rc != KILN_OK) {
        kiln_store_close(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

void kiln_store_close(struct kiln_store *store)
{
    if (store == NULL)
        return;
    if (store->backend != NULL)
        store->ops->close(store->backend);
    pthread_mutex_destroy(&store->group_lock);
    kiln_free(store);
}

enum kiln_dialect kiln_store_dialect(const struct kiln_store *store)
{
    return store->ops->dialect;
}

enum kiln_dialect kiln_tx_dialect(const struct kiln_tx *tx)
{
    return tx->store->ops->dialect;
}

int kiln_store_begin(struct kiln_store *store, enum kiln_tx_mode mode, struct kiln_tx **out,
                     struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc;

    *out = NULL;
    if (kiln_store_fault())
        return injected(err);
    tx = kiln_calloc(1, sizeof(*tx));
    if (tx == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    tx->store = store;
    tx->mode = mode;
    rc = store->ops->acquire(store->backend, mode, &tx->db, err);
    if (rc != KILN_OK) {
        kiln_free(tx);
        return rc;
    }
    rc = store->ops->exec(
        tx->db, mode == KILN_TX_WRITE ? store->ops->begin_write_sql : store->ops->begin_read_sql,
        err);
    if (rc != KILN_OK) {
        store->ops->release(store->backend, tx->db);
        kiln_free(tx);
        return rc;
    }
    *out = tx;
    return KILN_OK;
}

static void end_tx(struct kiln_tx *tx)
{
    tx->store->ops->release(tx->store->backend, tx->db);
    kiln_free(tx);
}

int kiln_store_commit(struct kiln_tx *tx, struct kiln_err *err)
{
    int rc;
    if (kiln_store_fault()) {
        kiln_store_rollback(tx);
        return injected(err);
    }
    rc = tx->store->ops->exec(tx->db, "COMMIT", err);
    if (rc != KILN_OK) {
        /* A failed COMMIT may leave the transaction open (e.g. SQLITE_BUSY): end it. */
        struct kiln_err ignored;
        tx->store->ops->exec(tx->db, "ROLLBACK", &ignored);
    }
    end_tx(tx);
    return rc;
}

void kiln_store_rollback(struct kiln_tx *tx)
{
    struct kiln_err ignored;
    if (tx == NULL)
        return;
    tx->store->ops->exec(tx->db, "ROLLBACK", &ignored);
    end_tx(tx);
}

int kiln_tx_prepare(struct kiln_tx *tx, const char *sql, struct kiln_stmt **out,
                    struct kiln_err *err)
{
    int rc;
    *out = NULL;
    if (kiln_store_fault())
        return injected(err);
    rc = tx->store->ops->prepare(tx->db, sql, out, err);
    if (rc == KILN_OK)
        (*out)->tx = tx;
    return rc;
}

int kiln_tx_exec(struct kiln_tx *tx, const char *sql, struct kiln_err *err)
{
    if (kiln_store_fault())
        return injected(err);
    return tx->store->ops->exec(tx->db, sql, err);
}

int64_t kiln_tx_changes(struct kiln_tx *tx)
{
    return tx->store->ops->changes(tx->db);
}

int kiln_stmt_bind_int64(struct kiln_stmt *st, int idx, int64_t v)
{
    return st->ops->bind_int64(st, idx, v);
}

int kiln_stmt_bind_double(struct kiln_stmt *st, int idx, double v)
{
    return st->ops->bind_double(st, idx, v);
}

int kiln_stmt_bind_text(struct kiln_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return st->ops->bind_null(st, idx);
    return st->ops->bind_text(st, idx, s, strlen(s));
}

int kiln_stmt_bind_textn(struct kiln_stmt *st, int idx, const char *s, size_t len)
{
    return st->ops->bind_text(st, idx, s, len);
}

int kiln_stmt_bind_blob(struct kiln_stmt *st, int idx, const void *p, size_t len)
{
    return st->ops->bind_blob(st, idx, p, len);
}

int kiln_stmt_bind_null(struct kiln_stmt *st, int idx)
{
    return st->ops->bind_null(st, idx);
}

int kiln_stmt_step(struct kiln_stmt *st, struct kiln_err *err)
{
    if (kiln_store_fault())
        return injected(err);
    return st->ops->step(st, err);
}

int64_t kiln_stmt_int64(struct kiln_stmt *st, int col)
{
    return st->ops->col_int64(st, col);
}

double kiln_stmt_double(struct kiln_stmt *st, int col)
{
    return st->ops->col_double(st, col);
}

const char *kiln_stmt_text(struct kiln_stmt *st, int col)
{
    return st->ops->col_text(st, col);
}

size_t kiln_stmt_bytes(struct kiln_stmt *st, int col)
{
    return st->ops->col_bytes(st, col);
}

const void *kiln_stmt_blob(struct kiln_stmt *st, int col)
{
    return st->ops->col_blob(st, col);
}

int kiln_stmt_is_null(struct kiln_stmt *st, int col)
{
    return st->ops->col_is_null(st, col);
}

void kiln_stmt_reset(struct kiln_stmt *st)
{
    st->ops->reset(st);
}

void kiln_stmt_finish(struct kiln_stmt *st)
{
    if (st != NULL)
        st->ops->finish(st);
}

int kiln_store_integrity_check(struct kiln_store *store, struct kiln_err *err)
{
    struct kiln_db *db;
    int rc = store->ops->acquire(store->backend, KILN_TX_READ, &db, err);
    if (rc != KILN_OK)
        return rc;
    rc = store->ops->integrity_check(db, err);
    store->ops->release(store->backend, db);
    return rc;
}

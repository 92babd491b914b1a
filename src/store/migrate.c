/*
 * migrate.c - versioned schema migrations, applied at store open.
 *
 * Each component (tracking, registry, ...) has migrations numbered 1, 2, 3, ... recorded in
 * the table kiln_schema(component, version, applied_at). Every pending migration runs in its
 * own write transaction together with the version bump, so a crash in the middle leaves the
 * schema at a well-defined version and the next start resumes. A database whose version is
 * newer than this binary knows is refused rather than guessed at.
 */
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "store/store_int.h"

static const char schema_table[] = "CREATE TABLE IF NOT EXISTS kiln_schema ("
                                   "component TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                                   "applied_at BIGINT NOT NULL)";

int kiln_store_schema_version(struct kiln_store *store, const char *component, int *version,
                              struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "SELECT version FROM kiln_schema WHERE component = ?", &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, component);
        rc = kiln_stmt_step(st, err);
        *version = rc == KILN_STMT_ROW ? (int)kiln_stmt_int64(st, 0) : 0;
        rc = rc < 0 ? rc : KILN_OK;
        kiln_stmt_finish(st);
    }
    kiln_store_rollback(tx);
    return rc;
}

static int apply(struct kiln_store *store, const char *component, const struct kiln_migration *m,
                 struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    const char *sql = kiln_store_dialect(store) == KILN_DIALECT_SQLITE ? m->sqlite : m->postgres;
    int rc;
    if (sql == NULL)
        return kiln_err_set(err, KILN_ENOTSUP, "migration %s/%d has no SQL for the %s backend",
                            component, m->version, store->ops->name);
    rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_exec(tx, sql, err);
    if (rc != KILN_OK) {
        char msg[KILN_ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err != NULL ? err->msg : "");
        kiln_err_set(err, rc, "migration %s/%d (%s) failed: %s", component, m->version, m->name,
                     msg);
        goto fail;
    }
    rc = kiln_tx_prepare(tx,
                         "INSERT INTO kiln_schema (component, version, applied_at) "
                         "VALUES (?, ?, ?) ON CONFLICT (component) DO UPDATE SET "
                         "version = excluded.version, applied_at = excluded.applied_at",
                         &st, err);
    if (rc != KILN_OK)
        goto fail;
    kiln_stmt_bind_text(st, 1, component);
    kiln_stmt_bind_int64(st, 2, m->version);
    kiln_stmt_bind_int64(st, 3, kiln_now_ms());
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc < 0)
        goto fail;
    return kiln_store_commit(tx, err);
fail:
    kiln_store_rollback(tx);
    return rc;
}

int kiln_store_migrate(struct kiln_store *store,
                       const struct kiln_schema_component *const *components, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_exec(tx, schema_table, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = kiln_store_commit(tx, err);
    if (rc != KILN_OK)
        return rc;
    for (size_t c = 0; components != NULL && components[c] != NULL; c++) {
        const struct kiln_schema_component *comp = components[c];
        int version = 0;
        rc = kiln_store_schema_version(store, comp->name, &version, err);
        if (rc != KILN_OK)
            return rc;
        if ((size_t)version > comp->n)
            return kiln_err_set(err, KILN_ESTATE,
                                "the store's '%s' schema is at version %d but this kiln knows "
                                "versions up to %zu: upgrade kiln",
                                comp->name, version, comp->n);
        for (size_t i = (size_t)version; i < comp->n; i++) {
            KILN_ASSERT(comp->migrations[i].version == (int)i + 1);
            rc = apply(store, comp->name, &comp->migrations[i], err);
            if (rc != KILN_OK)
                return rc;
        }
    }
    return KILN_OK;
}

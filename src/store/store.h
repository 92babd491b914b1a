/*
 * store.h - kiln's storage interface.
 *
 * The store is a SQL database reached through a small backend vtable (`struct
 * kiln_store_ops`), the way SQLite reaches the OS through its VFS: the SQLite backend is the
 * embedded default, and a PostgreSQL backend plugs in behind the same ops without any caller
 * changing. Callers (tracking, registry, pipelines, ...) write portable SQL:
 *
 *   - placeholders are `?` (the PostgreSQL backend rewrites them to $1, $2, ...);
 *   - LIKE is case-sensitive on every backend (SQLite runs with case_sensitive_like=ON);
 *     case-insensitive matching is written LOWER(x) LIKE LOWER(?);
 *   - booleans are integers 0/1, times are int64 epoch milliseconds, ids are text or int64;
 *   - INSERT ... ON CONFLICT ... DO UPDATE/NOTHING and RETURNING are available on both.
 *
 * Units of work are transactions:
 *
 *     struct kiln_tx *tx;
 *     rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, err);      // a connection + BEGIN
 *     rc = kiln_tx_prepare(tx, "INSERT ... VALUES (?, ?)", &st, err);
 *     kiln_stmt_bind_text(st, 1, name); kiln_stmt_bind_int64(st, 2, now);
 *     rc = kiln_stmt_step(st, err);                               // KILN_STMT_DONE
 *     kiln_stmt_finish(st);
 *     rc = kiln_store_commit(tx, err);    // or kiln_store_rollback(tx) on any error
 *
 * Every begin is paired with exactly one commit or rollback, which also returns the
 * connection to the pool; a failed commit has already rolled back. Statements belong to their
 * transaction and must be finished before it ends (the backend caches prepared statements
 * per connection, so preparing the same SQL text again is cheap).
 *
 * Concurrency: kiln_store_* functions are thread-safe. A transaction and its statements are
 * used by one thread. Write transactions are serialised per store (the SQLite backend holds
 * one writer connection behind a mutex, so concurrent writers queue instead of failing with
 * "database is locked"); read transactions run concurrently on pooled connections and see a
 * consistent snapshot. Durability: a committed write survives the process being killed
 * (SQLite WAL with synchronous=NORMAL).
 *
 * Errors from the database are mapped at this boundary: a UNIQUE or PRIMARY KEY violation is
 * KILN_EEXIST, busy/locked after the timeout is KILN_EUNAVAIL, out of memory KILN_ENOMEM,
 * corruption and I/O errors KILN_EIO; the message carries the database's own text.
 *
 * Schema: each subsystem owns a component of versioned migrations (`struct
 * kiln_schema_component`) with SQL per dialect; kiln_store_open applies every pending
 * migration of every component, in order, each in its own transaction, at start.
 */
#ifndef KILN_STORE_STORE_H
#define KILN_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct kiln_store;
struct kiln_tx;
struct kiln_stmt;

enum kiln_dialect {
    KILN_DIALECT_SQLITE,
    KILN_DIALECT_POSTGRES,
};

enum kiln_tx_mode {
    KILN_TX_READ,
    KILN_TX_WRITE,
};

/* kiln_stmt_step results (besides negative error codes). */
#define KILN_STMT_DONE 0
#define KILN_STMT_ROW 1

struct kiln_migration {
    int version; /* 1, 2, 3, ... within its component; never renumbered */
    const char *name;
    const char *sqlite;   /* one or more statements separated by ';' */
    const char *postgres; /* NULL until that backend exists */
};

struct kiln_schema_component {
    const char *name; /* "tracking", "registry", ... */
    const struct kiln_migration *migrations;
    size_t n;
};

/*
 * Opens the store named by uri ("sqlite:///path.db", "sqlite:////abs.db",
 * "postgresql://..."), creating the SQLite file and its folder if needed, and applies pending
 * migrations of `components` (NULL-terminated array, in dependency order). `readers` bounds the
 * pool of read connections (0 picks 8). OUT: *out, freed with kiln_store_close.
 */
int kiln_store_open(const char *uri, const struct kiln_schema_component *const *components,
                    int readers, struct kiln_store **out /* OUT */, struct kiln_err *err);
/* Closes every connection. All transactions must have ended. NULL is a no-op. */
void kiln_store_close(struct kiln_store *store);
enum kiln_dialect kiln_store_dialect(const struct kiln_store *store);
/* Current schema version of a component (0 when never migrated). */
int kiln_store_schema_version(struct kiln_store *store, const char *component,
                              int *version /* OUT */, struct kiln_err *err);
/* Runs the backend's integrity check; KILN_EIO with its report when not ok. */
int kiln_store_integrity_check(struct kiln_store *store, struct kiln_err *err);

int kiln_store_begin(struct kiln_store *store, enum kiln_tx_mode mode, struct kiln_tx **out,
                     struct kiln_err *err);
/* Commits and releases. On failure the transaction has been rolled back and released. */
int kiln_store_commit(struct kiln_tx *tx, struct kiln_err *err);
/* Rolls back and releases. NULL is a no-op. */
void kiln_store_rollback(struct kiln_tx *tx);
/* The transaction's dialect (for the rare statement that differs). */
enum kiln_dialect kiln_tx_dialect(const struct kiln_tx *tx);

/*
 * A unit of write work for kiln_store_write: runs inside a write transaction that may also
 * hold other callers' work. It must not begin, commit or roll back; it returns KILN_OK or an
 * error with details in err.
 */
typedef int (*kiln_store_work_fn)(struct kiln_tx *tx, void *ctx, struct kiln_err *err);

/*
 * Group commit: runs fn(tx, ctx, err) in a write transaction shared with the work of other
 * threads calling at the same moment, and commits them together (one commit, one set of
 * written pages, instead of one per caller). Each work is atomic on its own: it runs inside a
 * savepoint, and when it fails only its changes are rolled back. Returns fn's error, or
 * KILN_OK once the commit that made its changes durable has succeeded (a failed commit is
 * reported to every work of the group). fn runs on whichever caller's thread leads the group,
 * so ctx must not depend on thread-local state. Thread-safe.
 */
int kiln_store_write(struct kiln_store *store, kiln_store_work_fn fn, void *ctx,
                     struct kiln_err *err);

/* Prepares (or takes from the connection's cache) a statement. */
int kiln_tx_prepare(struct kiln_tx *tx, const char *sql, struct kiln_stmt **out,
                    struct kiln_err *err);
/* Runs statements without parameters or results (';'-separated allowed). */
int kiln_tx_exec(struct kiln_tx *tx, const char *sql, struct kiln_err *err);
/* Rows changed by the last INSERT/UPDATE/DELETE statement on this transaction. */
int64_t kiln_tx_changes(struct kiln_tx *tx);

/* Binding: 1-based indexes; text is copied by the backend. */
int kiln_stmt_bind_int64(struct kiln_stmt *st, int idx, int64_t v);
int kiln_stmt_bind_double(struct kiln_stmt *st, int idx, double v);
int kiln_stmt_bind_text(struct kiln_stmt *st, int idx, const char *s); /* NULL binds NULL */
int kiln_stmt_bind_textn(struct kiln_stmt *st, int idx, const char *s, size_t len);
int kiln_stmt_bind_blob(struct kiln_stmt *st, int idx, const void *p, size_t len);
int kiln_stmt_bind_null(struct kiln_stmt *st, int idx);

/* KILN_STMT_ROW, KILN_STMT_DONE, or an error code. */
int kiln_stmt_step(struct kiln_stmt *st, struct kiln_err *err);
/* Column access on the current row; 0-based. Text is valid until the next step/finish. */
int64_t kiln_stmt_int64(struct kiln_stmt *st, int col);
double kiln_stmt_double(struct kiln_stmt *st, int col);
const char *kiln_stmt_text(struct kiln_stmt *st, int col); /* NULL for SQL NULL */
size_t kiln_stmt_bytes(struct kiln_stmt *st, int col);
const void *kiln_stmt_blob(struct kiln_stmt *st, int col);
int kiln_stmt_is_null(struct kiln_stmt *st, int col);
/* Resets the statement and clears its bindings so it can run again (loops of inserts). */
void kiln_stmt_reset(struct kiln_stmt *st);
/* Resets and returns the statement to its connection's cache. NULL is a no-op. */
void kiln_stmt_finish(struct kiln_stmt *st);

/*
 * Fault injection for tests (STYLE.md rule 21): after n more successful prepare/step calls
 * on any store, the next ones fail with KILN_EIO ("injected store fault"); n < 0 turns it off.
 */
void kiln_store_fail_after(long n);

/*
 * For tests: SQLite stores opened from now on start a checkpoint cycle at `pages` WAL frames
 * instead of 16,000 (64 MB); pages <= 0 restores the default.
 */
void kiln_store_checkpoint_pages(int pages);

/* ---- backend vtable (implemented by store/sqlite/ and store/postgres/) ---------------- */

struct kiln_store_backend; /* a backend's own state */
struct kiln_db;            /* a backend connection */

struct kiln_store_ops {
    const char *name;
    enum kiln_dialect dialect;
    int (*open)(const char *target, int readers, struct kiln_store_backend **out,
                struct kiln_err *err);
    void (*close)(struct kiln_store_backend *b);
    int (*acquire)(struct kiln_store_backend *b, enum kiln_tx_mode mode, struct kiln_db **out,
                   struct kiln_err *err);
    void (*release)(struct kiln_store_backend *b, struct kiln_db *db);
    int (*exec)(struct kiln_db *db, const char *sql, struct kiln_err *err);
    /* Returns a statement whose first member is `struct kiln_stmt` (store_int.h). */
    int (*prepare)(struct kiln_db *db, const char *sql, struct kiln_stmt **out,
                   struct kiln_err *err);
    int (*bind_int64)(struct kiln_stmt *st, int idx, int64_t v);
    int (*bind_double)(struct kiln_stmt *st, int idx, double v);
    int (*bind_text)(struct kiln_stmt *st, int idx, const char *s, size_t len);
    int (*bind_blob)(struct kiln_stmt *st, int idx, const void *p, size_t len);
    int (*bind_null)(struct kiln_stmt *st, int idx);
    int (*step)(struct kiln_stmt *st, struct kiln_err *err);
    int64_t (*col_int64)(struct kiln_stmt *st, int col);
    double (*col_double)(struct kiln_stmt *st, int col);
    const char *(*col_text)(struct kiln_stmt *st, int col);
    size_t (*col_bytes)(struct kiln_stmt *st, int col);
    const void *(*col_blob)(struct kiln_stmt *st, int col);
    int (*col_is_null)(struct kiln_stmt *st, int col);
    void (*reset)(struct kiln_stmt *st);
    void (*finish)(struct kiln_stmt *st);
    int64_t (*changes)(struct kiln_db *db);
    int (*integrity_check)(struct kiln_db *db, struct kiln_err *err);
    /* Transaction statements for each mode (backends differ in how they take write locks). */
    const char *begin_read_sql;
    const char *begin_write_sql;
};

extern const struct kiln_store_ops kiln_store_sqlite_ops;
extern const struct kiln_store_ops kiln_store_postgres_ops;

#endif

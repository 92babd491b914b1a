/*
 * sqlite.c - the embedded SQLite store backend.
 *
 * Connections: one writer connection behind a mutex (write transactions queue on it, so
 * concurrent writers never see SQLITE_BUSY from each other) and a pool of up to `readers`
 * reader connections created on demand; an acquirer waits on a condition variable when all
 * are taken. With ":memory:" there is only the writer connection and readers share it (a
 * memory database is private to its connection).
 *
 * Every connection runs in WAL mode with synchronous=NORMAL: a commit is in the WAL before
 * COMMIT returns, so a killed process loses nothing it acknowledged (only an OS crash could
 * roll back the last transactions), and readers never block the writer. foreign_keys=ON,
 * case_sensitive_like=ON (LIKE behaves as on PostgreSQL), busy_timeout 10 s for other
 * processes (a CLI run on the same file).
 *
 * Checkpoints run on a background thread with its own connection, not in the committing
 * request: the writer's automatic checkpoint is off and a WAL hook wakes the checkpointer
 * once ckpt_pages frames have accumulated. PASSIVE checkpoints copy frames while writers go
 * on; the last short tail is copied with writes held off so that the WAL restarts from its
 * beginning (see checkpoint()). Durability is unchanged (synchronous=NORMAL: a commit is in
 * the WAL before COMMIT returns; checkpoints fsync the WAL and the database file).
 *
 * Connections use the "kiln-walbuf" VFS (walbuf.c): the default VFS, with each WAL commit
 * written by one pwrite() instead of two per page.
 *
 * Statement cache: each connection keeps up to STMT_CACHE prepared statements keyed by SQL
 * text. A statement checked out twice at once (nested use of the same SQL) gets an uncached
 * copy that is finalised when finished. When the cache is full the least recently used idle
 * entry is evicted.
 *
 * Threads: acquire/release are thread-safe; a connection is used by one thread at a time.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/sqlite/walbuf.h"
#include "store/store_int.h"

#define STMT_CACHE 96
/*
 * Checkpoint sizes in WAL frames (4 KiB pages): a cycle starts at ckpt_pages (64 MB by
 * default); writes are held off for the rest once the WAL reaches 4x that or after
 * CKPT_MAX_PASSES copies; the tail copied with writes held off is at most ckpt_pages / 64.
 */
#define CKPT_PAGES_DEFAULT 16000
#define CKPT_MAX_PASSES 8
static atomic_int ckpt_pages_setting = CKPT_PAGES_DEFAULT;

void kiln_store_checkpoint_pages(int pages)
{
    atomic_store(&ckpt_pages_setting, pages > 0 ? pages : CKPT_PAGES_DEFAULT);
}

struct sq_stmt {
    struct kiln_stmt base;
    sqlite3_stmt *st;
    struct kiln_db *db;
    char *sql; /* owned copy (cached entries) */
    uint64_t hash;
    uint64_t used; /* LRU clock */
    int in_use;
    int cached;
};

struct kiln_db {
    sqlite3 *h;
    struct sq_stmt *cache[STMT_CACHE];
    size_t ncache;
    uint64_t clock;
    struct kiln_db *next_free;
};

struct kiln_store_backend {
    char *path;
    int memory;
    struct kiln_db *writer;
    pthread_mutex_t writer_lock;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct kiln_db *free_readers;
    int nreaders, max_readers;
    struct kiln_db **all_readers;
    /* Background checkpointer (file stores): see checkpointer() below. */
    pthread_t ckpt_thread;
    int ckpt_running;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    int ckpt_pending, ckpt_stop; /* guarded by ckpt_lock */
    int ckpt_pages;              /* ckpt_pages_setting when opened */
    atomic_int wal_frames;       /* frames in the WAL after the last commit (wal_hook) */
};

static int map_rc(int src, sqlite3 *h, const char *what, struct kiln_err *err)
{
    const char *msg = h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(src);
    int rc;
    switch (src & 0xff) {
    case SQLITE_CONSTRAINT:
        rc = (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY) ? KILN_EEXIST
                                                                                      : KILN_EINVAL;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        rc = KILN_EUNAVAIL;
        break;
    case SQLITE_NOMEM:
        rc = KILN_ENOMEM;
        break;
    case SQLITE_TOOBIG:
        rc = KILN_ETOOBIG;
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        rc = KILN_EPERM;
        break;
    default:
        rc = KILN_EIO;
    }
    return kiln_err_set(err, rc, "store: %s: %s", what, msg);
}

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void stmt_destroy(struct sq_stmt *s)
{
    sqlite3_finalize(s->st);
    kiln_free(s->sql);
    kiln_free(s);
}

static void db_close(struct kiln_db *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < db->ncache; i++)
        stmt_destroy(db->cache[i]);
    sqlite3_close_v2(db->h);
    kiln_free(db);
}

static int db_open(const char *path, struct kiln_db **out, struct kiln_err *err)
{
    static const char pragmas[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                  "PRAGMA foreign_keys=ON; PRAGMA case_sensitive_like=ON; "
                                  "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-8000";
    struct kiln_db *db = kiln_calloc(1, sizeof(*db));
    char *emsg = NULL;
    int src;

    if (db == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    src = sqlite3_open_v2(path, &db->h,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          kiln_walbuf_vfs());
    if (src != SQLITE_OK) {
        int rc = map_rc(src, db->h, path, err);
        kiln_err_set(err, rc, "cannot open store '%s': %s", path,
                     db->h != NULL ? sqlite3_errmsg(db->h) : sqlite3_errstr(src));
        db_close(db);
        return rc;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, 10000);
    src = sqlite3_exec(db->h, pragmas, NULL, NULL, &emsg);
    if (src != SQLITE_OK) {
        int rc = kiln_err_set(err, KILN_EIO, "cannot configure store '%s': %s", path,
                              emsg != NULL ? emsg : sqlite3_errstr(src));
        sqlite3_free(emsg);
        db_close(db);
        return rc;
    }
    *out = db;
    return KILN_OK;
}

/* Runs on the writer's thread after each commit: wakes the checkpointer when due. */
static int wal_hook(void *arg, sqlite3 *h, const char *db, int pages)
{
    struct kiln_store_backend *b = arg;
    (void)h;
    (void)db;
    atomic_store(&b->wal_frames, pages);
    if (pages >= b->ckpt_pages) {
        pthread_mutex_lock(&b->ckpt_lock);
        b->ckpt_pending = 1;
        pthread_cond_signal(&b->ckpt_cond);
        pthread_mutex_unlock(&b->ckpt_lock);
    }
    return SQLITE_OK;
}

/*
 * One checkpoint. Copying runs while writers go on; but SQLite restarts the WAL from its
 * beginning only when a write transaction starts on a WAL copied to its very end, which
 * never happens under steady writes (each commit lands while the copy runs), so the WAL
 * would grow without bound. Hence, once the WAL is large: copy again until a pass finds
 * only a short tail (the previous pass nearly caught up), then copy that last tail with
 * writes held off. The next write transaction then starts on a fully copied WAL and
 * restarts it. (Before this, the WAL reached 4x ckpt_pages every cycle, each commit woke
 * the checkpointer for another fsync, and that thread took a third of a core.)
 *
 * What writers wait for is that last pass, and most of it is fsyncs: SQLite syncs the
 * database file only in a pass that reaches the end of the WAL, so that sync would flush
 * every page copied during the whole cycle (4-5 ms with writes held off, more while the disk
 * is busy). db_fd flushes them first, while writers go on, and one more pass shortens the
 * tail again; the held-off pass then syncs only what the tail dirtied (about 2 ms). The
 * extra fdatasync only makes copied pages durable sooner: SQLite's own ordering (WAL synced
 * before copying, database synced before the WAL restarts) is untouched.
 */
static void checkpoint(struct kiln_store_backend *b, struct kiln_db *db, int db_fd)
{
    int log = 0, done = 0, copied = -1, pages = b->ckpt_pages;
    for (int pass = 0;; pass++) {
        sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (log < pages)
            return; /* small: restarted by the writer when the WAL is quiet */
        if (copied >= 0 && log - copied <= pages / 64)
            break; /* this pass was short, so is what it left */
        if (pass + 1 >= CKPT_MAX_PASSES || log >= 4 * pages)
            break; /* writers outrun the copy: hold them off for the rest */
        copied = done;
    }
    if (db_fd >= 0 && fdatasync(db_fd) == 0)
        sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&b->writer_lock);
    /* A write may have restarted the WAL since our last pass (a commit that found it fully
     * copied): then there is no tail to hold writers off for. */
    if (atomic_load(&b->wal_frames) >= pages)
        sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_unlock(&b->writer_lock);
}

static void *checkpointer(void *arg)
{
    struct kiln_store_backend *b = arg;
    struct kiln_db *db = NULL;
    struct kiln_err err = { 0 };
    int db_fd;

    if (db_open(b->path, &db, &err) != KILN_OK) {
        kiln_log_error("store: checkpointer disabled: %s", err.msg);
        return NULL;
    }
    db_fd = open(b->path, O_RDONLY | O_CLOEXEC); /* see checkpoint(); -1: go without */
    pthread_mutex_lock(&b->ckpt_lock);
    while (!b->ckpt_stop) {
        if (!b->ckpt_pending) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1; /* also checkpoint a quiet WAL now and then */
            pthread_cond_timedwait(&b->ckpt_cond, &b->ckpt_lock, &until);
            if (b->ckpt_stop)
                break;
        }
        b->ckpt_pending = 0;
        pthread_mutex_unlock(&b->ckpt_lock);
        checkpoint(b, db, db_fd);
        pthread_mutex_lock(&b->ckpt_lock);
    }
    pthread_mutex_unlock(&b->ckpt_lock);
    if (db_fd >= 0)
        close(db_fd);
    db_close(db);
    return NULL;
}

static void sq_close(struct kiln_store_backend *b);

static int sq_open(const char *target, int readers, struct kiln_store_backend **out,
                   struct kiln_err *err)
{
    struct kiln_store_backend *b = kiln_calloc(1, sizeof(*b));
    int rc;

    if (b == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&b->writer_lock, NULL);
    pthread_mutex_init(&b->pool_lock, NULL);
    pthread_cond_init(&b->pool_cond, NULL);
    pthread_mutex_init(&b->ckpt_lock, NULL);
    pthread_cond_init(&b->ckpt_cond, NULL);
    b->memory = strcmp(target, ":memory:") == 0;
    b->max_readers = b->memory ? 0 : readers;
    b->ckpt_pages = atomic_load(&ckpt_pages_setting);
    b->path = kiln_strdup(target);
    b->all_readers = kiln_calloc((size_t)readers + 1, sizeof(*b->all_readers));
    if (b->path == NULL || b->all_readers == NULL) {
        sq_close(b);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (!b->memory) {
        /* Create the folder of the database file (./kiln-data on a fresh machine). */
        char dir[4096];
        const char *slash = strrchr(target, '/');
        if (slash != NULL && slash != target && (size_t)(slash - target) < sizeof(dir)) {
            memcpy(dir, target, (size_t)(slash - target));
            dir[slash - target] = '\0';
            rc = kiln_mkdirs(dir, 0755, err);
            if (rc != KILN_OK) {
                sq_close(b);
                return rc;
            }
        }
    }
    rc = db_open(target, &b->writer, err);
    if (rc != KILN_OK) {
        sq_close(b);
        return rc;
    }
    if (!b->memory) {
        sqlite3_wal_autocheckpoint(b->writer->h, 0);
        sqlite3_wal_hook(b->writer->h, wal_hook, b);
        /* The thread takes no signals: they belong to the program's own handling. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        b->ckpt_running = pthread_create(&b->ckpt_thread, NULL, checkpointer, b) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!b->ckpt_running) /* fall back to checkpoints in the committing thread */
            sqlite3_wal_autocheckpoint(b->writer->h, b->ckpt_pages);
    }
    *out = b;
    return KILN_OK;
}

static void sq_close(struct kiln_store_backend *b)
{
    if (b == NULL)
        return;
    if (b->ckpt_running) {
        pthread_mutex_lock(&b->ckpt_lock);
        b->ckpt_stop = 1;
        pthread_cond_signal(&b->ckpt_cond);
        pthread_mutex_unlock(&b->ckpt_lock);
        pthread_join(b->ckpt_thread, NULL);
    }
    for (int i = 0; i < b->nreaders; i++)
        db_close(b->all_readers[i]);
    if (b->writer != NULL) {
        /* Fold the WAL back into the main file so a stopped store is one file. */
        sqlite3_wal_checkpoint_v2(b->writer->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        db_close(b->writer);
    }
    pthread_mutex_destroy(&b->writer_lock);
    pthread_mutex_destroy(&b->pool_lock);
    pthread_cond_destroy(&b->pool_cond);
    pthread_mutex_destroy(&b->ckpt_lock);
    pthread_cond_destroy(&b->ckpt_cond);
    kiln_free(b->all_readers);
    kiln_free(b->path);
    kiln_free(b);
}

static int sq_acquire(struct kiln_store_backend *b, enum kiln_tx_mode mode, struct kiln_db **out,
                      struct kiln_err *err)
{
    int rc;
    if (mode == KILN_TX_WRITE || b->memory) {
        pthread_mutex_lock(&b->writer_lock);
        *out = b->writer;
        return KILN_OK;
    }
    pthread_mutex_lock(&b->pool_lock);
    for (;;) {
        if (b->free_readers != NULL) {
            *out = b->free_readers;
            b->free_readers = (*out)->next_free;
            pthread_mutex_unlock(&b->pool_lock);
            return KILN_OK;
        }
        if (b->nreaders < b->max_readers)
            break;
        pthread_cond_wait(&b->pool_cond, &b->pool_lock);
    }
    /* Reserve the slot, open outside the lock (opening takes a while). */
    b->all_readers[b->nreaders++] = NULL;
    pthread_mutex_unlock(&b->pool_lock);
    rc = db_open(b->path, out, err);
    pthread_mutex_lock(&b->pool_lock);
    for (int i = 0; i < b->nreaders; i++) {
        if (b->all_readers[i] == NULL) {
            if (rc == KILN_OK) {
                b->all_readers[i] = *out;
            } else {
                b->all_readers[i] = b->all_readers[--b->nreaders];
                pthread_cond_signal(&b->pool_cond);
            }
            break;
        }
    }
    pthread_mutex_unlock(&b->pool_lock);
    return rc;
}

static void sq_release(struct kiln_store_backend *b, struct kiln_db *db)
{
    if (db == b->writer) {
        pthread_mutex_unlock(&b->writer_lock);
        return;
    }
    pthread_mutex_lock(&b->pool_lock);
    db->next_free = b->free_readers;
    b->free_readers = db;
    pthread_cond_signal(&b->pool_cond);
    pthread_mutex_unlock(&b->pool_lock);
}

#define SQ(st) ((struct sq_stmt *)(void *)(st))

static int sq_prepare(struct kiln_db *db, const char *sql, struct kiln_stmt **out,
                      struct kiln_err *err);
static void sq_finish(struct kiln_stmt *st);

static int sq_exec(struct kiln_db *db, const char *sql, struct kiln_err *err)
{
    char *emsg = NULL;
    int src;
    if (strchr(sql, ';') == NULL) {
        /*
         * One statement: BEGIN, COMMIT, SAVEPOINT and RELEASE run for every write (several
         * per log-batch request, inside the serialised group commit), so they come from the
         * statement cache instead of being parsed again each time.
         */
        struct kiln_stmt *st;
        if (sq_prepare(db, sql, &st, NULL) == KILN_OK) {
            int rc;
            while ((src = sqlite3_step(SQ(st)->st)) == SQLITE_ROW)
                ;
            rc = src == SQLITE_DONE ? KILN_OK : map_rc(src, db->h, "exec", err);
            sq_finish(st);
            return rc;
        }
        /* Out of memory for the cache entry: a ROLLBACK must still run, so run it plainly. */
    }
    src = sqlite3_exec(db->h, sql, NULL, NULL, &emsg);
    if (src != SQLITE_OK) {
        int rc = map_rc(src, db->h, "exec", err);
        if (emsg != NULL)
            kiln_err_set(err, rc, "store: %s", emsg);
        sqlite3_free(emsg);
        return rc;
    }
    return KILN_OK;
}

static const struct kiln_store_ops *self_ops(void);

static int new_stmt(struct kiln_db *db, const char *sql, uint64_t hash, int cached,
                    struct sq_stmt **out, struct kiln_err *err)
{
    struct sq_stmt *s = kiln_calloc(1, sizeof(*s));
    int src;
    if (s == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    src = sqlite3_prepare_v3(db->h, sql, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &s->st, NULL);
    if (src != SQLITE_OK) {
        int rc = map_rc(src, db->h, "prepare", err);
        kiln_free(s);
        return rc;
    }
    if (cached) {
        s->sql = kiln_strdup(sql);
        if (s->sql == NULL) {
            sqlite3_finalize(s->st);
            kiln_free(s);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    s->base.ops = self_ops();
    s->db = db;
    s->hash = hash;
    s->cached = cached;
    *out = s;
    return KILN_OK;
}

static int sq_prepare(struct kiln_db *db, const char *sql, struct kiln_stmt **out,
                      struct kiln_err *err)
{
    uint64_t h = hash_sql(sql);
    struct sq_stmt *s = NULL;
    size_t victim = STMT_CACHE;
    int in_use_match = 0, rc;

    for (size_t i = 0; i < db->ncache; i++) {
        struct sq_stmt *c = db->cache[i];
        if (c->hash == h && strcmp(c->sql, sql) == 0) {
            if (!c->in_use) {
                s = c;
                break;
            }
            in_use_match = 1;
        }
        if (!c->in_use && (victim == STMT_CACHE || c->used < db->cache[victim]->used))
            victim = i;
    }
    if (s == NULL) {
        int cache_it = !in_use_match && (db->ncache < STMT_CACHE || victim != STMT_CACHE);
        rc = new_stmt(db, sql, h, cache_it, &s, err);
        if (rc != KILN_OK)
            return rc;
        if (cache_it) {
            if (db->ncache < STMT_CACHE) {
                db->cache[db->ncache++] = s;
            } else {
                stmt_destroy(db->cache[victim]);
                db->cache[victim] = s;
            }
        }
    }
    s->in_use = 1;
    s->used = ++db->clock;
    *out = &s->base;
    return KILN_OK;
}

static int bind_rc(struct kiln_stmt *st, int src)
{
    if (src == SQLITE_OK)
        return KILN_OK;
    return src == SQLITE_NOMEM ? KILN_ENOMEM : (src == SQLITE_TOOBIG ? KILN_ETOOBIG : KILN_EINVAL);
    (void)st;
}

static int sq_bind_int64(struct kiln_stmt *st, int idx, int64_t v)
{
    return bind_rc(st, sqlite3_bind_int64(SQ(st)->st, idx, v));
}

static int sq_bind_double(struct kiln_stmt *st, int idx, double v)
{
    return bind_rc(st, sqlite3_bind_double(SQ(st)->st, idx, v));
}

static int sq_bind_text(struct kiln_stmt *st, int idx, const char *s, size_t len)
{
    return bind_rc(st, sqlite3_bind_text64(SQ(st)->st, idx, s, len, SQLITE_TRANSIENT, SQLITE_UTF8));
}

static int sq_bind_blob(struct kiln_stmt *st, int idx, const void *p, size_t len)
{
    return bind_rc(st, sqlite3_bind_blob64(SQ(st)->st, idx, p, len, SQLITE_TRANSIENT));
}

static int sq_bind_null(struct kiln_stmt *st, int idx)
{
    return bind_rc(st, sqlite3_bind_null(SQ(st)->st, idx));
}

static int sq_step(struct kiln_stmt *st, struct kiln_err *err)
{
    int src = sqlite3_step(SQ(st)->st);
    if (src == SQLITE_ROW)
        return KILN_STMT_ROW;
    if (src == SQLITE_DONE)
        return KILN_STMT_DONE;
    return map_rc(src, SQ(st)->db->h, "step", err);
}

static int64_t sq_col_int64(struct kiln_stmt *st, int col)
{
    return sqlite3_column_int64(SQ(st)->st, col);
}

static double sq_col_double(struct kiln_stmt *st, int col)
{
    return sqlite3_column_double(SQ(st)->st, col);
}

static const char *sq_col_text(struct kiln_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(SQ(st)->st, col);
}

static size_t sq_col_bytes(struct kiln_stmt *st, int col)
{
    return (size_t)sqlite3_column_bytes(SQ(st)->st, col);
}

static const void *sq_col_blob(struct kiln_stmt *st, int col)
{
    return sqlite3_column_blob(SQ(st)->st, col);
}

static int sq_col_is_null(struct kiln_stmt *st, int col)
{
    return sqlite3_column_type(SQ(st)->st, col) == SQLITE_NULL;
}

static void sq_reset(struct kiln_stmt *st)
{
    sqlite3_reset(SQ(st)->st);
    sqlite3_clear_bindings(SQ(st)->st);
}

static void sq_finish(struct kiln_stmt *st)
{
    struct sq_stmt *s = SQ(st);
    if (!s->cached) {
        stmt_destroy(s);
        return;
    }
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    s->in_use = 0;
}

static int64_t sq_changes(struct kiln_db *db)
{
    return sqlite3_changes64(db->h);
}

static int sq_integrity_check(struct kiln_db *db, struct kiln_err *err)
{
    sqlite3_stmt *st;
    int src = sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL);
    int rc = KILN_OK;
    if (src != SQLITE_OK)
        return map_rc(src, db->h, "integrity_check", err);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = map_rc(sqlite3_errcode(db->h), db->h, "integrity_check", err);
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        rc = kiln_err_set(err, KILN_EIO, "store integrity check failed: %s",
                          (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc;
}

const struct kiln_store_ops kiln_store_sqlite_ops = {
    .name = "sqlite",
    .dialect = KILN_DIALECT_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .acquire = sq_acquire,
    .release = sq_release,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_int64 = sq_col_int64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .col_bytes = sq_col_bytes,
    .col_blob = sq_col_blob,
    .col_is_null = sq_col_is_null,
    .reset = sq_reset,
    .finish = sq_finish,
    .changes = sq_changes,
    .integrity_check = sq_integrity_check,
    .begin_read_sql = "BEGIN",
    .begin_write_sql = "BEGIN IMMEDIATE",
};

static const struct kiln_store_ops *self_ops(void)
{
    return &kiln_store_sqlite_ops;
}

/*
 * metric_stage.c - metric writes through a staging table (tracking_int.h, tracking.h).
 *
 * A logged metric (one without a model_id) is first appended to metric_stage inside the
 * logging request's own transaction: acknowledged means durable, kill -9 included. The stage
 * is clustered by (run_uuid, seq), seq numbering each run's rows in arrival order, so a
 * request's rows go to one leaf. Staged rows are moved into the metric history (`metrics`)
 * and the latest values (`latest_metrics`) later, in slices:
 *
 *   - once the stage holds BACKLOG_ROWS rows (counted in this process), each write that
 *     stages metrics applies the next SLICE_ROWS rows in (run_uuid, seq) order after a
 *     cursor, and moves the cursor on (back to the start after the last row): a round robin
 *     over the runs, each getting a prefix of its rows in arrival order;
 *   - when a slice finds fewer than SPARSE_ROWS_PER_RUN rows per run (many runs logging a
 *     little each, e.g. one metric per run), waiting batches nothing: the backlog kept
 *     shrinks to one slice until a slice finds dense rows again, so the next read has
 *     little to apply (the first search after 100,000 one-metric runs: 59 -> 20 ms);
 *   - a slice inserts its rows into the history sorted by the history's key, upserts each
 *     key's greatest (step, timestamp, value) into latest_metrics and deletes them from the
 *     stage, all in the write's transaction (undone with it if it fails).
 *
 * Why: written one request at a time, ten metrics dirty ten history leaves (the history is
 * clustered by run and key), ten latest_metrics rows and their value index; with 8 clients
 * that was most of the server's CPU and ~94 KiB of WAL per request (bench/RESULTS.md). The
 * backlog is kept deep on purpose: a run's rows wait for a whole round, so a slice applies
 * tens of rows per key, dirtying each leaf once instead of once per request, while staying
 * short (about a millisecond; applying a whole backlog at once held every writer for 10-15
 * ms). The row count and the cursor are hints, resynchronised at every wrap: every staged
 * row is applied by some slice or by the next read.
 *
 * Readers see the same data as before through kiln_metrics_begin_read: when anything is
 * staged it first applies all of it (one write), so a read started after a log request was
 * acknowledged always sees its metrics. Semantics are those of run_log.c: exact duplicates
 * are dropped by the history's primary key and the latest value is the greatest
 * (step, timestamp, value); among equal ones the first logged stays (seq breaks the tie).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "tracking/tracking_int.h"

/* Staged rows kept waiting (depth of the backlog), and rows a slice applies (its length). */
#define BACKLOG_ROWS 2048
#define SLICE_ROWS 256
/* A slice with fewer rows per run than this is sparse: the backlog then shrinks to one slice. */
#define SPARSE_ROWS_PER_RUN 4
#define KILN_STR(x) KILN_STR_(x)
#define KILN_STR_(x) #x

#define STAGE_COLUMNS \
    "run_uuid, seq, key, value, timestamp, step, is_nan, dataset_name, dataset_digest"
#define ROW9 "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define CHUNK 10
#define SQL_STAGE_BASE "SELECT coalesce(max(seq), 0) FROM metric_stage WHERE run_uuid = ?"
#define SQL_STAGE_ONE "INSERT INTO metric_stage (" STAGE_COLUMNS ") VALUES " ROW9
#define SQL_STAGE_CHUNK                                                                       \
    "INSERT INTO metric_stage (" STAGE_COLUMNS ") VALUES " ROW9 ", " ROW9 ", " ROW9 ", " ROW9 \
    ", " ROW9 ", " ROW9 ", " ROW9 ", " ROW9 ", " ROW9 ", " ROW9

/*
 * The rows of a slice: (run_uuid, seq) in ((?1, ?2), (?3, ?4)], a range of the stage's key;
 * ?3 NULL: to the end of the stage (the bound stays a constant, so both ends use the key).
 */
#define SLICE_WHERE                                             \
    "(run_uuid, seq) > (?1, ?2) AND (run_uuid, seq) <= "        \
    "(coalesce(?3, (SELECT max(run_uuid) FROM metric_stage)), " \
    "coalesce(?4, 9223372036854775807))"
#define SQL_APPLY_HISTORY                                                                  \
    "INSERT INTO metrics (run_uuid, key, value, timestamp, step, is_nan, model_id, "       \
    "dataset_name, dataset_digest) SELECT run_uuid, key, value, timestamp, step, is_nan, " \
    "NULL, dataset_name, dataset_digest FROM metric_stage WHERE " SLICE_WHERE              \
    " ORDER BY run_uuid, key, timestamp, step, value, is_nan ON CONFLICT DO NOTHING"
#define SQL_APPLY_LATEST                                                                           \
    "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) "                  \
    "SELECT run_uuid, key, value, timestamp, step, is_nan FROM (SELECT run_uuid, key, "            \
    "value, timestamp, step, is_nan, row_number() OVER (PARTITION BY run_uuid, key ORDER BY "      \
    "step DESC, timestamp DESC, value DESC, seq ASC) AS pick FROM metric_stage WHERE " SLICE_WHERE \
    ") WHERE pick = 1 ORDER BY run_uuid, key "                                                     \
    "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, "                           \
    "timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan "              \
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "                                 \
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
#define SQL_APPLY_DELETE "DELETE FROM metric_stage WHERE " SLICE_WHERE
#define SQL_SLICE_RUNS "SELECT count(DISTINCT run_uuid) FROM metric_stage WHERE " SLICE_WHERE
/* Where a slice starting after (?1, ?2) ends; no row: it runs to the end of the stage. */
#define SQL_SLICE_END                                                                 \
    "SELECT run_uuid, seq FROM metric_stage WHERE (run_uuid, seq) > (?, ?) ORDER BY " \
    "run_uuid, seq LIMIT 1 OFFSET " KILN_STR(SLICE_ROWS - 1)
#define SQL_COUNT "SELECT count(*) FROM metric_stage"
#define SQL_ANY "SELECT EXISTS (SELECT 1 FROM metric_stage)"

/* Longest run id the cursor keeps (kiln's are 32 hex digits); at a longer one the slice
 * runs to the end of the stage instead. */
#define RUN_ID_MAX 64

/* A position in the stage's key order; ("", 0) is before every row. As an upper bound,
 * ("", 0) means the end of the stage. */
struct stage_pos {
    char run[RUN_ID_MAX + 1];
    int64_t seq;
};

/* Process-wide hints (see the header comment); the cursor under its lock. */
static atomic_long backlog_rows;
static atomic_long backlog_limit = BACKLOG_ROWS;
static pthread_mutex_t cursor_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stage_pos cursor;

static void bind_row(struct kiln_stmt *st, int base, const char *run_id, int64_t seq,
                     const struct kiln_metric *m)
{
    int is_nan = isnan(m->value) ? 1 : 0;
    kiln_stmt_bind_text(st, base + 1, run_id);
    kiln_stmt_bind_int64(st, base + 2, seq);
    kiln_stmt_bind_text(st, base + 3, m->key);
    kiln_stmt_bind_double(st, base + 4, is_nan ? 0.0 : m->value);
    kiln_stmt_bind_int64(st, base + 5, m->timestamp);
    kiln_stmt_bind_int64(st, base + 6, m->step);
    kiln_stmt_bind_int64(st, base + 7, is_nan);
    kiln_stmt_bind_text(st, base + 8, m->dataset_name);
    kiln_stmt_bind_text(st, base + 9, m->dataset_digest);
}

/* Runs a one-integer query (optional text parameter `arg`) into *v. */
static int query_int(struct kiln_tx *tx, const char *sql, const char *arg, int64_t *v,
                     struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        return rc;
    if (arg != NULL)
        kiln_stmt_bind_text(st, 1, arg);
    rc = kiln_stmt_step(st, err);
    *v = rc == KILN_STMT_ROW ? kiln_stmt_int64(st, 0) : 0;
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int trk_stage_metrics(struct kiln_tx *tx, const char *run_id, const struct kiln_metric *m, size_t n,
                      struct kiln_err *err)
{
    struct kiln_stmt *chunk = NULL, *one = NULL;
    size_t i = 0;
    int64_t seq; /* the run's last staged seq (0 when none is staged) */
    int rc = query_int(tx, SQL_STAGE_BASE, run_id, &seq, err);

    while (rc == KILN_OK && i < n) {
        struct kiln_stmt **st = n - i >= CHUNK ? &chunk : &one;
        size_t rows = n - i >= CHUNK ? CHUNK : 1;
        if (*st == NULL)
            rc = kiln_tx_prepare(tx, rows == CHUNK ? SQL_STAGE_CHUNK : SQL_STAGE_ONE, st, err);
        if (rc != KILN_OK)
            break;
        kiln_stmt_reset(*st);
        for (size_t k = 0; k < rows; k++)
            bind_row(*st, 9 * (int)k, run_id, ++seq, &m[i + k]);
        rc = kiln_stmt_step(*st, err);
        rc = rc < 0 ? rc : KILN_OK;
        i += rows;
    }
    kiln_stmt_finish(chunk);
    kiln_stmt_finish(one);
    return rc;
}

/* Runs one statement over the staged rows in (lo, hi] (SLICE_WHERE); *first: its first
 * column's first value (0 without a row), when not NULL. */
static int slice_exec(struct kiln_tx *tx, const char *sql, const struct stage_pos *lo,
                      const struct stage_pos *hi, int64_t *first, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int open_end = hi->run[0] == '\0';
    int rc = kiln_tx_prepare(tx, sql, &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, lo->run);
    kiln_stmt_bind_int64(st, 2, lo->seq);
    kiln_stmt_bind_text(st, 3, open_end ? NULL : hi->run);
    if (open_end)
        kiln_stmt_bind_null(st, 4);
    else
        kiln_stmt_bind_int64(st, 4, hi->seq);
    rc = kiln_stmt_step(st, err);
    if (first != NULL)
        *first = rc == KILN_STMT_ROW ? kiln_stmt_int64(st, 0) : 0;
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

/* Applies the staged rows in (lo, hi] of the stage's key order; OUT: how many. */
static int apply(struct kiln_tx *tx, const struct stage_pos *lo, const struct stage_pos *hi,
                 int64_t *applied /* OUT */, struct kiln_err *err)
{
    static const char *const sql[] = { SQL_APPLY_HISTORY, SQL_APPLY_LATEST, SQL_APPLY_DELETE };
    int rc = KILN_OK;

    for (size_t i = 0; rc == KILN_OK && i < sizeof(sql) / sizeof(sql[0]); i++)
        rc = slice_exec(tx, sql[i], lo, hi, NULL, err);
    *applied = rc == KILN_OK ? kiln_tx_changes(tx) : 0; /* the DELETE's */
    return rc;
}

/* Copies a run id into a position; 0 when it is too long to keep. */
static int pos_set(struct stage_pos *p, const char *run, int64_t seq)
{
    size_t len = run != NULL ? strlen(run) : 0;
    if (len > RUN_ID_MAX)
        return 0;
    memcpy(p->run, run != NULL ? run : "", len + 1);
    p->seq = seq;
    return 1;
}

/* Finds where the slice after `from` ends: *hi, or the stage's end (("", 0)) when fewer
 * rows are left or the end row's run id is too long to keep. */
static int slice_end(struct kiln_tx *tx, const struct stage_pos *from, struct stage_pos *hi,
                     struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx, SQL_SLICE_END, &st, err);

    pos_set(hi, "", 0);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, from->run);
    kiln_stmt_bind_int64(st, 2, from->seq);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW && !pos_set(hi, kiln_stmt_text(st, 0), kiln_stmt_int64(st, 1)))
        pos_set(hi, "", 0);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int trk_stage_maintain(struct kiln_tx *tx, size_t staged, struct kiln_err *err)
{
    struct stage_pos from, hi;
    int64_t applied, runs = 0, left = 0;
    int rc;

    if (atomic_fetch_add(&backlog_rows, (long)staged) + (long)staged < atomic_load(&backlog_limit))
        return KILN_OK;
    pthread_mutex_lock(&cursor_lock);
    from = cursor;
    pthread_mutex_unlock(&cursor_lock);
    rc = slice_end(tx, &from, &hi, err);
    if (rc == KILN_OK)
        rc = slice_exec(tx, SQL_SLICE_RUNS, &from, &hi, &runs, err);
    if (rc == KILN_OK)
        rc = apply(tx, &from, &hi, &applied, err);
    if (rc == KILN_OK && hi.run[0] == '\0') /* wrapped: resynchronise the count */
        rc = query_int(tx, SQL_COUNT, NULL, &left, err);
    if (rc != KILN_OK)
        return rc;
    if (hi.run[0] == '\0')
        atomic_store(&backlog_rows, (long)left);
    else
        atomic_fetch_sub(&backlog_rows, (long)applied);
    /* Few rows per run: waiting batches nothing, it only makes the next read's apply longer.
     * (An empty slice, at the end of the stage, says nothing either way.) */
    if (runs > 0)
        atomic_store(&backlog_limit,
                     applied >= SPARSE_ROWS_PER_RUN * runs ? BACKLOG_ROWS : SLICE_ROWS);
    /* The cursor moves even if the write is later undone: its rows are then simply still
     * staged, to be applied on the next round or by the next read. After the end it
     * starts over: ("", 0) is both. */
    pthread_mutex_lock(&cursor_lock);
    cursor = hi;
    pthread_mutex_unlock(&cursor_lock);
    return KILN_OK;
}

static int settle_work(struct kiln_tx *tx, void *ctx, struct kiln_err *err)
{
    struct stage_pos everything;
    int64_t applied;
    int rc;

    (void)ctx;
    pos_set(&everything, "", 0);
    rc = apply(tx, &everything, &everything, &applied, err);
    if (rc == KILN_OK)
        atomic_store(&backlog_rows, 0);
    return rc;
}

int kiln_metrics_settle(struct kiln_store *store, struct kiln_err *err)
{
    return kiln_store_write(store, settle_work, NULL, err);
}

int kiln_metrics_begin_read(struct kiln_store *store, struct kiln_tx **out, struct kiln_err *err)
{
    int64_t staged;
    int rc = kiln_store_begin(store, KILN_TX_READ, out, err);
    if (rc != KILN_OK)
        return rc;
    rc = query_int(*out, SQL_ANY, NULL, &staged, err);
    if (rc == KILN_OK && !staged)
        return KILN_OK;
    kiln_store_rollback(*out);
    *out = NULL;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_metrics_settle(store, err);
    if (rc == KILN_OK)
        rc = kiln_store_begin(store, KILN_TX_READ, out, err);
    return rc;
}

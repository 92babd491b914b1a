/*
 * batch.c - batch scoring over a ring of row blocks (see batch.h for the contract).
 *
 * Block life: FREE -> (reader fills) FILLED -> (a worker predicts + formats) BUSY -> DONE ->
 * (the writer hands it to the sink, in sequence order) FREE. Block `seq` always lives in ring
 * slot seq % K, and the reader refills a slot only once it is FREE again, so the writer finds
 * blocks in order at next_write % K and at most K blocks exist at any time.
 *
 * Threads: the caller's thread reads; `workers` threads predict. Whoever completes the block
 * the writer is waiting for becomes the writer (r->writing) and drains every completed block
 * in order, releasing the lock around each sink call. r->mu guards every block's state and
 * seq, next_write, writing, the counters and the first error; block contents belong to the
 * thread that moved the block into its current state.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/time.h"
#include "serve/batch.h"
#include "serve/parse_int.h"

#define DEFAULT_BLOCK_ROWS 4096
#define MAX_WORKERS 256

enum bstate { B_FREE, B_FILLED, B_BUSY, B_DONE };

struct block {
    enum bstate state;
    uint64_t seq;
    struct kiln_batch_block pub;
    double *x, *target;
    int32_t *label;
    double *proba, *value;
    size_t *keep_off;
    struct kiln_buf keep, text;
};

struct run {
    const struct kiln_rt_model *m;
    const struct kiln_batch_opts *o;
    struct kiln_serve_schema *sc;
    struct kiln_table_reader *in;
    size_t F, rows_cap, K;
    long *map;      /* input column -> model input (-1: unused) */
    long *keep_col; /* kept column indices */
    long target_col;
    size_t *unmapped; /* model inputs absent from the file (missing values) */
    size_t n_unmapped;
    struct block *blocks;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next_write, n_blocks, rows_done;
    int reader_done, writing, rc;
    struct kiln_err err;
    atomic_uint_fast64_t bytes, total;
};

/* Records the first error (called with r->mu held). */
static void fail_locked(struct run *r, int rc, const struct kiln_err *e)
{
    if (r->rc == KILN_OK) {
        r->rc = rc;
        r->err = *e;
        r->err.rc = rc;
    }
    pthread_cond_broadcast(&r->cv);
}

static int block_init(struct run *r, struct block *b)
{
    size_t n = r->rows_cap, C = kiln_rt_n_classes(r->m), V = kiln_rt_n_outputs(r->m);
    b->x = kiln_malloc(n * (r->F > 0 ? r->F : 1) * sizeof(double));
    b->target = r->target_col >= 0 ? kiln_malloc(n * sizeof(double)) : NULL;
    b->keep_off = kiln_malloc((n + 1) * sizeof(size_t));
    if (C > 0) {
        b->label = kiln_malloc(n * sizeof(int32_t));
        b->proba = kiln_malloc(n * C * sizeof(double));
    } else {
        b->value = kiln_malloc(n * (V > 0 ? V : 1) * sizeof(double));
    }
    kiln_buf_init(&b->keep, (size_t)1 << 30);
    kiln_buf_init(&b->text, (size_t)1 << 30);
    if (b->x == NULL || b->keep_off == NULL || (r->target_col >= 0 && b->target == NULL) ||
        (C > 0 && (b->label == NULL || b->proba == NULL)) || (C == 0 && b->value == NULL))
        return KILN_ENOMEM;
    return KILN_OK;
}

static void block_release(struct block *b)
{
    kiln_free(b->x);
    kiln_free(b->target);
    kiln_free(b->keep_off);
    kiln_free(b->label);
    kiln_free(b->proba);
    kiln_free(b->value);
    kiln_buf_release(&b->keep);
    kiln_buf_release(&b->text);
}

/* Converts one row of cells into row `i` of block b (reader thread). */
static int fill_row(struct run *r, struct block *b, size_t i, const struct kiln_cell *cells,
                    struct kiln_err *err)
{
    const struct kiln_batch_opts *o = r->o;
    size_t ncols = kiln_table_reader_ncols(r->in);
    double *row = b->x + i * r->F;
    struct loc l = { "", -1, -1, NULL, 0 };
    struct kiln_err e = { 0 };
    size_t c;
    int rc = KILN_OK;

    for (size_t k = 0; k < r->n_unmapped; k++)
        row[r->unmapped[k]] = NAN;
    for (c = 0; c < ncols && rc == KILN_OK; c++) {
        if (r->map[c] < 0)
            continue;
        rc = cell_text(r->sc, (size_t)r->map[c], cells[c].p, cells[c].len,
                       (cells[c].flags & KILN_CELL_MISSING) != 0, &row[r->map[c]], &l, &e);
    }
    if (rc == KILN_OK && r->target_col >= 0) {
        const struct kiln_cell *t = &cells[r->target_col];
        c = (size_t)r->target_col + 1;
        rc = o->target_fn(o->ctx, t->p, t->len, (t->flags & KILN_CELL_MISSING) != 0, &b->target[i],
                          &e);
    }
    if (rc != KILN_OK) {
        /* cell_text's messages start with ": " (an empty location); target_fn's do not. */
        const char *msg = strncmp(e.msg, ": ", 2) == 0 ? e.msg + 2 : e.msg;
        return kiln_err_set(err, rc, "%s: line %llu, column '%s': %s",
                            kiln_table_reader_name(r->in),
                            (unsigned long long)kiln_table_reader_line(r->in),
                            kiln_table_reader_colname(r->in, c - 1), msg);
    }
    b->keep_off[i] = b->keep.len;
    for (size_t k = 0; k < o->n_keep; k++) {
        const struct kiln_cell *t = &cells[r->keep_col[k]];
        rc = o->keep_fn(o->ctx, &b->keep, k, t->p, t->len, (t->flags & KILN_CELL_MISSING) != 0);
        if (rc != KILN_OK)
            return kiln_err_set(err, rc, "out of memory copying kept columns");
    }
    b->keep_off[i + 1] = b->keep.len;
    return KILN_OK;
}

/* Reads up to rows_cap rows into b; *eof at the end of the data. */
static int fill(struct run *r, struct block *b, int *eof, struct kiln_err *err)
{
    const struct kiln_cell *cells;
    size_t n = 0;
    int rc = KILN_OK;
    kiln_buf_reset(&b->keep);
    b->keep_off[0] = 0;
    *eof = 0;
    while (n < r->rows_cap) {
        rc = kiln_table_reader_next(r->in, &cells, err);
        if (rc == 0) {
            *eof = 1;
            rc = KILN_OK;
            break;
        }
        if (rc < 0)
            break;
        rc = fill_row(r, b, n, cells, err);
        if (rc != KILN_OK)
            break;
        n++;
    }
    b->pub.n = n;
    b->pub.keep = b->keep.buf;
    return rc;
}

/* Hands every completed block, in order, to the sink (called and returns with r->mu held). */
static void drain(struct run *r)
{
    if (r->writing)
        return;
    r->writing = 1;
    while (r->rc == KILN_OK) {
        struct block *b = &r->blocks[r->next_write % r->K];
        struct kiln_err e = { 0 };
        int rc;
        if (b->state != B_DONE || b->seq != r->next_write)
            break;
        pthread_mutex_unlock(&r->mu);
        rc = r->o->sink(r->o->ctx, &b->pub, &e);
        pthread_mutex_lock(&r->mu);
        if (rc != KILN_OK) {
            fail_locked(r, rc, &e);
            break;
        }
        r->rows_done += b->pub.n;
        if (r->o->progress != NULL)
            r->o->progress(r->o->progress_ctx, r->rows_done, atomic_load(&r->bytes),
                           atomic_load(&r->total));
        b->state = B_FREE;
        r->next_write++;
        pthread_cond_broadcast(&r->cv);
    }
    r->writing = 0;
}

struct worker {
    struct run *r;
    pthread_t thread;
    int started;
    struct kiln_rt_ws *ws;
};

static struct block *next_filled(struct run *r)
{
    struct block *best = NULL;
    for (size_t i = 0; i < r->K; i++) {
        struct block *b = &r->blocks[i];
        if (b->state == B_FILLED && (best == NULL || b->seq < best->seq))
            best = b;
    }
    return best;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        struct block *b;
        struct kiln_err e = { 0 };
        int rc;
        if (r->rc != KILN_OK)
            break;
        b = next_filled(r);
        if (b == NULL) {
            if (r->reader_done)
                break;
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        b->state = B_BUSY;
        pthread_mutex_unlock(&r->mu);
        rc = kiln_rt_predict(r->m, w->ws, b->x, b->pub.n, &b->pub.out, &e);
        if (rc != KILN_OK) {
            char msg[KILN_ERR_MSG_MAX];
            snprintf(msg, sizeof(msg), "%s", e.msg);
            kiln_err_set(&e, rc, "%s: rows %llu to %llu: %s", kiln_table_reader_name(r->in),
                         (unsigned long long)b->pub.first_row + 1,
                         (unsigned long long)(b->pub.first_row + b->pub.n), msg);
        }
        kiln_buf_reset(&b->text);
        if (rc == KILN_OK && r->o->format != NULL)
            rc = r->o->format(r->o->ctx, &b->pub, &e);
        pthread_mutex_lock(&r->mu);
        if (rc != KILN_OK)
            fail_locked(r, rc, &e);
        b->state = B_DONE;
        drain(r);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void on_bytes(void *ctx, uint64_t done, uint64_t total)
{
    struct run *r = ctx;
    atomic_store(&r->bytes, done);
    atomic_store(&r->total, total);
}

/* Matches the file's columns to the model's inputs, the target and the kept columns. */
static int plan(struct run *r, struct kiln_err *err)
{
    const struct kiln_batch_opts *o = r->o;
    size_t ncols = kiln_table_reader_ncols(r->in);
    const char *file = kiln_table_reader_name(r->in);
    uint32_t *seen = kiln_calloc(r->F + 1, sizeof(*seen));
    struct loc l = { file, -1, -1, NULL, 0 };
    int rc;

    r->map = kiln_calloc(ncols + 1, sizeof(*r->map));
    r->keep_col = kiln_calloc(o->n_keep + 1, sizeof(*r->keep_col));
    r->unmapped = kiln_calloc(r->F + 1, sizeof(*r->unmapped));
    if (seen == NULL || r->map == NULL || r->keep_col == NULL || r->unmapped == NULL) {
        kiln_free(seen);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    r->target_col = -1;
    if (o->target_column != NULL) {
        r->target_col = kiln_table_reader_find(r->in, o->target_column);
        if (r->target_col < 0) {
            kiln_free(seen);
            return kiln_err_set(err, KILN_EINVAL, "%s: no target column '%s'", file,
                                o->target_column);
        }
    }
    for (size_t c = 0; c < ncols; c++) {
        const char *name = kiln_table_reader_colname(r->in, c);
        r->map[c] = (long)c == r->target_col ? -1 : sc_find(r->sc, name, strlen(name), c);
        if (r->map[c] >= 0)
            seen[r->map[c]] = 1;
    }
    for (size_t j = 0; j < r->F; j++)
        if (!seen[j])
            r->unmapped[r->n_unmapped++] = j;
    for (size_t k = 0; k < o->n_keep; k++) {
        r->keep_col[k] = kiln_table_reader_find(r->in, o->keep[k]);
        if (r->keep_col[k] < 0) {
            kiln_free(seen);
            return kiln_err_set(err, KILN_EINVAL, "%s: no column '%s' to keep", file, o->keep[k]);
        }
    }
    rc = rows_check_missing(r->sc, seen, 1, 1, &l, err);
    kiln_free(seen);
    return rc;
}

static int start_workers(struct run *r, struct worker *w, int n, struct kiln_err *err)
{
    for (int i = 0; i < n; i++) {
        w[i].r = r;
        w[i].ws = kiln_rt_ws_new(r->m);
        if (w[i].ws == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory for workspaces");
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
            return kiln_err_set(err, KILN_EIO, "cannot start a worker thread");
        w[i].started = 1;
    }
    return KILN_OK;
}

/* The reader loop: fills blocks in sequence until the end, an error or a failure elsewhere. */
static void read_all(struct run *r)
{
    for (uint64_t seq = 0;; seq++) {
        struct block *b = &r->blocks[seq % r->K];
        struct kiln_err e = { 0 };
        int eof = 0, rc;
        pthread_mutex_lock(&r->mu);
        while (b->state != B_FREE && r->rc == KILN_OK)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->rc != KILN_OK) {
            r->reader_done = 1;
            pthread_mutex_unlock(&r->mu);
            return;
        }
        pthread_mutex_unlock(&r->mu);
        b->pub.first_row = seq * r->rows_cap;
        rc = fill(r, b, &eof, &e);
        pthread_mutex_lock(&r->mu);
        if (rc != KILN_OK)
            fail_locked(r, rc, &e);
        b->seq = seq;
        if (rc == KILN_OK && b->pub.n > 0) {
            b->state = B_FILLED;
            r->n_blocks = seq + 1;
        }
        if (rc != KILN_OK || eof)
            r->reader_done = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (rc != KILN_OK || eof)
            return;
    }
}

static int workers_default(const struct kiln_batch_opts *o)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->workers > 0)
        return o->workers > MAX_WORKERS ? MAX_WORKERS : o->workers;
    return n > 0 ? (n > MAX_WORKERS ? MAX_WORKERS : (int)n) : 2;
}

int kiln_batch_run(const struct kiln_rt_model *m, struct kiln_table_reader *in,
                   const struct kiln_batch_opts *o, struct kiln_batch_stats *stats,
                   struct kiln_err *err)
{
    struct run r;
    struct worker *w = NULL;
    int nw = workers_default(o), rc;
    int64_t t0 = kiln_mono_ns();

    memset(&r, 0, sizeof(r));
    r.m = m;
    r.o = o;
    r.in = in;
    r.F = kiln_rt_n_inputs(m);
    r.rows_cap = o->block_rows > 0 ? o->block_rows : DEFAULT_BLOCK_ROWS;
    r.K = (size_t)nw * 2 + 2;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    atomic_init(&r.bytes, 0);
    atomic_init(&r.total, 0);
    rc = kiln_serve_schema_new(m, &r.sc, err);
    if (rc == KILN_OK)
        rc = plan(&r, err);
    if (rc == KILN_OK) {
        r.blocks = kiln_calloc(r.K, sizeof(*r.blocks));
        w = kiln_calloc((size_t)nw, sizeof(*w));
        if (r.blocks == NULL || w == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        for (size_t i = 0; rc == KILN_OK && i < r.K; i++) {
            if (block_init(&r, &r.blocks[i]) != KILN_OK)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory for %zu blocks of %zu rows", r.K,
                                  r.rows_cap);
        }
    }
    for (size_t i = 0; rc == KILN_OK && i < r.K; i++) {
        struct block *b = &r.blocks[i];
        b->pub.x = b->x;
        b->pub.out.label = b->label;
        b->pub.out.proba = b->proba;
        b->pub.out.value = b->value;
        b->pub.target = b->target;
        b->pub.keep_off = b->keep_off;
        b->pub.text = &b->text;
    }
    if (rc == KILN_OK) {
        kiln_table_reader_on_progress(in, on_bytes, &r);
        rc = start_workers(&r, w, nw, err);
        if (rc != KILN_OK) {
            pthread_mutex_lock(&r.mu);
            fail_locked(&r, rc, err);
            pthread_mutex_unlock(&r.mu);
        } else {
            read_all(&r);
        }
        pthread_mutex_lock(&r.mu);
        while (r.rc == KILN_OK && r.next_write < r.n_blocks)
            pthread_cond_wait(&r.cv, &r.mu);
        r.reader_done = 1;
        pthread_cond_broadcast(&r.cv);
        pthread_mutex_unlock(&r.mu);
        for (int i = 0; i < nw; i++)
            if (w[i].started)
                pthread_join(w[i].thread, NULL);
        kiln_table_reader_on_progress(in, NULL, NULL);
        if (r.rc != KILN_OK)
            rc = kiln_err_set(err, r.rc, "%s", r.err.msg);
    }
    for (int i = 0; w != NULL && i < nw; i++)
        kiln_rt_ws_free(w[i].ws);
    for (size_t i = 0; r.blocks != NULL && i < r.K; i++)
        block_release(&r.blocks[i]);
    if (stats != NULL) {
        stats->rows = r.rows_done;
        stats->seconds = (double)(kiln_mono_ns() - t0) / 1e9;
        stats->workers = nw;
    }
    kiln_free(r.blocks);
    kiln_free(w);
    kiln_free(r.map);
    kiln_free(r.keep_col);
    kiln_free(r.unmapped);
    kiln_serve_schema_free(r.sc);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return rc;
}

/*
 * profile.c - building profiles from a table reader (see profile.h).
 *
 * One pass over the rows; each cell goes to its column's summary. With two or more CPUs and
 * at least 4 columns the summaries are updated by one worker thread per CPU, each owning a
 * group of columns, while the calling thread tokenizes: rows are copied into a batch (cells and
 * their text) that the workers consume, so parsing and summarising overlap. Batches are
 * double-buffered and handed over under one mutex with two condition variables; each worker only
 * ever touches its own columns, so the summaries need no locking. The result is identical to a
 * serial build (every column sees its cells in file order).
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/time.h"
#include "quality/profile.h"

#define BATCH_ROWS 4096
#define MAX_WORKERS 8

void kiln_profile_free(struct kiln_profile *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ncols; i++)
        kiln_colsum_release(&p->cols[i]);
    kiln_free(p->cols);
    kiln_free(p->source);
    kiln_free(p->format);
    kiln_free(p);
}

long kiln_profile_find(const struct kiln_profile *p, const char *name)
{
    for (size_t i = 0; i < p->ncols; i++)
        if (strcmp(p->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

int kiln_profile_new(const char *const *names, size_t ncols, const struct kiln_profile_opts *o,
                     struct kiln_profile **out, struct kiln_err *err)
{
    struct kiln_profile *p = kiln_calloc(1, sizeof(*p));
    struct kiln_colsum_opts co = { 0, 0 };
    if (o != NULL)
        co = o->col;
    if (p == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    p->cols = kiln_calloc(ncols + 1, sizeof(*p->cols));
    p->format = kiln_strdup("csv");
    p->source = kiln_strdup("");
    if (p->cols == NULL || p->format == NULL || p->source == NULL) {
        kiln_profile_free(p);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    p->delimiter = ',';
    p->sketch_k = co.sketch_k ? co.sketch_k : 2048;
    p->max_values = co.max_values ? co.max_values : 1000;
    p->bins = o != NULL && o->bins ? o->bins : 10;
    p->created_ms = kiln_now_ms();
    for (size_t i = 0; i < ncols; i++) {
        if (kiln_colsum_init(&p->cols[i], names[i], &co) != KILN_OK) {
            kiln_profile_free(p);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        p->ncols++;
    }
    *out = p;
    return KILN_OK;
}

int kiln_profile_add_row(struct kiln_profile *p, const struct kiln_cell *cells)
{
    for (size_t i = 0; i < p->ncols; i++) {
        int rc = kiln_colsum_add(&p->cols[i], cells[i].p, cells[i].len, cells[i].flags);
        if (rc != KILN_OK)
            return rc;
    }
    p->rows++;
    return KILN_OK;
}

/*
 * A batch of rows: every cell's text copied into one block. While the batch fills, cells
 * hold offsets into `text` (which may move as it grows); publish() turns them into
 * pointers once the batch is complete.
 */
struct batch {
    size_t nrows;
    struct kiln_cell *cells; /* nrows * ncols */
    size_t *off;             /* text offset of each cell */
    char *text;
    size_t text_len, text_cap;
};

struct pool {
    struct kiln_profile *p;
    pthread_mutex_t mu;
    pthread_cond_t ready, done;
    struct batch b[2];
    int full[2];     /* batch i holds rows not yet consumed by every worker */
    uint64_t seq[2]; /* which batch (1, 2, ...) slot i holds */
    uint64_t published;
    int pending[2]; /* workers still to process batch i */
    int finished;   /* producer is done */
    int rc;         /* first worker error */
    size_t nworkers;
    struct worker {
        struct pool *pool;
        size_t c0, c1; /* columns [c0, c1) */
        pthread_t tid;
    } w[MAX_WORKERS];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *pl = w->pool;
    size_t ncols = pl->p->ncols;
    for (uint64_t next = 1;; next++) {
        int k = (int)((next - 1) % 2);
        struct batch *b = &pl->b[k];
        int rc = KILN_OK;
        pthread_mutex_lock(&pl->mu);
        /* Each worker takes every batch exactly once, in order. */
        while (!(pl->full[k] && pl->seq[k] == next) && !pl->finished)
            pthread_cond_wait(&pl->ready, &pl->mu);
        if (!(pl->full[k] && pl->seq[k] == next)) {
            pthread_mutex_unlock(&pl->mu);
            return NULL;
        }
        pthread_mutex_unlock(&pl->mu);
        for (size_t r = 0; r < b->nrows && rc == KILN_OK; r++) {
            const struct kiln_cell *cells = b->cells + r * ncols;
            for (size_t c = w->c0; c < w->c1 && rc == KILN_OK; c++)
                rc = kiln_colsum_add(&pl->p->cols[c], cells[c].p, cells[c].len, cells[c].flags);
        }
        pthread_mutex_lock(&pl->mu);
        if (rc != KILN_OK && pl->rc == KILN_OK)
            pl->rc = rc;
        if (--pl->pending[k] == 0) {
            pl->full[k] = 0;
            pthread_cond_broadcast(&pl->done);
        }
        pthread_mutex_unlock(&pl->mu);
    }
}

/* Copies a row into batch b (text appended, cells recorded by offset). */
static int batch_add(struct batch *b, size_t ncols, const struct kiln_cell *cells)
{
    size_t need = 0, base = b->nrows * ncols;
    for (size_t c = 0; c < ncols; c++)
        need += cells[c].len;
    if (b->text_len + need > b->text_cap) {
        size_t cap = b->text_cap ? b->text_cap : 1 << 20;
        char *t;
        while (cap < b->text_len + need)
            cap *= 2;
        t = kiln_realloc(b->text, cap);
        if (t == NULL)
            return KILN_ENOMEM;
        b->text = t;
        b->text_cap = cap;
    }
    for (size_t c = 0; c < ncols; c++) {
        b->off[base + c] = b->text_len;
        b->cells[base + c].len = cells[c].len;
        b->cells[base + c].flags = cells[c].flags;
        if (cells[c].len > 0)
            memcpy(b->text + b->text_len, cells[c].p, cells[c].len);
        b->text_len += cells[c].len;
    }
    b->nrows++;
    return KILN_OK;
}

/* Hands batch k to the workers and waits until batch k^1 is free. */
static int publish(struct pool *pl, int k)
{
    struct batch *b = &pl->b[k];
    int rc;
    for (size_t i = 0; i < b->nrows * pl->p->ncols; i++)
        b->cells[i].p = b->text + b->off[i];
    pthread_mutex_lock(&pl->mu);
    pl->full[k] = 1;
    pl->seq[k] = ++pl->published;
    pl->pending[k] = (int)pl->nworkers;
    pthread_cond_broadcast(&pl->ready);
    while (pl->full[k ^ 1])
        pthread_cond_wait(&pl->done, &pl->mu);
    rc = pl->rc;
    pthread_mutex_unlock(&pl->mu);
    pl->b[k ^ 1].nrows = 0;
    pl->b[k ^ 1].text_len = 0;
    return rc;
}

static int build_parallel(struct kiln_table_reader *r, struct kiln_profile *p, size_t nworkers,
                          struct kiln_err *err)
{
    struct pool pl;
    const struct kiln_cell *cells;
    size_t ncols = p->ncols, started = 0;
    int k = 0, rc = KILN_OK, got = 0;

    memset(&pl, 0, sizeof(pl));
    pl.p = p;
    pl.nworkers = nworkers;
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.ready, NULL);
    pthread_cond_init(&pl.done, NULL);
    for (int i = 0; i < 2; i++) {
        pl.b[i].cells = kiln_calloc(BATCH_ROWS * ncols, sizeof(struct kiln_cell));
        pl.b[i].off = kiln_calloc(BATCH_ROWS * ncols, sizeof(size_t));
        pl.b[i].text_cap = 1 << 20;
        pl.b[i].text = kiln_malloc(pl.b[i].text_cap);
        if (pl.b[i].cells == NULL || pl.b[i].off == NULL || pl.b[i].text == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nworkers && rc == KILN_OK; i++) {
        pl.w[i].pool = &pl;
        pl.w[i].c0 = ncols * i / nworkers;
        pl.w[i].c1 = ncols * (i + 1) / nworkers;
        if (pthread_create(&pl.w[i].tid, NULL, worker_main, &pl.w[i]) != 0)
            rc = kiln_err_set(err, KILN_EIO, "cannot start a profiling thread");
        else
            started++;
    }
    /* A failure to start a thread leaves the started ones to finish with no work. */
    pl.nworkers = started;
    while (rc == KILN_OK && (got = kiln_table_reader_next(r, &cells, err)) == 1) {
        rc = batch_add(&pl.b[k], ncols, cells);
        if (rc != KILN_OK) {
            kiln_err_set(err, rc, "out of memory");
            break;
        }
        p->rows++;
        if (pl.b[k].nrows == BATCH_ROWS) {
            rc = publish(&pl, k);
            k ^= 1;
        }
    }
    if (rc == KILN_OK && got < 0)
        rc = got;
    if (rc == KILN_OK && pl.b[k].nrows > 0) {
        rc = publish(&pl, k);
        k ^= 1;
    }
    pthread_mutex_lock(&pl.mu);
    while (pl.full[0] || pl.full[1])
        pthread_cond_wait(&pl.done, &pl.mu);
    pl.finished = 1;
    pthread_cond_broadcast(&pl.ready);
    if (rc == KILN_OK && pl.rc != KILN_OK)
        rc = kiln_err_set(err, pl.rc, "out of memory");
    pthread_mutex_unlock(&pl.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(pl.w[i].tid, NULL);
    for (int i = 0; i < 2; i++) {
        kiln_free(pl.b[i].cells);
        kiln_free(pl.b[i].off);
        kiln_free(pl.b[i].text);
    }
    pthread_cond_destroy(&pl.ready);
    pthread_cond_destroy(&pl.done);
    pthread_mutex_destroy(&pl.mu);
    return rc;
}

int kiln_profile_build(struct kiln_table_reader *r, const struct kiln_profile_opts *o,
                       struct kiln_profile **out, struct kiln_err *err)
{
    size_t ncols = kiln_table_reader_ncols(r);
    const char **names = kiln_calloc(ncols + 1, sizeof(*names));
    struct kiln_profile *p = NULL;
    const struct kiln_cell *cells;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int rc, got = 0;

    if (names == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < ncols; i++)
        names[i] = kiln_table_reader_colname(r, i);
    rc = kiln_profile_new(names, ncols, o, &p, err);
    kiln_free(names);
    if (rc != KILN_OK)
        return rc;
    kiln_free(p->source);
    kiln_free(p->format);
    p->source = kiln_strdup(kiln_table_reader_name(r));
    p->format = kiln_strdup(kiln_table_reader_format(r) == KILN_TABLE_JSONL ? "jsonl" : "csv");
    p->delimiter = kiln_table_reader_delimiter(r);
    if (p->source == NULL || p->format == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    if (cpus >= 2 && ncols >= 4) {
        size_t nw = (size_t)cpus;
        if (nw > MAX_WORKERS)
            nw = MAX_WORKERS;
        if (nw > ncols / 2)
            nw = ncols / 2;
        rc = build_parallel(r, p, nw, err);
    } else {
        while ((got = kiln_table_reader_next(r, &cells, err)) == 1) {
            rc = kiln_profile_add_row(p, cells);
            if (rc != KILN_OK) {
                kiln_err_set(err, rc, "out of memory");
                break;
            }
        }
        if (rc == KILN_OK && got < 0)
            rc = got;
    }
    p->bytes = kiln_table_reader_bytes(r);
out:
    if (rc != KILN_OK) {
        kiln_profile_free(p);
        return rc;
    }
    *out = p;
    return KILN_OK;
}

/*
 * batch.h - batch scoring: a table (CSV or JSON Lines, read by quality/table.h) through a
 * model on every core, in bounded memory, with the rows' order preserved. `kiln predict`
 * writes predictions with it and `kiln evaluate` collects predictions and targets.
 *
 * Pipeline: the caller's thread reads rows and converts them into blocks of rows (the input
 * columns matched to the model's inputs by name, values checked as the serving protocols
 * check them); worker threads predict blocks and, through `format`, turn them into output
 * text in parallel; the worker that completes the next block in order hands it and any
 * following completed blocks to `sink`, one at a time, in row order. A fixed ring of blocks
 * bounds memory (about 2 x workers + 2 blocks of block_rows rows), so any file size runs in
 * the same memory.
 *
 * Errors: a row that does not fit the model stops the run with KILN_EINVAL naming the file,
 * line and column; the reader's own errors (KILN_EPARSE ...) and a sink's errors stop it too.
 * Callbacks never run after kiln_batch_run returns.
 */
#ifndef KILN_SERVE_BATCH_H
#define KILN_SERVE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "quality/table.h"
#include "runtime/runtime.h"

/* One block of rows on its way through the pipeline (valid during a callback only). */
struct kiln_batch_block {
    uint64_t first_row;     /* 0-based index of the block's first data row */
    size_t n;               /* rows in the block */
    const double *x;        /* n x inputs */
    struct kiln_rt_out out; /* label + proba (classifiers) or value (regressors) */
    const double *target;   /* n target values (see target_fn), or NULL */
    const char *keep;       /* the kept input columns' text, formatted by keep_fn, row by row */
    const size_t *keep_off; /* n + 1 offsets into keep */
    struct kiln_buf *text;  /* output text written by `format` (empty without one) */
};

struct kiln_batch_opts {
    int workers;       /* 0: the number of cores */
    size_t block_rows; /* 0: 4096 */
    /* Optional: the column holding a target; target_fn converts its cell (reader thread). */
    const char *target_column;
    int (*target_fn)(void *ctx, const char *p, size_t len, int missing, double *out,
                     struct kiln_err *err);
    /* Optional: input columns copied to the output; keep_fn appends one cell (reader thread). */
    const char *const *keep;
    size_t n_keep;
    int (*keep_fn)(void *ctx, struct kiln_buf *b, size_t i, const char *p, size_t len, int missing);
    /* Optional: formats a predicted block into block->text (worker threads; thread-safe). */
    int (*format)(void *ctx, struct kiln_batch_block *b, struct kiln_err *err);
    /* Receives every block in row order, one call at a time (any worker thread). */
    int (*sink)(void *ctx, const struct kiln_batch_block *b, struct kiln_err *err);
    void *ctx; /* passed to every callback above */
    /* Optional: after each block (rows done so far; bytes read of the input's total). */
    void (*progress)(void *progress_ctx, uint64_t rows, uint64_t bytes, uint64_t total);
    void *progress_ctx;
};

struct kiln_batch_stats {
    uint64_t rows;
    double seconds;
    int workers;
};

/*
 * Runs the whole table `in` (opened by the caller, positioned after its header) through
 * model m. Input columns are matched by name; a missing required input is KILN_EINVAL before
 * any row is read. OUT: *stats (may be NULL).
 */
int kiln_batch_run(const struct kiln_rt_model *m, struct kiln_table_reader *in,
                   const struct kiln_batch_opts *opts, struct kiln_batch_stats *stats /* OUT */,
                   struct kiln_err *err);

#endif

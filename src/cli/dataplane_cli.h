/*
 * dataplane_cli.h - what `kiln predict`, `kiln evaluate` and `kiln quantize` share: loading
 * the model a URI names (a folder, or through the tracking server), writing an output file
 * atomically, and a progress line on a terminal. CLI-only (prints to stderr).
 */
#ifndef KILN_CLI_DATAPLANE_CLI_H
#define KILN_CLI_DATAPLANE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "runtime/runtime.h"
#include "serve/fetch.h"

/*
 * Fetches the model (kiln_fetch_model with the tracking server of `tracking_flag`, see
 * kiln_cli_tracking_uri) and loads it. On success the caller owns *f (kiln_fetch_release)
 * and *m (kiln_rt_free); on failure both are released and err says what and where.
 */
int kiln_dcli_load(const char *uri, const char *tracking_flag, struct kiln_fetched *f /* OUT */,
                   struct kiln_rt_model **m /* OUT */, struct kiln_err *err);

/* An output file written under a temporary name and renamed into place on commit. */
struct kiln_dcli_out {
    int fd;
    int is_stdout;
    char *path, *tmp;
};

/* Opens `path` ("-" is standard output). KILN_EIO naming the path. */
int kiln_dcli_out_open(const char *path, struct kiln_dcli_out *o /* OUT */, struct kiln_err *err);
int kiln_dcli_out_write(struct kiln_dcli_out *o, const void *data, size_t len,
                        struct kiln_err *err);
/* Flushes, fsyncs and renames the file into place. */
int kiln_dcli_out_commit(struct kiln_dcli_out *o, struct kiln_err *err);
/* Removes the temporary file (after a failure; a no-op after commit). */
void kiln_dcli_out_abort(struct kiln_dcli_out *o);

/* "predict: 45%  1,234,567 rows  456k rows/s" on stderr, only on a terminal. */
struct kiln_dcli_progress {
    int on;
    const char *verb;
    int64_t t0, last;
};

void kiln_dcli_progress_init(struct kiln_dcli_progress *p, const char *verb, int quiet);
/* Updates the line (at most 4 times a second). Called by one thread at a time. */
void kiln_dcli_progress(void *p, uint64_t rows, uint64_t bytes, uint64_t total);
/* Erases the line. */
void kiln_dcli_progress_done(struct kiln_dcli_progress *p);

/*
 * This process's peak resident memory in MB (VmHWM of /proc/self/status: the program's own,
 * unlike getrusage, which counts the parent's pages a child had before exec), -1 if unknown.
 */
double kiln_dcli_peak_rss_mb(void);

/* Formats n with thousands separators ("1,234,567"). */
void kiln_dcli_count(uint64_t n, char *out, size_t size);

#endif

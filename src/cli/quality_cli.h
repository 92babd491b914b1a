/*
 * quality_cli.h - what `kiln profile`, `kiln validate` and `kiln drift` share: opening a
 * data file with the --format/--delimiter/--no-header options, writing a report to --out or
 * stdout, splitting comma lists, and formatting numbers for tables. CLI-only (prints).
 */
#ifndef KILN_CLI_QUALITY_CLI_H
#define KILN_CLI_QUALITY_CLI_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "quality/table.h"

/* Reader options from the common flags (NULL flags mean defaults). KILN_EINVAL, named. */
int kiln_qcli_table_opts(const char *format, const char *delimiter, int no_header,
                         struct kiln_table_opts *out /* OUT */, struct kiln_err *err);
/* Writes b to `path` atomically, or to stdout when path is NULL or "-". */
int kiln_qcli_emit(const char *path, const struct kiln_buf *b, struct kiln_err *err);
/* Appends the comma-separated items of every string in `in` to `out` (strings are
 * modified in place: commas become NULs). KILN_ENOMEM. */
int kiln_qcli_split(const struct kiln_strv *in, struct kiln_strv *out);
/* A number for a table cell: "-" for NaN, "inf", else up to 4 significant digits. */
void kiln_qcli_num(double v, char *out, size_t size);

/*
 * A progress line on stderr while data files are read ("reading ref.csv 45%  cur.csv 40%"),
 * only when stderr is a terminal; readers may report from different threads. Attach up to
 * two readers, call _done when reading is over (it erases the line).
 */
struct kiln_qcli_progress {
    pthread_mutex_t mu;
    int on;
    size_t n;
    int64_t last_ns;
    struct kiln_qcli_slot {
        struct kiln_qcli_progress *p;
        const char *label;
        uint64_t done, total;
    } slot[2];
};

void kiln_qcli_progress_init(struct kiln_qcli_progress *p);
void kiln_qcli_progress_attach(struct kiln_qcli_progress *p, struct kiln_table_reader *r,
                               const char *label);
void kiln_qcli_progress_done(struct kiln_qcli_progress *p);

#endif

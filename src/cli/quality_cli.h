/*
 * quality_cli.h - what `kiln profile`, `kiln validate` and `kiln drift` share: opening a
 * data file with the --format/--delimiter/--no-header options, writing a report to --out or
 * stdout, splitting comma lists, and formatting numbers for tables. CLI-only (prints).
 */
#ifndef KILN_CLI_QUALITY_CLI_H
#define KILN_CLI_QUALITY_CLI_H

#include <stddef.h>

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

#endif

/*
 * quality_cli.c - shared plumbing of the data-quality commands (see quality_cli.h).
 */
#include "cli/quality_cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/fs.h"
#include "core/str.h"

int kiln_qcli_table_opts(const char *format, const char *delimiter, int no_header,
                         struct kiln_table_opts *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    out->no_header = no_header;
    if (format != NULL) {
        if (kiln_cstr_ieq(format, "csv"))
            out->format = KILN_TABLE_CSV;
        else if (kiln_cstr_ieq(format, "jsonl") || kiln_cstr_ieq(format, "ndjson"))
            out->format = KILN_TABLE_JSONL;
        else if (!kiln_cstr_ieq(format, "auto"))
            return kiln_err_set(err, KILN_EINVAL, "option --format: '%s' is not csv, jsonl or auto",
                                format);
    }
    if (delimiter != NULL) {
        if (kiln_cstr_ieq(delimiter, "tab") || strcmp(delimiter, "\\t") == 0)
            out->delimiter = '\t';
        else if (strlen(delimiter) == 1 && delimiter[0] != '"' && delimiter[0] != '\n' &&
                 delimiter[0] != '\r')
            out->delimiter = delimiter[0];
        else
            return kiln_err_set(err, KILN_EINVAL,
                                "option --delimiter: '%s' is not one character (or 'tab')",
                                delimiter);
    }
    return KILN_OK;
}

int kiln_qcli_emit(const char *path, const struct kiln_buf *b, struct kiln_err *err)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        if (fwrite(b->buf, 1, b->len, stdout) != b->len || fflush(stdout) != 0)
            return kiln_err_set(err, KILN_EIO, "cannot write to standard output");
        return KILN_OK;
    }
    return kiln_write_file_atomic(path, b->buf, b->len, err);
}

int kiln_qcli_split(const struct kiln_strv *in, struct kiln_strv *out)
{
    for (size_t i = 0; i < in->n; i++) {
        char *s = (char *)(uintptr_t)in->v[i];
        for (;;) {
            char *comma = strchr(s, ',');
            if (comma != NULL)
                *comma = '\0';
            if (*s != '\0' && kiln_strv_push(out, s) != KILN_OK)
                return KILN_ENOMEM;
            if (comma == NULL)
                break;
            s = comma + 1;
        }
    }
    return KILN_OK;
}

void kiln_qcli_num(double v, char *out, size_t size)
{
    if (isnan(v))
        snprintf(out, size, "-");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "inf" : "-inf");
    else if (v != 0 && (fabs(v) < 1e-4 || fabs(v) >= 1e9))
        snprintf(out, size, "%.3e", v);
    else
        snprintf(out, size, "%.4g", v);
}

/*
 * quality_cli.c - shared plumbing of the data-quality commands (see quality_cli.h).
 */
#include "cli/quality_cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/fs.h"
#include "core/str.h"
#include "core/time.h"

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

void kiln_qcli_progress_init(struct kiln_qcli_progress *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->on = kiln_cli_isatty(stderr);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    struct kiln_qcli_slot *sl = ctx;
    struct kiln_qcli_progress *p = sl->p;
    int64_t now = kiln_mono_ns();
    pthread_mutex_lock(&p->mu);
    sl->done = done;
    sl->total = total;
    if (now - p->last_ns >= 250000000) {
        p->last_ns = now;
        fputs("\rreading", stderr);
        for (size_t i = 0; i < p->n; i++) {
            const struct kiln_qcli_slot *o = &p->slot[i];
            if (o->total > 0)
                fprintf(stderr, "  %s %3.0f%%", base_name(o->label),
                        100.0 * (double)o->done / (double)o->total);
            else
                fprintf(stderr, "  %s %.0f MB", base_name(o->label), (double)o->done / 1e6);
        }
        fputs("\033[K", stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&p->mu);
}

void kiln_qcli_progress_attach(struct kiln_qcli_progress *p, struct kiln_table_reader *r,
                               const char *label)
{
    if (!p->on || r == NULL || p->n >= 2)
        return;
    p->slot[p->n].p = p;
    p->slot[p->n].label = label;
    p->slot[p->n].total = kiln_table_reader_size(r);
    p->slot[p->n].done = kiln_table_reader_bytes(r);
    kiln_table_reader_on_progress(r, progress_cb, &p->slot[p->n]);
    p->n++;
}

void kiln_qcli_progress_done(struct kiln_qcli_progress *p)
{
    if (p->on && p->last_ns != 0) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    pthread_mutex_destroy(&p->mu);
}

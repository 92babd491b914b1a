/*
 * dataplane_cli.c - model loading, atomic output files and progress for the data-plane
 * commands (see dataplane_cli.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/dataplane_cli.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/time.h"

int kiln_dcli_load(const char *uri, const char *tracking_flag, struct kiln_fetched *f,
                   struct kiln_rt_model **m, struct kiln_err *err)
{
    int rc = kiln_fetch_model(uri, kiln_cli_tracking_uri(tracking_flag), f, err);
    *m = NULL;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_rt_load(f->dir, NULL, m, err);
    if (rc != KILN_OK)
        kiln_fetch_release(f);
    return rc;
}

int kiln_dcli_out_open(const char *path, struct kiln_dcli_out *o, struct kiln_err *err)
{
    memset(o, 0, sizeof(*o));
    o->fd = -1;
    if (strcmp(path, "-") == 0) {
        o->fd = STDOUT_FILENO;
        o->is_stdout = 1;
        return KILN_OK;
    }
    o->path = kiln_strdup(path);
    o->tmp = kiln_malloc(strlen(path) + 16);
    if (o->path == NULL || o->tmp == NULL) {
        kiln_dcli_out_abort(o);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    memcpy(o->tmp, path, strlen(path));
    memcpy(o->tmp + strlen(path), ".tmp-XXXXXX", 12);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0) {
        int e = errno;
        kiln_free(o->tmp);
        o->tmp = NULL;
        kiln_dcli_out_abort(o);
        return kiln_err_set(err, KILN_EIO, "cannot create '%s': %s", path, strerror(e));
    }
    fchmod(o->fd, 0644);
    return KILN_OK;
}

int kiln_dcli_out_write(struct kiln_dcli_out *o, const void *data, size_t len, struct kiln_err *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(o->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return kiln_err_set(err, KILN_EIO, "cannot write '%s': %s",
                                o->is_stdout ? "<stdout>" : o->path, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return KILN_OK;
}

int kiln_dcli_out_commit(struct kiln_dcli_out *o, struct kiln_err *err)
{
    int rc = KILN_OK;
    if (o->is_stdout)
        return KILN_OK;
    if (fsync(o->fd) != 0 || close(o->fd) != 0)
        rc = kiln_err_set(err, KILN_EIO, "cannot write '%s': %s", o->path, strerror(errno));
    o->fd = -1;
    if (rc == KILN_OK && rename(o->tmp, o->path) != 0)
        rc = kiln_err_set(err, KILN_EIO, "cannot rename '%s' to '%s': %s", o->tmp, o->path,
                          strerror(errno));
    if (rc != KILN_OK) {
        kiln_dcli_out_abort(o);
        return rc;
    }
    kiln_free(o->tmp);
    o->tmp = NULL;
    kiln_free(o->path);
    o->path = NULL;
    return KILN_OK;
}

void kiln_dcli_out_abort(struct kiln_dcli_out *o)
{
    if (!o->is_stdout && o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->tmp != NULL)
        unlink(o->tmp);
    kiln_free(o->tmp);
    kiln_free(o->path);
    o->tmp = o->path = NULL;
}

double kiln_dcli_peak_rss_mb(void)
{
    char line[256];
    double kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0) {
            const char *p = line + 6;
            uint64_t v = 0;
            while (*p == ' ' || *p == '\t')
                p++;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (uint64_t)(*p++ - '0');
            kb = (double)v;
        }
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

void kiln_dcli_count(uint64_t n, char *out, size_t size)
{
    char digits[32];
    size_t len = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n), o = 0;
    for (size_t i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

void kiln_dcli_progress_init(struct kiln_dcli_progress *p, const char *verb, int quiet)
{
    memset(p, 0, sizeof(*p));
    p->on = !quiet && kiln_cli_isatty(stderr);
    p->verb = verb;
    p->t0 = kiln_mono_ns();
}

void kiln_dcli_progress(void *arg, uint64_t rows, uint64_t bytes, uint64_t total)
{
    struct kiln_dcli_progress *p = arg;
    int64_t now = kiln_mono_ns();
    double s = (double)(now - p->t0) / 1e9;
    char count[32];
    if (!p->on || now - p->last < 250000000)
        return;
    p->last = now;
    kiln_dcli_count(rows, count, sizeof(count));
    if (total > 0)
        fprintf(stderr, "\r%s: %3.0f%%  %s rows  %.0fk rows/s\033[K", p->verb,
                100.0 * (double)bytes / (double)total, count, s > 0 ? (double)rows / s / 1e3 : 0);
    else
        fprintf(stderr, "\r%s: %s rows  %.0fk rows/s\033[K", p->verb, count,
                s > 0 ? (double)rows / s / 1e3 : 0);
    fflush(stderr);
}

void kiln_dcli_progress_done(struct kiln_dcli_progress *p)
{
    if (p->on && p->last != 0) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/*
 * log.c - stderr logger (see log.h).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/time.h"

static atomic_int log_level = KILN_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void kiln_log_set_level(enum kiln_log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum kiln_log_level kiln_log_get_level(void)
{
    return (enum kiln_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int kiln_log_parse_level(const char *s, enum kiln_log_level *out)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum kiln_log_level)i;
            return KILN_OK;
        }
    }
    return KILN_EINVAL;
}

void kiln_log(enum kiln_log_level level, const char *fmt, ...)
{
    char line[2048];
    char ts[32];
    size_t n;
    int m;
    va_list ap;

    if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    kiln_time_format_iso(kiln_now_ms(), ts, sizeof(ts));
    m = snprintf(line, sizeof(line), "%s %-5s ", ts, level_names[level]);
    n = m > 0 ? (size_t)m : 0;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m > 0)
        n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
    line[n++] = '\n';
    /* One write per record; a short write on a pipe is not worth a retry loop for logs. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

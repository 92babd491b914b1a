/*
 * log.h - one-line log records on stderr.
 *
 * Format: `2026-11-23T20:01:02.123Z info  message` (UTC, milliseconds). Each record is built
 * in a stack buffer and written with one write(2), so lines from concurrent threads never
 * interleave. The level is a process-wide setting (one of the two mutable globals STYLE.md
 * allows); it is read relaxed and may be changed at any time from any thread.
 */
#ifndef KILN_CORE_LOG_H
#define KILN_CORE_LOG_H

#include "core/err.h"

enum kiln_log_level {
    KILN_LOG_ERROR = 0,
    KILN_LOG_WARN = 1,
    KILN_LOG_INFO = 2,
    KILN_LOG_DEBUG = 3,
};

void kiln_log_set_level(enum kiln_log_level level);
enum kiln_log_level kiln_log_get_level(void);
/* Parses "error", "warn", "info", "debug". KILN_EINVAL otherwise. */
int kiln_log_parse_level(const char *s, enum kiln_log_level *out /* OUT */);

void kiln_log(enum kiln_log_level level, const char *fmt, ...) KILN_PRINTF(2, 3);

#define kiln_log_error(...) kiln_log(KILN_LOG_ERROR, __VA_ARGS__)
#define kiln_log_warn(...) kiln_log(KILN_LOG_WARN, __VA_ARGS__)
#define kiln_log_info(...) kiln_log(KILN_LOG_INFO, __VA_ARGS__)
#define kiln_log_debug(...) kiln_log(KILN_LOG_DEBUG, __VA_ARGS__)

#endif

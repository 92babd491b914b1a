/*
 * time.h - clocks and time formatting. All functions are thread-safe.
 */
#ifndef KILN_CORE_TIME_H
#define KILN_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, milliseconds since the Unix epoch (MLflow's time unit). */
int64_t kiln_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
int64_t kiln_mono_ns(void);
/* Sleeps for ms milliseconds (restarting after signals). */
void kiln_sleep_ms(int64_t ms);
/* "2026-11-23T20:01:02.123Z" into out (size >= 25). */
void kiln_time_format_iso(int64_t epoch_ms, char *out, size_t size);
/* "2026-11-23 20:01:02" in UTC, for tables (size >= 20). */
void kiln_time_format_short(int64_t epoch_ms, char *out, size_t size);
/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fff]]" with an optional "Z" or "+HH:MM" offset
 * (a space may replace 'T'); no offset means UTC. KILN_EINVAL when malformed.
 */
int kiln_time_parse_iso(const char *s, size_t len, int64_t *epoch_ms /* OUT */);
/* Days since 1970-01-01 for a proleptic Gregorian date (no range checks). */
int64_t kiln_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif

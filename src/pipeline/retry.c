/*
 * retry.c - when a failed task instance may run again: Airflow's retry_delay, with
 * retry_exponential_backoff and its deterministic, bounded jitter.
 *
 * Without backoff the delay is retry_delay. With backoff, for the try that just failed
 * (try_number 1 for the first run):
 *
 *     base  = max(1, ceil(retry_delay_seconds * 2^(try_number - 1)))
 *     delay = base + (SHA1("pipeline#task#logical_date#try_number") mod base)   seconds
 *
 * so the delay lies in [base, 2 * base) and is the same every time it is computed for the same
 * task instance (no thundering herd, yet reproducible). The delay is then capped at 24 hours
 * (Airflow's max_task_retry_delay) and at the task's max_retry_delay when one is set.
 * logical_date is written as ISO 8601 in UTC with milliseconds ("2024-03-31T01:00:00.000Z").
 * Pure functions; thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "pipeline/pipeline_int.h"

#define MAX_TASK_RETRY_DELAY_S 86400

/* The 160-bit big-endian digest modulo m (m > 0), by long division one byte at a time. */
static uint64_t digest_mod(const unsigned char *d, size_t n, uint64_t m)
{
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++)
        r = (r * 256 + d[i]) % m;
    return r;
}

int64_t kiln_pl_retry_delay_ms(const char *pipeline, const char *task, int64_t logical_ms,
                               int try_number, int64_t retry_delay_ms, int exponential,
                               int64_t max_retry_delay_ms)
{
    char date[40], key[1024];
    unsigned char digest[20];
    uint64_t base, secs;
    int n;

    if (retry_delay_ms < 0)
        retry_delay_ms = 0;
    if (!exponential) {
        int64_t d = retry_delay_ms;
        if (max_retry_delay_ms > 0 && d > max_retry_delay_ms)
            d = max_retry_delay_ms;
        return d;
    }
    if (try_number < 1)
        try_number = 1;
    /* base = ceil(delay_ms * 2^(try-1) / 1000); anything at or past 24 h is capped anyway. */
    if (try_number - 1 >= 40) {
        base = MAX_TASK_RETRY_DELAY_S;
    } else {
        uint64_t scaled = (uint64_t)retry_delay_ms << (try_number - 1);
        if (retry_delay_ms != 0 && (scaled >> (try_number - 1)) != (uint64_t)retry_delay_ms)
            scaled = UINT64_MAX; /* overflowed: far past the cap */
        base = scaled == UINT64_MAX ? MAX_TASK_RETRY_DELAY_S : (scaled + 999) / 1000;
    }
    if (base < 1)
        base = 1;
    if (base >= MAX_TASK_RETRY_DELAY_S) {
        secs = MAX_TASK_RETRY_DELAY_S;
    } else {
        kiln_time_format_iso(logical_ms, date, sizeof(date));
        n = snprintf(key, sizeof(key), "%s#%s#%s#%d", pipeline, task, date, try_number);
        if (n < 0)
            n = 0;
        if ((size_t)n >= sizeof(key))
            n = (int)sizeof(key) - 1;
        kiln_pl_sha1(key, (size_t)n, digest);
        secs = base + digest_mod(digest, sizeof(digest), base);
        if (secs > MAX_TASK_RETRY_DELAY_S)
            secs = MAX_TASK_RETRY_DELAY_S;
    }
    if (max_retry_delay_ms > 0 && (int64_t)secs * 1000 > max_retry_delay_ms)
        return max_retry_delay_ms;
    return (int64_t)secs * 1000;
}

/*
 * time.c - clocks and ISO-8601 formatting/parsing without locale or TZ state (timegm is not
 * POSIX, so civil-date arithmetic is done here).
 */
#include "core/time.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"
#include "core/str.h"

int64_t kiln_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kiln_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kiln_sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Howard Hinnant's civil-from-days and days-from-civil algorithms. */
int64_t kiln_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

static void split(int64_t ms, int64_t *y, unsigned *mo, unsigned *d, int *h, int *mi, int *s,
                  int *msec)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    civil_from_days(days, y, mo, d);
    *h = (int)(rem / 3600000);
    *mi = (int)(rem / 60000 % 60);
    *s = (int)(rem / 1000 % 60);
    *msec = (int)(rem % 1000);
}

void kiln_time_format_iso(int64_t epoch_ms, char *out, size_t size)
{
    int64_t y;
    unsigned mo, d;
    int h, mi, s, ms;
    split(epoch_ms, &y, &mo, &d, &h, &mi, &s, &ms);
    snprintf(out, size, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, mo, d, h, mi, s, ms);
}

void kiln_time_format_short(int64_t epoch_ms, char *out, size_t size)
{
    int64_t y;
    unsigned mo, d;
    int h, mi, s, ms;
    split(epoch_ms, &y, &mo, &d, &h, &mi, &s, &ms);
    snprintf(out, size, "%04lld-%02u-%02u %02d:%02d:%02d", (long long)y, mo, d, h, mi, s);
}

static int digits(const char *s, size_t len, size_t *pos, size_t n, int *out)
{
    int v = 0;
    if (*pos + n > len)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[*pos + i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *pos += n;
    *out = v;
    return 1;
}

int kiln_time_parse_iso(const char *s, size_t len, int64_t *epoch_ms)
{
    size_t p = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    if (!digits(s, len, &p, 4, &y) || p >= len || s[p++] != '-' || !digits(s, len, &p, 2, &mo) ||
        p >= len || s[p++] != '-' || !digits(s, len, &p, 2, &d))
        return KILN_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return KILN_EINVAL;
    if (p < len && (s[p] == 'T' || s[p] == ' ')) {
        p++;
        if (!digits(s, len, &p, 2, &h) || p >= len || s[p++] != ':' || !digits(s, len, &p, 2, &mi))
            return KILN_EINVAL;
        if (p < len && s[p] == ':') {
            p++;
            if (!digits(s, len, &p, 2, &sec))
                return KILN_EINVAL;
            if (p < len && s[p] == '.') {
                int scale = 100;
                p++;
                if (p >= len || s[p] < '0' || s[p] > '9')
                    return KILN_EINVAL;
                while (p < len && s[p] >= '0' && s[p] <= '9') {
                    ms += (s[p] - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return KILN_EINVAL;
    }
    if (p < len && s[p] == 'Z') {
        p++;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p] == '-' ? -1 : 1, oh = 0, om = 0;
        p++;
        if (!digits(s, len, &p, 2, &oh))
            return KILN_EINVAL;
        if (p < len && s[p] == ':')
            p++;
        if (!digits(s, len, &p, 2, &om) || oh > 23 || om > 59)
            return KILN_EINVAL;
        off = sign * (oh * 60 + om);
    }
    if (p != len)
        return KILN_EINVAL;
    *epoch_ms = (kiln_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                 sec - (int64_t)off * 60) *
                    1000 +
                ms;
    return KILN_OK;
}

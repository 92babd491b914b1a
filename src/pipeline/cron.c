/*
 * cron.c - five-field cron expressions (Vixie cron / cronie syntax) and their next fire time in
 * a time zone.
 *
 * Syntax: "minute hour day-of-month month day-of-week"; each field is '*', a number, a range
 * "a-b", a list "a,b,c", and any of those with a step "/n" ("a/n" means "a-max/n"); months and
 * weekdays also by name (JAN..DEC, SUN..SAT); weekday 7 is Sunday. Macros: @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight), @hourly. When both day fields are
 * restricted a day matches either; when either starts with '*' both must match (Vixie's rule).
 *
 * Daylight saving time follows cronie. A schedule is "fixed-time" when neither its minute nor
 * its hour field starts with '*'. A fixed-time schedule whose wall time falls into a gap
 * (clocks jump forward) fires once, at the first instant after the gap; a wall time that
 * happens twice (clocks fall back) fires only at its first occurrence. Other schedules follow
 * the real clock: times in a gap do not exist and repeated times fire each time they happen.
 *
 * Pure functions over caller memory; thread-safe.
 */
#include <ctype.h>
#include <string.h>

#include "core/time.h"
#include "pipeline/pipeline_int.h"

#define SEARCH_DAYS (5 * 366) /* a schedule that does not fire within 5 years never fires */

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

struct field_def {
    const char *what;
    int lo, hi;
    const char *const *names; /* names[0] is value `name_base` */
    int nnames, name_base;
};

static const struct field_def fields[5] = {
    { "minute", 0, 59, NULL, 0, 0 },          { "hour", 0, 23, NULL, 0, 0 },
    { "day of month", 1, 31, NULL, 0, 0 },    { "month", 1, 12, month_names, 12, 1 },
    { "day of week", 0, 7, dow_names, 7, 0 },
};

static int name_eq3(const char *p, const char *name)
{
    for (int i = 0; i < 3; i++)
        if (tolower((unsigned char)p[i]) != name[i])
            return 0;
    return 1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

static int parse_value(const struct field_def *f, const char **s, int *out)
{
    const char *p = *s;
    int v = 0, nd = 0;
    if (isalpha((unsigned char)*p) && f->names != NULL) {
        for (int i = 0; i < f->nnames; i++) {
            if (name_eq3(p, f->names[i]) && !isalpha((unsigned char)p[3])) {
                *out = i + f->name_base;
                *s = p + 3;
                return KILN_OK;
            }
        }
        return KILN_EINVAL;
    }
    while (isdigit((unsigned char)*p) && nd < 3) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || isdigit((unsigned char)*p) || v < f->lo || v > f->hi)
        return KILN_EINVAL;
    *out = v;
    *s = p;
    return KILN_OK;
}

/* One field into a bit set; *star set when the field starts with '*'. */
static int parse_field(const struct field_def *f, const char *s, size_t len, uint64_t *bits,
                       int *star, struct kiln_err *err, const char *expr)
{
    char tmp[128];
    const char *p;
    *bits = 0;
    *star = len > 0 && s[0] == '*';
    if (len == 0 || len >= sizeof(tmp))
        return kiln_err_set(err, KILN_EINVAL, "cron '%s': bad %s field", expr, f->what);
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    p = tmp;
    for (;;) {
        int a, b, step = 1;
        if (*p == '*') {
            a = f->lo;
            b = f->hi == 7 ? 6 : f->hi;
            p++;
        } else {
            if (parse_value(f, &p, &a) != KILN_OK)
                goto bad;
            b = a;
            if (*p == '-') {
                p++;
                if (parse_value(f, &p, &b) != KILN_OK || b < a)
                    goto bad;
            } else if (*p == '/') {
                b = f->hi == 7 ? 6 : f->hi;
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p))
                goto bad;
            step = 0;
            while (isdigit((unsigned char)*p) && step <= 1000)
                step = step * 10 + (*p++ - '0');
            if (step < 1 || step > f->hi)
                goto bad;
        }
        for (int v = a; v <= b; v += step)
            *bits |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
        if (*p == '\0')
            break;
        if (*p++ != ',')
            goto bad;
    }
    return KILN_OK;
bad:
    return kiln_err_set(err, KILN_EINVAL, "cron '%s': bad %s field '%s' (allowed %d-%d)", expr,
                        f->what, tmp, f->lo, f->hi);
}

static const struct {
    const char *name, *expr;
} macros[] = {
    { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
    { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
    { "@hourly", "0 * * * *" },
};

static int days_in_month(int m, int leap)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap ? 29 : dm[m - 1];
}

int kiln_cron_parse(const char *expr, struct kiln_cron *out, struct kiln_err *err)
{
    const char *s = expr, *start[5];
    size_t len[5];
    uint64_t bits[5];
    int star[5], n = 0, rc, possible = 0;

    memset(out, 0, sizeof(*out));
    if (strlen(expr) > 200)
        return kiln_err_set(err, KILN_EINVAL, "cron expression too long");
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '@') {
        for (size_t i = 0; i < KILN_ARRAY_LEN(macros); i++) {
            size_t ml = strlen(macros[i].name);
            if (strncmp(s, macros[i].name, ml) == 0 && (s[ml] == '\0' || s[ml] == ' '))
                return kiln_cron_parse(macros[i].expr, out, err);
        }
        return kiln_err_set(err, KILN_EINVAL,
                            "cron '%s': unknown macro (use @yearly, @monthly, @weekly, @daily or "
                            "@hourly)",
                            expr);
    }
    while (*s != '\0') {
        const char *b = s;
        while (*s != '\0' && *s != ' ' && *s != '\t')
            s++;
        if (n == 5)
            return kiln_err_set(err, KILN_EINVAL,
                                "cron '%s': expected 5 fields (minute hour day month weekday)",
                                expr);
        start[n] = b;
        len[n++] = (size_t)(s - b);
        while (*s == ' ' || *s == '\t')
            s++;
    }
    if (n != 5)
        return kiln_err_set(err, KILN_EINVAL,
                            "cron '%s': expected 5 fields (minute hour day month weekday)", expr);
    for (int i = 0; i < 5; i++) {
        rc = parse_field(&fields[i], start[i], len[i], &bits[i], &star[i], err, expr);
        if (rc != KILN_OK)
            return rc;
    }
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->doms = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->dows = (uint8_t)bits[4];
    out->dom_star = star[2];
    out->dow_star = star[4];
    out->fixed_time = !star[0] && !star[1];
    /* Refuse schedules that can never fire ("0 0 30 2 *"). */
    if (!out->dom_star && !out->dow_star)
        possible = 1;
    for (int m = 1; m <= 12 && !possible; m++)
        if (out->months & (1u << m))
            for (int d = 1; d <= days_in_month(m, 1); d++)
                if (out->doms & (1u << d))
                    possible = 1;
    if (!possible)
        return kiln_err_set(err, KILN_EINVAL, "cron '%s': the schedule never fires", expr);
    return KILN_OK;
}

static void civil(int64_t w, int64_t *y, int *mo, int *d, int *h, int *mi, int *wday)
{
    int64_t days = floor_div(w, 86400), secs = w - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*mo <= 2);
    *h = (int)(secs / 3600);
    *mi = (int)(secs / 60 % 60);
    *wday = (int)(((days % 7) + 7 + 4) % 7);
}

static int day_matches(const struct kiln_cron *c, int d, int wday)
{
    int dom = (c->doms >> d) & 1, dow = (c->dows >> wday) & 1;
    return (c->dom_star || c->dow_star) ? (dom && dow) : (dom || dow);
}

/* Smallest wall time >= w (a multiple of 60) matching the fields; KILN_ENOENT past `limit`. */
static int next_wall(const struct kiln_cron *c, int64_t w, int64_t limit, int64_t *out)
{
    while (w <= limit) {
        int64_t y;
        int mo, d, h, mi, wday;
        civil(w, &y, &mo, &d, &h, &mi, &wday);
        if (!((c->months >> mo) & 1)) {
            w = (kiln_days_from_civil(mo == 12 ? y + 1 : y, mo == 12 ? 1u : (unsigned)mo + 1, 1)) *
                86400;
            continue;
        }
        if (!day_matches(c, d, wday)) {
            w = (floor_div(w, 86400) + 1) * 86400;
            continue;
        }
        if (!((c->hours >> h) & 1)) {
            w = (floor_div(w, 3600) + 1) * 3600;
            continue;
        }
        if (!((c->minutes >> mi) & 1)) {
            w += 60;
            continue;
        }
        *out = w;
        return KILN_OK;
    }
    return KILN_ENOENT;
}

int kiln_cron_next(const struct kiln_cron *c, const struct kiln_tz *tz, int64_t after,
                   int64_t *next)
{
    int32_t min_off, max_off;
    int64_t w, limit, best = INT64_MAX;

    kiln_tz_offset_range(tz, &min_off, &max_off);
    w = after + 1 + min_off;
    w = floor_div(w + 59, 60) * 60;
    limit = w + (int64_t)SEARCH_DAYS * 86400;
    for (;;) {
        int64_t inst[2], gap_end, cand[2];
        int n, ncand = 0;
        if (next_wall(c, w, limit, &w) != KILN_OK)
            break;
        if (best != INT64_MAX && w > best + max_off)
            break;
        n = tz == NULL ? (inst[0] = w, 1) : kiln_tz_wall_instants(tz, w, inst, &gap_end);
        if (n == 0 && c->fixed_time && gap_end != 0)
            cand[ncand++] = gap_end;
        if (n >= 1)
            cand[ncand++] = inst[0];
        if (n == 2 && !c->fixed_time)
            cand[ncand++] = inst[1];
        for (int i = 0; i < ncand; i++)
            if (cand[i] > after && cand[i] < best)
                best = cand[i];
        if (tz == NULL && best != INT64_MAX)
            break;
        w += 60;
    }
    if (best == INT64_MAX)
        return KILN_ENOENT;
    *next = best;
    return KILN_OK;
}

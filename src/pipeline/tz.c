/*
 * tz.c - time zones read from the system's TZif files (RFC 8536), without touching the
 * process-wide TZ variable: a threaded server cannot call setenv("TZ") and localtime_r safely,
 * and schedules in different zones must coexist.
 *
 * A zone is the transition table of the file's 64-bit (version 2+) section and the POSIX TZ
 * string of its footer ("CET-1CEST,M3.5.0,M10.5.0/3"), which extends the table past its last
 * transition (Debian may ship "slim" files whose table stops early). Before the first
 * transition the first local time type applies (RFC 8536 3.2). Leap-second ("right/") zones
 * are refused: kiln's clock is POSIX time.
 *
 * Ownership: kiln_tz_load/kiln_tz_parse return a zone the caller frees with kiln_tz_free. A
 * loaded zone is immutable, so any number of threads may query it at once.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"

#define TZ_MAX_FILE ((size_t)1 << 18)
#define OFFSET_LIMIT 93600 /* 26 hours, larger than any real offset */

struct tz_rule_date {
    char kind; /* 'M' month.week.day, 'J' Julian 1..365 without Feb 29, 'N' 0..365 */
    int m, w, d, n;
    int32_t time; /* seconds after local midnight (may be negative or past 24 h) */
};

struct kiln_tz {
    char name[KILN_TZ_NAME_MAX];
    int64_t *trans;
    unsigned char *idx;
    size_t ntrans;
    int32_t *offs;
    size_t ntypes;
    int has_footer, footer_dst;
    int32_t std_off, dst_off;
    struct tz_rule_date start, end;
    int32_t min_off, max_off;
};

void kiln_tz_free(struct kiln_tz *tz)
{
    if (tz == NULL)
        return;
    kiln_free(tz->trans);
    kiln_free(tz->idx);
    kiln_free(tz->offs);
    kiln_free(tz);
}

const char *kiln_tz_name(const struct kiln_tz *tz)
{
    return tz->name;
}

static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* ---- POSIX TZ strings ------------------------------------------------------------------- */

static int parse_name(const char **s)
{
    const char *p = *s;
    if (*p == '<') {
        p++;
        while (*p != '\0' && *p != '>') {
            if (!(*p == '+' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= 'a' && *p <= 'z')))
                return KILN_EINVAL;
            p++;
        }
        if (*p != '>' || p - *s < 4)
            return KILN_EINVAL;
        *s = p + 1;
        return KILN_OK;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    if (p - *s < 3)
        return KILN_EINVAL;
    *s = p;
    return KILN_OK;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h; returns seconds (sign applied). */
static int parse_hms(const char **s, int max_h, int32_t *out)
{
    const char *p = *s;
    int sign = 1, part[3] = { 0, 0, 0 };
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (int i = 0; i < 3; i++) {
        int v = 0, nd = 0;
        if (i > 0) {
            if (*p != ':')
                break;
            p++;
        }
        while (*p >= '0' && *p <= '9' && nd < 3) {
            v = v * 10 + (*p++ - '0');
            nd++;
        }
        if (nd == 0 || (i == 0 && v > max_h) || (i > 0 && (nd != 2 || v > 59)))
            return KILN_EINVAL;
        part[i] = v;
    }
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    *s = p;
    return KILN_OK;
}

static int parse_num(const char **s, int lo, int hi, int *out)
{
    const char *p = *s;
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || v < lo || v > hi)
        return KILN_EINVAL;
    *out = v;
    *s = p;
    return KILN_OK;
}

static int parse_rule_date(const char **s, struct tz_rule_date *r)
{
    const char *p = *s;
    int rc;
    memset(r, 0, sizeof(*r));
    if (*p == 'M') {
        p++;
        r->kind = 'M';
        rc = parse_num(&p, 1, 12, &r->m);
        if (rc == KILN_OK && *p++ == '.')
            rc = parse_num(&p, 1, 5, &r->w);
        else
            rc = KILN_EINVAL;
        if (rc == KILN_OK && *p++ == '.')
            rc = parse_num(&p, 0, 6, &r->d);
        else
            rc = KILN_EINVAL;
    } else if (*p == 'J') {
        p++;
        r->kind = 'J';
        rc = parse_num(&p, 1, 365, &r->n);
    } else {
        r->kind = 'N';
        rc = parse_num(&p, 0, 365, &r->n);
    }
    if (rc != KILN_OK)
        return rc;
    r->time = 7200;
    if (*p == '/') {
        p++;
        rc = parse_hms(&p, 167, &r->time);
        if (rc != KILN_OK)
            return rc;
    }
    *s = p;
    return KILN_OK;
}

/* Parses the footer into tz (std_off, dst_off, rules). An empty string means "no footer". */
static int parse_posix(struct kiln_tz *tz, const char *s)
{
    int32_t off;
    if (*s == '\0')
        return KILN_OK;
    if (parse_name(&s) != KILN_OK || parse_hms(&s, 24, &off) != KILN_OK)
        return KILN_EINVAL;
    tz->has_footer = 1;
    tz->std_off = -off;
    if (*s == '\0')
        return KILN_OK;
    if (parse_name(&s) != KILN_OK)
        return KILN_EINVAL;
    tz->footer_dst = 1;
    tz->dst_off = tz->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (parse_hms(&s, 24, &off) != KILN_OK)
            return KILN_EINVAL;
        tz->dst_off = -off;
    }
    if (*s != ',')
        return KILN_EINVAL; /* a DST zone needs its rules (TZif footers always give them) */
    s++;
    if (parse_rule_date(&s, &tz->start) != KILN_OK || *s++ != ',' ||
        parse_rule_date(&s, &tz->end) != KILN_OK || *s != '\0')
        return KILN_EINVAL;
    return KILN_OK;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Local (wall) seconds of a rule's moment in year y. */
static int64_t rule_local(int64_t y, const struct tz_rule_date *r)
{
    int64_t day;
    if (r->kind == 'J') {
        day = kiln_days_from_civil(y, 1, 1) + r->n - 1;
        if (is_leap(y) && r->n >= 60)
            day++;
    } else if (r->kind == 'N') {
        day = kiln_days_from_civil(y, 1, 1) + r->n;
    } else {
        int64_t first = kiln_days_from_civil(y, (unsigned)r->m, 1);
        int wday1 = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int dom = 1 + (r->d - wday1 + 7) % 7 + (r->w - 1) * 7;
        while (dom > days_in_month(y, r->m))
            dom -= 7;
        day = first + dom - 1;
    }
    return day * 86400 + r->time;
}

static int64_t year_of(int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    /* Civil year from days (Hinnant), enough precision for the year alone. */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return yoe + era * 400 + (m <= 2);
}

static void footer_edges(const struct kiln_tz *tz, int64_t y, int64_t *s, int64_t *e)
{
    *s = rule_local(y, &tz->start) - tz->std_off;
    *e = rule_local(y, &tz->end) - tz->dst_off;
}

static int32_t footer_offset(const struct kiln_tz *tz, int64_t t)
{
    int64_t s, e, y;
    if (!tz->footer_dst)
        return tz->std_off;
    y = year_of(t + tz->std_off);
    footer_edges(tz, y, &s, &e);
    if (s < e)
        return (t >= s && t < e) ? tz->dst_off : tz->std_off;
    return (t >= e && t < s) ? tz->std_off : tz->dst_off;
}

int32_t kiln_tz_offset(const struct kiln_tz *tz, int64_t t)
{
    size_t lo, hi;
    if (tz == NULL)
        return 0;
    if (tz->ntrans == 0)
        return tz->has_footer ? footer_offset(tz, t) : tz->offs[0];
    if (t < tz->trans[0])
        return tz->offs[0];
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_footer)
        return footer_offset(tz, t);
    lo = 0;
    hi = tz->ntrans; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offs[tz->idx[lo]];
}

int kiln_tz_next_transition(const struct kiln_tz *tz, int64_t t, int64_t *when, int32_t *before,
                            int32_t *after)
{
    int64_t best = INT64_MAX;
    if (tz == NULL)
        return KILN_ENOENT;
    if (tz->ntrans > 0 && t < tz->trans[tz->ntrans - 1]) {
        size_t lo = 0, hi = tz->ntrans - 1; /* first index with trans > t */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->trans[mid] > t)
                hi = mid;
            else
                lo = mid + 1;
        }
        *when = tz->trans[lo];
        *before = kiln_tz_offset(tz, tz->trans[lo] - 1);
        *after = tz->offs[tz->idx[lo]];
        return KILN_OK;
    }
    if (!tz->has_footer || !tz->footer_dst)
        return KILN_ENOENT;
    for (int64_t y = year_of(t) - 1; y <= year_of(t) + 2; y++) {
        int64_t s, e;
        footer_edges(tz, y, &s, &e);
        if (s > t && s < best)
            best = s;
        if (e > t && e < best)
            best = e;
    }
    if (best == INT64_MAX)
        return KILN_ENOENT;
    *when = best;
    *before = kiln_tz_offset(tz, best - 1);
    *after = kiln_tz_offset(tz, best);
    return KILN_OK;
}

void kiln_tz_offset_range(const struct kiln_tz *tz, int32_t *min_off, int32_t *max_off)
{
    *min_off = tz != NULL ? tz->min_off : 0;
    *max_off = tz != NULL ? tz->max_off : 0;
}

/*
 * The instants whose wall time is w: 0 (a gap; *gap_end is the transition that skipped it),
 * 1, or 2 (a repeated hour), ascending.
 */
int kiln_tz_wall_instants(const struct kiln_tz *tz, int64_t w, int64_t inst[2], int64_t *gap_end)
{
    int32_t min_off, max_off, offs[8], before, after;
    int64_t t, when;
    int noffs = 0, n = 0;

    kiln_tz_offset_range(tz, &min_off, &max_off);
    t = w - max_off - 1;
    offs[noffs++] = kiln_tz_offset(tz, t);
    *gap_end = 0;
    while (noffs < 8 && kiln_tz_next_transition(tz, t, &when, &before, &after) == KILN_OK &&
           when <= w - min_off + 1) {
        offs[noffs++] = after;
        if (after > before && when + before <= w && w < when + after)
            *gap_end = when;
        t = when;
    }
    for (int i = 0; i < noffs; i++) {
        int64_t u = w - offs[i];
        int dup = 0;
        if (kiln_tz_offset(tz, u) != offs[i])
            continue;
        for (int j = 0; j < n; j++)
            dup |= inst[j] == u;
        if (dup || n == 2)
            continue;
        inst[n++] = u;
    }
    if (n == 2 && inst[1] < inst[0]) {
        int64_t x = inst[0];
        inst[0] = inst[1];
        inst[1] = x;
    }
    return n;
}

/* ---- TZif ------------------------------------------------------------------------------ */

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static int read_header(const unsigned char *p, size_t len, struct tzif_counts *c, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return KILN_EINVAL;
    *version = p[4] == 0 ? 1 : p[4] - '0';
    c->isut = (uint32_t)be(p + 20, 4);
    c->isstd = (uint32_t)be(p + 24, 4);
    c->leap = (uint32_t)be(p + 28, 4);
    c->time = (uint32_t)be(p + 32, 4);
    c->type = (uint32_t)be(p + 36, 4);
    c->chars = (uint32_t)be(p + 40, 4);
    if (c->type == 0 || c->type > 256 || c->time > 100000 || c->chars > 65536 || c->leap > 100000 ||
        (c->isut != 0 && c->isut != c->type) || (c->isstd != 0 && c->isstd != c->type))
        return KILN_EINVAL;
    return KILN_OK;
}

static size_t block_size(const struct tzif_counts *c, int tsize)
{
    return (size_t)c->time * (size_t)tsize + c->time + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (size_t)(tsize + 4) + c->isstd + c->isut;
}

static int load_block(struct kiln_tz *tz, const unsigned char *p, const struct tzif_counts *c,
                      int tsize)
{
    const unsigned char *idx = p + (size_t)c->time * (size_t)tsize, *types = idx + c->time;
    if (c->leap != 0)
        return KILN_ENOTSUP;
    tz->ntrans = c->time;
    tz->ntypes = c->type;
    tz->trans = kiln_calloc(c->time + 1, sizeof(int64_t));
    tz->idx = kiln_calloc(c->time + 1, 1);
    tz->offs = kiln_calloc(c->type, sizeof(int32_t));
    if (tz->trans == NULL || tz->idx == NULL || tz->offs == NULL)
        return KILN_ENOMEM;
    for (uint32_t i = 0; i < c->type; i++) {
        int64_t off = be(types + 6 * i, 4);
        if (off <= -OFFSET_LIMIT || off >= OFFSET_LIMIT || types[6 * i + 4] > 1)
            return KILN_EINVAL;
        tz->offs[i] = (int32_t)off;
    }
    for (uint32_t i = 0; i < c->time; i++) {
        tz->trans[i] = be(p + (size_t)i * (size_t)tsize, tsize);
        tz->idx[i] = idx[i];
        if (idx[i] >= c->type || (i > 0 && tz->trans[i] <= tz->trans[i - 1]))
            return KILN_EINVAL;
    }
    return KILN_OK;
}

static void compute_range(struct kiln_tz *tz)
{
    tz->min_off = tz->max_off = tz->offs[0];
    for (size_t i = 0; i < tz->ntypes; i++) {
        if (tz->offs[i] < tz->min_off)
            tz->min_off = tz->offs[i];
        if (tz->offs[i] > tz->max_off)
            tz->max_off = tz->offs[i];
    }
    if (tz->has_footer) {
        int32_t o[2] = { tz->std_off, tz->footer_dst ? tz->dst_off : tz->std_off };
        for (int i = 0; i < 2; i++) {
            if (o[i] < tz->min_off)
                tz->min_off = o[i];
            if (o[i] > tz->max_off)
                tz->max_off = o[i];
        }
    }
}

int kiln_tz_parse(const char *name, const void *data, size_t len, struct kiln_tz **out,
                  struct kiln_err *err)
{
    const unsigned char *p = data;
    struct tzif_counts c1, c2;
    struct kiln_tz *tz;
    int version, rc;
    size_t off;

    *out = NULL;
    if (read_header(p, len, &c1, &version) != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "time zone '%s': not a TZif file", name);
    off = 44 + block_size(&c1, 4);
    tz = kiln_calloc(1, sizeof(*tz));
    if (tz == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_strlcpy(tz->name, name, sizeof(tz->name));
    if (version < 2) {
        rc = off <= len ? load_block(tz, p + 44, &c1, 4) : KILN_EINVAL;
    } else if (off > len || read_header(p + off, len - off, &c2, &version) != KILN_OK ||
               off + 44 + block_size(&c2, 8) > len) {
        rc = KILN_EINVAL;
    } else {
        const unsigned char *b = p + off + 44;
        size_t foot = off + 44 + block_size(&c2, 8), end;
        char footer[128];
        rc = load_block(tz, b, &c2, 8);
        if (rc == KILN_OK && (foot >= len || p[foot] != '\n'))
            rc = KILN_EINVAL;
        for (end = foot + 1; rc == KILN_OK && end < len && p[end] != '\n'; end++)
            ;
        if (rc == KILN_OK && (end >= len || end - foot - 1 >= sizeof(footer)))
            rc = KILN_EINVAL;
        if (rc == KILN_OK) {
            memcpy(footer, p + foot + 1, end - foot - 1);
            footer[end - foot - 1] = '\0';
            rc = parse_posix(tz, footer);
        }
    }
    if (rc != KILN_OK) {
        kiln_tz_free(tz);
        if (rc == KILN_ENOMEM)
            return kiln_err_set(err, rc, "out of memory");
        if (rc == KILN_ENOTSUP)
            return kiln_err_set(err, KILN_EINVAL,
                                "time zone '%s': leap-second zones are not supported", name);
        return kiln_err_set(err, KILN_EINVAL, "time zone '%s': malformed TZif data", name);
    }
    compute_range(tz);
    *out = tz;
    return KILN_OK;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name), seg = 0;
    if (n == 0 || n >= KILN_TZ_NAME_MAX || name[0] == '/')
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        if (ch == '/' || ch == '\0') {
            if (seg == 0 || (seg == 1 && name[i - 1] == '.') ||
                (seg == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
                return 0;
            seg = 0;
            continue;
        }
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '+' || ch == '.'))
            return 0;
        seg++;
    }
    return 1;
}

int kiln_tz_load(const char *name, struct kiln_tz **out, struct kiln_err *err)
{
    const char *dir = getenv("TZDIR");
    struct kiln_buf path, data;
    int rc;

    *out = NULL;
    if (!name_ok(name))
        return kiln_err_set(err, KILN_EINVAL, "time zone '%s': not a valid zone name", name);
    kiln_buf_init(&path, 4096);
    kiln_buf_init(&data, TZ_MAX_FILE);
    rc = kiln_buf_printf(&path, "%s/%s",
                         dir != NULL && dir[0] != '\0' ? dir : "/usr/share/zoneinfo", name);
    if (rc == KILN_OK)
        rc = kiln_read_file(path.buf, &data, NULL);
    if (rc == KILN_ENOENT && strcmp(name, "UTC") == 0) {
        /* A minimal system without tzdata still knows UTC. */
        struct kiln_tz *tz = kiln_calloc(1, sizeof(*tz));
        int32_t *offs = kiln_calloc(1, sizeof(int32_t));
        if (tz == NULL || offs == NULL) {
            kiln_free(tz);
            kiln_free(offs);
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        } else {
            kiln_strlcpy(tz->name, name, sizeof(tz->name));
            tz->offs = offs;
            tz->ntypes = 1;
            *out = tz;
            rc = KILN_OK;
        }
    } else if (rc == KILN_ENOENT || rc == KILN_EIO) {
        rc = kiln_err_set(err, KILN_EINVAL, "unknown time zone '%s' (no file %s)", name, path.buf);
    } else if (rc == KILN_ETOOBIG) {
        rc = kiln_err_set(err, KILN_EINVAL, "time zone '%s': file too large", name);
    } else if (rc == KILN_OK) {
        rc = kiln_tz_parse(name, data.buf, data.len, out, err);
    } else {
        rc = kiln_err_set(err, rc, "time zone '%s': %s", name, kiln_strerror(rc));
    }
    kiln_buf_release(&path);
    kiln_buf_release(&data);
    return rc;
}

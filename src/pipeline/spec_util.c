/*
 * spec_util.c - values around a spec: durations, dates in a schedule's time zone, run
 * parameters (defaults, types, values taken from events) and the next fire time.
 *
 * Pure functions over caller memory (results are new jansson values the caller owns);
 * thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"

#define MAX_DURATION_MS ((int64_t)366 * 86400 * 1000)

int kiln_pl_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = { { "ms", 1 },      { "s", 1000 },     { "m", 60000 },
                  { "h", 3600000 }, { "d", 86400000 }, { "w", 604800000 } };
    int64_t total = 0, v;
    size_t len = strlen(s), i = 0;

    if (len == 0 || len > 64)
        return KILN_EINVAL;
    if (kiln_parse_int64(s, len, &v) == KILN_OK) {
        if (v < 0 || v > MAX_DURATION_MS / 1000)
            return KILN_EINVAL;
        *ms = v * 1000;
        return KILN_OK;
    }
    while (i < len) {
        size_t d = i, u;
        size_t k;
        v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - d < 12)
            v = v * 10 + (s[i++] - '0');
        if (i == d)
            return KILN_EINVAL;
        u = i;
        while (i < len && s[i] >= 'a' && s[i] <= 'z')
            i++;
        for (k = 0; k < KILN_ARRAY_LEN(units); k++)
            if (strlen(units[k].unit) == i - u && memcmp(s + u, units[k].unit, i - u) == 0)
                break;
        if (k == KILN_ARRAY_LEN(units) || v > MAX_DURATION_MS / units[k].ms)
            return KILN_EINVAL;
        total += v * units[k].ms;
        if (total > MAX_DURATION_MS)
            return KILN_EINVAL;
    }
    *ms = total;
    return KILN_OK;
}

int kiln_pl_parse_date(const char *s, const struct kiln_tz *tz, int64_t *ms)
{
    size_t len = strlen(s);
    int64_t wall_ms, inst[2], gap_end = 0;
    int has_offset = 0, n;

    if (kiln_time_parse_iso(s, len, &wall_ms) != KILN_OK)
        return KILN_EINVAL;
    for (size_t i = 10; i < len; i++)
        if (s[i] == 'Z' || s[i] == 'z' || s[i] == '+' || s[i] == '-')
            has_offset = 1;
    if (has_offset || tz == NULL) {
        *ms = wall_ms;
        return KILN_OK;
    }
    /* A wall time in the zone: the first occurrence, or the end of a DST gap. */
    n = kiln_tz_wall_instants(tz, wall_ms / 1000, inst, &gap_end);
    if (n >= 1)
        *ms = inst[0] * 1000 + wall_ms % 1000;
    else
        *ms = gap_end * 1000;
    return KILN_OK;
}

int kiln_pl_spec_next_fire(const struct kiln_pl_spec *spec, int64_t after_ms, int64_t *next_ms)
{
    struct kiln_cron c;
    int64_t after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000), next;
    int rc;
    if (spec->cron_expr == NULL)
        return KILN_ENOENT;
    rc = kiln_cron_parse(spec->cron_expr, &c, NULL);
    if (rc == KILN_OK)
        rc = kiln_cron_next(&c, spec->tz, after_s, &next);
    if (rc != KILN_OK)
        return KILN_ENOENT;
    *next_ms = next * 1000;
    return KILN_OK;
}

/* ---- parameters ------------------------------------------------------------------------- */

static const char *const type_names[] = { "string", "integer", "number", "boolean" };

/* The canonical text of value v for parameter pa, or KILN_EINVAL. */
static int param_text(const struct kiln_pl_param *pa, const json_t *v, struct kiln_buf *out)
{
    char tmp[64];
    int64_t i;
    double d;
    int b;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (memchr(s, '\0', n) != NULL)
            return KILN_EINVAL;
        if (pa->type == KILN_PT_INTEGER && kiln_parse_int64(s, n, &i) != KILN_OK)
            return KILN_EINVAL;
        if (pa->type == KILN_PT_NUMBER && kiln_parse_double(s, n, &d) != KILN_OK)
            return KILN_EINVAL;
        if (pa->type == KILN_PT_BOOLEAN) {
            if (kiln_parse_bool(s, n, &b) != KILN_OK)
                return KILN_EINVAL;
            return kiln_buf_puts(out, b ? "true" : "false");
        }
        return kiln_buf_append(out, s, n);
    }
    if (json_is_boolean(v)) {
        if (pa->type != KILN_PT_BOOLEAN && pa->type != KILN_PT_STRING)
            return KILN_EINVAL;
        return kiln_buf_puts(out, json_is_true(v) ? "true" : "false");
    }
    if (json_is_integer(v)) {
        if (pa->type == KILN_PT_BOOLEAN)
            return KILN_EINVAL;
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
        return kiln_buf_puts(out, tmp);
    }
    if (json_is_real(v)) {
        if (pa->type == KILN_PT_BOOLEAN || pa->type == KILN_PT_INTEGER)
            return KILN_EINVAL;
        kiln_format_double(json_real_value(v), tmp, sizeof(tmp));
        return kiln_buf_puts(out, tmp);
    }
    return KILN_EINVAL;
}

int kiln_pl_param_check(const struct kiln_pl_param *pa, const json_t *v, struct kiln_err *err)
{
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, KILN_PL_PARAM_MAX);
    rc = param_text(pa, v, &b);
    kiln_buf_release(&b);
    if (rc == KILN_ENOMEM)
        return kiln_err_set(err, rc, "out of memory");
    if (rc != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "parameter '%s': expected a %s", pa->name,
                            type_names[pa->type]);
    return KILN_OK;
}

int kiln_pl_params_resolve(const struct kiln_pl_spec *spec, const json_t *given, json_t **out,
                           struct kiln_err *err)
{
    json_t *res = json_object();
    const char *key;
    json_t *v;
    int rc = KILN_OK;

    *out = NULL;
    if (res == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (given != NULL && !json_is_object(given)) {
        json_decref(res);
        return kiln_err_set(err, KILN_EINVAL, "params must be an object");
    }
    json_object_foreach((json_t *)(uintptr_t)given, key, v)
    {
        size_t i;
        for (i = 0; i < spec->nparams; i++)
            if (strcmp(spec->params[i].name, key) == 0)
                break;
        if (i == spec->nparams) {
            rc = kiln_err_set(err, KILN_EINVAL, "pipeline '%s' has no parameter '%.100s'",
                              spec->name, key);
            break;
        }
    }
    for (size_t i = 0; i < spec->nparams && rc == KILN_OK; i++) {
        const struct kiln_pl_param *pa = &spec->params[i];
        json_t *gv = given != NULL ? json_object_get(given, pa->name) : NULL;
        struct kiln_buf b;
        kiln_buf_init(&b, KILN_PL_PARAM_MAX);
        if (gv != NULL && !json_is_null(gv)) {
            rc = param_text(pa, gv, &b);
            if (rc == KILN_EINVAL)
                rc = kiln_err_set(err, KILN_EINVAL, "parameter '%s': expected a %s", pa->name,
                                  type_names[pa->type]);
        } else if (pa->def != NULL) {
            rc = kiln_buf_puts(&b, pa->def);
        } else {
            rc = kiln_err_set(err, KILN_EINVAL, "pipeline '%s' needs a value for parameter '%s'",
                              spec->name, pa->name);
        }
        if (rc == KILN_ETOOBIG)
            rc = kiln_err_set(err, KILN_EINVAL, "parameter '%s': value too long", pa->name);
        else if (rc == KILN_ENOMEM)
            rc = kiln_err_set(err, rc, "out of memory");
        if (rc == KILN_OK && json_object_set_new(res, pa->name, json_string(b.buf)) != 0)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        kiln_buf_release(&b);
    }
    if (rc != KILN_OK) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return KILN_OK;
}

int kiln_pl_params_from_event(const struct kiln_pl_spec *spec, const json_t *event, json_t **out,
                              struct kiln_err *err)
{
    json_t *given = json_object();
    int rc;
    if (given == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < spec->nparams; i++) {
        json_t *v = json_object_get(event, spec->params[i].name);
        if (v != NULL && (json_is_string(v) || json_is_number(v) || json_is_boolean(v)) &&
            json_object_set(given, spec->params[i].name, v) != 0) {
            json_decref(given);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    rc = kiln_pl_params_resolve(spec, given, out, err);
    json_decref(given);
    return rc;
}

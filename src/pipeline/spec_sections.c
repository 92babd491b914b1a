/*
 * spec_sections.c - the top-level sections of a pipeline spec that are not tasks: params,
 * schedule (cron, time zone, catchup, start date), triggers and pools. Same rules as spec.c:
 * every key checked, errors with line and column, everything in the spec's arena.
 */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "pipeline/spec_int.h"

static int read_param(struct spec_parser *p, const struct kiln_yn *k, const struct kiln_yn *v,
                      struct kiln_pl_param *pa)
{
    static const char *const keys[] = { "default", "description", "type", NULL };
    static const char *const types[] = { "string", "integer", "number", "boolean" };
    const struct kiln_yn *d = v, *x;
    char where[200];
    int rc;

    snprintf(where, sizeof(where), "params.%.128s", k->s);
    if (!kiln_spec_name_ok(k->s, 0) || strchr(k->s, '-') != NULL)
        return kiln_spec_fail(p, k, "parameter name '%.60s' must be letters, digits and '_'", k->s);
    pa->name = k->s;
    pa->line = k->line;
    pa->type = KILN_PT_STRING;
    if (v->kind == KILN_YN_MAP) {
        if ((rc = kiln_spec_check_keys(p, v, where, keys)) != KILN_OK)
            return rc;
        d = kiln_yn_get(v, "default");
        if ((x = kiln_yn_get(v, "description")) != NULL &&
            (rc = kiln_spec_get_str(p, x, where, &pa->description)) != KILN_OK)
            return rc;
        if ((x = kiln_yn_get(v, "type")) != NULL) {
            size_t i;
            for (i = 0; i < 4; i++)
                if (x->kind == KILN_YN_SCALAR && strcmp(x->s, types[i]) == 0)
                    break;
            if (i == 4)
                return kiln_spec_fail(p, x, "%s.type: expected string, integer, number or boolean",
                                      where);
            pa->type = (enum kiln_pl_ptype)i;
        }
    } else if (v->kind != KILN_YN_SCALAR) {
        return kiln_spec_fail(p, v, "%s: expected a default value or a mapping", where);
    }
    if (d != NULL && !kiln_yn_is_null(d)) {
        json_t *one;
        if (d->kind != KILN_YN_SCALAR)
            return kiln_spec_fail(p, d, "%s: the default must be a string, number or boolean",
                                  where);
        pa->def = d->s;
        one = json_string(d->s);
        if (one == NULL)
            return kiln_spec_oom(p);
        rc = kiln_pl_param_check(pa, one, NULL);
        json_decref(one);
        if (rc == KILN_ENOMEM)
            return kiln_spec_oom(p);
        if (rc != KILN_OK)
            return kiln_spec_fail(p, d, "%s: default '%.40s' is not a valid %s", where, d->s,
                                  types[pa->type]);
    }
    return KILN_OK;
}

int kiln_spec_read_params(struct spec_parser *p, const struct kiln_yn *root)
{
    const struct kiln_yn *n = kiln_yn_get(root, "params");
    struct kiln_pl_param *pa;
    int rc;
    if (n == NULL || kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = kiln_spec_want_map(p, n, "params")) != KILN_OK)
        return rc;
    pa = kiln_arena_calloc(p->a, n->n / 2 + 1, sizeof(*pa));
    if (pa == NULL)
        return kiln_spec_oom(p);
    for (size_t i = 0; i < n->n; i += 2)
        if ((rc = read_param(p, n->kids[i], n->kids[i + 1], &pa[i / 2])) != KILN_OK)
            return rc;
    p->spec->params = pa;
    p->spec->nparams = n->n / 2;
    return KILN_OK;
}

static void tz_cleanup(void *tz)
{
    kiln_tz_free(tz);
}

int kiln_spec_read_schedule(struct spec_parser *p, const struct kiln_yn *root)
{
    static const char *const keys[] = { "cron", "timezone", "catchup", "start_date", NULL };
    const struct kiln_yn *n = kiln_yn_get(root, "schedule"), *cron = n, *x;
    struct kiln_pl_spec *s = p->spec;
    struct kiln_err e = { 0 };
    int rc;

    s->tz_name = "UTC";
    if (n == NULL || kiln_yn_is_null(n))
        return KILN_OK;
    if (n->kind == KILN_YN_MAP) {
        if ((rc = kiln_spec_check_keys(p, n, "schedule", keys)) != KILN_OK)
            return rc;
        cron = kiln_yn_get(n, "cron");
        if (cron == NULL)
            return kiln_spec_fail(p, n, "schedule: 'cron' is required");
        if ((x = kiln_yn_get(n, "timezone")) != NULL &&
            (rc = kiln_spec_get_str(p, x, "schedule.timezone", &s->tz_name)) != KILN_OK)
            return rc;
        if ((x = kiln_yn_get(n, "catchup")) != NULL &&
            (rc = kiln_spec_get_bool(p, x, "schedule.catchup", &s->catchup)) != KILN_OK)
            return rc;
    }
    if ((rc = kiln_spec_get_str(p, cron, "schedule.cron", &s->cron_expr)) != KILN_OK)
        return rc;
    if (kiln_cron_parse(s->cron_expr, &(struct kiln_cron){ 0 }, &e) != KILN_OK)
        return kiln_spec_fail(p, cron, "schedule: %s", e.msg);
    rc = kiln_tz_load(s->tz_name, &s->tz, &e);
    if (rc == KILN_OK && kiln_arena_cleanup_add(p->a, tz_cleanup, s->tz) != KILN_OK) {
        kiln_tz_free(s->tz);
        s->tz = NULL;
        return kiln_spec_oom(p);
    }
    if (rc != KILN_OK) {
        x = kiln_yn_get(n, "timezone");
        return rc == KILN_ENOMEM ? kiln_spec_oom(p)
                                 : kiln_spec_fail(p, x != NULL ? x : n, "schedule: %s", e.msg);
    }
    if ((x = kiln_yn_get(n, "start_date")) != NULL) {
        const char *d = NULL;
        if ((rc = kiln_spec_get_str(p, x, "schedule.start_date", &d)) != KILN_OK)
            return rc;
        if (kiln_pl_parse_date(d, s->tz, &s->start_date_ms) != KILN_OK)
            return kiln_spec_fail(p, x, "schedule.start_date: expected YYYY-MM-DD[THH:MM[:SS]]");
    }
    return KILN_OK;
}

static int read_trigger(struct spec_parser *p, const struct kiln_yn *n, struct kiln_pl_trigger *t)
{
    static const char *const keys[] = { "type", "model", "alias", NULL };
    static const char *const names[] = { "manual", "model_version", "alias", "drift" };
    const struct kiln_yn *type = n, *x;
    size_t i;
    int rc;
    t->line = n->line;
    if (n->kind == KILN_YN_MAP) {
        if ((rc = kiln_spec_check_keys(p, n, "triggers[]", keys)) != KILN_OK)
            return rc;
        if ((type = kiln_yn_get(n, "type")) == NULL)
            return kiln_spec_fail(p, n, "triggers[]: 'type' is required");
    }
    if (type->kind != KILN_YN_SCALAR)
        return kiln_spec_fail(p, type, "triggers[]: expected a trigger type");
    for (i = 0; i < 4; i++)
        if (strcmp(type->s, names[i]) == 0)
            break;
    if (i == 4)
        return kiln_spec_fail(p, type,
                              "triggers[]: unknown type '%.40s' (manual, model_version, alias, "
                              "drift)",
                              type->s);
    t->kind = (enum kiln_pl_trig)i;
    if ((x = kiln_yn_get(n, "model")) != NULL &&
        (rc = kiln_spec_get_str(p, x, "model", &t->model)) != KILN_OK)
        return rc;
    if ((x = kiln_yn_get(n, "alias")) != NULL) {
        if (t->kind != KILN_TRIG_ALIAS)
            return kiln_spec_fail(p, x, "triggers[]: 'alias' only applies to type alias");
        if ((rc = kiln_spec_get_str(p, x, "alias", &t->alias)) != KILN_OK)
            return rc;
    }
    if (t->kind == KILN_TRIG_MANUAL && t->model != NULL)
        return kiln_spec_fail(p, x != NULL ? x : n, "triggers[]: manual triggers take no model");
    if (t->kind == KILN_TRIG_MANUAL)
        p->spec->manual_allowed = 1;
    return KILN_OK;
}

int kiln_spec_read_triggers(struct spec_parser *p, const struct kiln_yn *root)
{
    const struct kiln_yn *n = kiln_yn_get(root, "triggers");
    struct kiln_pl_trigger *t;
    int rc;
    if (n == NULL || kiln_yn_is_null(n)) {
        p->spec->manual_allowed = 1;
        return KILN_OK;
    }
    if (n->kind != KILN_YN_SEQ)
        return kiln_spec_fail(p, n, "triggers: expected a list");
    t = kiln_arena_calloc(p->a, n->n + 1, sizeof(*t));
    if (t == NULL)
        return kiln_spec_oom(p);
    for (size_t i = 0; i < n->n; i++)
        if ((rc = read_trigger(p, n->kids[i], &t[i])) != KILN_OK)
            return rc;
    p->spec->triggers = t;
    p->spec->ntriggers = n->n;
    return KILN_OK;
}

int kiln_spec_read_pools(struct spec_parser *p, const struct kiln_yn *root)
{
    static const char *const keys[] = { "slots", "description", NULL };
    const struct kiln_yn *n = kiln_yn_get(root, "pools");
    struct kiln_pl_pool *pl;
    int rc;
    if (n == NULL || kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = kiln_spec_want_map(p, n, "pools")) != KILN_OK)
        return rc;
    pl = kiln_arena_calloc(p->a, n->n / 2 + 1, sizeof(*pl));
    if (pl == NULL)
        return kiln_spec_oom(p);
    for (size_t i = 0; i < n->n; i += 2) {
        const struct kiln_yn *k = n->kids[i], *v = n->kids[i + 1];
        int64_t slots = 0;
        if (!kiln_spec_name_ok(k->s, 1))
            return kiln_spec_fail(p, k, "pool name '%.60s' is not valid", k->s);
        if (v->kind == KILN_YN_MAP) {
            if ((rc = kiln_spec_check_keys(p, v, "pools", keys)) != KILN_OK)
                return rc;
            if (kiln_yn_get(v, "slots") == NULL)
                return kiln_spec_fail(p, v, "pools.%s: 'slots' is required", k->s);
            v = kiln_yn_get(v, "slots");
        }
        if ((rc = kiln_spec_get_int(p, v, "pool slots", 1, 100000, &slots)) != KILN_OK)
            return rc;
        pl[i / 2].name = k->s;
        pl[i / 2].slots = (int)slots;
        pl[i / 2].line = k->line;
    }
    p->spec->pools = pl;
    p->spec->npools = n->n / 2;
    return KILN_OK;
}

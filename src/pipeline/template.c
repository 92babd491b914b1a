/*
 * template.c - "{{ expr }}" templates in task commands, env values, working folders and step
 * arguments (a small, safe subset of Airflow's Jinja).
 *
 * Expressions:
 *   params.NAME                 the run's value of parameter NAME
 *   run.id                      the pipeline run id
 *   run.logical_date            ISO 8601 in UTC ("2024-03-31T01:00:00Z")
 *   run.ds / run.ds_nodash      the logical date's day, "2024-03-31" / "20240331" (UTC)
 *   run.trigger                 what started the run (manual, schedule, backfill, ...)
 *   pipeline.name               the pipeline's name
 *   task.name / task.try_number the task being rendered and its try (1, 2, ...)
 *   tasks.T.outputs.K           output K that upstream task T wrote to $KILN_OUTPUTS
 *   'text' or "text"            a literal (how to write "{{" itself: {{ '{{' }})
 * Spaces around an expression are optional. Anything else, an unclosed "{{", or an empty
 * expression is an error.
 *
 * kiln_tpl_scan walks a template and hands each piece to a visitor, which is how both the
 * validator (checking references when a spec is applied) and the renderer (at task start)
 * work, without allocating. Pure functions; thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "pipeline/pipeline_int.h"

static int ident_char(char c, int dots)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || (dots && c == '.');
}

static int span_ident(const char *s, size_t len, int dots)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!ident_char(s[i], dots))
            return 0;
    return 1;
}

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static int eq(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Classifies the trimmed expression e[0..len). */
static int parse_expr(const char *e, size_t len, struct kiln_tpl_part *p)
{
    static const struct {
        const char *name;
        enum kiln_tpl_kind kind;
    } simple[] = {
        { "run.id", KILN_TPL_RUN_ID },       { "run.logical_date", KILN_TPL_LOGICAL_DATE },
        { "run.ds", KILN_TPL_DS },           { "run.ds_nodash", KILN_TPL_DS_NODASH },
        { "run.trigger", KILN_TPL_TRIGGER }, { "pipeline.name", KILN_TPL_PIPELINE },
        { "task.name", KILN_TPL_TASK },      { "task.try_number", KILN_TPL_TRY },
    };
    memset(p, 0, sizeof(*p));
    if (len >= 2 && (e[0] == '\'' || e[0] == '"') && e[len - 1] == e[0]) {
        if (memchr(e + 1, e[0], len - 2) != NULL)
            return KILN_EINVAL;
        p->kind = KILN_TPL_TEXT;
        p->a = e + 1;
        p->alen = len - 2;
        return KILN_OK;
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(simple); i++) {
        if (eq(e, len, simple[i].name)) {
            p->kind = simple[i].kind;
            return KILN_OK;
        }
    }
    if (has_prefix(e, len, "params.")) {
        p->kind = KILN_TPL_PARAM;
        p->a = e + 7;
        p->alen = len - 7;
        return span_ident(p->a, p->alen, 0) ? KILN_OK : KILN_EINVAL;
    }
    if (has_prefix(e, len, "tasks.")) {
        const char *t = e + 6, *end = e + len;
        const char *dot = memchr(t, '.', (size_t)(end - t));
        if (dot == NULL || !has_prefix(dot, (size_t)(end - dot), ".outputs."))
            return KILN_EINVAL;
        p->kind = KILN_TPL_OUTPUT;
        p->a = t;
        p->alen = (size_t)(dot - t);
        p->b = dot + 9;
        p->blen = (size_t)(end - p->b);
        return span_ident(p->a, p->alen, 0) && span_ident(p->b, p->blen, 1) ? KILN_OK : KILN_EINVAL;
    }
    return KILN_EINVAL;
}

int kiln_tpl_scan(const char *s, kiln_tpl_visit_fn visit, void *ctx, struct kiln_err *err)
{
    const char *p = s;
    int rc;
    while (*p != '\0') {
        const char *open = strstr(p, "{{"), *close, *e, *ee;
        struct kiln_tpl_part part;
        if (open == NULL)
            open = p + strlen(p);
        if (open > p) {
            memset(&part, 0, sizeof(part));
            part.kind = KILN_TPL_TEXT;
            part.a = p;
            part.alen = (size_t)(open - p);
            rc = visit(ctx, &part, err);
            if (rc != KILN_OK)
                return rc;
        }
        if (*open == '\0')
            break;
        close = strstr(open + 2, "}}");
        if (close == NULL)
            return kiln_err_set(err, KILN_EINVAL, "template '%s': unclosed '{{'", s);
        e = open + 2;
        ee = close;
        while (e < ee && (*e == ' ' || *e == '\t'))
            e++;
        while (ee > e && (ee[-1] == ' ' || ee[-1] == '\t'))
            ee--;
        if (e == ee || parse_expr(e, (size_t)(ee - e), &part) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "template '%s': unknown expression '{{%.*s}}' (use params.NAME, "
                                "run.id, run.logical_date, run.ds, tasks.TASK.outputs.KEY, ...)",
                                s, (int)(close - open - 2), open + 2);
        rc = visit(ctx, &part, err);
        if (rc != KILN_OK)
            return rc;
        p = close + 2;
    }
    return KILN_OK;
}

int kiln_tpl_has_expr(const char *s)
{
    return strstr(s, "{{") != NULL;
}

struct render {
    const struct kiln_tpl_ctx *c;
    struct kiln_buf *out;
};

static int put(struct kiln_buf *out, const char *s, size_t n, struct kiln_err *err)
{
    int rc = kiln_buf_append(out, s, n);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "rendered template is too large");
    return KILN_OK;
}

static int render_visit(void *vctx, const struct kiln_tpl_part *p, struct kiln_err *err)
{
    struct render *r = vctx;
    const struct kiln_tpl_ctx *c = r->c;
    char tmp[64];
    const char *v;

    switch (p->kind) {
    case KILN_TPL_TEXT:
        return put(r->out, p->a, p->alen, err);
    case KILN_TPL_PARAM:
        v = c->param != NULL ? c->param(c->user, p->a, p->alen) : NULL;
        if (v == NULL)
            return kiln_err_set(err, KILN_ENOENT, "template: no parameter '%.*s'", (int)p->alen,
                                p->a);
        return put(r->out, v, strlen(v), err);
    case KILN_TPL_OUTPUT:
        v = c->output != NULL ? c->output(c->user, p->a, p->alen, p->b, p->blen) : NULL;
        if (v == NULL)
            return kiln_err_set(err, KILN_ENOENT,
                                "template: task '%.*s' has no output '%.*s' (did it run and write "
                                "'%.*s=...' to $KILN_OUTPUTS?)",
                                (int)p->alen, p->a, (int)p->blen, p->b, (int)p->blen, p->b);
        return put(r->out, v, strlen(v), err);
    case KILN_TPL_RUN_ID:
        return put(r->out, c->run_id, strlen(c->run_id), err);
    case KILN_TPL_LOGICAL_DATE:
        kiln_pl_format_date(c->logical_ms, KILN_PL_DATE_ISO, tmp, sizeof(tmp));
        return put(r->out, tmp, strlen(tmp), err);
    case KILN_TPL_DS:
        kiln_pl_format_date(c->logical_ms, KILN_PL_DATE_DS, tmp, sizeof(tmp));
        return put(r->out, tmp, strlen(tmp), err);
    case KILN_TPL_DS_NODASH:
        kiln_pl_format_date(c->logical_ms, KILN_PL_DATE_DS_NODASH, tmp, sizeof(tmp));
        return put(r->out, tmp, strlen(tmp), err);
    case KILN_TPL_TRIGGER:
        return put(r->out, c->trigger, strlen(c->trigger), err);
    case KILN_TPL_PIPELINE:
        return put(r->out, c->pipeline, strlen(c->pipeline), err);
    case KILN_TPL_TASK:
        return put(r->out, c->task, strlen(c->task), err);
    case KILN_TPL_TRY:
        snprintf(tmp, sizeof(tmp), "%d", c->try_number);
        return put(r->out, tmp, strlen(tmp), err);
    }
    return KILN_OK;
}

int kiln_tpl_render(const char *s, const struct kiln_tpl_ctx *ctx, struct kiln_buf *out,
                    struct kiln_err *err)
{
    struct render r = { ctx, out };
    return kiln_tpl_scan(s, render_visit, &r, err);
}

void kiln_pl_format_date(int64_t ms, enum kiln_pl_date_fmt fmt, char *out, size_t size)
{
    char iso[40];
    kiln_time_format_iso(ms, iso, sizeof(iso)); /* 2024-03-31T01:00:00.000Z */
    if (fmt == KILN_PL_DATE_DS) {
        snprintf(out, size, "%.10s", iso);
    } else if (fmt == KILN_PL_DATE_DS_NODASH) {
        snprintf(out, size, "%.4s%.2s%.2s", iso, iso + 5, iso + 8);
    } else if (ms % 1000 == 0) {
        snprintf(out, size, "%.19sZ", iso);
    } else {
        snprintf(out, size, "%s", iso);
    }
}

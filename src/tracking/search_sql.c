/*
 * search_sql.c - SQL text with bound arguments (struct kiln_sql) and the translation of parsed
 * search filters into WHERE conditions (search_filter.h).
 *
 * Invariant: user-supplied text never enters the SQL text. kiln_sql_add is only ever called
 * with constants from this file or from a schema; every value goes through kiln_sql_text /
 * _int64 / _double, which append a `?` and record the argument for kiln_sql_bind.
 *
 * The builder has a sticky error: after the first failure every append is a no-op returning
 * that error, so callers can chain appends and check once.
 */
#include <string.h>

#include "core/mem.h"
#include "store/store.h"
#include "tracking/search_filter.h"

void kiln_sql_init(struct kiln_sql *q)
{
    memset(q, 0, sizeof(*q));
    kiln_buf_init(&q->text, KILN_SQL_MAX_TEXT);
}

void kiln_sql_release(struct kiln_sql *q)
{
    kiln_buf_release(&q->text);
    kiln_free(q->args);
    q->args = NULL;
    q->nargs = q->cap = 0;
    q->rc = KILN_OK;
}

int kiln_sql_status(const struct kiln_sql *q)
{
    return q->rc;
}

int kiln_sql_add(struct kiln_sql *q, const char *sql)
{
    if (q->rc == KILN_OK)
        q->rc = kiln_buf_puts(&q->text, sql);
    return q->rc;
}

static struct kiln_sql_arg *push_arg(struct kiln_sql *q)
{
    if (q->rc != KILN_OK)
        return NULL;
    if (q->nargs == KILN_SQL_MAX_ARGS) {
        q->rc = KILN_ETOOBIG;
        return NULL;
    }
    if (q->nargs == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        struct kiln_sql_arg *na = kiln_reallocarray(q->args, cap, sizeof(*na));
        if (na == NULL) {
            q->rc = KILN_ENOMEM;
            return NULL;
        }
        q->args = na;
        q->cap = cap;
    }
    q->rc = kiln_buf_putc(&q->text, '?');
    if (q->rc != KILN_OK)
        return NULL;
    return &q->args[q->nargs++];
}

int kiln_sql_text(struct kiln_sql *q, const char *s)
{
    struct kiln_sql_arg *a = push_arg(q);
    if (a != NULL) {
        a->type = KILN_SQL_TEXT;
        a->text = s;
    }
    return q->rc;
}

int kiln_sql_int64(struct kiln_sql *q, int64_t v)
{
    struct kiln_sql_arg *a = push_arg(q);
    if (a != NULL) {
        a->type = KILN_SQL_INT64;
        a->i = v;
    }
    return q->rc;
}

int kiln_sql_double(struct kiln_sql *q, double v)
{
    struct kiln_sql_arg *a = push_arg(q);
    if (a != NULL) {
        a->type = KILN_SQL_DOUBLE;
        a->d = v;
    }
    return q->rc;
}

int kiln_sql_bind(const struct kiln_sql *q, struct kiln_stmt *st, int first)
{
    for (size_t i = 0; i < q->nargs; i++) {
        const struct kiln_sql_arg *a = &q->args[i];
        int idx = first + (int)i, rc;
        switch (a->type) {
        case KILN_SQL_TEXT:
            rc = kiln_stmt_bind_text(st, idx, a->text);
            break;
        case KILN_SQL_INT64:
            rc = kiln_stmt_bind_int64(st, idx, a->i);
            break;
        default:
            rc = kiln_stmt_bind_double(st, idx, a->d);
        }
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int add_number(struct kiln_sql *q, const struct kiln_sf_value *v)
{
    return v->is_int ? kiln_sql_int64(q, v->inum) : kiln_sql_double(q, v->num);
}

static const char *sql_op(enum kiln_sf_op op)
{
    switch (op) {
    case KILN_SF_EQ:
        return " = ";
    case KILN_SF_NE:
        return " != ";
    case KILN_SF_LT:
        return " < ";
    case KILN_SF_LE:
        return " <= ";
    case KILN_SF_GT:
        return " > ";
    case KILN_SF_GE:
        return " >= ";
    default:
        return " LIKE ";
    }
}

int kiln_sf_sql_compare(struct kiln_sql *q, const char *col, const char *nan_col,
                        const struct kiln_sf_cmp *c)
{
    const struct kiln_sf_value *v = &c->value;

    if (v->kind == KILN_SF_V_LIST) {
        kiln_sql_add(q, col);
        kiln_sql_add(q, c->op == KILN_SF_NOT_IN ? " NOT IN (" : " IN (");
        for (size_t i = 0; i < v->nlist; i++) {
            if (i > 0)
                kiln_sql_add(q, ", ");
            kiln_sql_text(q, v->list[i]);
        }
        return kiln_sql_add(q, ")");
    }
    if (c->op == KILN_SF_ILIKE) {
        kiln_sql_add(q, "LOWER(");
        kiln_sql_add(q, col);
        kiln_sql_add(q, ") LIKE LOWER(");
        kiln_sql_text(q, v->str);
        return kiln_sql_add(q, ")");
    }
    if (v->kind == KILN_SF_V_NUMBER && nan_col != NULL) {
        /* A stored NaN is unequal to every number and in no order relation with any. */
        kiln_sql_add(q, "(");
        kiln_sql_add(q, nan_col);
        kiln_sql_add(q, c->op == KILN_SF_NE ? " = 1 OR " : " = 0 AND ");
        kiln_sql_add(q, col);
        kiln_sql_add(q, sql_op(c->op));
        add_number(q, v);
        return kiln_sql_add(q, ")");
    }
    kiln_sql_add(q, col);
    kiln_sql_add(q, sql_op(c->op));
    if (v->kind == KILN_SF_V_NUMBER)
        return add_number(q, v);
    return kiln_sql_text(q, v->str);
}

/* Expands a template: "{key}" -> bound key, "{cmp}" -> comparison on col. */
static int expand(struct kiln_sql *q, const char *tmpl, const char *col, const char *nan_col,
                  const struct kiln_sf_cmp *c)
{
    const char *s = tmpl;
    while (*s != '\0' && q->rc == KILN_OK) {
        const char *brace = strchr(s, '{');
        if (brace == NULL) {
            kiln_sql_add(q, s);
            break;
        }
        if (brace > s) {
            if (q->rc == KILN_OK)
                q->rc = kiln_buf_append(&q->text, s, (size_t)(brace - s));
        }
        if (strncmp(brace, "{key}", 5) == 0) {
            kiln_sql_text(q, c->key);
            s = brace + 5;
        } else if (strncmp(brace, "{cmp}", 5) == 0) {
            kiln_sf_sql_compare(q, col, nan_col, c);
            s = brace + 5;
        } else {
            if (q->rc == KILN_OK)
                q->rc = kiln_buf_putc(&q->text, '{');
            s = brace + 1;
        }
    }
    return q->rc;
}

int kiln_sf_to_sql(const struct kiln_sf_filter *f, const struct kiln_sf_schema *schema,
                   struct kiln_sql *q, struct kiln_err *err)
{
    for (size_t i = 0; f != NULL && i < f->n; i++) {
        const struct kiln_sf_cmp *c = &f->cmps[i];
        const struct kiln_sf_kind_sql *k = NULL;
        const char *col = NULL;

        switch (c->kind) {
        case KILN_SF_METRIC:
            k = &schema->metric;
            col = k->value_col;
            break;
        case KILN_SF_PARAM:
            k = &schema->param;
            col = k->value_col;
            break;
        case KILN_SF_TAG:
            k = &schema->tag;
            col = k->value_col;
            break;
        case KILN_SF_DATASET:
            k = &schema->dataset;
            col = c->field != NULL ? c->field->column : NULL;
            break;
        default:
            col = c->field != NULL ? c->field->column : NULL;
        }
        if (col == NULL || (k != NULL && k->tmpl == NULL))
            return kiln_err_set(err, KILN_EINVAL, "%s cannot be searched by %s '%s'",
                                schema->entity, kiln_sf_kind_name(c->kind), c->key);
        kiln_sql_add(q, " AND (");
        if (k != NULL)
            expand(q, k->tmpl, col, k->nan_col, c);
        else
            kiln_sf_sql_compare(q, col, NULL, c);
        kiln_sql_add(q, ")");
    }
    if (q->rc == KILN_ENOMEM)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory building the search query");
    if (q->rc != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "search filter too large");
    return KILN_OK;
}

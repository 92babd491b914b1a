/*
 * search_filter.c - parser for MLflow's search filter and order_by language
 * (search_filter.h has the grammar).
 *
 * A hand-written recursive-descent parser over the text: `struct parser` holds the input and
 * a cursor; each rule advances the cursor only on success and records an error with the
 * 1-based character position otherwise. Syntax is read first (prefix, key, operator, value),
 * then each comparison is resolved against the entity schema (prefix known, attribute known,
 * operator allowed, value of the right type). All output comes from the caller's arena; the
 * parser itself allocates nothing else, so a failure leaves nothing to free.
 *
 * Error wording follows MLflow's SearchUtils where clients or users may recognise it ("Invalid
 * comparator ...", "Invalid attribute key ...", "Expected numeric value type ...").
 */
#include <string.h>

#include "core/str.h"
#include "tracking/search_filter.h"

struct parser {
    const char *s;
    size_t n, i;
    struct kiln_arena *arena;
    struct kiln_err *err;
    const char *what; /* "filter" or "order_by clause" */
};

/* One identifier as written: prefix (may be empty) and unquoted key. */
struct ident {
    const char *prefix; /* NUL-terminated arena copy; "" when absent */
    const char *key;
    size_t pos; /* 1-based position of the identifier */
};

static int nomem(struct parser *p)
{
    return kiln_err_set(p->err, KILN_ENOMEM, "out of memory parsing the search %s", p->what);
}

static int fail_at(struct parser *p, size_t pos, const char *msg)
{
    return kiln_err_set(p->err, KILN_EINVAL, "Invalid %s '%.80s%s' at position %zu: %s", p->what,
                        p->s, p->n > 80 ? "..." : "", pos + 1, msg);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_word(char c)
{
    unsigned char u = (unsigned char)c;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' ||
           u == '.' || u >= 0x80;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void skip_ws(struct parser *p)
{
    while (p->i < p->n && is_space(p->s[p->i]))
        p->i++;
}

static int at_end(struct parser *p)
{
    skip_ws(p);
    return p->i >= p->n;
}

/* True (and consumes it) when the next word is `kw`, case-insensitively, as a whole word. */
static int accept_keyword(struct parser *p, const char *kw)
{
    size_t len = strlen(kw);
    struct kiln_str w = { p->s + p->i, len };
    if (p->i + len > p->n || !kiln_str_ieq_cstr(w, kw))
        return 0;
    if (p->i + len < p->n && is_word(p->s[p->i + len]))
        return 0;
    p->i += len;
    return 1;
}

/* Length of the bare word at the cursor. */
static size_t word_len(const struct parser *p)
{
    size_t j = p->i;
    while (j < p->n && is_word(p->s[j]))
        j++;
    return j - p->i;
}

/*
 * Reads a string quoted with `q` at the cursor (which is on the opening quote) into an arena
 * string. A doubled quote or backslash-quote is one quote; backslash-backslash is one
 * backslash; every other byte is literal.
 */
static int read_quoted(struct parser *p, char q, const char **out)
{
    size_t start = p->i, j = p->i + 1, len = 0;
    char *dst;

    /* First pass: find the end and the unescaped length. */
    for (;;) {
        if (j >= p->n)
            return fail_at(p, start, "unterminated quoted string");
        if (p->s[j] == '\\' && j + 1 < p->n && (p->s[j + 1] == q || p->s[j + 1] == '\\')) {
            j += 2;
        } else if (p->s[j] == q) {
            if (j + 1 < p->n && p->s[j + 1] == q) {
                j += 2;
            } else {
                break;
            }
        } else {
            j++;
        }
        len++;
    }
    dst = kiln_arena_alloc(p->arena, len + 1);
    if (dst == NULL)
        return nomem(p);
    len = 0;
    for (size_t k = start + 1; k < j;) {
        if ((p->s[k] == '\\' && k + 1 < j && (p->s[k + 1] == q || p->s[k + 1] == '\\')) ||
            (p->s[k] == q)) {
            dst[len++] = p->s[k + 1];
            k += 2;
        } else {
            dst[len++] = p->s[k++];
        }
    }
    dst[len] = '\0';
    p->i = j + 1;
    *out = dst;
    return KILN_OK;
}

static int reject_unsupported_word(struct parser *p)
{
    size_t save = p->i;
    if (accept_keyword(p, "OR")) {
        p->i = save;
        return fail_at(p, save, "OR is not supported in search filters (only AND)");
    }
    if (accept_keyword(p, "NOT")) {
        p->i = save;
        return fail_at(p, save, "NOT is only supported as NOT IN");
    }
    return KILN_OK;
}

static int parse_ident(struct parser *p, struct ident *id)
{
    size_t wl;
    int rc;

    skip_ws(p);
    id->pos = p->i;
    id->prefix = "";
    if (p->i >= p->n)
        return fail_at(p, p->i, "expected an identifier");
    if (p->s[p->i] == '(')
        return fail_at(p, p->i, "parentheses are not supported for grouping (only AND)");
    if (p->s[p->i] == '`' || p->s[p->i] == '"')
        return read_quoted(p, p->s[p->i], &id->key);
    rc = reject_unsupported_word(p);
    if (rc != KILN_OK)
        return rc;
    wl = word_len(p);
    if (wl == 0)
        return fail_at(p, p->i, "expected an identifier such as metrics.acc or params.`my key`");
    {
        const char *w = p->s + p->i;
        const char *dot = memchr(w, '.', wl);
        if (dot == NULL) {
            id->key = kiln_arena_strndup(p->arena, w, wl);
            if (id->key == NULL)
                return nomem(p);
            p->i += wl;
            return KILN_OK;
        }
        id->prefix = kiln_arena_strndup(p->arena, w, (size_t)(dot - w));
        if (id->prefix == NULL)
            return nomem(p);
        if (dot - w == 0)
            return fail_at(p, id->pos, "identifier has an empty prefix before '.'");
        if ((size_t)(dot - w) + 1 == wl) {
            /* "prefix." followed directly by a quoted key. */
            p->i += wl;
            if (p->i < p->n && (p->s[p->i] == '`' || p->s[p->i] == '"'))
                return read_quoted(p, p->s[p->i], &id->key);
            return fail_at(p, p->i,
                           "expected a key after the '.' (quote it with backticks "
                           "if it contains spaces or symbols)");
        }
        id->key = kiln_arena_strndup(p->arena, dot + 1, wl - (size_t)(dot - w) - 1);
        if (id->key == NULL)
            return nomem(p);
        p->i += wl;
    }
    return KILN_OK;
}

static int parse_op(struct parser *p, enum kiln_sf_op *op)
{
    const char *c;
    skip_ws(p);
    c = p->s + p->i;
    if (p->i + 1 < p->n && c[0] == '!' && c[1] == '=') {
        *op = KILN_SF_NE;
        p->i += 2;
    } else if (p->i + 1 < p->n && c[0] == '<' && c[1] == '=') {
        *op = KILN_SF_LE;
        p->i += 2;
    } else if (p->i + 1 < p->n && c[0] == '>' && c[1] == '=') {
        *op = KILN_SF_GE;
        p->i += 2;
    } else if (p->i + 1 < p->n && c[0] == '<' && c[1] == '>') {
        return fail_at(p, p->i, "unsupported comparator '<>' (use '!=')");
    } else if (p->i + 1 < p->n && c[0] == '=' && c[1] == '=') {
        return fail_at(p, p->i, "unsupported comparator '==' (use '=')");
    } else if (p->i < p->n && c[0] == '=') {
        *op = KILN_SF_EQ;
        p->i++;
    } else if (p->i < p->n && c[0] == '<') {
        *op = KILN_SF_LT;
        p->i++;
    } else if (p->i < p->n && c[0] == '>') {
        *op = KILN_SF_GT;
        p->i++;
    } else if (accept_keyword(p, "LIKE")) {
        *op = KILN_SF_LIKE;
    } else if (accept_keyword(p, "ILIKE")) {
        *op = KILN_SF_ILIKE;
    } else if (accept_keyword(p, "IN")) {
        *op = KILN_SF_IN;
    } else if (accept_keyword(p, "NOT")) {
        skip_ws(p);
        if (!accept_keyword(p, "IN"))
            return fail_at(p, p->i, "expected IN after NOT");
        *op = KILN_SF_NOT_IN;
    } else {
        return fail_at(p, p->i,
                       "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)");
    }
    return KILN_OK;
}

/* Number literal: [-+]? (digits [. digits*] | . digits) ([eE] [-+]? digits)?, whole word. */
static int parse_number(struct parser *p, struct kiln_sf_value *v)
{
    size_t j = p->i, start = p->i, mant = 0;
    int frac = 0;

    if (j < p->n && (p->s[j] == '-' || p->s[j] == '+'))
        j++;
    while (j < p->n && is_digit(p->s[j])) {
        j++;
        mant++;
    }
    if (j < p->n && p->s[j] == '.') {
        frac = 1;
        j++;
        while (j < p->n && is_digit(p->s[j])) {
            j++;
            mant++;
        }
    }
    if (mant == 0)
        return fail_at(p, start, "expected a value: a number, a quoted string or a list");
    if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
        size_t k = j + 1;
        frac = 1;
        if (k < p->n && (p->s[k] == '-' || p->s[k] == '+'))
            k++;
        if (k >= p->n || !is_digit(p->s[k]))
            return fail_at(p, start, "malformed number");
        while (k < p->n && is_digit(p->s[k]))
            k++;
        j = k;
    }
    if (j < p->n && is_word(p->s[j]))
        return fail_at(p, start, "malformed number");
    v->kind = KILN_SF_V_NUMBER;
    v->str = kiln_arena_strndup(p->arena, p->s + start, j - start);
    if (v->str == NULL)
        return nomem(p);
    if (kiln_parse_double(v->str, j - start, &v->num) != KILN_OK)
        return fail_at(p, start, "malformed number");
    v->is_int = !frac && kiln_parse_int64(v->str, j - start, &v->inum) == KILN_OK;
    p->i = j;
    return KILN_OK;
}

static int parse_list(struct parser *p, struct kiln_sf_value *v)
{
    size_t start = p->i, cap = 0;
    int rc;

    p->i++; /* '(' */
    v->kind = KILN_SF_V_LIST;
    v->list = NULL;
    v->nlist = 0;
    for (;;) {
        const char *item;
        skip_ws(p);
        if (p->i >= p->n)
            return fail_at(p, start, "unterminated list");
        if (p->s[p->i] != '\'' && p->s[p->i] != '"')
            return fail_at(p, p->i, "expected a quoted string in the list");
        rc = read_quoted(p, p->s[p->i], &item);
        if (rc != KILN_OK)
            return rc;
        if (v->nlist == KILN_SF_MAX_LIST)
            return fail_at(p, start, "too many values in the list (at most 1000)");
        if (v->nlist == cap) {
            const char **nl;
            cap = cap ? cap * 2 : 8;
            nl = kiln_arena_alloc(p->arena, cap * sizeof(*nl));
            if (nl == NULL)
                return nomem(p);
            if (v->nlist > 0)
                memcpy(nl, v->list, v->nlist * sizeof(*nl));
            v->list = nl;
        }
        v->list[v->nlist++] = item;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ')') {
            p->i++;
            return KILN_OK;
        }
        return fail_at(p, p->i, "expected ',' or ')' in the list");
    }
}

static int parse_value(struct parser *p, struct kiln_sf_value *v)
{
    char c;
    memset(v, 0, sizeof(*v));
    skip_ws(p);
    if (p->i >= p->n)
        return fail_at(p, p->i, "expected a value after the comparator");
    c = p->s[p->i];
    if (c == '\'' || c == '"') {
        v->kind = KILN_SF_V_STRING;
        return read_quoted(p, c, &v->str);
    }
    if (c == '(')
        return parse_list(p, v);
    if (is_digit(c) || c == '-' || c == '+' || c == '.')
        return parse_number(p, v);
    return fail_at(p, p->i,
                   "expected a value: a number, a quoted string (e.g. 'my-value') or a "
                   "parenthesised list of quoted strings");
}

/* ---- resolution against a schema ------------------------------------------------------- */

static const struct {
    const char *name;
    enum kiln_sf_kind kind;
} prefixes[] = {
    { "metric", KILN_SF_METRIC },   { "metrics", KILN_SF_METRIC },
    { "param", KILN_SF_PARAM },     { "params", KILN_SF_PARAM },
    { "parameter", KILN_SF_PARAM }, { "parameters", KILN_SF_PARAM },
    { "tag", KILN_SF_TAG },         { "tags", KILN_SF_TAG },
    { "attribute", KILN_SF_ATTR },  { "attributes", KILN_SF_ATTR },
    { "attr", KILN_SF_ATTR },       { "run", KILN_SF_ATTR },
    { "dataset", KILN_SF_DATASET }, { "datasets", KILN_SF_DATASET },
};

const char *kiln_sf_kind_name(enum kiln_sf_kind kind)
{
    switch (kind) {
    case KILN_SF_METRIC:
        return "metric";
    case KILN_SF_PARAM:
        return "parameter";
    case KILN_SF_TAG:
        return "tag";
    case KILN_SF_DATASET:
        return "dataset";
    default:
        return "attribute";
    }
}

const char *kiln_sf_op_name(enum kiln_sf_op op)
{
    static const char *const names[] = { "=",  "!=",   "<",     "<=", ">",
                                         ">=", "LIKE", "ILIKE", "IN", "NOT IN" };
    return (unsigned)op < KILN_ARRAY_LEN(names) ? names[op] : "?";
}

/* "'a', 'b', 'c'" of the names in a field table (or of allowed prefixes), into out. */
static void list_fields(const struct kiln_sf_field *f, size_t n, unsigned need, char *out,
                        size_t size)
{
    struct kiln_buf b;
    kiln_buf_init(&b, size - 1);
    for (size_t i = 0; i < n; i++)
        if ((f[i].flags & need) != 0)
            kiln_buf_printf(&b, "%s'%s'", b.len > 0 ? ", " : "", f[i].name);
    kiln_strlcpy(out, b.buf, size);
    kiln_buf_release(&b);
}

static void list_ops(unsigned ops, char *out, size_t size)
{
    struct kiln_buf b;
    kiln_buf_init(&b, size - 1);
    for (int op = KILN_SF_EQ; op <= KILN_SF_NOT_IN; op++)
        if ((ops & KILN_SF_OPBIT(op)) != 0)
            kiln_buf_printf(&b, "%s%s", b.len > 0 ? ", " : "",
                            kiln_sf_op_name((enum kiln_sf_op)op));
    kiln_strlcpy(out, b.buf, size);
    kiln_buf_release(&b);
}

static int resolve_kind(struct parser *p, const struct ident *id, unsigned allowed,
                        const char *entity, enum kiln_sf_kind *kind)
{
    if (id->prefix[0] == '\0') {
        *kind = KILN_SF_ATTR;
    } else {
        size_t i;
        for (i = 0; i < KILN_ARRAY_LEN(prefixes); i++)
            if (kiln_cstr_ieq(id->prefix, prefixes[i].name))
                break;
        if (i == KILN_ARRAY_LEN(prefixes))
            return kiln_err_set(p->err, KILN_EINVAL,
                                "Invalid entity type '%.64s' at position %zu. Valid values are "
                                "metric, parameter, tag, attribute, dataset",
                                id->prefix, id->pos + 1);
        *kind = prefixes[i].kind;
    }
    if ((allowed & (unsigned)*kind) == 0)
        return kiln_err_set(p->err, KILN_EINVAL,
                            "Invalid entity type '%.64s' at position %zu: %s %s cannot use %ss",
                            id->prefix[0] != '\0' ? id->prefix : "attribute", id->pos + 1, entity,
                            p->what, kiln_sf_kind_name(*kind));
    return KILN_OK;
}

static int resolve_field(struct parser *p, const struct ident *id, enum kiln_sf_kind kind,
                         const struct kiln_sf_schema *s, unsigned need,
                         const struct kiln_sf_field **out)
{
    const struct kiln_sf_field *f = kind == KILN_SF_DATASET ? s->dataset_fields : s->attrs;
    size_t n = kind == KILN_SF_DATASET ? s->ndataset_fields : s->nattrs;
    char names[160];

    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].name, id->key) == 0 && (f[i].flags & need) != 0) {
            *out = &f[i];
            return KILN_OK;
        }
    }
    list_fields(f, n, need, names, sizeof(names));
    return kiln_err_set(
        p->err, KILN_EINVAL, "Invalid %s key '%.64s' specified at position %zu. Valid keys are %s",
        kind == KILN_SF_DATASET ? "dataset" : "attribute", id->key, id->pos + 1, names);
}

static int check_value(struct parser *p, struct kiln_sf_cmp *c, size_t vpos)
{
    int numeric =
        c->kind == KILN_SF_METRIC || (c->field != NULL && c->field->type == KILN_SF_NUMBER);
    int list_op = c->op == KILN_SF_IN || c->op == KILN_SF_NOT_IN;

    if (numeric) {
        if (c->value.kind != KILN_SF_V_NUMBER)
            return kiln_err_set(p->err, KILN_EINVAL,
                                "Expected numeric value type for %s '%.64s' at position %zu",
                                kiln_sf_kind_name(c->kind), c->key, vpos + 1);
        return KILN_OK;
    }
    if (list_op && c->value.kind != KILN_SF_V_LIST)
        return kiln_err_set(p->err, KILN_EINVAL,
                            "Expected a parenthesised list of quoted strings after %s at "
                            "position %zu",
                            kiln_sf_op_name(c->op), vpos + 1);
    if (!list_op && c->value.kind != KILN_SF_V_STRING)
        return kiln_err_set(p->err, KILN_EINVAL,
                            "Expected a quoted string value for %s '%.64s' (e.g. 'my-value') at "
                            "position %zu",
                            kiln_sf_kind_name(c->kind), c->key, vpos + 1);
    return KILN_OK;
}

static int resolve_cmp(struct parser *p, const struct ident *id, const struct kiln_sf_schema *s,
                       struct kiln_sf_cmp *c, size_t vpos)
{
    unsigned ops;
    char names[96];
    int rc = resolve_kind(p, id, s->kinds, s->entity, &c->kind);
    if (rc != KILN_OK)
        return rc;
    c->key = id->key;
    c->field = NULL;
    switch (c->kind) {
    case KILN_SF_METRIC:
        ops = s->metric_ops;
        break;
    case KILN_SF_PARAM:
        ops = s->param_ops;
        break;
    case KILN_SF_TAG:
        ops = s->tag_ops;
        break;
    default:
        rc = resolve_field(p, id, c->kind, s, KILN_SF_FILTERABLE, &c->field);
        if (rc != KILN_OK)
            return rc;
        ops = c->field->ops;
    }
    if ((ops & KILN_SF_OPBIT(c->op)) == 0) {
        list_ops(ops, names, sizeof(names));
        return kiln_err_set(p->err, KILN_EINVAL,
                            "Invalid comparator '%s' for %s '%.64s' at position %zu, not one of "
                            "'%s'",
                            kiln_sf_op_name(c->op), kiln_sf_kind_name(c->kind), c->key, id->pos + 1,
                            names);
    }
    return check_value(p, c, vpos);
}

static void parser_init(struct parser *p, const char *s, struct kiln_arena *arena,
                        struct kiln_err *err, const char *what)
{
    p->s = s != NULL ? s : "";
    p->n = strlen(p->s);
    p->i = 0;
    p->arena = arena;
    p->err = err;
    p->what = what;
}

int kiln_sf_parse(const char *filter, const struct kiln_sf_schema *schema, struct kiln_arena *arena,
                  struct kiln_sf_filter **out, struct kiln_err *err)
{
    struct parser p;
    struct kiln_sf_filter *f;
    size_t cap = 0;
    int rc;

    *out = NULL;
    parser_init(&p, filter, arena, err, "filter");
    if (p.n > KILN_SF_MAX_TEXT)
        return kiln_err_set(err, KILN_EINVAL, "Invalid filter: longer than %d characters",
                            KILN_SF_MAX_TEXT);
    f = kiln_arena_calloc(arena, 1, sizeof(*f));
    if (f == NULL)
        return nomem(&p);
    while (!at_end(&p)) {
        struct ident id;
        struct kiln_sf_cmp *c;
        size_t vpos;

        if (f->n > 0) {
            size_t save = p.i;
            rc = reject_unsupported_word(&p);
            if (rc != KILN_OK)
                return rc;
            if (!accept_keyword(&p, "AND"))
                return fail_at(&p, save, "expected AND between comparisons");
            if (at_end(&p))
                return fail_at(&p, p.i, "expected a comparison after AND");
        }
        if (f->n == KILN_SF_MAX_COMPARISONS)
            return fail_at(&p, p.i, "too many comparisons (at most 100)");
        if (f->n == cap) {
            struct kiln_sf_cmp *nc;
            cap = cap ? cap * 2 : 4;
            nc = kiln_arena_alloc(arena, cap * sizeof(*nc));
            if (nc == NULL)
                return nomem(&p);
            if (f->n > 0)
                memcpy(nc, f->cmps, f->n * sizeof(*nc));
            f->cmps = nc;
        }
        c = &f->cmps[f->n];
        rc = parse_ident(&p, &id);
        if (rc == KILN_OK)
            rc = parse_op(&p, &c->op);
        if (rc != KILN_OK)
            return rc;
        skip_ws(&p);
        vpos = p.i;
        rc = parse_value(&p, &c->value);
        if (rc == KILN_OK)
            rc = resolve_cmp(&p, &id, schema, c, vpos);
        if (rc != KILN_OK)
            return rc;
        f->n++;
    }
    *out = f;
    return KILN_OK;
}

int kiln_sf_parse_order_by(const char *clause, const struct kiln_sf_schema *schema,
                           struct kiln_arena *arena, struct kiln_sf_order *out,
                           struct kiln_err *err)
{
    struct parser p;
    struct ident id;
    int rc;

    memset(out, 0, sizeof(*out));
    parser_init(&p, clause, arena, err, "order_by clause");
    if (p.n > KILN_SF_MAX_TEXT)
        return kiln_err_set(err, KILN_EINVAL, "Invalid order_by clause: too long");
    if (at_end(&p))
        return fail_at(&p, 0, "empty order_by clause");
    rc = parse_ident(&p, &id);
    if (rc != KILN_OK)
        return rc;
    rc = resolve_kind(&p, &id, schema->order_kinds, schema->entity, &out->kind);
    if (rc != KILN_OK)
        return rc;
    out->key = id.key;
    if (out->kind == KILN_SF_ATTR || out->kind == KILN_SF_DATASET) {
        rc = resolve_field(&p, &id, out->kind, schema, KILN_SF_ORDERABLE, &out->field);
        if (rc != KILN_OK)
            return rc;
        out->key = out->field->canonical != NULL ? out->field->canonical : out->field->name;
    }
    if (at_end(&p))
        return KILN_OK;
    if (accept_keyword(&p, "DESC"))
        out->desc = 1;
    else if (!accept_keyword(&p, "ASC"))
        return fail_at(&p, p.i, "expected ASC or DESC after the order_by key");
    if (!at_end(&p))
        return fail_at(&p, p.i, "unexpected text after ASC/DESC");
    return KILN_OK;
}

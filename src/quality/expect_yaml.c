/*
 * expect_yaml.c - parsing expectation suites from YAML with libyaml (see expect.h).
 *
 * Two passes: libyaml's event parser first walks the stream without building anything and
 * refuses nesting deeper than 32 levels or more than a million nodes (libyaml's document
 * loader recurses per level, so this keeps hostile input from exhausting the stack); then
 * the document is loaded and checked expectation by expectation. Every error carries the
 * YAML line (1-based) of the node at fault. Plain scalars are typed like YAML's core schema:
 * null/~/empty, true/false, numbers; quoted scalars are always strings.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/fs.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "quality/expect_int.h"
#include "quality/num.h"

#define MAX_DEPTH 32
#define MAX_NODES 1000000

static const char *const kind_names[KILN_EXPECT__COUNT] = {
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_table_to_not_drift",
    "expect_column_to_exist",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_not_be_null",
    "expect_column_missing_share_to_be_at_most",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_mean_to_be_between",
    "expect_column_stdev_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
    "expect_column_median_to_be_between",
    "expect_column_quantile_values_to_be_between",
    "expect_column_to_not_drift",
};

/* Parameters each kind accepts, besides the generic ones (see generic()). */
static const char *const kind_params[KILN_EXPECT__COUNT] = {
    "column_set exact_match",
    "min_value max_value strict_min strict_max",
    "method threshold drift_share",
    "column",
    "column type_ mostly",
    "column mostly",
    "column max_value",
    "column min_value max_value strict_min strict_max mostly",
    "column value_set mostly",
    "column value_set mostly",
    "column mostly",
    "column regex mostly",
    "column regex mostly",
    "column min_value max_value strict_min strict_max",
    "column min_value max_value strict_min strict_max",
    "column min_value max_value strict_min strict_max",
    "column min_value max_value strict_min strict_max",
    "column min_value max_value strict_min strict_max",
    "column quantile_ranges allow_relative_error",
    "column method threshold",
};

const char *kiln_expect_name(enum kiln_expect_kind k)
{
    return (size_t)k < KILN_EXPECT__COUNT ? kind_names[k] : "expect_unknown";
}

int kiln_expect_row_level(enum kiln_expect_kind k)
{
    switch (k) {
    case KILN_EXPECT_TYPE:
    case KILN_EXPECT_NOT_NULL:
    case KILN_EXPECT_BETWEEN:
    case KILN_EXPECT_IN_SET:
    case KILN_EXPECT_NOT_IN_SET:
    case KILN_EXPECT_UNIQUE:
    case KILN_EXPECT_REGEX:
    case KILN_EXPECT_NOT_REGEX:
        return 1;
    default:
        return 0;
    }
}

int kiln_expect_has_column(enum kiln_expect_kind k)
{
    return strncmp(kind_params[k], "column ", 7) == 0 || strcmp(kind_params[k], "column") == 0;
}

struct ctx {
    const char *name;
    yaml_document_t *doc;
    struct kiln_err *err;
};

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int bad(const struct ctx *c, const yaml_node_t *n, const char *fmt, ...) KILN_PRINTF(3, 4);

static int bad(const struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return kiln_err_set(c->err, KILN_EINVAL, "%s: line %d: %s", c->name, line_of(n), what);
}

static const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
           n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static int is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s != NULL && plain(n) &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
            strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

static int as_bool(const yaml_node_t *n, int *out)
{
    const char *s = scalar(n);
    if (s == NULL || !plain(n))
        return 0;
    return kiln_num_parse_bool(s, strlen(s), out);
}

static int as_number(const yaml_node_t *n, double *out)
{
    const char *s = scalar(n);
    if (s == NULL || !plain(n))
        return 0;
    return kiln_num_parse(s, strlen(s), out) != KILN_NUM_NONE;
}

/* A scalar as JSON for kwargs. */
static json_t *to_json(yaml_document_t *doc, const yaml_node_t *n, int depth)
{
    json_t *j;
    double d;
    int b;
    if (depth > MAX_DEPTH)
        return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (is_null(n))
            return json_null();
        if (as_bool(n, &b))
            return json_boolean(b);
        if (as_number(n, &d) && isfinite(d))
            return d == floor(d) && fabs(d) < 9e15 ? json_integer((json_int_t)d) : json_real(d);
        return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
    case YAML_SEQUENCE_NODE:
        j = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             j != NULL && it < n->data.sequence.items.top; it++)
            json_array_append_new(j, to_json(doc, yaml_document_get_node(doc, *it), depth + 1));
        return j;
    case YAML_MAPPING_NODE:
        j = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             j != NULL && p < n->data.mapping.pairs.top; p++) {
            const char *k = scalar(yaml_document_get_node(doc, p->key));
            if (k != NULL)
                json_object_set_new(j, k,
                                    to_json(doc, yaml_document_get_node(doc, p->value), depth + 1));
        }
        return j;
    default:
        return json_null();
    }
}

static void expect_release(struct kiln_expect *e)
{
    kiln_free(e->column);
    kiln_counts_release(&e->set_text);
    kiln_free(e->set_num);
    kiln_free(e->regex);
    if (e->re_ok)
        regfree(&e->re);
    for (size_t i = 0; i < e->ncolset; i++)
        kiln_free(e->colset[i]);
    kiln_free(e->colset);
    kiln_free(e->q);
    kiln_free(e->qlo);
    kiln_free(e->qhi);
    json_decref(e->kwargs);
}

void kiln_suite_free(struct kiln_suite *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        expect_release(&s->e[i]);
    kiln_free(s->e);
    kiln_free(s->name);
    kiln_free(s);
}

size_t kiln_suite_size(const struct kiln_suite *s)
{
    return s->n;
}

const char *kiln_suite_name(const struct kiln_suite *s)
{
    return s->name;
}

int kiln_suite_needs_profile(const struct kiln_suite *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].kind == KILN_EXPECT_NO_DRIFT || s->e[i].kind == KILN_EXPECT_TABLE_NO_DRIFT)
            return 1;
    return 0;
}

/* Pass 1: nesting depth and size, on the event stream (no recursion). */
static int prescan(const char *yaml, size_t len, const char *name, struct kiln_err *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int depth = 0, rc = KILN_OK;
    long nodes = 0;
    if (!yaml_parser_initialize(&p))
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = kiln_err_set(err, KILN_EPARSE, "%s: line %zu, column %zu: %s%s%s", name,
                              p.problem_mark.line + 1, p.problem_mark.column + 1,
                              p.problem != NULL ? p.problem : "malformed YAML",
                              p.context != NULL ? " " : "", p.context != NULL ? p.context : "");
            break;
        }
        if (ev.type == YAML_ALIAS_EVENT) {
            rc = kiln_err_set(err, KILN_EINVAL, "%s: line %zu: YAML aliases are not supported",
                              name, ev.start_mark.line + 1);
        } else if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > MAX_DEPTH)
                rc = kiln_err_set(err, KILN_EINVAL, "%s: line %zu: nested more than %d levels",
                                  name, ev.start_mark.line + 1, MAX_DEPTH);
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        if (++nodes > MAX_NODES && rc == KILN_OK)
            rc = kiln_err_set(err, KILN_ETOOBIG, "%s: more than %d YAML nodes", name, MAX_NODES);
        if (ev.type == YAML_STREAM_END_EVENT || rc != KILN_OK) {
            yaml_event_delete(&ev);
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* Translates \d \w \s (and \D \W \S outside brackets) into POSIX classes. */
static char *translate_regex(const char *re)
{
    struct kiln_buf b;
    int in_br = 0;
    kiln_buf_init(&b, strlen(re) * 16 + 16);
    for (const char *p = re; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            const char *sub = NULL;
            switch (p[1]) {
            case 'd':
                sub = in_br ? "0-9" : "[0-9]";
                break;
            case 'w':
                sub = in_br ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
                break;
            case 's':
                sub = in_br ? "[:space:]" : "[[:space:]]";
                break;
            case 'D':
                sub = in_br ? NULL : "[^0-9]";
                break;
            case 'W':
                sub = in_br ? NULL : "[^A-Za-z0-9_]";
                break;
            case 'S':
                sub = in_br ? NULL : "[^[:space:]]";
                break;
            default:
                break;
            }
            if (sub != NULL) {
                kiln_buf_puts(&b, sub);
                p++;
                continue;
            }
            kiln_buf_putc(&b, *p);
            kiln_buf_putc(&b, *++p);
            continue;
        }
        if (*p == '[' && !in_br) {
            in_br = 1;
            kiln_buf_putc(&b, *p);
            /* A ']' right after '[' or '[^' is literal. */
            if (p[1] == '^')
                kiln_buf_putc(&b, *++p);
            if (p[1] == ']')
                kiln_buf_putc(&b, *++p);
            continue;
        }
        if (*p == ']' && in_br)
            in_br = 0;
        kiln_buf_putc(&b, *p);
    }
    return kiln_buf_detach(&b, NULL);
}

static const yaml_node_t *node(const struct ctx *c, yaml_node_item_t id)
{
    return yaml_document_get_node(c->doc, id);
}

/* A range bound: number, null (open) or ISO timestamp (*ts set). */
static int bound(const struct ctx *c, const yaml_node_t *n, const char *key, double *out, int *ts)
{
    const char *s = scalar(n);
    int64_t ms;
    if (is_null(n)) {
        *out = NAN;
        return KILN_OK;
    }
    if (as_number(n, out) && !isnan(*out))
        return KILN_OK;
    if (s != NULL && kiln_time_parse_iso(s, strlen(s), &ms) == KILN_OK) {
        *out = (double)ms / 1000.0;
        *ts = 1;
        return KILN_OK;
    }
    return bad(c, n, "'%s' must be a number, an ISO 8601 timestamp or null", key);
}

static int param_bool(const struct ctx *c, const yaml_node_t *n, const char *key, int *out)
{
    if (!as_bool(n, out))
        return bad(c, n, "'%s' must be true or false", key);
    return KILN_OK;
}

static int value_set(const struct ctx *c, const yaml_node_t *n, struct kiln_expect *e)
{
    size_t k = 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, n, "'value_set' must be a list");
    e->set_num = kiln_calloc(
        (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1, sizeof(double));
    if (e->set_num == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *v = node(c, *it);
        const char *s = scalar(v);
        double d;
        if (s == NULL || is_null(v))
            return bad(c, v, "'value_set' items must be plain values");
        if (kiln_counts_add(&e->set_text, s, v->data.scalar.length, 1, 0, NULL) != KILN_OK)
            return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
        if (as_number(v, &d) && isfinite(d))
            e->set_num[k++] = d == 0 ? 0.0 : d;
    }
    e->nset_num = k;
    return KILN_OK;
}

static int column_set(const struct ctx *c, const yaml_node_t *n, struct kiln_expect *e)
{
    size_t cnt;
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, n, "'column_set' must be a list of column names");
    cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    e->colset = kiln_calloc(cnt + 1, sizeof(*e->colset));
    if (e->colset == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *v = node(c, *it);
        if (scalar(v) == NULL)
            return bad(c, v, "'column_set' items must be column names");
        e->colset[e->ncolset] = kiln_strdup(scalar(v));
        if (e->colset[e->ncolset++] == NULL)
            return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    }
    return KILN_OK;
}

static int quantile_ranges(const struct ctx *c, const yaml_node_t *n, struct kiln_expect *e)
{
    const yaml_node_t *qs = NULL, *vr = NULL;
    size_t nq, nr, i = 0;
    if (n->type != YAML_MAPPING_NODE)
        return bad(c, n, "'quantile_ranges' must be a mapping with quantiles and value_ranges");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(c, p->key));
        if (k != NULL && strcmp(k, "quantiles") == 0)
            qs = node(c, p->value);
        else if (k != NULL && strcmp(k, "value_ranges") == 0)
            vr = node(c, p->value);
        else
            return bad(c, node(c, p->key), "unknown key '%s' in quantile_ranges", k);
    }
    if (qs == NULL || vr == NULL || qs->type != YAML_SEQUENCE_NODE ||
        vr->type != YAML_SEQUENCE_NODE)
        return bad(c, n, "'quantile_ranges' needs lists 'quantiles' and 'value_ranges'");
    nq = (size_t)(qs->data.sequence.items.top - qs->data.sequence.items.start);
    nr = (size_t)(vr->data.sequence.items.top - vr->data.sequence.items.start);
    if (nq == 0 || nq != nr)
        return bad(c, n, "'quantiles' and 'value_ranges' must have the same (nonzero) length");
    e->q = kiln_calloc(nq, sizeof(double));
    e->qlo = kiln_calloc(nq, sizeof(double));
    e->qhi = kiln_calloc(nq, sizeof(double));
    if (e->q == NULL || e->qlo == NULL || e->qhi == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    e->nq = nq;
    for (i = 0; i < nq; i++) {
        const yaml_node_t *qv = node(c, qs->data.sequence.items.start[i]);
        const yaml_node_t *r = node(c, vr->data.sequence.items.start[i]);
        int ts = 0;
        if (!as_number(qv, &e->q[i]) || !(e->q[i] >= 0 && e->q[i] <= 1))
            return bad(c, qv, "quantiles must be numbers between 0 and 1");
        if (r->type != YAML_SEQUENCE_NODE ||
            r->data.sequence.items.top - r->data.sequence.items.start != 2)
            return bad(c, r, "each value range must be [low, high]");
        if (bound(c, node(c, r->data.sequence.items.start[0]), "value_ranges", &e->qlo[i], &ts) !=
                KILN_OK ||
            bound(c, node(c, r->data.sequence.items.start[1]), "value_ranges", &e->qhi[i], &ts) !=
                KILN_OK)
            return KILN_EINVAL;
        if (e->qlo[i] > e->qhi[i])
            return bad(c, r, "value range low is above high");
    }
    return KILN_OK;
}

static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ' ');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, w, n) == 0)
            return 1;
        p += len;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static int param_regex(const struct ctx *c, const yaml_node_t *v, struct kiln_expect *e)
{
    const char *s = scalar(v);
    char msg[160];
    int r;
    if (s == NULL || is_null(v))
        return bad(c, v, "'regex' must be a string");
    e->regex = kiln_strdup(s);
    {
        char *tr = translate_regex(s);
        if (e->regex == NULL || tr == NULL) {
            kiln_free(tr);
            return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
        }
        r = regcomp(&e->re, tr, REG_EXTENDED | REG_NOSUB);
        kiln_free(tr);
    }
    if (r != 0) {
        regerror(r, &e->re, msg, sizeof(msg));
        regfree(&e->re);
        return bad(c, v, "invalid regex: %s", msg);
    }
    e->re_ok = 1;
    return KILN_OK;
}

static int param(const struct ctx *c, struct kiln_expect *e, const char *key, const yaml_node_t *v)
{
    static const char generic[] =
        "result_format catch_exceptions include_config meta notes id description";
    int ts = 0;
    double d;
    if (has_word(generic, key) ||
        (strcmp(key, "allow_relative_error") == 0 && e->kind == KILN_EXPECT_QUANTILES))
        return KILN_OK;
    if (!has_word(kind_params[e->kind], key))
        return bad(c, v, "unknown parameter '%s' for %s", key, kind_names[e->kind]);
    if (strcmp(key, "column") == 0) {
        if (scalar(v) == NULL || is_null(v) || scalar(v)[0] == '\0')
            return bad(c, v, "'column' must be a column name");
        e->column = kiln_strdup(scalar(v));
        return e->column != NULL ? KILN_OK : kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    }
    if (strcmp(key, "mostly") == 0) {
        if (!as_number(v, &e->mostly) || !(e->mostly >= 0 && e->mostly <= 1))
            return bad(c, v, "'mostly' must be a number between 0 and 1");
        return KILN_OK;
    }
    if (strcmp(key, "min_value") == 0 || strcmp(key, "max_value") == 0) {
        int rc = bound(c, v, key, key[1] == 'i' ? &e->min : &e->max, &ts);
        if (rc == KILN_OK && ts)
            e->timestamp_bounds |= key[1] == 'i' ? 1 : 2;
        return rc;
    }
    if (strcmp(key, "strict_min") == 0)
        return param_bool(c, v, key, &e->strict_min);
    if (strcmp(key, "strict_max") == 0)
        return param_bool(c, v, key, &e->strict_max);
    if (strcmp(key, "exact_match") == 0)
        return param_bool(c, v, key, &e->exact_match);
    if (strcmp(key, "value_set") == 0)
        return value_set(c, v, e);
    if (strcmp(key, "column_set") == 0)
        return column_set(c, v, e);
    if (strcmp(key, "quantile_ranges") == 0)
        return quantile_ranges(c, v, e);
    if (strcmp(key, "regex") == 0)
        return param_regex(c, v, e);
    if (strcmp(key, "type_") == 0) {
        if (scalar(v) == NULL || kiln_coltype_parse(scalar(v), &e->ctype) != KILN_OK ||
            e->ctype == KILN_COL_EMPTY)
            return bad(c, v, "'type_' must be integer, float, boolean, timestamp or string");
        return KILN_OK;
    }
    if (strcmp(key, "method") == 0) {
        if (scalar(v) == NULL || kiln_drift_method_parse(scalar(v), &e->method) != KILN_OK)
            return bad(c, v, "unknown drift method '%s'",
                       scalar(v) != NULL ? scalar(v) : "(not a name)");
        return KILN_OK;
    }
    if (!as_number(v, &d) || !isfinite(d) || d < 0)
        return bad(c, v, "'%s' must be a non-negative number", key);
    if (strcmp(key, "drift_share") == 0) {
        if (d > 1)
            return bad(c, v, "'drift_share' must be between 0 and 1");
        e->drift_share = d;
    } else {
        e->threshold = d;
    }
    return KILN_OK;
}

static int find_kind(const char *s, enum kiln_expect_kind *out)
{
    for (size_t i = 0; i < KILN_EXPECT__COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0 ||
            (strncmp(s, "expect_", 7) != 0 && strcmp(s, kind_names[i] + 7) == 0)) {
            *out = (enum kiln_expect_kind)i;
            return KILN_OK;
        }
    return KILN_EINVAL;
}

static int check_required(const struct ctx *c, const yaml_node_t *n, struct kiln_expect *e)
{
    const char *k = kind_names[e->kind];
    if (kiln_expect_has_column(e->kind) && e->column == NULL)
        return bad(c, n, "%s needs 'column'", k);
    switch (e->kind) {
    case KILN_EXPECT_TYPE:
        if (e->ctype == KILN_COL_EMPTY)
            return bad(c, n, "%s needs 'type_'", k);
        break;
    case KILN_EXPECT_IN_SET:
    case KILN_EXPECT_NOT_IN_SET:
        if (e->set_num == NULL)
            return bad(c, n, "%s needs 'value_set'", k);
        break;
    case KILN_EXPECT_REGEX:
    case KILN_EXPECT_NOT_REGEX:
        if (!e->re_ok)
            return bad(c, n, "%s needs 'regex'", k);
        break;
    case KILN_EXPECT_COLUMNS_MATCH_SET:
        if (e->colset == NULL)
            return bad(c, n, "%s needs 'column_set'", k);
        break;
    case KILN_EXPECT_QUANTILES:
        if (e->nq == 0)
            return bad(c, n, "%s needs 'quantile_ranges'", k);
        break;
    case KILN_EXPECT_MISSING_SHARE:
        if (isnan(e->max) || e->max > 1 || e->timestamp_bounds)
            return bad(c, n, "%s needs 'max_value' between 0 and 1", k);
        break;
    case KILN_EXPECT_ROW_COUNT:
    case KILN_EXPECT_BETWEEN:
    case KILN_EXPECT_MEAN:
    case KILN_EXPECT_STDEV:
    case KILN_EXPECT_MIN:
    case KILN_EXPECT_MAX:
    case KILN_EXPECT_MEDIAN:
        if (isnan(e->min) && isnan(e->max))
            return bad(c, n, "%s needs 'min_value' or 'max_value'", k);
        if (e->timestamp_bounds &&
            (e->kind == KILN_EXPECT_ROW_COUNT || e->kind == KILN_EXPECT_STDEV ||
             (e->timestamp_bounds != 3 && !isnan(e->min) && !isnan(e->max))))
            return bad(c, n, "%s: bounds must both be numbers or both be timestamps", k);
        if (!isnan(e->min) && !isnan(e->max) && e->min > e->max)
            return bad(c, n, "%s: min_value is above max_value", k);
        break;
    default:
        break;
    }
    return KILN_OK;
}

static int expectation(const struct ctx *c, const yaml_node_t *n, struct kiln_expect *e)
{
    const yaml_node_t *type = NULL;
    int rc;
    e->line = line_of(n);
    e->mostly = 1.0;
    e->min = e->max = e->threshold = e->drift_share = NAN;
    e->exact_match = 1;
    e->ctype = KILN_COL_EMPTY;
    kiln_counts_init(&e->set_text, SIZE_MAX);
    if (n->type != YAML_MAPPING_NODE)
        return bad(c, n, "each expectation must be a mapping with a 'type'");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(c, p->key));
        if (k != NULL && (strcmp(k, "type") == 0 || strcmp(k, "expectation_type") == 0))
            type = node(c, p->value);
    }
    if (type == NULL || scalar(type) == NULL)
        return bad(c, n,
                   "expectation without 'type' (e.g. type: "
                   "expect_column_values_to_not_be_null)");
    if (find_kind(scalar(type), &e->kind) != KILN_OK)
        return bad(c, type, "unknown expectation type '%s'", scalar(type));
    e->kwargs = json_object();
    if (e->kwargs == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
        const char *k = scalar(kn);
        if (k == NULL)
            return bad(c, kn, "keys must be plain names");
        if (strcmp(k, "type") == 0 || strcmp(k, "expectation_type") == 0)
            continue;
        if (strcmp(k, "kwargs") == 0) {
            if (vn->type != YAML_MAPPING_NODE)
                return bad(c, vn, "'kwargs' must be a mapping");
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
                 q++) {
                const char *kk = scalar(node(c, q->key));
                if (kk == NULL)
                    return bad(c, node(c, q->key), "keys must be plain names");
                if (json_object_get(e->kwargs, kk) != NULL)
                    return bad(c, node(c, q->key), "parameter '%s' given twice", kk);
                if ((rc = param(c, e, kk, node(c, q->value))) != KILN_OK)
                    return rc;
                json_object_set_new(e->kwargs, kk, to_json(c->doc, node(c, q->value), 0));
            }
            continue;
        }
        if (json_object_get(e->kwargs, k) != NULL)
            return bad(c, kn, "parameter '%s' given twice", k);
        if ((rc = param(c, e, k, vn)) != KILN_OK)
            return rc;
        json_object_set_new(e->kwargs, k, to_json(c->doc, vn, 0));
    }
    return check_required(c, n, e);
}

static int load_suite(const struct ctx *c, const yaml_node_t *root, struct kiln_suite *s)
{
    const yaml_node_t *list = NULL;
    size_t n;
    int rc;
    if (root == NULL)
        return kiln_err_set(c->err, KILN_EINVAL, "%s: empty file (no expectations)", c->name);
    if (root->type == YAML_SEQUENCE_NODE) {
        list = root;
    } else if (root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *kn = node(c, p->key), *vn = node(c, p->value);
            const char *k = scalar(kn);
            if (k != NULL && strcmp(k, "expectations") == 0) {
                list = vn;
            } else if (k != NULL &&
                       (strcmp(k, "name") == 0 || strcmp(k, "expectation_suite_name") == 0)) {
                if (scalar(vn) == NULL)
                    return bad(c, vn, "'%s' must be a string", k);
                kiln_free(s->name);
                s->name = kiln_strdup(scalar(vn));
                if (s->name == NULL)
                    return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
            } else if (k == NULL || !has_word("meta notes data_asset_type ge_cloud_id id", k)) {
                return bad(c, kn, "unknown top-level key '%s' (expected name and expectations)",
                           k != NULL ? k : "(not a name)");
            }
        }
        if (list == NULL)
            return bad(c, root, "no 'expectations' list");
    } else {
        return bad(c, root, "the file must be a mapping with an 'expectations' list");
    }
    if (list->type != YAML_SEQUENCE_NODE)
        return bad(c, list, "'expectations' must be a list");
    n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    s->e = kiln_calloc(n + 1, sizeof(*s->e));
    if (s->e == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        s->n++;
        if ((rc = expectation(c, node(c, list->data.sequence.items.start[i]), &s->e[i])) != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

int kiln_suite_parse(const char *yaml, size_t len, const char *name, struct kiln_suite **out,
                     struct kiln_err *err)
{
    yaml_parser_t p;
    yaml_document_t doc;
    struct kiln_suite *s;
    struct ctx c = { name, &doc, err };
    const char *base = strrchr(name, '/');
    int rc;

    if ((rc = prescan(yaml, len, name, err)) != KILN_OK)
        return rc;
    s = kiln_calloc(1, sizeof(*s));
    if (s == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    base = base != NULL ? base + 1 : name;
    s->name = kiln_strndup(base, strcspn(base, "."));
    if (s->name == NULL || !yaml_parser_initialize(&p)) {
        kiln_suite_free(s);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&p, &doc)) {
        rc = kiln_err_set(err, KILN_EPARSE, "%s: line %zu, column %zu: %s", name,
                          p.problem_mark.line + 1, p.problem_mark.column + 1,
                          p.problem != NULL ? p.problem : "malformed YAML");
        yaml_parser_delete(&p);
        kiln_suite_free(s);
        return rc;
    }
    rc = load_suite(&c, yaml_document_get_root_node(&doc), s);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    if (rc != KILN_OK) {
        kiln_suite_free(s);
        return rc;
    }
    *out = s;
    return KILN_OK;
}

int kiln_suite_load(const char *path, struct kiln_suite **out, struct kiln_err *err)
{
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, (size_t)64 << 20);
    rc = kiln_read_file(path, &b, err);
    if (rc != KILN_OK) {
        kiln_buf_release(&b);
        return rc; /* kiln_read_file's message names the file */
    }
    rc = kiln_suite_parse(b.buf, b.len, path, out, err);
    kiln_buf_release(&b);
    return rc;
}

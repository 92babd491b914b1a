/*
 * dyaml.c - a YAML document as a small tree with line and column on every node, for the
 * deployment spec parser (deploy_int.h).
 *
 * Built from libyaml's event parser, refusing what a deployment spec never needs and a
 * hostile document would use: anchors and aliases (exponential expansion), several documents,
 * nesting deeper than DP_YAML_MAX_DEPTH, more than DP_YAML_MAX_NODES events, duplicate mapping
 * keys and non-scalar keys. Every error names the line and column.
 *
 * Ownership: nodes and strings live in the caller's arena; temporary child vectors are heap
 * memory released before return on every path. Thread-safe (no shared state).
 */
#include <string.h>
#include <yaml.h>

#include "core/mem.h"
#include "deploy/deploy_int.h"

struct frame {
    struct dp_yn *node;
    struct dp_yn **kids;
    size_t n, cap;
};

struct builder {
    struct kiln_arena *arena;
    const char *file;
    struct frame stack[DP_YAML_MAX_DEPTH];
    int depth;
    size_t events;
    struct dp_yn *root;
    struct kiln_err *err;
};

static int fail(struct builder *b, const yaml_mark_t *m, const char *what)
{
    return kiln_err_set(b->err, KILN_EINVAL, "%s:%zu:%zu: %s", b->file, m->line + 1, m->column + 1,
                        what);
}

static int oom(struct builder *b)
{
    return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
}

static struct dp_yn *new_node(struct builder *b, enum dp_yn_kind kind, const yaml_mark_t *m)
{
    struct dp_yn *n = kiln_arena_calloc(b->arena, 1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->s = "";
    return n;
}

static int attach(struct builder *b, struct dp_yn *node)
{
    struct frame *f;
    if (b->depth == 0) {
        b->root = node;
        return KILN_OK;
    }
    f = &b->stack[b->depth - 1];
    if (f->node->kind == DP_YN_MAP && f->n % 2 == 0) {
        if (node->kind != DP_YN_SCALAR)
            return kiln_err_set(b->err, KILN_EINVAL, "%s:%d:%d: mapping keys must be plain strings",
                                b->file, node->line, node->col);
        for (size_t i = 0; i < f->n; i += 2)
            if (strcmp(f->kids[i]->s, node->s) == 0)
                return kiln_err_set(b->err, KILN_EINVAL,
                                    "%s:%d:%d: duplicate key '%s' (first at line %d)", b->file,
                                    node->line, node->col, node->s, f->kids[i]->line);
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct dp_yn **k = kiln_reallocarray(f->kids, cap, sizeof(*k));
        if (k == NULL)
            return oom(b);
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = node;
    return KILN_OK;
}

static int open_container(struct builder *b, enum dp_yn_kind kind, const yaml_mark_t *m)
{
    struct dp_yn *n;
    if (b->depth == DP_YAML_MAX_DEPTH)
        return fail(b, m, "nesting too deep");
    n = new_node(b, kind, m);
    if (n == NULL)
        return oom(b);
    b->stack[b->depth].node = n;
    b->stack[b->depth].kids = NULL;
    b->stack[b->depth].n = b->stack[b->depth].cap = 0;
    b->depth++;
    return KILN_OK;
}

static int close_container(struct builder *b)
{
    struct frame *f = &b->stack[b->depth - 1];
    struct dp_yn *n = f->node;
    if (f->n > 0) {
        n->kids = kiln_arena_alloc(b->arena, f->n * sizeof(*n->kids));
        if (n->kids == NULL)
            return oom(b);
        memcpy(n->kids, f->kids, f->n * sizeof(*n->kids));
    }
    n->n = f->n;
    kiln_free(f->kids);
    f->kids = NULL;
    b->depth--;
    return attach(b, n);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct dp_yn *n = new_node(b, DP_YN_SCALAR, &ev->start_mark);
    const char *tag = (const char *)ev->data.scalar.tag;
    if (n == NULL)
        return oom(b);
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
        return fail(b, &ev->start_mark, "NUL character in a string");
    n->s =
        kiln_arena_strndup(b->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (n->s == NULL)
        return oom(b);
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (tag == NULL || strcmp(tag, "tag:yaml.org,2002:str") != 0);
    return attach(b, n);
}

static int on_event(struct builder *b, const yaml_event_t *ev, int *done)
{
    if (++b->events > DP_YAML_MAX_NODES)
        return fail(b, &ev->start_mark, "document too large");
    switch (ev->type) {
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return KILN_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (b->root != NULL)
            return fail(b, &ev->start_mark, "only one YAML document is allowed");
        return KILN_OK;
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return KILN_OK;
    case YAML_ALIAS_EVENT:
        return fail(b, &ev->start_mark, "YAML aliases (*name) are not supported");
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor != NULL)
            return fail(b, &ev->start_mark, "YAML anchors (&name) are not supported");
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.anchor != NULL)
            return fail(b, &ev->start_mark, "YAML anchors (&name) are not supported");
        return open_container(b, DP_YN_SEQ, &ev->start_mark);
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor != NULL)
            return fail(b, &ev->start_mark, "YAML anchors (&name) are not supported");
        return open_container(b, DP_YN_MAP, &ev->start_mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_container(b);
    }
    return KILN_OK;
}

int dp_yaml_load(struct kiln_arena *arena, const char *data, size_t len, const char *file,
                 struct dp_yn **root, struct kiln_err *err)
{
    yaml_parser_t parser;
    struct builder b;
    int rc = KILN_OK, done = 0;

    *root = NULL;
    memset(&b, 0, sizeof(b));
    b.arena = arena;
    b.file = file;
    b.err = err;
    if (!yaml_parser_initialize(&parser))
        return oom(&b);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (rc == KILN_OK && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR)
                rc = oom(&b);
            else
                rc = kiln_err_set(err, KILN_EINVAL, "%s:%zu:%zu: YAML syntax error: %s%s%s", file,
                                  parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                                  parser.problem != NULL ? parser.problem : "malformed input",
                                  parser.context != NULL ? " " : "",
                                  parser.context != NULL ? parser.context : "");
            break;
        }
        rc = on_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    while (b.depth > 0)
        kiln_free(b.stack[--b.depth].kids);
    if (rc != KILN_OK)
        return rc;
    if (b.root == NULL)
        return kiln_err_set(err, KILN_EINVAL, "%s:1:1: empty document", file);
    *root = b.root;
    return KILN_OK;
}

int dp_yn_is_null(const struct dp_yn *n)
{
    return n == NULL || (n->kind == DP_YN_SCALAR && n->plain &&
                         (n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
                          strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0));
}

/*
 * yaml.c - a YAML document as a small tree with line and column on every node (core/yaml.h),
 * built from libyaml's event parser.
 *
 * Building the tree from events (rather than libyaml's document loader) lets kiln refuse what
 * its specs never need and an attacker would love: anchors and aliases (exponential
 * "billion laughs" expansion, self-referencing nodes), more than one document, nesting deeper
 * than KILN_YAML_MAX_DEPTH, more than KILN_YAML_MAX_NODES nodes, duplicate mapping keys and
 * non-scalar keys. Each error names the line and column.
 *
 * Ownership: every node and string lives in the caller's arena. Temporary child vectors are
 * heap memory released before return, on success and on error alike. Thread-safe (no shared
 * state).
 */
#include <string.h>
#include <yaml.h>

#include "core/mem.h"
#include "core/yaml.h"

struct frame {
    struct kiln_yn *node;
    struct kiln_yn **kids;
    size_t n, cap;
};

struct builder {
    struct kiln_arena *arena;
    const char *file;
    struct frame stack[KILN_YAML_MAX_DEPTH];
    int depth;
    size_t nodes;
    struct kiln_yn *root;
    struct kiln_err *err;
};

static int fail(struct builder *b, const yaml_mark_t *m, const char *what)
{
    return kiln_err_set(b->err, KILN_EINVAL, "%s:%zu:%zu: %s", b->file, m->line + 1, m->column + 1,
                        what);
}

static struct kiln_yn *new_node(struct builder *b, enum kiln_yn_kind kind, const yaml_mark_t *m)
{
    struct kiln_yn *n = kiln_arena_calloc(b->arena, 1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->s = "";
    return n;
}

static int check_dup_key(struct builder *b, const struct frame *f, const struct kiln_yn *key)
{
    char msg[200];
    if (key->kind != KILN_YN_SCALAR) {
        snprintf(msg, sizeof(msg), "mapping keys must be plain strings");
        return kiln_err_set(b->err, KILN_EINVAL, "%s:%d:%d: %s", b->file, key->line, key->col, msg);
    }
    for (size_t i = 0; i < f->n; i += 2) {
        const struct kiln_yn *k = f->kids[i];
        if (k->len == key->len && memcmp(k->s, key->s, k->len) == 0)
            return kiln_err_set(b->err, KILN_EINVAL,
                                "%s:%d:%d: duplicate key '%s' (first at line %d)", b->file,
                                key->line, key->col, key->s, k->line);
    }
    return KILN_OK;
}

/* Appends a finished node to the innermost open container (or makes it the root). */
static int attach(struct builder *b, struct kiln_yn *node)
{
    struct frame *f;
    if (b->depth == 0) {
        b->root = node;
        return KILN_OK;
    }
    f = &b->stack[b->depth - 1];
    if (f->node->kind == KILN_YN_MAP && f->n % 2 == 0) {
        int rc = check_dup_key(b, f, node);
        if (rc != KILN_OK)
            return rc;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct kiln_yn **k = kiln_reallocarray(f->kids, cap, sizeof(*k));
        if (k == NULL)
            return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = node;
    return KILN_OK;
}

static int open_container(struct builder *b, enum kiln_yn_kind kind, const yaml_mark_t *m)
{
    struct kiln_yn *n;
    if (b->depth == KILN_YAML_MAX_DEPTH)
        return fail(b, m, "nesting too deep");
    n = new_node(b, kind, m);
    if (n == NULL)
        return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
    b->stack[b->depth].node = n;
    b->stack[b->depth].kids = NULL;
    b->stack[b->depth].n = b->stack[b->depth].cap = 0;
    b->depth++;
    return KILN_OK;
}

static int close_container(struct builder *b)
{
    struct frame *f = &b->stack[b->depth - 1];
    struct kiln_yn *n = f->node;
    if (f->n > 0) {
        n->kids = kiln_arena_alloc(b->arena, f->n * sizeof(*n->kids));
        if (n->kids == NULL)
            return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
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
    struct kiln_yn *n = new_node(b, KILN_YN_SCALAR, &ev->start_mark);
    const char *tag = (const char *)ev->data.scalar.tag;
    if (n == NULL)
        return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
    n->s =
        kiln_arena_strndup(b->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (n->s == NULL)
        return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
    if (strlen(n->s) != ev->data.scalar.length)
        return fail(b, &ev->start_mark, "NUL character in a string");
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (tag == NULL || strcmp(tag, "tag:yaml.org,2002:str") != 0);
    return attach(b, n);
}

static int on_event(struct builder *b, const yaml_event_t *ev, int *done)
{
    if (++b->nodes > KILN_YAML_MAX_NODES)
        return fail(b, &ev->start_mark, "document too large");
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_NO_EVENT:
        return KILN_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (b->root != NULL)
            return fail(b, &ev->start_mark, "only one YAML document is allowed");
        return KILN_OK;
    case YAML_DOCUMENT_END_EVENT:
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
        return open_container(b, KILN_YN_SEQ, &ev->start_mark);
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor != NULL)
            return fail(b, &ev->start_mark, "YAML anchors (&name) are not supported");
        return open_container(b, KILN_YN_MAP, &ev->start_mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_container(b);
    }
    return KILN_OK;
}

int kiln_yaml_load(struct kiln_arena *arena, const char *data, size_t len, const char *file,
                   struct kiln_yn **root, struct kiln_err *err)
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
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (rc == KILN_OK && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
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

int kiln_yn_is_null(const struct kiln_yn *n)
{
    return n == NULL || (n->kind == KILN_YN_SCALAR && n->plain &&
                         (n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
                          strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0));
}

const struct kiln_yn *kiln_yn_get(const struct kiln_yn *map, const char *key)
{
    if (map == NULL || map->kind != KILN_YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (strcmp(map->kids[i]->s, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

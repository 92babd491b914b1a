/*
 * mlmodel.c - MLmodel files: YAML (libyaml events) to a jansson tree, then the flavors and
 * the signature.
 *
 * The YAML builder keeps an explicit stack of open containers; each event either opens a
 * container, closes one, or adds a scalar as a key or a value of the container on top. The
 * first problem stops the parse with line and column. Limits (depth, node count) bound the
 * work done on hostile input. libyaml allocates with the C library directly, so its own
 * memory is outside the kiln allocator; every jansson node goes through kiln_malloc (main
 * installs it with json_set_alloc_funcs).
 *
 * Ownership: the builder owns the partial tree until it is complete; kiln_mlmodel owns the
 * tree and the parsed columns. Thread-safe: no shared state.
 */
#include "runtime/mlmodel.h"

#include <string.h>
#include <yaml.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 100000
#define SIG_MAX_COLS 100000

struct frame {
    json_t *c;   /* borrowed: owned by its parent (or by the builder for the root) */
    json_t *key; /* pending key of a mapping, owned; NULL when a key is expected */
};

struct builder {
    const char *name;
    json_t *root;
    struct frame st[YAML_MAX_DEPTH];
    int depth;
    size_t nodes;
    int docs;
};

static int is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Attaches v (a new reference, stolen) to the container on top, or makes it the root. */
static int attach(struct builder *b, json_t *v, const yaml_mark_t *mk, struct kiln_err *err)
{
    struct frame *f;
    int rc = KILN_OK;

    if (b->depth == 0) {
        if (b->root != NULL) {
            json_decref(v);
            return kiln_err_set(err, KILN_EPARSE, "%s: line %zu: more than one root value", b->name,
                                mk->line + 1);
        }
        b->root = v;
        return KILN_OK;
    }
    f = &b->st[b->depth - 1];
    if (json_is_array(f->c)) {
        if (json_array_append_new(f->c, v) != 0)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b->name);
        return rc;
    }
    if (json_object_setn_new(f->c, json_string_value(f->key), json_string_length(f->key), v) != 0)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b->name);
    json_decref(f->key);
    f->key = NULL;
    return rc;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev, struct kiln_err *err)
{
    const yaml_mark_t *mk = &ev->start_mark;
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    struct frame *f = b->depth > 0 ? &b->st[b->depth - 1] : NULL;
    json_t *v;

    if (f != NULL && json_is_object(f->c) && f->key == NULL) {
        if (json_object_getn(f->c, s, n) != NULL)
            return kiln_err_set(err, KILN_EPARSE, "%s: line %zu, column %zu: duplicate key '%.*s'",
                                b->name, mk->line + 1, mk->column + 1, (int)(n > 64 ? 64 : n), s);
        /* libyaml has checked the UTF-8 already, so a failure here is an allocation. */
        f->key = json_stringn(s, n);
        if (f->key == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b->name);
        return KILN_OK;
    }
    v = is_null_scalar(ev) ? json_null() : json_stringn(s, n);
    if (v == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b->name);
    return attach(b, v, mk, err);
}

static int on_open(struct builder *b, const yaml_event_t *ev, int is_map, struct kiln_err *err)
{
    const yaml_mark_t *mk = &ev->start_mark;
    struct frame *f = b->depth > 0 ? &b->st[b->depth - 1] : NULL;
    json_t *c;
    int rc;

    if (f != NULL && json_is_object(f->c) && f->key == NULL)
        return kiln_err_set(err, KILN_EPARSE,
                            "%s: line %zu, column %zu: mapping keys must be plain values", b->name,
                            mk->line + 1, mk->column + 1);
    if (b->depth >= YAML_MAX_DEPTH)
        return kiln_err_set(err, KILN_EINVAL, "%s: line %zu: nesting deeper than %d levels",
                            b->name, mk->line + 1, YAML_MAX_DEPTH);
    c = is_map ? json_object() : json_array();
    if (c == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b->name);
    /* The parent (or the builder) owns c; the frame borrows it. */
    rc = attach(b, json_incref(c), mk, err);
    if (rc != KILN_OK) {
        json_decref(c);
        return rc;
    }
    b->st[b->depth].c = c;
    b->st[b->depth].key = NULL;
    b->depth++;
    json_decref(c);
    return KILN_OK;
}

static int on_event(struct builder *b, const yaml_event_t *ev, struct kiln_err *err)
{
    const yaml_mark_t *mk = &ev->start_mark;

    if (ev->type == YAML_SCALAR_EVENT || ev->type == YAML_SEQUENCE_START_EVENT ||
        ev->type == YAML_MAPPING_START_EVENT) {
        if (++b->nodes > YAML_MAX_NODES)
            return kiln_err_set(err, KILN_EINVAL, "%s: more than %d YAML nodes", b->name,
                                YAML_MAX_NODES);
    }
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1)
            return kiln_err_set(err, KILN_EPARSE, "%s: line %zu: only one YAML document allowed",
                                b->name, mk->line + 1);
        return KILN_OK;
    case YAML_ALIAS_EVENT:
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: line %zu, column %zu: YAML aliases are not supported", b->name,
                            mk->line + 1, mk->column + 1);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, err);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(b, ev, 0, err);
    case YAML_MAPPING_START_EVENT:
        return on_open(b, ev, 1, err);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0) {
            b->depth--;
            json_decref(b->st[b->depth].key);
            b->st[b->depth].key = NULL;
        }
        return KILN_OK;
    default:
        return KILN_OK;
    }
}

int kiln_mlmodel_yaml_to_json(const char *text, size_t len, const char *name, json_t **out,
                              struct kiln_err *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct builder b;
    int rc = KILN_OK, done = 0;

    memset(&b, 0, sizeof(b));
    b.name = name != NULL ? name : "YAML";
    if (!yaml_parser_initialize(&p))
        return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b.name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (rc == KILN_OK && !done) {
        if (!yaml_parser_parse(&p, &ev)) {
            if (p.error == YAML_MEMORY_ERROR)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", b.name);
            else
                rc = kiln_err_set(err, KILN_EPARSE, "%s: line %zu, column %zu: %s", b.name,
                                  p.problem_mark.line + 1, p.problem_mark.column + 1,
                                  p.problem != NULL ? p.problem : "malformed YAML");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev, err);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    for (int i = 0; i < b.depth; i++)
        json_decref(b.st[i].key);
    if (rc == KILN_OK && b.root == NULL)
        rc = kiln_err_set(err, KILN_EINVAL, "%s: empty YAML document", b.name);
    if (rc != KILN_OK) {
        json_decref(b.root);
        return rc;
    }
    *out = b.root;
    return KILN_OK;
}

static void free_cols(struct kiln_mlmodel_col *cols, size_t n)
{
    if (cols == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        kiln_free(cols[i].name);
        kiln_free(cols[i].type);
    }
    kiln_free(cols);
}

void kiln_mlmodel_free(struct kiln_mlmodel *mm)
{
    if (mm == NULL)
        return;
    free_cols(mm->inputs, mm->n_inputs);
    json_decref(mm->root);
    kiln_free(mm);
}

/* A tensor spec {"type":"tensor","tensor-spec":{"dtype":..,"shape":[-1,F]}} -> F columns. */
static int tensor_cols(struct kiln_mlmodel *mm, const json_t *spec, const char *name,
                       struct kiln_err *err)
{
    const json_t *ts = json_object_get(spec, "tensor-spec");
    const json_t *shape = json_object_get(ts, "shape");
    const char *dtype = json_string_value(json_object_get(ts, "dtype"));
    const char *type = NULL;
    json_int_t f;
    static const char *const map[][2] = {
        { "float64", "double" }, { "float32", "float" }, { "int64", "long" },
        { "int32", "integer" },  { "bool", "boolean" },
    };

    if (!json_is_object(ts) || dtype == NULL || !json_is_array(shape))
        return kiln_err_set(err, KILN_EINVAL, "%s: signature: malformed tensor-spec", name);
    for (size_t i = 0; i < KILN_ARRAY_LEN(map); i++)
        if (strcmp(dtype, map[i][0]) == 0)
            type = map[i][1];
    if (type == NULL)
        return kiln_err_set(err, KILN_ENOTSUP, "%s: signature: tensor dtype '%s' is not supported",
                            name, dtype);
    if (json_array_size(shape) != 2 || !json_is_integer(json_array_get(shape, 1)))
        return kiln_err_set(err, KILN_ENOTSUP,
                            "%s: signature: only 2-D tensors of shape [-1, features] are supported",
                            name);
    f = json_integer_value(json_array_get(shape, 1));
    if (f < 1 || f > SIG_MAX_COLS)
        return kiln_err_set(err, KILN_EINVAL, "%s: signature: tensor width %lld out of range", name,
                            (long long)f);
    mm->inputs = kiln_calloc((size_t)f, sizeof(*mm->inputs));
    if (mm->inputs == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", name);
    for (json_int_t i = 0; i < f; i++) {
        char col[32];
        snprintf(col, sizeof(col), "f%lld", (long long)i);
        mm->inputs[i].name = kiln_strdup(col);
        mm->inputs[i].type = kiln_strdup(type);
        mm->inputs[i].required = 1;
        mm->n_inputs++;
        if (mm->inputs[i].name == NULL || mm->inputs[i].type == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", name);
    }
    mm->tensor_input = 1;
    return KILN_OK;
}

static int col_spec(struct kiln_mlmodel_col *c, const json_t *spec, size_t i, const char *name,
                    struct kiln_err *err)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    const json_t *nm = json_object_get(spec, "name");
    const json_t *req = json_object_get(spec, "required");
    char fallback[32];

    if (!json_is_object(spec) || type == NULL)
        return kiln_err_set(err, KILN_EINVAL, "%s: signature: input %zu has no 'type'", name, i);
    if (nm != NULL && !json_is_null(nm) && !json_is_string(nm))
        return kiln_err_set(err, KILN_EINVAL, "%s: signature: input %zu: 'name' is not a string",
                            name, i);
    if (req != NULL && !json_is_boolean(req))
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: signature: input %zu: 'required' is not a boolean", name, i);
    snprintf(fallback, sizeof(fallback), "%zu", i);
    c->name = kiln_strdup(json_is_string(nm) ? json_string_value(nm) : fallback);
    c->type = kiln_strdup(type);
    c->required = req == NULL || json_is_true(req);
    if (c->name == NULL || c->type == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", name);
    return KILN_OK;
}

static int parse_signature(struct kiln_mlmodel *mm, const char *name, struct kiln_err *err)
{
    const json_t *sig = json_object_get(mm->root, "signature");
    const json_t *in;
    json_t *cols = NULL;
    struct kiln_err sub = { 0 };
    int rc = KILN_OK;
    size_t n;

    if (sig == NULL || json_is_null(sig))
        return KILN_OK;
    if (!json_is_object(sig))
        return kiln_err_set(err, KILN_EINVAL, "%s: 'signature' is not a mapping", name);
    in = json_object_get(sig, "inputs");
    if (in == NULL || json_is_null(in))
        return KILN_OK;
    if (!json_is_string(in))
        return kiln_err_set(err, KILN_EINVAL, "%s: signature 'inputs' is not a JSON string", name);
    rc = kiln_json_parse_any(json_string_value(in), json_string_length(in), &cols, &sub);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "%s: signature inputs: %s", name, sub.msg);
    n = json_array_size(cols);
    if (!json_is_array(cols) || n == 0 || n > SIG_MAX_COLS) {
        rc = kiln_err_set(err, KILN_EINVAL, "%s: signature inputs must be a non-empty JSON list",
                          name);
        goto out;
    }
    mm->has_signature = 1;
    if (json_is_string(json_object_get(json_array_get(cols, 0), "type")) &&
        strcmp(json_string_value(json_object_get(json_array_get(cols, 0), "type")), "tensor") ==
            0) {
        if (n != 1)
            rc = kiln_err_set(err, KILN_ENOTSUP,
                              "%s: signature: only one input tensor is supported", name);
        else
            rc = tensor_cols(mm, json_array_get(cols, 0), name, err);
        goto out;
    }
    mm->inputs = kiln_calloc(n, sizeof(*mm->inputs));
    if (mm->inputs == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", name);
        goto out;
    }
    for (size_t i = 0; i < n && rc == KILN_OK; i++) {
        rc = col_spec(&mm->inputs[i], json_array_get(cols, i), i, name, err);
        mm->n_inputs++;
    }
out:
    json_decref(cols);
    return rc;
}

int kiln_mlmodel_parse(const char *text, size_t len, const char *name, struct kiln_mlmodel **out,
                       struct kiln_err *err)
{
    struct kiln_mlmodel *mm;
    int rc;

    if (name == NULL)
        name = "MLmodel";
    mm = kiln_calloc(1, sizeof(*mm));
    if (mm == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory reading %s", name);
    rc = kiln_mlmodel_yaml_to_json(text, len, name, &mm->root, err);
    if (rc != KILN_OK)
        goto out;
    if (!json_is_object(mm->root)) {
        rc = kiln_err_set(err, KILN_EINVAL, "%s: the document is not a mapping", name);
        goto out;
    }
    mm->flavors = json_object_get(mm->root, "flavors");
    if (!json_is_object(mm->flavors) || json_object_size(mm->flavors) == 0) {
        rc = kiln_err_set(err, KILN_EINVAL, "%s: no 'flavors' mapping", name);
        goto out;
    }
    rc = parse_signature(mm, name, err);
out:
    if (rc != KILN_OK) {
        kiln_mlmodel_free(mm);
        return rc;
    }
    *out = mm;
    return KILN_OK;
}

int kiln_mlmodel_read(const char *dir, struct kiln_mlmodel **out, struct kiln_err *err)
{
    struct kiln_buf path, text;
    int rc;

    kiln_buf_init(&path, 8192);
    kiln_buf_init(&text, KILN_MLMODEL_MAX_BYTES);
    rc = kiln_path_join(&path, dir, "MLmodel");
    if (rc != KILN_OK) {
        rc = kiln_err_set(err, rc, "model directory path too long");
        goto out;
    }
    if (!kiln_is_dir(dir)) {
        rc = kiln_err_set(err, KILN_ENOENT, "model directory '%s' does not exist", dir);
        goto out;
    }
    rc = kiln_read_file(path.buf, &text, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "'%s' has no MLmodel file", dir);
    else if (rc == KILN_ETOOBIG)
        rc = kiln_err_set(err, rc, "'%s': MLmodel is larger than %zu bytes", path.buf,
                          KILN_MLMODEL_MAX_BYTES);
    if (rc == KILN_OK)
        rc = kiln_mlmodel_parse(text.buf, text.len, "MLmodel", out, err);
out:
    kiln_buf_release(&text);
    kiln_buf_release(&path);
    return rc;
}

const json_t *kiln_mlmodel_flavor(const struct kiln_mlmodel *mm, const char *flavor)
{
    const json_t *f = json_object_get(mm->flavors, flavor);
    return json_is_object(f) ? f : NULL;
}

const char *kiln_mlmodel_flavor_str(const struct kiln_mlmodel *mm, const char *flavor,
                                    const char *field)
{
    return json_string_value(json_object_get(kiln_mlmodel_flavor(mm, flavor), field));
}

const char *kiln_mlmodel_str(const struct kiln_mlmodel *mm, const char *field)
{
    return json_string_value(json_object_get(mm->root, field));
}

/*
 * parse_common.c - schemas, row matrices, error locations and value conversion shared by the
 * request parsers (see parse.h for the rules, parse_int.h for the pieces).
 *
 * Ownership: a schema owns its arrays (kiln_malloc) and borrows the model; the row matrix and
 * every temporary of a parse come from the request arena. Thread-safety: a schema is
 * immutable after kiln_serve_schema_new; everything else is per call.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "quality/num.h"
#include "serve/parse_int.h"

static uint32_t fnv1a(const char *p, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

long sc_find(const struct kiln_serve_schema *sc, const char *p, size_t len, size_t hint)
{
    size_t i;
    if (hint < sc->F && sc->in[hint].len == len && memcmp(sc->in[hint].name, p, len) == 0)
        return (long)hint;
    for (i = fnv1a(p, len) & sc->mask; sc->slots[i] != 0; i = (i + 1) & sc->mask) {
        const struct sc_input *in = &sc->in[sc->slots[i] - 1];
        if (in->len == len && memcmp(in->name, p, len) == 0)
            return (long)sc->slots[i] - 1;
    }
    return -1;
}

const char *kiln_serve_oip_datatype(enum kiln_rt_type t)
{
    switch (t) {
    case KILN_RT_DOUBLE:
        return "FP64";
    case KILN_RT_FLOAT:
        return "FP32";
    case KILN_RT_LONG:
        return "INT64";
    case KILN_RT_INTEGER:
        return "INT32";
    case KILN_RT_BOOLEAN:
        return "BOOL";
    case KILN_RT_STRING:
        return "BYTES";
    }
    return "FP64";
}

/* Renders class labels for both protocols and picks the OIP label datatype. */
static int schema_labels(struct kiln_serve_schema *sc)
{
    int all_int = 1, all_bool = 1, any_string = 0;
    sc->label_json = kiln_calloc(sc->n_classes, sizeof(*sc->label_json));
    sc->label_len = kiln_calloc(sc->n_classes, sizeof(*sc->label_len));
    if (sc->label_json == NULL || sc->label_len == NULL)
        return KILN_ENOMEM;
    for (size_t k = 0; k < sc->n_classes; k++) {
        const struct kiln_rt_class *c = kiln_rt_class(sc->m, k);
        int is_bool =
            c->is_number && (strcmp(c->text, "true") == 0 || strcmp(c->text, "false") == 0);
        all_bool &= is_bool;
        any_string |= !c->is_number;
        all_int &= c->is_number && !is_bool && c->number == floor(c->number) &&
                   fabs(c->number) < 9007199254740992.0;
    }
    sc->label_dtype = any_string ? "BYTES" : all_bool ? "BOOL" : all_int ? "INT64" : "FP64";
    for (size_t k = 0; k < sc->n_classes; k++) {
        const struct kiln_rt_class *c = kiln_rt_class(sc->m, k);
        struct kiln_buf b;
        char num[40];
        int rc;
        kiln_buf_init(&b, 1 << 16);
        if (!c->is_number || any_string) {
            rc = kiln_json_quote(&b, c->text, strlen(c->text));
        } else if (strcmp(sc->label_dtype, "BOOL") == 0 || strcmp(sc->label_dtype, "INT64") == 0) {
            rc = kiln_buf_puts(&b, c->text);
        } else {
            kiln_format_double(c->number, num, sizeof(num));
            rc = kiln_buf_puts(&b, num);
        }
        if (rc == KILN_OK && b.alloc == 0)
            rc = kiln_buf_grow(&b, 1);
        if (rc != KILN_OK) {
            kiln_buf_release(&b);
            return rc;
        }
        sc->label_json[k] = kiln_buf_detach(&b, &sc->label_len[k]);
        if (sc->label_json[k] == NULL)
            return KILN_ENOMEM;
    }
    return KILN_OK;
}

int kiln_serve_schema_new(const struct kiln_rt_model *m, struct kiln_serve_schema **out,
                          struct kiln_err *err)
{
    struct kiln_serve_schema *sc = kiln_calloc(1, sizeof(*sc));
    size_t cap = 8;
    int rc = KILN_OK;

    if (sc == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    sc->m = m;
    sc->F = kiln_rt_n_inputs(m);
    sc->classifier = kiln_rt_task(m) == KILN_RT_CLASSIFIER;
    sc->n_classes = kiln_rt_n_classes(m);
    sc->n_values = kiln_rt_n_outputs(m);
    sc->mlflow_out = kiln_rt_mlflow_output(m);
    while (cap < 2 * sc->F)
        cap *= 2;
    sc->mask = cap - 1;
    sc->in = kiln_calloc(sc->F > 0 ? sc->F : 1, sizeof(*sc->in));
    sc->slots = kiln_calloc(cap, sizeof(*sc->slots));
    if (sc->in == NULL || sc->slots == NULL) {
        rc = KILN_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < sc->F; j++) {
        const struct kiln_rt_input *in = kiln_rt_input(m, j);
        size_t h;
        sc->in[j].name = in->name;
        sc->in[j].len = strlen(in->name);
        sc->in[j].type = in->type;
        sc->in[j].required = in->required;
        sc->in[j].allow_missing = in->allow_missing;
        if (sc_find(sc, in->name, sc->in[j].len, (size_t)-1) >= 0)
            continue; /* duplicate names cannot load; keep the first anyway */
        for (h = fnv1a(in->name, sc->in[j].len) & sc->mask; sc->slots[h] != 0;
             h = (h + 1) & sc->mask)
            ;
        sc->slots[h] = (uint32_t)j + 1;
    }
    if (sc->classifier)
        rc = schema_labels(sc);
out:
    if (rc != KILN_OK) {
        kiln_serve_schema_free(sc);
        return kiln_err_set(err, rc, "out of memory building the request schema");
    }
    *out = sc;
    return KILN_OK;
}

void kiln_serve_schema_free(struct kiln_serve_schema *sc)
{
    if (sc == NULL)
        return;
    for (size_t k = 0; sc->label_json != NULL && k < sc->n_classes; k++)
        kiln_free(sc->label_json[k]);
    kiln_free(sc->label_json);
    kiln_free(sc->label_len);
    kiln_free(sc->in);
    kiln_free(sc->slots);
    kiln_free(sc);
}

void loc_fmt(const struct loc *l, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s", l->path);
    if (l->i >= 0 && n < size)
        n += (size_t)snprintf(buf + n, size - n, "[%ld]", l->i);
    if (l->j >= 0 && n < size)
        n += (size_t)snprintf(buf + n, size - n, "[%ld]", l->j);
    if (l->key != NULL && n < size)
        snprintf(buf + n, size - n, ".%.*s", (int)(l->key_len > 64 ? 64 : l->key_len), l->key);
}

int loc_fail(const struct loc *l, struct kiln_err *err, const char *fmt, ...)
{
    char where[160], what[KILN_ERR_MSG_MAX];
    va_list ap;
    loc_fmt(l, where, sizeof(where));
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return kiln_err_set(err, KILN_EINVAL, "%s: %s", where, what);
}

void rb_init(struct rowbuf *rb, const struct kiln_serve_schema *sc, struct kiln_arena *arena,
             struct kiln_err *err)
{
    rb->sc = sc;
    rb->arena = arena;
    rb->x = NULL;
    rb->n = rb->cap = 0;
    rb->err = err;
}

int rb_reserve(struct rowbuf *rb, size_t total)
{
    size_t F = rb->sc->F > 0 ? rb->sc->F : 1, cap = rb->cap > 0 ? rb->cap : 4;
    double *x;
    if (total <= rb->cap)
        return KILN_OK;
    if (total > KILN_SERVE_MAX_ROWS)
        return kiln_err_set(rb->err, KILN_ETOOBIG, "a request may hold at most %zu rows",
                            KILN_SERVE_MAX_ROWS);
    while (cap < total)
        cap *= 2;
    if (cap > KILN_SERVE_MAX_ROWS)
        cap = KILN_SERVE_MAX_ROWS;
    x = kiln_arena_alloc(rb->arena, cap * F * sizeof(double));
    if (x == NULL)
        return kiln_err_set(rb->err, KILN_ENOMEM, "out of memory for %zu rows", cap);
    if (rb->n > 0)
        memcpy(x, rb->x, rb->n * F * sizeof(double));
    rb->x = x;
    rb->cap = cap;
    return KILN_OK;
}

double *rb_push(struct rowbuf *rb)
{
    size_t F = rb->sc->F;
    double *row;
    if (rb->n == rb->cap && rb_reserve(rb, rb->n + 1) != KILN_OK)
        return NULL;
    row = rb->x + rb->n * F;
    for (size_t j = 0; j < F; j++)
        row[j] = NAN;
    rb->n++;
    return row;
}

static const char *type_word(enum kiln_rt_type t)
{
    switch (t) {
    case KILN_RT_BOOLEAN:
        return "a boolean";
    case KILN_RT_STRING:
        return "a string";
    case KILN_RT_LONG:
    case KILN_RT_INTEGER:
        return "an integer";
    default:
        return "a number";
    }
}

int cell_check(const struct kiln_serve_schema *sc, size_t j, double v, const struct loc *l,
               struct kiln_err *err)
{
    struct kiln_err e = { 0 };
    if ((sc->in[j].type == KILN_RT_DOUBLE || sc->in[j].type == KILN_RT_FLOAT) && !isnan(v))
        return KILN_OK;
    if (kiln_rt_check_value(sc->m, j, v, &e) == KILN_OK)
        return KILN_OK;
    return loc_fail(l, err, "%s", e.msg);
}

static int wrong_type(const struct kiln_serve_schema *sc, size_t j, const struct loc *l,
                      struct kiln_err *err, const char *got)
{
    return loc_fail(l, err, "input '%s' (%s) expects %s, got %s", sc->in[j].name,
                    kiln_rt_type_name(sc->in[j].type), type_word(sc->in[j].type), got);
}

static int encode(const struct kiln_serve_schema *sc, size_t j, const char *p, size_t len,
                  double *out, const struct loc *l, struct kiln_err *err)
{
    struct kiln_err e = { 0 };
    if (kiln_rt_encode(sc->m, j, p, len, out, &e) == KILN_OK)
        return KILN_OK;
    return loc_fail(l, err, "%s", e.msg);
}

int cell_json(struct js *s, const struct kiln_serve_schema *sc, size_t j, double *out,
              const struct loc *l)
{
    enum kiln_rt_type t = sc->in[j].type;
    struct kiln_str str;
    double v;
    int rc;

    switch (js_peek(s)) {
    case '"':
        rc = js_string(s, &str);
        if (rc != KILN_OK)
            return rc;
        if (t != KILN_RT_STRING)
            return wrong_type(sc, j, l, s->err, "a string");
        return encode(sc, j, str.p, str.len, out, l, s->err);
    case 't':
    case 'f':
        v = js_peek(s) == 't';
        rc = js_literal(s, v != 0 ? "true" : "false");
        if (rc != KILN_OK)
            return rc;
        if (t != KILN_RT_BOOLEAN)
            return wrong_type(sc, j, l, s->err, "a boolean");
        *out = v;
        return KILN_OK;
    case 'n':
        rc = js_literal(s, "null");
        if (rc != KILN_OK)
            return rc;
        *out = NAN;
        return cell_check(sc, j, NAN, l, s->err);
    case '[':
        return wrong_type(sc, j, l, s->err, "a list");
    case '{':
        return wrong_type(sc, j, l, s->err, "an object");
    default:
        rc = js_number(s, &v);
        if (rc != KILN_OK)
            return rc;
        if (t == KILN_RT_STRING && !isnan(v))
            return wrong_type(sc, j, l, s->err, "a number");
        *out = v;
        return cell_check(sc, j, v, l, s->err);
    }
}

int cell_text(const struct kiln_serve_schema *sc, size_t j, const char *p, size_t len, int missing,
              double *out, const struct loc *l, struct kiln_err *err)
{
    enum kiln_rt_type t = sc->in[j].type;
    double v;
    if (missing) {
        *out = NAN;
        return cell_check(sc, j, NAN, l, err);
    }
    if (t == KILN_RT_STRING)
        return encode(sc, j, p, len, out, l, err);
    if (t == KILN_RT_BOOLEAN) {
        int b;
        if (kiln_num_parse_bool(p, len, &b)) {
            *out = b;
            return KILN_OK;
        }
    }
    if (kiln_num_parse(p, len, &v) == KILN_NUM_NONE)
        return loc_fail(l, err, "input '%s' (%s) expects %s, got '%.*s'", sc->in[j].name,
                        kiln_rt_type_name(t), type_word(t), (int)(len > 40 ? 40 : len), p);
    *out = v;
    return cell_check(sc, j, v, l, err);
}

int rows_check_missing(const struct kiln_serve_schema *sc, const uint32_t *seen, uint32_t mark,
                       int columns, const struct loc *l, struct kiln_err *err)
{
    for (size_t j = 0; j < sc->F; j++)
        if (seen[j] != mark && (!sc->in[j].allow_missing || (columns && sc->in[j].required)))
            return loc_fail(l, err, "missing input '%s' (%s)", sc->in[j].name,
                            kiln_rt_type_name(sc->in[j].type));
    return KILN_OK;
}

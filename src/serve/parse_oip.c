/*
 * parse_oip.c - Open Inference Protocol v2 inference requests -> rows (see parse.h).
 *
 * Two passes, as for MLflow bodies: the first reads each input tensor's name, shape and
 * datatype and remembers where its data starts (data may come first in the text); the
 * request's layout is then decided (one [N, F] matrix, or one tensor per model input), the
 * row matrix allocated once, and the data walked (flat or nested, row-major) straight into
 * it, each value checked against its tensor's datatype and its model input's type.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "serve/parse_int.h"

#define MAX_DIMS 8
#define MAX_TENSORS 65536

enum dkind { K_BOOL, K_INT, K_UINT, K_FP, K_BYTES };

struct dtype {
    const char *name;
    enum dkind kind;
    double lo, hi; /* integer range */
};

static const struct dtype dtypes[] = {
    { "BOOL", K_BOOL, 0, 1 },
    { "INT8", K_INT, -128.0, 127.0 },
    { "INT16", K_INT, -32768.0, 32767.0 },
    { "INT32", K_INT, -2147483648.0, 2147483647.0 },
    { "INT64", K_INT, -9223372036854775808.0, 9223372036854775807.0 },
    { "UINT8", K_UINT, 0, 255.0 },
    { "UINT16", K_UINT, 0, 65535.0 },
    { "UINT32", K_UINT, 0, 4294967295.0 },
    { "UINT64", K_UINT, 0, 18446744073709551615.0 },
    { "FP16", K_FP, 0, 0 },
    { "FP32", K_FP, 0, 0 },
    { "FP64", K_FP, 0, 0 },
    { "BYTES", K_BYTES, 0, 0 },
};

struct tensor {
    struct kiln_str name;
    size_t shape[MAX_DIMS];
    size_t ndim;
    const struct dtype *dt;
    const char *data;
    uint64_t count; /* product of the shape */
    long input;     /* columnar layout: the model input it feeds */
};

/* Walking one tensor's data. */
struct walk {
    struct js *s;
    const struct kiln_serve_schema *sc;
    const struct tensor *t;
    struct loc l;
    double *x;  /* the row matrix */
    size_t F;   /* stride of the row matrix */
    int matrix; /* value k goes to row k / F, input k % F; else row k, input t->input */
    uint64_t k;
};

static int shape_text(const struct tensor *t, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (size_t d = 0; d < t->ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%zu", d ? ", " : "", t->shape[d]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
    return 0;
}

static int read_shape(struct js *s, struct tensor *t, struct loc *l)
{
    int first = 1, rc;
    t->ndim = 0;
    t->count = 1;
    if (js_peek(s) != '[')
        return loc_fail(l, s->err, "shape: expected a list of sizes");
    s->p++;
    while ((rc = js_arr_next(s, &first)) == 1) {
        double d;
        if (t->ndim == MAX_DIMS)
            return loc_fail(l, s->err, "shape: more than %d dimensions", MAX_DIMS);
        if (js_peek(s) == '"' || js_peek(s) == '[' || js_peek(s) == '{' || js_peek(s) == 't' ||
            js_peek(s) == 'f' || js_peek(s) == 'n')
            return loc_fail(l, s->err, "shape: expected non-negative integers");
        if ((rc = js_number(s, &d)) != KILN_OK)
            return rc;
        if (!(d >= 0 && d == floor(d) && d <= 1e12))
            return loc_fail(l, s->err, "shape: expected non-negative integers, got %g", d);
        t->shape[t->ndim++] = (size_t)d;
        t->count = t->count * (uint64_t)d;
        if (t->count > (uint64_t)KILN_SERVE_MAX_ROWS * 64)
            return loc_fail(l, s->err, "shape: too many elements");
    }
    if (rc < 0)
        return rc;
    if (t->ndim == 0)
        return loc_fail(l, s->err, "shape: expected at least one dimension");
    return KILN_OK;
}

/* First pass over one tensor object. */
static int read_tensor(struct js *s, struct tensor *t, struct loc *l)
{
    struct kiln_str key, dt;
    int first = 1, rc, have_name = 0, have_shape = 0, have_dt = 0;

    memset(t, 0, sizeof(*t));
    t->input = -1;
    if (js_peek(s) != '{')
        return loc_fail(l, s->err, "expected a tensor object {name, shape, datatype, data}");
    s->p++;
    while ((rc = js_obj_next(s, &first, &key)) == 1) {
        if (kiln_str_eq_cstr(key, "name")) {
            if (js_peek(s) != '"')
                return loc_fail(l, s->err, "name: expected a string");
            rc = js_string(s, &t->name);
            have_name = 1;
        } else if (kiln_str_eq_cstr(key, "shape")) {
            rc = read_shape(s, t, l);
            have_shape = 1;
        } else if (kiln_str_eq_cstr(key, "datatype")) {
            if (js_peek(s) != '"')
                return loc_fail(l, s->err, "datatype: expected a string");
            if ((rc = js_string(s, &dt)) != KILN_OK)
                return rc;
            for (size_t i = 0; i < KILN_ARRAY_LEN(dtypes); i++)
                if (kiln_str_eq_cstr(dt, dtypes[i].name))
                    t->dt = &dtypes[i];
            if (t->dt == NULL)
                return loc_fail(l, s->err,
                                "datatype: unknown datatype '%.*s' (BOOL, INT8..INT64, "
                                "UINT8..UINT64, FP16, FP32, FP64, BYTES)",
                                (int)(dt.len > 32 ? 32 : dt.len), dt.p);
            have_dt = 1;
        } else if (kiln_str_eq_cstr(key, "data")) {
            js_peek(s);
            t->data = s->p;
            rc = js_skip(s);
        } else if (kiln_str_eq_cstr(key, "parameters")) {
            if (js_peek(s) != '{' && js_peek(s) != 'n')
                return loc_fail(l, s->err, "parameters: expected an object");
            rc = js_skip(s);
        } else {
            rc = js_skip(s);
        }
        if (rc != KILN_OK)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (!have_name || !have_shape || !have_dt || t->data == NULL)
        return loc_fail(l, s->err, "missing field '%s'",
                        !have_name    ? "name"
                        : !have_shape ? "shape"
                        : !have_dt    ? "datatype"
                                      : "data");
    return KILN_OK;
}

/* One scalar of the data. */
static int walk_value(struct walk *w)
{
    struct js *s = w->s;
    const struct kiln_serve_schema *sc = w->sc;
    enum dkind kind = w->t->dt->kind;
    uint64_t k = w->k;
    size_t row, j;
    double *out;
    int c = js_peek(s), rc;
    double v;

    w->l.i = (long)k;
    if (k >= w->t->count) {
        char shape[96];
        shape_text(w->t, shape, sizeof(shape));
        w->l.i = -1;
        return loc_fail(&w->l, s->err, "more values than the shape %s holds (%llu)", shape,
                        (unsigned long long)w->t->count);
    }
    w->k++;
    /* k < count, so F > 0 in the matrix layout (count = N * F). */
    row = w->matrix ? (size_t)(k / w->F) : (size_t)k;
    j = w->matrix ? (size_t)(k % w->F) : (size_t)w->t->input;
    out = &w->x[row * w->F + j];
    if (sc->in[j].type == KILN_RT_STRING) {
        if (kind != K_BYTES)
            return loc_fail(&w->l, s->err, "input '%s' (string) must be sent as BYTES, not %s",
                            sc->in[j].name, w->t->dt->name);
        if (c == 'n') {
            if ((rc = js_literal(s, "null")) != KILN_OK)
                return rc;
            *out = NAN;
            return cell_check(sc, j, NAN, &w->l, s->err);
        }
        if (c != '"')
            return loc_fail(&w->l, s->err, "BYTES data must be strings");
        return cell_json(s, sc, j, out, &w->l);
    }
    switch (kind) {
    case K_BYTES:
        return loc_fail(&w->l, s->err, "input '%s' (%s) expects numbers, not BYTES", sc->in[j].name,
                        kiln_rt_type_name(sc->in[j].type));
    case K_BOOL:
        if (c != 't' && c != 'f')
            return loc_fail(&w->l, s->err, "BOOL data must be true or false");
        v = c == 't';
        if ((rc = js_literal(s, v != 0 ? "true" : "false")) != KILN_OK)
            return rc;
        break;
    default:
        if (c == 'n' && kind == K_FP) {
            if ((rc = js_literal(s, "null")) != KILN_OK)
                return rc;
            v = NAN;
            break;
        }
        if (c == '"' || c == 't' || c == 'f' || c == 'n' || c == '{')
            return loc_fail(&w->l, s->err, "%s data must be numbers", w->t->dt->name);
        if ((rc = js_number(s, &v)) != KILN_OK)
            return rc;
        if (kind != K_FP && (v != floor(v) || v < w->t->dt->lo || v > w->t->dt->hi))
            return loc_fail(&w->l, s->err, "%g is not a valid %s", v, w->t->dt->name);
        break;
    }
    *out = v;
    return cell_check(sc, j, v, &w->l, s->err);
}

static int walk_data(struct walk *w, int depth)
{
    struct js *s = w->s;
    int first = 1, rc;
    if (js_peek(s) != '[')
        return walk_value(w);
    if (depth >= MAX_DIMS)
        return loc_fail(&w->l, s->err, "data nested deeper than %d levels", MAX_DIMS);
    s->p++;
    while ((rc = js_arr_next(s, &first)) == 1)
        if ((rc = walk_data(w, depth + 1)) != KILN_OK)
            return rc;
    return rc < 0 ? rc : KILN_OK;
}

static int read_outputs(struct js *s, const struct kiln_serve_schema *sc,
                        struct kiln_serve_oip_req *out)
{
    struct loc l = { "outputs", -1, -1, NULL, 0 };
    int first = 1, rc;
    if (js_peek(s) != '[')
        return loc_fail(&l, s->err, "expected a list of {\"name\": ...}");
    s->p++;
    while ((rc = js_arr_next(s, &first)) == 1) {
        struct kiln_str key, name = { NULL, 0 };
        int f2 = 1;
        enum kiln_serve_output o;
        l.i++;
        if (js_peek(s) != '{')
            return loc_fail(&l, s->err, "expected an object {\"name\": ...}");
        s->p++;
        while ((rc = js_obj_next(s, &f2, &key)) == 1) {
            if (kiln_str_eq_cstr(key, "name") && js_peek(s) == '"')
                rc = js_string(s, &name);
            else
                rc = js_skip(s);
            if (rc != KILN_OK)
                return rc;
        }
        if (rc < 0)
            return rc;
        if (name.p == NULL)
            return loc_fail(&l, s->err, "missing field 'name'");
        if (sc->classifier && kiln_str_eq_cstr(name, "label"))
            o = KILN_SERVE_OUT_LABEL;
        else if (sc->classifier && kiln_str_eq_cstr(name, "probabilities"))
            o = KILN_SERVE_OUT_PROBABILITIES;
        else if (!sc->classifier && kiln_str_eq_cstr(name, "prediction"))
            o = KILN_SERVE_OUT_PREDICTION;
        else
            return loc_fail(&l, s->err, "unknown output '%.*s' (this model has %s)",
                            (int)(name.len > 64 ? 64 : name.len), name.p,
                            sc->classifier ? "label, probabilities" : "prediction");
        for (size_t i = 0; i < out->n_outputs; i++)
            if (out->outputs[i] == o)
                return loc_fail(&l, s->err, "output '%.*s' requested twice", (int)name.len, name.p);
        out->outputs[out->n_outputs++] = o;
    }
    return rc < 0 ? rc : KILN_OK;
}

/* Decides the layout and checks every tensor against it; *n_rows gets N. */
static int layout(struct js *s, const struct kiln_serve_schema *sc, struct tensor *t, size_t nt,
                  int *matrix, size_t *n_rows)
{
    struct loc l = { "inputs", 0, -1, NULL, 0 };
    uint32_t *seen;
    char shape[96];

    if (nt == 1 && t[0].ndim == 2 && t[0].shape[1] == sc->F) {
        *matrix = 1;
        *n_rows = t[0].shape[0];
        return KILN_OK;
    }
    if (nt == 1 && t[0].ndim == 1 && sc->F > 1 && t[0].shape[0] == sc->F &&
        sc_find(sc, t[0].name.p, t[0].name.len, 0) < 0) {
        *matrix = 1;
        *n_rows = 1;
        return KILN_OK;
    }
    *matrix = 0;
    seen = kiln_arena_calloc(s->arena, sc->F + 1, sizeof(*seen));
    if (seen == NULL)
        return kiln_err_set(s->err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < nt; i++) {
        long j = sc_find(sc, t[i].name.p, t[i].name.len, i);
        l.i = (long)i;
        shape_text(&t[i], shape, sizeof(shape));
        if (j < 0)
            return loc_fail(&l, s->err,
                            "tensor '%.*s' with shape %s is neither an input of the model nor "
                            "a [N, %zu] matrix of all %zu inputs",
                            (int)(t[i].name.len > 64 ? 64 : t[i].name.len), t[i].name.p, shape,
                            sc->F, sc->F);
        if (seen[j])
            return loc_fail(&l, s->err, "input '%s' given twice", sc->in[j].name);
        seen[j] = 1;
        if (!(t[i].ndim == 1 || (t[i].ndim == 2 && t[i].shape[1] == 1)))
            return loc_fail(&l, s->err, "tensor '%s' has shape %s; one input takes [N] or [N, 1]",
                            sc->in[j].name, shape);
        if (i > 0 && t[i].shape[0] != *n_rows)
            return loc_fail(&l, s->err, "tensor '%s' has %zu rows, tensor '%.*s' %zu",
                            sc->in[j].name, t[i].shape[0], (int)t[0].name.len, t[0].name.p,
                            *n_rows);
        *n_rows = t[i].shape[0];
        t[i].input = j;
    }
    l.i = -1;
    return rows_check_missing(sc, seen, 1, 1, &l, s->err);
}

static int read_inputs(struct js *s, const struct kiln_serve_schema *sc, struct rowbuf *rb)
{
    struct loc l = { "inputs", -1, -1, NULL, 0 };
    struct tensor *t = NULL;
    size_t nt = 0, cap = 0, n_rows = 0;
    int first = 1, rc, matrix;

    if (js_peek(s) != '[')
        return loc_fail(&l, s->err, "expected a list of tensors");
    s->p++;
    while ((rc = js_arr_next(s, &first)) == 1) {
        if (nt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct tensor *bigger;
            if (ncap > MAX_TENSORS)
                return loc_fail(&l, s->err, "more than %d tensors", MAX_TENSORS);
            bigger = kiln_arena_alloc(s->arena, ncap * sizeof(*t));
            if (bigger == NULL)
                return kiln_err_set(s->err, KILN_ENOMEM, "out of memory");
            if (nt > 0)
                memcpy(bigger, t, nt * sizeof(*t));
            t = bigger;
            cap = ncap;
        }
        l.i = (long)nt;
        if ((rc = read_tensor(s, &t[nt], &l)) != KILN_OK)
            return rc;
        nt++;
    }
    if (rc < 0)
        return rc;
    l.i = -1;
    if (nt == 0)
        return loc_fail(&l, s->err, "no input tensors");
    if ((rc = layout(s, sc, t, nt, &matrix, &n_rows)) != KILN_OK)
        return rc;
    if ((rc = rb_reserve(rb, n_rows)) != KILN_OK)
        return rc;
    for (size_t r = 0; r < n_rows; r++)
        rb_push(rb);
    for (size_t i = 0; i < nt; i++) {
        char path[40], shape[96];
        struct walk w = { s, sc, &t[i], { path, -1, -1, NULL, 0 }, rb->x, sc->F, matrix, 0 };
        snprintf(path, sizeof(path), "inputs[%zu].data", i);
        s->p = t[i].data;
        if ((rc = walk_data(&w, 0)) != KILN_OK)
            return rc;
        if (w.k != t[i].count) {
            shape_text(&t[i], shape, sizeof(shape));
            w.l.i = -1;
            return loc_fail(&w.l, s->err, "%llu values, but shape %s needs %llu",
                            (unsigned long long)w.k, shape, (unsigned long long)t[i].count);
        }
    }
    return KILN_OK;
}

int kiln_serve_parse_oip(const struct kiln_serve_schema *sc, const char *body, size_t len,
                         struct kiln_arena *arena, struct kiln_serve_oip_req *out,
                         struct kiln_err *err)
{
    const char *inputs = NULL, *outputs = NULL;
    struct kiln_str key, id;
    struct rowbuf rb;
    struct js s;
    int first = 1, rc;

    memset(out, 0, sizeof(*out));
    js_init(&s, body, len, arena, err);
    rb_init(&rb, sc, arena, err);
    if (js_peek(&s) != '{') {
        if (js_peek(&s) != 0 && (rc = js_skip(&s)) != KILN_OK)
            return rc;
        return kiln_err_set(err, KILN_EINVAL,
                            "the request must be a JSON object with 'inputs' (a list of tensors)");
    }
    s.p++;
    while ((rc = js_obj_next(&s, &first, &key)) == 1) {
        if (kiln_str_eq_cstr(key, "id")) {
            if (js_peek(&s) != '"')
                return kiln_err_set(err, KILN_EINVAL, "id: expected a string");
            if ((rc = js_string(&s, &id)) != KILN_OK)
                return rc;
            out->id = id.p;
            out->id_len = id.len;
            continue;
        }
        js_peek(&s);
        if (kiln_str_eq_cstr(key, "inputs"))
            inputs = s.p;
        else if (kiln_str_eq_cstr(key, "outputs"))
            outputs = s.p;
        else if (kiln_str_eq_cstr(key, "parameters") && js_peek(&s) != '{' && js_peek(&s) != 'n')
            return kiln_err_set(err, KILN_EINVAL, "parameters: expected an object");
        if ((rc = js_skip(&s)) != KILN_OK)
            return rc;
    }
    if (rc < 0 || (rc = js_finish(&s)) != KILN_OK)
        return rc;
    if (inputs == NULL)
        return kiln_err_set(err, KILN_EINVAL, "missing field 'inputs' (a list of tensors)");
    if (outputs != NULL) {
        s.p = outputs;
        if (js_peek(&s) != 'n' && (rc = read_outputs(&s, sc, out)) != KILN_OK)
            return rc;
    }
    s.p = inputs;
    if ((rc = read_inputs(&s, sc, &rb)) != KILN_OK)
        return rc;
    out->rows.x = rb.x;
    out->rows.n = rb.n;
    return KILN_OK;
}

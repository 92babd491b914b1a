/*
 * parse_mlflow.c - MLflow scoring-protocol JSON bodies -> rows (see parse.h for the shapes).
 *
 * Each body is scanned in place with jscan: a first pass over an object records where its
 * fields start (their order in the text is free), then the fields are parsed in the order
 * the meaning needs (a dataframe's columns before its data). Values go straight into the row
 * matrix; the only allocations are the matrix and small index arrays in the request arena.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "serve/parse_int.h"

#define FORMATS "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"

enum fmt { F_SPLIT, F_RECORDS, F_INSTANCES, F_INPUTS, F_N };
static const char *const fmt_names[F_N] = { "dataframe_split", "dataframe_records", "instances",
                                            "inputs" };

/* Maps a column list (a JSON array of names) to input indices (-1: not an input). */
static int parse_columns(struct js *s, const struct kiln_serve_schema *sc, long **map,
                         size_t *ncols)
{
    struct loc l = { "dataframe_split.columns", -1, -1, NULL, 0 };
    uint32_t *seen = kiln_arena_calloc(s->arena, sc->F + 1, sizeof(*seen));
    size_t cap = sc->F + 4, n = 0;
    long *m = kiln_arena_alloc(s->arena, cap * sizeof(*m));
    struct kiln_str name;
    int first = 1, rc;

    if (seen == NULL || m == NULL)
        return kiln_err_set(s->err, KILN_ENOMEM, "out of memory");
    if (js_peek(s) != '[')
        return loc_fail(&l, s->err, "expected a list of column names");
    s->p++;
    while ((rc = js_arr_next(s, &first)) == 1) {
        long j;
        l.i = (long)n;
        if (js_peek(s) != '"')
            return loc_fail(&l, s->err, "expected a column name (a string)");
        if ((rc = js_string(s, &name)) != KILN_OK)
            return rc;
        if (n == cap) {
            long *bigger = kiln_arena_alloc(s->arena, 2 * cap * sizeof(*m));
            if (bigger == NULL)
                return kiln_err_set(s->err, KILN_ENOMEM, "out of memory");
            memcpy(bigger, m, cap * sizeof(*m));
            m = bigger;
            cap *= 2;
        }
        j = sc_find(sc, name.p, name.len, n);
        if (j >= 0 && seen[j])
            return loc_fail(&l, s->err, "column '%.*s' appears twice",
                            (int)(name.len > 64 ? 64 : name.len), name.p);
        if (j >= 0)
            seen[j] = 1;
        m[n++] = j;
    }
    if (rc < 0)
        return rc;
    l.i = -1;
    rc = rows_check_missing(sc, seen, 1, 1, &l, s->err);
    *map = m;
    *ncols = n;
    return rc;
}

/* One row given as a list: by `map` (ncols entries) or, without a map, by position. */
static int row_list(struct js *s, struct rowbuf *rb, const long *map, size_t ncols, struct loc *l)
{
    const struct kiln_serve_schema *sc = rb->sc;
    size_t want = map != NULL ? ncols : sc->F, c = 0;
    double *row = rb_push(rb);
    int first = 1, rc;

    if (row == NULL)
        return rb->err->rc;
    s->p++; /* '[' */
    while ((rc = js_arr_next(s, &first)) == 1) {
        long j = map != NULL ? (c < ncols ? map[c] : -1) : (long)c;
        if (c >= want) {
            l->j = -1;
            return loc_fail(l, s->err, "more than %zu values (one per %s)", want,
                            map != NULL ? "column" : "model input");
        }
        l->j = (long)c;
        if (j < 0)
            rc = js_skip(s);
        else
            rc = cell_json(s, sc, (size_t)j, &row[j], l);
        if (rc != KILN_OK)
            return rc;
        c++;
    }
    l->j = -1;
    if (rc < 0)
        return rc;
    /* Inputs the columns do not name may be missing (parse_columns checked it). */
    if (c != want)
        return loc_fail(l, s->err, "%zu values, expected %zu (one per %s)", c, want,
                        map != NULL ? "column" : "model input");
    return KILN_OK;
}

/* One row given as an object {name: value}: unknown names are ignored. */
static int row_object(struct js *s, struct rowbuf *rb, uint32_t *seen, struct loc *l)
{
    const struct kiln_serve_schema *sc = rb->sc;
    double *row = rb_push(rb);
    uint32_t mark = (uint32_t)rb->n;
    struct kiln_str key;
    size_t k = 0;
    int first = 1, rc;

    if (row == NULL)
        return rb->err->rc;
    s->p++; /* '{' */
    while ((rc = js_obj_next(s, &first, &key)) == 1) {
        long j = sc_find(sc, key.p, key.len, k++);
        if (j < 0) {
            if ((rc = js_skip(s)) != KILN_OK)
                return rc;
            continue;
        }
        l->key = key.p;
        l->key_len = key.len;
        rc = cell_json(s, sc, (size_t)j, &row[j], l);
        l->key = NULL;
        if (rc != KILN_OK)
            return rc;
        seen[j] = mark;
    }
    if (rc < 0)
        return rc;
    return rows_check_missing(sc, seen, mark, 0, l, s->err);
}

/* A list of rows, each a list (positional or by `map`) or an object (by name). */
static int rows_list(struct js *s, struct rowbuf *rb, const long *map, size_t ncols,
                     const char *path, int allow_objects)
{
    const struct kiln_serve_schema *sc = rb->sc;
    struct loc l = { path, -1, -1, NULL, 0 };
    uint32_t *seen = NULL;
    int first = 1, rc;

    if (js_peek(s) != '[')
        return loc_fail(&l, s->err, "expected a list of rows");
    s->p++;
    while ((rc = js_arr_next(s, &first)) == 1) {
        int c = js_peek(s);
        l.i = (long)rb->n;
        if (c == '[') {
            rc = row_list(s, rb, map, ncols, &l);
        } else if (c == '{' && allow_objects) {
            if (seen == NULL && (seen = kiln_arena_calloc(s->arena, sc->F + 1, 4)) == NULL)
                return kiln_err_set(s->err, KILN_ENOMEM, "out of memory");
            rc = row_object(s, rb, seen, &l);
        } else if (sc->F == 1 && map == NULL) {
            double *row = rb_push(rb);
            rc = row == NULL ? rb->err->rc : cell_json(s, sc, 0, &row[0], &l);
        } else {
            return loc_fail(&l, s->err, "expected a row (a list of values%s)",
                            allow_objects ? " or an object by input name" : "");
        }
        if (rc != KILN_OK)
            return rc;
    }
    return rc < 0 ? rc : KILN_OK;
}

static int parse_split(struct js *s, struct rowbuf *rb)
{
    struct loc l = { "dataframe_split", -1, -1, NULL, 0 };
    const char *cols = NULL, *data = NULL;
    struct kiln_str key;
    long *map = NULL;
    size_t ncols = 0;
    int first = 1, rc;

    if (js_peek(s) != '{')
        return loc_fail(&l, s->err, "expected an object with 'columns' and 'data'");
    s->p++;
    while ((rc = js_obj_next(s, &first, &key)) == 1) {
        js_peek(s);
        if (kiln_str_eq_cstr(key, "columns"))
            cols = s->p;
        else if (kiln_str_eq_cstr(key, "data"))
            data = s->p;
        else if (!kiln_str_eq_cstr(key, "index"))
            return loc_fail(&l, s->err, "unexpected field '%.*s' (expected columns, data, index)",
                            (int)(key.len > 64 ? 64 : key.len), key.p);
        if ((rc = js_skip(s)) != KILN_OK)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (data == NULL)
        return loc_fail(&l, s->err, "missing field 'data'");
    if (cols != NULL) {
        s->p = cols;
        if (js_peek(s) != 'n' && (rc = parse_columns(s, rb->sc, &map, &ncols)) != KILN_OK)
            return rc;
    }
    s->p = data;
    return rows_list(s, rb, map, ncols, "dataframe_split.data", 0);
}

/* {"col": [values...], ...} or {"col": value, ...} (one row). */
static int parse_columnar(struct js *s, struct rowbuf *rb, const char *path)
{
    const struct kiln_serve_schema *sc = rb->sc;
    struct loc l = { path, -1, -1, NULL, 0 };
    const char **pos = kiln_arena_calloc(s->arena, sc->F + 1, sizeof(*pos));
    uint32_t *seen = kiln_arena_calloc(s->arena, sc->F + 1, sizeof(*seen));
    struct kiln_str key;
    size_t n = 0, k = 0;
    int first = 1, rc, have_n = 0;

    if (pos == NULL || seen == NULL)
        return kiln_err_set(s->err, KILN_ENOMEM, "out of memory");
    s->p++; /* '{' */
    while ((rc = js_obj_next(s, &first, &key)) == 1) {
        long j = sc_find(sc, key.p, key.len, k++);
        size_t len = 0;
        int c = js_peek(s);
        if (j >= 0) {
            pos[j] = s->p;
            seen[j] = 1;
        }
        if (c == '[') {
            int f2 = 1;
            s->p++;
            while ((rc = js_arr_next(s, &f2)) == 1) {
                if ((rc = js_skip(s)) != KILN_OK)
                    return rc;
                len++;
            }
            if (rc < 0)
                return rc;
        } else {
            if ((rc = js_skip(s)) != KILN_OK)
                return rc;
            len = 1;
        }
        if (j < 0)
            continue;
        if (have_n && len != n) {
            l.key = key.p;
            l.key_len = key.len;
            return loc_fail(&l, s->err, "%zu values, but other columns have %zu", len, n);
        }
        n = len;
        have_n = 1;
    }
    if (rc < 0)
        return rc;
    if ((rc = rows_check_missing(sc, seen, 1, 1, &l, s->err)) != KILN_OK)
        return rc;
    if ((rc = rb_reserve(rb, n)) != KILN_OK)
        return rc;
    for (size_t r = 0; r < n; r++)
        rb_push(rb);
    for (size_t j = 0; j < sc->F; j++) {
        int f2 = 1;
        size_t r = 0;
        if (pos[j] == NULL)
            continue;
        l.key = sc->in[j].name;
        l.key_len = sc->in[j].len;
        s->p = pos[j];
        if (js_peek(s) != '[') {
            if ((rc = cell_json(s, sc, j, &rb->x[j], &l)) != KILN_OK)
                return rc;
            continue;
        }
        s->p++;
        while ((rc = js_arr_next(s, &f2)) == 1) {
            l.i = (long)r;
            if ((rc = cell_json(s, sc, j, &rb->x[r * sc->F + j], &l)) != KILN_OK)
                return rc;
            r++;
        }
        l.i = -1;
        if (rc < 0)
            return rc;
    }
    return KILN_OK;
}

static int bad_shape(struct js *s, const char *keys)
{
    return kiln_err_set(s->err, KILN_EPARSE,
                        "The input must be a JSON dictionary with exactly one of the input "
                        "fields " FORMATS ". Received %s",
                        keys);
}

int kiln_serve_parse_mlflow_json(const struct kiln_serve_schema *sc, const char *body, size_t len,
                                 struct kiln_arena *arena, struct kiln_serve_rows *out,
                                 struct kiln_err *err)
{
    const char *at[F_N] = { NULL };
    char keys[200] = "dictionary with input fields: [";
    size_t kn = strlen(keys);
    struct rowbuf rb;
    struct kiln_str key;
    struct js s;
    int first = 1, rc, nfmt = 0, nkeys = 0, c;
    enum fmt which = F_N;

    js_init(&s, body, len, arena, err);
    rb_init(&rb, sc, arena, err);
    c = js_peek(&s);
    if (c == '[')
        return bad_shape(&s, "a list");
    if (c != '{') {
        if (c == 0)
            return bad_shape(&s, "an empty body");
        if ((rc = js_skip(&s)) != KILN_OK)
            return rc;
        return bad_shape(&s, "a value that is not a dictionary");
    }
    s.p++;
    while ((rc = js_obj_next(&s, &first, &key)) == 1) {
        js_peek(&s);
        if (kn < sizeof(keys)) {
            int w = snprintf(keys + kn, sizeof(keys) - kn, "%s'%.*s'", nkeys++ > 0 ? ", " : "",
                             (int)(key.len > 40 ? 40 : key.len), key.p);
            kn = w < 0 ? sizeof(keys) : kn + (size_t)w;
        }
        for (int f = 0; f < F_N; f++)
            if (kiln_str_eq_cstr(key, fmt_names[f])) {
                nfmt += at[f] == NULL;
                at[f] = s.p;
                which = (enum fmt)f;
            }
        if ((rc = js_skip(&s)) != KILN_OK)
            return rc;
    }
    if (rc < 0 || (rc = js_finish(&s)) != KILN_OK)
        return rc;
    if (nfmt != 1) {
        if (kn + 2 <= sizeof(keys))
            memcpy(keys + kn, "]", 2);
        else
            memcpy(keys + sizeof(keys) - 5, "...]", 5);
        return bad_shape(&s, keys);
    }
    s.p = at[which];
    switch (which) {
    case F_SPLIT:
        rc = parse_split(&s, &rb);
        break;
    case F_RECORDS:
        rc = rows_list(&s, &rb, NULL, 0, "dataframe_records", 1);
        break;
    default:
        if (js_peek(&s) == '{')
            rc = parse_columnar(&s, &rb, fmt_names[which]);
        else
            rc = rows_list(&s, &rb, NULL, 0, fmt_names[which], 1);
        break;
    }
    if (rc != KILN_OK)
        return rc;
    out->x = rb.x;
    out->n = rb.n;
    return KILN_OK;
}

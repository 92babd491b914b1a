/*
 * prep.c - preprocessing steps of the kiln flavor, applied to one row at a time.
 *
 * Steps (docs/model-format.md): "impute" (NaN -> a fill value per column), "scale"
 * ((x - offset) / scale per column, as scikit-learn's StandardScaler computes it), "onehot"
 * (a column becomes one indicator per category, minus a dropped one; unknown values give all
 * zeros or an error), and "columns" (scikit-learn's ColumnTransformer: parts that each pick
 * columns and run their own steps, outputs concatenated in order).
 *
 * Load-time typing: every column is either numeric or holds the category codes of a string
 * input (kiln_rt_encode). Codes may be imputed (with a category) and one-hot encoded, never
 * scaled or fed to the estimator. Category strings of one-hot steps are resolved through the
 * input's vocabulary at load, so at run time every comparison is between doubles.
 *
 * Run time: rt_prep_row reads `in`, writes `out` and uses the caller's scratch (size from
 * rt_prep_scratch): two ping-pong rows per step list plus what nested parts need. Immutable
 * after load; thread-safe.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

#define MAX_NEST 8

enum op { OP_IMPUTE, OP_SCALE, OP_ONEHOT, OP_COLUMNS };

struct oh_col {
    int active;
    int ignore_unknown;
    size_t n; /* categories, NaN excluded, sorted */
    double *cats;
    uint32_t *pos; /* output offset within the block for cats[i]; UINT32_MAX = dropped */
    int has_nan;
    uint32_t nan_pos;
    size_t out_off, n_out;
    long src; /* input index (for messages) or -1 */
};

struct steps;

struct part {
    size_t n_cols;
    uint32_t *cols;
    struct steps *steps;
    size_t w_out;
};

struct step {
    enum op op;
    size_t w_in, w_out;
    double *a, *b;
    struct oh_col *oh;
    size_t n_parts;
    struct part *parts;
};

struct steps {
    size_t n;
    struct step *v;
    size_t w_in, w_out, max_w;
    size_t need; /* scratch doubles for running this list */
};

struct rt_prep {
    struct steps *top;
    const struct kiln_rt_model *m;
};

/* Column typing during load: src input (or -1) and whether the column holds codes. */
struct cols {
    size_t w;
    long *src;
    unsigned char *code;
};

struct loader {
    const struct kiln_rt_model *m;
    const char *where;
    struct kiln_err *err;
};

static void steps_free(struct steps *s);

static void step_release(struct step *st)
{
    kiln_free(st->a);
    kiln_free(st->b);
    if (st->oh != NULL)
        for (size_t c = 0; c < st->w_in; c++) {
            kiln_free(st->oh[c].cats);
            kiln_free(st->oh[c].pos);
        }
    kiln_free(st->oh);
    for (size_t p = 0; p < st->n_parts; p++) {
        kiln_free(st->parts[p].cols);
        steps_free(st->parts[p].steps);
    }
    kiln_free(st->parts);
}

static void steps_free(struct steps *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        step_release(&s->v[i]);
    kiln_free(s->v);
    kiln_free(s);
}

void rt_prep_free(struct rt_prep *p)
{
    if (p == NULL)
        return;
    steps_free(p->top);
    kiln_free(p);
}

static int cols_init(struct cols *c, size_t w)
{
    c->w = w;
    c->src = kiln_malloc((w ? w : 1) * sizeof(long));
    c->code = kiln_calloc(w ? w : 1, 1);
    return c->src == NULL || c->code == NULL ? KILN_ENOMEM : KILN_OK;
}

static void cols_release(struct cols *c)
{
    kiln_free(c->src);
    kiln_free(c->code);
    c->src = NULL;
    c->code = NULL;
}

static const char *col_name(const struct loader *L, long src)
{
    return src >= 0 ? L->m->inputs[src].name : "(derived column)";
}

static int oom(const struct loader *L)
{
    return kiln_err_set(L->err, KILN_ENOMEM, "out of memory loading %s", L->where);
}

/* A fill value or category: number, null (NaN), or for code columns a category string. */
static int value_of(const struct loader *L, const json_t *v, const struct cols *c, size_t col,
                    double *out, const char *what)
{
    if (json_is_null(v)) {
        *out = NAN;
        return KILN_OK;
    }
    if (c->code[col]) {
        const char *s = json_string_value(v);
        long code;
        if (s == NULL)
            return kiln_err_set(L->err, KILN_EINVAL,
                                "%s: %s for string input '%s' must be a string", L->where, what,
                                col_name(L, c->src[col]));
        code = rt_vocab_find(&L->m->vocab[c->src[col]], s, strlen(s));
        if (code < 0)
            return kiln_err_set(L->err, KILN_EINVAL,
                                "%s: %s '%.60s' is not a category of input '%s'", L->where, what, s,
                                col_name(L, c->src[col]));
        *out = (double)code;
        return KILN_OK;
    }
    if (!json_is_number(v))
        return kiln_err_set(L->err, KILN_EINVAL, "%s: %s for column %zu must be a number", L->where,
                            what, col);
    *out = json_number_value(v);
    return KILN_OK;
}

static int load_impute(const struct loader *L, struct step *st, const json_t *j, struct cols *c)
{
    const json_t *fill = json_object_get(j, "fill");
    int rc;

    if (!json_is_array(fill) || json_array_size(fill) != c->w)
        return kiln_err_set(L->err, KILN_EINVAL, "%s: impute 'fill' must list %zu values", L->where,
                            c->w);
    st->a = kiln_malloc((c->w ? c->w : 1) * sizeof(double));
    if (st->a == NULL)
        return oom(L);
    for (size_t i = 0; i < c->w; i++) {
        rc = value_of(L, json_array_get(fill, i), c, i, &st->a[i], "impute fill value");
        if (rc != KILN_OK)
            return rc;
        if (isinf(st->a[i]))
            return kiln_err_set(L->err, KILN_EINVAL, "%s: impute fill value %zu is infinite",
                                L->where, i);
    }
    st->w_out = c->w;
    return KILN_OK;
}

static int load_scale(const struct loader *L, struct step *st, const json_t *j, struct cols *c)
{
    int rc = rt_json_double_array(j, "offset", c->w, &st->a, L->where, L->err);
    if (rc == KILN_OK)
        rc = rt_json_double_array(j, "scale", c->w, &st->b, L->where, L->err);
    if (rc != KILN_OK)
        return rc;
    for (size_t i = 0; i < c->w; i++) {
        if (c->code[i])
            return kiln_err_set(L->err, KILN_EINVAL,
                                "%s: scale step applied to string input '%s' (one-hot encode it)",
                                L->where, col_name(L, c->src[i]));
        if (!isfinite(st->a[i]) || !isfinite(st->b[i]) || st->b[i] == 0.0)
            return kiln_err_set(L->err, KILN_EINVAL,
                                "%s: scale column %zu needs a finite offset and a non-zero scale",
                                L->where, i);
    }
    st->w_out = c->w;
    return KILN_OK;
}

static int load_oh_col(const struct loader *L, struct oh_col *o, const json_t *spec,
                       const struct cols *c, size_t col, size_t *out_w)
{
    const json_t *cats = json_object_get(spec, "categories");
    const json_t *drop = json_object_get(spec, "drop");
    const char *hu = json_string_value(json_object_get(spec, "handle_unknown"));
    size_t n = json_array_size(cats), k = 0, drop_i = SIZE_MAX;
    double *vals;
    int rc;

    if (!json_is_array(cats) || n == 0 || n > RT_MAX_CATEGORIES)
        return kiln_err_set(L->err, KILN_EINVAL, "%s: onehot column %zu needs a 'categories' list",
                            L->where, col);
    if (drop != NULL && !json_is_null(drop)) {
        if (!json_is_integer(drop) || json_integer_value(drop) < 0 ||
            (size_t)json_integer_value(drop) >= n)
            return kiln_err_set(L->err, KILN_EINVAL, "%s: onehot column %zu: 'drop' out of range",
                                L->where, col);
        drop_i = (size_t)json_integer_value(drop);
    }
    o->active = 1;
    o->src = c->src[col];
    o->ignore_unknown = hu != NULL && strcmp(hu, "ignore") == 0;
    if (hu != NULL && !o->ignore_unknown && strcmp(hu, "error") != 0)
        return kiln_err_set(L->err, KILN_EINVAL,
                            "%s: onehot 'handle_unknown' must be "
                            "\"error\" or \"ignore\"",
                            L->where);
    o->cats = kiln_malloc(n * sizeof(double));
    o->pos = kiln_malloc(n * sizeof(uint32_t));
    vals = o->cats;
    if (o->cats == NULL || o->pos == NULL)
        return oom(L);
    /* Insertion-sort the (value, output position) pairs, keeping NaN aside. */
    for (size_t i = 0; i < n; i++) {
        double v;
        uint32_t pos = i == drop_i ? UINT32_MAX : (uint32_t)(i < drop_i ? i : i - 1);
        size_t at;
        rc = value_of(L, json_array_get(cats, i), c, col, &v, "category");
        if (rc != KILN_OK)
            return rc;
        if (isnan(v)) {
            if (o->has_nan)
                return kiln_err_set(L->err, KILN_EINVAL, "%s: onehot column %zu lists null twice",
                                    L->where, col);
            o->has_nan = 1;
            o->nan_pos = pos;
            continue;
        }
        at = k;
        while (at > 0 && vals[at - 1] > v) {
            vals[at] = vals[at - 1];
            o->pos[at] = o->pos[at - 1];
            at--;
        }
        if (at > 0 && vals[at - 1] == v)
            return kiln_err_set(L->err, KILN_EINVAL, "%s: onehot column %zu lists a category twice",
                                L->where, col);
        vals[at] = v;
        o->pos[at] = pos;
        k++;
    }
    o->n = k;
    o->n_out = drop_i == SIZE_MAX ? n : n - 1;
    o->out_off = *out_w;
    *out_w += o->n_out;
    return KILN_OK;
}

static int load_onehot(const struct loader *L, struct step *st, const json_t *j, struct cols *c,
                       struct cols *next)
{
    const json_t *specs = json_object_get(j, "columns");
    size_t w = 0;
    int rc;

    if (!json_is_array(specs) || json_array_size(specs) != c->w)
        return kiln_err_set(L->err, KILN_EINVAL, "%s: onehot 'columns' must have %zu entries",
                            L->where, c->w);
    st->oh = kiln_calloc(c->w ? c->w : 1, sizeof(*st->oh));
    if (st->oh == NULL)
        return oom(L);
    for (size_t i = 0; i < c->w; i++) {
        const json_t *spec = json_array_get(specs, i);
        if (json_is_null(spec)) {
            st->oh[i].out_off = w;
            st->oh[i].n_out = 1;
            w++;
            continue;
        }
        rc = load_oh_col(L, &st->oh[i], spec, c, i, &w);
        if (rc != KILN_OK)
            return rc;
        if (w > RT_MAX_FEATURES)
            return kiln_err_set(L->err, KILN_EINVAL, "%s: onehot output too wide", L->where);
    }
    st->w_out = w;
    if (cols_init(next, w) != KILN_OK)
        return oom(L);
    for (size_t i = 0; i < c->w; i++)
        for (size_t k = 0; k < st->oh[i].n_out; k++) {
            next->src[st->oh[i].out_off + k] = st->oh[i].active ? -1 : c->src[i];
            next->code[st->oh[i].out_off + k] = st->oh[i].active ? 0 : c->code[i];
        }
    return KILN_OK;
}

static int load_steps(const struct loader *L, const json_t *arr, struct cols *c, int depth,
                      struct steps **out);

static int load_columns(const struct loader *L, struct step *st, const json_t *j, struct cols *c,
                        struct cols *next, int depth)
{
    const json_t *parts = json_object_get(j, "parts");
    size_t np = json_array_size(parts), w = 0;
    int rc;

    if (!json_is_array(parts) || np == 0 || np > RT_MAX_FEATURES)
        return kiln_err_set(L->err, KILN_EINVAL, "%s: columns step needs a 'parts' list", L->where);
    st->parts = kiln_calloc(np, sizeof(*st->parts));
    if (st->parts == NULL)
        return oom(L);
    st->n_parts = np;
    if (cols_init(next, 0) != KILN_OK)
        return oom(L);
    for (size_t p = 0; p < np; p++) {
        const json_t *pj = json_array_get(parts, p);
        const json_t *idx = json_object_get(pj, "columns");
        struct part *pt = &st->parts[p];
        struct cols sub = { 0 };
        size_t n = json_array_size(idx);
        if (!json_is_array(idx) || n == 0 || n > RT_MAX_FEATURES)
            return kiln_err_set(L->err, KILN_EINVAL, "%s: part %zu needs a 'columns' list",
                                L->where, p);
        pt->cols = kiln_malloc(n * sizeof(uint32_t));
        if (pt->cols == NULL || cols_init(&sub, n) != KILN_OK) {
            cols_release(&sub);
            return oom(L);
        }
        pt->n_cols = n;
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(idx, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                (size_t)json_integer_value(v) >= c->w) {
                cols_release(&sub);
                return kiln_err_set(L->err, KILN_EINVAL,
                                    "%s: part %zu column %zu out of range (%zu columns)", L->where,
                                    p, i, c->w);
            }
            pt->cols[i] = (uint32_t)json_integer_value(v);
            sub.src[i] = c->src[pt->cols[i]];
            sub.code[i] = c->code[pt->cols[i]];
        }
        rc = load_steps(L, json_object_get(pj, "steps"), &sub, depth + 1, &pt->steps);
        if (rc == KILN_OK && w + sub.w > RT_MAX_FEATURES)
            rc = kiln_err_set(L->err, KILN_EINVAL, "%s: columns output too wide", L->where);
        if (rc == KILN_OK) {
            long *ns = kiln_reallocarray(next->src, w + sub.w, sizeof(long));
            if (ns != NULL)
                next->src = ns;
            unsigned char *nc = kiln_realloc(next->code, w + sub.w);
            if (nc != NULL)
                next->code = nc;
            if (ns == NULL || nc == NULL)
                rc = oom(L);
        }
        if (rc == KILN_OK) {
            memcpy(next->src + w, sub.src, sub.w * sizeof(long));
            memcpy(next->code + w, sub.code, sub.w);
            pt->w_out = sub.w;
            w += sub.w;
        }
        cols_release(&sub);
        if (rc != KILN_OK)
            return rc;
    }
    next->w = w;
    st->w_out = w;
    return KILN_OK;
}

static int load_step(const struct loader *L, struct step *st, const json_t *j, struct cols *c,
                     int depth)
{
    const char *op = json_string_value(json_object_get(j, "op"));
    struct cols next = { 0 };
    int rc;

    st->w_in = c->w;
    if (op == NULL)
        return kiln_err_set(L->err, KILN_EINVAL, "%s: preprocessing step without 'op'", L->where);
    if (strcmp(op, "impute") == 0) {
        st->op = OP_IMPUTE;
        return load_impute(L, st, j, c);
    }
    if (strcmp(op, "scale") == 0) {
        st->op = OP_SCALE;
        return load_scale(L, st, j, c);
    }
    if (strcmp(op, "onehot") == 0) {
        st->op = OP_ONEHOT;
        rc = load_onehot(L, st, j, c, &next);
    } else if (strcmp(op, "columns") == 0) {
        st->op = OP_COLUMNS;
        rc = load_columns(L, st, j, c, &next, depth);
    } else {
        return kiln_err_set(L->err, KILN_EINVAL, "%s: unknown preprocessing op '%.40s'", L->where,
                            op);
    }
    if (rc == KILN_OK) {
        cols_release(c);
        *c = next;
    } else {
        cols_release(&next);
    }
    return rc;
}

/* Scratch doubles needed to run a list: two rows of its widest width, plus nested parts. */
static size_t steps_need(const struct steps *s)
{
    size_t need = 2 * s->max_w, extra = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t p = 0; p < s->v[i].n_parts; p++) {
            const struct part *pt = &s->v[i].parts[p];
            size_t e = pt->n_cols + pt->steps->need;
            if (e > extra)
                extra = e;
        }
    return need + extra;
}

static int load_steps(const struct loader *L, const json_t *arr, struct cols *c, int depth,
                      struct steps **out)
{
    struct steps *s;
    size_t n = json_array_size(arr);
    int rc = KILN_OK;

    if (depth > MAX_NEST)
        return kiln_err_set(L->err, KILN_EINVAL, "%s: preprocessing nested deeper than %d",
                            L->where, MAX_NEST);
    if (arr != NULL && !json_is_null(arr) && !json_is_array(arr))
        return kiln_err_set(L->err, KILN_EINVAL, "%s: 'steps' must be a list", L->where);
    s = kiln_calloc(1, sizeof(*s));
    if (s == NULL)
        return oom(L);
    *out = s;
    s->w_in = s->max_w = c->w;
    if (n > 0) {
        s->v = kiln_calloc(n, sizeof(*s->v));
        if (s->v == NULL)
            return oom(L);
    }
    for (size_t i = 0; i < n && rc == KILN_OK; i++) {
        const json_t *j = json_array_get(arr, i);
        if (!json_is_object(j))
            return kiln_err_set(L->err, KILN_EINVAL, "%s: step %zu is not an object", L->where, i);
        s->n++;
        rc = load_step(L, &s->v[i], j, c, depth);
        if (c->w > s->max_w)
            s->max_w = c->w;
    }
    s->w_out = c->w;
    if (rc == KILN_OK)
        s->need = steps_need(s);
    return rc;
}

int rt_prep_load(const json_t *steps, const struct kiln_rt_model *m, struct rt_prep **out,
                 size_t *width, const char *where, struct kiln_err *err)
{
    struct loader L = { m, where, err };
    struct cols c = { 0 };
    struct rt_prep *p;
    int rc;

    if (!json_is_array(steps))
        return kiln_err_set(err, KILN_EINVAL, "%s: 'preprocessing' must be a list", where);
    p = kiln_calloc(1, sizeof(*p));
    if (p == NULL || cols_init(&c, m->n_inputs) != KILN_OK) {
        kiln_free(p);
        cols_release(&c);
        return oom(&L);
    }
    p->m = m;
    for (size_t i = 0; i < m->n_inputs; i++) {
        c.src[i] = (long)i;
        c.code[i] = m->inputs[i].type == KILN_RT_STRING;
    }
    rc = load_steps(&L, steps, &c, 0, &p->top);
    for (size_t i = 0; rc == KILN_OK && i < c.w; i++)
        if (c.code[i])
            rc = kiln_err_set(err, KILN_EINVAL,
                              "%s: string input '%s' reaches the model without one-hot encoding",
                              where, col_name(&L, c.src[i]));
    if (rc == KILN_OK && c.w == 0)
        rc = kiln_err_set(err, KILN_EINVAL, "%s: preprocessing produces no columns", where);
    cols_release(&c);
    if (rc != KILN_OK) {
        rt_prep_free(p);
        return rc;
    }
    *width = p->top->w_out;
    *out = p;
    return KILN_OK;
}

size_t rt_prep_scratch(const struct rt_prep *p)
{
    return p->top->need * sizeof(double);
}

static int onehot_row(const struct rt_prep *p, const struct step *st, const double *in, double *out,
                      struct kiln_err *err)
{
    for (size_t c = 0; c < st->w_in; c++) {
        const struct oh_col *o = &st->oh[c];
        double v = in[c];
        uint32_t pos = UINT32_MAX;
        int found = 0;
        if (!o->active) {
            out[o->out_off] = v;
            continue;
        }
        for (size_t k = 0; k < o->n_out; k++)
            out[o->out_off + k] = 0.0;
        if (isnan(v)) {
            found = o->has_nan;
            pos = o->nan_pos;
        } else {
            size_t lo = 0, hi = o->n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (o->cats[mid] < v)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < o->n && o->cats[lo] == v) {
                found = 1;
                pos = o->pos[lo];
            }
        }
        if (found && pos != UINT32_MAX)
            out[o->out_off + pos] = 1.0;
        else if (!found && !o->ignore_unknown)
            return kiln_err_set(err, KILN_EINVAL, "input '%s': unknown category %s",
                                o->src >= 0 ? p->m->inputs[o->src].name : "(derived column)",
                                isnan(v) ? "(missing)" : "value");
    }
    return KILN_OK;
}

static int run_steps(const struct rt_prep *p, const struct steps *s, const double *in, double *out,
                     double *scratch, struct kiln_err *err);

static int apply(const struct rt_prep *p, const struct step *st, const double *in, double *out,
                 double *scratch, struct kiln_err *err)
{
    int rc;
    switch (st->op) {
    case OP_IMPUTE:
        for (size_t c = 0; c < st->w_in; c++)
            out[c] = isnan(in[c]) ? st->a[c] : in[c];
        return KILN_OK;
    case OP_SCALE:
        for (size_t c = 0; c < st->w_in; c++)
            out[c] = (in[c] - st->a[c]) / st->b[c];
        return KILN_OK;
    case OP_ONEHOT:
        return onehot_row(p, st, in, out, err);
    case OP_COLUMNS:
        for (size_t k = 0; k < st->n_parts; k++) {
            const struct part *pt = &st->parts[k];
            for (size_t i = 0; i < pt->n_cols; i++)
                scratch[i] = in[pt->cols[i]];
            rc = run_steps(p, pt->steps, scratch, out, scratch + pt->n_cols, err);
            if (rc != KILN_OK)
                return rc;
            out += pt->w_out;
        }
        return KILN_OK;
    }
    return KILN_OK;
}

static int run_steps(const struct rt_prep *p, const struct steps *s, const double *in, double *out,
                     double *scratch, struct kiln_err *err)
{
    double *buf[2] = { scratch, scratch + s->max_w };
    double *rest = scratch + 2 * s->max_w;
    const double *cur = in;
    int rc;

    if (s->n == 0) {
        memmove(out, in, s->w_in * sizeof(double));
        return KILN_OK;
    }
    for (size_t i = 0; i < s->n; i++) {
        double *dst = i + 1 == s->n ? out : buf[i % 2];
        rc = apply(p, &s->v[i], cur, dst, rest, err);
        if (rc != KILN_OK)
            return rc;
        cur = dst;
    }
    return KILN_OK;
}

int rt_prep_row(const struct rt_prep *p, const double *in, double *out, unsigned char *scratch,
                struct kiln_err *err)
{
    return run_steps(p, p->top, in, out, (double *)(void *)scratch, err);
}

/*
 * profile_parse.c - reading a profile JSON document back into summaries (see profile.h).
 *
 * Every field is checked for presence and type, and its path is named in the error
 * ("model.profile.json: columns[2].numeric.mean: expected a finite number"). Cross-checks
 * catch edited or truncated files: cell kinds plus missing must add up to rows, the sketch's
 * weights to numeric.count, and column names must be unique. Limits keep a hostile file from
 * asking for more memory than its own size suggests (at most 64 sketch levels; value tables
 * no larger than max_values).
 */
#include <math.h>
#include <string.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "quality/profile.h"

struct ctx {
    const char *name;
    struct kiln_err *err;
};

static int bad(const struct ctx *c, const char *path, const char *what)
{
    return kiln_err_set(c->err, KILN_EINVAL, "%s: %s: %s", c->name, path, what);
}

static json_t *field(const json_t *o, const char *key)
{
    return json_is_object(o) ? json_object_get(o, key) : NULL;
}

static int get_u64(const struct ctx *c, const json_t *o, const char *key, const char *path,
                   uint64_t *out)
{
    char p[200];
    json_t *v = field(o, key);
    snprintf(p, sizeof(p), "%.150s%s%.40s", path, *path ? "." : "", key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad(c, p, "expected a non-negative integer");
    *out = (uint64_t)json_integer_value(v);
    return KILN_OK;
}

static int get_num(const struct ctx *c, const json_t *o, const char *key, const char *path,
                   double *out)
{
    char p[200];
    json_t *v = field(o, key);
    snprintf(p, sizeof(p), "%.150s%s%.40s", path, *path ? "." : "", key);
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return bad(c, p, "expected a finite number");
    *out = json_number_value(v);
    return KILN_OK;
}

static int get_str(const struct ctx *c, const json_t *o, const char *key, const char *path,
                   const char **out)
{
    char p[200];
    json_t *v = field(o, key);
    snprintf(p, sizeof(p), "%.150s%s%.40s", path, *path ? "." : "", key);
    if (!json_is_string(v))
        return bad(c, p, "expected a string");
    *out = json_string_value(v);
    return KILN_OK;
}

static int load_counts(const struct ctx *c, const json_t *o, const char *path, int numeric,
                       struct kiln_counts *dst)
{
    char p[240];
    json_t *arr = field(o, "counts"), *row;
    size_t i;
    uint64_t other;
    int rc;
    if (!json_is_object(o))
        return bad(c, path, "expected an object");
    if (!json_is_array(arr)) {
        snprintf(p, sizeof(p), "%.150s.counts", path);
        return bad(c, p, "expected an array");
    }
    if (json_array_size(arr) > dst->cap) {
        snprintf(p, sizeof(p), "%.150s.counts", path);
        return bad(c, p, "more values than options.max_values");
    }
    json_array_foreach(arr, i, row)
    {
        json_t *k = json_array_get(row, 0), *n = json_array_get(row, 1);
        snprintf(p, sizeof(p), "%.150s.counts[%zu]", path, i);
        if (json_array_size(row) != 2 || !json_is_integer(n) || json_integer_value(n) < 1)
            return bad(c, p, "expected [value, count]");
        if (numeric) {
            double v;
            if (!json_is_number(k) || !isfinite(json_number_value(k)))
                return bad(c, p, "expected a finite number as the value");
            v = json_number_value(k);
            rc = kiln_counts_add_num(dst, v, (uint64_t)json_integer_value(n));
        } else {
            if (!json_is_string(k))
                return bad(c, p, "expected a string as the value");
            rc = kiln_counts_add(dst, json_string_value(k), json_string_length(k),
                                 (uint64_t)json_integer_value(n), 0, NULL);
        }
        if (rc != KILN_OK)
            return kiln_err_set(c->err, rc, "out of memory");
    }
    if ((rc = get_u64(c, o, "other", path, &other)) != KILN_OK)
        return rc;
    dst->other += other;
    dst->overflow = json_is_true(field(o, "overflow")) || dst->other > 0;
    return KILN_OK;
}

static int load_sketch(const struct ctx *c, const json_t *o, const char *path,
                       struct kiln_colsum *col)
{
    char p[240];
    json_t *levels = field(o, "levels"), *lvl, *x;
    size_t h, i;
    uint64_t n;
    int rc;
    if (!json_is_object(o))
        return bad(c, path, "expected an object");
    if ((rc = get_u64(c, o, "n", path, &n)) != KILN_OK)
        return rc;
    if (!json_is_array(levels) || json_array_size(levels) == 0 || json_array_size(levels) > 60) {
        snprintf(p, sizeof(p), "%.150s.levels", path);
        return bad(c, p, "expected an array of 1 to 60 levels");
    }
    json_array_foreach(levels, h, lvl)
    {
        if (!json_is_array(lvl)) {
            snprintf(p, sizeof(p), "%.150s.levels[%zu]", path, h);
            return bad(c, p, "expected an array");
        }
        json_array_foreach(lvl, i, x)
        {
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                snprintf(p, sizeof(p), "%.150s.levels[%zu][%zu]", path, h, i);
                return bad(c, p, "not a finite number");
            }
            if ((rc = kiln_kll_add_at(&col->kll, json_number_value(x), (uint32_t)h)) != KILN_OK)
                return kiln_err_set(c->err, rc, "out of memory");
        }
    }
    if (col->kll.n != n || n != col->n_num)
        return bad(c, path, "sketch weights do not add up to numeric.count");
    return KILN_OK;
}

static int load_numeric(const struct ctx *c, const json_t *o, const char *path,
                        struct kiln_colsum *col)
{
    char p[240];
    double sd;
    int rc;
    if (!json_is_object(o))
        return bad(c, path, "expected an object");
    if ((rc = get_u64(c, o, "count", path, &col->n_num)) != KILN_OK ||
        (rc = get_u64(c, o, "non_finite", path, &col->n_inf)) != KILN_OK)
        return rc;
    if (col->n_num == 0)
        return KILN_OK;
    if ((rc = get_num(c, o, "min", path, &col->min)) != KILN_OK ||
        (rc = get_num(c, o, "max", path, &col->max)) != KILN_OK ||
        (rc = get_num(c, o, "mean", path, &col->mean)) != KILN_OK ||
        (rc = get_num(c, o, "std_population", path, &sd)) != KILN_OK ||
        (rc = get_num(c, o, "m2", path, &col->m2)) != KILN_OK)
        return rc;
    if (col->min > col->max || sd < 0 || col->m2 < 0)
        return bad(c, path, "inconsistent min, max, std_population or m2");
    snprintf(p, sizeof(p), "%.150s.sketch", path);
    return load_sketch(c, field(o, "sketch"), p, col);
}

static int load_column(const struct ctx *c, const json_t *o, size_t idx,
                       const struct kiln_colsum_opts *co, struct kiln_colsum *col)
{
    char path[64], p[128];
    const char *name = NULL, *hll = NULL;
    const json_t *kinds = field(o, "kinds"), *len = field(o, "length"), *values;
    int rc;
    snprintf(path, sizeof(path), "columns[%zu]", idx);
    if (!json_is_object(o))
        return bad(c, path, "expected an object");
    if ((rc = get_str(c, o, "name", path, &name)) != KILN_OK)
        return rc;
    if (kiln_colsum_init(col, name, co) != KILN_OK)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    if ((rc = get_u64(c, o, "rows", path, &col->rows)) != KILN_OK ||
        (rc = get_u64(c, o, "missing", path, &col->missing)) != KILN_OK)
        return rc;
    snprintf(p, sizeof(p), "%.60s.kinds", path);
    if ((rc = get_u64(c, kinds, "integer", p, &col->n_int)) != KILN_OK ||
        (rc = get_u64(c, kinds, "float", p, &col->n_float)) != KILN_OK ||
        (rc = get_u64(c, kinds, "boolean", p, &col->n_bool)) != KILN_OK ||
        (rc = get_u64(c, kinds, "timestamp", p, &col->n_ts)) != KILN_OK ||
        (rc = get_u64(c, kinds, "text", p, &col->n_text)) != KILN_OK)
        return rc;
    if (col->n_int + col->n_float + col->n_bool + col->n_ts + col->n_text + col->missing !=
        col->rows)
        return bad(c, path, "kinds and missing do not add up to rows");
    if (len != NULL) {
        snprintf(p, sizeof(p), "%.60s.length", path);
        if ((rc = get_u64(c, len, "min", p, &col->len_min)) != KILN_OK ||
            (rc = get_u64(c, len, "max", p, &col->len_max)) != KILN_OK)
            return rc;
    }
    if (field(o, "numeric") != NULL) {
        snprintf(p, sizeof(p), "%.60s.numeric", path);
        if ((rc = load_numeric(c, field(o, "numeric"), p, col)) != KILN_OK)
            return rc;
    }
    values = field(o, "values");
    snprintf(p, sizeof(p), "%.60s.values.numbers", path);
    if ((rc = load_counts(c, field(values, "numbers"), p, 1, &col->nums)) != KILN_OK)
        return rc;
    snprintf(p, sizeof(p), "%.60s.values.texts", path);
    if ((rc = load_counts(c, field(values, "texts"), p, 0, &col->texts)) != KILN_OK)
        return rc;
    if (json_is_string(field(o, "hll"))) {
        struct kiln_buf b;
        hll = json_string_value(field(o, "hll"));
        kiln_buf_init(&b, 8192);
        rc = kiln_base64_decode(hll, strlen(hll), &b);
        if (rc == KILN_OK && b.len == sizeof(col->hll.reg)) {
            memcpy(col->hll.reg, b.buf, b.len);
            col->hll_active = 1;
        }
        kiln_buf_release(&b);
        if (!col->hll_active) {
            snprintf(p, sizeof(p), "%.60s.hll", path);
            return bad(c, p, "not 4096 base64-encoded registers");
        }
    }
    return KILN_OK;
}

static int load(const struct ctx *c, const json_t *root, struct kiln_profile *p)
{
    const json_t *src = field(root, "source"), *opts = field(root, "options");
    const json_t *cols = field(root, "columns"), *col;
    struct kiln_colsum_opts co;
    const char *s = NULL;
    uint64_t k, maxv, bins;
    size_t i;
    int rc;

    if (!json_is_integer(field(root, "kiln_profile")))
        return bad(c, "kiln_profile", "missing: not a kiln profile");
    if (json_integer_value(field(root, "kiln_profile")) != 1)
        return bad(c, "kiln_profile", "unsupported profile version");
    if ((rc = get_str(c, src, "path", "source", &s)) != KILN_OK)
        return rc;
    kiln_free(p->source);
    p->source = kiln_strdup(s);
    if ((rc = get_str(c, src, "format", "source", &s)) != KILN_OK)
        return rc;
    kiln_free(p->format);
    p->format = kiln_strdup(s);
    if (p->source == NULL || p->format == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    if ((rc = get_str(c, src, "delimiter", "source", &s)) != KILN_OK)
        return rc;
    p->delimiter = s[0] ? s[0] : ',';
    if ((rc = get_u64(c, src, "rows", "source", &p->rows)) != KILN_OK ||
        (rc = get_u64(c, src, "bytes", "source", &p->bytes)) != KILN_OK)
        return rc;
    if (json_is_string(field(root, "created")))
        kiln_time_parse_iso(json_string_value(field(root, "created")),
                            json_string_length(field(root, "created")), &p->created_ms);
    if ((rc = get_u64(c, opts, "sketch_k", "options", &k)) != KILN_OK ||
        (rc = get_u64(c, opts, "max_values", "options", &maxv)) != KILN_OK ||
        (rc = get_u64(c, opts, "bins", "options", &bins)) != KILN_OK)
        return rc;
    if (k < 8 || k > 1000000 || maxv < 1 || maxv > 10000000 || bins < 1 || bins > 100000)
        return bad(c, "options", "sketch_k, max_values or bins out of range");
    p->sketch_k = (uint32_t)k;
    p->max_values = (size_t)maxv;
    p->bins = (uint32_t)bins;
    co.sketch_k = p->sketch_k;
    co.max_values = p->max_values;
    if (!json_is_array(cols))
        return bad(c, "columns", "expected an array");
    p->cols = kiln_calloc(json_array_size(cols) + 1, sizeof(*p->cols));
    if (p->cols == NULL)
        return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
    json_array_foreach(cols, i, col)
    {
        p->ncols++;
        if ((rc = load_column(c, col, i, &co, &p->cols[i])) != KILN_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->cols[j].name, p->cols[i].name) == 0) {
                char path[64];
                snprintf(path, sizeof(path), "columns[%zu].name", i);
                return bad(c, path, "duplicate column name");
            }
    }
    return KILN_OK;
}

int kiln_profile_parse(const char *json, size_t len, const char *name, struct kiln_profile **out,
                       struct kiln_err *err)
{
    json_t *root = NULL;
    struct kiln_profile *p;
    struct ctx c = { name, err };
    int rc = kiln_json_parse_object(json, len, 0, &root, err);
    if (rc != KILN_OK) {
        char msg[KILN_ERR_MSG_MAX];
        kiln_strlcpy(msg, kiln_err_msg(err, rc), sizeof(msg));
        return kiln_err_set(err, rc, "%s: %s", name, msg);
    }
    p = kiln_calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(root);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    rc = load(&c, root, p);
    json_decref(root);
    if (rc != KILN_OK) {
        kiln_profile_free(p);
        return rc;
    }
    *out = p;
    return KILN_OK;
}

int kiln_profile_load(const char *path, struct kiln_profile **out, struct kiln_err *err)
{
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, (size_t)1 << 30);
    rc = kiln_read_file(path, &b, err);
    if (rc != KILN_OK) {
        kiln_buf_release(&b);
        return rc; /* kiln_read_file's message names the file */
    }
    rc = kiln_profile_parse(b.buf, b.len, path, out, err);
    kiln_buf_release(&b);
    return rc;
}

int kiln_profile_sniff(const char *path)
{
    char head[512];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    head[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')
            continue;
        return head[i] == '{' && strstr(head, "\"kiln_profile\"") != NULL;
    }
    return 0;
}

/*
 * colsum.c - streaming column summaries (see profile.h) and column types.
 *
 * Per cell: missing cells are only counted; a number updates the moments (Welford), min,
 * max, the KLL sketch and the numeric value table; other text is classified (boolean,
 * timestamp, text) and counted by value, a timestamp also feeding the numeric accumulators
 * in seconds. The HyperLogLog is fed only once a value table overflows (the table keys seen
 * so far are replayed into it then), so columns with few distinct values pay nothing for it
 * and report an exact distinct count.
 *
 * Memory per column is fixed: the sketch (about 3k doubles), two tables of at most
 * max_values keys, 4 KiB of HLL registers. Not thread-safe.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "quality/num.h"
#include "quality/profile.h"

static const char *const type_names[] = {
    "empty", "boolean", "integer", "float", "timestamp", "string",
};

const char *kiln_coltype_name(enum kiln_coltype t)
{
    return (size_t)t < KILN_ARRAY_LEN(type_names) ? type_names[t] : "string";
}

int kiln_coltype_parse(const char *s, enum kiln_coltype *out)
{
    static const struct {
        const char *name;
        enum kiln_coltype t;
    } alias[] = {
        { "empty", KILN_COL_EMPTY },        { "boolean", KILN_COL_BOOLEAN },
        { "bool", KILN_COL_BOOLEAN },       { "integer", KILN_COL_INTEGER },
        { "int", KILN_COL_INTEGER },        { "int64", KILN_COL_INTEGER },
        { "long", KILN_COL_INTEGER },       { "float", KILN_COL_FLOAT },
        { "float64", KILN_COL_FLOAT },      { "double", KILN_COL_FLOAT },
        { "number", KILN_COL_FLOAT },       { "timestamp", KILN_COL_TIMESTAMP },
        { "datetime", KILN_COL_TIMESTAMP }, { "datetime64", KILN_COL_TIMESTAMP },
        { "string", KILN_COL_STRING },      { "str", KILN_COL_STRING },
        { "text", KILN_COL_STRING },        { "object", KILN_COL_STRING },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(alias); i++)
        if (kiln_cstr_ieq(s, alias[i].name)) {
            *out = alias[i].t;
            return KILN_OK;
        }
    return KILN_EINVAL;
}

int kiln_coltype_is_numeric(enum kiln_coltype t)
{
    return t == KILN_COL_INTEGER || t == KILN_COL_FLOAT;
}

int kiln_colsum_init(struct kiln_colsum *c, const char *name, const struct kiln_colsum_opts *o)
{
    size_t maxv = o != NULL && o->max_values ? o->max_values : 1000;
    memset(c, 0, sizeof(*c));
    c->name = kiln_strdup(name);
    if (c->name == NULL)
        return KILN_ENOMEM;
    kiln_kll_init(&c->kll, o != NULL ? o->sketch_k : 0);
    kiln_counts_init(&c->nums, maxv);
    kiln_counts_init(&c->texts, maxv);
    kiln_hll_init(&c->hll);
    c->min = INFINITY;
    c->max = -INFINITY;
    c->len_min = UINT64_MAX;
    return KILN_OK;
}

void kiln_colsum_release(struct kiln_colsum *c)
{
    kiln_free(c->name);
    kiln_kll_release(&c->kll);
    kiln_counts_release(&c->nums);
    kiln_counts_release(&c->texts);
    memset(c, 0, sizeof(*c));
}

void kiln_colsum_reset(struct kiln_colsum *c)
{
    char *name = c->name;
    struct kiln_kll kll = c->kll;
    struct kiln_counts nums = c->nums, texts = c->texts;
    kiln_kll_reset(&kll);
    kiln_counts_reset(&nums);
    kiln_counts_reset(&texts);
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->kll = kll;
    c->nums = nums;
    c->texts = texts;
    kiln_hll_init(&c->hll);
    c->min = INFINITY;
    c->max = -INFINITY;
    c->len_min = UINT64_MAX;
}

/* Starts feeding the HLL: replays the keys counted so far. */
static void hll_start(struct kiln_colsum *c)
{
    if (c->hll_active)
        return;
    c->hll_active = 1;
    for (size_t i = 0; i < c->nums.n; i++)
        kiln_hll_add(&c->hll, c->nums.e[i].key, c->nums.e[i].len);
    for (size_t i = 0; i < c->texts.n; i++)
        kiln_hll_add(&c->hll, c->texts.e[i].key, c->texts.e[i].len);
}

/* A finite or infinite number; `track` counts it by value (not for timestamps, whose text is
 * counted instead). */
static int add_number(struct kiln_colsum *c, double v, int track)
{
    double d;
    int rc;
    if (!isfinite(v)) {
        c->n_inf++;
        return KILN_OK;
    }
    if (v == 0)
        v = 0.0;
    c->n_num++;
    d = v - c->mean;
    c->mean += d / (double)c->n_num;
    c->m2 += d * (v - c->mean);
    if (v < c->min)
        c->min = v;
    if (v > c->max)
        c->max = v;
    rc = kiln_kll_add(&c->kll, v);
    if (rc != KILN_OK || !track)
        return rc;
    if (!c->nums.overflow) {
        rc = kiln_counts_add(&c->nums, &v, sizeof(v), 1, 0, NULL);
        if (rc != KILN_OK)
            return rc;
        if (c->nums.overflow)
            hll_start(c);
    }
    if (c->hll_active)
        kiln_hll_add(&c->hll, &v, sizeof(v));
    return KILN_OK;
}

static int looks_like_date(const char *p, size_t len)
{
    if (len < 10)
        return 0;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (p[i] != '-')
                return 0;
        } else if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }
    return 1;
}

int kiln_colsum_add(struct kiln_colsum *c, const char *p, size_t len, unsigned flags)
{
    double v;
    int kind, b, rc;
    int64_t ms;

    c->rows++;
    if (flags & KILN_CELL_MISSING) {
        c->missing++;
        return KILN_OK;
    }
    if (len < c->len_min)
        c->len_min = len;
    if (len > c->len_max)
        c->len_max = len;
    kind = kiln_num_parse(p, len, &v);
    if (kind != KILN_NUM_NONE) {
        if (kind == KILN_NUM_INT)
            c->n_int++;
        else
            c->n_float++;
        return add_number(c, v, 1);
    }
    if (kiln_num_parse_bool(p, len, &b)) {
        c->n_bool++;
    } else if (looks_like_date(p, len) && kiln_time_parse_iso(p, len, &ms) == KILN_OK) {
        c->n_ts++;
        rc = add_number(c, (double)ms / 1000.0, 0);
        if (rc != KILN_OK)
            return rc;
    } else {
        c->n_text++;
    }
    rc = kiln_counts_add(&c->texts, p, len, 1, 0, NULL);
    if (rc != KILN_OK)
        return rc;
    if (c->texts.overflow)
        hll_start(c);
    if (c->hll_active)
        kiln_hll_add(&c->hll, p, len);
    return KILN_OK;
}

int kiln_colsum_add_double(struct kiln_colsum *c, double v)
{
    c->rows++;
    if (isnan(v)) {
        c->missing++;
        return KILN_OK;
    }
    if (v == floor(v) && fabs(v) < 9.2e18)
        c->n_int++;
    else
        c->n_float++;
    return add_number(c, v, 1);
}

int kiln_colsum_merge(struct kiln_colsum *dst, const struct kiln_colsum *src)
{
    int rc;
    uint64_t n = dst->n_num + src->n_num;
    if (n > 0 && src->n_num > 0) {
        double d = src->mean - dst->mean;
        double na = (double)dst->n_num, nb = (double)src->n_num;
        dst->m2 = dst->m2 + src->m2 + d * d * na * nb / (double)n;
        dst->mean = dst->mean + d * nb / (double)n;
    }
    dst->n_num = n;
    dst->rows += src->rows;
    dst->missing += src->missing;
    dst->n_int += src->n_int;
    dst->n_float += src->n_float;
    dst->n_bool += src->n_bool;
    dst->n_ts += src->n_ts;
    dst->n_text += src->n_text;
    dst->n_inf += src->n_inf;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    if (src->len_min < dst->len_min)
        dst->len_min = src->len_min;
    if (src->len_max > dst->len_max)
        dst->len_max = src->len_max;
    if ((rc = kiln_kll_merge(&dst->kll, &src->kll)) != KILN_OK)
        return rc;
    if ((rc = kiln_counts_merge(&dst->nums, &src->nums)) != KILN_OK)
        return rc;
    if ((rc = kiln_counts_merge(&dst->texts, &src->texts)) != KILN_OK)
        return rc;
    if (src->hll_active || dst->nums.overflow || dst->texts.overflow) {
        struct kiln_colsum tmp = *src;
        hll_start(dst);
        if (!src->hll_active) {
            /* src's distinct values are all in its tables. */
            kiln_hll_init(&tmp.hll);
            for (size_t i = 0; i < src->nums.n; i++)
                kiln_hll_add(&tmp.hll, src->nums.e[i].key, src->nums.e[i].len);
            for (size_t i = 0; i < src->texts.n; i++)
                kiln_hll_add(&tmp.hll, src->texts.e[i].key, src->texts.e[i].len);
        }
        kiln_hll_merge(&dst->hll, &tmp.hll);
    }
    return KILN_OK;
}

enum kiln_coltype kiln_colsum_type(const struct kiln_colsum *c)
{
    uint64_t nm = c->rows - c->missing;
    if (nm == 0)
        return KILN_COL_EMPTY;
    if (c->n_bool == nm)
        return KILN_COL_BOOLEAN;
    if (c->n_int == nm)
        return KILN_COL_INTEGER;
    if (c->n_int + c->n_float == nm)
        return KILN_COL_FLOAT;
    if (c->n_ts == nm)
        return KILN_COL_TIMESTAMP;
    return KILN_COL_STRING;
}

double kiln_colsum_std(const struct kiln_colsum *c, int ddof)
{
    if (c->n_num <= (uint64_t)ddof)
        return NAN;
    return sqrt(c->m2 / (double)(c->n_num - (uint64_t)ddof));
}

uint64_t kiln_colsum_distinct(const struct kiln_colsum *c, int *exact)
{
    int ex = !c->nums.overflow && !c->texts.overflow;
    if (exact != NULL)
        *exact = ex;
    if (ex)
        return c->nums.n + c->texts.n;
    return (uint64_t)llround(kiln_hll_estimate(&c->hll));
}

double kiln_colsum_quantile(const struct kiln_colsum *c, double q)
{
    double *v, r;
    uint64_t *w;
    size_t n;
    if (c->n_num == 0)
        return NAN;
    if (q <= 0)
        return c->min;
    if (q >= 1)
        return c->max;
    if (kiln_kll_sorted(&c->kll, &v, &w, &n) != KILN_OK)
        return NAN;
    r = kiln_quantile_linear(v, w, n, c->kll.n, q);
    kiln_free(v);
    kiln_free(w);
    return r;
}

/*
 * drift_data.c - the two kinds of drift sides (see drift.h): raw rows read into sorted
 * doubles and exact value counts, or borrowed column summaries; plus the per-column views
 * the statistics need (distinct numeric values, categorical counts).
 *
 * Raw loading keeps, per column, every finite number (8 bytes each) and a count per
 * distinct non-numeric text; infinities and missing cells are only counted. After the last
 * row each column's numbers are radix-sorted and their mean and population standard
 * deviation are taken with compensated sums. kiln_drift_data_load2 reads two files at once,
 * one on a second thread; each thread owns its reader and its side.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/time.h"
#include "quality/drift_int.h"
#include "quality/num.h"

struct racc {
    double *v;
    size_t n, cap;
    uint64_t missing, inf, ts, nonnum;
    struct kiln_counts texts;
};

static int looks_like_date(const char *p, size_t len)
{
    if (len < 10 || p[4] != '-' || p[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (p[i] < '0' || p[i] > '9'))
            return 0;
    return 1;
}

static int racc_add(struct racc *a, const struct kiln_cell *cell)
{
    double v;
    int64_t ms;
    if (cell->flags & KILN_CELL_MISSING) {
        a->missing++;
        return KILN_OK;
    }
    if (kiln_num_parse(cell->p, cell->len, &v) != KILN_NUM_NONE) {
        if (!isfinite(v)) {
            a->inf++;
            return KILN_OK;
        }
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 1024;
            double *nv = kiln_reallocarray(a->v, cap, sizeof(*nv));
            if (nv == NULL)
                return KILN_ENOMEM;
            a->v = nv;
            a->cap = cap;
        }
        a->v[a->n++] = v == 0 ? 0.0 : v;
        return KILN_OK;
    }
    a->nonnum++;
    if (looks_like_date(cell->p, cell->len) &&
        kiln_time_parse_iso(cell->p, cell->len, &ms) == KILN_OK)
        a->ts++;
    return kiln_counts_add(&a->texts, cell->p, cell->len, 1, 0, NULL);
}

struct ksum {
    double s, c;
};

static void ksum_add(struct ksum *k, double x)
{
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

static void moments(struct kiln_dcol *c)
{
    struct ksum s = { 0, 0 }, q = { 0, 0 };
    double mean;
    if (c->nv == 0) {
        c->mean = c->std_pop = c->min = c->max = NAN;
        return;
    }
    for (size_t i = 0; i < c->nv; i++)
        ksum_add(&s, c->v[i]);
    mean = (s.s + s.c) / (double)c->nv;
    for (size_t i = 0; i < c->nv; i++) {
        double d = c->v[i] - mean;
        ksum_add(&q, d * d);
    }
    c->mean = mean;
    c->std_pop = sqrt((q.s + q.c) / (double)c->nv);
    c->min = c->v[0];
    c->max = c->v[c->nv - 1];
}

/* Moves an accumulator into a finished column (sorting its numbers with tmp). */
static void finish_column(struct racc *a, uint64_t rows, struct kiln_dcol *c, double *tmp)
{
    c->rows = rows;
    c->missing = a->missing;
    c->inf = a->inf;
    c->numeric = a->nonnum == 0;
    c->timestamp = a->nonnum > 0 && a->ts == a->nonnum && a->n == 0 && a->inf == 0;
    c->v = a->v;
    c->nv = c->n = a->n;
    c->exact = 1;
    a->v = NULL;
    kiln_stats_sort(c->v, c->nv, tmp);
    moments(c);
    c->own_texts = a->texts;
    c->texts = &c->own_texts;
    kiln_counts_init(&a->texts, SIZE_MAX);
}

void kiln_drift_data_free(struct kiln_drift_data *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->ncols; i++) {
        struct kiln_dcol *c = &d->cols[i];
        kiln_free(c->name);
        kiln_free(c->v);
        kiln_free(c->w);
        kiln_counts_release(&c->own_texts);
    }
    kiln_free(d->cols);
    kiln_free(d->name);
    kiln_free(d);
}

uint64_t kiln_drift_data_rows(const struct kiln_drift_data *d)
{
    return d->rows;
}

static struct kiln_drift_data *data_new(const char *name, size_t ncols)
{
    struct kiln_drift_data *d = kiln_calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->name = kiln_strdup(name);
    d->cols = kiln_calloc(ncols + 1, sizeof(*d->cols));
    if (d->name == NULL || d->cols == NULL) {
        kiln_drift_data_free(d);
        return NULL;
    }
    return d;
}

int kiln_drift_data_load(struct kiln_table_reader *r, const char *const *columns, size_t ncolumns,
                         struct kiln_drift_data **out, struct kiln_err *err)
{
    size_t nall = kiln_table_reader_ncols(r), nsel = 0, maxn = 0;
    size_t *idx = kiln_calloc(nall + 1, sizeof(*idx));
    struct racc *acc = kiln_calloc(nall + 1, sizeof(*acc));
    struct kiln_drift_data *d = NULL;
    const struct kiln_cell *cells;
    double *tmp = NULL;
    int rc = KILN_OK, got;

    if (idx == NULL || acc == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nall; i++) {
        const char *nm = kiln_table_reader_colname(r, i);
        int want = columns == NULL;
        for (size_t j = 0; j < ncolumns && !want; j++)
            want = strcmp(columns[j], nm) == 0;
        if (want)
            idx[nsel++] = i;
    }
    d = data_new(kiln_table_reader_name(r), nsel);
    if (d == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < nsel; j++) {
        kiln_counts_init(&acc[j].texts, SIZE_MAX);
        d->cols[j].name = kiln_strdup(kiln_table_reader_colname(r, idx[j]));
        if (d->cols[j].name == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            goto out;
        }
        kiln_counts_init(&d->cols[j].own_texts, SIZE_MAX);
        d->ncols++;
    }
    while ((got = kiln_table_reader_next(r, &cells, err)) == 1) {
        for (size_t j = 0; j < nsel; j++) {
            if (racc_add(&acc[j], &cells[idx[j]]) != KILN_OK) {
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
    if (got < 0) {
        rc = got;
        goto out;
    }
    d->rows = kiln_table_reader_rows(r);
    for (size_t j = 0; j < nsel; j++)
        if (acc[j].n > maxn)
            maxn = acc[j].n;
    tmp = kiln_malloc((maxn + 1) * sizeof(*tmp));
    for (size_t j = 0; j < nsel; j++) {
        kiln_counts_release(&d->cols[j].own_texts);
        finish_column(&acc[j], d->rows, &d->cols[j], tmp);
    }
out:
    kiln_free(tmp);
    if (acc != NULL)
        for (size_t j = 0; j < nall; j++) {
            kiln_free(acc[j].v);
            kiln_counts_release(&acc[j].texts);
        }
    kiln_free(acc);
    kiln_free(idx);
    if (rc != KILN_OK) {
        kiln_drift_data_free(d);
        return rc;
    }
    *out = d;
    return KILN_OK;
}

struct load_job {
    struct kiln_table_reader *r;
    const char *const *columns;
    size_t ncolumns;
    struct kiln_drift_data *out;
    struct kiln_err err;
    int rc;
};

static void *load_main(void *arg)
{
    struct load_job *j = arg;
    j->rc = kiln_drift_data_load(j->r, j->columns, j->ncolumns, &j->out, &j->err);
    return NULL;
}

int kiln_drift_data_load2(struct kiln_table_reader *r1, struct kiln_table_reader *r2,
                          const char *const *columns, size_t ncolumns,
                          struct kiln_drift_data **out1, struct kiln_drift_data **out2,
                          struct kiln_err *err)
{
    struct load_job j2;
    pthread_t tid;
    int rc, threaded;
    struct kiln_drift_data *d1 = NULL;

    memset(&j2, 0, sizeof(j2));
    j2.r = r2;
    j2.columns = columns;
    j2.ncolumns = ncolumns;
    threaded = pthread_create(&tid, NULL, load_main, &j2) == 0;
    rc = kiln_drift_data_load(r1, columns, ncolumns, &d1, err);
    if (threaded)
        pthread_join(tid, NULL);
    else
        load_main(&j2);
    if (rc == KILN_OK && j2.rc != KILN_OK) {
        rc = kiln_err_set(err, j2.rc, "%s", kiln_err_msg(&j2.err, j2.rc));
    }
    if (rc != KILN_OK) {
        kiln_drift_data_free(d1);
        kiln_drift_data_free(j2.out);
        return rc;
    }
    *out1 = d1;
    *out2 = j2.out;
    return KILN_OK;
}

int kiln_drift_data_from_summaries(const struct kiln_colsum *cols, size_t ncols, const char *name,
                                   uint64_t rows, uint32_t bins, struct kiln_drift_data **out,
                                   struct kiln_err *err)
{
    struct kiln_drift_data *d = data_new(name, ncols);
    if (d == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    d->summary = 1;
    d->rows = rows;
    d->bins = bins ? bins : 10;
    for (size_t i = 0; i < ncols; i++) {
        const struct kiln_colsum *s = &cols[i];
        struct kiln_dcol *c = &d->cols[i];
        uint64_t nonmissing = s->rows - s->missing;
        kiln_counts_init(&c->own_texts, 1);
        d->ncols++;
        c->name = kiln_strdup(s->name);
        if (c->name == NULL || kiln_kll_sorted(&s->kll, &c->v, &c->w, &c->nv) != KILN_OK) {
            kiln_drift_data_free(d);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        c->rows = s->rows;
        c->missing = s->missing;
        c->inf = s->n_inf;
        c->numeric = s->n_bool + s->n_ts + s->n_text == 0;
        c->timestamp = s->n_ts > 0 && s->n_ts == nonmissing;
        c->n = s->n_num;
        c->exact = kiln_kll_exact(&s->kll);
        c->mean = s->mean;
        c->std_pop = kiln_colsum_std(s, 0);
        c->min = s->min;
        c->max = s->max;
        c->texts = &s->texts;
        c->nums = &s->nums;
    }
    *out = d;
    return KILN_OK;
}

int kiln_drift_data_from_profile(const struct kiln_profile *p, struct kiln_drift_data **out,
                                 struct kiln_err *err)
{
    return kiln_drift_data_from_summaries(p->cols, p->ncols, p->source, p->rows, p->bins, out, err);
}

void kiln_vlist_release(struct kiln_vlist *l)
{
    kiln_free(l->v);
    kiln_free(l->c);
    memset(l, 0, sizeof(*l));
}

int kiln_dcol_vlist(const struct kiln_dcol *c, struct kiln_vlist *out)
{
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    if (c->nums != NULL) {
        size_t *order = NULL;
        if (c->nums->overflow)
            return KILN_OK;
        out->v = kiln_calloc(c->nums->n + 1, sizeof(double));
        out->c = kiln_calloc(c->nums->n + 1, sizeof(uint64_t));
        if (out->v == NULL || out->c == NULL || kiln_counts_sorted(c->nums, 1, &order) != KILN_OK) {
            kiln_vlist_release(out);
            return KILN_ENOMEM;
        }
        for (size_t i = 0; i < c->nums->n; i++) {
            out->v[i] = kiln_counts_num(&c->nums->e[order[i]]);
            out->c[i] = c->nums->e[order[i]].count;
        }
        kiln_free(order);
        out->n = c->nums->n;
        out->known = 1;
        return KILN_OK;
    }
    for (size_t i = 0; i < c->nv; i++)
        if (i == 0 || c->v[i] != c->v[i - 1])
            n++;
    out->v = kiln_calloc(n + 1, sizeof(double));
    out->c = kiln_calloc(n + 1, sizeof(uint64_t));
    if (out->v == NULL || out->c == NULL) {
        kiln_vlist_release(out);
        return KILN_ENOMEM;
    }
    n = 0;
    for (size_t i = 0; i < c->nv; i++) {
        if (i == 0 || c->v[i] != c->v[i - 1])
            out->v[n++] = c->v[i];
        out->c[n - 1] += c->w != NULL ? c->w[i] : 1;
    }
    out->n = n;
    out->known = 1;
    return KILN_OK;
}

uint64_t kiln_dcol_distinct(const struct kiln_dcol *c, uint64_t limit)
{
    uint64_t n = 0;
    if (c->nums != NULL)
        return c->nums->overflow || c->nums->n > limit ? limit + 1 : c->nums->n;
    for (size_t i = 0; i < c->nv; i++)
        if ((i == 0 || c->v[i] != c->v[i - 1]) && ++n > limit)
            return limit + 1;
    return n;
}

void kiln_catview_release(struct kiln_catview *v)
{
    kiln_free(v->key);
    kiln_free(v->len);
    kiln_free(v->c);
    kiln_free(v->text);
    memset(v, 0, sizeof(*v));
}

struct kv {
    const char *k;
    size_t len;
    uint64_t c;
};

static int cmp_kv(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->k, y->k, n);
    return r != 0 ? r : (x->len > y->len) - (x->len < y->len);
}

int kiln_dcol_catview(const struct kiln_dcol *c, struct kiln_catview *out, int *approx)
{
    struct kiln_vlist vl;
    struct kv *all = NULL;
    size_t n = 0, used = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    rc = kiln_dcol_vlist(c, &vl);
    if (rc != KILN_OK)
        return rc;
    if (!vl.known && c->nums != NULL) {
        out->other += kiln_counts_total(c->nums);
        *approx = 1;
    }
    all = kiln_calloc(c->texts->n + vl.n + 1, sizeof(*all));
    out->text = kiln_calloc(vl.n * 32 + 1, 1);
    if (all == NULL || out->text == NULL) {
        kiln_free(all);
        kiln_vlist_release(&vl);
        kiln_catview_release(out);
        return KILN_ENOMEM;
    }
    for (size_t i = 0; i < c->texts->n; i++) {
        all[n].k = c->texts->e[i].key;
        all[n].len = c->texts->e[i].len;
        all[n++].c = c->texts->e[i].count;
    }
    for (size_t i = 0; i < vl.n; i++) {
        char *dst = out->text + used;
        kiln_num_format(vl.v[i], dst, 32);
        all[n].k = dst;
        all[n].len = strlen(dst);
        all[n++].c = vl.c[i];
        used += all[n - 1].len + 1;
    }
    kiln_vlist_release(&vl);
    if (c->texts->overflow || c->texts->other > 0) {
        out->other += c->texts->other;
        *approx = 1;
    }
    qsort(all, n, sizeof(*all), cmp_kv);
    out->key = kiln_calloc(n + 1, sizeof(*out->key));
    out->len = kiln_calloc(n + 1, sizeof(*out->len));
    out->c = kiln_calloc(n + 1, sizeof(*out->c));
    if (out->key == NULL || out->len == NULL || out->c == NULL) {
        kiln_free(all);
        kiln_catview_release(out);
        return KILN_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        out->key[i] = all[i].k;
        out->len[i] = all[i].len;
        out->c[i] = all[i].c;
        out->total += all[i].c;
    }
    out->n = n;
    out->total += out->other;
    kiln_free(all);
    return KILN_OK;
}

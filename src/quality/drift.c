/*
 * drift.c - per-column drift statistics and the data-set verdict (see drift.h and
 * docs/drift.md for every formula).
 *
 * For each compared column: clean (missing, NaN, +-inf out), choose the method (Evidently's
 * _get_default_stattest unless overridden), compute every statistic of the column's kind,
 * then the verdict: ks drifts when p <= threshold, chisquare and z when p < threshold,
 * distances when value >= threshold. Columns are independent, so kiln_drift_compute hands
 * them to worker threads through a shared next-column index under a mutex; each worker
 * writes only its own result slots and reads the (immutable) sides.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/str.h"
#include "quality/drift_int.h"

static const char *const method_names[] = {
    "auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div",
};

const char *kiln_drift_method_name(enum kiln_drift_method m)
{
    return (size_t)m < KILN_ARRAY_LEN(method_names) ? method_names[m] : "auto";
}

int kiln_drift_method_parse(const char *s, enum kiln_drift_method *out)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(method_names); i++)
        if (kiln_cstr_ieq(s, method_names[i])) {
            *out = (enum kiln_drift_method)i;
            return KILN_OK;
        }
    if (kiln_cstr_ieq(s, "kl") || kiln_cstr_ieq(s, "kl_divergence")) {
        *out = KILN_DRIFT_KL_DIV;
        return KILN_OK;
    }
    if (kiln_cstr_ieq(s, "js")) {
        *out = KILN_DRIFT_JENSENSHANNON;
        return KILN_OK;
    }
    return KILN_EINVAL;
}

static int is_p_method(enum kiln_drift_method m)
{
    return m == KILN_DRIFT_KS || m == KILN_DRIFT_CHISQUARE || m == KILN_DRIFT_Z;
}

double kiln_drift_default_threshold(enum kiln_drift_method m)
{
    return is_p_method(m) ? 0.05 : 0.1;
}

void kiln_drift_opts_init(struct kiln_drift_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->method = KILN_DRIFT_AUTO;
    o->threshold = NAN;
    o->drift_share = 0.5;
    o->binning = KILN_BINS_AUTO;
}

void kiln_drift_column_release(struct kiln_drift_column *c)
{
    for (size_t i = 0; i < c->nbins && c->bin_labels != NULL; i++)
        kiln_free(c->bin_labels[i]);
    kiln_free(c->bin_labels);
    kiln_free(c->ref_share);
    kiln_free(c->cur_share);
    kiln_free(c->name);
    kiln_free(c->error);
}

void kiln_drift_result_free(struct kiln_drift_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->ncols; i++)
        kiln_drift_column_release(&r->cols[i]);
    for (size_t i = 0; i < r->nskipped; i++) {
        kiln_free(r->skipped[i]);
        kiln_free(r->skipped_reason[i]);
    }
    kiln_free(r->cols);
    kiln_free(r->skipped);
    kiln_free(r->skipped_reason);
    kiln_free(r->reference);
    kiln_free(r->current);
    kiln_free(r);
}

static enum kiln_drift_method default_method(int numeric, uint64_t n_ref, uint64_t n_values)
{
    if (numeric) {
        if (n_ref <= 1000)
            return n_values <= 2   ? KILN_DRIFT_Z
                   : n_values <= 5 ? KILN_DRIFT_CHISQUARE
                                   : KILN_DRIFT_KS;
        return n_values <= 5 ? KILN_DRIFT_JENSENSHANNON : KILN_DRIFT_WASSERSTEIN;
    }
    if (n_ref <= 1000)
        return n_values > 2 ? KILN_DRIFT_CHISQUARE : KILN_DRIFT_Z;
    return KILN_DRIFT_JENSENSHANNON;
}

/* Chi-square and two-proportion z over aligned counts (keys sorted, as Evidently). */
static void chi_and_z(const uint64_t *rc, const uint64_t *cc, size_t k, uint64_t n1, uint64_t n2,
                      int want_z, double *fexp, double *fobs, struct kiln_drift_column *o)
{
    double knorm = (double)n2 / (double)n1;
    size_t r_keys = 0, c_keys = 0;
    for (size_t i = 0; i < k; i++) {
        fexp[i] = (double)rc[i] * knorm;
        fobs[i] = (double)cc[i];
        r_keys += rc[i] > 0;
        c_keys += cc[i] > 0;
    }
    kiln_stats_chisquare(fobs, fexp, k, &o->chisquare_statistic, &o->chisquare_p_value);
    if (!want_z)
        return;
    if (r_keys == 1 && c_keys == 1 && k == 1) {
        o->z_statistic = NAN;
        o->z_p_value = 1.0;
        return;
    }
    {
        double p1 = (double)(n1 - rc[0]) / (double)n1, p2 = (double)(n2 - cc[0]) / (double)n2;
        double P = (p1 * (double)n1 + p2 * (double)n2) / (double)(n1 + n2);
        double z = (p1 - p2) / sqrt(P * (1 - P) * (1.0 / (double)n1 + 1.0 / (double)n2));
        o->z_statistic = z;
        o->z_p_value = 2 * (1 - kiln_stats_norm_cdf(fabs(z)));
    }
}

static int fail_col(struct kiln_drift_column *o, const char *msg)
{
    o->error = kiln_strdup(msg);
    return o->error != NULL ? KILN_OK : KILN_ENOMEM;
}

/* Union-aligned counts of two value lists (numeric per-value keys). */
static int numeric_chi_z(const struct kiln_dcol *r, const struct kiln_dcol *c, int want_z,
                         struct kiln_drift_column *o)
{
    struct kiln_vlist a, b;
    uint64_t *rc = NULL, *cc = NULL;
    double *fe = NULL, *fo = NULL;
    size_t i = 0, j = 0, k = 0;
    int ret;
    if ((ret = kiln_dcol_vlist(r, &a)) != KILN_OK)
        return ret;
    if ((ret = kiln_dcol_vlist(c, &b)) != KILN_OK) {
        kiln_vlist_release(&a);
        return ret;
    }
    if (!a.known || !b.known) {
        ret = fail_col(o, "chisquare and z need every distinct value, which this summary did "
                          "not keep (more than its max_values)");
        goto out;
    }
    rc = kiln_calloc(a.n + b.n + 1, sizeof(*rc));
    cc = kiln_calloc(a.n + b.n + 1, sizeof(*cc));
    fe = kiln_calloc(a.n + b.n + 1, sizeof(*fe));
    fo = kiln_calloc(a.n + b.n + 1, sizeof(*fo));
    if (rc == NULL || cc == NULL || fe == NULL || fo == NULL) {
        ret = KILN_ENOMEM;
        goto out;
    }
    while (i < a.n || j < b.n) {
        if (j >= b.n || (i < a.n && a.v[i] < b.v[j])) {
            rc[k++] = a.c[i++];
        } else if (i >= a.n || b.v[j] < a.v[i]) {
            cc[k++] = b.c[j++];
        } else {
            rc[k] = a.c[i++];
            cc[k++] = b.c[j++];
        }
    }
    chi_and_z(rc, cc, k, r->n, c->n, want_z, fe, fo, o);
    ret = KILN_OK;
out:
    kiln_vlist_release(&a);
    kiln_vlist_release(&b);
    kiln_free(rc);
    kiln_free(cc);
    kiln_free(fe);
    kiln_free(fo);
    return ret;
}

/* The union of ref and cur distinct values, counted up to `limit` (limit + 1 = more). */
static uint64_t union_distinct(const struct kiln_dcol *r, const struct kiln_dcol *c, uint64_t limit)
{
    struct kiln_vlist a, b;
    uint64_t n = 0;
    size_t i = 0, j = 0;
    if (kiln_dcol_distinct(r, limit) > limit || kiln_dcol_distinct(c, limit) > limit)
        return limit + 1;
    if (kiln_dcol_vlist(r, &a) != KILN_OK)
        return limit + 1;
    if (kiln_dcol_vlist(c, &b) != KILN_OK) {
        kiln_vlist_release(&a);
        return limit + 1;
    }
    while (i < a.n || j < b.n) {
        if (j >= b.n || (i < a.n && a.v[i] < b.v[j]))
            i++;
        else if (i >= a.n || b.v[j] < a.v[i])
            j++;
        else
            i++, j++;
        n++;
    }
    kiln_vlist_release(&a);
    kiln_vlist_release(&b);
    return n;
}

static int numeric_column(const struct kiln_dcol *r, const struct kiln_dcol *c,
                          enum kiln_drift_method forced, enum kiln_drift_binning binning,
                          uint32_t nbins, struct kiln_drift_column *o)
{
    struct kiln_stats_sample sr = { r->v, r->w, r->nv, r->n };
    struct kiln_stats_sample sc = { c->v, c->w, c->nv, c->n };
    struct kiln_stats_ks ks;
    int rc;
    o->type = "numeric";
    o->n_reference = r->n;
    o->n_current = c->n;
    if (r->n == 0 || c->n == 0)
        return fail_col(o, r->n == 0 ? "no values left in the reference after dropping "
                                       "missing values and infinities"
                                     : "no values left in the current data after dropping "
                                       "missing values and infinities");
    o->method =
        forced != KILN_DRIFT_AUTO ? forced : default_method(1, r->n, union_distinct(r, c, 5));
    if (!r->exact || !c->exact)
        o->approximate = 1;
    kiln_stats_ks_wasserstein(&sr, &sc, &ks, &o->wasserstein);
    o->ks_statistic = ks.statistic;
    o->ks_p_value = ks.p_value;
    o->ks_exact = ks.exact && r->exact && c->exact;
    o->wasserstein_normed = o->wasserstein / (r->std_pop > 0.001 ? r->std_pop : 0.001);
    if ((rc = kiln_drift_bin_numeric(r, c, binning, nbins, o)) != KILN_OK ||
        (rc = kiln_drift_divergences(o)) != KILN_OK)
        return rc;
    if (o->method == KILN_DRIFT_CHISQUARE || o->method == KILN_DRIFT_Z)
        return numeric_chi_z(r, c, 1, o);
    return KILN_OK;
}

static int categorical_column(const struct kiln_dcol *r, const struct kiln_dcol *c,
                              enum kiln_drift_method forced, struct kiln_drift_column *o)
{
    struct kiln_catview a, b;
    uint64_t *rc = NULL, *cc = NULL, unseen = 0;
    double *fe = NULL, *fo = NULL;
    int ret, approx = 0;
    o->type = "categorical";
    if ((ret = kiln_dcol_catview(r, &a, &approx)) != KILN_OK)
        return ret;
    if ((ret = kiln_dcol_catview(c, &b, &approx)) != KILN_OK) {
        kiln_catview_release(&a);
        return ret;
    }
    o->approximate = approx;
    o->n_reference = a.total;
    o->n_current = b.total;
    if (a.total == 0 || b.total == 0) {
        ret = fail_col(o, a.total == 0 ? "no values left in the reference after dropping "
                                         "missing values"
                                       : "no values left in the current data after dropping "
                                         "missing values");
        goto out;
    }
    if (forced == KILN_DRIFT_KS || forced == KILN_DRIFT_WASSERSTEIN) {
        ret = fail_col(o, forced == KILN_DRIFT_KS ? "method 'ks' needs a numeric column"
                                                  : "method 'wasserstein' needs a numeric "
                                                    "column");
        goto out;
    }
    if ((ret = kiln_drift_bin_categorical(&a, &b, o)) != KILN_OK ||
        (ret = kiln_drift_divergences(o)) != KILN_OK)
        goto out;
    o->method = forced != KILN_DRIFT_AUTO ? forced : default_method(0, a.total, (uint64_t)o->nbins);
    rc = kiln_calloc(o->nbins + 1, sizeof(*rc));
    cc = kiln_calloc(o->nbins + 1, sizeof(*cc));
    fe = kiln_calloc(o->nbins + 1, sizeof(*fe));
    fo = kiln_calloc(o->nbins + 1, sizeof(*fo));
    if (rc == NULL || cc == NULL || fe == NULL || fo == NULL) {
        ret = KILN_ENOMEM;
        goto out;
    }
    /* Recover the aligned counts from the shares' numerators. */
    for (size_t i = 0; i < o->nbins; i++) {
        rc[i] = (uint64_t)llround(o->ref_share[i] * (double)a.total);
        cc[i] = (uint64_t)llround(o->cur_share[i] * (double)b.total);
        if (rc[i] == 0)
            unseen += cc[i];
    }
    o->unseen_share = (double)unseen / (double)b.total;
    chi_and_z(rc, cc, o->nbins, a.total, b.total, o->nbins <= 2 || o->method == KILN_DRIFT_Z, fe,
              fo, o);
    ret = KILN_OK;
out:
    kiln_catview_release(&a);
    kiln_catview_release(&b);
    kiln_free(rc);
    kiln_free(cc);
    kiln_free(fe);
    kiln_free(fo);
    return ret;
}

static void set_verdict(struct kiln_drift_column *o, double threshold)
{
    switch (o->method) {
    case KILN_DRIFT_KS:
        o->statistic = o->ks_statistic;
        o->p_value = o->ks_p_value;
        break;
    case KILN_DRIFT_CHISQUARE:
        o->statistic = o->chisquare_statistic;
        o->p_value = o->chisquare_p_value;
        break;
    case KILN_DRIFT_Z:
        o->statistic = o->z_statistic;
        o->p_value = o->z_p_value;
        break;
    case KILN_DRIFT_WASSERSTEIN:
        o->statistic = o->wasserstein_normed;
        break;
    case KILN_DRIFT_JENSENSHANNON:
        o->statistic = o->jensenshannon;
        break;
    case KILN_DRIFT_PSI:
        o->statistic = o->psi;
        break;
    case KILN_DRIFT_KL_DIV:
        o->statistic = o->kl_divergence;
        break;
    default:
        break;
    }
    o->threshold = isnan(threshold) ? kiln_drift_default_threshold(o->method) : threshold;
    if (o->method == KILN_DRIFT_KS)
        o->drifted = o->p_value <= o->threshold;
    else if (is_p_method(o->method))
        o->drifted = o->p_value < o->threshold;
    else
        o->drifted = o->statistic >= o->threshold;
}

/* One column to compare: indices on both sides and the options that apply. */
struct task {
    const struct kiln_dcol *r, *c;
    enum kiln_drift_method method;
    double threshold;
};

struct job {
    const struct task *tasks;
    struct kiln_drift_column *out;
    size_t n, next;
    enum kiln_drift_binning binning;
    uint32_t nbins;
    pthread_mutex_t mu;
    int rc;
};

static int run_task(const struct task *t, enum kiln_drift_binning binning, uint32_t nbins,
                    struct kiln_drift_column *o)
{
    int rc;
    o->name = kiln_strdup(t->r->name);
    if (o->name == NULL)
        return KILN_ENOMEM;
    o->statistic = o->p_value = NAN;
    o->ks_statistic = o->ks_p_value = o->wasserstein = o->wasserstein_normed = NAN;
    o->psi = o->kl_divergence = o->jensenshannon = NAN;
    o->chisquare_statistic = o->chisquare_p_value = o->z_statistic = o->z_p_value = NAN;
    o->unseen_share = NAN;
    o->missing_share_change = NAN;
    if (t->r->rows > 0 && t->c->rows > 0)
        o->missing_share_change =
            (double)t->c->missing / (double)t->c->rows - (double)t->r->missing / (double)t->r->rows;
    o->binning = "values";
    if (t->r->numeric && t->c->numeric)
        rc = numeric_column(t->r, t->c, t->method, binning, nbins, o);
    else
        rc = categorical_column(t->r, t->c, t->method, o);
    if (rc == KILN_OK && o->error == NULL)
        set_verdict(o, t->threshold);
    return rc;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    for (;;) {
        size_t i;
        int rc;
        pthread_mutex_lock(&j->mu);
        i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            return NULL;
        rc = run_task(&j->tasks[i], j->binning, j->nbins, &j->out[i]);
        if (rc != KILN_OK) {
            pthread_mutex_lock(&j->mu);
            j->rc = rc;
            pthread_mutex_unlock(&j->mu);
        }
    }
}

static const struct kiln_dcol *find_col(const struct kiln_drift_data *d, const char *name)
{
    for (size_t i = 0; i < d->ncols; i++)
        if (strcmp(d->cols[i].name, name) == 0)
            return &d->cols[i];
    return NULL;
}

static int add_skip(struct kiln_drift_result *res, const char *name, const char *why)
{
    char **a = kiln_reallocarray(res->skipped, res->nskipped + 1, sizeof(*a));
    char **b;
    if (a == NULL)
        return KILN_ENOMEM;
    res->skipped = a;
    b = kiln_reallocarray(res->skipped_reason, res->nskipped + 1, sizeof(*b));
    if (b == NULL)
        return KILN_ENOMEM;
    res->skipped_reason = b;
    a[res->nskipped] = kiln_strdup(name);
    b[res->nskipped] = kiln_strdup(why);
    res->nskipped++;
    return a[res->nskipped - 1] != NULL && b[res->nskipped - 1] != NULL ? KILN_OK : KILN_ENOMEM;
}

/* Builds the task list (and the skipped list) from the options. */
static int plan(const struct kiln_drift_data *ref, const struct kiln_drift_data *cur,
                const struct kiln_drift_opts *o, struct kiln_drift_result *res, struct task *tasks,
                size_t *ntasks, struct kiln_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < o->nper_column; i++)
        if (find_col(ref, o->per_column[i].column) == NULL)
            return kiln_err_set(err, KILN_EINVAL, "column '%s' is not in the reference",
                                o->per_column[i].column);
    for (size_t i = 0; i < (o->columns != NULL ? o->ncolumns : ref->ncols); i++) {
        const char *name = o->columns != NULL ? o->columns[i] : ref->cols[i].name;
        const struct kiln_dcol *r = find_col(ref, name), *c = find_col(cur, name);
        struct task *t = &tasks[n];
        if (o->columns != NULL && r == NULL)
            return kiln_err_set(err, KILN_EINVAL, "column '%s' is not in the reference", name);
        if (o->columns != NULL && c == NULL)
            return kiln_err_set(err, KILN_EINVAL, "column '%s' is not in the current data", name);
        if (c == NULL) {
            if (add_skip(res, name, "not in the current data") != KILN_OK)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
            continue;
        }
        if (r->timestamp && c->timestamp) {
            if (add_skip(res, name, "timestamp column") != KILN_OK)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
            continue;
        }
        t->r = r;
        t->c = c;
        t->method = o->method;
        t->threshold = o->threshold;
        for (size_t k = 0; k < o->nper_column; k++)
            if (strcmp(o->per_column[k].column, name) == 0) {
                if (o->per_column[k].method != KILN_DRIFT_AUTO)
                    t->method = o->per_column[k].method;
                if (!isnan(o->per_column[k].threshold))
                    t->threshold = o->per_column[k].threshold;
            }
        n++;
    }
    if (o->columns == NULL)
        for (size_t i = 0; i < cur->ncols; i++)
            if (find_col(ref, cur->cols[i].name) == NULL &&
                add_skip(res, cur->cols[i].name, "not in the reference") != KILN_OK)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    *ntasks = n;
    return KILN_OK;
}

int kiln_drift_compute(const struct kiln_drift_data *ref, const struct kiln_drift_data *cur,
                       const struct kiln_drift_opts *opts, struct kiln_drift_result **out,
                       struct kiln_err *err)
{
    struct kiln_drift_opts defaults;
    struct kiln_drift_result *res = kiln_calloc(1, sizeof(*res));
    struct task *tasks = NULL;
    struct job job;
    pthread_t tids[8];
    size_t ntasks = 0, nthreads, started = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int rc;

    if (opts == NULL) {
        kiln_drift_opts_init(&defaults);
        opts = &defaults;
    }
    memset(&job, 0, sizeof(job));
    if (res == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    res->reference = kiln_strdup(ref->name);
    res->current = kiln_strdup(cur->name);
    res->reference_rows = ref->rows;
    res->current_rows = cur->rows;
    tasks = kiln_calloc(ref->ncols + (opts->columns ? opts->ncolumns : 0) + 1, sizeof(*tasks));
    if (res->reference == NULL || res->current == NULL || tasks == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = plan(ref, cur, opts, res, tasks, &ntasks, err)) != KILN_OK)
        goto out;
    res->cols = kiln_calloc(ntasks + 1, sizeof(*res->cols));
    if (res->cols == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    res->ncols = ntasks;
    job.tasks = tasks;
    job.out = res->cols;
    job.n = ntasks;
    job.binning = opts->binning;
    job.nbins = opts->nbins;
    if (job.binning == KILN_BINS_AUTO && ref->summary) {
        job.binning = KILN_BINS_QUANTILE;
        job.nbins = ref->bins;
    }
    pthread_mutex_init(&job.mu, NULL);
    nthreads = opts->threads > 0 ? (size_t)opts->threads : cpus > 0 ? (size_t)cpus : 1;
    if (nthreads > 8)
        nthreads = 8;
    if (nthreads > ntasks)
        nthreads = ntasks;
    for (size_t i = 1; i < nthreads; i++)
        if (pthread_create(&tids[started], NULL, worker, &job) == 0)
            started++;
    worker(&job);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&job.mu);
    if (job.rc != KILN_OK) {
        rc = kiln_err_set(err, job.rc, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ntasks; i++) {
        if (res->cols[i].error != NULL)
            continue;
        res->n_checked++;
        res->n_drifted += res->cols[i].drifted != 0;
    }
    res->drift_share_threshold = isnan(opts->drift_share) ? 0.5 : opts->drift_share;
    res->drift_share = res->n_checked ? (double)res->n_drifted / (double)res->n_checked : 0;
    res->dataset_drift = res->n_checked > 0 && res->drift_share >= res->drift_share_threshold;
    rc = KILN_OK;
out:
    kiln_free(tasks);
    if (rc != KILN_OK) {
        kiln_drift_result_free(res);
        return rc;
    }
    *out = res;
    return KILN_OK;
}

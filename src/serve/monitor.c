/*
 * monitor.c - online monitoring in a replica (docs/monitoring.md, "Online drift in replicas"
 * and "Replica metrics"): per served version, a drift window of the live features against the
 * version's training profile (profile.json in its model directory), confidence statistics,
 * and the gauges of both plus the feedback metrics.
 *
 * Windows. A version with a profile gets a struct mwin when it is loaded (monitor_attach),
 * owning the profile. Its live rows are added to one of MW_STRIPES kiln_drift_window stripes
 * (each with its own lock; a busy stripe is skipped for the next), so HTTP workers rarely
 * wait for each other. Profile columns are matched with the model's inputs by name; string
 * inputs are added as their category text, unknown categories as "<unknown>"; profile columns
 * that are not inputs are not compared. When the window holds drift_window_rows rows, or
 * drift_window_ms have passed with rows in it, the report thread merges the stripes, compares
 * the result with the profile (kiln_drift_window_compute: Evidently's defaults), empties the
 * stripes, sets the gauges and keeps the comparison for the next report's `drift` block.
 *
 * Confidence: per version, the rows' top-class probabilities since the last comparison
 * (struct rstats conf_*), turned into kiln_monitor_confidence_mean and
 * kiln_monitor_low_confidence_share at the same cadence.
 *
 * Life: a window is detached when its version is freed and dropped at the next tick. Threads:
 * monitor_rows on HTTP workers (stripe locks); attach/detach on loading/releasing threads and
 * tick on the report thread (m->mu guards the list and each window's report state).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "quality/drift.h"
#include "serve/replica_int.h"

#define MW_STRIPES 4

struct mstripe {
    pthread_mutex_t mu;
    struct kiln_drift_window *w;
};

struct mwin {
    int64_t version;
    long users;                /* served versions pointing here (m->mu) */
    struct kiln_profile *prof; /* owned */
    const char **names;        /* the compared columns (borrowed from prof) */
    size_t nnames;
    long *input; /* per profile column: the model input, or -1 */
    int *text;   /* per profile column: a string input */
    struct kiln_drift_opts opts;
    struct mstripe stripe[MW_STRIPES];
    atomic_ullong rows, pick;
    int64_t since_ms;                  /* report thread */
    struct kiln_deploy_drift_obs last; /* latest comparison not yet reported (m->mu) */
    struct mwin *next;
};

struct monitor {
    struct kiln_serve *srv;
    pthread_mutex_t mu;
    struct mwin *wins;
    struct kiln_metric_family *f_score, *f_drifted, *f_dataset, *f_share, *f_rows, *f_conf, *f_low,
        *f_labels, *f_acc, *f_prec, *f_rec;
};

struct gdef {
    struct kiln_metric_family **out;
    const char *name, *help;
    size_t nlabels;
};

int monitor_new(struct kiln_serve *s, struct monitor **out, struct kiln_err *err)
{
    struct monitor *m = kiln_calloc(1, sizeof(*m));
    static const char *const labels[4] = { "model", "version", "feature", "method" };
    int rc = KILN_OK;
    if (m == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    m->srv = s;
    {
        const struct gdef g[] = {
            { &m->f_score, "kiln_monitor_feature_drift_score",
              "The last drift window's statistic per feature (p-value for ks, chisquare and z; "
              "a distance otherwise).",
              4 },
            { &m->f_drifted, "kiln_monitor_feature_drifted",
              "1 when the feature drifted in the last window.", 3 },
            { &m->f_dataset, "kiln_monitor_dataset_drift",
              "1 when the last window drifted as a data set.", 2 },
            { &m->f_share, "kiln_monitor_drift_share",
              "Share of drifted features in the last window.", 2 },
            { &m->f_rows, "kiln_monitor_drift_window_rows", "Rows in the last compared window.",
              2 },
            { &m->f_conf, "kiln_monitor_confidence_mean",
              "Mean top-class probability over the last window.", 2 },
            { &m->f_low, "kiln_monitor_low_confidence_share",
              "Share of predictions below the confidence threshold in the last window.", 2 },
            { &m->f_labels, "kiln_monitor_feedback_labels_total",
              "Feedback labels joined with predictions.", 2 },
            { &m->f_acc, "kiln_monitor_accuracy", "Accuracy from feedback labels.", 2 },
            { &m->f_prec, "kiln_monitor_precision",
              "Precision (macro average) from feedback labels.", 2 },
            { &m->f_rec, "kiln_monitor_recall", "Recall (macro average) from feedback labels.", 2 },
        };
        for (size_t i = 0; rc == KILN_OK && i < KILN_ARRAY_LEN(g); i++)
            rc = kiln_metrics_family(s->metrics, KILN_METRIC_GAUGE, g[i].name, g[i].help, labels,
                                     g[i].nlabels, NULL, 0, g[i].out, err);
    }
    if (rc != KILN_OK) {
        monitor_free(m);
        return rc;
    }
    *out = m;
    return KILN_OK;
}

static void obs_release(struct kiln_deploy_drift_obs *o)
{
    for (size_t i = 0; i < o->ncols; i++) {
        kiln_free(o->cols[i].name);
        kiln_free(o->cols[i].method);
    }
    kiln_free(o->cols);
    memset(o, 0, sizeof(*o));
}

static void mwin_free(struct mwin *w)
{
    if (w == NULL)
        return;
    for (int i = 0; i < MW_STRIPES; i++) {
        kiln_drift_window_free(w->stripe[i].w);
        pthread_mutex_destroy(&w->stripe[i].mu);
    }
    obs_release(&w->last);
    kiln_free(w->names);
    kiln_free(w->input);
    kiln_free(w->text);
    kiln_profile_free(w->prof);
    kiln_free(w);
}

void monitor_free(struct monitor *m)
{
    if (m == NULL)
        return;
    while (m->wins != NULL) {
        struct mwin *n = m->wins->next;
        mwin_free(m->wins);
        m->wins = n;
    }
    pthread_mutex_destroy(&m->mu);
    kiln_free(m);
}

/* A window for `prof` (taken) and model `model`. */
static int mwin_new(int64_t version, struct kiln_profile *prof, const struct kiln_rt_model *model,
                    struct mwin **out, struct kiln_err *err)
{
    struct mwin *w = kiln_calloc(1, sizeof(*w));
    int rc = KILN_OK;
    if (w == NULL) {
        kiln_profile_free(prof);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    w->version = version;
    w->prof = prof;
    for (int i = 0; i < MW_STRIPES; i++)
        pthread_mutex_init(&w->stripe[i].mu, NULL);
    w->names = kiln_calloc(prof->ncols + 1, sizeof(*w->names));
    w->input = kiln_calloc(prof->ncols + 1, sizeof(*w->input));
    w->text = kiln_calloc(prof->ncols + 1, sizeof(*w->text));
    if (w->names == NULL || w->input == NULL || w->text == NULL)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t c = 0; rc == KILN_OK && c < prof->ncols; c++) {
        const char *name = prof->cols[c].name;
        size_t j;
        w->input[c] = -1;
        if (kiln_rt_find_input(model, name, strlen(name), &j) != KILN_OK)
            continue;
        w->input[c] = (long)j;
        w->text[c] = kiln_rt_input(model, j)->type == KILN_RT_STRING;
        w->names[w->nnames++] = name;
    }
    kiln_drift_opts_init(&w->opts);
    w->opts.columns = w->names;
    w->opts.ncolumns = w->nnames;
    w->opts.threads = 1;
    if (rc == KILN_OK && w->nnames == 0)
        rc = kiln_err_set(err, KILN_EINVAL, "no profile column is an input of the model");
    for (int i = 0; rc == KILN_OK && i < MW_STRIPES; i++)
        rc = kiln_drift_window_new(w->prof, &w->opts, &w->stripe[i].w, err);
    if (rc != KILN_OK) {
        mwin_free(w);
        return rc;
    }
    w->since_ms = kiln_mono_ns() / 1000000;
    *out = w;
    return KILN_OK;
}

struct mwin *monitor_attach(struct monitor *m, int64_t version, struct kiln_profile *prof,
                            const struct kiln_rt_model *model)
{
    struct kiln_err err = { 0 };
    struct mwin *w;
    if (m == NULL || prof == NULL) {
        kiln_profile_free(prof);
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    for (w = m->wins; w != NULL; w = w->next)
        if (w->version == version)
            break;
    if (w != NULL) {
        w->users++;
        pthread_mutex_unlock(&m->mu);
        kiln_profile_free(prof); /* the window keeps the first copy */
        return w;
    }
    pthread_mutex_unlock(&m->mu);
    if (mwin_new(version, prof, model, &w, &err) != KILN_OK) {
        kiln_log_warn("version %lld: no feature drift monitoring: %s", (long long)version, err.msg);
        return NULL;
    }
    w->users = 1;
    pthread_mutex_lock(&m->mu);
    w->next = m->wins;
    m->wins = w;
    pthread_mutex_unlock(&m->mu);
    kiln_log_info("version %lld: monitoring drift of %zu feature(s) against its training "
                  "profile (%llu rows)",
                  (long long)version, w->nnames, (unsigned long long)w->prof->rows);
    return w;
}

void monitor_detach(struct monitor *m, struct mwin *w)
{
    if (m == NULL || w == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    w->users--;
    pthread_mutex_unlock(&m->mu);
}

static void add_row(const struct served *v, struct mwin *w, struct kiln_drift_window *dw,
                    const double *row)
{
    for (size_t c = 0; c < w->prof->ncols; c++) {
        double x;
        if (w->input[c] < 0)
            continue;
        x = row[w->input[c]];
        if (w->text[c] && !isnan(x)) {
            const char *t = kiln_rt_category(v->model, (size_t)w->input[c], (long)x);
            if (t == NULL)
                t = "<unknown>";
            kiln_drift_window_add_text(dw, c, t, strlen(t));
        } else {
            kiln_drift_window_add_number(dw, c, x);
        }
    }
    kiln_drift_window_end_row(dw);
}

void monitor_rows(struct monitor *m, const struct served *v, const double *x, size_t n)
{
    struct mwin *w = v->mw;
    size_t F = kiln_rt_n_inputs(v->model);
    unsigned long long k;
    (void)m;
    if (w == NULL || n == 0)
        return;
    k = atomic_fetch_add_explicit(&w->pick, 1, memory_order_relaxed);
    for (int i = 0;; i++) {
        struct mstripe *s = &w->stripe[(k + (unsigned)i) % MW_STRIPES];
        if (i < MW_STRIPES ? pthread_mutex_trylock(&s->mu) != 0 : pthread_mutex_lock(&s->mu) != 0)
            continue;
        for (size_t r = 0; r < n; r++)
            add_row(v, w, s->w, x + r * F);
        pthread_mutex_unlock(&s->mu);
        break;
    }
    atomic_fetch_add_explicit(&w->rows, n, memory_order_relaxed);
}

/* ---- comparisons (report thread) --------------------------------------------------------- */

static void labels2(const struct monitor *m, int64_t version, char *v, size_t size,
                    const char *out[2])
{
    snprintf(v, size, "%lld", (long long)version);
    out[0] = m->srv->slots[0]->name;
    out[1] = v;
}

static void set2(const struct monitor *m, struct kiln_metric_family *f, int64_t version, double x)
{
    char v[32];
    const char *l[2];
    labels2(m, version, v, sizeof(v), l);
    kiln_metric_set(kiln_metric_child(f, l), x);
}

/* Publishes a comparison as gauges and as the window's report observation. */
static int publish(struct monitor *m, struct mwin *w, const struct kiln_drift_result *res)
{
    struct kiln_deploy_drift_obs o;
    char v[32];
    const char *l[4];
    memset(&o, 0, sizeof(o));
    o.present = 1;
    o.version = w->version;
    o.rows = res->current_rows;
    o.dataset_drift = res->dataset_drift;
    o.drift_share = res->drift_share;
    o.cols = kiln_calloc(res->ncols + 1, sizeof(*o.cols));
    if (o.cols == NULL)
        return KILN_ENOMEM;
    labels2(m, w->version, v, sizeof(v), l);
    for (size_t i = 0; i < res->ncols; i++) {
        const struct kiln_drift_column *c = &res->cols[i];
        const char *method = kiln_drift_method_name(c->method);
        if (c->error != NULL)
            continue;
        l[2] = c->name;
        l[3] = method;
        kiln_metric_set(kiln_metric_child(m->f_score, l), c->statistic);
        kiln_metric_set(kiln_metric_child(m->f_drifted, l), c->drifted);
        o.cols[o.ncols].name = kiln_strdup(c->name);
        o.cols[o.ncols].method = kiln_strdup(method);
        o.cols[o.ncols].statistic = c->statistic;
        o.cols[o.ncols].threshold = c->threshold;
        o.cols[o.ncols].drifted = c->drifted;
        if (o.cols[o.ncols].name == NULL || o.cols[o.ncols].method == NULL) {
            o.ncols++;
            obs_release(&o);
            return KILN_ENOMEM;
        }
        o.ncols++;
    }
    set2(m, m->f_dataset, w->version, res->dataset_drift);
    set2(m, m->f_share, w->version, res->drift_share);
    set2(m, m->f_rows, w->version, (double)res->current_rows);
    pthread_mutex_lock(&m->mu);
    obs_release(&w->last);
    w->last = o;
    pthread_mutex_unlock(&m->mu);
    return KILN_OK;
}

/* Merges the stripes, compares, empties them. */
static int compare(struct monitor *m, struct mwin *w)
{
    struct kiln_drift_window *all = NULL;
    struct kiln_drift_result *res = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_drift_window_new(w->prof, &w->opts, &all, &err);
    for (int i = 0; i < MW_STRIPES; i++) {
        pthread_mutex_lock(&w->stripe[i].mu);
        if (rc == KILN_OK)
            rc = kiln_drift_window_merge(all, w->stripe[i].w);
        kiln_drift_window_reset(w->stripe[i].w);
        pthread_mutex_unlock(&w->stripe[i].mu);
    }
    atomic_store(&w->rows, 0);
    if (rc == KILN_OK && kiln_drift_window_rows(all) > 0)
        rc = kiln_drift_window_compute(all, &res, &err);
    if (rc == KILN_OK && res != NULL) {
        rc = publish(m, w, res);
        kiln_log_debug("version %lld: drift window of %llu rows: %s (share %.2f)",
                       (long long)w->version, (unsigned long long)res->current_rows,
                       res->dataset_drift ? "drifted" : "no drift", res->drift_share);
    }
    if (rc != KILN_OK)
        kiln_log_warn("version %lld: drift comparison failed: %s", (long long)w->version,
                      kiln_err_msg(&err, rc));
    kiln_drift_result_free(res);
    kiln_drift_window_free(all);
    return rc;
}

/* Confidence gauges of every version whose window is due. */
static void confidence(struct monitor *m, const struct rplan *p, int64_t now)
{
    struct replica *r = m->srv->rep;
    pthread_mutex_lock(&r->st_mu);
    for (struct rstats *st = r->stats; st != NULL; st = st->next) {
        uint64_t n = atomic_load_explicit(&st->conf_n, memory_order_relaxed), low;
        double sum;
        if (st->conf_since_ms == 0)
            st->conf_since_ms = now;
        if (n == 0 ||
            ((int64_t)n < p->drift_window_rows && now - st->conf_since_ms < p->drift_window_ms))
            continue;
        n = atomic_exchange(&st->conf_n, 0);
        low = atomic_exchange(&st->conf_low, 0);
        sum = ratomic_take_double(&st->conf_sum_bits);
        st->conf_since_ms = now;
        if (n == 0)
            continue;
        set2(m, m->f_conf, st->version, sum / (double)n);
        set2(m, m->f_low, st->version, (double)(low > n ? n : low) / (double)n);
    }
    pthread_mutex_unlock(&r->st_mu);
}

int monitor_tick(struct monitor *m, const struct rplan *p, struct kiln_deploy_report *r)
{
    int64_t now = kiln_mono_ns() / 1000000;
    struct mwin **pp, *newest = NULL;
    confidence(m, p, now);
    pthread_mutex_lock(&m->mu);
    pp = &m->wins;
    while (*pp != NULL) {
        struct mwin *w = *pp;
        uint64_t rows = atomic_load(&w->rows);
        if (w->users == 0) { /* its version is gone */
            *pp = w->next;
            mwin_free(w);
            continue;
        }
        pthread_mutex_unlock(&m->mu);
        if (rows > 0 &&
            ((int64_t)rows >= p->drift_window_rows || now - w->since_ms >= p->drift_window_ms)) {
            compare(m, w);
            w->since_ms = now;
        } else if (rows == 0) {
            w->since_ms = now;
        }
        pthread_mutex_lock(&m->mu);
        if (w->last.present && (newest == NULL || w->version > newest->version))
            newest = w;
        pp = &w->next;
    }
    if (newest != NULL && !r->drift.present) {
        r->drift = newest->last;
        memset(&newest->last, 0, sizeof(newest->last));
    }
    pthread_mutex_unlock(&m->mu);
    return KILN_OK;
}

static void fb_gauges(void *ctx, int64_t version, uint64_t n, double acc, double prec, double rec)
{
    struct monitor *m = ctx;
    set2(m, m->f_labels, version, (double)n);
    set2(m, m->f_acc, version, acc);
    set2(m, m->f_prec, version, prec);
    set2(m, m->f_rec, version, rec);
}

void monitor_feedback(struct monitor *m, struct fb_table *t)
{
    fb_each(t, fb_gauges, m);
}

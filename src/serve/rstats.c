/*
 * rstats.c - a replica's per-version counters and histograms, and the reports that carry them
 * to the control plane (docs/deployments.md, "Reports").
 *
 * Counting. HTTP workers add to a version's struct rstats with relaxed atomic adds: counters,
 * and log-linear histograms stored dense (one atomic counter per bucket key of deploy/hist.h,
 * whose kiln_hist_key maps values to keys), so the scoring path takes no lock and allocates
 * nothing. The report thread drains them with atomic exchanges: an increment racing with a
 * drain lands in this report or the next, never in both and never nowhere. A histogram's `n`
 * is the sum of the drained bucket counts, so it always equals the wire form's counts.
 *
 * Reports. Every report_interval_ms the report thread drains every block into its
 * accumulators (struct kiln_deploy_vstats per version), then builds one report with the next
 * `seq` and posts it. A report that does not go through (no answer, a 5xx, 408 or 429) is
 * kept as written and resent unchanged, with the same seq, before anything newer; counts
 * drained meanwhile wait in the accumulators for the next report. The control plane ignores
 * a seq it has seen, so a report whose answer was lost is never counted twice, and nothing is
 * lost while the control plane is away. A 4xx answer (the report was refused as invalid)
 * drops the report with an error in the log.
 *
 * Threads: rhist_add / counters from any thread; everything else on the report thread (or on
 * the stopping thread once the report thread is joined). st_mu guards the block list.
 */
#include <math.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "http/client.h"
#include "serve/replica_int.h"

static double bits_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

void ratomic_add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, double_bits(bits_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

double ratomic_take_double(_Atomic uint64_t *bits)
{
    return bits_double(atomic_exchange_explicit(bits, double_bits(0.0), memory_order_relaxed));
}

void rhist_add(struct rhist *h, double v)
{
    if (!isfinite(v))
        return;
    atomic_fetch_add_explicit(&h->b[kiln_hist_key(v) + KILN_HIST_KEY_MAX], 1, memory_order_relaxed);
    ratomic_add_double(&h->sum_bits, v);
}

int rhist_drain(struct rhist *h, struct kiln_hist *dst)
{
    int rc = KILN_OK;
    double sum = ratomic_take_double(&h->sum_bits);
    for (int i = 0; i < RH_N; i++) {
        uint64_t c;
        if (atomic_load_explicit(&h->b[i], memory_order_relaxed) == 0)
            continue;
        c = atomic_exchange_explicit(&h->b[i], 0, memory_order_relaxed);
        if (c > 0 && kiln_hist_add_key(dst, i - KILN_HIST_KEY_MAX, c, 0) != KILN_OK)
            rc = KILN_ENOMEM;
    }
    dst->sum += sum;
    return rc;
}

static uint64_t take(_Atomic uint64_t *c)
{
    if (atomic_load_explicit(c, memory_order_relaxed) == 0)
        return 0;
    return atomic_exchange_explicit(c, 0, memory_order_relaxed);
}

int rstats_drain(struct rstats *st, struct kiln_deploy_vstats *vs)
{
    int rc = KILN_OK;
    vs->requests += take(&st->requests);
    vs->errors += take(&st->errors);
    vs->rows += take(&st->rows);
    vs->compared += take(&st->compared);
    vs->agreed += take(&st->agreed);
    if (rhist_drain(&st->latency_us, &vs->latency_us) != KILN_OK)
        rc = KILN_ENOMEM;
    if (rhist_drain(&st->scores, &vs->scores) != KILN_OK)
        rc = KILN_ENOMEM;
    if (rhist_drain(&st->confidence, &vs->confidence) != KILN_OK)
        rc = KILN_ENOMEM;
    /* agreed <= compared must hold on the wire even when a drain split an update. */
    if (vs->agreed > vs->compared)
        vs->compared = vs->agreed;
    if (vs->errors > vs->requests)
        vs->requests = vs->errors;
    return rc;
}

/* ---- statistics blocks ---------------------------------------------------------------------- */

struct rstats *replica_stats_get(struct replica *r, int64_t version)
{
    struct rstats *st;
    pthread_mutex_lock(&r->st_mu);
    for (st = r->stats; st != NULL; st = st->next)
        if (st->version == version)
            break;
    if (st == NULL && (st = kiln_calloc(1, sizeof(*st))) != NULL) {
        char v[32];
        static const char *const roles[ROLE_N] = { "stable", "candidate", "shadow" };
        snprintf(v, sizeof(v), "%lld", (long long)version);
        st->version = version;
        for (int i = 0; i < ROLE_N && r->f_roles != NULL; i++) {
            const char *labels[3] = { r->stable->name, v, roles[i] };
            st->role[i] = kiln_metric_child(r->f_roles, labels);
        }
        st->next = r->stats;
        r->stats = st;
    }
    if (st != NULL)
        st->users++;
    pthread_mutex_unlock(&r->st_mu);
    return st;
}

void replica_stats_put(struct replica *r, struct rstats *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&r->st_mu);
    st->users--;
    pthread_mutex_unlock(&r->st_mu);
}

/* The accumulator of a version (report thread). NULL when out of memory. */
static struct kiln_deploy_vstats *acc_of(struct replica *r, int64_t version)
{
    struct kiln_deploy_vstats *a;
    for (size_t i = 0; i < r->nacc; i++)
        if (r->acc[i].version == version)
            return &r->acc[i];
    a = kiln_reallocarray(r->acc, r->nacc + 1, sizeof(*a));
    if (a == NULL)
        return NULL;
    r->acc = a;
    kiln_deploy_vstats_init(&a[r->nacc], version);
    return &a[r->nacc++];
}

/*
 * Drains every block into the accumulators; frees blocks no served version uses any more
 * once they are drained (no worker can reach them: workers reach blocks through versions).
 */
static void drain_all(struct replica *r)
{
    struct rstats **pp;
    pthread_mutex_lock(&r->st_mu);
    pp = &r->stats;
    while (*pp != NULL) {
        struct rstats *st = *pp;
        struct kiln_deploy_vstats *a = acc_of(r, st->version);
        if (a != NULL && rstats_drain(st, a) != KILN_OK)
            kiln_log_warn("deployment %s: out of memory: some counts of version %lld are lost",
                          r->deployment, (long long)st->version);
        if (st->users == 0 && a != NULL) {
            *pp = st->next;
            kiln_free(st);
            continue;
        }
        pp = &st->next;
    }
    pthread_mutex_unlock(&r->st_mu);
}

static int empty(const struct kiln_deploy_vstats *v)
{
    return v->requests == 0 && v->rows == 0 && v->compared == 0 && v->feedback.n == 0 &&
           v->latency_us.total == 0;
}

/* ---- the report ----------------------------------------------------------------------------- */

enum post_result { POST_OK, POST_RETRY, POST_DROP };

static enum post_result post(struct replica *r, struct kiln_http_client *c)
{
    struct kiln_buf path, body;
    struct kiln_err err = { 0 };
    int status = 0, rc;

    kiln_buf_init(&path, 1024);
    kiln_buf_init(&body, 65536);
    rc = kiln_buf_printf(&path, "/api/kiln/v1/deployments/%s/reports", r->deployment);
    if (rc == KILN_OK)
        rc = kiln_http_client_call(c, "POST", path.buf, "application/json", r->pending.buf,
                                   r->pending.len, &status, &body, &err);
    kiln_buf_release(&path);
    if (rc != KILN_OK || status >= 500 || status == 408 || status == 429 || status == 0) {
        if (rc != KILN_OK || status == 0)
            replica_cp_note(r, 0);
        else
            replica_cp_note(r, 1);
        kiln_log_debug("deployment %s: report %lld not delivered (%s): kept for the next try",
                       r->deployment, (long long)r->seq, rc != KILN_OK ? err.msg : "HTTP error");
        kiln_buf_release(&body);
        return POST_RETRY;
    }
    replica_cp_note(r, 1);
    if (status != 200) {
        kiln_log_error("deployment %s: the control plane refused report %lld (HTTP %d): %.300s",
                       r->deployment, (long long)r->seq, status, body.buf);
        kiln_buf_release(&body);
        return POST_DROP;
    }
    kiln_buf_release(&body);
    return POST_OK;
}

/* Moves the accumulators into rep->versions (they start again empty). KILN_ENOMEM. */
static int take_versions(struct replica *r, struct kiln_deploy_report *rep)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nacc; i++)
        n += !empty(&r->acc[i]);
    if (n == 0)
        return KILN_OK;
    rep->versions = kiln_calloc(n, sizeof(*rep->versions));
    if (rep->versions == NULL)
        return KILN_ENOMEM;
    for (size_t i = 0; i < r->nacc; i++) {
        if (empty(&r->acc[i]))
            continue;
        rep->versions[rep->nversions++] = r->acc[i];
        kiln_deploy_vstats_init(&r->acc[i], r->acc[i].version);
    }
    return KILN_OK;
}

/* Frees what a report built here owns (its replica and boot strings are borrowed). */
static void report_release(struct kiln_deploy_report *rep)
{
    for (size_t i = 0; i < rep->nversions; i++)
        kiln_deploy_vstats_release(&rep->versions[i]);
    kiln_free(rep->versions);
    for (size_t i = 0; i < rep->npredictions; i++) {
        kiln_free(rep->predictions[i].id);
        kiln_free(rep->predictions[i].label);
    }
    kiln_free(rep->predictions);
    for (size_t i = 0; i < rep->drift.ncols; i++) {
        kiln_free(rep->drift.cols[i].name);
        kiln_free(rep->drift.cols[i].method);
    }
    kiln_free(rep->drift.cols);
    memset(rep, 0, sizeof(*rep));
}

/* Builds the next report into r->pending (what cannot be written is lost). */
static int build(struct replica *r, const struct rplan *plan)
{
    struct kiln_deploy_report rep;
    struct kiln_jsonw w;
    int64_t now = kiln_now_ms();
    int rc;

    memset(&rep, 0, sizeof(rep));
    rep.replica = r->id;
    rep.boot = r->boot;
    rep.seq = r->seq + 1;
    rep.generation = atomic_load(&r->generation);
    rep.interval_ms = r->last_report_ms > 0 ? now - r->last_report_ms : plan->report_interval_ms;
    rc = take_versions(r, &rep);
    if (rc == KILN_OK)
        rc = fb_take(&r->fb, &rep);
    if (rc == KILN_OK && r->mon != NULL)
        rc = monitor_tick(r->mon, plan, &rep);
    if (rc == KILN_OK) {
        pthread_mutex_lock(&r->gap_mu);
        rep.gap_ms = r->gap_ms;
        rep.gap_generation = r->gap_ms > 0 ? r->gap_generation : 0;
        r->gap_ms = 0;
        pthread_mutex_unlock(&r->gap_mu);
        kiln_buf_reset(&r->pending);
        kiln_jsonw_init(&w, &r->pending);
        kiln_deploy_report_write(&w, &rep);
        rc = kiln_jsonw_finish(&w);
        if (rc != KILN_OK) { /* the gap goes into the next report */
            pthread_mutex_lock(&r->gap_mu);
            if (rep.gap_ms > r->gap_ms)
                r->gap_ms = rep.gap_ms;
            pthread_mutex_unlock(&r->gap_mu);
        }
    }
    if (rc == KILN_OK) {
        r->seq = rep.seq;
        r->has_pending = 1;
        r->last_report_ms = now;
    }
    report_release(&rep);
    return rc;
}

void replica_report_tick(struct replica *r, struct kiln_http_client *c)
{
    struct rplan plan;
    enum post_result pr;

    replica_plan(r, &plan);
    drain_all(r);
    if (r->has_pending) {
        pr = post(r, c);
        if (pr == POST_RETRY)
            return;
        r->has_pending = 0;
    }
    if (build(r, &plan) != KILN_OK) {
        kiln_log_warn("deployment %s: out of memory building a report", r->deployment);
        return;
    }
    if (post(r, c) != POST_RETRY)
        r->has_pending = 0;
}

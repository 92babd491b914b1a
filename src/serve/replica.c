/*
 * replica.c - `kiln serve --deployment NAME`: the life of a replica that follows a deployment
 * (docs/deployments.md, "The plan, and what replicas send"; docs/serving.md, "--deployment").
 *
 *   prepare: GET .../plan (no wait) -> the model's name, the stable version -> the stable slot
 *            (srv->slots[0], loading models:/MODEL/STABLE at start) and the candidate slot
 *   start:   the plan thread and the report thread
 *   plan thread: loop GET .../plan?after=GEN&wait=S
 *            -> a new plan is published for routing at once (so a candidate weight of 0 holds
 *               from the very next request), then the versions it names are made current:
 *               a version already loaded in either slot is shared (a promoted candidate
 *               becomes stable without a reload), others are downloaded, loaded and warmed
 *               up in the background and swapped in (model.c); until then requests go to
 *               the versions already loaded. A plan without a candidate drops it.
 *   report thread: every report_interval_ms, rstats.c's report (with feedback and drift).
 *   stop:    both threads are woken (srv->stopping, srv->cv) and joined; one last report.
 *
 * Losing the control plane: requests keep being served by the last plan; the time without an
 * answer is exported (kiln_deploy_control_plane_up / _gap_seconds) and, once an answer
 * comes, reported as gap_ms with the plan generation served meanwhile.
 *
 * Threads: see replica_int.h. The plan copy is guarded by plan_mu; versions by their slots.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/id.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "http/client.h"
#include "serve/replica_int.h"

#define PLAN_WAIT_S 10
#define RETRY_MS 250

void replica_plan(struct replica *r, struct rplan *out)
{
    pthread_mutex_lock(&r->plan_mu);
    *out = r->plan;
    pthread_mutex_unlock(&r->plan_mu);
}

void replica_cp_note(struct replica *r, int ok)
{
    int64_t now = kiln_now_ms(), since;
    if (!ok) {
        since = 0;
        atomic_compare_exchange_strong(&r->down_since_ms, &since, now);
        return;
    }
    since = atomic_exchange(&r->down_since_ms, 0);
    if (since == 0)
        return;
    pthread_mutex_lock(&r->gap_mu);
    if (now - since > r->gap_ms) {
        r->gap_ms = now - since > 0 ? now - since : 1;
        r->gap_generation = atomic_load(&r->generation);
    }
    pthread_mutex_unlock(&r->gap_mu);
    kiln_log_info("deployment %s: the control plane answers again after %lld ms (served plan "
                  "%lld meanwhile)",
                  r->deployment, (long long)(now - since), (long long)atomic_load(&r->generation));
}

/* GET the plan; *got = 1 with *out filled when an answer came. */
static int fetch_plan(struct replica *r, struct kiln_http_client *c, int64_t after, int wait,
                      struct rplan *out, struct kiln_err *err)
{
    struct kiln_buf path, body;
    int status = 0, rc;

    kiln_buf_init(&path, 1024);
    kiln_buf_init(&body, (size_t)1 << 20);
    rc = kiln_buf_printf(&path, "/api/kiln/v1/deployments/%s/plan?after=%lld&wait=%d",
                         r->deployment, (long long)after, wait);
    if (rc == KILN_OK)
        rc = kiln_http_client_call(c, "GET", path.buf, NULL, NULL, 0, &status, &body, err);
    if (rc == KILN_OK && status == 404)
        rc = kiln_err_set(err, KILN_ENOENT, "no deployment '%s' on the control plane",
                          r->deployment);
    else if (rc == KILN_OK && status != 200)
        rc = kiln_err_set(err, KILN_EUNAVAIL, "the control plane answered %d: %.200s", status,
                          body.buf);
    if (rc == KILN_OK)
        rc = rplan_parse(body.buf, body.len, out, err);
    replica_cp_note(r, rc != KILN_EUNAVAIL && rc != KILN_ECANCELED);
    kiln_buf_release(&path);
    kiln_buf_release(&body);
    return rc;
}

static void publish_plan(struct replica *r, const struct rplan *p)
{
    double w = p->candidate != 0 && !p->shadow ? p->weight : 0;
    uint64_t bits;
    pthread_mutex_lock(&r->plan_mu);
    r->plan = *p;
    pthread_mutex_unlock(&r->plan_mu);
    atomic_store(&r->generation, p->generation);
    memcpy(&bits, &w, sizeof(bits));
    atomic_store(&r->weight_bits, bits);
}

static int64_t served_version(struct slot *sl)
{
    struct served *v = slot_acquire(sl);
    int64_t ver = v != NULL ? v->reg_version : 0;
    served_release(v);
    return ver;
}

/* Makes `version` current in `sl`: shared from `other` when loaded there, else loaded. */
static int ensure(struct replica *r, struct slot *sl, struct slot *other, int64_t version,
                  struct kiln_err *err)
{
    struct served *v;
    char uri[RP_NAME_MAX + 64];
    if (served_version(sl) == version)
        return KILN_OK;
    v = slot_acquire(other);
    if (v != NULL && v->reg_version == version) {
        slot_publish(sl, v); /* takes our reference */
        kiln_log_info("deployment %s: version %lld is now %s (already loaded)", r->deployment,
                      (long long)version, sl == r->stable ? "stable" : "the candidate");
        return KILN_OK;
    }
    served_release(v);
    snprintf(uri, sizeof(uri), "models:/%s/%lld", r->plan.model, (long long)version);
    return slot_load_uri(sl, uri, err);
}

/* Brings the slots in line with the plan; 1 when something failed (retried later). */
static int apply(struct replica *r, const struct rplan *p)
{
    struct kiln_err err = { 0 };
    int failed = 0;
    if (p->stable != 0 && ensure(r, r->stable, r->cand, p->stable, &err) != KILN_OK) {
        kiln_log_warn("deployment %s: cannot load stable version %lld (still serving %lld): %s",
                      r->deployment, (long long)p->stable, (long long)served_version(r->stable),
                      err.msg);
        failed = 1;
    }
    if (p->candidate == 0) {
        slot_clear(r->cand);
    } else if (ensure(r, r->cand, r->stable, p->candidate, &err) != KILN_OK) {
        kiln_log_warn("deployment %s: cannot load candidate version %lld (it gets no traffic "
                      "meanwhile): %s",
                      r->deployment, (long long)p->candidate, err.msg);
        failed = 1;
    }
    return failed;
}

static void log_plan(const struct replica *r, const struct rplan *p)
{
    if (p->candidate == 0)
        kiln_log_info("deployment %s: plan %lld: version %lld takes every request", r->deployment,
                      (long long)p->generation, (long long)p->stable);
    else if (p->shadow)
        kiln_log_info("deployment %s: plan %lld: version %lld answers, version %lld shadows",
                      r->deployment, (long long)p->generation, (long long)p->stable,
                      (long long)p->candidate);
    else
        kiln_log_info("deployment %s: plan %lld: version %lld takes %g%%, version %lld the rest",
                      r->deployment, (long long)p->generation, (long long)p->candidate, p->weight,
                      (long long)p->stable);
}

static void *plan_main(void *arg)
{
    struct replica *r = arg;
    struct kiln_serve *s = r->srv;
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int64_t retry_at = 0;
    int failing = 0, dirty = 1;

    if (kiln_http_client_new(s->tracking_uri, (PLAN_WAIT_S + 5) * 1000L, &c, &err) != KILN_OK) {
        kiln_log_error("deployment %s: cannot follow the plan: %s", r->deployment, err.msg);
        return NULL;
    }
    kiln_http_client_set_cancel(c, &s->stopping);
    while (!atomic_load(&s->stopping)) {
        struct rplan p, cur;
        int rc;
        replica_plan(r, &cur);
        if (dirty && kiln_mono_ns() / 1000000 >= retry_at) {
            dirty = apply(r, &cur);
            retry_at = kiln_mono_ns() / 1000000 + 2000;
        }
        rc = fetch_plan(r, c, cur.generation, dirty ? 2 : PLAN_WAIT_S, &p, &err);
        if (rc == KILN_ECANCELED || atomic_load(&s->stopping))
            break;
        if (rc != KILN_OK) {
            if (!failing)
                kiln_log_warn("deployment %s: cannot read the plan (serving plan %lld "
                              "meanwhile): %s",
                              r->deployment, (long long)cur.generation, err.msg);
            failing = 1;
            if (serve_nap(s, RETRY_MS))
                break;
            continue;
        }
        failing = 0;
        if (p.generation == cur.generation)
            continue;
        if (strcmp(p.model, cur.model) != 0) {
            kiln_log_error("deployment %s: the plan now names model '%s', this replica serves "
                           "'%s': restart it to follow the new model",
                           r->deployment, p.model, cur.model);
            if (serve_nap(s, 5000))
                break;
            continue;
        }
        publish_plan(r, &p); /* routing follows at once */
        log_plan(r, &p);
        dirty = apply(r, &p);
        retry_at = kiln_mono_ns() / 1000000 + 2000;
    }
    kiln_http_client_free(c);
    return NULL;
}

static void *report_main(void *arg)
{
    struct replica *r = arg;
    struct kiln_serve *s = r->srv;
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };

    if (kiln_http_client_new(s->tracking_uri, 5000, &c, &err) != KILN_OK) {
        kiln_log_error("deployment %s: cannot send reports: %s", r->deployment, err.msg);
        return NULL;
    }
    kiln_http_client_set_cancel(c, &s->stopping);
    for (;;) {
        struct rplan p;
        replica_plan(r, &p);
        if (serve_nap(s, p.report_interval_ms))
            break;
        replica_report_tick(r, c);
    }
    kiln_http_client_free(c);
    return NULL;
}

/* ---- gauges ---------------------------------------------------------------------------------- */

static double g_generation(void *ctx)
{
    struct replica *r = ctx;
    return (double)atomic_load(&r->generation);
}

static double g_weight(void *ctx)
{
    struct replica *r = ctx;
    uint64_t bits = atomic_load(&r->weight_bits);
    double w;
    memcpy(&w, &bits, sizeof(w));
    return w;
}

static double g_up(void *ctx)
{
    struct replica *r = ctx;
    return atomic_load(&r->down_since_ms) == 0;
}

static double g_gap(void *ctx)
{
    struct replica *r = ctx;
    int64_t since = atomic_load(&r->down_since_ms);
    return since == 0 ? 0.0 : (double)(kiln_now_ms() - since) / 1000.0;
}

int replica_metrics_init(struct kiln_serve *s, struct kiln_err *err)
{
    struct replica *r = s->rep;
    static const char *const labels[3] = { "model", "version", "role" };
    int rc;

    r->cand->inflight = r->stable->inflight;
    r->cand->swapped = r->stable->swapped;
    r->cand->unchanged = r->stable->unchanged;
    r->cand->failed = r->stable->failed;
    rc = kiln_metrics_family(s->metrics, KILN_METRIC_COUNTER, "kiln_deploy_requests_total",
                             "Scoring requests by model version and role (stable, candidate, "
                             "shadow).",
                             labels, 3, NULL, 0, &r->f_roles, err);
    if (rc == KILN_OK)
        rc = kiln_metrics_gauge_fn(s->metrics, "kiln_deploy_plan_generation",
                                   "The generation of the deployment plan being served.",
                                   g_generation, r, err);
    if (rc == KILN_OK)
        rc = kiln_metrics_gauge_fn(s->metrics, "kiln_deploy_candidate_weight",
                                   "The candidate's share of requests, percent.", g_weight, r, err);
    if (rc == KILN_OK)
        rc = kiln_metrics_gauge_fn(s->metrics, "kiln_deploy_control_plane_up",
                                   "1 while the control plane answers, else 0.", g_up, r, err);
    if (rc == KILN_OK)
        rc = kiln_metrics_gauge_fn(s->metrics, "kiln_deploy_control_plane_gap_seconds",
                                   "How long the control plane has not answered (0 when it "
                                   "does).",
                                   g_gap, r, err);
    if (rc == KILN_OK)
        rc = monitor_new(s, &r->mon, err);
    return rc;
}

/* ---- life cycle --------------------------------------------------------------------------- */

static int make_id(struct replica *r, const char *given, const char *host, int port)
{
    char buf[320], hn[256], boot[33];
    if (given != NULL) {
        r->id = kiln_strdup(given);
    } else {
        if (host == NULL || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            if (gethostname(hn, sizeof(hn)) != 0)
                snprintf(hn, sizeof(hn), "localhost");
            hn[sizeof(hn) - 1] = '\0';
            host = hn;
        }
        snprintf(buf, sizeof(buf), "%s:%d", host, port);
        r->id = kiln_strdup(buf);
    }
    if (kiln_uuid_hex(boot) != KILN_OK)
        snprintf(boot, sizeof(boot), "%llx", (unsigned long long)kiln_mono_ns());
    r->boot = kiln_strdup(boot);
    return r->id != NULL && r->boot != NULL ? KILN_OK : KILN_ENOMEM;
}

int replica_prepare(struct kiln_serve *s, struct kiln_err *err)
{
    struct replica *r = kiln_calloc(1, sizeof(*r));
    struct kiln_http_client *c = NULL;
    struct rplan p;
    char uri[RP_NAME_MAX + 64];
    int rc;

    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&r->plan_mu, NULL);
    pthread_mutex_init(&r->gap_mu, NULL);
    pthread_mutex_init(&r->st_mu, NULL);
    kiln_buf_init(&r->pending, (size_t)64 << 20);
    r->srv = s;
    s->rep = r;
    r->deployment = kiln_strdup(s->deployment);
    if (r->deployment == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_http_client_new(s->tracking_uri, 10000, &c, err);
    if (rc == KILN_OK)
        rc = fetch_plan(r, c, -1, 0, &p, err);
    kiln_http_client_free(c);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "deployment '%s': %s", s->deployment, err->msg);
    if (p.stable == 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "deployment '%s': model '%s' has no stable version yet (nothing to "
                            "serve)",
                            s->deployment, p.model);
    /* The stable version is loaded at start like any model; the candidate by the plan thread. */
    snprintf(uri, sizeof(uri), "models:/%s/%lld", p.model, (long long)p.stable);
    rc = kiln_serve_add_model(s, uri, p.model, err);
    if (rc != KILN_OK)
        return rc;
    r->stable = s->slots[0];
    r->stable->follow = 0;
    rc = slot_new(s, p.model, uri, &r->cand, err);
    if (rc == KILN_OK)
        rc = fb_init(&r->fb, (size_t)p.feedback_capacity);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "out of memory");
    publish_plan(r, &p);
    atomic_store(&r->rnd, (uint64_t)kiln_mono_ns());
    log_plan(r, &p);
    return KILN_OK;
}

int replica_start(struct kiln_serve *s, struct kiln_err *err)
{
    struct replica *r = s->rep;
    int e;
    if (make_id(r, s->replica_id, s->host, kiln_serve_port(s)) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    e = pthread_create(&r->plan_thread, NULL, plan_main, r);
    if (e == 0) {
        r->plan_started = 1;
        e = pthread_create(&r->report_thread, NULL, report_main, r);
        r->report_started = e == 0;
    }
    if (e != 0)
        return kiln_err_set(err, KILN_EIO, "cannot start the deployment threads: %s", strerror(e));
    kiln_log_info("deployment %s: replica %s following the plan (boot %s)", r->deployment, r->id,
                  r->boot);
    return KILN_OK;
}

void replica_stop(struct kiln_serve *s)
{
    struct replica *r = s->rep;
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int had = r->report_started;

    if (r->plan_started)
        pthread_join(r->plan_thread, NULL);
    if (r->report_started)
        pthread_join(r->report_thread, NULL);
    r->plan_started = r->report_started = 0;
    /* A last report, so the counts of the final seconds are not lost. */
    if (had && kiln_http_client_new(s->tracking_uri, 2000, &c, &err) == KILN_OK) {
        replica_report_tick(r, c);
        if (r->has_pending)
            replica_report_tick(r, c);
        kiln_http_client_free(c);
    }
}

void replica_free(struct replica *r)
{
    if (r == NULL)
        return;
    slot_free(r->cand);
    monitor_free(r->mon);
    fb_release(&r->fb);
    while (r->stats != NULL) {
        struct rstats *n = r->stats->next;
        kiln_free(r->stats);
        r->stats = n;
    }
    for (size_t i = 0; i < r->nacc; i++)
        kiln_deploy_vstats_release(&r->acc[i]);
    kiln_free(r->acc);
    kiln_buf_release(&r->pending);
    pthread_mutex_destroy(&r->plan_mu);
    pthread_mutex_destroy(&r->gap_mu);
    pthread_mutex_destroy(&r->st_mu);
    kiln_free(r->deployment);
    kiln_free(r->id);
    kiln_free(r->boot);
    kiln_free(r);
}

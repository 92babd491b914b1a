/*
 * rroute.c - scoring requests on a replica that follows a deployment (replica_int.h).
 *
 * Per request: copy the plan; take references to the stable and candidate versions; pick
 * the version that answers (the split of rplan.c, or the version an OIP path names); parse,
 * predict and answer; count the request for that version (latency, scores, confidence, rows)
 * and, for classifiers, remember its prediction under the request id for feedback. Then,
 * without changing the answer already written:
 *   - shadow plans: the candidate predicts the same request (its own parse, so a candidate
 *     whose inputs differ fails here) and is counted as role "shadow"; the two answers are
 *     compared row by row (the candidate's compared/agreed);
 *   - canary plans with `compare`: rows the candidate answered are also predicted by the
 *     stable version, for agreement (only the candidate's share of traffic pays for it).
 * Errors: a version's server-side failures (5xx) count as errors. A request the candidate
 * refuses (4xx) but the stable version accepts also counts as a candidate error (the
 * candidate cannot serve real traffic); requests every version refuses are the caller's
 * mistake and are not counted.
 *
 * Request ids: X-Request-ID from the request (at most FB_ID_MAX bytes), else generated
 * ("<boot>-<n>"); answers carry it back, with X-Kiln-Version naming the version that
 * answered. Predictions of requests that brought their own id are also sent to the control
 * plane (for labels posted there). A request of n > 1 rows records "ID#0" ... "ID#n-1".
 *
 * Threads: HTTP workers; lock-free except the feedback ring's mutex.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"
#include "runtime/runtime.h"
#include "serve/parse_int.h"
#include "serve/replica_int.h"

#define MAX_RECORDED_ROWS 1000

/* The score and confidence of row r (see docs/deployments.md, "Scores"). */
static void row_score(const struct served *v, const struct kiln_rt_out *o, size_t r, double *score,
                      double *conf)
{
    const struct kiln_serve_schema *sc = v->schema;
    size_t C = sc->n_classes;
    if (!sc->classifier) {
        *score = o->value[r * sc->n_values];
        *conf = NAN;
        return;
    }
    *conf = 0;
    for (size_t k = 0; k < C; k++)
        if (o->proba[r * C + k] > *conf)
            *conf = o->proba[r * C + k];
    *score = C == 2 ? o->proba[r * 2 + 1] : o->proba[r * C + (size_t)o->label[r]];
}

/* Counts the rows of an answer; t is the plan's confidence threshold. */
static void count_rows(const struct served *v, const struct scored *sc, double t)
{
    struct rstats *st = v->rs;
    uint64_t low = 0, nconf = 0;
    double csum = 0;
    atomic_fetch_add_explicit(&st->rows, sc->rows.n, memory_order_relaxed);
    for (size_t r = 0; r < sc->rows.n; r++) {
        double score, conf;
        row_score(v, &sc->o, r, &score, &conf);
        rhist_add(&st->scores, score);
        if (!isnan(conf)) {
            rhist_add(&st->confidence, conf);
            nconf++;
            csum += conf;
            low += conf < t;
        }
    }
    if (nconf > 0) {
        atomic_fetch_add_explicit(&st->conf_n, nconf, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->conf_low, low, memory_order_relaxed);
        ratomic_add_double(&st->conf_sum_bits, csum);
    }
}

static void count_request(struct served *v, enum rp_role role, int error, int64_t start_ns)
{
    struct rstats *st = v->rs;
    atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);
    if (error)
        atomic_fetch_add_explicit(&st->errors, 1, memory_order_relaxed);
    rhist_add(&st->latency_us, (double)(kiln_mono_ns() - start_ns) / 1000.0);
    kiln_metric_inc(st->role[role]);
}

/* Rows of a and b that agree: same class label text, or values within 1e-6 relative. */
static uint64_t agreeing(const struct served *a, const struct kiln_rt_out *oa,
                         const struct served *b, const struct kiln_rt_out *ob, size_t n)
{
    uint64_t same = 0;
    if (a->schema->classifier != b->schema->classifier)
        return 0;
    for (size_t r = 0; r < n; r++) {
        if (a->schema->classifier) {
            const struct kiln_rt_class *ca = kiln_rt_class(a->model, (size_t)oa->label[r]);
            const struct kiln_rt_class *cb = kiln_rt_class(b->model, (size_t)ob->label[r]);
            same += ca != NULL && cb != NULL && strcmp(ca->text, cb->text) == 0;
        } else {
            double x = oa->value[r * a->schema->n_values], y = ob->value[r * b->schema->n_values];
            double m = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
            same += fabs(x - y) <= 1e-6 * m || x == y;
        }
    }
    return same;
}

/* Remembers the predictions of a classifier's answer for feedback. */
static void record(struct replica *rep, const struct served *v, const struct scored *sc,
                   const char *id, int send)
{
    size_t n = sc->rows.n < MAX_RECORDED_ROWS ? sc->rows.n : MAX_RECORDED_ROWS;
    char rid[FB_ID_MAX + 16];
    if (!v->schema->classifier || rep->fb.cap == 0)
        return;
    for (size_t r = 0; r < n; r++) {
        const struct kiln_rt_class *c = kiln_rt_class(v->model, (size_t)sc->o.label[r]);
        int len = sc->rows.n == 1 ? snprintf(rid, sizeof(rid), "%s", id)
                                  : snprintf(rid, sizeof(rid), "%s#%zu", id, r);
        if (c != NULL && len > 0 && (size_t)len <= FB_ID_MAX)
            fb_record(&rep->fb, rid, (size_t)len, v->reg_version, c->text, send);
    }
}

/* The request id (the caller's, else a new one, in the arena); *given says which. */
static const char *request_id(struct replica *rep, struct kiln_http_req *req, int *given)
{
    const char *id = kiln_http_header(req, "X-Request-ID");
    size_t len = id != NULL ? strlen(id) : 0;
    *given = id != NULL && len > 0 && len <= FB_ID_MAX;
    if (*given)
        return kiln_arena_strdup(req->arena, id);
    return kiln_arena_printf(req->arena, "%.8s-%llu", rep->boot,
                             (unsigned long long)atomic_fetch_add(&rep->req_seq, 1) + 1);
}

/* The version pinned by an OIP path, or an error naming what is served. */
static int pinned(struct served *st, struct served *cd, const char *pin, struct served **out,
                  enum rp_role *role, struct kiln_err *err)
{
    if (strcmp(pin, st->version) == 0) {
        *out = st;
        *role = ROLE_STABLE;
        return KILN_OK;
    }
    if (cd != NULL && strcmp(pin, cd->version) == 0) {
        *out = cd;
        *role = ROLE_CANDIDATE;
        return KILN_OK;
    }
    return kiln_err_set(err, KILN_ENOENT,
                        "model '%s' version '%.32s' is not served (stable %s%s%s)", st->slot->name,
                        pin, st->version, cd != NULL ? ", candidate " : "",
                        cd != NULL ? cd->version : "");
}

/* The second run of a request (shadow copy or agreement check); never touches the answer. */
static void second(const struct rplan *plan, enum proto p, int csv, struct kiln_http_req *req,
                   struct served *primary, const struct scored *sc, struct served *other,
                   int shadow)
{
    struct kiln_err e = { 0 };
    struct scored sc2;
    int64_t t0 = kiln_mono_ns();
    int rc = serve_run(other, p, csv, req, &sc2, &e);
    struct served *cand = shadow ? other : primary;
    if (shadow) {
        count_request(other, ROLE_SHADOW, rc != KILN_OK, t0);
        if (rc == KILN_OK)
            count_rows(other, &sc2, plan->confidence_threshold);
    }
    if (rc != KILN_OK || sc2.rows.n != sc->rows.n)
        return;
    atomic_fetch_add_explicit(&cand->rs->compared, sc->rows.n, memory_order_relaxed);
    atomic_fetch_add_explicit(&cand->rs->agreed,
                              agreeing(primary, &sc->o, other, &sc2.o, sc->rows.n),
                              memory_order_relaxed);
}

int replica_score(struct kiln_serve *s, enum proto p, const char *pin, struct kiln_http_req *req,
                  struct kiln_http_resp *resp, struct kiln_err *err)
{
    struct replica *rep = s->rep;
    struct served *st, *cd, *v, *other = NULL;
    struct rplan plan;
    enum rp_role role = ROLE_STABLE;
    struct scored sc;
    const char *id;
    int csv = 0, given = 0, rc, shadow = 0;

    if (p == P_MLFLOW && serve_media_type(req, resp, &csv))
        return KILN_OK;
    replica_plan(rep, &plan);
    st = slot_acquire(rep->stable);
    if (st == NULL)
        return kiln_err_set(err, KILN_EUNAVAIL, "model '%s' is not loaded yet", plan.model);
    cd = slot_acquire(rep->cand);
    if (cd != NULL && (plan.candidate == 0 || cd->reg_version != plan.candidate)) {
        served_release(cd); /* not (or no longer) the plan's candidate */
        cd = NULL;
    }
    v = st;
    if (pin != NULL) {
        rc = pinned(st, cd, pin, &v, &role, err);
        if (rc != KILN_OK)
            goto out;
    } else if (cd != NULL && plan.shadow) {
        other = cd;
        shadow = 1;
    } else if (cd != NULL) {
        const char *key = plan.sticky_key[0] ? kiln_http_header(req, plan.sticky_key) : NULL;
        uint64_t rnd = rplan_mix(atomic_fetch_add_explicit(&rep->rnd, 1, memory_order_relaxed));
        if (rplan_to_candidate(&plan, key, key != NULL ? strlen(key) : 0, rnd)) {
            v = cd;
            role = ROLE_CANDIDATE;
            if (plan.compare)
                other = st;
        }
    }
    kiln_metric_add(rep->stable->inflight, 1);
    rc = serve_run(v, p, csv, req, &sc, err);
    if (rc == KILN_OK)
        rc = serve_answer(v, p, &sc, resp, err);
    served_count(v, p, rc == KILN_OK ? resp->status : kiln_rc_http(rc), req->start_ns);
    if (rc == KILN_OK) {
        count_request(v, role, 0, req->start_ns);
        count_rows(v, &sc, plan.confidence_threshold);
        monitor_rows(rep->mon, v, sc.rows.x, sc.rows.n);
        id = request_id(rep, req, &given);
        if (id != NULL) {
            record(rep, v, &sc, id, given);
            kiln_http_resp_header(resp, "X-Request-ID", id);
        }
        kiln_http_resp_header(resp, "X-Kiln-Version", kiln_arena_strdup(req->arena, v->version));
        if (other != NULL)
            second(&plan, p, csv, req, v, &sc, other, shadow);
    } else if (kiln_rc_http(rc) >= 500) {
        count_request(v, role, 1, req->start_ns);
    } else if (v != st && kiln_rc_http(rc) != 415) {
        /* The candidate refused the request: an error when the stable version takes it. */
        struct kiln_err e = { 0 };
        struct scored chk;
        if (serve_run(st, p, csv, req, &chk, &e) == KILN_OK)
            count_request(v, role, 1, req->start_ns);
    }
    kiln_metric_add(rep->stable->inflight, -1);
out:
    served_release(cd);
    served_release(st);
    return rc;
}

int replica_h_feedback(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                       struct kiln_err *err)
{
    struct kiln_serve *s = app;
    struct replica *rep = s->rep;
    struct kiln_jsonw w;
    size_t matched = 0, unmatched = 0;
    int rc = fb_apply(&rep->fb, req->body.buf, req->body.len, &matched, &unmatched, err);
    if (rc != KILN_OK)
        return rc;
    if (matched > 0 && rep->mon != NULL)
        monitor_feedback(rep->mon, &rep->fb);
    kiln_jsonw_init(&w, &resp->body);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "matched", (int64_t)matched);
    kiln_jsonw_kv_int(&w, "unmatched", (int64_t)unmatched);
    kiln_jsonw_obj_end(&w);
    rc = kiln_jsonw_finish(&w);
    return rc == KILN_OK ? KILN_OK : kiln_err_set(err, rc, "cannot write the response");
}

/*
 * state.c - the controller object (struct kiln_deploy, deploy_int.h): lifecycle, deployment
 * objects, the plan replicas follow and the parked plan polls.
 *
 * Lifecycle: kiln_deploy_new (loads state from the store) -> kiln_deploy_start (thread) ->
 * kiln_deploy_stop (thread joined, rollouts checkpointed, polls answered) -> kiln_deploy_free.
 *
 * The plan is recomputed from the deployment's state by dp_publish, which also bumps its
 * generation, stores it (so a restart serves the same plan under the same number) and resumes
 * parked polls, which then answer with it. Everything here runs with `mu` held unless said
 * otherwise.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "deploy/deploy_int.h"
#include "http/http.h"

struct dp_dep *dp_find(struct kiln_deploy *d, const char *name)
{
    for (struct dp_dep *dep = d->deps; dep != NULL; dep = dep->next)
        if (strcmp(dep->name, name) == 0)
            return dep;
    return NULL;
}

void dp_kick(struct kiln_deploy *d)
{
    pthread_mutex_lock(&d->kick_mu);
    d->kicked = 1;
    pthread_cond_signal(&d->kick_cond);
    pthread_mutex_unlock(&d->kick_mu);
}

void dp_rollout_free(struct dp_rollout *ro)
{
    if (ro == NULL)
        return;
    kiln_deploy_vstats_release(&ro->step_stable);
    kiln_deploy_vstats_release(&ro->step_cand);
    kiln_deploy_vstats_release(&ro->total_stable);
    kiln_deploy_vstats_release(&ro->total_cand);
    kiln_free(ro->last_analysis);
    kiln_free(ro);
}

static void replicas_free(struct dp_replica *r)
{
    while (r != NULL) {
        struct dp_replica *next = r->next;
        kiln_free(r->name);
        kiln_free(r->boot);
        kiln_free(r->drift_columns);
        kiln_free(r);
        r = next;
    }
}

void dp_dep_free(struct dp_dep *dep)
{
    if (dep == NULL)
        return;
    dp_rollout_free(dep->ro);
    replicas_free(dep->replicas);
    for (size_t i = 0; i < dep->nring; i++)
        kiln_deploy_vstats_release(&dep->ring[i].all);
    kiln_free(dep->ring);
    kiln_free(dep->alerts);
    dp_fb_release(&dep->preds);
    dp_fb_release(&dep->pending);
    kiln_free(dep->plan_json);
    kiln_free(dep->name);
    kiln_arena_free(dep->arena);
    kiln_free(dep);
}

/* Buckets enough for the longest alert window (at least a minute), plus the current one. */
static size_t ring_size(const struct kiln_deploy_spec *spec)
{
    int64_t longest = 60000;
    for (size_t i = 0; i < spec->nalerts; i++)
        if (spec->alerts[i].window_ms > longest)
            longest = spec->alerts[i].window_ms;
    return (size_t)((longest + DP_BUCKET_MS - 1) / DP_BUCKET_MS) + 1;
}

int dp_dep_new(struct kiln_arena *arena, struct kiln_deploy_spec *spec, struct dp_dep **out)
{
    struct dp_dep *dep = kiln_calloc(1, sizeof(*dep));
    size_t cap = (size_t)spec->feedback_capacity;
    if (dep == NULL)
        return KILN_ENOMEM;
    dep->arena = arena;
    dep->spec = spec;
    dep->name = kiln_strdup(spec->name);
    dep->nring = ring_size(spec);
    dep->ring = kiln_calloc(dep->nring, sizeof(*dep->ring));
    dep->alerts = kiln_calloc(spec->nalerts + 1, sizeof(*dep->alerts));
    if (dep->name == NULL || dep->ring == NULL || dep->alerts == NULL ||
        dp_fb_init(&dep->preds, cap) != KILN_OK ||
        dp_fb_init(&dep->pending, cap < 10000 ? cap : 10000) != KILN_OK) {
        dep->arena = NULL;
        dp_dep_free(dep);
        return KILN_ENOMEM;
    }
    for (size_t i = 0; i < dep->nring; i++)
        kiln_deploy_vstats_init(&dep->ring[i].all, 0);
    dep->created_ms = dep->updated_ms = kiln_now_ms();
    *out = dep;
    return KILN_OK;
}

/* ---- the plan ------------------------------------------------------------------------------ */

static void version_obj(struct kiln_jsonw *w, const char *model, int64_t v)
{
    char uri[1100];
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "version", v);
    snprintf(uri, sizeof(uri), "models:/%s/%lld", model, (long long)v);
    kiln_jsonw_kv_str(w, "uri", uri);
}

int dp_render_plan(struct dp_dep *dep, struct kiln_buf *out)
{
    const struct kiln_deploy_spec *s = dep->spec;
    struct kiln_jsonw w;
    int compare = s->checks[KILN_DM_AGREEMENT].enabled || dep->plan_shadow;
    kiln_jsonw_init(&w, out);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "deployment", dep->name);
    kiln_jsonw_kv_str(&w, "model", s->model);
    kiln_jsonw_kv_int(&w, "generation", dep->generation);
    kiln_jsonw_kv_str(&w, "mode",
                      dep->plan_candidate == 0 ? "stable"
                      : dep->plan_shadow       ? "shadow"
                                               : "canary");
    kiln_jsonw_key(&w, "stable");
    if (dep->plan_stable > 0) {
        version_obj(&w, s->model, dep->plan_stable);
        kiln_jsonw_obj_end(&w);
    } else {
        kiln_jsonw_null(&w);
    }
    kiln_jsonw_key(&w, "candidate");
    if (dep->plan_candidate > 0) {
        version_obj(&w, s->model, dep->plan_candidate);
        kiln_jsonw_kv_double(&w, "weight", dep->plan_weight);
        kiln_jsonw_kv_bool(&w, "shadow", dep->plan_shadow);
        kiln_jsonw_obj_end(&w);
    } else {
        kiln_jsonw_null(&w);
    }
    kiln_jsonw_key(&w, "sticky_key");
    if (s->sticky_key != NULL)
        kiln_jsonw_str(&w, s->sticky_key);
    else
        kiln_jsonw_null(&w);
    kiln_jsonw_kv_bool(&w, "compare", dep->plan_candidate > 0 && compare);
    kiln_jsonw_kv_int(&w, "report_interval_ms", s->report_interval_ms);
    kiln_jsonw_kv_double(&w, "confidence_threshold", s->confidence_threshold);
    kiln_jsonw_kv_int(&w, "drift_window_rows", s->drift_window_rows);
    kiln_jsonw_kv_int(&w, "drift_window_ms", s->drift_window_ms);
    kiln_jsonw_kv_int(&w, "feedback_capacity", s->feedback_capacity);
    kiln_jsonw_key(&w, "rollout");
    if (dep->ro != NULL) {
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_int(&w, "id", dep->ro->id);
        kiln_jsonw_kv_int(&w, "step", (int64_t)dep->ro->step);
        kiln_jsonw_kv_int(&w, "steps", (int64_t)s->nsteps);
        kiln_jsonw_obj_end(&w);
    } else {
        kiln_jsonw_null(&w);
    }
    kiln_jsonw_kv_int(&w, "time", kiln_now_ms());
    kiln_jsonw_obj_end(&w);
    return kiln_jsonw_finish(&w);
}

void dp_wake_watches(struct kiln_deploy *d, struct dp_dep *dep, int all, int64_t now_mono_ms)
{
    struct dp_watch **pp = &dep->watches;
    pthread_cond_broadcast(&d->plan_cond); /* blocking polls check for themselves */
    while (*pp != NULL) {
        struct dp_watch *wt = *pp;
        if (all || dep->generation > wt->after || now_mono_ms >= wt->deadline_ms) {
            *pp = wt->next;
            kiln_http_resume(wt->req); /* wt lives in the request's arena: not touched again */
        } else {
            pp = &wt->next;
        }
    }
}

struct publish_ctx {
    const struct dp_dep *dep;
    const char *plan;
    int64_t generation;
    kiln_store_work_fn extra;
    void *extra_ctx;
};

static int publish_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    struct publish_ctx *p = arg;
    struct kiln_stmt *st;
    int rc =
        kiln_tx_prepare(tx,
                        "UPDATE deployments SET generation = ?, plan = ?, ended_candidate = ?, "
                        "ended_move_id = ?, updated_time = ? WHERE name = ?",
                        &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_int64(st, 1, p->generation);
    kiln_stmt_bind_text(st, 2, p->plan);
    kiln_stmt_bind_int64(st, 3, p->dep->ended_candidate);
    kiln_stmt_bind_int64(st, 4, p->dep->ended_move_id);
    kiln_stmt_bind_int64(st, 5, kiln_now_ms());
    kiln_stmt_bind_text(st, 6, p->dep->name);
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    return p->extra != NULL ? p->extra(tx, p->extra_ctx, err) : KILN_OK;
}

int dp_publish(struct kiln_deploy *d, struct dp_dep *dep, kiln_store_work_fn extra, void *ctx,
               struct kiln_err *err)
{
    struct kiln_buf b;
    struct publish_ctx p;
    int64_t old_gen = dep->generation, old_s = dep->plan_stable, old_c = dep->plan_candidate;
    double old_w = dep->plan_weight;
    int old_sh = dep->plan_shadow, rc;

    if (dep->ro != NULL) {
        const struct kiln_deploy_step *st = &dep->spec->steps[dep->ro->step];
        dep->plan_stable = dep->ro->stable;
        dep->plan_candidate = dep->ro->candidate;
        dep->plan_weight = st->shadow ? 0 : st->weight;
        dep->plan_shadow = st->shadow;
    } else {
        dep->plan_stable = dep->env_stable;
        dep->plan_candidate = 0;
        dep->plan_weight = 0;
        dep->plan_shadow = 0;
    }
    dep->generation++;
    kiln_buf_init(&b, KILN_BUF_MB);
    rc = dp_render_plan(dep, &b);
    if (rc == KILN_OK) {
        p.dep = dep;
        p.plan = b.buf;
        p.generation = dep->generation;
        p.extra = extra;
        p.extra_ctx = ctx;
        rc = kiln_store_write(d->cfg.store, publish_work, &p, err);
    } else {
        kiln_err_set(err, rc, "cannot render the plan of '%s'", dep->name);
    }
    if (rc != KILN_OK) {
        dep->generation = old_gen;
        dep->plan_stable = old_s;
        dep->plan_candidate = old_c;
        dep->plan_weight = old_w;
        dep->plan_shadow = old_sh;
        kiln_buf_release(&b);
        return rc;
    }
    kiln_free(dep->plan_json);
    dep->plan_json = kiln_buf_detach(&b, NULL);
    kiln_buf_release(&b);
    dp_wake_watches(d, dep, 0, kiln_mono_ns() / 1000000);
    kiln_log_info("deployment %s: plan %lld: stable v%lld%s", dep->name, (long long)dep->generation,
                  (long long)dep->plan_stable,
                  dep->plan_candidate == 0 ? ", no candidate"
                  : dep->plan_shadow       ? ", candidate shadowed"
                                           : ", candidate weighted");
    return KILN_OK;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int kiln_deploy_new(const struct kiln_deploy_config *cfg, struct kiln_deploy **out,
                    struct kiln_err *err)
{
    struct kiln_deploy *d = kiln_calloc(1, sizeof(*d));
    int rc;
    *out = NULL;
    if (d == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    d->cfg = *cfg;
    if (d->cfg.tick_ms <= 0)
        d->cfg.tick_ms = 100;
    d->user = kiln_strdup(cfg->user != NULL ? cfg->user : "kiln-deploy");
    d->cfg.user = d->user;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->kick_mu, NULL);
    pthread_cond_init(&d->kick_cond, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->plan_cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (d->user == NULL) {
        kiln_deploy_free(d);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&d->mu);
    rc = dp_store_load(d, err);
    pthread_mutex_unlock(&d->mu);
    if (rc != KILN_OK) {
        kiln_deploy_free(d);
        return rc;
    }
    *out = d;
    return KILN_OK;
}

void kiln_deploy_stop(struct kiln_deploy *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->kick_mu);
    d->stopping = 1;
    pthread_cond_broadcast(&d->kick_cond);
    pthread_mutex_unlock(&d->kick_mu);
    if (d->started) {
        pthread_join(d->thread, NULL);
        d->started = 0;
    }
    pthread_mutex_lock(&d->mu);
    d->closed = 1;
    for (struct dp_dep *dep = d->deps; dep != NULL; dep = dep->next) {
        struct kiln_err err = { 0 };
        if (dep->ro != NULL && dp_store_checkpoint(d, dep, &err) != KILN_OK)
            kiln_log_warn("deployment %s: cannot checkpoint the rollout: %s", dep->name, err.msg);
        dp_wake_watches(d, dep, 1, 0);
    }
    pthread_mutex_unlock(&d->mu);
}

void kiln_deploy_free(struct kiln_deploy *d)
{
    if (d == NULL)
        return;
    kiln_deploy_stop(d);
    while (d->deps != NULL) {
        struct dp_dep *next = d->deps->next;
        dp_dep_free(d->deps);
        d->deps = next;
    }
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->kick_mu);
    pthread_cond_destroy(&d->kick_cond);
    pthread_cond_destroy(&d->plan_cond);
    kiln_free(d->user);
    kiln_free(d);
}

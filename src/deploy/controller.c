/*
 * controller.c - the deployment controller: the thread of `kiln server` that follows the
 * registry's environments, starts rollouts, runs the analysis every interval, advances steps,
 * promotes, and rolls back.
 *
 * Each tick (cfg.tick_ms, or at once when kicked) takes `mu` and reconciles every deployment:
 *
 *   no rollout:   the candidate alias points at a version C other than the stable S (and that
 *                 move is not the one a finished rollout was about) -> start a rollout of C;
 *                 otherwise keep the plan on S.
 *   rollout:      S became C (promoted by hand) -> ended "promoted"; S or C moved elsewhere ->
 *                 "superseded"; else, every analysis interval: analyze the step's data ->
 *                 fail: count a failed check, roll back past failure_limit;
 *                 step held long enough with enough requests -> pass: next step or promote;
 *                 inconclusive: wait (or roll back with `inconclusive: fail` or after
 *                 inconclusive_timeout).
 *
 * Rolling back publishes the plan without the candidate first (one store write, then parked
 * plan polls are answered: replicas move traffic at once), then moves the candidate alias back
 * to the stable version through the registry, then emits deployment.rolled_back. Each of those
 * instants is recorded in the rollout row (failed_check_time, traffic_off_time, alias_time).
 * Every decision is an event in the registry's log (and so goes to webhooks).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "deploy/deploy_int.h"
#include "registry/registry.h"

/* ---- events ---------------------------------------------------------------------------------- */

static void emit(struct kiln_deploy *d, struct dp_dep *dep, const char *type, int64_t version,
                 const char *alias, const char *user, void (*body)(struct kiln_jsonw *, void *),
                 void *arg)
{
    struct kiln_buf b;
    struct kiln_jsonw w;
    struct kiln_err err = { 0 };
    kiln_buf_init(&b, (size_t)16 << 20);
    kiln_jsonw_init(&w, &b);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "deployment", dep->name);
    if (dep->ro != NULL) {
        kiln_jsonw_kv_int(&w, "rollout", dep->ro->id);
        kiln_jsonw_kv_int(&w, "stable_version", dep->ro->stable);
        kiln_jsonw_kv_int(&w, "candidate_version", dep->ro->candidate);
        kiln_jsonw_kv_int(&w, "step", (int64_t)dep->ro->step);
    }
    if (body != NULL)
        body(&w, arg);
    kiln_jsonw_obj_end(&w);
    if (kiln_jsonw_finish(&w) != KILN_OK ||
        kiln_registry_emit(d->cfg.registry, type, dep->spec->model, version, alias,
                           user != NULL ? user : d->user, b.buf, NULL, &err) != KILN_OK)
        kiln_log_error("deployment %s: cannot record event %s: %s", dep->name, type,
                       err.msg[0] != '\0' ? err.msg : "out of memory");
    kiln_buf_release(&b);
}

struct why {
    const char *reason;
    const char *analysis; /* JSON or NULL */
    int64_t t1, t2, t3;   /* failed check, traffic off, alias moved */
    const char *alias_error;
    double weight;
};

static void why_body(struct kiln_jsonw *w, void *arg)
{
    const struct why *y = arg;
    if (y->reason != NULL)
        kiln_jsonw_kv_str(w, "reason", y->reason);
    if (!isnan(y->weight))
        kiln_jsonw_kv_double(w, "weight", y->weight);
    if (y->t1 > 0)
        kiln_jsonw_kv_int(w, "failed_check_time", y->t1);
    if (y->t2 > 0)
        kiln_jsonw_kv_int(w, "traffic_off_time", y->t2);
    if (y->t3 > 0)
        kiln_jsonw_kv_int(w, "alias_time", y->t3);
    if (y->alias_error != NULL)
        kiln_jsonw_kv_str(w, "alias_error", y->alias_error);
    if (y->analysis != NULL) {
        kiln_jsonw_key(w, "analysis");
        kiln_jsonw_raw(w, y->analysis, strlen(y->analysis));
    }
}

/* ---- the registry's view --------------------------------------------------------------------- */

/* The version an alias points at (0 when unset). KILN_ENOENT for an unknown model. */
static int alias_version(struct kiln_deploy *d, struct kiln_arena *arena, const char *model,
                         const char *alias, int64_t *out, struct kiln_err *err)
{
    struct kiln_model_version *v;
    int rc = kiln_alias_get(d->cfg.registry, arena, model, alias, &v, err);
    *out = 0;
    if (rc == KILN_OK)
        *out = v->version;
    else if (rc == KILN_EINVAL)
        rc = KILN_OK; /* no such alias */
    return rc;
}

/* Id of the newest history record of `alias` (0 when none). */
static int64_t last_move(struct kiln_deploy *d, struct kiln_arena *arena, const char *model,
                         const char *alias)
{
    struct kiln_alias_move *m;
    size_t n = 0;
    if (kiln_history(d->cfg.registry, arena, model, alias, 1, &m, &n, NULL) != KILN_OK || n == 0)
        return 0;
    return m[0].id;
}

/* ---- ending a rollout -------------------------------------------------------------------------
 */

struct end_ctx {
    const struct dp_dep *dep;
    const struct dp_rollout *ro;
    const char *state, *reason, *user;
    int64_t failed_check_ms, traffic_off_ms;
};

static int end_work(struct kiln_tx *tx, void *arg, struct kiln_err *err)
{
    struct end_ctx *p = arg;
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, (size_t)64 << 20);
    rc = dp_stats_json(p->ro, &b);
    if (rc == KILN_OK)
        rc = dp_exec(tx, err,
                     "UPDATE deploy_rollouts SET state = ?, end_time = ?, reason = ?, "
                     "failed_check_time = ?, traffic_off_time = ?, user_id = ?, step = ?, "
                     "failed_checks = ?, stats = ?, last_analysis = ? WHERE rollout_id = ?",
                     "titIItiitti", p->state, p->traffic_off_ms, p->reason, p->failed_check_ms,
                     p->traffic_off_ms, p->user, (int64_t)p->ro->step,
                     (int64_t)p->ro->failed_checks, b.buf, p->ro->last_analysis, p->ro->id);
    else
        rc = kiln_err_set(err, rc, "cannot write the statistics");
    kiln_buf_release(&b);
    return rc;
}

/* Ends the rollout in the store and publishes the plan without it, in one transaction. */
static int end_rollout(struct kiln_deploy *d, struct dp_dep *dep, const char *state,
                       const char *reason, int64_t failed_check_ms, const char *user,
                       int64_t *traffic_off_ms, struct kiln_err *err)
{
    struct dp_rollout *ro = dep->ro;
    struct end_ctx p;
    int rc;
    p.dep = dep;
    p.ro = ro;
    p.state = state;
    p.reason = reason;
    p.user = user != NULL ? user : d->user;
    p.failed_check_ms = failed_check_ms;
    p.traffic_off_ms = kiln_now_ms();
    dep->ro = NULL;
    dep->ended_candidate = ro->candidate;
    rc = dp_publish(d, dep, end_work, &p, err);
    if (rc != KILN_OK) {
        dep->ro = ro;
        return rc;
    }
    *traffic_off_ms = p.traffic_off_ms;
    dep->ro = ro; /* kept for the caller's events; freed by finish() */
    return KILN_OK;
}

static void finish(struct dp_dep *dep)
{
    dp_rollout_free(dep->ro);
    dep->ro = NULL;
}

static int set_alias_result(struct kiln_deploy *d, int64_t rollout, int64_t t, const char *error)
{
    struct kiln_tx *tx;
    struct kiln_err err = { 0 };
    int rc = kiln_store_begin(d->cfg.store, KILN_TX_WRITE, &tx, &err);
    if (rc == KILN_OK)
        rc = dp_exec(tx, &err,
                     "UPDATE deploy_rollouts SET alias_time = ?, alias_error = ? WHERE rollout_id "
                     "= ?",
                     "iti", t, error, rollout);
    if (rc == KILN_OK)
        rc = kiln_store_commit(tx, &err);
    else
        kiln_store_rollback(tx);
    return rc;
}

int dp_rollback(struct kiln_deploy *d, struct dp_dep *dep, const char *state, const char *reason,
                const char *analysis, int64_t failed_check_ms, const char *user,
                struct kiln_err *err)
{
    struct kiln_arena *arena;
    struct kiln_promotion pr;
    struct kiln_err aerr = { 0 };
    struct why y = { reason, analysis, failed_check_ms, 0, 0, NULL, NAN };
    const char *env = dep->spec->candidate_env;
    int64_t off = 0, cand, stable;
    int rc;

    if (dep->ro == NULL)
        return kiln_err_set(err, KILN_ESTATE, "deployment '%s' has no rollout in progress",
                            dep->name);
    cand = dep->ro->candidate;
    stable = dep->ro->stable;
    rc = end_rollout(d, dep, state, reason, failed_check_ms, user, &off, err);
    if (rc != KILN_OK)
        return rc;
    y.t2 = off;
    kiln_log_warn("deployment %s: rollout %lld %s: candidate v%lld off traffic (%s)", dep->name,
                  (long long)dep->ro->id, state, (long long)cand, reason);
    /* Move the candidate alias back to the stable version. */
    arena = kiln_arena_new(0);
    rc = arena == NULL ? KILN_ENOMEM
                       : kiln_rollback(d->cfg.registry, arena, dep->spec->model, env, stable,
                                       reason, user != NULL ? user : d->user, cand, &pr, &aerr);
    if (rc == KILN_EINVAL && strstr(aerr.msg, "is not an environment") != NULL) {
        kiln_err_clear(&aerr);
        rc = kiln_alias_set(d->cfg.registry, dep->spec->model, env, stable,
                            user != NULL ? user : d->user, &aerr);
    }
    kiln_arena_free(arena);
    y.t3 = kiln_now_ms();
    if (rc != KILN_OK) {
        y.alias_error = aerr.msg[0] != '\0' ? aerr.msg : kiln_strerror(rc);
        kiln_log_error("deployment %s: cannot move '%s' back to v%lld: %s", dep->name, env,
                       (long long)stable, y.alias_error);
    }
    set_alias_result(d, dep->ro->id, y.t3, y.alias_error);
    arena = kiln_arena_new(0);
    if (arena != NULL) {
        dep->ended_move_id = last_move(d, arena, dep->spec->model, env);
        kiln_arena_free(arena);
    }
    emit(d, dep, strcmp(state, "aborted") == 0 ? KILN_EV_DEPLOY_ENDED : KILN_EV_DEPLOY_ROLLED_BACK,
         cand, env, user, why_body, &y);
    finish(dep);
    /* Persist ended_move_id (the plan is unchanged, so no new generation is needed). */
    dp_store_put_deployment(d, dep, 0, NULL);
    return KILN_OK;
}

int dp_promote(struct kiln_deploy *d, struct dp_dep *dep, const char *reason, const char *user,
               struct kiln_err *err)
{
    struct kiln_arena *arena;
    struct kiln_promotion pr;
    struct kiln_err perr = { 0 };
    struct why y = { reason, NULL, 0, 0, 0, NULL, NAN };
    int64_t off = 0, cand;
    char why_refused[400];
    int rc;

    if (dep->ro == NULL)
        return kiln_err_set(err, KILN_ESTATE, "deployment '%s' has no rollout in progress",
                            dep->name);
    cand = dep->ro->candidate;
    arena = kiln_arena_new(0);
    if (arena == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_promote(d->cfg.registry, arena, dep->spec->model, cand, dep->spec->stable_env, reason,
                      user != NULL ? user : d->user, dep->ro->stable, &pr, &perr);
    kiln_arena_free(arena);
    if (rc == KILN_ECHECK) {
        /* The stable environment's gates refused: the candidate does not go further. */
        snprintf(why_refused, sizeof(why_refused), "promotion to '%s' refused: %s",
                 dep->spec->stable_env, perr.msg);
        dp_rollback(d, dep, "rolled_back", why_refused, NULL, kiln_now_ms(), user, err);
        return kiln_err_set(err, KILN_ECHECK, "%s", why_refused);
    }
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "cannot promote v%lld to '%s': %s", (long long)cand,
                            dep->spec->stable_env, perr.msg);
    dep->env_stable = cand;
    rc = end_rollout(d, dep, "promoted", reason, 0, user, &off, err);
    if (rc != KILN_OK)
        return rc;
    y.t2 = off;
    kiln_log_info("deployment %s: v%lld promoted to '%s' (%s)", dep->name, (long long)cand,
                  dep->spec->stable_env, reason);
    emit(d, dep, KILN_EV_DEPLOY_PROMOTED, cand, dep->spec->stable_env, user, why_body, &y);
    finish(dep);
    return KILN_OK;
}

/* ---- starting and advancing --------------------------------------------------------------------
 */

static void start_rollout(struct kiln_deploy *d, struct dp_dep *dep, int64_t now)
{
    struct dp_rollout *ro = kiln_calloc(1, sizeof(*ro));
    struct kiln_err err = { 0 };
    struct why y = { NULL, NULL, 0, 0, 0, NULL, NAN };
    if (ro == NULL)
        return;
    ro->stable = dep->env_stable;
    ro->candidate = dep->env_candidate;
    ro->start_ms = ro->step_start_ms = ro->last_check_ms = now;
    kiln_deploy_vstats_init(&ro->step_stable, ro->stable);
    kiln_deploy_vstats_init(&ro->step_cand, ro->candidate);
    kiln_deploy_vstats_init(&ro->total_stable, ro->stable);
    kiln_deploy_vstats_init(&ro->total_cand, ro->candidate);
    if (dp_store_insert_rollout(d, dep, ro, &err) != KILN_OK) {
        kiln_log_error("deployment %s: cannot start a rollout: %s", dep->name, err.msg);
        dp_rollout_free(ro);
        return;
    }
    dep->ro = ro;
    if (dp_publish(d, dep, NULL, NULL, &err) != KILN_OK)
        kiln_log_error("deployment %s: cannot publish the plan: %s", dep->name, err.msg);
    kiln_log_info("deployment %s: rollout %lld of v%lld against v%lld started (%s, %zu steps)",
                  dep->name, (long long)ro->id, (long long)ro->candidate, (long long)ro->stable,
                  dep->spec->strategy, dep->spec->nsteps);
    y.weight = dep->plan_weight;
    emit(d, dep, KILN_EV_DEPLOY_STARTED, ro->candidate, dep->spec->candidate_env, NULL, why_body,
         &y);
}

static void advance(struct kiln_deploy *d, struct dp_dep *dep, int64_t now)
{
    struct dp_rollout *ro = dep->ro;
    struct kiln_err err = { 0 };
    struct why y = { NULL, ro->last_analysis, 0, 0, 0, NULL, NAN };
    struct dp_ro_ctx ctx = { dep, ro };
    size_t old = ro->step;
    ro->step++;
    ro->step_start_ms = now;
    ro->failed_checks = 0;
    kiln_deploy_vstats_reset(&ro->step_stable);
    kiln_deploy_vstats_reset(&ro->step_cand);
    if (dp_publish(d, dep, dp_checkpoint_work, &ctx, &err) != KILN_OK) {
        kiln_log_error("deployment %s: cannot advance: %s", dep->name, err.msg);
        ro->step = old;
        return;
    }
    y.weight = dep->plan_weight;
    kiln_log_info("deployment %s: rollout %lld: step %zu passed, step %zu of %zu (%s)", dep->name,
                  (long long)ro->id, old + 1, ro->step + 1, dep->spec->nsteps,
                  dep->plan_shadow ? "shadow" : "canary");
    emit(d, dep, KILN_EV_DEPLOY_STEP, ro->candidate, dep->spec->candidate_env, NULL, why_body, &y);
}

/* Runs one analysis of the current step and acts on it. */
static void check(struct kiln_deploy *d, struct dp_dep *dep, int64_t now)
{
    struct dp_rollout *ro = dep->ro;
    const struct kiln_deploy_spec *s = dep->spec;
    const struct kiln_deploy_step *step = &s->steps[ro->step];
    struct kiln_deploy_analysis a;
    struct kiln_buf b;
    struct kiln_jsonw w;
    struct kiln_err err = { 0 };
    char summary[600], reason[800], prev[16];
    const char *decision = "wait";
    int64_t elapsed = now - ro->step_start_ms;
    int held, enough, rc;

    ro->last_check_ms = now;
    if (kiln_deploy_analyze(s, &ro->step_stable, &ro->step_cand, &ro->total_stable, &a) != KILN_OK)
        return;
    held = elapsed >= step->min_duration_ms;
    enough = ro->step_cand.requests >= (uint64_t)step->min_requests;
    kiln_buf_init(&b, (size_t)1 << 20);
    kiln_jsonw_init(&w, &b);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "time", now);
    kiln_jsonw_kv_int(&w, "step", (int64_t)ro->step);
    kiln_jsonw_kv_int(&w, "step_elapsed_ms", elapsed);
    kiln_jsonw_key(&w, "analysis");
    kiln_deploy_analysis_write(&w, &a);
    kiln_jsonw_obj_end(&w);
    if (kiln_jsonw_finish(&w) != KILN_OK) {
        kiln_buf_release(&b);
        return;
    }
    kiln_free(ro->last_analysis);
    ro->last_analysis = kiln_buf_detach(&b, NULL);
    kiln_buf_release(&b);
    snprintf(prev, sizeof(prev), "%s", ro->last_verdict);
    snprintf(ro->last_verdict, sizeof(ro->last_verdict), "%s", kiln_deploy_verdict_name(a.verdict));
    kiln_deploy_analysis_summary(&a, summary, sizeof(summary));

    if (a.verdict == KILN_VERDICT_FAIL) {
        ro->failed_checks++;
        decision = ro->failed_checks > s->failure_limit ? "rollback" : "count_failure";
    } else if (held && enough && a.verdict == KILN_VERDICT_PASS) {
        decision = ro->step + 1 < s->nsteps ? "advance" : "promote";
    } else if (held && (a.verdict == KILN_VERDICT_INCONCLUSIVE || !enough)) {
        int timed_out = s->inconclusive_timeout_ms > 0 &&
                        elapsed >= step->min_duration_ms + s->inconclusive_timeout_ms;
        if (s->inconclusive == KILN_DEPLOY_FAIL || timed_out)
            decision = "rollback";
    }
    if (!enough)
        snprintf(ro->message, sizeof(ro->message), "waiting for traffic: %llu of %lld requests",
                 (unsigned long long)ro->step_cand.requests, (long long)step->min_requests);
    else if (!held)
        snprintf(ro->message, sizeof(ro->message), "holding the step: %lld of %lld ms",
                 (long long)elapsed, (long long)step->min_duration_ms);
    else
        snprintf(ro->message, sizeof(ro->message), "analysis %s", ro->last_verdict);
    /* Record the analysis when it decides something, when its verdict changes, and at least
     * once a minute while it waits. */
    if (strcmp(decision, "wait") != 0 || strcmp(prev, ro->last_verdict) != 0 ||
        now - ro->recorded_ms >= 60000) {
        ro->recorded_ms = now;
        if (dp_store_analysis(d, ro, ro->last_verdict, decision, ro->last_analysis, &err) !=
            KILN_OK)
            kiln_log_warn("deployment %s: cannot record the analysis: %s", dep->name, err.msg);
    }

    if (strcmp(decision, "rollback") == 0) {
        if (a.verdict == KILN_VERDICT_FAIL)
            snprintf(reason, sizeof(reason), "analysis failed at step %zu: %s", ro->step + 1,
                     summary);
        else
            snprintf(reason, sizeof(reason), "analysis inconclusive at step %zu: %s", ro->step + 1,
                     summary[0] != '\0' ? summary : "not enough requests in the step");
        rc = dp_rollback(d, dep, "rolled_back", reason, ro->last_analysis, now, NULL, &err);
        if (rc != KILN_OK)
            kiln_log_error("deployment %s: rollback failed: %s", dep->name, err.msg);
    } else if (strcmp(decision, "advance") == 0) {
        advance(d, dep, now);
    } else if (strcmp(decision, "promote") == 0) {
        snprintf(reason, sizeof(reason), "deployment %s: every step passed its analysis",
                 dep->name);
        rc = dp_promote(d, dep, reason, NULL, &err);
        if (rc != KILN_OK && rc != KILN_ECHECK)
            kiln_log_error("deployment %s: %s", dep->name, err.msg);
    } else if (dp_store_checkpoint(d, dep, &err) != KILN_OK) {
        kiln_log_warn("deployment %s: checkpoint: %s", dep->name, err.msg);
    }
}

/* ---- reconcile
 * ------------------------------------------------------------------------------------ */

int dp_read_envs(struct kiln_deploy *d, struct dp_dep *dep)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_err err = { 0 };
    int rc;
    if (arena == NULL)
        return KILN_ENOMEM;
    rc = alias_version(d, arena, dep->spec->model, dep->spec->stable_env, &dep->env_stable, &err);
    if (rc == KILN_OK)
        rc = alias_version(d, arena, dep->spec->model, dep->spec->candidate_env,
                           &dep->env_candidate, &err);
    if (rc == KILN_OK)
        dep->env_error[0] = '\0';
    else
        snprintf(dep->env_error, sizeof(dep->env_error), "%s", err.msg);
    kiln_arena_free(arena);
    return rc;
}

/* A new candidate move (not the one the last finished rollout was about)? */
static int new_candidate(struct kiln_deploy *d, struct dp_dep *dep)
{
    struct kiln_arena *arena;
    int64_t move;
    if (dep->env_candidate == 0 || dep->env_stable == 0 || dep->env_candidate == dep->env_stable)
        return 0;
    if (dep->env_candidate != dep->ended_candidate)
        return 1;
    arena = kiln_arena_new(0);
    if (arena == NULL)
        return 0;
    move = last_move(d, arena, dep->spec->model, dep->spec->candidate_env);
    kiln_arena_free(arena);
    return move != 0 && move != dep->ended_move_id;
}

void dp_reconcile(struct kiln_deploy *d, struct dp_dep *dep, int64_t now)
{
    struct dp_rollout *ro = dep->ro;
    struct kiln_err err = { 0 };
    int64_t off;

    if (dp_read_envs(d, dep) != KILN_OK)
        return;
    if (ro == NULL) {
        if (new_candidate(d, dep))
            start_rollout(d, dep, now);
        else if (dep->plan_stable != dep->env_stable || dep->plan_candidate != 0)
            dp_publish(d, dep, NULL, NULL, &err);
        return;
    }
    if (dep->env_stable == ro->candidate) {
        if (end_rollout(d, dep, "promoted", "the candidate was promoted outside the deployment", 0,
                        NULL, &off, &err) == KILN_OK)
            finish(dep);
        return;
    }
    if (dep->env_stable != ro->stable || dep->env_candidate != ro->candidate) {
        if (end_rollout(d, dep, "superseded",
                        "the environments moved outside the deployment during the rollout", 0, NULL,
                        &off, &err) == KILN_OK) {
            struct kiln_arena *arena = kiln_arena_new(0);
            if (arena != NULL) {
                dep->ended_move_id =
                    last_move(d, arena, dep->spec->model, dep->spec->candidate_env);
                kiln_arena_free(arena);
            }
            dep->ended_candidate = 0; /* a new candidate gets its rollout */
            emit(d, dep, KILN_EV_DEPLOY_ENDED, ro->candidate, dep->spec->candidate_env, NULL, NULL,
                 NULL);
            finish(dep);
        }
        return;
    }
    if (now - ro->last_check_ms >= dep->spec->interval_ms)
        check(d, dep, now);
}

/* ---- the thread --------------------------------------------------------------------------------
 */

static void *controller_main(void *arg)
{
    struct kiln_deploy *d = arg;
    for (;;) {
        int64_t now, mono;
        struct timespec ts;
        pthread_mutex_lock(&d->kick_mu);
        if (d->stopping) {
            pthread_mutex_unlock(&d->kick_mu);
            break;
        }
        d->kicked = 0;
        pthread_mutex_unlock(&d->kick_mu);

        pthread_mutex_lock(&d->mu);
        now = kiln_now_ms();
        mono = kiln_mono_ns() / 1000000;
        for (struct dp_dep *dep = d->deps; dep != NULL; dep = dep->next) {
            dp_reconcile(d, dep, now);
            if (now - dep->last_alert_eval_ms >= 1000) {
                dep->last_alert_eval_ms = now;
                dp_alerts_eval(d, dep, now);
            }
            dp_wake_watches(d, dep, 0, mono);
        }
        pthread_mutex_unlock(&d->mu);

        pthread_mutex_lock(&d->kick_mu);
        if (!d->kicked && !d->stopping) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(d->cfg.tick_ms % 1000) * 1000000L;
            ts.tv_sec += d->cfg.tick_ms / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&d->kick_cond, &d->kick_mu, &ts);
        }
        pthread_mutex_unlock(&d->kick_mu);
    }
    return NULL;
}

int kiln_deploy_start(struct kiln_deploy *d, struct kiln_err *err)
{
    sigset_t all, old;
    int rc;
    if (d->started)
        return KILN_OK;
    /* The thread must not take the server's stop signals (sigwait in the main thread). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&d->thread, NULL, controller_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return kiln_err_set(err, KILN_EIO, "cannot start the deployment controller thread");
    d->started = 1;
    return KILN_OK;
}

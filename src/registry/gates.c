/*
 * gates.c - evaluation of an environment's promotion gates for one candidate version, and the
 * gate report's JSON form (registry.h).
 *
 * Gates, in report order: order (the candidate must have been in the `after` environment),
 * required tags, metric thresholds on the candidate's evaluation on the policy's dataset,
 * comparisons with the champion (MLflow's MetricThreshold: threshold, min_absolute_change,
 * min_relative_change, greater_is_better), and the precision-recall regression gate (overall
 * and per class, champion evaluated on the same dataset digest). A gate whose input is missing
 * (no evaluation, no metric, no champion evaluation) fails and says what is missing: gates
 * never pass by default. The only gates that pass without data are comparisons when the
 * environment has no champion yet and the policy does not set require_champion: the report
 * says so explicitly.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "registry/registry_int.h"

struct gctx {
    struct kiln_arena *arena;
    struct kiln_gate_report *r;
    size_t cap;
    int oom;
    const char *name;
    int64_t version;
};

static const char *fmt_num(struct gctx *g, double v)
{
    char buf[40];
    const char *s;
    if (isnan(v))
        return "NaN";
    kiln_format_double(v, buf, sizeof(buf));
    s = kiln_arena_strdup(g->arena, buf);
    if (s == NULL)
        g->oom = 1;
    return s != NULL ? s : "?";
}

static const char *textf(struct gctx *g, const char *fmt, ...) KILN_PRINTF(2, 3);

static const char *textf(struct gctx *g, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    const char *s;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    s = kiln_arena_strdup(g->arena, buf);
    if (s == NULL)
        g->oom = 1;
    return s != NULL ? s : "";
}

static struct kiln_gate_outcome *add(struct gctx *g, const char *gate, const char *subject,
                                     const char *rule)
{
    struct kiln_gate_report *r = g->r;
    struct kiln_gate_outcome *o;
    if (r->ngates == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 16;
        struct kiln_gate_outcome *n = kiln_arena_calloc(g->arena, ncap, sizeof(*n));
        if (n == NULL) {
            g->oom = 1;
            return NULL;
        }
        if (r->ngates > 0)
            memcpy(n, r->gates, r->ngates * sizeof(*n));
        r->gates = n;
        g->cap = ncap;
    }
    o = &r->gates[r->ngates++];
    memset(o, 0, sizeof(*o));
    o->gate = gate;
    o->subject = subject;
    o->rule = rule;
    return o;
}

static void set_result(struct kiln_gate_outcome *o, int passed, const char *detail)
{
    if (o == NULL)
        return;
    o->passed = passed;
    o->detail = detail;
}

static int order_gate(struct kiln_tx *tx, struct gctx *g, int64_t rm_id, const char *after,
                      struct kiln_err *err)
{
    int64_t one;
    int found, rc;
    struct kiln_gate_outcome *o =
        add(g, "order", after, textf(g, "must have been promoted to '%s' first", after));
    rc = reg_query_int64(tx, err, &one, &found,
                         "SELECT 1 FROM alias_history WHERE rm_id = ? AND alias = ? AND "
                         "to_version = ? AND action IN ('promote', 'set', 'rollback') LIMIT 1",
                         "iti", rm_id, after, g->version);
    if (rc != KILN_OK)
        return rc;
    set_result(o, found,
               found
                   ? textf(g, "version %lld has been in '%s'", (long long)g->version, after)
                   : textf(g, "version %lld has never been in '%s'", (long long)g->version, after));
    return KILN_OK;
}

static int tag_gates(struct kiln_tx *tx, struct gctx *g, int64_t rm_id,
                     const struct kiln_env_policy *env, struct kiln_err *err)
{
    for (size_t i = 0; i < env->ntags; i++) {
        const struct kiln_kv *t = &env->tags[i];
        struct kiln_gate_outcome *o = add(g, "tag", t->key, textf(g, "%s = %s", t->key, t->value));
        struct kiln_stmt *st;
        const char *have = NULL;
        int rc = reg_prepare(tx, &st, err,
                             "SELECT value FROM model_version_tags WHERE rm_id = ? AND version = ? "
                             "AND key = ?",
                             "iit", rm_id, g->version, t->key);
        if (rc != KILN_OK)
            return rc;
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW)
            have = reg_col_text(st, 0, g->arena, &g->oom);
        kiln_stmt_finish(st);
        if (rc < 0)
            return rc;
        if (have == NULL)
            set_result(
                o, 0,
                textf(g, "tag '%s' is not set on version %lld", t->key, (long long)g->version));
        else if (strcmp(have, t->value) != 0)
            set_result(o, 0,
                       textf(g, "tag '%s' is '%.100s', not '%.100s'", t->key, have, t->value));
        else
            set_result(o, 1, textf(g, "tag '%s' is '%.100s'", t->key, have));
    }
    return KILN_OK;
}

static int op_holds(enum kiln_gate_op op, double v, double limit)
{
    switch (op) {
    case KILN_GATE_GE:
        return v >= limit;
    case KILN_GATE_GT:
        return v > limit;
    case KILN_GATE_LE:
        return v <= limit;
    default:
        return v < limit;
    }
}

static const char *eval_label(struct gctx *g, const struct kiln_evaluation *e)
{
    return textf(g, "%s@%.12s", e->dataset_name, e->dataset_digest);
}

static void threshold_gates(struct gctx *g, const struct kiln_env_policy *env,
                            const struct kiln_evaluation *cand, const char *missing)
{
    for (size_t i = 0; i < env->nthresholds; i++) {
        const struct kiln_gate_threshold *t = &env->thresholds[i];
        struct kiln_gate_outcome *o =
            add(g, "metric", t->metric,
                textf(g, "%s %s %s", t->metric, kiln_gate_op_text(t->op), fmt_num(g, t->value)));
        const struct kiln_eval_metric *m = cand != NULL ? kiln_eval_metric(cand, t->metric) : NULL;
        if (o == NULL)
            return;
        if (cand == NULL) {
            set_result(o, 0, missing);
            continue;
        }
        if (m == NULL) {
            set_result(o, 0,
                       textf(g, "metric '%s' is missing from the evaluation on %s", t->metric,
                             eval_label(g, cand)));
            continue;
        }
        o->has_observed = 1;
        o->observed = m->value;
        if (isnan(m->value))
            set_result(o, 0, textf(g, "metric '%s' is NaN", t->metric));
        else
            set_result(o, op_holds(t->op, m->value, t->value),
                       textf(g, "%s = %s", t->metric, fmt_num(g, m->value)));
    }
}

/* MLflow's MetricThreshold check; returns the failure text or NULL when it passes. */
static const char *metric_threshold(struct gctx *g, const struct kiln_gate_compare *c, double cand,
                                    int has_base, double base, int64_t champ)
{
    int gib = c->greater_is_better;
    if (isnan(cand))
        return textf(g, "metric '%s' is NaN", c->metric);
    if (c->has_threshold && !(gib ? cand >= c->threshold : cand <= c->threshold))
        return textf(g, "%s = %s is %s the threshold %s", c->metric, fmt_num(g, cand),
                     gib ? "below" : "above", fmt_num(g, c->threshold));
    if (!(c->has_abs || c->has_rel) || !has_base)
        return NULL;
    if (isnan(base))
        return textf(g, "champion version %lld has %s = NaN", (long long)champ, c->metric);
    if (c->has_abs) {
        double need = gib ? base + c->min_absolute_change : base - c->min_absolute_change;
        if (!(gib ? cand >= need : cand <= need))
            return textf(g, "%s = %s vs champion v%lld %s: absolute change %s, needs %s%s",
                         c->metric, fmt_num(g, cand), (long long)champ, fmt_num(g, base),
                         fmt_num(g, cand - base), gib ? ">= " : "<= -",
                         fmt_num(g, c->min_absolute_change));
    }
    if (c->has_rel) {
        double rel;
        if (base == 0) {
            /* MLflow falls back to "strictly better than the baseline". */
            double need = gib ? base + 1e-10 : base - 1e-10;
            if (!(gib ? cand >= need : cand <= need))
                return textf(g, "%s = %s does not improve on champion v%lld's 0", c->metric,
                             fmt_num(g, cand), (long long)champ);
            return NULL;
        }
        rel = gib ? (cand - base) / base : (base - cand) / base;
        if (rel < c->min_relative_change)
            return textf(g, "%s = %s vs champion v%lld %s: relative change %s, needs >= %s",
                         c->metric, fmt_num(g, cand), (long long)champ, fmt_num(g, base),
                         fmt_num(g, rel), fmt_num(g, c->min_relative_change));
    }
    return NULL;
}

static const char *compare_rule(struct gctx *g, const struct kiln_gate_compare *c, int64_t champ)
{
    char rule[300];
    size_t n = 0;
    n += (size_t)snprintf(rule + n, sizeof(rule) - n, "%s, %s is better", c->metric,
                          c->greater_is_better ? "higher" : "lower");
    if (c->has_threshold && n < sizeof(rule))
        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "; threshold %s",
                              fmt_num(g, c->threshold));
    if (c->has_abs && n < sizeof(rule))
        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "; min_absolute_change %s",
                              fmt_num(g, c->min_absolute_change));
    if (c->has_rel && n < sizeof(rule))
        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "; min_relative_change %s",
                              fmt_num(g, c->min_relative_change));
    if ((c->has_abs || c->has_rel) && champ > 0 && n < sizeof(rule))
        snprintf(rule + n, sizeof(rule) - n, " vs champion v%lld", (long long)champ);
    return textf(g, "%s", rule);
}

/* Context for the champion-relative gates. */
struct champ {
    int64_t version;                  /* 0: no champion */
    const char *env;                  /* where the champion lives */
    const struct kiln_evaluation *ev; /* its evaluation on the candidate's dataset digest */
    const char *missing;              /* why ev is NULL when version > 0 */
    int require;
};

static void compare_gates(struct gctx *g, const struct kiln_env_policy *env,
                          const struct kiln_evaluation *cand, const char *missing,
                          const struct champ *ch)
{
    for (size_t i = 0; i < env->ncompares; i++) {
        const struct kiln_gate_compare *c = &env->compares[i];
        struct kiln_gate_outcome *o = add(g, "compare", c->metric, compare_rule(g, c, ch->version));
        const struct kiln_eval_metric *m = cand != NULL ? kiln_eval_metric(cand, c->metric) : NULL;
        const struct kiln_eval_metric *b = NULL;
        int needs_base = c->has_abs || c->has_rel;
        const char *fail;
        if (o == NULL)
            return;
        if (cand == NULL) {
            set_result(o, 0, missing);
            continue;
        }
        if (m == NULL) {
            set_result(o, 0,
                       textf(g, "metric '%s' is missing from the evaluation on %s", c->metric,
                             eval_label(g, cand)));
            continue;
        }
        o->has_observed = 1;
        o->observed = m->value;
        if (needs_base && ch->version == 0 && ch->require) {
            set_result(o, 0,
                       textf(g,
                             "no version is in '%s' to compare against (the policy "
                             "sets require_champion)",
                             ch->env));
            continue;
        }
        if (needs_base && ch->version > 0) {
            if (ch->ev == NULL) {
                set_result(o, 0, ch->missing);
                continue;
            }
            b = kiln_eval_metric(ch->ev, c->metric);
            if (b == NULL) {
                set_result(o, 0,
                           textf(g,
                                 "metric '%s' is missing from champion version %lld's "
                                 "evaluation on %s",
                                 c->metric, (long long)ch->version, eval_label(g, ch->ev)));
                continue;
            }
            o->has_baseline = 1;
            o->baseline = b->value;
        }
        fail = metric_threshold(g, c, m->value, b != NULL, b != NULL ? b->value : 0, ch->version);
        if (fail != NULL)
            set_result(o, 0, fail);
        else if (needs_base && ch->version == 0)
            set_result(o, 1,
                       textf(g,
                             "%s = %s; no version in '%s' yet, nothing to compare "
                             "against",
                             c->metric, fmt_num(g, m->value), ch->env));
        else if (b != NULL)
            set_result(o, 1,
                       textf(g, "%s = %s vs champion v%lld %s", c->metric, fmt_num(g, m->value),
                             (long long)ch->version, fmt_num(g, b->value)));
        else
            set_result(o, 1, textf(g, "%s = %s", c->metric, fmt_num(g, m->value)));
    }
}

/* One precision or recall comparison; cand/champ NULL when missing. */
static void pr_check(struct gctx *g, const char *subject, const double *cand, const double *base,
                     double tol, const char *what_missing, int64_t champ)
{
    struct kiln_gate_outcome *o =
        add(g, "pr_regression", subject,
            textf(g, "no drop beyond %s vs champion v%lld", fmt_num(g, tol), (long long)champ));
    if (o == NULL)
        return;
    if (cand == NULL || base == NULL) {
        set_result(o, 0, what_missing);
        return;
    }
    o->has_observed = 1;
    o->observed = *cand;
    o->has_baseline = 1;
    o->baseline = *base;
    if (isnan(*cand) || isnan(*base))
        set_result(
            o, 0,
            textf(g, "%s is NaN for the %s", subject, isnan(*cand) ? "candidate" : "champion"));
    else if (*cand < *base - tol)
        set_result(o, 0,
                   textf(g, "%s dropped from %s to %s (by %s, tolerance %s)", subject,
                         fmt_num(g, *base), fmt_num(g, *cand), fmt_num(g, *base - *cand),
                         fmt_num(g, tol)));
    else
        set_result(o, 1,
                   textf(g, "%s %s vs champion %s", subject, fmt_num(g, *cand), fmt_num(g, *base)));
}

static void pr_gates(struct gctx *g, const struct kiln_env_policy *env,
                     const struct kiln_evaluation *cand, const char *missing,
                     const struct champ *ch)
{
    static const char *const overall[] = { "precision", "recall" };
    struct kiln_gate_outcome *o;
    if (!env->pr_enabled)
        return;
    if (cand == NULL || ch->version == 0 || ch->ev == NULL) {
        o = add(g, "pr_regression", "precision/recall",
                textf(g, "no drop beyond %s vs the champion", fmt_num(g, env->pr_tolerance)));
        if (cand == NULL)
            set_result(o, 0, missing);
        else if (ch->version > 0)
            set_result(o, 0, ch->missing);
        else if (ch->require)
            set_result(o, 0,
                       textf(g,
                             "no version is in '%s' to compare against (the policy "
                             "sets require_champion)",
                             ch->env));
        else
            set_result(o, 1,
                       textf(g, "no version in '%s' yet, nothing to compare against", ch->env));
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        const struct kiln_eval_metric *a = kiln_eval_metric(cand, overall[i]);
        const struct kiln_eval_metric *b = kiln_eval_metric(ch->ev, overall[i]);
        pr_check(g, overall[i], a != NULL ? &a->value : NULL, b != NULL ? &b->value : NULL,
                 env->pr_tolerance,
                 textf(g, "metric '%s' is missing from the %s evaluation on %s", overall[i],
                       a == NULL ? "candidate's" : "champion's", eval_label(g, cand)),
                 ch->version);
    }
    if (!env->pr_per_class)
        return;
    if (ch->ev->nclasses == 0) {
        o = add(g, "pr_regression", "per-class",
                textf(g, "no per-class drop beyond %s", fmt_num(g, env->pr_tolerance)));
        set_result(o, 0,
                   textf(g,
                         "champion version %lld's evaluation has no per-class "
                         "precision/recall",
                         (long long)ch->version));
        return;
    }
    for (size_t i = 0; i < ch->ev->nclasses; i++) {
        const struct kiln_eval_class *bc = &ch->ev->classes[i], *cc = NULL;
        for (size_t j = 0; j < cand->nclasses; j++)
            if (strcmp(cand->classes[j].label, bc->label) == 0)
                cc = &cand->classes[j];
        pr_check(
            g, textf(g, "precision[class=%s]", bc->label), cc != NULL ? &cc->precision : NULL,
            &bc->precision, env->pr_tolerance,
            textf(g, "class '%s' is missing from the candidate's per-class figures", bc->label),
            ch->version);
        pr_check(
            g, textf(g, "recall[class=%s]", bc->label), cc != NULL ? &cc->recall : NULL,
            &bc->recall, env->pr_tolerance,
            textf(g, "class '%s' is missing from the candidate's per-class figures", bc->label),
            ch->version);
    }
}

static int load_champion(struct kiln_tx *tx, struct gctx *g, int64_t rm_id,
                         const struct kiln_env_policy *env, int64_t current,
                         const struct kiln_evaluation *cand, struct champ *ch, struct kiln_err *err)
{
    struct kiln_evaluation *evs = NULL;
    size_t n = 0;
    int rc;
    memset(ch, 0, sizeof(*ch));
    ch->env = env->champion != NULL ? env->champion : env->name;
    ch->require = env->require_champion;
    ch->version = current;
    if (env->champion != NULL && strcmp(env->champion, env->name) != 0) {
        rc = reg_alias_version(tx, rm_id, env->champion, &ch->version, err);
        if (rc != KILN_OK)
            return rc;
    }
    if (ch->version == 0 || cand == NULL)
        return KILN_OK;
    rc = reg_eval_load(tx, g->arena, rm_id, g->name, ch->version, cand->dataset_name,
                       cand->dataset_digest, &evs, &n, err);
    if (rc != KILN_OK)
        return rc;
    if (n > 0)
        ch->ev = &evs[0];
    else
        ch->missing = textf(g, "champion version %lld (in '%s') has no evaluation on %s",
                            (long long)ch->version, ch->env, eval_label(g, cand));
    return KILN_OK;
}

int reg_gates_evaluate(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                       const char *name, int64_t version, const struct kiln_policy *policy,
                       const struct kiln_env_policy *env, int64_t current,
                       struct kiln_gate_report *report, struct kiln_err *err)
{
    struct gctx g = { arena, report, 0, 0, name, version };
    struct kiln_evaluation *evs = NULL, *cand = NULL;
    const char *missing = NULL;
    struct champ ch;
    size_t n = 0;
    int rc = KILN_OK;

    (void)policy;
    memset(report, 0, sizeof(*report));
    report->model = name;
    report->env = env->name;
    report->version = version;
    report->current_version = current;
    if (env->after != NULL)
        rc = order_gate(tx, &g, rm_id, env->after, err);
    if (rc == KILN_OK)
        rc = tag_gates(tx, &g, rm_id, env, err);
    if (rc == KILN_OK && env->dataset != NULL) {
        rc = reg_eval_load(tx, arena, rm_id, name, version, env->dataset, env->digest, &evs, &n,
                           err);
        if (rc == KILN_OK && n > 0) {
            cand = &evs[0];
            report->dataset = cand->dataset_name;
            report->digest = cand->dataset_digest;
        } else if (rc == KILN_OK) {
            report->dataset = env->dataset;
            report->digest = env->digest;
            missing = env->digest != NULL
                          ? textf(&g,
                                  "version %lld has no evaluation on dataset '%s' with digest "
                                  "'%s'",
                                  (long long)version, env->dataset, env->digest)
                          : textf(&g, "version %lld has no evaluation on dataset '%s'",
                                  (long long)version, env->dataset);
        }
    }
    if (rc == KILN_OK && env->dataset != NULL)
        rc = load_champion(tx, &g, rm_id, env, current, cand, &ch, err);
    if (rc == KILN_OK && env->dataset != NULL) {
        threshold_gates(&g, env, cand, missing);
        compare_gates(&g, env, cand, missing, &ch);
        pr_gates(&g, env, cand, missing, &ch);
    }
    if (rc != KILN_OK)
        return rc;
    if (g.oom)
        return reg_oom(err);
    report->passed = 1;
    for (size_t i = 0; i < report->ngates; i++)
        if (!report->gates[i].passed)
            report->passed = 0;
    return KILN_OK;
}

void kiln_gate_report_write(struct kiln_jsonw *w, const struct kiln_gate_report *r)
{
    char v[24];
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "model", r->model);
    kiln_jsonw_kv_str(w, "environment", r->env);
    snprintf(v, sizeof(v), "%lld", (long long)r->version);
    kiln_jsonw_kv_str(w, "version", v);
    kiln_jsonw_key(w, "current_version");
    if (r->current_version > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)r->current_version);
        kiln_jsonw_str(w, v);
    } else {
        kiln_jsonw_null(w);
    }
    if (r->dataset != NULL)
        kiln_jsonw_kv_str(w, "dataset", r->dataset);
    if (r->digest != NULL)
        kiln_jsonw_kv_str(w, "dataset_digest", r->digest);
    kiln_jsonw_kv_bool(w, "passed", r->passed);
    kiln_jsonw_key(w, "gates");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->ngates; i++) {
        const struct kiln_gate_outcome *o = &r->gates[i];
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "gate", o->gate);
        kiln_jsonw_kv_str(w, "subject", o->subject);
        kiln_jsonw_kv_str(w, "rule", o->rule);
        if (o->has_observed)
            kiln_jsonw_kv_double(w, "observed", o->observed);
        if (o->has_baseline)
            kiln_jsonw_kv_double(w, "baseline", o->baseline);
        kiln_jsonw_kv_str(w, "detail", o->detail != NULL ? o->detail : "");
        kiln_jsonw_kv_bool(w, "passed", o->passed);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

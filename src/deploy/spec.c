/*
 * spec.c - the deployment spec: YAML -> validated struct kiln_deploy_spec with defaults, and
 * back to JSON (docs/deployments.md, "The deployment file", is the reference).
 *
 * Every problem is reported as "FILE:LINE:COL: where: reason" and nothing is returned half
 * built. Unknown keys are errors (a typo must not silently disable a check). All memory comes
 * from the caller's arena. Thread-safe (no shared state).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "core/yaml.h"
#include "deploy/deploy_int.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"

struct ctx {
    const char *file;
    struct kiln_arena *arena;
    struct kiln_err *err;
};

static const char *const metric_names[KILN_DM_COUNT] = {
    "error_rate", "latency_p99", "score_psi", "score_js",
    "agreement",  "accuracy",    "precision", "recall",
};

static const char *const alert_kinds[KILN_ALERT_KIND_COUNT] = {
    "drift", "low_confidence", "latency", "error_rate", "quality", "no_traffic",
};

const char *kiln_deploy_metric_name(enum kiln_deploy_metric m)
{
    return (unsigned)m < KILN_DM_COUNT ? metric_names[m] : "unknown";
}

const char *kiln_alert_kind_name(enum kiln_alert_kind k)
{
    return (unsigned)k < KILN_ALERT_KIND_COUNT ? alert_kinds[k] : "unknown";
}

static int bad(struct ctx *c, const struct kiln_yn *n, const char *where, const char *fmt, ...)
    KILN_PRINTF(4, 5);

static int bad(struct ctx *c, const struct kiln_yn *n, const char *where, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_err_set(c->err, KILN_EINVAL, "%s:%d:%d: %s: %s", c->file, n != NULL ? n->line : 1,
                        n != NULL ? n->col : 1, where, msg);
}

static int oom(struct ctx *c)
{
    return kiln_err_set(c->err, KILN_ENOMEM, "out of memory");
}

int kiln_deploy_validate_name(const char *name, struct kiln_err *err)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0)
        return kiln_err_set(err, KILN_EINVAL, "deployment name is empty");
    if (len > KILN_DEPLOY_NAME_MAX)
        return kiln_err_set(err, KILN_EINVAL, "deployment name longer than %d characters",
                            KILN_DEPLOY_NAME_MAX);
    if (name[0] == '.' || name[0] == '-')
        return kiln_err_set(err, KILN_EINVAL, "deployment name '%s' must not start with '%c'", name,
                            name[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return kiln_err_set(err, KILN_EINVAL,
                                "deployment name '%s': only letters, digits, '_', '-' and '.' "
                                "are allowed",
                                name);
    }
    return KILN_OK;
}

/* ---- scalar readers --------------------------------------------------------------------- */

static int check_keys(struct ctx *c, const struct kiln_yn *map, const char *where,
                      const char *const *allowed)
{
    if (map->kind != KILN_YN_MAP)
        return bad(c, map, where, "expected a mapping");
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        int ok = 0;
        for (size_t k = 0; allowed[k] != NULL && !ok; k++)
            ok = strcmp(map->kids[i]->s, allowed[k]) == 0;
        if (!ok)
            return bad(c, map->kids[i], where, "unknown key '%s'", map->kids[i]->s);
    }
    return KILN_OK;
}

static int scalar(struct ctx *c, const struct kiln_yn *n, const char *where)
{
    if (n->kind != KILN_YN_SCALAR)
        return bad(c, n, where, "expected a single value");
    return KILN_OK;
}

static int get_str(struct ctx *c, const struct kiln_yn *map, const char *key, const char *where,
                   size_t max, const char **out)
{
    const struct kiln_yn *n = kiln_yn_get(map, key);
    int rc;
    if (kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = scalar(c, n, where)) != KILN_OK)
        return rc;
    if (n->len == 0 || n->len > max)
        return bad(c, n, where, "'%s' must be 1 to %zu characters", key, max);
    *out = n->s;
    return KILN_OK;
}

static int get_num(struct ctx *c, const struct kiln_yn *map, const char *key, const char *where,
                   double lo, double hi, double *out)
{
    const struct kiln_yn *n = kiln_yn_get(map, key);
    double v;
    int rc;
    if (kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = scalar(c, n, where)) != KILN_OK)
        return rc;
    if (kiln_parse_double(n->s, n->len, &v) != KILN_OK || !isfinite(v))
        return bad(c, n, where, "'%s' must be a number, not '%s'", key, n->s);
    if (v < lo || v > hi)
        return bad(c, n, where, "'%s' must be between %g and %g", key, lo, hi);
    *out = v;
    return KILN_OK;
}

static int get_int(struct ctx *c, const struct kiln_yn *map, const char *key, const char *where,
                   int64_t lo, int64_t hi, int64_t *out)
{
    const struct kiln_yn *n = kiln_yn_get(map, key);
    int64_t v;
    int rc;
    if (kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = scalar(c, n, where)) != KILN_OK)
        return rc;
    if (kiln_parse_int64(n->s, n->len, &v) != KILN_OK)
        return bad(c, n, where, "'%s' must be an integer, not '%s'", key, n->s);
    if (v < lo || v > hi)
        return bad(c, n, where, "'%s' must be between %lld and %lld", key, (long long)lo,
                   (long long)hi);
    *out = v;
    return KILN_OK;
}

static int get_dur(struct ctx *c, const struct kiln_yn *map, const char *key, const char *where,
                   int64_t lo, int64_t hi, int64_t *out)
{
    const struct kiln_yn *n = kiln_yn_get(map, key);
    int64_t v;
    int rc;
    if (kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = scalar(c, n, where)) != KILN_OK)
        return rc;
    if (kiln_pl_parse_duration(n->s, &v) != KILN_OK)
        return bad(c, n, where, "'%s' must be a duration such as 30s, 5m or 250ms, not '%s'", key,
                   n->s);
    if (v < lo || v > hi)
        return bad(c, n, where, "'%s' must be between %lld ms and %lld ms", key, (long long)lo,
                   (long long)hi);
    *out = v;
    return KILN_OK;
}

static int get_bool(struct ctx *c, const struct kiln_yn *map, const char *key, const char *where,
                    int *out)
{
    const struct kiln_yn *n = kiln_yn_get(map, key);
    int rc;
    if (kiln_yn_is_null(n))
        return KILN_OK;
    if ((rc = scalar(c, n, where)) != KILN_OK)
        return rc;
    if (kiln_parse_bool(n->s, n->len, out) != KILN_OK)
        return bad(c, n, where, "'%s' must be true or false, not '%s'", key, n->s);
    return KILN_OK;
}

static const char *where2(struct ctx *c, const char *a, const char *b)
{
    const char *w = kiln_arena_printf(c->arena, "%s.%s", a, b);
    return w != NULL ? w : a;
}

/* ---- sections ----------------------------------------------------------------------------- */

#define DAY_MS ((int64_t)86400000)

static int parse_step(struct ctx *c, const struct kiln_yn *n, const char *where, int shadow,
                      struct kiln_deploy_step *s)
{
    static const char *const step_keys[] = { "weight", "min_duration", "min_requests", NULL };
    static const char *const shadow_keys[] = { "min_duration", "min_requests", NULL };
    int rc = check_keys(c, n, where, shadow ? shadow_keys : step_keys);
    s->line = n->line;
    s->shadow = shadow;
    s->weight = shadow ? 0 : NAN;
    s->min_duration_ms = shadow ? 60000 : 30000;
    s->min_requests = shadow ? 500 : 100;
    if (rc == KILN_OK && !shadow)
        rc = get_num(c, n, "weight", where, 0.01, 100, &s->weight);
    if (rc == KILN_OK && !shadow && isnan(s->weight))
        rc = bad(c, n, where, "'weight' (percent of requests to the candidate) is required");
    if (rc == KILN_OK)
        rc = get_dur(c, n, "min_duration", where, 0, 7 * DAY_MS, &s->min_duration_ms);
    if (rc == KILN_OK)
        rc = get_int(c, n, "min_requests", where, 0, (int64_t)1 << 40, &s->min_requests);
    return rc;
}

static int parse_steps(struct ctx *c, const struct kiln_yn *root, struct kiln_deploy_spec *s)
{
    const struct kiln_yn *steps = kiln_yn_get(root, "steps"), *shadow = kiln_yn_get(root, "shadow");
    int is_shadow = strcmp(s->strategy, "shadow") == 0, rc = KILN_OK;
    size_t n = 0, given = 0;

    if (!kiln_yn_is_null(steps)) {
        if (steps->kind != KILN_YN_SEQ)
            return bad(c, steps, "steps",
                       "expected a list of {weight, min_duration, "
                       "min_requests}");
        given = steps->n;
        if (given == 0 || given > KILN_DEPLOY_MAX_STEPS)
            return bad(c, steps, "steps", "give 1 to %d steps", KILN_DEPLOY_MAX_STEPS);
    }
    if (!kiln_yn_is_null(shadow) && !is_shadow)
        return bad(c, shadow, "shadow", "only with 'strategy: shadow'");
    s->steps = kiln_arena_calloc(c->arena, given + 2, sizeof(*s->steps));
    if (s->steps == NULL)
        return oom(c);
    if (is_shadow) {
        if (kiln_yn_is_null(shadow)) {
            static const struct kiln_yn empty = { KILN_YN_MAP, 0, 0, "", 0, 0, NULL, 0 };
            rc = parse_step(c, &empty, "shadow", 1, &s->steps[n]);
            s->steps[n].line = root->line;
        } else {
            rc = parse_step(c, shadow, "shadow", 1, &s->steps[n]);
        }
        n++;
    }
    for (size_t i = 0; rc == KILN_OK && i < given; i++) {
        const char *w = kiln_arena_printf(c->arena, "steps[%zu]", i);
        if (w == NULL)
            return oom(c);
        rc = parse_step(c, steps->kids[i], w, 0, &s->steps[n++]);
    }
    if (rc == KILN_OK && n == 0) {
        /* The default canary: 10% then 50%, 30 s and 100 requests each. */
        for (int i = 0; i < 2; i++) {
            s->steps[n].weight = i == 0 ? 10 : 50;
            s->steps[n].min_duration_ms = 30000;
            s->steps[n].min_requests = 100;
            s->steps[n].line = root->line;
            n++;
        }
    }
    s->nsteps = n;
    return rc;
}

static int parse_check(struct ctx *c, const struct kiln_yn *key, const struct kiln_yn *n,
                       struct kiln_deploy_spec *s)
{
    static const char *const keys_err[] = { "max", "max_increase", "min_samples", NULL };
    static const char *const keys_lat[] = { "max_ms", "max_ratio", "min_samples", NULL };
    static const char *const keys_div[] = { "max", "min_samples", NULL };
    static const char *const keys_agree[] = { "min", "min_samples", NULL };
    static const char *const keys_quality[] = { "min", "max_drop", "min_samples", NULL };
    static const char *const *const keys[KILN_DM_COUNT] = {
        keys_err,   keys_lat,     keys_div,     keys_div,
        keys_agree, keys_quality, keys_quality, keys_quality,
    };
    struct kiln_deploy_check *k;
    const char *where;
    int m = -1, rc;

    for (int i = 0; i < KILN_DM_COUNT; i++)
        if (strcmp(key->s, metric_names[i]) == 0)
            m = i;
    if (m < 0)
        return bad(c, key, "analysis.metrics",
                   "unknown metric '%s' (error_rate, latency_p99, score_psi, score_js, agreement, "
                   "accuracy, precision, recall)",
                   key->s);
    where = where2(c, "analysis.metrics", key->s);
    if (kiln_yn_is_null(n))
        return bad(c, key, where, "give at least one threshold");
    if ((rc = check_keys(c, n, where, keys[m])) != KILN_OK)
        return rc;
    k = &s->checks[m];
    k->enabled = 1;
    k->line = key->line;
    if (rc == KILN_OK)
        rc = get_num(c, n, "max", where, 0, m == KILN_DM_ERROR_RATE ? 1 : 1e9, &k->max);
    if (rc == KILN_OK)
        rc = get_num(c, n, "max_ms", where, 1e-3, 1e9, &k->max_ms);
    if (rc == KILN_OK)
        rc = get_num(c, n, "max_increase", where, 0, 1, &k->max_increase);
    if (rc == KILN_OK)
        rc = get_num(c, n, "max_ratio", where, 1, 1e6, &k->max_ratio);
    if (rc == KILN_OK)
        rc = get_num(c, n, "min", where, 0, 1, &k->min);
    if (rc == KILN_OK)
        rc = get_num(c, n, "max_drop", where, 0, 1, &k->max_drop);
    if (rc == KILN_OK)
        rc = get_int(c, n, "min_samples", where, 1, (int64_t)1 << 40, &k->min_samples);
    if (rc == KILN_OK && isnan(k->max) && isnan(k->max_ms) && isnan(k->max_increase) &&
        isnan(k->max_ratio) && isnan(k->min) && isnan(k->max_drop))
        rc = bad(c, n, where, "give at least one threshold");
    return rc;
}

static int parse_analysis(struct ctx *c, const struct kiln_yn *a, struct kiln_deploy_spec *s)
{
    static const char *const keys[] = { "interval",
                                        "failure_limit",
                                        "min_samples",
                                        "inconclusive",
                                        "inconclusive_timeout",
                                        "score_bins",
                                        "positive_label",
                                        "metrics",
                                        NULL };
    const struct kiln_yn *metrics = kiln_yn_get(a, "metrics"),
                         *inc = kiln_yn_get(a, "inconclusive");
    int64_t limit = 0, bins = 10;
    int rc = KILN_OK;

    if (!kiln_yn_is_null(a)) {
        rc = check_keys(c, a, "analysis", keys);
        if (rc == KILN_OK)
            rc = get_dur(c, a, "interval", "analysis", 100, 3600000, &s->interval_ms);
        if (rc == KILN_OK)
            rc = get_int(c, a, "failure_limit", "analysis", 0, 1000, &limit);
        if (rc == KILN_OK)
            rc = get_int(c, a, "min_samples", "analysis", 1, (int64_t)1 << 40, &s->min_samples);
        if (rc == KILN_OK)
            rc = get_dur(c, a, "inconclusive_timeout", "analysis", 0, 30 * DAY_MS,
                         &s->inconclusive_timeout_ms);
        if (rc == KILN_OK)
            rc = get_int(c, a, "score_bins", "analysis", 2, 100, &bins);
        if (rc == KILN_OK)
            rc = get_str(c, a, "positive_label", "analysis", KILN_DEPLOY_LABEL_MAX,
                         &s->positive_label);
        if (rc == KILN_OK && !kiln_yn_is_null(inc)) {
            if ((rc = scalar(c, inc, "analysis")) != KILN_OK)
                return rc;
            if (strcmp(inc->s, "wait") == 0)
                s->inconclusive = KILN_DEPLOY_WAIT;
            else if (strcmp(inc->s, "fail") == 0)
                s->inconclusive = KILN_DEPLOY_FAIL;
            else
                return bad(c, inc, "analysis", "'inconclusive' must be wait or fail, not '%s'",
                           inc->s);
        }
    }
    if (rc != KILN_OK)
        return rc;
    s->failure_limit = (int)limit;
    s->score_bins = (uint32_t)bins;
    if (kiln_yn_is_null(metrics)) {
        /* Flagger's built-in checks: success rate >= 99 %, p99 <= 500 ms. */
        s->checks[KILN_DM_ERROR_RATE].enabled = 1;
        s->checks[KILN_DM_ERROR_RATE].max = 0.01;
        s->checks[KILN_DM_LATENCY_P99].enabled = 1;
        s->checks[KILN_DM_LATENCY_P99].max_ms = 500;
        return KILN_OK;
    }
    if (metrics->kind != KILN_YN_MAP || metrics->n == 0)
        return bad(c, metrics, "analysis.metrics",
                   "expected a mapping of metric names to thresholds");
    for (size_t i = 0; rc == KILN_OK && i + 1 < metrics->n; i += 2)
        rc = parse_check(c, metrics->kids[i], metrics->kids[i + 1], s);
    return rc;
}

static int parse_monitoring(struct ctx *c, const struct kiln_yn *m, struct kiln_deploy_spec *s)
{
    static const char *const keys[] = { "report_interval",   "confidence_threshold",
                                        "drift_window_rows", "drift_window",
                                        "feedback_capacity", NULL };
    int rc;
    if (kiln_yn_is_null(m))
        return KILN_OK;
    rc = check_keys(c, m, "monitoring", keys);
    if (rc == KILN_OK)
        rc = get_dur(c, m, "report_interval", "monitoring", 100, 60000, &s->report_interval_ms);
    if (rc == KILN_OK)
        rc = get_num(c, m, "confidence_threshold", "monitoring", 0, 1, &s->confidence_threshold);
    if (rc == KILN_OK)
        rc = get_int(c, m, "drift_window_rows", "monitoring", 10, 10000000, &s->drift_window_rows);
    if (rc == KILN_OK)
        rc = get_dur(c, m, "drift_window", "monitoring", 1000, DAY_MS, &s->drift_window_ms);
    if (rc == KILN_OK)
        rc = get_int(c, m, "feedback_capacity", "monitoring", 0, 10000000, &s->feedback_capacity);
    return rc;
}

static void kv_num(struct kiln_jsonw *w, const char *key, double v)
{
    if (!isnan(v))
        kiln_jsonw_kv_double(w, key, v);
}

/* ---- alert rules ---------------------------------------------------------------------- */

static int alert_kind(struct ctx *c, const struct kiln_yn *n, const char *where, int *out)
{
    int rc = scalar(c, n, where);
    if (rc != KILN_OK)
        return rc;
    for (int i = 0; i < KILN_ALERT_KIND_COUNT; i++)
        if (strcmp(n->s, alert_kinds[i]) == 0) {
            *out = i;
            return KILN_OK;
        }
    return bad(c, n, where,
               "'kind' must be drift, low_confidence, latency, error_rate, quality or no_traffic, "
               "not '%s'",
               n->s);
}

static int parse_alert(struct ctx *c, const struct kiln_yn *n, const char *where,
                       const struct kiln_deploy_spec *s, struct kiln_alert_rule *a)
{
    static const char *const common[] = { "name", "kind", "window", "for", "severity", NULL };
    static const char *const k_drift[] = { "drift_share", "min_rows", "trigger_pipeline", NULL };
    static const char *const k_conf[] = { "threshold", "max_share", "min_mean", "min_samples",
                                          NULL };
    static const char *const k_lat[] = { "p99_ms", "min_samples", NULL };
    static const char *const k_err[] = { "max", "min_samples", NULL };
    static const char *const k_qual[] = { "min_accuracy", "min_precision", "min_recall",
                                          "min_labels", NULL };
    static const char *const k_none[] = { NULL };
    static const char *const *const specific[KILN_ALERT_KIND_COUNT] = {
        k_drift, k_conf, k_lat, k_err, k_qual, k_none,
    };
    const char *allowed[16];
    const struct kiln_yn *kind = kiln_yn_get(n, "kind");
    size_t na = 0;
    int k = 0, rc;

    if (n->kind != KILN_YN_MAP)
        return bad(c, n, where, "expected a mapping {kind, ...}");
    if (kiln_yn_is_null(kind))
        return bad(c, n, where, "'kind' is required");
    if ((rc = alert_kind(c, kind, where, &k)) != KILN_OK)
        return rc;
    for (size_t i = 0; common[i] != NULL; i++)
        allowed[na++] = common[i];
    for (size_t i = 0; specific[k][i] != NULL; i++)
        allowed[na++] = specific[k][i];
    allowed[na] = NULL;
    if ((rc = check_keys(c, n, where, allowed)) != KILN_OK)
        return rc;
    a->kind = (enum kiln_alert_kind)k;
    a->line = n->line;
    a->name = alert_kinds[k];
    a->window_ms = 60000;
    a->min_samples = 100;
    a->severity = "warning";
    a->drift_share = a->max_share = a->min_mean = a->p99_ms = a->max_rate = NAN;
    a->min_accuracy = a->min_precision = a->min_recall = NAN;
    a->threshold = s->confidence_threshold;
    rc = get_str(c, n, "name", where, 100, &a->name);
    if (rc == KILN_OK)
        rc = get_dur(c, n, "window", where, 1000, DAY_MS, &a->window_ms);
    if (rc == KILN_OK)
        rc = get_dur(c, n, "for", where, 0, DAY_MS, &a->for_ms);
    if (rc == KILN_OK)
        rc = get_str(c, n, "severity", where, 50, &a->severity);
    if (rc == KILN_OK)
        rc = get_num(c, n, "drift_share", where, 0, 1, &a->drift_share);
    if (rc == KILN_OK)
        rc = get_int(c, n,
                     k == KILN_ALERT_DRIFT     ? "min_rows"
                     : k == KILN_ALERT_QUALITY ? "min_labels"
                                               : "min_samples",
                     where, 1, (int64_t)1 << 40, &a->min_samples);
    if (rc == KILN_OK)
        rc = get_bool(c, n, "trigger_pipeline", where, &a->trigger_pipeline);
    if (rc == KILN_OK)
        rc = get_num(c, n, "threshold", where, 0, 1, &a->threshold);
    if (rc == KILN_OK)
        rc = get_num(c, n, "max_share", where, 0, 1, &a->max_share);
    if (rc == KILN_OK)
        rc = get_num(c, n, "min_mean", where, 0, 1, &a->min_mean);
    if (rc == KILN_OK)
        rc = get_num(c, n, "p99_ms", where, 1e-3, 1e9, &a->p99_ms);
    if (rc == KILN_OK)
        rc = get_num(c, n, "max", where, 0, 1, &a->max_rate);
    if (rc == KILN_OK)
        rc = get_num(c, n, "min_accuracy", where, 0, 1, &a->min_accuracy);
    if (rc == KILN_OK)
        rc = get_num(c, n, "min_precision", where, 0, 1, &a->min_precision);
    if (rc == KILN_OK)
        rc = get_num(c, n, "min_recall", where, 0, 1, &a->min_recall);
    if (rc != KILN_OK)
        return rc;
    if (k == KILN_ALERT_CONFIDENCE && isnan(a->max_share) && isnan(a->min_mean))
        return bad(c, n, where,
                   "give 'max_share' (of predictions below 'threshold') or "
                   "'min_mean' (mean confidence)");
    if (k == KILN_ALERT_LATENCY && isnan(a->p99_ms))
        return bad(c, n, where, "'p99_ms' is required");
    if (k == KILN_ALERT_ERRORS && isnan(a->max_rate))
        return bad(c, n, where, "'max' (error rate) is required");
    if (k == KILN_ALERT_QUALITY && isnan(a->min_accuracy) && isnan(a->min_precision) &&
        isnan(a->min_recall))
        return bad(c, n, where, "give 'min_accuracy', 'min_precision' or 'min_recall'");
    return KILN_OK;
}

static int parse_alerts(struct ctx *c, const struct kiln_yn *list, struct kiln_deploy_spec *s)
{
    int rc = KILN_OK;
    if (kiln_yn_is_null(list))
        return KILN_OK;
    if (list->kind != KILN_YN_SEQ)
        return bad(c, list, "alerts", "expected a list of rules {kind, ...}");
    if (list->n > KILN_DEPLOY_MAX_ALERTS)
        return bad(c, list, "alerts", "at most %d rules", KILN_DEPLOY_MAX_ALERTS);
    s->alerts = kiln_arena_calloc(c->arena, list->n + 1, sizeof(*s->alerts));
    if (s->alerts == NULL)
        return oom(c);
    for (size_t i = 0; rc == KILN_OK && i < list->n; i++) {
        const char *w = kiln_arena_printf(c->arena, "alerts[%zu]", i);
        if (w == NULL)
            return oom(c);
        rc = parse_alert(c, list->kids[i], w, s, &s->alerts[i]);
        for (size_t j = 0; rc == KILN_OK && j < i; j++)
            if (strcmp(s->alerts[j].name, s->alerts[i].name) == 0)
                rc = bad(c, list->kids[i], w,
                         "another rule is named '%s' (line %d): give each a distinct 'name'",
                         s->alerts[i].name, s->alerts[j].line);
        s->nalerts = i + 1;
    }
    return rc;
}

static void write_alert_rules(struct kiln_jsonw *w, const struct kiln_deploy_spec *s)
{
    kiln_jsonw_key(w, "alerts");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < s->nalerts; i++) {
        const struct kiln_alert_rule *a = &s->alerts[i];
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "name", a->name);
        kiln_jsonw_kv_str(w, "kind", alert_kinds[a->kind]);
        kiln_jsonw_kv_int(w, "window_ms", a->window_ms);
        kiln_jsonw_kv_int(w, "for_ms", a->for_ms);
        kiln_jsonw_kv_int(w, "min_samples", a->min_samples);
        kiln_jsonw_kv_str(w, "severity", a->severity);
        kv_num(w, "drift_share", a->drift_share);
        if (a->kind == KILN_ALERT_CONFIDENCE)
            kv_num(w, "threshold", a->threshold);
        kv_num(w, "max_share", a->max_share);
        kv_num(w, "min_mean", a->min_mean);
        kv_num(w, "p99_ms", a->p99_ms);
        kv_num(w, "max", a->max_rate);
        kv_num(w, "min_accuracy", a->min_accuracy);
        kv_num(w, "min_precision", a->min_precision);
        kv_num(w, "min_recall", a->min_recall);
        if (a->kind == KILN_ALERT_DRIFT)
            kiln_jsonw_kv_bool(w, "trigger_pipeline", a->trigger_pipeline);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

static int parse_top(struct ctx *c, const struct kiln_yn *root, struct kiln_deploy_spec *s)
{
    static const char *const keys[] = { "name",       "description", "model",      "stable",
                                        "candidate",  "strategy",    "steps",      "shadow",
                                        "sticky_key", "analysis",    "monitoring", "alerts",
                                        NULL };
    const struct kiln_yn *strategy = kiln_yn_get(root, "strategy");
    struct kiln_err e = { 0 };
    const char *desc = NULL;
    int rc = check_keys(c, root, "deployment", keys);

    if (rc == KILN_OK)
        rc = get_str(c, root, "name", "deployment", KILN_DEPLOY_NAME_MAX, &s->name);
    if (rc == KILN_OK && s->name == NULL)
        return bad(c, root, "deployment", "'name' is required");
    if (rc == KILN_OK && kiln_deploy_validate_name(s->name, &e) != KILN_OK)
        return bad(c, kiln_yn_get(root, "name"), "name", "%s", e.msg);
    if (rc == KILN_OK)
        rc = get_str(c, root, "description", "deployment", 10000, &desc);
    if (rc == KILN_OK)
        rc = get_str(c, root, "model", "deployment", 1000, &s->model);
    if (rc == KILN_OK && s->model == NULL)
        return bad(c, root, "deployment", "'model' (a registered model name) is required");
    if (rc == KILN_OK)
        rc = get_str(c, root, "stable", "deployment", 255, &s->stable_env);
    if (rc == KILN_OK)
        rc = get_str(c, root, "candidate", "deployment", 255, &s->candidate_env);
    if (rc != KILN_OK)
        return rc;
    if (kiln_registry_validate_alias(s->stable_env, &e) != KILN_OK)
        return bad(c, kiln_yn_get(root, "stable"), "stable", "%s", e.msg);
    if (kiln_registry_validate_alias(s->candidate_env, &e) != KILN_OK)
        return bad(c, kiln_yn_get(root, "candidate"), "candidate", "%s", e.msg);
    if (strcmp(s->stable_env, s->candidate_env) == 0)
        return bad(c, kiln_yn_get(root, "candidate"), "candidate",
                   "the candidate environment must differ from the stable one ('%s')",
                   s->stable_env);
    if (!kiln_yn_is_null(strategy)) {
        if ((rc = scalar(c, strategy, "strategy")) != KILN_OK)
            return rc;
        if (strcmp(strategy->s, "canary") != 0 && strcmp(strategy->s, "shadow") != 0)
            return bad(c, strategy, "strategy", "must be canary or shadow, not '%s'", strategy->s);
        s->strategy = strategy->s;
    }
    rc = get_str(c, root, "sticky_key", "deployment", 100, &s->sticky_key);
    if (rc == KILN_OK)
        rc = parse_steps(c, root, s);
    if (rc == KILN_OK)
        rc = parse_analysis(c, kiln_yn_get(root, "analysis"), s);
    if (rc == KILN_OK)
        rc = parse_monitoring(c, kiln_yn_get(root, "monitoring"), s);
    if (rc == KILN_OK)
        rc = parse_alerts(c, kiln_yn_get(root, "alerts"), s);
    return rc;
}

static void defaults(struct kiln_deploy_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->stable_env = "production";
    s->candidate_env = "canary";
    s->strategy = "canary";
    s->interval_ms = 5000;
    s->min_samples = 100;
    s->score_bins = 10;
    s->report_interval_ms = 2000;
    s->confidence_threshold = 0.6;
    s->drift_window_rows = 1000;
    s->drift_window_ms = 60000;
    s->feedback_capacity = 100000;
    for (int i = 0; i < KILN_DM_COUNT; i++) {
        struct kiln_deploy_check *k = &s->checks[i];
        k->max = k->max_ms = k->max_increase = k->max_ratio = k->min = k->max_drop = NAN;
    }
}

int kiln_deploy_spec_parse(const char *text, size_t len, const char *file, struct kiln_arena *arena,
                           struct kiln_deploy_spec **out, struct kiln_err *err)
{
    struct ctx c = { file != NULL ? file : "deployment", arena, err };
    struct kiln_deploy_spec *s;
    struct kiln_yn *root;
    char *copy;
    int rc;

    *out = NULL;
    if (len > KILN_DEPLOY_SPEC_MAX_BYTES)
        return kiln_err_set(err, KILN_EINVAL, "%s: larger than %zu bytes", c.file,
                            KILN_DEPLOY_SPEC_MAX_BYTES);
    s = kiln_arena_calloc(arena, 1, sizeof(*s));
    copy = kiln_arena_strndup(arena, text, len);
    if (s == NULL || copy == NULL)
        return oom(&c);
    rc = kiln_yaml_load(arena, text, len, c.file, &root, err);
    if (rc != KILN_OK)
        return rc;
    if (root->kind != KILN_YN_MAP)
        return bad(&c, root, "deployment", "expected a mapping (name, model, steps, ...)");
    defaults(s);
    rc = parse_top(&c, root, s);
    if (rc != KILN_OK)
        return rc;
    s->text = copy;
    s->text_len = len;
    *out = s;
    return KILN_OK;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void write_checks(struct kiln_jsonw *w, const struct kiln_deploy_spec *s)
{
    kiln_jsonw_key(w, "metrics");
    kiln_jsonw_obj_begin(w);
    for (int i = 0; i < KILN_DM_COUNT; i++) {
        const struct kiln_deploy_check *k = &s->checks[i];
        if (!k->enabled)
            continue;
        kiln_jsonw_key(w, metric_names[i]);
        kiln_jsonw_obj_begin(w);
        kv_num(w, "max", k->max);
        kv_num(w, "max_ms", k->max_ms);
        kv_num(w, "max_increase", k->max_increase);
        kv_num(w, "max_ratio", k->max_ratio);
        kv_num(w, "min", k->min);
        kv_num(w, "max_drop", k->max_drop);
        kiln_jsonw_kv_int(w, "min_samples", k->min_samples > 0 ? k->min_samples : s->min_samples);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_obj_end(w);
}

void kiln_deploy_spec_write(struct kiln_jsonw *w, const struct kiln_deploy_spec *s)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", s->name);
    kiln_jsonw_kv_str(w, "model", s->model);
    kiln_jsonw_kv_str(w, "stable", s->stable_env);
    kiln_jsonw_kv_str(w, "candidate", s->candidate_env);
    kiln_jsonw_kv_str(w, "strategy", s->strategy);
    kiln_jsonw_key(w, "sticky_key");
    if (s->sticky_key != NULL)
        kiln_jsonw_str(w, s->sticky_key);
    else
        kiln_jsonw_null(w);
    kiln_jsonw_key(w, "steps");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < s->nsteps; i++) {
        kiln_jsonw_obj_begin(w);
        if (s->steps[i].shadow)
            kiln_jsonw_kv_bool(w, "shadow", 1);
        else
            kiln_jsonw_kv_double(w, "weight", s->steps[i].weight);
        kiln_jsonw_kv_int(w, "min_duration_ms", s->steps[i].min_duration_ms);
        kiln_jsonw_kv_int(w, "min_requests", s->steps[i].min_requests);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_key(w, "analysis");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "interval_ms", s->interval_ms);
    kiln_jsonw_kv_int(w, "failure_limit", s->failure_limit);
    kiln_jsonw_kv_int(w, "min_samples", s->min_samples);
    kiln_jsonw_kv_str(w, "inconclusive", s->inconclusive == KILN_DEPLOY_FAIL ? "fail" : "wait");
    kiln_jsonw_kv_int(w, "inconclusive_timeout_ms", s->inconclusive_timeout_ms);
    kiln_jsonw_kv_int(w, "score_bins", s->score_bins);
    kiln_jsonw_key(w, "positive_label");
    if (s->positive_label != NULL)
        kiln_jsonw_str(w, s->positive_label);
    else
        kiln_jsonw_null(w);
    write_checks(w, s);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_key(w, "monitoring");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "report_interval_ms", s->report_interval_ms);
    kiln_jsonw_kv_double(w, "confidence_threshold", s->confidence_threshold);
    kiln_jsonw_kv_int(w, "drift_window_rows", s->drift_window_rows);
    kiln_jsonw_kv_int(w, "drift_window_ms", s->drift_window_ms);
    kiln_jsonw_kv_int(w, "feedback_capacity", s->feedback_capacity);
    kiln_jsonw_obj_end(w);
    write_alert_rules(w, s);
    kiln_jsonw_obj_end(w);
}

/*
 * analysis.c - judges a candidate version against the stable one, metric by metric
 * (deploy.h, docs/deployments.md "Analysis").
 *
 * Each enabled metric gives pass, fail or inconclusive:
 *   - inconclusive when the candidate has fewer samples than the metric's minimum (requests for
 *     error_rate, latency samples for latency_p99, scored rows on both sides for score_psi and
 *     score_js, compared rows for agreement, feedback labels for accuracy, precision, recall),
 *     or when the value is undefined;
 *   - fail when an absolute threshold is crossed, or a threshold relative to the stable version
 *     is crossed while the stable version has its minimum samples too;
 *   - pass otherwise; a relative threshold without enough stable samples leaves the metric
 *     inconclusive (unless an absolute threshold already failed it).
 * The baseline is the stable version's data in the same window, or its data over the whole
 * rollout when the window has too little of it (a step at 100 %).
 *
 * Pure functions; thread-safe.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "deploy/deploy.h"

const char *kiln_deploy_verdict_name(enum kiln_deploy_verdict v)
{
    switch (v) {
    case KILN_VERDICT_PASS:
        return "pass";
    case KILN_VERDICT_FAIL:
        return "fail";
    case KILN_VERDICT_INCONCLUSIVE:
        return "inconclusive";
    }
    return "unknown";
}

/* Value and sample count of metric m for one version. */
static int measure(const struct kiln_deploy_spec *spec, enum kiln_deploy_metric m,
                   const struct kiln_deploy_vstats *v, double *value, uint64_t *samples)
{
    double acc, prec, rec;
    *value = NAN;
    *samples = 0;
    switch (m) {
    case KILN_DM_ERROR_RATE:
        *samples = v->requests;
        if (v->requests > 0)
            *value = (double)v->errors / (double)v->requests;
        break;
    case KILN_DM_LATENCY_P99:
        *samples = v->latency_us.total;
        *value = kiln_hist_quantile(&v->latency_us, 0.99) / 1000.0;
        break;
    case KILN_DM_SCORE_PSI:
    case KILN_DM_SCORE_JS:
        *samples = v->scores.total;
        break;
    case KILN_DM_AGREEMENT:
        *samples = v->compared;
        if (v->compared > 0)
            *value = (double)v->agreed / (double)v->compared;
        break;
    case KILN_DM_ACCURACY:
    case KILN_DM_PRECISION:
    case KILN_DM_RECALL:
        *samples = kiln_deploy_confusion_total(&v->feedback);
        kiln_deploy_confusion_metrics(&v->feedback, spec->positive_label, &acc, &prec, &rec);
        *value = m == KILN_DM_ACCURACY ? acc : m == KILN_DM_PRECISION ? prec : rec;
        break;
    case KILN_DM_COUNT:
        break;
    }
    return KILN_OK;
}

static void append(char *buf, size_t size, const char *fmt, ...) KILN_PRINTF(3, 4);

/* Appends a formatted clause to buf, separated from an earlier one by "; ". */
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    if (len > 0 && len + 2 < size) {
        memcpy(buf + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

/* Applies the thresholds of check k to r (observed and baseline set). */
static void judge(const struct kiln_deploy_check *k, enum kiln_deploy_metric m, uint64_t min,
                  struct kiln_deploy_metric_result *r)
{
    int fail = 0, need_base = 0, base_ok = r->baseline_samples >= min && !isnan(r->baseline);
    double o = r->observed, b = r->baseline;
    char *rule = r->rule, *d = r->detail;
    size_t rs = sizeof(r->rule), ds = sizeof(r->detail);

    rule[0] = d[0] = '\0';
    if (!isnan(k->max)) {
        append(rule, rs, "<= %.6g", k->max);
        if (o > k->max) {
            fail = 1;
            append(d, ds, "%.6g > %.6g", o, k->max);
        }
    }
    if (!isnan(k->max_ms)) {
        append(rule, rs, "<= %.6g ms", k->max_ms);
        if (o > k->max_ms) {
            fail = 1;
            append(d, ds, "p99 %.6g ms > %.6g ms", o, k->max_ms);
        }
    }
    if (!isnan(k->min)) {
        append(rule, rs, ">= %.6g", k->min);
        if (o < k->min) {
            fail = 1;
            append(d, ds, "%.6g < %.6g", o, k->min);
        }
    }
    if (!isnan(k->max_increase)) {
        need_base = 1;
        append(rule, rs, "<= stable + %.6g", k->max_increase);
        if (base_ok && o - b > k->max_increase) {
            fail = 1;
            append(d, ds, "%.6g > stable %.6g + %.6g", o, b, k->max_increase);
        }
    }
    if (!isnan(k->max_ratio)) {
        need_base = 1;
        append(rule, rs, "<= %.6g x stable", k->max_ratio);
        if (base_ok && o > k->max_ratio * b) {
            fail = 1;
            append(d, ds, "p99 %.6g ms > %.6g x stable %.6g ms", o, k->max_ratio, b);
        }
    }
    if (!isnan(k->max_drop)) {
        need_base = 1;
        append(rule, rs, ">= stable - %.6g", k->max_drop);
        if (base_ok && b - o > k->max_drop) {
            fail = 1;
            append(d, ds, "%.6g < stable %.6g - %.6g", o, b, k->max_drop);
        }
    }
    (void)m;
    if (fail) {
        r->verdict = KILN_VERDICT_FAIL;
    } else if (need_base && !base_ok) {
        r->verdict = KILN_VERDICT_INCONCLUSIVE;
        snprintf(d, ds, "stable has %llu of the %llu samples a comparison needs",
                 (unsigned long long)r->baseline_samples, (unsigned long long)min);
    } else {
        r->verdict = KILN_VERDICT_PASS;
        snprintf(d, ds, "%.6g", o);
    }
}

/*
 * Sequential early failure for count metrics with an absolute threshold: when the bad events
 * seen so far already put the rate over the first `min` samples past the threshold, whatever
 * the remaining samples are, the metric fails now instead of waiting for the full sample
 * (error_rate: errors / min > max; agreement and accuracy: misses / min > 1 - min).
 */
static int doomed(const struct kiln_deploy_spec *spec, const struct kiln_deploy_check *k,
                  enum kiln_deploy_metric m, const struct kiln_deploy_vstats *c, uint64_t min,
                  struct kiln_deploy_metric_result *r)
{
    uint64_t bad = 0, total = 0;
    double limit;
    const char *what;
    (void)spec;
    if (m == KILN_DM_ERROR_RATE && !isnan(k->max)) {
        bad = c->errors;
        limit = k->max;
        what = "errors";
    } else if (m == KILN_DM_AGREEMENT && !isnan(k->min)) {
        bad = c->compared - c->agreed;
        limit = 1 - k->min;
        what = "disagreements";
    } else if (m == KILN_DM_ACCURACY && !isnan(k->min)) {
        total = kiln_deploy_confusion_total(&c->feedback);
        for (size_t i = 0; i < c->feedback.n; i++)
            if (strcmp(c->feedback.p[i].pred, c->feedback.p[i].actual) != 0)
                bad += c->feedback.p[i].n;
        (void)total;
        limit = 1 - k->min;
        what = "wrong predictions";
    } else {
        return 0;
    }
    if (!((double)bad / (double)min > limit))
        return 0;
    judge(k, m, min, r);
    r->verdict = KILN_VERDICT_FAIL;
    snprintf(r->detail, sizeof(r->detail),
             "%llu %s in the first %llu samples: the rate over %llu samples cannot meet %s %.6g",
             (unsigned long long)bad, what, (unsigned long long)r->samples, (unsigned long long)min,
             m == KILN_DM_ERROR_RATE ? "<=" : ">=", m == KILN_DM_ERROR_RATE ? k->max : k->min);
    return 1;
}

int kiln_deploy_analyze(const struct kiln_deploy_spec *spec,
                        const struct kiln_deploy_vstats *stable,
                        const struct kiln_deploy_vstats *candidate,
                        const struct kiln_deploy_vstats *stable_total,
                        struct kiln_deploy_analysis *out)
{
    int any_fail = 0, any_inc = 0;
    memset(out, 0, sizeof(*out));
    out->candidate_requests = candidate->requests;
    out->stable_requests = stable->requests;
    for (int i = 0; i < KILN_DM_COUNT; i++) {
        const struct kiln_deploy_check *k = &spec->checks[i];
        struct kiln_deploy_metric_result *r;
        const struct kiln_deploy_vstats *base = stable;
        enum kiln_deploy_metric m = (enum kiln_deploy_metric)i;
        uint64_t min = (uint64_t)(k->min_samples > 0 ? k->min_samples : spec->min_samples);
        double bv;
        uint64_t bs;
        if (!k->enabled)
            continue;
        r = &out->m[out->n++];
        r->metric = m;
        measure(spec, m, candidate, &r->observed, &r->samples);
        measure(spec, m, base, &bv, &bs);
        if (bs < min && stable_total != NULL) {
            base = stable_total;
            measure(spec, m, base, &bv, &bs);
        }
        r->baseline = bv;
        r->baseline_samples = bs;
        if (m == KILN_DM_SCORE_PSI || m == KILN_DM_SCORE_JS) {
            double psi = NAN, js = NAN;
            if (r->samples >= min && bs >= min &&
                kiln_hist_divergence(&base->scores, &candidate->scores, spec->score_bins, &psi,
                                     &js) != KILN_OK)
                return KILN_ENOMEM;
            r->observed = m == KILN_DM_SCORE_PSI ? psi : js;
            r->baseline = NAN;
            /* A divergence needs both sides: count the smaller one. */
            if (bs < r->samples)
                r->samples = bs;
        }
        if (r->samples < min && doomed(spec, k, m, candidate, min, r)) {
            /* Already certain to fail once the minimum sample is reached. */
        } else if (r->samples < min || isnan(r->observed)) {
            r->verdict = KILN_VERDICT_INCONCLUSIVE;
            judge(k, m, min, r);
            r->verdict = KILN_VERDICT_INCONCLUSIVE;
            if (r->samples < min)
                snprintf(r->detail, sizeof(r->detail), "%llu of the %llu samples needed",
                         (unsigned long long)r->samples, (unsigned long long)min);
            else
                snprintf(r->detail, sizeof(r->detail), "undefined on the data so far");
        } else {
            judge(k, m, min, r);
        }
        any_fail |= r->verdict == KILN_VERDICT_FAIL;
        any_inc |= r->verdict == KILN_VERDICT_INCONCLUSIVE;
    }
    out->verdict = any_fail  ? KILN_VERDICT_FAIL
                   : any_inc ? KILN_VERDICT_INCONCLUSIVE
                             : KILN_VERDICT_PASS;
    return KILN_OK;
}

void kiln_deploy_analysis_write(struct kiln_jsonw *w, const struct kiln_deploy_analysis *a)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "verdict", kiln_deploy_verdict_name(a->verdict));
    kiln_jsonw_kv_int(w, "candidate_requests", (int64_t)a->candidate_requests);
    kiln_jsonw_kv_int(w, "stable_requests", (int64_t)a->stable_requests);
    kiln_jsonw_key(w, "metrics");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < a->n; i++) {
        const struct kiln_deploy_metric_result *r = &a->m[i];
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "metric", kiln_deploy_metric_name(r->metric));
        kiln_jsonw_kv_str(w, "verdict", kiln_deploy_verdict_name(r->verdict));
        kiln_jsonw_key(w, "observed");
        kiln_jsonw_double_or_null(w, r->observed);
        kiln_jsonw_key(w, "baseline");
        kiln_jsonw_double_or_null(w, r->baseline);
        kiln_jsonw_kv_int(w, "samples", (int64_t)r->samples);
        kiln_jsonw_kv_int(w, "baseline_samples", (int64_t)r->baseline_samples);
        kiln_jsonw_kv_str(w, "rule", r->rule);
        kiln_jsonw_kv_str(w, "detail", r->detail);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

void kiln_deploy_analysis_summary(const struct kiln_deploy_analysis *a, char *out, size_t size)
{
    enum kiln_deploy_verdict want =
        a->verdict == KILN_VERDICT_PASS ? KILN_VERDICT_PASS : a->verdict;
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->n && len + 4 < size; i++) {
        const struct kiln_deploy_metric_result *r = &a->m[i];
        if (r->verdict != want)
            continue;
        snprintf(out + len, size - len, "%s%s: %s", len > 0 ? "; " : "",
                 kiln_deploy_metric_name(r->metric), r->detail);
        len = strlen(out);
    }
}

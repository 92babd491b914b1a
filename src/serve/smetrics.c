/*
 * smetrics.c - the metric families of the inference server (Prometheus, via monitor/metrics.h).
 *
 *   kiln_serve_requests_total{model,version,protocol,code}         counter
 *   kiln_serve_request_duration_seconds{model,version,protocol}    histogram (0.1 ms .. 10 s)
 *   kiln_serve_prediction_score{model,version}                     histogram: classifiers'
 *       p(class 1) (binary) or probability of the predicted class (multi-class)
 *   kiln_serve_prediction_value{model,version}                     histogram: regressors
 *   kiln_serve_predictions_total{model,version}                    counter: rows predicted
 *   kiln_serve_predicted_class_total{model,version,class}          counter (<= 64 classes)
 *   kiln_serve_requests_in_flight{model}                           gauge
 *   kiln_serve_model_load_seconds{model,version}                   gauge (current versions)
 *   kiln_serve_model_warmup_seconds{model,version}                 gauge (current versions)
 *   kiln_serve_model_info{model,version,uri,flavor,engine,task}    gauge = 1 (current)
 *   kiln_serve_model_reloads_total{model,result}                   counter: swapped,
 *       unchanged, failed
 *   kiln_serve_http_responses_total{code}                          counter: every response,
 *       including those refused before a handler ran (413, 404, 405)
 *   kiln_serve_ready, kiln_serve_http_requests_in_flight           gauges
 *
 * Families are declared once at start-up; children are looked up when a version is loaded
 * (or on the first response with a rare status) and cached, so the request path only does
 * atomic adds. Thread-safety: as monitor/metrics.h.
 */
#include <stdio.h>

#include "serve/serve_int.h"

static const double score_buckets[] = { 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                                        0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0 };
static const double value_buckets[] = {
    -1000, -100, -10, -1, -0.1, 0, 0.1, 1, 10, 100, 1000, 10000
};

static double ready_fn(void *ctx)
{
    struct kiln_serve *s = ctx;
    return atomic_load(&s->ready);
}

static double inflight_fn(void *ctx)
{
    struct kiln_serve *s = ctx;
    return s->http != NULL ? (double)kiln_http_inflight(s->http) : 0.0;
}

struct fam {
    struct kiln_metric_family **out;
    enum kiln_metric_type type;
    const char *name, *help;
    const char *labels[6];
    size_t nlabels;
    const double *buckets;
    size_t nbuckets;
};

int serve_metrics_init(struct kiln_serve *s, struct kiln_err *err)
{
    const double *vb = s->value_buckets != NULL ? s->value_buckets : value_buckets;
    size_t nvb = s->value_buckets != NULL ? s->n_value_buckets : KILN_ARRAY_LEN(value_buckets);
    const struct fam fams[] = {
        { &s->f_req,
          KILN_METRIC_COUNTER,
          "kiln_serve_requests_total",
          "Scoring requests answered, by model, version, protocol (mlflow or oip) and HTTP status.",
          { "model", "version", "protocol", "code" },
          4,
          NULL,
          0 },
        { &s->f_lat,
          KILN_METRIC_HISTOGRAM,
          "kiln_serve_request_duration_seconds",
          "Time from the request's arrival to its answer, by model, version and protocol.",
          { "model", "version", "protocol" },
          3,
          kiln_metric_latency_buckets,
          kiln_metric_latency_nbuckets },
        { &s->f_score,
          KILN_METRIC_HISTOGRAM,
          "kiln_serve_prediction_score",
          "Classifier scores: p(class 1) for binary models, else the predicted class's "
          "probability.",
          { "model", "version" },
          2,
          score_buckets,
          KILN_ARRAY_LEN(score_buckets) },
        { &s->f_value,
          KILN_METRIC_HISTOGRAM,
          "kiln_serve_prediction_value",
          "Regression predictions (the first output).",
          { "model", "version" },
          2,
          vb,
          nvb },
        { &s->f_rows,
          KILN_METRIC_COUNTER,
          "kiln_serve_predictions_total",
          "Rows predicted.",
          { "model", "version" },
          2,
          NULL,
          0 },
        { &s->f_class,
          KILN_METRIC_COUNTER,
          "kiln_serve_predicted_class_total",
          "Rows predicted as each class (models with at most 64 classes).",
          { "model", "version", "class" },
          3,
          NULL,
          0 },
        { &s->f_inflight,
          KILN_METRIC_GAUGE,
          "kiln_serve_requests_in_flight",
          "Scoring requests being processed.",
          { "model" },
          1,
          NULL,
          0 },
        { &s->f_load,
          KILN_METRIC_GAUGE,
          "kiln_serve_model_load_seconds",
          "Time spent loading the model version being served.",
          { "model", "version" },
          2,
          NULL,
          0 },
        { &s->f_warmup,
          KILN_METRIC_GAUGE,
          "kiln_serve_model_warmup_seconds",
          "Time spent warming up the model version being served.",
          { "model", "version" },
          2,
          NULL,
          0 },
        { &s->f_info,
          KILN_METRIC_GAUGE,
          "kiln_serve_model_info",
          "The model version being served (always 1).",
          { "model", "version", "uri", "flavor", "engine", "task" },
          6,
          NULL,
          0 },
        { &s->f_reloads,
          KILN_METRIC_COUNTER,
          "kiln_serve_model_reloads_total",
          "Model reloads: swapped (a new version is served), unchanged, failed.",
          { "model", "result" },
          2,
          NULL,
          0 },
        { &s->f_http,
          KILN_METRIC_COUNTER,
          "kiln_serve_http_responses_total",
          "Every HTTP response of the server, by status.",
          { "code" },
          1,
          NULL,
          0 },
    };
    int rc;

    s->metrics = kiln_metrics_new();
    if (s->metrics == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < KILN_ARRAY_LEN(fams); i++) {
        const struct fam *f = &fams[i];
        rc = kiln_metrics_family(s->metrics, f->type, f->name, f->help, f->labels, f->nlabels,
                                 f->buckets, f->nbuckets, f->out, err);
        if (rc != KILN_OK)
            return rc;
    }
    rc = kiln_metrics_gauge_fn(s->metrics, "kiln_serve_ready",
                               "1 once every model is loaded and warmed up.", ready_fn, s, err);
    if (rc == KILN_OK)
        rc = kiln_metrics_gauge_fn(s->metrics, "kiln_serve_http_requests_in_flight",
                                   "HTTP requests being received or processed.", inflight_fn, s,
                                   err);
    for (size_t i = 0; rc == KILN_OK && i < s->n_slots; i++) {
        struct slot *sl = s->slots[i];
        const char *m[1] = { sl->name };
        const char *r[3][2] = { { sl->name, "swapped" },
                                { sl->name, "unchanged" },
                                { sl->name, "failed" } };
        sl->inflight = kiln_metric_child(s->f_inflight, m);
        sl->swapped = kiln_metric_child(s->f_reloads, r[0]);
        sl->unchanged = kiln_metric_child(s->f_reloads, r[1]);
        sl->failed = kiln_metric_child(s->f_reloads, r[2]);
        if (sl->inflight == NULL || sl->swapped == NULL || sl->unchanged == NULL ||
            sl->failed == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    return rc;
}

void serve_count_http(struct kiln_serve *s, int status)
{
    struct kiln_metric *c;
    if (status < 100 || status > 599)
        status = 599;
    c = atomic_load_explicit(&s->http_codes[status], memory_order_acquire);
    if (c == NULL) {
        char code[8];
        const char *labels[1] = { code };
        snprintf(code, sizeof(code), "%d", status);
        c = kiln_metric_child(s->f_http, labels);
        atomic_store_explicit(&s->http_codes[status], c, memory_order_release);
    }
    kiln_metric_inc(c);
}

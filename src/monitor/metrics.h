/*
 * metrics.h - an in-process metrics registry with Prometheus text exposition (format 0.0.4,
 * valid for `promtool check metrics`).
 *
 * A registry holds families (counter, gauge, histogram), each with fixed label names; a child
 * is one label-value combination. Look a child up once (kiln_metric_child, which creates it on
 * first use under the family's lock) and keep the pointer: updating a child is lock-free
 * (atomics), so request hot paths pay a few atomic adds. Children live until the registry is
 * freed, except that kiln_metric_remove drops one (for a model version that was unloaded);
 * a removed child must no longer be used by its former holders.
 *
 * Callback gauges compute their value at scrape time (in-flight requests, memory).
 *
 * Thread-safety: every function may be called from any thread. Rendering takes each family's
 * lock briefly to walk its children.
 */
#ifndef KILN_MONITOR_METRICS_H
#define KILN_MONITOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct kiln_metrics;
struct kiln_metric_family;
struct kiln_metric;

enum kiln_metric_type {
    KILN_METRIC_COUNTER,
    KILN_METRIC_GAUGE,
    KILN_METRIC_HISTOGRAM,
};

#define KILN_METRIC_MAX_LABELS 6
#define KILN_METRIC_MAX_BUCKETS 24

/* Latency buckets in seconds fit for the sub-10 ms serving tier, up to 10 s. */
extern const double kiln_metric_latency_buckets[];
extern const size_t kiln_metric_latency_nbuckets;

struct kiln_metrics *kiln_metrics_new(void);
void kiln_metrics_free(struct kiln_metrics *m);

/*
 * Declares a family. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__", not "le" for histograms). Buckets are the
 * upper bounds of a histogram (strictly increasing, without +Inf; ignored otherwise).
 * Declaring the same name again returns the existing family when its type and labels match,
 * KILN_EEXIST otherwise. The family belongs to the registry.
 */
int kiln_metrics_family(struct kiln_metrics *m, enum kiln_metric_type type, const char *name,
                        const char *help, const char *const *labels, size_t nlabels,
                        const double *buckets, size_t nbuckets,
                        struct kiln_metric_family **out /* OUT */, struct kiln_err *err);

/* A gauge whose value fn(ctx) computes at each scrape (no labels). */
int kiln_metrics_gauge_fn(struct kiln_metrics *m, const char *name, const char *help,
                          double (*fn)(void *ctx), void *ctx, struct kiln_err *err);

/*
 * The child for these label values (nlabels of them, in the family's order), created on first
 * use. Values are copied. NULL only when out of memory.
 */
struct kiln_metric *kiln_metric_child(struct kiln_metric_family *f, const char *const *values);
/* Drops a child (its series disappears from the exposition). */
void kiln_metric_remove(struct kiln_metric_family *f, const char *const *values);
/*
 * Drops every child whose first n label values are `values` (n <= the family's label count;
 * n == 0 drops all), e.g. all the per-feature series of one model version. Returns how many.
 */
size_t kiln_metric_remove_prefix(struct kiln_metric_family *f, const char *const *values, size_t n);

/* Counters: v >= 0. Gauges: any. */
void kiln_metric_add(struct kiln_metric *c, double v);
void kiln_metric_inc(struct kiln_metric *c);
void kiln_metric_set(struct kiln_metric *c, double v);
/* Histograms. */
void kiln_metric_observe(struct kiln_metric *c, double v);

/* Current value of a counter or gauge, and count/sum of a histogram (for tests and reports). */
double kiln_metric_value(const struct kiln_metric *c);
uint64_t kiln_metric_count(const struct kiln_metric *c);
double kiln_metric_sum(const struct kiln_metric *c);

/* Appends the whole registry in Prometheus text format. */
int kiln_metrics_render(struct kiln_metrics *m, struct kiln_buf *out);

/* Content type of the exposition. */
#define KILN_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif

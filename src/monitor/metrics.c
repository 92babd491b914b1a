/*
 * metrics.c - metrics registry and Prometheus text exposition (see metrics.h).
 *
 * Values are doubles kept in 64-bit atomics (their IEEE bits), updated with compare-and-swap;
 * histogram buckets count observations per bucket (not cumulative) and are accumulated when
 * rendered, so an observation touches exactly one bucket, the count and the sum.
 *
 * Locks: the registry mutex guards the family list; each family mutex guards its child list.
 * Neither is taken on the update path.
 */
#include "monitor/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"

const double kiln_metric_latency_buckets[] = { 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025,
                                               0.005,  0.0075,  0.01,   0.025,   0.05,  0.1,
                                               0.25,   0.5,     1,      2.5,     5,     10 };
const size_t kiln_metric_latency_nbuckets =
    sizeof(kiln_metric_latency_buckets) / sizeof(kiln_metric_latency_buckets[0]);

struct kiln_metric {
    struct kiln_metric *next;
    struct kiln_metric_family *family;
    char *values[KILN_METRIC_MAX_LABELS];
    _Atomic uint64_t value; /* double bits: counter/gauge value, histogram sum */
    _Atomic uint64_t count; /* histogram observations */
    _Atomic uint64_t buckets[KILN_METRIC_MAX_BUCKETS];
};

struct kiln_metric_family {
    struct kiln_metric_family *next;
    enum kiln_metric_type type;
    char *name, *help;
    char *labels[KILN_METRIC_MAX_LABELS];
    size_t nlabels;
    double bounds[KILN_METRIC_MAX_BUCKETS];
    size_t nbounds;
    double (*fn)(void *ctx);
    void *fn_ctx;
    pthread_mutex_t lock;
    struct kiln_metric *children;
};

struct kiln_metrics {
    pthread_mutex_t lock;
    struct kiln_metric_family *families, *last;
};

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static double from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

struct kiln_metrics *kiln_metrics_new(void)
{
    struct kiln_metrics *m = kiln_calloc(1, sizeof(*m));
    if (m != NULL)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void child_free(struct kiln_metric *c, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        kiln_free(c->values[i]);
    kiln_free(c);
}

static void family_free(struct kiln_metric_family *f)
{
    for (struct kiln_metric *c = f->children, *n; c != NULL; c = n) {
        n = c->next;
        child_free(c, f->nlabels);
    }
    for (size_t i = 0; i < f->nlabels; i++)
        kiln_free(f->labels[i]);
    kiln_free(f->name);
    kiln_free(f->help);
    pthread_mutex_destroy(&f->lock);
    kiln_free(f);
}

void kiln_metrics_free(struct kiln_metrics *m)
{
    if (m == NULL)
        return;
    for (struct kiln_metric_family *f = m->families, *n; f != NULL; f = n) {
        n = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->lock);
    kiln_free(m);
}

static int valid_name(const char *s, int allow_colon)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static struct kiln_metric_family *find_family(struct kiln_metrics *m, const char *name)
{
    for (struct kiln_metric_family *f = m->families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static int check_args(enum kiln_metric_type type, const char *name, const char *const *labels,
                      size_t nlabels, const double *buckets, size_t nbuckets, struct kiln_err *err)
{
    if (!valid_name(name, 1))
        return kiln_err_set(err, KILN_EINVAL, "invalid metric name '%s'", name);
    if (nlabels > KILN_METRIC_MAX_LABELS)
        return kiln_err_set(err, KILN_EINVAL, "metric '%s': too many labels", name);
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(labels[i], 0) || strncmp(labels[i], "__", 2) == 0 ||
            (type == KILN_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return kiln_err_set(err, KILN_EINVAL, "metric '%s': invalid label name '%s'", name,
                                labels[i]);
    }
    if (type == KILN_METRIC_HISTOGRAM) {
        if (nbuckets == 0 || nbuckets > KILN_METRIC_MAX_BUCKETS)
            return kiln_err_set(err, KILN_EINVAL, "histogram '%s': 1 to %d buckets", name,
                                KILN_METRIC_MAX_BUCKETS);
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                return kiln_err_set(err, KILN_EINVAL,
                                    "histogram '%s': buckets must be finite and increasing", name);
    }
    return KILN_OK;
}

static int same_shape(const struct kiln_metric_family *f, enum kiln_metric_type type,
                      const char *const *labels, size_t nlabels)
{
    if (f->type != type || f->nlabels != nlabels || f->fn != NULL)
        return 0;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return 0;
    return 1;
}

static int add_family(struct kiln_metrics *m, struct kiln_metric_family *f)
{
    if (m->last != NULL)
        m->last->next = f;
    else
        m->families = f;
    m->last = f;
    return KILN_OK;
}

static struct kiln_metric_family *family_new(enum kiln_metric_type type, const char *name,
                                             const char *help)
{
    struct kiln_metric_family *f = kiln_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->type = type;
    f->name = kiln_strdup(name);
    f->help = kiln_strdup(help != NULL ? help : "");
    if (f->name == NULL || f->help == NULL) {
        family_free(f);
        return NULL;
    }
    return f;
}

int kiln_metrics_family(struct kiln_metrics *m, enum kiln_metric_type type, const char *name,
                        const char *help, const char *const *labels, size_t nlabels,
                        const double *buckets, size_t nbuckets, struct kiln_metric_family **out,
                        struct kiln_err *err)
{
    struct kiln_metric_family *f;
    int rc = check_args(type, name, labels, nlabels, buckets, nbuckets, err);
    if (rc != KILN_OK)
        return rc;
    pthread_mutex_lock(&m->lock);
    f = find_family(m, name);
    if (f != NULL) {
        pthread_mutex_unlock(&m->lock);
        if (!same_shape(f, type, labels, nlabels))
            return kiln_err_set(err, KILN_EEXIST, "metric '%s' already exists with another shape",
                                name);
        *out = f;
        return KILN_OK;
    }
    f = family_new(type, name, help);
    if (f == NULL) {
        pthread_mutex_unlock(&m->lock);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nlabels; i++) {
        f->labels[i] = kiln_strdup(labels[i]);
        f->nlabels = i + 1;
        if (f->labels[i] == NULL) {
            family_free(f);
            pthread_mutex_unlock(&m->lock);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    if (type == KILN_METRIC_HISTOGRAM) {
        memcpy(f->bounds, buckets, nbuckets * sizeof(*buckets));
        f->nbounds = nbuckets;
    }
    add_family(m, f);
    pthread_mutex_unlock(&m->lock);
    *out = f;
    return KILN_OK;
}

int kiln_metrics_gauge_fn(struct kiln_metrics *m, const char *name, const char *help,
                          double (*fn)(void *ctx), void *ctx, struct kiln_err *err)
{
    struct kiln_metric_family *f;
    if (!valid_name(name, 1))
        return kiln_err_set(err, KILN_EINVAL, "invalid metric name '%s'", name);
    pthread_mutex_lock(&m->lock);
    if (find_family(m, name) != NULL) {
        pthread_mutex_unlock(&m->lock);
        return kiln_err_set(err, KILN_EEXIST, "metric '%s' already exists", name);
    }
    f = family_new(KILN_METRIC_GAUGE, name, help);
    if (f == NULL) {
        pthread_mutex_unlock(&m->lock);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    f->fn = fn;
    f->fn_ctx = ctx;
    add_family(m, f);
    pthread_mutex_unlock(&m->lock);
    return KILN_OK;
}

static int values_match(const struct kiln_metric *c, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c->values[i], values[i] != NULL ? values[i] : "") != 0)
            return 0;
    return 1;
}

struct kiln_metric *kiln_metric_child(struct kiln_metric_family *f, const char *const *values)
{
    struct kiln_metric *c;
    pthread_mutex_lock(&f->lock);
    for (c = f->children; c != NULL; c = c->next)
        if (values_match(c, values, f->nlabels))
            break;
    if (c == NULL) {
        c = kiln_calloc(1, sizeof(*c));
        for (size_t i = 0; c != NULL && i < f->nlabels; i++) {
            c->values[i] = kiln_strdup(values[i] != NULL ? values[i] : "");
            if (c->values[i] == NULL) {
                child_free(c, f->nlabels);
                c = NULL;
            }
        }
        if (c != NULL) {
            c->family = f;
            atomic_init(&c->value, bits(0.0));
            c->next = f->children;
            f->children = c;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return c;
}

void kiln_metric_remove(struct kiln_metric_family *f, const char *const *values)
{
    pthread_mutex_lock(&f->lock);
    for (struct kiln_metric **p = &f->children; *p != NULL; p = &(*p)->next) {
        if (values_match(*p, values, f->nlabels)) {
            struct kiln_metric *c = *p;
            *p = c->next;
            child_free(c, f->nlabels);
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

size_t kiln_metric_remove_prefix(struct kiln_metric_family *f, const char *const *values, size_t n)
{
    size_t removed = 0;
    if (n > f->nlabels)
        return 0;
    pthread_mutex_lock(&f->lock);
    for (struct kiln_metric **p = &f->children; *p != NULL;) {
        struct kiln_metric *c = *p;
        if (values_match(c, values, n)) {
            *p = c->next;
            child_free(c, f->nlabels);
            removed++;
        } else {
            p = &c->next;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return removed;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, bits(from_bits(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void kiln_metric_add(struct kiln_metric *c, double v)
{
    if (c != NULL)
        atomic_add_double(&c->value, v);
}

void kiln_metric_inc(struct kiln_metric *c)
{
    kiln_metric_add(c, 1.0);
}

void kiln_metric_set(struct kiln_metric *c, double v)
{
    if (c != NULL)
        atomic_store_explicit(&c->value, bits(v), memory_order_relaxed);
}

void kiln_metric_observe(struct kiln_metric *c, double v)
{
    const struct kiln_metric_family *f;
    size_t i;
    if (c == NULL || isnan(v))
        return;
    f = c->family;
    for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
        ;
    if (i < f->nbounds)
        atomic_fetch_add_explicit(&c->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
    atomic_add_double(&c->value, v);
}

double kiln_metric_value(const struct kiln_metric *c)
{
    return from_bits(atomic_load((_Atomic uint64_t *)(uintptr_t)&c->value));
}

uint64_t kiln_metric_count(const struct kiln_metric *c)
{
    return atomic_load((_Atomic uint64_t *)(uintptr_t)&c->count);
}

double kiln_metric_sum(const struct kiln_metric *c)
{
    return kiln_metric_value(c);
}

static int put_value(struct kiln_buf *out, double v)
{
    char tmp[40];
    if (isnan(v))
        return kiln_buf_puts(out, "NaN");
    if (isinf(v))
        return kiln_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    kiln_format_double(v, tmp, sizeof(tmp));
    return kiln_buf_puts(out, tmp);
}

/* Label value escaping: backslash, double quote and newline. */
static int put_escaped(struct kiln_buf *out, const char *s, int help)
{
    int rc = KILN_OK;
    for (; *s != '\0' && rc == KILN_OK; s++) {
        if (*s == '\\')
            rc = kiln_buf_puts(out, "\\\\");
        else if (*s == '\n')
            rc = kiln_buf_puts(out, "\\n");
        else if (*s == '"' && !help)
            rc = kiln_buf_puts(out, "\\\"");
        else
            rc = kiln_buf_putc(out, *s);
    }
    return rc;
}

static int put_labels(struct kiln_buf *out, const struct kiln_metric_family *f,
                      const struct kiln_metric *c, const char *le)
{
    int rc = KILN_OK;
    size_t n = f->nlabels + (le != NULL);
    if (n == 0)
        return KILN_OK;
    rc = kiln_buf_putc(out, '{');
    for (size_t i = 0; i < f->nlabels && rc == KILN_OK; i++) {
        rc = kiln_buf_printf(out, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
        if (rc == KILN_OK)
            rc = put_escaped(out, c->values[i], 0);
        if (rc == KILN_OK)
            rc = kiln_buf_putc(out, '"');
    }
    if (rc == KILN_OK && le != NULL)
        rc = kiln_buf_printf(out, "%sle=\"%s\"", f->nlabels > 0 ? "," : "", le);
    if (rc == KILN_OK)
        rc = kiln_buf_putc(out, '}');
    return rc;
}

static int render_histogram(struct kiln_buf *out, const struct kiln_metric_family *f,
                            const struct kiln_metric *c)
{
    uint64_t cum = 0, count = atomic_load((_Atomic uint64_t *)(uintptr_t)&c->count);
    int rc = KILN_OK;
    char le[40];
    for (size_t i = 0; i <= f->nbounds && rc == KILN_OK; i++) {
        if (i < f->nbounds) {
            cum += atomic_load((_Atomic uint64_t *)(uintptr_t)&c->buckets[i]);
            kiln_format_double(f->bounds[i], le, sizeof(le));
        } else {
            /* +Inf equals the count; read once so the series stays monotonic. */
            cum = count > cum ? count : cum;
            snprintf(le, sizeof(le), "+Inf");
        }
        rc = kiln_buf_printf(out, "%s_bucket", f->name);
        if (rc == KILN_OK)
            rc = put_labels(out, f, c, le);
        if (rc == KILN_OK)
            rc = kiln_buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    if (rc == KILN_OK)
        rc = kiln_buf_printf(out, "%s_sum", f->name);
    if (rc == KILN_OK)
        rc = put_labels(out, f, c, NULL);
    if (rc == KILN_OK)
        rc = kiln_buf_putc(out, ' ');
    if (rc == KILN_OK)
        rc = put_value(out, kiln_metric_sum(c));
    if (rc == KILN_OK)
        rc = kiln_buf_printf(out, "\n%s_count", f->name);
    if (rc == KILN_OK)
        rc = put_labels(out, f, c, NULL);
    if (rc == KILN_OK)
        rc = kiln_buf_printf(out, " %llu\n", (unsigned long long)cum);
    return rc;
}

static int render_family(struct kiln_buf *out, struct kiln_metric_family *f)
{
    static const char *const type_names[] = { "counter", "gauge", "histogram" };
    int rc = kiln_buf_printf(out, "# HELP %s ", f->name);
    if (rc == KILN_OK)
        rc = put_escaped(out, f->help, 1);
    if (rc == KILN_OK)
        rc = kiln_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    if (rc != KILN_OK)
        return rc;
    if (f->fn != NULL) {
        rc = kiln_buf_printf(out, "%s ", f->name);
        if (rc == KILN_OK)
            rc = put_value(out, f->fn(f->fn_ctx));
        return rc == KILN_OK ? kiln_buf_putc(out, '\n') : rc;
    }
    pthread_mutex_lock(&f->lock);
    for (struct kiln_metric *c = f->children; c != NULL && rc == KILN_OK; c = c->next) {
        if (f->type == KILN_METRIC_HISTOGRAM) {
            rc = render_histogram(out, f, c);
            continue;
        }
        rc = kiln_buf_puts(out, f->name);
        if (rc == KILN_OK)
            rc = put_labels(out, f, c, NULL);
        if (rc == KILN_OK)
            rc = kiln_buf_putc(out, ' ');
        if (rc == KILN_OK)
            rc = put_value(out, kiln_metric_value(c));
        if (rc == KILN_OK)
            rc = kiln_buf_putc(out, '\n');
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int kiln_metrics_render(struct kiln_metrics *m, struct kiln_buf *out)
{
    int rc = KILN_OK;
    pthread_mutex_lock(&m->lock);
    for (struct kiln_metric_family *f = m->families; f != NULL && rc == KILN_OK; f = f->next)
        rc = render_family(out, f);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

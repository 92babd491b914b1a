/*
 * stats.c - per-version statistics (struct kiln_deploy_vstats): counters, histograms and the
 * feedback confusion table, their merge, metrics and JSON wire form, plus the sticky split.
 *
 * A confusion table keeps at most KILN_DEPLOY_MAX_PAIRS (predicted, actual) pairs; labels past
 * that are counted in `dropped` so the loss is visible. Labels are owned copies. Not
 * thread-safe: one owner per object.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "deploy/deploy.h"

/* ---- confusion -------------------------------------------------------------------------- */

void kiln_deploy_confusion_release(struct kiln_deploy_confusion *c)
{
    for (size_t i = 0; i < c->n; i++) {
        kiln_free(c->p[i].pred);
        kiln_free(c->p[i].actual);
    }
    kiln_free(c->p);
    memset(c, 0, sizeof(*c));
}

int kiln_deploy_confusion_add(struct kiln_deploy_confusion *c, const char *pred, const char *actual,
                              uint64_t n)
{
    struct kiln_deploy_pair *p;
    if (strlen(pred) > KILN_DEPLOY_LABEL_MAX || strlen(actual) > KILN_DEPLOY_LABEL_MAX)
        return KILN_EINVAL;
    if (n == 0)
        return KILN_OK;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->p[i].pred, pred) == 0 && strcmp(c->p[i].actual, actual) == 0) {
            c->p[i].n += n;
            return KILN_OK;
        }
    if (c->n == KILN_DEPLOY_MAX_PAIRS) {
        c->dropped += n;
        return KILN_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        p = kiln_reallocarray(c->p, cap, sizeof(*p));
        if (p == NULL)
            return KILN_ENOMEM;
        c->p = p;
        c->cap = cap;
    }
    p = &c->p[c->n];
    p->pred = kiln_strdup(pred);
    p->actual = kiln_strdup(actual);
    if (p->pred == NULL || p->actual == NULL) {
        kiln_free(p->pred);
        kiln_free(p->actual);
        return KILN_ENOMEM;
    }
    p->n = n;
    c->n++;
    return KILN_OK;
}

uint64_t kiln_deploy_confusion_total(const struct kiln_deploy_confusion *c)
{
    uint64_t t = 0;
    for (size_t i = 0; i < c->n; i++)
        t += c->p[i].n;
    return t;
}

/* Precision and recall of one label: *tp, *predicted (tp + fp), *actual (tp + fn). */
static void label_counts(const struct kiln_deploy_confusion *c, const char *label, uint64_t *tp,
                         uint64_t *predicted, uint64_t *actual)
{
    *tp = *predicted = *actual = 0;
    for (size_t i = 0; i < c->n; i++) {
        int p = strcmp(c->p[i].pred, label) == 0, a = strcmp(c->p[i].actual, label) == 0;
        if (p)
            *predicted += c->p[i].n;
        if (a)
            *actual += c->p[i].n;
        if (p && a)
            *tp += c->p[i].n;
    }
}

void kiln_deploy_confusion_metrics(const struct kiln_deploy_confusion *c, const char *positive,
                                   double *accuracy, double *precision, double *recall)
{
    uint64_t total = 0, right = 0, tp, pred, act;
    double psum = 0, rsum = 0;
    size_t nlabels = 0;

    for (size_t i = 0; i < c->n; i++) {
        total += c->p[i].n;
        if (strcmp(c->p[i].pred, c->p[i].actual) == 0)
            right += c->p[i].n;
    }
    *accuracy = total > 0 ? (double)right / (double)total : NAN;
    *precision = *recall = NAN;
    if (total == 0)
        return;
    if (positive != NULL) {
        label_counts(c, positive, &tp, &pred, &act);
        *precision = pred > 0 ? (double)tp / (double)pred : NAN;
        *recall = act > 0 ? (double)tp / (double)act : NAN;
        return;
    }
    /* Macro averages over every label seen (predicted or actual), each once, with 0 for an
     * undefined precision or recall (scikit-learn's average='macro', zero_division=0). */
    for (size_t i = 0; i < 2 * c->n; i++) {
        const char *label = i < c->n ? c->p[i].actual : c->p[i - c->n].pred;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(j < c->n ? c->p[j].actual : c->p[j - c->n].pred, label) == 0;
        if (seen)
            continue;
        label_counts(c, label, &tp, &pred, &act);
        psum += pred > 0 ? (double)tp / (double)pred : 0;
        rsum += act > 0 ? (double)tp / (double)act : 0;
        nlabels++;
    }
    *precision = psum / (double)nlabels;
    *recall = rsum / (double)nlabels;
}

/* ---- vstats -------------------------------------------------------------------------------- */

void kiln_deploy_vstats_init(struct kiln_deploy_vstats *v, int64_t version)
{
    memset(v, 0, sizeof(*v));
    v->version = version;
    kiln_hist_init(&v->latency_us);
    kiln_hist_init(&v->scores);
    kiln_hist_init(&v->confidence);
}

void kiln_deploy_vstats_release(struct kiln_deploy_vstats *v)
{
    kiln_hist_release(&v->latency_us);
    kiln_hist_release(&v->scores);
    kiln_hist_release(&v->confidence);
    kiln_deploy_confusion_release(&v->feedback);
    kiln_deploy_vstats_init(v, v->version);
}

void kiln_deploy_vstats_reset(struct kiln_deploy_vstats *v)
{
    kiln_deploy_vstats_release(v);
}

int kiln_deploy_vstats_merge(struct kiln_deploy_vstats *dst, const struct kiln_deploy_vstats *src)
{
    int rc = KILN_OK;
    dst->requests += src->requests;
    dst->errors += src->errors;
    dst->rows += src->rows;
    dst->compared += src->compared;
    dst->agreed += src->agreed;
    if (rc == KILN_OK)
        rc = kiln_hist_merge(&dst->latency_us, &src->latency_us);
    if (rc == KILN_OK)
        rc = kiln_hist_merge(&dst->scores, &src->scores);
    if (rc == KILN_OK)
        rc = kiln_hist_merge(&dst->confidence, &src->confidence);
    for (size_t i = 0; rc == KILN_OK && i < src->feedback.n; i++)
        rc = kiln_deploy_confusion_add(&dst->feedback, src->feedback.p[i].pred,
                                       src->feedback.p[i].actual, src->feedback.p[i].n);
    dst->feedback.dropped += src->feedback.dropped;
    return rc;
}

void kiln_deploy_vstats_write(struct kiln_jsonw *w, const struct kiln_deploy_vstats *v)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "version", v->version);
    kiln_jsonw_kv_int(w, "requests", (int64_t)v->requests);
    kiln_jsonw_kv_int(w, "errors", (int64_t)v->errors);
    kiln_jsonw_kv_int(w, "rows", (int64_t)v->rows);
    kiln_jsonw_kv_int(w, "compared", (int64_t)v->compared);
    kiln_jsonw_kv_int(w, "agreed", (int64_t)v->agreed);
    kiln_jsonw_key(w, "latency_us");
    kiln_hist_write(w, &v->latency_us);
    kiln_jsonw_key(w, "scores");
    kiln_hist_write(w, &v->scores);
    kiln_jsonw_key(w, "confidence");
    kiln_hist_write(w, &v->confidence);
    kiln_jsonw_key(w, "feedback");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < v->feedback.n; i++) {
        kiln_jsonw_arr_begin(w);
        kiln_jsonw_str(w, v->feedback.p[i].pred);
        kiln_jsonw_str(w, v->feedback.p[i].actual);
        kiln_jsonw_int(w, (int64_t)v->feedback.p[i].n);
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

#define MAX_COUNT ((int64_t)1 << 53)

static int read_counter(const json_t *obj, const char *key, const char *what, uint64_t *out,
                        struct kiln_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_COUNT)
        return kiln_err_set(err, KILN_EINVAL, "%s.%s: expected an integer between 0 and 2^53", what,
                            key);
    *out = (uint64_t)json_integer_value(v);
    return KILN_OK;
}

static int read_hist(const json_t *obj, const char *key, const char *what, struct kiln_hist *h,
                     struct kiln_err *err)
{
    const json_t *v = json_object_get(obj, key);
    char sub[160];
    struct kiln_hist tmp;
    int rc;
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    snprintf(sub, sizeof(sub), "%s.%s", what, key);
    rc = kiln_hist_read(v, sub, &tmp, err);
    if (rc == KILN_OK) {
        kiln_hist_release(h);
        *h = tmp;
    } else {
        kiln_hist_release(&tmp);
    }
    return rc;
}

static int read_feedback(const json_t *obj, const char *what, struct kiln_deploy_confusion *c,
                         struct kiln_err *err)
{
    const json_t *fb = json_object_get(obj, "feedback"), *e;
    size_t i;
    if (fb == NULL || json_is_null(fb))
        return KILN_OK;
    if (!json_is_array(fb) || json_array_size(fb) > KILN_DEPLOY_MAX_PAIRS)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s.feedback: expected at most %d [predicted, actual, count] triples",
                            what, KILN_DEPLOY_MAX_PAIRS);
    json_array_foreach(fb, i, e)
    {
        const char *p = json_string_value(json_array_get(e, 0));
        const char *a = json_string_value(json_array_get(e, 1));
        const json_t *n = json_array_get(e, 2);
        int rc;
        if (!json_is_array(e) || json_array_size(e) != 3 || p == NULL || a == NULL ||
            !json_is_integer(n) || json_integer_value(n) < 0 || json_integer_value(n) > MAX_COUNT)
            return kiln_err_set(err, KILN_EINVAL,
                                "%s.feedback[%zu]: expected [predicted label, actual label, "
                                "count]",
                                what, i);
        rc = kiln_deploy_confusion_add(c, p, a, (uint64_t)json_integer_value(n));
        if (rc == KILN_EINVAL)
            return kiln_err_set(err, rc, "%s.feedback[%zu]: labels longer than %d bytes", what, i,
                                KILN_DEPLOY_LABEL_MAX);
        if (rc != KILN_OK)
            return kiln_err_set(err, rc, "out of memory");
    }
    return KILN_OK;
}

int kiln_deploy_vstats_read(const json_t *obj, const char *what, struct kiln_deploy_vstats *v,
                            struct kiln_err *err)
{
    const json_t *ver;
    int rc = KILN_OK;
    kiln_deploy_vstats_init(v, 0);
    if (!json_is_object(obj))
        return kiln_err_set(err, KILN_EINVAL, "%s: expected an object", what);
    ver = json_object_get(obj, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1)
        return kiln_err_set(err, KILN_EINVAL, "%s.version: expected a version number (>= 1)", what);
    v->version = json_integer_value(ver);
    if (rc == KILN_OK)
        rc = read_counter(obj, "requests", what, &v->requests, err);
    if (rc == KILN_OK)
        rc = read_counter(obj, "errors", what, &v->errors, err);
    if (rc == KILN_OK)
        rc = read_counter(obj, "rows", what, &v->rows, err);
    if (rc == KILN_OK)
        rc = read_counter(obj, "compared", what, &v->compared, err);
    if (rc == KILN_OK)
        rc = read_counter(obj, "agreed", what, &v->agreed, err);
    if (rc == KILN_OK && v->errors > v->requests)
        rc = kiln_err_set(err, KILN_EINVAL, "%s.errors: more errors than requests", what);
    if (rc == KILN_OK && v->agreed > v->compared)
        rc = kiln_err_set(err, KILN_EINVAL, "%s.agreed: more agreements than comparisons", what);
    if (rc == KILN_OK)
        rc = read_hist(obj, "latency_us", what, &v->latency_us, err);
    if (rc == KILN_OK)
        rc = read_hist(obj, "scores", what, &v->scores, err);
    if (rc == KILN_OK)
        rc = read_hist(obj, "confidence", what, &v->confidence, err);
    if (rc == KILN_OK)
        rc = read_feedback(obj, what, &v->feedback, err);
    return rc;
}

/* ---- split ------------------------------------------------------------------------------- */

uint64_t kiln_deploy_key_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int kiln_deploy_split(uint64_t hash, double weight)
{
    if (!(weight > 0))
        return 0;
    return (double)(hash % 10000) < weight * 100.0;
}

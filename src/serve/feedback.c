/*
 * feedback.c - a replica's recent predictions and the ground-truth labels joined with them
 * (POST /feedback on `kiln serve --deployment`; docs/deployments.md, "Feedback").
 *
 * The table remembers the last `cap` predictions (the plan's feedback_capacity) in a ring,
 * oldest first, indexed by request id in a chained hash table whose links are ring positions
 * (so an entry costs one allocation: its id and label). A label for a remembered id counts
 * (predicted, actual) once for the version that answered and forgets the prediction, so a
 * label sent twice is counted once; a label for an unknown id (too old, another replica's, or
 * never seen) is answered as unmatched and dropped. Counts go to the next report (`fresh`)
 * and to the version's running totals (`total`, the accuracy/precision/recall gauges).
 *
 * Predictions of requests whose id the caller gave are also queued for the control plane
 * (at most FB_MAX_SENT between two reports; older ones are dropped and counted).
 *
 * Bodies: {"labels": [{"request_id", "label"}, ...]} or one {"request_id", "label"}; the label
 * is a string, or a number (written as kiln writes class labels: integers without a
 * fraction). The whole body is checked before anything changes.
 *
 * Threads: every function takes t->mu (HTTP workers record and apply; the report thread
 * takes).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "serve/replica_int.h"

#define MAX_LABELS 100000

struct fb_entry {
    uint32_t hnext; /* ring index + 1 of the next entry in the chain, 0 = end */
    int64_t version;
    char *label; /* inside the same allocation, after id */
    char id[];
};

int fb_init(struct fb_table *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    if (cap == 0)
        return KILN_OK;
    if (cap > UINT32_MAX / 4)
        cap = UINT32_MAX / 4;
    t->nslots = 16;
    while (t->nslots < cap * 2)
        t->nslots *= 2;
    t->ring = kiln_calloc(cap, sizeof(*t->ring));
    t->slots = kiln_calloc(t->nslots, sizeof(*t->slots));
    if (t->ring == NULL || t->slots == NULL) {
        fb_release(t);
        return KILN_ENOMEM;
    }
    t->cap = cap;
    return KILN_OK;
}

void fb_release(struct fb_table *t)
{
    for (size_t i = 0; t->ring != NULL && i < t->cap; i++)
        kiln_free(t->ring[i]);
    kiln_free(t->ring);
    kiln_free(t->slots);
    for (size_t i = 0; i < t->nsent; i++) {
        kiln_free(t->sent[i].id);
        kiln_free(t->sent[i].label);
    }
    kiln_free(t->sent);
    kiln_free(t->pairs);
    pthread_mutex_destroy(&t->mu);
    memset(t, 0, sizeof(*t));
}

static uint32_t *bucket(struct fb_table *t, const char *id, size_t len)
{
    return &t->slots[kiln_deploy_key_hash(id, len) & (t->nslots - 1)];
}

/* Unlinks and frees the entry at ring index i (if any). */
static void drop(struct fb_table *t, size_t i)
{
    struct fb_entry *e = t->ring[i];
    uint32_t *link;
    if (e == NULL)
        return;
    for (link = bucket(t, e->id, strlen(e->id)); *link != 0; link = &t->ring[*link - 1]->hnext)
        if (*link == i + 1) {
            *link = e->hnext;
            break;
        }
    kiln_free(e);
    t->ring[i] = NULL;
}

/* Ring index of the entry for id, or -1. */
static long find(struct fb_table *t, const char *id, size_t len)
{
    if (t->cap == 0)
        return -1;
    for (uint32_t l = *bucket(t, id, len); l != 0; l = t->ring[l - 1]->hnext) {
        const struct fb_entry *e = t->ring[l - 1];
        if (strlen(e->id) == len && memcmp(e->id, id, len) == 0)
            return (long)l - 1;
    }
    return -1;
}

static int queue_sent(struct fb_table *t, const char *id, size_t id_len, int64_t version,
                      const char *label)
{
    struct kiln_deploy_prediction *p;
    if (t->nsent == FB_MAX_SENT) {
        t->sent_dropped++;
        return KILN_OK;
    }
    if (t->nsent == t->capsent) {
        size_t cap = t->capsent ? t->capsent * 2 : 64;
        p = kiln_reallocarray(t->sent, cap, sizeof(*p));
        if (p == NULL)
            return KILN_ENOMEM;
        t->sent = p;
        t->capsent = cap;
    }
    p = &t->sent[t->nsent];
    p->id = kiln_strndup(id, id_len);
    p->label = kiln_strdup(label);
    p->version = version;
    if (p->id == NULL || p->label == NULL) {
        kiln_free(p->id);
        kiln_free(p->label);
        return KILN_ENOMEM;
    }
    t->nsent++;
    return KILN_OK;
}

int fb_record(struct fb_table *t, const char *id, size_t id_len, int64_t version, const char *label,
              int send)
{
    size_t llen = strlen(label), i;
    struct fb_entry *e;
    long old;
    int rc = KILN_OK;

    if (t->cap == 0 || id_len == 0 || id_len > FB_ID_MAX || llen > KILN_DEPLOY_LABEL_MAX)
        return KILN_OK;
    e = kiln_malloc(sizeof(*e) + id_len + 1 + llen + 1);
    if (e == NULL)
        return KILN_ENOMEM;
    memcpy(e->id, id, id_len);
    e->id[id_len] = '\0';
    e->label = e->id + id_len + 1;
    memcpy(e->label, label, llen + 1);
    e->version = version;
    pthread_mutex_lock(&t->mu);
    old = find(t, id, id_len);
    if (old >= 0) /* the same id again: the newest prediction wins */
        drop(t, (size_t)old);
    if (t->n < t->cap) {
        i = (t->head + t->n++) % t->cap;
    } else {
        i = t->head;
        t->head = (t->head + 1) % t->cap;
    }
    drop(t, i);
    t->ring[i] = e;
    e->hnext = *bucket(t, e->id, id_len);
    *bucket(t, e->id, id_len) = (uint32_t)i + 1;
    if (send)
        rc = queue_sent(t, id, id_len, version, label);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* The pair (version, pred, actual), or NULL when it is not counted yet. */
static struct fb_pair *pair_find(struct fb_table *t, int64_t version, const char *pred,
                                 const char *actual)
{
    for (size_t i = 0; i < t->npairs; i++) {
        struct fb_pair *p = &t->pairs[i];
        if (p->version == version && strcmp(p->pred, pred) == 0 && strcmp(p->actual, actual) == 0)
            return p;
    }
    return NULL;
}

/* Makes room for `extra` more pairs (so that counting cannot fail). KILN_ENOMEM. */
static int pair_reserve(struct fb_table *t, size_t extra)
{
    struct fb_pair *p;
    size_t want = t->npairs + extra;
    if (want > FB_MAX_PAIRS)
        want = FB_MAX_PAIRS;
    if (want <= t->cappairs)
        return KILN_OK;
    p = kiln_reallocarray(t->pairs, want, sizeof(*p));
    if (p == NULL)
        return KILN_ENOMEM;
    t->pairs = p;
    t->cappairs = want;
    return KILN_OK;
}

/* Counts one label (room was reserved). */
static void pair_count(struct fb_table *t, int64_t version, const char *pred, const char *actual)
{
    struct fb_pair *p = pair_find(t, version, pred, actual);
    if (p == NULL) {
        if (t->npairs == t->cappairs) {
            t->dropped++;
            return;
        }
        p = &t->pairs[t->npairs++];
        memset(p, 0, sizeof(*p));
        p->version = version;
        snprintf(p->pred, sizeof(p->pred), "%s", pred);
        snprintf(p->actual, sizeof(p->actual), "%s", actual);
    }
    p->fresh++;
    p->total++;
}

struct label {
    const char *src; /* borrowed from the parsed body */
    char *id;        /* owned copy */
    char text[KILN_DEPLOY_LABEL_MAX + 1];
};

static int read_label(const json_t *e, size_t i, int single, struct label *out,
                      struct kiln_err *err)
{
    const json_t *id = json_object_get(e, "request_id"), *l = json_object_get(e, "label");
    char at[48] = "";
    if (!single)
        snprintf(at, sizeof(at), "labels[%zu].", i);
    if (!json_is_object(e))
        return kiln_err_set(err, KILN_EINVAL, "labels[%zu]: expected an object", i);
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > FB_ID_MAX ||
        strlen(json_string_value(id)) != json_string_length(id))
        return kiln_err_set(err, KILN_EINVAL, "%srequest_id: expected a string of 1 to %d bytes",
                            at, FB_ID_MAX);
    out->src = json_string_value(id);
    if (json_is_string(l) && json_string_length(l) <= KILN_DEPLOY_LABEL_MAX &&
        strlen(json_string_value(l)) == json_string_length(l)) {
        memcpy(out->text, json_string_value(l), json_string_length(l) + 1);
    } else if (json_is_integer(l)) {
        snprintf(out->text, sizeof(out->text), "%lld", (long long)json_integer_value(l));
    } else if (json_is_real(l) && isfinite(json_real_value(l))) {
        double v = json_real_value(l);
        if (v == floor(v) && fabs(v) < 1e15)
            snprintf(out->text, sizeof(out->text), "%lld", (long long)v);
        else
            kiln_format_double(v, out->text, sizeof(out->text));
    } else {
        return kiln_err_set(err, KILN_EINVAL,
                            "%slabel: expected the true label, a string of at most %d bytes or "
                            "a number",
                            at, KILN_DEPLOY_LABEL_MAX);
    }
    return KILN_OK;
}

/* Validates the whole body into labels[] (heap). */
static int read_body(const char *body, size_t len, struct label **labels, size_t *n,
                     struct kiln_err *err)
{
    json_t *doc = NULL;
    const json_t *arr, *e;
    size_t i, count, copied = 0;
    int rc = kiln_json_parse_object(body, len, 0, &doc, err);
    *labels = NULL;
    *n = 0;
    if (rc != KILN_OK)
        return rc;
    arr = json_object_get(doc, "labels");
    if (arr != NULL && !json_is_array(arr)) {
        rc = kiln_err_set(err, KILN_EINVAL, "labels: expected an array of {request_id, label}");
        goto out;
    }
    count = arr != NULL ? json_array_size(arr) : 1;
    if (count > MAX_LABELS) {
        rc = kiln_err_set(err, KILN_EINVAL, "labels: at most %d per request", MAX_LABELS);
        goto out;
    }
    if (count == 0)
        goto out;
    *labels = kiln_calloc(count, sizeof(**labels));
    if (*labels == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    if (arr == NULL) {
        rc = read_label(doc, 0, 1, &(*labels)[0], err);
    } else {
        json_array_foreach(arr, i, e)
        {
            rc = read_label(e, i, 0, &(*labels)[i], err);
            if (rc != KILN_OK)
                break;
        }
    }
    /* Ids borrow from doc: keep copies. */
    for (i = 0; rc == KILN_OK && i < count; i++, copied++) {
        (*labels)[i].id = kiln_strdup((*labels)[i].src);
        if ((*labels)[i].id == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (rc == KILN_OK) {
        *n = count;
    } else {
        for (size_t j = 0; j < copied; j++)
            kiln_free((*labels)[j].id);
        kiln_free(*labels);
        *labels = NULL;
    }
out:
    json_decref(doc);
    return rc;
}

int fb_apply(struct fb_table *t, const char *body, size_t len, size_t *matched, size_t *unmatched,
             struct kiln_err *err)
{
    struct label *labels = NULL;
    size_t n = 0;
    int rc = read_body(body, len, &labels, &n, err);

    *matched = *unmatched = 0;
    if (rc != KILN_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    /* Make room first, so that applying cannot fail half-way. */
    if (pair_reserve(t, n) != KILN_OK)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == KILN_OK; i++) {
        long at = find(t, labels[i].id, strlen(labels[i].id));
        const struct fb_entry *e;
        if (at < 0) {
            (*unmatched)++;
            continue;
        }
        e = t->ring[at];
        pair_count(t, e->version, e->label, labels[i].text);
        drop(t, (size_t)at);
        (*matched)++;
    }
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++)
        kiln_free(labels[i].id);
    kiln_free(labels);
    return rc;
}

/* The report's entry for a version (added when missing). NULL when out of memory. */
static struct kiln_deploy_vstats *report_version(struct kiln_deploy_report *r, int64_t version)
{
    struct kiln_deploy_vstats *v;
    for (size_t i = 0; i < r->nversions; i++)
        if (r->versions[i].version == version)
            return &r->versions[i];
    v = kiln_reallocarray(r->versions, r->nversions + 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    r->versions = v;
    kiln_deploy_vstats_init(&v[r->nversions], version);
    return &v[r->nversions++];
}

int fb_take(struct fb_table *t, struct kiln_deploy_report *r)
{
    int rc = KILN_OK;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->npairs; i++) {
        struct fb_pair *p = &t->pairs[i];
        struct kiln_deploy_vstats *v;
        if (p->fresh == 0)
            continue;
        v = rc == KILN_OK ? report_version(r, p->version) : NULL;
        if (v == NULL ||
            kiln_deploy_confusion_add(&v->feedback, p->pred, p->actual, p->fresh) != KILN_OK)
            rc = KILN_ENOMEM; /* these labels are lost to the control plane */
        p->fresh = 0;
    }
    r->predictions = t->sent;
    r->npredictions = t->nsent;
    t->sent = NULL;
    t->nsent = t->capsent = 0;
    t->sent_dropped = 0;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void fb_each(struct fb_table *t,
             void (*fn)(void *ctx, int64_t version, uint64_t n, double acc, double prec,
                        double rec),
             void *ctx)
{
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->npairs; i++) {
        struct kiln_deploy_confusion c;
        int64_t v = t->pairs[i].version;
        int seen = 0, oom = 0;
        double acc, prec, rec;
        for (size_t j = 0; j < i && !seen; j++)
            seen = t->pairs[j].version == v;
        if (seen)
            continue;
        memset(&c, 0, sizeof(c));
        for (size_t j = i; j < t->npairs; j++)
            if (t->pairs[j].version == v &&
                kiln_deploy_confusion_add(&c, t->pairs[j].pred, t->pairs[j].actual,
                                          t->pairs[j].total) != KILN_OK)
                oom = 1;
        if (!oom) {
            kiln_deploy_confusion_metrics(&c, NULL, &acc, &prec, &rec);
            fn(ctx, v, kiln_deploy_confusion_total(&c), acc, prec, rec);
        }
        kiln_deploy_confusion_release(&c);
    }
    pthread_mutex_unlock(&t->mu);
}

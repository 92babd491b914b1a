/*
 * ingest.c - what replicas send: reports merged into the rollout's statistics and the alert
 * window, replica bookkeeping (seen, plan served, gaps without the control plane, drift), and
 * feedback labels joined with the predictions they are about.
 *
 * Feedback joins. A replica lists, in its reports, the predictions of requests that carried a
 * request id; they are remembered in `preds` (at most feedback_capacity, oldest forgotten
 * first). A label sent to the control plane for a remembered id is counted for the version that
 * answered, once; a label for an id not seen yet waits in `pending` (at most 10,000, for at most
 * 10 minutes) for its prediction to arrive. Replicas that take labels themselves (POST
 * /feedback on the replica) report the resulting counts directly.
 *
 * Everything here runs with `mu` held.
 */
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "deploy/deploy_int.h"

#define PENDING_TTL_MS 600000

/* ---- the alert window ---------------------------------------------------------------------- */

struct dp_bucket *dp_bucket_at(struct dp_dep *dep, int64_t now_ms)
{
    int64_t start = now_ms - now_ms % DP_BUCKET_MS;
    struct dp_bucket *b = &dep->ring[(size_t)(start / DP_BUCKET_MS) % dep->nring];
    if (b->start_ms != start) {
        kiln_deploy_vstats_reset(&b->all);
        b->start_ms = start;
    }
    return b;
}

int dp_window(struct dp_dep *dep, int64_t now_ms, int64_t window_ms, struct kiln_deploy_vstats *out)
{
    for (size_t i = 0; i < dep->nring; i++) {
        const struct dp_bucket *b = &dep->ring[i];
        if (b->start_ms + DP_BUCKET_MS > now_ms - window_ms && b->start_ms <= now_ms) {
            int rc = kiln_deploy_vstats_merge(out, &b->all);
            if (rc != KILN_OK)
                return rc;
        }
    }
    return KILN_OK;
}

/* ---- feedback tables ------------------------------------------------------------------------ */

int dp_fb_init(struct dp_fb_table *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    if (cap == 0)
        return KILN_OK;
    t->nslots = 16;
    while (t->nslots < cap * 2)
        t->nslots *= 2;
    t->slots = kiln_calloc(t->nslots, sizeof(*t->slots));
    t->ring = kiln_calloc(cap, sizeof(*t->ring));
    if (t->slots == NULL || t->ring == NULL) {
        dp_fb_release(t);
        return KILN_ENOMEM;
    }
    t->cap = cap;
    return KILN_OK;
}

static void entry_free(struct dp_fb_entry *e)
{
    if (e == NULL)
        return;
    kiln_free(e->id);
    kiln_free(e->label);
    kiln_free(e);
}

void dp_fb_release(struct dp_fb_table *t)
{
    for (size_t i = 0; t->ring != NULL && i < t->n; i++)
        entry_free(t->ring[(t->head + i) % t->cap]);
    kiln_free(t->slots);
    kiln_free(t->ring);
    memset(t, 0, sizeof(*t));
}

static struct dp_fb_entry **chain(struct dp_fb_table *t, const char *id)
{
    return &t->slots[kiln_deploy_key_hash(id, strlen(id)) & (t->nslots - 1)];
}

static void unlink_entry(struct dp_fb_table *t, struct dp_fb_entry *e)
{
    struct dp_fb_entry **pp;
    if (!e->live)
        return;
    for (pp = chain(t, e->id); *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    e->live = 0;
}

static struct dp_fb_entry *lookup(struct dp_fb_table *t, const char *id)
{
    if (t->cap == 0)
        return NULL;
    for (struct dp_fb_entry *e = *chain(t, id); e != NULL; e = e->hnext)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static int insert(struct dp_fb_table *t, const char *id, const char *label, int64_t version,
                  int64_t now)
{
    struct dp_fb_entry *e, **head;
    if (t->cap == 0)
        return KILN_OK;
    e = kiln_calloc(1, sizeof(*e));
    if (e == NULL)
        return KILN_ENOMEM;
    e->id = kiln_strdup(id);
    e->label = kiln_strdup(label);
    if (e->id == NULL || e->label == NULL) {
        entry_free(e);
        return KILN_ENOMEM;
    }
    e->version = version;
    e->time_ms = now;
    if (t->n == t->cap) {
        struct dp_fb_entry *old = t->ring[t->head];
        unlink_entry(t, old);
        entry_free(old);
        t->head = (t->head + 1) % t->cap;
        t->n--;
    }
    t->ring[(t->head + t->n) % t->cap] = e;
    t->n++;
    head = chain(t, id);
    e->hnext = *head;
    *head = e;
    e->live = 1;
    return KILN_OK;
}

/* ---- counting ----------------------------------------------------------------------------------
 */

static int count_feedback(struct dp_dep *dep, int64_t version, const char *pred, const char *actual,
                          int64_t now)
{
    struct dp_bucket *b = dp_bucket_at(dep, now);
    struct dp_rollout *ro = dep->ro;
    int rc = kiln_deploy_confusion_add(&b->all.feedback, pred, actual, 1);
    if (rc == KILN_OK && ro != NULL && version == ro->candidate) {
        rc = kiln_deploy_confusion_add(&ro->step_cand.feedback, pred, actual, 1);
        if (rc == KILN_OK)
            rc = kiln_deploy_confusion_add(&ro->total_cand.feedback, pred, actual, 1);
    } else if (rc == KILN_OK && ro != NULL && version == ro->stable) {
        rc = kiln_deploy_confusion_add(&ro->step_stable.feedback, pred, actual, 1);
        if (rc == KILN_OK)
            rc = kiln_deploy_confusion_add(&ro->total_stable.feedback, pred, actual, 1);
    }
    return rc;
}

int dp_feedback(struct dp_dep *dep, const char *id, const char *label, int64_t now_ms, int *matched)
{
    struct dp_fb_entry *e = lookup(&dep->preds, id);
    int rc;
    *matched = 0;
    if (e != NULL) {
        rc = count_feedback(dep, e->version, e->label, label, now_ms);
        if (rc != KILN_OK)
            return rc;
        unlink_entry(&dep->preds, e); /* a prediction is judged once */
        dep->fb_matched++;
        *matched = 1;
        return KILN_OK;
    }
    rc = insert(&dep->pending, id, label, 0, now_ms);
    if (rc == KILN_OK)
        dep->fb_pending++;
    return rc;
}

static int add_prediction(struct dp_dep *dep, const struct kiln_deploy_prediction *p, int64_t now)
{
    struct dp_fb_entry *e = lookup(&dep->pending, p->id);
    if (e != NULL) {
        int fresh = now - e->time_ms <= PENDING_TTL_MS, rc = KILN_OK;
        if (fresh)
            rc = count_feedback(dep, p->version, p->label, e->label, now);
        unlink_entry(&dep->pending, e);
        if (fresh) {
            dep->fb_matched++;
        } else {
            dep->fb_expired++;
        }
        return rc;
    }
    return insert(&dep->preds, p->id, p->label, p->version, now);
}

/* ---- reports --------------------------------------------------------------------------------- */

static struct dp_replica *replica(struct dp_dep *dep, const struct kiln_deploy_report *r,
                                  int64_t now)
{
    struct dp_replica *rep;
    for (rep = dep->replicas; rep != NULL; rep = rep->next)
        if (strcmp(rep->name, r->replica) == 0)
            return rep;
    rep = kiln_calloc(1, sizeof(*rep));
    if (rep == NULL)
        return NULL;
    rep->name = kiln_strdup(r->replica);
    rep->boot = kiln_strdup(r->boot);
    if (rep->name == NULL || rep->boot == NULL) {
        kiln_free(rep->name);
        kiln_free(rep->boot);
        kiln_free(rep);
        return NULL;
    }
    rep->seq = -1;
    rep->first_ms = now;
    rep->next = dep->replicas;
    dep->replicas = rep;
    return rep;
}

static void note_drift(struct dp_replica *rep, const struct kiln_deploy_drift_obs *o, int64_t now)
{
    struct kiln_buf b;
    rep->has_drift = 1;
    rep->drift_ms = now;
    rep->drift_version = o->version;
    rep->drift_rows = o->rows;
    rep->drift_dataset = o->dataset_drift;
    rep->drift_share = o->drift_share;
    kiln_buf_init(&b, 2000);
    for (size_t i = 0; i < o->ncols; i++)
        if (o->cols[i].drifted &&
            kiln_buf_printf(&b, "%s%s", b.len > 0 ? "," : "", o->cols[i].name) != KILN_OK)
            break;
    kiln_free(rep->drift_columns);
    rep->drift_columns = kiln_buf_detach(&b, NULL);
    kiln_buf_release(&b);
}

int dp_ingest_report(struct kiln_deploy *d, struct dp_dep *dep, const struct kiln_deploy_report *r,
                     int *duplicate, struct kiln_err *err)
{
    int64_t now = kiln_now_ms();
    struct dp_replica *rep = replica(dep, r, now);
    struct dp_bucket *bucket;
    struct dp_rollout *ro = dep->ro;
    int rc = KILN_OK;

    (void)d;
    *duplicate = 0;
    if (rep == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (strcmp(rep->boot, r->boot) != 0) {
        char *boot = kiln_strdup(r->boot);
        if (boot == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        kiln_free(rep->boot);
        rep->boot = boot;
        rep->seq = -1;
    }
    if (r->seq <= rep->seq) {
        *duplicate = 1;
        return KILN_OK;
    }
    rep->seq = r->seq;
    rep->generation = r->generation;
    rep->last_ms = now;
    rep->reports++;
    if (r->gap_ms > 0) {
        rep->gaps++;
        rep->last_gap_ms = r->gap_ms;
        if (r->gap_ms > rep->max_gap_ms)
            rep->max_gap_ms = r->gap_ms;
        rep->gap_reported_ms = now;
        rep->gap_generation = r->gap_generation;
        kiln_log_warn("deployment %s: replica %s was without the control plane for %lld ms "
                      "(serving plan %lld meanwhile)",
                      dep->name, rep->name, (long long)r->gap_ms, (long long)r->gap_generation);
    }
    bucket = dp_bucket_at(dep, now);
    for (size_t i = 0; rc == KILN_OK && i < r->nversions; i++) {
        const struct kiln_deploy_vstats *v = &r->versions[i];
        rc = kiln_deploy_vstats_merge(&bucket->all, v);
        if (rc == KILN_OK && ro != NULL && v->version == ro->candidate) {
            rc = kiln_deploy_vstats_merge(&ro->step_cand, v);
            if (rc == KILN_OK)
                rc = kiln_deploy_vstats_merge(&ro->total_cand, v);
        } else if (rc == KILN_OK && ro != NULL && v->version == ro->stable) {
            rc = kiln_deploy_vstats_merge(&ro->step_stable, v);
            if (rc == KILN_OK)
                rc = kiln_deploy_vstats_merge(&ro->total_stable, v);
        }
    }
    for (size_t i = 0; rc == KILN_OK && i < r->npredictions; i++)
        rc = add_prediction(dep, &r->predictions[i], now);
    if (rc == KILN_OK && r->drift.present)
        note_drift(rep, &r->drift, now);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "out of memory");
    return KILN_OK;
}

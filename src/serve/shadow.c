/*
 * shadow.c - shadow copies off the request path (replica_int.h, docs/serving.md "Shadow").
 *
 * In shadow mode the stable version answers; the candidate's copy of the request runs later,
 * on SHADOW_THREADS background threads owned by the replica, so callers never wait for it.
 * After the answer is built, rroute.c submits a job: a copy of the body, what parsing needs
 * (protocol, CSV or JSON), the confidence threshold, references to the candidate and to the
 * version that answered, and a copy of that version's per-row outputs (labels or values),
 * which is what the agreement check reads. A background thread parses and predicts the copy
 * with the candidate (serve_run_body, in an arena of its own), counts it as role "shadow" and
 * compares it row by row with the copied outputs (rroute.c's replica_shadow_count).
 *
 * Bounds: at most SHADOW_MAX_JOBS jobs and SHADOW_MAX_BYTES bytes (bodies and outputs) wait;
 * a copy that does not fit, or that arrives while the queue is not running, is dropped and
 * counted (kiln_deploy_shadow_dropped_total). Jobs still queued at stop are dropped the same
 * way; the job being run is finished first.
 *
 * Job life: submitted (queued, references taken) -> running (popped by a thread) -> freed
 * (references dropped), or submitted -> dropped at stop -> freed.
 *
 * Threads: any HTTP worker submits; the background threads pop; q->mu guards the list and
 * its counts; start and stop run on the replica's owner thread.
 */
#include <stdalign.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "serve/parse_int.h"
#include "serve/replica_int.h"

struct shadow_job {
    struct shadow_job *next;
    struct served *primary, *cand; /* references, dropped when the job is freed */
    enum proto p;
    int csv;
    double conf_threshold;
    size_t nrows, size;   /* size: bytes charged to the queue */
    struct kiln_rt_out o; /* the primary's labels or values (into data) */
    const char *body;
    size_t len;
    alignas(double) unsigned char data[];
};

/* Bytes of the primary's outputs kept for n rows (rounded up to whole doubles). */
static size_t out_bytes(const struct kiln_serve_schema *sc, size_t n)
{
    size_t b = sc->classifier ? n * sizeof(int32_t) : n * sc->n_values * sizeof(double);
    return (b + sizeof(double) - 1) / sizeof(double) * sizeof(double);
}

static void job_free(struct shadow_job *j)
{
    if (j == NULL)
        return;
    served_release(j->primary);
    served_release(j->cand);
    kiln_free(j);
}

/* A job for this copy; NULL when out of memory. */
static struct shadow_job *job_new(const struct shadow_req *in)
{
    const struct kiln_serve_schema *sc = in->primary->schema;
    size_t n = in->sc->rows.n;
    size_t out = out_bytes(sc, n);
    struct shadow_job *j = kiln_malloc(sizeof(*j) + out + in->len + 1);

    if (j == NULL)
        return NULL;
    memset(j, 0, sizeof(*j));
    j->p = in->p;
    j->csv = in->csv;
    j->conf_threshold = in->conf_threshold;
    j->nrows = n;
    j->size = sizeof(*j) + out + in->len + 1;
    if (sc->classifier) {
        j->o.label = (int32_t *)(void *)j->data;
        if (n > 0)
            memcpy(j->o.label, in->sc->o.label, n * sizeof(int32_t));
    } else {
        j->o.value = (double *)(void *)j->data;
        if (n > 0)
            memcpy(j->o.value, in->sc->o.value, n * sc->n_values * sizeof(double));
    }
    memcpy(j->data + out, in->body, in->len);
    j->data[out + in->len] = '\0';
    j->body = (const char *)j->data + out;
    j->len = in->len;
    j->primary = served_hold(in->primary);
    j->cand = served_hold(in->cand);
    return j;
}

static void run(struct shadow_job *j)
{
    struct kiln_arena *a = kiln_arena_new(8192);
    struct kiln_err err = { 0 };
    struct scored sc;
    int64_t t0 = kiln_mono_ns();
    int rc = a != NULL ? serve_run_body(j->cand, j->p, j->csv, j->body, j->len, a, &sc, &err)
                       : KILN_ENOMEM;
    replica_shadow_count(j->primary, &j->o, j->nrows, j->cand, rc == KILN_OK ? &sc : NULL,
                         j->conf_threshold, t0);
    kiln_arena_free(a);
}

static void *shadow_main(void *arg)
{
    struct shadow_q *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct shadow_job *j;
        while (q->head == NULL && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->njobs--;
        q->nbytes -= j->size;
        q->busy++;
        pthread_mutex_unlock(&q->mu);
        run(j);
        job_free(j);
        pthread_mutex_lock(&q->mu);
        q->busy--;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static double g_pending(void *ctx)
{
    struct shadow_q *q = ctx;
    double n;
    pthread_mutex_lock(&q->mu);
    n = (double)(q->njobs + q->busy);
    pthread_mutex_unlock(&q->mu);
    return n;
}

int shadow_init(struct shadow_q *q, struct kiln_metrics *m, struct kiln_err *err)
{
    struct kiln_metric_family *f = NULL;
    int rc;
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max_jobs = SHADOW_MAX_JOBS;
    q->max_bytes = SHADOW_MAX_BYTES;
    q->inited = 1;
    rc = kiln_metrics_family(m, KILN_METRIC_COUNTER, "kiln_deploy_shadow_dropped_total",
                             "Shadow copies not sent to the candidate (queue full, or stopping).",
                             NULL, 0, NULL, 0, &f, err);
    if (rc == KILN_OK) {
        q->dropped = kiln_metric_child(f, NULL);
        if (q->dropped == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (rc == KILN_OK)
        rc = kiln_metrics_gauge_fn(m, "kiln_deploy_shadow_pending",
                                   "Shadow copies queued or being predicted.", g_pending, q, err);
    return rc;
}

int shadow_start(struct shadow_q *q, struct kiln_err *err)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 0;
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < SHADOW_THREADS; i++) {
        int e = pthread_create(&q->th[i], NULL, shadow_main, q);
        if (e != 0) {
            shadow_stop(q);
            return kiln_err_set(err, KILN_EIO, "cannot start the shadow threads: %s", strerror(e));
        }
        q->nth++;
    }
    pthread_mutex_lock(&q->mu);
    q->running = 1;
    pthread_mutex_unlock(&q->mu);
    return KILN_OK;
}

void shadow_stop(struct shadow_q *q)
{
    struct shadow_job *j;
    uint64_t n = 0;
    if (!q->inited)
        return;
    pthread_mutex_lock(&q->mu);
    q->running = 0;
    q->stop = 1;
    j = q->head;
    q->head = q->tail = NULL;
    q->njobs = q->nbytes = 0;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    while (j != NULL) {
        struct shadow_job *next = j->next;
        job_free(j);
        j = next;
        n++;
    }
    for (int i = 0; i < q->nth; i++)
        pthread_join(q->th[i], NULL);
    q->nth = 0;
    if (n > 0) {
        kiln_metric_add(q->dropped, (double)n);
        kiln_log_info("shadow: %llu copies still queued at stop were dropped",
                      (unsigned long long)n);
    }
}

void shadow_release(struct shadow_q *q)
{
    if (!q->inited)
        return;
    shadow_stop(q);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    q->inited = 0;
}

int shadow_submit(struct shadow_q *q, const struct shadow_req *in)
{
    struct shadow_job *j;
    size_t need = sizeof(*j) + out_bytes(in->primary->schema, in->sc->rows.n) + in->len + 1;
    int ok;

    pthread_mutex_lock(&q->mu);
    ok = q->running && q->njobs < q->max_jobs && q->nbytes + need <= q->max_bytes;
    pthread_mutex_unlock(&q->mu);
    j = ok ? job_new(in) : NULL;
    if (j == NULL) {
        kiln_metric_inc(q->dropped);
        return 0;
    }
    pthread_mutex_lock(&q->mu);
    ok = q->running && q->njobs < q->max_jobs && q->nbytes + j->size <= q->max_bytes;
    if (ok) {
        if (q->tail != NULL)
            q->tail->next = j;
        else
            q->head = j;
        q->tail = j;
        q->njobs++;
        q->nbytes += j->size;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (!ok) {
        job_free(j);
        kiln_metric_inc(q->dropped);
        return 0;
    }
    return 1;
}

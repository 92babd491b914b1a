/*
 * serve_int.h - the inference server's internals, shared by the files of src/serve only.
 *
 * Ownership: the server owns its slots; a slot owns a reference to its current version (and
 * each request in flight owns one more); a version owns its model, schema, workspaces and
 * metric children pointers (the children themselves belong to the metrics registry).
 *
 * Locks: slot->mu guards slot->cur only (held for a pointer read plus an atomic increment, or
 * a pointer swap); slot->load_mu serializes the loads of one slot (follower vs SIGHUP);
 * version->ws_mu guards the workspace pool; srv->mu/cv put followers to sleep and wake them
 * on stop. No lock is held while another is taken, except load_mu around a swap's mu.
 */
#ifndef KILN_SERVE_SERVE_INT_H
#define KILN_SERVE_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/uri.h"
#include "http/http.h"
#include "monitor/metrics.h"
#include "serve/parse.h"
#include "serve/serve.h"

enum proto { P_MLFLOW = 0, P_OIP = 1, P_N };

/* Status codes with cached request counters; others are looked up per request. */
enum { ST_200, ST_400, ST_404, ST_413, ST_415, ST_500, ST_503, ST_N };

struct slot;
struct rstats;
struct replica;
struct mwin;

/* One loaded model version. */
struct served {
    atomic_long refs;
    struct slot *slot;
    struct kiln_rt_model *model;
    struct kiln_serve_schema *schema;
    char version[32];    /* the registry version, else the load count */
    int64_t reg_version; /* 0 when not from the registry */
    char *source;        /* where the files came from (resolved URI or path) */
    double load_s, warmup_s;
    pthread_mutex_t ws_mu;
    struct kiln_rt_ws **ws;
    size_t n_ws, cap_ws;
    /* Metric children (owned by the registry; cached here). */
    _Atomic(struct kiln_metric *) req[P_N][ST_N];
    struct kiln_metric *latency[P_N];
    struct kiln_metric *score; /* classifier confidence or regression value histogram */
    struct kiln_metric *rows;
    struct kiln_metric **by_class; /* classifiers with at most MAX_CLASS_SERIES classes */
    struct kiln_metric *load_g, *warmup_g, *info;
    /* --deployment only: the version's counters and drift window (both replica-owned). */
    struct rstats *rs;
    struct mwin *mw; /* NULL without a training profile (profile.json) */
};

#define MAX_CLASS_SERIES 64

/* One served model (one URI). */
struct slot {
    struct kiln_serve *srv;
    char *name;
    char *uri;
    struct kiln_uri u;
    int follow; /* alias, stage or latest: follow the registry */
    pthread_mutex_t mu;
    struct served *cur; /* guarded by mu */
    pthread_mutex_t load_mu;
    uint64_t loads; /* guarded by load_mu */
    pthread_t thread;
    int thread_started;
    struct kiln_metric *inflight, *swapped, *unchanged, *failed;
};

struct kiln_serve {
    char *host;
    int port;
    int workers;    /* HTTP pool threads; 0: a thread per connection */
    int workspaces; /* runtime workspaces made per version up front (the pool, or the cores) */
    char *tracking_uri;
    char *model_dir;
    int own_model_dir;
    size_t max_body;
    int no_follow, poll_interval_ms, event_wait_s;
    char *deployment, *replica_id; /* --deployment: follow that deployment's plan */
    struct replica *rep;           /* NULL unless --deployment */
    enum kiln_rt_xgb_engine xgb_engine;
    double *value_buckets;
    size_t n_value_buckets;

    struct slot **slots;
    size_t n_slots;

    struct kiln_metrics *metrics;
    struct kiln_metric_family *f_req, *f_lat, *f_score, *f_value, *f_rows, *f_class, *f_inflight,
        *f_load, *f_warmup, *f_info, *f_reloads, *f_http;
    _Atomic(struct kiln_metric *) http_codes[600];

    struct kiln_router *router;
    struct kiln_http_server *http;
    atomic_int ready;
    atomic_int stopping;
    atomic_ulong dir_seq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* ---- versions (model.c) ------------------------------------------------------------------ */

/* The slot's current version with a reference taken, or NULL before the first load. */
struct served *slot_acquire(struct slot *sl);
/* Takes one more reference to v (which the caller holds); returns v. */
struct served *served_hold(struct served *v);
/* Drops a reference; the last one frees the version. */
void served_release(struct served *v);

/*
 * Loads the slot's model again: resolves the URI (registry URIs through the tracking server),
 * and unless the version is the current one and !force, downloads, loads, warms up and swaps
 * it in. *changed (may be NULL) says whether a new version was published. Serialized per slot.
 */
int slot_load(struct slot *sl, int force, int *changed /* OUT */, struct kiln_err *err);

/* A workspace for one predict call on v (pooled); NULL only when out of memory. */
struct kiln_rt_ws *served_ws_get(struct served *v);
void served_ws_put(struct served *v, struct kiln_rt_ws *ws);

/* Counts one finished request (status, latency since start_ns) on version v. */
void served_count(struct served *v, enum proto p, int status, int64_t start_ns);
/* Observes the predictions of n rows (score histogram, per-class counts, rows). */
void served_observe(struct served *v, const struct kiln_rt_out *o, size_t n);

/* Frees the slot and its current version. */
void slot_free(struct slot *sl);

/* A slot outside srv->slots (the deployment candidate). KILN_ENOMEM, KILN_EINVAL (uri). */
int slot_new(struct kiln_serve *s, const char *name, const char *uri, struct slot **out /* OUT */,
             struct kiln_err *err);
/* Loads `uri` (not the slot's own) into the slot unless it serves that version already. */
int slot_load_uri(struct slot *sl, const char *uri, struct kiln_err *err);
/* Publishes v (taking the caller's reference) as the slot's current version. */
void slot_publish(struct slot *sl, struct served *v);
/* Drops the slot's current version (requests in flight finish on it). */
void slot_clear(struct slot *sl);

/* ---- metrics (metrics.c in this folder: smetrics.c) --------------------------------------- */

int serve_metrics_init(struct kiln_serve *s, struct kiln_err *err);
/* The http_responses_total child for a status (cached). */
void serve_count_http(struct kiln_serve *s, int status);

/* ---- following (follow.c) ---------------------------------------------------------------- */

/* Starts the follower thread of a slot that follows the registry. */
int follow_start(struct slot *sl, struct kiln_err *err);
/* Sleeps up to ms milliseconds on srv->cv; returns 1 when the server is stopping. */
int serve_nap(struct kiln_serve *s, int64_t ms);
/* Wakes sleeping followers (after srv->stopping is set) and joins them. */
void follow_stop_all(struct kiln_serve *s);

/* ---- routes (routes.c) ------------------------------------------------------------------- */

int serve_router_new(struct kiln_serve *s, struct kiln_router **out /* OUT */,
                     struct kiln_err *err);
/* A scoring request parsed and predicted by one version (request arena memory). */
struct scored {
    struct kiln_serve_oip_req oip; /* OIP requests */
    struct kiln_serve_rows rows;
    struct kiln_rt_out o;
};

/*
 * MLflow's content-type rules; returns 1 when a 415 was written into resp, else sets *csv.
 */
int serve_media_type(const struct kiln_http_req *req, struct kiln_http_resp *resp, int *csv);
/* Parses the request body for version v (protocol p; csv for MLflow CSV) and predicts. */
int serve_run(struct served *v, enum proto p, int csv, struct kiln_http_req *req,
              struct scored *sc /* OUT */, struct kiln_err *err);
/*
 * serve_run on a body outside a request (shadow copies): parses `len` bytes of `body` for
 * version v and predicts, with everything in *sc allocated from arena `a`.
 */
int serve_run_body(struct served *v, enum proto p, int csv, const char *body, size_t len,
                   struct kiln_arena *a, struct scored *sc /* OUT */, struct kiln_err *err);
/* Writes the answer of a scored request into resp and observes its predictions. */
int serve_answer(struct served *v, enum proto p, const struct scored *sc,
                 struct kiln_http_resp *resp, struct kiln_err *err);
/* The HTTP observe callback: counts every response by status. */
void serve_observe(void *app, const struct kiln_http_req *req, int status);

#endif

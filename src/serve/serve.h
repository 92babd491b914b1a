/*
 * serve.h - kiln's inference server (the data plane behind `kiln serve`).
 *
 * A server runs one or more models, each named by a URI: models:/NAME@ALIAS,
 * models:/NAME/VERSION (or a stage, or latest), runs:/RUN_ID/PATH, mlflow-artifacts:/...
 * (resolved and downloaded through the tracking server) or a local model directory. It
 * answers MLflow's scoring protocol (/invocations, /ping, /health, /version), the Open
 * Inference Protocol v2 (/v2/...) and Prometheus (/metrics); docs/serving.md has the routes.
 *
 * Life cycle: new -> add_model (one per URI) -> start (listens at once; loads and warms up
 * every model, then reports ready; starts following the registry) -> [reload on SIGHUP] ->
 * stop (graceful) -> free.
 *
 * Versions and swaps. Each model holds its current version behind a reference count: a
 * request takes a reference when it starts and drops it when its answer is written, so a
 * swap (a new version loaded and warmed up in the background, then published under a short
 * lock) never fails or delays a request, and the old version is freed when its last request
 * finishes. Models named by an alias, a stage or `latest` follow the registry's event feed
 * (GET /api/kiln/v1/events long-poll) or, against servers without it, poll every
 * poll_interval_ms; a failed load keeps the current version and is logged and counted.
 *
 * Threads: HTTP workers (cfg.workers), one follower thread per following model, and the
 * caller's thread for start/reload/stop. All functions but kiln_serve_reload and
 * kiln_serve_port must be called from the owner's thread, in life-cycle order.
 */
#ifndef KILN_SERVE_SERVE_H
#define KILN_SERVE_SERVE_H

#include <stddef.h>

#include "core/err.h"
#include "runtime/runtime.h"

struct kiln_serve;

struct kiln_serve_config {
    const char *host;            /* default 127.0.0.1 */
    int port;                    /* 0 picks a free port */
    int workers;                 /* HTTP pool threads (0: the default, see serve.c) */
    const char *tracking_uri;    /* for every URI but local folders (NULL: none) */
    const char *model_dir;       /* where downloaded models go (NULL: a temporary folder) */
    size_t max_body;             /* request body limit in bytes (0: 64 MiB) */
    int no_follow;               /* do not follow aliases (load once; SIGHUP still reloads) */
    int poll_interval_ms;        /* polling period without an event feed (0: 10 s) */
    int event_wait_s;            /* long-poll wait on the event feed (0: 30 s) */
    const double *value_buckets; /* regression prediction histogram buckets (NULL: default) */
    size_t n_value_buckets;
    enum kiln_rt_xgb_engine xgb_engine;
    /*
     * Follow a deployment (docs/deployments.md): the plan names the model and its versions,
     * so no model is added; requests are split between the stable and candidate versions,
     * and reports go to the control plane at tracking_uri. NULL: a plain server.
     */
    const char *deployment;
    const char *replica_id; /* the replica's name in reports (NULL: host:port) */
};

/* Creates a server (nothing runs yet). cfg's strings are copied. KILN_ENOMEM. */
int kiln_serve_new(const struct kiln_serve_config *cfg, struct kiln_serve **out /* OUT */,
                   struct kiln_err *err);

/*
 * Adds a model (not with a deployment: its plan names the model). `name` (NULL: derived from the
 * URI: the registered model's name, else the folder's base name) names it in /v2/models/{name},
 * metrics and logs; the first model added also answers /invocations. KILN_EINVAL for a malformed
 * URI, a bad or duplicate name, or a registry URI without a tracking server.
 */
int kiln_serve_add_model(struct kiln_serve *s, const char *uri, const char *name,
                         struct kiln_err *err);

/*
 * Listens, then loads and warms up every model (logging and exporting the times), reports
 * ready, and starts the followers. Fails (and stops listening) when the address cannot be
 * bound or a model cannot be loaded.
 */
int kiln_serve_start(struct kiln_serve *s, struct kiln_err *err);

/* The bound port. */
int kiln_serve_port(const struct kiln_serve *s);

/*
 * Reloads every model now (SIGHUP): resolves its URI again, downloads, loads, warms up and
 * swaps, even when the version did not change. Blocks until done. A model that fails keeps
 * its current version; the first failure is returned (the others are logged). A replica of a
 * deployment reloads nothing (its plan decides the versions).
 */
int kiln_serve_reload(struct kiln_serve *s, struct kiln_err *err);

/* Stops following, stops accepting, waits up to grace_ms for requests in flight. */
void kiln_serve_stop(struct kiln_serve *s, int grace_ms);

/* Frees everything (after stop, or instead of start). NULL is a no-op. */
void kiln_serve_free(struct kiln_serve *s);

#endif

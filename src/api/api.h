/*
 * api.h - the control plane's process state and REST API plumbing.
 *
 * `struct kiln_server` is all the state of one `kiln server` process (STYLE.md rule 15): it
 * is created by the server command, handed to every HTTP handler as the `app` pointer, and
 * freed at shutdown. After start it is read-only except through the thread-safe objects it
 * points to (the store serialises its own writes).
 *
 * REST conventions shared by /api/2.0/mlflow (MLflow-compatible) and /api/kiln/v1 (native):
 * a request message is read from the query string for GET and from a JSON body otherwise
 * (kiln_api_read); success is 200 with a JSON object; errors are returned as kiln codes with
 * a message and rendered by the router as {"error_code": ..., "message": ...}.
 */
#ifndef KILN_API_API_H
#define KILN_API_API_H

#include <jansson.h>
#include <stdint.h>

#include "core/json.h"
#include "http/http.h"

struct kiln_store;
struct kiln_pl_sched;
struct kiln_registry;
struct kiln_deploy;

struct kiln_server {
    struct kiln_store *store;
    char *artifacts_root;        /* folder served by the artifact proxy (absolute path) */
    char *default_artifact_root; /* root of new experiments' artifact locations */
    int serve_artifacts;         /* the proxy endpoints are on */
    /* The pipeline scheduler (kiln_pl_sched_notify is thread-safe). */
    struct kiln_pl_sched *pipelines;
    /* The model registry; `kiln server` starts and stops its threads. */
    struct kiln_registry *registry;
    /* The deployment controller (src/deploy); `kiln server` starts and stops its thread. */
    struct kiln_deploy *deploy;
    int64_t started_ms;
};

#define KILN_API_MLFLOW_PREFIX "/api/2.0/mlflow"
#define KILN_API_MLFLOW_AJAX_PREFIX "/ajax-api/2.0/mlflow"
#define KILN_API_KILN_PREFIX "/api/kiln/v1"

/* A route relative to an API prefix. */
struct kiln_api_route {
    const char *method;
    const char *path; /* "/runs/get" */
    kiln_http_handler handler;
};

/* Registers routes under /api/2.0/mlflow and /ajax-api/2.0/mlflow. KILN_ENOMEM. */
int kiln_api_add_mlflow(struct kiln_router *r, const struct kiln_api_route *routes, size_t n);
/* Registers routes under /api/kiln/v1. */
int kiln_api_add_kiln(struct kiln_router *r, const struct kiln_api_route *routes, size_t n);

/* Builds the control plane's whole router (every subsystem's routes). */
int kiln_api_router_new(struct kiln_server *srv, struct kiln_router **out /* OUT */,
                        struct kiln_err *err);

/*
 * Reads the request message: the query string for GET and HEAD (keys listed in array_keys, a
 * NULL-terminated list, always become arrays; repeated keys too), else the JSON body, which
 * must be sent as application/json (an empty body reads as {}). The tree belongs to the
 * request (released with its arena): do not json_decref it.
 */
int kiln_api_read(struct kiln_http_req *req, const char *const *array_keys, json_t **out /* OUT */,
                  struct kiln_err *err);

/* Starts a JSON response body in resp (status 200) and returns a writer on it. */
void kiln_api_json_begin(struct kiln_http_resp *resp, struct kiln_jsonw *w);
/* Checks the writer; KILN_EINTERNAL with a message when the response could not be built. */
int kiln_api_json_end(struct kiln_jsonw *w, struct kiln_err *err);
/* Answers 200 with "{}". */
int kiln_api_empty(struct kiln_http_resp *resp);

/* Registers the routes of each API family (each defined in its own file). */
int kiln_api_mlflow_experiments_routes(struct kiln_router *r);
/* Model registry: MLflow registered-models/model-versions and kiln's native registry API. */
int kiln_api_registry_routes(struct kiln_router *r);
int kiln_api_mlflow_runs_routes(struct kiln_router *r);
int kiln_api_mlflow_run_log_routes(struct kiln_router *r);
int kiln_api_mlflow_metrics_routes(struct kiln_router *r);
int kiln_api_mlflow_artifacts_routes(struct kiln_router *r);
int kiln_api_mlflow_logged_models_routes(struct kiln_router *r);

#endif

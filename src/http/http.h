/*
 * http.h - kiln's HTTP server (a libmicrohttpd wrapper), router, and request/response helpers.
 *
 * Model. A server owns one MHD daemon and one router. Each request gets a `struct
 * kiln_http_req` with its own arena (created when the request line arrives, freed when MHD
 * reports the request complete), is matched against the router, has its body read (buffered up
 * to the route's limit, or streamed to the route's body callbacks), and then its handler runs
 * once and fills a `struct kiln_http_resp`.
 *
 * Handler contract:
 *     int handler(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
 *                 struct kiln_err *err);
 *   - return KILN_OK after filling resp (status defaults to 200, content type to JSON);
 *   - or return an error code with details in err: the server discards resp (except the
 *     headers marked with kiln_http_resp_keep_headers) and answers with the router's error
 *     formatter (MLflow JSON `{"error_code","message"}` by default) and kiln_rc_http(rc) as
 *     status. A handler never needs to build error bodies itself.
 *
 * Threads. Handlers run on MHD worker threads (a pool of `workers` threads with epoll, or a
 * thread per connection when workers == 0) and must be thread-safe with respect to `app`. A
 * request is only ever touched by one thread at a time. Routes are added before start and are
 * read-only afterwards.
 *
 * Stop. kiln_http_stop stops accepting connections, waits up to `grace_ms` for requests in
 * flight to finish (graceful stop on SIGTERM), then closes everything.
 *
 * Ownership. Everything reachable from a req (path, query, params, body) belongs to the
 * request arena and is valid until the handler returns, or longer if the handler registered
 * arena cleanups. resp->body is owned by the server.
 */
#ifndef KILN_HTTP_HTTP_H
#define KILN_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

struct kiln_http_server;
struct kiln_http_req;
struct kiln_http_resp;
struct kiln_router;
struct MHD_Connection;

struct kiln_http_param {
    const char *key;
    const char *value;
};

struct kiln_http_req {
    struct kiln_arena *arena;
    const char *method;                  /* "GET", "POST", ... */
    const char *path;                    /* percent-decoded path without the query */
    const char *raw_target;              /* the request target as received */
    const struct kiln_http_param *query; /* decoded, '+' as space, in order, repeats kept */
    size_t nquery;
    const struct kiln_http_param *params; /* path parameters from the route pattern */
    size_t nparams;
    struct kiln_buf body;      /* buffered body (empty for streamed routes) */
    int64_t content_length;    /* -1 when not given */
    int64_t start_ns;          /* monotonic time the request arrived */
    void *route_data;          /* the route's `data` pointer */
    void *stream_ctx;          /* for streamed-body routes: set by body_begin */
    const char *route_pattern; /* the matched pattern (for metrics labels) */
    struct MHD_Connection *conn;
    int resumed; /* times the handler was run again after kiln_http_defer */
};

struct kiln_http_header {
    const char *name;
    const char *value;
};

#define KILN_HTTP_MAX_HEADERS 8

struct kiln_http_resp {
    int status;
    const char *content_type; /* default "application/json" */
    struct kiln_buf body;
    int fd; /* when >= 0: respond with fd_size bytes of this file; server closes it */
    uint64_t fd_size;
    struct kiln_http_header headers[KILN_HTTP_MAX_HEADERS];
    size_t nheaders;
    size_t nkeep; /* headers[0, nkeep) also go with an error answer (kiln_http_resp_keep_headers) */
};

typedef int (*kiln_http_handler)(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                                 struct kiln_err *err);

/*
 * Streamed request bodies (artifact uploads): body_begin runs once before any data (it may
 * refuse the request by returning an error), body_chunk for each piece. If the client goes
 * away the handler never runs; cleanups registered on req->arena undo partial work.
 */
struct kiln_http_stream_ops {
    int (*body_begin)(void *app, struct kiln_http_req *req, struct kiln_err *err);
    int (*body_chunk)(void *app, struct kiln_http_req *req, const char *data, size_t len,
                      struct kiln_err *err);
};

/* Formats an error response: status, content type and body from rc and message. */
typedef void (*kiln_http_error_fn)(const struct kiln_http_req *req, struct kiln_http_resp *resp,
                                   int rc, const char *message);

/* Called after every response is queued (metrics, access logs). Must be thread-safe. */
typedef void (*kiln_http_observe_fn)(void *app, const struct kiln_http_req *req, int status);

/* ---- router ----------------------------------------------------------------------------- */

/*
 * Patterns: literal segments, `{name}` (exactly one non-empty segment) and a final `{name*}`
 * (the rest of the path, possibly containing '/', possibly empty). Example:
 * "/api/2.0/mlflow-artifacts/artifacts/{path*}".
 */
struct kiln_route {
    const char *method; /* "GET", "POST", ...; "*" matches any */
    const char *pattern;
    kiln_http_handler handler;
    void *data;                                /* handed to the handler as req->route_data */
    size_t max_body;                           /* 0: the router default */
    const struct kiln_http_stream_ops *stream; /* NULL: buffer the body */
};

struct kiln_router *kiln_router_new(void);
void kiln_router_free(struct kiln_router *r);
/*
 * Adds a route. The router keeps its own copy of the pattern; `method` must be a static
 * string. KILN_ENOMEM.
 */
int kiln_router_add(struct kiln_router *r, const struct kiln_route *route);
/* Adds the route with `prefix` prepended to its pattern ("/api/2.0/mlflow" + "/runs/get"). */
int kiln_router_add_prefixed(struct kiln_router *r, const char *prefix,
                             const struct kiln_route *route);
/* Body limit for routes that give none (default 16 MiB). */
void kiln_router_set_max_body(struct kiln_router *r, size_t max);
void kiln_router_set_error_fn(struct kiln_router *r, kiln_http_error_fn fn);
/*
 * Handler for paths no route matches (default: 404 via the error formatter with
 * KILN_ENOENDPOINT).
 */
void kiln_router_set_fallback(struct kiln_router *r, kiln_http_handler fn);

enum kiln_route_match {
    KILN_ROUTE_FOUND,
    KILN_ROUTE_NO_PATH,   /* 404 */
    KILN_ROUTE_NO_METHOD, /* path known, method not: 405 */
};

/*
 * Finds the route for method + path; on KILN_ROUTE_FOUND fills *params (allocated from the
 * arena). Exposed for tests and fuzzing.
 */
enum kiln_route_match kiln_router_match(const struct kiln_router *r, const char *method,
                                        const char *path, struct kiln_arena *arena,
                                        const struct kiln_route **route /* OUT */,
                                        struct kiln_http_param **params /* OUT */,
                                        size_t *nparams /* OUT */);

/* The default error formatter: MLflow's {"error_code": ..., "message": ...}. */
void kiln_http_error_mlflow(const struct kiln_http_req *req, struct kiln_http_resp *resp, int rc,
                            const char *message);

/* ---- server ----------------------------------------------------------------------------- */

struct kiln_http_config {
    const char *host;              /* "127.0.0.1", "0.0.0.0", "::", a name */
    int port;                      /* 0 picks a free port (see kiln_http_port) */
    int workers;                   /* > 0: thread pool with epoll; 0: one thread per connection */
    unsigned connection_timeout_s; /* idle keep-alive timeout (default 120) */
    kiln_http_observe_fn observe;  /* optional */
};

/*
 * Starts serving. The router is borrowed and must outlive the server. `app` is passed to
 * every handler. KILN_EIO with a message when the address cannot be bound.
 */
int kiln_http_start(const struct kiln_http_config *cfg, struct kiln_router *router, void *app,
                    struct kiln_http_server **out /* OUT */, struct kiln_err *err);
/* The bound port (useful after port 0). */
int kiln_http_port(const struct kiln_http_server *s);
/* Requests currently being processed. */
long kiln_http_inflight(struct kiln_http_server *s);
/* Graceful stop: no new connections, wait up to grace_ms for in-flight requests, close. */
void kiln_http_stop(struct kiln_http_server *s, int grace_ms);

/* ---- request helpers -------------------------------------------------------------------- */

/* First query value for key, or NULL. */
const char *kiln_http_query(const struct kiln_http_req *req, const char *key);
/* Path parameter by name, or NULL. */
const char *kiln_http_param(const struct kiln_http_req *req, const char *name);
/* Request header (case-insensitive), or NULL. Valid during the handler. */
const char *kiln_http_header(const struct kiln_http_req *req, const char *name);
/* 1 when Content-Type's media type (parameters after ';' ignored) equals `type`. */
int kiln_http_content_type_is(const struct kiln_http_req *req, const char *type);
/* Client address as text into out. */
void kiln_http_peer(const struct kiln_http_req *req, char *out, size_t size);

/*
 * Turns the query string into a JSON object the way MLflow's GET handlers read it: every key
 * becomes a field; a key that repeats, or that `array_keys` (NULL-terminated) names, becomes
 * an array of strings. The caller owns the result (json_decref).
 */
struct json_t;
int kiln_http_query_to_json(const struct kiln_http_req *req, const char *const *array_keys,
                            struct json_t **out /* OUT */, struct kiln_err *err);

/*
 * Long-polls. A handler that has nothing to answer yet calls kiln_http_defer and returns
 * KILN_OK without filling resp. The server then suspends the connection (it uses no thread
 * while parked) and calls parked(arg, req) on the same thread; from then on, exactly one
 * kiln_http_resume(req), from any thread, makes the server run the handler again
 * (req->resumed counts the reruns; the request, its arena and body are unchanged). Returns
 * KILN_ENOTSUP when this server cannot park requests (thread-per-connection mode, workers ==
 * 0): the handler must answer another way (there, blocking is harmless).
 */
int kiln_http_defer(struct kiln_http_req *req, void (*parked)(void *arg, struct kiln_http_req *req),
                    void *arg);
void kiln_http_resume(struct kiln_http_req *req);

/* ---- response helpers ------------------------------------------------------------------- */

/* Sets status and a content type (static or arena string). */
void kiln_http_resp_set(struct kiln_http_resp *resp, int status, const char *content_type);
/* Adds a header (strings must live until the response is sent: static or arena). */
int kiln_http_resp_header(struct kiln_http_resp *resp, const char *name, const char *value);
/*
 * Keeps the headers added so far when the handler then returns an error: the error answer
 * carries them too (request ids, the version that was chosen). Other headers are dropped on
 * errors, as before.
 */
void kiln_http_resp_keep_headers(struct kiln_http_resp *resp);
/* Replaces the body with the NUL-terminated text. */
int kiln_http_resp_text(struct kiln_http_resp *resp, int status, const char *content_type,
                        const char *text);
/* Respond with `size` bytes of open file `fd` (ownership of fd passes to the response). */
void kiln_http_resp_file(struct kiln_http_resp *resp, int fd, uint64_t size,
                         const char *content_type);

/* Percent-decodes a path and splits "path?query" (exposed for the fuzzer and tests). */
int kiln_http_parse_target(const char *target, struct kiln_arena *arena,
                           const char **path /* OUT */, struct kiln_http_param **query /* OUT */,
                           size_t *nquery /* OUT */);

#endif

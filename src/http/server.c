/*
 * server.c - the libmicrohttpd daemon behind kiln_http_start (see http.h for the contract).
 *
 * Request lifecycle (one `struct req_ctx` per request, allocated from its own arena):
 *
 *   URI log callback      -> ctx created, raw target saved            (MHD thread)
 *   access handler, 1st   -> parse target, route, limits, body_begin  state NEW -> BODY
 *   access handler, data  -> buffer or stream the body               state BODY
 *   access handler, last  -> run the handler, queue the response      state BODY -> DONE
 *                            (or, after kiln_http_defer, suspend the connection; a later
 *                            kiln_http_resume makes MHD call us again and the handler reruns)
 *   completed callback    -> free arena (runs cleanups), inflight--
 *
 * Errors found while headers are being processed (unknown route, a refused stream) are
 * answered at once; MHD then closes the connection rather than read a body nobody wants. A
 * body over the limit, or an error in the middle of a body (a failed write), is remembered
 * and the rest of the body is read and dropped (up to DRAIN_MAX, past which the connection
 * is dropped), so that clients that write their whole body before reading see the error. A client
 * that disconnects mid-body never reaches the handler; arena cleanups undo partial work.
 *
 * Threads: MHD's internal threads call everything here; `inflight` is the only field written
 * after start, and it is atomic.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "http/http_int.h"

struct kiln_http_server {
    struct MHD_Daemon *daemon;
    struct kiln_router *router;
    void *app;
    kiln_http_observe_fn observe;
    atomic_long inflight;
    int port;
    int can_suspend; /* MHD_ALLOW_SUSPEND_RESUME is on (thread-pool mode) */
};

enum req_state { REQ_NEW, REQ_BODY, REQ_DONE };

struct req_ctx {
    struct kiln_http_req req;
    struct kiln_http_resp resp;
    struct kiln_http_server *srv;
    const struct kiln_route *route;
    enum req_state state;
    int body_rc; /* first error while reading the body */
    struct kiln_err err;
    size_t max_body;
    uint64_t drained; /* bytes dropped after a body error */
    /* Set by kiln_http_defer: run after the connection is suspended. */
    void (*parked)(void *arg, struct kiln_http_req *req);
    void *parked_arg;
};

#define RESP_BODY_MAX ((size_t)1 << 30)
/*
 * libmicrohttpd's per-connection memory pool: request line, headers and the read buffer
 * (bodies are copied out to our own buffer or streamed). The pool is zeroed each time a
 * keep-alive connection starts a new request, so its size is paid on every request: 256 KiB
 * cost about 8 % of the server's CPU per log-batch; 64 KiB keeps headers and URLs of any
 * sane size and leaves large uploads as fast (bench/RESULTS.md).
 */
#define CONN_POOL ((size_t)64 * 1024)
/* How much of a body we read and drop after deciding to refuse it. */
#define DRAIN_MAX ((uint64_t)64 << 20)

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct kiln_http_server *srv = cls;
    struct kiln_arena *arena = kiln_arena_new(8192);
    struct req_ctx *c;

    atomic_fetch_add(&srv->inflight, 1);
    if (arena == NULL)
        return NULL;
    c = kiln_arena_calloc(arena, 1, sizeof(*c));
    if (c == NULL) {
        kiln_arena_free(arena);
        return NULL;
    }
    c->srv = srv;
    c->req.arena = arena;
    c->req.conn = conn;
    c->req.content_length = -1;
    c->req.start_ns = kiln_mono_ns();
    c->req.raw_target = kiln_arena_strdup(arena, uri);
    c->resp.status = 200;
    c->resp.content_type = "application/json";
    c->resp.fd = -1;
    kiln_buf_init(&c->req.body, 0);
    kiln_buf_init(&c->resp.body, RESP_BODY_MAX);
    return c;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct kiln_http_server *srv = cls;
    struct req_ctx *c = *req_cls;
    (void)conn;
    (void)toe;
    if (c != NULL) {
        if (c->resp.fd >= 0)
            close(c->resp.fd);
        kiln_buf_release(&c->req.body);
        kiln_buf_release(&c->resp.body);
        kiln_arena_free(c->req.arena);
    }
    *req_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static enum MHD_Result queue(struct req_ctx *c, struct MHD_Connection *conn)
{
    struct kiln_http_resp *r = &c->resp;
    struct MHD_Response *mr;
    enum MHD_Result ok;

    c->state = REQ_DONE;
    if (r->fd >= 0) {
        mr = MHD_create_response_from_fd64(r->fd_size, r->fd);
        if (mr != NULL)
            r->fd = -1; /* MHD closes it now */
    } else {
        /* The body lives in the ctx until the completed callback: no copy needed. */
        mr = MHD_create_response_from_buffer(r->body.len, r->body.buf, MHD_RESPMEM_PERSISTENT);
    }
    if (mr == NULL)
        return MHD_NO;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (size_t i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    ok = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    if (c->srv->observe != NULL)
        c->srv->observe(c->srv->app, &c->req, r->status);
    return ok;
}

static void format_error(struct req_ctx *c, int rc)
{
    struct kiln_router *router = c->srv->router;
    if (c->resp.fd >= 0) {
        close(c->resp.fd);
        c->resp.fd = -1;
    }
    c->resp.nheaders = c->resp.nkeep;
    router->error_fn(&c->req, &c->resp, rc, kiln_err_msg(&c->err, rc));
}

static enum MHD_Result respond_error(struct req_ctx *c, struct MHD_Connection *conn, int rc)
{
    format_error(c, rc);
    return queue(c, conn);
}

/* First call: everything up to and including the decision to accept a body. */
static enum MHD_Result begin(struct req_ctx *c, struct MHD_Connection *conn, const char *method)
{
    struct kiln_router *router = c->srv->router;
    struct kiln_http_param *params;
    struct kiln_http_param *query;
    const char *path, *cl;
    size_t nparams, nquery;
    enum kiln_route_match m;
    int rc;

    c->req.method = kiln_arena_strdup(c->req.arena, method);
    if (c->req.method == NULL || c->req.raw_target == NULL)
        return respond_error(c, conn, KILN_ENOMEM);
    rc = kiln_http_parse_target(c->req.raw_target, c->req.arena, &path, &query, &nquery);
    if (rc != KILN_OK) {
        kiln_err_set(&c->err, KILN_EINVAL, "malformed request target: bad percent-encoding");
        return respond_error(c, conn, rc == KILN_ENOMEM ? KILN_ENOMEM : KILN_EINVAL);
    }
    c->req.path = path;
    c->req.query = query;
    c->req.nquery = nquery;
    c->state = REQ_BODY;

    m = kiln_router_match(router, method, path, c->req.arena, &c->route, &params, &nparams);
    if (m == KILN_ROUTE_NO_METHOD) {
        kiln_err_set(&c->err, KILN_EMETHOD, "method %s is not allowed for '%s'", method, path);
        return respond_error(c, conn, KILN_EMETHOD);
    }
    if (m == KILN_ROUTE_NO_PATH && router->fallback == NULL) {
        kiln_err_set(&c->err, KILN_ENOENDPOINT, "no API endpoint at %s %s", method, path);
        return respond_error(c, conn, KILN_ENOENDPOINT);
    }
    c->req.params = params;
    c->req.nparams = nparams;
    if (c->route != NULL) {
        c->req.route_data = c->route->data;
        c->req.route_pattern = c->route->pattern;
    }
    c->max_body =
        c->route != NULL && c->route->max_body != 0 ? c->route->max_body : router->max_body;
    kiln_buf_init(&c->req.body, c->max_body);

    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        uint64_t v;
        if (kiln_parse_uint64(cl, strlen(cl), &v) == KILN_OK && v <= INT64_MAX)
            c->req.content_length = (int64_t)v;
    }
    if (c->req.content_length > 0 && (uint64_t)c->req.content_length > c->max_body) {
        c->body_rc = kiln_err_set(&c->err, KILN_EBODYTOOBIG,
                                  "request body of %lld bytes is over the limit of %zu bytes",
                                  (long long)c->req.content_length, c->max_body);
        /*
         * Most clients send the whole body before reading the answer and see a broken pipe
         * if we close early, so a moderately oversized body is read and dropped; a huge one
         * is answered at once.
         */
        if ((uint64_t)c->req.content_length - c->max_body > DRAIN_MAX)
            return respond_error(c, conn, KILN_EBODYTOOBIG);
        return MHD_YES;
    }
    if (c->route != NULL && c->route->stream != NULL) {
        rc = c->route->stream->body_begin(c->srv->app, &c->req, &c->err);
        if (rc != KILN_OK)
            return respond_error(c, conn, rc);
    }
    return MHD_YES;
}

static enum MHD_Result body_data(struct req_ctx *c, const char *data, size_t len)
{
    int rc;
    if (c->body_rc != KILN_OK) {
        /* Draining after an error, up to a bound; past it, drop the connection. */
        c->drained += len;
        return c->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
    }
    if (c->route != NULL && c->route->stream != NULL) {
        rc = c->route->stream->body_chunk(c->srv->app, &c->req, data, len, &c->err);
    } else {
        rc = kiln_buf_append(&c->req.body, data, len);
        if (rc == KILN_ETOOBIG) {
            rc = kiln_err_set(&c->err, KILN_EBODYTOOBIG,
                              "request body is over the limit of %zu bytes", c->max_body);
        }
    }
    c->body_rc = rc;
    return MHD_YES;
}

static enum MHD_Result finish(struct req_ctx *c, struct MHD_Connection *conn)
{
    struct kiln_router *router = c->srv->router;
    kiln_http_handler h = c->route != NULL ? c->route->handler : router->fallback;
    int rc = c->body_rc;

    if (rc == KILN_OK)
        rc = h(c->srv->app, &c->req, &c->resp, &c->err);
    if (rc == KILN_OK && c->parked != NULL) {
        /* Long-poll: suspend first, so a resume can never come before the suspension. */
        void (*parked)(void *, struct kiln_http_req *) = c->parked;
        c->parked = NULL;
        MHD_suspend_connection(conn);
        parked(c->parked_arg, &c->req);
        return MHD_YES;
    }
    c->parked = NULL;
    if (rc != KILN_OK) {
        if (kiln_rc_http(rc) >= 500 && rc != KILN_ENOTSUP && rc != KILN_EUNAVAIL)
            kiln_log_error("%s %s: %s", c->req.method, c->req.path, kiln_err_msg(&c->err, rc));
        format_error(c, rc);
    }
    return queue(c, conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct req_ctx *c = *req_cls;
    (void)cls;
    (void)url;
    (void)version;

    if (c == NULL) {
        static const char oom[] = "{\"error_code\":\"TEMPORARILY_UNAVAILABLE\","
                                  "\"message\":\"out of memory\"}";
        struct MHD_Response *mr = MHD_create_response_from_buffer(
            sizeof(oom) - 1, (void *)(uintptr_t)oom, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ok;
        if (mr == NULL)
            return MHD_NO;
        ok = MHD_queue_response(conn, 503, mr);
        MHD_destroy_response(mr);
        return ok;
    }
    if (c->state == REQ_NEW)
        return begin(c, conn, method);
    if (c->state == REQ_DONE) {
        *upload_data_size = 0; /* answered early: discard whatever body still arrives */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        enum MHD_Result ok = body_data(c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok;
    }
    return finish(c, conn);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) KILN_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    kiln_log_debug("http: %s", msg);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, struct kiln_err *err)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    int gai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0 || res == NULL)
        return kiln_err_set(err, KILN_EINVAL, "cannot resolve host '%s': %s", host,
                            gai_strerror(gai));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return KILN_OK;
}

int kiln_http_start(const struct kiln_http_config *cfg, struct kiln_router *router, void *app,
                    struct kiln_http_server **out, struct kiln_err *err)
{
    struct kiln_http_server *s;
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_ITC | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    unsigned pool = cfg->workers > 0 ? (unsigned)cfg->workers : 0;
    unsigned timeout = cfg->connection_timeout_s != 0 ? cfg->connection_timeout_s : 120;
    const union MHD_DaemonInfo *info;
    int rc;

    rc = resolve(cfg->host != NULL ? cfg->host : "127.0.0.1", cfg->port, &ss, err);
    if (rc != KILN_OK)
        return rc;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /*
     * poll(), not epoll, for the worker pool: libmicrohttpd 0.9.75's internal edge-triggered
     * epoll can miss a client's FIN that arrives together with the last body bytes, leaving
     * the connection in CLOSE_WAIT until the idle timeout; an aborted upload then keeps its
     * temporary file and a graceful stop waits for it (tests/e2e/test_artifacts.py reproduces
     * it). Level-triggered poll sees the close at once.
     */
    flags |= pool > 0 ? MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME
                      : (MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL);

    s = kiln_calloc(1, sizeof(*s));
    if (s == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    s->router = router;
    s->app = app;
    s->observe = cfg->observe;
    s->can_suspend = pool > 0;
    atomic_init(&s->inflight, 0);

    /* Writes to a closed connection must be an EPIPE error, not a signal that kills us. */
    signal(SIGPIPE, SIG_IGN);

    errno = 0;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        CONN_POOL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        pool > 0 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, MHD_OPTION_END);
    if (s->daemon == NULL) {
        int e = errno;
        kiln_free(s);
        return kiln_err_set(err, KILN_EIO, "cannot listen on %s:%d: %s",
                            cfg->host != NULL ? cfg->host : "127.0.0.1", cfg->port,
                            e != 0 ? strerror(e) : "address in use or not available");
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? info->port : cfg->port;
    *out = s;
    return KILN_OK;
}

int kiln_http_defer(struct kiln_http_req *req, void (*parked)(void *arg, struct kiln_http_req *req),
                    void *arg)
{
    struct req_ctx *c = (struct req_ctx *)(void *)req; /* req is the first member */
    if (!c->srv->can_suspend)
        return KILN_ENOTSUP;
    c->parked = parked;
    c->parked_arg = arg;
    return KILN_OK;
}

void kiln_http_resume(struct kiln_http_req *req)
{
    req->resumed++;
    MHD_resume_connection(req->conn);
}

int kiln_http_port(const struct kiln_http_server *s)
{
    return s->port;
}

long kiln_http_inflight(struct kiln_http_server *s)
{
    return atomic_load(&s->inflight);
}

void kiln_http_stop(struct kiln_http_server *s, int grace_ms)
{
    MHD_socket fd;
    int64_t deadline;
    if (s == NULL)
        return;
    fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    deadline = kiln_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&s->inflight) > 0 && kiln_mono_ns() < deadline)
        kiln_sleep_ms(5);
    if (atomic_load(&s->inflight) > 0)
        kiln_log_warn("stopping with %ld request(s) still in flight after %d ms",
                      atomic_load(&s->inflight), grace_ms);
    MHD_stop_daemon(s->daemon);
    kiln_free(s);
}

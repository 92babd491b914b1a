/*
 * loadgen.h - a lean HTTP/1.1 keep-alive client for load generation in benchmarks.
 *
 * The load generator shares the machine with the server it measures (two cores here), so
 * every microsecond it spends per request is taken from the server. libcurl's multi
 * interface costs about 50 us of CPU per request; this client, one non-blocking socket per
 * connection driven by the caller's poll(), costs a fraction of that. It speaks just enough
 * HTTP for kiln's JSON answers: one request in flight per connection, answers framed by
 * Content-Length (no chunked encoding), connection kept alive.
 */
#ifndef KILN_BENCH_LOADGEN_H
#define KILN_BENCH_LOADGEN_H

#include <stddef.h>

struct lg_conn {
    int fd;
    char out[8192]; /* the request being sent */
    size_t out_len, out_off;
    char in[16384]; /* the answer being read (headers, then the body is counted, not kept) */
    size_t in_len;
    long body_left; /* -1 until the headers are complete */
    int status;     /* HTTP status of the last complete answer */
};

/* Connects to 127.0.0.1:port. Returns 0, or -1 with errno set. */
int lg_connect(struct lg_conn *c, int port);

/* Queues a POST of `body` (JSON) to `path` and starts sending it. Returns 0 or -1. */
int lg_post(struct lg_conn *c, const char *path, const char *body, size_t len);

/* poll() events the connection waits for (POLLOUT while sending, else POLLIN). */
short lg_events(const struct lg_conn *c);

/*
 * Advances the exchange after poll() reported `revents`. Returns 1 when the answer is
 * complete (c->status holds its status), 0 when more is to come, -1 when the connection
 * failed (closed, malformed answer).
 */
int lg_progress(struct lg_conn *c, short revents);

void lg_close(struct lg_conn *c);

#endif

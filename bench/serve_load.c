/*
 * serve_load.c - an HTTP load driver for `kiln serve` benchmarks (bench/run_serve_bench.py).
 *
 * Open loop (the default, as wrk2 does): request k is due at t0 + k / rate whatever happened
 * to earlier requests; its latency is measured from that due time, so a stalled server is
 * charged for the requests that queued behind the stall (no coordinated omission). Due
 * requests go out on an idle keep-alive connection; when every connection is busy they wait
 * in a queue and their wait counts. Pacing uses a timerfd with an absolute deadline, so the
 * schedule does not drift or burst.
 *
 * Closed loop (--closed): every connection sends its next request as soon as the previous
 * answer arrives; the figure is the maximum throughput.
 *
 * One thread, epoll, raw sockets: the driver needs little CPU, which matters on a 2-core
 * machine shared with the server under test. Responses must carry Content-Length.
 *
 *   bench_serve_load --url http://127.0.0.1:8080/invocations --body row.json
 *                    [--rate 5000] [--duration 30] [--warmup 3] [--connections 32]
 *                    [--closed] [--content-type application/json] [--label NAME]
 *
 * Prints a human line and a JSON line (percentiles in microseconds).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 1024
#define QCAP (1u << 22)
#define RBUF (1 << 20)

struct conn {
    int fd;
    int busy;
    int64_t due;     /* when the request in flight was due (open loop) or sent (closed) */
    size_t sent;     /* bytes of the request written */
    char *rbuf;
    size_t rlen;
};

struct driver {
    const char *host, *port, *path, *ctype, *label;
    char *req;
    size_t req_len;
    double rate, duration, warmup;
    int nconn, closed;
    struct conn conns[MAX_CONN];
    int ep, tfd;
    int64_t *queue; /* due times waiting for a connection */
    size_t qhead, qtail;
    int64_t *lat;   /* latencies (ns) of measured requests */
    size_t nlat, latcap;
    uint64_t errors, non200, done_measured, completed; /* completed: answers within the window */
    int64_t t0, measure_from, end;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_serve_load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int connect_one(struct driver *d)
{
    struct addrinfo hints, *res;
    int fd, one = 1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(d->host, d->port, &hints, &res) != 0 || res == NULL)
        die("getaddrinfo");
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0)
        die("connect");
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void watch(struct driver *d, int i, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)i };
    if (epoll_ctl(d->ep, EPOLL_CTL_MOD, d->conns[i].fd, &ev) != 0)
        die("epoll_ctl");
}

static void send_more(struct driver *d, int i)
{
    struct conn *c = &d->conns[i];
    while (c->sent < d->req_len) {
        ssize_t w = write(c->fd, d->req + c->sent, d->req_len - c->sent);
        if (w < 0 && errno == EAGAIN) {
            watch(d, i, EPOLLIN | EPOLLOUT);
            return;
        }
        if (w < 0)
            die("write");
        c->sent += (size_t)w;
    }
    watch(d, i, EPOLLIN);
}

static void start(struct driver *d, int i, int64_t due)
{
    struct conn *c = &d->conns[i];
    c->busy = 1;
    c->due = due;
    c->sent = 0;
    c->rlen = 0;
    send_more(d, i);
}

static void record(struct driver *d, struct conn *c, int status, int64_t t)
{
    if (t >= d->measure_from && t < d->end)
        d->completed++;
    if (c->due < d->measure_from || c->due >= d->end)
        return;
    d->done_measured++;
    if (status != 200)
        d->non200++;
    if (d->nlat == d->latcap) {
        d->latcap = d->latcap ? d->latcap * 2 : 1 << 16;
        d->lat = realloc(d->lat, d->latcap * sizeof(*d->lat));
        if (d->lat == NULL)
            die("realloc");
    }
    d->lat[d->nlat++] = t - c->due;
}

/* Parses complete responses in the buffer; returns 1 when one finished. */
static int parse(struct driver *d, struct conn *c, int64_t t)
{
    char *hdr_end, *cl;
    size_t head, body = 0, total;
    int status;
    c->rbuf[c->rlen] = '\0';
    hdr_end = strstr(c->rbuf, "\r\n\r\n");
    if (hdr_end == NULL)
        return 0;
    head = (size_t)(hdr_end - c->rbuf) + 4;
    status = atoi(c->rbuf + 9);
    cl = strcasestr(c->rbuf, "\r\ncontent-length:");
    if (cl != NULL && cl < hdr_end)
        body = strtoul(cl + 17, NULL, 10);
    total = head + body;
    if (c->rlen < total)
        return 0;
    record(d, c, status, t);
    memmove(c->rbuf, c->rbuf + total, c->rlen - total);
    c->rlen -= total;
    c->busy = 0;
    return 1;
}

static void on_readable(struct driver *d, int i, int64_t t)
{
    struct conn *c = &d->conns[i];
    for (;;) {
        ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen);
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            /* The server closed the connection: count it and reconnect. */
            struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
            d->errors++;
            close(c->fd);
            c->fd = connect_one(d);
            c->rlen = 0;
            c->busy = 0;
            epoll_ctl(d->ep, EPOLL_CTL_ADD, c->fd, &ev);
            return;
        }
        c->rlen += (size_t)r;
    }
    if (c->busy)
        parse(d, c, t);
}

static void arm(struct driver *d, int64_t at)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = at / 1000000000;
    its.it_value.tv_nsec = at % 1000000000;
    if (timerfd_settime(d->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        die("timerfd_settime");
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const struct driver *d, double p)
{
    size_t k;
    if (d->nlat == 0)
        return 0;
    k = (size_t)(p / 100.0 * (double)(d->nlat - 1) + 0.5);
    return (double)d->lat[k] / 1e3;
}

static void run(struct driver *d)
{
    struct epoll_event evs[256], ev;
    int64_t interval = d->closed ? 0 : (int64_t)(1e9 / d->rate), next_due;
    int busy = 0;

    d->ep = epoll_create1(0);
    d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (d->ep < 0 || d->tfd < 0)
        die("epoll/timerfd");
    for (int i = 0; i < d->nconn; i++) {
        d->conns[i].fd = connect_one(d);
        d->conns[i].rbuf = malloc(RBUF);
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        epoll_ctl(d->ep, EPOLL_CTL_ADD, d->conns[i].fd, &ev);
    }
    ev.events = EPOLLIN;
    ev.data.u32 = UINT32_MAX;
    epoll_ctl(d->ep, EPOLL_CTL_ADD, d->tfd, &ev);
    d->queue = malloc(QCAP * sizeof(*d->queue));
    d->t0 = now_ns() + 10000000;
    d->measure_from = d->t0 + (int64_t)(d->warmup * 1e9);
    d->end = d->measure_from + (int64_t)(d->duration * 1e9);
    next_due = d->t0;
    arm(d, d->closed ? d->end : next_due);
    if (d->closed) {
        while (now_ns() < d->t0)
            ;
        for (int i = 0; i < d->nconn; i++)
            start(d, i, now_ns());
    }
    for (;;) {
        int n = epoll_wait(d->ep, evs, 256, 100);
        int64_t t = now_ns();
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            if (i == UINT32_MAX) {
                uint64_t x;
                if (read(d->tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
                    die("read timerfd");
                while (!d->closed && next_due <= t && next_due < d->end) {
                    if (d->qtail - d->qhead == QCAP)
                        die("queue overflow");
                    d->queue[d->qtail++ % QCAP] = next_due;
                    next_due += interval;
                }
                if (!d->closed && next_due < d->end)
                    arm(d, next_due);
                continue;
            }
            if (evs[k].events & EPOLLOUT)
                send_more(d, (int)i);
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                on_readable(d, (int)i, t);
                if (!d->conns[i].busy && d->closed && t < d->end)
                    start(d, (int)i, t);
            }
        }
        for (int i = 0; !d->closed && i < d->nconn && d->qhead != d->qtail; i++)
            if (!d->conns[i].busy)
                start(d, i, d->queue[d->qhead++ % QCAP]);
        busy = 0;
        for (int i = 0; i < d->nconn; i++)
            busy += d->conns[i].busy;
        if (t >= d->end && d->qhead == d->qtail && busy == 0)
            break;
        if (t >= d->end + (int64_t)30e9)
            break; /* the server hangs: give up on the rest */
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_serve_load --url http://HOST:PORT/PATH --body FILE [--rate R] "
                    "[--duration S] [--warmup S] [--connections C] [--closed] "
                    "[--content-type T] [--label NAME]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct driver d;
    const char *url = NULL, *body_path = NULL;
    char *body, *hostport, *slash, *colon;
    FILE *f;
    long blen;
    double achieved;

    d.rate = 5000;
    d.duration = 30;
    d.warmup = 3;
    d.nconn = 32;
    d.ctype = "application/json";
    d.label = "kiln";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--closed") == 0) {
            d.closed = 1;
            continue;
        }
        if (v == NULL)
            usage();
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--body") == 0)
            body_path = v;
        else if (strcmp(a, "--rate") == 0)
            d.rate = strtod(v, NULL);
        else if (strcmp(a, "--duration") == 0)
            d.duration = strtod(v, NULL);
        else if (strcmp(a, "--warmup") == 0)
            d.warmup = strtod(v, NULL);
        else if (strcmp(a, "--connections") == 0)
            d.nconn = atoi(v);
        else if (strcmp(a, "--content-type") == 0)
            d.ctype = v;
        else if (strcmp(a, "--label") == 0)
            d.label = v;
        else
            usage();
        i++;
    }
    if (url == NULL || body_path == NULL || strncmp(url, "http://", 7) != 0 || d.rate <= 0 ||
        d.nconn < 1 || d.nconn > MAX_CONN)
        usage();
    hostport = strdup(url + 7);
    slash = strchr(hostport, '/');
    d.path = slash != NULL ? strdup(slash) : "/";
    if (slash != NULL)
        *slash = '\0';
    colon = strrchr(hostport, ':');
    d.host = hostport;
    d.port = colon != NULL ? colon + 1 : "80";
    if (colon != NULL)
        *colon = '\0';
    f = fopen(body_path, "rb");
    if (f == NULL)
        die(body_path);
    fseek(f, 0, SEEK_END);
    blen = ftell(f);
    fseek(f, 0, SEEK_SET);
    body = malloc((size_t)blen + 1);
    if (fread(body, 1, (size_t)blen, f) != (size_t)blen)
        die("read body");
    fclose(f);
    d.req = malloc((size_t)blen + 512);
    d.req_len = (size_t)snprintf(d.req, 512,
                                 "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                                 "Content-Length: %ld\r\nConnection: keep-alive\r\n\r\n",
                                 d.path, d.host, d.ctype, blen);
    memcpy(d.req + d.req_len, body, (size_t)blen);
    d.req_len += (size_t)blen;

    run(&d);
    qsort(d.lat, d.nlat, sizeof(*d.lat), cmp64);
    achieved = (double)d.completed / d.duration;
    printf("%s %s: %s %.0f req/s for %.0f s, %d connections: served %.0f req/s; %llu requests "
           "measured (%llu not 200, %llu connection errors); latency us p50 %.0f p90 %.0f "
           "p99 %.0f p99.9 %.0f max %.0f\n",
           d.label, url, d.closed ? "closed loop" : "open loop at", d.closed ? 0 : d.rate,
           d.duration, d.nconn, achieved, (unsigned long long)d.done_measured,
           (unsigned long long)d.non200, (unsigned long long)d.errors, pct(&d, 50), pct(&d, 90),
           pct(&d, 99), pct(&d, 99.9), pct(&d, 100));
    printf("{\"label\": \"%s\", \"mode\": \"%s\", \"rate\": %.0f, \"duration_s\": %.0f, "
           "\"connections\": %d, \"achieved_rps\": %.1f, \"answers\": %llu, \"non_200\": %llu, "
           "\"connection_errors\": %llu, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
           "\"p999_us\": %.1f, \"max_us\": %.1f}\n",
           d.label, d.closed ? "closed" : "open", d.closed ? 0 : d.rate, d.duration, d.nconn,
           achieved, (unsigned long long)d.done_measured, (unsigned long long)d.non200,
           (unsigned long long)d.errors, pct(&d, 50), pct(&d, 90), pct(&d, 99), pct(&d, 99.9),
           pct(&d, 100));
    return d.non200 > 0 || d.errors > 0;
}

/*
 * loadgen.c - the lean HTTP/1.1 client of loadgen.h.
 */
#define _GNU_SOURCE
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int lg_connect(struct lg_conn *c, int port)
{
    struct sockaddr_in sa;
    int one = 1;
    memset(c, 0, sizeof(*c));
    c->body_left = -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Writes what the socket takes of the request: 0, or -1 when the connection failed. */
static int send_some(struct lg_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)w;
    }
    return 0;
}

int lg_post(struct lg_conn *c, const char *path, const char *body, size_t len)
{
    int n = snprintf(c->out, sizeof(c->out),
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, len);
    if (n < 0 || (size_t)n + len > sizeof(c->out))
        return -1;
    memcpy(c->out + n, body, len);
    c->out_len = (size_t)n + len;
    c->out_off = 0;
    c->in_len = 0;
    c->body_left = -1;
    return send_some(c);
}

short lg_events(const struct lg_conn *c)
{
    return c->out_off < c->out_len ? POLLOUT : POLLIN;
}

/* Parses the status line and Content-Length once the headers are in. */
static int parse_head(struct lg_conn *c, size_t head_len)
{
    const char *p;
    c->in[head_len - 1] = '\0';
    if (sscanf(c->in, "HTTP/1.%*c %d", &c->status) != 1)
        return -1;
    p = strcasestr(c->in, "\r\nContent-Length:");
    if (p == NULL)
        return -1;
    c->body_left = strtol(p + 17, NULL, 10) - (long)(c->in_len - head_len);
    return c->body_left < 0 ? -1 : 0; /* more than the answer: nothing else was asked */
}

int lg_progress(struct lg_conn *c, short revents)
{
    if (revents & (POLLERR | POLLNVAL))
        return -1;
    if (send_some(c) != 0)
        return -1;
    if (c->out_off < c->out_len)
        return 0;
    for (;;) {
        /* Headers accumulate in `in`; the body is read over it and only counted. */
        int in_head = c->body_left < 0;
        char *room = in_head ? c->in + c->in_len : c->in;
        size_t cap =
            in_head ? sizeof(c->in) - 1 - c->in_len
                    : ((size_t)c->body_left < sizeof(c->in) ? (size_t)c->body_left : sizeof(c->in));
        ssize_t r;
        if (cap == 0)
            return -1; /* headers larger than the buffer */
        r = read(c->fd, room, cap);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        if (!in_head) {
            c->body_left -= r;
        } else {
            char *end;
            c->in_len += (size_t)r;
            c->in[c->in_len] = '\0';
            end = strstr(c->in, "\r\n\r\n");
            if (end != NULL && parse_head(c, (size_t)(end - c->in) + 4) != 0)
                return -1;
        }
        if (c->body_left == 0)
            return 1;
    }
}

void lg_close(struct lg_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

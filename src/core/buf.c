/*
 * buf.c - bounded buffer (see buf.h for the invariants).
 */
#include "core/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"

/* Shared by every unallocated buffer; never written (alloc == 0 guards every write). */
static char buf_empty[1];

void kiln_buf_init(struct kiln_buf *b, size_t max)
{
    b->buf = buf_empty;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

void kiln_buf_release(struct kiln_buf *b)
{
    if (b->alloc != 0)
        kiln_free(b->buf);
    kiln_buf_init(b, b->max);
}

void kiln_buf_reset(struct kiln_buf *b)
{
    b->len = 0;
    if (b->alloc != 0)
        b->buf[0] = '\0';
}

void kiln_buf_truncate(struct kiln_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->buf[len] = '\0';
}

int kiln_buf_grow(struct kiln_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return KILN_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->alloc)
        return KILN_OK;
    cap = b->alloc < 64 ? 64 : b->alloc;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    if (b->alloc == 0) {
        p = kiln_malloc(cap);
        if (p == NULL)
            return KILN_ENOMEM;
        p[0] = '\0';
    } else {
        p = kiln_realloc(b->buf, cap);
        if (p == NULL)
            return KILN_ENOMEM;
    }
    b->buf = p;
    b->alloc = cap;
    return KILN_OK;
}

int kiln_buf_append(struct kiln_buf *b, const void *data, size_t len)
{
    int rc;
    if (len == 0)
        return KILN_OK;
    rc = kiln_buf_grow(b, len);
    if (rc != KILN_OK)
        return rc;
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = '\0';
    return KILN_OK;
}

int kiln_buf_puts(struct kiln_buf *b, const char *s)
{
    return kiln_buf_append(b, s, strlen(s));
}

int kiln_buf_putc(struct kiln_buf *b, char c)
{
    return kiln_buf_append(b, &c, 1);
}

int kiln_buf_vprintf(struct kiln_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rc;
    size_t room = b->alloc > b->len ? b->alloc - b->len : 0;

    va_copy(cp, ap);
    n = vsnprintf(room != 0 ? b->buf + b->len : NULL, room, fmt, cp);
    va_end(cp);
    if (n < 0)
        return KILN_EINVAL;
    if ((size_t)n < room) {
        if (b->len + (size_t)n > b->max) {
            b->buf[b->len] = '\0';
            return KILN_ETOOBIG;
        }
        b->len += (size_t)n;
        return KILN_OK;
    }
    rc = kiln_buf_grow(b, (size_t)n);
    if (rc != KILN_OK) {
        if (b->alloc != 0)
            b->buf[b->len] = '\0';
        return rc;
    }
    va_copy(cp, ap);
    vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, cp);
    va_end(cp);
    b->len += (size_t)n;
    return KILN_OK;
}

int kiln_buf_printf(struct kiln_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = kiln_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *kiln_buf_detach(struct kiln_buf *b, size_t *len)
{
    char *s;
    if (b->alloc == 0) {
        s = kiln_malloc(1);
        if (s == NULL)
            return NULL;
        s[0] = '\0';
    } else {
        s = b->buf;
    }
    if (len != NULL)
        *len = b->len;
    kiln_buf_init(b, b->max);
    return s;
}

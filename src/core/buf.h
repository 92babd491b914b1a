/*
 * buf.h - bounded, growable byte buffer (after git's strbuf and curl's dynbuf).
 *
 * Invariants:
 *   - `buf` is never NULL and buf[len] == '\0' at all times, so it is always a C string;
 *   - `len` never exceeds `max`, the limit given at init: an append that would pass it fails
 *     with KILN_ETOOBIG and leaves the buffer unchanged;
 *   - init cannot fail; memory is allocated on the first append.
 *
 * Before the first append `buf` points at a shared read-only empty string: never write
 * through `buf` directly, use the functions here. Ownership: the struct owns its memory until
 * kiln_buf_detach hands it over or kiln_buf_release frees it. Not thread-safe; one owner.
 */
#ifndef KILN_CORE_BUF_H
#define KILN_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct kiln_buf {
    char *buf;
    size_t len;
    size_t alloc; /* 0 while buf is the shared empty string */
    size_t max;
};

/* Common limits. */
#define KILN_BUF_SMALL ((size_t)4096)
#define KILN_BUF_MB ((size_t)1 << 20)

void kiln_buf_init(struct kiln_buf *b, size_t max);
/* Frees the memory and returns to the just-initialised state (same max). */
void kiln_buf_release(struct kiln_buf *b);
/* Empties the buffer but keeps its memory. */
void kiln_buf_reset(struct kiln_buf *b);
/* Shortens to len bytes (no-op when len >= b->len). */
void kiln_buf_truncate(struct kiln_buf *b, size_t len);
/* Makes room for `extra` more bytes. KILN_ETOOBIG past max, KILN_ENOMEM. */
int kiln_buf_grow(struct kiln_buf *b, size_t extra);

int kiln_buf_append(struct kiln_buf *b, const void *data, size_t len);
int kiln_buf_puts(struct kiln_buf *b, const char *s);
int kiln_buf_putc(struct kiln_buf *b, char c);
int kiln_buf_printf(struct kiln_buf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
int kiln_buf_vprintf(struct kiln_buf *b, const char *fmt, va_list ap) KILN_PRINTF(2, 0);

/*
 * Hands the contents over as a heap string the caller frees with kiln_free; the buffer is
 * left empty. Returns NULL only when the buffer was still unallocated and allocation fails.
 * `len` (optional) receives the length.
 */
char *kiln_buf_detach(struct kiln_buf *b, size_t *len /* OUT */);

#endif

/*
 * arena.c - region allocator (see arena.h).
 *
 * Layout: a singly linked list of blocks; allocations bump a pointer in the newest block.
 * Requests larger than a quarter of the chunk size get a block of their own, so one big body
 * does not waste a chunk. Cleanups are a linked list allocated from the arena itself.
 */
#include "core/arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

struct arena_block {
    struct arena_block *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct kiln_arena {
    struct arena_block *blocks;
    struct arena_cleanup *cleanups;
    size_t chunk;
    size_t used;
};

#define ARENA_ALIGN (alignof(max_align_t))

struct kiln_arena *kiln_arena_new(size_t chunk)
{
    struct kiln_arena *a = kiln_calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->chunk = chunk != 0 ? chunk : 8192;
    return a;
}

void kiln_arena_free(struct kiln_arena *a)
{
    if (a == NULL)
        return;
    for (struct arena_cleanup *c = a->cleanups; c != NULL; c = c->next)
        c->fn(c->data);
    for (struct arena_block *b = a->blocks, *next; b != NULL; b = next) {
        next = b->next;
        kiln_free(b);
    }
    kiln_free(a);
}

static struct arena_block *block_new(size_t size)
{
    struct arena_block *b = kiln_malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *kiln_arena_alloc(struct kiln_arena *a, size_t size)
{
    struct arena_block *b = a->blocks;
    size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    void *p;

    if (need < size)
        return NULL;
    if (need > a->chunk / 4) {
        /* A dedicated block, linked behind the current one so bumping continues there. */
        struct arena_block *big = block_new(need);
        if (big == NULL)
            return NULL;
        big->used = need;
        if (b != NULL) {
            big->next = b->next;
            b->next = big;
        } else {
            big->next = NULL;
            a->blocks = big;
        }
        a->used += need;
        return big->data;
    }
    if (b == NULL || b->size - b->used < need) {
        b = block_new(a->chunk);
        if (b == NULL)
            return NULL;
        b->next = a->blocks;
        a->blocks = b;
    }
    p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

void *kiln_arena_calloc(struct kiln_arena *a, size_t n, size_t size)
{
    void *p;
    if (size != 0 && n > ((size_t)-1) / size)
        return NULL;
    p = kiln_arena_alloc(a, n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

char *kiln_arena_strndup(struct kiln_arena *a, const char *s, size_t n)
{
    char *d = kiln_arena_alloc(a, n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kiln_arena_strdup(struct kiln_arena *a, const char *s)
{
    return kiln_arena_strndup(a, s, strlen(s));
}

char *kiln_arena_printf(struct kiln_arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *d;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    d = kiln_arena_alloc(a, (size_t)n + 1);
    if (d == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int kiln_arena_cleanup_add(struct kiln_arena *a, void (*fn)(void *), void *data)
{
    struct arena_cleanup *c = kiln_arena_alloc(a, sizeof(*c));
    if (c == NULL)
        return KILN_ENOMEM;
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return KILN_OK;
}

size_t kiln_arena_used(const struct kiln_arena *a)
{
    return a->used;
}

/*
 * arena.h - region allocator for per-request data (after nginx's ngx_pool_t).
 *
 * An HTTP request gets one arena, created when its first byte arrives and freed when MHD says
 * the request is complete; parsed bodies, response text and temporaries come from it and are
 * never freed one by one. Resources that need more than free() (a prepared statement, a
 * jansson tree, a file descriptor) register a cleanup, run in reverse order at
 * kiln_arena_free.
 *
 * Allocation failure returns NULL (callers return KILN_ENOMEM). Not thread-safe: one arena,
 * one thread at a time. kiln_arena_free(NULL) is a no-op.
 */
#ifndef KILN_CORE_ARENA_H
#define KILN_CORE_ARENA_H

#include <stddef.h>

#include "core/err.h"

struct kiln_arena;

/* `chunk` is the size of each block requested from the heap (0 picks 8 KiB). */
struct kiln_arena *kiln_arena_new(size_t chunk);
void kiln_arena_free(struct kiln_arena *a);

/* Memory aligned for any type; lives until the arena is freed. */
void *kiln_arena_alloc(struct kiln_arena *a, size_t size);
void *kiln_arena_calloc(struct kiln_arena *a, size_t n, size_t size);
char *kiln_arena_strdup(struct kiln_arena *a, const char *s);
char *kiln_arena_strndup(struct kiln_arena *a, const char *s, size_t n);
char *kiln_arena_printf(struct kiln_arena *a, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Runs fn(data) when the arena is freed (last registered runs first). KILN_ENOMEM. */
int kiln_arena_cleanup_add(struct kiln_arena *a, void (*fn)(void *), void *data);

/* Bytes handed out so far (for limits and tests). */
size_t kiln_arena_used(const struct kiln_arena *a);

#endif

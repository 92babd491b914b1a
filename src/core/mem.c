/*
 * mem.c - allocation wrappers with a fault-injection countdown (see mem.h).
 *
 * Thread-safety: all functions may be called from any thread; the countdown is atomic.
 */
#include "core/mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* -1: injection off. >= 0: allocations left before failures start. */
static atomic_long fail_countdown = -1;
static atomic_int fail_triggered;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n < 0)
        return 0;
    for (;;) {
        if (n == 0) {
            atomic_store(&fail_triggered, 1);
            return 1;
        }
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
            return 0;
        if (n < 0)
            return 0;
    }
}

void kiln_mem_fail_after(long n)
{
    atomic_store(&fail_triggered, 0);
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

int kiln_mem_fail_triggered(void)
{
    return atomic_load(&fail_triggered);
}

void *kiln_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size == 0 ? 1 : size);
}

void *kiln_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *kiln_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size == 0 ? 1 : size);
}

void *kiln_reallocarray(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return kiln_realloc(p, n * size);
}

char *kiln_strdup(const char *s)
{
    return kiln_strndup(s, strlen(s));
}

char *kiln_strndup(const char *s, size_t n)
{
    size_t len = 0;
    char *d;
    while (len < n && s[len] != '\0')
        len++;
    d = kiln_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void kiln_free(void *p)
{
    free(p);
}

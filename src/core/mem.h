/*
 * mem.h - every heap allocation in kiln goes through these functions (lint bans the raw libc
 * calls outside this file).
 *
 * Failure is an ordinary error: the functions return NULL and callers return KILN_ENOMEM.
 * Only start-up code may treat it as fatal. kiln_free(NULL) is a no-op.
 *
 * Fault injection for tests: kiln_mem_fail_after(n) lets the next n allocations succeed and
 * makes every later one fail, until kiln_mem_fail_after(-1) switches injection off. Tests use it
 * to run an operation with n = 0, 1, 2, ... until it succeeds, checking for KILN_ENOMEM and
 * leaks at every step (STYLE.md rule 21). The countdown is a process-wide atomic; it is the one
 * mutable global kiln allows besides the log level.
 */
#ifndef KILN_CORE_MEM_H
#define KILN_CORE_MEM_H

#include <stddef.h>

void *kiln_malloc(size_t size);
void *kiln_calloc(size_t n, size_t size);
/* On failure the old block is left untouched (and still owned by the caller). */
void *kiln_realloc(void *p, size_t size);
/* realloc for arrays: fails (NULL) when n * size overflows. */
void *kiln_reallocarray(void *p, size_t n, size_t size);
char *kiln_strdup(const char *s);
/* Copies at most n bytes of s and NUL-terminates; s need not be terminated within n. */
char *kiln_strndup(const char *s, size_t n);
void kiln_free(void *p);

/* Fault injection: n >= 0 lets n more allocations succeed, then fail; n < 0 turns it off. */
void kiln_mem_fail_after(long n);
/* True once an injected failure has happened since the last kiln_mem_fail_after call. */
int kiln_mem_fail_triggered(void);

#endif

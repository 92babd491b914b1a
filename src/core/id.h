/*
 * id.h - identifiers: random bytes, run ids, logged-model ids and MLflow-style random names.
 * Thread-safe.
 */
#ifndef KILN_CORE_ID_H
#define KILN_CORE_ID_H

#include <stddef.h>

#define KILN_UUID_HEX_LEN 32

/* Fills buf with n cryptographically random bytes (getrandom). KILN_EIO on failure. */
int kiln_random_bytes(void *buf, size_t n);
/* A uuid4 as 32 lowercase hex characters (MLflow's run id form); out holds 33 bytes. */
int kiln_uuid_hex(char *out);
/* "adjective-animal-123", MLflow's style of random run and model names; out holds 64 bytes. */
int kiln_random_name(char *out, size_t size);
/* A uniformly distributed random integer in [0, n) (n > 0). */
unsigned kiln_random_below(unsigned n);

#endif

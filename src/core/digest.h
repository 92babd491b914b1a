/*
 * digest.h - SHA-256 (FIPS 180-4), streamed in fixed memory, and content digests of data
 * files (the `dataset_digest` of evaluations and the digest of logged datasets; pipeline spec
 * versions hash their text with it too).
 *
 * kiln names a dataset by the first 16 hex digits of the SHA-256 of its file, as the demo's
 * training script does (examples/demo/train.py). Thread-safe (no shared state).
 */
#ifndef KILN_CORE_DIGEST_H
#define KILN_CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct kiln_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
};

void kiln_sha256_init(struct kiln_sha256 *s);
void kiln_sha256_update(struct kiln_sha256 *s, const void *data, size_t len);
/* Finishes and writes the 32-byte digest. */
void kiln_sha256_final(struct kiln_sha256 *s, unsigned char out[32]);

/*
 * SHA-256 of the file at `path` as lowercase hex (64 digits + NUL). KILN_ENOENT or KILN_EIO
 * naming the file.
 */
int kiln_file_sha256_hex(const char *path, char out[65], struct kiln_err *err);

#endif

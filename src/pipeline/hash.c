/*
 * hash.c - SHA-1 (FIPS 180-4) and SHA-256 (core/digest.h) for the pipeline subsystem.
 *
 * SHA-1 feeds the deterministic retry jitter (Airflow hashes "dag#task#date#try" with SHA-1, so
 * kiln does the same); SHA-256 names spec versions (the digest of the YAML text and its base
 * folder). Neither is used for security. Pure functions on caller memory; thread-safe.
 */
#include <string.h>

#include "core/digest.h"
#include "pipeline/pipeline_int.h"

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void sha1_block(uint32_t h[5], const unsigned char *blk)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 16; i++)
        w[i] = be32(blk + 4 * i);
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k, t;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* Merkle-Damgard padding for SHA-1: 64-byte blocks, big-endian bit length. */
static void md_run(const void *data, size_t len, uint32_t *h,
                   void (*block)(uint32_t *, const unsigned char *))
{
    const unsigned char *p = data;
    unsigned char tail[128];
    size_t full = len / 64 * 64, rest = len - full, tlen;
    uint64_t bits = (uint64_t)len * 8;

    for (size_t off = 0; off < full; off += 64)
        block(h, p + off);
    memset(tail, 0, sizeof(tail));
    if (rest > 0)
        memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    tlen = rest + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    block(h, tail);
    if (tlen == 128)
        block(h, tail + 64);
}

void kiln_pl_sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u };
    md_run(data, len, h, sha1_block);
    for (int i = 0; i < 5; i++)
        put_be32(out + 4 * i, h[i]);
}

void kiln_pl_sha256(const void *data, size_t len, unsigned char out[32])
{
    struct kiln_sha256 s;
    kiln_sha256_init(&s);
    kiln_sha256_update(&s, data, len);
    kiln_sha256_final(&s, out);
}

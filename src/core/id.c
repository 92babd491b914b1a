/*
 * id.c - random identifiers and names (see id.h).
 */
#include "core/id.h"

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>
#include <sys/random.h>

#include "core/err.h"

int kiln_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return KILN_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return KILN_OK;
}

int kiln_uuid_hex(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int rc = kiln_random_bytes(b, sizeof(b));
    if (rc != KILN_OK)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return KILN_OK;
}

unsigned kiln_random_below(unsigned n)
{
    uint32_t v, limit = UINT32_MAX - UINT32_MAX % n;
    do {
        if (kiln_random_bytes(&v, sizeof(v)) != KILN_OK)
            return 0;
    } while (v >= limit);
    return v % n;
}

static const char *const adjectives[] = {
    "able",    "amber",   "bold",   "brave",  "bright", "calm",   "clever", "crisp",
    "daring",  "eager",   "fair",   "fierce", "gentle", "glad",   "golden", "grand",
    "honest",  "humble",  "jolly",  "keen",   "kind",   "lively", "lucky",  "merry",
    "mighty",  "nimble",  "noble",  "polite", "proud",  "quick",  "quiet",  "rare",
    "rosy",    "silent",  "smooth", "snappy", "sunny",  "swift",  "tidy",   "upbeat",
    "valiant", "vibrant", "warm",   "wise",   "witty",  "zesty",  "steady", "serene",
};

static const char *const animals[] = {
    "ant",   "bat",   "bear",  "bee",   "bison", "boar",  "cat",   "cod",   "colt",  "crab",
    "crane", "deer",  "doe",   "dove",  "eel",   "elk",   "finch", "fox",   "frog",  "gnat",
    "goat",  "hare",  "hawk",  "hen",   "heron", "ibis",  "jay",   "koala", "lark",  "lion",
    "lynx",  "mole",  "moth",  "newt",  "owl",   "ox",    "panda", "pike",  "quail", "ram",
    "robin", "seal",  "shrew", "snail", "squid", "stork", "swan",  "toad",  "trout", "vole",
    "wasp",  "whale", "wolf",  "wren",  "yak",   "zebra",
};

int kiln_random_name(char *out, size_t size)
{
    snprintf(out, size, "%s-%s-%u", adjectives[kiln_random_below(KILN_ARRAY_LEN(adjectives))],
             animals[kiln_random_below(KILN_ARRAY_LEN(animals))], kiln_random_below(1000));
    return KILN_OK;
}

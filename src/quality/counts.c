/*
 * counts.c - the capped value-count table and the HyperLogLog counter (see sketch.h).
 *
 * The table is open addressing over entry indices (load factor <= 1/2), entries in
 * insertion order, key bytes copied into 64 KiB blocks that never move, so an entry's key
 * pointer is stable for the table's life. Hashing is MurmurHash64A-style. Not thread-safe.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "quality/sketch.h"

#define BLOCK ((size_t)64 << 10)

uint64_t kiln_hash64(const void *key, size_t len)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    const int r = 47;
    const unsigned char *p = key;
    uint64_t h = 0x8445d61a4e774912ULL ^ (len * m);
    size_t n8 = len / 8;
    for (size_t i = 0; i < n8; i++) {
        uint64_t k;
        memcpy(&k, p + i * 8, 8);
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    p += n8 * 8;
    switch (len & 7) {
    case 7:
        h ^= (uint64_t)p[6] << 48;
        /* fall through */
    case 6:
        h ^= (uint64_t)p[5] << 40;
        /* fall through */
    case 5:
        h ^= (uint64_t)p[4] << 32;
        /* fall through */
    case 4:
        h ^= (uint64_t)p[3] << 24;
        /* fall through */
    case 3:
        h ^= (uint64_t)p[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint64_t)p[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint64_t)p[0];
        h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

void kiln_counts_init(struct kiln_counts *c, size_t cap)
{
    memset(c, 0, sizeof(*c));
    c->cap = cap;
    c->block_size = BLOCK;
}

void kiln_counts_release(struct kiln_counts *c)
{
    size_t cap = c->cap;
    for (size_t i = 0; i < c->nblocks; i++)
        kiln_free(c->blocks[i]);
    kiln_free(c->blocks);
    kiln_free(c->e);
    kiln_free(c->slots);
    kiln_counts_init(c, cap);
}

void kiln_counts_reset(struct kiln_counts *c)
{
    kiln_counts_release(c);
}

static const struct kiln_counts_entry *lookup(const struct kiln_counts *c, const void *key,
                                              size_t len, uint64_t h, size_t *slot)
{
    size_t mask = c->nslots - 1, i;
    for (i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t s = c->slots[i];
        const struct kiln_counts_entry *e;
        if (s == 0) {
            *slot = i;
            return NULL;
        }
        e = &c->e[s - 1];
        if (e->len == len && memcmp(e->key, key, len) == 0) {
            *slot = i;
            return e;
        }
    }
}

const struct kiln_counts_entry *kiln_counts_find(const struct kiln_counts *c, const void *key,
                                                 size_t len)
{
    size_t slot = 0;
    if (c->nslots == 0)
        return NULL;
    return lookup(c, key, len, kiln_hash64(key, len), &slot);
}

static int grow_slots(struct kiln_counts *c)
{
    size_t n = c->nslots ? c->nslots * 2 : 64;
    uint32_t *s = kiln_calloc(n, sizeof(*s));
    if (s == NULL)
        return KILN_ENOMEM;
    for (size_t k = 0; k < c->n; k++) {
        size_t i = (size_t)kiln_hash64(c->e[k].key, c->e[k].len) & (n - 1);
        while (s[i] != 0)
            i = (i + 1) & (n - 1);
        s[i] = (uint32_t)(k + 1);
    }
    kiln_free(c->slots);
    c->slots = s;
    c->nslots = n;
    return KILN_OK;
}

static char *store_key(struct kiln_counts *c, const void *key, size_t len)
{
    char *dst;
    if (c->nblocks == 0 || c->block_used + len + 1 > c->block_size) {
        size_t size = len + 1 > BLOCK ? len + 1 : BLOCK;
        char **b = kiln_reallocarray(c->blocks, c->nblocks + 1, sizeof(*b));
        if (b == NULL)
            return NULL;
        c->blocks = b;
        b[c->nblocks] = kiln_malloc(size);
        if (b[c->nblocks] == NULL)
            return NULL;
        c->nblocks++;
        c->block_used = 0;
        c->block_size = size;
    }
    dst = c->blocks[c->nblocks - 1] + c->block_used;
    memcpy(dst, key, len);
    dst[len] = '\0';
    c->block_used += len + 1;
    return dst;
}

int kiln_counts_add(struct kiln_counts *c, const void *key, size_t len, uint64_t weight,
                    uint64_t tag, const struct kiln_counts_entry **entry)
{
    uint64_t h = kiln_hash64(key, len);
    size_t slot = 0;
    struct kiln_counts_entry *e;
    char *copy;

    if (entry != NULL)
        *entry = NULL;
    if (len > UINT32_MAX)
        return KILN_ETOOBIG;
    if (c->nslots > 0) {
        const struct kiln_counts_entry *f = lookup(c, key, len, h, &slot);
        if (f != NULL) {
            e = &c->e[f - c->e];
            e->count += weight;
            if (entry != NULL)
                *entry = e;
            return KILN_OK;
        }
    }
    if (c->n >= c->cap) {
        c->other += weight;
        c->overflow = 1;
        return KILN_OK;
    }
    if ((c->n + 1) * 2 > c->nslots) {
        if (grow_slots(c) != KILN_OK)
            return KILN_ENOMEM;
        lookup(c, key, len, h, &slot);
    }
    if (c->n == c->cap_e) {
        size_t cap = c->cap_e ? c->cap_e * 2 : 16;
        struct kiln_counts_entry *ne = kiln_reallocarray(c->e, cap, sizeof(*ne));
        if (ne == NULL)
            return KILN_ENOMEM;
        c->e = ne;
        c->cap_e = cap;
    }
    copy = store_key(c, key, len);
    if (copy == NULL)
        return KILN_ENOMEM;
    e = &c->e[c->n];
    e->key = copy;
    e->len = (uint32_t)len;
    e->count = weight;
    e->first = tag;
    c->slots[slot] = (uint32_t)(++c->n);
    if (entry != NULL)
        *entry = e;
    return KILN_OK;
}

int kiln_counts_add_num(struct kiln_counts *c, double v, uint64_t weight)
{
    if (v == 0)
        v = 0.0;
    return kiln_counts_add(c, &v, sizeof(v), weight, 0, NULL);
}

double kiln_counts_num(const struct kiln_counts_entry *e)
{
    double v = 0;
    if (e->len == sizeof(v))
        memcpy(&v, e->key, sizeof(v));
    return v;
}

int kiln_counts_merge(struct kiln_counts *dst, const struct kiln_counts *src)
{
    for (size_t i = 0; i < src->n; i++) {
        int rc = kiln_counts_add(dst, src->e[i].key, src->e[i].len, src->e[i].count,
                                 src->e[i].first, NULL);
        if (rc != KILN_OK)
            return rc;
    }
    dst->other += src->other;
    if (src->overflow)
        dst->overflow = 1;
    return KILN_OK;
}

uint64_t kiln_counts_total(const struct kiln_counts *c)
{
    uint64_t t = c->other;
    for (size_t i = 0; i < c->n; i++)
        t += c->e[i].count;
    return t;
}

/* qsort has no context argument in C11: sort (key pointer, index) pairs instead. */
struct sort_item {
    const struct kiln_counts_entry *e;
    size_t idx;
};

static int cmp_bytes(const void *a, const void *b)
{
    const struct kiln_counts_entry *x = ((const struct sort_item *)a)->e;
    const struct kiln_counts_entry *y = ((const struct sort_item *)b)->e;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->key, y->key, n);
    if (r != 0)
        return r;
    return (x->len > y->len) - (x->len < y->len);
}

static int cmp_num(const void *a, const void *b)
{
    double x = kiln_counts_num(((const struct sort_item *)a)->e);
    double y = kiln_counts_num(((const struct sort_item *)b)->e);
    return (x > y) - (x < y);
}

int kiln_counts_sorted(const struct kiln_counts *c, int numeric, size_t **order)
{
    struct sort_item *it = kiln_calloc(c->n + 1, sizeof(*it));
    size_t *o = kiln_calloc(c->n + 1, sizeof(*o));
    if (it == NULL || o == NULL) {
        kiln_free(it);
        kiln_free(o);
        return KILN_ENOMEM;
    }
    for (size_t i = 0; i < c->n; i++) {
        it[i].e = &c->e[i];
        it[i].idx = i;
    }
    qsort(it, c->n, sizeof(*it), numeric ? cmp_num : cmp_bytes);
    for (size_t i = 0; i < c->n; i++)
        o[i] = it[i].idx;
    kiln_free(it);
    *order = o;
    return KILN_OK;
}

/* ---- HyperLogLog ---- */

void kiln_hll_init(struct kiln_hll *h)
{
    memset(h->reg, 0, sizeof(h->reg));
}

void kiln_hll_add(struct kiln_hll *h, const void *key, size_t len)
{
    uint64_t x = kiln_hash64(key, len);
    size_t idx = (size_t)(x >> (64 - KILN_HLL_BITS));
    uint64_t rest = (x << KILN_HLL_BITS) | ((uint64_t)1 << (KILN_HLL_BITS - 1));
    unsigned char rank = (unsigned char)(__builtin_clzll(rest) + 1);
    if (rank > h->reg[idx])
        h->reg[idx] = rank;
}

void kiln_hll_merge(struct kiln_hll *dst, const struct kiln_hll *src)
{
    for (size_t i = 0; i < sizeof(dst->reg); i++)
        if (src->reg[i] > dst->reg[i])
            dst->reg[i] = src->reg[i];
}

double kiln_hll_estimate(const struct kiln_hll *h)
{
    const double m = (double)(1 << KILN_HLL_BITS);
    double sum = 0, est;
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof(h->reg); i++) {
        sum += ldexp(1.0, -(int)h->reg[i]);
        if (h->reg[i] == 0)
            zeros++;
    }
    est = (0.7213 / (1 + 1.079 / m)) * m * m / sum;
    if (est <= 2.5 * m && zeros > 0)
        est = m * log(m / (double)zeros);
    return est;
}

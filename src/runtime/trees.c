/*
 * trees.c - tree ensembles: validation, flattening and inference.
 *
 * Layout: the nodes of every tree live in one array of 16-byte nodes, each tree laid out
 * breadth-first from its root so the top levels (visited by every row) share cache lines and
 * the two children of a node are adjacent: next = child + go_right, with no branch on the
 * comparison. A leaf points at itself with threshold +inf, so a traversal may run for the
 * tree's full depth without testing for leaves; that lets several rows walk a tree in
 * lockstep (independent chains the CPU overlaps). Leaf values sit in a parallel array.
 *
 * Node flags (ff): bits 0-29 the feature, bit 30 "NaN goes right", bit 31 "leaf".
 * go_right = (x > threshold) | (isnan(x) & nan_right), i.e. left when x <= threshold.
 *
 * Summation order matches scikit-learn and xgboost exactly: each row starts from the base
 * values and adds the trees in their order (in float32 when acc_f32, as xgboost does), and a
 * mean divides the sum of the trees by their count once at the end.
 *
 * Ownership: struct rt_trees owns its arrays. Immutable after rt_trees_finish; rt_trees_run
 * writes only to the caller's scratch and raw buffers, so it is thread-safe.
 */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

#define FF_FMASK 0x3fffffffu
#define FF_NAN_RIGHT 0x40000000u
#define FF_LEAF 0x80000000u
#define LOCKSTEP 8

struct rt_node {
    double thr;
    uint32_t ff;
    uint32_t child;
};

struct rt_tmeta {
    uint32_t root;
    uint32_t depth;
    uint32_t output;
};

struct rt_trees {
    struct rt_trees_cfg cfg;
    double *base;
    struct rt_node *nodes;
    double *values; /* n_nodes * leaf_size */
    size_t n_nodes, cap;
    struct rt_tmeta *meta;
    size_t n_added;
    size_t n_run; /* trees used at predict time (<= n_added) */
};

int rt_trees_new(const struct rt_trees_cfg *cfg, struct rt_trees **out, struct kiln_err *err)
{
    struct rt_trees *t;

    if (cfg->n_features == 0 || cfg->n_features > RT_MAX_FEATURES || cfg->n_outputs == 0 ||
        cfg->n_outputs > RT_MAX_OUTPUTS || cfg->n_trees == 0 || cfg->n_trees > RT_MAX_TREES ||
        (cfg->leaf_size != 1 && cfg->leaf_size != cfg->n_outputs))
        return kiln_err_set(err, KILN_EINVAL, "tree ensemble dimensions out of range");
    t = kiln_calloc(1, sizeof(*t));
    if (t == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading trees");
    t->cfg = *cfg;
    t->base = kiln_calloc(cfg->n_outputs, sizeof(double));
    t->meta = kiln_calloc(cfg->n_trees, sizeof(*t->meta));
    if (t->base == NULL || t->meta == NULL) {
        rt_trees_free(t);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading trees");
    }
    if (cfg->base != NULL)
        memcpy(t->base, cfg->base, cfg->n_outputs * sizeof(double));
    t->cfg.base = NULL;
    *out = t;
    return KILN_OK;
}

void rt_trees_free(struct rt_trees *t)
{
    if (t == NULL)
        return;
    kiln_free(t->base);
    kiln_free(t->nodes);
    kiln_free(t->values);
    kiln_free(t->meta);
    kiln_free(t);
}

size_t rt_trees_count(const struct rt_trees *t)
{
    return t->n_run;
}

void rt_trees_truncate(struct rt_trees *t, size_t n)
{
    if (n < t->n_run)
        t->n_run = n;
}

static int grow(struct rt_trees *t, size_t extra, struct kiln_err *err)
{
    size_t need = t->n_nodes + extra, cap = t->cap ? t->cap : 1024;
    struct rt_node *nn;
    double *nv;

    if (need > RT_MAX_NODES)
        return kiln_err_set(err, KILN_EINVAL, "tree ensemble has more than %zu nodes",
                            (size_t)RT_MAX_NODES);
    if (need <= t->cap)
        return KILN_OK;
    while (cap < need)
        cap *= 2;
    nn = kiln_reallocarray(t->nodes, cap, sizeof(*nn));
    if (nn == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading trees");
    t->nodes = nn;
    nv = kiln_reallocarray(t->values, cap, t->cfg.leaf_size * sizeof(double));
    if (nv == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading trees");
    t->values = nv;
    t->cap = cap;
    return KILN_OK;
}

/*
 * Checks one node reached from the root: leaf shape, child and feature ranges, finite
 * numbers. Nodes no path reaches (xgboost keeps deleted nodes in its arrays) are ignored.
 */
static int check_node(const struct rt_trees *t, const struct rt_tree_in *in, size_t i,
                      const char *where, struct kiln_err *err)
{
    size_t n = in->n_nodes, L = t->cfg.leaf_size;
    int64_t l = in->left[i], r = in->right[i];

    if (l == -1 || r == -1) {
        if (l != r)
            return kiln_err_set(err, KILN_EINVAL,
                                "%s: node %zu has only one child (left %lld, right %lld)", where, i,
                                (long long)l, (long long)r);
        for (size_t k = 0; k < L; k++)
            if (!isfinite(in->value[i * L + k]))
                return kiln_err_set(err, KILN_EINVAL, "%s: leaf %zu has a non-finite value", where,
                                    i);
        return KILN_OK;
    }
    if (l <= 0 || r <= 0 || (uint64_t)l >= n || (uint64_t)r >= n || l == r)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s: node %zu has children out of range (left %lld, right %lld, "
                            "%zu nodes)",
                            where, i, (long long)l, (long long)r, n);
    if (in->feature[i] < 0 || (uint64_t)in->feature[i] >= t->cfg.n_features)
        return kiln_err_set(err, KILN_EINVAL, "%s: node %zu splits on feature %lld of %zu", where,
                            i, (long long)in->feature[i], t->cfg.n_features);
    if (isnan(in->threshold[i]))
        return kiln_err_set(err, KILN_EINVAL, "%s: node %zu has a NaN threshold", where, i);
    return KILN_OK;
}

int rt_trees_add(struct rt_trees *t, const struct rt_tree_in *in, const char *where,
                 struct kiln_err *err)
{
    size_t n = in->n_nodes, L = t->cfg.leaf_size, qn = 1, base = t->n_nodes;
    uint32_t *q = NULL;
    uint16_t *dep = NULL;
    unsigned char *seen = NULL;
    uint32_t maxdep = 0;
    int rc;

    if (t->n_added >= t->cfg.n_trees)
        return kiln_err_set(err, KILN_EINVAL, "%s: more trees than declared", where);
    if (n == 0 || n > RT_MAX_NODES)
        return kiln_err_set(err, KILN_EINVAL, "%s: node count %zu out of range", where, n);
    if (L == 1 && in->output >= t->cfg.n_outputs)
        return kiln_err_set(err, KILN_EINVAL, "%s: output %zu out of range (%zu outputs)", where,
                            in->output, t->cfg.n_outputs);
    q = kiln_malloc(n * sizeof(*q));
    dep = kiln_malloc(n * sizeof(*dep));
    seen = kiln_calloc(n, 1);
    if (q == NULL || dep == NULL || seen == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading trees");
        goto out;
    }
    /* Breadth-first: q[k] is the source node placed at base + k. */
    q[0] = 0;
    dep[0] = 0;
    seen[0] = 1;
    for (size_t k = 0; k < qn; k++) {
        uint32_t i = q[k];
        rc = check_node(t, in, i, where, err);
        if (rc != KILN_OK)
            goto out;
        if (in->left[i] == -1)
            continue;
        if (dep[k] + 1 > RT_MAX_DEPTH) {
            rc = kiln_err_set(err, KILN_EINVAL, "%s: deeper than %d levels", where, RT_MAX_DEPTH);
            goto out;
        }
        for (int c = 0; c < 2; c++) {
            uint32_t ch = (uint32_t)(c == 0 ? in->left[i] : in->right[i]);
            if (seen[ch]) {
                rc = kiln_err_set(err, KILN_EINVAL,
                                  "%s: node %u is reached twice (a cycle or a shared subtree)",
                                  where, ch);
                goto out;
            }
            seen[ch] = 1;
            q[qn] = ch;
            dep[qn] = (uint16_t)(dep[k] + 1);
            if (dep[qn] > maxdep)
                maxdep = dep[qn];
            qn++;
        }
    }
    rc = grow(t, qn, err);
    if (rc != KILN_OK)
        goto out;
    {
        size_t nextc = 1; /* queue position of the next child pair */
        for (size_t k = 0; k < qn; k++) {
            uint32_t i = q[k];
            struct rt_node *nd = &t->nodes[base + k];
            double *v = &t->values[(base + k) * L];
            if (in->left[i] == -1) {
                nd->thr = INFINITY;
                nd->ff = FF_LEAF;
                nd->child = (uint32_t)(base + k);
                memcpy(v, &in->value[(size_t)i * L], L * sizeof(double));
                continue;
            }
            nd->thr = in->threshold[i];
            nd->ff = (uint32_t)in->feature[i];
            if (in->missing_left == NULL || !in->missing_left[i])
                nd->ff |= FF_NAN_RIGHT;
            nd->child = (uint32_t)(base + nextc);
            nextc += 2;
            memset(v, 0, L * sizeof(double));
        }
    }
    t->n_nodes += qn;
    t->meta[t->n_added].root = (uint32_t)base;
    t->meta[t->n_added].depth = maxdep;
    t->meta[t->n_added].output = (uint32_t)(L == 1 ? in->output : 0);
    t->n_added++;
out:
    kiln_free(q);
    kiln_free(dep);
    kiln_free(seen);
    return rc;
}

int rt_trees_finish(struct rt_trees *t, struct kiln_err *err)
{
    if (t->n_added != t->cfg.n_trees)
        return kiln_err_set(err, KILN_EINVAL, "tree ensemble declares %zu trees but has %zu",
                            t->cfg.n_trees, t->n_added);
    t->n_run = t->n_added;
    return KILN_OK;
}

size_t rt_trees_scratch(const struct rt_trees *t)
{
    size_t s = 0;
    if (t->cfg.input_f32)
        s += rt_round64(RT_BLOCK * t->cfg.n_features * sizeof(double));
    if (t->cfg.acc_f32)
        s += rt_round64(RT_BLOCK * t->cfg.n_outputs * sizeof(float));
    return s;
}

static inline uint32_t step(const struct rt_node *nodes, uint32_t idx, const double *row)
{
    const struct rt_node *nd = &nodes[idx];
    double x = row[nd->ff & FF_FMASK];
    uint32_t right = (uint32_t)(x > nd->thr) | ((uint32_t)isnan(x) & (nd->ff >> 30 & 1u));
    return nd->child + right;
}

/* The leaf reached by one row, stopping at the first leaf. */
static inline uint32_t walk(const struct rt_node *nodes, uint32_t idx, const double *row)
{
    while (!(nodes[idx].ff & FF_LEAF))
        idx = step(nodes, idx, row);
    return idx;
}

/*
 * Leaves reached by LOCKSTEP rows walking the same tree together for `depth` steps. The
 * indices live in named locals so they stay in registers; the eight chains are independent,
 * so their loads overlap.
 */
static inline void walk_lockstep(const struct rt_node *nodes, uint32_t root, uint32_t depth,
                                 const double *rows, size_t ld, uint32_t *idx)
{
    const double *r0 = rows, *r1 = r0 + ld, *r2 = r1 + ld, *r3 = r2 + ld;
    const double *r4 = r3 + ld, *r5 = r4 + ld, *r6 = r5 + ld, *r7 = r6 + ld;
    uint32_t i0 = root, i1 = root, i2 = root, i3 = root, i4 = root, i5 = root, i6 = root, i7 = root;
    for (uint32_t d = 0; d < depth; d++) {
        i0 = step(nodes, i0, r0);
        i1 = step(nodes, i1, r1);
        i2 = step(nodes, i2, r2);
        i3 = step(nodes, i3, r3);
        i4 = step(nodes, i4, r4);
        i5 = step(nodes, i5, r5);
        i6 = step(nodes, i6, r6);
        i7 = step(nodes, i7, r7);
    }
    idx[0] = i0;
    idx[1] = i1;
    idx[2] = i2;
    idx[3] = i3;
    idx[4] = i4;
    idx[5] = i5;
    idx[6] = i6;
    idx[7] = i7;
}

/*
 * Leaves of LOCKSTEP consecutive trees (from ti) for one row: the trees' chains are
 * independent, which is what makes a single-row prediction fast.
 */
static inline void walk_trees(const struct rt_trees *t, size_t ti, const double *row, uint32_t *idx)
{
    const struct rt_node *nodes = t->nodes;
    const struct rt_tmeta *m = &t->meta[ti];
    uint32_t i0 = m[0].root, i1 = m[1].root, i2 = m[2].root, i3 = m[3].root, i4 = m[4].root,
             i5 = m[5].root, i6 = m[6].root, i7 = m[7].root, depth = 0;
    for (int k = 0; k < LOCKSTEP; k++)
        depth = m[k].depth > depth ? m[k].depth : depth;
    for (uint32_t d = 0; d < depth; d++) {
        i0 = step(nodes, i0, row);
        i1 = step(nodes, i1, row);
        i2 = step(nodes, i2, row);
        i3 = step(nodes, i3, row);
        i4 = step(nodes, i4, row);
        i5 = step(nodes, i5, row);
        i6 = step(nodes, i6, row);
        i7 = step(nodes, i7, row);
    }
    idx[0] = i0;
    idx[1] = i1;
    idx[2] = i2;
    idx[3] = i3;
    idx[4] = i4;
    idx[5] = i5;
    idx[6] = i6;
    idx[7] = i7;
}

/*
 * Adds every tree's leaf for nb rows to acc (double or float, K per row), in tree order for
 * each row: blocks of LOCKSTEP rows walk one tree together; leftover rows walk LOCKSTEP
 * trees together.
 */
#define ACCUMULATE(acc_t, acc)                                                                \
    do {                                                                                      \
        size_t rb = nb - nb % LOCKSTEP;                                                       \
        uint32_t idx[LOCKSTEP];                                                               \
        for (size_t ti = 0; rb > 0 && ti < t->n_run; ti++) {                                  \
            const struct rt_tmeta *tm = &t->meta[ti];                                         \
            for (size_t r = 0; r < rb; r += LOCKSTEP) {                                       \
                walk_lockstep(t->nodes, tm->root, tm->depth, X + r * ld, ld, idx);            \
                for (int j = 0; j < LOCKSTEP; j++)                                            \
                    add_leaf_##acc_t(t, acc + (r + (size_t)j) * K, tm->output, idx[j]);       \
            }                                                                                 \
        }                                                                                     \
        for (size_t r = rb; r < nb; r++) {                                                    \
            const double *row = X + r * ld;                                                   \
            size_t ti = 0;                                                                    \
            for (; ti + LOCKSTEP <= t->n_run; ti += LOCKSTEP) {                               \
                walk_trees(t, ti, row, idx);                                                  \
                for (int j = 0; j < LOCKSTEP; j++)                                            \
                    add_leaf_##acc_t(t, acc + r * K, t->meta[ti + (size_t)j].output, idx[j]); \
            }                                                                                 \
            for (; ti < t->n_run; ti++)                                                       \
                add_leaf_##acc_t(t, acc + r * K, t->meta[ti].output,                          \
                                 walk(t->nodes, t->meta[ti].root, row));                      \
        }                                                                                     \
    } while (0)

static inline void add_leaf_double(const struct rt_trees *t, double *acc, uint32_t out,
                                   uint32_t leaf)
{
    size_t L = t->cfg.leaf_size;
    const double *v = &t->values[(size_t)leaf * L];
    if (L == 1) {
        acc[out] += v[0];
        return;
    }
    for (size_t k = 0; k < L; k++)
        acc[k] += v[k];
}

static inline void add_leaf_float(const struct rt_trees *t, float *acc, uint32_t out, uint32_t leaf)
{
    size_t L = t->cfg.leaf_size;
    const double *v = &t->values[(size_t)leaf * L];
    if (L == 1) {
        acc[out] += (float)v[0];
        return;
    }
    for (size_t k = 0; k < L; k++)
        acc[k] += (float)v[k];
}

void rt_trees_run(const struct rt_trees *t, const double *feat, size_t ld, size_t nb, double *raw,
                  unsigned char *scratch)
{
    size_t K = t->cfg.n_outputs, F = t->cfg.n_features;
    const double *X = feat;

    if (t->cfg.input_f32) {
        double *xc = rt_carve(&scratch, RT_BLOCK * F * sizeof(double));
        for (size_t r = 0; r < nb; r++)
            for (size_t j = 0; j < F; j++)
                xc[r * F + j] = (double)(float)feat[r * ld + j];
        X = xc;
        ld = F;
    }
    if (t->cfg.acc_f32) {
        float *acc = rt_carve(&scratch, RT_BLOCK * K * sizeof(float));
        for (size_t r = 0; r < nb; r++)
            for (size_t k = 0; k < K; k++)
                acc[r * K + k] = (float)t->base[k];
        ACCUMULATE(float, acc);
        for (size_t i = 0; i < nb * K; i++)
            raw[i] = (double)acc[i];
        return;
    }
    if (t->cfg.mean) {
        for (size_t i = 0; i < nb * K; i++)
            raw[i] = 0.0;
        ACCUMULATE(double, raw);
        for (size_t r = 0; r < nb; r++)
            for (size_t k = 0; k < K; k++)
                raw[r * K + k] = raw[r * K + k] / (double)t->n_run + t->base[k];
        return;
    }
    for (size_t r = 0; r < nb; r++)
        for (size_t k = 0; k < K; k++)
            raw[r * K + k] = t->base[k];
    ACCUMULATE(double, raw);
}

/*
 * load_batch.c - loading a page of registered models or model versions with a handful of
 * set-based queries (one per kind of row, per chunk of ids) instead of several queries per
 * entity, so a search page of 100 models costs the same few statements as one model.
 *
 * Rows come back in any order; each is placed by binary search over the page's keys sorted by
 * (rm_id, version). Chunks of at most CHUNK keys keep every statement well under the database's
 * bound-parameter limit. Runs inside the caller's transaction (one snapshot).
 */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "tracking/search_filter.h"

#define CHUNK 400

struct key {
    int64_t rm_id, version;
    size_t slot; /* index into the caller's output array */
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    if (x->rm_id != y->rm_id)
        return x->rm_id < y->rm_id ? -1 : 1;
    return (x->version > y->version) - (x->version < y->version);
}

static const struct key *find(const struct key *keys, size_t n, int64_t rm_id, int64_t version)
{
    struct key k = { rm_id, version, 0 };
    return bsearch(&k, keys, n, sizeof(*keys), key_cmp);
}

/* Appends "(?, ?), (?, ?) ..." (pairs) or "?, ? ..." (ids only) for keys[0..n). */
static void add_keys(struct kiln_sql *q, const struct key *keys, size_t n, int pairs)
{
    for (size_t i = 0; i < n; i++) {
        kiln_sql_add(q, i == 0 ? (pairs ? "(" : "") : (pairs ? ", (" : ", "));
        kiln_sql_int64(q, keys[i].rm_id);
        if (pairs) {
            kiln_sql_add(q, ", ");
            kiln_sql_int64(q, keys[i].version);
            kiln_sql_add(q, ")");
        }
    }
}

/* Steps st: 1 on a row (with *rc = KILN_OK); 0 at the end (KILN_OK) or on an error (< 0). */
static int next_row(struct kiln_stmt *st, int *rc, struct kiln_err *err)
{
    if (*rc != KILN_OK)
        return 0;
    *rc = kiln_stmt_step(st, err);
    if (*rc != KILN_STMT_ROW)
        return 0;
    *rc = KILN_OK;
    return 1;
}

static int run(struct kiln_tx *tx, struct kiln_sql *q, struct kiln_stmt **st, struct kiln_err *err)
{
    int rc;
    if (kiln_sql_status(q) != KILN_OK)
        return kiln_err_set(err, kiln_sql_status(q), "cannot build a batch query");
    rc = kiln_tx_prepare(tx, q->text.buf, st, err);
    if (rc == KILN_OK && kiln_sql_bind(q, *st, 1) != KILN_OK) {
        kiln_stmt_finish(*st);
        rc = kiln_err_set(err, KILN_EINTERNAL, "cannot bind a batch query");
    }
    return rc;
}

/* Grows an arena array by one element of `size` bytes, doubling `*cap`. */
static void *push(struct kiln_arena *arena, void *arr, size_t n, size_t *cap, size_t size)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        char *na = kiln_arena_alloc(arena, ncap * size);
        if (na == NULL)
            return NULL;
        if (n > 0)
            memcpy(na, arr, n * size);
        *cap = ncap;
        return na;
    }
    return arr;
}

/* Versions (rows, tags, optionally aliases) for keys[0..n) sorted; names from `names`. */
static int load_chunk(struct kiln_tx *tx, struct kiln_arena *arena, const struct key *keys,
                      size_t n, int with_aliases, struct kiln_model_version *out, size_t *tcap,
                      size_t *acap, struct kiln_err *err)
{
    struct kiln_stmt *st = NULL;
    struct kiln_sql q;
    int oom = 0, rc;

    kiln_sql_init(&q);
    /* A join with the keys as a VALUES table: row-value IN (VALUES ...) would scan. */
    kiln_sql_add(&q, "SELECT mv.rm_id, rm.name, " REG_VERSION_COLUMNS " FROM (VALUES ");
    add_keys(&q, keys, n, 1);
    kiln_sql_add(&q, ") AS k JOIN model_versions mv ON mv.rm_id = k.column1 AND "
                     "mv.version = k.column2 JOIN registered_models rm ON rm.rm_id = mv.rm_id "
                     "WHERE mv.deleted = 0");
    rc = run(tx, &q, &st, err);
    while (next_row(st, &rc, err)) {
        const struct key *k = find(keys, n, kiln_stmt_int64(st, 0), kiln_stmt_int64(st, 2));
        const char *name = kiln_stmt_text(st, 1);
        rc = k != NULL ? reg_read_version_row(st, 2, arena, name, &out[k->slot], err) : KILN_OK;
    }
    kiln_stmt_finish(st);
    kiln_sql_release(&q);
    if (rc < 0)
        return rc;

    st = NULL;
    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT t.rm_id, t.version, t.key, t.value FROM (VALUES ");
    add_keys(&q, keys, n, 1);
    kiln_sql_add(&q, ") AS k JOIN model_version_tags t ON t.rm_id = k.column1 AND "
                     "t.version = k.column2 ORDER BY t.rm_id, t.version, t.key");
    rc = run(tx, &q, &st, err);
    while (next_row(st, &rc, err)) {
        const struct key *k = find(keys, n, kiln_stmt_int64(st, 0), kiln_stmt_int64(st, 1));
        struct kiln_model_version *v;
        if (k == NULL)
            continue;
        v = &out[k->slot];
        v->tags = push(arena, v->tags, v->ntags, &tcap[k->slot], sizeof(*v->tags));
        if (v->tags == NULL) {
            oom = 1;
            break;
        }
        v->tags[v->ntags].key = reg_col_text(st, 2, arena, &oom);
        v->tags[v->ntags++].value = reg_col_text(st, 3, arena, &oom);
    }
    kiln_stmt_finish(st);
    kiln_sql_release(&q);
    if (oom)
        return reg_oom(err);
    if (rc < 0 || !with_aliases)
        return rc < 0 ? rc : KILN_OK;

    st = NULL;
    kiln_sql_init(&q);
    /* By model (few aliases each); aliases of versions off the page find no key. */
    kiln_sql_add(&q, "SELECT rm_id, version, alias FROM model_aliases WHERE rm_id IN (");
    add_keys(&q, keys, n, 0);
    kiln_sql_add(&q, ") ORDER BY alias");
    rc = run(tx, &q, &st, err);
    while (next_row(st, &rc, err)) {
        const struct key *k = find(keys, n, kiln_stmt_int64(st, 0), kiln_stmt_int64(st, 1));
        struct kiln_model_version *v;
        if (k == NULL)
            continue;
        v = &out[k->slot];
        v->aliases = push(arena, v->aliases, v->naliases, &acap[k->slot], sizeof(*v->aliases));
        if (v->aliases == NULL) {
            oom = 1;
            break;
        }
        v->aliases[v->naliases++] = reg_col_text(st, 2, arena, &oom);
    }
    kiln_stmt_finish(st);
    kiln_sql_release(&q);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

int reg_load_versions_batch(struct kiln_tx *tx, struct kiln_arena *arena, const int64_t *rm_ids,
                            const int64_t *versions, size_t n, int with_aliases,
                            struct kiln_model_version *out, struct kiln_err *err)
{
    struct key *keys;
    size_t *tcap, *acap;
    int rc = KILN_OK;

    if (n == 0)
        return KILN_OK;
    keys = kiln_arena_alloc(arena, n * sizeof(*keys));
    tcap = kiln_arena_calloc(arena, n, sizeof(*tcap));
    acap = kiln_arena_calloc(arena, n, sizeof(*acap));
    if (keys == NULL || tcap == NULL || acap == NULL)
        return reg_oom(err);
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct key){ rm_ids[i], versions[i], i };
    for (size_t off = 0; off < n && rc == KILN_OK; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        qsort(keys + off, m, sizeof(*keys), key_cmp);
        rc = load_chunk(tx, arena, keys + off, m, with_aliases, out, tcap, acap, err);
    }
    for (size_t i = 0; rc == KILN_OK && i < n; i++)
        if (out[i].name == NULL) /* deleted between the search and the load */
            rc = kiln_err_set(err, KILN_ECONFLICT, "a model version changed during the search");
    return rc;
}

/* Models' own rows, tags and aliases. */
static int load_model_rows(struct kiln_tx *tx, struct kiln_arena *arena, const struct key *keys,
                           size_t n, struct kiln_registered_model *out, struct kiln_err *err)
{
    static const char *const sql[3] = {
        ("SELECT rm_id, name, creation_time, last_updated_time, description FROM "
         "registered_models WHERE rm_id IN ("),
        "SELECT rm_id, key, value FROM registered_model_tags WHERE rm_id IN (",
        "SELECT rm_id, alias, version FROM model_aliases WHERE rm_id IN (",
    };
    static const char *const order[3] = { ")", ") ORDER BY rm_id, key", ") ORDER BY rm_id, alias" };
    size_t *tcap = kiln_arena_calloc(arena, n, sizeof(*tcap));
    size_t *acap = kiln_arena_calloc(arena, n, sizeof(*acap));
    int oom = 0, rc = KILN_OK;

    if (tcap == NULL || acap == NULL)
        return reg_oom(err);
    for (int part = 0; part < 3 && rc == KILN_OK; part++) {
        struct kiln_stmt *st = NULL;
        struct kiln_sql q;
        kiln_sql_init(&q);
        kiln_sql_add(&q, sql[part]);
        add_keys(&q, keys, n, 0);
        kiln_sql_add(&q, order[part]);
        rc = run(tx, &q, &st, err);
        while (!oom && next_row(st, &rc, err)) {
            const struct key *k = find(keys, n, kiln_stmt_int64(st, 0), 0);
            struct kiln_registered_model *m;
            if (k == NULL)
                continue;
            m = &out[k->slot];
            if (part == 0) {
                m->name = reg_col_text(st, 1, arena, &oom);
                m->creation_timestamp = kiln_stmt_int64(st, 2);
                m->last_updated_timestamp = kiln_stmt_int64(st, 3);
                m->description = reg_col_text(st, 4, arena, &oom);
            } else if (part == 1) {
                m->tags = push(arena, m->tags, m->ntags, &tcap[k->slot], sizeof(*m->tags));
                if (m->tags == NULL) {
                    oom = 1;
                    break;
                }
                m->tags[m->ntags].key = reg_col_text(st, 1, arena, &oom);
                m->tags[m->ntags++].value = reg_col_text(st, 2, arena, &oom);
            } else {
                m->aliases =
                    push(arena, m->aliases, m->naliases, &acap[k->slot], sizeof(*m->aliases));
                if (m->aliases == NULL) {
                    oom = 1;
                    break;
                }
                m->aliases[m->naliases].alias = reg_col_text(st, 1, arena, &oom);
                m->aliases[m->naliases++].version = kiln_stmt_int64(st, 2);
            }
        }
        kiln_stmt_finish(st);
        kiln_sql_release(&q);
    }
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

struct latest {
    int64_t rm_id, first, max;
};

static int latest_cmp(const void *a, const void *b)
{
    const struct latest *x = a, *y = b;
    if (x->rm_id != y->rm_id)
        return x->rm_id < y->rm_id ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

/* Latest version per stage of each model, in MLflow's order (see load.c). */
static int load_latest_batch(struct kiln_tx *tx, struct kiln_arena *arena, const struct key *keys,
                             size_t n, struct kiln_registered_model *out, struct kiln_err *err)
{
    struct latest *l = NULL;
    struct kiln_model_version *vs;
    struct kiln_stmt *st = NULL;
    struct kiln_sql q;
    int64_t *rm_ids, *versions;
    size_t nl = 0, cap = 0;
    int rc;

    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT rm_id, MIN(version), MAX(version) FROM model_versions WHERE "
                     "deleted = 0 AND rm_id IN (");
    add_keys(&q, keys, n, 0);
    kiln_sql_add(&q, ") GROUP BY rm_id, current_stage");
    rc = run(tx, &q, &st, err);
    while (next_row(st, &rc, err)) {
        l = push(arena, l, nl, &cap, sizeof(*l));
        if (l == NULL) {
            rc = reg_oom(err);
            break;
        }
        l[nl++] = (struct latest){ kiln_stmt_int64(st, 0), kiln_stmt_int64(st, 1),
                                   kiln_stmt_int64(st, 2) };
    }
    kiln_stmt_finish(st);
    kiln_sql_release(&q);
    if (rc < 0)
        return rc;
    if (nl == 0)
        return KILN_OK;
    qsort(l, nl, sizeof(*l), latest_cmp);
    vs = kiln_arena_calloc(arena, nl, sizeof(*vs));
    rm_ids = kiln_arena_alloc(arena, nl * sizeof(*rm_ids));
    versions = kiln_arena_alloc(arena, nl * sizeof(*versions));
    if (vs == NULL || rm_ids == NULL || versions == NULL)
        return reg_oom(err);
    for (size_t i = 0; i < nl; i++) {
        rm_ids[i] = l[i].rm_id;
        versions[i] = l[i].max;
    }
    rc = reg_load_versions_batch(tx, arena, rm_ids, versions, nl, 0, vs, err);
    /* vs follows l's order: (model, first version of the stage). Slice it per model. */
    for (size_t i = 0; rc == KILN_OK && i < nl;) {
        const struct key *k = find(keys, n, l[i].rm_id, 0);
        size_t j = i;
        while (j < nl && l[j].rm_id == l[i].rm_id)
            j++;
        if (k != NULL) {
            out[k->slot].latest = &vs[i];
            out[k->slot].nlatest = j - i;
        }
        i = j;
    }
    return rc;
}

int reg_load_models_batch(struct kiln_tx *tx, struct kiln_arena *arena, const int64_t *ids,
                          size_t n, struct kiln_registered_model *out, struct kiln_err *err)
{
    struct key *keys;
    int rc = KILN_OK;
    if (n == 0)
        return KILN_OK;
    keys = kiln_arena_alloc(arena, n * sizeof(*keys));
    if (keys == NULL)
        return reg_oom(err);
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct key){ ids[i], 0, i };
    for (size_t off = 0; off < n && rc == KILN_OK; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        qsort(keys + off, m, sizeof(*keys), key_cmp);
        rc = load_model_rows(tx, arena, keys + off, m, out, err);
        if (rc == KILN_OK)
            rc = load_latest_batch(tx, arena, keys + off, m, out, err);
    }
    for (size_t i = 0; rc == KILN_OK && i < n; i++)
        if (out[i].name == NULL)
            rc = kiln_err_set(err, KILN_ECONFLICT, "a registered model changed during the search");
    return rc;
}

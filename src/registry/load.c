/*
 * load.c - reading registered models and model versions (with tags, aliases and latest
 * versions per stage) from the store into arena-allocated entities (registry_int.h).
 *
 * Every loader runs inside a transaction its caller owns, so one call sees one snapshot.
 */
#include <string.h>

#include "registry/registry_int.h"

int reg_read_version_row(struct kiln_stmt *st, int col0, struct kiln_arena *arena, const char *name,
                         struct kiln_model_version *v, struct kiln_err *err)
{
    int oom = 0;
    memset(v, 0, sizeof(*v));
    v->name = reg_dup(arena, name, &oom);
    v->version = kiln_stmt_int64(st, col0);
    v->creation_timestamp = kiln_stmt_int64(st, col0 + 1);
    v->last_updated_timestamp = kiln_stmt_int64(st, col0 + 2);
    v->user_id = reg_col_text(st, col0 + 3, arena, &oom);
    v->current_stage = reg_col_text(st, col0 + 4, arena, &oom);
    v->description = reg_col_text(st, col0 + 5, arena, &oom);
    v->source = reg_col_text(st, col0 + 6, arena, &oom);
    v->storage_location = reg_col_text(st, col0 + 7, arena, &oom);
    v->run_id = reg_col_text(st, col0 + 8, arena, &oom);
    v->run_link = reg_col_text(st, col0 + 9, arena, &oom);
    v->model_id = reg_col_text(st, col0 + 10, arena, &oom);
    v->status = reg_col_text(st, col0 + 11, arena, &oom);
    return oom ? reg_oom(err) : KILN_OK;
}

/* Grows an arena array of `size`-byte items from *cap to twice as many. */
static void *grow(struct kiln_arena *arena, void *old, size_t n, size_t *cap, size_t size)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = kiln_arena_alloc(arena, ncap * size);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, old, n * size);
    *cap = ncap;
    return p;
}

/* Reads (key, value) rows of a prepared statement into an arena array; finishes st. */
static int read_tags(struct kiln_stmt *st, struct kiln_arena *arena, struct kiln_kv **tags,
                     size_t *n, struct kiln_err *err)
{
    size_t cap = 0;
    int oom = 0, rc;

    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (*n == cap) {
            struct kiln_kv *nt = grow(arena, *tags, *n, &cap, sizeof(*nt));
            if (nt == NULL) {
                oom = 1;
                break;
            }
            *tags = nt;
        }
        (*tags)[*n].key = reg_col_text(st, 0, arena, &oom);
        (*tags)[*n].value = reg_col_text(st, 1, arena, &oom);
        (*n)++;
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

int reg_load_version_tags(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                          struct kiln_model_version *v, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;

    v->tags = NULL;
    v->ntags = 0;
    rc = reg_prepare(tx, &st, err,
                     "SELECT key, value FROM model_version_tags WHERE rm_id = ? AND version = ? "
                     "ORDER BY key",
                     "ii", rm_id, v->version);
    if (rc != KILN_OK)
        return rc;
    return read_tags(st, arena, &v->tags, &v->ntags, err);
}

int reg_load_version_aliases(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                             struct kiln_model_version *v, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int oom = 0, rc;

    v->aliases = NULL;
    v->naliases = 0;
    rc = reg_prepare(tx, &st, err,
                     "SELECT alias FROM model_aliases WHERE rm_id = ? AND version = ? "
                     "ORDER BY alias",
                     "ii", rm_id, v->version);
    if (rc != KILN_OK)
        return rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (v->naliases == cap) {
            const char **na = grow(arena, v->aliases, v->naliases, &cap, sizeof(*na));
            if (na == NULL) {
                oom = 1;
                break;
            }
            v->aliases = na;
        }
        v->aliases[v->naliases++] = reg_col_text(st, 0, arena, &oom);
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

static int load_version(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                        const char *name, int64_t version, int with_aliases,
                        struct kiln_model_version *v, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = reg_prepare(tx, &st, err,
                         "SELECT " REG_VERSION_COLUMNS " FROM model_versions mv "
                         "WHERE mv.rm_id = ? AND mv.version = ? AND mv.deleted = 0",
                         "ii", rm_id, version);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        rc = reg_read_version_row(st, 0, arena, name, v, err);
    else if (rc == KILN_STMT_DONE)
        rc = kiln_err_set(err, KILN_ENOENT, "Model Version (name=%s, version=%lld) not found", name,
                          (long long)version);
    kiln_stmt_finish(st);
    if (rc == KILN_OK)
        rc = reg_load_version_tags(tx, arena, rm_id, v, err);
    if (rc == KILN_OK && with_aliases)
        rc = reg_load_version_aliases(tx, arena, rm_id, v, err);
    return rc;
}

int reg_load_version(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id, const char *name,
                     int64_t version, struct kiln_model_version **out, struct kiln_err *err)
{
    struct kiln_model_version *v = kiln_arena_calloc(arena, 1, sizeof(*v));
    int rc;
    if (v == NULL)
        return reg_oom(err);
    rc = load_version(tx, arena, rm_id, name, version, 1, v, err);
    if (rc == KILN_OK)
        *out = v;
    return rc;
}

static int load_model_tags(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                           struct kiln_registered_model *m, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;

    rc = reg_prepare(tx, &st, err,
                     "SELECT key, value FROM registered_model_tags WHERE rm_id = ? ORDER BY key",
                     "i", rm_id);
    if (rc != KILN_OK)
        return rc;
    return read_tags(st, arena, &m->tags, &m->ntags, err);
}

static int load_model_aliases(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                              struct kiln_registered_model *m, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t cap = 0;
    int oom = 0, rc;

    rc = reg_prepare(tx, &st, err,
                     "SELECT alias, version FROM model_aliases WHERE rm_id = ? ORDER BY alias", "i",
                     rm_id);
    if (rc != KILN_OK)
        return rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (m->naliases == cap) {
            struct kiln_model_alias *na = grow(arena, m->aliases, m->naliases, &cap, sizeof(*na));
            if (na == NULL) {
                oom = 1;
                break;
            }
            m->aliases = na;
        }
        m->aliases[m->naliases].alias = reg_col_text(st, 0, arena, &oom);
        m->aliases[m->naliases].version = kiln_stmt_int64(st, 1);
        m->naliases++;
        if (oom)
            break;
    }
    kiln_stmt_finish(st);
    if (oom)
        return reg_oom(err);
    return rc < 0 ? rc : KILN_OK;
}

/*
 * Latest version per stage, ordered like MLflow's: by the first version that entered each
 * stage (MLflow builds the list while walking versions in order).
 */
static int load_latest(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                       struct kiln_registered_model *m, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int64_t versions[8];
    size_t n = 0;
    int rc;

    rc = reg_prepare(tx, &st, err,
                     "SELECT MAX(version) FROM model_versions WHERE rm_id = ? AND deleted = 0 "
                     "GROUP BY current_stage ORDER BY MIN(version)",
                     "i", rm_id);
    if (rc != KILN_OK)
        return rc;
    while (n < KILN_ARRAY_LEN(versions) && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW)
        versions[n++] = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    m->latest = n > 0 ? kiln_arena_calloc(arena, n, sizeof(*m->latest)) : NULL;
    if (n > 0 && m->latest == NULL)
        return reg_oom(err);
    for (size_t i = 0; i < n; i++) {
        rc = load_version(tx, arena, rm_id, m->name, versions[i], 0, &m->latest[i], err);
        if (rc != KILN_OK)
            return rc;
    }
    m->nlatest = n;
    return KILN_OK;
}

int reg_load_model(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                   struct kiln_registered_model **out, struct kiln_err *err)
{
    struct kiln_registered_model *m = kiln_arena_calloc(arena, 1, sizeof(*m));
    struct kiln_stmt *st;
    int oom = 0, rc;

    if (m == NULL)
        return reg_oom(err);
    rc = reg_prepare(tx, &st, err,
                     "SELECT name, creation_time, last_updated_time, description "
                     "FROM registered_models WHERE rm_id = ?",
                     "i", rm_id);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        m->name = reg_col_text(st, 0, arena, &oom);
        m->creation_timestamp = kiln_stmt_int64(st, 1);
        m->last_updated_timestamp = kiln_stmt_int64(st, 2);
        m->description = reg_col_text(st, 3, arena, &oom);
        rc = oom ? reg_oom(err) : KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "Registered Model with id=%lld not found",
                          (long long)rm_id);
    }
    kiln_stmt_finish(st);
    if (rc == KILN_OK)
        rc = load_model_tags(tx, arena, rm_id, m, err);
    if (rc == KILN_OK)
        rc = load_model_aliases(tx, arena, rm_id, m, err);
    if (rc == KILN_OK)
        rc = load_latest(tx, arena, rm_id, m, err);
    if (rc == KILN_OK)
        *out = m;
    return rc;
}

/*
 * resolve.c - model URI resolution (kiln_registry_resolve) and the two reads it needs from
 * the tracking tables: a run's artifact URI and a logged model's artifact location.
 *
 * Resolution is one read transaction, so an alias and the version it names are read from the
 * same snapshot. A registry version whose storage location is itself a models:/ or runs:/ URI
 * is followed, at most MAX_HOPS times (a cycle is impossible to create through the API, but a
 * bound keeps a corrupt store from looping).
 */
#include <string.h>

#include "core/str.h"
#include "core/uri.h"
#include "registry/registry_int.h"

#define MAX_HOPS 8

int reg_run_artifact_uri(struct kiln_tx *tx, struct kiln_arena *arena, const char *run_id,
                         const char **uri, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int oom = 0;
    int rc =
        reg_prepare(tx, &st, err, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", "t", run_id);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        *uri = reg_col_text(st, 0, arena, &oom);
        rc = oom ? reg_oom(err) : KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "Run with id=%s not found", run_id);
    }
    kiln_stmt_finish(st);
    return rc;
}

int reg_logged_model(struct kiln_tx *tx, struct kiln_arena *arena, const char *model_id,
                     const char **artifact_uri, const char **source_run_id, const char **name,
                     struct kiln_err *err)
{
    struct kiln_stmt *st;
    int oom = 0;
    int rc = reg_prepare(tx, &st, err,
                         "SELECT artifact_location, source_run_id, name FROM logged_models "
                         "WHERE model_id = ?",
                         "t", model_id);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        *artifact_uri = reg_col_text(st, 0, arena, &oom);
        *source_run_id = reg_col_text(st, 1, arena, &oom);
        if (name != NULL)
            *name = reg_col_text(st, 2, arena, &oom);
        rc = oom ? reg_oom(err) : KILN_OK;
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "Logged model with ID '%s' not found.", model_id);
    }
    kiln_stmt_finish(st);
    return rc;
}

/* root + "/" + rel (rel may be empty), from the arena. */
static const char *join(struct kiln_arena *arena, const char *root, const char *rel)
{
    size_t n = strlen(root);
    while (n > 0 && root[n - 1] == '/' && !(n >= 2 && root[n - 2] == ':'))
        n--;
    while (*rel == '/')
        rel++;
    if (*rel == '\0')
        return kiln_arena_strndup(arena, root, n);
    return kiln_arena_printf(arena, "%.*s/%s", (int)n, root, rel);
}

/* The version a name-based models:/ URI denotes. */
static int pick_version(struct kiln_tx *tx, int64_t rm_id, const struct kiln_uri *u,
                        int64_t *version, struct kiln_err *err)
{
    int found = 1, rc;
    switch (u->ref_kind) {
    case KILN_MODEL_REF_VERSION:
        rc = kiln_registry_parse_version(u->ref, version, err);
        if (rc == KILN_OK)
            rc = reg_version_exists(tx, rm_id, u->name, *version, err);
        return rc;
    case KILN_MODEL_REF_ALIAS:
        if (kiln_cstr_ieq(u->ref, "latest"))
            goto latest;
        rc = reg_alias_version(tx, rm_id, u->ref, version, err);
        if (rc == KILN_OK && *version == 0)
            rc = kiln_err_set(err, KILN_EINVAL, "Registered model alias %s not found.", u->ref);
        return rc;
    case KILN_MODEL_REF_STAGE:
        rc = reg_query_int64(tx, err, version, &found,
                             "SELECT MAX(version) FROM model_versions WHERE rm_id = ? AND "
                             "current_stage = ? AND deleted = 0",
                             "it", rm_id, kiln_stage_canonical(u->ref));
        if (rc == KILN_OK && *version == 0)
            rc = kiln_err_set(err, KILN_ENOENT,
                              "No versions of model with name '%s' and stage '%s' found", u->name,
                              kiln_stage_canonical(u->ref));
        return rc;
    case KILN_MODEL_REF_LATEST:
    latest:
        rc = reg_query_int64(tx, err, version, &found,
                             "SELECT MAX(version) FROM model_versions WHERE rm_id = ? AND "
                             "deleted = 0",
                             "i", rm_id);
        if (rc == KILN_OK && *version == 0)
            rc = kiln_err_set(err, KILN_ENOENT, "No versions of model with name '%s' found",
                              u->name);
        return rc;
    default:
        return kiln_err_set(err, KILN_EINVAL, "invalid model URI '%s'", u->raw);
    }
}

/* One resolution step. *next is set (arena) when the location must be resolved again. */
static int step(struct kiln_tx *tx, struct kiln_arena *arena, const char *uri, int first,
                struct kiln_resolved_model *out, const char **next, struct kiln_err *err)
{
    struct kiln_uri u;
    int oom = 0, rc = kiln_uri_parse(uri, &u, err);
    *next = NULL;
    if (rc != KILN_OK)
        return rc;
    switch (u.scheme) {
    case KILN_URI_MODELS:
        if (u.ref_kind == KILN_MODEL_REF_LOGGED_MODEL) {
            const char *loc, *run;
            rc = reg_logged_model(tx, arena, u.ref, &loc, &run, NULL, err);
            if (rc == KILN_OK) {
                out->model_id = out->model_id != NULL ? out->model_id : reg_dup(arena, u.ref, &oom);
                out->run_id = out->run_id != NULL ? out->run_id : run;
                out->artifact_uri = loc;
            }
        } else {
            int64_t rm_id = 0, version = 0;
            struct kiln_model_version *v = NULL;
            rc = reg_model_id(tx, u.name, &rm_id, err);
            if (rc == KILN_OK)
                rc = pick_version(tx, rm_id, &u, &version, err);
            if (rc == KILN_OK)
                rc = reg_load_version(tx, arena, rm_id, u.name, version, &v, err);
            if (rc == KILN_OK && first) {
                out->name = v->name;
                out->version = version;
                if (u.ref_kind != KILN_MODEL_REF_VERSION)
                    out->alias = reg_dup(arena, u.ref, &oom);
            }
            if (rc == KILN_OK) {
                if (out->run_id == NULL)
                    out->run_id = v->run_id;
                if (out->model_id == NULL)
                    out->model_id = v->model_id;
                out->artifact_uri = v->storage_location;
                if (kiln_cstr_has_prefix(v->storage_location, "models:") ||
                    kiln_cstr_has_prefix(v->storage_location, "runs:"))
                    *next = v->storage_location;
            }
        }
        break;
    case KILN_URI_RUNS: {
        const char *root;
        rc = reg_run_artifact_uri(tx, arena, u.run_id, &root, err);
        if (rc == KILN_OK) {
            out->artifact_uri = join(arena, root, u.path);
            if (out->artifact_uri == NULL)
                oom = 1;
            if (out->run_id == NULL)
                out->run_id = reg_dup(arena, u.run_id, &oom);
        }
        break;
    }
    case KILN_URI_SQLITE:
    case KILN_URI_POSTGRES:
        rc = kiln_err_set(err, KILN_EINVAL, "'%s' is a store URI, not a model URI", uri);
        break;
    default:
        out->artifact_uri = reg_dup(arena, uri, &oom);
        break;
    }
    kiln_uri_release(&u);
    if (rc == KILN_OK && oom)
        rc = reg_oom(err);
    return rc;
}

int reg_resolve_tx(struct kiln_tx *tx, struct kiln_arena *arena, const char *uri,
                   struct kiln_resolved_model *out, struct kiln_err *err)
{
    const char *cur = uri, *next = NULL;
    int oom = 0, rc = KILN_OK;

    memset(out, 0, sizeof(*out));
    out->uri = reg_dup(arena, uri, &oom);
    if (oom)
        return reg_oom(err);
    for (int hop = 0; hop < MAX_HOPS; hop++) {
        rc = step(tx, arena, cur, hop == 0, out, &next, err);
        if (rc != KILN_OK || next == NULL)
            return rc;
        cur = next;
    }
    return kiln_err_set(err, KILN_EINVAL, "model URI '%s' refers through more than %d locations",
                        uri, MAX_HOPS);
}

int kiln_registry_resolve(struct kiln_registry *reg, struct kiln_arena *arena, const char *uri,
                          struct kiln_resolved_model *out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc;
    if (uri == NULL || *uri == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'uri'.");
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_resolve_tx(tx, arena, uri, out, err);
    kiln_store_rollback(tx);
    return rc;
}

/*
 * versions.c - model versions: create (with MLflow's source rules and models:/ source
 * resolution), get, update, soft delete, tags, stage transitions, download URI (registry.h).
 *
 * Version numbers are max(version, deleted ones included) + 1, computed inside the write
 * transaction (the store serialises writers), so two concurrent registrations get distinct
 * numbers and a number is never reused.
 */
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "core/uri.h"
#include "registry/registry_int.h"

/* True for "scheme:..." (RFC 3986 scheme followed by ':'). */
static int has_scheme(const char *s, size_t *len)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    if (s[i] != ':' || i < 2) /* one letter would be a Windows drive */
        return 0;
    *len = i;
    return 1;
}

/* 1 when path has a ".." segment (separators '/' and '\'). */
static int has_dotdot(const char *p)
{
    const char *seg = p;
    for (const char *c = p;; c++) {
        if (*c == '/' || *c == '\\' || *c == '\0') {
            if (c - seg == 2 && seg[0] == '.' && seg[1] == '.')
                return 1;
            if (*c == '\0')
                return 0;
            seg = c + 1;
        }
    }
}

/* MLflow's check for URI sources: no ".." and no NUL, also after repeated URL-decoding. */
static int check_uri_source(const char *source, struct kiln_err *err)
{
    struct kiln_buf a, b;
    int rc = KILN_OK, bad = has_dotdot(source);
    kiln_buf_init(&a, REG_SOURCE_MAX * 2);
    kiln_buf_init(&b, REG_SOURCE_MAX * 2);
    if (!bad && kiln_buf_puts(&a, source) != KILN_OK)
        rc = reg_oom(err);
    for (int i = 0; i < 8 && rc == KILN_OK && !bad && strchr(a.buf, '%') != NULL; i++) {
        kiln_buf_reset(&b);
        if (kiln_url_decode(a.buf, a.len, 0, &b) != KILN_OK) {
            bad = 1; /* malformed escapes or an encoded NUL */
            break;
        }
        bad = has_dotdot(b.buf);
        kiln_buf_reset(&a);
        if (kiln_buf_append(&a, b.buf, b.len) != KILN_OK)
            rc = reg_oom(err);
    }
    kiln_buf_release(&a);
    kiln_buf_release(&b);
    if (rc == KILN_OK && bad)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid model version source: '%s'. If supplying a source as an http, "
                          "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an "
                          "absolute path must be provided without relative path references "
                          "present. Please provide an absolute path.",
                          source);
    return rc;
}

/* A local path source must lie inside the artifact folder of the given run. */
static int check_local_source(struct kiln_tx *tx, struct kiln_arena *arena, const char *source,
                              const char *run_id, struct kiln_err *err)
{
    const char *path = kiln_cstr_has_prefix(source, "file://") ? source + 7 : source;
    const char *root = NULL;
    struct kiln_err ignored;
    size_t n;
    int ok = 0;

    if (kiln_cstr_has_prefix(source, "file:") && !kiln_cstr_has_prefix(source, "file://"))
        path = source + 5;
    if (run_id != NULL && *run_id != '\0' && !has_dotdot(path) &&
        reg_run_artifact_uri(tx, arena, run_id, &root, &ignored) == KILN_OK) {
        if (kiln_cstr_has_prefix(root, "file://"))
            root += 7;
        n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
            n--;
        ok = root[0] == '/' && strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
    }
    if (ok)
        return KILN_OK;
    return kiln_err_set(err, KILN_EINVAL,
                        "Invalid model version source: '%s'. To use a local path as a model "
                        "version source, the run_id request parameter has to be specified and the "
                        "local path has to be contained within the artifact directory of the run "
                        "specified by the run_id.",
                        source);
}

/* Works out storage_location (and a default run_id) for a new version's source. */
static int source_location(struct kiln_tx *tx, struct kiln_arena *arena, const char *source,
                           const char **run_id, const char **location, struct kiln_err *err)
{
    size_t slen;
    int rc;
    *location = source;
    if (!has_scheme(source, &slen) || kiln_cstr_has_prefix(source, "file:"))
        return check_local_source(tx, arena, source, *run_id, err);
    if (kiln_cstr_has_prefix(source, "models:")) {
        struct kiln_resolved_model r;
        struct kiln_err inner = { 0 };
        rc = reg_resolve_tx(tx, arena, source, &r, &inner);
        if (rc == KILN_ENOMEM || rc == KILN_EIO || rc == KILN_EUNAVAIL)
            return kiln_err_set(err, rc, "%s", inner.msg);
        if (rc != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "Unable to fetch model from model URI source artifact location "
                                "'%s'. Error: %s",
                                source, kiln_err_msg(&inner, rc));
        *location = r.artifact_uri;
        if ((*run_id == NULL || **run_id == '\0') && r.model_id != NULL && r.version == 0)
            *run_id = r.run_id;
        return KILN_OK;
    }
    return check_uri_source(source, err);
}

static int insert_version_tags(struct kiln_tx *tx, int64_t rm_id, int64_t version,
                               const struct kiln_kv *tags, size_t n, struct kiln_err *err)
{
    int rc = KILN_OK;
    for (size_t i = 0; i < n && rc == KILN_OK; i++)
        rc = reg_exec(tx, err,
                      "INSERT INTO model_version_tags (rm_id, version, key, value) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT (rm_id, version, key) "
                      "DO UPDATE SET value = excluded.value",
                      "iitt", rm_id, version, tags[i].key,
                      tags[i].value != NULL ? tags[i].value : "");
    return rc;
}

static int created_event(struct kiln_tx *tx, const struct kiln_mv_create_args *a, int64_t version,
                         const char *run_id, const char *location, int64_t *ev,
                         struct kiln_err *err)
{
    struct reg_payload p;
    int rc;
    reg_payload_begin(&p, a->name, version);
    kiln_jsonw_kv_str(&p.w, "source", a->source);
    kiln_jsonw_kv_str(&p.w, "storage_location", location);
    if (run_id != NULL)
        kiln_jsonw_kv_str(&p.w, "run_id", run_id);
    if (a->model_id != NULL)
        kiln_jsonw_kv_str(&p.w, "model_id", a->model_id);
    rc = reg_event_append(tx, KILN_EV_VERSION_CREATED, a->name, version, NULL, a->user,
                          reg_payload_end(&p), ev, err);
    reg_payload_release(&p);
    return rc;
}

int kiln_mv_create(struct kiln_registry *reg, struct kiln_arena *arena,
                   const struct kiln_mv_create_args *a, struct kiln_model_version **out,
                   struct kiln_err *err)
{
    struct kiln_tx *tx;
    const char *run_id = a->run_id, *location = NULL;
    int64_t rm_id = 0, version = 0, now = kiln_now_ms(), ev = 0;
    int found, rc;

    rc = reg_validate_name(a->name, "name", err);
    if (rc == KILN_OK && (a->source == NULL || *a->source == '\0'))
        rc = kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'source'.");
    if (rc == KILN_OK)
        rc = reg_validate_text(a->source, "source", REG_SOURCE_MAX, err);
    if (rc == KILN_OK)
        rc = reg_validate_text(a->description, "description", REG_DESCRIPTION_MAX, err);
    if (rc == KILN_OK)
        rc = reg_validate_text(a->run_link, "run_link", REG_SOURCE_MAX, err);
    if (rc == KILN_OK)
        rc = reg_validate_text(a->run_id, "run_id", 256, err);
    for (size_t i = 0; i < a->ntags && rc == KILN_OK; i++)
        rc = reg_validate_tag(a->tags[i].key, a->tags[i].value, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, a->name, &rm_id, err);
    if (rc == KILN_OK)
        rc = source_location(tx, arena, a->source, &run_id, &location, err);
    if (rc == KILN_OK)
        rc = reg_query_int64(tx, err, &version, &found,
                             "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions "
                             "WHERE rm_id = ?",
                             "i", rm_id);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err,
                      "INSERT INTO model_versions (rm_id, version, creation_time, "
                      "last_updated_time, user_id, description, current_stage, source, "
                      "storage_location, run_id, run_link, model_id, status) "
                      "VALUES (?, ?, ?, ?, ?, ?, 'None', ?, ?, ?, ?, ?, 'READY')",
                      "iiiittttttt", rm_id, version, now, now, a->user, a->description, a->source,
                      location, run_id != NULL && *run_id != '\0' ? run_id : NULL, a->run_link,
                      a->model_id);
    if (rc == KILN_OK)
        rc = insert_version_tags(tx, rm_id, version, a->tags, a->ntags, err);
    if (rc == KILN_OK)
        rc = reg_touch(tx, rm_id, now, err);
    if (rc == KILN_OK)
        rc = created_event(tx, a, version, run_id, location, &ev, err);
    if (rc == KILN_OK && out != NULL)
        rc = reg_load_version(tx, arena, rm_id, a->name, version, out, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

/* Opens a transaction and finds a live version; on success the caller owns *tx. */
static int open_version(struct kiln_registry *reg, enum kiln_tx_mode mode, const char *name,
                        int64_t version, struct kiln_tx **tx, int64_t *rm_id, struct kiln_err *err)
{
    int rc = reg_validate_name(name, "name", err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, mode, tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(*tx, name, rm_id, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "Model Version (name=%s, version=%lld) not found", name,
                          (long long)version);
    if (rc == KILN_OK)
        rc = reg_version_exists(*tx, *rm_id, name, version, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(*tx);
        *tx = NULL;
    }
    return rc;
}

int kiln_mv_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                int64_t version, struct kiln_model_version **out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = open_version(reg, KILN_TX_READ, name, version, &tx, &rm_id, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_load_version(tx, arena, rm_id, name, version, out, err);
    kiln_store_rollback(tx);
    return rc;
}

int kiln_mv_update(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   int64_t version, const char *description, struct kiln_model_version **out,
                   struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = reg_validate_text(description, "description", REG_DESCRIPTION_MAX, err);
    if (rc == KILN_OK)
        rc = open_version(reg, KILN_TX_WRITE, name, version, &tx, &rm_id, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_exec(tx, err,
                  "UPDATE model_versions SET description = ?, last_updated_time = ? "
                  "WHERE rm_id = ? AND version = ?",
                  "tiii", description, kiln_now_ms(), rm_id, version);
    if (rc == KILN_OK && out != NULL)
        rc = reg_load_version(tx, arena, rm_id, name, version, out, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

/* Drops every alias on a version being deleted, recording each as a move and an event. */
static int drop_aliases(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                        const char *name, int64_t version, const char *user, int64_t *ev,
                        struct kiln_err *err)
{
    struct kiln_model_version v = { 0 };
    int rc;
    v.version = version;
    rc = reg_load_version_aliases(tx, arena, rm_id, &v, err);
    for (size_t i = 0; i < v.naliases && rc == KILN_OK; i++) {
        struct reg_payload p;
        rc = reg_history_append(tx, rm_id, user, v.aliases[i], "version_deleted", version, 0,
                                "version deleted", NULL, NULL, err);
        if (rc != KILN_OK)
            break;
        reg_payload_begin(&p, name, 0);
        kiln_jsonw_kv_str(&p.w, "alias", v.aliases[i]);
        reg_payload_version(&p, "from_version", version);
        reg_payload_version(&p, "to_version", 0);
        kiln_jsonw_kv_str(&p.w, "action", "version_deleted");
        rc = reg_event_append(tx, KILN_EV_ALIAS_DELETED, name, version, v.aliases[i], user,
                              reg_payload_end(&p), ev, err);
        reg_payload_release(&p);
    }
    if (rc == KILN_OK)
        rc = reg_exec(tx, err, "DELETE FROM model_aliases WHERE rm_id = ? AND version = ?", "ii",
                      rm_id, version);
    return rc;
}

int kiln_mv_delete(struct kiln_registry *reg, const char *name, int64_t version, const char *user,
                   struct kiln_err *err)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_tx *tx;
    struct reg_payload p;
    int64_t rm_id, now = kiln_now_ms(), ev = 0;
    int rc;

    if (arena == NULL)
        return reg_oom(err);
    rc = open_version(reg, KILN_TX_WRITE, name, version, &tx, &rm_id, err);
    if (rc != KILN_OK) {
        kiln_arena_free(arena);
        return rc;
    }
    rc = drop_aliases(tx, arena, rm_id, name, version, user, &ev, err);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err,
                      "UPDATE model_versions SET deleted = 1, last_updated_time = ?, "
                      "description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', "
                      "run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', "
                      "status_message = NULL WHERE rm_id = ? AND version = ?",
                      "iii", now, rm_id, version);
    if (rc == KILN_OK)
        rc = reg_touch(tx, rm_id, now, err);
    if (rc == KILN_OK) {
        reg_payload_begin(&p, name, version);
        rc = reg_event_append(tx, KILN_EV_VERSION_DELETED, name, version, NULL, user,
                              reg_payload_end(&p), &ev, err);
        reg_payload_release(&p);
    }
    kiln_arena_free(arena);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

int kiln_mv_set_tag(struct kiln_registry *reg, const char *name, int64_t version, const char *key,
                    const char *value, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_kv kv = { key, value != NULL ? value : "" };
    int64_t rm_id;
    int rc = reg_validate_tag(key, value, err);
    if (rc == KILN_OK)
        rc = open_version(reg, KILN_TX_WRITE, name, version, &tx, &rm_id, err);
    if (rc != KILN_OK)
        return rc;
    rc = insert_version_tags(tx, rm_id, version, &kv, 1, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_mv_delete_tag(struct kiln_registry *reg, const char *name, int64_t version,
                       const char *key, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = reg_validate_tag_key(key, err);
    if (rc == KILN_OK)
        rc = open_version(reg, KILN_TX_WRITE, name, version, &tx, &rm_id, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_exec(tx, err,
                  "DELETE FROM model_version_tags WHERE rm_id = ? AND version = ? AND key = ?",
                  "iit", rm_id, version, key);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_mv_transition_stage(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                             int64_t version, const char *stage, int archive_existing,
                             struct kiln_model_version **out, struct kiln_err *err)
{
    const char *canon = kiln_stage_canonical(stage != NULL ? stage : "");
    struct kiln_model_version *before;
    struct kiln_tx *tx;
    struct reg_payload p;
    int64_t rm_id, now = kiln_now_ms(), ev = 0;
    int rc;

    if (canon == NULL)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid Model Version stage: %s. Value must be one of None, Staging, "
                            "Production, Archived.",
                            stage != NULL ? stage : "");
    if (archive_existing && strcmp(canon, KILN_STAGE_STAGING) != 0 &&
        strcmp(canon, KILN_STAGE_PRODUCTION) != 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "Model version transition cannot archive existing model versions "
                            "because '%s' is not an Active stage. Valid stages are ['Staging', "
                            "'Production']",
                            stage);
    rc = open_version(reg, KILN_TX_WRITE, name, version, &tx, &rm_id, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_load_version(tx, arena, rm_id, name, version, &before, err);
    if (rc == KILN_OK && archive_existing)
        rc = reg_exec(tx, err,
                      "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? "
                      "WHERE rm_id = ? AND version != ? AND current_stage = ? AND deleted = 0",
                      "iiit", now, rm_id, version, canon);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err,
                      "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                      "WHERE rm_id = ? AND version = ?",
                      "tiii", canon, now, rm_id, version);
    if (rc == KILN_OK)
        rc = reg_touch(tx, rm_id, now, err);
    if (rc == KILN_OK) {
        reg_payload_begin(&p, name, version);
        kiln_jsonw_kv_str(&p.w, "from_stage", before->current_stage);
        kiln_jsonw_kv_str(&p.w, "to_stage", canon);
        kiln_jsonw_kv_bool(&p.w, "archive_existing_versions", archive_existing);
        rc = reg_event_append(tx, KILN_EV_STAGE_CHANGED, name, version, NULL, NULL,
                              reg_payload_end(&p), &ev, err);
        reg_payload_release(&p);
    }
    if (rc == KILN_OK && out != NULL)
        rc = reg_load_version(tx, arena, rm_id, name, version, out, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return reg_commit(reg, tx, ev, err);
}

int kiln_mv_download_uri(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                         int64_t version, const char **uri, struct kiln_err *err)
{
    struct kiln_model_version *v;
    int rc = kiln_mv_get(reg, arena, name, version, &v, err);
    if (rc == KILN_OK)
        *uri = v->storage_location != NULL ? v->storage_location : v->source;
    return rc;
}

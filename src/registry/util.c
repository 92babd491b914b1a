/*
 * util.c - statement helpers, lookups, validation and event payloads shared by the registry
 * files (registry_int.h). No state of its own; thread-safe.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "core/time.h"
#include "registry/registry_int.h"

/* ---- statements ------------------------------------------------------------------------- */

static int bind_va(struct kiln_stmt *st, const char *types, va_list ap)
{
    int idx = 1, rc = KILN_OK;
    for (const char *t = types; t != NULL && *t != '\0' && rc == KILN_OK; t++, idx++) {
        switch (*t) {
        case 'i':
            rc = kiln_stmt_bind_int64(st, idx, va_arg(ap, int64_t));
            break;
        case 't':
            rc = kiln_stmt_bind_text(st, idx, va_arg(ap, const char *));
            break;
        case 'd':
            rc = kiln_stmt_bind_double(st, idx, va_arg(ap, double));
            break;
        default:
            KILN_ASSERT(!"bad bind type");
        }
    }
    return rc;
}

static int prepare_va(struct kiln_tx *tx, struct kiln_stmt **st, struct kiln_err *err,
                      const char *sql, const char *types, va_list ap)
{
    int rc = kiln_tx_prepare(tx, sql, st, err);
    if (rc != KILN_OK)
        return rc;
    rc = bind_va(*st, types, ap);
    if (rc != KILN_OK) {
        kiln_stmt_finish(*st);
        *st = NULL;
        return kiln_err_set(err, rc, "cannot bind statement parameters: %s", kiln_strerror(rc));
    }
    return KILN_OK;
}

int reg_prepare(struct kiln_tx *tx, struct kiln_stmt **st, struct kiln_err *err, const char *sql,
                const char *types, ...)
{
    va_list ap;
    int rc;
    va_start(ap, types);
    rc = prepare_va(tx, st, err, sql, types, ap);
    va_end(ap);
    return rc;
}

int reg_exec(struct kiln_tx *tx, struct kiln_err *err, const char *sql, const char *types, ...)
{
    struct kiln_stmt *st;
    va_list ap;
    int rc;
    va_start(ap, types);
    rc = prepare_va(tx, &st, err, sql, types, ap);
    va_end(ap);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int reg_query_int64(struct kiln_tx *tx, struct kiln_err *err, int64_t *out, int *found,
                    const char *sql, const char *types, ...)
{
    struct kiln_stmt *st;
    va_list ap;
    int rc;
    va_start(ap, types);
    rc = prepare_va(tx, &st, err, sql, types, ap);
    va_end(ap);
    *found = 0;
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        *out = kiln_stmt_is_null(st, 0) ? 0 : kiln_stmt_int64(st, 0);
        *found = 1;
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

const char *reg_col_text(struct kiln_stmt *st, int col, struct kiln_arena *arena, int *oom)
{
    const char *s = kiln_stmt_text(st, col);
    char *copy;
    if (s == NULL)
        return NULL;
    copy = kiln_arena_strndup(arena, s, kiln_stmt_bytes(st, col));
    if (copy == NULL)
        *oom = 1;
    return copy;
}

const char *reg_dup(struct kiln_arena *arena, const char *s, int *oom)
{
    char *copy;
    if (s == NULL)
        return NULL;
    copy = kiln_arena_strdup(arena, s);
    if (copy == NULL)
        *oom = 1;
    return copy;
}

int reg_oom(struct kiln_err *err)
{
    return kiln_err_set(err, KILN_ENOMEM, "out of memory");
}

/* ---- lookups ---------------------------------------------------------------------------- */

int reg_model_id(struct kiln_tx *tx, const char *name, int64_t *rm_id, struct kiln_err *err)
{
    int found,
        rc = reg_query_int64(tx, err, rm_id, &found,
                             "SELECT rm_id FROM registered_models WHERE name = ?", "t", name);
    if (rc == KILN_OK && !found)
        rc = kiln_err_set(err, KILN_ENOENT, "Registered Model with name=%s not found", name);
    return rc;
}

int reg_version_exists(struct kiln_tx *tx, int64_t rm_id, const char *name, int64_t version,
                       struct kiln_err *err)
{
    int64_t one;
    int found, rc = reg_query_int64(tx, err, &one, &found,
                                    "SELECT 1 FROM model_versions WHERE rm_id = ? AND version = ? "
                                    "AND deleted = 0",
                                    "ii", rm_id, version);
    if (rc == KILN_OK && !found)
        rc = kiln_err_set(err, KILN_ENOENT, "Model Version (name=%s, version=%lld) not found", name,
                          (long long)version);
    return rc;
}

int reg_alias_version(struct kiln_tx *tx, int64_t rm_id, const char *alias, int64_t *version,
                      struct kiln_err *err)
{
    int found,
        rc = reg_query_int64(tx, err, version, &found,
                             "SELECT version FROM model_aliases WHERE rm_id = ? AND alias = ?",
                             "it", rm_id, alias);
    if (rc == KILN_OK && !found)
        *version = 0;
    return rc;
}

int reg_touch(struct kiln_tx *tx, int64_t rm_id, int64_t now, struct kiln_err *err)
{
    return reg_exec(tx, err, "UPDATE registered_models SET last_updated_time = ? WHERE rm_id = ?",
                    "ii", now, rm_id);
}

/* ---- validation ------------------------------------------------------------------------- */

int reg_is_alias_char(unsigned char c)
{
    /* Python's \w in a str pattern also matches non-ASCII letters; bytes >= 0x80 stand in. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c >= 0x80;
}

int kiln_registry_validate_alias(const char *alias, struct kiln_err *err)
{
    size_t len;
    if (alias == NULL || *alias == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Registered model alias name cannot be empty.");
    for (const char *p = alias; *p != '\0'; p++)
        if (!reg_is_alias_char((unsigned char)*p))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid alias name: '%s'. Names may only contain alphanumerics, "
                                "underscores (_), and dashes (-).",
                                alias);
    len = strlen(alias);
    if (len > REG_ALIAS_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "'Registered model alias name' exceeds the maximum length of %d "
                            "characters",
                            REG_ALIAS_MAX);
    if (kiln_cstr_ieq(alias, "latest"))
        return kiln_err_set(err, KILN_EINVAL,
                            "'latest' alias name (case insensitive) is reserved.");
    if ((alias[0] == 'v' || alias[0] == 'V') && len > 1) {
        size_t i = 1;
        while (alias[i] >= '0' && alias[i] <= '9')
            i++;
        if (alias[i] == '\0')
            return kiln_err_set(err, KILN_EINVAL, "Version alias name '%s' is reserved.", alias);
    }
    return KILN_OK;
}

int kiln_registry_parse_version(const char *s, int64_t *version, struct kiln_err *err)
{
    int64_t v;
    if (s == NULL || kiln_parse_int64(s, strlen(s), &v) != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "Parameter 'version' must be an integer, got '%s'.",
                            s != NULL ? s : "");
    *version = v;
    return KILN_OK;
}

int reg_validate_name(const char *name, const char *field, struct kiln_err *err)
{
    if (name == NULL || *name == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'.", field);
    if (strlen(name) > REG_NAME_MAX)
        return kiln_err_set(err, KILN_EINVAL, "'%s' exceeds the maximum length of %d characters",
                            field, REG_NAME_MAX);
    return KILN_OK;
}

static int key_char_ok(unsigned char c)
{
    return reg_is_alias_char(c) || c == '.' || c == '/' || c == ' ' || c == ':';
}

int reg_validate_tag_key(const char *key, struct kiln_err *err)
{
    size_t len;
    if (key == NULL)
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'key'.");
    for (const char *p = key; *p != '\0'; p++)
        if (!key_char_ok((unsigned char)*p))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value \"%s\" for parameter 'key' supplied: Names may only "
                                "contain alphanumerics, underscores (_), dashes (-), periods (.), "
                                "spaces ( ), colon(:) and slashes (/).",
                                key);
    /* The key must already be a normalised relative path (posixpath.normpath(k) == k). */
    len = strlen(key);
    if (len == 0 || key[0] == '/' || key[len - 1] == '/' || strstr(key, "//") != NULL ||
        strcmp(key, ".") == 0 || strncmp(key, "..", 2) == 0 || strstr(key, "/./") != NULL ||
        strstr(key, "/../") != NULL || strncmp(key, "./", 2) == 0 ||
        (len >= 2 && strcmp(key + len - 2, "/.") == 0) ||
        (len >= 3 && strcmp(key + len - 3, "/..") == 0))
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value \"%s\" for parameter 'key' supplied: Names may be "
                            "treated as files in certain cases, and must not resolve to other "
                            "names when treated as such.",
                            key);
    if (len > REG_TAG_KEY_MAX)
        return kiln_err_set(err, KILN_EINVAL, "'key' exceeds the maximum length of %d characters",
                            REG_TAG_KEY_MAX);
    return KILN_OK;
}

int reg_validate_tag(const char *key, const char *value, struct kiln_err *err)
{
    int rc = reg_validate_tag_key(key, err);
    if (rc == KILN_OK && value != NULL && strlen(value) > REG_TAG_VALUE_MAX)
        rc = kiln_err_set(err, KILN_EINVAL, "'value' exceeds the maximum length of %d characters",
                          REG_TAG_VALUE_MAX);
    return rc;
}

int reg_validate_text(const char *value, const char *field, size_t max, struct kiln_err *err)
{
    if (value != NULL && strlen(value) > max)
        return kiln_err_set(err, KILN_EINVAL, "'%s' exceeds the maximum length of %zu characters",
                            field, max);
    return KILN_OK;
}

/* ---- history and events ----------------------------------------------------------------- */

int reg_history_append(struct kiln_tx *tx, int64_t rm_id, const char *user, const char *alias,
                       const char *action, int64_t from, int64_t to, const char *reason,
                       const char *report_json, int64_t *move_id, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = reg_prepare(tx, &st, err,
                         "INSERT INTO alias_history (rm_id, time, user_id, alias, action, "
                         "from_version, to_version, reason, report) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING move_id",
                         "iitttiitt", rm_id, kiln_now_ms(), user != NULL ? user : "", alias, action,
                         from, to, reason != NULL ? reason : "", report_json);
    if (rc != KILN_OK)
        return rc;
    /* 0 stands for "no version": store it as NULL. */
    if (from == 0)
        kiln_stmt_bind_null(st, 6);
    if (to == 0)
        kiln_stmt_bind_null(st, 7);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW && move_id != NULL)
        *move_id = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int reg_event_append(struct kiln_tx *tx, const char *type, const char *model, int64_t version,
                     const char *alias, const char *user, const char *payload, int64_t *event_id,
                     struct kiln_err *err)
{
    struct kiln_stmt *st;
    int64_t now = kiln_now_ms(), id = 0;
    int rc = reg_prepare(tx, &st, err,
                         "INSERT INTO registry_events (time, type, model, version, alias, user_id, "
                         "payload) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
                         "ittittt", now, type, model, version, alias, user != NULL ? user : "",
                         payload != NULL ? payload : "{}");
    if (rc != KILN_OK)
        return rc;
    if (version == 0)
        kiln_stmt_bind_null(st, 4);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        id = kiln_stmt_int64(st, 0);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    /* One pending delivery per active webhook that subscribes to this type (or to "*"). */
    rc = reg_exec(tx, err,
                  "INSERT INTO webhook_deliveries (webhook_id, event_id, state, attempts, "
                  "next_attempt_time, updated_time) "
                  "SELECT webhook_id, ?, 'pending', 0, ?, ? FROM webhooks WHERE active = 1 AND "
                  "(events = '*' OR (',' || events || ',') LIKE ('%,' || ? || ',%'))",
                  "iiit", id, now, now, type);
    if (rc == KILN_OK && event_id != NULL)
        *event_id = id;
    return rc;
}

int reg_commit(struct kiln_registry *reg, struct kiln_tx *tx, int64_t event_id,
               struct kiln_err *err)
{
    int rc = kiln_store_commit(tx, err);
    if (rc == KILN_OK && event_id > 0)
        reg_published(reg, event_id);
    return rc;
}

void reg_payload_begin(struct reg_payload *p, const char *model, int64_t version)
{
    char v[24];
    kiln_buf_init(&p->buf, KILN_BUF_MB);
    kiln_jsonw_init(&p->w, &p->buf);
    kiln_jsonw_obj_begin(&p->w);
    if (model != NULL)
        kiln_jsonw_kv_str(&p->w, "model", model);
    if (version > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)version);
        kiln_jsonw_kv_str(&p->w, "version", v);
    }
}

const char *reg_payload_end(struct reg_payload *p)
{
    kiln_jsonw_obj_end(&p->w);
    return kiln_jsonw_finish(&p->w) == KILN_OK ? p->buf.buf : NULL;
}

void reg_payload_version(struct reg_payload *p, const char *key, int64_t v)
{
    char s[24];
    kiln_jsonw_key(&p->w, key);
    if (v == 0) {
        kiln_jsonw_null(&p->w);
        return;
    }
    snprintf(s, sizeof(s), "%lld", (long long)v);
    kiln_jsonw_str(&p->w, s);
}

void reg_payload_release(struct reg_payload *p)
{
    kiln_buf_release(&p->buf);
}

/*
 * events.c - reading the registry event log and managing webhooks (registry.h). Events are
 * written by the change that causes them (reg_event_append, util.c); webhook deliveries are
 * posted by the delivery thread (webhooks.c).
 */
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "core/time.h"
#include "core/uri.h"
#include "registry/registry_int.h"
#include "tracking/search_filter.h"

static const char *const event_types[] = {
    KILN_EV_MODEL_CREATED,     KILN_EV_MODEL_RENAMED,      KILN_EV_MODEL_DELETED,
    KILN_EV_VERSION_CREATED,   KILN_EV_VERSION_DELETED,    KILN_EV_STAGE_CHANGED,
    KILN_EV_ALIAS_MOVED,       KILN_EV_ALIAS_DELETED,      KILN_EV_ROLLBACK,
    KILN_EV_PROMOTION_REFUSED, KILN_EV_EVALUATION_CREATED, KILN_EV_POLICY_UPDATED,
    KILN_EV_DEPLOY_STARTED,    KILN_EV_DEPLOY_STEP,        KILN_EV_DEPLOY_ROLLED_BACK,
    KILN_EV_DEPLOY_PROMOTED,   KILN_EV_DEPLOY_ENDED,       KILN_EV_ALERT_FIRED,
    KILN_EV_ALERT_RESOLVED,
};

/* The types other subsystems may emit through kiln_registry_emit. */
static const char *const external_types[] = {
    KILN_EV_DEPLOY_STARTED,  KILN_EV_DEPLOY_STEP,  KILN_EV_DEPLOY_ROLLED_BACK,
    KILN_EV_DEPLOY_PROMOTED, KILN_EV_DEPLOY_ENDED, KILN_EV_ALERT_FIRED,
    KILN_EV_ALERT_RESOLVED,
};

#define MAX_TYPES 16

/* Splits a comma-separated list of event types; each must be known. */
static int split_types(const char *types, struct kiln_arena *arena, const char **out, size_t *n,
                       struct kiln_err *err)
{
    const char *p = types;
    *n = 0;
    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        struct kiln_str t =
            kiln_str_trim((struct kiln_str){ p, comma != NULL ? (size_t)(comma - p) : strlen(p) });
        int known = 0;
        for (size_t i = 0; i < KILN_ARRAY_LEN(event_types); i++)
            if (kiln_str_eq_cstr(t, event_types[i])) {
                known = 1;
                if (*n == MAX_TYPES)
                    return kiln_err_set(err, KILN_EINVAL, "at most %d event types", MAX_TYPES);
                out[(*n)++] = event_types[i];
            }
        if (!known)
            return kiln_err_set(err, KILN_EINVAL, "unknown event type '%.*s'", (int)t.len, t.p);
        p = comma != NULL ? comma + 1 : NULL;
    }
    (void)arena;
    return KILN_OK;
}

int kiln_registry_events(struct kiln_registry *reg, struct kiln_arena *arena, int64_t after,
                         int64_t limit, const char *types, const char *model,
                         struct kiln_registry_event **out, size_t *n, int64_t *last_id,
                         struct kiln_err *err)
{
    const char *tv[MAX_TYPES];
    struct kiln_registry_event *list = NULL;
    struct kiln_stmt *st = NULL;
    struct kiln_tx *tx = NULL;
    struct kiln_sql q;
    size_t nt = 0, count = 0;
    int found, oom = 0, rc;

    *out = NULL;
    *n = 0;
    if (limit == 0)
        limit = 100;
    if (limit < 0 || limit > 1000)
        return kiln_err_set(err, KILN_EINVAL, "max_results must be between 1 and 1000");
    if (after < 0)
        return kiln_err_set(err, KILN_EINVAL, "'after' must be an event id (>= 0)");
    rc = split_types(types, arena, tv, &nt, err);
    if (rc != KILN_OK)
        return rc;
    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT event_id, time, type, model, version, alias, user_id, payload FROM "
                     "registry_events WHERE event_id > ");
    kiln_sql_int64(&q, after);
    if (model != NULL && *model != '\0') {
        kiln_sql_add(&q, " AND model = ");
        kiln_sql_text(&q, model);
    }
    for (size_t i = 0; i < nt; i++) {
        kiln_sql_add(&q, i == 0 ? " AND type IN (" : ", ");
        kiln_sql_text(&q, tv[i]);
        if (i + 1 == nt)
            kiln_sql_add(&q, ")");
    }
    kiln_sql_add(&q, " ORDER BY event_id LIMIT ");
    kiln_sql_int64(&q, limit);
    if (kiln_sql_status(&q) != KILN_OK)
        rc = reg_oom(err);
    if (rc == KILN_OK && (list = kiln_arena_calloc(arena, (size_t)limit, sizeof(*list))) == NULL)
        rc = reg_oom(err);
    if (rc == KILN_OK)
        rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK)
        rc = kiln_tx_prepare(tx, q.text.buf, &st, err);
    if (rc == KILN_OK && kiln_sql_bind(&q, st, 1) != KILN_OK)
        rc = kiln_err_set(err, KILN_EINTERNAL, "cannot bind the event query");
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_registry_event *e = &list[count++];
        e->id = kiln_stmt_int64(st, 0);
        e->time = kiln_stmt_int64(st, 1);
        e->type = reg_col_text(st, 2, arena, &oom);
        e->model = reg_col_text(st, 3, arena, &oom);
        e->version = kiln_stmt_is_null(st, 4) ? 0 : kiln_stmt_int64(st, 4);
        e->alias = reg_col_text(st, 5, arena, &oom);
        e->user_id = reg_col_text(st, 6, arena, &oom);
        e->payload = reg_col_text(st, 7, arena, &oom);
        rc = oom ? reg_oom(err) : KILN_OK;
    }
    kiln_stmt_finish(st);
    if (rc >= 0)
        rc = reg_query_int64(tx, err, last_id, &found, "SELECT MAX(event_id) FROM registry_events",
                             "");
    kiln_store_rollback(tx);
    kiln_sql_release(&q);
    if (rc < 0)
        return rc;
    *out = list;
    *n = count;
    return KILN_OK;
}

/* ---- webhooks --------------------------------------------------------------------------- */

int kiln_webhook_create(struct kiln_registry *reg, const char *url, const char *events,
                        const char *description, int64_t *id, struct kiln_err *err)
{
    struct kiln_arena *arena;
    const char *tv[MAX_TYPES];
    struct kiln_uri u;
    struct kiln_stmt *st;
    struct kiln_tx *tx;
    size_t nt = 0;
    int rc;

    if (url == NULL || *url == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'url'.");
    if (strlen(url) > 2048)
        return kiln_err_set(err, KILN_EINVAL,
                            "'url' exceeds the maximum length of 2048 characters");
    rc = kiln_uri_parse(url, &u, NULL);
    if (rc == KILN_ENOMEM)
        return reg_oom(err);
    if (rc != KILN_OK || u.scheme != KILN_URI_HTTP)
        rc = kiln_err_set(err, KILN_EINVAL, "webhook url '%s' must be an http:// or https:// URL",
                          url);
    kiln_uri_release(&u);
    if (rc != KILN_OK)
        return rc;
    if (events == NULL || *events == '\0')
        events = "*";
    if (strcmp(events, "*") != 0) {
        arena = kiln_arena_new(0);
        if (arena == NULL)
            return reg_oom(err);
        rc = split_types(events, arena, tv, &nt, err);
        kiln_arena_free(arena);
        if (rc != KILN_OK)
            return rc;
        if (strchr(events, ' ') != NULL)
            return kiln_err_set(err, KILN_EINVAL, "webhook events: list types without spaces");
    }
    rc = reg_validate_text(description, "description", 1000, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_prepare(tx, &st, err,
                     "INSERT INTO webhooks (url, events, description, active, creation_time) "
                     "VALUES (?, ?, ?, 1, ?) RETURNING webhook_id",
                     "ttti", url, events, description != NULL ? description : "", kiln_now_ms());
    if (rc == KILN_OK) {
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW)
            *id = kiln_stmt_int64(st, 0);
        kiln_stmt_finish(st);
    }
    if (rc < 0) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_webhook_list(struct kiln_registry *reg, struct kiln_arena *arena,
                      struct kiln_webhook **out, size_t *n, struct kiln_err *err)
{
    struct kiln_webhook *list = NULL;
    struct kiln_stmt *st = NULL;
    struct kiln_tx *tx;
    size_t cap = 0, count = 0;
    int oom = 0, rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_prepare(tx, &st, err,
                     "SELECT w.webhook_id, w.url, w.events, w.description, w.active, "
                     "w.creation_time, "
                     "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id "
                     "AND d.state = 'pending'), "
                     "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id "
                     "AND d.state = 'delivered'), "
                     "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id "
                     "AND d.state = 'failed') FROM webhooks w ORDER BY w.webhook_id",
                     "");
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_webhook *h;
        if (count == cap) {
            struct kiln_webhook *nl;
            cap = cap ? cap * 2 : 8;
            nl = kiln_arena_calloc(arena, cap, sizeof(*nl));
            if (nl == NULL) {
                rc = reg_oom(err);
                break;
            }
            if (count > 0)
                memcpy(nl, list, count * sizeof(*nl));
            list = nl;
        }
        h = &list[count++];
        h->id = kiln_stmt_int64(st, 0);
        h->url = reg_col_text(st, 1, arena, &oom);
        h->events = reg_col_text(st, 2, arena, &oom);
        h->description = reg_col_text(st, 3, arena, &oom);
        h->active = (int)kiln_stmt_int64(st, 4);
        h->creation_timestamp = kiln_stmt_int64(st, 5);
        h->pending = kiln_stmt_int64(st, 6);
        h->delivered = kiln_stmt_int64(st, 7);
        h->failed = kiln_stmt_int64(st, 8);
        rc = oom ? reg_oom(err) : KILN_OK;
    }
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    if (rc < 0)
        return rc;
    *out = list;
    *n = count;
    return KILN_OK;
}

int kiln_webhook_delete(struct kiln_registry *reg, int64_t id, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_exec(tx, err, "DELETE FROM webhooks WHERE webhook_id = ?", "i", id);
    if (rc == KILN_OK && kiln_tx_changes(tx) == 0)
        rc = kiln_err_set(err, KILN_ENOENT, "Webhook with id=%lld not found", (long long)id);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

int kiln_webhook_deliveries(struct kiln_registry *reg, struct kiln_arena *arena, int64_t id,
                            int64_t limit, struct kiln_webhook_delivery **out, size_t *n,
                            struct kiln_err *err)
{
    struct kiln_webhook_delivery *list;
    struct kiln_stmt *st;
    struct kiln_tx *tx;
    int64_t one;
    size_t count = 0;
    int found, oom = 0, rc;

    if (limit <= 0 || limit > 1000)
        limit = 100;
    list = kiln_arena_calloc(arena, (size_t)limit, sizeof(*list));
    if (list == NULL)
        return reg_oom(err);
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_query_int64(tx, err, &one, &found, "SELECT 1 FROM webhooks WHERE webhook_id = ?", "i",
                         id);
    if (rc == KILN_OK && !found)
        rc = kiln_err_set(err, KILN_ENOENT, "Webhook with id=%lld not found", (long long)id);
    if (rc == KILN_OK)
        rc = reg_prepare(tx, &st, err,
                         "SELECT webhook_id, event_id, state, attempts, next_attempt_time, "
                         "last_status, last_error FROM webhook_deliveries WHERE webhook_id = ? "
                         "ORDER BY event_id DESC LIMIT ?",
                         "ii", id, limit);
    if (rc == KILN_OK) {
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            struct kiln_webhook_delivery *d = &list[count++];
            d->webhook_id = kiln_stmt_int64(st, 0);
            d->event_id = kiln_stmt_int64(st, 1);
            d->state = reg_col_text(st, 2, arena, &oom);
            d->attempts = kiln_stmt_int64(st, 3);
            d->next_attempt_time = kiln_stmt_int64(st, 4);
            d->last_status = kiln_stmt_is_null(st, 5) ? 0 : kiln_stmt_int64(st, 5);
            d->last_error = reg_col_text(st, 6, arena, &oom);
            if (oom)
                break;
        }
        kiln_stmt_finish(st);
        if (oom)
            rc = reg_oom(err);
    }
    kiln_store_rollback(tx);
    if (rc < 0)
        return rc;
    *out = list;
    *n = count;
    return KILN_OK;
}

void kiln_registry_event_write(struct kiln_jsonw *w, const struct kiln_registry_event *e)
{
    char v[24];
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "id", e->id);
    kiln_jsonw_kv_str(w, "type", e->type);
    kiln_jsonw_kv_int(w, "time", e->time);
    kiln_jsonw_key(w, "model");
    if (e->model != NULL)
        kiln_jsonw_str(w, e->model);
    else
        kiln_jsonw_null(w);
    kiln_jsonw_key(w, "version");
    if (e->version > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)e->version);
        kiln_jsonw_str(w, v);
    } else {
        kiln_jsonw_null(w);
    }
    kiln_jsonw_key(w, "alias");
    if (e->alias != NULL)
        kiln_jsonw_str(w, e->alias);
    else
        kiln_jsonw_null(w);
    kiln_jsonw_kv_str(w, "user", e->user_id != NULL ? e->user_id : "");
    kiln_jsonw_key(w, "data");
    if (e->payload != NULL)
        kiln_jsonw_raw(w, e->payload, strlen(e->payload));
    else
        kiln_jsonw_raw(w, "{}", 2);
    kiln_jsonw_obj_end(w);
}

int kiln_registry_emit(struct kiln_registry *reg, const char *type, const char *model,
                       int64_t version, const char *alias, const char *user, const char *payload,
                       int64_t *event_id, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t id = 0;
    json_t *doc = NULL;
    int known = 0, rc;

    for (size_t i = 0; type != NULL && i < KILN_ARRAY_LEN(external_types); i++)
        known |= strcmp(type, external_types[i]) == 0;
    if (!known)
        return kiln_err_set(err, KILN_EINVAL, "event type '%s' cannot be emitted",
                            type != NULL ? type : "");
    if (payload != NULL) {
        struct kiln_err perr = { 0 };
        rc = kiln_json_parse_object(payload, strlen(payload), 0, &doc, &perr);
        json_decref(doc);
        if (rc == KILN_ENOMEM)
            return kiln_err_set(err, rc, "out of memory");
        if (rc != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL, "event payload: %s", perr.msg);
    }
    rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_event_append(tx, type, model, version, alias, user, payload, &id, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    rc = reg_commit(reg, tx, id, err);
    if (rc == KILN_OK && event_id != NULL)
        *event_id = id;
    return rc;
}

/*
 * registry_api.c - entity writers and request readers shared by the registry's REST handlers
 * (registry_api.h), and the registration of all registry routes (kiln_api_registry_routes).
 */
#include <stdio.h>
#include <string.h>

#include "api/registry_api.h"
#include "core/str.h"

void kiln_regapi_write_vnum(struct kiln_jsonw *w, int64_t v)
{
    char s[24];
    if (v == 0) {
        kiln_jsonw_null(w);
        return;
    }
    snprintf(s, sizeof(s), "%lld", (long long)v);
    kiln_jsonw_str(w, s);
}

static void write_kv(struct kiln_jsonw *w, const char *field, const struct kiln_kv *kv, size_t n)
{
    if (n == 0)
        return;
    kiln_jsonw_key(w, field);
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "key", kv[i].key);
        kiln_jsonw_kv_str(w, "value", kv[i].value);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

void kiln_regapi_write_version(struct kiln_jsonw *w, const struct kiln_model_version *v,
                               int with_aliases)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", v->name);
    kiln_jsonw_key(w, "version");
    kiln_regapi_write_vnum(w, v->version);
    kiln_jsonw_kv_int(w, "creation_timestamp", v->creation_timestamp);
    kiln_jsonw_kv_int(w, "last_updated_timestamp", v->last_updated_timestamp);
    if (v->user_id != NULL)
        kiln_jsonw_kv_str(w, "user_id", v->user_id);
    kiln_jsonw_kv_str(w, "current_stage", v->current_stage);
    if (v->description != NULL)
        kiln_jsonw_kv_str(w, "description", v->description);
    kiln_jsonw_kv_str(w, "source", v->source);
    if (v->run_id != NULL)
        kiln_jsonw_kv_str(w, "run_id", v->run_id);
    kiln_jsonw_kv_str(w, "status", v->status);
    write_kv(w, "tags", v->tags, v->ntags);
    if (v->run_link != NULL)
        kiln_jsonw_kv_str(w, "run_link", v->run_link);
    if (with_aliases && v->naliases > 0) {
        kiln_jsonw_key(w, "aliases");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < v->naliases; i++)
            kiln_jsonw_str(w, v->aliases[i]);
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_obj_end(w);
}

void kiln_regapi_write_model(struct kiln_jsonw *w, const struct kiln_registered_model *m)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", m->name);
    kiln_jsonw_kv_int(w, "creation_timestamp", m->creation_timestamp);
    kiln_jsonw_kv_int(w, "last_updated_timestamp", m->last_updated_timestamp);
    if (m->description != NULL)
        kiln_jsonw_kv_str(w, "description", m->description);
    if (m->nlatest > 0) {
        kiln_jsonw_key(w, "latest_versions");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < m->nlatest; i++)
            kiln_regapi_write_version(w, &m->latest[i], 0);
        kiln_jsonw_arr_end(w);
    }
    write_kv(w, "tags", m->tags, m->ntags);
    if (m->naliases > 0) {
        kiln_jsonw_key(w, "aliases");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < m->naliases; i++) {
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "alias", m->aliases[i].alias);
            kiln_jsonw_key(w, "version");
            kiln_regapi_write_vnum(w, m->aliases[i].version);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
    }
    kiln_jsonw_obj_end(w);
}

int kiln_regapi_version(const json_t *doc, const char *field, int required, int64_t *out,
                        int *present, struct kiln_err *err)
{
    const json_t *v = json_object_get(doc, field);
    const char *s;
    if (present != NULL)
        *present = 0;
    if (v == NULL || json_is_null(v) || (json_is_string(v) && *json_string_value(v) == '\0')) {
        if (required)
            return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'.",
                                field);
        return KILN_OK;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else if (json_is_string(v)) {
        s = json_string_value(v);
        if (kiln_parse_int64(s, strlen(s), out) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL, "Parameter '%s' must be an integer, got '%s'.",
                                field, s);
    } else {
        return kiln_err_set(err, KILN_EINVAL, "Parameter '%s' must be an integer.", field);
    }
    if (present != NULL)
        *present = 1;
    return KILN_OK;
}

int kiln_regapi_tags(struct kiln_http_req *req, const json_t *doc, struct kiln_kv **out, size_t *n,
                     struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, "tags", KILN_JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL)
        return rc;
    if (json_array_size(arr) > 10000)
        return kiln_err_set(err, KILN_EINVAL, "too many tags (at most 10000)");
    *out = kiln_arena_calloc(req->arena, json_array_size(arr) + 1, sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, item)
    {
        const char *k, *v;
        if (!json_is_object(item))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter 'tags': expected "
                                "objects with 'key' and 'value'");
        rc = kiln_json_get_str(item, "key", KILN_JSON_REQUIRED, &k, err);
        if (rc == KILN_OK)
            rc = kiln_json_get_str(item, "value", KILN_JSON_OPTIONAL, &v, err);
        if (rc != KILN_OK)
            return rc;
        (*out)[*n].key = k;
        (*out)[*n].value = v != NULL ? v : "";
        (*n)++;
    }
    return KILN_OK;
}

int kiln_regapi_strings(struct kiln_http_req *req, const json_t *doc, const char *field,
                        const char ***out, size_t *n, struct kiln_err *err)
{
    json_t *arr, *item;
    size_t i;
    int rc = kiln_json_get_array(doc, field, KILN_JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc != KILN_OK || arr == NULL)
        return rc;
    *out = kiln_arena_calloc(req->arena, json_array_size(arr) + 1, sizeof(**out));
    if (*out == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s': expected strings", field);
        (*out)[(*n)++] = json_string_value(item);
    }
    return KILN_OK;
}

const char *kiln_regapi_user(struct kiln_http_req *req, const json_t *doc)
{
    const char *auth = kiln_http_header(req, "Authorization");
    const char *user;
    if (auth != NULL && kiln_cstr_has_prefix(auth, "Basic ")) {
        struct kiln_buf b;
        const char *out = NULL;
        kiln_buf_init(&b, 4096);
        if (kiln_base64_decode(auth + 6, strlen(auth + 6), &b) == KILN_OK &&
            memchr(b.buf, '\0', b.len) == NULL) {
            char *colon = strchr(b.buf, ':');
            size_t len = colon != NULL ? (size_t)(colon - b.buf) : b.len;
            if (len > 0)
                out = kiln_arena_strndup(req->arena, b.buf, len);
        }
        kiln_buf_release(&b);
        if (out != NULL)
            return out;
    }
    user = doc != NULL ? json_string_value(json_object_get(doc, "user")) : NULL;
    if (user == NULL)
        user = kiln_http_header(req, "X-Kiln-User");
    if (user == NULL || strlen(user) > 256)
        return "";
    {
        char *copy = kiln_arena_strdup(req->arena, user);
        return copy != NULL ? copy : "";
    }
}

int kiln_api_registry_routes(struct kiln_router *r)
{
    int rc = kiln_api_mlflow_registry_model_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_mlflow_registry_version_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_kiln_registry_model_routes(r);
    if (rc == KILN_OK)
        rc = kiln_api_kiln_registry_event_routes(r);
    return rc;
}

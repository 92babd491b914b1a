/*
 * validate.c - MLflow's validation rules for keys and values (mlflow-api.md §7), UTF-8
 * character counting, view types, run statuses and page tokens.
 *
 * Lengths are counted in characters, as Python's len() counts them in MLflow: a 6000-character
 * param value may be up to 24000 bytes of UTF-8. Truncation keeps whole characters.
 *
 * All functions are pure (thread-safe) except the arena-allocating token encoder.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "tracking/tracking_int.h"

static const char bad_chars_msg[] =
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces "
    "( ), colon(:) and slashes (/)";

size_t kiln_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

size_t kiln_utf8_prefix(const char *s, size_t len, size_t max_chars)
{
    size_t chars = 0, i;
    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (chars == max_chars)
                return i;
            chars++;
        }
    }
    return len;
}

static int key_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ' ' || c == ':' || c == '/' || c >= 0x80;
}

/*
 * posixpath.normpath(k) == k, plus MLflow's extra refusals ("." alone, a leading "..", a
 * leading "/"): every '/'-separated segment is non-empty and neither "." nor "..".
 */
static int key_is_normal_path(const char *k, size_t len)
{
    size_t start = 0;
    if (len == 0 || k[0] == '/' || (len >= 2 && k[0] == '.' && k[1] == '.'))
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || k[i] == '/') {
            size_t seg = i - start;
            if (seg == 0 || (seg == 1 && k[start] == '.') ||
                (seg == 2 && k[start] == '.' && k[start + 1] == '.'))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

int kiln_validate_key(const char *what, const char *path, const char *key, struct kiln_err *err)
{
    size_t len;
    if (key == NULL || *key == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'", path);
    len = strlen(key);
    for (size_t i = 0; i < len; i++)
        if (!key_char_ok((unsigned char)key[i]))
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value \"%.100s\" for parameter '%s' supplied: %s", key,
                                path, bad_chars_msg);
    if (kiln_utf8_chars(key, len) > KILN_KEY_MAX)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s name '%.60s...' had length %zu, which exceeded length limit of "
                            "%d (parameter '%s')",
                            what, key, kiln_utf8_chars(key, len), KILN_KEY_MAX, path);
    if (!key_is_normal_path(key, len))
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value \"%.100s\" for parameter '%s' supplied: Names may be "
                            "treated as files in certain cases, and must not resolve to other "
                            "names when treated as such",
                            key, path);
    return KILN_OK;
}

int trk_check_value(const char *what, const char *path, const char *value, size_t limit,
                    int truncate, size_t *bytes, struct kiln_err *err)
{
    size_t len = value != NULL ? strlen(value) : 0;
    *bytes = len;
    if (len <= limit)
        return KILN_OK; /* never more characters than bytes */
    if (kiln_utf8_chars(value, len) <= limit)
        return KILN_OK;
    if (truncate) {
        *bytes = kiln_utf8_prefix(value, len, limit);
        return KILN_OK;
    }
    return kiln_err_set(err, KILN_EINVAL,
                        "%s '%.40s...' had length %zu, which exceeded length limit of %zu "
                        "(parameter '%s')",
                        what, value, kiln_utf8_chars(value, len), limit, path);
}

void *trk_grow(struct kiln_arena *arena, void *arr, size_t n, size_t *cap, size_t elem)
{
    void *na;
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 8;
    na = kiln_arena_alloc(arena, *cap * elem);
    if (na != NULL && n > 0)
        memcpy(na, arr, n * elem);
    return na;
}

int kiln_view_type_parse(const char *s, const char *field, enum kiln_view_type *out,
                         struct kiln_err *err)
{
    static const struct {
        const char *name, *num;
        enum kiln_view_type v;
    } views[] = {
        { "ACTIVE_ONLY", "1", KILN_VIEW_ACTIVE_ONLY },
        { "DELETED_ONLY", "2", KILN_VIEW_DELETED_ONLY },
        { "ALL", "3", KILN_VIEW_ALL },
    };
    for (size_t i = 0; s != NULL && i < KILN_ARRAY_LEN(views); i++) {
        if (kiln_cstr_ieq(s, views[i].name) || strcmp(s, views[i].num) == 0) {
            *out = views[i].v;
            return KILN_OK;
        }
    }
    return kiln_err_set(err, KILN_EINVAL,
                        "Invalid value '%.64s' for parameter '%s': expected ACTIVE_ONLY, "
                        "DELETED_ONLY or ALL",
                        s != NULL ? s : "", field);
}

const char *kiln_run_status_canonical(const char *s)
{
    static const char *const names[] = { "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED" };
    static const char *const nums[] = { "1", "2", "3", "4", "5" };
    for (size_t i = 0; s != NULL && i < KILN_ARRAY_LEN(names); i++)
        if (kiln_cstr_ieq(s, names[i]) || strcmp(s, nums[i]) == 0)
            return names[i];
    return NULL;
}

int kiln_page_token_decode(const char *token, int64_t *offset, struct kiln_err *err)
{
    struct kiln_buf b;
    json_t *doc = NULL, *v;
    int rc;

    *offset = 0;
    if (token == NULL || *token == '\0')
        return KILN_OK;
    kiln_buf_init(&b, 256);
    rc = strlen(token) > 200 ? KILN_EINVAL : kiln_base64_decode(token, strlen(token), &b);
    if (rc == KILN_OK)
        rc = kiln_json_parse_object(b.buf, b.len, 0, &doc, NULL);
    if (rc == KILN_OK) {
        v = json_object_get(doc, "offset");
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            *offset = (int64_t)json_integer_value(v);
        else
            rc = KILN_EINVAL;
    }
    json_decref(doc);
    kiln_buf_release(&b);
    if (rc == KILN_ENOMEM)
        return kiln_err_set(err, rc, "out of memory decoding the page token");
    if (rc != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "Invalid page token '%.64s'", token);
    return KILN_OK;
}

const char *kiln_page_token_encode(struct kiln_arena *arena, int64_t offset)
{
    char json[48];
    struct kiln_buf b;
    const char *out = NULL;
    int n = snprintf(json, sizeof(json), "{\"offset\": %lld}", (long long)offset);
    kiln_buf_init(&b, 128);
    if (kiln_base64_encode(json, (size_t)n, &b) == KILN_OK)
        out = kiln_arena_strndup(arena, b.buf, b.len);
    kiln_buf_release(&b);
    return out;
}

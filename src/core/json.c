/*
 * json.c - jansson-based request parsing with MLflow-style validation, and a streaming writer.
 */
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

/*
 * jansson 2.14 reports a failed allocation inconsistently: sometimes as out of memory,
 * sometimes with position -1, sometimes as a syntax error at the token it was copying. A
 * real syntax error is deterministic, so a failure is parsed once more: a different outcome
 * means memory ran out (and a success is simply used).
 */
static int is_oom(const json_error_t *je)
{
    return json_error_code(je) == json_error_out_of_memory || je->line < 0;
}

static int parse(const char *data, size_t len, size_t flags, json_t **out, struct kiln_err *err)
{
    json_error_t je, je2;
    json_t *v;

    /* jansson leaves the error code byte unset when it fails before reporting anything. */
    memset(&je, 0, sizeof(je));
    memset(&je2, 0, sizeof(je2));
    v = json_loadb(data, len, flags, &je);
    if (v == NULL && !is_oom(&je)) {
        v = json_loadb(data, len, flags, &je2);
        if (v == NULL &&
            (is_oom(&je2) || je2.position != je.position || strcmp(je2.text, je.text) != 0)) {
            je = je2;
            je.line = -1;
        }
    }
    if (v == NULL && is_oom(&je))
        return kiln_err_set(err, KILN_ENOMEM, "out of memory parsing JSON");
    if (v == NULL) {
        return kiln_err_set(err, KILN_EPARSE, "malformed JSON at line %d, column %d: %s", je.line,
                            je.column, je.text);
    }
    *out = v;
    return KILN_OK;
}

int kiln_json_parse_any(const char *data, size_t len, json_t **out, struct kiln_err *err)
{
    return parse(data, len, JSON_DECODE_ANY, out, err);
}

int kiln_json_parse_object(const char *data, size_t len, int empty_is_object, json_t **out,
                           struct kiln_err *err)
{
    json_t *v = NULL;
    int rc;
    size_t i = 0;

    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
        i++;
    if (i == len && empty_is_object) {
        v = json_object();
        if (v == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory parsing JSON");
        *out = v;
        return KILN_OK;
    }
    rc = parse(data, len, JSON_DECODE_ANY, &v, err);
    if (rc != KILN_OK)
        return rc;
    if (json_is_string(v)) {
        /* An old client double-encoded the body: the string holds the JSON object. */
        json_t *inner = NULL;
        rc = parse(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, &inner, err);
        json_decref(v);
        if (rc != KILN_OK)
            return rc;
        v = inner;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return kiln_err_set(err, KILN_EINVAL, "request body must be a JSON object");
    }
    *out = v;
    return KILN_OK;
}

static int missing(struct kiln_err *err, const char *field)
{
    return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter '%s'", field);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int wrong_type(struct kiln_err *err, const char *field, const char *want, const json_t *v)
{
    return kiln_err_set(err, KILN_EINVAL, "Invalid value for parameter '%s': expected %s, got %s",
                        field, want, type_name(v));
}

int kiln_json_get_str(const json_t *obj, const char *field, int required, const char **out,
                      struct kiln_err *err)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return required ? missing(err, field) : KILN_OK;
    if (!json_is_string(v))
        return wrong_type(err, field, "a string", v);
    if (required && json_string_length(v) == 0)
        return missing(err, field);
    *out = json_string_value(v);
    return KILN_OK;
}

int kiln_json_get_int64(const json_t *obj, const char *field, int required, int64_t *out,
                        int *present, struct kiln_err *err)
{
    json_t *v = json_object_get(obj, field);
    if (present != NULL)
        *present = 0;
    if (v == NULL || json_is_null(v))
        return required ? missing(err, field) : KILN_OK;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d == floor(d)) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s': expected an integer", field);
        *out = (int64_t)d;
    } else if (json_is_string(v)) {
        if (json_string_length(v) == 0 && required)
            return missing(err, field);
        if (kiln_parse_int64(json_string_value(v), json_string_length(v), out) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s': '%.64s' is not an integer",
                                field, json_string_value(v));
    } else {
        return wrong_type(err, field, "an integer", v);
    }
    if (present != NULL)
        *present = 1;
    return KILN_OK;
}

int kiln_json_get_double(const json_t *obj, const char *field, int required, double *out,
                         int *present, struct kiln_err *err)
{
    json_t *v = json_object_get(obj, field);
    if (present != NULL)
        *present = 0;
    if (v == NULL || json_is_null(v))
        return required ? missing(err, field) : KILN_OK;
    if (json_is_number(v)) {
        *out = json_number_value(v);
    } else if (json_is_string(v)) {
        if (kiln_parse_double(json_string_value(v), json_string_length(v), out) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s': '%.64s' is not a number", field,
                                json_string_value(v));
    } else {
        return wrong_type(err, field, "a number", v);
    }
    if (present != NULL)
        *present = 1;
    return KILN_OK;
}

int kiln_json_get_bool(const json_t *obj, const char *field, int required, int *out, int *present,
                       struct kiln_err *err)
{
    json_t *v = json_object_get(obj, field);
    if (present != NULL)
        *present = 0;
    if (v == NULL || json_is_null(v))
        return required ? missing(err, field) : KILN_OK;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
    } else if (json_is_string(v)) {
        if (kiln_parse_bool(json_string_value(v), json_string_length(v), out) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for parameter '%s': expected true or false", field);
    } else {
        return wrong_type(err, field, "a boolean", v);
    }
    if (present != NULL)
        *present = 1;
    return KILN_OK;
}

int kiln_json_get_array(const json_t *obj, const char *field, int required, json_t **out,
                        struct kiln_err *err)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return required ? missing(err, field) : KILN_OK;
    if (!json_is_array(v))
        return wrong_type(err, field, "an array", v);
    *out = v;
    return KILN_OK;
}

int kiln_json_get_object(const json_t *obj, const char *field, int required, json_t **out,
                         struct kiln_err *err)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return required ? missing(err, field) : KILN_OK;
    if (!json_is_object(v))
        return wrong_type(err, field, "an object", v);
    *out = v;
    return KILN_OK;
}

/* ---- writer ---------------------------------------------------------------------------- */

void kiln_format_double(double v, char *out, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        char *end;
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, &end) == v)
            return;
    }
}

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

int kiln_json_quote(struct kiln_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    int rc = kiln_buf_putc(out, '"');

    while (rc == KILN_OK && i < len) {
        unsigned char c = p[i];
        size_t n;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        rc = kiln_buf_append(out, s + i - run, run);
        run = 0;
        if (rc != KILN_OK)
            break;
        if (c >= 0x80) {
            n = utf8_len(p + i, len - i);
            if (n == 0) {
                rc = kiln_buf_puts(out, "\\ufffd"); /* invalid byte: replacement char */
                i++;
            } else {
                rc = kiln_buf_append(out, s + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            rc = kiln_buf_puts(out, "\\\"");
            break;
        case '\\':
            rc = kiln_buf_puts(out, "\\\\");
            break;
        case '\n':
            rc = kiln_buf_puts(out, "\\n");
            break;
        case '\r':
            rc = kiln_buf_puts(out, "\\r");
            break;
        case '\t':
            rc = kiln_buf_puts(out, "\\t");
            break;
        default: {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            rc = kiln_buf_append(out, e, 6);
        }
        }
        i++;
    }
    if (rc == KILN_OK)
        rc = kiln_buf_append(out, s + i - run, run);
    if (rc == KILN_OK)
        rc = kiln_buf_putc(out, '"');
    return rc;
}

void kiln_jsonw_init(struct kiln_jsonw *w, struct kiln_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

/* Emits the separator due before a value at the current level. */
static int before_value(struct kiln_jsonw *w)
{
    if (w->rc != KILN_OK)
        return 0;
    if (w->after_key) {
        w->after_key = 0;
        return 1;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            w->rc = kiln_buf_putc(w->out, ',');
        w->need_comma[w->depth - 1] = 1;
    }
    return w->rc == KILN_OK;
}

static void open_level(struct kiln_jsonw *w, char c)
{
    if (!before_value(w))
        return;
    if (w->depth >= KILN_JSONW_MAX_DEPTH) {
        w->rc = KILN_EINVAL;
        return;
    }
    w->rc = kiln_buf_putc(w->out, c);
    w->need_comma[w->depth++] = 0;
}

static void close_level(struct kiln_jsonw *w, char c)
{
    if (w->rc != KILN_OK)
        return;
    if (w->depth == 0 || w->after_key) {
        w->rc = KILN_EINVAL;
        return;
    }
    w->depth--;
    w->rc = kiln_buf_putc(w->out, c);
}

void kiln_jsonw_obj_begin(struct kiln_jsonw *w)
{
    open_level(w, '{');
}

void kiln_jsonw_obj_end(struct kiln_jsonw *w)
{
    close_level(w, '}');
}

void kiln_jsonw_arr_begin(struct kiln_jsonw *w)
{
    open_level(w, '[');
}

void kiln_jsonw_arr_end(struct kiln_jsonw *w)
{
    close_level(w, ']');
}

void kiln_jsonw_key(struct kiln_jsonw *w, const char *key)
{
    if (!before_value(w))
        return;
    w->rc = kiln_json_quote(w->out, key, strlen(key));
    if (w->rc == KILN_OK)
        w->rc = kiln_buf_putc(w->out, ':');
    w->after_key = 1;
}

void kiln_jsonw_strn(struct kiln_jsonw *w, const char *s, size_t len)
{
    if (before_value(w))
        w->rc = kiln_json_quote(w->out, s, len);
}

void kiln_jsonw_str(struct kiln_jsonw *w, const char *s)
{
    if (s == NULL)
        kiln_jsonw_null(w);
    else
        kiln_jsonw_strn(w, s, strlen(s));
}

void kiln_jsonw_int(struct kiln_jsonw *w, int64_t v)
{
    if (before_value(w))
        w->rc = kiln_buf_printf(w->out, "%lld", (long long)v);
}

void kiln_jsonw_double(struct kiln_jsonw *w, double v)
{
    char tmp[40];
    if (!before_value(w))
        return;
    if (isnan(v)) {
        w->rc = kiln_buf_puts(w->out, "\"NaN\"");
    } else if (isinf(v)) {
        w->rc = kiln_buf_puts(w->out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
        kiln_format_double(v, tmp, sizeof(tmp));
        w->rc = kiln_buf_puts(w->out, tmp);
    }
}

void kiln_jsonw_double_or_null(struct kiln_jsonw *w, double v)
{
    if (isfinite(v))
        kiln_jsonw_double(w, v);
    else
        kiln_jsonw_null(w);
}

void kiln_jsonw_bool(struct kiln_jsonw *w, int v)
{
    if (before_value(w))
        w->rc = kiln_buf_puts(w->out, v ? "true" : "false");
}

void kiln_jsonw_null(struct kiln_jsonw *w)
{
    if (before_value(w))
        w->rc = kiln_buf_puts(w->out, "null");
}

void kiln_jsonw_raw(struct kiln_jsonw *w, const char *json, size_t len)
{
    if (before_value(w))
        w->rc = kiln_buf_append(w->out, json, len);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return kiln_buf_append(data, buffer, size) == KILN_OK ? 0 : -1;
}

void kiln_jsonw_json(struct kiln_jsonw *w, const json_t *v)
{
    if (!before_value(w))
        return;
    if (json_dump_callback(v, dump_cb, w->out, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        w->rc = KILN_ENOMEM;
}

void kiln_jsonw_kv_str(struct kiln_jsonw *w, const char *key, const char *s)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_str(w, s);
}

void kiln_jsonw_kv_int(struct kiln_jsonw *w, const char *key, int64_t v)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_int(w, v);
}

void kiln_jsonw_kv_double(struct kiln_jsonw *w, const char *key, double v)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_double(w, v);
}

void kiln_jsonw_kv_bool(struct kiln_jsonw *w, const char *key, int v)
{
    kiln_jsonw_key(w, key);
    kiln_jsonw_bool(w, v);
}

int kiln_jsonw_finish(struct kiln_jsonw *w)
{
    if (w->rc == KILN_OK && (w->depth != 0 || w->after_key))
        w->rc = KILN_EINVAL;
    return w->rc;
}

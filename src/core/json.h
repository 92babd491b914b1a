/*
 * json.h - JSON in and out.
 *
 * Reading uses jansson. kiln_json_parse returns a tree the caller owns (one json_decref site
 * per tree, STYLE.md rule 13); the getters borrow from it and validate like MLflow's proto
 * parser: a required field that is absent, null or an empty string is "missing", and a value
 * of the wrong type names the field. Messages follow MLflow's wording where clients match it.
 *
 * Writing uses kiln_jsonw, a small streaming writer into a kiln_buf with a sticky error: call
 * the emit functions freely and check kiln_jsonw_finish once. Doubles are written in the
 * shortest form that round-trips; NaN and infinities are written as the strings "NaN",
 * "Infinity", "-Infinity", as MLflow does.
 *
 * Thread-safety: none needed; every call works on caller-owned data.
 */
#ifndef KILN_CORE_JSON_H
#define KILN_CORE_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/*
 * Parses `len` bytes. An empty body parses as {} when `empty_is_object`. A top-level JSON
 * string is decoded once more (old MLflow clients double-encode bodies). The result must be
 * an object. KILN_EPARSE with "line L, column C" on syntax errors, KILN_EINVAL when not an
 * object. OUT: *out owned by the caller (json_decref).
 */
int kiln_json_parse_object(const char *data, size_t len, int empty_is_object,
                           json_t **out /* OUT */, struct kiln_err *err);
/* Any JSON value (arrays, numbers, ...); KILN_EPARSE with line and column. */
int kiln_json_parse_any(const char *data, size_t len, json_t **out /* OUT */, struct kiln_err *err);

enum { KILN_JSON_OPTIONAL = 0, KILN_JSON_REQUIRED = 1 };

/*
 * String field. Absent or null: *out = NULL and KILN_OK when optional. Required and absent,
 * null or "": KILN_EINVAL "Missing value for required parameter 'field'". Non-string:
 * KILN_EINVAL. *out borrows from obj.
 */
int kiln_json_get_str(const json_t *obj, const char *field, int required,
                      const char **out /* OUT */, struct kiln_err *err);
/*
 * int64 field given as an integer, an integral real, or a decimal string (proto-JSON). Sets
 * *present (optional, may be NULL) to whether it was given; *out is untouched when absent.
 */
int kiln_json_get_int64(const json_t *obj, const char *field, int required, int64_t *out /* OUT */,
                        int *present /* OUT */, struct kiln_err *err);
/*
 * double field given as a number, a numeric string, or "NaN"/"Infinity"/"-Infinity".
 * Booleans are rejected.
 */
int kiln_json_get_double(const json_t *obj, const char *field, int required, double *out /* OUT */,
                         int *present /* OUT */, struct kiln_err *err);
/* bool field given as true/false or the strings "true"/"false" (any case). */
int kiln_json_get_bool(const json_t *obj, const char *field, int required, int *out /* OUT */,
                       int *present /* OUT */, struct kiln_err *err);
/* Array field: absent or null gives *out = NULL; any other non-array is KILN_EINVAL. */
int kiln_json_get_array(const json_t *obj, const char *field, int required, json_t **out /* OUT */,
                        struct kiln_err *err);
/* Object field, same rules as kiln_json_get_array. */
int kiln_json_get_object(const json_t *obj, const char *field, int required, json_t **out /* OUT */,
                         struct kiln_err *err);

/* Streaming writer. */
#define KILN_JSONW_MAX_DEPTH 64

struct kiln_jsonw {
    struct kiln_buf *out;
    int rc; /* first error; KILN_OK while all went well */
    int depth;
    unsigned char need_comma[KILN_JSONW_MAX_DEPTH];
    unsigned char after_key;
};

void kiln_jsonw_init(struct kiln_jsonw *w, struct kiln_buf *out);
void kiln_jsonw_obj_begin(struct kiln_jsonw *w);
void kiln_jsonw_obj_end(struct kiln_jsonw *w);
void kiln_jsonw_arr_begin(struct kiln_jsonw *w);
void kiln_jsonw_arr_end(struct kiln_jsonw *w);
void kiln_jsonw_key(struct kiln_jsonw *w, const char *key);
void kiln_jsonw_str(struct kiln_jsonw *w, const char *s);
void kiln_jsonw_strn(struct kiln_jsonw *w, const char *s, size_t len);
void kiln_jsonw_int(struct kiln_jsonw *w, int64_t v);
void kiln_jsonw_double(struct kiln_jsonw *w, double v);
/* Like kiln_jsonw_double but finite values only; non-finite become null (standard JSON). */
void kiln_jsonw_double_or_null(struct kiln_jsonw *w, double v);
void kiln_jsonw_bool(struct kiln_jsonw *w, int v);
void kiln_jsonw_null(struct kiln_jsonw *w);
/* Inserts already-serialised JSON text as one value. */
void kiln_jsonw_raw(struct kiln_jsonw *w, const char *json, size_t len);
/* Writes a jansson value (compact). */
void kiln_jsonw_json(struct kiln_jsonw *w, const json_t *v);

/* key + value shorthands */
void kiln_jsonw_kv_str(struct kiln_jsonw *w, const char *key, const char *s);
void kiln_jsonw_kv_int(struct kiln_jsonw *w, const char *key, int64_t v);
void kiln_jsonw_kv_double(struct kiln_jsonw *w, const char *key, double v);
void kiln_jsonw_kv_bool(struct kiln_jsonw *w, const char *key, int v);

/* KILN_OK, or the first error (KILN_ETOOBIG/KILN_ENOMEM, KILN_EINVAL for misuse). */
int kiln_jsonw_finish(struct kiln_jsonw *w);

/* Shortest "%.{15,16,17}g" form of a finite double that parses back to the same value. */
void kiln_format_double(double v, char *out, size_t size);

/* Appends s as a quoted, escaped JSON string to out. */
int kiln_json_quote(struct kiln_buf *out, const char *s, size_t len);

#endif

/*
 * jscan_int.h - a small pull scanner over JSON text, for the request parsers of the data plane.
 *
 * Scoring requests are a few shapes of nested arrays and objects around numbers; building a
 * jansson tree for them costs one allocation per value. The scanner instead walks the text in
 * place: callers ask for "the next key of this object", "the next element of this array", a
 * number or a string, and write values straight into their row matrix. Nothing is allocated
 * except strings that contain escapes (decoded into the request arena).
 *
 * Strict JSON (RFC 8259) plus what Python's json module accepts on input: the bare literals
 * NaN, Infinity and -Infinity. Strings must be valid UTF-8 without raw control characters;
 * nesting is limited to JS_MAX_DEPTH. Errors are KILN_EPARSE "malformed JSON at line L,
 * column C: ..." (column in bytes, 1-based).
 *
 * A scanner position is a plain pointer (`s->p`): callers may save it, skip a value, and come
 * back to it later (the parsers do so when a key they need comes after the data it governs).
 *
 * Internal to src/serve (tests include it too). Not thread-safe: one scanner, one thread.
 */
#ifndef KILN_SERVE_JSCAN_INT_H
#define KILN_SERVE_JSCAN_INT_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

#define JS_MAX_DEPTH 64

struct js {
    const char *base; /* start of the text (for line/column in errors) */
    const char *p;    /* current position */
    const char *end;  /* one past the last byte */
    struct kiln_arena *arena;
    struct kiln_err *err;
};

/* Starts scanning len bytes at text. The text must outlive every view the scanner returns. */
void js_init(struct js *s, const char *text, size_t len, struct kiln_arena *arena,
             struct kiln_err *err);

/* Records KILN_EPARSE "malformed JSON at line L, column C: what" for the current position. */
int js_fail(struct js *s, const char *what);

/*
 * The first byte of the next value after whitespace ('{', '[', '"', 't', 'f', 'n', a digit,
 * '-', 'N', 'I'), or 0 at the end of the text. Does not consume anything but whitespace.
 */
int js_peek(struct js *s);

/* Consumes `c` after whitespace; KILN_EPARSE naming what was expected otherwise. */
int js_expect(struct js *s, char c);

/*
 * Object and array iteration. After js_expect(s, '{'), call js_obj_next until it returns 0:
 * each 1 leaves the key in *key and the scanner at its value, which the caller must consume
 * (parse or js_skip). `*first` starts at 1. Negative returns are errors (KILN_EPARSE).
 * js_arr_next works the same way for arrays (after js_expect(s, '[')), with no key.
 */
int js_obj_next(struct js *s, int *first, struct kiln_str *key /* OUT */);
int js_arr_next(struct js *s, int *first);

/*
 * A string value: *out views the text when the string has no escapes, else the decoded copy
 * in the arena (KILN_ENOMEM). KILN_EPARSE when the next value is not a valid string.
 */
int js_string(struct js *s, struct kiln_str *out /* OUT */);

/*
 * A number: JSON's grammar, or NaN, Infinity, -Infinity. Decimal text with up to 19
 * significant digits and a small exponent is converted exactly without strtod (Clinger's
 * fast path); anything else goes through strtod. Overflow gives +-infinity, as Python does.
 */
int js_number(struct js *s, double *out /* OUT */);

/* true, false or null: consumes the literal and sets *out to 1 or 0 (booleans). */
int js_literal(struct js *s, const char *lit);

/* Skips one value of any type (checking its syntax). */
int js_skip(struct js *s);

/* KILN_OK when only whitespace remains. */
int js_finish(struct js *s);

/* Line and column (1-based) of position p in the text. */
void js_line_col(const struct js *s, const char *p, size_t *line /* OUT */, size_t *col /* OUT */);

#endif

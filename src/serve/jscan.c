/*
 * jscan.c - the JSON pull scanner behind the serving request parsers (see jscan_int.h).
 *
 * Invariants: s->p never passes s->end; every function that fails leaves a KILN_EPARSE (or
 * KILN_ENOMEM) message in s->err and returns the code, and the caller gives up on the text.
 * Numbers: Clinger's fast path is exact because both the mantissa (< 2^53) and the power of
 * ten (<= 1e22) are exact doubles, so one IEEE multiplication or division rounds correctly.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/jscan_int.h"

static const double pow10_exact[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

void js_init(struct js *s, const char *text, size_t len, struct kiln_arena *arena,
             struct kiln_err *err)
{
    s->base = text;
    s->p = text;
    s->end = text + len;
    s->arena = arena;
    s->err = err;
}

void js_line_col(const struct js *s, const char *p, size_t *line, size_t *col)
{
    const char *q = s->base, *bol = s->base;
    size_t l = 1;
    if (p > s->end)
        p = s->end;
    for (; q < p; q++)
        if (*q == '\n') {
            l++;
            bol = q + 1;
        }
    *line = l;
    *col = (size_t)(p - bol) + 1;
}

int js_fail(struct js *s, const char *what)
{
    size_t line, col;
    js_line_col(s, s->p, &line, &col);
    if (s->p >= s->end)
        return kiln_err_set(s->err, KILN_EPARSE,
                            "malformed JSON at line %zu, column %zu: %s (the text ends here)", line,
                            col, what);
    return kiln_err_set(s->err, KILN_EPARSE, "malformed JSON at line %zu, column %zu: %s", line,
                        col, what);
}

static void skip_ws(struct js *s)
{
    const char *p = s->p;
    while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    s->p = p;
}

int js_peek(struct js *s)
{
    skip_ws(s);
    return s->p < s->end ? (unsigned char)*s->p : 0;
}

int js_expect(struct js *s, char c)
{
    char what[32];
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return KILN_OK;
    }
    snprintf(what, sizeof(what), "expected '%c'", c);
    return js_fail(s, what);
}

int js_obj_next(struct js *s, int *first, struct kiln_str *key)
{
    int rc;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    if (!*first) {
        if (s->p >= s->end || *s->p != ',')
            return js_fail(s, "expected ',' or '}'");
        s->p++;
        skip_ws(s);
    }
    *first = 0;
    if (s->p >= s->end || *s->p != '"')
        return js_fail(s, "expected a string key");
    rc = js_string(s, key);
    if (rc == KILN_OK)
        rc = js_expect(s, ':');
    return rc == KILN_OK ? 1 : rc;
}

int js_arr_next(struct js *s, int *first)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    if (!*first) {
        if (s->p >= s->end || *s->p != ',')
            return js_fail(s, "expected ',' or ']'");
        s->p++;
        skip_ws(s);
    }
    *first = 0;
    if (s->p >= s->end)
        return js_fail(s, "expected a value");
    return 1;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/*
 * Reads a \u escape at p (pointing at the 'u'), possibly a surrogate pair; *cp gets the code
 * point and *used the bytes consumed after the backslash. -1 when malformed.
 */
static int unicode_escape(const char *p, const char *end, unsigned *cp, size_t *used)
{
    unsigned hi, lo;
    if (end - p < 5 || hex4(p + 1, &hi) != 0)
        return -1;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return -1;
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        *used = 5;
        return 0;
    }
    if (end - p < 11 || p[5] != '\\' || p[6] != 'u' || hex4(p + 7, &lo) != 0 || lo < 0xdc00 ||
        lo > 0xdfff)
        return -1;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    *used = 11;
    return 0;
}

/* Validates the string at s->p (after the opening quote); sets *close and *escaped. */
static int scan_string(struct js *s, const char **close, int *escaped)
{
    const char *p = s->p;
    *escaped = 0;
    while (p < s->end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *close = p;
            return KILN_OK;
        }
        if (c == '\\') {
            unsigned cp;
            size_t used;
            *escaped = 1;
            if (p + 1 >= s->end)
                break;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u':
                if (unicode_escape(p + 1, s->end, &cp, &used) != 0) {
                    s->p = p;
                    return js_fail(s, "invalid \\u escape in a string");
                }
                p += 1 + used;
                continue;
            default:
                s->p = p;
                return js_fail(s, "invalid escape in a string");
            }
        }
        if (c < 0x20) {
            s->p = p;
            return js_fail(s, "control character in a string");
        }
        if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)p, (size_t)(s->end - p));
            if (n == 0) {
                s->p = p;
                return js_fail(s, "invalid UTF-8 in a string");
            }
            p += n;
            continue;
        }
        p++;
    }
    s->p = s->end;
    return js_fail(s, "unterminated string");
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the already validated escaped text [p, close) into out; returns its length. */
static size_t decode(const char *p, const char *close, char *out)
{
    size_t n = 0;
    while (p < close) {
        unsigned cp;
        size_t used;
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        switch (p[1]) {
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'u':
            (void)unicode_escape(p + 1, close, &cp, &used);
            n += put_utf8(out + n, cp);
            p += 1 + used;
            continue;
        default: /* '"', '\\', '/' */
            out[n++] = p[1];
            break;
        }
        p += 2;
    }
    return n;
}

int js_string(struct js *s, struct kiln_str *out)
{
    const char *close;
    int escaped, rc;
    char *buf;

    skip_ws(s);
    if (s->p >= s->end || *s->p != '"')
        return js_fail(s, "expected a string");
    s->p++;
    rc = scan_string(s, &close, &escaped);
    if (rc != KILN_OK)
        return rc;
    if (!escaped) {
        out->p = s->p;
        out->len = (size_t)(close - s->p);
        s->p = close + 1;
        return KILN_OK;
    }
    buf = kiln_arena_alloc(s->arena, (size_t)(close - s->p) + 1);
    if (buf == NULL)
        return kiln_err_set(s->err, KILN_ENOMEM, "out of memory decoding a string");
    out->len = decode(s->p, close, buf);
    buf[out->len] = '\0';
    out->p = buf;
    s->p = close + 1;
    return KILN_OK;
}

static int match_word(struct js *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

/* The slow path: strtod over a NUL-terminated copy of [start, end). */
static int slow_number(struct js *s, const char *start, const char *end, double *out)
{
    char small[128];
    size_t n = (size_t)(end - start);
    char *copy = small;
    if (n >= sizeof(small)) {
        copy = kiln_arena_alloc(s->arena, n + 1);
        if (copy == NULL)
            return kiln_err_set(s->err, KILN_ENOMEM, "out of memory parsing a number");
    }
    memcpy(copy, start, n);
    copy[n] = '\0';
    *out = strtod(copy, NULL);
    return KILN_OK;
}

int js_number(struct js *s, double *out)
{
    const char *start, *p, *end = s->end;
    uint64_t mant = 0;
    int ndig = 0, inexact = 0, neg = 0;
    long exp10 = 0, e = 0;
    double d;

    skip_ws(s);
    start = p = s->p;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && (*p == 'N' || *p == 'I')) {
        s->p = p;
        if (!neg && match_word(s, "NaN")) {
            *out = NAN;
            return KILN_OK;
        }
        if (match_word(s, "Infinity")) {
            *out = neg ? -INFINITY : INFINITY;
            return KILN_OK;
        }
        s->p = start;
        return js_fail(s, "expected a number");
    }
    if (p >= end || *p < '0' || *p > '9') {
        s->p = p;
        return js_fail(s, "expected a number");
    }
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (ndig < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                ndig++;
            } else {
                exp10++;
                inexact |= *p != '0';
            }
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            s->p = p;
            return js_fail(s, "expected a digit after '.'");
        }
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (ndig < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant != 0)
                    ndig++;
                exp10--;
            } else {
                inexact |= *p != '0';
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9') {
            s->p = p;
            return js_fail(s, "expected a digit in the exponent");
        }
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (e < 100000)
                e = e * 10 + (*p - '0');
        if (eneg)
            e = -e;
    }
    s->p = p;
    e += exp10;
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return KILN_OK;
    }
    if (inexact || mant > ((uint64_t)1 << 53) || e < -22 || e > 22)
        return slow_number(s, start, p, out);
    d = (double)mant;
    d = e < 0 ? d / pow10_exact[-e] : d * pow10_exact[e];
    *out = neg ? -d : d;
    return KILN_OK;
}

int js_literal(struct js *s, const char *lit)
{
    char what[32];
    skip_ws(s);
    if (match_word(s, lit))
        return KILN_OK;
    snprintf(what, sizeof(what), "expected '%s'", lit);
    return js_fail(s, what);
}

static int skip_value(struct js *s, int depth)
{
    int c = js_peek(s), first = 1, rc;
    struct kiln_str key;
    const char *close;
    int escaped;
    double d;

    if (depth >= JS_MAX_DEPTH)
        return js_fail(s, "nesting deeper than 64 levels");
    switch (c) {
    case '{':
        s->p++;
        while ((rc = js_obj_next(s, &first, &key)) == 1)
            if ((rc = skip_value(s, depth + 1)) != KILN_OK)
                return rc;
        return rc;
    case '[':
        s->p++;
        while ((rc = js_arr_next(s, &first)) == 1)
            if ((rc = skip_value(s, depth + 1)) != KILN_OK)
                return rc;
        return rc;
    case '"':
        s->p++;
        rc = scan_string(s, &close, &escaped);
        if (rc == KILN_OK)
            s->p = close + 1;
        return rc;
    case 't':
        return js_literal(s, "true");
    case 'f':
        return js_literal(s, "false");
    case 'n':
        return js_literal(s, "null");
    case 0:
        return js_fail(s, "expected a value");
    default:
        return js_number(s, &d);
    }
}

int js_skip(struct js *s)
{
    return skip_value(s, 0);
}

int js_finish(struct js *s)
{
    skip_ws(s);
    if (s->p != s->end)
        return js_fail(s, "unexpected text after the JSON value");
    return KILN_OK;
}

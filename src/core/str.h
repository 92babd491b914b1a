/*
 * str.h - string views and strict parsers.
 *
 * A `struct kiln_str` borrows `len` bytes at `p` (not necessarily NUL-terminated); it never
 * owns memory. Parsers take an explicit length, accept the whole input or fail, and write
 * their OUT parameter only on success. These replace atoi/strtol-style calls, which the lint
 * script bans because they accept trailing junk and hide overflow.
 *
 * All functions are pure and thread-safe.
 */
#ifndef KILN_CORE_STR_H
#define KILN_CORE_STR_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct kiln_str {
    const char *p;
    size_t len;
};

#define KILN_STR_LIT(lit) ((struct kiln_str){ (lit), sizeof(lit) - 1 })

struct kiln_str kiln_str_from(const char *s);
int kiln_str_eq(struct kiln_str a, struct kiln_str b);
int kiln_str_eq_cstr(struct kiln_str a, const char *s);
/* ASCII case-insensitive equality. */
int kiln_str_ieq_cstr(struct kiln_str a, const char *s);
int kiln_str_has_prefix(struct kiln_str s, const char *prefix);
/* Strips ASCII spaces and tabs from both ends. */
struct kiln_str kiln_str_trim(struct kiln_str s);
/* ASCII case-insensitive C-string equality / prefix test. */
int kiln_cstr_ieq(const char *a, const char *b);
int kiln_cstr_has_prefix(const char *s, const char *prefix);

/*
 * Decimal integer with optional sign, no spaces, no trailing bytes. KILN_EINVAL when s is not
 * one or does not fit.
 */
int kiln_parse_int64(const char *s, size_t len, int64_t *out /* OUT */);
/* Like kiln_parse_int64 but requires 0 <= value. */
int kiln_parse_uint64(const char *s, size_t len, uint64_t *out /* OUT */);
/*
 * Decimal or exponent floating-point number; also "NaN", "Infinity", "-Infinity", "inf" and
 * "-inf" (case-insensitive). No surrounding spaces. KILN_EINVAL otherwise.
 */
int kiln_parse_double(const char *s, size_t len, double *out /* OUT */);
/* "true"/"false" in any case. */
int kiln_parse_bool(const char *s, size_t len, int *out /* OUT */);

/* strlcpy: copies with truncation, always NUL-terminates (size > 0); returns strlen(src). */
size_t kiln_strlcpy(char *dst, const char *src, size_t size);

/* Lowercase hex of `n` bytes into `out`, which must hold 2n+1 bytes. */
void kiln_hex_encode(const unsigned char *data, size_t n, char *out);

/* Standard base64 (RFC 4648, with padding) appended to `out`. */
int kiln_base64_encode(const void *data, size_t n, struct kiln_buf *out);
/* Decodes standard or URL-safe base64 (padding optional). KILN_EINVAL on bad input. */
int kiln_base64_decode(const char *s, size_t len, struct kiln_buf *out);

/*
 * Percent-decodes a URL component into `out` ('+' stays '+' unless plus_is_space). Rejects
 * malformed escapes and decoded NUL bytes with KILN_EINVAL.
 */
int kiln_url_decode(const char *s, size_t len, int plus_is_space, struct kiln_buf *out);
/* Percent-encodes everything outside RFC 3986 unreserved characters (and '/' if keep_slash). */
int kiln_url_encode(const char *s, size_t len, int keep_slash, struct kiln_buf *out);

/*
 * SQL LIKE match: '%' any run, '_' one character, no escape character. Case-sensitive unless
 * `icase` (ASCII folding). Works on bytes.
 */
int kiln_like_match(const char *pattern, const char *s, int icase);

#endif

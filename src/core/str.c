/*
 * str.c - string views, strict number parsing, hex/base64/URL coding and LIKE matching.
 */
#include "core/str.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct kiln_str kiln_str_from(const char *s)
{
    struct kiln_str v = { s, s != NULL ? strlen(s) : 0 };
    return v;
}

int kiln_str_eq(struct kiln_str a, struct kiln_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int kiln_str_eq_cstr(struct kiln_str a, const char *s)
{
    return kiln_str_eq(a, kiln_str_from(s));
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

int kiln_str_ieq_cstr(struct kiln_str a, const char *s)
{
    size_t n = strlen(s);
    if (n != a.len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a.p[i]) != lower((unsigned char)s[i]))
            return 0;
    return 1;
}

int kiln_str_has_prefix(struct kiln_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.p, prefix, n) == 0;
}

struct kiln_str kiln_str_trim(struct kiln_str s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

int kiln_cstr_ieq(const char *a, const char *b)
{
    return kiln_str_ieq_cstr(kiln_str_from(a), b);
}

int kiln_cstr_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int kiln_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;

    if (len == 0)
        return KILN_EINVAL;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return KILN_EINVAL;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return KILN_EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return KILN_EINVAL;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return KILN_OK;
}

int kiln_parse_uint64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return KILN_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return KILN_EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return KILN_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return KILN_OK;
}

int kiln_parse_double(const char *s, size_t len, double *out)
{
    char tmp[128];
    char *end;
    double v;
    struct kiln_str v_str = { s, len };

    if (len == 0 || len >= sizeof(tmp))
        return KILN_EINVAL;
    if (kiln_str_ieq_cstr(v_str, "nan")) {
        *out = NAN;
        return KILN_OK;
    }
    if (kiln_str_ieq_cstr(v_str, "infinity") || kiln_str_ieq_cstr(v_str, "inf") ||
        kiln_str_ieq_cstr(v_str, "+infinity") || kiln_str_ieq_cstr(v_str, "+inf")) {
        *out = INFINITY;
        return KILN_OK;
    }
    if (kiln_str_ieq_cstr(v_str, "-infinity") || kiln_str_ieq_cstr(v_str, "-inf")) {
        *out = -INFINITY;
        return KILN_OK;
    }
    /* Only plain decimal syntax: strtod would also take hex floats and "nan(...)". */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return KILN_EINVAL;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    v = strtod(tmp, &end);
    if (end != tmp + len || end == tmp)
        return KILN_EINVAL;
    /* Overflow to +-HUGE_VAL is an error; underflow to a tiny value or 0 is accepted. */
    if (errno == ERANGE && isinf(v))
        return KILN_EINVAL;
    *out = v;
    return KILN_OK;
}

int kiln_parse_bool(const char *s, size_t len, int *out)
{
    struct kiln_str v = { s, len };
    if (kiln_str_ieq_cstr(v, "true")) {
        *out = 1;
        return KILN_OK;
    }
    if (kiln_str_ieq_cstr(v, "false")) {
        *out = 0;
        return KILN_OK;
    }
    return KILN_EINVAL;
}

size_t kiln_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size > 0) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

void kiln_hex_encode(const unsigned char *data, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[data[i] >> 4];
        out[2 * i + 1] = hex[data[i] & 15];
    }
    out[2 * n] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int kiln_base64_encode(const void *data, size_t n, struct kiln_buf *out)
{
    const unsigned char *p = data;
    char q[4];
    int rc = KILN_OK;

    for (size_t i = 0; i < n && rc == KILN_OK; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        q[0] = b64_alphabet[(v >> 18) & 63];
        q[1] = b64_alphabet[(v >> 12) & 63];
        q[2] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
        q[3] = left > 2 ? b64_alphabet[v & 63] : '=';
        rc = kiln_buf_append(out, q, 4);
    }
    return rc;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int kiln_base64_decode(const char *s, size_t len, struct kiln_buf *out)
{
    unsigned acc = 0;
    int bits = 0, rc;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return KILN_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return KILN_EINVAL;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            rc = kiln_buf_putc(out, (char)((acc >> bits) & 0xff));
            if (rc != KILN_OK)
                return rc;
        }
    }
    return KILN_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kiln_url_decode(const char *s, size_t len, int plus_is_space, struct kiln_buf *out)
{
    int rc = KILN_OK;
    for (size_t i = 0; i < len && rc == KILN_OK; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return KILN_EINVAL;
            hi = hex_digit(s[i + 1]);
            lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return KILN_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            return KILN_EINVAL;
        }
        rc = kiln_buf_putc(out, c);
    }
    return rc;
}

int kiln_url_encode(const char *s, size_t len, int keep_slash, struct kiln_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = KILN_OK;
    for (size_t i = 0; i < len && rc == KILN_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            rc = kiln_buf_putc(out, (char)c);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            rc = kiln_buf_append(out, e, 3);
        }
    }
    return rc;
}

int kiln_like_match(const char *pattern, const char *s, int icase)
{
    /* Iterative wildcard matching with one backtrack point for the last '%'. */
    const char *star = NULL, *star_s = NULL;
    while (*s != '\0') {
        if (*pattern == '%') {
            star = pattern++;
            star_s = s;
            continue;
        }
        if (*pattern != '\0' &&
            (*pattern == '_' || (icase ? lower((unsigned char)*pattern) == lower((unsigned char)*s)
                                       : *pattern == *s))) {
            pattern++;
            s++;
            continue;
        }
        if (star == NULL)
            return 0;
        pattern = star + 1;
        s = ++star_s;
    }
    while (*pattern == '%')
        pattern++;
    return *pattern == '\0';
}

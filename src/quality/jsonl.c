/*
 * jsonl.c - one JSON Lines record (a flat JSON object on one line) into cells (table.h).
 *
 * The line is validated as strict JSON (RFC 8259): strings with escapes and surrogate pairs,
 * the number grammar, literals, and nested arrays/objects up to 64 levels deep. Strings are
 * unescaped into the reader's scratch area (reserved at the line's length first, so cell
 * pointers stay valid); numbers, literals and nested values point into the line. Keys of the
 * first record define the columns; later records may omit keys but may not add or repeat
 * them. Errors give the line and the column of the offending byte.
 */
#include <string.h>

#include "core/mem.h"
#include "quality/table_int.h"

#define MAX_DEPTH 64

struct lp {
    struct kiln_table_reader *r;
    const char *d;
    size_t p, end; /* end of the line (exclusive, before '\n') */
    uint64_t line;
    size_t used; /* scratch bytes used */
};

static int fail(struct lp *s, const char *what)
{
    return kiln_table_fail_at(s->r, KILN_EPARSE, s->p, s->line, "%s", what);
}

static void skip_ws(struct lp *s)
{
    while (s->p < s->end && (s->d[s->p] == ' ' || s->d[s->p] == '\t' || s->d[s->p] == '\r'))
        s->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_u16(struct lp *s, unsigned *out)
{
    unsigned v = 0;
    if (s->end - s->p < 4)
        return fail(s, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        int h = hexval(s->d[s->p + (size_t)i]);
        if (h < 0)
            return fail(s, "bad hex digit in \\u escape");
        v = v * 16 + (unsigned)h;
    }
    s->p += 4;
    *out = v;
    return KILN_OK;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* An escape after the backslash at s->p - 1; appends its bytes at dst (if any). */
static int escape(struct lp *s, char *dst, size_t *k)
{
    char e;
    unsigned cp, lo;
    int rc;
    if (s->p >= s->end)
        return fail(s, "truncated escape");
    e = s->d[s->p++];
    switch (e) {
    case '"':
    case '\\':
    case '/':
        cp = (unsigned char)e;
        break;
    case 'b':
        cp = '\b';
        break;
    case 'f':
        cp = '\f';
        break;
    case 'n':
        cp = '\n';
        break;
    case 'r':
        cp = '\r';
        break;
    case 't':
        cp = '\t';
        break;
    case 'u':
        if ((rc = read_u16(s, &cp)) != KILN_OK)
            return rc;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(s, "lone low surrogate in \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s->end - s->p < 2 || s->d[s->p] != '\\' || s->d[s->p + 1] != 'u')
                return fail(s, "high surrogate not followed by a low surrogate");
            s->p += 2;
            if ((rc = read_u16(s, &lo)) != KILN_OK)
                return rc;
            if (lo < 0xdc00 || lo > 0xdfff)
                return fail(s, "high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        break;
    default:
        s->p--;
        return fail(s, "invalid escape in string");
    }
    if (dst != NULL)
        *k += put_utf8(dst + *k, cp);
    return KILN_OK;
}

/*
 * A string at s->p (the opening quote). With `dst`, its unescaped bytes go there and *len
 * gets their count; otherwise it is only validated.
 */
static int string(struct lp *s, char *dst, size_t *len)
{
    size_t k = 0;
    int rc;
    s->p++;
    for (;;) {
        unsigned char c;
        if (s->p >= s->end)
            return fail(s, "string is never closed");
        c = (unsigned char)s->d[s->p];
        if (c == '"') {
            s->p++;
            break;
        }
        if (c < 0x20)
            return fail(s, "control character in string");
        s->p++;
        if (c == '\\') {
            if ((rc = escape(s, dst, &k)) != KILN_OK)
                return rc;
        } else if (dst != NULL) {
            dst[k++] = (char)c;
        }
    }
    if (len != NULL)
        *len = k;
    return KILN_OK;
}

static int digits(struct lp *s)
{
    size_t start = s->p;
    while (s->p < s->end && s->d[s->p] >= '0' && s->d[s->p] <= '9')
        s->p++;
    return s->p > start;
}

static int number(struct lp *s)
{
    if (s->d[s->p] == '-')
        s->p++;
    if (s->p < s->end && s->d[s->p] == '0') {
        s->p++;
    } else if (!digits(s)) {
        return fail(s, "malformed number");
    }
    if (s->p < s->end && s->d[s->p] == '.') {
        s->p++;
        if (!digits(s))
            return fail(s, "malformed number");
    }
    if (s->p < s->end && (s->d[s->p] == 'e' || s->d[s->p] == 'E')) {
        s->p++;
        if (s->p < s->end && (s->d[s->p] == '+' || s->d[s->p] == '-'))
            s->p++;
        if (!digits(s))
            return fail(s, "malformed number");
    }
    return KILN_OK;
}

static int unexpected(struct lp *s)
{
    unsigned char c = (unsigned char)s->d[s->p];
    if (c >= 0x20 && c < 0x7f)
        return kiln_table_fail_at(s->r, KILN_EPARSE, s->p, s->line, "unexpected '%c'", c);
    return kiln_table_fail_at(s->r, KILN_EPARSE, s->p, s->line, "unexpected byte 0x%02x", c);
}

static int literal(struct lp *s, const char *lit)
{
    size_t n = strlen(lit);
    if (s->end - s->p < n || memcmp(s->d + s->p, lit, n) != 0)
        return kiln_table_fail_at(s->r, KILN_EPARSE, s->p, s->line, "expected '%s'", lit);
    s->p += n;
    return KILN_OK;
}

/* Validates any JSON value (nested ones included). */
static int value(struct lp *s, int depth)
{
    int rc;
    char open;
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, "expected a value");
    switch (s->d[s->p]) {
    case '"':
        return string(s, NULL, NULL);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    case '{':
    case '[':
        break;
    default:
        if (s->d[s->p] == '-' || (s->d[s->p] >= '0' && s->d[s->p] <= '9'))
            return number(s);
        return unexpected(s);
    }
    if (depth >= MAX_DEPTH)
        return fail(s, "nested more than 64 levels deep");
    open = s->d[s->p++];
    skip_ws(s);
    if (s->p < s->end && s->d[s->p] == (open == '{' ? '}' : ']')) {
        s->p++;
        return KILN_OK;
    }
    for (;;) {
        skip_ws(s);
        if (open == '{') {
            if (s->p >= s->end || s->d[s->p] != '"')
                return fail(s, "expected a string key");
            if ((rc = string(s, NULL, NULL)) != KILN_OK)
                return rc;
            skip_ws(s);
            if (s->p >= s->end || s->d[s->p] != ':')
                return fail(s, "expected ':'");
            s->p++;
        }
        if ((rc = value(s, depth + 1)) != KILN_OK)
            return rc;
        skip_ws(s);
        if (s->p < s->end && s->d[s->p] == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && s->d[s->p] == (open == '{' ? '}' : ']')) {
            s->p++;
            return KILN_OK;
        }
        return fail(s, open == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* A top-level member value into cell c. */
static int cell_value(struct lp *s, struct kiln_cell *c)
{
    size_t start = s->p, len;
    int rc;
    char *dst;
    if (s->p >= s->end)
        return fail(s, "expected a value");
    if (s->d[s->p] == '"') {
        dst = s->r->scratch + s->used;
        if ((rc = string(s, dst, &len)) != KILN_OK)
            return rc;
        s->used += len;
        c->p = dst;
        c->len = len;
        c->flags = kiln_table_is_na(dst, len) ? KILN_CELL_MISSING : 0;
        return KILN_OK;
    }
    if (s->d[s->p] == 'n') {
        if ((rc = literal(s, "null")) != KILN_OK)
            return rc;
        c->p = s->d + start;
        c->len = 0;
        c->flags = KILN_CELL_MISSING;
        return KILN_OK;
    }
    if ((rc = value(s, 1)) != KILN_OK)
        return rc;
    c->p = s->d + start;
    c->len = s->p - start;
    c->flags = 0;
    return KILN_OK;
}

/* One "key": value member; header records add the key as a column. */
static int member(struct lp *s, int header)
{
    struct kiln_table_reader *r = s->r;
    size_t key_at = s->p, klen;
    char *key = r->scratch + s->used;
    long col;
    int rc;

    if (s->p >= s->end || s->d[s->p] != '"')
        return fail(s, "expected a string key");
    if ((rc = string(s, key, &klen)) != KILN_OK)
        return rc;
    col = kiln_table_lookup(r, key, klen);
    if (header) {
        if (col >= 0)
            return kiln_table_fail_at(r, KILN_EPARSE, key_at, s->line, "duplicate key '%.*s'",
                                      (int)(klen > 64 ? 64 : klen), key);
        if ((rc = kiln_table_add_name(r, key, klen, key_at, s->line)) != KILN_OK)
            return rc;
        if ((rc = kiln_table_cells_reserve(r, r->ncols, key_at, s->line)) != KILN_OK)
            return rc;
        col = (long)r->ncols - 1;
    } else {
        if (col < 0)
            return kiln_table_fail_at(r, KILN_EPARSE, key_at, s->line,
                                      "key '%.*s' is not a column (not in the first record)",
                                      (int)(klen > 64 ? 64 : klen), key);
        if (r->seen[col])
            return kiln_table_fail_at(r, KILN_EPARSE, key_at, s->line, "duplicate key '%.*s'",
                                      (int)(klen > 64 ? 64 : klen), key);
    }
    r->seen[col] = 1;
    skip_ws(s);
    if (s->p >= s->end || s->d[s->p] != ':')
        return fail(s, "expected ':'");
    s->p++;
    skip_ws(s);
    return cell_value(s, &r->cells[col]);
}

static int object(struct lp *s, int header)
{
    int rc;
    skip_ws(s);
    if (s->p >= s->end || s->d[s->p] != '{')
        return fail(s, "expected a JSON object");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && s->d[s->p] == '}') {
        s->p++;
    } else {
        for (;;) {
            skip_ws(s);
            if ((rc = member(s, header)) != KILN_OK)
                return rc;
            skip_ws(s);
            if (s->p < s->end && s->d[s->p] == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && s->d[s->p] == '}') {
                s->p++;
                break;
            }
            return fail(s, "expected ',' or '}'");
        }
    }
    skip_ws(s);
    if (s->p < s->end)
        return fail(s, "unexpected text after the object");
    return KILN_OK;
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

int kiln_jsonl_record(struct kiln_table_reader *r, int header)
{
    struct lp s;
    const char *nl;
    size_t lend, next;
    int rc;

    for (;;) {
        if (r->pos >= r->end) {
            if (!r->eof)
                return KILN_REC_MORE;
            r->at_eof = 1;
            return KILN_REC_DONE;
        }
        nl = memchr(r->data + r->pos, '\n', r->end - r->pos);
        if (nl == NULL && !r->eof) {
            if (r->end - r->pos > r->max_record)
                return kiln_table_fail_at(r, KILN_ETOOBIG, r->pos, r->line,
                                          "record longer than %zu bytes", r->max_record);
            return KILN_REC_MORE;
        }
        lend = nl != NULL ? (size_t)(nl - r->data) : r->end;
        next = nl != NULL ? lend + 1 : lend;
        if (!is_blank(r->data + r->pos, lend - r->pos))
            break;
        r->pos = next;
        r->line++;
    }
    if (lend - r->pos > r->max_record)
        return kiln_table_fail_at(r, KILN_ETOOBIG, r->pos, r->line, "record longer than %zu bytes",
                                  r->max_record);
    if ((rc = kiln_table_scratch_reserve(r, lend - r->pos + 1)) != KILN_OK)
        return rc;
    if (!header) {
        memset(r->seen, 0, r->ncols);
    } else if (r->seen == NULL) {
        /* Sized for the most columns a header may have. */
        r->seen = kiln_calloc(r->max_cols, 1);
        if (r->seen == NULL)
            return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
    }
    s.r = r;
    s.d = r->data;
    s.p = r->pos;
    s.end = lend;
    s.line = r->line;
    s.used = 0;
    if ((rc = object(&s, header)) != KILN_OK)
        return rc;
    for (size_t i = 0; i < r->ncols; i++) {
        if (!r->seen[i]) {
            r->cells[i].p = r->data + lend;
            r->cells[i].len = 0;
            r->cells[i].flags = KILN_CELL_MISSING;
        }
    }
    r->nparsed = r->ncols;
    r->row_line = r->line;
    r->pos = next;
    r->line++;
    return KILN_REC_DONE;
}

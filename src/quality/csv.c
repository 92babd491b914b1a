/*
 * csv.c - one CSV record (RFC 4180 with pandas' leniencies, see table.h) from the reader's
 * buffer into cells.
 *
 * The parser only reads the input. Unquoted cells point straight into the buffer; a quoted
 * cell points inside its quotes, and one holding "" pairs is collapsed into the reader's
 * scratch area once the whole record is known (so a record that needs a refill half way can
 * be parsed again from its start). Line numbers advance over newlines inside quoted cells.
 */
#include <string.h>

#include "core/mem.h"
#include "quality/table_int.h"

/* Nonzero when some byte of x equals the byte repeated in pat; the lowest set bit marks the
 * first such byte (the borrow trick can only add false hits above a true one). */
static uint64_t has_byte(uint64_t x, uint64_t pat)
{
    uint64_t y = x ^ pat;
    return (y - 0x0101010101010101ULL) & ~y & 0x8080808080808080ULL;
}

/* End of an unquoted field: the first delimiter, '\n' or '\r' at or after pos. */
static size_t field_end(const char *d, size_t pos, size_t end, char delim,
                        const unsigned char *stop)
{
    const uint64_t pd = 0x0101010101010101ULL * (unsigned char)delim;
    const uint64_t pn = 0x0101010101010101ULL * '\n', pr = 0x0101010101010101ULL * '\r';
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (pos + 8 <= end) {
        uint64_t w, m;
        memcpy(&w, d + pos, 8);
        m = has_byte(w, pd) | has_byte(w, pn) | has_byte(w, pr);
        if (m != 0)
            return pos + ((size_t)__builtin_ctzll(m) >> 3);
        pos += 8;
    }
#else
    (void)pd, (void)pn, (void)pr;
#endif
    while (pos < end && !stop[(unsigned char)d[pos]])
        pos++;
    return pos;
}

static uint64_t count_newlines(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* Collapses "" pairs of the escaped cells into scratch; sets the missing flag on them. */
static int unescape_cells(struct kiln_table_reader *r, size_t n, size_t rec_len)
{
    size_t used = 0;
    int rc = kiln_table_scratch_reserve(r, rec_len + 1);
    if (rc != KILN_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct kiln_cell *c = &r->cells[i];
        char *dst;
        size_t k = 0;
        if (!(c->flags & KILN_CELL_ESCAPED_))
            continue;
        dst = r->scratch + used;
        for (size_t j = 0; j < c->len; j++) {
            dst[k++] = c->p[j];
            if (c->p[j] == '"')
                j++; /* the second quote of a pair */
        }
        c->p = dst;
        c->len = k;
        c->flags &= ~KILN_CELL_ESCAPED_;
        used += k;
    }
    return KILN_OK;
}

/* Skips blank lines; returns KILN_REC_MORE when a lone '\r' ends the buffer. */
static int skip_blank(struct kiln_table_reader *r)
{
    const char *d = r->data;
    while (r->pos < r->end) {
        if (d[r->pos] == '\n') {
            r->pos++;
            r->line++;
        } else if (d[r->pos] == '\r') {
            if (r->pos + 1 >= r->end && !r->eof)
                return KILN_REC_MORE;
            r->pos++;
            if (r->pos < r->end && d[r->pos] == '\n')
                r->pos++;
            r->line++;
        } else {
            break;
        }
    }
    return KILN_REC_DONE;
}

/*
 * A quoted cell starting at `cs` (the opening quote). On success sets the cell and *pos to
 * just after the closing quote, and adds embedded newlines to *line.
 */
static int quoted_cell(struct kiln_table_reader *r, size_t cs, struct kiln_cell *c, size_t *pos,
                       uint64_t *line)
{
    const char *d = r->data;
    size_t q = cs + 1;
    unsigned fl = KILN_CELL_QUOTED;
    uint64_t start_line = *line;
    for (;;) {
        const char *hit = memchr(d + q, '"', r->end - q);
        size_t h;
        if (hit == NULL) {
            if (!r->eof)
                return KILN_REC_MORE;
            return kiln_table_fail_at(r, KILN_EPARSE, cs, start_line,
                                      "quoted field is never closed");
        }
        h = (size_t)(hit - d);
        *line += count_newlines(d + q, h - q);
        if (h + 1 >= r->end && !r->eof)
            return KILN_REC_MORE;
        if (h + 1 < r->end && d[h + 1] == '"') {
            fl |= KILN_CELL_ESCAPED_;
            q = h + 2;
            continue;
        }
        c->p = d + cs + 1;
        c->len = h - cs - 1;
        c->flags = fl;
        *pos = h + 1;
        return KILN_REC_DONE;
    }
}

int kiln_csv_record(struct kiln_table_reader *r)
{
    const char *d = r->data;
    const unsigned char *stop = r->stop;
    const char delim = r->delim;
    size_t end, pos, rec_start, n = 0;
    uint64_t line, rec_line;
    int escaped = 0, rc;

    rc = skip_blank(r);
    if (rc != KILN_REC_DONE)
        return rc;
    end = r->end;
    pos = rec_start = r->pos;
    line = rec_line = r->line;
    if (pos >= end) {
        if (!r->eof)
            return KILN_REC_MORE;
        r->at_eof = 1;
        r->nparsed = 0;
        return KILN_REC_DONE;
    }
    for (;;) {
        struct kiln_cell *c;
        size_t cs = pos;
        if (n >= r->cells_cap) {
            rc = kiln_table_cells_reserve(r, n + 1, cs, line);
            if (rc != KILN_OK)
                return rc;
        }
        c = &r->cells[n++];
        if (pos < end && d[pos] == '"') {
            rc = quoted_cell(r, cs, c, &pos, &line);
            if (rc != KILN_REC_DONE)
                return rc;
            if (c->flags & KILN_CELL_ESCAPED_)
                escaped = 1;
            else if (kiln_table_is_na(c->p, c->len))
                c->flags |= KILN_CELL_MISSING;
            if (pos < end && d[pos] != delim && d[pos] != '\n' && d[pos] != '\r') {
                unsigned char ch = (unsigned char)d[pos];
                if (ch >= 0x20 && ch < 0x7f)
                    return kiln_table_fail_at(r, KILN_EPARSE, pos, line,
                                              "unexpected '%c' after a closing quote", ch);
                return kiln_table_fail_at(r, KILN_EPARSE, pos, line,
                                          "unexpected byte 0x%02x after a closing quote", ch);
            }
        } else {
            pos = field_end(d, pos, end, delim, stop);
            if (pos >= end && !r->eof)
                return KILN_REC_MORE;
            c->p = d + cs;
            c->len = pos - cs;
            c->flags = kiln_table_is_na(c->p, c->len) ? KILN_CELL_MISSING : 0;
        }
        if (pos >= end)
            break;
        if (d[pos] == delim) {
            pos++;
            continue;
        }
        if (d[pos] == '\r') {
            if (pos + 1 >= end && !r->eof)
                return KILN_REC_MORE;
            pos++;
            if (pos < end && d[pos] == '\n')
                pos++;
        } else {
            pos++;
        }
        line++;
        break;
    }
    if (pos - rec_start > r->max_record)
        return kiln_table_fail_at(r, KILN_ETOOBIG, rec_start, rec_line,
                                  "record longer than %zu bytes", r->max_record);
    if (escaped) {
        rc = unescape_cells(r, n, pos - rec_start);
        if (rc != KILN_OK)
            return rc;
        for (size_t i = 0; i < n; i++)
            if ((r->cells[i].flags & KILN_CELL_QUOTED) &&
                kiln_table_is_na(r->cells[i].p, r->cells[i].len))
                r->cells[i].flags |= KILN_CELL_MISSING;
    }
    r->nparsed = n;
    r->pos = pos;
    r->line = line;
    r->row_line = rec_line;
    return KILN_REC_DONE;
}

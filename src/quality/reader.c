/*
 * reader.c - the table reader's buffering, header handling and public API (table.h).
 *
 * Lifecycle: open (reads the header, or parses the first record of a header-less source and
 * keeps it pending) -> next ... next -> 0 at the end, or a negative error that sticks ->
 * free. The record parsers (csv.c, jsonl.c) never modify the input; when a record runs past
 * the buffered bytes they ask for a refill, which keeps the record's bytes and reads more.
 * File input is read with read(2) in blocks of at least 1 MiB, so the reader's memory is one
 * buffer of about the largest record plus the cells of one row.
 *
 * One thread at a time per reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/str.h"
#include "quality/table_int.h"

#define READ_BLOCK ((size_t)1 << 20)
#define DEFAULT_MAX_RECORD ((size_t)64 << 20)
#define DEFAULT_MAX_COLS ((size_t)16384)

static int eq(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

int kiln_table_is_na(const char *p, size_t len)
{
    if (len == 0)
        return 1;
    if (len > 8)
        return 0;
    switch (p[0]) {
    case '#':
        return eq(p, len, "#N/A") || eq(p, len, "#N/A N/A") || eq(p, len, "#NA");
    case '-':
        if (len < 4 || (p[1] != '1' && p[1] != 'N' && p[1] != 'n'))
            return 0;
        return eq(p, len, "-1.#IND") || eq(p, len, "-1.#QNAN") || eq(p, len, "-NaN") ||
               eq(p, len, "-nan");
    case '1':
        if (len < 6 || p[1] != '.' || p[2] != '#')
            return 0;
        return eq(p, len, "1.#IND") || eq(p, len, "1.#QNAN");
    case '<':
        return eq(p, len, "<NA>");
    case 'N':
        return eq(p, len, "N/A") || eq(p, len, "NA") || eq(p, len, "NULL") || eq(p, len, "NaN") ||
               eq(p, len, "None");
    case 'n':
        return eq(p, len, "n/a") || eq(p, len, "nan") || eq(p, len, "null");
    default:
        return 0;
    }
}

static uint64_t line_col(const struct kiln_table_reader *r, size_t at)
{
    size_t i = at;
    if (at > r->end)
        at = i = r->end;
    while (i > 0 && r->data[i - 1] != '\n' && r->data[i - 1] != '\r')
        i--;
    return (uint64_t)(at - i) + 1;
}

int kiln_table_fail_at(struct kiln_table_reader *r, int rc, size_t at, uint64_t line,
                       const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->rc = rc;
    snprintf(r->msg, sizeof(r->msg), "%s: line %llu, column %llu: %s", r->name,
             (unsigned long long)line, (unsigned long long)line_col(r, at), what);
    return rc;
}

int kiln_table_fail(struct kiln_table_reader *r, int rc, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->rc = rc;
    snprintf(r->msg, sizeof(r->msg), "%s: %s", r->name, what);
    return rc;
}

int kiln_table_cells_reserve(struct kiln_table_reader *r, size_t n, size_t at, uint64_t line)
{
    struct kiln_cell *c;
    size_t cap;
    if (n <= r->cells_cap)
        return KILN_OK;
    if (n > r->max_cols)
        return kiln_table_fail_at(r, KILN_ETOOBIG, at, line, "more than %zu columns", r->max_cols);
    cap = r->cells_cap ? r->cells_cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    c = kiln_reallocarray(r->cells, cap, sizeof(*c));
    if (c == NULL)
        return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
    r->cells = c;
    r->cells_cap = cap;
    return KILN_OK;
}

int kiln_table_scratch_reserve(struct kiln_table_reader *r, size_t n)
{
    char *s;
    size_t cap;
    if (n <= r->scratch_cap)
        return KILN_OK;
    cap = r->scratch_cap ? r->scratch_cap : 4096;
    while (cap < n)
        cap *= 2;
    s = kiln_realloc(r->scratch, cap);
    if (s == NULL)
        return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
    r->scratch = s;
    r->scratch_cap = cap;
    return KILN_OK;
}

static uint32_t hash_name(const char *p, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

long kiln_table_lookup(const struct kiln_table_reader *r, const char *p, size_t len)
{
    size_t mask, i;
    if (r->name_slots_n == 0)
        return -1;
    mask = r->name_slots_n - 1;
    for (i = hash_name(p, len) & mask;; i = (i + 1) & mask) {
        uint32_t s = r->name_slots[i];
        const char *nm;
        if (s == 0)
            return -1;
        nm = r->names[s - 1];
        if (strlen(nm) == len && memcmp(nm, p, len) == 0)
            return (long)(s - 1);
    }
}

static int rehash(struct kiln_table_reader *r, size_t n)
{
    uint32_t *slots = kiln_calloc(n, sizeof(*slots));
    if (slots == NULL)
        return KILN_ENOMEM;
    for (size_t k = 0; k < r->ncols; k++) {
        size_t i = hash_name(r->names[k], strlen(r->names[k])) & (n - 1);
        while (slots[i] != 0)
            i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    kiln_free(r->name_slots);
    r->name_slots = slots;
    r->name_slots_n = n;
    return KILN_OK;
}

int kiln_table_add_name(struct kiln_table_reader *r, const char *p, size_t len, size_t at,
                        uint64_t line)
{
    char gen[32];
    char **names;
    char *copy;
    if (len == 0) {
        len = (size_t)snprintf(gen, sizeof(gen), "column_%zu", r->ncols + 1);
        p = gen;
    }
    if (memchr(p, '\0', len) != NULL)
        return kiln_table_fail_at(r, KILN_EPARSE, at, line, "column name contains a NUL byte");
    if (kiln_table_lookup(r, p, len) >= 0)
        return kiln_table_fail_at(r, KILN_EPARSE, at, line, "duplicate column name '%.*s'",
                                  (int)(len > 64 ? 64 : len), p);
    if (r->ncols >= r->max_cols)
        return kiln_table_fail_at(r, KILN_ETOOBIG, at, line, "more than %zu columns", r->max_cols);
    names = kiln_reallocarray(r->names, r->ncols + 1, sizeof(*names));
    if (names == NULL)
        return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
    r->names = names;
    copy = kiln_strndup(p, len);
    if (copy == NULL)
        return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
    r->names[r->ncols++] = copy;
    if (r->ncols * 2 > r->name_slots_n) {
        size_t n = r->name_slots_n ? r->name_slots_n * 2 : 64;
        while (n < r->ncols * 2)
            n *= 2;
        if (rehash(r, n) != KILN_OK)
            return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
    } else {
        size_t i = hash_name(copy, len) & (r->name_slots_n - 1);
        while (r->name_slots[i] != 0)
            i = (i + 1) & (r->name_slots_n - 1);
        r->name_slots[i] = (uint32_t)r->ncols;
    }
    return KILN_OK;
}

/*
 * Keeps data[pos, end), reads more input after it. Grows the buffer when the unfinished
 * record already fills it. Sets eof at the end of input.
 */
static int refill(struct kiln_table_reader *r)
{
    ssize_t got;
    if (r->fd < 0 || r->eof) {
        r->eof = 1;
        return KILN_OK;
    }
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->consumed += r->pos;
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->end < READ_BLOCK / 2) {
        size_t cap = r->cap * 2;
        char *b;
        if (r->end > r->max_record)
            return kiln_table_fail(r, KILN_ETOOBIG, "line %llu: record longer than %zu bytes",
                                   (unsigned long long)r->line, r->max_record);
        b = kiln_realloc(r->buf, cap + 1);
        if (b == NULL)
            return kiln_table_fail(r, KILN_ENOMEM, "out of memory");
        r->buf = b;
        r->data = b;
        r->cap = cap;
    }
    do {
        got = read(r->fd, r->buf + r->end, r->cap - r->end);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return kiln_table_fail(r, kiln_rc_from_errno(errno), "read failed: %s", strerror(errno));
    if (got == 0)
        r->eof = 1;
    r->end += (size_t)got;
    if (r->progress != NULL)
        r->progress(r->progress_ctx, r->consumed + r->end, r->size);
    return KILN_OK;
}

/* Parses one record of the reader's format, refilling as needed. */
static int parse_record(struct kiln_table_reader *r, int header)
{
    for (;;) {
        int rc = r->format == KILN_TABLE_JSONL ? kiln_jsonl_record(r, header) : kiln_csv_record(r);
        if (rc != KILN_REC_MORE)
            return rc;
        if (r->eof)
            return kiln_table_fail(r, KILN_EINTERNAL, "parser asked for input past the end");
        rc = refill(r);
        if (rc != KILN_OK)
            return rc;
    }
}

static int read_header(struct kiln_table_reader *r)
{
    int rc;
    /* Skip a UTF-8 byte-order mark. */
    if (r->end - r->pos < 3 && !r->eof && (rc = refill(r)) != KILN_OK)
        return rc;
    if (r->end - r->pos >= 3 && memcmp(r->data + r->pos, "\xef\xbb\xbf", 3) == 0)
        r->pos += 3;
    if (r->format == KILN_TABLE_JSONL) {
        rc = parse_record(r, 1);
        if (rc < 0)
            return rc;
        r->pending = !r->at_eof;
        return KILN_OK;
    }
    rc = parse_record(r, 0);
    if (rc < 0)
        return rc;
    if (r->at_eof)
        return r->no_header ? KILN_OK
                            : kiln_table_fail(r, KILN_EPARSE, "empty file (no header row)");
    for (size_t i = 0; i < r->nparsed; i++) {
        const struct kiln_cell *c = &r->cells[i];
        if (r->no_header) {
            rc = kiln_table_add_name(r, "", 0, 0, r->row_line);
        } else {
            rc = kiln_table_add_name(r, c->p, c->len, (size_t)(c->p - r->data), r->row_line);
        }
        if (rc != KILN_OK)
            return rc;
    }
    r->pending = r->no_header;
    return KILN_OK;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && kiln_cstr_ieq(s + n - m, suffix);
}

static int setup(struct kiln_table_reader *r, const char *name, const struct kiln_table_opts *o)
{
    static const struct kiln_table_opts defaults = { KILN_TABLE_AUTO, 0, 0, 0, 0 };
    if (o == NULL)
        o = &defaults;
    r->fd = -1;
    r->line = 1;
    r->name = kiln_strdup(name);
    if (r->name == NULL)
        return KILN_ENOMEM;
    r->format = o->format;
    if (r->format == KILN_TABLE_AUTO)
        r->format = has_suffix(base_name(name), ".jsonl") || has_suffix(base_name(name), ".ndjson")
                        ? KILN_TABLE_JSONL
                        : KILN_TABLE_CSV;
    r->delim = o->delimiter != 0 ? o->delimiter : has_suffix(name, ".tsv") ? '\t' : ',';
    r->no_header = o->no_header;
    r->max_record = o->max_record ? o->max_record : DEFAULT_MAX_RECORD;
    r->max_cols = o->max_cols ? o->max_cols : DEFAULT_MAX_COLS;
    if (r->delim == '"' || r->delim == '\n' || r->delim == '\r')
        return kiln_table_fail(r, KILN_EINVAL, "delimiter cannot be a quote or a newline");
    r->stop[(unsigned char)r->delim] = 1;
    r->stop['\n'] = 1;
    r->stop['\r'] = 1;
    return KILN_OK;
}

static int finish_open(struct kiln_table_reader *r, struct kiln_table_reader **out,
                       struct kiln_err *err)
{
    int rc = read_header(r);
    if (rc == KILN_OK && r->ncols == 0 && !r->at_eof && r->format == KILN_TABLE_CSV)
        rc = kiln_table_fail(r, KILN_EPARSE, "no columns");
    if (rc != KILN_OK) {
        kiln_err_set(err, rc, "%s", r->msg[0] ? r->msg : kiln_strerror(rc));
        kiln_table_reader_free(r);
        return rc;
    }
    *out = r;
    return KILN_OK;
}

int kiln_table_reader_open(const char *path, const struct kiln_table_opts *opts,
                           struct kiln_table_reader **out, struct kiln_err *err)
{
    struct kiln_table_reader *r = kiln_calloc(1, sizeof(*r));
    int is_stdin = strcmp(path, "-") == 0;
    int rc;
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = setup(r, is_stdin ? "<stdin>" : path, opts);
    if (rc != KILN_OK) {
        kiln_err_set(err, rc, "%s", r->msg[0] ? r->msg : kiln_strerror(rc));
        kiln_table_reader_free(r);
        return rc;
    }
    if (is_stdin) {
        r->fd = STDIN_FILENO;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            rc = kiln_rc_from_errno(errno);
            kiln_err_set(err, rc, "%s: cannot open: %s", path, strerror(errno));
            kiln_table_reader_free(r);
            return rc;
        }
        r->close_fd = 1;
    }
    {
        struct stat st;
        if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode))
            r->size = (uint64_t)st.st_size;
    }
    r->cap = READ_BLOCK * 4;
    r->buf = kiln_malloc(r->cap + 1);
    if (r->buf == NULL) {
        kiln_table_reader_free(r);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    r->data = r->buf;
    return finish_open(r, out, err);
}

int kiln_table_reader_open_mem(const void *data, size_t len, const char *name,
                               const struct kiln_table_opts *opts, struct kiln_table_reader **out,
                               struct kiln_err *err)
{
    struct kiln_table_reader *r = kiln_calloc(1, sizeof(*r));
    int rc;
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = setup(r, name != NULL ? name : "<memory>", opts);
    if (rc != KILN_OK) {
        kiln_err_set(err, rc, "%s", r->msg[0] ? r->msg : kiln_strerror(rc));
        kiln_table_reader_free(r);
        return rc;
    }
    r->data = data != NULL ? data : "";
    r->end = len;
    r->eof = 1;
    if (len > r->max_record && r->format == KILN_TABLE_JSONL) {
        /* Records are bounded per line below; nothing to do for the whole buffer. */
    }
    return finish_open(r, out, err);
}

void kiln_table_reader_free(struct kiln_table_reader *r)
{
    if (r == NULL)
        return;
    if (r->close_fd && r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->ncols; i++)
        kiln_free(r->names[i]);
    kiln_free(r->names);
    kiln_free(r->name_slots);
    kiln_free(r->cells);
    kiln_free(r->seen);
    kiln_free(r->scratch);
    kiln_free(r->buf);
    kiln_free(r->name);
    kiln_free(r);
}

int kiln_table_reader_next(struct kiln_table_reader *r, const struct kiln_cell **cells,
                           struct kiln_err *err)
{
    int rc;
    if (r->rc != KILN_OK)
        return kiln_err_set(err, r->rc, "%s", r->msg);
    if (r->pending) {
        r->pending = 0;
    } else {
        if (r->at_eof)
            return 0;
        rc = parse_record(r, 0);
        if (rc < 0)
            return kiln_err_set(err, rc, "%s", r->msg[0] ? r->msg : kiln_strerror(rc));
        if (r->at_eof)
            return 0;
    }
    if (r->format == KILN_TABLE_CSV && r->nparsed != r->ncols) {
        rc = kiln_table_fail(r, KILN_EPARSE, "line %llu: expected %zu fields, found %zu",
                             (unsigned long long)r->row_line, r->ncols, r->nparsed);
        return kiln_err_set(err, rc, "%s", r->msg);
    }
    r->rows++;
    *cells = r->cells;
    return 1;
}

size_t kiln_table_reader_ncols(const struct kiln_table_reader *r)
{
    return r->ncols;
}

const char *kiln_table_reader_colname(const struct kiln_table_reader *r, size_t i)
{
    return i < r->ncols ? r->names[i] : NULL;
}

long kiln_table_reader_find(const struct kiln_table_reader *r, const char *name)
{
    return kiln_table_lookup(r, name, strlen(name));
}

const char *kiln_table_reader_name(const struct kiln_table_reader *r)
{
    return r->name;
}

enum kiln_table_format kiln_table_reader_format(const struct kiln_table_reader *r)
{
    return r->format;
}

char kiln_table_reader_delimiter(const struct kiln_table_reader *r)
{
    return r->format == KILN_TABLE_CSV ? r->delim : ',';
}

uint64_t kiln_table_reader_line(const struct kiln_table_reader *r)
{
    return r->row_line;
}

uint64_t kiln_table_reader_rows(const struct kiln_table_reader *r)
{
    return r->rows;
}

void kiln_table_reader_on_progress(struct kiln_table_reader *r,
                                   void (*fn)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
    r->progress = fn;
    r->progress_ctx = ctx;
}

uint64_t kiln_table_reader_size(const struct kiln_table_reader *r)
{
    return r->size;
}

uint64_t kiln_table_reader_bytes(const struct kiln_table_reader *r)
{
    return r->consumed + r->pos;
}

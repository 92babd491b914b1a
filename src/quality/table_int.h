/*
 * table_int.h - the table reader's state, shared by reader.c (buffering, header, API),
 * csv.c and jsonl.c (record parsers). Not for use outside src/quality/.
 *
 * Buffer invariant: bytes [0, end) of `data` are valid input; `pos` is where the next record
 * starts; `consumed` counts input bytes that were before data[0] (dropped by refills). In
 * memory mode `data` is the caller's bytes and never moves; in file mode it is `buf`, and a
 * refill moves the unfinished record to the front, grows the buffer if the record fills it,
 * and reads more. A record parser never modifies the input, so it can simply be run again
 * after a refill.
 */
#ifndef KILN_QUALITY_TABLE_INT_H
#define KILN_QUALITY_TABLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "quality/table.h"

/* Internal cell flag: the quoted field contains "" pairs to collapse (CSV). */
#define KILN_CELL_ESCAPED_ 0x100u
/* Internal cell flag: the text is a JSON string with backslash escapes (JSON Lines). */
#define KILN_CELL_JSONESC_ 0x200u

/* Result of one record parse. */
enum {
    KILN_REC_DONE = 1, /* a record (or the end of the data) was parsed */
    KILN_REC_MORE = 0, /* the record continues past `end`: refill and parse again */
};

struct kiln_table_reader {
    char *name;
    int fd;       /* -1 in memory mode */
    int close_fd; /* we opened it */
    char *buf;    /* file mode buffer (NULL in memory mode) */
    size_t cap;   /* size of buf */
    const char *data;
    size_t end, pos;
    int eof; /* no more input after data[end) */
    uint64_t consumed;
    uint64_t line;     /* line number at data[pos] */
    uint64_t row_line; /* first line of the row last returned */
    uint64_t rows;
    enum kiln_table_format format;
    char delim;
    unsigned char stop[256]; /* CSV: bytes that end an unquoted field */
    int no_header;
    size_t max_record, max_cols;

    size_t ncols;
    char **names;
    uint32_t *name_slots; /* open addressing: index + 1, 0 empty */
    size_t name_slots_n;  /* power of two */

    struct kiln_cell *cells; /* ncols cells of the current row (cells_cap >= ncols) */
    size_t cells_cap;
    size_t nparsed;      /* cells found in the last CSV record */
    unsigned char *seen; /* JSON Lines: which columns the current object set */
    char *scratch;       /* unescaped text of the current row */
    size_t scratch_cap;
    int pending; /* the first record is data and was already parsed */
    int at_eof;  /* a record parse found the end of the data */

    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    uint64_t size; /* file size, 0 when unknown */

    int rc; /* sticky error */
    char msg[KILN_ERR_MSG_MAX];
};

/* Records an error at byte `at` of data (line and column computed), returns rc. */
int kiln_table_fail_at(struct kiln_table_reader *r, int rc, size_t at, uint64_t line,
                       const char *fmt, ...) KILN_PRINTF(5, 6);
/* Records an error without a position (I/O, memory); returns rc. */
int kiln_table_fail(struct kiln_table_reader *r, int rc, const char *fmt, ...) KILN_PRINTF(3, 4);

/* Makes room for n cells. KILN_ENOMEM, or KILN_ETOOBIG past max_cols. */
int kiln_table_cells_reserve(struct kiln_table_reader *r, size_t n, size_t at, uint64_t line);
/* Makes the scratch area at least n bytes. KILN_ENOMEM. */
int kiln_table_scratch_reserve(struct kiln_table_reader *r, size_t n);
/* Adds a column name (copied); KILN_EPARSE on a duplicate, KILN_ENOMEM. */
int kiln_table_add_name(struct kiln_table_reader *r, const char *p, size_t len, size_t at,
                        uint64_t line);
/* Index of a column by name, or -1 (uses the name hash). */
long kiln_table_lookup(const struct kiln_table_reader *r, const char *p, size_t len);

/*
 * Parses one CSV record starting at r->pos into r->cells[0 .. r->nparsed). Returns
 * KILN_REC_DONE (r->pos and r->line advanced; r->at_eof set when there was no record),
 * KILN_REC_MORE, or a negative error (recorded in r).
 */
int kiln_csv_record(struct kiln_table_reader *r);
/* Parses one JSON Lines record into r->cells (ncols cells); same returns. With
 * `header` set, the object's keys define the columns. */
int kiln_jsonl_record(struct kiln_table_reader *r, int header);

#endif

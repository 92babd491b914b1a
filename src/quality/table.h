/*
 * table.h - streaming reader for tabular data files: CSV (RFC 4180) and JSON Lines.
 *
 * The reader hands out one row at a time as an array of cells that borrow from its internal
 * buffer, so a file of any size is read in fixed memory (one record at most, bounded by
 * `max_record`). It is the one way kiln reads tabular data: profiling, validation and drift
 * use it, and so can batch scoring and evaluation.
 *
 * CSV rules (RFC 4180, with pandas' leniencies):
 *   - fields are separated by `delimiter` (',' by default, '\t' for *.tsv files); records end
 *     at "\n", "\r\n" or "\r"; blank lines are skipped; a UTF-8 byte-order mark is skipped;
 *   - a field that starts with '"' is quoted: it may hold delimiters, newlines and "" (one
 *     escaped quote); after the closing quote only a delimiter or the end of the record may
 *     follow. A quote inside an unquoted field is kept literally;
 *   - the first record is the header (unless `no_header`); an empty name becomes column_<i>
 *     (1-based) and a duplicate name is an error. Every record must have as many fields as
 *     the header.
 * JSON Lines rules: one JSON object per line; the first object's keys, in order, are the
 * columns; a later object may omit keys (missing cells) but may not add new ones. Values
 * become cell text: strings unescaped, numbers as written, true/false as "true"/"false",
 * null as a missing cell, nested arrays and objects as their JSON text.
 *
 * Missing values: a cell is missing when it is absent (JSON), JSON null, or its text is one of
 * pandas' default NA strings: "" "#N/A" "#N/A N/A" "#NA" "-1.#IND" "-1.#QNAN" "-NaN" "-nan"
 * "1.#IND" "1.#QNAN" "<NA>" "N/A" "NA" "NULL" "NaN" "None" "n/a" "nan" "null".
 *
 * Errors name the file, line and column (byte in the line, 1-based), for example
 * "train.csv: line 17, column 9: unexpected 'x' after a closing quote".
 *
 * Ownership and threads: a reader is used by one thread at a time; different readers are
 * independent. Cells returned by kiln_table_reader_next stay valid until the next call.
 */
#ifndef KILN_QUALITY_TABLE_H
#define KILN_QUALITY_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum kiln_table_format {
    KILN_TABLE_AUTO = 0, /* by file name: *.jsonl, *.ndjson -> JSON Lines, otherwise CSV */
    KILN_TABLE_CSV = 1,
    KILN_TABLE_JSONL = 2,
};

struct kiln_table_opts {
    enum kiln_table_format format;
    char delimiter;    /* CSV field separator; 0 picks ',' ('\t' for *.tsv) */
    int no_header;     /* CSV: the first record is data; columns are named column_1.. */
    size_t max_record; /* largest record in bytes; 0 picks 64 MiB */
    size_t max_cols;   /* most columns; 0 picks 16384 */
};

/* Cell flags. */
#define KILN_CELL_MISSING 1u /* missing (see above); p/len still give the text, if any */
#define KILN_CELL_QUOTED 2u  /* CSV: the field was quoted */

struct kiln_cell {
    const char *p; /* not NUL-terminated */
    size_t len;
    unsigned flags;
};

struct kiln_table_reader;

/*
 * Opens `path` ("-" reads standard input) and reads the header (CSV) or the first record
 * (JSON Lines). `opts` may be NULL for defaults. KILN_ENOENT/KILN_EIO when the file cannot
 * be read, KILN_EPARSE for a malformed header or first record, KILN_ENOMEM.
 * OUT: *out, freed with kiln_table_reader_free.
 */
int kiln_table_reader_open(const char *path, const struct kiln_table_opts *opts,
                           struct kiln_table_reader **out /* OUT */, struct kiln_err *err);

/*
 * Like kiln_table_reader_open for `len` bytes in memory, borrowed (they must outlive the
 * reader and are never written). `name` is used in error messages and for format detection.
 */
int kiln_table_reader_open_mem(const void *data, size_t len, const char *name,
                               const struct kiln_table_opts *opts,
                               struct kiln_table_reader **out /* OUT */, struct kiln_err *err);

/* Closes the file and frees everything. NULL is a no-op. */
void kiln_table_reader_free(struct kiln_table_reader *r);

/*
 * Reads the next row. Returns 1 with *cells pointing at kiln_table_reader_ncols() cells, 0
 * at the end of the data, or a negative kiln code (KILN_EPARSE with file, line and column;
 * KILN_ETOOBIG for a record over max_record; KILN_EIO; KILN_ENOMEM). After an error the
 * reader only returns that error again.
 */
int kiln_table_reader_next(struct kiln_table_reader *r, const struct kiln_cell **cells /* OUT */,
                           struct kiln_err *err);

size_t kiln_table_reader_ncols(const struct kiln_table_reader *r);
/* Column name (NUL-terminated, owned by the reader). */
const char *kiln_table_reader_colname(const struct kiln_table_reader *r, size_t i);
/* Index of the column called `name`, or -1. */
long kiln_table_reader_find(const struct kiln_table_reader *r, const char *name);
/* The file name given at open ("<stdin>" for "-"). */
const char *kiln_table_reader_name(const struct kiln_table_reader *r);
/* KILN_TABLE_CSV or KILN_TABLE_JSONL. */
enum kiln_table_format kiln_table_reader_format(const struct kiln_table_reader *r);
/* The CSV delimiter in use (',' for JSON Lines). */
char kiln_table_reader_delimiter(const struct kiln_table_reader *r);
/* Line (1-based) where the row last returned starts. */
uint64_t kiln_table_reader_line(const struct kiln_table_reader *r);
/* Data rows returned so far. */
uint64_t kiln_table_reader_rows(const struct kiln_table_reader *r);
/* Bytes of input consumed so far. */
uint64_t kiln_table_reader_bytes(const struct kiln_table_reader *r);

/*
 * Registers fn to be called from the reading thread after each block read from a file
 * (roughly every megabyte): bytes consumed so far and the file's size (0 when unknown, e.g. a
 * pipe). For progress displays; fn must be quick and must not use the reader.
 */
void kiln_table_reader_on_progress(struct kiln_table_reader *r,
                                   void (*fn)(void *ctx, uint64_t done, uint64_t total), void *ctx);
/* The file's size in bytes (0 when unknown). */
uint64_t kiln_table_reader_size(const struct kiln_table_reader *r);

/* 1 when `len` bytes at p are one of the NA strings listed above. */
int kiln_table_is_na(const char *p, size_t len);

#endif

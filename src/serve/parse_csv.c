/*
 * parse_csv.c - MLflow scoring-protocol CSV bodies -> rows (see parse.h).
 *
 * MLflow reads a CSV body with pandas.read_csv: the first line is the header, empty cells and
 * pandas' NA strings are missing values. The body is read with kiln's one tabular reader
 * (quality/table.h, which follows those rules) over the request's memory; columns are
 * matched to model inputs by name once, then every cell converts straight into the row
 * matrix. The reader's buffers are the only allocation outside the request arena.
 */
#include <string.h>

#include "quality/table.h"
#include "serve/parse_int.h"

int kiln_serve_parse_csv(const struct kiln_serve_schema *sc, const char *body, size_t len,
                         struct kiln_arena *arena, struct kiln_serve_rows *out,
                         struct kiln_err *err)
{
    struct kiln_table_opts opts = { KILN_TABLE_CSV, ',', 0, 0, 0 };
    struct kiln_table_reader *r = NULL;
    struct loc head = { "CSV header", -1, -1, NULL, 0 };
    const struct kiln_cell *cells;
    uint32_t *seen = NULL;
    struct rowbuf rb;
    size_t ncols;
    long *map = NULL;
    int rc;

    rb_init(&rb, sc, arena, err);
    if (len == 0)
        return kiln_err_set(err, KILN_EPARSE, "the CSV body is empty (expected a header line)");
    rc = kiln_table_reader_open_mem(body, len, "CSV body", &opts, &r, err);
    if (rc != KILN_OK)
        return rc;
    ncols = kiln_table_reader_ncols(r);
    map = kiln_arena_alloc(arena, (ncols + 1) * sizeof(*map));
    seen = kiln_arena_calloc(arena, sc->F + 1, sizeof(*seen));
    if (map == NULL || seen == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t c = 0; c < ncols; c++) {
        const char *name = kiln_table_reader_colname(r, c);
        map[c] = sc_find(sc, name, strlen(name), c);
        if (map[c] >= 0)
            seen[map[c]] = 1;
    }
    rc = rows_check_missing(sc, seen, 1, 1, &head, err);
    while (rc == KILN_OK && (rc = kiln_table_reader_next(r, &cells, err)) == 1) {
        double *row = rb_push(&rb);
        rc = row == NULL ? err->rc : KILN_OK;
        for (size_t c = 0; c < ncols && rc == KILN_OK; c++) {
            struct loc l = { "", -1, -1, NULL, 0 };
            struct kiln_err e = { 0 };
            if (map[c] < 0)
                continue;
            rc = cell_text(sc, (size_t)map[c], cells[c].p, cells[c].len,
                           (cells[c].flags & KILN_CELL_MISSING) != 0, &row[map[c]], &l, &e);
            if (rc != KILN_OK)
                rc = kiln_err_set(err, rc, "CSV body: line %llu, column '%s'%s",
                                  (unsigned long long)kiln_table_reader_line(r),
                                  kiln_table_reader_colname(r, c), e.msg);
        }
    }
    if (rc != KILN_OK)
        goto out;
    out->x = rb.x;
    out->n = rb.n;
out:
    kiln_table_reader_free(r);
    return rc;
}

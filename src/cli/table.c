/*
 * table.c - aligned text tables for human CLI output (see cli.h).
 *
 * Cells are copied into one heap block per row. Width is counted in code points so that
 * names with accents line up; embedded newlines and tabs are shown as spaces so one row stays
 * one line.
 */
#include <string.h>

#include "cli/cli.h"
#include "core/mem.h"

struct kiln_table {
    size_t ncols, nrows, cap;
    char ***rows; /* rows[0] is the header */
    size_t *width;
    unsigned char *right;
};

size_t kiln_utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void free_row(char **row, size_t ncols)
{
    if (row == NULL)
        return;
    for (size_t i = 0; i < ncols; i++)
        kiln_free(row[i]);
    kiln_free(row);
}

static int add_row(struct kiln_table *t, const char *const *cells)
{
    char **row;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char ***p = kiln_reallocarray(t->rows, cap, sizeof(*p));
        if (p == NULL)
            return KILN_ENOMEM;
        t->rows = p;
        t->cap = cap;
    }
    row = kiln_calloc(t->ncols, sizeof(*row));
    if (row == NULL)
        return KILN_ENOMEM;
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w;
        row[i] = kiln_strdup(cells[i] != NULL ? cells[i] : "-");
        if (row[i] == NULL) {
            free_row(row, t->ncols);
            return KILN_ENOMEM;
        }
        for (char *c = row[i]; *c != '\0'; c++)
            if (*c == '\n' || *c == '\t' || *c == '\r')
                *c = ' ';
        w = kiln_utf8_width(row[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->rows[t->nrows++] = row;
    return KILN_OK;
}

struct kiln_table *kiln_table_new(size_t ncols, const char *const *headers)
{
    struct kiln_table *t = kiln_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    t->width = kiln_calloc(ncols, sizeof(*t->width));
    t->right = kiln_calloc(ncols, 1);
    if (t->width == NULL || t->right == NULL || add_row(t, headers) != KILN_OK) {
        kiln_table_free(t);
        return NULL;
    }
    return t;
}

int kiln_table_add(struct kiln_table *t, const char *const *cells)
{
    return add_row(t, cells);
}

void kiln_table_align_right(struct kiln_table *t, size_t col)
{
    if (col < t->ncols)
        t->right[col] = 1;
}

size_t kiln_table_rows(const struct kiln_table *t)
{
    return t->nrows > 0 ? t->nrows - 1 : 0;
}

static void pad(FILE *out, size_t n)
{
    while (n-- > 0)
        fputc(' ', out);
}

void kiln_table_print(const struct kiln_table *t, FILE *out)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->rows[r][c];
            size_t w = kiln_utf8_width(cell);
            int last = c + 1 == t->ncols;
            if (t->right[c] && r > 0)
                pad(out, t->width[c] - w);
            fputs(cell, out);
            if (!last && !(t->right[c] && r > 0))
                pad(out, t->width[c] - w);
            if (!last)
                fputs("  ", out);
        }
        fputc('\n', out);
        if (r == 0) {
            for (size_t c = 0; c < t->ncols; c++) {
                for (size_t i = 0; i < t->width[c]; i++)
                    fputs("─", out);
                if (c + 1 < t->ncols)
                    fputs("  ", out);
            }
            fputc('\n', out);
        }
    }
}

void kiln_table_free(struct kiln_table *t)
{
    if (t == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        free_row(t->rows[r], t->ncols);
    kiln_free(t->rows);
    kiln_free(t->width);
    kiln_free(t->right);
    kiln_free(t);
}

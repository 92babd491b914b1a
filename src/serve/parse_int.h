/*
 * parse_int.h - what the request parsers of src/serve share: the schema's fields, the growing
 * row matrix, field locations for error messages, and value conversion with signature checks.
 */
#ifndef KILN_SERVE_PARSE_INT_H
#define KILN_SERVE_PARSE_INT_H

#include <stdint.h>

#include "serve/jscan_int.h"
#include "serve/parse.h"

struct sc_input {
    const char *name;
    size_t len;
    enum kiln_rt_type type;
    int required;
    int allow_missing;
};

struct kiln_serve_schema {
    const struct kiln_rt_model *m;
    size_t F;
    struct sc_input *in;
    uint32_t *slots; /* open addressing: input index + 1, 0 = empty */
    size_t mask;
    /* Outputs. */
    int classifier;
    size_t n_classes, n_values;
    enum kiln_rt_mlflow_output mlflow_out;
    char **label_json; /* per class: the label as JSON text (a number, a string, a boolean) */
    size_t *label_len;
    const char *label_dtype; /* OIP datatype of the labels */
};

/* Index of the input named p[0..len): tries `hint` first, then the hash. -1 when unknown. */
long sc_find(const struct kiln_serve_schema *sc, const char *p, size_t len, size_t hint);

/*
 * Where a value sits in the request, for error messages: path, then "[i]" and "[j]" when set
 * (>= 0), then ".key" when key is set. Formatted only when an error happens.
 */
struct loc {
    const char *path;
    long i, j;
    const char *key;
    size_t key_len;
};

/* Formats loc into buf. */
void loc_fmt(const struct loc *l, char *buf, size_t size);

/* Sets err to KILN_EINVAL "<loc>: <message>". */
int loc_fail(const struct loc *l, struct kiln_err *err, const char *fmt, ...) KILN_PRINTF(3, 4);

/* The growing row matrix of a request (arena memory; rows start as NaN). */
struct rowbuf {
    const struct kiln_serve_schema *sc;
    struct kiln_arena *arena;
    double *x;
    size_t n, cap;
    struct kiln_err *err;
};

void rb_init(struct rowbuf *rb, const struct kiln_serve_schema *sc, struct kiln_arena *arena,
             struct kiln_err *err);
/* Makes room for `total` rows. KILN_ETOOBIG past KILN_SERVE_MAX_ROWS, KILN_ENOMEM. */
int rb_reserve(struct rowbuf *rb, size_t total);
/* Appends a row of NaN and returns it; NULL with err set on failure. */
double *rb_push(struct rowbuf *rb);

/*
 * Reads the next JSON value as the value of input j into *out and checks it against the
 * signature (type, NaN, category). Errors name `l`.
 */
int cell_json(struct js *s, const struct kiln_serve_schema *sc, size_t j, double *out,
              const struct loc *l);
/* Checks a numeric value for input j as kiln_rt_check_value does; errors name `l`. */
int cell_check(const struct kiln_serve_schema *sc, size_t j, double v, const struct loc *l,
               struct kiln_err *err);
/* Converts CSV cell text for input j (missing: NaN). Errors name `l`. */
int cell_text(const struct kiln_serve_schema *sc, size_t j, const char *p, size_t len, int missing,
              double *out, const struct loc *l, struct kiln_err *err);

/*
 * Checks the inputs not in `seen` (stamp != mark): a value absent from one row must allow
 * missing values; with `columns` (a column absent from the whole request, as MLflow's schema
 * enforcement sees it) the input must also not be `required`. Errors name `l`.
 */
int rows_check_missing(const struct kiln_serve_schema *sc, const uint32_t *seen, uint32_t mark,
                       int columns, const struct loc *l, struct kiln_err *err);

#endif

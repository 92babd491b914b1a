/*
 * parse.h - scoring request bodies -> rows for the inference runtime, and predictions -> the
 * response bodies the two serving protocols answer with.
 *
 * Requests (all parsers fill a dense row matrix in the model's input order, allocated from
 * the request arena; nothing else is allocated):
 *   - MLflow's scoring protocol, JSON (kiln_serve_parse_mlflow_json): an object with exactly
 *     one of `dataframe_split` ({"columns"?, "data", "index"?}), `dataframe_records`
 *     ([{col: value}]), `instances` or `inputs` (a list of rows, each a list in input order or
 *     an object by name, or a columnar object {col: [values]} / {col: value}); an optional
 *     `params` object is accepted and ignored (kiln models take no parameters).
 *   - MLflow's scoring protocol, CSV (kiln_serve_parse_csv): a header row naming the columns,
 *     then one row per line (RFC 4180 quoting; empty cells are missing values).
 *   - Open Inference Protocol v2 (kiln_serve_parse_oip): `inputs` holds either one tensor of
 *     shape [N, F] (or [F] for one row) with the features in input order, or one tensor per
 *     input named after it with shape [N] or [N, 1]; data flat or nested, row-major; datatypes
 *     BOOL, INT8..INT64, UINT8..UINT64, FP16/32/64, BYTES (strings). `id` is kept for the
 *     answer and `outputs` selects the outputs.
 *   Columns are matched by name (extra columns are ignored, as MLflow drops them; a missing
 *   required input is an error; a missing optional one is a missing value) or by position
 *   when a request gives none. Values are checked against the signature: numbers for numeric
 *   inputs (integral for long/integer, 0/1 or true/false for booleans), known categories for
 *   string inputs, null/NaN only where missing values are allowed.
 *   Errors name the field at fault: KILN_EPARSE for malformed JSON or CSV (line and column),
 *   KILN_EINVAL for a request that does not fit the model ("dataframe_split.data[2][1]: input
 *   'age': expected an integer (long)"), KILN_ENOMEM.
 *
 * A schema (kiln_serve_schema_new) is the per-model lookup the parsers use: input names hashed
 * once at load. It borrows the model and is read-only afterwards, so any number of threads may
 * parse with it at once.
 */
#ifndef KILN_SERVE_PARSE_H
#define KILN_SERVE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "runtime/runtime.h"

struct kiln_serve_schema;

/* Builds the schema of a loaded model (borrowed; must outlive the schema). KILN_ENOMEM. */
int kiln_serve_schema_new(const struct kiln_rt_model *m, struct kiln_serve_schema **out /* OUT */,
                          struct kiln_err *err);
void kiln_serve_schema_free(struct kiln_serve_schema *sc);

/* Rows parsed from a request: n x kiln_rt_n_inputs doubles, row-major, in the arena. */
struct kiln_serve_rows {
    double *x;
    size_t n;
};

/* The outputs a model answers with over OIP. */
enum kiln_serve_output {
    KILN_SERVE_OUT_LABEL = 0,         /* classifiers: class labels, shape [N] */
    KILN_SERVE_OUT_PROBABILITIES = 1, /* classifiers: shape [N, classes] */
    KILN_SERVE_OUT_PREDICTION = 2,    /* regressors: shape [N] or [N, outputs] */
};

#define KILN_SERVE_MAX_OUTPUTS 3

/* A parsed OIP inference request. */
struct kiln_serve_oip_req {
    struct kiln_serve_rows rows;
    const char *id; /* NULL when the request had none (arena or body) */
    size_t id_len;
    /* Requested outputs in request order; n_outputs == 0 means all of the model's outputs. */
    enum kiln_serve_output outputs[KILN_SERVE_MAX_OUTPUTS];
    size_t n_outputs;
};

/* Most rows one request may hold. */
#define KILN_SERVE_MAX_ROWS ((size_t)10000000)

int kiln_serve_parse_mlflow_json(const struct kiln_serve_schema *sc, const char *body, size_t len,
                                 struct kiln_arena *arena, struct kiln_serve_rows *out /* OUT */,
                                 struct kiln_err *err);
int kiln_serve_parse_csv(const struct kiln_serve_schema *sc, const char *body, size_t len,
                         struct kiln_arena *arena, struct kiln_serve_rows *out /* OUT */,
                         struct kiln_err *err);
int kiln_serve_parse_oip(const struct kiln_serve_schema *sc, const char *body, size_t len,
                         struct kiln_arena *arena, struct kiln_serve_oip_req *out /* OUT */,
                         struct kiln_err *err);

/*
 * Responses. `o` holds what kiln_rt_predict wrote for n rows (label and proba for
 * classifiers, value for regressors). The MLflow body is {"predictions": ...} shaped as
 * MLflow's pyfunc answers for this model (kiln_rt_mlflow_output: labels, p(class 1) or
 * per-class probabilities, values). The OIP body is {"model_name", "model_version", "id"?,
 * "outputs": [...]}. Errors are KILN_ETOOBIG/KILN_ENOMEM from the buffer.
 */
int kiln_serve_write_mlflow(const struct kiln_serve_schema *sc, const struct kiln_rt_out *o,
                            size_t n, struct kiln_buf *out);
int kiln_serve_write_oip(const struct kiln_serve_schema *sc, const struct kiln_serve_oip_req *req,
                         const struct kiln_rt_out *o, size_t n, const char *model_name,
                         const char *version, struct kiln_buf *out);

/* The OIP datatype of a signature type ("FP64", "INT64", "BOOL", "BYTES", ...). */
const char *kiln_serve_oip_datatype(enum kiln_rt_type t);

#endif

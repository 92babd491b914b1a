/*
 * runtime.h - kiln's inference runtime: load a model directory, then predict batches of rows.
 *
 * A model directory is an MLflow model directory: an `MLmodel` YAML file listing flavors plus
 * the files they name. kiln runs two flavors:
 *   - `kiln`: kiln's own documented format (docs/model-format.md): linear and logistic
 *     regression, tree ensembles, MLPs (fp64, fp32 or int8 weights) with preprocessing steps;
 *   - `xgboost`: models written by mlflow.xgboost (JSON, UBJ or legacy binary files, Booster
 *     or scikit-learn wrapper). Trees from plain gbtree models run on kiln's own tree engine
 *     (converted at load, same results as libxgboost); everything else runs through
 *     libxgboost when the build has it (KILN_HAVE_XGBOOST), else loading fails KILN_ENOTSUP.
 *
 * Input rows are dense doubles, row-major, one column per signature input in signature order.
 * A string input (a categorical feature) is passed as the code kiln_rt_encode returns for
 * its text; a boolean as 0 or 1; a missing value as NaN (refused unless the input allows it).
 *
 * Life cycle: loaded -> (warmed up) -> shared read-only by any number of threads -> freed.
 * kiln_rt_load and kiln_rt_warmup must finish before the model is shared; afterwards every
 * function taking a `const struct kiln_rt_model *` is thread-safe. A workspace belongs to one
 * thread at a time. With a workspace and caller-supplied output buffers, kiln_rt_predict does
 * not allocate.
 */
#ifndef KILN_RUNTIME_RUNTIME_H
#define KILN_RUNTIME_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct kiln_rt_model;
struct kiln_rt_ws;

/* What a model predicts. */
enum kiln_rt_task {
    KILN_RT_CLASSIFIER = 1, /* labels and class probabilities */
    KILN_RT_REGRESSOR = 2,  /* one or more real values per row */
};

/* What MLflow's pyfunc `predict` returns for this model, so servers can answer the same. */
enum kiln_rt_mlflow_output {
    KILN_RT_OUT_LABEL = 1, /* class labels (scikit-learn classifiers, XGBClassifier) */
    KILN_RT_OUT_PROBA = 2, /* probabilities: p(class 1) for binary, else one per class */
    KILN_RT_OUT_VALUE = 3, /* regression values */
};

/* Types of signature inputs (MLflow ColSpec type names). */
enum kiln_rt_type {
    KILN_RT_DOUBLE = 1,
    KILN_RT_FLOAT,
    KILN_RT_LONG,
    KILN_RT_INTEGER,
    KILN_RT_BOOLEAN,
    KILN_RT_STRING,
};

/* One input column of the model's signature. Borrowed from the model. */
struct kiln_rt_input {
    const char *name;
    enum kiln_rt_type type;
    int required;        /* MLflow `required`: a request must carry the column */
    int allow_missing;   /* NaN (or null) is accepted and handled by the model */
    size_t n_categories; /* string inputs: number of known values (codes 0..n-1) */
    int allow_unknown;   /* string inputs: unknown values are accepted (encoded as -1) */
};

/* A class label: its text, and its number when the label is numeric. */
struct kiln_rt_class {
    const char *text;
    int is_number;
    double number;
};

/* Which engine runs an xgboost model. */
enum kiln_rt_xgb_engine {
    KILN_RT_XGB_AUTO = 0,       /* kiln's tree engine when the model converts, else libxgboost */
    KILN_RT_XGB_NATIVE = 1,     /* kiln's tree engine only (KILN_ENOTSUP when it cannot) */
    KILN_RT_XGB_LIBXGBOOST = 2, /* libxgboost only */
};

struct kiln_rt_load_opts {
    enum kiln_rt_xgb_engine xgb_engine;
    int xgb_nthread;       /* libxgboost threads per predict call; 0 means 1 */
    size_t max_file_bytes; /* largest model file accepted; 0 means 1 GiB */
};

/*
 * Loads the model directory `dir`, choosing the flavor from its MLmodel file (`kiln` first,
 * then `xgboost`). Every file is validated completely: a malformed, truncated or hostile
 * file (out-of-range indices, cyclic trees, wrong dimensions, absurd sizes) fails with
 * KILN_EINVAL or KILN_EPARSE and a message naming the file and the field. KILN_ENOENT when
 * the directory or a file is missing, KILN_ENOTSUP for a flavor or feature this build cannot
 * run, KILN_ENOMEM. `opts` may be NULL. Records the load time (kiln_rt_load_ns).
 * OUT: *out, freed with kiln_rt_free.
 */
int kiln_rt_load(const char *dir, const struct kiln_rt_load_opts *opts,
                 struct kiln_rt_model **out /* OUT */, struct kiln_err *err);

/*
 * Loads a kiln-flavor model from the text of its model.json (no MLmodel, no directory), as
 * the fuzzer and embedders do. `name` labels error messages. Same errors as kiln_rt_load.
 */
int kiln_rt_load_kiln_json(const char *json, size_t len, const char *name,
                           struct kiln_rt_model **out /* OUT */, struct kiln_err *err);

/*
 * Loads a bare xgboost model from the bytes of its file (JSON, UBJ or legacy binary; the
 * last two need libxgboost) as a plain Booster would be. Same errors as kiln_rt_load.
 */
int kiln_rt_load_xgboost(const void *data, size_t len, const char *name,
                         const struct kiln_rt_load_opts *opts, struct kiln_rt_model **out /* OUT */,
                         struct kiln_err *err);

/* Frees a model; NULL is a no-op. No predict call may be running on it. */
void kiln_rt_free(struct kiln_rt_model *m);

/*
 * Runs `rounds` (0 means 16) predictions on synthetic rows (every input at a neutral value:
 * 0, the first category, or NaN when allowed) so that caches, lazily built libxgboost state
 * and page mappings are ready before traffic. Records kiln_rt_warmup_ns. Call before sharing.
 */
int kiln_rt_warmup(struct kiln_rt_model *m, unsigned rounds, struct kiln_err *err);

/* Introspection. All borrow from the model and are thread-safe. */
enum kiln_rt_task kiln_rt_task(const struct kiln_rt_model *m);
enum kiln_rt_mlflow_output kiln_rt_mlflow_output(const struct kiln_rt_model *m);
/* "kiln" or "xgboost". */
const char *kiln_rt_flavor(const struct kiln_rt_model *m);
/* The engine: "linear", "trees", "mlp-float64", "mlp-float32", "mlp-int8", "libxgboost". */
const char *kiln_rt_engine(const struct kiln_rt_model *m);
size_t kiln_rt_n_inputs(const struct kiln_rt_model *m);
/* Input i (i < kiln_rt_n_inputs), never NULL for a valid i. */
const struct kiln_rt_input *kiln_rt_input(const struct kiln_rt_model *m, size_t i);
/* Index of the input named name[0..len). KILN_ENOENT when there is none. */
int kiln_rt_find_input(const struct kiln_rt_model *m, const char *name, size_t len,
                       size_t *idx /* OUT */);
/* Classifiers: number of classes (>= 2) and class k's label; 0 and NULL for regressors. */
size_t kiln_rt_n_classes(const struct kiln_rt_model *m);
const struct kiln_rt_class *kiln_rt_class(const struct kiln_rt_model *m, size_t k);
/* Regressors: values per row (usually 1); 0 for classifiers. */
size_t kiln_rt_n_outputs(const struct kiln_rt_model *m);
/* Nanoseconds spent in kiln_rt_load and in the last kiln_rt_warmup (0 before one ran). */
int64_t kiln_rt_load_ns(const struct kiln_rt_model *m);
int64_t kiln_rt_warmup_ns(const struct kiln_rt_model *m);

/* The text of category `code` of string input `input`, or NULL (not a string input, unknown). */
const char *kiln_rt_category(const struct kiln_rt_model *m, size_t input, long code);

/*
 * Encodes the text s[0..len) of string input `input` into the value to put in the row: its
 * category code, or -1 for an unknown value when the input allows unknown values.
 * KILN_EINVAL naming the input when the value is unknown and not allowed, or when the input
 * is not a string input.
 */
int kiln_rt_encode(const struct kiln_rt_model *m, size_t input, const char *s, size_t len,
                   double *out /* OUT */, struct kiln_err *err);

/*
 * Checks one value for input `input` as kiln_rt_predict will: NaN only where allowed,
 * integers and booleans integral and in range, string codes valid. KILN_EINVAL naming the
 * input. Servers use it to reject a request field by field before predicting.
 */
int kiln_rt_check_value(const struct kiln_rt_model *m, size_t input, double v,
                        struct kiln_err *err);

/*
 * A workspace: scratch memory for kiln_rt_predict on this model (any batch size). One
 * thread at a time. NULL on KILN_ENOMEM. Free with kiln_rt_ws_free (NULL is a no-op).
 */
struct kiln_rt_ws *kiln_rt_ws_new(const struct kiln_rt_model *m);
void kiln_rt_ws_free(struct kiln_rt_ws *ws);

/*
 * Output buffers for kiln_rt_predict; each may be NULL when not wanted.
 * Classifiers: `label` gets the class index (kiln_rt_class) of each row and `proba`
 * n_rows x n_classes probabilities. Regressors: `value` gets n_rows x n_outputs values.
 */
struct kiln_rt_out {
    int32_t *label;
    double *proba;
    double *value;
};

/*
 * Predicts n_rows rows of x (n_rows x kiln_rt_n_inputs doubles, row-major). Every value is
 * checked as by kiln_rt_check_value first; KILN_EINVAL names the row and the input and no
 * output is written. `ws` may be NULL (a temporary one is allocated, KILN_ENOMEM possible);
 * it must have been made for this model. Thread-safe; allocation-free given a workspace.
 * KILN_EINTERNAL when libxgboost fails.
 */
int kiln_rt_predict(const struct kiln_rt_model *m, struct kiln_rt_ws *ws, const double *x,
                    size_t n_rows, const struct kiln_rt_out *out, struct kiln_err *err);

/* The MLflow type name of t ("double", "string", ...). */
const char *kiln_rt_type_name(enum kiln_rt_type t);

#endif

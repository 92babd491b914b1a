/*
 * mlmodel.h - MLflow `MLmodel` files: the YAML document at the root of a model directory
 * that lists the model's flavors and its signature.
 *
 * The YAML is parsed with libyaml into a jansson tree so the rest of kiln reads it with the
 * usual JSON getters: mappings become objects, sequences arrays, and every scalar a string,
 * except the plain scalars `null`, `~` and the empty scalar, which become JSON null. Anchors
 * and aliases, several documents, non-scalar or duplicate keys are refused, as are documents
 * deeper than 64 levels or with more than 100,000 nodes. Errors name the line and column.
 *
 * The signature's `inputs` (MLflow stores it as a JSON string) is parsed into columns: named
 * column specs (`{"type": "double", "name": "x", "required": true}`) or one 2-D tensor spec
 * (`{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}`), which
 * becomes columns named f0, f1, ...
 *
 * Ownership: a struct kiln_mlmodel owns everything it points at; free it with
 * kiln_mlmodel_free. Immutable once parsed, so it may be read from any thread.
 */
#ifndef KILN_RUNTIME_MLMODEL_H
#define KILN_RUNTIME_MLMODEL_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

/* Largest MLmodel file read. */
#define KILN_MLMODEL_MAX_BYTES ((size_t)1 << 20)

struct kiln_mlmodel_col {
    char *name;   /* column name ("f0", ... for tensor specs) */
    char *type;   /* MLflow type: double, float, long, integer, boolean, string, ... */
    int required; /* MLflow `required` (true when absent) */
};

struct kiln_mlmodel {
    json_t *root;      /* the whole document (owned) */
    json_t *flavors;   /* borrowed from root: the `flavors` object (never NULL) */
    int has_signature; /* a signature with inputs was present */
    int tensor_input;  /* the inputs were one tensor spec */
    size_t n_inputs;
    struct kiln_mlmodel_col *inputs;
};

/*
 * Parses MLmodel text. `name` labels errors ("MLmodel"). KILN_EPARSE for YAML syntax errors
 * (with line and column), KILN_EINVAL for a document that is not an MLmodel (no `flavors`
 * mapping, a malformed signature), KILN_ENOMEM. OUT: *out, freed with kiln_mlmodel_free.
 */
int kiln_mlmodel_parse(const char *text, size_t len, const char *name,
                       struct kiln_mlmodel **out /* OUT */, struct kiln_err *err);

/* Reads and parses DIR/MLmodel. KILN_ENOENT when it does not exist; else as above. */
int kiln_mlmodel_read(const char *dir, struct kiln_mlmodel **out /* OUT */, struct kiln_err *err);

void kiln_mlmodel_free(struct kiln_mlmodel *mm);

/* The flavor object named `flavor`, or NULL when the model does not list it. Borrowed. */
const json_t *kiln_mlmodel_flavor(const struct kiln_mlmodel *mm, const char *flavor);

/*
 * A string field of a flavor (for example ("xgboost", "data")); NULL when the flavor or the
 * field is absent or not a string. Borrowed.
 */
const char *kiln_mlmodel_flavor_str(const struct kiln_mlmodel *mm, const char *flavor,
                                    const char *field);

/* A top-level string field ("run_id", "model_uuid", ...) or NULL. Borrowed. */
const char *kiln_mlmodel_str(const struct kiln_mlmodel *mm, const char *field);

/*
 * Converts YAML text to a jansson tree by the rules above (the parser behind
 * kiln_mlmodel_parse, usable for other YAML files). OUT: *out owned by the caller.
 */
int kiln_mlmodel_yaml_to_json(const char *text, size_t len, const char *name,
                              json_t **out /* OUT */, struct kiln_err *err);

#endif

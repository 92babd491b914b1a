/*
 * search_filter.h - MLflow's search filter and order_by language, parsed once into an AST and
 * translated into SQL WHERE clauses with bound parameters (shared/reference/mlflow-api.md §8).
 *
 * Grammar (keywords case-insensitive):
 *
 *     filter      := "" | comparison { AND comparison }
 *     comparison  := identifier op value
 *     identifier  := [prefix "."] key
 *     prefix      := metric | metrics | param | params | parameter | parameters | tag | tags
 *                  | attribute | attributes | attr | run | dataset | datasets
 *     key         := bare word ([A-Za-z0-9_.] and UTF-8 letters; the first "." separates the
 *                    prefix) | `backtick quoted` | "double quoted"
 *     op          := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
 *     value       := number | 'single quoted' | "double quoted" | ( string {, string} )
 *     order_by    := identifier [ASC | DESC]
 *
 * An identifier without a prefix is an attribute. Inside a quoted string a doubled quote or a
 * backslash before the quote stands for the quote itself, and `\\` for one backslash; every
 * other byte (other backslashes included) is taken literally. OR, NOT (other than NOT IN) and
 * parentheses for grouping are rejected, as MLflow rejects them.
 *
 * Two steps:
 *   1. kiln_sf_parse / kiln_sf_parse_order_by read the text and resolve every identifier against
 *      an entity's schema (`struct kiln_sf_schema`: which prefixes exist, which attributes,
 *      their types and allowed operators). Errors are KILN_EINVAL with MLflow's wording and the
 *      position (1-based character offset) of the problem.
 *   2. kiln_sf_to_sql appends one SQL condition per comparison to a `struct kiln_sql` builder,
 *      from SQL templates the schema provides. Values are never copied into the SQL text: each
 *      becomes a `?` placeholder with an argument in the builder, bound later with
 *      kiln_sql_bind. Templates and column names in a schema are trusted constants.
 *
 * Every entity that MLflow lets users search (runs, experiments, registered models, model
 * versions, logged models) describes itself with one static schema; the parser and the SQL
 * translation are shared.
 *
 * Ownership: parse results are allocated from the caller's arena and live as long as it. A
 * kiln_sql owns its text buffer and argument array until kiln_sql_release; argument strings are
 * borrowed (they usually point into the AST or the request). Thread-safety: none needed; all
 * functions work on caller-owned data and schemas are read-only.
 */
#ifndef KILN_TRACKING_SEARCH_FILTER_H
#define KILN_TRACKING_SEARCH_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

struct kiln_stmt;

/* What an identifier names (its prefix). Bit values, so a schema can list a set of them. */
enum kiln_sf_kind {
    KILN_SF_ATTR = 1,
    KILN_SF_METRIC = 2,
    KILN_SF_PARAM = 4,
    KILN_SF_TAG = 8,
    KILN_SF_DATASET = 16,
};

enum kiln_sf_op {
    KILN_SF_EQ,
    KILN_SF_NE,
    KILN_SF_LT,
    KILN_SF_LE,
    KILN_SF_GT,
    KILN_SF_GE,
    KILN_SF_LIKE,
    KILN_SF_ILIKE,
    KILN_SF_IN,
    KILN_SF_NOT_IN,
};

/* Operator sets (bit i = enum kiln_sf_op value i). */
#define KILN_SF_OPBIT(op) (1u << (op))
#define KILN_SF_OPS_NUMERIC                                                              \
    (KILN_SF_OPBIT(KILN_SF_EQ) | KILN_SF_OPBIT(KILN_SF_NE) | KILN_SF_OPBIT(KILN_SF_LT) | \
     KILN_SF_OPBIT(KILN_SF_LE) | KILN_SF_OPBIT(KILN_SF_GT) | KILN_SF_OPBIT(KILN_SF_GE))
#define KILN_SF_OPS_STRING                                                                 \
    (KILN_SF_OPBIT(KILN_SF_EQ) | KILN_SF_OPBIT(KILN_SF_NE) | KILN_SF_OPBIT(KILN_SF_LIKE) | \
     KILN_SF_OPBIT(KILN_SF_ILIKE))
#define KILN_SF_OPS_STRING_IN \
    (KILN_SF_OPS_STRING | KILN_SF_OPBIT(KILN_SF_IN) | KILN_SF_OPBIT(KILN_SF_NOT_IN))

/* Limits that keep a filter's SQL well inside the database's expression and variable limits. */
#define KILN_SF_MAX_COMPARISONS 100
#define KILN_SF_MAX_LIST 1000
#define KILN_SF_MAX_TEXT 100000

enum kiln_sf_type {
    KILN_SF_STRING,
    KILN_SF_NUMBER,
};

/* Field flags. */
#define KILN_SF_ORDERABLE 1u  /* may appear in order_by */
#define KILN_SF_FILTERABLE 2u /* may appear in a filter */

/*
 * An attribute (or dataset field) an entity exposes. Several names may share one column
 * ("created" and "start_time"). `column` is the SQL expression compared (for attributes:
 * usually "<table>.<column>"; for dataset fields: a column of the dataset template's tables).
 * `canonical` is the name reported in order specs (NULL: same as name).
 */
struct kiln_sf_field {
    const char *name;
    const char *canonical;
    const char *column;
    enum kiln_sf_type type;
    unsigned ops;   /* allowed operators in filters */
    unsigned flags; /* KILN_SF_ORDERABLE | KILN_SF_FILTERABLE */
};

/*
 * SQL for one key-value kind (metrics, params, tags, datasets). `tmpl` is a complete SQL
 * condition in which "{key}" is replaced by a placeholder bound to the identifier's key and
 * "{cmp}" by the comparison of `value_col` (datasets: of the field's column) with the value.
 * Example for run params:
 *     "EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = runs.run_uuid AND p.key = {key}
 *      AND {cmp})"
 * `nan_col` (metrics only, may be NULL) names an integer column that is 1 when the stored
 * value is NaN: a NaN value then satisfies only "!=".
 */
struct kiln_sf_kind_sql {
    const char *tmpl;
    const char *value_col;
    const char *nan_col;
};

/* Everything the parser and the translator need to know about one searchable entity. */
struct kiln_sf_schema {
    const char *entity;   /* "runs", "experiments", ... (messages) */
    unsigned kinds;       /* allowed prefixes in filters (enum kiln_sf_kind bits) */
    unsigned order_kinds; /* allowed prefixes in order_by */
    const struct kiln_sf_field *attrs;
    size_t nattrs;
    const struct kiln_sf_field *dataset_fields;
    size_t ndataset_fields;
    unsigned metric_ops, param_ops, tag_ops; /* allowed operators per kind */
    struct kiln_sf_kind_sql metric, param, tag, dataset;
};

enum kiln_sf_vkind {
    KILN_SF_V_NUMBER,
    KILN_SF_V_STRING,
    KILN_SF_V_LIST,
};

struct kiln_sf_value {
    enum kiln_sf_vkind kind;
    const char *str;   /* STRING: the unquoted text; NUMBER: the literal as written */
    double num;        /* NUMBER */
    int64_t inum;      /* NUMBER when is_int */
    int is_int;        /* NUMBER written without fraction or exponent, fits int64 */
    const char **list; /* LIST: unquoted strings */
    size_t nlist;
};

struct kiln_sf_cmp {
    enum kiln_sf_kind kind;
    const char *key;                   /* metric/param/tag key, or the field name as written */
    const struct kiln_sf_field *field; /* ATTR and DATASET: the schema entry; else NULL */
    enum kiln_sf_op op;
    struct kiln_sf_value value;
};

/* A parsed filter: the conjunction of n comparisons (n == 0 matches everything). */
struct kiln_sf_filter {
    struct kiln_sf_cmp *cmps;
    size_t n;
};

/* One parsed order_by entry. */
struct kiln_sf_order {
    enum kiln_sf_kind kind;
    const char *key;                   /* metric/param/tag key, or the canonical field name */
    const struct kiln_sf_field *field; /* ATTR: the schema entry; else NULL */
    int desc;
};

/*
 * Parses and validates `filter` (NULL or blank: no comparisons) against `schema`. KILN_EINVAL
 * with a message naming the clause and position; KILN_ENOMEM. OUT: *out from `arena`.
 */
int kiln_sf_parse(const char *filter, const struct kiln_sf_schema *schema, struct kiln_arena *arena,
                  struct kiln_sf_filter **out /* OUT */, struct kiln_err *err);

/* Parses one order_by entry ("metrics.acc DESC"). KILN_EINVAL, KILN_ENOMEM. */
int kiln_sf_parse_order_by(const char *clause, const struct kiln_sf_schema *schema,
                           struct kiln_arena *arena, struct kiln_sf_order *out /* OUT */,
                           struct kiln_err *err);

/* "=", "!=", ..., "LIKE", "NOT IN" (static strings). */
const char *kiln_sf_op_name(enum kiln_sf_op op);
/* The canonical prefix of a kind ("metric", "parameter", "tag", "attribute", "dataset"). */
const char *kiln_sf_kind_name(enum kiln_sf_kind kind);

/* ---- SQL with bound parameters ---------------------------------------------------------- */

enum kiln_sql_arg_type {
    KILN_SQL_TEXT,
    KILN_SQL_INT64,
    KILN_SQL_DOUBLE,
};

struct kiln_sql_arg {
    enum kiln_sql_arg_type type;
    const char *text; /* borrowed */
    int64_t i;
    double d;
};

/*
 * A statement under construction: SQL text plus the arguments of its `?` placeholders, in
 * order. Append functions have a sticky error (like kiln_jsonw): call freely, then check
 * kiln_sql_status (or the rc of the last call) once.
 */
struct kiln_sql {
    struct kiln_buf text;
    struct kiln_sql_arg *args;
    size_t nargs, cap;
    int rc;
};

#define KILN_SQL_MAX_TEXT ((size_t)1 << 20)
#define KILN_SQL_MAX_ARGS 30000

void kiln_sql_init(struct kiln_sql *q);
void kiln_sql_release(struct kiln_sql *q);
/* Appends trusted SQL text (never a user value). */
int kiln_sql_add(struct kiln_sql *q, const char *sql);
/* Appends "?" and records its argument. */
int kiln_sql_text(struct kiln_sql *q, const char *s);
int kiln_sql_int64(struct kiln_sql *q, int64_t v);
int kiln_sql_double(struct kiln_sql *q, double v);
/* The first error of any append (KILN_ENOMEM, KILN_ETOOBIG), or KILN_OK. */
int kiln_sql_status(const struct kiln_sql *q);
/* Binds the recorded arguments to st, starting at placeholder `first` (normally 1). */
int kiln_sql_bind(const struct kiln_sql *q, struct kiln_stmt *st, int first);

/*
 * Appends " AND (<condition>)" for every comparison of f, using the schema's templates and
 * columns. KILN_ENOMEM, KILN_ETOOBIG, KILN_EINVAL for a comparison the schema cannot express.
 */
int kiln_sf_to_sql(const struct kiln_sf_filter *f, const struct kiln_sf_schema *schema,
                   struct kiln_sql *q, struct kiln_err *err);

/*
 * Appends the comparison of the SQL expression `col` with c's operator and value ("col > ?",
 * "LOWER(col) LIKE LOWER(?)", "col IN (?, ?)"). With nan_col, NaN rows (nan_col = 1) satisfy
 * only "!=". For entities whose SQL does not fit the template model.
 */
int kiln_sf_sql_compare(struct kiln_sql *q, const char *col, const char *nan_col,
                        const struct kiln_sf_cmp *c);

#endif

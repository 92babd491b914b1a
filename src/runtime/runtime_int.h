/*
 * runtime_int.h - what the files of src/runtime share; never included outside the folder.
 *
 * A loaded model is a signature (inputs, classes), an engine that turns a block of input
 * rows into K raw scores per row, and a link that turns raw scores into probabilities,
 * labels or values (model.c). Engines:
 *   - kiln flavor (kmodel.c): preprocessing (prep.c) then one estimator: linear.c, trees.c
 *     (tree ensembles, also used for converted xgboost models) or mlp.c (kernels.c);
 *   - xgboost flavor (xgb.c): kiln's tree engine on a converted model, or libxgboost.
 *
 * Everything reachable from a struct kiln_rt_model is immutable after load; scratch memory
 * comes from the caller's workspace, carved by each engine in the order it documents.
 */
#ifndef KILN_RUNTIME_RUNTIME_INT_H
#define KILN_RUNTIME_RUNTIME_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "runtime/runtime.h"

/* Rows handed to an engine at once; workspaces are sized for this many rows. */
#define RT_BLOCK 64
/* Limits that keep hostile model files from asking for absurd memory. */
#define RT_MAX_FEATURES ((size_t)1 << 20)
#define RT_MAX_OUTPUTS ((size_t)1 << 16)
#define RT_MAX_CATEGORIES ((size_t)1 << 20)
#define RT_MAX_TREES ((size_t)1 << 20)
#define RT_MAX_NODES ((size_t)1 << 26)
#define RT_MAX_DEPTH 256
#define RT_MAX_LAYERS 64
#define RT_MAX_WIDTH ((size_t)1 << 16)

/* Link from raw scores to what the model outputs. */
enum rt_link {
    RT_LINK_IDENTITY = 0,
    RT_LINK_SIGMOID, /* element-wise logistic; one score of a classifier is p(class 1) */
    RT_LINK_SOFTMAX,
    RT_LINK_OVR, /* logistic per class, then rows normalised to sum 1 (one-vs-rest) */
    RT_LINK_EXP,
};

/* Parses a link name; KILN_EINVAL naming `where` otherwise. */
int rt_link_parse(const char *s, enum rt_link *out, const char *where, struct kiln_err *err);

/* An engine: raw scores for nb <= RT_BLOCK rows of x (n_inputs wide), K per row. */
typedef int (*rt_run_fn)(const struct kiln_rt_model *m, unsigned char *scratch, const double *x,
                         size_t nb, double *raw, struct kiln_err *err);

/* Vocabulary of one string input: texts in code order, plus an index sorted by text. */
struct rt_vocab {
    size_t n;
    char **text;
    uint32_t *sorted; /* codes ordered by text (strcmp) */
};

struct kiln_rt_model {
    const char *flavor;
    const char *engine;
    enum kiln_rt_task task;
    enum kiln_rt_mlflow_output mlflow_out;
    size_t n_inputs;
    struct kiln_rt_input *inputs; /* names owned (allocated), see rt_model_free */
    struct rt_vocab *vocab;       /* n_inputs entries; n == 0 for non-string inputs */
    size_t n_classes;
    struct kiln_rt_class *classes; /* texts owned */
    size_t n_outputs;              /* regressors */
    size_t n_raw;                  /* K: raw scores per row from the engine */
    enum rt_link link;
    int link_f32;         /* apply the link in float32, as xgboost does */
    size_t scratch_bytes; /* engine scratch for RT_BLOCK rows */
    rt_run_fn run;
    void (*impl_free)(void *impl);
    void *impl;
    int64_t load_ns, warmup_ns;
};

/* model.c */
struct kiln_rt_model *rt_model_new(void);
/* Allocates n inputs (zeroed) and their vocabularies. KILN_ENOMEM. */
int rt_model_alloc_inputs(struct kiln_rt_model *m, size_t n);
/* Builds vocab i from texts (copied); duplicates are KILN_EINVAL. */
int rt_vocab_build(struct kiln_rt_model *m, size_t input, const char *const *texts, size_t n,
                   struct kiln_err *err);
/* Code of text in vocab of input i, or -1. */
long rt_vocab_find(const struct rt_vocab *v, const char *s, size_t len);
/* Parses an MLflow type name; KILN_ENOTSUP for known but unsupported ones. */
int rt_type_parse(const char *s, enum kiln_rt_type *out, const char *where, struct kiln_err *err);
/* Sets class k from a JSON label (string, integer or real). */
int rt_class_set(struct kiln_rt_model *m, size_t k, const json_t *label, struct kiln_err *err);
/* Sets classes 0..n-1 as numbers. */
int rt_classes_range(struct kiln_rt_model *m, size_t n);

/* Aligned scratch carving: returns the next `bytes` of *p (64-byte aligned) and advances. */
static inline void *rt_carve(unsigned char **p, size_t bytes)
{
    unsigned char *r = *p;
    *p += (bytes + 63) & ~(size_t)63;
    return r;
}
static inline size_t rt_round64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* JSON helpers for loaders (kmodel.c): every message names `where` and the field. */
int rt_json_size(const json_t *obj, const char *field, size_t max, size_t *out, const char *where,
                 struct kiln_err *err);
int rt_json_doubles(const json_t *arr, size_t n, double *out, const char *where,
                    struct kiln_err *err);
/* Integers (integral numbers) of arr into out (exactly n). */
int rt_json_ints(const json_t *arr, size_t n, int64_t *out, const char *where,
                 struct kiln_err *err);
/* Array field that must hold exactly n numbers (allocated copy). */
int rt_json_double_array(const json_t *obj, const char *field, size_t n, double **out,
                         const char *where, struct kiln_err *err);

/*
 * trees.c: tree ensembles. A tree is given as sklearn-like arrays (node 0 is the root; a leaf
 * has left == right == -1); rt_trees_add validates it (indices in range, every node reached
 * at most once from the root, depth bounded) and flattens it breadth-first so that the two
 * children of a node are adjacent. Decision rule: go left when x <= threshold; a NaN goes
 * left when missing_left, else right.
 */
struct rt_tree_in {
    size_t n_nodes;
    const int64_t *left, *right, *feature;
    const double *threshold;
    const unsigned char *missing_left; /* may be NULL: NaN goes right */
    const double *value;               /* n_nodes * leaf_size; read for leaves only */
    size_t output;                     /* output this tree adds to (leaf_size == 1) */
};

struct rt_trees_cfg {
    size_t n_features;
    size_t n_outputs; /* K */
    size_t leaf_size; /* 1 (each tree adds to one output) or K (leaves hold K values) */
    size_t n_trees;
    int mean;           /* average the trees instead of summing them */
    int input_f32;      /* round inputs to float32 before comparing */
    int acc_f32;        /* accumulate in float32 (xgboost), sum only */
    const double *base; /* K start values (NULL: zeros) */
};

struct rt_trees;
int rt_trees_new(const struct rt_trees_cfg *cfg, struct rt_trees **out, struct kiln_err *err);
int rt_trees_add(struct rt_trees *t, const struct rt_tree_in *in, const char *where,
                 struct kiln_err *err);
/* After all n_trees were added. */
int rt_trees_finish(struct rt_trees *t, struct kiln_err *err);
size_t rt_trees_scratch(const struct rt_trees *t);
/* raw: nb x K scores for nb rows of feat (ld doubles apart). */
void rt_trees_run(const struct rt_trees *t, const double *feat, size_t ld, size_t nb, double *raw,
                  unsigned char *scratch);
void rt_trees_free(struct rt_trees *t);
size_t rt_trees_count(const struct rt_trees *t);
/* Keeps only the first n trees (xgboost best_iteration). */
void rt_trees_truncate(struct rt_trees *t, size_t n);

/* trees_json.c: a kiln "tree_ensemble" model object -> rt_trees. */
int rt_trees_load_json(const json_t *j, size_t n_features, size_t n_raw, struct rt_trees **out,
                       const char *where, struct kiln_err *err);

/* linear.c: raw = intercept + coef . x */
struct rt_linear;
int rt_linear_load(const json_t *j, size_t n_features, size_t n_raw, struct rt_linear **out,
                   const char *where, struct kiln_err *err);
void rt_linear_run(const struct rt_linear *l, const double *feat, size_t ld, size_t nb,
                   double *raw);
void rt_linear_free(struct rt_linear *l);

/*
 * kernels.c: dense-layer kernels. The instruction set is picked once per load
 * (rt_isa_detect): AVX-512 VNNI (256-bit forms) for int8, AVX2+FMA for fp32 and int8, or
 * portable C. $KILN_RUNTIME_ISA ("generic", "avx2", "vnni") caps the choice, for tests and
 * comparisons. Integer results are identical on every path; fp32 results differ only by FMA
 * rounding.
 */
enum rt_isa { RT_ISA_GENERIC = 0, RT_ISA_AVX2 = 1, RT_ISA_VNNI = 2 };
enum rt_isa rt_isa_detect(void);
const char *rt_isa_name(enum rt_isa isa);

/* Memory aligned to 64 bytes; free with rt_afree. */
void *rt_aalloc(size_t bytes);
void rt_afree(void *p);

/* Widths rounded up for the kernels. */
#define RT_PAD_OUT(n) (((n) + 15) & ~(size_t)15)
#define RT_PAD_IN(n) (((n) + 3) & ~(size_t)3)

/*
 * fp32: w is n_in x ldw (ldw = RT_PAD_OUT(n_out), zero padded), b has ldw entries;
 * y[r][j] = b[j] + sum_i x[r][i] w[i][j] for j < ldw.
 */
void rt_k_f32_dense(enum rt_isa isa, const float *x, size_t ldx, size_t nb, const float *w,
                    size_t n_in, size_t ldw, const float *b, float *y, size_t ldy);

/*
 * int8: q[r][j] = sum_i xq[r][i] * wq[i][j] exactly, for j < ldw. The packed layout depends
 * on the isa (rt_k_s8_pack); xq rows hold RT_PAD_IN(n_in) bytes, zero padded.
 */
struct rt_s8w {
    enum rt_isa isa;
    size_t n_in, n_out, ldw;
    void *w;       /* packed weights (rt_aalloc) */
    int32_t *comp; /* VNNI: 128 * column sums, subtracted after the u8 x s8 products */
};
/* Packs wq (n_out rows of n_in int8, one row per output channel). KILN_ENOMEM. */
int rt_k_s8_pack(struct rt_s8w *pw, enum rt_isa isa, const int8_t *wq, size_t n_in, size_t n_out);
void rt_k_s8_release(struct rt_s8w *pw);
void rt_k_s8_gemm(const struct rt_s8w *pw, const int8_t *xq, size_t ldx, size_t nb, int32_t *q,
                  size_t ldq);
/*
 * Quantizes rows symmetrically: s[r] = max|x[r]| / 127, xq = round(x / s) in [-127, 127];
 * pads each row with zeros up to ldq elements. The element form depends on the isa and is
 * what rt_k_s8_gemm of the same isa reads: int8 (generic), int8 offset by 128 (VNNI, the
 * unsigned operand of vpdpbusd), int16 (AVX2, for vpmaddwd; rows take 2 * ldq bytes).
 */
void rt_k_quant_rows(enum rt_isa isa, const float *x, size_t ldx, size_t nb, size_t n, int8_t *xq,
                     size_t ldq, float *s);
/*
 * y[r][j] = (float)q[r][j] * (s[r] * scale[j]) + b[j] for j < n, then max(y, 0) when relu.
 */
void rt_k_dequant_rows(enum rt_isa isa, const int32_t *q, size_t ldq, size_t nb, size_t n,
                       const float *s, const float *scale, const float *b, int relu, float *y,
                       size_t ldy);
/* y[j] = max(y[j], 0) for j < n (NaN stays NaN). */
void rt_k_relu(enum rt_isa isa, float *y, size_t n);

/* mlp.c: dense layers; raw = the last layer's pre-activation output. */
struct rt_mlp;
int rt_mlp_load(const json_t *j, size_t n_features, size_t n_raw, struct rt_mlp **out,
                const char *where, struct kiln_err *err);
size_t rt_mlp_scratch(const struct rt_mlp *n);
void rt_mlp_run(const struct rt_mlp *n, const double *feat, size_t ld, size_t nb, double *raw,
                unsigned char *scratch);
const char *rt_mlp_engine(const struct rt_mlp *n);
void rt_mlp_free(struct rt_mlp *n);

/*
 * prep.c: preprocessing steps on one row. rt_prep_load resolves string categories through
 * the model's vocabularies and tracks which columns still hold category codes, so a code
 * can never reach arithmetic. `width` receives the number of columns the steps produce.
 */
struct rt_prep;
int rt_prep_load(const json_t *steps, const struct kiln_rt_model *m, struct rt_prep **out,
                 size_t *width /* OUT */, const char *where, struct kiln_err *err);
size_t rt_prep_scratch(const struct rt_prep *p);
int rt_prep_row(const struct rt_prep *p, const double *in, double *out, unsigned char *scratch,
                struct kiln_err *err);
void rt_prep_free(struct rt_prep *p);

/* kmodel.c: kiln flavor */
int rt_kiln_load_json(struct kiln_rt_model *m, const char *text, size_t len, const char *name,
                      struct kiln_err *err);

/*
 * xgb.c: the xgboost flavor. `data` is the model file's content (JSON, UBJ or legacy
 * binary), `mm` the MLmodel (NULL: a bare booster), `name` labels errors.
 */
struct kiln_mlmodel;
int rt_xgb_load(struct kiln_rt_model *m, const struct kiln_mlmodel *mm, const char *data,
                size_t len, const char *name, const struct kiln_rt_load_opts *opts,
                struct kiln_err *err);

/*
 * xgb_lib.c (libxgboost) or xgb_lib_stub.c (KILN_ENOTSUP): a booster loaded from memory.
 * XGBGetLastError() texts become kiln errors here, at the boundary.
 */
struct rt_xgblib;
int rt_xgblib_available(void);
/* Why it is not available (NULL when it is): the build lacks it, or dlopen failed. */
const char *rt_xgblib_why_not(void);
int rt_xgblib_open(const void *data, size_t len, int nthread, struct rt_xgblib **out,
                   const char *name, struct kiln_err *err);
/* The booster as xgboost JSON text (kiln_malloc'd, NUL-terminated). */
int rt_xgblib_json(struct rt_xgblib *b, char **json, size_t *len, const char *name,
                   struct kiln_err *err);
/* Prediction setup: output type (0 value, 1 margin), trees [0, iter_end) (0: all). */
int rt_xgblib_configure(struct rt_xgblib *b, size_t n_features, size_t n_out, int type,
                        unsigned iter_end, struct kiln_err *err);
int rt_xgblib_run(const struct rt_xgblib *b, const double *x, size_t nb, double *raw,
                  struct kiln_err *err);
void rt_xgblib_free(struct rt_xgblib *b);

#endif

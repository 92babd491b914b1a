/*
 * quant.h - int8 (or float32) versions of kiln MLP models, with an accuracy-drift report.
 *
 * kiln_quant_mlp reads a kiln-flavor MLP model directory, writes a new model directory in
 * which every dense layer has per-output-channel symmetric int8 weights
 * (scale_j = max_i |w_ji| / 127, q_ji = round(w_ji / scale_j)) — activations are quantized per
 * row at run time, so no activation range is baked in — then runs the original and the new
 * model on the calibration rows and reports how far apart they are and how much faster the
 * new one is. `kiln quantize` is a thin layer over it; the report is what a promotion gate
 * checks before the int8 model is registered.
 *
 * When opts->min_agreement is set and the all-int8 model agrees on fewer rows than that, the
 * output layer is kept in float32 and the model measured again (the report says so).
 *
 * Thread-safe (no shared state); the output directory is created atomically (a temporary
 * sibling renamed into place) and must not exist.
 */
#ifndef KILN_RUNTIME_QUANT_H
#define KILN_RUNTIME_QUANT_H

#include <stddef.h>

#include "core/err.h"
#include "core/json.h"

enum kiln_quant_dtype {
    KILN_QUANT_INT8 = 0,
    KILN_QUANT_FLOAT32 = 1,
};

struct kiln_quant_opts {
    enum kiln_quant_dtype dtype;
    double min_agreement; /* 0: none; else keep the output layer float32 below it */
    unsigned bench_ms;    /* time spent measuring each model (0: 300 ms) */
};

struct kiln_quant_report {
    size_t n_rows;
    char src_engine[24], dst_engine[24];
    int output_layer_fp32; /* the output layer was kept in float32 */
    int classifier;
    double agreement;      /* share of rows with the same label (classifiers; else NaN) */
    double max_abs_dproba; /* max |p_new - p_src| over rows and classes (classifiers) */
    double mean_abs_dproba;
    double max_abs_dvalue;                 /* regressors: max |v_new - v_src| */
    double max_rel_dvalue;                 /* regressors: max |v_new - v_src| / max(1, |v_src|) */
    double src_ns_per_row, dst_ns_per_row; /* batch prediction over the calibration rows */
    double src_ns_single, dst_ns_single;   /* one row per call */
    double speedup, speedup_single;        /* src time / new time */
    size_t src_bytes, dst_bytes;           /* model.json sizes */
};

/*
 * Quantizes the MLP model in src_dir into out_dir and measures it on n_rows calibration rows
 * (n_rows x inputs doubles, as kiln_rt_predict takes them; at least 1). opts may be NULL.
 * KILN_EINVAL when the model is not a kiln MLP (or already int8) or a calibration value is
 * invalid (naming row and input), KILN_EEXIST when out_dir exists, KILN_EIO, KILN_ENOMEM.
 */
int kiln_quant_mlp(const char *src_dir, const double *calib, size_t n_rows, const char *out_dir,
                   const struct kiln_quant_opts *opts, struct kiln_quant_report *rep /* OUT */,
                   struct kiln_err *err);

/* The report as one JSON object. */
void kiln_quant_report_json(const struct kiln_quant_report *r, struct kiln_jsonw *w);

#endif

/*
 * evaluate_cli.h - what the two files of `kiln evaluate` share: the evaluation (inputs,
 * metrics, report) and recording it on the tracking server (evaluate_record.c).
 */
#ifndef KILN_CLI_EVALUATE_CLI_H
#define KILN_CLI_EVALUATE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "runtime/eval.h"
#include "runtime/runtime.h"
#include "serve/fetch.h"

struct evaluation {
    const char *uri;
    const struct kiln_fetched *model; /* name/version/run when the URI named a registry version */
    const struct kiln_rt_model *m;
    const char *data_path, *dataset_name;
    char digest[17];
    uint64_t rows;
    int classifier, binary;
    double threshold;          /* binary classifiers */
    struct kiln_eval_cls *cls; /* classifiers */
    struct kiln_eval_reg reg;  /* regressors */
    size_t curve_points;       /* most PR-curve points in reports */
    char run_id[64];           /* the tracking run that recorded it ("" when none) */
    int recorded_registry;
};

/*
 * Writes the evaluation as the JSON report (what --json prints and the run stores as an
 * artifact). Errors are sticky in the buffer (KILN_ENOMEM/KILN_ETOOBIG).
 */
int kiln_eval_report_json(const struct evaluation *e, struct kiln_buf *out);

/*
 * Records the evaluation: a tracking run in `experiment` (name or id; NULL: the model's source
 * run's experiment, else Default) with params, metrics, the dataset as an input and the report
 * as evaluation.json, and, when the model is a registry version, the version's evaluation on
 * the dataset (POST /api/kiln/v1/models/evaluations, linked to the run). Fills e->run_id and
 * e->recorded_registry. The run ends FINISHED, or FAILED when a later step fails.
 */
int kiln_eval_record(struct evaluation *e, const char *tracking_flag, const char *experiment,
                     struct kiln_err *err);

#endif

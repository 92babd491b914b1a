/*
 * evaluate.c - `kiln evaluate URI --data holdout.csv --target COLUMN`: a model's metrics on
 * held-out data (runtime/eval.h, scikit-learn's definitions), printed as a table or --json,
 * and recorded (evaluate_record.c) as the model version's evaluation on that dataset (name +
 * content digest) and as a tracking run.
 *
 * The data streams through serve/batch.h (every core, rows in order); predictions and targets
 * are kept (n x classes numbers: ROC and PR curves need every score). Targets of classifiers
 * are matched to the model's class labels by text, else by number ("1.0" is class 1).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/dataplane_cli.h"
#include "cli/evaluate_cli.h"
#include "cli/quality_cli.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "quality/num.h"
#include "serve/batch.h"
#include "core/digest.h"

static const char usage[] =
    "usage: kiln evaluate URI --data FILE --target COLUMN [options]\n"
    "\n"
    "Evaluates a model on held-out data: accuracy, precision, recall, F1 (binary and macro),\n"
    "ROC AUC, PR AUC (average precision), log loss, the confusion matrix and the\n"
    "precision-recall curve for classifiers; MSE, RMSE, MAE and R^2 for regressors. A registry\n"
    "URI's evaluation is recorded on that version for the dataset (its name and content\n"
    "digest), together with a tracking run holding the metrics and the report.\n"
    "\n"
    "options:\n"
    "  --data FILE            CSV or JSON Lines with the model's inputs and the target\n"
    "  --target COLUMN        the column holding the true label or value\n"
    "  --dataset-name NAME    the dataset's name (default: the file name without extension)\n"
    "  --json                 print the report as JSON\n"
    "  --threshold T          binary classifiers: predict class 1 when p >= T (default 0.5)\n"
    "  --curve-points N       most precision-recall curve points in reports (default 100)\n"
    "  --experiment NAME      experiment of the tracking run (default: the model's run's)\n"
    "  --no-record            do not record anything on the tracking server\n"
    "  --record               record a model folder's evaluation as a tracking run too\n"
    "  --workers N            prediction threads (default: the number of cores)\n"
    "  --format F             data format: csv, jsonl or auto (default)\n"
    "  --delimiter C          CSV delimiter\n"
    "  --tracking-uri URI     tracking server\n"
    "  --quiet                no progress line\n"
    "\n"
    "Documentation: docs/serving.md\n";

/* Predictions and targets collected in row order. */
struct ectx {
    const struct kiln_rt_model *m;
    size_t C, V;
    int32_t *y_pred, *y_cls;
    double *proba, *value, *y;
    size_t n, cap;
    char classes[600];
};

static int target_fn(void *arg, const char *p, size_t len, int missing, double *out,
                     struct kiln_err *err)
{
    struct ectx *c = arg;
    double v;
    if (missing)
        return kiln_err_set(err, KILN_EINVAL, "the target is missing");
    if (c->C == 0) {
        if (kiln_num_parse(p, len, &v) == KILN_NUM_NONE)
            return kiln_err_set(err, KILN_EINVAL, "target '%.*s' is not a number",
                                (int)(len > 40 ? 40 : len), p);
        *out = v;
        return KILN_OK;
    }
    for (size_t k = 0; k < c->C; k++) {
        const char *t = kiln_rt_class(c->m, k)->text;
        if (strlen(t) == len && memcmp(t, p, len) == 0) {
            *out = (double)k;
            return KILN_OK;
        }
    }
    if (kiln_num_parse(p, len, &v) != KILN_NUM_NONE)
        for (size_t k = 0; k < c->C; k++) {
            const struct kiln_rt_class *cl = kiln_rt_class(c->m, k);
            if (cl->is_number && cl->number == v) {
                *out = (double)k;
                return KILN_OK;
            }
        }
    return kiln_err_set(err, KILN_EINVAL, "target '%.*s' is not one of the model's classes (%s)",
                        (int)(len > 40 ? 40 : len), p, c->classes);
}

static int grow(struct ectx *c, size_t need)
{
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap == c->cap)
        return KILN_OK;
    if (c->C > 0) {
        int32_t *yp = kiln_reallocarray(c->y_pred, cap, sizeof(int32_t));
        int32_t *yc = yp != NULL ? kiln_reallocarray(c->y_cls, cap, sizeof(int32_t)) : NULL;
        double *pr;
        if (yp != NULL)
            c->y_pred = yp;
        if (yc != NULL)
            c->y_cls = yc;
        pr = yc != NULL ? kiln_reallocarray(c->proba, cap * c->C, sizeof(double)) : NULL;
        if (pr == NULL)
            return KILN_ENOMEM;
        c->proba = pr;
    } else {
        double *v = kiln_reallocarray(c->value, cap * c->V, sizeof(double));
        double *y = v != NULL ? kiln_reallocarray(c->y, cap, sizeof(double)) : NULL;
        if (v != NULL)
            c->value = v;
        if (y == NULL)
            return KILN_ENOMEM;
        c->y = y;
    }
    c->cap = cap;
    return KILN_OK;
}

static int sink(void *arg, const struct kiln_batch_block *b, struct kiln_err *err)
{
    struct ectx *c = arg;
    if (grow(c, c->n + b->n) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory keeping %zu predictions", c->n + b->n);
    if (c->C > 0) {
        memcpy(c->y_pred + c->n, b->out.label, b->n * sizeof(int32_t));
        memcpy(c->proba + c->n * c->C, b->out.proba, b->n * c->C * sizeof(double));
        for (size_t r = 0; r < b->n; r++)
            c->y_cls[c->n + r] = (int32_t)b->target[r];
    } else {
        memcpy(c->value + c->n * c->V, b->out.value, b->n * c->V * sizeof(double));
        memcpy(c->y + c->n, b->target, b->n * sizeof(double));
    }
    c->n += b->n;
    return KILN_OK;
}

static void ectx_release(struct ectx *c)
{
    kiln_free(c->y_pred);
    kiln_free(c->y_cls);
    kiln_free(c->proba);
    kiln_free(c->value);
    kiln_free(c->y);
}

/* Metrics from the collected predictions; regressors are scored on their first output. */
static int compute(struct evaluation *e, struct ectx *c, struct kiln_err *err)
{
    int rc;
    if (c->n == 0)
        return kiln_err_set(err, KILN_EINVAL, "%s: no data rows to evaluate on", e->data_path);
    if (c->C == 0) {
        double *pred = c->value;
        if (c->V > 1) {
            for (size_t r = 0; r < c->n; r++)
                c->value[r] = c->value[r * c->V];
        }
        return kiln_eval_regression(c->y, pred, c->n, &e->reg, err);
    }
    if (e->binary)
        for (size_t r = 0; r < c->n; r++)
            c->y_pred[r] = c->proba[r * 2 + 1] >= e->threshold;
    rc = kiln_eval_classification(c->y_cls, c->y_pred, c->proba, c->n, c->C, &e->cls, err);
    return rc;
}

static void kv_metric(struct kiln_jsonw *w, const char *key, double v)
{
    if (isfinite(v))
        kiln_jsonw_kv_double(w, key, v);
}

int kiln_eval_report_json(const struct evaluation *e, struct kiln_buf *out)
{
    struct kiln_jsonw w;
    char version[32];
    kiln_jsonw_init(&w, out);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "model_uri", e->uri);
    kiln_jsonw_key(&w, "model");
    if (e->model->name != NULL)
        kiln_jsonw_str(&w, e->model->name);
    else
        kiln_jsonw_null(&w);
    kiln_jsonw_key(&w, "version");
    snprintf(version, sizeof(version), "%lld", (long long)e->model->version);
    if (e->model->version > 0)
        kiln_jsonw_str(&w, version);
    else
        kiln_jsonw_null(&w);
    kiln_jsonw_key(&w, "run_id");
    if (e->run_id[0] != '\0')
        kiln_jsonw_str(&w, e->run_id);
    else
        kiln_jsonw_null(&w);
    kiln_jsonw_key(&w, "dataset");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", e->dataset_name);
    kiln_jsonw_kv_str(&w, "digest", e->digest);
    kiln_jsonw_kv_str(&w, "path", e->data_path);
    kiln_jsonw_kv_int(&w, "rows", (int64_t)e->rows);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_kv_str(&w, "task", e->classifier ? "classification" : "regression");
    if (e->binary)
        kiln_jsonw_kv_double(&w, "threshold", e->threshold);
    kiln_jsonw_key(&w, "metrics");
    kiln_jsonw_obj_begin(&w);
    if (e->classifier) {
        const struct kiln_eval_cls *r = e->cls;
        kv_metric(&w, "accuracy", r->accuracy);
        kv_metric(&w, "precision", r->precision);
        kv_metric(&w, "recall", r->recall);
        kv_metric(&w, "f1", r->f1);
        kv_metric(&w, "precision_macro", r->precision_macro);
        kv_metric(&w, "recall_macro", r->recall_macro);
        kv_metric(&w, "f1_macro", r->f1_macro);
        kv_metric(&w, "roc_auc", r->roc_auc);
        kv_metric(&w, "pr_auc", r->pr_auc);
        kv_metric(&w, "log_loss", r->log_loss);
    } else {
        kv_metric(&w, "mse", e->reg.mse);
        kv_metric(&w, "rmse", e->reg.rmse);
        kv_metric(&w, "mae", e->reg.mae);
        kv_metric(&w, "r2", e->reg.r2);
    }
    kiln_jsonw_obj_end(&w);
    if (e->classifier) {
        const struct kiln_eval_cls *r = e->cls;
        size_t C = r->n_classes, step = 1;
        kiln_jsonw_key(&w, "classes");
        kiln_jsonw_arr_begin(&w);
        for (size_t k = 0; k < C; k++)
            kiln_jsonw_str(&w, kiln_rt_class(e->m, k)->text);
        kiln_jsonw_arr_end(&w);
        kiln_jsonw_key(&w, "confusion_matrix");
        kiln_jsonw_arr_begin(&w);
        for (size_t i = 0; i < C; i++) {
            kiln_jsonw_arr_begin(&w);
            for (size_t j = 0; j < C; j++)
                kiln_jsonw_int(&w, (int64_t)r->confusion[i * C + j]);
            kiln_jsonw_arr_end(&w);
        }
        kiln_jsonw_arr_end(&w);
        kiln_jsonw_key(&w, "per_class");
        kiln_jsonw_arr_begin(&w);
        for (size_t k = 0; k < C; k++) {
            kiln_jsonw_obj_begin(&w);
            kiln_jsonw_kv_str(&w, "label", kiln_rt_class(e->m, k)->text);
            kiln_jsonw_kv_double(&w, "precision", r->per_class[k].precision);
            kiln_jsonw_kv_double(&w, "recall", r->per_class[k].recall);
            kiln_jsonw_kv_double(&w, "f1", r->per_class[k].f1);
            kiln_jsonw_kv_int(&w, "support", (int64_t)r->per_class[k].support);
            kiln_jsonw_kv_int(&w, "predicted", (int64_t)r->per_class[k].predicted);
            kiln_jsonw_obj_end(&w);
        }
        kiln_jsonw_arr_end(&w);
        kiln_jsonw_key(&w, "pr_curve");
        kiln_jsonw_arr_begin(&w);
        if (e->curve_points > 1 && r->n_curve > e->curve_points)
            step = (r->n_curve + e->curve_points - 2) / (e->curve_points - 1);
        for (size_t k = 0; k < r->n_curve; k++) {
            if (k % step != 0 && k + 1 != r->n_curve)
                continue;
            kiln_jsonw_obj_begin(&w);
            kiln_jsonw_kv_double(&w, "threshold", r->curve[k].threshold);
            kiln_jsonw_kv_double(&w, "precision", r->curve[k].precision);
            kiln_jsonw_kv_double(&w, "recall", r->curve[k].recall);
            kiln_jsonw_obj_end(&w);
        }
        kiln_jsonw_arr_end(&w);
    }
    kiln_jsonw_key(&w, "recorded");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_bool(&w, "registry", e->recorded_registry);
    kiln_jsonw_kv_bool(&w, "tracking", e->run_id[0] != '\0');
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_jsonw_finish(&w);
}

static void print_num(const char *name, double v)
{
    if (isfinite(v))
        printf("  %-16s %.6g\n", name, v);
}

static void print_table(const struct evaluation *e)
{
    char rows[32];
    kiln_dcli_count(e->rows, rows, sizeof(rows));
    printf("model    %s", e->uri);
    if (e->model->name != NULL && e->model->version > 0)
        printf(" (%s version %lld)", e->model->name, (long long)e->model->version);
    printf("\ndataset  %s (digest %s, %s rows)\n\nmetrics\n", e->dataset_name, e->digest, rows);
    if (!e->classifier) {
        print_num("mse", e->reg.mse);
        print_num("rmse", e->reg.rmse);
        print_num("mae", e->reg.mae);
        print_num("r2", e->reg.r2);
    } else {
        const struct kiln_eval_cls *r = e->cls;
        size_t C = r->n_classes, width = 9;
        print_num("accuracy", r->accuracy);
        print_num("precision", r->precision);
        print_num("recall", r->recall);
        print_num("f1", r->f1);
        print_num("precision_macro", r->precision_macro);
        print_num("recall_macro", r->recall_macro);
        print_num("f1_macro", r->f1_macro);
        print_num("roc_auc", r->roc_auc);
        print_num("pr_auc", r->pr_auc);
        print_num("log_loss", r->log_loss);
        if (e->binary)
            printf("  (threshold %g)\n", e->threshold);
        for (size_t k = 0; k < C; k++) {
            size_t l = strlen(kiln_rt_class(e->m, k)->text);
            width = l + 2 > width ? (l + 2 > 24 ? 24 : l + 2) : width;
        }
        printf("\nper class\n  %-*s %9s %9s %9s %9s\n", (int)width, "CLASS", "PRECISION", "RECALL",
               "F1", "SUPPORT");
        for (size_t k = 0; k < C; k++)
            printf("  %-*.*s %9.4f %9.4f %9.4f %9llu\n", (int)width, (int)width,
                   kiln_rt_class(e->m, k)->text, r->per_class[k].precision, r->per_class[k].recall,
                   r->per_class[k].f1, (unsigned long long)r->per_class[k].support);
        if (C <= 20) {
            printf("\nconfusion matrix (rows: true class, columns: predicted)\n  %-*s", (int)width,
                   "");
            for (size_t j = 0; j < C; j++)
                printf(" %9.9s", kiln_rt_class(e->m, j)->text);
            for (size_t i = 0; i < C; i++) {
                printf("\n  %-*.*s", (int)width, (int)width, kiln_rt_class(e->m, i)->text);
                for (size_t j = 0; j < C; j++)
                    printf(" %9llu", (unsigned long long)r->confusion[i * C + j]);
            }
            printf("\n");
        }
    }
    if (e->run_id[0] != '\0' || e->recorded_registry)
        printf("\nrecorded:%s%s%s%s\n",
               e->recorded_registry ? " the version's evaluation on this dataset" : "",
               e->recorded_registry && e->run_id[0] ? ";" : "",
               e->run_id[0] ? " tracking run " : "", e->run_id);
}

struct eopts {
    const char *uri, *data, *target, *dataset_name, *threshold, *experiment, *format, *delimiter,
        *tracking;
    int json, no_record, record, quiet;
    int64_t workers, curve_points;
};

/* The dataset's default name: the file's base name without its extension. */
static void base_name(const char *path, char *out, size_t size)
{
    const char *s = strrchr(path, '/'), *dot;
    s = s != NULL ? s + 1 : path;
    dot = strrchr(s, '.');
    snprintf(out, size, "%.*s", (int)(dot != NULL && dot > s ? (size_t)(dot - s) : strlen(s)), s);
}

static int run(const struct eopts *o)
{
    struct kiln_fetched f = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_table_reader *in = NULL;
    struct kiln_table_opts topts;
    struct kiln_batch_opts bo;
    struct kiln_batch_stats st;
    struct kiln_dcli_progress prog;
    struct kiln_err err = { 0 };
    struct evaluation e;
    struct ectx c;
    struct kiln_buf report;
    char hex[65], dname[256];
    int rc;

    memset(&e, 0, sizeof(e));
    memset(&c, 0, sizeof(c));
    kiln_buf_init(&report, (size_t)64 << 20);
    rc = kiln_qcli_table_opts(o->format, o->delimiter, 0, &topts, &err);
    if (rc == KILN_OK && strcmp(o->data, "-") == 0)
        rc =
            kiln_err_set(&err, KILN_EINVAL, "--data must be a file (its digest names the dataset)");
    if (rc == KILN_OK)
        rc = kiln_file_sha256_hex(o->data, hex, &err);
    if (rc == KILN_OK)
        rc = kiln_dcli_load(o->uri, o->tracking, &f, &m, &err);
    if (rc == KILN_OK)
        rc = kiln_table_reader_open(o->data, &topts, &in, &err);
    if (rc != KILN_OK)
        goto out;
    base_name(o->data, dname, sizeof(dname));
    e.uri = o->uri;
    e.model = &f;
    e.m = m;
    e.data_path = o->data;
    e.dataset_name = o->dataset_name != NULL ? o->dataset_name : dname;
    memcpy(e.digest, hex, 16);
    e.classifier = kiln_rt_task(m) == KILN_RT_CLASSIFIER;
    e.binary = e.classifier && kiln_rt_n_classes(m) == 2;
    e.threshold = 0.5;
    e.curve_points = (size_t)o->curve_points;
    if (o->threshold != NULL &&
        (kiln_parse_double(o->threshold, strlen(o->threshold), &e.threshold) != KILN_OK ||
         !(e.threshold >= 0 && e.threshold <= 1) || !e.binary)) {
        rc = kiln_err_set(&err, KILN_EINVAL,
                          "--threshold needs a number in [0, 1] and a binary classifier");
        goto out;
    }
    c.m = m;
    c.C = kiln_rt_n_classes(m);
    c.V = kiln_rt_n_outputs(m);
    for (size_t k = 0, n = 0; k < c.C && n + 1 < sizeof(c.classes); k++) {
        int w = snprintf(c.classes + n, sizeof(c.classes) - n, "%s%s", k ? ", " : "",
                         kiln_rt_class(m, k)->text);
        n = w < 0 ? sizeof(c.classes) : n + (size_t)w;
    }
    memset(&bo, 0, sizeof(bo));
    bo.workers = (int)o->workers;
    bo.target_column = o->target;
    bo.target_fn = target_fn;
    bo.sink = sink;
    bo.ctx = &c;
    kiln_dcli_progress_init(&prog, "evaluate", o->quiet);
    bo.progress = kiln_dcli_progress;
    bo.progress_ctx = &prog;
    rc = kiln_batch_run(m, in, &bo, &st, &err);
    kiln_dcli_progress_done(&prog);
    e.rows = c.n;
    if (rc == KILN_OK)
        rc = compute(&e, &c, &err);
    if (rc == KILN_OK && !o->no_record && (f.remote || o->record))
        rc = kiln_eval_record(&e, o->tracking, o->experiment, &err);
    if (rc == KILN_OK && o->json) {
        rc = kiln_eval_report_json(&e, &report);
        if (rc == KILN_OK)
            puts(report.buf);
        else
            kiln_err_set(&err, rc, "cannot write the report");
    } else if (rc == KILN_OK) {
        print_table(&e);
    }
out:
    kiln_eval_cls_free(e.cls);
    ectx_release(&c);
    kiln_buf_release(&report);
    kiln_table_reader_free(in);
    kiln_rt_free(m);
    kiln_fetch_release(&f);
    return rc == KILN_OK ? KILN_EXIT_OK : kiln_cli_fail("evaluate: %s", err.msg);
}

int kiln_cmd_evaluate(int argc, char **argv)
{
    struct eopts o = { 0 };
    struct kiln_strv pos = { 0 };
    struct kiln_opt opts[] = {
        { "data", 'd', KILN_OPT_STR, &o.data },
        { "target", 't', KILN_OPT_STR, &o.target },
        { "dataset-name", 0, KILN_OPT_STR, &o.dataset_name },
        { "json", 0, KILN_OPT_FLAG, &o.json },
        { "threshold", 0, KILN_OPT_STR, &o.threshold },
        { "curve-points", 0, KILN_OPT_INT, &o.curve_points },
        { "experiment", 0, KILN_OPT_STR, &o.experiment },
        { "no-record", 0, KILN_OPT_FLAG, &o.no_record },
        { "record", 0, KILN_OPT_FLAG, &o.record },
        { "workers", 'w', KILN_OPT_INT, &o.workers },
        { "format", 0, KILN_OPT_STR, &o.format },
        { "delimiter", 0, KILN_OPT_STR, &o.delimiter },
        { "tracking-uri", 0, KILN_OPT_STR, &o.tracking },
        { "quiet", 'q', KILN_OPT_FLAG, &o.quiet },
    };
    struct kiln_err err = { 0 };
    int rc;

    o.curve_points = 100;
    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(usage, stdout);
        rc = KILN_EXIT_OK;
    } else if (rc != KILN_OK) {
        rc = kiln_cli_fail("evaluate: %s (see 'kiln evaluate --help')", err.msg);
    } else if (pos.n != 1 || o.data == NULL || o.target == NULL) {
        rc = kiln_cli_fail("evaluate: give one model URI, --data and --target (see 'kiln "
                           "evaluate --help')");
    } else if (o.workers < 0 || o.workers > 256 || o.curve_points < 2 || o.curve_points > 10000) {
        rc = kiln_cli_fail("evaluate: --workers (0-256) or --curve-points (2-10000) out of range");
    } else if (o.dataset_name != NULL &&
               (*o.dataset_name == '\0' || strlen(o.dataset_name) > 250)) {
        rc = kiln_cli_fail("evaluate: --dataset-name needs 1 to 250 characters");
    } else {
        o.uri = pos.v[0];
        rc = run(&o);
    }
    kiln_strv_release(&pos);
    return rc;
}

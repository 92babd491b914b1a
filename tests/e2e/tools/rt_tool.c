/*
 * rt_tool.c - test driver for the runtime library, used by tests/e2e/test_runtime_*.py.
 * Not installed; not part of the kiln CLI.
 *
 *   rt_tool features                        {"libxgboost": true|false}
 *   rt_tool info DIR                        model summary as JSON
 *   rt_tool predict DIR [--engine auto|native|lib] [--batch N] [--threads T] [--warmup]
 *       reads CSV rows (header = input names, any order) from stdin and prints one line per
 *       row: the class index then the probabilities, or the values, with %.17g. With
 *       --threads T every thread predicts all rows concurrently and the results must agree.
 *   rt_tool xgb FILE [--engine ...]         like predict, for a bare xgboost model file
 *   rt_tool eval classification N_CLASSES [--threshold T]   stdin: y_true,y_pred,p0..p(C-1)
 *   rt_tool eval regression                                  stdin: y_true,y_pred
 *   rt_tool quantize SRC OUT [--dtype int8|float32]          stdin: calibration CSV
 *
 * Empty CSV fields and "nan" are missing values. Errors: "error: <message>" on stderr and
 * exit status 2.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kiln_config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "runtime/eval.h"
#include "runtime/quant.h"
#include "runtime/runtime.h"

/* Exits at once: whatever the caller holds stays reachable for LeakSanitizer. */
static _Noreturn void die_now(const char *msg)
{
    fprintf(stderr, "error: %s\n", msg);
    fflush(stdout);
    exit(2);
}

static int die(const char *msg)
{
    die_now(msg);
}

struct table {
    size_t ncols, nrows;
    char **header;
    char ***cells; /* nrows x ncols */
};

static size_t count_fields(const char *line)
{
    size_t n = 1;
    for (const char *p = line; *p; p++)
        n += *p == ',';
    return n;
}

/* Splits line at commas in place into out (n = count_fields(line) entries). */
static void split(char *line, char **out)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        out[n++] = p;
        if (c == NULL)
            break;
        *c = '\0';
        p = c + 1;
    }
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Reads a CSV with a header from stdin (no quoting). */
static int read_table(struct table *t, int header)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    memset(t, 0, sizeof(*t));
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        char **f;
        size_t n;
        chomp(line);
        if (line[0] == '\0')
            continue;
        n = count_fields(line);
        f = calloc(n, sizeof(char *));
        split(line, f);
        if (t->ncols == 0)
            t->ncols = n;
        if (n != t->ncols) {
            fprintf(stderr, "error: CSV row has %zu fields, expected %zu\n", n, t->ncols);
            exit(2);
        }
        for (size_t i = 0; i < n; i++)
            f[i] = strdup(f[i]);
        if (header && t->header == NULL) {
            t->header = f;
        } else {
            t->cells = realloc(t->cells, (t->nrows + 1) * sizeof(char **));
            t->cells[t->nrows++] = f;
        }
        free(line);
        line = NULL;
        cap = 0;
    }
    free(line);
    return 0;
}

static void table_release(struct table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            free(t->cells[r][c]);
        free(t->cells[r]);
    }
    for (size_t c = 0; t->header != NULL && c < t->ncols; c++)
        free(t->header[c]);
    free(t->header);
    free(t->cells);
}

static double num(const char *s)
{
    double v;
    if (s[0] == '\0' || strcmp(s, "nan") == 0 || strcmp(s, "NaN") == 0)
        return NAN;
    if (kiln_parse_double(s, strlen(s), &v) != KILN_OK) {
        fprintf(stderr, "error: not a number: '%s'\n", s);
        exit(2);
    }
    return v;
}

/* Rows of the table in the model's input order. */
static int to_rows(const struct kiln_rt_model *m, const struct table *t, double **out)
{
    size_t F = kiln_rt_n_inputs(m);
    size_t *col = calloc(F, sizeof(size_t));
    double *x = calloc(t->nrows * F + 1, sizeof(double));
    struct kiln_err err = { 0 };

    for (size_t j = 0; j < F; j++) {
        const char *name = kiln_rt_input(m, j)->name;
        col[j] = SIZE_MAX;
        for (size_t c = 0; c < t->ncols; c++)
            if (strcmp(t->header[c], name) == 0)
                col[j] = c;
        if (col[j] == SIZE_MAX) {
            fprintf(stderr, "error: input '%s' is not a CSV column\n", name);
            exit(2);
        }
    }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t j = 0; j < F; j++) {
            const char *s = t->cells[r][col[j]];
            if (kiln_rt_input(m, j)->type == KILN_RT_STRING && s[0] != '\0') {
                if (kiln_rt_encode(m, j, s, strlen(s), &x[r * F + j], &err) != KILN_OK) {
                    fprintf(stderr, "error: row %zu: %s\n", r, err.msg);
                    exit(2);
                }
            } else {
                x[r * F + j] = num(s);
            }
        }
    free(col);
    *out = x;
    return 0;
}

struct job {
    const struct kiln_rt_model *m;
    const double *x;
    size_t n, batch;
    int32_t *label;
    double *proba, *value;
    int rc;
    char msg[256];
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct kiln_rt_ws *ws = kiln_rt_ws_new(j->m);
    size_t F = kiln_rt_n_inputs(j->m), C = kiln_rt_n_classes(j->m), K = kiln_rt_n_outputs(j->m);
    struct kiln_err err = { 0 };

    j->rc = KILN_OK;
    for (size_t r = 0; r < j->n && j->rc == KILN_OK; r += j->batch) {
        size_t nb = j->n - r < j->batch ? j->n - r : j->batch;
        struct kiln_rt_out out = { j->label + r, C ? j->proba + r * C : NULL,
                                   K ? j->value + r * K : NULL };
        j->rc = kiln_rt_predict(j->m, ws, j->x + r * F, nb, &out, &err);
    }
    if (j->rc != KILN_OK)
        snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
    kiln_rt_ws_free(ws);
    return NULL;
}

static int predict_and_print(struct kiln_rt_model *m, const struct table *t, size_t batch,
                             int threads, int warmup)
{
    struct kiln_err err = { 0 };
    size_t n = t->nrows, C = kiln_rt_n_classes(m), K = kiln_rt_n_outputs(m);
    double *x;
    struct job jobs[8];
    pthread_t th[8];
    int rc = 0;

    if (warmup && kiln_rt_warmup(m, 0, &err) != KILN_OK)
        return die(err.msg);
    to_rows(m, t, &x);
    if (threads < 1 || threads > 8)
        threads = 1;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){ m, x, n, batch ? batch : (n ? n : 1), NULL, NULL, NULL, 0, "" };
        jobs[i].label = calloc(n + 1, sizeof(int32_t));
        jobs[i].proba = calloc(n * C + 1, sizeof(double));
        jobs[i].value = calloc(n * K + 1, sizeof(double));
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < threads && rc == 0; i++)
        if (jobs[i].rc != KILN_OK)
            rc = die(jobs[i].msg);
    for (int i = 1; i < threads && rc == 0; i++)
        if (memcmp(jobs[i].label, jobs[0].label, n * sizeof(int32_t)) != 0 ||
            memcmp(jobs[i].proba, jobs[0].proba, n * C * sizeof(double)) != 0 ||
            memcmp(jobs[i].value, jobs[0].value, n * K * sizeof(double)) != 0)
            rc = die("threads disagree");
    for (size_t r = 0; r < n && rc == 0; r++) {
        if (C > 0) {
            printf("%d", jobs[0].label[r]);
            for (size_t k = 0; k < C; k++)
                printf(" %.17g", jobs[0].proba[r * C + k]);
        } else {
            for (size_t k = 0; k < K; k++)
                printf(k ? " %.17g" : "%.17g", jobs[0].value[r * K + k]);
        }
        printf("\n");
    }
    for (int i = 0; i < threads; i++) {
        free(jobs[i].label);
        free(jobs[i].proba);
        free(jobs[i].value);
    }
    free(x);
    return rc;
}

static void info(const struct kiln_rt_model *m)
{
    json_t *o = json_object(), *in = json_array(), *cls = json_array();
    char *s;
    for (size_t i = 0; i < kiln_rt_n_inputs(m); i++) {
        const struct kiln_rt_input *p = kiln_rt_input(m, i);
        json_array_append_new(in, json_pack("{s:s,s:s,s:b,s:b,s:I,s:b}", "name", p->name, "type",
                                            kiln_rt_type_name(p->type), "required", p->required,
                                            "allow_missing", p->allow_missing, "n_categories",
                                            (json_int_t)p->n_categories, "allow_unknown",
                                            p->allow_unknown));
    }
    for (size_t k = 0; k < kiln_rt_n_classes(m); k++)
        json_array_append_new(cls, json_string(kiln_rt_class(m, k)->text));
    json_object_set_new(o, "flavor", json_string(kiln_rt_flavor(m)));
    json_object_set_new(o, "engine", json_string(kiln_rt_engine(m)));
    json_object_set_new(
        o, "task",
        json_string(kiln_rt_task(m) == KILN_RT_CLASSIFIER ? "classification" : "regression"));
    json_object_set_new(o, "mlflow_output", json_integer(kiln_rt_mlflow_output(m)));
    json_object_set_new(o, "n_outputs", json_integer((json_int_t)kiln_rt_n_outputs(m)));
    json_object_set_new(o, "inputs", in);
    json_object_set_new(o, "classes", cls);
    json_object_set_new(o, "load_ns", json_integer(kiln_rt_load_ns(m)));
    json_object_set_new(o, "libxgboost", json_boolean(KILN_HAVE_XGBOOST));
    s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    kiln_free(s);
    json_decref(o);
}

static enum kiln_rt_xgb_engine engine_opt(int argc, char **argv)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--engine") == 0)
            return strcmp(argv[i + 1], "native") == 0 ? KILN_RT_XGB_NATIVE
                   : strcmp(argv[i + 1], "lib") == 0  ? KILN_RT_XGB_LIBXGBOOST
                                                      : KILN_RT_XGB_AUTO;
    return KILN_RT_XGB_AUTO;
}

static long int_opt(int argc, char **argv, const char *name, long def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtol(argv[i + 1], NULL, 10);
    return def;
}

static int has_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static double opt_double(int argc, char **argv, const char *name, double def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtod(argv[i + 1], NULL);
    return def;
}

static int print_json(struct kiln_buf *b, struct kiln_jsonw *w)
{
    if (kiln_jsonw_finish(w) != KILN_OK)
        return die("JSON output failed");
    printf("%s\n", b->buf);
    kiln_buf_release(b);
    return 0;
}

/* eval classification C [--threshold T] | eval regression; rows from stdin (no header). */
static int rt_tool_eval(int argc, char **argv)
{
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    struct kiln_jsonw w;
    struct table t;

    read_table(&t, 0);
    kiln_buf_init(&b, (size_t)1 << 30);
    kiln_jsonw_init(&w, &b);
    if (argc >= 2 && strcmp(argv[0], "classification") == 0) {
        size_t C = (size_t)strtol(argv[1], NULL, 10), n = t.nrows;
        int32_t *yt = calloc(n + 1, sizeof(int32_t)), *yp = calloc(n + 1, sizeof(int32_t));
        double *pr = calloc(n * C + 1, sizeof(double));
        unsigned char *pos = calloc(n + 1, 1);
        double *s1 = calloc(n + 1, sizeof(double));
        struct kiln_eval_cls *r = NULL;
        int with_p = t.ncols == 2 + C;
        for (size_t i = 0; i < n; i++) {
            yt[i] = (int32_t)num(t.cells[i][0]);
            yp[i] = (int32_t)num(t.cells[i][1]);
            for (size_t c = 0; with_p && c < C; c++)
                pr[i * C + c] = num(t.cells[i][2 + c]);
            pos[i] = yt[i] == 1;
            s1[i] = with_p && C == 2 ? pr[i * C + 1] : 0;
        }
        if (kiln_eval_classification(yt, yp, with_p ? pr : NULL, n, C, &r, &err) != KILN_OK)
            return die(err.msg);
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_key(&w, "report");
        kiln_eval_cls_json(r, NULL, (size_t)int_opt(argc, argv, "--max-curve", 0), &w);
        if (with_p && C == 2) {
            double p, rc_, f1, th = opt_double(argc, argv, "--threshold", 0.5);
            kiln_eval_at_threshold(pos, s1, n, th, &p, &rc_, &f1);
            kiln_jsonw_key(&w, "at_threshold");
            kiln_jsonw_obj_begin(&w);
            kiln_jsonw_kv_double(&w, "threshold", th);
            kiln_jsonw_kv_double(&w, "precision", p);
            kiln_jsonw_kv_double(&w, "recall", rc_);
            kiln_jsonw_kv_double(&w, "f1", f1);
            kiln_jsonw_obj_end(&w);
        }
        kiln_jsonw_obj_end(&w);
        kiln_eval_cls_free(r);
        free(yt);
        free(yp);
        free(pr);
        free(pos);
        free(s1);
        table_release(&t);
        return print_json(&b, &w);
    }
    if (argc >= 1 && strcmp(argv[0], "regression") == 0) {
        size_t n = t.nrows;
        double *yt = calloc(n + 1, sizeof(double)), *yp = calloc(n + 1, sizeof(double));
        struct kiln_eval_reg r;
        for (size_t i = 0; i < n; i++) {
            yt[i] = num(t.cells[i][0]);
            yp[i] = num(t.cells[i][1]);
        }
        if (kiln_eval_regression(yt, yp, n, &r, &err) != KILN_OK)
            return die(err.msg);
        kiln_eval_reg_json(&r, &w);
        free(yt);
        free(yp);
        table_release(&t);
        return print_json(&b, &w);
    }
    return die("usage: rt_tool eval classification N_CLASSES | regression");
}

/* quantize SRC OUT [--dtype int8|float32] [--min-agreement X] [--bench-ms N] < calibration */
static int rt_tool_quantize(int argc, char **argv)
{
    struct kiln_err err = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_quant_opts o = { KILN_QUANT_INT8, 0, 0 };
    struct kiln_quant_report rep;
    struct kiln_buf b;
    struct kiln_jsonw w;
    struct table t;
    double *x;
    int rc;

    if (argc < 2)
        return die("usage: rt_tool quantize SRC OUT");
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--dtype") == 0 && strcmp(argv[i + 1], "float32") == 0)
            o.dtype = KILN_QUANT_FLOAT32;
    o.min_agreement = opt_double(argc, argv, "--min-agreement", 0);
    o.bench_ms = (unsigned)int_opt(argc, argv, "--bench-ms", 50);
    if (kiln_rt_load(argv[0], NULL, &m, &err) != KILN_OK)
        return die(err.msg);
    read_table(&t, 1);
    to_rows(m, &t, &x);
    rc = kiln_quant_mlp(argv[0], x, t.nrows, argv[1], &o, &rep, &err);
    kiln_rt_free(m);
    free(x);
    table_release(&t);
    if (rc != KILN_OK)
        return die(err.msg);
    kiln_buf_init(&b, 1 << 20);
    kiln_jsonw_init(&w, &b);
    kiln_quant_report_json(&rep, &w);
    return print_json(&b, &w);
}

int main(int argc, char **argv)
{
    struct kiln_err err = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_rt_load_opts opts = { 0 };
    struct table t;
    int rc;

    json_set_alloc_funcs(kiln_malloc, kiln_free);
    if (argc == 2 && strcmp(argv[1], "features") == 0) {
        printf("{\"libxgboost\": %s}\n", KILN_HAVE_XGBOOST ? "true" : "false");
        return 0;
    }
    if (argc < 3)
        return die("usage: rt_tool info|predict|xgb|eval|quantize ...");
    if (strcmp(argv[1], "eval") == 0)
        return rt_tool_eval(argc - 2, argv + 2);
    if (strcmp(argv[1], "quantize") == 0)
        return rt_tool_quantize(argc - 2, argv + 2);
    opts.xgb_engine = engine_opt(argc, argv);
    if (strcmp(argv[1], "xgb") == 0) {
        struct kiln_buf b;
        kiln_buf_init(&b, (size_t)1 << 30);
        if (kiln_read_file(argv[2], &b, &err) != KILN_OK)
            return die(err.msg);
        rc = kiln_rt_load_xgboost(b.buf, b.len, argv[2], &opts, &m, &err);
        kiln_buf_release(&b);
    } else {
        rc = kiln_rt_load(argv[2], &opts, &m, &err);
    }
    if (rc != KILN_OK)
        return die(err.msg);
    if (strcmp(argv[1], "info") == 0) {
        info(m);
        kiln_rt_free(m);
        return 0;
    }
    read_table(&t, 1);
    rc = predict_and_print(m, &t, (size_t)int_opt(argc, argv, "--batch", 0),
                           (int)int_opt(argc, argv, "--threads", 1),
                           has_flag(argc, argv, "--warmup"));
    kiln_rt_free(m);
    table_release(&t);
    return rc;
}

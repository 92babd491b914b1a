/*
 * bench_runtime_mlp.c - int8 against fp32 for an MLP with three hidden layers of 256.
 *
 *   bench_runtime_mlp FP32_MODEL_DIR DATA.csv
 *
 * FP32_MODEL_DIR is a kiln-flavor float32 MLP (bench/run_mlp_bench.py trains one on
 * scikit-learn's digits and exports it); DATA.csv holds rows for it (header = input names).
 * The program quantizes the model with kiln_quant_mlp (which reports the agreement rate and
 * max |delta probability| on the rows), then times both models side by side in this process:
 * batch prediction of all rows and single-row prediction, best of several runs, one thread.
 * Prints a table and one JSON line.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/fs.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "runtime/quant.h"
#include "runtime/runtime.h"

static double *read_rows(const char *path, size_t n_inputs, size_t *n_rows)
{
    FILE *f = fopen(path, "r");
    char line[65536];
    double *x = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            x = realloc(x, cap * n_inputs * sizeof(double));
        }
        for (size_t j = 0; j < n_inputs; j++) {
            char *end = strchr(p, j + 1 < n_inputs ? ',' : '\n');
            size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
            if (kiln_parse_double(p, len, &x[n * n_inputs + j]) != KILN_OK) {
                fprintf(stderr, "%s: row %zu: bad number\n", path, n);
                exit(2);
            }
            p = end != NULL ? end + 1 : p + len;
        }
        n++;
    }
    fclose(f);
    *n_rows = n;
    return x;
}

/* Best time per row of predicting all rows, and median single-row time (ns). */
static void measure(const struct kiln_rt_model *m, const double *x, size_t n, double *batch,
                    double *single)
{
    size_t F = kiln_rt_n_inputs(m), C = kiln_rt_n_classes(m);
    struct kiln_rt_ws *ws = kiln_rt_ws_new(m);
    double *proba = malloc((n * C + 1) * sizeof(double));
    int32_t *label = malloc((n + 1) * sizeof(int32_t));
    struct kiln_rt_out out = { label, proba, NULL };
    struct kiln_err err = { 0 };
    int64_t best = INT64_MAX, *lat = malloc(20000 * sizeof(int64_t));
    size_t calls = 20000;

    for (int r = 0; r < 15; r++) {
        int64_t t0 = kiln_mono_ns();
        if (kiln_rt_predict(m, ws, x, n, &out, &err) != KILN_OK) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        t0 = kiln_mono_ns() - t0;
        best = t0 < best ? t0 : best;
    }
    *batch = (double)best / (double)n;
    for (size_t i = 0; i < calls; i++) {
        struct kiln_rt_out one = { label, proba, NULL };
        int64_t t0 = kiln_mono_ns();
        kiln_rt_predict(m, ws, x + (i % n) * F, 1, &one, &err);
        lat[i] = kiln_mono_ns() - t0;
    }
    for (size_t i = 1; i < calls; i++) /* insertion sort is fine for a one-off median */
        for (size_t j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
            int64_t t = lat[j];
            lat[j] = lat[j - 1];
            lat[j - 1] = t;
        }
    *single = (double)lat[calls / 2];
    free(lat);
    free(proba);
    free(label);
    kiln_rt_ws_free(ws);
}

int main(int argc, char **argv)
{
    struct kiln_err err = { 0 };
    struct kiln_rt_model *fp = NULL, *q8 = NULL;
    struct kiln_quant_opts o = { KILN_QUANT_INT8, 0, 200 };
    struct kiln_quant_report rep;
    char out_dir[256];
    size_t n;
    double *x, fb, fs, qb, qs;

    json_set_alloc_funcs(kiln_malloc, kiln_free);
    if (argc != 3) {
        fprintf(stderr, "usage: bench_runtime_mlp FP32_MODEL_DIR DATA.csv\n");
        return 2;
    }
    if (kiln_rt_load(argv[1], NULL, &fp, &err) != KILN_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    x = read_rows(argv[2], kiln_rt_n_inputs(fp), &n);
    snprintf(out_dir, sizeof(out_dir), "/tmp/kiln-bench-int8-%ld", (long)getpid());
    if (kiln_quant_mlp(argv[1], x, n, out_dir, &o, &rep, &err) != KILN_OK ||
        kiln_rt_load(out_dir, NULL, &q8, &err) != KILN_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    kiln_rt_warmup(fp, 0, &err);
    kiln_rt_warmup(q8, 0, &err);
    measure(fp, x, n, &fb, &fs);
    measure(q8, x, n, &qb, &qs);
    printf("MLP %s -> %s, %zu rows (scikit-learn digits), one thread\n", rep.src_engine,
           rep.dst_engine, n);
    printf("agreement %.4f, max |delta p| %.4g, mean |delta p| %.3g, model.json %zu -> %zu bytes\n",
           rep.agreement, rep.max_abs_dproba, rep.mean_abs_dproba, rep.src_bytes, rep.dst_bytes);
    printf("%-28s %12s %12s %8s\n", "measure", "fp32", "int8", "speed-up");
    printf("%-28s %9.0f ns %9.0f ns %7.2fx\n", "batch, per row", fb, qb, fb / qb);
    printf("%-28s %9.0f ns %9.0f ns %7.2fx\n", "single row (median)", fs, qs, fs / qs);
    printf("{\"bench\":\"runtime_mlp\",\"rows\":%zu,\"agreement\":%.6f,\"max_abs_dproba\":%.6g,"
           "\"batch_ns_per_row\":{\"fp32\":%.0f,\"int8\":%.0f},\"single_ns\":{\"fp32\":%.0f,"
           "\"int8\":%.0f}}\n",
           n, rep.agreement, rep.max_abs_dproba, fb, qb, fs, qs);
    kiln_remove_tree(out_dir, NULL);
    kiln_rt_free(fp);
    kiln_rt_free(q8);
    free(x);
    return 0;
}

/*
 * bench_runtime_trees.c - kiln's tree engine against libxgboost on the same model.
 *
 * Trains a 100-tree, depth-6 gradient-boosted binary classifier on 30 synthetic features
 * with libxgboost itself (fixed seed), loads the booster into kiln (its own tree engine,
 * converted at load), checks both give the same probabilities, then measures side by side:
 *   - single-row in-process latency: kiln_rt_predict of one row vs libxgboost's in-place
 *     predict (XGBoosterPredictFromDense) of one row; median over many calls;
 *   - batch throughput on 100,000 rows: one thread each (nthread=1 for libxgboost), then two
 *     threads each (kiln: two threads on half the rows; libxgboost: nthread=2), plus
 *     libxgboost's DMatrix path (XGBoosterPredictFromDMatrix) for reference.
 * Prints a table and one JSON line. Run from a release build: meson setup build-release
 * -Dbuildtype=release && ninja -C build-release && build-release/bench/bench_runtime_trees
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xgboost/c_api.h>

#include "core/mem.h"
#include "core/time.h"
#include "runtime/runtime.h"

#define F 30
#define N_TRAIN 20000
#define N_BATCH 100000
#define TREES 100

#define XGB(call)                                                                               \
    do {                                                                                        \
        if ((call) != 0) {                                                                      \
            fprintf(stderr, "libxgboost: %s (%s:%d)\n", XGBGetLastError(), __FILE__, __LINE__); \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double normal(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void make_rows(double *x, float *xf, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < F; j++) {
            double v = normal();
            if (uniform() < 0.02)
                v = NAN; /* some missing values, routed by the default direction */
            x[i * F + j] = v;
            if (xf != NULL)
                xf[i * F + j] = (float)v;
            if (!isnan(v))
                s += (j % 3 == 0 ? 1.0 : -0.5) * v * (j < 10 ? 1.0 : 0.3) +
                     (j == 4 ? 0.8 * v * v : 0.0);
        }
        if (y != NULL)
            y[i] = s + 0.5 * normal() > 0 ? 1.0f : 0.0f;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double median_ns(int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    return (double)v[n / 2];
}

static char cfg_text[256];

static void xgb_predict_dense(BoosterHandle h, const double *x, size_t n, const float **res)
{
    char arr[192];
    const bst_ulong *shape;
    bst_ulong dim;
    snprintf(arr, sizeof(arr),
             "{\"data\": [%llu, true], \"shape\": [%zu, %d], \"typestr\": \"<f8\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)x, n, F);
    XGB(XGBoosterPredictFromDense(h, arr, cfg_text, NULL, &shape, &dim, res));
}

struct job {
    const struct kiln_rt_model *m;
    const double *x;
    size_t n;
    double *proba;
};

static void *kiln_job(void *arg)
{
    struct job *j = arg;
    struct kiln_rt_ws *ws = kiln_rt_ws_new(j->m);
    struct kiln_rt_out out = { NULL, j->proba, NULL };
    struct kiln_err err = { 0 };
    if (kiln_rt_predict(j->m, ws, j->x, j->n, &out, &err) != KILN_OK) {
        fprintf(stderr, "kiln: %s\n", err.msg);
        exit(1);
    }
    kiln_rt_ws_free(ws);
    return NULL;
}

/* Best of `reps` runs of predicting all rows with `threads` kiln threads; ns per row. */
static double kiln_batch(const struct kiln_rt_model *m, const double *x, size_t n, double *proba,
                         int threads, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        pthread_t th[2];
        struct job jobs[2];
        size_t per = n / (size_t)threads;
        int64_t t0 = kiln_mono_ns();
        for (int t = 0; t < threads; t++) {
            size_t lo = (size_t)t * per, cnt = t + 1 == threads ? n - lo : per;
            jobs[t] = (struct job){ m, x + lo * F, cnt, proba + lo * 2 };
            pthread_create(&th[t], NULL, kiln_job, &jobs[t]);
        }
        for (int t = 0; t < threads; t++)
            pthread_join(th[t], NULL);
        double ns = (double)(kiln_mono_ns() - t0) / (double)n;
        best = ns < best ? ns : best;
    }
    return best;
}

static double xgb_batch(BoosterHandle h, const double *x, size_t n, int reps)
{
    double best = 1e30;
    const float *res;
    for (int r = 0; r < reps; r++) {
        int64_t t0 = kiln_mono_ns();
        xgb_predict_dense(h, x, n, &res);
        double ns = (double)(kiln_mono_ns() - t0) / (double)n;
        best = ns < best ? ns : best;
    }
    return best;
}

static double xgb_dmatrix_batch(BoosterHandle h, const float *xf, size_t n, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        DMatrixHandle d;
        const bst_ulong *shape;
        bst_ulong dim;
        const float *res;
        int64_t t0 = kiln_mono_ns();
        XGB(XGDMatrixCreateFromMat(xf, n, F, NAN, &d));
        XGB(XGBoosterPredictFromDMatrix(h, d, cfg_text, &shape, &dim, &res));
        double ns = (double)(kiln_mono_ns() - t0) / (double)n;
        XGB(XGDMatrixFree(d));
        best = ns < best ? ns : best;
    }
    return best;
}

int main(void)
{
    double *xt = malloc(sizeof(double) * N_TRAIN * F), *xb = malloc(sizeof(double) * N_BATCH * F);
    float *xtf = malloc(sizeof(float) * N_TRAIN * F), *yt = malloc(sizeof(float) * N_TRAIN);
    float *xbf = malloc(sizeof(float) * N_BATCH * F);
    double *proba = malloc(sizeof(double) * N_BATCH * 2);
    int64_t *lat = malloc(sizeof(int64_t) * 200000);
    DMatrixHandle dtrain;
    BoosterHandle h;
    bst_ulong jlen;
    const char *json;
    const float *res;
    struct kiln_rt_model *m;
    struct kiln_err err = { 0 };
    struct kiln_rt_ws *ws;
    double maxdiff = 0, k1, x1, k2, x2, xdm, kiln_single, xgb_single;
    int32_t label;
    double p2[2];
    struct kiln_rt_out one = { &label, p2, NULL };
    size_t calls = 200000;

    json_set_alloc_funcs(kiln_malloc, kiln_free);
    make_rows(xt, xtf, yt, N_TRAIN);
    make_rows(xb, xbf, NULL, N_BATCH);
    XGB(XGDMatrixCreateFromMat(xtf, N_TRAIN, F, NAN, &dtrain));
    XGB(XGDMatrixSetFloatInfo(dtrain, "label", yt, N_TRAIN));
    XGB(XGBoosterCreate(&dtrain, 1, &h));
    XGB(XGBoosterSetParam(h, "objective", "binary:logistic"));
    XGB(XGBoosterSetParam(h, "max_depth", "6"));
    XGB(XGBoosterSetParam(h, "eta", "0.1"));
    XGB(XGBoosterSetParam(h, "tree_method", "hist"));
    XGB(XGBoosterSetParam(h, "seed", "7"));
    XGB(XGBoosterSetParam(h, "nthread", "2"));
    for (int it = 0; it < TREES; it++)
        XGB(XGBoosterUpdateOneIter(h, it, dtrain));
    XGB(XGBoosterSetParam(h, "nthread", "1"));
    XGB(XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &jlen, &json));
    if (kiln_rt_load_xgboost(json, (size_t)jlen, "bench model", NULL, &m, &err) != KILN_OK) {
        fprintf(stderr, "kiln: %s\n", err.msg);
        return 1;
    }
    if (kiln_rt_warmup(m, 0, &err) != KILN_OK) {
        fprintf(stderr, "kiln: %s\n", err.msg);
        return 1;
    }
    snprintf(cfg_text, sizeof(cfg_text),
             "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
             "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}");

    /* Same answers first. */
    kiln_batch(m, xb, N_BATCH, proba, 1, 1);
    xgb_predict_dense(h, xb, N_BATCH, &res);
    for (size_t i = 0; i < N_BATCH; i++) {
        double d = fabs(proba[i * 2 + 1] - (double)res[i]);
        maxdiff = d > maxdiff ? d : maxdiff;
    }

    /* Single row. */
    ws = kiln_rt_ws_new(m);
    for (size_t i = 0; i < calls; i++) {
        int64_t t0 = kiln_mono_ns();
        kiln_rt_predict(m, ws, xb + (i % N_BATCH) * F, 1, &one, &err);
        lat[i] = kiln_mono_ns() - t0;
    }
    kiln_single = median_ns(lat, calls);
    for (size_t i = 0; i < calls / 4; i++) {
        int64_t t0 = kiln_mono_ns();
        xgb_predict_dense(h, xb + (i % N_BATCH) * F, 1, &res);
        lat[i] = kiln_mono_ns() - t0;
    }
    xgb_single = median_ns(lat, calls / 4);

    /* Batch. */
    k1 = kiln_batch(m, xb, N_BATCH, proba, 1, 5);
    x1 = xgb_batch(h, xb, N_BATCH, 5);
    xdm = xgb_dmatrix_batch(h, xbf, N_BATCH, 3);
    XGB(XGBoosterSetParam(h, "nthread", "2"));
    k2 = kiln_batch(m, xb, N_BATCH, proba, 2, 5);
    x2 = xgb_batch(h, xb, N_BATCH, 5);

    printf("model: %d trees, depth 6, %d features, binary:logistic (libxgboost %s)\n", TREES, F,
           "1.7");
    printf("max |kiln - libxgboost| probability over %d rows: %.3g\n", N_BATCH, maxdiff);
    printf("%-44s %12s %12s %8s\n", "measure", "kiln", "libxgboost", "ratio");
    printf("%-44s %10.0f ns %10.0f ns %7.2fx\n", "single-row latency (median)", kiln_single,
           xgb_single, xgb_single / kiln_single);
    printf("%-44s %10.1f ns %10.1f ns %7.2fx\n", "batch 100k rows, 1 thread (per row)", k1, x1,
           x1 / k1);
    printf("%-44s %10.1f ns %10.1f ns %7.2fx\n", "batch 100k rows, 2 threads (per row)", k2, x2,
           x2 / k2);
    printf("%-44s %10.1f ns %10.1f ns %7.2fx\n", "batch, libxgboost via DMatrix, 1 thread", k1, xdm,
           xdm / k1);
    printf("{\"bench\":\"runtime_trees\",\"max_abs_diff\":%.3g,\"single_ns\":{\"kiln\":%.0f,"
           "\"libxgboost\":%.0f},\"batch1_ns_per_row\":{\"kiln\":%.1f,\"libxgboost\":%.1f},"
           "\"batch2_ns_per_row\":{\"kiln\":%.1f,\"libxgboost\":%.1f},"
           "\"dmatrix1_ns_per_row\":%.1f}\n",
           maxdiff, kiln_single, xgb_single, k1, x1, k2, x2, xdm);
    kiln_rt_ws_free(ws);
    kiln_rt_free(m);
    XGBoosterFree(h);
    XGDMatrixFree(dtrain);
    free(xt);
    free(xb);
    free(xtf);
    free(yt);
    free(xbf);
    free(proba);
    free(lat);
    return maxdiff > 1e-6;
}

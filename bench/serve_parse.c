/*
 * serve_parse.c - request parsing cost of `kiln serve`, side by side in one run: kiln's
 * scanner (kiln_serve_parse_mlflow_json / kiln_serve_parse_oip straight into the row matrix,
 * arena only) against building a jansson tree of the same body and walking it into the same
 * matrix (what the server would do with the general JSON library), for a one-row
 * dataframe_split request and a 1,000-row one, 30 double inputs, plus the MLflow response.
 *
 *   bench_serve_parse [--seconds S]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/mem.h"
#include "runtime/runtime.h"
#include "serve/parse.h"

#define F 30

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *model_json(void)
{
    struct kiln_buf b;
    kiln_buf_init(&b, 1 << 20);
    kiln_buf_puts(&b, "{\"format\":\"kiln-model\",\"format_version\":1,\"task\":\"classification\","
                      "\"classes\":[0,1],\"inputs\":[");
    for (int j = 0; j < F; j++)
        kiln_buf_printf(&b, "%s{\"name\":\"feature_%02d\",\"type\":\"double\"}", j ? "," : "", j);
    kiln_buf_printf(&b, "],\"model\":{\"type\":\"linear\",\"n_features\":%d,\"n_outputs\":1,"
                        "\"link\":\"sigmoid\",\"coef\":[[",
                    F);
    for (int j = 0; j < F; j++)
        kiln_buf_printf(&b, "%s0.0%d", j ? "," : "", j % 10);
    kiln_buf_puts(&b, "]],\"intercept\":[0.1]}}");
    return kiln_buf_detach(&b, NULL);
}

static char *request(int rows)
{
    struct kiln_buf b;
    unsigned seed = 7;
    kiln_buf_init(&b, 1 << 26);
    kiln_buf_puts(&b, "{\"dataframe_split\": {\"columns\": [");
    for (int j = 0; j < F; j++)
        kiln_buf_printf(&b, "%s\"feature_%02d\"", j ? ", " : "", j);
    kiln_buf_puts(&b, "], \"data\": [");
    for (int r = 0; r < rows; r++) {
        kiln_buf_puts(&b, r ? ", [" : "[");
        for (int j = 0; j < F; j++) {
            seed = seed * 1103515245u + 12345u;
            kiln_buf_printf(&b, "%s%.6f", j ? ", " : "", (double)(seed >> 8) / 1e5 - 50.0);
        }
        kiln_buf_putc(&b, ']');
    }
    kiln_buf_puts(&b, "]}}");
    return kiln_buf_detach(&b, NULL);
}

/* The jansson way: a tree, then a walk by column name into the matrix. */
static int parse_jansson(const struct kiln_rt_model *m, const char *body, double *x, size_t *n)
{
    json_error_t je;
    json_t *doc = json_loads(body, 0, &je), *split, *cols, *data;
    size_t map[F];
    if (doc == NULL)
        return -1;
    split = json_object_get(doc, "dataframe_split");
    cols = json_object_get(split, "columns");
    data = json_object_get(split, "data");
    for (size_t c = 0; c < json_array_size(cols); c++) {
        const char *name = json_string_value(json_array_get(cols, c));
        if (kiln_rt_find_input(m, name, strlen(name), &map[c]) != KILN_OK)
            return -1;
    }
    *n = json_array_size(data);
    for (size_t r = 0; r < *n; r++) {
        json_t *row = json_array_get(data, r);
        for (size_t c = 0; c < F; c++)
            x[r * F + map[c]] = json_number_value(json_array_get(row, c));
    }
    json_decref(doc);
    return 0;
}

static void run(const struct kiln_rt_model *m, const struct kiln_serve_schema *sc, int rows,
                double seconds)
{
    char *body = request(rows);
    size_t len = strlen(body), n = 0;
    double *x = malloc((size_t)rows * F * sizeof(double)), t0, t_kiln, t_jansson, t_resp;
    long iters = 0;
    int32_t *label = malloc((size_t)rows * sizeof(int32_t));
    double *proba = malloc((size_t)rows * 2 * sizeof(double));
    struct kiln_rt_out o = { label, proba, NULL };
    struct kiln_buf out;

    t0 = now_s();
    do {
        for (int k = 0; k < 100; k++) {
            struct kiln_arena *a = kiln_arena_new(8192);
            struct kiln_serve_rows rs;
            struct kiln_err err;
            if (kiln_serve_parse_mlflow_json(sc, body, len, a, &rs, &err) != KILN_OK) {
                fprintf(stderr, "parse: %s\n", err.msg);
                exit(1);
            }
            kiln_arena_free(a);
        }
        iters += 100;
    } while (now_s() - t0 < seconds);
    t_kiln = (now_s() - t0) / (double)iters;

    iters = 0;
    t0 = now_s();
    do {
        for (int k = 0; k < 100; k++)
            if (parse_jansson(m, body, x, &n) != 0)
                exit(1);
        iters += 100;
    } while (now_s() - t0 < seconds);
    t_jansson = (now_s() - t0) / (double)iters;

    kiln_rt_predict(m, NULL, x, n, &o, NULL);
    kiln_buf_init(&out, (size_t)1 << 30);
    iters = 0;
    t0 = now_s();
    do {
        for (int k = 0; k < 100; k++) {
            kiln_buf_reset(&out);
            kiln_serve_write_mlflow(sc, &o, n, &out);
        }
        iters += 100;
    } while (now_s() - t0 < seconds);
    t_resp = (now_s() - t0) / (double)iters;
    printf("%5d row(s), %7zu-byte body: kiln scanner %8.2f us, jansson tree + walk %8.2f us "
           "(%.1fx); response %7.2f us\n",
           rows, len, t_kiln * 1e6, t_jansson * 1e6, t_jansson / t_kiln, t_resp * 1e6);
    printf("{\"rows\": %d, \"body_bytes\": %zu, \"kiln_us\": %.3f, \"jansson_us\": %.3f, "
           "\"response_us\": %.3f}\n",
           rows, len, t_kiln * 1e6, t_jansson * 1e6, t_resp * 1e6);
    kiln_buf_release(&out);
    free(body);
    free(x);
    free(label);
    free(proba);
}

int main(int argc, char **argv)
{
    double seconds = argc > 2 && strcmp(argv[1], "--seconds") == 0 ? atof(argv[2]) : 1.0;
    char *mj = model_json();
    struct kiln_rt_model *m = NULL;
    struct kiln_serve_schema *sc = NULL;
    struct kiln_err err;
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    if (kiln_rt_load_kiln_json(mj, strlen(mj), "bench", &m, &err) != KILN_OK ||
        kiln_serve_schema_new(m, &sc, &err) != KILN_OK) {
        fprintf(stderr, "model: %s\n", err.msg);
        return 1;
    }
    run(m, sc, 1, seconds);
    run(m, sc, 1000, seconds);
    kiln_serve_schema_free(sc);
    kiln_rt_free(m);
    kiln_free(mj);
    return 0;
}

/*
 * fuzz_serve_request.c - the serving request parsers (MLflow JSON shapes, CSV bodies, OIP v2
 * inference requests) and the response writers. The first byte picks the parser (0-2 MLflow
 * JSON, 3-5 CSV, else OIP) and the rest is the body, parsed against a model with a double
 * (missing allowed), a long, a boolean and a string input. Any input must be parsed or refused
 * with an error, never crash, hang or leak; parsed rows are predicted and the answers
 * written, and the OIP answer must be valid JSON.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "runtime/runtime.h"
#include "serve/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MODEL[] =
    "{\"format\":\"kiln-model\",\"format_version\":1,\"task\":\"classification\","
    "\"classes\":[\"cat\",\"dog\",\"eel\"],"
    "\"inputs\":[{\"name\":\"a\",\"type\":\"double\",\"allow_missing\":true},"
    "{\"name\":\"n\",\"type\":\"long\"},{\"name\":\"flag\",\"type\":\"boolean\"},"
    "{\"name\":\"color\",\"type\":\"string\",\"categories\":[\"red\",\"green\",\"blue\"]}],"
    "\"preprocessing\":[{\"op\":\"impute\",\"fill\":[0.5,null,null,null]},"
    "{\"op\":\"onehot\",\"columns\":[null,null,null,{\"categories\":[\"red\",\"green\",\"blue\"],"
    "\"drop\":null,\"handle_unknown\":\"error\"}]}],"
    "\"model\":{\"type\":\"linear\",\"n_features\":6,\"n_outputs\":3,\"link\":\"softmax\","
    "\"coef\":[[1,0,0,1,0,0],[0,1,0,0,1,0],[0,0,1,0,0,1]],\"intercept\":[0,0,0]}}";

/* Loaded once per process: the harness's only state. */
static struct kiln_rt_model *model;
static struct kiln_serve_schema *schema;

static void answer(const struct kiln_serve_rows *rows, const struct kiln_serve_oip_req *oip,
                   struct kiln_arena *a)
{
    size_t n = rows->n;
    struct kiln_rt_out o = { kiln_arena_alloc(a, (n + 1) * sizeof(int32_t)),
                             kiln_arena_alloc(a, (n + 1) * 3 * sizeof(double)), NULL };
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    if (o.label == NULL || o.proba == NULL || n == 0 ||
        kiln_rt_predict(model, NULL, rows->x, n, &o, &err) != KILN_OK)
        return;
    kiln_buf_init(&b, (size_t)1 << 26);
    kiln_serve_write_mlflow(schema, &o, n, &b);
    if (oip != NULL) {
        kiln_buf_reset(&b);
        if (kiln_serve_write_oip(schema, oip, &o, n, "m", "1", &b) == KILN_OK) {
            json_error_t je;
            json_t *doc = json_loadb(b.buf, b.len, 0, &je);
            if (doc == NULL)
                abort();
            json_decref(doc);
        }
    }
    kiln_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_err err = { 0 };
    struct kiln_arena *a;
    struct kiln_serve_rows rows;
    struct kiln_serve_oip_req oip;
    const char *body = (const char *)data + 1;
    int rc;

    if (size < 1 || size > ((size_t)1 << 20))
        return 0;
    if (model == NULL) {
        if (kiln_rt_load_kiln_json(MODEL, strlen(MODEL), "model.json", &model, &err) != KILN_OK ||
            kiln_serve_schema_new(model, &schema, &err) != KILN_OK)
            abort();
    }
    a = kiln_arena_new(0);
    if (a == NULL)
        return 0;
    if (data[0] < 3) {
        if (kiln_serve_parse_mlflow_json(schema, body, size - 1, a, &rows, &err) == KILN_OK)
            answer(&rows, NULL, a);
    } else if (data[0] < 6) {
        if (kiln_serve_parse_csv(schema, body, size - 1, a, &rows, &err) == KILN_OK)
            answer(&rows, NULL, a);
    } else {
        rc = kiln_serve_parse_oip(schema, body, size - 1, a, &oip, &err);
        if (rc == KILN_OK)
            answer(&oip.rows, &oip, a);
    }
    kiln_arena_free(a);
    return 0;
}

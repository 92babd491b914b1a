/*
 * respond.c - predictions -> response bodies for both serving protocols (see parse.h).
 *
 * MLflow's scoring server answers json.dump({"predictions": ...}) of what pyfunc predict
 * returned, so non-finite numbers come out as Python writes them (NaN, Infinity, -Infinity);
 * OIP answers are strict JSON, where a non-finite number is null. Class labels were rendered
 * once per model (schema) and are copied as text. The buffer is grown once up front from an
 * estimate, so a response costs one or two allocations whatever its size.
 */
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "serve/parse_int.h"

/* Appends a double; `python` selects NaN/Infinity literals, else null. */
static int put_num(struct kiln_buf *b, double v, int python)
{
    char tmp[40];
    if (!isfinite(v)) {
        if (!python)
            return kiln_buf_append(b, "null", 4);
        return kiln_buf_puts(b, isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    }
    kiln_format_double(v, tmp, sizeof(tmp));
    return kiln_buf_puts(b, tmp);
}

/* Values of n rows x w columns: flat, or one list per row when `nested`. */
static int put_matrix(struct kiln_buf *b, const double *v, size_t n, size_t w, int nested,
                      int python)
{
    int rc = KILN_OK;
    for (size_t r = 0; r < n && rc == KILN_OK; r++) {
        if (r > 0)
            rc = kiln_buf_putc(b, ',');
        if (rc == KILN_OK && nested)
            rc = kiln_buf_putc(b, '[');
        for (size_t c = 0; c < w && rc == KILN_OK; c++) {
            if (c > 0)
                rc = kiln_buf_putc(b, ',');
            if (rc == KILN_OK)
                rc = put_num(b, v[r * w + c], python);
        }
        if (rc == KILN_OK && nested)
            rc = kiln_buf_putc(b, ']');
    }
    return rc;
}

static int put_labels(struct kiln_buf *b, const struct kiln_serve_schema *sc, const int32_t *label,
                      size_t n)
{
    int rc = KILN_OK;
    for (size_t r = 0; r < n && rc == KILN_OK; r++) {
        size_t k = (size_t)label[r];
        if (r > 0)
            rc = kiln_buf_putc(b, ',');
        if (rc == KILN_OK)
            rc = kiln_buf_append(b, sc->label_json[k], sc->label_len[k]);
    }
    return rc;
}

int kiln_serve_write_mlflow(const struct kiln_serve_schema *sc, const struct kiln_rt_out *o,
                            size_t n, struct kiln_buf *out)
{
    size_t width = sc->classifier ? sc->n_classes : sc->n_values;
    int rc = kiln_buf_grow(out, 32 + n * (width + 1) * 22);
    if (rc == KILN_OK)
        rc = kiln_buf_append(out, "{\"predictions\": [", 17);
    if (rc != KILN_OK)
        return rc;
    switch (sc->mlflow_out) {
    case KILN_RT_OUT_LABEL:
        rc = put_labels(out, sc, o->label, n);
        break;
    case KILN_RT_OUT_PROBA:
        if (sc->n_classes == 2) {
            for (size_t r = 0; r < n && rc == KILN_OK; r++) {
                if (r > 0)
                    rc = kiln_buf_putc(out, ',');
                if (rc == KILN_OK)
                    rc = put_num(out, o->proba[r * 2 + 1], 1);
            }
        } else {
            rc = put_matrix(out, o->proba, n, sc->n_classes, 1, 1);
        }
        break;
    case KILN_RT_OUT_VALUE:
        rc = put_matrix(out, o->value, n, sc->n_values, sc->n_values > 1, 1);
        break;
    }
    if (rc == KILN_OK)
        rc = kiln_buf_append(out, "]}", 2);
    return rc;
}

static int put_output_head(struct kiln_buf *b, const char *name, size_t n, size_t w, int two_d,
                           const char *dtype)
{
    if (two_d)
        return kiln_buf_printf(
            b, "{\"name\":\"%s\",\"shape\":[%zu,%zu],\"datatype\":\"%s\",\"data\":[", name, n, w,
            dtype);
    return kiln_buf_printf(b, "{\"name\":\"%s\",\"shape\":[%zu],\"datatype\":\"%s\",\"data\":[",
                           name, n, dtype);
}

static int put_output(struct kiln_buf *b, const struct kiln_serve_schema *sc,
                      const struct kiln_rt_out *o, size_t n, enum kiln_serve_output which)
{
    int rc = KILN_OK;
    switch (which) {
    case KILN_SERVE_OUT_LABEL:
        rc = put_output_head(b, "label", n, 0, 0, sc->label_dtype);
        if (rc == KILN_OK)
            rc = put_labels(b, sc, o->label, n);
        break;
    case KILN_SERVE_OUT_PROBABILITIES:
        rc = put_output_head(b, "probabilities", n, sc->n_classes, 1, "FP64");
        if (rc == KILN_OK)
            rc = put_matrix(b, o->proba, n, sc->n_classes, 0, 0);
        break;
    case KILN_SERVE_OUT_PREDICTION:
        rc = put_output_head(b, "prediction", n, sc->n_values, sc->n_values > 1, "FP64");
        if (rc == KILN_OK)
            rc = put_matrix(b, o->value, n, sc->n_values, 0, 0);
        break;
    }
    if (rc == KILN_OK)
        rc = kiln_buf_append(b, "]}", 2);
    return rc;
}

int kiln_serve_write_oip(const struct kiln_serve_schema *sc, const struct kiln_serve_oip_req *req,
                         const struct kiln_rt_out *o, size_t n, const char *model_name,
                         const char *version, struct kiln_buf *out)
{
    static const enum kiln_serve_output cls[] = { KILN_SERVE_OUT_LABEL,
                                                  KILN_SERVE_OUT_PROBABILITIES };
    static const enum kiln_serve_output reg[] = { KILN_SERVE_OUT_PREDICTION };
    const enum kiln_serve_output *outs = req->outputs;
    size_t nouts = req->n_outputs;
    size_t width = sc->classifier ? sc->n_classes + 1 : sc->n_values;
    int rc = kiln_buf_grow(out, 128 + n * (width + 1) * 22);

    if (nouts == 0) {
        outs = sc->classifier ? cls : reg;
        nouts = sc->classifier ? 2 : 1;
    }
    if (rc == KILN_OK)
        rc = kiln_buf_puts(out, "{\"model_name\":");
    if (rc == KILN_OK)
        rc = kiln_json_quote(out, model_name, strlen(model_name));
    if (rc == KILN_OK)
        rc = kiln_buf_puts(out, ",\"model_version\":");
    if (rc == KILN_OK)
        rc = kiln_json_quote(out, version, strlen(version));
    if (rc == KILN_OK && req->id != NULL) {
        rc = kiln_buf_puts(out, ",\"id\":");
        if (rc == KILN_OK)
            rc = kiln_json_quote(out, req->id, req->id_len);
    }
    if (rc == KILN_OK)
        rc = kiln_buf_puts(out, ",\"outputs\":[");
    for (size_t i = 0; i < nouts && rc == KILN_OK; i++) {
        if (i > 0)
            rc = kiln_buf_putc(out, ',');
        if (rc == KILN_OK)
            rc = put_output(out, sc, o, n, outs[i]);
    }
    if (rc == KILN_OK)
        rc = kiln_buf_append(out, "]}", 2);
    return rc;
}

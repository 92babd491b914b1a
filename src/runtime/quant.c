/*
 * quant.c - int8/float32 conversion of kiln MLP models and the drift report (quant.h).
 *
 * Steps: read the source MLmodel and model.json; load the source model (this validates it
 * completely); copy the JSON document and rewrite each layer's weights; write the new
 * directory under a temporary name and rename it into place; load it back and compare both
 * models on the calibration rows, then time them.
 *
 * Ownership: every intermediate (JSON trees, models, buffers) is freed before returning; on
 * failure the temporary directory is removed and out_dir is never created.
 * Thread-safe: no shared state.
 */
#include "runtime/quant.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln_config.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/mem.h"
#include "core/time.h"
#include "runtime/mlmodel.h"
#include "runtime/runtime.h"

#define MAX_JSON ((size_t)1 << 30)

/*
 * Removes a directory this file wrote (model.json, MLmodel, nothing else) without
 * allocating, so cleanup works even when memory has run out.
 */
static void remove_written(const char *dir)
{
    static const char *const files[] = { "model.json", "MLmodel" };
    char path[4096];
    for (size_t i = 0; i < KILN_ARRAY_LEN(files); i++)
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, files[i]) < sizeof(path))
            unlink(path);
    rmdir(dir);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return kiln_buf_append(data, buf, size) == KILN_OK ? 0 : -1;
}

/* Rewrites one layer's "weights" (n_out rows) as int8 with per-row scales, or as float32. */
static int convert_layer(json_t *layer, enum kiln_quant_dtype dt, struct kiln_err *err)
{
    json_t *rows = json_object_get(layer, "weights");
    json_t *new_rows = json_array(), *scales = json_array();
    int rc = KILN_OK;

    if (new_rows == NULL || scales == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
        goto out;
    }
    for (size_t j = 0; j < json_array_size(rows) && rc == KILN_OK; j++) {
        json_t *row = json_array_get(rows, j), *nr = json_array();
        double amax = 0, scale;
        if (nr == NULL || json_array_append_new(new_rows, nr) != 0) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
            break;
        }
        for (size_t i = 0; i < json_array_size(row); i++) {
            double a = fabs(json_number_value(json_array_get(row, i)));
            amax = a > amax ? a : amax;
        }
        scale = amax > 0 ? amax / 127.0 : 1.0;
        for (size_t i = 0; i < json_array_size(row) && rc == KILN_OK; i++) {
            double w = json_number_value(json_array_get(row, i));
            json_t *v;
            if (dt == KILN_QUANT_FLOAT32) {
                v = json_real((double)(float)w);
            } else {
                double q = round(w / scale);
                v = json_integer((json_int_t)(q > 127 ? 127 : q < -127 ? -127 : q));
            }
            if (v == NULL || json_array_append_new(nr, v) != 0)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
        }
        if (rc == KILN_OK && json_array_append_new(scales, json_real(scale)) != 0)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
    }
    if (rc == KILN_OK && dt == KILN_QUANT_FLOAT32) {
        json_t *bias = json_object_get(layer, "bias");
        for (size_t j = 0; j < json_array_size(bias); j++)
            json_array_set_new(
                bias, j, json_real((double)(float)json_number_value(json_array_get(bias, j))));
    }
    if (rc == KILN_OK &&
        (json_object_set(layer, "weights", new_rows) != 0 ||
         json_object_set_new(layer, "dtype",
                             json_string(dt == KILN_QUANT_INT8 ? "int8" : "float32")) != 0 ||
         (dt == KILN_QUANT_INT8 && json_object_set(layer, "scales", scales) != 0)))
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
out:
    json_decref(new_rows);
    json_decref(scales);
    return rc;
}

/* The converted document: every layer (but the output one when keep_out) rewritten. */
static int convert_doc(const json_t *doc, enum kiln_quant_dtype dt, int keep_out, size_t n_rows,
                       json_t **out, struct kiln_err *err)
{
    json_t *nd = json_deep_copy(doc);
    json_t *layers = json_object_get(json_object_get(nd, "model"), "layers");
    json_t *meta;
    int rc = KILN_OK;
    size_t nl = json_array_size(layers);

    if (nd == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
    for (size_t i = 0; i < nl && rc == KILN_OK; i++) {
        int last = i + 1 == nl;
        rc = convert_layer(json_array_get(layers, i), last && keep_out ? KILN_QUANT_FLOAT32 : dt,
                           err);
    }
    meta = json_object_get(nd, "metadata");
    if (rc == KILN_OK && !json_is_object(meta)) {
        meta = json_object();
        if (meta == NULL || json_object_set_new(nd, "metadata", meta) != 0)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
    }
    if (rc == KILN_OK)
        json_object_set_new(
            meta, "quantization",
            json_pack("{s:s,s:s,s:I,s:b}", "weights",
                      dt == KILN_QUANT_INT8 ? "int8 per-channel symmetric" : "float32",
                      "activations",
                      dt == KILN_QUANT_INT8 ? "int8 per-row symmetric, dynamic" : "float32",
                      "calibration_rows", (json_int_t)n_rows, "output_layer_float32", keep_out));
    if (rc != KILN_OK) {
        json_decref(nd);
        return rc;
    }
    *out = nd;
    return KILN_OK;
}

static int mlmodel_text(const struct kiln_mlmodel *src, struct kiln_buf *b)
{
    const json_t *sig = json_object_get(src->root, "signature");
    const char *in = json_string_value(json_object_get(sig, "inputs"));
    const char *outs = json_string_value(json_object_get(sig, "outputs"));
    char uuid[KILN_UUID_HEX_LEN + 1], when[32];
    int rc;

    if (kiln_uuid_hex(uuid) != KILN_OK)
        return KILN_EIO;
    kiln_time_format_iso(kiln_now_ms(), when, sizeof(when));
    rc = kiln_buf_printf(b,
                         "flavors:\n  kiln:\n    data: model.json\n    format_version: 1\n"
                         "    kiln_version: %s\nmodel_uuid: %s\n",
                         KILN_VERSION, uuid);
    if (rc == KILN_OK && in != NULL) {
        rc = kiln_buf_puts(b, "signature:\n  inputs: ");
        if (rc == KILN_OK)
            rc = kiln_json_quote(b, in, strlen(in));
        if (rc == KILN_OK && outs != NULL) {
            rc = kiln_buf_puts(b, "\n  outputs: ");
            if (rc == KILN_OK)
                rc = kiln_json_quote(b, outs, strlen(outs));
        }
        if (rc == KILN_OK)
            rc = kiln_buf_puts(b, "\n  params: null\n");
    }
    if (rc == KILN_OK)
        rc = kiln_buf_printf(b, "utc_time_created: '%s'\n", when);
    return rc;
}

/* Writes model.json and MLmodel under a temporary sibling, then renames it to out_dir. */
static int write_dir(const char *out_dir, const json_t *doc, const struct kiln_mlmodel *src,
                     size_t *bytes, struct kiln_err *err)
{
    struct kiln_buf tmp, text, path;
    struct stat st;
    int rc = KILN_OK, made = 0;

    kiln_buf_init(&tmp, 8192);
    kiln_buf_init(&path, 8192);
    kiln_buf_init(&text, MAX_JSON);
    if (lstat(out_dir, &st) == 0)
        return kiln_err_set(err, KILN_EEXIST, "'%s' already exists", out_dir);
    rc = kiln_buf_printf(&tmp, "%s.tmp-XXXXXX", out_dir);
    if (rc != KILN_OK) {
        rc = kiln_err_set(err, rc, "output path too long");
        goto out;
    }
    if (mkdtemp(tmp.buf) == NULL) {
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot create '%s': %s", tmp.buf,
                          strerror(errno));
        goto out;
    }
    made = 1;
    if (json_dump_callback(doc, dump_cb, &text, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory writing model.json");
        goto out;
    }
    *bytes = text.len;
    rc = kiln_path_join(&path, tmp.buf, "model.json");
    if (rc == KILN_OK)
        rc = kiln_write_file_atomic(path.buf, text.buf, text.len, err);
    kiln_buf_reset(&text);
    kiln_buf_reset(&path);
    if (rc == KILN_OK && (rc = mlmodel_text(src, &text)) != KILN_OK)
        kiln_err_set(err, rc, "cannot write the MLmodel file");
    if (rc == KILN_OK)
        rc = kiln_path_join(&path, tmp.buf, "MLmodel");
    if (rc == KILN_OK)
        rc = kiln_write_file_atomic(path.buf, text.buf, text.len, err);
    if (rc == KILN_OK && rename(tmp.buf, out_dir) != 0)
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot rename '%s' to '%s': %s", tmp.buf,
                          out_dir, strerror(errno));
    if (rc == KILN_OK)
        made = 0;
out:
    if (made)
        remove_written(tmp.buf);
    kiln_buf_release(&tmp);
    kiln_buf_release(&path);
    kiln_buf_release(&text);
    return rc;
}

struct preds {
    int32_t *label;
    double *proba, *value;
};

static void preds_release(struct preds *p)
{
    kiln_free(p->label);
    kiln_free(p->proba);
    kiln_free(p->value);
}

static int run_all(const struct kiln_rt_model *m, const double *x, size_t n, struct preds *p,
                   struct kiln_err *err)
{
    size_t C = kiln_rt_n_classes(m), K = kiln_rt_n_outputs(m);
    struct kiln_rt_out out;

    p->label = kiln_calloc(n, sizeof(int32_t));
    p->proba = kiln_calloc(n * C + 1, sizeof(double));
    p->value = kiln_calloc(n * K + 1, sizeof(double));
    if (p->label == NULL || p->proba == NULL || p->value == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing");
    out.label = p->label;
    out.proba = C ? p->proba : NULL;
    out.value = K ? p->value : NULL;
    return kiln_rt_predict(m, NULL, x, n, &out, err);
}

static void compare(const struct kiln_rt_model *m, const struct preds *a, const struct preds *b,
                    size_t n, struct kiln_quant_report *r)
{
    size_t C = kiln_rt_n_classes(m), K = kiln_rt_n_outputs(m), same = 0;
    double sum = 0;

    r->max_abs_dproba = r->mean_abs_dproba = r->agreement = NAN;
    r->max_abs_dvalue = r->max_rel_dvalue = NAN;
    if (C > 0) {
        r->max_abs_dproba = 0;
        for (size_t i = 0; i < n; i++) {
            same += a->label[i] == b->label[i];
            for (size_t k = 0; k < C; k++) {
                double d = fabs(a->proba[i * C + k] - b->proba[i * C + k]);
                sum += d;
                r->max_abs_dproba = d > r->max_abs_dproba ? d : r->max_abs_dproba;
            }
        }
        r->agreement = (double)same / (double)n;
        r->mean_abs_dproba = sum / (double)(n * C);
        return;
    }
    r->max_abs_dvalue = r->max_rel_dvalue = 0;
    for (size_t i = 0; i < n * K; i++) {
        double d = fabs(a->value[i] - b->value[i]);
        double rel = d / (fabs(a->value[i]) > 1 ? fabs(a->value[i]) : 1.0);
        r->max_abs_dvalue = d > r->max_abs_dvalue ? d : r->max_abs_dvalue;
        r->max_rel_dvalue = rel > r->max_rel_dvalue ? rel : r->max_rel_dvalue;
    }
}

/* Best batch time per row and mean single-row time, each for about budget_ns. */
static int timing(const struct kiln_rt_model *m, const double *x, size_t n, int64_t budget_ns,
                  double *batch_ns, double *single_ns, struct kiln_err *err)
{
    size_t F = kiln_rt_n_inputs(m), C = kiln_rt_n_classes(m), K = kiln_rt_n_outputs(m);
    struct kiln_rt_ws *ws = kiln_rt_ws_new(m);
    struct preds p = { 0 };
    struct kiln_rt_out out;
    int64_t best = INT64_MAX, t0, calls = 0;
    int rc;

    rc = ws == NULL ? kiln_err_set(err, KILN_ENOMEM, "out of memory quantizing")
                    : run_all(m, x, n, &p, err);
    out.label = p.label;
    out.proba = C ? p.proba : NULL;
    out.value = K ? p.value : NULL;
    t0 = kiln_mono_ns();
    while (rc == KILN_OK && (kiln_mono_ns() - t0 < budget_ns || best == INT64_MAX)) {
        int64_t s = kiln_mono_ns();
        rc = kiln_rt_predict(m, ws, x, n, &out, err);
        s = kiln_mono_ns() - s;
        best = s < best ? s : best;
    }
    *batch_ns = (double)best / (double)n;
    t0 = kiln_mono_ns();
    while (rc == KILN_OK && (kiln_mono_ns() - t0 < budget_ns || calls == 0)) {
        size_t i = (size_t)calls % n;
        struct kiln_rt_out one = { out.label + i, out.proba ? out.proba + i * C : NULL,
                                   out.value ? out.value + i * K : NULL };
        rc = kiln_rt_predict(m, ws, x + i * F, 1, &one, err);
        calls++;
    }
    *single_ns = (double)(kiln_mono_ns() - t0) / (double)calls;
    preds_release(&p);
    kiln_rt_ws_free(ws);
    return rc;
}

static int read_source(const char *src_dir, struct kiln_mlmodel **mm, json_t **doc, size_t *bytes,
                       struct kiln_err *err)
{
    struct kiln_buf path, text;
    struct kiln_err sub = { 0 };
    const char *data;
    const json_t *layers;
    int rc = kiln_mlmodel_read(src_dir, mm, err);

    if (rc != KILN_OK)
        return rc;
    if (kiln_mlmodel_flavor(*mm, "kiln") == NULL)
        return kiln_err_set(err, KILN_EINVAL, "'%s' is not a kiln-flavor model", src_dir);
    data = kiln_mlmodel_flavor_str(*mm, "kiln", "data");
    data = data != NULL ? data : "model.json";
    rc = kiln_path_check_rel(data, strlen(data), "MLmodel flavor 'data'", err);
    if (rc != KILN_OK)
        return rc;
    kiln_buf_init(&path, 8192);
    kiln_buf_init(&text, MAX_JSON);
    rc = kiln_path_join(&path, src_dir, data);
    if (rc == KILN_OK)
        rc = kiln_read_file(path.buf, &text, err);
    *bytes = text.len;
    if (rc == KILN_OK && (rc = kiln_json_parse_any(text.buf, text.len, doc, &sub)) != KILN_OK)
        kiln_err_set(err, rc, "%s: %s", data, sub.msg);
    kiln_buf_release(&path);
    kiln_buf_release(&text);
    if (rc != KILN_OK)
        return rc;
    layers = json_object_get(json_object_get(*doc, "model"), "layers");
    if (!json_is_array(layers))
        return kiln_err_set(err, KILN_EINVAL, "'%s' is not an MLP model", src_dir);
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *dt = json_string_value(json_object_get(json_array_get(layers, i), "dtype"));
        if (dt != NULL && strcmp(dt, "int8") == 0)
            return kiln_err_set(err, KILN_EINVAL, "'%s' is already quantized", src_dir);
    }
    return KILN_OK;
}

/* Converts, writes and loads the new model; compares it with the source. */
static int make_variant(const char *out_dir, const json_t *doc, const struct kiln_mlmodel *mm,
                        const struct kiln_rt_model *src, const struct preds *ps,
                        const double *calib, size_t n, enum kiln_quant_dtype dt, int keep_out,
                        struct kiln_quant_report *rep, struct kiln_rt_model **dst,
                        struct kiln_err *err)
{
    json_t *nd = NULL;
    struct preds pd = { 0 };
    int written = 0;
    int rc = convert_doc(doc, dt, keep_out, n, &nd, err);

    if (rc == KILN_OK)
        rc = write_dir(out_dir, nd, mm, &rep->dst_bytes, err);
    written = rc == KILN_OK;
    json_decref(nd);
    if (rc == KILN_OK)
        rc = kiln_rt_load(out_dir, NULL, dst, err);
    if (rc == KILN_OK)
        rc = run_all(*dst, calib, n, &pd, err);
    if (rc == KILN_OK) {
        compare(src, ps, &pd, n, rep);
        rep->output_layer_fp32 = keep_out;
        snprintf(rep->dst_engine, sizeof(rep->dst_engine), "%s", kiln_rt_engine(*dst));
    }
    if (rc != KILN_OK && written)
        remove_written(out_dir);
    preds_release(&pd);
    return rc;
}

int kiln_quant_mlp(const char *src_dir, const double *calib, size_t n_rows, const char *out_dir,
                   const struct kiln_quant_opts *opts, struct kiln_quant_report *rep,
                   struct kiln_err *err)
{
    struct kiln_quant_opts o = { KILN_QUANT_INT8, 0, 0 };
    struct kiln_mlmodel *mm = NULL;
    struct kiln_rt_model *src = NULL, *dst = NULL;
    json_t *doc = NULL;
    struct preds ps = { 0 };
    struct stat st;
    int rc;

    if (opts != NULL)
        o = *opts;
    memset(rep, 0, sizeof(*rep));
    if (n_rows == 0)
        return kiln_err_set(err, KILN_EINVAL, "quantization needs at least one calibration row");
    if (lstat(out_dir, &st) == 0)
        return kiln_err_set(err, KILN_EEXIST, "'%s' already exists", out_dir);
    rc = read_source(src_dir, &mm, &doc, &rep->src_bytes, err);
    if (rc == KILN_OK)
        rc = kiln_rt_load(src_dir, NULL, &src, err);
    if (rc == KILN_OK && strncmp(kiln_rt_engine(src), "mlp-", 4) != 0)
        rc = kiln_err_set(err, KILN_EINVAL, "'%s' is not an MLP model", src_dir);
    if (rc == KILN_OK)
        rc = run_all(src, calib, n_rows, &ps, err);
    if (rc != KILN_OK)
        goto out;
    rep->n_rows = n_rows;
    rep->classifier = kiln_rt_n_classes(src) > 0;
    snprintf(rep->src_engine, sizeof(rep->src_engine), "%s", kiln_rt_engine(src));
    rc = make_variant(out_dir, doc, mm, src, &ps, calib, n_rows, o.dtype, 0, rep, &dst, err);
    if (rc == KILN_OK && o.dtype == KILN_QUANT_INT8 && o.min_agreement > 0 && rep->classifier &&
        rep->agreement < o.min_agreement) {
        kiln_rt_free(dst);
        dst = NULL;
        remove_written(out_dir);
        rc = make_variant(out_dir, doc, mm, src, &ps, calib, n_rows, o.dtype, 1, rep, &dst, err);
    }
    if (rc == KILN_OK) {
        int64_t budget = (int64_t)(o.bench_ms ? o.bench_ms : 300) * 1000000;
        rc = timing(src, calib, n_rows, budget, &rep->src_ns_per_row, &rep->src_ns_single, err);
        if (rc == KILN_OK)
            rc = timing(dst, calib, n_rows, budget, &rep->dst_ns_per_row, &rep->dst_ns_single, err);
        rep->speedup = rep->src_ns_per_row / rep->dst_ns_per_row;
        rep->speedup_single = rep->src_ns_single / rep->dst_ns_single;
        if (rc != KILN_OK)
            remove_written(out_dir);
    }
out:
    preds_release(&ps);
    kiln_rt_free(src);
    kiln_rt_free(dst);
    json_decref(doc);
    kiln_mlmodel_free(mm);
    return rc;
}

void kiln_quant_report_json(const struct kiln_quant_report *r, struct kiln_jsonw *w)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "calibration_rows", (int64_t)r->n_rows);
    kiln_jsonw_kv_str(w, "source_engine", r->src_engine);
    kiln_jsonw_kv_str(w, "engine", r->dst_engine);
    kiln_jsonw_kv_bool(w, "output_layer_float32", r->output_layer_fp32);
    if (r->classifier) {
        kiln_jsonw_kv_double(w, "agreement", r->agreement);
        kiln_jsonw_kv_double(w, "max_abs_delta_proba", r->max_abs_dproba);
        kiln_jsonw_kv_double(w, "mean_abs_delta_proba", r->mean_abs_dproba);
    } else {
        kiln_jsonw_kv_double(w, "max_abs_delta_value", r->max_abs_dvalue);
        kiln_jsonw_kv_double(w, "max_rel_delta_value", r->max_rel_dvalue);
    }
    kiln_jsonw_kv_double(w, "source_ns_per_row", r->src_ns_per_row);
    kiln_jsonw_kv_double(w, "ns_per_row", r->dst_ns_per_row);
    kiln_jsonw_kv_double(w, "speedup", r->speedup);
    kiln_jsonw_kv_double(w, "source_ns_single_row", r->src_ns_single);
    kiln_jsonw_kv_double(w, "ns_single_row", r->dst_ns_single);
    kiln_jsonw_kv_double(w, "speedup_single_row", r->speedup_single);
    kiln_jsonw_kv_int(w, "source_bytes", (int64_t)r->src_bytes);
    kiln_jsonw_kv_int(w, "bytes", (int64_t)r->dst_bytes);
    kiln_jsonw_obj_end(w);
}

/*
 * mlp.c - multi-layer perceptrons: dense layers with relu, tanh, sigmoid, softmax or
 * identity activations, in one of three precisions:
 *   - float64: every layer float64, computed in double (matches scikit-learn to ~1e-15);
 *   - float32: float32 weights and activations (AVX2+FMA kernel when available);
 *   - int8: per-output-channel symmetric int8 weights (w = scale[j] * q), activations
 *     quantized per row on the fly (symmetric, max|x| / 127), int8 x int8 -> int32 sums,
 *     dequantized to float32 with the bias; a network may mix int8 and float32 layers.
 * The output layer's activation is normally identity; the model's link applies the final
 * softmax/sigmoid, so raw scores are the last layer's outputs.
 *
 * JSON layer: {"n_in", "n_out", "dtype", "activation", "weights": n_out rows of n_in,
 * "bias": n_out, "scales": n_out (int8 only)}. Weights are stored transposed (n_in x n_out,
 * padded) for the kernels.
 *
 * Scratch (RT_BLOCK rows): two activation buffers of the widest padded layer, plus for int8
 * the quantized rows, the int32 sums and the row scales.
 * Ownership: struct rt_mlp owns every layer array. Immutable after load; thread-safe.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

#define MAX_LAYER_WEIGHTS ((size_t)1 << 28)

enum act { ACT_IDENTITY, ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_SOFTMAX };
enum dtype { DT_F64, DT_F32, DT_I8 };

struct layer {
    size_t n_in, n_out, ldw;
    enum act act;
    enum dtype dt;
    double *w64, *b64; /* n_in x n_out, n_out */
    float *w32, *b32;  /* n_in x ldw, ldw (b32 also for int8) */
    float *scale;      /* int8: ldw */
    struct rt_s8w s8;
};

struct rt_mlp {
    size_t F, K, n;
    struct layer *layers;
    int f64;
    int has_i8;
    size_t max_w; /* widest padded width (inputs included) */
    enum rt_isa isa;
};

void rt_mlp_free(struct rt_mlp *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n && n->layers != NULL; i++) {
        struct layer *l = &n->layers[i];
        kiln_free(l->w64);
        kiln_free(l->b64);
        rt_afree(l->w32);
        rt_afree(l->b32);
        rt_afree(l->scale);
        rt_k_s8_release(&l->s8);
    }
    kiln_free(n->layers);
    kiln_free(n);
}

const char *rt_mlp_engine(const struct rt_mlp *n)
{
    return n->f64 ? "mlp-float64" : n->has_i8 ? "mlp-int8" : "mlp-float32";
}

static int parse_act(const char *s, enum act *out)
{
    static const char *const names[] = { "identity", "relu", "tanh", "sigmoid", "softmax" };
    for (size_t i = 0; s != NULL && i < KILN_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum act)i;
            return KILN_OK;
        }
    if (s != NULL && strcmp(s, "logistic") == 0) {
        *out = ACT_SIGMOID;
        return KILN_OK;
    }
    return KILN_EINVAL;
}

/* Reads "weights" (n_out rows of n_in) into w (n_out x n_in, row-major). */
static int read_weights(const json_t *lj, size_t n_in, size_t n_out, double *w, const char *w_,
                        struct kiln_err *err)
{
    const json_t *rows = json_object_get(lj, "weights");
    char where[200];
    int rc;

    if (!json_is_array(rows) || json_array_size(rows) != n_out)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'weights' must hold %zu rows (one per output)",
                            w_, n_out);
    for (size_t j = 0; j < n_out; j++) {
        snprintf(where, sizeof(where), "%s: weights row %zu", w_, j);
        rc = rt_json_doubles(json_array_get(rows, j), n_in, w + j * n_in, where, err);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int load_i8(struct rt_mlp *n, struct layer *l, const json_t *lj, const double *w,
                   const double *b, const char *where, struct kiln_err *err)
{
    double *sc = NULL;
    int8_t *q = kiln_malloc(l->n_in * l->n_out);
    int rc;

    if (q == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    rc = rt_json_double_array(lj, "scales", l->n_out, &sc, where, err);
    for (size_t i = 0; rc == KILN_OK && i < l->n_in * l->n_out; i++) {
        if (w[i] != floor(w[i]) || w[i] < -127.0 || w[i] > 127.0)
            rc = kiln_err_set(err, KILN_EINVAL,
                              "%s: int8 weight %zu is not an integer in "
                              "[-127, 127]",
                              where, i);
        else
            q[i] = (int8_t)w[i];
    }
    l->scale = rt_aalloc(l->ldw * sizeof(float));
    l->b32 = rt_aalloc(l->ldw * sizeof(float));
    if (rc == KILN_OK && (l->scale == NULL || l->b32 == NULL))
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    for (size_t j = 0; rc == KILN_OK && j < l->ldw; j++) {
        if (j < l->n_out && (!isfinite(sc[j]) || sc[j] <= 0.0 || sc[j] > 3.4e38))
            rc = kiln_err_set(err, KILN_EINVAL, "%s: scale %zu must be positive and finite", where,
                              j);
        l->scale[j] = j < l->n_out ? (float)sc[j] : 0.0f;
        l->b32[j] = j < l->n_out ? (float)b[j] : 0.0f;
    }
    if (rc == KILN_OK && rt_k_s8_pack(&l->s8, n->isa, q, l->n_in, l->n_out) != KILN_OK)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    kiln_free(sc);
    kiln_free(q);
    return rc;
}

static int load_layer(struct rt_mlp *n, struct layer *l, const json_t *lj, size_t n_in,
                      const char *where, struct kiln_err *err)
{
    const char *dt = json_string_value(json_object_get(lj, "dtype"));
    double *w = NULL, *b = NULL;
    int rc;

    if (!json_is_object(lj))
        return kiln_err_set(err, KILN_EINVAL, "%s: not an object", where);
    rc = rt_json_size(lj, "n_in", RT_MAX_WIDTH, &l->n_in, where, err);
    if (rc == KILN_OK)
        rc = rt_json_size(lj, "n_out", RT_MAX_WIDTH, &l->n_out, where, err);
    if (rc != KILN_OK)
        return rc;
    if (l->n_in != n_in || l->n_out == 0)
        return kiln_err_set(err, KILN_EINVAL, "%s: n_in is %zu but the previous width is %zu",
                            where, l->n_in, n_in);
    if (l->n_in * l->n_out > MAX_LAYER_WEIGHTS)
        return kiln_err_set(err, KILN_EINVAL, "%s: too many weights", where);
    if (parse_act(json_string_value(json_object_get(lj, "activation")), &l->act) != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "%s: unknown 'activation'", where);
    if (dt == NULL || strcmp(dt, "float64") == 0)
        l->dt = DT_F64;
    else if (strcmp(dt, "float32") == 0)
        l->dt = DT_F32;
    else if (strcmp(dt, "int8") == 0)
        l->dt = DT_I8;
    else
        return kiln_err_set(err, KILN_EINVAL, "%s: 'dtype' must be float64, float32 or int8",
                            where);
    l->ldw = RT_PAD_OUT(l->n_out);
    w = kiln_malloc(l->n_in * l->n_out * sizeof(double));
    if (w == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    rc = read_weights(lj, l->n_in, l->n_out, w, where, err);
    if (rc == KILN_OK)
        rc = rt_json_double_array(lj, "bias", l->n_out, &b, where, err);
    for (size_t i = 0; rc == KILN_OK && i < l->n_in * l->n_out; i++)
        if (!isfinite(w[i]) || (l->dt != DT_F64 && fabs(w[i]) > 3.4e38))
            rc = kiln_err_set(err, KILN_EINVAL, "%s: weight %zu is not finite", where, i);
    for (size_t j = 0; rc == KILN_OK && j < l->n_out; j++)
        if (!isfinite(b[j]) || (l->dt != DT_F64 && fabs(b[j]) > 3.4e38))
            rc = kiln_err_set(err, KILN_EINVAL, "%s: bias %zu is not finite", where, j);
    if (rc != KILN_OK)
        goto out;
    if (l->dt == DT_I8) {
        rc = load_i8(n, l, lj, w, b, where, err);
    } else if (l->dt == DT_F32) {
        l->w32 = rt_aalloc(l->n_in * l->ldw * sizeof(float));
        l->b32 = rt_aalloc(l->ldw * sizeof(float));
        if (l->w32 == NULL || l->b32 == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
        memset(l->w32, 0, l->n_in * l->ldw * sizeof(float));
        memset(l->b32, 0, l->ldw * sizeof(float));
        for (size_t j = 0; j < l->n_out; j++) {
            l->b32[j] = (float)b[j];
            for (size_t i = 0; i < l->n_in; i++)
                l->w32[i * l->ldw + j] = (float)w[j * l->n_in + i];
        }
    } else {
        l->w64 = kiln_malloc(l->n_in * l->n_out * sizeof(double));
        if (l->w64 == NULL) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
            goto out;
        }
        for (size_t j = 0; j < l->n_out; j++)
            for (size_t i = 0; i < l->n_in; i++)
                l->w64[i * l->n_out + j] = w[j * l->n_in + i];
        l->b64 = b;
        b = NULL;
    }
out:
    kiln_free(w);
    kiln_free(b);
    return rc;
}

int rt_mlp_load(const json_t *j, size_t F, size_t K, struct rt_mlp **out, const char *where,
                struct kiln_err *err)
{
    const json_t *layers = json_object_get(j, "layers");
    size_t nl = json_array_size(layers), width = F;
    struct rt_mlp *n;
    int rc = KILN_OK, n64 = 0;

    if (!json_is_array(layers) || nl == 0 || nl > RT_MAX_LAYERS)
        return kiln_err_set(err, KILN_EINVAL, "%s: 'layers' must list 1 to %d layers", where,
                            RT_MAX_LAYERS);
    if (F > RT_MAX_WIDTH)
        return kiln_err_set(err, KILN_EINVAL, "%s: more than %zu inputs", where,
                            (size_t)RT_MAX_WIDTH);
    n = kiln_calloc(1, sizeof(*n));
    if (n == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    n->layers = kiln_calloc(nl, sizeof(*n->layers));
    if (n->layers == NULL) {
        kiln_free(n);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", where);
    }
    n->F = F;
    n->K = K;
    n->isa = rt_isa_detect();
    n->max_w = RT_PAD_OUT(F);
    for (size_t i = 0; i < nl && rc == KILN_OK; i++) {
        char w[160];
        snprintf(w, sizeof(w), "%s: layer %zu", where, i);
        n->n++;
        rc = load_layer(n, &n->layers[i], json_array_get(layers, i), width, w, err);
        if (rc != KILN_OK)
            break;
        width = n->layers[i].n_out;
        n64 += n->layers[i].dt == DT_F64;
        n->has_i8 |= n->layers[i].dt == DT_I8;
        if (n->layers[i].ldw > n->max_w)
            n->max_w = n->layers[i].ldw;
    }
    if (rc == KILN_OK && width != K)
        rc = kiln_err_set(err, KILN_EINVAL, "%s: the last layer has %zu outputs, expected %zu",
                          where, width, K);
    if (rc == KILN_OK && n64 != 0 && (size_t)n64 != nl)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "%s: float64 layers cannot be mixed with float32 or int8 layers", where);
    if (rc != KILN_OK) {
        rt_mlp_free(n);
        return rc;
    }
    n->f64 = n64 != 0;
    *out = n;
    return KILN_OK;
}

size_t rt_mlp_scratch(const struct rt_mlp *n)
{
    size_t W = n->max_w + 16;
    if (n->f64)
        return 2 * rt_round64(RT_BLOCK * W * sizeof(double));
    return 2 * rt_round64(RT_BLOCK * W * sizeof(float)) + rt_round64(RT_BLOCK * W * 2) +
           rt_round64(RT_BLOCK * W * sizeof(int32_t)) + rt_round64(RT_BLOCK * sizeof(float));
}

static void act64(enum act a, double *y, size_t n)
{
    switch (a) {
    case ACT_IDENTITY:
        return;
    case ACT_RELU:
        for (size_t j = 0; j < n; j++)
            y[j] = y[j] > 0.0 ? y[j] : 0.0;
        return;
    case ACT_TANH:
        for (size_t j = 0; j < n; j++)
            y[j] = tanh(y[j]);
        return;
    case ACT_SIGMOID:
        for (size_t j = 0; j < n; j++)
            y[j] = 1.0 / (1.0 + exp(-y[j]));
        return;
    case ACT_SOFTMAX: {
        double m = y[0], s = 0.0;
        for (size_t j = 1; j < n; j++)
            m = y[j] > m ? y[j] : m;
        for (size_t j = 0; j < n; j++) {
            y[j] = exp(y[j] - m);
            s += y[j];
        }
        for (size_t j = 0; j < n; j++)
            y[j] /= s;
        return;
    }
    }
}

static void act32(enum act a, float *y, size_t n)
{
    switch (a) {
    case ACT_IDENTITY:
        return;
    case ACT_RELU:
        for (size_t j = 0; j < n; j++)
            y[j] = y[j] > 0.0f ? y[j] : 0.0f;
        return;
    case ACT_TANH:
        for (size_t j = 0; j < n; j++)
            y[j] = tanhf(y[j]);
        return;
    case ACT_SIGMOID:
        for (size_t j = 0; j < n; j++)
            y[j] = 1.0f / (1.0f + expf(-y[j]));
        return;
    case ACT_SOFTMAX: {
        float m = y[0], s = 0.0f;
        for (size_t j = 1; j < n; j++)
            m = y[j] > m ? y[j] : m;
        for (size_t j = 0; j < n; j++) {
            y[j] = expf(y[j] - m);
            s += y[j];
        }
        for (size_t j = 0; j < n; j++)
            y[j] /= s;
        return;
    }
    }
}

static void run64(const struct rt_mlp *n, const double *feat, size_t ld, size_t nb, double *raw,
                  unsigned char *scratch)
{
    size_t W = n->max_w + 16;
    double *buf[2];
    const double *in = feat;
    size_t ldin = ld;

    buf[0] = rt_carve(&scratch, RT_BLOCK * W * sizeof(double));
    buf[1] = rt_carve(&scratch, RT_BLOCK * W * sizeof(double));
    for (size_t li = 0; li < n->n; li++) {
        const struct layer *l = &n->layers[li];
        double *y = buf[li % 2];
        for (size_t r = 0; r < nb; r++) {
            double *yr = y + r * W;
            const double *xr = in + r * ldin;
            memcpy(yr, l->b64, l->n_out * sizeof(double));
            for (size_t i = 0; i < l->n_in; i++) {
                const double *wr = l->w64 + i * l->n_out;
                double a = xr[i];
                if (a == 0.0)
                    continue;
                for (size_t j = 0; j < l->n_out; j++)
                    yr[j] += a * wr[j];
            }
            act64(l->act, yr, l->n_out);
        }
        in = y;
        ldin = W;
    }
    for (size_t r = 0; r < nb; r++)
        memcpy(raw + r * n->K, in + r * ldin, n->K * sizeof(double));
}

static void run32(const struct rt_mlp *n, const double *feat, size_t ld, size_t nb, double *raw,
                  unsigned char *scratch)
{
    size_t W = n->max_w + 16;
    float *buf[2], *x, *rs;
    int8_t *xq;
    int32_t *q;

    buf[0] = rt_carve(&scratch, RT_BLOCK * W * sizeof(float));
    buf[1] = rt_carve(&scratch, RT_BLOCK * W * sizeof(float));
    xq = rt_carve(&scratch, RT_BLOCK * W * 2);
    q = rt_carve(&scratch, RT_BLOCK * W * sizeof(int32_t));
    rs = rt_carve(&scratch, RT_BLOCK * sizeof(float));
    x = buf[1];
    for (size_t r = 0; r < nb; r++)
        for (size_t i = 0; i < n->F; i++)
            x[r * W + i] = (float)feat[r * ld + i];
    for (size_t li = 0; li < n->n; li++) {
        const struct layer *l = &n->layers[li];
        float *y = buf[li % 2];
        if (l->dt == DT_I8) {
            rt_k_quant_rows(n->isa, x, W, nb, l->n_in, xq, W, rs);
            rt_k_s8_gemm(&l->s8, xq, W, nb, q, W);
            rt_k_dequant_rows(n->isa, q, W, nb, l->n_out, rs, l->scale, l->b32, l->act == ACT_RELU,
                              y, W);
        } else {
            rt_k_f32_dense(n->isa, x, W, nb, l->w32, l->n_in, l->ldw, l->b32, y, W);
            if (l->act == ACT_RELU)
                for (size_t r = 0; r < nb; r++)
                    rt_k_relu(n->isa, y + r * W, l->n_out);
        }
        if (l->act != ACT_RELU)
            for (size_t r = 0; r < nb; r++)
                act32(l->act, y + r * W, l->n_out);
        x = y;
    }
    for (size_t r = 0; r < nb; r++)
        for (size_t k = 0; k < n->K; k++)
            raw[r * n->K + k] = (double)x[r * W + k];
}

void rt_mlp_run(const struct rt_mlp *n, const double *feat, size_t ld, size_t nb, double *raw,
                unsigned char *scratch)
{
    if (n->f64)
        run64(n, feat, ld, nb, raw, scratch);
    else
        run32(n, feat, ld, nb, raw, scratch);
}

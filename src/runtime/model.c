/*
 * model.c - the runtime's public face: loading a model directory (flavor dispatch), the
 * signature and its checks, workspaces, and predict = check rows, run the engine block by
 * block, apply the link.
 *
 * State: loaded -> warmed up (optional) -> shared read-only -> freed. Only kiln_rt_load and
 * kiln_rt_warmup write to a model; everything else reads, so concurrent predict calls on one
 * model are safe as long as each uses its own workspace.
 *
 * Workspace layout (bytes, 64-aligned pieces): raw scores RT_BLOCK x K, probabilities
 * RT_BLOCK x n_classes, then the engine's scratch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/time.h"
#include "runtime/mlmodel.h"
#include "runtime/runtime_int.h"

struct kiln_rt_ws {
    const struct kiln_rt_model *m;
    size_t size;
    unsigned char *mem; /* 64-byte aligned inside raw_mem */
    void *raw_mem;
};

struct kiln_rt_model *rt_model_new(void)
{
    return kiln_calloc(1, sizeof(struct kiln_rt_model));
}

void kiln_rt_free(struct kiln_rt_model *m)
{
    if (m == NULL)
        return;
    if (m->impl_free != NULL)
        m->impl_free(m->impl);
    for (size_t i = 0; i < m->n_inputs; i++) {
        kiln_free((char *)(uintptr_t)m->inputs[i].name);
        if (m->vocab != NULL) {
            for (size_t k = 0; k < m->vocab[i].n; k++)
                kiln_free(m->vocab[i].text[k]);
            kiln_free(m->vocab[i].text);
            kiln_free(m->vocab[i].sorted);
        }
    }
    kiln_free(m->inputs);
    kiln_free(m->vocab);
    for (size_t k = 0; k < m->n_classes && m->classes != NULL; k++)
        kiln_free((char *)(uintptr_t)m->classes[k].text);
    kiln_free(m->classes);
    kiln_free(m);
}

int rt_model_alloc_inputs(struct kiln_rt_model *m, size_t n)
{
    m->inputs = kiln_calloc(n, sizeof(*m->inputs));
    m->vocab = kiln_calloc(n, sizeof(*m->vocab));
    if (m->inputs == NULL || m->vocab == NULL)
        return KILN_ENOMEM;
    m->n_inputs = n;
    return KILN_OK;
}

static const char *const type_names[] = { "",        "double",  "float", "long",
                                          "integer", "boolean", "string" };

const char *kiln_rt_type_name(enum kiln_rt_type t)
{
    return (unsigned)t < KILN_ARRAY_LEN(type_names) ? type_names[t] : "unknown";
}

int rt_type_parse(const char *s, enum kiln_rt_type *out, const char *where, struct kiln_err *err)
{
    for (size_t i = 1; i < KILN_ARRAY_LEN(type_names); i++)
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum kiln_rt_type)i;
            return KILN_OK;
        }
    if (strcmp(s, "binary") == 0 || strcmp(s, "datetime") == 0)
        return kiln_err_set(err, KILN_ENOTSUP, "%s: input type '%s' is not supported", where, s);
    return kiln_err_set(err, KILN_EINVAL, "%s: unknown input type '%.40s'", where, s);
}

static int vocab_cmp(const void *a, const void *b, const struct rt_vocab *v)
{
    return strcmp(v->text[*(const uint32_t *)a], v->text[*(const uint32_t *)b]);
}

/* Sorts the code index by text. */
static void vocab_sort(struct rt_vocab *v)
{
    /* Shell sort: no global comparator state (qsort has no context argument in C11). */
    size_t n = v->n;
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            uint32_t tmp = v->sorted[i];
            size_t j = i;
            while (j >= gap && vocab_cmp(&v->sorted[j - gap], &tmp, v) > 0) {
                v->sorted[j] = v->sorted[j - gap];
                j -= gap;
            }
            v->sorted[j] = tmp;
        }
}

int rt_vocab_build(struct kiln_rt_model *m, size_t input, const char *const *texts, size_t n,
                   struct kiln_err *err)
{
    struct rt_vocab *v = &m->vocab[input];

    v->text = kiln_calloc(n ? n : 1, sizeof(char *));
    v->sorted = kiln_calloc(n ? n : 1, sizeof(uint32_t));
    if (v->text == NULL || v->sorted == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading categories");
    for (size_t i = 0; i < n; i++) {
        v->text[i] = kiln_strdup(texts[i]);
        if (v->text[i] == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory loading categories");
        v->n++;
        v->sorted[i] = (uint32_t)i;
    }
    vocab_sort(v);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v->text[v->sorted[i - 1]], v->text[v->sorted[i]]) == 0)
            return kiln_err_set(err, KILN_EINVAL, "input '%s': category '%.60s' is listed twice",
                                m->inputs[input].name, v->text[v->sorted[i]]);
    m->inputs[input].n_categories = n;
    return KILN_OK;
}

long rt_vocab_find(const struct rt_vocab *v, const char *s, size_t len)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *t = v->text[v->sorted[mid]];
        size_t tl = strlen(t);
        /* memcmp, not strncmp: s may hold NUL bytes (a JSON "\u0000" or a raw CSV byte). */
        int c = memcmp(t, s, tl < len ? tl : len);
        if (c == 0)
            c = tl < len ? -1 : tl > len;
        if (c == 0)
            return (long)v->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int rt_class_set(struct kiln_rt_model *m, size_t k, const json_t *label, struct kiln_err *err)
{
    char num[40];
    struct kiln_rt_class *c = &m->classes[k];

    if (json_is_string(label)) {
        c->text = kiln_strdup(json_string_value(label));
    } else if (json_is_integer(label)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(label));
        c->is_number = 1;
        c->number = (double)json_integer_value(label);
        c->text = kiln_strdup(num);
    } else if (json_is_real(label) && isfinite(json_real_value(label))) {
        c->is_number = 1;
        c->number = json_real_value(label);
        snprintf(num, sizeof(num), "%.17g", c->number);
        c->text = kiln_strdup(num);
    } else if (json_is_boolean(label)) {
        c->is_number = 1;
        c->number = json_is_true(label);
        c->text = kiln_strdup(json_is_true(label) ? "true" : "false");
    } else {
        return kiln_err_set(err, KILN_EINVAL, "class %zu: label must be a string or a number", k);
    }
    if (c->text == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading classes");
    return KILN_OK;
}

int rt_classes_range(struct kiln_rt_model *m, size_t n)
{
    m->classes = kiln_calloc(n, sizeof(*m->classes));
    if (m->classes == NULL)
        return KILN_ENOMEM;
    m->n_classes = n;
    for (size_t k = 0; k < n; k++) {
        char num[32];
        snprintf(num, sizeof(num), "%zu", k);
        m->classes[k].is_number = 1;
        m->classes[k].number = (double)k;
        m->classes[k].text = kiln_strdup(num);
        if (m->classes[k].text == NULL)
            return KILN_ENOMEM;
    }
    return KILN_OK;
}

int rt_link_parse(const char *s, enum rt_link *out, const char *where, struct kiln_err *err)
{
    static const char *const names[] = { "identity", "sigmoid", "softmax", "ovr", "exp" };
    for (size_t i = 0; s != NULL && i < KILN_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum rt_link)i;
            return KILN_OK;
        }
    return kiln_err_set(err, KILN_EINVAL, "%s: unknown link '%.40s'", where, s ? s : "(none)");
}

/* Introspection. */
enum kiln_rt_task kiln_rt_task(const struct kiln_rt_model *m)
{
    return m->task;
}
enum kiln_rt_mlflow_output kiln_rt_mlflow_output(const struct kiln_rt_model *m)
{
    return m->mlflow_out;
}
const char *kiln_rt_flavor(const struct kiln_rt_model *m)
{
    return m->flavor;
}
const char *kiln_rt_engine(const struct kiln_rt_model *m)
{
    return m->engine;
}
size_t kiln_rt_n_inputs(const struct kiln_rt_model *m)
{
    return m->n_inputs;
}
const struct kiln_rt_input *kiln_rt_input(const struct kiln_rt_model *m, size_t i)
{
    return i < m->n_inputs ? &m->inputs[i] : NULL;
}
size_t kiln_rt_n_classes(const struct kiln_rt_model *m)
{
    return m->task == KILN_RT_CLASSIFIER ? m->n_classes : 0;
}
const struct kiln_rt_class *kiln_rt_class(const struct kiln_rt_model *m, size_t k)
{
    return m->task == KILN_RT_CLASSIFIER && k < m->n_classes ? &m->classes[k] : NULL;
}
const char *kiln_rt_category(const struct kiln_rt_model *m, size_t input, long code)
{
    if (m->vocab == NULL || input >= m->n_inputs || code < 0 || (size_t)code >= m->vocab[input].n)
        return NULL;
    return m->vocab[input].text[code];
}
size_t kiln_rt_n_outputs(const struct kiln_rt_model *m)
{
    return m->task == KILN_RT_REGRESSOR ? m->n_outputs : 0;
}
int64_t kiln_rt_load_ns(const struct kiln_rt_model *m)
{
    return m->load_ns;
}
int64_t kiln_rt_warmup_ns(const struct kiln_rt_model *m)
{
    return m->warmup_ns;
}

int kiln_rt_find_input(const struct kiln_rt_model *m, const char *name, size_t len, size_t *idx)
{
    for (size_t i = 0; i < m->n_inputs; i++)
        if (strncmp(m->inputs[i].name, name, len) == 0 && m->inputs[i].name[len] == '\0') {
            *idx = i;
            return KILN_OK;
        }
    return KILN_ENOENT;
}

int kiln_rt_encode(const struct kiln_rt_model *m, size_t input, const char *s, size_t len,
                   double *out, struct kiln_err *err)
{
    const struct kiln_rt_input *in = kiln_rt_input(m, input);
    long code;

    if (in == NULL || in->type != KILN_RT_STRING)
        return kiln_err_set(err, KILN_EINVAL, "input '%s' is not a string input",
                            in ? in->name : "?");
    code = rt_vocab_find(&m->vocab[input], s, len);
    if (code < 0 && !in->allow_unknown)
        return kiln_err_set(err, KILN_EINVAL, "input '%s': unknown category '%.*s'", in->name,
                            (int)(len > 60 ? 60 : len), s);
    *out = (double)code;
    return KILN_OK;
}

static int check_value(const struct kiln_rt_input *in, double v, size_t row, int with_row,
                       struct kiln_err *err)
{
    char where[48] = "";
    const char *what = NULL;

    if (isnan(v)) {
        if (in->allow_missing)
            return KILN_OK;
        what = "missing value (NaN) is not allowed";
    } else {
        switch (in->type) {
        case KILN_RT_DOUBLE:
        case KILN_RT_FLOAT:
            return KILN_OK;
        case KILN_RT_LONG:
            if (v != floor(v) || fabs(v) > 9.2233720368547758e18)
                what = "expected an integer (long)";
            break;
        case KILN_RT_INTEGER:
            if (v != floor(v) || v < -2147483648.0 || v > 2147483647.0)
                what = "expected an integer (32-bit)";
            break;
        case KILN_RT_BOOLEAN:
            if (v != 0.0 && v != 1.0)
                what = "expected a boolean (0 or 1)";
            break;
        case KILN_RT_STRING:
            if (v != floor(v) || v >= (double)in->n_categories || v < -1.0 ||
                (v == -1.0 && !in->allow_unknown))
                what = "not a valid category code (use kiln_rt_encode)";
            break;
        }
        if (what == NULL)
            return KILN_OK;
    }
    if (with_row)
        snprintf(where, sizeof(where), "row %zu, ", row);
    return kiln_err_set(err, KILN_EINVAL, "%sinput '%s': %s", where, in->name, what);
}

int kiln_rt_check_value(const struct kiln_rt_model *m, size_t input, double v, struct kiln_err *err)
{
    if (input >= m->n_inputs)
        return kiln_err_set(err, KILN_EINVAL, "input %zu out of range", input);
    return check_value(&m->inputs[input], v, 0, 0, err);
}

static size_t ws_bytes(const struct kiln_rt_model *m)
{
    return rt_round64(RT_BLOCK * m->n_raw * sizeof(double)) +
           rt_round64(RT_BLOCK * (m->n_classes + 1) * sizeof(double)) + m->scratch_bytes + 64;
}

struct kiln_rt_ws *kiln_rt_ws_new(const struct kiln_rt_model *m)
{
    struct kiln_rt_ws *ws = kiln_calloc(1, sizeof(*ws));
    if (ws == NULL)
        return NULL;
    ws->size = ws_bytes(m);
    ws->raw_mem = kiln_malloc(ws->size + 64);
    if (ws->raw_mem == NULL) {
        kiln_free(ws);
        return NULL;
    }
    ws->mem = (unsigned char *)(((uintptr_t)ws->raw_mem + 63) & ~(uintptr_t)63);
    ws->m = m;
    return ws;
}

void kiln_rt_ws_free(struct kiln_rt_ws *ws)
{
    if (ws == NULL)
        return;
    kiln_free(ws->raw_mem);
    kiln_free(ws);
}

static inline double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static void softmax(double *p, size_t n)
{
    double mx = p[0], s = 0.0;
    for (size_t k = 1; k < n; k++)
        if (p[k] > mx)
            mx = p[k];
    for (size_t k = 0; k < n; k++) {
        p[k] = exp(p[k] - mx);
        s += p[k];
    }
    for (size_t k = 0; k < n; k++)
        p[k] /= s;
}

/* xgboost's float32 links (common/math.h), for models converted from xgboost. */
static inline double sigmoid_f32(double x)
{
    return (double)(1.0f / (1.0f + expf(-(float)x)));
}

static void softmax_f32(double *p, size_t n)
{
    float mx = (float)p[0];
    double s = 0.0;
    for (size_t k = 1; k < n; k++)
        mx = fmaxf((float)p[k], mx);
    for (size_t k = 0; k < n; k++) {
        float e = expf((float)p[k] - mx);
        p[k] = (double)e;
        s += (double)e;
    }
    for (size_t k = 0; k < n; k++)
        p[k] = (double)((float)p[k] / (float)s);
}

static double link1(const struct kiln_rt_model *m, double v)
{
    if (m->link == RT_LINK_EXP)
        return m->link_f32 ? (double)expf((float)v) : exp(v);
    if (m->link == RT_LINK_SIGMOID)
        return m->link_f32 ? sigmoid_f32(v) : sigmoid(v);
    return v;
}

/* Raw scores of nb rows -> the caller's outputs (rows row0..row0+nb-1). */
static void finish(const struct kiln_rt_model *m, const double *raw, double *pbuf, size_t nb,
                   size_t row0, const struct kiln_rt_out *out)
{
    size_t K = m->n_raw, C = m->n_classes;

    if (m->task == KILN_RT_REGRESSOR) {
        if (out->value == NULL)
            return;
        for (size_t i = 0; i < nb * K; i++)
            out->value[row0 * K + i] = link1(m, raw[i]);
        return;
    }
    for (size_t r = 0; r < nb; r++) {
        double *p = out->proba != NULL ? out->proba + (row0 + r) * C : pbuf;
        size_t best = 0;
        if (K == 1) {
            double p1 = link1(m, raw[r]);
            p[0] = 1.0 - p1;
            p[1] = p1;
        } else {
            double s = 0.0;
            memcpy(p, raw + r * K, C * sizeof(double));
            if (m->link == RT_LINK_SOFTMAX && m->link_f32)
                softmax_f32(p, C);
            else if (m->link == RT_LINK_SOFTMAX)
                softmax(p, C);
            else if (m->link == RT_LINK_OVR) {
                for (size_t k = 0; k < C; k++) {
                    p[k] = sigmoid(p[k]);
                    s += p[k];
                }
                for (size_t k = 0; k < C; k++)
                    p[k] /= s;
            }
        }
        for (size_t k = 1; k < C; k++)
            if (p[k] > p[best])
                best = k;
        if (out->label != NULL)
            out->label[row0 + r] = (int32_t)best;
    }
}

int kiln_rt_predict(const struct kiln_rt_model *m, struct kiln_rt_ws *ws, const double *x,
                    size_t n_rows, const struct kiln_rt_out *out, struct kiln_err *err)
{
    struct kiln_rt_ws *own = NULL;
    size_t F = m->n_inputs;
    int rc = KILN_OK;

    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < F; j++) {
            const struct kiln_rt_input *in = &m->inputs[j];
            double v = x[r * F + j];
            if (in->type == KILN_RT_DOUBLE && (in->allow_missing || !isnan(v)))
                continue;
            rc = check_value(in, v, r, 1, err);
            if (rc != KILN_OK)
                return rc;
        }
    if (ws == NULL) {
        own = ws = kiln_rt_ws_new(m);
        if (ws == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory for a prediction workspace");
    } else if (ws->size < ws_bytes(m)) {
        return kiln_err_set(err, KILN_EINVAL, "workspace was made for another model");
    }
    {
        unsigned char *p = ws->mem;
        double *raw = rt_carve(&p, RT_BLOCK * m->n_raw * sizeof(double));
        double *pbuf = rt_carve(&p, RT_BLOCK * (m->n_classes + 1) * sizeof(double));
        for (size_t r0 = 0; r0 < n_rows && rc == KILN_OK; r0 += RT_BLOCK) {
            size_t nb = n_rows - r0 < RT_BLOCK ? n_rows - r0 : RT_BLOCK;
            rc = m->run(m, p, x + r0 * F, nb, raw, err);
            if (rc == KILN_OK)
                finish(m, raw, pbuf, nb, r0, out);
        }
    }
    kiln_rt_ws_free(own);
    return rc;
}

int kiln_rt_warmup(struct kiln_rt_model *m, unsigned rounds, struct kiln_err *err)
{
    size_t F = m->n_inputs, C = m->n_classes ? m->n_classes : 1;
    size_t K = m->n_outputs ? m->n_outputs : 1;
    double *x = kiln_malloc(RT_BLOCK * F * sizeof(double));
    double *proba = kiln_malloc(RT_BLOCK * C * sizeof(double));
    double *val = kiln_malloc(RT_BLOCK * K * sizeof(double));
    int32_t label[RT_BLOCK];
    struct kiln_rt_ws *ws = kiln_rt_ws_new(m);
    struct kiln_rt_out out = { label, proba, val };
    int64_t t0 = kiln_mono_ns();
    int rc = KILN_OK;

    if (x == NULL || proba == NULL || val == NULL || ws == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory warming up the model");
        goto out;
    }
    for (size_t r = 0; r < RT_BLOCK; r++)
        for (size_t j = 0; j < F; j++) {
            const struct kiln_rt_input *in = &m->inputs[j];
            double v = (double)(r % 2);
            if (in->type == KILN_RT_STRING)
                v = in->n_categories > 0 ? (double)(r % in->n_categories) : -1.0;
            if (r % 4 == 3 && in->allow_missing)
                v = NAN;
            x[r * F + j] = v;
        }
    if (rounds == 0)
        rounds = 16;
    for (unsigned i = 0; i < rounds && rc == KILN_OK; i++)
        rc = kiln_rt_predict(m, ws, x, i % 2 ? 1 : RT_BLOCK, &out, err);
    m->warmup_ns = kiln_mono_ns() - t0;
out:
    kiln_rt_ws_free(ws);
    kiln_free(x);
    kiln_free(proba);
    kiln_free(val);
    return rc;
}

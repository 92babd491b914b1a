/*
 * xgb_lib.c - the libxgboost boundary: a booster loaded from memory, its JSON text, and
 * in-place prediction from dense double rows. Every XGBoost C API failure is turned into a
 * kiln error here, with XGBGetLastError()'s text (STYLE.md rule 6).
 *
 * Threads: XGBoosterPredictFromDense is thread-safe in libxgboost 1.7 (results live in a
 * per-thread entry, copied out before returning). The booster is not modified after
 * rt_xgblib_configure, so one booster serves concurrent predict calls.
 *
 * Loading: libxgboost is opened with dlopen the first time a model needs it, not linked. It
 * drags in libstdc++, libgomp and libdmlc (about 4 MB resident), which a control plane or a
 * replica serving kiln-format models never uses; `kiln server` stays small (issue 2's idle
 * RSS target) and a machine without the package still runs every other model. The header
 * gives the prototypes; the table below holds the resolved entry points, filled once
 * (pthread_once) and read-only afterwards.
 *
 * Ownership: struct rt_xgblib owns the BoosterHandle.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <xgboost/c_api.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

/* The entry points kiln uses, resolved from the library by load_library(). */
static struct {
    const char *(*last_error)(void);
    int (*create)(const DMatrixHandle dmats[], bst_ulong len, BoosterHandle *out);
    int (*free_booster)(BoosterHandle handle);
    int (*load)(BoosterHandle handle, const void *buf, bst_ulong len);
    int (*save)(BoosterHandle handle, char const *config, bst_ulong *out_len,
                char const **out_dptr);
    int (*set_param)(BoosterHandle handle, const char *name, const char *value);
    int (*num_feature)(BoosterHandle handle, bst_ulong *out);
    int (*predict_dense)(BoosterHandle handle, char const *values, char const *config,
                         DMatrixHandle m, bst_ulong const **out_shape, bst_ulong *out_dim,
                         const float **out_result);
    int loaded;
    char why_not[200];
} xgb;
static pthread_once_t xgb_once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer without the object/function pointer cast warning. */
#define XGB_SYM(field, name)                     \
    do {                                         \
        void *sym_ = dlsym(h, name);             \
        if (sym_ == NULL)                        \
            goto missing;                        \
        memcpy(&xgb.field, &sym_, sizeof(sym_)); \
    } while (0)

static void load_library(void)
{
    static const char *const names[] = { "libxgboost.so.0", "libxgboost.so" };
    void *h = NULL;
    const char *e;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && h == NULL; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        e = dlerror();
        snprintf(xgb.why_not, sizeof(xgb.why_not), "cannot load libxgboost (%s)",
                 e != NULL ? e : "not found");
        return;
    }
    XGB_SYM(last_error, "XGBGetLastError");
    XGB_SYM(create, "XGBoosterCreate");
    XGB_SYM(free_booster, "XGBoosterFree");
    XGB_SYM(load, "XGBoosterLoadModelFromBuffer");
    XGB_SYM(save, "XGBoosterSaveModelToBuffer");
    XGB_SYM(set_param, "XGBoosterSetParam");
    XGB_SYM(num_feature, "XGBoosterGetNumFeature");
    XGB_SYM(predict_dense, "XGBoosterPredictFromDense");
    xgb.loaded = 1;
    return; /* the library stays loaded for the process's life */
missing:
    e = dlerror();
    snprintf(xgb.why_not, sizeof(xgb.why_not), "libxgboost lacks an entry point (%s)",
             e != NULL ? e : "?");
    dlclose(h);
}

struct rt_xgblib {
    BoosterHandle h;
    size_t n_features, n_out;
    char cfg[256];
};

int rt_xgblib_available(void)
{
    pthread_once(&xgb_once, load_library);
    return xgb.loaded;
}

const char *rt_xgblib_why_not(void)
{
    pthread_once(&xgb_once, load_library);
    return xgb.loaded ? NULL : xgb.why_not;
}

static int fail(struct kiln_err *err, int rc, const char *name, const char *what)
{
    const char *msg = xgb.last_error();
    const char *nl;
    size_t n;

    /* libxgboost messages carry a "[time] file:line: " prefix and several lines. */
    if (msg == NULL)
        msg = "unknown error";
    nl = strchr(msg, '\n');
    n = nl != NULL ? (size_t)(nl - msg) : strlen(msg);
    return kiln_err_set(err, rc, "%s: %s: libxgboost: %.*s", name, what, (int)(n > 180 ? 180 : n),
                        msg);
}

int rt_xgblib_open(const void *data, size_t len, int nthread, struct rt_xgblib **out,
                   const char *name, struct kiln_err *err)
{
    struct rt_xgblib *b = kiln_calloc(1, sizeof(*b));
    char nt[16];

    if (!rt_xgblib_available()) {
        kiln_free(b);
        return kiln_err_set(err, KILN_ENOTSUP, "%s: %s", name, xgb.why_not);
    }
    if (b == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    if (xgb.create(NULL, 0, &b->h) != 0) {
        kiln_free(b);
        return fail(err, KILN_EINTERNAL, name, "cannot create a booster");
    }
    if (xgb.load(b->h, data, (bst_ulong)len) != 0) {
        int rc = fail(err, KILN_EINVAL, name, "cannot load the model");
        rt_xgblib_free(b);
        return rc;
    }
    snprintf(nt, sizeof(nt), "%d", nthread > 0 ? nthread : 1);
    if (xgb.set_param(b->h, "nthread", nt) != 0) {
        int rc = fail(err, KILN_EINTERNAL, name, "cannot set nthread");
        rt_xgblib_free(b);
        return rc;
    }
    *out = b;
    return KILN_OK;
}

int rt_xgblib_json(struct rt_xgblib *b, char **json, size_t *len, const char *name,
                   struct kiln_err *err)
{
    bst_ulong n = 0;
    const char *p = NULL;
    char *copy;

    if (xgb.save(b->h, "{\"format\": \"json\"}", &n, &p) != 0)
        return fail(err, KILN_EINVAL, name, "cannot convert the model to JSON");
    copy = kiln_malloc((size_t)n + 1);
    if (copy == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory loading %s", name);
    memcpy(copy, p, (size_t)n);
    copy[n] = '\0';
    *json = copy;
    *len = (size_t)n;
    return KILN_OK;
}

int rt_xgblib_configure(struct rt_xgblib *b, size_t n_features, size_t n_out, int type,
                        unsigned iter_end, struct kiln_err *err)
{
    bst_ulong nf = 0;
    if (xgb.num_feature(b->h, &nf) != 0)
        return fail(err, KILN_EINVAL, "xgboost model", "cannot read the feature count");
    if ((size_t)nf != n_features)
        return kiln_err_set(err, KILN_EINVAL,
                            "xgboost model: booster has %llu features, "
                            "expected %zu",
                            (unsigned long long)nf, n_features);
    b->n_features = n_features;
    b->n_out = n_out;
    snprintf(b->cfg, sizeof(b->cfg),
             "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
             "\"iteration_end\": %u, \"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}",
             type, iter_end);
    return KILN_OK;
}

int rt_xgblib_run(const struct rt_xgblib *b, const double *x, size_t nb, double *raw,
                  struct kiln_err *err)
{
    char arr[192];
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    size_t total = 1;

    snprintf(arr, sizeof(arr),
             "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f8\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)x, nb, b->n_features);
    if (xgb.predict_dense(b->h, arr, b->cfg, NULL, &shape, &dim, &res) != 0)
        return fail(err, KILN_EINTERNAL, "xgboost model", "prediction failed");
    for (bst_ulong i = 0; i < dim; i++)
        total *= (size_t)shape[i];
    if (total != nb * b->n_out)
        return kiln_err_set(err, KILN_EINTERNAL,
                            "xgboost model: libxgboost returned %zu values, expected %zu", total,
                            nb * b->n_out);
    for (size_t i = 0; i < total; i++)
        raw[i] = (double)res[i];
    return KILN_OK;
}

void rt_xgblib_free(struct rt_xgblib *b)
{
    if (b == NULL)
        return;
    if (b->h != NULL)
        xgb.free_booster(b->h);
    kiln_free(b);
}

/*
 * xgb_lib_stub.c - the libxgboost boundary in builds without libxgboost (-Dxgboost=disabled):
 * every entry point fails with KILN_ENOTSUP (STYLE.md rule 17). JSON xgboost models that
 * kiln's own tree engine can run still load (xgb.c never needs the library for them).
 */
#include "runtime/runtime_int.h"

int rt_xgblib_available(void)
{
    return 0;
}

const char *rt_xgblib_why_not(void)
{
    return "this build of kiln has no libxgboost";
}

int rt_xgblib_open(const void *data, size_t len, int nthread, struct rt_xgblib **out,
                   const char *name, struct kiln_err *err)
{
    (void)data;
    (void)len;
    (void)nthread;
    (void)out;
    return kiln_err_set(err, KILN_ENOTSUP, "%s: this build of kiln has no libxgboost", name);
}

int rt_xgblib_json(struct rt_xgblib *b, char **json, size_t *len, const char *name,
                   struct kiln_err *err)
{
    (void)b;
    (void)json;
    (void)len;
    return kiln_err_set(err, KILN_ENOTSUP, "%s: this build of kiln has no libxgboost", name);
}

int rt_xgblib_configure(struct rt_xgblib *b, size_t n_features, size_t n_out, int type,
                        unsigned iter_end, struct kiln_err *err)
{
    (void)b;
    (void)n_features;
    (void)n_out;
    (void)type;
    (void)iter_end;
    return kiln_err_set(err, KILN_ENOTSUP, "this build of kiln has no libxgboost");
}

int rt_xgblib_run(const struct rt_xgblib *b, const double *x, size_t nb, double *raw,
                  struct kiln_err *err)
{
    (void)b;
    (void)x;
    (void)nb;
    (void)raw;
    return kiln_err_set(err, KILN_ENOTSUP, "this build of kiln has no libxgboost");
}

void rt_xgblib_free(struct rt_xgblib *b)
{
    (void)b;
}

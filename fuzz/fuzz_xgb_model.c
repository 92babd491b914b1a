/*
 * fuzz_xgb_model.c - xgboost JSON models converted to kiln's tree engine (kiln's own parser
 * and converter; libxgboost's UBJ and binary readers are not ours and are not fuzzed here,
 * so only JSON text is passed on). A model that loads is warmed up.
 */
#include <stdint.h>
#include <string.h>

#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_rt_load_opts opts = { KILN_RT_XGB_NATIVE, 1, 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_err err = { 0 };

    if (size < 2 || size > ((size_t)1 << 20) || data[0] != '{' || data[1] != '"')
        return 0;
    if (kiln_rt_load_xgboost(data, size, "model.json", &opts, &m, &err) == KILN_OK) {
        kiln_rt_warmup(m, 2, &err);
        kiln_rt_free(m);
    }
    return 0;
}

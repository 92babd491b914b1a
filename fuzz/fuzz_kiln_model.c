/*
 * fuzz_kiln_model.c - the kiln-flavor model loader (model.json): any input must either load
 * or be refused with an error, never crash, hang or leak. A model that loads is warmed up
 * (predictions on synthetic rows through preprocessing and the estimator).
 */
#include <stdint.h>
#include <string.h>

#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_rt_model *m = NULL;
    struct kiln_err err = { 0 };

    if (size > ((size_t)1 << 20))
        return 0;
    if (kiln_rt_load_kiln_json((const char *)data, size, "model.json", &m, &err) == KILN_OK) {
        kiln_rt_warmup(m, 2, &err);
        kiln_rt_free(m);
    }
    return 0;
}

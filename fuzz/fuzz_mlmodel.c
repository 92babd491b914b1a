/*
 * fuzz_mlmodel.c - MLmodel files: YAML (libyaml) to a jansson tree, flavors and the
 * signature's JSON-in-YAML column specs.
 */
#include <stdint.h>
#include <string.h>

#include "runtime/mlmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_mlmodel *mm = NULL;
    struct kiln_err err = { 0 };

    if (size > KILN_MLMODEL_MAX_BYTES)
        return 0;
    if (kiln_mlmodel_parse((const char *)data, size, "MLmodel", &mm, &err) == KILN_OK) {
        kiln_mlmodel_flavor_str(mm, "xgboost", "data");
        kiln_mlmodel_flavor_str(mm, "kiln", "format_version");
        kiln_mlmodel_str(mm, "run_id");
        kiln_mlmodel_free(mm);
    }
    return 0;
}

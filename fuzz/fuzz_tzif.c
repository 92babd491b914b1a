/*
 * fuzz_tzif.c - TZif time-zone files (RFC 8536) and their POSIX TZ footers: hostile bytes are
 * refused or parsed; a parsed zone answers offset and transition queries without crashing.
 */
#include <stdint.h>

#include "core/err.h"
#include "pipeline/pipeline_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_tz *tz = NULL;
    int64_t when, inst[2], gap;
    int32_t a, b;
    if (kiln_tz_parse("fuzz", data, size, &tz, NULL) != KILN_OK)
        return 0;
    for (int64_t t = -4000000000LL; t < 8000000000LL; t += 700000000LL) {
        kiln_tz_offset(tz, t);
        kiln_tz_next_transition(tz, t, &when, &a, &b);
        kiln_tz_wall_instants(tz, t, inst, &gap);
    }
    kiln_tz_free(tz);
    return 0;
}

/*
 * fuzz_cron.c - cron expressions and next-fire search in time zones with DST. Input: the
 * first byte picks a zone and a start instant, the rest is the expression. A parsed schedule
 * must give strictly increasing fire times (or none), each on a whole minute.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pipeline/pipeline_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {
    "UTC",          "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
    "Pacific/Apia", "Asia/Kathmandu"
};
static struct kiln_tz *loaded[6];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_cron c;
    char expr[256];
    int64_t t, next;
    size_t z;
    if (size < 1 || size - 1 >= sizeof(expr))
        return 0;
    z = data[0] % 6;
    if (loaded[z] == NULL && kiln_tz_load(zones[z], &loaded[z], NULL) != KILN_OK)
        return 0;
    memcpy(expr, data + 1, size - 1);
    expr[size - 1] = '\0';
    if (kiln_cron_parse(expr, &c, NULL) != KILN_OK)
        return 0;
    /* Starts spread over DST changes of several years, past and future. */
    t = 1711670400LL + (int64_t)(data[0] / 6) * 86400LL * 53;
    for (int i = 0; i < 4; i++) {
        if (kiln_cron_next(&c, loaded[z], t, &next) != KILN_OK)
            break;
        int wall_aligned = (next + kiln_tz_offset(loaded[z], next)) % 60 == 0;
        if (next <= t || (!wall_aligned && next % 60 != 0))
            abort();
        t = next;
    }
    return 0;
}

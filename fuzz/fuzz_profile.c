/*
 * fuzz_profile.c - the profile JSON reader (kiln drift accepts profiles from users). Any
 * profile that parses is written back, used as a drift reference against a small batch
 * and as a window's reference, so the sketch and value tables it rebuilds are exercised.
 */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "quality/drift.h"
#include "quality/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CSV[] = "x,c\n1.5,a\n2,b\n,a\n9,z\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_profile *p = NULL;
    struct kiln_drift_data *ref = NULL, *cur = NULL;
    struct kiln_drift_result *res = NULL;
    struct kiln_drift_window *w = NULL;
    struct kiln_table_reader *r = NULL;
    struct kiln_drift_opts o;
    struct kiln_buf b;
    if (kiln_profile_parse((const char *)data, size, "fuzz.json", &p, NULL) != 0)
        return 0;
    kiln_buf_init(&b, (size_t)64 << 20);
    kiln_profile_to_json(p, &b, NULL);
    kiln_drift_opts_init(&o);
    o.threads = 1;
    if (kiln_table_reader_open_mem(CSV, strlen(CSV), "c.csv", NULL, &r, NULL) == 0 &&
        kiln_drift_data_load(r, NULL, 0, &cur, NULL) == 0 &&
        kiln_drift_data_from_profile(p, &ref, NULL) == 0 &&
        kiln_drift_compute(ref, cur, &o, &res, NULL) == 0) {
        kiln_buf_reset(&b);
        kiln_drift_result_json(res, &b);
    }
    kiln_drift_result_free(res);
    res = NULL;
    if (kiln_drift_window_new(p, &o, &w, NULL) == 0) {
        for (size_t i = 0; i < p->ncols; i++)
            kiln_drift_window_add_text(w, i, "1.5", 3);
        kiln_drift_window_end_row(w);
        if (kiln_drift_window_compute(w, &res, NULL) == 0)
            kiln_drift_result_free(res);
    }
    kiln_drift_window_free(w);
    kiln_drift_data_free(ref);
    kiln_drift_data_free(cur);
    kiln_table_reader_free(r);
    kiln_profile_free(p);
    kiln_buf_release(&b);
    return 0;
}

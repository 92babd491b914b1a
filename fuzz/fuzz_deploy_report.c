/*
 * fuzz_deploy_report.c - replica reports (kiln_deploy_report_parse): any body either parses
 * into a report whose counters are consistent, or is refused with KILN_EPARSE or KILN_EINVAL.
 * A parsed report is written back, parsed again, and must give the same text; its statistics
 * are merged and analysed (so histogram and confusion code see hostile data too).
 */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "deploy/deploy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write(const struct kiln_deploy_report *r, struct kiln_buf *b)
{
    struct kiln_jsonw w;
    kiln_jsonw_init(&w, b);
    kiln_deploy_report_write(&w, r);
    KILN_ASSERT(kiln_jsonw_finish(&w) == KILN_OK);
}

static void exercise(const struct kiln_deploy_report *r)
{
    static const struct kiln_deploy_check off = { 0 };
    struct kiln_deploy_spec spec;
    struct kiln_deploy_vstats all, empty;
    struct kiln_deploy_analysis a;
    memset(&spec, 0, sizeof(spec));
    for (int i = 0; i < KILN_DM_COUNT; i++) {
        spec.checks[i] = off;
        spec.checks[i].enabled = 1;
        spec.checks[i].max = spec.checks[i].max_ms = spec.checks[i].min = 0.5;
        spec.checks[i].max_increase = spec.checks[i].max_ratio = spec.checks[i].max_drop = 0.5;
    }
    spec.min_samples = 1;
    spec.score_bins = 10;
    kiln_deploy_vstats_init(&all, 1);
    kiln_deploy_vstats_init(&empty, 1);
    for (size_t i = 0; i < r->nversions; i++) {
        KILN_ASSERT(r->versions[i].errors <= r->versions[i].requests);
        KILN_ASSERT(r->versions[i].agreed <= r->versions[i].compared);
        if (kiln_deploy_vstats_merge(&all, &r->versions[i]) != KILN_OK)
            break;
    }
    if (r->nversions > 0)
        kiln_deploy_analyze(&spec, &r->versions[0], &all, &empty, &a);
    kiln_deploy_vstats_release(&all);
    kiln_deploy_vstats_release(&empty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_deploy_report *r = NULL, *back = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_deploy_report_parse((const char *)data, size, &r, &err);
    if (rc == KILN_OK) {
        struct kiln_buf b1, b2;
        kiln_buf_init(&b1, (size_t)64 << 20);
        kiln_buf_init(&b2, (size_t)64 << 20);
        write(r, &b1);
        KILN_ASSERT(kiln_deploy_report_parse(b1.buf, b1.len, &back, &err) == KILN_OK);
        write(back, &b2);
        KILN_ASSERT(b1.len == b2.len && memcmp(b1.buf, b2.buf, b1.len) == 0);
        exercise(r);
        kiln_deploy_report_free(back);
        kiln_buf_release(&b1);
        kiln_buf_release(&b2);
    } else {
        KILN_ASSERT(rc == KILN_EPARSE || rc == KILN_EINVAL || rc == KILN_ENOMEM);
        KILN_ASSERT(r == NULL);
    }
    kiln_deploy_report_free(r);
    return 0;
}

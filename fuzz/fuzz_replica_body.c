/*
 * fuzz_replica_body.c - what a `kiln serve --deployment` replica parses: the control plane's
 * plan (rplan_parse) and POST /feedback bodies (fb_apply). The first byte picks the parser.
 * A plan either parses into a consistent value (a mode that agrees with its candidate, a
 * weight in [0, 100]) or is refused with KILN_EPARSE or KILN_EINVAL; a feedback body either
 * joins labels (matched + unmatched = labels given) or is refused and changes nothing: the
 * remembered predictions can still be joined afterwards.
 */
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "serve/replica_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void plan(const char *body, size_t len)
{
    struct rplan p;
    struct kiln_err err = { 0 };
    int rc = rplan_parse(body, len, &p, &err);
    if (rc != KILN_OK) {
        KILN_ASSERT(rc == KILN_EPARSE || rc == KILN_EINVAL || rc == KILN_ENOMEM);
        return;
    }
    KILN_ASSERT(p.weight >= 0 && p.weight <= 100);
    KILN_ASSERT((p.mode == RP_STABLE) == (p.candidate == 0));
    KILN_ASSERT(p.mode != RP_SHADOW || p.shadow);
    KILN_ASSERT(strlen(p.model) > 0 && strlen(p.model) < sizeof(p.model));
    (void)rplan_to_candidate(&p, body, len, 12345);
}

static void feedback(const char *body, size_t len)
{
    static const char *const ids[] = { "a", "b", "req-1", "x#0" };
    struct fb_table t;
    struct kiln_err err = { 0 };
    size_t m = 0, u = 0;
    const char *again = "{\"labels\": [{\"request_id\": \"a\", \"label\": \"1\"}, "
                        "{\"request_id\": \"b\", \"label\": \"0\"}, {\"request_id\": \"req-1\", "
                        "\"label\": \"1\"}, {\"request_id\": \"x#0\", \"label\": \"1\"}]}";
    struct kiln_deploy_report r;
    int rc;
    if (fb_init(&t, 8) != KILN_OK)
        return;
    for (size_t i = 0; i < 4; i++)
        fb_record(&t, ids[i], strlen(ids[i]), (int64_t)i % 2 + 1, i % 2 ? "0" : "1", 1);
    rc = fb_apply(&t, body, len, &m, &u, &err);
    if (rc != KILN_OK) {
        KILN_ASSERT(rc == KILN_EPARSE || rc == KILN_EINVAL || rc == KILN_ENOMEM);
        KILN_ASSERT(m == 0);
        if (rc != KILN_ENOMEM) {
            /* Nothing changed: all four predictions are still there. */
            KILN_ASSERT(fb_apply(&t, again, strlen(again), &m, &u, &err) == KILN_OK);
            KILN_ASSERT(m == 4 && u == 0);
        }
    } else {
        KILN_ASSERT(m <= 4);
    }
    memset(&r, 0, sizeof(r));
    if (fb_take(&t, &r) == KILN_OK) {
        uint64_t n = 0;
        for (size_t i = 0; i < r.nversions; i++)
            n += kiln_deploy_confusion_total(&r.versions[i].feedback);
        KILN_ASSERT(n <= 8);
    }
    for (size_t i = 0; i < r.nversions; i++)
        kiln_deploy_vstats_release(&r.versions[i]);
    kiln_free(r.versions);
    for (size_t i = 0; i < r.npredictions; i++) {
        kiln_free(r.predictions[i].id);
        kiln_free(r.predictions[i].label);
    }
    kiln_free(r.predictions);
    fb_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        feedback((const char *)data + 1, size - 1);
    else
        plan((const char *)data + 1, size - 1);
    return 0;
}

/*
 * fuzz_deploy_spec.c - the deployment spec parser (kiln_deploy_spec_parse): any input either
 * parses into a spec whose every field is in range, or is refused with KILN_EINVAL and a
 * message that starts with the file name and a line. A parsed spec is written back as JSON,
 * which must succeed and must parse.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "deploy/deploy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct kiln_deploy_spec *s)
{
    KILN_ASSERT(kiln_deploy_validate_name(s->name, NULL) == KILN_OK);
    KILN_ASSERT(s->model != NULL && strcmp(s->stable_env, s->candidate_env) != 0);
    KILN_ASSERT(s->nsteps >= 1 && s->nsteps <= KILN_DEPLOY_MAX_STEPS + 1);
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct kiln_deploy_step *st = &s->steps[i];
        KILN_ASSERT(st->shadow ? i == 0 && st->weight == 0 : st->weight > 0 && st->weight <= 100);
        KILN_ASSERT(st->min_duration_ms >= 0 && st->min_requests >= 0);
    }
    KILN_ASSERT(s->interval_ms >= 100 && s->min_samples >= 1);
    KILN_ASSERT(s->score_bins >= 2 && s->score_bins <= 100);
    KILN_ASSERT(s->report_interval_ms >= 100);
    for (int i = 0; i < KILN_DM_COUNT; i++) {
        const struct kiln_deploy_check *k = &s->checks[i];
        if (k->enabled)
            KILN_ASSERT(!isnan(k->max) || !isnan(k->max_ms) || !isnan(k->max_increase) ||
                        !isnan(k->max_ratio) || !isnan(k->min) || !isnan(k->max_drop));
    }
    KILN_ASSERT(s->nalerts <= KILN_DEPLOY_MAX_ALERTS);
    for (size_t i = 0; i < s->nalerts; i++) {
        KILN_ASSERT(s->alerts[i].kind < KILN_ALERT_KIND_COUNT && s->alerts[i].window_ms >= 1000);
        for (size_t j = 0; j < i; j++)
            KILN_ASSERT(strcmp(s->alerts[i].name, s->alerts[j].name) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_deploy_spec *s = NULL;
    struct kiln_err err = { 0 };
    int rc;
    if (arena == NULL)
        return 0;
    rc = kiln_deploy_spec_parse((const char *)data, size, "f.yaml", arena, &s, &err);
    if (rc == KILN_OK) {
        struct kiln_buf b;
        struct kiln_jsonw w;
        json_t *doc = NULL;
        check(s);
        kiln_buf_init(&b, (size_t)16 << 20);
        kiln_jsonw_init(&w, &b);
        kiln_deploy_spec_write(&w, s);
        KILN_ASSERT(kiln_jsonw_finish(&w) == KILN_OK);
        KILN_ASSERT(kiln_json_parse_object(b.buf, b.len, 0, &doc, NULL) == KILN_OK);
        json_decref(doc);
        kiln_buf_release(&b);
    } else {
        KILN_ASSERT(rc == KILN_EINVAL || rc == KILN_ENOMEM);
        KILN_ASSERT(rc != KILN_EINVAL || strncmp(err.msg, "f.yaml", 6) == 0);
        KILN_ASSERT(s == NULL);
    }
    kiln_arena_free(arena);
    return 0;
}

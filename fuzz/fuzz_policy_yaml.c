/*
 * fuzz_policy_yaml.c - the promotion-policy YAML parser (kiln_policy_parse_yaml): any input
 * either parses into a policy whose every environment, gate and reference is consistent, or
 * is refused with KILN_EINVAL and a message that names a line (or the whole policy). A parsed
 * policy is also written back as JSON, which must succeed.
 */
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/mem.h"
#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct kiln_policy *p)
{
    KILN_ASSERT(p->nenvs >= 1 && p->nenvs <= KILN_POLICY_MAX_ENVS);
    for (size_t i = 0; i < p->nenvs; i++) {
        const struct kiln_env_policy *e = &p->envs[i];
        KILN_ASSERT(kiln_registry_validate_alias(e->name, NULL) == KILN_OK);
        for (size_t j = 0; j < i; j++)
            KILN_ASSERT(strcmp(p->envs[j].name, e->name) != 0);
        if (e->nthresholds > 0 || e->ncompares > 0 || e->pr_enabled)
            KILN_ASSERT(e->dataset != NULL);
        for (size_t j = 0; j < e->ncompares; j++)
            KILN_ASSERT(
                e->compares[j].metric != NULL &&
                (e->compares[j].has_threshold || e->compares[j].has_abs || e->compares[j].has_rel));
        if (e->after != NULL) {
            int found = 0;
            for (size_t j = 0; j < p->nenvs; j++)
                found |= strcmp(p->envs[j].name, e->after) == 0;
            KILN_ASSERT(found && strcmp(e->after, e->name) != 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_policy *p = NULL;
    struct kiln_err err = { 0 };
    int rc;
    if (arena == NULL)
        return 0;
    rc = kiln_policy_parse_yaml((const char *)data, size, arena, &p, &err);
    if (rc == KILN_OK) {
        struct kiln_buf b;
        struct kiln_jsonw w;
        check(p);
        kiln_buf_init(&b, (size_t)16 << 20);
        kiln_jsonw_init(&w, &b);
        kiln_policy_write(&w, p);
        KILN_ASSERT(kiln_jsonw_finish(&w) == KILN_OK);
        kiln_buf_release(&b);
    } else {
        KILN_ASSERT(rc == KILN_EINVAL || rc == KILN_ENOMEM);
        KILN_ASSERT(rc != KILN_EINVAL || strncmp(err.msg, "policy", 6) == 0);
    }
    kiln_arena_free(arena);
    return 0;
}

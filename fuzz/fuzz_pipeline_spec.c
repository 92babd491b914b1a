/*
 * fuzz_pipeline_spec.c - the pipeline spec parser (YAML tree, keys, graph, templates, cron,
 * time zones): any input is either a valid spec or refused with an error, never a crash or a
 * leak. A valid spec is also rendered once (every template of every task) and its next fire
 * time computed, so the rest of the spec's consumers see fuzzed values too.
 */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "pipeline/pipeline_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *u, const char *name, size_t len)
{
    (void)u;
    (void)name;
    return len % 2 == 0 ? "value" : NULL;
}

static const char *lookup_out(void *u, const char *t, size_t tl, const char *k, size_t kl)
{
    (void)u;
    (void)t;
    (void)k;
    return (tl + kl) % 3 == 0 ? NULL : "out";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_pl_spec *spec = NULL;
    struct kiln_err err = { 0 };
    struct kiln_tpl_ctx c = { "p", "run", "manual", "task", 1, 0, lookup, lookup_out, NULL };
    struct kiln_buf out;
    int64_t next;
    if (kiln_pl_spec_parse((const char *)data, size, "fuzz.yaml", "/base", &spec, &err) != KILN_OK)
        return 0;
    kiln_buf_init(&out, 1 << 16);
    for (size_t i = 0; i < spec->ntasks; i++) {
        const struct kiln_pl_task *t = &spec->tasks[i];
        for (size_t j = 0; j < t->argc; j++)
            kiln_tpl_render(t->argv[j], &c, &out, NULL);
        for (size_t j = 0; j < t->nenv; j++)
            kiln_tpl_render(t->env[j].value, &c, &out, NULL);
        for (size_t j = 0; j < t->nwith; j++)
            kiln_tpl_render(t->with[j].value, &c, &out, NULL);
        kiln_buf_reset(&out);
    }
    kiln_pl_spec_next_fire(spec, 1700000000000LL, &next);
    kiln_buf_release(&out);
    kiln_pl_spec_free(spec);
    return 0;
}

/*
 * fuzz_evaluation_json.c - the evaluation body reader of the native API (kiln_eval_read):
 * any JSON object either reads into an evaluation within the documented limits (probabilities
 * in [0, 1] or NaN, unique class labels) and writes back as JSON, or is refused with
 * KILN_EINVAL.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/mem.h"
#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int prob_ok(double v)
{
    return isnan(v) || (v >= 0 && v <= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_arena *arena;
    struct kiln_evaluation e;
    json_t *doc = NULL;
    int rc;
    if (kiln_json_parse_object((const char *)data, size, 0, &doc, NULL) != KILN_OK)
        return 0;
    arena = kiln_arena_new(0);
    if (arena == NULL) {
        json_decref(doc);
        return 0;
    }
    rc = kiln_eval_read(doc, arena, &e, NULL);
    if (rc == KILN_OK) {
        struct kiln_buf b;
        struct kiln_jsonw w;
        KILN_ASSERT(e.dataset_name != NULL && *e.dataset_name != '\0');
        KILN_ASSERT(e.nmetrics <= KILN_EVAL_MAX_METRICS && e.nclasses <= KILN_EVAL_MAX_CLASSES &&
                    e.npr <= KILN_EVAL_MAX_PR_POINTS);
        KILN_ASSERT(e.nmetrics + e.nclasses + e.npr > 0);
        for (size_t i = 0; i < e.nclasses; i++) {
            KILN_ASSERT(prob_ok(e.classes[i].precision) && prob_ok(e.classes[i].recall));
            for (size_t j = 0; j < i; j++)
                KILN_ASSERT(strcmp(e.classes[i].label, e.classes[j].label) != 0);
        }
        for (size_t i = 0; i < e.npr; i++)
            KILN_ASSERT(prob_ok(e.pr_curve[i].precision) && prob_ok(e.pr_curve[i].recall));
        e.name = "m";
        e.version = 1;
        kiln_buf_init(&b, (size_t)64 << 20);
        kiln_jsonw_init(&w, &b);
        kiln_eval_write(&w, &e);
        KILN_ASSERT(kiln_jsonw_finish(&w) == KILN_OK);
        kiln_buf_release(&b);
    } else {
        KILN_ASSERT(rc == KILN_EINVAL || rc == KILN_ENOMEM);
    }
    kiln_arena_free(arena);
    json_decref(doc);
    return 0;
}

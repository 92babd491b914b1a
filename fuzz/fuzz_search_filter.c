/*
 * fuzz_search_filter.c - the search filter and order_by parser (search_filter.h) with the
 * runs and experiments schemas, and the SQL translation of whatever parses.
 */
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/mem.h"
#include "tracking/search_filter.h"
#include "tracking/tracking.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const char *text, const struct kiln_sf_schema *schema, struct kiln_arena *arena)
{
    struct kiln_sf_filter *f;
    struct kiln_sf_order o;
    struct kiln_sql q;

    if (kiln_sf_parse(text, schema, arena, &f, NULL) == KILN_OK) {
        kiln_sql_init(&q);
        kiln_sf_to_sql(f, schema, &q, NULL);
        /* Every placeholder has exactly one argument. */
        size_t marks = 0;
        for (size_t i = 0; i < q.text.len; i++)
            marks += q.text.buf[i] == '?';
        if (kiln_sql_status(&q) == KILN_OK)
            KILN_ASSERT(marks == q.nargs);
        kiln_sql_release(&q);
    }
    kiln_sf_parse_order_by(text, schema, arena, &o, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    char *text = kiln_strndup((const char *)data, size);

    if (arena != NULL && text != NULL) {
        one(text, &kiln_sf_schema_runs, arena);
        one(text, &kiln_sf_schema_experiments, arena);
    }
    kiln_free(text);
    kiln_arena_free(arena);
    return 0;
}

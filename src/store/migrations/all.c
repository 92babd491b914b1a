/*
 * all.c - the ordered list of schema components (dependencies first).
 */
#include "store/migrations/migrations.h"

const struct kiln_schema_component *const kiln_schema_all[] = {
    &kiln_schema_tracking, &kiln_schema_registry, &kiln_schema_pipeline, &kiln_schema_deploy, NULL,
};

/*
 * migrations.h - the schema components of kiln's store, one per owning subsystem, applied
 * in the order of kiln_schema_all (dependencies first). Each component's migrations live in
 * src/store/migrations/<component>.c and are append-only: never edit a released migration,
 * add the next version.
 */
#ifndef KILN_STORE_MIGRATIONS_H
#define KILN_STORE_MIGRATIONS_H

#include "store/store.h"

extern const struct kiln_schema_component kiln_schema_tracking;
extern const struct kiln_schema_component kiln_schema_pipeline;
extern const struct kiln_schema_component kiln_schema_registry;
extern const struct kiln_schema_component kiln_schema_deploy;

/* NULL-terminated, in dependency order: pass to kiln_store_open. */
extern const struct kiln_schema_component *const kiln_schema_all[];

#endif

/*
 * store_int.h - what the generic store layer and its backends share (src/store/ only).
 */
#ifndef KILN_STORE_INT_H
#define KILN_STORE_INT_H

#include "store/store.h"

/* Every backend statement begins with this header. */
struct kiln_stmt {
    const struct kiln_store_ops *ops;
    struct kiln_tx *tx;
};

struct kiln_store {
    const struct kiln_store_ops *ops;
    struct kiln_store_backend *backend;
};

struct kiln_tx {
    struct kiln_store *store;
    struct kiln_db *db;
    enum kiln_tx_mode mode;
};

/* Applies pending migrations (migrate.c). */
int kiln_store_migrate(struct kiln_store *store,
                       const struct kiln_schema_component *const *components, struct kiln_err *err);

/* Fault injection hook used by store.c: nonzero when this call must fail. */
int kiln_store_fault(void);

#endif

/*
 * store_int.h - what the generic store layer and its backends share (src/store/ only).
 */
#ifndef KILN_STORE_INT_H
#define KILN_STORE_INT_H

#include <pthread.h>

#include "store/store.h"

/* Every backend statement begins with this header. */
struct kiln_stmt {
    const struct kiln_store_ops *ops;
    struct kiln_tx *tx;
};

struct kiln_group_work;

struct kiln_store {
    const struct kiln_store_ops *ops;
    struct kiln_store_backend *backend;
    /* Group commit (group.c): queued work, guarded by group_lock. */
    pthread_mutex_t group_lock;
    struct kiln_group_work *group_head, *group_tail;
    int group_leader; /* a thread is running a group */
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

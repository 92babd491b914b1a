/*
 * run_artifacts.h - where a run's artifacts live, for the artifact endpoints.
 *
 * Kept apart from tracking.h (which the runs code owns) so the artifact side needs only one
 * tiny read-only query on the runs table. Thread-safe: callers on any thread may share one
 * store.
 */
#ifndef KILN_TRACKING_RUN_ARTIFACTS_H
#define KILN_TRACKING_RUN_ARTIFACTS_H

#include "core/arena.h"
#include "core/err.h"

struct kiln_store;

/*
 * The artifact_uri of run `run_id` (active or deleted), allocated from `arena`.
 * KILN_ENOENT "Run with id=<id> not found" when there is no such run.
 */
int kiln_run_artifact_uri(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                          const char **uri /* OUT */, struct kiln_err *err);

#endif

/*
 * run_artifacts.c - the artifact_uri of a run (run_artifacts.h): one read-only SELECT in a
 * read transaction; nothing here writes the runs table.
 */
#include "tracking/run_artifacts.h"

#include "store/store.h"

int kiln_run_artifact_uri(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                          const char **uri, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc;

    *uri = NULL;
    rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", &st, err);
    if (rc != KILN_OK)
        goto out;
    kiln_stmt_bind_text(st, 1, run_id);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        *uri = kiln_arena_strdup(arena, kiln_stmt_text(st, 0) != NULL ? kiln_stmt_text(st, 0) : "");
        rc = *uri != NULL ? KILN_OK : kiln_err_set(err, KILN_ENOMEM, "out of memory");
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_ENOENT, "Run with id=%.100s not found", run_id);
    }
    kiln_stmt_finish(st);
out:
    kiln_store_rollback(tx);
    return rc;
}

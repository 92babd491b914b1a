/*
 * postgres.c - the PostgreSQL store backend slot.
 *
 * kiln's store interface is shaped for PostgreSQL (portable SQL, `?` placeholders the backend
 * rewrites, serialisable write transactions), but no issue has asked for the backend yet, so
 * this build answers every postgresql:// URI with a clear KILN_ENOTSUP instead of half-working.
 * The ops table exists so that adding the libpq implementation touches only this folder.
 */
#include "store/store_int.h"

static int pg_open(const char *target, int readers, struct kiln_store_backend **out,
                   struct kiln_err *err)
{
    (void)target;
    (void)readers;
    *out = NULL;
    return kiln_err_set(err, KILN_ENOTSUP,
                        "the PostgreSQL store backend is not available in this version of kiln; "
                        "use a sqlite:/// store URI");
}

static void pg_close(struct kiln_store_backend *b)
{
    (void)b;
}

const struct kiln_store_ops kiln_store_postgres_ops = {
    .name = "postgres",
    .dialect = KILN_DIALECT_POSTGRES,
    .open = pg_open,
    .close = pg_close,
};

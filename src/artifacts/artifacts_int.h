/*
 * artifacts_int.h - the backend vtable behind artifacts.h (src/artifacts/ only).
 *
 * A backend's repository struct starts with `struct kiln_artifact_repo` and its upload struct
 * with `struct kiln_artifact_upload`, so the generic layer (artifacts.c) can dispatch through
 * `ops`. The generic layer checks every path with kiln_artifact_path_check before calling a
 * backend, and passes paths without trailing slashes; backends may rely on that.
 */
#ifndef KILN_ARTIFACTS_INT_H
#define KILN_ARTIFACTS_INT_H

#include "artifacts/artifacts.h"

struct kiln_artifact_ops {
    const char *name;
    void (*release)(struct kiln_artifact_repo *repo);
    int (*upload_begin)(struct kiln_artifact_repo *repo, const char *path,
                        struct kiln_artifact_upload **out, struct kiln_err *err);
    int (*upload_write)(struct kiln_artifact_upload *up, const void *data, size_t len,
                        struct kiln_err *err);
    /* Frees `up` whatever the outcome. */
    int (*upload_commit)(struct kiln_artifact_upload *up, struct kiln_err *err);
    void (*upload_abort)(struct kiln_artifact_upload *up);
    int (*open_read)(struct kiln_artifact_repo *repo, const char *path, int *fd, uint64_t *size,
                     struct kiln_err *err);
    int (*list)(struct kiln_artifact_repo *repo, const char *path, struct kiln_arena *arena,
                struct kiln_artifact_entry **entries, size_t *n, struct kiln_err *err);
    int (*remove)(struct kiln_artifact_repo *repo, const char *path, struct kiln_err *err);
};

struct kiln_artifact_repo {
    const struct kiln_artifact_ops *ops;
};

struct kiln_artifact_upload {
    const struct kiln_artifact_ops *ops;
    uint64_t size; /* bytes written so far (maintained by the generic layer) */
};

/* The local filesystem backend (local.c): `root` is an absolute or relative folder. */
int kiln_artifact_local_open(const char *root, struct kiln_artifact_repo **out,
                             struct kiln_err *err);

#endif

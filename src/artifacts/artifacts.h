/*
 * artifacts.h - artifact repositories: where run and model files live.
 *
 * A repository is a tree of files addressed by relative paths ("model/MLmodel"). The
 * interface is a small vtable (artifacts_int.h) so a backend other than the local filesystem
 * (an S3-compatible object store) can be added without touching any caller; this build has the
 * local backend, which keeps the tree under one root folder (`kiln server
 * --artifacts-destination`).
 *
 * Path rules (kiln_artifact_path_check): a path is relative, at most 4096 bytes, has no NUL,
 * no backslash, no empty, "." or ".." segment, no segment over 255 bytes, and no segment
 * starting with the reserved prefix ".kiln-upload-" (temporary uploads). Every operation
 * checks its path first, so a client can never name anything outside the root.
 *
 * Local backend guarantees:
 *   - nothing outside the root is ever read or written: paths are resolved one segment at a
 *     time from a descriptor of the root with O_NOFOLLOW, so a symbolic link planted inside
 *     the root is refused (KILN_EINVAL), never followed, whichever way it points;
 *   - uploads are atomic: bytes go to a temporary file in the target's folder, which is
 *     fsync'ed and renamed over the final name, and the folder is fsync'ed. An upload that is
 *     aborted, fails or is interrupted by a crash never appears under its name, and temporary
 *     files never appear in listings;
 *   - downloads hand out an open descriptor (the HTTP layer streams it with sendfile), so a
 *     file is never copied into memory.
 *
 * Threads: a repository is read-only after open and may be shared by any number of threads;
 * an upload belongs to one thread at a time.
 */
#ifndef KILN_ARTIFACTS_ARTIFACTS_H
#define KILN_ARTIFACTS_ARTIFACTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct kiln_artifact_repo;
struct kiln_artifact_upload;

/* Largest single artifact the proxy accepts (10 GiB). */
#define KILN_ARTIFACT_MAX_UPLOAD ((uint64_t)10 << 30)
/* Longest artifact path, in bytes. */
#define KILN_ARTIFACT_PATH_MAX 4096
/* Names starting with this are temporary uploads: refused as paths, hidden from listings. */
#define KILN_ARTIFACT_TMP_PREFIX ".kiln-upload-"

/* One entry of a listing. */
struct kiln_artifact_entry {
    const char *name; /* basename */
    int is_dir;
    uint64_t size; /* files only; 0 for directories */
};

/* Flags for kiln_artifact_path_check. */
#define KILN_ARTIFACT_PATH_ALLOW_ROOT 1u /* "" (the root itself) is accepted */

/*
 * Checks a client-supplied artifact path of `len` bytes against the rules above. Trailing
 * slashes are ignored ("model/" is "model"); *clean_len (optional) receives the length
 * without them. KILN_EINVAL with "Invalid path: '<path>' (<reason>)" otherwise.
 */
int kiln_artifact_path_check(const char *path, size_t len, unsigned flags,
                             size_t *clean_len /* OUT */, struct kiln_err *err);

/*
 * Opens the repository at `location`: a local folder ("/srv/artifacts", "file:///srv/a"),
 * created when missing. Other schemes (s3://, gs://, ...) are KILN_ENOTSUP in this build.
 * OUT: *out, freed with kiln_artifact_repo_free.
 */
int kiln_artifact_repo_open(const char *location, struct kiln_artifact_repo **out /* OUT */,
                            struct kiln_err *err);
/* Releases a repository. NULL is a no-op. */
void kiln_artifact_repo_free(struct kiln_artifact_repo *repo);

/*
 * Starts writing the file at `path` (parent folders are created). Nothing is visible under
 * `path` until kiln_artifact_upload_commit succeeds. KILN_EINVAL for a bad path or when a
 * folder already has that name. OUT: *out, which must be ended by exactly one call of
 * kiln_artifact_upload_commit or kiln_artifact_upload_abort.
 */
int kiln_artifact_upload_begin(struct kiln_artifact_repo *repo, const char *path,
                               struct kiln_artifact_upload **out /* OUT */, struct kiln_err *err);
/* Appends bytes to an upload. KILN_EIO (disk full, ...) with details. */
int kiln_artifact_upload_write(struct kiln_artifact_upload *up, const void *data, size_t len,
                               struct kiln_err *err);
/* Bytes written to the upload so far. */
uint64_t kiln_artifact_upload_size(const struct kiln_artifact_upload *up);
/*
 * Makes the upload durable and visible under its path, replacing any previous file. Frees
 * `up` whatever the outcome; on failure nothing is left behind.
 */
int kiln_artifact_upload_commit(struct kiln_artifact_upload *up, struct kiln_err *err);
/* Discards an upload: the temporary data is removed and `up` freed. NULL is a no-op. */
void kiln_artifact_upload_abort(struct kiln_artifact_upload *up);

/*
 * Opens the file at `path` for reading. OUT: *fd (the caller closes it) and *size.
 * KILN_ENOENT when there is no file there (also for a folder), KILN_EINVAL for a bad path,
 * a symbolic link or something that is not a regular file.
 */
int kiln_artifact_open_read(struct kiln_artifact_repo *repo, const char *path, int *fd /* OUT */,
                            uint64_t *size /* OUT */, struct kiln_err *err);

/*
 * Lists the folder at `path` ("" is the root): files and folders only (no links, no
 * temporary uploads), sorted by name. A path that names a file, or nothing, gives an empty
 * listing (KILN_OK, *n = 0), as MLflow's client expects. Entries come from `arena`.
 */
int kiln_artifact_list(struct kiln_artifact_repo *repo, const char *path, struct kiln_arena *arena,
                       struct kiln_artifact_entry **entries /* OUT */, size_t *n /* OUT */,
                       struct kiln_err *err);

/*
 * Deletes the file or folder (recursively) at `path`. A missing path is not an error
 * (MLflow's behaviour). The root itself cannot be deleted (KILN_EINVAL).
 */
int kiln_artifact_delete(struct kiln_artifact_repo *repo, const char *path, struct kiln_err *err);

/*
 * Maps an artifact URI served by this server's artifact proxy to a path relative to the proxy
 * root: "mlflow-artifacts:/7/r/artifacts", "mlflow-artifacts://host:5000/7/r/artifacts",
 * "http(s)://host/prefix/api/2.0/mlflow-artifacts/artifacts/7/r/artifacts" (percent-decoded),
 * and local paths or file:// URIs inside `local_root` (may be NULL). The result (from `arena`)
 * passes kiln_artifact_path_check with the root allowed. KILN_ENOTSUP for URIs this server
 * does not serve (s3://, a folder outside the root), KILN_EINVAL for a hostile path.
 */
int kiln_artifact_uri_to_path(const char *uri, const char *local_root, struct kiln_arena *arena,
                              const char **path /* OUT */, struct kiln_err *err);

/*
 * Content type to serve a file with, from its name, following MLflow's server: text formats
 * (txt, log, json, yaml, csv, py, md, MLmodel, ...) are "text/plain; charset=utf-8", common
 * binary formats get their type, anything else "application/octet-stream". Static string.
 */
const char *kiln_artifact_content_type(const char *name);

#endif

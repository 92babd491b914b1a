/*
 * fs.h - safe paths and crash-safe file writes.
 *
 * Path rules (used wherever a client names a file): a relative path is accepted only when it
 * is non-empty, not absolute, contains no NUL, no "." or ".." segment and no backslash, so
 * joining it under a root can never leave that root. Symlinks inside a root are not followed
 * by readers that use kiln_fs_open_under (O_NOFOLLOW on the last component, and every
 * directory component is checked with lstat).
 *
 * Atomic writes: data goes to a temporary name in the same directory, is fsync'ed, renamed
 * over the target and the directory is fsync'ed, so a crash leaves either the old file or the
 * new one, never a half-written file under the real name.
 *
 * Thread-safe (no shared state).
 */
#ifndef KILN_CORE_FS_H
#define KILN_CORE_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

/* Checks a client-supplied relative path (see the rules above). `what` names it in errors. */
int kiln_path_check_rel(const char *path, size_t len, const char *what, struct kiln_err *err);
/* Appends root + "/" + rel to out (rel must already pass kiln_path_check_rel). */
int kiln_path_join(struct kiln_buf *out, const char *root, const char *rel);
/* Removes trailing slashes in place (keeps a lone "/"). */
void kiln_path_strip_slash(char *path);

/* mkdir -p with mode; existing directories are fine. */
int kiln_mkdirs(const char *path, mode_t mode, struct kiln_err *err);
/* Writes a file atomically (temp name, fsync, rename, fsync dir). */
int kiln_write_file_atomic(const char *path, const void *data, size_t len, struct kiln_err *err);
/* fsync of a directory, so a rename or create in it is durable. */
int kiln_fsync_dir(const char *dir);
/* Reads a whole file into out (whose max bounds the size). KILN_ENOENT, KILN_ETOOBIG. */
int kiln_read_file(const char *path, struct kiln_buf *out, struct kiln_err *err);
/* 1 when path exists and is a directory / a regular file. */
int kiln_is_dir(const char *path);
int kiln_is_file(const char *path);
/* Recursively removes a file or directory tree (does not follow symlinks). */
int kiln_remove_tree(const char *path, struct kiln_err *err);

#endif

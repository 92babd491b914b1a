/*
 * local.c - the local filesystem artifact backend (artifacts.h, artifacts_int.h).
 *
 * Containment: the repository holds a descriptor of its root folder, and every path is
 * resolved from it one segment at a time with openat(O_NOFOLLOW | O_DIRECTORY) for folders
 * and openat(O_NOFOLLOW) for the final file. A symbolic link anywhere on the way makes the
 * open fail with ELOOP, which is reported as an invalid path; nothing is ever resolved by the
 * kernel from a string that could climb out of the root. Paths reaching this file have passed
 * kiln_artifact_path_check (no "..", no absolute paths).
 *
 * Upload lifecycle (one `struct local_upload`):
 *
 *   begin   parent folders created (each new one fsync'ed into its parent), temporary file
 *           ".kiln-upload-<random>.tmp" created with O_EXCL in the target's folder
 *   write   bytes appended to the temporary file
 *   commit  fsync(file), rename over the final name, fsync(folder)   -> visible, durable
 *   abort   temporary file unlinked                                 -> nothing visible
 *
 * A crash before the rename leaves only a temporary file, which listings never show and
 * paths can never name. Threads: the repository is read-only after open (only its root
 * descriptor is used, with *at() calls); an upload belongs to one thread at a time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts/artifacts_int.h"
#include "core/fs.h"
#include "core/id.h"
#include "core/mem.h"
#include "core/str.h"

#define SEG_MAX 256

struct local_repo {
    struct kiln_artifact_repo base;
    int rootfd;
    char *root;
};

struct local_upload {
    struct kiln_artifact_upload base;
    int dirfd; /* the target's folder */
    int fd;    /* the temporary file */
    char tmp[64];
    char name[SEG_MAX];
    char *path; /* for messages */
};

static const struct kiln_artifact_ops local_ops;

/* errno of a failed *at() call on `path` as a kiln error. */
static int fs_error(struct kiln_err *err, int e, const char *what, const char *path)
{
    if (e == ELOOP)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid path: '%.200s' (symbolic links are not followed)", path);
    if (e == ENAMETOOLONG)
        return kiln_err_set(err, KILN_EINVAL, "Invalid path: '%.200s' (name too long)", path);
    if (e == ENOSPC || e == EDQUOT)
        return kiln_err_set(err, KILN_EIO,
                            "cannot %s '%.200s': no space left on the artifact store", what, path);
    return kiln_err_set(err, e == ENOENT || e == ENOTDIR ? KILN_ENOENT : kiln_rc_from_errno(e),
                        "cannot %s '%.200s': %s", what, path, strerror(e));
}

/* Opens segment `seg` of folder `dirfd` as a folder, never following a link. */
static int open_dir_at(int dirfd, const char *seg)
{
    return openat(dirfd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Walks `nsegs` leading segments of `path` from the root and returns a descriptor of the
 * folder reached in *out (the caller closes it). With `create`, missing folders are made.
 * On failure the errno is returned through *err_no (ENOENT, ENOTDIR, ELOOP, ...).
 */
static int walk(const struct local_repo *r, const char *path, size_t nsegs, int create, int *out,
                int *err_no)
{
    const char *p = path;
    int cur = dup(r->rootfd);

    *out = -1;
    if (cur < 0) {
        *err_no = errno;
        return -1;
    }
    for (size_t i = 0; i < nsegs; i++) {
        char seg[SEG_MAX];
        size_t n = strcspn(p, "/");
        int next;
        if (n >= sizeof(seg)) {
            close(cur);
            *err_no = ENAMETOOLONG;
            return -1;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        p += n + (p[n] == '/' ? 1 : 0);
        next = open_dir_at(cur, seg);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, seg, 0755) != 0 && errno != EEXIST) {
                *err_no = errno;
                close(cur);
                return -1;
            }
            /* The new folder's entry must be durable before anything is renamed into it. */
            fsync(cur);
            next = open_dir_at(cur, seg);
        }
        if (next < 0) {
            int e = errno;
            struct stat st;
            /* O_NOFOLLOW|O_DIRECTORY on a link may say ENOTDIR: tell links apart. */
            if (e == ENOTDIR && fstatat(cur, seg, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                e = ELOOP;
            *err_no = e;
            close(cur);
            return -1;
        }
        close(cur);
        cur = next;
    }
    *out = cur;
    return 0;
}

/* Number of segments of a non-empty clean path and a pointer to its last one. */
static size_t split(const char *path, const char **last)
{
    size_t n = 1;
    *last = path;
    for (const char *p = path; *p != '\0'; p++)
        if (*p == '/') {
            n++;
            *last = p + 1;
        }
    return n;
}

static void local_free(struct kiln_artifact_repo *repo)
{
    struct local_repo *r = (struct local_repo *)repo;
    if (r->rootfd >= 0)
        close(r->rootfd);
    kiln_free(r->root);
    kiln_free(r);
}

int kiln_artifact_local_open(const char *root, struct kiln_artifact_repo **out,
                             struct kiln_err *err)
{
    struct local_repo *r;
    int rc;

    *out = NULL;
    if (root == NULL || *root == '\0')
        return kiln_err_set(err, KILN_EINVAL, "empty artifact root");
    r = kiln_calloc(1, sizeof(*r));
    if (r == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    r->base.ops = &local_ops;
    r->root = kiln_strdup(root);
    if (r->root == NULL) {
        kiln_free(r);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    r->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->rootfd < 0 && errno == ENOENT) {
        rc = kiln_mkdirs(root, 0755, err);
        if (rc != KILN_OK) {
            r->rootfd = -1;
            local_free(&r->base);
            return rc;
        }
        r->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (r->rootfd < 0) {
        int e = errno;
        local_free(&r->base);
        return kiln_err_set(err,
                            kiln_rc_from_errno(e) == KILN_ENOENT ? KILN_EIO : kiln_rc_from_errno(e),
                            "cannot open the artifact root '%.200s': %s", root, strerror(e));
    }
    *out = &r->base;
    return KILN_OK;
}

static int local_upload_begin(struct kiln_artifact_repo *repo, const char *path,
                              struct kiln_artifact_upload **out, struct kiln_err *err)
{
    struct local_repo *r = (struct local_repo *)repo;
    struct local_upload *up;
    const char *last;
    size_t nsegs = split(path, &last);
    char rnd[KILN_UUID_HEX_LEN + 1];
    struct stat st;
    int e = 0, rc;

    up = kiln_calloc(1, sizeof(*up));
    if (up == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    up->base.ops = &local_ops;
    up->dirfd = -1;
    up->fd = -1;
    kiln_strlcpy(up->name, last, sizeof(up->name));
    up->path = kiln_strdup(path);
    rc = kiln_uuid_hex(rnd);
    if (up->path == NULL || rc != KILN_OK) {
        rc = kiln_err_set(err, up->path == NULL ? KILN_ENOMEM : rc, "cannot start an upload");
        goto fail;
    }
    snprintf(up->tmp, sizeof(up->tmp), "%s%.16s.tmp", KILN_ARTIFACT_TMP_PREFIX, rnd);

    if (walk(r, path, nsegs - 1, 1, &up->dirfd, &e) != 0) {
        if (e == ENOTDIR || e == EEXIST)
            rc = kiln_err_set(err, KILN_EINVAL,
                              "cannot upload '%.200s': a parent of that path is a file", path);
        else
            rc = fs_error(err, e, "upload", path);
        goto fail;
    }
    if (fstatat(up->dirfd, up->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            rc = kiln_err_set(err, KILN_EINVAL,
                              "cannot upload '%.200s': a folder already exists at that path", path);
        else if (S_ISLNK(st.st_mode))
            rc = fs_error(err, ELOOP, "upload", path);
        if (rc != KILN_OK)
            goto fail;
    }
    up->fd = openat(up->dirfd, up->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (up->fd < 0) {
        rc = fs_error(err, errno, "upload", path);
        goto fail;
    }
    *out = &up->base;
    return KILN_OK;
fail:
    local_ops.upload_abort(&up->base);
    return rc;
}

static int local_upload_write(struct kiln_artifact_upload *base, const void *data, size_t len,
                              struct kiln_err *err)
{
    struct local_upload *up = (struct local_upload *)base;
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(up->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fs_error(err, errno, "write", up->path);
        p += w;
        len -= (size_t)w;
    }
    return KILN_OK;
}

static void local_upload_abort(struct kiln_artifact_upload *base)
{
    struct local_upload *up = (struct local_upload *)base;
    if (up->fd >= 0)
        close(up->fd);
    if (up->dirfd >= 0) {
        if (up->fd >= 0)
            unlinkat(up->dirfd, up->tmp, 0);
        close(up->dirfd);
    }
    kiln_free(up->path);
    kiln_free(up);
}

static int local_upload_commit(struct kiln_artifact_upload *base, struct kiln_err *err)
{
    struct local_upload *up = (struct local_upload *)base;
    int rc = KILN_OK;

    if (fsync(up->fd) != 0) {
        rc = fs_error(err, errno, "sync", up->path);
        goto out;
    }
    if (close(up->fd) != 0) {
        up->fd = -1;
        unlinkat(up->dirfd, up->tmp, 0);
        rc = fs_error(err, errno, "close", up->path);
        goto out;
    }
    up->fd = -1;
    if (renameat(up->dirfd, up->tmp, up->dirfd, up->name) != 0) {
        int e = errno;
        unlinkat(up->dirfd, up->tmp, 0);
        if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
            rc = kiln_err_set(err, KILN_EINVAL,
                              "cannot upload '%.200s': a folder already exists at that path",
                              up->path);
        else
            rc = fs_error(err, e, "rename", up->path);
        goto out;
    }
    if (fsync(up->dirfd) != 0)
        rc = fs_error(err, errno, "sync the folder of", up->path);
out:
    local_upload_abort(base); /* the temporary file is gone or renamed: only frees */
    return rc;
}

static int local_open_read(struct kiln_artifact_repo *repo, const char *path, int *fd,
                           uint64_t *size, struct kiln_err *err)
{
    struct local_repo *r = (struct local_repo *)repo;
    const char *last;
    size_t nsegs = split(path, &last);
    struct stat st;
    int dirfd, e = 0, f, flags;

    if (walk(r, path, nsegs - 1, 0, &dirfd, &e) != 0) {
        if (e == ENOENT || e == ENOTDIR)
            return kiln_err_set(err, KILN_ENOENT, "Artifact '%.200s' does not exist", path);
        return fs_error(err, e, "open", path);
    }
    /* O_NONBLOCK: opening a FIFO planted in the root must not hang the worker. */
    f = openat(dirfd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    e = errno;
    close(dirfd);
    if (f < 0) {
        if (e == ENOENT || e == ENOTDIR)
            return kiln_err_set(err, KILN_ENOENT, "Artifact '%.200s' does not exist", path);
        return fs_error(err, e, "open", path);
    }
    if (fstat(f, &st) != 0) {
        e = errno;
        close(f);
        return fs_error(err, e, "stat", path);
    }
    if (S_ISDIR(st.st_mode)) {
        close(f);
        return kiln_err_set(err, KILN_ENOENT,
                            "Artifact '%.200s' is a folder, not a file (list it instead)", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return kiln_err_set(err, KILN_EINVAL, "Invalid path: '%.200s' (not a regular file)", path);
    }
    flags = fcntl(f, F_GETFL);
    if (flags >= 0)
        fcntl(f, F_SETFL, flags & ~O_NONBLOCK);
    *fd = f;
    *size = (uint64_t)st.st_size;
    return KILN_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct kiln_artifact_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int is_tmp_name(const char *name)
{
    return strncmp(name, KILN_ARTIFACT_TMP_PREFIX, sizeof(KILN_ARTIFACT_TMP_PREFIX) - 1) == 0;
}

static int read_entries(DIR *d, struct kiln_arena *arena, struct kiln_artifact_entry **entries,
                        size_t *n, struct kiln_err *err)
{
    struct kiln_artifact_entry *v = NULL;
    size_t cap = 0;
    struct dirent *de;

    for (;;) {
        struct stat st;
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            is_tmp_name(de->d_name))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed meanwhile */
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            continue; /* links, sockets, FIFOs: never served, so never listed */
        if (*n == cap) {
            struct kiln_artifact_entry *nv;
            cap = cap ? cap * 2 : 16;
            nv = kiln_arena_alloc(arena, cap * sizeof(*nv));
            if (nv == NULL)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
            if (*n > 0)
                memcpy(nv, v, *n * sizeof(*nv));
            v = nv;
        }
        v[*n].name = kiln_arena_strdup(arena, de->d_name);
        if (v[*n].name == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        v[*n].is_dir = S_ISDIR(st.st_mode);
        v[*n].size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        (*n)++;
    }
    if (errno != 0)
        return kiln_err_set(err, KILN_EIO, "cannot read a folder: %s", strerror(errno));
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_entry);
    *entries = v;
    return KILN_OK;
}

static int local_list(struct kiln_artifact_repo *repo, const char *path, struct kiln_arena *arena,
                      struct kiln_artifact_entry **entries, size_t *n, struct kiln_err *err)
{
    struct local_repo *r = (struct local_repo *)repo;
    const char *last;
    size_t nsegs = path[0] == '\0' ? 0 : split(path, &last);
    DIR *d;
    int fd, e = 0, rc;

    *entries = NULL;
    *n = 0;
    if (walk(r, path, nsegs, 0, &fd, &e) != 0) {
        /* A file (ENOTDIR) or nothing (ENOENT): an empty listing, as MLflow answers. */
        if (e == ENOENT || e == ENOTDIR)
            return KILN_OK;
        return fs_error(err, e, "list", path);
    }
    d = fdopendir(fd);
    if (d == NULL) {
        e = errno;
        close(fd);
        return fs_error(err, e, "list", path);
    }
    rc = read_entries(d, arena, entries, n, err);
    closedir(d);
    if (rc != KILN_OK) {
        *entries = NULL;
        *n = 0;
    }
    return rc;
}

/* Removes entry `name` of folder `dirfd`, recursing into folders without following links. */
static int remove_at(int parent, const char *name, const char *path, struct kiln_err *err)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int fd, rc = KILN_OK;

    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? KILN_OK : fs_error(err, errno, "delete", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) != 0 && errno != ENOENT)
            return fs_error(err, errno, "delete", path);
        return KILN_OK;
    }
    fd = open_dir_at(parent, name);
    if (fd < 0)
        return fs_error(err, errno, "delete", path);
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return fs_error(err, errno, "delete", path);
    }
    while (rc == KILN_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_at(dirfd(d), de->d_name, path, err);
    }
    closedir(d);
    if (rc == KILN_OK && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = fs_error(err, errno, "delete", path);
    return rc;
}

static int local_remove(struct kiln_artifact_repo *repo, const char *path, struct kiln_err *err)
{
    struct local_repo *r = (struct local_repo *)repo;
    const char *last;
    size_t nsegs = split(path, &last);
    struct stat st;
    int dirfd, e = 0, rc;

    if (walk(r, path, nsegs - 1, 0, &dirfd, &e) != 0) {
        if (e == ENOENT || e == ENOTDIR)
            return KILN_OK;
        return fs_error(err, e, "delete", path);
    }
    if (fstatat(dirfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        rc = fs_error(err, ELOOP, "delete", path); /* links are never touched */
    else
        rc = remove_at(dirfd, last, path, err);
    if (rc == KILN_OK)
        fsync(dirfd);
    close(dirfd);
    return rc;
}

static const struct kiln_artifact_ops local_ops = {
    "local",
    local_free,
    local_upload_begin,
    local_upload_write,
    local_upload_commit,
    local_upload_abort,
    local_open_read,
    local_list,
    local_remove,
};

/*
 * fs.c - path validation, mkdir -p, atomic writes, tree removal (see fs.h).
 */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/id.h"
#include "core/mem.h"
#include "core/str.h"

int kiln_path_check_rel(const char *path, size_t len, const char *what, struct kiln_err *err)
{
    size_t seg = 0;
    if (len == 0)
        return kiln_err_set(err, KILN_EINVAL, "invalid %s: empty path", what);
    if (path[0] == '/')
        return kiln_err_set(err, KILN_EINVAL, "invalid %s '%.200s': absolute paths are not allowed",
                            what, path);
    if (len > 4096)
        return kiln_err_set(err, KILN_EINVAL, "invalid %s: path longer than 4096 bytes", what);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] == '\0')
            return kiln_err_set(err, KILN_EINVAL, "invalid %s: path contains a NUL byte", what);
        if (i < len && path[i] == '\\')
            return kiln_err_set(err, KILN_EINVAL, "invalid %s '%.200s': backslash in path", what,
                                path);
        if (i == len || path[i] == '/') {
            size_t n = i - seg;
            if ((n == 1 && path[seg] == '.') ||
                (n == 2 && path[seg] == '.' && path[seg + 1] == '.'))
                return kiln_err_set(err, KILN_EINVAL,
                                    "invalid %s '%.200s': '.' and '..' segments are not allowed",
                                    what, path);
            seg = i + 1;
        }
    }
    return KILN_OK;
}

int kiln_path_join(struct kiln_buf *out, const char *root, const char *rel)
{
    int rc = kiln_buf_puts(out, root);
    if (rc == KILN_OK && out->len > 0 && out->buf[out->len - 1] != '/' && rel[0] != '\0')
        rc = kiln_buf_putc(out, '/');
    if (rc == KILN_OK)
        rc = kiln_buf_puts(out, rel);
    return rc;
}

void kiln_path_strip_slash(char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
}

int kiln_mkdirs(const char *path, mode_t mode, struct kiln_err *err)
{
    char tmp[PATH_MAX];
    size_t n = kiln_strlcpy(tmp, path, sizeof(tmp));
    if (n >= sizeof(tmp))
        return kiln_err_set(err, KILN_ETOOBIG, "path '%.200s' is too long", path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot create directory '%s': %s",
                                tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot create directory '%s': %s", tmp,
                            strerror(errno));
    if (!kiln_is_dir(tmp))
        return kiln_err_set(err, KILN_EEXIST, "'%s' exists and is not a directory", tmp);
    return KILN_OK;
}

int kiln_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = KILN_OK;
    if (fd < 0)
        return kiln_rc_from_errno(errno);
    if (fsync(fd) != 0)
        rc = KILN_EIO;
    close(fd);
    return rc;
}

int kiln_write_file_atomic(const char *path, const void *data, size_t len, struct kiln_err *err)
{
    struct kiln_buf tmp, dir;
    char rnd[KILN_UUID_HEX_LEN + 1];
    const char *slash, *p = data;
    int fd = -1, rc;

    kiln_buf_init(&tmp, PATH_MAX);
    kiln_buf_init(&dir, PATH_MAX);
    rc = kiln_uuid_hex(rnd);
    if (rc == KILN_OK)
        rc = kiln_buf_printf(&tmp, "%s.tmp-%.12s", path, rnd);
    if (rc != KILN_OK) {
        kiln_err_set(err, rc, "cannot write '%.200s': %s", path, kiln_strerror(rc));
        goto out;
    }
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot create '%s': %s", tmp.buf,
                          strerror(errno));
        goto out;
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = kiln_err_set(err, KILN_EIO, "cannot write '%s': %s", tmp.buf, strerror(errno));
            goto out;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "cannot sync '%s': %s", tmp.buf, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp.buf, path) != 0) {
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot rename '%s' to '%s': %s", tmp.buf,
                          path, strerror(errno));
        goto out;
    }
    slash = strrchr(path, '/');
    if (slash == NULL)
        rc = kiln_fsync_dir(".");
    else if (slash == path)
        rc = kiln_fsync_dir("/");
    else if ((rc = kiln_buf_append(&dir, path, (size_t)(slash - path))) == KILN_OK)
        rc = kiln_fsync_dir(dir.buf);
    if (rc != KILN_OK)
        kiln_err_set(err, rc, "cannot sync the directory of '%.200s'", path);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp.buf);
    }
    kiln_buf_release(&tmp);
    kiln_buf_release(&dir);
    return rc;
}

int kiln_read_file(const char *path, struct kiln_buf *out, struct kiln_err *err)
{
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = KILN_OK;
    if (fd < 0)
        return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot open '%s': %s", path,
                            strerror(errno));
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = kiln_err_set(err, KILN_EIO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = kiln_buf_append(out, chunk, (size_t)n);
        if (rc != KILN_OK) {
            kiln_err_set(err, rc, "cannot read '%s': %s", path,
                         rc == KILN_ETOOBIG ? "file too large" : kiln_strerror(rc));
            break;
        }
    }
    close(fd);
    return rc;
}

int kiln_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int kiln_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int kiln_remove_tree(const char *path, struct kiln_err *err)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = KILN_OK;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? KILN_OK
                               : kiln_err_set(err, kiln_rc_from_errno(errno),
                                              "cannot remove '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot remove '%s': %s", path,
                                strerror(errno));
        return KILN_OK;
    }
    d = opendir(path);
    if (d == NULL)
        return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot open '%s': %s", path,
                            strerror(errno));
    while (rc == KILN_OK && (e = readdir(d)) != NULL) {
        struct kiln_buf child;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        kiln_buf_init(&child, PATH_MAX);
        rc = kiln_path_join(&child, path, e->d_name);
        if (rc == KILN_OK)
            rc = kiln_remove_tree(child.buf, err);
        kiln_buf_release(&child);
    }
    closedir(d);
    if (rc == KILN_OK && rmdir(path) != 0)
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot remove '%s': %s", path,
                          strerror(errno));
    return rc;
}

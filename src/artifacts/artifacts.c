/*
 * artifacts.c - the generic half of artifacts.h: path rules, dispatch to the backend vtable,
 * mapping of artifact URIs to proxy paths, and content types.
 *
 * Invariant: no backend function is ever called with a path that has not passed
 * kiln_artifact_path_check; paths reach backends without trailing slashes. Pure functions
 * here are thread-safe; the dispatchers inherit the backend's thread rules (artifacts.h).
 */
#include "artifacts/artifacts_int.h"

#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/uri.h"

#define SEGMENT_MAX 255
#define HTTP_ANCHOR "/api/2.0/mlflow-artifacts/artifacts"

static int bad_path(struct kiln_err *err, const char *path, size_t len, const char *why)
{
    int shown = len > 200 ? 200 : (int)len;
    return kiln_err_set(err, KILN_EINVAL, "Invalid path: '%.*s' (%s)", shown, path, why);
}

int kiln_artifact_path_check(const char *path, size_t len, unsigned flags, size_t *clean_len,
                             struct kiln_err *err)
{
    static const size_t tmp_len = sizeof(KILN_ARTIFACT_TMP_PREFIX) - 1;
    size_t n = len, seg = 0;

    if (path == NULL)
        len = n = 0;
    if (len > KILN_ARTIFACT_PATH_MAX)
        return bad_path(err, path, len, "longer than 4096 bytes");
    if (len > 0 && memchr(path, '\0', len) != NULL)
        return bad_path(err, path, len, "contains a NUL byte");
    if (len > 0 && path[0] == '/')
        return bad_path(err, path, len, "absolute paths are not allowed");
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n == 0) {
        if ((flags & KILN_ARTIFACT_PATH_ALLOW_ROOT) == 0)
            return kiln_err_set(err, KILN_EINVAL, "Invalid path: '' (empty path)");
        if (clean_len != NULL)
            *clean_len = 0;
        return KILN_OK;
    }
    for (size_t i = 0; i <= n; i++) {
        size_t sl;
        if (i < n && path[i] == '\\')
            return bad_path(err, path, len, "backslashes are not allowed");
        if (i < n && path[i] != '/')
            continue;
        sl = i - seg;
        if (sl == 0)
            return bad_path(err, path, len, "empty path segment");
        if ((sl == 1 && path[seg] == '.') || (sl == 2 && path[seg] == '.' && path[seg + 1] == '.'))
            return bad_path(err, path, len, "'.' and '..' segments are not allowed");
        if (sl > SEGMENT_MAX)
            return bad_path(err, path, len, "a path segment is longer than 255 bytes");
        if (sl >= tmp_len && memcmp(path + seg, KILN_ARTIFACT_TMP_PREFIX, tmp_len) == 0)
            return bad_path(err, path, len, "names starting with '.kiln-upload-' are reserved");
        seg = i + 1;
    }
    if (clean_len != NULL)
        *clean_len = n;
    return KILN_OK;
}

/* Checks `path` and copies it without trailing slashes into `tmp` for a backend call. */
static int clean(const char *path, unsigned flags, struct kiln_buf *tmp, struct kiln_err *err)
{
    size_t n;
    int rc = kiln_artifact_path_check(path, path != NULL ? strlen(path) : 0, flags, &n, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_buf_append(tmp, path != NULL ? path : "", n);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "out of memory");
    return KILN_OK;
}

int kiln_artifact_repo_open(const char *location, struct kiln_artifact_repo **out,
                            struct kiln_err *err)
{
    const char *sep;
    *out = NULL;
    if (location == NULL || *location == '\0')
        return kiln_err_set(err, KILN_EINVAL, "empty artifact location");
    if (kiln_cstr_has_prefix(location, "file://"))
        return kiln_artifact_local_open(location + strlen("file://"), out, err);
    sep = strstr(location, "://");
    if (sep != NULL && strchr(location, '/') > sep)
        return kiln_err_set(err, KILN_ENOTSUP,
                            "artifact store '%.200s': the '%.*s' scheme is not supported by this "
                            "build (local folders only)",
                            location, (int)(sep - location), location);
    return kiln_artifact_local_open(location, out, err);
}

void kiln_artifact_repo_free(struct kiln_artifact_repo *repo)
{
    if (repo != NULL)
        repo->ops->release(repo);
}

int kiln_artifact_upload_begin(struct kiln_artifact_repo *repo, const char *path,
                               struct kiln_artifact_upload **out, struct kiln_err *err)
{
    struct kiln_buf p;
    int rc;
    *out = NULL;
    kiln_buf_init(&p, KILN_ARTIFACT_PATH_MAX + 1);
    rc = clean(path, 0, &p, err);
    if (rc == KILN_OK)
        rc = repo->ops->upload_begin(repo, p.buf, out, err);
    if (rc == KILN_OK)
        (*out)->size = 0;
    kiln_buf_release(&p);
    return rc;
}

int kiln_artifact_upload_write(struct kiln_artifact_upload *up, const void *data, size_t len,
                               struct kiln_err *err)
{
    int rc;
    if (len == 0)
        return KILN_OK;
    rc = up->ops->upload_write(up, data, len, err);
    if (rc == KILN_OK)
        up->size += len;
    return rc;
}

uint64_t kiln_artifact_upload_size(const struct kiln_artifact_upload *up)
{
    return up->size;
}

int kiln_artifact_upload_commit(struct kiln_artifact_upload *up, struct kiln_err *err)
{
    return up->ops->upload_commit(up, err);
}

void kiln_artifact_upload_abort(struct kiln_artifact_upload *up)
{
    if (up != NULL)
        up->ops->upload_abort(up);
}

int kiln_artifact_open_read(struct kiln_artifact_repo *repo, const char *path, int *fd,
                            uint64_t *size, struct kiln_err *err)
{
    struct kiln_buf p;
    int rc;
    *fd = -1;
    kiln_buf_init(&p, KILN_ARTIFACT_PATH_MAX + 1);
    rc = clean(path, 0, &p, err);
    if (rc == KILN_OK)
        rc = repo->ops->open_read(repo, p.buf, fd, size, err);
    kiln_buf_release(&p);
    return rc;
}

int kiln_artifact_list(struct kiln_artifact_repo *repo, const char *path, struct kiln_arena *arena,
                       struct kiln_artifact_entry **entries, size_t *n, struct kiln_err *err)
{
    struct kiln_buf p;
    int rc;
    *entries = NULL;
    *n = 0;
    kiln_buf_init(&p, KILN_ARTIFACT_PATH_MAX + 1);
    rc = clean(path, KILN_ARTIFACT_PATH_ALLOW_ROOT, &p, err);
    if (rc == KILN_OK)
        rc = repo->ops->list(repo, p.buf, arena, entries, n, err);
    kiln_buf_release(&p);
    return rc;
}

int kiln_artifact_delete(struct kiln_artifact_repo *repo, const char *path, struct kiln_err *err)
{
    struct kiln_buf p;
    int rc;
    kiln_buf_init(&p, KILN_ARTIFACT_PATH_MAX + 1);
    rc = clean(path, KILN_ARTIFACT_PATH_ALLOW_ROOT, &p, err);
    if (rc == KILN_OK && p.len == 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid path: '' (the artifact root cannot be deleted)");
    if (rc == KILN_OK)
        rc = repo->ops->remove(repo, p.buf, err);
    kiln_buf_release(&p);
    return rc;
}

/* The part of a local path or file:// URI below `root`, or NULL when it is not below it. */
static const char *below_root(const char *path, const char *root)
{
    size_t rl;
    if (root == NULL || root[0] != '/' || path[0] != '/')
        return NULL;
    rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (strncmp(path, root, rl) != 0)
        return NULL;
    if (path[rl] == '\0')
        return path + rl;
    if (path[rl] != '/' && rl > 1)
        return NULL;
    return path + rl + (rl > 1 ? 1 : 0);
}

/* Finds the proxy anchor in an http(s) URI and percent-decodes what follows it into `out`. */
static int http_rel(const char *uri, struct kiln_buf *out, struct kiln_err *err)
{
    const char *start = strstr(uri, "://"), *a, *rest;
    size_t len;
    int rc;

    start = start != NULL ? strchr(start + 3, '/') : NULL;
    a = start != NULL ? strstr(start, HTTP_ANCHOR) : NULL;
    if (a == NULL || (a[strlen(HTTP_ANCHOR)] != '/' && a[strlen(HTTP_ANCHOR)] != '\0' &&
                      a[strlen(HTTP_ANCHOR)] != '?' && a[strlen(HTTP_ANCHOR)] != '#'))
        return kiln_err_set(err, KILN_ENOTSUP,
                            "artifact URI '%.200s' is not served by this server's artifact proxy",
                            uri);
    rest = a + strlen(HTTP_ANCHOR);
    while (*rest == '/')
        rest++;
    len = strcspn(rest, "?#");
    rc = kiln_url_decode(rest, len, 0, out);
    if (rc == KILN_EINVAL)
        return kiln_err_set(err, rc, "Invalid path in artifact URI '%.200s'", uri);
    if (rc != KILN_OK)
        return kiln_err_set(err, rc, "artifact URI '%.200s': %s", uri, kiln_strerror(rc));
    return KILN_OK;
}

int kiln_artifact_uri_to_path(const char *uri, const char *local_root, struct kiln_arena *arena,
                              const char **path, struct kiln_err *err)
{
    struct kiln_buf rel;
    struct kiln_uri u;
    const char *local;
    size_t n;
    int rc = KILN_OK;

    *path = NULL;
    if (uri == NULL || *uri == '\0')
        return kiln_err_set(err, KILN_EINVAL, "empty artifact URI");
    kiln_buf_init(&rel, KILN_ARTIFACT_PATH_MAX * 3 + 1);
    if (kiln_cstr_has_prefix(uri, "mlflow-artifacts:")) {
        rc = kiln_uri_parse(uri, &u, err);
        if (rc == KILN_OK) {
            rc = kiln_buf_puts(&rel, u.path != NULL ? u.path : "");
            kiln_uri_release(&u);
        }
    } else if (kiln_cstr_has_prefix(uri, "http://") || kiln_cstr_has_prefix(uri, "https://")) {
        rc = http_rel(uri, &rel, err);
    } else {
        local = kiln_cstr_has_prefix(uri, "file://") ? uri + strlen("file://") : uri;
        local = below_root(local, local_root);
        if (local == NULL)
            rc = kiln_err_set(err, KILN_ENOTSUP,
                              "artifact URI '%.200s' is not served by this server's artifact proxy",
                              uri);
        else
            rc = kiln_buf_puts(&rel, local);
    }
    if (rc == KILN_ETOOBIG)
        rc = kiln_err_set(err, KILN_EINVAL, "Invalid path: artifact URI '%.200s' is too long", uri);
    if (rc == KILN_OK)
        rc = kiln_artifact_path_check(rel.buf, rel.len, KILN_ARTIFACT_PATH_ALLOW_ROOT, &n, err);
    if (rc == KILN_OK) {
        *path = kiln_arena_strndup(arena, rel.buf, n);
        if (*path == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    kiln_buf_release(&rel);
    return rc;
}

const char *kiln_artifact_content_type(const char *name)
{
    /* MLflow's TEXT_EXTENSIONS: served as text/plain (a name without a dot is its own
     * extension, which covers MLmodel and MLproject). */
    static const char *const text[] = {
        "txt",  "log",   "err",  "cfg",  "conf", "cnf",     "cf",        "ini",       "properties",
        "prop", "hocon", "toml", "yaml", "yml",  "xml",     "json",      "js",        "py",
        "py3",  "csv",   "tsv",  "md",   "rst",  "MLmodel", "mlproject", "MLproject",
    };
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        { "html", "text/html" },
        { "htm", "text/html" },
        { "css", "text/css" },
        { "png", "image/png" },
        { "jpg", "image/jpeg" },
        { "jpeg", "image/jpeg" },
        { "gif", "image/gif" },
        { "svg", "image/svg+xml" },
        { "webp", "image/webp" },
        { "bmp", "image/bmp" },
        { "pdf", "application/pdf" },
        { "zip", "application/zip" },
        { "gz", "application/gzip" },
        { "tar", "application/x-tar" },
        { "bz2", "application/x-bzip2" },
        { "xz", "application/x-xz" },
        { "wav", "audio/x-wav" },
        { "mp3", "audio/mpeg" },
        { "mp4", "video/mp4" },
        { "ipynb", "application/x-ipynb+json" },
    };
    const char *base = strrchr(name, '/');
    const char *dot, *ext;

    base = base != NULL ? base + 1 : name;
    dot = strrchr(base, '.');
    ext = dot != NULL ? dot + 1 : base;
    for (size_t i = 0; i < KILN_ARRAY_LEN(text); i++)
        if (strcmp(ext, text[i]) == 0)
            return "text/plain; charset=utf-8";
    if (dot == NULL)
        return "application/octet-stream";
    for (size_t i = 0; i < KILN_ARRAY_LEN(types); i++)
        if (kiln_cstr_ieq(ext, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

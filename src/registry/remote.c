/*
 * remote.c - model URI resolution and model download against a tracking server over HTTP
 * (for processes that do not own the store: `kiln serve` replicas, the CLI, pipelines).
 *
 * Resolution asks kiln's native endpoint (GET /api/kiln/v1/models/resolve) first and falls
 * back to MLflow's REST calls when the server answers ENDPOINT_NOT_FOUND, so the same code
 * works against an MLflow server. Download lists the artifact location through the artifact
 * proxy (GET /api/2.0/mlflow-artifacts/artifacts?path=...) and fetches every file, or copies
 * a local folder when the location is a path on this machine.
 *
 * Every name a server lists is checked (one path segment, no "..", no NUL) before it is
 * joined under the destination, so a hostile server cannot write outside it. Single-threaded
 * per client (a kiln_http_client is not shared).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/str.h"
#include "core/uri.h"
#include "http/client.h"
#include "registry/registry_int.h"

#define MAX_DEPTH 32
#define MAX_FILES 100000
#define PROXY "/api/2.0/mlflow-artifacts/artifacts"

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const char *adup(struct kiln_arena *arena, const char *s, int *oom)
{
    return reg_dup(arena, s, oom);
}

static int from_native(const json_t *doc, struct kiln_arena *arena, struct kiln_resolved_model *out,
                       struct kiln_err *err)
{
    const char *v = jstr(doc, "version");
    int oom = 0;
    out->name = adup(arena, jstr(doc, "name"), &oom);
    out->alias = adup(arena, jstr(doc, "alias"), &oom);
    out->model_id = adup(arena, jstr(doc, "model_id"), &oom);
    out->run_id = adup(arena, jstr(doc, "run_id"), &oom);
    out->artifact_uri = adup(arena, jstr(doc, "artifact_uri"), &oom);
    if (oom)
        return reg_oom(err);
    if (v != NULL && kiln_registry_parse_version(v, &out->version, err) != KILN_OK)
        return kiln_err_set(err, KILN_EIO, "the server answered a malformed version '%s'", v);
    if (out->artifact_uri == NULL)
        return kiln_err_set(err, KILN_EIO, "the server's resolution has no artifact_uri");
    return KILN_OK;
}

/* MLflow REST: the version a name-based models:/ URI denotes. */
static int mlflow_version(struct kiln_http_client *c, const struct kiln_uri *u, char *version,
                          size_t size, const char **run_id, struct kiln_arena *arena,
                          struct kiln_err *err)
{
    json_t *req = NULL, *doc = NULL;
    int oom = 0, rc;
    if (u->ref_kind == KILN_MODEL_REF_VERSION) {
        kiln_strlcpy(version, u->ref, size);
        return KILN_OK;
    }
    if (u->ref_kind == KILN_MODEL_REF_ALIAS && !kiln_cstr_ieq(u->ref, "latest")) {
        req = json_pack("{s:s, s:s}", "name", u->name, "alias", u->ref);
        rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/registered-models/alias", req, &doc,
                                   err);
        if (rc == KILN_OK) {
            const json_t *mv = json_object_get(doc, "model_version");
            kiln_strlcpy(version, jstr(mv, "version") != NULL ? jstr(mv, "version") : "", size);
            *run_id = adup(arena, jstr(mv, "run_id"), &oom);
        }
    } else {
        json_t *mvs, *mv;
        size_t i;
        int64_t best = 0;
        req = json_pack("{s:s}", "name", u->name);
        if (req != NULL && u->ref_kind == KILN_MODEL_REF_STAGE)
            json_object_set_new(req, "stages", json_pack("[s]", kiln_stage_canonical(u->ref)));
        rc = req != NULL ? kiln_http_client_json(c, "POST",
                                                 "/api/2.0/mlflow/registered-models/"
                                                 "get-latest-versions",
                                                 req, &doc, err)
                         : reg_oom(err);
        mvs = rc == KILN_OK ? json_object_get(doc, "model_versions") : NULL;
        json_array_foreach(mvs, i, mv)
        {
            int64_t v = 0;
            const char *s = jstr(mv, "version");
            if (s != NULL && kiln_parse_int64(s, strlen(s), &v) == KILN_OK && v > best) {
                best = v;
                *run_id = adup(arena, jstr(mv, "run_id"), &oom);
            }
        }
        if (rc == KILN_OK && best == 0)
            rc = kiln_err_set(err, KILN_ENOENT, "no version of model '%s' matches '%s'", u->name,
                              u->raw);
        snprintf(version, size, "%lld", (long long)best);
    }
    json_decref(req);
    json_decref(doc);
    return rc == KILN_OK && oom ? reg_oom(err) : rc;
}

static int mlflow_step(struct kiln_http_client *c, struct kiln_arena *arena, const char *uri,
                       int first, struct kiln_resolved_model *out, const char **next,
                       struct kiln_err *err)
{
    struct kiln_uri u;
    json_t *req = NULL, *doc = NULL;
    const char *run_id = NULL;
    char version[32];
    int oom = 0, rc = kiln_uri_parse(uri, &u, err);
    *next = NULL;
    if (rc != KILN_OK)
        return rc;
    if (u.scheme == KILN_URI_MODELS && u.ref_kind == KILN_MODEL_REF_LOGGED_MODEL) {
        struct kiln_buf path;
        kiln_buf_init(&path, 4096);
        rc = kiln_buf_printf(&path, "/api/2.0/mlflow/logged-models/%s", u.ref);
        if (rc == KILN_OK)
            rc = kiln_http_client_json(c, "GET", path.buf, NULL, &doc, err);
        kiln_buf_release(&path);
        if (rc == KILN_OK) {
            const json_t *info = json_object_get(json_object_get(doc, "model"), "info");
            out->artifact_uri = adup(arena, jstr(info, "artifact_uri"), &oom);
            if (out->model_id == NULL)
                out->model_id = adup(arena, u.ref, &oom);
            if (out->run_id == NULL)
                out->run_id = adup(arena, jstr(info, "source_run_id"), &oom);
        }
    } else if (u.scheme == KILN_URI_MODELS) {
        rc = mlflow_version(c, &u, version, sizeof(version), &run_id, arena, err);
        if (rc == KILN_OK) {
            req = json_pack("{s:s, s:s}", "name", u.name, "version", version);
            rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/model-versions/get-download-uri",
                                       req, &doc, err);
        }
        if (rc == KILN_OK) {
            out->artifact_uri = adup(arena, jstr(doc, "artifact_uri"), &oom);
            if (first) {
                out->name = adup(arena, u.name, &oom);
                kiln_registry_parse_version(version, &out->version, NULL);
                if (u.ref_kind != KILN_MODEL_REF_VERSION)
                    out->alias = adup(arena, u.ref, &oom);
            }
            if (out->run_id == NULL)
                out->run_id = run_id;
            if (out->artifact_uri != NULL && (kiln_cstr_has_prefix(out->artifact_uri, "models:") ||
                                              kiln_cstr_has_prefix(out->artifact_uri, "runs:")))
                *next = out->artifact_uri;
        }
    } else if (u.scheme == KILN_URI_RUNS) {
        req = json_pack("{s:s}", "run_id", u.run_id);
        rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/runs/get", req, &doc, err);
        if (rc == KILN_OK) {
            const char *root =
                jstr(json_object_get(json_object_get(doc, "run"), "info"), "artifact_uri");
            if (root == NULL)
                rc = kiln_err_set(err, KILN_EIO, "run '%s' has no artifact_uri", u.run_id);
            else if (*u.path == '\0')
                out->artifact_uri = adup(arena, root, &oom);
            else
                out->artifact_uri = kiln_arena_printf(arena, "%s/%s", root, u.path);
            if (out->run_id == NULL)
                out->run_id = adup(arena, u.run_id, &oom);
        }
    } else {
        out->artifact_uri = adup(arena, uri, &oom);
    }
    json_decref(req);
    json_decref(doc);
    kiln_uri_release(&u);
    if (rc == KILN_OK && (oom || out->artifact_uri == NULL))
        rc = oom ? reg_oom(err) : kiln_err_set(err, KILN_EIO, "'%s' resolved to nothing", uri);
    return rc;
}

int kiln_registry_resolve_remote(struct kiln_http_client *c, struct kiln_arena *arena,
                                 const char *uri, struct kiln_resolved_model *out,
                                 struct kiln_err *err)
{
    json_t *req, *doc = NULL;
    const char *cur = uri, *next;
    int oom = 0, rc;

    memset(out, 0, sizeof(*out));
    out->uri = adup(arena, uri, &oom);
    if (oom)
        return reg_oom(err);
    req = json_pack("{s:s}", "uri", uri);
    if (req == NULL)
        return reg_oom(err);
    rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/models/resolve", req, &doc, err);
    json_decref(req);
    if (rc == KILN_OK)
        rc = from_native(doc, arena, out, err);
    json_decref(doc);
    if (rc != KILN_ENOENDPOINT)
        return rc;
    kiln_err_clear(err);
    for (int hop = 0; hop < 8; hop++) {
        rc = mlflow_step(c, arena, cur, hop == 0, out, &next, err);
        if (rc != KILN_OK || next == NULL)
            return rc;
        cur = next;
    }
    return kiln_err_set(err, KILN_EINVAL, "model URI '%s' refers through too many locations", uri);
}

/* ---- download --------------------------------------------------------------------------- */

struct dl {
    struct kiln_http_client *c;
    struct kiln_download_stats *stats;
    void (*progress)(void *arg, const struct kiln_download_stats *s, const char *path);
    void *arg;
};

static int check_name(const char *name, struct kiln_err *err)
{
    if (name == NULL || strchr(name, '/') != NULL ||
        kiln_path_check_rel(name, strlen(name), "listed artifact name", err) != KILN_OK)
        return kiln_err_set(err, KILN_EIO, "the server listed an unsafe artifact name '%s'",
                            name != NULL ? name : "(none)");
    return KILN_OK;
}

static int file_done(struct dl *d, const char *dest, const char *rel, struct kiln_err *err)
{
    struct stat st;
    if (stat(dest, &st) == 0)
        d->stats->bytes += (uint64_t)st.st_size;
    if (++d->stats->files > MAX_FILES)
        return kiln_err_set(err, KILN_ETOOBIG, "more than %d files", MAX_FILES);
    if (d->progress != NULL)
        d->progress(d->arg, d->stats, rel);
    return KILN_OK;
}

static int fetch_file(struct dl *d, const char *rpath, const char *dest, struct kiln_err *err)
{
    struct kiln_buf url;
    int rc;
    kiln_buf_init(&url, 65536);
    rc = kiln_buf_puts(&url, PROXY "/");
    if (rc == KILN_OK)
        rc = kiln_url_encode(rpath, strlen(rpath), 1, &url);
    if (rc != KILN_OK)
        rc = kiln_err_set(err, rc, "artifact path '%s' is too long", rpath);
    else
        rc = kiln_http_client_download(d->c, url.buf, dest, err);
    kiln_buf_release(&url);
    return rc == KILN_OK ? file_done(d, dest, rpath, err) : rc;
}

/* Lists rpath through the proxy; *files is the "files" array (owned by *doc). */
static int list_dir(struct dl *d, const char *rpath, json_t **doc, json_t **files,
                    struct kiln_err *err)
{
    json_t *req = json_pack("{s:s}", "path", rpath);
    int rc;
    if (req == NULL)
        return reg_oom(err);
    rc = kiln_http_client_json(d->c, "GET", PROXY, req, doc, err);
    json_decref(req);
    if (rc == KILN_OK) {
        *files = json_object_get(*doc, "files");
        if (*files != NULL && !json_is_array(*files))
            rc = kiln_err_set(err, KILN_EIO, "the artifact listing of '%s' is malformed", rpath);
    }
    return rc;
}

static int fetch_dir(struct dl *d, const char *rpath, const char *dest, int depth,
                     struct kiln_err *err)
{
    json_t *doc = NULL, *files = NULL, *f;
    size_t i;
    int rc;

    if (depth > MAX_DEPTH)
        return kiln_err_set(err, KILN_ETOOBIG, "artifact folders nest deeper than %d", MAX_DEPTH);
    rc = kiln_mkdirs(dest, 0755, err);
    if (rc == KILN_OK)
        rc = list_dir(d, rpath, &doc, &files, err);
    json_array_foreach(files, i, f)
    {
        const char *name = jstr(f, "path");
        struct kiln_buf sub, out;
        const char *base;
        if (rc != KILN_OK)
            break;
        /* MLflow lists basenames; tolerate full relative paths by keeping the last segment. */
        base = name != NULL && strrchr(name, '/') != NULL ? strrchr(name, '/') + 1 : name;
        rc = check_name(base, err);
        if (rc != KILN_OK)
            break;
        kiln_buf_init(&sub, 65536);
        kiln_buf_init(&out, 65536);
        if (kiln_buf_printf(&sub, "%s/%s", rpath, base) != KILN_OK ||
            kiln_path_join(&out, dest, base) != KILN_OK)
            rc = kiln_err_set(err, KILN_ETOOBIG, "artifact path too long under '%s'", rpath);
        else if (json_is_true(json_object_get(f, "is_dir")))
            rc = fetch_dir(d, sub.buf, out.buf, depth + 1, err);
        else
            rc = fetch_file(d, sub.buf, out.buf, err);
        kiln_buf_release(&sub);
        kiln_buf_release(&out);
    }
    json_decref(doc);
    return rc;
}

/* Copies a local file or folder tree (the artifact location is a path on this machine). */
static int copy_file(const char *src, const char *dst, struct kiln_err *err)
{
    struct kiln_buf data;
    int rc;
    kiln_buf_init(&data, (size_t)4 << 30);
    rc = kiln_read_file(src, &data, err);
    if (rc == KILN_OK)
        rc = kiln_write_file_atomic(dst, data.buf, data.len, err);
    kiln_buf_release(&data);
    return rc;
}

static int copy_tree(struct dl *d, const char *src, const char *dst, const char *rel, int depth,
                     struct kiln_err *err)
{
    struct stat st;
    DIR *dir;
    struct dirent *de;
    int rc = KILN_OK;

    if (depth > MAX_DEPTH)
        return kiln_err_set(err, KILN_ETOOBIG, "folders nest deeper than %d", MAX_DEPTH);
    if (lstat(src, &st) != 0)
        return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot read '%s': %s", src,
                            strerror(errno));
    if (S_ISREG(st.st_mode)) {
        rc = copy_file(src, dst, err);
        return rc == KILN_OK ? file_done(d, dst, rel, err) : rc;
    }
    if (!S_ISDIR(st.st_mode))
        return KILN_OK; /* symlinks and devices are not model files: skipped */
    rc = kiln_mkdirs(dst, 0755, err);
    if (rc != KILN_OK)
        return rc;
    dir = opendir(src);
    if (dir == NULL)
        return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot list '%s': %s", src,
                            strerror(errno));
    while (rc == KILN_OK && (de = readdir(dir)) != NULL) {
        struct kiln_buf s, t, r;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        kiln_buf_init(&s, 65536);
        kiln_buf_init(&t, 65536);
        kiln_buf_init(&r, 65536);
        if (kiln_path_join(&s, src, de->d_name) != KILN_OK ||
            kiln_path_join(&t, dst, de->d_name) != KILN_OK ||
            kiln_buf_printf(&r, "%s%s%s", rel, *rel != '\0' ? "/" : "", de->d_name) != KILN_OK)
            rc = kiln_err_set(err, KILN_ETOOBIG, "path too long under '%s'", src);
        else
            rc = copy_tree(d, s.buf, t.buf, r.buf, depth + 1, err);
        kiln_buf_release(&s);
        kiln_buf_release(&t);
        kiln_buf_release(&r);
    }
    closedir(dir);
    return rc;
}

int kiln_registry_download(struct kiln_http_client *c, const char *uri, const char *dest,
                           struct kiln_download_stats *stats,
                           void (*progress)(void *arg, const struct kiln_download_stats *s,
                                            const char *path),
                           void *arg, struct kiln_err *err)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_resolved_model r;
    struct dl d = { c, stats, progress, arg };
    struct kiln_uri u;
    const char *loc, *marker;
    int rc;

    memset(stats, 0, sizeof(*stats));
    if (arena == NULL)
        return reg_oom(err);
    rc = kiln_registry_resolve_remote(c, arena, uri, &r, err);
    if (rc != KILN_OK)
        goto out;
    loc = r.artifact_uri;
    kiln_strlcpy(stats->artifact_uri, loc, sizeof(stats->artifact_uri));
    rc = kiln_uri_parse(loc, &u, err);
    if (rc != KILN_OK)
        goto out;
    if (u.scheme == KILN_URI_MLFLOW_ARTIFACTS) {
        rc = fetch_dir(&d, u.path, dest, 0, err);
        if (rc == KILN_OK && stats->files == 0) {
            /* An empty listing means a file (or nothing): fetch it as a file. */
            struct kiln_buf out;
            const char *base = strrchr(u.path, '/') != NULL ? strrchr(u.path, '/') + 1 : u.path;
            kiln_buf_init(&out, 65536);
            rc = check_name(base, err);
            if (rc == KILN_OK && kiln_path_join(&out, dest, base) != KILN_OK)
                rc = kiln_err_set(err, KILN_ETOOBIG, "path too long");
            if (rc == KILN_OK)
                rc = fetch_file(&d, u.path, out.buf, err);
            if (rc == KILN_ENOENT)
                rc = kiln_err_set(err, KILN_ENOENT, "no model files at '%s' (resolved from '%s')",
                                  loc, uri);
            kiln_buf_release(&out);
        }
    } else if (u.scheme == KILN_URI_HTTP && (marker = strstr(u.path, PROXY "/")) != NULL) {
        struct kiln_http_client *other = NULL;
        struct kiln_buf base, rel;
        kiln_buf_init(&base, 65536);
        kiln_buf_init(&rel, 65536);
        rc = kiln_buf_append(&base, loc, (size_t)(strstr(loc, PROXY "/") - loc));
        if (rc == KILN_OK)
            rc = kiln_url_decode(marker + strlen(PROXY "/"), strlen(marker + strlen(PROXY "/")), 0,
                                 &rel);
        if (rc == KILN_OK)
            rc = kiln_http_client_new(base.buf, 0, &other, err);
        if (rc == KILN_OK) {
            d.c = other;
            rc = fetch_dir(&d, rel.buf, dest, 0, err);
        }
        kiln_http_client_free(other);
        kiln_buf_release(&base);
        kiln_buf_release(&rel);
    } else if (u.scheme == KILN_URI_LOCAL) {
        rc = copy_tree(&d, u.path, dest, "", 0, err);
    } else {
        rc = kiln_err_set(err, KILN_ENOTSUP,
                          "kiln cannot download from '%s' (resolved from '%s'): only "
                          "mlflow-artifacts:/, the artifact proxy and local paths are supported",
                          loc, uri);
    }
    kiln_uri_release(&u);
out:
    kiln_arena_free(arena);
    return rc;
}

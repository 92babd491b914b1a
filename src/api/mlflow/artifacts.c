/*
 * artifacts.c - MLflow's artifact proxy (/api/2.0/mlflow-artifacts, mlflow-api.md §4.3, §9)
 * and the tracking API's artifact listings (/artifacts/list, logged-model directories).
 *
 * Every request opens the artifact repository at the server's --artifacts-destination (one
 * open(2) of the root folder) and registers its release on the request arena, so no state
 * is shared between requests and nothing outlives them.
 *
 * Uploads are streamed (struct kiln_http_stream_ops): body_begin checks the path and starts an
 * atomic upload, body_chunk appends, and the handler, which only runs once the whole body has
 * arrived, commits it. A client that goes away mid-body never reaches the handler; the arena
 * cleanup then aborts the upload, so nothing appears under the file's name. Downloads hand the
 * open file to the HTTP layer, which streams it without copying it into memory.
 *
 * Threads: handlers run on any MHD worker; all state is per request.
 */
#include <string.h>

#include "api/mlflow/artifact_api.h"
#include "api/mlflow/mlflow.h"
#include "core/str.h"
#include "tracking/run_artifacts.h"

#define MPU_MESSAGE "Multipart upload is not supported for the current artifact repository"

static void repo_cleanup(void *p)
{
    kiln_artifact_repo_free(p);
}

int kiln_api_artifact_repo(struct kiln_server *srv, struct kiln_http_req *req,
                           struct kiln_artifact_repo **out, struct kiln_err *err)
{
    struct kiln_artifact_repo *repo;
    int rc;

    *out = NULL;
    if (!srv->serve_artifacts || srv->artifacts_root == NULL)
        return kiln_err_set(err, KILN_ENOENDPOINT,
                            "artifact proxying is disabled on this server (no artifact root)");
    rc = kiln_artifact_repo_open(srv->artifacts_root, &repo, err);
    if (rc != KILN_OK)
        return rc;
    if (kiln_arena_cleanup_add(req->arena, repo_cleanup, repo) != KILN_OK) {
        kiln_artifact_repo_free(repo);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    *out = repo;
    return KILN_OK;
}

/* The artifact path of a proxy request, from the `{path*}` route parameter. */
static const char *param_path(const struct kiln_http_req *req)
{
    const char *p = kiln_http_param(req, "path");
    return p != NULL ? p : "";
}

/* ---- upload ------------------------------------------------------------------------------ */

struct upload_ctx {
    struct kiln_artifact_upload *up; /* NULL once committed */
};

static void upload_cleanup(void *p)
{
    struct upload_ctx *u = p;
    kiln_artifact_upload_abort(u->up);
    u->up = NULL;
}

static int put_begin(void *app, struct kiln_http_req *req, struct kiln_err *err)
{
    struct kiln_artifact_repo *repo;
    struct upload_ctx *u;
    int rc = kiln_api_artifact_repo(app, req, &repo, err);
    if (rc != KILN_OK)
        return rc;
    u = kiln_arena_calloc(req->arena, 1, sizeof(*u));
    if (u == NULL || kiln_arena_cleanup_add(req->arena, upload_cleanup, u) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_artifact_upload_begin(repo, param_path(req), &u->up, err);
    if (rc != KILN_OK)
        return rc;
    req->stream_ctx = u;
    return KILN_OK;
}

static int put_chunk(void *app, struct kiln_http_req *req, const char *data, size_t len,
                     struct kiln_err *err)
{
    struct upload_ctx *u = req->stream_ctx;
    (void)app;
    if (kiln_artifact_upload_size(u->up) + len > KILN_ARTIFACT_MAX_UPLOAD)
        return kiln_err_set(err, KILN_EBODYTOOBIG,
                            "artifact '%.200s' is larger than the limit of %llu bytes",
                            param_path(req), (unsigned long long)KILN_ARTIFACT_MAX_UPLOAD);
    return kiln_artifact_upload_write(u->up, data, len, err);
}

static int h_put(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct upload_ctx *u = req->stream_ctx;
    struct kiln_artifact_upload *up = u->up;
    int rc;
    (void)app;
    u->up = NULL; /* commit frees it whatever happens */
    rc = kiln_artifact_upload_commit(up, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_empty(resp);
}

static const struct kiln_http_stream_ops put_stream = { put_begin, put_chunk };

/* ---- download, delete, list -------------------------------------------------------------- */

static int safe_filename_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr(" ._-+()~,=@", c) != NULL;
}

/*
 * `attachment; filename="<name>"`, with an ASCII fallback and an RFC 5987 filename* when the
 * name has characters that cannot go in a quoted header value (quotes, controls, non-ASCII).
 */
static const char *disposition(struct kiln_arena *arena, const char *path)
{
    const char *base = strrchr(path, '/');
    struct kiln_buf b;
    const char *out = NULL;
    int plain = 1, rc;

    base = base != NULL ? base + 1 : path;
    for (const unsigned char *p = (const unsigned char *)base; *p != '\0'; p++)
        plain = plain && safe_filename_char(*p);
    kiln_buf_init(&b, 4096);
    rc = kiln_buf_puts(&b, "attachment; filename=\"");
    for (const unsigned char *p = (const unsigned char *)base; *p != '\0' && rc == KILN_OK; p++)
        rc = kiln_buf_putc(&b, safe_filename_char(*p) ? (char)*p : '_');
    if (rc == KILN_OK)
        rc = kiln_buf_putc(&b, '"');
    if (rc == KILN_OK && !plain) {
        rc = kiln_buf_puts(&b, "; filename*=UTF-8''");
        if (rc == KILN_OK)
            rc = kiln_url_encode(base, strlen(base), 0, &b);
    }
    if (rc == KILN_OK)
        out = kiln_arena_strndup(arena, b.buf, b.len);
    kiln_buf_release(&b);
    return out;
}

static int h_get(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    struct kiln_artifact_repo *repo;
    const char *path = param_path(req), *disp;
    uint64_t size = 0;
    int fd = -1;
    int rc = kiln_api_artifact_repo(app, req, &repo, err);

    if (rc == KILN_OK)
        rc = kiln_artifact_open_read(repo, path, &fd, &size, err);
    if (rc != KILN_OK)
        return rc;
    kiln_http_resp_file(resp, fd, size, kiln_artifact_content_type(path));
    disp = disposition(req->arena, path);
    if (disp == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_http_resp_header(resp, "Content-Disposition", disp);
    kiln_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
    return KILN_OK;
}

static int h_delete(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                    struct kiln_err *err)
{
    struct kiln_artifact_repo *repo;
    int rc = kiln_api_artifact_repo(app, req, &repo, err);
    if (rc == KILN_OK)
        rc = kiln_artifact_delete(repo, param_path(req), err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_empty(resp);
}

/* Writes `"files": [...]` (omitted when empty), each path prefixed with `prefix` + "/". */
static void write_files(struct kiln_jsonw *w, const struct kiln_artifact_entry *e, size_t n,
                        const char *prefix, struct kiln_buf *tmp)
{
    if (n == 0)
        return;
    kiln_jsonw_key(w, "files");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        kiln_jsonw_obj_begin(w);
        if (prefix != NULL && *prefix != '\0') {
            kiln_buf_reset(tmp);
            if (kiln_buf_printf(tmp, "%s/%s", prefix, e[i].name) != KILN_OK)
                w->rc = KILN_ENOMEM;
            kiln_jsonw_kv_str(w, "path", tmp->buf);
        } else {
            kiln_jsonw_kv_str(w, "path", e[i].name);
        }
        kiln_jsonw_kv_bool(w, "is_dir", e[i].is_dir);
        if (!e[i].is_dir)
            kiln_jsonw_kv_int(w, "file_size", (int64_t)e[i].size);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

static int h_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct kiln_artifact_repo *repo;
    struct kiln_artifact_entry *e;
    struct kiln_jsonw w;
    struct kiln_buf tmp;
    const char *path = NULL;
    json_t *doc;
    size_t n = 0;
    int rc;

    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "path", KILN_JSON_OPTIONAL, &path, err);
    if (rc == KILN_OK)
        rc = kiln_api_artifact_repo(app, req, &repo, err);
    if (rc == KILN_OK)
        rc = kiln_artifact_list(repo, path != NULL ? path : "", req->arena, &e, &n, err);
    if (rc != KILN_OK)
        return rc;
    kiln_buf_init(&tmp, 2 * KILN_ARTIFACT_PATH_MAX);
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    write_files(&w, e, n, NULL, &tmp);
    kiln_jsonw_obj_end(&w);
    kiln_buf_release(&tmp);
    return kiln_api_json_end(&w, err);
}

static int h_mpu(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                 struct kiln_err *err)
{
    const char *path = param_path(req);
    int rc;
    (void)app;
    (void)resp;
    rc = kiln_artifact_path_check(path, strlen(path), 0, NULL, err);
    if (rc != KILN_OK)
        return rc;
    /* The client falls back to a single PUT on exactly this message (NOT_IMPLEMENTED). */
    return kiln_err_set(err, KILN_ENOTSUP, MPU_MESSAGE);
}

/* ---- listings through the tracking API --------------------------------------------------- */

int kiln_api_respond_listing(struct kiln_server *srv, struct kiln_http_req *req,
                             struct kiln_http_resp *resp, const char *root_uri, const char *rel,
                             struct kiln_err *err)
{
    struct kiln_artifact_repo *repo;
    struct kiln_artifact_entry *e = NULL;
    struct kiln_jsonw w;
    struct kiln_buf full, tmp;
    const char *base;
    size_t n = 0, rel_len = 0;
    int rc;

    if (rel == NULL)
        rel = "";
    rc = kiln_artifact_path_check(rel, strlen(rel), KILN_ARTIFACT_PATH_ALLOW_ROOT, &rel_len, err);
    if (rc == KILN_OK)
        rc = kiln_artifact_uri_to_path(root_uri, srv->artifacts_root, req->arena, &base, err);
    if (rc == KILN_ENOTSUP)
        rc = kiln_err_set(err, KILN_ENOTSUP,
                          "artifacts at '%.200s' are not stored by this server's artifact proxy; "
                          "list them with a client for that store",
                          root_uri);
    if (rc == KILN_OK)
        rc = kiln_api_artifact_repo(srv, req, &repo, err);
    if (rc != KILN_OK)
        return rc;
    kiln_buf_init(&full, 3 * KILN_ARTIFACT_PATH_MAX);
    kiln_buf_init(&tmp, 3 * KILN_ARTIFACT_PATH_MAX);
    rc = kiln_buf_puts(&full, base);
    if (rc == KILN_OK && *base != '\0' && rel_len > 0)
        rc = kiln_buf_putc(&full, '/');
    if (rc == KILN_OK)
        rc = kiln_buf_append(&full, rel, rel_len);
    if (rc != KILN_OK)
        rc = kiln_err_set(err, KILN_EINVAL, "Invalid path: '%.200s' (too long)", rel);
    if (rc == KILN_OK)
        rc = kiln_artifact_list(repo, full.buf, req->arena, &e, &n, err);
    if (rc == KILN_OK) {
        char *prefix = kiln_arena_strndup(req->arena, rel, rel_len);
        kiln_api_json_begin(resp, &w);
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_str(&w, "root_uri", root_uri);
        if (prefix == NULL)
            w.rc = KILN_ENOMEM;
        else
            write_files(&w, e, n, prefix, &tmp);
        kiln_jsonw_obj_end(&w);
        rc = kiln_api_json_end(&w, err);
    }
    kiln_buf_release(&full);
    kiln_buf_release(&tmp);
    return rc;
}

static int h_tracking_list(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                           struct kiln_err *err)
{
    struct kiln_server *srv = app;
    const char *run_id = NULL, *run_uuid = NULL, *path = NULL, *token = NULL, *uri;
    json_t *doc;
    int rc;

    rc = kiln_api_read(req, NULL, &doc, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_id", KILN_JSON_OPTIONAL, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "run_uuid", KILN_JSON_OPTIONAL, &run_uuid, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "path", KILN_JSON_OPTIONAL, &path, err);
    if (rc == KILN_OK) /* accepted for compatibility: listings are never paged */
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &token, err);
    if (rc != KILN_OK)
        return rc;
    if (run_id == NULL || *run_id == '\0')
        run_id = run_uuid;
    if (run_id == NULL || *run_id == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_id'");
    rc = kiln_run_artifact_uri(srv->store, req->arena, run_id, &uri, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_api_respond_listing(srv, req, resp, uri, path, err);
}

static const struct kiln_route proxy_routes[] = {
    { "PUT", "/artifacts/{path*}", h_put, NULL, (size_t)KILN_ARTIFACT_MAX_UPLOAD, &put_stream },
    { "GET", "/artifacts/{path*}", h_get, NULL, 0, NULL },
    { "DELETE", "/artifacts/{path*}", h_delete, NULL, 0, NULL },
    { "GET", "/artifacts", h_list, NULL, 0, NULL },
    { "POST", "/mpu/create/{path*}", h_mpu, NULL, 0, NULL },
    { "POST", "/mpu/complete/{path*}", h_mpu, NULL, 0, NULL },
    { "POST", "/mpu/abort/{path*}", h_mpu, NULL, 0, NULL },
};

static const struct kiln_api_route tracking_routes[] = {
    { "GET", "/artifacts/list", h_tracking_list },
};

int kiln_api_mlflow_artifacts_routes(struct kiln_router *r)
{
    static const char *const prefixes[] = { "/api/2.0/mlflow-artifacts",
                                            "/ajax-api/2.0/mlflow-artifacts" };
    int rc = KILN_OK;
    for (size_t p = 0; p < KILN_ARRAY_LEN(prefixes) && rc == KILN_OK; p++)
        for (size_t i = 0; i < KILN_ARRAY_LEN(proxy_routes) && rc == KILN_OK; i++)
            rc = kiln_router_add_prefixed(r, prefixes[p], &proxy_routes[i]);
    if (rc == KILN_OK)
        rc = kiln_api_add_mlflow(r, tracking_routes, KILN_ARRAY_LEN(tracking_routes));
    return rc;
}

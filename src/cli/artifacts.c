/*
 * artifacts.c - `kiln artifacts list|download`: a run's artifacts through the tracking server,
 * the way the MLflow client reaches them: runs/get gives the run's artifact_uri, which is
 * resolved to the server's artifact proxy (/api/2.0/mlflow-artifacts/artifacts/...), then
 * listed and downloaded from there.
 *
 * Downloads: a listing decides between a file (an empty listing) and a folder (recursed
 * into); the whole plan is listed first, so progress can say "file i of n"; every file is
 * streamed to a temporary name next to its destination and renamed when complete, so an
 * interrupted download never leaves a truncated file under the real name. Names sent by the
 * server are checked before they become local paths (a hostile server cannot write outside
 * DEST). Single-threaded; owns its HTTP clients and arena.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "artifacts/artifacts.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/arena.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/uri.h"
#include "http/client.h"

#define PROXY "/api/2.0/mlflow-artifacts/artifacts"

static const char usage[] =
    "usage: kiln artifacts list RUN_ID [PATH] [--json] [--tracking-uri URI]\n"
    "       kiln artifacts download RUN_ID PATH DEST [--tracking-uri URI]\n"
    "\n"
    "Lists or downloads a run's artifacts through the tracking server's artifact proxy.\n"
    "\n"
    "  list       files and folders directly under PATH (default: the run's artifact root)\n"
    "  download   copies the file or folder PATH ('.' for all artifacts) to DEST; when DEST\n"
    "             is an existing folder the artifact goes inside it under its own name.\n"
    "             Folders are downloaded recursively; prints the local path when done\n"
    "\n"
    "options:\n"
    "  --tracking-uri URI   the server (default $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI,\n"
    "                       then http://127.0.0.1:5000)\n"
    "  --json               list: print {root_uri, files: [{path, is_dir, file_size}]}\n"
    "\n"
    "Documentation: docs/artifacts.md\n";

struct session {
    struct kiln_http_client *tracking;
    struct kiln_http_client *proxy; /* equals tracking unless the URI names another host */
    struct kiln_arena *arena;
    const char *root_uri; /* the run's artifact_uri */
    const char *base;     /* the run's folder, relative to the proxy root */
};

struct entry {
    const char *name;
    int is_dir;
    int64_t size; /* -1 when not given */
};

static void session_release(struct session *s)
{
    if (s->proxy != s->tracking)
        kiln_http_client_free(s->proxy);
    kiln_http_client_free(s->tracking);
    kiln_arena_free(s->arena);
}

/*
 * The proxy's base URL for an artifact URI: the host named by mlflow-artifacts://host:port/...
 * (with the tracking URI's scheme and path prefix, as MLflow resolves it) or the part of an
 * http(s) URI before the proxy path; NULL when the tracking server itself serves it.
 */
static int proxy_base(struct session *s, const struct kiln_uri *tracking, const char *uri,
                      const char **out, struct kiln_err *err)
{
    *out = NULL;
    if (kiln_cstr_has_prefix(uri, "mlflow-artifacts://")) {
        struct kiln_uri u;
        int rc = kiln_uri_parse(uri, &u, err);
        if (rc != KILN_OK)
            return rc;
        if (u.host != NULL && *u.host != '\0') {
            *out = kiln_arena_printf(s->arena, "%s://%s%s", tracking->tls ? "https" : "http",
                                     u.host, tracking->path != NULL ? tracking->path : "");
            if (*out == NULL)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        kiln_uri_release(&u);
        return rc;
    }
    if (kiln_cstr_has_prefix(uri, "http://") || kiln_cstr_has_prefix(uri, "https://")) {
        const char *a = strstr(uri, PROXY);
        if (a == NULL)
            return kiln_err_set(err, KILN_ENOTSUP, "'%s' is not an artifact proxy URI", uri);
        *out = kiln_arena_strndup(s->arena, uri, (size_t)(a - uri));
        if (*out == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    return KILN_OK;
}

static int session_open(struct session *s, const char *tracking_uri, const char *run_id,
                        struct kiln_err *err)
{
    struct kiln_uri tu;
    json_t *req = NULL, *resp = NULL;
    const char *uri, *base = NULL;
    int rc;

    memset(s, 0, sizeof(*s));
    s->arena = kiln_arena_new(0);
    if (s->arena == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_uri_parse(tracking_uri, &tu, err);
    if (rc == KILN_OK && tu.scheme != KILN_URI_HTTP) {
        kiln_uri_release(&tu);
        rc = kiln_err_set(err, KILN_EINVAL, "tracking URI '%s' is not an http(s) server address",
                          tracking_uri);
    }
    if (rc != KILN_OK)
        return rc;
    rc = kiln_http_client_new(tracking_uri, 0, &s->tracking, err);
    s->proxy = s->tracking;
    req = json_pack("{ss ss}", "run_id", run_id, "run_uuid", run_id);
    if (rc == KILN_OK && req == NULL)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_http_client_json(s->tracking, "GET", "/api/2.0/mlflow/runs/get", req, &resp, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "run '%s' not found on %s", run_id, tracking_uri);
    if (rc == KILN_OK) {
        uri = json_string_value(
            json_object_get(json_object_get(json_object_get(resp, "run"), "info"), "artifact_uri"));
        if (uri == NULL)
            rc = kiln_err_set(err, KILN_EIO, "runs/get for '%s' gave no artifact_uri", run_id);
        else
            s->root_uri = kiln_arena_strdup(s->arena, uri);
    }
    if (rc == KILN_OK && s->root_uri == NULL)
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = kiln_artifact_uri_to_path(s->root_uri, NULL, s->arena, &s->base, err);
    if (rc == KILN_ENOTSUP)
        rc = kiln_err_set(err, rc,
                          "run '%s' keeps its artifacts at '%s', which is not served through the "
                          "tracking server (only mlflow-artifacts: and http(s) artifact URIs are)",
                          run_id, s->root_uri);
    if (rc == KILN_OK)
        rc = proxy_base(s, &tu, s->root_uri, &base, err);
    if (rc == KILN_OK && base != NULL)
        rc = kiln_http_client_new(base, 0, &s->proxy, err);
    json_decref(req);
    json_decref(resp);
    kiln_uri_release(&tu);
    return rc;
}

/* Joins two proxy-relative paths ("" is the root). */
static const char *join_rel(struct kiln_arena *a, const char *x, const char *y)
{
    if (*x == '\0')
        return kiln_arena_strdup(a, y);
    if (*y == '\0')
        return kiln_arena_strdup(a, x);
    return kiln_arena_printf(a, "%s/%s", x, y);
}

/* A name from the server that is safe to use as one local path component. */
static int safe_name(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && *s != '\0' && strlen(s) == json_string_length(v) &&
           strchr(s, '/') == NULL && strchr(s, '\\') == NULL && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

/* Lists proxy folder `rel`; an empty array means a file or nothing. */
static int list_remote(struct session *s, const char *rel, struct entry **out, size_t *n,
                       struct kiln_err *err)
{
    json_t *req = json_pack("{ss}", "path", rel), *resp = NULL, *files, *f;
    size_t i;
    int rc;

    *out = NULL;
    *n = 0;
    if (req == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_http_client_json(s->proxy, "GET", PROXY, req, &resp, err);
    json_decref(req);
    if (rc != KILN_OK)
        return rc;
    files = json_object_get(resp, "files");
    if (files != NULL && json_array_size(files) > 0) {
        *out = kiln_arena_calloc(s->arena, json_array_size(files), sizeof(**out));
        if (*out == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    json_array_foreach(files, i, f)
    {
        json_t *size = json_object_get(f, "file_size");
        if (rc != KILN_OK)
            break;
        if (!safe_name(json_object_get(f, "path"))) {
            rc = kiln_err_set(err, KILN_EIO, "the server listed an unsafe file name under '%s'",
                              rel);
            break;
        }
        (*out)[i].name = kiln_arena_strdup(s->arena, json_string_value(json_object_get(f, "path")));
        (*out)[i].is_dir = json_is_true(json_object_get(f, "is_dir"));
        (*out)[i].size = json_is_integer(size) ? (int64_t)json_integer_value(size) : -1;
        if ((*out)[i].name == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        (*n)++;
    }
    json_decref(resp);
    return rc;
}

/* Checks PATH from the command line; "." and "" mean the run's whole artifact folder. */
static int user_path(struct session *s, const char *path, const char **out, struct kiln_err *err)
{
    size_t n;
    int rc;
    if (strcmp(path, ".") == 0 || strcmp(path, "./") == 0)
        path = "";
    rc = kiln_artifact_path_check(path, strlen(path), KILN_ARTIFACT_PATH_ALLOW_ROOT, &n, err);
    if (rc != KILN_OK)
        return rc;
    *out = kiln_arena_strndup(s->arena, path, n);
    return *out != NULL ? KILN_OK : kiln_err_set(err, KILN_ENOMEM, "out of memory");
}

static void human_size(int64_t n, char *out, size_t size)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < KILN_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%lld B", (long long)n);
    else
        snprintf(out, size, "%.1f %s", v, units[u]);
}

static int print_list(struct session *s, const char *rel, const struct entry *e, size_t n,
                      int json_out)
{
    if (json_out) {
        json_t *doc = json_object(), *files = json_array();
        char *text;
        if (doc == NULL || files == NULL) {
            json_decref(doc);
            json_decref(files);
            return kiln_cli_fail("artifacts: out of memory");
        }
        json_object_set_new(doc, "root_uri", json_string(s->root_uri));
        for (size_t i = 0; i < n; i++) {
            json_t *f = json_object();
            const char *p = join_rel(s->arena, rel, e[i].name);
            if (f == NULL || p == NULL)
                continue;
            json_object_set_new(f, "path", json_string(p));
            json_object_set_new(f, "is_dir", json_boolean(e[i].is_dir));
            if (!e[i].is_dir && e[i].size >= 0)
                json_object_set_new(f, "file_size", json_integer(e[i].size));
            json_array_append_new(files, f);
        }
        json_object_set_new(doc, "files", files);
        text = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        if (text == NULL)
            return kiln_cli_fail("artifacts: out of memory");
        printf("%s\n", text);
        kiln_free(text);
        return KILN_EXIT_OK;
    }
    {
        static const char *const headers[] = { "PATH", "TYPE", "SIZE" };
        struct kiln_table *t = kiln_table_new(3, headers);
        if (t == NULL)
            return kiln_cli_fail("artifacts: out of memory");
        kiln_table_align_right(t, 2);
        for (size_t i = 0; i < n; i++) {
            char size[32];
            const char *p = join_rel(s->arena, rel, e[i].name);
            const char *cells[3];
            const char *shown =
                e[i].is_dir && p != NULL ? kiln_arena_printf(s->arena, "%s/", p) : p;
            if (e[i].is_dir || e[i].size < 0)
                kiln_strlcpy(size, "-", sizeof(size));
            else
                human_size(e[i].size, size, sizeof(size));
            cells[0] = shown;
            cells[1] = e[i].is_dir ? "dir" : "file";
            cells[2] = size;
            if (kiln_table_add(t, cells) != KILN_OK) {
                kiln_table_free(t);
                return kiln_cli_fail("artifacts: out of memory");
            }
        }
        kiln_table_print(t, stdout);
        kiln_table_free(t);
    }
    return KILN_EXIT_OK;
}

static int cmd_list(const char *uri, struct kiln_strv *pos, int json_out)
{
    struct session s;
    struct kiln_err err = { 0 };
    struct entry *e = NULL;
    const char *rel = "", *full;
    size_t n = 0;
    int rc, code;

    if (pos->n < 2 || pos->n > 3)
        return kiln_cli_fail("artifacts list: expected RUN_ID [PATH] (see 'kiln artifacts "
                             "--help')");
    rc = session_open(&s, uri, pos->v[1], &err);
    if (rc == KILN_OK && pos->n == 3)
        rc = user_path(&s, pos->v[2], &rel, &err);
    full = rc == KILN_OK ? join_rel(s.arena, s.base, rel) : NULL;
    if (rc == KILN_OK && full == NULL)
        rc = kiln_err_set(&err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = list_remote(&s, full, &e, &n, &err);
    code = rc == KILN_OK ? print_list(&s, rel, e, n, json_out) : kiln_cli_fail_rc(rc, &err);
    session_release(&s);
    return code;
}

/* ---- download ---------------------------------------------------------------------------- */

struct item {
    const char *remote; /* proxy-relative path */
    const char *local;
    const char *shown; /* run-relative path, for progress */
    int is_dir;
    int64_t size;
};

struct plan {
    struct item *v;
    size_t n, cap;
    int64_t bytes;
};

static int plan_add(struct session *s, struct plan *p, const struct item *it)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct item *nv = kiln_arena_alloc(s->arena, cap * sizeof(*nv));
        if (nv == NULL)
            return KILN_ENOMEM;
        if (p->n > 0)
            memcpy(nv, p->v, p->n * sizeof(*nv));
        p->v = nv;
        p->cap = cap;
    }
    p->v[p->n++] = *it;
    if (!it->is_dir && it->size > 0)
        p->bytes += it->size;
    return KILN_OK;
}

/* Lists `rel` (shown as `shown`) into the plan, recursing into folders. */
static int plan_walk(struct session *s, struct plan *p, const char *rel, const char *shown,
                     const char *local, int64_t size, int depth, struct kiln_err *err)
{
    struct entry *e;
    size_t n;
    struct item it = { rel, local, shown, 0, size };
    int rc;

    if (depth > 256)
        return kiln_err_set(err, KILN_EINVAL, "artifact folders nested too deeply under '%s'",
                            shown);
    rc = list_remote(s, rel, &e, &n, err);
    if (rc != KILN_OK)
        return rc;
    it.is_dir = n > 0;
    if (plan_add(s, p, &it) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == KILN_OK; i++) {
        const char *r = join_rel(s->arena, rel, e[i].name);
        const char *sh = join_rel(s->arena, shown, e[i].name);
        const char *l = kiln_arena_printf(s->arena, "%s/%s", local, e[i].name);
        if (r == NULL || sh == NULL || l == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        if (e[i].is_dir) {
            rc = plan_walk(s, p, r, sh, l, -1, depth + 1, err);
        } else {
            struct item f = { r, l, sh, 0, e[i].size };
            if (plan_add(s, p, &f) != KILN_OK)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    return rc;
}

/* Where the artifact lands: inside DEST when DEST is an existing folder, else DEST itself. */
static const char *local_target(struct session *s, const char *rel, const char *dest)
{
    const char *base = strrchr(rel, '/');
    char *d;
    base = base != NULL ? base + 1 : rel;
    if (*rel == '\0' || !kiln_is_dir(dest))
        return kiln_arena_strdup(s->arena, dest);
    d = kiln_arena_strdup(s->arena, dest);
    if (d == NULL)
        return NULL;
    kiln_path_strip_slash(d);
    return kiln_arena_printf(s->arena, "%s/%s", d, base);
}

/* Creates the folder holding `path` (mkdir -p of its dirname). */
static int make_parent(const char *path, struct kiln_err *err)
{
    char dir[PATH_MAX];
    char *slash;
    if (kiln_strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
        return kiln_err_set(err, KILN_ETOOBIG, "path '%.200s' is too long", path);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return KILN_OK;
    *slash = '\0';
    return kiln_mkdirs(dir, 0755, err);
}

static int fetch(struct session *s, const struct plan *p, struct kiln_err *err)
{
    int tty = kiln_cli_isatty(stderr);
    size_t files = 0, done = 0;
    int64_t bytes = 0;
    int rc = KILN_OK;

    for (size_t i = 0; i < p->n; i++)
        files += p->v[i].is_dir ? 0 : 1;
    for (size_t i = 0; i < p->n && rc == KILN_OK; i++) {
        const struct item *it = &p->v[i];
        struct kiln_buf path;
        if (it->is_dir) {
            rc = kiln_mkdirs(it->local, 0755, err);
            continue;
        }
        rc = make_parent(it->local, err);
        if (rc != KILN_OK)
            break;
        if (tty) {
            char b[32], t[32];
            human_size(bytes, b, sizeof(b));
            human_size(p->bytes, t, sizeof(t));
            fprintf(stderr, "\r\033[Kdownloading %zu/%zu (%s of %s): %.60s", done + 1, files, b, t,
                    it->shown);
            fflush(stderr);
        }
        kiln_buf_init(&path, 4 * KILN_ARTIFACT_PATH_MAX);
        rc = kiln_buf_puts(&path, PROXY "/");
        if (rc == KILN_OK)
            rc = kiln_url_encode(it->remote, strlen(it->remote), 1, &path);
        if (rc == KILN_OK)
            rc = kiln_http_client_download(s->proxy, path.buf, it->local, err);
        else
            rc = kiln_err_set(err, rc, "artifact path '%.200s' is too long", it->remote);
        kiln_buf_release(&path);
        if (rc == KILN_ENOENT)
            rc = kiln_err_set(err, rc, "artifact '%s' not found in the run's artifacts at %s",
                              it->shown[0] != '\0' ? it->shown : ".", s->root_uri);
        done++;
        bytes += it->size > 0 ? it->size : 0;
    }
    if (tty && files > 0) {
        char b[32];
        human_size(bytes, b, sizeof(b));
        fprintf(stderr, "\r\033[Kdownloaded %zu file%s (%s)\n", done, done == 1 ? "" : "s", b);
    }
    return rc;
}

static int cmd_download(const char *uri, struct kiln_strv *pos)
{
    struct session s;
    struct plan p = { 0 };
    struct kiln_err err = { 0 };
    const char *rel = NULL, *full = NULL, *local = NULL;
    int rc;

    if (pos->n != 4)
        return kiln_cli_fail("artifacts download: expected RUN_ID PATH DEST (see 'kiln "
                             "artifacts --help')");
    if (pos->v[3][0] == '\0')
        return kiln_cli_fail("artifacts download: DEST is empty");
    rc = session_open(&s, uri, pos->v[1], &err);
    if (rc == KILN_OK)
        rc = user_path(&s, pos->v[2], &rel, &err);
    if (rc == KILN_OK) {
        full = join_rel(s.arena, s.base, rel);
        local = local_target(&s, rel, pos->v[3]);
        if (full == NULL || local == NULL)
            rc = kiln_err_set(&err, KILN_ENOMEM, "out of memory");
    }
    if (rc == KILN_OK)
        rc = plan_walk(&s, &p, full, rel, local, -1, 0, &err);
    if (rc == KILN_OK)
        rc = fetch(&s, &p, &err);
    if (rc == KILN_OK)
        printf("%s\n", local);
    else
        kiln_cli_fail_rc(rc, &err);
    session_release(&s);
    return kiln_cli_exit_code(rc);
}

int kiln_cmd_artifacts(int argc, char **argv)
{
    const char *uri_flag = NULL;
    int json_out = 0;
    struct kiln_opt opts[] = {
        { "tracking-uri", 0, KILN_OPT_STR, &uri_flag },
        { "json", 0, KILN_OPT_FLAG, &json_out },
    };
    struct kiln_strv pos = { 0 };
    struct kiln_err err = { 0 };
    const char *uri;
    int rc;

    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        kiln_strv_release(&pos);
        fputs(usage, stdout);
        return KILN_EXIT_OK;
    }
    if (rc != KILN_OK) {
        kiln_strv_release(&pos);
        return kiln_cli_fail("artifacts: %s (see 'kiln artifacts --help')", err.msg);
    }
    uri = kiln_cli_tracking_uri(uri_flag);
    if (pos.n == 0)
        rc = kiln_cli_fail("artifacts: expected 'list' or 'download' (see 'kiln artifacts "
                           "--help')");
    else if (strcmp(pos.v[0], "list") == 0)
        rc = cmd_list(uri, &pos, json_out);
    else if (strcmp(pos.v[0], "download") == 0)
        rc = cmd_download(uri, &pos);
    else
        rc = kiln_cli_fail("artifacts: unknown command '%s' (expected list or download)", pos.v[0]);
    kiln_strv_release(&pos);
    return rc;
}

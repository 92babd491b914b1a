/*
 * fetch.c - model URIs -> local model directories (see fetch.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/uri.h"
#include "http/client.h"
#include "registry/registry.h"
#include "serve/fetch.h"

static char *dup_opt(const char *s, int *oom)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = kiln_strdup(s);
    *oom |= d == NULL;
    return d;
}

int kiln_fetch_resolve(const char *uri, struct kiln_http_client *c, struct kiln_fetched *out,
                       struct kiln_err *err)
{
    struct kiln_resolved_model res = { 0 };
    struct kiln_arena *a;
    struct kiln_uri u;
    int rc, oom = 0;

    memset(out, 0, sizeof(*out));
    rc = kiln_uri_parse(uri, &u, err);
    if (rc != KILN_OK)
        return rc;
    if (u.scheme == KILN_URI_SQLITE || u.scheme == KILN_URI_POSTGRES) {
        kiln_uri_release(&u);
        return kiln_err_set(err, KILN_EINVAL, "'%s' is a store URI, not a model URI", uri);
    }
    if (u.scheme == KILN_URI_LOCAL) {
        out->dir = dup_opt(u.path, &oom);
        out->source = dup_opt(u.path, &oom);
        kiln_uri_release(&u);
        if (oom) {
            kiln_fetch_release(out);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        if (!kiln_is_dir(out->dir)) {
            rc = kiln_err_set(err, KILN_ENOENT, "model folder '%s' does not exist", out->dir);
            kiln_fetch_release(out);
        }
        return rc;
    }
    kiln_uri_release(&u);
    if (c == NULL)
        return kiln_err_set(err, KILN_EINVAL, "'%s' needs a tracking server", uri);
    a = kiln_arena_new(0);
    if (a == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_registry_resolve_remote(c, a, uri, &res, err);
    if (rc == KILN_OK) {
        out->remote = 1;
        out->name = dup_opt(res.name, &oom);
        out->version = res.version;
        out->run_id = dup_opt(res.run_id, &oom);
        out->source = dup_opt(res.artifact_uri, &oom);
        if (oom) {
            kiln_fetch_release(out);
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    kiln_arena_free(a);
    return rc;
}

int kiln_fetch_download(struct kiln_http_client *c, struct kiln_fetched *f, const char *dest,
                        struct kiln_err *err)
{
    struct kiln_download_stats stats;
    int rc;
    if (!f->remote)
        return KILN_OK;
    rc = kiln_registry_download(c, f->source, dest, &stats, NULL, NULL, err);
    if (rc != KILN_OK) {
        struct kiln_err ignore;
        kiln_remove_tree(dest, &ignore);
        return rc;
    }
    f->dir = kiln_strdup(dest);
    if (f->dir == NULL) {
        struct kiln_err ignore;
        kiln_remove_tree(dest, &ignore);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    f->temporary = 1;
    return KILN_OK;
}

int kiln_fetch_model(const char *uri, const char *tracking_uri, struct kiln_fetched *out,
                     struct kiln_err *err)
{
    struct kiln_http_client *c = NULL;
    const char *tmp = getenv("TMPDIR");
    char parent[PATH_MAX], dest[PATH_MAX + 16];
    int rc = KILN_OK;

    if (tracking_uri != NULL)
        rc = kiln_http_client_new(tracking_uri, 600000, &c, err);
    if (rc == KILN_OK)
        rc = kiln_fetch_resolve(uri, c, out, err);
    if (rc == KILN_OK && out->remote) {
        snprintf(parent, sizeof(parent), "%s/kiln-model-XXXXXX",
                 tmp != NULL && *tmp ? tmp : "/tmp");
        if (mkdtemp(parent) == NULL) {
            rc = kiln_err_set(err, KILN_EIO, "cannot create a temporary folder in '%s'",
                              tmp != NULL && *tmp ? tmp : "/tmp");
        } else {
            snprintf(dest, sizeof(dest), "%s/model", parent);
            rc = kiln_fetch_download(c, out, dest, err);
            if (rc != KILN_OK)
                rmdir(parent);
        }
        if (rc != KILN_OK)
            kiln_fetch_release(out);
    }
    kiln_http_client_free(c);
    return rc;
}

void kiln_fetch_release(struct kiln_fetched *f)
{
    if (f->temporary && f->dir != NULL) {
        struct kiln_err ignore;
        char *slash = strrchr(f->dir, '/');
        kiln_remove_tree(f->dir, &ignore);
        /* kiln_fetch_model downloads into PARENT/model: remove the parent it created. */
        if (slash != NULL && strcmp(slash, "/model") == 0) {
            *slash = '\0';
            if (strstr(f->dir, "/kiln-model-") != NULL)
                rmdir(f->dir);
        }
    }
    kiln_free(f->dir);
    kiln_free(f->name);
    kiln_free(f->run_id);
    kiln_free(f->source);
    memset(f, 0, sizeof(*f));
}

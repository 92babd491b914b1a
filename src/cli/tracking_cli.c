/*
 * tracking_cli.c - shared helpers for commands that talk to a tracking server.
 */
#include "cli/tracking_cli.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/uri.h"

int kiln_cli_client(const char *flag, struct kiln_http_client **out)
{
    const char *uri = kiln_cli_tracking_uri(flag);
    struct kiln_uri u;
    struct kiln_err err = { 0 };
    int rc = kiln_uri_parse(uri, &u, &err);
    if (rc == KILN_OK && u.scheme != KILN_URI_HTTP)
        rc = kiln_err_set(&err, KILN_EINVAL,
                          "tracking URI '%s' is not an http(s):// URL of a tracking server", uri);
    kiln_uri_release(&u);
    if (rc == KILN_OK)
        rc = kiln_http_client_new(uri, 0, out, &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    return KILN_EXIT_OK;
}

int kiln_cli_resolve_experiment(struct kiln_http_client *c, const char *which, char *id,
                                size_t size, struct kiln_err *err)
{
    json_t *req, *out = NULL;
    int64_t n;
    int rc;

    if (kiln_parse_int64(which, strlen(which), &n) == KILN_OK && n >= 0) {
        req = json_pack("{s:s}", "experiment_id", which);
        rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/experiments/get", req, &out, err);
        json_decref(req);
        json_decref(out);
        if (rc == KILN_OK) {
            kiln_strlcpy(id, which, size);
            return KILN_OK;
        }
        if (rc != KILN_ENOENT)
            return rc;
        out = NULL;
    }
    req = json_pack("{s:s}", "experiment_name", which);
    rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/experiments/get-by-name", req, &out, err);
    json_decref(req);
    if (rc == KILN_ENOENT)
        kiln_err_set(err, rc, "no experiment named or numbered '%s'", which);
    if (rc == KILN_OK) {
        const char *s =
            json_string_value(json_object_get(json_object_get(out, "experiment"), "experiment_id"));
        kiln_strlcpy(id, s != NULL ? s : "", size);
    }
    json_decref(out);
    return rc;
}

void kiln_cli_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (s != NULL) {
        puts(s);
        kiln_free(s);
    }
}

void kiln_cli_format_duration(long long ms, char *out, size_t size)
{
    if (ms < 0)
        snprintf(out, size, "-");
    else if (ms < 1000)
        snprintf(out, size, "%lld ms", ms);
    else if (ms < 60000)
        snprintf(out, size, "%.1f s", (double)ms / 1000);
    else if (ms < 3600000)
        snprintf(out, size, "%lld min %lld s", ms / 60000, ms / 1000 % 60);
    else
        snprintf(out, size, "%lld h %lld min", ms / 3600000, ms / 60000 % 60);
}

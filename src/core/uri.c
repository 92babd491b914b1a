/*
 * uri.c - URI parsing (see uri.h for the accepted forms).
 */
#include "core/uri.h"

#include <string.h>

#include "core/mem.h"
#include "core/str.h"

static const char *const stages[] = { "None", "Staging", "Production", "Archived" };

const char *kiln_stage_canonical(const char *s)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(stages); i++)
        if (kiln_cstr_ieq(s, stages[i]))
            return stages[i];
    return NULL;
}

void kiln_uri_release(struct kiln_uri *u)
{
    if (u == NULL)
        return;
    kiln_free(u->raw);
    kiln_free(u->path);
    kiln_free(u->host);
    kiln_free(u->name);
    kiln_free(u->ref);
    kiln_free(u->run_id);
    memset(u, 0, sizeof(*u));
}

static int set(char **dst, const char *s, size_t n)
{
    *dst = kiln_strndup(s, n);
    return *dst != NULL ? KILN_OK : KILN_ENOMEM;
}

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int parse_http(const char *s, struct kiln_uri *u, struct kiln_err *err)
{
    const char *host, *end, *slash, *colon;
    int64_t port;

    u->tls = kiln_cstr_has_prefix(s, "https://");
    host = s + (u->tls ? 8 : 7);
    slash = strchr(host, '/');
    end = slash != NULL ? slash : host + strlen(host);
    if (host[0] == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (rb == NULL)
            return kiln_err_set(err, KILN_EINVAL, "invalid URI '%s': unterminated IPv6 host", s);
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (set(&u->host, host + 1, (size_t)(rb - host - 1)) != KILN_OK)
            return KILN_ENOMEM;
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if (set(&u->host, host, (size_t)((colon != NULL ? colon : end) - host)) != KILN_OK)
            return KILN_ENOMEM;
    }
    if (u->host[0] == '\0')
        return kiln_err_set(err, KILN_EINVAL, "invalid URI '%s': missing host", s);
    u->port = u->tls ? 443 : 80;
    if (colon != NULL) {
        if (kiln_parse_int64(colon + 1, (size_t)(end - colon - 1), &port) != KILN_OK || port < 1 ||
            port > 65535)
            return kiln_err_set(err, KILN_EINVAL, "invalid URI '%s': bad port", s);
        u->port = (int)port;
    }
    return set(&u->path, end, strlen(end));
}

static int parse_models(const char *s, struct kiln_uri *u, struct kiln_err *err)
{
    const char *p = s + strlen("models:");
    const char *slash, *at;

    if (p[0] != '/' || p[1] == '/')
        return kiln_err_set(err, KILN_EINVAL,
                            "invalid model URI '%s': expected models:/NAME/VERSION, "
                            "models:/NAME@ALIAS or models:/NAME/STAGE",
                            s);
    p++;
    slash = strchr(p, '/');
    at = strchr(p, '@');
    if (slash != NULL) {
        const char *ref = slash + 1;
        if (slash == p || *ref == '\0' || strchr(ref, '/') != NULL)
            return kiln_err_set(err, KILN_EINVAL,
                                "invalid model URI '%s': expected "
                                "models:/NAME/VERSION or models:/NAME/STAGE",
                                s);
        if (set(&u->name, p, (size_t)(slash - p)) != KILN_OK || set(&u->ref, ref, strlen(ref)))
            return KILN_ENOMEM;
        if (all_digits(ref)) {
            u->ref_kind = KILN_MODEL_REF_VERSION;
        } else if (kiln_cstr_ieq(ref, "latest")) {
            u->ref_kind = KILN_MODEL_REF_LATEST;
        } else if (kiln_stage_canonical(ref) != NULL) {
            u->ref_kind = KILN_MODEL_REF_STAGE;
        } else {
            return kiln_err_set(err, KILN_EINVAL,
                                "invalid model URI '%s': '%s' is neither a version number nor "
                                "a stage (None, Staging, Production, Archived) nor 'latest'",
                                s, ref);
        }
        return KILN_OK;
    }
    if (at != NULL) {
        if (at == p || at[1] == '\0')
            return kiln_err_set(err, KILN_EINVAL,
                                "invalid model URI '%s': expected "
                                "models:/NAME@ALIAS",
                                s);
        u->ref_kind = KILN_MODEL_REF_ALIAS;
        if (set(&u->name, p, (size_t)(at - p)) != KILN_OK || set(&u->ref, at + 1, strlen(at + 1)))
            return KILN_ENOMEM;
        return KILN_OK;
    }
    if (kiln_cstr_has_prefix(p, "m-") && p[2] != '\0') {
        u->ref_kind = KILN_MODEL_REF_LOGGED_MODEL;
        return set(&u->ref, p, strlen(p));
    }
    return kiln_err_set(err, KILN_EINVAL,
                        "invalid model URI '%s': expected models:/NAME/VERSION, "
                        "models:/NAME@ALIAS or models:/NAME/STAGE",
                        s);
}

static int parse_runs(const char *s, struct kiln_uri *u, struct kiln_err *err)
{
    const char *p = s + strlen("runs:");
    const char *slash;
    while (*p == '/')
        p++;
    slash = strchr(p, '/');
    if (*p == '\0' || slash == p)
        return kiln_err_set(err, KILN_EINVAL, "invalid URI '%s': expected runs:/RUN_ID/PATH", s);
    if (set(&u->run_id, p, slash != NULL ? (size_t)(slash - p) : strlen(p)) != KILN_OK)
        return KILN_ENOMEM;
    p = slash != NULL ? slash + 1 : "";
    return set(&u->path, p, strlen(p));
}

static int parse_artifacts(const char *s, struct kiln_uri *u, struct kiln_err *err)
{
    const char *p = s + strlen("mlflow-artifacts:");
    if (p[0] == '/' && p[1] == '/') {
        /* mlflow-artifacts://host:port/path: the authority only says which server. */
        const char *slash = strchr(p + 2, '/');
        if (set(&u->host, p + 2, slash != NULL ? (size_t)(slash - p - 2) : strlen(p + 2)))
            return KILN_ENOMEM;
        p = slash != NULL ? slash : "";
    }
    while (*p == '/')
        p++;
    return set(&u->path, p, strlen(p));
}

int kiln_uri_parse(const char *s, struct kiln_uri *out, struct kiln_err *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (s == NULL || *s == '\0')
        return kiln_err_set(err, KILN_EINVAL, "empty URI");
    if (set(&out->raw, s, strlen(s)) != KILN_OK)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");

    if (kiln_cstr_has_prefix(s, "http://") || kiln_cstr_has_prefix(s, "https://")) {
        out->scheme = KILN_URI_HTTP;
        rc = parse_http(s, out, err);
    } else if (kiln_cstr_has_prefix(s, "sqlite://")) {
        const char *p = s + strlen("sqlite://");
        out->scheme = KILN_URI_SQLITE;
        if (p[0] != '/' || p[1] == '\0')
            rc = kiln_err_set(err, KILN_EINVAL,
                              "invalid store URI '%s': expected "
                              "sqlite:///relative/path.db or sqlite:////absolute/path.db",
                              s);
        else
            rc = set(&out->path, p + 1, strlen(p + 1));
    } else if (kiln_cstr_has_prefix(s, "postgresql://") || kiln_cstr_has_prefix(s, "postgres://") ||
               kiln_cstr_has_prefix(s, "postgresql+psycopg2://")) {
        out->scheme = KILN_URI_POSTGRES;
        rc = KILN_OK;
    } else if (kiln_cstr_has_prefix(s, "models:")) {
        out->scheme = KILN_URI_MODELS;
        rc = parse_models(s, out, err);
    } else if (kiln_cstr_has_prefix(s, "runs:")) {
        out->scheme = KILN_URI_RUNS;
        rc = parse_runs(s, out, err);
    } else if (kiln_cstr_has_prefix(s, "mlflow-artifacts:")) {
        out->scheme = KILN_URI_MLFLOW_ARTIFACTS;
        rc = parse_artifacts(s, out, err);
    } else if (kiln_cstr_has_prefix(s, "file://")) {
        out->scheme = KILN_URI_LOCAL;
        rc = set(&out->path, s + 7, strlen(s + 7));
    } else if (strstr(s, "://") != NULL && strchr(s, '/') > strstr(s, "://")) {
        const char *colon = strstr(s, "://");
        rc = kiln_err_set(err, KILN_ENOTSUP, "unsupported URI scheme '%.*s' in '%s'",
                          (int)(colon - s), s, s);
    } else {
        out->scheme = KILN_URI_LOCAL;
        rc = set(&out->path, s, strlen(s));
    }
    if (rc == KILN_ENOMEM)
        kiln_err_set(err, rc, "out of memory");
    if (rc != KILN_OK)
        kiln_uri_release(out);
    return rc;
}

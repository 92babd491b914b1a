/*
 * fetch.h - getting the model a URI names onto local disk, for the data plane's commands
 * (serve, predict, evaluate, quantize).
 *
 * A local folder (a path or file:// URI) is used in place. Anything else (models:/NAME@ALIAS,
 * models:/NAME/VERSION, models:/m-ID, runs:/RUN/PATH, mlflow-artifacts:/..., http(s)://) is
 * resolved through the tracking server (registry/registry.h, kiln_registry_resolve_remote)
 * and downloaded through its artifact proxy into a temporary folder that kiln_fetch_release
 * removes. Resolution records what the registry knows (name, version, run) so callers can
 * label metrics or record an evaluation against the right version.
 *
 * Ownership: a struct kiln_fetched owns its strings (and its temporary folder) until
 * kiln_fetch_release. Thread-safety: none needed (caller-owned state; one client per thread).
 */
#ifndef KILN_SERVE_FETCH_H
#define KILN_SERVE_FETCH_H

#include <stdint.h>

#include "core/err.h"

struct kiln_http_client;

struct kiln_fetched {
    char *dir;       /* the model directory to load (NULL until downloaded, for remote URIs) */
    int temporary;   /* dir is a download that kiln_fetch_release removes */
    int remote;      /* the URI needs the tracking server */
    char *name;      /* registered model, or NULL */
    int64_t version; /* registry version, 0 when the URI names none */
    char *run_id;    /* the run that produced the model, when known */
    char *source;    /* where the files come from: the artifact URI, or the folder */
};

/*
 * Resolves `uri` without downloading. Local folders need no client (c may be NULL) and get
 * dir = source = the path. KILN_EINVAL for a malformed or non-model URI, the registry's
 * errors (KILN_ENOENT for an unknown model or version, KILN_EUNAVAIL when the server is
 * down). OUT: *out, released with kiln_fetch_release.
 */
int kiln_fetch_resolve(const char *uri, struct kiln_http_client *c,
                       struct kiln_fetched *out /* OUT */, struct kiln_err *err);

/* Downloads a resolved remote model into `dest` (which must not exist). */
int kiln_fetch_download(struct kiln_http_client *c, struct kiln_fetched *f, const char *dest,
                        struct kiln_err *err);

/*
 * Resolve + download into a fresh temporary folder under $TMPDIR (or /tmp), with a client
 * on tracking_uri (may be NULL for local folders).
 */
int kiln_fetch_model(const char *uri, const char *tracking_uri, struct kiln_fetched *out /* OUT */,
                     struct kiln_err *err);

/* Frees the strings and removes a temporary download. Safe on a zeroed struct. */
void kiln_fetch_release(struct kiln_fetched *f);

#endif

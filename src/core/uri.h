/*
 * uri.h - parsing of the URIs kiln speaks (parsing only; resolution lives with the owner of
 * each scheme: registry for models:/, tracking for runs:/, artifacts for mlflow-artifacts:/).
 *
 *   /path, ./path, file:///path      KILN_URI_LOCAL        path
 *   http(s)://host[:port][/prefix]   KILN_URI_HTTP         host, port, tls, path (prefix)
 *   sqlite:///rel.db, sqlite:////abs KILN_URI_SQLITE       path (SQLAlchemy's convention)
 *   postgresql://... , postgres://   KILN_URI_POSTGRES     raw (handed to libpq unchanged)
 *   models:/NAME/VERSION             KILN_URI_MODELS       name, ref, ref_kind VERSION
 *   models:/NAME@ALIAS                                     ref_kind ALIAS
 *   models:/NAME/STAGE (None, Staging, Production, Archived; any case)   ref_kind STAGE
 *   models:/NAME/latest                                    ref_kind LATEST
 *   models:/m-<id>                                         ref_kind LOGGED_MODEL (ref = id)
 *   runs:/RUN_ID[/PATH]              KILN_URI_RUNS         run_id, path ("" when absent)
 *   mlflow-artifacts:[//host:port]/PATH  KILN_URI_MLFLOW_ARTIFACTS  path (no leading '/')
 *
 * Strings in a parsed uri are owned by it; kiln_uri_release frees them. Thread-safe.
 */
#ifndef KILN_CORE_URI_H
#define KILN_CORE_URI_H

#include "core/err.h"

enum kiln_uri_scheme {
    KILN_URI_LOCAL,
    KILN_URI_HTTP,
    KILN_URI_SQLITE,
    KILN_URI_POSTGRES,
    KILN_URI_MODELS,
    KILN_URI_RUNS,
    KILN_URI_MLFLOW_ARTIFACTS,
};

enum kiln_model_ref {
    KILN_MODEL_REF_NONE,
    KILN_MODEL_REF_VERSION,
    KILN_MODEL_REF_ALIAS,
    KILN_MODEL_REF_STAGE,
    KILN_MODEL_REF_LATEST,
    KILN_MODEL_REF_LOGGED_MODEL,
};

struct kiln_uri {
    enum kiln_uri_scheme scheme;
    char *raw;
    char *path;
    char *host;
    int port;
    int tls;
    char *name;
    char *ref;
    enum kiln_model_ref ref_kind;
    char *run_id;
};

/* Parses s. KILN_EINVAL with a message naming the URI when malformed. */
int kiln_uri_parse(const char *s, struct kiln_uri *out /* OUT */, struct kiln_err *err);
void kiln_uri_release(struct kiln_uri *u);

/* Canonical stage name for s ("production" -> "Production"), or NULL when not a stage. */
const char *kiln_stage_canonical(const char *s);

#endif

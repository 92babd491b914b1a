/*
 * registry_api.h - helpers shared by the registry's REST handlers (src/api/mlflow/registry_*.c
 * and src/api/kiln/registry_*.c only): entity writers in MLflow's JSON shapes, request
 * readers for the fields the registry endpoints share, and the caller's identity for the audit
 * log.
 */
#ifndef KILN_API_REGISTRY_API_H
#define KILN_API_REGISTRY_API_H

#include "api/api.h"
#include "registry/registry.h"

/* MLflow RegisteredModel / ModelVersion objects (values only; the caller writes the key). */
void kiln_regapi_write_model(struct kiln_jsonw *w, const struct kiln_registered_model *m);
void kiln_regapi_write_version(struct kiln_jsonw *w, const struct kiln_model_version *v,
                               int with_aliases);
/* Writes a version number as MLflow does: a JSON string ("3"); null for 0. */
void kiln_regapi_write_vnum(struct kiln_jsonw *w, int64_t v);

/*
 * The `version` field: a decimal string (MLflow's form) or an integer. Required: absent is
 * "Missing value for required parameter 'version'.", non-numeric "Parameter 'version' must
 * be an integer, got 'x'.".
 */
int kiln_regapi_version(const json_t *doc, const char *field, int required, int64_t *out,
                        int *present, struct kiln_err *err);
/* `tags` as [{key, value}] into arena memory. */
int kiln_regapi_tags(struct kiln_http_req *req, const json_t *doc, struct kiln_kv **out, size_t *n,
                     struct kiln_err *err);
/* An array-of-strings field (GET repeats keys; POST sends a JSON array). */
int kiln_regapi_strings(struct kiln_http_req *req, const json_t *doc, const char *field,
                        const char ***out, size_t *n, struct kiln_err *err);
/*
 * Who is asking, for the audit log: the HTTP Basic user when the request carries one, else the
 * body's "user" field, else the X-Kiln-User header, else "". From the request arena.
 */
const char *kiln_regapi_user(struct kiln_http_req *req, const json_t *doc);

/* Route tables (each file registers its own). */
int kiln_api_mlflow_registry_model_routes(struct kiln_router *r);
int kiln_api_mlflow_registry_version_routes(struct kiln_router *r);
int kiln_api_kiln_registry_model_routes(struct kiln_router *r);
int kiln_api_kiln_registry_event_routes(struct kiln_router *r);

#endif

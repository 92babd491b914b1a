/*
 * artifact_api.h - helpers shared by the artifact and logged-model handlers of the MLflow
 * API (src/api/mlflow/ only; defined in artifacts.c).
 */
#ifndef KILN_API_MLFLOW_ARTIFACT_API_H
#define KILN_API_MLFLOW_ARTIFACT_API_H

#include "api/api.h"
#include "artifacts/artifacts.h"
#include "core/json.h"
#include "tracking/logged_models.h"

/*
 * Opens the server's artifact repository for this request (released with the request
 * arena). KILN_ENOENDPOINT when the server does not proxy artifacts.
 */
int kiln_api_artifact_repo(struct kiln_server *srv, struct kiln_http_req *req,
                           struct kiln_artifact_repo **out /* OUT */, struct kiln_err *err);

/*
 * Answers {root_uri, files: [{path, is_dir, file_size?}]} for the folder `rel` (NULL or "" for
 * the root) under the artifact URI `root_uri`, with paths relative to root_uri, as MLflow's
 * /artifacts/list and logged-model directory listings do. KILN_ENOTSUP for a root_uri this
 * server's proxy does not store, KILN_EINVAL for a hostile `rel`.
 */
int kiln_api_respond_listing(struct kiln_server *srv, struct kiln_http_req *req,
                             struct kiln_http_resp *resp, const char *root_uri, const char *rel,
                             struct kiln_err *err);

/* Writes a LoggedModel object {info, data} (the value only; the caller writes the key). */
void kiln_mlflow_write_logged_model(struct kiln_jsonw *w, const struct kiln_logged_model *m);

#endif

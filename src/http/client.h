/*
 * client.h - an HTTP client (libcurl) for talking to kiln or MLflow servers: the CLI, serve
 * replicas resolving models, webhooks.
 *
 * A client holds one libcurl easy handle (keep-alive connection reuse) and a base URL such as
 * "http://127.0.0.1:5000". It is used by one thread at a time; make one per thread.
 * Authentication follows the MLflow client: $MLFLOW_TRACKING_TOKEN becomes a Bearer token,
 * $MLFLOW_TRACKING_USERNAME/$MLFLOW_TRACKING_PASSWORD basic auth.
 *
 * kiln_http_client_global_init must run once in main before any thread uses a client.
 */
#ifndef KILN_HTTP_CLIENT_H
#define KILN_HTTP_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct kiln_http_client;

int kiln_http_client_global_init(void);
void kiln_http_client_global_cleanup(void);

/* base_url: "http://host:port[/prefix]". timeout_ms 0 means 120 s. */
int kiln_http_client_new(const char *base_url, long timeout_ms,
                         struct kiln_http_client **out /* OUT */, struct kiln_err *err);
void kiln_http_client_free(struct kiln_http_client *c);
const char *kiln_http_client_base(const struct kiln_http_client *c);

/*
 * Makes every later request of this client give up with KILN_ECANCELED within about a second
 * once *flag becomes non-zero (a long-poll that must not hold up a shutdown). NULL: never.
 */
void kiln_http_client_set_cancel(struct kiln_http_client *c, const atomic_int *flag);

/*
 * Sends one request to base + path (path includes any query string, already encoded).
 * body may be NULL. Fills *status and appends the response body to `resp` (whose max bounds
 * it). Transport failures are KILN_EUNAVAIL with curl's message ("connection refused to
 * http://..."); any HTTP status is KILN_OK here.
 */
int kiln_http_client_call(struct kiln_http_client *c, const char *method, const char *path,
                          const char *content_type, const void *body, size_t len,
                          int *status /* OUT */, struct kiln_buf *resp, struct kiln_err *err);

/*
 * An MLflow-style API call: endpoint like "/api/2.0/mlflow/runs/get". For GET the payload's
 * fields become the query string (arrays as repeated keys); otherwise it is sent as a JSON
 * body. A 200 answer is parsed into *out (owned by the caller; may be NULL if not wanted).
 * A JSON error answer becomes the matching kiln code (RESOURCE_DOES_NOT_EXIST -> KILN_ENOENT,
 * ...) with the server's message.
 */
int kiln_http_client_json(struct kiln_http_client *c, const char *method, const char *endpoint,
                          const json_t *payload, json_t **out /* OUT */, struct kiln_err *err);

/* Streams a GET of path into the file at dest (written atomically). KILN_ENOENT on 404. */
int kiln_http_client_download(struct kiln_http_client *c, const char *path, const char *dest,
                              struct kiln_err *err);
/* PUTs the file at src to path (streamed). */
int kiln_http_client_upload(struct kiln_http_client *c, const char *path, const char *src,
                            const char *content_type, struct kiln_err *err);

/* Maps an MLflow error_code string to the kiln code that produces it (EIO when unknown). */
int kiln_rc_from_mlflow_code(const char *code);

#endif

/*
 * deploy_cli.h - what the files of `kiln deploy` share (src/cli/deploy*.c).
 */
#ifndef KILN_CLI_DEPLOY_CLI_H
#define KILN_CLI_DEPLOY_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "http/client.h"

struct deploy_opts {
    int as_json;
    const char *file;
    int64_t version;
    const char *reason;
    int64_t rollout;
    int64_t limit;
    int64_t timeout;
    const char *request_id;
    const char *label;
    int firing;
};

/*
 * Calls a native endpoint. A 200 answer is parsed into *out; a 422 (a refusal) also fills
 * *out and returns KILN_ECHECK; other errors are the server's code and message.
 */
int kiln_deploy_cli_call(struct kiln_http_client *c, const char *method, const char *path,
                         const json_t *body, json_t **out /* OUT */, struct kiln_err *err);
/* "/api/kiln/v1/deployments/NAME" (name URL-encoded) followed by suffix, into out. */
void kiln_deploy_cli_path(char *out, size_t size, const char *name, const char *suffix);
/* Prints a deployment's status object (GET /deployments/{name} -> "deployment"). */
void kiln_deploy_cli_print_status(const json_t *d);
int kiln_deploy_cli_list(struct kiln_http_client *c, const struct deploy_opts *o);
int kiln_deploy_cli_status(struct kiln_http_client *c, const char *name,
                           const struct deploy_opts *o);
int kiln_deploy_cli_wait(struct kiln_http_client *c, const char *name, const struct deploy_opts *o);
int kiln_deploy_cli_history(struct kiln_http_client *c, const char *name,
                            const struct deploy_opts *o);
int kiln_deploy_cli_alerts(struct kiln_http_client *c, const char *name,
                           const struct deploy_opts *o);
int kiln_deploy_cli_feedback(struct kiln_http_client *c, const char *name,
                             const struct deploy_opts *o);

#endif

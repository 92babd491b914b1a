/*
 * models_cli.h - the pieces of `kiln models` (src/cli/models*.c): the parsed options and one
 * function per verb. Each verb takes an open client and returns the process exit code.
 */
#ifndef KILN_CLI_MODELS_CLI_H
#define KILN_CLI_MODELS_CLI_H

#include <jansson.h>
#include <stdint.h>

#include "cli/cli.h"
#include "http/client.h"

struct models_opts {
    const char *filter, *to, *env, *reason, *dataset, *events, *description, *run_id, *types,
        *model, *expect;
    int64_t limit, after;
    int as_json, follow;
    struct kiln_strv tags;
};

/* models.c */
int kiln_models_list(struct kiln_http_client *c, const struct models_opts *o);
int kiln_models_show(struct kiln_http_client *c, const char *name, const struct models_opts *o);
int kiln_models_register(struct kiln_http_client *c, const char *uri, const char *name,
                         const struct models_opts *o);
int kiln_models_download(struct kiln_http_client *c, const char *uri, const char *dest,
                         const struct models_opts *o);
/* The caller's name for the audit log: $KILN_USER, else $USER, else "". */
const char *kiln_models_user(void);
/* "v3", or "-" for 0 / null. `v` is a JSON version string, number or null. */
const char *kiln_models_vlabel(const json_t *v, char *buf, size_t size);

/* models_lineage.c */
int kiln_models_lineage(struct kiln_http_client *c, const char *uri, const struct models_opts *o);
int kiln_models_evaluations(struct kiln_http_client *c, int argc, const char *const *argv,
                            const struct models_opts *o);
int kiln_models_compare(struct kiln_http_client *c, const char *name, const char *v1,
                        const char *v2, const struct models_opts *o);

/* models_promote.c */
int kiln_models_promote(struct kiln_http_client *c, const char *name, const char *version,
                        const struct models_opts *o);
int kiln_models_rollback(struct kiln_http_client *c, const char *name, const struct models_opts *o);
int kiln_models_history(struct kiln_http_client *c, const char *name, const struct models_opts *o);
int kiln_models_policy(struct kiln_http_client *c, int argc, const char *const *argv,
                       const struct models_opts *o);
int kiln_models_events(struct kiln_http_client *c, const struct models_opts *o);
int kiln_models_webhooks(struct kiln_http_client *c, int argc, const char *const *argv,
                         const struct models_opts *o);

#endif

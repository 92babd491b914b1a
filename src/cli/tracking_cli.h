/*
 * tracking_cli.h - helpers shared by the commands that talk to a tracking server
 * (experiments, runs, artifacts, models ...).
 */
#ifndef KILN_CLI_TRACKING_CLI_H
#define KILN_CLI_TRACKING_CLI_H

#include <jansson.h>
#include <stddef.h>

#include "http/client.h"

/*
 * Opens a client for the tracking URI (flag, then $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI,
 * then http://127.0.0.1:5000). Returns KILN_EXIT_OK, or prints the error and returns the exit
 * code.
 */
int kiln_cli_client(const char *flag, struct kiln_http_client **out /* OUT */);
/*
 * Resolves an experiment given by name or numeric id to its id ("12"). A numeric string that
 * is not an id of an existing experiment is then tried as a name.
 */
int kiln_cli_resolve_experiment(struct kiln_http_client *c, const char *which, char *id,
                                size_t size, struct kiln_err *err);
/* Pretty-prints a JSON value on stdout (indent 2, keys in server order). */
void kiln_cli_print_json(const json_t *v);
/* "1.2 s", "3 min 4 s", "-" for a duration in milliseconds (< 0 for unknown). */
void kiln_cli_format_duration(long long ms, char *out, size_t size);

#endif

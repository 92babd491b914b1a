/*
 * pipeline_cli.h - what the files of `kiln pipeline` share (src/cli/pipeline*.c).
 */
#ifndef KILN_CLI_PIPELINE_CLI_H
#define KILN_CLI_PIPELINE_CLI_H

#include <jansson.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"

/* Reads and validates a spec file (its folder becomes the base of relative paths). */
int kiln_cli_pipeline_read_spec(const char *file, struct kiln_pl_spec **spec /* OUT */,
                                struct kiln_err *err);
/* --param NAME=VALUE options as a JSON object of strings; prints the error and returns 2. */
int kiln_cli_pipeline_params(const struct kiln_strv *kv, json_t **out /* OUT */);

/* Verbs (argv[0] is the verb). */
int kiln_cli_pipeline_run(int argc, char **argv);
int kiln_cli_pipeline_validate(int argc, char **argv);
int kiln_cli_pipeline_step(int argc, char **argv);

#endif

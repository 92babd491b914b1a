/*
 * main.c - command dispatch only: `kiln <command> [args]`.
 *
 * Each command is a function in src/cli/ taking (argc, argv) with argv[0] the command name
 * and returning the process exit code (cli.h). Process-wide set-up that every command needs
 * (jansson's allocator, the log level from $KILN_LOG_LEVEL) happens here, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_config.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/client.h"

#include <jansson.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "server", kiln_cmd_server, "run the control plane (tracking, registry, artifacts, API)" },
    { "experiments", kiln_cmd_experiments, "list, create, delete and restore experiments" },
    { "runs", kiln_cmd_runs, "list and show tracked runs" },
    { "models", kiln_cmd_models, "model registry: lineage, gated promotion, rollback" },
    { "artifacts", kiln_cmd_artifacts, "list or download a run's artifacts" },
    { "serve", kiln_cmd_serve, "serve models (MLflow scoring, Open Inference Protocol v2)" },
    { "predict", kiln_cmd_predict, "score a data file with a model (batch, every core)" },
    { "evaluate", kiln_cmd_evaluate, "evaluate a model on held-out data and record it" },
    { "quantize", kiln_cmd_quantize, "int8 copy of an MLP model with an accuracy-drift gate" },
    { "pipeline", kiln_cmd_pipeline, "run, schedule and watch pipelines (DAGs of tasks)" },
    { "version", kiln_cmd_version, "print the version" },
    { "help", kiln_cmd_help, "show help for kiln or one command" },
    { "profile", kiln_cmd_profile, "profile a data file (schema and drift reference)" },
    { "drift", kiln_cmd_drift, "measure drift between reference and current data" },
    { "validate", kiln_cmd_validate, "check a data file against expectations (a data gate)" },
    { "deploy", kiln_cmd_deploy, "canary and shadow rollouts, automatic promotion and rollback" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: kiln <command> [options]\n\n"
                 "kiln takes machine-learning models from a notebook to a reliable production\n"
                 "service and keeps them healthy there.\n\ncommands:\n");
    for (size_t i = 0; i < KILN_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'kiln <command> --help' for a command's options.\n"
                 "Documentation: docs/README.md\n");
}

int kiln_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("kiln %s (MLflow REST API %s compatible)\n", KILN_VERSION, KILN_MLFLOW_COMPAT_VERSION);
    return KILN_EXIT_OK;
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int kiln_cmd_help(int argc, char **argv)
{
    const struct command *c;
    static char help_flag[] = "--help";
    char *help_argv[3];
    if (argc < 2) {
        usage(stdout);
        return KILN_EXIT_OK;
    }
    c = find(argv[1]);
    if (c == NULL)
        return kiln_cli_fail("unknown command '%s' (see 'kiln help')", argv[1]);
    help_argv[0] = argv[1];
    help_argv[1] = help_flag;
    help_argv[2] = NULL;
    return c->fn(2, help_argv);
}

int main(int argc, char **argv)
{
    const struct command *c;
    const char *level = getenv("KILN_LOG_LEVEL");
    enum kiln_log_level lv;

    json_set_alloc_funcs(kiln_malloc, kiln_free);
    if (kiln_http_client_global_init() != KILN_OK) {
        fprintf(stderr, "kiln: cannot initialise the HTTP client library\n");
        return KILN_EXIT_USAGE;
    }
    if (level != NULL && kiln_log_parse_level(level, &lv) == KILN_OK)
        kiln_log_set_level(lv);

    if (argc < 2) {
        usage(stderr);
        return KILN_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return kiln_cmd_version(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return KILN_EXIT_OK;
    }
    c = find(argv[1]);
    if (c == NULL) {
        kiln_cli_fail("unknown command '%s' (see 'kiln help')", argv[1]);
        return KILN_EXIT_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}

/*
 * commands.h - the entry point of every `kiln <command>`, dispatched by main.c.
 *
 * Each takes (argc, argv) with argv[0] the command name and returns the exit code
 * (KILN_EXIT_OK, KILN_EXIT_FAIL, KILN_EXIT_USAGE from cli.h).
 */
#ifndef KILN_CLI_COMMANDS_H
#define KILN_CLI_COMMANDS_H

int kiln_cmd_version(int argc, char **argv);
int kiln_cmd_help(int argc, char **argv);
int kiln_cmd_server(int argc, char **argv);
int kiln_cmd_experiments(int argc, char **argv);
int kiln_cmd_runs(int argc, char **argv);
int kiln_cmd_models(int argc, char **argv);
int kiln_cmd_artifacts(int argc, char **argv);
int kiln_cmd_pipeline(int argc, char **argv);
int kiln_cmd_serve(int argc, char **argv);
int kiln_cmd_predict(int argc, char **argv);
int kiln_cmd_evaluate(int argc, char **argv);
int kiln_cmd_quantize(int argc, char **argv);
int kiln_cmd_profile(int argc, char **argv);
int kiln_cmd_drift(int argc, char **argv);
int kiln_cmd_validate(int argc, char **argv);
int kiln_cmd_deploy(int argc, char **argv);

#endif

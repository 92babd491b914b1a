/*
 * cli.h - what every `kiln <noun> <verb>` command shares: option parsing, exit codes, error
 * printing, aligned tables, and finding the tracking server.
 *
 * Exit codes (DESIGN.md): 0 success, 1 a check failed (a gate, a validation), 2 a usage or
 * input error (and any other failure). Errors go to stderr as one line: "kiln: <what>".
 *
 * Only code under src/cli/ (and main.c) may print to stdout or exit. Single-threaded use.
 */
#ifndef KILN_CLI_CLI_H
#define KILN_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

#define KILN_EXIT_OK 0
#define KILN_EXIT_FAIL 1
#define KILN_EXIT_USAGE 2

/* Returned by kiln_opts_parse when --help/-h was given (after nothing else failed). */
#define KILN_OPTS_HELP 1

enum kiln_opt_kind {
    KILN_OPT_FLAG,  /* out: int *, set to 1 */
    KILN_OPT_STR,   /* out: const char **, borrowed from argv */
    KILN_OPT_INT,   /* out: int64_t *, strictly parsed */
    KILN_OPT_MULTI, /* out: struct kiln_strv *, every occurrence appended */
};

struct kiln_strv {
    const char **v;
    size_t n, cap;
};

struct kiln_opt {
    const char *name; /* long name without dashes */
    char short_name;  /* 0 for none */
    enum kiln_opt_kind kind;
    void *out;
};

/*
 * Parses argv[1..argc-1] (argv[0] is the command name). Options may come before, between and
 * after positionals; "--name value", "--name=value" and "-x value" are accepted; "--" ends
 * options. Positionals are appended to `pos`. Returns KILN_OK, KILN_OPTS_HELP, or KILN_EINVAL
 * with a message in err (unknown option, missing value, bad integer).
 */
int kiln_opts_parse(int argc, char **argv, const struct kiln_opt *opts, size_t nopts,
                    struct kiln_strv *pos, struct kiln_err *err);
int kiln_strv_push(struct kiln_strv *v, const char *s);
void kiln_strv_release(struct kiln_strv *v);

/*
 * What to do after kiln_opts_parse (returned `rc`) for a command whose first positional is a
 * verb: -1 to go on; otherwise the exit code, once the usage is printed (--help: to stdout,
 * exit 0; no verb: to stderr, usage exit) or the parse error ("CMD: MSG (see 'kiln CMD
 * --help')").
 */
int kiln_cli_after_parse(int rc, size_t npos, const char *cmd, const char *usage,
                         const struct kiln_err *err);
/* Prints "kiln: <message>" to stderr and returns KILN_EXIT_USAGE. */
int kiln_cli_fail(const char *fmt, ...) KILN_PRINTF(1, 2);
/* Prints err's message (or kiln_strerror(rc)) and returns the exit code for rc. */
int kiln_cli_fail_rc(int rc, const struct kiln_err *err);
/* Exit code for a return code: 0 for KILN_OK, 1 for KILN_ECHECK, else 2. */
int kiln_cli_exit_code(int rc);

/*
 * The tracking server URI: `flag` when given, else $KILN_TRACKING_URI, else
 * $MLFLOW_TRACKING_URI, else "http://127.0.0.1:5000".
 */
const char *kiln_cli_tracking_uri(const char *flag);

/* Aligned text tables: add a header, then rows of cells; print pads columns. */
struct kiln_table;
struct kiln_table *kiln_table_new(size_t ncols, const char *const *headers);
/* Adds a row; cells are copied. NULL cells print as "-". KILN_ENOMEM. */
int kiln_table_add(struct kiln_table *t, const char *const *cells);
/* Marks column `col` as right-aligned (numbers). */
void kiln_table_align_right(struct kiln_table *t, size_t col);
/* Prints with two spaces between columns and a rule under the header. */
void kiln_table_print(const struct kiln_table *t, FILE *out);
size_t kiln_table_rows(const struct kiln_table *t);
void kiln_table_free(struct kiln_table *t);

/* Display width of a UTF-8 string (code points; wide characters count as one). */
size_t kiln_utf8_width(const char *s);

/* 1 when stdout/stderr is a terminal (for colour and progress). */
int kiln_cli_isatty(FILE *f);

#endif

/*
 * pipeline_step.c - `kiln pipeline step KIND --ARG=VALUE ... [-- COMMAND ...]`: what the
 * built-in task kinds run. Each is a thin wrapper over a kiln command or REST call that turns
 * its result into the task's exit code and $KILN_OUTPUTS lines:
 *
 *   validate  kiln validate DATA --profile P [--expectations E]    fails the task on bad data
 *   drift     kiln drift --reference R --current C [...] --json    outputs dataset_drift,
 *             drift_share, drifted_columns; fail_on_drift fails, require_drift skips (exit 99)
 *   evaluate  kiln evaluate MODEL --data D --target T [...] --json outputs every metric
 *   register  MLflow REST registered-models/create + model-versions/create
 *                                                          outputs model, version, model_uri
 *   promote   kiln models promote MODEL VERSION --to ENV [--reason R]   fails when refused
 *   train     COMMAND with MLFLOW_RUN_ID set to a new tracking run nested under the pipeline
 *             run (mlflow.parentRunId), ended FINISHED or FAILED; outputs run_id
 *
 * The kiln binary used for sub-commands is $KILN_PIPELINE_KILN_BIN when set (a test or a
 * wrapper), else this executable. The tracking server is $KILN_TRACKING_URI. Runs in the task's
 * own process: single-threaded, may exit.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pipeline_cli.h"
#include "cli/tracking_cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "http/client.h"

#define SKIP_EXIT 99
#define MAX_ARGS 32

extern char **environ;

struct step {
    const char *kind;
    const char *keys[MAX_ARGS], *vals[MAX_ARGS];
    size_t n;
    char **cmd; /* after "--" */
    int ncmd;
    char bin[PATH_MAX];
};

static const char *arg(const struct step *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0)
            return s->vals[i];
    return NULL;
}

static int flag(const struct step *s, const char *key)
{
    const char *v = arg(s, key);
    int b = 0;
    return v != NULL && kiln_parse_bool(v, strlen(v), &b) == KILN_OK && b;
}

static int output(const char *key, const char *value)
{
    const char *path = getenv("KILN_OUTPUTS");
    FILE *f;
    if (path == NULL || path[0] == '\0')
        return KILN_OK;
    f = fopen(path, "a");
    if (f == NULL)
        return kiln_cli_fail("pipeline step: cannot write %s: %s", path, strerror(errno));
    for (const char *p = value; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            value = "(multi-line value dropped)";
    fprintf(f, "%s=%s\n", key, value);
    fclose(f);
    return KILN_OK;
}

/* Runs argv, optionally capturing stdout; returns the exit status (128 + signal, -1). */
static int spawn(char *const *argv, char *const *envp, struct kiln_buf *out)
{
    int p[2] = { -1, -1 }, st = 0;
    pid_t pid;
    fprintf(stderr, "kiln pipeline step: running");
    for (int i = 0; argv[i] != NULL; i++)
        fprintf(stderr, " %s", argv[i]);
    fputc('\n', stderr);
    fflush(stderr);
    if (out != NULL && pipe(p) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (out != NULL) {
            dup2(p[1], 1);
            close(p[0]);
            close(p[1]);
        }
        execve(argv[0], argv, envp);
        if (strchr(argv[0], '/') == NULL)
            execvp(argv[0], argv);
        fprintf(stderr, "kiln pipeline step: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out != NULL) {
        char buf[65536];
        ssize_t n;
        close(p[1]);
        while ((n = read(p[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && kiln_buf_append(out, buf, (size_t)n) != KILN_OK)
                break;
        close(p[0]);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static int run_kiln(struct step *s, const char *const *args, struct kiln_buf *out)
{
    char *argv[MAX_ARGS * 2 + 4];
    int n = 0;
    argv[n++] = s->bin;
    for (int i = 0; args[i] != NULL && n < (int)KILN_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    return spawn(argv, environ, out);
}

/* The JSON a sub-command printed with --json, or NULL (with a message). */
static json_t *parse_json(const struct kiln_buf *b, const char *what)
{
    json_t *v = NULL;
    struct kiln_err err = { 0 };
    if (kiln_json_parse_object(b->buf, b->len, 0, &v, &err) != KILN_OK)
        fprintf(stderr, "kiln pipeline step: %s did not print a JSON object: %s\n", what, err.msg);
    return v;
}

static int step_validate(struct step *s)
{
    const char *args[10] = { "validate", arg(s, "data"), "--profile", arg(s, "profile"), NULL };
    int rc;
    if (arg(s, "expectations") != NULL) {
        args[4] = "--expectations";
        args[5] = arg(s, "expectations");
        args[6] = NULL;
    }
    rc = run_kiln(s, args, NULL);
    output("valid", rc == 0 ? "true" : "false");
    if (rc == 1)
        fprintf(stderr, "kiln pipeline step: the data failed validation\n");
    return rc == 0 ? KILN_EXIT_OK : KILN_EXIT_FAIL;
}

static void put_number(const char *key, const json_t *v)
{
    char num[64];
    if (json_is_boolean(v)) {
        output(key, json_is_true(v) ? "true" : "false");
    } else if (json_is_number(v)) {
        kiln_format_double(json_number_value(v), num, sizeof(num));
        output(key, num);
    }
}

static int step_drift(struct step *s)
{
    const char *args[16] = { "drift",     "--reference",     arg(s, "reference"),
                             "--current", arg(s, "current"), "--json" };
    static const char *const opt[] = { "columns", "method", "threshold" };
    struct kiln_buf out, cols;
    json_t *rep, *c;
    size_t n = 6, i;
    int rc, drift;
    for (size_t k = 0; k < 3; k++) {
        if (arg(s, opt[k]) != NULL) {
            args[n++] = k == 0 ? "--columns" : k == 1 ? "--method" : "--threshold";
            args[n++] = arg(s, opt[k]);
        }
    }
    args[n] = NULL;
    kiln_buf_init(&out, (size_t)64 << 20);
    kiln_buf_init(&cols, 65536);
    rc = run_kiln(s, args, &out);
    rep = rc == 0 || rc == 1 ? parse_json(&out, "kiln drift") : NULL;
    kiln_buf_release(&out);
    if (rep == NULL) {
        kiln_buf_release(&cols);
        return KILN_EXIT_FAIL;
    }
    drift = json_is_true(json_object_get(rep, "dataset_drift"));
    put_number("dataset_drift", json_object_get(rep, "dataset_drift"));
    put_number("drift_share", json_object_get(rep, "drift_share"));
    json_array_foreach(json_object_get(rep, "columns"), i, c)
    {
        if (json_is_true(json_object_get(c, "drifted")))
            kiln_buf_printf(&cols, "%s%s", cols.len > 0 ? "," : "",
                            json_string_value(json_object_get(c, "name")));
    }
    output("drifted_columns", cols.buf);
    printf("dataset drift: %s (share of drifted columns %g%s%s)\n", drift ? "yes" : "no",
           json_number_value(json_object_get(rep, "drift_share")), cols.len > 0 ? ": " : "",
           cols.buf);
    kiln_buf_release(&cols);
    json_decref(rep);
    if (drift && flag(s, "fail_on_drift"))
        return KILN_EXIT_FAIL;
    if (!drift && flag(s, "require_drift")) {
        printf("no drift: skipping what depends on it\n");
        return SKIP_EXIT;
    }
    return KILN_EXIT_OK;
}

static int step_evaluate(struct step *s)
{
    const char *args[12] = { "evaluate", arg(s, "model"),  "--data", arg(s, "data"),
                             "--target", arg(s, "target"), "--json", NULL };
    struct kiln_buf out;
    json_t *rep, *v;
    const char *key;
    int rc;
    if (arg(s, "dataset_name") != NULL) {
        args[7] = "--dataset-name";
        args[8] = arg(s, "dataset_name");
        args[9] = NULL;
    }
    kiln_buf_init(&out, (size_t)64 << 20);
    rc = run_kiln(s, args, &out);
    rep = rc == 0 ? parse_json(&out, "kiln evaluate") : NULL;
    kiln_buf_release(&out);
    if (rep == NULL)
        return KILN_EXIT_FAIL;
    /* Metrics may sit at the top or under "metrics": every number becomes an output. */
    json_object_foreach(rep, key, v)
    {
        put_number(key, v);
    }
    json_object_foreach(json_object_get(rep, "metrics"), key, v)
    {
        put_number(key, v);
        if (json_is_number(v))
            printf("%s = %g\n", key, json_number_value(v));
    }
    json_decref(rep);
    return KILN_EXIT_OK;
}

static int step_promote(struct step *s)
{
    const char *args[10] = { "models",     "promote", arg(s, "model"), arg(s, "version"), "--to",
                             arg(s, "to"), NULL };
    int rc;
    if (arg(s, "reason") != NULL) {
        args[6] = "--reason";
        args[7] = arg(s, "reason");
        args[8] = NULL;
    }
    rc = run_kiln(s, args, NULL);
    if (rc == 0) {
        output("model", arg(s, "model"));
        output("version", arg(s, "version"));
        output("env", arg(s, "to"));
        return KILN_EXIT_OK;
    }
    fprintf(stderr, "kiln pipeline step: promotion of %s version %s to %s %s\n", arg(s, "model"),
            arg(s, "version"), arg(s, "to"), rc == 1 ? "refused by its gates" : "failed");
    return KILN_EXIT_FAIL;
}

static int client(struct kiln_http_client **c)
{
    const char *uri = getenv("KILN_TRACKING_URI");
    struct kiln_err err = { 0 };
    if (uri == NULL || uri[0] == '\0')
        uri = getenv("MLFLOW_TRACKING_URI");
    if (uri == NULL || uri[0] == '\0')
        return KILN_ENOENT;
    if (kiln_http_client_new(uri, 60000, c, &err) != KILN_OK) {
        fprintf(stderr, "kiln pipeline step: %s\n", err.msg);
        return KILN_EIO;
    }
    return KILN_OK;
}

static int step_register(struct step *s)
{
    const char *name = arg(s, "model"), *run_id = arg(s, "run_id"), *source = arg(s, "source");
    const char *path = arg(s, "artifact_path"), *version;
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    json_t *req, *resp = NULL;
    char src[1024], uri[600], ref[600];
    int rc;
    if (source == NULL && run_id == NULL)
        return kiln_cli_fail("pipeline step register: give 'source' or 'run_id'");
    if (source == NULL) {
        snprintf(src, sizeof(src), "runs:/%s/%s", run_id, path != NULL ? path : "model");
        source = src;
    }
    if (client(&c) != KILN_OK)
        return kiln_cli_fail("pipeline step register: no tracking server ($KILN_TRACKING_URI)");
    req = json_pack("{s:s}", "name", name);
    rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/registered-models/create", req, NULL,
                               &err);
    json_decref(req);
    if (rc == KILN_EEXIST)
        rc = KILN_OK;
    kiln_err_clear(&err);
    req = json_pack("{s:s, s:s, s:s?}", "name", name, "source", source, "run_id", run_id);
    if (rc == KILN_OK)
        rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/model-versions/create", req, &resp,
                                   &err);
    json_decref(req);
    kiln_http_client_free(c);
    version = json_string_value(json_object_get(json_object_get(resp, "model_version"), "version"));
    if (rc != KILN_OK || version == NULL) {
        json_decref(resp);
        return kiln_cli_fail("pipeline step register: %s",
                             rc != KILN_OK ? err.msg : "no version in the answer");
    }
    snprintf(uri, sizeof(uri), "models:/%s/%s", name, version);
    snprintf(ref, sizeof(ref), "%s/%s", name, version);
    printf("registered %s as version %s of %s\n", source, version, name);
    output("model", name);
    output("version", version);
    output("model_uri", uri);
    output("kiln.model_version", ref);
    json_decref(resp);
    return KILN_EXIT_OK;
}

/* The experiment the nested run goes to: the parent's, else $MLFLOW_EXPERIMENT_NAME's. */
static int train_experiment(struct kiln_http_client *c, const char *parent, char *out, size_t size)
{
    struct kiln_err err = { 0 };
    const char *name = getenv("MLFLOW_EXPERIMENT_NAME"), *id;
    json_t *req, *resp = NULL;
    int rc;
    if (parent != NULL && parent[0] != '\0') {
        req = json_pack("{s:s}", "run_id", parent);
        rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/runs/get", req, &resp, &err);
        json_decref(req);
        id = json_string_value(json_object_get(
            json_object_get(json_object_get(resp, "run"), "info"), "experiment_id"));
        if (rc == KILN_OK && id != NULL)
            kiln_strlcpy(out, id, size);
        json_decref(resp);
        if (rc == KILN_OK && id != NULL)
            return KILN_OK;
    }
    if (name == NULL || name[0] == '\0') {
        kiln_strlcpy(out, "0", size);
        return KILN_OK;
    }
    return kiln_cli_resolve_experiment(c, name, out, size, &err);
}

static int step_train(struct step *s)
{
    const char *parent = getenv("KILN_PARENT_RUN_ID"), *id;
    const char *pipeline = getenv("KILN_PIPELINE"), *task = getenv("KILN_TASK");
    const char *prun = getenv("KILN_RUN_ID");
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    char exp[64], name[300], run_id[64] = "";
    json_t *req, *resp = NULL, *tags;
    int rc;

    if (s->ncmd == 0)
        return kiln_cli_fail("pipeline step train: give the command after '--'");
    if (client(&c) == KILN_OK && train_experiment(c, parent, exp, sizeof(exp)) == KILN_OK) {
        snprintf(name, sizeof(name), "%s",
                 arg(s, "run_name") != NULL ? arg(s, "run_name")
                 : task != NULL             ? task
                                            : "train");
        tags = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "key", "mlflow.source.type",
                         "value", "JOB", "key", "kiln.pipeline", "value",
                         pipeline != NULL ? pipeline : "", "key", "kiln.pipeline_run_id", "value",
                         prun != NULL ? prun : "", "key", "kiln.task", "value",
                         task != NULL ? task : "");
        if (tags != NULL && parent != NULL && parent[0] != '\0')
            json_array_append_new(
                tags, json_pack("{s:s,s:s}", "key", "mlflow.parentRunId", "value", parent));
        req = json_pack("{s:s, s:s, s:I, s:o}", "experiment_id", exp, "run_name", name,
                        "start_time", (json_int_t)kiln_now_ms(), "tags", tags);
        rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/runs/create", req, &resp, &err);
        json_decref(req);
        id = json_string_value(
            json_object_get(json_object_get(json_object_get(resp, "run"), "info"), "run_id"));
        if (rc == KILN_OK && id != NULL)
            kiln_strlcpy(run_id, id, sizeof(run_id));
        else
            fprintf(stderr, "kiln pipeline step: no tracking run for this training (%s)\n",
                    rc != KILN_OK ? err.msg : "no run id");
        json_decref(resp);
    }
    if (run_id[0] != '\0') {
        setenv("MLFLOW_RUN_ID", run_id, 1);
        printf("tracking run %s%s%s\n", run_id, parent != NULL && parent[0] ? " under " : "",
               parent != NULL ? parent : "");
        fflush(stdout);
    }
    rc = spawn(s->cmd, environ, NULL);
    if (run_id[0] != '\0') {
        req = json_pack("{s:s, s:s, s:I}", "run_id", run_id, "status",
                        rc == 0 ? "FINISHED" : "FAILED", "end_time", (json_int_t)kiln_now_ms());
        kiln_err_clear(&err);
        if (kiln_http_client_json(c, "POST", "/api/2.0/mlflow/runs/update", req, NULL, &err) !=
            KILN_OK)
            fprintf(stderr, "kiln pipeline step: cannot end tracking run %s: %s\n", run_id,
                    err.msg);
        json_decref(req);
        output("run_id", run_id);
        output("kiln.tracking_run", run_id);
    }
    kiln_http_client_free(c);
    return rc < 0 ? KILN_EXIT_FAIL : rc;
}

static int self_bin(struct step *s)
{
    const char *env = getenv("KILN_PIPELINE_KILN_BIN");
    ssize_t n;
    if (env != NULL && env[0] != '\0') {
        kiln_strlcpy(s->bin, env, sizeof(s->bin));
        return KILN_OK;
    }
    n = readlink("/proc/self/exe", s->bin, sizeof(s->bin) - 1);
    if (n <= 0)
        return KILN_EIO;
    s->bin[n] = '\0';
    return KILN_OK;
}

int kiln_cli_pipeline_step(int argc, char **argv)
{
    static const struct {
        const char *kind;
        int (*fn)(struct step *);
    } kinds[] = {
        { "validate", step_validate }, { "drift", step_drift },     { "evaluate", step_evaluate },
        { "register", step_register }, { "promote", step_promote }, { "train", step_train },
    };
    struct step s;
    memset(&s, 0, sizeof(s));
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs("usage: kiln pipeline step KIND --ARG=VALUE ... [-- COMMAND ...]\n"
              "What built-in task kinds (validate, drift, evaluate, register, promote, train)\n"
              "run; see docs/pipelines.md. Not meant to be called by hand.\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? KILN_EXIT_USAGE : KILN_EXIT_OK;
    }
    s.kind = argv[1];
    for (int i = 2; i < argc; i++) {
        char *eq;
        if (strcmp(argv[i], "--") == 0) {
            s.cmd = argv + i + 1;
            s.ncmd = argc - i - 1;
            break;
        }
        eq = strchr(argv[i], '=');
        if (strncmp(argv[i], "--", 2) != 0 || eq == NULL || s.n == MAX_ARGS)
            return kiln_cli_fail("pipeline step: bad argument '%s' (expected --NAME=VALUE)",
                                 argv[i]);
        *eq = '\0';
        s.keys[s.n] = argv[i] + 2;
        s.vals[s.n++] = eq + 1;
    }
    if (self_bin(&s) != KILN_OK)
        return kiln_cli_fail("pipeline step: cannot find the kiln binary");
    for (size_t i = 0; i < KILN_ARRAY_LEN(kinds); i++)
        if (strcmp(s.kind, kinds[i].kind) == 0)
            return kinds[i].fn(&s);
    return kiln_cli_fail("pipeline step: unknown kind '%s'", s.kind);
}

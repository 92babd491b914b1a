/*
 * serve.c - `kiln serve URI [URI...]`: the data plane (src/serve) as a command.
 *
 * Parses flags, blocks SIGTERM/SIGINT/SIGHUP before any thread exists (so only sigwait sees
 * them), starts the server (listen, load and warm up every model, ready, follow the
 * registry), then waits: SIGHUP reloads every model, SIGTERM/SIGINT stop gracefully (requests
 * in flight finish, up to --grace seconds). Exit 0 after a clean stop, 2 when a flag is wrong
 * or a model cannot be loaded at start.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "serve/serve.h"

static const char usage[] =
    "usage: kiln serve URI [URI...] [options]\n"
    "       kiln serve --deployment NAME [options]\n"
    "\n"
    "Serves models over HTTP: MLflow's scoring protocol (POST /invocations with JSON or CSV,\n"
    "GET /ping, /health, /version), the Open Inference Protocol v2 (/v2/models/NAME/infer,\n"
    "...) and Prometheus metrics (/metrics). A URI is models:/NAME@ALIAS, models:/NAME/VERSION,\n"
    "runs:/RUN_ID/PATH, mlflow-artifacts:/... (through the tracking server) or a model folder.\n"
    "Models named by an alias follow the registry: a moved alias is loaded, warmed up and\n"
    "swapped in without a failed request. SIGHUP reloads every model.\n"
    "\n"
    "With --deployment, the replica follows a deployment of `kiln server` instead: it serves\n"
    "the plan's stable version, sends the candidate its share of requests (sticky per key\n"
    "header when the plan names one) or a shadow copy, reports per-version counts and\n"
    "histograms, monitors drift against each version's training profile, takes labels on\n"
    "POST /feedback, and keeps serving its last plan while the control plane is away.\n"
    "\n"
    "options:\n"
    "  --deployment NAME       follow this deployment of the control plane (--tracking-uri)\n"
    "  --replica-id ID         the replica's name in reports (default HOST:PORT)\n"
    "  --host HOST             address to listen on (default 127.0.0.1)\n"
    "  --port PORT             port (default 8080; 0 picks a free one)\n"
    "  --name NAME             the model's name (repeat it for several URIs: the first\n"
    "                          names the first URI, ...; default: the registered model's\n"
    "                          name or the folder's name)\n"
    "  --workers N             HTTP pool threads (default: the number of cores; with\n"
    "                          --deployment a thread per connection)\n"
    "  --tracking-uri URI      tracking server (default $KILN_TRACKING_URI,\n"
    "                          $MLFLOW_TRACKING_URI, http://127.0.0.1:5000)\n"
    "  --model-dir DIR         where downloaded models go (default: a temporary folder)\n"
    "  --max-body-mb N         largest request body (default 64)\n"
    "  --no-follow             load aliases once instead of following the registry\n"
    "  --poll-interval S       seconds between checks without an event feed (default 10)\n"
    "  --value-buckets LIST    buckets of the regression prediction histogram (a,b,c)\n"
    "  --xgb-engine E          auto (default), native or libxgboost\n"
    "  --grace SECONDS         how long a stop waits for requests in flight (default 30)\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "\n"
    "Documentation: docs/serving.md, docs/deployments.md\n";

static int parse_buckets(const char *text, double *out, size_t max, size_t *n)
{
    const char *p = text;
    *n = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        struct kiln_str s = kiln_str_trim((struct kiln_str){ p, len });
        double v;
        if (*n == max || kiln_parse_double(s.p, s.len, &v) != KILN_OK || !(v == v) ||
            (*n > 0 && v <= out[*n - 1]))
            return KILN_EINVAL;
        out[(*n)++] = v;
        p += len + (comma != NULL);
    }
    return *n > 0 ? KILN_OK : KILN_EINVAL;
}

static int parse_engine(const char *s, enum kiln_rt_xgb_engine *out)
{
    if (s == NULL || strcmp(s, "auto") == 0)
        *out = KILN_RT_XGB_AUTO;
    else if (strcmp(s, "native") == 0)
        *out = KILN_RT_XGB_NATIVE;
    else if (strcmp(s, "libxgboost") == 0)
        *out = KILN_RT_XGB_LIBXGBOOST;
    else
        return KILN_EINVAL;
    return KILN_OK;
}

/* Waits for signals: SIGHUP reloads, SIGTERM/SIGINT return. */
static int wait_signals(struct kiln_serve *s, const sigset_t *set)
{
    for (;;) {
        struct kiln_err err = { 0 };
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        kiln_log_info("received SIGHUP: reloading every model");
        if (kiln_serve_reload(s, &err) == KILN_OK)
            kiln_log_info("reload done");
    }
}

static int run(const struct kiln_serve_config *cfg, const struct kiln_strv *uris,
               const struct kiln_strv *names, int grace)
{
    struct kiln_serve *s = NULL;
    struct kiln_err err = { 0 };
    sigset_t set;
    int rc, sig;

    rc = kiln_serve_new(cfg, &s, &err);
    for (size_t i = 0; rc == KILN_OK && i < uris->n; i++)
        rc = kiln_serve_add_model(s, uris->v[i], i < names->n ? names->v[i] : NULL, &err);
    if (rc != KILN_OK) {
        kiln_serve_free(s);
        return kiln_cli_fail("serve: %s", err.msg);
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    rc = kiln_serve_start(s, &err);
    if (rc != KILN_OK) {
        kiln_serve_free(s);
        return kiln_cli_fail("serve: %s", err.msg);
    }
    sig = wait_signals(s, &set);
    kiln_log_info("received %s: stopping (waiting up to %d s for requests in flight)",
                  sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
    kiln_serve_stop(s, grace * 1000);
    kiln_serve_free(s);
    kiln_log_info("stopped");
    return KILN_EXIT_OK;
}

int kiln_cmd_serve(int argc, char **argv)
{
    const char *host = "127.0.0.1", *tracking = NULL, *model_dir = NULL, *log_level = NULL;
    const char *buckets = NULL, *engine = NULL, *deployment = NULL, *replica_id = NULL;
    int64_t port = 8080, workers = 0, max_body_mb = 64, poll = 10, grace = 30;
    int no_follow = 0;
    struct kiln_strv names = { 0 }, pos = { 0 };
    struct kiln_opt opts[] = {
        { "host", 0, KILN_OPT_STR, &host },
        { "port", 'p', KILN_OPT_INT, &port },
        { "name", 'n', KILN_OPT_MULTI, &names },
        { "workers", 'w', KILN_OPT_INT, &workers },
        { "tracking-uri", 0, KILN_OPT_STR, &tracking },
        { "model-dir", 0, KILN_OPT_STR, &model_dir },
        { "max-body-mb", 0, KILN_OPT_INT, &max_body_mb },
        { "no-follow", 0, KILN_OPT_FLAG, &no_follow },
        { "poll-interval", 0, KILN_OPT_INT, &poll },
        { "value-buckets", 0, KILN_OPT_STR, &buckets },
        { "xgb-engine", 0, KILN_OPT_STR, &engine },
        { "grace", 0, KILN_OPT_INT, &grace },
        { "log-level", 0, KILN_OPT_STR, &log_level },
        { "deployment", 0, KILN_OPT_STR, &deployment },
        { "replica-id", 0, KILN_OPT_STR, &replica_id },
    };
    struct kiln_serve_config cfg;
    struct kiln_err err = { 0 };
    double vb[24];
    size_t nvb = 0;
    enum kiln_log_level lv;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(usage, stdout);
        rc = KILN_EXIT_OK;
        goto out;
    }
    if (rc != KILN_OK) {
        rc = kiln_cli_fail("serve: %s (see 'kiln serve --help')", err.msg);
        goto out;
    }
    rc = KILN_EXIT_USAGE;
    if (pos.n == 0 && deployment == NULL) {
        kiln_cli_fail("serve: give at least one model URI or --deployment NAME (see 'kiln serve "
                      "--help')");
        goto out;
    }
    if (pos.n > 0 && deployment != NULL) {
        kiln_cli_fail("serve: give model URIs or --deployment, not both (the deployment's plan "
                      "names the model)");
        goto out;
    }
    if (deployment != NULL && (*deployment == '\0' || strlen(deployment) > 100 ||
                               strspn(deployment, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                                                  "tuvwxyz0123456789_.-") != strlen(deployment))) {
        kiln_cli_fail("serve: --deployment: '%.120s' is not a deployment name (1 to 100 of "
                      "A-Z a-z 0-9 _ . -)",
                      deployment);
        goto out;
    }
    if (replica_id != NULL && (*replica_id == '\0' || strlen(replica_id) > 200)) {
        kiln_cli_fail("serve: --replica-id must have 1 to 200 characters");
        goto out;
    }
    if (names.n > pos.n) {
        kiln_cli_fail("serve: %zu --name for %zu URI(s)", names.n, pos.n);
        goto out;
    }
    if (port < 0 || port > 65535 || workers < 0 || workers > 1024 || max_body_mb < 1 ||
        max_body_mb > 4096 || poll < 1 || poll > 86400 || grace < 0 || grace > 3600) {
        kiln_cli_fail("serve: --port, --workers, --max-body-mb, --poll-interval or --grace "
                      "out of range");
        goto out;
    }
    if (buckets != NULL && parse_buckets(buckets, vb, KILN_ARRAY_LEN(vb), &nvb) != KILN_OK) {
        kiln_cli_fail("serve: --value-buckets needs up to 24 increasing numbers, like -1,0,1");
        goto out;
    }
    if (parse_engine(engine, &cfg.xgb_engine) != KILN_OK) {
        kiln_cli_fail("serve: --xgb-engine must be auto, native or libxgboost");
        goto out;
    }
    if (log_level != NULL) {
        if (kiln_log_parse_level(log_level, &lv) != KILN_OK) {
            kiln_cli_fail("serve: --log-level must be error, warn, info or debug");
            goto out;
        }
        kiln_log_set_level(lv);
    }
    cfg.host = host;
    cfg.port = (int)port;
    cfg.workers = (int)workers;
    cfg.tracking_uri = kiln_cli_tracking_uri(tracking);
    cfg.model_dir = model_dir;
    cfg.max_body = (size_t)max_body_mb << 20;
    cfg.no_follow = no_follow;
    cfg.poll_interval_ms = (int)poll * 1000;
    cfg.deployment = deployment;
    cfg.replica_id = replica_id;
    cfg.value_buckets = nvb > 0 ? vb : NULL;
    cfg.n_value_buckets = nvb;
    rc = run(&cfg, &pos, &names, (int)grace);
out:
    kiln_strv_release(&names);
    kiln_strv_release(&pos);
    return rc;
}

/*
 * server.c - `kiln server`: the control plane (tracking, registry, artifacts, REST API).
 *
 * Start-up: parse flags (those of `mlflow server`), open the store (applying migrations),
 * make sure the Default experiment exists, create the registry, build the router, block the
 * stop signals in every thread, start the registry's threads, the pipeline scheduler, the
 * deployment controller and the HTTP daemon, then wait in sigwait(). On SIGTERM or SIGINT the
 * controller and the registry stop first (answering parked long-polls), the daemon stops
 * accepting, requests in flight finish (up to --grace seconds), the store
 * checkpoints and closes. Everything lives in one `struct kiln_server` owned by this function.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "deploy/deploy.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"
#include "store/migrations/migrations.h"
#include "store/store.h"
#include "tracking/tracking.h"

static const char usage[] =
    "usage: kiln server [options]\n"
    "\n"
    "Runs the control plane: the MLflow-compatible tracking and registry REST API, the\n"
    "artifact proxy and kiln's own API. MLflow clients work unchanged against it:\n"
    "  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000\n"
    "\n"
    "options:\n"
    "  --host HOST                    address to listen on (default 127.0.0.1)\n"
    "  --port PORT                    port to listen on (default 5000)\n"
    "  --backend-store-uri URI        store (default sqlite:///./kiln-data/kiln.db)\n"
    "  --artifacts-destination DIR    where proxied artifacts are stored\n"
    "                                 (default ./kiln-data/artifacts)\n"
    "  --default-artifact-root URI    root of new experiments' artifact locations\n"
    "                                 (default mlflow-artifacts:/)\n"
    "  --workers N                    0 (default): a thread per connection; N: a pool of N\n"
    "                                 threads sharing the connections\n"
    "  --grace SECONDS                how long a stop waits for requests in flight (30)\n"
    "  --log-level LEVEL              error, warn, info (default) or debug\n"
    "\n"
    "Stops gracefully on SIGTERM or SIGINT. Documentation: docs/server.md\n";

static void server_free(struct kiln_server *srv)
{
    kiln_deploy_free(srv->deploy);
    kiln_pl_sched_free(srv->pipelines);
    kiln_registry_free(srv->registry);
    kiln_store_close(srv->store);
    kiln_free(srv->artifacts_root);
    kiln_free(srv->default_artifact_root);
}

static char *absolute(const char *path)
{
    char cwd[PATH_MAX];
    struct kiln_buf b;
    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return kiln_strdup(path);
    kiln_buf_init(&b, PATH_MAX * 2);
    if (kiln_path_join(&b, cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path) != KILN_OK) {
        kiln_buf_release(&b);
        return NULL;
    }
    return kiln_buf_detach(&b, NULL);
}

/*
 * Store reader connections: one per pool thread (plus two for background readers), or with a
 * thread per connection 2 x cores, at least 6; a reader beyond that waits for a free one.
 */
static int store_readers(int64_t workers)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (workers > 0)
        return (int)workers + 2;
    n = n > 0 ? n * 2 : 6;
    return n < 6 ? 6 : (int)(n > 64 ? 64 : n);
}

/* The deployment controller: loads deployments and resumes rollouts, then runs its thread. */
static int start_deploy(struct kiln_server *srv, struct kiln_err *err)
{
    struct kiln_deploy_config dc = { 0 };
    int rc;
    dc.store = srv->store;
    dc.registry = srv->registry;
    dc.pipelines = srv->pipelines;
    rc = kiln_deploy_new(&dc, &srv->deploy, err);
    if (rc == KILN_OK)
        rc = kiln_deploy_start(srv->deploy, err);
    return rc;
}

static int serve_until_signal(struct kiln_server *srv, const struct kiln_http_config *cfg,
                              int grace_s, const char *store_uri)
{
    struct kiln_router *router = NULL;
    struct kiln_http_server *http = NULL;
    struct kiln_err err = { 0 };
    sigset_t set;
    char threads[48];
    int sig = 0, rc;

    rc = kiln_api_router_new(srv, &router, &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);

    /* Block the stop signals before any thread exists, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    rc = kiln_registry_start(srv->registry, &err);
    if (rc == KILN_OK)
        rc = kiln_pl_server_sched_new(srv, &err);
    if (rc == KILN_OK)
        rc = start_deploy(srv, &err);
    if (rc == KILN_OK)
        rc = kiln_http_start(cfg, router, srv, &http, &err);
    if (rc == KILN_OK)
        rc = kiln_pl_server_sched_start(srv->pipelines, cfg->host, kiln_http_port(http), &err);
    if (rc != KILN_OK) {
        if (http != NULL)
            kiln_http_stop(http, 0);
        kiln_deploy_stop(srv->deploy);
        kiln_registry_stop(srv->registry);
        kiln_router_free(router);
        return kiln_cli_fail_rc(rc, &err);
    }
    if (cfg->workers > 0)
        snprintf(threads, sizeof(threads), "%d worker threads", cfg->workers);
    else
        snprintf(threads, sizeof(threads), "a thread per connection");
    kiln_log_info("kiln server listening on http://%s:%d (store %s, artifacts %s, %s)", cfg->host,
                  kiln_http_port(http), store_uri, srv->artifacts_root, threads);
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP)
            continue; /* nothing to reload in the control plane yet */
        break;
    }
    kiln_log_info("received %s: stopping (waiting up to %d s for requests in flight)",
                  sig == SIGINT ? "SIGINT" : "SIGTERM", grace_s);
    /* Stopping the controller and the registry first answers parked long-polls (plans, events),
     * so they do not hold the stop. */
    kiln_deploy_stop(srv->deploy);
    kiln_registry_stop(srv->registry);
    kiln_pl_sched_stop(srv->pipelines);
    kiln_http_stop(http, grace_s * 1000);
    kiln_router_free(router);
    /* Leave no staged metrics behind: the file then reads complete to any SQLite client. */
    if (kiln_metrics_settle(srv->store, &err) != KILN_OK)
        kiln_log_warn("staged metrics left for the next start to apply: %s", err.msg);
    kiln_log_info("stopped");
    return KILN_EXIT_OK;
}

int kiln_cmd_server(int argc, char **argv)
{
    const char *host = "127.0.0.1", *store_uri = "sqlite:///./kiln-data/kiln.db";
    const char *artifacts = "./kiln-data/artifacts", *root = "mlflow-artifacts:/";
    const char *log_level = NULL;
    /*
     * workers 0, a thread per connection, by default: a pool thread whose request waits for
     * the group commit (store/group.c) holds up every other connection it serves. With 8
     * log-batch clients on a pool of 4 that cost 10-20 % of the throughput, and at a steady
     * 5,000 requests/s the pool fell behind (bench/RESULTS.md, sixth session).
     */
    int64_t port = 5000, workers = 0, grace = 30;
    struct kiln_opt opts[] = {
        { "host", 0, KILN_OPT_STR, &host },
        { "port", 'p', KILN_OPT_INT, &port },
        { "backend-store-uri", 0, KILN_OPT_STR, &store_uri },
        { "artifacts-destination", 0, KILN_OPT_STR, &artifacts },
        { "default-artifact-root", 0, KILN_OPT_STR, &root },
        { "workers", 'w', KILN_OPT_INT, &workers },
        { "grace", 0, KILN_OPT_INT, &grace },
        { "log-level", 0, KILN_OPT_STR, &log_level },
    };
    struct kiln_server srv;
    struct kiln_http_config cfg;
    struct kiln_strv pos = { 0 };
    struct kiln_err err = { 0 };
    enum kiln_log_level lv;
    int64_t t0 = kiln_mono_ns();
    int rc;

    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    kiln_strv_release(&pos);
    if (rc == KILN_OPTS_HELP) {
        fputs(usage, stdout);
        return KILN_EXIT_OK;
    }
    if (rc != KILN_OK)
        return kiln_cli_fail("server: %s (see 'kiln server --help')", err.msg);
    if (pos.n > 0)
        return kiln_cli_fail("server: unexpected argument (see 'kiln server --help')");
    if (port < 0 || port > 65535)
        return kiln_cli_fail("server: --port %lld is not a port number", (long long)port);
    if (workers < 0 || workers > 1024)
        return kiln_cli_fail("server: --workers must be between 0 and 1024");
    if (log_level != NULL) {
        if (kiln_log_parse_level(log_level, &lv) != KILN_OK)
            return kiln_cli_fail("server: --log-level must be error, warn, info or debug");
        kiln_log_set_level(lv);
    }

    memset(&srv, 0, sizeof(srv));
    srv.started_ms = kiln_now_ms();
    srv.serve_artifacts = 1;
    srv.artifacts_root = absolute(artifacts);
    srv.default_artifact_root = kiln_strdup(root);
    if (srv.artifacts_root == NULL || srv.default_artifact_root == NULL) {
        server_free(&srv);
        return kiln_cli_fail("server: out of memory");
    }
    kiln_path_strip_slash(srv.artifacts_root);
    rc = kiln_mkdirs(srv.artifacts_root, 0755, &err);
    if (rc == KILN_OK)
        rc = kiln_store_open(store_uri, kiln_schema_all, store_readers(workers), &srv.store, &err);
    if (rc == KILN_OK)
        rc = kiln_tracking_init(srv.store, srv.default_artifact_root, &err);
    if (rc == KILN_OK)
        rc = kiln_registry_new(srv.store, NULL, &srv.registry, &err);
    if (rc != KILN_OK) {
        server_free(&srv);
        return kiln_cli_fail_rc(rc, &err);
    }
    kiln_log_debug("store ready in %.1f ms", (double)(kiln_mono_ns() - t0) / 1e6);

    memset(&cfg, 0, sizeof(cfg));
    cfg.host = host;
    cfg.port = (int)port;
    cfg.workers = (int)workers;
    rc = serve_until_signal(&srv, &cfg, (int)grace, store_uri);
    server_free(&srv);
    return rc;
}

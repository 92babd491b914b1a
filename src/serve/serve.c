/*
 * serve.c - the inference server's life cycle (see serve.h): configuration, models, start
 * (listen, load + warm up, ready, follow), SIGHUP reloads, graceful stop.
 *
 * The server is created and driven by one owner thread (cli/serve.c); after start, HTTP
 * workers and followers read its configuration, which never changes, and reach the models
 * through their slots.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "serve/replica_int.h"
#include "serve/serve_int.h"

#define DEFAULT_MAX_BODY ((size_t)64 << 20)

static char *dup_or_null(const char *s, int *oom)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = kiln_strdup(s);
    *oom |= d == NULL;
    return d;
}

int kiln_serve_new(const struct kiln_serve_config *cfg, struct kiln_serve **out,
                   struct kiln_err *err)
{
    struct kiln_serve *s = kiln_calloc(1, sizeof(*s));
    pthread_condattr_t ca;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int cores = ncpu > 0 ? (int)ncpu : 2, oom = 0;

    if (s == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    s->host = dup_or_null(cfg->host != NULL ? cfg->host : "127.0.0.1", &oom);
    s->port = cfg->port;
    /*
     * By default a pool of one thread per core, except in a replica (--deployment): there a
     * request to a slow candidate would hold up the other connections of its pool thread and
     * put the candidate's latency into the stable version's figures (a slow canary then
     * passed its latency check, tests/e2e/test_serve_deploy.py), so each connection gets its
     * own thread. For one fast model the pool serves more: 92,700 against 54,800 req/s from
     * 32 connections (bench/run_serve_bench.py, sixth session).
     */
    if (cfg->workers > 0)
        s->workers = cfg->workers;
    else
        s->workers = cfg->deployment != NULL ? 0 : cores;
    s->workspaces = s->workers > 0 ? s->workers : cores;
    s->tracking_uri = dup_or_null(cfg->tracking_uri, &oom);
    s->model_dir = dup_or_null(cfg->model_dir, &oom);
    s->max_body = cfg->max_body > 0 ? cfg->max_body : DEFAULT_MAX_BODY;
    s->no_follow = cfg->no_follow;
    s->poll_interval_ms = cfg->poll_interval_ms > 0 ? cfg->poll_interval_ms : 10000;
    s->event_wait_s =
        cfg->event_wait_s > 0 ? (cfg->event_wait_s > 60 ? 60 : cfg->event_wait_s) : 30;
    s->xgb_engine = cfg->xgb_engine;
    s->deployment = dup_or_null(cfg->deployment, &oom);
    s->replica_id = dup_or_null(cfg->replica_id, &oom);
    if (cfg->value_buckets != NULL && cfg->n_value_buckets > 0) {
        s->value_buckets = kiln_calloc(cfg->n_value_buckets, sizeof(double));
        oom |= s->value_buckets == NULL;
        if (s->value_buckets != NULL)
            memcpy(s->value_buckets, cfg->value_buckets, cfg->n_value_buckets * sizeof(double));
        s->n_value_buckets = cfg->n_value_buckets;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (oom) {
        kiln_serve_free(s);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    *out = s;
    return KILN_OK;
}

/* The default name of a model: the registered model, else the last path segment. */
static int default_name(const struct kiln_uri *u, char *out, size_t size)
{
    const char *p = u->path, *slash;
    size_t len;
    if (u->scheme == KILN_URI_MODELS && u->ref_kind != KILN_MODEL_REF_LOGGED_MODEL &&
        u->name != NULL) {
        snprintf(out, size, "%s", u->name);
        return KILN_OK;
    }
    if (u->scheme == KILN_URI_MODELS) {
        snprintf(out, size, "%s", u->ref != NULL ? u->ref : "model");
        return KILN_OK;
    }
    if (p == NULL || *p == '\0')
        p = u->run_id != NULL ? u->run_id : "model";
    len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        len--;
    slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '/')
            slash = p + i;
    if (slash != NULL) {
        len -= (size_t)(slash + 1 - p);
        p = slash + 1;
    }
    snprintf(out, size, "%.*s", (int)len, p);
    return KILN_OK;
}

static int check_name(const char *name, struct kiln_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return kiln_err_set(err, KILN_EINVAL, "model name '%.140s' must have 1 to 128 characters",
                            name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '%')
            return kiln_err_set(err, KILN_EINVAL,
                                "model name '%s' may not contain control characters, '/', '?', "
                                "'#' or '%%' (it is a URL path segment)",
                                name);
    }
    return KILN_OK;
}

int kiln_serve_add_model(struct kiln_serve *s, const char *uri, const char *name,
                         struct kiln_err *err)
{
    struct slot *sl, **slots;
    char derived[256];
    int rc;

    sl = kiln_calloc(1, sizeof(*sl));
    if (sl == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&sl->mu, NULL);
    pthread_mutex_init(&sl->load_mu, NULL);
    sl->srv = s;
    rc = kiln_uri_parse(uri, &sl->u, err);
    if (rc == KILN_OK && (sl->u.scheme == KILN_URI_SQLITE || sl->u.scheme == KILN_URI_POSTGRES))
        rc = kiln_err_set(err, KILN_EINVAL, "'%s' is a store URI, not a model URI", uri);
    if (rc == KILN_OK && sl->u.scheme != KILN_URI_LOCAL && s->tracking_uri == NULL)
        rc =
            kiln_err_set(err, KILN_EINVAL, "'%s' needs a tracking server (KILN_TRACKING_URI)", uri);
    if (rc == KILN_OK && name == NULL) {
        default_name(&sl->u, derived, sizeof(derived));
        name = derived;
    }
    if (rc == KILN_OK)
        rc = check_name(name, err);
    for (size_t i = 0; rc == KILN_OK && i < s->n_slots; i++)
        if (strcmp(s->slots[i]->name, name) == 0)
            rc =
                kiln_err_set(err, KILN_EINVAL, "two models are named '%s' (give one --name)", name);
    if (rc == KILN_OK) {
        sl->name = kiln_strdup(name);
        sl->uri = kiln_strdup(uri);
        slots = kiln_reallocarray(s->slots, s->n_slots + 1, sizeof(*slots));
        if (sl->name == NULL || sl->uri == NULL || slots == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        if (slots != NULL)
            s->slots = slots;
    }
    if (rc != KILN_OK) {
        slot_free(sl);
        return rc;
    }
    sl->follow =
        !s->no_follow && sl->u.scheme == KILN_URI_MODELS &&
        (sl->u.ref_kind == KILN_MODEL_REF_ALIAS || sl->u.ref_kind == KILN_MODEL_REF_STAGE ||
         sl->u.ref_kind == KILN_MODEL_REF_LATEST);
    s->slots[s->n_slots++] = sl;
    return KILN_OK;
}

static int model_dir(struct kiln_serve *s, struct kiln_err *err)
{
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    if (s->model_dir != NULL)
        return kiln_mkdirs(s->model_dir, 0700, err);
    snprintf(path, sizeof(path), "%s/kiln-serve-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(path) == NULL)
        return kiln_err_set(err, KILN_EIO, "cannot create a temporary folder for models in '%s'",
                            tmp != NULL && *tmp ? tmp : "/tmp");
    s->model_dir = kiln_strdup(path);
    if (s->model_dir == NULL) {
        rmdir(path);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    s->own_model_dir = 1;
    return KILN_OK;
}

int kiln_serve_start(struct kiln_serve *s, struct kiln_err *err)
{
    struct kiln_http_config hc;
    int64_t t0 = kiln_mono_ns();
    int rc;

    if (s->deployment != NULL && s->n_slots > 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "give model URIs or a deployment, not both (the plan names the model)");
    if (s->deployment != NULL && s->tracking_uri == NULL)
        return kiln_err_set(err, KILN_EINVAL, "a deployment needs the control plane's URI");
    if (s->deployment != NULL) {
        rc = replica_prepare(s, err);
        if (rc != KILN_OK)
            return rc;
    }
    if (s->n_slots == 0)
        return kiln_err_set(err, KILN_EINVAL, "no model to serve");
    rc = serve_metrics_init(s, err);
    if (rc == KILN_OK && s->rep != NULL)
        rc = replica_metrics_init(s, err);
    if (rc == KILN_OK)
        rc = model_dir(s, err);
    if (rc == KILN_OK)
        rc = serve_router_new(s, &s->router, err);
    if (rc != KILN_OK)
        return rc;
    memset(&hc, 0, sizeof(hc));
    hc.host = s->host;
    hc.port = s->port;
    hc.workers = s->workers;
    hc.observe = serve_observe;
    rc = kiln_http_start(&hc, s->router, s, &s->http, err);
    if (rc != KILN_OK)
        return rc;
    if (s->workers > 0)
        kiln_log_info("kiln serve listening on http://%s:%d (%d worker threads); loading %zu "
                      "model(s)",
                      s->host, kiln_http_port(s->http), s->workers, s->n_slots);
    else
        kiln_log_info("kiln serve listening on http://%s:%d (a thread per connection); loading "
                      "%zu model(s)",
                      s->host, kiln_http_port(s->http), s->n_slots);
    for (size_t i = 0; i < s->n_slots && rc == KILN_OK; i++) {
        struct kiln_err e = { 0 };
        rc = slot_load(s->slots[i], 1, NULL, &e);
        if (rc != KILN_OK)
            kiln_err_set(err, rc, "model '%s' (%s): %s", s->slots[i]->name, s->slots[i]->uri,
                         kiln_err_msg(&e, rc));
    }
    if (rc != KILN_OK) {
        kiln_http_stop(s->http, 0);
        s->http = NULL;
        return rc;
    }
    atomic_store(&s->ready, 1);
    kiln_log_info("ready in %.1f ms: serving %zu model(s) on http://%s:%d",
                  (double)(kiln_mono_ns() - t0) / 1e6, s->n_slots, s->host,
                  kiln_http_port(s->http));
    for (size_t i = 0; i < s->n_slots && rc == KILN_OK; i++)
        if (s->slots[i]->follow)
            rc = follow_start(s->slots[i], err);
    if (rc == KILN_OK && s->rep != NULL)
        rc = replica_start(s, err);
    if (rc != KILN_OK)
        kiln_serve_stop(s, 0);
    return rc;
}

int kiln_serve_port(const struct kiln_serve *s)
{
    return s->http != NULL ? kiln_http_port(s->http) : s->port;
}

int kiln_serve_reload(struct kiln_serve *s, struct kiln_err *err)
{
    int first = KILN_OK;
    if (s->rep != NULL) {
        /* The deployment's plan decides which versions are served, not the start-up URI. */
        kiln_log_info("deployment %s: the plan decides the versions; nothing to reload",
                      s->deployment);
        return KILN_OK;
    }
    for (size_t i = 0; i < s->n_slots; i++) {
        struct kiln_err e = { 0 };
        int rc = slot_load(s->slots[i], 1, NULL, &e);
        if (rc == KILN_OK)
            continue;
        kiln_log_warn("model '%s': reload failed, keeping the version being served: %s",
                      s->slots[i]->name, e.msg);
        if (first == KILN_OK)
            first = kiln_err_set(err, rc, "model '%s': %s", s->slots[i]->name, e.msg);
    }
    return first;
}

void kiln_serve_stop(struct kiln_serve *s, int grace_ms)
{
    follow_stop_all(s);
    atomic_store(&s->ready, 0);
    if (s->http != NULL)
        kiln_http_stop(s->http, grace_ms);
    s->http = NULL;
    if (s->rep != NULL)
        replica_stop(s);
}

void kiln_serve_free(struct kiln_serve *s)
{
    if (s == NULL)
        return;
    if (s->http != NULL)
        kiln_serve_stop(s, 0);
    for (size_t i = 0; i < s->n_slots; i++)
        slot_free(s->slots[i]);
    kiln_free(s->slots);
    replica_free(s->rep);
    kiln_router_free(s->router);
    kiln_metrics_free(s->metrics);
    if (s->own_model_dir && s->model_dir != NULL) {
        struct kiln_err ignore;
        kiln_remove_tree(s->model_dir, &ignore);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    kiln_free(s->host);
    kiln_free(s->tracking_uri);
    kiln_free(s->deployment);
    kiln_free(s->replica_id);
    kiln_free(s->model_dir);
    kiln_free(s->value_buckets);
    kiln_free(s);
}

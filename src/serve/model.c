/*
 * model.c - the versions a served model goes through: load (resolve, download, load, warm
 * up), publish (atomic swap), share (reference counts, pooled workspaces) and retire.
 *
 * A version's life: loading (only the loading thread sees it) -> current (slot->cur holds a
 * reference; requests take more) -> superseded (a swap dropped the slot's reference; requests
 * already holding one finish on it) -> freed by whoever drops the last reference. Readers
 * take a reference under slot->mu, which is held for two instructions, so a swap is never
 * seen half done and a version is never freed under a request.
 *
 * Threads: slot_load runs on a follower thread or the SIGHUP thread (serialized by
 * load_mu); slot_acquire/served_release/served_ws_* and the counters run on HTTP workers.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "http/client.h"
#include "serve/fetch.h"
#include "serve/parse_int.h"
#include "quality/profile.h"
#include "serve/replica_int.h"
#include "serve/serve_int.h"

static const char *const proto_names[P_N] = { "mlflow", "oip" };
static const int st_codes[ST_N] = { 200, 400, 404, 413, 415, 500, 503 };

struct served *slot_acquire(struct slot *sl)
{
    struct served *v;
    pthread_mutex_lock(&sl->mu);
    v = sl->cur;
    if (v != NULL)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&sl->mu);
    return v;
}

struct served *served_hold(struct served *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

static void served_free(struct served *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n_ws; i++)
        kiln_rt_ws_free(v->ws[i]);
    kiln_free(v->ws);
    kiln_free(v->by_class);
    if (v->rs != NULL)
        replica_stats_put(v->slot->srv->rep, v->rs);
    if (v->mw != NULL)
        monitor_detach(v->slot->srv->rep->mon, v->mw);
    kiln_serve_schema_free(v->schema);
    kiln_rt_free(v->model);
    kiln_free(v->source);
    pthread_mutex_destroy(&v->ws_mu);
    kiln_free(v);
}

void served_release(struct served *v)
{
    if (v != NULL && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
        served_free(v);
}

struct kiln_rt_ws *served_ws_get(struct served *v)
{
    struct kiln_rt_ws *ws = NULL;
    pthread_mutex_lock(&v->ws_mu);
    if (v->n_ws > 0)
        ws = v->ws[--v->n_ws];
    pthread_mutex_unlock(&v->ws_mu);
    return ws != NULL ? ws : kiln_rt_ws_new(v->model);
}

void served_ws_put(struct served *v, struct kiln_rt_ws *ws)
{
    if (ws == NULL)
        return;
    pthread_mutex_lock(&v->ws_mu);
    if (v->n_ws == v->cap_ws) {
        size_t cap = v->cap_ws ? v->cap_ws * 2 : 4;
        struct kiln_rt_ws **p = kiln_reallocarray(v->ws, cap, sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&v->ws_mu);
            kiln_rt_ws_free(ws);
            return;
        }
        v->ws = p;
        v->cap_ws = cap;
    }
    v->ws[v->n_ws++] = ws;
    pthread_mutex_unlock(&v->ws_mu);
}

void served_count(struct served *v, enum proto p, int status, int64_t start_ns)
{
    struct kiln_serve *srv = v->slot->srv;
    struct kiln_metric *c = NULL;
    char code[8];
    const char *labels[4] = { v->slot->name, v->version, proto_names[p], code };
    int i;

    for (i = 0; i < ST_N && st_codes[i] != status; i++)
        ;
    if (i < ST_N)
        c = atomic_load_explicit(&v->req[p][i], memory_order_acquire);
    if (c == NULL) {
        snprintf(code, sizeof(code), "%d", status);
        c = kiln_metric_child(srv->f_req, labels);
        if (i < ST_N)
            atomic_store_explicit(&v->req[p][i], c, memory_order_release);
    }
    kiln_metric_inc(c);
    kiln_metric_observe(v->latency[p], (double)(kiln_mono_ns() - start_ns) / 1e9);
}

void served_observe(struct served *v, const struct kiln_rt_out *o, size_t n)
{
    const struct kiln_serve_schema *sc = v->schema;
    uint64_t counts[MAX_CLASS_SERIES] = { 0 };
    kiln_metric_add(v->rows, (double)n);
    if (!sc->classifier) {
        for (size_t r = 0; r < n; r++)
            kiln_metric_observe(v->score, o->value[r * sc->n_values]);
        return;
    }
    for (size_t r = 0; r < n; r++) {
        size_t k = (size_t)o->label[r], C = sc->n_classes;
        kiln_metric_observe(v->score, C == 2 ? o->proba[r * 2 + 1] : o->proba[r * C + k]);
        if (k < MAX_CLASS_SERIES)
            counts[k]++;
    }
    for (size_t k = 0; v->by_class != NULL && k < sc->n_classes; k++)
        if (counts[k] > 0)
            kiln_metric_add(v->by_class[k], (double)counts[k]);
}

static const char *task_name(const struct kiln_rt_model *m)
{
    return kiln_rt_task(m) == KILN_RT_CLASSIFIER ? "classifier" : "regressor";
}

/* Metric children of a new version; missing ones (out of memory) are simply not updated. */
static void served_metrics(struct served *v)
{
    struct kiln_serve *srv = v->slot->srv;
    const char *name = v->slot->name;
    const char *mv[2] = { name, v->version };
    const char *info[6] = { name,
                            v->version,
                            v->slot->uri,
                            kiln_rt_flavor(v->model),
                            kiln_rt_engine(v->model),
                            task_name(v->model) };

    for (int p = 0; p < P_N; p++) {
        const char *lat[3] = { name, v->version, proto_names[p] };
        v->latency[p] = kiln_metric_child(srv->f_lat, lat);
    }
    v->score = kiln_metric_child(v->schema->classifier ? srv->f_score : srv->f_value, mv);
    v->rows = kiln_metric_child(srv->f_rows, mv);
    v->load_g = kiln_metric_child(srv->f_load, mv);
    v->warmup_g = kiln_metric_child(srv->f_warmup, mv);
    v->info = kiln_metric_child(srv->f_info, info);
    kiln_metric_set(v->load_g, v->load_s);
    kiln_metric_set(v->warmup_g, v->warmup_s);
    kiln_metric_set(v->info, 1);
    if (v->schema->classifier && v->schema->n_classes <= MAX_CLASS_SERIES) {
        v->by_class = kiln_calloc(v->schema->n_classes, sizeof(*v->by_class));
        for (size_t k = 0; v->by_class != NULL && k < v->schema->n_classes; k++) {
            const char *cl[3] = { name, v->version, kiln_rt_class(v->model, k)->text };
            v->by_class[k] = kiln_metric_child(srv->f_class, cl);
        }
    }
}

/* Drops the per-version gauges of a superseded version (not its counters). */
static void served_metrics_retire(struct served *old)
{
    struct kiln_serve *srv = old->slot->srv;
    const char *mv[2] = { old->slot->name, old->version };
    const char *info[6] = { old->slot->name,
                            old->version,
                            old->slot->uri,
                            kiln_rt_flavor(old->model),
                            kiln_rt_engine(old->model),
                            task_name(old->model) };
    kiln_metric_remove(srv->f_load, mv);
    kiln_metric_remove(srv->f_warmup, mv);
    kiln_metric_remove(srv->f_info, info);
    old->load_g = old->warmup_g = old->info = NULL;
}

static int served_new(struct slot *sl, struct kiln_rt_model *m, const char *version,
                      int64_t reg_version, const char *source, struct kiln_profile *profile,
                      struct served **out, struct kiln_err *err)
{
    struct served *v = kiln_calloc(1, sizeof(*v));
    int rc;
    if (v == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    atomic_init(&v->refs, 1);
    pthread_mutex_init(&v->ws_mu, NULL);
    v->slot = sl;
    v->model = m;
    v->reg_version = reg_version;
    v->load_s = (double)kiln_rt_load_ns(m) / 1e9;
    v->warmup_s = (double)kiln_rt_warmup_ns(m) / 1e9;
    snprintf(v->version, sizeof(v->version), "%s", version);
    v->source = kiln_strdup(source);
    rc = v->source == NULL ? kiln_err_set(err, KILN_ENOMEM, "out of memory") : KILN_OK;
    if (rc == KILN_OK)
        rc = kiln_serve_schema_new(m, &v->schema, err);
    /* Workspaces up front (one per pool thread or core), so requests rarely allocate one. */
    for (int i = 0; rc == KILN_OK && i < sl->srv->workspaces; i++) {
        struct kiln_rt_ws *ws = kiln_rt_ws_new(m);
        if (ws == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory for workspaces");
        served_ws_put(v, ws);
    }
    if (rc == KILN_OK && sl->srv->rep != NULL) {
        v->rs = replica_stats_get(sl->srv->rep, reg_version);
        if (v->rs == NULL)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (rc != KILN_OK) {
        v->model = NULL; /* the caller still owns it */
        served_free(v);
        kiln_profile_free(profile);
        return rc;
    }
    if (sl->srv->rep != NULL)
        v->mw = monitor_attach(sl->srv->rep->mon, reg_version, profile, m);
    else
        kiln_profile_free(profile);
    served_metrics(v);
    *out = v;
    return KILN_OK;
}

/* Where a download of this slot goes: model_dir/NAME-SEQ, NAME reduced to safe characters. */
static int download_dir(struct slot *sl, struct kiln_buf *out)
{
    struct kiln_serve *srv = sl->srv;
    unsigned long seq = atomic_fetch_add(&srv->dir_seq, 1) + 1;
    int rc = kiln_buf_printf(out, "%s/", srv->model_dir);
    for (const char *p = sl->name; rc == KILN_OK && *p != '\0' && out->len < 200; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        rc = kiln_buf_putc(out, ok && !(c == '.' && p == sl->name) ? c : '_');
    }
    if (rc == KILN_OK)
        rc = kiln_buf_printf(out, "-%lu", seq);
    return rc;
}

/* 1 when another slot of the server (or the deployment candidate) serves version `version`. */
static int shown_elsewhere(struct slot *sl, const char *version)
{
    struct kiln_serve *srv = sl->srv;
    struct slot *other = NULL;
    struct served *v;
    int same;
    if (srv->rep == NULL)
        return 0;
    other = sl == srv->slots[0] ? srv->rep->cand : srv->slots[0];
    if (other == NULL || other == sl)
        return 0;
    v = slot_acquire(other);
    same = v != NULL && strcmp(v->version, version) == 0;
    served_release(v);
    return same;
}

void slot_publish(struct slot *sl, struct served *v)
{
    struct served *old;
    pthread_mutex_lock(&sl->mu);
    old = sl->cur;
    sl->cur = v;
    pthread_mutex_unlock(&sl->mu);
    if (old != NULL) {
        if ((v == NULL || strcmp(old->version, v->version) != 0) &&
            !shown_elsewhere(sl, old->version))
            served_metrics_retire(old);
        served_release(old);
    }
}

void slot_clear(struct slot *sl)
{
    slot_publish(sl, NULL);
}

/* The training profile next to the model (profile.json), or NULL (absent or unreadable). */
static struct kiln_profile *load_profile(struct slot *sl, const char *dir)
{
    struct kiln_profile *p = NULL;
    struct kiln_err err = { 0 };
    char path[PATH_MAX];
    if (sl->srv->rep == NULL)
        return NULL;
    snprintf(path, sizeof(path), "%s/profile.json", dir);
    if (access(path, F_OK) != 0)
        return NULL;
    if (kiln_profile_load(path, &p, &err) != KILN_OK) {
        kiln_log_warn("model '%s': ignoring its training profile (no feature drift): %s", sl->name,
                      err.msg);
        return NULL;
    }
    return p;
}

/* 1 when the slot serves that registry version already (or, without one, any version). */
static int same_version(struct slot *sl, int64_t version)
{
    struct served *cur = slot_acquire(sl);
    int same = cur != NULL && (version == 0 || cur->reg_version == version);
    served_release(cur);
    return same;
}

static int load_locked(struct slot *sl, const char *uri, int force, int *changed,
                       struct kiln_err *err)
{
    struct kiln_serve *srv = sl->srv;
    struct kiln_rt_load_opts opts = { srv->xgb_engine, 1, 0 };
    struct kiln_http_client *c = NULL;
    struct kiln_fetched f = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_profile *prof = NULL;
    struct served *v = NULL;
    struct kiln_buf dir;
    char version[32];
    int rc = KILN_OK, unchanged = 0;
    int64_t t0 = kiln_mono_ns();

    kiln_buf_init(&dir, PATH_MAX);
    if (sl->u.scheme != KILN_URI_LOCAL) {
        rc = kiln_http_client_new(srv->tracking_uri, 600000, &c, err);
        if (rc == KILN_OK)
            kiln_http_client_set_cancel(c, &srv->stopping);
    }
    if (rc == KILN_OK)
        rc = kiln_fetch_resolve(uri, c, &f, err);
    if (rc == KILN_OK && !force && same_version(sl, f.version)) {
        unchanged = 1;
        goto out;
    }
    if (rc == KILN_OK && f.remote) {
        if (download_dir(sl, &dir) != KILN_OK)
            rc = kiln_err_set(err, KILN_ETOOBIG, "model folder path too long");
        else
            rc = kiln_fetch_download(c, &f, dir.buf, err);
    }
    if (rc == KILN_OK)
        rc = kiln_rt_load(f.dir, &opts, &m, err);
    if (rc == KILN_OK)
        rc = kiln_rt_warmup(m, 0, err);
    if (rc == KILN_OK)
        prof = load_profile(sl, f.dir);
    sl->loads++;
    if (f.version > 0)
        snprintf(version, sizeof(version), "%lld", (long long)f.version);
    else
        snprintf(version, sizeof(version), "%llu", (unsigned long long)sl->loads);
    if (rc == KILN_OK) {
        rc = served_new(sl, m, version, f.version, f.source, prof, &v, err);
        prof = NULL; /* taken, success or not */
    }
    if (rc != KILN_OK)
        goto out;
    m = NULL;
    slot_publish(sl, v);
    kiln_log_info("model '%s' version %s ready: %s, %s/%s %s, %zu inputs; loaded in %.1f ms, "
                  "warmed up in %.2f ms (%.1f ms in all)",
                  sl->name, version, v->source, kiln_rt_flavor(v->model), kiln_rt_engine(v->model),
                  task_name(v->model), kiln_rt_n_inputs(v->model), v->load_s * 1e3,
                  v->warmup_s * 1e3, (double)(kiln_mono_ns() - t0) / 1e6);
out:
    *changed = rc == KILN_OK && !unchanged;
    kiln_fetch_release(&f); /* removes the download: the model is in memory now */
    kiln_rt_free(m);
    kiln_profile_free(prof);
    kiln_buf_release(&dir);
    kiln_http_client_free(c);
    return rc;
}

static int slot_load_uri_ex(struct slot *sl, const char *uri, int force, int *changed,
                            struct kiln_err *err);

int slot_load(struct slot *sl, int force, int *changed, struct kiln_err *err)
{
    return slot_load_uri_ex(sl, sl->uri, force, changed, err);
}

int slot_load_uri(struct slot *sl, const char *uri, struct kiln_err *err)
{
    return slot_load_uri_ex(sl, uri, 0, NULL, err);
}

static int slot_load_uri_ex(struct slot *sl, const char *uri, int force, int *changed,
                            struct kiln_err *err)
{
    int rc, ch = 0;
    pthread_mutex_lock(&sl->load_mu);
    rc = load_locked(sl, uri, force, &ch, err);
    pthread_mutex_unlock(&sl->load_mu);
    if (rc == KILN_OK)
        kiln_metric_inc(ch ? sl->swapped : sl->unchanged);
    else
        kiln_metric_inc(sl->failed);
    if (changed != NULL)
        *changed = ch;
    return rc;
}

int slot_new(struct kiln_serve *s, const char *name, const char *uri, struct slot **out,
             struct kiln_err *err)
{
    struct slot *sl = kiln_calloc(1, sizeof(*sl));
    int rc;
    if (sl == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&sl->mu, NULL);
    pthread_mutex_init(&sl->load_mu, NULL);
    sl->srv = s;
    sl->name = kiln_strdup(name);
    sl->uri = kiln_strdup(uri);
    rc = sl->name == NULL || sl->uri == NULL ? kiln_err_set(err, KILN_ENOMEM, "out of memory")
                                             : kiln_uri_parse(uri, &sl->u, err);
    if (rc != KILN_OK) {
        slot_free(sl);
        return rc;
    }
    *out = sl;
    return KILN_OK;
}

void slot_free(struct slot *sl)
{
    if (sl == NULL)
        return;
    served_release(sl->cur);
    pthread_mutex_destroy(&sl->mu);
    pthread_mutex_destroy(&sl->load_mu);
    kiln_uri_release(&sl->u);
    kiln_free(sl->name);
    kiln_free(sl->uri);
    kiln_free(sl);
}

/*
 * quality_track.c - drift and validation results to a tracking run (see quality_track.h).
 *
 * Requests, in order: runs/log-batch with the metrics (at most 1000 per request, MLflow's
 * limit) and the tags; runs/get for the run's artifact_uri; PUT of the HTML report to the
 * artifact proxy under that URI (mlflow-artifacts:/<exp>/<run>/artifacts ->
 * /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<file>). Non-finite values (an
 * infinite chi-square statistic) are not logged: MLflow metrics must be finite.
 */
#include "cli/quality_track.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "artifacts/artifacts.h"
#include "cli/cli.h"
#include "core/arena.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"
#include "core/uri.h"
#include "http/client.h"

#define PROXY "/api/2.0/mlflow-artifacts/artifacts"
#define BATCH 1000

struct logger {
    struct kiln_http_client *c;
    const char *uri;
    const char *run_id;
    json_t *metrics, *tags;
    int64_t now;
};

/* MLflow accepts alphanumerics, _ - . / and spaces in keys; anything else becomes '_'. */
static void key_of(const char *prefix, const char *name, const char *suffix, char *out, size_t size)
{
    size_t k = 0;
    const char *parts[3] = { prefix, name, suffix };
    for (int p = 0; p < 3; p++)
        for (const char *s = parts[p]; s != NULL && *s != '\0' && k + 1 < size; s++) {
            char c = *s;
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || c == '.' || c == '/' || c == ' ';
            out[k++] = ok ? c : '_';
        }
    out[k] = '\0';
}

static int metric(struct logger *l, const char *prefix, const char *name, const char *suffix,
                  double v)
{
    char key[256];
    json_t *m;
    if (!isfinite(v))
        return KILN_OK;
    key_of(prefix, name, suffix, key, sizeof(key));
    m = json_pack("{ss sf sI sI}", "key", key, "value", v, "timestamp", (json_int_t)l->now, "step",
                  (json_int_t)0);
    if (m == NULL || json_array_append_new(l->metrics, m) != 0)
        return KILN_ENOMEM;
    return KILN_OK;
}

static int tag(struct logger *l, const char *key, const char *value)
{
    json_t *t = json_pack("{ss ss}", "key", key, "value", value != NULL ? value : "");
    if (t == NULL || json_array_append_new(l->tags, t) != 0)
        return KILN_ENOMEM;
    return KILN_OK;
}

static int open_logger(struct logger *l, const char *tracking, const char *run_id,
                       struct kiln_err *err)
{
    struct kiln_uri u;
    int rc;
    memset(l, 0, sizeof(*l));
    l->uri = kiln_cli_tracking_uri(tracking);
    l->run_id = run_id;
    l->now = kiln_now_ms();
    rc = kiln_uri_parse(l->uri, &u, err);
    if (rc == KILN_OK && u.scheme != KILN_URI_HTTP)
        rc =
            kiln_err_set(err, KILN_EINVAL,
                         "tracking URI '%s' is not an http(s):// URL of a tracking server", l->uri);
    kiln_uri_release(&u);
    if (rc != KILN_OK)
        return rc;
    l->metrics = json_array();
    l->tags = json_array();
    if (l->metrics == NULL || l->tags == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    return kiln_http_client_new(l->uri, 0, &l->c, err);
}

static void close_logger(struct logger *l)
{
    json_decref(l->metrics);
    json_decref(l->tags);
    kiln_http_client_free(l->c);
}

/* Sends the metrics (and tags with the first batch). */
static int send_batches(struct logger *l, struct kiln_err *err)
{
    size_t n = json_array_size(l->metrics), i = 0;
    do {
        json_t *req = json_object(), *part = json_array(), *out = NULL;
        int rc;
        for (size_t k = i; k < n && k < i + BATCH; k++)
            json_array_append(part, json_array_get(l->metrics, k));
        if (req == NULL || part == NULL ||
            json_object_set_new(req, "run_id", json_string(l->run_id)) != 0 ||
            json_object_set_new(req, "metrics", part) != 0 ||
            json_object_set(req, "tags", i == 0 ? l->tags : json_array()) != 0) {
            json_decref(req);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
        rc = kiln_http_client_json(l->c, "POST", "/api/2.0/mlflow/runs/log-batch", req, &out, err);
        json_decref(req);
        json_decref(out);
        if (rc != KILN_OK) {
            char msg[KILN_ERR_MSG_MAX];
            kiln_strlcpy(msg, kiln_err_msg(err, rc), sizeof(msg));
            return kiln_err_set(err, rc, "logging to run '%s' on %s: %s", l->run_id, l->uri, msg);
        }
        i += BATCH;
    } while (i < n);
    return KILN_OK;
}

/* PUTs the report under the run's artifact root on the artifact proxy. */
static int put_report(struct logger *l, const char *file, const struct kiln_buf *html,
                      struct kiln_err *err)
{
    json_t *req = json_pack("{ss ss}", "run_id", l->run_id, "run_uuid", l->run_id), *out = NULL;
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_http_client *proxy = l->c;
    struct kiln_buf path, body;
    const char *uri, *rel = NULL;
    int rc, status = 0;

    kiln_buf_init(&path, 8192);
    kiln_buf_init(&body, 1 << 16);
    if (req == NULL || arena == NULL) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    rc = kiln_http_client_json(l->c, "GET", "/api/2.0/mlflow/runs/get", req, &out, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "run '%s' not found on %s", l->run_id, l->uri);
    if (rc != KILN_OK)
        goto out;
    uri = json_string_value(
        json_object_get(json_object_get(json_object_get(out, "run"), "info"), "artifact_uri"));
    if (uri == NULL) {
        rc = kiln_err_set(err, KILN_EIO, "runs/get for '%s' gave no artifact_uri", l->run_id);
        goto out;
    }
    rc = kiln_artifact_uri_to_path(uri, NULL, arena, &rel, err);
    if (rc == KILN_ENOTSUP)
        rc = kiln_err_set(err, rc,
                          "run '%s' keeps its artifacts at '%s', which the tracking server does "
                          "not proxy: the report was not uploaded",
                          l->run_id, uri);
    if (rc != KILN_OK)
        goto out;
    if (kiln_cstr_has_prefix(uri, "mlflow-artifacts://")) {
        /* Another host serves the artifacts (MLflow's resolution: same scheme and prefix). */
        struct kiln_uri a, t;
        if ((rc = kiln_uri_parse(uri, &a, err)) != KILN_OK)
            goto out;
        if ((rc = kiln_uri_parse(l->uri, &t, err)) == KILN_OK) {
            if (a.host != NULL && *a.host != '\0') {
                char *base = kiln_arena_printf(arena, "%s://%s%s", t.tls ? "https" : "http", a.host,
                                               t.path != NULL ? t.path : "");
                rc = base != NULL ? kiln_http_client_new(base, 0, &proxy, err) : KILN_ENOMEM;
            }
            kiln_uri_release(&t);
        }
        kiln_uri_release(&a);
        if (rc != KILN_OK)
            goto out;
    }
    if ((rc = kiln_buf_puts(&path, PROXY "/")) != KILN_OK ||
        (*rel != '\0' && ((rc = kiln_url_encode(rel, strlen(rel), 1, &path)) != KILN_OK ||
                          (rc = kiln_buf_putc(&path, '/')) != KILN_OK)) ||
        (rc = kiln_buf_puts(&path, file)) != KILN_OK) {
        rc = kiln_err_set(err, rc, "artifact path too long");
        goto out;
    }
    rc = kiln_http_client_call(proxy, "PUT", path.buf, "text/html; charset=utf-8", html->buf,
                               html->len, &status, &body, err);
    if (rc == KILN_OK && status != 200)
        rc = kiln_err_set(err, KILN_EIO, "uploading %s to run '%s' failed (HTTP %d): %.200s", file,
                          l->run_id, status, body.buf);
out:
    if (proxy != l->c)
        kiln_http_client_free(proxy);
    json_decref(req);
    json_decref(out);
    kiln_arena_free(arena);
    kiln_buf_release(&path);
    kiln_buf_release(&body);
    return rc;
}

int kiln_qtrack_drift(const char *tracking, const char *run_id, const struct kiln_drift_result *r,
                      struct kiln_err *err)
{
    struct logger l;
    struct kiln_buf html;
    int rc = open_logger(&l, tracking, run_id, err);
    kiln_buf_init(&html, (size_t)1 << 30);
    if (rc == KILN_OK &&
        (metric(&l, "drift.dataset_drift", NULL, NULL, r->dataset_drift) != KILN_OK ||
         metric(&l, "drift.drift_share", NULL, NULL, r->drift_share) != KILN_OK ||
         metric(&l, "drift.drifted_columns", NULL, NULL, (double)r->n_drifted) != KILN_OK ||
         metric(&l, "drift.checked_columns", NULL, NULL, (double)r->n_checked) != KILN_OK ||
         tag(&l, "kiln.drift.reference", r->reference) != KILN_OK ||
         tag(&l, "kiln.drift.current", r->current) != KILN_OK))
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == KILN_OK && i < r->ncols; i++) {
        const struct kiln_drift_column *c = &r->cols[i];
        if (c->error != NULL)
            continue;
        if (metric(&l, "drift.", c->name, ".statistic", c->statistic) != KILN_OK ||
            metric(&l, "drift.", c->name, ".p_value", c->p_value) != KILN_OK ||
            metric(&l, "drift.", c->name, ".drifted", c->drifted) != KILN_OK)
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    if (rc == KILN_OK)
        rc = send_batches(&l, err);
    if (rc == KILN_OK && (rc = kiln_drift_result_html(r, &html)) != KILN_OK)
        kiln_err_set(err, rc, "cannot render the report");
    if (rc == KILN_OK)
        rc = put_report(&l, "drift_report.html", &html, err);
    kiln_buf_release(&html);
    close_logger(&l);
    return rc;
}

int kiln_qtrack_validation(const char *tracking, const char *run_id,
                           const struct kiln_validation *v, struct kiln_err *err)
{
    struct logger l;
    struct kiln_buf html;
    int rc = open_logger(&l, tracking, run_id, err);
    double pct = v->evaluated ? 100.0 * (double)v->successful / (double)v->evaluated : 100.0;
    kiln_buf_init(&html, (size_t)1 << 30);
    if (rc == KILN_OK && (metric(&l, "validation.success", NULL, NULL, v->success) != KILN_OK ||
                          metric(&l, "validation.evaluated_expectations", NULL, NULL,
                                 (double)v->evaluated) != KILN_OK ||
                          metric(&l, "validation.successful_expectations", NULL, NULL,
                                 (double)v->successful) != KILN_OK ||
                          metric(&l, "validation.unsuccessful_expectations", NULL, NULL,
                                 (double)(v->evaluated - v->successful)) != KILN_OK ||
                          metric(&l, "validation.success_percent", NULL, NULL, pct) != KILN_OK ||
                          metric(&l, "validation.rows", NULL, NULL, (double)v->rows) != KILN_OK ||
                          tag(&l, "kiln.validation.data", v->data_name) != KILN_OK ||
                          tag(&l, "kiln.validation.suite", v->suite_name) != KILN_OK))
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
    if (rc == KILN_OK)
        rc = send_batches(&l, err);
    if (rc == KILN_OK && (rc = kiln_validation_html(v, &html)) != KILN_OK)
        kiln_err_set(err, rc, "cannot render the report");
    if (rc == KILN_OK)
        rc = put_report(&l, "validation_report.html", &html, err);
    kiln_buf_release(&html);
    close_logger(&l);
    return rc;
}

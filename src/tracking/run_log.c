/*
 * run_log.c - logging to runs: metrics, params, tags and log-batch (tracking.h).
 *
 * Semantics (mlflow-api.md §6):
 *   - metric history is append-only; an exact duplicate (key, value, timestamp, step) is
 *     dropped by the primary key; latest_metrics keeps, per key, the row with the greatest
 *     (step, timestamp, value), maintained by an upsert whose WHERE compares the row values;
 *     NaN is stored as value 0 with is_nan = 1 (SQL has no NaN), infinities as they are;
 *     metrics are staged and applied in slices (metric_stage.c) unless they name a logged
 *     model, then they are written through here;
 *   - params are write-once: the same value again is a no-op, another value is refused;
 *   - tags are upserted, mlflow.runName also renames the run.
 *
 * log-batch is the hot path (thousands of requests a second): validation runs first with no
 * allocation, then the writes run as one unit of kiln_store_write (group commit: concurrent
 * requests share one commit, each inside its own savepoint) executing cached prepared
 * statements reset between rows; nothing is allocated per row. Any failure rolls the whole
 * batch back and leaves other requests of the group untouched. log-metric, log-parameter and
 * set-tag take the same path.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tracking/tracking_int.h"

#define SQL_INSERT_METRIC                                                            \
    "INSERT INTO metrics (run_uuid, key, value, timestamp, step, is_nan, model_id, " \
    "dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
#define SQL_UPSERT_LATEST                                                                   \
    "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) "           \
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_uuid, key) DO UPDATE SET "                  \
    "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "        \
    "is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp, excluded.value) > " \
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
#define SQL_MODEL_METRIC                                                                \
    "INSERT INTO logged_model_metrics (model_id, key, value, is_nan, timestamp, step, " \
    "run_uuid, dataset_name, dataset_digest) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? "         \
    "WHERE EXISTS (SELECT 1 FROM logged_models WHERE model_id = ?) ON CONFLICT DO NOTHING"
#define SQL_INSERT_PARAM                                          \
    "INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?) " \
    "ON CONFLICT (run_uuid, key) DO NOTHING"

static int check_metric(const struct kiln_metric *m, const char *path, struct kiln_err *err)
{
    int rc = kiln_validate_key("Metric", path, m->key, err);
    if (rc != KILN_OK)
        return rc;
    if (m->timestamp < 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "Got invalid timestamp %lld for metric '%.64s' (value=%g). Timestamp "
                            "must be a nonnegative long (64-bit integer)",
                            (long long)m->timestamp, m->key, m->value);
    return KILN_OK;
}

/* Statements a metric write needs, prepared once per transaction. */
struct metric_stmts {
    struct kiln_stmt *insert, *latest, *model;
};

static void metric_stmts_finish(struct metric_stmts *s)
{
    kiln_stmt_finish(s->insert);
    kiln_stmt_finish(s->latest);
    kiln_stmt_finish(s->model);
}

static int write_metric(struct kiln_tx *tx, struct metric_stmts *s, const char *run_id,
                        const struct kiln_metric *m, struct kiln_err *err)
{
    int is_nan = isnan(m->value) ? 1 : 0;
    double v = is_nan ? 0.0 : m->value;
    int rc;

    if (s->insert == NULL) {
        rc = kiln_tx_prepare(tx, SQL_INSERT_METRIC, &s->insert, err);
        if (rc == KILN_OK)
            rc = kiln_tx_prepare(tx, SQL_UPSERT_LATEST, &s->latest, err);
        if (rc != KILN_OK)
            return rc;
    }
    kiln_stmt_reset(s->insert);
    kiln_stmt_bind_text(s->insert, 1, run_id);
    kiln_stmt_bind_text(s->insert, 2, m->key);
    kiln_stmt_bind_double(s->insert, 3, v);
    kiln_stmt_bind_int64(s->insert, 4, m->timestamp);
    kiln_stmt_bind_int64(s->insert, 5, m->step);
    kiln_stmt_bind_int64(s->insert, 6, is_nan);
    kiln_stmt_bind_text(s->insert, 7, m->model_id);
    kiln_stmt_bind_text(s->insert, 8, m->dataset_name);
    kiln_stmt_bind_text(s->insert, 9, m->dataset_digest);
    rc = kiln_stmt_step(s->insert, err);
    if (rc < 0)
        return rc;
    if (kiln_tx_changes(tx) == 0)
        return KILN_OK; /* exact duplicate: history and latest unchanged */
    kiln_stmt_reset(s->latest);
    kiln_stmt_bind_text(s->latest, 1, run_id);
    kiln_stmt_bind_text(s->latest, 2, m->key);
    kiln_stmt_bind_double(s->latest, 3, v);
    kiln_stmt_bind_int64(s->latest, 4, m->timestamp);
    kiln_stmt_bind_int64(s->latest, 5, m->step);
    kiln_stmt_bind_int64(s->latest, 6, is_nan);
    rc = kiln_stmt_step(s->latest, err);
    if (rc < 0)
        return rc;
    if (m->model_id == NULL || *m->model_id == '\0')
        return KILN_OK;
    /* A metric logged for a logged model is also recorded on that model (when it exists). */
    if (s->model == NULL) {
        rc = kiln_tx_prepare(tx, SQL_MODEL_METRIC, &s->model, err);
        if (rc != KILN_OK)
            return rc;
    }
    kiln_stmt_reset(s->model);
    kiln_stmt_bind_text(s->model, 1, m->model_id);
    kiln_stmt_bind_text(s->model, 2, m->key);
    kiln_stmt_bind_double(s->model, 3, v);
    kiln_stmt_bind_int64(s->model, 4, is_nan);
    kiln_stmt_bind_int64(s->model, 5, m->timestamp);
    kiln_stmt_bind_int64(s->model, 6, m->step);
    kiln_stmt_bind_text(s->model, 7, run_id);
    kiln_stmt_bind_text(s->model, 8, m->dataset_name);
    kiln_stmt_bind_text(s->model, 9, m->dataset_digest);
    kiln_stmt_bind_text(s->model, 10, m->model_id);
    rc = kiln_stmt_step(s->model, err);
    return rc < 0 ? rc : KILN_OK;
}

/*
 * Writes n metrics: each run of metrics without a model_id is staged (metric_stage.c), the
 * others are written through at once (they also go to their logged model); then one slice of
 * the stage is applied if its backlog is large.
 */
static int write_metrics(struct kiln_tx *tx, struct metric_stmts *s, const char *run_id,
                         const struct kiln_metric *m, size_t n, struct kiln_err *err)
{
    size_t i = 0, staged = 0;
    int rc = KILN_OK;
    while (rc == KILN_OK && i < n) {
        size_t plain = 0;
        while (i + plain < n && (m[i + plain].model_id == NULL || *m[i + plain].model_id == '\0'))
            plain++;
        if (plain > 0) {
            rc = trk_stage_metrics(tx, run_id, &m[i], plain, err);
            staged += plain;
            i += plain;
        } else {
            rc = write_metric(tx, s, run_id, &m[i], err);
            i++;
        }
    }
    if (rc == KILN_OK && staged > 0)
        rc = trk_stage_maintain(tx, staged, err);
    return rc;
}

/*
 * Inserts a param unless present; a present param with another value is refused. `ins` is
 * prepared by the caller (kept across a batch).
 */
static int write_param(struct kiln_tx *tx, struct kiln_stmt *ins, const char *run_id,
                       const char *key, const char *value, size_t len, struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc;

    kiln_stmt_reset(ins);
    kiln_stmt_bind_text(ins, 1, run_id);
    kiln_stmt_bind_text(ins, 2, key);
    kiln_stmt_bind_textn(ins, 3, value, len);
    rc = kiln_stmt_step(ins, err);
    if (rc < 0)
        return rc;
    if (kiln_tx_changes(tx) > 0)
        return KILN_OK;
    rc = kiln_tx_prepare(tx, "SELECT value FROM params WHERE run_uuid = ? AND key = ?", &st, err);
    if (rc != KILN_OK)
        return rc;
    kiln_stmt_bind_text(st, 1, run_id);
    kiln_stmt_bind_text(st, 2, key);
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW) {
        const char *old = kiln_stmt_text(st, 0);
        size_t oldlen = kiln_stmt_bytes(st, 0);
        rc = KILN_OK;
        if (old == NULL || oldlen != len || memcmp(old, value, len) != 0)
            rc = kiln_err_set(err, KILN_EINVAL,
                              "Changing param values is not allowed. Param with key='%.64s' was "
                              "already logged with value='%.40s' for run ID='%.32s'. Attempted "
                              "logging new value '%.40s'.",
                              key, old != NULL ? old : "", run_id, value);
    } else if (rc == KILN_STMT_DONE) {
        rc = kiln_err_set(err, KILN_EINTERNAL, "param '%.64s' neither inserted nor found", key);
    }
    kiln_stmt_finish(st);
    return rc;
}

#define PCHUNK 5
#define SQL_INSERT_PARAMS_CHUNK                                                          \
    "INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), " \
    "(?, ?, ?), (?, ?, ?) ON CONFLICT (run_uuid, key) DO NOTHING"

/*
 * Writes n params: PCHUNK at a time with one statement when all of them are new (the common
 * case); when some already existed, each one of that chunk is checked on its own.
 */
static int write_params(struct kiln_tx *tx, const char *run_id, const struct kiln_kv *p,
                        const size_t *len, size_t n, struct kiln_err *err)
{
    struct kiln_stmt *ins = NULL, *chunk = NULL;
    size_t i = 0;
    int rc = kiln_tx_prepare(tx, SQL_INSERT_PARAM, &ins, err);

    while (rc == KILN_OK && i < n) {
        size_t step = n - i >= PCHUNK ? PCHUNK : 1;
        if (step == PCHUNK) {
            if (chunk == NULL)
                rc = kiln_tx_prepare(tx, SQL_INSERT_PARAMS_CHUNK, &chunk, err);
            if (rc != KILN_OK)
                break;
            kiln_stmt_reset(chunk);
            for (int k = 0; k < PCHUNK; k++) {
                kiln_stmt_bind_text(chunk, 3 * k + 1, run_id);
                kiln_stmt_bind_text(chunk, 3 * k + 2, p[i + k].key);
                kiln_stmt_bind_textn(chunk, 3 * k + 3, p[i + k].value != NULL ? p[i + k].value : "",
                                     len[i + k]);
            }
            rc = kiln_stmt_step(chunk, err);
            if (rc < 0)
                break;
            rc = KILN_OK;
            if (kiln_tx_changes(tx) == PCHUNK) {
                i += PCHUNK;
                continue;
            }
        }
        for (size_t k = 0; rc == KILN_OK && k < step; k++)
            rc = write_param(tx, ins, run_id, p[i + k].key,
                             p[i + k].value != NULL ? p[i + k].value : "", len[i + k], err);
        i += step;
    }
    kiln_stmt_finish(chunk);
    kiln_stmt_finish(ins);
    return rc;
}

/* Begins a write transaction on an active run. */
static int begin_on_run(struct kiln_store *store, const char *run_id, struct kiln_tx **tx,
                        struct kiln_err *err)
{
    int rc = kiln_store_begin(store, KILN_TX_WRITE, tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = trk_check_run(*tx, run_id, 1, NULL, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(*tx);
        *tx = NULL;
    }
    return rc;
}

static int finish(struct kiln_tx *tx, int rc, struct kiln_err *err)
{
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

struct metric_work {
    const char *run_id;
    const struct kiln_metric *m;
};

static int metric_write(struct kiln_tx *tx, void *ctx, struct kiln_err *err)
{
    const struct metric_work *w = ctx;
    struct metric_stmts s = { NULL, NULL, NULL };
    int rc = trk_check_run(tx, w->run_id, 1, NULL, err);
    if (rc == KILN_OK)
        rc = write_metrics(tx, &s, w->run_id, w->m, 1, err);
    metric_stmts_finish(&s);
    return rc;
}

int kiln_run_log_metric(struct kiln_store *store, const char *run_id, const struct kiln_metric *m,
                        struct kiln_err *err)
{
    struct metric_work w = { run_id, m };
    int rc = check_metric(m, "key", err);
    if (rc != KILN_OK)
        return rc;
    return kiln_store_write(store, metric_write, &w, err);
}

struct kv_work {
    const char *run_id, *key, *value;
    size_t len;
};

static int param_write(struct kiln_tx *tx, void *ctx, struct kiln_err *err)
{
    const struct kv_work *w = ctx;
    struct kiln_stmt *ins;
    int rc = trk_check_run(tx, w->run_id, 1, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_tx_prepare(tx, SQL_INSERT_PARAM, &ins, err);
    if (rc == KILN_OK) {
        rc = write_param(tx, ins, w->run_id, w->key, w->value, w->len, err);
        kiln_stmt_finish(ins);
    }
    return rc;
}

int kiln_run_log_param(struct kiln_store *store, const char *run_id, const char *key,
                       const char *value, struct kiln_err *err)
{
    struct kv_work w = { run_id, key, value != NULL ? value : "", 0 };
    int rc = kiln_validate_key("Param", "key", key, err);
    if (rc == KILN_OK)
        rc = trk_check_value("Param value", "value", w.value, KILN_PARAM_VALUE_MAX, 1, &w.len, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_store_write(store, param_write, &w, err);
}

static int tag_write(struct kiln_tx *tx, void *ctx, struct kiln_err *err)
{
    const struct kv_work *w = ctx;
    int rc = trk_check_run(tx, w->run_id, 1, NULL, err);
    if (rc == KILN_OK)
        rc = trk_set_run_tag(tx, w->run_id, w->key, w->value, w->len, err);
    return rc;
}

int kiln_run_set_tag(struct kiln_store *store, const char *run_id, const char *key,
                     const char *value, struct kiln_err *err)
{
    struct kv_work w = { run_id, key, value != NULL ? value : "", 0 };
    int rc = kiln_validate_key("Tag", "key", key, err);
    if (rc == KILN_OK)
        rc = trk_check_value("Tag value", "value", w.value, KILN_RUN_TAG_VALUE_MAX, 1, &w.len, err);
    if (rc != KILN_OK)
        return rc;
    return kiln_store_write(store, tag_write, &w, err);
}

int kiln_run_delete_tag(struct kiln_store *store, const char *run_id, const char *key,
                        struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int rc;

    if (key == NULL || *key == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'key'");
    rc = begin_on_run(store, run_id, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx, "DELETE FROM tags WHERE run_uuid = ? AND key = ?", &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, run_id);
        kiln_stmt_bind_text(st, 2, key);
        rc = kiln_stmt_step(st, err);
        kiln_stmt_finish(st);
        if (rc >= 0)
            rc = kiln_tx_changes(tx) > 0
                     ? KILN_OK
                     : kiln_err_set(err, KILN_ENOENT,
                                    "No tag with name: %.64s in run with id %.32s", key, run_id);
    }
    return finish(tx, rc, err);
}

/* The batch limits of §6, with MLflow's messages. */
static int check_batch_limits(size_t nm, size_t np, size_t nt, struct kiln_err *err)
{
    if (nm > KILN_BATCH_MAX_METRICS)
        return kiln_err_set(err, KILN_EINVAL,
                            "A batch logging request can contain at most %d metrics. Got %zu "
                            "metrics. Please split up metrics across multiple requests and try "
                            "again.",
                            KILN_BATCH_MAX_METRICS, nm);
    if (np > KILN_BATCH_MAX_PARAMS)
        return kiln_err_set(err, KILN_EINVAL,
                            "A batch logging request can contain at most %d params. Got %zu "
                            "params. Please split up params across multiple requests and try "
                            "again.",
                            KILN_BATCH_MAX_PARAMS, np);
    if (nt > KILN_BATCH_MAX_TAGS)
        return kiln_err_set(err, KILN_EINVAL,
                            "A batch logging request can contain at most %d tags. Got %zu tags. "
                            "Please split up tags across multiple requests and try again.",
                            KILN_BATCH_MAX_TAGS, nt);
    if (nm + np + nt > KILN_BATCH_MAX_TOTAL)
        return kiln_err_set(err, KILN_EINVAL,
                            "A batch logging request can contain at most %d total metrics, "
                            "params, and tags. Got %zu metrics, %zu params, and %zu tags. Please "
                            "split up the data across multiple requests and try again.",
                            KILN_BATCH_MAX_TOTAL, nm, np, nt);
    return KILN_OK;
}

/*
 * Checks element i of a batch's params or tags (`list`): its key, then its value, whose byte
 * length after truncation goes to *len. The element's path is formatted only on failure.
 */
static int check_kv(const char *kind, const char *value_kind, const char *list,
                    const struct kiln_kv *kv, size_t i, size_t max_value, size_t *len,
                    struct kiln_err *err)
{
    char path[40];
    if (kiln_validate_key(kind, "key", kv->key, err) != KILN_OK) {
        snprintf(path, sizeof(path), "%s[%zu].key", list, i);
        return kiln_validate_key(kind, path, kv->key, err);
    }
    if (trk_check_value(value_kind, "value", kv->value, max_value, 1, len, err) == KILN_OK)
        return KILN_OK;
    snprintf(path, sizeof(path), "%s[%zu].value", list, i);
    return trk_check_value(value_kind, path, kv->value, max_value, 1, len, err);
}

/*
 * Validates a batch without allocating. plen/tlen (caller arrays) receive the byte lengths of
 * param and tag values after MLflow's truncation. The checks are pure, so each runs first with
 * a generic path and, only when it fails, again with the element's own ("params[3].value"):
 * formatting twenty paths per request cost more than the checks themselves.
 */
static int check_batch(const struct kiln_metric *metrics, size_t nm, const struct kiln_kv *params,
                       size_t np, const struct kiln_kv *tags, size_t nt, size_t *plen, size_t *tlen,
                       struct kiln_err *err)
{
    char path[40];
    int rc = check_batch_limits(nm, np, nt, err);

    for (size_t i = 0; rc == KILN_OK && i < nm; i++) {
        if (check_metric(&metrics[i], "key", err) == KILN_OK)
            continue;
        snprintf(path, sizeof(path), "metrics[%zu].key", i);
        rc = check_metric(&metrics[i], path, err);
    }
    for (size_t i = 0; rc == KILN_OK && i < np; i++) {
        rc = check_kv("Param", "Param value", "params", &params[i], i, KILN_PARAM_VALUE_MAX,
                      &plen[i], err);
        for (size_t j = 0; rc == KILN_OK && j < i; j++)
            if (strcmp(params[i].key, params[j].key) == 0)
                rc = kiln_err_set(err, KILN_EINVAL,
                                  "Duplicate parameter keys have been submitted: ['%.64s']. Please "
                                  "ensure the request contains only one param value per param "
                                  "key.",
                                  params[i].key);
    }
    for (size_t i = 0; rc == KILN_OK && i < nt; i++)
        rc = check_kv("Tag", "Tag value", "tags", &tags[i], i, KILN_RUN_TAG_VALUE_MAX, &tlen[i],
                      err);
    return rc;
}

struct batch_work {
    const char *run_id;
    const struct kiln_metric *metrics;
    size_t nmetrics;
    const struct kiln_kv *params;
    size_t nparams;
    const struct kiln_kv *tags;
    size_t ntags;
    const size_t *plen, *tlen;
};

/* The write half of log-batch, run by kiln_store_write (possibly grouped with others). */
static int batch_write(struct kiln_tx *tx, void *ctx, struct kiln_err *err)
{
    const struct batch_work *b = ctx;
    struct metric_stmts ms = { NULL, NULL, NULL };
    int rc = trk_check_run(tx, b->run_id, 1, NULL, err);

    if (rc == KILN_OK && b->nparams > 0)
        rc = write_params(tx, b->run_id, b->params, b->plen, b->nparams, err);
    if (rc == KILN_OK)
        rc = write_metrics(tx, &ms, b->run_id, b->metrics, b->nmetrics, err);
    metric_stmts_finish(&ms);
    for (size_t i = 0; rc == KILN_OK && i < b->ntags; i++)
        rc = trk_set_run_tag(tx, b->run_id, b->tags[i].key,
                             b->tags[i].value != NULL ? b->tags[i].value : "", b->tlen[i], err);
    return rc;
}

int kiln_run_log_batch(struct kiln_store *store, const char *run_id,
                       const struct kiln_metric *metrics, size_t nmetrics,
                       const struct kiln_kv *params, size_t nparams, const struct kiln_kv *tags,
                       size_t ntags, struct kiln_err *err)
{
    size_t plen[KILN_BATCH_MAX_PARAMS], tlen[KILN_BATCH_MAX_TAGS];
    struct batch_work b = { run_id, metrics, nmetrics, params, nparams, tags, ntags, plen, tlen };
    int rc = check_batch(metrics, nmetrics, params, nparams, tags, ntags, plen, tlen, err);

    if (rc != KILN_OK)
        return rc;
    if (run_id == NULL || *run_id == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_id'");
    return kiln_store_write(store, batch_write, &b, err);
}

/*
 * metric_history.c - reading metric history: one metric of one run page by page
 * (get-history), and the sampled multi-run view the MLflow UI charts use
 * (get-history-bulk-interval).
 *
 * Both read in one read transaction (a consistent snapshot) and copy rows into the caller's
 * arena. History order is (timestamp, step, value), the metrics primary key order after
 * (run, key), so no sort is needed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tracking/tracking_int.h"

#define BULK_MAX_PER_RUN 25000

static int nomem(struct kiln_err *err)
{
    return kiln_err_set(err, KILN_ENOMEM, "out of memory");
}

static const char *dup_col(struct kiln_arena *arena, struct kiln_stmt *st, int col, int *oom)
{
    const char *s = kiln_stmt_text(st, col);
    char *c;
    if (s == NULL)
        return NULL;
    c = kiln_arena_strndup(arena, s, kiln_stmt_bytes(st, col));
    if (c == NULL)
        *oom = 1;
    return c;
}

/* Appends the current row (key, value, timestamp, step, is_nan, model_id, ds name, ds digest). */
static int append_row(struct kiln_arena *arena, struct kiln_stmt *st, const char *run_id,
                      struct kiln_metric_page *page, size_t *cap)
{
    struct kiln_metric *m = trk_grow(arena, page->items, page->n, cap, sizeof(*m));
    int oom = 0;
    if (m == NULL)
        return KILN_ENOMEM;
    page->items = m;
    m = &m[page->n++];
    memset(m, 0, sizeof(*m));
    m->key = dup_col(arena, st, 0, &oom);
    m->value = kiln_stmt_int64(st, 4) ? NAN : kiln_stmt_double(st, 1);
    m->timestamp = kiln_stmt_int64(st, 2);
    m->step = kiln_stmt_int64(st, 3);
    m->model_id = dup_col(arena, st, 5, &oom);
    m->dataset_name = dup_col(arena, st, 6, &oom);
    m->dataset_digest = dup_col(arena, st, 7, &oom);
    m->run_id = run_id;
    return oom ? KILN_ENOMEM : KILN_OK;
}

int kiln_metric_history(struct kiln_store *store, struct kiln_arena *arena, const char *run_id,
                        const char *key, int64_t max_results, const char *page_token,
                        struct kiln_metric_page *out, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    int64_t offset;
    size_t cap = 0;
    const char *rid;
    int rc;

    memset(out, 0, sizeof(*out));
    if (run_id == NULL || *run_id == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_id'");
    if (key == NULL || *key == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'metric_key'");
    rc = kiln_page_token_decode(page_token, &offset, err);
    if (rc != KILN_OK)
        return rc;
    rid = kiln_arena_strdup(arena, run_id);
    if (rid == NULL)
        return nomem(err);
    rc = kiln_metrics_begin_read(store, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_tx_prepare(tx,
                         "SELECT key, value, timestamp, step, is_nan, model_id, dataset_name, "
                         "dataset_digest FROM metrics WHERE run_uuid = ? AND key = ? "
                         "ORDER BY timestamp, step, value LIMIT ? OFFSET ?",
                         &st, err);
    if (rc == KILN_OK) {
        kiln_stmt_bind_text(st, 1, run_id);
        kiln_stmt_bind_text(st, 2, key);
        kiln_stmt_bind_int64(st, 3, max_results > 0 ? max_results + 1 : -1);
        kiln_stmt_bind_int64(st, 4, offset);
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            if (max_results > 0 && (int64_t)out->n == max_results) {
                out->next_page_token = kiln_page_token_encode(arena, offset + max_results);
                if (out->next_page_token == NULL)
                    rc = KILN_ENOMEM;
                break;
            }
            rc = append_row(arena, st, rid, out, &cap);
            if (rc != KILN_OK)
                break;
        }
        kiln_stmt_finish(st);
        if (rc == KILN_ENOMEM)
            rc = nomem(err);
        else if (rc >= 0)
            rc = KILN_OK;
    }
    kiln_store_rollback(tx);
    return rc;
}

struct steps {
    int64_t *v;
    size_t n, cap;
};

static int steps_push(struct kiln_arena *arena, struct steps *s, int64_t step)
{
    int64_t *nv = trk_grow(arena, s->v, s->n, &s->cap, sizeof(*nv));
    if (nv == NULL)
        return KILN_ENOMEM;
    s->v = nv;
    s->v[s->n++] = step;
    return KILN_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void sort_unique(struct steps *s)
{
    size_t w = 0;
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[w])
            s->v[++w] = s->v[i];
    s->n = w + 1;
}

static int contains(const struct steps *s, int64_t v)
{
    return s->n > 0 && bsearch(&v, s->v, s->n, sizeof(*s->v), cmp_i64) != NULL;
}

/* First index with v[i] >= x (left) or v[i] > x (right), as Python's bisect. */
static size_t bisect(const struct steps *s, int64_t x, int right)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < x || (right && s->v[mid] == x))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * The steps MLflow's handler samples: every logged step in range when they fit max_results,
 * else max_results evenly spaced ones plus the last; always each run's first and last step.
 * The `idx < num` test mirrors MLflow's (which compares an absolute index with a count).
 */
static int sample_steps(struct kiln_arena *arena, const struct steps *all,
                        const struct steps *edges, int64_t start, int64_t end, int64_t max_results,
                        struct steps *out)
{
    size_t lo = bisect(all, start, 0), hi = bisect(all, end, 1);
    size_t num = hi > lo ? hi - lo : 0;
    int rc = KILN_OK;

    memset(out, 0, sizeof(*out));
    if (num <= (size_t)max_results) {
        for (size_t i = lo; rc == KILN_OK && i < hi; i++)
            rc = steps_push(arena, out, all->v[i]);
    } else {
        double interval = (double)num / (double)max_results;
        for (int64_t i = 0; rc == KILN_OK && i < max_results; i++) {
            size_t idx = lo + (size_t)((double)i * interval);
            if (idx < num)
                rc = steps_push(arena, out, all->v[idx]);
        }
        if (rc == KILN_OK)
            rc = steps_push(arena, out, all->v[hi - 1]);
    }
    for (size_t i = 0; rc == KILN_OK && i < edges->n; i++)
        if (edges->v[i] >= start && edges->v[i] <= end)
            rc = steps_push(arena, out, edges->v[i]);
    sort_unique(out);
    return rc;
}

static int collect_steps(struct kiln_tx *tx, struct kiln_arena *arena, const char *const *run_ids,
                         size_t nruns, const char *key, struct steps *all, struct steps *edges,
                         struct kiln_err *err)
{
    struct kiln_stmt *st;
    int rc = kiln_tx_prepare(tx,
                             "SELECT DISTINCT step FROM metrics WHERE run_uuid = ? AND key = ? "
                             "ORDER BY step",
                             &st, err);
    if (rc != KILN_OK)
        return rc;
    for (size_t r = 0; r < nruns && rc >= 0; r++) {
        size_t first = all->n;
        kiln_stmt_reset(st);
        kiln_stmt_bind_text(st, 1, run_ids[r]);
        kiln_stmt_bind_text(st, 2, key);
        while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            if (steps_push(arena, all, kiln_stmt_int64(st, 0)) != KILN_OK) {
                rc = KILN_ENOMEM;
                break;
            }
        }
        if (rc >= 0 && all->n > first &&
            (steps_push(arena, edges, all->v[first]) != KILN_OK ||
             steps_push(arena, edges, all->v[all->n - 1]) != KILN_OK))
            rc = KILN_ENOMEM;
    }
    kiln_stmt_finish(st);
    if (rc == KILN_ENOMEM)
        return nomem(err);
    if (rc < 0)
        return rc;
    sort_unique(all);
    return KILN_OK;
}

static int check_bulk_args(size_t nruns, const char *key, int has_range, int64_t start, int64_t end,
                           int64_t max_results, struct kiln_err *err)
{
    if (nruns == 0)
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'run_ids'");
    if (nruns > KILN_METRIC_HISTORY_BULK_MAX_RUNS)
        return kiln_err_set(err, KILN_EINVAL,
                            "GetMetricHistoryBulkInterval request must specify at most %d "
                            "run_ids. Received %zu run_ids.",
                            KILN_METRIC_HISTORY_BULK_MAX_RUNS, nruns);
    if (key == NULL || *key == '\0')
        return kiln_err_set(err, KILN_EINVAL, "Missing value for required parameter 'metric_key'");
    if (max_results < 1 || max_results > KILN_METRIC_HISTORY_BULK_MAX_RESULTS)
        return kiln_err_set(err, KILN_EINVAL, "max_results must be between 1 and %d.",
                            KILN_METRIC_HISTORY_BULK_MAX_RESULTS);
    if (has_range && start > end)
        return kiln_err_set(err, KILN_EINVAL,
                            "end_step must be greater than start_step. Found start_step=%lld "
                            "and end_step=%lld.",
                            (long long)start, (long long)end);
    return KILN_OK;
}

int kiln_metric_history_bulk_interval(struct kiln_store *store, struct kiln_arena *arena,
                                      const char *const *run_ids, size_t nruns, const char *key,
                                      int has_range, int64_t start_step, int64_t end_step,
                                      int64_t max_results, struct kiln_metric_page *out,
                                      struct kiln_err *err)
{
    struct steps all = { NULL, 0, 0 }, edges = { NULL, 0, 0 }, sampled;
    struct kiln_tx *tx;
    struct kiln_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = check_bulk_args(nruns, key, has_range, start_step, end_step, max_results, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_metrics_begin_read(store, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = collect_steps(tx, arena, run_ids, nruns, key, &all, &edges, err);
    if (rc == KILN_OK && !has_range) {
        start_step = 0;
        end_step = all.n > 0 ? all.v[all.n - 1] : 0;
    }
    if (rc == KILN_OK &&
        sample_steps(arena, &all, &edges, start_step, end_step, max_results, &sampled) != KILN_OK)
        rc = nomem(err);
    if (rc == KILN_OK)
        rc = kiln_tx_prepare(tx,
                             "SELECT key, value, timestamp, step, is_nan, model_id, "
                             "dataset_name, dataset_digest FROM metrics WHERE run_uuid = ? AND "
                             "key = ? AND step BETWEEN ? AND ? ORDER BY step, timestamp, value",
                             &st, err);
    for (size_t r = 0; rc == KILN_OK && r < nruns && sampled.n > 0; r++) {
        const char *rid = kiln_arena_strdup(arena, run_ids[r]);
        size_t taken = 0;
        if (rid == NULL) {
            rc = nomem(err);
            break;
        }
        kiln_stmt_reset(st);
        kiln_stmt_bind_text(st, 1, run_ids[r]);
        kiln_stmt_bind_text(st, 2, key);
        kiln_stmt_bind_int64(st, 3, sampled.v[0]);
        kiln_stmt_bind_int64(st, 4, sampled.v[sampled.n - 1]);
        while (taken < BULK_MAX_PER_RUN && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
            if (!contains(&sampled, kiln_stmt_int64(st, 3)))
                continue;
            if (append_row(arena, st, rid, out, &cap) != KILN_OK) {
                rc = nomem(err);
                break;
            }
            taken++;
        }
        rc = rc < 0 ? rc : KILN_OK;
    }
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    return rc;
}

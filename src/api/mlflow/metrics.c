/*
 * metrics.c - MLflow REST handlers reading metric history: get-history (paged; absent or 0
 * max_results means all, unlike MLflow's quirk of returning nothing), get-history-bulk-interval
 * (sampled steps for charts) and the UI's get-history-bulk (several runs, one metric).
 */
#include <stdlib.h>
#include <string.h>

#include "api/mlflow/mlflow.h"

#define BULK_MAX_RUNS 100
#define BULK_MAX_RESULTS 25000

static int respond_metrics(struct kiln_http_resp *resp, const struct kiln_metric *m, size_t n,
                           const char *token, struct kiln_err *err)
{
    struct kiln_jsonw w;
    kiln_api_json_begin(resp, &w);
    kiln_jsonw_obj_begin(&w);
    kiln_mlflow_write_metric_list(&w, "metrics", m, n, 1);
    if (token != NULL)
        kiln_jsonw_kv_str(&w, "next_page_token", token);
    kiln_jsonw_obj_end(&w);
    return kiln_api_json_end(&w, err);
}

static int h_history(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct kiln_server *srv = app;
    struct kiln_metric_page page;
    const char *run_id, *key, *token;
    int64_t max_results = 0;
    json_t *doc;
    int rc = kiln_api_read(req, NULL, &doc, err);

    if (rc == KILN_OK)
        rc = kiln_mlflow_get_run_id(doc, &run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "metric_key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &max_results, NULL, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "page_token", KILN_JSON_OPTIONAL, &token, err);
    if (rc == KILN_OK && max_results < 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid value %lld for parameter 'max_results': must not be negative",
                          (long long)max_results);
    if (rc == KILN_OK)
        rc = kiln_metric_history(srv->store, req->arena, run_id, key, max_results, token, &page,
                                 err);
    if (rc != KILN_OK)
        return rc;
    return respond_metrics(resp, page.items, page.n, page.next_page_token, err);
}

static int h_bulk_interval(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                           struct kiln_err *err)
{
    static const char *const arrays[] = { "run_ids", NULL };
    struct kiln_server *srv = app;
    struct kiln_metric_page page;
    const char **run_ids, *key;
    size_t nruns;
    int64_t start = 0, end = 0, max_results = KILN_METRIC_HISTORY_BULK_MAX_RESULTS;
    int has_start = 0, has_end = 0;
    json_t *doc;
    int rc = kiln_api_read(req, arrays, &doc, err);

    if (rc == KILN_OK)
        rc = kiln_mlflow_read_strings(req, doc, "run_ids", &run_ids, &nruns, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "metric_key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "start_step", KILN_JSON_OPTIONAL, &start, &has_start, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "end_step", KILN_JSON_OPTIONAL, &end, &has_end, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &max_results, NULL, err);
    if (rc == KILN_OK && has_start != has_end)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "If either start step or end step are specified, both must be "
                          "specified.");
    if (rc == KILN_OK)
        rc = kiln_metric_history_bulk_interval(srv->store, req->arena, run_ids, nruns, key,
                                               has_start, start, end, max_results, &page, err);
    if (rc != KILN_OK)
        return rc;
    return respond_metrics(resp, page.items, page.n, NULL, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int h_bulk(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    static const char *const arrays[] = { "run_id", NULL };
    struct kiln_server *srv = app;
    struct kiln_metric *all = NULL;
    struct kiln_metric_page *pages;
    const char **run_ids, *key;
    size_t nruns, n = 0;
    int64_t max_results = BULK_MAX_RESULTS;
    json_t *doc;
    int rc = kiln_api_read(req, arrays, &doc, err);

    if (rc == KILN_OK)
        rc = kiln_mlflow_read_strings(req, doc, "run_id", &run_ids, &nruns, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_str(doc, "metric_key", KILN_JSON_REQUIRED, &key, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "max_results", KILN_JSON_OPTIONAL, &max_results, NULL, err);
    if (rc != KILN_OK)
        return rc;
    if (nruns == 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "GetMetricHistoryBulk request must specify at least one run_id.");
    if (nruns > BULK_MAX_RUNS)
        return kiln_err_set(err, KILN_EINVAL,
                            "GetMetricHistoryBulk request cannot specify more than %d run_ids. "
                            "Received %zu run_ids.",
                            BULK_MAX_RUNS, nruns);
    if (max_results <= 0 || max_results > BULK_MAX_RESULTS)
        max_results = BULK_MAX_RESULTS;
    qsort(run_ids, nruns, sizeof(*run_ids), cmp_str);
    pages = kiln_arena_calloc(req->arena, nruns, sizeof(*pages));
    if (pages == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t r = 0; r < nruns && (int64_t)n < max_results; r++) {
        rc = kiln_metric_history(srv->store, req->arena, run_ids[r], key, max_results, NULL,
                                 &pages[r], err);
        if (rc != KILN_OK)
            return rc;
        n += pages[r].n;
    }
    if ((int64_t)n > max_results)
        n = (size_t)max_results;
    if (n > 0) {
        size_t at = 0;
        all = kiln_arena_alloc(req->arena, n * sizeof(*all));
        if (all == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        for (size_t r = 0; r < nruns && at < n; r++) {
            size_t take = pages[r].n < n - at ? pages[r].n : n - at;
            if (take > 0)
                memcpy(all + at, pages[r].items, take * sizeof(*all));
            at += take;
        }
    }
    return respond_metrics(resp, all, n, NULL, err);
}

static const struct kiln_api_route routes[] = {
    { "GET", "/metrics/get-history", h_history },
    { "GET", "/metrics/get-history-bulk-interval", h_bulk_interval },
    { "GET", "/metrics/get-history-bulk", h_bulk },
};

int kiln_api_mlflow_metrics_routes(struct kiln_router *r)
{
    return kiln_api_add_mlflow(r, routes, KILN_ARRAY_LEN(routes));
}

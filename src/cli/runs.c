/*
 * runs.c - `kiln runs list` and `kiln runs show`, through the tracking server's MLflow REST API.
 *
 * list pages through runs/search and shows one line per run with up to MAX_METRIC_COLS metric
 * columns (the ones named in --order-by first, then the most common keys). show prints the
 * run's info, parameters, latest metrics, tags, inputs and top-level artifacts.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/tracking_cli.h"
#include "core/json.h"
#include "core/str.h"
#include "core/time.h"

#define MAX_METRIC_COLS 4

static const char usage[] =
    "usage: kiln runs <list|show> [options]\n"
    "\n"
    "  list --experiment NAME|ID [--filter EXPR] [--order-by KEY [ASC|DESC]]...\n"
    "       [--max-results N] [--view active|deleted|all] [--json]\n"
    "                      runs of an experiment; the filter uses MLflow's search grammar,\n"
    "                      e.g. \"metrics.accuracy > 0.9 and params.alpha = '0.01'\"\n"
    "  show RUN_ID [--json]\n"
    "                      a run's parameters, latest metrics, tags, inputs and artifacts\n"
    "\n"
    "common options:\n"
    "  --tracking-uri URI  server (default $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI,\n"
    "                      http://127.0.0.1:5000)\n"
    "  --json              machine-readable output\n";

static const char *tag_value(const json_t *run, const char *key)
{
    json_t *tags = json_object_get(json_object_get(run, "data"), "tags"), *t;
    size_t i;
    json_array_foreach(tags, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "key")), key) == 0)
            return json_string_value(json_object_get(t, "value"));
    }
    return NULL;
}

static const json_t *metric(const json_t *run, const char *key)
{
    json_t *ms = json_object_get(json_object_get(run, "data"), "metrics"), *m;
    size_t i;
    json_array_foreach(ms, i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "key")), key) == 0)
            return m;
    }
    return NULL;
}

static void format_value(const json_t *v, char *out, size_t size)
{
    if (json_is_number(v))
        snprintf(out, size, "%.6g", json_number_value(v));
    else if (json_is_string(v))
        snprintf(out, size, "%s", json_string_value(v));
    else
        snprintf(out, size, "-");
}

/* The key string of metric `key` as stored in the runs document (which outlives the table). */
static const char *find_metric_key(const json_t *runs, const char *key)
{
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        const json_t *m = metric(run, key);
        if (m != NULL)
            return json_string_value(json_object_get(m, "key"));
    }
    return NULL;
}

static int taken(const char **cols, size_t n, const char *k)
{
    for (size_t c = 0; c < n; c++)
        if (strcmp(cols[c], k) == 0)
            return 1;
    return 0;
}

/* Picks the metric columns: keys named in --order-by first, then the most frequent keys. */
static size_t pick_metric_cols(const json_t *runs, const struct kiln_strv *order_by,
                               const char **cols)
{
    json_t *counts = json_object(), *run, *m;
    size_t n = 0, i, j;

    for (i = 0; i < order_by->n && n < MAX_METRIC_COLS; i++) {
        const char *o = order_by->v[i], *k, *found;
        char key[256];
        size_t len;
        if (!kiln_cstr_has_prefix(o, "metrics.") && !kiln_cstr_has_prefix(o, "metric."))
            continue;
        k = strchr(o, '.') + 1;
        if (*k == '`' || *k == '"') {
            const char *end = strchr(k + 1, *k);
            len = end != NULL ? (size_t)(end - k - 1) : strlen(k + 1);
            k++;
        } else {
            len = strcspn(k, " ");
        }
        if (len >= sizeof(key))
            continue;
        memcpy(key, k, len);
        key[len] = '\0';
        found = find_metric_key(runs, key);
        if (found != NULL && !taken(cols, n, found))
            cols[n++] = found;
    }
    json_array_foreach(runs, i, run)
    {
        json_array_foreach(json_object_get(json_object_get(run, "data"), "metrics"), j, m)
        {
            const char *k = json_string_value(json_object_get(m, "key"));
            json_int_t c = json_integer_value(json_object_get(counts, k));
            json_object_set_new(counts, k, json_integer(c + 1));
        }
    }
    while (n < MAX_METRIC_COLS) {
        const char *best = NULL, *k;
        json_int_t best_n = 0;
        json_t *v;
        json_object_foreach(counts, k, v)
        {
            json_int_t c = json_integer_value(v);
            if (!taken(cols, n, k) &&
                (c > best_n || (c == best_n && best != NULL && strcmp(k, best) < 0))) {
                best = k;
                best_n = c;
            }
        }
        if (best == NULL)
            break;
        cols[n++] = find_metric_key(runs, best);
    }
    json_decref(counts);
    return n;
}

static int print_runs_table(const json_t *runs, const struct kiln_strv *order_by)
{
    const char *cols[MAX_METRIC_COLS];
    size_t ncols = pick_metric_cols(runs, order_by, cols), i;
    const char *head[5 + MAX_METRIC_COLS] = { "RUN ID", "NAME", "STATUS", "STARTED", "DURATION" };
    struct kiln_table *t;
    json_t *run;

    for (size_t c = 0; c < ncols; c++)
        head[5 + c] = cols[c];
    t = kiln_table_new(5 + ncols, head);
    if (t == NULL)
        return kiln_cli_fail("out of memory");
    for (size_t c = 0; c < ncols; c++)
        kiln_table_align_right(t, 5 + c);
    json_array_foreach(runs, i, run)
    {
        json_t *info = json_object_get(run, "info");
        char started[32], dur[32], vals[MAX_METRIC_COLS][32];
        const char *cells[5 + MAX_METRIC_COLS];
        json_t *st = json_object_get(info, "start_time"), *et = json_object_get(info, "end_time");
        kiln_time_format_short(json_integer_value(st), started, sizeof(started));
        kiln_cli_format_duration(et != NULL ? json_integer_value(et) - json_integer_value(st) : -1,
                                 dur, sizeof(dur));
        cells[0] = json_string_value(json_object_get(info, "run_id"));
        cells[1] = json_string_value(json_object_get(info, "run_name"));
        cells[2] = json_string_value(json_object_get(info, "status"));
        cells[3] = st != NULL ? started : "-";
        cells[4] = dur;
        for (size_t c = 0; c < ncols; c++) {
            const json_t *m = metric(run, cols[c]);
            format_value(m != NULL ? json_object_get(m, "value") : NULL, vals[c], sizeof(vals[c]));
            cells[5 + c] = vals[c];
        }
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    printf("%zu run%s\n", kiln_table_rows(t), kiln_table_rows(t) == 1 ? "" : "s");
    kiln_table_free(t);
    return KILN_EXIT_OK;
}

static int cmd_list(struct kiln_http_client *c, const char *experiment, const char *filter,
                    const struct kiln_strv *order_by, int64_t max_results, const char *view,
                    int as_json)
{
    char exp_id[32];
    const char *vt =
        view == NULL || strcmp(view, "active") == 0
            ? "ACTIVE_ONLY"
            : (strcmp(view, "deleted") == 0 ? "DELETED_ONLY"
                                            : (strcmp(view, "all") == 0 ? "ALL" : NULL));
    struct kiln_err err = { 0 };
    json_t *all, *page = NULL;
    const char *token = NULL;
    int rc;

    if (experiment == NULL)
        return kiln_cli_fail("runs list: --experiment NAME|ID is required");
    if (vt == NULL)
        return kiln_cli_fail("runs list: --view must be active, deleted or all");
    rc = kiln_cli_resolve_experiment(c, experiment, exp_id, sizeof(exp_id), &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    all = json_array();
    do {
        json_int_t want = max_results - (json_int_t)json_array_size(all);
        json_t *req = json_pack("{s:[s], s:s, s:I}", "experiment_ids", exp_id, "run_view_type", vt,
                                "max_results", (json_int_t)(want < 1000 ? want : 1000));
        json_t *ob = json_array();
        for (size_t i = 0; i < order_by->n; i++)
            json_array_append_new(ob, json_string(order_by->v[i]));
        json_object_set_new(req, "order_by", ob);
        if (filter != NULL)
            json_object_set_new(req, "filter", json_string(filter));
        if (token != NULL)
            json_object_set_new(req, "page_token", json_string(token));
        json_decref(page);
        page = NULL;
        rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/runs/search", req, &page, &err);
        json_decref(req);
        if (rc == KILN_OK)
            json_array_extend(all, json_object_get(page, "runs"));
        token = rc == KILN_OK ? json_string_value(json_object_get(page, "next_page_token")) : NULL;
    } while (rc == KILN_OK && token != NULL && *token != '\0' &&
             (int64_t)json_array_size(all) < max_results);
    if (rc != KILN_OK) {
        json_decref(page);
        json_decref(all);
        return kiln_cli_fail_rc(rc, &err);
    }
    if (as_json)
        kiln_cli_print_json(all);
    else
        rc = print_runs_table(all, order_by);
    json_decref(page);
    json_decref(all);
    return rc;
}

static void print_kv_section(const char *title, const json_t *list, const char *value_key,
                             int skip_system)
{
    static const char *const head[] = { "KEY", "VALUE" };
    struct kiln_table *t = kiln_table_new(2, head);
    size_t i;
    json_t *e;
    if (t == NULL)
        return;
    json_array_foreach(list, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "key"));
        char val[64];
        const char *cells[2] = { k, NULL };
        if (skip_system && kiln_cstr_has_prefix(k, "mlflow."))
            continue;
        format_value(json_object_get(e, value_key), val, sizeof(val));
        cells[1] = json_is_string(json_object_get(e, value_key))
                       ? json_string_value(json_object_get(e, value_key))
                       : val;
        kiln_table_add(t, cells);
    }
    if (kiln_table_rows(t) > 0) {
        printf("\n%s\n", title);
        kiln_table_print(t, stdout);
    }
    kiln_table_free(t);
}

static void print_artifacts(struct kiln_http_client *c, const char *run_id)
{
    json_t *req = json_pack("{s:s}", "run_id", run_id), *out = NULL, *f;
    struct kiln_err err = { 0 };
    size_t i;
    if (kiln_http_client_json(c, "GET", "/api/2.0/mlflow/artifacts/list", req, &out, &err) ==
            KILN_OK &&
        json_array_size(json_object_get(out, "files")) > 0) {
        printf("\nartifacts (%s)\n", json_string_value(json_object_get(out, "root_uri")));
        json_array_foreach(json_object_get(out, "files"), i, f)
        {
            json_t *size = json_object_get(f, "file_size");
            if (json_is_true(json_object_get(f, "is_dir")))
                printf("  %s/\n", json_string_value(json_object_get(f, "path")));
            else
                printf("  %s  (%lld bytes)\n", json_string_value(json_object_get(f, "path")),
                       (long long)json_integer_value(size));
        }
    }
    json_decref(req);
    json_decref(out);
}

static int cmd_show(struct kiln_http_client *c, const char *run_id, int as_json)
{
    json_t *req = json_pack("{s:s}", "run_id", run_id), *out = NULL, *run, *info, *d;
    struct kiln_err err = { 0 };
    char started[32], dur[32];
    const char *parent, *note;
    size_t i;
    int rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/runs/get", req, &out, &err);
    json_decref(req);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (as_json) {
        kiln_cli_print_json(out);
        json_decref(out);
        return KILN_EXIT_OK;
    }
    run = json_object_get(out, "run");
    info = json_object_get(run, "info");
    kiln_time_format_short(json_integer_value(json_object_get(info, "start_time")), started,
                           sizeof(started));
    kiln_cli_format_duration(json_object_get(info, "end_time") != NULL
                                 ? json_integer_value(json_object_get(info, "end_time")) -
                                       json_integer_value(json_object_get(info, "start_time"))
                                 : -1,
                             dur, sizeof(dur));
    printf("run        %s\n", json_string_value(json_object_get(info, "run_id")));
    printf("name       %s\n", json_string_value(json_object_get(info, "run_name")));
    printf("experiment %s\n", json_string_value(json_object_get(info, "experiment_id")));
    printf("status     %s (%s)\n", json_string_value(json_object_get(info, "status")),
           json_string_value(json_object_get(info, "lifecycle_stage")));
    printf("started    %s UTC, duration %s\n", started, dur);
    printf("user       %s\n", json_string_value(json_object_get(info, "user_id")));
    printf("artifacts  %s\n", json_string_value(json_object_get(info, "artifact_uri")));
    parent = tag_value(run, "mlflow.parentRunId");
    if (parent != NULL)
        printf("parent     %s\n", parent);
    note = tag_value(run, "mlflow.note.content");
    if (note != NULL)
        printf("note       %s\n", note);
    d = json_object_get(run, "data");
    print_kv_section("parameters", json_object_get(d, "params"), "value", 0);
    print_kv_section("metrics (latest)", json_object_get(d, "metrics"), "value", 0);
    print_kv_section("tags", json_object_get(d, "tags"), "value", 1);
    {
        json_t *inputs = json_object_get(json_object_get(run, "inputs"), "dataset_inputs"), *di;
        if (json_array_size(inputs) > 0)
            printf("\ninputs\n");
        json_array_foreach(inputs, i, di)
        {
            json_t *ds = json_object_get(di, "dataset");
            printf("  %s (digest %s, %s)\n", json_string_value(json_object_get(ds, "name")),
                   json_string_value(json_object_get(ds, "digest")),
                   json_string_value(json_object_get(ds, "source_type")));
        }
    }
    print_artifacts(c, run_id);
    json_decref(out);
    return KILN_EXIT_OK;
}

int kiln_cmd_runs(int argc, char **argv)
{
    const char *uri = NULL, *experiment = NULL, *filter = NULL, *view = NULL;
    int64_t max_results = 1000;
    int as_json = 0, rc;
    struct kiln_strv order_by = { 0 }, pos = { 0 };
    struct kiln_opt opts[] = {
        { "tracking-uri", 0, KILN_OPT_STR, &uri },
        { "json", 0, KILN_OPT_FLAG, &as_json },
        { "experiment", 'e', KILN_OPT_STR, &experiment },
        { "filter", 'f', KILN_OPT_STR, &filter },
        { "order-by", 0, KILN_OPT_MULTI, &order_by },
        { "max-results", 'n', KILN_OPT_INT, &max_results },
        { "view", 0, KILN_OPT_STR, &view },
    };
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };

    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    rc = kiln_cli_after_parse(rc, pos.n, "runs", usage, &err);
    if (rc >= 0)
        goto out;
    if (max_results < 1) {
        rc = kiln_cli_fail("runs: --max-results must be at least 1");
        goto out;
    }
    rc = kiln_cli_client(uri, &c);
    if (rc != KILN_EXIT_OK)
        goto out;
    if (strcmp(pos.v[0], "list") == 0 && pos.n == 1)
        rc = cmd_list(c, experiment, filter, &order_by, max_results, view, as_json);
    else if (strcmp(pos.v[0], "show") == 0 && pos.n == 2)
        rc = cmd_show(c, pos.v[1], as_json);
    else
        rc = kiln_cli_fail("runs: unknown or incomplete command '%s' (see 'kiln runs --help')",
                           pos.v[0]);
out:
    kiln_http_client_free(c);
    kiln_strv_release(&order_by);
    kiln_strv_release(&pos);
    return rc;
}

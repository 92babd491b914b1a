/*
 * pipeline.c - `kiln pipeline <verb>`: run and validate work on their own (pipeline_run.c);
 * apply, list, trigger, status, logs, cancel and backfill talk to a kiln server through the
 * REST API under /api/kiln/v1 (docs/pipelines.md). `step` is what built-in task kinds run
 * (pipeline_step.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/pipeline_cli.h"
#include "cli/tracking_cli.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"

static const char usage[] =
    "usage: kiln pipeline <verb> [options]\n"
    "\n"
    "  run FILE [--param K=V]...      run a pipeline to completion here, no server needed\n"
    "  validate FILE                  check a spec (keys, dependencies, templates, cron)\n"
    "  apply FILE                     send a spec to the server (schedules and triggers on)\n"
    "  list [NAME]                    pipelines, or the runs of one\n"
    "  trigger NAME [--param K=V]... [--wait]   start a run\n"
    "  status RUN                     a run's tasks, tries, durations and links\n"
    "  logs RUN TASK [--attempt N] [--follow]   a task's output\n"
    "  cancel RUN                     cancel a queued or running run\n"
    "  backfill NAME --from DATE --to DATE      runs for the schedule's past dates\n"
    "\n"
    "RUN is a run id or a unique prefix of one (6 characters or more).\n"
    "common options: --tracking-uri URI (server; default $KILN_TRACKING_URI,\n"
    "$MLFLOW_TRACKING_URI, http://127.0.0.1:5000), --json. Documentation: docs/pipelines.md\n";

struct common {
    const char *uri;
    int json;
    struct kiln_strv pos;
};

/* Parses verb options plus --tracking-uri and --json; prints errors. */
static int parse(int argc, char **argv, struct kiln_opt *extra, size_t nextra, struct common *c,
                 size_t npos, const char *verb_usage)
{
    struct kiln_opt opts[16];
    struct kiln_err err = { 0 };
    size_t n = 0;
    int rc;
    for (size_t i = 0; i < nextra && n < 14; i++)
        opts[n++] = extra[i];
    opts[n++] = (struct kiln_opt){ "tracking-uri", 0, KILN_OPT_STR, &c->uri };
    opts[n++] = (struct kiln_opt){ "json", 0, KILN_OPT_FLAG, &c->json };
    rc = kiln_opts_parse(argc, argv, opts, n, &c->pos, &err);
    if (rc == KILN_OPTS_HELP) {
        printf("usage: kiln pipeline %s\n", verb_usage);
        return -1;
    }
    if (rc != KILN_OK)
        return kiln_cli_fail("pipeline %s: %s", argv[0], err.msg);
    if (npos != (size_t)-1 ? c->pos.n != npos : c->pos.n > 1)
        return kiln_cli_fail("pipeline %s: expected %s (see 'kiln pipeline --help')", argv[0],
                             verb_usage);
    return KILN_EXIT_OK;
}

static int call(const char *uri, const char *method, const char *endpoint, json_t *payload,
                json_t **out)
{
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int code = kiln_cli_client(uri, &c), rc;
    if (code != KILN_EXIT_OK) {
        json_decref(payload);
        return code;
    }
    rc = kiln_http_client_json(c, method, endpoint, payload, out, &err);
    json_decref(payload);
    kiln_http_client_free(c);
    return rc == KILN_OK ? KILN_EXIT_OK : kiln_cli_fail_rc(rc, &err);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "-";
}

static void fmt_time(const json_t *v, char *out, size_t size)
{
    if (json_is_integer(v))
        kiln_time_format_short(json_integer_value(v), out, size);
    else
        snprintf(out, size, "-");
}

static void fmt_duration(const json_t *o, char *out, size_t size)
{
    const json_t *s = json_object_get(o, "start_time"), *e = json_object_get(o, "end_time");
    long long ms = -1;
    if (json_is_integer(s))
        ms = (long long)((json_is_integer(e) ? json_integer_value(e) : kiln_now_ms()) -
                         json_integer_value(s));
    kiln_cli_format_duration(ms, out, size);
}

static int cmd_apply(int argc, char **argv)
{
    struct common c = { 0 };
    struct kiln_pl_spec *spec = NULL;
    struct kiln_err err = { 0 };
    json_t *out = NULL;
    int code = parse(argc, argv, NULL, 0, &c, 1, "apply FILE");
    if (code != KILN_EXIT_OK)
        goto out;
    if (kiln_cli_pipeline_read_spec(c.pos.v[0], &spec, &err) != KILN_OK) {
        code = kiln_cli_fail_rc(err.rc, &err);
        goto out;
    }
    code = call(c.uri, "POST", "/api/kiln/v1/pipelines",
                json_pack("{s:s%, s:s, s:s}", "spec", spec->text, spec->text_len, "file",
                          c.pos.v[0], "base_dir", spec->base_dir),
                &out);
    if (code == KILN_EXIT_OK && c.json)
        kiln_cli_print_json(out);
    else if (code == KILN_EXIT_OK)
        printf("applied pipeline %s: version %lld%s\n", str(out, "pipeline"),
               (long long)json_integer_value(json_object_get(out, "version")),
               json_is_true(json_object_get(out, "created")) ? " (new)" : " (unchanged)");
out:
    json_decref(out);
    kiln_pl_spec_free(spec);
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

static void print_runs(const json_t *runs)
{
    static const char *const heads[] = { "RUN",          "STATE",   "TRIGGER",
                                         "LOGICAL DATE", "STARTED", "DURATION" };
    struct kiln_table *t = kiln_table_new(6, heads);
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        char logical[32], started[32], dur[32], id[16];
        const char *cells[6];
        snprintf(id, sizeof(id), "%.12s", str(r, "run_id"));
        fmt_time(json_object_get(r, "logical_date"), logical, sizeof(logical));
        fmt_time(json_object_get(r, "start_time"), started, sizeof(started));
        fmt_duration(r, dur, sizeof(dur));
        cells[0] = id;
        cells[1] = str(r, "state");
        cells[2] = str(r, "trigger");
        cells[3] = logical;
        cells[4] = started;
        cells[5] = dur;
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

static int cmd_list(int argc, char **argv)
{
    static const char *const heads[] = { "PIPELINE", "VERSION",  "TASKS", "SCHEDULE",
                                         "NEXT RUN", "LAST RUN", "STATE" };
    struct common c = { 0 };
    int64_t max = 20;
    struct kiln_opt extra[] = { { "max-results", 0, KILN_OPT_INT, &max } };
    json_t *out = NULL, *p;
    size_t i;
    char path[400];
    int code = parse(argc, argv, extra, 1, &c, (size_t)-1, "list [NAME] [--max-results N]");
    if (code != KILN_EXIT_OK)
        goto out;
    if (c.pos.n == 1)
        snprintf(path, sizeof(path), "/api/kiln/v1/pipelines/%s/runs?max_results=%lld", c.pos.v[0],
                 (long long)max);
    else
        snprintf(path, sizeof(path), "/api/kiln/v1/pipelines");
    code = call(c.uri, "GET", path, NULL, &out);
    if (code != KILN_EXIT_OK || c.json) {
        if (code == KILN_EXIT_OK)
            kiln_cli_print_json(out);
        goto out;
    }
    if (c.pos.n == 1) {
        print_runs(json_object_get(out, "runs"));
        goto out;
    }
    {
        struct kiln_table *t = kiln_table_new(7, heads);
        json_array_foreach(json_object_get(out, "pipelines"), i, p)
        {
            json_t *sch = json_object_get(p, "schedule");
            char ver[16], tasks[16], next[32], last[16], cron[120];
            const char *cells[7];
            snprintf(ver, sizeof(ver), "%lld",
                     (long long)json_integer_value(json_object_get(p, "current_version")));
            snprintf(tasks, sizeof(tasks), "%lld",
                     (long long)json_integer_value(json_object_get(p, "ntasks")));
            if (json_is_object(sch))
                snprintf(cron, sizeof(cron), "%s (%s)", str(sch, "cron"), str(sch, "timezone"));
            else
                snprintf(cron, sizeof(cron), "-");
            fmt_time(json_object_get(sch, "next_fire"), next, sizeof(next));
            snprintf(last, sizeof(last), "%.12s", str(p, "last_run_id"));
            cells[0] = str(p, "name");
            cells[1] = json_is_integer(json_object_get(p, "current_version")) ? ver : "-";
            cells[2] = tasks;
            cells[3] = cron;
            cells[4] = next;
            cells[5] = last;
            cells[6] = str(p, "last_run_state");
            kiln_table_add(t, cells);
        }
        kiln_table_print(t, stdout);
        kiln_table_free(t);
    }
out:
    json_decref(out);
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

static void print_status(const json_t *run)
{
    static const char *const heads[] = { "TASK", "STATE", "TRIES", "DURATION", "EXIT", "MESSAGE" };
    struct kiln_table *t = kiln_table_new(6, heads);
    char logical[32], dur[32];
    size_t i;
    json_t *ti, *l;
    fmt_time(json_object_get(run, "logical_date"), logical, sizeof(logical));
    fmt_duration(run, dur, sizeof(dur));
    printf("run %s of %s (version %lld): %s\n", str(run, "run_id"), str(run, "pipeline"),
           (long long)json_integer_value(json_object_get(run, "version")), str(run, "state"));
    printf("trigger %s, logical date %s, duration %s%s%s\n", str(run, "trigger"), logical, dur,
           json_is_string(json_object_get(run, "message")) ? ", " : "",
           json_is_string(json_object_get(run, "message")) ? str(run, "message") : "");
    json_array_foreach(json_object_get(run, "tasks"), i, ti)
    {
        json_t *atts = json_object_get(ti, "attempt_list"),
               *last = json_array_get(atts, json_array_size(atts) - 1);
        char tries[32], exit_s[16];
        const char *cells[6];
        fmt_duration(ti, dur, sizeof(dur));
        snprintf(tries, sizeof(tries), "%lld/%lld",
                 (long long)json_integer_value(json_object_get(ti, "tries")),
                 (long long)json_integer_value(json_object_get(ti, "max_tries")));
        if (json_is_integer(json_object_get(last, "exit_code")))
            snprintf(exit_s, sizeof(exit_s), "%lld",
                     (long long)json_integer_value(json_object_get(last, "exit_code")));
        else if (json_is_integer(json_object_get(last, "signal")))
            snprintf(exit_s, sizeof(exit_s), "sig %lld",
                     (long long)json_integer_value(json_object_get(last, "signal")));
        else
            snprintf(exit_s, sizeof(exit_s), "-");
        cells[0] = str(ti, "task");
        cells[1] = str(ti, "state");
        cells[2] = tries;
        cells[3] = dur;
        cells[4] = exit_s;
        cells[5] = json_string_value(json_object_get(ti, "message"));
        kiln_table_add(t, cells);
    }
    putchar('\n');
    kiln_table_print(t, stdout);
    kiln_table_free(t);
    json_array_foreach(json_object_get(run, "links"), i, l)
    {
        printf("%s %s%s%s\n", i == 0 ? "\nproduced:" : "         ", str(l, "kind"), " ",
               str(l, "ref"));
    }
}

static int get_run(const char *uri, const char *id, json_t **run)
{
    char path[200];
    json_t *out = NULL;
    int code;
    snprintf(path, sizeof(path), "/api/kiln/v1/pipeline-runs/%.64s", id);
    code = call(uri, "GET", path, NULL, &out);
    if (code == KILN_EXIT_OK)
        *run = json_incref(json_object_get(out, "run"));
    json_decref(out);
    return code;
}

static int run_final(const json_t *run)
{
    const char *s = str(run, "state");
    return strcmp(s, "success") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "canceled") == 0;
}

static int cmd_status(int argc, char **argv)
{
    struct common c = { 0 };
    json_t *run = NULL;
    int code = parse(argc, argv, NULL, 0, &c, 1, "status RUN [--json]");
    if (code == KILN_EXIT_OK)
        code = get_run(c.uri, c.pos.v[0], &run);
    if (code == KILN_EXIT_OK) {
        if (c.json)
            kiln_cli_print_json(run);
        else
            print_status(run);
    }
    json_decref(run);
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

static int cmd_trigger(int argc, char **argv)
{
    struct common c = { 0 };
    struct kiln_strv params = { 0 };
    const char *date = NULL;
    int wait = 0;
    struct kiln_opt extra[] = { { "param", 0, KILN_OPT_MULTI, &params },
                                { "logical-date", 0, KILN_OPT_STR, &date },
                                { "wait", 0, KILN_OPT_FLAG, &wait } };
    json_t *given = NULL, *out = NULL, *run = NULL;
    char path[300];
    int code = parse(argc, argv, extra, 3, &c, 1,
                     "trigger NAME [--param K=V]... [--logical-date DATE] [--wait]");
    if (code == KILN_EXIT_OK)
        code = kiln_cli_pipeline_params(&params, &given);
    if (code != KILN_EXIT_OK)
        goto out;
    snprintf(path, sizeof(path), "/api/kiln/v1/pipelines/%s/trigger", c.pos.v[0]);
    code = call(c.uri, "POST", path,
                json_pack("{s:O, s:s?}", "params", given, "logical_date", date), &out);
    if (code != KILN_EXIT_OK)
        goto out;
    if (!wait) {
        if (c.json)
            kiln_cli_print_json(out);
        else
            printf("triggered %s: run %s\n", c.pos.v[0], str(out, "run_id"));
        goto out;
    }
    fprintf(stderr, "triggered %s: run %s, waiting\n", c.pos.v[0], str(out, "run_id"));
    for (;;) {
        json_decref(run);
        run = NULL;
        code = get_run(c.uri, str(out, "run_id"), &run);
        if (code != KILN_EXIT_OK || run_final(run))
            break;
        kiln_sleep_ms(500);
    }
    if (code == KILN_EXIT_OK) {
        if (c.json)
            kiln_cli_print_json(run);
        else
            print_status(run);
        code = strcmp(str(run, "state"), "success") == 0 ? KILN_EXIT_OK : KILN_EXIT_FAIL;
    }
out:
    json_decref(given);
    json_decref(out);
    json_decref(run);
    kiln_strv_release(&params);
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

static int task_final(const json_t *run, const char *task)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(run, "tasks"), i, t)
    {
        if (strcmp(str(t, "task"), task) == 0) {
            const char *s = str(t, "state");
            return strcmp(s, "success") == 0 || strcmp(s, "failed") == 0 ||
                   strcmp(s, "skipped") == 0 || strcmp(s, "upstream_failed") == 0;
        }
    }
    return 1;
}

static int cmd_logs(int argc, char **argv)
{
    struct common c = { 0 };
    int64_t attempt = 0, offset = 0, shown = -1;
    int follow = 0;
    struct kiln_opt extra[] = { { "attempt", 0, KILN_OPT_INT, &attempt },
                                { "follow", 'f', KILN_OPT_FLAG, &follow } };
    int code = parse(argc, argv, extra, 2, &c, 2, "logs RUN TASK [--attempt N] [--follow]");
    while (code == KILN_EXIT_OK) {
        char path[400];
        json_t *out = NULL, *run = NULL;
        int64_t got;
        snprintf(path, sizeof(path),
                 "/api/kiln/v1/pipeline-runs/%.64s/tasks/%.128s/logs?format=json&attempt=%lld"
                 "&offset=%lld",
                 c.pos.v[0], c.pos.v[1], (long long)attempt, (long long)offset);
        code = call(c.uri, "GET", path, NULL, &out);
        if (code != KILN_EXIT_OK)
            break;
        got = json_integer_value(json_object_get(out, "attempt"));
        if (shown >= 0 && got != shown) { /* a retry started: show the new attempt */
            offset = 0;
            shown = got;
            printf("--- attempt %lld ---\n", (long long)got);
            json_decref(out);
            continue;
        }
        shown = got;
        fputs(str(out, "log"), stdout);
        fflush(stdout);
        offset = json_integer_value(json_object_get(out, "offset"));
        if (!follow) {
            json_decref(out);
            break;
        }
        if (json_is_true(json_object_get(out, "complete"))) {
            code = get_run(c.uri, c.pos.v[0], &run);
            if (code == KILN_EXIT_OK && (task_final(run, c.pos.v[1]) || run_final(run))) {
                json_decref(out);
                json_decref(run);
                break;
            }
            json_decref(run);
        }
        if (json_string_length(json_object_get(out, "log")) == 0)
            kiln_sleep_ms(250);
        json_decref(out);
    }
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

static int cmd_cancel(int argc, char **argv)
{
    struct common c = { 0 };
    json_t *out = NULL;
    char path[200];
    int code = parse(argc, argv, NULL, 0, &c, 1, "cancel RUN");
    if (code == KILN_EXIT_OK) {
        snprintf(path, sizeof(path), "/api/kiln/v1/pipeline-runs/%.64s/cancel", c.pos.v[0]);
        code = call(c.uri, "POST", path, json_object(), &out);
    }
    if (code == KILN_EXIT_OK) {
        if (c.json)
            kiln_cli_print_json(out);
        else
            printf("canceling run %s\n", str(out, "run_id"));
    }
    json_decref(out);
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

static int cmd_backfill(int argc, char **argv)
{
    struct common c = { 0 };
    const char *from = NULL, *to = NULL;
    struct kiln_opt extra[] = { { "from", 0, KILN_OPT_STR, &from },
                                { "to", 0, KILN_OPT_STR, &to } };
    json_t *out = NULL;
    char path[300];
    int code = parse(argc, argv, extra, 2, &c, 1, "backfill NAME --from DATE --to DATE");
    if (code == KILN_EXIT_OK && (from == NULL || to == NULL))
        code = kiln_cli_fail("pipeline backfill: --from and --to are required");
    if (code == KILN_EXIT_OK) {
        snprintf(path, sizeof(path), "/api/kiln/v1/pipelines/%s/backfill", c.pos.v[0]);
        code = call(c.uri, "POST", path, json_pack("{s:s, s:s}", "from", from, "to", to), &out);
    }
    if (code == KILN_EXIT_OK) {
        if (c.json) {
            kiln_cli_print_json(out);
        } else {
            size_t i;
            json_t *id;
            printf("backfill of %s: %zu run(s) created, %lld date(s) already had a run\n",
                   c.pos.v[0], json_array_size(json_object_get(out, "run_ids")),
                   (long long)json_integer_value(json_object_get(out, "skipped")));
            json_array_foreach(json_object_get(out, "run_ids"), i, id)
            {
                printf("  %s\n", json_string_value(id));
            }
        }
    }
    json_decref(out);
    kiln_strv_release(&c.pos);
    return code < 0 ? KILN_EXIT_OK : code;
}

int kiln_cmd_pipeline(int argc, char **argv)
{
    static const struct {
        const char *verb;
        int (*fn)(int, char **);
    } verbs[] = {
        { "run", kiln_cli_pipeline_run },
        { "validate", kiln_cli_pipeline_validate },
        { "apply", cmd_apply },
        { "list", cmd_list },
        { "trigger", cmd_trigger },
        { "status", cmd_status },
        { "logs", cmd_logs },
        { "cancel", cmd_cancel },
        { "backfill", cmd_backfill },
        { "step", kiln_cli_pipeline_step },
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? KILN_EXIT_USAGE : KILN_EXIT_OK;
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(verbs); i++)
        if (strcmp(argv[1], verbs[i].verb) == 0)
            return verbs[i].fn(argc - 1, argv + 1);
    return kiln_cli_fail("pipeline: unknown verb '%s' (see 'kiln pipeline --help')", argv[1]);
}

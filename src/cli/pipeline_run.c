/*
 * pipeline_run.c - `kiln pipeline run FILE` and `kiln pipeline validate FILE`: a pipeline run
 * to completion in this process, on the embedded store, with no server.
 *
 * The spec is recorded as a version of its pipeline (not applied: a server sharing the store
 * does not schedule it), one run is created for this process (owner "local:HOST:PID") and a
 * local scheduler runs it. Task state changes and task output stream to the terminal as they
 * happen, each output line prefixed with its task (coloured on a terminal); at the end a
 * table sums up every task. Ctrl-C cancels the run (its processes get SIGTERM, then SIGKILL);
 * a second Ctrl-C stops at once (the next run of this command records the run as failed).
 *
 * Threads: the observer callbacks run on the scheduler thread (states) and the executor
 * thread (output); `struct term` serialises them with its mutex.
 */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pipeline_cli.h"
#include "cli/tracking_cli.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/pipeline.h"
#include "store/migrations/migrations.h"
#include "store/store.h"

#define MAX_PARTIAL 8192

struct line_buf {
    char *task;
    struct kiln_buf b;
};

struct term {
    pthread_mutex_t mu;
    int color, quiet, silent;
    int64_t t0;
    size_t width;
    struct line_buf *lines;
    size_t nlines;
};

static const char *state_color(enum kiln_pl_ti s)
{
    switch (s) {
    case KILN_TI_RUNNING:
        return "\033[36m";
    case KILN_TI_SUCCESS:
        return "\033[32m";
    case KILN_TI_FAILED:
    case KILN_TI_UPSTREAM_FAILED:
        return "\033[31m";
    case KILN_TI_UP_FOR_RETRY:
        return "\033[33m";
    default:
        return "\033[90m";
    }
}

static struct line_buf *line_of(struct term *t, const char *task)
{
    struct line_buf *l;
    for (size_t i = 0; i < t->nlines; i++)
        if (strcmp(t->lines[i].task, task) == 0)
            return &t->lines[i];
    l = kiln_reallocarray(t->lines, t->nlines + 1, sizeof(*l));
    if (l == NULL)
        return NULL;
    t->lines = l;
    l = &t->lines[t->nlines];
    l->task = kiln_strdup(task);
    if (l->task == NULL)
        return NULL;
    kiln_buf_init(&l->b, MAX_PARTIAL);
    t->nlines++;
    return l;
}

static void print_line(struct term *t, const char *task, const char *s, size_t n)
{
    if (t->color)
        printf("\033[90m%*s |\033[0m %.*s\n", (int)t->width, task, (int)n, s);
    else
        printf("%*s | %.*s\n", (int)t->width, task, (int)n, s);
}

/* Prints what is left of a task's last, unterminated line. */
static void flush_partial(struct term *t, const char *task)
{
    struct line_buf *l = line_of(t, task);
    if (l != NULL && l->b.len > 0) {
        print_line(t, task, l->b.buf, l->b.len);
        kiln_buf_reset(&l->b);
    }
}

static void on_output(void *ctx, const char *run_id, const char *task, const char *data, size_t len)
{
    struct term *t = ctx;
    struct line_buf *l;
    (void)run_id;
    if (t->quiet)
        return;
    pthread_mutex_lock(&t->mu);
    l = line_of(t, task);
    while (l != NULL && len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) : len;
        if (nl == NULL) {
            if (kiln_buf_append(&l->b, data, n) != KILN_OK) {
                print_line(t, task, l->b.buf, l->b.len);
                kiln_buf_reset(&l->b);
                kiln_buf_append(&l->b, data, n < MAX_PARTIAL ? n : MAX_PARTIAL - 1);
            }
            break;
        }
        if (l->b.len > 0) {
            kiln_buf_append(&l->b, data, n);
            print_line(t, task, l->b.buf, l->b.len);
            kiln_buf_reset(&l->b);
        } else {
            print_line(t, task, data, n);
        }
        data += n + 1;
        len -= n + 1;
    }
    fflush(stdout);
    pthread_mutex_unlock(&t->mu);
}

static void on_task(void *ctx, const char *run_id, const char *task, enum kiln_pl_ti state,
                    int attempt, const char *message)
{
    struct term *t = ctx;
    double el = (double)(kiln_now_ms() - t->t0) / 1000;
    (void)run_id;
    if (t->silent || state == KILN_TI_SCHEDULED || state == KILN_TI_QUEUED || state == KILN_TI_NONE)
        return;
    pthread_mutex_lock(&t->mu);
    if (state != KILN_TI_RUNNING)
        flush_partial(t, task);
    printf("%s[%7.2fs] %-*s %s%s%s", t->color ? "\033[1m" : "", el, (int)t->width, task,
           t->color ? state_color(state) : "", kiln_pl_ti_name(state), t->color ? "\033[0m" : "");
    if (state == KILN_TI_RUNNING && attempt > 1)
        printf(" (attempt %d)", attempt);
    if (message != NULL)
        printf(": %s", message);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&t->mu);
}

static void on_run(void *ctx, const char *run_id, enum kiln_pl_run_state state, const char *message)
{
    (void)ctx;
    (void)run_id;
    (void)state;
    (void)message;
}

int kiln_cli_pipeline_read_spec(const char *file, struct kiln_pl_spec **spec, struct kiln_err *err)
{
    struct kiln_buf text, dir;
    char abs[PATH_MAX], *slash;
    int rc, have_abs = realpath(file, abs) != NULL;
    kiln_buf_init(&text, (size_t)1 << 20);
    kiln_buf_init(&dir, 8192);
    rc = kiln_read_file(file, &text, err);
    if (rc == KILN_ETOOBIG)
        rc = kiln_err_set(err, KILN_EINVAL, "%s: spec larger than 1 MiB", file);
    else if (rc != KILN_OK)
        rc = kiln_err_set(err, rc, "cannot read %s: %s", file, kiln_err_msg(err, rc));
    if (rc == KILN_OK && have_abs) {
        slash = strrchr(abs, '/');
        rc = kiln_buf_append(&dir, abs, slash != NULL && slash != abs ? (size_t)(slash - abs) : 1);
    }
    if (rc == KILN_OK)
        rc = kiln_pl_spec_parse(text.buf, text.len, file, dir.buf, spec, err);
    kiln_buf_release(&text);
    kiln_buf_release(&dir);
    return rc;
}

int kiln_cli_pipeline_params(const struct kiln_strv *kv, json_t **out)
{
    json_t *o = json_object();
    if (o == NULL)
        return kiln_cli_fail("out of memory");
    for (size_t i = 0; i < kv->n; i++) {
        const char *eq = strchr(kv->v[i], '=');
        if (eq == NULL || eq == kv->v[i]) {
            json_decref(o);
            return kiln_cli_fail("pipeline: --param '%s' is not NAME=VALUE", kv->v[i]);
        }
        json_object_setn_new(o, kv->v[i], (size_t)(eq - kv->v[i]), json_string(eq + 1));
    }
    *out = o;
    return KILN_EXIT_OK;
}

static const char run_usage[] =
    "usage: kiln pipeline run FILE [--param NAME=VALUE]... [options]\n"
    "\n"
    "Runs the pipeline in FILE to completion in this process (no server needed), streaming\n"
    "task states and output to the terminal. Exit 0 when the run succeeds, 1 when it fails or\n"
    "is canceled (Ctrl-C), 2 for an invalid spec or usage.\n"
    "\n"
    "options:\n"
    "  --param NAME=VALUE             a run parameter (repeatable)\n"
    "  --parallelism N                tasks running at once (default 8)\n"
    "  --backend-store-uri URI        store (default sqlite:///./kiln-data/kiln.db)\n"
    "  --artifacts-destination DIR    where logs go (default ./kiln-data/artifacts)\n"
    "  --tracking-uri URI             create tracking runs there (default $KILN_TRACKING_URI,\n"
    "                                 $MLFLOW_TRACKING_URI; none when unset)\n"
    "  --quiet                        task states only, no task output\n"
    "  --no-color                     plain output even on a terminal\n"
    "  --json                         print the finished run as JSON\n";

static int summarize(struct kiln_store *store, const char *run_id, const char *root, int json,
                     int color)
{
    static const char *const heads[] = { "TASK", "STATE", "TRIES", "DURATION", "MESSAGE" };
    struct kiln_err err = { 0 };
    json_t *run = NULL, *t;
    struct kiln_table *tab;
    const char *state;
    size_t i;
    int rc = kiln_pl_query_run(store, run_id, &run, &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    state = json_string_value(json_object_get(run, "state"));
    if (json) {
        kiln_cli_print_json(run);
    } else if ((tab = kiln_table_new(5, heads)) != NULL) {
        json_array_foreach(json_object_get(run, "tasks"), i, t)
        {
            char tries[32], dur[32];
            const char *cells[5];
            json_t *s0 = json_object_get(t, "start_time"), *e0 = json_object_get(t, "end_time");
            snprintf(tries, sizeof(tries), "%lld",
                     (long long)json_integer_value(json_object_get(t, "tries")));
            kiln_cli_format_duration(
                json_is_integer(s0) && json_is_integer(e0)
                    ? (long long)(json_integer_value(e0) - json_integer_value(s0))
                    : -1,
                dur, sizeof(dur));
            cells[0] = json_string_value(json_object_get(t, "task"));
            cells[1] = json_string_value(json_object_get(t, "state"));
            cells[2] = tries;
            cells[3] = dur;
            cells[4] = json_string_value(json_object_get(t, "message"));
            kiln_table_add(tab, cells);
        }
        kiln_table_align_right(tab, 2);
        putchar('\n');
        kiln_table_print(tab, stdout);
        kiln_table_free(tab);
        printf("\nrun %s %s%s%s (logs in %s/pipelines/%s/%s)\n", run_id,
               color ? (strcmp(state, "success") == 0 ? "\033[32m" : "\033[31m") : "", state,
               color ? "\033[0m" : "", root, json_string_value(json_object_get(run, "pipeline")),
               run_id);
    }
    rc = strcmp(state, "success") == 0 ? KILN_EXIT_OK : KILN_EXIT_FAIL;
    json_decref(run);
    return rc;
}

/* Waits for the run, turning the first Ctrl-C into a cancel and the second into an exit. */
static int wait_run(struct kiln_pl_sched *s, const sigset_t *sigs)
{
    int cancels = 0;
    while (!kiln_pl_sched_wait_idle(s, 100)) {
        struct timespec zero = { 0, 0 };
        int sig = sigtimedwait(sigs, NULL, &zero);
        if (sig != SIGINT && sig != SIGTERM)
            continue;
        if (cancels++ > 0) {
            fprintf(stderr, "kiln: stopping without waiting\n");
            return 1;
        }
        fprintf(stderr, "kiln: canceling the run (Ctrl-C again to stop at once)\n");
        kiln_pl_sched_cancel_all(s);
    }
    return 0;
}

static int run_pipeline(const char *file, const struct kiln_strv *params, int64_t parallelism,
                        const char *store_uri, const char *artifacts, const char *tracking,
                        int quiet, int color, int json)
{
    struct kiln_pl_spec *spec = NULL;
    struct kiln_store *store = NULL;
    struct kiln_pl_sched *sched = NULL;
    struct kiln_err err = { 0 };
    struct term term;
    struct kiln_pl_observer obs = { on_task, on_run, on_output, &term };
    struct kiln_pl_config cfg;
    json_t *given = NULL, *resolved = NULL;
    char owner[320], host[256], run_id[33], root[PATH_MAX];
    int version = 0, created = 0, rc, code = KILN_EXIT_USAGE;
    sigset_t sigs;

    memset(&term, 0, sizeof(term));
    pthread_mutex_init(&term.mu, NULL);
    rc = kiln_cli_pipeline_read_spec(file, &spec, &err);
    if (rc != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
        goto out;
    }
    if ((code = kiln_cli_pipeline_params(params, &given)) != KILN_EXIT_OK)
        goto out;
    code = KILN_EXIT_USAGE;
    rc = kiln_pl_params_resolve(spec, given, &resolved, &err);
    if (rc == KILN_OK)
        rc = kiln_mkdirs(artifacts, 0755, &err);
    if (rc == KILN_OK && realpath(artifacts, root) == NULL)
        rc = kiln_err_set(&err, KILN_EIO, "cannot resolve %s", artifacts);
    if (rc == KILN_OK)
        rc = kiln_store_open(store_uri, kiln_schema_all, 4, &store, &err);
    if (rc == KILN_OK)
        rc = kiln_pl_store_put_version(store, spec, 0, &version, &created, &err);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(owner, sizeof(owner), "local:%s:%ld", host, (long)getpid());
    if (rc == KILN_OK) {
        struct kiln_pl_new_run nr = { "manual", NULL, resolved, kiln_now_ms(), owner, NULL };
        rc = kiln_pl_store_create_run(store, spec, version, &nr, run_id, &err);
    }
    if (rc != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
        goto out;
    }
    term.color = color;
    term.quiet = quiet;
    term.silent = json;
    term.t0 = kiln_now_ms();
    for (size_t i = 0; i < spec->ntasks; i++)
        if (strlen(spec->tasks[i].name) > term.width)
            term.width = strlen(spec->tasks[i].name);
    memset(&cfg, 0, sizeof(cfg));
    cfg.store = store;
    cfg.artifacts_root = root;
    cfg.owner = owner;
    cfg.local = 1;
    cfg.parallelism = (int)parallelism;
    cfg.tracking_uri = tracking;
    cfg.observer = &obs;
    /* Signals go to sigtimedwait in wait_run, never to the scheduler's threads. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if (!json)
        printf("%s%s%s run %s (version %d%s), %zu tasks\n", color ? "\033[1m" : "", spec->name,
               color ? "\033[0m" : "", run_id, version, created ? ", new" : "", spec->ntasks);
    fflush(stdout);
    rc = kiln_pl_sched_new(&cfg, &sched, &err);
    if (rc == KILN_OK)
        rc = kiln_pl_sched_start(sched, &err);
    if (rc != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
        goto out;
    }
    if (wait_run(sched, &sigs) != 0) {
        code = KILN_EXIT_FAIL;
        goto out;
    }
    kiln_pl_sched_stop(sched);
    for (size_t i = 0; i < term.nlines; i++)
        flush_partial(&term, term.lines[i].task);
    code = summarize(store, run_id, root, json, color);
out:
    kiln_pl_sched_free(sched);
    kiln_store_close(store);
    kiln_pl_spec_free(spec);
    json_decref(given);
    json_decref(resolved);
    for (size_t i = 0; i < term.nlines; i++) {
        kiln_free(term.lines[i].task);
        kiln_buf_release(&term.lines[i].b);
    }
    kiln_free(term.lines);
    pthread_mutex_destroy(&term.mu);
    return code;
}

int kiln_cli_pipeline_run(int argc, char **argv)
{
    const char *store_uri = "sqlite:///./kiln-data/kiln.db", *artifacts = "./kiln-data/artifacts";
    const char *tracking = NULL;
    int64_t parallelism = 8;
    int quiet = 0, no_color = 0, json = 0, code;
    struct kiln_strv params = { 0 }, pos = { 0 };
    struct kiln_opt opts[] = {
        { "param", 0, KILN_OPT_MULTI, &params },
        { "parallelism", 0, KILN_OPT_INT, &parallelism },
        { "backend-store-uri", 0, KILN_OPT_STR, &store_uri },
        { "artifacts-destination", 0, KILN_OPT_STR, &artifacts },
        { "tracking-uri", 0, KILN_OPT_STR, &tracking },
        { "quiet", 'q', KILN_OPT_FLAG, &quiet },
        { "no-color", 0, KILN_OPT_FLAG, &no_color },
        { "json", 0, KILN_OPT_FLAG, &json },
    };
    struct kiln_err err = { 0 };
    int rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(run_usage, stdout);
        code = KILN_EXIT_OK;
    } else if (rc != KILN_OK) {
        code = kiln_cli_fail("pipeline run: %s (see 'kiln pipeline run --help')", err.msg);
    } else if (pos.n != 1) {
        code = kiln_cli_fail("pipeline run: give one spec FILE (see 'kiln pipeline run --help')");
    } else if (parallelism < 1 || parallelism > 10000) {
        code = kiln_cli_fail("pipeline run: --parallelism must be between 1 and 10000");
    } else {
        if (tracking == NULL)
            tracking = getenv("KILN_TRACKING_URI");
        if (tracking == NULL)
            tracking = getenv("MLFLOW_TRACKING_URI");
        code = run_pipeline(
            pos.v[0], &params, parallelism, store_uri, artifacts,
            tracking != NULL && tracking[0] != '\0' ? tracking : NULL, quiet || json,
            !no_color && !json && getenv("NO_COLOR") == NULL && kiln_cli_isatty(stdout), json);
    }
    kiln_strv_release(&params);
    kiln_strv_release(&pos);
    return code;
}

static const char validate_usage[] =
    "usage: kiln pipeline validate FILE [--json]\n"
    "\n"
    "Checks a pipeline spec without running it: every key, dependency (unknown tasks, cycles),\n"
    "template, cron expression and time zone. Prints the tasks in the order they can run and\n"
    "the next fire times. Exit 0 when valid, 2 with the line and reason when not.\n";

int kiln_cli_pipeline_validate(int argc, char **argv)
{
    struct kiln_strv pos = { 0 };
    struct kiln_pl_spec *spec = NULL;
    struct kiln_err err = { 0 };
    int json = 0, code = KILN_EXIT_OK, rc;
    struct kiln_opt opts[] = { { "json", 0, KILN_OPT_FLAG, &json } };
    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(validate_usage, stdout);
    } else if (rc != KILN_OK || pos.n != 1) {
        code = kiln_cli_fail("pipeline validate: %s (see 'kiln pipeline validate --help')",
                             rc != KILN_OK ? err.msg : "give one spec FILE");
    } else if ((rc = kiln_cli_pipeline_read_spec(pos.v[0], &spec, &err)) != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
    } else if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:[]}", "name", spec->name, "digest", spec->digest,
                              "ntasks", (json_int_t)spec->ntasks, "order");
        for (size_t i = 0; o != NULL && i < spec->ntasks; i++)
            json_array_append_new(json_object_get(o, "order"),
                                  json_string(spec->tasks[spec->topo[i]].name));
        kiln_cli_print_json(o);
        json_decref(o);
    } else {
        int64_t t = kiln_now_ms(), next;
        printf("%s: valid pipeline '%s' with %zu task%s (digest %.12s)\n", pos.v[0], spec->name,
               spec->ntasks, spec->ntasks == 1 ? "" : "s", spec->digest);
        printf("order:");
        for (size_t i = 0; i < spec->ntasks; i++)
            printf(" %s", spec->tasks[spec->topo[i]].name);
        putchar('\n');
        for (int i = 0; i < 3 && kiln_pl_spec_next_fire(spec, t, &next) == KILN_OK; i++) {
            char iso[40];
            kiln_time_format_iso(next, iso, sizeof(iso));
            printf("%s %s (%s)\n", i == 0 ? "next runs:" : "          ", iso, spec->tz_name);
            t = next;
        }
    }
    kiln_pl_spec_free(spec);
    kiln_strv_release(&pos);
    return code;
}

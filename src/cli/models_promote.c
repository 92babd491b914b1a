/*
 * models_promote.c - `kiln models promote|rollback|history|policy|events|webhooks`.
 *
 * promote first reads the environment's current version and sends it as expected_version, so
 * the server moves the alias only if nobody moved it in between (a concurrent promotion makes
 * this one fail with a conflict, exit 2). The gate report is printed in both outcomes; a
 * refusal (HTTP 422, PROMOTION_REFUSED) exits 1. events --follow long-polls the event feed
 * until interrupted (or --limit events have been printed).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/models_cli.h"
#include "cli/tracking_cli.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static const char *num(const json_t *v, char *buf, size_t size)
{
    if (json_is_number(v))
        snprintf(buf, size, "%.6g", json_number_value(v));
    else if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else
        snprintf(buf, size, "-");
    return buf;
}

static void print_report(const json_t *report)
{
    static const char *const head[] = { "GATE",   "SUBJECT", "OBSERVED", "BASELINE",
                                        "RESULT", "RULE",    "DETAIL" };
    struct kiln_table *t;
    const json_t *g;
    size_t i;
    if (json_array_size(json_object_get(report, "gates")) == 0) {
        printf("no gates for this environment\n");
        return;
    }
    t = kiln_table_new(7, head);
    kiln_table_align_right(t, 2);
    kiln_table_align_right(t, 3);
    json_array_foreach(json_object_get(report, "gates"), i, g)
    {
        char o[40], b[40];
        const char *cells[7] = { jstr(g, "gate"),
                                 jstr(g, "subject"),
                                 num(json_object_get(g, "observed"), o, sizeof(o)),
                                 num(json_object_get(g, "baseline"), b, sizeof(b)),
                                 json_is_true(json_object_get(g, "passed")) ? "pass" : "FAIL",
                                 jstr(g, "rule"),
                                 jstr(g, "detail") };
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

/* Calls a native endpoint and parses the JSON answer whatever the status. */
static int call(struct kiln_http_client *c, const char *method, const char *path,
                const json_t *body, int *status, json_t **out, struct kiln_err *err)
{
    struct kiln_buf resp;
    char *text = json_dumps(body, JSON_COMPACT);
    int rc;
    kiln_buf_init(&resp, (size_t)64 << 20);
    if (text == NULL) {
        kiln_buf_release(&resp);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    rc = kiln_http_client_call(c, method, path, "application/json", text, strlen(text), status,
                               &resp, err);
    kiln_free(text);
    *out = NULL;
    if (rc == KILN_OK && kiln_json_parse_object(resp.buf, resp.len, 0, out, NULL) != KILN_OK)
        rc = kiln_err_set(err, KILN_EIO, "%s %s: HTTP %d without a JSON answer", method, path,
                          *status);
    kiln_buf_release(&resp);
    return rc;
}

/* The error of a non-200 JSON answer as a kiln code with the server's message. */
static int answer_error(const json_t *doc, int status, struct kiln_err *err)
{
    const char *code = json_string_value(json_object_get(doc, "error_code"));
    int rc = code != NULL ? kiln_rc_from_mlflow_code(code) : KILN_EIO;
    if (status == 404 && code == NULL)
        rc = KILN_ENOENDPOINT;
    return kiln_err_set(err, rc, "%s", jstr(doc, "message"));
}

/* The version in `env` now (0 when empty), from the policy endpoint. */
static int env_version(struct kiln_http_client *c, const char *name, const char *env, int64_t *out,
                       struct kiln_err *err)
{
    json_t *req = json_pack("{s:s}", "name", name), *doc = NULL;
    const json_t *e;
    size_t i;
    int rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/models/policy", req, &doc, err);
    json_decref(req);
    *out = -1;
    json_array_foreach(json_object_get(doc, "environments"), i, e)
    {
        if (strcmp(jstr(e, "name"), env) == 0) {
            const char *v = jstr(e, "version");
            *out = 0;
            if (*v != '\0')
                kiln_parse_int64(v, strlen(v), out);
        }
    }
    json_decref(doc);
    return rc;
}

int kiln_models_promote(struct kiln_http_client *c, const char *name, const char *version,
                        const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *req, *out = NULL;
    int64_t current = -1;
    int status = 0, rc = KILN_OK, exit_code;
    char from[32];

    if (o->to == NULL)
        return kiln_cli_fail("models promote: --to ENV is required");
    if (o->expect != NULL) {
        if (kiln_cstr_ieq(o->expect, "none"))
            current = 0;
        else if (kiln_parse_int64(o->expect, strlen(o->expect), &current) != KILN_OK || current < 0)
            return kiln_cli_fail("models promote: --expect must be a version or 'none'");
    } else {
        rc = env_version(c, name, o->to, &current, &err);
    }
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    req = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "version", version, "environment", o->to,
                    "user", kiln_models_user());
    if (o->reason != NULL)
        json_object_set_new(req, "reason", json_string(o->reason));
    if (current >= 0) {
        snprintf(from, sizeof(from), "%lld", (long long)current);
        json_object_set_new(req, "expected_version",
                            current > 0 ? json_string(from) : json_string("none"));
    }
    rc = call(c, "POST", "/api/kiln/v1/models/promote", req, &status, &out, &err);
    json_decref(req);
    if (rc == KILN_OK && status != 200 && status != 422)
        rc = answer_error(out, status, &err);
    if (rc != KILN_OK) {
        json_decref(out);
        return kiln_cli_fail_rc(rc, &err);
    }
    exit_code = status == 200 ? KILN_EXIT_OK : KILN_EXIT_FAIL;
    if (o->as_json) {
        kiln_cli_print_json(out);
    } else {
        const json_t *r = json_object_get(out, "report");
        kiln_models_vlabel(json_object_get(out, "from_version"), from, sizeof(from));
        if (status == 200 && !json_is_true(json_object_get(out, "moved")))
            printf("%s v%s is already in %s: nothing to do\n", name, version, o->to);
        else if (status == 200)
            printf("promoted %s v%s to %s (was %s)\n", name, version, o->to, from);
        else
            printf("REFUSED: %s v%s stays out of %s (still %s)\n", name, version, o->to, from);
        print_report(r);
        if (status != 200)
            fprintf(stderr, "kiln: %s\n", jstr(out, "message"));
    }
    json_decref(out);
    return exit_code;
}

int kiln_models_rollback(struct kiln_http_client *c, const char *name, const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *req, *out = NULL;
    char a[32], b[32];
    int rc;
    if (o->env == NULL)
        return kiln_cli_fail("models rollback: --env ENV is required");
    req = json_pack("{s:s, s:s, s:s}", "name", name, "environment", o->env, "user",
                    kiln_models_user());
    if (o->to != NULL)
        json_object_set_new(req, "to_version", json_string(o->to));
    if (o->reason != NULL)
        json_object_set_new(req, "reason", json_string(o->reason));
    rc = kiln_http_client_json(c, "POST", "/api/kiln/v1/models/rollback", req, &out, &err);
    json_decref(req);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json)
        kiln_cli_print_json(out);
    else
        printf("rolled back %s %s: %s -> %s\n", name, o->env,
               kiln_models_vlabel(json_object_get(out, "from_version"), a, sizeof(a)),
               kiln_models_vlabel(json_object_get(out, "to_version"), b, sizeof(b)));
    json_decref(out);
    return KILN_EXIT_OK;
}

static const char *gates_summary(const json_t *report, char *buf, size_t size)
{
    const json_t *g;
    size_t i, failed = 0, n = json_array_size(json_object_get(report, "gates"));
    if (report == NULL)
        return "-";
    json_array_foreach(json_object_get(report, "gates"), i, g)
    {
        if (!json_is_true(json_object_get(g, "passed")))
            failed++;
    }
    if (failed == 0)
        snprintf(buf, size, "%zu/%zu passed", n, n);
    else
        snprintf(buf, size, "%zu of %zu failed", failed, n);
    return buf;
}

int kiln_models_history(struct kiln_http_client *c, const char *name, const struct models_opts *o)
{
    static const char *const head[] = { "TIME", "ENV",  "ACTION", "FROM",
                                        "TO",   "USER", "GATES",  "REASON" };
    struct kiln_err err = { 0 };
    json_t *req = json_pack("{s:s}", "name", name), *out = NULL;
    struct kiln_table *t;
    const json_t *m;
    size_t i;
    int rc;
    if (o->env != NULL)
        json_object_set_new(req, "environment", json_string(o->env));
    if (o->limit > 0)
        json_object_set_new(req, "max_results", json_integer(o->limit));
    rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/models/history", req, &out, &err);
    json_decref(req);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json) {
        kiln_cli_print_json(json_object_get(out, "moves"));
        json_decref(out);
        return KILN_EXIT_OK;
    }
    t = kiln_table_new(8, head);
    json_array_foreach(json_object_get(out, "moves"), i, m)
    {
        char when[32], a[32], b[32], g[40];
        const char *cells[8];
        kiln_time_format_short(json_integer_value(json_object_get(m, "time")), when, sizeof(when));
        cells[0] = when;
        cells[1] = jstr(m, "environment");
        cells[2] = jstr(m, "action");
        cells[3] = kiln_models_vlabel(json_object_get(m, "from_version"), a, sizeof(a));
        cells[4] = kiln_models_vlabel(json_object_get(m, "to_version"), b, sizeof(b));
        cells[5] = *jstr(m, "user") != '\0' ? jstr(m, "user") : "-";
        cells[6] = gates_summary(json_object_get(m, "report"), g, sizeof(g));
        cells[7] = jstr(m, "reason");
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
    json_decref(out);
    return KILN_EXIT_OK;
}

int kiln_models_policy(struct kiln_http_client *c, int argc, const char *const *argv,
                       const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *req, *out = NULL;
    const json_t *e;
    char v[32];
    size_t i;
    int rc;
    if (strcmp(argv[0], "set") == 0 && argc == 3) {
        struct kiln_buf text;
        kiln_buf_init(&text, (size_t)1 << 20);
        rc = kiln_read_file(argv[2], &text, &err);
        if (rc == KILN_ETOOBIG)
            kiln_err_set(&err, rc, "%s: larger than 1 MiB", argv[2]);
        if (rc != KILN_OK) {
            kiln_buf_release(&text);
            return kiln_cli_fail_rc(rc, &err);
        }
        req = json_pack("{s:s, s:s%, s:s}", "name", argv[1], "yaml", text.buf, text.len, "user",
                        kiln_models_user());
        kiln_buf_release(&text);
        if (req == NULL)
            return kiln_cli_fail("%s: not valid UTF-8 text", argv[2]);
        rc = kiln_http_client_json(c, "POST", "/api/kiln/v1/models/policy", req, &out, &err);
        json_decref(req);
        if (rc != KILN_OK) {
            /* Point at the file: "policy line 7, column 5: ..." becomes "file:7:5: ..." too. */
            fprintf(stderr, "kiln: %s: %s\n", argv[2], kiln_err_msg(&err, rc));
            return kiln_cli_exit_code(rc);
        }
    } else if (strcmp(argv[0], "show") == 0 && argc == 2) {
        req = json_pack("{s:s}", "name", argv[1]);
        rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/models/policy", req, &out, &err);
        json_decref(req);
        if (rc != KILN_OK)
            return kiln_cli_fail_rc(rc, &err);
    } else {
        return kiln_cli_fail("models policy: expected 'policy set NAME FILE' or 'policy show "
                             "NAME'");
    }
    if (o->as_json) {
        kiln_cli_print_json(out);
    } else {
        if (strcmp(argv[0], "set") == 0)
            printf("policy of '%s' set from %s\n", argv[1], argv[2]);
        printf("environments:");
        json_array_foreach(json_object_get(out, "environments"), i, e)
            printf(" %s=%s", jstr(e, "name"),
                   kiln_models_vlabel(json_object_get(e, "version"), v, sizeof(v)));
        printf("\n");
        if (strcmp(argv[0], "show") == 0) {
            if (json_is_string(json_object_get(out, "yaml")))
                printf("\n%s", jstr(out, "yaml"));
            else
                printf("no policy: default environments, each gated only by the previous one\n");
        }
    }
    json_decref(out);
    return KILN_EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void print_event(const json_t *e)
{
    char when[32], v[32];
    const json_t *data = json_object_get(e, "data");
    kiln_time_format_short(json_integer_value(json_object_get(e, "time")), when, sizeof(when));
    printf("#%lld %s %-26s %s", (long long)json_integer_value(json_object_get(e, "id")), when,
           jstr(e, "type"), jstr(e, "model"));
    if (json_is_string(json_object_get(e, "version")))
        printf(" %s", kiln_models_vlabel(json_object_get(e, "version"), v, sizeof(v)));
    if (json_is_string(json_object_get(e, "alias"))) {
        char a[32], b[32];
        printf(" %s: %s -> %s", jstr(e, "alias"),
               kiln_models_vlabel(json_object_get(data, "from_version"), a, sizeof(a)),
               kiln_models_vlabel(json_object_get(data, "to_version"), b, sizeof(b)));
    }
    if (*jstr(e, "user") != '\0')
        printf(" (%s)", jstr(e, "user"));
    printf("\n");
}

int kiln_models_events(struct kiln_http_client *c, const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    int64_t after = o->after, printed = 0;
    struct sigaction sa;
    int rc = KILN_OK;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    do {
        json_t *req = json_pack("{s:I}", "after", (json_int_t)after), *out = NULL;
        const json_t *e;
        size_t i;
        if (o->follow)
            json_object_set_new(req, "wait", json_integer(30));
        if (o->model != NULL)
            json_object_set_new(req, "model", json_string(o->model));
        if (o->types != NULL)
            json_object_set_new(req, "types", json_string(o->types));
        rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/events", req, &out, &err);
        json_decref(req);
        if (rc != KILN_OK)
            break;
        json_array_foreach(json_object_get(out, "events"), i, e)
        {
            if (o->limit > 0 && printed >= o->limit)
                break;
            if (o->as_json) {
                char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (s != NULL)
                    puts(s);
                kiln_free(s);
            } else {
                print_event(e);
            }
            printed++;
        }
        fflush(stdout);
        after = json_integer_value(json_object_get(out, "next_after"));
        json_decref(out);
    } while (o->follow && !interrupted && !(o->limit > 0 && printed >= o->limit));
    if (rc != KILN_OK && !interrupted)
        return kiln_cli_fail_rc(rc, &err);
    return KILN_EXIT_OK;
}

int kiln_models_webhooks(struct kiln_http_client *c, int argc, const char *const *argv,
                         const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *req, *out = NULL;
    char path[64];
    int rc;
    if (strcmp(argv[0], "add") == 0 && argc == 2) {
        req = json_pack("{s:s}", "url", argv[1]);
        if (o->events != NULL)
            json_object_set_new(req, "events", json_string(o->events));
        if (o->description != NULL)
            json_object_set_new(req, "description", json_string(o->description));
        rc = kiln_http_client_json(c, "POST", "/api/kiln/v1/webhooks", req, &out, &err);
        json_decref(req);
    } else if (strcmp(argv[0], "list") == 0 && argc == 1) {
        rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/webhooks", NULL, &out, &err);
    } else if (strcmp(argv[0], "delete") == 0 && argc == 2) {
        int64_t id;
        if (kiln_parse_int64(argv[1], strlen(argv[1]), &id) != KILN_OK || id <= 0)
            return kiln_cli_fail("models webhooks delete: '%s' is not a webhook id", argv[1]);
        snprintf(path, sizeof(path), "/api/kiln/v1/webhooks/%lld", (long long)id);
        rc = kiln_http_client_json(c, "DELETE", path, NULL, &out, &err);
    } else {
        return kiln_cli_fail("models webhooks: expected 'add URL', 'list' or 'delete ID'");
    }
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json) {
        kiln_cli_print_json(out);
    } else if (strcmp(argv[0], "add") == 0) {
        printf(
            "webhook %lld delivers %s to %s\n",
            (long long)json_integer_value(json_object_get(json_object_get(out, "webhook"), "id")),
            o->events != NULL ? o->events : "every event", argv[1]);
    } else if (strcmp(argv[0], "list") == 0) {
        static const char *const head[] = {
            "ID", "URL", "EVENTS", "PENDING", "DELIVERED", "FAILED"
        };
        struct kiln_table *t = kiln_table_new(6, head);
        const json_t *h;
        size_t i;
        json_array_foreach(json_object_get(out, "webhooks"), i, h)
        {
            char id[24], p[24], d[24], f[24];
            const char *cells[6] = { id, jstr(h, "url"), jstr(h, "events"), p, d, f };
            snprintf(id, sizeof(id), "%lld",
                     (long long)json_integer_value(json_object_get(h, "id")));
            snprintf(p, sizeof(p), "%lld",
                     (long long)json_integer_value(json_object_get(h, "pending")));
            snprintf(d, sizeof(d), "%lld",
                     (long long)json_integer_value(json_object_get(h, "delivered")));
            snprintf(f, sizeof(f), "%lld",
                     (long long)json_integer_value(json_object_get(h, "failed")));
            kiln_table_add(t, cells);
        }
        kiln_table_print(t, stdout);
        kiln_table_free(t);
    } else {
        printf("deleted webhook %s\n", argv[1]);
    }
    json_decref(out);
    return KILN_EXIT_OK;
}

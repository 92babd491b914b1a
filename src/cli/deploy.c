/*
 * deploy.c - `kiln deploy`: deployments on a kiln server (docs/deployments.md).
 *
 *   apply -f FILE       create or update a deployment from its YAML file
 *   list                deployments with their state
 *   status NAME         plan, rollout step, last analysis, replicas, alerts
 *   wait NAME           until no rollout is in progress; exit 0 promoted, 1 rolled back
 *   history NAME        rollouts, newest first (--rollout ID: with its analyses)
 *   start NAME --version N   move the candidate alias to version N (a rollout starts)
 *   abort NAME / promote NAME   end the rollout in progress by hand
 *   feedback NAME       ground-truth labels by request id (--request-id/--label or --file)
 *   alerts [NAME]       alerts (--firing for the firing ones)
 *   plan NAME / delete NAME
 *
 * Human output by default, --json for scripts. Exit codes: 0 ok, 1 a refusal or a rolled-back
 * rollout (wait), 2 usage and other errors. Single-threaded.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/deploy_cli.h"
#include "cli/models_cli.h"
#include "cli/tracking_cli.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"

static const char usage[] =
    "usage: kiln deploy <command> [options]\n"
    "\n"
    "Canary and shadow rollouts of registered model versions, judged by kiln from what its\n"
    "serve replicas report, promoted or rolled back through the registry.\n"
    "\n"
    "commands:\n"
    "  apply -f FILE                 create or update a deployment from its YAML file\n"
    "  list                          deployments and their state\n"
    "  status NAME                   plan, rollout step, analysis, replicas, alerts\n"
    "  wait NAME [--timeout S]       wait until no rollout is in progress (exit 0 promoted,\n"
    "                                1 rolled back or aborted)\n"
    "  history NAME [--rollout ID]   rollouts, newest first; with --rollout its analyses\n"
    "  start NAME --version N        move the candidate environment to version N (its\n"
    "                                gates apply); the rollout starts\n"
    "  abort NAME [--reason R]       roll the candidate back now\n"
    "  promote NAME [--reason R]     promote the candidate now, skipping remaining steps\n"
    "  feedback NAME --request-id ID --label L\n"
    "  feedback NAME --file F        labels from a CSV (request_id,label) or JSON Lines file\n"
    "  alerts [NAME] [--firing]      alerts of one deployment or all\n"
    "  plan NAME                     the plan replicas follow (JSON)\n"
    "  delete NAME                   delete a deployment (its history goes too)\n"
    "\n"
    "options:\n"
    "  --tracking-uri URI            kiln server (default $KILN_TRACKING_URI, then\n"
    "                                $MLFLOW_TRACKING_URI, then http://127.0.0.1:5000)\n"
    "  --json                        print the server's JSON\n"
    "  --limit N                     rows of history and alerts (default 20)\n"
    "\n"
    "The user recorded in the audit log is $KILN_USER, else $USER.\n"
    "Documentation: docs/deployments.md and docs/monitoring.md\n";

int kiln_deploy_cli_call(struct kiln_http_client *c, const char *method, const char *path,
                         const json_t *body, json_t **out, struct kiln_err *err)
{
    struct kiln_buf resp;
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    int status = 0, rc;
    *out = NULL;
    if (body != NULL && text == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_buf_init(&resp, (size_t)64 << 20);
    rc = kiln_http_client_call(c, method, path, body != NULL ? "application/json" : NULL, text,
                               text != NULL ? strlen(text) : 0, &status, &resp, err);
    kiln_free(text);
    if (rc == KILN_OK && kiln_json_parse_object(resp.buf, resp.len, 1, out, NULL) != KILN_OK)
        rc = kiln_err_set(err, KILN_EIO, "%s %s: HTTP %d without a JSON answer", method, path,
                          status);
    kiln_buf_release(&resp);
    if (rc == KILN_OK && status != 200) {
        const char *code = json_string_value(json_object_get(*out, "error_code"));
        const char *msg = json_string_value(json_object_get(*out, "message"));
        rc = status == 422 ? KILN_ECHECK : code != NULL ? kiln_rc_from_mlflow_code(code) : KILN_EIO;
        if (status == 404 && code == NULL)
            rc = KILN_ENOENDPOINT;
        kiln_err_set(err, rc, "%s", msg != NULL ? msg : "request failed");
        if (rc != KILN_ECHECK) {
            json_decref(*out);
            *out = NULL;
        }
    }
    return rc;
}

static int need_name(const struct kiln_strv *pos, const char *cmd)
{
    if (pos->n < 2)
        return kiln_cli_fail("deploy %s: give the deployment name (see 'kiln deploy --help')", cmd);
    if (pos->n > 2)
        return kiln_cli_fail("deploy %s: unexpected argument '%s'", cmd, pos->v[2]);
    return KILN_EXIT_OK;
}

void kiln_deploy_cli_path(char *out, size_t size, const char *name, const char *suffix)
{
    struct kiln_buf b;
    kiln_buf_init(&b, 1024);
    kiln_url_encode(name, strlen(name), 0, &b);
    snprintf(out, size, "/api/kiln/v1/deployments/%s%s", b.buf, suffix);
    kiln_buf_release(&b);
}

static int apply(struct kiln_http_client *c, const struct deploy_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *body, *out = NULL;
    struct kiln_buf text;
    int rc;
    if (o->file == NULL)
        return kiln_cli_fail("deploy apply: give the deployment file with -f FILE");
    kiln_buf_init(&text, KILN_BUF_MB);
    rc = kiln_read_file(o->file, &text, &err);
    if (rc != KILN_OK) {
        kiln_buf_release(&text);
        return kiln_cli_fail("deploy apply: %s", err.msg);
    }
    if (memchr(text.buf, '\0', text.len) != NULL) {
        kiln_buf_release(&text);
        return kiln_cli_fail("deploy apply: %s: not a text file", o->file);
    }
    body =
        json_pack("{s:s, s:s, s:s}", "spec", text.buf, "file", o->file, "user", kiln_models_user());
    kiln_buf_release(&text);
    if (body == NULL)
        return kiln_cli_fail("deploy apply: %s: not UTF-8 text", o->file);
    rc = kiln_deploy_cli_call(c, "POST", "/api/kiln/v1/deployments", body, &out, &err);
    json_decref(body);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json) {
        kiln_cli_print_json(out);
    } else {
        const json_t *d = json_object_get(out, "deployment");
        printf("deployment %s %s\n", json_string_value(json_object_get(d, "name")),
               json_is_true(json_object_get(out, "created")) ? "created" : "updated");
        kiln_deploy_cli_print_status(d);
    }
    json_decref(out);
    return KILN_EXIT_OK;
}

static int simple(struct kiln_http_client *c, const char *method, const char *name,
                  const char *suffix, json_t *body, const struct deploy_opts *o, int status_out)
{
    struct kiln_err err = { 0 };
    json_t *out = NULL;
    char path[600];
    int rc;
    kiln_deploy_cli_path(path, sizeof(path), name, suffix);
    rc = kiln_deploy_cli_call(c, method, path, body, &out, &err);
    json_decref(body);
    if (rc != KILN_OK && out == NULL)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json)
        kiln_cli_print_json(out);
    else if (rc != KILN_OK)
        fprintf(stderr, "kiln: %s\n", err.msg);
    else if (status_out)
        kiln_deploy_cli_print_status(json_object_get(out, "deployment"));
    json_decref(out);
    return kiln_cli_exit_code(rc);
}

static int start(struct kiln_http_client *c, const char *name, const struct deploy_opts *o)
{
    json_t *body;
    if (o->version <= 0)
        return kiln_cli_fail("deploy start: give the version with --version N");
    body = json_pack("{s:I, s:s}", "version", (json_int_t)o->version, "user", kiln_models_user());
    if (body != NULL && o->reason != NULL)
        json_object_set_new(body, "reason", json_string(o->reason));
    if (body == NULL)
        return kiln_cli_fail("out of memory");
    return simple(c, "POST", name, "/start", body, o, 1);
}

static int act(struct kiln_http_client *c, const char *name, const char *what,
               const struct deploy_opts *o)
{
    json_t *body = json_pack("{s:s}", "user", kiln_models_user());
    if (body == NULL)
        return kiln_cli_fail("out of memory");
    if (o->reason != NULL)
        json_object_set_new(body, "reason", json_string(o->reason));
    return simple(c, "POST", name, what, body, o, 1);
}

static int dispatch(struct kiln_http_client *c, const struct kiln_strv *pos,
                    const struct deploy_opts *o)
{
    const char *cmd = pos->v[0], *name = pos->n > 1 ? pos->v[1] : NULL;
    int rc;
    if (strcmp(cmd, "apply") == 0) {
        if (pos->n > 1)
            return kiln_cli_fail("deploy apply: unexpected argument '%s' (the file goes after -f)",
                                 pos->v[1]);
        return apply(c, o);
    }
    if (strcmp(cmd, "list") == 0)
        return kiln_deploy_cli_list(c, o);
    if (strcmp(cmd, "alerts") == 0)
        return kiln_deploy_cli_alerts(c, name, o);
    if ((rc = need_name(pos, cmd)) != KILN_EXIT_OK)
        return rc;
    if (strcmp(cmd, "status") == 0)
        return kiln_deploy_cli_status(c, name, o);
    if (strcmp(cmd, "wait") == 0)
        return kiln_deploy_cli_wait(c, name, o);
    if (strcmp(cmd, "history") == 0)
        return kiln_deploy_cli_history(c, name, o);
    if (strcmp(cmd, "start") == 0)
        return start(c, name, o);
    if (strcmp(cmd, "abort") == 0)
        return act(c, name, "/abort", o);
    if (strcmp(cmd, "promote") == 0)
        return act(c, name, "/promote", o);
    if (strcmp(cmd, "feedback") == 0)
        return kiln_deploy_cli_feedback(c, name, o);
    if (strcmp(cmd, "plan") == 0) {
        struct deploy_opts j = *o;
        j.as_json = 1;
        return simple(c, "GET", name, "/plan", NULL, &j, 0);
    }
    if (strcmp(cmd, "delete") == 0) {
        rc = simple(c, "DELETE", name, "", NULL, o, 0);
        if (rc == KILN_EXIT_OK && !o->as_json)
            printf("deployment %s deleted\n", name);
        return rc;
    }
    return kiln_cli_fail("deploy: unknown command '%s' (see 'kiln deploy --help')", cmd);
}

int kiln_cmd_deploy(int argc, char **argv)
{
    const char *uri = NULL;
    struct deploy_opts o;
    struct kiln_strv pos = { 0 };
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int rc;

    memset(&o, 0, sizeof(o));
    o.limit = 20;
    o.timeout = 600;
    {
        struct kiln_opt opts[] = {
            { "tracking-uri", 0, KILN_OPT_STR, &uri },
            { "json", 0, KILN_OPT_FLAG, &o.as_json },
            { "file", 'f', KILN_OPT_STR, &o.file },
            { "version", 0, KILN_OPT_INT, &o.version },
            { "reason", 0, KILN_OPT_STR, &o.reason },
            { "rollout", 0, KILN_OPT_INT, &o.rollout },
            { "limit", 0, KILN_OPT_INT, &o.limit },
            { "timeout", 0, KILN_OPT_INT, &o.timeout },
            { "request-id", 0, KILN_OPT_STR, &o.request_id },
            { "label", 0, KILN_OPT_STR, &o.label },
            { "firing", 0, KILN_OPT_FLAG, &o.firing },
        };
        rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    }
    rc = kiln_cli_after_parse(rc, pos.n, "deploy", usage, &err);
    if (rc >= 0)
        goto out;
    if (o.limit < 1 || o.limit > 10000) {
        rc = kiln_cli_fail("deploy: --limit must be between 1 and 10000");
        goto out;
    }
    if (o.timeout < 0) {
        rc = kiln_cli_fail("deploy: --timeout must not be negative");
        goto out;
    }
    rc = kiln_cli_client(uri, &c);
    if (rc == KILN_EXIT_OK)
        rc = dispatch(c, &pos, &o);
out:
    kiln_http_client_free(c);
    kiln_strv_release(&pos);
    return rc;
}

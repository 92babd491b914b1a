/*
 * models.c - `kiln models ...`: the command's dispatcher and usage, and the verbs list, show,
 * register and download. The other verbs are in models_lineage.c and models_promote.c.
 *
 * Everything goes through the tracking server's REST API (MLflow's registry endpoints plus
 * kiln's /api/kiln/v1), so the CLI works from any machine that can reach the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/models_cli.h"
#include "cli/tracking_cli.h"
#include "core/str.h"
#include "core/time.h"
#include "registry/registry.h"

static const char usage[] =
    "usage: kiln models <command> [options]\n"
    "\n"
    "  list [--filter EXPR]            registered models and where their versions are\n"
    "  show NAME                       versions, environments, aliases and policy of a model\n"
    "  register URI NAME [--run-id ID] [--tag K=V]... [--description TEXT]\n"
    "                                  register URI (runs:/RUN/PATH, models:/m-ID, ...) as the\n"
    "                                  next version of NAME (created if needed)\n"
    "  download URI DEST               fetch a model's files (models:/NAME@ENV, models:/NAME/3,\n"
    "                                  runs:/RUN/PATH, ...) into folder DEST\n"
    "  lineage URI                     what produced a version: run, parameters, metrics,\n"
    "                                  tags, datasets, parent run, evaluations\n"
    "  evaluations NAME [VERSION] [--dataset D]\n"
    "  evaluations add NAME VERSION FILE\n"
    "                                  list, or record from a JSON file, evaluations on\n"
    "                                  held-out datasets\n"
    "  compare NAME V1 V2 [--dataset D]\n"
    "                                  two versions' evaluations side by side with deltas\n"
    "  promote NAME VERSION --to ENV [--reason TEXT] [--expect VERSION|none]\n"
    "                                  move ENV to VERSION if every gate passes; prints the\n"
    "                                  gate report; exit 1 when refused\n"
    "  rollback NAME --env ENV [--to VERSION] [--reason TEXT]\n"
    "                                  move ENV back one step (or to VERSION), no gates\n"
    "  history NAME [--env ENV] [--limit N]\n"
    "                                  every move of the model's environments and aliases\n"
    "  policy set NAME FILE | policy show NAME\n"
    "                                  the promotion policy (YAML, see docs/registry.md)\n"
    "  events [--after ID] [--follow] [--model M] [--types T,..] [--limit N]\n"
    "                                  the registry event feed\n"
    "  webhooks add URL [--events T,..] [--description D] | webhooks list | webhooks delete ID\n"
    "\n"
    "common options:\n"
    "  --tracking-uri URI  server (default $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI,\n"
    "                      http://127.0.0.1:5000)\n"
    "  --json              machine-readable output\n"
    "\n"
    "The user recorded in the audit log is $KILN_USER, else $USER. Documentation:\n"
    "docs/registry.md\n";

const char *kiln_models_user(void)
{
    const char *u = getenv("KILN_USER");
    if (u == NULL || *u == '\0')
        u = getenv("USER");
    return u != NULL ? u : "";
}

const char *kiln_models_vlabel(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v) && *json_string_value(v) != '\0')
        snprintf(buf, size, "v%s", json_string_value(v));
    else if (json_is_integer(v) && json_integer_value(v) > 0)
        snprintf(buf, size, "v%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, size, "-");
    return buf;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* "production=v3 staging=v4" from a registered model's aliases. */
static void alias_summary(const json_t *m, char *out, size_t size)
{
    const json_t *a;
    size_t i, n = 0;
    out[0] = '\0';
    json_array_foreach(json_object_get(m, "aliases"), i, a)
    {
        if (n < size)
            n += (size_t)snprintf(out + n, size - n, "%s%s=v%s", n > 0 ? " " : "", jstr(a, "alias"),
                                  jstr(a, "version"));
    }
    if (n == 0)
        snprintf(out, size, "-");
}

int kiln_models_list(struct kiln_http_client *c, const struct models_opts *o)
{
    json_t *all = json_array(), *page = NULL;
    const char *token = NULL;
    struct kiln_err err = { 0 };
    int rc = KILN_OK;
    do {
        json_t *req = json_pack("{s:i}", "max_results", 1000);
        if (o->filter != NULL)
            json_object_set_new(req, "filter", json_string(o->filter));
        if (token != NULL)
            json_object_set_new(req, "page_token", json_string(token));
        json_decref(page);
        page = NULL;
        rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/registered-models/search", req, &page,
                                   &err);
        json_decref(req);
        if (rc == KILN_OK)
            json_array_extend(all, json_object_get(page, "registered_models"));
        token = rc == KILN_OK ? json_string_value(json_object_get(page, "next_page_token")) : NULL;
    } while (rc == KILN_OK && token != NULL && *token != '\0');
    json_decref(page);
    if (rc != KILN_OK) {
        json_decref(all);
        return kiln_cli_fail_rc(rc, &err);
    }
    if (o->as_json) {
        kiln_cli_print_json(all);
    } else {
        static const char *const head[] = { "NAME", "LATEST", "ALIASES", "UPDATED", "DESCRIPTION" };
        struct kiln_table *t = kiln_table_new(5, head);
        const json_t *m, *v;
        size_t i, j;
        json_array_foreach(all, i, m)
        {
            char updated[32], aliases[512], latest[32] = "-";
            const char *cells[5];
            int64_t best = 0;
            json_array_foreach(json_object_get(m, "latest_versions"), j, v)
            {
                int64_t n = 0;
                const char *s = jstr(v, "version");
                if (kiln_parse_int64(s, strlen(s), &n) == KILN_OK && n > best)
                    best = n;
            }
            if (best > 0)
                snprintf(latest, sizeof(latest), "v%lld", (long long)best);
            kiln_time_format_short(json_integer_value(json_object_get(m, "last_updated_timestamp")),
                                   updated, sizeof(updated));
            alias_summary(m, aliases, sizeof(aliases));
            cells[0] = jstr(m, "name");
            cells[1] = latest;
            cells[2] = aliases;
            cells[3] = updated;
            cells[4] = jstr(m, "description");
            kiln_table_add(t, cells);
        }
        kiln_table_print(t, stdout);
        kiln_table_free(t);
    }
    json_decref(all);
    return KILN_EXIT_OK;
}

/* Versions of a model, newest first (model-versions/search, all pages). */
static int all_versions(struct kiln_http_client *c, const char *name, json_t **out,
                        struct kiln_err *err)
{
    json_t *all = json_array(), *page = NULL;
    const char *token = NULL;
    struct kiln_buf filter;
    int rc;
    kiln_buf_init(&filter, 4096);
    rc = kiln_buf_puts(&filter, "name = '");
    for (const char *p = name; rc == KILN_OK && *p != '\0'; p++)
        rc = *p == '\'' ? kiln_buf_puts(&filter, "\\'") : kiln_buf_putc(&filter, *p);
    if (rc == KILN_OK)
        rc = kiln_buf_putc(&filter, '\'');
    while (rc == KILN_OK) {
        json_t *req = json_pack("{s:s, s:i, s:[s]}", "filter", filter.buf, "max_results", 1000,
                                "order_by", "version_number DESC");
        if (token != NULL)
            json_object_set_new(req, "page_token", json_string(token));
        json_decref(page);
        page = NULL;
        rc = kiln_http_client_json(c, "GET", "/api/2.0/mlflow/model-versions/search", req, &page,
                                   err);
        json_decref(req);
        if (rc == KILN_OK)
            json_array_extend(all, json_object_get(page, "model_versions"));
        token = rc == KILN_OK ? json_string_value(json_object_get(page, "next_page_token")) : NULL;
        if (token == NULL || *token == '\0')
            break;
    }
    json_decref(page);
    kiln_buf_release(&filter);
    if (rc != KILN_OK) {
        json_decref(all);
        return rc;
    }
    *out = all;
    return KILN_OK;
}

static json_t *get_json(struct kiln_http_client *c, const char *endpoint, const char *key,
                        const char *value, struct kiln_err *err, int *rc)
{
    json_t *req = json_pack("{s:s}", key, value), *out = NULL;
    *rc = kiln_http_client_json(c, "GET", endpoint, req, &out, err);
    json_decref(req);
    return out;
}

static void print_versions(const json_t *versions)
{
    static const char *const head[] = { "VERSION", "CREATED", "STAGE", "ALIASES", "RUN", "SOURCE" };
    struct kiln_table *t = kiln_table_new(6, head);
    const json_t *v, *a;
    size_t i, j;
    kiln_table_align_right(t, 0);
    json_array_foreach(versions, i, v)
    {
        char created[32], aliases[256], ver[32];
        const char *cells[6];
        size_t n = 0;
        aliases[0] = '\0';
        json_array_foreach(json_object_get(v, "aliases"), j, a)
        {
            if (n < sizeof(aliases))
                n += (size_t)snprintf(aliases + n, sizeof(aliases) - n, "%s%s", n > 0 ? "," : "",
                                      json_string_value(a));
        }
        kiln_time_format_short(json_integer_value(json_object_get(v, "creation_timestamp")),
                               created, sizeof(created));
        cells[0] = kiln_models_vlabel(json_object_get(v, "version"), ver, sizeof(ver));
        cells[1] = created;
        cells[2] = jstr(v, "current_stage");
        cells[3] = n > 0 ? aliases : "-";
        cells[4] = *jstr(v, "run_id") != '\0' ? jstr(v, "run_id") : "-";
        cells[5] = jstr(v, "source");
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

int kiln_models_show(struct kiln_http_client *c, const char *name, const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *model, *versions = NULL, *policy = NULL, *out;
    const json_t *e, *t;
    size_t i;
    int rc;

    model = get_json(c, "/api/2.0/mlflow/registered-models/get", "name", name, &err, &rc);
    if (rc == KILN_OK)
        rc = all_versions(c, name, &versions, &err);
    if (rc == KILN_OK) {
        policy = get_json(c, "/api/kiln/v1/models/policy", "name", name, &err, &rc);
        if (rc == KILN_ENOENDPOINT) { /* an MLflow server: no environments to show */
            rc = KILN_OK;
            policy = NULL;
        }
    }
    if (rc != KILN_OK) {
        json_decref(model);
        json_decref(versions);
        return kiln_cli_fail_rc(rc, &err);
    }
    if (o->as_json) {
        out = json_pack("{s:O, s:O, s:O?}", "registered_model",
                        json_object_get(model, "registered_model"), "model_versions", versions,
                        "policy", policy);
        kiln_cli_print_json(out);
        json_decref(out);
    } else {
        const json_t *m = json_object_get(model, "registered_model");
        char created[32], updated[32], ver[32];
        kiln_time_format_short(json_integer_value(json_object_get(m, "creation_timestamp")),
                               created, sizeof(created));
        kiln_time_format_short(json_integer_value(json_object_get(m, "last_updated_timestamp")),
                               updated, sizeof(updated));
        printf("model        %s\n", name);
        if (*jstr(m, "description") != '\0')
            printf("description  %s\n", jstr(m, "description"));
        printf("created      %s, updated %s\n", created, updated);
        json_array_foreach(json_object_get(m, "tags"), i, t)
            printf("tag          %s = %s\n", jstr(t, "key"), jstr(t, "value"));
        if (policy != NULL) {
            printf("environments ");
            json_array_foreach(json_object_get(policy, "environments"), i, e)
                printf("%s%s=%s", i > 0 ? "  " : "", jstr(e, "name"),
                       kiln_models_vlabel(json_object_get(e, "version"), ver, sizeof(ver)));
            printf("\npolicy       %s\n", json_is_string(json_object_get(policy, "yaml"))
                                              ? "set (kiln models policy show)"
                                              : "none (default environments, order gate only)");
        }
        printf("\n");
        print_versions(versions);
    }
    json_decref(model);
    json_decref(versions);
    json_decref(policy);
    return KILN_EXIT_OK;
}

int kiln_models_register(struct kiln_http_client *c, const char *uri, const char *name,
                         const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *req, *out = NULL, *tags = json_array();
    const char *run_id = o->run_id;
    char run_buf[256];
    int rc;

    for (size_t i = 0; i < o->tags.n; i++) {
        const char *eq = strchr(o->tags.v[i], '=');
        if (eq == NULL || eq == o->tags.v[i]) {
            json_decref(tags);
            return kiln_cli_fail("models register: --tag '%s' is not KEY=VALUE", o->tags.v[i]);
        }
        json_array_append_new(tags, json_pack("{s:s%, s:s}", "key", o->tags.v[i],
                                              (size_t)(eq - o->tags.v[i]), "value", eq + 1));
    }
    /* runs:/RUN/PATH names its run. */
    if (run_id == NULL && strncmp(uri, "runs:/", 6) == 0) {
        const char *p = uri + 6, *slash;
        while (*p == '/')
            p++;
        slash = strchr(p, '/');
        snprintf(run_buf, sizeof(run_buf), "%.*s",
                 (int)(slash != NULL ? slash - p : (long)strlen(p)), p);
        run_id = run_buf;
    }
    req = json_pack("{s:s}", "name", name);
    rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/registered-models/create", req, NULL,
                               &err);
    json_decref(req);
    if (rc == KILN_EEXIST)
        rc = KILN_OK; /* a new version of an existing model, as MLflow's register_model */
    if (rc == KILN_OK) {
        req = json_pack("{s:s, s:s, s:o, s:s}", "name", name, "source", uri, "tags", tags, "user",
                        kiln_models_user());
        tags = NULL;
        if (run_id != NULL)
            json_object_set_new(req, "run_id", json_string(run_id));
        if (o->description != NULL)
            json_object_set_new(req, "description", json_string(o->description));
        if (strncmp(uri, "models:/m-", 10) == 0)
            json_object_set_new(req, "model_id", json_string(uri + 8));
        rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/model-versions/create", req, &out,
                                   &err);
        json_decref(req);
    }
    json_decref(tags);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json)
        kiln_cli_print_json(out);
    else
        printf("registered '%s' version %s from %s\n", name,
               jstr(json_object_get(out, "model_version"), "version"), uri);
    json_decref(out);
    return KILN_EXIT_OK;
}

static void progress(void *arg, const struct kiln_download_stats *s, const char *path)
{
    (void)arg;
    fprintf(stderr, "\r%llu files, %llu bytes: %-60.60s", (unsigned long long)s->files,
            (unsigned long long)s->bytes, path);
}

int kiln_models_download(struct kiln_http_client *c, const char *uri, const char *dest,
                         const struct models_opts *o)
{
    struct kiln_download_stats stats;
    struct kiln_err err = { 0 };
    int tty = kiln_cli_isatty(stderr) && !o->as_json;
    int rc = kiln_registry_download(c, uri, dest, &stats, tty ? progress : NULL, NULL, &err);
    if (tty)
        fprintf(stderr, "\r%80s\r", "");
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json) {
        json_t *out = json_pack("{s:s, s:s, s:s, s:I, s:I}", "uri", uri, "artifact_uri",
                                stats.artifact_uri, "dest", dest, "files", (json_int_t)stats.files,
                                "bytes", (json_int_t)stats.bytes);
        kiln_cli_print_json(out);
        json_decref(out);
    } else {
        printf("downloaded %llu files (%llu bytes) from %s to %s\n",
               (unsigned long long)stats.files, (unsigned long long)stats.bytes, stats.artifact_uri,
               dest);
    }
    return KILN_EXIT_OK;
}

/* Verbs and how many positionals (after the verb) each takes: min, max. */
static int dispatch(struct kiln_http_client *c, const struct kiln_strv *pos,
                    const struct models_opts *o)
{
    const char *verb = pos->v[0];
    const char *const *args = pos->v + 1;
    size_t n = pos->n - 1;

    if (strcmp(verb, "list") == 0 && n == 0)
        return kiln_models_list(c, o);
    if (strcmp(verb, "show") == 0 && n == 1)
        return kiln_models_show(c, args[0], o);
    if (strcmp(verb, "register") == 0 && n == 2)
        return kiln_models_register(c, args[0], args[1], o);
    if (strcmp(verb, "download") == 0 && n == 2)
        return kiln_models_download(c, args[0], args[1], o);
    if (strcmp(verb, "lineage") == 0 && n == 1)
        return kiln_models_lineage(c, args[0], o);
    if (strcmp(verb, "evaluations") == 0 && n >= 1)
        return kiln_models_evaluations(c, (int)n, args, o);
    if (strcmp(verb, "compare") == 0 && n == 3)
        return kiln_models_compare(c, args[0], args[1], args[2], o);
    if (strcmp(verb, "promote") == 0 && n == 2)
        return kiln_models_promote(c, args[0], args[1], o);
    if (strcmp(verb, "rollback") == 0 && n == 1)
        return kiln_models_rollback(c, args[0], o);
    if (strcmp(verb, "history") == 0 && n == 1)
        return kiln_models_history(c, args[0], o);
    if (strcmp(verb, "policy") == 0 && n >= 1)
        return kiln_models_policy(c, (int)n, args, o);
    if (strcmp(verb, "events") == 0 && n == 0)
        return kiln_models_events(c, o);
    if (strcmp(verb, "webhooks") == 0 && n >= 1)
        return kiln_models_webhooks(c, (int)n, args, o);
    return kiln_cli_fail("models: unknown or incomplete command '%s' (see 'kiln models --help')",
                         verb);
}

int kiln_cmd_models(int argc, char **argv)
{
    const char *uri = NULL;
    struct models_opts o;
    struct kiln_strv pos = { 0 };
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    int rc;

    memset(&o, 0, sizeof(o));
    {
        struct kiln_opt opts[] = {
            { "tracking-uri", 0, KILN_OPT_STR, &uri },
            { "json", 0, KILN_OPT_FLAG, &o.as_json },
            { "filter", 0, KILN_OPT_STR, &o.filter },
            { "to", 0, KILN_OPT_STR, &o.to },
            { "env", 0, KILN_OPT_STR, &o.env },
            { "reason", 0, KILN_OPT_STR, &o.reason },
            { "dataset", 0, KILN_OPT_STR, &o.dataset },
            { "events", 0, KILN_OPT_STR, &o.events },
            { "description", 0, KILN_OPT_STR, &o.description },
            { "run-id", 0, KILN_OPT_STR, &o.run_id },
            { "types", 0, KILN_OPT_STR, &o.types },
            { "model", 0, KILN_OPT_STR, &o.model },
            { "expect", 0, KILN_OPT_STR, &o.expect },
            { "limit", 0, KILN_OPT_INT, &o.limit },
            { "after", 0, KILN_OPT_INT, &o.after },
            { "follow", 'f', KILN_OPT_FLAG, &o.follow },
            { "tag", 0, KILN_OPT_MULTI, &o.tags },
        };
        rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    }
    rc = kiln_cli_after_parse(rc, pos.n, "models", usage, &err);
    if (rc >= 0)
        goto out;
    rc = kiln_cli_client(uri, &c);
    if (rc == KILN_EXIT_OK)
        rc = dispatch(c, &pos, &o);
out:
    kiln_http_client_free(c);
    kiln_strv_release(&o.tags);
    kiln_strv_release(&pos);
    return rc;
}

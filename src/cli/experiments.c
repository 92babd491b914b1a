/*
 * experiments.c - `kiln experiments list|create|delete|restore`, through the tracking server's
 * MLflow REST API (so it works against kiln or MLflow alike).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/tracking_cli.h"
#include "core/str.h"
#include "core/time.h"

static const char usage[] =
    "usage: kiln experiments <list|create|delete|restore> [options]\n"
    "\n"
    "  list [--view active|deleted|all] [--filter EXPR] [--json]\n"
    "                      experiments, newest first\n"
    "  create NAME [--artifact-location URI] [--tag KEY=VALUE ...]\n"
    "                      create an experiment and print its id\n"
    "  delete NAME|ID      mark an experiment and its runs deleted (restore undoes it)\n"
    "  restore NAME|ID     bring a deleted experiment and its runs back\n"
    "\n"
    "common options:\n"
    "  --tracking-uri URI  server (default $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI,\n"
    "                      http://127.0.0.1:5000)\n"
    "  --json              machine-readable output\n";

static const char *view_type(const char *view)
{
    if (view == NULL || strcmp(view, "active") == 0)
        return "ACTIVE_ONLY";
    if (strcmp(view, "deleted") == 0)
        return "DELETED_ONLY";
    if (strcmp(view, "all") == 0)
        return "ALL";
    return NULL;
}

static int cmd_list(struct kiln_http_client *c, const char *view, const char *filter, int as_json)
{
    json_t *all = json_array(), *page = NULL;
    const char *token = NULL, *vt = view_type(view);
    struct kiln_err err = { 0 };
    struct kiln_table *t = NULL;
    int rc = KILN_OK;

    if (vt == NULL) {
        json_decref(all);
        return kiln_cli_fail("experiments list: --view must be active, deleted or all");
    }
    do {
        json_t *req = json_pack("{s:s, s:i}", "view_type", vt, "max_results", 1000);
        if (filter != NULL)
            json_object_set_new(req, "filter", json_string(filter));
        if (token != NULL)
            json_object_set_new(req, "page_token", json_string(token));
        json_decref(page);
        page = NULL;
        rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/experiments/search", req, &page,
                                   &err);
        json_decref(req);
        if (rc == KILN_OK)
            json_array_extend(all, json_object_get(page, "experiments"));
        token = rc == KILN_OK ? json_string_value(json_object_get(page, "next_page_token")) : NULL;
    } while (rc == KILN_OK && token != NULL && *token != '\0');
    json_decref(page);
    if (rc != KILN_OK) {
        json_decref(all);
        return kiln_cli_fail_rc(rc, &err);
    }
    if (as_json) {
        kiln_cli_print_json(all);
        json_decref(all);
        return KILN_EXIT_OK;
    }
    {
        static const char *const head[] = { "ID", "NAME", "STATE", "CREATED", "ARTIFACT LOCATION" };
        size_t i;
        json_t *e;
        t = kiln_table_new(5, head);
        if (t == NULL) {
            json_decref(all);
            return kiln_cli_fail("out of memory");
        }
        kiln_table_align_right(t, 0);
        json_array_foreach(all, i, e)
        {
            char created[32];
            const char *cells[5];
            kiln_time_format_short(json_integer_value(json_object_get(e, "creation_time")), created,
                                   sizeof(created));
            cells[0] = json_string_value(json_object_get(e, "experiment_id"));
            cells[1] = json_string_value(json_object_get(e, "name"));
            cells[2] = json_string_value(json_object_get(e, "lifecycle_stage"));
            cells[3] = created;
            cells[4] = json_string_value(json_object_get(e, "artifact_location"));
            kiln_table_add(t, cells);
        }
        kiln_table_print(t, stdout);
        kiln_table_free(t);
    }
    json_decref(all);
    return KILN_EXIT_OK;
}

static int cmd_create(struct kiln_http_client *c, const char *name, const char *location,
                      const struct kiln_strv *tags, int as_json)
{
    json_t *req = json_pack("{s:s}", "name", name), *out = NULL, *tag_list = json_array();
    struct kiln_err err = { 0 };
    int rc;

    for (size_t i = 0; i < tags->n; i++) {
        const char *eq = strchr(tags->v[i], '=');
        if (eq == NULL || eq == tags->v[i]) {
            json_decref(req);
            json_decref(tag_list);
            return kiln_cli_fail("experiments create: --tag '%s' is not KEY=VALUE", tags->v[i]);
        }
        json_array_append_new(tag_list, json_pack("{s:s%, s:s}", "key", tags->v[i],
                                                  (size_t)(eq - tags->v[i]), "value", eq + 1));
    }
    json_object_set_new(req, "tags", tag_list);
    if (location != NULL)
        json_object_set_new(req, "artifact_location", json_string(location));
    rc = kiln_http_client_json(c, "POST", "/api/2.0/mlflow/experiments/create", req, &out, &err);
    json_decref(req);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (as_json)
        kiln_cli_print_json(out);
    else
        printf("created experiment '%s' with id %s\n", name,
               json_string_value(json_object_get(out, "experiment_id")));
    json_decref(out);
    return KILN_EXIT_OK;
}

static int cmd_delete_restore(struct kiln_http_client *c, const char *which, int restore)
{
    char id[32];
    json_t *req;
    struct kiln_err err = { 0 };
    int rc = kiln_cli_resolve_experiment(c, which, id, sizeof(id), &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    req = json_pack("{s:s}", "experiment_id", id);
    rc = kiln_http_client_json(c, "POST",
                               restore ? "/api/2.0/mlflow/experiments/restore"
                                       : "/api/2.0/mlflow/experiments/delete",
                               req, NULL, &err);
    json_decref(req);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    printf("%s experiment %s\n", restore ? "restored" : "deleted", id);
    return KILN_EXIT_OK;
}

int kiln_cmd_experiments(int argc, char **argv)
{
    const char *uri = NULL, *view = NULL, *filter = NULL, *location = NULL;
    int as_json = 0, rc;
    struct kiln_strv tags = { 0 }, pos = { 0 };
    struct kiln_opt opts[] = {
        { "tracking-uri", 0, KILN_OPT_STR, &uri },
        { "json", 0, KILN_OPT_FLAG, &as_json },
        { "view", 0, KILN_OPT_STR, &view },
        { "filter", 0, KILN_OPT_STR, &filter },
        { "artifact-location", 0, KILN_OPT_STR, &location },
        { "tag", 0, KILN_OPT_MULTI, &tags },
    };
    struct kiln_http_client *c = NULL;
    struct kiln_err err = { 0 };
    const char *verb;

    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    rc = kiln_cli_after_parse(rc, pos.n, "experiments", usage, &err);
    if (rc >= 0)
        goto out;
    verb = pos.v[0];
    rc = kiln_cli_client(uri, &c);
    if (rc != KILN_EXIT_OK)
        goto out;
    if (strcmp(verb, "list") == 0 && pos.n == 1)
        rc = cmd_list(c, view, filter, as_json);
    else if (strcmp(verb, "create") == 0 && pos.n == 2)
        rc = cmd_create(c, pos.v[1], location, &tags, as_json);
    else if ((strcmp(verb, "delete") == 0 || strcmp(verb, "restore") == 0) && pos.n == 2)
        rc = cmd_delete_restore(c, pos.v[1], verb[0] == 'r');
    else
        rc = kiln_cli_fail("experiments: unknown or incomplete command '%s' "
                           "(see 'kiln experiments --help')",
                           verb);
out:
    kiln_http_client_free(c);
    kiln_strv_release(&tags);
    kiln_strv_release(&pos);
    return rc;
}

/*
 * test_models.c - registered models, versions, tags, stages, aliases and search over a real
 * SQLite store: MLflow's rules, messages and error codes (mlflow-api.md §4.5, §7, §8, §10), and
 * that a failing call changes nothing.
 */
#include "fixture.h"

static void test_create_get_duplicate(void **state)
{
    struct fx *f = *state;
    struct kiln_registered_model *m;
    struct kiln_kv tags[] = { { "team", "risk" }, { "team", "fraud" } };
    struct kiln_err err = { 0 };

    assert_int_equal(
        kiln_rm_create(f->reg, f->arena, "fraud", tags, 2, "detects fraud", "alice", &m, &err),
        KILN_OK);
    assert_string_equal(m->name, "fraud");
    assert_string_equal(m->description, "detects fraud");
    /* A repeated key in one request: last one wins (MLflow builds a dict). */
    assert_int_equal(m->ntags, 1);
    assert_string_equal(m->tags[0].value, "fraud");
    assert_true(m->creation_timestamp > 0);
    assert_int_equal(m->creation_timestamp, m->last_updated_timestamp);

    assert_int_equal(kiln_rm_create(f->reg, f->arena, "fraud", NULL, 0, NULL, NULL, NULL, &err),
                     KILN_EEXIST);
    assert_string_equal(err.msg, "Registered Model (name=fraud) already exists.");
    assert_int_equal(kiln_rc_http(KILN_EEXIST), 400);

    assert_int_equal(kiln_rm_create(f->reg, f->arena, "", NULL, 0, NULL, NULL, NULL, &err),
                     KILN_EINVAL);
    assert_string_equal(err.msg, "Missing value for required parameter 'name'.");
    assert_int_equal(kiln_rm_get(f->reg, f->arena, "nope", &m, &err), KILN_ENOENT);
    assert_string_equal(err.msg, "Registered Model with name=nope not found");
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registered_models"), 1);
}

static void test_bad_tags_change_nothing(void **state)
{
    struct fx *f = *state;
    struct kiln_kv bad[] = { { "ok", "1" }, { "../escape", "2" } };
    struct kiln_err err = { 0 };
    char *big = malloc(100002);

    assert_int_equal(kiln_rm_create(f->reg, f->arena, "m", bad, 2, NULL, NULL, NULL, &err),
                     KILN_EINVAL);
    assert_non_null(strstr(err.msg, "../escape"));
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registered_models"), 0);
    fx_model(f, "m");
    memset(big, 'x', 100001);
    big[100001] = '\0';
    assert_int_equal(kiln_rm_set_tag(f->reg, "m", "k", big, &err), KILN_EINVAL);
    assert_string_equal(err.msg, "'value' exceeds the maximum length of 100000 characters");
    big[100000] = '\0';
    assert_int_equal(kiln_rm_set_tag(f->reg, "m", "k", big, &err), KILN_OK);
    assert_int_equal(kiln_rm_set_tag(f->reg, "m", "bad key!", "v", &err), KILN_EINVAL);
    assert_int_equal(kiln_rm_delete_tag(f->reg, "m", "absent", &err), KILN_OK);
    assert_int_equal(kiln_rm_delete_tag(f->reg, "m", "k", &err), KILN_OK);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registered_model_tags"), 0);
    free(big);
}

static void test_versions_numbering_and_delete(void **state)
{
    struct fx *f = *state;
    struct kiln_model_version *v;
    struct kiln_err err = { 0 };
    struct kiln_registered_model *m;

    fx_model(f, "m");
    v = fx_version(f, "m", "mlflow-artifacts:/0/r1/artifacts/model", NULL);
    assert_int_equal(v->version, 1);
    assert_string_equal(v->status, "READY");
    assert_string_equal(v->current_stage, "None");
    assert_string_equal(v->storage_location, "mlflow-artifacts:/0/r1/artifacts/model");
    assert_null(v->run_id);
    assert_int_equal(fx_version(f, "m", "mlflow-artifacts:/a", NULL)->version, 2);
    assert_int_equal(fx_version(f, "m", "mlflow-artifacts:/b", NULL)->version, 3);
    assert_int_equal(kiln_alias_set(f->reg, "m", "champion", 3, "bob", &err), KILN_OK);
    assert_int_equal(kiln_mv_delete(f->reg, "m", 3, "bob", &err), KILN_OK);
    /* Deleting a version drops its aliases (recorded) and its number is never reused. */
    assert_int_equal(kiln_mv_get(f->reg, f->arena, "m", 3, &v, &err), KILN_ENOENT);
    assert_string_equal(err.msg, "Model Version (name=m, version=3) not found");
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 0);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history WHERE action = "
                               "'version_deleted' AND from_version = 3"),
                     1);
    assert_int_equal(fx_version(f, "m", "mlflow-artifacts:/c", NULL)->version, 4);
    assert_int_equal(kiln_mv_delete(f->reg, "m", 3, NULL, &err), KILN_ENOENT);
    assert_int_equal(kiln_rm_get(f->reg, f->arena, "m", &m, &err), KILN_OK);
    assert_int_equal(m->nlatest, 1);
    assert_int_equal(m->latest[0].version, 4);
    /* The deleted row is redacted like MLflow's. */
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_versions WHERE version = 3 AND "
                               "source = 'REDACTED-SOURCE-PATH' AND deleted = 1"),
                     1);
    assert_int_equal(
        kiln_mv_create(f->reg, f->arena,
                       &(struct kiln_mv_create_args){ .name = "nope", .source = "x:/" }, &v, &err),
        KILN_ENOENT);
}

static void test_source_rules(void **state)
{
    struct fx *f = *state;
    struct kiln_mv_create_args a = { 0 };
    struct kiln_model_version *v;
    struct kiln_err err = { 0 };

    fx_model(f, "m");
    fx_run(f, "r1");
    fx_sql(f, "UPDATE runs SET artifact_uri = '/data/art/0/r1/artifacts' WHERE run_uuid = 'r1'");
    a.name = "m";
    a.source = "/data/art/0/r1/artifacts/model";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "run_id request parameter has to be specified"));
    a.run_id = "r1";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_OK);
    assert_string_equal(v->run_id, "r1");
    a.source = "/data/art/0/r1/artifacts/../../../etc";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    a.source = "/data/art/0/r1/artifactsX/model";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    a.run_id = NULL;
    a.source = "mlflow-artifacts:/0/r1/artifacts/%2E%2E/x";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "without relative path references"));
    a.source = "mlflow-artifacts:/0/r1/artifacts/%252E%252E/x"; /* encoded twice */
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    a.source = "s3://bucket/models/x";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_OK);
    assert_string_equal(v->storage_location, "s3://bucket/models/x");
    a.source = "";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    assert_string_equal(err.msg, "Missing value for required parameter 'source'.");
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_versions"), 2);
}

static void test_models_sources_resolve(void **state)
{
    struct fx *f = *state;
    struct kiln_mv_create_args a = { 0 };
    struct kiln_model_version *v;
    struct kiln_err err = { 0 };
    const char *uri;

    fx_model(f, "m");
    fx_run(f, "r9");
    fx_sql(f, "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, "
              "creation_timestamp_ms, last_updated_timestamp_ms, status, source_run_id) VALUES "
              "('m-abc', 0, 'model', 'mlflow-artifacts:/0/models/m-abc/artifacts', 1, 1, 2, "
              "'r9')");
    a.name = "m";
    a.source = "models:/m-abc";
    a.model_id = "m-abc";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_OK);
    assert_string_equal(v->source, "models:/m-abc");
    assert_string_equal(v->storage_location, "mlflow-artifacts:/0/models/m-abc/artifacts");
    assert_string_equal(v->run_id, "r9"); /* defaulted from the logged model */
    assert_int_equal(kiln_mv_download_uri(f->reg, f->arena, "m", 1, &uri, &err), KILN_OK);
    assert_string_equal(uri, "mlflow-artifacts:/0/models/m-abc/artifacts");
    /* models:/NAME/VERSION as a source: that version's storage location. */
    a.source = "models:/m/1";
    a.model_id = NULL;
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_OK);
    assert_string_equal(v->storage_location, "mlflow-artifacts:/0/models/m-abc/artifacts");
    a.source = "models:/m-missing";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "Unable to fetch model from model URI source"));
    a.source = "models:/m/77";
    assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_EINVAL);
}

static void test_stages(void **state)
{
    struct fx *f = *state;
    struct kiln_model_version *v, *latest;
    struct kiln_err err = { 0 };
    const char *const prod[] = { "production" };
    size_t n;

    fx_model(f, "m");
    for (int i = 0; i < 4; i++)
        fx_version(f, "m", "mlflow-artifacts:/x", NULL);
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 1, "production", 0, &v, &err),
                     KILN_OK);
    assert_string_equal(v->current_stage, "Production");
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 2, "PRODUCTION", 0, &v, &err),
                     KILN_OK);
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 3, "staging", 0, &v, &err),
                     KILN_OK);
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 3, "bogus", 0, &v, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 3, "Archived", 1, &v, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_rm_latest_versions(f->reg, f->arena, "m", prod, 1, &latest, &n, &err),
                     KILN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(latest[0].version, 2);
    assert_int_equal(kiln_rm_latest_versions(f->reg, f->arena, "m", NULL, 0, &latest, &n, &err),
                     KILN_OK);
    assert_int_equal(n, 3); /* None (v4), Production (v2), Staging (v3) */
    /* archive_existing_versions moves the other Production versions to Archived. */
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 4, "Production", 1, &v, &err),
                     KILN_OK);
    assert_int_equal(
        fx_int(f, "SELECT COUNT(*) FROM model_versions WHERE current_stage = 'Archived'"), 2);
    assert_int_equal(kiln_rm_latest_versions(f->reg, f->arena, "m", prod, 1, &latest, &n, &err),
                     KILN_OK);
    assert_int_equal(latest[0].version, 4);
}

static void test_aliases(void **state)
{
    struct fx *f = *state;
    struct kiln_model_version *v;
    struct kiln_registered_model *m;
    struct kiln_err err = { 0 };

    fx_model(f, "m");
    fx_version(f, "m", "mlflow-artifacts:/1", NULL);
    fx_version(f, "m", "mlflow-artifacts:/2", NULL);
    assert_int_equal(kiln_alias_set(f->reg, "m", "champion", 1, "u", &err), KILN_OK);
    assert_int_equal(kiln_alias_set(f->reg, "m", "champion", 2, "u", &err), KILN_OK);
    assert_int_equal(kiln_alias_get(f->reg, f->arena, "m", "champion", &v, &err), KILN_OK);
    assert_int_equal(v->version, 2);
    assert_int_equal(v->naliases, 1);
    assert_string_equal(v->aliases[0], "champion");
    assert_int_equal(kiln_alias_get(f->reg, f->arena, "m", "LATEST", &v, &err), KILN_OK);
    assert_int_equal(v->version, 2);
    /* Unknown alias: INVALID_PARAMETER_VALUE, also for an unknown model (MLflow's quirk). */
    assert_int_equal(kiln_alias_get(f->reg, f->arena, "m", "nope", &v, &err), KILN_EINVAL);
    assert_string_equal(err.msg, "Registered model alias nope not found.");
    assert_int_equal(kiln_alias_get(f->reg, f->arena, "zzz", "nope", &v, &err), KILN_EINVAL);
    assert_int_equal(kiln_alias_set(f->reg, "m", "latest", 1, "u", &err), KILN_EINVAL);
    assert_int_equal(kiln_alias_set(f->reg, "m", "v3", 1, "u", &err), KILN_EINVAL);
    assert_string_equal(err.msg, "Version alias name 'v3' is reserved.");
    assert_int_equal(kiln_alias_set(f->reg, "m", "bad alias", 1, "u", &err), KILN_EINVAL);
    assert_int_equal(kiln_alias_set(f->reg, "m", "x", 9, "u", &err), KILN_ENOENT);
    assert_int_equal(kiln_alias_delete(f->reg, "m", "absent", "u", &err), KILN_OK);
    assert_int_equal(kiln_alias_delete(f->reg, "zzz", "absent", "u", &err), KILN_ENOENT);
    assert_int_equal(kiln_rm_get(f->reg, f->arena, "m", &m, &err), KILN_OK);
    assert_int_equal(m->naliases, 1);
    assert_int_equal(m->aliases[0].version, 2);
    /* Two moves recorded, same-version set is not a move. */
    assert_int_equal(kiln_alias_set(f->reg, "m", "champion", 2, "u", &err), KILN_OK);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), 2);
    assert_int_equal(kiln_alias_delete(f->reg, "m", "champion", "u", &err), KILN_OK);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history WHERE action = 'delete'"), 1);
}

static void test_rename_and_delete(void **state)
{
    struct fx *f = *state;
    struct kiln_registered_model *m;
    struct kiln_model_version *v;
    struct kiln_err err = { 0 };

    fx_model(f, "a");
    fx_model(f, "b");
    fx_version(f, "a", "mlflow-artifacts:/1", NULL);
    assert_int_equal(kiln_alias_set(f->reg, "a", "prod", 1, "u", &err), KILN_OK);
    assert_int_equal(kiln_rm_rename(f->reg, f->arena, "a", "b", &m, &err), KILN_EEXIST);
    assert_string_equal(err.msg, "Registered Model (name=b) already exists.");
    assert_int_equal(kiln_rm_rename(f->reg, f->arena, "a", "", &m, &err), KILN_EINVAL);
    assert_string_equal(err.msg, "Missing value for required parameter 'new_name'.");
    assert_int_equal(kiln_rm_rename(f->reg, f->arena, "a", "c", &m, &err), KILN_OK);
    assert_string_equal(m->name, "c");
    assert_int_equal(kiln_alias_get(f->reg, f->arena, "c", "prod", &v, &err), KILN_OK);
    assert_string_equal(v->name, "c");
    assert_int_equal(kiln_rm_get(f->reg, f->arena, "a", &m, &err), KILN_ENOENT);
    assert_int_equal(kiln_rm_update(f->reg, f->arena, "c", "new text", &m, &err), KILN_OK);
    assert_string_equal(m->description, "new text");
    assert_int_equal(kiln_rm_delete(f->reg, "c", "u", &err), KILN_OK);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_versions"), 0);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 0);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), 0);
    /* The event log keeps the record of what happened. */
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registry_events WHERE type = "
                               "'registered_model.deleted' AND model = 'c'"),
                     1);
}

static void test_search_models(void **state)
{
    struct fx *f = *state;
    struct kiln_registered_model *ms;
    struct kiln_registry_search q = { 0 };
    struct kiln_err err = { 0 };
    const char *tok;
    const char *const by_time[] = { "timestamp DESC" };
    const char *const dup[] = { "name", "name DESC" };
    const char *const bad[] = { "creation_timestamp" };
    size_t n;
    char name[32];

    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof(name), "model-%02d", i);
        fx_model(f, name);
    }
    assert_int_equal(kiln_rm_set_tag(f->reg, "model-03", "team", "risk", &err), KILN_OK);
    assert_int_equal(kiln_rm_set_tag(f->reg, "model-04", "mlflow.prompt.is_prompt", "true", &err),
                     KILN_OK);
    /* Prompts are excluded by default; pages follow name order. */
    q.max_results = 10;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 10);
    assert_string_equal(ms[0].name, "model-00");
    assert_string_equal(ms[4].name, "model-05");
    assert_non_null(tok);
    q.page_token = tok;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 10);
    q.page_token = tok;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 4);
    assert_null(tok);
    memset(&q, 0, sizeof(q));
    q.filter = "tags.team = 'risk'";
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0].name, "model-03");
    q.filter = "tags.`mlflow.prompt.is_prompt` = 'true'";
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0].name, "model-04");
    q.filter = "name LIKE 'model-1%'";
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 10);
    q.filter = "name ILIKE 'MODEL-2%' AND name != 'model-20'";
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 4);
    q.filter = "name = 'a' OR name = 'b'";
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_EINVAL);
    q.filter = NULL;
    q.order_by = by_time;
    q.norder_by = 1;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 24);
    assert_true(ms[0].last_updated_timestamp >= ms[23].last_updated_timestamp);
    q.order_by = dup;
    q.norder_by = 2;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_EINVAL);
    q.order_by = bad;
    q.norder_by = 1;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_EINVAL);
    memset(&q, 0, sizeof(q));
    q.max_results = 1001;
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "at most 1000"));
    q.max_results = 0;
    q.page_token = "not-a-token";
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_EINVAL);
}

static void test_search_versions(void **state)
{
    struct fx *f = *state;
    struct kiln_model_version *vs;
    struct kiln_registry_search q = { 0 };
    struct kiln_err err = { 0 };
    const char *tok;
    const char *const asc[] = { "version_number ASC" };
    size_t n;

    fx_model(f, "a");
    fx_model(f, "b");
    for (int i = 0; i < 5; i++)
        fx_version(f, "a", "mlflow-artifacts:/a", i % 2 ? "r1" : "r2");
    fx_version(f, "b", "mlflow-artifacts:/b/x", "r3");
    assert_int_equal(kiln_mv_set_tag(f->reg, "a", 2, "stage", "qa", &err), KILN_OK);
    assert_int_equal(kiln_mv_delete(f->reg, "a", 5, NULL, &err), KILN_OK);
    q.filter = "name = 'a'";
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 4); /* deleted versions never appear */
    q.filter = "name = 'a' AND version_number >= 3";
    q.order_by = asc;
    q.norder_by = 1;
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(vs[0].version, 3);
    assert_int_equal(vs[1].version, 4);
    q.order_by = NULL;
    q.norder_by = 0;
    q.filter = "run_id IN ('r1', 'r3')";
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 3);
    q.filter = "tags.stage = 'qa'";
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(vs[0].version, 2);
    assert_string_equal(vs[0].tags[0].key, "stage");
    q.filter = "source_path LIKE '%/b/%'";
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(vs[0].name, "b");
    q.filter = "name IN ('a')";
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_EINVAL);
    q.filter = NULL;
    q.max_results = -1;
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_EINVAL);
    q.max_results = 200001;
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_EINVAL);
    q.max_results = 2;
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 2);
    assert_non_null(tok);
    /* More results than the first id buffer (64) holds. */
    fx_model(f, "big");
    for (int i = 0; i < 130; i++)
        fx_version(f, "big", "mlflow-artifacts:/big", NULL);
    memset(&q, 0, sizeof(q));
    q.filter = "name = 'big'";
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 130);
    assert_null(tok);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(vs[i].name, "big");
}

/* A search page (loaded in batches) holds exactly what get/get-version answer one by one. */
static void test_search_matches_get(void **state)
{
    struct fx *f = *state;
    struct kiln_registry_search q = { 0 };
    struct kiln_registered_model *ms, *m;
    struct kiln_model_version *vs, *v;
    struct kiln_err err = { 0 };
    const char *tok;
    size_t n;
    char name[32], key[16];

    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        fx_model(f, name);
        for (int t = 0; t < i % 3 + 1; t++) {
            snprintf(key, sizeof(key), "k%d", t);
            assert_int_equal(kiln_rm_set_tag(f->reg, name, key, "v", &err), KILN_OK);
        }
        for (int64_t ver = 1; ver <= i + 1; ver++) {
            fx_version(f, name, "mlflow-artifacts:/x", NULL);
            snprintf(key, sizeof(key), "t%lld", (long long)ver);
            assert_int_equal(kiln_mv_set_tag(f->reg, name, ver, key, "1", &err), KILN_OK);
            assert_int_equal(kiln_mv_set_tag(f->reg, name, ver, "z", "2", &err), KILN_OK);
        }
        assert_int_equal(kiln_alias_set(f->reg, name, "b", (i + 1) / 2 + 1, "u", &err), KILN_OK);
        assert_int_equal(kiln_alias_set(f->reg, name, "a", i + 1, "u", &err), KILN_OK);
        if (i >= 2) {
            assert_int_equal(
                kiln_mv_transition_stage(f->reg, f->arena, name, 2, "Staging", 0, NULL, &err),
                KILN_OK);
            assert_int_equal(
                kiln_mv_transition_stage(f->reg, f->arena, name, 1, "Production", 0, NULL, &err),
                KILN_OK);
        }
    }
    assert_int_equal(kiln_rm_search(f->reg, f->arena, &q, &ms, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(kiln_rm_get(f->reg, f->arena, ms[i].name, &m, &err), KILN_OK);
        assert_int_equal(ms[i].ntags, m->ntags);
        assert_int_equal(ms[i].naliases, m->naliases);
        for (size_t j = 0; j < m->naliases; j++) {
            assert_string_equal(ms[i].aliases[j].alias, m->aliases[j].alias);
            assert_int_equal(ms[i].aliases[j].version, m->aliases[j].version);
        }
        assert_int_equal(ms[i].nlatest, m->nlatest);
        for (size_t j = 0; j < m->nlatest; j++) {
            assert_int_equal(ms[i].latest[j].version, m->latest[j].version);
            assert_string_equal(ms[i].latest[j].current_stage, m->latest[j].current_stage);
            assert_int_equal(ms[i].latest[j].ntags, m->latest[j].ntags);
            assert_string_equal(ms[i].latest[j].tags[1].key, "z");
        }
    }
    q.max_results = 1000;
    assert_int_equal(kiln_mv_search(f->reg, f->arena, &q, &vs, &n, &tok, &err), KILN_OK);
    assert_int_equal(n, 28);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(kiln_mv_get(f->reg, f->arena, vs[i].name, vs[i].version, &v, &err),
                         KILN_OK);
        assert_string_equal(vs[i].source, v->source);
        assert_string_equal(vs[i].current_stage, v->current_stage);
        assert_int_equal(vs[i].ntags, 2);
        assert_int_equal(vs[i].naliases, v->naliases);
        for (size_t j = 0; j < v->naliases; j++)
            assert_string_equal(vs[i].aliases[j], v->aliases[j]);
    }
}

static void test_resolve(void **state)
{
    struct fx *f = *state;
    struct kiln_resolved_model r;
    struct kiln_err err = { 0 };

    fx_model(f, "m");
    fx_run(f, "r1");
    fx_version(f, "m", "runs:/r1/model", "r1");
    fx_version(f, "m", "mlflow-artifacts:/0/r1/artifacts/m2", "r1");
    assert_int_equal(kiln_alias_set(f->reg, "m", "prod", 1, "u", &err), KILN_OK);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m@prod", &r, &err), KILN_OK);
    assert_string_equal(r.name, "m");
    assert_int_equal(r.version, 1);
    assert_string_equal(r.alias, "prod");
    /* A runs:/ storage location is followed to the run's artifact URI. */
    assert_string_equal(r.artifact_uri, "mlflow-artifacts:/0/r1/artifacts/model");
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m/2", &r, &err), KILN_OK);
    assert_string_equal(r.artifact_uri, "mlflow-artifacts:/0/r1/artifacts/m2");
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m/latest", &r, &err),
                     KILN_OK);
    assert_int_equal(r.version, 2);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m/Staging", &r, &err),
                     KILN_ENOENT);
    assert_int_equal(kiln_mv_transition_stage(f->reg, f->arena, "m", 1, "Staging", 0, NULL, &err),
                     KILN_OK);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m/staging", &r, &err),
                     KILN_OK);
    assert_int_equal(r.version, 1);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "runs:/r1/a/b", &r, &err), KILN_OK);
    assert_string_equal(r.artifact_uri, "mlflow-artifacts:/0/r1/artifacts/a/b");
    assert_string_equal(r.run_id, "r1");
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "runs:/r1", &r, &err), KILN_OK);
    assert_string_equal(r.artifact_uri, "mlflow-artifacts:/0/r1/artifacts");
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "mlflow-artifacts:/x/y", &r, &err),
                     KILN_OK);
    assert_string_equal(r.artifact_uri, "mlflow-artifacts:/x/y");
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m@nope", &r, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/m/9", &r, &err), KILN_ENOENT);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/zz/1", &r, &err),
                     KILN_ENOENT);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "runs:/nope/x", &r, &err),
                     KILN_ENOENT);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "models:/", &r, &err), KILN_EINVAL);
    assert_int_equal(kiln_registry_resolve(f->reg, f->arena, "sqlite:///x.db", &r, &err),
                     KILN_EINVAL);
}

/* Store faults at every step: each call fails cleanly and leaves the store as it was. */
static void test_store_faults(void **state)
{
    struct fx *f = *state;
    struct kiln_err err = { 0 };
    int rc;

    fx_model(f, "m");
    for (long n = 0;; n++) {
        struct kiln_mv_create_args a = { .name = "m", .source = "mlflow-artifacts:/x" };
        struct kiln_model_version *v;
        int64_t before = fx_int(f, "SELECT COUNT(*) FROM model_versions");
        int64_t events = fx_int(f, "SELECT COUNT(*) FROM registry_events");
        kiln_store_fail_after(n);
        rc = kiln_mv_create(f->reg, f->arena, &a, &v, &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_versions"), before);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM registry_events"), events);
        assert_true(n < 1000);
    }
    for (long n = 0;; n++) {
        kiln_store_fail_after(n);
        rc = kiln_alias_set(f->reg, "m", "prod", 1, "u", &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 0);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM alias_history"), 0);
    }
    for (long n = 0;; n++) {
        kiln_store_fail_after(n);
        rc = kiln_mv_delete(f->reg, "m", 1, "u", &err);
        kiln_store_fail_after(-1);
        if (rc == KILN_OK)
            break;
        assert_int_equal(rc, KILN_EIO);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_aliases"), 1);
        assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM model_versions WHERE deleted = 1"), 0);
    }
}

/* Allocation failures: every call returns KILN_ENOMEM cleanly until it succeeds. */
static void test_oom(void **state)
{
    struct fx *f = *state;
    struct kiln_err err = { 0 };
    struct kiln_registered_model *m;
    struct kiln_model_version *v;
    struct kiln_registry_search q = { .filter = "name LIKE 'o%'" };
    const char *tok;
    size_t n;

    KILN_OOM_LOOP(kiln_rm_create(f->reg, f->arena, "oom", NULL, 0, "d", "u", &m, &err),
                  kiln_rm_delete(f->reg, "oom", NULL, NULL));
    KILN_OOM_LOOP(kiln_mv_create(f->reg, f->arena,
                                 &(struct kiln_mv_create_args){ .name = "oom",
                                                                .source = "mlflow-artifacts:/q" },
                                 &v, &err),
                  (void)0);
    KILN_OOM_LOOP(kiln_rm_get(f->reg, f->arena, "oom", &m, &err), (void)0);
    KILN_OOM_LOOP(kiln_rm_search(f->reg, f->arena, &q, &m, &n, &tok, &err), (void)0);
    q.filter = "name = 'oom'";
    KILN_OOM_LOOP(kiln_mv_search(f->reg, f->arena, &q, &v, &n, &tok, &err), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_duplicate, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_tags_change_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_versions_numbering_and_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_source_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_models_sources_resolve, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stages, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_aliases, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_search_models, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_search_versions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_search_matches_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_resolve, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_faults, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_oom, fx_setup, fx_teardown),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

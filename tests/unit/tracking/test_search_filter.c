/*
 * test_search_filter.c - the search filter / order_by parser and its SQL translation: syntax,
 * schema resolution, MLflow's error cases, bound parameters only, results on a real SQLite
 * store, and an OOM loop.
 */
#include "kiln_test.h"

#include <math.h>

#include "core/arena.h"
#include "core/fs.h"
#include "store/migrations/migrations.h"
#include "store/store.h"
#include "tracking/search_filter.h"
#include "tracking/tracking.h"

static struct kiln_arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = kiln_arena_new(0);
    return arena == NULL;
}

static int teardown(void **state)
{
    (void)state;
    kiln_arena_free(arena);
    return 0;
}

static struct kiln_sf_filter *parse_ok(const char *text)
{
    struct kiln_sf_filter *f = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_sf_parse(text, &kiln_sf_schema_runs, arena, &f, &err);
    if (rc != KILN_OK)
        fail_msg("parse of '%s' failed: %s", text, err.msg);
    assert_non_null(f);
    return f;
}

/* Parses text expecting KILN_EINVAL whose message contains `needle`. */
static void parse_bad(const struct kiln_sf_schema *s, const char *text, const char *needle)
{
    struct kiln_sf_filter *f = NULL;
    struct kiln_err err = { 0 };
    int rc = kiln_sf_parse(text, s, arena, &f, &err);
    if (rc != KILN_EINVAL)
        fail_msg("'%s': expected KILN_EINVAL, got %d (%s)", text, rc, err.msg);
    assert_null(f);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, needle);
}

static void test_basic(void **state)
{
    struct kiln_sf_filter *f = parse_ok("metrics.acc > 0.5 and params.lr = '0.1'");
    (void)state;
    assert_int_equal(f->n, 2);
    assert_int_equal(f->cmps[0].kind, KILN_SF_METRIC);
    assert_string_equal(f->cmps[0].key, "acc");
    assert_int_equal(f->cmps[0].op, KILN_SF_GT);
    assert_int_equal(f->cmps[0].value.kind, KILN_SF_V_NUMBER);
    assert_true(f->cmps[0].value.num == 0.5);
    assert_false(f->cmps[0].value.is_int);
    assert_int_equal(f->cmps[1].kind, KILN_SF_PARAM);
    assert_string_equal(f->cmps[1].key, "lr");
    assert_int_equal(f->cmps[1].op, KILN_SF_EQ);
    assert_int_equal(f->cmps[1].value.kind, KILN_SF_V_STRING);
    assert_string_equal(f->cmps[1].value.str, "0.1");

    assert_int_equal(parse_ok(NULL)->n, 0);
    assert_int_equal(parse_ok("")->n, 0);
    assert_int_equal(parse_ok("  \t\n ")->n, 0);
}

static void test_identifiers(void **state)
{
    struct kiln_sf_filter *f;
    (void)state;
    f = parse_ok("tags.`mlflow.runName` = 'x' AND metrics.\"val loss\" <= 1 AND "
                 "params.`a b-c/d:e` LIKE '%x%' AND metric.a.b.c != -2 AND "
                 "parameter.p ILIKE 'Q%' AND tag.t != \"v\" AND attribute.status = 'RUNNING'");
    assert_int_equal(f->n, 7);
    assert_int_equal(f->cmps[0].kind, KILN_SF_TAG);
    assert_string_equal(f->cmps[0].key, "mlflow.runName");
    assert_int_equal(f->cmps[1].kind, KILN_SF_METRIC);
    assert_string_equal(f->cmps[1].key, "val loss");
    assert_int_equal(f->cmps[1].op, KILN_SF_LE);
    assert_string_equal(f->cmps[2].key, "a b-c/d:e");
    assert_int_equal(f->cmps[2].op, KILN_SF_LIKE);
    assert_string_equal(f->cmps[3].key, "a.b.c");
    assert_int_equal(f->cmps[3].value.inum, -2);
    assert_true(f->cmps[3].value.is_int);
    assert_int_equal(f->cmps[4].op, KILN_SF_ILIKE);
    assert_string_equal(f->cmps[5].value.str, "v");
    assert_int_equal(f->cmps[6].kind, KILN_SF_ATTR);
    assert_string_equal(f->cmps[6].field->column, "runs.status");

    /* Prefix aliases and attributes without a prefix. */
    f = parse_ok("run_name = 'a' and attr.user_id = 'u' and run.artifact_uri LIKE 's3:%' and "
                 "attributes.`run name` = 'b' and created >= 10 and `Run Name` != 'c' and "
                 "params.x = 'y' and PARAMETERS.x = 'y' and Metrics.m < 3");
    assert_int_equal(f->n, 9);
    assert_string_equal(f->cmps[0].field->column, "runs.name");
    assert_string_equal(f->cmps[1].field->column, "runs.user_id");
    assert_string_equal(f->cmps[3].field->column, "runs.name");
    assert_string_equal(f->cmps[4].field->column, "runs.start_time");
    assert_string_equal(f->cmps[5].field->column, "runs.name");
    assert_int_equal(f->cmps[7].kind, KILN_SF_PARAM);
    assert_int_equal(f->cmps[8].kind, KILN_SF_METRIC);
}

static void test_values(void **state)
{
    struct kiln_sf_filter *f;
    (void)state;
    f = parse_ok("metrics.a = 1e3 and metrics.b = .5 and metrics.c = -1.5E-2 and "
                 "metrics.d = +7 and metrics.e=12 and metrics.f = 9223372036854775808");
    assert_int_equal(f->n, 6);
    assert_true(f->cmps[0].value.num == 1000.0);
    assert_false(f->cmps[0].value.is_int);
    assert_true(f->cmps[1].value.num == 0.5);
    assert_true(f->cmps[2].value.num == -0.015);
    assert_true(f->cmps[3].value.is_int);
    assert_int_equal(f->cmps[3].value.inum, 7);
    assert_int_equal(f->cmps[4].value.inum, 12);
    assert_false(f->cmps[5].value.is_int); /* does not fit int64: compared as a double */
    assert_true(f->cmps[5].value.num == 9223372036854775808.0);

    /* Escapes: doubled quotes and backslash-quote; other backslashes stay. */
    f = parse_ok("params.a = 'it''s' and params.b = 'it\\'s' and params.c = 'C:\\dir\\x' and "
                 "params.d = \"say \"\"hi\"\"\" and tags.`we``ird` = '' and params.e = 'a\\\\'");
    assert_string_equal(f->cmps[0].value.str, "it's");
    assert_string_equal(f->cmps[1].value.str, "it's");
    assert_string_equal(f->cmps[2].value.str, "C:\\dir\\x");
    assert_string_equal(f->cmps[3].value.str, "say \"hi\"");
    assert_string_equal(f->cmps[4].key, "we`ird");
    assert_string_equal(f->cmps[4].value.str, "");
    assert_string_equal(f->cmps[5].value.str, "a\\");

    /* Lists. */
    f = parse_ok("attributes.run_id IN ('a', \"b\",'c') and run_id not  in ('d') and "
                 "datasets.name IN ('train') and dataset.context NOT IN ('eval', 'test') and "
                 "datasets.digest = 'abc'");
    assert_int_equal(f->n, 5);
    assert_int_equal(f->cmps[0].op, KILN_SF_IN);
    assert_int_equal(f->cmps[0].value.nlist, 3);
    assert_string_equal(f->cmps[0].value.list[1], "b");
    assert_int_equal(f->cmps[1].op, KILN_SF_NOT_IN);
    assert_int_equal(f->cmps[1].value.nlist, 1);
    assert_int_equal(f->cmps[2].kind, KILN_SF_DATASET);
    assert_string_equal(f->cmps[2].field->column, "d.name");
    assert_int_equal(f->cmps[3].op, KILN_SF_NOT_IN);
    assert_string_equal(f->cmps[4].field->column, "d.digest");
}

static void test_errors(void **state)
{
    const struct kiln_sf_schema *r = &kiln_sf_schema_runs;
    (void)state;
    parse_bad(r, "metrics.a > 1 OR metrics.b > 2", "OR is not supported");
    parse_bad(r, "(metrics.a > 1)", "parentheses");
    parse_bad(r, "NOT metrics.a > 1", "NOT is only supported");
    parse_bad(r, "foo.a = 'x'", "Invalid entity type 'foo'");
    parse_bad(r, "attributes.nope = 'x'", "Invalid attribute key 'nope'");
    parse_bad(r, "nope = 'x'", "Invalid attribute key 'nope'");
    parse_bad(r, "metrics.a LIKE '1'", "Invalid comparator 'LIKE'");
    parse_bad(r, "params.a > '1'", "Invalid comparator '>'");
    parse_bad(r, "tags.a IN ('1')", "Invalid comparator 'IN'");
    parse_bad(r, "run_name IN ('a')", "Invalid comparator 'IN'");
    parse_bad(r, "metrics.a = 'x'", "Expected numeric value type");
    parse_bad(r, "start_time > '5'", "Expected numeric value type");
    parse_bad(r, "params.a = 1", "Expected a quoted string value");
    parse_bad(r, "params.a = abc", "expected a value");
    parse_bad(r, "run_id IN 'a'", "parenthesised list");
    parse_bad(r, "run_id = ('a')", "Expected a quoted string value");
    parse_bad(r, "run_id IN ()", "expected a quoted string in the list");
    parse_bad(r, "run_id IN ('a' 'b')", "expected ',' or ')'");
    parse_bad(r, "run_id IN ('a',", "unterminated list");
    parse_bad(r, "params.a = 'x", "unterminated quoted string");
    parse_bad(r, "params.`a = 'x'", "unterminated quoted string");
    parse_bad(r, "metrics.a > 1 metrics.b > 2", "expected AND");
    parse_bad(r, "metrics.a > 1 AND", "expected a comparison after AND");
    parse_bad(r, "metrics.a >", "expected a value after the comparator");
    parse_bad(r, "metrics.a", "expected a comparator");
    parse_bad(r, "metrics.a <> 1", "'<>'");
    parse_bad(r, "metrics.a == 1", "'=='");
    parse_bad(r, "metrics. = 1", "expected a key after the '.'");
    parse_bad(r, ".a = 1", "empty prefix");
    parse_bad(r, "metrics.a > 1x", "malformed number");
    parse_bad(r, "metrics.a > 1e", "malformed number");
    parse_bad(r, "metrics.a > -", "expected a value");
    parse_bad(r, "= 1", "expected an identifier");
    parse_bad(r, "params.a NOT LIKE 'x'", "expected IN after NOT");
    parse_bad(r, "datasets.size = 'x'", "Invalid dataset key 'size'");
    parse_bad(&kiln_sf_schema_experiments, "metrics.a > 1", "cannot use metrics");
    parse_bad(&kiln_sf_schema_experiments, "experiment_id = 1", "Invalid attribute key");
    /* Errors carry the position. */
    parse_bad(r, "metrics.a > 1 and params.b = 2", "position 30");

    {
        /* Too many comparisons. */
        struct kiln_buf b;
        kiln_buf_init(&b, 1 << 20);
        for (int i = 0; i <= KILN_SF_MAX_COMPARISONS; i++)
            kiln_buf_printf(&b, "%smetrics.m%d > %d", i ? " AND " : "", i, i);
        parse_bad(r, b.buf, "too many comparisons");
        kiln_buf_reset(&b);
        kiln_buf_puts(&b, "run_id IN (");
        for (int i = 0; i <= KILN_SF_MAX_LIST; i++)
            kiln_buf_printf(&b, "%s'r%d'", i ? "," : "", i);
        kiln_buf_puts(&b, ")");
        parse_bad(r, b.buf, "too many values");
        kiln_buf_release(&b);
    }
}

static void order_ok(const char *text, enum kiln_sf_kind kind, const char *key, int desc)
{
    struct kiln_sf_order o;
    struct kiln_err err = { 0 };
    int rc = kiln_sf_parse_order_by(text, &kiln_sf_schema_runs, arena, &o, &err);
    if (rc != KILN_OK)
        fail_msg("order_by '%s': %s", text, err.msg);
    assert_int_equal(o.kind, kind);
    assert_string_equal(o.key, key);
    assert_int_equal(o.desc, desc);
}

static void order_bad(const struct kiln_sf_schema *s, const char *text, const char *needle)
{
    struct kiln_sf_order o;
    struct kiln_err err = { 0 };
    int rc = kiln_sf_parse_order_by(text, s, arena, &o, &err);
    assert_int_equal(rc, KILN_EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, needle);
}

static void test_order_by(void **state)
{
    struct kiln_sf_order o;
    struct kiln_err err = { 0 };
    (void)state;
    order_ok("metrics.acc DESC", KILN_SF_METRIC, "acc", 1);
    order_ok("metrics.`val loss`", KILN_SF_METRIC, "val loss", 0);
    order_ok("attributes.start_time asc", KILN_SF_ATTR, "start_time", 0);
    order_ok("created DESC", KILN_SF_ATTR, "start_time", 1);
    order_ok("`Run name`", KILN_SF_ATTR, "run_name", 0);
    order_ok("params.lr desc", KILN_SF_PARAM, "lr", 1);
    order_ok("  tags.`mlflow.runName`   ASC  ", KILN_SF_TAG, "mlflow.runName", 0);
    order_bad(&kiln_sf_schema_runs, "metrics.acc DESC extra", "unexpected text");
    order_bad(&kiln_sf_schema_runs, "metrics.acc sideways", "expected ASC or DESC");
    order_bad(&kiln_sf_schema_runs, "datasets.name", "cannot use datasets");
    order_bad(&kiln_sf_schema_runs, "nope", "Invalid attribute key");
    order_bad(&kiln_sf_schema_runs, "", "empty order_by");
    order_bad(&kiln_sf_schema_experiments, "tags.x", "cannot use tags");
    assert_int_equal(
        kiln_sf_parse_order_by("experiment_id DESC", &kiln_sf_schema_experiments, arena, &o, &err),
        KILN_OK);
    assert_string_equal(o.field->column, "experiments.experiment_id");
}

static void test_sql_bound(void **state)
{
    struct kiln_sf_filter *f;
    struct kiln_sql q;
    struct kiln_err err = { 0 };
    (void)state;
    f = parse_ok("params.`x' OR 1=1 --` = 'a'' OR ''1''=''1' AND metrics.m != 2 AND "
                 "run_id IN ('r1', 'r2') AND run_name ILIKE '%Ab%' AND start_time > 1.5");
    kiln_sql_init(&q);
    assert_int_equal(kiln_sf_to_sql(f, &kiln_sf_schema_runs, &q, &err), KILN_OK);
    /* No user text in the SQL. */
    assert_null(strstr(q.text.buf, "OR 1=1"));
    assert_null(strstr(q.text.buf, "r1"));
    assert_null(strstr(q.text.buf, "Ab"));
    assert_non_null(strstr(q.text.buf, "(lm.is_nan = 1 OR lm.value != ?)"));
    assert_non_null(strstr(q.text.buf, "runs.run_uuid IN (?, ?)"));
    assert_non_null(strstr(q.text.buf, "LOWER(runs.name) LIKE LOWER(?)"));
    assert_int_equal(q.nargs, 8);
    assert_int_equal(q.args[0].type, KILN_SQL_TEXT);
    assert_string_equal(q.args[0].text, "x' OR 1=1 --");
    assert_string_equal(q.args[1].text, "a' OR '1'='1");
    assert_int_equal(q.args[3].type, KILN_SQL_INT64);
    assert_int_equal(q.args[3].i, 2);
    assert_string_equal(q.args[5].text, "r2");
    assert_int_equal(q.args[7].type, KILN_SQL_DOUBLE);
    kiln_sql_release(&q);
}

/* ---- against a real store ------------------------------------------------------------- */

static char dir[256];
static struct kiln_store *store;

static int store_setup(void **state)
{
    char uri[300];
    struct kiln_err err = { 0 };
    struct kiln_tx *tx;
    static const char rows[] =
        "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, "
        "artifact_uri) VALUES "
        "('r1', 'alpha', 0, 'ann', 'FINISHED', 100, 'x'), "
        "('r2', 'Beta', 0, 'bob', 'RUNNING', 200, 'x'), "
        "('r3', 'gamma', 0, 'ann', 'FAILED', 300, 'x'), "
        "('r4', 'delta_x', 0, 'cat', 'FINISHED', 400, 'x');"
        "INSERT INTO latest_metrics VALUES ('r1', 'acc', 0.5, 1, 0, 0), "
        "('r2', 'acc', 0.9, 1, 0, 0), ('r3', 'acc', 0, 1, 0, 1), ('r1', 'val loss', 2, 1, 0, 0),"
        "('r4', 'acc', 9e999, 1, 0, 0);"
        "INSERT INTO params VALUES ('r1', 'lr', '0.1'), ('r2', 'lr', '0.01'), "
        "('r3', 'opt', 'Adam');"
        "INSERT INTO tags VALUES ('r1', 'mlflow.runName', 'alpha'), ('r2', 'team', 'Vision'), "
        "('r3', 'team', 'vision');"
        "INSERT INTO datasets VALUES ('d1', 0, 'train', 'abc', 'local', 's', NULL, NULL), "
        "('d2', 0, 'eval', 'def', 'local', 's', NULL, NULL);"
        "INSERT INTO inputs VALUES ('i1', 'DATASET', 'd1', 'RUN', 'r1'), "
        "('i2', 'DATASET', 'd2', 'RUN', 'r2'), ('i3', 'DATASET', 'd1', 'RUN', 'r3');"
        "INSERT INTO input_tags VALUES ('i1', 'mlflow.data.context', 'training'), "
        "('i2', 'mlflow.data.context', 'eval');";
    (void)state;
    if (kiln_test_tmpdir(dir, sizeof(dir)) == NULL)
        return 1;
    snprintf(uri, sizeof(uri), "sqlite:///%s/t.db", dir);
    if (kiln_store_open(uri, kiln_schema_all, 2, &store, &err) != KILN_OK ||
        kiln_tracking_init(store, "mlflow-artifacts:/", &err) != KILN_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    if (kiln_store_begin(store, KILN_TX_WRITE, &tx, &err) != KILN_OK)
        return 1;
    if (kiln_tx_exec(tx, rows, &err) != KILN_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        kiln_store_rollback(tx);
        return 1;
    }
    return kiln_store_commit(tx, &err) != KILN_OK || setup(state);
}

static int store_teardown(void **state)
{
    kiln_store_close(store);
    kiln_remove_tree(dir, NULL);
    return teardown(state);
}

/* Runs the filter over the fixture and returns the matching run ids, sorted, joined by ','. */
static const char *matches(const char *filter)
{
    struct kiln_sf_filter *f = parse_ok(filter);
    struct kiln_sql q;
    struct kiln_err err = { 0 };
    struct kiln_tx *tx;
    struct kiln_stmt *st;
    struct kiln_buf out;
    const char *res;
    int rc;

    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT run_uuid FROM runs WHERE experiment_id = 0");
    assert_int_equal(kiln_sf_to_sql(f, &kiln_sf_schema_runs, &q, &err), KILN_OK);
    kiln_sql_add(&q, " ORDER BY run_uuid");
    assert_int_equal(kiln_sql_status(&q), KILN_OK);
    assert_int_equal(kiln_store_begin(store, KILN_TX_READ, &tx, &err), KILN_OK);
    rc = kiln_tx_prepare(tx, q.text.buf, &st, &err);
    if (rc != KILN_OK)
        fail_msg("prepare '%s': %s", q.text.buf, err.msg);
    assert_int_equal(kiln_sql_bind(&q, st, 1), KILN_OK);
    kiln_buf_init(&out, 4096);
    while ((rc = kiln_stmt_step(st, &err)) == KILN_STMT_ROW)
        kiln_buf_printf(&out, "%s%s", out.len ? "," : "", kiln_stmt_text(st, 0));
    assert_int_equal(rc, KILN_STMT_DONE);
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    kiln_sql_release(&q);
    res = kiln_arena_strdup(arena, out.buf);
    kiln_buf_release(&out);
    return res;
}

static void test_sql_results(void **state)
{
    (void)state;
    assert_string_equal(matches(""), "r1,r2,r3,r4");
    assert_string_equal(matches("metrics.acc > 0.6"), "r2,r4");
    assert_string_equal(matches("metrics.acc >= 0.5 and metrics.acc < 1"), "r1,r2");
    /* NaN (r3) is in no order relation and unequal to everything; r4 holds +inf. */
    assert_string_equal(matches("metrics.acc = 0"), "");
    assert_string_equal(matches("metrics.acc != 0.5"), "r2,r3,r4");
    assert_string_equal(matches("metrics.acc > 1e308"), "r4");
    assert_string_equal(matches("metrics.`val loss` = 2"), "r1");
    /* A run lacking the key never matches, even for !=. */
    assert_string_equal(matches("params.lr != '0.1'"), "r2");
    assert_string_equal(matches("params.lr LIKE '0.%'"), "r1,r2");
    assert_string_equal(matches("params.opt LIKE 'adam'"), "");
    assert_string_equal(matches("params.opt ILIKE 'adam'"), "r3");
    assert_string_equal(matches("tags.team = 'vision'"), "r3");
    assert_string_equal(matches("tags.team ILIKE 'VISION'"), "r2,r3");
    assert_string_equal(matches("tags.`mlflow.runName` = 'alpha'"), "r1");
    assert_string_equal(matches("run_name = 'Beta'"), "r2");
    assert_string_equal(matches("attributes.run_name LIKE '%a'"), "r1,r2,r3");
    assert_string_equal(matches("run_name LIKE 'delta_x'"), "r4");
    assert_string_equal(matches("`Run name` ILIKE 'b%'"), "r2");
    assert_string_equal(matches("user_id = 'ann' and status != 'FAILED'"), "r1");
    assert_string_equal(matches("run_id IN ('r1', 'r4', 'zz')"), "r1,r4");
    assert_string_equal(matches("run_id NOT IN ('r1', 'r4')"), "r2,r3");
    assert_string_equal(matches("start_time >= 200 and created < 400"), "r2,r3");
    assert_string_equal(matches("end_time > 0"), "");
    assert_string_equal(matches("datasets.name = 'train'"), "r1,r3");
    assert_string_equal(matches("datasets.digest IN ('def')"), "r2");
    assert_string_equal(matches("datasets.context = 'training'"), "r1");
    assert_string_equal(matches("datasets.name = 'train' and datasets.context = 'training'"), "r1");
    assert_string_equal(matches("params.lr = 'x'' OR ''1''=''1'"), "");
}

static int parse_oom(void)
{
    struct kiln_arena *a = kiln_arena_new(256);
    struct kiln_sf_filter *f;
    struct kiln_sf_order o;
    struct kiln_sql q;
    struct kiln_err err = { 0 };
    int rc;
    if (a == NULL)
        return KILN_ENOMEM;
    rc = kiln_sf_parse("metrics.acc > 0.5 and params.`a b` = 'x''y' and run_id IN ('a', 'b', "
                       "'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j') and tags.t ILIKE '%v%' and "
                       "datasets.name = 'd' and metrics.b < 1 and metrics.c < 2",
                       &kiln_sf_schema_runs, a, &f, &err);
    if (rc == KILN_OK)
        rc = kiln_sf_parse_order_by("metrics.`val loss` DESC", &kiln_sf_schema_runs, a, &o, &err);
    if (rc == KILN_OK) {
        kiln_sql_init(&q);
        rc = kiln_sf_to_sql(f, &kiln_sf_schema_runs, &q, &err);
        kiln_sql_release(&q);
    }
    kiln_arena_free(a);
    return rc;
}

static void test_oom(void **state)
{
    (void)state;
    KILN_OOM_LOOP(parse_oom(), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identifiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_by, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_results, store_setup, store_teardown),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "kiln_test.h"

#include "core/uri.h"

static void parse_ok(const char *s, struct kiln_uri *u)
{
    struct kiln_err err = { 0 };
    int rc = kiln_uri_parse(s, u, &err);
    if (rc != KILN_OK)
        fail_msg("'%s': %s", s, err.msg);
}

static void test_models(void **state)
{
    struct kiln_uri u;
    (void)state;
    parse_ok("models:/fraud/3", &u);
    assert_int_equal(u.scheme, KILN_URI_MODELS);
    assert_int_equal(u.ref_kind, KILN_MODEL_REF_VERSION);
    assert_string_equal(u.name, "fraud");
    assert_string_equal(u.ref, "3");
    kiln_uri_release(&u);
    parse_ok("models:/fraud@production", &u);
    assert_int_equal(u.ref_kind, KILN_MODEL_REF_ALIAS);
    assert_string_equal(u.ref, "production");
    kiln_uri_release(&u);
    parse_ok("models:/fraud/staging", &u);
    assert_int_equal(u.ref_kind, KILN_MODEL_REF_STAGE);
    kiln_uri_release(&u);
    parse_ok("models:/fraud/latest", &u);
    assert_int_equal(u.ref_kind, KILN_MODEL_REF_LATEST);
    kiln_uri_release(&u);
    parse_ok("models:/m-0123abcd", &u);
    assert_int_equal(u.ref_kind, KILN_MODEL_REF_LOGGED_MODEL);
    kiln_uri_release(&u);
    assert_int_equal(kiln_uri_parse("models:/fraud/bogus", &u, NULL), KILN_EINVAL);
    assert_int_equal(kiln_uri_parse("models:/fraud", &u, NULL), KILN_EINVAL);
    assert_int_equal(kiln_uri_parse("models://x/fraud/1", &u, NULL), KILN_EINVAL);
    assert_int_equal(kiln_uri_parse("models:/@a", &u, NULL), KILN_EINVAL);
    assert_string_equal(kiln_stage_canonical("PRODUCTION"), "Production");
    assert_null(kiln_stage_canonical("prod"));
}

static void test_other_schemes(void **state)
{
    struct kiln_uri u;
    (void)state;
    parse_ok("runs:/abc123/model", &u);
    assert_int_equal(u.scheme, KILN_URI_RUNS);
    assert_string_equal(u.run_id, "abc123");
    assert_string_equal(u.path, "model");
    kiln_uri_release(&u);
    parse_ok("sqlite:///./kiln-data/kiln.db", &u);
    assert_int_equal(u.scheme, KILN_URI_SQLITE);
    assert_string_equal(u.path, "./kiln-data/kiln.db");
    kiln_uri_release(&u);
    parse_ok("sqlite:////var/kiln.db", &u);
    assert_string_equal(u.path, "/var/kiln.db");
    kiln_uri_release(&u);
    parse_ok("http://localhost:5001/prefix", &u);
    assert_int_equal(u.scheme, KILN_URI_HTTP);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 5001);
    assert_string_equal(u.path, "/prefix");
    kiln_uri_release(&u);
    parse_ok("https://[::1]", &u);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 443);
    kiln_uri_release(&u);
    parse_ok("mlflow-artifacts:/1/abc/artifacts", &u);
    assert_int_equal(u.scheme, KILN_URI_MLFLOW_ARTIFACTS);
    assert_string_equal(u.path, "1/abc/artifacts");
    kiln_uri_release(&u);
    parse_ok("mlflow-artifacts://host:5000/2/x", &u);
    assert_string_equal(u.path, "2/x");
    kiln_uri_release(&u);
    parse_ok("./relative/dir", &u);
    assert_int_equal(u.scheme, KILN_URI_LOCAL);
    kiln_uri_release(&u);
    assert_int_equal(kiln_uri_parse("s3://bucket/x", &u, NULL), KILN_ENOTSUP);
    assert_int_equal(kiln_uri_parse("http://:80", &u, NULL), KILN_EINVAL);
    assert_int_equal(kiln_uri_parse("http://h:99999", &u, NULL), KILN_EINVAL);
    assert_int_equal(kiln_uri_parse("sqlite://", &u, NULL), KILN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_other_schemes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

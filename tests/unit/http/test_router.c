/*
 * test_router.c - request-target parsing and route matching.
 */
#include "kiln_test.h"

#include <jansson.h>

#include "core/arena.h"
#include "http/http.h"

static int h(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
             struct kiln_err *err)
{
    (void)app;
    (void)req;
    (void)resp;
    (void)err;
    return 0;
}

static int h2(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
              struct kiln_err *err)
{
    return h(app, req, resp, err);
}

static void test_parse_target(void **state)
{
    struct kiln_arena *a = kiln_arena_new(0);
    const char *path;
    struct kiln_http_param *q;
    size_t nq;
    (void)state;
    assert_int_equal(
        kiln_http_parse_target("/a%20b/c+d?x=1&y=a+b%2Bc&x=2&flag&=v#frag", a, &path, &q, &nq),
        KILN_OK);
    assert_string_equal(path, "/a b/c+d");
    assert_int_equal(nq, 5);
    assert_string_equal(q[0].key, "x");
    assert_string_equal(q[0].value, "1");
    assert_string_equal(q[1].value, "a b+c");
    assert_string_equal(q[2].value, "2");
    assert_string_equal(q[3].key, "flag");
    assert_string_equal(q[3].value, "");
    assert_string_equal(q[4].key, "");
    assert_int_equal(kiln_http_parse_target("/bad%zz", a, &path, &q, &nq), KILN_EINVAL);
    assert_int_equal(kiln_http_parse_target("/nul%00x", a, &path, &q, &nq), KILN_EINVAL);
    kiln_arena_free(a);
}

static void test_match(void **state)
{
    struct kiln_router *r = kiln_router_new();
    struct kiln_arena *a = kiln_arena_new(0);
    const struct kiln_route *rt;
    struct kiln_http_param *p;
    size_t np;
    struct kiln_route routes[] = {
        { "GET", "/runs/get", h, NULL, 0, NULL },
        { "PATCH", "/logged-models/{model_id}", h, NULL, 0, NULL },
        { "DELETE", "/logged-models/{model_id}/tags/{tag_key}", h2, NULL, 0, NULL },
        { "*", "/artifacts/{path*}", h2, NULL, 0, NULL },
    };
    (void)state;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(kiln_router_add_prefixed(r, "/api", &routes[i]), KILN_OK);

    assert_int_equal(kiln_router_match(r, "GET", "/api/runs/get", a, &rt, &p, &np),
                     KILN_ROUTE_FOUND);
    assert_int_equal(np, 0);
    assert_int_equal(kiln_router_match(r, "HEAD", "/api/runs/get", a, &rt, &p, &np),
                     KILN_ROUTE_FOUND);
    assert_int_equal(kiln_router_match(r, "POST", "/api/runs/get", a, &rt, &p, &np),
                     KILN_ROUTE_NO_METHOD);
    assert_int_equal(kiln_router_match(r, "GET", "/api/runs/get/", a, &rt, &p, &np),
                     KILN_ROUTE_NO_PATH);
    assert_int_equal(kiln_router_match(r, "GET", "/runs/get", a, &rt, &p, &np), KILN_ROUTE_NO_PATH);

    assert_int_equal(kiln_router_match(r, "PATCH", "/api/logged-models/m-1", a, &rt, &p, &np),
                     KILN_ROUTE_FOUND);
    assert_int_equal(np, 1);
    assert_string_equal(p[0].key, "model_id");
    assert_string_equal(p[0].value, "m-1");
    assert_int_equal(kiln_router_match(r, "PATCH", "/api/logged-models/", a, &rt, &p, &np),
                     KILN_ROUTE_NO_PATH);

    assert_int_equal(
        kiln_router_match(r, "DELETE", "/api/logged-models/m-2/tags/a.b", a, &rt, &p, &np),
        KILN_ROUTE_FOUND);
    assert_ptr_equal(rt->handler, h2);
    assert_int_equal(np, 2);
    assert_string_equal(p[1].key, "tag_key");
    assert_string_equal(p[1].value, "a.b");

    assert_int_equal(kiln_router_match(r, "PUT", "/api/artifacts/1/r/x/y.txt", a, &rt, &p, &np),
                     KILN_ROUTE_FOUND);
    assert_string_equal(p[0].value, "1/r/x/y.txt");
    assert_int_equal(kiln_router_match(r, "GET", "/api/artifacts/", a, &rt, &p, &np),
                     KILN_ROUTE_FOUND);
    assert_string_equal(p[0].value, "");
    kiln_router_free(r);
    kiln_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_target),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

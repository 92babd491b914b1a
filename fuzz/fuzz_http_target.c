/*
 * fuzz_http_target.c - request-target parsing (path percent-decoding and query splitting)
 * and routing against a small table with parameters and a rest segment.
 */
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/mem.h"
#include "core/uri.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int noop(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                struct kiln_err *err)
{
    (void)app;
    (void)req;
    (void)resp;
    (void)err;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct kiln_route routes[] = {
        { "GET", "/api/2.0/mlflow/runs/get", noop, NULL, 0, NULL },
        { "PATCH", "/api/2.0/mlflow/logged-models/{model_id}/tags", noop, NULL, 0, NULL },
        { "*", "/api/2.0/mlflow-artifacts/artifacts/{path*}", noop, NULL, 0, NULL },
    };
    struct kiln_arena *arena;
    struct kiln_router *router;
    char *target;
    const char *path;
    struct kiln_http_param *q, *params;
    size_t nq, np;
    const struct kiln_route *rt;
    struct kiln_uri uri;

    target = kiln_strndup((const char *)data, size);
    arena = kiln_arena_new(0);
    router = kiln_router_new();
    if (target == NULL || arena == NULL || router == NULL)
        goto out;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        kiln_router_add(router, &routes[i]);
    if (kiln_http_parse_target(target, arena, &path, &q, &nq) == 0) {
        kiln_router_match(router, "GET", path, arena, &rt, &params, &np);
        kiln_router_match(router, "PATCH", path, arena, &rt, &params, &np);
    }
    if (kiln_uri_parse(target, &uri, NULL) == 0)
        kiln_uri_release(&uri);
out:
    kiln_router_free(router);
    kiln_arena_free(arena);
    kiln_free(target);
    return 0;
}

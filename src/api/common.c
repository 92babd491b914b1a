/*
 * common.c - request reading and response helpers shared by every REST handler (api.h).
 */
#include <string.h>

#include "api/api.h"

static void decref_cb(void *p)
{
    json_decref(p);
}

int kiln_api_read(struct kiln_http_req *req, const char *const *array_keys, json_t **out,
                  struct kiln_err *err)
{
    json_t *doc = NULL;
    int rc;

    *out = NULL;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        rc = kiln_http_query_to_json(req, array_keys, &doc, err);
    } else {
        if (req->body.len > 0 && !kiln_http_content_type_is(req, "application/json"))
            return kiln_err_set(err, KILN_EINVAL,
                                "Bad request. Content-Type must be 'application/json'");
        rc = kiln_json_parse_object(req->body.buf, req->body.len, 1, &doc, err);
    }
    if (rc != KILN_OK)
        return rc;
    if (kiln_arena_cleanup_add(req->arena, decref_cb, doc) != KILN_OK) {
        json_decref(doc);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    *out = doc;
    return KILN_OK;
}

void kiln_api_json_begin(struct kiln_http_resp *resp, struct kiln_jsonw *w)
{
    kiln_buf_reset(&resp->body);
    kiln_http_resp_set(resp, 200, "application/json");
    kiln_jsonw_init(w, &resp->body);
}

int kiln_api_json_end(struct kiln_jsonw *w, struct kiln_err *err)
{
    int rc = kiln_jsonw_finish(w);
    if (rc == KILN_OK)
        return KILN_OK;
    if (rc == KILN_ENOMEM)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory building the response");
    return kiln_err_set(err, KILN_EINTERNAL, "cannot build the response: %s", kiln_strerror(rc));
}

int kiln_api_empty(struct kiln_http_resp *resp)
{
    return kiln_http_resp_text(resp, 200, "application/json", "{}");
}

static int add_all(struct kiln_router *r, const char *prefix, const struct kiln_api_route *routes,
                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct kiln_route rt = {
            routes[i].method, routes[i].path, routes[i].handler, NULL, 0, NULL
        };
        int rc = kiln_router_add_prefixed(r, prefix, &rt);
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

int kiln_api_add_mlflow(struct kiln_router *r, const struct kiln_api_route *routes, size_t n)
{
    int rc = add_all(r, KILN_API_MLFLOW_PREFIX, routes, n);
    if (rc == KILN_OK)
        rc = add_all(r, KILN_API_MLFLOW_AJAX_PREFIX, routes, n);
    return rc;
}

int kiln_api_add_kiln(struct kiln_router *r, const struct kiln_api_route *routes, size_t n)
{
    return add_all(r, KILN_API_KILN_PREFIX, routes, n);
}

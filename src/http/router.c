/*
 * router.c - route table and path matching (see http.h for the pattern syntax).
 *
 * Matching is a linear scan over the routes comparing segment by segment; kiln's route tables
 * are a few hundred entries at most and a scan costs well under a microsecond per request. A
 * path that matches some pattern with another method yields KILN_ROUTE_NO_METHOD (405), as
 * Flask does for MLflow.
 */
#include <stdint.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "http/http_int.h"

struct kiln_router *kiln_router_new(void)
{
    struct kiln_router *r = kiln_calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->max_body = KILN_HTTP_DEFAULT_MAX_BODY;
    r->error_fn = kiln_http_error_mlflow;
    return r;
}

void kiln_router_free(struct kiln_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        kiln_free((char *)(uintptr_t)r->routes[i].pattern);
    kiln_free(r->routes);
    kiln_free(r);
}

int kiln_router_add_prefixed(struct kiln_router *r, const char *prefix,
                             const struct kiln_route *route)
{
    size_t plen = prefix != NULL ? strlen(prefix) : 0, len = strlen(route->pattern);
    char *pattern;
    KILN_ASSERT(route->pattern[0] == '/' && route->handler != NULL);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct kiln_route *p = kiln_reallocarray(r->routes, cap, sizeof(*p));
        if (p == NULL)
            return KILN_ENOMEM;
        r->routes = p;
        r->cap = cap;
    }
    pattern = kiln_malloc(plen + len + 1);
    if (pattern == NULL)
        return KILN_ENOMEM;
    if (plen > 0)
        memcpy(pattern, prefix, plen);
    memcpy(pattern + plen, route->pattern, len + 1);
    r->routes[r->n] = *route;
    r->routes[r->n].pattern = pattern;
    r->n++;
    return KILN_OK;
}

int kiln_router_add(struct kiln_router *r, const struct kiln_route *route)
{
    return kiln_router_add_prefixed(r, NULL, route);
}

void kiln_router_set_max_body(struct kiln_router *r, size_t max)
{
    r->max_body = max;
}

void kiln_router_set_error_fn(struct kiln_router *r, kiln_http_error_fn fn)
{
    r->error_fn = fn;
}

void kiln_router_set_fallback(struct kiln_router *r, kiln_http_handler fn)
{
    r->fallback = fn;
}

/*
 * Matches one pattern against a path. Returns 1 on a match and fills params (at most
 * `maxp`); counts the parameters in *np.
 */
static int match_pattern(const char *pat, const char *path, struct kiln_arena *arena,
                         struct kiln_http_param *params, size_t maxp, size_t *np)
{
    *np = 0;
    while (*pat != '\0') {
        if (pat[0] == '{') {
            const char *close = strchr(pat, '}');
            int rest = close != NULL && close > pat + 1 && close[-1] == '*';
            size_t name_len;
            const char *seg_end;
            KILN_ASSERT(close != NULL);
            name_len = (size_t)(close - pat - 1) - (rest ? 1 : 0);
            seg_end = rest ? path + strlen(path) : strchr(path, '/');
            if (seg_end == NULL)
                seg_end = path + strlen(path);
            if (!rest && seg_end == path)
                return 0;
            if (params != NULL && *np < maxp) {
                params[*np].key = kiln_arena_strndup(arena, pat + 1, name_len);
                params[*np].value = kiln_arena_strndup(arena, path, (size_t)(seg_end - path));
                if (params[*np].key == NULL || params[*np].value == NULL)
                    return -1;
            }
            (*np)++;
            pat = close + 1;
            path = seg_end;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    return *path == '\0';
}

enum kiln_route_match kiln_router_match(const struct kiln_router *r, const char *method,
                                        const char *path, struct kiln_arena *arena,
                                        const struct kiln_route **route,
                                        struct kiln_http_param **params, size_t *nparams)
{
    int path_seen = 0;
    size_t np;

    *route = NULL;
    *params = NULL;
    *nparams = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct kiln_route *rt = &r->routes[i];
        if (match_pattern(rt->pattern, path, NULL, NULL, 0, &np) != 1)
            continue;
        if (strcmp(rt->method, "*") != 0 && strcmp(rt->method, method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            path_seen = 1;
            continue;
        }
        if (np > 0) {
            struct kiln_http_param *p = kiln_arena_calloc(arena, np, sizeof(*p));
            if (p == NULL || match_pattern(rt->pattern, path, arena, p, np, &np) != 1)
                return KILN_ROUTE_NO_PATH;
            *params = p;
        }
        *nparams = np;
        *route = rt;
        return KILN_ROUTE_FOUND;
    }
    return path_seen ? KILN_ROUTE_NO_METHOD : KILN_ROUTE_NO_PATH;
}

void kiln_http_error_mlflow(const struct kiln_http_req *req, struct kiln_http_resp *resp, int rc,
                            const char *message)
{
    struct kiln_jsonw w;
    (void)req;
    kiln_buf_reset(&resp->body);
    resp->status = kiln_rc_http(rc);
    resp->content_type = "application/json";
    kiln_jsonw_init(&w, &resp->body);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "error_code", kiln_rc_mlflow_code(rc));
    kiln_jsonw_kv_str(&w, "message", message);
    kiln_jsonw_obj_end(&w);
    if (kiln_jsonw_finish(&w) != KILN_OK) {
        /* Only possible under memory exhaustion: send a fixed body. */
        kiln_buf_reset(&resp->body);
        resp->status = 503;
        kiln_buf_puts(&resp->body, "{\"error_code\":\"TEMPORARILY_UNAVAILABLE\"}");
    }
}

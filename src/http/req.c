/*
 * req.c - request-target parsing and request/response helpers (see http.h).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "http/http_int.h"

static char *decode(struct kiln_arena *arena, const char *s, size_t len, int plus_is_space)
{
    struct kiln_buf b;
    char *out = NULL;
    kiln_buf_init(&b, len + 1);
    if (kiln_url_decode(s, len, plus_is_space, &b) == KILN_OK)
        out = kiln_arena_strndup(arena, b.buf, b.len);
    kiln_buf_release(&b);
    return out;
}

int kiln_http_parse_target(const char *target, struct kiln_arena *arena, const char **path,
                           struct kiln_http_param **query, size_t *nquery)
{
    const char *q = strchr(target, '?');
    const char *hash = strchr(target, '#');
    size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
    size_t n = 0, cap = 0;
    struct kiln_http_param *params = NULL;

    if (hash != NULL && (q == NULL || hash < q))
        plen = (size_t)(hash - target);
    *path = decode(arena, target, plen, 0);
    *query = NULL;
    *nquery = 0;
    if (*path == NULL)
        return KILN_EINVAL;
    if (q == NULL)
        return KILN_OK;
    q++;
    while (*q != '\0' && *q != '#') {
        const char *amp = q + strcspn(q, "&#");
        const char *eq = memchr(q, '=', (size_t)(amp - q));
        if (amp > q) {
            if (n == cap) {
                struct kiln_http_param *np;
                cap = cap ? cap * 2 : 8;
                np = kiln_arena_alloc(arena, cap * sizeof(*np));
                if (np == NULL)
                    return KILN_ENOMEM;
                if (n > 0)
                    memcpy(np, params, n * sizeof(*np));
                params = np;
            }
            if (eq != NULL) {
                params[n].key = decode(arena, q, (size_t)(eq - q), 1);
                params[n].value = decode(arena, eq + 1, (size_t)(amp - eq - 1), 1);
            } else {
                params[n].key = decode(arena, q, (size_t)(amp - q), 1);
                params[n].value = "";
            }
            if (params[n].key == NULL || params[n].value == NULL)
                return KILN_EINVAL;
            n++;
        }
        q = *amp == '&' ? amp + 1 : amp;
    }
    *query = params;
    *nquery = n;
    return KILN_OK;
}

const char *kiln_http_query(const struct kiln_http_req *req, const char *key)
{
    for (size_t i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].key, key) == 0)
            return req->query[i].value;
    return NULL;
}

const char *kiln_http_param(const struct kiln_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].key, name) == 0)
            return req->params[i].value;
    return NULL;
}

const char *kiln_http_header(const struct kiln_http_req *req, const char *name)
{
    if (req->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int kiln_http_content_type_is(const struct kiln_http_req *req, const char *type)
{
    const char *ct = kiln_http_header(req, "Content-Type");
    size_t n;
    if (ct == NULL)
        return 0;
    n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

void kiln_http_peer(const struct kiln_http_req *req, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci;
    kiln_strlcpy(out, "-", size);
    if (req->conn == NULL)
        return;
    ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)size);
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)size);
    }
}

static int is_array_key(const char *const *array_keys, const char *key)
{
    for (; array_keys != NULL && *array_keys != NULL; array_keys++)
        if (strcmp(*array_keys, key) == 0)
            return 1;
    return 0;
}

int kiln_http_query_to_json(const struct kiln_http_req *req, const char *const *array_keys,
                            json_t **out, struct kiln_err *err)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < req->nquery; i++) {
        const char *k = req->query[i].key;
        json_t *v = json_string(req->query[i].value);
        json_t *cur = json_object_get(obj, k);
        int rc;
        if (v == NULL) {
            json_decref(obj);
            return kiln_err_set(err, KILN_EINVAL, "query parameter '%s' is not valid UTF-8", k);
        }
        if (cur != NULL && json_is_array(cur)) {
            rc = json_array_append_new(cur, v);
        } else if (cur != NULL) {
            json_t *arr = json_array();
            rc = arr == NULL ? -1 : json_array_append(arr, cur);
            if (rc == 0)
                rc = json_array_append_new(arr, v);
            else
                json_decref(v);
            if (rc == 0)
                rc = json_object_set_new(obj, k, arr);
            else
                json_decref(arr);
        } else if (is_array_key(array_keys, k)) {
            json_t *arr = json_array();
            rc = arr == NULL ? -1 : json_array_append_new(arr, v);
            if (rc == 0)
                rc = json_object_set_new(obj, k, arr);
            else
                json_decref(v);
        } else {
            rc = json_object_set_new(obj, k, v);
        }
        if (rc != 0) {
            json_decref(obj);
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
        }
    }
    *out = obj;
    return KILN_OK;
}

void kiln_http_resp_set(struct kiln_http_resp *resp, int status, const char *content_type)
{
    resp->status = status;
    if (content_type != NULL)
        resp->content_type = content_type;
}

int kiln_http_resp_header(struct kiln_http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders == KILN_HTTP_MAX_HEADERS)
        return KILN_ETOOBIG;
    resp->headers[resp->nheaders].name = name;
    resp->headers[resp->nheaders].value = value;
    resp->nheaders++;
    return KILN_OK;
}

void kiln_http_resp_keep_headers(struct kiln_http_resp *resp)
{
    resp->nkeep = resp->nheaders;
}

int kiln_http_resp_text(struct kiln_http_resp *resp, int status, const char *content_type,
                        const char *text)
{
    kiln_http_resp_set(resp, status, content_type);
    kiln_buf_reset(&resp->body);
    return kiln_buf_puts(&resp->body, text);
}

void kiln_http_resp_file(struct kiln_http_resp *resp, int fd, uint64_t size,
                         const char *content_type)
{
    resp->fd = fd;
    resp->fd_size = size;
    if (content_type != NULL)
        resp->content_type = content_type;
}

/*
 * client.c - libcurl-based HTTP client (see client.h).
 */
#include "http/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/id.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"

struct kiln_http_client {
    CURL *h;
    char *base;
    long timeout_ms;
    const atomic_int *cancel; /* kiln_http_client_set_cancel */
    struct curl_slist *auth;
    char errbuf[CURL_ERROR_SIZE];
};

int kiln_http_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? KILN_OK : KILN_EIO;
}

void kiln_http_client_global_cleanup(void)
{
    curl_global_cleanup();
}

int kiln_rc_from_mlflow_code(const char *code)
{
    static const struct {
        const char *code;
        int rc;
    } map[] = {
        { "INVALID_PARAMETER_VALUE", KILN_EINVAL },
        { "RESOURCE_DOES_NOT_EXIST", KILN_ENOENT },
        { "RESOURCE_ALREADY_EXISTS", KILN_EEXIST },
        { "ENDPOINT_NOT_FOUND", KILN_ENOENDPOINT },
        { "RESOURCE_CONFLICT", KILN_ECONFLICT },
        { "TEMPORARILY_UNAVAILABLE", KILN_EUNAVAIL },
        { "NOT_IMPLEMENTED", KILN_ENOTSUP },
        { "BAD_REQUEST", KILN_EINVAL },
        { "INVALID_STATE", KILN_ESTATE },
        { "PERMISSION_DENIED", KILN_EPERM },
        { "DEADLINE_EXCEEDED", KILN_ETIMEDOUT },
        { "CANCELLED", KILN_ECANCELED },
        { "NOT_FOUND", KILN_ENOENT },
        { "ALREADY_EXISTS", KILN_EEXIST },
    };
    for (size_t i = 0; code != NULL && i < KILN_ARRAY_LEN(map); i++)
        if (strcmp(map[i].code, code) == 0)
            return map[i].rc;
    return KILN_EIO;
}

int kiln_http_client_new(const char *base_url, long timeout_ms, struct kiln_http_client **out,
                         struct kiln_err *err)
{
    struct kiln_http_client *c = kiln_calloc(1, sizeof(*c));
    const char *token = getenv("MLFLOW_TRACKING_TOKEN");
    if (c == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    c->h = curl_easy_init();
    c->base = kiln_strdup(base_url);
    if (c->h == NULL || c->base == NULL) {
        kiln_http_client_free(c);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    kiln_path_strip_slash(c->base);
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 120000;
    if (token != NULL && *token != '\0') {
        char hdr[4096];
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
        c->auth = curl_slist_append(NULL, hdr);
    }
    *out = c;
    return KILN_OK;
}

void kiln_http_client_free(struct kiln_http_client *c)
{
    if (c == NULL)
        return;
    if (c->h != NULL)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->auth);
    kiln_free(c->base);
    kiln_free(c);
}

const char *kiln_http_client_base(const struct kiln_http_client *c)
{
    return c->base;
}

static size_t write_buf(char *data, size_t size, size_t n, void *ud)
{
    struct kiln_buf *b = ud;
    return kiln_buf_append(b, data, size * n) == KILN_OK ? size * n : 0;
}

static size_t write_fd(char *data, size_t size, size_t n, void *ud)
{
    int fd = *(int *)ud;
    size_t left = size * n;
    const char *p = data;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 0;
        p += w;
        left -= (size_t)w;
    }
    return size * n;
}

void kiln_http_client_set_cancel(struct kiln_http_client *c, const atomic_int *flag)
{
    c->cancel = flag;
}

/* libcurl's progress callback: a non-zero return aborts the transfer. */
static int cancel_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow)
{
    const atomic_int *flag = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(flag) != 0;
}

/* Common set-up of one request on the reused handle. */
static int setup(struct kiln_http_client *c, const char *method, const char *path,
                 struct curl_slist **headers, const char *content_type, struct kiln_err *err)
{
    struct kiln_buf url;
    const char *user = getenv("MLFLOW_TRACKING_USERNAME");
    int rc;

    curl_easy_reset(c->h);
    kiln_buf_init(&url, 16384);
    rc = kiln_buf_puts(&url, c->base);
    if (rc == KILN_OK)
        rc = kiln_buf_puts(&url, path);
    if (rc != KILN_OK) {
        kiln_buf_release(&url);
        return kiln_err_set(err, rc, "request URL too long");
    }
    curl_easy_setopt(c->h, CURLOPT_URL, url.buf);
    kiln_buf_release(&url); /* libcurl copies the URL */
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "kiln-client");
    if (c->cancel != NULL) {
        curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, cancel_cb);
        curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, (void *)(uintptr_t)c->cancel);
        curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, 0L);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
    if (user != NULL && *user != '\0') {
        const char *pw = getenv("MLFLOW_TRACKING_PASSWORD");
        curl_easy_setopt(c->h, CURLOPT_USERNAME, user);
        curl_easy_setopt(c->h, CURLOPT_PASSWORD, pw != NULL ? pw : "");
    }
    *headers = NULL;
    for (struct curl_slist *a = c->auth; a != NULL; a = a->next)
        *headers = curl_slist_append(*headers, a->data);
    if (content_type != NULL) {
        char hdr[256];
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", content_type);
        *headers = curl_slist_append(*headers, hdr);
    }
    /* No "Expect: 100-continue" round trip on uploads. */
    *headers = curl_slist_append(*headers, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, *headers);
    c->errbuf[0] = '\0';
    return KILN_OK;
}

static int perform(struct kiln_http_client *c, const char *method, const char *path, int *status,
                   struct kiln_err *err)
{
    long code = 0;
    CURLcode cc = curl_easy_perform(c->h);
    if (cc != CURLE_OK) {
        if (cc == CURLE_ABORTED_BY_CALLBACK)
            return kiln_err_set(err, KILN_ECANCELED, "%s %s%s: canceled", method, c->base, path);
        if (cc == CURLE_WRITE_ERROR)
            return kiln_err_set(err, KILN_ETOOBIG, "%s %s%s: response too large or not writable",
                                method, c->base, path);
        return kiln_err_set(err, cc == CURLE_OPERATION_TIMEDOUT ? KILN_ETIMEDOUT : KILN_EUNAVAIL,
                            "%s %s%s: %s", method, c->base, path,
                            c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    return KILN_OK;
}

int kiln_http_client_call(struct kiln_http_client *c, const char *method, const char *path,
                          const char *content_type, const void *body, size_t len, int *status,
                          struct kiln_buf *resp, struct kiln_err *err)
{
    struct curl_slist *headers;
    int rc = setup(c, method, path, &headers, content_type, err);
    if (rc != KILN_OK)
        return rc;
    if (body != NULL) {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, write_buf);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, resp);
    rc = perform(c, method, path, status, err);
    curl_slist_free_all(headers);
    return rc;
}

/* Builds "?k=v&k=v2" from a JSON object (strings, numbers, booleans, arrays of those). */
static int query_from_json(const json_t *payload, struct kiln_buf *q)
{
    const char *key;
    json_t *v;
    int rc = KILN_OK, first = 1;
    json_object_foreach((json_t *)(uintptr_t)payload, key, v)
    {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n && rc == KILN_OK; i++) {
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            char num[64];
            const char *text;
            if (json_is_string(item)) {
                text = json_string_value(item);
            } else if (json_is_integer(item)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(item));
                text = num;
            } else if (json_is_real(item)) {
                kiln_format_double(json_real_value(item), num, sizeof(num));
                text = num;
            } else if (json_is_boolean(item)) {
                text = json_is_true(item) ? "true" : "false";
            } else {
                continue;
            }
            rc = kiln_buf_putc(q, first ? '?' : '&');
            first = 0;
            if (rc == KILN_OK)
                rc = kiln_url_encode(key, strlen(key), 0, q);
            if (rc == KILN_OK)
                rc = kiln_buf_putc(q, '=');
            if (rc == KILN_OK)
                rc = kiln_url_encode(text, strlen(text), 0, q);
        }
    }
    return rc;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return kiln_buf_append(data, buffer, size) == KILN_OK ? 0 : -1;
}

int kiln_http_client_json(struct kiln_http_client *c, const char *method, const char *endpoint,
                          const json_t *payload, json_t **out, struct kiln_err *err)
{
    struct kiln_buf path, body, resp;
    int status = 0, rc, is_get = strcmp(method, "GET") == 0;
    json_t *doc = NULL;

    if (out != NULL)
        *out = NULL;
    kiln_buf_init(&path, 1 << 20);
    kiln_buf_init(&body, (size_t)64 << 20);
    kiln_buf_init(&resp, (size_t)256 << 20);
    rc = kiln_buf_puts(&path, endpoint);
    if (rc == KILN_OK && payload != NULL && is_get)
        rc = query_from_json(payload, &path);
    if (rc == KILN_OK && !is_get) {
        if (payload == NULL)
            rc = kiln_buf_puts(&body, "{}");
        else if (json_dump_callback(payload, dump_cb, &body, JSON_COMPACT) != 0)
            rc = KILN_ENOMEM;
    }
    if (rc != KILN_OK) {
        kiln_err_set(err, rc, "cannot encode the request to %s", endpoint);
        goto out;
    }
    rc = kiln_http_client_call(c, method, path.buf, is_get ? NULL : "application/json",
                               is_get ? NULL : body.buf, body.len, &status, &resp, err);
    if (rc != KILN_OK)
        goto out;
    if (resp.len > 0)
        kiln_json_parse_any(resp.buf, resp.len, &doc, NULL);
    if (status != 200) {
        const char *code = NULL, *msg = NULL;
        if (doc != NULL && json_is_object(doc)) {
            code = json_string_value(json_object_get(doc, "error_code"));
            msg = json_string_value(json_object_get(doc, "message"));
            if (msg == NULL)
                msg = json_string_value(json_object_get(doc, "error"));
        }
        rc = code != NULL ? kiln_rc_from_mlflow_code(code)
                          : (status == 404 ? KILN_ENOENDPOINT
                                           : (status >= 500 ? KILN_EUNAVAIL : KILN_EINVAL));
        kiln_err_set(err, rc, "%s", msg != NULL ? msg : "");
        if (msg == NULL)
            kiln_err_set(err, rc, "%s %s%s: HTTP %d", method, c->base, endpoint, status);
        goto out;
    }
    if (doc == NULL && resp.len > 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s %s%s: the answer is not JSON", method, c->base,
                          endpoint);
        goto out;
    }
    if (out != NULL) {
        *out = doc != NULL ? doc : json_object();
        doc = NULL;
    }
out:
    json_decref(doc);
    kiln_buf_release(&path);
    kiln_buf_release(&body);
    kiln_buf_release(&resp);
    return rc;
}

int kiln_http_client_download(struct kiln_http_client *c, const char *path, const char *dest,
                              struct kiln_err *err)
{
    struct curl_slist *headers;
    struct kiln_buf tmp;
    char rnd[KILN_UUID_HEX_LEN + 1];
    int fd, status = 0, rc;

    kiln_buf_init(&tmp, 8192);
    rc = kiln_uuid_hex(rnd);
    if (rc == KILN_OK)
        rc = kiln_buf_printf(&tmp, "%s.part-%.8s", dest, rnd);
    if (rc != KILN_OK) {
        kiln_buf_release(&tmp);
        return kiln_err_set(err, rc, "cannot name a temporary file for '%s'", dest);
    }
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot create '%s': %s", tmp.buf,
                          strerror(errno));
        kiln_buf_release(&tmp);
        return rc;
    }
    rc = setup(c, "GET", path, &headers, NULL, err);
    if (rc == KILN_OK) {
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, write_fd);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &fd);
        curl_easy_setopt(c->h, CURLOPT_FAILONERROR, 1L);
        rc = perform(c, "GET", path, &status, err);
        if (rc != KILN_OK) {
            long code = 0;
            curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
            if (code == 404)
                rc = kiln_err_set(err, KILN_ENOENT, "'%s' does not exist on %s", path, c->base);
        }
        curl_slist_free_all(headers);
    }
    if (rc == KILN_OK && fsync(fd) != 0)
        rc = kiln_err_set(err, KILN_EIO, "cannot sync '%s': %s", tmp.buf, strerror(errno));
    close(fd);
    if (rc == KILN_OK && rename(tmp.buf, dest) != 0)
        rc = kiln_err_set(err, kiln_rc_from_errno(errno), "cannot rename to '%s': %s", dest,
                          strerror(errno));
    if (rc != KILN_OK)
        unlink(tmp.buf);
    kiln_buf_release(&tmp);
    return rc;
}

int kiln_http_client_upload(struct kiln_http_client *c, const char *path, const char *src,
                            const char *content_type, struct kiln_err *err)
{
    struct curl_slist *headers;
    struct kiln_buf resp;
    struct stat st;
    FILE *f;
    int status = 0, rc;

    f = fopen(src, "rb");
    if (f == NULL)
        return kiln_err_set(err, kiln_rc_from_errno(errno), "cannot open '%s': %s", src,
                            strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return kiln_err_set(err, KILN_EIO, "cannot stat '%s'", src);
    }
    kiln_buf_init(&resp, 1 << 20);
    rc = setup(c, "PUT", path, &headers,
               content_type != NULL ? content_type : "application/octet-stream", err);
    if (rc == KILN_OK) {
        curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c->h, CURLOPT_READDATA, f);
        curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, write_buf);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &resp);
        rc = perform(c, "PUT", path, &status, err);
        if (rc == KILN_OK && status != 200) {
            json_t *doc = NULL;
            const char *msg = NULL, *code = NULL;
            if (kiln_json_parse_any(resp.buf, resp.len, &doc, NULL) == KILN_OK &&
                json_is_object(doc)) {
                msg = json_string_value(json_object_get(doc, "message"));
                code = json_string_value(json_object_get(doc, "error_code"));
            }
            rc = code != NULL ? kiln_rc_from_mlflow_code(code) : KILN_EIO;
            kiln_err_set(err, rc, "upload of '%s' failed: %s", src,
                         msg != NULL ? msg : "unexpected HTTP status");
            json_decref(doc);
        }
        curl_slist_free_all(headers);
    }
    fclose(f);
    kiln_buf_release(&resp);
    return rc;
}

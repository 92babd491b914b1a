/*
 * deploy_feedback.c - `kiln deploy feedback NAME`: sends ground-truth labels for earlier
 * predictions, one (--request-id, --label) or a file of them (CSV or JSON Lines with the
 * columns request_id and label, read with the quality library's table reader), in batches of
 * 10,000. Prints how many were matched to a remembered prediction and how many wait for one.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/deploy_cli.h"
#include "cli/tracking_cli.h"
#include "core/str.h"
#include "quality/table.h"

#define BATCH 10000

static int send_batch(struct kiln_http_client *c, const char *path, json_t *labels,
                      long long *matched, long long *pending, struct kiln_err *err)
{
    json_t *body = json_pack("{s:O}", "labels", labels), *out = NULL;
    int rc;
    if (body == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_deploy_cli_call(c, "POST", path, body, &out, err);
    json_decref(body);
    if (rc == KILN_OK) {
        *matched += (long long)json_integer_value(json_object_get(out, "matched"));
        *pending += (long long)json_integer_value(json_object_get(out, "pending"));
    }
    json_decref(out);
    json_array_clear(labels);
    return rc;
}

static int add(json_t *labels, const char *id, size_t idlen, const char *label, size_t llen)
{
    json_t *o = json_object();
    if (o == NULL || json_object_set_new(o, "request_id", json_stringn(id, idlen)) != 0 ||
        json_object_set_new(o, "label", json_stringn(label, llen)) != 0 ||
        json_array_append_new(labels, o) != 0)
        return KILN_ENOMEM;
    return KILN_OK;
}

static int from_file(struct kiln_http_client *c, const char *path, const char *file, json_t *labels,
                     long long *matched, long long *pending, struct kiln_err *err)
{
    struct kiln_table_reader *r = NULL;
    const struct kiln_cell *cells;
    long idc, lc;
    int rc = kiln_table_reader_open(file, NULL, &r, err);
    if (rc != KILN_OK)
        return rc;
    idc = kiln_table_reader_find(r, "request_id");
    lc = kiln_table_reader_find(r, "label");
    if (idc < 0 || lc < 0) {
        kiln_table_reader_free(r);
        return kiln_err_set(err, KILN_EINVAL, "%s: needs the columns request_id and label", file);
    }
    while ((rc = kiln_table_reader_next(r, &cells, err)) == 1) {
        const struct kiln_cell *id = &cells[idc], *lab = &cells[lc];
        if ((id->flags & KILN_CELL_MISSING) || (lab->flags & KILN_CELL_MISSING)) {
            rc = kiln_err_set(err, KILN_EINVAL, "%s: line %llu: request_id and label are needed",
                              file, (unsigned long long)kiln_table_reader_line(r));
            break;
        }
        if (add(labels, id->p, id->len, lab->p, lab->len) != KILN_OK) {
            rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
            break;
        }
        if (json_array_size(labels) == BATCH &&
            (rc = send_batch(c, path, labels, matched, pending, err)) != KILN_OK)
            break;
    }
    kiln_table_reader_free(r);
    if (rc < 0)
        return rc;
    return json_array_size(labels) > 0 ? send_batch(c, path, labels, matched, pending, err)
                                       : KILN_OK;
}

int kiln_deploy_cli_feedback(struct kiln_http_client *c, const char *name,
                             const struct deploy_opts *o)
{
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    long long matched = 0, pending = 0;
    json_t *labels;
    char path[600];
    int rc;

    if ((o->file == NULL) == (o->request_id == NULL))
        return kiln_cli_fail("deploy feedback: give --request-id ID --label L, or --file F");
    if (o->request_id != NULL && o->label == NULL)
        return kiln_cli_fail("deploy feedback: --request-id needs --label");
    kiln_buf_init(&b, 1024);
    kiln_url_encode(name, strlen(name), 0, &b);
    snprintf(path, sizeof(path), "/api/kiln/v1/deployments/%s/feedback", b.buf);
    kiln_buf_release(&b);
    labels = json_array();
    if (labels == NULL)
        return kiln_cli_fail("out of memory");
    if (o->file != NULL) {
        rc = from_file(c, path, o->file, labels, &matched, &pending, &err);
    } else if (add(labels, o->request_id, strlen(o->request_id), o->label, strlen(o->label)) !=
               KILN_OK) {
        rc = kiln_err_set(&err, KILN_ENOMEM, "out of memory");
    } else {
        rc = send_batch(c, path, labels, &matched, &pending, &err);
    }
    json_decref(labels);
    if (rc != KILN_OK)
        return kiln_cli_fail("deploy feedback: %s", err.msg);
    if (o->as_json)
        printf("{\"matched\": %lld, \"pending\": %lld}\n", matched, pending);
    else
        printf("%lld labels matched a prediction, %lld wait for theirs\n", matched, pending);
    return KILN_EXIT_OK;
}

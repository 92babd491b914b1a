/*
 * models_lineage.c - `kiln models lineage`, `kiln models evaluations` (list and add) and
 * `kiln models compare`, over kiln's native registry API.
 *
 * lineage prints what produced a version in sections (version, run, code, data, params,
 * metrics, tags, parent run, evaluations). compare pairs the two versions' evaluations on the
 * same dataset name and digest and prints each metric and per-class figure with the delta
 * (second minus first).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/models_cli.h"
#include "cli/tracking_cli.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/time.h"

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static const char *num(const json_t *v, char *buf, size_t size)
{
    if (json_is_number(v))
        snprintf(buf, size, "%.6g", json_number_value(v));
    else if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v)); /* "NaN", "Infinity" */
    else
        snprintf(buf, size, "-");
    return buf;
}

/* Prints "  label  k=v, k=v" wrapping nothing: long lists stay on one line per entry. */
static void print_map(const char *label, const json_t *map)
{
    const char *k;
    const json_t *v;
    int first = 1;
    char b[64];
    json_object_foreach((json_t *)(uintptr_t)map, k, v)
    {
        printf("%-12s %s = %s\n", first ? label : "", k,
               json_is_string(v) ? json_string_value(v) : num(v, b, sizeof(b)));
        first = 0;
    }
}

static void print_run(const char *label, const json_t *run)
{
    const json_t *tags = json_object_get(run, "tags"), *d;
    const char *commit = json_string_value(json_object_get(tags, "mlflow.source.git.commit"));
    const char *source = json_string_value(json_object_get(tags, "mlflow.source.name"));
    const char *pre = json_string_value(json_object_get(tags, "preprocessing"));
    char start[32], dur[32];
    json_int_t s = json_integer_value(json_object_get(run, "start_time"));
    json_int_t e = json_integer_value(json_object_get(run, "end_time"));
    size_t i;

    kiln_time_format_short(s, start, sizeof(start));
    kiln_cli_format_duration(json_object_get(run, "end_time") != NULL ? (long long)(e - s) : -1,
                             dur, sizeof(dur));
    printf("%-12s %s (%s) in experiment %s, %s, started %s, took %s, by %s\n", label,
           jstr(run, "run_id"), jstr(run, "run_name"), jstr(run, "experiment_id"),
           jstr(run, "status"), start, dur, jstr(run, "user_id"));
    if (commit != NULL)
        printf("%-12s git %s\n", "code", commit);
    if (source != NULL)
        printf("%-12s %s\n", commit != NULL ? "" : "code", source);
    if (pre == NULL)
        pre = json_string_value(json_object_get(tags, "kiln.preprocessing"));
    if (pre != NULL)
        printf("%-12s %s\n", "preprocess", pre);
    json_array_foreach(json_object_get(run, "datasets"), i, d)
    {
        printf("%-12s %s%s%s@%s (%s: %s)\n", i == 0 ? "data" : "", jstr(d, "context"),
               *jstr(d, "context") != '\0' ? ": " : "", jstr(d, "name"), jstr(d, "digest"),
               jstr(d, "source_type"), jstr(d, "source"));
    }
    print_map("params", json_object_get(run, "params"));
    print_map("metrics", json_object_get(run, "metrics"));
    print_map("tags", tags);
}

static void print_eval_line(const char *label, const json_t *e)
{
    const char *k;
    const json_t *v;
    char b[64], when[32];
    struct kiln_buf line;
    kiln_buf_init(&line, 4096);
    json_object_foreach(json_object_get(e, "metrics"), k, v)
        kiln_buf_printf(&line, "%s%s=%s", line.len > 0 ? ", " : "", k, num(v, b, sizeof(b)));
    kiln_time_format_short(json_integer_value(json_object_get(e, "creation_timestamp")), when,
                           sizeof(when));
    printf("%-12s v%s on %s@%.12s (%s): %s\n", label, jstr(e, "version"), jstr(e, "dataset_name"),
           jstr(e, "dataset_digest"), when, line.buf);
    kiln_buf_release(&line);
}

int kiln_models_lineage(struct kiln_http_client *c, const char *uri, const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *req = json_pack("{s:s}", "uri", uri), *l = NULL;
    const json_t *mv, *run, *e;
    size_t i;
    int rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/models/lineage", req, &l, &err);
    json_decref(req);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json) {
        kiln_cli_print_json(l);
        json_decref(l);
        return KILN_EXIT_OK;
    }
    mv = json_object_get(l, "model_version");
    printf("%s -> %s\n", uri, jstr(l, "artifact_uri"));
    if (mv != NULL) {
        char created[32];
        const json_t *a;
        kiln_time_format_short(json_integer_value(json_object_get(mv, "creation_timestamp")),
                               created, sizeof(created));
        printf("%-12s %s version %s, registered %s%s%s, stage %s\n", "version", jstr(mv, "name"),
               jstr(mv, "version"), created, *jstr(mv, "user_id") != '\0' ? " by " : "",
               jstr(mv, "user_id"), jstr(mv, "current_stage"));
        json_array_foreach(json_object_get(mv, "aliases"), i, a)
            printf("%-12s %s\n", i == 0 ? "aliases" : "", json_string_value(a));
        printf("%-12s %s\n", "source", jstr(mv, "source"));
    }
    if (json_object_get(l, "logged_model") != NULL)
        printf("%-12s %s (%s)\n", "logged model",
               jstr(json_object_get(l, "logged_model"), "model_id"),
               jstr(json_object_get(l, "logged_model"), "name"));
    run = json_object_get(l, "run");
    if (json_is_object(run))
        print_run("run", run);
    else
        printf("%-12s (no run recorded for this version)\n", "run");
    if (json_is_object(json_object_get(l, "parent_run")))
        printf("%-12s %s (%s)\n", "parent run", jstr(json_object_get(l, "parent_run"), "run_id"),
               jstr(json_object_get(l, "parent_run"), "run_name"));
    json_array_foreach(json_object_get(l, "evaluations"), i, e)
        print_eval_line(i == 0 ? "evaluations" : "", e);
    if (json_array_size(json_object_get(l, "evaluations")) == 0)
        printf("%-12s none\n", "evaluations");
    json_decref(l);
    return KILN_EXIT_OK;
}

static int eval_add(struct kiln_http_client *c, const char *name, const char *version,
                    const char *file, const struct models_opts *o)
{
    struct kiln_buf text;
    struct kiln_err err = { 0 };
    json_t *doc = NULL, *out = NULL;
    int rc;
    kiln_buf_init(&text, (size_t)64 << 20);
    rc = kiln_read_file(file, &text, &err);
    if (rc == KILN_OK && kiln_json_parse_object(text.buf, text.len, 0, &doc, &err) != KILN_OK)
        rc = kiln_err_set(&err, KILN_EINVAL, "%s: %s", file, err.msg);
    kiln_buf_release(&text);
    if (rc == KILN_OK) {
        json_object_set_new(doc, "name", json_string(name));
        json_object_set_new(doc, "version", json_string(version));
        json_object_set_new(doc, "user", json_string(kiln_models_user()));
        rc = kiln_http_client_json(c, "POST", "/api/kiln/v1/models/evaluations", doc, &out, &err);
    }
    json_decref(doc);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json)
        kiln_cli_print_json(out);
    else
        printf("%s evaluation %lld of '%s' version %s\n",
               json_is_true(json_object_get(out, "replaced")) ? "replaced" : "recorded",
               (long long)json_integer_value(json_object_get(out, "evaluation_id")), name, version);
    json_decref(out);
    return KILN_EXIT_OK;
}

static int fetch_evals(struct kiln_http_client *c, const char *name, const char *version,
                       const char *dataset, json_t **out, struct kiln_err *err)
{
    json_t *req = json_pack("{s:s}", "name", name), *doc = NULL;
    int rc;
    if (version != NULL)
        json_object_set_new(req, "version", json_string(version));
    if (dataset != NULL)
        json_object_set_new(req, "dataset", json_string(dataset));
    rc = kiln_http_client_json(c, "GET", "/api/kiln/v1/models/evaluations", req, &doc, err);
    json_decref(req);
    if (rc == KILN_OK) {
        *out = json_incref(json_object_get(doc, "evaluations"));
        if (*out == NULL)
            *out = json_array();
    }
    json_decref(doc);
    return rc;
}

int kiln_models_evaluations(struct kiln_http_client *c, int argc, const char *const *argv,
                            const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *evals = NULL;
    const json_t *e;
    size_t i;
    int rc;
    if (strcmp(argv[0], "add") == 0) {
        if (argc != 4)
            return kiln_cli_fail("models evaluations add NAME VERSION FILE: wrong arguments");
        return eval_add(c, argv[1], argv[2], argv[3], o);
    }
    if (argc > 2)
        return kiln_cli_fail("models evaluations NAME [VERSION]: too many arguments");
    rc = fetch_evals(c, argv[0], argc == 2 ? argv[1] : NULL, o->dataset, &evals, &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    if (o->as_json)
        kiln_cli_print_json(evals);
    else if (json_array_size(evals) == 0)
        printf("no evaluations of '%s'%s%s\n", argv[0], argc == 2 ? " version " : "",
               argc == 2 ? argv[1] : "");
    else
        json_array_foreach(evals, i, e) print_eval_line("", e);
    json_decref(evals);
    return KILN_EXIT_OK;
}

static void delta(const json_t *a, const json_t *b, char *out, size_t size)
{
    if (json_is_number(a) && json_is_number(b)) {
        double d = json_number_value(b) - json_number_value(a);
        snprintf(out, size, "%+.6g", d);
    } else {
        snprintf(out, size, "-");
    }
}

/* Prints one dataset's comparison: metrics, then per-class precision/recall. */
static void compare_one(const json_t *ea, const json_t *eb, const char *v1, const char *v2)
{
    static const char *const mhead[] = { "METRIC", "V1", "V2", "DELTA" };
    static const char *const chead[] = { "CLASS",     "PRECISION V1", "V2",   "DELTA",
                                         "RECALL V1", "V2",           "DELTA" };
    const json_t *ma = json_object_get(ea, "metrics"), *mb = json_object_get(eb, "metrics");
    const json_t *va, *ca;
    struct kiln_table *t;
    const char *k;
    size_t i, j;

    printf("%s v%s vs v%s on %s@%s\n", jstr(ea, "name"), v1, v2, jstr(ea, "dataset_name"),
           jstr(ea, "dataset_digest"));
    t = kiln_table_new(4, mhead);
    for (i = 1; i < 4; i++)
        kiln_table_align_right(t, i);
    json_object_foreach((json_t *)(uintptr_t)ma, k, va)
    {
        char a[40], b[40], d[40];
        const char *cells[4] = { k, num(va, a, sizeof(a)),
                                 num(json_object_get(mb, k), b, sizeof(b)), d };
        delta(va, json_object_get(mb, k), d, sizeof(d));
        kiln_table_add(t, cells);
    }
    json_object_foreach((json_t *)(uintptr_t)mb, k, va)
    {
        char b[40];
        const char *cells[4] = { k, "-", num(va, b, sizeof(b)), "-" };
        if (json_object_get(ma, k) == NULL)
            kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
    if (json_array_size(json_object_get(ea, "per_class")) == 0 &&
        json_array_size(json_object_get(eb, "per_class")) == 0)
        return;
    printf("\n");
    t = kiln_table_new(7, chead);
    for (i = 1; i < 7; i++)
        kiln_table_align_right(t, i);
    json_array_foreach(json_object_get(ea, "per_class"), i, ca)
    {
        const json_t *cb = NULL, *c2;
        char b[6][40];
        const char *cells[7];
        json_array_foreach(json_object_get(eb, "per_class"), j, c2)
        {
            if (strcmp(jstr(c2, "label"), jstr(ca, "label")) == 0)
                cb = c2;
        }
        cells[0] = jstr(ca, "label");
        cells[1] = num(json_object_get(ca, "precision"), b[0], 40);
        cells[2] = num(json_object_get(cb, "precision"), b[1], 40);
        delta(json_object_get(ca, "precision"), json_object_get(cb, "precision"), b[2], 40);
        cells[3] = b[2];
        cells[4] = num(json_object_get(ca, "recall"), b[3], 40);
        cells[5] = num(json_object_get(cb, "recall"), b[4], 40);
        delta(json_object_get(ca, "recall"), json_object_get(cb, "recall"), b[5], 40);
        cells[6] = b[5];
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

int kiln_models_compare(struct kiln_http_client *c, const char *name, const char *v1,
                        const char *v2, const struct models_opts *o)
{
    struct kiln_err err = { 0 };
    json_t *a = NULL, *b = NULL, *pairs = json_array();
    const json_t *ea, *eb;
    size_t i, j;
    int rc = fetch_evals(c, name, v1, o->dataset, &a, &err);
    if (rc == KILN_OK)
        rc = fetch_evals(c, name, v2, o->dataset, &b, &err);
    if (rc != KILN_OK) {
        json_decref(pairs);
        return kiln_cli_fail_rc(rc, &err);
    }
    json_array_foreach(a, i, ea)
    {
        json_array_foreach(b, j, eb)
        {
            if (strcmp(jstr(ea, "dataset_name"), jstr(eb, "dataset_name")) == 0 &&
                strcmp(jstr(ea, "dataset_digest"), jstr(eb, "dataset_digest")) == 0)
                json_array_append_new(pairs, json_pack("{s:O, s:O}", "a", ea, "b", eb));
        }
    }
    json_decref(a);
    json_decref(b);
    if (json_array_size(pairs) == 0) {
        json_decref(pairs);
        return kiln_cli_fail("models compare: '%s' versions %s and %s have no evaluation on the "
                             "same dataset (name and digest)%s%s",
                             name, v1, v2, o->dataset != NULL ? " named " : "",
                             o->dataset != NULL ? o->dataset : "");
    }
    if (o->as_json) {
        kiln_cli_print_json(pairs);
    } else {
        json_array_foreach(pairs, i, ea)
        {
            if (i > 0)
                printf("\n");
            compare_one(json_object_get(ea, "a"), json_object_get(ea, "b"), v1, v2);
        }
    }
    json_decref(pairs);
    return KILN_EXIT_OK;
}

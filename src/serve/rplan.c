/*
 * rplan.c - a replica's view of a deployment plan: parsing the control plane's answer
 * (docs/deployments.md, "The plan") into a struct rplan, and the traffic split.
 *
 * The split is the documented one: with a sticky key value, FNV-1a 64 of the value
 * (kiln_deploy_key_hash, the control plane's own function) modulo 10,000 below weight x 100
 * sends the request to the candidate, so every replica sends a caller to the same version;
 * without one, a uniform draw with probability weight / 100. Pure functions, thread-safe.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "serve/replica_int.h"

static int bad(struct kiln_err *err, const char *field, const char *what)
{
    return kiln_err_set(err, KILN_EINVAL, "plan: %s: expected %s", field, what);
}

static int get_str(const json_t *o, const char *key, const char *field, int required, char *out,
                   size_t size, struct kiln_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return kiln_err_set(err, KILN_EINVAL, "plan: %s: required", field);
        out[0] = '\0';
        return KILN_OK;
    }
    if (!json_is_string(v) || json_string_length(v) >= size || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return kiln_err_set(err, KILN_EINVAL, "plan: %s: expected a string of 1 to %zu bytes",
                            field, size - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return KILN_OK;
}

/* An integer field in [lo, hi]; absent keeps *out (the default). */
static int get_int(const json_t *o, const char *key, const char *field, int64_t lo, int64_t hi,
                   int64_t *out, struct kiln_err *err)
{
    const json_t *v = json_object_get(o, key);
    char what[96];
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(what, sizeof(what), "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
        return bad(err, field, what);
    }
    *out = json_integer_value(v);
    return KILN_OK;
}

static int get_num(const json_t *o, const char *key, const char *field, double lo, double hi,
                   double *out, struct kiln_err *err)
{
    const json_t *v = json_object_get(o, key);
    char what[96];
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
        snprintf(what, sizeof(what), "a number in [%g, %g]", lo, hi);
        return bad(err, field, what);
    }
    *out = json_number_value(v);
    return KILN_OK;
}

static int get_bool(const json_t *o, const char *key, const char *field, int *out,
                    struct kiln_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    if (!json_is_boolean(v))
        return bad(err, field, "true or false");
    *out = json_is_true(v);
    return KILN_OK;
}

/* {"version": N, ...} or null; *version = 0 for null. */
static int get_version(const json_t *doc, const char *key, int64_t *version, const json_t **obj,
                       struct kiln_err *err)
{
    const json_t *v = json_object_get(doc, key);
    char field[32];
    *version = 0;
    *obj = NULL;
    if (v == NULL || json_is_null(v))
        return KILN_OK;
    snprintf(field, sizeof(field), "%s.version", key);
    if (!json_is_object(v))
        return bad(err, key, "an object or null");
    if (json_object_get(v, "version") == NULL)
        return kiln_err_set(err, KILN_EINVAL, "plan: %s: required", field);
    *obj = v;
    return get_int(v, "version", field, 1, INT64_MAX, version, err);
}

static int parse_doc(const json_t *doc, struct rplan *p, struct kiln_err *err)
{
    const json_t *so, *co, *mode = json_object_get(doc, "mode");
    int rc;

    rc = get_int(doc, "generation", "generation", 0, INT64_MAX, &p->generation, err);
    if (rc == KILN_OK && json_object_get(doc, "generation") == NULL)
        rc = kiln_err_set(err, KILN_EINVAL, "plan: generation: required");
    if (rc == KILN_OK)
        rc = get_str(doc, "deployment", "deployment", 0, p->deployment, sizeof(p->deployment), err);
    if (rc == KILN_OK)
        rc = get_str(doc, "model", "model", 1, p->model, sizeof(p->model), err);
    if (rc == KILN_OK)
        rc = get_version(doc, "stable", &p->stable, &so, err);
    if (rc == KILN_OK)
        rc = get_version(doc, "candidate", &p->candidate, &co, err);
    if (rc == KILN_OK && co != NULL) {
        rc = get_num(co, "weight", "candidate.weight", 0, 100, &p->weight, err);
        if (rc == KILN_OK)
            rc = get_bool(co, "shadow", "candidate.shadow", &p->shadow, err);
    }
    if (rc == KILN_OK && mode != NULL && !json_is_null(mode)) {
        const char *m = json_string_value(mode);
        if (m != NULL && strcmp(m, "stable") == 0)
            p->mode = RP_STABLE;
        else if (m != NULL && strcmp(m, "canary") == 0)
            p->mode = RP_CANARY;
        else if (m != NULL && strcmp(m, "shadow") == 0)
            p->mode = RP_SHADOW;
        else
            rc = bad(err, "mode", "\"stable\", \"canary\" or \"shadow\"");
    } else if (rc == KILN_OK) {
        p->mode = p->candidate == 0 ? RP_STABLE : p->shadow ? RP_SHADOW : RP_CANARY;
    }
    if (rc == KILN_OK)
        rc = get_str(doc, "sticky_key", "sticky_key", 0, p->sticky_key, sizeof(p->sticky_key), err);
    if (rc == KILN_OK)
        rc = get_bool(doc, "compare", "compare", &p->compare, err);
    if (rc == KILN_OK)
        rc = get_int(doc, "report_interval_ms", "report_interval_ms", 50, 600000,
                     &p->report_interval_ms, err);
    if (rc == KILN_OK)
        rc = get_num(doc, "confidence_threshold", "confidence_threshold", 0, 1,
                     &p->confidence_threshold, err);
    if (rc == KILN_OK)
        rc = get_int(doc, "drift_window_rows", "drift_window_rows", 1, INT64_C(1) << 40,
                     &p->drift_window_rows, err);
    if (rc == KILN_OK)
        rc = get_int(doc, "drift_window_ms", "drift_window_ms", 1, INT64_C(1) << 40,
                     &p->drift_window_ms, err);
    if (rc == KILN_OK)
        rc = get_int(doc, "feedback_capacity", "feedback_capacity", 0, 10000000,
                     &p->feedback_capacity, err);
    if (rc == KILN_OK && p->mode == RP_STABLE && p->candidate != 0)
        rc = kiln_err_set(err, KILN_EINVAL, "plan: mode: \"stable\" with a candidate");
    if (rc == KILN_OK && p->mode != RP_STABLE && p->candidate == 0)
        rc = kiln_err_set(err, KILN_EINVAL, "plan: candidate: required in mode \"%s\"",
                          p->mode == RP_SHADOW ? "shadow" : "canary");
    if (rc == KILN_OK && p->mode == RP_SHADOW)
        p->shadow = 1;
    return rc;
}

int rplan_parse(const char *body, size_t len, struct rplan *out, struct kiln_err *err)
{
    struct rplan p;
    json_t *doc = NULL;
    int rc;

    memset(&p, 0, sizeof(p));
    p.report_interval_ms = 2000;
    p.confidence_threshold = 0.6;
    p.drift_window_rows = 1000;
    p.drift_window_ms = 60000;
    p.feedback_capacity = 100000;
    rc = kiln_json_parse_object(body, len, 0, &doc, err);
    if (rc != KILN_OK)
        return rc;
    rc = parse_doc(doc, &p, err);
    json_decref(doc);
    if (rc == KILN_OK)
        *out = p;
    return rc;
}

uint64_t rplan_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int rplan_to_candidate(const struct rplan *p, const char *key, size_t key_len, uint64_t rnd)
{
    if (p->candidate == 0 || p->shadow || !(p->weight > 0))
        return 0;
    if (key != NULL)
        return kiln_deploy_split(kiln_deploy_key_hash(key, key_len), p->weight);
    /* 53 random bits -> [0, 100). */
    return (double)(rnd >> 11) * (100.0 / 9007199254740992.0) < p->weight;
}

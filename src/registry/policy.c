/*
 * policy.c - promotion policies: the YAML format (parsed with libyaml's document loader into
 * struct kiln_policy), storing and reading a model's policy, and the default policy of a model
 * that has none (docs/registry.md describes the format).
 *
 *   environments:            # mapping, in promotion order
 *     dev: {}
 *     staging:
 *       dataset: holdout     # held-out dataset whose evaluation the metric gates read
 *       digest: 3f2a...      # optional: pin one dataset digest
 *       after: dev           # order gate (default: the previous environment; null: none)
 *       champion: staging    # whose version compare/pr_regression judge against (default: self)
 *       require_champion: false
 *       metrics: ["roc_auc >= 0.90", "log_loss <= 0.35"]
 *       compare:
 *         - {metric: roc_auc, greater_is_better: true, min_relative_change: 0.01}
 *       pr_regression: {tolerance: 0.01, per_class: true}
 *       tags: {validation_status: passed}
 *
 * Every error names the line and column of the YAML at fault and what is wrong there. The
 * parser visits at most VISIT_BUDGET nodes, so aliases cannot make it do unbounded work.
 * libyaml allocates with the C library's allocator internally; everything kiln keeps comes
 * from the caller's arena.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/str.h"
#include "core/time.h"
#include "registry/registry_int.h"

#define VISIT_BUDGET 100000
#define MAX_GATES 100

struct pctx {
    yaml_document_t *doc;
    struct kiln_arena *arena;
    struct kiln_err *err;
    long budget;
};

static int fail_at(struct pctx *p, const yaml_node_t *n, const char *fmt, ...) KILN_PRINTF(3, 4);

static int fail_at(struct pctx *p, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n == NULL)
        return kiln_err_set(p->err, KILN_EINVAL, "policy: %s", msg);
    return kiln_err_set(p->err, KILN_EINVAL, "policy line %zu, column %zu: %s",
                        (size_t)n->start_mark.line + 1, (size_t)n->start_mark.column + 1, msg);
}

static yaml_node_t *node(struct pctx *p, int id)
{
    if (--p->budget < 0)
        return NULL;
    return yaml_document_get_node(p->doc, id);
}

static int is_null(const yaml_node_t *n)
{
    const char *v;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || kiln_cstr_ieq(v, "null");
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* A scalar as an arena string (embedded NUL bytes refused). */
static int scalar(struct pctx *p, const yaml_node_t *n, const char *what, const char **out)
{
    const char *v;
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(p, n, "%s must be a scalar, not %s", what, kind_name(n));
    v = (const char *)n->data.scalar.value;
    if (strlen(v) != n->data.scalar.length)
        return fail_at(p, n, "%s contains a NUL byte", what);
    *out = kiln_arena_strndup(p->arena, v, n->data.scalar.length);
    return *out != NULL ? KILN_OK : reg_oom(p->err);
}

static int number(struct pctx *p, const yaml_node_t *n, const char *what, double *out)
{
    const char *v;
    int rc = scalar(p, n, what, &v);
    if (rc != KILN_OK)
        return rc;
    if (kiln_parse_double(v, strlen(v), out) != KILN_OK || !isfinite(*out))
        return fail_at(p, n, "%s must be a finite number, not '%.40s'", what, v);
    return KILN_OK;
}

static int boolean(struct pctx *p, const yaml_node_t *n, const char *what, int *out)
{
    const char *v;
    int rc = scalar(p, n, what, &v);
    if (rc != KILN_OK)
        return rc;
    if (kiln_cstr_ieq(v, "true") || kiln_cstr_ieq(v, "yes"))
        *out = 1;
    else if (kiln_cstr_ieq(v, "false") || kiln_cstr_ieq(v, "no"))
        *out = 0;
    else
        return fail_at(p, n, "%s must be true or false, not '%.40s'", what, v);
    return KILN_OK;
}

/* An environment or alias name. */
static int env_name(struct pctx *p, const yaml_node_t *n, const char *what, const char **out)
{
    struct kiln_err inner = { 0 };
    int rc = scalar(p, n, what, out);
    if (rc != KILN_OK)
        return rc;
    if (kiln_registry_validate_alias(*out, &inner) != KILN_OK)
        return fail_at(p, n, "%s '%.60s' is not a valid alias name: %s", what, *out, inner.msg);
    return KILN_OK;
}

/* "roc_auc >= 0.90" */
static int threshold(struct pctx *p, const yaml_node_t *n, struct kiln_gate_threshold *t)
{
    static const struct {
        const char *text;
        enum kiln_gate_op op;
    } ops[] = {
        { ">=", KILN_GATE_GE }, { "<=", KILN_GATE_LE }, { ">", KILN_GATE_GT }, { "<", KILN_GATE_LT }
    };
    struct kiln_err inner = { 0 };
    const char *v, *opat = NULL;
    struct kiln_str name, num;
    size_t oplen = 0;
    int rc = scalar(p, n, "a metric gate", &v);
    if (rc != KILN_OK)
        return rc;
    for (size_t i = 0; i < KILN_ARRAY_LEN(ops) && opat == NULL; i++) {
        const char *at = strstr(v, ops[i].text);
        if (at != NULL) {
            opat = at;
            oplen = strlen(ops[i].text);
            t->op = ops[i].op;
        }
    }
    if (opat == NULL)
        return fail_at(p, n,
                       "metric gate '%.60s' must read 'METRIC OP NUMBER' with OP one of >=, >, "
                       "<=, <",
                       v);
    name = kiln_str_trim((struct kiln_str){ v, (size_t)(opat - v) });
    num = kiln_str_trim(kiln_str_from(opat + oplen));
    t->metric = kiln_arena_strndup(p->arena, name.p, name.len);
    if (t->metric == NULL)
        return reg_oom(p->err);
    if (reg_validate_tag_key(t->metric, &inner) != KILN_OK)
        return fail_at(p, n, "metric gate '%.60s' names no valid metric", v);
    if (kiln_parse_double(num.p, num.len, &t->value) != KILN_OK || !isfinite(t->value))
        return fail_at(p, n, "metric gate '%.60s' must end with a finite number", v);
    t->line = (int)n->start_mark.line + 1;
    return KILN_OK;
}

static int compare_gate(struct pctx *p, const yaml_node_t *n, struct kiln_gate_compare *c)
{
    int have_gib = 0;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(p, n, "a compare gate must be a mapping with metric and greater_is_better");
    c->line = (int)n->start_mark.line + 1;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        const char *key;
        int rc;
        if (k == NULL || v == NULL)
            return fail_at(p, n, "the policy is too complex");
        rc = scalar(p, k, "a key", &key);
        if (rc != KILN_OK)
            return rc;
        if (strcmp(key, "metric") == 0) {
            struct kiln_err inner = { 0 };
            rc = scalar(p, v, "metric", &c->metric);
            if (rc == KILN_OK && reg_validate_tag_key(c->metric, &inner) != KILN_OK)
                rc = fail_at(p, v, "'%.60s' is not a valid metric name", c->metric);
        } else if (strcmp(key, "greater_is_better") == 0) {
            rc = boolean(p, v, "greater_is_better", &c->greater_is_better);
            have_gib = 1;
        } else if (strcmp(key, "threshold") == 0) {
            rc = number(p, v, "threshold", &c->threshold);
            c->has_threshold = 1;
        } else if (strcmp(key, "min_absolute_change") == 0) {
            rc = number(p, v, "min_absolute_change", &c->min_absolute_change);
            if (rc == KILN_OK && c->min_absolute_change < 0)
                rc = fail_at(p, v, "min_absolute_change must not be negative");
            c->has_abs = 1;
        } else if (strcmp(key, "min_relative_change") == 0) {
            rc = number(p, v, "min_relative_change", &c->min_relative_change);
            if (rc == KILN_OK && (c->min_relative_change < 0 || c->min_relative_change > 1))
                rc = fail_at(p, v, "min_relative_change must be between 0 and 1");
            c->has_rel = 1;
        } else {
            rc = fail_at(p, k,
                         "unknown key '%.60s' in a compare gate (expected metric, "
                         "greater_is_better, threshold, min_absolute_change, min_relative_change)",
                         key);
        }
        if (rc != KILN_OK)
            return rc;
    }
    if (c->metric == NULL)
        return fail_at(p, n, "a compare gate needs 'metric'");
    if (!have_gib)
        return fail_at(p, n, "compare gate on '%.60s' needs 'greater_is_better: true' or false",
                       c->metric);
    if (!c->has_threshold && !c->has_abs && !c->has_rel)
        return fail_at(p, n,
                       "compare gate on '%.60s' needs at least one of threshold, "
                       "min_absolute_change, min_relative_change",
                       c->metric);
    return KILN_OK;
}

static int pr_gate(struct pctx *p, const yaml_node_t *n, struct kiln_env_policy *e)
{
    e->pr_enabled = 1;
    e->pr_per_class = 1;
    e->pr_tolerance = 0;
    e->pr_line = (int)n->start_mark.line + 1;
    if (is_null(n))
        return KILN_OK;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(p, n, "pr_regression must be a mapping (tolerance, per_class)");
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        const char *key;
        int rc;
        if (k == NULL || v == NULL)
            return fail_at(p, n, "the policy is too complex");
        rc = scalar(p, k, "a key", &key);
        if (rc != KILN_OK)
            return rc;
        if (strcmp(key, "tolerance") == 0) {
            rc = number(p, v, "tolerance", &e->pr_tolerance);
            if (rc == KILN_OK && (e->pr_tolerance < 0 || e->pr_tolerance > 1))
                rc = fail_at(p, v, "tolerance must be between 0 and 1");
        } else if (strcmp(key, "per_class") == 0) {
            rc = boolean(p, v, "per_class", &e->pr_per_class);
        } else {
            rc = fail_at(
                p, k, "unknown key '%.60s' in pr_regression (expected tolerance, per_class)", key);
        }
        if (rc != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

/* A YAML list as an arena array; `item` fills element i. */
static int list(struct pctx *p, const yaml_node_t *n, const char *what, size_t size, void **out,
                size_t *count, int (*item)(struct pctx *, const yaml_node_t *, void *))
{
    size_t len, i = 0;
    char *arr;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(p, n, "%s must be a list, not %s", what, kind_name(n));
    len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len > MAX_GATES)
        return fail_at(p, n, "%s has more than %d entries", what, MAX_GATES);
    arr = kiln_arena_calloc(p->arena, len + 1, size);
    if (arr == NULL)
        return reg_oom(p->err);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *c = node(p, *it);
        int rc;
        if (c == NULL)
            return fail_at(p, n, "the policy is too complex");
        rc = item(p, c, arr + i * size);
        if (rc != KILN_OK)
            return rc;
    }
    *out = arr;
    *count = len;
    return KILN_OK;
}

static int threshold_item(struct pctx *p, const yaml_node_t *n, void *out)
{
    return threshold(p, n, out);
}

static int compare_item(struct pctx *p, const yaml_node_t *n, void *out)
{
    return compare_gate(p, n, out);
}

static int required_tags(struct pctx *p, const yaml_node_t *n, struct kiln_env_policy *e)
{
    size_t len, i = 0;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(p, n, "tags must be a mapping of tag key to required value");
    len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (len > MAX_GATES)
        return fail_at(p, n, "tags has more than %d entries", MAX_GATES);
    e->tags = kiln_arena_calloc(p->arena, len + 1, sizeof(*e->tags));
    if (e->tags == NULL)
        return reg_oom(p->err);
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
         pr++, i++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        struct kiln_err inner = { 0 };
        int rc;
        if (k == NULL || v == NULL)
            return fail_at(p, n, "the policy is too complex");
        rc = scalar(p, k, "a tag key", &e->tags[i].key);
        if (rc == KILN_OK && reg_validate_tag_key(e->tags[i].key, &inner) != KILN_OK)
            rc = fail_at(p, k, "'%.60s' is not a valid tag key", e->tags[i].key);
        if (rc == KILN_OK)
            rc = scalar(p, v, "a tag value", &e->tags[i].value);
        if (rc != KILN_OK)
            return rc;
    }
    e->ntags = len;
    return KILN_OK;
}

static int env_key(struct pctx *p, const char *key, const yaml_node_t *k, const yaml_node_t *v,
                   struct kiln_env_policy *e, int *after_set)
{
    void *arr = NULL;
    int rc;
    if (strcmp(key, "dataset") == 0)
        return scalar(p, v, "dataset", &e->dataset);
    if (strcmp(key, "digest") == 0)
        return scalar(p, v, "digest", &e->digest);
    if (strcmp(key, "after") == 0) {
        *after_set = 1;
        if (is_null(v) || (v->type == YAML_SCALAR_NODE &&
                           kiln_cstr_ieq((const char *)v->data.scalar.value, "none"))) {
            e->after = NULL;
            return KILN_OK;
        }
        return env_name(p, v, "after", &e->after);
    }
    if (strcmp(key, "champion") == 0)
        return env_name(p, v, "champion", &e->champion);
    if (strcmp(key, "require_champion") == 0)
        return boolean(p, v, "require_champion", &e->require_champion);
    if (strcmp(key, "metrics") == 0) {
        rc = list(p, v, "metrics", sizeof(struct kiln_gate_threshold), &arr, &e->nthresholds,
                  threshold_item);
        e->thresholds = arr;
        return rc;
    }
    if (strcmp(key, "compare") == 0) {
        rc = list(p, v, "compare", sizeof(struct kiln_gate_compare), &arr, &e->ncompares,
                  compare_item);
        e->compares = arr;
        return rc;
    }
    if (strcmp(key, "pr_regression") == 0)
        return pr_gate(p, v, e);
    if (strcmp(key, "tags") == 0)
        return required_tags(p, v, e);
    return fail_at(p, k,
                   "environment '%.60s': unknown key '%.60s' (expected dataset, digest, after, "
                   "champion, require_champion, metrics, compare, pr_regression, tags)",
                   e->name, key);
}

static int parse_env(struct pctx *p, const yaml_node_t *k, const yaml_node_t *v,
                     struct kiln_env_policy *e, const char *prev)
{
    int after_set = 0, rc = env_name(p, k, "environment", &e->name);
    if (rc != KILN_OK)
        return rc;
    e->line = (int)k->start_mark.line + 1;
    if (!is_null(v)) {
        if (v->type != YAML_MAPPING_NODE)
            return fail_at(p, v, "environment '%.60s' must be a mapping of gates, not %s", e->name,
                           kind_name(v));
        for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *kk = node(p, pr->key), *vv = node(p, pr->value);
            const char *key;
            if (kk == NULL || vv == NULL)
                return fail_at(p, v, "the policy is too complex");
            rc = scalar(p, kk, "a key", &key);
            if (rc == KILN_OK)
                rc = env_key(p, key, kk, vv, e, &after_set);
            if (rc != KILN_OK)
                return rc;
        }
    }
    if (!after_set)
        e->after = prev;
    if (e->dataset == NULL && (e->nthresholds > 0 || e->ncompares > 0 || e->pr_enabled))
        return fail_at(p, k,
                       "environment '%.60s' has metric gates but no 'dataset' naming the "
                       "held-out dataset they read",
                       e->name);
    if (e->digest != NULL && e->dataset == NULL)
        return fail_at(p, k, "environment '%.60s' pins a 'digest' but names no 'dataset'", e->name);
    return KILN_OK;
}

/* `after` and `champion` must name environments of the policy other than the one itself. */
static int check_refs(struct pctx *p, struct kiln_policy *pol, const yaml_node_t *envs)
{
    for (size_t i = 0; i < pol->nenvs; i++) {
        const struct kiln_env_policy *e = &pol->envs[i];
        const char *refs[2] = { e->after, e->champion };
        for (size_t r = 0; r < 2; r++) {
            int found = 0;
            if (refs[r] == NULL)
                continue;
            for (size_t j = 0; j < pol->nenvs; j++)
                if (strcmp(pol->envs[j].name, refs[r]) == 0)
                    found = 1;
            if (!found || (r == 0 && strcmp(refs[r], e->name) == 0))
                return kiln_err_set(p->err, KILN_EINVAL,
                                    "policy line %d: environment '%s': %s '%s' is %s", e->line,
                                    e->name, r == 0 ? "after" : "champion", refs[r],
                                    found ? "the environment itself"
                                          : "not an environment of "
                                            "this policy");
        }
    }
    (void)envs;
    return KILN_OK;
}

static int parse_root(struct pctx *p, const yaml_node_t *root, struct kiln_policy *pol)
{
    const yaml_node_t *envs = NULL;
    const char *prev = NULL;
    size_t n, i = 0;
    int rc;

    if (root->type != YAML_MAPPING_NODE)
        return fail_at(p, root, "a policy must be a mapping with an 'environments' key, not %s",
                       kind_name(root));
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        const char *key;
        if (k == NULL || v == NULL)
            return fail_at(p, root, "the policy is too complex");
        rc = scalar(p, k, "a key", &key);
        if (rc != KILN_OK)
            return rc;
        if (strcmp(key, "environments") == 0) {
            envs = v;
        } else if (strcmp(key, "version") == 0) {
            double ver;
            rc = number(p, v, "version", &ver);
            if (rc == KILN_OK && ver != 1)
                rc = fail_at(p, v, "policy format version must be 1");
            if (rc != KILN_OK)
                return rc;
        } else {
            return fail_at(p, k, "unknown key '%.60s' (expected environments, version)", key);
        }
    }
    if (envs == NULL)
        return fail_at(p, root, "a policy needs an 'environments' mapping");
    if (envs->type != YAML_MAPPING_NODE)
        return fail_at(p, envs, "environments must be a mapping of environment name to gates");
    n = (size_t)(envs->data.mapping.pairs.top - envs->data.mapping.pairs.start);
    if (n == 0 || n > KILN_POLICY_MAX_ENVS)
        return fail_at(p, envs, "environments must list 1 to %d environments",
                       KILN_POLICY_MAX_ENVS);
    pol->envs = kiln_arena_calloc(p->arena, n, sizeof(*pol->envs));
    if (pol->envs == NULL)
        return reg_oom(p->err);
    for (yaml_node_pair_t *pr = envs->data.mapping.pairs.start; pr < envs->data.mapping.pairs.top;
         pr++, i++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        if (k == NULL || v == NULL)
            return fail_at(p, envs, "the policy is too complex");
        rc = parse_env(p, k, v, &pol->envs[i], prev);
        if (rc != KILN_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(pol->envs[j].name, pol->envs[i].name) == 0)
                return fail_at(p, k, "environment '%.60s' is listed twice", pol->envs[i].name);
        prev = pol->envs[i].name;
        pol->nenvs = i + 1;
    }
    return check_refs(p, pol, envs);
}

int kiln_policy_parse_yaml(const char *text, size_t len, struct kiln_arena *arena,
                           struct kiln_policy **out, struct kiln_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    struct kiln_policy *pol;
    struct pctx p;
    yaml_node_t *root;
    int rc;

    if (len > KILN_POLICY_MAX_BYTES)
        return kiln_err_set(err, KILN_EINVAL, "policy: larger than %zu bytes",
                            KILN_POLICY_MAX_BYTES);
    if (memchr(text, '\0', len) != NULL)
        return kiln_err_set(err, KILN_EINVAL, "policy: contains a NUL byte");
    pol = kiln_arena_calloc(arena, 1, sizeof(*pol));
    if (pol == NULL)
        return reg_oom(err);
    if (!yaml_parser_initialize(&parser))
        return reg_oom(err);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = kiln_err_set(
            err, KILN_EINVAL, "policy line %zu, column %zu: %s%s%s",
            (size_t)parser.problem_mark.line + 1, (size_t)parser.problem_mark.column + 1,
            parser.problem != NULL ? parser.problem : "malformed YAML",
            parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    root = yaml_document_get_root_node(&doc);
    p.doc = &doc;
    p.arena = arena;
    p.err = err;
    p.budget = VISIT_BUDGET;
    if (root == NULL) {
        rc = kiln_err_set(err, KILN_EINVAL, "policy: the document is empty");
    } else {
        rc = parse_root(&p, root, pol);
    }
    if (rc == KILN_OK) {
        /* A second document in the stream is a mistake worth reporting. */
        if (!yaml_parser_load(&parser, &extra)) {
            rc = kiln_err_set(err, KILN_EINVAL, "policy line %zu, column %zu: %s",
                              (size_t)parser.problem_mark.line + 1,
                              (size_t)parser.problem_mark.column + 1,
                              parser.problem != NULL ? parser.problem : "malformed YAML");
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2 != NULL)
                rc = kiln_err_set(err, KILN_EINVAL,
                                  "policy line %zu: a policy file holds one YAML document",
                                  (size_t)r2->start_mark.line + 1);
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc == KILN_OK)
        *out = pol;
    return rc;
}

/* ---- default policy, storage ------------------------------------------------------------ */

static int default_policy(struct kiln_arena *arena, struct kiln_policy **out, struct kiln_err *err)
{
    struct kiln_policy *pol = kiln_arena_calloc(arena, 1, sizeof(*pol));
    size_t n = KILN_ARRAY_LEN(kiln_default_environments);
    if (pol == NULL || (pol->envs = kiln_arena_calloc(arena, n, sizeof(*pol->envs))) == NULL)
        return reg_oom(err);
    for (size_t i = 0; i < n; i++) {
        pol->envs[i].name = kiln_default_environments[i];
        pol->envs[i].after = i > 0 ? kiln_default_environments[i - 1] : NULL;
    }
    pol->nenvs = n;
    *out = pol;
    return KILN_OK;
}

int reg_model_policy(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id,
                     struct kiln_policy **policy, const char **yaml, struct kiln_err *err)
{
    struct kiln_stmt *st;
    const char *text = NULL;
    int oom = 0, rc;

    *policy = NULL;
    *yaml = NULL;
    rc = reg_prepare(tx, &st, err, "SELECT policy_yaml FROM model_policies WHERE rm_id = ?", "i",
                     rm_id);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_stmt_step(st, err);
    if (rc == KILN_STMT_ROW)
        text = reg_col_text(st, 0, arena, &oom);
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    if (oom)
        return reg_oom(err);
    if (text == NULL)
        return default_policy(arena, policy, err);
    *yaml = text;
    return kiln_policy_parse_yaml(text, strlen(text), arena, policy, err);
}

int kiln_policy_set(struct kiln_registry *reg, const char *name, const char *yaml, size_t len,
                    const char *user, struct kiln_err *err)
{
    struct kiln_arena *arena = kiln_arena_new(0);
    struct kiln_policy *pol = NULL;
    struct kiln_buf envs;
    struct kiln_tx *tx = NULL;
    struct reg_payload pl;
    int64_t rm_id, ev = 0;
    char *copy = NULL;
    int rc;

    kiln_buf_init(&envs, 64 * 1024);
    if (arena == NULL)
        return reg_oom(err);
    rc = reg_validate_name(name, "name", err);
    if (rc == KILN_OK)
        rc = kiln_policy_parse_yaml(yaml, len, arena, &pol, err);
    for (size_t i = 0; rc == KILN_OK && i < pol->nenvs; i++)
        if ((i > 0 && kiln_buf_putc(&envs, ',') != KILN_OK) ||
            kiln_buf_puts(&envs, pol->envs[i].name) != KILN_OK)
            rc = reg_oom(err);
    if (rc == KILN_OK && (copy = kiln_arena_strndup(arena, yaml, len)) == NULL)
        rc = reg_oom(err);
    if (rc == KILN_OK)
        rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        goto out;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_exec(tx, err,
                      "INSERT INTO model_policies (rm_id, policy_yaml, environments, "
                      "updated_time, updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (rm_id) DO "
                      "UPDATE SET policy_yaml = excluded.policy_yaml, environments = "
                      "excluded.environments, updated_time = excluded.updated_time, "
                      "updated_by = excluded.updated_by",
                      "ittit", rm_id, copy, envs.buf, kiln_now_ms(), user != NULL ? user : "");
    if (rc == KILN_OK) {
        reg_payload_begin(&pl, name, 0);
        kiln_jsonw_kv_str(&pl.w, "environments", envs.buf);
        rc = reg_event_append(tx, KILN_EV_POLICY_UPDATED, name, 0, NULL, user, reg_payload_end(&pl),
                              &ev, err);
        reg_payload_release(&pl);
    }
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        goto out;
    }
    rc = reg_commit(reg, tx, ev, err);
out:
    kiln_buf_release(&envs);
    kiln_arena_free(arena);
    return rc;
}

int kiln_policy_get(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                    struct kiln_policy **out, const char **yaml, struct kiln_err *err)
{
    struct kiln_tx *tx;
    int64_t rm_id;
    int rc = reg_validate_name(name, "name", err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = reg_model_id(tx, name, &rm_id, err);
    if (rc == KILN_OK)
        rc = reg_model_policy(tx, arena, rm_id, out, yaml, err);
    kiln_store_rollback(tx);
    return rc;
}

static const char *op_text(enum kiln_gate_op op)
{
    switch (op) {
    case KILN_GATE_GE:
        return ">=";
    case KILN_GATE_GT:
        return ">";
    case KILN_GATE_LE:
        return "<=";
    default:
        return "<";
    }
}

void kiln_policy_write(struct kiln_jsonw *w, const struct kiln_policy *pol)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_key(w, "environments");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < pol->nenvs; i++) {
        const struct kiln_env_policy *e = &pol->envs[i];
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "name", e->name);
        if (e->dataset != NULL)
            kiln_jsonw_kv_str(w, "dataset", e->dataset);
        if (e->digest != NULL)
            kiln_jsonw_kv_str(w, "digest", e->digest);
        kiln_jsonw_key(w, "after");
        if (e->after != NULL)
            kiln_jsonw_str(w, e->after);
        else
            kiln_jsonw_null(w);
        kiln_jsonw_kv_str(w, "champion", e->champion != NULL ? e->champion : e->name);
        kiln_jsonw_kv_bool(w, "require_champion", e->require_champion);
        kiln_jsonw_key(w, "metrics");
        kiln_jsonw_arr_begin(w);
        for (size_t j = 0; j < e->nthresholds; j++) {
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "metric", e->thresholds[j].metric);
            kiln_jsonw_kv_str(w, "op", op_text(e->thresholds[j].op));
            kiln_jsonw_kv_double(w, "value", e->thresholds[j].value);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
        kiln_jsonw_key(w, "compare");
        kiln_jsonw_arr_begin(w);
        for (size_t j = 0; j < e->ncompares; j++) {
            const struct kiln_gate_compare *c = &e->compares[j];
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_str(w, "metric", c->metric);
            kiln_jsonw_kv_bool(w, "greater_is_better", c->greater_is_better);
            if (c->has_threshold)
                kiln_jsonw_kv_double(w, "threshold", c->threshold);
            if (c->has_abs)
                kiln_jsonw_kv_double(w, "min_absolute_change", c->min_absolute_change);
            if (c->has_rel)
                kiln_jsonw_kv_double(w, "min_relative_change", c->min_relative_change);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
        if (e->pr_enabled) {
            kiln_jsonw_key(w, "pr_regression");
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_kv_double(w, "tolerance", e->pr_tolerance);
            kiln_jsonw_kv_bool(w, "per_class", e->pr_per_class);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_key(w, "tags");
        kiln_jsonw_obj_begin(w);
        for (size_t j = 0; j < e->ntags; j++)
            kiln_jsonw_kv_str(w, e->tags[j].key, e->tags[j].value);
        kiln_jsonw_obj_end(w);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
}

const char *kiln_gate_op_text(enum kiln_gate_op op)
{
    return op_text(op);
}

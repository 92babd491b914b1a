/*
 * search.c - search-registered-models and search-model-versions (registry.h) with the shared
 * filter parser (tracking/search_filter.h): what each entity exposes, MLflow's ordering
 * defaults and tie-breakers, prompt exclusion and offset page tokens.
 *
 * Page tokens are MLflow's: base64 of {"offset": N}. A page holds max_results entities; one
 * more row is read to learn whether a next page exists, so the last page has no token.
 */
#include <string.h>

#include "core/str.h"
#include "registry/registry_int.h"
#include "tracking/search_filter.h"

#define ORD_FILT (KILN_SF_ORDERABLE | KILN_SF_FILTERABLE)
#define RM_DEFAULT_MAX 100
#define RM_MAX 1000
#define MV_DEFAULT_MAX 200000
#define MV_MAX 200000

static const struct kiln_sf_field rm_attrs[] = {
    { "name", NULL, "registered_models.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "timestamp", "last_updated_timestamp", "registered_models.last_updated_time", KILN_SF_NUMBER,
      KILN_SF_OPS_NUMERIC, KILN_SF_ORDERABLE },
    { "last_updated_timestamp", NULL, "registered_models.last_updated_time", KILN_SF_NUMBER,
      KILN_SF_OPS_NUMERIC, KILN_SF_ORDERABLE },
};

static const struct kiln_sf_schema rm_schema = {
    .entity = "registered models",
    .kinds = KILN_SF_ATTR | KILN_SF_TAG,
    .order_kinds = KILN_SF_ATTR,
    .attrs = rm_attrs,
    .nattrs = KILN_ARRAY_LEN(rm_attrs),
    .tag_ops = KILN_SF_OPS_STRING,
    .tag = { "registered_models.rm_id IN (SELECT t.rm_id FROM registered_model_tags t "
             "WHERE t.key = {key} AND {cmp})",
             "t.value", NULL },
};

static const struct kiln_sf_field mv_attrs[] = {
    { "name", NULL, "rm.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "version_number", NULL, "mv.version", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "run_id", NULL, "mv.run_id", KILN_SF_STRING, KILN_SF_OPS_STRING | KILN_SF_OPBIT(KILN_SF_IN),
      KILN_SF_FILTERABLE },
    { "source_path", NULL, "mv.source", KILN_SF_STRING, KILN_SF_OPS_STRING, KILN_SF_FILTERABLE },
    { "creation_timestamp", NULL, "mv.creation_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC,
      KILN_SF_ORDERABLE },
    { "last_updated_timestamp", NULL, "mv.last_updated_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC,
      KILN_SF_ORDERABLE },
};

static const struct kiln_sf_schema mv_schema = {
    .entity = "model versions",
    .kinds = KILN_SF_ATTR | KILN_SF_TAG,
    .order_kinds = KILN_SF_ATTR,
    .attrs = mv_attrs,
    .nattrs = KILN_ARRAY_LEN(mv_attrs),
    .tag_ops = KILN_SF_OPS_STRING,
    .tag = { "(mv.rm_id, mv.version) IN (SELECT t.rm_id, t.version FROM model_version_tags t "
             "WHERE t.key = {key} AND {cmp})",
             "t.value", NULL },
};

static int parse_page_token(const char *token, int64_t *offset, struct kiln_err *err)
{
    struct kiln_buf b;
    json_t *doc = NULL;
    int64_t off = 0;
    int rc;

    *offset = 0;
    if (token == NULL || *token == '\0')
        return KILN_OK;
    kiln_buf_init(&b, 4096);
    rc = kiln_base64_decode(token, strlen(token), &b);
    if (rc == KILN_OK)
        rc = kiln_json_parse_object(b.buf, b.len, 0, &doc, NULL);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "offset", KILN_JSON_REQUIRED, &off, NULL, NULL);
    json_decref(doc);
    kiln_buf_release(&b);
    if (rc == KILN_ENOMEM)
        return reg_oom(err);
    if (rc != KILN_OK || off < 0)
        return kiln_err_set(err, KILN_EINVAL, "Invalid page token, could not base64-decode");
    *offset = off;
    return KILN_OK;
}

static const char *make_page_token(struct kiln_arena *arena, int64_t offset)
{
    char json[48];
    struct kiln_buf b;
    const char *out = NULL;
    snprintf(json, sizeof(json), "{\"offset\": %lld}", (long long)offset);
    kiln_buf_init(&b, 256);
    if (kiln_base64_encode(json, strlen(json), &b) == KILN_OK)
        out = kiln_arena_strdup(arena, b.buf);
    kiln_buf_release(&b);
    return out;
}

/*
 * Removes comparisons on the prompt tag unless they ask for prompts; returns 1 when the
 * query asks for prompts (MLflow's _is_querying_prompt).
 */
static int strip_prompt_filter(struct kiln_sf_filter *f)
{
    size_t k = 0;
    int querying = 0, decided = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct kiln_sf_cmp *c = &f->cmps[i];
        if (c->kind == KILN_SF_TAG && strcmp(c->key, REG_PROMPT_TAG) == 0 && !decided) {
            const char *v = c->value.str != NULL ? c->value.str : "";
            querying = (c->op == KILN_SF_EQ && kiln_cstr_ieq(v, "true")) ||
                       (c->op == KILN_SF_NE && kiln_cstr_ieq(v, "false"));
            decided = 1;
        }
    }
    if (querying)
        return 1;
    for (size_t i = 0; i < f->n; i++)
        if (!(f->cmps[i].kind == KILN_SF_TAG && strcmp(f->cmps[i].key, REG_PROMPT_TAG) == 0))
            f->cmps[k++] = f->cmps[i];
    f->n = k;
    return 0;
}

/* Appends " ORDER BY ..." from order_by clauses, then the tie-breakers not already used. */
static int add_order(struct kiln_sql *q, const struct kiln_sf_schema *schema,
                     const struct kiln_registry_search *s, struct kiln_arena *arena,
                     const char *const *defaults, size_t ndefaults, const char *const *ties,
                     const char *const *tie_cols, size_t nties, struct kiln_err *err)
{
    const char *const *clauses = s->norder_by > 0 ? s->order_by : defaults;
    size_t n = s->norder_by > 0 ? s->norder_by : ndefaults;
    const char *used[16];
    size_t nused = 0, nitems = 0;

    if (n > 8)
        return kiln_err_set(err, KILN_EINVAL, "`order_by` has more than 8 clauses");
    kiln_sql_add(q, " ORDER BY ");
    for (size_t i = 0; i < n; i++) {
        struct kiln_sf_order o;
        int rc = kiln_sf_parse_order_by(clauses[i], schema, arena, &o, err);
        if (rc != KILN_OK)
            return rc;
        for (size_t j = 0; j < nused; j++)
            if (strcmp(used[j], o.field->column) == 0)
                return kiln_err_set(err, KILN_EINVAL, "`order_by` contains duplicate fields: %s",
                                    clauses[i]);
        used[nused++] = o.field->column;
        if (nitems++ > 0)
            kiln_sql_add(q, ", ");
        kiln_sql_add(q, o.field->column);
        kiln_sql_add(q, o.desc ? " DESC" : " ASC");
    }
    for (size_t t = 0; t < nties; t++) {
        int seen = 0;
        for (size_t j = 0; j < nused; j++)
            if (strcmp(used[j], tie_cols[t]) == 0)
                seen = 1;
        if (!seen) {
            if (nitems++ > 0)
                kiln_sql_add(q, ", ");
            kiln_sql_add(q, ties[t]);
        }
    }
    return KILN_OK;
}

static int check_max(int64_t *max, int64_t def, int64_t limit, struct kiln_err *err)
{
    if (*max == 0)
        *max = def;
    if (*max < 1)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for max_results. It must be a positive integer, but got "
                            "%lld",
                            (long long)*max);
    if (*max > limit)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for request parameter max_results. It must be at most "
                            "%lld, but got value %lld",
                            (long long)limit, (long long)*max);
    return KILN_OK;
}

/*
 * Runs q (its text and arguments) and collects column 0 (and column 1 into *ids2 when ids2 is
 * not NULL) of up to `cap` rows into arena arrays that grow with the result.
 */
static int collect_ids(struct kiln_tx *tx, struct kiln_sql *q, struct kiln_arena *arena,
                       int64_t **ids, int64_t **ids2, size_t cap, size_t *n, struct kiln_err *err)
{
    struct kiln_stmt *st;
    size_t have = 0;
    int rc;
    *n = 0;
    *ids = NULL;
    if (ids2 != NULL)
        *ids2 = NULL;
    if (kiln_sql_status(q) != KILN_OK)
        return kiln_err_set(err, kiln_sql_status(q), "cannot build the search query");
    rc = kiln_tx_prepare(tx, q->text.buf, &st, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_sql_bind(q, st, 1);
    if (rc != KILN_OK) {
        kiln_stmt_finish(st);
        return kiln_err_set(err, rc, "cannot bind the search query");
    }
    while (*n < cap && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        if (*n == have) {
            size_t grow = have ? have * 2 : 64;
            int64_t *a = kiln_arena_alloc(arena, grow * sizeof(*a));
            int64_t *b = ids2 != NULL ? kiln_arena_alloc(arena, grow * sizeof(*b)) : NULL;
            if (a == NULL || (ids2 != NULL && b == NULL)) {
                rc = reg_oom(err);
                break;
            }
            if (*n > 0) {
                memcpy(a, *ids, *n * sizeof(*a));
                if (ids2 != NULL)
                    memcpy(b, *ids2, *n * sizeof(*b));
            }
            *ids = a;
            if (ids2 != NULL)
                *ids2 = b;
            have = grow;
        }
        (*ids)[*n] = kiln_stmt_int64(st, 0);
        if (ids2 != NULL)
            (*ids2)[*n] = kiln_stmt_int64(st, 1);
        (*n)++;
    }
    kiln_stmt_finish(st);
    return rc < 0 ? rc : KILN_OK;
}

int kiln_rm_search(struct kiln_registry *reg, struct kiln_arena *arena,
                   const struct kiln_registry_search *s, struct kiln_registered_model **out,
                   size_t *n, const char **next_token, struct kiln_err *err)
{
    static const char *const ties[] = { "registered_models.name ASC" };
    static const char *const tie_cols[] = { "registered_models.name" };
    struct kiln_sf_filter *f;
    struct kiln_registered_model *res = NULL;
    struct kiln_tx *tx = NULL;
    struct kiln_sql q;
    int64_t max = s->max_results, offset, *ids = NULL;
    size_t nids = 0;
    int rc;

    *out = NULL;
    *n = 0;
    *next_token = NULL;
    rc = check_max(&max, RM_DEFAULT_MAX, RM_MAX, err);
    if (rc == KILN_OK)
        rc = parse_page_token(s->page_token, &offset, err);
    if (rc == KILN_OK)
        rc = kiln_sf_parse(s->filter, &rm_schema, arena, &f, err);
    if (rc != KILN_OK)
        return rc;
    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT registered_models.rm_id FROM registered_models WHERE 1 = 1");
    if (!strip_prompt_filter(f))
        kiln_sql_add(&q, " AND registered_models.rm_id NOT IN (SELECT rm_id FROM "
                         "registered_model_tags WHERE key = 'mlflow.prompt.is_prompt' AND "
                         "LOWER(value) = 'true')");
    rc = kiln_sf_to_sql(f, &rm_schema, &q, err);
    if (rc == KILN_OK)
        rc = add_order(&q, &rm_schema, s, arena, NULL, 0, ties, tie_cols, 1, err);
    kiln_sql_add(&q, " LIMIT ");
    kiln_sql_int64(&q, max + 1);
    kiln_sql_add(&q, " OFFSET ");
    kiln_sql_int64(&q, offset);
    if (rc == KILN_OK)
        rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK)
        rc = collect_ids(tx, &q, arena, &ids, NULL, (size_t)max + 1, &nids, err);
    if (rc == KILN_OK && nids > (size_t)max) {
        nids = (size_t)max;
        *next_token = make_page_token(arena, offset + max);
        if (*next_token == NULL)
            rc = reg_oom(err);
    }
    if (rc == KILN_OK && nids > 0 && (res = kiln_arena_calloc(arena, nids, sizeof(*res))) == NULL)
        rc = reg_oom(err);
    if (rc == KILN_OK)
        rc = reg_load_models_batch(tx, arena, ids, nids, res, err);
    kiln_store_rollback(tx);
    kiln_sql_release(&q);
    if (rc == KILN_OK) {
        *out = res;
        *n = nids;
    }
    return rc;
}

int kiln_mv_search(struct kiln_registry *reg, struct kiln_arena *arena,
                   const struct kiln_registry_search *s, struct kiln_model_version **out, size_t *n,
                   const char **next_token, struct kiln_err *err)
{
    static const char *const defaults[] = { "last_updated_timestamp DESC", "name ASC",
                                            "version_number DESC" };
    static const char *const ties[] = { "rm.name ASC", "mv.version DESC" };
    static const char *const tie_cols[] = { "rm.name", "mv.version" };
    struct kiln_sf_filter *f;
    struct kiln_model_version *res = NULL;
    struct kiln_tx *tx = NULL;
    struct kiln_sql q;
    int64_t max = s->max_results, offset, *rm_ids = NULL, *versions = NULL;
    size_t nids = 0;
    int rc;

    *out = NULL;
    *n = 0;
    *next_token = NULL;
    rc = check_max(&max, MV_DEFAULT_MAX, MV_MAX, err);
    if (rc == KILN_OK)
        rc = parse_page_token(s->page_token, &offset, err);
    if (rc == KILN_OK)
        rc = kiln_sf_parse(s->filter, &mv_schema, arena, &f, err);
    if (rc != KILN_OK)
        return rc;
    kiln_sql_init(&q);
    kiln_sql_add(&q, "SELECT mv.rm_id, mv.version FROM model_versions mv JOIN registered_models "
                     "rm ON rm.rm_id = mv.rm_id WHERE mv.deleted = 0");
    if (!strip_prompt_filter(f))
        kiln_sql_add(&q, " AND mv.rm_id NOT IN (SELECT rm_id FROM model_version_tags WHERE "
                         "key = 'mlflow.prompt.is_prompt' AND LOWER(value) = 'true')");
    rc = kiln_sf_to_sql(f, &mv_schema, &q, err);
    if (rc == KILN_OK)
        rc = add_order(&q, &mv_schema, s, arena, defaults, KILN_ARRAY_LEN(defaults), ties, tie_cols,
                       KILN_ARRAY_LEN(ties), err);
    kiln_sql_add(&q, " LIMIT ");
    kiln_sql_int64(&q, max + 1);
    kiln_sql_add(&q, " OFFSET ");
    kiln_sql_int64(&q, offset);
    /* Ids are gathered first (two int64 per row), then the page is loaded in batches. */
    if (rc == KILN_OK)
        rc = kiln_store_begin(reg->store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK)
        rc = collect_ids(tx, &q, arena, &rm_ids, &versions, (size_t)max + 1, &nids, err);
    if (rc == KILN_OK && nids > (size_t)max) {
        nids = (size_t)max;
        *next_token = make_page_token(arena, offset + max);
        if (*next_token == NULL)
            rc = reg_oom(err);
    }
    if (rc == KILN_OK && nids > 0 && (res = kiln_arena_calloc(arena, nids, sizeof(*res))) == NULL)
        rc = reg_oom(err);
    if (rc == KILN_OK)
        rc = reg_load_versions_batch(tx, arena, rm_ids, versions, nids, 1, res, err);
    kiln_store_rollback(tx);
    kiln_sql_release(&q);
    if (rc == KILN_OK) {
        *out = res;
        *n = nids;
    }
    return rc;
}

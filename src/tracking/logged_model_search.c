/*
 * logged_model_search.c - POST /logged-models/search over the store (logged_models.h).
 *
 * The filter goes through the shared search-filter parser (search_filter.h) with the logged
 * models' schema below. Attribute, param and tag comparisons use the schema's SQL templates;
 * metric comparisons are written here because the request's `datasets` restrict which metric
 * rows count, which a static template cannot express. Values only ever reach the SQL as bound
 * arguments (struct kiln_sql).
 *
 * Semantics (MLflow's SQL store): deleted models never match; a metric comparison matches a
 * model when any of its metric rows with that key (and, given datasets, one of those datasets)
 * satisfies it, and NaN only satisfies "!="; ordering by a metric uses the model's latest row
 * for the key (greatest timestamp, then step); models without a value sort last either way;
 * creation time (newest first) then model id break ties, so pages are stable.
 *
 * Page tokens are base64 of {"offset": N, "query": H} where H hashes the experiment ids,
 * filter, datasets and order_by: a token is only accepted back with the same query.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "store/store.h"
#include "tracking/logged_models.h"
#include "tracking/logged_models_int.h"
#include "tracking/search_filter.h"

#define MAX_RESULTS_DEFAULT 50
#define MAX_RESULTS_LIMIT 50000
#define MAX_EXPERIMENTS 1000
#define MAX_ORDER 20
#define MAX_DATASETS 100

#define ORD_FILT (KILN_SF_ORDERABLE | KILN_SF_FILTERABLE)
#define STATUS_NAME_SQL                                                          \
    "(CASE logged_models.status WHEN 1 THEN 'LOGGED_MODEL_PENDING' "             \
    "WHEN 2 THEN 'LOGGED_MODEL_READY' WHEN 3 THEN 'LOGGED_MODEL_UPLOAD_FAILED' " \
    "ELSE 'LOGGED_MODEL_STATUS_UNSPECIFIED' END)"

static const struct kiln_sf_field lm_attrs[] = {
    { "name", NULL, "logged_models.name", KILN_SF_STRING, KILN_SF_OPS_STRING_IN, ORD_FILT },
    { "model_id", NULL, "logged_models.model_id", KILN_SF_STRING, KILN_SF_OPS_STRING_IN, ORD_FILT },
    { "model_type", NULL, "logged_models.model_type", KILN_SF_STRING, KILN_SF_OPS_STRING_IN,
      ORD_FILT },
    { "status", NULL, STATUS_NAME_SQL, KILN_SF_STRING, KILN_SF_OPS_STRING_IN, ORD_FILT },
    { "source_run_id", NULL, "logged_models.source_run_id", KILN_SF_STRING, KILN_SF_OPS_STRING_IN,
      ORD_FILT },
    { "creation_timestamp", NULL, "logged_models.creation_timestamp_ms", KILN_SF_NUMBER,
      KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "creation_time", "creation_timestamp", "logged_models.creation_timestamp_ms", KILN_SF_NUMBER,
      KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "creation_timestamp_ms", "creation_timestamp", "logged_models.creation_timestamp_ms",
      KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "last_updated_timestamp", NULL, "logged_models.last_updated_timestamp_ms", KILN_SF_NUMBER,
      KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "last_updated_time", "last_updated_timestamp", "logged_models.last_updated_timestamp_ms",
      KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "last_updated_timestamp_ms", "last_updated_timestamp",
      "logged_models.last_updated_timestamp_ms", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
};

const struct kiln_sf_schema kiln_sf_schema_logged_models = {
    .entity = "logged models",
    .kinds = KILN_SF_ATTR | KILN_SF_METRIC | KILN_SF_PARAM | KILN_SF_TAG,
    .order_kinds = KILN_SF_ATTR | KILN_SF_METRIC,
    .attrs = lm_attrs,
    .nattrs = KILN_ARRAY_LEN(lm_attrs),
    .metric_ops = KILN_SF_OPS_NUMERIC,
    .param_ops = KILN_SF_OPS_STRING,
    .tag_ops = KILN_SF_OPS_STRING,
    .metric = { "logged_models.model_id IN (SELECT x.model_id FROM logged_model_metrics x "
                "WHERE x.key = {key} AND {cmp})",
                "x.value", "x.is_nan" },
    .param = { "logged_models.model_id IN (SELECT p.model_id FROM logged_model_params p "
               "WHERE p.key = {key} AND {cmp})",
               "p.value", NULL },
    .tag = { "logged_models.model_id IN (SELECT t.model_id FROM logged_model_tags t "
             "WHERE t.key = {key} AND {cmp})",
             "t.value", NULL },
};

/* "READY", "ready", "2" -> "LOGGED_MODEL_READY", so status filters accept short names. */
static void canonical_status(const char **s)
{
    int st;
    if (*s != NULL && kiln_logged_model_status_parse(*s, &st) == KILN_OK)
        *s = kiln_logged_model_status_name(st);
}

/* Appends "(x.dataset_name = ? [AND x.dataset_digest = ?])" for one dataset. */
static void dataset_cond(struct kiln_sql *q, const char *name, const char *digest)
{
    kiln_sql_add(q, "(x.dataset_name = ");
    kiln_sql_text(q, name);
    if (digest != NULL && *digest != '\0') {
        kiln_sql_add(q, " AND x.dataset_digest = ");
        kiln_sql_text(q, digest);
    }
    kiln_sql_add(q, ")");
}

/* One metric comparison, restricted to the request's datasets when there are any. */
static void metric_cond(struct kiln_sql *q, const struct kiln_sf_cmp *c,
                        const struct kiln_logged_model_search *s)
{
    kiln_sql_add(q, " AND (logged_models.model_id IN (SELECT x.model_id FROM "
                    "logged_model_metrics x WHERE x.key = ");
    kiln_sql_text(q, c->key);
    kiln_sql_add(q, " AND ");
    kiln_sf_sql_compare(q, "x.value", "x.is_nan", c);
    for (size_t i = 0; i < s->ndatasets; i++) {
        kiln_sql_add(q, i == 0 ? " AND (" : " OR ");
        dataset_cond(q, s->datasets[i].name, s->datasets[i].digest);
    }
    if (s->ndatasets > 0)
        kiln_sql_add(q, ")");
    kiln_sql_add(q, "))");
}

static int where_clause(struct kiln_sql *q, const struct kiln_sf_filter *f,
                        const struct kiln_logged_model_search *s, struct kiln_arena *arena,
                        struct kiln_err *err)
{
    int rc = KILN_OK;
    kiln_sql_add(q, " WHERE logged_models.lifecycle_stage = 'active' AND "
                    "logged_models.experiment_id IN (");
    for (size_t i = 0; i < s->nexperiments; i++) {
        if (i > 0)
            kiln_sql_add(q, ", ");
        kiln_sql_int64(q, s->experiment_ids[i]);
    }
    kiln_sql_add(q, ")");
    for (size_t i = 0; i < f->n && rc == KILN_OK; i++) {
        struct kiln_sf_cmp *c = &f->cmps[i];
        struct kiln_sf_filter one = { c, 1 };
        if (c->kind == KILN_SF_METRIC) {
            metric_cond(q, c, s);
            continue;
        }
        if (c->kind == KILN_SF_ATTR && strcmp(c->field->name, "status") == 0) {
            if (c->value.kind == KILN_SF_V_LIST)
                for (size_t j = 0; j < c->value.nlist; j++)
                    canonical_status(&c->value.list[j]);
            else if (c->op == KILN_SF_EQ || c->op == KILN_SF_NE)
                canonical_status(&c->value.str);
        }
        rc = kiln_sf_to_sql(&one, &kiln_sf_schema_logged_models, q, err);
    }
    return rc;
}

/* Appends one ORDER BY term for a structured order_by entry. */
static int order_term(struct kiln_sql *q, const struct kiln_logged_model_order *o,
                      struct kiln_err *err)
{
    const char *dir = o->ascending ? " ASC NULLS LAST" : " DESC NULLS LAST";
    const char *field = o->field != NULL ? o->field : "";

    if (strncmp(field, "metrics.", 8) == 0 || strncmp(field, "metric.", 7) == 0) {
        const char *key = strchr(field, '.') + 1;
        if (*key == '\0')
            return kiln_err_set(err, KILN_EINVAL, "Invalid order_by field_name '%.200s'", field);
        kiln_sql_add(q, "(SELECT CASE WHEN x.is_nan = 1 THEN NULL ELSE x.value END FROM "
                        "logged_model_metrics x WHERE x.model_id = logged_models.model_id AND "
                        "x.key = ");
        kiln_sql_text(q, key);
        if (o->dataset_name != NULL && *o->dataset_name != '\0') {
            kiln_sql_add(q, " AND ");
            dataset_cond(q, o->dataset_name, o->dataset_digest);
        }
        kiln_sql_add(q, " ORDER BY x.timestamp DESC, x.step DESC LIMIT 1)");
        return kiln_sql_add(q, dir);
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(lm_attrs); i++) {
        if (strcmp(lm_attrs[i].name, field) != 0)
            continue;
        kiln_sql_add(q, strcmp(field, "status") == 0 ? "logged_models.status" : lm_attrs[i].column);
        return kiln_sql_add(q, dir);
    }
    return kiln_err_set(err, KILN_EINVAL,
                        "Invalid order_by field_name '%.200s': expected metrics.<key> or one of "
                        "name, model_id, model_type, status, source_run_id, creation_timestamp, "
                        "last_updated_timestamp",
                        field);
}

/* FNV-1a over everything that defines the result set, so tokens stay with their query. */
static uint64_t query_hash(const struct kiln_logged_model_search *s)
{
    uint64_t h = 1469598103934665603ull;
#define MIX_BYTES(p, n)                                       \
    do {                                                      \
        const unsigned char *b_ = (const unsigned char *)(p); \
        for (size_t k_ = 0; k_ < (n); k_++)                   \
            h = (h ^ b_[k_]) * 1099511628211ull;              \
        h = (h ^ 0xff) * 1099511628211ull;                    \
    } while (0)
#define MIX_STR(str) MIX_BYTES((str) != NULL ? (str) : "", (str) != NULL ? strlen(str) : 0)
    for (size_t i = 0; i < s->nexperiments; i++)
        MIX_BYTES(&s->experiment_ids[i], sizeof(int64_t));
    MIX_STR(s->filter);
    for (size_t i = 0; i < s->ndatasets; i++) {
        MIX_STR(s->datasets[i].name);
        MIX_STR(s->datasets[i].digest);
    }
    for (size_t i = 0; i < s->norder; i++) {
        MIX_STR(s->order[i].field);
        MIX_BYTES(&s->order[i].ascending, sizeof(int));
        MIX_STR(s->order[i].dataset_name);
        MIX_STR(s->order[i].dataset_digest);
    }
#undef MIX_STR
#undef MIX_BYTES
    return h;
}

static int decode_token(const char *token, uint64_t hash, int64_t *offset, struct kiln_err *err)
{
    struct kiln_buf b;
    json_t *doc = NULL;
    int64_t off = 0;
    const char *q;
    char want[17];
    int rc;

    kiln_buf_init(&b, 1024);
    rc = kiln_base64_decode(token, strlen(token), &b);
    if (rc == KILN_OK)
        rc = kiln_json_parse_object(b.buf, b.len, 0, &doc, NULL);
    if (rc == KILN_OK)
        rc = kiln_json_get_int64(doc, "offset", KILN_JSON_REQUIRED, &off, NULL, NULL);
    q = rc == KILN_OK ? json_string_value(json_object_get(doc, "query")) : NULL;
    snprintf(want, sizeof(want), "%016llx", (unsigned long long)hash);
    if (rc == KILN_ENOMEM)
        rc = kiln_err_set(err, rc, "out of memory");
    else if (rc != KILN_OK || off < 0 || q == NULL)
        rc = kiln_err_set(err, KILN_EINVAL, "Invalid page_token '%.100s'", token);
    else if (strcmp(q, want) != 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "Invalid page_token: it was issued for a different search (experiment "
                          "ids, filter, datasets and order_by must stay the same)");
    json_decref(doc);
    kiln_buf_release(&b);
    if (rc == KILN_OK)
        *offset = off;
    return rc;
}

static const char *encode_token(struct kiln_arena *arena, int64_t offset, uint64_t hash)
{
    char json[96];
    struct kiln_buf b;
    const char *out = NULL;
    snprintf(json, sizeof(json), "{\"offset\": %lld, \"query\": \"%016llx\"}", (long long)offset,
             (unsigned long long)hash);
    kiln_buf_init(&b, 256);
    if (kiln_base64_encode(json, strlen(json), &b) == KILN_OK)
        out = kiln_arena_strndup(arena, b.buf, b.len);
    kiln_buf_release(&b);
    return out;
}

static int validate(const struct kiln_logged_model_search *s, int64_t *limit, struct kiln_err *err)
{
    if (s->nexperiments == 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "Missing value for required parameter 'experiment_ids'");
    if (s->nexperiments > MAX_EXPERIMENTS)
        return kiln_err_set(err, KILN_EINVAL, "At most %d experiment_ids may be searched at once",
                            MAX_EXPERIMENTS);
    if (s->max_results < 0 || s->max_results > MAX_RESULTS_LIMIT)
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value %lld for parameter 'max_results': it must be at most "
                            "%d",
                            (long long)s->max_results, MAX_RESULTS_LIMIT);
    if (s->ndatasets > MAX_DATASETS || s->norder > MAX_ORDER)
        return kiln_err_set(err, KILN_EINVAL, "too many datasets or order_by entries");
    for (size_t i = 0; i < s->ndatasets; i++)
        if (s->datasets[i].name == NULL || *s->datasets[i].name == '\0')
            return kiln_err_set(err, KILN_EINVAL,
                                "`dataset_name` in the `datasets` clause must be specified.");
    *limit = s->max_results > 0 ? s->max_results : MAX_RESULTS_DEFAULT;
    return KILN_OK;
}

static int build_query(struct kiln_sql *q, const struct kiln_logged_model_search *s,
                       const struct kiln_sf_filter *f, int64_t limit, int64_t offset,
                       struct kiln_arena *arena, struct kiln_err *err)
{
    int rc;
    kiln_sql_add(q, "SELECT logged_models.model_id FROM logged_models");
    rc = where_clause(q, f, s, arena, err);
    if (rc != KILN_OK)
        return rc;
    kiln_sql_add(q, " ORDER BY ");
    for (size_t i = 0; i < s->norder && rc == KILN_OK; i++) {
        rc = order_term(q, &s->order[i], err);
        kiln_sql_add(q, ", ");
    }
    if (rc != KILN_OK)
        return rc;
    kiln_sql_add(q, "logged_models.creation_timestamp_ms DESC, logged_models.model_id ASC "
                    "LIMIT ");
    kiln_sql_int64(q, limit + 1); /* one more tells whether another page exists */
    kiln_sql_add(q, " OFFSET ");
    kiln_sql_int64(q, offset);
    rc = kiln_sql_status(q);
    if (rc == KILN_ENOMEM)
        return kiln_err_set(err, rc, "out of memory building the search query");
    if (rc != KILN_OK)
        return kiln_err_set(err, KILN_EINVAL, "search query too large");
    return KILN_OK;
}

/* Runs the id query, then loads each model (tags, params, metrics) in the same snapshot. */
static int run_query(struct kiln_tx *tx, const struct kiln_sql *q, struct kiln_arena *arena,
                     int64_t limit, struct kiln_logged_model **models, size_t *n, int *more,
                     struct kiln_err *err)
{
    struct kiln_stmt *st;
    const char **ids;
    size_t nids = 0;
    int rc = kiln_tx_prepare(tx, q->text.buf, &st, err);
    if (rc != KILN_OK)
        return rc;
    ids = kiln_arena_calloc(arena, (size_t)limit + 1, sizeof(*ids));
    rc = ids == NULL ? KILN_ENOMEM : kiln_sql_bind(q, st, 1);
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        ids[nids] = kiln_arena_strdup(arena, kiln_stmt_text(st, 0));
        if (ids[nids] == NULL)
            rc = KILN_ENOMEM;
        else if (++nids > (size_t)limit)
            break;
        rc = KILN_OK;
    }
    kiln_stmt_finish(st);
    if (rc == KILN_ENOMEM)
        return kiln_err_set(err, rc, "out of memory");
    if (rc < 0)
        return rc;
    *more = nids > (size_t)limit;
    if (*more)
        nids = (size_t)limit;
    for (size_t i = 0; i < nids && rc >= 0; i++)
        rc = kiln_logged_model_load(tx, arena, ids[i], &models[i], err);
    if (rc < 0)
        return rc;
    *n = nids;
    return KILN_OK;
}

int kiln_logged_model_search(struct kiln_store *store, struct kiln_arena *arena,
                             const struct kiln_logged_model_search *s,
                             struct kiln_logged_model ***out, size_t *n, const char **next_token,
                             struct kiln_err *err)
{
    struct kiln_sf_filter *f = NULL;
    struct kiln_logged_model **models;
    struct kiln_sql q;
    struct kiln_tx *tx = NULL;
    uint64_t hash = query_hash(s);
    int64_t limit = 0, offset = 0;
    int more = 0, rc;

    *out = NULL;
    *n = 0;
    *next_token = NULL;
    rc = validate(s, &limit, err);
    if (rc == KILN_OK && s->page_token != NULL && *s->page_token != '\0')
        rc = decode_token(s->page_token, hash, &offset, err);
    if (rc == KILN_OK)
        rc = kiln_sf_parse(s->filter, &kiln_sf_schema_logged_models, arena, &f, err);
    if (rc != KILN_OK)
        return rc;
    models = kiln_arena_calloc(arena, (size_t)limit + 1, sizeof(*models));
    if (models == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    kiln_sql_init(&q);
    rc = build_query(&q, s, f, limit, offset, arena, err);
    if (rc == KILN_OK)
        rc = kiln_store_begin(store, KILN_TX_READ, &tx, err);
    if (rc == KILN_OK) {
        rc = run_query(tx, &q, arena, limit, models, n, &more, err);
        kiln_store_rollback(tx);
    }
    kiln_sql_release(&q);
    if (rc != KILN_OK)
        return rc;
    if (more) {
        *next_token = encode_token(arena, offset + limit, hash);
        if (*next_token == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    *out = models;
    return KILN_OK;
}

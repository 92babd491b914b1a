/*
 * evaluations.c - evaluation records of model versions on held-out datasets (registry.h):
 * reading and writing their JSON form, storing one record per (version, dataset name,
 * dataset digest), and loading them for lists, gates, comparisons and lineage.
 *
 * Storage: metrics, per-class figures and the precision-recall curve are JSON texts in their
 * API form (written with kiln_jsonw, so NaN and infinities survive as "NaN"/"Infinity"), read
 * back with the same reader the API uses. Strings read are copied into the caller's arena.
 */
#include <math.h>
#include <string.h>

#include "core/time.h"
#include "registry/registry_int.h"

static int read_metrics(const json_t *m, struct kiln_arena *arena, struct kiln_evaluation *e,
                        struct kiln_err *err)
{
    const char *key;
    json_t *val;
    size_t i = 0;
    if (m == NULL)
        return KILN_OK;
    if (!json_is_object(m))
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for parameter 'metrics': expected an object of "
                            "metric name to number");
    if (json_object_size(m) > KILN_EVAL_MAX_METRICS)
        return kiln_err_set(err, KILN_EINVAL, "an evaluation holds at most %d metrics",
                            KILN_EVAL_MAX_METRICS);
    e->metrics = kiln_arena_calloc(arena, json_object_size(m) + 1, sizeof(*e->metrics));
    if (e->metrics == NULL)
        return reg_oom(err);
    json_object_foreach((json_t *)(uintptr_t)m, key, val)
    {
        json_t *wrap = json_pack("{s:O}", "v", val);
        int rc;
        if (wrap == NULL)
            return reg_oom(err);
        rc = kiln_json_get_double(wrap, "v", KILN_JSON_REQUIRED, &e->metrics[i].value, NULL, NULL);
        json_decref(wrap);
        if (rc != KILN_OK)
            return kiln_err_set(
                err, KILN_EINVAL,
                "Invalid value for metric '%s' of the evaluation: expected a number", key);
        rc = reg_validate_tag_key(key, err);
        if (rc != KILN_OK)
            return rc;
        e->metrics[i].key = kiln_arena_strdup(arena, key);
        if (e->metrics[i].key == NULL)
            return reg_oom(err);
        i++;
    }
    e->nmetrics = i;
    return KILN_OK;
}

/* A probability in [0, 1] (NaN allowed: "undefined", e.g. precision with no predictions). */
static int get_prob(const json_t *obj, const char *field, const char *what, size_t i, double *out,
                    struct kiln_err *err)
{
    int rc = kiln_json_get_double(obj, field, KILN_JSON_REQUIRED, out, NULL, NULL);
    if (rc != KILN_OK || (!isnan(*out) && (*out < 0 || *out > 1)))
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for '%s[%zu].%s': expected a number between 0 and 1",
                            what, i, field);
    return KILN_OK;
}

static int read_classes(const json_t *arr, struct kiln_arena *arena, struct kiln_evaluation *e,
                        struct kiln_err *err)
{
    size_t i;
    json_t *item;
    if (arr == NULL)
        return KILN_OK;
    if (!json_is_array(arr))
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for parameter 'per_class': expected "
                            "an array");
    if (json_array_size(arr) > KILN_EVAL_MAX_CLASSES)
        return kiln_err_set(err, KILN_EINVAL, "an evaluation holds at most %d classes",
                            KILN_EVAL_MAX_CLASSES);
    e->classes = kiln_arena_calloc(arena, json_array_size(arr) + 1, sizeof(*e->classes));
    if (e->classes == NULL)
        return reg_oom(err);
    json_array_foreach(arr, i, item)
    {
        struct kiln_eval_class *c = &e->classes[i];
        json_t *label = json_is_object(item) ? json_object_get(item, "label") : NULL;
        int64_t support = -1;
        int present = 0, rc;
        char num[32];
        if (json_is_string(label)) {
            c->label = kiln_arena_strdup(arena, json_string_value(label));
        } else if (json_is_integer(label)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(label));
            c->label = kiln_arena_strdup(arena, num);
        } else {
            return kiln_err_set(
                err, KILN_EINVAL,
                "Invalid value for '%s[%zu].label': expected a string or an integer", "per_class",
                i);
        }
        if (c->label == NULL)
            return reg_oom(err);
        if (*c->label == '\0' || strlen(c->label) > 250)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for '%s[%zu].label': expected 1 to 250 characters",
                                "per_class", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(e->classes[j].label, c->label) == 0)
                return kiln_err_set(err, KILN_EINVAL, "class '%s' appears twice in 'per_class'",
                                    c->label);
        rc = get_prob(item, "precision", "per_class", i, &c->precision, err);
        if (rc == KILN_OK)
            rc = get_prob(item, "recall", "per_class", i, &c->recall, err);
        if (rc == KILN_OK && (kiln_json_get_int64(item, "support", KILN_JSON_OPTIONAL, &support,
                                                  &present, NULL) != KILN_OK ||
                              (present && support < 0)))
            rc = kiln_err_set(err, KILN_EINVAL,
                              "Invalid value for '%s[%zu].support': expected a count", "per_class",
                              i);
        if (rc != KILN_OK)
            return rc;
        c->support = present ? support : -1;
    }
    e->nclasses = json_array_size(arr);
    return KILN_OK;
}

static int read_pr(const json_t *arr, struct kiln_arena *arena, struct kiln_evaluation *e,
                   struct kiln_err *err)
{
    size_t i;
    json_t *item;
    if (arr == NULL)
        return KILN_OK;
    if (!json_is_array(arr))
        return kiln_err_set(err, KILN_EINVAL,
                            "Invalid value for parameter 'pr_curve': expected an array of "
                            "{threshold, precision, recall}");
    if (json_array_size(arr) > KILN_EVAL_MAX_PR_POINTS)
        return kiln_err_set(err, KILN_EINVAL, "a precision-recall curve holds at most %d points",
                            KILN_EVAL_MAX_PR_POINTS);
    e->pr_curve = kiln_arena_calloc(arena, json_array_size(arr) + 1, sizeof(*e->pr_curve));
    if (e->pr_curve == NULL)
        return reg_oom(err);
    json_array_foreach(arr, i, item)
    {
        struct kiln_pr_point *pt = &e->pr_curve[i];
        int rc =
            kiln_json_get_double(item, "threshold", KILN_JSON_REQUIRED, &pt->threshold, NULL, NULL);
        if (!json_is_object(item) || rc != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL,
                                "Invalid value for '%s[%zu].threshold': expected a number",
                                "pr_curve", i);
        rc = get_prob(item, "precision", "pr_curve", i, &pt->precision, err);
        if (rc == KILN_OK)
            rc = get_prob(item, "recall", "pr_curve", i, &pt->recall, err);
        if (rc != KILN_OK)
            return rc;
    }
    e->npr = json_array_size(arr);
    return KILN_OK;
}

static int copy_str(struct kiln_arena *arena, const json_t *obj, const char *field, int required,
                    size_t max, const char **out, struct kiln_err *err)
{
    const char *s;
    int rc = kiln_json_get_str(obj, field, required, &s, err);
    *out = NULL;
    if (rc != KILN_OK || s == NULL)
        return rc;
    if (strlen(s) > max)
        return kiln_err_set(err, KILN_EINVAL, "'%s' exceeds the maximum length of %zu characters",
                            field, max);
    *out = kiln_arena_strdup(arena, s);
    return *out != NULL ? KILN_OK : reg_oom(err);
}

int kiln_eval_read(const json_t *obj, struct kiln_arena *arena, struct kiln_evaluation *out,
                   struct kiln_err *err)
{
    json_t *m, *c, *pr;
    int present = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = copy_str(arena, obj, "dataset_name", KILN_JSON_REQUIRED, REG_DATASET_NAME_MAX,
                  &out->dataset_name, err);
    if (rc == KILN_OK)
        rc = copy_str(arena, obj, "dataset_digest", KILN_JSON_REQUIRED, REG_DATASET_DIGEST_MAX,
                      &out->dataset_digest, err);
    if (rc == KILN_OK)
        rc = copy_str(arena, obj, "run_id", KILN_JSON_OPTIONAL, 256, &out->run_id, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_double(obj, "threshold", KILN_JSON_OPTIONAL, &out->threshold, &present,
                                  err);
    if (rc == KILN_OK && present && !isfinite(out->threshold))
        rc = kiln_err_set(err, KILN_EINVAL, "Invalid value for 'threshold': expected a number");
    out->has_threshold = present;
    if (rc == KILN_OK)
        rc = kiln_json_get_object(obj, "metrics", KILN_JSON_OPTIONAL, &m, err);
    if (rc == KILN_OK)
        rc = read_metrics(m, arena, out, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_array(obj, "per_class", KILN_JSON_OPTIONAL, &c, err);
    if (rc == KILN_OK)
        rc = read_classes(c, arena, out, err);
    if (rc == KILN_OK)
        rc = kiln_json_get_array(obj, "pr_curve", KILN_JSON_OPTIONAL, &pr, err);
    if (rc == KILN_OK)
        rc = read_pr(pr, arena, out, err);
    if (rc == KILN_OK && out->nmetrics == 0 && out->nclasses == 0 && out->npr == 0)
        rc = kiln_err_set(err, KILN_EINVAL,
                          "an evaluation needs at least one of 'metrics', 'per_class' and "
                          "'pr_curve'");
    return rc;
}

static void write_metrics(struct kiln_jsonw *w, const struct kiln_evaluation *e)
{
    kiln_jsonw_obj_begin(w);
    for (size_t i = 0; i < e->nmetrics; i++)
        kiln_jsonw_kv_double(w, e->metrics[i].key, e->metrics[i].value);
    kiln_jsonw_obj_end(w);
}

static void write_classes(struct kiln_jsonw *w, const struct kiln_evaluation *e)
{
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < e->nclasses; i++) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_str(w, "label", e->classes[i].label);
        kiln_jsonw_kv_double(w, "precision", e->classes[i].precision);
        kiln_jsonw_kv_double(w, "recall", e->classes[i].recall);
        if (e->classes[i].support >= 0)
            kiln_jsonw_kv_int(w, "support", e->classes[i].support);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

static void write_pr(struct kiln_jsonw *w, const struct kiln_evaluation *e)
{
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < e->npr; i++) {
        kiln_jsonw_obj_begin(w);
        kiln_jsonw_kv_double(w, "threshold", e->pr_curve[i].threshold);
        kiln_jsonw_kv_double(w, "precision", e->pr_curve[i].precision);
        kiln_jsonw_kv_double(w, "recall", e->pr_curve[i].recall);
        kiln_jsonw_obj_end(w);
    }
    kiln_jsonw_arr_end(w);
}

void kiln_eval_write(struct kiln_jsonw *w, const struct kiln_evaluation *e)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)e->version);
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "id", e->id);
    kiln_jsonw_kv_str(w, "name", e->name);
    kiln_jsonw_kv_str(w, "version", v);
    kiln_jsonw_kv_str(w, "dataset_name", e->dataset_name);
    kiln_jsonw_kv_str(w, "dataset_digest", e->dataset_digest);
    kiln_jsonw_kv_int(w, "creation_timestamp", e->creation_timestamp);
    kiln_jsonw_kv_str(w, "user_id", e->user_id != NULL ? e->user_id : "");
    if (e->run_id != NULL)
        kiln_jsonw_kv_str(w, "run_id", e->run_id);
    if (e->has_threshold)
        kiln_jsonw_kv_double(w, "threshold", e->threshold);
    kiln_jsonw_key(w, "metrics");
    write_metrics(w, e);
    kiln_jsonw_key(w, "per_class");
    write_classes(w, e);
    kiln_jsonw_key(w, "pr_curve");
    write_pr(w, e);
    kiln_jsonw_obj_end(w);
}

const struct kiln_eval_metric *kiln_eval_metric(const struct kiln_evaluation *e, const char *key)
{
    for (size_t i = 0; i < e->nmetrics; i++)
        if (strcmp(e->metrics[i].key, key) == 0)
            return &e->metrics[i];
    return NULL;
}

/* Serialises one part (0 metrics, 1 classes, 2 curve) into b. */
static int part_json(const struct kiln_evaluation *e, int part, struct kiln_buf *b)
{
    struct kiln_jsonw w;
    kiln_buf_reset(b);
    kiln_jsonw_init(&w, b);
    if (part == 0)
        write_metrics(&w, e);
    else if (part == 1)
        write_classes(&w, e);
    else
        write_pr(&w, e);
    return kiln_jsonw_finish(&w);
}

static int created_event(struct kiln_tx *tx, const char *name, const struct kiln_evaluation *e,
                         int64_t id, int replaced, const char *user, int64_t *ev,
                         struct kiln_err *err)
{
    struct reg_payload p;
    int rc;
    reg_payload_begin(&p, name, e->version);
    kiln_jsonw_kv_int(&p.w, "evaluation_id", id);
    kiln_jsonw_kv_str(&p.w, "dataset_name", e->dataset_name);
    kiln_jsonw_kv_str(&p.w, "dataset_digest", e->dataset_digest);
    kiln_jsonw_kv_bool(&p.w, "replaced", replaced);
    kiln_jsonw_key(&p.w, "metrics");
    write_metrics(&p.w, e);
    rc = reg_event_append(tx, KILN_EV_EVALUATION_CREATED, name, e->version, NULL, user,
                          reg_payload_end(&p), ev, err);
    reg_payload_release(&p);
    return rc;
}

int kiln_eval_create(struct kiln_registry *reg, const struct kiln_evaluation *e, const char *user,
                     int64_t *id, int *replaced, struct kiln_err *err)
{
    struct kiln_buf parts[3];
    struct kiln_tx *tx = NULL;
    struct kiln_stmt *st;
    int64_t rm_id = 0, old = 0, new_id = 0, ev = 0;
    int found = 0, rc;

    rc = reg_validate_name(e->name, "name", err);
    if (rc == KILN_OK && (e->dataset_name == NULL || *e->dataset_name == '\0' ||
                          e->dataset_digest == NULL || *e->dataset_digest == '\0'))
        rc = kiln_err_set(err, KILN_EINVAL,
                          "an evaluation needs 'dataset_name' and 'dataset_digest'");
    if (rc != KILN_OK)
        return rc;
    for (int i = 0; i < 3; i++)
        kiln_buf_init(&parts[i], (size_t)16 << 20);
    for (int i = 0; i < 3 && rc == KILN_OK; i++)
        if (part_json(e, i, &parts[i]) != KILN_OK)
            rc = kiln_err_set(err, KILN_EINVAL, "the evaluation is too large to store");
    if (rc == KILN_OK)
        rc = kiln_store_begin(reg->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        goto out;
    rc = reg_model_id(tx, e->name, &rm_id, err);
    if (rc == KILN_ENOENT)
        rc = kiln_err_set(err, rc, "Model Version (name=%s, version=%lld) not found", e->name,
                          (long long)e->version);
    if (rc == KILN_OK)
        rc = reg_version_exists(tx, rm_id, e->name, e->version, err);
    if (rc == KILN_OK)
        rc = reg_query_int64(tx, err, &old, &found,
                             "SELECT eval_id FROM evaluations WHERE rm_id = ? AND version = ? AND "
                             "dataset_name = ? AND dataset_digest = ?",
                             "iitt", rm_id, e->version, e->dataset_name, e->dataset_digest);
    if (rc == KILN_OK)
        rc = reg_prepare(tx, &st, err,
                         "INSERT INTO evaluations (rm_id, version, dataset_name, dataset_digest, "
                         "creation_time, user_id, run_id, threshold, metrics, per_class, "
                         "pr_curve) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT (rm_id, version, dataset_name, dataset_digest) DO UPDATE "
                         "SET creation_time = excluded.creation_time, user_id = excluded.user_id, "
                         "run_id = excluded.run_id, threshold = excluded.threshold, "
                         "metrics = excluded.metrics, per_class = excluded.per_class, "
                         "pr_curve = excluded.pr_curve RETURNING eval_id",
                         "iittittdttt", rm_id, e->version, e->dataset_name, e->dataset_digest,
                         kiln_now_ms(), user != NULL ? user : "", e->run_id, e->threshold,
                         parts[0].buf, parts[1].buf, parts[2].buf);
    if (rc == KILN_OK) {
        if (!e->has_threshold)
            kiln_stmt_bind_null(st, 8);
        rc = kiln_stmt_step(st, err);
        if (rc == KILN_STMT_ROW)
            new_id = kiln_stmt_int64(st, 0);
        kiln_stmt_finish(st);
        rc = rc < 0 ? rc : KILN_OK;
    }
    if (rc == KILN_OK)
        rc = created_event(tx, e->name, e, new_id, found, user, &ev, err);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        goto out;
    }
    rc = reg_commit(reg, tx, ev, err);
    if (rc == KILN_OK) {
        *id = new_id;
        if (replaced != NULL)
            *replaced = found;
    }
out:
    for (int i = 0; i < 3; i++)
        kiln_buf_release(&parts[i]);
    return rc;
}

/* Parses the stored JSON texts of one row into e. */
static int parse_parts(struct kiln_stmt *st, int col0, struct kiln_arena *arena,
                       struct kiln_evaluation *e, struct kiln_err *err)
{
    json_t *doc[3] = { NULL, NULL, NULL };
    int rc = KILN_OK;
    for (int i = 0; i < 3 && rc == KILN_OK; i++) {
        const char *s = kiln_stmt_text(st, col0 + i);
        rc = kiln_json_parse_any(s != NULL ? s : "null",
                                 s != NULL ? kiln_stmt_bytes(st, col0 + i) : 4, &doc[i], err);
    }
    if (rc == KILN_OK)
        rc = read_metrics(json_is_object(doc[0]) ? doc[0] : NULL, arena, e, err);
    if (rc == KILN_OK)
        rc = read_classes(json_is_array(doc[1]) ? doc[1] : NULL, arena, e, err);
    if (rc == KILN_OK)
        rc = read_pr(json_is_array(doc[2]) ? doc[2] : NULL, arena, e, err);
    for (int i = 0; i < 3; i++)
        json_decref(doc[i]);
    return rc;
}

int reg_eval_load(struct kiln_tx *tx, struct kiln_arena *arena, int64_t rm_id, const char *name,
                  int64_t version, const char *dataset_name, const char *digest,
                  struct kiln_evaluation **out, size_t *n, struct kiln_err *err)
{
    struct kiln_evaluation *list = NULL;
    struct kiln_stmt *st;
    size_t cap = 0, count = 0;
    int oom = 0, rc;

    rc = reg_prepare(
        tx, &st, err,
        "SELECT eval_id, version, dataset_name, dataset_digest, creation_time, "
        "user_id, run_id, threshold, metrics, per_class, pr_curve FROM evaluations "
        "WHERE rm_id = ? AND (? = 0 OR version = ?) AND (? IS NULL OR dataset_name = ?) "
        "AND (? IS NULL OR dataset_digest = ?) ORDER BY creation_time DESC, "
        "eval_id DESC",
        "iiitttt", rm_id, version, version, dataset_name, dataset_name, digest, digest);
    if (rc != KILN_OK)
        return rc;
    while ((rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        struct kiln_evaluation *e;
        if (count == cap) {
            struct kiln_evaluation *nl;
            cap = cap ? cap * 2 : 4;
            nl = kiln_arena_calloc(arena, cap, sizeof(*nl));
            if (nl == NULL) {
                rc = reg_oom(err);
                break;
            }
            if (count > 0)
                memcpy(nl, list, count * sizeof(*nl));
            list = nl;
        }
        e = &list[count];
        e->id = kiln_stmt_int64(st, 0);
        e->name = reg_dup(arena, name, &oom);
        e->version = kiln_stmt_int64(st, 1);
        e->dataset_name = reg_col_text(st, 2, arena, &oom);
        e->dataset_digest = reg_col_text(st, 3, arena, &oom);
        e->creation_timestamp = kiln_stmt_int64(st, 4);
        e->user_id = reg_col_text(st, 5, arena, &oom);
        e->run_id = reg_col_text(st, 6, arena, &oom);
        e->has_threshold = !kiln_stmt_is_null(st, 7);
        e->threshold = e->has_threshold ? kiln_stmt_double(st, 7) : 0;
        if (oom) {
            rc = reg_oom(err);
            break;
        }
        rc = parse_parts(st, 8, arena, e, err);
        if (rc != KILN_OK)
            break;
        count++;
    }
    kiln_stmt_finish(st);
    if (rc < 0)
        return rc;
    *out = list;
    *n = count;
    return KILN_OK;
}

int kiln_eval_list(struct kiln_registry *reg, struct kiln_arena *arena, const char *name,
                   int64_t version, const char *dataset_name, struct kiln_evaluation **out,
                   size_t *n, struct kiln_err *err)
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
    if (rc == KILN_OK && version > 0)
        rc = reg_version_exists(tx, rm_id, name, version, err);
    if (rc == KILN_OK)
        rc = reg_eval_load(tx, arena, rm_id, name, version, dataset_name, NULL, out, n, err);
    kiln_store_rollback(tx);
    return rc;
}

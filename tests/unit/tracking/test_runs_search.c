/*
 * test_runs_search.c - runs/search checked against a brute-force reference. A seeded random
 * set of runs (metrics with NaN, infinities and gaps; params; tags; datasets; deleted runs;
 * several experiments; equal start times) is written through the tracking API and mirrored in
 * memory. For each filter/order_by/view combination the reference evaluates MLflow's semantics
 * on the mirror (a missing key never matches, NaN only satisfies "!=", missing values sort
 * last and NaN after numbers, ties by start_time DESC then run_id) and the test compares the
 * exact sequence of run ids, in one page and in small pages. Both query plans (the general
 * one and the one driven from the metric index) are exercised.
 */
#include "trk_fixture.h"

#include <math.h>

#include "core/str.h"
#include "tracking/search_filter.h"

#define NRUNS 90

struct mirror {
    char id[33];
    char name[16];
    const char *user, *status;
    int64_t exp, start, end;
    int has_end, deleted;
    int has_acc, has_loss;
    double acc, loss;
    const char *lr, *opt, *team; /* NULL when absent */
    const char *ds_name, *ds_digest, *ds_context;
};

static struct mirror runs[NRUNS];
static uint64_t rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void log1(struct fixture *f, const char *id, const char *key, double v)
{
    struct kiln_metric m = { key, v, 5, 1, NULL, NULL, NULL, NULL };
    struct kiln_err err = { 0 };
    if (kiln_run_log_metric(f->store, id, &m, &err) != KILN_OK)
        fail_msg("log: %s", err.msg);
}

static int populate(void **state)
{
    static const char *const users[] = { "ann", "bob" };
    static const char *const statuses[] = { "RUNNING", "FINISHED", "FAILED", "KILLED" };
    static const char *const lrs[] = { "0.1", "0.01", "0.001" };
    static const char *const opts[] = { "adam", "Adam", "sgd" };
    static const char *const teams[] = { "vision", "nlp", "Vision" };
    static const double accs[] = { 0.1, 0.25, 0.5, 0.75, 0.9, 0.5, 1.0, NAN, INFINITY, -INFINITY };
    struct fixture *f;
    struct kiln_err err = { 0 };
    int64_t e2;

    fixture_setup(state);
    f = *state;
    assert_int_equal(
        kiln_experiment_create(f->store, "e2", NULL, NULL, 0, "mlflow-artifacts:/", &e2, &err),
        KILN_OK);
    for (int i = 0; i < NRUNS; i++) {
        struct mirror *r = &runs[i];
        struct kiln_run_create_req c;
        struct kiln_run *run;
        struct kiln_kv tag = { "team", NULL };
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "run-%02d", i);
        r->user = users[rnd(2)];
        r->status = statuses[rnd(4)];
        r->exp = i % 9 == 0 ? e2 : f->exp;
        r->start = 1000 + rnd(30); /* many equal start times */
        memset(&c, 0, sizeof(c));
        c.experiment_id = r->exp;
        c.run_name = r->name;
        c.user_id = r->user;
        c.start_time = r->start;
        c.has_start_time = 1;
        if (rnd(2)) {
            r->team = teams[rnd(3)];
            tag.value = r->team;
            c.tags = &tag;
            c.ntags = 1;
        }
        assert_int_equal(kiln_run_create(f->store, f->arena, &c, &run, &err), KILN_OK);
        kiln_strlcpy(r->id, run->info.run_id, sizeof(r->id));
        if (rnd(3) == 0) {
            struct kiln_run_update_req u = { r->status, 2000 + rnd(10), 1, NULL };
            struct kiln_run_info *info;
            r->has_end = 1;
            r->end = u.end_time;
            assert_int_equal(kiln_run_update(f->store, f->arena, r->id, &u, &info, &err), KILN_OK);
        } else {
            struct kiln_run_update_req u = { r->status, 0, 0, NULL };
            struct kiln_run_info *info;
            assert_int_equal(kiln_run_update(f->store, f->arena, r->id, &u, &info, &err), KILN_OK);
        }
        if (rnd(5) != 0) {
            r->has_acc = 1;
            r->acc = accs[rnd(KILN_ARRAY_LEN(accs))];
            log1(f, r->id, "acc", r->acc);
        }
        if (rnd(2)) {
            r->has_loss = 1;
            r->loss = (double)rnd(100) / 10.0;
            log1(f, r->id, "loss", r->loss);
        }
        if (rnd(10) < 7) {
            r->lr = lrs[rnd(3)];
            assert_int_equal(kiln_run_log_param(f->store, r->id, "lr", r->lr, &err), KILN_OK);
        }
        if (rnd(10) < 6) {
            r->opt = opts[rnd(3)];
            assert_int_equal(kiln_run_log_param(f->store, r->id, "opt", r->opt, &err), KILN_OK);
        }
        if (rnd(4) == 0) {
            struct kiln_kv ctx = { "mlflow.data.context", rnd(2) ? "training" : "eval" };
            struct kiln_dataset_input in;
            memset(&in, 0, sizeof(in));
            r->ds_name = rnd(2) ? "train" : "holdout";
            r->ds_digest = rnd(2) ? "d1" : "d2";
            in.dataset =
                (struct kiln_dataset){ r->ds_name, r->ds_digest, "local", "s", NULL, NULL };
            if (rnd(3)) {
                r->ds_context = ctx.value;
                in.tags = &ctx;
                in.ntags = 1;
            }
            assert_int_equal(kiln_run_log_inputs(f->store, r->id, &in, 1, NULL, 0, &err), KILN_OK);
        }
        if (rnd(10) == 0) {
            r->deleted = 1;
            assert_int_equal(kiln_run_delete(f->store, r->id, &err), KILN_OK);
        }
    }
    return 0;
}

/* ---- the reference -------------------------------------------------------------------- */

static int str_cmp_ok(const char *have, const struct kiln_sf_cmp *c)
{
    if (have == NULL)
        return 0;
    switch (c->op) {
    case KILN_SF_EQ:
        return strcmp(have, c->value.str) == 0;
    case KILN_SF_NE:
        return strcmp(have, c->value.str) != 0;
    case KILN_SF_LIKE:
        return kiln_like_match(c->value.str, have, 0);
    case KILN_SF_ILIKE:
        return kiln_like_match(c->value.str, have, 1);
    case KILN_SF_IN:
    case KILN_SF_NOT_IN: {
        int in = 0;
        for (size_t i = 0; i < c->value.nlist; i++)
            in |= strcmp(have, c->value.list[i]) == 0;
        return c->op == KILN_SF_IN ? in : !in;
    }
    default:
        fail_msg("bad string op");
        return 0;
    }
}

static int num_cmp_ok(int present, double v, const struct kiln_sf_cmp *c)
{
    double x = c->value.num;
    if (!present)
        return 0;
    if (isnan(v))
        return c->op == KILN_SF_NE;
    switch (c->op) {
    case KILN_SF_EQ:
        return v == x;
    case KILN_SF_NE:
        return v != x;
    case KILN_SF_LT:
        return v < x;
    case KILN_SF_LE:
        return v <= x;
    case KILN_SF_GT:
        return v > x;
    default:
        return v >= x;
    }
}

static int matches(const struct mirror *r, const struct kiln_sf_filter *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct kiln_sf_cmp *c = &f->cmps[i];
        int ok = 0;
        if (c->kind == KILN_SF_METRIC) {
            ok = strcmp(c->key, "acc") == 0    ? num_cmp_ok(r->has_acc, r->acc, c)
                 : strcmp(c->key, "loss") == 0 ? num_cmp_ok(r->has_loss, r->loss, c)
                                               : 0;
        } else if (c->kind == KILN_SF_PARAM) {
            ok = str_cmp_ok(strcmp(c->key, "lr") == 0    ? r->lr
                            : strcmp(c->key, "opt") == 0 ? r->opt
                                                         : NULL,
                            c);
        } else if (c->kind == KILN_SF_TAG) {
            ok = str_cmp_ok(strcmp(c->key, "team") == 0             ? r->team
                            : strcmp(c->key, "mlflow.runName") == 0 ? r->name
                                                                    : NULL,
                            c);
        } else if (c->kind == KILN_SF_DATASET) {
            const char *v = strcmp(c->field->name, "name") == 0     ? r->ds_name
                            : strcmp(c->field->name, "digest") == 0 ? r->ds_digest
                                                                    : r->ds_context;
            ok = r->ds_name != NULL && str_cmp_ok(v, c);
        } else {
            const char *col = c->field->column;
            if (strcmp(col, "runs.name") == 0)
                ok = str_cmp_ok(r->name, c);
            else if (strcmp(col, "runs.user_id") == 0)
                ok = str_cmp_ok(r->user, c);
            else if (strcmp(col, "runs.status") == 0)
                ok = str_cmp_ok(r->status, c);
            else if (strcmp(col, "runs.run_uuid") == 0)
                ok = str_cmp_ok(r->id, c);
            else if (strcmp(col, "runs.start_time") == 0)
                ok = num_cmp_ok(1, (double)r->start, c);
            else if (strcmp(col, "runs.end_time") == 0)
                ok = num_cmp_ok(r->has_end, (double)r->end, c);
            else
                fail_msg("unmodelled attribute %s", col);
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static const struct kiln_sf_order *g_orders;
static size_t g_norders;

/* -1/0/1 with missing values last regardless of direction, NaN before missing. */
static int cmp_num(int pa, double a, int pb, double b, int desc)
{
    int ca = !pa ? 2 : isnan(a) ? 1 : 0, cb = !pb ? 2 : isnan(b) ? 1 : 0;
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ca != 0 || a == b)
        return 0;
    return (a < b) == !desc ? -1 : 1;
}

static int cmp_str(const char *a, const char *b, int desc)
{
    int c;
    if (a == NULL || b == NULL)
        return a == b ? 0 : (a == NULL ? 1 : -1);
    c = strcmp(a, b);
    return desc ? -c : c;
}

static int ref_cmp(const void *pa, const void *pb)
{
    const struct mirror *a = *(const struct mirror *const *)pa;
    const struct mirror *b = *(const struct mirror *const *)pb;
    int has_start = 0, has_id = 0, c = 0;
    for (size_t i = 0; i < g_norders && c == 0; i++) {
        const struct kiln_sf_order *o = &g_orders[i];
        if (o->kind == KILN_SF_METRIC) {
            int acc = strcmp(o->key, "acc") == 0;
            c = cmp_num(acc ? a->has_acc : a->has_loss, acc ? a->acc : a->loss,
                        acc ? b->has_acc : b->has_loss, acc ? b->acc : b->loss, o->desc);
        } else if (o->kind == KILN_SF_PARAM) {
            int lr = strcmp(o->key, "lr") == 0;
            c = cmp_str(lr ? a->lr : a->opt, lr ? b->lr : b->opt, o->desc);
        } else if (o->kind == KILN_SF_TAG) {
            c = cmp_str(a->team, b->team, o->desc);
        } else if (strcmp(o->key, "start_time") == 0) {
            has_start = 1;
            c = cmp_num(1, (double)a->start, 1, (double)b->start, o->desc);
        } else if (strcmp(o->key, "end_time") == 0) {
            c = cmp_num(a->has_end, (double)a->end, b->has_end, (double)b->end, o->desc);
        } else if (strcmp(o->key, "run_name") == 0) {
            c = cmp_str(a->name, b->name, o->desc);
        } else if (strcmp(o->key, "status") == 0) {
            c = cmp_str(a->status, b->status, o->desc);
        } else if (strcmp(o->key, "run_id") == 0) {
            has_id = 1;
            c = cmp_str(a->id, b->id, o->desc);
        } else {
            fail_msg("unmodelled order key %s", o->key);
        }
    }
    if (c == 0 && !has_start)
        c = cmp_num(1, (double)a->start, 1, (double)b->start, 1);
    if (c == 0 && !has_id)
        c = strcmp(a->id, b->id);
    return c;
}

/* The reference answer: ids joined by ','. */
static const char *reference(struct fixture *f, const char *filter, const char *const *order,
                             size_t norder, enum kiln_view_type view, int64_t exp)
{
    struct kiln_sf_filter *flt;
    struct kiln_sf_order orders[8];
    const struct mirror *sel[NRUNS];
    size_t n = 0;
    struct kiln_buf b;
    const char *out;

    assert_int_equal(kiln_sf_parse(filter, &kiln_sf_schema_runs, f->arena, &flt, NULL), KILN_OK);
    for (size_t i = 0; i < norder; i++)
        assert_int_equal(
            kiln_sf_parse_order_by(order[i], &kiln_sf_schema_runs, f->arena, &orders[i], NULL),
            KILN_OK);
    for (int i = 0; i < NRUNS; i++) {
        const struct mirror *r = &runs[i];
        if (r->exp != exp || (view == KILN_VIEW_ACTIVE_ONLY && r->deleted) ||
            (view == KILN_VIEW_DELETED_ONLY && !r->deleted) || !matches(r, flt))
            continue;
        sel[n++] = r;
    }
    g_orders = orders;
    g_norders = norder;
    qsort(sel, n, sizeof(sel[0]), ref_cmp);
    kiln_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < n; i++)
        kiln_buf_printf(&b, "%s%s", i ? "," : "", sel[i]->id);
    out = kiln_arena_strdup(f->arena, b.buf);
    kiln_buf_release(&b);
    return out;
}

/* kiln's answer, fetched in pages of `page` (0: one page of up to 1000). */
static const char *searched(struct fixture *f, const char *filter, const char *const *order,
                            size_t norder, enum kiln_view_type view, int64_t exp, int64_t page)
{
    struct kiln_run_query q;
    struct kiln_run_page p;
    struct kiln_err err = { 0 };
    struct kiln_buf b;
    const char *out;
    memset(&q, 0, sizeof(q));
    q.experiment_ids = &exp;
    q.nexperiments = 1;
    q.filter = filter;
    q.order_by = order;
    q.norder_by = norder;
    q.view_type = view;
    q.max_results = page;
    kiln_buf_init(&b, 1 << 16);
    do {
        if (kiln_run_search(f->store, f->arena, &q, &p, &err) != KILN_OK)
            fail_msg("search '%s': %s", filter, err.msg);
        for (size_t i = 0; i < p.n; i++)
            kiln_buf_printf(&b, "%s%s", b.len ? "," : "", p.items[i].info.run_id);
        assert_true(p.n > 0 || p.next_page_token == NULL);
        q.page_token = p.next_page_token;
    } while (q.page_token != NULL);
    out = kiln_arena_strdup(f->arena, b.buf);
    kiln_buf_release(&b);
    return out;
}

static void check(struct fixture *f, const char *filter, const char *o1, const char *o2,
                  enum kiln_view_type view)
{
    const char *order[2] = { o1, o2 };
    size_t norder = o2 != NULL ? 2 : o1 != NULL ? 1 : 0;
    const char *want =
        reference(f, filter, order, norder, view == 0 ? KILN_VIEW_ACTIVE_ONLY : view, f->exp);
    const char *got = searched(f, filter, order, norder, view, f->exp, 0);
    const char *paged = searched(f, filter, order, norder, view, f->exp, 7);
    if (strcmp(want, got) != 0)
        fail_msg("filter '%s' order '%s','%s':\nwant %s\ngot  %s", filter, o1 ? o1 : "",
                 o2 ? o2 : "", want, got);
    assert_string_equal(want, paged);
}

static void test_against_reference(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *filter, *o1, *o2;
        enum kiln_view_type view;
    } cases[] = {
        { "", NULL, NULL, 0 },
        { "", NULL, NULL, KILN_VIEW_ALL },
        { "", NULL, NULL, KILN_VIEW_DELETED_ONLY },
        { "metrics.acc > 0.5", NULL, NULL, 0 },
        /* driven from the metric index: filter and first order on the same metric */
        { "metrics.acc > 0.3", "metrics.acc DESC", NULL, 0 },
        { "metrics.acc >= 0.25 and params.lr = '0.1'", "metrics.acc ASC", NULL, 0 },
        { "metrics.acc <= 1 and metrics.acc >= 0.5", "metrics.acc", "params.lr DESC", 0 },
        { "metrics.acc = 0.5", "metrics.acc DESC", "attributes.run_name", 0 },
        { "metrics.acc < 100 and tags.team ILIKE 'v%'", "metrics.acc DESC", NULL, KILN_VIEW_ALL },
        /* not driven: != keeps NaN rows, or the order metric is not filtered */
        { "metrics.acc != 0.5", "metrics.acc DESC", NULL, 0 },
        { "", "metrics.acc DESC", NULL, 0 },
        { "", "metrics.acc ASC", NULL, 0 },
        { "metrics.loss > 2", "metrics.acc DESC", "metrics.loss ASC", 0 },
        { "params.lr = '0.01'", NULL, NULL, 0 },
        { "params.opt LIKE 'a%'", "params.opt DESC", NULL, 0 },
        { "params.opt ILIKE 'A%'", "params.opt", NULL, 0 },
        { "params.lr != '0.1'", "params.lr", NULL, 0 },
        { "tags.team = 'vision'", NULL, NULL, 0 },
        { "tags.team != 'nlp'", "tags.team DESC", NULL, 0 },
        { "tags.`mlflow.runName` LIKE 'run-1%'", "attributes.run_name DESC", NULL, 0 },
        { "attributes.status = 'FINISHED'", "end_time DESC", NULL, 0 },
        { "status != 'RUNNING' and user_id = 'ann'", "start_time ASC", NULL, 0 },
        { "run_name LIKE 'run-0_'", "run_name", NULL, KILN_VIEW_ALL },
        { "created >= 1010 and start_time < 1020", "created DESC", NULL, 0 },
        { "end_time > 2003", NULL, NULL, 0 },
        { "datasets.name = 'train'", NULL, NULL, 0 },
        { "datasets.digest IN ('d1') and datasets.context = 'training'", NULL, NULL, 0 },
        { "datasets.context NOT IN ('eval')", "status", NULL, 0 },
        { "metrics.acc > 0 and metrics.loss < 5 and params.lr LIKE '0.0%' and tags.team != 'x'",
          "metrics.loss DESC", NULL, 0 },
        { "", "attributes.run_id DESC", NULL, 0 },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++)
        check(f, cases[i].filter, cases[i].o1, cases[i].o2, cases[i].view);
}

static void test_in_list_and_bad_input(void **state)
{
    struct fixture *f = *state;
    struct kiln_run_query q;
    struct kiln_run_page p;
    struct kiln_err err = { 0 };
    char filter[200];
    const char *order = "metrics.acc DESC";
    int64_t exp = f->exp;

    snprintf(filter, sizeof(filter), "attributes.run_id IN ('%s', '%s', 'nope')", runs[1].id,
             runs[2].id);
    check(f, filter, NULL, NULL, KILN_VIEW_ALL);
    snprintf(filter, sizeof(filter), "run_id NOT IN ('%s')", runs[3].id);
    check(f, filter, NULL, NULL, 0);

    memset(&q, 0, sizeof(q));
    q.experiment_ids = &exp;
    q.nexperiments = 1;
    q.max_results = 50001;
    EXPECT_ERR(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL, "at most 50000");
    q.max_results = 0;
    q.page_token = "eyJub3BlIjogMX0="; /* {"nope": 1} */
    EXPECT_ERR(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "Invalid page token");
    q.page_token = NULL;
    q.filter = "metrics.acc > 'x'";
    EXPECT_ERR(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "Expected numeric value");
    q.filter = NULL;
    order = "metrics.acc SIDEWAYS";
    q.order_by = &order;
    q.norder_by = 1;
    EXPECT_ERR(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_EINVAL,
               "expected ASC or DESC");
    /* No experiment ids: nothing, no error. */
    q.order_by = NULL;
    q.norder_by = 0;
    q.nexperiments = 0;
    assert_int_equal(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_OK);
    assert_int_equal(p.n, 0);
    /* Search results carry the run data. */
    q.nexperiments = 1;
    q.filter = "params.lr = '0.1'";
    q.max_results = 1;
    assert_int_equal(kiln_run_search(f->store, f->arena, &q, &p, &err), KILN_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(find_kv(p.items[0].params, p.items[0].nparams, "lr"), "0.1");
    assert_non_null(find_kv(p.items[0].tags, p.items[0].ntags, "mlflow.runName"));
}

static int search_oom(struct fixture *f)
{
    struct kiln_arena *a = kiln_arena_new(256);
    struct kiln_run_query q;
    struct kiln_run_page p;
    const char *order[2] = { "metrics.acc DESC", "params.lr" };
    int64_t exp = f->exp;
    int rc;
    if (a == NULL)
        return KILN_ENOMEM;
    memset(&q, 0, sizeof(q));
    q.experiment_ids = &exp;
    q.nexperiments = 1;
    q.filter = "metrics.acc > 0.2 and tags.team LIKE '%i%'";
    q.order_by = order;
    q.norder_by = 2;
    q.max_results = 3;
    rc = kiln_run_search(f->store, a, &q, &p, NULL);
    if (rc == KILN_OK && (p.n != 3 || p.next_page_token == NULL))
        rc = KILN_EINTERNAL;
    kiln_arena_free(a);
    return rc;
}

static void test_oom(void **state)
{
    KILN_OOM_LOOP(search_oom(*state), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_in_list_and_bad_input),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, populate, fixture_teardown);
}

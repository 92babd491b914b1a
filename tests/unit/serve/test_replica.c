/* A replica's building blocks (src/serve/replica_int.h): the plan parser, the traffic split
 * (FNV-1a 64 against known vectors, the documented rule, shares within tolerance), the
 * lock-free histograms against deploy/hist.h, reports with their carry-over and exactly-once
 * semantics against a real HTTP endpoint that fails on demand, and the feedback join, with
 * out-of-memory loops over what allocates. */
#include "kiln_test.h"

#include <math.h>
#include <stdatomic.h>

#include "core/json.h"
#include "http/client.h"
#include "http/http.h"
#include "serve/replica_int.h"

static const char PLAN[] =
    "{\"deployment\": \"fraud-live\", \"model\": \"fraud\", \"generation\": 14, \"mode\": "
    "\"canary\", \"stable\": {\"version\": 6, \"uri\": \"models:/fraud/6\"}, \"candidate\": "
    "{\"version\": 7, \"uri\": \"models:/fraud/7\", \"weight\": 10, \"shadow\": false}, "
    "\"sticky_key\": \"X-User\", \"compare\": true, \"report_interval_ms\": 2000, "
    "\"confidence_threshold\": 0.6, \"drift_window_rows\": 1000, \"drift_window_ms\": 60000, "
    "\"feedback_capacity\": 100000, \"rollout\": {\"id\": 3, \"step\": 0, \"steps\": 2}, "
    "\"time\": 1795473851682}";

static void test_plan_parse(void **state)
{
    struct rplan p;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(rplan_parse(PLAN, sizeof(PLAN) - 1, &p, &err), KILN_OK);
    assert_int_equal(p.generation, 14);
    assert_int_equal(p.mode, RP_CANARY);
    assert_string_equal(p.model, "fraud");
    assert_int_equal(p.stable, 6);
    assert_int_equal(p.candidate, 7);
    assert_true(p.weight == 10);
    assert_false(p.shadow);
    assert_true(p.compare);
    assert_string_equal(p.sticky_key, "X-User");
    assert_int_equal(p.report_interval_ms, 2000);
    assert_int_equal(p.drift_window_rows, 1000);
    assert_int_equal(p.feedback_capacity, 100000);

    const char *stable = "{\"model\": \"m\", \"generation\": 2, \"mode\": \"stable\", "
                         "\"stable\": {\"version\": 3}, \"candidate\": null, \"sticky_key\": "
                         "null}";
    assert_int_equal(rplan_parse(stable, strlen(stable), &p, &err), KILN_OK);
    assert_int_equal(p.candidate, 0);
    assert_string_equal(p.sticky_key, "");
    assert_int_equal(p.report_interval_ms, 2000); /* the default */

    static const struct {
        const char *body, *msg;
    } bad[] = {
        { "{\"model\": \"m\", \"generation\": 1, \"stable\": {\"version\": 1}, \"candidate\": "
          "{\"version\": 2, \"weight\": 101}}",
          "candidate.weight" },
        { "{\"model\": \"m\", \"generation\": 1, \"mode\": \"blue\"}", "mode" },
        { "{\"generation\": 1}", "model: required" },
        { "{\"model\": \"m\"}", "generation: required" },
        { "{\"model\": \"m\", \"generation\": 1, \"stable\": {\"version\": \"6\"}}",
          "stable.version" },
        { "{\"model\": \"m\", \"generation\": 1, \"mode\": \"canary\"}", "candidate: required" },
        { "{\"model\": \"m\", \"generation\": 1, \"report_interval_ms\": 0}",
          "report_interval_ms" },
        { "[1]", "" },
        { "{\"model\": ", "line 1" },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        struct rplan q = p;
        int rc = rplan_parse(bad[i].body, strlen(bad[i].body), &q, &err);
        assert_true(rc == KILN_EINVAL || rc == KILN_EPARSE);
        assert_non_null(strstr(err.msg, bad[i].msg));
        assert_memory_equal(&q, &p, sizeof(p)); /* untouched */
    }
    KILN_OOM_LOOP(rplan_parse(PLAN, sizeof(PLAN) - 1, &p, &err), (void)0);
}

static void test_split(void **state)
{
    struct rplan p;
    struct kiln_err err = { 0 };
    uint64_t n = 0, hits = 0;
    (void)state;
    /* FNV-1a 64 reference vectors (Fowler/Noll/Vo test suite). */
    assert_true(kiln_deploy_key_hash("", 0) == 0xcbf29ce484222325ULL);
    assert_true(kiln_deploy_key_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(kiln_deploy_key_hash("foobar", 6) == 0x85944171f73967e8ULL);
    assert_int_equal(rplan_parse(PLAN, sizeof(PLAN) - 1, &p, &err), KILN_OK);
    /* Sticky: exactly the documented rule, for many keys, and about the weight. */
    p.weight = 30;
    for (int i = 0; i < 20000; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "user-%d", i);
        uint64_t h = kiln_deploy_key_hash(key, (size_t)len);
        int want = (double)(h % 10000) < 3000.0;
        int got = rplan_to_candidate(&p, key, (size_t)len, 0);
        assert_int_equal(got, want);
        /* The random draw does not matter with a key. */
        assert_int_equal(rplan_to_candidate(&p, key, (size_t)len, ~0ULL), want);
        hits += (uint64_t)got;
    }
    assert_true(fabs((double)hits / 20000 - 0.30) < 0.015);
    /* Random: the share within 4 standard deviations of the weight. */
    for (double w = 0.5; w <= 100; w *= 3.7) {
        p.weight = w;
        hits = 0;
        for (n = 0; n < 200000; n++)
            hits += (uint64_t)rplan_to_candidate(&p, NULL, 0, rplan_mix(n));
        double share = (double)hits / (double)n, q = w / 100;
        assert_true(fabs(share - q) < 4 * sqrt(q * (1 - q) / (double)n) + 1e-9);
    }
    p.weight = 100;
    assert_true(rplan_to_candidate(&p, NULL, 0, ~0ULL));
    p.weight = 0;
    assert_false(rplan_to_candidate(&p, NULL, 0, 0));
    p.weight = 50;
    p.shadow = 1;
    assert_false(rplan_to_candidate(&p, "x", 1, 0));
    p.shadow = 0;
    p.candidate = 0;
    assert_false(rplan_to_candidate(&p, NULL, 0, 0));
}

static void test_hist(void **state)
{
    static struct rhist h; /* 32 KiB: not on the stack */
    struct kiln_hist ref, got;
    double sum = 0;
    (void)state;
    kiln_hist_init(&ref);
    kiln_hist_init(&got);
    for (int i = 0; i < 5000; i++) {
        double v = (i % 7 == 0 ? -1 : 1) * pow(1.37, (double)(i % 97) - 40) * (1 + i % 13);
        rhist_add(&h, v);
        assert_int_equal(kiln_hist_add(&ref, v, 1), KILN_OK);
        sum += v;
    }
    rhist_add(&h, NAN);
    rhist_add(&h, INFINITY);
    rhist_add(&h, 0.0);
    assert_int_equal(kiln_hist_add(&ref, 0.0, 1), KILN_OK);
    assert_int_equal(rhist_drain(&h, &got), KILN_OK);
    assert_int_equal(got.total, ref.total);
    assert_int_equal(got.n, ref.n);
    for (size_t i = 0; i < ref.n; i++) {
        assert_int_equal(got.b[i].key, ref.b[i].key);
        assert_int_equal(got.b[i].count, ref.b[i].count);
    }
    assert_true(fabs(got.sum - sum) <= 1e-9 * fabs(sum) + 1e-9);
    /* Drained: empty now. */
    kiln_hist_reset(&got);
    assert_int_equal(rhist_drain(&h, &got), KILN_OK);
    assert_int_equal(got.total, 0);
    kiln_hist_release(&ref);
    kiln_hist_release(&got);
}

/* ---- reports against a real endpoint ------------------------------------------------------- */

struct sink {
    atomic_int status; /* what the endpoint answers */
    pthread_mutex_t mu;
    char *bodies[64];
    int statuses[64];
    size_t n;
};

static int h_reports(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                     struct kiln_err *err)
{
    struct sink *s = app;
    int st = atomic_load(&s->status);
    (void)err;
    pthread_mutex_lock(&s->mu);
    if (s->n < 64) {
        s->bodies[s->n] = kiln_strndup(req->body.buf, req->body.len);
        s->statuses[s->n++] = st;
    }
    pthread_mutex_unlock(&s->mu);
    return kiln_http_resp_text(resp, st, "application/json", "{\"accepted\": true}");
}

struct fixture {
    struct kiln_serve srv;
    struct slot stable;
    struct replica r;
    struct sink sink;
    struct kiln_router *router;
    struct kiln_http_server *http;
    struct kiln_http_client *client;
};

static int fx_setup(void **state)
{
    struct fixture *f = kiln_calloc(1, sizeof(*f));
    struct kiln_route route = { "POST", "/api/kiln/v1/deployments/d/reports", h_reports, NULL, 0,
                                NULL };
    struct kiln_http_config hc = { "127.0.0.1", 0, 2, 0, NULL };
    struct kiln_err err = { 0 };
    char base[64];
    assert_non_null(f);
    pthread_mutex_init(&f->sink.mu, NULL);
    atomic_store(&f->sink.status, 200);
    f->router = kiln_router_new();
    assert_int_equal(kiln_router_add(f->router, &route), KILN_OK);
    assert_int_equal(kiln_http_start(&hc, f->router, &f->sink, &f->http, &err), KILN_OK);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", kiln_http_port(f->http));
    assert_int_equal(kiln_http_client_new(base, 5000, &f->client, &err), KILN_OK);
    f->stable.name = (char *)(uintptr_t) "m";
    f->r.srv = &f->srv;
    f->r.stable = &f->stable;
    f->r.deployment = kiln_strdup("d");
    f->r.id = kiln_strdup("host:1");
    f->r.boot = kiln_strdup("b00t");
    pthread_mutex_init(&f->r.plan_mu, NULL);
    pthread_mutex_init(&f->r.gap_mu, NULL);
    pthread_mutex_init(&f->r.st_mu, NULL);
    kiln_buf_init(&f->r.pending, (size_t)1 << 24);
    f->r.plan.report_interval_ms = 100;
    atomic_store(&f->r.generation, 5);
    assert_int_equal(fb_init(&f->r.fb, 16), KILN_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *f = *state;
    struct replica *r = &f->r;
    kiln_http_client_free(f->client);
    kiln_http_stop(f->http, 0);
    kiln_router_free(f->router);
    for (size_t i = 0; i < f->sink.n; i++)
        kiln_free(f->sink.bodies[i]);
    fb_release(&r->fb);
    while (r->stats != NULL) {
        struct rstats *n = r->stats->next;
        kiln_free(r->stats);
        r->stats = n;
    }
    for (size_t i = 0; i < r->nacc; i++)
        kiln_deploy_vstats_release(&r->acc[i]);
    kiln_free(r->acc);
    kiln_buf_release(&r->pending);
    kiln_free(r->deployment);
    kiln_free(r->id);
    kiln_free(r->boot);
    kiln_free(f);
    return 0;
}

static void count(struct rstats *st, int requests, double latency)
{
    for (int i = 0; i < requests; i++) {
        atomic_fetch_add(&st->requests, 1);
        atomic_fetch_add(&st->rows, 1);
        rhist_add(&st->latency_us, latency);
        rhist_add(&st->scores, 0.25);
    }
}

static struct kiln_deploy_report *body(struct fixture *f, size_t i)
{
    struct kiln_deploy_report *rep = NULL;
    struct kiln_err err = { 0 };
    assert_true(i < f->sink.n);
    assert_int_equal(
        kiln_deploy_report_parse(f->sink.bodies[i], strlen(f->sink.bodies[i]), &rep, &err),
        KILN_OK);
    return rep;
}

static void test_report_carry_over(void **state)
{
    struct fixture *f = *state;
    struct replica *r = &f->r;
    struct kiln_deploy_report *a, *b, *c;
    struct rstats *st = replica_stats_get(r, 7);
    assert_non_null(st);
    count(st, 10, 100);
    replica_report_tick(r, f->client);
    assert_int_equal(f->sink.n, 1);
    a = body(f, 0);
    assert_int_equal(a->seq, 1);
    assert_int_equal(a->generation, 5);
    assert_string_equal(a->replica, "host:1");
    assert_int_equal(a->nversions, 1);
    assert_int_equal(a->versions[0].version, 7);
    assert_int_equal(a->versions[0].requests, 10);
    assert_int_equal(a->versions[0].latency_us.total, 10);
    assert_true(fabs(a->versions[0].scores.sum - 2.5) < 1e-12);
    kiln_deploy_report_free(a);

    /* The control plane fails: the report is kept, and resent unchanged (same seq). */
    atomic_store(&f->sink.status, 503);
    count(st, 3, 200);
    replica_report_tick(r, f->client);
    count(st, 4, 300);
    replica_report_tick(r, f->client);
    assert_int_equal(f->sink.n, 3);
    assert_string_equal(f->sink.bodies[1], f->sink.bodies[2]);
    b = body(f, 1);
    assert_int_equal(b->seq, 2);
    assert_int_equal(b->versions[0].requests, 3);
    kiln_deploy_report_free(b);

    /* Back: the same report goes through, then one with what was counted meanwhile. */
    atomic_store(&f->sink.status, 200);
    count(st, 5, 400);
    replica_report_tick(r, f->client);
    assert_int_equal(f->sink.n, 5);
    assert_string_equal(f->sink.bodies[3], f->sink.bodies[1]);
    c = body(f, 4);
    assert_int_equal(c->seq, 3);
    assert_int_equal(c->versions[0].requests, 9);
    assert_int_equal(c->versions[0].latency_us.total, 9);
    kiln_deploy_report_free(c);

    /* Exactly once: counting each accepted seq once gives every request once. */
    {
        int64_t last = 0;
        uint64_t total = 0;
        for (size_t i = 0; i < f->sink.n; i++) {
            struct kiln_deploy_report *x = body(f, i);
            if (f->sink.statuses[i] == 200 && x->seq > last) {
                last = x->seq;
                total += x->nversions > 0 ? x->versions[0].requests : 0;
            }
            kiln_deploy_report_free(x);
        }
        assert_int_equal(total, 10 + 3 + 4 + 5);
    }
    /* A 4xx drops the report (it would be refused forever). */
    atomic_store(&f->sink.status, 400);
    count(st, 1, 1);
    replica_report_tick(r, f->client);
    assert_false(r->has_pending);
    replica_stats_put(r, st);
}

static void test_report_gap(void **state)
{
    struct fixture *f = *state;
    struct replica *r = &f->r;
    struct kiln_deploy_report *a;
    replica_cp_note(r, 0);
    assert_true(atomic_load(&r->down_since_ms) > 0);
    atomic_store(&r->down_since_ms, atomic_load(&r->down_since_ms) - 1500);
    /* The first answer closes the gap; the next report carries it, once. */
    replica_report_tick(r, f->client);
    assert_int_equal(atomic_load(&r->down_since_ms), 0);
    replica_report_tick(r, f->client);
    replica_report_tick(r, f->client);
    assert_int_equal(f->sink.n, 3);
    a = body(f, 1);
    assert_true(a->gap_ms >= 1500 && a->gap_ms < 5000);
    assert_int_equal(a->gap_generation, 5);
    kiln_deploy_report_free(a);
    a = body(f, 2);
    assert_int_equal(a->gap_ms, 0);
    kiln_deploy_report_free(a);
}

/* ---- feedback ------------------------------------------------------------------------------ */

static void test_feedback_join(void **state)
{
    struct fb_table t;
    struct kiln_err err = { 0 };
    struct kiln_deploy_report rep;
    size_t m = 0, u = 0;
    (void)state;
    assert_int_equal(fb_init(&t, 3), KILN_OK);
    assert_int_equal(fb_record(&t, "a", 1, 6, "1", 0), KILN_OK);
    assert_int_equal(fb_record(&t, "b", 1, 7, "0", 1), KILN_OK);
    assert_int_equal(fb_record(&t, "c", 1, 6, "0", 0), KILN_OK);
    assert_int_equal(fb_record(&t, "d", 1, 7, "1", 1), KILN_OK); /* "a" is forgotten */
    const char *bodyt = "{\"labels\": [{\"request_id\": \"a\", \"label\": \"1\"}, "
                        "{\"request_id\": \"b\", \"label\": 1}, {\"request_id\": \"c\", "
                        "\"label\": \"0\"}, {\"request_id\": \"b\", \"label\": \"1\"}]}";
    assert_int_equal(fb_apply(&t, bodyt, strlen(bodyt), &m, &u, &err), KILN_OK);
    assert_int_equal(m, 2);
    assert_int_equal(u, 2); /* "a" forgotten, "b" counted once */
    const char *one = "{\"request_id\": \"d\", \"label\": 1.0}";
    assert_int_equal(fb_apply(&t, one, strlen(one), &m, &u, &err), KILN_OK);
    assert_int_equal(m, 1);

    /* Errors name the field; nothing changes. */
    static const struct {
        const char *body, *msg;
    } bad[] = {
        { "{\"labels\": [{\"request_id\": \"x\", \"label\": \"1\"}, {\"request_id\": 3, "
          "\"label\": \"1\"}]}",
          "labels[1].request_id" },
        { "{\"labels\": [{\"request_id\": \"x\", \"label\": [1]}]}", "labels[0].label" },
        { "{\"labels\": {}}", "labels: expected an array" },
        { "{\"request_id\": \"x\"}", "label: expected" },
        { "{\"labels\": [7]}", "labels[0]: expected an object" },
        { "{\"labels\": [", "line 1" },
    };
    assert_int_equal(fb_record(&t, "x", 1, 6, "1", 0), KILN_OK);
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        int rc = fb_apply(&t, bad[i].body, strlen(bad[i].body), &m, &u, &err);
        assert_true(rc == KILN_EINVAL || rc == KILN_EPARSE);
        assert_non_null(strstr(err.msg, bad[i].msg));
    }
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(fb_take(&t, &rep), KILN_OK);
    /* Version 6: c (0, 0); version 7: b (0 -> 1), d (1 -> 1); x untouched by the errors. */
    assert_int_equal(rep.nversions, 2);
    assert_int_equal(rep.npredictions, 2); /* b and d were sent */
    for (size_t i = 0; i < rep.nversions; i++) {
        const struct kiln_deploy_confusion *c = &rep.versions[i].feedback;
        if (rep.versions[i].version == 6) {
            assert_int_equal(kiln_deploy_confusion_total(c), 1);
        } else {
            double acc, prec, rec;
            assert_int_equal(rep.versions[i].version, 7);
            assert_int_equal(kiln_deploy_confusion_total(c), 2);
            kiln_deploy_confusion_metrics(c, "1", &acc, &prec, &rec);
            assert_true(acc == 0.5 && prec == 1.0 && rec == 0.5);
        }
        kiln_deploy_vstats_release(&rep.versions[i]);
    }
    kiln_free(rep.versions);
    for (size_t i = 0; i < rep.npredictions; i++) {
        kiln_free(rep.predictions[i].id);
        kiln_free(rep.predictions[i].label);
    }
    kiln_free(rep.predictions);
    const char *lx = "{\"request_id\": \"x\", \"label\": \"1\"}";
    assert_int_equal(fb_apply(&t, lx, strlen(lx), &m, &u, &err), KILN_OK);
    assert_int_equal(m, 1);
    fb_release(&t);
}

static void test_feedback_oom(void **state)
{
    struct fb_table t;
    struct kiln_err err = { 0 };
    size_t m = 0, u = 0;
    const char *b = "{\"labels\": [{\"request_id\": \"a\", \"label\": \"1\"}, "
                    "{\"request_id\": \"zz\", \"label\": \"0\"}]}";
    (void)state;
    KILN_OOM_LOOP(fb_init(&t, 8), (void)0);
    KILN_OOM_LOOP(fb_record(&t, "a", 1, 6, "1", 1), (void)0);
    /* A failed apply changes nothing: the prediction can still be joined afterwards. */
    KILN_OOM_LOOP(fb_apply(&t, b, strlen(b), &m, &u, &err), assert_int_equal(m, 0));
    assert_int_equal(m, 1);
    assert_int_equal(u, 1);
    fb_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_parse),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_hist),
        cmocka_unit_test_setup_teardown(test_report_carry_over, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_report_gap, fx_setup, fx_teardown),
        cmocka_unit_test(test_feedback_join),
        cmocka_unit_test(test_feedback_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    kiln_http_client_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

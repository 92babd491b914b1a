/*
 * test_events.c - the registry event log (ordering, filters), watches (publish, deadline,
 * stop), and webhook delivery to a real HTTP receiver: success, retries with backoff, giving
 * up, and pending deliveries surviving a restart of the registry.
 */
#include "fixture.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/time.h"
#include "http/client.h"
#include "http/http.h"

#define DELIVERED "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'"

/* ---- a webhook receiver: kiln's own HTTP server recording POST bodies ------------------ */

struct receiver {
    pthread_mutex_t lock;
    char *bodies[64];
    int64_t at_ms[64];
    int n;
    atomic_int status;
    struct kiln_router *router;
    struct kiln_http_server *http;
    char url[128];
};

static int h_hook(void *app, struct kiln_http_req *req, struct kiln_http_resp *resp,
                  struct kiln_err *err)
{
    struct receiver *r = app;
    (void)err;
    pthread_mutex_lock(&r->lock);
    if (r->n < 64) {
        r->at_ms[r->n] = kiln_mono_ns() / 1000000;
        r->bodies[r->n++] = strndup(req->body.buf, req->body.len);
    }
    pthread_mutex_unlock(&r->lock);
    return kiln_http_resp_text(resp, atomic_load(&r->status), "text/plain", "ok");
}

static void receiver_start(struct receiver *r)
{
    static const struct kiln_route route = { "POST", "/hook", h_hook, NULL, 0, NULL };
    struct kiln_http_config cfg = { "127.0.0.1", 0, 2, 5, NULL };
    struct kiln_err err = { 0 };
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->status, 200);
    r->router = kiln_router_new();
    assert_int_equal(kiln_router_add(r->router, &route), KILN_OK);
    assert_int_equal(kiln_http_start(&cfg, r->router, r, &r->http, &err), KILN_OK);
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/hook", kiln_http_port(r->http));
}

static void receiver_stop(struct receiver *r)
{
    kiln_http_stop(r->http, 1000);
    kiln_router_free(r->router);
    for (int i = 0; i < r->n; i++)
        free(r->bodies[i]);
    pthread_mutex_destroy(&r->lock);
}

static int received(struct receiver *r)
{
    int n;
    pthread_mutex_lock(&r->lock);
    n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Waits up to 10 s for the webhook's delivered/failed counts. */
static void wait_counts(struct fx *f, int64_t delivered, int64_t failed)
{
    for (int i = 0; i < 1000; i++) {
        struct kiln_webhook *hooks;
        size_t n;
        struct kiln_err err = { 0 };
        assert_int_equal(kiln_webhook_list(f->reg, f->arena, &hooks, &n, &err), KILN_OK);
        if (n > 0 && hooks[0].delivered == delivered && hooks[0].failed == failed)
            return;
        kiln_sleep_ms(10);
    }
    fail_msg("webhook counts never reached delivered=%lld failed=%lld", (long long)delivered,
             (long long)failed);
}

static void test_event_log(void **state)
{
    struct fx *f = *state;
    struct kiln_registry_event *ev;
    struct kiln_err err = { 0 };
    size_t n;
    int64_t last;

    fx_model(f, "a");
    fx_model(f, "b");
    fx_version(f, "a", "mlflow-artifacts:/x", NULL);
    assert_int_equal(kiln_alias_set(f->reg, "a", "champion", 1, "bob", &err), KILN_OK);
    assert_int_equal(kiln_registry_events(f->reg, f->arena, 0, 0, NULL, NULL, &ev, &n, &last, &err),
                     KILN_OK);
    assert_int_equal(n, 4);
    assert_int_equal(last, ev[3].id);
    for (size_t i = 1; i < n; i++)
        assert_true(ev[i].id > ev[i - 1].id);
    assert_string_equal(ev[0].type, "registered_model.created");
    assert_string_equal(ev[2].type, "model_version.created");
    assert_int_equal(ev[2].version, 1);
    assert_string_equal(ev[3].type, "alias.moved");
    assert_string_equal(ev[3].alias, "champion");
    assert_string_equal(ev[3].user_id, "bob");
    assert_non_null(strstr(ev[3].payload, "\"to_version\":\"1\""));
    assert_int_equal(kiln_registry_last_event_id(f->reg), last);
    assert_int_equal(
        kiln_registry_events(f->reg, f->arena, ev[1].id, 0, NULL, NULL, &ev, &n, &last, &err),
        KILN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(kiln_registry_events(f->reg, f->arena, 0, 0,
                                          "alias.moved,"
                                          "registered_model.created",
                                          "a", &ev, &n, &last, &err),
                     KILN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(kiln_registry_events(f->reg, f->arena, 0, 1, NULL, NULL, &ev, &n, &last, &err),
                     KILN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(
        kiln_registry_events(f->reg, f->arena, 0, 0, "alias.movd", NULL, &ev, &n, &last, &err),
        KILN_EINVAL);
    assert_string_equal(err.msg, "unknown event type 'alias.movd'");
    assert_int_equal(
        kiln_registry_events(f->reg, f->arena, -1, 0, NULL, NULL, &ev, &n, &last, &err),
        KILN_EINVAL);
}

struct woken {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count;
};

static void wake_cb(void *arg)
{
    struct woken *w = arg;
    pthread_mutex_lock(&w->lock);
    w->count++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static int wait_woken(struct woken *w, int want)
{
    int got;
    int64_t deadline = kiln_mono_ns() / 1000000 + 5000;
    pthread_mutex_lock(&w->lock);
    while (w->count < want && kiln_mono_ns() / 1000000 < deadline) {
        pthread_mutex_unlock(&w->lock);
        kiln_sleep_ms(5);
        pthread_mutex_lock(&w->lock);
    }
    got = w->count;
    pthread_mutex_unlock(&w->lock);
    return got;
}

static void test_watches(void **state)
{
    struct fx *f = *state;
    struct woken w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    struct kiln_err err = { 0 };
    int64_t now, last, t0;

    assert_int_equal(kiln_registry_start(f->reg, &err), KILN_OK);
    fx_model(f, "a");
    last = kiln_registry_last_event_id(f->reg);
    now = kiln_mono_ns() / 1000000;
    /* Something newer exists, or the deadline passed: answered at once, no callback. */
    assert_int_equal(kiln_registry_watch(f->reg, last - 1, now + 60000, wake_cb, &w),
                     KILN_WATCH_READY);
    assert_int_equal(kiln_registry_watch(f->reg, last, now - 1, wake_cb, &w), KILN_WATCH_READY);
    /* A publish wakes a watch exactly once. */
    assert_int_equal(kiln_registry_watch(f->reg, last, now + 60000, wake_cb, &w), KILN_OK);
    fx_model(f, "b");
    assert_int_equal(wait_woken(&w, 1), 1);
    kiln_sleep_ms(50);
    assert_int_equal(w.count, 1);
    /* A deadline wakes it (the timer thread). */
    last = kiln_registry_last_event_id(f->reg);
    t0 = kiln_mono_ns() / 1000000;
    assert_int_equal(kiln_registry_watch(f->reg, last, t0 + 150, wake_cb, &w), KILN_OK);
    assert_int_equal(wait_woken(&w, 2), 2);
    assert_true(kiln_mono_ns() / 1000000 - t0 >= 150);
    /* Blocking wait returns the newest id. */
    assert_int_equal(kiln_registry_wait(f->reg, last, 20), last);
    assert_int_equal(kiln_registry_wait(f->reg, last - 1, 5000), last);
    /* Stop fires what is pending; later watches are answered at once. */
    assert_int_equal(kiln_registry_watch(f->reg, last, t0 + 600000, wake_cb, &w), KILN_OK);
    kiln_registry_stop(f->reg);
    assert_int_equal(wait_woken(&w, 3), 3);
    assert_true(kiln_registry_stopping(f->reg));
    assert_int_equal(kiln_registry_watch(f->reg, last, t0 + 600000, wake_cb, &w), KILN_WATCH_READY);
}

static void test_webhook_validation(void **state)
{
    struct fx *f = *state;
    struct kiln_err err = { 0 };
    int64_t id;
    assert_int_equal(kiln_webhook_create(f->reg, "ftp://x/y", "*", NULL, &id, &err), KILN_EINVAL);
    assert_int_equal(kiln_webhook_create(f->reg, "", "*", NULL, &id, &err), KILN_EINVAL);
    assert_int_equal(kiln_webhook_create(f->reg, "http://h/x", "alias.moved,nope", NULL, &id, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_webhook_create(f->reg, "http://h/x", "alias.moved", "d", &id, &err),
                     KILN_OK);
    assert_int_equal(kiln_webhook_delete(f->reg, id, &err), KILN_OK);
    assert_int_equal(kiln_webhook_delete(f->reg, id, &err), KILN_ENOENT);
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM webhooks"), 0);
}

static void test_webhook_delivery(void **state)
{
    struct fx *f = *state;
    struct kiln_registry_config cfg = { 3, 60, 1000, 2000 };
    struct receiver r;
    struct kiln_webhook_delivery *d;
    struct kiln_err err = { 0 };
    json_t *doc;
    int64_t id, only_alias;
    size_t n;

    receiver_start(&r);
    kiln_registry_free(f->reg);
    assert_int_equal(kiln_registry_new(f->store, &cfg, &f->reg, &err), KILN_OK);
    assert_int_equal(kiln_webhook_create(f->reg, r.url, "*", "all", &id, &err), KILN_OK);
    assert_int_equal(
        kiln_webhook_create(f->reg, r.url, "alias.moved", "aliases", &only_alias, &err), KILN_OK);
    assert_int_equal(kiln_registry_start(f->reg, &err), KILN_OK);
    fx_model(f, "a");
    fx_version(f, "a", "mlflow-artifacts:/x", NULL);
    assert_int_equal(kiln_alias_set(f->reg, "a", "prod", 1, "bob", &err), KILN_OK);
    wait_counts(f, 3, 0);
    /* 3 events to the first webhook, 1 to the second (up to 10 s, as wait_counts: under
     * valgrind on a loaded machine the second delivery took over a second). */
    for (int i = 0; i < 1000 && received(&r) < 4; i++)
        kiln_sleep_ms(10);
    assert_int_equal(received(&r), 4);
    /* The receiver keeps a body before the deliverer records it: wait for the record too. */
    for (int i = 0; i < 1000 && fx_int(f, DELIVERED) < 4; i++)
        kiln_sleep_ms(10);
    assert_int_equal(fx_int(f, DELIVERED), 4);
    pthread_mutex_lock(&r.lock);
    for (int i = 0; i < r.n; i++) {
        doc = json_loads(r.bodies[i], 0, NULL);
        assert_non_null(doc);
        if (strcmp(json_string_value(json_object_get(doc, "type")), "alias.moved") == 0) {
            assert_string_equal(json_string_value(json_object_get(doc, "model")), "a");
            assert_string_equal(json_string_value(json_object_get(doc, "alias")), "prod");
            assert_string_equal(json_string_value(json_object_get(doc, "user")), "bob");
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(doc, "data"), "to_version")),
                "1");
        }
        assert_true(json_integer_value(json_object_get(doc, "id")) > 0);
        json_decref(doc);
    }
    pthread_mutex_unlock(&r.lock);

    /* A failing receiver: retried with doubling backoff, then given up after 3 attempts. */
    atomic_store(&r.status, 500);
    {
        int before = received(&r);
        struct kiln_mv_create_args a = { .name = "a", .source = "mlflow-artifacts:/y" };
        struct kiln_model_version *v;
        assert_int_equal(kiln_mv_create(f->reg, f->arena, &a, &v, &err), KILN_OK);
        wait_counts(f, 3, 1);
        assert_int_equal(received(&r), before + 3);
        pthread_mutex_lock(&r.lock);
        assert_true(r.at_ms[before + 1] - r.at_ms[before] >= 55);
        assert_true(r.at_ms[before + 2] - r.at_ms[before + 1] >= 115);
        pthread_mutex_unlock(&r.lock);
    }
    assert_int_equal(kiln_webhook_deliveries(f->reg, f->arena, id, 0, &d, &n, &err), KILN_OK);
    assert_int_equal(n, 4);
    assert_string_equal(d[0].state, "failed");
    assert_int_equal(d[0].attempts, 3);
    assert_int_equal(d[0].last_status, 500);
    assert_string_equal(d[0].last_error, "HTTP 500");

    /* Deliveries are durable: recorded while no thread runs, delivered after a restart. */
    kiln_registry_free(f->reg);
    assert_int_equal(kiln_registry_new(f->store, &cfg, &f->reg, &err), KILN_OK);
    atomic_store(&r.status, 204);
    fx_model(f, "later");
    assert_int_equal(fx_int(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'"),
                     1);
    kiln_registry_free(f->reg);
    assert_int_equal(kiln_registry_new(f->store, &cfg, &f->reg, &err), KILN_OK);
    assert_int_equal(kiln_registry_start(f->reg, &err), KILN_OK);
    wait_counts(f, 4, 1);
    kiln_registry_stop(f->reg);
    receiver_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_event_log, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_validation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_delivery, fx_setup, fx_teardown),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    kiln_http_client_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Versions of a served model under concurrency: threads take references and predict while
 * the owner reloads (swaps) the model again and again; every prediction must succeed on a
 * live version, every superseded version must be freed exactly once (ASan/valgrind catch a
 * use after free or a leak), and the server must start, reload, stop and free cleanly. */
#include "kiln_test.h"

#include <pthread.h>
#include <sched.h>

#include "core/fs.h"
#include "serve/serve.h"
#include "serve/serve_int.h"

static const char MLMODEL[] = "flavors:\n  kiln:\n    data: model.json\n    format_version: 1\n";
static const char MODEL[] =
    "{\"format\":\"kiln-model\",\"format_version\":1,\"task\":\"regression\","
    "\"inputs\":[{\"name\":\"x\",\"type\":\"double\"},{\"name\":\"y\",\"type\":\"double\"}],"
    "\"model\":{\"type\":\"linear\",\"n_features\":2,\"n_outputs\":1,\"link\":\"identity\","
    "\"coef\":[[2,3]],\"intercept\":[1]}}";

#define ROUNDS 40
#define THREADS 3

struct worker {
    struct slot *sl;
    atomic_int *stop;
    atomic_long ok, bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(w->stop)) {
        struct served *v = slot_acquire(w->sl);
        struct kiln_rt_ws *ws;
        double x[4] = { 1, 1, 2, 0 }, out[2];
        struct kiln_rt_out o = { NULL, NULL, out };
        struct kiln_err err = { 0 };
        if (v == NULL) {
            atomic_fetch_add(&w->bad, 1);
            continue;
        }
        ws = served_ws_get(v);
        if (ws != NULL && kiln_rt_predict(v->model, ws, x, 2, &o, &err) == KILN_OK &&
            out[0] == 6.0 && out[1] == 5.0)
            atomic_fetch_add(&w->ok, 1);
        else
            atomic_fetch_add(&w->bad, 1);
        served_ws_put(v, ws);
        served_count(v, P_MLFLOW, 200, 0);
        served_observe(v, &o, 2);
        served_release(v);
    }
    return NULL;
}

static void test_reload_under_concurrent_use(void **state)
{
    char dir[256], path[300];
    struct kiln_serve_config cfg;
    struct kiln_serve *s = NULL;
    struct kiln_err err = { 0 };
    struct worker w[THREADS];
    pthread_t t[THREADS];
    atomic_int stop;
    struct served *v;
    (void)state;

    assert_non_null(kiln_test_tmpdir(dir, sizeof(dir)));
    snprintf(path, sizeof(path), "%s/MLmodel", dir);
    assert_int_equal(kiln_write_file_atomic(path, MLMODEL, strlen(MLMODEL), &err), KILN_OK);
    snprintf(path, sizeof(path), "%s/model.json", dir);
    assert_int_equal(kiln_write_file_atomic(path, MODEL, strlen(MODEL), &err), KILN_OK);

    memset(&cfg, 0, sizeof(cfg));
    cfg.port = 0;
    cfg.workers = 1;
    assert_int_equal(kiln_serve_new(&cfg, &s, &err), KILN_OK);
    assert_int_equal(kiln_serve_add_model(s, dir, "lin", &err), KILN_OK);
    assert_int_equal(kiln_serve_add_model(s, dir, "lin", &err), KILN_EINVAL);
    assert_int_equal(kiln_serve_start(s, &err), KILN_OK);
    assert_true(kiln_serve_port(s) > 0);

    atomic_init(&stop, 0);
    for (int i = 0; i < THREADS; i++) {
        w[i].sl = s->slots[0];
        w[i].stop = &stop;
        atomic_init(&w[i].ok, 0);
        atomic_init(&w[i].bad, 0);
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    /* Reload while every worker keeps predicting (each must get some work done). */
    for (int r = 0; r < ROUNDS; r++) {
        assert_int_equal(kiln_serve_reload(s, &err), KILN_OK);
        for (int i = 0; i < THREADS; i++)
            while (atomic_load(&w[i].ok) < 5 * (r + 1))
                sched_yield();
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(atomic_load(&w[i].bad), 0);
        assert_true(atomic_load(&w[i].ok) >= 5 * ROUNDS);
    }
    v = slot_acquire(s->slots[0]);
    assert_string_equal(v->version, "41");
    assert_int_equal(atomic_load(&v->refs), 2); /* the slot's and ours */
    served_release(v);

    /* A reload that fails keeps the current version. */
    assert_int_equal(kiln_write_file_atomic(path, "{", 1, &err), KILN_OK);
    assert_int_not_equal(kiln_serve_reload(s, &err), KILN_OK);
    assert_non_null(strstr(err.msg, "model 'lin'"));
    v = slot_acquire(s->slots[0]);
    assert_string_equal(v->version, "41");
    served_release(v);

    kiln_serve_stop(s, 1000);
    kiln_serve_free(s);
    assert_int_equal(kiln_remove_tree(dir, &err), KILN_OK);
}

static void test_bad_configuration(void **state)
{
    struct kiln_serve_config cfg;
    struct kiln_serve *s = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(kiln_serve_new(&cfg, &s, &err), KILN_OK);
    assert_int_equal(kiln_serve_add_model(s, "models:/m@prod", NULL, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "tracking server"));
    assert_int_equal(kiln_serve_add_model(s, "/tmp/x", "a?b", &err), KILN_EINVAL);
    assert_int_equal(kiln_serve_start(s, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "no model"));
    kiln_serve_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_under_concurrent_use),
        cmocka_unit_test(test_bad_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

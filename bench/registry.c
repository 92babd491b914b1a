/*
 * registry.c - benchmark of the model registry (issue 3's numbers).
 *
 *   bench_registry KILN_BIN [--models N] [--versions V] [--out results.json]
 *
 * 1. Populates a fresh store in a temporary folder through the registry library (the same
 *    code the server runs): N registered models (default 10,000) with V versions each
 *    (default 10), a team tag per model, aliases production and staging, and on every 100th
 *    model a promotion policy with gates plus evaluations of its last two versions.
 * 2. Measures alias resolution in process (kiln_registry_resolve of models:/NAME@production).
 * 3. Starts the real `kiln server` on that store and measures over HTTP, one client on one
 *    keep-alive connection, exactly as the MLflow client calls: get-by-alias, kiln's resolve,
 *    search-model-versions (by name, by run id, first page of everything), search-registered-
 *    models (name prefix, tag), and promotion latency without and with gates.
 * Prints p50/p99 per measure and writes them as JSON. A benchmark program, never a test.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/fs.h"
#include "core/mem.h"
#include "registry/registry.h"
#include "store/migrations/migrations.h"
#include "store/store.h"
#include "tracking/tracking.h"

static int g_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stat_ms {
    const char *name;
    double p50, p99, mean;
    long n, errors;
};

static struct stat_ms stats[32];
static int nstats;

static void record(const char *name, double *ms, long n, long errors)
{
    struct stat_ms *s = &stats[nstats++];
    double sum = 0;
    qsort(ms, (size_t)n, sizeof(double), cmp_double);
    for (long i = 0; i < n; i++)
        sum += ms[i];
    s->name = name;
    s->n = n;
    s->errors = errors;
    s->p50 = n > 0 ? ms[n / 2] : 0;
    s->p99 = n > 0 ? ms[(long)((double)n * 0.99) < n ? (long)((double)n * 0.99) : n - 1] : 0;
    s->mean = n > 0 ? sum / (double)n : 0;
    printf("  %-58s p50 %8.3f ms  p99 %8.3f ms  (%ld requests, %ld errors)\n", name, s->p50,
           s->p99, n, errors);
    fflush(stdout);
}

static const char policy[] = "environments:\n"
                             "  dev: {}\n"
                             "  staging:\n"
                             "    dataset: holdout\n"
                             "    metrics: [\"roc_auc >= 0.5\", \"log_loss <= 1\"]\n"
                             "    compare:\n"
                             "      - {metric: roc_auc, greater_is_better: true, "
                             "min_absolute_change: 0}\n"
                             "    pr_regression: {tolerance: 0.5, per_class: true}\n"
                             "  canary: {}\n"
                             "  production: {}\n";

static void die(const char *what, const struct kiln_err *err)
{
    fprintf(stderr, "bench_registry: %s: %s\n", what, err->msg);
    exit(1);
}

static void eval(struct kiln_registry *reg, const char *name, int64_t v, double auc)
{
    struct kiln_eval_metric m[] = { { "roc_auc", auc }, { "log_loss", 0.3 },
                                    { "precision", 0.8 }, { "recall", 0.7 } };
    struct kiln_eval_class c[] = { { "0", 0.9, 0.9, 900 }, { "1", 0.6, 0.5, 100 } };
    struct kiln_evaluation e = { 0 };
    struct kiln_err err = { 0 };
    int64_t id;
    e.name = name;
    e.version = v;
    e.dataset_name = "holdout";
    e.dataset_digest = "d41d8cd9";
    e.metrics = m;
    e.nmetrics = 4;
    e.classes = c;
    e.nclasses = 2;
    if (kiln_eval_create(reg, &e, "bench", &id, NULL, &err) != KILN_OK)
        die("evaluation", &err);
}

/* Fills the store; returns seconds taken. */
static double populate(const char *uri, int models, int versions)
{
    struct kiln_store *store;
    struct kiln_registry *reg;
    struct kiln_err err = { 0 };
    double t0 = now_s();
    if (kiln_store_open(uri, kiln_schema_all, 4, &store, &err) != KILN_OK ||
        kiln_tracking_init(store, "mlflow-artifacts:/", &err) != KILN_OK ||
        kiln_registry_new(store, NULL, &reg, &err) != KILN_OK)
        die("open", &err);
    for (int i = 0; i < models; i++) {
        char name[32], team[16], src[128], run[32];
        struct kiln_kv tag = { "team", team };
        struct kiln_promotion p;
        struct kiln_arena *a = kiln_arena_new(0);
        snprintf(name, sizeof(name), "model-%05d", i);
        snprintf(team, sizeof(team), "t%d", i % 10);
        if (kiln_rm_create(reg, a, name, &tag, 1, NULL, "bench", NULL, &err) != KILN_OK)
            die("create model", &err);
        for (int v = 1; v <= versions; v++) {
            struct kiln_mv_create_args args = { 0 };
            snprintf(run, sizeof(run), "run-%05d-%02d", i, v);
            snprintf(src, sizeof(src), "mlflow-artifacts:/0/%s/artifacts/model", run);
            args.name = name;
            args.source = src;
            args.run_id = run;
            args.user = "bench";
            if (kiln_mv_create(reg, a, &args, NULL, &err) != KILN_OK)
                die("create version", &err);
        }
        if (i % 100 == 0) {
            if (kiln_policy_set(reg, name, policy, strlen(policy), "bench", &err) != KILN_OK)
                die("policy", &err);
            eval(reg, name, versions - 1, 0.90);
            eval(reg, name, versions, 0.90);
            for (int64_t v = versions - 1; v <= versions; v++)
                if (kiln_promote(reg, a, name, v, "dev", NULL, "bench", -1, &p, &err) != KILN_OK)
                    die("promote to dev", &err);
            if (kiln_promote(reg, a, name, versions, "staging", NULL, "bench", -1, &p, &err) !=
                KILN_OK)
                die("promote to staging", &err);
        } else {
            if (kiln_alias_set(reg, name, "production", versions, "bench", &err) != KILN_OK ||
                kiln_alias_set(reg, name, "staging", versions - 1, "bench", &err) != KILN_OK)
                die("alias", &err);
        }
        kiln_arena_free(a);
        if (i % 1000 == 999) {
            printf("  populated %d models\r", i + 1);
            fflush(stdout);
        }
    }
    kiln_registry_free(reg);
    kiln_store_close(store);
    return now_s() - t0;
}

/* In-process resolution of models:/NAME@production (what serve/pipelines call). */
static void bench_resolve_inproc(const char *uri, int models)
{
    struct kiln_store *store;
    struct kiln_registry *reg;
    struct kiln_err err = { 0 };
    enum { N = 20000 };
    static double ms[N];
    long errors = 0;
    if (kiln_store_open(uri, kiln_schema_all, 4, &store, &err) != KILN_OK ||
        kiln_registry_new(store, NULL, &reg, &err) != KILN_OK)
        die("open", &err);
    for (long i = 0; i < N; i++) {
        struct kiln_arena *a = kiln_arena_new(0);
        struct kiln_resolved_model r;
        char u[64];
        double t0;
        int m = rand() % models;
        snprintf(u, sizeof(u), "models:/model-%05d@%s", m, m % 100 == 0 ? "staging" : "production");
        t0 = now_s();
        if (kiln_registry_resolve(reg, a, u, &r, &err) != KILN_OK)
            errors++;
        ms[i] = (now_s() - t0) * 1e3;
        kiln_arena_free(a);
    }
    record("resolve models:/NAME@production (in process)", ms, N, errors);
    kiln_registry_free(reg);
    kiln_store_close(store);
}

struct sink {
    char *buf;
    size_t len;
};

static size_t sink_write(char *p, size_t sz, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t add = sz * n;
    char *nb = realloc(s->buf, s->len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + s->len, p, add);
    s->buf = nb;
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static long call(CURL *h, const char *method, const char *path, const char *body)
{
    char url[2048];
    struct sink s = { NULL, 0 };
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    long code = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (body == NULL)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    free(s.buf);
    return code;
}

typedef void (*make_fn)(long i, int models, char *path, size_t psize, char *body, size_t bsize);

static void bench_http(CURL *h, const char *name, const char *method, long n, int models,
                       make_fn make, long ok_status)
{
    double *ms = malloc((size_t)n * sizeof(double));
    char path[1024], body[1024];
    long errors = 0;
    for (long i = 0; i < n; i++) {
        double t0;
        make(i, models, path, sizeof(path), body, sizeof(body));
        t0 = now_s();
        if (call(h, method, path, strcmp(method, "GET") == 0 ? NULL : body) != ok_status)
            errors++;
        ms[i] = (now_s() - t0) * 1e3;
    }
    record(name, ms, n, errors);
    free(ms);
}

static int pick(int models)
{
    int m;
    do
        m = rand() % models;
    while (m % 100 == 0);
    return m;
}

static void mk_alias(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)b;
    (void)bs;
    snprintf(p, ps, "/api/2.0/mlflow/registered-models/alias?name=model-%05d&alias=production",
             pick(models));
}

static void mk_resolve(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)b;
    (void)bs;
    snprintf(p, ps, "/api/kiln/v1/models/resolve?uri=models%%3A%%2Fmodel-%05d%%40production",
             pick(models));
}

static void mk_mv_name(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)b;
    (void)bs;
    snprintf(p, ps, "/api/2.0/mlflow/model-versions/search?filter=name%%3D%%27model-%05d%%27",
             rand() % models);
}

static void mk_mv_run(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)b;
    (void)bs;
    snprintf(p, ps,
             "/api/2.0/mlflow/model-versions/search?filter=run_id%%3D%%27run-%05d-%02d%%27",
             rand() % models, 1 + rand() % 10);
}

static void mk_mv_all(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)models;
    (void)b;
    (void)bs;
    snprintf(p, ps, "/api/2.0/mlflow/model-versions/search?max_results=100");
}

static void mk_rm_prefix(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)b;
    (void)bs;
    snprintf(p, ps,
             "/api/2.0/mlflow/registered-models/search?filter=name%%20LIKE%%20%%27model-%03d%%25"
             "%%27&max_results=100",
             rand() % (models / 100 > 0 ? models / 100 : 1));
}

static void mk_rm_tag(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    (void)i;
    (void)models;
    (void)b;
    (void)bs;
    snprintf(p, ps,
             "/api/2.0/mlflow/registered-models/search?filter=tags.team%%20%%3D%%20%%27t%d%%27"
             "&max_results=100",
             rand() % 10);
}

static int g_versions;

static void mk_promote(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    /* Two versions of one model into dev, then the next model: every request moves dev. */
    int m = 1 + (int)((i / 2) % (models - 1));
    if (m % 100 == 0)
        m++;
    snprintf(p, ps, "/api/kiln/v1/models/promote");
    snprintf(b, bs, "{\"name\":\"model-%05d\",\"version\":\"%ld\",\"environment\":\"dev\"}", m,
             1 + i % 2);
}

static void mk_promote_gated(long i, int models, char *p, size_t ps, char *b, size_t bs)
{
    /* The gated models (every 100th) alternate their last two versions in staging. */
    long nm = models / 100 > 0 ? models / 100 : 1;
    long visit = i / nm;
    snprintf(p, ps, "/api/kiln/v1/models/promote");
    snprintf(b, bs,
             "{\"name\":\"model-%05ld\",\"version\":\"%ld\",\"environment\":\"staging\"}",
             (i % nm) * 100, visit % 2 == 0 ? (long)g_versions - 1 : (long)g_versions);
}

int main(int argc, char **argv)
{
    const char *bin, *out_path = "bench/results/registry.json";
    int models = 10000, versions = 10, keep = 0;
    char dir[] = "/tmp/kiln-bench-registry-XXXXXX", uri[600], store_arg[600], art[600];
    char port[16];
    double pop_s;
    pid_t pid;
    CURL *h;
    FILE *f;

    if (argc < 2) {
        fprintf(stderr, "usage: bench_registry KILN_BIN [--models N] [--versions V] "
                        "[--out FILE] [--keep]\n");
        return 2;
    }
    bin = argv[1];
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
            i--;
            continue;
        }
        if (i + 1 >= argc)
            break;
        if (strcmp(argv[i], "--models") == 0)
            models = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--versions") == 0)
            versions = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--out") == 0)
            out_path = argv[i + 1];
    }
    if (models < 2 || versions < 2)
        return 2;
    g_versions = versions;
    srand(42);
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", dir);

    printf("registry benchmark: %d models x %d versions\n", models, versions);
    pop_s = populate(uri, models, versions);
    printf("  populated in %.1f s (%.0f versions/s through the library)\n", pop_s,
           (double)models * versions / pop_s);
    bench_resolve_inproc(uri, models);

    g_port = 20000 + (int)(getpid() % 20000);
    snprintf(port, sizeof(port), "%d", g_port);
    snprintf(store_arg, sizeof(store_arg), "%s", uri);
    snprintf(art, sizeof(art), "%s/artifacts", dir);
    pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        execl(bin, bin, "server", "--port", port, "--backend-store-uri", store_arg,
              "--artifacts-destination", art, (char *)NULL);
        _exit(127);
    }
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    for (double t0 = now_s(); call(h, "GET", "/health", NULL) != 200; usleep(2000))
        if (now_s() - t0 > 30) {
            fprintf(stderr, "server did not start\n");
            kill(pid, SIGTERM);
            return 1;
        }
    bench_http(h, "GET registered-models/alias (get-by-alias)", "GET", 5000, models, mk_alias,
               200);
    bench_http(h, "GET /api/kiln/v1/models/resolve (models:/NAME@production)", "GET", 5000,
               models, mk_resolve, 200);
    bench_http(h, "GET model-versions/search name = 'X' (10 results)", "GET", 2000, models,
               mk_mv_name, 200);
    bench_http(h, "GET model-versions/search run_id = 'X' (1 result)", "GET", 2000, models,
               mk_mv_run, 200);
    bench_http(h, "GET model-versions/search first 100 of all (default order)", "GET", 200,
               models, mk_mv_all, 200);
    bench_http(h, "GET registered-models/search name LIKE 'model-NNN%' (100)", "GET", 500,
               models, mk_rm_prefix, 200);
    bench_http(h, "GET registered-models/search tags.team = 'tN' (first 100)", "GET", 200,
               models, mk_rm_tag, 200);
    bench_http(h, "POST models/promote, no gates (alias move + audit + event)", "POST", 2000,
               models, mk_promote, 200);
    bench_http(h, "POST models/promote, gated (order, 2 thresholds, compare, PR x6)", "POST", 1000,
               models, mk_promote_gated, 200);
    curl_easy_cleanup(h);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    f = fopen(out_path, "a");
    if (f != NULL) {
        fprintf(f, "{\"bench\":\"registry\",\"time\":%ld,\"models\":%d,\"versions\":%d,"
                   "\"populate_s\":%.3f,\"results\":[",
                (long)time(NULL), models, versions, pop_s);
        for (int i = 0; i < nstats; i++)
            fprintf(f, "%s{\"name\":\"%s\",\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"n\":%ld,"
                       "\"errors\":%ld}",
                    i ? "," : "", stats[i].name, stats[i].p50, stats[i].p99, stats[i].n,
                    stats[i].errors);
        fprintf(f, "]}\n");
        fclose(f);
    }
    if (keep)
        printf("store kept in %s\n", dir);
    else
        kiln_remove_tree(dir, NULL);
    curl_global_cleanup();
    return 0;
}

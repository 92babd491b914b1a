/*
 * tracking.c - benchmark of `kiln server` as a tracking server (issue 2's numbers).
 *
 *   bench_tracking KILN_BIN [--seconds S] [--runs N] [--out results.json] [--quick] [--rate R]
 *
 * Starts the real binary on a free port with a fresh store in a temporary folder, then
 * measures, through HTTP exactly as the MLflow client calls it:
 *   - start-up time (exec to the first 200 on /health) and idle RSS;
 *   - log-batch (10 metrics, 5 params) and log-metric throughput with p50/p99 latency at 1, 8
 *     and 32 concurrent clients (closed loop: the maximum), and log-batch from 8 clients at
 *     the target's 5,000 requests per second (open loop: latency from each due time) (each client
 * logs to its own run, keep-alive connections of loadgen.c driven by one poll() loop);
 *   - runs/search latency over N runs (default 100,000) with a metric filter and order_by.
 * Prints a table and writes the figures as JSON. A benchmark program, never a test.
 * --quick measures only the log-batch target (8 clients, closed and open loop) and writes
 * nothing: the quick A/B loop for work on the write path; --rate R sets the open loop's rate
 * (default 5,000 req/s, the target). Server CPU and bytes written per request are printed
 * too: on a noisy machine they compare two builds better than throughput does. The server's
 * log goes to $KILN_BENCH_SERVER_LOG when set.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define MAX_CLIENTS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int g_port;

/* One blocking JSON request; returns the HTTP status and the body in *out (malloc'd). */
static long call(CURL *h, const char *method, const char *path, const char *body, char **out)
{
    char url[512];
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
    if (out != NULL)
        *out = s.buf;
    else
        free(s.buf);
    return code;
}

/* Extracts the value of "key":"value" from a JSON text (enough for run ids). */
static int json_str(const char *json, const char *key, char *out, size_t size)
{
    char pat[64];
    const char *p, *e;
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = json != NULL ? strstr(json, pat) : NULL;
    if (p == NULL)
        return -1;
    p += strlen(pat);
    e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= size)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

static pid_t start_server(const char *bin, const char *dir, double *startup_s)
{
    char port[16], store[600], art[600];
    double t0 = now_s();
    pid_t pid;
    CURL *h = curl_easy_init();

    snprintf(port, sizeof(port), "%d", g_port);
    snprintf(store, sizeof(store), "sqlite:///%s/kiln.db", dir);
    snprintf(art, sizeof(art), "%s/artifacts", dir);
    pid = fork();
    if (pid == 0) {
        /* The server's log goes to $KILN_BENCH_SERVER_LOG when set (to study stalls). */
        const char *log = getenv("KILN_BENCH_SERVER_LOG");
        int fd = open(log != NULL ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(bin, bin, "server", "--port", port, "--backend-store-uri", store,
              "--artifacts-destination", art, (char *)NULL);
        _exit(127);
    }
    for (;;) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 200L);
        if (call(h, "GET", "/health", NULL, NULL) == 200)
            break;
        if (now_s() - t0 > 20) {
            fprintf(stderr, "server did not start\n");
            exit(1);
        }
        usleep(1000);
    }
    *startup_s = now_s() - t0;
    curl_easy_cleanup(h);
    return pid;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU seconds (user + system, all threads) the process has used so far. */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    p = fgets(buf, sizeof(buf), f) != NULL ? strrchr(buf, ')') : NULL;
    fclose(f);
    /* After the command name: state, then 10 fields, then utime and stime. */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Stops the server and removes its temporary store (hundreds of MB after a full run). */
static void stop_server(pid_t pid, const char *dir)
{
    char cmd[128];
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Bytes the process has passed to write()-like calls so far (WAL, database and sockets). */
static double wchar_bytes(pid_t pid)
{
    char path[64], line[128];
    double v = 0;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "wchar: %lf", &v) == 1)
            break;
    fclose(f);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct result {
    double rps, p50_ms, p99_ms;
    double cpu_us, wkb; /* server CPU and bytes written (KiB) per request */
    double client_us;   /* the load generator's own CPU per request */
    long errors, n;
};

struct client {
    struct lg_conn conn;
    char run_id[64];
    char body[4096];
    double started;
    long seq;
    int busy;
};

static void build_body(struct client *c, int batch)
{
    long s = c->seq++;
    long long ts = (long long)time(NULL) * 1000 + s;
    if (!batch) {
        snprintf(c->body, sizeof(c->body),
                 "{\"run_id\":\"%s\",\"key\":\"loss\",\"value\":%.6f,\"timestamp\":%lld,"
                 "\"step\":%ld}",
                 c->run_id, 1.0 / (double)(s + 1), ts, s);
        return;
    }
    int n = snprintf(c->body, sizeof(c->body), "{\"run_id\":\"%s\",\"metrics\":[", c->run_id);
    for (int i = 0; i < 10; i++)
        n += snprintf(c->body + n, sizeof(c->body) - (size_t)n,
                      "%s{\"key\":\"m%d\",\"value\":%.6f,\"timestamp\":%lld,\"step\":%ld}",
                      i ? "," : "", i, (double)i / (double)(s + 1), ts, s);
    n += snprintf(c->body + n, sizeof(c->body) - (size_t)n, "],\"params\":[");
    /* Params are write-once: each batch uses fresh keys so every request does real work. */
    for (int i = 0; i < 5; i++)
        n += snprintf(c->body + n, sizeof(c->body) - (size_t)n,
                      "%s{\"key\":\"p%ld_%d\",\"value\":\"v%d\"}", i ? "," : "", s, i, i);
    snprintf(c->body + n, sizeof(c->body) - (size_t)n, "],\"tags\":[]}");
}

/* Sends the client's next request; its latency counts from `due`. */
static int arm(struct client *c, int batch, double due)
{
    build_body(c, batch);
    c->started = due;
    c->busy = 1;
    return lg_post(&c->conn,
                   batch ? "/api/2.0/mlflow/runs/log-batch" : "/api/2.0/mlflow/runs/log-metric",
                   c->body, strlen(c->body));
}

/*
 * Closed loop (rate 0): every client sends its next request as soon as the previous one is
 * answered (the maximum throughput). Open loop (rate > 0): request k is due at t0 + k / rate
 * and goes out on the first idle client at or after that time; its latency is counted from
 * the due time, so a server that falls behind is charged for the queueing it causes (no
 * coordinated omission). The clients are keep-alive connections of loadgen.c driven by one
 * poll() loop, which sleeps until the next due time (to the microsecond, with ppoll).
 */
static struct result load(int nclients, int batch, double seconds, const char *exp_id, double rate)
{
    struct client cl[MAX_CLIENTS];
    struct pollfd pfd[MAX_CLIENTS];
    CURL *h = curl_easy_init();
    size_t cap = 1 << 20, nlat = 0;
    double *lat = malloc(cap * sizeof(double)), t0, end;
    struct result r = { 0 };
    long next = 0; /* open loop: the next request to send */
    int busy = 0;

    for (int i = 0; i < nclients; i++) {
        char body[256], *out = NULL;
        memset(&cl[i], 0, sizeof(cl[i]));
        snprintf(body, sizeof(body), "{\"experiment_id\":\"%s\",\"start_time\":%lld}", exp_id,
                 (long long)time(NULL) * 1000);
        if (call(h, "POST", "/api/2.0/mlflow/runs/create", body, &out) != 200 ||
            json_str(out, "run_id", cl[i].run_id, sizeof(cl[i].run_id)) != 0 ||
            lg_connect(&cl[i].conn, g_port) != 0) {
            fprintf(stderr, "runs/create failed: %s\n", out != NULL ? out : "(no answer)");
            exit(1);
        }
        free(out);
    }
    curl_easy_cleanup(h);
    t0 = now_s();
    end = t0 + seconds;
    if (rate <= 0)
        for (int i = 0; i < nclients; i++)
            busy += arm(&cl[i], batch, now_s()) == 0;
    while (busy > 0 || (rate > 0 && now_s() < end)) {
        double now = now_s(), wait = 0.005;
        struct timespec ts;
        if (rate > 0) {
            for (int i = 0; i < nclients; i++) {
                double due = t0 + (double)next / rate;
                if (due > now || due >= end)
                    break;
                if (cl[i].busy)
                    continue;
                if (arm(&cl[i], batch, due) != 0)
                    r.errors++;
                busy++;
                next++;
                i = -1; /* look for another idle client for the next due request */
            }
            /* Sleep until the next due time; if it is already due, every client is busy:
             * sleep until one answers. */
            wait = t0 + (double)next / rate - now_s();
            wait = wait <= 0 ? 0.005 : wait > 0.005 ? 0.005 : wait;
        }
        for (int i = 0; i < nclients; i++) {
            pfd[i].fd = cl[i].busy ? cl[i].conn.fd : -1;
            pfd[i].events = lg_events(&cl[i].conn);
            pfd[i].revents = 0;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(wait * 1e9);
        if (ppoll(pfd, (nfds_t)nclients, &ts, NULL) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < nclients; i++) {
            struct client *c = &cl[i];
            int done;
            if (!c->busy || pfd[i].revents == 0)
                continue;
            done = lg_progress(&c->conn, pfd[i].revents);
            if (done == 0)
                continue;
            if (done < 0 || c->conn.status != 200)
                r.errors++;
            if (done < 0) { /* reconnect and go on */
                lg_close(&c->conn);
                if (lg_connect(&c->conn, g_port) != 0) {
                    fprintf(stderr, "cannot reconnect\n");
                    exit(1);
                }
            }
            if (nlat == cap) {
                cap *= 2;
                lat = realloc(lat, cap * sizeof(double));
            }
            lat[nlat++] = now_s() - c->started;
            c->busy = 0;
            busy--;
            if (rate <= 0 && now_s() < end && arm(c, batch, now_s()) == 0)
                busy++;
        }
    }
    r.n = (long)nlat;
    r.rps = (double)nlat / (now_s() - t0);
    qsort(lat, nlat, sizeof(double), cmp_double);
    if (nlat > 0) {
        r.p50_ms = lat[nlat / 2] * 1e3;
        r.p99_ms = lat[(size_t)((double)nlat * 0.99)] * 1e3;
    }
    for (int i = 0; i < nclients; i++)
        lg_close(&cl[i].conn);
    free(lat);
    return r;
}

/* load(), plus the server's CPU time and bytes written per request (pid: the server). */
static struct result measured_load(pid_t pid, int nclients, int batch, double seconds,
                                   const char *exp_id, double rate)
{
    double c0 = cpu_s(pid), w0 = wchar_bytes(pid), l0 = cpu_s(getpid());
    struct result r = load(nclients, batch, seconds, exp_id, rate);
    double n = r.n > 0 ? (double)r.n : 1;
    r.cpu_us = (cpu_s(pid) - c0) * 1e6 / n;
    r.client_us = (cpu_s(getpid()) - l0) * 1e6 / n;
    r.wkb = (wchar_bytes(pid) - w0) / 1024 / n;
    return r;
}

/* Creates n runs with one metric and one param each, 8 requests in flight. */
static void populate(int n, const char *exp_id)
{
    CURL *h = curl_easy_init();
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char body[512], run[64], *out = NULL;
        snprintf(body, sizeof(body), "{\"experiment_id\":\"%s\",\"start_time\":%d}", exp_id, i);
        if (call(h, "POST", "/api/2.0/mlflow/runs/create", body, &out) != 200 ||
            json_str(out, "run_id", run, sizeof(run)) != 0) {
            fprintf(stderr, "populate: runs/create failed\n");
            exit(1);
        }
        free(out);
        snprintf(body, sizeof(body),
                 "{\"run_id\":\"%s\",\"metrics\":[{\"key\":\"acc\",\"value\":%.6f,"
                 "\"timestamp\":1,\"step\":0}],\"params\":[{\"key\":\"lr\",\"value\":\"%d\"}]}",
                 run, (double)((i * 7919) % n) / n, i % 10);
        if (call(h, "POST", "/api/2.0/mlflow/runs/log-batch", body, NULL) != 200) {
            fprintf(stderr, "populate: log-batch failed\n");
            exit(1);
        }
        if (i % 10000 == 9999)
            fprintf(stderr, "  %d runs (%.0f/s)\n", i + 1, (i + 1) / (now_s() - t0));
    }
    curl_easy_cleanup(h);
}

static struct result search(const char *exp_id, int queries)
{
    CURL *h = curl_easy_init();
    double *lat = malloc((size_t)queries * sizeof(double));
    struct result r = { 0 };
    char body[512];
    snprintf(body, sizeof(body),
             "{\"experiment_ids\":[\"%s\"],\"filter\":\"metrics.acc > 0.5 and params.lr = '3'\","
             "\"order_by\":[\"metrics.acc DESC\"],\"max_results\":100}",
             exp_id);
    for (int i = 0; i < queries; i++) {
        double t = now_s();
        char *out = NULL;
        if (call(h, "POST", "/api/2.0/mlflow/runs/search", body, &out) != 200 ||
            strstr(out, "\"runs\"") == NULL)
            r.errors++;
        free(out);
        lat[i] = now_s() - t;
    }
    qsort(lat, (size_t)queries, sizeof(double), cmp_double);
    r.n = queries;
    r.p50_ms = lat[queries / 2] * 1e3;
    r.p99_ms = lat[(int)(queries * 0.99)] * 1e3;
    free(lat);
    curl_easy_cleanup(h);
    return r;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "build-release/kiln";
    const char *out_path = "bench/results/tracking.json";
    double seconds = 5, startup;
    int nruns = 100000, quick = 0;
    double rate = 5000;
    char dir[] = "/tmp/kiln-bench-XXXXXX", exp_id[32], *out = NULL;
    struct result res[2][3], sr, open_loop;
    const int conc[3] = { 1, 8, 32 };
    long idle_rss;
    pid_t pid;
    CURL *h;
    FILE *f;

    for (int i = 2; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
            continue;
        }
        if (val == NULL) {
            fprintf(stderr, "%s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(val);
        else if (strcmp(argv[i], "--runs") == 0)
            nruns = atoi(val);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = atof(val);
        else if (strcmp(argv[i], "--out") == 0)
            out_path = val;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    signal(SIGPIPE, SIG_IGN); /* a server that dies mid-request is an error, not our end */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(dir) == NULL)
        return 1;
    srand((unsigned)time(NULL));
    g_port = 20000 + rand() % 20000;
    pid = start_server(bin, dir, &startup);
    usleep(300000);
    idle_rss = rss_kb(pid);

    h = curl_easy_init();
    if (call(h, "POST", "/api/2.0/mlflow/experiments/create", "{\"name\":\"bench\"}", &out) !=
            200 ||
        json_str(out, "experiment_id", exp_id, sizeof(exp_id)) != 0) {
        fprintf(stderr, "experiments/create failed\n");
        return 1;
    }
    free(out);
    for (int b = 1; b >= 0; b--)
        for (int i = 0; i < 3; i++) {
            if (quick && (b == 0 || conc[i] != 8))
                continue;
            res[b][i] = measured_load(pid, conc[i], b, seconds, exp_id, 0);
            fprintf(stderr,
                    "%-10s %2d clients: %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  "
                    "server CPU %4.0f us/req (client %3.0f)  writes %5.1f KiB/req  errors %ld\n",
                    b ? "log-batch" : "log-metric", conc[i], res[b][i].rps, res[b][i].p50_ms,
                    res[b][i].p99_ms, res[b][i].cpu_us, res[b][i].client_us, res[b][i].wkb,
                    res[b][i].errors);
        }
    /* The target's load: 5,000 log-batch requests per second from 8 clients, open loop. */
    open_loop = measured_load(pid, 8, 1, seconds, exp_id, rate);
    fprintf(stderr,
            "log-batch   8 clients, open loop at %.0f req/s: %8.0f req/s  p50 %6.3f ms  "
            "p99 %6.3f ms  server CPU %4.0f us/req (client %3.0f)  writes %5.1f KiB/req  "
            "errors %ld\n",
            rate, open_loop.rps, open_loop.p50_ms, open_loop.p99_ms, open_loop.cpu_us,
            open_loop.client_us, open_loop.wkb, open_loop.errors);
    if (quick) {
        stop_server(pid, dir);
        return 0;
    }
    if (call(h, "POST", "/api/2.0/mlflow/experiments/create", "{\"name\":\"search\"}", &out) !=
            200 ||
        json_str(out, "experiment_id", exp_id, sizeof(exp_id)) != 0)
        return 1;
    free(out);
    fprintf(stderr, "populating %d runs...\n", nruns);
    populate(nruns, exp_id);
    sr = search(exp_id, 50);
    fprintf(stderr, "runs/search over %d runs: p50 %.1f ms  p99 %.1f ms  errors %ld\n", nruns,
            sr.p50_ms, sr.p99_ms, sr.errors);
    stop_server(pid, dir);
    curl_easy_cleanup(h);

    printf("| measure | result | target |\n|---|---|---|\n");
    printf("| start-up (exec to first /health 200) | %.1f ms | < 100 ms |\n", startup * 1e3);
    printf("| idle RSS | %.1f MB | < 20 MB |\n", (double)idle_rss / 1024);
    for (int b = 1; b >= 0; b--)
        for (int i = 0; i < 3; i++)
            printf("| %s, %d client%s | %.0f req/s, p50 %.2f ms, p99 %.2f ms | %s |\n",
                   b ? "log-batch (10 metrics, 5 params)" : "log-metric", conc[i],
                   conc[i] > 1 ? "s" : "", res[b][i].rps, res[b][i].p50_ms, res[b][i].p99_ms,
                   b && conc[i] == 8 ? "(maximum, closed loop)" : "");
    printf(
        "| log-batch, 8 clients, open loop at 5,000 req/s | %.0f req/s, p50 %.2f ms, p99 %.2f ms, "
        "%ld errors | >= 5,000 req/s, p99 < 5 ms |\n",
        open_loop.rps, open_loop.p50_ms, open_loop.p99_ms, open_loop.errors);
    printf("| runs/search, %d runs, metric filter + order_by | p50 %.1f ms, p99 %.1f ms | "
           "< 100 ms |\n",
           nruns, sr.p50_ms, sr.p99_ms);

    f = fopen(out_path, "a");
    if (f != NULL) {
        fprintf(f,
                "{\"bench\":\"tracking\",\"time\":%lld,\"startup_ms\":%.2f,\"idle_rss_kb\":%ld,"
                "\"log_batch\":[",
                (long long)time(NULL), startup * 1e3, idle_rss);
        for (int b = 1; b >= 0; b--) {
            for (int i = 0; i < 3; i++)
                fprintf(f, "%s{\"clients\":%d,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}",
                        i ? "," : "", conc[i], res[b][i].rps, res[b][i].p50_ms, res[b][i].p99_ms);
            fprintf(f, b ? "],\"log_metric\":[" : "],");
        }
        fprintf(f,
                "\"log_batch_open_loop_5000\":{\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f},"
                "\"search\":{\"runs\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f}}\n",
                open_loop.rps, open_loop.p50_ms, open_loop.p99_ms, nruns, sr.p50_ms, sr.p99_ms);
        fclose(f);
    }
    {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}

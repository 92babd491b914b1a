/*
 * artifacts.c - benchmark of kiln's artifact proxy (a program, never a test).
 *
 *   bench_artifacts KILN_BIN [--mib N] [--small N] [--out results.json]
 *
 * Starts the real binary on a free port with a fresh store and artifact folder, then measures
 * through HTTP exactly as the MLflow client calls it:
 *   - one large upload (PUT, streamed from a file) and download (GET to a file), in MiB/s,
 *     with the server's peak RSS (the proxy must never hold a file in memory);
 *   - N small (4 KiB) uploads on one keep-alive connection: files/s, p50/p99 latency;
 *   - listing a folder of N entries: p50/p99 latency.
 * Side by side, the same large file copied on the same disk with read/write + fsync (what a
 * proxy can at best approach). MLflow's own server is not installed here, so it is not run.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

static int g_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static size_t to_file(char *p, size_t sz, size_t n, void *ud)
{
    return fwrite(p, sz, n, ud) * sz;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    getsockname(s, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(s);
    return port;
}

static long hwm_kb(pid_t pid, const char *field)
{
    char path[64], line[256], fmt[64];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    snprintf(fmt, sizeof(fmt), "%s: %%ld kB", field);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, fmt, &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long request(CURL *h, const char *method, const char *path, FILE *upload, long size,
                    FILE *download)
{
    char url[600];
    long code = 0;
    curl_easy_reset(h);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (upload != NULL) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READDATA, upload);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, download != NULL ? to_file : discard);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, download);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static pid_t start_server(const char *bin, const char *dir)
{
    char port[16], store[600], art[600];
    double t0 = now_s();
    CURL *h = curl_easy_init();
    pid_t pid;

    snprintf(port, sizeof(port), "%d", g_port);
    snprintf(store, sizeof(store), "sqlite:///%s/kiln.db", dir);
    snprintf(art, sizeof(art), "%s/artifacts", dir);
    pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        execl(bin, bin, "server", "--port", port, "--backend-store-uri", store,
              "--artifacts-destination", art, (char *)NULL);
        _exit(127);
    }
    while (request(h, "GET", "/health", NULL, 0, NULL) != 200) {
        if (now_s() - t0 > 20) {
            fprintf(stderr, "server did not start\n");
            exit(1);
        }
        usleep(2000);
    }
    curl_easy_cleanup(h);
    return pid;
}

/* The baseline: copy src to dst with read/write and fsync (what the disk allows). */
static double copy_mibs(const char *src, const char *dst, long bytes)
{
    static char buf[1 << 20];
    double t0 = now_s();
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            break;
    fsync(out);
    close(in);
    close(out);
    return (double)bytes / (1 << 20) / (now_s() - t0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "build-release/kiln";
    const char *outpath = "bench/results/artifacts.json";
    long mib = 256, small = 500, bytes;
    char dir[] = "/tmp/kiln-bench-art-XXXXXX", src[128], dst[128], cp[128];
    double up, down, baseline, t0, *lat, small_rate, lp50, lp99;
    long rss0, peak;
    FILE *f;
    CURL *h;
    pid_t pid;
    static char small_buf[4096];

    memset(small_buf, 'x', sizeof(small_buf));
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mib") == 0)
            mib = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--small") == 0)
            small = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--out") == 0)
            outpath = argv[i + 1];
    }
    bytes = mib << 20;
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(src, sizeof(src), "%s/src.bin", dir);
    snprintf(dst, sizeof(dst), "%s/dst.bin", dir);
    snprintf(cp, sizeof(cp), "%s/copy.bin", dir);
    f = fopen(src, "wb");
    for (long i = 0; i < bytes / 8; i++) {
        uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        fwrite(&v, 8, 1, f);
    }
    fclose(f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_port = free_port();
    pid = start_server(bin, dir);
    h = curl_easy_init();
    rss0 = hwm_kb(pid, "VmRSS");

    f = fopen(src, "rb");
    t0 = now_s();
    if (request(h, "PUT", "/api/2.0/mlflow-artifacts/artifacts/0/bench/artifacts/big.bin", f, bytes,
                NULL) != 200)
        fprintf(stderr, "upload failed\n");
    up = (double)mib / (now_s() - t0);
    fclose(f);
    f = fopen(dst, "wb");
    t0 = now_s();
    if (request(h, "GET", "/api/2.0/mlflow-artifacts/artifacts/0/bench/artifacts/big.bin", NULL, 0,
                f) != 200)
        fprintf(stderr, "download failed\n");
    fflush(f);
    fsync(fileno(f));
    down = (double)mib / (now_s() - t0);
    fclose(f);
    peak = hwm_kb(pid, "VmHWM");
    baseline = copy_mibs(src, cp, bytes);

    lat = calloc((size_t)small, sizeof(*lat));
    t0 = now_s();
    for (long i = 0; i < small; i++) {
        double s = now_s();
        FILE *mem = fmemopen(small_buf, sizeof(small_buf), "rb");
        char p[200];
        snprintf(p, sizeof(p), "/api/2.0/mlflow-artifacts/artifacts/0/bench/small/f%05ld.txt", i);
        if (request(h, "PUT", p, mem, 4096, NULL) != 200)
            fprintf(stderr, "small upload failed\n");
        fclose(mem);
        lat[i] = now_s() - s;
    }
    small_rate = (double)small / (now_s() - t0);
    qsort(lat, (size_t)small, sizeof(*lat), cmp_double);
    printf("small uploads (4 KiB, 1 client): %.0f files/s, p50 %.2f ms, p99 %.2f ms\n", small_rate,
           lat[small / 2] * 1e3, lat[small * 99 / 100] * 1e3);
    {
        double sp50 = lat[small / 2], sp99 = lat[small * 99 / 100];
        for (long i = 0; i < 200; i++) {
            double s = now_s();
            request(h, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/bench/small", NULL, 0,
                    NULL);
            lat[i] = now_s() - s;
        }
        qsort(lat, 200, sizeof(*lat), cmp_double);
        lp50 = lat[100] * 1e3;
        lp99 = lat[198] * 1e3;
        printf("large file (%ld MiB): upload %.0f MiB/s, download %.0f MiB/s; "
               "disk copy + fsync %.0f MiB/s\n",
               mib, up, down, baseline);
        printf("server RSS: %ld kB idle, %ld kB peak during the large transfer\n", rss0, peak);
        printf("list a folder of %ld files: p50 %.2f ms, p99 %.2f ms\n", small, lp50, lp99);
        if (outpath != NULL && (f = fopen(outpath, "a")) != NULL) {
            fprintf(f,
                    "{\"bench\":\"artifacts\",\"time\":%ld,\"mib\":%ld,\"upload_mibs\":%.1f,"
                    "\"download_mibs\":%.1f,\"copy_fsync_mibs\":%.1f,\"rss_idle_kb\":%ld,"
                    "\"rss_peak_kb\":%ld,\"small_files_per_s\":%.1f,\"small_p50_ms\":%.3f,"
                    "\"small_p99_ms\":%.3f,\"list_p50_ms\":%.3f,\"list_p99_ms\":%.3f}\n",
                    (long)time(NULL), mib, up, down, baseline, rss0, peak, small_rate, sp50 * 1e3,
                    sp99 * 1e3, lp50, lp99);
            fclose(f);
        }
    }
    free(lat);
    curl_easy_cleanup(h);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    {
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    curl_global_cleanup();
    return 0;
}

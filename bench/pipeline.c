/*
 * pipeline.c - benchmark of kiln's pipeline scheduler (issue 6's numbers), through the real
 * `kiln pipeline run` on a fresh embedded store:
 *
 *   bench_pipeline KILN_BIN STAMP_BIN [--chain N] [--fan N] [--parallelism P] [--out F.json]
 *
 *   1. latency: a chain of N tasks (default 200), each running STAMP_BIN, which records the
 *      wall clock at its first instruction and exits. For every edge u -> d the latency is
 *      d's first instruction minus u's (u's process ends microseconds after its stamp): exit
 *      seen, state recorded, d picked, its attempt recorded, fork and exec. p50/p99/max;
 *   2. Windmill's Airflow comparison shape: 40 sequential no-op tasks, total wall time;
 *   3. throughput: a fan-out/fan-in DAG of N tasks (default 1,000: root -> N-2 -> sink) of
 *      /bin/true at parallelism P (default 8), total wall time;
 *   4. scheduler overhead per task: (3) against the same N processes started by this program
 *      P at a time with fork/exec/wait (the floor any executor pays), in wall time and in CPU
 *      time (kiln's process including its tasks, minus the baseline's children).
 * Airflow itself cannot run here (no PyPI): its published per-task overhead is quoted from
 * shared/reference/anchors.md in bench/RESULTS.md. A benchmark program, never a test.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* Runs argv, waits; OUT: wall seconds and the child's CPU seconds (incl. its children). */
static int run(char *const *argv, const char *out_path, double *wall, double *cpu)
{
    struct rusage ru;
    int st = 0;
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = out_path != NULL ? freopen(out_path, "w", stdout) : NULL;
        (void)f;
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
        return -1;
    *wall = now_s() - t0;
    *cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Runs a spec with kiln pipeline run; OUT: wall and CPU seconds. Exits on failure. */
static void run_spec(const char *kiln, const char *dir, const char *spec, int parallelism,
                     double *wall, double *cpu)
{
    char store[600], art[600], par[32], out[600];
    snprintf(store, sizeof(store), "sqlite:///%s/kiln.db", dir);
    snprintf(art, sizeof(art), "%s/artifacts", dir);
    snprintf(par, sizeof(par), "%d", parallelism);
    snprintf(out, sizeof(out), "%s/run.json", dir);
    char *argv[] = { strdup(kiln),
                     strdup("pipeline"),
                     strdup("run"),
                     strdup(spec),
                     strdup("--json"),
                     strdup("--parallelism"),
                     par,
                     strdup("--backend-store-uri"),
                     store,
                     strdup("--artifacts-destination"),
                     art,
                     NULL };
    int rc = run(argv, out, wall, cpu);
    if (rc != 0) {
        fprintf(stderr, "bench_pipeline: %s failed (exit %d); see %s\n", spec, rc, out);
        exit(1);
    }
}

static long long stamp_of(const char *file, const char *name)
{
    FILE *f = fopen(file, "r");
    char n[64];
    long long t, found = -1;
    while (f != NULL && fscanf(f, "%63s %lld", n, &t) == 2)
        if (strcmp(n, name) == 0)
            found = t;
    if (f != NULL)
        fclose(f);
    return found;
}

static void chain(const char *kiln, const char *stamp, const char *dir, int n, double *lat,
                  size_t *nlat, double *wall)
{
    char spec[600], stamps[600], name[32];
    double cpu;
    FILE *f;
    snprintf(spec, sizeof(spec), "%s/chain.yaml", dir);
    snprintf(stamps, sizeof(stamps), "%s/stamps.txt", dir);
    f = fopen(spec, "w");
    fprintf(f, "name: chain\ntasks:\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "  t%d:\n    run: [%s, %s, t%d]\n", i, stamp, stamps, i);
        if (i > 0)
            fprintf(f, "    depends_on: t%d\n", i - 1);
    }
    fclose(f);
    run_spec(kiln, dir, spec, 8, wall, &cpu);
    *nlat = 0;
    for (int i = 1; i < n; i++) {
        long long a, b;
        snprintf(name, sizeof(name), "t%d", i - 1);
        a = stamp_of(stamps, name);
        snprintf(name, sizeof(name), "t%d", i);
        b = stamp_of(stamps, name);
        if (a > 0 && b > 0)
            lat[(*nlat)++] = (double)(b - a) / 1e6; /* ms */
    }
    qsort(lat, *nlat, sizeof(double), cmp_double);
}

static void fan(const char *kiln, const char *dir, int n, int parallelism, double *wall,
                double *cpu)
{
    char spec[600];
    FILE *f;
    snprintf(spec, sizeof(spec), "%s/fan.yaml", dir);
    f = fopen(spec, "w");
    fprintf(f, "name: fan\nmax_active_tasks: 100000\ntasks:\n  root: {run: [/bin/true]}\n");
    for (int i = 0; i < n - 2; i++)
        fprintf(f, "  m%d: {run: [/bin/true], depends_on: root}\n", i);
    fprintf(f, "  sink:\n    run: [/bin/true]\n    depends_on:\n");
    for (int i = 0; i < n - 2; i++)
        fprintf(f, "      - m%d\n", i);
    fclose(f);
    run_spec(kiln, dir, spec, parallelism, wall, cpu);
}

/* The floor: n processes of /bin/true, p at a time, with plain fork/exec/wait. */
static void baseline(int n, int p, double *wall, double *cpu)
{
    struct rusage r0, r1;
    int running = 0, started = 0;
    double t0 = now_s();
    getrusage(RUSAGE_CHILDREN, &r0);
    while (started < n || running > 0) {
        while (running < p && started < n) {
            pid_t pid = fork();
            if (pid == 0) {
                execl("/bin/true", "true", (char *)NULL);
                _exit(127);
            }
            running++;
            started++;
        }
        if (wait(NULL) > 0)
            running--;
    }
    *wall = now_s() - t0;
    getrusage(RUSAGE_CHILDREN, &r1);
    *cpu = tv(r1.ru_utime) + tv(r1.ru_stime) - tv(r0.ru_utime) - tv(r0.ru_stime);
}

int main(int argc, char **argv)
{
    int nchain = 200, nfan = 1000, par = 8;
    const char *out = NULL;
    char dir[] = "/tmp/kiln-bench-pipeline-XXXXXX", sub[4][128];
    double lat[10000], chain_wall, seq_wall, fan_wall, fan_cpu, base_wall, base_cpu;
    double seq_lat[64];
    size_t nlat, nseq;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_pipeline KILN_BIN STAMP_BIN [--chain N] [--fan N] "
                        "[--parallelism P] [--out FILE.json]\n");
        return 2;
    }
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--chain") == 0)
            nchain = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--fan") == 0)
            nfan = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--parallelism") == 0)
            par = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
    }
    if (nchain < 2 || nchain > 10000 || nfan < 3 || nfan > 10000 || par < 1 || mkdtemp(dir) == NULL)
        return 2;
    for (int i = 0; i < 4; i++) {
        snprintf(sub[i], sizeof(sub[i]), "%s/%d", dir, i);
        mkdir(sub[i], 0755);
    }
    char *stamp = realpath(argv[2], NULL);
    if (stamp == NULL) {
        fprintf(stderr, "bench_pipeline: no %s\n", argv[2]);
        return 2;
    }
    chain(argv[1], stamp, sub[0], nchain, lat, &nlat, &chain_wall);
    chain(argv[1], stamp, sub[1], 40, seq_lat, &nseq, &seq_wall);
    fan(argv[1], sub[2], nfan, par, &fan_wall, &fan_cpu);
    baseline(nfan, par, &base_wall, &base_cpu);

    printf("pipeline scheduler (kiln pipeline run, embedded SQLite store)\n");
    printf("  upstream exit -> downstream start, chain of %d: p50 %.2f ms  p99 %.2f ms  max "
           "%.2f ms (%zu edges)\n",
           nchain, pct(lat, nlat, 0.5), pct(lat, nlat, 0.99), lat[nlat - 1], nlat);
    printf("  40 sequential no-op tasks: %.2f s in all (%.1f ms per task, process start "
           "included)\n",
           seq_wall, seq_wall * 1000 / 40);
    printf("  fan-out/fan-in of %d /bin/true tasks, parallelism %d: %.2f s (%.0f tasks/s)\n", nfan,
           par, fan_wall, nfan / fan_wall);
    printf("  same %d processes, %d at a time, plain fork/exec/wait: %.2f s\n", nfan, par,
           base_wall);
    printf("  scheduler overhead per task: %.2f ms wall, %.2f ms CPU\n",
           (fan_wall - base_wall) * 1000 / nfan, (fan_cpu - base_cpu) * 1000 / nfan);
    if (out != NULL) {
        json_t *o = json_pack(
            "{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:f, s:f, s:f, s:f}", "bench",
            "pipeline", "chain", nchain, "latency_p50_ms", pct(lat, nlat, 0.5), "latency_p99_ms",
            pct(lat, nlat, 0.99), "latency_max_ms", lat[nlat - 1], "seq40_s", seq_wall,
            "chain_wall_s", chain_wall, "fan", nfan, "parallelism", par, "fan_wall_s", fan_wall,
            "baseline_wall_s", base_wall, "overhead_wall_ms", (fan_wall - base_wall) * 1000 / nfan,
            "overhead_cpu_ms", (fan_cpu - base_cpu) * 1000 / nfan);
        json_object_set_new(o, "time", json_integer((json_int_t)time(NULL)));
        FILE *f = fopen(out, "a");
        if (f != NULL) {
            char *s = json_dumps(o, JSON_COMPACT);
            fprintf(f, "%s\n", s);
            free(s);
            fclose(f);
        }
        json_decref(o);
    }
    {
        char cmd[800];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_pipeline: could not remove %s\n", dir);
    }
    return 0;
}

/*
 * store_write.c - the log-batch write path measured in process, without HTTP.
 *
 *   bench_store_write [--batches N] [--threads T] [--dir DIR]
 *
 * Opens a fresh SQLite store in DIR (default: a new folder under /tmp), creates 8 runs and
 * logs N batches (default 16,000) shaped like bench/tracking.c's log-batch (10 metrics m0-m9
 * at one step, 5 fresh param keys) through kiln_run_log_batch, round-robin over the runs,
 * from T threads (default 4; they share the group commit as the server's workers do). Prints
 * per batch: wall time, process CPU (the checkpointer thread included) and bytes written
 * (wchar of /proc/self/io: WAL, checkpoint copies).
 *
 * Why it exists: on this 2-core machine the HTTP bench's throughput moves by a third between
 * runs of one binary, since the load generator shares the cores. This program isolates the
 * store's share of a request, so two builds of the write path can be compared in a minute
 * (run them alternately; differences under ~10 % are still noise).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/fs.h"
#include "core/mem.h"
#include "store/migrations/migrations.h"
#include "store/store.h"
#include "tracking/tracking.h"

#define NRUNS 8

struct shared {
    struct kiln_store *store;
    const char *runs[NRUNS];
    long batches;
    int threads;
};

struct worker {
    struct shared *sh;
    int id;
    int failed;
};

static double clock_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Bytes this process has passed to write-like system calls so far; -1 when unknown. */
static long long written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "wchar:", 6) == 0)
            v = atoll(line + 6);
    fclose(f);
    return v;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    char keys[10][8], pkeys[5][32], pvals[5][8];
    struct kiln_metric m[10];
    struct kiln_kv p[5];
    struct kiln_err err = { 0 };

    for (int i = 0; i < 10; i++)
        snprintf(keys[i], sizeof(keys[i]), "m%d", i);
    for (long q = w->id; q < sh->batches; q += sh->threads) {
        long step = q / NRUNS;
        for (int i = 0; i < 10; i++) {
            memset(&m[i], 0, sizeof(m[i]));
            m[i].key = keys[i];
            m[i].value = (double)i / (double)(step + 1);
            m[i].timestamp = 1700000000000LL + step;
            m[i].step = step;
        }
        /* Params are write-once: fresh keys each batch, as the HTTP bench sends. */
        for (int i = 0; i < 5; i++) {
            snprintf(pkeys[i], sizeof(pkeys[i]), "p%ld_%d", step, i);
            snprintf(pvals[i], sizeof(pvals[i]), "v%d", i);
            p[i].key = pkeys[i];
            p[i].value = pvals[i];
        }
        if (kiln_run_log_batch(sh->store, sh->runs[q % NRUNS], m, 10, p, 5, NULL, 0, &err) !=
            KILN_OK) {
            fprintf(stderr, "bench_store_write: log-batch failed: %s\n", err.msg);
            w->failed = 1;
            break;
        }
    }
    return NULL;
}

static int setup(const char *dir, struct shared *sh, struct kiln_arena *arena)
{
    char uri[600];
    struct kiln_err err = { 0 };
    int64_t exp;

    snprintf(uri, sizeof(uri), "sqlite:///%s/kiln.db", dir);
    if (kiln_store_open(uri, kiln_schema_all, 4, &sh->store, &err) != KILN_OK ||
        kiln_tracking_init(sh->store, "mlflow-artifacts:/", &err) != KILN_OK ||
        kiln_experiment_create(sh->store, "bench", NULL, NULL, 0, "mlflow-artifacts:/", &exp,
                               &err) != KILN_OK) {
        fprintf(stderr, "bench_store_write: cannot set up the store in %s: %s\n", dir, err.msg);
        return -1;
    }
    for (int i = 0; i < NRUNS; i++) {
        struct kiln_run_create_req req;
        struct kiln_run *run;
        memset(&req, 0, sizeof(req));
        req.experiment_id = exp;
        if (kiln_run_create(sh->store, arena, &req, &run, &err) != KILN_OK) {
            fprintf(stderr, "bench_store_write: cannot create a run: %s\n", err.msg);
            return -1;
        }
        sh->runs[i] = run->info.run_id;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct shared sh = { NULL, { NULL }, 16000, 4 };
    struct worker workers[64];
    pthread_t tids[64];
    char dir[512] = "";
    struct kiln_arena *arena;
    double wall0, cpu0;
    long long w0;
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
            sh.batches = atol(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            sh.threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            snprintf(dir, sizeof(dir), "%s", argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_store_write [--batches N] [--threads T] [--dir DIR]\n");
            return 2;
        }
    }
    if (sh.batches < 1 || sh.threads < 1 || sh.threads > 64) {
        fprintf(stderr, "bench_store_write: --batches must be >= 1, --threads 1-64\n");
        return 2;
    }
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/kiln-bench-store-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("bench_store_write: mkdtemp");
            return 1;
        }
    }
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    arena = kiln_arena_new(0);
    if (arena == NULL || setup(dir, &sh, arena) != 0)
        return 1;

    wall0 = clock_s(CLOCK_MONOTONIC);
    cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w0 = written_bytes();
    for (int i = 0; i < sh.threads; i++) {
        workers[i] = (struct worker){ &sh, i, 0 };
        pthread_create(&tids[i], NULL, work, &workers[i]);
    }
    for (int i = 0; i < sh.threads; i++) {
        pthread_join(tids[i], NULL);
        failed |= workers[i].failed;
    }
    double wall = clock_s(CLOCK_MONOTONIC) - wall0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    long long w1 = written_bytes();
    double n = (double)sh.batches;

    printf("log-batch in process, %ld batches, %d threads: wall %6.1f us/batch  CPU %6.1f "
           "us/batch  written %5.1f KiB/batch  (%.0f batches/s)\n",
           sh.batches, sh.threads, wall / n * 1e6, cpu / n * 1e6,
           w0 >= 0 && w1 >= 0 ? (double)(w1 - w0) / 1024.0 / n : -1.0, n / wall);
    kiln_store_close(sh.store);
    kiln_arena_free(arena);
    kiln_remove_tree(dir, NULL);
    return failed ? 1 : 0;
}

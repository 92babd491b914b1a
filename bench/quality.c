/*
 * quality.c - benchmark of kiln's data-quality path (issue 5's numbers).
 *
 *   bench_quality KILN_BIN [--rows N] [--cols C] [--dir DIR] [--out results.json]
 *
 * Generates a reference and a current CSV of N rows x C numeric columns (default 1,000,000
 * x 20; values written with 17 significant digits, as pandas writes them; a quarter of the
 * current columns shifted by 0.1 standard deviations), plus the same values as raw doubles
 * for NumPy, then measures:
 *   - CSV parsing on one core: tokenising only, and tokenising + converting every number;
 *   - reading the file from disk with O_DIRECT (the disk's speed) and `kiln profile`'s speed;
 *   - `kiln drift --reference ref.csv --current cur.csv --json` end to end (the real binary,
 *     best of 3), and the library's load and compute phases separately;
 *   - a drift window (the serving monitor's API): cost of adding a value and of comparing a
 *     200,000-row window with the reference profile;
 *   - SciPy/NumPy computing the same statistics on the same values in the same run
 *     (bench/quality_ref.py), and numpy.loadtxt's parsing speed;
 * and checks that kiln's statistics agree with SciPy's. Prints a table and writes JSON.
 * A benchmark program, never a test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"
#include "quality/drift.h"
#include "quality/num.h"
#include "quality/profile.h"
#include "quality/table.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x1234567;
static double gauss(void)
{
    uint64_t a, b;
    double u, v;
    rng_state += 0x9E3779B97F4A7C15ULL;
    a = rng_state;
    a = (a ^ (a >> 30)) * 0xBF58476D1CE4E5B9ULL;
    a = (a ^ (a >> 27)) * 0x94D049BB133111EBULL;
    a ^= a >> 31;
    rng_state += 0x9E3779B97F4A7C15ULL;
    b = rng_state;
    b = (b ^ (b >> 30)) * 0xBF58476D1CE4E5B9ULL;
    b = (b ^ (b >> 27)) * 0x94D049BB133111EBULL;
    b ^= b >> 31;
    u = ((double)(a >> 11) + 0.5) / 9007199254740992.0;
    v = (double)(b >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Writes NAME.csv and NAME_<j>.f64 for j < cols. */
static double write_data(const char *dir, const char *name, long rows, int cols, int shifted)
{
    char path[1024];
    FILE *csv, **bin = calloc((size_t)cols, sizeof(FILE *));
    double t0 = now_s();
    snprintf(path, sizeof(path), "%s/%s.csv", dir, name);
    csv = fopen(path, "w");
    for (int j = 0; j < cols; j++) {
        snprintf(path, sizeof(path), "%s/%s_%d.f64", dir, name, j);
        bin[j] = fopen(path, "w");
        fprintf(csv, "%sx%d", j ? "," : "", j);
    }
    fputc('\n', csv);
    for (long i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            double sd = 1.0 + j, x = gauss() * sd + j;
            if (shifted && j % 4 == 0)
                x += 0.1 * sd;
            fprintf(csv, j ? ",%.17g" : "%.17g", x);
            fwrite(&x, sizeof(x), 1, bin[j]);
        }
        fputc('\n', csv);
    }
    fclose(csv);
    for (int j = 0; j < cols; j++)
        fclose(bin[j]);
    free(bin);
    return now_s() - t0;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

/* MB/s of one pass over the CSV: tokenising only, or also converting each cell. */
static double parse_pass(const char *path, int convert)
{
    struct kiln_table_reader *r;
    const struct kiln_cell *c;
    struct kiln_err err = { 0 };
    double t0 = now_s(), sink = 0, v;
    size_t n;
    if (kiln_table_reader_open(path, NULL, &r, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    n = kiln_table_reader_ncols(r);
    while (kiln_table_reader_next(r, &c, &err) == 1)
        if (convert)
            for (size_t i = 0; i < n; i++)
                if (kiln_num_parse(c[i].p, c[i].len, &v))
                    sink += v;
    t0 = now_s() - t0;
    v = (double)kiln_table_reader_bytes(r) / 1e6 / t0;
    kiln_table_reader_free(r);
    if (sink == 12345.678)
        puts("");
    return v;
}

/* MB/s reading the file with O_DIRECT (bypassing the page cache: the disk's speed). */
static double direct_read(const char *path)
{
    size_t bs = (size_t)4 << 20;
    void *buf = NULL;
    ssize_t got;
    long total = 0;
    double t0;
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd < 0 || posix_memalign(&buf, 4096, bs) != 0)
        return NAN;
    t0 = now_s();
    while ((got = read(fd, buf, bs)) > 0)
        total += got;
    t0 = now_s() - t0;
    close(fd);
    free(buf);
    return (double)total / 1e6 / t0;
}

static double profile_pass(const char *path)
{
    struct kiln_table_reader *r;
    struct kiln_profile *p;
    struct kiln_err err = { 0 };
    double t0 = now_s(), mb;
    if (kiln_table_reader_open(path, NULL, &r, &err) != 0 ||
        kiln_profile_build(r, NULL, &p, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    t0 = now_s() - t0;
    mb = (double)kiln_table_reader_bytes(r) / 1e6;
    kiln_profile_free(p);
    kiln_table_reader_free(r);
    return mb / t0;
}

/* Runs argv, returns wall seconds (exit status in *status). */
static double run(char *const argv[], const char *out_path, int *status)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        if (out_path != NULL) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(pid, status, 0);
    return now_s() - t0;
}

static void library_drift(const char *ref, const char *cur, double *load_s, double *compute_s)
{
    struct kiln_table_reader *r1, *r2;
    struct kiln_drift_data *a, *b;
    struct kiln_drift_result *res;
    struct kiln_err err = { 0 };
    double t0 = now_s();
    if (kiln_table_reader_open(ref, NULL, &r1, &err) != 0 ||
        kiln_table_reader_open(cur, NULL, &r2, &err) != 0 ||
        kiln_drift_data_load2(r1, r2, NULL, 0, &a, &b, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    *load_s = now_s() - t0;
    t0 = now_s();
    if (kiln_drift_compute(a, b, NULL, &res, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    *compute_s = now_s() - t0;
    kiln_drift_result_free(res);
    kiln_drift_data_free(a);
    kiln_drift_data_free(b);
    kiln_table_reader_free(r1);
    kiln_table_reader_free(r2);
}

/*
 * A drift window as the serving monitor uses it: the profile of ref.csv as the reference,
 * `rows` rows of `cols` numbers added one value at a time, then one comparison. Returns ns per
 * value added; *compute_ms gets the comparison's time.
 */
static double window_pass(const char *ref, long rows, int cols, double *compute_ms)
{
    struct kiln_table_reader *r;
    struct kiln_profile *p;
    struct kiln_drift_window *w;
    struct kiln_drift_result *res;
    struct kiln_err err = { 0 };
    double t0, add;
    if (kiln_table_reader_open(ref, NULL, &r, &err) != 0 ||
        kiln_profile_build(r, NULL, &p, &err) != 0 || kiln_drift_window_new(p, NULL, &w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    t0 = now_s();
    for (long i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++)
            kiln_drift_window_add_number(w, (size_t)j, gauss() * (1.0 + j) + j + 0.05);
        kiln_drift_window_end_row(w);
    }
    add = (now_s() - t0) / ((double)rows * cols) * 1e9;
    t0 = now_s();
    if (kiln_drift_window_compute(w, &res, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    *compute_ms = (now_s() - t0) * 1e3;
    kiln_drift_result_free(res);
    kiln_drift_window_free(w);
    kiln_profile_free(p);
    kiln_table_reader_free(r);
    return add;
}

/* Largest relative difference between kiln's and SciPy's statistics over all columns. */
static double compare(const char *kiln_json, const json_t *ref, const char *key)
{
    json_t *k = json_load_file(kiln_json, 0, NULL);
    json_t *kc = json_object_get(k, "columns"), *rc = json_object_get(ref, "columns");
    double worst = 0;
    for (size_t j = 0; j < json_array_size(rc); j++) {
        double a = json_number_value(
            json_object_get(json_object_get(json_array_get(kc, j), "stats"), key));
        double b = json_number_value(json_object_get(json_array_get(rc, j), key));
        double d = a == b ? 0 : fabs(a - b) / fabs(b);
        if (d > worst)
            worst = d;
    }
    json_decref(k);
    return worst;
}

int main(int argc, char **argv)
{
    const char *kiln = NULL, *out = NULL, *dir_arg = NULL;
    long rows = 1000000;
    int cols = 20, status;
    char dir[512], ref[600], cur[600], res[600], cmd[2048];
    double gen, tok, conv, disk, prof, e2e, load_s, compute_s, mb, win_ns, win_ms;
    json_t *py;
    FILE *p;

    json_set_alloc_funcs(kiln_malloc, kiln_free);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = atol(argv[++i]);
        else if (strcmp(argv[i], "--cols") == 0 && i + 1 < argc)
            cols = atoi(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir_arg = argv[++i];
        else
            kiln = argv[i];
    }
    if (kiln == NULL) {
        fprintf(stderr, "usage: bench_quality KILN_BIN [--rows N] [--cols C] [--dir D] "
                        "[--out results.json]\n");
        return 2;
    }
    if (dir_arg != NULL) {
        snprintf(dir, sizeof(dir), "%s", dir_arg);
    } else {
        snprintf(dir, sizeof(dir), "%s/kiln-bench-quality-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp");
        if (mkdtemp(dir) == NULL)
            return 2;
    }
    snprintf(ref, sizeof(ref), "%s/ref.csv", dir);
    snprintf(cur, sizeof(cur), "%s/cur.csv", dir);
    snprintf(res, sizeof(res), "%s/drift.json", dir);
    if (file_size(ref) == 0 || file_size(cur) == 0) {
        gen = write_data(dir, "ref", rows, cols, 0);
        gen += write_data(dir, "cur", rows, cols, 1);
        fprintf(stderr, "generated %ld x %d x 2 in %.1f s in %s\n", rows, cols, gen, dir);
    }
    mb = (double)file_size(ref) / 1e6;
    disk = direct_read(ref);
    tok = parse_pass(ref, 0);
    tok = fmax(tok, parse_pass(ref, 0));
    conv = parse_pass(ref, 1);
    conv = fmax(conv, parse_pass(ref, 1));
    prof = profile_pass(ref);
    prof = fmax(prof, profile_pass(ref));
    {
        char *args[] = { strdup(kiln),        strdup("drift"), strdup("--reference"), strdup(ref),
                         strdup("--current"), strdup(cur),     strdup("--json"),      NULL };
        e2e = run(args, res, &status);
        e2e = fmin(e2e, run(args, res, &status));
        e2e = fmin(e2e, run(args, res, &status));
        for (int i = 0; args[i] != NULL; i++)
            free(args[i]);
    }
    library_drift(ref, cur, &load_s, &compute_s);
    win_ns = window_pass(ref, 200000, cols, &win_ms);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/quality_ref.py %s %d", KILN_BENCH_DIR, dir,
             cols);
    p = popen(cmd, "r");
    py = p != NULL ? json_loadf(p, 0, NULL) : NULL;
    if (p != NULL)
        pclose(p);

    {
        double la[3] = { 0, 0, 0 };
        FILE *f = fopen("/proc/loadavg", "r");
        if (f != NULL) {
            if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
                la[0] = NAN;
            fclose(f);
        }
        printf("\n## data quality (%ld rows x %d numeric columns, %.0f MB per file; load "
               "average %.1f on %ld CPUs)\n\n",
               rows, cols, mb, la[0], sysconf(_SC_NPROCESSORS_ONLN));
    }
    printf("| measure | kiln | comparison |\n|---|---|---|\n");
    printf("| CSV tokenising, one core | %.0f MB/s | |\n", tok);
    printf("| CSV tokenising + number conversion, one core | %.0f MB/s | numpy.loadtxt %.1f "
           "MB/s |\n",
           conv,
           py ? json_number_value(json_object_get(py, "loadtxt_mb")) /
                    json_number_value(json_object_get(py, "loadtxt_s"))
              : NAN);
    printf("| profile (kiln profile, all cores) | %.0f MB/s | disk read (O_DIRECT) %.0f MB/s |\n",
           prof, disk);
    printf("| drift end to end (kiln drift --json, 2 files) | %.2f s (exit %d) | |\n", e2e,
           WEXITSTATUS(status));
    printf("| drift: load both files / compute %d columns | %.2f s / %.2f s | SciPy compute "
           "%.2f s |\n",
           cols, load_s, compute_s, py ? json_number_value(json_object_get(py, "compute_s")) : NAN);
    printf("| drift window: add a value / compare 200k-row window with the profile | %.0f ns / "
           "%.0f ms | |\n",
           win_ns, win_ms);
    if (py != NULL) {
        static const char *const keys[] = { "ks_statistic",       "ks_p_value", "wasserstein",
                                            "wasserstein_normed", "psi",        "kl_divergence",
                                            "jensenshannon" };
        printf("\nagreement with SciPy %s (largest relative difference over %d columns):\n",
               json_string_value(json_object_get(py, "scipy")), cols);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            printf("  %-20s %.1e\n", keys[i], compare(res, py, keys[i]));
    }
    if (out != NULL) {
        FILE *f = fopen(out, "a");
        if (f != NULL) {
            fprintf(f,
                    "{\"bench\":\"quality\",\"time\":%ld,\"rows\":%ld,\"cols\":%d,\"file_mb\":%.1f,"
                    "\"tokenize_mbps\":%.1f,\"parse_mbps\":%.1f,\"profile_mbps\":%.1f,"
                    "\"disk_mbps\":%.1f,\"drift_e2e_s\":%.3f,\"drift_load_s\":%.3f,"
                    "\"drift_compute_s\":%.3f,\"scipy_compute_s\":%.3f,\"window_add_ns\":%.1f,"
                    "\"window_compute_ms\":%.1f}\n",
                    (long)time(NULL), rows, cols, mb, tok, conv, prof, disk, e2e, load_s, compute_s,
                    py ? json_number_value(json_object_get(py, "compute_s")) : NAN, win_ns, win_ms);
            fclose(f);
        }
    }
    json_decref(py);
    if (dir_arg == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}

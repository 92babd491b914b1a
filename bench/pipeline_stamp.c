/*
 * pipeline_stamp.c - the task the pipeline benchmark runs: appends "NAME NANOSECONDS\n"
 * (CLOCK_REALTIME at its first instruction) to FILE and exits. Tiny and libc-only, so its own
 * start-up adds as little as possible to the latency being measured.
 *
 *   bench_pipeline_stamp FILE NAME
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec ts;
    char line[256];
    int fd, n;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (argc != 3)
        return 2;
    n = snprintf(line, sizeof(line), "%s %lld\n", argv[2],
                 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || n <= 0 || write(fd, line, (size_t)n) != n)
        return 1;
    close(fd);
    return 0;
}

/*
 * replay.c - a plain main() for every fuzz target (SQLite's fuzzcheck idea): runs
 * LLVMFuzzerTestOneInput on each file of the corpus directories given as arguments, so a
 * crash found once by libFuzzer stays fixed under gcc in `meson test --suite fuzz`.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    struct kiln_buf b;
    kiln_buf_init(&b, (size_t)64 << 20);
    if (kiln_read_file(path, &b, NULL) != 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        kiln_buf_release(&b);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)b.buf, b.len);
    kiln_buf_release(&b);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, failures = 0;
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        if (d == NULL) {
            failures += run_file(argv[i]);
            files++;
            continue;
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (!kiln_is_file(path))
                continue;
            failures += run_file(path);
            files++;
        }
        closedir(d);
    }
    printf("replayed %d input(s)\n", files);
    return failures != 0 || files == 0;
}

/*
 * fuzz_artifact_path.c - artifact path handling: the path rules, artifact-URI mapping, content
 * types, and read-only repository operations on a fixture root that has a symbolic link
 * planted inside pointing out of it.
 *
 * Invariants checked (a violation aborts, which the fuzzer reports):
 *   - a path accepted by kiln_artifact_path_check has no NUL, backslash, empty, "." or ".."
 *     segment, no leading '/', and no reserved temporary-upload name;
 *   - a path produced by kiln_artifact_uri_to_path passes the same check;
 *   - nothing reached through the repository is outside the root: opening any path never
 *     yields the secret file behind the planted link, and listings never show the link.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifacts/artifacts.h"
#include "core/arena.h"
#include "core/fs.h"
#include "core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "outside-secret"

static char fixture[256];
static char root[300];

static void remove_fixture(void)
{
    kiln_remove_tree(fixture, NULL);
}

/* root/a/b.txt, root/c.bin, root/out -> ../outside (which holds the secret). */
static int make_fixture(void)
{
    char path[400], outside[350];
    const char *base = getenv("TMPDIR");
    snprintf(fixture, sizeof(fixture), "%s/kiln-fuzz-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(fixture) == NULL)
        return -1;
    atexit(remove_fixture);
    snprintf(root, sizeof(root), "%s/root", fixture);
    snprintf(outside, sizeof(outside), "%s/outside", fixture);
    snprintf(path, sizeof(path), "%s/a", root);
    if (kiln_mkdirs(path, 0755, NULL) != 0 || kiln_mkdirs(outside, 0755, NULL) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/a/b.txt", root);
    kiln_write_file_atomic(path, "inside", 6, NULL);
    snprintf(path, sizeof(path), "%s/c.bin", root);
    kiln_write_file_atomic(path, "x", 1, NULL);
    snprintf(path, sizeof(path), "%s/secret.txt", outside);
    kiln_write_file_atomic(path, SECRET, strlen(SECRET), NULL);
    snprintf(path, sizeof(path), "%s/out", root);
    if (symlink(outside, path) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/a/link.txt", root);
    snprintf(outside, sizeof(outside), "%s/outside/secret.txt", fixture);
    return symlink(outside, path);
}

static void check_clean(const char *p, size_t n)
{
    size_t seg = 0;
    static const char tmp[] = KILN_ARTIFACT_TMP_PREFIX;
    if (n > 0 && p[0] == '/')
        abort();
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (p[i] == '\0' || p[i] == '\\'))
            abort();
        if (i < n && p[i] != '/')
            continue;
        if (n > 0) {
            size_t sl = i - seg;
            if (sl == 0 || (sl == 1 && p[seg] == '.') ||
                (sl == 2 && p[seg] == '.' && p[seg + 1] == '.'))
                abort();
            if (sl >= sizeof(tmp) - 1 && memcmp(p + seg, tmp, sizeof(tmp) - 1) == 0)
                abort();
        }
        seg = i + 1;
    }
}

static void repo_ops(const char *path)
{
    static struct kiln_artifact_repo *repo;
    struct kiln_artifact_entry *e;
    struct kiln_arena *arena;
    uint64_t fsize;
    size_t n;
    int fd = -1;

    if (repo == NULL && (make_fixture() != 0 || kiln_artifact_repo_open(root, &repo, NULL) != 0))
        abort();
    if (kiln_artifact_open_read(repo, path, &fd, &fsize, NULL) == KILN_OK) {
        char buf[64] = { 0 };
        ssize_t got = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (got > 0 && strstr(buf, SECRET) != NULL)
            abort(); /* read through the planted link */
    }
    arena = kiln_arena_new(0);
    if (arena != NULL && kiln_artifact_list(repo, path, arena, &e, &n, NULL) == KILN_OK) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(e[i].name, "out") == 0 || strcmp(e[i].name, "link.txt") == 0 ||
                strcmp(e[i].name, "secret.txt") == 0)
                abort();
    }
    kiln_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct kiln_arena *arena;
    const char *mapped;
    char *s;
    size_t n;

    for (unsigned flags = 0; flags <= KILN_ARTIFACT_PATH_ALLOW_ROOT; flags++)
        if (kiln_artifact_path_check(p, size, flags, &n, NULL) == KILN_OK)
            check_clean(p, n);
    s = kiln_strndup(p, size);
    arena = kiln_arena_new(0);
    if (s == NULL || arena == NULL)
        goto out;
    if (kiln_artifact_uri_to_path(s, "/srv/root", arena, &mapped, NULL) == KILN_OK)
        check_clean(mapped, strlen(mapped));
    if (kiln_artifact_content_type(s) == NULL)
        abort();
    repo_ops(s);
out:
    kiln_arena_free(arena);
    kiln_free(s);
    return 0;
}

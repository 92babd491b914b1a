/*
 * test_artifacts.c - artifact paths, URI mapping, content types, and the local backend:
 * atomic uploads, downloads, listings, deletes and containment (links planted in the root).
 */
#include "kiln_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts/artifacts.h"
#include "core/arena.h"
#include "core/fs.h"

struct fixture {
    char dir[256];     /* temp folder holding root/ and outside/ */
    char root[300];    /* the repository root */
    char outside[300]; /* a folder next to the root with a secret */
    struct kiln_artifact_repo *repo;
    struct kiln_arena *arena;
};

static void write_file(const char *path, const char *text)
{
    assert_int_equal(kiln_write_file_atomic(path, text, strlen(text), NULL), KILN_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char secret[400];
    assert_non_null(f);
    assert_non_null(kiln_test_tmpdir(f->dir, sizeof(f->dir)));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
    assert_int_equal(mkdir(f->outside, 0755), 0);
    snprintf(secret, sizeof(secret), "%s/secret.txt", f->outside);
    write_file(secret, "top secret");
    /* The root does not exist yet: opening creates it. */
    assert_int_equal(kiln_artifact_repo_open(f->root, &f->repo, NULL), KILN_OK);
    assert_true(kiln_is_dir(f->root));
    f->arena = kiln_arena_new(0);
    assert_non_null(f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kiln_artifact_repo_free(f->repo);
    kiln_arena_free(f->arena);
    kiln_remove_tree(f->dir, NULL);
    free(f);
    return 0;
}

static int put(struct kiln_artifact_repo *repo, const char *path, const char *data, size_t len)
{
    struct kiln_artifact_upload *up;
    int rc = kiln_artifact_upload_begin(repo, path, &up, NULL);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_artifact_upload_write(up, data, len, NULL);
    if (rc != KILN_OK) {
        kiln_artifact_upload_abort(up);
        return rc;
    }
    return kiln_artifact_upload_commit(up, NULL);
}

static void read_back(struct kiln_artifact_repo *repo, const char *path, const char *expect,
                      size_t len)
{
    int fd = -1;
    uint64_t size = 0;
    char buf[256];
    assert_int_equal(kiln_artifact_open_read(repo, path, &fd, &size, NULL), KILN_OK);
    assert_int_equal(size, len);
    assert_true(len <= sizeof(buf));
    assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)len);
    assert_memory_equal(buf, expect, len);
    close(fd);
}

/* Number of entries of a folder on disk, temporary files included. */
static int count_on_disk(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_path_check(void **state)
{
    static const char *const good[] = {
        "a",    "a/b.txt",        "0/abc/artifacts/model/MLmodel", ".hidden", "a..b", "...",
        "dir/", "名前/データ.csv"
    };
    static const char *const bad[] = { "",
                                       "/etc/passwd",
                                       "../x",
                                       "a/../b",
                                       "a/..",
                                       "..",
                                       ".",
                                       "./a",
                                       "a/./b",
                                       "a//b",
                                       "a\\b",
                                       "//",
                                       "/",
                                       ".kiln-upload-1234.tmp",
                                       "d/.kiln-upload-x" };
    struct kiln_err err = { 0 };
    char longseg[300];
    size_t n = 99;
    (void)state;
    for (size_t i = 0; i < KILN_ARRAY_LEN(good); i++)
        assert_int_equal(kiln_artifact_path_check(good[i], strlen(good[i]), 0, NULL, NULL),
                         KILN_OK);
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        assert_int_equal(kiln_artifact_path_check(bad[i], strlen(bad[i]), 0, NULL, &err),
                         KILN_EINVAL);
        assert_true(strncmp(err.msg, "Invalid path", 12) == 0);
    }
    /* A NUL inside the given length. */
    assert_int_equal(kiln_artifact_path_check("a\0b", 3, 0, NULL, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "NUL"));
    /* Trailing slashes are dropped; the root only when allowed. */
    assert_int_equal(kiln_artifact_path_check("dir//", 5, 0, &n, NULL), KILN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kiln_artifact_path_check("", 0, KILN_ARTIFACT_PATH_ALLOW_ROOT, &n, NULL),
                     KILN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kiln_artifact_path_check("/", 1, KILN_ARTIFACT_PATH_ALLOW_ROOT, &n, NULL),
                     KILN_EINVAL);
    memset(longseg, 'x', sizeof(longseg) - 1);
    longseg[sizeof(longseg) - 1] = '\0';
    assert_int_equal(kiln_artifact_path_check(longseg, strlen(longseg), 0, NULL, NULL),
                     KILN_EINVAL);
    assert_int_equal(kiln_artifact_path_check(longseg, 255, 0, NULL, NULL), KILN_OK);
}

static void test_uri_to_path(void **state)
{
    static const struct {
        const char *uri, *root, *path;
        int rc;
    } cases[] = {
        { "mlflow-artifacts:/7/abc/artifacts", NULL, "7/abc/artifacts", KILN_OK },
        { "mlflow-artifacts:/", NULL, "", KILN_OK },
        { "mlflow-artifacts://host:5000/7/m/artifacts/", NULL, "7/m/artifacts", KILN_OK },
        { "http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts", NULL, "1/r/artifacts",
          KILN_OK },
        { "https://h/prefix/api/2.0/mlflow-artifacts/artifacts/a%20b/c", NULL, "a b/c", KILN_OK },
        { "http://h/api/2.0/mlflow-artifacts/artifacts", NULL, "", KILN_OK },
        { "http://h/api/2.0/mlflow-artifacts/artifactsX/1", NULL, NULL, KILN_ENOTSUP },
        { "http://h/somewhere/else", NULL, NULL, KILN_ENOTSUP },
        { "http://h/api/2.0/mlflow-artifacts/artifacts/%2e%2e/etc", NULL, NULL, KILN_EINVAL },
        { "mlflow-artifacts:/1/../../etc", NULL, NULL, KILN_EINVAL },
        { "/srv/art/3/r/artifacts", "/srv/art", "3/r/artifacts", KILN_OK },
        { "file:///srv/art/3", "/srv/art/", "3", KILN_OK },
        { "/srv/artifacts-other/3", "/srv/art", NULL, KILN_ENOTSUP },
        { "/etc/passwd", "/srv/art", NULL, KILN_ENOTSUP },
        { "/srv/art/../etc", "/srv/art", NULL, KILN_EINVAL },
        { "s3://bucket/x", "/srv/art", NULL, KILN_ENOTSUP },
        { "relative/dir", "/srv/art", NULL, KILN_ENOTSUP },
    };
    struct kiln_arena *a = kiln_arena_new(0);
    (void)state;
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        const char *path = NULL;
        int rc = kiln_artifact_uri_to_path(cases[i].uri, cases[i].root, a, &path, NULL);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d", cases[i].uri, rc, cases[i].rc);
        if (rc == KILN_OK)
            assert_string_equal(path, cases[i].path);
    }
    kiln_arena_free(a);
}

static void test_content_type(void **state)
{
    (void)state;
    assert_string_equal(kiln_artifact_content_type("a/MLmodel"), "text/plain; charset=utf-8");
    assert_string_equal(kiln_artifact_content_type("x.json"), "text/plain; charset=utf-8");
    assert_string_equal(kiln_artifact_content_type("conda.yaml"), "text/plain; charset=utf-8");
    assert_string_equal(kiln_artifact_content_type("p.PNG"), "image/png");
    assert_string_equal(kiln_artifact_content_type("model.pkl"), "application/octet-stream");
    assert_string_equal(kiln_artifact_content_type("noext"), "application/octet-stream");
    assert_string_equal(kiln_artifact_content_type("page.html"), "text/html");
}

static void test_upload_commit_and_replace(void **state)
{
    struct fixture *f = *state;
    char path[512];
    assert_int_equal(put(f->repo, "1/run/artifacts/model/MLmodel", "flavors: {}\n", 12), KILN_OK);
    read_back(f->repo, "1/run/artifacts/model/MLmodel", "flavors: {}\n", 12);
    /* Replacing keeps exactly one file, with the new content. */
    assert_int_equal(put(f->repo, "1/run/artifacts/model/MLmodel", "v2", 2), KILN_OK);
    read_back(f->repo, "1/run/artifacts/model/MLmodel", "v2", 2);
    snprintf(path, sizeof(path), "%s/1/run/artifacts/model", f->root);
    assert_int_equal(count_on_disk(path), 1);
    /* Empty files are files. */
    assert_int_equal(put(f->repo, "empty", "", 0), KILN_OK);
    read_back(f->repo, "empty", "", 0);
}

static void test_upload_is_invisible_until_commit(void **state)
{
    struct fixture *f = *state;
    struct kiln_artifact_upload *up;
    struct kiln_artifact_entry *e;
    size_t n;
    int fd;
    uint64_t size;
    char dir[512];

    assert_int_equal(kiln_artifact_upload_begin(f->repo, "d/big.bin", &up, NULL), KILN_OK);
    assert_int_equal(kiln_artifact_upload_write(up, "half", 4, NULL), KILN_OK);
    assert_int_equal(kiln_artifact_upload_size(up), 4);
    /* In flight: a temporary file exists on disk but is neither listed nor readable. */
    snprintf(dir, sizeof(dir), "%s/d", f->root);
    assert_int_equal(count_on_disk(dir), 1);
    assert_int_equal(kiln_artifact_list(f->repo, "d", f->arena, &e, &n, NULL), KILN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kiln_artifact_open_read(f->repo, "d/big.bin", &fd, &size, NULL), KILN_ENOENT);
    kiln_artifact_upload_abort(up);
    /* Aborted: nothing at all is left on disk. */
    assert_int_equal(count_on_disk(dir), 0);
    assert_int_equal(kiln_artifact_open_read(f->repo, "d/big.bin", &fd, &size, NULL), KILN_ENOENT);

    /* An aborted replacement leaves the old file intact. */
    assert_int_equal(put(f->repo, "d/keep.txt", "old", 3), KILN_OK);
    assert_int_equal(kiln_artifact_upload_begin(f->repo, "d/keep.txt", &up, NULL), KILN_OK);
    assert_int_equal(kiln_artifact_upload_write(up, "new-but-unfinished", 18, NULL), KILN_OK);
    read_back(f->repo, "d/keep.txt", "old", 3);
    kiln_artifact_upload_abort(up);
    read_back(f->repo, "d/keep.txt", "old", 3);
    assert_int_equal(count_on_disk(dir), 1);
}

static void test_upload_conflicts(void **state)
{
    struct fixture *f = *state;
    struct kiln_artifact_upload *up;
    struct kiln_err err = { 0 };
    assert_int_equal(put(f->repo, "file", "x", 1), KILN_OK);
    /* A file where a folder is needed. */
    assert_int_equal(kiln_artifact_upload_begin(f->repo, "file/child", &up, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "is a file"));
    /* A folder where the file should go. */
    assert_int_equal(put(f->repo, "dir/x", "x", 1), KILN_OK);
    assert_int_equal(kiln_artifact_upload_begin(f->repo, "dir", &up, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "folder already exists"));
    /* Hostile paths never reach the disk. */
    assert_int_equal(kiln_artifact_upload_begin(f->repo, "../escape", &up, &err), KILN_EINVAL);
    assert_int_equal(kiln_artifact_upload_begin(f->repo, "/tmp/escape", &up, &err), KILN_EINVAL);
    assert_int_equal(kiln_artifact_upload_begin(f->repo, ".kiln-upload-x", &up, &err), KILN_EINVAL);
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    struct kiln_artifact_entry *e;
    struct kiln_err err = { 0 };
    char link[512];
    size_t n;

    assert_int_equal(put(f->repo, "r/b.txt", "bb", 2), KILN_OK);
    assert_int_equal(put(f->repo, "r/a.bin", "a", 1), KILN_OK);
    assert_int_equal(put(f->repo, "r/model/MLmodel", "m", 1), KILN_OK);
    snprintf(link, sizeof(link), "%s/r/link", f->root);
    assert_int_equal(symlink(f->outside, link), 0);
    assert_int_equal(kiln_artifact_list(f->repo, "r", f->arena, &e, &n, NULL), KILN_OK);
    /* Sorted, links hidden, sizes for files only. */
    assert_int_equal(n, 3);
    assert_string_equal(e[0].name, "a.bin");
    assert_false(e[0].is_dir);
    assert_int_equal(e[0].size, 1);
    assert_string_equal(e[1].name, "b.txt");
    assert_int_equal(e[1].size, 2);
    assert_string_equal(e[2].name, "model");
    assert_true(e[2].is_dir);
    /* Trailing slash, the root, a file, nothing. */
    assert_int_equal(kiln_artifact_list(f->repo, "r/", f->arena, &e, &n, NULL), KILN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kiln_artifact_list(f->repo, "", f->arena, &e, &n, NULL), KILN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "r");
    assert_int_equal(kiln_artifact_list(f->repo, "r/b.txt", f->arena, &e, &n, NULL), KILN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kiln_artifact_list(f->repo, "nothing/here", f->arena, &e, &n, NULL), KILN_OK);
    assert_int_equal(n, 0);
    /* Through the planted link: refused, never listed. */
    assert_int_equal(kiln_artifact_list(f->repo, "r/link", f->arena, &e, &n, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(kiln_artifact_list(f->repo, "../outside", f->arena, &e, &n, &err),
                     KILN_EINVAL);
}

static void test_containment(void **state)
{
    struct fixture *f = *state;
    struct kiln_artifact_upload *up;
    struct kiln_err err = { 0 };
    char link[512], target[512], fifo[512];
    int fd = -1;
    uint64_t size;

    /* A link to a folder outside: no read, no write, no delete through it. */
    snprintf(link, sizeof(link), "%s/out", f->root);
    assert_int_equal(symlink(f->outside, link), 0);
    assert_int_equal(kiln_artifact_open_read(f->repo, "out/secret.txt", &fd, &size, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_artifact_upload_begin(f->repo, "out/planted.txt", &up, &err),
                     KILN_EINVAL);
    assert_int_equal(kiln_artifact_delete(f->repo, "out/secret.txt", &err), KILN_EINVAL);
    snprintf(target, sizeof(target), "%s/secret.txt", f->outside);
    assert_true(kiln_is_file(target));
    snprintf(target, sizeof(target), "%s/planted.txt", f->outside);
    assert_false(kiln_is_file(target));

    /* A link to a file outside: refused as the final component. */
    snprintf(link, sizeof(link), "%s/secret-link", f->root);
    snprintf(target, sizeof(target), "%s/secret.txt", f->outside);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(kiln_artifact_open_read(f->repo, "secret-link", &fd, &size, &err),
                     KILN_EINVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    /* Links are never written through, replaced or deleted: the target stays intact. */
    assert_int_equal(put(f->repo, "secret-link", "mine", 4), KILN_EINVAL);
    assert_int_equal(kiln_artifact_delete(f->repo, "secret-link", &err), KILN_EINVAL);
    assert_int_equal(kiln_artifact_delete(f->repo, "out", &err), KILN_EINVAL);
    {
        struct kiln_buf b;
        kiln_buf_init(&b, 1024);
        assert_int_equal(kiln_read_file(target, &b, NULL), KILN_OK);
        assert_string_equal(b.buf, "top secret");
        kiln_buf_release(&b);
    }
    assert_int_equal(access(link, F_OK), 0);
    /* A link deeper in a folder being deleted is removed itself, never followed. */
    assert_int_equal(put(f->repo, "tree/x", "x", 1), KILN_OK);
    snprintf(link, sizeof(link), "%s/tree/out", f->root);
    assert_int_equal(symlink(f->outside, link), 0);
    assert_int_equal(kiln_artifact_delete(f->repo, "tree", NULL), KILN_OK);
    assert_true(kiln_is_file(target));
    snprintf(link, sizeof(link), "%s/tree", f->root);
    assert_int_equal(access(link, F_OK), -1);

    /* A FIFO is not a file: refused at once instead of blocking the caller. */
    snprintf(fifo, sizeof(fifo), "%s/fifo", f->root);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(kiln_artifact_open_read(f->repo, "fifo", &fd, &size, &err), KILN_EINVAL);
    /* A folder is not a file either. */
    assert_int_equal(put(f->repo, "dir/x", "x", 1), KILN_OK);
    assert_int_equal(kiln_artifact_open_read(f->repo, "dir", &fd, &size, &err), KILN_ENOENT);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    struct kiln_artifact_entry *e;
    struct kiln_err err = { 0 };
    size_t n;
    int fd;
    uint64_t size;

    assert_int_equal(put(f->repo, "t/a/b/c.txt", "c", 1), KILN_OK);
    assert_int_equal(put(f->repo, "t/a/d.txt", "d", 1), KILN_OK);
    assert_int_equal(put(f->repo, "t/e.txt", "e", 1), KILN_OK);
    assert_int_equal(kiln_artifact_delete(f->repo, "t/e.txt", NULL), KILN_OK);
    assert_int_equal(kiln_artifact_open_read(f->repo, "t/e.txt", &fd, &size, NULL), KILN_ENOENT);
    assert_int_equal(kiln_artifact_delete(f->repo, "t/a", NULL), KILN_OK);
    assert_int_equal(kiln_artifact_list(f->repo, "t", f->arena, &e, &n, NULL), KILN_OK);
    assert_int_equal(n, 0);
    /* Missing paths are fine (MLflow), the root and hostile paths are not. */
    assert_int_equal(kiln_artifact_delete(f->repo, "t/a", NULL), KILN_OK);
    assert_int_equal(kiln_artifact_delete(f->repo, "no/such/thing", NULL), KILN_OK);
    assert_int_equal(kiln_artifact_delete(f->repo, "", &err), KILN_EINVAL);
    assert_int_equal(kiln_artifact_delete(f->repo, "/", &err), KILN_EINVAL);
    assert_int_equal(kiln_artifact_delete(f->repo, "..", &err), KILN_EINVAL);
    assert_true(kiln_is_dir(f->outside));
}

static void test_open_schemes(void **state)
{
    struct kiln_artifact_repo *r = NULL;
    struct kiln_err err = { 0 };
    (void)state;
    assert_int_equal(kiln_artifact_repo_open("s3://bucket/prefix", &r, &err), KILN_ENOTSUP);
    assert_non_null(strstr(err.msg, "'s3'"));
    assert_null(r);
    assert_int_equal(kiln_artifact_repo_open("", &r, &err), KILN_EINVAL);
}

static void test_oom(void **state)
{
    struct fixture *f = *state;
    struct kiln_artifact_repo *r = NULL;
    struct kiln_artifact_entry *e;
    size_t n;

    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "oom/f%02d", i);
        assert_int_equal(put(f->repo, name, "x", 1), KILN_OK);
    }
    KILN_OOM_LOOP(kiln_artifact_repo_open(f->root, &r, NULL), (void)0);
    KILN_OOM_LOOP(kiln_artifact_list(r, "oom", f->arena, &e, &n, NULL), (void)0);
    assert_int_equal(n, 40);
    KILN_OOM_LOOP(put(r, "oom2/a/b/c", "abc", 3), (void)0);
    read_back(r, "oom2/a/b/c", "abc", 3);
    kiln_artifact_repo_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_check),
        cmocka_unit_test(test_uri_to_path),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_open_schemes),
        cmocka_unit_test_setup_teardown(test_upload_commit_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_is_invisible_until_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_containment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

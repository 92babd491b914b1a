/*
 * test_table.c - the CSV / JSON Lines reader: RFC 4180 cases, missing values, line and column
 * numbers in errors, buffer refills across records, memory limits and an OOM loop.
 */
#include "kiln_test.h"

#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "quality/table.h"

/* Reads everything from a reader into "a|b|c\n" lines (missing cells as "<M>"). */
static int dump(struct kiln_table_reader *r, struct kiln_buf *out, struct kiln_err *err)
{
    const struct kiln_cell *cells;
    int rc;
    size_t n = kiln_table_reader_ncols(r);
    for (size_t i = 0; i < n; i++)
        kiln_buf_printf(out, "%s%s", i ? "|" : "", kiln_table_reader_colname(r, i));
    kiln_buf_putc(out, '\n');
    while ((rc = kiln_table_reader_next(r, &cells, err)) == 1) {
        kiln_buf_printf(out, "@%llu:", (unsigned long long)kiln_table_reader_line(r));
        for (size_t i = 0; i < n; i++) {
            if (i)
                kiln_buf_putc(out, '|');
            if (cells[i].flags & KILN_CELL_MISSING)
                kiln_buf_puts(out, "<M>");
            else
                kiln_buf_append(out, cells[i].p, cells[i].len);
        }
        kiln_buf_putc(out, '\n');
    }
    return rc;
}

static int read_mem(const char *text, const char *name, const struct kiln_table_opts *o,
                    struct kiln_buf *out, struct kiln_err *err)
{
    struct kiln_table_reader *r = NULL;
    int rc = kiln_table_reader_open_mem(text, strlen(text), name, o, &r, err);
    if (rc != KILN_OK)
        return rc;
    rc = dump(r, out, err);
    kiln_table_reader_free(r);
    return rc;
}

static void expect_ok(const char *text, const char *name, const struct kiln_table_opts *o,
                      const char *want)
{
    struct kiln_buf b;
    struct kiln_err err = { 0 };
    kiln_buf_init(&b, KILN_BUF_MB);
    int rc = read_mem(text, name, o, &b, &err);
    if (rc != 0)
        fail_msg("read failed (%d): %s", rc, err.msg);
    assert_string_equal(b.buf, want);
    kiln_buf_release(&b);
}

static void expect_err(const char *text, const char *name, int want_rc, const char *want_msg)
{
    struct kiln_buf b;
    struct kiln_err err = { 0 };
    kiln_buf_init(&b, KILN_BUF_MB);
    int rc = read_mem(text, name, NULL, &b, &err);
    assert_int_equal(rc, want_rc);
    if (strstr(err.msg, want_msg) == NULL)
        fail_msg("error '%s' does not contain '%s'", err.msg, want_msg);
    kiln_buf_release(&b);
}

static void test_csv_basic(void **state)
{
    (void)state;
    expect_ok("a,b,c\n1,2.5,x\n-3,,NA\n", "t.csv", NULL, "a|b|c\n@2:1|2.5|x\n@3:-3|<M>|<M>\n");
    /* No final newline, CRLF, blank lines, BOM. */
    expect_ok("\xef\xbb\xbf"
              "a,b\r\n\r\n1,2\r\n\n3,4",
              "t.csv", NULL, "a|b\n@3:1|2\n@5:3|4\n");
    /* Lone CR ends records too; trailing delimiter gives an empty last cell. */
    expect_ok("a,b\r1,\r", "t.csv", NULL, "a|b\n@2:1|<M>\n");
    /* Every pandas NA spelling is missing; near misses are not. */
    expect_ok("v\nnull\nNULL\nNone\n#N/A\n-nan\n1.#IND\n<NA>\nn/a\nNaN\nnone\n-1\n1.5\n", "t.csv",
              NULL,
              "v\n@2:<M>\n@3:<M>\n@4:<M>\n@5:<M>\n@6:<M>\n@7:<M>\n@8:<M>\n@9:<M>\n@10:<M>\n"
              "@11:none\n@12:-1\n@13:1.5\n");
    /* Header with an empty name. */
    expect_ok(",x\n1,2\n", "t.csv", NULL, "column_1|x\n@2:1|2\n");
    /* Header only. */
    expect_ok("a,b\n", "t.csv", NULL, "a|b\n");
}

static void test_csv_quotes(void **state)
{
    (void)state;
    expect_ok("name,note\n\"Smith, J\",\"said \"\"hi\"\"\"\n\"multi\nline\",\"\"\nx,y\n", "t.csv",
              NULL, "name|note\n@2:Smith, J|said \"hi\"\n@3:multi\nline|<M>\n@5:x|y\n");
    /* A quote inside an unquoted field is literal; quoted NA is still missing. */
    expect_ok("h,w\n5'10\",\"NA\"\n", "t.csv", NULL, "h|w\n@2:5'10\"|<M>\n");
    /* Escaped quotes in several cells of one record, and an escaped "NA" stays missing. */
    expect_ok("a,b,c\n\"x\"\"\",\"N\"\"A\",\"\"\"\"\n", "t.csv", NULL, "a|b|c\n@2:x\"|N\"A|\"\n");
}

static void test_csv_options(void **state)
{
    struct kiln_table_opts o = { 0 };
    (void)state;
    o.delimiter = ';';
    expect_ok("a;b\n1,5;2\n", "t.csv", &o, "a|b\n@2:1,5|2\n");
    expect_ok("a\tb\n1\t2\n", "t.tsv", NULL, "a|b\n@2:1|2\n");
    memset(&o, 0, sizeof(o));
    o.no_header = 1;
    expect_ok("1,2\n3,4\n", "t.csv", &o, "column_1|column_2\n@1:1|2\n@2:3|4\n");
    o.format = KILN_TABLE_JSONL;
    expect_ok("{\"a\":1}\n", "t.csv", &o, "a\n@1:1\n");
}

static void test_csv_errors(void **state)
{
    (void)state;
    expect_err("a,b\n1,2\n\"oops,3\n4,5\n", "bad.csv", KILN_EPARSE,
               "bad.csv: line 3, column 1: quoted field is never closed");
    expect_err("a,b\n1,\"x\"y\n", "bad.csv", KILN_EPARSE,
               "bad.csv: line 2, column 6: unexpected 'y' after a closing quote");
    expect_err("a,b\n1,2\n3\n", "bad.csv", KILN_EPARSE, "line 3: expected 2 fields, found 1");
    expect_err("a,b\n1,2,3\n", "bad.csv", KILN_EPARSE, "line 2: expected 2 fields, found 3");
    expect_err("a,a\n1,2\n", "bad.csv", KILN_EPARSE, "duplicate column name 'a'");
    expect_err("", "empty.csv", KILN_EPARSE, "empty file");
    {
        /* A NUL byte in a column name (found by fuzzing) is refused, not truncated. */
        static const char nul[] = "a,b\0c\n1,2\n";
        struct kiln_table_reader *r = NULL;
        struct kiln_err err = { 0 };
        assert_int_equal(
            kiln_table_reader_open_mem(nul, sizeof(nul) - 1, "nul.csv", NULL, &r, &err),
            KILN_EPARSE);
        assert_non_null(strstr(err.msg, "line 1, column 3: column name contains a NUL byte"));
    }
    /* The line of an error after a multi-line quoted field counts its newlines. */
    expect_err("a,b\n\"1\n2\n3\",4\n5,\"6\"x\n", "bad.csv", KILN_EPARSE, "line 5, column 6");
}

static void test_jsonl(void **state)
{
    (void)state;
    expect_ok("{\"a\": 1, \"b\": \"x\\\"y\", \"c\": null}\n"
              "\n"
              "{\"b\": \"\\u00e9\\ud83d\\ude00\", \"a\": -2.5e3}\n"
              "{\"a\": true, \"c\": [1, {\"k\": \"v\"}], \"b\": \"NA\"}\r\n",
              "t.jsonl", NULL,
              "a|b|c\n@1:1|x\"y|<M>\n@3:-2.5e3|\xc3\xa9\xf0\x9f\x98\x80|<M>\n"
              "@4:true|<M>|[1, {\"k\": \"v\"}]\n");
    expect_ok("", "t.jsonl", NULL, "\n");
    expect_ok("{}\n{}\n", "t.ndjson", NULL, "\n@1:\n@2:\n");
}

static void test_jsonl_errors(void **state)
{
    (void)state;
    expect_err("{\"a\":1}\n{\"z\":2}\n", "d.jsonl", KILN_EPARSE,
               "d.jsonl: line 2, column 2: key 'z' is not a column");
    expect_err("{\"a\":1,\"a\":2}\n", "d.jsonl", KILN_EPARSE,
               "line 1, column 8: duplicate key 'a'");
    expect_err("{\"a\":1}\n{\"a\":1,\"a\":2}\n", "d.jsonl", KILN_EPARSE, "duplicate key 'a'");
    expect_err("{\"a\":1}\n[1]\n", "d.jsonl", KILN_EPARSE,
               "line 2, column 1: expected a JSON object");
    expect_err("{\"a\":01}\n", "d.jsonl", KILN_EPARSE, "expected ',' or '}'");
    expect_err("{\"a\":1} x\n", "d.jsonl", KILN_EPARSE, "line 1, column 9: unexpected text");
    expect_err("{\"a\":\"x\n", "d.jsonl", KILN_EPARSE, "string is never closed");
    expect_err("{\"a\":\"\\q\"}\n", "d.jsonl", KILN_EPARSE, "invalid escape");
    expect_err("{\"a\":\"\\ud800\"}\n", "d.jsonl", KILN_EPARSE, "high surrogate");
    expect_err("{\"a\":[1,]}\n", "d.jsonl", KILN_EPARSE, "column 9: unexpected ']'");
    expect_err("{\"a\":tru}\n", "d.jsonl", KILN_EPARSE, "column 6: expected 'true'");
    expect_err("{\"a\":-}\n", "d.jsonl", KILN_EPARSE, "malformed number");
    expect_err("{\"a\":1.}\n", "d.jsonl", KILN_EPARSE, "malformed number");
    {
        char deep[300];
        size_t k = 0;
        k += (size_t)snprintf(deep, sizeof(deep), "{\"a\":");
        for (int i = 0; i < 70; i++)
            deep[k++] = '[';
        deep[k++] = '\n';
        deep[k] = 0;
        expect_err(deep, "d.jsonl", KILN_EPARSE, "nested more than 64 levels");
    }
}

/* Writes `text` to a file, reads it back through the file path and memory: same output. */
static void file_vs_mem(const char *dir, const char *fname, const char *text, size_t len)
{
    char path[512];
    struct kiln_buf a, b;
    struct kiln_err err = { 0 };
    struct kiln_table_reader *r = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, fname);
    assert_int_equal(kiln_write_file_atomic(path, text, len, &err), KILN_OK);
    kiln_buf_init(&a, (size_t)256 << 20);
    kiln_buf_init(&b, (size_t)256 << 20);
    assert_int_equal(kiln_table_reader_open(path, NULL, &r, &err), KILN_OK);
    assert_int_equal(dump(r, &a, &err), 0);
    assert_int_equal(kiln_table_reader_bytes(r), len);
    kiln_table_reader_free(r);
    assert_int_equal(kiln_table_reader_open_mem(text, len, fname, NULL, &r, &err), KILN_OK);
    assert_int_equal(dump(r, &b, &err), 0);
    kiln_table_reader_free(r);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    kiln_buf_release(&a);
    kiln_buf_release(&b);
}

static void test_refill_boundaries(void **state)
{
    char dir[256];
    struct kiln_buf t;
    (void)state;
    assert_non_null(kiln_test_tmpdir(dir, sizeof(dir)));
    kiln_buf_init(&t, (size_t)64 << 20);
    kiln_buf_puts(&t, "id,text,v\n");
    /* 9 MiB of varied records so refills split records, quotes, "" pairs and CRLFs. */
    for (int i = 0; t.len < (size_t)9 << 20; i++) {
        if (i % 7 == 0)
            kiln_buf_printf(&t, "%d,\"q \"\"%d\"\"\nnext\",%d.5\r\n", i, i, i);
        else if (i % 11 == 0)
            kiln_buf_printf(&t, "%d,,NA\n\n", i);
        else
            kiln_buf_printf(&t, "%d,plain%d,%d\n", i, i * 31, -i);
    }
    /* One record of 6 MiB forces the buffer to grow. */
    kiln_buf_puts(&t, "big,\"");
    for (int i = 0; i < 6 << 20; i++)
        kiln_buf_putc(&t, (char)('a' + i % 26));
    kiln_buf_puts(&t, "\",1\nend,x,2");
    file_vs_mem(dir, "big.csv", t.buf, t.len);

    kiln_buf_reset(&t);
    for (int i = 0; t.len < (size_t)6 << 20; i++)
        kiln_buf_printf(&t, "{\"i\": %d, \"s\": \"v\\n%d\", \"n\": [%d, null]}\n", i, i, i);
    file_vs_mem(dir, "big.jsonl", t.buf, t.len);
    kiln_buf_release(&t);
    assert_int_equal(kiln_remove_tree(dir, NULL), KILN_OK);
}

static void test_limits(void **state)
{
    char dir[256], path[512];
    struct kiln_table_opts o = { 0 };
    struct kiln_table_reader *r = NULL;
    struct kiln_err err = { 0 };
    const struct kiln_cell *cells;
    struct kiln_buf t;
    (void)state;
    assert_non_null(kiln_test_tmpdir(dir, sizeof(dir)));
    kiln_buf_init(&t, (size_t)64 << 20);
    kiln_buf_puts(&t, "a\n1\n\"");
    for (int i = 0; i < 12 << 20; i++)
        kiln_buf_putc(&t, 'x');
    kiln_buf_puts(&t, "\"\n");
    snprintf(path, sizeof(path), "%s/long.csv", dir);
    assert_int_equal(kiln_write_file_atomic(path, t.buf, t.len, &err), KILN_OK);
    o.max_record = (size_t)8 << 20;
    assert_int_equal(kiln_table_reader_open(path, &o, &r, &err), KILN_OK);
    assert_int_equal(kiln_table_reader_next(r, &cells, &err), 1);
    assert_int_equal(kiln_table_reader_next(r, &cells, &err), KILN_ETOOBIG);
    assert_non_null(strstr(err.msg, "record longer than"));
    /* The error sticks. */
    assert_int_equal(kiln_table_reader_next(r, &cells, &err), KILN_ETOOBIG);
    kiln_table_reader_free(r);
    kiln_buf_release(&t);

    memset(&o, 0, sizeof(o));
    o.max_cols = 3;
    assert_int_equal(kiln_table_reader_open_mem("a,b,c,d\n", 8, "w.csv", &o, &r, &err),
                     KILN_ETOOBIG);
    assert_int_equal(kiln_table_reader_open("/nonexistent/x.csv", NULL, &r, &err), KILN_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/x.csv"));
    assert_int_equal(kiln_remove_tree(dir, NULL), KILN_OK);
}

static int oom_body(const char *text, const char *name)
{
    struct kiln_table_reader *r = NULL;
    struct kiln_buf b;
    int rc;
    kiln_buf_init(&b, KILN_BUF_MB);
    rc = kiln_table_reader_open_mem(text, strlen(text), name, NULL, &r, NULL);
    if (rc == KILN_OK)
        rc = dump(r, &b, NULL);
    kiln_table_reader_free(r);
    kiln_buf_release(&b);
    return rc < 0 ? rc : KILN_OK;
}

static void test_oom(void **state)
{
    (void)state;
    KILN_OOM_LOOP(oom_body("a,b\n\"x\"\"y\",2\n3,4\n", "o.csv"), (void)0);
    KILN_OOM_LOOP(oom_body("{\"a\":\"x\",\"b\":1}\n{\"b\":2}\n", "o.jsonl"), (void)0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_basic),
        cmocka_unit_test(test_csv_quotes),
        cmocka_unit_test(test_csv_options),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_jsonl_errors),
        cmocka_unit_test(test_refill_boundaries),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

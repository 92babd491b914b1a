/* Batch scoring: blocks come back in row order whatever the number of workers and the block
 * size, values and targets are converted per column, errors stop the run naming the file,
 * line and column (a bad cell, a failing sink, a failing formatter), and the SHA-256 used
 * for dataset digests matches the standard's test vectors. */
#include "kiln_test.h"

#include <math.h>

#include "core/str.h"
#include "serve/batch.h"
#include "core/digest.h"

/* y = 1 + 2 a + 3 b (regression); a string column `id` and a target `t` ride along. */
static const char MODEL[] =
    "{\"format\":\"kiln-model\",\"format_version\":1,\"task\":\"regression\","
    "\"inputs\":[{\"name\":\"a\",\"type\":\"double\"},{\"name\":\"b\",\"type\":\"long\"}],"
    "\"model\":{\"type\":\"linear\",\"n_features\":2,\"n_outputs\":1,\"link\":\"identity\","
    "\"coef\":[[2,3]],\"intercept\":[1]}}";

struct seen {
    uint64_t next_row, rows;
    int bad_order, bad_value;
    double target_sum;
    size_t keep_bytes, text_bytes;
    int fail_at; /* sink fails on this block index (-1: never) */
    int blocks;
};

static int target(void *ctx, const char *p, size_t len, int missing, double *out,
                  struct kiln_err *err)
{
    (void)ctx;
    if (missing)
        return kiln_err_set(err, KILN_EINVAL, "missing target");
    *out = (double)len + (p[0] == 'x');
    return KILN_OK;
}

static int keep(void *ctx, struct kiln_buf *b, size_t i, const char *p, size_t len, int missing)
{
    (void)ctx;
    (void)i;
    (void)missing;
    return kiln_buf_append(b, p, len);
}

static int format(void *ctx, struct kiln_batch_block *b, struct kiln_err *err)
{
    (void)ctx;
    (void)err;
    return kiln_buf_printf(b->text, "%zu rows\n", b->n);
}

static int sink(void *ctx, const struct kiln_batch_block *b, struct kiln_err *err)
{
    struct seen *s = ctx;
    if (s->fail_at == s->blocks++)
        return kiln_err_set(err, KILN_EIO, "disk full");
    if (b->first_row != s->next_row)
        s->bad_order = 1;
    for (size_t r = 0; r < b->n; r++) {
        double row = (double)(b->first_row + r);
        /* Row i has a = i, b = i % 7. */
        if (b->x[r * 2] != row || b->out.value[r] != 1 + 2 * row + 3 * fmod(row, 7))
            s->bad_value = 1;
        s->target_sum += b->target[r];
    }
    s->keep_bytes += b->keep_off[b->n] - b->keep_off[0];
    s->text_bytes += b->text->len;
    s->next_row += b->n;
    s->rows += b->n;
    return KILN_OK;
}

static char *make_csv(size_t n, long bad_row)
{
    struct kiln_buf b;
    kiln_buf_init(&b, (size_t)1 << 30);
    kiln_buf_puts(&b, "id,b,t,a\n");
    for (size_t i = 0; i < n; i++) {
        if ((long)i == bad_row)
            kiln_buf_printf(&b, "r%zu,oops,x,%zu\n", i, i);
        else
            kiln_buf_printf(&b, "r%zu,%zu,x,%zu\n", i, i % 7, i);
    }
    return kiln_buf_detach(&b, NULL);
}

static int run(const struct kiln_rt_model *m, const char *csv, int workers, size_t block,
               struct seen *s, struct kiln_err *err)
{
    static const char *const keep_cols[] = { "id" };
    struct kiln_table_reader *in = NULL;
    struct kiln_batch_opts o;
    struct kiln_batch_stats st;
    int rc = kiln_table_reader_open_mem(csv, strlen(csv), "rows.csv", NULL, &in, err);
    if (rc != KILN_OK)
        return rc;
    memset(&o, 0, sizeof(o));
    o.workers = workers;
    o.block_rows = block;
    o.target_column = "t";
    o.target_fn = target;
    o.keep = keep_cols;
    o.n_keep = 1;
    o.keep_fn = keep;
    o.format = format;
    o.sink = sink;
    o.ctx = s;
    rc = kiln_batch_run(m, in, &o, &st, err);
    if (rc == KILN_OK && st.rows != s->rows)
        rc = KILN_EINTERNAL;
    kiln_table_reader_free(in);
    return rc;
}

static struct kiln_rt_model *model(void)
{
    struct kiln_rt_model *m = NULL;
    struct kiln_err err = { 0 };
    assert_int_equal(kiln_rt_load_kiln_json(MODEL, strlen(MODEL), "model.json", &m, &err), KILN_OK);
    return m;
}

static void test_order_and_values(void **state)
{
    struct kiln_rt_model *m = model();
    char *csv = make_csv(10007, -1);
    static const int workers[] = { 1, 2, 5 };
    static const size_t blocks[] = { 1, 7, 4096 };
    (void)state;
    for (size_t w = 0; w < 3; w++)
        for (size_t b = 0; b < 3; b++) {
            struct seen s = { 0 };
            struct kiln_err err = { 0 };
            s.fail_at = -1;
            assert_int_equal(run(m, csv, workers[w], blocks[b], &s, &err), KILN_OK);
            assert_int_equal(s.rows, 10007);
            assert_false(s.bad_order);
            assert_false(s.bad_value);
            assert_true(s.target_sum == 2.0 * 10007);
            assert_true(s.keep_bytes > 10007);
            assert_true(s.text_bytes > 0);
        }
    kiln_free(csv);
    kiln_rt_free(m);
}

static void test_errors_stop_the_run(void **state)
{
    struct kiln_rt_model *m = model();
    char *csv = make_csv(5000, 3210);
    struct seen s = { 0 };
    struct kiln_err err = { 0 };
    (void)state;
    s.fail_at = -1;
    assert_int_equal(run(m, csv, 2, 100, &s, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "rows.csv: line 3212, column 'b': input 'b' (long)"));
    assert_true(s.rows <= 3210);
    kiln_free(csv);

    csv = make_csv(5000, -1);
    memset(&s, 0, sizeof(s));
    s.fail_at = 3;
    assert_int_equal(run(m, csv, 3, 64, &s, &err), KILN_EIO);
    assert_string_equal(err.msg, "disk full");
    assert_int_equal(s.rows, 3 * 64);
    kiln_free(csv);

    csv = make_csv(10, -1);
    memset(&s, 0, sizeof(s));
    s.fail_at = -1;
    csv[0] = 'x'; /* the header loses the id column... */
    assert_int_not_equal(run(m, csv, 1, 4, &s, &err), KILN_OK);
    assert_non_null(strstr(err.msg, "no column 'id' to keep"));
    kiln_free(csv);
    kiln_rt_free(m);
}

static void test_sha256_vectors(void **state)
{
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    unsigned char d[32];
    char hex[65];
    struct kiln_sha256 s;
    char *million = kiln_malloc(1000000);
    (void)state;
    for (size_t i = 0; i < KILN_ARRAY_LEN(v); i++) {
        /* Byte by byte and all at once must agree. */
        kiln_sha256_init(&s);
        for (size_t k = 0; v[i].in[k] != '\0'; k++)
            kiln_sha256_update(&s, v[i].in + k, 1);
        kiln_sha256_final(&s, d);
        kiln_hex_encode(d, 32, hex);
        assert_string_equal(hex, v[i].hex);
    }
    memset(million, 'a', 1000000);
    kiln_sha256_init(&s);
    kiln_sha256_update(&s, million, 999937);
    kiln_sha256_update(&s, million, 63);
    kiln_sha256_final(&s, d);
    kiln_hex_encode(d, 32, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    kiln_free(million);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_values),
        cmocka_unit_test(test_errors_stop_the_run),
        cmocka_unit_test(test_sha256_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

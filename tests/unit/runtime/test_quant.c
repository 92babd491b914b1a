/* int8 / float32 conversion of kiln MLP models and the drift report. */
#include "kiln_test.h"

#include <jansson.h>
#include <math.h>

#include "core/fs.h"
#include "runtime/quant.h"
#include "runtime/runtime.h"

#define HIDDEN 24
#define FEATURES 6

static uint64_t seed = 0x1234567ull;

static double rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void append_matrix(struct kiln_buf *b, size_t rows, size_t cols, double scale)
{
    kiln_buf_putc(b, '[');
    for (size_t j = 0; j < rows; j++) {
        kiln_buf_puts(b, j ? ",[" : "[");
        for (size_t i = 0; i < cols; i++)
            kiln_buf_printf(b, i ? ",%.17g" : "%.17g", rnd() * scale);
        kiln_buf_putc(b, ']');
    }
    kiln_buf_putc(b, ']');
}

static void append_vector(struct kiln_buf *b, size_t n, double scale)
{
    kiln_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++)
        kiln_buf_printf(b, i ? ",%.17g" : "%.17g", rnd() * scale);
    kiln_buf_putc(b, ']');
}

/* A random 6 -> hidden -> hidden -> 3 float64 MLP classifier in dir. */
static void write_mlp(const char *dir, int hidden)
{
    struct kiln_buf b;
    kiln_buf_init(&b, 1 << 20);
    kiln_buf_puts(&b, "{\"format\":\"kiln-model\",\"format_version\":1,\"task\":\"classification\","
                      "\"classes\":[\"a\",\"b\",\"c\"],\"inputs\":[");
    for (int i = 0; i < FEATURES; i++)
        kiln_buf_printf(&b, "%s{\"name\":\"x%d\",\"type\":\"double\"}", i ? "," : "", i);
    kiln_buf_printf(&b,
                    "],\"model\":{\"type\":\"mlp\",\"n_features\":%d,\"n_outputs\":3,"
                    "\"link\":\"softmax\",\"layers\":[",
                    FEATURES);
    kiln_buf_printf(&b, "{\"n_in\":%d,\"n_out\":%d,\"activation\":\"relu\",\"weights\":", FEATURES,
                    hidden);
    append_matrix(&b, hidden, FEATURES, 1.0);
    kiln_buf_puts(&b, ",\"bias\":");
    append_vector(&b, hidden, 0.1);
    kiln_buf_puts(&b, "},");
    kiln_buf_printf(&b, "{\"n_in\":%d,\"n_out\":%d,\"activation\":\"tanh\",\"weights\":", hidden,
                    hidden);
    append_matrix(&b, hidden, hidden, 0.3);
    kiln_buf_puts(&b, ",\"bias\":");
    append_vector(&b, hidden, 0.1);
    kiln_buf_puts(&b, "},");
    kiln_buf_printf(&b,
                    "{\"n_in\":%d,\"n_out\":3,\"activation\":\"identity\",\"weights\":", hidden);
    append_matrix(&b, 3, hidden, 0.5);
    kiln_buf_puts(&b, ",\"bias\":");
    append_vector(&b, 3, 0.1);
    kiln_buf_puts(&b, "}]}}");
    put(dir, "model.json", b.buf);
    put(dir, "MLmodel",
        "flavors:\n  kiln:\n    data: model.json\n    format_version: 1\n"
        "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"x0\"}, "
        "{\"type\": \"double\", \"name\": \"x1\"}, {\"type\": \"double\", "
        "\"name\": \"x2\"}, {\"type\": \"double\", \"name\": \"x3\"}, "
        "{\"type\": \"double\", \"name\": \"x4\"}, {\"type\": \"double\", "
        "\"name\": \"x5\"}]'\n");
    kiln_buf_release(&b);
}

static char root[256], src[300], tiny[300], out[300];
static double calib[200 * FEATURES];

static int setup(void **state)
{
    (void)state;
    assert_non_null(kiln_test_tmpdir(root, sizeof(root)));
    snprintf(src, sizeof(src), "%s/src", root);
    snprintf(tiny, sizeof(tiny), "%s/tiny", root);
    snprintf(out, sizeof(out), "%s/out", root);
    assert_int_equal(kiln_mkdirs(src, 0755, NULL), KILN_OK);
    assert_int_equal(kiln_mkdirs(tiny, 0755, NULL), KILN_OK);
    write_mlp(src, HIDDEN);
    write_mlp(tiny, 2);
    for (size_t i = 0; i < 200 * FEATURES; i++)
        calib[i] = rnd() * 2.0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kiln_remove_tree(root, NULL);
    return 0;
}

static void test_int8_report(void **state)
{
    struct kiln_quant_opts o = { KILN_QUANT_INT8, 0, 5 };
    struct kiln_quant_report rep;
    struct kiln_err err = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_buf b;
    struct kiln_jsonw w;
    (void)state;
    kiln_remove_tree(out, NULL);
    assert_int_equal(kiln_quant_mlp(src, calib, 200, out, &o, &rep, &err), KILN_OK);
    assert_string_equal(rep.src_engine, "mlp-float64");
    assert_string_equal(rep.dst_engine, "mlp-int8");
    assert_int_equal(rep.n_rows, 200);
    assert_true(rep.classifier);
    assert_true(rep.agreement >= 0.95 && rep.agreement <= 1.0);
    assert_true(rep.max_abs_dproba > 0.0 && rep.max_abs_dproba < 0.05);
    assert_true(rep.mean_abs_dproba <= rep.max_abs_dproba);
    assert_true(rep.src_ns_per_row > 0 && rep.dst_ns_per_row > 0 && rep.speedup > 0);
    assert_true(rep.dst_bytes > 0 && rep.dst_bytes < rep.src_bytes);
    /* The new directory is a loadable kiln model with the source's signature. */
    assert_int_equal(kiln_rt_load(out, NULL, &m, &err), KILN_OK);
    assert_string_equal(kiln_rt_engine(m), "mlp-int8");
    assert_string_equal(kiln_rt_class(m, 2)->text, "c");
    kiln_rt_free(m);
    kiln_buf_init(&b, 1 << 16);
    kiln_jsonw_init(&w, &b);
    kiln_quant_report_json(&rep, &w);
    assert_int_equal(kiln_jsonw_finish(&w), KILN_OK);
    assert_non_null(strstr(b.buf, "\"engine\":\"mlp-int8\""));
    kiln_buf_release(&b);
    /* It exists now: refused, and already int8: refused. */
    assert_int_equal(kiln_quant_mlp(src, calib, 200, out, &o, &rep, &err), KILN_EEXIST);
    {
        char out2[320];
        snprintf(out2, sizeof(out2), "%s2", out);
        assert_int_equal(kiln_quant_mlp(out, calib, 200, out2, &o, &rep, &err), KILN_EINVAL);
        assert_non_null(strstr(err.msg, "already quantized"));
        assert_false(kiln_is_dir(out2));
    }
}

static void test_min_agreement_keeps_output_layer(void **state)
{
    struct kiln_quant_opts o = { KILN_QUANT_INT8, 1.01, 1 };
    struct kiln_quant_report rep;
    struct kiln_err err = { 0 };
    struct kiln_rt_model *m = NULL;
    (void)state;
    kiln_remove_tree(out, NULL);
    assert_int_equal(kiln_quant_mlp(src, calib, 50, out, &o, &rep, &err), KILN_OK);
    assert_true(rep.output_layer_fp32);
    assert_int_equal(kiln_rt_load(out, NULL, &m, &err), KILN_OK);
    assert_string_equal(kiln_rt_engine(m), "mlp-int8");
    kiln_rt_free(m);
}

static void test_float32(void **state)
{
    struct kiln_quant_opts o = { KILN_QUANT_FLOAT32, 0, 1 };
    struct kiln_quant_report rep;
    struct kiln_err err = { 0 };
    (void)state;
    kiln_remove_tree(out, NULL);
    assert_int_equal(kiln_quant_mlp(src, calib, 200, out, &o, &rep, &err), KILN_OK);
    assert_string_equal(rep.dst_engine, "mlp-float32");
    assert_true(rep.agreement == 1.0);
    assert_true(rep.max_abs_dproba < 1e-5);
}

static void test_refusals(void **state)
{
    struct kiln_quant_report rep;
    struct kiln_err err = { 0 };
    double bad[FEATURES] = { 0, 0, NAN, 0, 0, 0 };
    char nodir[320];
    (void)state;
    kiln_remove_tree(out, NULL);
    assert_int_equal(kiln_quant_mlp(src, bad, 1, out, NULL, &rep, &err), KILN_EINVAL);
    assert_non_null(strstr(err.msg, "input 'x2'"));
    assert_false(kiln_is_dir(out));
    assert_int_equal(kiln_quant_mlp(src, calib, 0, out, NULL, &rep, &err), KILN_EINVAL);
    snprintf(nodir, sizeof(nodir), "%s/none", root);
    assert_int_equal(kiln_quant_mlp(nodir, calib, 1, out, NULL, &rep, &err), KILN_ENOENT);
}

static void test_oom(void **state)
{
    struct kiln_quant_opts o = { KILN_QUANT_INT8, 0, 1 };
    struct kiln_quant_report rep;
    (void)state;
    kiln_remove_tree(out, NULL);
    KILN_OOM_LOOP(kiln_quant_mlp(tiny, calib, 4, out, &o, &rep, NULL),
                  assert_false(kiln_is_dir(out)));
    assert_true(kiln_is_dir(out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_report), cmocka_unit_test(test_min_agreement_keeps_output_layer),
        cmocka_unit_test(test_float32),     cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_oom),
    };
    json_set_alloc_funcs(kiln_malloc, kiln_free);
    return cmocka_run_group_tests(tests, setup, teardown);
}

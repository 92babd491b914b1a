/*
 * Dense-layer kernels: every instruction-set path gives the same int8 results bit for bit,
 * and fp32 results close to a double-precision reference. Includes runtime_int.h (the
 * kernels are internal to src/runtime).
 */
#include "kiln_test.h"

#include <math.h>

#include "runtime/runtime_int.h"

static uint64_t seed = 88172645463325252ull;

static double rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Shapes chosen to hit every tile and remainder: rows 1..9, odd widths, > 64 outputs. */
static const size_t shapes[][3] = {
    { 1, 3, 5 }, { 4, 64, 16 }, { 5, 7, 33 }, { 9, 130, 70 }, { 8, 256, 256 }, { 3, 1, 1 },
};

static void test_int8_paths_are_identical(void **state)
{
    enum rt_isa best = rt_isa_detect();
    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t nb = shapes[s][0], n_in = shapes[s][1], n_out = shapes[s][2];
        size_t ldx = RT_PAD_IN(n_in) + 16, ldq = RT_PAD_OUT(n_out);
        int8_t *wq = kiln_malloc(n_in * n_out);
        float *x = kiln_malloc(nb * ldx * sizeof(float));
        int8_t *xq[3] = { NULL, NULL, NULL };
        float *sx[3] = { NULL, NULL, NULL };
        int32_t *q[3] = { NULL, NULL, NULL };
        double *ref = kiln_calloc(nb * n_out, sizeof(double));
        for (size_t i = 0; i < n_in * n_out; i++)
            wq[i] = (int8_t)lrint(rnd() * 127.0);
        for (size_t i = 0; i < nb * ldx; i++)
            x[i] = (float)(rnd() * 3.0);
        x[0] = NAN; /* NaN activations quantize to 0 on every path */
        for (int isa = 0; isa <= (int)best; isa++) {
            struct rt_s8w pw;
            xq[isa] = kiln_calloc(nb * ldx, 2);
            sx[isa] = kiln_calloc(nb, sizeof(float));
            q[isa] = kiln_calloc(nb * ldq, sizeof(int32_t));
            assert_int_equal(rt_k_s8_pack(&pw, (enum rt_isa)isa, wq, n_in, n_out), KILN_OK);
            rt_k_quant_rows((enum rt_isa)isa, x, ldx, nb, n_in, xq[isa], ldx, sx[isa]);
            rt_k_s8_gemm(&pw, xq[isa], ldx, nb, q[isa], ldq);
            rt_k_s8_release(&pw);
        }
        for (size_t r = 0; r < nb; r++)
            for (size_t j = 0; j < n_out; j++) {
                /* Exact integer reference from the generic quantization. */
                int64_t acc = 0;
                for (size_t i = 0; i < n_in; i++)
                    acc += (int64_t)xq[0][r * ldx + i] * wq[j * n_in + i];
                ref[r * n_out + j] = (double)acc;
                for (int isa = 0; isa <= (int)best; isa++)
                    if (q[isa][r * ldq + j] != acc)
                        fail_msg("isa %s: shape %zu row %zu out %zu: %d != %lld",
                                 rt_isa_name((enum rt_isa)isa), s, r, j, q[isa][r * ldq + j],
                                 (long long)acc);
            }
        for (int isa = 1; isa <= (int)best; isa++)
            assert_memory_equal(sx[0], sx[isa], nb * sizeof(float));
        /* Dequantization (with and without ReLU) is identical across paths too. */
        for (int relu = 0; relu < 2; relu++) {
            float *scale = kiln_malloc(ldq * sizeof(float)), *b = kiln_malloc(ldq * sizeof(float));
            float *y0 = kiln_malloc(nb * ldq * sizeof(float)),
                  *y1 = kiln_malloc(nb * ldq * sizeof(float));
            for (size_t j = 0; j < ldq; j++) {
                scale[j] = (float)(fabs(rnd()) * 0.01 + 1e-4);
                b[j] = (float)rnd();
            }
            rt_k_dequant_rows(RT_ISA_GENERIC, q[0], ldq, nb, n_out, sx[0], scale, b, relu, y0, ldq);
            rt_k_dequant_rows(best, q[0], ldq, nb, n_out, sx[0], scale, b, relu, y1, ldq);
            for (size_t r = 0; r < nb; r++)
                assert_memory_equal(y0 + r * ldq, y1 + r * ldq, n_out * sizeof(float));
            kiln_free(scale);
            kiln_free(b);
            kiln_free(y0);
            kiln_free(y1);
        }
        for (int isa = 0; isa <= (int)best; isa++) {
            kiln_free(xq[isa]);
            kiln_free(sx[isa]);
            kiln_free(q[isa]);
        }
        kiln_free(wq);
        kiln_free(x);
        kiln_free(ref);
    }
}

static void test_quantization_rounds_to_nearest(void **state)
{
    float x[5] = { 1.0f, -2.0f, 0.5f, 0.0f, 2.0f };
    int8_t q[8];
    float s;
    (void)state;
    rt_k_quant_rows(RT_ISA_GENERIC, x, 5, 1, 5, q, 8, &s);
    assert_true(s == 2.0f / 127.0f);
    assert_int_equal(q[1], -127);
    assert_int_equal(q[4], 127);
    assert_int_equal(q[0], 64); /* 63.5 rounds to even */
    assert_int_equal(q[2], 32); /* 31.75 */
    assert_int_equal(q[3], 0);
    assert_int_equal(q[5], 0);
    assert_int_equal(q[7], 0);
    x[0] = x[1] = x[2] = x[4] = 0.0f;
    rt_k_quant_rows(RT_ISA_GENERIC, x, 5, 1, 5, q, 8, &s);
    assert_true(s == 0.0f);
}

static void test_f32_close_to_reference(void **state)
{
    enum rt_isa best = rt_isa_detect();
    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t nb = shapes[s][0], n_in = shapes[s][1], n_out = shapes[s][2];
        size_t ldw = RT_PAD_OUT(n_out), ldx = n_in + 3;
        float *w = kiln_calloc(n_in * ldw, sizeof(float)), *b = kiln_calloc(ldw, sizeof(float));
        float *x = kiln_malloc(nb * ldx * sizeof(float));
        float *y = kiln_malloc(nb * ldw * sizeof(float));
        for (size_t i = 0; i < n_in; i++)
            for (size_t j = 0; j < n_out; j++)
                w[i * ldw + j] = (float)rnd();
        for (size_t j = 0; j < n_out; j++)
            b[j] = (float)rnd();
        for (size_t i = 0; i < nb * ldx; i++)
            x[i] = (float)rnd();
        for (int isa = 0; isa <= (int)best; isa++) {
            rt_k_f32_dense((enum rt_isa)isa, x, ldx, nb, w, n_in, ldw, b, y, ldw);
            for (size_t r = 0; r < nb; r++)
                for (size_t j = 0; j < n_out; j++) {
                    double ref = b[j];
                    for (size_t i = 0; i < n_in; i++)
                        ref += (double)x[r * ldx + i] * (double)w[i * ldw + j];
                    if (fabs(y[r * ldw + j] - ref) > 1e-5 * (1.0 + (double)n_in))
                        fail_msg("isa %d shape %zu: %g vs %g", isa, s, (double)y[r * ldw + j], ref);
                }
        }
        kiln_free(w);
        kiln_free(b);
        kiln_free(x);
        kiln_free(y);
    }
}

static void test_relu(void **state)
{
    float y[11] = { -1, 2, -0.0f, 3, -4, 5, -6, 7, -8, 9, -10 };
    (void)state;
    rt_k_relu(rt_isa_detect(), y, 11);
    for (int i = 0; i < 11; i++)
        assert_true(y[i] >= 0.0f);
    assert_true(y[9] == 9.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_paths_are_identical),
        cmocka_unit_test(test_quantization_rounds_to_nearest),
        cmocka_unit_test(test_f32_close_to_reference),
        cmocka_unit_test(test_relu),
    };
    printf("# kernels: best instruction set here is %s\n", rt_isa_name(rt_isa_detect()));
    return cmocka_run_group_tests(tests, NULL, NULL);
}

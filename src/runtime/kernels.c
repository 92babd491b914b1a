/*
 * kernels.c - dense-layer kernels for MLPs: fp32 (AVX2+FMA or C) and int8 (AVX-512 VNNI in
 * its 256-bit form, AVX2 16-bit multiply-add, or C).
 *
 * Tiles: 4 rows x 16 outputs (8 accumulators) when at least 4 rows remain, else 1 row x 64
 * outputs, so a single-row call still has enough independent accumulation chains.
 *
 * int8 packings (16 outputs per tile, two halves of 8 outputs, 64 bytes per step):
 *   VNNI:  [tile][i/4][half][8 outputs][4 inputs] int8. vpdpbusd multiplies unsigned by
 *          signed bytes, so activations are offset by 128 (x ^ 0x80) and 128 * the column
 *          sum of the weights is subtracted afterwards, which makes the sum exact.
 *   AVX2:  [tile][i/2][half][8 outputs][2 inputs] int16, for vpmaddwd.
 *   C:     [i][ldw] int8.
 * All three compute the same int32 sums. Quantizing activations and dequantizing sums are
 * shared scalar code, so every path gives bit-identical int8 results.
 *
 * Thread-safe: pure functions over caller memory; rt_isa_detect reads only the CPU and the
 * environment.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "runtime/runtime_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RT_X86 1
#include <immintrin.h>
#define LOADI(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define STOREI(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#else
#define RT_X86 0
#endif

void *rt_aalloc(size_t bytes)
{
    unsigned char *raw = kiln_malloc(bytes + 64);
    unsigned char *p;
    if (raw == NULL)
        return NULL;
    p = (unsigned char *)(((uintptr_t)raw + 64) & ~(uintptr_t)63);
    p[-1] = (unsigned char)(p - raw);
    return p;
}

void rt_afree(void *p)
{
    unsigned char *q = p;
    if (q == NULL)
        return;
    kiln_free(q - q[-1]);
}

const char *rt_isa_name(enum rt_isa isa)
{
    return isa == RT_ISA_VNNI ? "avx512vnni" : isa == RT_ISA_AVX2 ? "avx2" : "generic";
}

enum rt_isa rt_isa_detect(void)
{
    enum rt_isa best = RT_ISA_GENERIC, cap = RT_ISA_VNNI;
    const char *env = getenv("KILN_RUNTIME_ISA");

    if (env != NULL && strcmp(env, "generic") == 0)
        cap = RT_ISA_GENERIC;
    else if (env != NULL && strcmp(env, "avx2") == 0)
        cap = RT_ISA_AVX2;
#if RT_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        best = RT_ISA_AVX2;
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl"))
            best = RT_ISA_VNNI;
    }
#endif
    return best < cap ? best : cap;
}

/* ---- fp32 ---- */

static void f32_generic(const float *x, size_t ldx, size_t nb, const float *w, size_t n_in,
                        size_t ldw, const float *b, float *y, size_t ldy)
{
    for (size_t r = 0; r < nb; r++) {
        float *yr = y + r * ldy;
        const float *xr = x + r * ldx;
        memcpy(yr, b, ldw * sizeof(float));
        for (size_t i = 0; i < n_in; i++) {
            const float *wr = w + i * ldw;
            float a = xr[i];
            if (a == 0.0f)
                continue;
            for (size_t j = 0; j < ldw; j++)
                yr[j] += a * wr[j];
        }
    }
}

#if RT_X86
__attribute__((target("avx2,fma"))) static void f32_avx2(const float *x, size_t ldx, size_t nb,
                                                         const float *w, size_t n_in, size_t ldw,
                                                         const float *b, float *y, size_t ldy)
{
    size_t r = nb & ~(size_t)3;
    /* Output tiles outer, row tiles inner: a tile's weights stay in L1 while every
     * row of the block uses them. */
    for (size_t j = 0; r > 0 && j < ldw; j += 16) {
        for (size_t r4 = 0; r4 < r; r4 += 4) {
            const float *x0 = x + r4 * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
            __m256 b0 = _mm256_loadu_ps(b + j), b1 = _mm256_loadu_ps(b + j + 8);
            __m256 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
            const float *wp = w + j;
            for (size_t i = 0; i < n_in; i++, wp += ldw) {
                __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8);
                __m256 v = _mm256_broadcast_ss(x0 + i);
                a00 = _mm256_fmadd_ps(v, w0, a00);
                a01 = _mm256_fmadd_ps(v, w1, a01);
                v = _mm256_broadcast_ss(x1 + i);
                a10 = _mm256_fmadd_ps(v, w0, a10);
                a11 = _mm256_fmadd_ps(v, w1, a11);
                v = _mm256_broadcast_ss(x2 + i);
                a20 = _mm256_fmadd_ps(v, w0, a20);
                a21 = _mm256_fmadd_ps(v, w1, a21);
                v = _mm256_broadcast_ss(x3 + i);
                a30 = _mm256_fmadd_ps(v, w0, a30);
                a31 = _mm256_fmadd_ps(v, w1, a31);
            }
            float *yr = y + r4 * ldy + j;
            _mm256_storeu_ps(yr, a00);
            _mm256_storeu_ps(yr + 8, a01);
            _mm256_storeu_ps(yr + ldy, a10);
            _mm256_storeu_ps(yr + ldy + 8, a11);
            _mm256_storeu_ps(yr + 2 * ldy, a20);
            _mm256_storeu_ps(yr + 2 * ldy + 8, a21);
            _mm256_storeu_ps(yr + 3 * ldy, a30);
            _mm256_storeu_ps(yr + 3 * ldy + 8, a31);
        }
    }
    for (; r < nb; r++) {
        const float *xr = x + r * ldx;
        float *yr = y + r * ldy;
        size_t j = 0;
        for (; j + 64 <= ldw; j += 64) {
            __m256 a0 = _mm256_loadu_ps(b + j), a1 = _mm256_loadu_ps(b + j + 8);
            __m256 a2 = _mm256_loadu_ps(b + j + 16), a3 = _mm256_loadu_ps(b + j + 24);
            __m256 a4 = _mm256_loadu_ps(b + j + 32), a5 = _mm256_loadu_ps(b + j + 40);
            __m256 a6 = _mm256_loadu_ps(b + j + 48), a7 = _mm256_loadu_ps(b + j + 56);
            const float *wp = w + j;
            for (size_t i = 0; i < n_in; i++, wp += ldw) {
                __m256 v = _mm256_broadcast_ss(xr + i);
                a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp), a0);
                a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 8), a1);
                a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 16), a2);
                a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 24), a3);
                a4 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 32), a4);
                a5 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 40), a5);
                a6 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 48), a6);
                a7 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 56), a7);
            }
            _mm256_storeu_ps(yr + j, a0);
            _mm256_storeu_ps(yr + j + 8, a1);
            _mm256_storeu_ps(yr + j + 16, a2);
            _mm256_storeu_ps(yr + j + 24, a3);
            _mm256_storeu_ps(yr + j + 32, a4);
            _mm256_storeu_ps(yr + j + 40, a5);
            _mm256_storeu_ps(yr + j + 48, a6);
            _mm256_storeu_ps(yr + j + 56, a7);
        }
        for (; j < ldw; j += 16) {
            __m256 a0 = _mm256_loadu_ps(b + j), a1 = _mm256_loadu_ps(b + j + 8);
            const float *wp = w + j;
            for (size_t i = 0; i < n_in; i++, wp += ldw) {
                __m256 v = _mm256_broadcast_ss(xr + i);
                a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp), a0);
                a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 8), a1);
            }
            _mm256_storeu_ps(yr + j, a0);
            _mm256_storeu_ps(yr + j + 8, a1);
        }
    }
}
#endif

void rt_k_f32_dense(enum rt_isa isa, const float *x, size_t ldx, size_t nb, const float *w,
                    size_t n_in, size_t ldw, const float *b, float *y, size_t ldy)
{
#if RT_X86
    if (isa >= RT_ISA_AVX2) {
        f32_avx2(x, ldx, nb, w, n_in, ldw, b, y, ldy);
        return;
    }
#endif
    (void)isa;
    f32_generic(x, ldx, nb, w, n_in, ldw, b, y, ldy);
}

/* ---- int8 ---- */

/*
 * Activation quantization and dequantization. The scalar and AVX2 versions give identical
 * results: the same float operations in the same order (no FMA), round-to-nearest-even
 * conversion, NaN mapped to 0, values clamped to [-127, 127] before conversion.
 */
static float row_absmax(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > m)
            m = a;
    }
    return m;
}

/* Output forms of quantized activations: int8, int8 + 128 (VNNI), int16 (AVX2). */
enum qform { Q_S8, Q_U8, Q_S16 };

static void quant_generic(const float *xr, size_t n, float inv, void *out, enum qform form)
{
    for (size_t i = 0; i < n; i++) {
        float v = xr[i] * inv;
        int k;
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        k = v == v ? (int)lrintf(v) : 0;
        if (form == Q_S16)
            ((int16_t *)out)[i] = (int16_t)k;
        else
            ((int8_t *)out)[i] = (int8_t)(uint8_t)(form == Q_U8 ? k + 128 : k & 0xff);
    }
}

static void dequant_generic(const int32_t *q, size_t n, float s, const float *scale, const float *b,
                            int relu, float *y)
{
    for (size_t j = 0; j < n; j++) {
        float f = s * scale[j];
        float p = (float)q[j] * f;
        float v = p + b[j];
        y[j] = relu && v < 0.0f ? 0.0f : v;
    }
}

static void relu_generic(float *y, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (y[j] < 0.0f)
            y[j] = 0.0f;
}

#if RT_X86
__attribute__((target("avx2"))) static float row_absmax_avx2(const float *x, size_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    float out[8], r = 0.0f;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
    _mm256_storeu_ps(out, m);
    for (int k = 0; k < 8; k++)
        r = out[k] > r ? out[k] : r;
    for (; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > r)
            r = a;
    }
    return r;
}

__attribute__((target("avx2"))) static void quant_avx2(const float *xr, size_t n, float inv,
                                                       void *out, enum qform form)
{
    const __m256 vinv = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f),
                 lo = _mm256_set1_ps(-127.0f);
    const __m128i off = _mm_set1_epi8(form == Q_U8 ? (char)0x80 : 0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv);
        __m256 ord = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
        v = _mm256_and_ps(_mm256_min_ps(_mm256_max_ps(v, lo), hi), ord);
        __m256i iv = _mm256_cvtps_epi32(v);
        __m128i s16 = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
        if (form == Q_S16) {
            _mm_storeu_si128((__m128i *)(void *)((int16_t *)out + i), s16);
        } else {
            __m128i s8 = _mm_xor_si128(_mm_packs_epi16(s16, s16), off);
            _mm_storel_epi64((__m128i *)(void *)((int8_t *)out + i), s8);
        }
    }
    quant_generic(xr + i, n - i, inv,
                  form == Q_S16 ? (void *)((int16_t *)out + i) : (void *)((int8_t *)out + i), form);
}

__attribute__((target("avx2"))) static void dequant_avx2(const int32_t *q, size_t n, float s,
                                                         const float *scale, const float *b,
                                                         int relu, float *y)
{
    const __m256 vs = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 f = _mm256_mul_ps(vs, _mm256_loadu_ps(scale + j));
        __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(LOADI(q + j)), f);
        __m256 v = _mm256_add_ps(p, _mm256_loadu_ps(b + j));
        if (relu)
            v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
        _mm256_storeu_ps(y + j, v);
    }
    dequant_generic(q + j, n - j, s, scale + j, b + j, relu, y + j);
}

__attribute__((target("avx2"))) static void relu_avx2(float *y, size_t n)
{
    const __m256 zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(y + j);
        _mm256_storeu_ps(y + j, _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ)));
    }
    relu_generic(y + j, n - j);
}
#endif

void rt_k_quant_rows(enum rt_isa isa, const float *x, size_t ldx, size_t nb, size_t n, int8_t *xq,
                     size_t ldq, float *s)
{
    enum qform form = isa == RT_ISA_VNNI ? Q_U8 : isa == RT_ISA_AVX2 ? Q_S16 : Q_S8;
    size_t es = form == Q_S16 ? 2 : 1;
    for (size_t r = 0; r < nb; r++) {
        const float *xr = x + r * ldx;
        int8_t *q = xq + r * ldq * es;
        float m, inv;
#if RT_X86
        m = isa >= RT_ISA_AVX2 ? row_absmax_avx2(xr, n) : row_absmax(xr, n);
#else
        m = row_absmax(xr, n);
#endif
        inv = m > 0.0f && isfinite(m) ? 127.0f / m : 0.0f;
        s[r] = inv > 0.0f ? m / 127.0f : 0.0f;
#if RT_X86
        if (isa >= RT_ISA_AVX2)
            quant_avx2(xr, n, inv, q, form);
        else
#endif
            quant_generic(xr, n, inv, q, form);
        memset(q + n * es, 0, (ldq - n) * es);
    }
}

void rt_k_dequant_rows(enum rt_isa isa, const int32_t *q, size_t ldq, size_t nb, size_t n,
                       const float *s, const float *scale, const float *b, int relu, float *y,
                       size_t ldy)
{
    (void)isa;
    for (size_t r = 0; r < nb; r++) {
#if RT_X86
        if (isa >= RT_ISA_AVX2) {
            dequant_avx2(q + r * ldq, n, s[r], scale, b, relu, y + r * ldy);
            continue;
        }
#endif
        dequant_generic(q + r * ldq, n, s[r], scale, b, relu, y + r * ldy);
    }
}

void rt_k_relu(enum rt_isa isa, float *y, size_t n)
{
    (void)isa;
#if RT_X86
    if (isa >= RT_ISA_AVX2) {
        relu_avx2(y, n);
        return;
    }
#endif
    relu_generic(y, n);
}

static void s8_generic(const struct rt_s8w *pw, const int8_t *xq, size_t ldx, size_t nb, int32_t *q,
                       size_t ldq)
{
    const int8_t *w = pw->w;
    size_t ldw = pw->ldw;
    for (size_t r = 0; r < nb; r++) {
        int32_t *qr = q + r * ldq;
        const int8_t *xr = xq + r * ldx;
        memset(qr, 0, ldw * sizeof(int32_t));
        for (size_t i = 0; i < pw->n_in; i++) {
            int32_t a = xr[i];
            const int8_t *wr = w + i * ldw;
            if (a == 0)
                continue;
            for (size_t j = 0; j < ldw; j++)
                qr[j] += a * (int32_t)wr[j];
        }
    }
}

#if RT_X86
/* Two consecutive int16 activations as one 32-bit lane (vpmaddwd pairs them). */
static inline int32_t pair16(const int16_t *x)
{
    int32_t v;
    memcpy(&v, x, 4);
    return v;
}

__attribute__((target("avx2"))) static void s8_avx2(const struct rt_s8w *pw, const int8_t *xq,
                                                    size_t ldx, size_t nb, int32_t *q, size_t ldq)
{
    size_t P = (pw->n_in + 1) / 2, tiles = pw->ldw / 16;
    const int16_t *w = pw->w;
    size_t r = nb & ~(size_t)3;
    /* Output tiles outer, row tiles inner: a tile's weights stay in L1 while every
     * row of the block uses them. */
    for (size_t t = 0; r > 0 && t < tiles; t++) {
        for (size_t r4 = 0; r4 < r; r4 += 4) {
            const int16_t *x0 = (const int16_t *)(const void *)xq + r4 * ldx, *x1 = x0 + ldx,
                          *x2 = x1 + ldx, *x3 = x2 + ldx;
            const int16_t *wp = w + t * P * 32;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
                    c21 = c00, c30 = c00, c31 = c00;
            for (size_t p = 0; p < P; p++, wp += 32) {
                __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)wp);
                __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wp + 16));
                __m256i a = _mm256_set1_epi32(pair16(x0 + 2 * p));
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a, w0));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a, w1));
                a = _mm256_set1_epi32(pair16(x1 + 2 * p));
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a, w0));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a, w1));
                a = _mm256_set1_epi32(pair16(x2 + 2 * p));
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(a, w0));
                c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(a, w1));
                a = _mm256_set1_epi32(pair16(x3 + 2 * p));
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(a, w0));
                c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(a, w1));
            }
            int32_t *qp = q + r4 * ldq + t * 16;
            _mm256_storeu_si256((__m256i *)(void *)qp, c00);
            _mm256_storeu_si256((__m256i *)(void *)(qp + 8), c01);
            _mm256_storeu_si256((__m256i *)(void *)(qp + ldq), c10);
            _mm256_storeu_si256((__m256i *)(void *)(qp + ldq + 8), c11);
            _mm256_storeu_si256((__m256i *)(void *)(qp + 2 * ldq), c20);
            _mm256_storeu_si256((__m256i *)(void *)(qp + 2 * ldq + 8), c21);
            _mm256_storeu_si256((__m256i *)(void *)(qp + 3 * ldq), c30);
            _mm256_storeu_si256((__m256i *)(void *)(qp + 3 * ldq + 8), c31);
        }
    }
    for (; r < nb; r++) {
        const int16_t *xr = (const int16_t *)(const void *)xq + r * ldx;
        size_t t = 0;
        for (; t + 4 <= tiles; t += 4) {
            /* Four tiles (64 outputs): eight named accumulators stay in registers. */
            const int16_t *w0 = w + t * P * 32, *w1 = w0 + P * 32, *w2 = w1 + P * 32,
                          *w3 = w2 + P * 32;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0,
                    c6 = c0, c7 = c0;
            for (size_t p = 0; p < P; p++) {
                __m256i a = _mm256_set1_epi32(pair16(xr + 2 * p));
                c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(a, LOADI(w0 + p * 32)));
                c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(a, LOADI(w0 + p * 32 + 16)));
                c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(a, LOADI(w1 + p * 32)));
                c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(a, LOADI(w1 + p * 32 + 16)));
                c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(a, LOADI(w2 + p * 32)));
                c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(a, LOADI(w2 + p * 32 + 16)));
                c6 = _mm256_add_epi32(c6, _mm256_madd_epi16(a, LOADI(w3 + p * 32)));
                c7 = _mm256_add_epi32(c7, _mm256_madd_epi16(a, LOADI(w3 + p * 32 + 16)));
            }
            int32_t *qp = q + r * ldq + t * 16;
            STOREI(qp, c0);
            STOREI(qp + 8, c1);
            STOREI(qp + 16, c2);
            STOREI(qp + 24, c3);
            STOREI(qp + 32, c4);
            STOREI(qp + 40, c5);
            STOREI(qp + 48, c6);
            STOREI(qp + 56, c7);
        }
        for (; t < tiles; t++) {
            const int16_t *wp = w + t * P * 32;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0;
            for (size_t p = 0; p < P; p++, wp += 32) {
                __m256i a = _mm256_set1_epi32(pair16(xr + 2 * p));
                c0 = _mm256_add_epi32(
                    c0,
                    _mm256_madd_epi16(a, _mm256_loadu_si256((const __m256i *)(const void *)wp)));
                c1 = _mm256_add_epi32(
                    c1, _mm256_madd_epi16(
                            a, _mm256_loadu_si256((const __m256i *)(const void *)(wp + 16))));
            }
            _mm256_storeu_si256((__m256i *)(void *)(q + r * ldq + t * 16), c0);
            _mm256_storeu_si256((__m256i *)(void *)(q + r * ldq + t * 16 + 8), c1);
        }
    }
}

static inline int32_t quad_u8(const int8_t *x)
{
    int32_t v;
    memcpy(&v, x, 4);
    return v;
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static void
s8_vnni(const struct rt_s8w *pw, const int8_t *xq, size_t ldx, size_t nb, int32_t *q, size_t ldq)
{
    size_t G = RT_PAD_IN(pw->n_in) / 4, tiles = pw->ldw / 16;
    const int8_t *w = pw->w;
    size_t r = nb & ~(size_t)3;
    /* Output tiles outer, row tiles inner: a tile's weights stay in L1 while every
     * row of the block uses them. */
    for (size_t t = 0; r > 0 && t < tiles; t++) {
        for (size_t r4 = 0; r4 < r; r4 += 4) {
            const int8_t *x0 = xq + r4 * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
            const int8_t *wp = w + t * G * 64;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
                    c21 = c00, c30 = c00, c31 = c00;
            for (size_t g = 0; g < G; g++, wp += 64) {
                __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)wp);
                __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wp + 32));
                __m256i a = _mm256_set1_epi32(quad_u8(x0 + 4 * g));
                c00 = _mm256_dpbusd_epi32(c00, a, w0);
                c01 = _mm256_dpbusd_epi32(c01, a, w1);
                a = _mm256_set1_epi32(quad_u8(x1 + 4 * g));
                c10 = _mm256_dpbusd_epi32(c10, a, w0);
                c11 = _mm256_dpbusd_epi32(c11, a, w1);
                a = _mm256_set1_epi32(quad_u8(x2 + 4 * g));
                c20 = _mm256_dpbusd_epi32(c20, a, w0);
                c21 = _mm256_dpbusd_epi32(c21, a, w1);
                a = _mm256_set1_epi32(quad_u8(x3 + 4 * g));
                c30 = _mm256_dpbusd_epi32(c30, a, w0);
                c31 = _mm256_dpbusd_epi32(c31, a, w1);
            }
            const int32_t *cp = pw->comp + t * 16;
            __m256i k0 = _mm256_loadu_si256((const __m256i *)(const void *)cp);
            __m256i k1 = _mm256_loadu_si256((const __m256i *)(const void *)(cp + 8));
            int32_t *qp = q + r4 * ldq + t * 16;
            _mm256_storeu_si256((__m256i *)(void *)qp, _mm256_sub_epi32(c00, k0));
            _mm256_storeu_si256((__m256i *)(void *)(qp + 8), _mm256_sub_epi32(c01, k1));
            _mm256_storeu_si256((__m256i *)(void *)(qp + ldq), _mm256_sub_epi32(c10, k0));
            _mm256_storeu_si256((__m256i *)(void *)(qp + ldq + 8), _mm256_sub_epi32(c11, k1));
            _mm256_storeu_si256((__m256i *)(void *)(qp + 2 * ldq), _mm256_sub_epi32(c20, k0));
            _mm256_storeu_si256((__m256i *)(void *)(qp + 2 * ldq + 8), _mm256_sub_epi32(c21, k1));
            _mm256_storeu_si256((__m256i *)(void *)(qp + 3 * ldq), _mm256_sub_epi32(c30, k0));
            _mm256_storeu_si256((__m256i *)(void *)(qp + 3 * ldq + 8), _mm256_sub_epi32(c31, k1));
        }
    }
    for (; r < nb; r++) {
        const int8_t *xr = xq + r * ldx;
        size_t t = 0;
        for (; t + 4 <= tiles; t += 4) {
            const int8_t *w0 = w + t * G * 64, *w1 = w0 + G * 64, *w2 = w1 + G * 64,
                         *w3 = w2 + G * 64;
            const int32_t *cp = pw->comp + t * 16;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0,
                    c6 = c0, c7 = c0;
            for (size_t g = 0; g < G; g++) {
                __m256i a = _mm256_set1_epi32(quad_u8(xr + 4 * g));
                c0 = _mm256_dpbusd_epi32(c0, a, LOADI(w0 + g * 64));
                c1 = _mm256_dpbusd_epi32(c1, a, LOADI(w0 + g * 64 + 32));
                c2 = _mm256_dpbusd_epi32(c2, a, LOADI(w1 + g * 64));
                c3 = _mm256_dpbusd_epi32(c3, a, LOADI(w1 + g * 64 + 32));
                c4 = _mm256_dpbusd_epi32(c4, a, LOADI(w2 + g * 64));
                c5 = _mm256_dpbusd_epi32(c5, a, LOADI(w2 + g * 64 + 32));
                c6 = _mm256_dpbusd_epi32(c6, a, LOADI(w3 + g * 64));
                c7 = _mm256_dpbusd_epi32(c7, a, LOADI(w3 + g * 64 + 32));
            }
            int32_t *qp = q + r * ldq + t * 16;
            STOREI(qp, _mm256_sub_epi32(c0, LOADI(cp)));
            STOREI(qp + 8, _mm256_sub_epi32(c1, LOADI(cp + 8)));
            STOREI(qp + 16, _mm256_sub_epi32(c2, LOADI(cp + 16)));
            STOREI(qp + 24, _mm256_sub_epi32(c3, LOADI(cp + 24)));
            STOREI(qp + 32, _mm256_sub_epi32(c4, LOADI(cp + 32)));
            STOREI(qp + 40, _mm256_sub_epi32(c5, LOADI(cp + 40)));
            STOREI(qp + 48, _mm256_sub_epi32(c6, LOADI(cp + 48)));
            STOREI(qp + 56, _mm256_sub_epi32(c7, LOADI(cp + 56)));
        }
        for (; t < tiles; t++) {
            const int8_t *wp = w + t * G * 64;
            const int32_t *cp = pw->comp + t * 16;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0;
            for (size_t g = 0; g < G; g++, wp += 64) {
                __m256i a = _mm256_set1_epi32(quad_u8(xr + 4 * g));
                c0 = _mm256_dpbusd_epi32(c0, a, LOADI(wp));
                c1 = _mm256_dpbusd_epi32(c1, a, LOADI(wp + 32));
            }
            STOREI(q + r * ldq + t * 16, _mm256_sub_epi32(c0, LOADI(cp)));
            STOREI(q + r * ldq + t * 16 + 8, _mm256_sub_epi32(c1, LOADI(cp + 8)));
        }
    }
}
#endif

void rt_k_s8_gemm(const struct rt_s8w *pw, const int8_t *xq, size_t ldx, size_t nb, int32_t *q,
                  size_t ldq)
{
#if RT_X86
    if (pw->isa == RT_ISA_VNNI) {
        s8_vnni(pw, xq, ldx, nb, q, ldq);
        return;
    }
    if (pw->isa == RT_ISA_AVX2) {
        s8_avx2(pw, xq, ldx, nb, q, ldq);
        return;
    }
#endif
    s8_generic(pw, xq, ldx, nb, q, ldq);
}

void rt_k_s8_release(struct rt_s8w *pw)
{
    rt_afree(pw->w);
    kiln_free(pw->comp);
    pw->w = NULL;
    pw->comp = NULL;
}

int rt_k_s8_pack(struct rt_s8w *pw, enum rt_isa isa, const int8_t *wq, size_t n_in, size_t n_out)
{
    size_t ldw = RT_PAD_OUT(n_out), tiles = ldw / 16;

    memset(pw, 0, sizeof(*pw));
#if !RT_X86
    isa = RT_ISA_GENERIC;
#endif
    pw->isa = isa;
    pw->n_in = n_in;
    pw->n_out = n_out;
    pw->ldw = ldw;
    if (isa == RT_ISA_VNNI) {
        size_t G = RT_PAD_IN(n_in) / 4;
        int8_t *w = rt_aalloc(tiles * G * 64);
        pw->comp = kiln_calloc(ldw, sizeof(int32_t));
        pw->w = w;
        if (w == NULL || pw->comp == NULL)
            goto oom;
        memset(w, 0, tiles * G * 64);
        for (size_t j = 0; j < n_out; j++)
            for (size_t i = 0; i < n_in; i++) {
                size_t t = j / 16, h = (j % 16) / 8, o = j % 8;
                w[((t * G + i / 4) * 2 + h) * 32 + o * 4 + i % 4] = wq[j * n_in + i];
                pw->comp[j] += 128 * (int32_t)wq[j * n_in + i];
            }
    } else if (isa == RT_ISA_AVX2) {
        size_t P = (n_in + 1) / 2;
        int16_t *w = rt_aalloc(tiles * P * 64);
        pw->w = w;
        if (w == NULL)
            goto oom;
        memset(w, 0, tiles * P * 64);
        for (size_t j = 0; j < n_out; j++)
            for (size_t i = 0; i < n_in; i++) {
                size_t t = j / 16, h = (j % 16) / 8, o = j % 8;
                w[((t * P + i / 2) * 2 + h) * 16 + o * 2 + i % 2] = wq[j * n_in + i];
            }
    } else {
        int8_t *w = rt_aalloc(n_in * ldw + 1);
        pw->w = w;
        if (w == NULL)
            goto oom;
        memset(w, 0, n_in * ldw);
        for (size_t j = 0; j < n_out; j++)
            for (size_t i = 0; i < n_in; i++)
                w[i * ldw + j] = wq[j * n_in + i];
    }
    return KILN_OK;
oom:
    rt_k_s8_release(pw);
    return KILN_ENOMEM;
}

/*
 * kilngen.h - C twin of kilngen.py: the deterministic sample generator the SciPy fixtures
 * are computed on (integer arithmetic, one correctly rounded division per value, so both
 * languages produce identical doubles). Header-only, for tests.
 */
#ifndef KILN_TEST_KILNGEN_H
#define KILN_TEST_KILNGEN_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* A generated value: missing (None in Python) or a double (possibly NaN or inf). */
struct kilngen_val {
    int missing;
    double v;
    int64_t raw; /* acc + shift before scaling (categorical tests print "c<raw>") */
};

static inline uint64_t kilngen_next(uint64_t *s)
{
    uint64_t z;
    *s += 0x9E3779B97F4A7C15ULL;
    z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline int64_t kilngen_int(const json_t *spec, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(spec, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Generates spec's values into a malloc'ed array of *n entries (free()). */
static inline struct kilngen_val *kilngen_sample(const json_t *spec, size_t *n)
{
    uint64_t s = (uint64_t)kilngen_int(spec, "seed", 0);
    int64_t count = kilngen_int(spec, "n", 0), k = kilngen_int(spec, "k", 1);
    int64_t rng = kilngen_int(spec, "range", 1), shift = kilngen_int(spec, "shift", 0);
    int64_t nan_every = kilngen_int(spec, "nan_every", 0);
    int64_t inf_every = kilngen_int(spec, "inf_every", 0);
    int64_t missing_every = kilngen_int(spec, "missing_every", 0);
    const json_t *sc = json_object_get(spec, "scale");
    double scale = sc != NULL ? json_number_value(sc) : 1.0;
    struct kilngen_val *out = calloc((size_t)count + 1, sizeof(*out));
    for (int64_t i = 1; i <= count; i++) {
        int64_t acc = 0;
        struct kilngen_val *o = &out[i - 1];
        for (int64_t j = 0; j < k; j++)
            acc += (int64_t)(kilngen_next(&s) % (uint64_t)rng);
        o->raw = acc + shift;
        o->v = (double)(acc + shift) / scale;
        if (missing_every && i % missing_every == 0)
            o->missing = 1;
        else if (inf_every && i % inf_every == 0)
            o->v = INFINITY;
        else if (nan_every && i % nan_every == 0)
            o->v = NAN;
    }
    *n = (size_t)count;
    return out;
}

/* A fixture number: a JSON number or "inf" / "-inf" / "nan"; NaN for null. */
static inline double kilngen_num(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] == 'i')
            return INFINITY;
        if (s[0] == '-')
            return -INFINITY;
    }
    return NAN;
}

/* |a - b| within max(abs_tol, rel_tol * |b|); infinities and NaNs must match exactly. */
static inline int kilngen_close(double a, double b, double rel_tol, double abs_tol)
{
    if (isnan(b))
        return isnan(a);
    if (isinf(b))
        return a == b;
    return fabs(a - b) <= abs_tol || fabs(a - b) <= rel_tol * fabs(b);
}

#endif

/*
 * num.h - fast, exact text-to-number conversion and cell classification for data files.
 *
 * kiln_num_parse converts decimal text to the nearest double (round-half-even, the same
 * result as strtod) at several hundred MB/s: a mantissa of up to 19 digits is converted with
 * Clinger's exact fast path or the Eisel-Lemire algorithm; the rare inputs those cannot decide
 * (more than 19 significant digits, halfway cases) fall back to strtod. Accepted syntax is
 * what pandas' CSV reader accepts as a number: optional spaces around, an optional sign,
 * digits with an optional fraction (".5" and "5." are fine) and exponent, or "inf"/"infinity"
 * in any case. "nan" is not a number here: data readers treat it as a missing value.
 *
 * All functions are pure and thread-safe.
 */
#ifndef KILN_QUALITY_NUM_H
#define KILN_QUALITY_NUM_H

#include <stddef.h>
#include <stdint.h>

enum kiln_num_kind {
    KILN_NUM_NONE = 0,  /* not a number */
    KILN_NUM_INT = 1,   /* optional sign and digits only, within int64 */
    KILN_NUM_FLOAT = 2, /* any other number, including +-inf */
};

/*
 * Parses `len` bytes at `s`. Returns the kind; for KILN_NUM_INT and KILN_NUM_FLOAT *out
 * receives the correctly rounded double (an integer beyond 2^53 is rounded like strtod
 * would). *out is untouched for KILN_NUM_NONE.
 */
int kiln_num_parse(const char *s, size_t len, double *out /* OUT */);

/* "true"/"false" in the spellings pandas accepts (true, True, TRUE, false, False, FALSE). */
int kiln_num_parse_bool(const char *s, size_t len, int *out /* OUT */);

/*
 * Writes the shortest decimal text that parses back to `v` ("%.15g".."%.17g", integers
 * without a fraction, "inf"/"-inf"/"nan") into out (size >= 32). Used wherever a number
 * becomes a category or a JSON key.
 */
void kiln_num_format(double v, char *out, size_t size);

#endif

/*
 * num_int.h - internals of the number parser (num.c): the power-of-five table used by the
 * Eisel-Lemire conversion. Not for use outside src/quality/.
 */
#ifndef KILN_QUALITY_NUM_INT_H
#define KILN_QUALITY_NUM_INT_H

#include <stdint.h>

#define KILN_NUM_POW5_MIN_Q (-342)
#define KILN_NUM_POW5_MAX_Q 308

/* 2 * (308 + 342 + 1) words: high then low 64 bits of 5^q, q = -342..308 (pow5_table.c). */
extern const uint64_t kiln_num_pow5[];

#endif

/*
 * quality.h - the data-quality library: one include for everything in src/quality.
 *
 *   table.h    streaming CSV / JSON Lines reader (kiln_table_reader_*), missing values,
 *              errors with file, line and column; reused by batch scoring and evaluation
 *   num.h      exact, fast text-to-number conversion (kiln_num_parse)
 *   stats.h    SciPy-compatible statistics: KS (exact and asymptotic), chi-square, z,
 *              Wasserstein, entropy, Jensen-Shannon, PSI, radix sort
 *   sketch.h   fixed-memory building blocks: capped value counts, HyperLogLog, KLL sketch
 *   profile.h  column summaries and data profiles (the inferred schema and drift reference)
 *   drift.h    drift between two data sets (raw or profiled) and windowed drift on streams
 *   expect.h   expectation suites (YAML), validation of data against them, suggestions
 *
 * Depends on src/core only. Thread-safety is stated per header; in short, every object has
 * one owner thread, and read-only objects (profiles, drift sides) may be shared.
 */
#ifndef KILN_QUALITY_QUALITY_H
#define KILN_QUALITY_QUALITY_H

#include "quality/drift.h"
#include "quality/expect.h"
#include "quality/num.h"
#include "quality/profile.h"
#include "quality/sketch.h"
#include "quality/stats.h"
#include "quality/table.h"

#endif

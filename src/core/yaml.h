/*
 * yaml.h - a YAML document as a small tree with line and column on every node (yaml.c), for
 * kiln's own YAML files: pipeline specs, deployment specs.
 *
 * Built from libyaml's event parser so that what such a file never needs and a hostile one
 * would use is refused: anchors and aliases, several documents, nesting deeper than
 * KILN_YAML_MAX_DEPTH, more than KILN_YAML_MAX_NODES nodes, duplicate and non-scalar keys.
 * Nodes and strings live in the caller's arena. Thread-safe.
 */
#ifndef KILN_CORE_YAML_H
#define KILN_CORE_YAML_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"

#define KILN_YAML_MAX_DEPTH 32
#define KILN_YAML_MAX_NODES 200000

enum kiln_yn_kind { KILN_YN_SCALAR, KILN_YN_SEQ, KILN_YN_MAP };

struct kiln_yn {
    enum kiln_yn_kind kind;
    int line, col;         /* 1-based position of the node's start */
    const char *s;         /* scalar text ("" for containers), NUL-terminated */
    size_t len;            /* scalar length */
    int plain;             /* an unquoted scalar (null/booleans/numbers are recognised only then) */
    struct kiln_yn **kids; /* sequence items; mapping key, value, key, value, ... */
    size_t n;
};

/*
 * Parses one YAML document into a tree allocated from `arena`. Errors (KILN_EINVAL) read
 * "FILE:LINE:COL: reason"; anchors, aliases, several documents, duplicate keys and non-scalar
 * keys are refused. OUT: *root.
 */
int kiln_yaml_load(struct kiln_arena *arena, const char *data, size_t len, const char *file,
                   struct kiln_yn **root /* OUT */, struct kiln_err *err);
/* 1 for a missing node or a plain null scalar ("", "~", "null"). */
int kiln_yn_is_null(const struct kiln_yn *n);
/* The value of `key` in a mapping node, or NULL. */
const struct kiln_yn *kiln_yn_get(const struct kiln_yn *map, const char *key);

#endif

/*
 * spec_int.h - state shared by the spec parser's files (spec.c reads the YAML into structs,
 * spec_check.c validates the graph and templates). Only for src/pipeline/spec*.c.
 */
#ifndef KILN_PIPELINE_SPEC_INT_H
#define KILN_PIPELINE_SPEC_INT_H

#include "pipeline/pipeline_int.h"

#define KILN_PL_SPEC_MAX ((size_t)1 << 20)
#define KILN_PL_MAX_TASKS 10000
#define KILN_PL_NAME_MAX 128

/* Parser state: the spec being built, the YAML nodes each task came from, the error. */
struct spec_parser {
    struct kiln_arena *a;
    const char *file;
    struct kiln_err *err;
    struct kiln_pl_spec *spec;
    const struct kiln_yn **task_nodes; /* per task: its mapping node */
    const struct kiln_yn **dep_nodes;  /* per task: its depends_on node (or NULL) */
};

/* Records "FILE:LINE:COL: message" for node n (or line 1) and returns KILN_EINVAL. */
int kiln_spec_fail(struct spec_parser *p, const struct kiln_yn *n, const char *fmt, ...)
    KILN_PRINTF(3, 4);
/* Field readers shared by spec.c and spec_sections.c (errors name `where` and the line). */
int kiln_spec_oom(struct spec_parser *p);
int kiln_spec_check_keys(struct spec_parser *p, const struct kiln_yn *map, const char *where,
                         const char *const *allowed);
int kiln_spec_want_map(struct spec_parser *p, const struct kiln_yn *n, const char *where);
int kiln_spec_get_str(struct spec_parser *p, const struct kiln_yn *n, const char *where,
                      const char **out /* OUT */);
int kiln_spec_get_int(struct spec_parser *p, const struct kiln_yn *n, const char *where, int64_t lo,
                      int64_t hi, int64_t *out /* OUT */);
int kiln_spec_get_bool(struct spec_parser *p, const struct kiln_yn *n, const char *where,
                       int *out /* OUT */);
/* true/yes/on, false/no/off in any case. KILN_EINVAL. */
int kiln_spec_parse_bool(const char *s, int *out /* OUT */);
/* The sections of spec_sections.c. */
int kiln_spec_read_params(struct spec_parser *p, const struct kiln_yn *root);
int kiln_spec_read_schedule(struct spec_parser *p, const struct kiln_yn *root);
int kiln_spec_read_triggers(struct spec_parser *p, const struct kiln_yn *root);
int kiln_spec_read_pools(struct spec_parser *p, const struct kiln_yn *root);
/* 1 when s is a valid name: [A-Za-z0-9_] first, then [A-Za-z0-9_.-] (dots only if `dots`). */
int kiln_spec_name_ok(const char *s, int dots);
/* Resolves depends_on, builds downstream lists, the topological order and leaves. */
int kiln_spec_check_graph(struct spec_parser *p);
/* Checks every template of every task (references to params and upstream outputs). */
int kiln_spec_check_templates(struct spec_parser *p);
/* Pools exist and are large enough; scheduled pipelines have defaults for every param. */
int kiln_spec_check_refs(struct spec_parser *p, const struct kiln_yn *root);

#endif

/*
 * spec_check.c - whole-spec validation after the YAML has been read: dependencies (unknown
 * tasks, self-dependencies, duplicates, cycles, with the cycle spelled out), the topological
 * order, templates (every "{{ ... }}" names a declared parameter or an output of a task that is
 * upstream of the task using it), pools, and parameters of scheduled pipelines.
 *
 * Everything allocated lives in the spec's arena, except one temporary array freed before
 * return. Called only from kiln_pl_spec_parse.
 */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "pipeline/spec_int.h"

struct name_idx {
    const char *name;
    size_t idx;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

static long lookup(const struct name_idx *ix, size_t n, const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(ix[mid].name, name, len);
        if (c == 0 && ix[mid].name[len] != '\0')
            c = 1;
        if (c == 0)
            return (long)ix[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int resolve_deps(struct spec_parser *p, const struct name_idx *ix)
{
    struct kiln_pl_spec *s = p->spec;
    struct kiln_pl_task *tasks = (struct kiln_pl_task *)(uintptr_t)s->tasks;
    for (size_t i = 0; i < s->ntasks; i++) {
        const struct kiln_yn *d = p->dep_nodes[i];
        const struct kiln_yn *const *items = &d;
        size_t n = 1;
        size_t *deps;
        if (d == NULL || kiln_yn_is_null(d))
            continue;
        if (d->kind == KILN_YN_SEQ) {
            items = (const struct kiln_yn *const *)d->kids;
            n = d->n;
        } else if (d->kind != KILN_YN_SCALAR) {
            return kiln_spec_fail(p, d, "tasks.%s.depends_on: expected a task name or a list",
                                  tasks[i].name);
        }
        deps = kiln_arena_calloc(p->a, n + 1, sizeof(*deps));
        if (deps == NULL)
            return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
        for (size_t j = 0; j < n; j++) {
            const struct kiln_yn *it = items[j];
            long k;
            if (it->kind != KILN_YN_SCALAR)
                return kiln_spec_fail(p, it, "tasks.%s.depends_on: expected task names",
                                      tasks[i].name);
            k = lookup(ix, s->ntasks, it->s, it->len);
            if (k < 0)
                return kiln_spec_fail(p, it, "tasks.%s.depends_on: unknown task '%.60s'",
                                      tasks[i].name, it->s);
            if ((size_t)k == i)
                return kiln_spec_fail(p, it, "tasks.%s.depends_on: a task cannot depend on itself",
                                      tasks[i].name);
            for (size_t m = 0; m < j; m++)
                if (deps[m] == (size_t)k)
                    return kiln_spec_fail(p, it, "tasks.%s.depends_on: '%s' listed twice",
                                          tasks[i].name, it->s);
            deps[j] = (size_t)k;
        }
        tasks[i].deps = deps;
        tasks[i].ndeps = n;
    }
    return KILN_OK;
}

static int build_downs(struct spec_parser *p)
{
    struct kiln_pl_spec *s = p->spec;
    struct kiln_pl_task *tasks = (struct kiln_pl_task *)(uintptr_t)s->tasks;
    size_t *count = kiln_arena_calloc(p->a, s->ntasks + 1, sizeof(*count));
    if (count == NULL)
        return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->ntasks; i++)
        for (size_t j = 0; j < tasks[i].ndeps; j++)
            count[tasks[i].deps[j]]++;
    for (size_t i = 0; i < s->ntasks; i++) {
        if (count[i] > 0) {
            tasks[i].downs = kiln_arena_calloc(p->a, count[i], sizeof(size_t));
            if (tasks[i].downs == NULL)
                return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
        }
        tasks[i].is_leaf = count[i] == 0;
    }
    for (size_t i = 0; i < s->ntasks; i++) {
        for (size_t j = 0; j < tasks[i].ndeps; j++) {
            struct kiln_pl_task *u = &tasks[tasks[i].deps[j]];
            ((size_t *)(uintptr_t)u->downs)[u->ndowns++] = i;
        }
    }
    return KILN_OK;
}

/* Spells out one cycle among the tasks Kahn's algorithm could not order. */
static int report_cycle(struct spec_parser *p, const size_t *indeg)
{
    const struct kiln_pl_spec *s = p->spec;
    size_t start = 0, cur, steps = 0;
    char path[KILN_ERR_MSG_MAX - 40];
    size_t off = 0;
    size_t *seen = kiln_calloc(s->ntasks, sizeof(*seen));
    if (seen == NULL)
        return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
    while (indeg[start] == 0)
        start++;
    /* Walk upstream through unordered tasks until a task repeats: that closes a cycle. */
    cur = start;
    while (seen[cur] == 0) {
        seen[cur] = ++steps;
        for (size_t j = 0; j < s->tasks[cur].ndeps; j++) {
            if (indeg[s->tasks[cur].deps[j]] != 0) {
                cur = s->tasks[cur].deps[j];
                break;
            }
        }
    }
    start = cur;
    path[0] = '\0';
    do {
        int w = snprintf(path + off, sizeof(path) - off, "%s -> ", s->tasks[cur].name);
        off = w > 0 && off + (size_t)w < sizeof(path) ? off + (size_t)w : off;
        for (size_t j = 0; j < s->tasks[cur].ndeps; j++) {
            size_t d = s->tasks[cur].deps[j];
            if (indeg[d] != 0 && seen[d] != 0) {
                cur = d;
                break;
            }
        }
    } while (cur != start && off < sizeof(path) - 1);
    snprintf(path + off, sizeof(path) - off, "%s", s->tasks[start].name);
    kiln_free(seen);
    return kiln_spec_fail(p, p->dep_nodes[start], "tasks.%s.depends_on: dependency cycle: %s",
                          s->tasks[start].name, path);
}

int kiln_spec_check_graph(struct spec_parser *p)
{
    struct kiln_pl_spec *s = p->spec;
    struct name_idx *ix = kiln_calloc(s->ntasks, sizeof(*ix));
    size_t *indeg = NULL, *topo, head = 0, tail = 0;
    int rc;

    if (ix == NULL)
        return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->ntasks; i++) {
        ix[i].name = s->tasks[i].name;
        ix[i].idx = i;
    }
    qsort(ix, s->ntasks, sizeof(*ix), cmp_name);
    rc = resolve_deps(p, ix);
    kiln_free(ix);
    if (rc == KILN_OK)
        rc = build_downs(p);
    if (rc != KILN_OK)
        return rc;
    topo = kiln_arena_calloc(p->a, s->ntasks, sizeof(*topo));
    indeg = kiln_calloc(s->ntasks, sizeof(*indeg));
    if (topo == NULL || indeg == NULL) {
        kiln_free(indeg);
        return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->ntasks; i++) {
        indeg[i] = s->tasks[i].ndeps;
        if (indeg[i] == 0)
            topo[tail++] = i;
    }
    while (head < tail) {
        const struct kiln_pl_task *t = &s->tasks[topo[head++]];
        for (size_t j = 0; j < t->ndowns; j++)
            if (--indeg[t->downs[j]] == 0)
                topo[tail++] = t->downs[j];
    }
    rc = tail < s->ntasks ? report_cycle(p, indeg) : KILN_OK;
    kiln_free(indeg);
    s->topo = topo;
    return rc;
}

/* ---- templates -------------------------------------------------------------------------- */

struct tpl_check {
    struct spec_parser *p;
    size_t task;
    const struct kiln_yn *node; /* where to point on error */
    int line;
    const char *where;
    unsigned char *anc; /* ancestors of `task` (computed on first output reference) */
    int anc_ready;
    int failed; /* the visitor already recorded its error */
};

static void mark_ancestors(const struct kiln_pl_spec *s, size_t t, unsigned char *anc)
{
    for (size_t j = 0; j < s->tasks[t].ndeps; j++) {
        size_t d = s->tasks[t].deps[j];
        if (!anc[d]) {
            anc[d] = 1;
            mark_ancestors(s, d, anc);
        }
    }
}

enum tpl_problem { TPL_UNDECLARED, TPL_UNKNOWN_TASK, TPL_NOT_UPSTREAM };

static int tpl_fail(struct tpl_check *c, enum tpl_problem what, const struct kiln_tpl_part *part)
{
    struct kiln_yn at = { 0 };
    int al = (int)part->alen, bl = (int)part->blen;
    const char *b = part->b != NULL ? part->b : "";
    at.line = c->node != NULL ? c->node->line : c->line;
    at.col = c->node != NULL ? c->node->col : 1;
    c->failed = 1;
    if (what == TPL_UNDECLARED)
        return kiln_spec_fail(c->p, &at, "%s: template uses undeclared parameter '%.*s'", c->where,
                              al, part->a);
    if (what == TPL_UNKNOWN_TASK)
        return kiln_spec_fail(c->p, &at,
                              "%s: template refers to unknown task '%.*s' (output '%.*s')",
                              c->where, al, part->a, bl, b);
    return kiln_spec_fail(c->p, &at,
                          "%s: template uses task '%.*s' output '%.*s', but that task is not "
                          "upstream of this one (add it to depends_on)",
                          c->where, al, part->a, bl, b);
}

static int tpl_visit(void *ctx, const struct kiln_tpl_part *part, struct kiln_err *err)
{
    struct tpl_check *c = ctx;
    const struct kiln_pl_spec *s = c->p->spec;
    (void)err;
    if (part->kind == KILN_TPL_PARAM) {
        for (size_t i = 0; i < s->nparams; i++)
            if (strlen(s->params[i].name) == part->alen &&
                memcmp(s->params[i].name, part->a, part->alen) == 0)
                return KILN_OK;
        return tpl_fail(c, TPL_UNDECLARED, part);
    }
    if (part->kind == KILN_TPL_OUTPUT) {
        long k = -1;
        for (size_t i = 0; i < s->ntasks && k < 0; i++)
            if (strlen(s->tasks[i].name) == part->alen &&
                memcmp(s->tasks[i].name, part->a, part->alen) == 0)
                k = (long)i;
        if (k < 0)
            return tpl_fail(c, TPL_UNKNOWN_TASK, part);
        if (!c->anc_ready) {
            memset(c->anc, 0, s->ntasks);
            mark_ancestors(s, c->task, c->anc);
            c->anc_ready = 1;
        }
        if (!c->anc[k])
            return tpl_fail(c, TPL_NOT_UPSTREAM, part);
    }
    return KILN_OK;
}

static int check_one(struct tpl_check *c, const char *text, const struct kiln_yn *node, int line,
                     const char *where)
{
    struct kiln_err e = { 0 };
    int rc;
    c->node = node;
    c->line = line;
    c->where = where;
    c->failed = 0;
    rc = kiln_tpl_scan(text, tpl_visit, c, &e);
    if (rc != KILN_OK && !c->failed) {
        struct kiln_yn at = { 0 };
        at.line = node != NULL ? node->line : line;
        at.col = node != NULL ? node->col : 1;
        return kiln_spec_fail(c->p, &at, "%s: %s", where, e.msg);
    }
    return rc;
}

static int check_task_templates(struct tpl_check *c, size_t i)
{
    const struct kiln_pl_task *t = &c->p->spec->tasks[i];
    const struct kiln_yn *node = c->p->task_nodes[i], *run = kiln_yn_get(node, "run");
    const struct kiln_yn *wd = kiln_yn_get(node, "workdir");
    char where[200];
    int rc = KILN_OK;

    c->task = i;
    c->anc_ready = 0;
    snprintf(where, sizeof(where), "tasks.%s.run", t->name);
    for (size_t j = 0; j < t->argc && rc == KILN_OK; j++)
        rc = check_one(c, t->argv[j], run != NULL && run->kind == KILN_YN_SEQ ? run->kids[j] : run,
                       t->line, where);
    snprintf(where, sizeof(where), "tasks.%s.env", t->name);
    for (size_t j = 0; j < t->nenv && rc == KILN_OK; j++)
        rc = check_one(c, t->env[j].value, NULL, t->env[j].line, where);
    snprintf(where, sizeof(where), "tasks.%s.with", t->name);
    for (size_t j = 0; j < t->nwith && rc == KILN_OK; j++)
        rc = check_one(c, t->with[j].value, NULL, t->with[j].line, where);
    snprintf(where, sizeof(where), "tasks.%s.workdir", t->name);
    if (t->workdir != NULL && rc == KILN_OK)
        rc = check_one(c, t->workdir, wd, t->line, where);
    return rc;
}

int kiln_spec_check_templates(struct spec_parser *p)
{
    struct tpl_check c = { 0 };
    int rc = KILN_OK;
    c.p = p;
    c.anc = kiln_malloc(p->spec->ntasks);
    if (c.anc == NULL)
        return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->spec->ntasks && rc == KILN_OK; i++)
        rc = check_task_templates(&c, i);
    kiln_free(c.anc);
    return rc;
}

/* ---- pools and parameters --------------------------------------------------------------- */

int kiln_spec_check_refs(struct spec_parser *p, const struct kiln_yn *root)
{
    const struct kiln_pl_spec *s = p->spec;
    for (size_t i = 0; i < s->ntasks; i++) {
        const struct kiln_pl_task *t = &s->tasks[i];
        const struct kiln_yn *at = kiln_yn_get(p->task_nodes[i], "pool");
        int slots = strcmp(t->pool, KILN_PL_DEFAULT_POOL) == 0 ? KILN_PL_DEFAULT_POOL_SLOTS : -1;
        for (size_t j = 0; j < s->npools; j++)
            if (strcmp(s->pools[j].name, t->pool) == 0)
                slots = s->pools[j].slots;
        if (at == NULL)
            at = p->task_nodes[i];
        if (slots < 0)
            return kiln_spec_fail(p, at,
                                  "tasks.%s.pool: unknown pool '%.60s' (declare it under "
                                  "pools:)",
                                  t->name, t->pool);
        if (t->pool_slots > slots)
            return kiln_spec_fail(p, at,
                                  "tasks.%s.pool_slots: %d slots asked but pool '%s' has only %d",
                                  t->name, t->pool_slots, t->pool, slots);
    }
    if (s->cron_expr != NULL) {
        for (size_t i = 0; i < s->nparams; i++)
            if (s->params[i].def == NULL)
                return kiln_spec_fail(p, kiln_yn_get(root, "schedule"),
                                      "schedule: parameter '%s' has no default, which scheduled "
                                      "runs need",
                                      s->params[i].name);
    }
    return KILN_OK;
}

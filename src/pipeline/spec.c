/*
 * spec.c - reads a pipeline spec (docs/pipelines.md) from YAML into a struct kiln_pl_spec.
 *
 * Every key is checked: an unknown key, a value of the wrong type, a bad duration, cron
 * expression, time zone, trigger rule or step kind is refused with the line and column of the
 * node at fault. Defaults follow Airflow (retries 0, retry_delay 300 s, no exponential backoff,
 * trigger_rule all_success, max_active_runs 16, max_active_tasks 16, default_pool 128 slots,
 * catchup off) and can be changed for every task at once under `defaults:`. Graph and template
 * checks live in spec_check.c.
 *
 * Ownership: the spec and everything it points to live in its own arena; kiln_pl_spec_free
 * releases it (and its time zone). A parsed spec is immutable; `refs` is only touched by the
 * scheduler thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "pipeline/spec_int.h"

static const char *const top_keys[] = { "name",     "description",      "params", "schedule",
                                        "triggers", "max_active_runs",  "pools",  "defaults",
                                        "tracking", "max_active_tasks", "tasks",  NULL };
static const char *const default_keys[] = { "retries",
                                            "retry_delay",
                                            "retry_exponential_backoff",
                                            "max_retry_delay",
                                            "timeout",
                                            "trigger_rule",
                                            "pool",
                                            "env",
                                            "workdir",
                                            "skip_on_exit_code",
                                            NULL };
static const char *const task_keys[] = { "run",
                                         "kind",
                                         "with",
                                         "env",
                                         "workdir",
                                         "depends_on",
                                         "retries",
                                         "retry_delay",
                                         "retry_exponential_backoff",
                                         "max_retry_delay",
                                         "timeout",
                                         "trigger_rule",
                                         "pool",
                                         "pool_slots",
                                         "skip_on_exit_code",
                                         "description",
                                         NULL };

/* Built-in step kinds and their `with:` keys (a leading '*' marks a required key). */
static const struct {
    const char *name;
    enum kiln_pl_kind kind;
    int needs_run;
    const char *const with[8];
} kinds[] = {
    { "command", KILN_STEP_RUN, 1, { NULL } },
    { "validate", KILN_STEP_VALIDATE, 0, { "*data", "*profile", "expectations", NULL } },
    { "train", KILN_STEP_TRAIN, 1, { "run_name", NULL } },
    { "evaluate", KILN_STEP_EVALUATE, 0, { "*model", "*data", "*target", "dataset_name", NULL } },
    { "register", KILN_STEP_REGISTER, 0, { "*model", "source", "run_id", "artifact_path", NULL } },
    { "promote", KILN_STEP_PROMOTE, 0, { "*model", "*version", "*to", "reason", NULL } },
    { "drift",
      KILN_STEP_DRIFT,
      0,
      { "*reference", "*current", "columns", "method", "threshold", "fail_on_drift",
        "require_drift", NULL } },
};

int kiln_spec_fail(struct spec_parser *p, const struct kiln_yn *n, const char *fmt, ...)
{
    char msg[KILN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_err_set(p->err, KILN_EINVAL, "%s:%d:%d: %s", p->file, n != NULL ? n->line : 1,
                        n != NULL ? n->col : 1, msg);
}

int kiln_spec_oom(struct spec_parser *p)
{
    return kiln_err_set(p->err, KILN_ENOMEM, "out of memory");
}

int kiln_spec_name_ok(const char *s, int dots)
{
    size_t n = strlen(s);
    if (n == 0 || n > KILN_PL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (i > 0 && (c == '-' || (dots && c == '.')));
        if (!ok)
            return 0;
    }
    return 1;
}

int kiln_spec_check_keys(struct spec_parser *p, const struct kiln_yn *map, const char *where,
                         const char *const *allowed)
{
    char list[400];
    for (size_t i = 0; i < map->n; i += 2) {
        const struct kiln_yn *k = map->kids[i];
        size_t j, off = 0;
        for (j = 0; allowed[j] != NULL; j++)
            if (strcmp(k->s, allowed[j] + (allowed[j][0] == '*')) == 0)
                break;
        if (allowed[j] != NULL)
            continue;
        list[0] = '\0';
        for (j = 0; allowed[j] != NULL && off < sizeof(list) - 1; j++) {
            int w = snprintf(list + off, sizeof(list) - off, "%s%s", j > 0 ? ", " : "",
                             allowed[j] + (allowed[j][0] == '*'));
            off += w > 0 ? (size_t)w : 0;
        }
        return kiln_spec_fail(p, k, "%s: unknown key '%.60s' (allowed: %s)", where, k->s, list);
    }
    return KILN_OK;
}

int kiln_spec_want_map(struct spec_parser *p, const struct kiln_yn *n, const char *where)
{
    if (n->kind != KILN_YN_MAP)
        return kiln_spec_fail(p, n, "%s: expected a mapping", where);
    return KILN_OK;
}

int kiln_spec_get_str(struct spec_parser *p, const struct kiln_yn *n, const char *where,
                      const char **out)
{
    if (n->kind != KILN_YN_SCALAR || kiln_yn_is_null(n))
        return kiln_spec_fail(p, n, "%s: expected a string", where);
    *out = n->s;
    return KILN_OK;
}

int kiln_spec_get_int(struct spec_parser *p, const struct kiln_yn *n, const char *where, int64_t lo,
                      int64_t hi, int64_t *out)
{
    int64_t v = 0;
    if (n->kind != KILN_YN_SCALAR || kiln_parse_int64(n->s, n->len, &v) != KILN_OK || v < lo ||
        v > hi)
        return kiln_spec_fail(p, n, "%s: expected an integer between %lld and %lld, got '%.40s'",
                              where, (long long)lo, (long long)hi, n->s);
    *out = v;
    return KILN_OK;
}

int kiln_spec_parse_bool(const char *s, int *out)
{
    static const char *const t[] = { "true", "yes", "on" }, *const f[] = { "false", "no", "off" };
    for (int i = 0; i < 3; i++) {
        if (kiln_cstr_ieq(s, t[i])) {
            *out = 1;
            return KILN_OK;
        }
        if (kiln_cstr_ieq(s, f[i])) {
            *out = 0;
            return KILN_OK;
        }
    }
    return KILN_EINVAL;
}

int kiln_spec_get_bool(struct spec_parser *p, const struct kiln_yn *n, const char *where, int *out)
{
    if (n->kind != KILN_YN_SCALAR || !n->plain || kiln_spec_parse_bool(n->s, out) != KILN_OK)
        return kiln_spec_fail(p, n, "%s: expected true or false, got '%.40s'", where, n->s);
    return KILN_OK;
}

static int get_duration(struct spec_parser *p, const struct kiln_yn *n, const char *where,
                        int64_t *out)
{
    if (n->kind != KILN_YN_SCALAR || kiln_pl_parse_duration(n->s, out) != KILN_OK)
        return kiln_spec_fail(p, n, "%s: expected a duration such as 30s, 5m, 1h30m, got '%.40s'",
                              where, n->s);
    return KILN_OK;
}

static int get_env(struct spec_parser *p, const struct kiln_yn *n, const char *where,
                   const struct kiln_pl_kv *base, size_t nbase, const struct kiln_pl_kv **out,
                   size_t *nout)
{
    struct kiln_pl_kv *kv;
    size_t m = nbase;
    int rc = kiln_spec_want_map(p, n, where);
    if (rc != KILN_OK)
        return rc;
    kv = kiln_arena_calloc(p->a, nbase + n->n / 2 + 1, sizeof(*kv));
    if (kv == NULL)
        return kiln_spec_oom(p);
    if (nbase > 0)
        memcpy(kv, base, nbase * sizeof(*kv));
    for (size_t i = 0; i < n->n; i += 2) {
        const struct kiln_yn *k = n->kids[i], *v = n->kids[i + 1];
        size_t j;
        int ok = k->len > 0 && !(k->s[0] >= '0' && k->s[0] <= '9');
        for (size_t c = 0; c < k->len && ok; c++)
            ok = (k->s[c] >= 'A' && k->s[c] <= 'Z') || (k->s[c] >= 'a' && k->s[c] <= 'z') ||
                 (k->s[c] >= '0' && k->s[c] <= '9') || k->s[c] == '_';
        if (!ok)
            return kiln_spec_fail(p, k, "%s: '%.60s' is not a valid environment variable name",
                                  where, k->s);
        if (v->kind != KILN_YN_SCALAR)
            return kiln_spec_fail(p, v, "%s.%s: expected a string", where, k->s);
        for (j = 0; j < m; j++)
            if (strcmp(kv[j].key, k->s) == 0)
                break;
        kv[j].key = k->s;
        kv[j].value = v->s;
        kv[j].line = v->line;
        if (j == m)
            m++;
    }
    *out = kv;
    *nout = m;
    return KILN_OK;
}

/* Settings shared by `defaults:` and each task. */
struct task_opts {
    int retries, backoff, skip_code;
    int64_t retry_delay, max_retry_delay, timeout;
    enum kiln_pl_rule rule;
    const char *pool, *workdir;
    const struct kiln_pl_kv *env;
    size_t nenv;
};

static int read_opts(struct spec_parser *p, const struct kiln_yn *map, const char *where,
                     struct task_opts *o)
{
    char w[200];
    int rc = KILN_OK;
    for (size_t i = 0; i < map->n && rc == KILN_OK; i += 2) {
        const char *k = map->kids[i]->s;
        const struct kiln_yn *v = map->kids[i + 1];
        int64_t n = 0;
        snprintf(w, sizeof(w), "%s.%s", where, k);
        if (strcmp(k, "retries") == 0) {
            rc = kiln_spec_get_int(p, v, w, 0, 100, &n);
            o->retries = (int)n;
        } else if (strcmp(k, "retry_delay") == 0) {
            rc = get_duration(p, v, w, &o->retry_delay);
        } else if (strcmp(k, "retry_exponential_backoff") == 0) {
            rc = kiln_spec_get_bool(p, v, w, &o->backoff);
        } else if (strcmp(k, "max_retry_delay") == 0) {
            rc = get_duration(p, v, w, &o->max_retry_delay);
        } else if (strcmp(k, "timeout") == 0) {
            rc = get_duration(p, v, w, &o->timeout);
            if (rc == KILN_OK && o->timeout <= 0)
                rc = kiln_spec_fail(p, v, "%s: must be positive", w);
        } else if (strcmp(k, "trigger_rule") == 0) {
            const char *r = NULL;
            rc = kiln_spec_get_str(p, v, w, &r);
            if (rc == KILN_OK && kiln_pl_rule_parse(r, &o->rule) != KILN_OK)
                rc = kiln_spec_fail(p, v,
                                    "%s: unknown trigger rule '%.40s' (all_success, all_done, "
                                    "one_failed, one_success, none_failed, ...)",
                                    w, v->s);
        } else if (strcmp(k, "pool") == 0) {
            rc = kiln_spec_get_str(p, v, w, &o->pool);
        } else if (strcmp(k, "workdir") == 0) {
            rc = kiln_spec_get_str(p, v, w, &o->workdir);
        } else if (strcmp(k, "env") == 0) {
            rc = get_env(p, v, w, o->env, o->nenv, &o->env, &o->nenv);
        } else if (strcmp(k, "skip_on_exit_code") == 0) {
            if (kiln_yn_is_null(v)) {
                o->skip_code = -1;
            } else {
                rc = kiln_spec_get_int(p, v, w, 1, 255, &n);
                o->skip_code = (int)n;
            }
        }
    }
    return rc;
}

static int read_run(struct spec_parser *p, const struct kiln_yn *v, const char *where,
                    struct kiln_pl_task *t)
{
    const char **argv;
    if (v->kind == KILN_YN_SCALAR) {
        if (kiln_yn_is_null(v) || v->len == 0)
            return kiln_spec_fail(p, v, "%s: empty command", where);
        argv = kiln_arena_calloc(p->a, 2, sizeof(*argv));
        if (argv == NULL)
            return kiln_spec_oom(p);
        argv[0] = v->s;
        t->argv = argv;
        t->argc = 1;
        t->shell = 1;
        return KILN_OK;
    }
    if (v->kind != KILN_YN_SEQ || v->n == 0)
        return kiln_spec_fail(
            p, v, "%s: expected a command string or a non-empty list of arguments", where);
    argv = kiln_arena_calloc(p->a, v->n + 1, sizeof(*argv));
    if (argv == NULL)
        return kiln_spec_oom(p);
    for (size_t i = 0; i < v->n; i++) {
        if (v->kids[i]->kind != KILN_YN_SCALAR)
            return kiln_spec_fail(p, v->kids[i], "%s: each argument must be a string", where);
        argv[i] = v->kids[i]->s;
    }
    if (argv[0][0] == '\0')
        return kiln_spec_fail(p, v->kids[0], "%s: empty program name", where);
    t->argv = argv;
    t->argc = v->n;
    return KILN_OK;
}

static int read_with(struct spec_parser *p, const struct kiln_yn *task, size_t kind_idx,
                     const char *where, struct kiln_pl_task *t)
{
    const struct kiln_yn *w = kiln_yn_get(task, "with");
    const char *const *allowed = kinds[kind_idx].with;
    struct kiln_pl_kv *kv;
    char wh[256];
    int rc;

    if (w == NULL || kiln_yn_is_null(w)) {
        w = NULL;
    } else if ((rc = kiln_spec_want_map(p, w, where)) != KILN_OK) {
        return rc;
    } else if (allowed[0] == NULL) {
        return kiln_spec_fail(p, w, "%s.with: only built-in step kinds take 'with'", where);
    } else {
        snprintf(wh, sizeof(wh), "%s.with", where);
        if ((rc = kiln_spec_check_keys(p, w, wh, allowed)) != KILN_OK)
            return rc;
    }
    for (size_t i = 0; allowed[i] != NULL; i++)
        if (allowed[i][0] == '*' && kiln_yn_get(w, allowed[i] + 1) == NULL)
            return kiln_spec_fail(p, w != NULL ? w : task, "%s.with: '%s' is required for kind %s",
                                  where, allowed[i] + 1, kinds[kind_idx].name);
    if (w == NULL)
        return KILN_OK;
    kv = kiln_arena_calloc(p->a, w->n / 2 + 1, sizeof(*kv));
    if (kv == NULL)
        return kiln_spec_oom(p);
    for (size_t i = 0; i < w->n; i += 2) {
        const struct kiln_yn *v = w->kids[i + 1];
        if (v->kind != KILN_YN_SCALAR || kiln_yn_is_null(v))
            return kiln_spec_fail(p, v, "%s.with.%s: expected a string", where, w->kids[i]->s);
        kv[i / 2].key = w->kids[i]->s;
        kv[i / 2].value = v->s;
        kv[i / 2].line = v->line;
        if ((strcmp(kv[i / 2].key, "fail_on_drift") == 0 ||
             strcmp(kv[i / 2].key, "require_drift") == 0) &&
            !kiln_tpl_has_expr(v->s)) {
            int b;
            if (kiln_spec_parse_bool(v->s, &b) != KILN_OK)
                return kiln_spec_fail(p, v, "%s.with.%s: expected true or false", where,
                                      kv[i / 2].key);
        }
    }
    t->with = kv;
    t->nwith = w->n / 2;
    return KILN_OK;
}

static int read_task(struct spec_parser *p, const struct kiln_yn *name, const struct kiln_yn *node,
                     const struct task_opts *defaults, struct kiln_pl_task *t)
{
    struct task_opts o = *defaults;
    const struct kiln_yn *v;
    size_t kind_idx = 0;
    char where[200];
    int64_t n = 0;
    int rc;

    snprintf(where, sizeof(where), "tasks.%.128s", name->s);
    if (!kiln_spec_name_ok(name->s, 0))
        return kiln_spec_fail(
            p, name, "task name '%.60s' must be 1-128 letters, digits, '_' or '-'", name->s);
    if ((rc = kiln_spec_want_map(p, node, where)) != KILN_OK ||
        (rc = kiln_spec_check_keys(p, node, where, task_keys)) != KILN_OK ||
        (rc = read_opts(p, node, where, &o)) != KILN_OK)
        return rc;
    t->name = name->s;
    t->line = name->line;
    if ((v = kiln_yn_get(node, "kind")) != NULL) {
        const char *k = NULL;
        if ((rc = kiln_spec_get_str(p, v, where, &k)) != KILN_OK)
            return rc;
        for (kind_idx = 0; kind_idx < KILN_ARRAY_LEN(kinds); kind_idx++)
            if (strcmp(k, kinds[kind_idx].name) == 0)
                break;
        if (kind_idx == KILN_ARRAY_LEN(kinds))
            return kiln_spec_fail(p, v,
                                  "%s.kind: unknown kind '%.40s' (command, validate, train, "
                                  "evaluate, register, promote, drift)",
                                  where, k);
    }
    t->kind = kinds[kind_idx].kind;
    v = kiln_yn_get(node, "run");
    if (kinds[kind_idx].needs_run && v == NULL)
        return kiln_spec_fail(p, node, "%s: 'run' is required%s", where,
                              kind_idx == 0 ? " (or a built-in 'kind')" : " for kind train");
    if (!kinds[kind_idx].needs_run && v != NULL)
        return kiln_spec_fail(p, v, "%s.run: kind %s runs its own command", where,
                              kinds[kind_idx].name);
    if (v != NULL && (rc = read_run(p, v, where, t)) != KILN_OK)
        return rc;
    if ((rc = read_with(p, node, kind_idx, where, t)) != KILN_OK)
        return rc;
    if ((v = kiln_yn_get(node, "pool_slots")) != NULL) {
        if ((rc = kiln_spec_get_int(p, v, "pool_slots", 1, 100000, &n)) != KILN_OK)
            return rc;
        t->pool_slots = (int)n;
    } else {
        t->pool_slots = 1;
    }
    t->retries = o.retries;
    t->retry_delay_ms = o.retry_delay;
    t->backoff = o.backoff;
    t->max_retry_delay_ms = o.max_retry_delay;
    t->timeout_ms = o.timeout;
    t->rule = o.rule;
    t->pool = o.pool;
    t->workdir = o.workdir;
    t->env = o.env;
    t->nenv = o.nenv;
    t->skip_exit_code = o.skip_code;
    return KILN_OK;
}

static int read_tasks(struct spec_parser *p, const struct kiln_yn *root,
                      const struct task_opts *defaults)
{
    const struct kiln_yn *tasks = kiln_yn_get(root, "tasks");
    struct kiln_pl_task *t;
    size_t n;
    int rc;

    if (tasks == NULL)
        return kiln_spec_fail(p, root, "'tasks' is required");
    if ((rc = kiln_spec_want_map(p, tasks, "tasks")) != KILN_OK)
        return rc;
    n = tasks->n / 2;
    if (n == 0)
        return kiln_spec_fail(p, tasks, "tasks: at least one task is required");
    if (n > KILN_PL_MAX_TASKS)
        return kiln_spec_fail(p, tasks, "tasks: at most %d tasks", KILN_PL_MAX_TASKS);
    t = kiln_arena_calloc(p->a, n, sizeof(*t));
    p->task_nodes = kiln_arena_calloc(p->a, n, sizeof(*p->task_nodes));
    p->dep_nodes = kiln_arena_calloc(p->a, n, sizeof(*p->dep_nodes));
    if (t == NULL || p->task_nodes == NULL || p->dep_nodes == NULL)
        return kiln_spec_oom(p);
    p->spec->tasks = t;
    p->spec->ntasks = n;
    for (size_t i = 0; i < n; i++) {
        p->task_nodes[i] = tasks->kids[2 * i + 1];
        rc = read_task(p, tasks->kids[2 * i], tasks->kids[2 * i + 1], defaults, &t[i]);
        if (rc != KILN_OK)
            return rc;
        p->dep_nodes[i] = kiln_yn_get(tasks->kids[2 * i + 1], "depends_on");
    }
    return KILN_OK;
}

static int read_top(struct spec_parser *p, const struct kiln_yn *root, struct task_opts *defaults)
{
    struct kiln_pl_spec *s = p->spec;
    const struct kiln_yn *n;
    int64_t v = 0;
    int rc;

    if ((rc = kiln_spec_want_map(p, root, "spec")) != KILN_OK ||
        (rc = kiln_spec_check_keys(p, root, "spec", top_keys)) != KILN_OK)
        return rc;
    if ((n = kiln_yn_get(root, "name")) == NULL)
        return kiln_spec_fail(p, root, "'name' is required");
    if ((rc = kiln_spec_get_str(p, n, "name", &s->name)) != KILN_OK)
        return rc;
    if (!kiln_spec_name_ok(s->name, 1))
        return kiln_spec_fail(p, n, "name '%.60s' must be 1-128 letters, digits, '_', '-' or '.'",
                              s->name);
    if ((n = kiln_yn_get(root, "description")) != NULL &&
        (rc = kiln_spec_get_str(p, n, "description", &s->description)) != KILN_OK)
        return rc;
    s->max_active_runs = 16;
    s->max_active_tasks = 16;
    if ((n = kiln_yn_get(root, "max_active_runs")) != NULL) {
        if ((rc = kiln_spec_get_int(p, n, "max_active_runs", 1, 10000, &v)) != KILN_OK)
            return rc;
        s->max_active_runs = (int)v;
    }
    if ((n = kiln_yn_get(root, "max_active_tasks")) != NULL) {
        if ((rc = kiln_spec_get_int(p, n, "max_active_tasks", 1, 100000, &v)) != KILN_OK)
            return rc;
        s->max_active_tasks = (int)v;
    }
    s->experiment = s->name;
    if ((n = kiln_yn_get(root, "tracking")) != NULL) {
        static const char *const keys[] = { "experiment", NULL };
        if ((rc = kiln_spec_want_map(p, n, "tracking")) != KILN_OK ||
            (rc = kiln_spec_check_keys(p, n, "tracking", keys)) != KILN_OK)
            return rc;
        if (kiln_yn_get(n, "experiment") != NULL &&
            (rc = kiln_spec_get_str(p, kiln_yn_get(n, "experiment"), "tracking.experiment",
                                    &s->experiment)) != KILN_OK)
            return rc;
    }
    if ((n = kiln_yn_get(root, "defaults")) != NULL && !kiln_yn_is_null(n)) {
        if ((rc = kiln_spec_want_map(p, n, "defaults")) != KILN_OK ||
            (rc = kiln_spec_check_keys(p, n, "defaults", default_keys)) != KILN_OK ||
            (rc = read_opts(p, n, "defaults", defaults)) != KILN_OK)
            return rc;
    }
    return KILN_OK;
}

static int digest(struct kiln_pl_spec *s, struct kiln_err *err)
{
    struct kiln_buf b;
    unsigned char d[32];
    int rc;
    kiln_buf_init(&b, KILN_PL_SPEC_MAX + 8192);
    rc = kiln_buf_append(&b, s->text, s->text_len);
    if (rc == KILN_OK)
        rc = kiln_buf_putc(&b, '\0');
    if (rc == KILN_OK)
        rc = kiln_buf_puts(&b, s->base_dir);
    if (rc == KILN_OK) {
        kiln_pl_sha256(b.buf, b.len, d);
        kiln_hex_encode(d, sizeof(d), s->digest);
    }
    kiln_buf_release(&b);
    return rc == KILN_OK ? KILN_OK : kiln_err_set(err, rc, "out of memory");
}

int kiln_pl_spec_parse(const char *text, size_t len, const char *file, const char *base_dir,
                       struct kiln_pl_spec **out, struct kiln_err *err)
{
    struct task_opts defaults = {
        0, 0, 99, 300000, 0, 0, KILN_TR_ALL_SUCCESS, KILN_PL_DEFAULT_POOL, NULL, NULL, 0
    };
    struct spec_parser p = { 0 };
    struct kiln_arena *a;
    struct kiln_yn *root;
    struct kiln_pl_spec *s;
    int rc;

    *out = NULL;
    if (len > KILN_PL_SPEC_MAX)
        return kiln_err_set(err, KILN_EINVAL, "%s: spec larger than 1 MiB", file);
    if (strlen(base_dir) > 4096)
        return kiln_err_set(err, KILN_EINVAL, "base folder too long");
    a = kiln_arena_new(0);
    if (a == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    s = kiln_arena_calloc(a, 1, sizeof(*s));
    if (s == NULL) {
        kiln_arena_free(a);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    s->arena = a;
    s->refs = 1;
    p.a = a;
    p.err = err;
    p.spec = s;
    p.file = s->file = kiln_arena_strdup(a, file);
    s->text = kiln_arena_strndup(a, text, len);
    s->base_dir = kiln_arena_strdup(a, base_dir);
    if (p.file == NULL || s->text == NULL || s->base_dir == NULL) {
        kiln_arena_free(a);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    s->text_len = len;
    rc = kiln_yaml_load(a, text, len, file, &root, err);
    if (rc == KILN_OK)
        rc = read_top(&p, root, &defaults);
    if (rc == KILN_OK)
        rc = kiln_spec_read_params(&p, root);
    if (rc == KILN_OK)
        rc = kiln_spec_read_schedule(&p, root);
    if (rc == KILN_OK)
        rc = kiln_spec_read_triggers(&p, root);
    if (rc == KILN_OK)
        rc = kiln_spec_read_pools(&p, root);
    if (rc == KILN_OK)
        rc = read_tasks(&p, root, &defaults);
    if (rc == KILN_OK)
        rc = kiln_spec_check_graph(&p);
    if (rc == KILN_OK)
        rc = kiln_spec_check_templates(&p);
    if (rc == KILN_OK)
        rc = kiln_spec_check_refs(&p, root);
    if (rc == KILN_OK)
        rc = digest(s, err);
    if (rc != KILN_OK) {
        kiln_arena_free(a);
        return rc;
    }
    *out = s;
    return KILN_OK;
}

void kiln_pl_spec_free(struct kiln_pl_spec *spec)
{
    if (spec != NULL)
        kiln_arena_free(spec->arena);
}

long kiln_pl_spec_task(const struct kiln_pl_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->ntasks; i++)
        if (strcmp(spec->tasks[i].name, name) == 0)
            return (long)i;
    return -1;
}

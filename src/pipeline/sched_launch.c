/*
 * sched_launch.c - from a ready task instance to a process (scheduler thread only).
 *
 * Picking: ready task instances are taken in order while the executor has room
 * (parallelism), the pipeline has room (max_active_tasks, counted over all its runs) and the
 * task's pool has free slots. Each pick creates an attempt (counted as a try) whose launch is
 * rendered here: templates in the command, env, workdir and step arguments; the environment
 * (the scheduler's own, then the spec's env, then kiln's variables); the log and outputs
 * paths under <artifacts_root>/pipelines/NAME/RUN/TASK/. Built-in step kinds run
 * `kiln pipeline step KIND --arg=value ...`, a thin wrapper around kiln's own commands.
 *
 * A template that cannot be rendered (an upstream output that was never written) fails the
 * task at once, without retries: running it again would fail the same way.
 *
 * Launch strings live in s->launch_arena until the executor has copied them (submit).
 */
#include <stdio.h>
#include <string.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/sched_int.h"

extern char **environ;

static const char *const kind_names[] = {
    [KILN_STEP_RUN] = "command",       [KILN_STEP_VALIDATE] = "validate",
    [KILN_STEP_TRAIN] = "train",       [KILN_STEP_EVALUATE] = "evaluate",
    [KILN_STEP_REGISTER] = "register", [KILN_STEP_PROMOTE] = "promote",
    [KILN_STEP_DRIFT] = "drift",
};

struct render_ctx {
    struct sched_run *r;
};

static const char *param_lookup(void *user, const char *name, size_t len)
{
    struct render_ctx *c = user;
    char key[160];
    if (len >= sizeof(key))
        return NULL;
    memcpy(key, name, len);
    key[len] = '\0';
    return json_string_value(json_object_get(c->r->params, key));
}

static const char *output_lookup(void *user, const char *task, size_t tlen, const char *key,
                                 size_t klen)
{
    struct render_ctx *c = user;
    const struct kiln_pl_spec *spec = c->r->spec;
    char k[160];
    for (size_t i = 0; i < spec->ntasks; i++) {
        if (strlen(spec->tasks[i].name) != tlen || memcmp(spec->tasks[i].name, task, tlen) != 0)
            continue;
        if (klen >= sizeof(k))
            return NULL;
        memcpy(k, key, klen);
        k[klen] = '\0';
        return json_string_value(json_object_get(c->r->tis[i].outputs, k));
    }
    return NULL;
}

struct builder {
    struct kiln_arena *a;
    struct kiln_tpl_ctx tc;
    struct kiln_err *err;
};

static const char *render(struct builder *b, const char *text)
{
    struct kiln_buf out;
    const char *res = NULL;
    kiln_buf_init(&out, 1 << 20);
    if (kiln_tpl_render(text, &b->tc, &out, b->err) == KILN_OK) {
        res = kiln_arena_strndup(b->a, out.buf, out.len);
        if (res == NULL)
            kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
    }
    kiln_buf_release(&out);
    return res;
}

/* A growing NULL-terminated array of strings in the arena. */
struct strv {
    const char **v;
    size_t n, cap;
};

static int push(struct builder *b, struct strv *v, const char *s)
{
    if (s == NULL)
        return KILN_ENOMEM;
    if (v->n + 2 > v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        const char **nv = kiln_arena_alloc(b->a, cap * sizeof(*nv));
        if (nv == NULL)
            return kiln_err_set(b->err, KILN_ENOMEM, "out of memory");
        if (v->n > 0)
            memcpy(nv, v->v, v->n * sizeof(*nv));
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
    return KILN_OK;
}

static int build_argv(struct builder *b, struct kiln_pl_sched *s, const struct kiln_pl_task *t,
                      struct strv *argv)
{
    int rc = KILN_OK;
    if (t->kind != KILN_STEP_RUN) {
        rc = push(b, argv, s->kiln_bin);
        if (rc == KILN_OK)
            rc = push(b, argv, "pipeline");
        if (rc == KILN_OK)
            rc = push(b, argv, "step");
        if (rc == KILN_OK)
            rc = push(b, argv, kind_names[t->kind]);
        for (size_t i = 0; i < t->nwith && rc == KILN_OK; i++) {
            const char *v = render(b, t->with[i].value);
            if (v == NULL)
                return b->err != NULL && b->err->rc != KILN_OK ? b->err->rc : KILN_EINVAL;
            rc = push(b, argv, kiln_arena_printf(b->a, "--%s=%s", t->with[i].key, v));
        }
        if (t->kind == KILN_STEP_TRAIN && rc == KILN_OK)
            rc = push(b, argv, "--");
    }
    if (t->argc > 0 && t->shell && rc == KILN_OK) {
        rc = push(b, argv, "/bin/sh");
        if (rc == KILN_OK)
            rc = push(b, argv, "-c");
    }
    for (size_t i = 0; i < t->argc && rc == KILN_OK; i++) {
        const char *v = render(b, t->argv[i]);
        if (v == NULL)
            return b->err != NULL && b->err->rc != KILN_OK ? b->err->rc : KILN_EINVAL;
        rc = push(b, argv, v);
    }
    return rc;
}

static int has_name(const struct strv *env, const char *entry)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], entry, n) == 0 && env->v[i][n] == '=')
            return 1;
    return 0;
}

static int setenv_kv(struct builder *b, struct strv *env, const char *name, const char *value)
{
    return push(b, env, kiln_arena_printf(b->a, "%s=%s", name, value != NULL ? value : ""));
}

static int build_env(struct builder *b, struct kiln_pl_sched *s, struct sched_run *r,
                     const struct kiln_pl_task *t, const struct sched_attempt *att,
                     const char *outputs, struct strv *env)
{
    char date[48], num[32];
    const char *key;
    json_t *v;
    int rc = KILN_OK;

    kiln_pl_format_date(r->logical_ms, KILN_PL_DATE_ISO, date, sizeof(date));
    /* kiln's variables first: they win over the spec's env and the inherited environment. */
    rc = setenv_kv(b, env, "KILN_OUTPUTS", outputs);
    if (rc == KILN_OK)
        rc = setenv_kv(b, env, "KILN_PIPELINE", r->name);
    if (rc == KILN_OK)
        rc = setenv_kv(b, env, "KILN_RUN_ID", r->id);
    if (rc == KILN_OK)
        rc = setenv_kv(b, env, "KILN_TASK", t->name);
    snprintf(num, sizeof(num), "%d", att->try_number);
    if (rc == KILN_OK)
        rc = setenv_kv(b, env, "KILN_TRY_NUMBER", num);
    if (rc == KILN_OK)
        rc = setenv_kv(b, env, "KILN_LOGICAL_DATE", date);
    if (rc == KILN_OK)
        rc = push(b, env,
                  kiln_arena_printf(b->a, "KILN_ATTEMPT_ID=%s/%s/%d", r->id, t->name, att->number));
    if (rc == KILN_OK)
        rc = setenv_kv(b, env, "KILN_BIN", s->kiln_bin);
    if (s->tracking_uri != NULL && rc == KILN_OK) {
        rc = setenv_kv(b, env, "KILN_TRACKING_URI", s->tracking_uri);
        if (rc == KILN_OK)
            rc = setenv_kv(b, env, "MLFLOW_TRACKING_URI", s->tracking_uri);
        if (rc == KILN_OK)
            rc = setenv_kv(b, env, "MLFLOW_EXPERIMENT_NAME", r->spec->experiment);
        if (rc == KILN_OK && r->tracking_id != NULL && r->tracking_id[0] != '\0')
            rc = setenv_kv(b, env, "KILN_PARENT_RUN_ID", r->tracking_id);
    }
    json_object_foreach(r->params, key, v)
    {
        char *e = kiln_arena_printf(b->a, "KILN_PARAM_%s=%s", key, json_string_value(v));
        for (char *c = e != NULL ? e + 11 : NULL; c != NULL && *c != '='; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A'); /* KILN_PARAM_<NAME>, upper case */
        if (rc == KILN_OK)
            rc = push(b, env, e);
    }
    for (size_t i = 0; i < t->nenv && rc == KILN_OK; i++) {
        const char *val = render(b, t->env[i].value);
        if (val == NULL)
            return b->err != NULL && b->err->rc != KILN_OK ? b->err->rc : KILN_EINVAL;
        if (!has_name(env, t->env[i].key))
            rc = setenv_kv(b, env, t->env[i].key, val);
    }
    for (char **e = environ; e != NULL && *e != NULL && rc == KILN_OK; e++)
        if (strchr(*e, '=') != NULL && !has_name(env, *e))
            rc = push(b, env, *e);
    return rc;
}

int kiln_sched_prepare_launch(struct kiln_pl_sched *s, struct sched_run *r, size_t t,
                              struct kiln_pl_launch *l, struct kiln_err *err)
{
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    struct sched_attempt *att = r->tis[t].cur;
    struct render_ctx rctx = { r };
    struct builder b;
    struct strv argv = { 0 }, env = { 0 };
    const char *dir, *outputs, *wd = NULL;
    int rc;

    if (s->launch_arena == NULL && (s->launch_arena = kiln_arena_new(0)) == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    b.a = s->launch_arena;
    b.err = err;
    b.tc = (struct kiln_tpl_ctx){ r->name,      r->id,           r->trigger,
                                  task->name,   att->try_number, r->logical_ms,
                                  param_lookup, output_lookup,   &rctx };
    dir = kiln_arena_printf(b.a, "%s/pipelines/%s/%s", s->artifacts_root, r->name, r->id);
    att->log_path =
        dir != NULL
            ? kiln_strdup(kiln_arena_printf(b.a, "%s/%s.%d.log", dir, task->name, att->number))
            : NULL;
    outputs = dir != NULL ? kiln_arena_printf(b.a, "%s/%s.%d.outputs", dir, task->name, att->number)
                          : NULL;
    if (att->log_path == NULL || outputs == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = build_argv(&b, s, task, &argv);
    if (rc == KILN_OK)
        rc = build_env(&b, s, r, task, att, outputs, &env);
    if (rc == KILN_OK && task->workdir != NULL) {
        wd = render(&b, task->workdir);
        if (wd == NULL)
            rc = err != NULL && err->rc != KILN_OK ? err->rc : KILN_EINVAL;
        else if (wd[0] != '/' && r->spec->base_dir[0] != '\0')
            wd = kiln_arena_printf(b.a, "%s/%s", r->spec->base_dir, wd);
    } else if (rc == KILN_OK && r->spec->base_dir[0] != '\0') {
        wd = r->spec->base_dir;
    }
    if (rc != KILN_OK)
        return rc;
    memset(l, 0, sizeof(*l));
    l->argv = argv.v;
    l->envp = env.v;
    l->workdir = wd;
    l->log_path = att->log_path;
    l->outputs_path = outputs;
    l->timeout_ms = task->timeout_ms;
    return KILN_OK;
}

/* ---- picking ---------------------------------------------------------------------------- */

static struct pool_use *pool_get(struct kiln_pl_sched *s, const struct kiln_pl_spec *spec,
                                 const char *name)
{
    struct pool_use *p;
    int slots = strcmp(name, KILN_PL_DEFAULT_POOL) == 0 ? KILN_PL_DEFAULT_POOL_SLOTS : 1;
    for (size_t i = 0; i < s->npools; i++)
        if (strcmp(s->pools[i].name, name) == 0)
            return &s->pools[i];
    for (size_t i = 0; i < spec->npools; i++)
        if (strcmp(spec->pools[i].name, name) == 0)
            slots = spec->pools[i].slots;
    p = kiln_reallocarray(s->pools, s->npools + 1, sizeof(*p));
    if (p == NULL)
        return NULL;
    s->pools = p;
    p = &s->pools[s->npools];
    p->name = kiln_strdup(name);
    if (p->name == NULL)
        return NULL;
    p->slots = slots;
    p->used = 0;
    s->npools++;
    return p;
}

static size_t pipeline_active(struct kiln_pl_sched *s, const char *name)
{
    size_t n = 0;
    for (struct sched_run *r = s->runs; r != NULL; r = r->next)
        if (strcmp(r->name, name) == 0)
            n += r->nrunning;
    return n;
}

static void cb_start(void *ctx, int pid, int64_t start_ms)
{
    struct sched_msg *d = ctx, *m = d->started;
    m->pid = pid;
    m->start_ms = start_ms;
    kiln_sched_post(d->s, m);
}

static void cb_output(void *ctx, const char *data, size_t len)
{
    struct sched_msg *d = ctx;
    struct kiln_pl_sched *s = d->s;
    if (s->has_observer && s->observer.output != NULL)
        s->observer.output(s->observer.ctx, d->run->id, d->run->spec->tasks[d->task].name, data,
                           len);
}

static void cb_done(void *ctx, struct kiln_pl_exec_result *res)
{
    struct sched_msg *d = ctx;
    d->res = *res;
    res->outputs = NULL;
    kiln_sched_post(d->s, d);
}

static int launch_one(struct kiln_pl_sched *s, struct sched_run *r, size_t t, struct pool_use *pool)
{
    struct sched_ti *ti = &r->tis[t];
    const struct kiln_pl_task *task = &r->spec->tasks[t];
    struct sched_attempt *att = kiln_calloc(1, sizeof(*att));
    struct sched_msg *done = kiln_calloc(1, sizeof(*done)),
                     *started = kiln_calloc(1, sizeof(*started));
    struct kiln_pl_launch *slot;
    struct kiln_err err = { 0 };
    int rc;

    if (att == NULL || done == NULL || started == NULL ||
        (s->nlaunches == s->cap_launches &&
         (slot = kiln_reallocarray(s->launches, s->cap_launches * 2 + 16, sizeof(*slot))) ==
             NULL)) {
        kiln_free(att);
        kiln_free(done);
        kiln_free(started);
        return KILN_ENOMEM;
    }
    if (s->nlaunches == s->cap_launches) {
        s->launches = slot;
        s->cap_launches = s->cap_launches * 2 + 16;
    }
    if (ti->cur != NULL && ti->att_dirty) {
        /* Its last change is not written yet (a retry picked in the same pass). */
        ti->cur->run = r;
        ti->cur->task = t;
        ti->cur->next = s->old_atts;
        s->old_atts = ti->cur;
    } else if (ti->cur != NULL) {
        kiln_free(ti->cur->log_path);
        kiln_free(ti->cur);
    }
    att->number = ti->attempts + 1;
    att->try_number = ti->tries + 1;
    att->state = ATT_QUEUED;
    att->exit_code = -1;
    ti->cur = att;
    ti->attempts++;
    ti->tries++;
    ti->state = KILN_TI_QUEUED;
    ti->att_dirty = ti->dirty = 1;
    kiln_free(ti->message);
    ti->message = NULL;
    rc = kiln_sched_prepare_launch(s, r, t, &s->launches[s->nlaunches], &err);
    if (rc != KILN_OK) {
        kiln_free(done);
        kiln_free(started);
        att->end_ms = att->start_ms = kiln_now_ms();
        kiln_sched_fail_attempt(s, r, t, kiln_err_msg(&err, rc), rc == KILN_ENOMEM);
        return KILN_OK;
    }
    done->kind = MSG_DONE;
    done->run = r;
    done->task = t;
    done->attempt = att->number;
    done->s = s;
    done->started = started;
    *started = *done;
    started->kind = MSG_STARTED;
    started->started = NULL;
    slot = &s->launches[s->nlaunches++];
    slot->on_start = cb_start;
    slot->on_output = cb_output;
    slot->on_done = cb_done;
    slot->ctx = done;
    ti->started_msg = started;
    if (pool != NULL) {
        pool->used += task->pool_slots;
        ti->pool_held = 1;
    }
    s->nrunning++;
    r->nrunning++;
    kiln_sched_emit_task(s, r, t);
    return KILN_OK;
}

void kiln_sched_launch_ready(struct kiln_pl_sched *s)
{
    size_t w = 0;
    for (size_t i = 0; i < s->nready; i++) {
        struct ready e = s->ready[i];
        struct sched_run *r = e.run;
        const struct kiln_pl_task *task = &r->spec->tasks[e.task];
        struct pool_use *pool;
        if (r->tis[e.task].state != KILN_TI_SCHEDULED || r->cancel || r->state != KILN_RUN_RUNNING)
            continue; /* settled meanwhile: drop it */
        pool = pool_get(s, r->spec, task->pool);
        if (s->nrunning >= s->parallelism ||
            pipeline_active(s, r->name) >= (size_t)r->spec->max_active_tasks || pool == NULL ||
            pool->used + task->pool_slots > pool->slots || r->tracking_pending ||
            launch_one(s, r, e.task, pool) != KILN_OK)
            s->ready[w++] = e; /* waits for a slot */
    }
    s->nready = w;
}

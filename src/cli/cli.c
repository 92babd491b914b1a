/*
 * cli.c - option parsing, exit codes, tracking-URI lookup (see cli.h).
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/str.h"

int kiln_strv_push(struct kiln_strv *v, const char *s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        const char **p = kiln_reallocarray(v->v, cap, sizeof(*p));
        if (p == NULL)
            return KILN_ENOMEM;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = s;
    return KILN_OK;
}

void kiln_strv_release(struct kiln_strv *v)
{
    kiln_free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

static const struct kiln_opt *find_long(const struct kiln_opt *opts, size_t n, const char *name,
                                        size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static const struct kiln_opt *find_short(const struct kiln_opt *opts, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (opts[i].short_name == c)
            return &opts[i];
    return NULL;
}

static int store(const struct kiln_opt *o, const char *val, struct kiln_err *err)
{
    switch (o->kind) {
    case KILN_OPT_FLAG:
        *(int *)o->out = 1;
        return KILN_OK;
    case KILN_OPT_STR:
        *(const char **)o->out = val;
        return KILN_OK;
    case KILN_OPT_INT:
        if (kiln_parse_int64(val, strlen(val), (int64_t *)o->out) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL, "option --%s: '%s' is not an integer", o->name,
                                val);
        return KILN_OK;
    case KILN_OPT_MULTI:
        return kiln_strv_push(o->out, val) == KILN_OK
                   ? KILN_OK
                   : kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    return KILN_EINVAL;
}

int kiln_opts_parse(int argc, char **argv, const struct kiln_opt *opts, size_t nopts,
                    struct kiln_strv *pos, struct kiln_err *err)
{
    int help = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct kiln_opt *o = NULL;
        const char *val = NULL;
        int rc;

        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (kiln_strv_push(pos, a) != KILN_OK)
                return kiln_err_set(err, KILN_ENOMEM, "out of memory");
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help = 1;
            continue;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
            o = find_long(opts, nopts, a + 2, len);
            if (o == NULL)
                return kiln_err_set(err, KILN_EINVAL, "unknown option '--%.*s'", (int)len, a + 2);
            if (eq != NULL) {
                if (o->kind == KILN_OPT_FLAG)
                    return kiln_err_set(err, KILN_EINVAL, "option --%s takes no value", o->name);
                val = eq + 1;
            }
        } else {
            if (a[2] != '\0')
                return kiln_err_set(err, KILN_EINVAL, "unknown option '%s'", a);
            o = find_short(opts, nopts, a[1]);
            if (o == NULL)
                return kiln_err_set(err, KILN_EINVAL, "unknown option '%s'", a);
        }
        if (o->kind != KILN_OPT_FLAG && val == NULL) {
            if (i + 1 >= argc)
                return kiln_err_set(err, KILN_EINVAL, "option --%s needs a value", o->name);
            val = argv[++i];
        }
        rc = store(o, val, err);
        if (rc != KILN_OK)
            return rc;
    }
    return help ? KILN_OPTS_HELP : KILN_OK;
}

int kiln_cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("kiln: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return KILN_EXIT_USAGE;
}

int kiln_cli_after_parse(int rc, size_t npos, const char *cmd, const char *usage,
                         const struct kiln_err *err)
{
    if (rc == KILN_OPTS_HELP || (rc == KILN_OK && npos == 0)) {
        fputs(usage, rc == KILN_OPTS_HELP ? stdout : stderr);
        return rc == KILN_OPTS_HELP ? KILN_EXIT_OK : KILN_EXIT_USAGE;
    }
    if (rc != KILN_OK)
        return kiln_cli_fail("%s: %s (see 'kiln %s --help')", cmd, err->msg, cmd);
    return -1;
}

int kiln_cli_exit_code(int rc)
{
    if (rc == KILN_OK)
        return KILN_EXIT_OK;
    return rc == KILN_ECHECK ? KILN_EXIT_FAIL : KILN_EXIT_USAGE;
}

int kiln_cli_fail_rc(int rc, const struct kiln_err *err)
{
    fprintf(stderr, "kiln: %s\n", kiln_err_msg(err, rc));
    return kiln_cli_exit_code(rc);
}

const char *kiln_cli_tracking_uri(const char *flag)
{
    const char *v;
    if (flag != NULL && *flag != '\0')
        return flag;
    v = getenv("KILN_TRACKING_URI");
    if (v != NULL && *v != '\0')
        return v;
    v = getenv("MLFLOW_TRACKING_URI");
    if (v != NULL && *v != '\0')
        return v;
    return "http://127.0.0.1:5000";
}

int kiln_cli_isatty(FILE *f)
{
    return isatty(fileno(f));
}

/*
 * err.c - the tables behind err.h and the error-detail helpers.
 *
 * Everything here is reentrant: the tables are static const and kiln_err_set writes only to
 * the caller's struct with vsnprintf (no allocation, usable when memory is exhausted).
 */
#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct err_info {
    int rc;
    const char *name;
    const char *msg;
    int http;
    const char *code;
};

static const struct err_info err_table[] = {
#define ERR_ROW_(name, val, msg, http, code) { val, "KILN_" #name, msg, http, code },
    KILN_ERR_MAP(ERR_ROW_)
#undef ERR_ROW_
};

static const struct err_info *err_lookup(int rc)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(err_table); i++)
        if (err_table[i].rc == rc)
            return &err_table[i];
    return NULL;
}

static int err_vset(struct kiln_err *err, int rc, const char *fmt, va_list ap) KILN_PRINTF(3, 0);

static int err_vset(struct kiln_err *err, int rc, const char *fmt, va_list ap)
{
    if (err == NULL)
        return rc;
    err->rc = rc;
    if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
        err->msg[0] = '\0';
    return rc;
}

int kiln_err_set(struct kiln_err *err, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

int kiln_err_default(struct kiln_err *err, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL && err->rc == rc && err->msg[0] != '\0')
        return rc;
    va_start(ap, fmt);
    err_vset(err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

void kiln_err_clear(struct kiln_err *err)
{
    if (err == NULL)
        return;
    err->rc = KILN_OK;
    err->msg[0] = '\0';
}

const char *kiln_err_msg(const struct kiln_err *err, int rc)
{
    if (err != NULL && err->msg[0] != '\0')
        return err->msg;
    return kiln_strerror(rc);
}

const char *kiln_strerror(int rc)
{
    const struct err_info *e;
    if (rc == KILN_OK)
        return "success";
    e = err_lookup(rc);
    return e != NULL ? e->msg : "unknown error";
}

const char *kiln_err_name(int rc)
{
    const struct err_info *e;
    if (rc == KILN_OK)
        return "KILN_OK";
    e = err_lookup(rc);
    return e != NULL ? e->name : "KILN_EUNKNOWN";
}

int kiln_rc_http(int rc)
{
    const struct err_info *e;
    if (rc == KILN_OK)
        return 200;
    e = err_lookup(rc);
    return e != NULL ? e->http : 500;
}

const char *kiln_rc_mlflow_code(int rc)
{
    const struct err_info *e = err_lookup(rc);
    return e != NULL ? e->code : "INTERNAL_ERROR";
}

int kiln_rc_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return KILN_OK;
    case ENOENT:
    case ENOTDIR:
        return KILN_ENOENT;
    case EEXIST:
        return KILN_EEXIST;
    case ENOMEM:
        return KILN_ENOMEM;
    case EINVAL:
        return KILN_EINVAL;
    case EACCES:
    case EPERM:
        return KILN_EPERM;
    case EFBIG:
    case ENAMETOOLONG:
        return KILN_ETOOBIG;
    case ETIMEDOUT:
        return KILN_ETIMEDOUT;
    case ECANCELED:
        return KILN_ECANCELED;
    case ENOTSUP:
        return KILN_ENOTSUP;
    default:
        return KILN_EIO;
    }
}

_Noreturn void kiln_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "kiln: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

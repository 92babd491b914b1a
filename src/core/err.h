/*
 * err.h - kiln's one error vocabulary.
 *
 * Every function that can fail returns an `int` that is KILN_OK (0) or one of the negative
 * codes below. The codes come from one X-macro table, KILN_ERR_MAP, which also gives each code
 * its message, its HTTP status and the MLflow `error_code` string that the REST API sends, so
 * a code means the same thing in a log line, an API body and a CLI exit.
 *
 * Codes are part of the API (they appear in JSON and CLI output): never renumber one, only
 * append new codes at the end of the table.
 *
 * Details travel in `struct kiln_err`, an optional out parameter that never allocates:
 *
 *     return kiln_err_set(err, KILN_EINVAL, "metric '%s': value is not a number", key);
 *
 * Messages are lowercase, have no final full stop, and quote their subject. Thread-safe: all
 * functions here are pure or write only to the caller's struct.
 */
#ifndef KILN_CORE_ERR_H
#define KILN_CORE_ERR_H

#include <stddef.h>

/* X(NAME, value, message, HTTP status, MLflow error_code) */
#define KILN_ERR_MAP(X)                                                         \
    X(EINVAL, -1, "invalid parameter value", 400, "INVALID_PARAMETER_VALUE")    \
    X(ENOENT, -2, "resource does not exist", 404, "RESOURCE_DOES_NOT_EXIST")    \
    X(EEXIST, -3, "resource already exists", 400, "RESOURCE_ALREADY_EXISTS")    \
    X(ENOMEM, -4, "out of memory", 503, "TEMPORARILY_UNAVAILABLE")              \
    X(ETOOBIG, -5, "value too large", 400, "INVALID_PARAMETER_VALUE")           \
    X(EIO, -6, "input/output error", 500, "INTERNAL_ERROR")                     \
    X(ENOTSUP, -7, "not supported by this build", 501, "NOT_IMPLEMENTED")       \
    X(ECONFLICT, -8, "conflicting concurrent change", 409, "RESOURCE_CONFLICT") \
    X(ECANCELED, -9, "operation canceled", 499, "CANCELLED")                    \
    X(ENOENDPOINT, -10, "endpoint not found", 404, "ENDPOINT_NOT_FOUND")        \
    X(EMETHOD, -11, "method not allowed", 405, "BAD_REQUEST")                   \
    X(EPARSE, -12, "malformed input", 400, "BAD_REQUEST")                       \
    X(EBODYTOOBIG, -13, "request body too large", 413, "BAD_REQUEST")           \
    X(ECHECK, -14, "check failed", 400, "INVALID_PARAMETER_VALUE")              \
    X(ETIMEDOUT, -15, "timed out", 504, "DEADLINE_EXCEEDED")                    \
    X(EUNAVAIL, -16, "service unavailable", 503, "TEMPORARILY_UNAVAILABLE")     \
    X(ESTATE, -17, "invalid state", 400, "INVALID_STATE")                       \
    X(EPERM, -18, "permission denied", 403, "PERMISSION_DENIED")                \
    X(EINTERNAL, -19, "internal error", 500, "INTERNAL_ERROR")                  \
    X(EMEDIA, -20, "unsupported media type", 415, "BAD_REQUEST")

enum kiln_rc {
    KILN_OK = 0,
#define KILN_ERR_ENUM_(name, val, msg, http, code) KILN_##name = (val),
    KILN_ERR_MAP(KILN_ERR_ENUM_)
#undef KILN_ERR_ENUM_
};

#define KILN_ERR_MSG_MAX 256

/* Error details. `rc` mirrors the return code; `msg` is always NUL-terminated. */
struct kiln_err {
    int rc;
    char msg[KILN_ERR_MSG_MAX];
};

#if defined(__GNUC__)
#define KILN_PRINTF(m, n) __attribute__((format(printf, m, n)))
#else
#define KILN_PRINTF(m, n)
#endif

/*
 * Records `rc` and a formatted message in `err` (which may be NULL) and returns `rc`, so
 * callers can write `return kiln_err_set(err, ...)`. A message already in `err` is replaced.
 */
int kiln_err_set(struct kiln_err *err, int rc, const char *fmt, ...) KILN_PRINTF(3, 4);

/*
 * Like kiln_err_set, but keeps a message already recorded for the same rc: used at a boundary
 * that wants to supply a fallback text without hiding a more precise one set deeper down.
 */
int kiln_err_default(struct kiln_err *err, int rc, const char *fmt, ...) KILN_PRINTF(3, 4);

/* Resets `err` to KILN_OK with an empty message. NULL is a no-op. */
void kiln_err_clear(struct kiln_err *err);

/*
 * The message for `err`: its own text when one was set, else kiln_strerror(rc). Never NULL.
 */
const char *kiln_err_msg(const struct kiln_err *err, int rc);

/* Static description of a code ("invalid parameter value"); "unknown error" for others. */
const char *kiln_strerror(int rc);
/* Static name of a code ("KILN_EINVAL"); "KILN_OK" for 0. */
const char *kiln_err_name(int rc);
/* HTTP status for a code: 200 for KILN_OK, 500 for unknown codes. */
int kiln_rc_http(int rc);
/* MLflow error_code string for a code ("INVALID_PARAMETER_VALUE"). */
const char *kiln_rc_mlflow_code(int rc);
/* Maps an errno value to a kiln code (ENOENT -> KILN_ENOENT, ENOMEM -> KILN_ENOMEM, ...). */
int kiln_rc_from_errno(int errnum);

/* Always-on invariant check: logs file:line and the expression, then aborts. */
#define KILN_ASSERT(x)                                \
    do {                                              \
        if (!(x))                                     \
            kiln_assert_fail(#x, __FILE__, __LINE__); \
    } while (0)

#ifdef NDEBUG
#define KILN_DASSERT(x) ((void)0)
#else
#define KILN_DASSERT(x) KILN_ASSERT(x)
#endif

_Noreturn void kiln_assert_fail(const char *expr, const char *file, int line);

#define KILN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif

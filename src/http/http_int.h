/*
 * http_int.h - internals shared by the files of src/http/ only.
 */
#ifndef KILN_HTTP_INT_H
#define KILN_HTTP_INT_H

#include "http/http.h"

struct kiln_router {
    struct kiln_route *routes;
    size_t n, cap;
    size_t max_body;
    kiln_http_error_fn error_fn;
    kiln_http_handler fallback;
};

#define KILN_HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)

#endif

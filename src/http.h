/*
 * http.h -- the OpenTSDB HTTP API subset a relay serves.
 *
 * Owns HTTP/1.1 request parsing (http-parser), keep-alive, the request
 * size bound (max-http-body-bytes, checked on Content-Length before the
 * body is buffered), gzip bodies, and POST /api/put (with ?summary /
 * ?details as the TSD answers them).  Every other path goes to the
 * endpoint its owner set (the status module).  It must never buffer more
 * than the bound and never allocate per point.
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct http_conn;

/* A request for an endpoint other than /api/put. */
struct http_request {
    int method;              /* http-parser's enum http_method */
    bool head;               /* HEAD: the response goes without its body */
    const char *path;        /* without the query */
    size_t path_len;
    const char *query;       /* after the "?" */
    size_t query_len;
};

/* Serves one request by calling http_respond or http_respond_error. */
typedef void (*http_endpoint_fn)(void *ctx, struct http_conn *h, const struct http_request *req);

struct http_conn *http_conn_new(struct client *c);
void http_conn_free(struct http_conn *h);
/* Feeds bytes.  TS_OK to keep reading, TS_ERROR to close once the reply
 * is written. */
int http_feed(struct http_conn *h, const char *buf, size_t len);
void http_set_endpoint(struct http_conn *h, http_endpoint_fn fn, void *ctx);
/* The response to the request being served (keep-alive as it asked). */
void http_respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t len);
/* The TSD's JSON error object: {"error":{"code","message"[,"details"]}}. */
void http_respond_error(struct http_conn *h, int code, const char *message, const char *details);
/* A request is partly received (for the read deadline). */
int http_in_request(const struct http_conn *h);

#endif

/*
 * http.h -- the OpenTSDB HTTP API subset a relay serves.
 *
 * Owns HTTP/1.1 request parsing (http-parser), keep-alive, the request
 * size bound (max-http-body-bytes, checked on Content-Length before the
 * body is buffered), gzip bodies, and the endpoints: POST /api/put (with
 * ?summary / ?details as the TSD answers them), GET /api/version,
 * /api/stats, /metrics and /health.  It must never buffer more than the
 * bound and never allocate per point.
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <stddef.h>

struct client;
struct http_conn;

struct http_conn *http_conn_new(struct client *c);
void http_conn_free(struct http_conn *h);
/* Feeds bytes.  TS_OK to keep reading, TS_ERROR to close once the reply
 * is written. */
int http_feed(struct http_conn *h, const char *buf, size_t len);
/* A request is partly received (for the read deadline). */
int http_in_request(const struct http_conn *h);

#endif

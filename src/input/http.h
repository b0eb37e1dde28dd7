/*
 * http.h -- HTTP/1.1 for the relay: request framing and the writes, POST
 * /api/put, /api/rollup and /api/histogram.
 *
 * Owns request parsing (http-parser), keep-alive and pipelining, the body
 * bound (max-http-body-bytes: 413 on a Content-Length over it, before a
 * byte of the body is read), gzip bodies, and the writes (/api/put,
 * /api/rollup, /api/histogram) with the TSD's answers (204, or ?summary /
 * ?details).  The relay's other paths go to the endpoint the host set
 * (the status module); with a pass-through on, every path that is not the
 * relay's own is passed (httppass.h): its head as received, its body
 * streamed as fast as the pass-through takes it, its answer streamed back;
 * the next request on the connection waits for that answer (pipelined
 * requests are answered in order).  A body is buffered only in
 * memory its host admitted for it; when the sink has no room for a
 * datapoint, the request stops where it was and carries on when fed
 * again.  It knows nothing of sockets, backends or the relay, must never
 * buffer more than the bound and never allocate per point.
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "input/http_types.h"

/* The host struct is copied. */
struct http_conn *http_conn_new(const struct http_host *host);
void http_conn_free(struct http_conn *h);
/* Bytes a connection's decoder takes, for the host's accounting. */
size_t http_conn_size(void);

/* Feeds bytes; returns how many it took (the rest is to be fed again:
 * a request waits, or the connection is to close).  First carries on with
 * a waiting request. */
size_t http_feed(struct http_conn *h, const char *buf, size_t len, enum http_state *state);
/* A request waits (for body memory or for room): feed it, even with no
 * new bytes, to let it carry on. */
bool http_waiting(const struct http_conn *h);
/* A request is partly received (for the read deadline). */
bool http_in_request(const struct http_conn *h);
/* A passed request is in progress (its answer, or its body, moves). */
bool http_passing(const struct http_conn *h);
/* The client's socket took everything a passed answer offered. */
void http_writable(struct http_conn *h);

/* ?sync: the request waits for its proofs (until http_sync_done). */
bool http_sync_waiting(const struct http_conn *h);
/* One of its points (a canonical line) was refused for good: counted
 * failed, listed with ?details. */
void http_sync_refused(struct http_conn *h, const char *line, size_t len, const char *text,
                       size_t tlen);
/* The wait is over: proven (every point stored or refused), or timed out
 * (the TSD's timeout answer).  Feed the connection to carry on. */
void http_sync_done(struct http_conn *h, bool proven);

/* The response to the request being served (keep-alive as it asked). */
void http_respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t len);
/* The TSD's JSON error object: {"error":{"code","message"[,"details"]}}. */
void http_respond_error(struct http_conn *h, int code, const char *message, const char *details);
/* Query parameter `name` of query (after the "?", not decoded; NULL: no
 * query): true when
 * given, with its value (the last one given, as the TSD's
 * getQueryStringParam takes it; vlen 0 when given without "=value"). */
bool http_query_param(const char *query, size_t qlen, const char *name, const char **val,
                      size_t *vlen);
/* 302 Found to location (a path of this relay). */
void http_redirect(struct http_conn *h, const char *location);

#endif

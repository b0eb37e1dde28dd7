/*
 * rejected_http.h -- the HTTP endpoints of the points backends refused for
 * good: GET /tsrelay/rejected (the last few, and where they are kept) and
 * POST /tsrelay/rejected/replay?backend=NAME (send the kept ones to the
 * backend again, once the cause is fixed).
 *
 * Owns those two answers only; what is kept and replayed is the spool's
 * (spool/rejected.c), what is remembered core/rejects.c's.  Never on the
 * data path.
 */
#ifndef TS_REJECTED_HTTP_H
#define TS_REJECTED_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct relay;
struct http_conn;
struct http_request;

/* A path of these endpoints (or below them). */
bool rejected_http_path(const char *path, size_t len);
void rejected_http(struct relay *r, struct http_conn *h, const struct http_request *req);

#endif

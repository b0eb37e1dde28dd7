/*
 * status.h -- what tsrelay shows about itself over HTTP.
 *
 * Owns the read-only endpoints that report state: under /tsrelay/ the
 * status page with its tables (/tsrelay/tables) and files, the history
 * (/tsrelay/api/stats/history), the stats JSON (/tsrelay/api/stats) and
 * the version (/tsrelay/api/version); GET /health and /metrics; and,
 * without a read pass-through, / (a redirect to /tsrelay/), /api/version
 * and /api/stats.  The HTTP decoder hands it the relay's paths other than
 * the writes; the renderings come from the stats, statuspage and history
 * modules.  It
 * must never change state (no control endpoints) and never show a secret
 * (a Redis password, say).
 */
#ifndef TS_STATUS_H
#define TS_STATUS_H

#include <stdbool.h>

#include "input/http.h"

struct relay;

/* Serves req on h (an http_endpoint_fn; ctx is the relay).  Answers 404
 * for a path it does not know and 405 for a method it does not take. */
void status_http(void *ctx, struct http_conn *h, const struct http_request *req);

#endif

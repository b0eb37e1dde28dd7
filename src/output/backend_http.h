/*
 * backend_http.h -- protocol = http: a backend written as POST /api/put
 * (and /api/rollup, /api/histogram) requests, each point's fate read from
 * the answer.
 *
 * Owns, per HTTP backend, its pool of keep-alive connections (httpc.c:
 * `conns` of them, `http-pipeline` requests in flight on each where the
 * server keeps them alive), and, per lane (a backend connection's queue
 * of canonical lines: a series keeps its lane), a window of batches: a
 * batch is a run of the lane's lines sent as one request of at most
 * http-batch points and http-batch-bytes of JSON (gzip-compressed with
 * http-gzip), with ?details (and &sync&sync_timeout= with sync = on).
 * The answer decides each line: delivered (not listed as failed), refused
 * for good (reported upward through backend_env.on_rejected, counted by
 * reason), or to be sent again after a backoff with jitter (throttling,
 * storage exceptions, timeouts, 5xx, a connection lost before the answer,
 * a request the TSD refused whole -- but a 404 for /api/rollup or
 * /api/histogram: a TSD before 2.4 has no such endpoint, and its points
 * are refused for good as unsupported); "Please throttle" also lowers the
 * backend's rate (throttle.c, under max-rate).  Lines stay in the lane's
 * queue until every batch before them is done, so a lane acknowledges in
 * order and the spool, its drain, the memory budget and the delivery
 * marks work as for telnet.  A pool that cannot connect fails its lanes
 * (their lines go to the spool, as a telnet connection's do).  Memory:
 * each batch of the window holds one pool block for its body, taken at
 * start; nothing is allocated per request or per point.  It must never
 * count a line delivered that an answer did not prove, never send a
 * batch whose JSON could be refused as a whole, and never open a
 * connection per request.
 */
#ifndef TS_BACKEND_HTTP_H
#define TS_BACKEND_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "output/backend.h"
#include "output/backend_http_stats.h"

/* What lifecycle.c puts in backend_env.http. */
extern const struct backend_proto backend_http_proto;

/* Its counters (stats, status page); NULL for a telnet backend. */
const struct backend_http_stats *backend_http_stats(const struct backend *be);

#endif

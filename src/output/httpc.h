/*
 * httpc.h -- an HTTP/1.1 client: a pool of long-lived keep-alive
 * connections to one server.
 *
 * Owns, per pool (one server address, looked up without blocking):
 *   - at most `conns` connections, opened when a request needs one (a
 *     non-blocking connect within connect_ms), kept open across requests
 *     and replaced when they fail or the server closes them; after a
 *     failed connect with no connection up the pool is down (backoff with
 *     jitter, reconnect-min doubling to reconnect-max);
 *   - the requests waiting for a connection: first come, first served, at
 *     most wait_ms each;
 *   - per connection, up to `pipeline` requests in flight (written in
 *     order, answered in order), one while the server has not shown that
 *     it keeps connections alive (HTTP/1.1 without "Connection: close");
 *   - each response parsed with http-parser and handed to its request:
 *     its headers one by one, then its body as it arrives (chunked,
 *     Content-Length or up to the server's close; none for HEAD, 1xx,
 *     204 and 304; 1xx answers are skipped, the final one is delivered);
 *   - backpressure: a body callback that takes fewer bytes than it was
 *     offered pauses the connection: nothing more is read from the server
 *     until httpc_resume, and what was not taken is offered again then;
 *   - timeouts: connect_ms for a connect, timeout_ms without progress (no
 *     byte written or read) while a request is in flight;
 *   - TLS when its options give a context (a hold on a backend's,
 *     output/tls_client.h): every connection's handshake within connect_ms
 *     (a failure is a connect failure, counted), the name verified, new
 *     connections taking a context handed over later (httpc_pool_set_tls);
 *     a clear pool pays one branch per read and write (httpc_tls.c);
 *   - its counters.
 * Memory: a connection with a request in flight holds one block of the
 * pool (its read buffer, in the pool class given), given back once it is
 * idle; nothing is allocated per request and nothing is buffered past
 * that block: a request's head and body stay in the caller's memory until
 * they are written.
 *
 * It must never open a connection per request, never read past what its
 * caller takes, never reuse a connection whose exchange did not finish,
 * and never call a caller back from inside httpc_submit, httpc_cancel,
 * httpc_resume or httpc_body_ready (they take effect from the loop).  It
 * knows nothing of clients, proxies or points.
 *
 * The contract with a caller (the read pass-through, core/proxy.c; HTTP
 * backends writing POST /api/put batches):
 *   - The caller owns struct httpc_req (embed it, find yours back with
 *     container_of) and everything it points at; it fills the fields
 *     marked "caller" and calls httpc_submit.  From TS_OK on the request
 *     is the pool's until on_done (or httpc_cancel): its memory, head and
 *     headers must stay where they are until then.
 *   - Callbacks come from the loop only, for one request in this order:
 *     on_header (each response header), on_head (once), on_body (zero or
 *     more times), on_done (exactly once, last; also after a failure
 *     before any of the others).  body_next / body_sent run while the
 *     request is written.  Inside any callback the caller may submit,
 *     cancel (any request; its own too, except in on_done), resume and
 *     signal body_ready; never free the pool.
 *   - on_done's result says how far the exchange got: r->sent (a byte of
 *     the request was written) and r->answered (a byte of the response
 *     was read) let the caller decide a retry: HTTPC_LOST with answered
 *     false was never answered (a POST may have been executed all the
 *     same: the server may have read it).
 */
#ifndef TS_HTTPC_H
#define TS_HTTPC_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/httpc_req.h"

/* A pool on loop (opts copied; name/host/port/dns_servers copied too).
 * NULL when out of memory. */
struct httpc_pool *httpc_pool_new(struct ev_loop *loop, struct pool *mem,
                                  const struct httpc_opts *opts);
/* Closes every connection; requests still in the pool get no callback
 * (the caller tears them down itself). */
void httpc_pool_free(struct httpc_pool *p);
/* Timeouts, wait bound and backoff may change in place (a reload); the
 * address and conns may not (make a new pool). */
void httpc_pool_set_timeouts(struct httpc_pool *p, uint64_t connect_ms, uint64_t timeout_ms,
                             uint64_t wait_ms);
/* The TLS context connections made from now on use (a reload: the
 * certificates were read again); open ones keep theirs.  The pool holds
 * tc (and drops the old one).  Turning TLS on or off, or another name to
 * verify, takes a new pool: tc is NULL exactly when the pool's is. */
void httpc_pool_set_tls(struct httpc_pool *p, struct tls_client *tc);
/* The name a TLS pool verifies ("" in clear text). */
const char *httpc_pool_tls_name(const struct httpc_pool *p);

/* Takes r.  TS_OK: on_done will come.  TS_EAGAIN: the pool is down (its
 * last connect failed and no connection is up; httpc_pool_down) and r was
 * not taken.  No callback runs before httpc_submit returns. */
int httpc_submit(struct httpc_pool *p, struct httpc_req *r);
/* Takes r back: it gets no callback any more.  A request the server has
 * begun to be sent or to answer costs its connection (closed, to be
 * replaced; pipelined requests behind it fail HTTPC_LOST). */
void httpc_cancel(struct httpc_req *r);
/* The caller takes body bytes again (after on_body took fewer than
 * offered). */
void httpc_resume(struct httpc_req *r);
/* body_next has bytes again (after it gave 0 without the end). */
void httpc_body_ready(struct httpc_req *r);

/* The pool's last connect failed and no connection is up: requests are
 * refused until the backoff has passed. */
bool httpc_pool_down(const struct httpc_pool *p);
/* No request is in the pool (none waits, none is on a connection). */
bool httpc_pool_idle(const struct httpc_pool *p);
int httpc_pool_conns_open(const struct httpc_pool *p);
int httpc_pool_conns_busy(const struct httpc_pool *p);
size_t httpc_pool_waiting(const struct httpc_pool *p);
const struct httpc_stats *httpc_pool_stats(const struct httpc_pool *p);

const char *httpc_result_name(enum httpc_result res);

#endif

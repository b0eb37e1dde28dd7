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

#include "input/httppass.h"

struct http_conn;
struct sink;
struct pool;
struct sockaddr;

/* A request for an endpoint other than /api/put. */
struct http_request {
    int method;              /* http-parser's enum http_method */
    bool head;               /* HEAD: the response goes without its body */
    const char *path;        /* without the query */
    size_t path_len;
    const char *query;       /* after the "?" */
    size_t query_len;
    const struct sockaddr *peer; /* the client's address (admin-allow), NULL if unknown */
};

/* Serves one request by calling http_respond or http_respond_error. */
typedef void (*http_endpoint_fn)(void *ctx, struct http_conn *h, const struct http_request *req);

/* What the decoder needs from the connection that owns it. */
struct http_host {
    struct sink *sink;       /* /api/put datapoints go here */
    struct pool *pool;       /* ?details answers are charged here (input class) */
    uint64_t max_body;       /* max-http-body-bytes */
    bool data_allowed;       /* false: /api/put is answered 503 (a stats-only slot) */
    const struct sockaddr *peer; /* the client's address, handed to the endpoint */
    void *ctx;
    /* Queues a response (head, then body).  control: an answer about the
     * relay itself.  close: the connection ends after it.  false when it
     * could not be buffered (the host then closes). */
    bool (*reply)(void *ctx, const char *head, size_t hlen, const char *body, size_t blen,
                  bool control, bool close);
    /* Memory for a request body of len bytes.  TS_OK with *buf; TS_EAGAIN:
     * not yet (the request waits; feed it again once the host has it). */
    int (*body_alloc)(void *ctx, size_t len, char **buf);
    void (*body_free)(void *ctx, char *buf, size_t len);
    http_endpoint_fn endpoint;
    void *endpoint_ctx;
    /* the read pass-through (NULL: none): every path not the relay's own */
    const struct httppass_ops *pass;
    void *pass_ctx;
    const char *origin;      /* the client's address */
    uint64_t max_header;     /* max-http-header-bytes of a passed request */
    /* A passed request's answer: bytes straight to the client after what
     * is pending; returns how many were taken (fewer: http_writable is
     * called when the socket takes more). */
    size_t (*stream)(void *ctx, const char *data, size_t len);
    /* A waiting request can go on: feed the connection again (from the
     * loop, not from inside this call). */
    void (*wake)(void *ctx);
    /* ?sync (NULL: answered at acceptance): where a request's points begin
     * (before its first point), then, once every point was taken, the wait
     * for their proofs, at most timeout_ms (the client's sync_timeout; 0:
     * none given): TS_OK, and the host calls http_sync_done (and
     * http_sync_refused for each of them refused for good meanwhile);
     * anything else answers at once. */
    int (*sync_begin)(void *ctx);
    int (*sync_wait)(void *ctx, uint64_t timeout_ms);
};

enum http_state {
    HTTP_READY = 0,          /* give it more bytes when they come */
    HTTP_WAIT_BODY,          /* a request waits for body memory */
    HTTP_WAIT_ROOM,          /* a request waits for room in the queues */
    HTTP_WAIT_PASS,          /* a passed request waits (room for its body, or its
                                answer): host.wake says when to feed again */
    HTTP_WAIT_SYNC,          /* a ?sync request waits for its points' proofs */
    HTTP_CLOSE,              /* close once the replies are written */
};

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
/* 302 Found to location (a path of this relay). */
void http_redirect(struct http_conn *h, const char *location);

#endif

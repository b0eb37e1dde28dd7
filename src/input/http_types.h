/*
 * http_types.h -- the types of HTTP/1.1 for the relay (http.h): the
 * request an endpoint serves, what the host gives a connection, and the
 * states a feed ends in.  Apart from http.h's functions so that
 * http_conn.h (a connection's state, shared by http.c and httpput.c) can
 * embed them without including http.h.
 */
#ifndef TS_HTTP_TYPES_H
#define TS_HTTP_TYPES_H

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

#endif

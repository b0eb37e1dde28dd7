/*
 * httppass.h -- an HTTP request passed through to another server (the
 * read pass-through), as the client's side sees it.
 *
 * Owns which paths are the relay's own (the writes, /tsrelay/...,
 * /metrics, /health: http.c answers those; every other one goes through
 * when a pass-through is on), the passed request's head as received (its
 * header lines, at most max-http-header-bytes, in memory charged to the
 * input class), and the calls by which the pass-through answers the
 * client: bytes streamed straight to the client's socket (after what is
 * pending there; what the socket does not take stays with the caller),
 * the answer's end, an error answer in the TSD's shape, an abort, and the
 * wake-ups both ways.  http.c parses and embeds it; the pass-through
 * (core/proxy.c) is reached through httppass_ops, filled by the wiring.
 * It never parses, never touches a socket and never buffers an answer.
 */
#ifndef TS_HTTPPASS_H
#define TS_HTTPPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;
struct httppass;

/* The request, as received (valid during begin only). */
struct httppass_req {
    const char *method;          /* "GET" */
    bool head;                   /* HEAD: the answer has no body */
    const char *url;             /* path and query as received */
    size_t url_len;
    const char *headers;         /* "Name: value\r\n" lines as received, hop-by-hop too */
    size_t headers_len;
    int http_major, http_minor;
    bool keep_alive;             /* the client keeps the connection after the answer */
    bool has_body;               /* a body follows: */
    bool chunked;                /*   chunked, or */
    uint64_t content_length;     /*   this long */
    const char *origin;          /* the client's address (X-Forwarded-For) */
};

/* The pass-through, as the client's side calls it (state: its own, per
 * request, from begin until it ends the request or abort). */
struct httppass_ops {
    /* Whether requests pass now (a reload may turn it on or off). */
    bool (*active)(void *ctx);
    /* A request to pass: TS_OK (it answers through httppass_send ...
     * httppass_done, or httppass_fail), or the status of an error to
     * answer now (the TSD's JSON shape; the body is then skipped). */
    int (*begin)(void *ctx, struct httppass *p, const struct httppass_req *req, void **state);
    /* Body bytes it takes now (0: call httppass_wake when it has room). */
    size_t (*body_room)(void *state);
    void (*body)(void *state, const char *data, size_t len); /* at most body_room */
    void (*body_end)(void *state);
    /* The client's socket took everything offered: send on. */
    void (*writable)(void *state);
    /* The request ends without it (the client is gone, or its body was
     * malformed): it lets go of p and its state. */
    void (*abort)(void *state);
};

struct httppass {
    /* set by http.c */
    struct pool *pool;
    size_t max_header;           /* max-http-header-bytes */
    void *host;                  /* the client: */
    size_t (*stream)(void *host, const char *data, size_t len);
    void (*wake)(void *host);
    void (*respond_error)(struct httppass *p, int code, const char *msg, const char *details);
    const struct httppass_ops *ops;
    void *ops_ctx;
    /* the head being received */
    char *hdr;
    size_t hdr_len, hdr_cap, hdr_charged;
    bool in_value;
    bool too_long;               /* past max-http-header-bytes: 431 at its end */
    bool no_memory;              /* its memory was refused: 503 at its end */
    /* the exchange */
    void *state;                 /* the pass-through's, while passing */
    bool passing;                /* begun, not ended */
    bool body;                   /* its body is still being received */
    bool answered;               /* the answer is complete */
    bool close;                  /* the connection ends after it */
    bool aborted;                /* the answer was cut: the connection ends now */
    uint64_t sent;               /* answer bytes streamed to the client */
};

/* The relay's own paths: the writes (/api/put, /api/rollup,
 * /api/histogram), /tsrelay and under it, /metrics, /health. */
bool httppass_relay_path(const char *path, size_t len);
/* Whether the request for url (path and query) is passed: a pass-through
 * is on and the path is not the relay's own. */
bool httppass_classify(const struct httppass *p, const char *url, size_t len);

/* http.c: the head of a passed request, a piece at a time (TS_OK: a head
 * past max-http-header-bytes, or one whose memory was refused, is kept no
 * further and marked).  httppass_headers_end: TS_OK, or TS_ERROR for a
 * marked head (too_long says which), so the verdict never depends on
 * where the reads split the head. */
int httppass_header_field(struct httppass *p, const char *at, size_t len);
int httppass_header_value(struct httppass *p, const char *at, size_t len);
int httppass_headers_end(struct httppass *p);
/* The head was received whole (req without its headers: they are p's):
 * the pass-through takes it.  false: it answered at once (an error; a
 * body that follows is to be skipped). */
bool httppass_begin(struct httppass *p, struct httppass_req *req);
/* Cuts *give to the body bytes the pass-through takes now.  false: none
 * (feed the body again after httppass_wake). */
bool httppass_room(const struct httppass *p, size_t *give);
/* Body bytes (at most the room) and the body's end. */
void httppass_body(struct httppass *p, const char *data, size_t len);
void httppass_body_end(struct httppass *p);
/* The request ends without its answer (its body was malformed): the
 * pass-through lets go.  true when bytes of an answer went out already,
 * or it was answered (an error at once): the connection can only be
 * closed, never given a second answer. */
bool httppass_cut(struct httppass *p);
/* A new request begins (the header buffer is kept, a large one freed). */
void httppass_reset(struct httppass *p);
/* The client is gone: an exchange is aborted, the buffer freed. */
void httppass_free(struct httppass *p);
/* http.c: the client's socket took everything: the pass-through sends on. */
void httppass_writable(struct httppass *p);

/* The pass-through's side. */
/* Answer bytes straight to the client; returns how many its socket took
 * (fewer: ops->writable comes when it takes more). */
size_t httppass_send(struct httppass *p, const char *data, size_t len);
/* An interim answer (100 Continue) before the answer: true when the
 * client's socket took it whole (nothing taken: none was sent; a part:
 * false, and it counts as answer bytes: the request can only be cut). */
bool httppass_interim(struct httppass *p, const char *data, size_t len);
/* The answer is complete (close: the client's connection ends after it). */
void httppass_done(struct httppass *p, bool close);
/* An error answer in the TSD's JSON shape instead (nothing was sent yet),
 * and the end. */
void httppass_fail(struct httppass *p, int code, const char *message, const char *details);
/* The answer was cut after bytes of it went out: the connection closes. */
void httppass_abort(struct httppass *p);
/* There is room for body bytes again. */
void httppass_wake(struct httppass *p);

#endif

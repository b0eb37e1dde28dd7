/*
 * httpc_req.h -- what a caller hands the HTTP client (output/httpc.h):
 * a request, the callbacks that see its response, how it ended, and the
 * options and counters of a pool.
 *
 * Owns only these types (the caller embeds struct httpc_req in its own
 * state; the fields marked "the pool's" are the client's while the
 * request is submitted).  Plain declarations: no code.
 */
#ifndef TS_HTTPC_REQ_H
#define TS_HTTPC_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"

struct httpc_pool;
struct tls_client;
struct httpc_conn;
struct httpc_req;

enum httpc_result {
    HTTPC_OK = 0,          /* the whole response was delivered */
    HTTPC_CONNECT_FAILED,  /* no connection: refused, unreachable, timed out, name not found,
                              the TLS handshake failed; nothing of the request was written */
    HTTPC_LOST,            /* the connection failed or was closed before the response was
                              complete (r->sent, r->answered say how far it got) */
    HTTPC_TIMEOUT,         /* no progress for timeout_ms (also when the caller did not
                              take the body for that long) */
    HTTPC_WAIT_TIMEOUT,    /* no connection was free within wait_ms; nothing written */
    HTTPC_BAD_RESPONSE,    /* the server's bytes were not an HTTP/1.x response, a header
                              was longer than HTTPC_FIELD_MAX, or an upgrade (101) */
    HTTPC_NOMEM,           /* no block in the pool for the read buffer; nothing written */
};

/* How the request's body is framed. */
enum httpc_body {
    HTTPC_BODY_NONE = 0,   /* no body */
    HTTPC_BODY_LENGTH,     /* body_len bytes: Content-Length */
    HTTPC_BODY_CHUNKED,    /* of unknown length: Transfer-Encoding: chunked */
};

/* The response's status line and framing (valid during on_head only). */
struct httpc_head {
    int status;
    const char *reason;      /* the reason phrase, at most 63 bytes kept */
    size_t reason_len;
    int http_major, http_minor;
    bool keep_alive;         /* the connection stays open after this response */
    bool chunked;            /* the body comes chunked */
    bool has_length;         /* Content-Length given: content_length */
    uint64_t content_length;
    bool body;               /* a body follows (not HEAD, 1xx, 204, 304) */
};

/* A header name and value as long as one may be (longer: HTTPC_BAD_RESPONSE). */
#define HTTPC_FIELD_MAX 8192

struct httpc_req_ops {
    /* The next bytes of the body: *data and their length; 0 with *end
     * false: none yet (call httpc_body_ready when there are); 0 with *end
     * true: the body is complete.  HTTPC_BODY_LENGTH ends by itself after
     * body_len bytes.  It may be asked again before body_sent: it must
     * give the same bytes (or more after them). */
    size_t (*body_next)(struct httpc_req *r, const char **data, bool *end);
    /* n bytes of what body_next gave were written: they are the caller's
     * again. */
    void (*body_sent)(struct httpc_req *r, size_t n);
    /* A response header (1xx answers' headers are not shown). */
    void (*on_header)(struct httpc_req *r, const char *name, size_t nlen, const char *value,
                      size_t vlen);
    void (*on_head)(struct httpc_req *r, const struct httpc_head *h);
    /* Body bytes: returns how many it took; fewer than len pauses the
     * connection until httpc_resume (the rest is offered again then). */
    size_t (*on_body)(struct httpc_req *r, const char *data, size_t len);
    void (*on_done)(struct httpc_req *r, enum httpc_result res);
};

enum httpc_req_state {
    HTTPC_R_IDLE = 0,        /* not submitted, or done */
    HTTPC_R_WAITING,         /* waiting for a connection */
    HTTPC_R_ON_CONN,         /* given to a connection: being written or answered */
};

struct httpc_req {
    /* caller: */
    const struct httpc_req_ops *ops;
    const char *method;          /* "GET", "POST", ... */
    const char *target;          /* "/api/query?start=1h-ago&m=sum:x" */
    size_t target_len;
    const char *headers;         /* more header lines, each ending in "\r\n" (may be empty) */
    size_t headers_len;
    bool has_host;               /* headers has Host:; else "Host: HOST:PORT" is added */
    enum httpc_body body;
    uint64_t body_len;           /* HTTPC_BODY_LENGTH */
    bool head;                   /* a HEAD request: its response has no body */
    /* the pool's, readable by the caller: */
    bool sent;                   /* a byte of the request was written */
    bool answered;               /* a byte of the response was read */
    bool reused;                 /* went on a connection that had served a request before */
    int status;                  /* the response's status, 0 before on_head */
    /* the pool's: */
    enum httpc_req_state state;
    struct httpc_pool *pool;
    struct httpc_conn *conn;
    struct httpc_req *next;      /* the wait list, or the connection's requests */
    double wait_until;           /* ev_now deadline while waiting */
    uint64_t head_off;           /* head bytes written */
    uint64_t body_off;           /* body bytes written */
    bool body_done;              /* all of the body (and its last chunk) written */
    bool cancelled;
};

struct httpc_opts {
    const char *name;            /* for logs: "proxy tsd1" */
    const char *host;            /* a name or a numeric address */
    const char *port;
    int conns;                   /* connections at most (1..) */
    int pipeline;                /* requests in flight per connection at most (1: none) */
    uint64_t connect_ms;
    uint64_t timeout_ms;         /* no progress while a request is in flight (0: none) */
    uint64_t wait_ms;            /* a request waits for a connection at most this long (0: none) */
    uint64_t backoff_min_ms, backoff_max_ms;
    const char *dns_servers;     /* resolver options (base/resolver.h) */
    uint64_t resolve_timeout_ms;
    enum pool_class cls;         /* read buffers are blocks of this class */
    /* TLS on every connection: the handshake after the connect, both
     * within connect_ms.  NULL: clear text (one branch per read and write,
     * nothing else).  The pool takes a hold of its own (tls_client_hold). */
    struct tls_client *tls;
    const char *tls_name;        /* verified and sent as SNI; NULL or "": the context's */
    uint64_t *tls_failures;      /* the caller's counter, one more per failed handshake
                                    (besides the pool's own); NULL: none */
};

struct httpc_stats {
    uint64_t requests;           /* submitted and taken */
    uint64_t responses;          /* answered whole (HTTPC_OK) */
    uint64_t status[6];          /* responses by class: [1]=1xx (skipped interim) .. [5]=5xx */
    uint64_t connect_failures;   /* requests failed HTTPC_CONNECT_FAILED */
    uint64_t lost;               /* requests failed HTTPC_LOST */
    uint64_t timeouts;           /* requests failed HTTPC_TIMEOUT */
    uint64_t wait_timeouts;      /* requests failed HTTPC_WAIT_TIMEOUT */
    uint64_t bad_responses;      /* requests failed HTTPC_BAD_RESPONSE */
    uint64_t nomem;              /* requests failed HTTPC_NOMEM */
    uint64_t cancelled;
    uint64_t reused;             /* requests sent on a connection used before */
    uint64_t connects;           /* connections made */
    uint64_t connect_errors;     /* connects that failed (a failed TLS handshake too) */
    uint64_t tls_handshakes;     /* TLS handshakes done (one per connection made) */
    uint64_t tls_failures;       /* TLS handshakes that failed: refused, timed out, cut */
    uint64_t server_closes;      /* connections the server closed (or said it would) */
    uint64_t bytes_out, bytes_in;
    uint64_t pauses;             /* times the caller did not take the whole body offered */
};

#endif

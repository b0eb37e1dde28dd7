/*
 * httpc_conn.h -- one connection of an HTTP client pool (output/httpc.c),
 * and the pool state its connections share.
 *
 * Owns a connection's life (looked up, connected within connect_ms, through
 * its TLS handshake when the pool has a context (httpc_tls.c), up, closed
 * gracefully), writing its requests in order (head, then a body by
 * Content-Length or in chunks, from the caller's memory), reading and
 * parsing their responses in order into the requests' callbacks, pausing
 * where a caller stops taking body bytes, and its no-progress deadline;
 * and how a request ends (httpc_finish: counted, then told).  Choosing a
 * connection for a request, the waiting list and the caller's calls are
 * the pool's (httpc.c).  It must never reuse a connection whose exchange
 * did not finish, and never touch a request after a callback let its
 * caller cancel it.
 */
#ifndef TS_HTTPC_CONN_H
#define TS_HTTPC_CONN_H

#include <ev.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/log.h"
#include "output/httpc_req.h"
#include "output/tls_client.h"

#define HTTPC_MAX_CONNS 64
#define HTTPC_HOST_MAX 300

struct resolver;

enum httpc_conn_state { HC_CLOSED = 0, HC_RESOLVING, HC_CONNECTING, HC_HANDSHAKING, HC_UP };

struct httpc_conn {
    struct httpc_pool *pool;
    int idx;
    int fd;
    enum httpc_conn_state state;
    ev_io rio, wio;
    ev_timer timer;            /* connect_ms while connecting (and handshaking), then no
                                  progress */
    struct tls_session tls;    /* its TLS (ssl NULL: clear text) */
    http_parser parser;
    struct httpc_req *reqs;    /* in flight, oldest first */
    struct httpc_req *writing; /* the first not written whole, NULL: none */
    int nreqs;
    uint64_t served;           /* responses it delivered */
    struct block *rbuf;        /* read buffer, while busy */
    size_t rpos, rend;         /* parsed up to, read up to */
    const char *pend;          /* body bytes offered and not taken */
    size_t pend_len;
    double last_progress;
    bool paused;               /* the caller has not taken pend: no reading */
    bool body_waits;           /* the request being written waits for the caller's body */
    bool resume_pending;       /* httpc_resume: carry on from the kick */
    bool doomed;               /* a cancel: close at the next chance */
    bool msg_done;             /* the first request's response is complete */
    bool msg_keep_alive;
    bool interim;              /* the response being parsed is 1xx */
    bool kept_alive;           /* the server kept it alive once: pipelining allowed */
    bool bad;                  /* a header too long or an upgrade */
    /* one header at a time: name, then value */
    size_t name_len, field_len;
    bool in_value;
    char reason[64];
    size_t reason_len;
    /* the request being written: its Host and framing lines, chunk framing */
    char hlines[HTTPC_HOST_MAX + 96];
    size_t hlines_len;
    char frame[32];
    size_t frame_len, frame_off;
    uint64_t chunk_left;       /* chunked: data bytes of the current chunk not written */
    bool chunked_any;          /* a chunk was started (its CRLF precedes the next) */
    char field[HTTPC_FIELD_MAX];
};

struct httpc_pool {
    struct ev_loop *loop;
    struct pool *mem;
    struct httpc_opts o;
    char name[96], host[HTTPC_HOST_MAX], port[8], dns[512];
    struct tls_client *tls;    /* a hold on the context new connections use; NULL: clear */
    char tls_name[HTTPC_HOST_MAX]; /* the name they verify (the context's, or opts') */
    struct resolver *res;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool resolved;
    uint64_t backoff_ms;
    double retry_at;           /* ev_now: no new connect before (after a failed one) */
    struct httpc_req *wait_head, *wait_tail;
    size_t nwaiting;
    ev_timer kick;             /* deferred work: dispatch, cancels, resumes */
    ev_timer wait_timer;       /* the first wait deadline */
    struct httpc_stats st;
    struct log_rl connect_rl;  /* its failed connects' log lines: one a second */
    struct httpc_conn conns[];
};

/* Sets up slot idx of p (no socket yet). */
void httpc_conn_init(struct httpc_conn *c, struct httpc_pool *p, int idx);
/* Looks the address up (when needed) and connects; its first request is
 * written once it is up.  A failure fails its requests (and, with no
 * connection up, the waiting ones: the pool is down for the backoff). */
void httpc_conn_open(struct httpc_conn *c);
/* Closes the socket (FIN) and returns its requests, unlinked, for the
 * caller to fail (or nobody: a pool being freed). */
struct httpc_req *httpc_conn_close(struct httpc_conn *c);
/* Writes its requests, as far as the socket and their bodies allow. */
void httpc_conn_flush(struct httpc_conn *c);
/* The caller takes body bytes again: offers what it left, parses on. */
void httpc_conn_resume(struct httpc_conn *c);
/* A byte moved: the no-progress deadline starts again. */
void httpc_conn_progress(struct httpc_conn *c);

/* Connected (and through TLS): up, its requests written. */
void httpc_conn_up(struct httpc_conn *c);
/* No connection could be made (nothing of its requests was written):
 * they fail, and with no connection up the pool is down for its backoff
 * and the waiting requests fail too. */
void httpc_connect_failed(struct httpc_conn *c, const char *why, int err);
/* Reads on once more where TLS holds decrypted bytes the socket will not
 * signal (nothing for a clear connection). */
void httpc_conn_read_more(struct httpc_conn *c);

/* TLS on a connection (httpc_tls.c).  begin: TCP is connected, the
 * handshake starts (within what is left of connect_ms); step: the socket
 * is ready for the next step; failed: counted, logged, a connect failure.
 * writev: the request's bytes, small pieces gathered into one record;
 * > 0 or -1 with errno (EAGAIN) as writev(2).  read: as recv(2).  idle:
 * an idle connection is looked at (before reuse, or when it became
 * readable): 1 still open (records such as session tickets taken), 0 the
 * server closed it, -1 it sent data nobody asked for or failed. */
void httpc_tls_begin(struct httpc_conn *c);
void httpc_tls_step(struct httpc_conn *c);
void httpc_tls_failed(struct httpc_conn *c, const char *why);
ssize_t httpc_tls_writev(struct httpc_conn *c, const struct iovec *iov, int n);
ssize_t httpc_tls_read(struct httpc_conn *c, void *buf, size_t len);
int httpc_tls_idle(struct httpc_conn *c);

/* A request ends: counted, then its on_done (never touched after). */
void httpc_finish(struct httpc_req *r, enum httpc_result res);
/* Ends a list of unlinked requests: the first with `first`, the rest with
 * `rest`. */
void httpc_fail_list(struct httpc_req *list, enum httpc_result first, enum httpc_result rest);
/* Deferred work for the pool's kick timer (httpc.c: httpc_pool_kicked). */
void httpc_kick(struct httpc_pool *p);
bool httpc_any_up(const struct httpc_pool *p);

#endif

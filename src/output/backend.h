/*
 * backend.h -- TSD backends: a fixed pool of long-lived TCP connections.
 *
 * Owns, per backend, `conns` connections and their queues: lazy connect
 * (a connection opens only when it has bytes to write, and writes them at
 * once; with tls = on, a TLS handshake within connect-timeout first,
 * tls_client.c), writev batching, proof of delivery (ack = none: the
 * peer's TCP acknowledged the bytes, SIOCOUTQ -- through TLS, the records
 * that carried them; ack = version: a `version` barrier after each batch
 * was answered, barrier.c), lag detection, reconnect with
 * exponential backoff and jitter (a probe every second at most while data
 * waits), max-rate pacing (pacer.c), the auth line a TSD may expect first
 * on each connection (auth.c: no data before its AUTH_SUCCESS), and reading
 * what a TSD writes back.
 * A failed connection's undelivered lines are handed upward through the
 * env's on_failed callback (the relay gives them to the spool).  It must
 * never reset a connection (no SO_LINGER 0), never open a connection per
 * request, and never hold a connection open without having written to it.
 */
#ifndef TS_BACKEND_H
#define TS_BACKEND_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "output/barrier.h"
#include "base/config.h"
#include "output/pacer.h"
#include "output/tls_client.h"
#include "base/queue.h"

struct backend;
struct bconn;
struct resolver;
struct backend_proto;

/* What backends need from the relay (relay.c wires it; shared by all). */
struct backend_env {
    struct ev_loop *loop;
    struct pool *pool;
    const struct config *cfg;
    struct bconn **dirty;            /* connections with data to write */
    const uint64_t *batch_read_ns;   /* read time of the lines being decoded, 0: none */
    bool (*running)(void *ctx);      /* false once shutdown began */
    /* A connection failed; q holds its undelivered lines (rewound): the
     * callee may take them (detaching them from q). */
    void (*on_failed)(void *ctx, struct backend *be, struct queue *q, uint64_t *lines_queued);
    /* Data waits for this backend elsewhere (its spool). */
    bool (*has_backlog)(void *ctx, const struct backend *be);
    /* The TSD refused a line for good (protocol = http): the line (with
     * its "\n"), where it was in connection conn's stream, why (a counter
     * label and the TSD's text).  The line is acknowledged after the call:
     * the callee keeps a copy if it wants one. */
    void (*on_rejected)(void *ctx, struct backend *be, int conn, uint64_t off, const char *line,
                        size_t len, const char *reason, const char *text, size_t tlen);
    /* protocol = http backends (output/backend_http.c); NULL: telnet only */
    const struct backend_proto *http;
    void *ctx;
};

/* A backend protocol other than telnet: it takes over a backend's
 * connections (each one a lane of lines with its queue) and writes them
 * its own way, acknowledging through backend_conn_acknowledge. */
struct backend_proto {
    int (*attach)(struct backend *be);            /* TS_OK or TS_ERROR */
    void (*detach)(struct backend *be);           /* frees what attach made */
    void (*flush)(struct bconn *c);               /* write what c's queue has */
    void (*tick)(struct backend *be, uint64_t now_ms);
    void (*quiesce)(struct bconn *c);             /* nothing in flight: c may be rewound */
    void (*reconfigure)(struct backend *be, const struct cfg_backend *old);
    void (*set_tls)(struct backend *be);          /* be->tls changed (start, reload) */
    void (*close)(struct backend *be);            /* shutdown: connections closed */
    int (*conns_up)(const struct backend *be);    /* its connections up now */
};

enum bconn_state {
    BC_IDLE = 0,     /* no socket; opens when it has data */
    BC_CONNECTING,   /* non-blocking connect in progress (with data) */
    BC_PROBING,      /* connect in progress without data: close on success */
    BC_AUTH,         /* connected, the auth line sent: waits for AUTH_SUCCESS */
    BC_UP,           /* connected (and authenticated) */
    BC_FAILED,       /* waiting for the backoff to expire */
};

struct bconn {
    struct backend *be;
    int idx;
    int fd;
    enum bconn_state state;
    ev_io rio;
    ev_io wio;
    ev_timer timer;          /* connect timeout */
    struct queue q;
    uint64_t lines_queued;   /* complete lines in q not yet acknowledged */
    uint64_t retry_at_ms;    /* BC_FAILED: earliest reconnect */
    uint64_t last_progress_ms;
    uint64_t connected_ms;   /* when its TCP connection was made (TLS probation) */
    uint64_t acked_on_conn;  /* bytes acknowledged on this TCP connection */
    uint64_t pending_since_ns; /* read time of the oldest unsent line, 0: none */
    uint64_t barrier_mark;   /* ack = version: stream offset of the last barrier */
    struct barriers bar;     /* ack = version */
    bool lagging;
    bool closing;            /* failing gracefully: FIN sent, waiting to close */
    bool dirty;              /* on the flush list */
    struct bconn *next_dirty;
    size_t rlen;             /* bytes in rbuf (partial reply line) */
    char rbuf[1024];
    struct tls_session tls;  /* tls = on: the connection's TLS (ssl NULL otherwise) */
    /* counters */
    uint64_t connects;
    uint64_t bytes_written;
};

struct backend_stats {
    uint64_t connect_attempts;
    uint64_t connects;          /* successful */
    uint64_t failures;          /* connect or connection failures */
    uint64_t reconnects;
    uint64_t errors;            /* error lines the TSD wrote back */
    uint64_t reply_bytes;       /* bytes the TSD wrote back */
    uint64_t lines_queued;      /* lines into the connection queues */
    uint64_t lines_acked;       /* lines acknowledged (TCP, or barrier) */
    uint64_t lines_resent;      /* lines re-sent after a connection failure */
    uint64_t bytes_written;
    uint64_t lag_events;
    uint64_t barriers;          /* barriers written (ack = version) */
    uint64_t barriers_answered;
    uint64_t ack_timeouts;      /* connections failed for an unanswered barrier */
    uint64_t auth_failures;     /* connections whose auth line was not answered AUTH_SUCCESS */
    uint64_t dropped;           /* lines dropped for this backend (its overflow = drop) */
    uint64_t pacing_waits;      /* writes held back by max-rate */
    uint64_t resolve_failures;  /* lookups of the backend's host name that failed */
    uint64_t handed_over;       /* removed by a reload: lines passed to the others */
    uint64_t tls_failures;      /* TLS handshakes that failed (tls = on) */
    char last_error[200];       /* the last error line the TSD wrote back */
};

struct spool_backend;

struct backend {
    const struct backend_env *env;
    const struct cfg_backend *cfg;
    int idx;
    int nconns;
    struct bconn *conns;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool resolved;              /* addr is current; false after a failure: look again */
    struct resolver *res;       /* the name's lookups, without blocking (resolver.c) */
    uint64_t backoff_ms;        /* next failure's base delay */
    struct pacer pacer;         /* max-rate */
    enum overflow_policy overflow; /* its own, or the relay's */
    uint64_t max_queue_bytes;   /* its share of the queue budget */
    struct spool_backend *sp;   /* NULL without a spool */
    struct tls_client *tls;     /* tls = on: its context (new connections use it) */
    bool avail_cached;          /* relay_begin_batch: backend_available() */
    bool spool_cached;          /* relay_begin_batch: lines may go to the spool */
    int64_t room_cached;        /* relay_begin_batch: bytes left in its share */
    bool retiring;              /* removed by a reload: not routed to, finishing its queue */
    bool retired;               /* ... done: inert until a reload adds it back */
    const struct backend_proto *proto; /* NULL: telnet */
    void *proto_state;          /* the protocol's, per backend */
    uint64_t retire_at_ms;      /* retiring: when its queues are handed to the others */
    struct backend_stats st;
};

int backend_init(struct backend *be, const struct backend_env *env,
                 const struct cfg_backend *cfg, int idx);
void backend_destroy(struct backend *be);

/* True when the backend takes data directly: no connection failed or
 * probing, none lagging. */
bool backend_available(const struct backend *be);
/* Bytes held in the connection queues (unsent + unacknowledged). */
uint64_t backend_queued_bytes(const struct backend *be);
uint64_t backend_queued_lines(const struct backend *be);
bool backend_idle(const struct backend *be);   /* queues empty and acked */
int backend_conns_up(const struct backend *be);
/* Unix ms the oldest line in the connection queues arrived, 0 if none. */
uint64_t backend_oldest_ms(const struct backend *be);

/* Appends one canonical line to the connection its hash picks.
 * TS_OK or TS_ENOMEM (the pool refused: caller drops or pauses). */
int backend_enqueue(struct backend *be, uint64_t hash, const char *line, size_t len);
/* Appends a run of complete lines, each to its connection by hash.
 * Returns the number of lines queued; stops early on TS_ENOMEM. */
size_t backend_enqueue_lines(struct backend *be, const char *buf, size_t len, size_t *consumed);

/* A reload changed its configuration (same name): applies what can
 * change in place -- address, TLS on or off and the name it verifies
 * (connections close gracefully and reconnect), timeouts, ack mode,
 * max-rate, overflow.  (conns needs a restart: the caller keeps it.) */
void backend_reconfigure(struct backend *be, const struct cfg_backend *cfg);
/* Its TLS context from now on (tls = on; NULL: clear text): connections
 * made from now use it, open ones keep theirs (protocol = http: its HTTP
 * pool's too).  Takes tc (drops its hold on the old). */
void backend_set_tls(struct backend *be, struct tls_client *tc);
/* Hands the lines connection c has not had acknowledged to fn, oldest
 * first, and forgets each fn took (TS_OK or TS_ENOMEM); stops at the
 * first TS_EAGAIN.  The connection is closed first (gracefully).  Returns
 * the lines handed. */
typedef int (*backend_line_fn)(void *ctx, const char *line, size_t len, uint64_t hash);
uint64_t backend_hand_over(struct bconn *c, backend_line_fn fn, void *ctx);
/* Connections closed by backend_hand_over may connect again (a reload
 * added the backend back). */
void backend_revive(struct backend *be);

/* Marks a connection for the next flush (end of this loop iteration). */
void backend_mark_dirty(struct bconn *c);
/* Writes every dirty connection (called once per loop iteration). */
void backend_flush_all(struct bconn **dirty);
/* Housekeeping: ack polling, lag detection, retries (every tick). */
void backend_tick(struct backend *be, uint64_t now_ms);
/* Graceful shutdown of sockets: FIN after the last write. */
void backend_close_all(struct backend *be);

const char *backend_state_name(enum bconn_state s);

/* For protocol modules (backend_proto): c made progress; everything before
 * stream offset `acked` is done, `undelivered` lines of it were refused
 * for good (not counted as forwarded); c failed (its undelivered lines go
 * upward, it backs off -- call quiesce first). */
void backend_conn_progress(struct bconn *c);
void backend_conn_acknowledge(struct bconn *c, uint64_t acked, uint64_t undelivered);
void backend_conn_fail(struct bconn *c, const char *what);
/* Requests in flight are given up, so every connection may be rewound
 * (spool evacuation, hand-over).  No-op for telnet. */
void backend_quiesce(struct backend *be);

#endif

/*
 * backend.h -- TSD backends: a fixed pool of long-lived TCP connections.
 *
 * Owns, per backend, `conns` connections and their queues: lazy connect
 * (a connection opens only when it has bytes to write, and writes them at
 * once), writev batching, TCP-acknowledgement tracking (SIOCOUTQ) so a
 * block is released only when the peer's TCP has it, lag detection,
 * reconnect with exponential backoff and jitter, and reading the error
 * lines a TSD writes back.  It must never reset a connection (no
 * SO_LINGER 0), never open a connection per request, and never hold a
 * connection open without having written to it.
 */
#ifndef TS_BACKEND_H
#define TS_BACKEND_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "queue.h"

struct relay;
struct backend;
struct resolver;

enum bconn_state {
    BC_IDLE = 0,     /* no socket; opens when it has data */
    BC_CONNECTING,   /* non-blocking connect in progress (with data) */
    BC_PROBING,      /* connect in progress without data: close on success */
    BC_UP,           /* connected */
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
    uint64_t acked_on_conn;  /* bytes acknowledged on this TCP connection */
    uint64_t pending_since_ns; /* read time of the oldest unsent line, 0: none */
    bool lagging;
    bool dirty;              /* on the relay's flush list */
    struct bconn *next_dirty;
    size_t rlen;             /* bytes in rbuf (partial reply line) */
    char rbuf[1024];
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
    uint64_t lines_acked;       /* lines acknowledged by the TSD's TCP */
    uint64_t lines_resent;      /* lines re-sent after a connection failure */
    uint64_t bytes_written;
    uint64_t lag_events;
    uint64_t resolve_failures;  /* lookups of the backend's host name that failed */
    char last_error[200];       /* the latest error line, cut short (status page) */
};

struct spool_backend;

struct backend {
    struct relay *r;
    const struct cfg_backend *cfg;
    int idx;
    int nconns;
    struct bconn *conns;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool resolved;              /* addr is current; false after a failure: look again */
    struct resolver *res;       /* the name's lookups, without blocking (resolver.c) */
    uint64_t backoff_ms;        /* next failure's base delay */
    struct spool_backend *sp;   /* NULL without a spool */
    bool avail_cached;          /* relay_begin_batch: backend_available() */
    bool spool_cached;          /* relay_begin_batch: lines may go to the spool */
    struct backend_stats st;
};

int backend_init(struct relay *r, struct backend *be, const struct cfg_backend *cfg, int idx);
void backend_destroy(struct backend *be);

/* True when the backend takes data directly: no connection failed or
 * probing, none lagging. */
bool backend_available(const struct backend *be);
/* Bytes held in the connection queues (unsent + unacknowledged). */
uint64_t backend_queued_bytes(const struct backend *be);
uint64_t backend_queued_lines(const struct backend *be);
bool backend_idle(const struct backend *be);   /* queues empty and acked */
int backend_conns_up(const struct backend *be);

/* Appends one canonical line to the connection its hash picks.
 * TS_OK or TS_ENOMEM (the pool refused: caller drops or pauses). */
int backend_enqueue(struct backend *be, uint64_t hash, const char *line, size_t len);
/* Appends a run of complete lines, each to its connection by hash.
 * Returns the number of lines queued; stops early on TS_ENOMEM. */
size_t backend_enqueue_lines(struct backend *be, const char *buf, size_t len, size_t *consumed);

/* Writes every dirty connection (called once per loop iteration). */
void backend_flush_all(struct relay *r);
/* Housekeeping: ack polling, lag detection, retries (every tick). */
void backend_tick(struct backend *be, uint64_t now_ms);
/* Graceful shutdown of sockets: FIN after the last write. */
void backend_close_all(struct backend *be);

const char *backend_state_name(enum bconn_state s);

/* Milliseconds the oldest line waiting for this backend has waited; 0
 * when none waits.  (For now the connection queues' oldest unsent line;
 * the spool's part comes with issue 11.) */
uint64_t backend_backlog_age_ms(const struct backend *be);

#endif

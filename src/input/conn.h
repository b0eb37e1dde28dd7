/*
 * conn.h -- the state of a client connection, shared by the modules that
 * serve it.
 *
 * Owns the shape of struct client (one accepted socket, its input, its
 * replies, its decoder), of the set of all clients, and of what the relay
 * lends them (client_env).  client.c reads, schedules and closes a client;
 * protocol.c sniffs its protocol and decodes its input; reply.c buffers and
 * writes its replies; admitted.c holds the memory granted for its units.
 * Data and accessors only: it must never grow code of its own.
 */
#ifndef TS_CONN_H
#define TS_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/counters.h"
#include "input/admission.h"
#include "input/framed.h"
#include "input/http.h"
#include "input/ingest.h"
#include "input/telnet.h"
#include "input/tls_server.h"

/* A partial unit this small stays inside the client (a valid put line is
 * at most 1024 bytes plus "\r\n"), without asking for memory. */
#define CLIENT_INLINE 1152
/* Small replies (an error line, a 204) need no buffer of their own. */
#define CLIENT_REPLY_INLINE 512

struct block;
struct pool;
struct frameack;
struct syncwait;

/* What clients need from the relay; lifecycle.c wires it. */
struct client_env {
    struct ev_loop *loop;
    struct pool *pool;
    struct admission *adm;
    const struct config *cfg;
    const struct point_rules *rules;
    void *ctx;                       /* passed to the callbacks below */
    /* A canonical line of the client whose source address is origin:
     * TS_OK, TS_ENOMEM (dropped), TS_EAGAIN (no room), TS_REFUSED (the
     * relay's rules or limits refuse it: why says so, in the TSD's error
     * shape). */
    int (*submit)(void *ctx, const char *origin, const char *line, size_t len, uint64_t hash,
                  struct point_error *why);
    /* Around the decoding of one read: read_ns its time, 0 after it. */
    void (*batch)(void *ctx, uint64_t read_ns);
    bool (*running)(void *ctx);      /* false once shutdown began */
    size_t (*stats_text)(void *ctx, char *out, size_t cap); /* telnet `stats` */
    /* telnet `status`: one word, the relay's state as a TSD says its own
     * (ok, partial, error, shutting-down) */
    const char *(*status_word)(void *ctx);
    http_endpoint_fn endpoint;       /* the relay's HTTP paths but the writes */
    void *endpoint_ctx;
    const struct httppass_ops *pass; /* the read pass-through: the other paths */
    void *pass_ctx;
    size_t read_out_bound;           /* queue bytes one read may need at most */
    /* frame-acks: delivery marks (delivery.c) of width words */
    size_t fa_width;
    void (*fa_mark)(void *ctx, uint64_t *w);
    bool (*fa_safe)(void *ctx, const uint64_t *w);
    /* HTTP ?sync: the stricter proof (delivery_sync_mark, delivery_proven)
     * in marks of fa_width words; NULL: ?sync is answered at acceptance */
    void (*sync_mark)(void *ctx, uint64_t *w);
    bool (*sync_proven)(void *ctx, const uint64_t *w);
};

struct client_set_stats {
    uint64_t forced;                 /* input held past input-memory (must not happen) */
};

/* Every open client. */
struct client_set {
    struct client_env env;
    struct tls_server *tls;          /* [tls] for new TLS clients (a reload replaces it) */
    struct tls_line tls_line;        /* TLS clients waiting for, or holding, a handshake slot */
    struct client *all;
    struct client *acking;           /* clients with frames waiting for "ack N" */
    struct client *syncing;          /* clients whose ?sync request waits (syncwait.c) */
    uint64_t n;                      /* open */
    uint64_t pending;                /* open, protocol not yet known */
    uint64_t control_only;           /* open in a stats-only slot */
    uint64_t connection_bytes;       /* struct and decoder memory of open clients */
    char *scratch;                   /* one read, shared: decoded in place */
    size_t scratch_cap;
    struct client_set_stats st;
};

#define CLIENT_ORIGIN_MAX 46       /* INET6_ADDRSTRLEN */

struct client {
    struct client_set *set;
    const struct cfg_listen *lc;
    int fd;
    char origin[CLIENT_ORIGIN_MAX]; /* source address, without the port */
    struct sockaddr_storage peer;  /* ... as the socket gave it (admin-allow) */
    struct tls_link tls;           /* TLS over fd, or nothing (ssl NULL) */
    enum listen_proto proto;       /* AUTO until sniffed */
    ev_io rio;
    ev_io wio;
    ev_timer timer;                /* idle and partial-read deadlines */
    double last_activity;          /* ev_now of the last read (or of waiting) */
    double partial_since;          /* ev_now when the held partial unit began, 0 if none */
    /* input: a partial unit inline, or a buffer admitted for it */
    size_t inl_len;
    char *ub;                      /* admitted buffer: block data or a mapping */
    struct block *ub_blk;
    size_t ub_cap, ub_len, ub_off; /* ub_off: decoded up to here */
    size_t ub_charged;             /* a mapping's admitted bytes */
    size_t need;                   /* framed: size of the unit at the head, 0 unknown */
    struct admit_ticket adm;       /* waiting for input memory or queue room */
    bool room_wait;                /* adm is in the room line */
    bool blocked;                  /* the last decode stopped for room */
    bool sync_parked;              /* a ?sync request waits for its proofs: not reading */
    char *http_body;               /* admitted for an HTTP body, not yet handed over */
    size_t http_body_len;
    struct block *http_body_blk;
    /* replies */
    char *out;                     /* out_small, block data, or a charged buffer */
    struct block *out_blk;
    size_t out_cap, out_len, out_off;
    size_t out_charged;
    enum pool_class out_cls;
    size_t frame_mark;             /* framed: start of the reply frame */
    bool frame_open;
    bool close_after_write;
    bool reading_stopped;
    bool produced;                 /* has emitted data points */
    bool control_only;             /* over max-clients: stats, version, help only */
    bool lingering;                /* our side is done: discard input until
                                      the peer closes (or a short deadline) */
    bool pass_wait;                /* a passed HTTP request waits: not reading */
    bool stream_blocked;           /* a streamed answer waits for the socket */
    bool write_failed;             /* a streamed write failed: to be closed */
    struct client *next, *prev;    /* set->all */
    struct frameack *fa;           /* frame-acks = on, framed */
    struct syncwait *sw;           /* HTTP ?sync: its wait (syncwait.c), NULL until one */
    uint64_t fa_seen;              /* fio.completed already noted */
    bool fa_listed;                /* on set->acking */
    struct client *fa_next;
    struct sink sink;
    struct telnet_io tio;
    struct framed_io fio;
    struct http_conn *http;
    char inl[CLIENT_INLINE];
    char out_small[CLIENT_REPLY_INLINE];
};

int client_set_init(struct client_set *cs, const struct client_env *env);

/* The counters of the client's protocol (telnet's until it is sniffed). */
static inline struct proto_stats *
conn_stats(const struct client *c)
{
    return &g_stats.proto[c->proto == PROTO_AUTO ? PROTO_TELNET : c->proto];
}

static inline struct pool *
conn_pool(const struct client *c)
{
    return c->set->env.pool;
}

static inline struct ev_loop *
conn_loop(const struct client *c)
{
    return c->set->env.loop;
}

#endif

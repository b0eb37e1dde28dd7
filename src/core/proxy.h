/*
 * proxy.h -- the read pass-through: every HTTP request that is not the
 * relay's own goes to a TSD, and its answer comes back.
 *
 * Owns, per backend named by [relay] proxy (in failover order), a pool of
 * http-conns keep-alive connections to its http-address (output/httpc),
 * apart from the data connections; and each passed request: its head
 * rewritten for the backend (core/proxyhead: hop-by-hop lines dropped,
 * X-Forwarded-For added), its body streamed up from the client as the
 * backend takes it (one pool block at most), its answer streamed down as
 * the client takes it (nothing read from the backend faster: the
 * connection pauses), framed for the client (Content-Length as given,
 * else chunked, or to the close for an HTTP/1.0 client), and its end:
 * the TSD's JSON error when nothing of an answer went out yet -- 502 the
 * backend unreachable or its answer lost or not HTTP, 503 no free
 * connection within proxy-queue-timeout (or no memory), 504 no progress
 * for proxy-timeout -- after the next backends were tried: each once for
 * a request never written (a refused connect), once more for a GET or
 * HEAD without a body whose connection failed; a cut connection once
 * bytes of an answer went out.  Memory comes from the input class of the pool.
 * It is reached through httppass_ops (the wiring hands proxy_ops to the
 * clients); it never touches the data path, and a request holds a
 * connection only until its answer has passed.
 */
#ifndef TS_PROXY_H
#define TS_PROXY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "input/httppass.h"
#include "output/httpc.h"

struct backend;
struct config;
struct pool;
struct proxy;

struct proxy_stats {
    uint64_t requests;         /* requests sent to the backend (tries) */
    uint64_t answered;         /* answers passed whole to the client */
    uint64_t retried;          /* requests tried again on the next backend */
    uint64_t bad_gateway;      /* 502 answered */
    uint64_t unavailable;      /* 503 answered */
    uint64_t gateway_timeout;  /* 504 answered */
    uint64_t cut;              /* answers cut after bytes of them went out */
    uint64_t client_gone;      /* requests whose client left first */
    uint64_t bytes_up;         /* request body bytes from clients */
    uint64_t bytes_down;       /* answer bytes to clients */
};

/* The pass-through of cfg (which it keeps reading: the relay's own, that
 * a reload rewrites in place).  backends: the relay's, in cfg->backends'
 * order (a backend with tls = on lends its TLS context and counts the
 * failed handshakes in its tls_failures); NULL: clear text only.  NULL
 * when out of memory. */
struct proxy *proxy_new(struct ev_loop *loop, struct pool *pool, const struct config *cfg,
                        struct backend *backends);
/* Requests in flight get no answer (the clients are closed first). */
void proxy_free(struct proxy *px);
/* A reload: the backends of cfg's proxy list, in its order.  One whose
 * http-address, http-conns and TLS (on or off, the name verified) stayed
 * keeps its pool (new timeouts; new connections take the backend's TLS
 * context, read again); a changed or removed one's pool finishes its
 * requests, then closes.  Call it after the backends got their new TLS
 * contexts. */
void proxy_reconfigure(struct proxy *px);

/* The clients' view (httppass_ops; ctx: the proxy). */
extern const struct httppass_ops proxy_ops;

/* For the renderings: the backends passed to now, in failover order. */
int proxy_count(const struct proxy *px);
const char *proxy_name(const struct proxy *px, int i);
const struct proxy_stats *proxy_backend_stats(const struct proxy *px, int i);
const struct httpc_pool *proxy_pool(const struct proxy *px, int i);
/* Requests being passed now. */
uint64_t proxy_active(const struct proxy *px);

#endif

/*
 * transport.h -- a client's bytes in and out: its socket, or TLS over it.
 *
 * Owns the four calls client.c and reply.c make on a client's connection
 * (read or peek, discard what a peek showed, write, and "is decrypted
 * input waiting that the socket will not signal?").  A plain client pays
 * one predictable branch per call; a TLS client goes through
 * tls_server.c.  Inline calls only: it must never hold state of its own.
 */
#ifndef TS_TRANSPORT_H
#define TS_TRANSPORT_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/util.h"
#include "input/conn.h"
#include "input/tls_server.h"

/* recv(2): up to len bytes into buf, or a peek that leaves them. */
static inline ssize_t
transport_recv(struct client *c, void *buf, size_t len, bool peek)
{
    if (ts_likely(c->tls.ssl == NULL))
        return recv(c->fd, buf, len, peek ? MSG_PEEK : 0);
    return tls_server_recv(&c->tls, buf, len, peek);
}

/* Takes len bytes a peek already showed off the connection. */
static inline ssize_t
transport_discard(struct client *c, size_t len)
{
    if (ts_likely(c->tls.ssl == NULL))
        return recv(c->fd, NULL, len, MSG_TRUNC | MSG_DONTWAIT);
    return tls_server_recv(&c->tls, NULL, len, false);
}

/* write(2). */
static inline ssize_t
transport_send(struct client *c, const void *buf, size_t len)
{
    if (ts_likely(c->tls.ssl == NULL))
        return write(c->fd, buf, len);
    return tls_server_send(&c->tls, buf, len);
}

/* Input already decrypted and waiting: read it without waiting for the
 * socket (which will not signal it again). */
static inline bool
transport_buffered(const struct client *c)
{
    return ts_unlikely(c->tls.ssl != NULL) && tls_server_buffered(&c->tls);
}

#endif

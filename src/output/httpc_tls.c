/*
 * httpc_tls.c -- TLS on one connection of an HTTP client pool.
 *
 *   CONNECTING --TCP up--> HANDSHAKING --done--> UP (httpc_conn_up)
 *                              |
 *                              '--failed, closed, connect_ms over--> a
 *                                 connect failure: counted, logged,
 *                                 nothing of a request written
 *
 * The pool's context (a hold on a backend's: its CAs, client certificate
 * and TLS 1.2 at least, output/tls_client.c) verifies the pool's name and
 * sends it as SNI.  The handshake runs within what is left of connect_ms
 * after the TCP connect.  A request's head is a handful of small pieces:
 * they are gathered into one record (and one write) instead of a record
 * each.  An idle connection is read through TLS, so records that carry
 * no data (TLS 1.3 session tickets) keep it open and close_notify closes
 * it.  It never blocks, never writes a request byte before the handshake
 * is done, and knows nothing of what the bytes mean.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "output/httpc_conn.h"

/* Leading pieces smaller than this are copied into one record. */
#define HTTPC_TLS_GATHER 4096

/* A failed handshake, in the pool's counter and the caller's. */
static void
httpc_tls_count_failure(struct httpc_pool *p)
{
    p->st.tls_failures++;
    if (p->o.tls_failures != NULL)
        (*p->o.tls_failures)++;
}

void
httpc_tls_failed(struct httpc_conn *c, const char *why)
{
    struct httpc_pool *p = c->pool;
    char what[400];
    httpc_tls_count_failure(p);
    snprintf(what, sizeof(what), "TLS handshake with %s failed: %s", p->tls_name, why);
    httpc_connect_failed(c, what, 0);
}

void
httpc_tls_begin(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    if (tls_client_begin_named(&c->tls, p->tls, c->fd, p->tls_name) != TS_OK) {
        httpc_tls_failed(c, "out of memory");
        return;
    }
    c->state = HC_HANDSHAKING;
    if (!ev_is_active(&c->timer)) { /* the connect was done at once: connect_ms from now */
        ev_timer_set(&c->timer, (double)p->o.connect_ms / 1000.0, 0.0);
        ev_timer_start(p->loop, &c->timer);
    }
    httpc_tls_step(c);
}

void
httpc_tls_step(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    char why[300];
    uint64_t now = (uint64_t)(ev_now(p->loop) * 1000.0);
    switch (tls_client_handshake(&c->tls, now, 0, why, sizeof(why))) {
    case TLS_IO_DONE:
        p->st.tls_handshakes++;
        log_debug("%s conn %d: connected over %s", p->name, c->idx,
                  tls_version_name(c->tls.ssl));
        httpc_conn_up(c);
        return;
    case TLS_IO_WANT_READ:
        ev_io_stop(p->loop, &c->wio);
        ev_io_start(p->loop, &c->rio);
        return;
    case TLS_IO_WANT_WRITE:
        ev_io_stop(p->loop, &c->rio);
        ev_io_start(p->loop, &c->wio);
        return;
    default:
        httpc_tls_failed(c, why);
        return;
    }
}

/* Copies the first bytes of iov, up to len, into buf; returns how many. */
static size_t
httpc_tls_gather(const struct iovec *iov, int n, char *buf, size_t len)
{
    size_t got = 0;
    for (int i = 0; i < n && got < len; i++) {
        size_t k = TS_MIN(iov[i].iov_len, len - got);
        memcpy(buf + got, iov[i].iov_base, k);
        got += k;
    }
    return got;
}

ssize_t
httpc_tls_writev(struct httpc_conn *c, const struct iovec *iov, int n)
{
    /* Offered again after EAGAIN, the same pieces give the same bytes or
     * more: OpenSSL's pending record is offered again whole. */
    if (n > 1 && iov[0].iov_len < HTTPC_TLS_GATHER) {
        char buf[HTTPC_TLS_GATHER];
        struct iovec one = { buf, httpc_tls_gather(iov, n, buf, sizeof(buf)) };
        return tls_client_writev(&c->tls, &one, 1, 0);
    }
    return tls_client_writev(&c->tls, iov, n, 0); /* the answer proves, not TCP: no marks */
}

ssize_t
httpc_tls_read(struct httpc_conn *c, void *buf, size_t len)
{
    ssize_t n = tls_client_read(&c->tls, buf, len);
    if (n < 0 && c->tls.refused) /* a failed handshake after all (tls_client.h) */
        httpc_tls_count_failure(c->pool);
    return n;
}

int
httpc_tls_idle(struct httpc_conn *c)
{
    char tmp[256];
    ssize_t n = tls_client_read(&c->tls, tmp, sizeof(tmp));
    if (n < 0 && errno == EAGAIN)
        return 1;
    if (n > 0)
        LOG_RL(LOG_WARN, "%s conn %d: %zd bytes nobody asked for: closed", c->pool->name,
               c->idx, n);
    return n == 0 ? 0 : -1;
}

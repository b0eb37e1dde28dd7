/*
 * bconn_open.c -- opening a backend connection: the non-blocking connect
 * within connect-timeout (or the probe of a failed backend: connect and
 * close, no data), the TLS handshake when tls = on, the auth line and
 * its answer when there is one, then up and written to at once (a silent
 * connection must never stay open).  A failure at any step fails the
 * connection (backend.c: its lines kept, retried with backoff).  It never
 * blocks and never writes data before the connection is up.
 */
#include "autoconf.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/resolver.h"
#include "base/util.h"
#include "output/auth.h"
#include "output/backend.h"
#include "output/bconn.h"

static void bconn_auth_begin(struct bconn *c);

void
bconn_on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct bconn *c = container_of(w, struct bconn, timer);
    if (c->state == BC_CONNECTING || c->state == BC_PROBING) {
        bconn_fail(c, c->tls.handshaking ? "TLS handshake timed out (connect-timeout)"
                                        : "connect timed out", 0);
    } else if (c->state == BC_AUTH) {
        c->be->st.auth_failures++;
        bconn_fail(c, "no answer to the auth line within connect-timeout", 0);
    }
}

/* Up: written to at once. */
static void
bconn_up(struct bconn *c)
{
    struct backend *be = c->be;
    struct ev_loop *loop = backend_loop_of(be);
    ev_timer_stop(loop, &c->timer);
    ev_io_stop(loop, &c->wio);
    c->state = BC_UP;
    c->acked_on_conn = 0;
    if (c->connects > 1)
        log_info("backend %s conn %d: connected%s%s", be->cfg->name, c->idx,
                 c->tls.ssl != NULL ? " over " : "",
                 c->tls.ssl != NULL ? tls_version_name(c->tls.ssl) : "");
    ev_io_start(loop, &c->rio);
    bconn_progress(c);
    bconn_flush(c); /* write at once */
}

/* Connected (and through TLS, when on): the auth line first when there is
 * one, then up. */
static void
bconn_ready(struct bconn *c)
{
    if (c->be->cfg->auth[0] != '\0')
        bconn_auth_begin(c);
    else
        bconn_up(c);
}

/* One step of the TLS handshake (the connect timer still runs). */
void
bconn_handshake(struct bconn *c)
{
    struct ev_loop *loop = backend_loop_of(c->be);
    char why[300];
    uint64_t now = backend_now_ms(c->be);
    switch (tls_client_handshake(&c->tls, now, now - c->connected_ms, why, sizeof(why))) {
    case TLS_IO_DONE:
        bconn_ready(c);
        return;
    case TLS_IO_WANT_READ:
        ev_io_stop(loop, &c->wio);
        ev_io_start(loop, &c->rio);
        return;
    case TLS_IO_WANT_WRITE:
        ev_io_start(loop, &c->wio);
        return;
    default: {
        char what[600];
        snprintf(what, sizeof(what), "TLS handshake with %s failed: %s",
                 c->be->tls->server_name, why);
        bconn_fail(c, what, 0);
        return;
    }
    }
}

void
bconn_connected(struct bconn *c)
{
    struct backend *be = c->be;
    struct ev_loop *loop = backend_loop_of(be);
    c->connected_ms = backend_now_ms(be);
    if (c->state != BC_PROBING && be->tls != NULL) {
        /* TLS first, within what is left of connect-timeout */
        if (tls_client_begin(&c->tls, be->tls, c->fd) != TS_OK) {
            bconn_fail(c, "TLS: out of memory", 0);
            return;
        }
        be->st.connects++;
        c->connects++;
        if (c->connects > 1)
            be->st.reconnects++;
        bconn_handshake(c);
        return;
    }
    ev_timer_stop(loop, &c->timer);
    ev_io_stop(loop, &c->wio);
    be->st.connects++;
    c->connects++;
    if (c->connects > 1)
        be->st.reconnects++;
    if (c->state == BC_PROBING) {
        /* nothing to write: a silent connection must not stay open */
        close(c->fd);
        c->fd = -1;
        c->state = BC_IDLE;
        be->backoff_ms = be->env->cfg->reconnect_min_ms;
        log_info("backend %s conn %d: reachable again", be->cfg->name, c->idx);
        uint64_t now = backend_now_ms(be);
        for (int i = 0; i < be->nconns; i++) /* the others follow at once */
            if (be->conns[i].state == BC_FAILED)
                be->conns[i].retry_at_ms = TS_MIN(be->conns[i].retry_at_ms, now);
        if (!queue_empty(&c->q))
            backend_mark_dirty(c);
        return;
    }
    bconn_ready(c);
}

/* ---- the auth line (auth.c) -------------------------------------------- */

/* The first bytes of the connection: the auth line; its answer within
 * connect-timeout.  (Written at once: no silent connection stays open.) */
static void
bconn_auth_begin(struct bconn *c)
{
    struct backend *be = c->be;
    struct ev_loop *loop = backend_loop_of(be);
    ev_io_stop(loop, &c->wio);
    ev_io_start(loop, &c->rio);
    int rc = c->tls.ssl != NULL ? tls_client_write_all(&c->tls, be->cfg->auth, "\n")
                                : auth_send(c->fd, be->cfg->auth);
    if (rc != TS_OK) {
        bconn_fail(c, "writing the auth line", errno);
        return;
    }
    c->state = BC_AUTH;
    ev_timer_stop(loop, &c->timer); /* (a TLS handshake's runs still) */
    ev_timer_set(&c->timer, (double)be->cfg->connect_timeout_ms / 1000.0, 0.0);
    ev_timer_start(loop, &c->timer);
}

/* The TSD's answer to the auth line.  Nothing of it is logged or kept: a
 * TSD that does not authenticate answers "unknown command: <the line's
 * first word>".  false when the connection failed. */
bool
bconn_auth_answered(struct bconn *c, const char *line, size_t len)
{
    struct backend *be = c->be;
    enum auth_answer a = auth_answer(line, len);
    if (a != AUTH_SUCCEEDED) {
        be->st.auth_failures++;
        bconn_fail(c, a == AUTH_REFUSED
                         ? "the TSD refused the auth line (AUTH_FAIL); retrying with backoff"
                         : "the TSD answered the auth line with something else than "
                           "AUTH_SUCCESS (not shown: it may quote the line); retrying with "
                           "backoff", 0);
        return false;
    }
    log_debug("backend %s conn %d: authenticated", be->cfg->name, c->idx);
    bconn_up(c);
    return c->state == BC_UP;
}

void
bconn_connect(struct bconn *c, bool probe)
{
    struct backend *be = c->be;
    if (!be->resolved && bconn_resolve(be) == TS_EAGAIN)
        return; /* waits (not up) while the name resolves; the tick comes back */
    be->st.connect_attempts++;
    if (!be->resolved) {
        /* its own rate limit: not hidden behind the connection failures */
        LOG_RL(LOG_WARN, "backend %s: %s", be->cfg->name, resolver_error(be->res));
        c->state = BC_IDLE;
        bconn_fail(c, resolver_error(be->res), 0);
        return;
    }
    int fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        bconn_fail(c, "socket", errno);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Keepalive finds a vanished host in minutes; it never fires on a
     * frozen-but-alive TSD, whose kernel still answers the probes. */
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int idle = 60, intvl = 10, cnt = 6;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    c->fd = fd;
    c->state = probe ? BC_PROBING : BC_CONNECTING;
    ev_io_set(&c->rio, fd, EV_READ);
    ev_io_set(&c->wio, fd, EV_WRITE);
    int rc = connect(fd, (struct sockaddr *)&be->addr, be->addrlen);
    if (rc == 0) {
        bconn_connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        bconn_fail(c, "connect", errno);
        return;
    }
    ev_io_start(backend_loop_of(be), &c->wio);
    ev_timer_set(&c->timer, (double)be->cfg->connect_timeout_ms / 1000.0, 0.0);
    ev_timer_start(backend_loop_of(be), &c->timer);
}

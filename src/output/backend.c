/*
 * backend.c -- TSD backends: a fixed pool of long-lived TCP connections.
 *
 * Life of a connection: IDLE until its queue has bytes, then a
 * non-blocking connect; once up it writes at once (VictoriaMetrics' telnet
 * listener stalls every later connection behind a silent one) and stays up
 * for the life of the process.  Written is not delivered: bytes stay in
 * the queue until they are proven delivered -- by the peer's TCP
 * (SIOCOUTQ) with ack = none, or by the answer to a `version` barrier
 * written after them with ack = version.  When a connection fails, its
 * unacknowledged lines are sent again on the next one (or taken by the
 * spool), ahead of newer data.  A connection that makes no progress for
 * write-timeout is lagging (its backend's new data spools) but is kept:
 * its kernel buffers hold bytes the TSD has not read yet.  A barrier
 * unanswered for ack-timeout fails the connection.  Sockets are only ever
 * closed gracefully.  Opening a connection (connect, TLS, the auth line)
 * is bconn_open.c's; a backend with protocol = http hands its connections
 * to backend_http.c (be->proto).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "output/backend.h"
#include "output/bconn.h"
#include "base/log.h"
#include "base/point.h"
#include "base/resolver.h"
#include "base/counters.h"
#include "base/util.h"

#define WRITEV_MAX 64
#define READ_BUDGET (256 * 1024)  /* bytes read from a TSD per event */
#define BACKLOG_PROBE_MS 1000     /* a backend with data tries about once a second (jittered) */


const char *
backend_state_name(enum bconn_state s)
{
    switch (s) {
    case BC_IDLE: return "idle";
    case BC_CONNECTING: return "connecting";
    case BC_PROBING: return "probing";
    case BC_AUTH: return "authenticating";
    case BC_UP: return "up";
    case BC_FAILED: return "failed";
    }
    return "?";
}

struct ev_loop *
backend_loop_of(const struct backend *be)
{
    return be->env->loop;
}

uint64_t
backend_now_ms(const struct backend *be)
{
    return (uint64_t)(ev_now(backend_loop_of(be)) * 1000.0);
}

/* The backend's address, without blocking (resolver.c): TS_OK with
 * be->addr set, TS_EAGAIN while the name resolves, TS_ERROR (counted)
 * when the lookup failed. */
int
bconn_resolve(struct backend *be)
{
    int rc = resolver_lookup(be->res, be->cfg->addr.host, be->cfg->addr.port, &be->addr,
                             &be->addrlen);
    be->resolved = rc == TS_OK;
    be->st.resolve_failures += rc == TS_ERROR;
    return rc;
}

/* ---- acknowledgements -------------------------------------------------- */

void
bconn_progress(struct bconn *c)
{
    c->last_progress_ms = backend_now_ms(c->be);
    if (c->lagging) {
        c->lagging = false;
        log_info("backend %s conn %d: writing again after lagging", c->be->cfg->name, c->idx);
    }
}

/* Everything before stream offset `acked` is delivered (or, for
 * `undelivered` lines of it, refused for good). */
static void
acknowledge(struct bconn *c, uint64_t acked, uint64_t undelivered)
{
    struct queue *q = &c->q;
    if (acked > q->sent)
        acked = q->sent;
    if (acked <= q->acked)
        return;
    struct backend *be = c->be;
    uint64_t lines = queue_count_lines(q, q->acked, acked);
    lines -= TS_MIN(lines, barriers_between(&c->bar, q->acked, acked));
    c->acked_on_conn += acked - q->acked;
    c->lines_queued -= TS_MIN(lines, c->lines_queued);
    be->st.lines_acked += lines;
    g_stats.points_forwarded += lines - TS_MIN(lines, undelivered);
    g_stats.points_rejected += TS_MIN(lines, undelivered);
    queue_mark_acked(q, be->env->pool, acked);
    barriers_release(&c->bar, acked);
    bconn_progress(c);
    /* a connection that delivered data has proven itself */
    be->backoff_ms = be->env->cfg->reconnect_min_ms;
}

/* ack = none: releases what the peer's TCP has acknowledged. */
static void
ack_poll(struct bconn *c)
{
    struct queue *q = &c->q;
    if (c->be->cfg->ack != ACK_NONE || c->fd < 0 || q->sent == q->acked)
        return;
    int outq = 0;
    if (ioctl(c->fd, SIOCOUTQ, &outq) < 0 || outq < 0)
        return;
    if (c->tls.ssl != NULL) { /* record bytes: the marks say what they carried */
        if (tls_client_proven(&c->tls, backend_now_ms(c->be)))
            acknowledge(c, tls_client_acked(&c->tls, (uint64_t)outq), 0);
        return;
    }
    uint64_t unacked = (uint64_t)outq;
    if (unacked > q->sent - q->acked)
        unacked = q->sent - q->acked; /* a FIN counts as one */
    acknowledge(c, q->sent - unacked, 0);
}

/* ---- failure and reconnect -------------------------------------------- */

static void
stop_io(struct bconn *c)
{
    struct ev_loop *loop = backend_loop_of(c->be);
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
}

/* Data waits for this backend: in its queues or elsewhere (its spool). */
static bool
has_backlog(const struct backend *be)
{
    if (!backend_idle(be))
        return true;
    return be->env->has_backlog != NULL && be->env->has_backlog(be->env->ctx, be);
}

void
bconn_fail(struct bconn *c, const char *what, int err)
{
    struct backend *be = c->be;
    const struct backend_env *env = be->env;
    if (c->state == BC_UP)
        ack_poll(c);
    LOG_RL(LOG_WARN, "backend %s conn %d (%s:%s): %s%s%s", be->cfg->name, c->idx,
           be->cfg->addr.host, be->cfg->addr.port, what, err ? ": " : "",
           err ? strerror(err) : "");
    stop_io(c);
    /* refused, timed out, closed half-way, or refused at the first read */
    be->st.tls_failures += c->tls.handshaking || c->tls.refused;
    tls_client_end(&c->tls, true);
    if (c->fd >= 0) {
        /* FIN after what was written: the TSD may still read it (never an RST) */
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
        c->fd = -1;
    }
    be->resolved = false; /* the next connect looks the name up again */
    uint64_t resend = queue_count_lines(&c->q, c->q.acked, c->q.sent);
    resend -= TS_MIN(resend, barriers_between(&c->bar, c->q.acked, c->q.sent));
    be->st.lines_resent += resend;
    queue_rewind(&c->q);
    barriers_rewind(&c->bar, c->q.acked);
    /* undelivered lines go upward (to the spool, when there is one) rather
     * than wait in memory for this backend to come back */
    if (env->on_failed != NULL)
        env->on_failed(env->ctx, be, &c->q, &c->lines_queued);
    if (queue_empty(&c->q)) {
        barriers_clear(&c->bar);
        c->barrier_mark = c->q.appended;
    }
    if (queue_unsent(&c->q) == 0)
        c->pending_since_ns = 0;
    be->st.failures++;
    c->state = BC_FAILED;
    c->lagging = false;
    c->rlen = 0;
    /* while data waits, the first connection tries about every
     * BACKLOG_PROBE_MS (the others back off as usual and follow it once
     * it got through): delivery resumes soon after the TSD does, at one
     * attempt a second */
    uint64_t base = be->backoff_ms;
    if (c->idx == 0 && has_backlog(be))
        base = TS_MIN(base, (uint64_t)BACKLOG_PROBE_MS);
    c->retry_at_ms = backend_now_ms(be) + ts_jittered(base);
    be->backoff_ms = TS_MIN(be->backoff_ms * 2, env->cfg->reconnect_max_ms);
}

/* ---- writing ----------------------------------------------------------- */

/* ack = version: a barrier after the lines not yet followed by one. */
static void
add_barrier(struct bconn *c)
{
    struct queue *q = &c->q;
    if (c->be->proto != NULL || q->appended <= c->barrier_mark || !barriers_room(&c->bar))
        return;
    char *dst = queue_reserve(q, c->be->env->pool, POOL_QUEUE, BARRIER_LEN);
    if (dst == NULL)
        return; /* no room now: the next flush adds it */
    memcpy(dst, BARRIER_LINE, BARRIER_LEN);
    queue_commit(q, BARRIER_LEN);
    c->barrier_mark = q->appended;
    barriers_add(&c->bar, q->appended);
    c->be->st.barriers++;
}

/* How far writing may go now: the ack window (ack = version) and the
 * backend's rate (max-rate).  Returns a stream offset. */
static uint64_t
write_limit(struct bconn *c)
{
    struct backend *be = c->be;
    struct queue *q = &c->q;
    uint64_t limit = q->appended;
    if (be->cfg->ack == ACK_VERSION) {
        uint64_t win = be->cfg->ack_window;
        uint64_t out = q->sent - q->acked;
        limit = out >= win ? q->sent : TS_MIN(limit, q->sent + (win - out));
        /* the window must reach a barrier, or nothing in it is ever
         * answered and writing never resumes: past the window, up to the
         * next one (barriers are at most half a window apart when the
         * ring has room: backend_enqueue) */
        if (barriers_between(&c->bar, q->acked, limit) == 0) {
            uint64_t next = barriers_next(&c->bar, limit);
            limit = next != 0 ? next : q->appended;
        }
    }
    uint64_t allow = pacer_allow(&be->pacer, ts_now_ns());
    if (allow != UINT64_MAX)
        limit = TS_MIN(limit, queue_offset_after_lines(q, q->sent, allow));
    return limit;
}

void
bconn_flush(struct bconn *c)
{
    struct backend *be = c->be;
    if (be->proto != NULL) {
        be->proto->flush(c);
        return;
    }
    if (c->state == BC_IDLE) {
        if (queue_unsent(&c->q) > 0)
            bconn_connect(c, false);
        return;
    }
    if (c->state != BC_UP)
        return;
    if (be->cfg->ack == ACK_VERSION)
        add_barrier(c);
    uint64_t limit = write_limit(c);
    /* a TLS record OpenSSL holds encrypted goes out whatever the limits */
    limit = TS_MAX(limit, TS_MIN(c->q.sent + c->tls.wpending, c->q.appended));
    uint64_t from = c->q.sent;
    while (c->q.sent < limit) {
        struct iovec iov[WRITEV_MAX];
        int n = queue_iov_limit(&c->q, iov, WRITEV_MAX, limit);
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        ssize_t w = c->tls.ssl != NULL ? tls_client_writev(&c->tls, iov, n, c->q.sent)
                                       : writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            bconn_fail(c, "write", errno);
            return;
        }
        queue_mark_sent(&c->q, (size_t)w);
        if (c->pending_since_ns != 0) {
            uint64_t now = ts_now_ns();
            latency_record(&g_stats.latency, now - c->pending_since_ns);
            c->pending_since_ns = queue_unsent(&c->q) > 0 ? now : 0;
        }
        c->bytes_written += (uint64_t)w;
        be->st.bytes_written += (uint64_t)w;
        bconn_progress(c);
        if ((size_t)w < total)
            break;
    }
    if (be->pacer.rate > 0 && c->q.sent > from)
        pacer_take(&be->pacer, queue_count_lines(&c->q, from, c->q.sent));
    if (be->cfg->ack == ACK_VERSION)
        barriers_written(&c->bar, c->q.sent, backend_now_ms(be));
    bool blocked = c->q.sent < limit; /* the socket is full: wait for it */
    if (queue_unsent(&c->q) > 0 && blocked)
        ev_io_start(backend_loop_of(be), &c->wio);
    else
        ev_io_stop(backend_loop_of(be), &c->wio);
    if (queue_unsent(&c->q) > 0 && !blocked && be->pacer.rate > 0)
        be->st.pacing_waits++; /* the tick writes on */
    ack_poll(c);
}

void
bconn_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct bconn *c = container_of(w, struct bconn, wio);
    if (c->tls.handshaking) {
        bconn_handshake(c);
        return;
    }
    if (c->state == BC_CONNECTING || c->state == BC_PROBING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            bconn_fail(c, "connect", err);
            return;
        }
        bconn_connected(c);
        return;
    }
    bconn_flush(c);
}

/* ---- what the TSD writes back ----------------------------------------- */

static void
reply_error(struct bconn *c, const char *line, size_t len)
{
    struct backend *be = c->be;
    be->st.errors++;
    snprintf(be->st.last_error, sizeof(be->st.last_error), "%.*s", (int)TS_MIN(len, 199), line);
    LOG_RL(LOG_WARN, "backend %s conn %d replied: %.*s", be->cfg->name, c->idx,
           (int)TS_MIN(len, 300), line);
}

/* One line the TSD wrote.  false when the connection failed. */
static bool
reply_line(struct bconn *c, const char *line, size_t len)
{
    if (c->state == BC_AUTH)
        return bconn_auth_answered(c, line, len);
    if (c->be->cfg->ack == ACK_VERSION) {
        bool error;
        uint64_t end = barriers_reply_line(&c->bar, line, len, &error);
        if (end != 0) {
            c->be->st.barriers_answered++;
            acknowledge(c, end, 0);
            /* the window moved, or the ring has room for a barrier the
             * last lines still lack */
            if (queue_unsent(&c->q) > 0 || c->q.appended > c->barrier_mark)
                backend_mark_dirty(c);
        } else if (error) {
            reply_error(c, line, len); /* a rejection of a line before the barrier */
        }
        return true;
    }
    /* version answers are not errors */
    if ((len >= 18 && memcmp(line, "net.opentsdb.tools", 18) == 0) ||
        (len >= 9 && memcmp(line, "Built on ", 9) == 0))
        return true;
    reply_error(c, line, len);
    return true;
}

void
bconn_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct bconn *c = container_of(w, struct bconn, rio);
    struct backend *be = c->be;
    if (c->tls.handshaking) {
        bconn_handshake(c);
        return;
    }
    char buf[16384];
    size_t budget = READ_BUDGET;
    while (budget > 0) {
        ssize_t n = c->tls.ssl != NULL ? tls_client_read(&c->tls, buf, sizeof(buf))
                                       : read(c->fd, buf, sizeof(buf));
        if (n == 0) {
            bconn_fail(c, "closed by the backend", 0);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (c->tls.ssl != NULL) { /* an alert says more than errno */
                char why[300], what[340];
                snprintf(what, sizeof(what), "TLS: %s",
                         tls_client_error(&c->tls, why, sizeof(why)));
                bconn_fail(c, what, 0);
                return;
            }
            bconn_fail(c, "read", errno);
            return;
        }
        be->st.reply_bytes += (uint64_t)n;
        budget -= TS_MIN(budget, (size_t)n);
        /* split into lines through the small line buffer; a line longer
         * than it is reported truncated */
        const char *p = buf, *end = buf + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t take = (size_t)((nl ? nl : end) - p);
            size_t room = sizeof(c->rbuf) - c->rlen;
            memcpy(c->rbuf + c->rlen, p, TS_MIN(take, room));
            c->rlen += TS_MIN(take, room);
            if (nl == NULL) {
                if (c->rlen == sizeof(c->rbuf)) { /* overlong: report and reset */
                    size_t ln = c->rlen;
                    c->rlen = 0;
                    if (!reply_line(c, c->rbuf, ln))
                        return;
                }
                break;
            }
            if (c->rlen > 0 && c->rbuf[c->rlen - 1] == '\r')
                c->rlen--;
            size_t ln = c->rlen;
            c->rlen = 0;
            if (!reply_line(c, c->rbuf, ln))
                return;
            p = nl + 1;
        }
    }
    if (tls_client_buffered(&c->tls)) /* decrypted, and the socket will not say so */
        ev_feed_event(loop, &c->rio, EV_READ);
}

/* ---- public ------------------------------------------------------------ */

int
backend_init(struct backend *be, const struct backend_env *env, const struct cfg_backend *cfg,
             int idx)
{
    memset(be, 0, sizeof(*be));
    be->env = env;
    be->cfg = cfg;
    be->idx = idx;
    be->nconns = cfg->conns;
    be->backoff_ms = env->cfg->reconnect_min_ms;
    be->overflow = cfg->overflow >= 0 ? (enum overflow_policy)cfg->overflow : env->cfg->overflow;
    pacer_init(&be->pacer, cfg->max_rate);
    be->conns = calloc((size_t)be->nconns, sizeof(*be->conns));
    if (be->conns == NULL)
        return TS_ERROR;
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        c->be = be;
        c->idx = i;
        c->fd = -1;
        c->state = BC_IDLE;
        queue_init(&c->q);
        barriers_init(&c->bar);
        ev_io_init(&c->rio, bconn_on_readable, -1, EV_READ);
        ev_io_init(&c->wio, bconn_on_writable, -1, EV_WRITE);
        ev_timer_init(&c->timer, bconn_on_connect_timeout, 1.0, 0.0);
    }
    struct resolver_opts ro = { env->cfg->dns_servers, env->cfg->resolve_timeout_ms };
    be->res = resolver_new(env->loop, &ro);
    if (be->res == NULL)
        return TS_ERROR;
    (void)bconn_resolve(be); /* a name starts resolving now; looked up again on connect */
    if (cfg->protocol == BPROTO_HTTP) {
        if (env->http == NULL)
            return TS_ERROR;
        be->proto = env->http;
        if (be->proto->attach(be) != TS_OK) {
            be->proto = NULL;
            return TS_ERROR;
        }
    }
    return TS_OK;
}

void
backend_destroy(struct backend *be)
{
    if (be->proto != NULL)
        be->proto->detach(be);
    be->proto = NULL;
    resolver_free(be->res);
    be->res = NULL;
    tls_client_free(be->tls);
    be->tls = NULL;
    if (be->conns == NULL)
        return;
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        stop_io(c);
        tls_client_end(&c->tls, false);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        queue_clear(&c->q, be->env->pool);
    }
    free(be->conns);
    be->conns = NULL;
}

bool
backend_available(const struct backend *be)
{
    for (int i = 0; i < be->nconns; i++) {
        const struct bconn *c = &be->conns[i];
        if (c->state == BC_FAILED || c->state == BC_PROBING || c->lagging)
            return false;
    }
    return true;
}

uint64_t
backend_queued_bytes(const struct backend *be)
{
    uint64_t n = 0;
    for (int i = 0; i < be->nconns; i++)
        n += queue_bytes(&be->conns[i].q);
    return n;
}

uint64_t
backend_queued_lines(const struct backend *be)
{
    uint64_t n = 0;
    for (int i = 0; i < be->nconns; i++)
        n += be->conns[i].lines_queued;
    return n;
}

bool
backend_idle(const struct backend *be)
{
    for (int i = 0; i < be->nconns; i++)
        if (!queue_empty(&be->conns[i].q))
            return false;
    return true;
}

int
backend_conns_up(const struct backend *be)
{
    if (be->proto != NULL)
        return be->proto->conns_up(be);
    int n = 0;
    for (int i = 0; i < be->nconns; i++)
        n += be->conns[i].state == BC_UP;
    return n;
}

uint64_t
backend_oldest_ms(const struct backend *be)
{
    uint64_t oldest = 0;
    for (int i = 0; i < be->nconns; i++) {
        const struct block *h = be->conns[i].q.head;
        if (h != NULL && h->stamp != 0 && (oldest == 0 || h->stamp < oldest))
            oldest = h->stamp;
    }
    return oldest;
}

static struct bconn *
pick_conn(struct backend *be, uint64_t hash)
{
    return &be->conns[be->nconns == 1 ? 0 : (int)((hash >> 40) % (uint64_t)be->nconns)];
}

int
backend_enqueue(struct backend *be, uint64_t hash, const char *line, size_t len)
{
    struct bconn *c = pick_conn(be, hash);
    if (c->pending_since_ns == 0)
        c->pending_since_ns = *be->env->batch_read_ns ? *be->env->batch_read_ns : ts_now_ns();
    struct block *tail = c->q.tail;
    char *dst = queue_reserve(&c->q, be->env->pool, POOL_QUEUE, len);
    if (dst == NULL)
        return TS_ENOMEM;
    if (c->q.tail != tail) /* a new block: when its first line came (backlog age) */
        c->q.tail->stamp = backend_now_ms(be);
    memcpy(dst, line, len);
    queue_commit(&c->q, len);
    c->lines_queued++;
    be->st.lines_queued++;
    /* ack = version: a barrier at least every half window, even while the
     * connection is down, so a backlog is answered window by window */
    if (be->cfg->ack == ACK_VERSION && c->q.appended - c->barrier_mark >= be->cfg->ack_window / 2)
        add_barrier(c);
    backend_mark_dirty(c);
    return TS_OK;
}

size_t
backend_enqueue_lines(struct backend *be, const char *buf, size_t len, size_t *consumed)
{
    size_t off = 0, lines = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (nl == NULL)
            break; /* blocks hold whole lines; a tail without "\n" is corrupt */
        size_t llen = (size_t)(nl - (buf + off)) + 1;
        uint64_t h = point_line_hash(buf + off, llen);
        if (backend_enqueue(be, h, buf + off, llen) != TS_OK)
            break;
        off += llen;
        lines++;
    }
    *consumed = off;
    return lines;
}

void
backend_mark_dirty(struct bconn *c)
{
    if (c->dirty)
        return;
    struct bconn **dirty = c->be->env->dirty;
    c->dirty = true;
    c->next_dirty = *dirty;
    *dirty = c;
}

void
backend_flush_all(struct bconn **dirty)
{
    while (*dirty != NULL) {
        struct bconn *c = *dirty;
        *dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        bconn_flush(c);
    }
}

void
backend_tick(struct backend *be, uint64_t now)
{
    const struct backend_env *env = be->env;
    if (be->proto != NULL) {
        be->proto->tick(be, now);
        return;
    }
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        switch (c->state) {
        case BC_UP:
            ack_poll(c);
            if (queue_unsent(&c->q) == 0 && queue_unacked(&c->q) == 0) {
                c->last_progress_ms = now;
            } else if (!c->lagging && now - c->last_progress_ms > be->cfg->write_timeout_ms) {
                c->lagging = true;
                be->st.lag_events++;
                log_warn("backend %s conn %d: no write progress for %llu ms with %llu bytes "
                         "pending: lagging, new data spools",
                         be->cfg->name, i, (unsigned long long)(now - c->last_progress_ms),
                         (unsigned long long)queue_bytes(&c->q));
            }
            if (be->cfg->ack == ACK_VERSION &&
                barriers_overdue(&c->bar, now, be->cfg->ack_timeout_ms)) {
                be->st.ack_timeouts++;
                bconn_fail(c, "a version barrier went unanswered for ack-timeout", 0);
                break;
            }
            if (queue_unsent(&c->q) > 0)
                backend_mark_dirty(c); /* paced, or waiting for the window */
            else if (be->cfg->ack == ACK_VERSION && c->q.appended > c->barrier_mark)
                backend_mark_dirty(c); /* the last lines still lack a barrier (ring was full) */
            break;
        case BC_FAILED:
            if (now >= c->retry_at_ms && env->running(env->ctx))
                bconn_connect(c, queue_unsent(&c->q) == 0);
            else if (now >= c->retry_at_ms && queue_unsent(&c->q) > 0)
                bconn_connect(c, false);
            break;
        case BC_IDLE:
            if (queue_unsent(&c->q) > 0)
                backend_mark_dirty(c);
            break;
        case BC_CONNECTING:
        case BC_PROBING:
        case BC_AUTH:
            break;
        }
    }
}

void
backend_reconfigure(struct backend *be, const struct cfg_backend *cfg)
{
    const struct cfg_backend *old = be->cfg;
    bool moved = strcmp(old->addr.host, cfg->addr.host) != 0 ||
                 strcmp(old->addr.port, cfg->addr.port) != 0;
    bool ack_changed = old->ack != cfg->ack;
    bool tls_changed = old->tls != cfg->tls || strcmp(old->server_name, cfg->server_name) != 0;
    bool auth_changed = strcmp(old->auth, cfg->auth) != 0;
    be->cfg = cfg;
    pacer_init(&be->pacer, cfg->max_rate);
    be->overflow = cfg->overflow >= 0 ? (enum overflow_policy)cfg->overflow
                                      : be->env->cfg->overflow;
    if (be->proto != NULL) {
        be->proto->reconfigure(be, old);
        return;
    }
    if (!moved && !ack_changed && !tls_changed && !auth_changed)
        return;
    be->resolved = false;
    const char *why = moved ? "the address changed (reload)"
                      : ack_changed ? "the ack mode changed (reload)"
                      : tls_changed ? "its TLS settings changed (reload)"
                                    : "the auth line changed (reload)";
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        if (c->state == BC_UP || c->state == BC_CONNECTING || c->state == BC_PROBING ||
            c->state == BC_AUTH)
            bconn_fail(c, why, 0);
        c->retry_at_ms = 0; /* reconnect at once */
        if (ack_changed) {
            barriers_clear(&c->bar);
            c->barrier_mark = c->q.appended;
        }
    }
}

void
backend_set_tls(struct backend *be, struct tls_client *tc)
{
    tls_client_free(be->tls); /* connections made with it keep it */
    be->tls = tc;
    if (be->proto != NULL)
        be->proto->set_tls(be);
}

uint64_t
backend_hand_over(struct bconn *c, backend_line_fn fn, void *ctx)
{
    struct backend *be = c->be;
    if (be->proto != NULL)
        be->proto->quiesce(c);
    if (c->fd >= 0) {
        stop_io(c);
        tls_client_end(&c->tls, true);
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
        c->fd = -1;
    }
    ev_timer_stop(backend_loop_of(be), &c->timer);
    c->state = BC_FAILED;
    c->lagging = false;
    c->retry_at_ms = UINT64_MAX; /* no more attempts */
    c->rlen = 0; /* a reply line half read on the closed connection */
    struct queue *q = &c->q;
    queue_rewind(q);
    uint64_t handed = 0;
    while (queue_unsent(q) > 0) {
        struct iovec iov;
        if (queue_iov(q, &iov, 1) < 1)
            break;
        const char *line = iov.iov_base; /* a line never spans blocks */
        const char *nl = memchr(line, '\n', iov.iov_len);
        size_t len = nl != NULL ? (size_t)(nl - line) + 1 : iov.iov_len;
        if (!(len == BARRIER_LEN && memcmp(line, BARRIER_LINE, BARRIER_LEN) == 0)) {
            if (fn(ctx, line, len, point_line_hash(line, len)) == TS_EAGAIN)
                break;
            handed++;
            c->lines_queued -= TS_MIN((uint64_t)1, c->lines_queued);
        }
        queue_mark_sent(q, len);
        queue_mark_acked(q, be->env->pool, q->sent);
    }
    /* barriers still queued (stopped by TS_EAGAIN) stay tracked: the TSD
     * answers them when they are written again; lines past the last one
     * get a barrier at the next flush */
    barriers_rewind(&c->bar, q->acked);
    if (queue_empty(q))
        c->barrier_mark = q->appended;
    if (queue_unsent(q) == 0)
        c->pending_since_ns = 0;
    return handed;
}

void
backend_revive(struct backend *be)
{
    for (int i = 0; i < be->nconns; i++)
        if (be->conns[i].state == BC_FAILED && be->conns[i].retry_at_ms == UINT64_MAX)
            be->conns[i].retry_at_ms = 0;
}

void
backend_quiesce(struct backend *be)
{
    if (be->proto == NULL)
        return;
    for (int i = 0; i < be->nconns; i++)
        be->proto->quiesce(&be->conns[i]);
}

void
backend_conn_progress(struct bconn *c)
{
    bconn_progress(c);
}

void
backend_conn_acknowledge(struct bconn *c, uint64_t acked, uint64_t undelivered)
{
    acknowledge(c, acked, undelivered);
}

void
backend_conn_fail(struct bconn *c, const char *what)
{
    bconn_fail(c, what, 0);
}

void
backend_close_all(struct backend *be)
{
    if (be->proto != NULL)
        be->proto->close(be);
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        stop_io(c);
        tls_client_end(&c->tls, true); /* close_notify, then the FIN */
        if (c->fd >= 0) {
            /* FIN after the last byte; the kernel keeps delivering what is
             * still queued.  Never an RST. */
            shutdown(c->fd, SHUT_WR);
            close(c->fd);
            c->fd = -1;
        }
        c->state = BC_IDLE;
    }
}

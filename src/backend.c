/*
 * backend.c -- TSD backends: a fixed pool of long-lived TCP connections.
 *
 * Life of a connection: IDLE until its queue has bytes, then a
 * non-blocking connect; once up it writes at once (VictoriaMetrics' telnet
 * listener stalls every later connection behind a silent one) and stays up
 * for the life of the process.  Written is not delivered: bytes stay in
 * the queue until SIOCOUTQ says the peer's TCP acknowledged them; when a
 * connection fails, the unacknowledged lines are sent again on the next
 * one, ahead of newer data.  A connection that makes no progress for
 * write-timeout is lagging (its backend's new data spools) but is kept:
 * its kernel buffers hold bytes the TSD has not read yet.  Sockets are only
 * ever closed gracefully.
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

#include "backend.h"
#include "log.h"
#include "point.h"
#include "relay.h"
#include "resolver.h"
#include "spool.h"
#include "stats.h"
#include "util.h"

#define WRITEV_MAX 64
#define READ_BUDGET (256 * 1024)  /* bytes read from a TSD per event */

static void conn_flush(struct bconn *c);
static void conn_connect(struct bconn *c, bool probe);

const char *
backend_state_name(enum bconn_state s)
{
    switch (s) {
    case BC_IDLE: return "idle";
    case BC_CONNECTING: return "connecting";
    case BC_PROBING: return "probing";
    case BC_UP: return "up";
    case BC_FAILED: return "failed";
    }
    return "?";
}

/* issue 12: without blocking (resolver.c): TS_OK with be->addr set,
 * TS_EAGAIN while the name resolves, TS_ERROR (counted) when it failed */
static int
resolve(struct backend *be)
{
    int rc = resolver_lookup(be->res, be->cfg->addr.host, be->cfg->addr.port, &be->addr,
                             &be->addrlen);
    be->resolved = rc == TS_OK;
    be->st.resolve_failures += rc == TS_ERROR;
    return rc;
}

static uint64_t
jittered(uint64_t base)
{
    /* uniform in [base/2, base*3/2) */
    return base / 2 + (uint64_t)((double)base * ((double)rand() / ((double)RAND_MAX + 1.0)));
}

/* ---- acknowledgements -------------------------------------------------- */

static void
progress(struct bconn *c)
{
    c->last_progress_ms = (uint64_t)(ev_now(c->be->r->loop) * 1000.0);
    if (c->lagging) {
        c->lagging = false;
        log_info("backend %s conn %d: writing again after lagging", c->be->cfg->name, c->idx);
    }
}

/* Releases what the peer's TCP has acknowledged. */
static void
ack_poll(struct bconn *c)
{
    struct queue *q = &c->q;
    if (c->fd < 0 || q->sent == q->acked)
        return;
    int outq = 0;
    if (ioctl(c->fd, SIOCOUTQ, &outq) < 0 || outq < 0)
        return;
    uint64_t unacked = (uint64_t)outq;
    if (unacked > q->sent - q->acked)
        unacked = q->sent - q->acked; /* a FIN counts as one */
    uint64_t acked = q->sent - unacked;
    if (acked <= q->acked)
        return;
    struct backend *be = c->be;
    uint64_t lines = queue_count_lines(q, q->acked, acked);
    c->acked_on_conn += acked - q->acked;
    c->lines_queued -= TS_MIN(lines, c->lines_queued);
    be->st.lines_acked += lines;
    g_stats.points_forwarded += lines;
    queue_mark_acked(q, &be->r->pool, acked);
    progress(c);
    /* a connection that delivered data has proven itself */
    be->backoff_ms = be->r->cfg.reconnect_min_ms;
}

/* ---- failure and reconnect -------------------------------------------- */

static void
stop_io(struct bconn *c)
{
    struct ev_loop *loop = c->be->r->loop;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
}

static void
conn_fail(struct bconn *c, const char *what, int err)
{
    struct backend *be = c->be;
    struct relay *r = be->r;
    if (c->state == BC_UP)
        ack_poll(c);
    LOG_RL(LOG_WARN, "backend %s conn %d (%s:%s): %s%s%s", be->cfg->name, c->idx,
           be->cfg->addr.host, be->cfg->addr.port, what, err ? ": " : "",
           err ? strerror(err) : "");
    stop_io(c);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    be->resolved = false; /* issue 12: the next connect looks the name up again */
    uint64_t resend = queue_count_lines(&c->q, c->q.acked, c->q.sent);
    be->st.lines_resent += resend;
    queue_rewind(&c->q);
    /* undelivered lines go to the spool (when there is one) rather than
     * wait in memory for this backend to come back */
    spool_take_queue(be, &c->q, &c->lines_queued);
    if (queue_unsent(&c->q) == 0)
        c->pending_since_ns = 0;
    be->st.failures++;
    c->state = BC_FAILED;
    c->lagging = false;
    c->rlen = 0;
    uint64_t now = (uint64_t)(ev_now(r->loop) * 1000.0);
    c->retry_at_ms = now + jittered(be->backoff_ms);
    be->backoff_ms = TS_MIN(be->backoff_ms * 2, r->cfg.reconnect_max_ms);
}

static void
on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct bconn *c = container_of(w, struct bconn, timer);
    if (c->state == BC_CONNECTING || c->state == BC_PROBING)
        conn_fail(c, "connect timed out", 0);
}

static void
connected(struct bconn *c)
{
    struct backend *be = c->be;
    struct ev_loop *loop = be->r->loop;
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
        log_info("backend %s conn %d: reachable again", be->cfg->name, c->idx);
        if (!queue_empty(&c->q))
            relay_mark_dirty(be->r, c);
        return;
    }
    c->state = BC_UP;
    c->acked_on_conn = 0;
    if (c->connects > 1)
        log_info("backend %s conn %d: connected", be->cfg->name, c->idx);
    ev_io_start(loop, &c->rio);
    progress(c);
    conn_flush(c); /* write at once */
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);

static void
conn_connect(struct bconn *c, bool probe)
{
    struct backend *be = c->be;
    struct relay *r = be->r;
    if (!be->resolved && resolve(be) == TS_EAGAIN)
        return; /* issue 12: waits (not up) while the name resolves; the tick comes back */
    be->st.connect_attempts++;
    if (!be->resolved) {
        c->state = BC_IDLE;
        conn_fail(c, resolver_error(be->res), 0);
        return;
    }
    int fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        conn_fail(c, "socket", errno);
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
        connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        conn_fail(c, "connect", errno);
        return;
    }
    ev_io_start(r->loop, &c->wio);
    ev_timer_set(&c->timer, (double)be->cfg->connect_timeout_ms / 1000.0, 0.0);
    ev_timer_start(r->loop, &c->timer);
}

/* ---- writing ----------------------------------------------------------- */

static void
conn_flush(struct bconn *c)
{
    struct backend *be = c->be;
    struct relay *r = be->r;
    if (c->state == BC_IDLE) {
        if (queue_unsent(&c->q) > 0)
            conn_connect(c, false);
        return;
    }
    if (c->state != BC_UP)
        return;
    while (queue_unsent(&c->q) > 0) {
        struct iovec iov[WRITEV_MAX];
        int n = queue_iov(&c->q, iov, WRITEV_MAX);
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_fail(c, "write", errno);
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
        progress(c);
        if ((size_t)w < total)
            break;
    }
    if (queue_unsent(&c->q) > 0)
        ev_io_start(r->loop, &c->wio);
    else
        ev_io_stop(r->loop, &c->wio);
    ack_poll(c);
}

static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct bconn *c = container_of(w, struct bconn, wio);
    if (c->state == BC_CONNECTING || c->state == BC_PROBING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            conn_fail(c, "connect", err);
            return;
        }
        connected(c);
        return;
    }
    conn_flush(c);
}

/* ---- what the TSD writes back ----------------------------------------- */

static void
reply_line(struct bconn *c, const char *line, size_t len)
{
    struct backend *be = c->be;
    /* version replies (ack = version) are not errors */
    if ((len >= 18 && memcmp(line, "net.opentsdb.tools", 18) == 0) ||
        (len >= 9 && memcmp(line, "Built on ", 9) == 0))
        return;
    be->st.errors++;
    snprintf(be->st.last_error, sizeof(be->st.last_error), "%.*s", (int)TS_MIN(len, 199), line);
    LOG_RL(LOG_WARN, "backend %s conn %d replied: %.*s", be->cfg->name, c->idx,
           (int)TS_MIN(len, 300), line);
}

static void
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct bconn *c = container_of(w, struct bconn, rio);
    struct backend *be = c->be;
    char buf[16384];
    size_t budget = READ_BUDGET;
    while (budget > 0) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n == 0) {
            conn_fail(c, "closed by the backend", 0);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_fail(c, "read", errno);
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
                    reply_line(c, c->rbuf, c->rlen);
                    c->rlen = 0;
                }
                break;
            }
            reply_line(c, c->rbuf, c->rlen);
            c->rlen = 0;
            p = nl + 1;
        }
    }
}

/* ---- public ------------------------------------------------------------ */

int
backend_init(struct relay *r, struct backend *be, const struct cfg_backend *cfg, int idx)
{
    memset(be, 0, sizeof(*be));
    be->r = r;
    be->cfg = cfg;
    be->idx = idx;
    be->nconns = cfg->conns;
    be->backoff_ms = r->cfg.reconnect_min_ms;
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
        ev_io_init(&c->rio, on_readable, -1, EV_READ);
        ev_io_init(&c->wio, on_writable, -1, EV_WRITE);
        ev_timer_init(&c->timer, on_connect_timeout, 1.0, 0.0);
    }
    struct resolver_opts ro = { r->cfg.dns_servers, r->cfg.resolve_timeout_ms }; /* issue 12 */
    be->res = resolver_new(r->loop, &ro);
    if (be->res == NULL)
        return TS_ERROR;
    (void)resolve(be); /* a name starts resolving now; looked up again on connect */
    return TS_OK;
}

void
backend_destroy(struct backend *be)
{
    resolver_free(be->res); /* issue 12 */
    be->res = NULL;
    if (be->conns == NULL)
        return;
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        stop_io(c);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        queue_clear(&c->q, &be->r->pool);
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
    int n = 0;
    for (int i = 0; i < be->nconns; i++)
        n += be->conns[i].state == BC_UP;
    return n;
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
    struct pool *p = &be->r->pool;
    if (c->pending_since_ns == 0)
        c->pending_since_ns = be->r->batch_read_ns ? be->r->batch_read_ns : ts_now_ns();
    char *dst = queue_reserve(&c->q, p, POOL_QUEUE, len);
    if (dst == NULL)
        return TS_ENOMEM;
    memcpy(dst, line, len);
    queue_commit(&c->q, len);
    c->lines_queued++;
    be->st.lines_queued++;
    relay_mark_dirty(be->r, c);
    return TS_OK;
}

size_t
backend_enqueue_lines(struct backend *be, const char *buf, size_t len, size_t *consumed)
{
    size_t off = 0, lines = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t llen = (nl ? (size_t)(nl - (buf + off)) + 1 : len - off);
        if (nl == NULL)
            break; /* blocks hold whole lines; a tail without "\n" is corrupt */
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
relay_mark_dirty(struct relay *r, struct bconn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = r->dirty;
    r->dirty = c;
}

void
backend_flush_all(struct relay *r)
{
    while (r->dirty != NULL) {
        struct bconn *c = r->dirty;
        r->dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        conn_flush(c);
    }
}

void
backend_tick(struct backend *be, uint64_t now_ms)
{
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        switch (c->state) {
        case BC_UP:
            ack_poll(c);
            if (queue_unsent(&c->q) == 0 && queue_unacked(&c->q) == 0) {
                c->last_progress_ms = now_ms;
            } else if (!c->lagging && now_ms - c->last_progress_ms > be->cfg->write_timeout_ms) {
                c->lagging = true;
                be->st.lag_events++;
                log_warn("backend %s conn %d: no write progress for %llu ms with %llu bytes "
                         "pending: lagging, new data spools",
                         be->cfg->name, i, (unsigned long long)(now_ms - c->last_progress_ms),
                         (unsigned long long)queue_bytes(&c->q));
            }
            break;
        case BC_FAILED:
            if (now_ms >= c->retry_at_ms && be->r->phase == PHASE_RUNNING)
                conn_connect(c, queue_unsent(&c->q) == 0);
            else if (now_ms >= c->retry_at_ms && queue_unsent(&c->q) > 0)
                conn_connect(c, false);
            break;
        case BC_IDLE:
            if (queue_unsent(&c->q) > 0)
                relay_mark_dirty(be->r, c);
            break;
        case BC_CONNECTING:
        case BC_PROBING:
            break;
        }
    }
}

void
backend_close_all(struct backend *be)
{
    for (int i = 0; i < be->nconns; i++) {
        struct bconn *c = &be->conns[i];
        stop_io(c);
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

/* Backlog age for the status page and /metrics: the oldest unsent line
 * of the connection queues (pending_since_ns).  The spool's part (its
 * entries' staging times) comes with issue 11. */
uint64_t
backend_backlog_age_ms(const struct backend *be)
{
    uint64_t oldest = 0;
    for (int i = 0; i < be->nconns; i++) {
        uint64_t t = be->conns[i].pending_since_ns;
        if (t != 0 && (oldest == 0 || t < oldest))
            oldest = t;
    }
    if (oldest == 0)
        return 0;
    uint64_t now = ts_now_ns();
    return now > oldest ? (now - oldest) / 1000000u : 0;
}

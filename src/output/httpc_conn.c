/*
 * httpc_conn.c -- one connection of an HTTP client pool.
 *
 *   CLOSED -> RESOLVING -> CONNECTING [-> HANDSHAKING] -> UP -> ... -> CLOSED
 *   (HANDSHAKING: TLS, httpc_tls.c, still within connect_ms; a clear
 *   connection pays one branch per read and write for it)
 *   reqs: its requests, oldest first; the first is being answered,
 *   `writing` the first not yet written whole.  Written in order (head,
 *   then body: Content-Length, or chunks framed here), answered in order.
 *   response bytes -> the read block -> http-parser -> on_header/on_head/
 *   on_body of the first request; a body the caller does not take whole
 *   pauses the parser where it is (the rest stays in the block, nothing
 *   more is read) until httpc_resume.
 *
 * After every callback the code checks whether the caller doomed the
 * connection (a cancel) before it touches the request again: the caller
 * may have freed it.  A doomed connection is closed by the pool's kick.
 * Sockets are closed gracefully (FIN); a connection whose exchange did
 * not finish is never reused.
 */
#include "autoconf.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "output/httpc_conn.h"
#include "base/log.h"
#include "base/resolver.h"
#include "base/util.h"

#define HTTPC_HEAD_IOV 7 /* method, " ", target, version, our lines, the caller's, CRLF */
#define HTTPC_IOV (HTTPC_HEAD_IOV + 2) /* and a chunk's framing and its bytes */
#define HTTPC_READ_BUDGET (1u << 20) /* bytes read per event, then others get a turn */

static const http_parser_settings httpc_settings;
static void httpc_conn_parse(struct httpc_conn *c);


void
httpc_kick(struct httpc_pool *p)
{
    if (!ev_is_active(&p->kick) && !ev_is_pending(&p->kick)) {
        ev_timer_set(&p->kick, 0.0, 0.0);
        ev_timer_start(p->loop, &p->kick);
    }
}

/* ---- finishing requests -------------------------------------------------- */

static void
httpc_count(struct httpc_pool *p, enum httpc_result res)
{
    switch (res) {
    case HTTPC_OK: p->st.responses++; break;
    case HTTPC_CONNECT_FAILED: p->st.connect_failures++; break;
    case HTTPC_LOST: p->st.lost++; break;
    case HTTPC_TIMEOUT: p->st.timeouts++; break;
    case HTTPC_WAIT_TIMEOUT: p->st.wait_timeouts++; break;
    case HTTPC_BAD_RESPONSE: p->st.bad_responses++; break;
    case HTTPC_NOMEM: p->st.nomem++; break;
    }
}

/* Tells the caller; r is the caller's again (never touched after). */
void
httpc_finish(struct httpc_req *r, enum httpc_result res)
{
    struct httpc_pool *p = r->pool;
    r->state = HTTPC_R_IDLE;
    r->conn = NULL;
    r->next = NULL;
    httpc_count(p, res);
    r->ops->on_done(r, res);
}

/* Fails a list of requests (unlinked already) in order. */
void
httpc_fail_list(struct httpc_req *list, enum httpc_result first, enum httpc_result rest)
{
    enum httpc_result res = first;
    while (list != NULL) {
        struct httpc_req *next = list->next;
        httpc_finish(list, res);
        res = rest;
        list = next;
    }
}

/* ---- connections: closing ------------------------------------------------ */

static void
httpc_release_buffer(struct httpc_conn *c)
{
    if (c->rbuf != NULL)
        pool_put(c->pool->mem, c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rend = 0;
}

/* Closes the socket (FIN, never an RST) and forgets its state; returns
 * its requests, unlinked, for the caller to fail. */
struct httpc_req *
httpc_conn_close(struct httpc_conn *c)
{
    struct ev_loop *loop = c->pool->loop;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
    tls_client_end(&c->tls, c->state == HC_UP); /* close_notify first when up */
    if (c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
    }
    c->fd = -1;
    c->state = HC_CLOSED;
    struct httpc_req *list = c->reqs;
    c->reqs = c->writing = NULL;
    c->nreqs = 0;
    c->served = 0;
    c->pend = NULL;
    c->pend_len = 0;
    c->paused = c->body_waits = c->resume_pending = c->doomed = c->msg_done = false;
    c->interim = c->kept_alive = c->bad = false;
    httpc_release_buffer(c);
    for (struct httpc_req *r = list; r != NULL; r = r->next)
        r->conn = NULL;
    return list;
}

/* The connection ends with an exchange unfinished: its first request gets
 * `first`, the others (never answered) HTTPC_LOST. */
static void
httpc_conn_fail(struct httpc_conn *c, enum httpc_result first, const char *why, int err)
{
    struct httpc_pool *p = c->pool;
    if (c->nreqs > 0)
        LOG_RL(LOG_WARN, "%s (%s:%s) conn %d: %s%s%s (%d request%s in flight)", p->name, p->host,
               p->port, c->idx, why, err ? ": " : "", err ? strerror(err) : "", c->nreqs,
               c->nreqs == 1 ? "" : "s");
    p->resolved = false;
    httpc_fail_list(httpc_conn_close(c), first, HTTPC_LOST);
    httpc_kick(p);
}

/* A read or write failed: over TLS, its reason (an alert) says more than
 * errno. */
static void
httpc_io_failed(struct httpc_conn *c, const char *op, int err)
{
    if (c->tls.ssl == NULL) {
        httpc_conn_fail(c, HTTPC_LOST, op, err);
        return;
    }
    char tls[256], why[300];
    snprintf(why, sizeof(why), "%s: TLS: %s", op, tls_client_error(&c->tls, tls, sizeof(tls)));
    httpc_conn_fail(c, HTTPC_LOST, why, 0);
}

bool
httpc_any_up(const struct httpc_pool *p)
{
    for (int i = 0; i < p->o.conns; i++)
        if (p->conns[i].state == HC_UP)
            return true;
    return false;
}

/* No connection could be made.  Its requests were not written; with no
 * connection up the pool is down, and every waiting request fails too. */
void
httpc_connect_failed(struct httpc_conn *c, const char *why, int err)
{
    struct httpc_pool *p = c->pool;
    p->st.connect_errors++;
    if (log_get_level() >= LOG_WARN) /* each pool its own line a second: the pass-through's
                                        and the HTTP backend's of one TSD both show */
        log_rl_msg(&p->connect_rl, 1000, LOG_WARN, "%s (%s:%s): %s%s%s", p->name, p->host,
                   p->port, why, err ? ": " : "", err ? strerror(err) : "");
    p->resolved = false;
    struct httpc_req *list = httpc_conn_close(c);
    struct httpc_req *waiting = NULL;
    p->retry_at = ev_now(p->loop) + (double)ts_jittered(p->backoff_ms) / 1000.0;
    p->backoff_ms = TS_MIN(p->backoff_ms * 2, p->o.backoff_max_ms);
    if (!httpc_any_up(p)) { /* the pool is down: nobody waits for it */
        waiting = p->wait_head;
        p->wait_head = p->wait_tail = NULL;
        p->nwaiting = 0;
    }
    httpc_fail_list(list, HTTPC_CONNECT_FAILED, HTTPC_CONNECT_FAILED);
    httpc_fail_list(waiting, HTTPC_CONNECT_FAILED, HTTPC_CONNECT_FAILED);
    httpc_kick(p);
}

/* ---- connections: opening ------------------------------------------------- */

static void httpc_on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void httpc_on_writable(struct ev_loop *loop, ev_io *w, int revents);

void
httpc_conn_up(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    c->state = HC_UP;
    p->st.connects++;
    p->backoff_ms = p->o.backoff_min_ms;
    p->retry_at = 0;
    ev_timer_stop(p->loop, &c->timer);
    ev_io_start(p->loop, &c->rio);
    c->last_progress = ev_now(p->loop);
    httpc_conn_flush(c);
}

/* TCP is connected: TLS first when the pool has a context. */
static void
httpc_connected(struct httpc_conn *c)
{
    if (c->pool->tls != NULL)
        httpc_tls_begin(c);
    else
        httpc_conn_up(c);
}

static int
httpc_socket(const struct httpc_pool *p)
{
    int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return fd;
}

/* Starts connecting (the address looked up first, without blocking). */
void
httpc_conn_open(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    if (!p->resolved) {
        int rc = resolver_lookup(p->res, p->host, p->port, &p->addr, &p->addrlen);
        if (rc == TS_EAGAIN) {
            c->state = HC_RESOLVING; /* the resolver's done callback kicks */
            return;
        }
        if (rc != TS_OK) {
            httpc_connect_failed(c, resolver_error(p->res), 0);
            return;
        }
        p->resolved = true;
    }
    int fd = httpc_socket(p);
    if (fd < 0) {
        httpc_connect_failed(c, "socket", errno);
        return;
    }
    c->fd = fd;
    c->state = HC_CONNECTING;
    ev_io_set(&c->rio, fd, EV_READ);
    ev_io_set(&c->wio, fd, EV_WRITE);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    if (connect(fd, (struct sockaddr *)&p->addr, p->addrlen) == 0) {
        httpc_connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        httpc_connect_failed(c, "connect", errno);
        return;
    }
    ev_io_start(p->loop, &c->wio);
    ev_timer_set(&c->timer, (double)p->o.connect_ms / 1000.0, 0.0);
    ev_timer_start(p->loop, &c->timer);
}

static void
httpc_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct httpc_conn *c = container_of(w, struct httpc_conn, timer);
    struct httpc_pool *p = c->pool;
    if (c->state == HC_CONNECTING) {
        httpc_connect_failed(c, "connect timed out", 0);
        return;
    }
    if (c->state == HC_HANDSHAKING) {
        httpc_tls_failed(c, "not done within the connect timeout [timeout]");
        return;
    }
    if (c->nreqs == 0 || p->o.timeout_ms == 0)
        return;
    double limit = (double)p->o.timeout_ms / 1000.0;
    if (c->body_waits) /* the caller's body is late, not the server: the caller's
                          own bound (a client's read-timeout) applies */
        c->last_progress = ev_now(loop);
    double idle = ev_now(loop) - c->last_progress;
    if (idle >= limit) {
        httpc_conn_fail(c, HTTPC_TIMEOUT, "no progress: timed out", 0);
        return;
    }
    ev_timer_set(&c->timer, limit - idle, 0.0);
    ev_timer_start(loop, &c->timer);
}

void
httpc_conn_progress(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    c->last_progress = ev_now(p->loop);
    if (p->o.timeout_ms > 0 && !ev_is_active(&c->timer)) {
        ev_timer_set(&c->timer, (double)p->o.timeout_ms / 1000.0, 0.0);
        ev_timer_start(p->loop, &c->timer);
    }
}

/* ---- writing requests ---------------------------------------------------- */

/* The Host and framing lines of r, into c->hlines (when r starts). */
static void
httpc_head_lines(struct httpc_conn *c, const struct httpc_req *r)
{
    const struct httpc_pool *p = c->pool;
    size_t n = 0, cap = sizeof(c->hlines);
    if (!r->has_host)
        n += (size_t)snprintf(c->hlines + n, cap - n,
                              strchr(p->host, ':') ? "Host: [%s]:%s\r\n" : "Host: %s:%s\r\n",
                              p->host, p->port);
    if (r->body == HTTPC_BODY_LENGTH)
        n += (size_t)snprintf(c->hlines + n, cap - n, "Content-Length: %llu\r\n",
                              (unsigned long long)r->body_len);
    else if (r->body == HTTPC_BODY_CHUNKED)
        n += (size_t)snprintf(c->hlines + n, cap - n, "Transfer-Encoding: chunked\r\n");
    c->hlines_len = TS_MIN(n, cap - 1);
    c->frame_len = c->frame_off = 0;
    c->chunk_left = 0;
    c->chunked_any = false;
}

/* The head's pieces from r->head_off on, into iov; returns how many. */
static int
httpc_head_iov(struct httpc_conn *c, const struct httpc_req *r, struct iovec *iov)
{
    const struct iovec parts[HTTPC_HEAD_IOV] = {
        { (void *)r->method, strlen(r->method) },
        { (void *)" ", 1 },
        { (void *)r->target, r->target_len },
        { (void *)" HTTP/1.1\r\n", 11 },
        { c->hlines, c->hlines_len },
        { (void *)r->headers, r->headers_len },
        { (void *)"\r\n", 2 },
    };
    uint64_t skip = r->head_off;
    int n = 0;
    for (size_t i = 0; i < TS_ARRAY_LEN(parts); i++) {
        if (skip >= parts[i].iov_len) {
            skip -= parts[i].iov_len;
            continue;
        }
        iov[n].iov_base = (char *)parts[i].iov_base + skip;
        iov[n].iov_len = parts[i].iov_len - skip;
        skip = 0;
        if (iov[n].iov_len > 0)
            n++;
    }
    return n;
}

static size_t
httpc_head_len(const struct httpc_conn *c, const struct httpc_req *r)
{
    return strlen(r->method) + 1 + r->target_len + 11 + c->hlines_len + r->headers_len + 2;
}

/* Chunked: the framing before the next chunk (or the last one), when no
 * chunk is being written.  false: the body has nothing yet. */
static bool
httpc_next_chunk(struct httpc_conn *c, struct httpc_req *r)
{
    const char *data;
    bool end = false;
    size_t n = r->ops->body_next(r, &data, &end);
    if (c->doomed)
        return false;
    const char *crlf = c->chunked_any ? "\r\n" : "";
    if (n == 0 && !end)
        return false;
    if (n == 0)
        c->frame_len = (size_t)snprintf(c->frame, sizeof(c->frame), "%s0\r\n\r\n", crlf);
    else
        c->frame_len = (size_t)snprintf(c->frame, sizeof(c->frame), "%s%zx\r\n", crlf, n);
    c->frame_off = 0;
    c->chunk_left = n;
    c->chunked_any = true;
    if (n == 0)
        c->chunk_left = UINT64_MAX; /* the last chunk: done once its frame is written */
    return true;
}

/* The body bytes that can go now, into iov (after the framing).  Returns
 * the iov entries; *more false when the body waits for the caller. */
static int
httpc_body_iov(struct httpc_conn *c, struct httpc_req *r, struct iovec *iov, bool *more)
{
    int n = 0;
    *more = true;
    if (r->body == HTTPC_BODY_CHUNKED && c->chunk_left == 0 && c->frame_off == c->frame_len &&
        !httpc_next_chunk(c, r)) {
        *more = false;
        return 0;
    }
    if (c->frame_off < c->frame_len) {
        iov[n].iov_base = c->frame + c->frame_off;
        iov[n++].iov_len = c->frame_len - c->frame_off;
    }
    uint64_t want = r->body == HTTPC_BODY_LENGTH ? r->body_len - r->body_off : c->chunk_left;
    if (want == 0 || want == UINT64_MAX)
        return n;
    const char *data;
    bool end = false;
    size_t got = r->ops->body_next(r, &data, &end);
    if (c->doomed || got == 0) {
        *more = n > 0;
        return n;
    }
    iov[n].iov_base = (void *)data;
    iov[n++].iov_len = (size_t)TS_MIN((uint64_t)got, want);
    return n;
}

/* Counts w written bytes against r: head, framing, then body (handed
 * back to the caller last: it may cancel r in body_sent). */
static void
httpc_advance(struct httpc_conn *c, struct httpc_req *r, size_t w)
{
    size_t hl = httpc_head_len(c, r);
    size_t k = (size_t)TS_MIN((uint64_t)w, hl - r->head_off);
    r->head_off += k;
    w -= k;
    k = TS_MIN(w, c->frame_len - c->frame_off);
    c->frame_off += k;
    w -= k;
    r->body_off += w;
    if (r->body == HTTPC_BODY_CHUNKED)
        c->chunk_left -= w;
    if (r->head_off < hl)
        r->body_done = false;
    else if (r->body == HTTPC_BODY_NONE)
        r->body_done = true;
    else if (r->body == HTTPC_BODY_LENGTH)
        r->body_done = r->body_off >= r->body_len;
    else
        r->body_done = c->chunk_left == UINT64_MAX && c->frame_off == c->frame_len;
    if (w > 0)
        r->ops->body_sent(r, w);
}

/* One request's bytes, as many as the socket takes.  1: it is written
 * whole; 0: the socket or the body waits; -1: the connection failed. */
static int
httpc_write_one(struct httpc_conn *c, struct httpc_req *r)
{
    struct httpc_pool *p = c->pool;
    for (;;) {
        struct iovec iov[HTTPC_IOV];
        int n = httpc_head_iov(c, r, iov);
        bool more = true;
        if (r->body != HTTPC_BODY_NONE)
            n += httpc_body_iov(c, r, iov + n, &more);
        if (c->doomed)
            return 0;
        c->body_waits = n == 0 && !r->body_done;
        if (n == 0)
            return r->body_done ? 1 : 0;
        ssize_t w;
        if (c->tls.ssl != NULL) {
            w = httpc_tls_writev(c, iov, n);
        } else {
            struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
            w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->body_waits = false; /* the server's turn to read */
                ev_io_start(p->loop, &c->wio);
                return 0;
            }
            httpc_io_failed(c, "write", errno);
            return -1;
        }
        r->sent = true;
        p->st.bytes_out += (uint64_t)w;
        c->body_waits = false;
        httpc_conn_progress(c);
        httpc_advance(c, r, (size_t)w);
        if (c->doomed)
            return 0; /* r may be gone */
        if (r->body_done)
            return 1;
        if (!more) {
            c->body_waits = true;
            return 0;
        }
    }
}

void
httpc_conn_flush(struct httpc_conn *c)
{
    if (c->state != HC_UP)
        return;
    ev_io_stop(c->pool->loop, &c->wio);
    while (c->writing != NULL && !c->doomed) {
        struct httpc_req *r = c->writing;
        if (r->head_off == 0 && !r->sent)
            httpc_head_lines(c, r);
        int rc = httpc_write_one(c, r);
        if (rc <= 0)
            return;
        c->writing = r->next;
    }
    if (c->doomed)
        httpc_kick(c->pool);
}

static void
httpc_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct httpc_conn *c = container_of(w, struct httpc_conn, wio);
    if (c->state == HC_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        ev_io_stop(loop, &c->wio);
        if (err != 0)
            httpc_connect_failed(c, "connect", err);
        else
            httpc_connected(c);
        return;
    }
    if (c->state == HC_HANDSHAKING) {
        httpc_tls_step(c);
        return;
    }
    httpc_conn_flush(c);
}

/* ---- reading responses ---------------------------------------------------- */

/* The first request's response is complete: it is delivered, and the
 * connection serves the next one (or closes, as the server said). */
static void
httpc_response_done(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    struct httpc_req *r = c->reqs;
    /* an answer before the request was written whole ends the connection */
    bool written = c->writing != r;
    c->msg_done = false;
    c->reqs = r->next;
    c->nreqs--;
    c->served++;
    if (!written)
        c->writing = r->next;
    bool keep = c->msg_keep_alive && written;
    if (keep)
        c->kept_alive = true;
    else
        p->st.server_closes++;
    httpc_finish(r, HTTPC_OK);
    if (!keep) {
        httpc_fail_list(httpc_conn_close(c), HTTPC_LOST, HTTPC_LOST);
        httpc_kick(p);
        return;
    }
    if (c->nreqs == 0) {
        ev_timer_stop(p->loop, &c->timer);
        if (c->rpos == c->rend)
            httpc_release_buffer(c);
        httpc_kick(p); /* a waiting request may take it */
    }
}

/* Parses what the buffer holds, delivering as it goes, until it is all
 * parsed, the caller pauses, or the connection ends. */
static void
httpc_conn_parse(struct httpc_conn *c)
{
    while (c->state == HC_UP && !c->paused && !c->doomed && c->rpos < c->rend) {
        const char *at = c->rbuf->data + c->rpos;
        size_t n = http_parser_execute(&c->parser, &httpc_settings, at, c->rend - c->rpos);
        c->rpos += n;
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (c->doomed)
            return;
        if (err == HPE_PAUSED) {
            if (c->pend_len > 0) {
                c->paused = true;
                ev_io_stop(c->pool->loop, &c->rio);
                return;
            }
            http_parser_pause(&c->parser, 0);
            if (c->msg_done)
                httpc_response_done(c);
            continue;
        }
        if (err != HPE_OK || c->parser.upgrade || n == 0) {
            httpc_conn_fail(c, HTTPC_BAD_RESPONSE, c->bad ? "header too long or upgrade"
                                                          : http_errno_description(err), 0);
            return;
        }
    }
    if (c->state == HC_UP && c->rpos == c->rend && c->rbuf != NULL) {
        c->rpos = c->rend = 0;
        if (c->nreqs == 0)
            httpc_release_buffer(c);
    }
}

/* The server closed its side. */
static void
httpc_eof(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    if (c->nreqs == 0) { /* an idle connection: replaced when needed */
        p->st.server_closes++;
        httpc_conn_close(c);
        return;
    }
    http_parser_execute(&c->parser, &httpc_settings, NULL, 0); /* ends a body read to EOF */
    if (c->doomed)
        return;
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED && c->msg_done) {
        http_parser_pause(&c->parser, 0);
        c->msg_keep_alive = false;
        httpc_response_done(c); /* closes it: the others were not answered */
        return;
    }
    httpc_conn_fail(c, HTTPC_LOST, "closed by the server", 0);
}

/* An idle connection became readable: the server closed it, or sent what
 * nobody asked for (then it is closed too). */
static void
httpc_idle_read(struct httpc_conn *c)
{
    if (c->tls.ssl != NULL) {
        if (httpc_tls_idle(c) > 0)
            return; /* a session ticket, say */
        c->pool->st.server_closes++;
        httpc_conn_close(c);
        return;
    }
    char tmp[256];
    ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0)
        LOG_RL(LOG_WARN, "%s conn %d: %zd bytes nobody asked for: closed", c->pool->name,
               c->idx, n);
    c->pool->st.server_closes++;
    httpc_conn_close(c);
}

static void
httpc_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct httpc_conn *c = container_of(w, struct httpc_conn, rio);
    struct httpc_pool *p = c->pool;
    if (c->state == HC_HANDSHAKING) {
        httpc_tls_step(c);
        return;
    }
    if (c->nreqs == 0 || c->rbuf == NULL) {
        httpc_idle_read(c);
        return;
    }
    size_t budget = HTTPC_READ_BUDGET;
    while (c->state == HC_UP && !c->paused && !c->doomed && budget > 0 && c->nreqs > 0) {
        size_t cap = p->mem->data_size;
        if (c->rpos == c->rend)
            c->rpos = c->rend = 0;
        if (c->rend == cap) /* cannot happen: the parser takes what it is given */
            break;
        ssize_t n = c->tls.ssl != NULL ? httpc_tls_read(c, c->rbuf->data + c->rend, cap - c->rend)
                                       : recv(c->fd, c->rbuf->data + c->rend, cap - c->rend, 0);
        if (n == 0) {
            httpc_eof(c);
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                httpc_io_failed(c, "read", errno);
            break;
        }
        c->rend += (size_t)n;
        budget -= TS_MIN(budget, (size_t)n);
        p->st.bytes_in += (uint64_t)n;
        c->reqs->answered = true;
        httpc_conn_progress(c);
        httpc_conn_parse(c);
    }
    if (c->doomed)
        httpc_kick(p);
    else
        httpc_conn_read_more(c);
}

void
httpc_conn_read_more(struct httpc_conn *c)
{
    if (c->state == HC_UP && !c->paused && tls_client_buffered(&c->tls))
        ev_feed_event(c->pool->loop, &c->rio, EV_READ);
}

/* ---- parser callbacks ----------------------------------------------------- */

static struct httpc_conn *
httpc_of(http_parser *hp)
{
    return hp->data;
}

static int
httpc_on_message_begin(http_parser *hp)
{
    struct httpc_conn *c = httpc_of(hp);
    if (c->reqs == NULL)
        return -1;
    c->name_len = c->field_len = 0;
    c->in_value = false;
    c->reason_len = 0;
    c->interim = false;
    return 0;
}

static int
httpc_on_status(http_parser *hp, const char *at, size_t len)
{
    struct httpc_conn *c = httpc_of(hp);
    size_t take = TS_MIN(len, sizeof(c->reason) - 1 - c->reason_len);
    memcpy(c->reason + c->reason_len, at, take);
    c->reason_len += take;
    return 0;
}

/* Hands the assembled header to the first request (not for 1xx). */
static int
httpc_header_out(struct httpc_conn *c)
{
    if (!c->in_value)
        return 0;
    c->in_value = false;
    struct httpc_req *r = c->reqs;
    if (c->parser.status_code >= 200 && r->ops->on_header != NULL)
        r->ops->on_header(r, c->field, c->name_len, c->field + c->name_len,
                          c->field_len - c->name_len);
    c->name_len = c->field_len = 0;
    return c->doomed ? -1 : 0;
}

static int
httpc_field_add(struct httpc_conn *c, const char *at, size_t len)
{
    if (c->field_len + len > sizeof(c->field)) {
        c->bad = true;
        return -1;
    }
    memcpy(c->field + c->field_len, at, len);
    c->field_len += len;
    return 0;
}

static int
httpc_on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct httpc_conn *c = httpc_of(hp);
    if (c->in_value && httpc_header_out(c) != 0)
        return -1;
    if (httpc_field_add(c, at, len) != 0)
        return -1;
    c->name_len = c->field_len;
    return 0;
}

static int
httpc_on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct httpc_conn *c = httpc_of(hp);
    c->in_value = true;
    return httpc_field_add(c, at, len);
}

static int
httpc_on_headers_complete(http_parser *hp)
{
    struct httpc_conn *c = httpc_of(hp);
    if (httpc_header_out(c) != 0)
        return -1;
    int status = hp->status_code;
    if (status == 101 || hp->upgrade) {
        c->bad = true;
        return -1;
    }
    c->pool->st.status[TS_MIN(status / 100, 5)]++;
    if (status / 100 == 1) {
        c->interim = true; /* skipped: the final answer follows */
        return 1;
    }
    struct httpc_req *r = c->reqs;
    r->status = status;
    bool nobody = r->head || status == 204 || status == 304;
    struct httpc_head h = {
        .status = status,
        .reason = c->reason,
        .reason_len = c->reason_len,
        .http_major = hp->http_major,
        .http_minor = hp->http_minor,
        .keep_alive = http_should_keep_alive(hp) != 0,
        .chunked = (hp->flags & F_CHUNKED) != 0,
        .has_length = hp->content_length != ULLONG_MAX,
        .content_length = hp->content_length != ULLONG_MAX ? hp->content_length : 0,
        .body = !nobody,
    };
    r->ops->on_head(r, &h);
    if (c->doomed)
        return -1;
    return nobody ? 1 : 0; /* http-parser would read a 304's Content-Length as a body */
}

static int
httpc_on_body(http_parser *hp, const char *at, size_t len)
{
    struct httpc_conn *c = httpc_of(hp);
    struct httpc_req *r = c->reqs;
    size_t took = r->ops->on_body(r, at, len);
    if (c->doomed)
        return -1;
    if (took < len) {
        c->pend = at + took;
        c->pend_len = len - took;
        c->pool->st.pauses++;
        http_parser_pause(hp, 1);
    }
    return 0;
}

static int
httpc_on_message_complete(http_parser *hp)
{
    struct httpc_conn *c = httpc_of(hp);
    if (c->interim) {
        c->interim = false;
        return 0;
    }
    c->msg_done = true;
    c->msg_keep_alive = http_should_keep_alive(hp) != 0;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings httpc_settings = {
    .on_message_begin = httpc_on_message_begin,
    .on_status = httpc_on_status,
    .on_header_field = httpc_on_header_field,
    .on_header_value = httpc_on_header_value,
    .on_headers_complete = httpc_on_headers_complete,
    .on_body = httpc_on_body,
    .on_message_complete = httpc_on_message_complete,
};

/* The caller takes body bytes again: offer what it left, then parse on. */
void
httpc_conn_resume(struct httpc_conn *c)
{
    c->resume_pending = false;
    if (!c->paused || c->state != HC_UP)
        return;
    struct httpc_req *r = c->reqs;
    size_t took = r->ops->on_body(r, c->pend, c->pend_len);
    if (c->doomed)
        return;
    if (took < c->pend_len) {
        c->pend += took;
        c->pend_len -= took;
        return;
    }
    if (took > 0)
        httpc_conn_progress(c);
    c->pend = NULL;
    c->pend_len = 0;
    c->paused = false;
    http_parser_pause(&c->parser, 0);
    ev_io_start(c->pool->loop, &c->rio);
    httpc_conn_parse(c);
    httpc_conn_read_more(c);
}

void
httpc_conn_init(struct httpc_conn *c, struct httpc_pool *p, int idx)
{
    c->pool = p;
    c->idx = idx;
    c->fd = -1;
    ev_io_init(&c->rio, httpc_on_readable, -1, EV_READ);
    ev_io_init(&c->wio, httpc_on_writable, -1, EV_WRITE);
    ev_timer_init(&c->timer, httpc_on_timer, 1.0, 0.0);
}

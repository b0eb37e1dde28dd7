/*
 * httpc.c -- an HTTP/1.1 client: a pool of long-lived keep-alive
 * connections to one server.
 *
 *   httpc_submit --> waiting (FIFO, each at most wait_ms) --dispatch-->
 *       a connection: an idle one that is up (and still open); else a
 *       closed slot, connected now (not while the pool backs off); else,
 *       pipelining, one the server kept alive before whose requests are
 *       all written and that has room for one more.
 *   a connection's life, its writes and its responses: httpc_conn.c.
 *
 * Everything the caller asks (submit, cancel, resume, body_ready) takes
 * effect from the pool's kick timer, so no callback ever runs inside a
 * call of the caller's.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "output/httpc.h"
#include "output/httpc_conn.h"
#include "output/tls_client.h"
#include "base/resolver.h"
#include "base/util.h"

const char *
httpc_result_name(enum httpc_result res)
{
    switch (res) {
    case HTTPC_OK: return "ok";
    case HTTPC_CONNECT_FAILED: return "connect failed";
    case HTTPC_LOST: return "connection lost";
    case HTTPC_TIMEOUT: return "timed out";
    case HTTPC_WAIT_TIMEOUT: return "no free connection";
    case HTTPC_BAD_RESPONSE: return "bad response";
    case HTTPC_NOMEM: return "out of memory";
    }
    return "?";
}

/* ---- dispatch --------------------------------------------------------------- */

/* Whether an idle connection that served before is still open (the
 * server may have closed it while it was idle). */
static bool
httpc_still_open(struct httpc_conn *c)
{
    if (c->tls.ssl != NULL) { /* records may wait: session tickets, close_notify */
        if (httpc_tls_idle(c) > 0)
            return true;
    } else {
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
    }
    c->pool->st.server_closes++;
    httpc_conn_close(c);
    return false;
}

/* The connection a waiting request goes to now, or NULL. */
static struct httpc_conn *
httpc_pick(struct httpc_pool *p)
{
    struct httpc_conn *closed = NULL, *piped = NULL;
    for (int i = 0; i < p->o.conns; i++) {
        struct httpc_conn *c = &p->conns[i];
        if (c->doomed)
            continue;
        if (c->state == HC_UP && c->nreqs == 0 && httpc_still_open(c))
            return c;
        if (c->state == HC_CLOSED && closed == NULL)
            closed = c;
        if (c->state == HC_UP && c->nreqs > 0 && c->nreqs < p->o.pipeline && c->kept_alive &&
            c->writing == NULL && !c->paused && piped == NULL)
            piped = c;
    }
    if (closed != NULL && ev_now(p->loop) >= p->retry_at)
        return closed;
    return piped;
}

static void
httpc_wait_pop(struct httpc_pool *p)
{
    p->wait_head = p->wait_head->next;
    if (p->wait_head == NULL)
        p->wait_tail = NULL;
    p->nwaiting--;
}

/* Gives r to c: its read buffer first (HTTPC_NOMEM without one). */
static bool
httpc_assign(struct httpc_conn *c, struct httpc_req *r)
{
    struct httpc_pool *p = c->pool;
    if (c->rbuf == NULL) {
        c->rbuf = pool_get(p->mem, p->o.cls);
        if (c->rbuf == NULL) {
            httpc_finish(r, HTTPC_NOMEM);
            return false;
        }
        c->rpos = c->rend = 0;
    }
    r->state = HTTPC_R_ON_CONN;
    r->conn = c;
    r->next = NULL;
    r->reused = c->served > 0;
    p->st.reused += r->reused;
    struct httpc_req **pp = &c->reqs;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = r;
    c->nreqs++;
    if (c->writing == NULL)
        c->writing = r;
    return true;
}

static void
httpc_dispatch(struct httpc_pool *p)
{
    while (p->wait_head != NULL) {
        struct httpc_conn *c = httpc_pick(p);
        if (c == NULL)
            return;
        struct httpc_req *r = p->wait_head;
        httpc_wait_pop(p);
        if (!httpc_assign(c, r))
            continue;
        if (c->state == HC_CLOSED)
            httpc_conn_open(c);
        else
            httpc_conn_flush(c);
        if (c->state == HC_UP)
            httpc_conn_progress(c);
    }
}

static void
httpc_rearm_wait(struct httpc_pool *p)
{
    ev_timer_stop(p->loop, &p->wait_timer);
    if (p->wait_head == NULL)
        return;
    double first = p->wait_head->wait_until;
    for (struct httpc_req *r = p->wait_head; r != NULL; r = r->next)
        first = TS_MIN(first, r->wait_until);
    if (first > 1e299)
        return;
    ev_timer_set(&p->wait_timer, TS_MAX(first - ev_now(p->loop), 0.001), 0.0);
    ev_timer_start(p->loop, &p->wait_timer);
}

/* Fails the requests that waited wait_ms. */
static void
httpc_on_wait_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct httpc_pool *p = container_of(w, struct httpc_pool, wait_timer);
    double now = ev_now(loop);
    struct httpc_req *expired = NULL, **tail = &expired;
    struct httpc_req **pp = &p->wait_head, *last = NULL;
    while (*pp != NULL) {
        struct httpc_req *r = *pp;
        if (r->wait_until > now) {
            last = r;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        p->nwaiting--;
        r->next = NULL;
        *tail = r;
        tail = &r->next;
    }
    p->wait_tail = last;
    httpc_fail_list(expired, HTTPC_WAIT_TIMEOUT, HTTPC_WAIT_TIMEOUT);
    httpc_rearm_wait(p);
}

/* Deferred work: cancels close their connections, resumes carry on,
 * waiting requests find connections. */
static void
httpc_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct httpc_pool *p = container_of(w, struct httpc_pool, kick);
    for (int i = 0; i < p->o.conns; i++) {
        struct httpc_conn *c = &p->conns[i];
        if (c->doomed) {
            httpc_fail_list(httpc_conn_close(c), HTTPC_LOST, HTTPC_LOST);
            continue;
        }
        if (c->resume_pending)
            httpc_conn_resume(c);
        if (c->doomed) {
            httpc_fail_list(httpc_conn_close(c), HTTPC_LOST, HTTPC_LOST);
            continue;
        }
        if (c->state == HC_RESOLVING && !resolver_busy(p->res))
            httpc_conn_open(c);
    }
    httpc_dispatch(p);
    httpc_rearm_wait(p);
}

static void
httpc_resolved(void *ctx)
{
    httpc_kick(ctx);
}

/* ---- the caller's side ------------------------------------------------------- */

int
httpc_submit(struct httpc_pool *p, struct httpc_req *r)
{
    TS_ASSERT(r->state == HTTPC_R_IDLE);
    if (httpc_pool_down(p))
        return TS_EAGAIN;
    r->pool = p;
    r->conn = NULL;
    r->next = NULL;
    r->sent = r->answered = r->reused = r->body_done = r->cancelled = false;
    r->status = 0;
    r->head_off = r->body_off = 0;
    r->state = HTTPC_R_WAITING;
    r->wait_until = p->o.wait_ms > 0 ? ev_now(p->loop) + (double)p->o.wait_ms / 1000.0 : 1e300;
    if (p->wait_tail != NULL)
        p->wait_tail->next = r;
    else
        p->wait_head = r;
    p->wait_tail = r;
    p->nwaiting++;
    p->st.requests++;
    httpc_kick(p);
    return TS_OK;
}

/* Takes r off its connection's list. */
static void
httpc_unlink(struct httpc_conn *c, struct httpc_req *r)
{
    struct httpc_req **pp = &c->reqs;
    while (*pp != NULL && *pp != r)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    if (c->writing == r)
        c->writing = r->next;
    *pp = r->next;
    c->nreqs--;
}

void
httpc_cancel(struct httpc_req *r)
{
    struct httpc_pool *p = r->pool;
    if (r->state == HTTPC_R_IDLE)
        return;
    p->st.cancelled++;
    if (r->state == HTTPC_R_WAITING) {
        struct httpc_req **pp = &p->wait_head, *prev = NULL;
        while (*pp != NULL && *pp != r) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp == r) {
            *pp = r->next;
            if (p->wait_tail == r)
                p->wait_tail = prev;
            p->nwaiting--;
        }
    } else if (r->conn != NULL) {
        struct httpc_conn *c = r->conn;
        /* untouched and not first: it just leaves; else the exchange is cut */
        bool untouched = !r->sent && c->reqs != r;
        httpc_unlink(c, r);
        if (!untouched)
            c->doomed = true;
        httpc_kick(p);
    }
    r->state = HTTPC_R_IDLE;
    r->conn = NULL;
    r->next = NULL;
    r->cancelled = true;
}

void
httpc_resume(struct httpc_req *r)
{
    if (r->state != HTTPC_R_ON_CONN || r->conn == NULL || r->conn->reqs != r)
        return;
    r->conn->resume_pending = true;
    httpc_kick(r->pool);
}

void
httpc_body_ready(struct httpc_req *r)
{
    if (r->state == HTTPC_R_ON_CONN && r->conn != NULL && r->conn->state == HC_UP)
        ev_io_start(r->pool->loop, &r->conn->wio); /* writes from the loop */
}

/* ---- the pool ------------------------------------------------------------------ */

struct httpc_pool *
httpc_pool_new(struct ev_loop *loop, struct pool *mem, const struct httpc_opts *opts)
{
    int n = TS_MAX(1, TS_MIN(opts->conns, HTTPC_MAX_CONNS));
    struct httpc_pool *p = calloc(1, sizeof(*p) + (size_t)n * sizeof(struct httpc_conn));
    if (p == NULL)
        return NULL;
    p->loop = loop;
    p->mem = mem;
    p->o = *opts;
    p->o.conns = n;
    p->o.pipeline = TS_MAX(1, opts->pipeline);
    snprintf(p->name, sizeof(p->name), "%s", opts->name ? opts->name : "http");
    snprintf(p->host, sizeof(p->host), "%s", opts->host);
    snprintf(p->port, sizeof(p->port), "%s", opts->port);
    snprintf(p->dns, sizeof(p->dns), "%s", opts->dns_servers ? opts->dns_servers : "");
    p->o.name = p->name;
    p->o.host = p->host;
    p->o.port = p->port;
    p->o.dns_servers = p->dns;
    p->o.tls = NULL; /* p->tls holds it */
    p->o.tls_name = NULL;
    if (opts->tls != NULL) {
        p->tls = tls_client_hold(opts->tls);
        snprintf(p->tls_name, sizeof(p->tls_name), "%s",
                 opts->tls_name != NULL && opts->tls_name[0] != '\0' ? opts->tls_name
                                                                      : opts->tls->server_name);
    }
    p->backoff_ms = TS_MAX(opts->backoff_min_ms, (uint64_t)1);
    p->o.backoff_max_ms = TS_MAX(opts->backoff_max_ms, p->backoff_ms);
    struct resolver_opts ro = { .servers = p->dns, .timeout_ms = opts->resolve_timeout_ms };
    p->res = resolver_new(loop, &ro);
    if (p->res == NULL) {
        tls_client_free(p->tls);
        free(p);
        return NULL;
    }
    resolver_set_done(p->res, httpc_resolved, p);
    ev_timer_init(&p->kick, httpc_on_kick, 0.0, 0.0);
    ev_timer_init(&p->wait_timer, httpc_on_wait_timer, 1.0, 0.0);
    for (int i = 0; i < n; i++) {
        struct httpc_conn *c = &p->conns[i];
        httpc_conn_init(c, p, i);
    }
    return p;
}

void
httpc_pool_free(struct httpc_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->o.conns; i++)
        httpc_conn_close(&p->conns[i]);
    ev_timer_stop(p->loop, &p->kick);
    ev_timer_stop(p->loop, &p->wait_timer);
    resolver_free(p->res);
    tls_client_free(p->tls); /* its connections' sessions kept what they used */
    free(p);
}

void
httpc_pool_set_timeouts(struct httpc_pool *p, uint64_t connect_ms, uint64_t timeout_ms,
                        uint64_t wait_ms)
{
    p->o.connect_ms = connect_ms;
    p->o.timeout_ms = timeout_ms;
    p->o.wait_ms = wait_ms;
}

void
httpc_pool_set_tls(struct httpc_pool *p, struct tls_client *tc)
{
    TS_ASSERT((tc == NULL) == (p->tls == NULL));
    if (tc == NULL || tc == p->tls)
        return;
    tls_client_free(p->tls);
    p->tls = tls_client_hold(tc);
}

const char *
httpc_pool_tls_name(const struct httpc_pool *p)
{
    return p->tls != NULL ? p->tls_name : "";
}

bool
httpc_pool_down(const struct httpc_pool *p)
{
    return p->retry_at > 0 && ev_now(p->loop) < p->retry_at && !httpc_any_up(p);
}

bool
httpc_pool_idle(const struct httpc_pool *p)
{
    return p->nwaiting == 0 && httpc_pool_conns_busy(p) == 0;
}

int
httpc_pool_conns_open(const struct httpc_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->o.conns; i++)
        n += p->conns[i].state == HC_UP;
    return n;
}

int
httpc_pool_conns_busy(const struct httpc_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->o.conns; i++)
        n += p->conns[i].nreqs > 0;
    return n;
}

size_t
httpc_pool_waiting(const struct httpc_pool *p)
{
    return p->nwaiting;
}

const struct httpc_stats *
httpc_pool_stats(const struct httpc_pool *p)
{
    return &p->st;
}

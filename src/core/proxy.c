/*
 * proxy.c -- the read pass-through.
 *
 *   client --(head, body as it takes it)--> proxy_req --httpc--> backend
 *   client <--(answer as the client takes it)-- proxy_req <--------'
 *
 * A passed request (struct proxy_req, charged to the input class) holds
 * the request as the backend gets it (target, rewritten header lines),
 * at most one pool block of body bytes the backend has not taken yet,
 * and the answer's head for the client until the client took it.  The
 * answer's body is never copied: what the client's socket does not take
 * stays in the backend connection's read block, which pauses (httpc)
 * until the client's socket drains (ops.writable).  The backend is the
 * first of the proxy list whose pool is not down; while nothing of an
 * answer went out, a request whose connection failed goes to the next
 * one: any request never written (a refused connect) to each backend
 * once, a GET or HEAD without a body that was written once more.
 * Otherwise a request ends with its answer passed whole, the TSD's JSON
 * error (502, 503, 504) when nothing went out, or a cut connection when
 * something did.  Each backend name has a slot whose counters run on
 * across reloads; a pool that a reload replaced or removed finishes its
 * requests, then a sweep frees it.  With the backend's tls = on, its pool
 * holds the backend's TLS context (the one its other connections use)
 * and verifies server-name, or the host of http-address; a reload hands
 * it the context read again, and a pool whose TLS was turned on or off or
 * whose name changed is replaced like a moved one.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proxy.h"
#include "core/proxyhead.h"
#include "base/config.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/util.h"
#include "output/backend.h"
#include "output/tls_client.h"

#define PROXY_STATUS_ROOM 96   /* the status line, written before the answer's lines */

/* A backend of the proxy list, by name: its counters run on across
 * reloads; its pool is replaced when its address or conns change. */
struct proxy_backend {
    char name[CFG_NAME_MAX];
    struct cfg_addr addr;
    int conns;
    struct backend *be;           /* the relay's backend of that name (NULL: none known) */
    struct httpc_pool *hp;        /* NULL: not in the list now */
    struct proxy_stats st;
};

/* A pool a reload replaced or removed: it finishes its requests first. */
struct proxy_retired {
    struct httpc_pool *hp;
    struct proxy_retired *next;
};

struct proxy {
    struct ev_loop *loop;
    struct pool *pool;
    const struct config *cfg;
    struct backend *backends;     /* the relay's, as cfg->backends (NULL: no TLS) */
    struct proxy_backend slot[CFG_MAX_BACKENDS]; /* by name, never moved */
    int nslots;
    struct proxy_backend *act[CFG_MAX_BACKENDS]; /* the list, failover order */
    int nact;
    struct proxy_retired *retired;
    uint64_t active;
    ev_timer sweep;
};

enum proxy_framing {
    PF_NONE = 0,                  /* no body */
    PF_RAW,                       /* the backend's Content-Length, bytes as they come */
    PF_CHUNKED,                   /* chunked anew for an HTTP/1.1 client */
    PF_EOF,                       /* to the close, for an HTTP/1.0 client */
};

struct proxy_req {
    struct httpc_req hr;
    struct proxy *px;
    struct httppass *pass;
    struct proxy_backend *be;
    int idx;                      /* be's place in the list */
    int tries;
    bool retryable;               /* GET or HEAD without a body */
    bool client_keep;             /* the client keeps its connection */
    bool client_11;               /* an HTTP/1.1 client (chunked answers) */
    char method[16];
    char *req;                    /* target, then the header lines for the backend */
    size_t req_cap;
    struct block *blk;            /* body bytes the backend has not taken */
    size_t boff, blen;
    bool body_end;                /* the client's body is complete */
    bool starved;                 /* the client waits for room */
    char *ans;                    /* the answer's head: status room, then its lines */
    size_t ans_len, ans_cap, ans_start;
    const char *out;              /* bytes for the client not yet taken */
    size_t out_len, out_off;
    char frame[32];               /* a chunk's framing */
    enum proxy_framing framing;
    uint64_t chunk_left;          /* data of the current chunk not yet taken */
    bool chunked_any;
    bool finishing;               /* the backend's answer is complete: the last bytes wait */
    bool last_chunk;              /* the last chunk's framing is pending or out */
    bool close_after;             /* the client's connection ends after the answer */
    size_t charged;               /* the struct and its buffers */
};

static const struct httpc_req_ops proxy_req_ops;
static void proxy_abort(void *state);

/* ---- memory -------------------------------------------------------------- */

/* cap bytes for *buf (charged to the input class, growth included). */
static bool
proxy_grow(struct proxy_req *pr, char **buf, size_t *cap, size_t want)
{
    struct pool *pool = pr->px->pool;
    if (*cap >= want)
        return true;
    if (pool_charge(pool, want - *cap, POOL_INPUT) != TS_OK)
        return false;
    char *b = realloc(*buf, want);
    if (b == NULL) {
        pool_uncharge(pool, want - *cap, POOL_INPUT);
        return false;
    }
    pr->charged += want - *cap;
    *buf = b;
    *cap = want;
    return true;
}

static void
proxy_req_free(struct proxy_req *pr)
{
    struct proxy *px = pr->px;
    px->active--;
    if (pr->blk != NULL)
        pool_put(px->pool, pr->blk);
    free(pr->req);
    free(pr->ans);
    pool_uncharge(px->pool, pr->charged, POOL_INPUT);
    free(pr);
}

/* ---- the request ------------------------------------------------------------ */

/* The request as the backend gets it: its target and rewritten lines. */
static bool
proxy_build(struct proxy_req *pr, const struct httppass_req *req, bool *expect)
{
    size_t cap = req->url_len + req->headers_len + strlen(req->origin) + 160;
    if (!proxy_grow(pr, &pr->req, &pr->req_cap, cap))
        return false;
    memcpy(pr->req, req->url, req->url_len);
    struct proxyhead_info info;
    size_t n = proxyhead_request(req->headers, req->headers_len, req->origin,
                                 pr->req + req->url_len, cap - req->url_len, &info);
    TS_ASSERT(n > 0); /* sized for it */
    snprintf(pr->method, sizeof(pr->method), "%s", req->method);
    pr->hr.ops = &proxy_req_ops;
    pr->hr.method = pr->method;
    pr->hr.target = pr->req;
    pr->hr.target_len = req->url_len;
    pr->hr.headers = pr->req + req->url_len;
    pr->hr.headers_len = n;
    pr->hr.has_host = info.has_host;
    pr->hr.head = req->head;
    pr->hr.body = !req->has_body ? HTTPC_BODY_NONE
                  : req->chunked ? HTTPC_BODY_CHUNKED : HTTPC_BODY_LENGTH;
    pr->hr.body_len = req->content_length;
    *expect = info.expect_continue;
    return true;
}

static struct proxy_req *
proxy_req_new(struct proxy *px, struct httppass *pass, const struct httppass_req *req,
              bool *expect)
{
    if (pool_charge(px->pool, sizeof(struct proxy_req), POOL_INPUT) != TS_OK)
        return NULL;
    struct proxy_req *pr = calloc(1, sizeof(*pr));
    if (pr == NULL) {
        pool_uncharge(px->pool, sizeof(struct proxy_req), POOL_INPUT);
        return NULL;
    }
    pr->px = px;
    pr->pass = pass;
    pr->charged = sizeof(*pr);
    px->active++;
    pr->client_keep = req->keep_alive;
    pr->client_11 = req->http_major > 1 || (req->http_major == 1 && req->http_minor >= 1);
    pr->retryable = !req->has_body && (strcmp(req->method, "GET") == 0 ||
                                       strcmp(req->method, "HEAD") == 0);
    if (!proxy_build(pr, req, expect) ||
        (req->has_body && (pr->blk = pool_get(px->pool, POOL_INPUT)) == NULL)) {
        proxy_req_free(pr);
        return NULL;
    }
    return pr;
}

/* Sends pr to the first backend from `from` on whose pool is not down. */
static bool
proxy_try(struct proxy_req *pr, int from)
{
    struct proxy *px = pr->px;
    for (int k = 0; k < px->nact; k++) {
        int i = (from + k) % px->nact;
        struct proxy_backend *b = px->act[i];
        if (httpc_submit(b->hp, &pr->hr) != TS_OK)
            continue; /* down: the next one */
        pr->be = b;
        pr->idx = i;
        pr->tries++;
        b->st.requests++;
        return true;
    }
    return false;
}

/* ---- the answer's way to the client ------------------------------------------- */

/* Hands the client what is pending for it.  true: all of it was taken. */
static bool
proxy_flush(struct proxy_req *pr)
{
    while (pr->out_off < pr->out_len) {
        size_t n = httppass_send(pr->pass, pr->out + pr->out_off, pr->out_len - pr->out_off);
        if (n == 0)
            return false;
        pr->out_off += n;
    }
    return true;
}

static void
proxy_pending(struct proxy_req *pr, const char *data, size_t len)
{
    pr->out = data;
    pr->out_len = len;
    pr->out_off = 0;
}

/* The answer was passed whole: the client's side goes on. */
static void
proxy_complete(struct proxy_req *pr)
{
    if (pr->be != NULL)
        pr->be->st.answered++;
    httppass_done(pr->pass, pr->close_after);
    proxy_req_free(pr);
}

/* The backend's answer is complete: what is pending (a head without a
 * body), the last chunk, then the end; called again when the client's
 * socket drains. */
static void
proxy_finish(struct proxy_req *pr)
{
    pr->finishing = true;
    if (!proxy_flush(pr))
        return;
    if (pr->framing == PF_CHUNKED && !pr->last_chunk) {
        pr->last_chunk = true;
        size_t n = (size_t)snprintf(pr->frame, sizeof(pr->frame), "%s0\r\n\r\n",
                                    pr->chunked_any ? "\r\n" : "");
        proxy_pending(pr, pr->frame, n);
        if (!proxy_flush(pr))
            return;
    }
    proxy_complete(pr);
}

/* ---- ending without an answer ---------------------------------------------------- */

static const char *
proxy_why(enum httpc_result res)
{
    switch (res) {
    case HTTPC_CONNECT_FAILED: return "cannot connect";
    case HTTPC_LOST: return "the connection was lost before its answer was complete";
    case HTTPC_TIMEOUT: return "no progress within proxy-timeout";
    case HTTPC_WAIT_TIMEOUT: return "no free connection (http-conns) within proxy-queue-timeout";
    case HTTPC_BAD_RESPONSE: return "its answer was not HTTP/1.x";
    case HTTPC_NOMEM: return "memory-limit reached";
    case HTTPC_OK: break;
    }
    return "?";
}

/* The TSD's JSON error for res (nothing of an answer went out). */
static void
proxy_error(struct proxy_req *pr, enum httpc_result res)
{
    struct proxy_backend *b = pr->be;
    int code = res == HTTPC_TIMEOUT ? 504
               : res == HTTPC_WAIT_TIMEOUT || res == HTTPC_NOMEM ? 503 : 502;
    const char *msg = code == 504 ? "The TSD did not answer in time"
                      : code == 503 ? "The TSD cannot take the request now"
                                    : "The TSD could not be reached";
    char details[CFG_HOST_MAX + 2 * CFG_NAME_MAX + 200];
    if (b != NULL)
        snprintf(details, sizeof(details), "tsrelay: proxy backend %s (%s:%s): %s", b->name,
                 b->addr.host, b->addr.port, proxy_why(res));
    else
        snprintf(details, sizeof(details), "tsrelay: every proxy backend is down");
    if (b == NULL && pr->px->nact > 0)
        b = pr->px->act[0]; /* counted against the first of the list */
    if (b != NULL) {
        b->st.bad_gateway += code == 502;
        b->st.unavailable += code == 503;
        b->st.gateway_timeout += code == 504;
    }
    LOG_RL(LOG_WARN, "proxy: %s %.*s: %d: %s", pr->method, (int)TS_MIN(pr->hr.target_len, 200),
           pr->hr.target, code, details);
    httppass_fail(pr->pass, code, msg, details);
    proxy_req_free(pr);
}

/* Whether a failed request goes to the next backend: only while nothing
 * of an answer reached the client, and its connection failed (refused,
 * lost, not HTTP; not a timeout).  One that was never written may go to
 * each backend once, whatever its method (nobody saw it); one that was
 * written only once more, and only a GET or HEAD without a body. */
static bool
proxy_retry(const struct proxy_req *pr, enum httpc_result res)
{
    if (pr->pass->sent > 0 || !(res == HTTPC_CONNECT_FAILED || res == HTTPC_LOST ||
                                res == HTTPC_BAD_RESPONSE))
        return false;
    if (!pr->hr.sent)
        return pr->tries < pr->px->nact;
    return pr->retryable && pr->tries < 2;
}

/* A request that failed: tried again, answered with an error, or cut. */
static void
proxy_failed(struct proxy_req *pr, enum httpc_result res)
{
    bool untouched = pr->pass->sent == 0;
    if (proxy_retry(pr, res)) {
        pr->ans_len = pr->ans_start = 0;
        pr->out = NULL;
        pr->out_len = pr->out_off = 0;
        pr->framing = PF_NONE;
        pr->be->st.retried++;
        if (proxy_try(pr, pr->idx + 1))
            return;
    }
    if (untouched) {
        proxy_error(pr, res);
        return;
    }
    pr->be->st.cut++;
    LOG_RL(LOG_WARN, "proxy: %s %.*s: backend %s: %s after %llu bytes of its answer: "
           "the client's connection is closed", pr->method,
           (int)TS_MIN(pr->hr.target_len, 200), pr->hr.target, pr->be->name, proxy_why(res),
           (unsigned long long)pr->pass->sent);
    httppass_abort(pr->pass);
    proxy_req_free(pr);
}

/* ---- httpc's callbacks ------------------------------------------------------------- */

static struct proxy_req *
proxy_of(struct httpc_req *r)
{
    return container_of(r, struct proxy_req, hr);
}

static size_t
proxy_body_next(struct httpc_req *r, const char **data, bool *end)
{
    struct proxy_req *pr = proxy_of(r);
    *data = pr->blk->data + pr->boff;
    *end = pr->body_end && pr->boff == pr->blen;
    return pr->blen - pr->boff;
}

static void
proxy_body_sent(struct httpc_req *r, size_t n)
{
    struct proxy_req *pr = proxy_of(r);
    pr->boff += n;
    if (pr->boff == pr->blen)
        pr->boff = pr->blen = 0;
    if (pr->starved) {
        pr->starved = false;
        httppass_wake(pr->pass);
    }
}

static void
proxy_on_header(struct httpc_req *r, const char *name, size_t nlen, const char *value,
                size_t vlen)
{
    struct proxy_req *pr = proxy_of(r);
    size_t max = pr->px->pool->data_size;
    if (pr->ans_len == 0)
        pr->ans_len = PROXY_STATUS_ROOM;
    size_t need = pr->ans_len + nlen + vlen + 4;
    if (need > max || !proxy_grow(pr, &pr->ans, &pr->ans_cap, TS_MAX(need, pr->ans_cap * 2))) {
        httpc_cancel(r); /* a head past a block, or no memory: 502 */
        proxy_error(pr, HTTPC_BAD_RESPONSE);
        return;
    }
    char *o = pr->ans + pr->ans_len;
    memcpy(o, name, nlen);
    memcpy(o + nlen, ": ", 2);
    memcpy(o + nlen + 2, value, vlen);
    memcpy(o + nlen + 2 + vlen, "\r\n", 2);
    pr->ans_len = need;
}

/* How the answer's body goes to the client. */
static enum proxy_framing
proxy_framing_of(const struct proxy_req *pr, const struct httpc_head *h)
{
    if (!h->body)
        return PF_NONE;
    if (h->has_length && !h->chunked)
        return PF_RAW;
    return pr->client_11 ? PF_CHUNKED : PF_EOF;
}

static void
proxy_on_head(struct httpc_req *r, const struct httpc_head *h)
{
    struct proxy_req *pr = proxy_of(r);
    pr->framing = proxy_framing_of(pr, h);
    pr->close_after = !pr->client_keep || pr->framing == PF_EOF;
    size_t lines = pr->ans_len > 0 ? pr->ans_len - PROXY_STATUS_ROOM : 0;
    size_t need = PROXY_STATUS_ROOM + lines + 80;
    if (!proxy_grow(pr, &pr->ans, &pr->ans_cap, TS_MAX(need, pr->ans_cap))) {
        httpc_cancel(r);
        proxy_error(pr, HTTPC_NOMEM);
        return;
    }
    char *o = pr->ans + PROXY_STATUS_ROOM;
    lines = proxyhead_answer(o, lines, pr->framing == PF_CHUNKED || pr->framing == PF_EOF);
    lines += (size_t)snprintf(o + lines, 80, "%sConnection: %s\r\n\r\n",
                              pr->framing == PF_CHUNKED ? "Transfer-Encoding: chunked\r\n" : "",
                              pr->close_after ? "close" : "keep-alive");
    char status[PROXY_STATUS_ROOM];
    size_t sl = proxyhead_status_line(h->status, h->reason, h->reason_len, status,
                                      sizeof(status));
    pr->ans_start = PROXY_STATUS_ROOM - sl;
    memcpy(pr->ans + pr->ans_start, status, sl);
    pr->ans_len = PROXY_STATUS_ROOM + lines;
    proxy_pending(pr, pr->ans + pr->ans_start, pr->ans_len - pr->ans_start);
    proxy_flush(pr);
}

static size_t
proxy_on_body(struct httpc_req *r, const char *data, size_t len)
{
    struct proxy_req *pr = proxy_of(r);
    if (!proxy_flush(pr))
        return 0;
    if (pr->framing == PF_CHUNKED && pr->chunk_left == 0) {
        size_t n = (size_t)snprintf(pr->frame, sizeof(pr->frame), "%s%zx\r\n",
                                    pr->chunked_any ? "\r\n" : "", len);
        pr->chunked_any = true;
        pr->chunk_left = len;
        proxy_pending(pr, pr->frame, n);
        if (!proxy_flush(pr))
            return 0;
    }
    size_t want = pr->framing == PF_CHUNKED ? (size_t)TS_MIN((uint64_t)len, pr->chunk_left) : len;
    size_t took = httppass_send(pr->pass, data, want);
    if (pr->framing == PF_CHUNKED)
        pr->chunk_left -= took;
    pr->be->st.bytes_down += took;
    return took;
}

static void
proxy_on_done(struct httpc_req *r, enum httpc_result res)
{
    struct proxy_req *pr = proxy_of(r);
    if (res == HTTPC_OK) {
        proxy_finish(pr);
        return;
    }
    proxy_failed(pr, res);
}

static const struct httpc_req_ops proxy_req_ops = {
    .body_next = proxy_body_next,
    .body_sent = proxy_body_sent,
    .on_header = proxy_on_header,
    .on_head = proxy_on_head,
    .on_body = proxy_on_body,
    .on_done = proxy_on_done,
};

/* ---- the clients' side (httppass_ops) -------------------------------------------- */

static bool
proxy_is_active(void *ctx)
{
    const struct proxy *px = ctx;
    return px->nact > 0;
}

static int
proxy_begin(void *ctx, struct httppass *pass, const struct httppass_req *req, void **state)
{
    struct proxy *px = ctx;
    bool expect = false;
    struct proxy_req *pr = proxy_req_new(px, pass, req, &expect);
    if (pr == NULL)
        return TS_ENOMEM;
    *state = pr;
    if (!proxy_try(pr, 0)) {
        proxy_error(pr, HTTPC_CONNECT_FAILED); /* every pool is down */
        return TS_OK;
    }
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (expect && req->has_body && pr->client_11 && /* the relay says go on itself */
        !httppass_interim(pass, cont, sizeof(cont) - 1) && pass->sent > 0) {
        proxy_abort(pr); /* a part of it went out: nothing can follow it cleanly */
        httppass_abort(pass);
    }
    return TS_OK;
}

static size_t
proxy_body_room(void *state)
{
    struct proxy_req *pr = state;
    if (pr->boff > 0) { /* what the backend took makes room at the front */
        memmove(pr->blk->data, pr->blk->data + pr->boff, pr->blen - pr->boff);
        pr->blen -= pr->boff;
        pr->boff = 0;
    }
    size_t room = pr->px->pool->data_size - pr->blen;
    pr->starved = room == 0;
    return room;
}

static void
proxy_body(void *state, const char *data, size_t len)
{
    struct proxy_req *pr = state;
    TS_ASSERT(len <= pr->px->pool->data_size - pr->blen);
    memcpy(pr->blk->data + pr->blen, data, len);
    pr->blen += len;
    if (pr->be != NULL)
        pr->be->st.bytes_up += len;
    httpc_body_ready(&pr->hr);
}

static void
proxy_body_end(void *state)
{
    struct proxy_req *pr = state;
    pr->body_end = true;
    httpc_body_ready(&pr->hr);
}

static void
proxy_writable(void *state)
{
    struct proxy_req *pr = state;
    if (pr->finishing) {
        proxy_finish(pr);
        return;
    }
    if (proxy_flush(pr))
        httpc_resume(&pr->hr);
}

static void
proxy_abort(void *state)
{
    struct proxy_req *pr = state;
    httpc_cancel(&pr->hr);
    if (pr->be != NULL)
        pr->be->st.client_gone++;
    proxy_req_free(pr);
}

const struct httppass_ops proxy_ops = {
    .active = proxy_is_active,
    .begin = proxy_begin,
    .body_room = proxy_body_room,
    .body = proxy_body,
    .body_end = proxy_body_end,
    .writable = proxy_writable,
    .abort = proxy_abort,
};

/* ---- the backends ---------------------------------------------------------------- */

static struct httpc_pool *
proxy_pool_new(struct proxy *px, const struct proxy_backend *b)
{
    const struct config *cfg = px->cfg;
    char name[CFG_NAME_MAX + 16];
    snprintf(name, sizeof(name), "proxy %s", b->name);
    struct httpc_opts o = {
        .name = name,
        .host = b->addr.host,
        .port = b->addr.port,
        .conns = b->conns,
        .pipeline = 1, /* a request holds its connection until its answer has passed */
        .connect_ms = cfg->proxy_connect_timeout_ms,
        .timeout_ms = cfg->proxy_timeout_ms,
        .wait_ms = cfg->proxy_queue_timeout_ms,
        .backoff_min_ms = cfg->reconnect_min_ms,
        .backoff_max_ms = cfg->reconnect_max_ms,
        .dns_servers = cfg->dns_servers,
        .resolve_timeout_ms = cfg->resolve_timeout_ms,
        .cls = POOL_INPUT,
    };
    if (b->be != NULL && b->be->tls != NULL) { /* the backend's context: a hold of its own */
        o.tls = b->be->tls;
        o.tls_name = tls_client_name_for(b->be->cfg, &b->addr);
        o.tls_failures = &b->be->st.tls_failures;
    }
    return httpc_pool_new(px->loop, px->pool, &o);
}

/* The name b's pool must verify as cb configures it ("": clear text). */
static const char *
proxy_tls_name(const struct backend *be, const struct cfg_backend *cb)
{
    return be != NULL && be->tls != NULL ? tls_client_name_for(cb, &cb->http_addr) : "";
}

/* The slot of a backend name (a new one the first time). */
static struct proxy_backend *
proxy_slot(struct proxy *px, const char *name)
{
    for (int i = 0; i < px->nslots; i++)
        if (strcmp(px->slot[i].name, name) == 0)
            return &px->slot[i];
    if (px->nslots == CFG_MAX_BACKENDS)
        return NULL;
    struct proxy_backend *b = &px->slot[px->nslots++];
    snprintf(b->name, sizeof(b->name), "%s", name);
    return b;
}

/* Its pool goes: it finishes its requests, then the sweep frees it. */
static void
proxy_retire(struct proxy *px, struct proxy_backend *b)
{
    struct proxy_retired *r = calloc(1, sizeof(*r));
    if (r == NULL) { /* cannot wait for it: its requests are cut */
        log_error("proxy: out of memory retiring backend %s's pool", b->name);
        httpc_pool_free(b->hp);
    } else {
        r->hp = b->hp;
        r->next = px->retired;
        px->retired = r;
    }
    b->hp = NULL;
}

/* Frees the retired pools whose requests are all done. */
static void
proxy_on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct proxy *px = container_of(w, struct proxy, sweep);
    struct proxy_retired **pp = &px->retired;
    while (*pp != NULL) {
        struct proxy_retired *r = *pp;
        if (!httpc_pool_idle(r->hp)) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        httpc_pool_free(r->hp);
        free(r);
    }
}

/* Backend b as cb (the relay's be) configures it: its pool kept when its
 * address, conns and TLS name stayed (new connections take the TLS
 * context read again), else a new one (the old one retires).  false: no
 * memory. */
static bool
proxy_apply(struct proxy *px, struct proxy_backend *b, const struct cfg_backend *cb,
            struct backend *be)
{
    const char *tls_name = proxy_tls_name(be, cb);
    bool same = b->hp != NULL && strcmp(b->addr.host, cb->http_addr.host) == 0 &&
                strcmp(b->addr.port, cb->http_addr.port) == 0 && b->conns == cb->http_conns &&
                strcmp(httpc_pool_tls_name(b->hp), tls_name) == 0;
    b->be = be;
    if (same) {
        httpc_pool_set_tls(b->hp, tls_name[0] != '\0' ? be->tls : NULL);
        return true;
    }
    if (b->hp != NULL)
        proxy_retire(px, b);
    b->addr = cb->http_addr;
    b->conns = cb->http_conns;
    b->hp = proxy_pool_new(px, b);
    if (b->hp == NULL)
        return false;
    log_info("proxy: backend %s: %s:%s, %d connections%s%s", b->name, b->addr.host,
             b->addr.port, b->conns, tls_name[0] != '\0' ? ", TLS verifying " : "", tls_name);
    return true;
}

void
proxy_reconfigure(struct proxy *px)
{
    const struct config *cfg = px->cfg;
    bool listed[CFG_MAX_BACKENDS] = { false };
    px->nact = 0;
    for (int i = 0; i < cfg->nproxy; i++) {
        const struct cfg_backend *cb = NULL;
        struct backend *be = NULL;
        for (int k = 0; k < cfg->nbackends && cb == NULL; k++)
            if (strcmp(cfg->backends[k].name, cfg->proxy[i]) == 0) {
                cb = &cfg->backends[k];
                be = px->backends != NULL ? &px->backends[k] : NULL;
            }
        struct proxy_backend *b = cb != NULL ? proxy_slot(px, cb->name) : NULL;
        if (b == NULL || !proxy_apply(px, b, cb, be)) {
            log_error("proxy: out of memory for backend %s: not passed to", cfg->proxy[i]);
            continue;
        }
        httpc_pool_set_timeouts(b->hp, cfg->proxy_connect_timeout_ms, cfg->proxy_timeout_ms,
                                cfg->proxy_queue_timeout_ms);
        listed[b - px->slot] = true;
        px->act[px->nact++] = b;
    }
    for (int i = 0; i < px->nslots; i++)
        if (!listed[i] && px->slot[i].hp != NULL)
            proxy_retire(px, &px->slot[i]); /* removed: its requests finish first */
}

struct proxy *
proxy_new(struct ev_loop *loop, struct pool *pool, const struct config *cfg,
          struct backend *backends)
{
    struct proxy *px = calloc(1, sizeof(*px));
    if (px == NULL)
        return NULL;
    px->loop = loop;
    px->pool = pool;
    px->cfg = cfg;
    px->backends = backends;
    ev_timer_init(&px->sweep, proxy_on_sweep, 1.0, 1.0);
    ev_timer_start(loop, &px->sweep);
    proxy_reconfigure(px);
    return px;
}

void
proxy_free(struct proxy *px)
{
    if (px == NULL)
        return;
    ev_timer_stop(px->loop, &px->sweep);
    for (int i = 0; i < px->nslots; i++)
        httpc_pool_free(px->slot[i].hp);
    while (px->retired != NULL) {
        struct proxy_retired *r = px->retired;
        px->retired = r->next;
        httpc_pool_free(r->hp);
        free(r);
    }
    free(px);
}

int
proxy_count(const struct proxy *px)
{
    return px != NULL ? px->nact : 0;
}

const char *
proxy_name(const struct proxy *px, int i)
{
    return px->act[i]->name;
}

const struct proxy_stats *
proxy_backend_stats(const struct proxy *px, int i)
{
    return &px->act[i]->st;
}

const struct httpc_pool *
proxy_pool(const struct proxy *px, int i)
{
    return px->act[i]->hp;
}

uint64_t
proxy_active(const struct proxy *px)
{
    return px != NULL ? px->active : 0;
}

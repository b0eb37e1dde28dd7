/*
 * httppass.c -- an HTTP request passed through to another server, as the
 * client's side sees it.
 *
 * The head: header lines are kept as received ("Name: value\r\n") in a
 * buffer that grows by doubling up to max-http-header-bytes, each growth
 * charged to the input class before it is made; a head past the bound is
 * refused (431), never truncated.  The exchange: from begin to its end
 * (done, fail or abort) the pass-through owns the answer; once it ended,
 * the client's side calls it no more (a body still coming is skipped).
 * It never parses and never touches a socket.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "input/httppass.h"
#include "base/pool.h"
#include "base/util.h"

#define HTTPPASS_KEEP (16u << 10) /* a header buffer kept between requests, at most */

static bool
httppass_is(const char *path, size_t len, const char *name)
{
    size_t n = strlen(name);
    return (len == n && memcmp(path, name, n) == 0) ||
           (len == n + 1 && memcmp(path, name, n) == 0 && path[n] == '/');
}

bool
httppass_relay_path(const char *path, size_t len)
{
    static const char *const own[] = { "/api/put", "/api/rollup", "/api/histogram",
                                       "/metrics", "/health" };
    for (size_t i = 0; i < TS_ARRAY_LEN(own); i++)
        if (httppass_is(path, len, own[i]))
            return true;
    return len >= 8 && memcmp(path, "/tsrelay", 8) == 0 && (len == 8 || path[8] == '/');
}

bool
httppass_classify(const struct httppass *p, const char *url, size_t len)
{
    const char *q = memchr(url, '?', len);
    size_t plen = q != NULL ? (size_t)(q - url) : len;
    return p->ops != NULL && !httppass_relay_path(url, plen) && p->ops->active(p->ops_ctx);
}

/* Room for n more head bytes, within the bound and charged.  Past the
 * bound, or without memory, the head is marked (too_long, no_memory) and
 * nothing more of it is kept: the verdict comes at its end, so that a
 * malformed head is a 400 wherever the reads split it. */
static int
httppass_reserve(struct httppass *p, size_t n)
{
    if (p->too_long || p->no_memory)
        return TS_ERROR;
    if (p->hdr_len + n > p->max_header) {
        p->too_long = true;
        return TS_ERROR;
    }
    if (p->hdr_cap - p->hdr_len >= n)
        return TS_OK;
    size_t cap = TS_MIN(TS_MAX(TS_MAX(p->hdr_cap * 2, p->hdr_len + n), (size_t)1024),
                        p->max_header);
    if (pool_charge(p->pool, cap - p->hdr_charged, POOL_INPUT) != TS_OK) {
        p->no_memory = true;
        return TS_ERROR;
    }
    char *b = realloc(p->hdr, cap);
    if (b == NULL) {
        pool_uncharge(p->pool, cap - p->hdr_charged, POOL_INPUT);
        p->no_memory = true;
        return TS_ERROR;
    }
    p->hdr = b;
    p->hdr_cap = p->hdr_charged = cap;
    return TS_OK;
}

static void
httppass_add(struct httppass *p, const char *at, size_t len)
{
    if (httppass_reserve(p, len) != TS_OK)
        return;
    memcpy(p->hdr + p->hdr_len, at, len);
    p->hdr_len += len;
}

int
httppass_header_field(struct httppass *p, const char *at, size_t len)
{
    if (p->in_value)
        httppass_add(p, "\r\n", 2);
    p->in_value = false;
    httppass_add(p, at, len);
    return TS_OK;
}

int
httppass_header_value(struct httppass *p, const char *at, size_t len)
{
    if (!p->in_value)
        httppass_add(p, ": ", 2);
    p->in_value = true;
    httppass_add(p, at, len);
    return TS_OK;
}

int
httppass_headers_end(struct httppass *p)
{
    if (p->in_value)
        httppass_add(p, "\r\n", 2);
    p->in_value = false;
    return p->too_long || p->no_memory ? TS_ERROR : TS_OK;
}

static void
httppass_release(struct httppass *p)
{
    free(p->hdr);
    pool_uncharge(p->pool, p->hdr_charged, POOL_INPUT);
    p->hdr = NULL;
    p->hdr_len = p->hdr_cap = p->hdr_charged = 0;
}

void
httppass_reset(struct httppass *p)
{
    TS_ASSERT(!p->passing);
    if (p->hdr_cap > HTTPPASS_KEEP)
        httppass_release(p);
    p->hdr_len = 0;
    p->in_value = p->too_long = p->no_memory = false;
    p->state = NULL;
    p->passing = p->body = p->answered = p->close = p->aborted = false;
    p->sent = 0;
}

/* The exchange is over for the pass-through: it is never called again. */
static void
httppass_end(struct httppass *p)
{
    p->passing = false;
    p->state = NULL;
    p->answered = true;
    p->wake(p->host);
}

void
httppass_free(struct httppass *p)
{
    httppass_cut(p);
    httppass_release(p);
}

bool
httppass_begin(struct httppass *p, struct httppass_req *req)
{
    req->headers = p->hdr != NULL ? p->hdr : "";
    req->headers_len = p->hdr_len;
    p->passing = true;
    p->body = req->has_body;
    if (p->ops->begin(p->ops_ctx, p, req, &p->state) != TS_OK) {
        p->passing = false;
        p->state = NULL;
        p->respond_error(p, 503, "memory-limit reached", NULL);
    }
    return p->passing;
}

bool
httppass_room(const struct httppass *p, size_t *give)
{
    if (!p->passing || !p->body)
        return true; /* not passed, or no longer: skipped as it comes */
    size_t room = p->ops->body_room(p->state);
    *give = TS_MIN(*give, room);
    return room > 0;
}

void
httppass_body(struct httppass *p, const char *data, size_t len)
{
    if (p->passing && p->body)
        p->ops->body(p->state, data, len);
}

void
httppass_body_end(struct httppass *p)
{
    bool had = p->body;
    p->body = false;
    if (p->passing && had)
        p->ops->body_end(p->state);
}

bool
httppass_cut(struct httppass *p)
{
    if (p->passing) {
        void *state = p->state;
        p->passing = false;
        p->state = NULL;
        p->ops->abort(state);
    }
    return p->sent > 0 || p->answered; /* never a second answer to one request */
}

void
httppass_writable(struct httppass *p)
{
    if (p->passing)
        p->ops->writable(p->state);
}

size_t
httppass_send(struct httppass *p, const char *data, size_t len)
{
    if (!p->passing || len == 0)
        return 0;
    size_t n = p->stream(p->host, data, len);
    p->sent += n;
    return n;
}

bool
httppass_interim(struct httppass *p, const char *data, size_t len)
{
    if (!p->passing)
        return false;
    size_t n = p->stream(p->host, data, len);
    if (n > 0 && n < len)
        p->sent += n;
    return n == len;
}

void
httppass_done(struct httppass *p, bool close)
{
    p->close = p->close || close;
    httppass_end(p);
}

void
httppass_fail(struct httppass *p, int code, const char *message, const char *details)
{
    TS_ASSERT(p->sent == 0);
    p->respond_error(p, code, message, details);
    httppass_end(p);
}

void
httppass_abort(struct httppass *p)
{
    p->aborted = true;
    p->close = true;
    httppass_end(p);
}

void
httppass_wake(struct httppass *p)
{
    p->wake(p->host);
}

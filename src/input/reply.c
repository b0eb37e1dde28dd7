/*
 * reply.c -- a client's replies, buffered until its socket takes them.
 *
 * Replies go to the client's inline buffer first; when that is full, its
 * pending bytes move into one block of the pool, which is as far as a
 * client's replies grow (max-reply-bytes at most).  An HTTP response is
 * written whole into a buffer of its exact size, charged to the input or
 * the control class.  It never closes a client and never grows a buffer
 * past its bound: what does not fit is counted as dropped.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "input/reply.h"
#include "input/transport.h"
#include "base/util.h"

void
reply_release(struct client *c)
{
    struct pool *p = conn_pool(c);
    if (c->out_blk != NULL) {
        pool_put(p, c->out_blk);
        c->out_blk = NULL;
    } else if (c->out != NULL && c->out != c->out_small) {
        free(c->out);
        pool_uncharge(p, c->out_charged, c->out_cls);
    }
    c->out = NULL;
    c->out_cap = c->out_len = c->out_off = c->out_charged = 0;
}

/* Room for n more reply bytes: the inline buffer, then one block of the
 * class (bounded by max-reply-bytes).  false: the reply is dropped. */
bool
reply_room(struct client *c, size_t n, enum pool_class cls)
{
    if (c->out == NULL) {
        c->out = c->out_small;
        c->out_cap = sizeof(c->out_small);
        c->out_len = c->out_off = 0;
    }
    if (c->out_cap - c->out_len >= n)
        return true;
    if (c->out != c->out_small)
        return false; /* at its bound */
    struct pool *p = conn_pool(c);
    size_t cap = TS_MIN(p->data_size, c->set->env.cfg->max_reply_bytes);
    size_t pending = c->out_len - c->out_off;
    if (pending + n > cap)
        return false;
    struct block *b = pool_get(p, cls);
    if (b == NULL)
        return false;
    memcpy(b->data, c->out + c->out_off, pending);
    c->out_blk = b;
    c->out = b->data;
    c->out_cap = cap;
    c->out_len = pending;
    c->out_off = 0;
    return true;
}

bool
reply_bytes(struct client *c, const char *data, size_t len, enum pool_class cls)
{
    if (!reply_room(c, len, cls)) {
        conn_stats(c)->replies_dropped += len;
        return false;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return true;
}

/* One reply line (text + '\n') into the output buffer, or counted as dropped. */
void
reply_line(struct client *c, const char *text, size_t len, enum pool_class cls)
{
    if (!reply_room(c, len + 1, cls)) {
        conn_stats(c)->replies_dropped += len + 1;
        return;
    }
    memcpy(c->out + c->out_len, text, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
}

/* An HTTP response: one buffer of the exact size, charged to the class. */
bool
reply_http(void *ctx, const char *head, size_t hlen, const char *body, size_t blen, bool control,
           bool close)
{
    struct client *c = ctx;
    struct pool *p = conn_pool(c);
    enum pool_class cls = control ? POOL_CONTROL : POOL_INPUT;
    size_t total = hlen + blen;
    if (close)
        c->close_after_write = true;
    if (c->out == NULL || c->out_cap - c->out_len < total) {
        size_t pending = c->out != NULL ? c->out_len - c->out_off : 0;
        size_t cap = pending + total;
        char *b = NULL;
        if (cap <= sizeof(c->out_small) && (c->out == NULL || c->out == c->out_small)) {
            if (c->out == NULL) {
                c->out = c->out_small;
                c->out_cap = sizeof(c->out_small);
                c->out_len = c->out_off = 0;
            }
            memmove(c->out_small, c->out + c->out_off, pending);
            c->out_len = pending;
            c->out_off = 0;
        } else {
            if (pool_charge(p, cap, cls) != TS_OK)
                return false;
            b = malloc(cap);
            if (b == NULL) {
                pool_uncharge(p, cap, cls);
                return false;
            }
            if (pending > 0)
                memcpy(b, c->out + c->out_off, pending);
            reply_release(c);
            c->out = b;
            c->out_charged = cap;
            c->out_cls = cls;
            c->out_cap = cap;
            c->out_len = pending;
            c->out_off = 0;
        }
    }
    memcpy(c->out + c->out_len, head, hlen);
    memcpy(c->out + c->out_len + hlen, body, blen);
    c->out_len += total;
    return true;
}

size_t
reply_stream(void *ctx, const char *data, size_t len)
{
    struct client *c = ctx;
    if (c->write_failed || c->lingering)
        return 0;
    enum reply_sent st = reply_send(c); /* what is pending goes first */
    size_t took = 0;
    while (st == REPLY_SENT && took < len) {
        ssize_t n = send(c->fd, data + took, len - took, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            st = REPLY_PENDING;
        else if (n < 0)
            st = REPLY_FAILED;
        else
            took += (size_t)n;
    }
    if (st == REPLY_FAILED)
        c->write_failed = true; /* closed from the loop (client.c) */
    if (took < len || st != REPLY_SENT) {
        c->stream_blocked = true;
        ev_io_start(conn_loop(c), &c->wio);
    }
    return took;
}

enum reply_sent
reply_send(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = transport_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return REPLY_PENDING;
            return REPLY_FAILED;
        }
        c->out_off += (size_t)n;
    }
    return REPLY_SENT;
}

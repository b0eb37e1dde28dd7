/*
 * client_acks.c -- framed acknowledgements (frame-acks = on), the clients'
 * side: each client with frames waiting is told "ack N" in a reply frame
 * of its own once frameack.c says its newest safe frame moved (from the
 * loop's prepare watcher, lifecycle.c); after a reload or a hand-over the
 * marks of every client are taken again.  It never answers a frame before
 * its lines are safe, and never grows a client's replies past their
 * bound (an ack waits for room).
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "input/client.h"
#include "input/frameack.h"
#include "input/framed.h"
#include "input/reply.h"
#include "input/syncwait.h"
#include "base/pool.h"
#include "base/util.h"

/* "ack N" in a reply frame of its own. */
static bool
client_acks_send(struct client *c, uint64_t n)
{
    char msg[32];
    int k = snprintf(msg + 4, sizeof(msg) - 4, "ack %llu", (unsigned long long)n);
    framed_put_len(msg, (uint32_t)k);
    if (!reply_room(c, (size_t)k + 4, POOL_CONTROL))
        return false;
    memcpy(c->out + c->out_len, msg, (size_t)k + 4);
    c->out_len += (size_t)k + 4;
    return true;
}

void
client_frame_acks(struct client_set *cs)
{
    struct client **pp = &cs->acking;
    while (*pp != NULL) {
        struct client *c = *pp;
        if (c->fa == NULL || !frameack_pending(c->fa) || c->lingering) {
            *pp = c->fa_next; /* nothing waits: off the list */
            c->fa_listed = false;
            c->fa_next = NULL;
            continue;
        }
        pp = &c->fa_next;
        if (!reply_room(c, 32, POOL_CONTROL))
            continue; /* its replies are full: next time */
        uint64_t n = frameack_ready(c->fa, cs->env.fa_safe, cs->env.ctx);
        if (n > 0 && client_acks_send(c, n))
            ev_io_start(cs->env.loop, &c->wio); /* written when the socket takes it */
    }
}

size_t
client_frame_acks_remark(struct client_set *cs, size_t fa_width)
{
    size_t closed = 0;
    cs->env.fa_width = fa_width;
    struct client *next;
    for (struct client *c = cs->all; c != NULL; c = next) {
        next = c->next;
        if (c->fa == NULL)
            continue;
        size_t before = frameack_size(c->fa->width);
        struct frameack *fa = frameack_remark(c->fa, fa_width, cs->env.fa_mark, cs->env.ctx);
        if (fa == NULL) {
            client_close(c, "out of memory for its frame acknowledgements");
            closed++;
            continue;
        }
        c->fa = fa;
        cs->connection_bytes += frameack_size(fa->width) - before;
    }
    syncwait_remark(cs); /* the ?sync waits too */
    return closed;
}

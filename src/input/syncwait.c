/*
 * syncwait.c -- clients whose HTTP ?sync request waits for its points'
 * proofs.
 *
 *   begin:  before the request's first point, the start mark (memory for
 *           the marks is taken once per client, at its first ?sync,
 *           counted in memory.connections)
 *   wait:   after its last point, the end mark and the deadline; the
 *           client stops reading and goes on the set's list
 *   poll:   each loop turn, each waiting client: proven (every line before
 *           its end mark) or past its deadline -> http_sync_done, off the
 *           list, reading again
 *
 * The proof of a mark is the relay's (client_env.sync_proven).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "input/conn.h"
#include "input/http.h"
#include "input/syncwait.h"

size_t
syncwait_size(size_t width)
{
    return sizeof(struct syncwait) + 2 * width * sizeof(uint64_t);
}

void
syncwait_free(struct syncwait *sw)
{
    free(sw);
}

static struct syncwait *
syncwait_of(struct client *c)
{
    struct client_set *cs = c->set;
    size_t width = cs->env.fa_width;
    if (c->sw != NULL && c->sw->width == width)
        return c->sw;
    size_t old = c->sw != NULL ? syncwait_size(c->sw->width) : 0;
    struct syncwait *sw = realloc(c->sw, syncwait_size(width));
    if (sw == NULL)
        return NULL;
    if (c->sw == NULL)
        memset(sw, 0, sizeof(*sw));
    sw->width = width;
    sw->start = (uint64_t *)(void *)(sw + 1);
    sw->end = sw->start + width;
    c->sw = sw;
    cs->connection_bytes += syncwait_size(width) - old;
    return sw;
}

int
syncwait_begin(void *ctx)
{
    struct client *c = ctx;
    struct client_env *env = &c->set->env;
    if (env->sync_mark == NULL)
        return TS_ERROR;
    struct syncwait *sw = syncwait_of(c);
    if (sw == NULL)
        return TS_ERROR; /* out of memory: answered at acceptance */
    env->sync_mark(env->ctx, sw->start);
    return TS_OK;
}

int
syncwait_wait(void *ctx, uint64_t timeout_ms)
{
    struct client *c = ctx;
    struct client_set *cs = c->set;
    struct syncwait *sw = c->sw;
    if (sw == NULL || sw->width != cs->env.fa_width)
        return TS_ERROR; /* a reload between begin and wait: answered at acceptance */
    uint64_t most = cs->env.cfg->sync_max_wait_ms;
    uint64_t ms = timeout_ms > 0 ? TS_MIN(timeout_ms, most) : most;
    cs->env.sync_mark(cs->env.ctx, sw->end);
    sw->deadline = ev_now(cs->env.loop) + (double)ms / 1000.0;
    sw->waiting = true;
    if (!sw->listed) {
        sw->listed = true;
        sw->next = cs->syncing;
        cs->syncing = c;
    }
    return TS_OK;
}

static void
syncwait_unlist(struct client_set *cs, struct client *c)
{
    for (struct client **pp = &cs->syncing; *pp != NULL; pp = &(*pp)->sw->next)
        if (*pp == c) {
            *pp = c->sw->next;
            break;
        }
    c->sw->listed = false;
    c->sw->next = NULL;
}

void
syncwait_poll(struct client_set *cs, void (*wake)(struct client *c))
{
    double now = ev_now(cs->env.loop);
    struct client *c = cs->syncing, *next;
    for (; c != NULL; c = next) {
        struct syncwait *sw = c->sw;
        next = sw->next;
        if (!sw->waiting || c->http == NULL || !http_sync_waiting(c->http)) {
            sw->waiting = false;
            syncwait_unlist(cs, c);
            continue;
        }
        bool proven = cs->env.sync_proven(cs->env.ctx, sw->end);
        if (!proven && now < sw->deadline)
            continue;
        sw->waiting = false;
        syncwait_unlist(cs, c);
        http_sync_done(c->http, proven);
        wake(c); /* writes the answer, carries on with what it has */
    }
}

void
syncwait_remark(struct client_set *cs)
{
    for (struct client *c = cs->syncing; c != NULL; c = c->sw->next) {
        struct syncwait *sw = syncwait_of(c);
        if (sw == NULL) /* (realloc failed: the old marks stay) */
            continue;
        memset(sw->start, 0, sw->width * sizeof(uint64_t));
        cs->env.sync_mark(cs->env.ctx, sw->end);
    }
}

void
syncwait_forget(struct client *c)
{
    if (c->sw == NULL)
        return;
    if (c->sw->listed)
        syncwait_unlist(c->set, c);
    c->set->connection_bytes -= syncwait_size(c->sw->width);
    syncwait_free(c->sw);
    c->sw = NULL;
}

/*
 * recover.c -- a (re)connected spool finds what Redis holds for it.
 *
 *   count:   MULTI, LLEN <prefix>:inflight:B, LLEN <prefix>:spool:B, EXEC.
 *   adopt:   as many LMOVE <old> <list> RIGHT LEFT as each holds: the old
 *            spool list goes in front of this instance's list, then the
 *            old in-flight list in front of that (its entries are the
 *            oldest; they may arrive twice: they were being delivered).
 *   measure: MULTI, LLEN, MEMORY USAGE, EXEC: the drain's entries and
 *            bytes; a list that is not empty turns spool mode on.
 *
 * The last backend measured makes the spool ready and tells the fleet.
 * Commands go one connection, in order, so the measure sees the moves.
 * It never blocks.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "base/log.h"
#include "spool/recover.h"

static void
recover_on_measured(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = rconn_reply(ac, reply);
    if (rep == NULL)
        return;
    /* reply: array [LLEN, MEMORY USAGE] */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        if (rep->element[0]->type == REDIS_REPLY_INTEGER)
            sb->drain.entries = (uint64_t)rep->element[0]->integer;
        if (rep->element[1]->type == REDIS_REPLY_INTEGER)
            sb->drain.bytes = (uint64_t)rep->element[1]->integer;
    }
    if (sb->drain.entries > 0) {
        if (!sb->mode)
            log_info("backend %s: spool holds %llu entries (%llu bytes); draining it first",
                     sb->be->cfg->name, (unsigned long long)sb->drain.entries,
                     (unsigned long long)sb->drain.bytes);
        sb->mode = true;
    }
    sb->recovered = true;
    if (sp->state == SP_RECOVERING && --sp->recovering == 0) {
        sp->state = SP_READY;
        log_info("redis: spool ready");
        fleet_up(sp->fleet);
    }
}

static void
recover_measure(struct spool_backend *sb)
{
    struct rconn *rc = &sb->sp->rc;
    rconn_send1(rc, rconn_ignore, NULL, "MULTI");
    rconn_send3(rc, rconn_ignore, NULL, "LLEN", sb->key, NULL, 0);
    const char *mu[3] = { "MEMORY", "USAGE", sb->key };
    size_t mul[3] = { 6, 5, strlen(sb->key) };
    rconn_send(rc, rconn_ignore, NULL, 3, mu, mul);
    rconn_send1(rc, recover_on_measured, sb, "EXEC");
}

/* n times LMOVE from RIGHT to LEFT: the list `from` goes, in order, in
 * front of the list `to`. */
static void
recover_prepend_list(struct rconn *rc, const char *from, const char *to, long long n)
{
    const char *argv[5] = { "LMOVE", from, to, "RIGHT", "LEFT" };
    size_t lens[5] = { 5, strlen(from), strlen(to), 5, 4 };
    for (long long i = 0; i < n; i++)
        rconn_send(rc, rconn_ignore, NULL, 5, argv, lens);
}

/* The layout before instances: <prefix>:inflight:B (entries being
 * delivered at a crash, the oldest) and <prefix>:spool:B go in front of
 * this instance's list, in that order. */
static void
recover_on_legacy_counted(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = rconn_reply(ac, reply);
    if (rep == NULL)
        return;
    long long inflight = 0, spooled = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER) {
        inflight = rep->element[0]->integer;
        spooled = rep->element[1]->integer;
    }
    if (inflight + spooled > 0) {
        recover_prepend_list(&sp->rc, sb->legacy_spool, sb->key, spooled);
        recover_prepend_list(&sp->rc, sb->legacy_inflight, sb->key, inflight);
        sp->st.requeued += (uint64_t)(inflight + spooled);
        log_info("backend %s: %lld entries of the spool layout before instances (%s, %s) "
                 "adopted at the head of %s (entries that were in flight may arrive twice)",
                 sb->be->cfg->name, inflight + spooled, sb->legacy_inflight, sb->legacy_spool,
                 sb->key);
    }
    recover_measure(sb);
}

void
recover_one(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    sb->recovered = false;
    drain_lost(&sb->drain);
    rconn_send1(&sp->rc, rconn_ignore, NULL, "MULTI");
    rconn_send3(&sp->rc, rconn_ignore, NULL, "LLEN", sb->legacy_inflight, NULL, 0);
    rconn_send3(&sp->rc, rconn_ignore, NULL, "LLEN", sb->legacy_spool, NULL, 0);
    rconn_send1(&sp->rc, recover_on_legacy_counted, sb, "EXEC");
}

void
recover_all(struct spool *sp)
{
    sp->recovering = sp->nsb;
    for (int i = 0; i < sp->nsb; i++)
        recover_one(&sp->sb[i]);
}

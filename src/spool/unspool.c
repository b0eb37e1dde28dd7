/*
 * unspool.c -- giving a backend its lines back.
 *
 *   drain:   drain.c reads entries back (LRANGE) into a healthy backend
 *            and deletes each (LREM) once every line of it is
 *            acknowledged; this module only opens its gate.  No write is
 *            involved, so a Redis that refuses writes is drained all the
 *            same.
 *   memory:  with Redis down (or refusing writes once the list is empty,
 *            or holding another relay's lease on this spool) blocks go to
 *            the backend from memory, a failed connection's first (they
 *            are the oldest), while its queues are under spool-low (or one
 *            block).  Those lines are safe once the backend acknowledged
 *            them (settle.c).
 *   mode:    while a backend's list is not empty its new lines go to the
 *            list too, so order is FIFO; the mode ends when all is empty.
 *
 * It never blocks and never allocates.
 */
#include "autoconf.h"

#include "base/counters.h"
#include "base/log.h"
#include "spool/chain.h"
#include "spool/unspool.h"

bool
unspool_may_read(void *ctx)
{
    struct spool_backend *sb = ctx;
    struct spool *sp = sb->sp;
    return sp->state == SP_READY && sb->mode && !sp->shutting_down &&
           !fleet_self_held(sp->fleet) && sp->env.running(sp->env.ctx) &&
           !sp_evac_pending(sb) && backend_available(sb->be) &&
           sp_level(sp, sb->be) == SP_UNDER_LOW;
}

void
unspool_leave_mode(struct spool_backend *sb)
{
    if (sb->mode && drain_idle(&sb->drain) && sb->drain.entries == 0 &&
        queue_empty(&sb->staging) && sb->npushing == 0 && sb->failed_head == NULL &&
        sb->unconf_head == NULL && !sp_evac_pending(sb)) {
        sb->mode = false;
        log_info("backend %s: spool drained; writing directly again", sb->be->cfg->name);
    }
}

/* Where blocks are given back from: the staging queue, or a chain. */
struct unspool_src {
    struct queue *q;              /* the staging queue, or NULL: */
    struct block **head, **tail;  /* a chain (a failed connection's lines) */
    bool strip;                   /* the blocks go without their version barriers
                                     (a chain's; in staging, those of a failed
                                     connection's blocks, not BF_STAGED) */
};

static struct block *
unspool_src_first(const struct unspool_src *s)
{
    return s->q != NULL ? s->q->head : *s->head;
}

/* The first block went whole: off the source and back to the pool. */
static void
unspool_src_drop(struct spool_backend *sb, struct unspool_src *s)
{
    struct block *b;
    if (s->q != NULL) {
        b = queue_pop_block(s->q);
    } else {
        b = *s->head;
        *s->head = b->next;
        if (*s->head == NULL)
            *s->tail = NULL;
    }
    if (!(b->flags & BF_STAGED)) {
        TS_ASSERT(sb->evac_held > 0); /* one for each such block */
        if (sb->evac_held > 0)
            sb->evac_held--;
    }
    pool_put(sp_pool(sb->sp), b);
    sb->sp->st.local_drains++;
}

/* Hands the blocks of s to the backend, oldest first, while its queues
 * are under spool-low (or one block).  Returns false when it stopped
 * early: out of room, or at staging's open block when it is empty. */
static bool
unspool_give_back(struct spool_backend *sb, struct unspool_src *s)
{
    struct spool *sp = sb->sp;
    struct backend *be = sb->be;
    size_t room_mark = TS_MAX(sp_cfg(sp)->redis.spool_low, sp_pool(sp)->data_size);
    struct block *b;
    while ((b = unspool_src_first(s)) != NULL) {
        if (s->q != NULL && b == s->q->tail && b->len - b->start == 0)
            return false;
        if (backend_queued_bytes(be) >= room_mark)
            return false;
        size_t len = b->len - b->start;
        uint64_t nl;
        const char *data = b->data + b->start;
        if (s->strip || !(b->flags & BF_STAGED))
            data = chain_data_lines(sp->scratch, data, &len, &nl);
        size_t consumed = 0;
        size_t n = backend_enqueue_lines(be, data, len, &consumed);
        g_stats.points_unspooled += n;
        /* delivered without Redis: safe once the backend acknowledged them */
        if (b->flags & BF_STAGED)
            sb->direct_lines += n;
        else if (n > 0)
            sb->evac_direct = true;
        if (consumed < len) {
            /* out of room: what went is gone from the block, unless barriers
             * were taken out (such a block goes whole next time) */
            if (data != b->data + b->start)
                return false;
            b->start += (uint32_t)consumed;
            if (s->q != NULL)
                s->q->acked += consumed;
            b->lines -= (uint32_t)TS_MIN(n, b->lines);
            return false;
        }
        unspool_src_drop(sb, s);
    }
    return true;
}

void
unspool_from_memory(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    if (!sp->env.running(sp->env.ctx) || !backend_available(sb->be))
        return;
    /* a failed connection's lines first: they are the oldest */
    struct unspool_src evac = { NULL, &sb->evac_head, &sb->evac_tail, true };
    if (sb->evac_head != NULL && !unspool_give_back(sb, &evac))
        return;
    if (sb->evac_push != NULL)
        return;
    struct unspool_src staging = { &sb->staging, NULL, NULL, false };
    unspool_give_back(sb, &staging);
}

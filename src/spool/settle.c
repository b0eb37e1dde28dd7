/*
 * settle.c -- when what the spool took is safe.
 *
 *   stored:    a staged block whose entry Redis took counts its lines in
 *              stored_lines at once, without min-replicas-ack.
 *   replicas:  with it, blocks Redis took stay in memory (unconf) until
 *              WAIT confirms enough replicas have them -- or until their
 *              entry, delivered by the drain, left the list: a master left
 *              without replicas after a failover must not hold every
 *              block, and every framed ack, for ever.  A block knows its
 *              entry by a hash of it (block tag); blocks count as stored
 *              in order, from the oldest.
 *   direct:    staged lines that went to the backend from memory count
 *              once it holds nothing unacknowledged.
 *
 * A failed connection's blocks are not staged ones: settling one only
 * lowers evac_held.  It never blocks: WAIT waits WAIT_MS at most.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "spool/chain.h"
#include "spool/settle.h"

#define WAIT_MS "100"           /* WAIT's timeout */
#define WAIT_RETRY_MS 1000      /* the next WAIT after a shortfall */

void
settle_block(struct spool_backend *sb, struct block *b)
{
    if (b->flags & BF_STAGED) {
        sb->stored_lines += b->lines;
    } else {
        TS_ASSERT(sb->evac_held > 0); /* one for each such block */
        if (sb->evac_held > 0)
            sb->evac_held--;
    }
    pool_put(sp_pool(sb->sp), b);
}

/* Blocks waiting for replicas whose entries were delivered (tag 0) are
 * stored, from the oldest on: the count of stored lines only grows in
 * the order the lines were staged. */
static void
settle_delivered(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    while (sb->unconf_head != NULL && sb->unconf_head->tag == 0) {
        struct block *b = sb->unconf_head;
        sb->unconf_head = b->next;
        if (sb->unconf_head == NULL)
            sb->unconf_tail = NULL;
        sp->st.unreplicated_delivered += b->lines;
        settle_block(sb, b);
    }
}

void
settle_pushed(struct spool_backend *sb, struct block *first, struct block *last)
{
    struct spool *sp = sb->sp;
    last->next = NULL;
    if (sp_cfg(sp)->redis.min_replicas_ack > 0) {
        chain_append(&sb->unconf_head, &sb->unconf_tail, first, last);
        settle_delivered(sb); /* blocks without an entry */
        return;
    }
    while (first != NULL) {
        struct block *n = first->next;
        settle_block(sb, first);
        first = n;
    }
}

void
settle_entry_delivered(void *ctx, const char *value, size_t len)
{
    struct spool_backend *sb = ctx;
    if (sb->unconf_head == NULL)
        return;
    uint64_t tag = chain_entry_tag(value, len);
    for (struct block *b = sb->unconf_head; b != NULL; b = b->next) {
        if (b->tag == tag) {
            b->tag = 0;
            break;
        }
    }
    settle_delivered(sb);
}

/* Every block waiting for replicas is stored. */
static void
settle_confirmed(struct spool *sp)
{
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        while (sb->unconf_head != NULL) {
            struct block *b = sb->unconf_head;
            sb->unconf_head = b->next;
            settle_block(sb, b);
        }
        sb->unconf_tail = NULL;
    }
}

/* WAIT's answer: when enough replicas have everything written before it,
 * every block waiting for them is stored. */
static void
settle_on_wait(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool *sp = priv;
    redisReply *rep = rconn_reply(ac, reply);
    sp->waiting = false;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
        return;
    int want = sp_cfg(sp)->redis.min_replicas_ack;
    if (rep->integer < want) {
        if (!sp->wait_short_logged)
            log_warn("redis: min-replicas-ack: %lld of %d replicas confirm the spool's writes; "
                     "its entries stay in memory until enough do", rep->integer, want);
        sp->wait_short_logged = true;
        sp->st.replica_shortfalls++;
        sp->wait_at_ms = sp_now_ms(sp) + WAIT_RETRY_MS;
        return;
    }
    if (sp->wait_short_logged)
        log_info("redis: min-replicas-ack: %d replicas confirm the spool's writes again", want);
    sp->wait_short_logged = false;
    settle_confirmed(sp);
}

/* One WAIT a tick for what waits for replicas (it blocks the connection
 * for at most WAIT_MS); after a shortfall, one a WAIT_RETRY_MS: a master
 * without replicas would otherwise hold every other command of the
 * connection (pushes, the drain's reads and deletions) most of the time. */
void
settle_confirm(struct spool *sp)
{
    int want = sp_cfg(sp)->redis.min_replicas_ack;
    if (want == 0 || sp->waiting || sp->state != SP_READY || sp_now_ms(sp) < sp->wait_at_ms)
        return;
    bool any = false;
    for (int i = 0; i < sp->nsb && !any; i++)
        any = sp->sb[i].unconf_head != NULL;
    if (!any)
        return;
    char n[16];
    snprintf(n, sizeof(n), "%d", want);
    const char *argv[3] = { "WAIT", n, WAIT_MS };
    size_t lens[3] = { 4, strlen(n), strlen(WAIT_MS) };
    if (rconn_send(&sp->rc, settle_on_wait, sp, 3, argv, lens))
        sp->waiting = true;
}

void
settle_direct(struct spool_backend *sb)
{
    if (sb->direct_lines == 0 && !sb->evac_direct)
        return;
    const struct backend *be = sb->be;
    for (int k = 0; k < be->nconns; k++)
        if (be->conns[k].q.acked < be->conns[k].q.appended)
            return;
    sb->stored_lines += sb->direct_lines;
    sb->direct_lines = 0;
    sb->evac_direct = false;
}

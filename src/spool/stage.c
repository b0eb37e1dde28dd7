/*
 * stage.c -- staging and pushing: a backend's lines into Redis.
 *
 *   stage:    lines -> staging blocks (pool) -> RPUSH, at least every
 *             spool-flush-interval; a block is freed when Redis replied
 *             (settle.c says when its lines count as stored).
 *   evacuate: a failed backend connection's unacknowledged and unsent
 *             lines go to the list's head in one LPUSH, ahead of anything
 *             newer; the drain reads from the head again afterwards.
 *   full:     a refused write (OOM at maxmemory with noeviction, READONLY,
 *             MISCONF) sets spool_full: the spool takes no new data (the
 *             relay applies overflow to it), staged blocks are offered to
 *             Redis again every second, and once the list is empty they go
 *             to the backend straight from memory (unspool.c).  With
 *             nothing staged to offer, an RPUSHX on a key that never exists
 *             (a write that changes nothing, refused exactly when a push
 *             would be) asks every second whether Redis takes writes
 *             again.  Logged once an episode.
 *
 * A push that fails with the connection keeps its place (failed_head,
 * back to staging when the loss is reported); one Redis refused goes back
 * to the head of staging.  Everything stays in the pool budget, and the
 * bytes inside hiredis' buffers under inflight_cap.  It never blocks.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "base/counters.h"
#include "base/log.h"
#include "spool/chain.h"
#include "spool/settle.h"
#include "spool/proof.h"
#include "spool/stage.h"

#define FULL_RETRY_MS 1000

/* ---- spool_full ------------------------------------------------------ */

/* A write was refused (or went through again): spool_full. */
static void
stage_set_full(struct spool *sp, const redisReply *rep)
{
    sp->full_retry_ms = sp_now_ms(sp) + FULL_RETRY_MS;
    if (sp->full)
        return;
    sp->full = true;
    sp->st.full_episodes++;
    log_warn("redis refuses writes (%.*s): spool_full = 1; new data stays in memory under "
             "overflow = %s, the spool is still drained",
             (int)TS_MIN(rep->len, 160), rep->str ? rep->str : "",
             sp_cfg(sp)->overflow == OVERFLOW_DROP ? "drop" : "block");
}

static void
stage_clear_full(struct spool *sp)
{
    if (!sp->full)
        return;
    sp->full = false;
    log_info("redis takes writes again: spool_full = 0");
}

static void
stage_on_full_probe(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool *sp = priv;
    redisReply *rep = rconn_reply(ac, reply);
    sp->full_probing = false;
    if (rep == NULL)
        return;
    if (rep->type == REDIS_REPLY_INTEGER)
        stage_clear_full(sp);
    else if (rconn_write_refused(rep))
        stage_set_full(sp, rep); /* still refused: asked again in a second */
    else
        sp->full_retry_ms = sp_now_ms(sp) + FULL_RETRY_MS;
}

/* spool_full with no push to retry (everything went to the backend from
 * memory): without a write now and then it would never clear. */
void
stage_probe_full(struct spool *sp, uint64_t now)
{
    if (!sp->full || sp->full_probing || sp->state != SP_READY || now < sp->full_retry_ms)
        return;
    for (int i = 0; i < sp->nsb; i++)
        if (sp->sb[i].npushing > 0 || sp->sb[i].evac_push != NULL)
            return; /* a push is out: its reply says it */
    sp->full_retry_ms = now + FULL_RETRY_MS;
    if (rconn_send3(&sp->rc, stage_on_full_probe, sp, "RPUSHX", sp->probe_key, "x", 1))
        sp->full_probing = true;
}

/* ---- pushing ----------------------------------------------------------- */

/* A push's reply: releases what it charged and books the entries it
 * added; false when Redis did not take them. */
static bool
stage_push_settled(struct spool_backend *sb, const redisReply *rep, const char *cmd,
                   size_t bytes, size_t entries)
{
    struct spool *sp = sb->sp;
    pool_uncharge(sp_pool(sp), bytes, POOL_QUEUE);
    TS_ASSERT(sp->inflight_bytes >= bytes); /* charged when it was sent */
    sp->inflight_bytes -= TS_MIN(sp->inflight_bytes, bytes);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER) {
        sb->drain.entries = (uint64_t)rep->integer;
        sb->drain.bytes += bytes;
        sp->st.pushes += entries;
        stage_clear_full(sp);
        return true;
    }
    sp->st.push_failures++;
    if (rconn_write_refused(rep)) {
        sp->st.refused++;
        stage_set_full(sp, rep);
    } else if (rep != NULL) {
        LOG_RL(LOG_ERROR, "redis: %s %s failed: %.*s; keeping the lines in memory", cmd, sb->key,
               (int)TS_MIN(rep->len, 200), rep->str ? rep->str : "");
        sp->full_retry_ms = sp_now_ms(sp) + FULL_RETRY_MS;
    }
    return false;
}

static void
stage_on_push(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    redisReply *rep = rconn_reply(ac, reply);
    struct block *b = sb->push_head;
    TS_ASSERT(b != NULL); /* one block for each RPUSH out */
    if (b == NULL)
        return;
    sb->push_head = b->next;
    if (sb->push_head == NULL)
        sb->push_tail = NULL;
    sb->npushing--;
    if (stage_push_settled(sb, rep, "RPUSH", b->aux, 1)) {
        settle_pushed(sb, b, b);
    } else if (rep == NULL) {
        /* the connection is going: keep it in order for the next one */
        chain_append(&sb->failed_head, &sb->failed_tail, b, b);
    } else {
        b->next = NULL;
        queue_prepend_chain(&sb->staging, b, b);
    }
}

static bool
stage_push_block(struct spool_backend *sb, struct block *b)
{
    struct spool *sp = sb->sp;
    size_t len = b->len - b->start;
    uint64_t nl;
    const char *data = chain_data_lines(sp->scratch, b->data + b->start, &len, &nl);
    size_t n = entry_build(&sp->ec, data, len, b->lines, b->stamp);
    if (pool_charge(sp_pool(sp), n, POOL_QUEUE) != TS_OK)
        return false;
    b->tag = chain_entry_tag(sp->ec.zbuf, n); /* (popped from staging: in no queue) */
    if (!rconn_send3(&sp->rc, stage_on_push, sb, "RPUSH", sb->key, sp->ec.zbuf, n)) {
        pool_uncharge(sp_pool(sp), n, POOL_QUEUE);
        return false;
    }
    b->aux = (uint32_t)n;
    sp->inflight_bytes += n;
    chain_append(&sb->push_head, &sb->push_tail, b, b);
    sb->npushing++;
    return true;
}

static void
stage_on_evac_push(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    redisReply *rep = rconn_reply(ac, reply);
    struct block *chain = sb->evac_push;
    sb->evac_push = NULL;
    if (stage_push_settled(sb, rep, "LPUSH", sb->evac_push_bytes, sb->evac_push_entries)) {
        settle_pushed(sb, chain, chain_last(chain));
        drain_head_changed(&sb->drain);
    } else { /* still the oldest: in front of anything evacuated since */
        chain_prepend(&sb->evac_head, &sb->evac_tail, chain);
    }
    sb->evac_push_bytes = sb->evac_push_entries = 0;
}

/* A run of a failed connection's blocks held only barriers: nothing to
 * push, they are done. */
static void
stage_drop_evacuated(struct spool_backend *sb)
{
    while (sb->evac_head != NULL) {
        struct block *b = sb->evac_head;
        sb->evac_head = b->next;
        settle_block(sb, b);
    }
    sb->evac_tail = NULL;
}

/* A failed connection's lines go to the spool head in one LPUSH. */
static void
stage_push_evacuated(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    if (sb->evac_head == NULL || sb->evac_push != NULL || sp->state != SP_READY || sp->full)
        return;
    /* charge the most the entries can take (an entry is never longer than
     * its raw lines plus a header) before compressing anything: when the
     * budget is short this is retried every tick, and must stay cheap */
    size_t bound = 0;
    for (const struct block *b = sb->evac_head; b != NULL; b = b->next)
        bound += b->len - b->start + ENTRY_HDR;
    if (pool_charge(sp_pool(sp), bound, POOL_QUEUE) != TS_OK)
        return;
    struct entry_list el = { 0 };
    if (entries_add_chain(&sp->ec, sp->scratch, &el, sb->evac_head, true) != TS_OK) {
        LOG_RL(LOG_ERROR, "backend %s: out of memory spooling a failed connection's lines; "
               "retrying", sb->be->cfg->name);
        pool_uncharge(sp_pool(sp), bound, POOL_QUEUE);
        goto out;
    }
    pool_uncharge(sp_pool(sp), bound - el.bytes, POOL_QUEUE);
    if (el.n == 0) { /* only barriers */
        stage_drop_evacuated(sb);
        goto out;
    }
    if (!entries_lpush(&sp->rc, sb->key, &el, stage_on_evac_push, sb)) {
        pool_uncharge(sp_pool(sp), el.bytes, POOL_QUEUE);
        goto out;
    }
    sb->evac_push = sb->evac_head;
    sb->evac_head = sb->evac_tail = NULL;
    sb->evac_push_bytes = el.bytes;
    sb->evac_push_entries = el.n;
    sp->inflight_bytes += el.bytes;
out:
    entries_free(&el);
}

/* Room for one more push: under inflight_cap and spool-max-bytes (logged
 * once when the cap stops it). */
static bool
stage_room(struct spool *sp)
{
    const struct config *cfg = sp_cfg(sp);
    if (sp->inflight_bytes >= sp->inflight_cap)
        return false;
    if (sp_committed_bytes(sp) >= cfg->redis.spool_max_bytes) {
        if (!sp->cap_logged)
            log_warn("redis: spool-max-bytes (%llu) reached; keeping data in memory",
                     (unsigned long long)cfg->redis.spool_max_bytes);
        sp->cap_logged = true;
        return false;
    }
    sp->cap_logged = false;
    return true;
}

void
stage_push_ready(struct spool_backend *sb, uint64_t now, bool force)
{
    struct spool *sp = sb->sp;
    if (sp->state != SP_READY || (sp->full && now < sp->full_retry_ms))
        return;
    if (!sp->full)
        stage_push_evacuated(sb);
    while (sb->staging.head != NULL) {
        struct block *b = sb->staging.head;
        bool open = (b == sb->staging.tail);
        if (open && !force && now - TS_MIN(now, b->stamp) < sp_cfg(sp)->redis.flush_interval_ms)
            break;
        if (!stage_room(sp))
            break;
        b = queue_pop_block(&sb->staging);
        if (!stage_push_block(sb, b)) {
            b->next = NULL;
            queue_prepend_chain(&sb->staging, b, b);
            break;
        }
        if (sp->full) /* one probe at a time while Redis says no */
            break;
    }
}

/* ---- staging ----------------------------------------------------------- */

/* Spool mode: entered when the backend is unavailable or its queues are
 * above spool-high; false when its lines should go to it directly. */
static bool
stage_mode(struct spool_backend *sb)
{
    if (sb->mode)
        return true;
    const char *why = NULL;
    if (!backend_available(sb->be))
        why = "backend unavailable";
    else if (sp_level(sb->sp, sb->be) == SP_ABOVE_HIGH)
        why = "queue above spool-high";
    if (why == NULL)
        return false;
    sb->mode = true;
    log_info("backend %s: spooling to Redis (%s)", sb->be->cfg->name, why);
    return true;
}

int
stage_line(struct spool_backend *sb, const char *line, size_t len)
{
    struct spool *sp = sb->sp;
    if (!stage_mode(sb))
        return 0;
    struct block *tail = sb->staging.tail;
    if (tail != NULL && !(tail->flags & BF_STAGED)) {
        /* a failed connection's lines, put back after a lost connection:
         * staged lines start a block of their own */
        struct block *nb = pool_get(sp_pool(sp), POOL_QUEUE);
        if (nb == NULL)
            return TS_ENOMEM;
        nb->stamp = sp_now_ms(sp);
        nb->flags = BF_STAGED;
        queue_push_block(&sb->staging, nb);
        tail = nb;
    }
    char *dst = queue_reserve(&sb->staging, sp_pool(sp), POOL_QUEUE, len);
    if (dst == NULL)
        return TS_ENOMEM;
    if (sb->staging.tail != tail) {
        sb->staging.tail->stamp = sp_now_ms(sp);
        sb->staging.tail->flags = BF_STAGED;
    }
    memcpy(dst, line, len);
    queue_commit(&sb->staging, len);
    sb->staging.tail->lines++;
    sb->staged_lines++;
    proof_took(sb, 1);
    g_stats.points_spooled++;
    if (sb->staging.head != sb->staging.tail)
        stage_push_ready(sb, sp_now_ms(sp), false); /* a full block is ready */
    return 1;
}

void
stage_failed_queue(struct spool_backend *sb, struct queue *q, uint64_t *lines_queued)
{
    struct spool *sp = sb->sp;
    struct block *first, *last;
    uint64_t lines = queue_count_lines(q, q->acked, q->appended);
    proof_took_queue(sb, q, q->appended, lines);
    queue_detach_all(q, &first, &last);
    uint64_t now = sp_now_ms(sp);
    for (struct block *b = first; b != NULL; b = b->next) {
        b->lines = (uint32_t)chain_count_lines(b->data + b->start, b->len - b->start);
        if (b->stamp == 0)
            b->stamp = now;
        b->flags = 0; /* not staged: held by spool_backend_settled */
        sb->evac_held++;
        if (b == last)
            break;
    }
    /* older than anything spooled or staged: they go to the spool head */
    chain_append(&sb->evac_head, &sb->evac_tail, first, last);
    *lines_queued = 0;
    g_stats.points_spooled += lines;
    sp->st.lines_evacuated += lines;
    if (!sb->mode) {
        sb->mode = true;
        log_info("backend %s: spooling to Redis (connection failed)", sb->be->cfg->name);
    }
    stage_push_evacuated(sb);
}

void
stage_lost(struct spool_backend *sb)
{
    if (sb->failed_head != NULL) {
        queue_prepend_chain(&sb->staging, sb->failed_head, sb->failed_tail);
        sb->failed_head = sb->failed_tail = NULL;
    }
    if (sb->unconf_head != NULL) { /* a failover may have lost them: again */
        queue_prepend_chain(&sb->staging, sb->unconf_head, sb->unconf_tail);
        sb->unconf_head = sb->unconf_tail = NULL;
    }
    if (sb->evac_head != NULL) { /* older still: first */
        queue_prepend_chain(&sb->staging, sb->evac_head, sb->evac_tail);
        sb->evac_head = sb->evac_tail = NULL;
    }
}

/*
 * drain.c -- reading a spool list back into a backend, and deleting each
 * entry once the backend has every line of it.
 *
 *   read:   LRANGE key head_out head_out+k-1, k as many as free records
 *           and queue room allow; each entry decoded and its lines queued
 *           to the backend's connections; a record keeps its element and
 *           the queue offsets its lines end at.
 *   check:  a record whose offsets every connection acknowledged (by TCP,
 *           or by a version barrier) is deleted: LREM key 1 <element>.
 *   pace:   reading goes on from the replies (a read answered, a record
 *           deleted) while the owner's gate allows, not only on its tick.
 *   head:   head_out counts the records whose deletion is not yet sent;
 *           they are the list's first elements, so the next LRANGE starts
 *           after them.  When the head changed (an LPUSH, a reconnect), no
 *           read is made until head_out is 0 again, then from index 0.
 *           A deletion Redis refuses (READONLY, MISCONF) leaves its entry
 *           at the head: it counts in head_out again, and an LRANGE sent
 *           behind it (its reply comes after the refusal: replies keep
 *           their order) read from an index one too low, so what it read is
 *           discarded -- delivered once, never again while it waits.
 *
 * An entry that does not decode is moved to <key>:corrupt (never deleted
 * silently).  Entries that arrive while the queues are short are left for
 * the next read.  It never blocks and never allocates per line.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "spool/drain.h"
#include "base/log.h"
#include "base/counters.h"
#include "base/util.h"

#define PROBE_MS 1000

int
drain_init(struct drain *d, struct rconn *rc, struct entry_codec *ec, struct backend *be,
           struct pool *pool, const char *key, const char *corrupt_key, drain_gate_fn may_read,
           void *gate_ctx)
{
    memset(d, 0, sizeof(*d));
    d->rc = rc;
    d->may_read = may_read;
    d->gate_ctx = gate_ctx;
    d->ec = ec;
    d->be = be;
    d->pool = pool;
    snprintf(d->key, sizeof(d->key), "%s", key);
    snprintf(d->corrupt_key, sizeof(d->corrupt_key), "%s", corrupt_key);
    size_t n = (size_t)be->nconns;
    d->rec_end = calloc(DRAIN_RECORDS * n, sizeof(uint64_t));
    if (d->rec_end == NULL)
        return TS_ERROR;
    for (int i = 0; i < DRAIN_RECORDS; i++) {
        d->rec[i].d = d;
        d->rec[i].end = &d->rec_end[(size_t)i * n];
    }
    return TS_OK;
}

static void
rec_free(struct drain *d, struct drain_record *r)
{
    pool_uncharge(d->pool, r->vlen, POOL_QUEUE);
    free(r->value);
    r->value = NULL;
    r->vlen = 0;
    r->state = DREC_FREE;
    r->del_sent = false;
}

void
drain_free(struct drain *d)
{
    for (int i = 0; i < DRAIN_RECORDS; i++)
        if (d->rec[i].state != DREC_FREE)
            rec_free(d, &d->rec[i]);
    free(d->rec_end);
    d->rec_end = NULL;
}

static int
records_used(const struct drain *d)
{
    int n = 0;
    for (int i = 0; i < DRAIN_RECORDS; i++)
        n += d->rec[i].state != DREC_FREE;
    return n;
}

int
drain_in_flight(const struct drain *d)
{
    return records_used(d);
}

bool
drain_idle(const struct drain *d)
{
    return !d->reading && records_used(d) == 0;
}

const struct drain_record *
drain_record_at(const struct drain *d, int i)
{
    for (int k = 0; k < DRAIN_RECORDS; k++)
        if (d->rec[k].state != DREC_FREE && i-- == 0)
            return &d->rec[k];
    return NULL;
}

static struct drain_record *
rec_alloc(struct drain *d)
{
    for (int i = 0; i < DRAIN_RECORDS; i++)
        if (d->rec[i].state == DREC_FREE)
            return &d->rec[i];
    return NULL;
}

/* Queue room one entry may need: a fresh block per connection and one. */
static size_t
entry_room(const struct drain *d)
{
    return (size_t)(d->be->nconns + 2) * d->pool->block_size;
}

/* Takes one element; false when there is no room or record for it. */
static bool
take(struct drain *d, const redisReply *e)
{
    if (pool_avail(d->pool, POOL_QUEUE) < entry_room(d) + e->len)
        return false;
    struct drain_record *r = rec_alloc(d);
    if (r == NULL)
        return false;
    r->value = malloc(e->len > 0 ? e->len : 1);
    if (r->value == NULL || pool_charge(d->pool, e->len, POOL_QUEUE) != TS_OK) {
        free(r->value);
        r->value = NULL;
        return false;
    }
    memcpy(r->value, e->str, e->len);
    r->vlen = e->len;
    r->del_sent = false;
    d->head_out++;
    struct entry_info info;
    long raw = entry_decode(d->ec, e->str, e->len, &info);
    if (raw < 0) {
        r->state = DREC_CORRUPT;
        r->lines = 0;
        r->staged_ms = 0;
        d->st.corrupt++;
        LOG_RL(LOG_ERROR, "redis: an undecodable entry (%zu bytes) in %s goes to %s", e->len,
               d->key, d->corrupt_key);
        return true;
    }
    struct backend *be = d->be;
    size_t consumed = 0;
    size_t n = backend_enqueue_lines(be, d->ec->dbuf, (size_t)raw, &consumed);
    TS_ASSERT(consumed == (size_t)raw); /* room was checked */
    if (consumed < (size_t)raw)
        log_error("backend %s: %zu of %u lines of a spool entry queued; the entry stays in "
                  "Redis (its lines may arrive twice)", be->cfg->name, n, info.lines);
    r->state = consumed < (size_t)raw ? DREC_CORRUPT : DREC_ACTIVE;
    if (r->state == DREC_CORRUPT)
        r->del_sent = true; /* neither deleted nor set aside: kept for a restart */
    r->lines = (uint32_t)n;
    r->staged_ms = info.staged_ms;
    for (int k = 0; k < be->nconns; k++)
        r->end[k] = be->conns[k].q.appended;
    d->st.reads++;
    d->st.lines += n;
    if (d->foreign)
        g_stats.points_taken_over += n; /* received by the relay that died */
    else
        g_stats.points_unspooled += n;
    return true;
}

static void
on_read(redisAsyncContext *ac, void *reply, void *priv)
{
    struct drain *d = priv;
    redisReply *rep = rconn_reply(ac, reply);
    d->reading = false;
    bool stale = d->stale_read;
    d->stale_read = false;
    if (rep == NULL)
        return; /* the connection went: drain_lost resets */
    if (stale) { /* read from a stale index: read again, from head_out */
        if (d->may_read(d->gate_ctx))
            drain_read(d);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY) {
        LOG_RL(LOG_ERROR, "redis: LRANGE %s: unexpected reply: %.*s", d->key,
               (int)TS_MIN(rep->len, 200), rep->str ? rep->str : "");
        return;
    }
    int before = d->head_out;
    if (rep->elements < (size_t)d->asked) /* the list ends here */
        d->entries = (uint64_t)before + rep->elements;
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING || !take(d, e))
            break; /* the rest is read again, from head_out */
    }
    if (d->resync) /* changed while the read was out: it was from a stale index */
        return;
    if (d->may_read(d->gate_ctx))
        drain_read(d);
}

void
drain_read(struct drain *d)
{
    if (d->reading || !rconn_up(d->rc))
        return;
    if (d->resync) {
        if (d->head_out > 0)
            return;
        d->resync = false;
    }
    int free_recs = DRAIN_RECORDS - records_used(d);
    size_t room = pool_avail(d->pool, POOL_QUEUE);
    size_t per = entry_room(d) + d->pool->block_size;
    int k = (int)TS_MIN((size_t)TS_MIN(free_recs, DRAIN_READ_MAX), room / per);
    if (k <= 0)
        return;
    if (d->entries <= (uint64_t)d->head_out)
        return; /* nothing beyond what is in flight (every push tells the length) */
    char from[24], to[24];
    snprintf(from, sizeof(from), "%d", d->head_out);
    snprintf(to, sizeof(to), "%d", d->head_out + k - 1);
    const char *argv[4] = { "LRANGE", d->key, from, to };
    size_t lens[4] = { 6, strlen(d->key), strlen(from), strlen(to) };
    if (rconn_send(d->rc, on_read, d, 4, argv, lens)) {
        d->reading = true;
        d->asked = k;
    }
}

static void
on_deleted(redisAsyncContext *ac, void *reply, void *priv)
{
    struct drain_record *r = priv;
    struct drain *d = r->d;
    redisReply *rep = rconn_reply(ac, reply);
    bool ok = rep != NULL && (rep->type == REDIS_REPLY_INTEGER ||
                              (r->state == DREC_CORRUPT && rep->type == REDIS_REPLY_ARRAY));
    if (!ok) {
        r->del_sent = false; /* sent again: a lost connection resyncs the head */
        if (rep != NULL) {
            d->head_out++;   /* refused: it is still at the head */
            if (d->reading)  /* that read was sent behind this deletion */
                d->stale_read = true;
        }
        return;
    }
    d->st.deletes++;
    d->bytes -= TS_MIN(d->bytes, r->vlen);
    if (d->entries > 0)
        d->entries--;
    if (r->state != DREC_CORRUPT && d->delivered != NULL)
        d->delivered(d->delivered_ctx, r->value, r->vlen);
    rec_free(d, r);
    /* a record is free: read on now rather than at the next tick (the
     * drain would otherwise move one batch of records per two ticks) */
    if (d->may_read(d->gate_ctx))
        drain_read(d);
}

/* The record's lines are all acknowledged (or it is corrupt): delete it,
 * or move it aside. */
static void
send_delete(struct drain *d, struct drain_record *r)
{
    bool sent;
    if (r->state == DREC_CORRUPT) {
        rconn_send1(d->rc, rconn_ignore, NULL, "MULTI");
        rconn_send3(d->rc, rconn_ignore, NULL, "RPUSH", d->corrupt_key, r->value, r->vlen);
        const char *lr[4] = { "LREM", d->key, "1", r->value };
        size_t lrl[4] = { 4, strlen(d->key), 1, r->vlen };
        rconn_send(d->rc, rconn_ignore, NULL, 4, lr, lrl);
        sent = rconn_send1(d->rc, on_deleted, r, "EXEC");
    } else {
        const char *argv[4] = { "LREM", d->key, "1", r->value };
        size_t lens[4] = { 4, strlen(d->key), 1, r->vlen };
        sent = rconn_send(d->rc, on_deleted, r, 4, argv, lens);
    }
    if (sent) {
        r->del_sent = true;
        d->head_out--;
    }
}

static void
on_probe(redisAsyncContext *ac, void *reply, void *priv)
{
    struct drain *d = priv;
    redisReply *rep = rconn_reply(ac, reply);
    d->probing = false;
    if (rep == NULL)
        return;
    struct entry_info info;
    if (rep->type == REDIS_REPLY_NIL) {
        d->head_staged_ms = 0;
        d->entries = (uint64_t)d->head_out;
    } else if (rep->type == REDIS_REPLY_STRING && entry_peek(rep->str, rep->len, &info) == 0) {
        d->head_staged_ms = info.staged_ms;
    }
}

void
drain_check(struct drain *d, uint64_t now_ms)
{
    struct backend *be = d->be;
    for (int i = 0; i < DRAIN_RECORDS; i++) {
        struct drain_record *r = &d->rec[i];
        if (r->state == DREC_ACTIVE) {
            bool done = true;
            for (int k = 0; k < be->nconns && done; k++)
                done = be->conns[k].q.acked >= r->end[k];
            if (done)
                r->state = DREC_DONE;
        }
        if ((r->state == DREC_DONE || r->state == DREC_CORRUPT) && !r->del_sent)
            send_delete(d, r);
    }
    /* the oldest entry's staging time, when none is in flight */
    if (records_used(d) == 0 && d->entries > 0 && !d->probing && now_ms >= d->probe_at_ms &&
        rconn_up(d->rc)) {
        const char *argv[3] = { "LINDEX", d->key, "0" };
        size_t lens[3] = { 6, strlen(d->key), 1 };
        if (rconn_send(d->rc, on_probe, d, 3, argv, lens))
            d->probing = true;
        d->probe_at_ms = now_ms + PROBE_MS;
    }
    if (d->entries == 0 && records_used(d) == 0)
        d->head_staged_ms = 0;
}

void
drain_lost(struct drain *d)
{
    d->reading = false;
    d->stale_read = false;
    d->probing = false;
    d->head_out = 0;
    for (int i = 0; i < DRAIN_RECORDS; i++) {
        struct drain_record *r = &d->rec[i];
        if (r->state == DREC_FREE)
            continue;
        if (r->del_sent && r->state != DREC_CORRUPT) /* unknown: sent again (LREM is idempotent) */
            r->del_sent = false;
        d->head_out++;
    }
    d->resync = true;
}

void
drain_head_changed(struct drain *d)
{
    d->resync = true;
}

void
drain_forget(struct drain *d)
{
    for (int i = 0; i < DRAIN_RECORDS; i++)
        if (d->rec[i].state != DREC_FREE)
            rec_free(d, &d->rec[i]);
    d->head_out = 0;
    d->resync = true;
}

uint64_t
drain_oldest_ms(const struct drain *d)
{
    uint64_t oldest = d->head_staged_ms;
    for (int i = 0; i < DRAIN_RECORDS; i++) {
        const struct drain_record *r = &d->rec[i];
        if (r->state != DREC_FREE && r->staged_ms != 0 && (oldest == 0 || r->staged_ms < oldest))
            oldest = r->staged_ms;
    }
    return oldest;
}

/*
 * spool.c -- the Redis spool.
 *
 * Keys per backend B: <prefix>:<instance>:spool:B, a FIFO list of entries
 * (entry.c: a block of complete put lines, compressed, stamped with the
 * time its first line was staged), and <prefix>:<instance>:spool:B:corrupt
 * for entries that do not decode.
 *
 *   stage:   lines -> staging blocks (pool) -> RPUSH, at least every
 *            spool-flush-interval; a block is freed when Redis replied.
 *   evacuate: a failed backend connection's unacknowledged and unsent
 *            lines go to the list's head in one LPUSH, ahead of anything
 *            newer; the drain reads from the head again afterwards.
 *   drain:   drain.c reads entries back (LRANGE) into a healthy backend
 *            and deletes each (LREM) once every line of it is
 *            acknowledged.  No write is involved, so a Redis that refuses
 *            writes is drained all the same.
 *   full:    a refused write (OOM at maxmemory with noeviction, READONLY,
 *            MISCONF) sets spool_full: the spool takes no new data (the
 *            relay applies overflow to it), staged blocks are offered to
 *            Redis again every second, and once the list is empty they go
 *            to the backend straight from memory.  With nothing staged to
 *            offer, an RPUSHX on a key that never exists (a write that
 *            changes nothing, refused exactly when a push would be) asks
 *            every second whether Redis takes writes again.  Logged once an
 *            episode.
 *   replicas: with min-replicas-ack, blocks Redis took stay in memory
 *            until WAIT confirms enough replicas have them -- or until
 *            their entry, delivered by the drain, left the list (what a
 *            backend acknowledged needs no replica): a master left without
 *            replicas after a failover must not hold every block, and
 *            every framed ack, for ever.  A block knows its entry by a
 *            hash of it (block tag); blocks count as stored in order.
 *   acks:    stored_lines counts staged lines (spool_offer's) that are
 *            safe, in staging order: pushed (and confirmed), or sent from
 *            memory and acknowledged by the backend (counted once it
 *            holds nothing unacknowledged).  A failed connection's lines
 *            are not staged ones: spool_backend_settled holds every ack
 *            of the backend while any of them is unsafe.
 *   recover: on every (re)connect: entries of the layout before instances
 *            (<prefix>:spool:B, <prefix>:inflight:B) are moved in front of
 *            this instance's list, in order, then the list is measured.
 *
 * While a backend's list is not empty its new lines go to the list too,
 * so order is FIFO.  With Redis down, staged blocks wait in memory (and
 * go straight to a healthy backend); everything stays in the pool budget.
 * It must never block the loop and never drop what Redis holds.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "output/backend.h"
#include "spool/drain.h"
#include "spool/entry.h"
#include "spool/fleet.h"
#include "base/log.h"
#include "spool/rconn.h"
#include "spool/spool.h"
#include "base/counters.h"
#include "base/util.h"

#define FULL_RETRY_MS 1000
#define WAIT_MS "100"           /* WAIT's timeout */
#define WAIT_RETRY_MS 1000      /* the next WAIT after a shortfall */

struct spool_backend {
    struct spool *sp;
    struct backend *be;
    char key[256];
    char legacy_spool[200];         /* the layout before instances */
    char legacy_inflight[200];
    bool mode;                      /* new lines go to the spool */
    bool recovered;
    struct queue staging;           /* blocks bound for Redis */
    struct block *push_head, *push_tail;     /* RPUSH sent, reply due */
    int npushing;
    struct block *failed_head, *failed_tail; /* pushes lost with the connection */
    struct block *evac_head, *evac_tail;     /* a failed connection's lines, for the head */
    struct block *evac_push;                 /* ... their LPUSH sent, reply due */
    struct block *unconf_head, *unconf_tail; /* in Redis, replicas not yet confirmed */
    size_t evac_push_bytes;                  /* charged for that LPUSH */
    size_t evac_push_entries;
    int evac_out;                   /* shutdown evacuations in flight */
    uint64_t staged_lines;          /* lines ever staged (framed acks) */
    uint64_t stored_lines;          /* ... of them acknowledged by Redis */
    uint64_t evac_held;             /* blocks of failed connections' lines not yet
                                       stored nor handed to the backend again */
    bool evac_direct;               /* some went to the backend from memory: held
                                       until it acknowledged all it has */
    uint64_t direct_lines;          /* staged lines that went to the backend from
                                       memory: stored once it acknowledged all it has */
    struct drain drain;
};

enum sp_state { SP_DOWN = 0, SP_RECOVERING, SP_READY };

struct spool {
    struct spool_env env;
    struct sentinel *master;     /* where Redis is: address or Sentinels */
    struct rconn rc;
    struct fleet *fleet;         /* liveness, takeover (fleet.c) */
    struct entry_codec ec;
    enum sp_state state;
    size_t inflight_bytes;       /* charged bytes inside hiredis buffers */
    size_t inflight_cap;
    int recovering;
    bool shutting_down;
    bool full;                   /* Redis refuses writes */
    uint64_t full_retry_ms;      /* when a push is tried again */
    bool full_probing;           /* a probe write is out (nothing staged to retry) */
    char probe_key[256];         /* never exists: RPUSHX on it writes nothing */
    bool cap_logged;
    bool waiting;                /* a WAIT is out (min-replicas-ack) */
    bool wait_short_logged;
    uint64_t wait_at_ms;         /* no WAIT before (after a shortfall) */
    char *scratch;               /* a block's lines without barriers */
    struct spool_backend *sb;
    int nsb;
    struct spool_stats st;
};

static uint64_t
spool_now_ms(const struct spool *sp)
{
    return (uint64_t)(ev_now(sp->env.loop) * 1000.0);
}

static const struct config *
cfg_of(const struct spool *sp)
{
    return sp->env.cfg;
}

static struct pool *
spool_pool(const struct spool *sp)
{
    return sp->env.pool;
}

static uint64_t
count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* ---- blocks and chains -------------------------------------------------- */

/* A block's flags: BF_STAGED when spool_offer made it (its lines count
 * in staged_lines; a failed connection's lines do not: their frames are
 * held by spool_backend_settled instead).  Its tag, while it waits for
 * replicas: its entry's hash (never 0), 0 once the entry left the list
 * delivered, or when it had none. */
#define BF_STAGED 1

static uint64_t
entry_tag(const char *entry, size_t len)
{
    return XXH3_64bits(entry, len) | 1;
}

/* A block leaves the spool stored (or confirmed, or delivered through
 * its entry): its lines count as stored when they were staged ones. */
static void
release_stored(struct spool_backend *sb, struct block *b)
{
    if (b->flags & BF_STAGED)
        sb->stored_lines += b->lines;
    else if (sb->evac_held > 0)
        sb->evac_held--;
    pool_put(sb->sp->env.pool, b);
}

/* Appends the chain first..last (last->next is cleared) to the list head..tail. */
static void
chain_append(struct block **head, struct block **tail, struct block *first, struct block *last)
{
    last->next = NULL;
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

/* Puts the NULL-terminated chain first in front of *head. */
static void
chain_prepend(struct block **head, struct block **tail, struct block *first)
{
    if (first == NULL)
        return;
    struct block *last = first;
    while (last->next != NULL)
        last = last->next;
    last->next = *head;
    if (*head == NULL)
        *tail = last;
    *head = first;
}

static void
chain_free(struct pool *pool, struct block *b)
{
    while (b != NULL) {
        struct block *n = b->next;
        pool_put(pool, b);
        b = n;
    }
}

/* The put lines of data[0..len): version barriers (ack = version) are
 * the connection's, not data, and never go to Redis. */
static const char *
data_lines(struct spool *sp, const char *data, size_t *len, uint64_t *lines)
{
    static const char barrier[] = "version\n";
    if (memmem(data, *len, barrier, sizeof(barrier) - 1) == NULL) {
        *lines = count_lines(data, *len);
        return data;
    }
    size_t o = 0, n = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < *len;) {
        const char *nl = memchr(data + i, '\n', *len - i);
        size_t l = nl ? (size_t)(nl - (data + i)) + 1 : *len - i;
        if (!(l == sizeof(barrier) - 1 && memcmp(data + i, barrier, l) == 0)) {
            memcpy(sp->scratch + o, data + i, l);
            o += l;
            k++;
        }
        i += l;
        n++;
    }
    *len = o;
    *lines = k;
    return sp->scratch;
}

/* ---- entries gathered for one LPUSH -------------------------------------- */

/* Compressed entries of runs of blocks, gathered for one LPUSH (a failed
 * connection, shutdown): rare events, so these copies are malloc'd. */
struct entry_list {
    char **ents;
    size_t *lens;
    size_t n, cap;
    uint64_t lines;
    size_t bytes;
};

/* set_tags: the blocks are in no queue (their tag is free): each gets
 * its entry's tag. */
static int
entries_add_chain(struct spool *sp, struct entry_list *el, struct block *b, bool set_tags)
{
    for (; b != NULL; b = b->next) {
        size_t len = b->len - b->start;
        uint64_t nl;
        const char *data = data_lines(sp, b->data + b->start, &len, &nl);
        if (set_tags)
            b->tag = 0;
        if (len == 0)
            continue;
        if (el->n == el->cap) {
            size_t cap = el->cap ? el->cap * 2 : 16;
            char **ents = realloc(el->ents, cap * sizeof(*ents));
            if (ents == NULL)
                return TS_ENOMEM;
            el->ents = ents;
            size_t *lens = realloc(el->lens, cap * sizeof(*lens));
            if (lens == NULL)
                return TS_ENOMEM;
            el->lens = lens;
            el->cap = cap;
        }
        uint64_t stamp = b->stamp != 0 ? b->stamp : entry_clock_ms();
        size_t n = entry_build(&sp->ec, data, len, (uint32_t)nl, stamp);
        char *copy = malloc(n);
        if (copy == NULL)
            return TS_ENOMEM;
        memcpy(copy, sp->ec.zbuf, n);
        if (set_tags)
            b->tag = entry_tag(copy, n);
        el->ents[el->n] = copy;
        el->lens[el->n] = n;
        el->n++;
        el->lines += nl;
        el->bytes += n;
    }
    return TS_OK;
}

static void
entries_free(struct entry_list *el)
{
    for (size_t i = 0; i < el->n; i++)
        free(el->ents[i]);
    free(el->ents);
    free(el->lens);
    memset(el, 0, sizeof(*el));
}

/* LPUSH key e_n ... e_1: LPUSH puts its last argument first, so the list
 * then starts e_1 ... e_n, in the order the entries were gathered. */
static bool
entries_lpush(struct spool *sp, const char *key, const struct entry_list *el,
              redisCallbackFn *cb, void *priv)
{
    const char **argv = calloc(el->n + 2, sizeof(*argv));
    size_t *lens = calloc(el->n + 2, sizeof(*lens));
    bool sent = false;
    if (argv != NULL && lens != NULL) {
        argv[0] = "LPUSH";
        lens[0] = 5;
        argv[1] = key;
        lens[1] = strlen(key);
        for (size_t i = 0; i < el->n; i++) {
            argv[2 + i] = el->ents[el->n - 1 - i];
            lens[2 + i] = el->lens[el->n - 1 - i];
        }
        sent = rconn_send(&sp->rc, cb, priv, (int)(el->n + 2), argv, lens);
    }
    free(argv);
    free(lens);
    return sent;
}

/* ---- state ----------------------------------------------------------------- */

static uint64_t
total_bytes(const struct spool *sp)
{
    uint64_t n = 0;
    for (int i = 0; i < sp->nsb; i++)
        n += sp->sb[i].drain.bytes;
    return n;
}

/* What the spool holds once the pushes in flight land: the cap's measure. */
static uint64_t
committed_bytes(const struct spool *sp)
{
    return total_bytes(sp) + sp->inflight_bytes;
}

bool
spool_connected(const struct spool *sp)
{
    return sp != NULL && sp->state == SP_READY;
}

bool
spool_full(const struct spool *sp)
{
    return sp != NULL && sp->full;
}

bool
spool_usable(const struct spool *sp)
{
    if (sp == NULL || sp->state != SP_READY || sp->shutting_down || sp->full)
        return false;
    if (fleet_self_held(sp->fleet))
        return false; /* another relay drains it: hands off */
    return committed_bytes(sp) < cfg_of(sp)->redis.spool_max_bytes;
}

static bool
evac_pending(const struct spool_backend *sb)
{
    return sb->evac_head != NULL || sb->evac_push != NULL;
}

/* The spool's hysteresis, both marks in one place: where a backend's
 * queues (the bytes its connections hold) stand.  Above spool-high its
 * new lines go to the spool (and it enters spool mode); under spool-low
 * the spool gives lines back (the drain reads); in between each side
 * keeps to what it does.  (config.c keeps spool-low under spool-high.) */
enum spool_level { SP_UNDER_LOW, SP_BETWEEN, SP_ABOVE_HIGH };

static enum spool_level
spool_level(const struct spool *sp, const struct backend *be)
{
    uint64_t queued = backend_queued_bytes(be);
    if (queued > cfg_of(sp)->redis.spool_high)
        return SP_ABOVE_HIGH;
    if (queued < cfg_of(sp)->redis.spool_low)
        return SP_UNDER_LOW;
    return SP_BETWEEN;
}

bool
spool_should_take(const struct spool *sp, const struct backend *be, bool available)
{
    if (!spool_usable(sp))
        return false;
    return spool_backend_mode(be) || !available || spool_level(sp, be) == SP_ABOVE_HIGH;
}

/* A write was refused (or went through again): spool_full. */
static void
set_full(struct spool *sp, const redisReply *rep)
{
    sp->full_retry_ms = spool_now_ms(sp) + FULL_RETRY_MS;
    if (sp->full)
        return;
    sp->full = true;
    sp->st.full_episodes++;
    log_warn("redis refuses writes (%.*s): spool_full = 1; new data stays in memory under "
             "overflow = %s, the spool is still drained",
             (int)TS_MIN(rep->len, 160), rep->str ? rep->str : "",
             cfg_of(sp)->overflow == OVERFLOW_DROP ? "drop" : "block");
}

static void
clear_full(struct spool *sp)
{
    if (!sp->full)
        return;
    sp->full = false;
    log_info("redis takes writes again: spool_full = 0");
}

static void
on_full_probe(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool *sp = priv;
    redisReply *rep = rconn_reply(ac, reply);
    sp->full_probing = false;
    if (rep == NULL)
        return;
    if (rep->type == REDIS_REPLY_INTEGER)
        clear_full(sp);
    else if (rconn_write_refused(rep))
        set_full(sp, rep); /* still refused: asked again in a second */
    else
        sp->full_retry_ms = spool_now_ms(sp) + FULL_RETRY_MS;
}

/* spool_full with no push to retry (everything went to the backend from
 * memory): without a write now and then it would never clear. */
static void
probe_full(struct spool *sp, uint64_t now)
{
    if (!sp->full || sp->full_probing || sp->state != SP_READY || now < sp->full_retry_ms)
        return;
    for (int i = 0; i < sp->nsb; i++)
        if (sp->sb[i].npushing > 0 || sp->sb[i].evac_push != NULL)
            return; /* a push is out: its reply says it */
    sp->full_retry_ms = now + FULL_RETRY_MS;
    if (rconn_send3(&sp->rc, on_full_probe, sp, "RPUSHX", sp->probe_key, "x", 1))
        sp->full_probing = true;
}

/* ---- staging and pushing ---------------------------------------------- */

/* A push's reply: releases what it charged and books the entries it
 * added; false when Redis did not take them. */
static bool
push_settled(struct spool_backend *sb, const redisReply *rep, const char *cmd, size_t bytes,
             size_t entries)
{
    struct spool *sp = sb->sp;
    pool_uncharge(spool_pool(sp), bytes, POOL_QUEUE);
    sp->inflight_bytes -= TS_MIN(sp->inflight_bytes, bytes);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER) {
        sb->drain.entries = (uint64_t)rep->integer;
        sb->drain.bytes += bytes;
        sp->st.pushes += entries;
        clear_full(sp);
        return true;
    }
    sp->st.push_failures++;
    if (rconn_write_refused(rep)) {
        sp->st.refused++;
        set_full(sp, rep);
    } else if (rep != NULL) {
        LOG_RL(LOG_ERROR, "redis: %s %s failed: %.*s; keeping the lines in memory", cmd, sb->key,
               (int)TS_MIN(rep->len, 200), rep->str ? rep->str : "");
        sp->full_retry_ms = spool_now_ms(sp) + FULL_RETRY_MS;
    }
    return false;
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
        release_stored(sb, b);
    }
}

/* Blocks Redis took: with min-replicas-ack they wait for WAIT's word (or
 * their delivery), else they are stored. */
static void
stored(struct spool_backend *sb, struct block *first, struct block *last)
{
    struct spool *sp = sb->sp;
    last->next = NULL;
    if (cfg_of(sp)->redis.min_replicas_ack > 0) {
        chain_append(&sb->unconf_head, &sb->unconf_tail, first, last);
        settle_delivered(sb); /* blocks without an entry */
        return;
    }
    while (first != NULL) {
        struct block *n = first->next;
        release_stored(sb, first);
        first = n;
    }
}

/* The drain deleted one of this list's entries after its backend
 * acknowledged every line of it: the block it was made from (when it
 * still waits for replicas) needs them no more. */
static void
on_entry_delivered(void *ctx, const char *value, size_t len)
{
    struct spool_backend *sb = ctx;
    if (sb->unconf_head == NULL)
        return;
    uint64_t tag = entry_tag(value, len);
    for (struct block *b = sb->unconf_head; b != NULL; b = b->next) {
        if (b->tag == tag) {
            b->tag = 0;
            break;
        }
    }
    settle_delivered(sb);
}

/* WAIT's answer: when enough replicas have everything written before it,
 * every block waiting for them is stored. */
static void
on_wait(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool *sp = priv;
    redisReply *rep = rconn_reply(ac, reply);
    sp->waiting = false;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
        return;
    int want = cfg_of(sp)->redis.min_replicas_ack;
    if (rep->integer < want) {
        if (!sp->wait_short_logged)
            log_warn("redis: min-replicas-ack: %lld of %d replicas confirm the spool's writes; "
                     "its entries stay in memory until enough do", rep->integer, want);
        sp->wait_short_logged = true;
        sp->st.replica_shortfalls++;
        sp->wait_at_ms = spool_now_ms(sp) + WAIT_RETRY_MS;
        return;
    }
    if (sp->wait_short_logged)
        log_info("redis: min-replicas-ack: %d replicas confirm the spool's writes again", want);
    sp->wait_short_logged = false;
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        while (sb->unconf_head != NULL) {
            struct block *b = sb->unconf_head;
            sb->unconf_head = b->next;
            release_stored(sb, b);
        }
        sb->unconf_tail = NULL;
    }
}

/* One WAIT a tick for what waits for replicas (it blocks the connection
 * for at most WAIT_MS); after a shortfall, one a WAIT_RETRY_MS: a master
 * without replicas would otherwise hold every other command of the
 * connection (pushes, the drain's reads and deletions) most of the time. */
static void
confirm_replicas(struct spool *sp)
{
    int want = cfg_of(sp)->redis.min_replicas_ack;
    if (want == 0 || sp->waiting || sp->state != SP_READY || spool_now_ms(sp) < sp->wait_at_ms)
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
    if (rconn_send(&sp->rc, on_wait, sp, 3, argv, lens))
        sp->waiting = true;
}

static void
on_push(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    redisReply *rep = rconn_reply(ac, reply);
    struct block *b = sb->push_head;
    if (b == NULL)
        return;
    sb->push_head = b->next;
    if (sb->push_head == NULL)
        sb->push_tail = NULL;
    sb->npushing--;
    if (push_settled(sb, rep, "RPUSH", b->aux, 1)) {
        stored(sb, b, b);
    } else if (rep == NULL) {
        /* the connection is going: keep it in order for the next one */
        chain_append(&sb->failed_head, &sb->failed_tail, b, b);
    } else {
        b->next = NULL;
        queue_prepend_chain(&sb->staging, b, b);
    }
}

static bool
push_block(struct spool_backend *sb, struct block *b)
{
    struct spool *sp = sb->sp;
    size_t len = b->len - b->start;
    uint64_t nl;
    const char *data = data_lines(sp, b->data + b->start, &len, &nl);
    size_t n = entry_build(&sp->ec, data, len, b->lines, b->stamp);
    if (pool_charge(spool_pool(sp), n, POOL_QUEUE) != TS_OK)
        return false;
    b->tag = entry_tag(sp->ec.zbuf, n); /* (popped from staging: in no queue) */
    if (!rconn_send3(&sp->rc, on_push, sb, "RPUSH", sb->key, sp->ec.zbuf, n)) {
        pool_uncharge(spool_pool(sp), n, POOL_QUEUE);
        return false;
    }
    b->aux = (uint32_t)n;
    sp->inflight_bytes += n;
    chain_append(&sb->push_head, &sb->push_tail, b, b);
    sb->npushing++;
    return true;
}

static void
on_evac_push(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    redisReply *rep = rconn_reply(ac, reply);
    struct block *chain = sb->evac_push;
    sb->evac_push = NULL;
    if (push_settled(sb, rep, "LPUSH", sb->evac_push_bytes, sb->evac_push_entries)) {
        struct block *last = chain;
        while (last->next != NULL)
            last = last->next;
        stored(sb, chain, last);
        drain_head_changed(&sb->drain);
    } else { /* still the oldest: in front of anything evacuated since */
        chain_prepend(&sb->evac_head, &sb->evac_tail, chain);
    }
    sb->evac_push_bytes = sb->evac_push_entries = 0;
}

/* A failed connection's lines go to the spool head in one LPUSH. */
static void
push_evacuated(struct spool_backend *sb)
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
    if (pool_charge(spool_pool(sp), bound, POOL_QUEUE) != TS_OK)
        return;
    struct entry_list el = { 0 };
    if (entries_add_chain(sp, &el, sb->evac_head, true) != TS_OK) {
        LOG_RL(LOG_ERROR, "backend %s: out of memory spooling a failed connection's lines; "
               "retrying", sb->be->cfg->name);
        pool_uncharge(spool_pool(sp), bound, POOL_QUEUE);
        goto out;
    }
    pool_uncharge(spool_pool(sp), bound - el.bytes, POOL_QUEUE);
    if (el.n == 0) { /* only barriers */
        while (sb->evac_head != NULL) {
            struct block *b = sb->evac_head;
            sb->evac_head = b->next;
            release_stored(sb, b);
        }
        sb->evac_tail = NULL;
        goto out;
    }
    if (!entries_lpush(sp, sb->key, &el, on_evac_push, sb)) {
        pool_uncharge(spool_pool(sp), el.bytes, POOL_QUEUE);
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

/* Pushes a failed connection's lines, then sealed blocks, and the open
 * one once it is old enough. */
static void
push_ready(struct spool_backend *sb, uint64_t now, bool force)
{
    struct spool *sp = sb->sp;
    const struct config *cfg = cfg_of(sp);
    if (sp->state != SP_READY || (sp->full && now < sp->full_retry_ms))
        return;
    if (!sp->full)
        push_evacuated(sb);
    while (sb->staging.head != NULL) {
        struct block *b = sb->staging.head;
        bool open = (b == sb->staging.tail);
        if (open && !force && now - TS_MIN(now, b->stamp) < cfg->redis.flush_interval_ms)
            break;
        if (sp->inflight_bytes >= sp->inflight_cap)
            break;
        if (committed_bytes(sp) >= cfg->redis.spool_max_bytes) {
            if (!sp->cap_logged)
                log_warn("redis: spool-max-bytes (%llu) reached; keeping data in memory",
                         (unsigned long long)cfg->redis.spool_max_bytes);
            sp->cap_logged = true;
            break;
        }
        sp->cap_logged = false;
        b = queue_pop_block(&sb->staging);
        if (!push_block(sb, b)) {
            b->next = NULL;
            queue_prepend_chain(&sb->staging, b, b);
            break;
        }
        if (sp->full) /* one probe at a time while Redis says no */
            break;
    }
}

int
spool_offer(struct backend *be, const char *line, size_t len)
{
    struct spool_backend *sb = be->sp;
    if (sb == NULL || !spool_usable(sb->sp))
        return 0;
    struct spool *sp = sb->sp;
    if (!sb->mode) {
        const char *why = NULL;
        if (!backend_available(be))
            why = "backend unavailable";
        else if (spool_level(sp, be) == SP_ABOVE_HIGH)
            why = "queue above spool-high";
        if (why == NULL)
            return 0;
        sb->mode = true;
        log_info("backend %s: spooling to Redis (%s)", be->cfg->name, why);
    }
    struct block *tail = sb->staging.tail;
    if (tail != NULL && !(tail->flags & BF_STAGED)) {
        /* a failed connection's lines, put back after a lost connection:
         * staged lines start a block of their own */
        struct block *nb = pool_get(spool_pool(sp), POOL_QUEUE);
        if (nb == NULL)
            return TS_ENOMEM;
        nb->stamp = spool_now_ms(sp);
        nb->flags = BF_STAGED;
        queue_push_block(&sb->staging, nb);
        tail = nb;
    }
    char *dst = queue_reserve(&sb->staging, spool_pool(sp), POOL_QUEUE, len);
    if (dst == NULL)
        return TS_ENOMEM;
    if (sb->staging.tail != tail) {
        sb->staging.tail->stamp = spool_now_ms(sp);
        sb->staging.tail->flags = BF_STAGED;
    }
    memcpy(dst, line, len);
    queue_commit(&sb->staging, len);
    sb->staging.tail->lines++;
    sb->staged_lines++;
    g_stats.points_spooled++;
    if (sb->staging.head != sb->staging.tail)
        push_ready(sb, spool_now_ms(sp), false); /* a full block is ready */
    return 1;
}

void
spool_take_queue(struct backend *be, struct queue *q, uint64_t *lines_queued)
{
    struct spool_backend *sb = be->sp;
    if (sb == NULL || !spool_usable(sb->sp) || queue_empty(q))
        return;
    struct spool *sp = sb->sp;
    struct block *first, *last;
    uint64_t lines = queue_count_lines(q, q->acked, q->appended);
    queue_detach_all(q, &first, &last);
    uint64_t now = spool_now_ms(sp);
    for (struct block *b = first; b != NULL; b = b->next) {
        b->lines = (uint32_t)count_lines(b->data + b->start, b->len - b->start);
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
        log_info("backend %s: spooling to Redis (connection failed)", be->cfg->name);
    }
    push_evacuated(sb);
}

/* ---- draining ---------------------------------------------------------- */

/* The drain may read: the backend takes data and its queues are under
 * spool-low, and nothing is on its way to the list's head. */
static bool
may_drain(void *ctx)
{
    struct spool_backend *sb = ctx;
    struct spool *sp = sb->sp;
    return sp->state == SP_READY && sb->mode && !sp->shutting_down &&
           !fleet_self_held(sp->fleet) && sp->env.running(sp->env.ctx) &&
           !evac_pending(sb) && backend_available(sb->be) &&
           spool_level(sp, sb->be) == SP_UNDER_LOW;
}

static void
maybe_leave_mode(struct spool_backend *sb)
{
    if (sb->mode && drain_idle(&sb->drain) && sb->drain.entries == 0 &&
        queue_empty(&sb->staging) && sb->npushing == 0 && sb->failed_head == NULL &&
        sb->unconf_head == NULL && !evac_pending(sb)) {
        sb->mode = false;
        log_info("backend %s: spool drained; writing directly again", sb->be->cfg->name);
    }
}

/* Where blocks are given back from: the staging queue, or a chain. */
struct unspool_src {
    struct queue *q;              /* the staging queue, or NULL: */
    struct block **head, **tail;  /* a chain (a failed connection's lines) */
    bool strip;                   /* the blocks go without their version barriers
                                     (a chain's; staging's go as they are) */
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
    if (!(b->flags & BF_STAGED) && sb->evac_held > 0)
        sb->evac_held--;
    pool_put(spool_pool(sb->sp), b);
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
    size_t room_mark = TS_MAX(cfg_of(sp)->redis.spool_low, spool_pool(sp)->data_size);
    struct block *b;
    while ((b = unspool_src_first(s)) != NULL) {
        if (s->q != NULL && b == s->q->tail && b->len - b->start == 0)
            return false;
        if (backend_queued_bytes(be) >= room_mark)
            return false;
        size_t len = b->len - b->start;
        uint64_t nl;
        const char *data = b->data + b->start;
        if (s->strip)
            data = data_lines(sp, data, &len, &nl);
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

/* Lines handed to the backend from memory are safe once it acknowledged
 * them: when it holds nothing unacknowledged, all of them are. */
static void
direct_settle(struct spool_backend *sb)
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

/* Without Redis (down, or refusing writes once its list is empty), staged
 * blocks go straight to a healthy backend. */
static void
local_drain(struct spool_backend *sb)
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

/* ---- recovery ---------------------------------------------------------- */

static void
on_measured(redisAsyncContext *ac, void *reply, void *priv)
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
measure(struct spool_backend *sb)
{
    struct rconn *rc = &sb->sp->rc;
    rconn_send1(rc, rconn_ignore, NULL, "MULTI");
    rconn_send3(rc, rconn_ignore, NULL, "LLEN", sb->key, NULL, 0);
    const char *mu[3] = { "MEMORY", "USAGE", sb->key };
    size_t mul[3] = { 6, 5, strlen(sb->key) };
    rconn_send(rc, rconn_ignore, NULL, 3, mu, mul);
    rconn_send1(rc, on_measured, sb, "EXEC");
}

/* n times LMOVE from RIGHT to LEFT: the list `from` goes, in order, in
 * front of the list `to`. */
static void
prepend_list(struct rconn *rc, const char *from, const char *to, long long n)
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
on_legacy_counted(redisAsyncContext *ac, void *reply, void *priv)
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
        prepend_list(&sp->rc, sb->legacy_spool, sb->key, spooled);
        prepend_list(&sp->rc, sb->legacy_inflight, sb->key, inflight);
        sp->st.requeued += (uint64_t)(inflight + spooled);
        log_info("backend %s: %lld entries of the spool layout before instances (%s, %s) "
                 "adopted at the head of %s (entries that were in flight may arrive twice)",
                 sb->be->cfg->name, inflight + spooled, sb->legacy_inflight, sb->legacy_spool,
                 sb->key);
    }
    measure(sb);
}

/* Adopts the old layout's lists of one backend, then measures its list. */
static void
recover_one(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    sb->recovered = false;
    drain_lost(&sb->drain);
    rconn_send1(&sp->rc, rconn_ignore, NULL, "MULTI");
    rconn_send3(&sp->rc, rconn_ignore, NULL, "LLEN", sb->legacy_inflight, NULL, 0);
    rconn_send3(&sp->rc, rconn_ignore, NULL, "LLEN", sb->legacy_spool, NULL, 0);
    rconn_send1(&sp->rc, on_legacy_counted, sb, "EXEC");
}

static void
recover(struct spool *sp)
{
    sp->recovering = sp->nsb;
    for (int i = 0; i < sp->nsb; i++)
        recover_one(&sp->sb[i]);
}

/* ---- connection -------------------------------------------------------- */

static void
on_up(void *ctx)
{
    struct spool *sp = ctx;
    sp->st.connects++;
    sp->state = SP_RECOVERING;
    recover(sp);
}

static void
on_lost(void *ctx)
{
    struct spool *sp = ctx;
    fleet_lost(sp->fleet);
    sp->st.disconnects++;
    sp->state = SP_DOWN;
    sp->inflight_bytes = 0;
    sp->waiting = false;
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
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
        drain_lost(&sb->drain);
    }
}

/* ---- public ------------------------------------------------------------ */

static int
sb_init(struct spool *sp, struct spool_backend *sb, struct backend *be)
{
    const struct config *cfg = cfg_of(sp);
    const char *name = be->cfg->name;
    memset(sb, 0, sizeof(*sb));
    sb->sp = sp;
    sb->be = be;
    snprintf(sb->key, sizeof(sb->key), "%s:%s:spool:%s", cfg->redis.prefix, sp->env.instance,
             name);
    snprintf(sb->legacy_spool, sizeof(sb->legacy_spool), "%s:spool:%s", cfg->redis.prefix,
             name);
    snprintf(sb->legacy_inflight, sizeof(sb->legacy_inflight), "%s:inflight:%s",
             cfg->redis.prefix, name);
    char corrupt[300];
    snprintf(corrupt, sizeof(corrupt), "%s:corrupt", sb->key);
    queue_init(&sb->staging);
    if (drain_init(&sb->drain, &sp->rc, &sp->ec, be, spool_pool(sp), sb->key, corrupt, may_drain,
                   sb) != TS_OK)
        return TS_ERROR;
    sb->drain.delivered = on_entry_delivered;
    sb->drain.delivered_ctx = sb;
    be->sp = sb;
    return TS_OK;
}

struct spool *
spool_create(const struct spool_env *env)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    sp->env = *env;
    const struct config *cfg = env->cfg;
    sp->inflight_cap = TS_MIN((size_t)8 << 20, cfg->memory_limit / 8);
    sp->nsb = env->nbackends;
    sp->sb = calloc(CFG_MAX_BACKENDS, sizeof(*sp->sb)); /* a reload may add backends */
    sp->scratch = malloc(env->pool->data_size);
    if (sp->sb == NULL || sp->scratch == NULL ||
        entry_codec_init(&sp->ec, env->pool->data_size, cfg->redis.compress_level) != TS_OK) {
        free(sp->sb);
        free(sp->scratch);
        free(sp);
        return NULL;
    }
    snprintf(sp->probe_key, sizeof(sp->probe_key), "%s:%s:full-probe", cfg->redis.prefix,
             env->instance);
    for (int i = 0; i < sp->nsb; i++) {
        if (sb_init(sp, &sp->sb[i], &env->backends[i]) != TS_OK) {
            sp->nsb = i;
            spool_destroy(sp);
            return NULL;
        }
    }
    struct resolver_opts ro = { cfg->dns_servers, cfg->resolve_timeout_ms };
    sp->master = sentinel_new(env->loop, &cfg->redis, &ro, &sp->st.master);
    if (sp->master == NULL) {
        spool_destroy(sp);
        return NULL;
    }
    struct fleet_env fenv = {
        .rc = &sp->rc,
        .ec = &sp->ec,
        .pool = env->pool,
        .cfg = cfg,
        .backends = env->backends,
        .nbackends = env->nbackends,
        .instance = env->instance,
        .running = env->running,
        .ctx = env->ctx,
    };
    sp->fleet = fleet_new(&fenv);
    if (sp->fleet == NULL) {
        spool_destroy(sp);
        return NULL;
    }
    rconn_init(&sp->rc, env->loop, sp->master, cfg->redis.connect_timeout_ms,
               cfg->reconnect_min_ms, cfg->reconnect_max_ms, on_up, on_lost, sp);
    return sp;
}

int
spool_add_backend(struct spool *sp, struct backend *be)
{
    if (sp == NULL)
        return TS_OK;
    if (be->sp != NULL) /* its slot came back: the list is the same */
        return TS_OK;
    if (sp->nsb >= CFG_MAX_BACKENDS)
        return TS_ERROR;
    struct spool_backend *sb = &sp->sb[sp->nsb];
    if (sb_init(sp, sb, be) != TS_OK)
        return TS_ERROR;
    sp->nsb++;
    fleet_set_backends(sp->fleet, sp->nsb);
    if (sp->state == SP_RECOVERING)
        sp->recovering++;
    if (sp->state != SP_DOWN) /* (down: recovered with the others when it is up) */
        recover_one(sb);
    return TS_OK;
}

void
spool_reconfigure(struct spool *sp, const struct config *old)
{
    if (sp == NULL)
        return;
    const struct config *cfg = cfg_of(sp);
    sp->inflight_cap = TS_MIN((size_t)8 << 20, cfg->memory_limit / 8);
    sp->ec.level = cfg->redis.compress_level;
    bool moved = strcmp(old->redis.addr.host, cfg->redis.addr.host) != 0 ||
                 strcmp(old->redis.addr.port, cfg->redis.addr.port) != 0;
    rconn_reconfigure(&sp->rc, cfg->redis.connect_timeout_ms, cfg->reconnect_min_ms,
                      cfg->reconnect_max_ms, moved);
    if (moved)
        log_warn("redis: the address changed to %s:%s: reconnecting; entries left in the "
                 "old Redis stay there", cfg->redis.addr.host, cfg->redis.addr.port);
}

void
spool_destroy(struct spool *sp)
{
    if (sp == NULL)
        return;
    if (sp->fleet != NULL)
        rconn_free(&sp->rc); /* (initialized last) */
    fleet_free(sp->fleet);
    sentinel_free(sp->master);
    struct pool *p = spool_pool(sp);
    for (int i = 0; i < sp->nsb && sp->sb != NULL; i++) {
        struct spool_backend *sb = &sp->sb[i];
        queue_clear(&sb->staging, p);
        chain_free(p, sb->push_head);
        chain_free(p, sb->failed_head);
        chain_free(p, sb->evac_head);
        chain_free(p, sb->evac_push);
        chain_free(p, sb->unconf_head);
        drain_free(&sb->drain);
        if (sb->be != NULL)
            sb->be->sp = NULL;
    }
    free(sp->sb);
    free(sp->scratch);
    entry_codec_free(&sp->ec);
    free(sp);
}

void
spool_tick(struct spool *sp, uint64_t now)
{
    if (sp == NULL)
        return;
    rconn_tick(&sp->rc, now);
    bool mine = !fleet_self_held(sp->fleet);
    if (sp->state == SP_READY) {
        fleet_tick(sp->fleet, now);
        confirm_replicas(sp);
    }
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        struct drain *d = &sb->drain;
        direct_settle(sb);
        if (sp->state == SP_READY && !mine) {
            local_drain(sb); /* the spool is another relay's for now: memory only */
        } else if (sp->state == SP_READY) {
            push_ready(sb, now, sp->shutting_down);
            if (sp->full && sb->evac_head != NULL)
                local_drain(sb); /* Redis will not take them: straight to the backend */
            if (!evac_pending(sb))
                drain_check(d, now);
            if (may_drain(sb))
                drain_read(d);
            if (sp->full && d->entries == 0 && drain_idle(d))
                local_drain(sb); /* the list is empty: memory is next */
            maybe_leave_mode(sb);
        } else if (sp->state == SP_DOWN) {
            local_drain(sb);
        }
    }
    probe_full(sp, now);
    sp->st.raw_bytes = sp->ec.raw_bytes;
    sp->st.stored_bytes = sp->ec.stored_bytes;
    sp->st.connects = sp->rc.connects;
    sp->st.disconnects = sp->rc.disconnects;
    uint64_t reads = 0, deletes = 0, corrupt = 0;
    for (int i = 0; i < sp->nsb; i++) {
        reads += sp->sb[i].drain.st.reads;
        deletes += sp->sb[i].drain.st.deletes;
        corrupt += sp->sb[i].drain.st.corrupt;
    }
    sp->st.drains = reads;
    sp->st.acks = deletes;
    sp->st.corrupt = corrupt;
}

/* ---- shutdown ---------------------------------------------------------- */

static void
on_evacuated(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = rconn_reply(ac, reply);
    sb->evac_out--;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        log_error("backend %s: evacuating its queues to Redis failed%s%.*s", sb->be->cfg->name,
                  rep ? ": " : "", rep ? (int)TS_MIN(rep->len, 200) : 0,
                  rep && rep->str ? rep->str : "");
        return;
    }
    /* queues are in Redis now; the entries they were read from are gone */
    struct backend *be = sb->be;
    for (int k = 0; k < be->nconns; k++) {
        struct bconn *c = &be->conns[k];
        queue_clear(&c->q, spool_pool(sp));
        c->lines_queued = 0;
    }
    drain_forget(&sb->drain);
}

/* Moves what the backend's connections still hold (unsent and
 * unacknowledged lines) to the head of its spool, and deletes the entries
 * they were drained from, in one transaction. */
static void
evacuate(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    struct backend *be = sb->be;
    size_t nblocks = 0;
    for (int k = 0; k < be->nconns; k++) {
        queue_rewind(&be->conns[k].q);
        nblocks += be->conns[k].q.nblocks;
    }
    if (nblocks == 0 && drain_in_flight(&sb->drain) == 0)
        return;
    struct entry_list el = { 0 };
    for (int k = 0; k < be->nconns; k++) {
        if (entries_add_chain(sp, &el, be->conns[k].q.head, false) != TS_OK) {
            log_error("backend %s: out of memory evacuating its queues", be->cfg->name);
            goto out;
        }
    }
    rconn_send1(&sp->rc, rconn_ignore, NULL, "MULTI");
    if (el.n > 0)
        entries_lpush(sp, sb->key, &el, rconn_ignore, NULL);
    for (int i = 0;; i++) {
        const struct drain_record *r = drain_record_at(&sb->drain, i);
        if (r == NULL)
            break;
        const char *lr[4] = { "LREM", sb->key, "1", r->value };
        size_t lrl[4] = { 4, strlen(sb->key), 1, r->vlen };
        rconn_send(&sp->rc, rconn_ignore, NULL, 4, lr, lrl);
    }
    if (rconn_send1(&sp->rc, on_evacuated, sb, "EXEC"))
        sb->evac_out++;
    sp->st.lines_evacuated += el.lines;
    sp->st.pushes += el.n;
    g_stats.points_spooled += el.lines;
    log_info("backend %s: %llu undelivered lines moved to the spool for the next start",
             be->cfg->name, (unsigned long long)el.lines);
out:
    entries_free(&el);
}

void
spool_shutdown_begin(struct spool *sp)
{
    if (sp == NULL)
        return;
    sp->shutting_down = true;
    if (sp->state != SP_READY) {
        uint64_t lines = 0;
        for (int i = 0; i < sp->nsb; i++)
            lines += backend_queued_lines(sp->sb[i].be);
        if (lines > 0)
            log_error("redis unavailable at shutdown: %llu queued lines cannot be spooled",
                      (unsigned long long)lines);
        return;
    }
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        evacuate(sb);
        push_ready(sb, spool_now_ms(sp), true);
    }
}

bool
spool_quiet(const struct spool *sp)
{
    if (sp == NULL || sp->state != SP_READY)
        return true;
    if (sp->rc.pending > 0 || !fleet_quiet(sp->fleet))
        return false;
    for (int i = 0; i < sp->nsb; i++) {
        const struct spool_backend *sb = &sp->sb[i];
        if (sb->npushing > 0 || sb->evac_out > 0 || evac_pending(sb) || sb->unconf_head != NULL)
            return false;
        if (!queue_empty(&sb->staging) && !sp->full)
            return false;
    }
    return true;
}

bool
spool_draining(const struct spool *sp)
{
    if (sp == NULL)
        return false;
    for (int i = 0; i < sp->nsb; i++)
        if (sp->sb[i].drain.reading)
            return true;
    return false;
}

const struct spool_stats *
spool_get_stats(const struct spool *sp)
{
    return sp ? &sp->st : NULL;
}

const struct fleet_stats *
spool_fleet_stats(const struct spool *sp)
{
    return sp ? fleet_get_stats(sp->fleet) : NULL;
}

bool
spool_backend_mode(const struct backend *be)
{
    return be->sp != NULL && be->sp->mode;
}

uint64_t
spool_backend_entries(const struct backend *be)
{
    return be->sp ? be->sp->drain.entries : 0;
}

uint64_t
spool_backend_bytes(const struct backend *be)
{
    return be->sp ? be->sp->drain.bytes : 0;
}

uint64_t
spool_backend_staged_bytes(const struct backend *be)
{
    if (be->sp == NULL)
        return 0;
    uint64_t n = queue_bytes(&be->sp->staging);
    const struct block *chains[5] = { be->sp->push_head, be->sp->evac_head, be->sp->evac_push,
                                      be->sp->failed_head, be->sp->unconf_head };
    for (int i = 0; i < 5; i++)
        for (const struct block *b = chains[i]; b != NULL; b = b->next)
            n += b->len - b->start;
    return n;
}

uint64_t
spool_backend_oldest_ms(const struct backend *be)
{
    const struct spool_backend *sb = be->sp;
    if (sb == NULL)
        return 0;
    uint64_t oldest = drain_oldest_ms(&sb->drain);
    const struct block *firsts[4] = { sb->evac_push, sb->evac_head, sb->push_head,
                                      sb->failed_head };
    for (int i = 0; i < 4; i++)
        if (firsts[i] != NULL && firsts[i]->stamp != 0 &&
            (oldest == 0 || firsts[i]->stamp < oldest))
            oldest = firsts[i]->stamp;
    const struct block *h = sb->staging.head;
    if (h != NULL && h->len > h->start && h->stamp != 0 && (oldest == 0 || h->stamp < oldest))
        oldest = h->stamp;
    return oldest;
}

uint64_t
spool_backlog_age_ms(const struct backend *be)
{
    uint64_t oldest = backend_oldest_ms(be);
    uint64_t s = spool_backend_oldest_ms(be);
    if (s != 0 && (oldest == 0 || s < oldest))
        oldest = s;
    if (oldest == 0)
        return 0;
    uint64_t now = entry_clock_ms();
    return now > oldest ? now - oldest : 0;
}

uint64_t
spool_total_bytes(const struct spool *sp)
{
    return sp ? total_bytes(sp) : 0;
}

uint64_t
spool_backend_staged_lines(const struct backend *be)
{
    return be->sp ? be->sp->staged_lines : 0;
}

uint64_t
spool_backend_stored_lines(const struct backend *be)
{
    return be->sp ? be->sp->stored_lines : 0;
}

bool
spool_backend_settled(const struct backend *be)
{
    const struct spool_backend *sb = be->sp;
    return sb == NULL || (!evac_pending(sb) && sb->failed_head == NULL && sb->unconf_head == NULL &&
                          sb->evac_held == 0 && !sb->evac_direct);
}

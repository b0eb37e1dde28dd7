/*
 * spool.c -- the Redis spool.
 *
 * Keys per backend B: <prefix>:spool:B (FIFO list of entries) and
 * <prefix>:inflight:B (entries being delivered).  An entry is a 24-byte
 * header (magic, codec, line count, raw length, unique id) and a block of
 * complete put lines, zstd-compressed.
 *
 *   stage:   lines -> staging blocks (pool) -> RPUSH spool, at least every
 *            spool-flush-interval; a block is freed when Redis replies.
 *   drain:   LMOVE spool -> inflight, lines re-routed into the backend's
 *            connection queues; the entry is LREM'd from inflight once the
 *            backend's TCP acknowledged every line of it.
 *   recover: on every (re)connect, inflight entries we do not know
 *            (a crash, a lost reply) go back to the spool head, in order.
 *   evacuate: a failed backend connection's unacknowledged and unsent
 *            lines go to the spool head in one LPUSH, ahead of everything
 *            newer; draining waits until Redis has them.
 *
 * While a backend's spool is non-empty its new lines go to the spool too,
 * so order is FIFO.  With Redis down, staged blocks wait in memory (and
 * are sent straight to a healthy backend); everything stays in the pool
 * budget.  It must never block the loop and never drop what Redis holds.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "backend.h"
#include "log.h"
#include "relay.h"
#include "sentinel.h"
#include "spool.h"
#include "stats.h"
#include "util.h"

#define MAX_LMOVE_OUT 4
#define REC_CAP 64

enum rec_state { REC_FREE = 0, REC_ACTIVE, REC_INCOMPLETE, REC_DONE };

struct spool_record {
    enum rec_state state;
    bool lrem_sent;
    char *value;          /* the exact list element, for LREM */
    size_t vlen;
    size_t charged;
    uint32_t lines;
    uint64_t *end;        /* per connection: queue offset after its lines */
};

struct spool_backend {
    struct spool *sp;
    struct backend *be;
    char key[192];
    char ikey[192];
    bool mode;                      /* new lines go to the spool */
    bool recovered;
    struct queue staging;           /* blocks bound for Redis */
    struct block *push_head, *push_tail;     /* RPUSH sent, reply due */
    int npushing;
    struct block *failed_head, *failed_tail; /* pushes lost with the connection */
    struct block *evac_head, *evac_tail;     /* a failed connection's lines, for the head */
    struct block *evac_push;                 /* ... their LPUSH sent, reply due */
    size_t evac_push_bytes;                  /* charged for that LPUSH */
    size_t evac_push_entries;
    uint64_t entries;               /* spool list length, as last seen */
    uint64_t bytes;                 /* bytes in Redis for this backend */
    int lmove_out;
    int evac_out;                   /* shutdown evacuations in flight */
    struct spool_record rec[REC_CAP];
    uint64_t *rec_end;
};

enum sp_state { SP_DOWN = 0, SP_CONNECTING, SP_RECOVERING, SP_READY };

struct spool {
    struct relay *r;
    redisAsyncContext *ac;
    enum sp_state state;
    uint64_t retry_at_ms;
    uint64_t backoff_ms;
    ev_timer connect_timer;
    struct sentinel *master;     /* where Redis is: address or Sentinels (issue 12) */
    int pending;                 /* replies due */
    size_t inflight_bytes;       /* charged bytes inside hiredis buffers */
    size_t inflight_cap;
    int recovering;
    bool shutting_down;
    bool destroying;
    bool was_up;                 /* for logging state changes once */
    bool full_logged;
    uint64_t full_until_ms;      /* Redis said no (e.g. OOM): pause pushes */
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    char *zbuf;
    size_t zcap;
    char *dbuf;
    size_t dcap;
    uint64_t id_base;
    uint64_t id_seq;
    struct spool_backend *sb;
    int nsb;
    struct spool_stats st;
};

static void sp_connect(struct spool *sp);
static void drain(struct spool_backend *sb);

static uint64_t
now_ms(struct spool *sp)
{
    return (uint64_t)(ev_now(sp->r->loop) * 1000.0);
}

/* ---- entries ----------------------------------------------------------- */

static void
put32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint32_t
get32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)(unsigned char)p[i] << (8 * i);
    return v;
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

/* Builds an entry for data[0..len) into sp->zbuf; returns its length. */
static size_t
build_entry(struct spool *sp, const char *data, size_t len, uint32_t lines)
{
    char *h = sp->zbuf;
    memcpy(h, SPOOL_MAGIC, 4);
    h[5] = h[6] = h[7] = 0;
    put32(h + 8, lines);
    put32(h + 12, (uint32_t)len);
    uint64_t id = sp->id_base + ++sp->id_seq;
    put32(h + 16, (uint32_t)id);
    put32(h + 20, (uint32_t)(id >> 32));
    size_t body = 0;
    int level = sp->r->cfg.redis.compress_level;
    if (level > 0) {
        size_t z = ZSTD_compressCCtx(sp->cctx, h + SPOOL_HDR_BYTES, sp->zcap - SPOOL_HDR_BYTES,
                                     data, len, level);
        if (!ZSTD_isError(z) && z < len) {
            h[4] = SPOOL_ZSTD;
            body = z;
        }
    }
    if (body == 0) {
        h[4] = SPOOL_RAW;
        memcpy(h + SPOOL_HDR_BYTES, data, len);
        body = len;
    }
    sp->st.raw_bytes += len;
    sp->st.stored_bytes += SPOOL_HDR_BYTES + body;
    return SPOOL_HDR_BYTES + body;
}

/* Decodes an entry into sp->dbuf; returns raw length or -1. */
static long
decode_entry(struct spool *sp, const char *v, size_t n, uint32_t *lines)
{
    if (n < SPOOL_HDR_BYTES || memcmp(v, SPOOL_MAGIC, 4) != 0)
        return -1;
    uint32_t raw = get32(v + 12);
    *lines = get32(v + 8);
    if (raw > sp->dcap)
        return -1;
    const char *body = v + SPOOL_HDR_BYTES;
    size_t blen = n - SPOOL_HDR_BYTES;
    if (v[4] == SPOOL_RAW) {
        if (blen != raw)
            return -1;
        memcpy(sp->dbuf, body, blen);
        return (long)raw;
    }
    if (v[4] != SPOOL_ZSTD)
        return -1;
    size_t d = ZSTD_decompressDCtx(sp->dctx, sp->dbuf, sp->dcap, body, blen);
    if (ZSTD_isError(d) || d != raw)
        return -1;
    return (long)raw;
}

/* ---- commands ---------------------------------------------------------- */

static bool
send_cmd(struct spool *sp, redisCallbackFn *cb, void *priv, int argc, const char **argv,
         const size_t *argvlen)
{
    if (sp->ac == NULL)
        return false;
    if (redisAsyncCommandArgv(sp->ac, cb, priv, argc, argv, argvlen) != REDIS_OK)
        return false;
    sp->pending++;
    return true;
}

static void
on_ignore(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)reply;
    struct spool *sp = priv;
    sp->pending--;
}

/* One-word commands (MULTI, EXEC). */
static bool
send1(struct spool *sp, redisCallbackFn *cb, void *priv, const char *word)
{
    const char *argv[1] = { word };
    size_t len[1] = { strlen(word) };
    return send_cmd(sp, cb, priv, 1, argv, len);
}

static bool
send3(struct spool *sp, redisCallbackFn *cb, void *priv, const char *a, const char *b,
      const char *c, size_t clen)
{
    const char *argv[3] = { a, b, c };
    size_t lens[3] = { strlen(a), strlen(b), clen };
    return send_cmd(sp, cb, priv, c ? 3 : 2, argv, lens);
}

/* Compressed entries of runs of blocks, gathered for one LPUSH (a failed
 * connection, shutdown): rare events, so these copies are malloc'd. */
struct entry_list {
    char **ents;
    size_t *lens;
    size_t n, cap;
    uint64_t lines;
    size_t bytes;
};

static int
entries_add_chain(struct spool *sp, struct entry_list *el, const struct block *b)
{
    for (; b != NULL; b = b->next) {
        if (b->len == b->start)
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
        uint64_t nl = count_lines(b->data + b->start, b->len - b->start);
        size_t n = build_entry(sp, b->data + b->start, b->len - b->start, (uint32_t)nl);
        char *copy = malloc(n);
        if (copy == NULL)
            return TS_ENOMEM;
        memcpy(copy, sp->zbuf, n);
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
        sent = send_cmd(sp, cb, priv, (int)(el->n + 2), argv, lens);
    }
    free(argv);
    free(lens);
    return sent;
}

/* ---- staging and pushing ---------------------------------------------- */

static uint64_t
total_bytes(const struct spool *sp)
{
    uint64_t n = 0;
    for (int i = 0; i < sp->nsb; i++)
        n += sp->sb[i].bytes;
    return n;
}

/* What the spool holds once the pushes in flight land: the cap's measure. */
static uint64_t
committed_bytes(const struct spool *sp)
{
    return total_bytes(sp) + sp->inflight_bytes;
}

bool
spool_connected(const struct relay *r)
{
    return r->spool != NULL && r->spool->state == SP_READY;
}

bool
spool_usable(const struct relay *r)
{
    const struct spool *sp = r->spool;
    if (sp == NULL || sp->state != SP_READY || sp->shutting_down)
        return false;
    if (committed_bytes(sp) >= r->cfg.redis.spool_max_bytes)
        return false;
    return true;
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

/* A push's reply: releases what it charged and books the entries it
 * added; false when Redis did not take them (logged; a refusal such as
 * OOM also pauses pushes for a second). */
static bool
push_settled(struct spool_backend *sb, const redisReply *rep, const char *cmd, size_t bytes,
             size_t entries)
{
    struct spool *sp = sb->sp;
    pool_uncharge(&sp->r->pool, bytes, POOL_QUEUE);
    sp->inflight_bytes -= TS_MIN(sp->inflight_bytes, bytes);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER) {
        sb->entries = (uint64_t)rep->integer;
        sb->bytes += bytes;
        sp->st.pushes += entries;
        return true;
    }
    sp->st.push_failures++;
    if (rep != NULL) {
        LOG_RL(LOG_ERROR, "redis: %s %s failed: %.*s; keeping the lines in memory", cmd, sb->key,
               (int)TS_MIN(rep->len, 200), rep->str ? rep->str : "");
        sp->full_until_ms = now_ms(sp) + 1000;
    }
    return false;
}

static void
on_push(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = reply;
    sp->pending--;
    struct block *b = sb->push_head;
    if (b == NULL)
        return;
    sb->push_head = b->next;
    if (sb->push_head == NULL)
        sb->push_tail = NULL;
    sb->npushing--;
    if (push_settled(sb, rep, "RPUSH", b->aux, 1)) {
        pool_put(&sp->r->pool, b);
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
    size_t n = build_entry(sp, b->data + b->start, b->len - b->start, b->lines);
    if (pool_charge(&sp->r->pool, n, POOL_QUEUE) != TS_OK)
        return false;
    if (!send3(sp, on_push, sb, "RPUSH", sb->key, sp->zbuf, n)) {
        pool_uncharge(&sp->r->pool, n, POOL_QUEUE);
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
    (void)ac;
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    sp->pending--;
    struct block *chain = sb->evac_push;
    sb->evac_push = NULL;
    if (push_settled(sb, reply, "LPUSH", sb->evac_push_bytes, sb->evac_push_entries))
        chain_free(&sp->r->pool, chain);
    else /* still the oldest: in front of anything evacuated since */
        chain_prepend(&sb->evac_head, &sb->evac_tail, chain);
    sb->evac_push_bytes = sb->evac_push_entries = 0;
}

/* A failed connection's lines go to the spool head in one LPUSH. */
static void
push_evacuated(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    if (sb->evac_head == NULL || sb->evac_push != NULL || sp->state != SP_READY)
        return;
    /* charge the most the entries can take (an entry is never longer than
     * its raw lines plus a header) before compressing anything: when the
     * budget is short this is retried every tick, and must stay cheap */
    size_t bound = 0;
    for (const struct block *b = sb->evac_head; b != NULL; b = b->next)
        bound += b->len - b->start + SPOOL_HDR_BYTES;
    if (pool_charge(&sp->r->pool, bound, POOL_QUEUE) != TS_OK)
        return;
    struct entry_list el = { 0 };
    if (entries_add_chain(sp, &el, sb->evac_head) != TS_OK) {
        LOG_RL(LOG_ERROR, "backend %s: out of memory spooling a failed connection's lines; "
               "retrying", sb->be->cfg->name);
        pool_uncharge(&sp->r->pool, bound, POOL_QUEUE);
        goto out;
    }
    pool_uncharge(&sp->r->pool, bound - el.bytes, POOL_QUEUE);
    if (!entries_lpush(sp, sb->key, &el, on_evac_push, sb)) {
        pool_uncharge(&sp->r->pool, el.bytes, POOL_QUEUE);
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
    struct relay *r = sp->r;
    if (sp->state != SP_READY || now < sp->full_until_ms)
        return;
    push_evacuated(sb);
    while (sb->staging.head != NULL) {
        struct block *b = sb->staging.head;
        bool open = (b == sb->staging.tail);
        if (open && !force && now - b->stamp < r->cfg.redis.flush_interval_ms)
            break;
        if (sp->inflight_bytes >= sp->inflight_cap)
            break;
        if (committed_bytes(sp) >= r->cfg.redis.spool_max_bytes) {
            if (!sp->full_logged)
                log_warn("redis: spool-max-bytes (%llu) reached; keeping data in memory",
                         (unsigned long long)r->cfg.redis.spool_max_bytes);
            sp->full_logged = true;
            break;
        }
        sp->full_logged = false;
        b = queue_pop_block(&sb->staging);
        if (!push_block(sb, b)) {
            b->next = NULL;
            queue_prepend_chain(&sb->staging, b, b);
            break;
        }
    }
}

int
spool_offer(struct backend *be, const char *line, size_t len)
{
    struct spool_backend *sb = be->sp;
    struct relay *r = be->r;
    if (sb == NULL || !spool_usable(r))
        return 0;
    if (!sb->mode) {
        const char *why = NULL;
        if (!backend_available(be))
            why = "backend unavailable";
        else if (backend_queued_bytes(be) > r->cfg.redis.spool_high)
            why = "queue above spool-high";
        if (why == NULL)
            return 0;
        sb->mode = true;
        log_info("backend %s: spooling to Redis (%s)", be->cfg->name, why);
    }
    struct block *tail = sb->staging.tail;
    char *dst = queue_reserve(&sb->staging, &r->pool, POOL_QUEUE, len);
    if (dst == NULL)
        return TS_ENOMEM;
    if (sb->staging.tail != tail)
        sb->staging.tail->stamp = now_ms(sb->sp);
    memcpy(dst, line, len);
    queue_commit(&sb->staging, len);
    sb->staging.tail->lines++;
    g_stats.points_spooled++;
    if (sb->staging.head != sb->staging.tail)
        push_ready(sb, now_ms(sb->sp), false); /* a full block is ready */
    return 1;
}

void
spool_take_queue(struct backend *be, struct queue *q, uint64_t *lines_queued)
{
    struct spool_backend *sb = be->sp;
    if (sb == NULL || !spool_usable(be->r) || queue_empty(q))
        return;
    struct block *first, *last;
    uint64_t lines = queue_count_lines(q, q->acked, q->appended);
    queue_detach_all(q, &first, &last);
    uint64_t now = now_ms(sb->sp);
    for (struct block *b = first; b != NULL; b = b->next) {
        b->lines = (uint32_t)count_lines(b->data + b->start, b->len - b->start);
        b->stamp = now;
        if (b == last)
            break;
    }
    /* older than anything spooled or staged: they go to the spool head */
    chain_append(&sb->evac_head, &sb->evac_tail, first, last);
    *lines_queued = 0;
    g_stats.points_spooled += lines;
    sb->sp->st.lines_evacuated += lines;
    if (!sb->mode) {
        sb->mode = true;
        log_info("backend %s: spooling to Redis (connection failed)", be->cfg->name);
    }
    push_evacuated(sb);
}

/* ---- draining ---------------------------------------------------------- */

static void
maybe_leave_mode(struct spool_backend *sb)
{
    if (sb->mode && sb->lmove_out == 0 && sb->entries == 0 && queue_empty(&sb->staging) &&
        sb->npushing == 0 && sb->failed_head == NULL && sb->evac_head == NULL &&
        sb->evac_push == NULL) {
        sb->mode = false;
        log_info("backend %s: spool drained; writing directly again", sb->be->cfg->name);
    }
}

static struct spool_record *
rec_alloc(struct spool_backend *sb)
{
    for (int i = 0; i < REC_CAP; i++)
        if (sb->rec[i].state == REC_FREE)
            return &sb->rec[i];
    return NULL;
}

static int
rec_used(const struct spool_backend *sb)
{
    int n = 0;
    for (int i = 0; i < REC_CAP; i++)
        n += sb->rec[i].state != REC_FREE;
    return n;
}

static void
rec_free(struct spool_backend *sb, struct spool_record *rec)
{
    pool_uncharge(&sb->sp->r->pool, rec->charged, POOL_QUEUE);
    free(rec->value);
    rec->value = NULL;
    rec->vlen = rec->charged = 0;
    rec->state = REC_FREE;
    rec->lrem_sent = false;
}

/* An entry we cannot decode leaves the inflight list for a side list,
 * where an operator can look at it; it is never silently deleted. */
static void
set_aside(struct spool_backend *sb, const char *v, size_t n)
{
    struct spool *sp = sb->sp;
    char ckey[224];
    snprintf(ckey, sizeof(ckey), "%s:corrupt:%s", sp->r->cfg.redis.prefix, sb->be->cfg->name);
    sp->st.corrupt++;
    LOG_RL(LOG_ERROR, "redis: undecodable entry (%zu bytes) in %s moved to %s", n, sb->ikey, ckey);
    send1(sp, on_ignore, sp, "MULTI");
    send3(sp, on_ignore, sp, "RPUSH", ckey, v, n);
    const char *lr[4] = { "LREM", sb->ikey, "1", v };
    size_t lrl[4] = { 4, strlen(sb->ikey), 1, n };
    send_cmd(sp, on_ignore, sp, 4, lr, lrl);
    send1(sp, on_ignore, sp, "EXEC");
}

static void
on_lmove(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    struct relay *r = sp->r;
    redisReply *rep = reply;
    sp->pending--;
    sb->lmove_out--;
    if (rep == NULL)
        return; /* connection lost: recovery finds the entry if it moved */
    if (rep->type == REDIS_REPLY_NIL) {
        sb->entries = 0;
        if (!queue_empty(&sb->staging))
            push_ready(sb, now_ms(sp), true); /* the newest data is next */
        maybe_leave_mode(sb);
        return;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        LOG_RL(LOG_ERROR, "redis: LMOVE %s: unexpected reply: %.*s", sb->key,
               (int)TS_MIN(rep->len, 200), rep->str ? rep->str : "");
        return;
    }
    if (sb->entries > 0)
        sb->entries--;
    uint32_t lines = 0;
    long raw = decode_entry(sp, rep->str, rep->len, &lines);
    if (raw < 0) {
        set_aside(sb, rep->str, rep->len);
        return;
    }
    struct spool_record *rec = rec_alloc(sb);
    if (rec == NULL) { /* cannot happen: LMOVEs are limited by free records */
        log_error("redis: no free drain record for %s; entry stays in flight", sb->key);
        return;
    }
    rec->value = malloc(rep->len);
    if (rec->value == NULL) {
        log_error("redis: out of memory for a drain record; entry stays in flight");
        return;
    }
    memcpy(rec->value, rep->str, rep->len);
    rec->vlen = rep->len;
    rec->charged = pool_charge(&r->pool, rep->len, POOL_QUEUE) == TS_OK ? rep->len : 0;
    rec->lines = lines;
    size_t consumed = 0;
    size_t n = backend_enqueue_lines(sb->be, sp->dbuf, (size_t)raw, &consumed);
    rec->state = consumed == (size_t)raw ? REC_ACTIVE : REC_INCOMPLETE;
    if (rec->state == REC_INCOMPLETE)
        log_error("backend %s: memory exhausted while draining; %zu of %u lines of an entry "
                  "queued, the entry stays in Redis (duplicates after restart)",
                  sb->be->cfg->name, n, lines);
    for (int k = 0; k < sb->be->nconns; k++)
        rec->end[k] = sb->be->conns[k].q.appended;
    sp->st.drains++;
    g_stats.points_unspooled += n;
    drain(sb);
}

static void
drain(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    struct relay *r = sp->r;
    struct backend *be = sb->be;
    if (!sb->mode || sp->state != SP_READY || sp->shutting_down ||
        r->phase != PHASE_RUNNING || !backend_available(be))
        return;
    if (sb->evac_head != NULL || sb->evac_push != NULL)
        return; /* older lines are on their way to the head of the list */
    size_t bs = r->pool.data_size;
    while (sb->lmove_out < MAX_LMOVE_OUT && rec_used(sb) + sb->lmove_out < REC_CAP) {
        uint64_t queued = backend_queued_bytes(be) + (uint64_t)sb->lmove_out * bs;
        if (queued > 0 && queued >= r->cfg.redis.spool_low)
            break;
        if (pool_avail(&r->pool, POOL_QUEUE) < (size_t)(be->nconns + 2) * r->pool.block_size)
            break;
        if (sb->entries == 0 && sb->lmove_out > 0)
            break; /* one probe for an empty list is enough */
        const char *argv[5] = { "LMOVE", sb->key, sb->ikey, "LEFT", "RIGHT" };
        size_t lens[5] = { 5, strlen(sb->key), strlen(sb->ikey), 4, 5 };
        if (!send_cmd(sp, on_lmove, sb, 5, argv, lens))
            break;
        sb->lmove_out++;
    }
}

static struct spool_backend *
rec_owner(const struct spool_record *rec)
{
    /* rec->end[-1] holds the owner (see spool_create) */
    return (struct spool_backend *)(uintptr_t)rec->end[-1];
}

static void
on_lrem(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct spool_record *rec = priv;
    struct spool_backend *sb = rec_owner(rec);
    redisReply *rep = reply;
    sb->sp->pending--;
    rec->lrem_sent = false;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
        return; /* sent again later; recovery sees it as done */
    sb->bytes -= TS_MIN(sb->bytes, rec->vlen);
    sb->sp->st.acks++;
    rec_free(sb, rec);
}

/* Deletes drained entries once every line of them is acknowledged. */
static void
check_records(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    struct backend *be = sb->be;
    if (sb->evac_head != NULL)
        return; /* their lines may be among those not yet in Redis again */
    for (int i = 0; i < REC_CAP; i++) {
        struct spool_record *rec = &sb->rec[i];
        if (rec->state == REC_ACTIVE) {
            bool done = true;
            for (int k = 0; k < be->nconns && done; k++)
                done = be->conns[k].q.acked >= rec->end[k];
            if (!done)
                continue;
            rec->state = REC_DONE;
        }
        if (rec->state == REC_DONE && !rec->lrem_sent && sp->state == SP_READY) {
            const char *argv[4] = { "LREM", sb->ikey, "1", rec->value };
            size_t lens[4] = { 4, strlen(sb->ikey), 1, rec->vlen };
            if (send_cmd(sp, on_lrem, rec, 4, argv, lens))
                rec->lrem_sent = true;
        }
    }
}

/* Redis unreachable, backend healthy: staged blocks go straight to it. */
static void
local_drain(struct spool_backend *sb)
{
    struct relay *r = sb->sp->r;
    struct backend *be = sb->be;
    if (r->phase != PHASE_RUNNING || !backend_available(be))
        return;
    while (sb->staging.head != NULL &&
           backend_queued_bytes(be) < TS_MAX(r->cfg.redis.spool_low, r->pool.data_size)) {
        struct block *b = sb->staging.head;
        if (b == sb->staging.tail && b->len - b->start == 0)
            break;
        size_t consumed = 0;
        size_t n = backend_enqueue_lines(be, b->data + b->start, b->len - b->start, &consumed);
        g_stats.points_unspooled += n;
        b->lines -= (uint32_t)TS_MIN(n, b->lines);
        if (consumed < b->len - b->start) {
            b->start += (uint32_t)consumed;
            sb->staging.acked += consumed;
            break; /* out of memory: continue next tick */
        }
        b = queue_pop_block(&sb->staging);
        pool_put(&r->pool, b);
        sb->sp->st.local_drains++;
    }
}

/* ---- recovery ---------------------------------------------------------- */

static void
on_measured(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = reply;
    sp->pending--;
    if (rep == NULL)
        return;
    /* reply: array [LLEN spool, MEMORY USAGE spool, MEMORY USAGE inflight] */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3) {
        sb->entries = rep->element[0]->type == REDIS_REPLY_INTEGER
                          ? (uint64_t)rep->element[0]->integer : 0;
        uint64_t b = 0;
        for (int i = 1; i < 3; i++)
            if (rep->element[i]->type == REDIS_REPLY_INTEGER)
                b += (uint64_t)rep->element[i]->integer;
        sb->bytes = b;
    }
    if (sb->entries > 0) {
        if (!sb->mode)
            log_info("backend %s: spool holds %llu entries (%llu bytes); draining it first",
                     sb->be->cfg->name, (unsigned long long)sb->entries,
                     (unsigned long long)sb->bytes);
        sb->mode = true;
    }
    sb->recovered = true;
    if (--sp->recovering == 0) {
        sp->state = SP_READY;
        log_info("redis: spool ready");
    }
}

static struct spool_record *
rec_find(struct spool_backend *sb, const char *v, size_t n)
{
    for (int i = 0; i < REC_CAP; i++) {
        struct spool_record *rec = &sb->rec[i];
        if (rec->state != REC_FREE && rec->vlen == n && memcmp(rec->value, v, n) == 0)
            return rec;
    }
    return NULL;
}

static void
on_inflight_listed(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = reply;
    sp->pending--;
    if (rep == NULL)
        return;
    if (rep->type == REDIS_REPLY_ARRAY) {
        /* orphans: in flight in Redis, unknown here -> back to the head */
        size_t norph = 0;
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_STRING)
                continue;
            struct spool_record *rec = rec_find(sb, e->str, e->len);
            if (rec == NULL)
                norph++;
            else if (rec->state == REC_DONE)
                rec->lrem_sent = false; /* check_records sends it again */
        }
        if (norph > 0) {
            const char **argv = calloc(norph + 2, sizeof(*argv));
            size_t *lens = calloc(norph + 2, sizeof(*lens));
            if (argv != NULL && lens != NULL) {
                send1(sp, on_ignore, sp, "MULTI");
                argv[0] = "LPUSH";
                lens[0] = 5;
                argv[1] = sb->key;
                lens[1] = strlen(sb->key);
                size_t k = 2;
                /* LPUSH puts its last argument first: newest orphan first */
                for (size_t i = rep->elements; i-- > 0;) {
                    redisReply *e = rep->element[i];
                    if (e->type == REDIS_REPLY_STRING && rec_find(sb, e->str, e->len) == NULL) {
                        argv[k] = e->str;
                        lens[k] = e->len;
                        k++;
                    }
                }
                send_cmd(sp, on_ignore, sp, (int)k, argv, lens);
                for (size_t i = 0; i < rep->elements; i++) {
                    redisReply *e = rep->element[i];
                    if (e->type == REDIS_REPLY_STRING && rec_find(sb, e->str, e->len) == NULL) {
                        const char *lr[4] = { "LREM", sb->ikey, "1", e->str };
                        size_t lrl[4] = { 4, strlen(sb->ikey), 1, e->len };
                        send_cmd(sp, on_ignore, sp, 4, lr, lrl);
                    }
                }
                send1(sp, on_ignore, sp, "EXEC");
                sp->st.requeued += norph;
                log_info("backend %s: %zu in-flight spool entries from before were put back "
                         "at the head of the spool (their lines may arrive twice)",
                         sb->be->cfg->name, norph);
            }
            free(argv);
            free(lens);
        }
    }
    send1(sp, on_ignore, sp, "MULTI");
    send3(sp, on_ignore, sp, "LLEN", sb->key, NULL, 0);
    const char *mu[4] = { "MEMORY", "USAGE", sb->key, NULL };
    size_t mul[3] = { 6, 5, strlen(sb->key) };
    send_cmd(sp, on_ignore, sp, 3, mu, mul);
    mu[2] = sb->ikey;
    mul[2] = strlen(sb->ikey);
    send_cmd(sp, on_ignore, sp, 3, mu, mul);
    send1(sp, on_measured, sb, "EXEC");
}

static void
recover(struct spool *sp)
{
    sp->recovering = sp->nsb;
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        sb->recovered = false;
        const char *argv[4] = { "LRANGE", sb->ikey, "0", "-1" };
        size_t lens[4] = { 6, strlen(sb->ikey), 1, 2 };
        send_cmd(sp, on_inflight_listed, sb, 4, argv, lens);
    }
}

/* ---- connection -------------------------------------------------------- */

static void
schedule_retry(struct spool *sp)
{
    struct relay *r = sp->r;
    sp->state = SP_DOWN;
    uint64_t d = sp->backoff_ms / 2 + (uint64_t)rand() % (sp->backoff_ms + 1);
    sp->retry_at_ms = now_ms(sp) + d;
    sp->backoff_ms = TS_MIN(sp->backoff_ms * 2, r->cfg.reconnect_max_ms);
}

/* issue 12: a master named by the Sentinels must say so itself (ROLE) */
static void
on_role(void *ctx, bool is_master)
{
    struct spool *sp = ctx;
    if (sp->state != SP_RECOVERING || sp->ac == NULL)
        return;
    if (is_master)
        recover(sp);
    else
        redisAsyncDisconnect(sp->ac); /* on_disconnect: retry, ask again */
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct spool *sp = ac->data;
    ev_timer_stop(sp->r->loop, &sp->connect_timer);
    if (status != REDIS_OK) {
        if (sp->was_up || sp->st.connects == 0)
            log_warn("redis %s:%d: cannot connect: %s; memory-only until it answers",
                     ac->c.tcp.host, ac->c.tcp.port, /* issue 12: the address used */
                     ac->errstr[0] ? ac->errstr : "error");
        sp->was_up = false;
        sp->ac = NULL; /* hiredis frees it */
        schedule_retry(sp);
        return;
    }
    sp->st.connects++;
    sp->backoff_ms = sp->r->cfg.reconnect_min_ms;
    sp->was_up = true;
    log_info("redis %s:%d: connected", ac->c.tcp.host, ac->c.tcp.port); /* issue 12 */
    sp->state = SP_RECOVERING;
    if (sentinel_check_role(sp->master, sp->ac, on_role, sp) == TS_EAGAIN)
        return; /* issue 12: recover once ROLE says master */
    recover(sp);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct spool *sp = ac->data;
    (void)status;
    sp->ac = NULL;
    sp->st.disconnects++;
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        if (sb->failed_head != NULL) {
            queue_prepend_chain(&sb->staging, sb->failed_head, sb->failed_tail);
            sb->failed_head = sb->failed_tail = NULL;
        }
        if (sb->evac_head != NULL) { /* older still: first */
            queue_prepend_chain(&sb->staging, sb->evac_head, sb->evac_tail);
            sb->evac_head = sb->evac_tail = NULL;
        }
        for (int k = 0; k < REC_CAP; k++)
            sb->rec[k].lrem_sent = false;
    }
    sp->pending = 0;
    if (sp->destroying)
        return;
    log_warn("redis: connection lost%s%s; memory-only until it returns",
             ac->errstr[0] ? ": " : "", ac->errstr);
    schedule_retry(sp);
}

static void
on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct spool *sp = container_of(w, struct spool, connect_timer);
    if (sp->state != SP_CONNECTING || sp->ac == NULL)
        return;
    redisAsyncContext *ac = sp->ac;
    sp->ac = NULL;
    redisAsyncFree(ac); /* not connected: no disconnect callback */
    if (sp->was_up || sp->st.connects == 0)
        log_warn("redis: connect timed out; memory-only until it answers");
    sp->was_up = false;
    schedule_retry(sp);
}

static void
sp_connect(struct spool *sp)
{
    struct relay *r = sp->r;
    char host[64];
    int port, found = sentinel_master(sp->master, host, sizeof(host), &port); /* issue 12 */
    if (found == TS_EAGAIN)
        return; /* being resolved or asked for: still SP_DOWN, the tick asks again */
    if (found != TS_OK) {
        schedule_retry(sp);
        return;
    }
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (ac == NULL || ac->err) {
        LOG_RL(LOG_WARN, "redis: connect: %s", ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_retry(sp);
        return;
    }
    ac->data = sp;
    redisLibevAttach(r->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    sp->ac = ac;
    sp->state = SP_CONNECTING;
    ev_timer_set(&sp->connect_timer, (double)r->cfg.redis.connect_timeout_ms / 1000.0, 0.0);
    ev_timer_start(r->loop, &sp->connect_timer);
}

/* ---- public ------------------------------------------------------------ */

int
spool_create(struct relay *r)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return TS_ERROR;
    sp->r = r;
    sp->backoff_ms = r->cfg.reconnect_min_ms;
    sp->inflight_cap = TS_MIN((size_t)8 << 20, r->cfg.memory_limit / 8);
    sp->cctx = ZSTD_createCCtx();
    sp->dctx = ZSTD_createDCtx();
    sp->dcap = r->pool.data_size;
    sp->zcap = SPOOL_HDR_BYTES + ZSTD_compressBound(sp->dcap) + 64;
    sp->zbuf = malloc(sp->zcap);
    sp->dbuf = malloc(sp->dcap);
    sp->nsb = r->nbackends;
    sp->sb = calloc((size_t)sp->nsb, sizeof(*sp->sb));
    if (sp->cctx == NULL || sp->dctx == NULL || sp->zbuf == NULL || sp->dbuf == NULL ||
        sp->sb == NULL) {
        r->spool = sp;
        spool_destroy(r);
        return TS_ERROR;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sp->id_base = ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 20) ^ (uint64_t)ts.tv_nsec;
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        struct backend *be = &r->backends[i];
        sb->sp = sp;
        sb->be = be;
        snprintf(sb->key, sizeof(sb->key), "%s:spool:%s", r->cfg.redis.prefix, be->cfg->name);
        snprintf(sb->ikey, sizeof(sb->ikey), "%s:inflight:%s", r->cfg.redis.prefix,
                 be->cfg->name);
        queue_init(&sb->staging);
        /* per record: [owner pointer][end offsets...]; end[-1] finds sb */
        size_t stride = (size_t)be->nconns + 1;
        sb->rec_end = calloc(REC_CAP * stride, sizeof(uint64_t));
        if (sb->rec_end == NULL) {
            r->spool = sp;
            spool_destroy(r);
            return TS_ERROR;
        }
        for (int k = 0; k < REC_CAP; k++) {
            sb->rec_end[(size_t)k * stride] = (uint64_t)(uintptr_t)sb;
            sb->rec[k].end = &sb->rec_end[(size_t)k * stride + 1];
        }
        be->sp = sb;
    }
    ev_timer_init(&sp->connect_timer, on_connect_timeout, 1.0, 0.0);
    struct resolver_opts ro = { r->cfg.dns_servers, r->cfg.resolve_timeout_ms }; /* issue 12 */
    sp->master = sentinel_new(r->loop, &r->cfg.redis, &ro, &sp->st.master);
    r->spool = sp;
    if (sp->master == NULL) {
        spool_destroy(r);
        return TS_ERROR;
    }
    sp_connect(sp);
    return TS_OK;
}

void
spool_destroy(struct relay *r)
{
    struct spool *sp = r->spool;
    if (sp == NULL)
        return;
    sp->destroying = true;
    ev_timer_stop(r->loop, &sp->connect_timer);
    if (sp->ac != NULL) {
        redisAsyncContext *ac = sp->ac;
        redisAsyncFree(ac);
        sp->ac = NULL;
    }
    sentinel_free(sp->master); /* issue 12 */
    for (int i = 0; i < sp->nsb && sp->sb != NULL; i++) {
        struct spool_backend *sb = &sp->sb[i];
        queue_clear(&sb->staging, &r->pool);
        chain_free(&r->pool, sb->push_head);
        chain_free(&r->pool, sb->failed_head);
        chain_free(&r->pool, sb->evac_head);
        chain_free(&r->pool, sb->evac_push);
        for (int k = 0; k < REC_CAP; k++)
            if (sb->rec[k].state != REC_FREE)
                rec_free(sb, &sb->rec[k]);
        free(sb->rec_end);
        if (sb->be != NULL)
            sb->be->sp = NULL;
    }
    free(sp->sb);
    ZSTD_freeCCtx(sp->cctx);
    ZSTD_freeDCtx(sp->dctx);
    free(sp->zbuf);
    free(sp->dbuf);
    free(sp);
    r->spool = NULL;
}

void
spool_tick(struct relay *r, uint64_t now)
{
    struct spool *sp = r->spool;
    if (sp == NULL)
        return;
    if (sp->state == SP_DOWN && now >= sp->retry_at_ms)
        sp_connect(sp);
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        if (sp->state == SP_READY) {
            push_ready(sb, now, sp->shutting_down);
            check_records(sb);
            drain(sb);
            if (sb->mode && sb->entries == 0 && sb->lmove_out == 0)
                maybe_leave_mode(sb);
        } else if (sp->state == SP_DOWN) {
            local_drain(sb);
        }
    }
}

/* ---- shutdown ---------------------------------------------------------- */

static void
on_evacuated(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct spool_backend *sb = priv;
    struct spool *sp = sb->sp;
    redisReply *rep = reply;
    sp->pending--;
    sb->evac_out--;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        log_error("backend %s: evacuating its queues to Redis failed%s%.*s", sb->be->cfg->name,
                  rep ? ": " : "", rep ? (int)TS_MIN(rep->len, 200) : 0,
                  rep && rep->str ? rep->str : "");
        return;
    }
    /* queues are in Redis now; inflight entries of this backend are gone */
    struct backend *be = sb->be;
    for (int k = 0; k < be->nconns; k++) {
        struct bconn *c = &be->conns[k];
        queue_clear(&c->q, &sp->r->pool);
        c->lines_queued = 0;
    }
    for (int k = 0; k < REC_CAP; k++)
        if (sb->rec[k].state != REC_FREE)
            rec_free(sb, &sb->rec[k]);
}

/* Moves what the backend's connections still hold (unsent and
 * unacknowledged lines) to the head of its spool, and drops its inflight
 * entries, in one transaction. */
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
    if (nblocks == 0 && rec_used(sb) == 0)
        return;
    struct entry_list el = { 0 };
    for (int k = 0; k < be->nconns; k++) {
        if (entries_add_chain(sp, &el, be->conns[k].q.head) != TS_OK) {
            log_error("backend %s: out of memory evacuating its queues", be->cfg->name);
            goto out;
        }
    }
    send1(sp, on_ignore, sp, "MULTI");
    if (el.n > 0)
        entries_lpush(sp, sb->key, &el, on_ignore, sp);
    for (int k = 0; k < REC_CAP; k++) {
        struct spool_record *rec = &sb->rec[k];
        if (rec->state == REC_FREE)
            continue;
        const char *lr[4] = { "LREM", sb->ikey, "1", rec->value };
        size_t lrl[4] = { 4, strlen(sb->ikey), 1, rec->vlen };
        send_cmd(sp, on_ignore, sp, 4, lr, lrl);
    }
    if (send1(sp, on_evacuated, sb, "EXEC"))
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
spool_shutdown_begin(struct relay *r)
{
    struct spool *sp = r->spool;
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
        push_ready(sb, now_ms(sp), true);
    }
}

bool
spool_quiet(const struct relay *r)
{
    const struct spool *sp = r->spool;
    if (sp == NULL || sp->state != SP_READY)
        return true;
    if (sp->pending > 0)
        return false;
    for (int i = 0; i < sp->nsb; i++) {
        const struct spool_backend *sb = &sp->sb[i];
        if (sb->npushing > 0 || !queue_empty(&sb->staging) || sb->evac_out > 0 ||
            sb->evac_head != NULL || sb->evac_push != NULL)
            return false;
    }
    return true;
}

bool
spool_draining(const struct relay *r)
{
    const struct spool *sp = r->spool;
    if (sp == NULL)
        return false;
    for (int i = 0; i < sp->nsb; i++)
        if (sp->sb[i].lmove_out > 0)
            return true;
    return false;
}

const struct spool_stats *
spool_get_stats(const struct relay *r)
{
    return r->spool ? &r->spool->st : NULL;
}

bool
spool_backend_mode(const struct backend *be)
{
    return be->sp != NULL && be->sp->mode;
}

uint64_t
spool_backend_entries(const struct backend *be)
{
    return be->sp ? be->sp->entries : 0;
}

uint64_t
spool_backend_bytes(const struct backend *be)
{
    return be->sp ? be->sp->bytes : 0;
}

uint64_t
spool_backend_staged_bytes(const struct backend *be)
{
    if (be->sp == NULL)
        return 0;
    uint64_t n = queue_bytes(&be->sp->staging);
    const struct block *chains[3] = { be->sp->push_head, be->sp->evac_head, be->sp->evac_push };
    for (int i = 0; i < 3; i++)
        for (const struct block *b = chains[i]; b != NULL; b = b->next)
            n += b->len - b->start;
    return n;
}

uint64_t
spool_total_bytes(const struct relay *r)
{
    return r->spool ? total_bytes(r->spool) : 0;
}

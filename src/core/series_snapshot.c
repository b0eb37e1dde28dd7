/*
 * series_snapshot.c -- the new-series guard kept in Redis across a
 * restart (see series_snapshot.h).
 *
 * The hash <prefix>:<instance>:series has these fields, written in one
 * MULTI/EXEC (the key deleted first: atomic, no field of an older shape
 * left) and read by HMGET:
 *
 *   meta       the shape (a magic word, the byte order, the sizes of an
 *              entry, a HyperLogLog and a filter, the tables' capacities)
 *              and the guard's scalars (which filter is current, their
 *              counts, starts and stashes, the minute of the last count)
 *   minutes    the new series let through per minute, the last 1,440
 *   metrics    the metrics table's entries in use, then hll their
 *   hll        HyperLogLogs (registers only are trusted: the rest is
 *              recomputed)
 *   clients    the clients table's entries in use
 *   filters.K  both filters' buckets, as the mapping holds them, in
 *              chunks of SNAP_CHUNK bytes (K from 0): a large
 *              series-memory stays under Redis' bulk limit (512 MB), and
 *              hiredis' copy of a command or a reply is one chunk, not
 *              the whole filters
 *
 * Everything read is checked against the running guard's shape before
 * anything is copied; sums, heaps and indexes are rebuilt, not read.  It
 * must never run while clients are served and never keep a connection.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/log.h"
#include "base/util.h"
#include "core/series_snapshot.h"

#define SNAP_MAGIC "tsrelay-series-2" /* 1: the filters in one field */
#define SNAP_ORDER 0x01020304u
#define SNAP_FIELDS 5                  /* the fields read at once; then the chunks */
#define SNAP_CHUNK (16u << 20)
#define SNAP_REPLY_TIMEOUT_MS 10000

struct snap_meta {
    char magic[16];
    uint32_t order;
    uint32_t entry_bytes, hll_bytes, minutes;
    uint64_t filter_bytes;          /* each of the two */
    uint64_t metrics_cap, clients_cap, metrics_n, clients_n;
    uint64_t metrics_slot, clients_slot;
    uint64_t saved_ms;
    uint64_t since_ms[2], count[2], stash_bucket[2];
    uint64_t cur_minute;
    uint16_t stash_fp[2];
    uint8_t full[2];
    uint8_t cur, rotated;
    uint8_t pad[2];
};

static const char *const snap_field[SNAP_FIELDS] = {
    "meta", "minutes", "metrics", "hll", "clients",
};

/* ---- the connection ------------------------------------------------------- */

static struct timeval
snap_tv(uint64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

/* AUTH on c when a password is set (the spool's login, rauth.c, for the
 * blocking connection): false when refused.  The reply is never logged
 * (it may echo what was sent). */
static bool
snap_login(redisContext *c, const char *user, const char *pass)
{
    if (pass[0] == '\0')
        return true;
    redisReply *r = user[0] != '\0' ? redisCommand(c, "AUTH %s %s", user, pass)
                                    : redisCommand(c, "AUTH %s", pass);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* A connection to host:port, logged in as user/pass; NULL (logged) when
 * there is none. */
static redisContext *
snap_dial(const char *host, int port, const struct cfg_redis *rc, const char *user,
          const char *pass)
{
    redisContext *c = redisConnectWithTimeout(host, port, snap_tv(rc->connect_timeout_ms));
    if (c == NULL || c->err) {
        log_warn("limits: snapshot: cannot connect to Redis at %s:%d: %s", host, port,
                 c != NULL ? c->errstr : "out of memory");
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, snap_tv(SNAP_REPLY_TIMEOUT_MS));
    if (!snap_login(c, user, pass)) {
        log_warn("limits: snapshot: %s:%d refused the login (AUTH)", host, port);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Whether c says it is a master (ROLE), as the spool checks it: a stale
 * Sentinel may name a replica, which holds an old snapshot and takes no
 * write. */
static bool
snap_is_master(redisContext *c)
{
    redisReply *r = redisCommand(c, "ROLE");
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "master") == 0;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* The master the first Sentinel that knows it names, if it says so. */
static redisContext *
snap_via_sentinels(const struct cfg_redis *rc)
{
    for (int i = 0; i < rc->nsentinels; i++) {
        redisContext *s = snap_dial(rc->sentinels[i].host, atoi(rc->sentinels[i].port), rc,
                                  rc->sentinel_username, rc->sentinel_password);
        if (s == NULL)
            continue;
        redisReply *r = redisCommand(s, "SENTINEL get-master-addr-by-name %s", rc->master_name);
        char host[CFG_HOST_MAX] = "";
        int port = 0;
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING) {
            snprintf(host, sizeof(host), "%s", r->element[0]->str);
            port = atoi(r->element[1]->str);
        }
        if (r != NULL)
            freeReplyObject(r);
        redisFree(s);
        redisContext *c = port > 0 ? snap_dial(host, port, rc, rc->username, rc->password) : NULL;
        if (c != NULL && snap_is_master(c))
            return c;
        if (c != NULL) {
            log_warn("limits: snapshot: %s:%d, named by Sentinel %s:%s, is not the master",
                     host, port, rc->sentinels[i].host, rc->sentinels[i].port);
            redisFree(c);
        }
    }
    log_warn("limits: snapshot: no Sentinel named the master %s", rc->master_name);
    return NULL;
}

static redisContext *
snap_connect(const struct cfg_redis *rc)
{
    if (rc->nsentinels > 0)
        return snap_via_sentinels(rc);
    return snap_dial(rc->addr.host, atoi(rc->addr.port), rc, rc->username, rc->password);
}

static void
snap_key(const struct cfg_redis *rc, const char *instance, char *key, size_t cap)
{
    snprintf(key, cap, "%s:%s:series", rc->prefix, instance);
}

/* ---- writing ---------------------------------------------------------------- */

static void
snap_describe(const struct series_guard *g, uint64_t now, struct snap_meta *m)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->magic, SNAP_MAGIC, sizeof(m->magic));
    m->order = SNAP_ORDER;
    m->entry_bytes = sizeof(struct topk_entry);
    m->hll_bytes = sizeof(struct hll);
    m->minutes = GUARD_MINUTES;
    m->filter_bytes = g->f[0].nbuckets * CUCKOO_BUCKET_BYTES;
    m->metrics_cap = g->metrics.cap;
    m->clients_cap = g->clients.cap;
    m->metrics_n = g->metrics.n;
    m->clients_n = g->clients.n;
    m->metrics_slot = g->metrics.cur_slot;
    m->clients_slot = g->clients.cur_slot;
    m->saved_ms = now;
    for (int i = 0; i < 2; i++) {
        m->since_ms[i] = g->since_ms[i];
        m->count[i] = g->f[i].count;
        m->stash_bucket[i] = g->f[i].stash_bucket;
        m->stash_fp[i] = g->f[i].stash_fp;
        m->full[i] = g->f[i].full;
    }
    m->cur_minute = g->cur_minute;
    m->cur = (uint8_t)g->cur;
    m->rotated = g->rotated;
}

/* The filters' chunks (the last may be shorter). */
static size_t
snap_chunks(const struct snap_meta *m)
{
    return (size_t)((2 * m->filter_bytes + SNAP_CHUNK - 1) / SNAP_CHUNK);
}

/* One command of the transaction: queued (or, for EXEC, its answer an
 * array).  false (logged) otherwise. */
static bool
snap_queue(redisContext *c, const char *key, int argc, const char **argv, const size_t *argl)
{
    redisReply *r = redisCommandArgv(c, argc, argv, argl);
    bool ok = r != NULL && (r->type == REDIS_REPLY_STATUS ||
                            (r->type == REDIS_REPLY_ARRAY && strcmp(argv[0], "EXEC") == 0));
    if (ok && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements && ok; i++)
            ok = r->element[i]->type != REDIS_REPLY_ERROR;
    if (!ok)
        log_warn("limits: snapshot: writing %s failed at %s: %s", key, argv[0],
                 r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str
                                                                      : "an error in EXEC");
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

static bool
snap_queue_simple(redisContext *c, const char *key, const char *cmd, const char *arg,
                  const char *arg2)
{
    const char *argv[3] = { cmd, arg, arg2 };
    size_t argl[3] = { strlen(cmd), arg ? strlen(arg) : 0, arg2 ? strlen(arg2) : 0 };
    return snap_queue(c, key, arg == NULL ? 1 : arg2 == NULL ? 2 : 3, argv, argl);
}

/* MULTI, DEL, the fields, the chunks of the filters, PEXPIRE, EXEC. */
static bool
snap_write(redisContext *c, const char *key, const struct series_guard *g,
           const struct snap_meta *m)
{
    const void *val[SNAP_FIELDS] = { m, g->minute, g->metrics.e, g->hll, g->clients.e };
    size_t vlen[SNAP_FIELDS] = { sizeof(*m), sizeof(g->minute),
                                 m->metrics_n * sizeof(struct topk_entry),
                                 m->metrics_n * sizeof(struct hll),
                                 m->clients_n * sizeof(struct topk_entry) };
    const char *argv[2 + 2 * SNAP_FIELDS];
    size_t argl[2 + 2 * SNAP_FIELDS];
    argv[0] = "HSET", argl[0] = 4;
    argv[1] = key, argl[1] = strlen(key);
    for (int i = 0; i < SNAP_FIELDS; i++) {
        argv[2 + 2 * i] = snap_field[i], argl[2 + 2 * i] = strlen(snap_field[i]);
        argv[3 + 2 * i] = val[i], argl[3 + 2 * i] = vlen[i];
    }
    if (!snap_queue_simple(c, key, "MULTI", NULL, NULL))
        return false;
    bool ok = snap_queue_simple(c, key, "DEL", key, NULL) &&
              snap_queue(c, key, 2 + 2 * SNAP_FIELDS, argv, argl);
    size_t total = 2 * m->filter_bytes;
    for (size_t off = 0, k = 0; ok && off < total; off += SNAP_CHUNK, k++) {
        char field[32];
        snprintf(field, sizeof(field), "filters.%zu", k);
        const char *cv[4] = { "HSET", key, field, (const char *)g->filters + off };
        size_t cl[4] = { 4, strlen(key), strlen(field), TS_MIN((size_t)SNAP_CHUNK, total - off) };
        ok = snap_queue(c, key, 4, cv, cl);
    }
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)SNAPSHOT_TTL_MS);
    ok = ok && snap_queue_simple(c, key, "PEXPIRE", key, ttl);
    if (!ok) {
        (void)snap_queue_simple(c, key, "DISCARD", NULL, NULL);
        return false;
    }
    return snap_queue_simple(c, key, "EXEC", NULL, NULL);
}

int
series_snapshot_save(const struct series_guard *g, const struct cfg_redis *rc,
                     const char *instance)
{
    if (g == NULL || !rc->enabled)
        return TS_OK;
    struct snap_meta m;
    snap_describe(g, g->clock(g), &m);
    char key[CFG_NAME_MAX * 6];
    snap_key(rc, instance, key, sizeof(key));
    redisContext *c = snap_connect(rc);
    if (c == NULL)
        return TS_ERROR;
    bool ok = snap_write(c, key, g, &m);
    redisFree(c);
    if (ok)
        log_info("limits: snapshot of the new-series guard written to %s (%llu + %llu series "
                 "remembered, %zu bytes of filters in %zu chunks)", key,
                 (unsigned long long)m.count[m.cur], (unsigned long long)m.count[m.cur ^ 1],
                 (size_t)(2 * m.filter_bytes), snap_chunks(&m));
    return ok ? TS_OK : TS_ERROR;
}

/* ---- reading ------------------------------------------------------------------ */

/* Why the snapshot r cannot be restored into g, or NULL when it can. */
static const char *
snap_check(const struct series_guard *g, const redisReply *r, const struct snap_meta *m)
{
    if (r->element[0]->len != sizeof(*m))
        return "its description is not this build's";
    if (memcmp(m->magic, SNAP_MAGIC, sizeof(m->magic)) != 0 || m->order != SNAP_ORDER ||
        m->entry_bytes != sizeof(struct topk_entry) || m->hll_bytes != sizeof(struct hll) ||
        m->minutes != GUARD_MINUTES)
        return "written by another build";
    if (m->filter_bytes != g->f[0].nbuckets * CUCKOO_BUCKET_BYTES ||
        m->metrics_cap != g->metrics.cap || m->clients_cap != g->clients.cap)
        return "of another series-memory";
    if (m->metrics_n > m->metrics_cap || m->clients_n > m->clients_cap || m->cur > 1)
        return "damaged (tables)";
    size_t want[SNAP_FIELDS] = { sizeof(*m), sizeof(g->minute),
                                 m->metrics_n * sizeof(struct topk_entry),
                                 m->metrics_n * sizeof(struct hll),
                                 m->clients_n * sizeof(struct topk_entry) };
    for (int i = 1; i < SNAP_FIELDS; i++)
        if (r->element[i]->len != want[i])
            return "damaged (a field's length)";
    for (int i = 0; i < 2; i++)
        if (m->count[i] > g->f[i].capacity + 1 || m->stash_bucket[i] >= g->f[i].nbuckets)
            return "damaged (filters)";
    return NULL;
}

/* The filters' chunks, each read (HMGET: the ACL the spool's user has)
 * and copied in place.  Why not (what was copied is zeroed again: the
 * guard stays empty), or NULL. */
static const char *
snap_read_filters(redisContext *c, const char *key, struct series_guard *g,
                  const struct snap_meta *m)
{
    size_t total = 2 * m->filter_bytes, off = 0;
    const char *why = NULL;
    for (size_t k = 0; off < total && why == NULL; k++) {
        char field[32];
        snprintf(field, sizeof(field), "filters.%zu", k);
        size_t len = TS_MIN((size_t)SNAP_CHUNK, total - off);
        redisReply *r = redisCommand(c, "HMGET %s %s", key, field);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 1)
            why = r != NULL && r->type == REDIS_REPLY_ERROR
                      ? "Redis refused reading a chunk of the filters" : "no answer";
        else if (r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len != len)
            why = "damaged (a chunk of the filters)";
        else {
            memcpy((char *)g->filters + off, r->element[0]->str, len);
            off += len;
        }
        if (r != NULL)
            freeReplyObject(r);
    }
    if (why != NULL)
        memset(g->filters, 0, off);
    return why;
}

/* The per-minute ring and its sums over the hour and the day. */
static void
snap_restore_minutes(struct series_guard *g, const char *data, uint64_t cur_minute)
{
    memcpy(g->minute, data, sizeof(g->minute));
    g->cur_minute = cur_minute;
    g->last_hour = g->last_day = 0;
    for (uint64_t k = 0; k < GUARD_MINUTES; k++) {
        g->last_day += g->minute[k];
        if (k < 60)
            g->last_hour += g->minute[(cur_minute - k) % GUARD_MINUTES];
    }
}

/* All but the filters (read before, in place). */
static void
snap_restore(struct series_guard *g, const redisReply *r, const struct snap_meta *m)
{
    for (int i = 0; i < 2; i++) {
        g->since_ms[i] = m->since_ms[i];
        g->f[i].count = m->count[i];
        g->f[i].stash_bucket = m->stash_bucket[i];
        g->f[i].stash_fp = m->stash_fp[i];
        g->f[i].full = m->full[i] || m->count[i] >= g->f[i].capacity || m->stash_fp[i] != 0;
    }
    g->cur = m->cur;
    g->rotated = m->rotated;
    snap_restore_minutes(g, r->element[1]->str, m->cur_minute);
    memcpy(g->metrics.e, r->element[2]->str, r->element[2]->len);
    topk_rebuild(&g->metrics, m->metrics_n, m->metrics_slot);
    for (size_t i = 0; i < m->metrics_n; i++) {
        const struct hll *h = (const struct hll *)(const void *)
            (r->element[3]->str + i * sizeof(struct hll));
        hll_clear(&g->hll[i]);
        hll_merge_registers(&g->hll[i], h->reg);
    }
    memcpy(g->clients.e, r->element[4]->str, r->element[4]->len);
    topk_rebuild(&g->clients, m->clients_n, m->clients_slot);
}

int
series_snapshot_load(struct series_guard *g, const struct cfg_redis *rc, const char *instance)
{
    if (g == NULL || !rc->enabled)
        return TS_ERROR;
    char key[CFG_NAME_MAX * 6];
    snap_key(rc, instance, key, sizeof(key));
    redisContext *c = snap_connect(rc);
    if (c == NULL)
        return TS_ERROR;
    redisReply *r = redisCommand(c, "HMGET %s %s %s %s %s %s", key, snap_field[0],
                                 snap_field[1], snap_field[2], snap_field[3], snap_field[4]);
    const char *why = NULL;
    struct snap_meta m = { .cur = 0 };
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != SNAP_FIELDS) {
        why = r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no answer";
    } else if (r->element[0]->type != REDIS_REPLY_STRING) {
        log_info("limits: no snapshot at %s: the new-series guard starts empty", key);
        freeReplyObject(r);
        redisFree(c);
        return TS_ERROR;
    } else {
        for (int i = 0; i < SNAP_FIELDS && why == NULL; i++)
            if (r->element[i]->type != REDIS_REPLY_STRING)
                why = "damaged (a field is missing)";
        memcpy(&m, r->element[0]->str, TS_MIN(sizeof(m), r->element[0]->len));
        why = why != NULL ? why : snap_check(g, r, &m);
        why = why != NULL ? why : snap_read_filters(c, key, g, &m);
    }
    if (why == NULL) {
        snap_restore(g, r, &m);
        uint64_t now = g->clock(g);
        log_info("limits: the new-series guard restored from %s, written %llu s ago: %llu + "
                 "%llu series remembered, %llu new series in the last hour", key,
                 (unsigned long long)(now > m.saved_ms ? (now - m.saved_ms) / 1000 : 0),
                 (unsigned long long)m.count[m.cur], (unsigned long long)m.count[m.cur ^ 1],
                 (unsigned long long)g->last_hour);
    } else {
        log_warn("limits: the snapshot at %s is ignored (%s): the new-series guard starts "
                 "empty", key, why);
    }
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    return why == NULL ? TS_OK : TS_ERROR;
}

/*
 * rejected.c -- the points a backend refused for good, kept in Redis, and
 * sent to it again on demand.
 *
 *   keep:    EVAL KEEP 2 <list> <list>:bytes <entry> <max>: RPUSH, the
 *            byte count up, then LPOP while over max (the count down by
 *            each, the number popped returned: dropped).  A script that
 *            may write is refused whole while Redis is over maxmemory,
 *            so the two keys never disagree.
 *   replay:  LLEN (the run: the entries there now), then per step LRANGE
 *            0 k-1, each entry's line handed to the backend's queues
 *            while they take it, then EVAL TRIM (LTRIM past the ones
 *            handed, the count down by their bytes).  A point refused
 *            again is pushed after the run and waits for the next.
 *
 * An entry: "<line>\nreason: <label>: <the TSD's text>\ntime: <UTC>\n
 * backend: <name>" -- the line first, so a replay reads it up to the first
 * newline.  It never blocks and keeps nothing in memory past a command.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/point.h"
#include "base/util.h"
#include "output/backend.h"
#include "base/pool.h"
#include "spool/rejected.h"

static const char rejected_keep_lua[] =
    "redis.call('RPUSH', KEYS[1], ARGV[1]) "
    "local total = redis.call('INCRBY', KEYS[2], #ARGV[1]) "
    "local max = tonumber(ARGV[2]) local dropped = 0 "
    "while total > max do "
    "  local e = redis.call('LPOP', KEYS[1]) "
    "  if not e then redis.call('SET', KEYS[2], 0) break end "
    "  total = redis.call('DECRBY', KEYS[2], #e) dropped = dropped + 1 "
    "end return dropped";

static const char rejected_trim_lua[] =
    "redis.call('LTRIM', KEYS[1], tonumber(ARGV[1]), -1) "
    "local t = redis.call('DECRBY', KEYS[2], tonumber(ARGV[2])) "
    "if t < 0 or redis.call('LLEN', KEYS[1]) == 0 then redis.call('SET', KEYS[2], 0) end "
    "return t";

void
rejected_init(struct rejected *rj, struct rconn *rc, struct pool *pool,
              const struct config *cfg, const char *instance, struct backend *backends,
              const int *nbackends, bool (*ready)(void *ctx), void *ctx)
{
    memset(rj, 0, sizeof(*rj));
    rj->rc = rc;
    rj->pool = pool;
    rj->cfg = cfg;
    rj->instance = instance;
    rj->backends = backends;
    rj->nbackends = nbackends;
    rj->ready = ready;
    rj->ctx = ctx;
}

void
rejected_key(const struct rejected *rj, const struct backend *be, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%s:rejected:%s", rj->cfg->redis.prefix, rj->instance,
             be->cfg->name);
}

/* ---- keeping ---------------------------------------------------------------- */

static size_t
rejected_format(char *out, size_t cap, const struct backend *be, const char *line, size_t len,
                const char *reason, const char *text, size_t tlen)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(out, cap, "%.*s\nreason: %s: %.*s\ntime: %s.%03ldZ\nbackend: %s",
                     (int)TS_MIN(len, (size_t)POINT_LINE_MAX + 32), line, reason,
                     (int)TS_MIN(tlen, (size_t)512), text, when, ts.tv_nsec / 1000000,
                     be->cfg->name);
    return n < 0 ? 0 : TS_MIN((size_t)n, cap - 1);
}

static void
rejected_unkept(struct rejected *rj, const struct backend *be, const char *why, const char *line,
                size_t len)
{
    rj->st.unkept++;
    LOG_RL(LOG_WARN, "backend %s: a refused point not kept (%s): %.*s", be->cfg->name, why,
           (int)TS_MIN(len, (size_t)300), line);
}

static void
rejected_on_kept(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rejected *rj = priv;
    redisReply *rep = rconn_reply(ac, reply);
    rj->outstanding--;
    pool_uncharge(rj->pool, rj->keep_bytes[rj->keep_head], POOL_QUEUE);
    rj->keep_head = (rj->keep_head + 1) % REJECTED_INFLIGHT;
    rj->keep_out--;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        rj->st.unkept++;
        LOG_RL(LOG_WARN, "redis did not keep a refused point: %.*s",
               rep && rep->str ? (int)TS_MIN(rep->len, 200) : 10,
               rep && rep->str ? rep->str : "(no reply)");
        return;
    }
    rj->st.kept++;
    rj->st.dropped += (uint64_t)(rep->integer > 0 ? rep->integer : 0);
}

void
rejected_keep(struct rejected *rj, struct backend *be, const char *line, size_t len,
              const char *reason, const char *text, size_t tlen)
{
    uint64_t max = rj->cfg->redis.rejected_max_bytes;
    if (max == 0)
        return; /* not kept: counted and logged by the caller */
    bool ready = rj->ready(rj->ctx);
    if (!ready || rj->keep_out >= REJECTED_INFLIGHT) {
        rejected_unkept(rj, be, !ready ? "redis not connected" : "too many at once", line, len);
        return;
    }
    char entry[REJECTED_ENTRY_MAX], key[320], bytes_key[340], maxs[24];
    size_t elen = rejected_format(entry, sizeof(entry), be, line, len, reason, text, tlen);
    rejected_key(rj, be, key, sizeof(key));
    snprintf(bytes_key, sizeof(bytes_key), "%s:bytes", key);
    snprintf(maxs, sizeof(maxs), "%llu", (unsigned long long)max);
    const char *argv[7] = { "EVAL", rejected_keep_lua, "2", key, bytes_key, entry, maxs };
    size_t argl[7] = { 4, sizeof(rejected_keep_lua) - 1, 1, strlen(key), strlen(bytes_key),
                       elen, strlen(maxs) };
    /* the command as hiredis holds it until it is written: its words and
     * about 16 bytes of framing each */
    size_t bytes = 0;
    for (int i = 0; i < 7; i++)
        bytes += argl[i] + 16;
    if (pool_charge(rj->pool, bytes, POOL_QUEUE) != TS_OK) {
        rejected_unkept(rj, be, "no memory", line, len);
        return;
    }
    if (!rconn_send(rj->rc, rejected_on_kept, rj, 7, argv, argl)) {
        pool_uncharge(rj->pool, bytes, POOL_QUEUE);
        rj->st.unkept++;
        return;
    }
    rj->keep_bytes[(rj->keep_head + rj->keep_out) % REJECTED_INFLIGHT] = (uint32_t)bytes;
    rj->keep_out++;
    rj->outstanding++;
}

/* ---- replaying ---------------------------------------------------------------- */

static void
rejected_on_trimmed(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rejected_replay *x = priv;
    (void)rconn_reply(ac, reply);
    x->rj->outstanding--;
    x->reading = false;
}

/* Hands the entries' lines to the backend while it takes them; the
 * number handed and their entries' bytes. */
static size_t
rejected_hand(struct backend *be, const redisReply *rep, uint64_t *bytes)
{
    size_t handed = 0;
    *bytes = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING)
            break;
        const char *nl = memchr(e->str, '\n', e->len);
        size_t ll = nl != NULL ? (size_t)(nl - e->str) : e->len;
        char line[POINT_LINE_MAX + 64];
        bool put = ll + 1 < sizeof(line) &&
                   ((ll > 4 && memcmp(e->str, "put ", 4) == 0) ||
                    (ll > 7 && memcmp(e->str, "rollup ", 7) == 0));
        if (put) {
            memcpy(line, e->str, ll);
            line[ll] = '\n';
            if (backend_enqueue(be, point_line_hash(line, ll + 1), line, ll + 1) != TS_OK)
                break; /* no room now: the rest next time */
        } else {
            LOG_RL(LOG_WARN, "backend %s: a kept entry without a put line is dropped: %.*s",
                   be->cfg->name, (int)TS_MIN(e->len, (size_t)100), e->str);
        }
        handed++;
        *bytes += e->len;
    }
    return handed;
}

static void
rejected_on_range(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rejected_replay *rp = priv;
    struct rejected *rj = rp->rj;
    redisReply *rep = rconn_reply(ac, reply);
    rj->outstanding--;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || !rj->ready(rj->ctx)) {
        rp->reading = false;
        return;
    }
    struct backend *be = &rj->backends[rp->idx];
    uint64_t bytes;
    size_t handed = rejected_hand(be, rep, &bytes);
    if (rep->elements == 0)
        rp->left = 0; /* somebody emptied it */
    rp->left -= TS_MIN(rp->left, (uint64_t)handed);
    rj->st.replayed += handed;
    if (rp->left == 0) {
        rp->active = false;
        log_info("backend %s: the kept refused points were handed to it again",
                 be->cfg->name);
    }
    if (handed == 0) {
        rp->reading = false;
        return;
    }
    char key[320], bytes_key[340], ns[24], bs[24];
    rejected_key(rj, be, key, sizeof(key));
    snprintf(bytes_key, sizeof(bytes_key), "%s:bytes", key);
    snprintf(ns, sizeof(ns), "%zu", handed);
    snprintf(bs, sizeof(bs), "%llu", (unsigned long long)bytes);
    const char *argv[7] = { "EVAL", rejected_trim_lua, "2", key, bytes_key, ns, bs };
    size_t argl[7] = { 4, sizeof(rejected_trim_lua) - 1, 1, strlen(key), strlen(bytes_key),
                       strlen(ns), strlen(bs) };
    if (rconn_send(rj->rc, rejected_on_trimmed, rp, 7, argv, argl))
        rj->outstanding++;
    else
        rp->reading = false;
}

static void
rejected_on_len(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rejected_replay *rp = priv;
    redisReply *rep = rconn_reply(ac, reply);
    rp->rj->outstanding--;
    rp->reading = false;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER || rep->integer <= 0) {
        rp->active = false;
        return;
    }
    rp->left = (uint64_t)rep->integer;
    log_info("backend %s: handing %lld kept refused points to it again",
             rp->rj->backends[rp->idx].cfg->name, rep->integer);
}

int
rejected_replay(struct rejected *rj, struct backend *be)
{
    if (!rj->ready(rj->ctx))
        return TS_ERROR;
    struct rejected_replay *rp = &rj->replay[be->idx];
    if (rp->active)
        return TS_EAGAIN;
    rp->rj = rj;
    rp->idx = be->idx;
    char key[320];
    rejected_key(rj, be, key, sizeof(key));
    if (!rconn_send3(rj->rc, rejected_on_len, rp, "LLEN", key, NULL, 0))
        return TS_ERROR;
    rj->outstanding++;
    rp->active = true;
    rp->reading = true;
    rp->left = 0;
    rj->st.replays++;
    return TS_OK;
}

/* Room for a step's lines in the backend's queues. */
static bool
rejected_room(const struct rejected *rj, const struct backend *be)
{
    const struct pool *p = be->env->pool;
    return backend_available(be) && backend_queued_bytes(be) < rj->cfg->redis.spool_low &&
           pool_avail(p, POOL_QUEUE) >
               (size_t)REJECTED_REPLAY_STEP * (POINT_LINE_MAX + 2) + p->block_size;
}

void
rejected_tick(struct rejected *rj)
{
    if (!rj->ready(rj->ctx))
        return;
    for (int i = 0; i < *rj->nbackends; i++) {
        struct rejected_replay *rp = &rj->replay[i];
        struct backend *be = &rj->backends[i];
        if (!rp->active || rp->reading || rp->left == 0 || !rejected_room(rj, be))
            continue;
        char key[320], last[24];
        rejected_key(rj, be, key, sizeof(key));
        snprintf(last, sizeof(last), "%llu",
                 (unsigned long long)TS_MIN(rp->left, (uint64_t)REJECTED_REPLAY_STEP) - 1);
        const char *argv[4] = { "LRANGE", key, "0", last };
        size_t argl[4] = { 6, strlen(key), 1, strlen(last) };
        if (!rconn_send(rj->rc, rejected_on_range, rp, 4, argv, argl))
            continue;
        rj->outstanding++;
        rp->reading = true;
    }
}

/*
 * relay.c -- the data path's core: a client's point through the rules
 * (core/rules.c), a canonical line routed to the backend(s) of its groups
 * (core/flow.c), into their queues or the spool, within each backend's
 * share of the memory budget; and what follows from the limits and the
 * set of backends (the flow, shares, the room a line needs).
 *
 * Called by the clients (through the env the wiring fills), by reload and
 * by the stats timer.  It must never read a socket, never block, and never
 * take a line it has no room for under overflow = block.
 */
#include "autoconf.h"

#include <string.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/util.h"
#include "core/flow.h"
#include "core/relay.h"
#include "core/router.h"
#include "core/series_guard.h"
#include "core/rules.h"
#include "output/backend.h"
#include "spool/spool.h"

/* ---- data path glue ---------------------------------------------------- */

/* Bytes a backend holds in memory: its queues and what waits for Redis. */
static uint64_t
held_bytes(const struct backend *be)
{
    return backend_queued_bytes(be) + spool_backend_staged_bytes(be);
}

void
relay_begin_batch(struct relay *r)
{
    for (int i = 0; i < r->nbackends; i++) {
        struct backend *be = &r->backends[i];
        be->avail_cached = backend_available(be);
        be->spool_cached = spool_should_take(r->spool, be, be->avail_cached);
        be->room_cached = (int64_t)be->max_queue_bytes - (int64_t)held_bytes(be);
    }
}

/* Whether backend be can take a line of len bytes now: the queues have
 * room (a fresh block and a spool entry; new lines leave the spool's drain
 * its room) and the backend is within its share. */
static bool
has_room(const struct relay *r, const struct backend *be, size_t len)
{
    return be->room_cached >= (int64_t)(len + r->line_room) &&
           pool_avail(&r->pool, POOL_QUEUE) >= r->line_room + r->drain_room;
}

static void
drop_line(struct relay *r, struct backend *be)
{
    be->st.dropped++;
    g_stats.points_dropped++;
    LOG_RL(LOG_WARN, "backend %s: its memory share is full: dropping data points "
           "(overflow = drop)", be->cfg->name);
    (void)r;
}

/* The rules were final for this point: dropped (counted, TS_OK) or
 * refused (TS_REFUSED, why filled). */
static int
relay_rules_final(struct relay *r, const struct rules_verdict *v, int rc)
{
    rules_commit(r->flow->rules, v);
    if (v->drop_rule >= 0)
        g_stats.points_rule_dropped++;
    return rc;
}

int
relay_submit_point(struct relay *r, const char *origin, const char *line, size_t len,
                   uint64_t hash, struct point_error *why)
{
    /* the rules: drop, rewrite (into their buffer), the groups */
    struct ruleset *rs = r->flow->rules;
    struct rules_verdict v;
    int rc = rules_apply(rs, line, len, hash, &v, why);
    if (rc != TS_OK || v.drop_rule >= 0)
        return relay_rules_final(r, &v, rc);
    /* what leaves the rules is the series as it will reach the TSD: the
     * new-series guard ([limits]) counts v.line, v.len, v.hash */
    rc = series_guard_admit(r->guard, origin, v.line, v.len, v.hash, why);
    if (rc != TS_OK)
        return relay_rules_final(r, &v, rc);
    rc = relay_submit_to(r, v.groups, v.line, v.len, v.hash);
    if (rc != TS_EAGAIN) /* taken (or dropped by overflow): counted once */
        rules_commit(rs, &v);
    return rc;
}

int
relay_submit_line(struct relay *r, const char *line, size_t len, uint64_t h)
{
    return relay_submit_to(r, 1ull << r->flow->rules->default_group, line, len, h);
}

int
relay_submit_to(struct relay *r, uint64_t groups, const char *line, size_t len, uint64_t h)
{
    int targets[CFG_MAX_BACKENDS];
    int n = flow_targets(r->flow, groups, h, r->backends, targets);
    TS_ASSERT(n >= 1); /* a group has a backend, a point a group */
    /* a target under overflow = block takes the line only when it has room
     * for it; otherwise nothing is done and the decoder comes back with it.
     * A target under overflow = drop loses it alone, counted. */
    for (int i = 0; i < n; i++) {
        struct backend *be = &r->backends[targets[i]];
        if (be->overflow == OVERFLOW_BLOCK && !has_room(r, be, len))
            return TS_EAGAIN;
    }
    int rc = TS_OK;
    for (int i = 0; i < n; i++) {
        struct backend *be = &r->backends[targets[i]];
        if ((be->overflow == OVERFLOW_DROP && !has_room(r, be, len)) ||
            ts_unlikely(be->nconns == 0)) { /* a slot a reload could not set up */
            drop_line(r, be);
            rc = TS_ENOMEM;
            continue;
        }
        int s = be->spool_cached ? spool_offer(be, line, len) : 0;
        if (s == 0)
            s = backend_enqueue(be, h, line, len) == TS_OK ? 1 : TS_ENOMEM;
        TS_ASSERT(s == 1); /* room was there */
        if (s != 1) {
            drop_line(r, be);
            rc = TS_ENOMEM;
            continue;
        }
        be->room_cached -= (int64_t)len;
    }
    flow_count(r->flow, groups);
    g_stats.points_copies += (uint64_t)(n > 1 ? n - 1 : 0);
    return rc;
}

/* Queue bytes one read of a block may need at most: its lines (framed
 * text grows by "put " per line: 1.5x; the rules may add to a line), to
 * every target a point may have, plus a fresh block per connection and a
 * spool entry per target. */
size_t
relay_read_out_bound(const struct relay *r)
{
    size_t targets = flow_max_targets(r->flow);
    size_t conns = flow_max_conns(r->flow, r->backends);
    size_t bs = r->pool.block_size;
    size_t lines = rules_out_bound(r->flow->rules, r->pool.data_size * 3 / 2);
    return targets * (lines + 2 * bs) + conns * bs;
}

void
relay_apply_limits(struct relay *r)
{
    const struct config *cfg = &r->cfg;
    /* each backend's share of the queues: its own key, or an equal part
     * (a retiring backend keeps the share it had) */
    uint64_t queues = r->pool.limit - r->pool.control_reserve;
    int routed = r->flow->nrouted;
    int most_conns = 0;
    for (int i = 0; i < routed; i++) {
        struct backend *be = &r->backends[r->flow->routed[i]];
        be->max_queue_bytes = be->cfg->max_queue_bytes > 0 ? be->cfg->max_queue_bytes
                                                           : queues / (uint64_t)routed;
        most_conns = TS_MAX(most_conns, be->nconns);
    }
    /* a line may need a fresh queue block and a spool entry per target;
     * new lines leave the spool's drain the room it needs (spool.c), so
     * older data is never starved by newer */
    r->line_room = 2 * r->pool.block_size;
    r->drain_room = cfg->redis.enabled ? (size_t)(most_conns + 2) * r->pool.block_size : 0;
    /* a decoder resumes once the queues can take about a read's worth, or
     * an eighth of their room, whichever is more */
    size_t bound = relay_read_out_bound(r);
    r->clients.env.read_out_bound = bound;
    size_t queue_room = r->pool.limit - r->pool.control_reserve - r->pool.input_limit;
    r->adm.room_resume = TS_MAX(bound, queue_room / 8);
    r->adm.room_step = bound;
}

int
relay_build_flow(struct relay *r, char *err, size_t errlen)
{
    const char *names[CFG_MAX_BACKENDS];
    bool routable[CFG_MAX_BACKENDS];
    for (int i = 0; i < r->nbackends; i++) {
        names[i] = r->backends[i].cfg->name;
        routable[i] = !r->backends[i].retiring && !r->backends[i].retired;
    }
    struct flow *f = flow_build(&r->cfg, names, routable, r->nbackends, err, errlen);
    if (f == NULL)
        return TS_ERROR;
    relay_set_flow(r, f);
    return TS_OK;
}

const char *
relay_status_word(const struct relay *r)
{
    if (r->phase != PHASE_RUNNING)
        return "shutting-down";
    int up = 0, routed = 0;
    for (int i = 0; i < r->nbackends; i++) {
        const struct backend *be = &r->backends[i];
        if (be->retired || be->retiring)
            continue;
        routed++;
        up += backend_available(be);
    }
    if (up == routed)
        return "ok";
    if (up > 0 || spool_usable(r->spool))
        return "partial";
    return "error";
}

void
relay_set_flow(struct relay *r, struct flow *f)
{
    flow_carry(f, r->flow);
    flow_free(r->flow);
    r->flow = f;
}

/*
 * fleet.c -- many relays, one Redis: liveness, membership, and taking
 * over the spool of a relay that died.
 *
 *   beat:    every takeover-after / 3: PEXPIRE <me>:alive (a write Redis
 *            serves even at maxmemory); when it is gone, SET it again with
 *            its TTL; SADD <prefix>:instances <me>.
 *   self:    at start and every second while it holds: EXISTS <me>:owner;
 *            while another relay holds our lease our spool is theirs.
 *   scan:    every takeover-after / 3, one member at a time: is it alive?
 *            if not, SCAN its spool lists, LLEN those of backends we have
 *            (others are left, logged and counted), and when one is not
 *            empty, SET <dead>:owner <me> NX PX takeover-after.
 *   drain:   a drain.c per list, through our backend of that name, at its
 *            normal pace (while it is available and under spool-low).
 *   renew:   every takeover-after / 3: GET the lease (not ours any more:
 *            stop at once, forgetting what is in flight), PEXPIRE it, and
 *            EXISTS <dead>:alive (back: release the lease, stop).
 *   done:    every list empty: SREM the member, DEL the lease.
 *
 * There are no in-flight lists: an entry stays in its list until it was
 * delivered, so a taker finds everything a dead relay had, in order.  It
 * never blocks; every command goes over the spool's connection.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "spool/drain.h"
#include "spool/fleet.h"
#include "base/log.h"
#include "base/util.h"

#define SELF_CHECK_MS 1000
#define SCAN_KEYS_MAX 256

enum fstate { F_IDLE = 0, F_BUSY, F_DRAINING };

struct fleet {
    struct fleet_env env;
    char k_instances[160];
    char k_alive[320];
    char k_self_owner[320];
    bool up;
    bool self_held;              /* our lease is held by another relay */
    bool self_known;             /* the first check answered */
    bool self_checking;
    bool beating;
    uint64_t beat_at, scan_at, renew_at, self_at;
    enum fstate state;
    size_t next_member;          /* round robin over the members */
    char victim[256];
    char k_owner[400];
    char k_victim_alive[400];
    uint64_t cursor;             /* SCAN */
    bool renewing;
    struct drain drains[CFG_MAX_BACKENDS];
    struct fleet_gate {
        struct fleet *f;
        int i;
    } gates[CFG_MAX_BACKENDS];       /* what each drain asks before reading on */
    bool active[CFG_MAX_BACKENDS];
    uint64_t counted_deletes, counted_lines;
    struct fleet_stats st;
};

static uint64_t
ttl_ms(const struct fleet *f)
{
    return f->env.cfg->redis.takeover_after_ms;
}

static const char *
prefix(const struct fleet *f)
{
    return f->env.cfg->redis.prefix;
}

static struct rconn *
rc_of(struct fleet *f)
{
    return f->env.rc;
}

static bool may_drain_foreign(void *ctx);

/* ---- liveness --------------------------------------------------------- */

static void
on_alive_set(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    (void)rconn_reply(ac, reply);
}

static void
on_alive_expired(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = rconn_reply(ac, reply);
    f->beating = false;
    if (rep == NULL)
        return;
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1)
        return;
    /* gone (first beat, or expired): set it again */
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)ttl_ms(f));
    const char *argv[5] = { "SET", f->k_alive, "1", "PX", ms };
    size_t lens[5] = { 3, strlen(f->k_alive), 1, 2, strlen(ms) };
    rconn_send(rc_of(f), on_alive_set, f, 5, argv, lens);
}

static void
beat(struct fleet *f)
{
    if (f->beating)
        return;
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)ttl_ms(f));
    const char *argv[3] = { "PEXPIRE", f->k_alive, ms };
    size_t lens[3] = { 7, strlen(f->k_alive), strlen(ms) };
    if (rconn_send(rc_of(f), on_alive_expired, f, 3, argv, lens))
        f->beating = true;
    rconn_send3(rc_of(f), rconn_ignore, NULL, "SADD", f->k_instances, f->env.instance,
                strlen(f->env.instance));
}

static void
on_self_checked(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = rconn_reply(ac, reply);
    f->self_checking = false;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
        return;
    bool held = rep->integer == 1;
    if (held && !f->self_held) {
        f->st.held_off++;
        log_warn("redis: another relay holds the lease on this instance's spool (%s): hands "
                 "off until it lets go", f->k_self_owner);
    } else if (!held && f->self_held) {
        log_info("redis: the lease on this instance's spool was released: it is ours again");
    }
    f->self_held = held;
    f->self_known = true;
}

static void
check_self(struct fleet *f)
{
    if (f->self_checking)
        return;
    if (rconn_send3(rc_of(f), on_self_checked, f, "EXISTS", f->k_self_owner, NULL, 0))
        f->self_checking = true;
}

/* ---- the takeover's end ----------------------------------------------- */

static void
stop_drains(struct fleet *f)
{
    for (int i = 0; i < f->env.nbackends; i++) {
        if (!f->active[i])
            continue;
        drain_forget(&f->drains[i]);
        drain_free(&f->drains[i]);
        f->active[i] = false;
    }
}

static void
release_lease(struct fleet *f)
{
    rconn_send3(rc_of(f), rconn_ignore, NULL, "DEL", f->k_owner, NULL, 0);
}

static void
fleet_finish(struct fleet *f)
{
    stop_drains(f);
    rconn_send3(rc_of(f), rconn_ignore, NULL, "SREM", f->k_instances, f->victim,
                strlen(f->victim));
    release_lease(f);
    log_info("redis: the spool of %s is delivered: it left the fleet", f->victim);
    f->state = F_IDLE;
    f->victim[0] = '\0';
}

/* ---- renewing the lease ----------------------------------------------- */

static void
on_victim_alive(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = rconn_reply(ac, reply);
    if (rep == NULL || f->state != F_DRAINING)
        return;
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1) {
        /* it came back: give it its spool */
        log_info("redis: %s is alive again: releasing its spool", f->victim);
        f->st.released++;
        stop_drains(f);
        release_lease(f);
        f->state = F_IDLE;
    }
}

static void
on_owner_read(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = rconn_reply(ac, reply);
    f->renewing = false;
    if (rep == NULL || f->state != F_DRAINING)
        return;
    bool mine = rep->type == REDIS_REPLY_STRING && rep->len == strlen(f->env.instance) &&
                memcmp(rep->str, f->env.instance, rep->len) == 0;
    if (!mine) {
        /* cannot renew: stop at once; what was in flight stays in the list */
        f->st.leases_lost++;
        log_error("redis: the lease on %s is no longer ours: its drain stops", f->victim);
        stop_drains(f);
        f->state = F_IDLE;
        return;
    }
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)ttl_ms(f));
    const char *argv[3] = { "PEXPIRE", f->k_owner, ms };
    size_t lens[3] = { 7, strlen(f->k_owner), strlen(ms) };
    rconn_send(rc_of(f), rconn_ignore, NULL, 3, argv, lens);
    rconn_send3(rc_of(f), on_victim_alive, f, "EXISTS", f->k_victim_alive, NULL, 0);
}

static void
renew(struct fleet *f)
{
    if (f->renewing)
        return;
    if (rconn_send3(rc_of(f), on_owner_read, f, "GET", f->k_owner, NULL, 0))
        f->renewing = true;
}

/* ---- scanning for the dead --------------------------------------------- */

/* The backend of ours named `name`, or -1 (one a reload removed is not
 * ours any more). */
static int
own_backend(const struct fleet *f, const char *name, size_t len)
{
    for (int i = 0; i < f->env.nbackends; i++) {
        if (f->env.backends[i].retiring || f->env.backends[i].retired)
            continue;
        const char *n = f->env.backends[i].cfg->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return i;
    }
    return -1;
}

struct claim {
    struct fleet *f;
    uint64_t entries[CFG_MAX_BACKENDS];
    bool listed[CFG_MAX_BACKENDS];
};
static struct claim claim; /* one scan at a time */

/* A reply of the scan and claim chain: counted, and returned when it has
 * the type wanted; otherwise NULL and the scan is given up (F_IDLE). */
static redisReply *
scan_reply(struct fleet *f, redisAsyncContext *ac, void *reply, int type)
{
    redisReply *rep = rconn_reply(ac, reply);
    if (rep == NULL || rep->type != type) {
        f->state = F_IDLE;
        return NULL;
    }
    return rep;
}

static void
on_claimed(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = scan_reply(f, ac, reply, REDIS_REPLY_STATUS);
    if (rep == NULL) /* another relay has it (nil), or Redis said no */
        return;
    int n = 0;
    for (int i = 0; i < f->env.nbackends; i++) {
        if (!claim.listed[i] || claim.entries[i] == 0)
            continue;
        char key[400], corrupt[420];
        snprintf(key, sizeof(key), "%s:%s:spool:%s", prefix(f), f->victim,
                 f->env.backends[i].cfg->name);
        snprintf(corrupt, sizeof(corrupt), "%s:corrupt", key);
        f->gates[i] = (struct fleet_gate){.f = f, .i = i};
        if (drain_init(&f->drains[i], rc_of(f), f->env.ec, &f->env.backends[i], f->env.pool, key,
                       corrupt, may_drain_foreign, &f->gates[i]) != TS_OK)
            continue;
        f->drains[i].foreign = true;
        f->drains[i].entries = claim.entries[i];
        f->active[i] = true;
        n++;
    }
    f->st.takeovers++;
    f->state = F_DRAINING;
    f->renew_at = 0;
    log_warn("redis: %s is silent for %llu ms and its spool is not empty: taking it over (%d "
             "lists, through this relay's backends of the same names)",
             f->victim, (unsigned long long)ttl_ms(f), n);
    if (n == 0)
        fleet_finish(f);
}

static void
on_counted(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = scan_reply(f, ac, reply, REDIS_REPLY_ARRAY);
    if (rep == NULL)
        return;
    size_t k = 0;
    bool any = false;
    for (int i = 0; i < f->env.nbackends; i++) {
        if (!claim.listed[i])
            continue;
        if (k < rep->elements && rep->element[k]->type == REDIS_REPLY_INTEGER)
            claim.entries[i] = (uint64_t)rep->element[k]->integer;
        any = any || claim.entries[i] > 0;
        k++;
    }
    if (!any) {
        f->state = F_IDLE;
        return;
    }
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)ttl_ms(f));
    const char *argv[6] = { "SET", f->k_owner, f->env.instance, "NX", "PX", ms };
    size_t lens[6] = { 3, strlen(f->k_owner), strlen(f->env.instance), 2, 2, strlen(ms) };
    if (!rconn_send(rc_of(f), on_claimed, f, 6, argv, lens))
        f->state = F_IDLE;
}

static void scan_keys(struct fleet *f);

static void
on_scanned(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = scan_reply(f, ac, reply, REDIS_REPLY_ARRAY);
    if (rep == NULL)
        return;
    if (rep->elements != 2) {
        f->state = F_IDLE;
        return;
    }
    redisReply *keys = rep->element[1];
    char pfx[400];
    int pl = snprintf(pfx, sizeof(pfx), "%s:%s:spool:", prefix(f), f->victim);
    for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
        redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= (size_t)pl)
            continue;
        const char *name = k->str + pl;
        size_t nl = k->len - (size_t)pl;
        if (nl > 8 && memcmp(name + nl - 8, ":corrupt", 8) == 0)
            continue;
        int b = own_backend(f, name, nl);
        if (b >= 0) {
            claim.listed[b] = true;
        } else {
            f->st.lists_skipped++;
            LOG_RL(LOG_WARN, "redis: %.*s belongs to a backend this relay does not have: left "
                   "in place", (int)k->len, k->str);
        }
    }
    f->cursor = rep->element[0]->type == REDIS_REPLY_STRING ? strtoull(rep->element[0]->str, NULL,
                                                                       10)
                                                            : 0;
    if (f->cursor != 0) {
        scan_keys(f);
        return;
    }
    /* LLEN of the lists we could drain */
    int n = 0;
    rconn_send1(rc_of(f), rconn_ignore, NULL, "MULTI");
    for (int i = 0; i < f->env.nbackends; i++) {
        if (!claim.listed[i])
            continue;
        char key[480];
        snprintf(key, sizeof(key), "%s%s", pfx, f->env.backends[i].cfg->name);
        rconn_send3(rc_of(f), rconn_ignore, NULL, "LLEN", key, NULL, 0);
        n++;
    }
    if (n == 0) {
        rconn_send1(rc_of(f), rconn_ignore, NULL, "DISCARD");
        f->state = F_IDLE;
        return;
    }
    if (!rconn_send1(rc_of(f), on_counted, f, "EXEC"))
        f->state = F_IDLE;
}

static void
scan_keys(struct fleet *f)
{
    char pattern[340], cursor[24];
    snprintf(pattern, sizeof(pattern), "%s:%s:spool:*", prefix(f), f->victim);
    snprintf(cursor, sizeof(cursor), "%llu", (unsigned long long)f->cursor);
    const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
    size_t lens[6] = { 4, strlen(cursor), 5, strlen(pattern), 5, 4 };
    if (!rconn_send(rc_of(f), on_scanned, f, 6, argv, lens))
        f->state = F_IDLE;
}

static void
on_member_alive(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = scan_reply(f, ac, reply, REDIS_REPLY_INTEGER);
    if (rep == NULL)
        return;
    if (rep->integer != 0) { /* alive: nothing to do */
        f->state = F_IDLE;
        return;
    }
    memset(&claim, 0, sizeof(claim));
    claim.f = f;
    f->cursor = 0;
    scan_keys(f);
}

static void
on_members(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fleet *f = priv;
    redisReply *rep = scan_reply(f, ac, reply, REDIS_REPLY_ARRAY);
    if (rep == NULL)
        return;
    /* the next member that is not us, round robin */
    redisReply *pick = NULL;
    for (size_t k = 0; k < rep->elements && pick == NULL; k++) {
        redisReply *e = rep->element[(f->next_member + k) % rep->elements];
        if (e->type == REDIS_REPLY_STRING && e->len < sizeof(f->victim) &&
            !(e->len == strlen(f->env.instance) && memcmp(e->str, f->env.instance, e->len) == 0))
            pick = e;
    }
    f->next_member++;
    if (pick == NULL) {
        f->state = F_IDLE;
        return;
    }
    memcpy(f->victim, pick->str, pick->len);
    f->victim[pick->len] = '\0';
    snprintf(f->k_owner, sizeof(f->k_owner), "%s:%s:owner", prefix(f), f->victim);
    snprintf(f->k_victim_alive, sizeof(f->k_victim_alive), "%s:%s:alive", prefix(f), f->victim);
    if (!rconn_send3(rc_of(f), on_member_alive, f, "EXISTS", f->k_victim_alive, NULL, 0))
        f->state = F_IDLE;
}

static void
scan(struct fleet *f)
{
    f->state = F_BUSY;
    if (!rconn_send3(rc_of(f), on_members, f, "SMEMBERS", f->k_instances, NULL, 0))
        f->state = F_IDLE;
}

/* ---- the takeover's drains --------------------------------------------- */

/* A drain of the dead instance's list may read while the lease is ours,
 * the relay runs, and our backend of that name takes data with its queues
 * under spool-low. */
static bool
may_drain_foreign(void *ctx)
{
    struct fleet_gate *g = ctx;
    struct fleet *f = g->f;
    struct backend *be = &f->env.backends[g->i];
    return f->state == F_DRAINING && f->active[g->i] && f->env.running(f->env.ctx) &&
           backend_available(be) && backend_queued_bytes(be) < f->env.cfg->redis.spool_low;
}

static void
drive_drains(struct fleet *f, uint64_t now)
{
    bool all_empty = true;
    uint64_t deletes = 0, lines = 0;
    for (int i = 0; i < f->env.nbackends; i++) {
        if (!f->active[i])
            continue;
        struct drain *d = &f->drains[i];
        drain_check(d, now);
        if (may_drain_foreign(&f->gates[i]))
            drain_read(d);
        if (d->entries > 0 || !drain_idle(d))
            all_empty = false;
        deletes += d->st.deletes;
        lines += d->st.lines;
    }
    f->st.entries_for_others = f->counted_deletes + deletes;
    f->st.points_for_others = f->counted_lines + lines;
    if (all_empty) {
        f->counted_deletes += deletes;
        f->counted_lines += lines;
        fleet_finish(f);
    }
}

/* ---- public ------------------------------------------------------------ */

struct fleet *
fleet_new(const struct fleet_env *env)
{
    struct fleet *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->env = *env;
    const char *p = env->cfg->redis.prefix;
    snprintf(f->k_instances, sizeof(f->k_instances), "%s:instances", p);
    snprintf(f->k_alive, sizeof(f->k_alive), "%s:%s:alive", p, env->instance);
    snprintf(f->k_self_owner, sizeof(f->k_self_owner), "%s:%s:owner", p, env->instance);
    return f;
}

void
fleet_set_backends(struct fleet *f, int n)
{
    f->env.nbackends = n;
}

void
fleet_free(struct fleet *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < f->env.nbackends; i++)
        if (f->active[i])
            drain_free(&f->drains[i]);
    free(f);
}

void
fleet_up(struct fleet *f)
{
    f->up = true;
    f->beat_at = f->scan_at = f->self_at = 0;
    f->beating = f->self_checking = f->renewing = false;
    for (int i = 0; i < f->env.nbackends; i++)
        if (f->active[i])
            drain_lost(&f->drains[i]);
}

void
fleet_lost(struct fleet *f)
{
    f->up = false;
    f->self_known = false;
    f->beating = f->self_checking = f->renewing = false;
    if (f->state == F_BUSY)
        f->state = F_IDLE;
    for (int i = 0; i < f->env.nbackends; i++)
        if (f->active[i])
            drain_lost(&f->drains[i]);
}

void
fleet_tick(struct fleet *f, uint64_t now)
{
    if (f == NULL || !f->up)
        return;
    uint64_t third = ttl_ms(f) / 3;
    if (now >= f->beat_at) {
        beat(f);
        f->beat_at = now + third;
    }
    if ((f->self_held || !f->self_known) && now >= f->self_at) {
        check_self(f);
        f->self_at = now + SELF_CHECK_MS;
    }
    switch (f->state) {
    case F_IDLE:
        if (now >= f->scan_at && f->env.running(f->env.ctx)) {
            f->scan_at = now + third;
            scan(f);
        }
        break;
    case F_DRAINING:
        if (now >= f->renew_at) {
            renew(f);
            f->renew_at = now + third;
        }
        if (f->state == F_DRAINING)
            drive_drains(f, now);
        break;
    case F_BUSY:
        break;
    }
}

bool
fleet_self_held(const struct fleet *f)
{
    return f != NULL && (f->self_held || !f->self_known);
}

bool
fleet_quiet(const struct fleet *f)
{
    if (f == NULL)
        return true;
    for (int i = 0; i < f->env.nbackends; i++)
        if (f->active[i] && f->drains[i].reading)
            return false;
    return true;
}

const struct fleet_stats *
fleet_get_stats(const struct fleet *f)
{
    return f != NULL ? &f->st : NULL;
}

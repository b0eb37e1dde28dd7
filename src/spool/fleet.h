/*
 * fleet.h -- many relays, one Redis: liveness, membership, and taking
 * over the spool of a relay that died.
 *
 * Owns this instance's keys beside its spool: <prefix>:<instance>:alive
 * (a TTL of takeover-after, refreshed every third of it) and its entry in
 * <prefix>:instances; and, for the whole fleet, the takeover: every relay
 * looks for a member whose liveness expired and whose spool lists are not
 * empty, and one wins a lease on it (SET <prefix>:<dead>:owner <me> NX PX,
 * renewed every third of takeover-after while it works; a relay that
 * cannot renew stops at once).  The winner drains the dead instance's
 * lists through its own backends of the same names (drain.c, at the
 * backends' normal pace; lists of backends it does not have stay, logged
 * and counted); once they are empty the dead instance leaves the set.  An
 * instance that comes back while its lease is held keeps its hands off
 * its spool until the lease is released, which the holder does as soon as
 * it sees the instance alive.  One takeover at a time per relay.  It must
 * never drain a list another relay holds the lease on, and never delete an
 * entry before its lines were delivered.
 */
#ifndef TS_FLEET_H
#define TS_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "spool/entry.h"
#include "base/pool.h"
#include "spool/rconn.h"

struct backend;
struct fleet;

struct fleet_stats {
    uint64_t takeovers;          /* leases won on a dead instance */
    uint64_t entries_for_others; /* entries of dead instances delivered and deleted */
    uint64_t points_for_others;  /* their lines */
    uint64_t lists_skipped;      /* lists of backends this relay does not have */
    uint64_t leases_lost;        /* renewals that found the lease gone */
    uint64_t released;           /* leases given back: the instance came back */
    uint64_t held_off;           /* times this instance found its own spool leased */
};

struct fleet_env {
    struct rconn *rc;
    struct entry_codec *ec;
    struct pool *pool;
    const struct config *cfg;
    struct backend *backends;
    int nbackends;
    const char *instance;
    bool (*running)(void *ctx);
    void *ctx;
};

struct fleet *fleet_new(const struct fleet_env *env);
void fleet_free(struct fleet *f);

/* A reload added backends: env.backends[0..n) now. */
void fleet_set_backends(struct fleet *f, int n);
/* The connection to Redis is up (the spool recovered) / was lost. */
void fleet_up(struct fleet *f);
void fleet_lost(struct fleet *f);
/* Liveness, scans, renewals and the drains of a takeover (every tick). */
void fleet_tick(struct fleet *f, uint64_t now_ms);

/* This instance's own spool is leased by another relay (it came back
 * while being taken over): hands off until released. */
bool fleet_self_held(const struct fleet *f);
/* A takeover's drains are idle (shutdown may proceed). */
bool fleet_quiet(const struct fleet *f);
const struct fleet_stats *fleet_get_stats(const struct fleet *f);

#endif

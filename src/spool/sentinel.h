/*
 * sentinel.h -- where the spool's Redis is: the configured address, or the
 * master that Redis Sentinels name.
 *
 * Owns the answer to "which Redis do I connect to now": without
 * [redis] sentinels, the address (its host name resolved without blocking,
 * anew for every connection attempt); with them, a round of questions
 * (SENTINEL get-master-addr-by-name, hiredis async on the relay's loop,
 * each Sentinel within connect-timeout), asked before every connection
 * attempt: a Sentinel that does not answer, answers nil or errs is passed
 * over for the next; when none names the master the round fails (counted,
 * logged once until a round succeeds) and the caller retries after its
 * backoff.  After connecting, ROLE must say "master" (a Sentinel may be
 * stale); otherwise the caller disconnects and asks again.  It must never
 * block the loop, never hold more than one connection to a Sentinel, and
 * never touch the spool's data: it only names an address.
 */
#ifndef TS_SENTINEL_H
#define TS_SENTINEL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/resolver.h"

struct sentinel;
struct redisAsyncContext;

struct sentinel_stats {
    uint64_t resolve_failures;  /* Redis, Sentinel or master names that did not resolve */
    uint64_t queries;           /* SENTINEL get-master-addr-by-name sent */
    uint64_t failures;          /* rounds in which no Sentinel named the master */
    uint64_t master_changes;    /* the master named differs from the one before */
    uint64_t not_master;        /* a named master whose ROLE was not master */
    uint64_t auth_failures;     /* Sentinels that refused sentinel-password */
};

/* Counts into *st (which must outlive it).  NULL when out of memory. */
struct sentinel *sentinel_new(struct ev_loop *loop, const struct cfg_redis *cfg,
                              const struct resolver_opts *ro, struct sentinel_stats *st);
/* Closes a Sentinel connection in flight. */
void sentinel_free(struct sentinel *s);
bool sentinel_enabled(const struct sentinel *s);

/* The Redis to connect to now, as a numeric address.
 *   TS_OK      ip (cap bytes; INET6_ADDRSTRLEN is enough) and *port hold it;
 *              the next call looks again (resolves, or asks the Sentinels).
 *   TS_EAGAIN  being resolved or asked: call again later (the spool's
 *              tick does, every 20 ms, while it is down).
 *   TS_ERROR   not found this time (counted, logged): retry after a backoff. */
int sentinel_master(struct sentinel *s, char *ip, size_t cap, int *port);

/* Told whether the Redis just connected to is the master. */
typedef void (*sentinel_role_fn)(void *ctx, bool is_master);
/* After a connection to what sentinel_master() named: with Sentinels,
 * sends ROLE on ac and returns TS_EAGAIN, the answer coming through cb
 * (never when ac goes away first); without, TS_OK at once (no check). */
int sentinel_check_role(struct sentinel *s, struct redisAsyncContext *ac, sentinel_role_fn cb,
                        void *ctx);

#endif

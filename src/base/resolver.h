/*
 * resolver.h -- host names to addresses without blocking the loop.
 *
 * Owns, per owner (a backend, the spool's Redis, the Sentinel client), one
 * lookup at a time: c-ares (its sockets watched by libev io watchers, its
 * retransmissions by a timer, on the relay's loop) behind a deadline of
 * resolve-timeout, against the system's resolv.conf or the servers of
 * [relay] dns-servers; and the last answer, nothing more (no cache that
 * grows).  A numeric address is parsed on the spot and never touches
 * DNS.  It must never block the loop (no getaddrinfo() on a name), never
 * have two lookups of one owner in flight, and never log: it says why a
 * lookup failed, its owner decides what to tell.
 */
#ifndef TS_RESOLVER_H
#define TS_RESOLVER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct resolver;

struct resolver_opts {
    const char *servers;        /* "IP[:PORT],...", NULL or "": resolv.conf */
    uint64_t timeout_ms;        /* a lookup's deadline */
};

struct resolver_stats {
    uint64_t lookups;           /* lookups started (names only) */
    uint64_t failures;          /* lookups that failed, timeouts included */
    uint64_t timeouts;          /* lookups cut off at the deadline */
    uint64_t last_ms;           /* how long the last finished lookup took */
};

/* Told when a lookup that resolver_lookup() left in flight finishes
 * (answer or failure).  Called from the loop, never from inside c-ares:
 * the callee may call resolver_lookup() to collect the answer (or start
 * the next lookup), but must not free the resolver. */
typedef void (*resolver_done_fn)(void *ctx);

/* A resolver on loop; opts is copied.  NULL when out of memory. */
struct resolver *resolver_new(struct ev_loop *loop, const struct resolver_opts *opts);
/* Cancels a lookup in flight (its answer is never reported). */
void resolver_free(struct resolver *rs);
void resolver_set_done(struct resolver *rs, resolver_done_fn fn, void *ctx);

/* The address of host:port.
 *   TS_OK      *out holds it: host was numeric, or the lookup started by
 *              an earlier call has answered (the answer is handed out
 *              once; the next call starts a new lookup).  A name with
 *              several addresses gives the next one each time.
 *   TS_EAGAIN  a lookup is in flight (started now when none was): call
 *              again later, or wait for the done callback.
 *   TS_ERROR   the lookup failed (resolver_error() says why); the next
 *              call starts a new one.
 * host and port must not change while a lookup is in flight. */
int resolver_lookup(struct resolver *rs, const char *host, const char *port,
                    struct sockaddr_storage *out, socklen_t *outlen);
/* A lookup is in flight. */
bool resolver_busy(const struct resolver *rs);
/* Why the last lookup failed, "cannot resolve NAME: reason" ("" when it
 * did not). */
const char *resolver_error(const struct resolver *rs);
const struct resolver_stats *resolver_get_stats(const struct resolver *rs);

/* True when host is a numeric IPv4 or IPv6 address. */
bool resolver_is_numeric(const char *host);
/* "IP" of a socket address into buf (INET6_ADDRSTRLEN bytes suffice),
 * and its port; TS_OK or TS_ERROR. */
int resolver_format(const struct sockaddr_storage *sa, char *buf, size_t cap, int *port);

/* Checks "IP[:PORT], ..." for dns-servers: numeric addresses only (IPv6
 * in brackets when a port follows), at most max entries.  TS_OK, or
 * TS_ERROR with a reason in err. */
int resolver_check_servers(const char *list, int max, char *err, size_t errlen);

#endif

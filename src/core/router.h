/*
 * router.h -- picks the backend(s) for a series.
 *
 * Owns the routing policies: hash (a consistent-hash ring over the
 * backends, walked past unavailable ones), roundrobin, failover (first
 * available in configuration order) and all (every backend).  It decides
 * only; it must never queue or hold data.
 */
#ifndef TS_ROUTER_H
#define TS_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"

#define ROUTER_VNODES 128

struct router_vnode {
    uint64_t point;
    int backend;
};

struct router {
    enum routing policy;
    int nbackends;
    struct router_vnode *ring;  /* nbackends * ROUTER_VNODES, sorted */
    int nring;
    uint64_t rr;
};

/* Availability test supplied by the caller (backend_available). */
typedef bool (*router_avail_fn)(void *ctx, int backend);

int router_init(struct router *rt, enum routing policy, const char *const *names, int n);
void router_destroy(struct router *rt);

/* Fills out[] with the backends for this series hash; returns how many
 * (1, or n for ROUTE_ALL).  When no backend is available the owner (ring
 * owner, or the first in order) is returned so data can spool there. */
int router_pick(struct router *rt, uint64_t hash, router_avail_fn avail, void *ctx, int *out);

#endif

/*
 * router.c -- picks the backend(s) for a series.
 *
 * The hash ring has ROUTER_VNODES points per backend, placed by hashing
 * "<name>#<i>", so adding or removing a backend moves only its share of the
 * series.  A series hash maps to the first ring point at or after it; while
 * that backend is unavailable the walk continues to the next distinct one.
 * It must never hold data.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/router.h"
#include "base/util.h"

static int
cmp_vnode(const void *a, const void *b)
{
    const struct router_vnode *x = a, *y = b;
    if (x->point != y->point)
        return x->point < y->point ? -1 : 1;
    return x->backend - y->backend;
}

int
router_init(struct router *rt, enum routing policy, const char *const *names, int n)
{
    memset(rt, 0, sizeof(*rt));
    rt->policy = policy;
    rt->nbackends = n;
    if (n <= 0)
        return TS_ERROR;
    rt->ring = calloc((size_t)n * ROUTER_VNODES, sizeof(*rt->ring));
    if (rt->ring == NULL)
        return TS_ERROR;
    for (int b = 0; b < n; b++) {
        for (int i = 0; i < ROUTER_VNODES; i++) {
            char key[128];
            int len = snprintf(key, sizeof(key), "%s#%d", names[b], i);
            rt->ring[rt->nring].point = XXH3_64bits(key, (size_t)len);
            rt->ring[rt->nring].backend = b;
            rt->nring++;
        }
    }
    qsort(rt->ring, (size_t)rt->nring, sizeof(*rt->ring), cmp_vnode);
    return TS_OK;
}

void
router_destroy(struct router *rt)
{
    free(rt->ring);
    rt->ring = NULL;
}

static int
ring_pick(struct router *rt, uint64_t hash, router_avail_fn avail, void *ctx)
{
    /* first vnode with point >= hash (wrapping) */
    int lo = 0, hi = rt->nring;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (rt->ring[mid].point < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    int start = lo % rt->nring;
    int owner = rt->ring[start].backend;
    if (avail == NULL || avail(ctx, owner))
        return owner;
    for (int k = 1; k < rt->nring; k++) {
        int b = rt->ring[(start + k) % rt->nring].backend;
        if (b != owner && avail(ctx, b))
            return b;
    }
    return owner;
}

int
router_pick(struct router *rt, uint64_t hash, router_avail_fn avail, void *ctx, int *out)
{
    int n = rt->nbackends;
    switch (rt->policy) {
    case ROUTE_ALL:
        for (int i = 0; i < n; i++)
            out[i] = i;
        return n;
    case ROUTE_FAILOVER:
        for (int i = 0; i < n; i++) {
            if (avail == NULL || avail(ctx, i)) {
                out[0] = i;
                return 1;
            }
        }
        out[0] = 0;
        return 1;
    case ROUTE_ROUNDROBIN:
        for (int k = 0; k < n; k++) {
            int b = (int)(rt->rr++ % (uint64_t)n);
            if (avail == NULL || avail(ctx, b)) {
                out[0] = b;
                return 1;
            }
        }
        out[0] = (int)(rt->rr++ % (uint64_t)n);
        return 1;
    case ROUTE_HASH:
    default:
        out[0] = n == 1 ? 0 : ring_pick(rt, hash, avail, ctx);
        return 1;
    }
}

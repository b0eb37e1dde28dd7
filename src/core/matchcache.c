/*
 * matchcache.c -- which rules' match patterns a metric matches,
 * remembered.
 *
 * An entry is the name's hash, its length (0: empty), its bytes, then
 * the mask words; entries are laid out in one block, stride bytes apart.
 * Two-way: a name may sit in either entry of the pair its hash's low
 * bits pick (a new name takes an empty one, else the one not taken
 * last), so two busy names that share a pair do not evict each other on
 * every point.  It must never allocate after init.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "core/matchcache.h"

int
matchcache_init(struct matchcache *mc, size_t bytes, int nbits)
{
    memset(mc, 0, sizeof(*mc));
    mc->words = (nbits + 63) / 64;
    if (mc->words == 0)
        mc->words = 1;
    mc->stride = sizeof(struct mc_entry) + (size_t)mc->words * sizeof(uint64_t);
    size_t n = 2;
    while (n * 2 * mc->stride <= bytes)
        n *= 2;
    if (n * mc->stride > bytes)
        return TS_OK; /* off: not even one pair */
    mc->mem = calloc(n, mc->stride);
    if (mc->mem == NULL)
        return TS_ERROR;
    mc->nslots = n;
    return TS_OK;
}

void
matchcache_free(struct matchcache *mc)
{
    free(mc->mem);
    mc->mem = NULL;
    mc->nslots = 0;
}

size_t
matchcache_bytes(const struct matchcache *mc)
{
    return mc->nslots * mc->stride;
}

uint64_t *
matchcache_put(struct matchcache *mc, const char *name, size_t n, uint64_t h)
{
    if (mc->nslots == 0 || n == 0 || n > MATCHCACHE_NAME_MAX)
        return NULL;
    struct mc_entry *first = matchcache_entry(mc, h, 0);
    size_t k = first->len == 0 ? 0 : matchcache_entry(mc, h, 1)->len == 0 ? 1 : !first->newer;
    first->newer = (uint8_t)k;
    struct mc_entry *e = matchcache_entry(mc, h, k);
    e->hash = h;
    e->len = (uint16_t)n;
    memcpy(e->name, name, n);
    memset(e->mask, 0, (size_t)mc->words * sizeof(uint64_t));
    return e->mask;
}

/*
 * matchcache.c -- which rules' match patterns a metric matches,
 * remembered.
 *
 * An entry is the name's hash, its length (0: empty), its bytes, then
 * the mask words; entries are laid out in one block, stride bytes apart.
 * The slot is the hash's low bits.  It must never allocate after init.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "core/matchcache.h"

struct mc_entry {
    uint64_t hash;
    uint16_t len;                      /* 0: empty */
    char name[MATCHCACHE_NAME_MAX];
    uint64_t mask[];
};

int
matchcache_init(struct matchcache *mc, size_t bytes, int nbits)
{
    memset(mc, 0, sizeof(*mc));
    mc->words = (nbits + 63) / 64;
    if (mc->words == 0)
        mc->words = 1;
    mc->stride = sizeof(struct mc_entry) + (size_t)mc->words * sizeof(uint64_t);
    size_t n = 1;
    while (n * 2 * mc->stride <= bytes)
        n *= 2;
    if (n * mc->stride > bytes)
        return TS_OK; /* off */
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

static inline struct mc_entry *
matchcache_slot(const struct matchcache *mc, uint64_t h)
{
    return (struct mc_entry *)(void *)(mc->mem + (h & (mc->nslots - 1)) * mc->stride);
}

const uint64_t *
matchcache_get(struct matchcache *mc, const char *name, size_t n, uint64_t h)
{
    if (mc->nslots == 0 || n > MATCHCACHE_NAME_MAX) {
        mc->uncached++;
        return NULL;
    }
    struct mc_entry *e = matchcache_slot(mc, h);
    if (e->len == n && e->hash == h && memcmp(e->name, name, n) == 0) {
        mc->hits++;
        return e->mask;
    }
    mc->misses++;
    return NULL;
}

uint64_t *
matchcache_put(struct matchcache *mc, const char *name, size_t n, uint64_t h)
{
    if (mc->nslots == 0 || n == 0 || n > MATCHCACHE_NAME_MAX)
        return NULL;
    struct mc_entry *e = matchcache_slot(mc, h);
    e->hash = h;
    e->len = (uint16_t)n;
    memcpy(e->name, name, n);
    memset(e->mask, 0, (size_t)mc->words * sizeof(uint64_t));
    return e->mask;
}

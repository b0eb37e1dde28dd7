/*
 * matchcache.h -- which rules' match patterns a metric matches,
 * remembered.
 *
 * Owns a fixed table (rule-cache bytes, allocated once per rule set) that
 * maps a metric to a bit mask, one bit per rule: whether its match =
 * pattern matches that metric.  Metrics repeat (a relay sees thousands of
 * names, millions of points), so the patterns run once per name and
 * entry, not once per point.  Direct-mapped: a new name takes its slot;
 * the bytes of the name are kept and compared, so a hit is never a guess.
 * Names longer than MATCHCACHE_NAME_MAX are not cached.  It must never
 * allocate after init.
 */
#ifndef TS_MATCHCACHE_H
#define TS_MATCHCACHE_H

#include <stddef.h>
#include <stdint.h>

#define MATCHCACHE_NAME_MAX 118

struct matchcache {
    unsigned char *mem;
    size_t nslots;       /* a power of two; 0: off */
    size_t stride;       /* bytes per entry */
    int words;           /* mask words per entry */
    uint64_t hits;
    uint64_t misses;
    uint64_t uncached;   /* lookups of names too long to cache, or with it off */
};

/* A table of at most bytes for masks of nbits bits.  TS_OK (off when
 * bytes hold no entry), or TS_ERROR when the memory is refused. */
int matchcache_init(struct matchcache *mc, size_t bytes, int nbits);
void matchcache_free(struct matchcache *mc);
/* Bytes it holds. */
size_t matchcache_bytes(const struct matchcache *mc);

/* The mask remembered for name (n bytes, hash h), or NULL. */
const uint64_t *matchcache_get(struct matchcache *mc, const char *name, size_t n, uint64_t h);
/* The entry for name, taken over (its mask to fill by the caller), or
 * NULL when name is not cached (too long, cache off). */
uint64_t *matchcache_put(struct matchcache *mc, const char *name, size_t n, uint64_t h);

#endif

/*
 * matchcache.h -- which rules' match patterns a metric matches,
 * remembered.
 *
 * Owns a fixed table (rule-cache bytes, allocated once per rule set) that
 * maps a metric to a bit mask, one bit per rule: whether its match =
 * pattern matches that metric.  Metrics repeat (a relay sees thousands of
 * names, millions of points), so the patterns run once per name and
 * entry, not once per point.  Two-way set-associative: a new name takes
 * one of the two entries of its pair; the bytes of the name are kept and
 * compared, so a hit is never a guess.
 * Names longer than MATCHCACHE_NAME_MAX are not cached.  It must never
 * allocate after init.
 */
#ifndef TS_MATCHCACHE_H
#define TS_MATCHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MATCHCACHE_NAME_MAX 117

struct matchcache {
    unsigned char *mem;
    size_t nslots;       /* entries: a power of two, >= 2; 0: off */
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

/* An entry: the name's hash, its length (0: empty), its bytes, the mask
 * words.  Entries are laid out in one block, stride bytes apart, in
 * pairs. */
struct mc_entry {
    uint64_t hash;
    uint16_t len;
    uint8_t newer;                     /* entry 0 of a pair: entry 1 was taken last */
    char name[MATCHCACHE_NAME_MAX];
    uint64_t mask[];
};

/* Entry k (0, 1) of the pair of hash h. */
static inline struct mc_entry *
matchcache_entry(const struct matchcache *mc, uint64_t h, size_t k)
{
    size_t pair = (size_t)h & (mc->nslots / 2 - 1);
    return (struct mc_entry *)(void *)(mc->mem + (2 * pair + k) * mc->stride);
}

/* The mask remembered for name (n bytes, hash h), or NULL (every point
 * asks: inline). */
static inline const uint64_t *
matchcache_get(struct matchcache *mc, const char *name, size_t n, uint64_t h)
{
    if (mc->nslots == 0 || n > MATCHCACHE_NAME_MAX) {
        mc->uncached++;
        return NULL;
    }
    for (size_t k = 0; k < 2; k++) {
        struct mc_entry *e = matchcache_entry(mc, h, k);
        if (e->hash == h && e->len == n && memcmp(e->name, name, n) == 0) {
            mc->hits++;
            return e->mask;
        }
    }
    mc->misses++;
    return NULL;
}
/* The entry for name, taken over (its mask to fill by the caller), or
 * NULL when name is not cached (too long, cache off). */
uint64_t *matchcache_put(struct matchcache *mc, const char *name, size_t n, uint64_t h);

#endif

/*
 * cuckoo.c -- a cuckoo filter of 64-bit hashes (see cuckoo.h).
 *
 * A bucket is one 64-bit word of four 16-bit fingerprints, so a bucket is
 * searched with a few word operations (SWAR); a lookup reads the second
 * bucket only when the first does not hold the item (an insert fills the
 * first when it can, so most lookups of a held item read one cache line:
 * fewer lines pulled through the caches, less of the relay's own data
 * pushed out).  The alternate bucket of fingerprint f in bucket i is
 * (H(f) - i) mod n, H(f) in [0, n) by a multiply: applied twice it gives
 * i back, for any n (no power of two needed, so series-memory is used
 * whole).  It must never allocate and never drop an item it took.
 */
#include "autoconf.h"

#include <math.h>
#include <string.h>

#include "base/cuckoo.h"
#include "base/util.h"

#define LANES 0x0001000100010001ull
#define HIGHS 0x8000800080008000ull

size_t
cuckoo_bytes(size_t bytes)
{
    return TS_MAX(bytes / CUCKOO_BUCKET_BYTES, 2) * CUCKOO_BUCKET_BYTES;
}

void
cuckoo_init(struct cuckoo *c, void *mem, size_t bytes)
{
    memset(c, 0, sizeof(*c));
    c->buckets = mem;
    c->nbuckets = cuckoo_bytes(bytes) / CUCKOO_BUCKET_BYTES;
    c->capacity = c->nbuckets * CUCKOO_SLOTS * CUCKOO_LOAD_PCT / 100;
    c->rng = 0x9E3779B9u;
}

void
cuckoo_clear(struct cuckoo *c)
{
    memset(c->buckets, 0, c->nbuckets * CUCKOO_BUCKET_BYTES);
    c->count = 0;
    c->stash_fp = 0;
    c->stash_bucket = 0;
    c->full = false;
}

/* ---- an item's places --------------------------------------------------- */

static inline uint16_t
cuckoo_fingerprint(uint64_t hash)
{
    uint16_t fp = (uint16_t)(hash >> 48);
    return fp != 0 ? fp : 1;
}

static inline uint64_t
cuckoo_first(const struct cuckoo *c, uint64_t hash)
{
    return ((hash & 0xFFFFFFFFu) * c->nbuckets) >> 32; /* in [0, n) */
}

static inline uint64_t
cuckoo_other(const struct cuckoo *c, uint64_t i, uint16_t fp)
{
    /* H(fp) in [0, n) by a multiply (no division), then (H - i) mod n:
     * an involution on [0, n) */
    uint64_t h = ((((uint64_t)fp * 0x9E3779B97F4A7C15ull) >> 32) * c->nbuckets) >> 32;
    return h >= i ? h - i : h + c->nbuckets - i;
}

/* Whether bucket word b holds fingerprint fp. */
static inline bool
cuckoo_has(uint64_t b, uint16_t fp)
{
    uint64_t x = b ^ (LANES * fp);
    return ((x - LANES) & ~x & HIGHS) != 0;
}

/* Puts fp in a free slot of bucket i: true, or false when it has none. */
static bool
cuckoo_put(struct cuckoo *c, uint64_t i, uint16_t fp)
{
    uint64_t b = c->buckets[i];
    for (int s = 0; s < CUCKOO_SLOTS; s++) {
        if (((b >> (16 * s)) & 0xFFFFu) == 0) {
            c->buckets[i] = b | ((uint64_t)fp << (16 * s));
            return true;
        }
    }
    return false;
}

static uint32_t
cuckoo_random(struct cuckoo *c)
{
    uint32_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    return x;
}

/* ---- lookups and inserts ------------------------------------------------ */

bool
cuckoo_contains(const struct cuckoo *c, uint64_t hash)
{
    uint16_t fp = cuckoo_fingerprint(hash);
    uint64_t i1 = cuckoo_first(c, hash);
    if (cuckoo_has(c->buckets[i1], fp))
        return true; /* most items are in their first bucket: one line read */
    uint64_t i2 = cuckoo_other(c, i1, fp);
    if (cuckoo_has(c->buckets[i2], fp))
        return true;
    return c->stash_fp == fp && (c->stash_bucket == i1 || c->stash_bucket == i2);
}

/* Room for fp by moving others: a random walk of up to CUCKOO_MAX_KICKS
 * swaps starting at bucket i.  When it ends without room, the item in
 * hand goes to the stash (the filter is full from then on). */
static void
cuckoo_kick(struct cuckoo *c, uint64_t i, uint16_t fp)
{
    for (int k = 0; k < CUCKOO_MAX_KICKS; k++) {
        int s = (int)(cuckoo_random(c) % CUCKOO_SLOTS);
        uint64_t b = c->buckets[i];
        uint16_t out = (uint16_t)(b >> (16 * s));
        b &= ~((uint64_t)0xFFFFu << (16 * s));
        c->buckets[i] = b | ((uint64_t)fp << (16 * s));
        fp = out;
        i = cuckoo_other(c, i, fp);
        if (cuckoo_put(c, i, fp))
            return;
    }
    c->stash_fp = fp;
    c->stash_bucket = i;
    c->full = true;
}

int
cuckoo_insert(struct cuckoo *c, uint64_t hash)
{
    if (c->full)
        return TS_ENOMEM;
    uint16_t fp = cuckoo_fingerprint(hash);
    uint64_t i1 = cuckoo_first(c, hash);
    uint64_t i2 = cuckoo_other(c, i1, fp);
    if (!cuckoo_put(c, i1, fp) && !cuckoo_put(c, i2, fp))
        cuckoo_kick(c, cuckoo_random(c) & 1 ? i2 : i1, fp);
    c->count++;
    if (c->count >= c->capacity)
        c->full = true;
    return TS_OK;
}

double
cuckoo_fpr(const struct cuckoo *c)
{
    double slots = (double)(c->nbuckets * CUCKOO_SLOTS);
    double load = slots > 0 ? (double)c->count / slots : 0.0;
    return 1.0 - pow(1.0 - 1.0 / 65535.0, 2.0 * CUCKOO_SLOTS * load);
}

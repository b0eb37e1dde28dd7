/*
 * cuckoo.h -- a cuckoo filter of 64-bit hashes: "was this seen?" in fixed
 * memory, with a known false-positive rate.
 *
 * Owns one table of buckets, four 16-bit fingerprints each (8 bytes),
 * sized once.  An item is its 64-bit hash: the low 32 bits choose its
 * first bucket, the top 16 its fingerprint (never 0: 0 marks a free slot);
 * its second bucket follows from the first and the fingerprint alone
 * (partial-key cuckoo hashing), so an item can move between its two
 * buckets without its hash.  A lookup reads its first bucket, and its
 * second only when the first does not hold it (no third place but a
 * one-item stash); an insert that finds both full moves up to
 * CUCKOO_MAX_KICKS items.  The filter counts itself full at
 * CUCKOO_LOAD_PCT % of its slots, or when a chain of moves found no room
 * (the item moved last then waits in the stash, still found): the owner
 * then starts another filter.  An item never inserted is taken for one
 * that was with probability at most 8 x load / 65535 (1.15e-4 at the
 * full load, 94 %).  Its memory is the caller's (who may map it in huge
 * pages: a lookup is a random read anywhere in it).  It knows nothing of
 * series or time; it must never allocate, and never lose an item it
 * took.
 */
#ifndef TS_CUCKOO_H
#define TS_CUCKOO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CUCKOO_BUCKET_BYTES 8       /* 4 fingerprints of 16 bits */
#define CUCKOO_SLOTS 4
#define CUCKOO_LOAD_PCT 94          /* full at this share of the slots */
#define CUCKOO_MAX_KICKS 500

struct cuckoo {
    uint64_t *buckets;      /* nbuckets x 4 fingerprints */
    uint64_t nbuckets;
    uint64_t count;         /* items held (slots used, and the stash) */
    uint64_t capacity;      /* items it holds when full */
    uint64_t stash_bucket;  /* an item no move found room for */
    uint16_t stash_fp;      /* 0: the stash is empty */
    bool full;              /* takes no more: count reached capacity, or stashed */
    uint32_t rng;           /* xorshift state for choosing what to move */
};

/* Bytes a filter given `bytes` uses: whole buckets, at least 2. */
size_t cuckoo_bytes(size_t bytes);
/* An empty filter in mem: cuckoo_bytes(bytes) bytes, zeroed, 8-byte
 * aligned, the caller's until it stops using the filter. */
void cuckoo_init(struct cuckoo *c, void *mem, size_t bytes);
/* Empty again. */
void cuckoo_clear(struct cuckoo *c);

bool cuckoo_contains(const struct cuckoo *c, uint64_t hash);
/* Takes hash.  TS_OK (held from now on, and the filter may have become
 * full), or TS_ENOMEM: the filter was full already, nothing changed.
 * Inserting an item already held holds it twice (look it up first). */
int cuckoo_insert(struct cuckoo *c, uint64_t hash);

/* The false-positive rate at the load of c: 1 - (1 - 1/65535)^(8 x load). */
double cuckoo_fpr(const struct cuckoo *c);

#endif

/*
 * topk.h -- the heaviest keys of a stream over a sliding window, in a
 * fixed table: space-saving with per-slot counts.
 *
 * Owns a table of `capacity` entries (a 64-bit key, its name as text for
 * people, its counts in TOPK_SLOTS time slots of slot_ms each), an index
 * from key to entry, and a min-heap of the entries by count.  A key not
 * in the table takes the entry of the smallest count and inherits that
 * count as its error (space-saving): every key whose count in the window
 * is over (all counts in the window) / capacity is in the table, and an
 * entry's count is never below its key's true count, nor its count less
 * its error above it.  Counts age by slot: topk_advance drops the slots
 * that left the window (the window is TOPK_SLOTS x slot_ms, its newest
 * slot partial).  Besides its count, an entry keeps `kept`, the part of
 * its own (error-free) count its owner marked as kept (the new-series
 * guard: series let through), and `user`, flags of the owner's, cleared
 * when another key takes the entry.  It knows nothing of series or
 * limits; it must never allocate after topk_init.
 */
#ifndef TS_TOPK_H
#define TS_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPK_SLOTS 12
#define TOPK_NAME_MAX 96

struct topk_entry {
    uint64_t key;
    uint64_t total;               /* count + err over the slots: the rank */
    uint32_t count[TOPK_SLOTS];   /* events counted since the key took the entry */
    uint32_t err[TOPK_SLOTS];     /* inherited from the keys it replaced */
    uint32_t kept[TOPK_SLOTS];    /* the part of count marked kept */
    uint32_t heap_pos;
    uint32_t user;                /* the owner's flags; 0 for a new key */
    uint16_t name_len;
    bool truncated;               /* the name was longer than TOPK_NAME_MAX */
    char name[TOPK_NAME_MAX];
};

struct topk {
    struct topk_entry *e;
    uint32_t *heap;               /* entry indexes, min-heap by total */
    uint32_t *index;              /* open addressing: entry index + 1, 0 free */
    size_t index_mask;
    size_t cap, n;                /* entries, entries in use */
    uint64_t slot_ms;
    uint64_t cur_slot;            /* absolute number of the newest slot */
    uint64_t takeovers;           /* keys that took another's entry */
};

/* Bytes topk_init allocates for `capacity` entries. */
size_t topk_bytes(size_t capacity);
/* A table of capacity entries (>= 1) whose window is TOPK_SLOTS slots of
 * slot_ms; now_ms starts the clock.  TS_OK or TS_ENOMEM. */
int topk_init(struct topk *t, size_t capacity, uint64_t slot_ms, uint64_t now_ms);
void topk_free(struct topk *t);

/* Ages the counts to now_ms: slots that left the window are dropped. */
void topk_advance(struct topk *t, uint64_t now_ms);
/* The entry of key, or -1 when it is not in the table. */
long topk_find(const struct topk *t, uint64_t key);
/* Counts n events of key (named name) in the newest slot, kept of them
 * kept (kept <= n), after topk_advance(now_ms).  Returns the entry's
 * index; *fresh says whether key took it just now (user is 0 then, and
 * the owner resets what it keeps beside the entry). */
size_t topk_add(struct topk *t, uint64_t key, const char *name, size_t name_len, uint32_t n,
                uint32_t kept, uint64_t now_ms, bool *fresh);

/* An entry's count over the window: at most (upper bound, the rank),
 * at least (its own count), and its kept part. */
uint64_t topk_upper(const struct topk *t, size_t i);
uint64_t topk_lower(const struct topk *t, size_t i);
uint64_t topk_kept(const struct topk *t, size_t i);

/* After the first n entries were written back as they were (a snapshot
 * of the same capacity): the index and the heap rebuilt, the clock at
 * cur_slot (topk_advance then ages them).  n > capacity: TS_ERROR,
 * nothing changed. */
int topk_rebuild(struct topk *t, size_t n, uint64_t cur_slot);

/* The indexes of the (at most) n entries of the largest counts, largest
 * first, entries of count 0 left out.  Returns how many. */
size_t topk_top(const struct topk *t, size_t *out, size_t n);

#endif

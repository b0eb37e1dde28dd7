/*
 * pool.h -- the memory budget and its fixed-size block pool.
 *
 * Owns every byte of queued and buffered data: blocks for backend queues,
 * spool staging, client input and replies come from here, and the other
 * large buffers (admitted frames and bodies, Redis commands in flight,
 * stats renderings) are charged to the same budget.  Reserved bytes never
 * exceed memory-limit.  The budget has three classes:
 *
 *   POOL_QUEUE    data on its way to a TSD or Redis: everything but the
 *                 control reserve, less what input holds
 *   POOL_INPUT    client input being received (admitted units) and
 *                 replies to data: at most input-limit, which leaves the
 *                 queues at least memory-limit - control - input-limit
 *   POOL_CONTROL  answers to stats, health and version requests: may use
 *                 the whole budget, and alone the control reserve
 *
 * so a full data path can neither starve the queues of the room that lets
 * them drain nor keep the relay from answering for itself.  It must never
 * hand out memory past the limit and never allocate per line: blocks are
 * recycled.
 */
#ifndef TS_POOL_H
#define TS_POOL_H

#include <stddef.h>
#include <stdint.h>

enum pool_class { POOL_QUEUE = 0, POOL_INPUT = 1, POOL_CONTROL = 2 };
#define POOL_NCLASS 3

struct block {
    struct block *next;
    uint32_t start;    /* first byte still needed */
    uint32_t len;      /* bytes filled */
    union {
        uint64_t base; /* stream offset of data[0] (queue bookkeeping) */
        uint64_t tag;  /* owner's use while in no queue */
    };
    uint64_t stamp;    /* owner's use: e.g. time the first byte arrived */
    uint32_t lines;    /* owner's use: complete lines held */
    uint32_t aux;      /* owner's use */
    uint8_t cls;       /* the budget class it is counted in */
    uint8_t flags;     /* owner's use */
    char data[];
};

struct pool_stats {
    uint64_t gets;          /* blocks handed out */
    uint64_t get_failures;  /* refused: budget exhausted */
    uint64_t charge_failures;
    uint64_t mapped;        /* blocks mapped from the OS */
    uint64_t unmapped;      /* blocks returned to the OS */
};

struct pool {
    size_t block_size;      /* bytes per block, header included */
    size_t data_size;       /* usable bytes per block */
    size_t limit;           /* memory-limit */
    size_t control_reserve; /* the last bytes of the budget: POOL_CONTROL only */
    size_t input_limit;     /* POOL_INPUT's ceiling */
    size_t used[POOL_NCLASS]; /* bytes in use per class, blocks and charges */
    size_t blocks_used;
    size_t blocks_free;
    size_t free_low;        /* low-water mark of blocks_free since last trim */
    size_t peak_used_bytes;
    struct block *free;
    struct pool_stats stats;
};

/* TS_ERROR when the sizes do not fit: block_size >= 256, limit >= a block,
 * control_reserve < limit, input_limit <= limit - control_reserve. */
int pool_init(struct pool *p, size_t block_size, size_t limit, size_t control_reserve,
              size_t input_limit);
/* Returns every free block to the OS; blocks still in use are the
 * owners' responsibility. */
void pool_destroy(struct pool *p);
/* A reload: new limits (same rules as pool_init; TS_ERROR changes
 * nothing).  Memory held over a lowered limit stays until it is given
 * back; nothing new is handed out over it. */
int pool_set_limits(struct pool *p, size_t limit, size_t control_reserve, size_t input_limit);

/* A block with start = len = 0, or NULL when the class's budget is spent. */
struct block *pool_get(struct pool *p, enum pool_class cls);
/* A block for bytes already charged to cls (an admission): the charge
 * becomes the block, nothing is checked.  NULL only if the OS refuses. */
struct block *pool_get_charged(struct pool *p, enum pool_class cls);
void pool_put(struct pool *p, struct block *b);

/* Charges / uncharges bytes allocated elsewhere.  TS_OK or TS_ENOMEM. */
int pool_charge(struct pool *p, size_t bytes, enum pool_class cls);
void pool_uncharge(struct pool *p, size_t bytes, enum pool_class cls);

/* Bytes the class could still take. */
size_t pool_avail(const struct pool *p, enum pool_class cls);
size_t pool_used_bytes(const struct pool *p);
size_t pool_reserved_bytes(const struct pool *p);

/* Returns half of the blocks that stayed idle since the last call to the
 * OS (call it every few seconds). Returns how many were released. */
size_t pool_trim(struct pool *p);

#endif

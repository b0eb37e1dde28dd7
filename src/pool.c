/*
 * pool.c -- the memory budget and its fixed-size block pool.
 *
 * Blocks are mapped one at a time with mmap, so reserved bytes are exactly
 * what the OS gave us and a trimmed block really leaves the RSS.  Free
 * blocks are cached on a list; pool_trim() gives back the idle half.  It
 * must never map past memory-limit.
 */
#include "autoconf.h"

#include <string.h>
#include <sys/mman.h>

#include "pool.h"
#include "util.h"

int
pool_init(struct pool *p, size_t block_size, size_t limit)
{
    memset(p, 0, sizeof(*p));
    if (block_size < 256 || limit < block_size)
        return TS_ERROR;
    p->block_size = block_size;
    p->data_size = block_size - sizeof(struct block);
    p->limit = limit;
    /* Clients may finish a read's worth of lines even when queues have
     * taken their share: 1/16 of the budget, at least 4 blocks. */
    p->reserve = TS_MAX(limit / 16, 4 * block_size);
    if (p->reserve > limit / 2)
        p->reserve = limit / 2;
    return TS_OK;
}

static void
unmap_block(struct pool *p, struct block *b)
{
    munmap(b, p->block_size);
    p->stats.unmapped++;
}

void
pool_destroy(struct pool *p)
{
    while (p->free != NULL) {
        struct block *b = p->free;
        p->free = b->next;
        unmap_block(p, b);
    }
    p->blocks_free = 0;
    p->free_low = 0;
}

size_t
pool_used_bytes(const struct pool *p)
{
    return p->blocks_used * p->block_size + p->charged;
}

size_t
pool_reserved_bytes(const struct pool *p)
{
    return (p->blocks_used + p->blocks_free) * p->block_size + p->charged;
}

static size_t
class_limit(const struct pool *p, enum pool_class cls)
{
    return cls == POOL_CLIENT ? p->limit : p->limit - p->reserve;
}

size_t
pool_avail(const struct pool *p, enum pool_class cls)
{
    size_t used = pool_used_bytes(p);
    size_t lim = class_limit(p, cls);
    return used >= lim ? 0 : lim - used;
}

static void
note_peak(struct pool *p)
{
    size_t used = pool_used_bytes(p);
    if (used > p->peak_used_bytes)
        p->peak_used_bytes = used;
}

/* Makes room for `bytes` of new reservation by unmapping free blocks. */
static int
make_room(struct pool *p, size_t bytes)
{
    while (pool_reserved_bytes(p) + bytes > p->limit) {
        if (p->free == NULL)
            return TS_ENOMEM;
        struct block *b = p->free;
        p->free = b->next;
        p->blocks_free--;
        if (p->free_low > p->blocks_free)
            p->free_low = p->blocks_free;
        unmap_block(p, b);
    }
    return TS_OK;
}

struct block *
pool_get(struct pool *p, enum pool_class cls)
{
    if (pool_used_bytes(p) + p->block_size > class_limit(p, cls)) {
        p->stats.get_failures++;
        return NULL;
    }
    struct block *b = p->free;
    if (b != NULL) {
        p->free = b->next;
        p->blocks_free--;
        if (p->free_low > p->blocks_free)
            p->free_low = p->blocks_free;
    } else {
        if (make_room(p, p->block_size) != TS_OK) {
            p->stats.get_failures++;
            return NULL;
        }
        void *m = mmap(NULL, p->block_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            p->stats.get_failures++;
            return NULL;
        }
        b = m;
        p->stats.mapped++;
    }
    p->blocks_used++;
    p->stats.gets++;
    b->next = NULL;
    b->start = b->len = 0;
    b->base = 0;
    b->stamp = 0;
    b->lines = b->aux = 0;
    note_peak(p);
    return b;
}

void
pool_put(struct pool *p, struct block *b)
{
    if (b == NULL)
        return;
    p->blocks_used--;
    b->next = p->free;
    p->free = b;
    p->blocks_free++;
}

int
pool_charge(struct pool *p, size_t bytes, enum pool_class cls)
{
    if (pool_used_bytes(p) + bytes > class_limit(p, cls) || make_room(p, bytes) != TS_OK) {
        p->stats.charge_failures++;
        return TS_ENOMEM;
    }
    p->charged += bytes;
    note_peak(p);
    return TS_OK;
}

void
pool_uncharge(struct pool *p, size_t bytes)
{
    p->charged -= TS_MIN(bytes, p->charged);
}

size_t
pool_trim(struct pool *p)
{
    size_t n = p->free_low / 2;
    for (size_t i = 0; i < n && p->free != NULL; i++) {
        struct block *b = p->free;
        p->free = b->next;
        p->blocks_free--;
        unmap_block(p, b);
    }
    p->free_low = p->blocks_free;
    return n;
}

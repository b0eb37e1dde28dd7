/*
 * pool.c -- the memory budget and its fixed-size block pool.
 *
 * Blocks are mapped one at a time with mmap, so reserved bytes are exactly
 * what the OS gave us and a trimmed block really leaves the RSS; mapped
 * populated, so a block is resident whole from the start (reserved bytes
 * are resident bytes, and the RSS does not creep as a block kept on the
 * free list is written further than ever before).  Free
 * blocks are cached on a list; pool_trim() gives back the idle half.
 * Every byte in use is counted in exactly one class.  It must never map
 * past memory-limit.
 */
#include "autoconf.h"

#include <string.h>
#include <sys/mman.h>

#include "base/pool.h"
#include "base/util.h"

int
pool_init(struct pool *p, size_t block_size, size_t limit, size_t control_reserve,
          size_t input_limit)
{
    memset(p, 0, sizeof(*p));
    if (block_size < 256 || limit < block_size || control_reserve >= limit ||
        input_limit > limit - control_reserve)
        return TS_ERROR;
    p->block_size = block_size;
    p->data_size = block_size - sizeof(struct block);
    p->limit = limit;
    p->control_reserve = control_reserve;
    p->input_limit = input_limit;
    return TS_OK;
}

int
pool_set_limits(struct pool *p, size_t limit, size_t control_reserve, size_t input_limit)
{
    if (limit < p->block_size || control_reserve >= limit ||
        input_limit > limit - control_reserve)
        return TS_ERROR;
    p->limit = limit;
    p->control_reserve = control_reserve;
    p->input_limit = input_limit;
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
    return p->used[POOL_QUEUE] + p->used[POOL_INPUT] + p->used[POOL_CONTROL];
}

size_t
pool_reserved_bytes(const struct pool *p)
{
    return pool_used_bytes(p) + p->blocks_free * p->block_size;
}

size_t
pool_avail(const struct pool *p, enum pool_class cls)
{
    size_t used = pool_used_bytes(p);
    size_t lim = cls == POOL_CONTROL ? p->limit : p->limit - p->control_reserve;
    size_t avail = used >= lim ? 0 : lim - used;
    if (cls == POOL_INPUT) {
        size_t in = p->used[POOL_INPUT];
        avail = TS_MIN(avail, in >= p->input_limit ? 0 : p->input_limit - in);
    }
    return avail;
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

/* A block off the free list or from the OS; its bytes are not counted. */
static struct block *
take_block(struct pool *p, size_t already_counted)
{
    struct block *b = p->free;
    if (b != NULL) {
        p->free = b->next;
        p->blocks_free--;
        if (p->free_low > p->blocks_free)
            p->free_low = p->blocks_free;
        return b;
    }
    /* the counted bytes are part of the reservation already */
    if (make_room(p, p->block_size - TS_MIN(already_counted, p->block_size)) != TS_OK)
        return NULL;
    void *m = mmap(NULL, p->block_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    p->stats.mapped++;
    return m;
}

static struct block *
hand_out(struct pool *p, struct block *b, enum pool_class cls)
{
    p->blocks_used++;
    p->stats.gets++;
    b->next = NULL;
    b->start = b->len = 0;
    b->base = 0;
    b->stamp = 0;
    b->lines = b->aux = 0;
    b->flags = 0;
    b->cls = (uint8_t)cls;
    note_peak(p);
    return b;
}

struct block *
pool_get(struct pool *p, enum pool_class cls)
{
    if (pool_avail(p, cls) < p->block_size) {
        p->stats.get_failures++;
        return NULL;
    }
    struct block *b = take_block(p, 0);
    if (b == NULL) {
        p->stats.get_failures++;
        return NULL;
    }
    p->used[cls] += p->block_size;
    return hand_out(p, b, cls);
}

struct block *
pool_get_charged(struct pool *p, enum pool_class cls)
{
    struct block *b = take_block(p, p->block_size);
    if (b == NULL) {
        p->stats.get_failures++;
        return NULL;
    }
    return hand_out(p, b, cls);
}

void
pool_put(struct pool *p, struct block *b)
{
    if (b == NULL)
        return;
    TS_ASSERT(p->blocks_used > 0);
    p->blocks_used--;
    p->used[b->cls] -= TS_MIN(p->block_size, p->used[b->cls]);
    b->next = p->free;
    p->free = b;
    p->blocks_free++;
}

int
pool_charge(struct pool *p, size_t bytes, enum pool_class cls)
{
    if (pool_avail(p, cls) < bytes || make_room(p, bytes) != TS_OK) {
        p->stats.charge_failures++;
        return TS_ENOMEM;
    }
    p->used[cls] += bytes;
    note_peak(p);
    return TS_OK;
}

void
pool_uncharge(struct pool *p, size_t bytes, enum pool_class cls)
{
    p->used[cls] -= TS_MIN(bytes, p->used[cls]);
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

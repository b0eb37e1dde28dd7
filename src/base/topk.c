/*
 * topk.c -- the heaviest keys over a sliding window (see topk.h).
 *
 * The index is open addressing with linear probing over a power of two
 * at least twice the capacity (entry index + 1; deletion shifts the
 * cluster back, no tombstones).  The heap orders entries by total; a hit
 * only grows a total, so it sifts down; aging shrinks many totals at
 * once, so topk_advance rebuilds the heap (once per slot_ms at most).
 * It must never allocate after topk_init.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "base/topk.h"
#include "base/util.h"

static size_t
topk_index_size(size_t capacity)
{
    size_t n = 4;
    while (n < 2 * capacity)
        n *= 2;
    return n;
}

size_t
topk_bytes(size_t capacity)
{
    return capacity * (sizeof(struct topk_entry) + sizeof(uint32_t)) +
           topk_index_size(capacity) * sizeof(uint32_t);
}

int
topk_init(struct topk *t, size_t capacity, uint64_t slot_ms, uint64_t now_ms)
{
    memset(t, 0, sizeof(*t));
    capacity = TS_MAX(capacity, 1);
    size_t isz = topk_index_size(capacity);
    t->e = calloc(capacity, sizeof(*t->e));
    t->heap = calloc(capacity, sizeof(*t->heap));
    t->index = calloc(isz, sizeof(*t->index));
    if (t->e == NULL || t->heap == NULL || t->index == NULL) {
        topk_free(t);
        return TS_ENOMEM;
    }
    t->cap = capacity;
    t->index_mask = isz - 1;
    t->slot_ms = TS_MAX(slot_ms, 1);
    t->cur_slot = now_ms / t->slot_ms;
    return TS_OK;
}

void
topk_free(struct topk *t)
{
    free(t->e);
    free(t->heap);
    free(t->index);
    memset(t, 0, sizeof(*t));
}

/* ---- the index ---------------------------------------------------------- */

static size_t
topk_home(const struct topk *t, uint64_t key)
{
    return (size_t)((key ^ (key >> 29)) * 0xBF58476D1CE4E5B9ull >> 20) & t->index_mask;
}

long
topk_find(const struct topk *t, uint64_t key)
{
    for (size_t p = topk_home(t, key);; p = (p + 1) & t->index_mask) {
        uint32_t v = t->index[p];
        if (v == 0)
            return -1;
        if (t->e[v - 1].key == key)
            return (long)(v - 1);
    }
}

static void
topk_index_put(struct topk *t, uint64_t key, size_t i)
{
    size_t p = topk_home(t, key);
    while (t->index[p] != 0)
        p = (p + 1) & t->index_mask;
    t->index[p] = (uint32_t)(i + 1);
}

/* Takes key out of the index, shifting the rest of its cluster back so
 * that every probe still reaches its key. */
static void
topk_index_remove(struct topk *t, uint64_t key)
{
    size_t p = topk_home(t, key);
    while (t->index[p] != 0 && t->e[t->index[p] - 1].key != key)
        p = (p + 1) & t->index_mask;
    TS_ASSERT(t->index[p] != 0);
    if (t->index[p] == 0)
        return;
    size_t hole = p;
    for (size_t q = (p + 1) & t->index_mask; t->index[q] != 0; q = (q + 1) & t->index_mask) {
        size_t home = topk_home(t, t->e[t->index[q] - 1].key);
        /* q's entry may fill the hole when its home is not in (hole, q] */
        bool stays = hole <= q ? (home > hole && home <= q) : (home > hole || home <= q);
        if (!stays) {
            t->index[hole] = t->index[q];
            hole = q;
        }
    }
    t->index[hole] = 0;
}

/* ---- the heap ----------------------------------------------------------- */

static void
topk_heap_set(struct topk *t, size_t pos, uint32_t i)
{
    t->heap[pos] = i;
    t->e[i].heap_pos = (uint32_t)pos;
}

static void
topk_sift_down(struct topk *t, size_t pos)
{
    uint32_t i = t->heap[pos];
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && t->e[t->heap[c + 1]].total < t->e[t->heap[c]].total)
            c++;
        if (t->e[t->heap[c]].total >= t->e[i].total)
            break;
        topk_heap_set(t, pos, t->heap[c]);
        pos = c;
    }
    topk_heap_set(t, pos, i);
}

static void
topk_sift_up(struct topk *t, size_t pos)
{
    uint32_t i = t->heap[pos];
    while (pos > 0) {
        size_t up = (pos - 1) / 2;
        if (t->e[t->heap[up]].total <= t->e[i].total)
            break;
        topk_heap_set(t, pos, t->heap[up]);
        pos = up;
    }
    topk_heap_set(t, pos, i);
}

/* ---- time --------------------------------------------------------------- */

/* Empties slot s of every entry (it leaves the window). */
static void
topk_drop_slot(struct topk *t, size_t s)
{
    for (size_t i = 0; i < t->n; i++) {
        struct topk_entry *e = &t->e[i];
        e->total -= (uint64_t)e->count[s] + e->err[s];
        e->count[s] = e->err[s] = e->kept[s] = 0;
    }
}

void
topk_advance(struct topk *t, uint64_t now_ms)
{
    uint64_t slot = now_ms / t->slot_ms;
    if (slot <= t->cur_slot)
        return;
    uint64_t steps = TS_MIN(slot - t->cur_slot, (uint64_t)TOPK_SLOTS);
    for (uint64_t k = 1; k <= steps; k++)
        topk_drop_slot(t, (size_t)((t->cur_slot + k) % TOPK_SLOTS));
    t->cur_slot = slot;
    for (size_t pos = t->n / 2; pos-- > 0;)
        topk_sift_down(t, pos);
}

/* ---- counting ----------------------------------------------------------- */

/* The entry for a key not in the table: a free one, or the smallest
 * count's, whose counts become the newcomer's error. */
static size_t
topk_take(struct topk *t, uint64_t key)
{
    size_t i;
    if (t->n < t->cap) {
        i = t->n++;
        memset(&t->e[i], 0, sizeof(t->e[i]));
        t->e[i].key = key;
        topk_heap_set(t, t->n - 1, (uint32_t)i);
        topk_sift_up(t, t->n - 1);
    } else {
        i = t->heap[0];
        struct topk_entry *e = &t->e[i];
        topk_index_remove(t, e->key);
        for (size_t s = 0; s < TOPK_SLOTS; s++) {
            e->err[s] += e->count[s];
            e->count[s] = e->kept[s] = 0;
        }
        e->key = key;
        e->user = 0;
        t->takeovers++;
    }
    topk_index_put(t, key, i);
    return i;
}

static void
topk_name(struct topk_entry *e, const char *name, size_t len)
{
    e->truncated = len > TOPK_NAME_MAX;
    len = TS_MIN(len, TOPK_NAME_MAX);
    memcpy(e->name, name, len);
    e->name_len = (uint16_t)len;
}

size_t
topk_add(struct topk *t, uint64_t key, const char *name, size_t name_len, uint32_t n,
         uint32_t kept, uint64_t now_ms, bool *fresh)
{
    topk_advance(t, now_ms);
    long found = topk_find(t, key);
    *fresh = found < 0;
    size_t i = found >= 0 ? (size_t)found : topk_take(t, key);
    struct topk_entry *e = &t->e[i];
    if (*fresh)
        topk_name(e, name, name_len);
    size_t s = (size_t)(t->cur_slot % TOPK_SLOTS);
    TS_ASSERT(kept <= n);
    e->count[s] += n;
    e->kept[s] += TS_MIN(kept, n);
    e->total += n;
    topk_sift_down(t, e->heap_pos);
    return i;
}

int
topk_rebuild(struct topk *t, size_t n, uint64_t cur_slot)
{
    if (n > t->cap)
        return TS_ERROR;
    t->n = n;
    t->cur_slot = cur_slot;
    memset(t->index, 0, (t->index_mask + 1) * sizeof(*t->index));
    for (size_t i = 0; i < n; i++) {
        struct topk_entry *e = &t->e[i];
        e->total = 0; /* recounted: the entries are trusted for nothing */
        for (size_t s = 0; s < TOPK_SLOTS; s++) {
            e->kept[s] = TS_MIN(e->kept[s], e->count[s]);
            e->total += (uint64_t)e->count[s] + e->err[s];
        }
        e->name_len = (uint16_t)TS_MIN(e->name_len, TOPK_NAME_MAX);
        topk_index_put(t, e->key, i);
        topk_heap_set(t, i, (uint32_t)i);
    }
    for (size_t pos = n / 2; pos-- > 0;)
        topk_sift_down(t, pos);
    return TS_OK;
}

uint64_t
topk_upper(const struct topk *t, size_t i)
{
    return t->e[i].total;
}

uint64_t
topk_lower(const struct topk *t, size_t i)
{
    uint64_t sum = 0;
    for (size_t s = 0; s < TOPK_SLOTS; s++)
        sum += t->e[i].count[s];
    return sum;
}

uint64_t
topk_kept(const struct topk *t, size_t i)
{
    uint64_t sum = 0;
    for (size_t s = 0; s < TOPK_SLOTS; s++)
        sum += t->e[i].kept[s];
    return sum;
}

size_t
topk_top(const struct topk *t, size_t *out, size_t n)
{
    size_t got = 0;
    for (size_t i = 0; i < t->n; i++) {
        uint64_t v = t->e[i].total;
        if (v == 0)
            continue;
        /* insertion into the sorted prefix out[0..got) */
        size_t pos = got < n ? got : n;
        while (pos > 0 && t->e[out[pos - 1]].total < v)
            pos--;
        if (pos >= n)
            continue;
        size_t last = got < n ? got : n - 1;
        for (size_t k = last; k > pos; k--)
            out[k] = out[k - 1];
        out[pos] = i;
        if (got < n)
            got++;
    }
    return got;
}

/*
 * jsonarena.c -- YAJL's memory: one arena, reset after every document.
 *
 * A JSON document is parsed one at a time (json.c), so YAJL's small
 * allocations come from a fixed block that is simply forgotten at the end
 * of each document; one that does not fit falls back to malloc (counted).
 * It must never grow: the arena's size is fixed at start.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input/jsonarena.h"

#define ARENA_BYTES (256u << 10)

struct arena_hdr {
    size_t size;
    size_t from_heap;
};

static struct {
    char *base;
    size_t used;
    uint64_t fallback_mallocs;
} arena;

static void *
jsonarena_malloc(void *ctx, size_t n)
{
    (void)ctx;
    size_t need = (n + sizeof(struct arena_hdr) + 15) & ~(size_t)15;
    struct arena_hdr *h;
    if (arena.base != NULL && arena.used + need <= ARENA_BYTES) {
        h = (struct arena_hdr *)(void *)(arena.base + arena.used);
        arena.used += need;
        h->from_heap = 0;
    } else {
        h = malloc(need);
        if (h == NULL)
            return NULL;
        h->from_heap = 1;
        arena.fallback_mallocs++;
    }
    h->size = n;
    return h + 1;
}

static void
jsonarena_free(void *ctx, void *p)
{
    (void)ctx;
    if (p == NULL)
        return;
    struct arena_hdr *h = (struct arena_hdr *)p - 1;
    if (h->from_heap)
        free(h);
}

static void *
jsonarena_realloc(void *ctx, void *p, size_t n)
{
    if (p == NULL)
        return jsonarena_malloc(ctx, n);
    struct arena_hdr *h = (struct arena_hdr *)p - 1;
    if (n <= h->size)
        return p;
    void *q = jsonarena_malloc(ctx, n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, h->size);
    jsonarena_free(ctx, p);
    return q;
}

static yajl_alloc_funcs jsonarena_yajl = { jsonarena_malloc, jsonarena_realloc, jsonarena_free,
                                         NULL };

void
jsonarena_init(void)
{
    if (arena.base == NULL)
        arena.base = malloc(ARENA_BYTES);
}

yajl_alloc_funcs *
jsonarena_funcs(void)
{
    arena.used = 0;
    return arena.base != NULL ? &jsonarena_yajl : NULL;
}

void
jsonarena_reset(void)
{
    arena.used = 0;
}


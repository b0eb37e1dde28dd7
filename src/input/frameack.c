/*
 * frameack.c -- acknowledgements of framed packets on one connection.
 *
 * Marks are checked oldest first; the newest safe one answers for all
 * frames up to its number.  It allocates at connection set-up, and again
 * only when a reload widens the marks.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "input/frameack.h"

size_t
frameack_size(size_t width)
{
    return sizeof(struct frameack) + (2 * FRAMEACK_MARKS + 1) * width * sizeof(uint64_t);
}

struct frameack *
frameack_new(size_t width)
{
    struct frameack *fa = calloc(1, frameack_size(width));
    if (fa == NULL)
        return NULL;
    fa->width = width;
    fa->w = (uint64_t *)(fa + 1);
    fa->s = fa->w + FRAMEACK_MARKS * width;
    fa->begin = fa->s + FRAMEACK_MARKS * width;
    return fa;
}

void
frameack_free(struct frameack *fa)
{
    free(fa);
}

void
frameack_begin(struct frameack *fa, frameack_mark_fn mark, void *ctx)
{
    mark(ctx, fa->begin);
}

void
frameack_note(struct frameack *fa, uint64_t n, frameack_mark_fn mark, void *ctx)
{
    if (n == 0)
        return;
    fa->frames += n;
    unsigned slot;
    if (fa->n < FRAMEACK_MARKS) {
        slot = (fa->head + fa->n) % FRAMEACK_MARKS;
        fa->n++;
        memcpy(fa->s + (size_t)slot * fa->width, fa->begin, fa->width * sizeof(uint64_t));
    } else { /* full: the newest moves forward (and keeps where it began) */
        slot = (fa->head + fa->n - 1) % FRAMEACK_MARKS;
    }
    fa->frame[slot] = fa->frames;
    mark(ctx, fa->w + (size_t)slot * fa->width);
}

const uint64_t *
frameack_mark_at(const struct frameack *fa, unsigned i, const uint64_t **start)
{
    if (i >= fa->n)
        return NULL;
    size_t slot = (fa->head + i) % FRAMEACK_MARKS;
    *start = fa->s + slot * fa->width;
    return fa->w + slot * fa->width;
}

uint64_t
frameack_ready(struct frameack *fa, frameack_safe_fn safe, void *ctx)
{
    uint64_t best = 0;
    while (fa->n > 0 && safe(ctx, fa->w + (size_t)fa->head * fa->width)) {
        best = fa->frame[fa->head];
        fa->head = (fa->head + 1) % FRAMEACK_MARKS;
        fa->n--;
    }
    if (best <= fa->acked)
        return 0;
    fa->acked = best;
    return best;
}

struct frameack *
frameack_remark(struct frameack *fa, size_t width, frameack_mark_fn mark, void *ctx)
{
    struct frameack *nf = fa;
    if (width != fa->width) {
        nf = frameack_new(width);
        if (nf == NULL)
            return NULL;
        nf->frames = fa->frames;
        nf->acked = fa->acked;
        nf->n = fa->n;
        frameack_free(fa);
    }
    if (nf->n > 0) {
        nf->head = 0;
        nf->n = 1;
        nf->frame[0] = nf->frames;
        mark(ctx, nf->w);
        memset(nf->s, 0, nf->width * sizeof(uint64_t)); /* from the start: wider, correct */
    }
    return nf;
}

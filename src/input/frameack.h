/*
 * frameack.h -- acknowledgements of framed packets on one connection
 * (frame-acks = on).
 *
 * Owns the frame count of a connection (from 1, heartbeats too) and a
 * small ring of marks: (the last frame a read completed, a delivery mark
 * taken then).  The owner asks which is the newest frame whose mark is
 * safe and answers "ack N" for it: cumulative, coalesced, never
 * backwards.  When the ring is full the newest mark is moved forward
 * (later frames, a later mark: still correct, only later).  Each mark
 * also keeps where the lines of its frames began (the marks taken before
 * the reads that brought them), so a line a backend refuses for good can
 * be told to the client that may have sent it (frameack_covers).  It must
 * never acknowledge a frame before every line of it is safe.
 */
#ifndef TS_FRAMEACK_H
#define TS_FRAMEACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAMEACK_MARKS 8

typedef void (*frameack_mark_fn)(void *ctx, uint64_t *w);
typedef bool (*frameack_safe_fn)(void *ctx, const uint64_t *w);

struct frameack {
    uint64_t frames;            /* frames completed on the connection */
    uint64_t acked;             /* the last N answered */
    uint64_t frame[FRAMEACK_MARKS];
    uint64_t *w;                /* FRAMEACK_MARKS x width words */
    uint64_t *s;                /* ... and where each began (FRAMEACK_MARKS x width) */
    uint64_t *begin;            /* the mark before the read being decoded */
    size_t width;
    unsigned head, n;
};

/* NULL when out of memory.  width: delivery_width(). */
struct frameack *frameack_new(size_t width);
void frameack_free(struct frameack *fa);
size_t frameack_size(size_t width);

/* A read is about to be decoded: where its lines begin. */
void frameack_begin(struct frameack *fa, frameack_mark_fn mark, void *ctx);
/* n more frames completed: a mark for them. */
void frameack_note(struct frameack *fa, uint64_t n, frameack_mark_fn mark, void *ctx);
/* The i-th waiting mark, oldest first: where its lines began and ended
 * (NULL past the last). */
const uint64_t *frameack_mark_at(const struct frameack *fa, unsigned i, const uint64_t **start);
/* The newest frame now safe and not yet answered, 0 if none; it is then
 * taken as answered. */
uint64_t frameack_ready(struct frameack *fa, frameack_safe_fn safe, void *ctx);
/* The backends changed (a reload) or lines moved between them: the
 * frames waiting are marked again, now, as one (later: still correct),
 * in width words.  Returns fa or its replacement (fa is then freed);
 * NULL when out of memory (fa unchanged). */
struct frameack *frameack_remark(struct frameack *fa, size_t width, frameack_mark_fn mark,
                                 void *ctx);
/* Marks wait. */
static inline bool frameack_pending(const struct frameack *fa) { return fa->n > 0; }

#endif

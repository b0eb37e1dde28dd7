/*
 * queue.h -- an ordered byte stream of complete put lines in pool blocks.
 *
 * Owns a chain of blocks and three stream offsets: appended (end of data),
 * sent (handed to write()) and acked (known delivered).  Lines never span
 * blocks, so every block is a self-contained batch of whole lines.  Blocks
 * are released only once acked.  It must never allocate outside the pool
 * and never split a line.
 */
#ifndef TS_QUEUE_H
#define TS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/pool.h"

struct queue {
    struct block *head;
    struct block *tail;
    struct block *send_blk;  /* block holding the next unsent byte */
    uint64_t appended;       /* stream offset after the last appended byte */
    uint64_t sent;           /* stream offset of the next byte to send */
    uint64_t acked;          /* bytes below this offset are delivered */
    size_t nblocks;
};

void queue_init(struct queue *q);
/* Returns every block to the pool. */
void queue_clear(struct queue *q, struct pool *p);

/* Room for `need` contiguous bytes at the tail (a new block if the tail is
 * too full).  NULL when the pool refuses.  Write there, then commit. */
char *queue_reserve(struct queue *q, struct pool *p, enum pool_class cls, size_t need);
void queue_commit(struct queue *q, size_t len);
/* Copies one or more whole lines (len <= block data size). */
int queue_append(struct queue *q, struct pool *p, enum pool_class cls, const char *data,
                 size_t len);

static inline uint64_t queue_bytes(const struct queue *q) { return q->appended - q->acked; }
static inline uint64_t queue_unsent(const struct queue *q) { return q->appended - q->sent; }
static inline uint64_t queue_unacked(const struct queue *q) { return q->sent - q->acked; }
static inline bool queue_empty(const struct queue *q) { return q->head == NULL; }

/* Fills up to max iovecs with unsent data; returns how many. */
int queue_iov(const struct queue *q, struct iovec *iov, int max);
/* The same, stopping at stream offset `limit`. */
int queue_iov_limit(const struct queue *q, struct iovec *iov, int max, uint64_t limit);
/* Stream offset just past the n-th "\n" at or after `from` (appended
 * when there are fewer). */
uint64_t queue_offset_after_lines(const struct queue *q, uint64_t from, uint64_t n);
void queue_mark_sent(struct queue *q, size_t n);
/* Everything below `acked` is delivered: frees fully delivered blocks. */
void queue_mark_acked(struct queue *q, struct pool *p, uint64_t acked);
/* The connection carrying the stream failed: unacknowledged bytes become
 * unsent again, from the start of the line holding the first of them. */
void queue_rewind(struct queue *q);

/* Detaches the head block (whole, unsent data only: the queue must have
 * sent == acked == head start).  Used by spool staging. */
struct block *queue_pop_block(struct queue *q);
/* Appends a whole block to the tail (takes ownership). */
void queue_push_block(struct queue *q, struct block *b);
/* Puts a chain of blocks popped earlier back in front of the head, in
 * order (first..last linked through next). */
void queue_prepend_chain(struct queue *q, struct block *first, struct block *last);
/* Takes every block out (the queue is left empty, offsets at its end);
 * *first..*last is the chain, NULL when there was none. */
void queue_detach_all(struct queue *q, struct block **first, struct block **last);
/* The bytes at stream offset `off` up to the end of its block: *p and
 * their length, 0 when the queue holds no byte at off. */
size_t queue_peek(const struct queue *q, uint64_t off, const char **p);
/* Number of "\n" bytes at stream offsets [from, to). */
uint64_t queue_count_lines(const struct queue *q, uint64_t from, uint64_t to);

#endif

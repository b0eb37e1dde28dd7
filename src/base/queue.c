/*
 * queue.c -- an ordered byte stream of complete put lines in pool blocks.
 *
 * Offsets are 64-bit stream positions; a block's `base` is the position of
 * its data[0], and data[start..len) is what the queue still holds.  It must
 * never free a block that holds unacknowledged bytes.
 */
#include "autoconf.h"

#include <string.h>

#include "base/queue.h"
#include "base/util.h"

void
queue_init(struct queue *q)
{
    memset(q, 0, sizeof(*q));
}

void
queue_clear(struct queue *q, struct pool *p)
{
    struct block *b = q->head;
    while (b != NULL) {
        struct block *n = b->next;
        pool_put(p, b);
        b = n;
    }
    q->head = q->tail = q->send_blk = NULL;
    q->nblocks = 0;
    q->sent = q->acked = q->appended;
}

static void
link_block(struct queue *q, struct block *b)
{
    b->next = NULL;
    if (q->tail != NULL)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->nblocks++;
    if (q->send_blk == NULL)
        q->send_blk = b;
}

char *
queue_reserve(struct queue *q, struct pool *p, enum pool_class cls, size_t need)
{
    struct block *t = q->tail;
    if (t != NULL && p->data_size - t->len >= need)
        return t->data + t->len;
    if (need > p->data_size)
        return NULL;
    struct block *b = pool_get(p, cls);
    if (b == NULL)
        return NULL;
    b->base = q->appended;
    link_block(q, b);
    return b->data;
}

void
queue_commit(struct queue *q, size_t len)
{
    q->tail->len += (uint32_t)len;
    q->appended += len;
}

int
queue_append(struct queue *q, struct pool *p, enum pool_class cls, const char *data,
             size_t len)
{
    char *dst = queue_reserve(q, p, cls, len);
    if (dst == NULL)
        return TS_ENOMEM;
    memcpy(dst, data, len);
    queue_commit(q, len);
    return TS_OK;
}

int
queue_iov_limit(const struct queue *q, struct iovec *iov, int max, uint64_t limit)
{
    int n = 0;
    uint64_t pos = q->sent;
    for (struct block *b = q->send_blk; b != NULL && n < max && pos < limit; b = b->next) {
        uint64_t end = TS_MIN(b->base + b->len, limit);
        if (pos >= end)
            continue;
        size_t off = (size_t)(pos - b->base);
        iov[n].iov_base = b->data + off;
        iov[n].iov_len = (size_t)(end - pos);
        n++;
        pos = end;
    }
    return n;
}

size_t
queue_peek(const struct queue *q, uint64_t off, const char **p)
{
    for (const struct block *b = q->head; b != NULL; b = b->next) {
        if (off < b->base + b->start || off >= b->base + b->len)
            continue;
        *p = b->data + (off - b->base);
        return (size_t)(b->base + b->len - off);
    }
    *p = NULL;
    return 0;
}

int
queue_iov(const struct queue *q, struct iovec *iov, int max)
{
    return queue_iov_limit(q, iov, max, q->appended);
}

uint64_t
queue_offset_after_lines(const struct queue *q, uint64_t from, uint64_t n)
{
    if (n == 0)
        return from;
    for (const struct block *b = q->head; b != NULL; b = b->next) {
        uint64_t bs = b->base + b->start, be = b->base + b->len;
        if (be <= from)
            continue;
        const char *p = b->data + (TS_MAX(bs, from) - b->base);
        const char *end = b->data + b->len;
        while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            p++;
            if (--n == 0)
                return b->base + (uint64_t)(p - b->data);
        }
    }
    return q->appended;
}

void
queue_mark_sent(struct queue *q, size_t n)
{
    TS_ASSERT(q->sent + n <= q->appended);
    q->sent += n;
    while (q->send_blk != NULL && q->sent >= q->send_blk->base + q->send_blk->len &&
           q->send_blk->next != NULL)
        q->send_blk = q->send_blk->next;
}

void
queue_mark_acked(struct queue *q, struct pool *p, uint64_t acked)
{
    if (acked <= q->acked)
        return;
    if (acked > q->sent)
        acked = q->sent;
    q->acked = acked;
    while (q->head != NULL && q->head->base + q->head->len <= acked &&
           (q->head != q->tail || acked == q->appended)) {
        struct block *b = q->head;
        q->head = b->next;
        if (q->send_blk == b)
            q->send_blk = q->head;
        if (q->tail == b)
            q->tail = NULL;
        q->nblocks--;
        pool_put(p, b);
    }
    if (q->head != NULL && acked > q->head->base + q->head->start)
        q->head->start = (uint32_t)(acked - q->head->base);
}

void
queue_rewind(struct queue *q)
{
    if (q->head == NULL) {
        q->sent = q->acked = q->appended;
        return;
    }
    /* Blocks start at line boundaries; find the start of the line that
     * holds the first unacknowledged byte. */
    struct block *h = q->head;
    size_t pos = (size_t)(q->acked - h->base);
    if (pos > h->len)
        pos = h->len;
    while (pos > 0 && h->data[pos - 1] != '\n')
        pos--;
    h->start = (uint32_t)pos;
    q->acked = h->base + pos;
    q->sent = q->acked;
    q->send_blk = h;
    /* a fully delivered head block is skipped by iov/mark_sent */
    while (q->send_blk->next != NULL && q->sent >= q->send_blk->base + q->send_blk->len)
        q->send_blk = q->send_blk->next;
}

struct block *
queue_pop_block(struct queue *q)
{
    struct block *b = q->head;
    if (b == NULL)
        return NULL;
    q->head = b->next;
    if (q->tail == b)
        q->tail = NULL;
    if (q->send_blk == b)
        q->send_blk = q->head;
    q->nblocks--;
    uint64_t end = b->base + b->len;
    if (q->acked < end)
        q->acked = end;
    if (q->sent < end)
        q->sent = end;
    b->next = NULL;
    return b;
}

void
queue_push_block(struct queue *q, struct block *b)
{
    /* re-base the block onto this stream */
    uint64_t bytes = b->len - b->start;
    b->base = q->appended - b->start;
    link_block(q, b);
    q->appended += bytes;
}

void
queue_prepend_chain(struct queue *q, struct block *first, struct block *last)
{
    if (first == NULL)
        return;
    uint64_t total = 0;
    size_t n = 0;
    for (struct block *b = first;; b = b->next) {
        total += b->len - b->start;
        n++;
        if (b == last)
            break;
    }
    if (q->acked < total) {
        /* offsets are only relative: move this stream up so the chain fits
         * in front of it without wrapping below zero */
        for (struct block *b = q->head; b != NULL; b = b->next)
            b->base += total;
        q->appended += total;
        q->sent += total;
        q->acked += total;
    }
    uint64_t pos = q->acked - total;
    for (struct block *b = first;; b = b->next) {
        b->base = pos - b->start;
        pos += b->len - b->start;
        if (b == last)
            break;
    }
    last->next = q->head;
    q->head = first;
    if (q->tail == NULL)
        q->tail = last;
    q->nblocks += n;
    q->acked -= total;
    q->sent = q->acked;
    q->send_blk = q->head;
}

uint64_t
queue_count_lines(const struct queue *q, uint64_t from, uint64_t to)
{
    uint64_t n = 0;
    if (to <= from)
        return 0;
    for (struct block *b = q->head; b != NULL; b = b->next) {
        uint64_t bs = b->base + b->start, be = b->base + b->len;
        if (be <= from)
            continue;
        if (bs >= to)
            break;
        uint64_t s = TS_MAX(bs, from), e = TS_MIN(be, to);
        const char *p = b->data + (s - b->base);
        const char *end = b->data + (e - b->base);
        while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            n++;
            p++;
        }
    }
    return n;
}

void
queue_detach_all(struct queue *q, struct block **first, struct block **last)
{
    *first = q->head;
    *last = q->tail;
    q->head = q->tail = q->send_blk = NULL;
    q->nblocks = 0;
    q->sent = q->acked = q->appended;
}

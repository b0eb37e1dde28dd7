/*
 * check_queue.c -- unit tests of the block queue (src/base/queue.c).
 *
 * Covers: append / reserve / commit across block boundaries (a line never
 * spans blocks); queue_iov, queue_mark_sent and queue_mark_acked offsets;
 * blocks released to the pool only once fully acknowledged; queue_rewind
 * after a partial acknowledgement (back to the start of the line holding
 * the first unacknowledged byte, a fully acknowledged line is not sent
 * again); queue_count_lines over ranges spanning blocks; pop_block /
 * push_block / prepend_chain keeping offsets and bytes consistent; reserve
 * refused when the pool is exhausted.
 *
 * Blocks are 256 bytes (216 bytes of data) so that boundaries come fast;
 * most tests use 20-byte lines: 10 to a block, 16 bytes left over.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/queue.h"
#include "base/util.h"
#include "unit.h"

#define BS 256u
#define LINE 20u
#define PER_BLOCK 10u

static struct pool P;
static struct queue Q;

static void
setup(void)
{
    ck_assert_int_eq(pool_init(&P, BS, 512 * BS, 0, 0), TS_OK);
    ck_assert_uint_eq(P.data_size, BS - sizeof(struct block));
    ck_assert_uint_eq(P.data_size / LINE, PER_BLOCK);
    queue_init(&Q);
}

static void
teardown(void)
{
    queue_clear(&Q, &P);
    pool_destroy(&P);
}

/* Line i: exactly LINE bytes, "L00042.............\n". */
static void
mkline(unsigned i, char *out)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "L%05u..............", i);
    memcpy(out, tmp, LINE - 1);
    out[LINE - 1] = '\n';
}

static void
append_lines(unsigned from, unsigned n)
{
    char l[LINE];
    for (unsigned i = from; i < from + n; i++) {
        mkline(i, l);
        ck_assert_int_eq(queue_append(&Q, &P, POOL_QUEUE, l, LINE), TS_OK);
    }
}

/* Concatenates what queue_iov offers. */
static size_t
iov_bytes(char *out, size_t cap, int *niov)
{
    static struct iovec iov[1024];
    int n = queue_iov(&Q, iov, 1024);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_uint_le(len + iov[i].iov_len, cap);
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    if (niov != NULL)
        *niov = n;
    return len;
}

/* Checks that the unsent bytes are exactly lines first..first+n-1. */
static void
assert_unsent_lines(unsigned first, unsigned n)
{
    static char got[64 * 1024], want[64 * 1024];
    size_t len = iov_bytes(got, sizeof(got), NULL);
    for (unsigned i = 0; i < n; i++)
        mkline(first + i, want + i * LINE);
    ck_assert_uint_eq(len, n * LINE);
    ck_assert_msg(memcmp(got, want, len) == 0, "unsent bytes are not lines %u..%u", first,
                  first + n - 1);
}

/* Invariants that must hold after every operation. */
static void
assert_consistent(void)
{
    uint64_t held = 0;
    size_t n = 0;
    struct block *last = NULL;
    for (struct block *b = Q.head; b != NULL; b = b->next) {
        if (last != NULL)
            ck_assert_uint_eq(b->base + b->start, last->base + last->len);
        ck_assert_uint_le(b->start, b->len);
        ck_assert_uint_le(b->len, P.data_size);
        if (b->len > 0)
            ck_assert_msg(b->data[b->len - 1] == '\n', "block does not end with a line end");
        held += b->len - b->start;
        n++;
        last = b;
    }
    ck_assert_ptr_eq(Q.tail, last);
    ck_assert_uint_eq(Q.nblocks, n);
    ck_assert_uint_le(Q.acked, Q.sent);
    ck_assert_uint_le(Q.sent, Q.appended);
    ck_assert_uint_eq(held, queue_bytes(&Q));
    if (Q.head != NULL) {
        ck_assert_uint_eq(Q.head->base + Q.head->start, Q.acked);
        ck_assert_uint_eq(Q.tail->base + Q.tail->len, Q.appended);
    }
}

START_TEST(test_append_block_boundaries)
{
    ck_assert(queue_empty(&Q));
    append_lines(0, PER_BLOCK);
    ck_assert_uint_eq(Q.nblocks, 1);
    ck_assert_uint_eq(P.blocks_used, 1);
    ck_assert_uint_eq(Q.appended, PER_BLOCK * LINE);
    append_lines(PER_BLOCK, 1);
    /* the 11th line does not fit the 16 bytes left: a new block */
    ck_assert_uint_eq(Q.nblocks, 2);
    ck_assert_uint_eq(P.blocks_used, 2);
    ck_assert_uint_eq(Q.head->len, PER_BLOCK * LINE);
    ck_assert_uint_eq(Q.tail->len, LINE);
    ck_assert_uint_eq(Q.tail->base, PER_BLOCK * LINE);
    ck_assert_uint_eq(queue_bytes(&Q), 11 * LINE);
    ck_assert_uint_eq(queue_unsent(&Q), 11 * LINE);
    ck_assert_uint_eq(queue_unacked(&Q), 0);
    ck_assert(!queue_empty(&Q));
    assert_consistent();
    assert_unsent_lines(0, 11);
}
END_TEST

START_TEST(test_reserve_commit)
{
    append_lines(0, PER_BLOCK); /* 200 of 216 bytes used */
    size_t left = P.data_size - PER_BLOCK * LINE;
    char *d = queue_reserve(&Q, &P, POOL_QUEUE, left);
    ck_assert_ptr_eq(d, Q.head->data + PER_BLOCK * LINE);
    memset(d, 'x', left - 1);
    d[left - 1] = '\n';
    queue_commit(&Q, left);
    ck_assert_uint_eq(Q.nblocks, 1);
    ck_assert_uint_eq(Q.head->len, P.data_size);

    /* even one byte more needs a new block */
    d = queue_reserve(&Q, &P, POOL_QUEUE, 1);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(Q.nblocks, 2);
    ck_assert_ptr_eq(d, Q.tail->data);
    ck_assert_uint_eq(Q.tail->base, P.data_size);
    /* reserving without committing adds nothing */
    ck_assert_uint_eq(Q.appended, P.data_size);
    ck_assert_uint_eq(Q.tail->len, 0);
    d[0] = '\n';
    queue_commit(&Q, 1);
    ck_assert_uint_eq(Q.appended, P.data_size + 1);

    /* a line longer than a block is refused, nothing is allocated */
    size_t used = P.blocks_used;
    ck_assert_ptr_null(queue_reserve(&Q, &P, POOL_QUEUE, P.data_size + 1));
    ck_assert_int_eq(queue_append(&Q, &P, POOL_QUEUE, d, P.data_size + 1), TS_ENOMEM);
    ck_assert_uint_eq(P.blocks_used, used);
    /* exactly a block's worth fits a fresh block */
    char big[BS];
    memset(big, 'y', P.data_size - 1);
    big[P.data_size - 1] = '\n';
    ck_assert_int_eq(queue_append(&Q, &P, POOL_QUEUE, big, P.data_size), TS_OK);
    ck_assert_uint_eq(Q.nblocks, 3);
    ck_assert_uint_eq(Q.tail->len, P.data_size);
    assert_consistent();
}
END_TEST

/* Random line lengths: every block holds whole lines only and the stream
 * reads back exactly as written. */
START_TEST(test_lines_never_span_blocks)
{
    static char want[64 * 1024], got[64 * 1024];
    size_t wlen = 0;
    unsigned seed = 12345;
    for (int i = 0; i < 400; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = 5 + (seed >> 16) % 120;
        char l[128];
        for (size_t k = 0; k + 1 < len; k++)
            l[k] = (char)('a' + (i + (int)k) % 26);
        l[len - 1] = '\n';
        ck_assert_int_eq(queue_append(&Q, &P, POOL_QUEUE, l, len), TS_OK);
        memcpy(want + wlen, l, len);
        wlen += len;
    }
    assert_consistent();
    for (struct block *b = Q.head; b != NULL; b = b->next) {
        ck_assert(b->len > 0);
        ck_assert_msg(b->data[b->len - 1] == '\n', "a block ends inside a line");
        ck_assert_uint_le(b->len, P.data_size);
        /* a new block was started only because the next line did not fit */
        if (b->next != NULL) {
            const char *nl = memchr(b->next->data, '\n', b->next->len);
            ck_assert_ptr_nonnull(nl);
            size_t first = (size_t)(nl - b->next->data) + 1;
            ck_assert_uint_gt(first, P.data_size - b->len);
        }
    }
    int n;
    size_t glen = iov_bytes(got, sizeof(got), &n);
    ck_assert_int_eq(n, (int)Q.nblocks);
    ck_assert_uint_eq(glen, wlen);
    ck_assert(memcmp(got, want, wlen) == 0);
    ck_assert_uint_eq(queue_count_lines(&Q, 0, Q.appended), 400);
}
END_TEST

START_TEST(test_iov_sent_acked)
{
    append_lines(0, 25); /* blocks of 200, 200, 100 bytes */
    ck_assert_uint_eq(Q.nblocks, 3);
    struct iovec iov[8];
    ck_assert_int_eq(queue_iov(&Q, iov, 8), 3);
    ck_assert_uint_eq(iov[0].iov_len, 200);
    ck_assert_uint_eq(iov[1].iov_len, 200);
    ck_assert_uint_eq(iov[2].iov_len, 100);
    ck_assert_int_eq(queue_iov(&Q, iov, 2), 2);

    queue_mark_sent(&Q, 150);
    ck_assert_uint_eq(Q.sent, 150);
    ck_assert_int_eq(queue_iov(&Q, iov, 8), 3);
    ck_assert_ptr_eq(iov[0].iov_base, Q.head->data + 150);
    ck_assert_uint_eq(iov[0].iov_len, 50);
    queue_mark_sent(&Q, 50);
    ck_assert_int_eq(queue_iov(&Q, iov, 8), 2);
    ck_assert_ptr_eq(iov[0].iov_base, Q.head->next->data);
    ck_assert_uint_eq(iov[0].iov_len, 200);
    queue_mark_sent(&Q, 230); /* into the third block */
    ck_assert_uint_eq(Q.sent, 430);
    ck_assert_int_eq(queue_iov(&Q, iov, 8), 1);
    ck_assert_ptr_eq(iov[0].iov_base, Q.tail->data + 30);
    ck_assert_uint_eq(iov[0].iov_len, 70);
    ck_assert_uint_eq(queue_unsent(&Q), 70);
    ck_assert_uint_eq(queue_unacked(&Q), 430);

    /* a partial ack of the head keeps the block */
    queue_mark_acked(&Q, &P, 150);
    ck_assert_uint_eq(Q.acked, 150);
    ck_assert_uint_eq(Q.nblocks, 3);
    ck_assert_uint_eq(P.blocks_used, 3);
    ck_assert_uint_eq(Q.head->start, 150);
    ck_assert_uint_eq(queue_bytes(&Q), 350);
    assert_consistent();
    /* an older ack changes nothing */
    queue_mark_acked(&Q, &P, 100);
    ck_assert_uint_eq(Q.acked, 150);
    /* the head's last byte acked: it goes back to the pool */
    queue_mark_acked(&Q, &P, 200);
    ck_assert_uint_eq(Q.nblocks, 2);
    ck_assert_uint_eq(P.blocks_used, 2);
    ck_assert_uint_eq(P.blocks_free, 1);
    ck_assert_uint_eq(Q.head->start, 0);
    assert_consistent();
    /* an ack beyond what was sent is clamped to sent */
    queue_mark_acked(&Q, &P, 10000);
    ck_assert_uint_eq(Q.acked, 430);
    ck_assert_uint_eq(Q.nblocks, 1);
    ck_assert_uint_eq(P.blocks_used, 1);
    ck_assert_uint_eq(Q.head->start, 30);
    ck_assert_uint_eq(queue_bytes(&Q), 70);
    assert_consistent();
    /* 430 is 10 bytes into line 21: its last 10 bytes, then lines 22-24 */
    char got[128], want[128];
    ck_assert_uint_eq(iov_bytes(got, sizeof(got), NULL), 70);
    for (unsigned i = 21; i < 25; i++)
        mkline(i, want + (i - 21) * LINE);
    ck_assert(memcmp(got, want + 10, 70) == 0);
}
END_TEST

START_TEST(test_full_ack_empties)
{
    append_lines(0, 25);
    queue_mark_sent(&Q, 500);
    ck_assert_int_eq(queue_iov(&Q, (struct iovec[4]){ { 0 } }, 4), 0);
    queue_mark_acked(&Q, &P, 499);
    ck_assert_uint_eq(Q.nblocks, 1);
    ck_assert_uint_eq(P.blocks_used, 1);
    queue_mark_acked(&Q, &P, 500);
    ck_assert(queue_empty(&Q));
    ck_assert_uint_eq(Q.nblocks, 0);
    ck_assert_uint_eq(P.blocks_used, 0);
    ck_assert_uint_eq(P.blocks_free, 3);
    ck_assert_uint_eq(queue_bytes(&Q), 0);
    ck_assert_ptr_null(Q.tail);
    ck_assert_ptr_null(Q.send_blk);
    /* the stream continues at offset 500 */
    append_lines(25, 3);
    ck_assert_uint_eq(Q.head->base, 500);
    ck_assert_uint_eq(Q.appended, 560);
    ck_assert_uint_eq(P.stats.mapped, 3); /* reused */
    assert_consistent();
    assert_unsent_lines(25, 3);
}
END_TEST

/* Appending to a tail whose bytes are all sent: the new bytes are unsent. */
START_TEST(test_append_after_sent)
{
    append_lines(0, 3);
    queue_mark_sent(&Q, 60);
    ck_assert_uint_eq(queue_unsent(&Q), 0);
    append_lines(3, 2);
    assert_unsent_lines(3, 2);
    queue_mark_sent(&Q, 40);
    append_lines(5, 10); /* spills into a second block */
    ck_assert_uint_eq(Q.nblocks, 2);
    assert_unsent_lines(5, 10);
    queue_mark_sent(&Q, 200);
    ck_assert_uint_eq(queue_unsent(&Q), 0);
    queue_mark_acked(&Q, &P, 300);
    ck_assert(queue_empty(&Q));
    ck_assert_uint_eq(P.blocks_used, 0);
}
END_TEST

START_TEST(test_rewind_mid_line)
{
    append_lines(0, 25);
    queue_mark_sent(&Q, 450);
    queue_mark_acked(&Q, &P, 230); /* 10 bytes into line 11 */
    ck_assert_uint_eq(Q.nblocks, 2);
    ck_assert_uint_eq(P.blocks_used, 2);
    queue_rewind(&Q);
    /* back to the start of line 11 */
    ck_assert_uint_eq(Q.acked, 220);
    ck_assert_uint_eq(Q.sent, 220);
    ck_assert_uint_eq(Q.head->start, 20);
    ck_assert_uint_eq(queue_bytes(&Q), 280);
    ck_assert_uint_eq(queue_unsent(&Q), 280);
    assert_consistent();
    assert_unsent_lines(11, 14);
    ck_assert_uint_eq(queue_count_lines(&Q, Q.acked, Q.appended), 14);
}
END_TEST

START_TEST(test_rewind_line_boundary)
{
    append_lines(0, 25);
    queue_mark_sent(&Q, 450);
    queue_mark_acked(&Q, &P, 240); /* line 11 fully acked */
    queue_rewind(&Q);
    ck_assert_uint_eq(Q.acked, 240);
    ck_assert_uint_eq(Q.sent, 240);
    assert_consistent();
    assert_unsent_lines(12, 13); /* line 11 is not sent again */
}
END_TEST

START_TEST(test_rewind_cases)
{
    /* nothing acked: everything is sent again */
    append_lines(0, 25);
    queue_mark_sent(&Q, 333);
    queue_rewind(&Q);
    ck_assert_uint_eq(Q.sent, 0);
    ck_assert_uint_eq(Q.acked, 0);
    assert_consistent();
    assert_unsent_lines(0, 25);

    /* acked exactly at a block boundary */
    queue_mark_sent(&Q, 450);
    queue_mark_acked(&Q, &P, 200);
    ck_assert_uint_eq(Q.nblocks, 2);
    queue_rewind(&Q);
    ck_assert_uint_eq(Q.sent, 200);
    assert_consistent();
    assert_unsent_lines(10, 15);

    /* acked inside the first line of a block */
    queue_mark_sent(&Q, 250);
    queue_mark_acked(&Q, &P, 405);
    ck_assert_uint_eq(Q.nblocks, 1);
    queue_rewind(&Q);
    ck_assert_uint_eq(Q.acked, 400);
    ck_assert_uint_eq(Q.sent, 400);
    ck_assert_uint_eq(Q.head->start, 0);
    assert_consistent();
    assert_unsent_lines(20, 5);

    /* a rewind with nothing in flight changes nothing */
    queue_rewind(&Q);
    ck_assert_uint_eq(Q.sent, 400);
    assert_unsent_lines(20, 5);

    /* empty queue */
    queue_mark_sent(&Q, 100);
    queue_mark_acked(&Q, &P, 500);
    ck_assert(queue_empty(&Q));
    queue_rewind(&Q);
    ck_assert_uint_eq(Q.sent, 500);
    ck_assert_uint_eq(Q.acked, 500);
    ck_assert_uint_eq(Q.appended, 500);
}
END_TEST

START_TEST(test_count_lines)
{
    append_lines(0, 25);
    /* line ends at 19, 39, ..., 499 */
    ck_assert_uint_eq(queue_count_lines(&Q, 0, 500), 25);
    ck_assert_uint_eq(queue_count_lines(&Q, 0, 1000), 25);
    ck_assert_uint_eq(queue_count_lines(&Q, 0, 19), 0);
    ck_assert_uint_eq(queue_count_lines(&Q, 0, 20), 1);
    ck_assert_uint_eq(queue_count_lines(&Q, 19, 20), 1);
    ck_assert_uint_eq(queue_count_lines(&Q, 20, 39), 0);
    ck_assert_uint_eq(queue_count_lines(&Q, 190, 410), 11); /* spans three blocks */
    ck_assert_uint_eq(queue_count_lines(&Q, 199, 200), 1);
    ck_assert_uint_eq(queue_count_lines(&Q, 200, 400), 10);
    ck_assert_uint_eq(queue_count_lines(&Q, 400, 500), 5);
    ck_assert_uint_eq(queue_count_lines(&Q, 300, 300), 0);
    ck_assert_uint_eq(queue_count_lines(&Q, 400, 300), 0);
    /* released bytes are not counted */
    queue_mark_sent(&Q, 500);
    queue_mark_acked(&Q, &P, 230);
    ck_assert_uint_eq(queue_count_lines(&Q, 0, 500), 14);
    ck_assert_uint_eq(queue_count_lines(&Q, 230, 500), 14);
    ck_assert_uint_eq(queue_count_lines(&Q, 230, 240), 1);
}
END_TEST

START_TEST(test_pop_push)
{
    append_lines(0, 25);
    struct block *b = queue_pop_block(&Q);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(b->next);
    ck_assert_uint_eq(b->base, 0);
    ck_assert_uint_eq(b->len, 200);
    ck_assert_uint_eq(Q.nblocks, 2);
    ck_assert_uint_eq(Q.acked, 200);
    ck_assert_uint_eq(Q.sent, 200);
    ck_assert_uint_eq(Q.appended, 500);
    ck_assert_uint_eq(queue_bytes(&Q), 300);
    ck_assert_uint_eq(P.blocks_used, 3); /* the popped block is the caller's */
    assert_consistent();
    assert_unsent_lines(10, 15);

    /* pushed onto another queue whose stream is elsewhere */
    struct queue q2;
    queue_init(&q2);
    char l[LINE];
    mkline(900, l);
    ck_assert_int_eq(queue_append(&q2, &P, POOL_QUEUE, l, LINE), TS_OK);
    queue_push_block(&q2, b);
    ck_assert_uint_eq(q2.nblocks, 2);
    ck_assert_uint_eq(b->base, 20);
    ck_assert_uint_eq(q2.appended, 220);
    ck_assert_uint_eq(queue_bytes(&q2), 220);
    ck_assert_uint_eq(queue_count_lines(&q2, 0, q2.appended), 11);
    /* new lines go to a new block after it, never into it */
    mkline(901, l);
    ck_assert_int_eq(queue_append(&q2, &P, POOL_QUEUE, l, LINE), TS_OK);
    ck_assert_uint_eq(q2.nblocks, 2 + (P.data_size - b->len < LINE));
    ck_assert_uint_eq(q2.tail->base + q2.tail->len, q2.appended);

    /* a block with released bytes in front keeps its start */
    struct block *h = queue_pop_block(&Q);
    ck_assert_uint_eq(h->base, 200);
    h->start = 40; /* two lines already gone */
    struct queue q3;
    queue_init(&q3);
    queue_push_block(&q3, h);
    ck_assert_uint_eq(q3.appended, 160);
    ck_assert_uint_eq(h->base + h->start, 0);
    ck_assert_uint_eq(queue_bytes(&q3), 160);
    ck_assert_uint_eq(queue_count_lines(&q3, 0, 160), 8);
    struct iovec iov[4];
    ck_assert_int_eq(queue_iov(&q3, iov, 4), 1);
    ck_assert_ptr_eq(iov[0].iov_base, h->data + 40);
    ck_assert_uint_eq(iov[0].iov_len, 160);

    queue_clear(&q2, &P);
    queue_clear(&q3, &P);
    ck_assert_uint_eq(P.blocks_used, Q.nblocks);
}
END_TEST

START_TEST(test_prepend_chain)
{
    append_lines(0, 25);
    struct block *b1 = queue_pop_block(&Q);
    struct block *b2 = queue_pop_block(&Q);
    ck_assert_uint_eq(Q.nblocks, 1);
    ck_assert_uint_eq(queue_bytes(&Q), 100);
    /* newer data arrives meanwhile */
    append_lines(25, 5);
    ck_assert_uint_eq(queue_bytes(&Q), 200);

    b1->next = b2;
    queue_prepend_chain(&Q, b1, b2);
    ck_assert_uint_eq(Q.nblocks, 3);
    ck_assert_ptr_eq(Q.head, b1);
    ck_assert_ptr_eq(b2->next, Q.tail);
    ck_assert_uint_eq(Q.acked, 0);
    ck_assert_uint_eq(Q.sent, 0);
    ck_assert_uint_eq(Q.appended, 600);
    ck_assert_uint_eq(queue_bytes(&Q), 600);
    assert_consistent();
    assert_unsent_lines(0, 30); /* original order */
    ck_assert_uint_eq(queue_count_lines(&Q, 0, 600), 30);

    /* and the stream still works end to end */
    queue_mark_sent(&Q, 600);
    queue_mark_acked(&Q, &P, 600);
    ck_assert(queue_empty(&Q));
    ck_assert_uint_eq(P.blocks_used, 0);
}
END_TEST

START_TEST(test_prepend_into_empty)
{
    append_lines(0, 15);
    struct block *b1 = queue_pop_block(&Q);
    struct block *b2 = queue_pop_block(&Q);
    ck_assert(queue_empty(&Q));
    ck_assert_ptr_null(queue_pop_block(&Q));
    ck_assert_uint_eq(queue_bytes(&Q), 0);
    b1->next = b2;
    queue_prepend_chain(&Q, b1, b2);
    ck_assert_ptr_eq(Q.head, b1);
    ck_assert_ptr_eq(Q.tail, b2);
    ck_assert_uint_eq(Q.nblocks, 2);
    ck_assert_uint_eq(queue_bytes(&Q), 300);
    assert_consistent();
    assert_unsent_lines(0, 15);
    /* appends continue into the old tail */
    append_lines(15, 2);
    ck_assert_uint_eq(Q.nblocks, 2);
    assert_consistent();
    assert_unsent_lines(0, 17);
    queue_prepend_chain(&Q, NULL, NULL); /* no-op */
    ck_assert_uint_eq(Q.nblocks, 2);
}
END_TEST

/* A chain from another stream (a failed connection's queue handed to the
 * spool staging) put in front of a fresh queue: offsets must not wrap, and
 * popping everything must leave nothing counted. */
START_TEST(test_prepend_foreign_chain)
{
    struct queue other;
    queue_init(&other);
    for (int i = 0; i < 40; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "put m %d 1 a=b\n", i);
        ck_assert_int_eq(queue_append(&other, &P, POOL_QUEUE, line, (size_t)n), TS_OK);
    }
    uint64_t moved = queue_bytes(&other);
    struct block *first, *last;
    queue_detach_all(&other, &first, &last);
    ck_assert_uint_eq(queue_bytes(&other), 0);
    /* Q is fresh (offsets at 0) and already holds a little */
    ck_assert_int_eq(queue_append(&Q, &P, POOL_QUEUE, "put x 1 1 a=b\n", 14), TS_OK);
    queue_prepend_chain(&Q, first, last);
    ck_assert_uint_eq(queue_bytes(&Q), moved + 14);
    ck_assert_ptr_eq(Q.head, first);
    struct block *b;
    while ((b = queue_pop_block(&Q)) != NULL)
        pool_put(&P, b);
    ck_assert_uint_eq(queue_bytes(&Q), 0);
    ck_assert(queue_empty(&Q));
}
END_TEST

START_TEST(test_reserve_refused_when_exhausted)
{
    struct pool small;
    struct queue q;
    /* 8 blocks; the queue class may use 4 (the reserve is half) */
    ck_assert_int_eq(pool_init(&small, BS, 8 * BS, 4 * BS, 0), TS_OK);
    queue_init(&q);
    char l[LINE];
    unsigned i;
    for (i = 0; i < 40; i++) {
        mkline(i, l);
        ck_assert_int_eq(queue_append(&q, &small, POOL_QUEUE, l, LINE), TS_OK);
    }
    ck_assert_uint_eq(q.nblocks, 4);
    mkline(40, l);
    ck_assert_int_eq(queue_append(&q, &small, POOL_QUEUE, l, LINE), TS_ENOMEM);
    ck_assert_ptr_null(queue_reserve(&q, &small, POOL_QUEUE, LINE));
    ck_assert_uint_eq(q.nblocks, 4);
    ck_assert_uint_eq(q.appended, 40 * LINE);
    /* what still fits the tail is not refused */
    ck_assert_ptr_nonnull(queue_reserve(&q, &small, POOL_QUEUE, small.data_size - 10 * LINE));
    /* the control class has the reserve */
    ck_assert_int_eq(queue_append(&q, &small, POOL_CONTROL, l, LINE), TS_OK);
    ck_assert_uint_eq(q.nblocks, 5);
    for (i = 41; i < 80; i++) {
        mkline(i, l);
        if (queue_append(&q, &small, POOL_CONTROL, l, LINE) != TS_OK)
            break;
    }
    ck_assert_uint_eq(i, 80);
    mkline(80, l);
    ck_assert_int_eq(queue_append(&q, &small, POOL_CONTROL, l, LINE), TS_ENOMEM);
    ck_assert_uint_eq(q.nblocks, 8);
    ck_assert_uint_eq(small.stats.get_failures, 3);
    /* acknowledging frees room again */
    queue_mark_sent(&q, 200);
    queue_mark_acked(&q, &small, 200);
    ck_assert_int_eq(queue_append(&q, &small, POOL_CONTROL, l, LINE), TS_OK);
    queue_clear(&q, &small);
    ck_assert_uint_eq(small.blocks_used, 0);
    ck_assert_uint_eq(q.sent, q.appended);
    ck_assert_uint_eq(q.acked, q.appended);
    pool_destroy(&small);
}
END_TEST

static Suite *
queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_append_block_boundaries);
    tcase_add_test(tc, test_reserve_commit);
    tcase_add_test(tc, test_lines_never_span_blocks);
    tcase_add_test(tc, test_iov_sent_acked);
    tcase_add_test(tc, test_full_ack_empties);
    tcase_add_test(tc, test_append_after_sent);
    tcase_add_test(tc, test_rewind_mid_line);
    tcase_add_test(tc, test_rewind_line_boundary);
    tcase_add_test(tc, test_rewind_cases);
    tcase_add_test(tc, test_count_lines);
    tcase_add_test(tc, test_pop_push);
    tcase_add_test(tc, test_prepend_chain);
    tcase_add_test(tc, test_prepend_into_empty);
    tcase_add_test(tc, test_prepend_foreign_chain);
    tcase_add_test(tc, test_reserve_refused_when_exhausted);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(queue_suite)

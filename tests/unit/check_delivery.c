/*
 * check_delivery.c -- unit tests of delivery marks (src/core/delivery.c) over
 * backends set up by hand, without a spool.
 *
 * Without a spool (be->sp == NULL) spool.c reports nothing staged,
 * nothing stored and everything settled for a backend, so a mark is safe
 * exactly when every connection's acknowledged offset reached the
 * appended offset the mark took.
 *
 * Covers: the width (one word per connection and one per backend for
 * the spool's staged lines); the mark's layout (each connection's
 * appended offset, then the backend's staged lines, 0 here); a mark is
 * not safe while any connection of any backend is short of its word, is
 * safe once all reached it (exactly, or past it), whatever was appended
 * since; a connection with nothing in it is always safe; only the first
 * n backends are read (n = 0: width 0, always safe); a mark taken later
 * needs the later lines; marking and checking change nothing in the
 * backends.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "core/delivery.h"
#include "spool/spool.h"
#include "unit.h"
#include "base/util.h"

static struct backend B[3];

static void
setup(void)
{
    memset(B, 0, sizeof(B));
    const int nconns[3] = { 2, 1, 3 };
    for (int i = 0; i < 3; i++) {
        B[i].idx = i;
        B[i].nconns = nconns[i];
        B[i].conns = calloc((size_t)nconns[i], sizeof(struct bconn));
        ck_assert_ptr_nonnull(B[i].conns);
        for (int k = 0; k < nconns[i]; k++) {
            B[i].conns[k].be = &B[i];
            B[i].conns[k].idx = k;
            B[i].conns[k].fd = -1;
            queue_init(&B[i].conns[k].q);
        }
        B[i].sp = NULL;
    }
}

static void
teardown(void)
{
    for (int i = 0; i < 3; i++)
        free(B[i].conns);
}

/* Lines appended to connection k of backend i (offsets only). */
static void
append(int i, int k, uint64_t bytes)
{
    struct queue *q = &B[i].conns[k].q;
    q->appended += bytes;
}

static void
ack(int i, int k, uint64_t upto)
{
    struct queue *q = &B[i].conns[k].q;
    ck_assert_uint_le(upto, q->appended);
    q->sent = TS_MAX(q->sent, upto);
    q->acked = upto;
}

START_TEST(test_no_spool_is_nothing_staged)
{
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(spool_backend_staged_lines(&B[i]), 0);
        ck_assert_uint_eq(spool_backend_stored_lines(&B[i]), 0);
        ck_assert_uint_eq(spool_backend_staged_bytes(&B[i]), 0);
        ck_assert(spool_backend_settled(&B[i]));
        ck_assert(!spool_backend_mode(&B[i]));
    }
}
END_TEST

START_TEST(test_width_and_layout)
{
    ck_assert_uint_eq(delivery_width(B, 0), 0);
    ck_assert_uint_eq(delivery_width(B, 1), 3);
    ck_assert_uint_eq(delivery_width(B, 2), 5);
    ck_assert_uint_eq(delivery_width(B, 3), 9);
    append(0, 0, 100);
    append(0, 1, 200);
    append(1, 0, 300);
    append(2, 0, 400);
    append(2, 2, 600);
    uint64_t w[10];
    for (int i = 0; i < 10; i++)
        w[i] = 0xDEAD;
    delivery_mark(B, 3, w);
    const uint64_t want[9] = { 100, 200, 0, 300, 0, 400, 0, 600, 0 };
    for (int i = 0; i < 9; i++)
        ck_assert_uint_eq(w[i], want[i]);
    ck_assert_uint_eq(w[9], 0xDEAD); /* not a word past the width */
}
END_TEST

START_TEST(test_safe_when_every_connection_reached_its_word)
{
    uint64_t w[9];
    append(0, 0, 100);
    append(0, 1, 50);
    append(1, 0, 70);
    append(2, 1, 10);
    delivery_mark(B, 3, w);
    ck_assert(!delivery_safe(B, 3, w));
    ack(0, 0, 100);
    ack(0, 1, 50);
    ack(1, 0, 69); /* one byte short */
    ack(2, 1, 10);
    ck_assert(!delivery_safe(B, 3, w));
    /* later lines do not matter to this mark */
    append(0, 0, 1000);
    append(1, 0, 1000);
    append(2, 0, 1000);
    ack(1, 0, 70);
    ck_assert(delivery_safe(B, 3, w));
    /* a mark taken now needs them */
    uint64_t w2[9];
    delivery_mark(B, 3, w2);
    ck_assert(!delivery_safe(B, 3, w2));
    ack(0, 0, 1100);
    ack(1, 0, 1070);
    ck_assert(!delivery_safe(B, 3, w2)); /* backend 2 conn 0 */
    ack(2, 0, 1000);
    ck_assert(delivery_safe(B, 3, w2));
    ck_assert(delivery_safe(B, 3, w));
}
END_TEST

START_TEST(test_each_connection_counts)
{
    /* every single connection short holds the mark back */
    uint64_t w[9];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < B[i].nconns; k++)
            append(i, k, 10 + (uint64_t)(i * 3 + k));
    delivery_mark(B, 3, w);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < B[i].nconns; k++) {
            for (int j = 0; j < 3; j++)
                for (int m = 0; m < B[j].nconns; m++)
                    ack(j, m, B[j].conns[m].q.appended - (j == i && m == k));
            if (delivery_safe(B, 3, w))
                ck_abort_msg("backend %d conn %d one byte short: safe", i, k);
        }
    }
    for (int j = 0; j < 3; j++)
        for (int m = 0; m < B[j].nconns; m++)
            ack(j, m, B[j].conns[m].q.appended);
    ck_assert(delivery_safe(B, 3, w));
}
END_TEST

START_TEST(test_empty_and_first_n)
{
    uint64_t w[9];
    delivery_mark(B, 3, w);
    ck_assert(delivery_safe(B, 3, w)); /* nothing submitted: safe */
    ck_assert(delivery_safe(B, 0, NULL));
    /* only the first n are read: backend 2 is not looked at */
    append(2, 0, 5);
    append(0, 1, 5);
    uint64_t w2[5];
    delivery_mark(B, 2, w2);
    ck_assert(!delivery_safe(B, 2, w2));
    ack(0, 1, 5);
    ck_assert(delivery_safe(B, 2, w2));
    ck_assert(delivery_safe(B, 0, w2));
}
END_TEST

START_TEST(test_reads_only)
{
    append(0, 0, 100);
    append(1, 0, 80);
    ack(1, 0, 40);
    static struct bconn before[6];
    memcpy(before, B[0].conns, 2 * sizeof(struct bconn));
    memcpy(before + 2, B[1].conns, sizeof(struct bconn));
    memcpy(before + 3, B[2].conns, 3 * sizeof(struct bconn));
    struct backend bb[3];
    memcpy(bb, B, sizeof(B));
    uint64_t w[9];
    delivery_mark(B, 3, w);
    (void)delivery_safe(B, 3, w);
    ck_assert(memcmp(bb, B, sizeof(B)) == 0);
    ck_assert(memcmp(before, B[0].conns, 2 * sizeof(struct bconn)) == 0);
    ck_assert(memcmp(before + 2, B[1].conns, sizeof(struct bconn)) == 0);
    ck_assert(memcmp(before + 3, B[2].conns, 3 * sizeof(struct bconn)) == 0);
}
END_TEST

static Suite *
delivery_suite(void)
{
    Suite *s = suite_create("delivery");
    TCase *t = tcase_create("delivery");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_no_spool_is_nothing_staged);
    tcase_add_test(t, test_width_and_layout);
    tcase_add_test(t, test_safe_when_every_connection_reached_its_word);
    tcase_add_test(t, test_each_connection_counts);
    tcase_add_test(t, test_empty_and_first_n);
    tcase_add_test(t, test_reads_only);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(delivery_suite)

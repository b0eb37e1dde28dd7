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
 * backends.  ?sync's proof (delivery_sync_mark, delivery_proven), with a
 * spool's proof state set by hand (spool/proof.c's fields): without a
 * spool it is the acknowledged offsets; lines a failed connection handed
 * to the spool (its acknowledged offset jumped past the mark) are proven
 * only once the spool's proven count reaches their intake; a mark taken
 * while the spool held lines waits for the proven count to reach the
 * intake then; delivery_sync_covers: a line in a client's range, past it
 * when the client's lines went to that backend's spool, and not another
 * backend's or connection's.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "core/delivery.h"
#include "spool/spool.h"
#include "spool/spool_state.h"
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
    for (int i = 0; i < 3; i++) {
        free(B[i].conns);
        B[i].sp = NULL;
    }
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

/* A spool's part for backend i, only what proof.c keeps. */
static struct spool_backend SB[3];
static uint64_t proof_off[3][9];

static void
attach_spool(int i)
{
    memset(&SB[i], 0, sizeof(SB[i]));
    SB[i].be = &B[i];
    SB[i].proof_off = proof_off[i];
    memset(proof_off[i], 0, sizeof(proof_off[i]));
    B[i].sp = &SB[i];
}

START_TEST(test_sync_proof_without_spool)
{
    uint64_t w[9];
    append(0, 0, 100);
    append(2, 2, 30);
    delivery_sync_mark(B, 3, w);
    ck_assert_uint_eq(w[0], 100);
    ck_assert_uint_eq(w[2], 0); /* the intake word */
    ck_assert(!delivery_proven(B, 3, w));
    ack(0, 0, 100);
    ck_assert(!delivery_proven(B, 3, w));
    ack(2, 2, 30);
    ck_assert(delivery_proven(B, 3, w));
}
END_TEST

START_TEST(test_sync_proof_of_lines_handed_to_the_spool)
{
    uint64_t w[9];
    attach_spool(0);
    append(0, 0, 100);
    delivery_sync_mark(B, 3, w);
    /* the connection fails: its lines go to the spool, its offsets jump */
    SB[0].intake += 7;
    proof_off[0][2 + 0] = 100;     /* conn 0 detached up to 100 */
    proof_off[0][2 * 2 + 0] = 7;   /* ... their intake */
    ack(0, 0, 100);
    ck_assert(delivery_safe(B, 3, w)); /* frame acks: acknowledged or stored */
    ck_assert(!delivery_proven(B, 3, w)); /* ?sync: Redis is not proof */
    SB[0].proven = 6;
    ck_assert(!delivery_proven(B, 3, w));
    SB[0].proven = 7; /* the backend proved them after the drain */
    ck_assert(delivery_proven(B, 3, w));
}
END_TEST

START_TEST(test_sync_proof_waits_for_the_spool)
{
    uint64_t w[9];
    attach_spool(1);
    SB[1].intake = 40; /* staged: in the spool */
    append(1, 0, 10);
    delivery_sync_mark(B, 3, w);
    ck_assert_uint_eq(w[4], 40);
    ack(1, 0, 10);
    ck_assert(!delivery_proven(B, 3, w));
    SB[1].proven = 40;
    ck_assert(delivery_proven(B, 3, w));
    SB[1].intake = 50; /* later lines do not matter */
    ck_assert(delivery_proven(B, 3, w));
}
END_TEST

START_TEST(test_sync_covers)
{
    uint64_t start[9], end[9];
    attach_spool(2);
    append(2, 1, 100);
    delivery_sync_mark(B, 3, start);
    append(2, 1, 50); /* the client's lines: [100, 150) on backend 2, conn 1 */
    append(0, 0, 20); /* and [0, 20) on backend 0 */
    delivery_sync_mark(B, 3, end);
    ck_assert(delivery_sync_covers(B, 3, start, end, 2, 1, 120));
    ck_assert(!delivery_sync_covers(B, 3, start, end, 2, 1, 99));
    ck_assert(!delivery_sync_covers(B, 3, start, end, 2, 1, 150));
    ck_assert(!delivery_sync_covers(B, 3, start, end, 2, 0, 120));
    ck_assert(delivery_sync_covers(B, 3, start, end, 0, 0, 5));
    ck_assert(!delivery_sync_covers(B, 3, start, end, 1, 0, 5));
    ck_assert(!delivery_sync_covers(B, 3, start, end, 3, 0, 5)); /* no such backend */
    /* its lines went to backend 2's spool: what comes back later may be theirs */
    SB[2].intake = 3;
    delivery_sync_mark(B, 3, end);
    ck_assert(delivery_sync_covers(B, 3, start, end, 2, 0, 7000));
    ck_assert(!delivery_sync_covers(B, 3, start, end, 1, 0, 7000));
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
    tcase_add_test(t, test_sync_proof_without_spool);
    tcase_add_test(t, test_sync_proof_of_lines_handed_to_the_spool);
    tcase_add_test(t, test_sync_proof_waits_for_the_spool);
    tcase_add_test(t, test_sync_covers);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(delivery_suite)

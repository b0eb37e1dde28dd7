/*
 * check_barrier.c -- unit tests of the ack = version barriers of one
 * backend connection (src/output/barrier.c).
 *
 * Covers: a version answer (its "net.opentsdb.tools..." line, then its
 * "Built on ..." line) acknowledges up to the oldest barrier, which stays
 * until released; a "Built on" line alone, a first line alone, or an
 * answer with no barrier out acknowledge nothing and are not errors; any
 * other line is an error (a rejection) and acknowledges nothing; answers
 * are matched to barriers in order, and counted; the ring's room (256,
 * then writing waits); barriers stamped only once written, and only the
 * oldest's stamp makes it overdue (at exactly ack-timeout); release up to
 * an offset; rewind after a failed connection (released up to what was
 * acknowledged, the rest unstamped, a half-read answer forgotten);
 * barriers_between and barriers_next over (from, to] across the ring's
 * wrap; clear.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "output/barrier.h"
#include "unit.h"
#include "base/util.h"

#define V1 "net.opentsdb.tools.BuildData built at revision 6ed2ff3 (MODIFIED)"
#define V2 "Built on 2020/12/15 12:23:55 +0000 by root on host.example"

static struct barriers B;

static void
setup(void)
{
    memset(&B, 0xA5, sizeof(B)); /* init must not rely on zeroed memory */
    barriers_init(&B);
}

static uint64_t
line(const char *s, bool *err)
{
    return barriers_reply_line(&B, s, strlen(s), err);
}

/* A whole version answer: the offset it acknowledges. */
static uint64_t
answer(void)
{
    bool err = true;
    ck_assert_uint_eq(line(V1, &err), 0);
    ck_assert(!err);
    uint64_t end = line(V2, &err);
    ck_assert(!err);
    return end;
}

START_TEST(test_init)
{
    ck_assert_uint_eq(B.n, 0);
    ck_assert_uint_eq(B.head, 0);
    ck_assert(!B.reply_open);
    ck_assert_uint_eq(B.answered, 0);
    ck_assert_uint_eq(B.timeouts, 0);
    ck_assert(barriers_room(&B));
    ck_assert(!barriers_overdue(&B, 1000000, 1));
    ck_assert_uint_eq(barriers_next(&B, 0), 0);
    ck_assert_uint_eq(barriers_between(&B, 0, UINT64_MAX), 0);
    ck_assert_int_eq(BARRIER_LEN, (int)strlen(BARRIER_LINE));
}
END_TEST

START_TEST(test_answers_in_order)
{
    barriers_add(&B, 100);
    barriers_add(&B, 250);
    barriers_add(&B, 400);
    ck_assert_uint_eq(B.n, 3);
    ck_assert_uint_eq(answer(), 100);
    ck_assert_uint_eq(B.answered, 1);
    ck_assert_uint_eq(B.n, 3); /* stays until released */
    barriers_release(&B, 100);
    ck_assert_uint_eq(B.n, 2);
    ck_assert_uint_eq(answer(), 250);
    barriers_release(&B, 250);
    ck_assert_uint_eq(answer(), 400);
    barriers_release(&B, 400);
    ck_assert_uint_eq(B.n, 0);
    ck_assert_uint_eq(B.answered, 3);
    /* an answer with no barrier out: nothing */
    ck_assert_uint_eq(answer(), 0);
    ck_assert_uint_eq(B.answered, 3);
}
END_TEST

START_TEST(test_partial_answers_acknowledge_nothing)
{
    bool err = true;
    barriers_add(&B, 64);
    /* "Built on" without the first line */
    ck_assert_uint_eq(line(V2, &err), 0);
    ck_assert(!err);
    /* the first line alone */
    ck_assert_uint_eq(line(V1, &err), 0);
    ck_assert(!err);
    ck_assert(B.reply_open);
    ck_assert_uint_eq(B.answered, 0);
    /* ... completed */
    ck_assert_uint_eq(line(V2, &err), 64);
    ck_assert(!B.reply_open);
    /* the same "Built on" again does not answer a second barrier */
    barriers_release(&B, 64);
    barriers_add(&B, 128);
    ck_assert_uint_eq(line(V2, &err), 0);
    ck_assert_uint_eq(B.answered, 1);
    /* the shortest lines that count */
    ck_assert_uint_eq(barriers_reply_line(&B, "net.opentsdb.tools", 18, &err), 0);
    ck_assert(!err);
    ck_assert_uint_eq(barriers_reply_line(&B, "Built on ", 9, &err), 128);
    ck_assert(!err);
}
END_TEST

START_TEST(test_rejections_are_errors)
{
    bool err = false;
    barriers_add(&B, 80);
    const char *bad[] = {
        "put: illegal argument: a value must be a number",
        "Built on", /* 8 bytes: not the answer's line */
        "net.opentsdb.tool",
        "",
        "unknown command: versio.  Try `help'.",
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        err = false;
        ck_assert_uint_eq(line(bad[i], &err), 0);
        ck_assert_msg(err, "\"%s\" is not an error", bad[i]);
    }
    ck_assert_uint_eq(B.answered, 0);
    ck_assert_uint_eq(B.n, 1);
    ck_assert_uint_eq(answer(), 80);
}
END_TEST

START_TEST(test_ring_room)
{
    for (unsigned i = 1; i <= BARRIER_RING; i++) {
        ck_assert(barriers_room(&B));
        barriers_add(&B, 8u * i);
    }
    ck_assert(!barriers_room(&B));
    ck_assert_uint_eq(B.n, BARRIER_RING);
    barriers_release(&B, 8);
    ck_assert(barriers_room(&B));
    barriers_add(&B, 8u * (BARRIER_RING + 1)); /* wraps to the freed slot */
    ck_assert(!barriers_room(&B));
    /* in order across the wrap */
    for (unsigned i = 2; i <= BARRIER_RING + 1; i++) {
        ck_assert_uint_eq(answer(), 8u * i);
        barriers_release(&B, 8u * i);
    }
    ck_assert_uint_eq(B.n, 0);
}
END_TEST

START_TEST(test_written_and_overdue)
{
    barriers_add(&B, 100);
    barriers_add(&B, 200);
    ck_assert(!barriers_overdue(&B, 50000, 10)); /* not written: not out */
    barriers_written(&B, 150, 1000); /* the first only */
    ck_assert_uint_eq(B.sent_ms[B.head], 1000);
    ck_assert_uint_eq(B.sent_ms[(B.head + 1) % BARRIER_RING], 0);
    ck_assert(!barriers_overdue(&B, 1999, 1000));
    ck_assert(barriers_overdue(&B, 2000, 1000));
    /* written again later: the first stamp stays */
    barriers_written(&B, 200, 1800);
    ck_assert_uint_eq(B.sent_ms[B.head], 1000);
    ck_assert_uint_eq(B.sent_ms[(B.head + 1) % BARRIER_RING], 1800);
    /* answered and released: the next is judged by its own stamp */
    barriers_release(&B, 100);
    ck_assert(!barriers_overdue(&B, 2000, 1000));
    ck_assert(!barriers_overdue(&B, 2799, 1000));
    ck_assert(barriers_overdue(&B, 2800, 1000));
    barriers_release(&B, 1000);
    ck_assert_uint_eq(B.n, 0);
    ck_assert(!barriers_overdue(&B, 1000000, 1000));
}
END_TEST

START_TEST(test_release_partial)
{
    barriers_add(&B, 10);
    barriers_add(&B, 20);
    barriers_add(&B, 30);
    barriers_release(&B, 19); /* not past the second */
    ck_assert_uint_eq(B.n, 2);
    ck_assert_uint_eq(barriers_next(&B, 0), 20);
    barriers_release(&B, 5); /* behind: no change */
    ck_assert_uint_eq(B.n, 2);
    barriers_release(&B, 30);
    ck_assert_uint_eq(B.n, 0);
}
END_TEST

START_TEST(test_rewind)
{
    barriers_add(&B, 100);
    barriers_add(&B, 200);
    barriers_add(&B, 300);
    barriers_written(&B, 300, 5000);
    bool err;
    ck_assert_uint_eq(line(V1, &err), 0); /* half an answer, then the connection fails */
    barriers_rewind(&B, 150);
    ck_assert_uint_eq(B.n, 2);
    ck_assert(!B.reply_open);
    for (unsigned k = 0; k < B.n; k++)
        ck_assert_uint_eq(B.sent_ms[(B.head + k) % BARRIER_RING], 0);
    ck_assert(!barriers_overdue(&B, 1000000, 1));
    /* the second line of the old answer completes nothing */
    ck_assert_uint_eq(line(V2, &err), 0);
    ck_assert(!err);
    /* written again on the next connection, answered in order */
    barriers_written(&B, 300, 9000);
    ck_assert(barriers_overdue(&B, 9100, 100));
    ck_assert_uint_eq(answer(), 200);
}
END_TEST

START_TEST(test_between_and_next)
{
    /* start near the end of the ring so the barriers wrap */
    for (unsigned i = 0; i < BARRIER_RING - 2; i++) {
        barriers_add(&B, i + 1);
        barriers_release(&B, i + 1);
    }
    ck_assert_uint_eq(B.head, BARRIER_RING - 2);
    uint64_t ends[] = { 1000, 1008, 2000, 2008, 3000 };
    for (size_t i = 0; i < TS_ARRAY_LEN(ends); i++)
        barriers_add(&B, ends[i]);
    ck_assert_uint_eq(barriers_between(&B, 0, 999), 0);
    ck_assert_uint_eq(barriers_between(&B, 0, 1000), 1);     /* to is inclusive */
    ck_assert_uint_eq(barriers_between(&B, 1000, 1008), 1);  /* from is not */
    ck_assert_uint_eq(barriers_between(&B, 999, 2008), 4);
    ck_assert_uint_eq(barriers_between(&B, 0, UINT64_MAX), 5);
    ck_assert_uint_eq(barriers_between(&B, 3000, 5000), 0);
    ck_assert_uint_eq(barriers_next(&B, 0), 1000);
    ck_assert_uint_eq(barriers_next(&B, 1000), 1008);
    ck_assert_uint_eq(barriers_next(&B, 1500), 2000);
    ck_assert_uint_eq(barriers_next(&B, 2999), 3000);
    ck_assert_uint_eq(barriers_next(&B, 3000), 0);
    barriers_clear(&B);
    ck_assert_uint_eq(B.n, 0);
    ck_assert(!B.reply_open);
    ck_assert_uint_eq(barriers_between(&B, 0, UINT64_MAX), 0);
    ck_assert_uint_eq(barriers_next(&B, 0), 0);
    ck_assert_uint_eq(answer(), 0);
}
END_TEST

static Suite *
barrier_suite(void)
{
    Suite *s = suite_create("barrier");
    TCase *t = tcase_create("barrier");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, test_init);
    tcase_add_test(t, test_answers_in_order);
    tcase_add_test(t, test_partial_answers_acknowledge_nothing);
    tcase_add_test(t, test_rejections_are_errors);
    tcase_add_test(t, test_ring_room);
    tcase_add_test(t, test_written_and_overdue);
    tcase_add_test(t, test_release_partial);
    tcase_add_test(t, test_rewind);
    tcase_add_test(t, test_between_and_next);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(barrier_suite)

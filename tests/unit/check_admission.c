/*
 * check_admission.c -- unit tests of src/input/admission.c: who may buffer
 * input, and who may decode it, when memory is short.
 *
 * Covers: a request granted at once (charged to POOL_INPUT) when nobody
 * waits and the input class has room; a request that waits holds nothing;
 * strictly first come, first served (a large head is not overtaken by
 * small requests behind it, and is granted once enough comes back); the
 * grant charged exactly; cancel from the middle of the line; the room
 * line resumed only past room_resume, as many as the room carries (at
 * least one), in order, a stopped decoder going to the back; the room line
 * resumed under room_resume when the queues are empty (nothing will drain:
 * admitted input and control charges must not stop it for good); the
 * longest wait; the counters.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "input/admission.h"
#include "base/pool.h"
#include "unit.h"
#include "base/util.h"

#define BS 4096u

static struct pool P;
static struct admission A;
static struct admit_ticket T[8];
static int order[32];
static int norder;

static void
setup(void)
{
    /* 64 blocks, 4 for control, at most 16 for input */
    ck_assert_int_eq(pool_init(&P, BS, 64 * BS, 4 * BS, 16 * BS), TS_OK);
    admission_init(&A, &P, 8 * BS, 4 * BS);
    memset(T, 0, sizeof(T));
    norder = 0;
}

static void
teardown(void)
{
    pool_destroy(&P);
}

static void
note(struct admit_ticket *t, void *ctx)
{
    ck_assert_ptr_eq(ctx, &A);
    ck_assert(!t->waiting);
    ck_assert_int_lt(norder, 32);
    order[norder++] = (int)(t - T);
}

START_TEST(granted_at_once_when_nobody_waits)
{
    ck_assert_int_eq(admission_request(&A, &T[0], 10 * BS, 1.0), TS_OK);
    ck_assert_uint_eq(P.used[POOL_INPUT], 10 * BS);
    ck_assert(!T[0].waiting);
    ck_assert_uint_eq(A.st.grants, 1);
    ck_assert_uint_eq(A.nwaiting, 0);
    admission_release(&A, 10 * BS);
    ck_assert_uint_eq(P.used[POOL_INPUT], 0);
}
END_TEST

START_TEST(waiting_holds_nothing_and_is_served_in_order)
{
    ck_assert_int_eq(admission_request(&A, &T[0], 12 * BS, 1.0), TS_OK);
    /* 4 blocks left: the large one waits ... */
    ck_assert_int_eq(admission_request(&A, &T[1], 10 * BS, 2.0), TS_EAGAIN);
    ck_assert(T[1].waiting);
    ck_assert_uint_eq(P.used[POOL_INPUT], 12 * BS);
    /* ... and a small one that would fit is not served before it */
    ck_assert_int_eq(admission_request(&A, &T[2], 1 * BS, 3.0), TS_EAGAIN);
    ck_assert_uint_eq(A.nwaiting, 2);
    ck_assert_uint_eq(A.bytes_waiting, 11 * BS);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 0);
    ck_assert_double_eq_tol(admission_longest_wait(&A, 10.0), 8.0, 1e-9);
    /* enough comes back: both, in order */
    admission_release(&A, 12 * BS);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_uint_eq(P.used[POOL_INPUT], 11 * BS);
    ck_assert_uint_eq(A.nwaiting, 0);
    ck_assert_uint_eq(A.bytes_waiting, 0);
    ck_assert_uint_eq(A.st.grants, 3);
    ck_assert_uint_eq(A.st.waits, 2);
    ck_assert_double_eq_tol(admission_longest_wait(&A, 10.0), 0.0, 1e-9);
}
END_TEST

START_TEST(grants_stop_at_the_first_that_does_not_fit)
{
    ck_assert_int_eq(admission_request(&A, &T[0], 16 * BS, 1.0), TS_OK);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(admission_request(&A, &T[i], 6 * BS, 1.0 + i), TS_EAGAIN);
    admission_release(&A, 13 * BS); /* 13 free: two of the three */
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert(T[3].waiting);
    ck_assert_uint_eq(P.used[POOL_INPUT], 15 * BS);
}
END_TEST

START_TEST(queues_full_leave_input_nothing)
{
    /* the budget is one: queues holding all but the reserve leave input none */
    ck_assert_int_eq(pool_charge(&P, 60 * BS, POOL_QUEUE), TS_OK);
    ck_assert_int_eq(admission_request(&A, &T[0], BS, 1.0), TS_EAGAIN);
    pool_uncharge(&P, 60 * BS, POOL_QUEUE);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 1);
    ck_assert_uint_eq(P.used[POOL_INPUT], BS);
}
END_TEST

START_TEST(cancel_from_the_middle)
{
    ck_assert_int_eq(admission_request(&A, &T[0], 16 * BS, 1.0), TS_OK);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(admission_request(&A, &T[i], BS, 1.0 + i), TS_EAGAIN);
    admission_cancel(&A, &T[2]);
    ck_assert(!T[2].waiting);
    ck_assert_uint_eq(A.nwaiting, 2);
    ck_assert_uint_eq(A.bytes_waiting, 2 * BS);
    admission_cancel(&A, &T[2]); /* twice is harmless */
    admission_cancel(&A, &T[3]); /* the tail */
    ck_assert_int_eq(admission_request(&A, &T[4], BS, 9.0), TS_EAGAIN);
    admission_release(&A, 16 * BS);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 4);
}
END_TEST

START_TEST(room_line_moves_past_the_threshold_in_turn)
{
    /* 60 blocks for queues; room_resume 8, room_step 4 */
    ck_assert_int_eq(pool_charge(&P, 55 * BS, POOL_QUEUE), TS_OK);
    for (int i = 0; i < 6; i++)
        admission_wait_room(&A, &T[i], 1.0 + i);
    ck_assert_uint_eq(A.nroom, 6);
    admission_wait_room(&A, &T[0], 9.0); /* already in line: no change */
    ck_assert_uint_eq(A.nroom, 6);
    admission_poll(&A, note, note, &A); /* 5 free < 8 */
    ck_assert_int_eq(norder, 0);
    pool_uncharge(&P, 5 * BS, POOL_QUEUE); /* 10 free: 10 / 4 = 2 resumed */
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 0);
    ck_assert_int_eq(order[1], 1);
    /* one stopped again: it goes to the back */
    admission_wait_room(&A, &T[0], 20.0);
    pool_uncharge(&P, 50 * BS, POOL_QUEUE); /* 60 free: all 5 */
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 7);
    int want[] = { 0, 1, 2, 3, 4, 5, 0 };
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(order[i], want[i]);
    ck_assert_uint_eq(A.nroom, 0);
    ck_assert_uint_eq(A.st.room_waits, 7);
    ck_assert_uint_eq(A.st.room_resumes, 7);
    ck_assert_uint_eq(P.used[POOL_INPUT], 0); /* the room line holds nothing */
}
END_TEST

START_TEST(one_resumed_even_when_room_is_under_a_step)
{
    admission_init(&A, &P, 2 * BS, 100 * BS);
    admission_wait_room(&A, &T[0], 1.0);
    admission_wait_room(&A, &T[1], 1.0);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 1);
    ck_assert_int_eq(order[0], 0);
    admission_cancel(&A, &T[1]);
    ck_assert_uint_eq(A.nroom, 0);
}
END_TEST

/* A decoder that parked for room while holding a large admitted unit:
 * its own unit and the control class (history ring, stats answers) leave
 * the queues less than room_resume even once they are empty.  Waiting for
 * room_resume then waits forever (and the input line behind it too). */
START_TEST(room_line_moves_when_the_queues_are_empty)
{
    /* 64 blocks: 4 reserve, input 16 held (admitted), control 38 held */
    ck_assert_int_eq(admission_request(&A, &T[7], 16 * BS, 1.0), TS_OK);
    ck_assert_int_eq(pool_charge(&P, 38 * BS, POOL_CONTROL), TS_OK);
    ck_assert_int_eq(pool_charge(&P, 2 * BS, POOL_QUEUE), TS_OK);
    admission_wait_room(&A, &T[0], 2.0);
    admission_wait_room(&A, &T[1], 3.0);
    admission_poll(&A, note, note, &A); /* 4 free < 8, and 2 more can drain */
    ck_assert_int_eq(norder, 0);
    pool_uncharge(&P, 2 * BS, POOL_QUEUE); /* drained: 6 free, all there is */
    ck_assert_uint_lt(pool_avail(&P, POOL_QUEUE), 8 * BS);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 1); /* 6 / 4: one */
    ck_assert_int_eq(order[0], 0);
    ck_assert(T[1].waiting);
    admission_poll(&A, note, note, &A);
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[1], 1);
    ck_assert_uint_eq(A.nroom, 0);
}
END_TEST

static Suite *
admission_suite(void)
{
    Suite *s = suite_create("admission");
    TCase *t = tcase_create("admission");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, granted_at_once_when_nobody_waits);
    tcase_add_test(t, waiting_holds_nothing_and_is_served_in_order);
    tcase_add_test(t, grants_stop_at_the_first_that_does_not_fit);
    tcase_add_test(t, queues_full_leave_input_nothing);
    tcase_add_test(t, cancel_from_the_middle);
    tcase_add_test(t, room_line_moves_past_the_threshold_in_turn);
    tcase_add_test(t, one_resumed_even_when_room_is_under_a_step);
    tcase_add_test(t, room_line_moves_when_the_queues_are_empty);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(admission_suite)

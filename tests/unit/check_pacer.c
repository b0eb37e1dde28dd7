/*
 * check_pacer.c -- unit tests of max-rate pacing (src/output/pacer.c), on a
 * simulated clock.
 *
 * Covers: rate 0 is unlimited (UINT64_MAX, taking changes nothing); the
 * first call has a tenth of a second's worth in hand (at least one line);
 * tokens accrue at the rate and never past that tenth (a long idle spell
 * gives no burst); fractions wait (0 until a whole line accrued); taking
 * more than allowed leaves nothing, never a debt below zero; a writer
 * taking all it is allowed on a 1 ms tick, at rates from 3 to 200,000
 * lines/s, sends at the rate over 10 s (within 1 %), and never more than
 * rate x T + a tenth of a second's worth in any window of T seconds (the
 * token bucket's bound: the burst in hand is the only excess over the
 * rate); a clock that does not move adds nothing.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "output/pacer.h"
#include "unit.h"
#include "base/util.h"

#define MS 1000000ull   /* ns */
#define T0 (1000 * MS)  /* a monotonic clock is never 0 */

START_TEST(test_unlimited)
{
    struct pacer p;
    pacer_init(&p, 0);
    ck_assert_uint_eq(pacer_allow(&p, T0), UINT64_MAX);
    pacer_take(&p, 1000000);
    ck_assert_uint_eq(pacer_allow(&p, T0), UINT64_MAX);
    ck_assert(p.tokens == 0.0);
}
END_TEST

START_TEST(test_first_call_has_a_tenth)
{
    struct pacer p;
    memset(&p, 0x5A, sizeof(p));
    pacer_init(&p, 1000);
    ck_assert_uint_eq(p.rate, 1000);
    ck_assert_uint_eq(p.waits, 0);
    ck_assert_uint_eq(pacer_allow(&p, T0), 100);
    /* a slow rate still gets a line */
    pacer_init(&p, 3);
    ck_assert_uint_eq(pacer_allow(&p, T0), 1);
}
END_TEST

START_TEST(test_accrues_at_the_rate_up_to_a_tenth)
{
    struct pacer p;
    pacer_init(&p, 1000);
    ck_assert_uint_eq(pacer_allow(&p, T0), 100);
    pacer_take(&p, 100);
    ck_assert_uint_eq(pacer_allow(&p, T0), 0);      /* the clock did not move */
    ck_assert_uint_eq(pacer_allow(&p, T0 + 10 * MS), 10);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 10 * MS), 10); /* asking takes nothing */
    pacer_take(&p, 4);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 15 * MS), 11);
    /* idle for a minute: still a tenth of a second's worth */
    ck_assert_uint_eq(pacer_allow(&p, T0 + 60000 * MS), 100);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 120000 * MS), 100);
}
END_TEST

START_TEST(test_fractions_wait)
{
    struct pacer p;
    pacer_init(&p, 4); /* one line each 250 ms; a tenth is under one: one in hand */
    ck_assert_uint_eq(pacer_allow(&p, T0), 1);
    pacer_take(&p, 1);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 249 * MS), 0);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 251 * MS), 1);
    pacer_take(&p, 1);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 400 * MS), 0);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 499 * MS), 0);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 503 * MS), 1);
}
END_TEST

START_TEST(test_no_debt)
{
    struct pacer p;
    pacer_init(&p, 1000);
    ck_assert_uint_eq(pacer_allow(&p, T0), 100);
    pacer_take(&p, 5000); /* more than allowed (a batch rounded up) */
    ck_assert(p.tokens == 0.0);
    ck_assert_uint_eq(pacer_allow(&p, T0 + 1 * MS), 1);
}
END_TEST

/* A writer that takes everything it is allowed, every 1 ms, for 10 s:
 * sent[i] lines in ms i. */
static uint64_t sent[10000];

static void
run_writer(uint64_t rate)
{
    struct pacer p;
    pacer_init(&p, rate);
    for (int i = 0; i < 10000; i++) {
        uint64_t a = pacer_allow(&p, T0 + (uint64_t)i * MS);
        ck_assert_uint_ne(a, UINT64_MAX);
        sent[i] = a;
        pacer_take(&p, a);
    }
}

START_TEST(test_steady_rate_and_window_bound)
{
    const uint64_t rates[] = { 3, 10, 999, 1000, 12345, 200000 };
    for (size_t r = 0; r < TS_ARRAY_LEN(rates); r++) {
        uint64_t rate = rates[r];
        run_writer(rate);
        uint64_t total = 0;
        for (int i = 0; i < 10000; i++)
            total += sent[i];
        double want = (double)rate * 10.0;
        ck_assert_msg((double)total >= want * 0.99 - 1 && (double)total <= want * 1.01 + 1,
                      "rate %llu: %llu lines in 10 s", (unsigned long long)rate,
                      (unsigned long long)total);
        /* every window of T ms (T = 1 ms .. 2 s): at most rate x T + burst */
        double burst = TS_MAX((double)rate / 10.0, 1.0);
        const int widths[] = { 1, 10, 100, 250, 1000, 2000 };
        for (size_t w = 0; w < TS_ARRAY_LEN(widths); w++) {
            int T = widths[w];
            uint64_t in = 0;
            for (int i = 0; i < 10000; i++) {
                in += sent[i];
                if (i >= T)
                    in -= sent[i - T];
                /* window of T ticks spans T - 1 ms of accrual */
                double bound = (double)rate * (double)(T - 1) / 1000.0 + burst;
                if ((double)in > bound + 1e-6)
                    ck_abort_msg("rate %llu: %llu lines in the %d ms ending at %d ms "
                                 "(bound %.1f)", (unsigned long long)rate,
                                 (unsigned long long)in, T, i, bound);
            }
        }
    }
}
END_TEST

static Suite *
pacer_suite(void)
{
    Suite *s = suite_create("pacer");
    TCase *t = tcase_create("pacer");
    tcase_add_test(t, test_unlimited);
    tcase_add_test(t, test_first_call_has_a_tenth);
    tcase_add_test(t, test_accrues_at_the_rate_up_to_a_tenth);
    tcase_add_test(t, test_fractions_wait);
    tcase_add_test(t, test_no_debt);
    tcase_add_test(t, test_steady_rate_and_window_bound);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(pacer_suite)

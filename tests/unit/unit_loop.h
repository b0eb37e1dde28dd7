/*
 * unit_loop.h -- running a test's own libev loop: until a condition holds
 * (bounded), for a time, or for n more ticks of the test's tick timer.
 * For the suites that drive modules against scripted peers on loopback
 * (check_backend, check_backend_http, check_drain, check_rconn,
 * check_spool).
 */
#ifndef TS_UNIT_LOOP_H
#define TS_UNIT_LOOP_H

#include <check.h>
#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/util.h"

/* Runs loop until cond() holds or ms pass; returns cond(). */
static bool __attribute__((unused))
unit_run_until(struct ev_loop *loop, bool (*cond)(void), int ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)ms;
    while (!cond() && ts_now_ms() < end)
        ev_run(loop, EVRUN_ONCE);
    return cond();
}

/* Runs loop for ms. */
static void __attribute__((unused))
unit_run_ms(struct ev_loop *loop, int ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)ms;
    while (ts_now_ms() < end)
        ev_run(loop, EVRUN_ONCE);
}

/* Runs loop until *ticks (counted by the test's tick timer) grew by n,
 * however long they take (within wait_ms: the test fails past it). */
static void __attribute__((unused))
unit_run_ticks(struct ev_loop *loop, const unsigned *ticks, unsigned n, int wait_ms)
{
    unsigned until = *ticks + n;
    uint64_t end = ts_now_ms() + (uint64_t)wait_ms;
    while (*ticks < until && ts_now_ms() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert_uint_ge(*ticks, until);
}

#endif

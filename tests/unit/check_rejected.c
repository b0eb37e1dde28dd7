/*
 * check_rejected.c -- unit tests of keeping refused points in Redis
 * (src/spool/rejected.c) against a scripted Redis on loopback
 * (fake_redis.h, which knows no EVAL: each keep is answered with an
 * error, as a Redis refusing the script would), on the test's own loop.
 *
 * Covers the memory side of what rejected.h promises: a keep command is
 * charged to the budget (queue class) from the moment it is sent until
 * Redis answers it, or the connection goes; past the budget, or past
 * REJECTED_INFLIGHT commands out, an entry is not kept (counted) and
 * nothing is sent; with Redis away nothing is sent either.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/util.h"
#include "output/backend.h"
#include "spool/rconn.h"
#include "spool/rejected.h"
#include "spool/sentinel.h"
#include "unit.h"
#include "unit_loop.h"

#include "fake_redis.h"

#define WAIT_MS 3000

static struct ev_loop *loop;
#define run_until(cond, ms) unit_run_until(loop, (cond), (ms))
#define run_ms(ms) unit_run_ms(loop, (ms))
static struct fredis R;
static struct config cfg;
static struct sentinel_stats sst;
static struct sentinel *master;
static struct rconn rc;
static struct pool pool;
static struct rejected rj;
static struct cfg_backend bcfg;
static struct backend be[1];
static int nbe = 1;
static const struct resolver_opts ro = { "127.0.0.1:1", 1000 };

static const char LINE[] = "put sys.cpu 1700000000 1 host=a\n";
static const char WHY[] = "Unknown metric";

static bool
ready(void *ctx)
{
    (void)ctx;
    return rconn_up(&rc);
}

static void
on_up(void *ctx)
{
    (void)ctx;
}

static void
on_lost(void *ctx)
{
    (void)ctx;
}

static ev_timer tick_w;

static void
on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    rconn_tick(&rc, (uint64_t)(ev_now(l) * 1000.0));
}

static void
start_with(size_t limit)
{
    ck_assert_int_eq(pool_init(&pool, 4096, limit, 0, 0), TS_OK);
    rconn_init(&rc, loop, master, &cfg.redis, 1000, 20, 100, on_up, on_lost, NULL);
    rejected_init(&rj, &rc, &pool, &cfg, "i1", be, &nbe, ready, NULL);
    ev_timer_init(&tick_w, on_tick, 0.01, 0.01);
    ev_timer_start(loop, &tick_w);
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    fr_open(&R, loop, true);
    config_defaults(&cfg);
    snprintf(cfg.redis.addr.host, sizeof(cfg.redis.addr.host), "127.0.0.1");
    snprintf(cfg.redis.addr.port, sizeof(cfg.redis.addr.port), "%s", R.port_s);
    snprintf(cfg.redis.prefix, sizeof(cfg.redis.prefix), "t");
    cfg.redis.connect_timeout_ms = 1000;
    memset(&sst, 0, sizeof(sst));
    master = sentinel_new(loop, &cfg.redis, &ro, &sst);
    ck_assert_ptr_nonnull(master);
    memset(&bcfg, 0, sizeof(bcfg));
    snprintf(bcfg.name, sizeof(bcfg.name), "tsd1");
    memset(be, 0, sizeof(be));
    be[0].cfg = &bcfg;
}

static void
teardown(void)
{
    ev_timer_stop(loop, &tick_w);
    rconn_free(&rc);
    sentinel_free(master);
    fr_free(&R);
    pool_destroy(&pool);
    ev_loop_destroy(loop);
}

static bool
is_up(void)
{
    return rconn_up(&rc);
}

static bool
all_answered(void)
{
    return rj.outstanding == 0;
}

static void
keep(int n)
{
    for (int i = 0; i < n; i++)
        rejected_keep(&rj, &be[0], LINE, sizeof(LINE) - 1, "unknown_metric", WHY,
                      sizeof(WHY) - 1);
}

/* Charged while out, each command's bytes; given back as answered. */
START_TEST(test_charged_until_answered)
{
    start_with(1 << 20);
    ck_assert(run_until(is_up, WAIT_MS));
    fr_set_stall(&R, true);
    keep(10);
    ck_assert_uint_eq(rj.keep_out, 10);
    size_t held = pool.used[POOL_QUEUE];
    /* the script, the key, the entry (the line, reason, time, backend) */
    ck_assert_uint_ge(held, 10 * (sizeof(LINE) - 1 + sizeof(WHY) - 1 + 300));
    ck_assert_uint_le(held, 10 * (size_t)2048);
    run_ms(50);
    ck_assert_uint_eq(pool.used[POOL_QUEUE], held); /* unanswered: still held */
    fr_set_stall(&R, false);
    ck_assert(run_until(all_answered, WAIT_MS));
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
    ck_assert_uint_eq(rj.keep_out, 0);
    ck_assert_uint_eq(fr_count(&R, "EVAL"), 10);
    ck_assert_uint_eq(rj.st.unkept, 10); /* the fake refused the script */
}
END_TEST

/* The connection goes with commands out: each is given back. */
START_TEST(test_given_back_when_the_connection_goes)
{
    start_with(1 << 20);
    ck_assert(run_until(is_up, WAIT_MS));
    fr_set_stall(&R, true);
    keep(5);
    run_ms(30);
    ck_assert_uint_gt(pool.used[POOL_QUEUE], 0);
    fr_close(&R, fr_last_conn(&R));
    ck_assert(run_until(all_answered, WAIT_MS));
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
    ck_assert_uint_eq(rj.st.unkept, 5);
}
END_TEST

/* A budget without room for a command: not kept, nothing sent. */
START_TEST(test_past_the_budget_not_kept)
{
    start_with(4096); /* a budget of one block */
    ck_assert(run_until(is_up, WAIT_MS));
    /* fill the budget with a block, so no command fits */
    struct block *b = pool_get(&pool, POOL_QUEUE);
    ck_assert_ptr_nonnull(b);
    keep(3);
    ck_assert_uint_eq(rj.st.unkept, 3);
    ck_assert_uint_eq(rj.keep_out, 0);
    run_ms(50);
    ck_assert_uint_eq(fr_count(&R, "EVAL"), 0);
    ck_assert_uint_gt(pool.stats.charge_failures, 0);
    pool_put(&pool, b);
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
}
END_TEST

/* At most REJECTED_INFLIGHT out: the rest not kept, counted at once. */
START_TEST(test_inflight_bound)
{
    start_with(16 << 20);
    ck_assert(run_until(is_up, WAIT_MS));
    fr_set_stall(&R, true);
    keep(REJECTED_INFLIGHT + 7);
    ck_assert_uint_eq(rj.keep_out, REJECTED_INFLIGHT);
    ck_assert_uint_eq(rj.st.unkept, 7);
    fr_set_stall(&R, false);
    ck_assert(run_until(all_answered, WAIT_MS));
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
    keep(1); /* room again */
    ck_assert_uint_eq(rj.keep_out, 1);
    ck_assert(run_until(all_answered, WAIT_MS));
}
END_TEST

/* Redis away: nothing sent, nothing charged. */
START_TEST(test_redis_away_not_kept)
{
    start_with(1 << 20);
    keep(4); /* not connected yet */
    ck_assert_uint_eq(rj.st.unkept, 4);
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
    ck_assert(run_until(is_up, WAIT_MS));
    run_ms(30);
    ck_assert_uint_eq(fr_count(&R, "EVAL"), 0);
}
END_TEST

static Suite *
rejected_suite(void)
{
    Suite *s = suite_create("rejected");
    TCase *t = tcase_create("rejected");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 20);
    tcase_add_test(t, test_charged_until_answered);
    tcase_add_test(t, test_given_back_when_the_connection_goes);
    tcase_add_test(t, test_past_the_budget_not_kept);
    tcase_add_test(t, test_inflight_bound);
    tcase_add_test(t, test_redis_away_not_kept);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(rejected_suite)

/*
 * check_rconn.c -- unit tests of the relay's connection to Redis
 * (src/spool/rconn.c) against a scripted Redis on loopback (fake_redis.h),
 * on the test's own libev loop, where Redis is named by a sentinel.c
 * without Sentinels (the configured numeric address).
 *
 * Covers what rconn.h promises: it connects (the owner is told once) and
 * sends nothing of its own; nothing can be sent while it is down; every
 * command's callback runs exactly once -- with its reply, or with NULL
 * when the connection went -- and the count of replies due follows them
 * to 0; a connection Redis closes is reported lost once and made again
 * after a jittered backoff; a refused connection is retried with a
 * backoff that doubles up to reconnect-max, and reset by a connection;
 * a connection that does not complete is given up at connect-timeout; a
 * reply that is not RESP loses the connection like a close; a reload
 * that moves Redis lets the replies due arrive, then connects to the new
 * address; and which errors say that Redis refuses writes.
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
#include "base/util.h"
#include "spool/rconn.h"
#include "spool/sentinel.h"
#include "unit.h"
#include "unit_loop.h"

#include "fake_redis.h"

/* A condition waited for gives up after this long (valgrind, a busy
 * machine); a passing test never waits it out. */
#define WAIT_MS 3000
#define NCALLS 64

static struct ev_loop *loop;
#define run_until(cond, ms) unit_run_until(loop, (cond), (ms))
#define run_ms(ms) unit_run_ms(loop, (ms))
static struct fredis R, R2;
static struct cfg_redis rcfg;
static struct sentinel_stats sst;
static struct sentinel *master;
static struct rconn rc;
static bool rc_live;
static int ups, losts;
static ev_timer tick_w;
static const struct resolver_opts ro = { "127.0.0.1:1", 1000 };

/* A command's callback: how often it ran, and what it got. */
static struct call {
    int calls;
    bool null;
    int type;
    char str[64];
} calls[NCALLS];

static void
on_up(void *ctx)
{
    ck_assert_ptr_eq(ctx, &rc);
    ups++;
}

static void
on_lost(void *ctx)
{
    ck_assert_ptr_eq(ctx, &rc);
    losts++;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct call *c = priv;
    redisReply *rep = rconn_reply(ac, reply);
    c->calls++;
    c->null = rep == NULL;
    if (rep != NULL) {
        c->type = rep->type;
        snprintf(c->str, sizeof(c->str), "%s", rep->str ? rep->str : "");
    }
}

static void
on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    if (rc_live)
        rconn_tick(&rc, (uint64_t)(ev_now(l) * 1000.0));
}

static void
point_at(const struct fredis *r)
{
    snprintf(rcfg.addr.host, sizeof(rcfg.addr.host), "127.0.0.1");
    snprintf(rcfg.addr.port, sizeof(rcfg.addr.port), "%s", r->port_s);
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    fr_open(&R, loop, true);
    fr_open(&R2, loop, true);
    memset(&rcfg, 0, sizeof(rcfg));
    memset(&sst, 0, sizeof(sst));
    rcfg.connect_timeout_ms = 1000;
    point_at(&R);
    master = sentinel_new(loop, &rcfg, &ro, &sst);
    ck_assert_ptr_nonnull(master);
    memset(calls, 0, sizeof(calls));
    ups = losts = 0;
    rc_live = false;
    ev_timer_init(&tick_w, on_tick, 0.01, 0.01);
    ev_timer_start(loop, &tick_w);
}

static void
teardown(void)
{
    if (rc_live)
        rconn_free(&rc);
    rc_live = false;
    sentinel_free(master);
    fr_free(&R);
    fr_free(&R2);
    ev_timer_stop(loop, &tick_w);
    ev_loop_destroy(loop);
}

static void
start(uint64_t connect_timeout_ms, uint64_t min_ms, uint64_t max_ms)
{
    rconn_init(&rc, loop, master, &rcfg, connect_timeout_ms, min_ms, max_ms, on_up, on_lost, &rc);
    rc_live = true;
}

static bool
is_up(void)
{
    return rconn_up(&rc);
}

static int want_calls;
static bool
all_called(void)
{
    for (int i = 0; i < want_calls; i++)
        if (calls[i].calls == 0)
            return false;
    return true;
}

static bool
lost_once(void)
{
    return losts >= 1;
}

static bool
up_twice(void)
{
    return ups >= 2 && rconn_up(&rc);
}

/* Sends PING n times, command i answered into calls[i]. */
static void
ping(int n)
{
    for (int i = 0; i < n; i++)
        ck_assert(rconn_send1(&rc, on_reply, &calls[i], "PING"));
    want_calls = n;
}

START_TEST(test_connects_and_answers_each_once)
{
    start(1000, 20, 100);
    ck_assert(run_until(is_up, WAIT_MS));
    ck_assert_int_eq(ups, 1);
    ck_assert_int_eq(losts, 0);
    ck_assert_uint_eq(rc.connects, 1);
    ck_assert_int_eq(R.naccepted, 1);
    run_ms(50);
    /* it says nothing of its own but its login check (no password: PING) */
    ck_assert_uint_eq(R.nlog, 1);
    ck_assert_uint_eq(fr_count(&R, "PING"), 1);
    ck_assert_int_eq(rc.pending, 0);
    ping(20);
    const char *argv[3] = { "SET", "k", "v" };
    size_t lens[3] = { 3, 1, 1 };
    ck_assert(rconn_send(&rc, on_reply, &calls[20], 3, argv, lens));
    ck_assert(rconn_send3(&rc, on_reply, &calls[21], "GET", "k", NULL, 0));
    ck_assert(rconn_send3(&rc, rconn_ignore, NULL, "DEL", "k", NULL, 0));
    want_calls = 22;
    ck_assert_int_eq(rc.pending, 23); /* every one sent is due */
    ck_assert(run_until(all_called, WAIT_MS));
    run_ms(50);
    ck_assert_int_eq(rc.pending, 0);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(calls[i].calls, 1);
        ck_assert(!calls[i].null);
        ck_assert_int_eq(calls[i].type, REDIS_REPLY_STATUS);
        ck_assert_str_eq(calls[i].str, "PONG");
    }
    ck_assert_int_eq(calls[21].type, REDIS_REPLY_STRING);
    ck_assert_str_eq(calls[21].str, "v");
    ck_assert_uint_eq(fr_count(&R, "DEL"), 1);
    ck_assert_ptr_null(fr_find(&R, "k", 1));
    ck_assert_int_eq(ups, 1);
}
END_TEST

START_TEST(test_nothing_sent_while_down)
{
    fr_free(&R);
    fr_open(&R, loop, false); /* refused */
    point_at(&R);
    start(1000, 20, 100);
    ck_assert(!rconn_up(&rc));
    ck_assert(!rconn_send1(&rc, on_reply, &calls[0], "PING"));
    ck_assert(!rconn_send3(&rc, on_reply, &calls[0], "GET", "k", NULL, 0));
    ck_assert_int_eq(rc.pending, 0);
    run_ms(100);
    ck_assert_int_eq(calls[0].calls, 0);
    ck_assert_int_eq(ups, 0);
    ck_assert_int_eq(losts, 0);
}
END_TEST

/* Redis closes the connection with replies due: each callback once, with
 * NULL; the loss reported once; a new connection after a backoff. */
START_TEST(test_closed_calls_back_null_and_reconnects)
{
    start(1000, 40, 160);
    ck_assert(run_until(is_up, WAIT_MS));
    fr_set_stall(&R, true);
    ping(5);
    run_ms(30);
    ck_assert_int_eq(rc.pending, 5);
    ck_assert_int_eq(calls[0].calls, 0);
    fr_close(&R, 0);
    ck_assert(run_until(lost_once, WAIT_MS));
    uint64_t lost_at = (uint64_t)(ev_now(loop) * 1000.0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(calls[i].calls, 1);
        ck_assert(calls[i].null);
    }
    ck_assert_int_eq(rc.pending, 0);
    ck_assert_int_eq(losts, 1);
    ck_assert_uint_eq(rc.disconnects, 1);
    ck_assert(!rconn_up(&rc));
    /* retried after a delay jittered in [base/2, 3 base/2) */
    ck_assert_int_eq(rc.state, RC_DOWN);
    ck_assert_msg(rc.retry_at_ms >= lost_at + 20 && rc.retry_at_ms <= lost_at + 60,
                  "retry in %lld ms", (long long)(rc.retry_at_ms - lost_at));
    ck_assert_uint_eq(rc.backoff_ms, 80);
    fr_set_stall(&R, false);
    ck_assert(run_until(up_twice, WAIT_MS));
    ck_assert_int_eq(R.naccepted, 2);
    ck_assert_uint_eq(rc.connects, 2);
    ck_assert_uint_eq(rc.backoff_ms, 40); /* reset by the connection */
    run_ms(50);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(calls[i].calls, 1); /* never again */
    ck_assert_int_eq(losts, 1);
    /* the new connection answers */
    memset(calls, 0, sizeof(calls));
    ping(3);
    ck_assert(run_until(all_called, WAIT_MS));
    ck_assert(!calls[2].null);
    ck_assert_str_eq(calls[2].str, "PONG");
}
END_TEST

/* Refused: one attempt per failure, each after a delay jittered in
 * [base/2, 3 base/2), the base doubling to reconnect-max; the owner is
 * told nothing until it connects. */
START_TEST(test_refused_backs_off)
{
    fr_free(&R);
    fr_open(&R, loop, false);
    point_at(&R);
    start(1000, 40, 160);
    uint64_t base = 40, prev = rc.retry_at_ms;
    for (int k = 0; k < 5; k++) {
        uint64_t end = ts_now_ms() + WAIT_MS;
        while (rc.retry_at_ms == prev && ts_now_ms() < end)
            ev_run(loop, EVRUN_ONCE);
        ck_assert_uint_ne(rc.retry_at_ms, prev);
        ck_assert_int_eq(rc.state, RC_DOWN);
        uint64_t now = (uint64_t)(ev_now(loop) * 1000.0);
        ck_assert_uint_ge(now, prev); /* no attempt before its time */
        ck_assert_msg(rc.retry_at_ms >= now + base / 2 && rc.retry_at_ms <= now + base * 3 / 2,
                      "failure %d: retry in %lld ms, base %llu", k,
                      (long long)(rc.retry_at_ms - now), (unsigned long long)base);
        base = TS_MIN(base * 2, 160);
        ck_assert_uint_eq(rc.backoff_ms, base);
        prev = rc.retry_at_ms;
    }
    ck_assert_int_eq(ups, 0);
    ck_assert_int_eq(losts, 0);
    fr_listen(&R);
    ck_assert(run_until(is_up, WAIT_MS));
    ck_assert_int_eq(ups, 1);
    ck_assert_uint_eq(rc.backoff_ms, 40);
    ck_assert_int_eq(R.naccepted, 1);
}
END_TEST

static bool
gave_up(void)
{
    return rc.state == RC_DOWN;
}

/* A connection that never completes is given up at connect-timeout, not
 * before, and tried again later. */
START_TEST(test_connect_timeout)
{
    fr_free(&R);
    fr_open_full(&R, loop);
    point_at(&R);
    ev_now_update(loop);
    uint64_t t0 = (uint64_t)(ev_now(loop) * 1000.0); /* the loop's clock: the timer's */
    start(150, 40, 160);
    ck_assert_int_eq(rc.state, RC_CONNECTING);
    ck_assert(run_until(gave_up, WAIT_MS));
    ck_assert_uint_ge((uint64_t)(ev_now(loop) * 1000.0) - t0, 150);
    ck_assert_ptr_null(rc.ac);
    ck_assert_int_eq(ups, 0);
    ck_assert_int_eq(losts, 0);
    ck_assert_uint_eq(rc.connects, 0);
    uint64_t now = (uint64_t)(ev_now(loop) * 1000.0);
    ck_assert(rc.retry_at_ms >= now + 20 && rc.retry_at_ms <= now + 60);
    /* the next attempt */
    run_ms((int)(rc.retry_at_ms - now) + 30);
    ck_assert_int_eq(rc.state, RC_CONNECTING);
}
END_TEST

/* A reply that is not RESP: the connection is dropped like a close. */
START_TEST(test_garbage_loses_the_connection)
{
    start(1000, 20, 100);
    ck_assert(run_until(is_up, WAIT_MS));
    R.garbage = true;
    ping(2);
    ck_assert(run_until(all_called, WAIT_MS));
    ck_assert(calls[0].null);
    ck_assert(calls[1].null);
    ck_assert_int_eq(calls[0].calls, 1);
    ck_assert_int_eq(calls[1].calls, 1);
    ck_assert(run_until(lost_once, WAIT_MS));
    ck_assert_int_eq(rc.pending, 0);
    ck_assert(run_until(up_twice, WAIT_MS));
    ck_assert_int_eq(losts, 1);
}
END_TEST

static bool
up_at_r2(void)
{
    return R2.naccepted == 1 && rconn_up(&rc) && ups == 2;
}

/* A reload moves Redis: the replies due still come from the old one,
 * then the loss is reported and the new address connected. */
START_TEST(test_reconfigure_moved)
{
    start(1000, 20, 100);
    ck_assert(run_until(is_up, WAIT_MS));
    fr_set_stall(&R, true);
    ping(3);
    run_ms(20);
    point_at(&R2);
    rconn_reconfigure(&rc, 500, 20, 100, true);
    ck_assert_uint_eq(rc.connect_timeout_ms, 500);
    ck_assert(!rconn_send1(&rc, on_reply, &calls[10], "PING")); /* going */
    fr_set_stall(&R, false);
    ck_assert(run_until(up_at_r2, WAIT_MS));
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(calls[i].calls, 1);
        ck_assert(!calls[i].null); /* answered, not lost */
        ck_assert_str_eq(calls[i].str, "PONG");
    }
    ck_assert_int_eq(calls[10].calls, 0);
    ck_assert_int_eq(losts, 1);
    ck_assert_int_eq(fr_open_conns(&R), 0);
    ck_assert_int_eq(R.naccepted, 1);
}
END_TEST

/* A reload that does not move it keeps the connection. */
START_TEST(test_reconfigure_in_place)
{
    start(1000, 20, 100);
    ck_assert(run_until(is_up, WAIT_MS));
    rconn_reconfigure(&rc, 700, 30, 300, false);
    ck_assert_uint_eq(rc.reconnect_max_ms, 300);
    ck_assert_uint_eq(rc.backoff_ms, 30);
    run_ms(50);
    ck_assert(rconn_up(&rc));
    ck_assert_int_eq(losts, 0);
    ck_assert_int_eq(R.naccepted, 1);
}
END_TEST

START_TEST(test_write_refused)
{
    static const char *const yes[] = {
        "OOM command not allowed when used memory > 'maxmemory'.",
        "READONLY You can't write against a read only replica.",
        "MISCONF Redis is configured to save RDB snapshots, but it is currently not able",
        "EXECABORT Transaction discarded because of previous errors.",
    };
    static const char *const no[] = { "ERR unknown command", "WRONGTYPE Operation", "" };
    redisReply r;
    memset(&r, 0, sizeof(r));
    r.type = REDIS_REPLY_ERROR;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        r.str = (char *)yes[i];
        r.len = strlen(yes[i]);
        ck_assert_msg(rconn_write_refused(&r), "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        r.str = (char *)no[i];
        r.len = strlen(no[i]);
        ck_assert_msg(!rconn_write_refused(&r), "%s", no[i]);
    }
    r.type = REDIS_REPLY_STATUS; /* "OOM" as a status is no refusal */
    r.str = (char *)yes[0];
    ck_assert(!rconn_write_refused(&r));
    r.type = REDIS_REPLY_INTEGER;
    r.str = NULL;
    ck_assert(!rconn_write_refused(&r));
    ck_assert(!rconn_write_refused(NULL));
}
END_TEST


/* ---- logging in ---------------------------------------------------------- */

/* The first command of connection k, as fake Redis logged it. */
static const struct fr_cmd *
first_of_conn(int k)
{
    for (size_t i = 0; i < R.nlog; i++)
        if (R.log[i].conn == k)
            return &R.log[i].cmd;
    return NULL;
}

START_TEST(test_auth_password_first)
{
    R.password = "pw-1";
    snprintf(rcfg.password, sizeof(rcfg.password), "pw-1");
    start(1000, 20, 100);
    ck_assert(run_until(is_up, WAIT_MS));
    const struct fr_cmd *m = first_of_conn(0);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->argc, 2);
    ck_assert(fr_is(&m->argv[0], "AUTH"));
    ck_assert_str_eq(m->argv[1].p, "pw-1");
    ck_assert_uint_eq(rc.auth_failures, 0);
    ping(1);
    ck_assert(run_until(all_called, WAIT_MS));
    ck_assert_str_eq(calls[0].str, "PONG"); /* commands after it are taken */
}
END_TEST

START_TEST(test_auth_acl_user)
{
    R.password = "pw-2";
    R.user = "relay";
    snprintf(rcfg.username, sizeof(rcfg.username), "relay");
    snprintf(rcfg.password, sizeof(rcfg.password), "pw-2");
    start(1000, 20, 100);
    ck_assert(run_until(is_up, WAIT_MS));
    const struct fr_cmd *m = first_of_conn(0);
    ck_assert_int_eq(m->argc, 3);
    ck_assert_str_eq(m->argv[1].p, "relay");
    ck_assert_str_eq(m->argv[2].p, "pw-2");
}
END_TEST

static bool
refused_thrice(void)
{
    return rc.auth_failures >= 3;
}

/* A wrong password is Redis down: never up, nothing else sent, retried
 * with backoff; new credentials (a reload) are tried at once. */
START_TEST(test_auth_wrong_then_fixed)
{
    R.password = "pw-3";
    snprintf(rcfg.password, sizeof(rcfg.password), "nope");
    start(1000, 40, 160);
    ck_assert(run_until(refused_thrice, WAIT_MS));
    ck_assert_int_eq(ups, 0);
    ck_assert(!rconn_up(&rc));
    ck_assert_uint_eq(fr_count(&R, "AUTH"), R.nlog); /* AUTH only */
    ck_assert_int_ge(R.naccepted - fr_open_conns(&R), 2); /* refused ones closed */
    /* backoff: the attempts spread out (40, 80, 160 ms, jittered from half) */
    uint64_t first = R.log[0].ms, third = R.log[2].ms;
    ck_assert_uint_ge(third - first, 40 / 2 + 80 / 2);
    ck_assert(!rconn_send1(&rc, on_reply, &calls[0], "PING"));
    snprintf(rcfg.password, sizeof(rcfg.password), "pw-3");
    rconn_reconfigure(&rc, 1000, 40, 160, true);
    ck_assert(run_until(is_up, WAIT_MS));
    ck_assert_int_eq(ups, 1);
}
END_TEST

/* No password given to a Redis that wants one: the first command (PING)
 * is refused, and that is counted as a refused login. */
START_TEST(test_auth_missing)
{
    R.password = "pw-4";
    start(1000, 20, 100);
    ck_assert(run_until(refused_thrice, WAIT_MS));
    ck_assert_int_eq(ups, 0);
    ck_assert(fr_is(&first_of_conn(0)->argv[0], "PING"));
}
END_TEST

static Suite *
rconn_suite(void)
{
    Suite *s = suite_create("rconn");
    TCase *t = tcase_create("rconn");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 20);
    tcase_add_test(t, test_connects_and_answers_each_once);
    tcase_add_test(t, test_nothing_sent_while_down);
    tcase_add_test(t, test_closed_calls_back_null_and_reconnects);
    tcase_add_test(t, test_refused_backs_off);
    tcase_add_test(t, test_connect_timeout);
    tcase_add_test(t, test_garbage_loses_the_connection);
    tcase_add_test(t, test_reconfigure_moved);
    tcase_add_test(t, test_reconfigure_in_place);
    tcase_add_test(t, test_write_refused);
    tcase_add_test(t, test_auth_password_first);
    tcase_add_test(t, test_auth_acl_user);
    tcase_add_test(t, test_auth_wrong_then_fixed);
    tcase_add_test(t, test_auth_missing);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(rconn_suite)

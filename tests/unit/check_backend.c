/*
 * check_backend.c -- unit tests of the TSD backends (src/output/backend.c) in the
 * test process: a backend built by hand (struct config, cfg_backend and
 * backend_env wired as relay.c does: the flush in an ev_prepare, the tick
 * on a timer) on its own libev loop, against fake TSDs on loopback
 * (fake_tsd.h).
 *
 * Covers: no connection before there is data; lines enqueued one by one
 * or as a run (a tail without "\n" left) arrive in order, are
 * acknowledged by TCP (ack = none) and leave the queue, counted; later
 * lines go on the same connection (pooled, not one per batch); with
 * several connections each series keeps to one connection, in order;
 * ack = version: a barrier after the batches, answered, acknowledges the
 * lines (barriers are not counted as lines), a TSD's rejection is counted
 * with its text; an unanswered barrier keeps the lines, and when the TSD
 * closes the connection they are sent again, first, on the next one; an
 * answer acknowledges the lines before its barrier and none after it; an
 * unanswered barrier fails the connection at ack-timeout (not before),
 * the lines go to on_failed rewound and then again ahead of newer lines;
 * a refused connection makes the backend unavailable, hands the queue to
 * on_failed, and the lines go once the TSD listens; reconnects back off
 * (one attempt per failure, jittered, doubling to reconnect-max, reset by
 * a delivery); max-rate never runs ahead of rate x t + its tenth;
 * backend_reconfigure to a new address closes the connections to the old
 * TSD (its FIN) and the next lines go to the new one, while a change of
 * max-rate or overflow alone keeps the connection; backend_hand_over
 * gives the unacknowledged lines to a callback in order without the
 * barriers, closes the connection and stops reconnecting, a TS_ENOMEM
 * answer is forgotten like TS_OK, TS_EAGAIN stops it with the rest still
 * queued; backend_revive lets it connect again and deliver the rest,
 * whose queued barriers are answered in order (an answer never
 * acknowledges newer lines), with no half-read reply of the closed
 * connection in the way (and leaves a connection that failed by itself
 * alone); the auth line: written first on each new connection, data only
 * after AUTH_SUCCESS, AUTH_FAIL (and the early code's AUT_HFAIL) failing
 * the connection and retried with the backoff, an unanswered line timing
 * out at connect-timeout, the line never in the log or the last error,
 * a reload changing it reconnecting.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "base/config.h"
#include "base/log.h"
#include "base/point.h"
#include "base/pool.h"
#include "base/counters.h"
#include "unit.h"
#include "unit_loop.h"
#include "base/util.h"

#include "fake_tsd.h"

static struct ev_loop *loop;
#define run_until(cond, ms) unit_run_until(loop, (cond), (ms))
#define run_ticks(n) unit_run_ticks(loop, &ticks, (n), WAIT_MS)
static struct pool pool;
static struct config cfg;
static struct cfg_backend bcfg, bcfg2;
static struct backend_env env;
static struct bconn *dirty;
static uint64_t batch_ns;
static struct backend be;
static bool be_live;
static ev_prepare flush_w;
static ev_timer tick_w;
static struct tsd A, B;
static unsigned ticks;

/* A condition waited for gives up after this long: generous, for a busy
 * machine and valgrind (a passing test never waits it out). */
#define WAIT_MS 3000

/* on_failed: the calls, and the lines and unsent bytes the queue held */
static int failed_calls;
static uint64_t failed_lines;
static uint64_t failed_unsent;

static bool
env_running(void *ctx)
{
    (void)ctx;
    return true;
}

static void
env_failed(void *ctx, struct backend *b, struct queue *q, uint64_t *lines_queued)
{
    (void)ctx;
    ck_assert_ptr_eq(b, &be);
    failed_calls++;
    failed_lines = *lines_queued;
    failed_unsent = queue_unsent(q);
    (void)q; /* not taken: they stay in the queue */
}

static void
on_prepare(struct ev_loop *l, ev_prepare *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    backend_flush_all(&dirty);
}

static void
on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ticks++;
    if (be_live)
        backend_tick(&be, (uint64_t)(ev_now(l) * 1000.0));
}

static void
set_backend(struct cfg_backend *b, const char *name, const struct tsd *t)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->name, sizeof(b->name), "%s", name);
    snprintf(b->addr.host, sizeof(b->addr.host), "127.0.0.1");
    snprintf(b->addr.port, sizeof(b->addr.port), "%s", t->port_s);
    b->has_address = true;
    b->conns = 1;
    b->write_timeout_ms = 10000;
    b->connect_timeout_ms = 10000; /* loopback: only a starved loop (valgrind on a loaded machine) takes long */
    b->ack = ACK_NONE;
    b->ack_timeout_ms = 10000;
    b->ack_window = 4096;
    b->max_rate = 0;
    b->overflow = -1;
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as main.c: a write to a closed peer is EPIPE */
    log_set_level(LOG_ERROR);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(pool_init(&pool, 4096, 16 << 20, 0, 0), TS_OK);
    config_defaults(&cfg);
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    dirty = NULL;
    batch_ns = 0;
    failed_calls = 0;
    failed_lines = 0;
    failed_unsent = 0;
    ticks = 0;
    env = (struct backend_env){
        .loop = loop,
        .pool = &pool,
        .cfg = &cfg,
        .dirty = &dirty,
        .batch_read_ns = &batch_ns,
        .running = env_running,
        .on_failed = NULL,
        .has_backlog = NULL,
        .ctx = NULL,
    };
    tsd_open(&A, loop, true);
    tsd_open(&B, loop, true);
    set_backend(&bcfg, "tsd1", &A);
    set_backend(&bcfg2, "tsd1", &B);
    ev_prepare_init(&flush_w, on_prepare);
    ev_prepare_start(loop, &flush_w);
    ev_timer_init(&tick_w, on_tick, 0.02, 0.02);
    ev_timer_start(loop, &tick_w);
    be_live = false;
}

static void
teardown(void)
{
    if (be_live)
        backend_destroy(&be);
    be_live = false;
    tsd_free(&A);
    tsd_free(&B);
    ev_prepare_stop(loop, &flush_w);
    ev_timer_stop(loop, &tick_w);
    pool_destroy(&pool);
    ev_loop_destroy(loop);
}

static void
start(void)
{
    ck_assert_int_eq(backend_init(&be, &env, &bcfg, 0), TS_OK);
    be_live = true;
}

/* Line i: series i % nseries, its timestamp i. */
static size_t
mkline(char *out, size_t cap, unsigned i, unsigned nseries)
{
    return (size_t)snprintf(out, cap, "put m.%u %u %u host=h\n", i % nseries, 1700000000u + i,
                            i);
}

/* Enqueues lines first..first+n-1; appends them to want. */
static void
enqueue(unsigned first, unsigned n, unsigned nseries, char *want, size_t *wlen)
{
    for (unsigned i = first; i < first + n; i++) {
        char line[128];
        size_t len = mkline(line, sizeof(line), i, nseries);
        ck_assert_int_eq(backend_enqueue(&be, point_line_hash(line, len), line, len), TS_OK);
        if (want != NULL) {
            memcpy(want + *wlen, line, len);
            *wlen += len;
            want[*wlen] = '\0';
        }
    }
}

static size_t want_lines;
static bool
a_has_all(void)
{
    return tsd_lines(&A) >= want_lines;
}
static bool
b_has_all(void)
{
    return tsd_lines(&B) >= want_lines;
}
static bool
be_idle(void)
{
    return backend_idle(&be);
}

static char want[1 << 20], got[1 << 20];

/* The offset of line n (from 0) in buf. */
static size_t
line_offset(const char *buf, size_t n)
{
    const char *p = buf;
    for (size_t i = 0; i < n; i++) {
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    return (size_t)(p - buf);
}

START_TEST(test_in_order_and_acknowledged)
{
    start();
    run_ticks(5);
    ck_assert_int_eq(A.naccepted, 0); /* nothing to write: no connection */
    ck_assert_int_eq(be.conns[0].state, BC_IDLE);
    uint64_t fwd = g_stats.points_forwarded;
    size_t wlen = 0;
    enqueue(0, 1500, 1, want, &wlen);
    /* then a run of lines at once, with a tail that is not a line */
    char run[4096];
    size_t rlen = 0;
    for (unsigned i = 1500; i < 1540; i++)
        rlen += mkline(run + rlen, sizeof(run) - rlen, i, 1);
    memcpy(want + wlen, run, rlen);
    wlen += rlen;
    want[wlen] = '\0';
    memcpy(run + rlen, "put m.0 17", 10); /* no "\n" */
    size_t used = 0;
    ck_assert_uint_eq(backend_enqueue_lines(&be, run, rlen + 10, &used), 40);
    ck_assert_uint_eq(used, rlen);
    ck_assert_uint_eq(backend_queued_lines(&be), 1540);
    ck_assert_uint_eq(be.st.lines_queued, 1540);
    want_lines = 1540;
    ck_assert(run_until(a_has_all, WAIT_MS));
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, -1, got, sizeof(got), &glen), 1540);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0, "the TSD read other bytes");
    ck_assert_int_eq(A.naccepted, 1);
    ck_assert_int_eq(be.conns[0].state, BC_UP);
    ck_assert_int_eq(backend_conns_up(&be), 1);
    ck_assert(backend_available(&be));
    /* TCP acknowledged them: the queue lets them go */
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(backend_queued_lines(&be), 0);
    ck_assert_uint_eq(backend_queued_bytes(&be), 0);
    ck_assert_uint_eq(be.st.lines_acked, 1540);
    ck_assert_uint_eq(be.st.connects, 1);
    ck_assert_uint_eq(be.st.failures, 0);
    ck_assert_uint_eq(be.st.bytes_written, wlen);
    ck_assert_uint_eq(g_stats.points_forwarded - fwd, 1540);
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
    /* later lines, one at a time: the same connection, after the others */
    for (unsigned i = 1540; i < 1560; i++) {
        enqueue(i, 1, 1, want, &wlen);
        run_ticks(1);
    }
    want_lines = 1560;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(A.naccepted, 1);
    ck_assert_int_eq(tsd_open_conns(&A), 1);
    ck_assert_uint_eq(be.st.connects, 1);
    ck_assert_uint_eq(be.st.connect_attempts, 1);
    ck_assert_uint_eq(tsd_data(&A, 0, got, sizeof(got), &glen), 1560);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0, "the TSD read other bytes");
    ck_assert_uint_eq(be.st.lines_acked, 1560);
}
END_TEST

START_TEST(test_series_keep_to_a_connection)
{
    bcfg.conns = 3;
    start();
    ck_assert_int_eq(be.nconns, 3);
    enqueue(0, 2570, 257, NULL, NULL);
    want_lines = 2570;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_int_eq(A.naccepted, 3);
    static int conn_of[257];
    static unsigned last_ts[257];
    for (int s = 0; s < 257; s++)
        conn_of[s] = -1;
    memset(last_ts, 0, sizeof(last_ts));
    for (int k = 0; k < A.naccepted; k++) {
        size_t glen;
        size_t n = tsd_data(&A, k, got, sizeof(got), &glen);
        ck_assert_uint_gt(n, 300); /* each gets a fair part */
        for (char *p = got; *p != '\0';) {
            unsigned s, ts;
            ck_assert_int_eq(sscanf(p, "put m.%u %u", &s, &ts), 2);
            ck_assert_uint_lt(s, 257);
            if (conn_of[s] >= 0 && conn_of[s] != k)
                ck_abort_msg("series %u on connections %d and %d", s, conn_of[s], k);
            conn_of[s] = k;
            if (ts <= last_ts[s])
                ck_abort_msg("series %u out of order on connection %d", s, k);
            last_ts[s] = ts;
            p = strchr(p, '\n') + 1;
        }
    }
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(be.st.lines_acked, 2570);
}
END_TEST

START_TEST(test_ack_version)
{
    bcfg.ack = ACK_VERSION;
    A.answer_versions = true;
    start();
    size_t wlen = 0;
    enqueue(0, 1000, 1, want, &wlen);
    /* a line the TSD rejects, among them */
    const char *bad = "put bad 1700000000 1 host=h\n";
    ck_assert_int_eq(backend_enqueue(&be, point_line_hash(bad, strlen(bad)), bad, strlen(bad)),
                     TS_OK);
    memcpy(want + wlen, bad, strlen(bad));
    wlen += strlen(bad);
    enqueue(1000, 1000, 1, want, &wlen);
    want_lines = 2001;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert(run_until(be_idle, WAIT_MS));
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, -1, got, sizeof(got), &glen), 2001);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0, "the TSD read other bytes");
    /* window 4 KiB, a barrier every 2 KiB at least: many, all answered */
    ck_assert_uint_gt(be.st.barriers, wlen / 2048 - 1);
    ck_assert_uint_eq(tsd_versions(&A), be.st.barriers);
    ck_assert_uint_eq(be.st.barriers_answered, be.st.barriers);
    ck_assert_uint_eq(be.st.lines_acked, 2001); /* barriers are not lines */
    ck_assert_uint_eq(be.st.errors, 1);
    ck_assert_str_eq(be.st.last_error, "put: illegal argument: a bad line");
    ck_assert_uint_eq(be.st.ack_timeouts, 0);
    ck_assert_uint_eq(be.conns[0].bar.n, 0);
}
END_TEST

static bool
a_closed_first(void)
{
    return A.naccepted >= 1 && A.c[0].fd < 0;
}
static bool
a_second_has_all(void)
{
    return A.naccepted >= 2 && tsd_data(&A, 1, NULL, 0, NULL) >= want_lines;
}

START_TEST(test_unanswered_sent_again_first)
{
    bcfg.ack = ACK_VERSION;
    start();
    size_t wlen = 0;
    enqueue(0, 50, 1, want, &wlen);
    want_lines = 50;
    ck_assert(run_until(a_has_all, WAIT_MS));
    run_ticks(5); /* TCP acknowledged them long ago: that is not enough */
    /* written, not answered: still held */
    ck_assert_uint_eq(backend_queued_lines(&be), 50);
    ck_assert(!backend_idle(&be));
    ck_assert_uint_eq(be.st.lines_acked, 0);
    /* the TSD goes away with them; newer lines come meanwhile */
    tsd_conn_close(&A.c[0]);
    A.answer_versions = true;
    enqueue(50, 10, 1, want, &wlen);
    want_lines = 60;
    ck_assert(run_until(a_second_has_all, WAIT_MS));
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, 1, got, sizeof(got), &glen), 60);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0,
                  "the next connection did not get the lines again first, in order");
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_ge(be.st.failures, 1);
    ck_assert_uint_ge(be.st.reconnects, 1);
    ck_assert_uint_ge(be.st.lines_resent, 50);
    ck_assert_uint_eq(be.st.lines_acked, 60);
}
END_TEST

static bool
timed_out(void)
{
    return be.st.ack_timeouts > 0;
}

START_TEST(test_ack_timeout)
{
    bcfg.ack = ACK_VERSION;
    bcfg.ack_timeout_ms = 150;
    env.on_failed = env_failed;
    start();
    size_t wlen = 0;
    uint64_t t0 = ts_now_ms();
    enqueue(0, 20, 1, want, &wlen);
    ck_assert(run_until(timed_out, WAIT_MS));
    ck_assert_uint_ge(ts_now_ms() - t0, 150); /* not before ack-timeout */
    ck_assert_uint_eq(be.st.ack_timeouts, 1);
    ck_assert_uint_eq(be.st.failures, 1);
    ck_assert_uint_eq(be.st.lines_acked, 0);
    ck_assert_int_eq(be.conns[0].state, BC_FAILED);
    /* the unacknowledged lines were given back, rewound (and, not taken,
     * stay queued for the next connection) */
    ck_assert_int_eq(failed_calls, 1);
    ck_assert_uint_eq(failed_lines, 20);
    ck_assert_uint_eq(failed_unsent, wlen + BARRIER_LEN * be.st.barriers);
    ck_assert_uint_eq(be.st.lines_resent, 20);
    ck_assert(run_until(a_closed_first, WAIT_MS)); /* the TSD saw it closed */
    /* newer lines meanwhile; the next connection is answered */
    enqueue(20, 10, 1, want, &wlen);
    A.answer_versions = true;
    want_lines = 30;
    ck_assert(run_until(a_second_has_all, WAIT_MS));
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, 1, got, sizeof(got), &glen), 30);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0,
                  "the unacknowledged lines did not go again first, in order");
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(be.st.lines_acked, 30);
    ck_assert_uint_eq(be.st.ack_timeouts, 1);
}
END_TEST

static bool
answered_once(void)
{
    return be.st.barriers_answered >= 1;
}

/* An answer acknowledges the lines before its barrier, not the ones
 * written after it: the TSD answers only the first barrier of a backlog
 * larger than the window. */
START_TEST(test_answer_acknowledges_only_before_it)
{
    bcfg.ack = ACK_VERSION; /* window 4 KiB, a barrier every 2 KiB */
    A.answer_versions = true;
    A.max_answers = 1;
    start();
    size_t wlen = 0;
    enqueue(0, 300, 1, want, &wlen); /* about 9 KiB */
    ck_assert(run_until(answered_once, WAIT_MS));
    run_ticks(5);
    ck_assert_uint_eq(be.st.barriers_answered, 1);
    ck_assert_uint_ge(tsd_versions(&A), 2); /* the window moved: more written */
    size_t before = tsd_lines_before_version(&A, 0, 1);
    ck_assert_uint_gt(before, 0);
    ck_assert_uint_gt(tsd_lines(&A), before);
    ck_assert_uint_eq(be.st.lines_acked, before);
    ck_assert_uint_eq(backend_queued_lines(&be), 300 - before);
    /* the TSD lost the other answers: ack-timeout, and the rest goes
     * again on the next connection, where it is answered */
    A.max_answers = 0;
    bcfg.ack_timeout_ms = 100;
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(be.st.ack_timeouts, 1);
    ck_assert_int_eq(A.naccepted, 2);
    ck_assert_uint_eq(tsd_data(&A, 1, got, sizeof(got), NULL), 300 - before);
    ck_assert_msg(strcmp(got, want + line_offset(want, before)) == 0,
                  "the next connection did not get the unacknowledged lines");
    ck_assert_uint_eq(be.st.lines_acked, 300);
}
END_TEST

static bool
has_failed(void)
{
    return be.st.failures > 0;
}

START_TEST(test_refused_then_listening)
{
    tsd_free(&A);
    tsd_open(&A, loop, false); /* bound, not listening: refused */
    set_backend(&bcfg, "tsd1", &A);
    env.on_failed = env_failed;
    start();
    size_t wlen = 0;
    enqueue(0, 5, 1, want, &wlen);
    ck_assert(run_until(has_failed, WAIT_MS));
    ck_assert(!backend_available(&be));
    ck_assert_int_eq(be.conns[0].state, BC_FAILED);
    ck_assert_int_ge(failed_calls, 1);
    ck_assert_uint_eq(failed_lines, 5);
    ck_assert_uint_eq(backend_queued_lines(&be), 5);
    tsd_listen(&A);
    want_lines = 5;
    ck_assert(run_until(a_has_all, WAIT_MS));
    size_t glen;
    tsd_data(&A, -1, got, sizeof(got), &glen);
    ck_assert(glen == wlen && memcmp(got, want, wlen) == 0);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert(backend_available(&be));
}
END_TEST

/* A TSD that refuses: one attempt per failure, each after a delay
 * jittered in [base/2, 3 base/2) from the backoff, which doubles up to
 * reconnect-max; the first delivery resets it. */
START_TEST(test_reconnect_backoff)
{
    tsd_free(&A);
    tsd_open(&A, loop, false); /* bound, not listening: refused */
    set_backend(&bcfg, "tsd1", &A);
    cfg.reconnect_min_ms = 40;
    cfg.reconnect_max_ms = 160;
    start();
    ck_assert_uint_eq(be.backoff_ms, 40);
    size_t wlen = 0;
    enqueue(0, 5, 1, want, &wlen);
    struct bconn *c = &be.conns[0];
    uint64_t base = 40, prev_retry = 0;
    for (int k = 0; k < 5; k++) {
        uint64_t f = be.st.failures;
        uint64_t end = ts_now_ms() + WAIT_MS;
        while (be.st.failures == f && ts_now_ms() < end)
            ev_run(loop, EVRUN_ONCE);
        ck_assert_uint_eq(be.st.failures, f + 1);
        ck_assert_uint_eq(be.st.connect_attempts, f + 1);
        ck_assert_int_eq(c->state, BC_FAILED);
        uint64_t now = (uint64_t)(ev_now(loop) * 1000.0); /* the failure's time */
        ck_assert_uint_ge(now, prev_retry); /* no attempt before its time */
        ck_assert_msg(c->retry_at_ms >= now + base / 2 && c->retry_at_ms < now + base * 3 / 2,
                      "failure %d: retry in %lld ms, base %llu", k,
                      (long long)(c->retry_at_ms - now), (unsigned long long)base);
        base = TS_MIN(base * 2, 160);
        ck_assert_uint_eq(be.backoff_ms, base);
        prev_retry = c->retry_at_ms;
    }
    ck_assert_uint_eq(be.st.connects, 0);
    ck_assert_uint_eq(A.naccepted, 0);
    tsd_listen(&A);
    want_lines = 5;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(be.backoff_ms, 40);
    ck_assert_uint_eq(be.st.connects, 1);
    ck_assert_int_eq(A.naccepted, 1);
}
END_TEST

START_TEST(test_max_rate)
{
    bcfg.max_rate = 2000; /* 200 in hand, then 2 a millisecond */
    start();
    uint64_t t0 = ts_now_ns();
    enqueue(0, 600, 1, NULL, NULL);
    uint64_t end = ts_now_ms() + WAIT_MS;
    size_t n = 0;
    while (n < 600 && ts_now_ms() < end) {
        ev_run(loop, EVRUN_ONCE);
        n = tsd_lines(&A);
        double el = (double)(ts_now_ns() - t0) / 1e9;
        if ((double)n > 200.0 + 2000.0 * el + 1.0)
            ck_abort_msg("%zu lines after %.3f s at max-rate 2000", n, el);
    }
    ck_assert_uint_eq(n, 600);
    ck_assert_uint_gt(be.st.pacing_waits, 0);
    double el = (double)(ts_now_ns() - t0) / 1e9;
    ck_assert_msg(el >= 0.19, "600 lines in %.3f s at max-rate 2000", el);
}
END_TEST

static bool
a_all_closed(void)
{
    return A.naccepted > 0 && tsd_open_conns(&A) == 0;
}

START_TEST(test_reconfigure_moves)
{
    bcfg.conns = 2;
    bcfg2.conns = 2;
    start();
    enqueue(0, 200, 50, NULL, NULL);
    want_lines = 200;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert(run_until(be_idle, WAIT_MS));
    int a_conns = A.naccepted;
    ck_assert_int_ge(a_conns, 1);
    /* a new rate and overflow alone: the connections stay */
    struct cfg_backend same = bcfg;
    same.max_rate = 100000;
    same.overflow = OVERFLOW_DROP;
    backend_reconfigure(&be, &same);
    ck_assert_ptr_eq(be.cfg, &same);
    ck_assert_uint_eq(be.pacer.rate, 100000);
    ck_assert_int_eq(be.overflow, OVERFLOW_DROP);
    run_ticks(3);
    ck_assert_int_eq(tsd_open_conns(&A), a_conns);
    ck_assert_int_eq(be.st.failures, 0);
    /* a new address: the old TSD sees its connections closed */
    backend_reconfigure(&be, &bcfg2);
    ck_assert_ptr_eq(be.cfg, &bcfg2);
    ck_assert_int_eq(be.overflow, cfg.overflow); /* -1: the relay's again */
    ck_assert(run_until(a_all_closed, WAIT_MS));
    enqueue(200, 200, 50, NULL, NULL);
    want_lines = 200;
    ck_assert(run_until(b_has_all, WAIT_MS));
    ck_assert_uint_eq(tsd_lines(&A), 200); /* nothing more there */
    ck_assert_int_eq(A.naccepted, a_conns);
    ck_assert(run_until(be_idle, WAIT_MS));
    /* every line the new TSD got is of the second batch */
    tsd_data(&B, -1, got, sizeof(got), NULL);
    for (char *p = got; *p != '\0'; p = strchr(p, '\n') + 1) {
        unsigned s, ts;
        ck_assert_int_eq(sscanf(p, "put m.%u %u", &s, &ts), 2);
        ck_assert_uint_ge(ts, 1700000200u);
    }
}
END_TEST

/* hand-over callback: records the lines it takes; the call numbered
 * eagain_at answers TS_EAGAIN (takes nothing), enomem_at TS_ENOMEM */
static char handed[1 << 16];
static size_t handed_len;
static int hand_calls;
static int eagain_at;  /* call number answered TS_EAGAIN, -1: none */
static int enomem_at;

static int
take_line(void *ctx, const char *line, size_t len, uint64_t hash)
{
    ck_assert_ptr_eq(ctx, &handed);
    ck_assert_uint_eq(hash, point_line_hash(line, len));
    int call = hand_calls++;
    if (call == eagain_at)
        return TS_EAGAIN;
    ck_assert_uint_lt(handed_len + len, sizeof(handed));
    memcpy(handed + handed_len, line, len);
    handed_len += len;
    handed[handed_len] = '\0';
    return call == enomem_at ? TS_ENOMEM : TS_OK;
}

START_TEST(test_hand_over)
{
    bcfg.ack = ACK_VERSION; /* the TSD does not answer: nothing is acknowledged */
    start();
    size_t wlen = 0;
    enqueue(0, 100, 1, want, &wlen); /* about 3 KiB: a barrier half-way, one at the end */
    want_lines = 100;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_uint_ge(tsd_versions(&A), 2);
    handed_len = 0;
    hand_calls = 0;
    eagain_at = -1;
    enomem_at = 7;
    struct bconn *c = &be.conns[0];
    ck_assert_uint_eq(backend_hand_over(c, take_line, handed), 100);
    ck_assert_int_eq(hand_calls, 100); /* barriers are not handed */
    ck_assert_msg(handed_len == wlen && memcmp(handed, want, wlen) == 0,
                  "handed other lines: \"%.60s...\"", handed);
    ck_assert_int_eq(c->state, BC_FAILED);
    ck_assert_int_eq(c->fd, -1);
    ck_assert(queue_empty(&c->q));
    ck_assert_uint_eq(c->lines_queued, 0);
    ck_assert_uint_eq(c->bar.n, 0);
    ck_assert(backend_idle(&be));
    ck_assert(run_until(a_all_closed, WAIT_MS));
    /* no more attempts, even with data */
    enqueue(100, 10, 1, NULL, NULL);
    run_ticks(10); /* reconnect-min is one tick */
    ck_assert_int_eq(A.naccepted, 1);
    ck_assert_int_eq(c->state, BC_FAILED);
    /* TS_EAGAIN at the 4th line: 3 handed, 7 stay */
    handed_len = 0;
    hand_calls = 0;
    eagain_at = 3;
    enomem_at = -1;
    ck_assert_uint_eq(backend_hand_over(c, take_line, handed), 3);
    ck_assert_uint_eq(c->lines_queued, 7);
    ck_assert_uint_eq(backend_queued_lines(&be), 7);
    ck_assert(!queue_empty(&c->q));
    char line[128];
    size_t len = mkline(line, sizeof(line), 102, 1);
    ck_assert_uint_eq(handed_len, len * 3); /* 100, 101, 102: the same width */
    ck_assert(memcmp(handed + handed_len - len, line, len) == 0);
    /* revived: it connects again and delivers the rest, in order */
    A.answer_versions = true;
    backend_revive(&be);
    ck_assert_uint_eq(c->retry_at_ms, 0);
    want_lines = 107;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_int_eq(A.naccepted, 2);
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, 1, got, sizeof(got), &glen), 7);
    len = mkline(line, sizeof(line), 103, 1);
    ck_assert(memcmp(got, line, len) == 0);
    ck_assert(run_until(be_idle, WAIT_MS));
}
END_TEST

/* A hand-over stopped by TS_EAGAIN leaves lines and barriers queued;
 * revived, the connection writes them again with newer lines after them
 * and a barrier of their own.  Each answer acknowledges only the lines
 * before the barrier it answers: the first answer, to the oldest barrier
 * still queued, must not acknowledge the newer lines. */
START_TEST(test_hand_over_rest_is_answered)
{
    bcfg.ack = ACK_VERSION; /* the TSD does not answer yet */
    start();
    size_t wlen = 0;
    enqueue(0, 100, 1, want, &wlen); /* about 3 KiB: a barrier half-way, one at the end */
    want_lines = 100;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_uint_eq(tsd_versions(&A), 2);
    struct bconn *c = &be.conns[0];
    handed_len = 0;
    hand_calls = 0;
    eagain_at = 10;
    enomem_at = -1;
    ck_assert_uint_eq(backend_hand_over(c, take_line, handed), 10);
    ck_assert_uint_eq(c->lines_queued, 90);
    ck_assert_msg(handed_len == line_offset(want, 10) && memcmp(handed, want, handed_len) == 0,
                  "handed other lines");
    /* added back; newer lines come */
    enqueue(100, 10, 1, want, &wlen);
    A.answer_versions = true;
    A.max_answers = 1;
    backend_revive(&be);
    want_lines = 200;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert(run_until(answered_once, WAIT_MS));
    run_ticks(5);
    ck_assert_int_eq(A.naccepted, 2);
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, 1, got, sizeof(got), &glen), 100);
    ck_assert_msg(strcmp(got, want + line_offset(want, 10)) == 0,
                  "the rest and the newer lines did not go in order");
    ck_assert_uint_eq(tsd_versions(&A), 5); /* the 2 queued again, one after the new lines */
    size_t before = tsd_lines_before_version(&A, 1, 1);
    ck_assert_uint_gt(before, 0);
    ck_assert_uint_lt(before, 90);
    ck_assert_uint_eq(be.st.barriers_answered, 1);
    ck_assert_uint_eq(be.st.lines_acked, before);
    ck_assert_uint_eq(backend_queued_lines(&be), 100 - before);
    ck_assert(!backend_idle(&be));
    /* the other answers come */
    A.max_answers = 0;
    tsd_reply(&A.c[1], TSD_VERSION_REPLY);
    tsd_reply(&A.c[1], TSD_VERSION_REPLY);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(be.st.barriers_answered, 3);
    ck_assert_uint_eq(be.st.lines_acked, 100);
    ck_assert_uint_eq(be.st.failures, 0);
}
END_TEST

/* A reply line half read when the hand-over closed the connection is
 * forgotten: it is not glued to the first line the next connection
 * reads. */
static bool
reply_read(void)
{
    return be.st.reply_bytes > 0;
}

START_TEST(test_hand_over_forgets_half_a_reply)
{
    bcfg.ack = ACK_VERSION;
    start();
    enqueue(0, 10, 1, NULL, NULL);
    want_lines = 10;
    ck_assert(run_until(a_has_all, WAIT_MS));
    tsd_reply(&A.c[0], "put: illegal argu"); /* the rest never comes */
    ck_assert(run_until(reply_read, WAIT_MS));
    struct bconn *c = &be.conns[0];
    handed_len = 0;
    hand_calls = 0;
    eagain_at = 0; /* the others have no room: all stays */
    enomem_at = -1;
    ck_assert_uint_eq(backend_hand_over(c, take_line, handed), 0);
    ck_assert_uint_eq(c->lines_queued, 10);
    A.answer_versions = true;
    backend_revive(&be);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(be.st.errors, 0);
    ck_assert_uint_eq(be.st.barriers_answered, 1);
    ck_assert_uint_eq(be.st.lines_acked, 10);
}
END_TEST

START_TEST(test_revive_leaves_other_failures)
{
    bcfg.conns = 2;
    start();
    be.conns[0].state = BC_FAILED;
    be.conns[0].retry_at_ms = UINT64_MAX; /* handed over */
    be.conns[1].state = BC_FAILED;
    be.conns[1].retry_at_ms = 12345;      /* failed by itself: backing off */
    backend_revive(&be);
    ck_assert_uint_eq(be.conns[0].retry_at_ms, 0);
    ck_assert_uint_eq(be.conns[1].retry_at_ms, 12345);
    be.conns[0].state = be.conns[1].state = BC_IDLE;
}
END_TEST


/* ---- the auth line ([backend] auth) --------------------------------------- */

#define SECRET "hello s3cr3t-token"

static bool
a_auth_matched(void)
{
    return A.auth_matched + A.auth_mismatched >= 1;
}

static unsigned want_auth_failures;
static bool
auth_failed_enough(void)
{
    return be.st.auth_failures >= want_auth_failures;
}

/* A connection's first bytes are the auth line; data goes only after the
 * TSD's AUTH_SUCCESS, and then in order, on the same connection. */
START_TEST(test_auth_first_then_data)
{
    A.auth = SECRET;
    A.auth_reply = "AUTH_SUCCESS\r\n";
    snprintf(bcfg.auth, sizeof(bcfg.auth), "%s", SECRET);
    start();
    run_ticks(5);
    ck_assert_int_eq(A.naccepted, 0); /* no data, no connection, no auth line */
    size_t wlen = 0;
    enqueue(0, 200, 1, want, &wlen);
    want_lines = 200;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_uint_eq(A.auth_matched, 1);
    ck_assert_uint_eq(A.auth_mismatched, 0);
    ck_assert_uint_eq(A.data_before_auth, 0);
    ck_assert_int_eq(A.c[0].skip, strlen(SECRET) + 1); /* the very first line */
    size_t glen;
    ck_assert_uint_eq(tsd_data(&A, -1, got, sizeof(got), &glen), 200);
    ck_assert(glen == wlen && memcmp(got, want, wlen) == 0);
    ck_assert_int_eq(be.conns[0].state, BC_UP);
    ck_assert_uint_eq(be.st.auth_failures, 0);
    ck_assert(run_until(be_idle, WAIT_MS));
    /* later data: the same connection, no second auth line */
    enqueue(200, 10, 1, NULL, NULL);
    want_lines = 210;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_int_eq(A.naccepted, 1);
    ck_assert_uint_eq(A.auth_matched, 1);
}
END_TEST

/* OpenTSDB's failure word (and the misspelt one of its early code): the
 * connection fails, nothing but the auth line was written, and it is
 * tried again with the backoff; once the TSD takes it, the data goes. */
START_TEST(test_auth_refused_retried_with_backoff)
{
    static const char *const refusals[] = { "AUTH_FAIL\r\n", "AUT_HFAIL\r\n" };
    A.auth = SECRET;
    snprintf(bcfg.auth, sizeof(bcfg.auth), "%s", SECRET);
    env.on_failed = env_failed;
    start();
    for (int k = 0; k < 2; k++) {
        A.auth_reply = refusals[k];
        enqueue((unsigned)k * 5, 5, 1, NULL, NULL);
        want_auth_failures = (unsigned)(k + 1) * 2;
        ck_assert(run_until(auth_failed_enough, WAIT_MS));
    }
    ck_assert_uint_eq(tsd_lines(&A), 0);         /* no data on a refused connection */
    ck_assert_uint_eq(A.data_before_auth, 0);
    ck_assert(!backend_available(&be));
    ck_assert_int_ge((int)be.st.connect_attempts, 4);
    ck_assert_uint_le(be.st.connect_attempts, be.st.auth_failures + 1); /* one try each */
    A.auth_reply = "AUTH_SUCCESS.\r\n";           /* the early code's success */
    want_lines = 10;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert(backend_available(&be));
}
END_TEST

/* No answer within connect-timeout: the connection fails (a TSD whose
 * plugin hangs must not hold the data forever). */
START_TEST(test_auth_unanswered_times_out)
{
    A.auth = SECRET;
    A.auth_reply = NULL;
    snprintf(bcfg.auth, sizeof(bcfg.auth), "%s", SECRET);
    bcfg.connect_timeout_ms = 150;
    start();
    enqueue(0, 3, 1, NULL, NULL);
    ck_assert(run_until(a_auth_matched, WAIT_MS));
    ck_assert_int_eq(be.conns[0].state, BC_AUTH);
    uint64_t t0 = ts_now_ms();
    want_auth_failures = 1;
    ck_assert(run_until(auth_failed_enough, WAIT_MS));
    ck_assert_uint_ge(ts_now_ms() - t0, 100);
    ck_assert_uint_eq(tsd_lines(&A), 0);
}
END_TEST

/* A TSD without authentication answers the line as an unknown command,
 * quoting its first word: that is a failure, and neither the log nor the
 * backend's last error ever holds the line. */
START_TEST(test_auth_line_never_logged)
{
    char path[] = "/tmp/check_backend_auth_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(log_init(LOG_DEBUG, path, 64 * 1024), TS_OK);
    A.auth = "something else";                 /* answered AUTH_FAIL */
    snprintf(bcfg.auth, sizeof(bcfg.auth), "%s", SECRET);
    start();
    enqueue(0, 2, 1, NULL, NULL);
    want_auth_failures = 1;
    ck_assert(run_until(auth_failed_enough, WAIT_MS));
    A.auth = SECRET;                           /* now an unknown command quoting it */
    A.auth_reply = "unknown command: hello.  Try `help'.\r\n";
    want_auth_failures = 3;
    ck_assert(run_until(auth_failed_enough, WAIT_MS));
    log_flush(1000);
    log_close();
    log_set_level(LOG_ERROR);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    ck_assert_msg(strstr(text, "auth line") != NULL, "the failure is logged: [%s]", text);
    ck_assert_msg(strstr(text, "s3cr3t") == NULL && strstr(text, "hello") == NULL,
                  "the log holds the line: [%s]", text);
    ck_assert(strstr(be.st.last_error, "hello") == NULL);
    ck_assert_uint_eq(be.st.errors, 0);
}
END_TEST

/* A reload that changes the line reconnects with the new one. */
START_TEST(test_auth_changed_by_reload)
{
    A.auth = SECRET;
    A.auth_reply = "AUTH_SUCCESS\r\n";
    snprintf(bcfg.auth, sizeof(bcfg.auth), "%s", SECRET);
    start();
    enqueue(0, 3, 1, NULL, NULL);
    want_lines = 3;
    ck_assert(run_until(a_has_all, WAIT_MS));
    bcfg2 = bcfg;
    snprintf(bcfg2.auth, sizeof(bcfg2.auth), "hello other");
    A.auth = "hello other";
    backend_reconfigure(&be, &bcfg2);
    enqueue(3, 3, 1, NULL, NULL);
    want_lines = 6;
    ck_assert(run_until(a_has_all, WAIT_MS));
    ck_assert_int_eq(A.naccepted, 2);
    ck_assert_uint_eq(A.auth_matched, 2);
    ck_assert_uint_eq(A.data_before_auth, 0);
}
END_TEST

static Suite *
backend_suite(void)
{
    Suite *s = suite_create("backend");
    TCase *t = tcase_create("backend");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 20);
    tcase_add_test(t, test_in_order_and_acknowledged);
    tcase_add_test(t, test_series_keep_to_a_connection);
    tcase_add_test(t, test_ack_version);
    tcase_add_test(t, test_unanswered_sent_again_first);
    tcase_add_test(t, test_ack_timeout);
    tcase_add_test(t, test_answer_acknowledges_only_before_it);
    tcase_add_test(t, test_refused_then_listening);
    tcase_add_test(t, test_reconnect_backoff);
    tcase_add_test(t, test_max_rate);
    tcase_add_test(t, test_reconfigure_moves);
    tcase_add_test(t, test_hand_over);
    tcase_add_test(t, test_hand_over_rest_is_answered);
    tcase_add_test(t, test_hand_over_forgets_half_a_reply);
    tcase_add_test(t, test_revive_leaves_other_failures);
    tcase_add_test(t, test_auth_first_then_data);
    tcase_add_test(t, test_auth_refused_retried_with_backoff);
    tcase_add_test(t, test_auth_unanswered_times_out);
    tcase_add_test(t, test_auth_line_never_logged);
    tcase_add_test(t, test_auth_changed_by_reload);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(backend_suite)

/*
 * check_spool.c -- unit tests of the Redis spool (src/spool/spool.c and
 * the modules it is made of: stage, settle, unspool, recover, evacuate)
 * against a scripted Redis (fake_redis.h) and a scripted TSD
 * (fake_tsd.h) on loopback, on the test's own libev loop.  One backend is
 * built by hand and wired as lifecycle.c wires it (a failed connection's
 * queue goes to spool_take_queue, the spool's backlog keeps it probing);
 * lines are submitted as relay.c submits them: to the spool when
 * spool_should_take says so, else to the backend.
 *
 * Covers what spool.h promises: a backend's lines go to the spool once it
 * is unavailable or above spool-high, and keep going there while its list
 * is not empty (spool mode), so a backend that came back gets everything
 * in order, once, and then its lines directly again; the open staging
 * block is pushed once spool-flush-interval old (not before, not much
 * after), sealed ones at once; a failed connection's lines go to the
 * list's head in one LPUSH, ahead of lines spooled since; Redis refusing
 * writes (OOM, READONLY) sets spool_full -- the spool takes no new lines,
 * the list is still drained, staged lines go to the backend from memory
 * once the list is empty, and a probe write clears spool_full when Redis
 * takes writes again; pushes lost with the connection are pushed again
 * on the next one; with Redis gone, staged lines go to the backend from
 * memory; start-up recovery adopts the layout before instances (in-flight
 * entries first) in front of the instance's list; with min-replicas-ack,
 * staged lines count as stored only once WAIT confirms them; shutdown
 * moves the connection queues to the list's head and deletes the entries
 * they were drained from, in one transaction.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/counters.h"
#include "base/log.h"
#include "base/point.h"
#include "base/pool.h"
#include "base/util.h"
#include "output/backend.h"
#include "spool/entry.h"
#include "spool/spool.h"
#include "spool/spool_state.h" /* a look inside, for what no timing can show */
#include "unit.h"
#include "unit_loop.h"

#include "fake_redis.h"
#include "fake_tsd.h"

#define WAIT_MS 5000
#define KEY "t:i1:spool:tsd1"
#define FLUSH_MS 100

static struct ev_loop *loop;
#define run_until(cond, ms) unit_run_until(loop, (cond), (ms))
#define run_ticks(n) unit_run_ticks(loop, &ticks, (n), WAIT_MS)
static struct pool pool;
static struct config cfg;
static struct backend_env env;
static struct bconn *dirty;
static uint64_t batch_ns;
static struct backend be[1];
static bool be_live;
static struct spool *sp;
static bool running;
static struct tsd T;
static struct fredis R;
static struct entry_codec ec;
static unsigned ticks;
static ev_prepare flush_w;
static ev_timer tick_w;

static char want[1 << 20], got[1 << 20], buf[1 << 20];
static size_t wlen, want_lines;

static bool
env_running(void *ctx)
{
    (void)ctx;
    return running;
}

static void
env_failed(void *ctx, struct backend *b, struct queue *q, uint64_t *lines_queued)
{
    (void)ctx;
    spool_take_queue(b, q, lines_queued);
}

static bool
env_backlog(void *ctx, const struct backend *b)
{
    (void)ctx;
    return spool_backend_mode(b) || spool_backend_staged_bytes(b) > 0;
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
    uint64_t now = (uint64_t)(ev_now(l) * 1000.0);
    if (be_live)
        backend_tick(&be[0], now);
    spool_tick(sp, now);
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    memset(&g_stats, 0, sizeof(g_stats));
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(pool_init(&pool, 4096, 32 << 20, 0, 0), TS_OK);
    config_defaults(&cfg);
    cfg.memory_limit = 32 << 20;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    cfg.redis.enabled = true;
    cfg.redis.flush_interval_ms = FLUSH_MS;
    cfg.redis.connect_timeout_ms = 1000;
    snprintf(cfg.redis.prefix, sizeof(cfg.redis.prefix), "t");
    tsd_open(&T, loop, true);
    fr_open(&R, loop, true);
    snprintf(cfg.redis.addr.port, sizeof(cfg.redis.addr.port), "%s", R.port_s);
    cfg.nbackends = 1;
    struct cfg_backend *b = &cfg.backends[0];
    snprintf(b->name, sizeof(b->name), "tsd1");
    snprintf(b->addr.host, sizeof(b->addr.host), "127.0.0.1");
    snprintf(b->addr.port, sizeof(b->addr.port), "%s", T.port_s);
    b->has_address = true;
    b->conns = 1;
    b->write_timeout_ms = 10000;
    b->connect_timeout_ms = 1000;
    b->ack = ACK_NONE;
    b->ack_timeout_ms = 60000;
    b->ack_window = 4096;
    b->overflow = -1;
    dirty = NULL;
    batch_ns = 0;
    env = (struct backend_env){ .loop = loop, .pool = &pool, .cfg = &cfg, .dirty = &dirty,
                                .batch_read_ns = &batch_ns, .running = env_running,
                                .on_failed = env_failed, .has_backlog = env_backlog };
    ck_assert_int_eq(entry_codec_init(&ec, pool.data_size, 0), TS_OK);
    sp = NULL;
    be_live = false;
    running = true;
    ticks = 0;
    wlen = want_lines = 0;
    want[0] = '\0';
    ev_prepare_init(&flush_w, on_prepare);
    ev_prepare_start(loop, &flush_w);
    ev_timer_init(&tick_w, on_tick, 0.02, 0.02);
    ev_timer_start(loop, &tick_w);
}

static void
teardown(void)
{
    spool_destroy(sp);
    sp = NULL;
    if (be_live)
        backend_destroy(&be[0]);
    be_live = false;
    tsd_free(&T);
    fr_free(&R);
    entry_codec_free(&ec);
    ev_prepare_stop(loop, &flush_w);
    ev_timer_stop(loop, &tick_w);
    pool_destroy(&pool);
    ev_loop_destroy(loop);
}

static bool
usable(void)
{
    return spool_usable(sp);
}

/* The backend and the spool; waits until the spool is usable. */
static void
start(void)
{
    ck_assert_int_eq(backend_init(&be[0], &env, &cfg.backends[0], 0), TS_OK);
    be_live = true;
    struct spool_env senv = { .loop = loop, .pool = &pool, .cfg = &cfg, .backends = be,
                              .nbackends = 1, .instance = "i1", .running = env_running };
    sp = spool_create(&senv);
    ck_assert_ptr_nonnull(sp);
    ck_assert(run_until(usable, WAIT_MS));
}

static size_t
mkline(char *out, size_t cap, unsigned i)
{
    return (size_t)snprintf(out, cap, "put m.s %u %u host=h\n", 1700000000u + i, i);
}

/* Lines first..first+n-1, as the relay submits them; appended to want.
 * Returns how many the spool took. */
static unsigned
submit(unsigned first, unsigned n)
{
    unsigned spooled = 0;
    for (unsigned i = first; i < first + n; i++) {
        char line[128];
        size_t len = mkline(line, sizeof(line), i);
        int s = 0;
        if (spool_should_take(sp, &be[0], backend_available(&be[0])))
            s = spool_offer(&be[0], line, len);
        ck_assert_int_ge(s, 0);
        if (s == 0)
            ck_assert_int_eq(backend_enqueue(&be[0], point_line_hash(line, len), line, len),
                             TS_OK);
        spooled += (unsigned)s;
        memcpy(want + wlen, line, len);
        wlen += len;
        want[wlen] = '\0';
        want_lines++;
    }
    return spooled;
}

/* An entry of lines first..first+n-1, staged at `stamp`. */
static size_t
mkentry(unsigned first, unsigned n, uint64_t stamp)
{
    char lines[8192];
    size_t len = 0;
    for (unsigned i = first; i < first + n; i++)
        len += mkline(lines + len, sizeof(lines) - len, i);
    return entry_build(&ec, lines, len, n, stamp);
}

/* The lines of the list's entries, in order, into buf; their count. */
static size_t
list_lines(const char *key, size_t *len)
{
    size_t n = 0, o = 0;
    for (size_t i = 0; i < fr_llen(&R, key); i++) {
        const struct fr_str *e = fr_index(&R, key, i);
        struct entry_info info;
        long raw = entry_decode(&ec, e->p, e->n, &info);
        ck_assert_int_ge(raw, 0);
        memcpy(buf + o, ec.dbuf, (size_t)raw);
        o += (size_t)raw;
        n += info.lines;
    }
    buf[o] = '\0';
    *len = o;
    return n;
}

/* want[from line a, to line b) as a string, into out. */
static const char *
want_range(unsigned a, unsigned b, char *out, size_t cap)
{
    size_t o = 0;
    for (unsigned i = a; i < b; i++)
        o += mkline(out + o, cap - o, i);
    return out;
}

static bool
tsd_has_all(void)
{
    return tsd_lines(&T) >= want_lines;
}

static bool
unavailable(void)
{
    return !backend_available(&be[0]);
}

static bool
mode_over(void)
{
    return !spool_backend_mode(&be[0]) && tsd_has_all();
}

static bool
nothing_staged(void)
{
    return spool_backend_staged_bytes(&be[0]) == 0;
}

/* The TSD got exactly want, in order, each line once (connection i, or
 * all of them). */
static void
check_tsd_got_want(int i)
{
    size_t glen;
    ck_assert_uint_eq(tsd_data(&T, i, got, sizeof(got), &glen), want_lines);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0,
                  "the TSD read other lines: \"%s\"", esc(got, TS_MIN(glen, 300)));
}

/* A refusing TSD: the first line fails the connection and goes to the
 * list's head (line 0); the backend is unavailable. */
static void
fail_backend(void)
{
    tsd_free(&T);
    tsd_open(&T, loop, false);
    snprintf(cfg.backends[0].addr.port, sizeof(cfg.backends[0].addr.port), "%s", T.port_s);
    start();
    ck_assert_uint_eq(submit(0, 1), 0); /* available: directly */
    ck_assert(run_until(unavailable, WAIT_MS));
    ck_assert(run_until(nothing_staged, WAIT_MS));
    ck_assert_uint_eq(fr_count(&R, "LPUSH"), 1);
    ck_assert_uint_eq(fr_llen(&R, KEY), 1);
    ck_assert(spool_backend_mode(&be[0]));
}

START_TEST(test_no_spool_takes_nothing)
{
    ck_assert_int_eq(backend_init(&be[0], &env, &cfg.backends[0], 0), TS_OK);
    be_live = true;
    ck_assert(!spool_should_take(NULL, &be[0], false));
    ck_assert(!spool_should_take(NULL, &be[0], true));
    ck_assert_int_eq(spool_offer(&be[0], "put m 1 1 a=b\n", 14), 0);
    ck_assert(!spool_usable(NULL));
    ck_assert(spool_quiet(NULL));
}
END_TEST

static size_t rpush_before;

static bool
rpushed(void)
{
    return fr_count(&R, "RPUSH") > rpush_before;
}

START_TEST(test_staged_lines_pushed_within_flush_interval)
{
    fail_backend();
    ck_assert(spool_should_take(sp, &be[0], false));
    /* the open block: pushed once it is spool-flush-interval old */
    uint64_t t0 = ts_now_ms();
    ck_assert_uint_eq(submit(1, 10), 10);
    ck_assert(run_until(rpushed, WAIT_MS));
    const struct fr_logent *e = fr_nth(&R, "RPUSH", 0);
    ck_assert_msg(e->ms + 25 >= t0 + FLUSH_MS && e->ms <= t0 + FLUSH_MS + 100,
                  "pushed %lld ms after staging", (long long)(e->ms - t0));
    ck_assert_str_eq(e->cmd.argv[1].p, KEY);
    ck_assert(run_until(nothing_staged, WAIT_MS));
    size_t len;
    ck_assert_uint_eq(list_lines(KEY, &len), 11); /* the failed line at the head */
    ck_assert(len == wlen && memcmp(buf, want, wlen) == 0);
    ck_assert_uint_eq(spool_backend_entries(&be[0]), 2);
    ck_assert_uint_eq(spool_backend_staged_lines(&be[0]), 10);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 10);
    ck_assert(spool_backend_settled(&be[0]));
    ck_assert_uint_eq(g_stats.points_spooled, 11);
    /* blocks that are full go at once, without waiting: sent before the
     * loop ran again (spool_state.h: the RPUSHes out, the open block left) */
    rpush_before = fr_count(&R, "RPUSH");
    ck_assert_uint_eq(submit(11, 300), 300); /* about 2.7 blocks */
    const struct spool_backend *sb = be[0].sp;
    ck_assert_int_eq(sb->npushing, 2);
    ck_assert_ptr_eq(sb->staging.head, sb->staging.tail);
    ck_assert(run_until(nothing_staged, WAIT_MS));
    ck_assert_uint_eq(fr_count(&R, "RPUSH"), rpush_before + 3);
    ck_assert_uint_eq(list_lines(KEY, &len), 311);
    ck_assert(len == wlen && memcmp(buf, want, wlen) == 0);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 310);
    ck_assert_uint_eq(spool_get_stats(sp)->pushes, 5);
}
END_TEST

static size_t rpush_while_back;

START_TEST(test_spool_mode_keeps_order)
{
    fail_backend();
    ck_assert_uint_eq(submit(1, 199), 199);
    ck_assert(run_until(nothing_staged, WAIT_MS));
    ck_assert_uint_gt(spool_backend_entries(&be[0]), 1);
    tsd_listen(&T);
    /* the backend comes back while new lines keep coming: they go to the
     * spool as long as its list is not empty */
    bool seen_available_in_mode = false;
    unsigned spooled = 200; /* line 0 evacuated, 1..199 staged */
    for (unsigned i = 200; i < 400; i += 10) {
        if (backend_available(&be[0]) && spool_backend_mode(&be[0])) {
            seen_available_in_mode = true;
            ck_assert(spool_should_take(sp, &be[0], true));
        }
        unsigned n = submit(i, 10);
        ck_assert(n == 10 || !spool_backend_mode(&be[0]));
        spooled += n;
        run_ticks(1);
    }
    ck_assert(seen_available_in_mode);
    ck_assert(run_until(mode_over, WAIT_MS));
    run_ticks(3);
    check_tsd_got_want(-1);
    ck_assert_uint_eq(fr_llen(&R, KEY), 0);
    ck_assert_uint_eq(g_stats.points_unspooled, spooled);
    ck_assert_uint_eq(g_stats.points_spooled, spooled);
    /* mode over: lines go directly again */
    ck_assert(!spool_should_take(sp, &be[0], true));
    rpush_while_back = fr_count(&R, "RPUSH");
    ck_assert_uint_eq(submit(400, 10), 0);
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    run_ticks(FLUSH_MS / 20 + 2);
    ck_assert_uint_eq(fr_count(&R, "RPUSH"), rpush_while_back);
    check_tsd_got_want(-1);
}
END_TEST

static bool
full(void)
{
    return spool_full(sp);
}

static bool
not_full(void)
{
    return !spool_full(sp);
}

static bool
list_drained(void)
{
    return fr_llen(&R, KEY) == 0;
}

static bool
all_acknowledged(void)
{
    return backend_idle(&be[0]) && tsd_has_all();
}

static unsigned answered_by_hand;

/* Answers the versions the TSD read and left unanswered; the next ones
 * are answered as they come. */
static void
answer_all(void)
{
    T.answer_versions = true;
    size_t due = tsd_versions(&T) - T.answered - answered_by_hand;
    for (size_t i = 0; i < due; i++, answered_by_hand++)
        tsd_reply(&T.c[T.naccepted - 1], TSD_VERSION_REPLY);
}

/* OOM: spool_full, nothing new taken, the list drained all the same, the
 * staged lines from memory once it is empty, a probe clears it. */
START_TEST(test_oom_full_and_the_drain_goes_on)
{
    cfg.backends[0].ack = ACK_VERSION; /* the TSD does not answer yet */
    answered_by_hand = 0;
    for (unsigned e = 0; e < 3; e++) { /* a list from before */
        size_t n = mkentry(e * 10, 10, 1000 + e);
        fr_rpush(&R, KEY, ec.zbuf, n);
    }
    want_range(0, 30, want, sizeof(want));
    wlen = strlen(want);
    want_lines = 30;
    R.refuse = FR_OOM;
    start();
    ck_assert(spool_backend_mode(&be[0]));
    ck_assert_uint_eq(spool_backend_entries(&be[0]), 3);
    ck_assert(run_until(tsd_has_all, WAIT_MS)); /* read, not yet acknowledged */
    ck_assert_uint_eq(submit(30, 10), 10);      /* mode: to the spool */
    ck_assert(run_until(full, WAIT_MS));
    const struct spool_stats *st = spool_get_stats(sp);
    ck_assert_uint_eq(st->refused, 1);
    ck_assert_uint_eq(st->full_episodes, 1);
    ck_assert(!spool_usable(sp));
    ck_assert(!spool_should_take(sp, &be[0], true));
    ck_assert(!spool_should_take(sp, &be[0], false));
    ck_assert_int_eq(spool_offer(&be[0], "put m 1 1 a=b\n", 14), 0);
    run_ticks(5);
    ck_assert_uint_eq(tsd_lines(&T), 30); /* staged lines wait behind the list */
    ck_assert_uint_eq(fr_llen(&R, KEY), 3);
    answer_all();
    ck_assert(run_until(list_drained, WAIT_MS)); /* LREM works at maxmemory */
    ck_assert(spool_full(sp));
    ck_assert(run_until(tsd_has_all, WAIT_MS)); /* then memory */
    ck_assert_uint_ge(st->local_drains, 1);
    check_tsd_got_want(-1);
    ck_assert(run_until(all_acknowledged, WAIT_MS));
    run_ticks(2);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 10);
    /* Redis takes writes again: the probe says so */
    R.refuse = FR_ACCEPT;
    ck_assert(run_until(not_full, WAIT_MS));
    const struct fr_logent *p = fr_nth(&R, "RPUSHX", fr_count(&R, "RPUSHX") - 1);
    ck_assert_str_eq(p->cmd.argv[1].p, "t:i1:full-probe");
    ck_assert_uint_eq(fr_llen(&R, "t:i1:full-probe"), 0);
    ck_assert(spool_usable(sp));
    ck_assert_uint_eq(st->full_episodes, 1);
}
END_TEST

/* READONLY (a replica) with an empty list: the staged lines go to the
 * backend from memory, and count as stored once it has them. */
START_TEST(test_readonly_full_from_memory)
{
    cfg.backends[0].ack = ACK_VERSION;
    cfg.redis.spool_high = 2048;
    cfg.redis.spool_low = 1024;
    answered_by_hand = 0;
    start();
    R.refuse = FR_READONLY;
    ck_assert_uint_eq(submit(0, 40), 0); /* about 1.4 KiB: directly */
    ck_assert(!spool_should_take(sp, &be[0], true));
    unsigned spooled = submit(40, 60);    /* above spool-high: the spool */
    ck_assert_uint_gt(spooled, 20);
    ck_assert(spool_backend_mode(&be[0]));
    ck_assert(run_until(full, WAIT_MS));
    ck_assert_uint_eq(spool_get_stats(sp)->refused, 1);
    ck_assert(run_until(tsd_has_all, WAIT_MS)); /* from memory */
    ck_assert_uint_ge(spool_get_stats(sp)->local_drains, 1);
    ck_assert_uint_eq(fr_llen(&R, KEY), 0);
    check_tsd_got_want(-1);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 0); /* not acknowledged */
    answer_all();
    ck_assert(run_until(all_acknowledged, WAIT_MS));
    run_ticks(2);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), spooled);
    ck_assert(spool_backend_settled(&be[0]));
    ck_assert(spool_full(sp));
    R.refuse = FR_ACCEPT;
    ck_assert(run_until(not_full, WAIT_MS));
    ck_assert(run_until(mode_over, WAIT_MS));
}
END_TEST

static bool
lpushed(void)
{
    return fr_count(&R, "LPUSH") >= 1 && nothing_staged();
}

/* A failed connection's lines go to the head of the list, ahead of the
 * lines spooled after them, and reach the TSD first. */
START_TEST(test_failed_connection_to_the_head)
{
    cfg.backends[0].ack = ACK_VERSION; /* not answered: the lines stay queued */
    cfg.redis.spool_high = 2048;
    cfg.redis.spool_low = 1024;
    start();
    unsigned spooled = submit(0, 150);
    unsigned direct = 150 - spooled;
    ck_assert_uint_gt(direct, 40);
    ck_assert_uint_gt(spooled, 50);
    ck_assert(run_until(nothing_staged, WAIT_MS));
    size_t entries = fr_llen(&R, KEY);
    ck_assert_uint_ge(entries, 1);
    ck_assert_uint_eq(fr_count(&R, "LPUSH"), 0);
    /* the TSD drops the connection with the lines unanswered */
    tsd_conn_close(&T.c[0]);
    ck_assert(run_until(lpushed, WAIT_MS));
    ck_assert_uint_eq(fr_llen(&R, KEY), entries + 1);
    char part[1 << 16];
    const struct fr_str *head = fr_index(&R, KEY, 0);
    struct entry_info info;
    long raw = entry_decode(&ec, head->p, head->n, &info);
    ck_assert_int_gt(raw, 0);
    want_range(0, direct, part, sizeof(part));
    ck_assert_msg((size_t)raw == strlen(part) && memcmp(ec.dbuf, part, (size_t)raw) == 0,
                  "the head is not the failed connection's lines (no barriers)");
    /* (the counter counts the queue's barrier lines too) */
    ck_assert_uint_ge(spool_get_stats(sp)->lines_evacuated, direct);
    size_t len;
    ck_assert_uint_eq(list_lines(KEY, &len), 150);
    ck_assert(len == wlen && memcmp(buf, want, wlen) == 0);
    /* answered now: the next connections get all of it, in order, once */
    T.answer_versions = true;
    ck_assert(run_until(mode_over, WAIT_MS));
    size_t glen = 0;
    for (int k = 1; k < T.naccepted; k++) {
        size_t n;
        tsd_data(&T, k, got + glen, sizeof(got) - glen, &n);
        glen += n;
    }
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0,
                  "after the failure the TSD read other lines: \"%s\"", esc(got, 300));
    ck_assert(run_until(list_drained, WAIT_MS));
}
END_TEST

START_TEST(test_recovery_adopts_the_old_layout)
{
    cfg.redis.spool_low = 0; /* nothing is under it: the drain waits */
    size_t n = mkentry(0, 5, 1000); /* in flight at a crash: the oldest */
    fr_rpush(&R, "t:inflight:tsd1", ec.zbuf, n);
    n = mkentry(5, 5, 1001);
    fr_rpush(&R, "t:spool:tsd1", ec.zbuf, n);
    n = mkentry(10, 5, 1002);
    fr_rpush(&R, "t:spool:tsd1", ec.zbuf, n);
    n = mkentry(15, 5, 1003);
    fr_rpush(&R, KEY, ec.zbuf, n);
    want_range(0, 20, want, sizeof(want));
    wlen = strlen(want);
    want_lines = 20;
    start();
    ck_assert_uint_eq(fr_count(&R, "LMOVE"), 3);
    ck_assert_uint_eq(fr_llen(&R, "t:inflight:tsd1"), 0);
    ck_assert_uint_eq(fr_llen(&R, "t:spool:tsd1"), 0);
    size_t len;
    ck_assert_uint_eq(list_lines(KEY, &len), 20);
    ck_assert(len == wlen && memcmp(buf, want, wlen) == 0);
    ck_assert_uint_eq(spool_get_stats(sp)->requeued, 3);
    ck_assert_uint_eq(spool_backend_entries(&be[0]), 4);
    ck_assert(spool_backend_mode(&be[0]));
    ck_assert_uint_eq(spool_backend_oldest_ms(&be[0]), 0); /* not read, not probed yet */
    run_ticks(2);
    ck_assert_uint_eq(spool_backend_oldest_ms(&be[0]), 1000);
    ck_assert_uint_eq(tsd_lines(&T), 0);
    cfg.redis.spool_low = 4 << 20;
    ck_assert(run_until(mode_over, WAIT_MS));
    check_tsd_got_want(-1);
    ck_assert(run_until(list_drained, WAIT_MS));
}
END_TEST

static bool
lost(void)
{
    return !spool_connected(sp);
}

static bool
pushed_again(void)
{
    return fr_count(&R, "RPUSH") >= 1 && nothing_staged() && spool_connected(sp);
}

/* The RPUSH is out when the connection goes: the block is pushed again on
 * the next one, in its place. */
START_TEST(test_lost_push_pushed_again)
{
    fail_backend();
    ck_assert_uint_eq(submit(1, 20), 20);
    fr_set_stall(&R, true);
    run_ticks(FLUSH_MS / 20 + 3); /* the RPUSH went, unanswered */
    ck_assert_uint_gt(spool_backend_staged_bytes(&be[0]), 0);
    fr_close(&R, fr_last_conn(&R));
    ck_assert(run_until(lost, WAIT_MS));
    ck_assert_uint_eq(spool_get_stats(sp)->disconnects, 1);
    ck_assert(!spool_usable(sp));
    fr_set_stall(&R, false);
    ck_assert(run_until(pushed_again, WAIT_MS));
    ck_assert_uint_eq(spool_get_stats(sp)->connects, 2);
    size_t len;
    ck_assert_uint_eq(list_lines(KEY, &len), 21);
    ck_assert(len == wlen && memcmp(buf, want, wlen) == 0);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 20);
}
END_TEST

static bool
tsd_has_memory_part(void)
{
    return tsd_lines(&T) >= 20;
}

/* Redis gone with a push out: the staged lines go to the backend from
 * memory; what Redis had comes when it is back. */
START_TEST(test_redis_gone_lines_from_memory)
{
    fail_backend();
    ck_assert_uint_eq(submit(1, 20), 20);
    fr_set_stall(&R, true);
    run_ticks(FLUSH_MS / 20 + 3);
    fr_stop(&R); /* refused from now on */
    ck_assert(run_until(lost, WAIT_MS));
    ck_assert_int_eq(spool_offer(&be[0], "put m 1 1 a=b\n", 14), 0);
    tsd_listen(&T);
    ck_assert(run_until(tsd_has_memory_part, WAIT_MS));
    char part[8192];
    size_t glen;
    ck_assert_uint_eq(tsd_data(&T, -1, got, sizeof(got), &glen), 20);
    want_range(1, 21, part, sizeof(part));
    ck_assert_str_eq(got, part); /* line 0 is in Redis */
    ck_assert_uint_ge(spool_get_stats(sp)->local_drains, 1);
    run_ticks(5);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 20);
    fr_set_stall(&R, false);
    fr_start(&R);
    ck_assert(run_until(mode_over, WAIT_MS));
    ck_assert_uint_eq(tsd_data(&T, -1, got, sizeof(got), &glen), 21);
    ck_assert(memcmp(got, part, strlen(part)) == 0);
    ck_assert_str_eq(got + strlen(part), want_range(0, 1, part, sizeof(part)));
}
END_TEST

static bool
evacuated(void)
{
    return spool_get_stats(sp)->lines_evacuated > 0;
}

/* Versions read on connections 1.. (after the first one failed). */
static size_t
versions_after_first(void)
{
    size_t n = tsd_versions(&T);
    for (size_t off = 0; off + 8 <= T.c[0].len;) {
        const char *nl = memchr(T.c[0].buf + off, '\n', T.c[0].len - off);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (T.c[0].buf + off)) + 1;
        n -= len == 8 && memcmp(T.c[0].buf + off, "version\n", 8) == 0;
        off += len;
    }
    return n;
}

/* A failed connection's lines taken by the spool whose LPUSH never lands
 * (Redis goes with it out) are given back to the backend from memory:
 * without their version barriers, which would otherwise go out as data
 * and could be taken for the answer to a real barrier (acknowledging
 * lines early).  Every "version" the TSD reads after the failure is a
 * barrier the backend wrote after it. */
START_TEST(test_failed_connection_from_memory_without_barriers)
{
    cfg.backends[0].ack = ACK_VERSION; /* not answered: the lines stay queued */
    start();
    ck_assert_uint_eq(submit(0, 60), 0); /* available: directly */
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    ck_assert_uint_gt(be[0].st.barriers, 0);
    fr_set_stall(&R, true);
    tsd_conn_close(&T.c[0]);
    ck_assert(run_until(evacuated, WAIT_MS));
    run_ticks(3); /* the LPUSH is out, unanswered */
    uint64_t barriers_before = be[0].st.barriers;
    fr_stop(&R);
    ck_assert(run_until(lost, WAIT_MS));
    T.answer_versions = true;
    want_lines *= 2; /* the first connection's copy, and the resent one */
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    run_ticks(5);
    ck_assert_uint_eq(versions_after_first(), be[0].st.barriers - barriers_before);
    size_t glen;
    ck_assert_uint_eq(tsd_data(&T, -1, got, sizeof(got), &glen), want_lines);
    ck_assert_msg(glen == 2 * wlen && memcmp(got + wlen, want, wlen) == 0,
                  "the resent lines are not the lines: \"%s\"", esc(got + wlen, 300));
}
END_TEST

static bool
short_once(void)
{
    return spool_get_stats(sp)->replica_shortfalls >= 1;
}

static bool
stored_all(void)
{
    return spool_backend_stored_lines(&be[0]) == spool_backend_staged_lines(&be[0]) &&
           spool_backend_settled(&be[0]);
}

START_TEST(test_min_replicas_ack)
{
    cfg.redis.min_replicas_ack = 1;
    R.replicas = 1;
    fail_backend(); /* (its LPUSH waited for replicas too) */
    R.replicas = 0;
    ck_assert_uint_eq(submit(1, 10), 10);
    ck_assert(run_until(short_once, WAIT_MS));
    run_ticks(FLUSH_MS / 20 + 3);
    ck_assert_uint_eq(fr_llen(&R, KEY), 2); /* in Redis, */
    ck_assert_uint_eq(spool_backend_staged_lines(&be[0]), 10);
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 0); /* not confirmed */
    ck_assert(!spool_backend_settled(&be[0]));
    const struct fr_logent *w = fr_nth(&R, "WAIT", 0);
    ck_assert_str_eq(w->cmd.argv[1].p, "1");
    R.replicas = 1;
    ck_assert(run_until(stored_all, WAIT_MS));
    ck_assert_uint_eq(spool_backend_stored_lines(&be[0]), 10);
    ck_assert_uint_ge(spool_get_stats(sp)->replica_shortfalls, 1);
}
END_TEST

static bool
quiet(void)
{
    return spool_quiet(sp);
}

static bool
in_flight_read(void)
{
    return tsd_lines(&T) >= 10;
}

/* Shutdown: what the connection holds (drained entries' lines and lines
 * queued directly) goes to the head of the list, and the drained entries
 * leave it, in one transaction. */
START_TEST(test_shutdown_moves_the_queues)
{
    cfg.backends[0].ack = ACK_VERSION; /* never answered */
    size_t n = mkentry(0, 10, 1000);
    fr_rpush(&R, KEY, ec.zbuf, n);
    start();
    ck_assert(run_until(in_flight_read, WAIT_MS)); /* read, not acknowledged */
    run_ticks(3);
    want_range(0, 10, want, sizeof(want));
    wlen = strlen(want);
    want_lines = 10;
    ck_assert_uint_eq(fr_llen(&R, KEY), 1);
    running = false; /* as lifecycle.c: shutdown began */
    spool_shutdown_begin(sp);
    ck_assert(run_until(quiet, WAIT_MS));
    ck_assert_uint_eq(fr_count(&R, "LPUSH"), 1);
    ck_assert_uint_eq(fr_count(&R, "LREM"), 1);
    ck_assert_uint_eq(backend_queued_lines(&be[0]), 0);
    size_t len;
    ck_assert_uint_eq(fr_llen(&R, KEY), 1); /* the old entry left, the queue came */
    ck_assert_uint_eq(list_lines(KEY, &len), 10);
    ck_assert(len == wlen && memcmp(buf, want, wlen) == 0);
    ck_assert_uint_eq(spool_get_stats(sp)->lines_evacuated, 10);
    ck_assert(!spool_usable(sp));
}
END_TEST

static Suite *
spool_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *t = tcase_create("spool");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_no_spool_takes_nothing);
    tcase_add_test(t, test_staged_lines_pushed_within_flush_interval);
    tcase_add_test(t, test_spool_mode_keeps_order);
    tcase_add_test(t, test_oom_full_and_the_drain_goes_on);
    tcase_add_test(t, test_readonly_full_from_memory);
    tcase_add_test(t, test_failed_connection_to_the_head);
    tcase_add_test(t, test_recovery_adopts_the_old_layout);
    tcase_add_test(t, test_lost_push_pushed_again);
    tcase_add_test(t, test_redis_gone_lines_from_memory);
    tcase_add_test(t, test_failed_connection_from_memory_without_barriers);
    tcase_add_test(t, test_min_replicas_ack);
    tcase_add_test(t, test_shutdown_moves_the_queues);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(spool_suite)

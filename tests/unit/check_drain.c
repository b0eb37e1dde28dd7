/*
 * check_drain.c -- unit tests of the drain (src/spool/drain.c): a spool
 * list read back into a backend, against a scripted Redis (fake_redis.h)
 * and a scripted TSD (fake_tsd.h) on loopback, on the test's own libev
 * loop.  The drain is driven as spool.c drives it: drain_check and
 * drain_read every tick while its gate is open, drain_lost when the
 * connection goes and again when it is back.
 *
 * Covers what drain.h promises: entries are read with LRANGE from just
 * past those in flight, in order, and their lines queued to the backend;
 * an entry is deleted (LREM, by value) only once every line of it was
 * acknowledged -- checked at every LREM Redis receives -- and the owner
 * is told of each, once; reads stop at DRAIN_READ_MAX and never ask
 * more than the queues have room for -- checked at every LRANGE; a lost
 * connection loses no entry and delivers none twice: an unanswered read
 * is made again, and with entries in flight nothing is read until their
 * deletions are through, then from the head; the same when the head
 * changed under the drain; an entry that does not decode is moved to
 * <key>:corrupt; the staging time of the oldest entry comes from LINDEX
 * when none is in flight; and a Redis refusing writes at maxmemory (OOM)
 * is drained all the same.
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
#include "base/point.h"
#include "base/pool.h"
#include "base/util.h"
#include "output/backend.h"
#include "spool/drain.h"
#include "spool/entry.h"
#include "spool/rconn.h"
#include "spool/sentinel.h"
#include "unit.h"
#include "unit_loop.h"

#include "fake_redis.h"
#include "fake_tsd.h"

#define WAIT_MS 5000
#define KEY "t:i1:spool:tsd1"
#define CORRUPT_KEY KEY ":corrupt"

static struct ev_loop *loop;
#define run_until(cond, ms) unit_run_until(loop, (cond), (ms))
#define run_ticks(n) unit_run_ticks(loop, &ticks, (n), WAIT_MS)
static struct pool pool;
static struct config cfg;
static struct cfg_backend bcfg;
static struct backend_env env;
static struct bconn *dirty;
static uint64_t batch_ns;
static struct backend be;
static struct tsd T;
static struct fredis R;
static struct sentinel_stats sst;
static struct sentinel *master;
static struct rconn rc;
static struct entry_codec ec, ec_build;
static struct drain d;
static bool live;                /* backend, rconn and drain set up */
static bool gate_open;
static unsigned ticks, manual_answers;
static ev_prepare flush_w;
static ev_timer tick_w;
static const struct resolver_opts ro = { "127.0.0.1:1", 1000 };

/* what went in, and what came out */
static char want[1 << 20], got[1 << 20];
static size_t wlen;
static size_t want_lines;
static char *delivered[256];
static size_t delivered_len[256];
static int ndelivered;
static char *pushed[256];        /* the entries, as pushed */
static size_t pushed_len[256];
static int npushed;

static bool
env_running(void *ctx)
{
    (void)ctx;
    return true;
}

static bool
gate(void *ctx)
{
    ck_assert_ptr_eq(ctx, &d);
    return gate_open;
}

static void
on_delivered(void *ctx, const char *value, size_t len)
{
    ck_assert_ptr_eq(ctx, &d);
    ck_assert_int_lt(ndelivered, 256);
    delivered[ndelivered] = malloc(len);
    memcpy(delivered[ndelivered], value, len);
    delivered_len[ndelivered++] = len;
}

static void
on_up(void *ctx)
{
    (void)ctx;
    drain_lost(&d); /* as spool.c's recovery does: the head may have moved */
}

static void
on_lost(void *ctx)
{
    (void)ctx;
    drain_lost(&d);
}

/* Every LREM: the entry is in flight and every line of it acknowledged
 * (or it is corrupt).  Every LRANGE: the queues have room for all it asks. */
static void
check_command(struct fredis *r, const struct fr_cmd *m, void *ctx)
{
    (void)r;
    (void)ctx;
    if (fr_is(&m->argv[0], "LRANGE")) {
        long long k = fr_num(&m->argv[3]) - fr_num(&m->argv[2]) + 1;
        size_t per = (size_t)(be.nconns + 3) * pool.block_size;
        ck_assert_msg((size_t)k * per <= pool_avail(&pool, POOL_QUEUE),
                      "LRANGE asks %lld entries with room for %zu", k,
                      pool_avail(&pool, POOL_QUEUE) / per);
        ck_assert_int_le(k, DRAIN_READ_MAX);
    }
    if (!fr_is(&m->argv[0], "LREM") || !fr_is(&m->argv[1], KEY))
        return;
    const struct drain_record *rec = NULL;
    for (int i = 0; (rec = drain_record_at(&d, i)) != NULL; i++)
        if (rec->vlen == m->argv[3].n && memcmp(rec->value, m->argv[3].p, rec->vlen) == 0)
            break;
    ck_assert_msg(rec != NULL, "LREM of an entry the drain does not have in flight");
    if (rec->state == DREC_CORRUPT)
        return;
    ck_assert_int_eq(rec->state, DREC_DONE);
    for (int k = 0; k < be.nconns; k++)
        ck_assert_msg(be.conns[k].q.acked >= rec->end[k],
                      "LREM of an entry whose lines are not all acknowledged");
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
    if (!live)
        return;
    uint64_t now = (uint64_t)(ev_now(l) * 1000.0);
    backend_tick(&be, now);
    rconn_tick(&rc, now);
    if (!rconn_up(&rc))
        return;
    drain_check(&d, now);
    if (gate_open)
        drain_read(&d);
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(pool_init(&pool, 4096, 16 << 20, 0, 0), TS_OK);
    config_defaults(&cfg);
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    dirty = NULL;
    batch_ns = 0;
    env = (struct backend_env){ .loop = loop, .pool = &pool, .cfg = &cfg, .dirty = &dirty,
                                .batch_read_ns = &batch_ns, .running = env_running };
    tsd_open(&T, loop, true);
    fr_open(&R, loop, true);
    memset(&bcfg, 0, sizeof(bcfg));
    snprintf(bcfg.name, sizeof(bcfg.name), "tsd1");
    snprintf(bcfg.addr.host, sizeof(bcfg.addr.host), "127.0.0.1");
    snprintf(bcfg.addr.port, sizeof(bcfg.addr.port), "%s", T.port_s);
    bcfg.has_address = true;
    bcfg.conns = 1;
    bcfg.write_timeout_ms = 10000;
    bcfg.connect_timeout_ms = 1000;
    bcfg.ack = ACK_NONE;
    bcfg.ack_timeout_ms = 60000;
    bcfg.ack_window = 4096;
    bcfg.overflow = -1;
    snprintf(cfg.redis.addr.host, sizeof(cfg.redis.addr.host), "127.0.0.1");
    snprintf(cfg.redis.addr.port, sizeof(cfg.redis.addr.port), "%s", R.port_s);
    memset(&sst, 0, sizeof(sst));
    ck_assert_int_eq(entry_codec_init(&ec, pool.data_size, 1), TS_OK);
    ck_assert_int_eq(entry_codec_init(&ec_build, pool.data_size, 1), TS_OK);
    wlen = want_lines = 0;
    want[0] = '\0';
    ndelivered = npushed = 0;
    ticks = manual_answers = 0;
    gate_open = false;
    live = false;
    ev_prepare_init(&flush_w, on_prepare);
    ev_prepare_start(loop, &flush_w);
    ev_timer_init(&tick_w, on_tick, 0.02, 0.02);
    ev_timer_start(loop, &tick_w);
}

static void
teardown(void)
{
    if (live) {
        rconn_free(&rc);
        drain_free(&d);
        backend_destroy(&be);
        sentinel_free(master);
    }
    live = false;
    tsd_free(&T);
    fr_free(&R);
    entry_codec_free(&ec);
    entry_codec_free(&ec_build);
    for (int i = 0; i < ndelivered; i++)
        free(delivered[i]);
    for (int i = 0; i < npushed; i++)
        free(pushed[i]);
    ev_prepare_stop(loop, &flush_w);
    ev_timer_stop(loop, &tick_w);
    pool_destroy(&pool);
    ev_loop_destroy(loop);
}

static bool
rc_up(void)
{
    return rconn_up(&rc);
}

/* The backend, the connection (up) and the drain; R checks every command. */
static void
start(void)
{
    ck_assert_int_eq(backend_init(&be, &env, &bcfg, 0), TS_OK);
    master = sentinel_new(loop, &cfg.redis, &ro, &sst);
    ck_assert_ptr_nonnull(master);
    ck_assert_int_eq(drain_init(&d, &rc, &ec, &be, &pool, KEY, CORRUPT_KEY, gate, &d), TS_OK);
    d.delivered = on_delivered;
    d.delivered_ctx = &d;
    rconn_init(&rc, loop, master, &cfg.redis, 1000, 20, 100, on_up, on_lost, NULL);
    live = true;
    R.hook = check_command;
    ck_assert(run_until(rc_up, WAIT_MS));
}

/* n entries of `lines` lines each, numbered from first, pushed to the
 * tail of the list (head: to its head); the drain is told the length. */
static void
add_entries(unsigned first, unsigned n, unsigned lines, bool head)
{
    for (unsigned e = first; e < first + n; e++) {
        char buf[4096];
        size_t len = 0;
        for (unsigned i = 0; i < lines; i++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "put m.e %u %u host=h\n",
                                    1700000000u + e * 100 + i, e);
        size_t elen = entry_build(&ec_build, buf, len, lines, 1000 + e);
        ck_assert_int_lt(npushed, 256);
        pushed[npushed] = malloc(elen);
        memcpy(pushed[npushed], ec_build.zbuf, elen);
        pushed_len[npushed++] = elen;
        if (head)
            fr_lpush(&R, KEY, ec_build.zbuf, elen);
        else
            fr_rpush(&R, KEY, ec_build.zbuf, elen);
        memcpy(want + wlen, buf, len); /* (head: the caller knows the order) */
        wlen += len;
        want[wlen] = '\0';
        want_lines += lines;
    }
    d.entries = fr_llen(&R, KEY);
}

static bool
tsd_has_all(void)
{
    return tsd_lines(&T) >= want_lines;
}

static bool
list_empty(void)
{
    return fr_llen(&R, KEY) == 0 && drain_idle(&d);
}

/* The versions the TSD read and nobody answered: answered now, and the
 * later ones as they come. */
static void
answer_all(void)
{
    T.answer_versions = true;
    size_t due = tsd_versions(&T) - T.answered - manual_answers;
    for (size_t i = 0; i < due; i++) {
        tsd_reply(&T.c[T.naccepted - 1], TSD_VERSION_REPLY);
        manual_answers++;
    }
}

/* The TSD got exactly want, in order, each line once. */
static void
check_tsd_got_want(void)
{
    size_t glen;
    ck_assert_uint_eq(tsd_data(&T, -1, got, sizeof(got), &glen), want_lines);
    ck_assert_msg(glen == wlen && memcmp(got, want, wlen) == 0,
                  "the TSD read other lines: \"%s\"", esc(got, TS_MIN(glen, 200)));
}

/* The owner heard of the first n entries pushed, each once (in the
 * order the drain's records are looked at, not the list's). */
static void
check_delivered(int n)
{
    ck_assert_int_eq(ndelivered, n);
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int k = 0; k < ndelivered; k++)
            seen += delivered_len[k] == pushed_len[i] &&
                    memcmp(delivered[k], pushed[i], pushed_len[i]) == 0;
        ck_assert_msg(seen == 1, "entry %d delivered %d times", i, seen);
    }
}

START_TEST(test_deletes_only_what_is_acknowledged)
{
    bcfg.ack = ACK_VERSION; /* the TSD does not answer yet */
    start();
    add_entries(0, 6, 20, false);
    gate_open = true;
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    run_ticks(10);
    check_tsd_got_want();
    ck_assert_uint_eq(fr_count(&R, "LREM"), 0); /* nothing acknowledged */
    ck_assert_uint_eq(fr_llen(&R, KEY), 6);
    ck_assert_int_eq(drain_in_flight(&d), 6);
    ck_assert_int_eq(ndelivered, 0);
    ck_assert_uint_eq(d.st.reads, 6);
    ck_assert_uint_eq(d.st.lines, 120);
    size_t versions = tsd_versions(&T);
    ck_assert_uint_ge(versions, 2);
    /* one answer at a time: entries go as their lines are acknowledged
     * (check_command looks at each LREM), not before */
    tsd_reply(&T.c[0], TSD_VERSION_REPLY);
    manual_answers++;
    run_ticks(5);
    ck_assert_uint_lt(fr_count(&R, "LREM"), 6);
    ck_assert_uint_gt(fr_llen(&R, KEY), 0);
    while (manual_answers < tsd_versions(&T)) {
        tsd_reply(&T.c[0], TSD_VERSION_REPLY);
        manual_answers++;
        run_ticks(3);
    }
    ck_assert(run_until(list_empty, WAIT_MS));
    ck_assert_uint_eq(fr_count(&R, "LREM"), 6);
    ck_assert_uint_eq(d.st.deletes, 6);
    ck_assert_uint_eq(d.entries, 0);
    check_delivered(6);
    check_tsd_got_want(); /* nothing twice */
}
END_TEST

static bool
in_flight_40(void)
{
    return drain_in_flight(&d) == 40;
}

START_TEST(test_reads_past_what_is_in_flight)
{
    bcfg.ack = ACK_VERSION;
    start();
    add_entries(0, 40, 2, false);
    gate_open = true;
    ck_assert(run_until(in_flight_40, WAIT_MS));
    run_ticks(5);
    static const char *const ranges[][2] = { { "0", "15" }, { "16", "31" }, { "32", "47" } };
    ck_assert_uint_eq(fr_count(&R, "LRANGE"), 3);
    for (int i = 0; i < 3; i++) {
        const struct fr_logent *e = fr_nth(&R, "LRANGE", (size_t)i);
        ck_assert_str_eq(e->cmd.argv[1].p, KEY);
        ck_assert_str_eq(e->cmd.argv[2].p, ranges[i][0]);
        ck_assert_str_eq(e->cmd.argv[3].p, ranges[i][1]);
    }
    ck_assert_uint_eq(d.entries, 40); /* the short answer told the length */
    /* more entries: read from just past the 40 in flight */
    add_entries(40, 5, 2, false);
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    const struct fr_logent *e = fr_nth(&R, "LRANGE", 3);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->cmd.argv[2].p, "40");
    ck_assert_str_eq(e->cmd.argv[3].p, "55");
    answer_all();
    ck_assert(run_until(list_empty, WAIT_MS));
    check_tsd_got_want();
    check_delivered(45);
}
END_TEST

START_TEST(test_reads_no_more_than_the_queues_take)
{
    pool_destroy(&pool);
    ck_assert_int_eq(pool_init(&pool, 4096, 64 << 10, 0, 0), TS_OK); /* room for 4 */
    start();
    add_entries(0, 30, 10, false);
    gate_open = true;
    ck_assert(run_until(list_empty, WAIT_MS)); /* check_command looks at every LRANGE */
    const struct fr_logent *e = fr_nth(&R, "LRANGE", 0);
    ck_assert_str_eq(e->cmd.argv[2].p, "0");
    ck_assert_str_eq(e->cmd.argv[3].p, "3");
    ck_assert_uint_gt(fr_count(&R, "LRANGE"), 30 / 4);
    check_tsd_got_want();
    check_delivered(30);
}
END_TEST

static bool
lrange_seen(void)
{
    return R.naccepted >= 1 && fr_count(&R, "LRANGE") >= 1;
}

static bool
reconnected(void)
{
    return R.naccepted == 2 && rconn_up(&rc);
}

/* The read is out when the connection goes: it is made again on the next
 * one, and nothing is lost or doubled. */
START_TEST(test_lost_read_is_made_again)
{
    start();
    add_entries(0, 10, 5, false);
    fr_set_stall(&R, true);
    gate_open = true;
    run_ticks(3);
    ck_assert(d.reading);
    fr_close(&R, 0);
    fr_set_stall(&R, false);
    ck_assert(run_until(reconnected, WAIT_MS));
    ck_assert(run_until(list_empty, WAIT_MS));
    ck_assert(run_until(lrange_seen, WAIT_MS));
    const struct fr_logent *e = fr_nth(&R, "LRANGE", 0);
    ck_assert_int_eq(e->conn, 1); /* the stalled one was never executed */
    ck_assert_str_eq(e->cmd.argv[2].p, "0");
    check_tsd_got_want();
    check_delivered(10);
}
END_TEST

static bool
in_flight_10(void)
{
    return drain_in_flight(&d) == 10 && tsd_has_all();
}

/* Entries in flight when the connection goes stay in the list: nothing is
 * read until their deletions are through, then from the head. */
START_TEST(test_lost_connection_with_entries_in_flight)
{
    bcfg.ack = ACK_VERSION;
    start();
    add_entries(0, 10, 5, false);
    gate_open = true;
    ck_assert(run_until(in_flight_10, WAIT_MS));
    fr_close(&R, 0);
    ck_assert(run_until(reconnected, WAIT_MS));
    add_entries(10, 3, 5, false);
    size_t reads = fr_count(&R, "LRANGE");
    run_ticks(10);
    ck_assert_uint_eq(fr_count(&R, "LRANGE"), reads); /* the head is not known */
    ck_assert_uint_eq(fr_llen(&R, KEY), 13);
    answer_all();
    ck_assert(run_until(list_empty, WAIT_MS));
    const struct fr_logent *e = fr_nth(&R, "LRANGE", reads);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->cmd.argv[2].p, "0");
    check_tsd_got_want(); /* the 10 once, then the 3 */
    check_delivered(13);
}
END_TEST

START_TEST(test_head_changed_reads_from_the_head)
{
    bcfg.ack = ACK_VERSION;
    start();
    add_entries(0, 10, 5, false);
    gate_open = true;
    ck_assert(run_until(in_flight_10, WAIT_MS));
    size_t reads = fr_count(&R, "LRANGE");
    /* something is put at the head (a failed connection's lines) */
    add_entries(10, 1, 5, true);
    drain_head_changed(&d);
    run_ticks(10);
    ck_assert_uint_eq(fr_count(&R, "LRANGE"), reads);
    answer_all();
    ck_assert(run_until(list_empty, WAIT_MS));
    check_tsd_got_want(); /* 0..9, then the new head */
    ck_assert_int_eq(ndelivered, 11);
    ck_assert(memcmp(delivered[10], pushed[10], pushed_len[10]) == 0);
}
END_TEST

static bool
corrupt_moved(void)
{
    return fr_llen(&R, CORRUPT_KEY) == 1 && list_empty();
}

START_TEST(test_corrupt_entry_set_aside)
{
    start();
    add_entries(0, 1, 5, false);
    fr_rpush(&R, KEY, "TSR2 not an entry at all, no", 28);
    add_entries(1, 1, 5, false);
    gate_open = true;
    ck_assert(run_until(corrupt_moved, WAIT_MS));
    ck_assert_uint_eq(d.st.corrupt, 1);
    ck_assert_uint_eq(d.st.reads, 2);
    ck_assert_uint_eq(d.st.deletes, 3);
    const struct fr_str *c = fr_index(&R, CORRUPT_KEY, 0);
    ck_assert(c->n == 28 && memcmp(c->p, "TSR2 not an entry at all, no", 28) == 0);
    check_tsd_got_want();
    check_delivered(2); /* the owner hears of delivered entries only */
}
END_TEST

static bool
probed(void)
{
    return d.head_staged_ms != 0;
}

static size_t probes_before;
static bool
probed_again(void)
{
    return fr_count(&R, "LINDEX") > probes_before && !d.probing;
}

START_TEST(test_oldest_from_the_head)
{
    bcfg.ack = ACK_VERSION;
    start();
    add_entries(0, 3, 2, false); /* staged at 1000, 1001, 1002 */
    ck_assert(run_until(probed, WAIT_MS));
    ck_assert_uint_eq(drain_oldest_ms(&d), 1000);
    ck_assert_uint_eq(fr_count(&R, "LINDEX"), 1);
    run_ticks(5);
    ck_assert_uint_eq(fr_count(&R, "LINDEX"), 1); /* once a second at most */
    /* in flight: the records know */
    gate_open = true;
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    ck_assert_uint_eq(drain_oldest_ms(&d), 1000);
    answer_all();
    ck_assert(run_until(list_empty, WAIT_MS));
    run_ticks(2);
    ck_assert_uint_eq(drain_oldest_ms(&d), 0);
    /* the list emptied behind the drain's back: LINDEX says so */
    gate_open = false;
    add_entries(3, 1, 2, false);
    ck_assert(run_until(probed, WAIT_MS));
    ck_assert_uint_eq(drain_oldest_ms(&d), 1003);
    probes_before = fr_count(&R, "LINDEX");
    fr_key_clear(fr_find(&R, KEY, strlen(KEY)));
    ck_assert(run_until(probed_again, WAIT_MS));
    ck_assert_uint_eq(d.entries, 0);
    ck_assert_uint_eq(drain_oldest_ms(&d), 0);
}
END_TEST

START_TEST(test_drained_at_maxmemory)
{
    start();
    R.refuse = FR_OOM; /* reads and deletions still work */
    add_entries(0, 5, 4, false);
    gate_open = true;
    ck_assert(run_until(list_empty, WAIT_MS));
    ck_assert_uint_eq(d.st.deletes, 5);
    check_tsd_got_want();
    check_delivered(5);
}
END_TEST

/* A replica (READONLY) refuses every LREM: each entry still reaches the
 * TSD once -- a read sent behind a refused deletion starts one entry too
 * early and must not deliver it again -- and stays in the list until
 * Redis takes deletions again. */
START_TEST(test_refused_deletions_deliver_once)
{
    start();
    R.refuse = FR_READONLY;
    add_entries(0, 5, 4, false);
    gate_open = true;
    ck_assert(run_until(tsd_has_all, WAIT_MS));
    run_ticks(25); /* deletions refused and sent again, reads going on */
    check_tsd_got_want();
    ck_assert_uint_eq(fr_llen(&R, KEY), 5);
    ck_assert_uint_eq(d.st.deletes, 0);
    R.refuse = FR_ACCEPT;
    ck_assert(run_until(list_empty, WAIT_MS));
    check_tsd_got_want();
    check_delivered(5);
}
END_TEST

static Suite *
drain_suite(void)
{
    Suite *s = suite_create("drain");
    TCase *t = tcase_create("drain");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_deletes_only_what_is_acknowledged);
    tcase_add_test(t, test_reads_past_what_is_in_flight);
    tcase_add_test(t, test_reads_no_more_than_the_queues_take);
    tcase_add_test(t, test_lost_read_is_made_again);
    tcase_add_test(t, test_lost_connection_with_entries_in_flight);
    tcase_add_test(t, test_head_changed_reads_from_the_head);
    tcase_add_test(t, test_corrupt_entry_set_aside);
    tcase_add_test(t, test_oldest_from_the_head);
    tcase_add_test(t, test_drained_at_maxmemory);
    tcase_add_test(t, test_refused_deletions_deliver_once);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(drain_suite)

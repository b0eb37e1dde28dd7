/*
 * check_history.c -- unit tests of the status page's history ring
 * (src/ops/history.c) and of backend_backlog_age_ms.
 *
 * A minimal relay is built by hand as in check_stats.c (default loop, a
 * pool, two backends on a loopback port never connected, no spool); the
 * loop is never run: samples are taken by calling history_sample with
 * made-up clocks.  Covers:
 *  - the ring's memory: charged to the budget when created, constant over
 *    many wrap-arounds, given back when destroyed, refused over budget;
 *  - wrap-around: the newest `capacity` samples, oldest first;
 *  - rates: counter deltas over the elapsed time (not the nominal
 *    interval), a counter going backwards reads 0, gauges as sampled;
 *  - the JSON shape (parsed with jansson), ?since, and the documented
 *    size bound with every value at its widest;
 *  - a backend list change: series follow names, new ones are null for
 *    the past;
 *  - backlog age: the oldest pending line of the connection queues.
 */
#include "autoconf.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output/backend.h"
#include "base/config.h"
#include "spool/entry.h"
#include "ops/history.h"
#include "spool/spool.h"
#include "base/pool.h"
#include "core/relay.h"
#include "base/counters.h"
#include "base/util.h"
#include "unit.h"
#include "unit_relay.h"

#define BS 4096u
#define LIMIT (256u * BS)
#define SEC 1000000000ull
#define WALL0 1700000000000ull /* unix ms of the first sample */

static struct relay R;
static struct cfg_backend saved_cfg[2];
static char out[1 << 20];

static void
setup(void)
{
    static const char *const names[3] = { "tsd1", "tsd2", "tsd3" };
    static const int conns[3] = { 2, 2, 2 };
    unit_relay_build(&R, names, conns, 3, 2, BS, LIMIT);
    memcpy(saved_cfg, R.cfg.backends, sizeof(saved_cfg));
    g_stats.start_time = (uint64_t)time(NULL);
}

static void
teardown(void)
{
    R.nbackends = 2;
    R.backends[0].cfg = &R.cfg.backends[0];
    R.backends[1].cfg = &R.cfg.backends[1];
    unit_relay_free(&R);
}

static json_t *
parse(const char *text, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s at %d): %s", e.text, e.position, esc(text, len));
    return j;
}

static json_t *
render(const struct history *h, double since)
{
    size_t n = history_format_json(h, since, out, sizeof(out));
    ck_assert_uint_le(n, history_json_bound(h));
    ck_assert_uint_lt(n, sizeof(out) - 1);
    return parse(out, n);
}

static double
num(json_t *v)
{
    ck_assert_msg(json_is_number(v), "not a number");
    return json_number_value(v);
}

/* ---- memory ------------------------------------------------------------- */

START_TEST(test_charged_and_constant)
{
    size_t used0 = pool_used_bytes(&R.pool);
    struct history *h = history_create(&R, 2000, 10); /* 200 samples */
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(history_capacity(h), 200);
    size_t bytes = history_bytes(h);
    /* at least the documented per-sample bytes, and every byte charged */
    ck_assert_uint_ge(bytes, 200 * HISTORY_SAMPLE_BYTES(2));
    ck_assert_uint_lt(bytes, 200 * HISTORY_SAMPLE_BYTES(2) + 1024);
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used0 + bytes);
    for (int i = 0; i < 200 * 25; i++) /* 25 wraps */
        history_sample(h, WALL0 + (uint64_t)i * 10, SEC + (uint64_t)i * 10000000ull);
    ck_assert_uint_eq(history_count(h), 200);
    ck_assert_uint_eq(history_bytes(h), bytes);
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used0 + bytes);
    history_destroy(h);
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used0);
}
END_TEST

START_TEST(test_refused_over_budget)
{
    /* a ring larger than the whole budget is refused, nothing stays charged */
    size_t used0 = pool_used_bytes(&R.pool);
    struct history *h = history_create(&R, 10000ull * 1000, 1000); /* 10000 samples */
    ck_assert_ptr_null(h);
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used0);
    ck_assert_ptr_null(history_create(&R, 0, 1000));
    ck_assert_ptr_null(history_create(&R, 500, 1000));
    ck_assert_ptr_null(history_create(&R, (HISTORY_MAX_SAMPLES + 1ull) * 10, 10));
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used0);
}
END_TEST

/* ---- the ring ------------------------------------------------------------ */

START_TEST(test_wrap_around)
{
    struct history *h = history_create(&R, 1000, 100); /* 10 samples */
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < 27; i++)
        history_sample(h, WALL0 + (uint64_t)i * 100, SEC + (uint64_t)i * SEC / 10);
    json_t *j = render(h, -1);
    json_t *samples = json_object_get(j, "samples");
    ck_assert_uint_eq(json_array_size(samples), 10);
    for (size_t k = 0; k < 10; k++) {
        double t = num(json_array_get(json_array_get(samples, k), 0));
        double want = (double)(WALL0 + (17 + k) * 100) / 1000.0;
        ck_assert_msg(fabs(t - want) < 1e-6, "sample %zu at %.3f, want %.3f", k, t, want);
    }
    ck_assert_uint_eq(json_integer_value(json_object_get(j, "capacity")), 10);
    json_decref(j);
    history_destroy(h);
}
END_TEST

START_TEST(test_rates_and_gauges)
{
    struct history *h = history_create(&R, 10000, 1000);
    ck_assert_ptr_nonnull(h);
    /* the baseline is taken at creation: counters that were there already
     * are not a rate */
    history_sample(h, WALL0, 0); /* mono 0: no time elapsed, rates 0 */
    g_stats.proto[PROTO_TELNET].in.received = 1000;
    g_stats.proto[PROTO_HTTP].in.received = 500;
    g_stats.stats_lines_sent = 100;
    g_stats.proto[PROTO_FRAMED].in.invalid = 30;
    g_stats.points_forwarded = 2000;
    g_stats.points_spooled = 400;
    g_stats.points_unspooled = 200;
    g_stats.points_dropped = 10;
    history_sample(h, WALL0 + 500, SEC / 2); /* 0.5 s later */
    double c[HC_NCOLS];
    ck_assert(history_latest(h, c));
    ck_assert_double_eq_tol(c[HC_RECEIVED], 3200.0, 1e-6);  /* 1600 in 0.5 s */
    ck_assert_double_eq_tol(c[HC_FORWARDED], 4000.0, 1e-6);
    ck_assert_double_eq_tol(c[HC_SPOOLED], 800.0, 1e-6);
    ck_assert_double_eq_tol(c[HC_UNSPOOLED], 400.0, 1e-6);
    ck_assert_double_eq_tol(c[HC_DROPPED], 20.0, 1e-6);
    ck_assert_double_eq_tol(c[HC_INVALID], 60.0, 1e-6);
    ck_assert_double_eq_tol(c[HC_TIME], (double)(WALL0 + 500) / 1000.0, 1e-6);
    /* gauges as sampled */
    ck_assert_double_eq(c[HC_MEM_LIVE], (double)pool_used_bytes(&R.pool));
    ck_assert_double_eq(c[HC_MEM_RESERVED], (double)pool_reserved_bytes(&R.pool));
    ck_assert_double_eq(c[HC_MEM_LIMIT], (double)LIMIT);
    ck_assert(c[HC_MEM_RSS] > 0);
    if (unit_glibc_malloc()) { /* the C heap: in use is part of what malloc holds */
        ck_assert(c[HC_MEM_MALLOC] > 0);
        ck_assert(c[HC_MEM_MALLOC] <= c[HC_MEM_MALLOC_HELD]);
    }
    /* 2 s without change: 0; a counter going backwards (a reset) reads 0 */
    g_stats.points_forwarded = 5;
    history_sample(h, WALL0 + 2500, SEC / 2 + 2 * SEC);
    ck_assert(history_latest(h, c));
    for (int i = HC_RECEIVED; i < HC_NCOLS; i++)
        ck_assert_double_eq(c[i], 0.0);
    /* over the time actually elapsed: 100 more in 4 s (a late timer) = 25/s */
    g_stats.points_forwarded += 100;
    history_sample(h, WALL0 + 6500, SEC / 2 + 6 * SEC);
    ck_assert(history_latest(h, c));
    ck_assert_double_eq_tol(c[HC_FORWARDED], 25.0, 1e-9);
    history_destroy(h);
}
END_TEST

START_TEST(test_backend_columns)
{
    static const char *const LINE = "put sys.cpu 1700000000 1 host=a\n"; /* 32 bytes */
    struct history *h = history_create(&R, 10000, 1000);
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(backend_enqueue(&R.backends[0], 0, LINE, strlen(LINE)),
                         TS_OK);
    /* the oldest line has waited 1.5 s (its block's arrival time) */
    R.backends[0].conns[0].q.head->stamp = entry_clock_ms() - 1500;
    history_sample(h, WALL0, SEC);
    double c[HB_NCOLS];
    ck_assert(history_latest_backend(h, "tsd1", c));
    ck_assert_double_eq(c[HB_QUEUE_BYTES], 96.0);
    ck_assert_double_eq(c[HB_SPOOL_ENTRIES], 0.0);
    ck_assert_double_eq(c[HB_SPOOL_BYTES], 0.0);
    ck_assert_msg(c[HB_BACKLOG_AGE] >= 1.5 && c[HB_BACKLOG_AGE] < 60, "age %f", c[HB_BACKLOG_AGE]);
    ck_assert(history_latest_backend(h, "tsd2", c));
    ck_assert_double_eq(c[HB_QUEUE_BYTES], 0.0);
    ck_assert_double_eq(c[HB_BACKLOG_AGE], 0.0);
    ck_assert(!history_latest_backend(h, "nope", c));
    history_destroy(h);
}
END_TEST

/* The backlog's age: the oldest block still held in a connection queue
 * (the time its first line came); 0 once they are delivered. */
START_TEST(test_backlog_age)
{
    static const char *const LINE = "put sys.cpu 1700000000 1 host=a\n";
    struct backend *be = &R.backends[0];
    ck_assert_uint_eq(spool_backlog_age_ms(be), 0);
    /* hashes that pick connection 0 and connection 1 */
    ck_assert_int_eq(backend_enqueue(be, 0, LINE, strlen(LINE)), TS_OK);
    ck_assert_int_eq(backend_enqueue(be, 1ull << 40, LINE, strlen(LINE)), TS_OK);
    uint64_t now = entry_clock_ms();
    be->conns[1].q.head->stamp = now - 2000;
    be->conns[0].q.head->stamp = now - 500;
    uint64_t age = spool_backlog_age_ms(be);
    ck_assert_msg(age >= 2000 && age < 60000, "age %llu ms", (unsigned long long)age);
    queue_clear(&be->conns[1].q, &R.pool);
    age = spool_backlog_age_ms(be);
    ck_assert_msg(age >= 500 && age < 60000, "age %llu ms", (unsigned long long)age);
    queue_clear(&be->conns[0].q, &R.pool);
    ck_assert_uint_eq(spool_backlog_age_ms(be), 0);
}
END_TEST

/* ---- JSON ---------------------------------------------------------------- */

static const char *const GCOLS[] = { "time", "mem_live", "mem_reserved", "mem_rss",
                                     "mem_limit", "mem_malloc", "mem_malloc_held",
                                     "received", "forwarded", "spooled", "unspooled",
                                     "dropped", "invalid" };
static const char *const BCOLS[] = { "queue_bytes", "spool_entries", "spool_bytes",
                                     "backlog_age" };

START_TEST(test_json_shape)
{
    struct history *h = history_create(&R, 5000, 1000);
    ck_assert_ptr_nonnull(h);
    json_t *j = render(h, -1); /* empty */
    ck_assert_uint_eq(json_array_size(json_object_get(j, "samples")), 0);
    json_decref(j);
    for (int i = 0; i < 3; i++)
        history_sample(h, WALL0 + (uint64_t)i * 1000, SEC * (uint64_t)(i + 1));
    j = render(h, -1);
    ck_assert(json_is_object(j));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
    ck_assert_double_eq_tol(num(json_object_get(j, "interval")), 1.0, 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "capacity")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "started")),
                     (json_int_t)g_stats.start_time);
    ck_assert(num(json_object_get(j, "now")) > 1e9);
    json_t *cols = json_object_get(j, "columns");
    ck_assert_uint_eq(json_array_size(cols), HC_NCOLS);
    for (size_t i = 0; i < HC_NCOLS; i++)
        ck_assert_str_eq(json_string_value(json_array_get(cols, i)), GCOLS[i]);
    json_t *samples = json_object_get(j, "samples");
    ck_assert_uint_eq(json_array_size(samples), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(samples, i);
        ck_assert_uint_eq(json_array_size(row), HC_NCOLS);
        for (size_t k = 0; k < HC_NCOLS; k++)
            num(json_array_get(row, k));
    }
    json_t *bes = json_object_get(j, "backends");
    ck_assert_uint_eq(json_object_size(bes), 2);
    const char *names[] = { "tsd1", "tsd2" };
    for (int b = 0; b < 2; b++) {
        json_t *be = json_object_get(bes, names[b]);
        ck_assert_msg(be != NULL, "no backend %s", names[b]);
        json_t *bc = json_object_get(be, "columns");
        ck_assert_uint_eq(json_array_size(bc), HB_NCOLS);
        for (size_t i = 0; i < HB_NCOLS; i++)
            ck_assert_str_eq(json_string_value(json_array_get(bc, i)), BCOLS[i]);
        json_t *bs = json_object_get(be, "samples");
        ck_assert_uint_eq(json_array_size(bs), 3); /* aligned with the top level */
        for (size_t i = 0; i < 3; i++)
            ck_assert_uint_eq(json_array_size(json_array_get(bs, i)), HB_NCOLS);
    }
    json_decref(j);

    /* ?since: only samples taken after it, the backends' rows too */
    j = render(h, (double)(WALL0 + 1000) / 1000.0);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "samples")), 1);
    ck_assert_double_eq_tol(num(json_array_get(json_array_get(json_object_get(j, "samples"), 0), 0)),
                            (double)(WALL0 + 2000) / 1000.0, 1e-6);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(json_object_get(j, "backends"),
                                                                      "tsd2"), "samples")), 1);
    json_decref(j);
    j = render(h, 1e11);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "samples")), 0);
    json_decref(j);
    history_destroy(h);

    /* no ring (history = 0): the same shape, empty */
    j = render(NULL, -1);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "samples")), 0);
    ck_assert_uint_eq(json_object_size(json_object_get(j, "backends")), 0);
    json_decref(j);
}
END_TEST

START_TEST(test_size_bound)
{
    /* every value at its widest: huge counters and gauges, long backlog */
    struct history *h = history_create(&R, 20000, 100); /* 200 samples */
    ck_assert_ptr_nonnull(h);
    size_t bound = history_json_bound(h);
    ck_assert_uint_eq(bound, HISTORY_JSON_HEAD + 2 * HISTORY_JSON_BACKEND +
                                 200 * (HISTORY_JSON_ROW + 2 * HISTORY_JSON_BROW));
    for (int i = 0; i < 450; i++) {
        g_stats.proto[PROTO_TELNET].in.received += 0x0fffffffffffffffull;
        g_stats.points_forwarded += 0x0fffffffffffffffull;
        g_stats.points_spooled += 123456789;
        g_stats.points_dropped += 1;
        g_stats.proto[PROTO_HTTP].in.invalid += 7777777;
        if (R.backends[1].conns[0].q.head == NULL)
            ck_assert_int_eq(backend_enqueue(&R.backends[1], 0, "put m 1 1 a=b\n", 14), TS_OK);
        R.backends[1].conns[0].q.head->stamp = 1; /* waited since 1970 */
        history_sample(h, 9999999999999ull - 450 + (uint64_t)i, SEC + (uint64_t)i * 1000);
    }
    size_t n = history_format_json(h, -1, out, sizeof(out));
    ck_assert_uint_le(n, bound);
    json_t *j = parse(out, n);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "samples")), 200);
    json_decref(j);
    /* the bound does not move with uptime: it is the capacity's */
    ck_assert_uint_eq(history_json_bound(h), bound);
    /* a short buffer is cut, never overrun */
    memset(out, 'x', 2048);
    n = history_format_json(h, -1, out, 1000);
    ck_assert_uint_eq(n, 999);
    ck_assert_int_eq(out[999], '\0');
    ck_assert_int_eq(out[1000], 'x');
    history_destroy(h);
}
END_TEST

/* ---- a backend list change ---------------------------------------------- */

START_TEST(test_backend_list_change)
{
    static const char *const LINE = "put sys.cpu 1700000000 1 host=a\n";
    struct history *h = history_create(&R, 10000, 1000);
    ck_assert_ptr_nonnull(h);
    size_t bytes2 = history_bytes(h);
    ck_assert_int_eq(backend_enqueue(&R.backends[1], 0, LINE, strlen(LINE)), TS_OK);
    history_sample(h, WALL0, SEC);
    history_sample(h, WALL0 + 1000, 2 * SEC);
    /* "reload": tsd1 gone, tsd2 stays (now first), tsd3 new */
    R.backends[0].cfg = &R.cfg.backends[1];
    R.backends[1].cfg = &R.cfg.backends[2];
    struct backend tmp = R.backends[0];
    R.backends[0] = R.backends[1];
    R.backends[1] = tmp;
    R.backends[0].cfg = &R.cfg.backends[1]; /* tsd2, with its queued line */
    R.backends[1].cfg = &R.cfg.backends[2]; /* tsd3 */
    history_sample(h, WALL0 + 2000, 3 * SEC);
    ck_assert_uint_eq(history_bytes(h), bytes2); /* same count of backends */
    json_t *j = render(h, -1);
    json_t *bes = json_object_get(j, "backends");
    ck_assert_uint_eq(json_object_size(bes), 2);
    ck_assert_ptr_null(json_object_get(bes, "tsd1"));
    json_t *s2 = json_object_get(json_object_get(bes, "tsd2"), "samples");
    json_t *s3 = json_object_get(json_object_get(bes, "tsd3"), "samples");
    ck_assert_uint_eq(json_array_size(s2), 3);
    ck_assert_uint_eq(json_array_size(s3), 3);
    for (size_t i = 0; i < 3; i++) /* tsd2's series carried over */
        ck_assert_double_eq(num(json_array_get(json_array_get(s2, i), HB_QUEUE_BYTES)), 32.0);
    for (size_t i = 0; i < 2; i++) /* tsd3 unknown before it came */
        ck_assert(json_is_null(json_array_get(json_array_get(s3, i), HB_QUEUE_BYTES)));
    ck_assert_double_eq(num(json_array_get(json_array_get(s3, 2), HB_QUEUE_BYTES)), 0.0);
    json_decref(j);
    /* one backend only: the per-backend part shrinks, and its budget */
    size_t used = pool_used_bytes(&R.pool);
    R.nbackends = 1;
    history_sample(h, WALL0 + 3000, 4 * SEC);
    ck_assert_uint_lt(history_bytes(h), bytes2);
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used - (bytes2 - history_bytes(h)));
    j = render(h, -1);
    ck_assert_uint_eq(json_object_size(json_object_get(j, "backends")), 1);
    json_decref(j);
    /* put things back for teardown */
    R.nbackends = 2;
    tmp = R.backends[0];
    R.backends[0] = R.backends[1];
    R.backends[1] = tmp;
    history_destroy(h);
}
END_TEST

static Suite *
history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_charged_and_constant);
    tcase_add_test(tc, test_refused_over_budget);
    tcase_add_test(tc, test_wrap_around);
    tcase_add_test(tc, test_rates_and_gauges);
    tcase_add_test(tc, test_backend_columns);
    tcase_add_test(tc, test_backlog_age);
    tcase_add_test(tc, test_json_shape);
    tcase_add_test(tc, test_size_bound);
    tcase_add_test(tc, test_backend_list_change);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(history_suite)

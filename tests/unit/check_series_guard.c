/*
 * check_series_guard.c -- unit tests of the new-series guard
 * (src/core/series_guard.c), on a simulated clock.
 *
 * Covers: no guard at series-memory 0; its memory charged to the pool
 * and given back, and refused when the pool has no room; counts near a
 * limit (exactly the limit passes, the next new series is refused with
 * the TSD's error shape naming the limit, then the limit raised by a
 * reload lets exactly the difference through, nothing forgotten); a
 * series let through always passes again, also past every limit;
 * the hour slides by minutes (a minute's new series leave it 60 minutes
 * later), the day by 1,440 minutes; per client (by source address) and
 * per metric only the offender is refused, and named; max-series-per-
 * metric on its estimate (within 3 standard errors); on-limit = log
 * lets everything through, counting; the filters rotate when full, a
 * series of the previous filter is kept (not new), and after a second
 * rotation a series not seen since is new again; rollup and histogram
 * lines are guarded by their metric and refused with their command's
 * name; the false-positive rate of new series taken for seen ones
 * measured at the worst (both filters full) is under the stated bound.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "base/point.h"
#include "base/pool.h"
#include "base/util.h"
#include "core/series_guard.h"
#include "unit.h"

#define MIN_MS 60000ull

static struct pool pool;
static uint64_t now_ms;

static uint64_t
fake_clock(const struct series_guard *g)
{
    (void)g;
    return now_ms;
}

static struct series_guard *
guard(struct cfg_limits lim)
{
    if (lim.series_memory == 0)
        lim.series_memory = 1 << 20;
    bool failed;
    struct series_guard *g = series_guard_new(EV_DEFAULT, &pool, &lim, &failed);
    ck_assert(!failed);
    ck_assert_ptr_nonnull(g);
    g->clock = fake_clock;
    /* the clock starts where the guard's did (ev_now) */
    now_ms = g->since_ms[0];
    return g;
}

static void
setup(void)
{
    ck_assert_int_eq(pool_init(&pool, 64 * 1024, 64u << 20, 1u << 20, 16u << 20), TS_OK);
}

static void
teardown(void)
{
    pool_destroy(&pool);
}

/* Offers the put line of series n of metric m from origin: TS_OK or
 * TS_REFUSED (the reply then in reply). */
static char reply[POINT_ERR_MAX + 64];

static int
offer(struct series_guard *g, const char *origin, const char *metric, uint64_t n)
{
    char line[256];
    int len = snprintf(line, sizeof(line), "put %s 1700000000 1 host=a req=r%llu\n", metric,
                       (unsigned long long)n);
    struct point_error why = { 0 };
    int rc = series_guard_admit(g, origin, line, (size_t)len,
                                point_line_hash(line, (size_t)len), &why);
    reply[0] = '\0';
    if (rc == TS_REFUSED) {
        ck_assert_int_eq(why.kind, PE_REFUSED);
        ck_assert(why.relay);
        size_t k = point_error_format(&why, reply, sizeof(reply) - 1);
        reply[k] = '\0';
    }
    return rc;
}

/* Offers series [from, to) and returns how many passed. */
static uint64_t
offer_range(struct series_guard *g, const char *origin, const char *metric, uint64_t from,
            uint64_t to)
{
    uint64_t passed = 0;
    for (uint64_t n = from; n < to; n++)
        passed += offer(g, origin, metric, n) == TS_OK;
    return passed;
}

START_TEST(test_off_without_memory)
{
    struct cfg_limits lim = { 0 };
    bool failed = true;
    ck_assert_ptr_null(series_guard_new(EV_DEFAULT, &pool, &lim, &failed));
    ck_assert(!failed);
    ck_assert_int_eq(offer(NULL, "10.0.0.1", "m", 1), TS_OK);
    series_guard_tick(NULL);
    series_guard_free(NULL);
}
END_TEST

START_TEST(test_memory_charged)
{
    size_t before = pool_used_bytes(&pool);
    struct cfg_limits lim = { .series_memory = 8u << 20 };
    struct series_guard *g = guard(lim);
    ck_assert_uint_le(g->bytes, 8u << 20);
    ck_assert_uint_ge(g->bytes, (8u << 20) - 4096);
    ck_assert_uint_eq(pool_used_bytes(&pool) - before, g->bytes);
    /* two filters with most of it; the tables with the rest */
    ck_assert_uint_ge(series_guard_capacity(g), 1600000);
    ck_assert_uint_ge(g->metrics.cap, 700);
    ck_assert_uint_ge(g->clients.cap, 700);
    series_guard_free(g);
    ck_assert_uint_eq(pool_used_bytes(&pool), before);
    /* a pool without room: refused, nothing charged */
    lim.series_memory = 128u << 20;
    bool failed;
    ck_assert_ptr_null(series_guard_new(EV_DEFAULT, &pool, &lim, &failed));
    ck_assert(failed);
    ck_assert_uint_eq(pool_used_bytes(&pool), before);
}
END_TEST

START_TEST(test_counts_near_the_limit)
{
    struct series_guard *g = guard((struct cfg_limits){ .per_hour = 100 });
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 0, 99), 99);
    ck_assert_int_eq(offer(g, "10.0.0.1", "m", 99), TS_OK);      /* the 100th */
    ck_assert_int_eq(offer(g, "10.0.0.1", "m", 100), TS_REFUSED); /* the 101st */
    ck_assert_str_eq(reply, "put: refused: new series over new-series-per-hour (100)");
    ck_assert_int_eq(offer(g, "10.0.0.1", "m", 100), TS_REFUSED); /* final: again */
    ck_assert_uint_eq(g->st.new_series, 100);
    ck_assert_uint_eq(g->st.refused[GL_HOUR], 2);
    ck_assert_uint_eq(g->last_hour, 100);
    /* every series let through passes again */
    ck_assert_uint_eq(offer_range(g, "10.0.0.9", "m", 0, 100), 100);
    ck_assert_uint_eq(g->st.new_series, 100);
    /* a reload raises the limit by 5: exactly 5 more; nothing forgotten */
    struct cfg_limits more = { .per_hour = 105, .series_memory = 1 };
    series_guard_set_limits(g, &more);
    ck_assert_uint_eq(g->lim.series_memory, 1u << 20); /* kept */
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 100, 200), 5);
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 0, 105), 105);
    ck_assert_uint_eq(g->st.new_series, 105);
    /* lowered under what was used: new ones refused, the known pass */
    more.per_hour = 10;
    series_guard_set_limits(g, &more);
    ck_assert_int_eq(offer(g, "10.0.0.1", "m", 1000), TS_REFUSED);
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 0, 105), 105);
    series_guard_free(g);
}
END_TEST

START_TEST(test_hour_slides_by_minutes)
{
    struct series_guard *g = guard((struct cfg_limits){ .per_hour = 100, .per_day = 150 });
    now_ms = (now_ms / MIN_MS) * MIN_MS + 1000; /* early in a minute */
    uint64_t t0 = now_ms;
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, 60), 60);
    now_ms = t0 + 30 * MIN_MS;
    ck_assert_uint_eq(offer_range(g, "a", "m", 60, 200), 40);  /* 100 in the hour */
    now_ms = t0 + 59 * MIN_MS + 58000;                         /* minute 0 still in it */
    ck_assert_uint_eq(offer_range(g, "a", "m", 200, 300), 0);
    now_ms = t0 + 60 * MIN_MS;                                 /* minute 0 left: 60 room */
    series_guard_tick(g);
    ck_assert_uint_eq(g->last_hour, 40);
    /* the day has 50 left of 150 */
    ck_assert_uint_eq(offer_range(g, "a", "m", 300, 400), 50);
    ck_assert_str_eq(reply, "put: refused: new series over new-series-per-day (150)");
    ck_assert_uint_eq(g->st.refused[GL_DAY], 50);
    now_ms = t0 + 1439 * MIN_MS;
    ck_assert_uint_eq(offer_range(g, "a", "m", 400, 410), 0);
    now_ms = t0 + 1440 * MIN_MS;                               /* the first 60 left the day */
    ck_assert_uint_eq(offer_range(g, "a", "m", 410, 500), 60);
    ck_assert_uint_eq(g->last_day, 150);
    /* a long silence empties both */
    now_ms = t0 + 10 * 1440 * MIN_MS;
    series_guard_tick(g);
    ck_assert_uint_eq(g->last_hour, 0);
    ck_assert_uint_eq(g->last_day, 0);
    /* and still nothing forgotten */
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, 100), 100);
    ck_assert_uint_eq(g->last_day, 0);
    series_guard_free(g);
}
END_TEST

START_TEST(test_per_client)
{
    struct series_guard *g = guard((struct cfg_limits){ .per_client_hour = 10 });
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 0, 100), 10);
    ck_assert_str_eq(reply, "put: refused: new series over new-series-per-client-per-hour "
                            "(10) of client 10.0.0.1");
    ck_assert_uint_eq(offer_range(g, "10.0.0.2", "m", 1000, 1005), 5);
    ck_assert_uint_eq(g->st.refused[GL_CLIENT_HOUR], 90);
    /* the table names the offender first: 100 attempts, 10 let through */
    size_t top[2];
    ck_assert_uint_eq(topk_top(&g->clients, top, 2), 2);
    ck_assert(memcmp(g->clients.e[top[0]].name, "10.0.0.1", 8) == 0);
    ck_assert_uint_eq(topk_upper(&g->clients, top[0]), 100);
    ck_assert_uint_eq(topk_kept(&g->clients, top[0]), 10);
    ck_assert(series_guard_entry_limited(g, false, top[0]));
    ck_assert(!series_guard_entry_limited(g, false, top[1]));
    /* the limited client's known series still pass; so do another
     * client's sends of them */
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 0, 10), 10);
    ck_assert_uint_eq(offer_range(g, "10.0.0.2", "m", 0, 10), 10);
    /* an hour later it has room again */
    now_ms += 61 * MIN_MS;
    ck_assert_uint_eq(offer_range(g, "10.0.0.1", "m", 100, 200), 10);
    series_guard_free(g);
}
END_TEST

START_TEST(test_per_metric)
{
    struct series_guard *g = guard((struct cfg_limits){ .per_metric_hour = 20 });
    ck_assert_uint_eq(offer_range(g, "a", "app.req", 0, 1000), 20);
    ck_assert_str_eq(reply, "put: refused: new series over new-series-per-metric-per-hour "
                            "(20) of metric app.req");
    ck_assert_uint_eq(offer_range(g, "a", "sys.cpu", 0, 20), 20);
    ck_assert_uint_eq(offer_range(g, "a", "sys.mem", 0, 19), 19);
    ck_assert_uint_eq(g->st.refused[GL_METRIC_HOUR], 980);
    long mi = topk_find(&g->metrics, g->metrics.e[0].key);
    ck_assert_int_ge(mi, 0);
    ck_assert(series_guard_entry_limited(g, true, (size_t)mi));
    series_guard_free(g);
}
END_TEST

START_TEST(test_max_series_per_metric)
{
    struct series_guard *g = guard((struct cfg_limits){ .max_per_metric = 3000 });
    uint64_t passed = offer_range(g, "a", "app.req", 0, 10000);
    fprintf(stderr, "# max-series-per-metric 3000: %llu passed\n", (unsigned long long)passed);
    ck_assert_uint_ge(passed, 3000 * (1 - 3 * hll_error()));
    ck_assert_uint_le(passed, 3000 * (1 + 3 * hll_error()));
    ck_assert(strstr(reply, "new series over max-series-per-metric (3000) of metric app.req") != NULL);
    ck_assert_uint_eq(offer_range(g, "a", "other", 0, 2000), 2000);
    ck_assert_uint_eq(offer_range(g, "a", "app.req", 0, passed), passed);
    series_guard_free(g);
}
END_TEST

START_TEST(test_log_mode)
{
    struct series_guard *g = guard((struct cfg_limits){ .per_hour = 10,
                                                        .on_limit = ON_LIMIT_LOG });
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, 50), 50);
    ck_assert_uint_eq(g->st.logged[GL_HOUR], 40);
    ck_assert_uint_eq(g->st.refused[GL_HOUR], 0);
    ck_assert_uint_eq(g->st.new_series, 50);
    ck_assert_uint_eq(g->last_hour, 50);
    /* back to reject: the 50 are known */
    struct cfg_limits rej = { .per_hour = 10 };
    series_guard_set_limits(g, &rej);
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, 50), 50);
    ck_assert_int_eq(offer(g, "a", "m", 50), TS_REFUSED);
    series_guard_free(g);
}
END_TEST

START_TEST(test_rotation_keeps_the_previous)
{
    struct series_guard *g = guard((struct cfg_limits){ .series_memory = 256 * 1024 });
    uint64_t cap = series_guard_capacity(g);
    ck_assert_uint_gt(cap, 20000);
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, cap), cap);
    ck_assert_uint_eq(g->st.rotations, 0);
    ck_assert_int_eq(offer(g, "a", "m", cap), TS_OK);           /* the filter was full */
    ck_assert_uint_eq(g->st.rotations, 1);
    ck_assert_uint_eq(series_guard_tracked(g, false), 1);
    ck_assert_uint_eq(series_guard_tracked(g, true), cap);
    /* the first thousand are in the previous filter: kept, not new */
    uint64_t before = g->st.new_series;
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, 1000), 1000);
    ck_assert_uint_eq(g->st.new_series, before);
    ck_assert_uint_eq(g->st.kept_from_previous, 1000);
    ck_assert_uint_eq(series_guard_tracked(g, false), 1001);
    /* fill the current one: a second rotation; the first thousand were
     * seen since the last one began, the next thousand were not */
    for (uint64_t n = 10000000; g->st.rotations < 2; n++)
        ck_assert_int_eq(offer(g, "a", "m", n), TS_OK);
    ck_assert_uint_ge(g->st.new_series + 20, 2 * cap - 999); /* less false positives */
    before = g->st.new_series;
    ck_assert_uint_eq(offer_range(g, "a", "m", 0, 1000), 1000);
    ck_assert_uint_eq(g->st.new_series, before);
    ck_assert_uint_eq(offer_range(g, "a", "m", 1000, 2000), 1000);
    /* false positives may take a handful for seen ones */
    ck_assert_uint_ge(g->st.new_series - before, 990);
    series_guard_free(g);
}
END_TEST

START_TEST(test_rollup_and_histogram)
{
    struct series_guard *g = guard((struct cfg_limits){ .per_metric_hour = 1 });
    const char *l1 = "rollup 1h-sum app.x 1700000000 1 a=1\n";
    const char *l2 = "rollup 1h-sum app.x 1700000000 1 a=2\n";
    const char *l3 = "histogram app.y 1700000000 1 AAAA a=2\n";
    const char *l4 = "histogram app.y 1700000000 1 AAAA a=3\n";
    struct point_error why = { 0 };
    ck_assert_int_eq(series_guard_admit(g, "o", l1, strlen(l1), point_line_hash(l1, strlen(l1)),
                                        &why), TS_OK);
    ck_assert_int_eq(series_guard_admit(g, "o", l2, strlen(l2), point_line_hash(l2, strlen(l2)),
                                        &why), TS_REFUSED);
    size_t k = point_error_format(&why, reply, sizeof(reply) - 1);
    reply[k] = '\0';
    ck_assert_str_eq(reply, "rollup: refused: new series over new-series-per-metric-per-hour "
                            "(1) of metric app.x");
    ck_assert_int_eq(series_guard_admit(g, "o", l3, strlen(l3), point_line_hash(l3, strlen(l3)),
                                        &why), TS_OK);
    ck_assert_int_eq(series_guard_admit(g, "o", l4, strlen(l4), point_line_hash(l4, strlen(l4)),
                                        &why), TS_REFUSED);
    k = point_error_format(&why, reply, sizeof(reply) - 1);
    reply[k] = '\0';
    ck_assert_str_eq(reply, "histogram: refused: new series over new-series-per-metric-per-hour "
                            "(1) of metric app.y");
    series_guard_free(g);
}
END_TEST

/* The stated bound: with both filters full, a new series is taken for a
 * seen one with probability at most 2 x 8 x 0.94 / 65535 (2.3e-4). */
START_TEST(test_false_positive_rate_at_worst)
{
    struct series_guard *g = guard((struct cfg_limits){ .series_memory = 2u << 20 });
    uint64_t cap = series_guard_capacity(g);
    for (uint64_t n = 0; g->st.rotations < 1 || !g->f[g->cur].full; n++)
        offer(g, "a", "m", n);                      /* previous full, current full */
    ck_assert_uint_eq(g->st.rotations, 1);
    ck_assert_uint_ge(series_guard_tracked(g, false), cap);
    uint64_t before = g->st.new_series, probes = 1000000;
    offer_range(g, "a", "m", 1ull << 40, (1ull << 40) + probes);
    /* each probe fills the current filter further: rotations drop a
     * full filter; the rate is measured over probes, as it happened */
    uint64_t taken = probes - (g->st.new_series - before);
    double rate = (double)taken / (double)probes, bound = series_guard_fpr_bound();
    fprintf(stderr, "# guard: %llu of %llu new series taken for seen ones: %.3g (bound %.3g)\n",
            (unsigned long long)taken, (unsigned long long)probes, rate, bound);
    ck_assert_msg(rate <= bound, "rate %.3g over the stated %.3g", rate, bound);
    series_guard_free(g);
}
END_TEST

static Suite *
guard_suite(void)
{
    Suite *s = suite_create("series_guard");
    TCase *tc = tcase_create("guard");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_off_without_memory);
    tcase_add_test(tc, test_memory_charged);
    tcase_add_test(tc, test_counts_near_the_limit);
    tcase_add_test(tc, test_hour_slides_by_minutes);
    tcase_add_test(tc, test_per_client);
    tcase_add_test(tc, test_per_metric);
    tcase_add_test(tc, test_max_series_per_metric);
    tcase_add_test(tc, test_log_mode);
    tcase_add_test(tc, test_rotation_keeps_the_previous);
    tcase_add_test(tc, test_rollup_and_histogram);
    tcase_add_test(tc, test_false_positive_rate_at_worst);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(guard_suite)

/*
 * check_statuspage.c -- unit tests of the HTML status page's rendering
 * (src/ops/statuspage.c).
 *
 * The same hand-built relay as check_stats.c (two backends never
 * connected, no spool, loop never run).  Covers: one self-contained
 * document (no outside URL, the chart library from the page's own path
 * when compiled in, a note instead when not); the tables name every
 * backend, its state and ack mode, and the memory figures; everything a
 * TSD wrote back is escaped (markup, quotes, ISO-8859-1 bytes, control
 * characters) while valid UTF-8 passes; [redis] shows its address and
 * prefix only; a short buffer is filled to cap - 1 and never overrun (the
 * caller's signal to render again larger); the assets are served only
 * when compiled in.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output/backend.h"
#include "base/config.h"
#include "ops/history.h"
#include "base/pool.h"
#include "core/relay.h"
#include "base/counters.h"
#include "ops/statuspage.h"
#include "core/series_guard.h"
#include "base/util.h"
#include "unit.h"
#include "unit_relay.h"

#define BS 4096u
#define LIMIT (256u * BS)

static struct relay R;
static char out[1 << 20];

static void
setup(void)
{
    static const char *const names[2] = { "tsd-a", "tsd.b" };
    static const int conns[2] = { 1, 2 };
    unit_relay_build(&R, names, conns, 2, 2, BS, LIMIT);
    R.cfg.nlisten = 1;
    config_parse_addr("127.0.0.1:4242", &R.cfg.listen[0].addr);
    snprintf(R.hostname, sizeof(R.hostname), "unit-host");
    g_stats.start_time = (uint64_t)time(NULL) - 3700;
}

static void
teardown(void)
{
    history_stop(&R);
    unit_relay_free(&R);
}

static const char *
page(void)
{
    size_t n = statuspage_format(&R, out, sizeof(out));
    ck_assert_uint_lt(n, sizeof(out) - 1);
    ck_assert_uint_eq(strlen(out), n);
    return out;
}

static void
has(const char *hay, const char *needle)
{
    ck_assert_msg(strstr(hay, needle) != NULL, "missing: %s", needle);
}

static void
lacks(const char *hay, const char *needle)
{
    ck_assert_msg(strstr(hay, needle) == NULL, "should not contain: %s", needle);
}

START_TEST(test_self_contained_document)
{
    const char *p = page();
    ck_assert(strncmp(p, "<!DOCTYPE html>", 15) == 0);
    has(p, "<meta charset=\"utf-8\">");
    has(p, "</html>\n");
    lacks(p, "http://");
    lacks(p, "https://");
    lacks(p, "//cdn");
    has(p, "<link rel=\"icon\" href=\"data:,\">"); /* no /favicon.ico request */
    has(p, "<div id=\"tables\">");
    has(p, "<style>");
    has(p, "<script>");
    has(p, "window.tsrelayStatus");
    has(p, "/tsrelay/api/stats/history");
    if (statuspage_has_charts()) {
        has(p, "<script src=\"/tsrelay/dygraph.min.js\"></script>");
        has(p, "/tsrelay/dygraph-LICENSE");
        has(p, "id=\"chart-mem\"");
        has(p, "id=\"chart-trend\""); /* RSS, pool and malloc together */
        has(p, "id=\"trend-mem\"");
        lacks(p, "Charts are unavailable");
    } else {
        has(p, "Charts are unavailable");
        lacks(p, "dygraph.min.js");
    }
}
END_TEST

START_TEST(test_tables)
{
    R.backends[1].conns[0].state = BC_FAILED;
    R.backends[0].st.errors = 12;
    g_stats.proto[PROTO_TELNET].active = 3;
    g_stats.points_forwarded = 1234567;
    const char *p = page();
    has(p, "<td class=\"name\">tsd-a</td>");
    has(p, "<td class=\"name\">tsd.b</td>");
    has(p, "<span class=\"state idle\">idle</span>");
    has(p, "<span class=\"state failed\">failed</span>");
    has(p, "<td class=\"num\">0 / 1</td>");
    has(p, "<td class=\"num\">0 / 2</td>");
    has(p, "<td class=\"num\" data-v=\"12\">12</td>");
    has(p, "<td class=\"num\" data-v=\"1234567\">1,234,567</td>");
    has(p, "id=\"mem-live\"");
    has(p, "id=\"mem-reserved\"");
    has(p, "id=\"mem-rss\"");
    has(p, "id=\"mem-malloc\"");
    has(p, "id=\"mem-malloc-arena\"");
    has(p, "id=\"mem-malloc-mmapped\"");
    char lim[64];
    snprintf(lim, sizeof(lim), "id=\"mem-limit\" data-v=\"%u\"", LIMIT);
    has(p, lim);
    has(p, "1 h 01 min"); /* uptime */
    has(p, "127.0.0.1:4242 auto");
    has(p, "not configured: memory only");
    has(p, "history</th><td>off");
    /* the tables alone: the same sections, nothing else */
    size_t n = statuspage_format_tables(&R, out, sizeof(out));
    ck_assert_uint_lt(n, sizeof(out) - 1);
    ck_assert(strncmp(out, "<section><h2>Process</h2>", 25) == 0);
    has(out, "<td class=\"name\">tsd.b</td>");
    lacks(out, "<script");
    lacks(out, "<html");
}
END_TEST

/* The groups (routing, backends, points, the default marked) and the
 * rules (action, counts) are listed. */
START_TEST(test_groups_and_rules)
{
    static struct config c;
    char err[CFG_ERR_MAX];
    ck_assert_msg(config_load_string(&c, "T", "[backend tsd-a]\naddress = 127.0.0.1:1\n"
                                     "[backend tsd.b]\naddress = 127.0.0.1:2\n"
                                     "[group main]\nbackends = tsd.b, tsd-a\n"
                                     "[group mirror]\nbackends = tsd-a\nrouting = all\n"
                                     "[relay]\ndefault-group = main\n"
                                     "[rule drop-debug]\nmatch = ^debug\n action = drop\n"
                                     "[rule copy]\naction = send\nto = main, mirror\n"
                                     "stop = no\n", err, sizeof(err)) == TS_OK, "%s", err);
    R.cfg.rules = c.rules;
    snprintf(R.cfg.default_group, sizeof(R.cfg.default_group), "main");
    ck_assert_msg(relay_build_flow(&R, err, sizeof(err)) == TS_OK, "%s", err);
    R.flow->rules->rules[0].st = (struct rule_stats){ 123457, 123457, 0, 2 };
    R.flow->groups.g[1].points = 98765;
    const char *p = page();
    has(p, "<h2>Groups and rules</h2>");
    has(p, "<td class=\"name\">main (default)</td><td>hash</td><td>tsd.b, tsd-a</td>");
    has(p, "<td class=\"name\">mirror</td><td>all</td><td>tsd-a</td><td class=\"num\" "
           "data-v=\"98765\">");
    has(p, "<td class=\"name\">drop-debug</td><td>drop</td><td class=\"num\" "
           "data-v=\"123457\">");
    has(p, "<td class=\"name\">copy</td><td>send (stop = no)</td>");
}
END_TEST

START_TEST(test_history_figures)
{
    R.cfg.history_ms = 10000;
    R.cfg.history_interval_ms = 1000;
    char err[256];
    ck_assert_int_eq(history_start(&R, err, sizeof(err)), TS_OK);
    ck_assert_ptr_nonnull(R.history);
    const char *p = page();
    has(p, "0 of 10 samples, one every 1000 ms");
    char ring[64];
    snprintf(ring, sizeof(ring), "id=\"mem-history\" data-v=\"%zu\"", history_bytes(R.history));
    has(p, ring);
}
END_TEST

START_TEST(test_escaping)
{
    /* what a TSD wrote back, as reply_line keeps it */
    snprintf(R.backends[0].st.last_error, sizeof(R.backends[0].st.last_error),
             "<script>alert('x')</script> & \"q\" caf\xc3\xa9 \xff\xfe bell\a tab\tend");
    const char *p = page();
    lacks(p, "<script>alert");
    has(p, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; "
           "caf\xc3\xa9 &#xFF;&#xFE; bell&#xFFFD; tab end");
}
END_TEST

/* The new-series section: budgets, the top clients and metrics with the
 * offender first and marked, names escaped; off without a guard. */
START_TEST(test_new_series_section)
{
    const char *p = page();
    has(p, "<h2>New series</h2>");
    has(p, "off (series-memory = 0)");
    struct cfg_limits lim = { .per_client_hour = 3, .per_hour = 1000,
                              .series_memory = 256 * 1024 };
    bool failed;
    R.guard = series_guard_new(R.loop, &R.pool, &lim, &failed);
    ck_assert_ptr_nonnull(R.guard);
    static const char *const who[2] = { "10.0.0.5", "10.0.0.6" };
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < (c == 0 ? 6 : 2); i++) {
            char line[64];
            int n = snprintf(line, sizeof(line), "put a<b>%d 1700000000 1 req=%d\n", c, i);
            struct point_error why;
            series_guard_admit(R.guard, who[c], line, (size_t)n,
                               point_line_hash(line, (size_t)n), &why);
        }
    }
    p = page();
    has(p, "<td class=\"num\" data-v=\"5\">5 of 1,000</td>");
    has(p, "<table id=\"top-clients\">");
    const char *clients = strstr(p, "<table id=\"top-clients\">");
    const char *first = strstr(clients, "<td class=\"name\">");
    ck_assert_ptr_nonnull(first);
    ck_assert(strncmp(first, "<td class=\"name\">10.0.0.5</td><td class=\"num\" data-v=\"6\">6"
                             "</td><td class=\"num\" data-v=\"3\">3</td><td><span class=\"state "
                             "failed\">over a limit</span>", 130) == 0);
    has(clients, "<td class=\"name\">10.0.0.6</td>");
    has(p, "<td class=\"name\">a&lt;b&gt;0</td>");
    lacks(p, "a<b>");
    series_guard_free(R.guard);
    R.guard = NULL;
}
END_TEST

START_TEST(test_redis_shows_address_only)
{
    R.cfg.redis.enabled = true;
    snprintf(R.cfg.redis.addr.host, sizeof(R.cfg.redis.addr.host), "10.1.2.3");
    snprintf(R.cfg.redis.addr.port, sizeof(R.cfg.redis.addr.port), "6380");
    snprintf(R.cfg.redis.prefix, sizeof(R.cfg.redis.prefix), "pfx<1>");
    const char *p = page();
    has(p, "<tr><th>address</th><td>10.1.2.3:6380</td></tr>");
    has(p, "pfx&lt;1&gt;");
    has(p, "<span class=\"state failed\">no</span>"); /* not connected */
    has(p, "<tr><th>full</th><td><span class=\"state up\">no</span>");
    has(p, "n/a (nothing spooled yet)");
}
END_TEST

START_TEST(test_short_buffer)
{
    size_t full = statuspage_format(&R, out, sizeof(out));
    for (size_t cap = 1; cap + 100 < full; cap += cap < 64 ? 1 : 997) {
        memset(out, 'x', cap + 16);
        size_t n = statuspage_format(&R, out, cap);
        ck_assert_uint_eq(n, cap - 1);
        ck_assert_int_eq(out[cap - 1], '\0');
        ck_assert_int_eq(out[cap], 'x');
    }
    ck_assert_uint_eq(statuspage_format(&R, out, 0), 0);
}
END_TEST

START_TEST(test_assets)
{
    const char *ctype = NULL, *body = NULL;
    size_t len = 0;
    bool js = statuspage_asset("/tsrelay/dygraph.min.js", 23, &ctype, &body, &len);
    ck_assert(js == statuspage_has_charts());
    if (js) {
        ck_assert_str_eq(ctype, "application/javascript; charset=utf-8");
        ck_assert_uint_gt(len, 10000);
        ck_assert_ptr_null(strstr(body, "sourceMappingURL")); /* no map to ask for */
        ck_assert(statuspage_asset("/tsrelay/dygraph-LICENSE", 24, &ctype, &body, &len));
        ck_assert_ptr_nonnull(strstr(body, "Permission is hereby granted"));
        ck_assert_str_eq(ctype, "text/plain; charset=utf-8");
    }
    ck_assert(!statuspage_asset("/tsrelay/dygraph.min.j", 22, &ctype, &body, &len));
    ck_assert(!statuspage_asset("/status/dygraph.min.js", 22, &ctype, &body, &len));
    ck_assert(!statuspage_asset("/", 1, &ctype, &body, &len));
}
END_TEST

static Suite *
statuspage_suite(void)
{
    Suite *s = suite_create("statuspage");
    TCase *tc = tcase_create("statuspage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_self_contained_document);
    tcase_add_test(tc, test_tables);
    tcase_add_test(tc, test_groups_and_rules);
    tcase_add_test(tc, test_history_figures);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_new_series_section);
    tcase_add_test(tc, test_redis_shows_address_only);
    tcase_add_test(tc, test_short_buffer);
    tcase_add_test(tc, test_assets);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(statuspage_suite)
